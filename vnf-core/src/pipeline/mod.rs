//! The dataplane as a graph of nodes over a frame of packets (VPP's node graph, Linux's
//! `br_input.c` / `br_forward.c` split by step).
//!
//! A worker puts the packets of a polling round into a [`Frame`], each queued to its first
//! node (`l2-input` on bridge ports, `xconnect` elsewhere), and calls [`Pipeline::run`]. The
//! graph then runs, in a fixed priority order, the first node whose queue is not empty; a
//! node loops over its queue (prefetching what the next packets will touch), decides each
//! packet and queues it to the next node or to an output. No node calls another: this file
//! is the one place that knows the order, and each node's file names the nodes it may send
//! to. The priority order is a topological order of the usual paths, so a frame normally
//! runs every node at most once; the paths that go back (a decapsulated inner frame, an
//! ICMP error sent back out, packets released by an ARP reply) simply make an earlier
//! node's queue non-empty again.
//!
//! ```text
//! l2-input ─► l2-fwd (learn, lookup) ─► l2-output ─► tx
//!    │           ├─► l2-flood ─► l2-output | vxlan4-encap
//!    │           ├─► arp-input ─► l2-output (reply) | l2-flood (broadcast)
//!    │           └─► ip4-input ─► ip4-local | ip4-forward
//!    └─► vxlan4-input (underlay) ─► l2-fwd (inner frame)
//! ip4-input ─► ct-lookup ─► ip4-forward | ct-related | ct-new ─► fw-reject
//! ip4-forward ─► ip4-neigh ─► l2-output | l2-flood | vxlan4-encap | parked for ARP
//!     └─► icmp4-error ─► l2-output
//! vxlan4-encap ─► vxlan4-output ─► tx (underlay)
//! ```
//!
//! Every packet ends in exactly one [`Output`] (tx, handoff, drop with its reason,
//! consumed) and [`Frame::finish`] is the one point that sends, frees and counts.
//!
//! Per worker state ([`State`]): the forwarding database, the neighbour table, the
//! connection table and NAT mappings, the ICMP error budget, one-entry caches and the
//! packet trace. With several workers each learns what it receives: a MAC a worker has not
//! seen is flooded by it, which is correct bridge behaviour and costs copies until every
//! worker has learned it (workers poll disjoint queues; RSS keeps a flow on one worker).

mod frame;
mod node;
mod reload;
mod tables;
pub mod trace;

pub use crate::packet::{flag, PacketMeta};
pub use crate::wire::vxlan::flow_hash;
pub use frame::{Frame, Hop, Next, Output, Parked, Sink};
pub use node::stateful::CtState;
pub use reload::{Adopted, Remap};
pub use tables::{derived_gateway_mac, Role, Tables, NO_DOMAIN, UNDERLAY_IFX};

use crate::buf::{BufAlloc, PacketBuf};
use crate::l2::fdb::{Dest, Fdb, Learn};
use crate::l3::neigh::{NeighDrop, NeighTable, Request, Resolve};
use crate::stats::{DropReason, Event, WorkerCounters};
use crate::wire::vlan::Tag;
use crate::wire::MacAddr;
use trace::Trace;

macro_rules! nodes {
    ($( $variant:ident => $name:literal, $descr:literal; )*) => {
        /// The nodes, in the graph's priority order (see the module documentation).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Node { $( #[doc = $descr] $variant, )* }

        impl Node {
            /// Every node, in priority order.
            pub const ALL: &'static [Node] = &[$(Node::$variant,)*];
            /// Number of nodes.
            pub const COUNT: usize = Self::ALL.len();
            /// The kebab-case name used in counters, traces and the CLI.
            pub const fn name(self) -> &'static str {
                match self { $(Node::$variant => $name,)* }
            }
            /// A one-line description.
            pub const fn description(self) -> &'static str {
                match self { $(Node::$variant => $descr,)* }
            }
        }
    };
}

