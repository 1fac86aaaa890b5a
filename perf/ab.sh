#!/bin/bash
# A/B of two vnfd binaries on one scenario at one flow: ROUNDS alternating runs of each
# (`vnf-perf --vnfd BIN --scenario S --flows 1 --seconds 3`), each run's vnfd cycles/packet,
# and the medians. On a noisy host only alternating runs separate two binaries.
# usage: perf/ab.sh SCENARIO ROUNDS VNFD_A VNFD_B   (after cargo build --release)
set -eu
[ $# -eq 4 ] || { echo "usage: $0 SCENARIO ROUNDS VNFD_A VNFD_B" >&2; exit 2; }
s=$1 r=$2 A=$3 B=$4
perf="$(dirname "$(readlink -f "$0")")/../target/release/vnf-perf"
one() { "$perf" --vnfd "$1" --scenario "$s" --flows 1 --seconds 3 2>/dev/null | awk -v s="$s" '$1==s{print $8}'; }
a=() b=()
for k in $(seq "$r"); do
  x=$(one "$A"); y=$(one "$B")
  a+=("$x"); b+=("$y"); echo "round $k: A $x B $y"
done
med() { printf "%s\n" "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "A: ${a[*]} median $(med "${a[@]}")"
echo "B: ${b[*]} median $(med "${b[@]}")"
