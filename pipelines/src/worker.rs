//! The run-to-completion worker: rx burst -> stages -> per-port tx buffers -> tx burst.
//!
//! One worker runs on each worker lcore and owns everything it touches: its rx queues, one
//! tx queue on every port, its tx buffers, its switching state (FDB, neighbours) and its
//! counters. Nothing is locked, heap-allocated or logged per packet. Tx is buffered per
//! egress port as in DPDK's l3fwd: a buffer is sent when it holds a burst, and every buffer
//! is drained at the end of each polling round, so a packet waits at most one round.
//! Whatever a tx queue refuses is freed and counted as `tx-full`.
//!
//! Ports without a bridge role run the cross-connect stage, which decides once per burst;
//! bridge ports run the switch stage per packet.

use crate::dpdk::{rdtsc, tsc_hz, Burst, Mbuf, PoolHandle, Ring, RxQueue, TxQueue, BURST_CAPACITY};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vnf_core::stage::{BurstVerdict, Verdict, Xconnect};
use vnf_core::stats::{DropReason, Event, WorkerCounters};
use vnf_core::switch::{Action, Emit, SwitchState, Tables};

/// Everything one worker needs, moved into its lcore.
pub struct Worker {
    /// Worker index (also its tx queue id on every port).
    pub index: usize,
    /// The lcore it runs on.
    pub lcore: u32,
    /// Rx queues it polls, with their port index.
    pub rx: Vec<(usize, RxQueue)>,
    /// Its tx queue on each port, by port index.
    pub tx: Vec<TxQueue>,
    /// The cross-connect stage.
    pub xconnect: Xconnect,
    /// The switch tables.
    pub tables: Arc<Tables>,
    /// The packet pool, for packets the worker generates.
    pub pool: PoolHandle,
    /// Packets per rx burst.
    pub burst: usize,
    /// Its counters.
    pub counters: Arc<CachePadded<WorkerCounters>>,
    /// Set by the main thread to stop the loop.
    pub stop: Arc<AtomicBool>,
    /// Handoff rings of every worker, by worker index (empty with one worker): a packet
    /// whose connection another worker owns is enqueued on the owner's ring, with its
    /// ingress port index in the mbuf's port field; each worker polls its own ring.
    pub handoff: Vec<Arc<Ring>>,
}

struct TxBuf {
    q: TxQueue,
    port: usize,
    buf: Burst,
}

impl Worker {
    /// Runs until `stop` is set, then drains its tx buffers. Returns 0.
    ///
    /// The loop is compiled twice: without the switch stage for configs that only
    /// cross-connect (so io forwarding stays as lean as testpmd's), and with it.
    pub fn run(self) -> i32 {
        if self.tables.any_bridged() {
            self.run_loop::<true>()
        } else {
            self.run_loop::<false>()
        }
    }

