//! Counters and drop reasons.
//!
//! Drop reasons are declared once in [`drop_reasons!`], which yields the enum, its
//! kebab-case names (shown in counters and by `vnfctl`) and one-line descriptions.
//! Counters live in per-worker, cache-padded slots; only the owning worker writes them
//! (a plain load + store, no locked instruction), any thread may read them, and readers sum
//! the slots of all workers.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! drop_reasons {
    ($( $variant:ident => $name:literal, $descr:literal; )*) => {
        /// Why a packet was dropped. Every drop in the dataplane is counted under one of these.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason { $( #[doc = $descr] $variant, )* }

        impl DropReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            /// Number of reasons.
            pub const COUNT: usize = Self::ALL.len();
            /// The kebab-case name used in counters, traces and the CLI.
            pub const fn name(self) -> &'static str {
                match self { $(DropReason::$variant => $name,)* }
            }
            /// A one-line description.
            pub const fn description(self) -> &'static str {
                match self { $(DropReason::$variant => $descr,)* }
            }
            /// Index into counter arrays.
            pub const fn index(self) -> usize { self as usize }
        }
    };
}

drop_reasons! {
    TxFull => "tx-full", "the egress queue did not take the packet";
    NoForward => "no-forward", "the ingress port has no forwarding (no cross-connect or stage)";
    PortDown => "port-down", "received on or sent to a port an operator set down (vnfctl port NAME down)";
    MultiSegment => "multi-segment", "a chained mbuf reached a stage that needs contiguous data";
    Malformed => "malformed", "the packet could not be parsed";
    NoMbuf => "no-mbuf", "no mbuf for a copy (flooding) or a generated packet";
    EmitOverflow => "emit-overflow", "a burst produced more packets (copies, generated, released) than the worker's frame holds";
    BadSrcMac => "bad-src-mac", "source MAC is multicast, broadcast or zero";
    LinkLocalDst => "link-local-dst", "destination is an IEEE 802.1D link-local address (STP, LACP, LLDP)";
    VlanNotAllowed => "vlan-not-allowed", "the frame's VLAN is not allowed on the ingress port";
    UntaggedNotAllowed => "untagged-not-allowed", "untagged frame on a trunk without a native VLAN";
    SamePort => "same-port", "the destination MAC is behind the ingress port";
    FloodEmpty => "flood-empty", "a flooded frame had no port to go to but the ingress";
    L3Unsupported => "l3-unsupported", "a frame to the gateway MAC that is neither IPv4 nor ARP";
    Ipv4BadChecksum => "ipv4-bad-checksum", "IPv4 header checksum does not verify";
    NotRoutable => "not-routable", "destination is multicast, broadcast or a network address";
    LocalUnhandled => "local-unhandled", "to a gateway or VTEP address and neither ICMP echo, UDP nor TCP (e.g. another ICMP type)";
    PortUnreachable => "port-unreachable", "UDP to a gateway or VTEP address (ICMP port unreachable sent)";
    ReassTableFull => "reass-table-full", "a fragment to an own address found every reassembly context busy";
    ReassOverlap => "reass-overlap", "a fragment overlapped one already received: the datagram was discarded";
    ReassInvalid => "reass-invalid", "a fragment past 65535 bytes, of a bad length, or contradicting the datagram's end: the datagram was discarded";
    ReassTimeout => "reass-timeout", "a datagram to an own address not complete in time (ICMP time exceeded sent if fragment zero came)";
    LocalTcpReset => "local-tcp-reset", "TCP to a gateway or VTEP address (RST sent)";
    NoRoute => "no-route", "no route to the destination (ICMP net unreachable sent)";
    TtlExceeded => "ttl-exceeded", "TTL ran out (ICMP time exceeded sent)";
    MartianSource => "martian-source", "source address is this network, loopback, multicast, class E or a broadcast address (RFC 1812 5.3.7)";
    UrpfFailed => "urpf-failed", "the route back to the source does not lead into the ingress bridge (strict uRPF) or does not exist (loose), RFC 3704";
    MtuExceeded => "mtu-exceeded", "a bridged frame larger than the egress port's MTU";
    FragNeeded => "frag-needed", "a routed packet with DF set larger than the next hop's MTU (ICMP fragmentation needed sent)";
    ArpQueueFull => "arp-queue-full", "too many packets wait for the same unresolved neighbour";
    ArpFailed => "arp-failed", "the next hop did not answer ARP";
    NeighborTableFull => "neighbor-table-full", "no room in the neighbour table";
    NeighFlushed => "neigh-flushed", "waited for a neighbour entry that `vnfctl neigh flush` removed";
    ArpNotOurs => "arp-not-ours", "an ARP message to the gateway MAC for another address";
    UnderlayNotOurs => "underlay-not-ours", "underlay traffic that is not VXLAN or ARP for the local VTEP";
    VxlanBadChecksum => "vxlan-bad-checksum", "VXLAN outer UDP checksum (non-zero) does not verify";
    VxlanBadFlags => "vxlan-bad-flags", "VXLAN header without the I flag";
    VxlanUnknownVni => "vxlan-unknown-vni", "VXLAN VNI with no bridge";
    VxlanUnknownVtep => "vxlan-unknown-vtep", "VXLAN from a source that is not a remote VTEP of the VNI";
    VxlanInnerTagged => "vxlan-inner-tagged", "VXLAN inner frame carries an 802.1Q tag";
    VxlanSplitHorizon => "vxlan-split-horizon", "a frame from the overlay whose destination is in the overlay";
    VxlanMtuExceeded => "vxlan-mtu-exceeded", "the encapsulated packet would exceed the underlay MTU";
    CtTableFull => "ct-table-full", "a new connection found the worker's connection table full";
    CtInvalid => "ct-invalid", "a packet that fits no TCP state or starts no connection (e.g. a stray ACK, an unsolicited echo or timestamp reply)";
    CtFragTableFull => "ct-frag-table-full", "a fragmented datagram on the stateful path found the fragment table full";
    CtFragParkFull => "ct-frag-park-full", "a fragment that came before its first found no room to wait";
    CtFragTimeout => "ct-frag-timeout", "a fragment whose first fragment never came (or was dropped) in time";
    CtOutOfWindow => "ct-out-of-window", "a TCP segment outside its connection's window (netfilter's tcp_in_window; let through with `tcp_liberal`)";
    CtRstOutOfWindow => "ct-rst-out-of-window", "a TCP RST outside its connection's window, e.g. a spoofed one: the connection is kept (RFC 5961 3)";
    CtFragment => "ct-fragment", "an IPv4 fragment on the stateful path (no reassembly)";
    CtUntracked => "ct-untracked", "an ICMP message that is neither a query (echo, timestamp) nor an error, or an ICMP error about no known connection";
    NatPoolExhausted => "nat-pool-exhausted", "no free external port in the worker's slice of the pool";
    NatNoMapping => "nat-no-mapping", "to a NAT pool address but matching no connection, mapping or port forward";
    NatFiltered => "nat-filtered", "to a mapping's external address and port from an endpoint its rule's filtering does not let in";
    NatHostConnLimit => "nat-host-conn-limit", "a new connection from an inside address that holds max_connections_per_host";
    NatHostRateLimit => "nat-host-rate-limit", "a new connection from an inside address past max_new_per_second_per_host";
    NatHostPortLimit => "nat-host-port-limit", "a new mapping for an inside address that holds max_ports_per_host";
    NatUnsupportedProto => "nat-unsupported-proto", "source NAT of DCCP or UDP-Lite (ports and a pseudo-header checksum, not translated)";
    NatAddrInUse => "nat-addr-in-use", "address-only NAT: every pool address tried already carries this protocol to this remote for another inside host";
    IcmpBadChecksum => "icmp-bad-checksum", "an ICMP error about a translated connection whose checksum does not verify (RFC 5508 REQ-3)";
    FwDrop => "fw-drop", "a new connection dropped by a firewall rule or zone policy";
    FwReject => "fw-reject", "a new connection rejected by a firewall rule or zone policy (RST or ICMP sent)";
    HandoffFull => "handoff-full", "the owner worker's handoff ring was full";
}

