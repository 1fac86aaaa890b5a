//! SR-IOV virtual functions, managed from the same config vnfd runs from.
//!
//! `[[sriov.pf]]` names a physical function (netdev name or PCI address) and how many VFs
//! it should have; `[[sriov.pf.vf]]` entries give a VF's MAC, VLAN and QoS, spoof checking,
//! trust, link state, tx rates and the driver it is bound to. Every attribute is optional:
//! one that is not set is left as the kernel has it.
//!
//! Applying is a diff: [`observe`] reads what the kernel has (sysfs for the VF count,
//! drivers and PCI addresses, rtnetlink `RTM_GETLINK` with `RTEXT_FILTER_VF` for the VF
//! attributes), [`plan`] lists only what differs, [`apply`] carries it out. Changing the VF
//! count goes through 0, as the kernel requires, which destroys every VF of that PF: a plan
//! that would do so, or rebind a VF, while vnfd uses that VF as a port is refused. An
//! attribute the driver does not support (`EOPNOTSUPP`) is reported for that VF and the
//! rest goes on.
//!
//! The planner and the apply logic are pure (tested on made-up states): the kernel is the
//! [`Kernel`] trait, implemented over sysfs and rtnetlink by the `vnf-sriov` crate
//! (`pipelines/sriov`), which tests it against a fake sysfs tree and, in CI, a real kernel
//! (an emulated igb NIC under QEMU). The `[sriov]` config types live in `crate::config`.

use crate::config::ConfigError;
pub use crate::config::{pci_address, LinkState, PfConfig, Sriov, VfConfig};
use crate::wire::MacAddr;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;

/// A VF as the kernel has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfState {
    /// VF number.
    pub index: u16,
    /// Its PCI address (`virtfnN`).
    pub pci: Option<String>,
    /// The driver it is bound to.
    pub driver: Option<String>,
    /// The netdev a kernel driver gave it.
    pub netdev: Option<String>,
    /// The attributes the PF reports over rtnetlink (None: not read).
    pub link: Option<VfLink>,
}

/// The rtnetlink attributes of one VF (`IFLA_VF_INFO`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfLink {
    /// VF number.
    pub index: u16,
    /// Administrative MAC (00:00:00:00:00:00: none set).
    pub mac: MacAddr,
    /// Port VLAN (0: none).
    pub vlan: u16,
    /// Its priority.
    pub qos: u8,
    /// Spoof checking (None: the driver does not report it).
    pub spoofchk: Option<bool>,
    /// Trust (None: not reported).
    pub trust: Option<bool>,
    /// Link state (None: not reported).
    pub link_state: Option<LinkState>,
    /// Mbit/s.
    pub min_tx_rate: u32,
    /// Mbit/s (0: unlimited).
    pub max_tx_rate: u32,
}

/// A PF as the kernel has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfState {
    /// The name the config gave.
    pub name: String,
    /// Its PCI address.
    pub pci: String,
    /// Its netdev, when a kernel driver runs it.
    pub netdev: Option<String>,
    /// `sriov_totalvfs`.
    pub total_vfs: u16,
    /// `sriov_numvfs`.
    pub num_vfs: u16,
    /// `sriov_drivers_autoprobe`.
    pub autoprobe: Option<bool>,
    /// VFs 0..num_vfs.
    pub vfs: Vec<VfState>,
}

/// One attribute change of a VF, as rtnetlink sets it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VfAttr {
    /// IFLA_VF_MAC.
    Mac(MacAddr),
    /// IFLA_VF_VLAN.
    Vlan { vlan: u16, qos: u8 },
    /// IFLA_VF_SPOOFCHK.
    Spoofchk(bool),
    /// IFLA_VF_TRUST.
    Trust(bool),
    /// IFLA_VF_LINK_STATE.
    LinkState(LinkState),
    /// IFLA_VF_RATE.
    Rate { min: u32, max: u32 },
}

