//! `[[port]]` and `[[xconnect]]`: the devices, their names, and the port pairs that
//! forward to each other.

use super::{check_desc, one, yes, Config, ConfigError};
use crate::wire::MacAddr;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A port's role in the bridges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortMode {
    /// Untagged frames of one VLAN.
    Access,
    /// 802.1Q-tagged frames of several VLANs (optionally inside an 802.1ad S-tag).
    Trunk,
}

/// A VLAN list: ids and `"a-b"` ranges, e.g. `[10, "20-29"]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VlanItem {
    /// One id.
    One(u16),
    /// A range `"a-b"` (or a single id as a string).
    Range(String),
}

impl VlanItem {
    /// The inclusive range, checked to lie in 1..=4094.
    pub fn range(&self) -> Result<(u16, u16), String> {
        let (a, b) = match self {
            VlanItem::One(v) => (*v, *v),
            VlanItem::Range(s) => {
                let (a, b) = s.split_once('-').unwrap_or((s.as_str(), s.as_str()));
                let p = |x: &str| x.trim().parse::<u16>().map_err(|_| format!("{s:?} is not a VLAN id or range a-b"));
                (p(a)?, p(b)?)
            }
        };
        if a == 0 || b > 4094 || a > b {
            return Err(format!("{a}-{b} is not a range within 1..=4094"));
        }
        Ok((a, b))
    }
}

/// `[[port]]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Name used everywhere else in the config and in counters.
    pub name: String,
    /// DPDK device arguments: `net_ring0`, `net_pcap0,rx_pcap=in.pcap`, `0000:03:00.1`, ...
    pub devargs: String,
    /// Rx queues; spread over the workers.
    #[serde(default = "one")]
    pub rx_queues: u16,
    /// Rx descriptors per queue (default: `dataplane.rx_desc`).
    #[serde(default)]
    pub rx_desc: Option<u16>,
    /// Tx descriptors per queue (default: `dataplane.tx_desc`).
    #[serde(default)]
    pub tx_desc: Option<u16>,
    /// MTU to set; the device's own when absent.
    #[serde(default)]
    pub mtu: Option<u16>,
    /// MAC address to set; the device's own when absent.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// Receive every frame regardless of destination MAC.
    #[serde(default = "yes")]
    pub promiscuous: bool,
    /// How many more times a burst the tx queue did not take whole is offered again, at
    /// once, before the rest is dropped as `tx-full` (0..=64). Default: 8 for vhost-user
    /// and virtio-user ports (whose peer drains the ring in software, as OVS-DPDK's
    /// `tx-retries`), 0 for the others (a NIC's full ring stays full for microseconds).
    #[serde(default)]
    pub tx_retries: Option<u16>,
    /// Bridge role: `access` or `trunk` (none: the port is cross-connected or unused).
    #[serde(default)]
    pub mode: Option<PortMode>,
    /// Access VLAN.
    #[serde(default)]
    pub vlan: Option<u16>,
    /// Trunk: the VLANs carried (default: every VLAN that has a bridge).
    #[serde(default)]
    pub allowed_vlans: Option<Vec<VlanItem>>,
    /// Trunk: untagged frames belong to this VLAN, and it leaves untagged.
    #[serde(default)]
    pub native_vlan: Option<u16>,
    /// Trunk: QinQ: frames carry this 802.1ad S-tag (TPID 0x88a8) outside the 802.1Q tag.
    #[serde(default)]
    pub outer_vlan: Option<u16>,
}

/// `[[xconnect]]`: `a` and `b` forward to each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Xconnect {
    /// One port name.
    pub a: String,
    /// The other port name.
    pub b: String,
}

/// The most tx retries a port may have.
pub const MAX_TX_RETRIES: u16 = 64;
/// Tx retries of vhost-user and virtio-user ports when the config gives none.
pub const SOFT_RING_TX_RETRIES: u16 = 8;

impl Port {
    /// The tx retries in force: the configured ones, else 8 for a vhost-user or
    /// virtio-user device, else 0.
    pub fn tx_retries(&self) -> u16 {
        self.tx_retries.unwrap_or_else(|| {
            let d = self.device_name();
            let soft = ["net_vhost", "eth_vhost", "net_virtio_user", "virtio_user"].iter().any(|p| d.starts_with(p));
            if soft {
                SOFT_RING_TX_RETRIES
            } else {
                0
            }
        })
    }

