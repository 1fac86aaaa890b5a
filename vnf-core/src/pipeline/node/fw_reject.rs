//! `fw-reject`: a new connection the firewall rejects is answered: TCP with a RST from the
//! address the client tried (RFC 9293 3.10.7.1: ACK of the segment when it carried none,
//! else the sequence number it acknowledged), UDP with ICMP port unreachable, anything else
//! with ICMP administratively prohibited (RFC 1812 5.2.7.1). A RST is never answered.
//! Every rejected packet counts as `fw-reject`.
//!
//! Next: `l2-output` or `vxlan4-encap` (RST), `icmp4-error`; drops: fw-reject.

use super::src_mac;
use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::MIN_FRAME;
use crate::pipeline::{Cx, Frame, Node, Tables};
use crate::stats::{DropReason, Event};
use crate::wire::ethernet::set_macs;
use crate::wire::icmpv4;
use crate::wire::ipv4::{self, proto, Ipv4Packet, Ipv4Repr};
use crate::wire::tcp::{self, flags, TcpPacket, TcpRepr};

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let m = *f.meta(i);
        let k = m.flow;
        if k.proto != proto::TCP {
            let code = if k.proto == proto::UDP { icmpv4::unreach::PORT } else { icmpv4::unreach::ADMIN_PROHIBITED };
            cx.c.event(Event::FwRejectSent);
            f.meta_mut(i).icmp_error(DropReason::FwReject, icmpv4::kind::DEST_UNREACHABLE, code, 0);
            f.to(i, Node::Icmp4Error);
            continue;
        }
        if m.tcp_flags & flags::RST == 0 && rst(cx.t, f, i) {
            f.count_drop(DropReason::FwReject);
            cx.c.event(Event::FwRejectSent);
            let next = super::back(f.meta_mut(i));
            f.to(i, next);
        } else {
            f.drop(i, DropReason::FwReject);
        }
    }
}

/// Turns the segment in slot `i` into the RST that answers it, in place, from the address
/// and port it was sent to, out of the interface it came in on. False (nothing changed)
/// when the segment is a RST itself or cannot be read.
pub(crate) fn rst<B: PacketBuf>(t: &Tables, f: &mut Frame<B>, i: u16) -> bool {
    let m = *f.meta(i);
    let Some(g) = t.gateway_for(&m) else { return false };
    let l3 = m.l3();
    let pkt = f.buf_mut(i);
    let (src, dst, sport, dport, tcp_flags, seq, ack, payload) = {
        let Some(ip) = pkt.data().get(l3..).and_then(|d| Ipv4Packet::new_checked(d).ok()) else { return false };
        let Ok(t) = TcpPacket::new_checked(ip.payload()) else { return false };
        let payload = ip.payload().len().saturating_sub(t.header_len()) as u32;
        (ip.src(), ip.dst(), t.src_port(), t.dst_port(), t.flags(), t.seq(), t.ack(), payload)
    };
    if tcp_flags & flags::RST != 0 {
        return false;
    }
    const LEN: usize = ipv4::HEADER_LEN + tcp::HEADER_LEN;
    let len = pkt.len();
    let want = (l3 + LEN).max(MIN_FRAME);
    let sized = if len >= want { pkt.trim(len - want) } else { pkt.append(want - len).is_some() };
    if !sized {
        return false;
    }
    let d = pkt.data_mut();
    let client = src_mac(d);
    set_macs(d, client, g.mac);
    d[l3..].fill(0);
    let ip = &mut d[l3..l3 + LEN];
    Ipv4Repr {
        src: dst,
        dst: src,
        protocol: proto::TCP,
        payload_len: tcp::HEADER_LEN as u16,
        ttl: 64,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut ip[..ipv4::HEADER_LEN]);
    let syn_fin = u32::from(tcp_flags & flags::SYN != 0) + u32::from(tcp_flags & flags::FIN != 0);
    let (seq, ack, fl) = if tcp_flags & flags::ACK != 0 {
        (ack, 0, flags::RST)
    } else {
        (0, seq.wrapping_add(payload + syn_fin), flags::RST | flags::ACK)
    };
    let t = &mut ip[ipv4::HEADER_LEN..];
    TcpRepr { src_port: dport, dst_port: sport, seq, ack, flags: fl, window: 0 }.emit(t);
    if let Ok(mut tp) = TcpPacket::new_checked(t) {
        tp.fill_checksum(dst, src);
    }
    true
}
