//! The configuration model: one TOML file, parsed with serde, then validated.
//!
//! Every refused input names its key: parse errors carry the serde path of the bad value
//! (`port[1].mtu`) and the line it is on; semantic checks name the key they reject.
//! A [`Config`] that [`Config::parse`] returned is valid; [`Config::rx_plan`] and
//! [`Config::xconnect_table`] compile it into the tables the workers run from.

pub mod diff;
mod security;

pub use security::{
    addr_range, port_range, proto_number, Conntrack, EventLog, Exhaustion, Filtering, Firewall, Forward, Nat, Policy,
    Rule, Snat, Verdict, DEFAULT_ZONE, MAX_ZONES,
};

use crate::wire::MacAddr;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;

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
    pub sriov: Option<crate::sriov::Sriov>,
}

/// `[control]`: how vnfd is driven and watched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Unix socket path (`--control` overrides it; empty: no socket).
    #[serde(default = "default_socket")]
    pub socket: String,
    /// Socket file mode, octal (default "0600", or "0660" when `group` is set: a group
    /// owning a socket only its owner may use would get nothing).
    #[serde(default)]
    pub mode: Option<String>,
    /// Group owning the socket (default: vnfd's group). Its members may connect and get the
    /// read-only role: listings and counters, no command that changes anything.
    #[serde(default)]
    pub group: Option<String>,
    /// Members of this group get the admin role (as root and vnfd's own user always do):
    /// every command, including reloads, flushes and SR-IOV changes.
    #[serde(default)]
    pub admin_group: Option<String>,
    /// Clients served at once; more are refused. [`ADMIN_RESERVE`] further slots are kept
    /// for admins, so an admin gets in while other clients hold every slot.
    #[serde(default = "default_clients")]
    pub max_clients: u32,
    /// Longest request line, in bytes.
    #[serde(default = "default_request")]
    pub max_request: u32,
    /// A request line must be complete this long after its first byte (ms); a client that
    /// dribbles it is disconnected.
    #[serde(default = "default_timeout")]
    pub read_timeout_ms: u32,
    /// A client that starts no request for this long, after connecting or after its last
    /// answer, is disconnected (ms).
    #[serde(default = "default_idle")]
    pub idle_timeout_ms: u32,
    /// The largest config file `config check` and `config reload` read (bytes).
    #[serde(default = "default_config_bytes")]
    pub max_config_bytes: u64,
    /// When set, `config check` and `config reload` take only files inside this directory
    /// (after symlinks are resolved).
    #[serde(default)]
    pub config_dir: Option<String>,
    /// Prometheus text exposition on this localhost address, e.g. "127.0.0.1:9464" (off).
    #[serde(default)]
    pub prometheus: Option<std::net::SocketAddr>,
    /// Register the counters as DPDK telemetry commands (`/vnf/...`).
    #[serde(default = "yes")]
    pub telemetry: bool,
}

fn default_socket() -> String {
    "/run/vnfd.sock".into()
}
fn default_clients() -> u32 {
    16
}
fn default_request() -> u32 {
    65536
}
fn default_timeout() -> u32 {
    5000
}
fn default_idle() -> u32 {
    60_000
}
fn default_config_bytes() -> u64 {
    16 << 20
}

/// Client slots kept for admins beyond `max_clients`.
pub const ADMIN_RESERVE: u32 = 2;

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: default_socket(),
            mode: None,
            group: None,
            admin_group: None,
            max_clients: default_clients(),
            max_request: default_request(),
            read_timeout_ms: default_timeout(),
            idle_timeout_ms: default_idle(),
            max_config_bytes: default_config_bytes(),
            config_dir: None,
            prometheus: None,
            telemetry: true,
        }
    }
}

