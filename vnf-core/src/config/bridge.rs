//! `[bridging]` and `[[bridge]]`: bridge domains, their VLANs and members, static MACs
//! and the gateway (with its static neighbours) a bridge may have.

use super::{Config, ConfigError, Ipv4Prefix, PortMode, RemoteMac, Urpf};
use crate::wire::MacAddr;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// `[bridging]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bridging {
    /// Seconds a learned MAC lives without being seen (0: never ages).
    pub aging_s: u32,
    /// Forwarding-database entries per worker.
    pub fdb_size: u32,
}

impl Default for Bridging {
    fn default() -> Self {
        Bridging { aging_s: 300, fdb_size: 16384 }
    }
}

/// `[[bridge]]`: a bridge domain, bound to one VLAN id on access and trunk ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Name in counters and the CLI.
    pub name: String,
    /// The VLAN id (1..=4094).
    pub vlan: u16,
    /// The domain's gateway (IRB) address and prefix, e.g. `192.0.2.254/24`: answers ARP and
    /// ping, and routes between domains.
    #[serde(default)]
    pub gateway: Option<Ipv4Prefix>,
    /// The gateway's MAC (default: derived from the member ports' MACs, see
    /// `Tables::use_port_macs`; `02:76:6e:66:` + the VLAN id when no port has one).
    #[serde(default)]
    pub gateway_mac: Option<MacAddr>,
    /// Most learned MACs (0: no limit beyond the table).
    #[serde(default)]
    pub mac_limit: u32,
    /// Static MAC entries.
    #[serde(default)]
    pub static_mac: Vec<StaticMac>,
    /// Static neighbours (ARP entries) in the gateway subnet.
    #[serde(default)]
    pub neighbor: Vec<StaticNeighbor>,
    /// VXLAN network identifier: the domain stretches over the underlay (needs `[vtep]`).
    #[serde(default)]
    pub vni: Option<u32>,
    /// Remote VTEPs of the VNI: the flood list (head-end replication) and, with
    /// `vtep.check_source`, the only accepted tunnel sources.
    #[serde(default)]
    pub remote_vteps: Vec<std::net::Ipv4Addr>,
    /// Static inner MAC -> remote VTEP entries.
    #[serde(default)]
    pub remote_mac: Vec<RemoteMac>,
    /// Accept VXLAN inner frames that carry 802.1Q tags; their tags travel as payload (a
    /// tunnel for tagged traffic). Default: dropped.
    #[serde(default)]
    pub vxlan_inner_tagged: bool,
    /// Security zone of the domain for NAT and firewall rules (default `"default"`).
    #[serde(default)]
    pub zone: Option<String>,
    /// Reverse-path check of the sources the gateway routes from this bridge: `"strict"`
    /// or `"loose"` (RFC 3704; default: none, as Linux's `rp_filter = 0`).
    #[serde(default)]
    pub urpf: Option<Urpf>,
}

/// `[[bridge.neighbor]]`: a static ARP entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticNeighbor {
    /// The neighbour's address.
    pub ip: std::net::Ipv4Addr,
    /// Its MAC.
    pub mac: MacAddr,
}

impl Bridge {
    /// The gateway MAC: configured, or the fixed default `02:76:6e:66:` + the VLAN id (which
    /// one derived from the ports' MACs replaces when the dataplane has them).
    pub fn gateway_mac(&self) -> MacAddr {
        self.gateway_mac.unwrap_or(MacAddr([0x02, 0x76, 0x6e, 0x66, (self.vlan >> 8) as u8, self.vlan as u8]))
    }
}

/// `[[bridge.static_mac]]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticMac {
    /// The MAC.
    pub mac: MacAddr,
    /// The member port it lives behind.
    pub port: String,
}

