//! The sysfs side of SR-IOV, under a configurable root (`/sys`, or a fake tree in tests):
//! `bus/pci/devices/<pf>/{sriov_totalvfs,sriov_numvfs,sriov_drivers_autoprobe,virtfnN,net/}`,
//! `class/net/<netdev>/device`, and binding through `driver_override`, `driver/unbind` and
//! `bus/pci/drivers_probe`.

use crate::netlink::Netlink;
use crate::VfLinks;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vnf_core::sriov::{pci_address, Kernel, PfState, VfAttr, VfState};

/// sysfs at `root`, with `links` for the VF attributes.
#[derive(Debug)]
pub struct Sysfs<L> {
    root: PathBuf,
    /// The VF attribute reader/writer.
    pub links: L,
}

fn read_trim(p: &Path) -> io::Result<String> {
    Ok(std::fs::read_to_string(p)?.trim().to_owned())
}

fn link_name(p: &Path) -> Option<String> {
    std::fs::read_link(p).ok().and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

fn ctx(p: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

fn write(p: &Path, v: &str) -> io::Result<()> {
    // One write per attribute, as `echo v > attr` does (truncation is a no-op on sysfs and
    // keeps a fake tree readable); never creates a file.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(p)
        .and_then(|mut f| io::Write::write_all(&mut f, v.as_bytes()))
        .map_err(|e| ctx(p, e))
}

impl Sysfs<Netlink> {
    /// sysfs at `root` with the kernel behind it: VF attributes over rtnetlink.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        Ok(Sysfs { root: root.into(), links: Netlink::open()? })
    }
}

impl<L: VfLinks> Sysfs<L> {
    /// sysfs at `root` with another VF attribute backend (a fake one in tests).
    pub fn with_links(root: impl Into<PathBuf>, links: L) -> Self {
        Sysfs { root: root.into(), links }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dev(&self, pci: &str) -> PathBuf {
        self.root.join("bus/pci/devices").join(pci)
    }

    /// The PCI address of a PF named by PCI address or netdev.
    pub fn resolve(&self, name: &str) -> Result<String, String> {
        if let Some(pci) = pci_address(name) {
            return if self.dev(&pci).exists() {
                Ok(pci)
            } else {
                Err(format!("no PCI device {pci} under {}", self.dev(&pci).display()))
            };
        }
        let dev = self.root.join("class/net").join(name).join("device");
        link_name(&dev)
            .filter(|n| pci_address(n).is_some())
            .ok_or_else(|| format!("no netdev {name:?} backed by a PCI device ({} is absent)", dev.display()))
    }

    fn netdev_of(&self, pci: &str) -> Option<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dev(pci).join("net"))
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.into_iter().next()
    }

    fn state(&mut self, name: &str) -> Result<PfState, String> {
        let pci = self.resolve(name)?;
        let d = self.dev(&pci);
        let num = |f: &str| read_trim(&d.join(f)).ok().and_then(|s| s.parse::<u16>().ok());
        let netdev = self.netdev_of(&pci);
        let total_vfs = num("sriov_totalvfs").unwrap_or(0);
        let num_vfs = num("sriov_numvfs").unwrap_or(0);
        let links = match &netdev {
            Some(n) if num_vfs > 0 => self.links.vfs(n).ok(),
            _ => None,
        };
        let vfs = (0..num_vfs)
            .map(|i| {
                let vpci = link_name(&d.join(format!("virtfn{i}")));
                let vd = vpci.as_ref().map(|p| self.dev(p));
                VfState {
                    index: i,
                    driver: vd.as_ref().and_then(|v| link_name(&v.join("driver"))),
                    netdev: vpci.as_deref().and_then(|p| self.netdev_of(p)),
                    pci: vpci,
                    link: links.as_ref().and_then(|l| l.iter().find(|x| x.index == i).cloned()),
                }
            })
            .collect();
        Ok(PfState {
            name: name.into(),
            pci,
            netdev,
            total_vfs,
            num_vfs,
            autoprobe: num("sriov_drivers_autoprobe").map(|v| v != 0),
            vfs,
        })
    }
}

impl<L: VfLinks> Kernel for Sysfs<L> {
    fn pf_state(&mut self, name: &str) -> Result<PfState, String> {
        self.state(name)
    }

    fn set_autoprobe(&mut self, pf_pci: &str, on: bool) -> io::Result<()> {
        write(&self.dev(pf_pci).join("sriov_drivers_autoprobe"), if on { "1" } else { "0" })
    }

    fn set_num_vfs(&mut self, pf_pci: &str, n: u16) -> io::Result<()> {
        write(&self.dev(pf_pci).join("sriov_numvfs"), &n.to_string())
    }

    fn set_vf(&mut self, pf_netdev: &str, vf: u16, attr: &VfAttr) -> io::Result<()> {
        self.links.set_vf(pf_netdev, vf, attr)
    }

    fn link_up(&mut self, pf_netdev: &str) -> Option<bool> {
        let d = self.root.join("class/net").join(pf_netdev);
        // operstate says up before some drivers (igb) have their speed again: want both.
        let state = read_trim(&d.join("operstate")).ok()?;
        let speed = read_trim(&d.join("speed")).ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        Some(state == "up" && speed > 0)
    }

    fn bind(&mut self, vf_pci: &str, driver: &str) -> io::Result<()> {
        let d = self.dev(vf_pci);
        write(&d.join("driver_override"), driver)?;
        if let Some(cur) = link_name(&d.join("driver")) {
            if cur == driver {
                return Ok(());
            }
            write(&d.join("driver/unbind"), vf_pci)?;
        }
        if driver == "none" {
            return Ok(());
        }
        // drivers_probe binds by driver_override; a driver that is not loaded leaves it unbound.
        let _ = write(&self.root.join("bus/pci/drivers_probe"), vf_pci);
        let end = Instant::now() + Duration::from_secs(2);
        loop {
            match link_name(&d.join("driver")) {
                Some(now) if now == driver => return Ok(()),
                now if Instant::now() >= end => {
                    return Err(io::Error::other(format!(
                        "driver_override is {driver} but the VF is bound to {} (is the {driver} module loaded?)",
                        now.as_deref().unwrap_or("nothing")
                    )))
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