impl Control {
    /// The socket mode as a number.
    pub fn mode_bits(&self) -> Result<u32, ConfigError> {
        let Some(mode) = &self.mode else { return Ok(if self.group.is_some() { 0o660 } else { 0o600 }) };
        let m = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
            .map_err(|_| ConfigError::new("control.mode", format!("{mode:?} is not an octal file mode")))?;
        if m > 0o777 {
            return Err(ConfigError::new("control.mode", format!("{mode:?} is above 0777")));
        }
        Ok(m)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.mode_bits()?;
        if self.max_clients == 0 || self.max_clients > 1024 {
            return Err(ConfigError::new("control.max_clients", format!("{} is not in 1..=1024", self.max_clients)));
        }
        if self.max_request < 256 || self.max_request > 16 << 20 {
            return Err(ConfigError::new(
                "control.max_request",
                format!("{} is not in 256..=16777216", self.max_request),
            ));
        }
        if self.read_timeout_ms == 0 {
            return Err(ConfigError::new("control.read_timeout_ms", "must be above 0"));
        }
        if self.idle_timeout_ms == 0 {
            return Err(ConfigError::new("control.idle_timeout_ms", "must be above 0"));
        }
        if self.max_config_bytes < 1024 || self.max_config_bytes > 1 << 30 {
            return Err(ConfigError::new(
                "control.max_config_bytes",
                format!("{} is not in 1024..=1073741824", self.max_config_bytes),
            ));
        }
        if let Some(d) = &self.config_dir {
            if !d.starts_with('/') {
                return Err(ConfigError::new("control.config_dir", format!("{d:?} is not an absolute path")));
            }
        }
        for (key, g) in [("control.group", &self.group), ("control.admin_group", &self.admin_group)] {
            if g.as_deref().is_some_and(|g| g.is_empty() || g.contains(['\0', '/', ':'])) {
                return Err(ConfigError::new(key, format!("{:?} is not a group name", g.as_deref().unwrap_or(""))));
            }
        }
        if let Some(a) = self.prometheus {
            if !a.ip().is_loopback() {
                return Err(ConfigError::new(
                    "control.prometheus",
                    format!("{a} is not a loopback address (the exporter has no authentication)"),
                ));
            }
        }
        Ok(())
    }
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

/// `[routing]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    /// Neighbour (ARP) entries per worker.
    pub neighbor_size: u32,
    /// Seconds a neighbour stays REACHABLE after an ARP from it; then it is STALE: still
    /// used, and re-validated by unicast probes once a packet is sent on it (above 0).
    pub arp_reachable_s: u32,
    /// Milliseconds between ARP requests for an unresolved neighbour, and between the
    /// unicast probes of a stale one (Linux `retrans_time`).
    pub arp_retry_ms: u32,
    /// ARP requests before a neighbour is declared unreachable.
    pub arp_retries: u8,
    /// Milliseconds a used STALE neighbour waits for a confirmation before the first
    /// unicast probe (Linux `delay_first_probe_time`, 5000).
    pub arp_delay_ms: u32,
    /// Unanswered unicast probes after which a stale neighbour is removed (Linux
    /// `ucast_probes`, 3; above 0).
    pub arp_probes: u8,
    /// Packets held per unresolved neighbour.
    pub arp_queue: u8,
    /// ICMP errors (time exceeded, unreachable) a worker may send per second.
    pub icmp_errors_per_s: u32,
    /// Datagrams to the appliance's own addresses a worker reassembles at once (64 KiB
    /// each; 0: fragments to it are dropped).
    pub reassembly_contexts: u16,
    /// Seconds an incomplete datagram is kept (RFC 1122 3.3.2).
    pub reassembly_timeout_s: u32,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            neighbor_size: 4096,
            arp_reachable_s: 300,
            arp_retry_ms: 1000,
            arp_retries: 3,
            arp_delay_ms: 5000,
            arp_probes: 3,
            arp_queue: 4,
            icmp_errors_per_s: 1000,
            reassembly_contexts: 16,
            reassembly_timeout_s: 30,
        }
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

/// `[[route]]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination prefix.
    pub prefix: Ipv4Prefix,
    /// Next hop: an address inside a bridge's gateway subnet.
    pub via: std::net::Ipv4Addr,
}

/// An IPv4 address with a prefix length, written `a.b.c.d/len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    /// Address (host order).
    pub addr: u32,
    /// Prefix length.
    pub len: u8,
}

impl Ipv4Prefix {
    /// The network mask.
    pub fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }
    /// The network address.
    pub fn network(&self) -> u32 {
        self.addr & self.mask()
    }
    /// True if `a` is inside the prefix.
    pub fn contains(&self, a: u32) -> bool {
        a & self.mask() == self.network()
    }
    /// The broadcast address.
    pub fn broadcast(&self) -> u32 {
        self.network() | !self.mask()
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", std::net::Ipv4Addr::from(self.addr), self.len)
    }
}

impl std::str::FromStr for Ipv4Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').ok_or_else(|| format!("{s:?} is not address/length"))?;
        let addr: std::net::Ipv4Addr = a.parse().map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let len: u8 = l.parse().map_err(|_| format!("{l:?} is not a prefix length"))?;
        if len > 32 {
            return Err(format!("prefix length {len} is above 32"));
        }
        Ok(Ipv4Prefix { addr: u32::from(addr), len })
    }
}

impl Serialize for Ipv4Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Unicast reverse-path forwarding (RFC 3704), what a bridge's gateway checks of the
/// source of a packet it routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urpf {
    /// The route back to the source leads into the bridge the packet came from.
    Strict,
    /// Some route (the default route too) leads back to the source.
    Loose,
}

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

/// `[dataplane]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dataplane {
    /// The lcore of the main (control) thread.
    pub main_lcore: u32,
    /// One worker is launched on each of these lcores.
    pub workers: Vec<u32>,
    /// Packets per rx burst.
    pub burst: u16,
    /// Mbufs in the packet pool.
    pub mempool_size: u32,
    /// Per-lcore mempool cache.
    pub mempool_cache: u32,
    /// Data room of each mbuf, headroom included.
    pub mbuf_data_room: u16,
    /// Default rx descriptors per queue.
    pub rx_desc: u16,
    /// Default tx descriptors per queue.
    pub tx_desc: u16,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            main_lcore: 0,
            workers: vec![1],
            burst: 32,
            mempool_size: 16383,
            mempool_cache: 256,
            mbuf_data_room: 2048 + 128,
            rx_desc: 1024,
            tx_desc: 1024,
        }
    }
}

/// `[eal]`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eal {
    /// Extra EAL arguments (e.g. `--in-memory`, `--no-pci`). `-l`/`--main-lcore` are
    /// derived from `[dataplane]` unless given here.
    pub args: Vec<String>,
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

