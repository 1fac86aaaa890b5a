//! `icmp4-error`: a datagram that is not forwarded becomes an ICMP error about it (RFC 792,
//! RFC 1812 4.3.2.3: the original IP header and the first 8 bytes of its payload), from the
//! ingress domain's gateway (the VTEP address on the underlay) back to the previous hop,
//! in the packet's own buffer. A packet
//! NAT already translated is quoted as its sender sent it, and the error goes to that
//! sender's own address. No error is sent about an ICMP error, a non-first fragment, or a
//! source that is not a unicast host (RFC 1812 4.3.2.7), nor past the per-second budget.
//!
//! What to make is set on the packet by the node that sends it here
//! ([`PacketMeta::icmp_error`](crate::packet::PacketMeta::icmp_error)). The reason the
//! datagram was not forwarded (`meta.reason`) is counted once, whether the
//! error is sent or not.
//!
//! Next: `l2-output`, `vxlan4-encap` (back into the overlay); drops: the datagram's own reason.

use super::stateful::untranslate;
use super::{src_mac, ETH, VLAN_TAG};
use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::flag;
use crate::pipeline::{Cx, Frame, State};
use crate::stats::Event;
use crate::wire::ethernet::EthernetRepr;
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::wire::EtherType;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let reason = f.meta(i).reason;
        if make(st, cx, f, i) {
            f.count_drop(reason);
            cx.c.event(Event::IcmpErrorSent);
            let next = super::back(f.meta_mut(i));
            f.to(i, next);
        } else {
            f.drop(i, reason);
        }
    }
}

fn make<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) -> bool {
    let m = *f.meta(i);
    let Some(g) = cx.t.gateway_for(&m) else { return false };
    let l3 = ETH + VLAN_TAG * usize::from(m.ntags);
    untranslate(st, f, i, l3);
    let pkt = f.buf_mut(i);
    let (prev_hop, src, keep) = {
        let d = pkt.data();
        // The datagram may be only its start (a reassembly that timed out keeps that much).
        let Some(ip) = d.get(l3..).and_then(|b| Ipv4Packet::new_quoted(b).ok()) else { return false };
        let src = ip.src();
        let first = src >> 24;
        if ip.frag_offset() != 0 || src == 0 || first >= 224 || src == g.broadcast {
            return false;
        }
        if ip.protocol() == ipv4::proto::ICMP {
            if let Ok(e) = Icmpv4Packet::new_checked(ip.present_payload()) {
                if e.is_error() {
                    return false;
                }
            }
        }
        (src_mac(d), src, ip.header_len() + 8.min(ip.present_payload().len()))
    };
    if !st.icmp_budget(cx.t, cx.now) {
        cx.c.event(Event::IcmpRateLimited);
        return false;
    }
    let len = pkt.len();
    if !pkt.trim(len - (l3 + keep)) || !pkt.adj(l3) {
        return false;
    }
    const ICMP_AT: usize = ETH + ipv4::HEADER_LEN;
    let Some(hdr) = pkt.prepend(ICMP_AT + icmpv4::HEADER_LEN) else { return false };
    EthernetRepr { dst: prev_hop, src: g.mac, ethertype: EtherType::IPV4 }.emit(&mut hdr[..ETH]);
    let icmp_len = icmpv4::HEADER_LEN + keep;
    Ipv4Repr {
        src: g.ip,
        dst: src,
        protocol: ipv4::proto::ICMP,
        payload_len: icmp_len as u16,
        ttl: 64,
        dscp_ecn: 0xc0,
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut hdr[ETH..ICMP_AT]);
    let d = pkt.data_mut();
    if let Ok(mut icmp) = Icmpv4Packet::new_checked(&mut d[ICMP_AT..ICMP_AT + icmp_len]) {
        icmp.fill(m.icmp_kind, m.icmp_code, u32::from(m.icmp_mtu));
    }
    let mm = f.meta_mut(i);
    mm.ntags = 0;
    mm.prio = 0;
    mm.l3 = ETH as u16;
    mm.flags &= !flag::FLOW;
    true
}
