//! `ip4-local`: IPv4 to one of the appliance's own addresses (a gateway, or the VTEP on the
//! underlay). An ICMP echo request is answered in place (addresses swapped, TTL 64, type
//! echo reply, checksums updated incrementally) out of the ingress port (RFC 1122 3.2.2.6:
//! the reply keeps the request's data and identification). UDP is answered with ICMP port
//! unreachable (RFC 1122 3.2.2.1, 4.1.3.1), TCP with a RST (RFC 9293 3.10.7.1: no
//! listener), both within the per-second budget of ICMP errors. Fragments go to
//! `ip4-reass` (dropped when reassembly is off: `reassembly_contexts = 0`).
//!
//! Next: `l2-output` (`vxlan4-encap` back into the overlay), `icmp4-error`, `ip4-reass`; drops: local-unhandled, port-unreachable,
//! local-tcp-reset, icmp-rate-limited.

use super::fw_reject::rst;
use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{Cx, Frame, Node, State};
use crate::stats::{DropReason, Event};
use crate::wire::ethernet::swap_macs;
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::ipv4::{proto, Ipv4Packet};

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let m = *f.meta(i);
        let (protocol, fragment) = match f.buf(i).data().get(m.l3()..).and_then(|d| Ipv4Packet::new_checked(d).ok()) {
            Some(ip) => (ip.protocol(), ip.is_fragment()),
            None => (0, true),
        };
        match protocol {
            _ if fragment && st.reass.config().contexts > 0 => f.to(i, Node::Ip4Reass),
            _ if fragment => f.drop(i, DropReason::LocalUnhandled),
            proto::ICMP => {
                if echo_reply(f, i) {
                    cx.c.event(Event::EchoReplySent);
                    let next = super::back(f.meta_mut(i));
                    f.to(i, next);
                } else {
                    f.drop(i, DropReason::LocalUnhandled);
                }
            }
            proto::UDP => {
                let mm = f.meta_mut(i);
                mm.icmp_error(DropReason::PortUnreachable, icmpv4::kind::DEST_UNREACHABLE, icmpv4::unreach::PORT, 0);
                f.to(i, Node::Icmp4Error);
            }
            proto::TCP => {
                // A RST costs the budget an ICMP error does: both answer what a sender chose.
                if !st.icmp_budget(cx.t, cx.now) {
                    cx.c.event(Event::IcmpRateLimited);
                    f.drop(i, DropReason::LocalTcpReset);
                } else if rst(cx.t, f, i) {
                    f.count_drop(DropReason::LocalTcpReset);
                    let next = super::back(f.meta_mut(i));
                    f.to(i, next);
                } else {
                    f.drop(i, DropReason::LocalTcpReset);
                }
            }
            _ => f.drop(i, DropReason::LocalUnhandled),
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
