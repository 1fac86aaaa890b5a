//! `l2-input`: the first look at a frame received on a bridge port (Linux `br_input.c`).
//! Parses the Ethernet header and VLAN tags once into the packet's metadata, checks the
//! source MAC, and admits the frame to a bridge domain by the port's role: access ports
//! take untagged and priority-tagged frames (and frames tagged with the access VLAN);
//! trunks take their allowed C-tags, and the native VLAN untagged; QinQ trunks take
//! S-tag + allowed C-tag. The underlay port goes to `vxlan4-input`.
//!
//! Next: `l2-fwd`, `vxlan4-input`; drops: multi-segment, malformed, bad-src-mac,
//! vlan-not-allowed, untagged-not-allowed, no-forward, link-local-dst.

use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::flag;
use crate::pipeline::{Cx, Frame, Next, Node, Role, LINK_LOCAL, MCAST_BIT, NO_DOMAIN};
use crate::stats::DropReason;
use crate::wire::ethernet::mac_u64_at;
use crate::wire::vlan::L2Info;
use crate::wire::EtherType;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    f.each(list, |f, _, i| match admit(cx, f, i) {
        Ok(next) => Next::To(next),
        Err(r) => {
            f.drop(i, r);
            Next::Done
        }
    });
}

/// Raw tags: TPID in the high half, TCI (PCP/DEI/VID) in the low half.
const C: u32 = (EtherType::VLAN as u32) << 16;
const S: u32 = (EtherType::QINQ as u32) << 16;

#[inline(always)]
fn vid(r: u32) -> u16 {
    (r & 0x0fff) as u16
}

#[inline(always)]
fn is_c(r: u32) -> bool {
    r & 0xffff_0000 == C
}

#[inline(always)]
fn admit<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) -> Result<Node, DropReason> {
    let (b, m) = f.both_mut(i);
    if !b.is_contiguous() {
        return Err(DropReason::MultiSegment);
    }
    let d = b.data();
    let h = L2Info::parse(d).map_err(|_| DropReason::Malformed)?;
    let (dst, src) = (mac_u64_at(d, 0), mac_u64_at(d, 6));
    if src & MCAST_BIT != 0 || src == 0 {
        return Err(DropReason::BadSrcMac);
    }
    m.dst_mac = dst;
    m.src_mac = src;
    m.ntags = h.ntags;
    m.ethertype = h.ethertype;
    m.l3 = h.l3_offset as u16;
    m.prio = h.prio();
    let t = cx.t;
    let (r0, r1) = (h.raw_tags[0], h.raw_tags[1]);
    let domain = match t.roles.get(usize::from(m.in_port)) {
        Some(Role::Access { domain }) => match h.ntags {
            0 => *domain,
            // priority-tagged, or tagged with the access VLAN itself
            1 if is_c(r0) && (vid(r0) == 0 || Some(vid(r0)) == t.domains.get(usize::from(*domain)).map(|d| d.vlan)) => {
                *domain
            }
            _ => return Err(DropReason::VlanNotAllowed),
        },
        Some(Role::Trunk { outer: None, native, allowed }) => {
            // Untagged and priority-tagged (C-tag, VID 0) frames belong to the native VLAN;
            // C-tagged frames to their VLAN if allowed; anything else is refused.
            let untagged = h.ntags == 0 || (h.ntags == 1 && is_c(r0) && vid(r0) == 0);
            if untagged {
                native.ok_or(DropReason::UntaggedNotAllowed)?
            } else if h.ntags == 1 && is_c(r0) && allowed.contains(vid(r0)) {
                t.vlan_domain[usize::from(vid(r0))]
            } else {
                return Err(DropReason::VlanNotAllowed);
            }
        }
        Some(Role::Trunk { outer: Some(s), allowed, .. }) => {
            if h.ntags == 2 && r0 & 0xffff_0000 == S && vid(r0) == *s && is_c(r1) && allowed.contains(vid(r1)) {
                t.vlan_domain[usize::from(vid(r1))]
            } else {
                return Err(DropReason::VlanNotAllowed);
            }
        }
        Some(Role::Underlay) => return Ok(Node::Vxlan4Input),
        Some(Role::Unbridged) | None => return Err(DropReason::NoForward),
    };
    if domain == NO_DOMAIN {
        return Err(DropReason::VlanNotAllowed);
    }
    if dst >> 4 == LINK_LOCAL >> 4 {
        return Err(DropReason::LinkLocalDst);
    }
    m.domain = domain;
    m.out_domain = domain;
    m.flags |= flag::EXCEPT_IN;
    Ok(Node::L2Fwd)
}