fn one() -> u16 {
    1
}
fn yes() -> bool {
    true
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

/// Where a worker polls: a port index and one of its rx queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxQueue {
    /// Index into [`Config::ports`].
    pub port: usize,
    /// Queue id on that port.
    pub queue: u16,
}

impl Config {
    /// Parses and validates a TOML config. `file` only labels errors.
    pub fn parse(text: &str, file: Option<&str>) -> Result<Config, ConfigError> {
        let cfg = Self::parse_syntax(text, file)?;
        cfg.validate().map_err(|mut e| {
            e.file = file.map(str::to_owned);
            e
        })?;
        Ok(cfg)
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

    /// Checks everything serde cannot: ranges, names, references, uniqueness.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.dataplane;
        if d.workers.is_empty() {
            return Err(ConfigError::new("dataplane.workers", "at least one worker lcore is needed"));
        }
        let mut seen = HashSet::new();
        for (i, &w) in d.workers.iter().enumerate() {
            let key = format!("dataplane.workers[{i}]");
            if w >= MAX_LCORE {
                return Err(ConfigError::new(key, format!("lcore {w} is not below {MAX_LCORE}")));
            }
            if w == d.main_lcore {
                return Err(ConfigError::new(key, format!("lcore {w} is the main lcore")));
            }
            if !seen.insert(w) {
                return Err(ConfigError::new(key, format!("lcore {w} is listed twice")));
            }
        }
        if d.main_lcore >= MAX_LCORE {
            return Err(ConfigError::new(
                "dataplane.main_lcore",
                format!("lcore {} is not below {MAX_LCORE}", d.main_lcore),
            ));
        }
        if d.burst == 0 || d.burst > MAX_BURST {
            return Err(ConfigError::new("dataplane.burst", format!("{} is not in 1..={MAX_BURST}", d.burst)));
        }
        if d.mbuf_data_room < 256 + 128 {
            return Err(ConfigError::new(
                "dataplane.mbuf_data_room",
                format!("{} is below 384 (128 headroom + 256 data)", d.mbuf_data_room),
            ));
        }
        if d.mempool_cache > 512 {
            return Err(ConfigError::new(
                "dataplane.mempool_cache",
                format!("{} is above DPDK's limit of 512", d.mempool_cache),
            ));
        }
        check_desc("dataplane.rx_desc", d.rx_desc)?;
        check_desc("dataplane.tx_desc", d.tx_desc)?;

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
        self.validate_bridging(&used)
    }