impl fmt::Display for VfAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = |b: bool| if b { "on" } else { "off" };
        match self {
            VfAttr::Mac(m) => write!(f, "mac {m}"),
            VfAttr::Vlan { vlan, qos } => write!(f, "vlan {vlan} qos {qos}"),
            VfAttr::Spoofchk(b) => write!(f, "spoofchk {}", on(*b)),
            VfAttr::Trust(b) => write!(f, "trust {}", on(*b)),
            VfAttr::LinkState(s) => write!(f, "link_state {s}"),
            VfAttr::Rate { min, max } => write!(f, "min_tx_rate {min} max_tx_rate {max}"),
        }
    }
}

/// What a step changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Write `sriov_drivers_autoprobe`.
    Autoprobe(bool),
    /// Write `sriov_numvfs`.
    NumVfs(u16),
    /// Set a VF attribute over rtnetlink.
    Attr(VfAttr),
    /// Bind the VF to this driver (`none`: unbind it).
    Driver(String),
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Index of the PF in `sriov.pf`.
    pub pf: usize,
    /// The PF's PCI address.
    pub pf_pci: String,
    /// The VF, for VF steps.
    pub vf: Option<u16>,
    /// What it has now (for the plan's text).
    pub from: String,
    /// What it will have.
    pub change: Change,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.pf_pci)?;
        if let Some(v) = self.vf {
            write!(f, " vf {v}")?;
        }
        match &self.change {
            Change::Autoprobe(b) => write!(f, ": sriov_drivers_autoprobe {} -> {}", self.from, u8::from(*b)),
            Change::NumVfs(n) => write!(f, ": sriov_numvfs {} -> {n}", self.from),
            Change::Attr(a) => write!(f, ": {} (was {})", a, self.from),
            Change::Driver(d) => write!(f, ": driver {} -> {d}", self.from),
        }
    }
}

/// A VF that vnfd runs as a port: its PCI address and the port's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InUse {
    /// PCI address.
    pub pci: String,
    /// The `[[port]]` name.
    pub port: String,
}

/// The ports of a config whose device is a PCI address.
pub fn ports_in_use(cfg: &crate::config::Config) -> Vec<InUse> {
    cfg.ports
        .iter()
        .filter_map(|p| pci_address(p.device_name()).map(|pci| InUse { pci, port: p.name.clone() }))
        .collect()
}

fn onoff(b: Option<bool>) -> String {
    b.map_or("unknown".into(), |b| if b { "on".into() } else { "off".into() })
}

