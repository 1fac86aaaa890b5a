//! The run-to-completion worker: rx burst -> the node graph over the frame -> per-port tx
//! buffers -> tx burst.
//!
//! One worker runs on each worker lcore and owns everything it touches: its rx queues, one
//! tx queue on every port, its tx buffers, its switching state (FDB, neighbours) and its
//! counters. Nothing is locked, heap-allocated or logged per packet. Tx is buffered per
//! egress port as in DPDK's l3fwd: a buffer is sent when it holds a burst, and every buffer
//! is drained at the end of each polling round, so a packet waits at most one round.
//! Whatever a tx queue refuses is freed and counted as `tx-full`.
//!
//! Every received packet enters the worker's [`Pipeline`] frame (bridge ports at
//! `l2-input`, others at `xconnect`); the graph decides each packet, and the frame's one
//! output point hands what it sends to the tx buffers and handoff rings here ([`Out`]).

use crate::dpdk::{rdtsc, tsc_hz, Burst, Mbuf, PoolHandle, Ring, RxQueue, TxQueue, BURST_CAPACITY};
use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vnf_core::conntrack::Filter;
use vnf_core::l2::fdb::Entry as FdbEntry;
use vnf_core::l3::neigh::NeighEntry;
use vnf_core::nat::pool::Mapping;
use vnf_core::pipeline::trace::TraceRecord;
use vnf_core::pipeline::{NodeRuntime, Pipeline, Remap, Sink, Tables};
use vnf_core::stats::{DropReason, WorkerCounters};

/// One compiled config with the queues each worker polls: what a worker runs. Published
/// whole (RCU style): a worker takes a new one between two loop iterations, so a packet
/// sees one config, never a mix; the previous one is freed when the last worker drops it.
pub struct Snapshot {
    /// Config generation (1 for the config vnfd started with).
    pub generation: u64,
    /// The pipeline's tables.
    pub tables: Arc<Tables>,
    /// Per worker: its rx queues (with port index) and its tx queue on each port.
    pub io: Vec<WorkerIo>,
    /// Packets per rx burst.
    pub burst: usize,
    /// Per port index: set administratively down (`vnfctl port NAME down`): what it
    /// receives and what would be sent to it is dropped as `port-down`. Flipped in place by
    /// the control thread; a reload carries it by port name.
    pub down: Vec<std::sync::atomic::AtomicBool>,
}

/// The queues of one worker in one snapshot.
pub struct WorkerIo {
    /// Rx queues it polls, with their port index.
    pub rx: Vec<(usize, RxQueue)>,
    /// Its tx queue on each port, by port index.
    pub tx: Vec<TxQueue>,
}

/// What the control thread shares with the workers.
pub struct Shared {
    /// The current snapshot.
    pub snap: ArcSwap<Snapshot>,
    /// Per worker mailbox.
    pub mail: Vec<CachePadded<Mailbox>>,
    /// Handoff rings of every worker, by worker index (empty with one worker): a packet
    /// whose connection another worker owns is enqueued on the owner's ring, with its
    /// ingress port index in the mbuf's port field; each worker polls its own ring.
    pub handoff: Vec<Arc<Ring>>,
}

/// Requests to one worker. The worker looks at `pending` once per loop iteration (one
/// load of a line only the control thread writes) and, when set, adopts a new snapshot
/// and answers queries on its own state between two bursts.
pub struct Mailbox {
    pending: AtomicBool,
    tx: Sender<(Query, Sender<Answer>)>,
    rx: Receiver<(Query, Sender<Answer>)>,
}

impl Default for Mailbox {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(16);
        Mailbox { pending: AtomicBool::new(false), tx, rx }
    }
}

impl Mailbox {
    /// Tells the worker to look at the snapshot and its queries.
    pub fn wake(&self) {
        self.pending.store(true, Ordering::Release);
    }

    /// Posts a query; the answer comes on the returned channel. None if the mailbox is full.
    pub fn ask(&self, q: Query) -> Option<Receiver<Answer>> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.tx.try_send((q, tx)).ok()?;
        self.wake();
        Some(rx)
    }
}

/// Slots a worker examines per answer to a listing query: a listing of a big table is
/// asked a slice at a time, so no single answer holds the worker for more than a few
/// microseconds.
pub const SCAN: usize = 8192;