nodes! {
    Xconnect => "xconnect", "port cross-connect: every packet leaves by the port's peer";
    L2Input => "l2-input", "port role and VLAN admission; parses the frame once into the packet's metadata";
    Vxlan4Input => "vxlan4-input", "underlay port: ARP for the local VTEP, VXLAN decapsulation (RFC 7348)";
    L2Fwd => "l2-fwd", "the bridge: learns the source, then a port, a VTEP, flooding, or the gateway";
    ArpInput => "arp-input", "ARP to a gateway: neighbour learning, replies";
    Ip4Input => "ip4-input", "IPv4 to a gateway MAC: header checks, the flow tuple on the stateful path";
    CtFrag => "ct-frag", "fragments on the stateful path: the first decides, the others follow it (RFC 4787 REQ-14)";
    CtLookup => "ct-lookup", "connection lookup, TCP state, NAT translation of known connections";
    CtRelated => "ct-related", "ICMP errors about a known connection, translated with their quoted header (RFC 5508)";
    CtNew => "ct-new", "new connections: port forwards, firewall, source NAT, then recorded";
    FwReject => "fw-reject", "rejected connections: a TCP RST or an ICMP unreachable";
    Ip4Local => "ip4-local", "IPv4 to an own address: ICMP echo, port unreachable for UDP, RST for TCP";
    Ip4Reass => "ip4-reass", "reassembly of fragments to an own address (RFC 1122 3.3.2), echo replies fragmented back";
    Ip4Forward => "ip4-forward", "routing: address checks, TTL, the route lookup, the next hop's MTU";
    Ip4Frag => "ip4-frag", "fragmentation of a routed packet to the next hop's MTU (RFC 791)";
    Ip4Neigh => "ip4-neigh", "the next hop's MAC (neighbour table or ARP), the Ethernet rewrite, the egress";
    Icmp4Error => "icmp4-error", "ICMP errors back to the sender (RFC 792, RFC 1812 4.3.2)";
    L2Flood => "l2-flood", "a copy to every member port and remote VTEP of the domain";
    L2Output => "l2-output", "egress VLAN tags of the port, then tx";
    Vxlan4Encap => "vxlan4-encap", "VXLAN encapsulation toward a remote VTEP";
    Vxlan4Output => "vxlan4-output", "the underlay next hop of an encapsulated packet";
}

/// What one node cost a worker since the runtime counters were turned on (VPP's `show
/// runtime`): dispatches, packets, and clock cycles spent in the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeRuntime {
    /// Times the node ran (once per frame that had packets for it).
    pub calls: u64,
    /// Packets it processed.
    pub packets: u64,
    /// Clock cycles spent in it (the worker's clock: the TSC in vnfd).
    pub cycles: u64,
}

/// A packet waiting for its next hop's MAC.
#[derive(Debug)]
pub struct Pending<B> {
    /// The packet (TTL already decremented).
    pub pkt: Parked<B>,
    /// The neighbour interface it waits on (a domain, or [`UNDERLAY_IFX`]).
    pub ifx: u16,
    /// Its metadata.
    pub meta: PacketMeta,
}

/// The last source learned, skipped within the same millisecond (the FDB's timestamps have
/// millisecond resolution anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LearnCache {
    key: u64,
    dest: Dest,
    ms: u64,
}

/// The last destination looked up, trusted while the FDB has not changed (`gen`) within
/// the same millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LookupCache {
    key: u64,
    dest: Dest,
    ms: u64,
    gen: u64,
}

/// The last resolved next hop, trusted during the millisecond it was resolved in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NhCache {
    ifx: u16,
    ip: u32,
    mac: MacAddr,
    ms: u64,
}

/// The last routed next hop's rewrite (VPP's adjacency): the Ethernet addresses a packet to
/// it carries, as they go on the wire, and where its MAC was learned. Trusted during the
/// millisecond it was made in while the FDB has not changed; forgotten with the next-hop
/// caches (neighbour changes, timers, reloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AdjCache {
    pub domain: u16,
    pub ip: u32,
    pub ms: u64,
    pub gen: u64,
    /// Destination and source MAC.
    pub macs: [u8; 12],
    pub dest: Option<Dest>,
}

/// The last routed destination's route (ip4-forward): the next hop the tables give it, and
/// the egress domain's MTU, for a destination that passed the address checks. Valid for
/// the tables it was looked up in: forgotten with the next-hop caches (reloads among them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RouteCache {
    pub dst: u32,
    pub nh: tables::NextHop,
    pub mtu: u16,
}

