//! `l2-fwd`: the bridge (Linux `br_handle_frame_finish`). The source MAC is learned in the
//! frame's domain, at its ingress port or, for an inner frame from the overlay, at the VTEP
//! it came from (`br_fdb_update`); then the frame goes where it belongs: to the
//! gateway (frames to the gateway MAC, and broadcast ARP, which is also flooded), flooded
//! (group addresses and unknown unicast), or to the port or VTEP its destination was
//! learned at. An inner frame from the overlay never goes back into it (split horizon); to
//! the gateway it is routed and answered like a local host's.
//!
//! Output: tx (unicast to a learned port, retagged here); next: `l2-output` (none on this
//! path today), `l2-flood`, `vxlan4-encap`, `arp-input`, `ip4-input`; drops:
//! same-port, l3-unsupported, vxlan-split-horizon.

use super::l2_output::{send, Egress};
use super::PREFETCH_FROM;
use crate::buf::{BufAlloc, PacketBuf};
use crate::l2::fdb::Dest;
use crate::packet::flag;
use crate::pipeline::{Cx, Frame, Next, Node, State, BROADCAST, MCAST_BIT};
use crate::stats::DropReason;
use crate::wire::EtherType;

/// Packets of a frame whose FDB home slots are carried from the prefetch pass (a burst).
const CARRY: usize = 64;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    // The FDB slots the frame will touch (source and destination of each packet), before
    // any is needed; the home slots are kept for the learn and the lookup, so each key is
    // hashed once. (A table below PREFETCH_FROM entries stays in the caches: hashing ahead
    // for it would only cost.)
    let mut homes = [(0usize, 0usize); CARRY];
    let carry = st.fdb.len() >= PREFETCH_FROM && list.len() <= CARRY;
    if carry {
        for (k, &i) in list.iter().enumerate() {
            let m = f.meta(i);
            let (hs, hd) = (st.fdb.home_of(m.domain, m.src_mac), st.fdb.home_of(m.domain, m.dst_mac));
            st.fdb.prefetch_at(hs);
            st.fdb.prefetch_at(hd);
            homes[k] = (hs, hd);
        }
    }
    f.each(list, |f, k, i| {
        let (hs, hd) = if carry { (Some(homes[k].0), Some(homes[k].1)) } else { (None, None) };
        forward(st, cx, f, i, hs, hd)
    });
}

/// Slot `i` learned from and sent on, or the node it goes to. `hs`, `hd`: the FDB home
/// slots of its source and destination when the prefetch pass hashed them.
#[inline(always)]
fn forward<B: PacketBuf, A: BufAlloc>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    i: u16,
    hs: Option<usize>,
    hd: Option<usize>,
) -> Next {
    // Field by field: a whole-struct copy of metadata written field by field a node
    // earlier stalls on store forwarding.
    let m = f.meta(i);
    let (domain, dst, src, in_port, ethertype, vtep) = (m.domain, m.dst_mac, m.src_mac, m.in_port, m.ethertype, m.vtep);
    let (out_domain, prio, ntags) = (m.out_domain, m.prio, m.ntags);
    let to_port = |port| Egress { port, domain: out_domain, prio, ntags };
    let overlay = m.has(flag::OVERLAY);
    let dest = if overlay { Dest::Vtep(vtep) } else { Dest::Port(in_port) };
    st.learn(cx.c, cx.now, (domain, src), dest, hs);
    let gw = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway);
    // The gateway serves the hosts behind remote VTEPs as it serves local ones.
    if let Some(g) = gw {
        if dst == g.mac64 {
            return match ethertype {
                EtherType::ARP => Next::To(Node::ArpInput),
                EtherType::IPV4 => Next::To(Node::Ip4Input),
                _ => {
                    f.drop(i, DropReason::L3Unsupported);
                    Next::Done
                }
            };
        }
        if dst == BROADCAST && ethertype == EtherType::ARP {
            // Answered (or learned from) for the gateway and still flooded, as a host
            // on a Linux bridge would see it too.
            f.meta_mut(i).flags |= flag::ARP_BCAST;
            return Next::To(Node::ArpInput);
        }
    }
    if dst & MCAST_BIT != 0 {
        return Next::To(Node::L2Flood);
    }
    match (st.lookup(cx.now, domain, dst, hd), overlay) {
        (Some(Dest::Port(p)), true) => send(cx, f, i, to_port(p)),
        (Some(Dest::Vtep(_)), true) => {
            f.drop(i, DropReason::VxlanSplitHorizon);
            Next::Done
        }
        (Some(Dest::Port(p)), false) if p == in_port => {
            f.drop(i, DropReason::SamePort);
            Next::Done
        }
        (Some(Dest::Port(p)), false) => send(cx, f, i, to_port(p)),
        (Some(Dest::Vtep(ip)), false) => {
            f.meta_mut(i).ip = ip;
            Next::To(Node::Vxlan4Encap)
        }
        (None, _) => Next::To(Node::L2Flood),
    }
}
