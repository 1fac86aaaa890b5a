//! `vxlan4-input`: a frame on the underlay port (RFC 7348 4.1). ARP for the local VTEP
//! address teaches the underlay neighbour table its sender and is answered (every request,
//! probes from 0.0.0.0 too); any other ARP from a known underlay neighbour (a gratuitous
//! ARP) updates it and is dropped as not ours; VXLAN to the
//! VTEP address and UDP port is checked (outer header checksum, UDP checksum when not zero,
//! the I flag, a VNI with a bridge, a source that is a remote VTEP of the VNI when
//! `check_source` is set), stripped with any Ethernet padding, and the inner frame goes on
//! in its bridge domain as received from that VTEP. Inner frames carry no tags unless the
//! bridge allows them; their tags are then payload. Other IPv4 to the VTEP address goes to
//! `ip4-local` (RFC 1122 3.2.2.6: a host answers ping on every address it has). With several
//! workers an underlay ARP is copied to the others, whose tables learn from it (as in
//! `arp-input`).
//!
//! Next: `l2-fwd` (inner frame), `ip4-local`, `vxlan4-output` (packets released by an ARP answer);
//! drops: underlay-not-ours, malformed, ipv4-bad-checksum, vxlan-bad-checksum,
//! vxlan-bad-flags, vxlan-unknown-vni, vxlan-unknown-vtep, vxlan-inner-tagged,
//! bad-src-mac; consumed: ARP.

use super::new_arp;
use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::{flag, PacketMeta};
use crate::pipeline::{Cx, Frame, Next, Node, State, BROADCAST, MCAST_BIT, UNDERLAY_IFX};
use crate::stats::{DropReason, Event};
use crate::wire::arp::{self, ArpPacket, ArpRepr};
use crate::wire::ethernet::mac_u64_at;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::udp::UdpPacket;
use crate::wire::vlan::L2Info;
use crate::wire::vxlan::{self, VxlanPacket};
use crate::wire::{EtherType, WireError};

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    list: &[u16],
) {
    f.each(list, |f, _, i| {
        match input(st, cx, f, i) {
            Ok(Some(next)) => return Next::To(next),
            Ok(None) => f.consumed(i),
            Err(r) => f.drop(i, r),
        }
        Next::Done
    });
}

