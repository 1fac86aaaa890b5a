//! The L4 flow of an IPv4 packet: the 5-tuple a connection tracker keys on, and what else
//! it needs from the packet, read once.
//!
//! Ports are the TCP and UDP ports; an ICMP echo request or reply carries its identifier in
//! both, so that a reply's reversed tuple is its request's. Other ICMP messages and other
//! protocols have ports 0. The ICMP errors (destination unreachable, time exceeded,
//! parameter problem) are flagged: the flow they are about is the datagram they quote
//! ([`embedded`]).
//!
//! Only the L4 header's own length is checked (20 bytes for TCP, 8 for UDP and ICMP), not
//! the TCP data offset or the UDP length field: a tracker keys on such packets like on any
//! other. Fragments have no tuple ([`WireError::Fragment`]): only the first carries the L4
//! header, and nothing is reassembled here.

use super::icmpv4::{self, Icmpv4Packet};
use super::ipv4::{proto, Ipv4Packet};
use super::tcp::{self, TcpPacket};
use super::udp::{self, UdpPacket};
use super::{Result, WireError};

/// The 5-tuple of an IPv4 flow (host order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Tuple {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port (ICMP echo: the identifier; 0 for other ICMP and other protocols).
    pub sport: u16,
    /// Destination port (ICMP echo: the identifier; 0 for other ICMP and other protocols).
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
}

impl Ipv4Tuple {
    /// The tuple of a packet travelling the other way.
    pub fn reverse(&self) -> Ipv4Tuple {
        Ipv4Tuple { src: self.dst, dst: self.src, sport: self.dport, dport: self.sport, proto: self.proto }
    }
}

/// What a connection tracker reads from an IPv4 packet that is not a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Flow {
    /// The 5-tuple.
    pub tuple: Ipv4Tuple,
    /// Time to live.
    pub ttl: u8,
    /// The TCP flag byte (0 for other protocols).
    pub tcp_flags: u8,
    /// The ICMP type (0 for other protocols: check `tuple.proto`).
    pub icmp_type: u8,
    /// True for an ICMP error, which quotes the datagram it is about ([`embedded`]).
    pub icmp_error: bool,
    /// The IP total length.
    pub ip_len: u16,
}

impl Ipv4Flow {
    /// Reads the flow of a checked packet (the header checksum is not verified here).
    /// [`WireError::Fragment`] for a fragment, [`WireError::Truncated`] if the datagram is
    /// shorter than its L4 header.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Flow> {
        if p.is_fragment() {
            return Err(WireError::Fragment);
        }
        Self::parse_l4(p)
    }

    /// The flow of a first fragment (offset 0, more fragments follow) or of a whole packet:
    /// the L4 header is in the first fragment (a first fragment too short to hold it is
    /// [`WireError::Truncated`], RFC 1858's tiny fragment). [`WireError::Fragment`] for a
    /// later fragment. The `ip_len` is the fragment's.
    #[inline]
    pub fn parse_first<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Flow> {
        if p.frag_offset() != 0 {
            return Err(WireError::Fragment);
        }
        Self::parse_l4(p)
    }

    #[inline]
    fn parse_l4<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Flow> {
        let l4 = p.payload();
        let mut t = Ipv4Tuple { src: p.src(), dst: p.dst(), sport: 0, dport: 0, proto: p.protocol() };
        let (mut tcp_flags, mut icmp_type, mut icmp_error) = (0, 0, false);
        match t.proto {
            proto::TCP => {
                if l4.len() < tcp::HEADER_LEN {
                    return Err(WireError::Truncated);
                }
                let s = TcpPacket::new_unchecked(l4);
                (t.sport, t.dport, tcp_flags) = (s.src_port(), s.dst_port(), s.flags());
            }
            proto::UDP => {
                if l4.len() < udp::HEADER_LEN {
                    return Err(WireError::Truncated);
                }
                let d = UdpPacket::new_unchecked(l4);
                (t.sport, t.dport) = (d.src_port(), d.dst_port());
            }
            proto::ICMP => {
                let m = Icmpv4Packet::new_checked(l4)?;
                icmp_type = m.msg_type();
                if let Some(id) = echo_ident(&m) {
                    (t.sport, t.dport) = (id, id);
                }
                icmp_error = m.is_error();
            }
            _ => {}
        }
        Ok(Ipv4Flow { tuple: t, ttl: p.ttl(), tcp_flags, icmp_type, icmp_error, ip_len: p.total_len() })
    }

    /// [`Ipv4Flow::parse`] of the packet `ip` (IP header onward), checking it first with
    /// [`Ipv4Packet::new_checked`] (whose error is returned).
    #[inline]
    pub fn parse_bytes(ip: &[u8]) -> Result<Ipv4Flow> {
        Ipv4Flow::parse(&Ipv4Packet::new_checked(ip)?)
    }
}