macro_rules! events {
    ($( $variant:ident => $name:literal, $descr:literal; )*) => {
        /// Things that happen to packets other than drops, counted per worker.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Event { $( #[doc = $descr] $variant, )* }

        impl Event {
            /// Every event, in declaration order.
            pub const ALL: &'static [Event] = &[$(Event::$variant,)*];
            /// Number of events.
            pub const COUNT: usize = Self::ALL.len();
            /// Kebab-case name.
            pub const fn name(self) -> &'static str {
                match self { $(Event::$variant => $name,)* }
            }
            /// Index into counter arrays.
            pub const fn index(self) -> usize { self as usize }
        }
    };
}

events! {
    Flooded => "flooded", "frames flooded in a bridge domain";
    FloodCopies => "flood-copies", "copies made for flooding";
    FdbLearned => "fdb-learned", "MACs learned";
    FdbMoved => "fdb-moved", "learned MACs that moved to another port";
    FdbLimit => "fdb-limit", "MACs not learned because the domain's limit was reached";
    FdbFull => "fdb-full", "MACs not learned because the table was full";
    FdbAged => "fdb-aged", "learned MACs removed after the aging time without traffic";
    Routed => "routed", "IPv4 packets routed";
    ArpRequestSent => "arp-request-sent", "ARP requests sent for next hops";
    ArpReplySent => "arp-reply-sent", "ARP replies sent for gateway addresses";
    ArpLearned => "arp-learned", "neighbours resolved or refreshed from ARP";
    ArpShared => "arp-shared", "copies of a received ARP handed to the other workers, whose neighbour tables learn from it";
    ArpProbeSent => "arp-probe-sent", "unicast ARP requests re-validating a stale neighbour (RFC 1122 2.3.2.1)";
    NeighProbeFailed => "neigh-probe-failed", "neighbours removed because their unicast probes went unanswered";
    EchoReplySent => "echo-reply-sent", "ICMP echo replies sent by a gateway";
    IcmpErrorSent => "icmp-error-sent", "ICMP errors sent (time exceeded, unreachable)";
    Fragmented => "fragmented", "routed packets fragmented to the next hop's MTU";
    CtFragFollowed => "ct-frag-followed", "fragments after the first translated as their first fragment was";
    FragmentKept => "fragment-kept", "fragments to an own address copied into reassembly (their buffers freed)";
    Reassembled => "reassembled", "datagrams to an own address reassembled";
    FragmentsSent => "fragments-sent", "fragments made of routed packets";
    IcmpRateLimited => "icmp-rate-limited", "ICMP errors not sent because of the per-second limit";
    VxlanDecap => "vxlan-decap", "VXLAN packets decapsulated";
    VxlanEncap => "vxlan-encap", "frames encapsulated toward a remote VTEP";
    VxlanReplicated => "vxlan-replicated", "flooded frames sent to a remote VTEP (head-end replication)";
    LocalConsumed => "local-consumed", "packets for the appliance itself, consumed (ARP replies)";
    CtNew => "ct-new", "connections created";
    CtRstInexact => "ct-rst-inexact", "TCP RSTs in the window but not at the expected sequence number: let through, the state kept for the challenge ACK (RFC 5961 3.2)";
    CtLiberal => "ct-liberal", "TCP segments outside the window let through by `tcp_liberal`";
    CtExpired => "ct-expired", "connections removed after their idle timeout";
    NatMappingNew => "nat-mapping-new", "new external (address, port) mappings";
    NatTranslated => "nat-translated", "packets whose addresses or ports were translated";
    NatInboundNew => "nat-inbound-new", "connections opened from outside to a mapping its filtering lets in";
    IcmpErrorTranslated => "icmp-error-translated", "ICMP errors matched to a connection and translated with their embedded header (RFC 5508)";
    FwRejectSent => "fw-reject-sent", "TCP resets and ICMP unreachables sent for rejected connections";
    HandoffOut => "handoff-out", "packets handed to the worker that owns their connection";
    HandoffIn => "handoff-in", "packets received from another worker's handoff";
    EventLogLost => "event-log-lost", "NAT/firewall log events lost because the worker's event ring was full";
}

