//! `[conntrack]`, `[nat]` and `[firewall]`: the stateful part of the routed path.
//!
//! Zones are named on bridges (`zone = "inside"`); a bridge without one is in zone
//! `"default"`. NAT and firewall rules refer to zones by name, and every reference is
//! checked here so a typo is refused with its key, never silently matching nothing.

use super::{yes, Config, ConfigError, Ipv4Prefix};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// The zone of a bridge that names none.
pub const DEFAULT_ZONE: &str = "default";
/// Most zones (zone ids are small integers in the compiled tables).
pub const MAX_ZONES: usize = 64;
/// Most NAT pool addresses over all `[[nat.snat]]` rules.
pub const MAX_POOL_ADDRS: usize = 1024;

/// `[conntrack]`: per-worker table size and idle timeouts (seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conntrack {
    /// Connections each worker can track; a new connection beyond it is dropped and counted.
    pub capacity: u32,
    /// TCP ESTABLISHED idle timeout (RFC 5382 REQ-5: at least 7440 s).
    pub tcp_established: u32,
    /// Every other TCP state: handshake, closing, TIME_WAIT, after a RST (RFC 5382: 240 s).
    pub tcp_transitory: u32,
    /// UDP (RFC 4787 REQ-5: at least 120 s, 300 s recommended).
    pub udp: u32,
    /// ICMP query (echo) sessions (RFC 5508 REQ-2: at least 60 s).
    pub icmp: u32,
    /// Other IP protocols.
    pub other: u32,
    /// Fragmented datagrams each worker follows at once (their first fragment decides, the
    /// others follow it; RFC 4787 REQ-14); 0: fragments are dropped (`ct-fragment`).
    pub fragments: u32,
    /// Seconds a fragmented datagram is followed after its first fragment came.
    pub fragment_timeout: u32,
    /// Let TCP segments outside the window through (netfilter's
    /// `nf_conntrack_tcp_be_liberal`); a RST outside the window still changes nothing.
    pub tcp_liberal: bool,
}

impl Default for Conntrack {
    fn default() -> Self {
        Conntrack {
            capacity: 65536,
            tcp_established: 7440,
            tcp_transitory: 240,
            udp: 300,
            icmp: 60,
            other: 600,
            fragments: 256,
            fragment_timeout: 30,
            tcp_liberal: false,
        }
    }
}

/// `[event_log]`: NAT mapping create/delete and firewall denies, written off the fast path
/// (see `crate::eventlog`) to any of a file, syslog and an IPFIX collector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLog {
    /// Append one text line per event to this file (absolute path; created 0640).
    #[serde(default)]
    pub file: Option<String>,
    /// Send each event as a syslog message (RFC 3164, facility local0) to this Unix datagram
    /// socket, usually "/dev/log".
    #[serde(default)]
    pub syslog: Option<String>,
    /// Export IPFIX (RFC 7011) NAT event records (RFC 8158) over UDP to this collector.
    #[serde(default)]
    pub ipfix: Option<std::net::SocketAddr>,
    /// IPFIX observation domain id.
    #[serde(default = "one")]
    pub ipfix_domain: u32,
    /// Seconds between IPFIX template retransmissions (RFC 7011 8.4), 1..=3600.
    #[serde(default = "sixty")]
    pub ipfix_template_interval: u32,
    /// Log mapping create and delete.
    #[serde(default = "yes")]
    pub mappings: bool,
    /// Log firewall denies (drop and reject).
    #[serde(default = "yes")]
    pub firewall: bool,
    /// Log destination addresses and ports too (off: they never leave the worker).
    #[serde(default)]
    pub destinations: bool,
    /// Events each worker's ring holds until the log thread drains it (64..=1048576);
    /// beyond it events are lost and counted (`event-log-lost`).
    #[serde(default = "ring")]
    pub ring: u32,
}

fn one() -> u32 {
    1
}
fn sixty() -> u32 {
    60
}
fn ring() -> u32 {
    16384
}