    #[inline(never)]
    fn run_loop<const SWITCH: bool>(self) -> i32 {
        let Worker { index, rx: rxqs, tx, xconnect, tables, pool, burst, counters, stop, handoff, .. } = self;
        let burst = burst.clamp(1, BURST_CAPACITY / 2);
        let nports = tx.len();
        let mut txb: Vec<TxBuf> = tx.into_iter().enumerate().map(|(port, q)| TxBuf { q, port, buf: Burst::new() }).collect();
        let mut pkts = Burst::new();
        let mut dropped = Burst::new();
        let mut drop_counts = [0u64; DropReason::COUNT];
        let mut verdicts = [Verdict::Drop(DropReason::NoForward); BURST_CAPACITY];
        let c = &**counters;
        let mut sw: Option<SwitchState<Mbuf>> = SWITCH.then(|| SwitchState::for_worker(&tables, index as u16));
        let inbox = handoff.get(index).cloned();
        let stateful = tables.sec.is_some();
        let mut hashes = [None::<u32>; BURST_CAPACITY];
        let mut hand: Handoff = Handoff { rings: handoff, out: Vec::new() };
        hand.out = (0..hand.rings.len()).map(|_| Burst::new()).collect();
        let mut emit: Emit<Mbuf> = Emit::new(burst * (nports + tables.neigh.max_pending + 2) + 64);
        let tsc_per_ms = (tsc_hz() / 1000).max(1);
        let mut next_tick = 0u64;

        // One TSC read per iteration: the start of one is the end of the previous.
        let mut t0 = rdtsc();
        let mut busy_prev = false;
        while !stop.load(Ordering::Relaxed) {
            let t1 = rdtsc();
            if busy_prev {
                c.busy_cycles.add(t1.wrapping_sub(t0));
            }
            t0 = t1;
            let now_ms = if SWITCH { t0 / tsc_per_ms } else { 0 };
            let mut got = 0usize;
            for (in_port, q) in &rxqs {
                let n = q.rx(&mut pkts, burst);
                if n == 0 {
                    continue;
                }
                got += n;
                c.ports[*in_port].rx.add(n as u64);
                match sw.as_mut() {
                    Some(st) if SWITCH && tables.bridged[*in_port] => {
                        let p = *in_port as u16;
                        if stateful {
                            prefetch_ct(st, &pkts, &mut hashes);
                        }
                        pkts.for_each_owned(|m| st.process(&tables, &pool, c, p, m, now_ms, &mut emit));
                        drain_emit(&mut emit, &mut txb, &mut hand, c);
                    }
                    _ => {
                        let bv = xconnect.process(*in_port as u16, pkts.mbufs_mut(), &mut verdicts[..n]);
                        dispatch(&mut pkts, bv, &verdicts[..n], &mut txb, &mut dropped, &mut drop_counts);
                        for t in txb.iter_mut() {
                            if t.buf.len() >= burst {
                                send(t, c);
                            }
                        }
                        if !dropped.is_empty() {
                            dropped.free_all();
                            for (r, n) in drop_counts.iter_mut().enumerate() {
                                if *n > 0 {
                                    c.drops[r].add(*n);
                                    *n = 0;
                                }
                            }
                        }
                    }
                }
            }
            if let (true, Some(st), Some(r)) = (SWITCH, sw.as_mut(), inbox.as_ref()) {
                let n = r.dequeue(&mut pkts, burst);
                if n > 0 {
                    got += n;
                    pkts.for_each_owned(|m| {
                        let p = m.port();
                        st.process_handoff(&tables, &pool, c, p, m, now_ms, &mut emit)
                    });
                    drain_emit(&mut emit, &mut txb, &mut hand, c);
                }
            }
            if let (true, Some(st)) = (SWITCH, sw.as_mut()) {
                if now_ms >= next_tick {
                    next_tick = now_ms + 1;
                    st.tick(&tables, &pool, c, now_ms, &mut emit);
                    drain_emit(&mut emit, &mut txb, &mut hand, c);
                }
            }
            c.loops.add(1);
            for t in txb.iter_mut() {
                if !t.buf.is_empty() {
                    send(t, c);
                }
            }
            busy_prev = got > 0;
            if busy_prev {
                c.busy_loops.add(1);
                c.packets.add(got as u64);
            }
        }
        if busy_prev {
            c.busy_cycles.add(rdtsc().wrapping_sub(t0));
        }
        for t in txb.iter_mut() {
            if !t.buf.is_empty() {
                send(t, c);
            }
        }
        0
    }
}

/// Prefetches the connection-table entries of a burst in two passes: the index slots of
/// every packet, then (slots now cached) the connections they point to, so the misses of a
/// burst overlap instead of stalling one packet at a time.
#[inline]
fn prefetch_ct(st: &SwitchState<Mbuf>, pkts: &Burst, hashes: &mut [Option<u32>; BURST_CAPACITY]) {
    use vnf_core::buf::PacketBuf;
    let ms = pkts.mbufs();
    for (m, h) in ms.iter().zip(hashes.iter_mut()) {
        *h = st.ct_hash(m.data());
        if let Some(a) = h.and_then(|h| st.ct_slot_addr(h)) {
            prefetch(a);
        }
    }
    for h in hashes[..ms.len()].iter().flatten() {
        if let Some(a) = st.ct_conn_addr(*h) {
            prefetch(a);
        }
    }
}

