//! `l2-learn`: the source MAC is learned in the frame's domain, at its ingress port or, for
//! an inner frame from the overlay, at the VTEP it came from (Linux `br_fdb_update`).
//!
//! Next: `l2-fwd`.

use crate::buf::{BufAlloc, PacketBuf};
use crate::l2::fdb::Dest;
use crate::packet::flag;
use crate::pipeline::{Cx, Frame, Node, State};

pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let m = f.meta(i);
        let dest = if m.has(flag::OVERLAY) { Dest::Vtep(m.ip) } else { Dest::Port(m.in_port) };
        st.learn(cx.c, cx.now, m.domain, m.src_mac, dest);
        f.to(i, Node::L2Fwd);
    }
}