impl EventLog {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.file.is_none() && self.syslog.is_none() && self.ipfix.is_none() {
            return Err(ConfigError::new("event_log", "names no destination: set file, syslog or ipfix"));
        }
        for (key, p) in [("event_log.file", &self.file), ("event_log.syslog", &self.syslog)] {
            if let Some(p) = p {
                if !p.starts_with('/') {
                    return Err(ConfigError::new(key, format!("{p:?} is not an absolute path")));
                }
            }
        }
        if !(1..=3600).contains(&self.ipfix_template_interval) {
            return Err(ConfigError::new(
                "event_log.ipfix_template_interval",
                format!("{} is not in 1..=3600", self.ipfix_template_interval),
            ));
        }
        if !(64..=1 << 20).contains(&self.ring) {
            return Err(ConfigError::new("event_log.ring", format!("{} is not in 64..=1048576", self.ring)));
        }
        if let Some(a) = self.ipfix {
            if a.port() == 0 || a.ip().is_unspecified() {
                return Err(ConfigError::new("event_log.ipfix", format!("{a} is not a collector address")));
            }
        }
        Ok(())
    }

    /// What the workers log.
    pub fn what(&self) -> crate::eventlog::LogWhat {
        crate::eventlog::LogWhat { mappings: self.mappings, firewall: self.firewall, destinations: self.destinations }
    }
}

/// `[nat]`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    /// Source NAT rules, first match wins.
    #[serde(default)]
    pub snat: Vec<Snat>,
    /// Destination NAT port forwards.
    #[serde(default)]
    pub forward: Vec<Forward>,
}

/// What a NAT does when its port pool has no free port for a new mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exhaustion {
    /// Drop the packet (counted as `nat-pool-exhausted`).
    #[default]
    Drop,
    /// Drop it and answer ICMP destination unreachable, administratively prohibited.
    Icmp,
}

/// `[[nat.snat]]`: traffic from `from` leaving into `zone` gets a pool address and port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snat {
    /// Inside source prefixes.
    pub from: Vec<Ipv4Prefix>,
    /// The zone the translated traffic leaves into.
    pub zone: String,
    /// External addresses: `"a.b.c.d"` or `"a.b.c.d-a.b.c.e"`.
    pub pool: Vec<String>,
    /// External port range for TCP/UDP and ICMP identifiers, `"lo-hi"` (default 1024-65535).
    #[serde(default = "default_ports")]
    pub ports: String,
    /// `drop` or `icmp` when no port is free.
    #[serde(default)]
    pub on_exhaustion: Exhaustion,
    /// Which outside packets to a mapping are let in (RFC 4787 REQ-8).
    #[serde(default)]
    pub filtering: Filtering,
    /// Connections one inside address may hold through this rule, per worker (0: unlimited).
    #[serde(default)]
    pub max_connections_per_host: u32,
    /// New connections one inside address may open per second, per worker (0: unlimited).
    #[serde(default)]
    pub max_new_per_second_per_host: u32,
    /// External ports (mappings) one inside address may hold, per worker (0: unlimited;
    /// RFC 6888 REQ-4).
    #[serde(default)]
    pub max_ports_per_host: u32,
}

/// Filtering of a source NAT rule's mappings (RFC 4787 §5): which outside endpoints may send
/// to an inside endpoint's external address and port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Filtering {
    /// Anyone.
    EndpointIndependent,
    /// Only addresses the inside endpoint has sent to (any port).
    AddressDependent,
    /// Only the address and port the inside endpoint has sent to (a connection).
    #[default]
    AddressAndPortDependent,
}

fn default_ports() -> String {
    "1024-65535".into()
}

/// `[[nat.forward]]`: `address:port` (an external address of a pool, or a gateway's
/// address) is forwarded to `to:to_port` inside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// `tcp` or `udp`.
    pub proto: String,
    /// External address.
    pub address: Ipv4Addr,
    /// External port.
    pub port: u16,
    /// Inside host.
    pub to: Ipv4Addr,
    /// Inside port (default: the same as `port`).
    #[serde(default)]
    pub to_port: Option<u16>,
}

/// A verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Let the connection through.
    Accept,
    /// Drop silently.
    Drop,
    /// Drop and tell the sender: TCP RST, ICMP port unreachable (UDP) or administratively
    /// prohibited (others).
    Reject,
}

/// `[firewall]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// Verdict for a zone pair with no `[[firewall.policy]]` (default drop).
    #[serde(default = "default_verdict")]
    pub default: Verdict,
    /// Per zone pair defaults.
    #[serde(default)]
    pub policy: Vec<Policy>,
    /// Ordered rules, first match wins; evaluated for new connections only.
    #[serde(default)]
    pub rule: Vec<Rule>,
}