/// The identifier of a query or its reply (echo, timestamp).
#[inline]
fn echo_ident<T: AsRef<[u8]>>(m: &Icmpv4Packet<T>) -> Option<u16> {
    icmpv4::kind::is_query(m.msg_type()).then(|| m.echo_ident())
}

/// The tuple of the datagram quoted in the ICMP error `ip` (IP header onward; a packet for
/// which [`Ipv4Flow::parse`] said `icmp_error`), as that datagram was sent. `None` if the
/// packet is not a checked IPv4 packet with 8 bytes of ICMP header, if the quote is shorter
/// than its IP header and 8 bytes ([`icmpv4::quoted_header_len`]), or if it quotes an ICMP
/// message other than an echo (an error about an error is not related to a flow). Other
/// protocols than TCP, UDP and ICMP have ports 0.
pub fn embedded(ip: &[u8]) -> Option<Ipv4Tuple> {
    let p = Ipv4Packet::new_checked(ip).ok()?;
    let m = Icmpv4Packet::new_checked(p.payload()).ok()?;
    let quote = m.data();
    let hl = icmpv4::quoted_header_len(quote)?;
    let q = Ipv4Packet::new_unchecked(quote);
    let l4 = &quote[hl..];
    let mut t = Ipv4Tuple { src: q.src(), dst: q.dst(), sport: 0, dport: 0, proto: q.protocol() };
    match t.proto {
        // The quote holds 8 bytes of the L4 header: the ports of TCP and UDP.
        proto::TCP => {
            let s = TcpPacket::new_unchecked(l4);
            (t.sport, t.dport) = (s.src_port(), s.dst_port());
        }
        proto::UDP => {
            let d = UdpPacket::new_unchecked(l4);
            (t.sport, t.dport) = (d.src_port(), d.dst_port());
        }
        proto::ICMP => {
            let id = echo_ident(&Icmpv4Packet::new_checked(l4).ok()?)?;
            (t.sport, t.dport) = (id, id);
        }
        _ => {}
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const TCP_SYN: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x32, 0x4a, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33,
        0x64, 0x07, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa, 0xf0,
        0x10, 0x81, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];
    const UDP_DNS: [u8; 40] = [
        0x45, 0x00, 0x00, 0x28, 0x01, 0x01, 0x00, 0x00, 0x40, 0x11, 0x5f, 0xb0, 0x0a, 0x00, 0x00, 0x05, 0x08, 0x08,
        0x08, 0x08, 0xcf, 0x08, 0x00, 0x35, 0x00, 0x14, 0x03, 0x3f, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];
    const ICMP_ECHO: [u8; 36] = [
        0x45, 0x00, 0x00, 0x24, 0x02, 0x02, 0x40, 0x00, 0x40, 0x01, 0x1e, 0xc3, 0x0a, 0x00, 0x00, 0x05, 0x08, 0x08,
        0x08, 0x08, 0x08, 0x00, 0x4a, 0x3e, 0x1c, 0x2b, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    ];
    const ICMP_PORT_UNREACH: [u8; 56] = [
        0x45, 0x00, 0x00, 0x38, 0x03, 0x03, 0x00, 0x00, 0x40, 0x01, 0x5d, 0xae, 0x08, 0x08, 0x08, 0x08, 0x0a, 0x00,
        0x00, 0x05, 0x03, 0x03, 0x2a, 0x6c, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x28, 0x01, 0x01, 0x00, 0x00,
        0x40, 0x11, 0x5f, 0xb0, 0x0a, 0x00, 0x00, 0x05, 0x08, 0x08, 0x08, 0x08, 0xcf, 0x08, 0x00, 0x35, 0x00, 0x14,
        0x03, 0x3f,
    ];

    fn tuple(proto: u8, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Ipv4Tuple {
        Ipv4Tuple { src: u32::from_be_bytes(src), dst: u32::from_be_bytes(dst), sport, dport, proto }
    }

    /// `ip` with its total length set to `len` and the header checksum refilled.
    fn with_total_len(ip: &[u8], len: u16) -> Vec<u8> {
        let mut b = ip.to_vec();
        b[2..4].copy_from_slice(&len.to_be_bytes());
        b.truncate(usize::from(len).max(20));
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    /// An ICMP error from 203.0.113.254 to 10.0.0.5 quoting `quote`.
    fn error_quoting(kind: u8, code: u8, quote: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 20 + 8 + quote.len()];
        crate::wire::Ipv4Repr {
            src: 0xcb00_71fe,
            dst: 0x0a00_0005,
            protocol: proto::ICMP,
            payload_len: (8 + quote.len()) as u16,
            ttl: 255,
            dscp_ecn: 0,
            ident: 9,
            dont_frag: false,
        }
        .emit(&mut b);
        b[28..].copy_from_slice(quote);
        Icmpv4Packet::new_checked(&mut b[20..]).unwrap().fill(kind, code, 0);
        b
    }

    #[test]
    fn test_parse_tcp_udp_echo() {
        let f = Ipv4Flow::parse_bytes(&TCP_SYN).unwrap();
        assert_eq!(f.tuple, tuple(proto::TCP, [192, 0, 2, 1], 40000, [198, 51, 100, 7], 80));
        assert_eq!((f.ttl, f.tcp_flags, f.icmp_type, f.icmp_error, f.ip_len), (64, tcp::flags::SYN, 0, false, 44));
        assert!(TcpPacket::new_checked(&TCP_SYN[20..]).unwrap().verify_checksum(f.tuple.src, f.tuple.dst));

        let f = Ipv4Flow::parse_bytes(&UDP_DNS).unwrap();
        assert_eq!(f.tuple, tuple(proto::UDP, [10, 0, 0, 5], 53000, [8, 8, 8, 8], 53));
        assert_eq!((f.tcp_flags, f.icmp_error, f.ip_len), (0, false, 40));
        assert_eq!(f.tuple.reverse(), tuple(proto::UDP, [8, 8, 8, 8], 53, [10, 0, 0, 5], 53000));

        let f = Ipv4Flow::parse_bytes(&ICMP_ECHO).unwrap();
        assert_eq!(f.tuple, tuple(proto::ICMP, [10, 0, 0, 5], 0x1c2b, [8, 8, 8, 8], 0x1c2b));
        assert_eq!((f.icmp_type, f.icmp_error), (icmpv4::kind::ECHO_REQUEST, false));
        // The reply has the reversed tuple.
        let mut reply = ICMP_ECHO;
        let mut p = Ipv4Packet::new_checked(&mut reply[..]).unwrap();
        p.set_src_update(0x0808_0808);
        p.set_dst_update(0x0a00_0005);
        Icmpv4Packet::new_checked(p.payload_mut()).unwrap().set_type_update(icmpv4::kind::ECHO_REPLY);
        let r = Ipv4Flow::parse_bytes(&reply).unwrap();
        assert_eq!((r.tuple, r.icmp_type), (f.tuple.reverse(), icmpv4::kind::ECHO_REPLY));
    }

    #[test]
    fn test_parse_icmp_error_and_embedded() {
        let f = Ipv4Flow::parse_bytes(&ICMP_PORT_UNREACH).unwrap();
        assert_eq!(f.tuple, tuple(proto::ICMP, [8, 8, 8, 8], 0, [10, 0, 0, 5], 0));
        assert_eq!((f.icmp_type, f.icmp_error), (icmpv4::kind::DEST_UNREACHABLE, true));
        assert!(Icmpv4Packet::new_checked(&ICMP_PORT_UNREACH[20..]).unwrap().verify_checksum());
        // As the DNS query was sent.
        assert_eq!(embedded(&ICMP_PORT_UNREACH), Some(Ipv4Flow::parse_bytes(&UDP_DNS).unwrap().tuple));
        for (kind, error) in [(icmpv4::kind::TIME_EXCEEDED, true), (icmpv4::kind::PARAM_PROBLEM, true), (13, false)] {
            let b = error_quoting(kind, 0, &UDP_DNS[..28]);
            let f = Ipv4Flow::parse_bytes(&b).unwrap();
            assert_eq!((f.icmp_type, f.icmp_error, f.tuple.sport), (kind, error, 0), "type {kind}");
        }
        // A quoted TCP segment (8 bytes of it) and echo request.
        let b = error_quoting(icmpv4::kind::TIME_EXCEEDED, 0, &TCP_SYN[..28]);
        assert_eq!(embedded(&b), Some(Ipv4Flow::parse_bytes(&TCP_SYN).unwrap().tuple));
        let b = error_quoting(icmpv4::kind::TIME_EXCEEDED, 0, &ICMP_ECHO[..28]);
        assert_eq!(embedded(&b), Some(Ipv4Flow::parse_bytes(&ICMP_ECHO).unwrap().tuple));
        // An error about an error relates to no flow; a quote short of 8 L4 bytes neither.
        let b = error_quoting(icmpv4::kind::DEST_UNREACHABLE, 1, &ICMP_PORT_UNREACH[..28]);
        assert_eq!(embedded(&b), None);
        let b = error_quoting(icmpv4::kind::DEST_UNREACHABLE, 3, &UDP_DNS[..27]);
        assert_eq!(embedded(&b), None);
        assert_eq!(embedded(&ICMP_PORT_UNREACH[..19]), None);
        // Another protocol: the addresses, ports 0.
        let mut gre = UDP_DNS;
        gre[9] = 47;
        let b = error_quoting(icmpv4::kind::DEST_UNREACHABLE, 2, &gre[..28]);
        assert_eq!(embedded(&b), Some(tuple(47, [10, 0, 0, 5], 0, [8, 8, 8, 8], 0)));
    }

    #[test]
    fn truncated_l4_and_fragments_are_named() {
        assert_eq!(Ipv4Flow::parse_bytes(&with_total_len(&TCP_SYN, 39)), Err(WireError::Truncated));
        assert!(Ipv4Flow::parse_bytes(&with_total_len(&TCP_SYN, 40)).is_ok());
        assert_eq!(Ipv4Flow::parse_bytes(&with_total_len(&UDP_DNS, 27)), Err(WireError::Truncated));
        assert!(Ipv4Flow::parse_bytes(&with_total_len(&UDP_DNS, 28)).is_ok());
        assert_eq!(Ipv4Flow::parse_bytes(&with_total_len(&ICMP_ECHO, 27)), Err(WireError::Truncated));
        // Ethernet padding past the total length is not L4 header.
        let mut padded = with_total_len(&UDP_DNS, 27);
        padded.resize(60, 0);
        assert_eq!(Ipv4Flow::parse_bytes(&padded), Err(WireError::Truncated));
        // The IPv4 check's own errors come through.
        assert_eq!(Ipv4Flow::parse_bytes(&TCP_SYN[..19]), Err(WireError::Truncated));
        assert_eq!(Ipv4Flow::parse_bytes(&TCP_SYN[..43]), Err(WireError::Truncated));
        // First fragment (MF), a later one (offset), both.
        for flg_off in [0x2000u16, 0x0001, 0x20b9, 0x6000] {
            let mut b = UDP_DNS;
            b[6..8].copy_from_slice(&flg_off.to_be_bytes());
            assert_eq!(Ipv4Flow::parse_bytes(&b), Err(WireError::Fragment), "{flg_off:#x}");
        }
        // A TCP data offset or UDP length field that lies is not the tuple's business.
        let mut b = TCP_SYN;
        b[32] = 0x00;
        assert_eq!(Ipv4Flow::parse_bytes(&b).unwrap().tuple.dport, 80);
        let mut b = UDP_DNS;
        b[25] = 0xff;
        assert_eq!(Ipv4Flow::parse_bytes(&b).unwrap().tuple.sport, 53000);
        assert_eq!(WireError::Fragment.name(), "fragment");
    }

    /// The hand-written parser this module replaces (`switch::stateful`), verbatim but for
    /// the timestamp queries (keyed by their identifier as echo is), added to both.
    mod old {
        use crate::conntrack::FlowKey;
        use crate::stats::DropReason;
        use crate::wire::icmpv4;
        use crate::wire::ipv4::{proto, Ipv4Packet};

        #[derive(Clone, Copy, Debug)]
        pub struct Tuple {
            pub key: FlowKey,
            pub ttl: u8,
            pub tcp_flags: u8,
            pub icmp_type: u8,
            pub icmp_error: bool,
            pub ip_len: u16,
        }

        pub fn parse_tuple(ip: &[u8]) -> Result<Tuple, DropReason> {
            let p = Ipv4Packet::new_checked(ip).map_err(|_| DropReason::Malformed)?;
            if p.is_fragment() {
                return Err(DropReason::CtFragment);
            }
            let hl = p.header_len();
            let total = usize::from(p.total_len());
            let l4 = &ip[hl..total];
            let mut k = FlowKey { src: p.src(), dst: p.dst(), sport: 0, dport: 0, proto: p.protocol() };
            let mut t =
                Tuple { key: k, ttl: p.ttl(), tcp_flags: 0, icmp_type: 0, icmp_error: false, ip_len: total as u16 };
            let be = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
            match k.proto {
                proto::TCP => {
                    if l4.len() < 20 {
                        return Err(DropReason::Malformed);
                    }
                    k.sport = be(0);
                    k.dport = be(2);
                    t.tcp_flags = l4[13];
                }
                proto::UDP => {
                    if l4.len() < 8 {
                        return Err(DropReason::Malformed);
                    }
                    k.sport = be(0);
                    k.dport = be(2);
                }
                proto::ICMP => {
                    if l4.len() < 8 {
                        return Err(DropReason::Malformed);
                    }
                    t.icmp_type = l4[0];
                    match l4[0] {
                        icmpv4::kind::ECHO_REQUEST
                        | icmpv4::kind::ECHO_REPLY
                        | icmpv4::kind::TIMESTAMP_REQUEST
                        | icmpv4::kind::TIMESTAMP_REPLY => {
                            k.sport = be(4);
                            k.dport = k.sport;
                        }
                        icmpv4::kind::DEST_UNREACHABLE | icmpv4::kind::TIME_EXCEEDED | icmpv4::kind::PARAM_PROBLEM => {
                            t.icmp_error = true
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
            t.key = k;
            Ok(t)
        }

        pub fn embedded_key(ip: &[u8]) -> Option<FlowKey> {
            let hl = usize::from(ip.first()? & 0x0f) * 4;
            let total = (usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]))).min(ip.len());
            let e = ip.get(hl + 8..total)?;
            let ihl = usize::from(e.first()? & 0x0f) * 4;
            if ihl < 20 || e.len() < ihl + 8 {
                return None;
            }
            let a = |at: usize| u32::from_be_bytes([e[at], e[at + 1], e[at + 2], e[at + 3]]);
            let be = |at: usize| u16::from_be_bytes([e[at], e[at + 1]]);
            let mut k = FlowKey { src: a(12), dst: a(16), sport: 0, dport: 0, proto: e[9] };
            match k.proto {
                proto::TCP | proto::UDP => {
                    k.sport = be(ihl);
                    k.dport = be(ihl + 2);
                }
                proto::ICMP => match e[ihl] {
                    icmpv4::kind::ECHO_REQUEST
                    | icmpv4::kind::ECHO_REPLY
                    | icmpv4::kind::TIMESTAMP_REQUEST
                    | icmpv4::kind::TIMESTAMP_REPLY => {
                        k.sport = be(ihl + 4);
                        k.dport = k.sport;
                    }
                    _ => return None,
                },
                _ => {}
            }
            Some(k)
        }
    }

    fn key_tuple(k: &crate::conntrack::FlowKey) -> Ipv4Tuple {
        Ipv4Tuple { src: k.src, dst: k.dst, sport: k.sport, dport: k.dport, proto: k.proto }
    }

    /// Checks the new parser against the old one on `ip`.
    fn same_as_old(ip: &[u8]) -> std::result::Result<(), TestCaseError> {
        use crate::stats::DropReason;
        match (Ipv4Flow::parse_bytes(ip), old::parse_tuple(ip)) {
            (Ok(f), Ok(t)) => {
                prop_assert_eq!(f.tuple, key_tuple(&t.key));
                prop_assert_eq!(
                    (f.ttl, f.tcp_flags, f.icmp_type, f.icmp_error, f.ip_len),
                    (t.ttl, t.tcp_flags, t.icmp_type, t.icmp_error, t.ip_len)
                );
            }
            (Err(WireError::Fragment), Err(DropReason::CtFragment)) => {}
            (Err(e), Err(DropReason::Malformed)) => prop_assert_ne!(e, WireError::Fragment),
            (n, o) => prop_assert!(false, "new {:?} old {:?}", n, o),
        }
        // `embedded` is defined on checked packets (the caller parsed the flow first), where
        // it is the old function; elsewhere it is None.
        let e = embedded(ip);
        if Ipv4Packet::new_checked(ip).is_ok() {
            prop_assert_eq!(e, old::embedded_key(ip).map(|k| key_tuple(&k)));
        } else {
            prop_assert_eq!(e, None);
        }
        Ok(())
    }

    /// The first bytes of a datagram: a random header (mostly 20 bytes and IPv4, mostly not a
    /// fragment), protocol and ICMP type among those that matter, random L4 bytes.
    fn datagram(depth: u32) -> BoxedStrategy<Vec<u8>> {
        let quote = if depth == 0 { Just(None).boxed() } else { proptest::option::of(datagram(depth - 1)).boxed() };
        (
            prop_oneof![6 => Just(0x45u8), 1 => 0x46u8..=0x4f, 1 => any::<u8>()],
            prop_oneof![3 => Just(0u16), 1 => Just(0x4000), 1 => any::<u16>()],
            prop_oneof![Just(proto::TCP), Just(proto::UDP), Just(proto::ICMP), any::<u8>()],
            prop_oneof![Just(0u8), Just(3), Just(8), Just(11), Just(12), any::<u8>()],
            vec(any::<u8>(), 0..48),
            quote,
            prop_oneof![4 => Just(0i32), 1 => -24i32..24],
            0usize..6,
            any::<[u8; 14]>(),
        )
            .prop_map(|(ver_ihl, flg_off, p, icmp_type, mut l4, quote, fudge, pad, rest)| {
                // Options (if any) are 0xa5 bytes.
                let mut b = vec![0xa5u8; (usize::from(ver_ihl & 0x0f) * 4).max(20)];
                b[0] = ver_ihl;
                b[1] = rest[0];
                b[4..6].copy_from_slice(&rest[1..3]);
                b[6..8].copy_from_slice(&flg_off.to_be_bytes());
                b[8] = rest[3];
                b[9] = p;
                b[12..20].copy_from_slice(&rest[4..12]);
                if p == proto::ICMP && !l4.is_empty() {
                    l4[0] = icmp_type;
                    if let Some(q) = quote {
                        l4.resize(8, 0);
                        l4.extend_from_slice(&q);
                    }
                }
                b.extend_from_slice(&l4);
                let total = (b.len() as i32 + fudge).clamp(0, 0xffff) as u16;
                b[2..4].copy_from_slice(&total.to_be_bytes());
                let c = checksum::checksum(&b[..20]);
                b[10..12].copy_from_slice(&c.to_be_bytes());
                b.resize(b.len() + pad, 0);
                b
            })
            .boxed()
    }

    fn config() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4096);
        ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn equivalent_to_the_old_parser_on_datagrams(ip in datagram(2)) {
            same_as_old(&ip)?;
        }

        #[test]
        fn equivalent_to_the_old_parser_on_any_bytes(ip in vec(any::<u8>(), 0..96)) {
            same_as_old(&ip)?;
        }
    }

    #[test]
    fn equivalent_to_the_old_parser_on_the_fixtures_and_their_prefixes() {
        for p in [&TCP_SYN[..], &UDP_DNS, &ICMP_ECHO, &ICMP_PORT_UNREACH] {
            for n in 0..=p.len() {
                same_as_old(&p[..n]).unwrap();
                same_as_old(&with_total_len(p, n as u16)).unwrap();
            }
        }
    }
}
