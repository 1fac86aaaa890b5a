//! NAT and the stateful routed path's compiled tables.
//!
//! [`SecTables`] is compiled once from the config (zones, source NAT rules with their pools,
//! port forwards, the firewall classifier and zone policies) and shared read-only by every
//! worker. [`Mappings`] is per worker: the endpoint-independent mappings (RFC 4787 REQ-1)
//! and the worker's slice of every pool's ports.
//!
//! Several workers: worker `w` of `n` owns the external ports `p` with `p % n == w` on every
//! pool address, so the worker that owns a reply is a function of its destination port
//! ([`SecTables::owner`]); a mask on the low bits of the UDP/TCP destination port is what an
//! `rte_flow` rule can match on a NIC to steer replies to the owner's queue.

pub mod filter;
pub mod hosts;
pub mod pool;
pub mod translate;

#[cfg(test)]
pub(crate) mod fixture;

use crate::config::{self, Config, ConfigError, Exhaustion, Filtering, Valid, Verdict};
use crate::conntrack::{FlowKey, Timeouts};
use crate::firewall::{self, Classifier};
use std::collections::{HashMap, HashSet};

pub use pool::{Mapping, Mappings};

/// A compiled `[[nat.snat]]`.
#[derive(Clone, Debug)]
pub struct SnatRule {
    /// Inside source prefixes.
    pub from: Vec<config::Ipv4Prefix>,
    /// Zone id the translated traffic leaves into.
    pub zone: u8,
    /// Indexes into [`SecTables::pool_addrs`].
    pub addrs: Vec<u16>,
    /// External port range.
    pub ports: (u16, u16),
    /// Answer to exhaustion.
    pub on_exhaustion: Exhaustion,
    /// Which outside packets to a mapping are let in.
    pub filtering: Filtering,
    /// Per inside address limits.
    pub limits: hosts::Limits,
}

/// The compiled firewall.
pub struct FwTables {
    /// Rule classifier.
    pub classifier: Classifier,
    /// Per zone pair default verdict, `[zone_in * zones + zone_out]`.
    pub policy: Vec<Verdict>,
    /// Number of rules.
    pub rules: usize,
    /// The compiled rules, in order (a reload keeps the hit count of a rule that stays
    /// unchanged at its place).
    pub list: Vec<firewall::Rule>,
    /// Per zone pair MSS clamp (0: none), `[zone_in * zones + zone_out]`.
    pub mss: Vec<u16>,
}

/// Everything the stateful path reads.
pub struct SecTables {
    /// Zone names by id.
    pub zones: Vec<String>,
    /// Zone id of each domain.
    pub zone_of: Vec<u8>,
    /// Conntrack timeouts.
    pub timeouts: Timeouts,
    /// Connections per worker.
    pub capacity: u32,
    /// `[conntrack] tcp_liberal`: TCP segments outside the window pass.
    pub tcp_liberal: bool,
    /// Source NAT rules in order.
    pub snat: Vec<SnatRule>,
    /// Every pool address.
    pub pool_addrs: Vec<u32>,
    /// Pool address -> (index, owning rule).
    pub pool_index: HashMap<u32, (u16, u16)>,
    /// Port forwards: (proto, external address, port) -> (inside address, port).
    pub forwards: HashMap<(u8, u32, u16), (u32, u16)>,
    /// The inside ends of the port forwards (proto, address, port).
    pub forward_targets: HashSet<(u8, u32, u16)>,
    /// The firewall, if configured.
    pub fw: Option<FwTables>,
    /// Number of workers (pool slices).
    pub workers: u16,
    /// The process hash key (for [`SecTables::owner`] and the mappings), copied at compile.
    key: crate::hash::Key,
}

impl std::fmt::Debug for SecTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecTables")
            .field("zones", &self.zones)
            .field("snat", &self.snat)
            .field("forwards", &self.forwards.len())
            .finish()
    }
}

/// What the firewall decided for a new connection, by which rule (None: a zone policy or a
/// port forward), and the slot of its hit counter ([`SecTables::fw_slots`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FwDecision {
    /// The verdict.
    pub verdict: Verdict,
    /// The rule that decided, by its index in `[[firewall.rule]]`.
    pub rule: Option<u32>,
    /// Hit counter slot: the rule's index; after the rules, one per zone pair
    /// (`zone_in * zones + zone_out`), then one for port forwards no rule matched.
    pub slot: usize,
}

