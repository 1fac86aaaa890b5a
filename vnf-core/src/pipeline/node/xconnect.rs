//! `xconnect`: every packet received on one port of a `[[xconnect]]` pair leaves by the
//! other, untouched (its bytes are never read). Ports in no pair drop with `no-forward`.
//! A burst is decided once, at the output point ([`burst`]); while a trace is armed its
//! packets go through the frame one by one, so that they can be traced.

use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{Cx, Frame, Output, Sink, Tables};
use crate::stats::{DropReason, WorkerCounters};

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        match peer(cx.t, f.meta(i).in_port) {
            Ok(p) => f.tx(i, p),
            Err(r) => f.drop(i, r),
        }
    }
}

/// The port a packet received on `in_port` leaves by, or why it does not.
#[inline(always)]
fn peer(t: &Tables, in_port: u16) -> Result<u16, DropReason> {
    t.peer.get(usize::from(in_port)).copied().flatten().ok_or(DropReason::NoForward)
}

/// A whole burst received on `in_port` (no packet of it traced), decided once: it leaves by
/// the peer port, or every packet is dropped and counted as `no-forward`. Its bytes are
/// never read and no per-packet metadata is made: this is the node at the output point.
#[inline(always)]
pub(crate) fn burst<B, S: Sink<B>>(
    t: &Tables,
    c: &WorkerCounters,
    in_port: u16,
    bufs: impl Iterator<Item = B>,
    sink: &mut S,
) {
    match peer(t, in_port) {
        Ok(p) => sink.tx_all(p, bufs),
        Err(r) => {
            for b in bufs {
                c.drop_n(r, 1);
                sink.free(b, Output::Drop(r));
            }
        }
    }
}
