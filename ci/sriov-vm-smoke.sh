#!/bin/busybox sh
# Guest-side smoke test of the ci/sriov-vm rig: `ci/sriov-vm ci/sriov-vm-smoke.sh`.
# Runs inside the guest as /vnf-sriov-test (with busybox sh). Creates 2 VFs on
# the igb PF, checks that they appear, shows how the real kernel and iproute2
# report and configure VFs, removes the VFs, and prints `SRIOV-TEST: PASS` when
# 2 virtfn links existed.
BB=/bin/busybox
IP=/sbin/ip.iproute2
PF=${SRIOV_PF:?not run by ci/sriov-vm}
DEV=/sys/class/net/$PF/device
say() { echo "smoke: $*"; }
run() { echo "smoke: \$ $*"; "$@" 2>&1; echo "smoke: -> exit $?"; }

say "PF $PF at $SRIOV_PF_PCI, sriov_totalvfs=$($BB cat "$DEV"/sriov_totalvfs)"
say "creating 2 VFs"
echo 2 > "$DEV/sriov_numvfs" || say "writing sriov_numvfs failed"
say "sriov_numvfs=$($BB cat "$DEV"/sriov_numvfs)"
n=0
for l in "$DEV"/virtfn*; do
  [ -e "$l" ] || continue
  n=$((n + 1))
  vf=$($BB readlink -f "$l")
  drv=none; [ -e "$vf/driver" ] && drv=$($BB basename "$($BB readlink "$vf/driver")")
  net=$($BB ls "$vf/net" 2>/dev/null | $BB tr '\n' ' ')
  say "${l##*/} -> ${vf##*/} $($BB cat "$vf"/vendor):$($BB cat "$vf"/device) driver=$drv net=${net:-none}"
done
say "$n virtfn links"
$BB sleep 1            # let the VF netdevs register
run $BB ip link show

say "VF configuration through the real iproute2:"
run $IP link set dev "$PF" vf 0 mac 02:00:00:00:00:01
run $IP -d link show dev "$PF"
run $IP link set dev "$PF" vf 0 state enable
run $IP link set dev "$PF" vf 0 vlan 10 qos 2
run $IP link set dev "$PF" vf 0 spoofchk off
run $IP link set dev "$PF" vf 0 trust on
run $IP link set dev "$PF" vf 0 max_tx_rate 100
run $IP link set dev "$PF" vf 1 min_tx_rate 10
run $IP link set dev "$PF" vf 1 max_tx_rate 2000
run $IP link set dev "$PF" down
run $IP link set dev "$PF" vf 1 max_tx_rate 100
run $IP link set dev "$PF" up
$BB sleep 3            # igb needs a moment for link up
run $IP link set dev "$PF" vf 1 max_tx_rate 100
run $IP -d link show dev "$PF"
run $IP link set dev "$PF" vf 0 vlan 0
run $IP -s link show dev "$PF"
say "kernel messages about igb and SR-IOV:"
$BB dmesg | $BB grep -iE 'igb|iov|virtfn|BAR' | $BB tail -n 40

say "removing the VFs"
echo 0 > "$DEV/sriov_numvfs" || say "writing 0 to sriov_numvfs failed"
say "sriov_numvfs=$($BB cat "$DEV"/sriov_numvfs)"

if [ "$n" -eq 2 ]; then
  echo "SRIOV-TEST: PASS"
else
  echo "SRIOV-TEST: FAIL ($n virtfn links, expected 2)"
fi