    /// The device name: devargs up to the first comma.
    pub fn device_name(&self) -> &str {
        self.devargs.split(',').next().unwrap_or("").trim()
    }
}

impl Config {
    /// Names, devices and per-port values; returns the cross-connected port names (each
    /// with its `[[xconnect]]` index), which may have no other role.
    pub(super) fn validate_ports(&self) -> Result<HashMap<&str, usize>, ConfigError> {
        let mut names = HashMap::new();
        let mut devs = HashMap::new();
        for (i, p) in self.ports.iter().enumerate() {
            let key = |f: &str| format!("port[{i}].{f}");
            if p.name.is_empty()
                || p.name.len() > 32
                || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::new(
                    key("name"),
                    format!("{:?} must be 1 to 32 characters of [A-Za-z0-9_-]", p.name),
                ));
            }
            if let Some(j) = names.insert(p.name.as_str(), i) {
                return Err(ConfigError::new(key("name"), format!("{:?} is already the name of port[{j}]", p.name)));
            }
            let dev = p.device_name();
            if dev.is_empty() || p.devargs.chars().any(char::is_whitespace) {
                return Err(ConfigError::new(
                    key("devargs"),
                    format!("{:?} is not a device name with optional ,key=value arguments", p.devargs),
                ));
            }
            if let Some(j) = devs.insert(dev, i) {
                return Err(ConfigError::new(key("devargs"), format!("device {dev:?} is already used by port[{j}]")));
            }
            if p.rx_queues == 0 || p.rx_queues > 64 {
                return Err(ConfigError::new(key("rx_queues"), format!("{} is not in 1..=64", p.rx_queues)));
            }
            if let Some(n) = p.rx_desc {
                check_desc(&key("rx_desc"), n)?;
            }
            if let Some(n) = p.tx_desc {
                check_desc(&key("tx_desc"), n)?;
            }
            if let Some(n) = p.tx_retries {
                if n > MAX_TX_RETRIES {
                    return Err(ConfigError::new(key("tx_retries"), format!("{n} is not in 0..={MAX_TX_RETRIES}")));
                }
            }
            if let Some(mtu) = p.mtu {
                if !(68..=9600).contains(&mtu) {
                    return Err(ConfigError::new(key("mtu"), format!("{mtu} is not in 68..=9600")));
                }
            }
            if let Some(mac) = p.mac {
                if mac.is_multicast() || mac == MacAddr::default() {
                    return Err(ConfigError::new(key("mac"), format!("{mac} is not a unicast address")));
                }
            }
        }
        let mut used: HashMap<&str, usize> = HashMap::new();
        for (i, x) in self.xconnect.iter().enumerate() {
            for (f, n) in [("a", &x.a), ("b", &x.b)] {
                let key = format!("xconnect[{i}].{f}");
                if !names.contains_key(n.as_str()) {
                    return Err(ConfigError::new(key, format!("no port is named {n:?}")));
                }
                if let Some(j) = used.insert(n, i) {
                    return Err(ConfigError::new(
                        key,
                        format!("port {n:?} is already cross-connected by xconnect[{j}]"),
                    ));
                }
            }
            if x.a == x.b {
                return Err(ConfigError::new(format!("xconnect[{i}].b"), "a port cannot be cross-connected to itself"));
            }
        }
        Ok(used)
    }

    /// True if trunk port `i` carries VLAN `v` (every VLAN when no list is given).
    pub fn trunk_allows(&self, i: usize, v: u16) -> bool {
        match self.ports.get(i).and_then(|p| p.allowed_vlans.as_ref()) {
            None => true,
            Some(list) => list.iter().any(|it| it.range().map(|(a, b)| (a..=b).contains(&v)).unwrap_or(false)),
        }
    }

    /// Index of the port named `name`.
    pub fn port_index(&self, name: &str) -> Option<usize> {
        self.ports.iter().position(|p| p.name == name)
    }

    /// For each port index, the port its traffic goes to (None: the port forwards nothing).
    pub fn xconnect_table(&self) -> Vec<Option<usize>> {
        let mut t = vec![None; self.ports.len()];
        for x in &self.xconnect {
            if let (Some(a), Some(b)) = (self.port_index(&x.a), self.port_index(&x.b)) {
                t[a] = Some(b);
                t[b] = Some(a);
            }
        }
        t
    }
}
