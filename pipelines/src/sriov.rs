//! vnfd's use of the SR-IOV manager (the planner in `vnf_core::sriov`, the kernel I/O in
//! `vnf_sriov`): at start, before EAL probes the
//! ports (so VFs named as ports exist and have their driver), and on every reload, before
//! the new dataplane config is published. A VF that a running port uses is never destroyed
//! or rebound: such a plan is refused and the reload with it.

use vnf_core::config::{Config, ConfigError};
use vnf_core::sriov::{self, InUse, PfState, Report, Sriov, Step};
use vnf_sriov::{netlink::Netlink, sysfs::Sysfs};

/// The kernel behind `s`: sysfs at `s.sysfs`, VF attributes over rtnetlink.
pub fn kernel(s: &Sriov) -> Result<Sysfs<Netlink>, String> {
    Sysfs::new(&s.sysfs).map_err(|e| format!("sriov: rtnetlink socket: {e}"))
}

/// Applies `cfg.sriov` (if any) without destroying or rebinding the VFs in `in_use`.
pub fn apply(cfg: &Config, in_use: &[InUse]) -> Result<Option<Report>, String> {
    let Some(s) = &cfg.sriov else { return Ok(None) };
    let mut k = kernel(s)?;
    sriov::apply(s, &mut k, in_use).map(Some).map_err(|e| e.to_string())
}

/// What [`apply`] would do.
pub fn plan(s: &Sriov, in_use: &[InUse]) -> Result<Vec<Step>, ConfigError> {
    let mut k = kernel(s).map_err(|e| ConfigError { file: None, line: None, key: "sriov".into(), reason: e })?;
    let st = sriov::observe(s, &mut k)?;
    sriov::plan(s, &st, in_use)
}

/// The PFs `s` names as the kernel has them.
pub fn list(s: &Sriov) -> Result<Vec<PfState>, String> {
    let mut k = kernel(s)?;
    sriov::observe(s, &mut k).map_err(|e| e.to_string())
}
