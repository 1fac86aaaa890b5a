//! `ip4-forward`: routing of an IPv4 packet to `meta.ip` (RFC 1812 5.2, 5.3): multicast,
//! loopback, "this network" and limited or directed broadcast destinations are not
//! forwarded; an expiring TTL and a missing route are answered with ICMP time exceeded and
//! net unreachable; otherwise the TTL is decremented (checksum updated incrementally) and
//! the next hop is the route's gateway or, on a connected subnet, the destination itself.
//! A packet larger than the MTU of the domain it is routed into is answered with ICMP
//! fragmentation needed and that MTU when it has DF set (RFC 1191 4, RFC 1812 5.2.6;
//! checked before the TTL is decremented, so the quoted header is the one received, as
//! Linux `ip_forward` does), and fragmented otherwise.
//!
//! Next: `ip4-neigh`, `ip4-frag`, `icmp4-error`; drops: not-routable, frag-needed.

use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{Cx, Frame, Next, Node, RouteCache, State, Tables};
use crate::stats::{DropReason, Event};
use crate::wire::icmpv4;
use crate::wire::ipv4::{self, Ipv4Packet};

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    // Counted once per frame: a counter in memory updated per packet is a store the next
    // packet's update waits on.
    let mut routed = 0;
    f.each(list, |f, _, i| match forward(st, cx, f, i) {
        Ok(next) => {
            routed += u64::from(next != Node::Icmp4Error);
            Next::To(next)
        }
        Err(r) => {
            f.drop(i, r);
            Next::Done
        }
    });
    if routed > 0 {
        cx.c.event_n(Event::Routed, routed);
    }
}

#[inline(always)]
fn forward<B: PacketBuf, A: BufAlloc>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    i: u16,
) -> Result<Node, DropReason> {
    let (b, m) = f.both_mut(i);
    let dst = m.ip;
    let first = dst >> 24;
    if first >= 224 || first == 0 || first == 127 {
        return Err(DropReason::NotRoutable);
    }
    if m.ttl <= 1 {
        m.icmp_error(DropReason::TtlExceeded, icmpv4::kind::TIME_EXCEEDED, 0, 0);
        return Ok(Node::Icmp4Error);
    }
    let RouteCache { nh, mtu, .. } = match st.route_cache.filter(|r| r.dst == dst) {
        Some(r) => r,
        None => match route(cx.t, dst) {
            Ok(r) => {
                st.route_cache = Some(r);
                r
            }
            Err(DropReason::NoRoute) => {
                m.icmp_error(DropReason::NoRoute, icmpv4::kind::DEST_UNREACHABLE, icmpv4::unreach::NET, 0);
                return Ok(Node::Icmp4Error);
            }
            Err(r) => return Err(r),
        },
    };
    // ip4-input checked the header; only its fixed 20 bytes are touched here.
    let Some(h) = b.data_mut().get_mut(m.l3()..m.l3() + ipv4::HEADER_LEN) else { return Err(DropReason::Malformed) };
    let mut ip = Ipv4Packet::new_unchecked(h);
    let fits = ip.total_len() <= mtu;
    if !fits && ip.dont_frag() {
        m.icmp_error(DropReason::FragNeeded, icmpv4::kind::DEST_UNREACHABLE, icmpv4::unreach::FRAG_NEEDED, mtu);
        return Ok(Node::Icmp4Error);
    }
    ip.set_ttl_update(m.ttl - 1);
    m.out_domain = nh.domain;
    m.ip = nh.via.unwrap_or(dst);
    Ok(if fits { Node::Ip4Neigh } else { Node::Ip4Frag })
}

/// The route to `dst` (a routable unicast address) in `t`; `no-route` when none covers it
/// (answered with net unreachable), `not-routable` for the network or broadcast address of
/// a connected subnet.
#[inline(always)]
fn route(t: &Tables, dst: u32) -> Result<RouteCache, DropReason> {
    let nh = *t.lpm.lookup(dst).and_then(|i| t.next_hops.get(i as usize)).ok_or(DropReason::NoRoute)?;
    let dom = t.domains.get(usize::from(nh.domain)).ok_or(DropReason::NoForward)?;
    if let Some(g) = dom.gateway {
        if nh.via.is_none() && (dst == g.network || dst == g.broadcast) {
            return Err(DropReason::NotRoutable);
        }
    }
    Ok(RouteCache { dst, nh, mtu: dom.mtu })
}
