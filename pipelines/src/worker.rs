//! The run-to-completion worker: rx burst -> stages -> per-port tx buffers -> tx burst.
//!
//! One worker runs on each worker lcore and owns everything it touches: its rx queues, one
//! tx queue on every port, its tx buffers and its counters. Nothing is locked, allocated or
//! logged per packet. Tx is buffered per egress port as in DPDK's l3fwd: a buffer is sent
//! when it holds a burst, and every buffer is drained at the end of each polling round, so
//! a packet waits at most one round. Whatever a tx queue refuses is freed and counted as
//! `tx-full`; nothing is leaked or retried forever.

use crate::dpdk::{rdtsc, Burst, RxQueue, TxQueue, BURST_CAPACITY};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vnf_core::stage::{BurstVerdict, Verdict, Xconnect};
use vnf_core::stats::{DropReason, WorkerCounters};

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
    /// The forwarding stage.
    pub xconnect: Xconnect,
    /// Packets per rx burst.
    pub burst: usize,
    /// Its counters.
    pub counters: Arc<CachePadded<WorkerCounters>>,
    /// Set by the main thread to stop the loop.
    pub stop: Arc<AtomicBool>,
}

struct TxBuf {
    q: TxQueue,
    port: usize,
    buf: Burst,
}

impl Worker {
    /// Runs until `stop` is set, then drains its tx buffers. Returns 0.
    pub fn run(self) -> i32 {
        let Worker { rx: rxqs, tx, xconnect, burst, counters, stop, .. } = self;
        let burst = burst.clamp(1, BURST_CAPACITY / 2);
        let mut txb: Vec<TxBuf> = tx.into_iter().enumerate().map(|(port, q)| TxBuf { q, port, buf: Burst::new() }).collect();
        let mut pkts = Burst::new();
        let mut dropped = Burst::new();
        let mut drop_counts = [0u64; DropReason::COUNT];
        let mut verdicts = [Verdict::Drop(DropReason::NoForward); BURST_CAPACITY];
        let c = &**counters;

        while !stop.load(Ordering::Relaxed) {
            let t0 = rdtsc();
            let mut got = 0usize;
            for (in_port, q) in &rxqs {
                let n = q.rx(&mut pkts, burst);
                if n == 0 {
                    continue;
                }
                got += n;
                c.ports[*in_port].rx.add(n as u64);
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
            c.loops.add(1);
            if got > 0 {
                for t in txb.iter_mut() {
                    if !t.buf.is_empty() {
                        send(t, c);
                    }
                }
                c.busy_loops.add(1);
                c.packets.add(got as u64);
                c.busy_cycles.add(rdtsc().wrapping_sub(t0));
            }
        }
        for t in txb.iter_mut() {
            if !t.buf.is_empty() {
                send(t, c);
            }
        }
        0
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