fn default_verdict() -> Verdict {
    Verdict::Drop
}

/// `[[firewall.policy]]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Ingress zone.
    pub from: String,
    /// Egress zone.
    pub to: String,
    /// Verdict.
    pub action: Verdict,
    /// TCP MSS clamping (RFC 4459 2.3, for tunnel links): the MSS option of every SYN and
    /// SYN-ACK of a connection opened from `from` to `to` is lowered to this value when
    /// above it, in both directions. `536..=65535`.
    #[serde(default)]
    pub mss: Option<u16>,
}

/// Lowest `mss` a zone pair may clamp to (the IPv4 default MSS, RFC 9293 3.7.1).
pub const MIN_MSS: u16 = 536;

/// `[[firewall.rule]]`: every given condition must hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Ingress zone.
    #[serde(default)]
    pub from: Option<String>,
    /// Egress zone.
    #[serde(default)]
    pub to: Option<String>,
    /// Source prefixes (any of them).
    #[serde(default)]
    pub src: Vec<Ipv4Prefix>,
    /// Destination prefixes (after destination NAT).
    #[serde(default)]
    pub dst: Vec<Ipv4Prefix>,
    /// `tcp`, `udp`, `icmp` or a protocol number.
    #[serde(default)]
    pub proto: Option<String>,
    /// Source ports `"n"` or `"lo-hi"` (TCP/UDP).
    #[serde(default)]
    pub sport: Option<String>,
    /// Destination ports (TCP/UDP).
    #[serde(default)]
    pub dport: Option<String>,
    /// ICMP type (proto icmp).
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// Verdict.
    pub action: Verdict,
}

/// Parses `"n"` or `"lo-hi"`.
pub fn port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let p = |x: &str| x.trim().parse::<u16>().map_err(|_| format!("{s:?} is not a port or range lo-hi"));
    let (a, b) = (p(a)?, p(b)?);
    if a > b {
        return Err(format!("{s:?}: {a} is above {b}"));
    }
    Ok((a, b))
}

/// Parses `"a.b.c.d"` or `"a.b.c.d-a.b.c.e"` into an inclusive range.
pub fn addr_range(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let p = |x: &str| {
        x.trim()
            .parse::<Ipv4Addr>()
            .map(u32::from)
            .map_err(|_| format!("{s:?} is not an address or range a.b.c.d-a.b.c.e"))
    };
    let (a, b) = (p(a)?, p(b)?);
    if a > b {
        return Err(format!("{s:?}: the range is reversed"));
    }
    Ok((a, b))
}

/// Parses a protocol name or number.
pub fn proto_number(s: &str) -> Result<u8, String> {
    match s {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "icmp" => Ok(1),
        _ => s.parse::<u8>().map_err(|_| format!("{s:?} is not tcp, udp, icmp or a protocol number")),
    }
}

impl Config {
    /// What the config accepts but the NAT RFCs advise against: timeouts below their
    /// minimums (allowed, e.g. for tests and benchmarks; vnfd prints these at start).
    pub fn warnings(&self) -> Vec<String> {
        if !self.stateful() {
            return vec![];
        }
        let c = &self.conntrack;
        [
            ("conntrack.udp", c.udp, 120, "RFC 4787 REQ-5"),
            ("conntrack.tcp_established", c.tcp_established, 7440, "RFC 5382 REQ-5"),
            ("conntrack.tcp_transitory", c.tcp_transitory, 240, "RFC 5382 REQ-5"),
            ("conntrack.icmp", c.icmp, 60, "RFC 5508 REQ-2"),
        ]
        .into_iter()
        .filter(|&(_, v, min, _)| v < min)
        .map(|(k, v, min, rfc)| format!("{k}: {v} s is below the {min} s {rfc} asks for"))
        .collect()
    }

    /// True if the routed path tracks connections (any NAT or firewall configured).
    pub fn stateful(&self) -> bool {
        self.firewall.is_some() || self.nat.as_ref().is_some_and(|n| !n.snat.is_empty() || !n.forward.is_empty())
    }

    /// Zone names in id order: `default` first if any bridge lacks a zone, then names in
    /// order of first appearance on bridges.
    pub fn zones(&self) -> Vec<String> {
        let mut z: Vec<String> = vec![];
        for b in &self.bridges {
            let n = b.zone.clone().unwrap_or_else(|| DEFAULT_ZONE.into());
            if !z.contains(&n) {
                z.push(n);
            }
        }
        z
    }

