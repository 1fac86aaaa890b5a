//! `[sriov]`: the PFs whose VFs vnfd manages, as configured. The planner that compares
//! this with the kernel is `crate::sriov`.

use super::ConfigError;
use crate::wire::MacAddr;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// `[sriov]`: the PFs whose VFs vnfd manages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sriov {
    /// Where sysfs is mounted (a test points it at a fake tree).
    #[serde(default = "default_sysfs")]
    pub sysfs: String,
    /// The physical functions.
    #[serde(default)]
    pub pf: Vec<PfConfig>,
}

fn default_sysfs() -> String {
    "/sys".into()
}

impl Default for Sriov {
    fn default() -> Self {
        Sriov { sysfs: default_sysfs(), pf: Vec::new() }
    }
}

/// `[[sriov.pf]]`: one physical function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PfConfig {
    /// Netdev name (`enp1s0f0`) or PCI address (`0000:01:00.0`).
    pub name: String,
    /// How many VFs it has (0 removes them all).
    pub num_vfs: u16,
    /// `sriov_drivers_autoprobe`: whether new VFs bind to their default driver.
    #[serde(default)]
    pub autoprobe: Option<bool>,
    /// Settings of single VFs.
    #[serde(default)]
    pub vf: Vec<VfConfig>,
}

/// `[[sriov.pf.vf]]`: one VF's settings; an absent one is left as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VfConfig {
    /// VF number, below `num_vfs`.
    pub index: u16,
    /// Administrative MAC address.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// Port VLAN the PF inserts and strips (0: none).
    #[serde(default)]
    pub vlan: Option<u16>,
    /// 802.1p priority of that VLAN (needs `vlan`).
    #[serde(default)]
    pub qos: Option<u8>,
    /// Source MAC/VLAN anti-spoofing.
    #[serde(default)]
    pub spoofchk: Option<bool>,
    /// Trusted VF (may change its MAC, use promiscuous modes).
    #[serde(default)]
    pub trust: Option<bool>,
    /// Link state the VF sees.
    #[serde(default)]
    pub link_state: Option<LinkState>,
    /// Guaranteed tx rate, Mbit/s (0: none).
    #[serde(default)]
    pub min_tx_rate: Option<u32>,
    /// Tx rate limit, Mbit/s (0: none).
    #[serde(default)]
    pub max_tx_rate: Option<u32>,
    /// Driver the VF is bound to (`vfio-pci` for DPDK, `iavf`, `igbvf`, ...; `none`: unbound).
    #[serde(default)]
    pub driver: Option<String>,
}

/// The link state a VF is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Follows the PF's link.
    Auto,
    /// Always up.
    Enable,
    /// Always down.
    Disable,
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkState::Auto => "auto",
            LinkState::Enable => "enable",
            LinkState::Disable => "disable",
        })
    }
}

/// A PCI address as sysfs spells it (`0000:01:00.0`); short forms (`01:00.0`) get domain 0.
pub fn pci_address(s: &str) -> Option<String> {
    let s = s.trim();
    let full = if s.matches(':').count() == 1 { format!("0000:{s}") } else { s.to_owned() };
    let (dom, rest) = full.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let hex = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(dom, 4) && hex(bus, 2) && hex(dev, 2) && func.len() == 1 && matches!(func.as_bytes()[0], b'0'..=b'7'))
        .then(|| full.to_ascii_lowercase())
}

impl Sriov {
    /// Ranges, uniqueness and the attributes that need one another.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.sysfs.is_empty() {
            return Err(ConfigError::new("sriov.sysfs", "must not be empty"));
        }
        let mut names = HashSet::new();
        for (i, pf) in self.pf.iter().enumerate() {
            let key = |k: &str| format!("sriov.pf[{i}].{k}");
            if pf.name.is_empty() || pf.name.contains('/') || pf.name.len() > 64 {
                return Err(ConfigError::new(
                    key("name"),
                    format!("{:?} is not a netdev name or PCI address", pf.name),
                ));
            }
            let id = pci_address(&pf.name).unwrap_or_else(|| pf.name.clone());
            if !names.insert(id) {
                return Err(ConfigError::new(key("name"), format!("{:?} is listed twice", pf.name)));
            }
            if pf.num_vfs > 256 {
                return Err(ConfigError::new(key("num_vfs"), format!("{} is above 256", pf.num_vfs)));
            }
            let mut seen = HashSet::new();
            for (j, vf) in pf.vf.iter().enumerate() {
                let key = |k: &str| format!("sriov.pf[{i}].vf[{j}].{k}");
                if vf.index >= pf.num_vfs {
                    return Err(ConfigError::new(
                        key("index"),
                        format!("VF {} does not exist with num_vfs = {}", vf.index, pf.num_vfs),
                    ));
                }
                if !seen.insert(vf.index) {
                    return Err(ConfigError::new(key("index"), format!("VF {} is configured twice", vf.index)));
                }
                if let Some(m) = vf.mac {
                    if m.0[0] & 1 != 0 || m.0 == [0; 6] {
                        return Err(ConfigError::new(key("mac"), format!("{m} is not a unicast address")));
                    }
                }
                if let Some(v) = vf.vlan {
                    if v > 4094 {
                        return Err(ConfigError::new(key("vlan"), format!("{v} is not in 0..=4094")));
                    }
                }
                if let Some(q) = vf.qos {
                    if q > 7 {
                        return Err(ConfigError::new(key("qos"), format!("{q} is not in 0..=7")));
                    }
                    if q != 0 && vf.vlan.unwrap_or(0) == 0 {
                        return Err(ConfigError::new(key("qos"), "a priority needs a vlan"));
                    }
                }
                if let (Some(lo), Some(hi)) = (vf.min_tx_rate, vf.max_tx_rate) {
                    if hi != 0 && lo > hi {
                        return Err(ConfigError::new(key("min_tx_rate"), format!("{lo} is above max_tx_rate {hi}")));
                    }
                }
                if let Some(d) = &vf.driver {
                    if d.is_empty()
                        || d.len() > 32
                        || !d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        return Err(ConfigError::new(key("driver"), format!("{d:?} is not a driver name")));
                    }
                }
            }
        }
        Ok(())
    }
}