/// A question about a worker's own state. Listings take a cursor (`from`, a slot index)
/// and answer with the next one, or None at the end of the table; `limit` caps the rows
/// returned (the scan continues so counts stay exact).
#[derive(Clone, Debug)]
pub enum Query {
    /// FDB entries of one domain or all.
    Fdb { domain: Option<u16>, from: usize, limit: usize },
    /// Removes learned FDB entries of one domain or all.
    FdbFlush { domain: Option<u16> },
    /// Neighbour entries of one neighbour interface (a domain, or the underlay) or all.
    Neigh { ifx: Option<u16>, limit: usize },
    /// Removes the dynamic neighbour entries of one neighbour interface or all; the packets
    /// that waited on them are freed and counted (`neigh-flushed`).
    NeighFlush { ifx: Option<u16> },
    /// Connections matching `filter`.
    Conntrack { filter: Filter, from: u32, limit: usize },
    /// Removes the connections matching `filter` (and releases their NAT mappings).
    ConntrackFlush { filter: Filter, from: u32 },
    /// NAT mappings and free ports per pool address.
    Nat { from: usize, limit: usize },
    /// The firewall hit counters.
    Firewall,
    /// The per-burst processing time histogram (TSC cycles).
    Latency,
    /// Marks the next `n` packets received (on port index `port`) for the packet trace.
    TraceAdd { n: u32, port: Option<u16> },
    /// The trace records.
    TraceShow,
    /// Forgets the trace records and stops marking.
    TraceClear,
    /// The per-node runtime counters; `enable` turns them on (zeroed) or off first.
    Runtime { enable: Option<bool> },
}

/// One connection in a listing.
#[derive(Clone, Debug)]
pub struct CtRow {
    /// Original direction.
    pub orig: vnf_core::conntrack::FlowKey,
    /// Reply direction.
    pub reply: vnf_core::conntrack::FlowKey,
    /// TCP state (`None` for other protocols), as its debug name.
    pub state: vnf_core::conntrack::tcp::TcpState,
    /// Milliseconds until it may expire.
    pub expires_in_ms: u64,
    /// NAT flags ([`NatData`]).
    pub flags: u8,
    /// Packets per direction.
    pub packets: [u64; 2],
}

/// A worker's answer.
#[derive(Debug)]
pub enum Answer {
    /// FDB entries, how many matched in the slice, and the cursor.
    Fdb { entries: Vec<FdbEntry>, matched: usize, next: Option<usize> },
    /// Neighbour entries (up to the limit) and how many matched.
    Neigh { entries: Vec<NeighEntry>, matched: usize },
    /// How many entries a flush removed (in the slice), and the cursor.
    Flushed { n: usize, next: Option<u32> },
    /// Matching connections, how many matched in the slice, and the cursor.
    Conntrack { rows: Vec<CtRow>, matched: usize, next: Option<u32> },
    /// Mappings, how many there were in the slice, the cursor, and free ports per pool
    /// address (tcp, udp, icmp).
    Nat { mappings: Vec<Mapping>, matched: usize, next: Option<usize>, free: Vec<[u32; 3]> },
    /// Firewall hit counters by slot (rules, zone pairs, forwards).
    Firewall(Vec<u64>),
    /// Histogram of busy-iteration times in TSC cycles.
    Latency(Box<Histogram<u64>>),
    /// Trace records, oldest first, and packets still to be marked.
    Trace { records: Vec<TraceRecord>, left: u32 },
    /// Per-node runtime counters in node order (None: they are off).
    Runtime(Option<Vec<NodeRuntime>>),
    /// This worker has no such state (config without bridges or without tracking).
    None,
}

/// Everything one worker needs, moved into its lcore.
pub struct Worker {
    /// Worker index (also its tx queue id on every port).
    pub index: usize,
    /// The lcore it runs on.
    pub lcore: u32,
    /// Snapshot, mailbox, handoff rings.
    pub shared: Arc<Shared>,
    /// The packet pool, for packets the worker generates.
    pub pool: PoolHandle,
    /// Its counters.
    pub counters: Arc<CachePadded<WorkerCounters>>,
    /// Set by the main thread to stop the loop.
    pub stop: Arc<AtomicBool>,
    /// Its NAT/firewall event ring and what goes into it, when the event log is on.
    pub log: Option<(Arc<vnf_core::eventlog::Ring>, vnf_core::eventlog::LogWhat)>,
}

