//! `[routing]` and `[[route]]`: neighbour and reassembly settings, static routes, and the
//! IPv4 prefix type the rest of the config uses.

use super::{Config, ConfigError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

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

impl Config {
    pub(super) fn validate_routing(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    /// Every route: a network prefix, once, via a host of a gateway `subnet` other than the
    /// gateway itself.
    pub(super) fn validate_routes(&self, subnets: &[(Ipv4Prefix, usize)]) -> Result<(), ConfigError> {
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
}
