//! The planner on made-up states (no I/O: the kernel states are built here). Applying on a
//! fake sysfs tree is tested with the sysfs side, in `pipelines/sriov`.

use super::fixture::{cfg, TWO};
use super::*;
use crate::config::Config;

const PF: &str = "0000:01:00.0";

fn vf_pci(i: u16) -> String {
    format!("0000:01:10.{}", i * 2)
}

/// A kernel's defaults for a new VF as igb reports them.
fn fresh(i: u16) -> VfLink {
    VfLink {
        index: i,
        spoofchk: Some(true),
        trust: Some(false),
        link_state: Some(LinkState::Auto),
        ..Default::default()
    }
}

fn err(text: &str) -> String {
    Config::parse(&format!("[dataplane]\nworkers = [1]\n{text}"), None).unwrap_err().to_string()
}

#[test]
fn config_is_validated_naming_the_key() {
    for (bad, key, why) in [
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 1\n[[sriov.pf.vf]]\nindex = 1\n", "sriov.pf[0].vf[0].index", "does not exist with num_vfs = 1"),
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 2\n[[sriov.pf.vf]]\nindex = 0\nvlan = 4095\n", "sriov.pf[0].vf[0].vlan", "not in 0..=4094"),
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 2\n[[sriov.pf.vf]]\nindex = 0\nqos = 3\n", "sriov.pf[0].vf[0].qos", "needs a vlan"),
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 2\n[[sriov.pf.vf]]\nindex = 0\nmac = \"03:00:00:00:00:01\"\n", "sriov.pf[0].vf[0].mac", "not a unicast"),
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 2\n[[sriov.pf.vf]]\nindex = 0\nmin_tx_rate = 200\nmax_tx_rate = 100\n", "sriov.pf[0].vf[0].min_tx_rate", "above max_tx_rate"),
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 2\n[[sriov.pf.vf]]\nindex = 0\ndriver = \"../x\"\n", "sriov.pf[0].vf[0].driver", "not a driver name"),
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 2\n[[sriov.pf.vf]]\nindex = 0\n[[sriov.pf.vf]]\nindex = 0\n", "sriov.pf[0].vf[1].index", "configured twice"),
        ("[sriov]\n[[sriov.pf]]\nname = \"01:00.0\"\nnum_vfs = 1\n[[sriov.pf]]\nname = \"0000:01:00.0\"\nnum_vfs = 1\n", "sriov.pf[1].name", "listed twice"),
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 2\n[[sriov.pf.vf]]\nindex = 0\nlink_state = \"up\"\n", "sriov.pf[0].vf[0].link_state", "unknown variant"),
        ("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 2\ncolour = 1\n", "sriov.pf[0]", "unknown field `colour`"),
    ] {
        let e = err(bad);
        assert!(e.contains(key) && e.contains(why), "{bad}\n -> {e}");
    }
    assert_eq!(pci_address("01:00.1").as_deref(), Some("0000:01:00.1"));
    assert_eq!(pci_address("0000:AF:10.7").as_deref(), Some("0000:af:10.7"));
    assert_eq!(pci_address("eth0"), None);
    assert_eq!(pci_address("0000:01:00.8"), None);
}

fn pf_state(num: u16, links: Vec<VfLink>, drivers: &[Option<&str>]) -> PfState {
    PfState {
        name: "eth0".into(),
        pci: PF.into(),
        netdev: Some("eth0".into()),
        total_vfs: 7,
        num_vfs: num,
        autoprobe: Some(true),
        vfs: (0..num)
            .map(|i| VfState {
                index: i,
                pci: Some(vf_pci(i)),
                driver: drivers.get(usize::from(i)).copied().flatten().map(str::to_owned),
                netdev: None,
                link: links.iter().find(|l| l.index == i).cloned(),
            })
            .collect(),
    }
}

fn texts(steps: &[Step]) -> Vec<String> {
    steps.iter().map(ToString::to_string).collect()
}

#[test]
fn plan_from_nothing_creates_then_sets_every_configured_attribute() {
    let c = cfg(TWO);
    let p = plan(&c, &[pf_state(0, vec![], &[])], &[]).unwrap();
    assert_eq!(
        texts(&p),
        [
            "0000:01:00.0: sriov_numvfs 0 -> 2",
            "0000:01:00.0 vf 0: mac 02:00:00:00:00:10 (was new VF)",
            "0000:01:00.0 vf 0: vlan 10 qos 2 (was new VF)",
            "0000:01:00.0 vf 0: spoofchk off (was new VF)",
            "0000:01:00.0 vf 0: trust on (was new VF)",
            "0000:01:00.0 vf 0: link_state enable (was new VF)",
            "0000:01:00.0 vf 0: min_tx_rate 0 max_tx_rate 100 (was new VF)",
            "0000:01:00.0 vf 1: mac 02:00:00:00:00:11 (was new VF)",
            "0000:01:00.0 vf 1: driver new VF -> vfio-pci",
        ]
    );
}

