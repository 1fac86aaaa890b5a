//! The NAT and firewall event log: what operators (and RFC 6888 §4 for carrier-grade NAT)
//! need to tie an external address and port back to an inside host, and a record of what
//! the firewall refused.
//!
//! Events are made off the per-packet path: only where a new connection is decided (a
//! mapping made, a connection denied) and where a mapping goes (its last connection expired
//! or was flushed, a reload dropped it). The worker pushes a fixed-size [`LogEvent`] into its
//! own bounded ring ([`Ring`], lock-free, no allocation); a thread of vnfd drains every
//! worker's ring and writes the events out: as text lines ([`text`]) to a file or syslog, and
//! as IPFIX NAT event records (RFC 8158) to a collector ([`ipfix`]). A full ring loses the
//! event and counts it (`event-log-lost`); the packet is never held for the log.
//!
//! Invariants:
//! - A mapping's create event is pushed once its first connection is recorded, its delete
//!   event when its last reference goes, so a log that lost nothing holds, at any time,
//!   exactly the live mappings as create events without a later delete.
//! - Destination addresses and ports are zeroed before an event enters the ring unless the
//!   configuration asks for them ([`LogWhat::destinations`]): they never leave the worker
//!   otherwise.
//! - Time is the worker's millisecond clock; the draining thread turns it into wall time.

pub mod ipfix;
pub mod text;

use crossbeam_queue::ArrayQueue;
use std::sync::Arc;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LogKind {
    /// An endpoint-independent mapping (or an address-only binding) was made.
    MappingCreate,
    /// A mapping's last connection went: its external address and port are free again.
    MappingDelete,
    /// The firewall dropped or rejected a new connection.
    FirewallDeny,
}

impl LogKind {
    /// The kebab-case name used in the text log.
    pub const fn name(self) -> &'static str {
        match self {
            LogKind::MappingCreate => "nat-mapping-create",
            LogKind::MappingDelete => "nat-mapping-delete",
            LogKind::FirewallDeny => "fw-deny",
        }
    }
}

/// `rule` of a deny decided by a zone pair's policy, not a rule.
pub const POLICY: u32 = u32::MAX;

/// One event, as a worker records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// The worker's clock, in milliseconds.
    pub ms: u64,
    /// What happened.
    pub kind: LogKind,
    /// IP protocol.
    pub proto: u8,
    /// Deny: rejected (RST or ICMP sent) rather than dropped.
    pub reject: bool,
    /// Deny: ingress zone id.
    pub zone_in: u8,
    /// Deny: egress zone id.
    pub zone_out: u8,
    /// Deny: the firewall rule's index in `[[firewall.rule]]`, or [`POLICY`].
    pub rule: u32,
    /// The inside endpoint of a mapping, the source of a denied connection.
    pub src: u32,
    /// Its port (ICMP: the echo identifier; 0 for protocols without ports).
    pub sport: u16,
    /// A mapping's external address.
    pub ext: u32,
    /// A mapping's external port.
    pub ext_port: u16,
    /// The destination (0 unless destinations are logged): of the connection that made the
    /// mapping, or of the denied one.
    pub dst: u32,
    /// The destination port.
    pub dport: u16,
}

impl LogEvent {
    fn new(kind: LogKind, ms: u64, proto: u8) -> LogEvent {
        LogEvent {
            ms,
            kind,
            proto,
            reject: false,
            zone_in: 0,
            zone_out: 0,
            rule: POLICY,
            src: 0,
            sport: 0,
            ext: 0,
            ext_port: 0,
            dst: 0,
            dport: 0,
        }
    }
}

/// Which events are logged, and whether with their destinations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogWhat {
    /// Mapping create and delete.
    pub mappings: bool,
    /// Firewall denies.
    pub firewall: bool,
    /// Keep destination addresses and ports (off: zeroed in the worker).
    pub destinations: bool,
}

/// A worker's event ring: the worker pushes, the log thread pops.
pub type Ring = ArrayQueue<LogEvent>;

/// A mapping as the log sees it: protocol, inside endpoint, external endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// IP protocol.
    pub proto: u8,
    /// Inside address.
    pub int_addr: u32,
    /// Inside port (0: address-only).
    pub int_port: u16,
    /// External address.
    pub ext_addr: u32,
    /// External port.
    pub ext_port: u16,
}

impl Binding {
    /// An address-only translation (a protocol without ports: GRE, ESP, ...).
    pub fn address_only(proto: u8, inside: u32, external: u32) -> Binding {
        Binding { proto, int_addr: inside, int_port: 0, ext_addr: external, ext_port: 0 }
    }
}

/// A worker's end of the event log (none: nothing is logged).
#[derive(Debug, Default)]
pub struct EventLog {
    ring: Option<Arc<Ring>>,
    what: LogWhat,
    lost: u64,
}

