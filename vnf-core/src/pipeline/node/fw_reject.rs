//! `fw-reject`: a new connection the firewall rejects is answered: TCP with a RST from the
//! address the client tried (RFC 9293 3.10.7.1: ACK of the segment when it carried none,
//! else the sequence number it acknowledged), UDP with ICMP port unreachable, anything else
//! with ICMP administratively prohibited (RFC 1812 5.2.7.1). A RST is never answered.
//! Every rejected packet counts as `fw-reject`.
//!
//! Next: `l2-output` (RST), `icmp4-error`; drops: fw-reject.

use super::icmp4_error::prepare;
use super::set_macs;
use super::src_mac;
use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{Cx, Frame, Node};
use crate::stats::{DropReason, Event};
use crate::wire::icmpv4;
use crate::wire::ipv4::{proto, Ipv4Repr};
use crate::wire::tcp::{flags, TcpPacket};

pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let m = *f.meta(i);
        let k = m.flow;
        if k.proto != proto::TCP {
            let code = if k.proto == proto::UDP { icmpv4::unreach::PORT } else { icmpv4::unreach::ADMIN_PROHIBITED };
            cx.c.event(Event::FwRejectSent);
            prepare(f.meta_mut(i), DropReason::FwReject, icmpv4::kind::DEST_UNREACHABLE, code, 0);
            f.to(i, Node::Icmp4Error);
            continue;
        }
        if m.tcp_flags & flags::RST == 0 && rst(cx, f, i) {
            f.count_drop(DropReason::FwReject);
            cx.c.event(Event::FwRejectSent);
            let mm = f.meta_mut(i);
            mm.out_port = m.in_port;
            mm.out_domain = m.domain;
            f.to(i, Node::L2Output);
        } else {
            f.drop(i, DropReason::FwReject);
        }
    }
}

/// Turns the segment in slot `i` into the RST that answers it, in place.
fn rst<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) -> bool {
    let m = *f.meta(i);
    let k = m.flow;
    let Some(g) = cx.t.domains.get(usize::from(m.domain)).and_then(|d| d.gateway) else { return false };
    let l3 = m.l3();
    let pkt = f.buf_mut(i);
    let (seq, ack, payload) = {
        let d = pkt.data();
        let Some(ip) = d.get(l3..) else { return false };
        let hl = usize::from(ip[0] & 0x0f) * 4;
        let Some(Ok(t)) = ip.get(hl..).map(TcpPacket::new_checked) else { return false };
        let payload = usize::from(m.ip_len).saturating_sub(hl + t.header_len()) as u32;
        (t.seq(), t.ack(), payload)
    };
    let len = pkt.len();
    let want = (l3 + 40).max(60);
    let sized = if len >= want { pkt.trim(len - want) } else { pkt.append(want - len).is_some() };
    if !sized {
        return false;
    }
    let d = pkt.data_mut();
    let client = src_mac(d);
    set_macs(d, client, g.mac);
    d[l3..].fill(0);
    let ip = &mut d[l3..l3 + 40];
    Ipv4Repr {
        src: k.dst,
        dst: k.src,
        protocol: proto::TCP,
        payload_len: 20,
        ttl: 64,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut ip[..20]);
    let t = &mut ip[20..40];
    t[0..2].copy_from_slice(&k.dport.to_be_bytes());
    t[2..4].copy_from_slice(&k.sport.to_be_bytes());
    let syn_fin = u32::from(m.tcp_flags & flags::SYN != 0) + u32::from(m.tcp_flags & flags::FIN != 0);
    if m.tcp_flags & flags::ACK != 0 {
        t[4..8].copy_from_slice(&ack.to_be_bytes());
        t[13] = flags::RST;
    } else {
        t[8..12].copy_from_slice(&seq.wrapping_add(payload + syn_fin).to_be_bytes());
        t[13] = flags::RST | flags::ACK;
    }
    t[12] = 5 << 4;
    if let Ok(mut tp) = TcpPacket::new_checked(&mut t[..]) {
        tp.fill_checksum(k.dst, k.src);
    }
    true
}