fn input<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    i: u16,
) -> Result<Option<Node>, DropReason> {
    let v = cx.t.vtep.as_ref().ok_or(DropReason::NoForward)?;
    let m = *f.meta(i);
    let dst = m.dst_mac;
    if m.ntags != 0 || (dst != v.mac64 && dst != BROADCAST) {
        return Err(DropReason::UnderlayNotOurs);
    }
    if m.ethertype == EtherType::ARP {
        let r = f
            .buf(i)
            .data()
            .get(m.l3()..)
            .and_then(|b| ArpPacket::new_checked(b).ok())
            .map(|p| ArpRepr::parse(&p))
            .ok_or(DropReason::Malformed)?;
        // RFC 826's merge step: any ARP from a known underlay neighbour (a remote VTEP that
        // changed its MAC and announces it with a gratuitous ARP, too) updates it; a request
        // for the VTEP address creates it.
        let for_us = r.target_ip == v.ip;
        let request_for_us = for_us && r.operation == arp::OP_REQUEST;
        let neighbour = r.sender_ip != 0 && r.sender_ip != v.ip && v.prefix.contains(r.sender_ip);
        if neighbour {
            st.neigh_learn(cx, f, UNDERLAY_IFX, r.sender_ip, r.sender_mac, request_for_us);
            // The other workers learn from a copy; the copy itself is answered nowhere.
            if m.has(flag::HANDED) {
                return Ok(None);
            }
            if cx.t.workers > 1 {
                super::share_arp(st, cx, f, i);
            }
        }
        if !for_us || r.sender_ip == v.ip || !(neighbour || request_for_us) {
            return Err(DropReason::UnderlayNotOurs);
        }
        // Every request for the VTEP address is answered: a probe (sender 0.0.0.0, RFC
        // 5227) with target address 0.0.0.0 and nothing learned.
        if request_for_us && !r.sender_mac.is_multicast() && !r.sender_mac.is_zero() {
            let reply = ArpRepr {
                operation: arp::OP_REPLY,
                sender_mac: v.mac,
                sender_ip: v.ip,
                target_mac: r.sender_mac,
                target_ip: r.sender_ip,
            };
            if let Some(j) = new_arp(cx.alloc, f, r.sender_mac, &reply, PacketMeta::rx(m.in_port)) {
                cx.c.event(Event::ArpReplySent);
                f.tx(j, m.in_port);
            }
        }
        return Ok(None);
    }
    if m.ethertype != EtherType::IPV4 || dst != v.mac64 {
        return Err(DropReason::UnderlayNotOurs);
    }
    // Outer IPv4 / UDP / VXLAN.
    let (src_vtep, vni, outer, inner_len) = {
        let d = f.buf(i).data();
        let ip = d.get(m.l3()..).and_then(|b| Ipv4Packet::new_checked(b).ok()).ok_or(DropReason::Malformed)?;
        if !ip.verify_checksum() {
            return Err(DropReason::Ipv4BadChecksum);
        }
        if ip.dst() != v.ip {
            return Err(DropReason::UnderlayNotOurs);
        }
        // To the VTEP address but no VXLAN: the appliance's own (ping, port unreachable).
        if ip.protocol() != ipv4::proto::UDP || ip.is_fragment() {
            return Ok(Some(Node::Ip4Local));
        }
        let src = ip.src();
        let hl = ip.header_len();
        let udp = UdpPacket::new_checked(ip.payload()).map_err(|_| DropReason::Malformed)?;
        if udp.dst_port() != v.udp_port {
            return Ok(Some(Node::Ip4Local));
        }
        if !udp.verify_checksum(src, v.ip) {
            return Err(DropReason::VxlanBadChecksum);
        }
        match VxlanPacket::new_checked(udp.payload()) {
            Ok(x) => (src, x.vni(), m.l3() + hl + 8 + vxlan::HEADER_LEN, udp.payload().len() - vxlan::HEADER_LEN),
            Err(WireError::BadVxlanFlags) => return Err(DropReason::VxlanBadFlags),
            Err(_) => return Err(DropReason::Malformed),
        }
    };
    let domain = v.domain_of(vni).ok_or(DropReason::VxlanUnknownVni)?;
    let dom = cx.t.domains.get(usize::from(domain)).ok_or(DropReason::VxlanUnknownVni)?;
    if v.check_source && !dom.remotes.contains(&src_vtep) {
        return Err(DropReason::VxlanUnknownVtep);
    }
    // Strip the outer headers (and any Ethernet padding after the UDP datagram).
    let (b, mm) = f.both_mut(i);
    let extra = b.len().saturating_sub(outer + inner_len);
    if !b.adj(outer) || !b.trim(extra) {
        return Err(DropReason::Malformed);
    }
    cx.c.event(Event::VxlanDecap);
    if let Some(t) = cx.c.domains.get(usize::from(domain)) {
        t.decap.add(1);
    }
    if let Some(t) = cx.t.vtep_index(src_vtep).and_then(|i| cx.c.vteps.get(i)) {
        t.decap.add(1);
    }
    let d = b.data();
    let ih = L2Info::parse(d).map_err(|_| DropReason::Malformed)?;
    if ih.ntags != 0 && !dom.inner_tagged {
        return Err(DropReason::VxlanInnerTagged);
    }
    let (idst, isrc) = (mac_u64_at(d, 0), mac_u64_at(d, 6));
    if isrc & MCAST_BIT != 0 || isrc == 0 {
        return Err(DropReason::BadSrcMac);
    }
    // Inner tags stay payload: local egress adds the port's own tag outside them.
    mm.dst_mac = idst;
    mm.src_mac = isrc;
    mm.ntags = 0;
    mm.prio = 0;
    mm.ethertype = ih.ethertype;
    mm.l3 = ih.l3_offset as u16;
    mm.domain = domain;
    mm.out_domain = domain;
    mm.ip = src_vtep;
    mm.vtep = src_vtep;
    mm.flags = (mm.flags & !flag::EXCEPT_IN) | flag::OVERLAY;
    Ok(Some(Node::L2Fwd))
}
