//! `xconnect`: every packet received on one port of a `[[xconnect]]` pair leaves by the
//! other, untouched (its bytes are never read). Ports in no pair drop with `no-forward`.
//! Packets come as runs (a burst of one port, decided once) or, when traced, one by one.

use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{Cx, Frame, Output};
use crate::stats::DropReason;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    let peer = &cx.t.peer;
    for &i in list {
        match peer.get(usize::from(f.meta(i).in_port)).copied().flatten() {
            Some(p) => f.tx(i, p),
            None => f.drop(i, DropReason::NoForward),
        }
    }
    let runs = f.take_runs();
    for &(port, start, n) in &runs {
        let o = match peer.get(usize::from(port)).copied().flatten() {
            Some(p) => Output::Tx(p),
            None => Output::Drop(DropReason::NoForward),
        };
        f.end_run(start, n, o);
    }
    f.runs_back(runs);
}