/// A counter written by one thread and read by any.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this (single writer).
    #[inline(always)]
    pub fn add(&self, n: u64) {
        // Single writer: load + store is exact and avoids a locked read-modify-write.
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
    /// Sets a gauge. Only the owning worker may call this.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one port as seen by one worker.
#[derive(Default, Debug)]
pub struct PortCounters {
    /// Packets received from the port.
    pub rx: Counter,
    /// Packets handed to the port and accepted by it.
    pub tx: Counter,
    /// Packets the port's tx queue refused (also counted as `tx-full` drops).
    pub tx_full: Counter,
    /// Tx bursts offered again after the queue took only part (`tx_retries`).
    pub tx_retries: Counter,
}

/// Tunnel counters of one bridge domain (its VNI) or one remote VTEP, per worker.
#[derive(Default, Debug)]
pub struct TunnelCounters {
    /// Frames encapsulated toward the overlay.
    pub encap: Counter,
    /// Frames decapsulated from the overlay.
    pub decap: Counter,
}

/// The counters of one worker. Allocated once per worker, cache padded.
#[derive(Debug)]
pub struct WorkerCounters {
    /// Per port, indexed like the config's `[[port]]` list.
    pub ports: Box<[PortCounters]>,
    /// Per bridge domain (VXLAN traffic of its VNI), indexed like `[[bridge]]`.
    pub domains: Box<[TunnelCounters]>,
    /// Per remote VTEP, indexed like the switch tables' sorted VTEP list.
    pub vteps: Box<[TunnelCounters]>,
    /// Per drop reason, indexed by [`DropReason::index`].
    pub drops: [Counter; DropReason::COUNT],
    /// Per event, indexed by [`Event::index`].
    pub events: [Counter; Event::COUNT],
    /// Loop iterations.
    pub loops: Counter,
    /// Loop iterations that received at least one packet.
    pub busy_loops: Counter,
    /// TSC cycles spent in iterations that received at least one packet.
    pub busy_cycles: Counter,
    /// Packets processed (received by this worker).
    pub packets: Counter,
    /// TSC at the start of the first polling round that received packets (0: none yet).
    pub first_rx_tsc: Counter,
    /// TSC at the start of the latest polling round that received packets.
    pub last_rx_tsc: Counter,
    /// Gauge: live connections in this worker's table.
    pub ct_entries: Counter,
    /// Gauge: live NAT mappings of this worker.
    pub nat_mappings: Counter,
    /// Gauge: entries in this worker's FDB.
    pub fdb_entries: Counter,
    /// The config generation this worker runs (written when it adopts a snapshot).
    pub generation: Counter,
}

impl WorkerCounters {
    /// Zeroed counters for `ports` ports, padded against false sharing.
    pub fn new(ports: usize) -> CachePadded<WorkerCounters> {
        Self::with_tunnels(ports, 0, 0)
    }

    /// Zeroed counters for `ports` ports, `domains` bridge domains and `vteps` remote VTEPs.
    pub fn with_tunnels(ports: usize, domains: usize, vteps: usize) -> CachePadded<WorkerCounters> {
        CachePadded::new(WorkerCounters {
            ports: (0..ports).map(|_| PortCounters::default()).collect(),
            domains: (0..domains).map(|_| TunnelCounters::default()).collect(),
            vteps: (0..vteps).map(|_| TunnelCounters::default()).collect(),
            drops: std::array::from_fn(|_| Counter::default()),
            events: std::array::from_fn(|_| Counter::default()),
            loops: Counter::default(),
            busy_loops: Counter::default(),
            busy_cycles: Counter::default(),
            packets: Counter::default(),
            first_rx_tsc: Counter::default(),
            last_rx_tsc: Counter::default(),
            ct_entries: Counter::default(),
            nat_mappings: Counter::default(),
            fdb_entries: Counter::default(),
            generation: Counter::default(),
        })
    }

    /// Moves the per-port, per-domain and per-VTEP counters to their indices in a new
    /// config: `map[old] = Some(new)`, or None when the object is gone (its counts are
    /// discarded); objects that are new start at zero. Run by the owning worker.
    pub fn remap(&self, ports: &[Option<u16>], domains: &[Option<u16>], vteps: &[Option<u16>]) {
        fn perm<T>(slots: &[T], map: &[Option<u16>], get: impl Fn(&T) -> Vec<u64>, set: impl Fn(&T, &[u64])) {
            if map.iter().enumerate().all(|(i, m)| *m == Some(i as u16)) {
                return;
            }
            let old: Vec<Vec<u64>> = slots.iter().map(&get).collect();
            let width = old.first().map_or(0, Vec::len);
            for s in slots {
                set(s, &vec![0; width]);
            }
            for (i, m) in map.iter().enumerate() {
                if let (Some(n), Some(v)) = (m, old.get(i)) {
                    if let Some(s) = slots.get(usize::from(*n)) {
                        set(s, v);
                    }
                }
            }
        }
        perm(
            &self.ports,
            ports,
            |p| vec![p.rx.get(), p.tx.get(), p.tx_full.get()],
            |p, v| {
                p.rx.set(v[0]);
                p.tx.set(v[1]);
                p.tx_full.set(v[2]);
            },
        );
        let tun_get = |t: &TunnelCounters| vec![t.encap.get(), t.decap.get()];
        let tun_set = |t: &TunnelCounters, v: &[u64]| {
            t.encap.set(v[0]);
            t.decap.set(v[1]);
        };
        perm(&self.domains, domains, tun_get, tun_set);
        perm(&self.vteps, vteps, tun_get, tun_set);
    }

    /// Counts `n` packets dropped for `reason`.
    #[inline(always)]
    pub fn drop_n(&self, reason: DropReason, n: u64) {
        self.drops[reason.index()].add(n);
    }

    /// Counts one `event`.
    #[inline(always)]
    pub fn event(&self, e: Event) {
        self.events[e.index()].add(1);
    }

    /// Counts `n` of `e`.
    #[inline]
    pub fn event_n(&self, e: Event, n: u64) {
        self.events[e.index()].add(n);
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot {
            ports: self
                .ports
                .iter()
                .map(|p| PortSnapshot {
                    rx: p.rx.get(),
                    tx: p.tx.get(),
                    tx_full: p.tx_full.get(),
                    tx_retries: p.tx_retries.get(),
                })
                .collect(),
            drops: self.drops.iter().map(Counter::get).collect(),
            events: self.events.iter().map(Counter::get).collect(),
            domains: self.domains.iter().map(|t| (t.encap.get(), t.decap.get())).collect(),
            vteps: self.vteps.iter().map(|t| (t.encap.get(), t.decap.get())).collect(),
            loops: self.loops.get(),
            busy_loops: self.busy_loops.get(),
            busy_cycles: self.busy_cycles.get(),
            packets: self.packets.get(),
            first_rx_tsc: self.first_rx_tsc.get(),
            last_rx_tsc: self.last_rx_tsc.get(),
            ct_entries: self.ct_entries.get(),
            nat_mappings: self.nat_mappings.get(),
            fdb_entries: self.fdb_entries.get(),
            generation: self.generation.get(),
        }
    }
}

/// A copy of one port's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PortSnapshot {
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets refused by the tx queue.
    pub tx_full: u64,
    /// Tx retries.
    pub tx_retries: u64,
}

