//! `l2-fwd`: where a frame goes in its domain (Linux `br_handle_frame_finish`): to the
//! gateway (frames to the gateway MAC, and broadcast ARP, which is also flooded), flooded
//! (group addresses and unknown unicast), or to the port or VTEP its destination was
//! learned at. An inner frame from the overlay never goes back into it (split horizon) and
//! is never routed.
//!
//! Next: `l2-output`, `l2-flood`, `vxlan4-encap`, `arp-input`, `ip4-input`; drops:
//! same-port, l3-unsupported, l3-from-overlay, vxlan-split-horizon.

use crate::buf::{BufAlloc, PacketBuf};
use crate::l2::fdb::Dest;
use crate::packet::flag;
use crate::pipeline::{Cx, Frame, Node, State, BROADCAST, MCAST_BIT};
use crate::stats::DropReason;
use crate::wire::EtherType;

pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let m = *f.meta(i);
        let gw = cx.t.domains.get(usize::from(m.domain)).and_then(|d| d.gateway);
        let dst = m.dst_mac;
        if m.has(flag::OVERLAY) {
            if gw.is_some_and(|g| g.mac64 == dst) {
                f.drop(i, DropReason::L3FromOverlay);
                continue;
            }
            if dst & MCAST_BIT != 0 {
                f.to(i, Node::L2Flood);
                continue;
            }
            match st.lookup(cx.now, m.domain, dst) {
                Some(Dest::Port(p)) => {
                    f.meta_mut(i).out_port = p;
                    f.to(i, Node::L2Output)
                }
                Some(Dest::Vtep(_)) => f.drop(i, DropReason::VxlanSplitHorizon),
                None => f.to(i, Node::L2Flood),
            }
            continue;
        }
        if let Some(g) = gw {
            if dst == g.mac64 {
                match m.ethertype {
                    EtherType::ARP => f.to(i, Node::ArpInput),
                    EtherType::IPV4 => f.to(i, Node::Ip4Input),
                    _ => f.drop(i, DropReason::L3Unsupported),
                }
                continue;
            }
            if dst == BROADCAST && m.ethertype == EtherType::ARP {
                // Answered (or learned from) for the gateway and still flooded, as a host
                // on a Linux bridge would see it too.
                f.meta_mut(i).flags |= flag::ARP_BCAST;
                f.to(i, Node::ArpInput);
                continue;
            }
        }
        if dst & MCAST_BIT != 0 {
            f.to(i, Node::L2Flood);
            continue;
        }
        match st.lookup(cx.now, m.domain, dst) {
            Some(Dest::Port(p)) if p == m.in_port => f.drop(i, DropReason::SamePort),
            Some(Dest::Port(p)) => {
                f.meta_mut(i).out_port = p;
                f.to(i, Node::L2Output)
            }
            Some(Dest::Vtep(ip)) => {
                f.meta_mut(i).ip = ip;
                f.to(i, Node::Vxlan4Encap)
            }
            None => f.to(i, Node::L2Flood),
        }
    }
}
