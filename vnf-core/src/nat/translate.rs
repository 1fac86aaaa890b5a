//! Packet rewriting for NAT: addresses and ports with incremental checksum updates
//! (RFC 1624), and ICMP errors with their embedded header (RFC 5508).
//!
//! Every function takes the IPv4 packet as a slice from the IP header to the end of the
//! frame and a tuple the caller parsed from it (so the lengths were checked); none can
//! panic on a slice shorter than it expects: they check and return `false`.

use crate::conntrack::FlowKey;
use crate::wire::checksum::{self, update32};
use crate::wire::ipv4::proto;

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline(always)]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
#[inline(always)]
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Where the L4 checksum of `proto` sits in its header, and whether the pseudo-header
/// (addresses) is part of it.
#[inline(always)]
fn l4_checksum_at(p: u8) -> Option<(usize, bool)> {
    match p {
        proto::TCP => Some((16, true)),
        proto::UDP => Some((6, true)),
        proto::ICMP => Some((2, false)),
        _ => None,
    }
}

/// The one's complement sum of `!old + new` over the 16-bit halves of a 32-bit field:
/// what adding to a checksum's complement moves it from `old` to `new` (RFC 1624 eqn. 3).
#[inline(always)]
fn delta32(old: u32, new: u32) -> u32 {
    u32::from(!(old >> 16) as u16) + u32::from(!old as u16) + (new >> 16) + (new & 0xffff)
}

#[inline(always)]
fn delta16(old: u16, new: u16) -> u32 {
    u32::from(!old) + u32::from(new)
}

