//! `ip4-local`: IPv4 to a gateway address: an ICMP echo request is answered in place
//! (addresses swapped, TTL 64, type echo reply, checksums updated incrementally) out of the
//! ingress port (RFC 1122 3.2.2.6: the reply keeps the request's data and identification).
//!
//! Next: `l2-output`; drops: local-unhandled.

use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{Cx, Frame, Node};
use crate::stats::{DropReason, Event};
use crate::wire::ethernet::swap_macs;
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::ipv4::Ipv4Packet;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        if echo_reply(f, i) {
            cx.c.event(Event::EchoReplySent);
            let m = f.meta_mut(i);
            m.out_port = m.in_port;
            m.out_domain = m.domain;
            f.to(i, Node::L2Output);
        } else {
            f.drop(i, DropReason::LocalUnhandled);
        }
    }
}

fn echo_reply<B: PacketBuf>(f: &mut Frame<B>, i: u16) -> bool {
    let (b, m) = f.both_mut(i);
    let d = b.data_mut();
    if d.len() < m.l3() {
        return false;
    }
    let (eth, rest) = d.split_at_mut(m.l3());
    let Ok(mut ip) = Ipv4Packet::new_checked(rest) else { return false };
    let hl = ip.header_len();
    let tl = usize::from(ip.total_len());
    let (src, dst) = (ip.src(), ip.dst());
    let echo = Icmpv4Packet::new_checked(&ip.payload_mut()[..])
        .map(|i| i.msg_type() == icmpv4::kind::ECHO_REQUEST && i.verify_checksum());
    if echo != Ok(true) {
        return false;
    }
    // Swapping source and destination leaves the header sum unchanged.
    ip.set_src_update(dst);
    ip.set_dst_update(src);
    ip.set_ttl_update(64);
    let b = ip.into_inner();
    if let Ok(mut icmp) = Icmpv4Packet::new_checked(&mut b[hl..tl]) {
        icmp.set_type_update(icmpv4::kind::ECHO_REPLY);
    }
    swap_macs(eth)
}