impl SecTables {
    /// Compiles the stateful part of a validated config (None when nothing is stateful).
    pub fn compile(cfg: &Valid<Config>) -> Result<Option<SecTables>, ConfigError> {
        if !cfg.stateful() {
            return Ok(None);
        }
        let zones = cfg.zones();
        let zid = |name: &str| zones.iter().position(|z| z == name).unwrap_or(0) as u8;
        let zone_of = cfg.bridges.iter().map(|b| zid(b.zone.as_deref().unwrap_or(config::DEFAULT_ZONE))).collect();
        let c = &cfg.conntrack;
        let s = |x: u32| u64::from(x) * 1000;
        let timeouts = Timeouts {
            tcp_established_ms: s(c.tcp_established),
            tcp_transitory_ms: s(c.tcp_transitory),
            udp_ms: s(c.udp),
            icmp_ms: s(c.icmp),
            other_ms: s(c.other),
        };
        let mut pool_addrs = vec![];
        let mut pool_index = HashMap::new();
        let mut snat = vec![];
        if let Some(n) = &cfg.nat {
            for (i, r) in n.snat.iter().enumerate() {
                let mut addrs = vec![];
                for p in &r.pool {
                    let (a, b) = config::addr_range(p).map_err(|e| ConfigError {
                        file: None,
                        line: None,
                        key: format!("nat.snat[{i}].pool"),
                        reason: e,
                    })?;
                    for x in a..=b {
                        let idx = pool_addrs.len() as u16;
                        pool_addrs.push(x);
                        pool_index.insert(x, (idx, i as u16));
                        addrs.push(idx);
                    }
                }
                let ports = config::port_range(&r.ports).unwrap_or((1024, 65535));
                snat.push(SnatRule {
                    from: r.from.clone(),
                    zone: zid(&r.zone),
                    addrs,
                    ports,
                    on_exhaustion: r.on_exhaustion,
                    filtering: r.filtering,
                    limits: hosts::Limits {
                        conns: r.max_connections_per_host,
                        new_per_sec: r.max_new_per_second_per_host,
                        ports: r.max_ports_per_host,
                    },
                });
            }
        }
        let mut forwards = HashMap::new();
        let mut forward_targets = HashSet::new();
        for f in cfg.nat.iter().flat_map(|n| &n.forward) {
            let p = config::proto_number(&f.proto).unwrap_or(6);
            let to_port = f.to_port.unwrap_or(f.port);
            forwards.insert((p, u32::from(f.address), f.port), (u32::from(f.to), to_port));
            forward_targets.insert((p, u32::from(f.to), to_port));
        }
        let fw = match &cfg.firewall {
            None => None,
            Some(f) => {
                let nz = zones.len();
                let mut policy = vec![f.default; nz * nz];
                let mut mss = vec![0u16; nz * nz];
                for p in &f.policy {
                    let at = usize::from(zid(&p.from)) * nz + usize::from(zid(&p.to));
                    policy[at] = p.action;
                    mss[at] = p.mss.unwrap_or(0);
                }
                let rules: Vec<firewall::Rule> = f.rule.iter().map(|r| compile_rule(r, &zid)).collect();
                let classifier = Classifier::compile(&rules).map_err(|e| ConfigError {
                    file: None,
                    line: None,
                    key: "firewall.rule".into(),
                    reason: format!("{e:?}"),
                })?;
                Some(FwTables { classifier, policy, rules: rules.len(), list: rules, mss })
            }
        };
        Ok(Some(SecTables {
            zones,
            zone_of,
            timeouts,
            capacity: c.capacity,
            tcp_liberal: c.tcp_liberal,
            snat,
            pool_addrs,
            pool_index,
            forwards,
            forward_targets,
            fw,
            workers: cfg.dataplane.workers.len().max(1) as u16,
            key: crate::hash::Key::process(),
        }))
    }

    /// The zone of domain `d`.
    #[inline]
    pub fn zone(&self, d: u16) -> u8 {
        self.zone_of.get(usize::from(d)).copied().unwrap_or(0)
    }

    /// True if `a` is a pool address.
    #[inline]
    pub fn is_pool(&self, a: u32) -> bool {
        !self.pool_index.is_empty() && self.pool_index.contains_key(&a)
    }