/// The steps that take `state` (one entry per `cfg.pf`, in order) to `cfg`. Refuses, naming
/// the key, a PF without SR-IOV, more VFs than the device has, and any step that would
/// destroy or rebind a VF in `in_use`.
pub fn plan(cfg: &Sriov, state: &[PfState], in_use: &[InUse]) -> Result<Vec<Step>, ConfigError> {
    let mut steps = Vec::new();
    for (i, (pc, ps)) in cfg.pf.iter().zip(state).enumerate() {
        let key = |k: &str| format!("sriov.pf[{i}].{k}");
        if ps.total_vfs == 0 {
            return Err(ConfigError::new(
                key("name"),
                format!("{} ({}) has no SR-IOV capability (sriov_totalvfs is 0 or absent)", pc.name, ps.pci),
            ));
        }
        if pc.num_vfs > ps.total_vfs {
            return Err(ConfigError::new(
                key("num_vfs"),
                format!("{} is above the device's sriov_totalvfs {}", pc.num_vfs, ps.total_vfs),
            ));
        }
        let step =
            |vf: Option<u16>, from: String, change: Change| Step { pf: i, pf_pci: ps.pci.clone(), vf, from, change };
        if let Some(a) = pc.autoprobe {
            if ps.autoprobe != Some(a) {
                steps.push(step(
                    None,
                    ps.autoprobe.map_or("unknown".into(), |b| u8::from(b).to_string()),
                    Change::Autoprobe(a),
                ));
            }
        }
        let recreate = pc.num_vfs != ps.num_vfs;
        if recreate {
            if let Some(u) =
                ps.vfs.iter().find_map(|v| in_use.iter().find(|u| Some(&u.pci) == v.pci.as_ref()).map(|u| (v, u)))
            {
                return Err(ConfigError::new(
                    key("num_vfs"),
                    format!(
                        "changing it from {} to {} goes through 0 and removes VF {} ({}), which port {:?} uses; remove the port first",
                        ps.num_vfs, pc.num_vfs, u.0.index, u.1.pci, u.1.port
                    ),
                ));
            }
            if ps.num_vfs != 0 {
                steps.push(step(None, ps.num_vfs.to_string(), Change::NumVfs(0)));
            }
            if pc.num_vfs != 0 {
                steps.push(step(None, "0".into(), Change::NumVfs(pc.num_vfs)));
            }
        }
        for (j, vc) in pc.vf.iter().enumerate() {
            // New VFs start from the kernel's defaults; what they are is read after creation.
            let cur = if recreate { None } else { ps.vfs.iter().find(|v| v.index == vc.index) };
            let link = cur.and_then(|v| v.link.as_ref());
            let fresh = recreate || link.is_none();
            let mut attr = |from: String, a: VfAttr| {
                steps.push(step(Some(vc.index), if recreate { "new VF".into() } else { from }, Change::Attr(a)))
            };
            if let Some(m) = vc.mac {
                if fresh || link.map(|l| l.mac) != Some(m) {
                    attr(link.map_or("unknown".into(), |l| l.mac.to_string()), VfAttr::Mac(m));
                }
            }
            if vc.vlan.is_some() || vc.qos.is_some() {
                let vlan = vc.vlan.or(link.map(|l| l.vlan)).unwrap_or(0);
                let qos = vc.qos.unwrap_or(0);
                if fresh || link.map(|l| (l.vlan, l.qos)) != Some((vlan, qos)) {
                    attr(
                        link.map_or("unknown".into(), |l| format!("vlan {} qos {}", l.vlan, l.qos)),
                        VfAttr::Vlan { vlan, qos },
                    );
                }
            }
            if let Some(s) = vc.spoofchk {
                if fresh || link.and_then(|l| l.spoofchk) != Some(s) {
                    attr(onoff(link.and_then(|l| l.spoofchk)), VfAttr::Spoofchk(s));
                }
            }
            if let Some(t) = vc.trust {
                if fresh || link.and_then(|l| l.trust) != Some(t) {
                    attr(onoff(link.and_then(|l| l.trust)), VfAttr::Trust(t));
                }
            }
            if let Some(s) = vc.link_state {
                if fresh || link.and_then(|l| l.link_state) != Some(s) {
                    attr(
                        link.and_then(|l| l.link_state).map_or("unknown".into(), |s| s.to_string()),
                        VfAttr::LinkState(s),
                    );
                }
            }
            if vc.min_tx_rate.is_some() || vc.max_tx_rate.is_some() {
                let min = vc.min_tx_rate.or(link.map(|l| l.min_tx_rate)).unwrap_or(0);
                let max = vc.max_tx_rate.or(link.map(|l| l.max_tx_rate)).unwrap_or(0);
                if fresh || link.map(|l| (l.min_tx_rate, l.max_tx_rate)) != Some((min, max)) {
                    attr(
                        link.map_or("unknown".into(), |l| format!("min {} max {}", l.min_tx_rate, l.max_tx_rate)),
                        VfAttr::Rate { min, max },
                    );
                }
            }
            if let Some(d) = &vc.driver {
                let have = cur.and_then(|v| v.driver.clone());
                let want_none = d == "none";
                if recreate || (want_none && have.is_some()) || (!want_none && have.as_deref() != Some(d)) {
                    if let Some(u) = cur.and_then(|v| in_use.iter().find(|u| Some(&u.pci) == v.pci.as_ref())) {
                        return Err(ConfigError::new(
                            format!("sriov.pf[{i}].vf[{j}].driver"),
                            format!(
                                "VF {} ({}) is the device of port {:?}; rebinding it from {} to {d} needs the port removed first",
                                vc.index,
                                u.pci,
                                u.port,
                                have.as_deref().unwrap_or("none")
                            ),
                        ));
                    }
                    steps.push(step(
                        Some(vc.index),
                        if recreate { "new VF".into() } else { have.unwrap_or_else(|| "none".into()) },
                        Change::Driver(d.clone()),
                    ));
                }
            }
        }
    }
    Ok(steps)
}