struct TxBuf {
    port: usize,
    buf: Burst,
}

/// State that lives across snapshots and loop variants.
struct Carry {
    snap: Arc<Snapshot>,
    pl: Option<Pipeline<Mbuf>>,
    hist: Histogram<u64>,
}

/// Why a loop variant returned.
enum Exit {
    Stop,
    /// The new snapshot needs the other loop variant.
    Switch,
}

impl Worker {
    /// Runs until `stop` is set, then drains its tx buffers. Returns 0.
    ///
    /// The loop is compiled twice: without the bridging timers, clock and handoff ring for
    /// configs that only cross-connect (so io forwarding stays as lean as testpmd's), and
    /// with them. A reload that changes which one applies moves the worker from one to the
    /// other; its pipeline state goes along.
    pub fn run(self) -> i32 {
        let snap = self.shared.snap.load_full();
        self.counters.generation.set(snap.generation);
        let hist = Histogram::new_with_bounds(1, 1 << 40, 2).expect("histogram bounds are valid");
        let mut pl = Pipeline::for_worker(&snap.tables, self.index as u16, snap.burst.clamp(1, BURST_CAPACITY / 2));
        if let Some((ring, what)) = &self.log {
            pl.set_event_log(vnf_core::eventlog::EventLog::new(ring.clone(), *what));
        }
        let mut carry = Carry { snap, pl: Some(pl), hist };
        loop {
            let exit = if carry.snap.tables.any_bridged() {
                self.run_loop::<true>(&mut carry)
            } else {
                self.run_loop::<false>(&mut carry)
            };
            if let Exit::Stop = exit {
                return 0;
            }
        }
    }