impl EventLog {
    /// Events in `what` go into `ring`.
    pub fn new(ring: Arc<Ring>, what: LogWhat) -> EventLog {
        EventLog { ring: Some(ring), what, lost: 0 }
    }

    /// True when mapping events are logged.
    #[inline]
    pub fn mappings(&self) -> bool {
        self.ring.is_some() && self.what.mappings
    }

    /// True when firewall denies are logged.
    #[inline]
    pub fn firewall(&self) -> bool {
        self.ring.is_some() && self.what.firewall
    }

    /// A mapping made (`create`) or gone, at `now_ms`; `dst` is the destination of the
    /// connection that made it (kept only if destinations are logged).
    pub fn mapping(&mut self, create: bool, now_ms: u64, b: &Binding, dst: (u32, u16)) {
        if !self.mappings() {
            return;
        }
        let kind = if create { LogKind::MappingCreate } else { LogKind::MappingDelete };
        let mut e = LogEvent::new(kind, now_ms, b.proto);
        e.src = b.int_addr;
        e.sport = b.int_port;
        e.ext = b.ext_addr;
        e.ext_port = b.ext_port;
        (e.dst, e.dport) = dst;
        self.push(e);
    }

    /// A new connection from `src:sport` to `dst:dport` denied from zone `zone_in` to
    /// `zone_out` by `rule` (or [`POLICY`]).
    #[allow(clippy::too_many_arguments)]
    pub fn deny(
        &mut self,
        now_ms: u64,
        proto: u8,
        src: (u32, u16),
        dst: (u32, u16),
        zones: (u8, u8),
        rule: u32,
        reject: bool,
    ) {
        if !self.firewall() {
            return;
        }
        let mut e = LogEvent::new(LogKind::FirewallDeny, now_ms, proto);
        (e.src, e.sport) = src;
        (e.dst, e.dport) = dst;
        (e.zone_in, e.zone_out) = zones;
        e.rule = rule;
        e.reject = reject;
        self.push(e);
    }

    #[inline]
    fn push(&mut self, mut e: LogEvent) {
        if !self.what.destinations {
            e.dst = 0;
            e.dport = 0;
        }
        if let Some(r) = &self.ring {
            if r.push(e).is_err() {
                self.lost += 1;
            }
        }
    }

    /// Events lost to a full ring since the last call.
    pub fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Binding {
        Binding { proto: 17, int_addr: 0xc633_640a, int_port: 5000, ext_addr: 0xcb00_7164, ext_port: 5000 }
    }

    #[test]
    fn destinations_are_zeroed_unless_asked() {
        let ring = Arc::new(Ring::new(4));
        let mut log = EventLog::new(ring.clone(), LogWhat { mappings: true, firewall: true, destinations: false });
        log.mapping(true, 7, &b(), (0x0808_0808, 53));
        log.deny(8, 6, (1, 2), (0x0808_0808, 25), (0, 1), 3, true);
        let e = ring.pop().unwrap();
        assert_eq!(
            (e.kind, e.ms, e.src, e.sport, e.ext, e.ext_port, e.dst, e.dport),
            (LogKind::MappingCreate, 7, 0xc633_640a, 5000, 0xcb00_7164, 5000, 0, 0)
        );
        let e = ring.pop().unwrap();
        assert_eq!(
            (e.kind, e.src, e.sport, e.dst, e.dport, e.zone_in, e.zone_out, e.rule, e.reject),
            (LogKind::FirewallDeny, 1, 2, 0, 0, 0, 1, 3, true)
        );
        let mut log = EventLog::new(ring.clone(), LogWhat { mappings: true, firewall: false, destinations: true });
        log.mapping(false, 9, &b(), (0x0808_0808, 53));
        log.deny(8, 6, (1, 2), (3, 4), (0, 1), 3, true);
        let e = ring.pop().unwrap();
        assert_eq!((e.kind, e.dst, e.dport), (LogKind::MappingDelete, 0x0808_0808, 53));
        assert!(ring.pop().is_none(), "denies are off");
    }

    #[test]
    fn a_full_ring_loses_and_counts() {
        let ring = Arc::new(Ring::new(2));
        let mut log = EventLog::new(ring.clone(), LogWhat { mappings: true, ..LogWhat::default() });
        for i in 0..5 {
            log.mapping(true, i, &b(), (0, 0));
        }
        assert_eq!(ring.len(), 2);
        assert_eq!(log.take_lost(), 3);
        assert_eq!(log.take_lost(), 0);
        let mut none = EventLog::default();
        none.mapping(true, 1, &b(), (0, 0));
        assert_eq!(none.take_lost(), 0);
    }
}
