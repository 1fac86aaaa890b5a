//! Per-packet metadata: what the pipeline knows about a packet besides its bytes.
//!
//! `l2-input` fills it in one pass (ingress port, domain, VLAN tags, L3 offset, MACs);
//! `ip4-input` adds the IPv4 fields and, on the stateful path, the flow key and its hash.
//! A node that rewrites headers updates the fields it changed (tags pushed or popped, a
//! translated tuple, a decremented TTL) instead of parsing the packet again. Everything is
//! a plain integer so the struct stays cheap to copy and its fields live in registers.

use crate::conntrack::FlowKey;
use crate::stats::DropReason;

/// Flag bits of [`PacketMeta::flags`].
pub mod flag {
    /// Handed over by another worker (its connection's owner is this one): never hand on.
    pub const HANDED: u16 = 1;
    /// An inner frame decapsulated from VXLAN: learned at its VTEP, split horizon applies.
    pub const OVERLAY: u16 = 2;
    /// A broadcast ARP in a routed domain: `arp-input` learns from it, then it is flooded.
    pub const ARP_BCAST: u16 = 4;
    /// Flooding leaves out the ingress port (a frame received on a bridge port).
    pub const EXCEPT_IN: u16 = 8;
    /// Marked by `vnfctl trace add`: every node records what it did with the packet.
    pub const TRACED: u16 = 16;
    /// [`PacketMeta::flow`] and the fields beside it hold the packet's current tuple.
    pub const FLOW: u16 = 32;
    /// [`PacketMeta::nh_mac`] holds the routed packet's next-hop MAC (released by ARP).
    pub const NH_KNOWN: u16 = 64;
    /// The first fragment of a datagram on the stateful path: `ct-frag` records how it
    /// leaves so the other fragments follow.
    pub const FRAG: u16 = 0x80;
    /// Source-translated toward another inside host's mapping: `ct-lookup` looks it up
    /// once more as arriving at the mapping (hairpinning, RFC 4787 REQ-9).
    pub const HAIRPIN: u16 = 0x100;
}

/// What the nodes know and decide about one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    /// Destination MAC as a u64 (see [`crate::wire::MacAddr::to_u64`]).
    pub dst_mac: u64,
    /// Source MAC as a u64.
    pub src_mac: u64,
    /// Next-hop MAC once resolved (`ip4-neigh`, `vxlan4-output`), as a u64.
    pub nh_mac: u64,
    /// The flow tuple, valid with [`flag::FLOW`].
    pub flow: FlowKey,
    /// The flow tuple's hash (the connection table's), valid with [`flag::FLOW`].
    pub hash: u32,
    /// IPv4 destination to route to; after `ip4-forward`, the next hop; toward the
    /// overlay, the remote VTEP; after decapsulation, the VTEP it came from.
    pub ip: u32,
    /// The next-hop MTU of a fragmentation-needed error (the low half of its "rest of
    /// header" word; 0 for the other errors `icmp4-error` makes). 16 bits keep the
    /// metadata at 80 bytes, which every node copies.
    pub icmp_mtu: u16,
    /// The remote VTEP an inner frame from the overlay came from (with [`flag::OVERLAY`]):
    /// where answers to it go back to.
    pub vtep: u32,
    /// Ingress port index.
    pub in_port: u16,
    /// Ingress bridge domain.
    pub domain: u16,
    /// Egress bridge domain (routing and flooding).
    pub out_domain: u16,
    /// Egress port index (`l2-output`).
    pub out_port: u16,
    /// Offset of the L3 header.
    pub l3: u16,
    /// EtherType after the VLAN tags.
    pub ethertype: u16,
    /// IPv4 total length (with [`flag::FLOW`]).
    pub ip_len: u16,
    /// Trace record id (with [`flag::TRACED`]).
    pub trace: u16,
    /// VLAN tags the frame carries now.
    pub ntags: u8,
    /// Priority and drop eligibility of the frame's innermost tag at ingress, as the top
    /// four bits of its TCI (PCP << 1 | DEI), kept on egress tags as IEEE 802.1Q carries
    /// them through a bridge.
    pub prio: u8,
    /// [`flag`] bits.
    pub flags: u16,
    /// IPv4 TTL as received.
    pub ttl: u8,
    /// TCP flags (with [`flag::FLOW`]).
    pub tcp_flags: u8,
    /// ICMP type (with [`flag::FLOW`]).
    pub icmp_type: u8,
    /// The ICMP error `icmp4-error` makes: type and code.
    pub icmp_kind: u8,
    /// ICMP error code.
    pub icmp_code: u8,
    /// Why the datagram is not forwarded, when `icmp4-error` answers it: counted once,
    /// whether the error is sent or not.
    pub reason: DropReason,
}

impl PacketMeta {
    /// Metadata of a packet received on `in_port`, before any node looked at it.
    #[inline(always)]
    pub const fn rx(in_port: u16) -> PacketMeta {
        PacketMeta {
            dst_mac: 0,
            src_mac: 0,
            nh_mac: 0,
            flow: FlowKey { src: 0, dst: 0, sport: 0, dport: 0, proto: 0 },
            hash: 0,
            ip: 0,
            icmp_mtu: 0,
            vtep: 0,
            in_port,
            domain: 0,
            out_domain: 0,
            out_port: 0,
            l3: 14,
            ethertype: 0,
            ip_len: 0,
            trace: 0,
            ntags: 0,
            prio: 0,
            flags: 0,
            ttl: 0,
            tcp_flags: 0,
            icmp_type: 0,
            icmp_kind: 0,
            icmp_code: 0,
            reason: DropReason::NoForward,
        }
    }

    /// True if flag bit(s) `f` are set.
    #[inline(always)]
    pub const fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    /// Sets what `icmp4-error` makes of the packet: the error's type, code and next-hop
    /// MTU (frag-needed; else 0), and the drop reason of the datagram.
    #[inline]
    pub fn icmp_error(&mut self, reason: DropReason, kind: u8, code: u8, mtu: u16) {
        self.reason = reason;
        self.icmp_kind = kind;
        self.icmp_code = code;
        self.icmp_mtu = mtu;
    }

    /// The L3 header offset as a usize.
    #[inline(always)]
    pub const fn l3(&self) -> usize {
        self.l3 as usize
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_stays_within_80_bytes() {
        // Every node copies it; 88 bytes cost cycles in each (perf/RESULTS.md, issue 14).
        assert!(std::mem::size_of::<super::PacketMeta>() <= 80, "{}", std::mem::size_of::<super::PacketMeta>());
    }
}