    #[inline(never)]
    fn run_loop<const SWITCH: bool>(&self, carry: &mut Carry) -> Exit {
        let index = self.index;
        let pool = &self.pool;
        let c = &**self.counters;
        let mail = &self.shared.mail[index];
        let stop = &*self.stop;
        let mut snap = carry.snap.clone();
        let mut burst = snap.burst.clamp(1, BURST_CAPACITY / 2);
        let mut txb: Vec<TxBuf> = (0..snap.io[index].tx.len()).map(|port| TxBuf { port, buf: Burst::new() }).collect();
        let mut pkts = Burst::new();
        let mut pl = carry.pl.take().unwrap_or_else(|| Pipeline::for_worker(&snap.tables, index as u16, burst));
        pl.resize(&snap.tables, burst);
        let inbox = self.shared.handoff.get(index).cloned();
        let mut hand: Handoff = Handoff { rings: self.shared.handoff.clone(), out: Vec::new() };
        hand.out = (0..hand.rings.len()).map(|_| Burst::new()).collect();
        let tsc_per_ms = (tsc_hz() / 1000).max(1);
        let mut next_tick = 0u64;
        let mut exit = Exit::Stop;

        // One TSC read per iteration: the start of one is the end of the previous.
        let mut t0 = rdtsc();
        let mut busy_prev = false;
        while !stop.load(Ordering::Relaxed) {
            let t1 = rdtsc();
            if busy_prev {
                let d = t1.wrapping_sub(t0);
                c.busy_cycles.add(d);
                carry.hist.saturating_record(d);
            }
            t0 = t1;
            let now_ms = if SWITCH { t0 / tsc_per_ms } else { 0 };
            if mail.pending.load(Ordering::Acquire) {
                mail.pending.store(false, Ordering::Relaxed);
                let cur = self.shared.snap.load();
                if cur.generation != snap.generation {
                    for t in txb.iter_mut() {
                        send(t, &snap.io[index].tx, &snap.down, c);
                    }
                    hand.flush(c);
                    let new = arc_swap::Guard::into_inner(cur);
                    let remap = Remap::between(&snap.tables, &new.tables);
                    c.remap(&remap.ports, &remap.domains, &remap.vteps);
                    pl.adopt(&snap.tables, &new.tables, &remap, t0 / tsc_per_ms);
                    c.generation.set(new.generation);
                    let switch = new.tables.any_bridged() != SWITCH;
                    snap = new;
                    burst = snap.burst.clamp(1, BURST_CAPACITY / 2);
                    pl.resize(&snap.tables, burst);
                    if switch {
                        exit = Exit::Switch;
                        break;
                    }
                    txb = (0..snap.io[index].tx.len()).map(|port| TxBuf { port, buf: Burst::new() }).collect();
                }
                while let Ok((q, reply)) = mail.rx.try_recv() {
                    let txq = &snap.io[index].tx;
                    let mut out =
                        Out { txb: &mut txb, txq, down: &snap.down, hand: &mut hand, c, handed: false, burst };
                    let a = answer(q, &mut pl, &snap.tables, &carry.hist, &mut out, t0 / tsc_per_ms);
                    out.done();
                    let _ = reply.try_send(a);
                }
            }
            let tables = &*snap.tables;
            let io = &snap.io[index];
            let mut got = 0usize;
            for (in_port, q) in &io.rx {
                let n = q.rx(&mut pkts, burst);
                if n == 0 {
                    continue;
                }
                got += n;
                c.ports[*in_port].rx.add(n as u64);
                if snap.down[*in_port].load(Ordering::Relaxed) {
                    c.drop_n(DropReason::PortDown, pkts.free_all() as u64);
                    continue;
                }
                let p = *in_port as u16;
                let mut out =
                    Out { txb: &mut txb, txq: &io.tx, down: &snap.down, hand: &mut hand, c, handed: false, burst };
                if pl.is_xconnect(tables, p) {
                    pl.xconnect(tables, c, p, pkts.drain_owned(), &mut out);
                } else {
                    pl.rx_burst(tables, p, pkts.drain_owned());
                    pl.run(tables, pool, c, now_ms, &mut out);
                }
                out.done();
            }
            if let (true, Some(r)) = (SWITCH, inbox.as_ref()) {
                let n = r.dequeue(&mut pkts, burst);
                if n > 0 {
                    got += n;
                    pkts.for_each_owned(|m| {
                        let p = m.port();
                        pl.rx_handoff(c, p, m)
                    });
                    let mut out =
                        Out { txb: &mut txb, txq: &io.tx, down: &snap.down, hand: &mut hand, c, handed: false, burst };
                    pl.run(tables, pool, c, now_ms, &mut out);
                    out.done();
                }
            }
            if SWITCH && now_ms >= next_tick {
                next_tick = now_ms + 1;
                let mut out =
                    Out { txb: &mut txb, txq: &io.tx, down: &snap.down, hand: &mut hand, c, handed: false, burst };
                pl.tick(tables, pool, c, now_ms, &mut out);
                out.done();
            }
            c.loops.add(1);
            for t in txb.iter_mut() {
                if !t.buf.is_empty() {
                    send(t, &io.tx, &snap.down, c);
                }
            }
            busy_prev = got > 0;
            if busy_prev {
                c.busy_loops.add(1);
                c.packets.add(got as u64);
                if c.first_rx_tsc.get() == 0 {
                    c.first_rx_tsc.set(t0);
                }
                c.last_rx_tsc.set(t0);
            }
        }
        if busy_prev {
            c.busy_cycles.add(rdtsc().wrapping_sub(t0));
        }
        // On a switch the buffers were sent before adopting; on stop, send what is left.
        if let Exit::Stop = exit {
            for t in txb.iter_mut() {
                if !t.buf.is_empty() {
                    send(t, &snap.io[index].tx, &snap.down, c);
                }
            }
            hand.flush(c);
        }
        carry.snap = snap;
        carry.pl = Some(pl);
        exit
    }
}

/// The cursor after a slice `from..from + SCAN` of a table of `len` slots.
fn after(from: usize, len: usize) -> Option<usize> {
    let n = from.saturating_add(SCAN);
    (n < len).then_some(n)
}

