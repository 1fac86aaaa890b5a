//! `l2-output`: a frame leaves port `out_port` of domain `out_domain` with the tags that
//! port carries for the domain (none on access ports and for a trunk's native VLAN; the
//! C-tag, or S-tag + C-tag on QinQ trunks), keeping its priority. Tags are rewritten in
//! place when the count is the same, and only the 12 MAC bytes move when tags are pushed or
//! popped.
//!
//! Output: tx; drop: malformed (no headroom for a tag).

use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{retag, Cx, Frame};
use crate::stats::DropReason;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        egress(cx, f, i);
    }
}

/// Slot `i` leaves port `meta.out_port` with that port's tags for `meta.out_domain` (the
/// step `l2-fwd` also takes itself for a unicast frame to a learned port, as a bridge's
/// forwarding step retags and sends).
#[inline(always)]
pub(crate) fn egress<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) {
    let (b, m) = f.both_mut(i);
    let (tags, n) = cx.t.egress_tags(m.out_port, m.out_domain, m.pcp);
    if retag(b, m.ntags, &tags[..n]) {
        let d = n as i32 - i32::from(m.ntags);
        m.l3 = (i32::from(m.l3) + 4 * d) as u16;
        m.ntags = n as u8;
        let p = m.out_port;
        f.tx(i, p);
    } else {
        f.drop(i, DropReason::Malformed);
    }
}