    fn validate_bridging(&self, xconnected: &HashMap<&str, usize>) -> Result<(), ConfigError> {
        let b = &self.bridging;
        if b.fdb_size == 0 || b.fdb_size > 1 << 24 {
            return Err(ConfigError::new("bridging.fdb_size", format!("{} is not in 1..=16777216", b.fdb_size)));
        }
        let r = &self.routing;
        if r.neighbor_size == 0 || r.neighbor_size > 1 << 20 {
            return Err(ConfigError::new(
                "routing.neighbor_size",
                format!("{} is not in 1..=1048576", r.neighbor_size),
            ));
        }
        if r.arp_reachable_s == 0 {
            return Err(ConfigError::new("routing.arp_reachable_s", "must be above 0"));
        }
        if r.arp_retry_ms == 0 {
            return Err(ConfigError::new("routing.arp_retry_ms", "must be above 0"));
        }
        if r.arp_probes == 0 {
            return Err(ConfigError::new("routing.arp_probes", "must be above 0"));
        }
        if r.arp_retries == 0 {
            return Err(ConfigError::new("routing.arp_retries", "must be above 0"));
        }
        if r.arp_queue == 0 || r.arp_queue > 64 {
            return Err(ConfigError::new("routing.arp_queue", format!("{} is not in 1..=64", r.arp_queue)));
        }
        if r.reassembly_contexts > 1024 {
            return Err(ConfigError::new(
                "routing.reassembly_contexts",
                format!("{} is not in 0..=1024", r.reassembly_contexts),
            ));
        }
        if !(1..=120).contains(&r.reassembly_timeout_s) {
            return Err(ConfigError::new(
                "routing.reassembly_timeout_s",
                format!("{} is not in 1..=120", r.reassembly_timeout_s),
            ));
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
        self.validate_vtep(xconnected)?;
        self.validate_security()?;
        if let Some(l) = &self.event_log {
            l.validate()?;
        }
        self.control.validate()?;
        if let Some(s) = &self.sriov {
            s.validate()?;
        }
        let mut seen_routes = HashMap::new();
        for (i, rt) in self.routes.iter().enumerate() {
            let key = |f: &str| format!("route[{i}].{f}");
            if rt.prefix.addr != rt.prefix.network() {
                return Err(ConfigError::new(
                    key("prefix"),
                    format!(
                        "{} has host bits set (network is {})",
                        rt.prefix,
                        Ipv4Prefix { addr: rt.prefix.network(), len: rt.prefix.len }
                    ),
                ));
            }
            if let Some(j) = seen_routes.insert((rt.prefix.addr, rt.prefix.len), i) {
                return Err(ConfigError::new(key("prefix"), format!("{} is already route[{j}]", rt.prefix)));
            }
            let via = u32::from(rt.via);
            match subnets.iter().find(|(s, _)| s.contains(via)) {
                None => {
                    return Err(ConfigError::new(
                        key("via"),
                        format!("{} is not inside any bridge's gateway subnet", rt.via),
                    ))
                }
                Some((s, _)) if s.addr == via => {
                    return Err(ConfigError::new(key("via"), format!("{} is the gateway's own address", rt.via)))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn validate_vtep(&self, xconnected: &HashMap<&str, usize>) -> Result<(), ConfigError> {
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

    /// True if trunk port `i` carries VLAN `v` (every VLAN when no list is given).
    pub fn trunk_allows(&self, i: usize, v: u16) -> bool {
        match self.ports.get(i).and_then(|p| p.allowed_vlans.as_ref()) {
            None => true,
            Some(list) => list.iter().any(|it| it.range().map(|(a, b)| (a..=b).contains(&v)).unwrap_or(false)),
        }
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

    /// Which rx queues each worker polls: all queues of all ports, dealt round-robin over
    /// the workers in port order, so with one queue per port and as many workers as ports
    /// each worker polls one port.
    pub fn rx_plan(&self) -> Vec<Vec<RxQueue>> {
        let n = self.dataplane.workers.len();
        let mut plan = vec![Vec::new(); n];
        let mut k = 0;
        for (port, p) in self.ports.iter().enumerate() {
            for queue in 0..p.rx_queues {
                plan[k % n].push(RxQueue { port, queue });
                k += 1;
            }
        }
        plan
    }

    /// Mbufs the configured queues, bursts and caches can hold at once: the pool must be
    /// larger than this or the rx queues starve.
    pub fn mbufs_needed(&self) -> u64 {
        let d = &self.dataplane;
        let workers = d.workers.len() as u64;
        let mut n = 0u64;
        for p in &self.ports {
            n += p.rx_queues as u64 * p.rx_desc.unwrap_or(d.rx_desc) as u64;
            n += workers * p.tx_desc.unwrap_or(d.tx_desc) as u64;
            // per-worker tx buffer for this port
            n += workers * 2 * d.burst as u64;
        }
        n += workers * d.burst as u64;
        n += (workers + 1) * d.mempool_cache as u64 * 3 / 2;
        if workers > 1 && self.stateful() {
            // Each worker's handoff ring can hold a full ring of packets for its owner.
            n += workers * HANDOFF_RING as u64;
        }
        n
    }

    /// Checks that the mempool is large enough for the queues (done by the dataplane before
    /// creating anything, so the error names the key rather than failing at start).
    pub fn check_mempool(&self) -> Result<(), ConfigError> {
        let need = self.mbufs_needed();
        if (self.dataplane.mempool_size as u64) < need {
            return Err(ConfigError::new(
                "dataplane.mempool_size",
                format!(
                    "{} mbufs cannot fill the configured queues, bursts and caches; at least {need} are needed",
                    self.dataplane.mempool_size
                ),
            ));
        }
        Ok(())
    }
}

impl Port {
    /// The device name: devargs up to the first comma.
    pub fn device_name(&self) -> &str {
        self.devargs.split(',').next().unwrap_or("").trim()
    }
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
mod tests {
    use super::*;

    #[test]
    fn control_section_defaults_and_refusals_name_the_key() {
        let base = "[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n";
        let c = Config::parse(base, None).unwrap();
        assert_eq!(c.control, Control::default());
        assert_eq!(
            (c.control.socket.as_str(), c.control.mode_bits().unwrap(), c.control.prometheus),
            ("/run/vnfd.sock", 0o600, None)
        );
        for (extra, key, why) in [
            ("mode = \"0999\"", "control.mode", "not an octal"),
            ("mode = \"01777\"", "control.mode", "above 0777"),
            ("max_clients = 0", "control.max_clients", "not in 1..=1024"),
            ("max_request = 10", "control.max_request", "not in 256"),
            ("read_timeout_ms = 0", "control.read_timeout_ms", "above 0"),
            ("idle_timeout_ms = 0", "control.idle_timeout_ms", "above 0"),
            ("max_config_bytes = 10", "control.max_config_bytes", "not in 1024..=1073741824"),
            ("config_dir = \"etc/vnf\"", "control.config_dir", "not an absolute path"),
            ("admin_group = \"a:b\"", "control.admin_group", "not a group name"),
            ("prometheus = \"0.0.0.0:9464\"", "control.prometheus", "not a loopback"),
            ("colour = 1", "control.colour", "unknown field"),
        ] {
            let e = Config::parse(&format!("{base}[control]\n{extra}\n"), None).unwrap_err();
            assert_eq!(e.key, key, "{extra}: {e}");
            assert!(e.to_string().contains(why), "{extra}: {e}");
        }
        let c = Config::parse(&format!("{base}[control]\nprometheus = \"127.0.0.1:9464\"\ngroup = \"adm\"\n"), None)
            .unwrap();
        assert_eq!(c.control.prometheus, Some("127.0.0.1:9464".parse().unwrap()));
    }

    #[test]
    fn reload_refuses_what_needs_a_restart_naming_the_key() {
        let base = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n";
        let old = Config::parse(base, None).unwrap();
        assert!(reload_compatible(&old, &old).is_ok());
        let other_port = Config::parse(&base.replace("net_null0", "net_null1"), None).unwrap();
        assert!(reload_compatible(&old, &other_port).is_ok(), "ports are the dataplane's business");
        for (new, key) in [
            (base.replace("workers = [1]", "workers = [1, 2]"), "dataplane.workers"),
            (base.replace("workers = [1]", "workers = [1]\nmempool_size = 4095"), "dataplane.mempool_size"),
            (base.replace("workers = [1]", "workers = [1]\nmain_lcore = 3"), "dataplane.main_lcore"),
            (format!("{base}[eal]\nargs = [\"--no-pci\"]\n"), "eal.args"),
            (format!("{base}[control]\nsocket = \"/tmp/x.sock\"\n"), "control"),
            (format!("{base}[event_log]\nfile = \"/var/log/x\"\n"), "event_log"),
        ] {
            let new = Config::parse(&new, None).unwrap();
            let e = reload_compatible(&old, &new).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.to_string().contains("restart"), "{e}");
        }
    }

    #[test]
    fn a_control_group_without_a_mode_gets_group_access() {
        let base = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n[control]\n";
        let mode = |extra: &str| Config::parse(&format!("{base}{extra}"), None).unwrap().control.mode_bits().unwrap();
        assert_eq!(mode(""), 0o600);
        assert_eq!(mode("group = \"vnfops\"\n"), 0o660);
        assert_eq!(mode("group = \"vnfops\"\nmode = \"0640\"\n"), 0o640, "an explicit mode wins");
        assert_eq!(mode("mode = \"0o666\"\n"), 0o666);
        let e = Config::parse(&format!("{base}mode = \"rw\"\n"), None).unwrap_err();
        assert_eq!(e.key, "control.mode", "{e}");
    }

    #[test]
    fn timeouts_below_the_rfc_minimums_are_warned_about() {
        let base = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n[[bridge]]\nname = \"b\"\nvlan = 1\ngateway = \"192.0.2.1/24\"\n[firewall]\n";
        assert!(Config::parse(base, None).unwrap().warnings().is_empty(), "the defaults meet them");
        let w = Config::parse(&format!("{base}[conntrack]\nudp = 30\nicmp = 10\n"), None).unwrap().warnings();
        assert_eq!(
            w,
            vec![
                "conntrack.udp: 30 s is below the 120 s RFC 4787 REQ-5 asks for".to_string(),
                "conntrack.icmp: 10 s is below the 60 s RFC 5508 REQ-2 asks for".to_string(),
            ]
        );
    }

    #[test]
    fn event_log_needs_a_destination_and_sane_values_naming_the_key() {
        let base = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n[event_log]\n";
        let ok = Config::parse(&format!("{base}file = \"/var/log/vnfd-events.log\"\n"), None).unwrap();
        let l = ok.event_log.unwrap();
        assert_eq!(
            (l.mappings, l.firewall, l.destinations, l.ring, l.ipfix_template_interval),
            (true, true, false, 16384, 60)
        );
        for (extra, key) in [
            ("", "event_log"),
            ("file = \"events.log\"\n", "event_log.file"),
            ("syslog = \"dev/log\"\n", "event_log.syslog"),
            ("ipfix = \"0.0.0.0:4739\"\n", "event_log.ipfix"),
            ("ipfix = \"192.0.2.1:4739\"\nipfix_template_interval = 0\n", "event_log.ipfix_template_interval"),
            ("file = \"/x\"\nring = 8\n", "event_log.ring"),
        ] {
            let e = Config::parse(&format!("{base}{extra}"), None).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
        let e = Config::parse(&format!("{base}file = \"/x\"\nlevel = 3\n"), None).unwrap_err();
        assert!(e.to_string().contains("level"), "{e}");
    }

    const GOOD: &str = r#"
[dataplane]
workers = [1]
burst = 32

[eal]
args = ["--no-pci"]

[[port]]
name = "p0"
devargs = "net_ring0"

[[port]]
name = "p1"
devargs = "net_pcap0,rx_pcap=/tmp/in.pcap,tx_pcap=/tmp/out.pcap"
mtu = 1500
mac = "02:00:00:00:00:01"

[[xconnect]]
a = "p0"
b = "p1"
"#;

    fn err(text: &str) -> ConfigError {
        Config::parse(text, Some("t.toml")).expect_err("config must be refused")
    }

    fn with(old: &str, new: &str) -> String {
        assert!(GOOD.contains(old), "{old}");
        GOOD.replacen(old, new, 1)
    }

    #[test]
    fn good_config_parses_with_defaults() {
        let c = Config::parse(GOOD, None).unwrap();
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.ports[0].rx_queues, 1);
        assert!(c.ports[0].promiscuous);
        assert_eq!(c.ports[1].device_name(), "net_pcap0");
        assert_eq!(c.ports[1].mac.unwrap().to_string(), "02:00:00:00:00:01");
        assert_eq!(c.dataplane.mempool_size, 16383);
        assert_eq!(c.xconnect_table(), vec![Some(1), Some(0)]);
        assert_eq!(c.rx_plan(), vec![vec![RxQueue { port: 0, queue: 0 }, RxQueue { port: 1, queue: 0 }]]);
        c.check_mempool().unwrap();
    }

    #[test]
    fn empty_config_is_valid() {
        let c = Config::parse("", None).unwrap();
        assert_eq!(c.dataplane, Dataplane::default());
        assert!(c.ports.is_empty());
    }

    #[test]
    fn unknown_key_is_named_with_line() {
        let e = err(&with("mtu = 1500", "mtu = 1500\nspeed = 10"));
        assert_eq!(e.key, "port[1].speed");
        assert!(e.reason.contains("unknown field `speed`"), "{e}");
        assert_eq!(e.line, Some(17));
        assert!(e.to_string().starts_with("t.toml:17: port[1].speed: unknown field `speed`"), "{e}");
        let e = err("[dataplan]\nworkers=[1]\n");
        assert_eq!(e.key, "dataplan");
        assert!(e.reason.contains("unknown field `dataplan`"), "{e}");
    }

    #[test]
    fn bad_value_types_are_named() {
        let e = err(&with("mtu = 1500", "mtu = \"big\""));
        assert_eq!(e.key, "port[1].mtu");
        let e = err(&with("mtu = 1500", "mtu = 70000"));
        assert_eq!(e.key, "port[1].mtu");
        let e = err(&with("mac = \"02:00:00:00:00:01\"", "mac = \"02:00:00:00:01\""));
        assert_eq!(e.key, "port[1].mac");
        assert!(e.reason.contains("six hex octets"), "{e}");
        let e = err(&with("burst = 32", "burst = -1"));
        assert_eq!(e.key, "dataplane.burst");
        let e = err(&with("name = \"p0\"\n", ""));
        assert_eq!(e.key, "port[0]");
        assert!(e.reason.contains("missing field `name`"), "{e}");
        let e = err("[dataplane\n");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn semantic_errors_name_their_key() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("workers = [1]", "workers = []", "dataplane.workers", "at least one"),
            ("workers = [1]", "workers = [0]", "dataplane.workers[0]", "main lcore"),
            ("workers = [1]", "workers = [1, 1]", "dataplane.workers[1]", "twice"),
            ("workers = [1]", "workers = [200]", "dataplane.workers[0]", "below"),
            ("burst = 32", "burst = 0", "dataplane.burst", "1..=256"),
            ("burst = 32", "burst = 1000", "dataplane.burst", "1..=256"),
            ("burst = 32", "rx_desc = 1000", "dataplane.rx_desc", "power of two"),
            ("burst = 32", "mempool_cache = 1000", "dataplane.mempool_cache", "512"),
            ("burst = 32", "mbuf_data_room = 200", "dataplane.mbuf_data_room", "384"),
            ("name = \"p1\"", "name = \"p0\"", "port[1].name", "already the name of port[0]"),
            ("name = \"p1\"", "name = \"bad name\"", "port[1].name", "[A-Za-z0-9_-]"),
            ("name = \"p1\"", "name = \"\"", "port[1].name", "1 to 32"),
            ("devargs = \"net_ring0\"", "devargs = \"\"", "port[0].devargs", "device name"),
            ("devargs = \"net_ring0\"", "devargs = \"net_pcap0,x=1\"", "port[1].devargs", "already used by port[0]"),
            ("mtu = 1500", "mtu = 60", "port[1].mtu", "68..=9600"),
            ("mtu = 1500", "rx_queues = 0", "port[1].rx_queues", "1..=64"),
            ("mtu = 1500", "tx_desc = 100", "port[1].tx_desc", "power of two"),
            ("mac = \"02:00:00:00:00:01\"", "mac = \"01:00:5e:00:00:01\"", "port[1].mac", "unicast"),
            ("b = \"p1\"", "b = \"p9\"", "xconnect[0].b", "no port is named \"p9\""),
            ("b = \"p1\"", "b = \"p0\"", "xconnect[0].b", "already cross-connected"),
        ];
        for (old, new, key, reason) in cases {
            let e = err(&with(old, new));
            assert_eq!(&e.key, key, "{new}: {e}");
            assert!(e.reason.contains(reason), "{new}: {e}");
            assert!(e.to_string().starts_with(&format!("t.toml: {key}: ")), "{e}");
        }
        let twice = format!("{GOOD}\n[[xconnect]]\na = \"p1\"\nb = \"p0\"\n");
        assert_eq!(err(&twice).key, "xconnect[1].a");
    }

    #[test]
    fn small_mempool_is_refused_naming_the_key() {
        let c = Config::parse(&with("burst = 32", "burst = 32\nmempool_size = 1000"), None).unwrap();
        let e = c.check_mempool().unwrap_err();
        assert_eq!(e.key, "dataplane.mempool_size");
        assert!(e.reason.contains("at least"), "{e}");
    }

    const BRIDGED: &str = r#"
[[port]]
name = "a10"
devargs = "net_null0"
mode = "access"
vlan = 10

[[port]]
name = "t"
devargs = "net_null1"
mode = "trunk"
allowed_vlans = [10, "20-21"]
native_vlan = 20

[[port]]
name = "q"
devargs = "net_null2"
mode = "trunk"
outer_vlan = 100

[[bridge]]
name = "v10"
vlan = 10
gateway = "192.0.2.254/24"

[[bridge]]
name = "v20"
vlan = 20
gateway = "198.51.100.1/24"
gateway_mac = "02:00:00:00:20:01"
[[bridge.static_mac]]
mac = "02:00:00:00:00:99"
port = "t"
[[bridge.neighbor]]
ip = "198.51.100.7"
mac = "02:00:00:00:00:07"

[[bridge]]
name = "v30"
vlan = 30

[[route]]
prefix = "203.0.113.0/24"
via = "198.51.100.7"
"#;

    #[test]
    fn bridged_config_parses_and_compiles_membership() {
        let c = Config::parse(BRIDGED, None).unwrap();
        assert_eq!(c.bridge_members(0), vec![0, 1, 2], "VLAN 10: access, trunk list, QinQ trunk (all VLANs)");
        assert_eq!(c.bridge_members(1), vec![1, 2]);
        assert_eq!(c.bridge_members(2), vec![2], "VLAN 30 is not in t's list");
        assert!(c.trunk_allows(1, 21) && !c.trunk_allows(1, 22));
        assert_eq!(c.bridges[0].gateway.unwrap().to_string(), "192.0.2.254/24");
        assert_eq!(c.bridges[0].gateway_mac().to_string(), "02:76:6e:66:00:0a");
        assert_eq!(c.bridges[1].gateway_mac().to_string(), "02:00:00:00:20:01");
        assert_eq!(c.routes[0].prefix.network(), 0xcb00_7100);
        assert_eq!(c.bridging.aging_s, 300);
        assert_eq!(c.routing.arp_retries, 3);
    }

    #[test]
    fn bridging_errors_name_their_key() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("vlan = 10\n\n[[port]]", "vlan = 11\n\n[[port]]", "port[0].vlan", "no bridge has VLAN 11"),
            ("mode = \"access\"\nvlan = 10", "mode = \"access\"", "port[0].vlan", "needs its VLAN"),
            ("mode = \"access\"\nvlan = 10", "vlan = 10", "port[0].vlan", "needs mode"),
            ("mode = \"access\"", "mode = \"hybrid\"", "port[0].mode", "unknown variant"),
            (
                "allowed_vlans = [10, \"20-21\"]",
                "allowed_vlans = [10, \"21-20\"]",
                "port[1].allowed_vlans[1]",
                "not a range",
            ),
            (
                "allowed_vlans = [10, \"20-21\"]",
                "allowed_vlans = [10, \"x\"]",
                "port[1].allowed_vlans[1]",
                "not a VLAN id",
            ),
            ("allowed_vlans = [10, \"20-21\"]", "allowed_vlans = [0]", "port[1].allowed_vlans[0]", "1..=4094"),
            ("allowed_vlans = [10, \"20-21\"]", "allowed_vlans = []", "port[1].allowed_vlans", "empty"),
            ("native_vlan = 20", "native_vlan = 30", "port[1].native_vlan", "not in allowed_vlans"),
            ("outer_vlan = 100", "outer_vlan = 4095", "port[2].outer_vlan", "1..=4094"),
            ("outer_vlan = 100", "outer_vlan = 100\nnative_vlan = 10", "port[2].native_vlan", "QinQ"),
            (
                "name = \"v30\"\nvlan = 30",
                "name = \"v30\"\nvlan = 20",
                "bridge[2].vlan",
                "already belongs to bridge[1]",
            ),
            ("name = \"v30\"\nvlan = 30", "name = \"v10\"\nvlan = 30", "bridge[2].name", "already the name"),
            ("name = \"v30\"\nvlan = 30", "name = \"v30\"\nvlan = 5000", "bridge[2].vlan", "1..=4094"),
            (
                "name = \"v30\"\nvlan = 30",
                "name = \"v30\"\nvlan = 30\ngateway = \"192.0.2.1/25\"",
                "bridge[2].gateway",
                "overlaps bridge[0]",
            ),
            ("gateway = \"192.0.2.254/24\"", "gateway = \"192.0.2.255/24\"", "bridge[0].gateway", "broadcast"),
            ("gateway = \"192.0.2.254/24\"", "gateway = \"192.0.2.254/31\"", "bridge[0].gateway", "1..=30"),
            ("gateway = \"192.0.2.254/24\"", "gateway = \"192.0.2.254\"", "bridge[0].gateway", "not address/length"),
            ("gateway = \"192.0.2.254/24\"", "gateway = \"224.0.0.1/24\"", "bridge[0].gateway", "unicast"),
            (
                "gateway_mac = \"02:00:00:00:20:01\"",
                "gateway_mac = \"ff:ff:ff:ff:ff:ff\"",
                "bridge[1].gateway_mac",
                "unicast",
            ),
            ("port = \"t\"", "port = \"a10\"", "bridge[1].static_mac[0].port", "not a member of VLAN 20"),
            ("port = \"t\"", "port = \"zz\"", "bridge[1].static_mac[0].port", "no port is named"),
            ("prefix = \"203.0.113.0/24\"", "prefix = \"203.0.113.1/24\"", "route[0].prefix", "host bits"),
            ("ip = \"198.51.100.7\"", "ip = \"198.51.100.1\"", "bridge[1].neighbor[0].ip", "other than the gateway"),
            ("ip = \"198.51.100.7\"", "ip = \"192.0.2.7\"", "bridge[1].neighbor[0].ip", "not a host of"),
            ("mac = \"02:00:00:00:00:07\"", "mac = \"01:00:00:00:00:07\"", "bridge[1].neighbor[0].mac", "unicast"),
            ("via = \"198.51.100.7\"", "via = \"10.0.0.1\"", "route[0].via", "not inside any bridge"),
            ("via = \"198.51.100.7\"", "via = \"198.51.100.1\"", "route[0].via", "gateway's own address"),
        ];
        for (old, new, key, reason) in cases {
            assert!(BRIDGED.contains(old), "{old}");
            let e = Config::parse(&BRIDGED.replacen(old, new, 1), Some("b.toml")).expect_err(new);
            assert_eq!(&e.key, key, "{new}: {e}");
            assert!(e.reason.contains(reason), "{new}: {e}");
        }
        let x = format!("{BRIDGED}\n[[xconnect]]\na = \"a10\"\nb = \"q\"\n");
        assert_eq!(Config::parse(&x, None).unwrap_err().key, "port[0].mode");
        let dup = format!("{BRIDGED}\n[[route]]\nprefix = \"203.0.113.0/24\"\nvia = \"198.51.100.8\"\n");
        assert_eq!(Config::parse(&dup, None).unwrap_err().key, "route[1].prefix");
        let e = Config::parse(&format!("{BRIDGED}\n[routing]\narp_queue = 0\n"), None).unwrap_err();
        assert_eq!(e.key, "routing.arp_queue");
        // A neighbour must be confirmed for some time (0 used to be accepted).
        for key in ["arp_reachable_s", "arp_probes"] {
            let e = Config::parse(&format!("{BRIDGED}\n[routing]\n{key} = 0\n"), Some("r.toml")).unwrap_err();
            assert_eq!(e.key, format!("routing.{key}"), "{e}");
            assert!(e.reason.contains("must be above 0"), "{e}");
        }
        let e = Config::parse(&format!("{BRIDGED}\n[bridging]\nfdb_size = 0\n"), None).unwrap_err();
        assert_eq!(e.key, "bridging.fdb_size");
    }

    const VXLAN: &str = r#"
[[port]]
name = "u"
devargs = "net_null0"
[[port]]
name = "a"
devargs = "net_null1"
mode = "access"
vlan = 10
[vtep]
underlay = "u"
address = "203.0.113.1/24"
gateway = "203.0.113.254"
[[vtep.neighbor]]
ip = "203.0.113.2"
mac = "02:00:00:00:00:02"
[[bridge]]
name = "v10"
vlan = 10
vni = 5010
remote_vteps = ["203.0.113.2", "198.18.0.9"]
[[bridge.remote_mac]]
mac = "02:00:00:00:aa:01"
vtep = "203.0.113.2"
"#;

    #[test]
    fn vtep_config_parses_with_defaults_and_errors_name_keys() {
        let c = Config::parse(VXLAN, None).unwrap();
        let v = c.vtep.as_ref().unwrap();
        assert_eq!((v.udp_port, v.check_source, v.mtu), (4789, true, 1500));
        assert_eq!(v.mac().to_string(), "02:76:6e:66:ff:fe");
        assert_eq!(c.bridges[0].vni, Some(5010));
        let cases: &[(&str, &str, &str, &str)] = &[
            ("underlay = \"u\"", "underlay = \"a\"", "vtep.underlay", "bridge role"),
            ("underlay = \"u\"", "underlay = \"x\"", "vtep.underlay", "no port"),
            ("address = \"203.0.113.1/24\"", "address = \"203.0.113.0/24\"", "vtep.address", "unicast host"),
            ("gateway = \"203.0.113.254\"", "gateway = \"198.18.0.1\"", "vtep.gateway", "not another host"),
            ("vni = 5010", "vni = 16777216", "bridge[0].vni", "1..=16777215"),
            ("\"198.18.0.9\"]", "\"203.0.113.2\"]", "bridge[0].remote_vteps[1]", "twice"),
            ("\"198.18.0.9\"]", "\"203.0.113.1\"]", "bridge[0].remote_vteps[1]", "remote unicast"),
            ("vtep = \"203.0.113.2\"", "vtep = \"203.0.113.3\"", "bridge[0].remote_mac[0].vtep", "not in remote_vteps"),
            ("ip = \"203.0.113.2\"", "ip = \"203.0.113.1\"", "vtep.neighbor[0].ip", "not another host"),
        ];
        for (old, new, key, reason) in cases {
            assert!(VXLAN.contains(old), "{old}");
            let e = Config::parse(&VXLAN.replacen(old, new, 1), None).expect_err(new);
            assert_eq!(&e.key, key, "{new}: {e}");
            assert!(e.reason.contains(reason), "{new}: {e}");
        }
        let no_gw = VXLAN.replace("gateway = \"203.0.113.254\"\n", "");
        assert_eq!(Config::parse(&no_gw, None).unwrap_err().key, "bridge[0].remote_vteps[1]");
        let no_vtep = "[[bridge]]\nname = \"b\"\nvlan = 5\nvni = 7\n";
        assert_eq!(Config::parse(no_vtep, None).unwrap_err().key, "bridge[0].vni");
    }

    #[test]
    fn rx_queues_are_dealt_round_robin() {
        let c = Config::parse(
            &with("workers = [1]", "workers = [1, 2]")
                .replace("devargs = \"net_ring0\"", "devargs = \"net_ring0\"\nrx_queues = 3"),
            None,
        )
        .unwrap();
        let q = |port, queue| RxQueue { port, queue };
        assert_eq!(c.rx_plan(), vec![vec![q(0, 0), q(0, 2)], vec![q(0, 1), q(1, 0)]]);
    }
}