/// Answers a control query from the worker's own state (between two bursts).
fn answer(
    q: Query,
    st: &mut Pipeline<Mbuf>,
    t: &Tables,
    hist: &Histogram<u64>,
    out: &mut Out<'_>,
    now_ms: u64,
) -> Answer {
    let c = out.c;
    match q {
        Query::Latency => Answer::Latency(Box::new(hist.clone())),
        Query::TraceAdd { n, port } => {
            st.trace.add(n, port);
            Answer::Trace { records: Vec::new(), left: st.trace.left() }
        }
        Query::TraceShow => Answer::Trace { records: st.trace.records().copied().collect(), left: st.trace.left() },
        Query::TraceClear => {
            st.trace.clear();
            Answer::Trace { records: Vec::new(), left: 0 }
        }
        Query::Runtime { enable } => {
            if let Some(on) = enable {
                st.set_runtime(on, rdtsc);
            }
            Answer::Runtime(st.runtime().map(|r| r.to_vec()))
        }
        Query::Fdb { domain, from, limit } => {
            let mut matched = 0;
            let mut entries = Vec::new();
            for e in st.fdb.iter_range(from, SCAN).filter(|e| domain.is_none_or(|d| e.domain == d)) {
                matched += 1;
                if entries.len() < limit {
                    entries.push(e);
                }
            }
            Answer::Fdb { entries, matched, next: after(from, st.fdb.slots()) }
        }
        Query::FdbFlush { domain } => {
            // One pass over the FDB (backward-shift deletion moves entries, so it is not
            // sliced); the FDB is small next to the connection table.
            let n = st.fdb.flush(domain, None);
            st.flushed_fdb();
            c.fdb_entries.set(st.fdb.len() as u64);
            Answer::Flushed { n, next: None }
        }
        Query::Neigh { ifx, limit } => {
            let mut entries = Vec::new();
            let mut matched = 0;
            for e in st.neigh.iter().filter(|e| ifx.is_none_or(|i| e.ifx == i)) {
                matched += 1;
                if entries.len() < limit {
                    entries.push(e);
                }
            }
            Answer::Neigh { entries, matched }
        }
        Query::NeighFlush { ifx } => Answer::Flushed { n: st.neigh_flush(ifx, c, out), next: None },
        Query::Conntrack { filter, from, limit } => {
            let Some(ct) = st.ct.as_ref() else { return Answer::None };
            let mut rows = Vec::new();
            let mut matched = 0;
            for (id, conn) in ct.table.iter_range(from, SCAN as u32) {
                if !filter.matches(conn) {
                    continue;
                }
                matched += 1;
                if rows.len() < limit {
                    rows.push(CtRow {
                        orig: conn.orig,
                        reply: conn.reply,
                        state: conn.tcp.state,
                        expires_in_ms: ct.table.expires_at_ms(id).saturating_sub(now_ms),
                        flags: conn.data.flags,
                        packets: conn.packets,
                    });
                }
            }
            let next = after(from as usize, ct.table.capacity() as usize).map(|n| n as u32);
            Answer::Conntrack { rows, matched, next }
        }
        Query::ConntrackFlush { filter, from } => {
            let n = st.ct_flush(&filter, from, SCAN as u32, now_ms);
            let Some(ct) = st.ct.as_ref() else { return Answer::None };
            c.ct_entries.set(u64::from(ct.table.len()));
            c.nat_mappings.set(ct.maps.len() as u64);
            let next = after(from as usize, ct.table.capacity() as usize).map(|n| n as u32);
            Answer::Flushed { n, next }
        }
        Query::Firewall => Answer::Firewall(st.firewall_hits().to_vec()),
        Query::Nat { from, limit } => {
            let Some(ct) = st.ct.as_ref() else { return Answer::None };
            let mut matched = 0;
            let mut mappings = Vec::new();
            for m in ct.maps.iter_range(from, SCAN) {
                matched += 1;
                if mappings.len() < limit {
                    mappings.push(*m);
                }
            }
            let n = t.sec.as_ref().map_or(0, |s| s.pool_addrs.len());
            let free = if from == 0 {
                (0..n).map(|ai| [6u8, 17, 1].map(|p| ct.maps.free_ports(ai, p))).collect()
            } else {
                Vec::new()
            };
            Answer::Nat { mappings, matched, next: after(from, ct.maps.slots()), free }
        }
    }
}

/// Packets on their way to other workers.
struct Handoff {
    rings: Vec<Arc<Ring>>,
    out: Vec<Burst>,
}

