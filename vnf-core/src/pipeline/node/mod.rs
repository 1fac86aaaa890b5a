//! One file per node, named after the step it is. A node is a function over its queue of
//! the frame: it reads and rewrites packets through the frame, updates their metadata, and
//! queues each to the next node or to an output. No node calls another.

pub mod arp_input;
pub mod ct_frag;
pub mod fw_reject;
pub mod icmp4_error;
pub mod ip4_forward;
pub mod ip4_frag;
pub mod ip4_input;
pub mod ip4_local;
pub mod ip4_neigh;
pub mod ip4_reass;
pub mod l2_flood;
pub mod l2_fwd;
pub mod l2_input;
pub mod l2_output;
pub mod stateful;
pub mod vxlan4_encap;
pub mod vxlan4_input;
pub mod vxlan4_output;
pub mod xconnect;

use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::PacketMeta;
use crate::pipeline::{Frame, MIN_FRAME};
use crate::wire::arp::{self, ArpRepr};
use crate::wire::ethernet::EthernetRepr;
use crate::wire::{EtherType, MacAddr};

/// A new untagged ARP frame (padded to the Ethernet minimum) in a new slot with `meta`, not
/// yet queued; its Ethernet source is the ARP sender. None when no buffer could be had
/// (counted by the frame).
pub(crate) fn new_arp<B: PacketBuf, A: BufAlloc<Buf = B>>(
    alloc: &A,
    f: &mut Frame<B>,
    eth_dst: MacAddr,
    arp: &ArpRepr,
    meta: PacketMeta,
) -> Option<u16> {
    let i = f.alloc(alloc, meta)?;
    let b = f.buf_mut(i);
    let Some(d) = b.append(MIN_FRAME) else {
        f.drop(i, crate::stats::DropReason::NoMbuf);
        return None;
    };
    d.fill(0);
    EthernetRepr { dst: eth_dst, src: arp.sender_mac, ethertype: EtherType::ARP }.emit(&mut d[..ETH]);
    arp.emit(&mut d[ETH..ETH + arp::PACKET_LEN]);
    Some(i)
}

/// Hands a copy of the ARP in slot `i` to every other worker, whose neighbour table learns
/// from it (each worker has its own; an ARP reply lands on whichever queue the NIC picks).
pub(crate) fn share_arp<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &crate::pipeline::State<B>,
    cx: &crate::pipeline::Cx<'_, A>,
    f: &mut crate::pipeline::Frame<B>,
    i: u16,
) {
    let port = f.meta(i).in_port;
    for w in (0..cx.t.workers).filter(|&w| w != st.worker) {
        if let Some(j) = f.duplicate(i) {
            cx.c.event(crate::stats::Event::ArpShared);
            f.handoff(j, w, port);
        }
    }
}

/// Sends an answer to the packet `m` describes (an ICMP error, an echo reply, a RST, an
/// ARP reply, already addressed to its sender) back where that packet came from: out of
/// its ingress port, or to the remote VTEP it came from when it arrived from the overlay.
/// Returns the node that takes it there.
#[inline]
pub(crate) fn back(m: &mut PacketMeta) -> crate::pipeline::Node {
    m.out_domain = m.domain;
    if m.has(crate::packet::flag::OVERLAY) {
        m.ip = m.vtep;
        crate::pipeline::Node::Vxlan4Encap
    } else {
        m.out_port = m.in_port;
        crate::pipeline::Node::L2Output
    }
}

/// Entries from which a node prefetches a table's slots for its frame: below that the
/// table stays in the caches and the extra hashing only costs.
pub(crate) const PREFETCH_FROM: usize = 4096;

/// Length of an untagged Ethernet header.
pub(crate) const ETH: usize = crate::wire::ethernet::HEADER_LEN;
/// Length of one 802.1Q/802.1ad tag.
pub(crate) const VLAN_TAG: usize = crate::wire::vlan::TAG_LEN;

/// The source MAC of the Ethernet frame `d` (zero if it is shorter than a header).
pub(crate) fn src_mac(d: &[u8]) -> MacAddr {
    crate::wire::EthernetFrame::new_checked(d).map(|e| e.src()).unwrap_or_default()
}