/// One worker's state.
pub struct State<B> {
    /// Forwarding database.
    pub fdb: Fdb,
    /// Neighbour (ARP) table, keyed by domain (and [`UNDERLAY_IFX`] for the underlay).
    pub neigh: NeighTable<Pending<B>>,
    /// Connection tracking and NAT state, when the config is stateful.
    pub ct: Option<Box<CtState>>,
    /// The packet trace.
    pub trace: Trace,
    /// Per-node runtime counters, when turned on ([`State::set_runtime`]).
    runtime: Option<Box<[NodeRuntime; Node::COUNT]>>,
    /// The clock the runtime counters read.
    clock: fn() -> u64,
    icmp_tokens: u32,
    icmp_refill_ms: u64,
    released: Vec<Pending<B>>,
    requests: Vec<Request>,
    failed: Vec<Pending<B>>,
    learn_cache: Option<LearnCache>,
    lookup_cache: Option<LookupCache>,
    nh_cache: Option<NhCache>,
    underlay_cache: Option<NhCache>,
    pub(crate) adj_cache: Option<AdjCache>,
    pub(crate) route_cache: Option<RouteCache>,
    pub(crate) fdb_gen: u64,
    /// Identification of the next outer IPv4 header this worker sends.
    ip_ident: u16,
    /// This worker's index (owner of its NAT port slices).
    worker: u16,
    /// Datagrams to own addresses being reassembled.
    pub(crate) reass: crate::l3::reass::Reassembly,
    /// What the reassembly timers gave up on (reused).
    pub(crate) expired: Vec<crate::l3::reass::Expired>,
    /// Fragmented datagrams crossing the stateful path.
    pub(crate) frags: crate::l3::fragtrack::FragTrack<Pending<B>>,
    /// This frame's first fragments on their way through the stateful nodes (slot, key).
    pub(crate) firsts: Vec<(u16, crate::l3::reass::FragKey)>,
    /// Fragments released or given up by the fragment tracker (reused).
    pub(crate) frag_out: Vec<Pending<B>>,
    /// The NAT/firewall event log's ring (none: nothing is logged).
    pub(crate) log: crate::eventlog::EventLog,
    /// Firewall hit counters by [`crate::nat::FwDecision::slot`].
    pub(crate) fw_hits: Vec<u64>,
}

/// A worker's pipeline: its state and its frame.
pub struct Pipeline<B> {
    st: State<B>,
    frame: Frame<B>,
}

impl<B> std::ops::Deref for Pipeline<B> {
    type Target = State<B>;
    fn deref(&self) -> &State<B> {
        &self.st
    }
}

impl<B> std::ops::DerefMut for Pipeline<B> {
    fn deref_mut(&mut self) -> &mut State<B> {
        &mut self.st
    }
}

/// What every node reads besides the frame and the state.
pub struct Cx<'a, A: BufAlloc> {
    /// The tables of the current snapshot.
    pub t: &'a Tables,
    /// Where generated packets come from.
    pub alloc: &'a A,
    /// The worker's counters.
    pub c: &'a WorkerCounters,
    /// Now, in milliseconds.
    pub now: u64,
}

/// Minimum Ethernet frame without FCS.
const MIN_FRAME: usize = 60;
/// The group bit of a MAC as a u64.
const MCAST_BIT: u64 = 1 << 40;
/// ff:ff:ff:ff:ff:ff as a u64.
const BROADCAST: u64 = 0xffff_ffff_ffff;
/// 01:80:c2:00:00:00 as a u64 (the block is ...:00 to ...:0f).
const LINK_LOCAL: u64 = 0x0180_c200_0000;

impl<B: PacketBuf> Pipeline<B> {
    /// Fresh state sized by `t`, with its static entries installed, for a single worker.
    pub fn new(t: &Tables) -> Self {
        Self::for_worker(t, 0, 32)
    }

    /// Fresh state for worker `worker` (its NAT port slice), with a frame for rx bursts of
    /// up to `burst` packets.
    pub fn for_worker(t: &Tables, worker: u16, burst: usize) -> Self {
        Pipeline { st: State::new(t, worker), frame: Frame::new(Self::frame_size(t, burst)) }
    }

    /// The frame a round of `burst`-packet bursts needs: every packet may be copied to
    /// every port (flooding), release a neighbour's queue, or be cut into fragments.
    pub fn frame_size(t: &Tables, burst: usize) -> usize {
        burst
            * (t.roles.len()
                + t.remote_vteps.len()
                + t.neigh.max_pending
                + t.max_fragments()
                + usize::from(t.workers.max(1))
                + 1)
            + 64
    }

