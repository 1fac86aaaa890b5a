//! The configuration model: one TOML file, parsed with serde, then validated.
//!
//! Every refused input names its key: parse errors carry the serde path of the bad value
//! (`port[1].mtu`) and the line it is on; semantic checks name the key they reject.
//! One module per section; each checks its own keys, and [`Config::validate`] runs them in
//! the order their references need (ports before the bridges that name them, gateway
//! subnets before the routes into them). Validation happens once: it turns a [`Config`]
//! into a [`Valid<Config>`], the only kind the compilers (`Tables::compile`,
//! `SecTables::compile`) and the dataplane take, so no path can skip it or repeat it.

mod bridge;
mod control;
mod dataplane;
pub mod diff;
mod port;
mod routing;
mod security;
mod sriov;
mod vtep;

pub use bridge::{Bridge, Bridging, StaticMac, StaticNeighbor};
pub use control::{Control, ADMIN_RESERVE};
pub use dataplane::{Dataplane, Eal, RxQueue};
pub use port::{Port, PortMode, VlanItem, Xconnect, MAX_TX_RETRIES, SOFT_RING_TX_RETRIES};
pub use routing::{Ipv4Prefix, Route, Routing, Urpf};
pub use security::{
    addr_range, port_range, proto_number, Conntrack, EventLog, Exhaustion, Filtering, Firewall, Forward, Nat, Policy,
    Rule, Snat, Verdict, DEFAULT_ZONE, MAX_ZONES,
};
pub use sriov::{pci_address, LinkState, PfConfig, Sriov, VfConfig};
pub use vtep::{RemoteMac, Vtep};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

/// Largest rx burst a worker asks for (and the size of its per-port tx buffers).
pub const MAX_BURST: u16 = 256;
/// Slots of each worker's handoff ring (stateful configs with several workers).
pub const HANDOFF_RING: u32 = 4096;
/// Most lcores DPDK 22.11 is built for by default.
pub const MAX_LCORE: u32 = 128;

/// A refused configuration: where, which key, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the config came from, when known.
    pub file: Option<String>,
    /// The line of the offending value, when known (1-based).
    pub line: Option<usize>,
    /// The key path, e.g. `port[1].mtu` or `xconnect[0].b`.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A refusal of `key` (file and line unknown).
    pub fn at(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(key, reason)
    }

    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { file: None, line: None, key: key.into(), reason: reason.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": ")?;
        } else if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.key.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Workers, burst size, mempool.
    #[serde(default)]
    pub dataplane: Dataplane,
    /// EAL arguments.
    #[serde(default)]
    pub eal: Eal,
    /// Ports, in order; their index is the port index used in counters.
    #[serde(default, rename = "port")]
    pub ports: Vec<Port>,
    /// Port pairs that forward to each other in both directions.
    #[serde(default)]
    pub xconnect: Vec<Xconnect>,
    /// Bridge-wide settings.
    #[serde(default)]
    pub bridging: Bridging,
    /// Routing-wide settings.
    #[serde(default)]
    pub routing: Routing,
    /// Bridge domains (one per VLAN).
    #[serde(default, rename = "bridge")]
    pub bridges: Vec<Bridge>,
    /// Static routes.
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    /// The VXLAN tunnel endpoint, if bridges stretch over an IPv4 underlay.
    #[serde(default)]
    pub vtep: Option<Vtep>,
    /// Connection tracking table size and timeouts (used when NAT or a firewall is set).
    #[serde(default)]
    pub conntrack: Conntrack,
    /// Source NAT and port forwards.
    #[serde(default)]
    pub nat: Option<Nat>,
    /// Zone-based stateful firewall.
    #[serde(default)]
    pub firewall: Option<Firewall>,
    /// The control socket and the exporters.
    #[serde(default)]
    pub control: Control,
    /// The NAT and firewall event log (off when absent).
    #[serde(default)]
    pub event_log: Option<EventLog>,
    /// SR-IOV VFs vnfd creates and configures.
    #[serde(default)]
    pub sriov: Option<Sriov>,
}