    /// All pool addresses of every `[[nat.snat]]`, in order, deduplicated.
    pub fn pool_addresses(&self) -> Vec<u32> {
        let mut v = vec![];
        for s in self.nat.iter().flat_map(|n| &n.snat) {
            for r in &s.pool {
                if let Ok((a, b)) = addr_range(r) {
                    for x in a..=b.min(a.saturating_add(MAX_POOL_ADDRS as u32)) {
                        if !v.contains(&x) {
                            v.push(x);
                        }
                    }
                }
            }
        }
        v
    }

    pub(super) fn validate_security(&self) -> Result<(), ConfigError> {
        let zones = self.zones();
        for (i, b) in self.bridges.iter().enumerate() {
            if let Some(z) = &b.zone {
                if z.is_empty() || z.len() > 32 || !z.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(ConfigError::new(
                        format!("bridge[{i}].zone"),
                        format!("{z:?} must be 1 to 32 characters of [A-Za-z0-9_-]"),
                    ));
                }
            }
        }
        if zones.len() > MAX_ZONES {
            return Err(ConfigError::new("bridge", format!("{} zones; at most {MAX_ZONES}", zones.len())));
        }
        let zone = |key: String, z: &str| -> Result<(), ConfigError> {
            if zones.iter().any(|x| x == z) {
                Ok(())
            } else {
                Err(ConfigError::new(key, format!("no bridge is in zone {z:?} (zones: {})", zones.join(", "))))
            }
        };
        let c = &self.conntrack;
        if c.fragments > 65536 {
            return Err(ConfigError::new("conntrack.fragments", format!("{} is not in 0..=65536", c.fragments)));
        }
        if !(1..=120).contains(&c.fragment_timeout) {
            return Err(ConfigError::new(
                "conntrack.fragment_timeout",
                format!("{} is not in 1..=120", c.fragment_timeout),
            ));
        }
        if !(16..=1 << 24).contains(&c.capacity) {
            return Err(ConfigError::new("conntrack.capacity", format!("{} is not in 16..=16777216", c.capacity)));
        }
        for (k, v, min) in [
            ("tcp_established", c.tcp_established, 1),
            ("tcp_transitory", c.tcp_transitory, 1),
            ("udp", c.udp, 1),
            ("icmp", c.icmp, 1),
            ("other", c.other, 1),
        ] {
            if v < min || v > 30 * 86400 {
                return Err(ConfigError::new(format!("conntrack.{k}"), format!("{v} s is not in 1..=2592000")));
            }
        }
        let stateful = self.stateful();
        if stateful && !self.bridges.iter().any(|b| b.gateway.is_some()) {
            let key = if self.firewall.is_some() { "firewall" } else { "nat" };
            return Err(ConfigError::new(key, "needs routing: no bridge has a gateway"));
        }
        let gateways: Vec<(Ipv4Prefix, usize)> =
            self.bridges.iter().enumerate().filter_map(|(i, b)| b.gateway.map(|g| (g, i))).collect();
        let mut owner: HashMap<u32, usize> = HashMap::new();
        let mut naddrs = 0usize;
        if let Some(n) = &self.nat {
            for (i, s) in n.snat.iter().enumerate() {
                let key = |f: &str| format!("nat.snat[{i}].{f}");
                if s.from.is_empty() {
                    return Err(ConfigError::new(key("from"), "is empty"));
                }
                for (k, p) in s.from.iter().enumerate() {
                    if p.addr != p.network() {
                        return Err(ConfigError::new(
                            format!("nat.snat[{i}].from[{k}]"),
                            format!("{p} has host bits set"),
                        ));
                    }
                }
                zone(key("zone"), &s.zone)?;
                if s.pool.is_empty() {
                    return Err(ConfigError::new(key("pool"), "is empty"));
                }
                for (k, r) in s.pool.iter().enumerate() {
                    let pk = format!("nat.snat[{i}].pool[{k}]");
                    let (a, b) = addr_range(r).map_err(|e| ConfigError::new(pk.clone(), e))?;
                    naddrs += (b - a) as usize + 1;
                    if naddrs > MAX_POOL_ADDRS {
                        return Err(ConfigError::new(pk, format!("more than {MAX_POOL_ADDRS} pool addresses in all")));
                    }
                    for x in a..=b {
                        let first = x >> 24;
                        if x == 0 || first == 0 || first == 127 || first >= 224 {
                            return Err(ConfigError::new(
                                pk,
                                format!("{} is not a unicast address", Ipv4Addr::from(x)),
                            ));
                        }
                        if let Some(&j) = owner.get(&x) {
                            if j != i {
                                return Err(ConfigError::new(
                                    pk,
                                    format!("{} is already in nat.snat[{j}].pool", Ipv4Addr::from(x)),
                                ));
                            }
                        }
                        owner.insert(x, i);
                        if let Some((g, bi)) = gateways.iter().find(|(g, _)| g.contains(x)) {
                            if x == g.network() || x == g.broadcast() {
                                return Err(ConfigError::new(
                                    pk,
                                    format!(
                                        "{} is the network or broadcast address of bridge[{bi}]",
                                        Ipv4Addr::from(x)
                                    ),
                                ));
                            }
                        }
                    }
                }
                let (lo, hi) = port_range(&s.ports).map_err(|e| ConfigError::new(key("ports"), e))?;
                if lo == 0 {
                    return Err(ConfigError::new(key("ports"), "port 0 cannot be used"));
                }
                let workers = self.dataplane.workers.len() as u32;
                if u32::from(hi - lo) + 1 < 64 * workers {
                    return Err(ConfigError::new(
                        key("ports"),
                        format!("{lo}-{hi} leaves fewer than 64 ports per worker ({workers} workers)"),
                    ));
                }
                let cap = self.conntrack.capacity;
                for (k, v, max) in [
                    ("max_connections_per_host", s.max_connections_per_host, cap),
                    ("max_new_per_second_per_host", s.max_new_per_second_per_host, cap),
                    ("max_ports_per_host", s.max_ports_per_host, u32::from(hi - lo) + 1),
                ] {
                    if v > max {
                        return Err(ConfigError::new(key(k), format!("{v} is more than {max}")));
                    }
                }
            }
            let mut seen = HashMap::new();
            for (i, f) in n.forward.iter().enumerate() {
                let key = |k: &str| format!("nat.forward[{i}].{k}");
                let p = proto_number(&f.proto).map_err(|e| ConfigError::new(key("proto"), e))?;
                if p != 6 && p != 17 {
                    return Err(ConfigError::new(
                        key("proto"),
                        format!("{:?}: only tcp and udp are forwarded", f.proto),
                    ));
                }
                if f.port == 0 || f.to_port == Some(0) {
                    return Err(ConfigError::new(
                        key(if f.port == 0 { "port" } else { "to_port" }),
                        "port 0 cannot be used",
                    ));
                }
                let a = u32::from(f.address);
                let is_gw = gateways.iter().any(|(g, _)| g.addr == a);
                if !is_gw && !owner.contains_key(&a) {
                    return Err(ConfigError::new(
                        key("address"),
                        format!("{} is neither a pool address nor a gateway address", f.address),
                    ));
                }
                let to = u32::from(f.to);
                if !gateways.iter().any(|(g, _)| g.contains(to) && g.addr != to)
                    && !self.routes.iter().any(|r| r.prefix.contains(to))
                {
                    return Err(ConfigError::new(
                        key("to"),
                        format!("{} is not reachable: no bridge subnet or route contains it", f.to),
                    ));
                }
                if let Some(j) = seen.insert((p, a, f.port), i) {
                    return Err(ConfigError::new(
                        key("port"),
                        format!("{} {}:{} is already nat.forward[{j}]", f.proto, f.address, f.port),
                    ));
                }
                // A forwarded port inside a pool's port range of the same address would
                // collide with mappings: the pools skip it (see nat::Pools).
            }
        }
        if let Some(fw) = &self.firewall {
            let mut pairs = HashMap::new();
            for (i, p) in fw.policy.iter().enumerate() {
                zone(format!("firewall.policy[{i}].from"), &p.from)?;
                zone(format!("firewall.policy[{i}].to"), &p.to)?;
                if let Some(j) = pairs.insert((p.from.as_str(), p.to.as_str()), i) {
                    return Err(ConfigError::new(
                        format!("firewall.policy[{i}]"),
                        format!("{} -> {} is already firewall.policy[{j}]", p.from, p.to),
                    ));
                }
                if p.mss.is_some_and(|m| m < MIN_MSS) {
                    return Err(ConfigError::new(
                        format!("firewall.policy[{i}].mss"),
                        format!("below {MIN_MSS}, the IPv4 default MSS"),
                    ));
                }
            }
            for (i, r) in fw.rule.iter().enumerate() {
                let key = |k: &str| format!("firewall.rule[{i}].{k}");
                if let Some(z) = &r.from {
                    zone(key("from"), z)?;
                }
                if let Some(z) = &r.to {
                    zone(key("to"), z)?;
                }
                for (f, list) in [("src", &r.src), ("dst", &r.dst)] {
                    for (k, p) in list.iter().enumerate() {
                        if p.addr != p.network() {
                            return Err(ConfigError::new(
                                format!("firewall.rule[{i}].{f}[{k}]"),
                                format!("{p} has host bits set"),
                            ));
                        }
                    }
                }
                let proto = match &r.proto {
                    Some(s) => Some(proto_number(s).map_err(|e| ConfigError::new(key("proto"), e))?),
                    None => None,
                };
                for (f, v) in [("sport", &r.sport), ("dport", &r.dport)] {
                    if let Some(s) = v {
                        port_range(s).map_err(|e| ConfigError::new(key(f), e))?;
                        if proto != Some(6) && proto != Some(17) {
                            return Err(ConfigError::new(key(f), "ports need proto = \"tcp\" or \"udp\""));
                        }
                    }
                }
                if r.icmp_type.is_some() && proto != Some(1) {
                    return Err(ConfigError::new(key("icmp_type"), "needs proto = \"icmp\""));
                }
            }
            if fw.rule.len() > 65536 {
                return Err(ConfigError::new("firewall.rule", format!("{} rules; at most 65536", fw.rule.len())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const REST: &str = r#"
[[nat.snat]]
from = ["198.51.100.0/24"]
zone = "outside"
pool = ["203.0.113.100"]
[[nat.forward]]
proto = "tcp"
address = "203.0.113.100"
port = 8080
to = "198.51.100.10"
[firewall]
[[firewall.policy]]
from = "inside"
to = "outside"
action = "accept"
[[firewall.rule]]
from = "inside"
proto = "tcp"
dport = "25"
action = "reject"
"#;

    fn base() -> String {
        crate::nat::fixture::two_zones("", "", REST)
    }

    fn refused(old: &str, new: &str) -> (String, String) {
        let base = base();
        assert!(base.contains(old), "{old}");
        let e = Config::parse(&base.replacen(old, new, 1), None).expect_err("must be refused");
        (e.key, e.reason)
    }

    #[test]
    fn the_base_parses_with_rfc_default_timeouts() {
        let c = Config::parse(&base(), None).unwrap();
        assert!(c.stateful());
        assert_eq!(c.zones(), vec!["inside", "outside"]);
        assert_eq!(
            (c.conntrack.tcp_established, c.conntrack.tcp_transitory, c.conntrack.udp, c.conntrack.icmp),
            (7440, 240, 300, 60)
        );
        assert_eq!(c.pool_addresses(), vec![0xcb00_7164]);
    }

    #[test]
    fn tcp_liberal_is_off_unless_set() {
        let c = Config::parse(&base(), None).unwrap();
        assert!(!c.conntrack.tcp_liberal);
        let liberal = format!("{}\n[conntrack]\ntcp_liberal = true\n", base());
        let c = Config::parse(&liberal, None).unwrap();
        assert!(c.conntrack.tcp_liberal);
        assert!(crate::nat::SecTables::compile(&c).unwrap().unwrap().tcp_liberal);
        let bad = Config::parse(&liberal.replace("tcp_liberal = true", "tcp_liberal = 1"), None).unwrap_err();
        assert_eq!(bad.key, "conntrack.tcp_liberal");
    }

    #[test]
    fn every_refusal_names_its_key() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("zone = \"outside\"\npool", "zone = \"dmz\"\npool", "nat.snat[0].zone", "no bridge is in zone \"dmz\""),
            (
                "pool = [\"203.0.113.100\"]",
                "pool = [\"203.0.113.100-203.0.113.99\"]",
                "nat.snat[0].pool[0]",
                "reversed",
            ),
            ("pool = [\"203.0.113.100\"]", "pool = [\"224.0.0.1\"]", "nat.snat[0].pool[0]", "not a unicast"),
            ("pool = [\"203.0.113.100\"]", "pool = [\"203.0.113.255\"]", "nat.snat[0].pool[0]", "broadcast"),
            (
                "pool = [\"203.0.113.100\"]",
                "pool = [\"203.0.113.100\"]\nports = \"1024-1050\"",
                "nat.snat[0].ports",
                "fewer than 64",
            ),
            (
                "pool = [\"203.0.113.100\"]",
                "pool = [\"203.0.113.100\"]\nports = \"0-2000\"",
                "nat.snat[0].ports",
                "port 0",
            ),
            ("from = [\"198.51.100.0/24\"]", "from = [\"198.51.100.1/24\"]", "nat.snat[0].from[0]", "host bits"),
            (
                "pool = [\"203.0.113.100\"]",
                "pool = [\"203.0.113.100\"]\nports = \"2000-2099\"\nmax_ports_per_host = 101",
                "nat.snat[0].max_ports_per_host",
                "101 is more than 100",
            ),
            (
                "pool = [\"203.0.113.100\"]",
                "pool = [\"203.0.113.100\"]\nmax_connections_per_host = 99999999",
                "nat.snat[0].max_connections_per_host",
                "99999999 is more than",
            ),
            (
                "pool = [\"203.0.113.100\"]",
                "pool = [\"203.0.113.100\"]\nmax_new_per_second_per_host = 99999999",
                "nat.snat[0].max_new_per_second_per_host",
                "99999999 is more than",
            ),
            ("proto = \"tcp\"\naddress", "proto = \"icmp\"\naddress", "nat.forward[0].proto", "only tcp and udp"),
            (
                "address = \"203.0.113.100\"",
                "address = \"203.0.113.77\"",
                "nat.forward[0].address",
                "neither a pool address nor a gateway",
            ),
            ("to = \"198.51.100.10\"", "to = \"192.0.2.10\"", "nat.forward[0].to", "not reachable"),
            ("to = \"outside\"\naction", "to = \"outsid\"\naction", "firewall.policy[0].to", "no bridge is in zone"),
            ("dport = \"25\"", "dport = \"25-24\"", "firewall.rule[0].dport", "above"),
            ("proto = \"tcp\"\ndport", "proto = \"gre\"\ndport", "firewall.rule[0].proto", "not tcp, udp, icmp"),
            ("proto = \"tcp\"\ndport", "proto = \"47\"\ndport", "firewall.rule[0].dport", "ports need proto"),
            (
                "action = \"reject\"",
                "action = \"reject\"\nicmp_type = 8",
                "firewall.rule[0].icmp_type",
                "needs proto = \"icmp\"",
            ),
            ("action = \"reject\"", "action = \"deny\"", "firewall.rule[0].action", "unknown variant"),
            ("zone = \"inside\"", "zone = \"in side\"", "bridge[0].zone", "must be 1 to 32"),
            ("[firewall]", "[conntrack]\ncapacity = 8\n[firewall]", "conntrack.capacity", "not in 16"),
            ("[firewall]", "[conntrack]\nudp = 0\n[firewall]", "conntrack.udp", "not in 1..="),
        ];
        for (old, new, key, why) in cases {
            let (k, r) = refused(old, new);
            assert_eq!(&k, key, "{new}: {r}");
            assert!(r.contains(why), "{new}: {k}: {r}");
        }
    }

    #[test]
    fn a_pool_address_in_two_rules_is_refused() {
        let text = base().replace("[[nat.forward]]", "[[nat.snat]]\nfrom = [\"198.51.100.0/25\"]\nzone = \"outside\"\npool = [\"203.0.113.100\"]\n[[nat.forward]]");
        let e = Config::parse(&text, None).unwrap_err();
        assert_eq!(e.key, "nat.snat[1].pool[0]");
        assert!(e.reason.contains("already in nat.snat[0]"), "{e}");
    }

    #[test]
    fn nat_without_routing_is_refused() {
        let text = base().replace("gateway = \"198.51.100.1/24\"\n", "").replace("gateway = \"203.0.113.1/24\"\n", "");
        let e = Config::parse(&text, None).unwrap_err();
        assert!(e.to_string().contains("needs routing") || e.key.starts_with("nat."), "{e}");
    }
}
