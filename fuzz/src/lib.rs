//! Invariant checks shared by the wire fuzz targets. Each `check_*` runs a parser on arbitrary
//! bytes and, when it accepts them, every accessor and (on a copy) every setter, asserting what
//! must hold for any input: views stay inside the buffer, `parse(emit(repr)) == repr`,
//! `fill_checksum` verifies, incremental updates keep a valid checksum valid.
//!
//! The oracle is not our own code: lengths and offsets are recomputed here from the raw bytes,
//! and checksums with the tiny reference `ref_sum` below (RFC 1071, written independently).

#![forbid(unsafe_code)]

use vnf_core::wire::arp::{self, ArpPacket, ArpRepr};
use vnf_core::wire::checksum;
use vnf_core::wire::ethernet::{mac_at, mac_u64_at, EthernetFrame};
use vnf_core::wire::icmpv4::{self, Icmpv4Packet};
use vnf_core::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use vnf_core::wire::tcp::TcpPacket;
use vnf_core::wire::udp::UdpPacket;
use vnf_core::wire::vlan::{self, L2Header, L2Info, Tag};
use vnf_core::wire::{EtherType, MacAddr, WireError};

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reference one's-complement sum (u64 accumulator, folded at the end), independent of
/// `vnf_core::wire::checksum`.
pub fn ref_sum(words: impl IntoIterator<Item = u16>, data: &[u8]) -> u16 {
    let mut acc: u64 = words.into_iter().map(u64::from).sum();
    for c in data.chunks(2) {
        acc += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn pseudo(src: u32, dst: u32, proto: u8, len: u16) -> [u16; 6] {
    [(src >> 16) as u16, src as u16, (dst >> 16) as u16, dst as u16, u16::from(proto), len]
}

/// The checksum primitives against the reference.
pub fn check_checksum(data: &[u8]) {
    assert_eq!(checksum::fold(checksum::sum(0, data)), ref_sum([], data));
    assert_eq!(checksum::checksum(data), !ref_sum([], data));
    if data.len() >= 4 {
        // Any starting value is one more summand; chaining at an even split equals one pass.
        let acc = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let rest = &data[4..];
        let one = checksum::fold(checksum::sum(acc, rest));
        assert_eq!(one, ref_sum([(acc >> 16) as u16, acc as u16], rest));
        let k = usize::from(data[0]).min(rest.len()) & !1;
        assert_eq!(checksum::fold(checksum::sum(checksum::sum(acc, &rest[..k]), &rest[k..])), one);
    }
    if data.len() >= 11 {
        let s = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let d = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        let (proto, len) = (data[8], be16(data, 9));
        assert_eq!(checksum::fold(checksum::pseudo_header(s, d, proto, len)), ref_sum(pseudo(s, d, proto, len), &[]));
    }
    if data.len() >= 4 && data.len() & 1 == 0 {
        // Splice the checksum into the first word: the whole then verifies.
        let mut d = data.to_vec();
        d[0] = 0;
        d[1] = 0;
        let c = checksum::checksum(&d);
        d[..2].copy_from_slice(&c.to_be_bytes());
        assert_eq!(ref_sum([], &d), 0xffff, "checksum spliced in verifies");
        // RFC 1624 update of word 1 equals recomputation, up to the two zeros.
        let (old, new) = (be16(&d, 2), be16(data, 0) ^ be16(data, 2));
        d[2..4].copy_from_slice(&new.to_be_bytes());
        let inc = checksum::update16(c, old, new);
        d[..2].copy_from_slice(&0u16.to_be_bytes());
        let full = !ref_sum([], &d);
        assert!(inc == full || (inc == 0 && full == 0xffff) || (inc == 0xffff && full == 0), "update16 {inc:#x} vs {full:#x}");
    }
}

/// Ethernet frame, VLAN tags, and whatever L3 the EtherType names.
pub fn check_l2(data: &[u8]) {
    match EthernetFrame::new_checked(data) {
        Err(e) => assert!(data.len() < 14 && e == WireError::Truncated),
        Ok(f) => {
            assert_eq!(f.dst().0[..], data[..6]);
            assert_eq!(f.src().0[..], data[6..12]);
            assert_eq!(f.ethertype(), be16(data, 12));
            assert_eq!(f.payload(), &data[14..]);
            let _ = (f.dst().is_multicast(), f.dst().is_link_local(), f.src().is_zero(), f.src().is_local());
            let _ = f.dst().to_string().parse::<MacAddr>().map(|m| assert_eq!(m, f.dst()));
            let mut c = data.to_vec();
            let mut g = EthernetFrame::new_checked(&mut c[..]).unwrap();
            g.set_dst(f.src());
            g.set_src(f.dst());
            g.set_ethertype(!f.ethertype());
            g.payload_mut().reverse();
            let c = g.into_inner();
            assert_eq!((&c[..6], &c[6..12], be16(c, 12)), (&data[6..12], &data[..6], !be16(data, 12)));
        }
    }

    if data.len() >= 6 {
        let m = mac_at(data, 0);
        assert_eq!(mac_u64_at(data, 0), m.to_u64());
        assert_eq!(m.to_u64() >> 48, 0);
        assert_eq!(MacAddr::from_u64(m.to_u64() | (u64::from(data[0]) << 56)), m);
    }

    // Reference walk over the tags.
    let is_tpid = |t: u16| t == 0x8100 || t == 0x88a8;
    let want = (|| {
        if data.len() < 14 {
            return Err(WireError::Truncated);
        }
        let (mut at, mut et, mut tags) = (14usize, be16(data, 12), Vec::new());
        while is_tpid(et) {
            if tags.len() == 2 {
                return Err(WireError::TooManyTags);
            }
            if data.len() < at + 4 {
                return Err(WireError::Truncated);
            }
            let tci = be16(data, at);
            tags.push(Tag { tpid: et, pcp: (tci >> 13) as u8, dei: tci & 0x1000 != 0, vid: tci & 0xfff });
            et = be16(data, at + 2);
            at += 4;
        }
        Ok((tags, et, at))
    })();
    // The fast path's L2Info agrees with the reference too.
    match (L2Info::parse(data), &want) {
        (Ok(i), Ok((tags, et, at))) => {
            assert_eq!((usize::from(i.ntags), i.ethertype, i.l3_offset), (tags.len(), *et, *at));
            assert_eq!(&i.tags(), tags);
            for (k, t) in tags.iter().enumerate() {
                assert_eq!(i.tag(k), *t);
                assert_eq!(i.raw_tags[k], (u32::from(t.tpid) << 16) | u32::from(t.tci()));
            }
            for k in tags.len()..2 {
                assert_eq!(i.tag(k), Tag::default());
            }
            assert_eq!(i.pcp(), tags.last().map_or(0, |t| t.pcp));
        }
        (Err(a), Err(b)) => assert_eq!(a, *b),
        (a, b) => panic!("L2Info::parse {a:?}, reference {b:?}"),
    }
    match (L2Header::parse(data), want) {
        (Ok(h), Ok((tags, et, at))) => {
            assert_eq!(h.tags(), &tags[..]);
            assert_eq!(usize::from(h.ntags), tags.len());
            assert_eq!((h.ethertype, h.l3_offset), (et, at));
            assert_eq!((&h.dst.0[..], &h.src.0[..]), (&data[..6], &data[6..12]));
            for t in h.tags() {
                assert_eq!(Tag::from_tci(t.tpid, t.tci()), *t);
            }
            // emit_tags reproduces the header bytes.
            let mut hdr = data[..at].to_vec();
            hdr[12..].fill(0);
            vlan::emit_tags(&mut hdr, h.tags(), h.ethertype);
            assert_eq!(&hdr[..], &data[..at]);
            let l3 = &data[at..];
            match h.ethertype {
                EtherType::IPV4 => check_ipv4(l3),
                EtherType::ARP => check_arp(l3),
                _ => {}
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("L2Header::parse {a:?}, reference {b:?}"),
    }
}

/// The IPv4 view, `Ipv4Repr`, checksum setters, and the transport the protocol names.
pub fn check_ipv4(data: &[u8]) {
    // Reference decision.
    let want = (|| {
        if data.len() < 20 {
            return Err(WireError::Truncated);
        }
        if data[0] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = usize::from(data[0] & 15) * 4;
        if hl < 20 {
            return Err(WireError::BadHeaderLen);
        }
        if data.len() < hl {
            return Err(WireError::Truncated);
        }
        let tl = usize::from(be16(data, 2));
        if tl < hl {
            return Err(WireError::BadLength);
        }
        if data.len() < tl {
            return Err(WireError::Truncated);
        }
        Ok((hl, tl))
    })();
    let p = match (Ipv4Packet::new_checked(data), want) {
        (Ok(p), Ok(_)) => p,
        (Err(a), Err(b)) => return assert_eq!(a, b),
        (a, b) => panic!("Ipv4Packet::new_checked {:?}, reference {b:?}", a.err()),
    };
    let (hl, tl) = want.unwrap();
    assert_eq!((p.header_len(), usize::from(p.total_len())), (hl, tl));
    assert_eq!(p.dscp_ecn(), data[1]);
    assert_eq!(p.ident(), be16(data, 4));
    assert_eq!(p.dont_frag(), data[6] & 0x40 != 0);
    assert_eq!(p.more_frags(), data[6] & 0x20 != 0);
    assert_eq!(u32::from(p.frag_offset()), u32::from(be16(data, 6) & 0x1fff) * 8);
    assert_eq!(p.is_fragment(), p.more_frags() || p.frag_offset() != 0);
    assert_eq!((p.ttl(), p.protocol(), p.checksum()), (data[8], data[9], be16(data, 10)));
    assert_eq!(
        (p.src(), p.dst()),
        (u32::from_be_bytes([data[12], data[13], data[14], data[15]]), u32::from_be_bytes([data[16], data[17], data[18], data[19]]))
    );
    assert_eq!(p.options(), &data[20..hl]);
    assert_eq!(p.payload(), &data[hl..tl]);
    let ok = p.verify_checksum();
    assert_eq!(ok, ref_sum([], &data[..hl]) == 0xffff);

    match Ipv4Repr::parse(&p) {
        Ok(r) => {
            assert!(ok);
            assert_eq!(usize::from(r.payload_len), tl - hl);
            assert_eq!(
                (r.src, r.dst, r.protocol, r.ttl, r.dscp_ecn, r.ident, r.dont_frag),
                (p.src(), p.dst(), p.protocol(), p.ttl(), p.dscp_ecn(), p.ident(), p.dont_frag())
            );
            // parse(emit(repr)) == repr, and the emitted header verifies.
            let mut b = vec![0xa5u8; 20 + usize::from(r.payload_len)];
            r.emit(&mut b);
            assert_eq!(ref_sum([], &b[..20]), 0xffff);
            let q = Ipv4Packet::new_checked(&b[..]).expect("emitted header parses");
            assert_eq!(Ipv4Repr::parse(&q), Ok(r));
            // An option-less, unfragmented, reserved-bit-clear header is reproduced byte for byte.
            // (The checksum may differ only between the two one's-complement zeros.)
            if hl == 20 && be16(data, 6) & 0xbfff == 0 {
                assert_eq!((&b[..10], &b[12..20]), (&data[..10], &data[12..20]));
                let (e, o) = (be16(&b, 10), be16(data, 10));
                assert!(e == o || (e == 0 && o == 0xffff), "emitted checksum {e:#x} vs {o:#x}");
            }
        }
        Err(e) => assert!(!ok && e == WireError::BadChecksum),
    }

    // Setters on a copy.
    let mut c = data.to_vec();
    let mut q = Ipv4Packet::new_checked(&mut c[..]).unwrap();
    q.set_ttl_update(p.ttl().wrapping_sub(1));
    assert_eq!(q.verify_checksum(), ok, "set_ttl_update keeps (in)validity");
    q.set_src_update(p.dst());
    q.set_dst_update(!p.src());
    assert_eq!(q.verify_checksum(), ok, "set_src/dst_update keep (in)validity");
    assert_eq!((q.ttl(), q.src(), q.dst()), (p.ttl().wrapping_sub(1), p.dst(), !p.src()));
    q.fill_checksum();
    assert!(q.verify_checksum(), "fill_checksum verifies");
    q.payload_mut().fill(0);
    let c = q.into_inner();
    assert!(c[hl..tl].iter().all(|&x| x == 0) && c[tl..] == data[tl..]);

    let (src, dst, l4) = (p.src(), p.dst(), p.payload());
    match p.protocol() {
        17 => check_udp(l4, src, dst),
        6 => check_tcp(l4, src, dst),
        1 => check_icmp(l4),
        _ => {}
    }
}

/// UDP datagram `data` (the IP payload) between `src` and `dst`.
pub fn check_udp(data: &[u8], src: u32, dst: u32) {
    let want = if data.len() < 8 {
        Err(WireError::Truncated)
    } else if be16(data, 4) < 8 {
        Err(WireError::BadLength)
    } else if usize::from(be16(data, 4)) > data.len() {
        Err(WireError::Truncated)
    } else {
        Ok(usize::from(be16(data, 4)))
    };
    let u = match (UdpPacket::new_checked(data), want) {
        (Ok(u), Ok(_)) => u,
        (Err(a), Err(b)) => return assert_eq!(a, b),
        (a, b) => panic!("UdpPacket::new_checked {:?}, reference {b:?}", a.err()),
    };
    let l = want.unwrap();
    assert_eq!((u.src_port(), u.dst_port(), usize::from(u.len_field()), u.checksum()), (be16(data, 0), be16(data, 2), l, be16(data, 6)));
    assert_eq!(u.payload(), &data[8..l]);
    let ok = u.verify_checksum(src, dst);
    let reference = u.checksum() == 0 || ref_sum(pseudo(src, dst, 17, l as u16), &data[..l]) == 0xffff;
    assert_eq!(ok, reference);

    let new_src = src.rotate_left(8) ^ 0x0101_0101;
    let mut c = data.to_vec();
    let mut v = UdpPacket::new_checked(&mut c[..]).unwrap();
    v.set_src_port_update(u.dst_port());
    v.set_dst_port_update(!u.src_port());
    v.update_for_addr(src, new_src);
    assert_eq!(v.checksum() == 0, u.checksum() == 0, "updates never add or drop a UDP checksum");
    if ok {
        assert!(v.verify_checksum(new_src, dst), "updates keep a valid UDP checksum valid");
    }
    assert_eq!((v.src_port(), v.dst_port()), (u.dst_port(), !u.src_port()));
    v.fill_checksum(new_src, dst);
    assert!(v.checksum() != 0 && v.verify_checksum(new_src, dst), "fill_checksum verifies");
    assert_eq!(ref_sum(pseudo(new_src, dst, 17, l as u16), &c[..l]), 0xffff);
}

/// TCP segment `data` (the IP payload) between `src` and `dst`.
pub fn check_tcp(data: &[u8], src: u32, dst: u32) {
    let want = if data.len() < 20 {
        Err(WireError::Truncated)
    } else if data[12] >> 4 < 5 {
        Err(WireError::BadHeaderLen)
    } else if usize::from(data[12] >> 4) * 4 > data.len() {
        Err(WireError::Truncated)
    } else {
        Ok(usize::from(data[12] >> 4) * 4)
    };
    let t = match (TcpPacket::new_checked(data), want) {
        (Ok(t), Ok(_)) => t,
        (Err(a), Err(b)) => return assert_eq!(a, b),
        (a, b) => panic!("TcpPacket::new_checked {:?}, reference {b:?}", a.err()),
    };
    let hl = want.unwrap();
    assert_eq!((t.src_port(), t.dst_port()), (be16(data, 0), be16(data, 2)));
    assert_eq!(
        (t.seq(), t.ack()),
        (u32::from_be_bytes([data[4], data[5], data[6], data[7]]), u32::from_be_bytes([data[8], data[9], data[10], data[11]]))
    );
    assert_eq!((t.header_len(), t.flags(), t.window(), t.checksum()), (hl, data[13], be16(data, 14), be16(data, 16)));
    assert_eq!(t.options(), &data[20..hl]);
    assert_eq!(t.payload(), &data[hl..]);
    let fits = data.len() <= 0xffff;
    let ok = t.verify_checksum(src, dst);
    assert_eq!(ok, fits && ref_sum(pseudo(src, dst, 6, data.len() as u16), data) == 0xffff);

    let new_dst = !dst;
    let mut c = data.to_vec();
    let mut v = TcpPacket::new_checked(&mut c[..]).unwrap();
    v.set_src_port_update(t.src_port().wrapping_add(1));
    v.set_dst_port_update(t.src_port());
    v.update_for_addr(dst, new_dst);
    assert_eq!(v.verify_checksum(src, new_dst), ok, "incremental updates keep (in)validity");
    v.fill_checksum(src, new_dst);
    assert_eq!(v.verify_checksum(src, new_dst), fits, "fill_checksum verifies");
}

/// ICMPv4 message `data`.
pub fn check_icmp(data: &[u8]) {
    let i = match Icmpv4Packet::new_checked(data) {
        Ok(i) => i,
        Err(e) => return assert!(data.len() < 8 && e == WireError::Truncated),
    };
    assert_eq!(
        (i.msg_type(), i.code(), i.checksum(), i.echo_ident(), i.echo_seq()),
        (data[0], data[1], be16(data, 2), be16(data, 4), be16(data, 6))
    );
    assert_eq!(i.data(), &data[8..]);
    assert_eq!(i.is_error(), matches!(data[0], 3 | 11 | 12));
    let ok = i.verify_checksum();
    assert_eq!(ok, ref_sum([], data) == 0xffff);
    let mut c = data.to_vec();
    let mut v = Icmpv4Packet::new_checked(&mut c[..]).unwrap();
    v.set_type_update(if i.msg_type() == icmpv4::kind::ECHO_REQUEST { icmpv4::kind::ECHO_REPLY } else { i.msg_type() ^ 0x55 });
    v.set_echo_ident_update(i.echo_seq());
    if ok {
        assert!(v.verify_checksum(), "incremental updates keep a valid checksum valid");
    }
    v.fill(icmpv4::kind::TIME_EXCEEDED, 0, 0);
    assert!(v.verify_checksum() && v.is_error(), "fill verifies");
}

/// ARP packet `data` (Ethernet payload).
pub fn check_arp(data: &[u8]) {
    let want = if data.len() < 28 {
        Err(WireError::Truncated)
    } else if be16(data, 0) != 1 || data[4] != 6 {
        Err(WireError::BadHardware)
    } else if be16(data, 2) != 0x0800 || data[5] != 4 {
        Err(WireError::BadProtocol)
    } else if !matches!(be16(data, 6), 1 | 2) {
        Err(WireError::BadOperation)
    } else {
        Ok(())
    };
    let a = match (ArpPacket::new_checked(data), want) {
        (Ok(a), Ok(())) => a,
        (Err(x), Err(y)) => return assert_eq!(x, y),
        (x, y) => panic!("ArpPacket::new_checked {:?}, reference {y:?}", x.err()),
    };
    let r = ArpRepr::parse(&a);
    assert_eq!(r.operation, be16(data, 6));
    assert_eq!((&r.sender_mac.0[..], &r.target_mac.0[..]), (&data[8..14], &data[18..24]));
    assert_eq!(
        (r.sender_ip.to_be_bytes(), r.target_ip.to_be_bytes()),
        ([data[14], data[15], data[16], data[17]], [data[24], data[25], data[26], data[27]])
    );
    let mut b = [0u8; arp::PACKET_LEN];
    r.emit(&mut b);
    assert_eq!(&b[..], &data[..28], "emit(parse(x)) == x");
    assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()), r);
}
