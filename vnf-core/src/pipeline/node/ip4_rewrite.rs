//! `ip4-rewrite`: a routed packet gets its next hop's MAC and the egress gateway's MAC,
//! then goes where the next hop was learned in the egress domain: a port, the overlay, or
//! flooded when not learned (yet). Into the overlay, a packet that does not fit the tunnel
//! is never fragmented: with DF set its sender learns the tunnel's MTU (RFC 1191, frag
//! needed), otherwise it is dropped.
//!
//! Next: `l2-output`, `vxlan4-encap`, `l2-flood`, `icmp4-error`; drops: no-forward,
//! malformed, vxlan-mtu-exceeded.

use super::icmp4_error::prepare;
use super::ETH;
use crate::buf::{BufAlloc, PacketBuf};
use crate::l2::fdb::Dest;
use crate::packet::flag;
use crate::pipeline::{Cx, Frame, Node, State};
use crate::stats::DropReason;
use crate::wire::ethernet::set_macs;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::{icmpv4, vxlan, MacAddr};

pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        match rewrite(st, cx, f, i) {
            Ok(next) => f.to(i, next),
            Err(r) => f.drop(i, r),
        }
    }
}

#[inline(always)]
fn rewrite<B: PacketBuf, A: BufAlloc>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    i: u16,
) -> Result<Node, DropReason> {
    let (b, m) = f.both_mut(i);
    let domain = m.out_domain;
    let g = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway).ok_or(DropReason::NoForward)?;
    let mac = MacAddr::from_u64(m.nh_mac);
    let dest = st.fdb.lookup(domain, mac, cx.now);
    if let (Some(Dest::Vtep(_)), Some(v)) = (dest, cx.t.vtep.as_ref()) {
        let l3 = m.l3();
        let (ip_len, df) = match b.data().get(l3..).and_then(|d| Ipv4Packet::new_checked(d).ok()) {
            Some(ip) => (usize::from(ip.total_len()), ip.dont_frag()),
            None => (0, false),
        };
        // The inner frame's room: the underlay MTU less the outer IPv4, UDP and VXLAN headers.
        let inner_mtu = usize::from(v.mtu) - (vxlan::OVERHEAD - ETH);
        if ip_len + ETH > inner_mtu {
            if !df {
                return Err(DropReason::VxlanMtuExceeded);
            }
            // The TTL was already decremented; undo it so the quoted header is the one sent.
            if let Some(mut ip) = b.data_mut().get_mut(l3..).and_then(|d| Ipv4Packet::new_checked(d).ok()) {
                let t = ip.ttl();
                ip.set_ttl_update(t.saturating_add(1));
            }
            let rest = (inner_mtu - ETH) as u32;
            prepare(
                m,
                DropReason::VxlanMtuExceeded,
                icmpv4::kind::DEST_UNREACHABLE,
                icmpv4::unreach::FRAG_NEEDED,
                rest,
            );
            return Ok(Node::Icmp4Error);
        }
    }
    if !set_macs(b.data_mut(), mac, g.mac) {
        return Err(DropReason::Malformed);
    }
    m.flags &= !flag::EXCEPT_IN;
    m.pcp = 0;
    Ok(match dest {
        Some(Dest::Port(p)) => {
            m.out_port = p;
            Node::L2Output
        }
        Some(Dest::Vtep(ip)) => {
            m.ip = ip;
            Node::Vxlan4Encap
        }
        None => Node::L2Flood,
    })
}
