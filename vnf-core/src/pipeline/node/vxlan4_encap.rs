//! `vxlan4-encap`: an inner frame of `meta.out_domain` (its tags removed) toward remote
//! VTEP `meta.ip` (RFC 7348 5): outer Ethernet/IPv4/UDP/VXLAN built in headroom, UDP
//! source port from a hash of the inner flow (49152..=65535), UDP checksum 0, DF set, TTL
//! 64. Never fragments (RFC 7348 4.3): a frame above the underlay MTU is dropped, and when
//! it is IPv4 with DF set in a bridge with a gateway, its sender learns the tunnel's MTU
//! from an ICMP fragmentation needed sent from the gateway (as Linux's VXLAN device answers
//! bridged traffic, `skb_tunnel_check_pmtu`). Then the underlay next hop's MAC: cached,
//! from the neighbour table, or by ARP on the underlay (the packet waits parked, like
//! `ip4-neigh`). What left is counted (`vxlan-encap`, per bridge and per remote VTEP) by
//! `vxlan4-output`, when it is sent.
//!
//! Output: tx on the underlay port; next: `vxlan4-output` (a packet released from the
//! neighbour queue later), `icmp4-error`; tx of underlay ARP requests (broadcast to
//! resolve, unicast to the known MAC to re-probe a stale next hop); drops: no-forward, malformed,
//! vxlan-mtu-exceeded, no-mbuf, arp-queue-full, arp-failed, neighbor-table-full.

use super::vxlan4_output::output;
use super::{new_arp, ETH, VLAN_TAG};
use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::PacketMeta;
use crate::pipeline::{flow_hash, retag, Cx, Frame, Node, State, UNDERLAY_IFX};
use crate::stats::{DropReason, Event};
use crate::wire::arp::{self, ArpRepr};
use crate::wire::icmpv4;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::{vxlan, EtherType, MacAddr};

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    list: &[u16],
) {
    for &i in list {
        let nh = match encap(st, cx, f, i) {
            Ok(nh) => nh,
            Err(DropReason::VxlanMtuExceeded) if too_big(cx, f, i) => {
                f.to(i, Node::Icmp4Error);
                continue;
            }
            Err(r) => {
                f.drop(i, r);
                continue;
            }
        };
        let back = Node::Vxlan4Output;
        if let Some(mac) = st.next_hop_mac(cx, f, (i, UNDERLAY_IFX, nh), back, |cx, f| arp_request(cx, f, nh)) {
            output(cx, f, i, mac);
        }
    }
}

/// Slot `i` does not fit the tunnel: true when it is to be answered with ICMP
/// fragmentation needed (IPv4 with DF, in a bridge with a gateway to send it from).
fn too_big<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) -> bool {
    let (b, m) = f.both_mut(i);
    let Some(v) = cx.t.vtep.as_ref() else { return false };
    let routed = cx.t.domains.get(usize::from(m.domain)).is_some_and(|d| d.gateway.is_some());
    let df = m.ethertype == EtherType::IPV4
        && b.data().get(m.l3()..).and_then(|d| Ipv4Packet::new_checked(d).ok()).is_some_and(|ip| ip.dont_frag());
    if !routed || !df {
        return false;
    }
    let mtu = v.mtu.saturating_sub(vxlan::OVERHEAD as u16);
    m.icmp_error(DropReason::VxlanMtuExceeded, icmpv4::kind::DEST_UNREACHABLE, icmpv4::unreach::FRAG_NEEDED, mtu);
    true
}

/// Encapsulates slot `i`; returns the underlay next hop.
fn encap<B: PacketBuf, A: BufAlloc>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    i: u16,
) -> Result<u32, DropReason> {
    let (pkt, m) = f.both_mut(i);
    let domain = m.out_domain;
    let ip = m.ip;
    let (Some(v), Some(vni)) = (cx.t.vtep.as_ref(), cx.t.domains.get(usize::from(domain)).and_then(|d| d.vni)) else {
        return Err(DropReason::NoForward);
    };
    // The inner frame goes untagged.
    let inner_len = pkt.len() - VLAN_TAG * usize::from(m.ntags);
    let ip_len = inner_len + vxlan::OVERHEAD - ETH;
    if ip_len > usize::from(v.mtu) {
        return Err(DropReason::VxlanMtuExceeded);
    }
    if !retag(pkt, m.ntags, &[]) {
        return Err(DropReason::Malformed);
    }
    m.ntags = 0;
    let sport = 49152 | (flow_hash(pkt.data()) & 0x3fff) as u16;
    st.ip_ident = st.ip_ident.wrapping_add(1);
    let ident = st.ip_ident;
    let Some(hdr) = pkt.prepend(vxlan::OVERHEAD) else { return Err(DropReason::NoMbuf) };
    // The destination MAC is the underlay next hop's, set once it is known. (Fits in u16:
    // ip_len is at most the underlay MTU.)
    if !v.outer.emit(hdr, ip, inner_len as u16, ident, sport, vni) {
        return Err(DropReason::Malformed);
    }
    m.l3 = ETH as u16;
    m.ethertype = EtherType::IPV4;
    Ok(v.next_hop(ip))
}

/// An ARP request from the local VTEP for underlay address `ip`, broadcast out of the
/// underlay port.
pub(crate) fn arp_request<B: PacketBuf, A: BufAlloc<Buf = B>>(cx: &Cx<'_, A>, f: &mut Frame<B>, ip: u32) {
    underlay_request(cx, f, ip, MacAddr::BROADCAST, Event::ArpRequestSent);
}

/// A unicast probe of stale underlay neighbour `ip` (a remote VTEP or the underlay
/// gateway): an ARP request from the local VTEP to its known MAC `mac` (target MAC zero),
/// out of the underlay port.
pub(crate) fn arp_probe<B: PacketBuf, A: BufAlloc<Buf = B>>(cx: &Cx<'_, A>, f: &mut Frame<B>, ip: u32, mac: MacAddr) {
    underlay_request(cx, f, ip, mac, Event::ArpProbeSent);
}

fn underlay_request<B: PacketBuf, A: BufAlloc<Buf = B>>(
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    ip: u32,
    to: MacAddr,
    ev: Event,
) {
    let Some(v) = cx.t.vtep.as_ref() else { return };
    let req = ArpRepr {
        operation: arp::OP_REQUEST,
        sender_mac: v.mac,
        sender_ip: v.ip,
        target_mac: MacAddr::default(),
        target_ip: ip,
    };
    if let Some(j) = new_arp(cx.alloc, f, to, &req, PacketMeta::rx(v.port)) {
        cx.c.event(ev);
        f.tx(j, v.port);
    }
}