    /// The zone the traffic of pool address `a`'s rule leaves into, if `a` is a pool address.
    #[inline]
    pub fn pool_zone(&self, a: u32) -> Option<u8> {
        if self.pool_index.is_empty() {
            return None;
        }
        let &(_, r) = self.pool_index.get(&a)?;
        self.snat.get(usize::from(r)).map(|r| r.zone)
    }

    /// The MSS that TCP connections opened from zone `zin` to `zout` are clamped to (0: none).
    #[inline]
    pub fn mss(&self, zin: u8, zout: u8) -> u16 {
        let Some(fw) = &self.fw else { return 0 };
        let nz = self.zones.len();
        fw.mss.get(usize::from(zin) * nz + usize::from(zout)).copied().unwrap_or(0)
    }

    /// The paired pool choice (RFC 4787 REQ-2) for inside address `addr` among `n` rule
    /// addresses: an index below `n`, keyed with the process key.
    #[inline]
    pub fn paired(&self, addr: u32, n: usize) -> usize {
        (self.key.u32(addr) >> 32) as usize % n.max(1)
    }

    /// True if `a` is inside a source NAT rule's `from` prefixes.
    #[inline]
    fn inside(&self, a: u32) -> bool {
        self.snat.iter().any(|r| r.from.iter().any(|p| p.contains(a)))
    }

    /// The firewall's decision for a new connection `k` (after destination NAT) from zone
    /// `zin` to `zout`; `icmp_type` for ICMP. Without a firewall everything is accepted.
    /// A port-forwarded connection that no rule matches is accepted: the forward is the
    /// operator's permission.
    pub fn firewall(&self, k: &FlowKey, zin: u8, zout: u8, icmp_type: u8, dnat: bool) -> FwDecision {
        let Some(fw) = &self.fw else { return FwDecision { verdict: Verdict::Accept, rule: None, slot: 0 } };
        let tcp_udp = k.proto == 6 || k.proto == 17;
        let q = firewall::Query {
            zone_in: zin,
            zone_out: zout,
            src: k.src,
            dst: k.dst,
            proto: k.proto,
            sport: if tcp_udp { k.sport } else { 0 },
            dport: if tcp_udp { k.dport } else { 0 },
            icmp_type,
        };
        if let Some(r) = fw.classifier.classify(&q) {
            let verdict = match fw.classifier.action(r) {
                firewall::Action::Accept => Verdict::Accept,
                firewall::Action::Drop => Verdict::Drop,
                firewall::Action::Reject => Verdict::Reject,
            };
            return FwDecision { verdict, rule: Some(r), slot: r as usize };
        }
        if dnat {
            return FwDecision { verdict: Verdict::Accept, rule: None, slot: self.fw_forward_slot() };
        }
        let pair = usize::from(zin) * self.zones.len() + usize::from(zout);
        FwDecision { verdict: fw.policy[pair], rule: None, slot: self.fw_policy_slot(zin, zout) }
    }

    /// The hit counter slot of the policy of zone pair (`zin`, `zout`).
    pub fn fw_policy_slot(&self, zin: u8, zout: u8) -> usize {
        let rules = self.fw.as_ref().map_or(0, |fw| fw.rules);
        rules + usize::from(zin) * self.zones.len() + usize::from(zout)
    }

    /// The hit counter slot of port forwards accepted without a rule (the last one).
    pub fn fw_forward_slot(&self) -> usize {
        self.fw_policy_slot(0, 0) + self.zones.len() * self.zones.len()
    }

    /// Number of firewall hit counters (0 without a firewall): one per rule, one per zone
    /// pair's policy, one for port forwards no rule matched ([`FwDecision::slot`]).
    pub fn fw_slots(&self) -> usize {
        if self.fw.is_some() {
            self.fw_forward_slot() + 1
        } else {
            0
        }
    }

    /// The source NAT rule for a new connection from `src` leaving into zone `zout`
    /// (`hairpin`: it was port-forwarded back into the zone it came from, RFC 4787 REQ-9).
    pub fn snat_rule(&self, src: u32, zout: u8, hairpin: bool) -> Option<usize> {
        self.snat.iter().position(|r| (r.zone == zout || hairpin) && r.from.iter().any(|p| p.contains(src)))
    }