/// What happened to one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "error")]
pub enum Outcome {
    /// Done.
    Done,
    /// The driver does not support it (EOPNOTSUPP): reported, not fatal.
    Unsupported(String),
    /// It failed.
    Failed(String),
}

/// A step and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The step.
    pub step: Step,
    /// The outcome.
    pub outcome: Outcome,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Done => write!(f, "{}: done", self.step),
            Outcome::Unsupported(e) => write!(f, "{}: unsupported by the driver ({e})", self.step),
            Outcome::Failed(e) => write!(f, "{}: FAILED: {e}", self.step),
        }
    }
}

/// The kernel's side: sysfs and rtnetlink. `vnf_sriov::sysfs::Sysfs` with `vnf_sriov::netlink::Netlink` is
/// the real one.
pub trait Kernel {
    /// The state of the PF a config names.
    fn pf_state(&mut self, name: &str) -> Result<PfState, String>;
    /// Writes `sriov_drivers_autoprobe`.
    fn set_autoprobe(&mut self, pf_pci: &str, on: bool) -> io::Result<()>;
    /// Writes `sriov_numvfs`.
    fn set_num_vfs(&mut self, pf_pci: &str, n: u16) -> io::Result<()>;
    /// Sets one VF attribute through the PF's netdev.
    fn set_vf(&mut self, pf_netdev: &str, vf: u16, attr: &VfAttr) -> io::Result<()>;
    /// Binds the VF to `driver` (`none`: unbinds it).
    fn bind(&mut self, vf_pci: &str, driver: &str) -> io::Result<()>;
    /// Whether the PF's link is up (None: not known).
    fn link_up(&mut self, _pf_netdev: &str) -> Option<bool> {
        None
    }
}