    /// Resizes the frame for `burst` (after a reload; between rounds).
    pub fn resize(&mut self, t: &Tables, burst: usize) {
        let n = Self::frame_size(t, burst);
        if n != self.frame.capacity() && self.frame.is_empty() {
            self.frame = Frame::new(n);
        }
    }

    /// Sends this worker's NAT and firewall events to `log` from now on.
    pub fn set_event_log(&mut self, log: crate::eventlog::EventLog) {
        self.st.log = log;
    }

    /// The firewall hit counters by [`crate::nat::FwDecision::slot`] (empty without a
    /// firewall).
    pub fn firewall_hits(&self) -> &[u64] {
        &self.st.fw_hits
    }

    /// Removes the connections matching `filter` in slots `from..from + n` (a control
    /// flush, done a slice at a time), giving back what they held and logging the mappings
    /// that go with them. Returns how many went.
    pub fn ct_flush(&mut self, filter: &crate::conntrack::Filter, from: u32, n: u32, now_ms: u64) -> usize {
        let st = &mut self.st;
        let Some(ct) = st.ct.as_mut() else { return 0 };
        let ids: Vec<u32> =
            ct.table.iter_range(from, n).filter(|(_, conn)| filter.matches(conn)).map(|(id, _)| id).collect();
        for &id in &ids {
            let conn = ct.table.remove(id);
            ct.forget(&conn, &mut st.log, now_ms);
        }
        ids.len()
    }

    /// A packet received on `in_port`: queued to the port's first node.
    #[inline(always)]
    pub fn rx(&mut self, t: &Tables, in_port: u16, b: B) {
        self.rx_burst(t, in_port, std::iter::once(b));
    }

    /// True when a burst received on `in_port` goes to the cross-connect whole
    /// ([`Pipeline::xconnect`]): the port is no bridge port and no trace is armed.
    #[inline(always)]
    pub fn is_xconnect(&self, t: &Tables, in_port: u16) -> bool {
        !t.bridged.get(usize::from(in_port)).copied().unwrap_or(false) && !self.st.trace.armed()
    }

    /// The `xconnect` node over a whole burst received on `in_port`, decided once, at the
    /// output point: sent by the peer port, or dropped and counted.
    #[inline(always)]
    pub fn xconnect<S: Sink<B>>(
        &mut self,
        t: &Tables,
        c: &WorkerCounters,
        in_port: u16,
        bufs: impl ExactSizeIterator<Item = B>,
        sink: &mut S,
    ) {
        let Some(rt) = self.st.runtime.as_mut() else {
            return node::xconnect::burst(t, c, in_port, bufs, sink);
        };
        let (n, t0) = (bufs.len() as u64, (self.st.clock)());
        node::xconnect::burst(t, c, in_port, bufs, sink);
        let r = &mut rt[Node::Xconnect as usize];
        r.calls += 1;
        r.packets += n;
        r.cycles += (self.st.clock)().wrapping_sub(t0);
    }

    /// A burst received on `in_port`: each packet queued to the port's first node.
    #[inline(always)]
    pub fn rx_burst(&mut self, t: &Tables, in_port: u16, bufs: impl IntoIterator<Item = B>) {
        let bridged = t.bridged.get(usize::from(in_port)).copied().unwrap_or(false);
        let node = if bridged { Node::L2Input } else { Node::Xconnect };
        self.frame.push_all(bufs.into_iter(), PacketMeta::rx(in_port), node);
    }

    /// A packet another worker handed over (this worker owns its connection), as received
    /// on `in_port`.
    pub fn rx_handoff(&mut self, c: &WorkerCounters, in_port: u16, b: B) {
        c.event(Event::HandoffIn);
        let mut m = PacketMeta::rx(in_port);
        m.flags |= flag::HANDED;
        self.frame.push(b, m, Node::L2Input);
    }

    /// Runs the graph over the frame, then sends, hands off, frees and counts every packet.
    pub fn run<A: BufAlloc<Buf = B>, S: Sink<B>>(
        &mut self,
        t: &Tables,
        alloc: &A,
        c: &WorkerCounters,
        now_ms: u64,
        sink: &mut S,
    ) {
        let cx = Cx { t, alloc, c, now: now_ms };
        if self.st.trace.armed() {
            self.st.trace.mark(&mut self.frame);
        }
        graph(&mut self.st, &cx, &mut self.frame);
        self.frame.finish(sink, c);
    }