/// Applies an accumulated delta to a checksum: `~(~HC + delta)`, folded.
#[inline(always)]
fn apply(csum: u16, delta: u32) -> u16 {
    let mut acc = u32::from(!csum) + delta;
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// Rewrites the packet whose tuple is `from` into `to`: source and destination address,
/// ports (TCP/UDP) or echo identifier (ICMP, `sport`), and every checksum incrementally.
/// A UDP checksum of zero (none) stays zero. Returns false if the slice is too short.
#[inline]
pub fn rewrite(ip: &mut [u8], from: &FlowKey, to: &FlowKey) -> bool {
    if ip.len() < 20 {
        return false;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let addr = delta32(from.src, to.src) + delta32(from.dst, to.dst);
    if from.src != to.src || from.dst != to.dst {
        let c = apply(be16(ip, 10), addr);
        put16(ip, 10, c);
        put32(ip, 12, to.src);
        put32(ip, 16, to.dst);
    }
    rewrite_l4(ip, hl, from, to, addr, true)
}

/// The L4 part of [`rewrite`]: `l4` is the offset of the L4 header in `ip`, `addr` the
/// address delta for the pseudo-header. With `whole = false` the L4 header may be a
/// truncated quote (inside an ICMP error): a checksum beyond its end is left alone.
#[inline]
fn rewrite_l4(ip: &mut [u8], l4: usize, from: &FlowKey, to: &FlowKey, addr: u32, whole: bool) -> bool {
    let Some((at, pseudo)) = l4_checksum_at(from.proto) else { return true };
    let need = if from.proto == proto::ICMP { l4 + 6 } else { l4 + 4 };
    if ip.len() < need {
        return false;
    }
    let has_sum = ip.len() >= l4 + at + 2;
    if !has_sum && whole {
        return false;
    }
    let mut d = if pseudo { addr } else { 0 };
    if from.proto == proto::ICMP {
        // The echo identifier.
        if from.sport != to.sport {
            d += delta16(from.sport, to.sport);
            put16(ip, l4 + 4, to.sport);
        }
    } else {
        if from.sport != to.sport {
            d += delta16(from.sport, to.sport);
            put16(ip, l4, to.sport);
        }
        if from.dport != to.dport {
            d += delta16(from.dport, to.dport);
            put16(ip, l4 + 2, to.dport);
        }
    }
    if has_sum {
        let c = be16(ip, l4 + at);
        if from.proto == proto::UDP && c == 0 {
            // No checksum: stays none.
            return true;
        }
        let mut n = apply(c, d);
        if from.proto == proto::UDP && n == 0 {
            n = 0xffff;
        }
        put16(ip, l4 + at, n);
    }
    true
}

/// Translates an ICMP error (RFC 5508): the outer addresses to `outer_src`/`outer_dst`,
/// the embedded header from `inner_from` to `inner_to` (its addresses, header checksum,
/// ports and, when quoted, its L4 checksum), and the ICMP checksum over the whole message.
/// `ip` is the outer packet; the embedded header starts 8 bytes into the ICMP message.
pub fn rewrite_icmp_error(
    ip: &mut [u8],
    outer_src: u32,
    outer_dst: u32,
    inner_from: &FlowKey,
    inner_to: &FlowKey,
) -> bool {
    if ip.len() < 20 {
        return false;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2)).min(ip.len());
    let inner = hl + 8;
    if total < inner + 20 {
        return false;
    }
    let (os, od) =
        (u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]), u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]));
    {
        let mut c = be16(ip, 10);
        c = update32(c, os, outer_src);
        c = update32(c, od, outer_dst);
        put16(ip, 10, c);
        put32(ip, 12, outer_src);
        put32(ip, 16, outer_dst);
    }
    let msg = &mut ip[hl..total];
    let e = &mut msg[8..];
    let ihl = usize::from(e[0] & 0x0f) * 4;
    if ihl < 20 || e.len() < ihl {
        return false;
    }
    let addr = delta32(inner_from.src, inner_to.src) + delta32(inner_from.dst, inner_to.dst);
    {
        let c = apply(be16(e, 10), addr);
        put16(e, 10, c);
        put32(e, 12, inner_to.src);
        put32(e, 16, inner_to.dst);
    }
    if !rewrite_l4(e, ihl, inner_from, inner_to, addr, false) {
        return false;
    }
    put16(msg, 2, 0);
    let c = checksum::checksum(msg);
    put16(msg, 2, c);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv4::Icmpv4Packet;
    use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
    use crate::wire::tcp::TcpPacket;
    use crate::wire::udp::UdpPacket;

    fn ip(a: [u8; 4]) -> u32 {
        u32::from_be_bytes(a)
    }

    /// An IPv4 packet with `l4` as payload, every checksum filled from scratch.
    fn packet(p: u8, src: u32, dst: u32, l4: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 20 + l4.len()];
        Ipv4Repr {
            src,
            dst,
            protocol: p,
            payload_len: l4.len() as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 7,
            dont_frag: true,
        }
        .emit(&mut b[..20]);
        b[20..].copy_from_slice(l4);
        match p {
            proto::TCP => TcpPacket::new_checked(&mut b[20..]).unwrap().fill_checksum(src, dst),
            proto::UDP => UdpPacket::new_checked(&mut b[20..]).unwrap().fill_checksum(src, dst),
            proto::ICMP => {
                let c = checksum::checksum(&b[20..]);
                put16(&mut b, 22, c);
            }
            _ => {}
        }
        b
    }

    fn tcp_syn(sport: u16, dport: u16) -> Vec<u8> {
        let mut t = vec![0u8; 24];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        t[12] = 6 << 4;
        t[13] = 0x02;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]);
        t
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0u8; 8 + payload.len()];
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u[8..].copy_from_slice(payload);
        u
    }

    fn echo(kind: u8, id: u16, seq: u16) -> Vec<u8> {
        let mut e = vec![kind, 0, 0, 0, 0, 0, 0, 0, b'p', b'i', b'n', b'g'];
        e[4..6].copy_from_slice(&id.to_be_bytes());
        e[6..8].copy_from_slice(&seq.to_be_bytes());
        e
    }

    fn key(p: u8, s: [u8; 4], sp: u16, d: [u8; 4], dp: u16) -> FlowKey {
        FlowKey { src: ip(s), dst: ip(d), sport: sp, dport: dp, proto: p }
    }

    #[test]
    fn tcp_snat_equals_a_packet_built_with_the_new_tuple() {
        let from = key(proto::TCP, [198, 51, 100, 10], 40000, [203, 0, 113, 80], 80);
        let to = key(proto::TCP, [203, 0, 113, 1], 1025, [203, 0, 113, 80], 80);
        let mut b = packet(proto::TCP, from.src, from.dst, &tcp_syn(40000, 80));
        assert!(rewrite(&mut b, &from, &to));
        assert_eq!(b, packet(proto::TCP, to.src, to.dst, &tcp_syn(1025, 80)));
        assert!(Ipv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
    }

    #[test]
    fn udp_dnat_and_zero_checksum() {
        let from = key(proto::UDP, [192, 0, 2, 9], 5000, [203, 0, 113, 1], 53);
        let to = key(proto::UDP, [192, 0, 2, 9], 5000, [198, 51, 100, 5], 5353);
        let mut b = packet(proto::UDP, from.src, from.dst, &udp(5000, 53, b"query"));
        assert!(rewrite(&mut b, &from, &to));
        assert_eq!(b, packet(proto::UDP, to.src, to.dst, &udp(5000, 5353, b"query")));
        // Without a checksum the field stays zero.
        let mut b = packet(proto::UDP, from.src, from.dst, &udp(5000, 53, b"query"));
        b[26..28].fill(0);
        assert!(rewrite(&mut b, &from, &to));
        let mut want = packet(proto::UDP, to.src, to.dst, &udp(5000, 5353, b"query"));
        want[26..28].fill(0);
        assert_eq!(b, want);
    }

    #[test]
    fn icmp_echo_identifier() {
        let from = key(proto::ICMP, [198, 51, 100, 10], 0x77, [203, 0, 113, 80], 0x77);
        let to = key(proto::ICMP, [203, 0, 113, 1], 1030, [203, 0, 113, 80], 1030);
        let mut b = packet(proto::ICMP, from.src, from.dst, &echo(8, 0x77, 3));
        assert!(rewrite(&mut b, &from, &to));
        assert_eq!(b, packet(proto::ICMP, to.src, to.dst, &echo(8, 1030, 3)));
        assert!(Icmpv4Packet::new_checked(&b[20..]).unwrap().verify_checksum());
    }

    #[test]
    fn short_packets_are_refused_not_panicking() {
        let from = key(proto::TCP, [1, 1, 1, 1], 1, [2, 2, 2, 2], 2);
        let to = key(proto::TCP, [3, 3, 3, 3], 3, [2, 2, 2, 2], 2);
        let b = packet(proto::TCP, from.src, from.dst, &tcp_syn(1, 2));
        for n in 0..b.len() {
            let mut s = b[..n].to_vec();
            let _ = rewrite(&mut s, &from, &to);
            let _ = rewrite_icmp_error(&mut s, 1, 2, &from, &to);
        }
    }

    /// An ICMP error from `router` to `dst` quoting the first `quote` bytes of `orig`.
    fn icmp_error(router: u32, dst: u32, kind: u8, code: u8, orig: &[u8], quote: usize) -> Vec<u8> {
        let mut m = vec![kind, code, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&orig[..quote.min(orig.len())]);
        packet(proto::ICMP, router, dst, &m)
    }

    #[test]
    fn icmp_error_about_a_snat_flow_is_translated_byte_exact() {
        // Inside 198.51.100.10:40000 -> 203.0.113.80:53 leaves as 203.0.113.1:1025; a router
        // 203.0.113.254 says port unreachable to the pool address, quoting what it saw.
        let inside = key(proto::UDP, [198, 51, 100, 10], 40000, [203, 0, 113, 80], 53);
        let outside = key(proto::UDP, [203, 0, 113, 1], 1025, [203, 0, 113, 80], 53);
        let router = ip([203, 0, 113, 254]);
        let seen = packet(proto::UDP, outside.src, outside.dst, &udp(1025, 53, b"abcdefgh"));
        let sent = packet(proto::UDP, inside.src, inside.dst, &udp(40000, 53, b"abcdefgh"));
        for quote in [28, 36, seen.len()] {
            let mut b = icmp_error(router, outside.src, 3, 3, &seen, quote);
            assert!(rewrite_icmp_error(&mut b, router, inside.src, &outside, &inside));
            let want = icmp_error(router, inside.src, 3, 3, &sent, quote);
            assert_eq!(b, want, "quote {quote}");
        }
    }

    #[test]
    fn icmp_error_about_tcp_updates_the_quoted_checksum_only_when_quoted() {
        let inside = key(proto::TCP, [198, 51, 100, 10], 40000, [203, 0, 113, 80], 80);
        let outside = key(proto::TCP, [203, 0, 113, 1], 1025, [203, 0, 113, 80], 80);
        let router = ip([203, 0, 113, 254]);
        let seen = packet(proto::TCP, outside.src, outside.dst, &tcp_syn(1025, 80));
        let sent = packet(proto::TCP, inside.src, inside.dst, &tcp_syn(40000, 80));
        // 8 bytes of TCP: ports and sequence number; the checksum is not quoted.
        let mut b = icmp_error(router, outside.src, 11, 0, &seen, 28);
        assert!(rewrite_icmp_error(&mut b, router, inside.src, &outside, &inside));
        assert_eq!(b, icmp_error(router, inside.src, 11, 0, &sent, 28));
        // The whole segment quoted: its checksum is updated too.
        let mut b = icmp_error(router, outside.src, 3, 4, &seen, seen.len());
        assert!(rewrite_icmp_error(&mut b, router, inside.src, &outside, &inside));
        assert_eq!(b, icmp_error(router, inside.src, 3, 4, &sent, sent.len()));
    }

    #[test]
    fn icmp_error_about_an_echo_request() {
        let inside = key(proto::ICMP, [198, 51, 100, 10], 9, [203, 0, 113, 80], 9);
        let outside = key(proto::ICMP, [203, 0, 113, 1], 2000, [203, 0, 113, 80], 2000);
        let router = ip([203, 0, 113, 254]);
        let seen = packet(proto::ICMP, outside.src, outside.dst, &echo(8, 2000, 1));
        let sent = packet(proto::ICMP, inside.src, inside.dst, &echo(8, 9, 1));
        let mut b = icmp_error(router, outside.src, 11, 0, &seen, 28);
        assert!(rewrite_icmp_error(&mut b, router, inside.src, &outside, &inside));
        assert_eq!(b, icmp_error(router, inside.src, 11, 0, &sent, 28));
    }
}