impl Handoff {
    fn flush(&mut self, c: &WorkerCounters) {
        for (r, b) in self.rings.iter().zip(self.out.iter_mut()) {
            if !b.is_empty() {
                r.enqueue(b);
                if !b.is_empty() {
                    c.drop_n(DropReason::HandoffFull, b.free_all() as u64);
                }
            }
        }
    }
}

/// Where the frame's output point puts what leaves: the per-port tx buffers (a buffer is
/// sent when it holds a burst) and the handoff rings (flushed after each frame).
struct Out<'a> {
    txb: &'a mut [TxBuf],
    txq: &'a [TxQueue],
    down: &'a [std::sync::atomic::AtomicBool],
    hand: &'a mut Handoff,
    c: &'a WorkerCounters,
    handed: bool,
    burst: usize,
}

impl Sink<Mbuf> for Out<'_> {
    #[inline(always)]
    fn tx(&mut self, port: u16, m: Mbuf) {
        match self.txb.get_mut(usize::from(port)) {
            Some(t) => {
                if t.buf.room() == 0 {
                    send(t, self.txq, self.down, self.c);
                }
                // Cannot fail: the buffer has room after a send (refused mbufs are freed).
                if let Err(m) = t.buf.push(m) {
                    drop(m);
                    self.c.drop_n(DropReason::TxFull, 1);
                }
            }
            None => {
                drop(m);
                self.c.drop_n(DropReason::NoForward, 1);
            }
        }
    }

    #[inline(always)]
    fn tx_all(&mut self, port: u16, bufs: impl Iterator<Item = Mbuf>) {
        match self.txb.get_mut(usize::from(port)) {
            Some(t) => {
                // Any number of packets: the buffer is sent whenever it has less than a
                // burst of room (a send leaves it empty: what the queue refused is freed).
                let mut bufs = bufs.peekable();
                while bufs.peek().is_some() {
                    if t.buf.room() < self.burst {
                        send(t, self.txq, self.down, self.c);
                    }
                    let room = t.buf.room();
                    let lost = t.buf.extend_from(bufs.by_ref().take(room));
                    debug_assert_eq!(lost, 0, "taken to the room there is");
                }
            }
            None => {
                let n = bufs.count();
                self.c.drop_n(DropReason::NoForward, n as u64);
            }
        }
    }

    fn handoff(&mut self, worker: u16, port: u16, mut m: Mbuf) {
        m.set_port(port);
        let w = usize::from(worker);
        if self.hand.out.get(w).is_some_and(|b| b.room() == 0) {
            self.hand.flush(self.c);
        }
        match self.hand.out.get_mut(w) {
            Some(b) => {
                if let Err(m) = b.push(m) {
                    drop(m);
                    self.c.drop_n(DropReason::HandoffFull, 1);
                }
                self.handed = true;
            }
            None => {
                drop(m);
                self.c.drop_n(DropReason::NoForward, 1);
            }
        }
    }
}

impl Out<'_> {
    /// After a frame: full tx buffers are sent, handoffs flushed.
    #[inline(always)]
    fn done(self) {
        for t in self.txb.iter_mut() {
            if t.buf.len() >= self.burst {
                send(t, self.txq, self.down, self.c);
            }
        }
        if self.handed {
            self.hand.flush(self.c);
        }
    }
}

/// Sends a tx buffer; what the queue refuses is freed and counted.
#[inline(always)]
fn send(t: &mut TxBuf, txq: &[TxQueue], down: &[std::sync::atomic::AtomicBool], c: &WorkerCounters) {
    let Some(q) = txq.get(t.port) else {
        c.drop_n(DropReason::NoForward, t.buf.free_all() as u64);
        return;
    };
    if down.get(t.port).is_some_and(|d| d.load(Ordering::Relaxed)) {
        c.drop_n(DropReason::PortDown, t.buf.free_all() as u64);
        return;
    }
    let (n, tries) = q.tx_retrying(&mut t.buf);
    let pc = &c.ports[t.port];
    pc.tx.add(n as u64);
    if tries > 0 {
        pc.tx_retries.add(u64::from(tries));
    }
    if !t.buf.is_empty() {
        let lost = t.buf.free_all() as u64;
        pc.tx_full.add(lost);
        c.drop_n(DropReason::TxFull, lost);
    }
}