    /// Removes the dynamic neighbour entries, of neighbour interface `ifx` only when given
    /// (static entries stay). The packets that waited on them are freed and counted as
    /// `neigh-flushed` at the frame's output point. Call between rounds. Returns how many
    /// entries went.
    pub fn neigh_flush<S: Sink<B>>(&mut self, ifx: Option<u16>, c: &WorkerCounters, sink: &mut S) -> usize {
        let mut waiting = std::mem::take(&mut self.st.released);
        let n = self.st.neigh.flush(ifx, &mut waiting);
        self.st.forget_next_hops();
        for p in waiting.drain(..) {
            if self.frame.len() >= self.frame.capacity() {
                self.frame.finish(sink, c);
            }
            self.frame.drop_parked(p.pkt, p.meta, DropReason::NeighFlushed);
        }
        self.frame.finish(sink, c);
        self.st.released = waiting;
        n
    }

    /// Timers: FDB aging, ARP retries and failures, the unicast probes of stale neighbours
    /// (RFC 1122 2.3.2.1), connection expiry. Call every millisecond or so, between rounds.
    pub fn tick<A: BufAlloc<Buf = B>, S: Sink<B>>(
        &mut self,
        t: &Tables,
        alloc: &A,
        c: &WorkerCounters,
        now_ms: u64,
        sink: &mut S,
    ) {
        let cx = Cx { t, alloc, c, now: now_ms };
        self.st.tick(&cx, &mut self.frame);
        graph(&mut self.st, &cx, &mut self.frame);
        self.frame.finish(sink, c);
    }
}

/// Runs the nodes until every packet of the frame reached an output or a neighbour queue.
fn graph<B: PacketBuf, A: BufAlloc<Buf = B>>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>) {
    use node::*;
    let timed = st.runtime.is_some();
    while let Some((n, list)) = f.next_queue() {
        let (t0, pkts) = if timed { ((st.clock)(), list.len()) } else { (0, 0) };
        match n {
            Node::Xconnect => xconnect::run(cx, f, &list),
            Node::L2Input => l2_input::run(cx, f, &list),
            Node::Vxlan4Input => vxlan4_input::run(st, cx, f, &list),
            Node::L2Fwd => l2_fwd::run(st, cx, f, &list),
            Node::ArpInput => arp_input::run(st, cx, f, &list),
            Node::Ip4Input => ip4_input::run(st, cx, f, &list),
            Node::CtFrag => ct_frag::run(st, cx, f, &list),
            Node::CtLookup => stateful::lookup(st, cx, f, &list),
            Node::CtRelated => stateful::related(st, cx, f, &list),
            Node::CtNew => stateful::new(st, cx, f, &list),
            Node::FwReject => fw_reject::run(cx, f, &list),
            Node::Ip4Local => ip4_local::run(st, cx, f, &list),
            Node::Ip4Frag => ip4_frag::run(cx, f, &list),
            Node::Ip4Reass => ip4_reass::run(st, cx, f, &list),
            Node::Ip4Forward => ip4_forward::run(st, cx, f, &list),
            Node::Ip4Neigh => ip4_neigh::run(st, cx, f, &list),
            Node::Icmp4Error => icmp4_error::run(st, cx, f, &list),
            Node::L2Flood => l2_flood::run(cx, f, &list),
            Node::Vxlan4Encap => vxlan4_encap::run(st, cx, f, &list),
            Node::Vxlan4Output => vxlan4_output::run(cx, f, &list),
            Node::L2Output => l2_output::run(cx, f, &list),
        }
        if timed {
            let t1 = (st.clock)();
            if let Some(r) = st.runtime.as_mut() {
                let r = &mut r[n as usize];
                r.calls += 1;
                r.packets += pkts as u64;
                r.cycles += t1.wrapping_sub(t0);
            }
        }
        if f.traced {
            st.trace.record(n, f, &list, cx.now);
        }
        f.give_back(list);
    }
    // A first fragment the stateful nodes did not let through never came back to ct-frag;
    // slot numbers mean other packets in the next frame.
    st.firsts.clear()
}

