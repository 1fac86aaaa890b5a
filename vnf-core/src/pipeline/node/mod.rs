//! One file per node, named after the step it is. A node is a function over its queue of
//! the frame: it reads and rewrites packets through the frame, updates their metadata, and
//! queues each to the next node or to an output. No node calls another.

pub mod arp_input;
pub mod fw_reject;
pub mod icmp4_error;
pub mod ip4_arp;
pub mod ip4_forward;
pub mod ip4_input;
pub mod ip4_local;
pub mod ip4_rewrite;
pub mod l2_flood;
pub mod l2_fwd;
pub mod l2_input;
pub mod l2_learn;
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
    eth_header(d, eth_dst, arp.sender_mac, EtherType::ARP);
    arp.emit(&mut d[ETH..ETH + arp::PACKET_LEN]);
    Some(i)
}

/// Length of an untagged Ethernet header.
pub(crate) const ETH: usize = crate::wire::ethernet::HEADER_LEN;

/// Writes an Ethernet header at the start of `d`.
pub(crate) fn eth_header(d: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: u16) {
    set_macs(d, dst, src);
    if let Some(e) = d.get_mut(12..14) {
        e.copy_from_slice(&ethertype.to_be_bytes());
    }
}

/// Sets the destination and source MAC of the frame `d`; false if it is too short.
pub(crate) fn set_macs(d: &mut [u8], dst: MacAddr, src: MacAddr) -> bool {
    if d.len() < 12 {
        return false;
    }
    d[0..6].copy_from_slice(&dst.0);
    d[6..12].copy_from_slice(&src.0);
    true
}

/// The source MAC of the frame `d`.
pub(crate) fn src_mac(d: &[u8]) -> MacAddr {
    MacAddr::from_u64(crate::wire::ethernet::mac_u64_at(d, 6))
}