/// A copy of one worker's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// Per port.
    pub ports: Vec<PortSnapshot>,
    /// Per drop reason.
    pub drops: Vec<u64>,
    /// Per event.
    pub events: Vec<u64>,
    /// Per domain: (encap, decap).
    pub domains: Vec<(u64, u64)>,
    /// Per remote VTEP: (encap, decap).
    pub vteps: Vec<(u64, u64)>,
    /// Loop iterations.
    pub loops: u64,
    /// Iterations with packets.
    pub busy_loops: u64,
    /// Cycles in iterations with packets.
    pub busy_cycles: u64,
    /// Packets processed.
    pub packets: u64,
    /// TSC of the first round with packets (0: none); the sum's is the earliest.
    pub first_rx_tsc: u64,
    /// TSC of the latest round with packets; the sum's is the latest.
    pub last_rx_tsc: u64,
    /// Live connections.
    pub ct_entries: u64,
    /// Live NAT mappings.
    pub nat_mappings: u64,
    /// FDB entries.
    pub fdb_entries: u64,
    /// Config generation the worker runs (the sum's is the lowest).
    pub generation: u64,
}

impl WorkerSnapshot {
    /// Busy cycles per packet, or 0 without packets.
    pub fn cycles_per_packet(&self) -> f64 {
        if self.packets == 0 {
            0.0
        } else {
            self.busy_cycles as f64 / self.packets as f64
        }
    }