impl<B: PacketBuf> State<B> {
    fn new(t: &Tables, worker: u16) -> Self {
        let mut fdb = Fdb::new(t.fdb_size, t.domains.len().max(1) as u16, t.aging_ms);
        for (i, d) in t.domains.iter().enumerate() {
            fdb.set_domain_limit(i as u16, d.mac_limit);
        }
        for &(d, mac, p) in &t.static_macs {
            let _ = fdb.add_static(d, mac, Dest::Port(p));
        }
        for &(d, mac, ip) in &t.remote_macs {
            let _ = fdb.add_static(d, mac, Dest::Vtep(ip));
        }
        let n = t.neigh.max_pending * 8;
        let mut neigh = NeighTable::new(t.neighbor_size, t.neigh);
        for &(d, ip, mac) in &t.static_neighbors {
            neigh.add_static(d, ip, mac);
        }
        if let Some(v) = &t.vtep {
            for &(ip, mac) in &v.neighbors {
                neigh.add_static(UNDERLAY_IFX, ip, mac);
            }
        }
        State {
            fdb,
            neigh,
            ct: t.sec.as_deref().map(|s| Box::new(CtState::new(s, worker))),
            trace: Trace::default(),
            runtime: None,
            clock: || 0,
            icmp_tokens: t.icmp_errors_per_s,
            icmp_refill_ms: 0,
            released: Vec::with_capacity(n),
            requests: Vec::with_capacity(256),
            failed: Vec::with_capacity(n * 32),
            learn_cache: None,
            lookup_cache: None,
            nh_cache: None,
            underlay_cache: None,
            adj_cache: None,
            route_cache: None,
            fdb_gen: 0,
            ip_ident: 0,
            worker,
            reass: crate::l3::reass::Reassembly::new(t.reass),
            expired: Vec::with_capacity(t.reass.contexts),
            frags: crate::l3::fragtrack::FragTrack::new(t.ct_fragments.0, t.ct_fragments.1),
            firsts: Vec::with_capacity(64),
            frag_out: Vec::with_capacity(crate::l3::fragtrack::MAX_PARKED * 4),
            log: crate::eventlog::EventLog::default(),
            fw_hits: vec![0; t.sec.as_deref().map_or(0, |s| s.fw_slots())],
        }
    }

    /// Turns the per-node runtime counters on (zeroed, reading `clock`) or off.
    pub fn set_runtime(&mut self, on: bool, clock: fn() -> u64) {
        self.clock = clock;
        self.runtime = on.then(|| Box::new([NodeRuntime::default(); Node::COUNT]));
    }

    /// The per-node runtime counters, by node, when they are on.
    pub fn runtime(&self) -> Option<&[NodeRuntime; Node::COUNT]> {
        self.runtime.as_deref()
    }

    /// Timers; what they send is put into `f`.
    fn tick<A: BufAlloc<Buf = B>>(&mut self, cx: &Cx<'_, A>, f: &mut Frame<B>) {
        node::stateful::expire(self, cx);
        node::ip4_reass::expire(self, cx, f);
        node::ct_frag::expire(self, cx, f);
        let c = cx.c;
        let lost = self.log.take_lost();
        if lost > 0 {
            c.event_n(Event::EventLogLost, lost);
        }
        if let Some(st) = &self.ct {
            c.ct_entries.set(u64::from(st.table.len()));
            c.nat_mappings.set(st.maps.len() as u64);
        }
        c.fdb_entries.set(self.fdb.len() as u64);
        let aged = self.fdb.age(cx.now, 256);
        if aged > 0 {
            c.event_n(Event::FdbAged, aged as u64);
            self.fdb_gen += 1;
        }
        self.requests.clear();
        let mut failed = std::mem::take(&mut self.failed);
        let lost = self.neigh.poll(cx.now, 64, &mut self.requests, &mut failed);
        if lost > 0 {
            c.event_n(Event::NeighProbeFailed, lost as u64);
        }
        // The timers may have removed a next hop the one-entry caches still hold.
        self.forget_next_hops();
        for i in 0..self.requests.len() {
            let Request { ifx, ip, unicast } = self.requests[i];
            match (ifx == UNDERLAY_IFX, unicast) {
                (true, None) => node::vxlan4_encap::arp_request(cx, f, ip),
                (true, Some(mac)) => node::vxlan4_encap::arp_probe(cx, f, ip, mac),
                (false, None) => node::ip4_neigh::arp_request(cx, f, ifx, ip),
                (false, Some(mac)) => node::ip4_neigh::arp_probe(self, cx, f, ifx, ip, mac),
            }
        }
        for p in failed.drain(..) {
            if p.ifx == UNDERLAY_IFX {
                f.drop_parked(p.pkt, p.meta, DropReason::ArpFailed);
                continue;
            }
            // Host unreachable, back to the sender; arp-failed counts the datagram.
            let mut m = p.meta;
            m.icmp_error(
                DropReason::ArpFailed,
                crate::wire::icmpv4::kind::DEST_UNREACHABLE,
                crate::wire::icmpv4::unreach::HOST,
                0,
            );
            f.unpark(p.pkt, m, Node::Icmp4Error);
        }
        self.failed = failed;
    }

