//! `[vtep]`: the VXLAN tunnel endpoint (RFC 7348) and the bridge keys that stretch a
//! bridge over it (`vni`, `remote_vteps`, `remote_mac`).

use super::{yes, Config, ConfigError, Ipv4Prefix, StaticNeighbor};
use crate::wire::MacAddr;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// `[vtep]`: this appliance as a VXLAN tunnel endpoint (RFC 7348).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vtep {
    /// The port facing the underlay (a port without a bridge role).
    pub underlay: String,
    /// The local VTEP address with the underlay subnet, e.g. `203.0.113.1/24`.
    pub address: Ipv4Prefix,
    /// Underlay next hop for remote VTEPs outside the subnet.
    #[serde(default)]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// The VTEP's MAC on the underlay (default: the underlay port's own MAC, see
    /// `Tables::use_port_macs`; `02:76:6e:66:ff:fe` when it has none).
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// UDP destination port (default 4789).
    #[serde(default = "vxlan_port")]
    pub udp_port: u16,
    /// Accept only tunnels from the VNI's configured remote VTEPs (default on).
    #[serde(default = "yes")]
    pub check_source: bool,
    /// Underlay IP MTU: an encapsulated packet above it is dropped, never fragmented.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// Static underlay neighbours (ARP entries).
    #[serde(default)]
    pub neighbor: Vec<StaticNeighbor>,
}

impl Vtep {
    /// The VTEP MAC: configured, or the fixed default (which a port's own MAC replaces when
    /// the dataplane has one, see `Tables::use_port_macs`).
    pub fn mac(&self) -> MacAddr {
        self.mac.unwrap_or(MacAddr([0x02, 0x76, 0x6e, 0x66, 0xff, 0xfe]))
    }
}

fn vxlan_port() -> u16 {
    4789
}
fn default_mtu() -> u16 {
    1500
}

/// `[[bridge.remote_mac]]`: an inner MAC that lives behind a remote VTEP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteMac {
    /// The inner MAC.
    pub mac: MacAddr,
    /// The remote VTEP (one of the bridge's `remote_vteps`).
    pub vtep: std::net::Ipv4Addr,
}

impl Config {
    pub(super) fn validate_vtep(&self, xconnected: &HashMap<&str, usize>) -> Result<(), ConfigError> {
        let Some(v) = &self.vtep else {
            for (i, b) in self.bridges.iter().enumerate() {
                if b.vni.is_some() {
                    return Err(ConfigError::new(format!("bridge[{i}].vni"), "needs a [vtep] section"));
                }
            }
            return Ok(());
        };
        match self.port_index(&v.underlay) {
            None => return Err(ConfigError::new("vtep.underlay", format!("no port is named {:?}", v.underlay))),
            Some(i) if self.ports[i].mode.is_some() || xconnected.contains_key(v.underlay.as_str()) => {
                return Err(ConfigError::new(
                    "vtep.underlay",
                    format!("port {:?} already has a bridge role or a cross-connect", v.underlay),
                ))
            }
            Some(_) => {}
        }
        let a = v.address;
        if a.len == 0
            || a.len > 30
            || a.addr == a.network()
            || a.addr == a.broadcast()
            || a.addr >> 24 == 0
            || a.addr >> 24 == 127
            || a.addr >> 24 >= 224
        {
            return Err(ConfigError::new(
                "vtep.address",
                format!("{a} is not a unicast host address in a /1../30 subnet"),
            ));
        }
        if let Some(g) = v.gateway {
            let g = u32::from(g);
            if !a.contains(g) || g == a.addr {
                return Err(ConfigError::new(
                    "vtep.gateway",
                    format!("{} is not another host of {a}", std::net::Ipv4Addr::from(g)),
                ));
            }
        }
        if v.udp_port == 0 {
            return Err(ConfigError::new("vtep.udp_port", "must not be 0"));
        }
        if !(576..=9600).contains(&v.mtu) {
            return Err(ConfigError::new("vtep.mtu", format!("{} is not in 576..=9600", v.mtu)));
        }
        if v.mac().is_multicast() || v.mac().is_zero() {
            return Err(ConfigError::new("vtep.mac", format!("{} is not a unicast address", v.mac())));
        }
        for (k, n) in v.neighbor.iter().enumerate() {
            let ip = u32::from(n.ip);
            if !a.contains(ip) || ip == a.addr {
                return Err(ConfigError::new(
                    format!("vtep.neighbor[{k}].ip"),
                    format!("{} is not another host of {a}", n.ip),
                ));
            }
        }
        let mut vnis = HashMap::new();
        for (i, b) in self.bridges.iter().enumerate() {
            let key = |f: &str| format!("bridge[{i}].{f}");
            let Some(vni) = b.vni else {
                if !b.remote_vteps.is_empty() || !b.remote_mac.is_empty() || b.vxlan_inner_tagged {
                    return Err(ConfigError::new(
                        key("vni"),
                        "remote_vteps, remote_mac and vxlan_inner_tagged need a vni",
                    ));
                }
                continue;
            };
            if vni == 0 || vni > 0x00ff_ffff {
                return Err(ConfigError::new(key("vni"), format!("{vni} is not in 1..=16777215")));
            }
            if let Some(j) = vnis.insert(vni, i) {
                return Err(ConfigError::new(key("vni"), format!("VNI {vni} already belongs to bridge[{j}]")));
            }
            let mut seen = HashSet::new();
            for (k, r) in b.remote_vteps.iter().enumerate() {
                let ip = u32::from(*r);
                if ip == a.addr || ip >> 24 == 0 || ip >> 24 == 127 || ip >> 24 >= 224 {
                    return Err(ConfigError::new(
                        format!("bridge[{i}].remote_vteps[{k}]"),
                        format!("{r} is not a remote unicast address"),
                    ));
                }
                if !a.contains(ip) && v.gateway.is_none() {
                    return Err(ConfigError::new(
                        format!("bridge[{i}].remote_vteps[{k}]"),
                        format!("{r} is outside {a} and [vtep] has no gateway"),
                    ));
                }
                if !seen.insert(ip) {
                    return Err(ConfigError::new(
                        format!("bridge[{i}].remote_vteps[{k}]"),
                        format!("{r} is listed twice"),
                    ));
                }
            }
            for (k, m) in b.remote_mac.iter().enumerate() {
                if m.mac.is_multicast() || m.mac.is_zero() {
                    return Err(ConfigError::new(
                        format!("bridge[{i}].remote_mac[{k}].mac"),
                        format!("{} is not a unicast address", m.mac),
                    ));
                }
                if !seen.contains(&u32::from(m.vtep)) {
                    return Err(ConfigError::new(
                        format!("bridge[{i}].remote_mac[{k}].vtep"),
                        format!("{} is not in remote_vteps", m.vtep),
                    ));
                }
            }
        }
        Ok(())
    }
}
