//! Apply on a fake sysfs tree (a temp dir laid out like /sys:
//! bus/pci/devices/<pf>/{sriov_*, virtfnN, net/<dev>}, class/net/<dev>/device) with a
//! stand-in for rtnetlink that behaves like igb (no per-VF link state).

use crate::sysfs::Sysfs;
use crate::VfLinks;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;
use vnf_core::sriov::fixture::{cfg, TWO};
use vnf_core::sriov::{apply, Change, InUse, LinkState, VfAttr, VfLink};
use vnf_core::wire::MacAddr;

const PF: &str = "0000:01:00.0";

fn vf_pci(i: u16) -> String {
    format!("0000:01:10.{}", i * 2)
}

/// rtnetlink as igb answers it: VF attributes per PF netdev; link state unsupported.
#[derive(Default, Debug)]
struct FakeLinks {
    pfs: HashMap<String, Vec<VfLink>>,
    sets: Vec<(u16, VfAttr)>,
}

impl VfLinks for FakeLinks {
    fn vfs(&mut self, pf: &str) -> io::Result<Vec<VfLink>> {
        Ok(self.pfs.get(pf).cloned().unwrap_or_default())
    }
    fn set_vf(&mut self, pf: &str, vf: u16, attr: &VfAttr) -> io::Result<()> {
        let l = self.pfs.entry(pf.into()).or_default();
        let Some(x) = l.iter_mut().find(|x| x.index == vf) else { return Err(io::Error::from_raw_os_error(22)) };
        match attr {
            VfAttr::Mac(m) => x.mac = *m,
            VfAttr::Vlan { vlan, qos } => (x.vlan, x.qos) = (*vlan, *qos),
            VfAttr::Spoofchk(b) => x.spoofchk = Some(*b),
            VfAttr::Trust(b) => x.trust = Some(*b),
            VfAttr::LinkState(_) => return Err(io::Error::from_raw_os_error(95)),
            VfAttr::Rate { min, max } => (x.min_tx_rate, x.max_tx_rate) = (*min, *max),
        }
        self.sets.push((vf, attr.clone()));
        Ok(())
    }
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

/// A sysfs attribute as the kernel would hold it: writes do not truncate in the fake tree,
/// so the value is the written prefix of the first line.
fn rd(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap().lines().next().unwrap_or("").to_owned()
}

fn w(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

/// A PF with `total` VFs possible and `num` present; each VF device exists (created ahead,
/// as the kernel would on a write to sriov_numvfs) with driver `drv` when given.
fn tree(root: &Path, total: u16, num: u16, drv: Option<&str>) {
    let dev = root.join("bus/pci/devices").join(PF);
    w(&dev.join("sriov_totalvfs"), &format!("{total}\n"));
    w(&dev.join("sriov_numvfs"), &format!("{num}\n"));
    w(&dev.join("sriov_drivers_autoprobe"), "1\n");
    std::fs::create_dir_all(dev.join("net/eth0")).unwrap();
    std::fs::create_dir_all(root.join("class/net/eth0")).unwrap();
    symlink(format!("../../../bus/pci/devices/{PF}"), root.join("class/net/eth0/device")).unwrap();
    w(&root.join("bus/pci/drivers_probe"), "");
    for d in ["igbvf", "vfio-pci"] {
        w(&root.join("bus/pci/drivers").join(d).join("unbind"), "");
    }
    for i in 0..total {
        let v = root.join("bus/pci/devices").join(vf_pci(i));
        w(&v.join("driver_override"), "(null)\n");
        if let Some(d) = drv {
            symlink(format!("../../drivers/{d}"), v.join("driver")).unwrap();
        }
        symlink(format!("../{}", vf_pci(i)), dev.join(format!("virtfn{i}"))).unwrap();
    }
}

fn fake(root: &Path) -> Sysfs<FakeLinks> {
    Sysfs::with_links(root, FakeLinks::default())
}

#[test]
fn apply_on_a_fake_sysfs_tree_writes_only_the_diff() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tree(root, 7, 0, Some("igbvf"));
    let c = cfg(&TWO.replace("ROOT", &root.display().to_string()));
    let mut k = fake(root);
    // The kernel creates VFs with defaults when sriov_numvfs is written: the fake has them
    // ready, reported once the count says they exist.
    k.links.pfs.insert("eth0".into(), (0..7).map(fresh).collect());
    let r = apply(&c, &mut k, &[]).unwrap();
    let dev = root.join("bus/pci/devices").join(PF);
    assert_eq!(rd(&dev.join("sriov_numvfs")), "2");
    let out: Vec<String> = r.steps.iter().map(ToString::to_string).collect();
    assert_eq!(
        out,
        [
            "0000:01:00.0: sriov_numvfs 0 -> 2: done",
            "0000:01:00.0 vf 0: mac 02:00:00:00:00:10 (was 00:00:00:00:00:00): done",
            "0000:01:00.0 vf 0: vlan 10 qos 2 (was vlan 0 qos 0): done",
            "0000:01:00.0 vf 0: spoofchk off (was on): done",
            "0000:01:00.0 vf 0: trust on (was off): done",
            "0000:01:00.0 vf 0: link_state enable (was auto): unsupported by the driver (Operation not supported (os error 95))",
            "0000:01:00.0 vf 0: min_tx_rate 0 max_tx_rate 100 (was min 0 max 0): done",
            "0000:01:00.0 vf 1: mac 02:00:00:00:00:11 (was 00:00:00:00:00:00): done",
            // The fake tree has no driver core behind it: the override is written, the VF
            // unbound from igbvf and probed, but nothing binds it. That is reported.
            "0000:01:00.0 vf 1: driver igbvf -> vfio-pci: FAILED: driver_override is vfio-pci but the VF is bound to igbvf (is the vfio-pci module loaded?)",
        ]
    );
    let v1 = root.join("bus/pci/devices").join(vf_pci(1));
    assert_eq!(rd(&v1.join("driver_override")), "vfio-pci");
    assert_eq!(rd(&root.join("bus/pci/drivers/igbvf/unbind")), vf_pci(1));
    assert_eq!(rd(&root.join("bus/pci/drivers_probe")), vf_pci(1));
    assert_eq!(r.failed().count(), 1);
    // What the fake kernel holds now is what the config says (but the link state).
    let l = &r.after[0].vfs[0].link.clone().unwrap();
    assert_eq!(
        (l.mac, l.vlan, l.qos, l.spoofchk, l.trust, l.max_tx_rate),
        (MacAddr([2, 0, 0, 0, 0, 0x10]), 10, 2, Some(false), Some(true), 100)
    );

    // Applying again changes only what is still off: the link state and the driver.
    let again = apply(&c, &mut k, &[]).unwrap();
    let kinds: Vec<&Change> = again.steps.iter().map(|a| &a.step.change).collect();
    assert_eq!(kinds, [&Change::Attr(VfAttr::LinkState(LinkState::Enable)), &Change::Driver("vfio-pci".into())]);

    // A refused plan changes nothing: 2 -> 3 while port "vf1" runs on VF 1.
    let before = k.links.sets.len();
    let c3 = cfg(&TWO.replace("ROOT", &root.display().to_string()).replace("num_vfs = 2", "num_vfs = 3"));
    let e = apply(&c3, &mut k, &[InUse { pci: vf_pci(1), port: "vf1".into() }]).unwrap_err();
    assert_eq!(e.key, "sriov.pf[0].num_vfs");
    assert_eq!((rd(&dev.join("sriov_numvfs")), k.links.sets.len()), ("2".to_owned(), before));

    // Back to 0.
    let r = apply(
        &cfg(&format!("[sriov]\nsysfs = \"{}\"\n[[sriov.pf]]\nname = \"eth0\"\nnum_vfs = 0\n", root.display())),
        &mut k,
        &[],
    )
    .unwrap();
    assert_eq!(
        r.steps.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["0000:01:00.0: sriov_numvfs 2 -> 0: done"]
    );
    assert_eq!(rd(&dev.join("sriov_numvfs")), "0");
}

#[test]
fn unknown_pf_and_pf_without_sriov_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tree(root, 0, 0, None);
    let mut k = fake(root);
    let c = cfg(&format!("[sriov]\nsysfs = \"{}\"\n[[sriov.pf]]\nname = \"eth9\"\nnum_vfs = 1\n", root.display()));
    let e = apply(&c, &mut k, &[]).unwrap_err().to_string();
    assert!(e.starts_with("sriov.pf[0].name: no netdev \"eth9\" backed by a PCI device"), "{e}");
    let c =
        cfg(&format!("[sriov]\nsysfs = \"{}\"\n[[sriov.pf]]\nname = \"0000:02:00.0\"\nnum_vfs = 1\n", root.display()));
    let e = apply(&c, &mut k, &[]).unwrap_err().to_string();
    assert!(e.starts_with("sriov.pf[0].name: no PCI device 0000:02:00.0"), "{e}");
    let c = cfg(&format!("[sriov]\nsysfs = \"{}\"\n[[sriov.pf]]\nname = \"{PF}\"\nnum_vfs = 1\n", root.display()));
    let e = apply(&c, &mut k, &[]).unwrap_err().to_string();
    assert_eq!(
        e,
        "sriov.pf[0].name: 0000:01:00.0 (0000:01:00.0) has no SR-IOV capability (sriov_totalvfs is 0 or absent)"
    );
}