    /// Forgets the one-entry caches of routes and next hops (a neighbour or the tables
    /// changed, or may have).
    #[inline]
    pub(crate) fn forget_next_hops(&mut self) {
        self.nh_cache = None;
        self.underlay_cache = None;
        self.adj_cache = None;
        self.route_cache = None;
    }

    /// Learns `mac` (as u64) in `domain` at `dest`; a repeat within the same millisecond
    /// skips the FDB. `home`: the key's FDB home slot when the caller hashed it already.
    #[inline]
    fn learn(&mut self, c: &WorkerCounters, now: u64, (domain, mac): (u16, u64), dest: Dest, home: Option<usize>) {
        let key = (u64::from(domain) << 48) | mac;
        let hit = LearnCache { key, dest, ms: now };
        if self.learn_cache == Some(hit) {
            return;
        }
        let mac = MacAddr::from_u64(mac);
        let home = home.unwrap_or_else(|| self.fdb.home_of(domain, mac.to_u64()));
        match self.fdb.learn_at(home, domain, mac, dest, now) {
            Learn::New => {
                self.fdb_gen += 1;
                c.event(Event::FdbLearned)
            }
            Learn::Moved { .. } => {
                self.fdb_gen += 1;
                c.event(Event::FdbLearned);
                c.event(Event::FdbMoved)
            }
            Learn::DomainFull => c.event(Event::FdbLimit),
            Learn::TableFull => c.event(Event::FdbFull),
            Learn::Refreshed | Learn::Static | Learn::Ignored => {}
        }
        self.learn_cache = Some(hit);
    }

    /// Looks `mac` (as u64) up in `domain`; the last answer is reused within the same
    /// millisecond while the FDB has not changed. `home` as for [`State::learn`].
    #[inline]
    fn lookup(&mut self, now: u64, domain: u16, mac: u64, home: Option<usize>) -> Option<Dest> {
        let key = (u64::from(domain) << 48) | mac;
        if let Some(h) = self.lookup_cache {
            if h.key == key && h.ms == now && h.gen == self.fdb_gen {
                return Some(h.dest);
            }
        }
        let home = home.unwrap_or_else(|| self.fdb.home_of(domain, mac));
        let found = self.fdb.lookup_at(home, domain, MacAddr::from_u64(mac), now);
        if let Some(dest) = found {
            self.lookup_cache = Some(LookupCache { key, dest, ms: now, gen: self.fdb_gen });
        }
        found
    }

    /// Records a neighbour on `ifx` and queues the packets that waited for it: routed ones
    /// to `ip4-neigh`, encapsulated ones to `vxlan4-output`.
    fn neigh_learn<A: BufAlloc>(
        &mut self,
        cx: &Cx<'_, A>,
        f: &mut Frame<B>,
        ifx: u16,
        ip: u32,
        mac: MacAddr,
        create: bool,
    ) {
        self.forget_next_hops();
        let mut released = std::mem::take(&mut self.released);
        if self.neigh.learn(ifx, ip, mac, cx.now, create, &mut released) {
            cx.c.event(Event::ArpLearned);
        }
        let next = if ifx == UNDERLAY_IFX { Node::Vxlan4Output } else { Node::Ip4Neigh };
        for p in released.drain(..) {
            let mut m = p.meta;
            m.nh_mac = mac.to_u64();
            m.flags |= flag::NH_KNOWN;
            f.unpark(p.pkt, m, next);
        }
        self.released = released;
    }