#[test]
fn plan_of_what_already_holds_is_empty_and_a_diff_touches_only_what_differs() {
    let c = cfg(TWO);
    let mut l0 = fresh(0);
    (l0.mac, l0.vlan, l0.qos, l0.spoofchk, l0.trust, l0.link_state, l0.max_tx_rate) =
        (MacAddr([2, 0, 0, 0, 0, 0x10]), 10, 2, Some(false), Some(true), Some(LinkState::Enable), 100);
    let mut l1 = fresh(1);
    l1.mac = MacAddr([2, 0, 0, 0, 0, 0x11]);
    let st = pf_state(2, vec![l0.clone(), l1.clone()], &[Some("igbvf"), Some("vfio-pci")]);
    assert_eq!(plan(&c, std::slice::from_ref(&st), &[]).unwrap(), vec![]);

    // Only VF 0's VLAN and VF 1's driver differ.
    let mut st2 = st.clone();
    st2.vfs[0].link.as_mut().unwrap().vlan = 20;
    st2.vfs[1].driver = Some("igbvf".into());
    assert_eq!(
        texts(&plan(&c, &[st2], &[]).unwrap()),
        ["0000:01:00.0 vf 0: vlan 10 qos 2 (was vlan 20 qos 2)", "0000:01:00.0 vf 1: driver igbvf -> vfio-pci"]
    );

    // A VF without a config entry, and attributes not set, are left alone.
    let c3 = cfg(&TWO.replace("spoofchk = false\n", "").replace("max_tx_rate = 100\n", ""));
    let mut st3 = st.clone();
    let l = st3.vfs[0].link.as_mut().unwrap();
    (l.spoofchk, l.max_tx_rate) = (Some(true), 300);
    assert_eq!(plan(&c3, &[st3], &[]).unwrap(), vec![]);
}

#[test]
fn changing_the_count_goes_through_zero_and_is_refused_while_a_port_uses_a_vf() {
    let c = cfg(&TWO.replace("num_vfs = 2", "num_vfs = 3"));
    let st = pf_state(2, vec![fresh(0), fresh(1)], &[Some("igbvf"), Some("vfio-pci")]);
    let p = plan(&c, std::slice::from_ref(&st), &[]).unwrap();
    assert_eq!(texts(&p[..2]), ["0000:01:00.0: sriov_numvfs 2 -> 0", "0000:01:00.0: sriov_numvfs 0 -> 3"]);
    let used = [InUse { pci: vf_pci(1), port: "vf1".into() }];
    let e = plan(&c, std::slice::from_ref(&st), &used).unwrap_err().to_string();
    assert_eq!(e, "sriov.pf[0].num_vfs: changing it from 2 to 3 goes through 0 and removes VF 1 (0000:01:10.2), which port \"vf1\" uses; remove the port first");
    // Going to 0 is refused the same way; rebinding a used VF too.
    let e = plan(&cfg("[sriov]\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 0\n"), std::slice::from_ref(&st), &used)
        .unwrap_err();
    assert_eq!(e.key, "sriov.pf[0].num_vfs");
    let e = plan(&cfg(&TWO.replace("\"vfio-pci\"", "\"igbvf\"")), std::slice::from_ref(&st), &used)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "sriov.pf[0].vf[1].driver: VF 1 (0000:01:10.2) is the device of port \"vf1\"; rebinding it from vfio-pci to igbvf needs the port removed first");
    // More than the device has.
    let e = plan(&cfg(&TWO.replace("num_vfs = 2", "num_vfs = 8")), &[st], &[]).unwrap_err().to_string();
    assert_eq!(e, "sriov.pf[0].num_vfs: 8 is above the device's sriov_totalvfs 7");
    // Ports on a VF are found by PCI address, short or long.
    let cfgp = Config::parse(
        "[dataplane]\nworkers = [1]\n[[port]]\nname = \"a\"\ndevargs = \"01:10.2,foo=1\"\n[[port]]\nname = \"b\"\ndevargs = \"net_null0\"\n[[xconnect]]\na = \"a\"\nb = \"b\"\n",
        None,
    )
    .unwrap();
    assert_eq!(ports_in_use(&cfgp), [InUse { pci: "0000:01:10.2".into(), port: "a".into() }]);
}