/// Settings a running vnfd cannot change: a reload that changes one is refused.
pub fn reload_compatible(old: &Config, new: &Config) -> Result<(), ConfigError> {
    let (a, b) = (&old.dataplane, &new.dataplane);
    let fixed: [(&str, String, String); 5] = [
        ("dataplane.main_lcore", a.main_lcore.to_string(), b.main_lcore.to_string()),
        ("dataplane.workers", format!("{:?}", a.workers), format!("{:?}", b.workers)),
        ("dataplane.mempool_size", a.mempool_size.to_string(), b.mempool_size.to_string()),
        ("dataplane.mempool_cache", a.mempool_cache.to_string(), b.mempool_cache.to_string()),
        ("dataplane.mbuf_data_room", a.mbuf_data_room.to_string(), b.mbuf_data_room.to_string()),
    ];
    for (key, x, y) in fixed {
        if x != y {
            return Err(ConfigError::new(key, format!("changing it needs a restart (running {x}, new {y})")));
        }
    }
    if old.eal != new.eal {
        return Err(ConfigError::new("eal.args", "changing them needs a restart"));
    }
    if old.stateful() && new.stateful() && old.conntrack.capacity != new.conntrack.capacity {
        return Err(ConfigError::new(
            "conntrack.capacity",
            format!("changing it needs a restart (running {}, new {})", old.conntrack.capacity, new.conntrack.capacity),
        ));
    }
    if old.control != new.control {
        return Err(ConfigError::new("control", "changing the control settings needs a restart"));
    }
    if old.event_log != new.event_log {
        return Err(ConfigError::new("event_log", "changing the event log needs a restart"));
    }
    Ok(())
}

impl Config {
    /// Parses and validates a TOML config. `file` only labels errors.
    pub fn parse(text: &str, file: Option<&str>) -> Result<Valid<Config>, ConfigError> {
        Self::parse_syntax(text, file)?.validate().map_err(|mut e| {
            e.file = file.map(str::to_owned);
            e
        })
    }

    /// Parses without the checks of [`Config::validate`]: syntax and types only (for a
    /// diff, which is wanted most where the values would be refused).
    pub fn parse_syntax(text: &str, file: Option<&str>) -> Result<Config, ConfigError> {
        let label = |mut e: ConfigError| {
            e.file = file.map(str::to_owned);
            e
        };
        let de = toml::Deserializer::new(text);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.span().map(|s| line_of(text, s.start));
            let mut err = ConfigError::new(if path == "." { String::new() } else { path }, inner.message());
            err.line = line;
            label(err)
        })?;
        Ok(cfg)
    }

    /// Checks everything serde cannot (ranges, names, references, uniqueness, that the
    /// mempool can fill the queues) and vouches for the result.
    pub fn validate(self) -> Result<Valid<Config>, ConfigError> {
        self.validate_dataplane()?;
        let xconnected = self.validate_ports()?;
        self.validate_routing()?;
        let subnets = self.validate_bridges(&xconnected)?;
        self.validate_vtep(&xconnected)?;
        self.validate_security()?;
        if let Some(l) = &self.event_log {
            l.validate()?;
        }
        self.control.validate()?;
        if let Some(s) = &self.sriov {
            s.validate()?;
        }
        self.validate_routes(&subnets)?;
        Ok(Valid(self))
    }
}

/// A value that passed its validation. There is no other way to build one than
/// [`Config::validate`] (and [`Config::parse`], which calls it); it derefs to the value
/// and gives it back with [`Valid::into_inner`] (to change it and validate again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Valid<T>(T);

impl<T> Valid<T> {
    /// The value, no longer vouched for.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Valid<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Default for Valid<Config> {
    /// The empty config, which is valid.
    fn default() -> Self {
        Valid(Config::default())
    }
}

fn one() -> u16 {
    1
}

fn yes() -> bool {
    true
}

fn check_desc(key: &str, n: u16) -> Result<(), ConfigError> {
    if !(32..=16384).contains(&n) || !n.is_power_of_two() {
        return Err(ConfigError::new(key, format!("{n} is not a power of two in 32..=16384")));
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests;