    /// The MAC of next hop `ip` on neighbour interface `ifx` (a domain, or the underlay)
    /// for the packet in slot `i`: from the interface's one-entry cache of the last next
    /// hop, from the table (any entry with a MAC: a stale one is used and re-probed), or
    /// not yet: the packet is then parked on the neighbour's queue
    /// (`request` sends the ARP request when this packet started the resolution) or dropped
    /// with the table's reason. A parked packet comes back to `back` with its MAC known.
    fn next_hop_mac<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Cx<'_, A>,
        f: &mut Frame<B>,
        (i, ifx, ip): (u16, u16, u32),
        back: Node,
        request: impl FnOnce(&Cx<'_, A>, &mut Frame<B>),
    ) -> Option<MacAddr> {
        let now = cx.now;
        let cache = if ifx == UNDERLAY_IFX { &mut self.underlay_cache } else { &mut self.nh_cache };
        // A hit leaves the cache alone: writing it back would make the next packet's read
        // wait on this store.
        if let Some(c) = cache.filter(|c| c.ms == now && c.ifx == ifx && c.ip == ip) {
            return Some(c.mac);
        }
        if let Some(mac) = self.neigh.send_mac(ifx, ip, now) {
            *cache = Some(NhCache { ifx, ip, mac, ms: now });
            return Some(mac);
        }
        let meta = *f.meta(i);
        let pending = Pending { pkt: f.park(i), ifx, meta };
        match self.neigh.resolve(ifx, ip, pending, now) {
            Resolve::Known(mac, p) => {
                *cache = Some(NhCache { ifx, ip, mac, ms: now });
                let mut pm = p.meta;
                pm.nh_mac = mac.to_u64();
                pm.flags |= flag::NH_KNOWN;
                f.unpark(p.pkt, pm, back);
            }
            Resolve::Queued { send_request } => {
                if send_request {
                    request(cx, f);
                }
            }
            Resolve::Dropped(p, why) => f.drop_parked(p.pkt, p.meta, neigh_drop_reason(why)),
        }
        None
    }

    /// Takes one token of the ICMP error budget; false when it is spent for this second.
    pub(crate) fn icmp_budget(&mut self, t: &Tables, now: u64) -> bool {
        if now >= self.icmp_refill_ms + 1000 {
            self.icmp_refill_ms = now;
            self.icmp_tokens = t.icmp_errors_per_s;
        }
        if self.icmp_tokens == 0 {
            return false;
        }
        self.icmp_tokens -= 1;
        true
    }
}

/// The drop reason for a packet the neighbour table refused.
#[inline]
fn neigh_drop_reason(why: NeighDrop) -> DropReason {
    match why {
        NeighDrop::PendingFull => DropReason::ArpQueueFull,
        NeighDrop::Unreachable => DropReason::ArpFailed,
        NeighDrop::TableFull => DropReason::NeighborTableFull,
    }
}

/// Rewrites the VLAN tags of a frame that carries `cur` tags so it carries `want` (outer
/// first), keeping the MACs and the EtherType; moves only the 12 MAC bytes. False (frame
/// unchanged) if there is no headroom or the frame is too short.
pub fn retag<B: PacketBuf>(pkt: &mut B, cur: u8, want: &[Tag]) -> bool {
    use crate::wire::ethernet::{HEADER_LEN, MACS_LEN as MACS};
    use crate::wire::vlan::TAG_LEN;
    let (cur, nw) = (usize::from(cur), want.len());
    if pkt.len() < HEADER_LEN + TAG_LEN * cur {
        return false;
    }
    if nw > cur {
        let d = TAG_LEN * (nw - cur);
        let Some(_) = pkt.prepend(d) else { return false };
        pkt.data_mut().copy_within(d..d + MACS, 0);
    } else if nw < cur {
        let d = TAG_LEN * (cur - nw);
        pkt.data_mut().copy_within(0..MACS, d);
        if !pkt.adj(d) {
            return false;
        }
    }
    let data = pkt.data_mut();
    for (i, t) in want.iter().enumerate() {
        let at = MACS + TAG_LEN * i;
        t.emit(&mut data[at..at + TAG_LEN]);
    }
    true
}

#[cfg(test)]
mod ct_frag_tests;
#[cfg(test)]
mod nat_tests;
#[cfg(test)]
mod router_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vxlan_tests;
