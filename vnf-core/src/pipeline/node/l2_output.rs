//! `l2-output`: a frame leaves port `out_port` of domain `out_domain` with the tags that
//! port carries for the domain (none on access ports and for a trunk's native VLAN; the
//! C-tag, or S-tag + C-tag on QinQ trunks), keeping its priority. Tags are rewritten in
//! place when the count is the same, and only the 12 MAC bytes move when tags are pushed or
//! popped. A frame whose payload (what follows its Ethernet header and tags) is larger than
//! the port's MTU is dropped, as a Linux bridge does (`is_skb_forwardable`): bridges never
//! fragment, and routed packets were already made to fit.
//!
//! Output: tx; drop: malformed (no headroom for a tag), mtu-exceeded.

use super::{ETH, VLAN_TAG};
use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{retag, Cx, Frame, Next};
use crate::stats::DropReason;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    f.each(list, |f, _, i| egress(cx, f, i));
}

/// Where and how a frame leaves: the port, the domain it leaves in, the priority its tags
/// keep, and the tags it carries now.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Egress {
    pub port: u16,
    pub domain: u16,
    /// PCP << 1 | DEI, as [`PacketMeta::prio`](crate::packet::PacketMeta::prio).
    pub prio: u8,
    pub ntags: u8,
}

/// Slot `i` leaves port `meta.out_port` with that port's tags for `meta.out_domain`.
#[inline(always)]
pub(crate) fn egress<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) -> Next {
    let m = f.meta(i);
    let e = Egress { port: m.out_port, domain: m.out_domain, prio: m.prio, ntags: m.ntags };
    send(cx, f, i, e)
}

/// Slot `i` retagged to leave as `e` says: `Next::Tx` (the step `l2-fwd` and `ip4-neigh`
/// also take themselves for a unicast frame to a learned port, as a bridge's forwarding
/// step retags and sends), or dropped here (`Next::Done`). The
/// caller passes what it already holds in registers: reading back metadata it has just
/// written byte by byte would stall on store forwarding.
#[inline(always)]
pub(crate) fn send<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16, e: Egress) -> Next {
    let (tags, n) = cx.t.egress_tags(e.port, e.domain, e.prio);
    let mtu = cx.t.port_mtu.get(usize::from(e.port)).map_or(0, |&m| usize::from(m));
    let (b, m) = f.both_mut(i);
    if b.len() > ETH + VLAN_TAG * usize::from(e.ntags) + mtu {
        f.drop(i, DropReason::MtuExceeded);
        Next::Done
    } else if (e.ntags == 0 && n == 0) || retag(b, e.ntags, &tags[..n]) {
        let d = n as i32 - i32::from(e.ntags);
        m.l3 = (i32::from(m.l3) + 4 * d) as u16;
        m.ntags = n as u8;
        m.out_port = e.port;
        Next::Tx(e.port)
    } else {
        f.drop(i, DropReason::Malformed);
        Next::Done
    }
}
