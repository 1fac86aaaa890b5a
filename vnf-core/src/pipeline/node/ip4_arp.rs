//! `ip4-arp`: the MAC of a routed packet's next hop (`meta.ip` in `meta.out_domain`), from
//! a one-entry cache of the last next hop, the neighbour table, or by ARP: the packet then
//! waits, parked outside the frame, in the neighbour's queue (RFC 1122 2.3.2.2), and the
//! first packet of a resolution sends the request. Packets are released by `arp-input`
//! when the answer comes, or failed (host unreachable) by the timers.
//!
//! Next: `ip4-rewrite`, and `l2-flood` for the ARP request; drops: arp-queue-full,
//! arp-failed, neighbor-table-full.

use super::new_arp;
use crate::buf::{BufAlloc, PacketBuf};
use crate::l3::neigh::Resolve;
use crate::packet::PacketMeta;
use crate::pipeline::{neigh_drop_reason, Cx, Frame, NhCache, Node, Pending, State};
use crate::stats::Event;
use crate::wire::arp::{self, ArpRepr};
use crate::wire::MacAddr;

pub(crate) fn run<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    list: &[u16],
) {
    for &i in list {
        let m = *f.meta(i);
        let (ifx, ip) = (m.out_domain, m.ip);
        let cached = st.nh_cache.filter(|c| c.ms == cx.now && c.ifx == ifx && c.ip == ip).map(|c| c.mac);
        let known = cached.or_else(|| st.neigh.lookup(ifx, ip, cx.now));
        if let Some(mac) = known {
            st.nh_cache = Some(NhCache { ifx, ip, mac, ms: cx.now });
            f.meta_mut(i).nh_mac = mac.to_u64();
            f.to(i, Node::Ip4Rewrite);
            continue;
        }
        let pending = Pending { pkt: f.park(i), ifx, meta: m };
        match st.neigh.resolve(ifx, ip, pending, cx.now) {
            Resolve::Known(mac, p) => {
                st.nh_cache = Some(NhCache { ifx, ip, mac, ms: cx.now });
                let mut pm = p.meta;
                pm.nh_mac = mac.to_u64();
                f.unpark(p.pkt, pm, Node::Ip4Rewrite);
            }
            Resolve::Queued { send_request } => {
                if send_request {
                    arp_request(cx, f, ifx, ip);
                }
            }
            Resolve::Dropped(p, why) => f.drop_parked(p.pkt, p.meta, neigh_drop_reason(why)),
        }
    }
}

/// An ARP request from the gateway of `domain` for `ip`, flooded in the domain.
pub(crate) fn arp_request<B: PacketBuf, A: BufAlloc<Buf = B>>(cx: &Cx<'_, A>, f: &mut Frame<B>, domain: u16, ip: u32) {
    let Some(g) = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway) else { return };
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
    if let Some(j) = new_arp(cx.alloc, f, MacAddr::BROADCAST, &req, m) {
        cx.c.event(Event::ArpRequestSent);
        f.to(j, Node::L2Flood);
    }
}