impl Config {
    /// Bridges, port roles, static MACs and neighbours; returns the gateway subnets (each
    /// with its bridge index) that routes must point into.
    pub(super) fn validate_bridges(
        &self,
        xconnected: &HashMap<&str, usize>,
    ) -> Result<Vec<(Ipv4Prefix, usize)>, ConfigError> {
        let b = &self.bridging;
        if b.fdb_size == 0 || b.fdb_size > 1 << 24 {
            return Err(ConfigError::new("bridging.fdb_size", format!("{} is not in 1..=16777216", b.fdb_size)));
        }
        let mut bnames = HashMap::new();
        let mut vlans = HashMap::new();
        let mut subnets: Vec<(Ipv4Prefix, usize)> = vec![];
        for (i, br) in self.bridges.iter().enumerate() {
            let key = |f: &str| format!("bridge[{i}].{f}");
            if br.name.is_empty()
                || br.name.len() > 32
                || !br.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::new(
                    key("name"),
                    format!("{:?} must be 1 to 32 characters of [A-Za-z0-9_-]", br.name),
                ));
            }
            if let Some(j) = bnames.insert(br.name.as_str(), i) {
                return Err(ConfigError::new(key("name"), format!("{:?} is already the name of bridge[{j}]", br.name)));
            }
            if !(1..=4094).contains(&br.vlan) {
                return Err(ConfigError::new(key("vlan"), format!("{} is not in 1..=4094", br.vlan)));
            }
            if let Some(j) = vlans.insert(br.vlan, i) {
                return Err(ConfigError::new(key("vlan"), format!("VLAN {} already belongs to bridge[{j}]", br.vlan)));
            }
            if let Some(gw) = br.gateway {
                if gw.len == 0 || gw.len > 30 {
                    return Err(ConfigError::new(key("gateway"), format!("{gw}: the prefix length must be in 1..=30")));
                }
                if gw.addr == gw.network() || gw.addr == gw.broadcast() {
                    return Err(ConfigError::new(
                        key("gateway"),
                        format!("{gw} is the network or broadcast address of its subnet"),
                    ));
                }
                let first = gw.addr >> 24;
                if first == 0 || first == 127 || first >= 224 {
                    return Err(ConfigError::new(key("gateway"), format!("{gw} is not a unicast host address")));
                }
                for (other, j) in &subnets {
                    if other.contains(gw.network()) || gw.contains(other.network()) {
                        return Err(ConfigError::new(
                            key("gateway"),
                            format!("{gw} overlaps bridge[{j}]'s subnet {other}"),
                        ));
                    }
                }
                subnets.push((gw, i));
            }
            if let Some(mac) = br.gateway_mac {
                if mac.is_multicast() || mac.is_zero() {
                    return Err(ConfigError::new(key("gateway_mac"), format!("{mac} is not a unicast address")));
                }
            }
        }
        for (i, p) in self.ports.iter().enumerate() {
            let key = |f: &str| format!("port[{i}].{f}");
            let bridge_vlan = |f: &str, v: u16| -> Result<(), ConfigError> {
                if !(1..=4094).contains(&v) {
                    return Err(ConfigError::new(key(f), format!("{v} is not in 1..=4094")));
                }
                if !vlans.contains_key(&v) {
                    return Err(ConfigError::new(key(f), format!("no bridge has VLAN {v}")));
                }
                Ok(())
            };
            match p.mode {
                None => {
                    for (f, set) in [
                        ("vlan", p.vlan.is_some()),
                        ("allowed_vlans", p.allowed_vlans.is_some()),
                        ("native_vlan", p.native_vlan.is_some()),
                        ("outer_vlan", p.outer_vlan.is_some()),
                    ] {
                        if set {
                            return Err(ConfigError::new(key(f), "needs mode = \"access\" or \"trunk\""));
                        }
                    }
                }
                Some(_) if xconnected.contains_key(p.name.as_str()) => {
                    return Err(ConfigError::new(
                        key("mode"),
                        format!("port {:?} is cross-connected; it cannot also be a bridge port", p.name),
                    ));
                }
                Some(PortMode::Access) => {
                    let v = p.vlan.ok_or_else(|| ConfigError::new(key("vlan"), "an access port needs its VLAN"))?;
                    bridge_vlan("vlan", v)?;
                    for (f, set) in [
                        ("allowed_vlans", p.allowed_vlans.is_some()),
                        ("native_vlan", p.native_vlan.is_some()),
                        ("outer_vlan", p.outer_vlan.is_some()),
                    ] {
                        if set {
                            return Err(ConfigError::new(key(f), "only trunk ports have it"));
                        }
                    }
                }
                Some(PortMode::Trunk) => {
                    if p.vlan.is_some() {
                        return Err(ConfigError::new(
                            key("vlan"),
                            "a trunk port has allowed_vlans and native_vlan, not vlan",
                        ));
                    }
                    if let Some(list) = &p.allowed_vlans {
                        if list.is_empty() {
                            return Err(ConfigError::new(key("allowed_vlans"), "is empty"));
                        }
                        for (k, item) in list.iter().enumerate() {
                            item.range().map_err(|e| ConfigError::new(format!("port[{i}].allowed_vlans[{k}]"), e))?;
                        }
                    }
                    if let Some(n) = p.native_vlan {
                        bridge_vlan("native_vlan", n)?;
                        if !self.trunk_allows(i, n) {
                            return Err(ConfigError::new(
                                key("native_vlan"),
                                format!("VLAN {n} is not in allowed_vlans"),
                            ));
                        }
                    }
                    if let Some(o) = p.outer_vlan {
                        if !(1..=4094).contains(&o) {
                            return Err(ConfigError::new(key("outer_vlan"), format!("{o} is not in 1..=4094")));
                        }
                        if p.native_vlan.is_some() {
                            return Err(ConfigError::new(
                                key("native_vlan"),
                                "a QinQ trunk (outer_vlan) has no native VLAN",
                            ));
                        }
                    }
                }
            }
        }
        for (i, br) in self.bridges.iter().enumerate() {
            let members = self.bridge_members(i);
            for (k, sm) in br.static_mac.iter().enumerate() {
                let key = |f: &str| format!("bridge[{i}].static_mac[{k}].{f}");
                if sm.mac.is_multicast() || sm.mac.is_zero() {
                    return Err(ConfigError::new(key("mac"), format!("{} is not a unicast address", sm.mac)));
                }
                match self.port_index(&sm.port) {
                    Some(pi) if members.contains(&pi) => {}
                    Some(_) => {
                        return Err(ConfigError::new(
                            key("port"),
                            format!("port {:?} is not a member of VLAN {}", sm.port, br.vlan),
                        ))
                    }
                    None => return Err(ConfigError::new(key("port"), format!("no port is named {:?}", sm.port))),
                }
            }
        }
        for (i, br) in self.bridges.iter().enumerate() {
            for (k, n) in br.neighbor.iter().enumerate() {
                let key = |f: &str| format!("bridge[{i}].neighbor[{k}].{f}");
                let Some(gw) = br.gateway else {
                    return Err(ConfigError::new(key("ip"), "the bridge has no gateway"));
                };
                let ip = u32::from(n.ip);
                if !gw.contains(ip) || ip == gw.addr || ip == gw.network() || ip == gw.broadcast() {
                    return Err(ConfigError::new(
                        key("ip"),
                        format!("{} is not a host of {gw} other than the gateway", n.ip),
                    ));
                }
                if n.mac.is_multicast() || n.mac.is_zero() {
                    return Err(ConfigError::new(key("mac"), format!("{} is not a unicast address", n.mac)));
                }
            }
        }
        Ok(subnets)
    }

    /// Indexes of the ports that are members of bridge `b`, in port order.
    pub fn bridge_members(&self, b: usize) -> Vec<usize> {
        let Some(br) = self.bridges.get(b) else { return vec![] };
        self.ports
            .iter()
            .enumerate()
            .filter(|(i, p)| match p.mode {
                Some(PortMode::Access) => p.vlan == Some(br.vlan),
                Some(PortMode::Trunk) => self.trunk_allows(*i, br.vlan),
                None => false,
            })
            .map(|(i, _)| i)
            .collect()
    }
}
