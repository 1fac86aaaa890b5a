//! `ip4-neigh`: a routed packet's next hop (`meta.ip` in `meta.out_domain`) and its egress.
//! The next hop's MAC comes from a one-entry cache of the last next hop, the neighbour
//! table, or by ARP: the packet then waits, parked outside the frame, in the neighbour's
//! queue (RFC 1122 2.3.2.2), and the first packet of a resolution sends the request;
//! `arp-input` brings the packets back here when the answer comes (their MAC known), or
//! the timers fail them (host unreachable). Then the packet gets its next hop's MAC and the
//! egress gateway's MAC, and goes where the next hop was learned in the egress domain: a
//! port, the overlay, or flooded when not learned (yet). (It fits: `ip4-forward` checked
//! it against the domain's MTU, which counts the tunnel's.)
//!
//! The timers' ARP requests come from here too: a broadcast request flooded in the domain
//! to resolve a next hop, and a unicast probe to the known MAC of a stale one (RFC 1122
//! 2.3.2.1), sent where that MAC was learned.
//!
//! Output: tx (to a learned port, retagged here); next: `vxlan4-encap`, `l2-flood`, and
//! `l2-flood`/`l2-output`/`vxlan4-encap` for ARP requests; drops: arp-queue-full,
//! arp-failed, neighbor-table-full, no-forward, malformed, mtu-exceeded.

use super::l2_output::{send, Egress};
use super::{new_arp, ETH, PREFETCH_FROM};
use crate::buf::{BufAlloc, PacketBuf};
use crate::l2::fdb::Dest;
use crate::packet::{flag, PacketMeta};
use crate::pipeline::{AdjCache, Cx, Frame, Next, Node, State};
use crate::stats::{DropReason, Event};
use crate::wire::arp::{self, ArpRepr};
use crate::wire::MacAddr;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    list: &[u16],
) {
    if st.neigh.len() >= PREFETCH_FROM {
        for &i in list {
            let m = f.meta(i);
            if !m.has(flag::NH_KNOWN) {
                st.neigh.prefetch(m.out_domain, m.ip);
            }
        }
    }
    f.each(list, |f, _, i| {
        let m = f.meta(i);
        let (domain, ip, known) = (m.out_domain, m.ip, m.has(flag::NH_KNOWN));
        if !known {
            let hit =
                st.adj_cache.filter(|a| a.ms == cx.now && a.gen == st.fdb_gen && a.domain == domain && a.ip == ip);
            if let Some(a) = hit {
                return adjacent(cx, f, i, &a);
            }
            if !resolve(st, cx, f, i) {
                return Next::Done;
            }
        }
        rewrite(st, cx, f, i)
    });
}

/// Finds the next hop's MAC of slot `i` (into `meta.nh_mac`); false when the packet was
/// parked or dropped instead.
#[inline(always)]
fn resolve<B: PacketBuf, A: BufAlloc<Buf = B>>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) -> bool {
    let m = f.meta(i);
    let (ifx, ip) = (m.out_domain, m.ip);
    match st.next_hop_mac(cx, f, (i, ifx, ip), Node::Ip4Neigh, |cx, f| arp_request(cx, f, ifx, ip)) {
        Some(mac) => {
            f.meta_mut(i).nh_mac = mac.to_u64();
            true
        }
        None => false,
    }
}

/// Slot `i`, its next hop's MAC known (`meta.nh_mac`): the next hop's rewrite made (and
/// kept for the packets after it), then taken as [`adjacent`] takes it.
#[inline(always)]
fn rewrite<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) -> Next {
    let m = f.meta(i);
    let (domain, ip, nh_mac) = (m.out_domain, m.ip, m.nh_mac);
    let Some(g) = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway) else {
        f.drop(i, DropReason::NoForward);
        return Next::Done;
    };
    let dest = st.lookup(cx.now, domain, nh_mac, None);
    let mut macs = [0; 12];
    macs[..6].copy_from_slice(&MacAddr::from_u64(nh_mac).0);
    macs[6..].copy_from_slice(&g.mac.0);
    let a = AdjCache { domain, ip, ms: cx.now, gen: st.fdb_gen, macs, dest };
    st.adj_cache = Some(a);
    adjacent(cx, f, i, &a)
}

/// Slot `i` to the next hop `a` was made for: its addresses copied in, then where the
/// next hop's MAC was learned (to a learned port: retagged and sent here, as l2-fwd does).
/// A routed packet is a new frame of the egress domain, from wherever it came.
#[inline(always)]
fn adjacent<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16, a: &AdjCache) -> Next {
    let (b, m) = f.both_mut(i);
    let Some(h) = b.data_mut().get_mut(..ETH) else {
        f.drop(i, DropReason::Malformed);
        return Next::Done;
    };
    h[..12].copy_from_slice(&a.macs);
    m.flags &= !(flag::EXCEPT_IN | flag::OVERLAY);
    m.prio = 0;
    match a.dest {
        Some(Dest::Port(port)) => {
            let e = Egress { port, domain: a.domain, prio: 0, ntags: m.ntags };
            send(cx, f, i, e)
        }
        Some(Dest::Vtep(ip)) => {
            m.ip = ip;
            Next::To(Node::Vxlan4Encap)
        }
        None => Next::To(Node::L2Flood),
    }
}

/// An ARP request from the gateway of `domain` for `ip` to Ethernet destination `to`, in
/// a new slot not yet queued.
fn new_request<B: PacketBuf, A: BufAlloc<Buf = B>>(
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    domain: u16,
    ip: u32,
    to: MacAddr,
) -> Option<u16> {
    let g = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway)?;
    let req = ArpRepr {
        operation: arp::OP_REQUEST,
        sender_mac: g.mac,
        sender_ip: g.ip,
        target_mac: MacAddr::default(),
        target_ip: ip,
    };
    let mut m = PacketMeta::rx(0);
    m.domain = domain;
    m.out_domain = domain;
    new_arp(cx.alloc, f, to, &req, m)
}

/// An ARP request from the gateway of `domain` for `ip`, flooded in the domain.
pub(crate) fn arp_request<B: PacketBuf, A: BufAlloc<Buf = B>>(cx: &Cx<'_, A>, f: &mut Frame<B>, domain: u16, ip: u32) {
    if let Some(j) = new_request(cx, f, domain, ip, MacAddr::BROADCAST) {
        cx.c.event(Event::ArpRequestSent);
        f.to(j, Node::L2Flood);
    }
}

/// A unicast probe of stale neighbour `ip` of `domain`: an ARP request from the gateway to
/// the neighbour's known MAC `mac` (target MAC zero, as Linux's `arp_solicit` sends it),
/// out of the port or toward the VTEP that MAC was learned at, flooded when not learned.
pub(crate) fn arp_probe<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    domain: u16,
    ip: u32,
    mac: MacAddr,
) {
    let Some(j) = new_request(cx, f, domain, ip, mac) else { return };
    cx.c.event(Event::ArpProbeSent);
    match st.lookup(cx.now, domain, mac.to_u64(), None) {
        Some(Dest::Port(port)) => {
            let n = send(cx, f, j, Egress { port, domain, prio: 0, ntags: 0 });
            f.go(j, n)
        }
        Some(Dest::Vtep(vtep)) => {
            f.meta_mut(j).ip = vtep;
            f.to(j, Node::Vxlan4Encap);
        }
        None => f.to(j, Node::L2Flood),
    }
}