    /// Drops as (name, count) pairs, zero counts left out.
    pub fn named_drops(&self) -> Vec<(&'static str, u64)> {
        DropReason::ALL.iter().zip(&self.drops).filter(|(_, &n)| n > 0).map(|(r, &n)| (r.name(), n)).collect()
    }

    /// Events as (name, count) pairs, zero counts left out.
    pub fn named_events(&self) -> Vec<(&'static str, u64)> {
        Event::ALL.iter().zip(&self.events).filter(|(_, &n)| n > 0).map(|(e, &n)| (e.name(), n)).collect()
    }

    /// Sum over workers (per port, per reason).
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a WorkerSnapshot>) -> WorkerSnapshot {
        let mut acc = WorkerSnapshot::default();
        let mut first = true;
        for w in items {
            if acc.ports.len() < w.ports.len() {
                acc.ports.resize(w.ports.len(), PortSnapshot::default());
            }
            if acc.drops.len() < w.drops.len() {
                acc.drops.resize(w.drops.len(), 0);
            }
            for (a, p) in acc.ports.iter_mut().zip(&w.ports) {
                a.rx += p.rx;
                a.tx += p.tx;
                a.tx_full += p.tx_full;
                a.tx_retries += p.tx_retries;
            }
            for (a, d) in acc.drops.iter_mut().zip(&w.drops) {
                *a += d;
            }
            if acc.events.len() < w.events.len() {
                acc.events.resize(w.events.len(), 0);
            }
            for (a, d) in acc.events.iter_mut().zip(&w.events) {
                *a += d;
            }
            for (acc_t, w_t) in [(&mut acc.domains, &w.domains), (&mut acc.vteps, &w.vteps)] {
                if acc_t.len() < w_t.len() {
                    acc_t.resize(w_t.len(), (0, 0));
                }
                for (a, d) in acc_t.iter_mut().zip(w_t) {
                    a.0 += d.0;
                    a.1 += d.1;
                }
            }
            acc.loops += w.loops;
            acc.busy_loops += w.busy_loops;
            acc.busy_cycles += w.busy_cycles;
            acc.packets += w.packets;
            if w.first_rx_tsc != 0 && (acc.first_rx_tsc == 0 || w.first_rx_tsc < acc.first_rx_tsc) {
                acc.first_rx_tsc = w.first_rx_tsc;
            }
            acc.last_rx_tsc = acc.last_rx_tsc.max(w.last_rx_tsc);
            acc.ct_entries += w.ct_entries;
            acc.nat_mappings += w.nat_mappings;
            acc.fdb_entries += w.fdb_entries;
            acc.generation = if first { w.generation } else { acc.generation.min(w.generation) };
            first = false;
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remap_moves_counters_with_their_objects_and_zeroes_the_new_ones() {
        let c = WorkerCounters::with_tunnels(4, 2, 2);
        for (i, p) in c.ports.iter().enumerate() {
            p.rx.add(10 * (i as u64 + 1));
            p.tx.add(i as u64 + 1);
        }
        c.domains[1].encap.add(7);
        c.vteps[0].decap.add(5);
        // port 0 gone, 1 -> 0, 2 -> 2, 3 -> 1; a new port lands on 3. Domains swap; VTEP 0 gone.
        c.remap(&[None, Some(0), Some(2), Some(1)], &[Some(1), Some(0)], &[None, Some(0)]);
        let rx: Vec<u64> = c.ports.iter().map(|p| p.rx.get()).collect();
        assert_eq!(rx, vec![20, 40, 30, 0]);
        assert_eq!(c.ports[1].tx.get(), 4);
        assert_eq!((c.domains[0].encap.get(), c.domains[1].encap.get()), (7, 0));
        assert_eq!((c.vteps[0].decap.get(), c.vteps[1].decap.get()), (0, 0));
        // The identity leaves everything alone.
        c.remap(&[Some(0), Some(1), Some(2), Some(3)], &[Some(0), Some(1)], &[Some(0), Some(1)]);
        assert_eq!(c.ports[0].rx.get(), 20);
    }

    #[test]
    fn reason_names_are_unique_kebab_case() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        for n in &names {
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{n}");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        assert_eq!(DropReason::TxFull.name(), "tx-full");
        assert_eq!(DropReason::ALL[DropReason::NoForward.index()], DropReason::NoForward);
    }

    #[test]
    fn counters_sum_over_workers() {
        let a = WorkerCounters::new(2);
        let b = WorkerCounters::new(2);
        a.ports[0].rx.add(5);
        b.ports[0].rx.add(7);
        b.ports[1].tx.add(3);
        a.drop_n(DropReason::TxFull, 2);
        b.drop_n(DropReason::TxFull, 1);
        b.drop_n(DropReason::Malformed, 4);
        let s = WorkerSnapshot::sum([&a.snapshot(), &b.snapshot()]);
        assert_eq!(s.ports[0].rx, 12);
        assert_eq!(s.ports[1].tx, 3);
        assert_eq!(s.named_drops(), vec![("tx-full", 3), ("malformed", 4)]);
    }
}