    /// The worker that owns the connection of a packet with tuple `k` entering from zone
    /// `zin`: a function of the packet alone, the same for both directions of a
    /// connection and for every connection of one inside endpoint (so endpoint-independent
    /// mappings live on one worker):
    /// - a protocol without ports (address-only NAT): worker 0;
    /// - to a pool address and a pool port: the port's slice owner, unless the sender is
    ///   inside a source NAT prefix (hairpinning: the sender's own mapping decides);
    /// - to a port forward: a hash of the outside client's endpoint (the source);
    /// - from a port forward's inside end: a hash of the client's endpoint (the destination);
    /// - from a source NAT prefix: a hash of the inside endpoint (the source);
    /// - anything else: a symmetric hash of both endpoints.
    ///
    /// The hashes are keyed with the process key (the same on every worker), so a sender
    /// cannot choose endpoints that all land on one worker.
    pub fn owner(&self, k: &FlowKey) -> u16 {
        let n = u32::from(self.workers);
        if n <= 1 {
            return 0;
        }
        if !matches!(k.proto, 1 | 6 | 17) {
            return 0;
        }
        let ep = |a: u32, p: u16| -> u32 { (self.key.word(u64::from(a) << 16 | u64::from(p)) >> 32) as u32 };
        if self.is_pool(k.dst) {
            if self.forwards.contains_key(&(k.proto, k.dst, k.dport)) {
                return (ep(k.src, k.sport) % n) as u16;
            }
            if !self.inside(k.src) {
                return (u32::from(k.dport) % n) as u16;
            }
            return (ep(k.src, k.sport) % n) as u16;
        }
        if self.forward_targets.contains(&(k.proto, k.src, k.sport)) {
            return (ep(k.dst, k.dport) % n) as u16;
        }
        if self.inside(k.src) {
            return (ep(k.src, k.sport) % n) as u16;
        }
        let (a, b) = (ep(k.src, k.sport), ep(k.dst, k.dport));
        ((a ^ b) % n) as u16
    }
}

fn compile_rule(r: &config::Rule, zid: &dyn Fn(&str) -> u8) -> firewall::Rule {
    let range = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| config::port_range(s).ok())
            .map(|(lo, hi)| firewall::Range { lo: u32::from(lo), hi: u32::from(hi) })
    };
    firewall::Rule {
        zone_in: r.from.as_deref().map(zid),
        zone_out: r.to.as_deref().map(zid),
        src: r.src.iter().map(|p| (p.addr, p.len)).collect(),
        dst: r.dst.iter().map(|p| (p.addr, p.len)).collect(),
        proto: r.proto.as_deref().and_then(|p| config::proto_number(p).ok()),
        sport: range(&r.sport),
        dport: range(&r.dport),
        icmp_type: r.icmp_type,
        action: match r.action {
            Verdict::Accept => firewall::Action::Accept,
            Verdict::Drop => firewall::Action::Drop,
            Verdict::Reject => firewall::Action::Reject,
        },
    }
}

/// Per-connection NAT data kept in the connection table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatData {
    /// The source NAT mapping this connection holds a reference on.
    pub map: u32,
    /// `TRANSLATED`, `SNAT`, `DNAT`, `HAIRPIN` bits.
    pub flags: u8,
    /// MSS the connection's SYN and SYN-ACK segments are clamped to (0: none).
    pub mss: u16,
}

impl NatData {
    /// Source-NATed without a port mapping (address-only: GRE, ESP, ...).
    #[inline]
    pub fn address_only(&self) -> bool {
        self.map == Self::NO_MAP && self.flags & Self::SNAT != 0
    }

    /// No mapping.
    pub const NO_MAP: u32 = u32::MAX;
    /// The two directions differ: packets are rewritten.
    pub const TRANSLATED: u8 = 1;
    /// Source NAT applied.
    pub const SNAT: u8 = 2;
    /// Destination NAT (a port forward) applied.
    pub const DNAT: u8 = 4;
    /// Counted in the worker's per-host table ([`hosts::Hosts`]) under `orig.src`.
    pub const HOST: u8 = 8;
    /// Recorded as a peer of its mapping ([`filter::Peers`], address-dependent filtering).
    pub const PEER: u8 = 16;
    /// From inside to another inside host's mapping: translated packets of the original
    /// direction are looked up once more at the mapping (RFC 4787 REQ-9).
    pub const HAIRPIN: u8 = 32;
}

impl Default for NatData {
    fn default() -> Self {
        NatData { map: Self::NO_MAP, flags: 0, mss: 0 }
    }
}
