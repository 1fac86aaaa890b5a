//! `xconnect`: every packet received on one port of a `[[xconnect]]` pair leaves by the
//! other, untouched (its bytes are never read). Ports in no pair drop with `no-forward`.

use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{Cx, Frame};
use crate::stats::DropReason;

pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    let peer = &cx.t.peer;
    for &i in list {
        match peer.get(usize::from(f.meta(i).in_port)).copied().flatten() {
            Some(p) => f.tx(i, p),
            None => f.drop(i, DropReason::NoForward),
        }
    }
}