/// Creating or removing VFs resets some PFs (igb does): the link goes down for a moment,
/// and drivers refuse rate limits without it. Waits (at most `max`) until the links that
/// were up are up again.
fn wait_links(k: &mut dyn Kernel, up_before: &[String], max: std::time::Duration) {
    let end = std::time::Instant::now() + max;
    // A reset may not have taken the link down yet when this starts: let it begin.
    std::thread::sleep(std::time::Duration::from_millis(100));
    while up_before.iter().any(|d| k.link_up(d) == Some(false)) && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Reads every configured PF; an unknown PF is refused naming its key.
pub fn observe(cfg: &Sriov, k: &mut dyn Kernel) -> Result<Vec<PfState>, ConfigError> {
    cfg.pf
        .iter()
        .enumerate()
        .map(|(i, p)| k.pf_state(&p.name).map_err(|e| ConfigError::new(format!("sriov.pf[{i}].name"), e)))
        .collect()
}

fn outcome(r: io::Result<()>) -> Outcome {
    match r {
        Ok(()) => Outcome::Done,
        Err(e) if e.raw_os_error() == Some(EOPNOTSUPP) || e.kind() == io::ErrorKind::Unsupported => {
            Outcome::Unsupported(e.to_string())
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// EOPNOTSUPP on Linux (vnf-core has no libc dependency).
const EOPNOTSUPP: i32 = 95;

fn run(step: &Step, states: &[PfState], k: &mut dyn Kernel) -> Outcome {
    let ps = &states[step.pf];
    match (&step.change, step.vf) {
        (Change::Autoprobe(b), _) => outcome(k.set_autoprobe(&ps.pci, *b)),
        (Change::NumVfs(n), _) => outcome(k.set_num_vfs(&ps.pci, *n)),
        (Change::Attr(a), Some(vf)) => match &ps.netdev {
            Some(dev) => outcome(k.set_vf(dev, vf, a)),
            None => Outcome::Failed(format!(
                "PF {} has no netdev (no kernel driver bound), so VF attributes cannot be set",
                ps.pci
            )),
        },
        (Change::Driver(d), Some(vf)) => match ps.vfs.iter().find(|v| v.index == vf).and_then(|v| v.pci.clone()) {
            Some(pci) => outcome(k.bind(&pci, d)),
            None => Outcome::Failed(format!("VF {vf} has no virtfn{vf} link")),
        },
        (_, None) => Outcome::Failed("a VF step without a VF".into()),
    }
}

/// The result of [`apply`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Every step carried out, in order, with its outcome.
    pub steps: Vec<Applied>,
    /// The PFs as the kernel has them afterwards.
    pub after: Vec<PfState>,
}

impl Report {
    /// Steps that failed (unsupported ones are not failures).
    pub fn failed(&self) -> impl Iterator<Item = &Applied> {
        self.steps.iter().filter(|a| matches!(a.outcome, Outcome::Failed(_)))
    }
}

/// Takes the kernel to `cfg`: the VF counts first (then everything is read again, since new
/// VFs start from the kernel's defaults), then the VF attributes, then the drivers. The plan
/// is checked whole before anything is changed; a refused plan changes nothing.
pub fn apply(cfg: &Sriov, k: &mut dyn Kernel, in_use: &[InUse]) -> Result<Report, ConfigError> {
    let states = observe(cfg, k)?;
    let first = plan(cfg, &states, in_use)?;
    let mut report = Report::default();
    let structural = |s: &Step| matches!(s.change, Change::Autoprobe(_) | Change::NumVfs(_));
    let states = if first.iter().any(structural) {
        let up_before: Vec<String> =
            states.iter().filter_map(|p| p.netdev.clone()).filter(|d| k.link_up(d) == Some(true)).collect();
        for s in first.iter().filter(|s| structural(s)) {
            let o = run(s, &states, k);
            let stop = matches!(o, Outcome::Failed(_)) && matches!(s.change, Change::NumVfs(_));
            report.steps.push(Applied { step: s.clone(), outcome: o });
            if stop {
                // Without the VFs there is nothing more to set.
                report.after = observe(cfg, k)?;
                return Ok(report);
            }
        }
        wait_links(k, &up_before, std::time::Duration::from_secs(10));
        observe(cfg, k)?
    } else {
        states
    };
    // The counts now match, so this plan has only VF attributes and drivers.
    for s in plan(cfg, &states, in_use)?.into_iter().filter(|s| !structural(s)) {
        let o = run(&s, &states, k);
        report.steps.push(Applied { step: s, outcome: o });
    }
    report.after = observe(cfg, k)?;
    Ok(report)
}

/// The human listing of PFs and their VFs.
pub fn listing(pfs: &[PfState]) -> String {
    let mut out = String::new();
    for p in pfs {
        out += &format!(
            "pf {} ({}) netdev {} vfs {}/{} autoprobe {}\n",
            p.name,
            p.pci,
            p.netdev.as_deref().unwrap_or("-"),
            p.num_vfs,
            p.total_vfs,
            p.autoprobe.map_or("-", |b| if b { "on" } else { "off" })
        );
        for v in &p.vfs {
            let l = v.link.as_ref();
            let on = |b: Option<bool>| b.map_or("-", |b| if b { "on" } else { "off" });
            out += &format!(
                "  vf {:<2} {:<13} {:<8} netdev {:<8} mac {} vlan {} qos {} spoofchk {} trust {} link {} rate {}/{}\n",
                v.index,
                v.pci.as_deref().unwrap_or("-"),
                v.driver.as_deref().unwrap_or("none"),
                v.netdev.as_deref().unwrap_or("-"),
                l.map_or("-".into(), |l| l.mac.to_string()),
                l.map_or(0, |l| l.vlan),
                l.map_or(0, |l| l.qos),
                on(l.and_then(|l| l.spoofchk)),
                on(l.and_then(|l| l.trust)),
                l.and_then(|l| l.link_state).map_or("-".into(), |s| s.to_string()),
                l.map_or(0, |l| l.min_tx_rate),
                l.map_or(0, |l| l.max_tx_rate),
            );
        }
    }
    out
}

#[doc(hidden)]
pub mod fixture;
#[cfg(test)]
mod tests;