#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
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

/// Hands what the switch stage emitted to the tx buffers or other workers (or frees and
/// counts it).
#[inline]
fn drain_emit(emit: &mut Emit<Mbuf>, txb: &mut [TxBuf], hand: &mut Handoff, c: &WorkerCounters) {
    let mut handed = false;
    if emit.overflow > 0 {
        c.drop_n(DropReason::EmitOverflow, emit.overflow);
        emit.overflow = 0;
    }
    for (m, a) in emit.drain() {
        match a {
            Action::Tx(p) => match txb.get_mut(usize::from(p)) {
                Some(t) => {
                    if t.buf.room() == 0 {
                        send(t, c);
                    }
                    // Cannot fail: the buffer has room after a send (refused mbufs are freed).
                    if let Err(m) = t.buf.push(m) {
                        drop(m);
                        c.drop_n(DropReason::TxFull, 1);
                    }
                }
                None => {
                    drop(m);
                    c.drop_n(DropReason::NoForward, 1);
                }
            },
            Action::Drop(r) => {
                drop(m);
                c.drop_n(r, 1);
            }
            Action::Consumed => {
                drop(m);
                c.event(Event::LocalConsumed);
            }
            Action::Handoff(w, port) => {
                let mut m = m;
                m.set_port(port);
                let w = usize::from(w);
                if hand.out.get(w).is_some_and(|b| b.room() == 0) {
                    hand.flush(c);
                }
                match hand.out.get_mut(w) {
                    Some(b) => {
                        if let Err(m) = b.push(m) {
                            drop(m);
                            c.drop_n(DropReason::HandoffFull, 1);
                        }
                        handed = true;
                    }
                    None => {
                        drop(m);
                        c.drop_n(DropReason::NoForward, 1);
                    }
                }
            }
        }
    }
    if handed {
        hand.flush(c);
    }
}

/// Moves each packet of `pkts` to its egress tx buffer or to `dropped`, in order.
#[inline(always)]
fn dispatch(
    pkts: &mut Burst,
    bv: BurstVerdict,
    verdicts: &[Verdict],
    txb: &mut [TxBuf],
    dropped: &mut Burst,
    drop_counts: &mut [u64; DropReason::COUNT],
) {
    if let BurstVerdict::All(Verdict::Tx(out)) = bv {
        if let Some(t) = txb.get_mut(out as usize) {
            // The whole burst goes to one port: one copy of the pointers.
            t.buf.append_from(pkts);
            if !pkts.is_empty() {
                // Cannot happen while bursts are at most half a tx buffer; never leak.
                drop_counts[DropReason::TxFull.index()] += pkts.len() as u64;
                dropped.append_from(pkts);
            }
            return;
        }
    }
    let raw = pkts.raw();
    for (i, &p) in raw.iter().enumerate() {
        match bv.of(i, verdicts) {
            Verdict::Tx(out) if (out as usize) < txb.len() => {
                // SAFETY: p is owned by `pkts`, whose ownership moves here (pkts is emptied below without freeing); tx buffers hold fewer than a burst before this call (sent at >= burst) and a burst is at most half their capacity.
                unsafe { txb[out as usize].buf.push_raw(p) };
            }
            Verdict::Tx(_) => {
                drop_counts[DropReason::NoForward.index()] += 1;
                // SAFETY: as above; `dropped` is emptied after every rx burst.
                unsafe { dropped.push_raw(p) };
            }
            Verdict::Drop(r) => {
                drop_counts[r.index()] += 1;
                // SAFETY: as above.
                unsafe { dropped.push_raw(p) };
            }
        }
    }
    pkts.forget_all();
}

/// Sends a tx buffer; what the queue refuses is freed and counted.
#[inline(always)]
fn send(t: &mut TxBuf, c: &WorkerCounters) {
    let n = t.q.tx(&mut t.buf);
    let pc = &c.ports[t.port];
    pc.tx.add(n as u64);
    if !t.buf.is_empty() {
        let lost = t.buf.free_all() as u64;
        pc.tx_full.add(lost);
        c.drop_n(DropReason::TxFull, lost);
    }
}
