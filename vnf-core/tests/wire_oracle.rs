//! Differential tests of `vnf_core::wire` against an independent implementation (etherparse),
//! so that our parser is not its own oracle:
//!
//! * random well-formed frames built with etherparse's `PacketBuilder` (Ethernet II, 0/1/2
//!   VLAN tags, IPv4 with and without options, UDP / TCP with options / ICMPv4 echo, ARP) must
//!   read back the same field values through our views as through etherparse's slices;
//! * our checksums (full and RFC 1624 incremental) must agree with etherparse's computation;
//! * build -> parse round trips (`Ipv4Repr`, `ArpRepr`, `vlan::emit_tags`);
//! * every strict prefix of a valid frame, and targeted inconsistencies, give the named
//!   `WireError` the spec implies; arbitrary bytes never panic a parser or an accessor, and
//!   acceptance agrees with etherparse where both define the same rule.

use etherparse as ep;
use proptest::collection::vec;
use proptest::prelude::*;
use vnf_core::wire::arp::{self, ArpPacket, ArpRepr};
use vnf_core::wire::checksum;
use vnf_core::wire::ethernet::{mac_at, mac_u64_at, EthernetFrame};
use vnf_core::wire::icmpv4::{self, Icmpv4Packet};
use vnf_core::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use vnf_core::wire::tcp::TcpPacket;
use vnf_core::wire::udp::UdpPacket;
use vnf_core::wire::vlan::{self, L2Header, L2Info, Tag};
use vnf_core::wire::{EtherType, MacAddr, WireError};

// ---------------------------------------------------------------------------------------------
// Packet specifications and their construction with etherparse
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct TagSpec {
    pcp: u8,
    dei: bool,
    vid: u16,
}

#[derive(Clone, Debug)]
enum VlanSpec {
    None,
    Single(TagSpec),
    /// Outer TPID 0x88a8 (802.1ad, what etherparse writes) or 0x8100 (patched in afterwards).
    Double {
        outer_tpid: u16,
        outer: TagSpec,
        inner: TagSpec,
    },
}

#[derive(Clone, Debug)]
struct IpSpec {
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    ident: u16,
    df: bool,
    dscp: u8,
    ecn: u8,
    options: Vec<u8>,
}

#[derive(Clone, Debug)]
struct TcpSpec {
    sp: u16,
    dp: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent: u16,
    options: Vec<u8>,
}

#[derive(Clone, Debug)]
enum L4Spec {
    Udp { sp: u16, dp: u16 },
    Tcp(TcpSpec),
    Echo { request: bool, id: u16, seq: u16 },
}

#[derive(Clone, Debug)]
enum L3Spec {
    Ip(IpSpec, L4Spec),
    Arp { op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4] },
}

#[derive(Clone, Debug)]
struct PacketSpec {
    src: [u8; 6],
    dst: [u8; 6],
    vlan: VlanSpec,
    l3: L3Spec,
    payload: Vec<u8>,
}

fn tag_spec() -> impl Strategy<Value = TagSpec> {
    (0u8..8, any::<bool>(), 0u16..4096).prop_map(|(pcp, dei, vid)| TagSpec { pcp, dei, vid })
}

fn vlan_spec() -> impl Strategy<Value = VlanSpec> {
    prop_oneof![
        Just(VlanSpec::None),
        tag_spec().prop_map(VlanSpec::Single),
        (prop_oneof![Just(EtherType::QINQ), Just(EtherType::VLAN)], tag_spec(), tag_spec())
            .prop_map(|(outer_tpid, outer, inner)| VlanSpec::Double { outer_tpid, outer, inner }),
    ]
}

/// 0..=max_words 32-bit words of arbitrary bytes (IPv4 / TCP options).
fn words(max_words: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=max_words).prop_flat_map(|n| vec(any::<u8>(), n * 4))
}

fn ip_spec() -> impl Strategy<Value = IpSpec> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u8>(),
        any::<u16>(),
        any::<bool>(),
        0u8..64,
        0u8..4,
        prop_oneof![Just(Vec::new()), words(10)],
    )
        .prop_map(|(src, dst, ttl, ident, df, dscp, ecn, options)| IpSpec {
            src,
            dst,
            ttl,
            ident,
            df,
            dscp,
            ecn,
            options,
        })
}

fn tcp_spec() -> impl Strategy<Value = TcpSpec> {
    (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>(), any::<u8>(), any::<u16>(), any::<u16>(), words(10))
        .prop_map(|(sp, dp, seq, ack, flags, window, urgent, options)| TcpSpec {
            sp,
            dp,
            seq,
            ack,
            flags,
            window,
            urgent,
            options,
        })
}

fn l4_spec() -> impl Strategy<Value = L4Spec> {
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(sp, dp)| L4Spec::Udp { sp, dp }),
        tcp_spec().prop_map(L4Spec::Tcp),
        (any::<bool>(), any::<u16>(), any::<u16>()).prop_map(|(request, id, seq)| L4Spec::Echo { request, id, seq }),
    ]
}

fn ip_packet_spec() -> impl Strategy<Value = PacketSpec> {
    (any::<[u8; 6]>(), any::<[u8; 6]>(), vlan_spec(), ip_spec(), l4_spec(), vec(any::<u8>(), 0..600))
        .prop_map(|(src, dst, vlan, ip, l4, payload)| PacketSpec { src, dst, vlan, l3: L3Spec::Ip(ip, l4), payload })
}

fn arp_packet_spec() -> impl Strategy<Value = PacketSpec> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        vlan_spec(),
        prop_oneof![Just(arp::OP_REQUEST), Just(arp::OP_REPLY)],
        any::<[u8; 6]>(),
        any::<[u8; 4]>(),
        any::<[u8; 6]>(),
        any::<[u8; 4]>(),
    )
        .prop_map(|(src, dst, vlan, op, sha, spa, tha, tpa)| PacketSpec {
            src,
            dst,
            vlan,
            l3: L3Spec::Arp { op, sha, spa, tha, tpa },
            payload: Vec::new(),
        })
}

fn packet_spec() -> impl Strategy<Value = PacketSpec> {
    prop_oneof![4 => ip_packet_spec(), 1 => arp_packet_spec()]
}

fn ep_tag(t: &TagSpec) -> ep::SingleVlanHeader {
    ep::SingleVlanHeader {
        pcp: ep::VlanPcp::try_new(t.pcp).unwrap(),
        drop_eligible_indicator: t.dei,
        vlan_id: ep::VlanId::try_new(t.vid).unwrap(),
        ether_type: ep::EtherType(0), // set by the builder
    }
}

fn ep_ipv4(s: &IpSpec) -> ep::Ipv4Header {
    ep::Ipv4Header {
        dscp: ep::IpDscp::try_new(s.dscp).unwrap(),
        ecn: ep::IpEcn::try_new(s.ecn).unwrap(),
        total_len: 0, // set by the builder
        identification: s.ident,
        dont_fragment: s.df,
        more_fragments: false,
        fragment_offset: ep::IpFragOffset::ZERO,
        time_to_live: s.ttl,
        protocol: ep::IpNumber(0), // set by the builder
        header_checksum: 0,        // set by the builder
        source: s.src,
        destination: s.dst,
        options: ep::Ipv4Options::try_from(&s.options[..]).unwrap(),
    }
}

fn ep_tcp(s: &TcpSpec) -> ep::TcpHeader {
    let mut h = ep::TcpHeader::new(s.sp, s.dp, s.seq, s.window);
    h.acknowledgment_number = s.ack;
    h.fin = s.flags & 0x01 != 0;
    h.syn = s.flags & 0x02 != 0;
    h.rst = s.flags & 0x04 != 0;
    h.psh = s.flags & 0x08 != 0;
    h.ack = s.flags & 0x10 != 0;
    h.urg = s.flags & 0x20 != 0;
    h.ece = s.flags & 0x40 != 0;
    h.cwr = s.flags & 0x80 != 0;
    h.urgent_pointer = s.urgent;
    h.set_options_raw(&s.options).unwrap();
    h
}

/// Serialises `s` with etherparse's `PacketBuilder` (which computes every length and checksum).
fn build(s: &PacketSpec) -> Vec<u8> {
    let eth = ep::PacketBuilder::ethernet2(s.src, s.dst);
    let vlan_hdr = match &s.vlan {
        VlanSpec::None => None,
        VlanSpec::Single(t) => Some(ep::VlanHeader::Single(ep_tag(t))),
        VlanSpec::Double { outer, inner, .. } => {
            Some(ep::VlanHeader::Double(ep::DoubleVlanHeader { outer: ep_tag(outer), inner: ep_tag(inner) }))
        }
    };
    let mut out = Vec::new();
    match &s.l3 {
        L3Spec::Arp { op, sha, spa, tha, tpa } => {
            let a = ep::ArpPacket::new(
                ep::ArpHardwareId::ETHERNET,
                ep::EtherType::IPV4,
                ep::ArpOperation(*op),
                sha,
                spa,
                tha,
                tpa,
            )
            .unwrap();
            match vlan_hdr {
                None => eth.arp(a).write(&mut out).unwrap(),
                Some(v) => eth.vlan(v).arp(a).write(&mut out).unwrap(),
            }
        }
        L3Spec::Ip(ip, l4) => {
            let iph = ep::IpHeaders::Ipv4(ep_ipv4(ip), Default::default());
            let step = match vlan_hdr {
                None => eth.ip(iph),
                Some(v) => eth.vlan(v).ip(iph),
            };
            match l4 {
                L4Spec::Udp { sp, dp } => step.udp(*sp, *dp).write(&mut out, &s.payload).unwrap(),
                L4Spec::Tcp(t) => step.tcp_header(ep_tcp(t)).write(&mut out, &s.payload).unwrap(),
                L4Spec::Echo { request: true, id, seq } => {
                    step.icmpv4_echo_request(*id, *seq).write(&mut out, &s.payload).unwrap()
                }
                L4Spec::Echo { request: false, id, seq } => {
                    step.icmpv4_echo_reply(*id, *seq).write(&mut out, &s.payload).unwrap()
                }
            }
        }
    }
    if let VlanSpec::Double { outer_tpid, .. } = s.vlan {
        out[12..14].copy_from_slice(&outer_tpid.to_be_bytes());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `cases` random cases (PROPTEST_CASES overrides), no regression files written into the tree:
/// a failure prints the shrunk input, which belongs in a named test.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn ip(a: [u8; 4]) -> u32 {
    u32::from_be_bytes(a)
}

/// Offset of the sub-slice `inner` within `outer` (independent evidence of where etherparse
/// found a layer).
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    assert!(i >= o && i + inner.len() <= o + outer.len(), "not a sub-slice");
    i - o
}

/// Two checksum values that verify identically: equal, or the two one's-complement zeros.
fn csum_equiv(a: u16, b: u16) -> bool {
    a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
}

fn tcp_flag_byte(t: &ep::TcpSlice<'_>) -> u8 {
    [t.fin(), t.syn(), t.rst(), t.psh(), t.ack(), t.urg(), t.ece(), t.cwr()]
        .iter()
        .enumerate()
        .fold(0u8, |acc, (i, &f)| acc | (u8::from(f) << i))
}

/// etherparse's full IPv4 header checksum of the header at the start of `b`.
fn ep_ipv4_checksum(b: &[u8]) -> u16 {
    ep::Ipv4HeaderSlice::from_slice(b).unwrap().to_header().calc_header_checksum()
}

/// etherparse's UDP checksum of the datagram `b` (header + payload, length field honoured).
fn ep_udp_checksum(b: &[u8], src: u32, dst: u32) -> u16 {
    let u = ep::UdpSlice::from_slice(b).unwrap();
    u.to_header().calc_checksum_ipv4_raw(src.to_be_bytes(), dst.to_be_bytes(), u.payload()).unwrap()
}

/// etherparse's TCP checksum of the segment `b`.
fn ep_tcp_checksum(b: &[u8], src: u32, dst: u32) -> u16 {
    let t = ep::TcpSlice::from_slice(b).unwrap();
    t.to_header().calc_checksum_ipv4_raw(src.to_be_bytes(), dst.to_be_bytes(), t.payload()).unwrap()
}

/// etherparse's ICMPv4 checksum of the message `b`, computed generically (type/code/rest as
/// `Unknown`) so that any type value is accepted.
fn ep_icmp_checksum(b: &[u8]) -> u16 {
    ep::Icmpv4Type::Unknown { type_u8: b[0], code_u8: b[1], bytes5to8: [b[4], b[5], b[6], b[7]] }.calc_checksum(&b[8..])
}

/// Our IPv4 view must read the same values as etherparse's header slice over the same bytes.
fn assert_ipv4_matches(p: &Ipv4Packet<&[u8]>, h: &ep::Ipv4HeaderSlice<'_>) {
    assert_eq!(p.header_len(), usize::from(h.ihl()) * 4);
    assert_eq!(p.header_len(), h.slice().len());
    assert_eq!(p.total_len(), h.total_len());
    assert_eq!(p.ident(), h.identification());
    assert_eq!(p.dont_frag(), h.dont_fragment());
    assert_eq!(p.more_frags(), h.more_fragments());
    assert_eq!(p.frag_offset(), h.fragments_offset().value() * 8);
    assert_eq!(p.is_fragment(), h.is_fragmenting_payload());
    assert_eq!(p.ttl(), h.ttl());
    assert_eq!(p.protocol(), h.protocol().0);
    assert_eq!(p.checksum(), h.header_checksum());
    assert_eq!(p.src(), ip(h.source()));
    assert_eq!(p.dst(), ip(h.destination()));
    assert_eq!(p.dscp_ecn(), (h.dcp().value() << 2) | h.ecn().value());
    assert_eq!(p.options(), h.options());
    let calc = h.to_header().calc_header_checksum();
    assert_eq!(
        p.verify_checksum(),
        csum_equiv(calc, h.header_checksum()),
        "calc {calc:#06x} field {:#06x}",
        h.header_checksum()
    );
}

/// `L2Info::parse` (the fast path's parser) must agree with `L2Header::parse` on every input.
fn assert_l2info_agrees(data: &[u8]) {
    match (L2Info::parse(data), L2Header::parse(data)) {
        (Ok(i), Ok(h)) => {
            assert_eq!((i.ntags, i.ethertype, i.l3_offset), (h.ntags, h.ethertype, h.l3_offset));
            assert_eq!(&i.tags()[..], h.tags());
            for (k, t) in h.tags().iter().enumerate() {
                assert_eq!(i.tag(k), *t);
                assert_eq!(i.raw_tags[k], (u32::from(t.tpid) << 16) | u32::from(t.tci()));
            }
            for k in usize::from(i.ntags)..2 {
                assert_eq!(i.tag(k), Tag::default(), "a zero tag past ntags");
            }
            assert_eq!(i.pcp(), h.tags().last().map_or(0, |t| t.pcp), "pcp of the innermost tag");
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("L2Info {a:?} vs L2Header {b:?} on {data:02x?}"),
    }
}

fn tags_of(v: &VlanSpec) -> Vec<Tag> {
    let t = |tpid, s: &TagSpec| Tag { tpid, pcp: s.pcp, dei: s.dei, vid: s.vid };
    match v {
        VlanSpec::None => vec![],
        VlanSpec::Single(s) => vec![t(EtherType::VLAN, s)],
        VlanSpec::Double { outer_tpid, outer, inner } => vec![t(*outer_tpid, outer), t(EtherType::VLAN, inner)],
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Field values: our views vs etherparse's slices over builder-made frames
// ---------------------------------------------------------------------------------------------

fn check_against_etherparse(spec: &PacketSpec, pkt: &[u8]) {
    let sliced = ep::SlicedPacket::from_ethernet(pkt).expect("etherparse accepts its own frame");
    let Some(ep::LinkSlice::Ethernet2(eth)) = &sliced.link else { panic!("no ethernet link") };

    // Ethernet + tags.
    let frame = EthernetFrame::new_checked(pkt).unwrap();
    assert_eq!(frame.dst().0, eth.destination());
    assert_eq!(frame.src().0, eth.source());
    assert_eq!(frame.dst().0, spec.dst);
    assert_eq!(frame.src().0, spec.src);
    assert_eq!(frame.ethertype(), eth.ether_type().0);
    assert_eq!(frame.payload(), eth.payload_slice());

    let l2 = L2Header::parse(pkt).unwrap();
    assert_eq!((l2.dst, l2.src), (frame.dst(), frame.src()));
    assert_l2info_agrees(pkt);
    assert_eq!(MacAddr::from_u64(mac_u64_at(pkt, 0)).0, eth.destination());
    assert_eq!(MacAddr::from_u64(mac_u64_at(pkt, 6)).0, eth.source());
    let mut tpid = eth.ether_type().0;
    let mut ep_tags = Vec::new();
    for ext in &sliced.link_exts {
        let ep::LinkExtSlice::Vlan(v) = ext else { panic!("unexpected link extension {ext:?}") };
        ep_tags.push(Tag {
            tpid,
            pcp: v.priority_code_point().value(),
            dei: v.drop_eligible_indicator(),
            vid: v.vlan_identifier().value(),
        });
        tpid = v.ether_type().0;
    }
    assert_eq!(l2.tags(), &ep_tags[..]);
    assert_eq!(l2.tags(), &tags_of(&spec.vlan)[..]);
    assert_eq!(l2.ethertype, tpid);

    match sliced.net.as_ref().expect("net layer") {
        ep::NetSlice::Arp(a) => {
            assert_eq!(l2.ethertype, EtherType::ARP);
            assert_eq!(l2.l3_offset, offset_in(pkt, a.slice()));
            let p = ArpPacket::new_checked(&pkt[l2.l3_offset..]).unwrap();
            assert_eq!(p.operation(), a.operation().0);
            assert_eq!(&p.sender_mac().0[..], a.sender_hw_addr());
            assert_eq!(&p.target_mac().0[..], a.target_hw_addr());
            assert_eq!(&p.sender_ip().to_be_bytes()[..], a.sender_protocol_addr());
            assert_eq!(&p.target_ip().to_be_bytes()[..], a.target_protocol_addr());
            let r = ArpRepr::parse(&p);
            let mut out = [0u8; arp::PACKET_LEN];
            r.emit(&mut out);
            assert_eq!(&out[..], a.slice());
        }
        ep::NetSlice::Ipv4(ipv4) => {
            let h = ipv4.header();
            assert_eq!(l2.ethertype, EtherType::IPV4);
            assert_eq!(l2.l3_offset, offset_in(pkt, h.slice()));
            let p = Ipv4Packet::new_checked(&pkt[l2.l3_offset..]).unwrap();
            assert_ipv4_matches(&p, &h);
            assert!(p.verify_checksum());
            assert_eq!(p.checksum(), ep_ipv4_checksum(&pkt[l2.l3_offset..]));
            assert_eq!(p.payload(), ipv4.payload().payload);
            let L3Spec::Ip(ips, l4s) = &spec.l3 else { panic!("spec is not IP") };
            assert_eq!(
                (p.src(), p.dst(), p.ttl(), p.ident(), p.dont_frag(), p.options()),
                (ip(ips.src), ip(ips.dst), ips.ttl, ips.ident, ips.df, &ips.options[..])
            );
            assert_eq!(p.header_len(), 20 + ips.options.len());
            let r = Ipv4Repr::parse(&p).unwrap();
            assert_eq!(
                r,
                Ipv4Repr {
                    src: ip(h.source()),
                    dst: ip(h.destination()),
                    protocol: h.protocol().0,
                    payload_len: h.payload_len().unwrap(),
                    ttl: h.ttl(),
                    dscp_ecn: (h.dcp().value() << 2) | h.ecn().value(),
                    ident: h.identification(),
                    dont_frag: h.dont_fragment(),
                }
            );

            let l4 = p.payload();
            let l4_off = l2.l3_offset + p.header_len();
            let (src, dst) = (p.src(), p.dst());
            match (sliced.transport.as_ref().expect("transport"), l4s) {
                (ep::TransportSlice::Udp(u), L4Spec::Udp { sp, dp }) => {
                    assert_eq!(offset_in(pkt, u.slice()), l4_off);
                    let up = UdpPacket::new_checked(l4).unwrap();
                    assert_eq!((up.src_port(), up.dst_port()), (u.source_port(), u.destination_port()));
                    assert_eq!((up.src_port(), up.dst_port()), (*sp, *dp));
                    assert_eq!(up.len_field(), u.length());
                    assert_eq!(up.checksum(), u.checksum());
                    assert_eq!(up.payload(), u.payload());
                    assert_eq!(up.payload(), &spec.payload[..]);
                    assert!(up.verify_checksum(src, dst));
                    // fill_checksum reproduces etherparse's computation exactly.
                    let mut copy = l4.to_vec();
                    copy[6] ^= 0x5a;
                    UdpPacket::new_checked(&mut copy[..]).unwrap().fill_checksum(src, dst);
                    assert_eq!(be16(&copy, 6), ep_udp_checksum(l4, src, dst));
                    assert_eq!(copy, l4);
                }
                (ep::TransportSlice::Tcp(t), L4Spec::Tcp(ts)) => {
                    assert_eq!(offset_in(pkt, t.slice()), l4_off);
                    let tp = TcpPacket::new_checked(l4).unwrap();
                    assert_eq!((tp.src_port(), tp.dst_port()), (t.source_port(), t.destination_port()));
                    assert_eq!((tp.seq(), tp.ack()), (t.sequence_number(), t.acknowledgment_number()));
                    assert_eq!(tp.header_len(), usize::from(t.data_offset()) * 4);
                    assert_eq!(tp.header_len(), t.header_len());
                    assert_eq!(tp.flags(), tcp_flag_byte(t));
                    assert_eq!(tp.window(), t.window_size());
                    assert_eq!(tp.checksum(), t.checksum());
                    assert_eq!(tp.options(), t.options());
                    assert_eq!(tp.payload(), t.payload());
                    assert_eq!(
                        (tp.src_port(), tp.dst_port(), tp.seq(), tp.ack(), tp.flags(), tp.window(), tp.options()),
                        (ts.sp, ts.dp, ts.seq, ts.ack, ts.flags, ts.window, &ts.options[..])
                    );
                    assert!(tp.verify_checksum(src, dst));
                    let mut copy = l4.to_vec();
                    copy[16] ^= 0xa5;
                    TcpPacket::new_checked(&mut copy[..]).unwrap().fill_checksum(src, dst);
                    assert_eq!(be16(&copy, 16), ep_tcp_checksum(l4, src, dst));
                    assert_eq!(copy, l4);
                }
                (ep::TransportSlice::Icmpv4(i), L4Spec::Echo { request, id, seq }) => {
                    assert_eq!(offset_in(pkt, i.slice()), l4_off);
                    let ic = Icmpv4Packet::new_checked(l4).unwrap();
                    assert_eq!((ic.msg_type(), ic.code()), (i.type_u8(), i.code_u8()));
                    let want_type = if *request { icmpv4::kind::ECHO_REQUEST } else { icmpv4::kind::ECHO_REPLY };
                    assert_eq!((ic.msg_type(), ic.code()), (want_type, 0));
                    let (eid, eseq) = match i.icmp_type() {
                        ep::Icmpv4Type::EchoRequest(e) | ep::Icmpv4Type::EchoReply(e) => (e.id, e.seq),
                        other => panic!("not echo: {other:?}"),
                    };
                    assert_eq!((ic.echo_ident(), ic.echo_seq()), (eid, eseq));
                    assert_eq!((ic.echo_ident(), ic.echo_seq()), (*id, *seq));
                    assert_eq!(ic.checksum(), i.checksum());
                    assert_eq!(ic.data(), i.payload());
                    assert!(!ic.is_error());
                    assert!(ic.verify_checksum());
                    assert_eq!(ic.checksum(), i.icmp_type().calc_checksum(i.payload()));
                    let mut copy = l4.to_vec();
                    copy[2] ^= 0x33;
                    let rest = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
                    Icmpv4Packet::new_checked(&mut copy[..]).unwrap().fill(l4[0], l4[1], rest);
                    assert_eq!(copy, l4);
                }
                (t, s) => panic!("transport mismatch: etherparse {t:?} vs spec {s:?}"),
            }
        }
        other => panic!("unexpected net layer {other:?}"),
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn views_agree_with_etherparse(spec in packet_spec()) {
        let pkt = build(&spec);
        check_against_etherparse(&spec, &pkt);
    }

    /// IPv4 headers written by etherparse (any flags, fragment offset, protocol, options,
    /// checksum right or wrong) read the same through our view.
    #[test]
    fn ipv4_header_fields_agree(
        ips in ip_spec(),
        mf in any::<bool>(),
        frag in 0u16..0x2000,
        proto in any::<u8>(),
        payload_len in 0usize..100,
        padding in 0usize..20,
        corrupt in any::<bool>(),
    ) {
        let mut h = ep_ipv4(&ips);
        h.more_fragments = mf;
        h.fragment_offset = ep::IpFragOffset::try_new(frag).unwrap();
        h.protocol = ep::IpNumber(proto);
        h.set_payload_len(payload_len).unwrap();
        h.header_checksum = h.calc_header_checksum();
        if corrupt {
            h.header_checksum = h.header_checksum.wrapping_add(1 + u16::from(proto));
        }
        let mut b = h.to_bytes().to_vec();
        b.extend((0..payload_len + padding).map(|i| i as u8));
        let es = ep::Ipv4HeaderSlice::from_slice(&b).unwrap();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_ipv4_matches(&p, &es);
        prop_assert_eq!(p.payload().len(), payload_len, "Ethernet padding excluded");
        let r = Ipv4Repr::parse(&p);
        if p.verify_checksum() { prop_assert!(r.is_ok()) } else { prop_assert_eq!(r, Err(WireError::BadChecksum)) }
        // fill_checksum agrees with etherparse's computation.
        let mut c = b.clone();
        Ipv4Packet::new_checked(&mut c[..]).unwrap().fill_checksum();
        prop_assert_eq!(be16(&c, 10), ep_ipv4_checksum(&b));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Incremental checksum updates vs full recomputation by etherparse
// ---------------------------------------------------------------------------------------------

fn assert_ip_csum_fresh(b: &[u8]) {
    let field = be16(b, 10);
    let full = ep_ipv4_checksum(b);
    assert!(csum_equiv(field, full), "ipv4 incremental {field:#06x} vs full {full:#06x}");
    assert!(Ipv4Packet::new_checked(b).unwrap().verify_checksum());
}

fn assert_l4_csum_fresh(l4: &[u8], kind: &L4Spec, src: u32, dst: u32) {
    match kind {
        L4Spec::Udp { .. } => {
            let field = be16(l4, 6);
            let full = ep_udp_checksum(l4, src, dst);
            assert_ne!(field, 0, "an updated UDP checksum must never become 0 (= no checksum)");
            assert!(csum_equiv(field, full), "udp incremental {field:#06x} vs full {full:#06x}");
            assert!(UdpPacket::new_checked(l4).unwrap().verify_checksum(src, dst));
        }
        L4Spec::Tcp(_) => {
            let field = be16(l4, 16);
            let full = ep_tcp_checksum(l4, src, dst);
            assert!(csum_equiv(field, full), "tcp incremental {field:#06x} vs full {full:#06x}");
            assert!(TcpPacket::new_checked(l4).unwrap().verify_checksum(src, dst));
        }
        L4Spec::Echo { .. } => {
            let field = be16(l4, 2);
            let full = ep_icmp_checksum(l4);
            assert!(csum_equiv(field, full), "icmp incremental {field:#06x} vs full {full:#06x}");
            assert!(Icmpv4Packet::new_checked(l4).unwrap().verify_checksum());
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn incremental_updates_match_full_recomputation(
        spec in ip_packet_spec(),
        ttl in any::<u8>(),
        new_src in any::<u32>(),
        new_dst in any::<u32>(),
        sp in any::<u16>(),
        dp in any::<u16>(),
        icmp_type in any::<u8>(),
        icmp_id in any::<u16>(),
    ) {
        let mut pkt = build(&spec);
        let L3Spec::Ip(_, l4s) = &spec.l3 else { unreachable!() };
        let l3 = L2Header::parse(&pkt).unwrap().l3_offset;
        let (hl, tl, old_src, old_dst) = {
            let p = Ipv4Packet::new_checked(&pkt[l3..]).unwrap();
            (p.header_len(), usize::from(p.total_len()), p.src(), p.dst())
        };

        // IPv4 header: TTL, then source, then destination, checked after each step.
        Ipv4Packet::new_checked(&mut pkt[l3..]).unwrap().set_ttl_update(ttl);
        assert_ip_csum_fresh(&pkt[l3..]);
        Ipv4Packet::new_checked(&mut pkt[l3..]).unwrap().set_src_update(new_src);
        assert_ip_csum_fresh(&pkt[l3..]);
        Ipv4Packet::new_checked(&mut pkt[l3..]).unwrap().set_dst_update(new_dst);
        assert_ip_csum_fresh(&pkt[l3..]);
        {
            let p = Ipv4Packet::new_checked(&pkt[l3..]).unwrap();
            prop_assert_eq!((p.ttl(), p.src(), p.dst()), (ttl, new_src, new_dst));
        }

        // Transport: pseudo-header address changes, then ports (ICMP: type, then id).
        let l4 = &mut pkt[l3 + hl..l3 + tl];
        match l4s {
            L4Spec::Udp { .. } => {
                UdpPacket::new_checked(&mut *l4).unwrap().update_for_addr(old_src, new_src);
                assert_l4_csum_fresh(l4, l4s, new_src, old_dst);
                UdpPacket::new_checked(&mut *l4).unwrap().update_for_addr(old_dst, new_dst);
                assert_l4_csum_fresh(l4, l4s, new_src, new_dst);
                UdpPacket::new_checked(&mut *l4).unwrap().set_src_port_update(sp);
                assert_l4_csum_fresh(l4, l4s, new_src, new_dst);
                UdpPacket::new_checked(&mut *l4).unwrap().set_dst_port_update(dp);
                assert_l4_csum_fresh(l4, l4s, new_src, new_dst);
                let u = UdpPacket::new_checked(&*l4).unwrap();
                prop_assert_eq!((u.src_port(), u.dst_port()), (sp, dp));
            }
            L4Spec::Tcp(_) => {
                TcpPacket::new_checked(&mut *l4).unwrap().update_for_addr(old_src, new_src);
                assert_l4_csum_fresh(l4, l4s, new_src, old_dst);
                TcpPacket::new_checked(&mut *l4).unwrap().update_for_addr(old_dst, new_dst);
                assert_l4_csum_fresh(l4, l4s, new_src, new_dst);
                TcpPacket::new_checked(&mut *l4).unwrap().set_src_port_update(sp);
                assert_l4_csum_fresh(l4, l4s, new_src, new_dst);
                TcpPacket::new_checked(&mut *l4).unwrap().set_dst_port_update(dp);
                assert_l4_csum_fresh(l4, l4s, new_src, new_dst);
                let t = TcpPacket::new_checked(&*l4).unwrap();
                prop_assert_eq!((t.src_port(), t.dst_port()), (sp, dp));
            }
            L4Spec::Echo { .. } => {
                Icmpv4Packet::new_checked(&mut *l4).unwrap().set_type_update(icmp_type);
                assert_l4_csum_fresh(l4, l4s, 0, 0);
                Icmpv4Packet::new_checked(&mut *l4).unwrap().set_echo_ident_update(icmp_id);
                assert_l4_csum_fresh(l4, l4s, 0, 0);
                let i = Icmpv4Packet::new_checked(&*l4).unwrap();
                prop_assert_eq!((i.msg_type(), i.echo_ident()), (icmp_type, icmp_id));
            }
        }
        // The IP layer still reads consistently through etherparse (the transport may not:
        // a rewritten ICMP type can be one etherparse length-checks, e.g. timestamp).
        let s = ep::Ipv4Slice::from_slice(&pkt[l3..]).unwrap();
        prop_assert_eq!(s.payload().payload.len(), tl - hl);
    }

    /// Echo request -> reply, the rewrite the appliance's ICMP responder does.
    #[test]
    fn echo_request_to_reply_matches_etherparse(id in any::<u16>(), seq in any::<u16>(), data in vec(any::<u8>(), 0..200)) {
        let mut req = Vec::new();
        ep::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).icmpv4_echo_request(id, seq).write(&mut req, &data).unwrap();
        let mut rep = Vec::new();
        ep::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).icmpv4_echo_reply(id, seq).write(&mut rep, &data).unwrap();
        Icmpv4Packet::new_checked(&mut req[20..]).unwrap().set_type_update(icmpv4::kind::ECHO_REPLY);
        prop_assert!(csum_equiv(be16(&req, 22), be16(&rep, 22)));
        prop_assert_eq!(&req[24..], &rep[24..]);
    }

    /// A UDP checksum of 0 means "none": updates must leave it 0 and verification passes.
    #[test]
    fn udp_zero_checksum_stays_zero(sp in any::<u16>(), dp in any::<u16>(), a in any::<u32>(), b in any::<u32>(), data in vec(any::<u8>(), 0..64)) {
        let mut d = vec![0u8; 8 + data.len()];
        let n = d.len() as u16;
        d[4..6].copy_from_slice(&n.to_be_bytes());
        d[8..].copy_from_slice(&data);
        let mut u = UdpPacket::new_checked(&mut d[..]).unwrap();
        u.set_src_port_update(sp);
        u.set_dst_port_update(dp);
        u.update_for_addr(a, b);
        prop_assert_eq!(u.checksum(), 0);
        prop_assert!(u.verify_checksum(a, b));
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// `checksum::sum` (32-bit words into a 64-bit accumulator) against etherparse's
    /// `Sum16BitWords`, for any starting value and any length/alignment. (etherparse sums
    /// native-endian words; `.to_be()` gives the big-endian field value, as its own UDP/TCP
    /// code does.)
    #[test]
    fn checksum_primitives_agree_with_etherparse(acc in prop_oneof![Just(0u32), any::<u32>(), 0xffff_0000u32..], data in vec(any::<u8>(), 0..300), split in any::<prop::sample::Index>()) {
        let theirs = ep::checksum::Sum16BitWords::new().add_slice(&data).ones_complement().to_be();
        prop_assert_eq!(checksum::checksum(&data), theirs);
        // A starting value is one more (unfolded) summand.
        let with_acc = ep::checksum::Sum16BitWords::new()
            .add_4bytes(acc.to_be_bytes())
            .add_slice(&data)
            .ones_complement().to_be();
        prop_assert_eq!(!checksum::fold(checksum::sum(acc, &data)), with_acc);
        // Chaining at an even split equals one pass.
        let k = split.index(data.len() + 1) & !1;
        prop_assert_eq!(checksum::fold(checksum::sum(checksum::sum(acc, &data[..k]), &data[k..])), checksum::fold(checksum::sum(acc, &data)));
        // The pseudo-header sum is the sum of its 16-bit words.
        if data.len() >= 11 {
            let (s, d) = (u32::from_be_bytes([data[0], data[1], data[2], data[3]]), u32::from_be_bytes([data[4], data[5], data[6], data[7]]));
            let (proto, len) = (data[8], u16::from_be_bytes([data[9], data[10]]));
            let theirs = ep::checksum::Sum16BitWords::new()
                .add_4bytes(s.to_be_bytes())
                .add_4bytes(d.to_be_bytes())
                .add_2bytes([0, proto])
                .add_2bytes(len.to_be_bytes())
                .ones_complement().to_be();
            prop_assert_eq!(!checksum::fold(checksum::pseudo_header(s, d, proto, len)), theirs);
        }
    }

    /// RFC 1624 updates against recomputation for any data, any changed word.
    #[test]
    fn update16_and_update32_match_recomputation(mut data in vec(any::<u8>(), 8..64), at in any::<prop::sample::Index>(), new16 in any::<u16>(), new32 in any::<u32>()) {
        let n = data.len() & !3;
        data.truncate(n);
        let c = checksum::checksum(&data);
        let i = at.index(n / 2) * 2;
        let old16 = be16(&data, i);
        data[i..i + 2].copy_from_slice(&new16.to_be_bytes());
        let inc = checksum::update16(c, old16, new16);
        let full = ep::checksum::Sum16BitWords::new().add_slice(&data).ones_complement().to_be();
        prop_assert!(csum_equiv(inc, full), "update16 {:#06x} vs {:#06x}", inc, full);
        let j = at.index(n / 4) * 4;
        let old32 = u32::from_be_bytes([data[j], data[j + 1], data[j + 2], data[j + 3]]);
        data[j..j + 4].copy_from_slice(&new32.to_be_bytes());
        let inc = checksum::update32(inc, old32, new32);
        let full = ep::checksum::Sum16BitWords::new().add_slice(&data).ones_complement().to_be();
        prop_assert!(csum_equiv(inc, full), "update32 {:#06x} vs {:#06x}", inc, full);
    }
}

/// The one's-complement corner cases: a field whose full recomputation is 0x0000 (TCP/IPv4)
/// or 0xffff (UDP's stand-in for a computed zero) must stay equivalent after updates.
#[test]
fn checksum_zero_corner_cases() {
    // UDP: find a datagram whose computed checksum is 0 -> transmitted as 0xffff.
    let (src, dst) = (0x0a00_0001u32, 0x0a00_0002u32);
    let mut d = [0u8, 1, 0, 2, 0, 10, 0, 0, 0, 0];
    let need = checksum::fold(checksum::sum(checksum::pseudo_header(src, dst, 17, 10), &d));
    // make the folded sum 0xffff by choosing the last word
    d[8..10].copy_from_slice(&(0xffff - need).to_be_bytes());
    let mut u = UdpPacket::new_checked(&mut d[..]).unwrap();
    u.fill_checksum(src, dst);
    assert_eq!(u.checksum(), 0xffff, "computed zero is sent as all ones (RFC 768)");
    assert_eq!(ep_udp_checksum(&d, src, dst), 0xffff);
    assert!(UdpPacket::new_checked(&d[..]).unwrap().verify_checksum(src, dst));
    // A port change and back returns to an equivalent value, never 0.
    let mut u = UdpPacket::new_checked(&mut d[..]).unwrap();
    u.set_src_port_update(7);
    u.set_src_port_update(1);
    assert!(u.checksum() != 0 && u.verify_checksum(src, dst));

    // TCP: a segment whose checksum computes to 0x0000.
    let mut t = [0u8; 22];
    t[12] = 0x50;
    let need = checksum::fold(checksum::sum(checksum::pseudo_header(src, dst, 6, 22), &t));
    t[20..22].copy_from_slice(&(0xffff - need).to_be_bytes());
    let mut tp = TcpPacket::new_checked(&mut t[..]).unwrap();
    tp.fill_checksum(src, dst);
    assert_eq!(tp.checksum(), 0);
    assert_eq!(ep_tcp_checksum(&t, src, dst), 0);
    let mut tp = TcpPacket::new_checked(&mut t[..]).unwrap();
    tp.set_dst_port_update(443);
    tp.set_dst_port_update(0);
    assert!(csum_equiv(tp.checksum(), 0) && tp.verify_checksum(src, dst));
}

// ---------------------------------------------------------------------------------------------
// 3. Build -> parse round trips
// ---------------------------------------------------------------------------------------------

fn ipv4_repr() -> impl Strategy<Value = Ipv4Repr> {
    (any::<u32>(), any::<u32>(), any::<u8>(), 0u16..=65515, any::<u8>(), any::<u8>(), any::<u16>(), any::<bool>())
        .prop_map(|(src, dst, protocol, payload_len, ttl, dscp_ecn, ident, dont_frag)| Ipv4Repr {
            src,
            dst,
            protocol,
            payload_len,
            ttl,
            dscp_ecn,
            ident,
            dont_frag,
        })
}

fn arp_repr() -> impl Strategy<Value = ArpRepr> {
    (
        prop_oneof![Just(arp::OP_REQUEST), Just(arp::OP_REPLY)],
        any::<[u8; 6]>(),
        any::<u32>(),
        any::<[u8; 6]>(),
        any::<u32>(),
    )
        .prop_map(|(operation, s, sender_ip, t, target_ip)| ArpRepr {
            operation,
            sender_mac: MacAddr(s),
            sender_ip,
            target_mac: MacAddr(t),
            target_ip,
        })
}

fn any_tag() -> impl Strategy<Value = Tag> {
    (prop_oneof![Just(EtherType::VLAN), Just(EtherType::QINQ)], 0u8..8, any::<bool>(), 0u16..4096)
        .prop_map(|(tpid, pcp, dei, vid)| Tag { tpid, pcp, dei, vid })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn ipv4_repr_round_trip(r in ipv4_repr(), garbage in any::<u8>()) {
        let mut b = vec![garbage; 20 + usize::from(r.payload_len)];
        r.emit(&mut b);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&p), Ok(r));
        // etherparse reads the same header, with a checksum it agrees with.
        let h = ep::Ipv4HeaderSlice::from_slice(&b).unwrap();
        prop_assert_eq!(h.ihl(), 5);
        prop_assert_eq!(h.payload_len().unwrap(), r.payload_len);
        prop_assert_eq!((ip(h.source()), ip(h.destination()), h.protocol().0, h.ttl()), (r.src, r.dst, r.protocol, r.ttl));
        prop_assert_eq!((h.identification(), h.dont_fragment(), h.more_fragments(), h.fragments_offset().value()), (r.ident, r.dont_frag, false, 0));
        prop_assert_eq!((h.dcp().value() << 2) | h.ecn().value(), r.dscp_ecn);
        prop_assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
    }

    #[test]
    fn arp_repr_round_trip(r in arp_repr(), garbage in any::<u8>(), extra in 0usize..20) {
        let mut b = vec![garbage; arp::PACKET_LEN + extra];
        r.emit(&mut b);
        prop_assert!(b[arp::PACKET_LEN..].iter().all(|&x| x == garbage), "emit wrote past 28 bytes");
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        prop_assert_eq!(ArpRepr::parse(&p), r);
        let e = ep::ArpPacketSlice::from_slice(&b).unwrap().to_packet().try_eth_ipv4().unwrap();
        prop_assert_eq!(e.operation.0, r.operation);
        prop_assert_eq!((e.sender_mac, ip(e.sender_ipv4)), (r.sender_mac.0, r.sender_ip));
        prop_assert_eq!((e.target_mac, ip(e.target_ipv4)), (r.target_mac.0, r.target_ip));
    }

    #[test]
    fn vlan_emit_then_parse(
        dst in any::<[u8; 6]>(),
        src in any::<[u8; 6]>(),
        tags in vec(any_tag(), 0..=2),
        ethertype in any::<u16>().prop_filter("not a TPID", |t| *t != 0x8100 && *t != 0x88a8),
        tail in vec(any::<u8>(), 0..8),
    ) {
        let n = tags.len();
        let mut hdr = vec![0u8; 14 + 4 * n];
        hdr[..6].copy_from_slice(&dst);
        hdr[6..12].copy_from_slice(&src);
        vlan::emit_tags(&mut hdr, &tags, ethertype);
        let mut frame = hdr.clone();
        frame.extend_from_slice(&tail);
        let h = L2Header::parse(&frame).unwrap();
        prop_assert_eq!(h.tags(), &tags[..]);
        assert_l2info_agrees(&frame);
        prop_assert_eq!((h.dst, h.src, h.ethertype, h.l3_offset), (MacAddr(dst), MacAddr(src), ethertype, hdr.len()));
        // etherparse reads the same tags off the emitted bytes.
        let eth = ep::Ethernet2Slice::from_slice_without_fcs(&frame).unwrap();
        let (mut tpid, mut rest) = (eth.ether_type().0, eth.payload_slice());
        for t in &tags {
            prop_assert_eq!(tpid, t.tpid);
            let v = ep::SingleVlanSlice::from_slice(rest).unwrap();
            prop_assert_eq!((v.priority_code_point().value(), v.drop_eligible_indicator(), v.vlan_identifier().value()), (t.pcp, t.dei, t.vid));
            tpid = v.ether_type().0;
            rest = v.payload_slice();
        }
        prop_assert_eq!(tpid, ethertype);
        prop_assert_eq!(rest, &tail[..]);
    }

    #[test]
    fn tci_round_trip(tpid in any::<u16>(), tci in any::<u16>()) {
        let t = Tag::from_tci(tpid, tci);
        prop_assert_eq!(t.tci(), tci);
        let mut b = [0u8; 4];
        t.emit(&mut b);
        prop_assert_eq!(b, [(tpid >> 8) as u8, tpid as u8, (tci >> 8) as u8, tci as u8]);
    }
}

/// `Ipv4Repr::emit` saturates the total length instead of refusing a payload that cannot be
/// represented, so `parse(emit(r)) != r` for `payload_len > 65515`.
#[test]
fn ipv4_repr_round_trip_at_max_payload() {
    // The largest representable payload round-trips; one byte more is clamped (documented).
    let r = Ipv4Repr {
        src: 1,
        dst: 2,
        protocol: 17,
        payload_len: Ipv4Repr::MAX_PAYLOAD,
        ttl: 64,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: false,
    };
    let mut b = vec![0u8; 20 + 65516];
    r.emit(&mut b);
    let p = Ipv4Packet::new_checked(&b[..]).unwrap();
    assert_eq!(Ipv4Repr::parse(&p), Ok(r));
    Ipv4Repr { payload_len: 65516, ..r }.emit(&mut b);
    let p = Ipv4Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.total_len(), 65535);
}

/// `L2Info::tag` documents "a zero tag past `ntags`", but masks the index with `& 1`, so on a
/// two-tag frame `tag(2)` is the outer tag and `tag(3)` the inner one.
#[test]
fn l2info_tag_past_the_tags_is_zero() {
    let mut f = vec![0u8; 22];
    vlan::emit_tags(&mut f, &[Tag::s(100), Tag::c(10)], EtherType::IPV4);
    let i = L2Info::parse(&f).unwrap();
    assert_eq!(i.ntags, 2);
    assert_eq!(i.tag(2), Tag::default());
}

// ---------------------------------------------------------------------------------------------
// 4. Truncation and inconsistency: named errors
// ---------------------------------------------------------------------------------------------

/// Every strict prefix of a valid frame, parsed layer by layer, gives either a view that agrees
/// with the full frame or the named error the lengths imply.
fn check_prefixes(spec: &PacketSpec, full: &[u8]) {
    let l2 = L2Header::parse(full).unwrap();
    let l3 = l2.l3_offset;
    for n in 0..full.len() {
        let b = &full[..n];
        // L2
        assert_l2info_agrees(b);
        let r = L2Header::parse(b);
        if n < 14 {
            assert_eq!(r, Err(WireError::Truncated), "prefix {n}");
            assert_eq!(EthernetFrame::new_checked(b).err(), Some(WireError::Truncated));
            continue;
        }
        assert!(EthernetFrame::new_checked(b).is_ok());
        if n < l3 {
            assert_eq!(r, Err(WireError::Truncated), "prefix {n} inside the tags");
            continue;
        }
        assert_eq!(r, Ok(l2), "prefix {n}");
        let nb = &b[l3..];
        match &spec.l3 {
            L3Spec::Arp { .. } => {
                assert_eq!(ArpPacket::new_checked(nb).err(), Some(WireError::Truncated), "arp prefix {}", nb.len());
            }
            L3Spec::Ip(_, l4s) => {
                // The builder adds no padding, so every strict prefix is short of the total length.
                assert_eq!(Ipv4Packet::new_checked(nb).err(), Some(WireError::Truncated), "ipv4 prefix {}", nb.len());
                let fp = Ipv4Packet::new_checked(&full[l3..]).unwrap();
                let hl = fp.header_len();
                if nb.len() < hl {
                    continue;
                }
                let l4full = fp.payload();
                let l4 = &nb[hl..];
                let k = l4.len();
                match l4s {
                    L4Spec::Udp { .. } => {
                        // The length field is the full datagram length, always > k here.
                        assert_eq!(UdpPacket::new_checked(l4).err(), Some(WireError::Truncated), "udp prefix {k}");
                    }
                    L4Spec::Tcp(_) => {
                        let ft = TcpPacket::new_checked(l4full).unwrap();
                        let r = TcpPacket::new_checked(l4);
                        if k < 20 || k < ft.header_len() {
                            assert_eq!(r.err(), Some(WireError::Truncated), "tcp prefix {k}");
                        } else {
                            // No length field: a consistent, shorter segment.
                            let t = r.unwrap();
                            assert_eq!(
                                (t.src_port(), t.dst_port(), t.seq(), t.ack()),
                                (ft.src_port(), ft.dst_port(), ft.seq(), ft.ack())
                            );
                            assert_eq!(
                                (t.header_len(), t.flags(), t.window(), t.checksum()),
                                (ft.header_len(), ft.flags(), ft.window(), ft.checksum())
                            );
                            assert_eq!(t.options(), ft.options());
                            assert_eq!(t.payload(), &ft.payload()[..k - ft.header_len()]);
                        }
                    }
                    L4Spec::Echo { .. } => {
                        let r = Icmpv4Packet::new_checked(l4);
                        if k < 8 {
                            assert_eq!(r.err(), Some(WireError::Truncated), "icmp prefix {k}");
                        } else {
                            let i = r.unwrap();
                            let fi = Icmpv4Packet::new_checked(l4full).unwrap();
                            assert_eq!(
                                (i.msg_type(), i.code(), i.checksum(), i.echo_ident(), i.echo_seq()),
                                (fi.msg_type(), fi.code(), fi.checksum(), fi.echo_ident(), fi.echo_seq())
                            );
                            assert_eq!(i.data(), &fi.data()[..k - 8]);
                        }
                    }
                }
            }
        }
    }
}

/// A frame with one field made inconsistent, and the error our parser must name.
#[derive(Clone, Debug)]
enum Mutation {
    IpVersion(u8),
    IpIhlBelow5(u8),
    /// IHL > 5 while the buffer holds only the 20-byte fixed header.
    IpIhlPastBuffer(u8),
    IpTotalBelowHeader(u16),
    IpTotalPastBuffer(u16),
    /// Total length anywhere in header..=buffer: accepted, payload shortened.
    IpTotalShorter(u16),
    IpCorruptHeaderByte(usize, u8),
    UdpLenBelow8(u16),
    UdpLenPastBuffer(u16),
    TcpOffsetBelow5(u8),
    TcpOffsetPastBuffer(u8),
    ThirdTag(u16),
    ArpHardware(u16, u8),
    ArpProtocol(u16, u8),
    ArpOperation(u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0u8..16).prop_filter("not 4", |v| *v != 4).prop_map(Mutation::IpVersion),
        (0u8..5).prop_map(Mutation::IpIhlBelow5),
        (6u8..16).prop_map(Mutation::IpIhlPastBuffer),
        any::<u16>().prop_map(Mutation::IpTotalBelowHeader),
        any::<u16>().prop_map(Mutation::IpTotalPastBuffer),
        any::<u16>().prop_map(Mutation::IpTotalShorter),
        (1usize..20, 1u8..=255).prop_map(|(i, x)| Mutation::IpCorruptHeaderByte(i, x)),
        (0u16..8).prop_map(Mutation::UdpLenBelow8),
        any::<u16>().prop_map(Mutation::UdpLenPastBuffer),
        (0u8..5).prop_map(Mutation::TcpOffsetBelow5),
        (5u8..16).prop_map(Mutation::TcpOffsetPastBuffer),
        prop_oneof![Just(EtherType::VLAN), Just(EtherType::QINQ)].prop_map(Mutation::ThirdTag),
        (any::<u16>(), any::<u8>()).prop_map(|(h, l)| Mutation::ArpHardware(h, l)),
        (any::<u16>(), any::<u8>()).prop_map(|(p, l)| Mutation::ArpProtocol(p, l)),
        any::<u16>().prop_map(Mutation::ArpOperation),
    ]
}

fn apply_mutation(spec: &PacketSpec, full: &[u8], m: &Mutation) {
    let l2 = L2Header::parse(full).unwrap();
    let l3 = l2.l3_offset;
    let mut b = full[l3..].to_vec();
    let is_ip = matches!(spec.l3, L3Spec::Ip(..));
    let (hl, tl) = if is_ip {
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        (p.header_len(), usize::from(p.total_len()))
    } else {
        (0, 0)
    };
    let l4s = match &spec.l3 {
        L3Spec::Ip(_, l4) => Some(l4),
        L3Spec::Arp { .. } => None,
    };
    let ipv4 = |b: &[u8]| Ipv4Packet::new_checked(b).err();
    match *m {
        Mutation::IpVersion(v) if is_ip => {
            b[0] = (v << 4) | (b[0] & 0x0f);
            assert_eq!(ipv4(&b), Some(WireError::BadVersion));
            assert!(ep::Ipv4HeaderSlice::from_slice(&b).is_err());
        }
        Mutation::IpIhlBelow5(ihl) if is_ip => {
            b[0] = 0x40 | ihl;
            assert_eq!(ipv4(&b), Some(WireError::BadHeaderLen));
            assert!(matches!(
                ep::Ipv4HeaderSlice::from_slice(&b),
                Err(ep::err::ipv4::HeaderSliceError::Content(
                    ep::err::ipv4::HeaderError::HeaderLengthSmallerThanHeader { .. }
                ))
            ));
        }
        Mutation::IpIhlPastBuffer(ihl) if is_ip => {
            b.truncate(20);
            b[0] = 0x40 | ihl;
            assert_eq!(ipv4(&b), Some(WireError::Truncated));
        }
        Mutation::IpTotalBelowHeader(t) if is_ip => {
            let t = t % hl as u16;
            b[2..4].copy_from_slice(&t.to_be_bytes());
            assert_eq!(ipv4(&b), Some(WireError::BadLength));
            assert!(ep::Ipv4Slice::from_slice(&b).is_err());
        }
        Mutation::IpTotalPastBuffer(t) if is_ip => {
            if b.len() >= 65535 {
                return;
            }
            let t = b.len() as u16 + 1 + t % (65535 - b.len() as u16);
            b[2..4].copy_from_slice(&t.to_be_bytes());
            assert_eq!(ipv4(&b), Some(WireError::Truncated));
            assert!(ep::Ipv4Slice::from_slice(&b).is_err());
        }
        Mutation::IpTotalShorter(t) if is_ip => {
            let t = hl + usize::from(t) % (b.len() - hl + 1);
            b[2..4].copy_from_slice(&(t as u16).to_be_bytes());
            let p = Ipv4Packet::new_checked(&b[..]).unwrap();
            assert_eq!(p.payload(), &full[l3 + hl..l3 + t]);
            assert_eq!(p.payload(), ep::Ipv4Slice::from_slice(&b).unwrap().payload().payload);
        }
        Mutation::IpCorruptHeaderByte(i, x) if is_ip => {
            // Any single-byte change in the fixed header (that still passes the length checks)
            // must fail the checksum.
            b[i] ^= x;
            if let Ok(p) = Ipv4Packet::new_checked(&b[..]) {
                assert!(!p.verify_checksum(), "byte {i} ^ {x:#x} undetected");
                assert_eq!(Ipv4Repr::parse(&p), Err(WireError::BadChecksum));
            }
        }
        Mutation::UdpLenBelow8(l) if matches!(l4s, Some(L4Spec::Udp { .. })) => {
            let u = &mut b[hl..tl];
            u[4..6].copy_from_slice(&l.to_be_bytes());
            assert_eq!(UdpPacket::new_checked(&*u).err(), Some(WireError::BadLength));
            // etherparse agrees except for 0, which it reads as "length from the IP layer".
            assert_eq!(ep::UdpSlice::from_slice(u).is_ok(), l == 0);
        }
        Mutation::UdpLenPastBuffer(l) if matches!(l4s, Some(L4Spec::Udp { .. })) => {
            let u = &mut b[hl..tl];
            let n = u.len() as u16;
            let l = n + 1 + l % (65535 - n);
            u[4..6].copy_from_slice(&l.to_be_bytes());
            assert_eq!(UdpPacket::new_checked(&*u).err(), Some(WireError::Truncated));
            assert!(ep::UdpSlice::from_slice(u).is_err());
        }
        Mutation::TcpOffsetBelow5(o) if matches!(l4s, Some(L4Spec::Tcp(_))) => {
            let t = &mut b[hl..tl];
            t[12] = (o << 4) | (t[12] & 0x0f);
            assert_eq!(TcpPacket::new_checked(&*t).err(), Some(WireError::BadHeaderLen));
            assert!(matches!(ep::TcpSlice::from_slice(t), Err(ep::err::tcp::HeaderSliceError::Content(_))));
        }
        Mutation::TcpOffsetPastBuffer(o) if matches!(l4s, Some(L4Spec::Tcp(_))) => {
            let t = &mut b[hl..tl];
            t[12] = (o << 4) | (t[12] & 0x0f);
            // Cut the segment one byte short of the header (but never below the fixed 20).
            let hlen = usize::from(o) * 4;
            let cut = (hlen - 1).min(t.len()).max(20);
            let want = if hlen > cut { Some(WireError::Truncated) } else { None };
            assert_eq!(TcpPacket::new_checked(&t[..cut]).err(), want);
            assert_eq!(ep::TcpSlice::from_slice(&t[..cut]).is_err(), want.is_some());
        }
        Mutation::ThirdTag(tpid) => {
            // Turn the innermost EtherType into a third tag: one tag too many.
            if l2.ntags == 2 {
                let mut f = full.to_vec();
                f[l3 - 2..l3].copy_from_slice(&tpid.to_be_bytes());
                assert_eq!(L2Header::parse(&f), Err(WireError::TooManyTags));
                assert_eq!(L2Info::parse(&f), Err(WireError::TooManyTags));
                // Also when the frame ends right after the third TPID.
                assert_eq!(L2Header::parse(&f[..l3]), Err(WireError::TooManyTags));
            } else {
                // Fewer than two tags: another TPID just opens another tag.
                let mut f = full.to_vec();
                f[l3 - 2..l3].copy_from_slice(&tpid.to_be_bytes());
                let h = L2Header::parse(&f).unwrap();
                assert_eq!(usize::from(h.ntags), usize::from(l2.ntags) + 1);
                assert_eq!(h.tags[usize::from(l2.ntags)].tpid, tpid);
                assert_eq!(L2Header::parse(&f[..l3 + 3]), Err(WireError::Truncated));
            }
        }
        Mutation::ArpHardware(h, l) if !is_ip => {
            b[0..2].copy_from_slice(&h.to_be_bytes());
            b[4] = l;
            let want = if h == 1 && l == 6 { None } else { Some(WireError::BadHardware) };
            assert_eq!(ArpPacket::new_checked(&b[..]).err(), want);
        }
        Mutation::ArpProtocol(p, l) if !is_ip => {
            b[2..4].copy_from_slice(&p.to_be_bytes());
            b[5] = l;
            let want = if p == 0x0800 && l == 4 { None } else { Some(WireError::BadProtocol) };
            assert_eq!(ArpPacket::new_checked(&b[..]).err(), want);
        }
        Mutation::ArpOperation(op) if !is_ip => {
            b[6..8].copy_from_slice(&op.to_be_bytes());
            let want = if op == 1 || op == 2 { None } else { Some(WireError::BadOperation) };
            assert_eq!(ArpPacket::new_checked(&b[..]).err(), want);
        }
        _ => {} // mutation does not apply to this frame
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn every_strict_prefix_is_consistent_or_named(spec in packet_spec()) {
        let pkt = build(&spec);
        check_prefixes(&spec, &pkt);
    }

    #[test]
    fn inconsistencies_give_named_errors(spec in packet_spec(), m in mutation()) {
        let pkt = build(&spec);
        apply_mutation(&spec, &pkt, &m);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Arbitrary bytes: no panics, invariants, and acceptance agreeing with etherparse
// ---------------------------------------------------------------------------------------------

/// Runs every parser and every accessor (and every setter, on a copy) over `data`, asserting
/// the invariants that must hold whatever the bytes.
fn exercise(data: &[u8]) {
    if let Ok(f) = EthernetFrame::new_checked(data) {
        let _ = (f.dst(), f.src(), f.ethertype(), f.payload().len());
        let mut c = data.to_vec();
        let mut f = EthernetFrame::new_checked(&mut c[..]).unwrap();
        f.set_dst(MacAddr::BROADCAST);
        f.set_src(MacAddr::default());
        f.set_ethertype(EtherType::IPV4);
        f.payload_mut().fill(0);
    }
    assert_l2info_agrees(data);
    if data.len() >= 6 {
        let m = mac_at(data, 0);
        assert_eq!(mac_u64_at(data, 0), m.to_u64());
        assert_eq!(MacAddr::from_u64(m.to_u64()), m);
        assert_eq!(m.to_u64() >> 48, 0);
        assert_eq!(MacAddr::from_u64(m.to_u64() | 0xabcd << 48), m, "top 16 bits ignored");
    }
    if let Ok(h) = L2Header::parse(data) {
        assert!(h.ntags <= 2);
        assert_eq!(h.l3_offset, 14 + 4 * usize::from(h.ntags));
        assert!(h.l3_offset <= data.len());
        assert!(h.ethertype != 0x8100 && h.ethertype != 0x88a8);
        for t in h.tags() {
            assert!((t.tpid == 0x8100 || t.tpid == 0x88a8) && t.pcp < 8 && t.vid < 4096);
        }
        // Re-emitting the header reproduces the bytes.
        let mut hdr = data[..h.l3_offset].to_vec();
        vlan::emit_tags(&mut hdr, h.tags(), h.ethertype);
        assert_eq!(&hdr[..], &data[..h.l3_offset]);
    }
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let hl = p.header_len();
        assert!(hl >= 20 && hl <= usize::from(p.total_len()) && usize::from(p.total_len()) <= data.len());
        let _ = (p.dscp_ecn(), p.ident(), p.dont_frag(), p.more_frags(), p.frag_offset(), p.is_fragment());
        let _ = (p.ttl(), p.protocol(), p.checksum(), p.src(), p.dst());
        assert_eq!(p.options().len(), hl - 20);
        assert_eq!(p.payload().len(), usize::from(p.total_len()) - hl);
        let ok = p.verify_checksum();
        match Ipv4Repr::parse(&p) {
            Ok(r) => {
                assert!(ok);
                let mut b = vec![0u8; 20 + usize::from(r.payload_len)];
                r.emit(&mut b);
                let q = Ipv4Packet::new_checked(&b[..]).unwrap();
                assert_eq!(Ipv4Repr::parse(&q), Ok(r), "parse(emit(repr)) == repr");
            }
            Err(e) => assert!(!ok && e == WireError::BadChecksum),
        }
        let mut c = data.to_vec();
        let mut q = Ipv4Packet::new_checked(&mut c[..]).unwrap();
        q.set_ttl_update(p.ttl().wrapping_sub(1));
        q.set_src_update(!p.src());
        q.set_dst_update(p.dst().rotate_left(7));
        assert_eq!(q.verify_checksum(), ok, "incremental updates keep (in)validity");
        q.fill_checksum();
        assert!(q.verify_checksum(), "fill_checksum verifies");
        q.payload_mut().fill(0xee);
        let _ = q.into_inner();
    }
    if let Ok(u) = UdpPacket::new_checked(data) {
        let l = usize::from(u.len_field());
        assert!(l >= 8 && l <= data.len());
        let _ = (u.src_port(), u.dst_port(), u.checksum());
        assert_eq!(u.payload().len(), l - 8);
        let (s, d, s2) = (0xc000_0201, 0xc633_6407, 0xcb00_7101);
        let ok = u.verify_checksum(s, d);
        let mut c = data.to_vec();
        let mut v = UdpPacket::new_checked(&mut c[..]).unwrap();
        v.set_src_port_update(u.dst_port());
        v.set_dst_port_update(u.src_port());
        v.update_for_addr(s, s2);
        if ok {
            assert!(v.verify_checksum(s2, d), "updates keep a valid UDP checksum valid");
        }
        assert_eq!(v.checksum() == 0, u.checksum() == 0, "updates never add or remove a UDP checksum");
        v.fill_checksum(s, d);
        assert!(v.checksum() != 0 && v.verify_checksum(s, d));
    }
    if let Ok(t) = TcpPacket::new_checked(data) {
        let hl = t.header_len();
        assert!(hl >= 20 && hl <= data.len());
        let _ = (t.src_port(), t.dst_port(), t.seq(), t.ack(), t.flags(), t.window(), t.checksum());
        assert_eq!(t.options().len() + t.payload().len() + 20, data.len());
        let (s, d, s2) = (0x0a00_0001, 0x0a00_0002, 0xc0a8_0001);
        let ok = t.verify_checksum(s, d);
        let mut c = data.to_vec();
        let mut v = TcpPacket::new_checked(&mut c[..]).unwrap();
        v.set_src_port_update(t.dst_port());
        v.set_dst_port_update(t.src_port());
        v.update_for_addr(s, s2);
        assert_eq!(v.verify_checksum(s2, d), ok, "incremental updates keep (in)validity");
        v.fill_checksum(s, d);
        assert_eq!(v.verify_checksum(s, d), data.len() <= 65535);
    }
    if let Ok(i) = Icmpv4Packet::new_checked(data) {
        let _ = (i.msg_type(), i.code(), i.checksum(), i.echo_ident(), i.echo_seq(), i.is_error());
        assert_eq!(i.data().len(), data.len() - 8);
        let ok = i.verify_checksum();
        let mut c = data.to_vec();
        let mut v = Icmpv4Packet::new_checked(&mut c[..]).unwrap();
        v.set_type_update(i.msg_type() ^ 8);
        v.set_echo_ident_update(!i.echo_ident());
        if ok {
            assert!(v.verify_checksum(), "incremental updates keep a valid checksum valid");
        }
        v.fill(icmpv4::kind::DEST_UNREACHABLE, icmpv4::unreach::FRAG_NEEDED, 1500);
        assert!(v.verify_checksum() && v.is_error());
    }
    if let Ok(a) = ArpPacket::new_checked(data) {
        let r = ArpRepr::parse(&a);
        assert!(r.operation == arp::OP_REQUEST || r.operation == arp::OP_REPLY);
        let mut b = [0u8; arp::PACKET_LEN];
        r.emit(&mut b);
        assert_eq!(&b[..], &data[..arp::PACKET_LEN], "emit(parse(x)) == x for a valid ARP packet");
        assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()), r);
    }
}

/// Our acceptance decisions compared with etherparse's on the same arbitrary bytes.
fn differential(data: &[u8]) {
    // IPv4 (etherparse additionally parses an AH extension after protocol 51: skip those).
    if data.len() < 10 || data[9] != 51 {
        let ours = Ipv4Packet::new_checked(data).map(|_| ());
        let theirs = ep::Ipv4Slice::from_slice(data);
        match (&ours, &theirs) {
            (Ok(()), Ok(_)) => {}
            (
                Err(WireError::BadVersion),
                Err(ep::err::ipv4::SliceError::Header(ep::err::ipv4::HeaderError::UnexpectedVersion { .. })),
            ) => {}
            (
                Err(WireError::BadHeaderLen),
                Err(ep::err::ipv4::SliceError::Header(ep::err::ipv4::HeaderError::HeaderLengthSmallerThanHeader {
                    ..
                })),
            ) => {}
            (Err(WireError::Truncated), Err(ep::err::ipv4::SliceError::Len(e)))
                if e.len_source == ep::LenSource::Slice => {}
            (Err(WireError::BadLength), Err(ep::err::ipv4::SliceError::Len(e)))
                if e.len_source == ep::LenSource::Ipv4HeaderTotalLen => {}
            _ => panic!("ipv4 disagreement on {data:02x?}: ours {ours:?}, etherparse {theirs:?}"),
        }
    }
    // UDP (etherparse accepts a length field of 0 as "use the IP length").
    if data.len() < 8 || be16(data, 4) != 0 {
        let ours = UdpPacket::new_checked(data).is_ok();
        let theirs = ep::UdpSlice::from_slice(data).is_ok();
        assert_eq!(ours, theirs, "udp disagreement on {data:02x?}");
        if let (Ok(u), Ok(e)) = (UdpPacket::new_checked(data), ep::UdpSlice::from_slice(data)) {
            assert_eq!(u.payload(), e.payload());
        }
    }
    // TCP
    {
        let ours = TcpPacket::new_checked(data);
        let theirs = ep::TcpSlice::from_slice(data);
        match (&ours, &theirs) {
            (Ok(t), Ok(e)) => {
                assert_eq!(
                    (t.header_len(), t.options(), t.payload(), t.flags()),
                    (e.header_len(), e.options(), e.payload(), tcp_flag_byte(e))
                );
            }
            (Err(WireError::BadHeaderLen), Err(ep::err::tcp::HeaderSliceError::Content(_))) => {}
            (Err(WireError::Truncated), Err(ep::err::tcp::HeaderSliceError::Len(_))) => {}
            _ => panic!("tcp disagreement on {data:02x?}: ours {:?}, etherparse {theirs:?}", ours.as_ref().err()),
        }
    }
    // ICMP (etherparse also insists timestamp messages are exactly 20 bytes).
    if data.len() < 2 || !matches!((data[0], data[1]), (13 | 14, 0)) {
        assert_eq!(Icmpv4Packet::new_checked(data).is_ok(), ep::Icmpv4Slice::from_slice(data).is_ok());
    }
    // ARP: ours accepts exactly Ethernet/IPv4 request/reply.
    {
        let ours = ArpPacket::new_checked(data).is_ok();
        let theirs = ep::ArpPacketSlice::from_slice(data)
            .ok()
            .and_then(|a| a.to_packet().try_eth_ipv4().ok())
            .is_some_and(|a| a.operation.0 == 1 || a.operation.0 == 2);
        assert_eq!(ours, theirs, "arp disagreement on {data:02x?}");
    }
    // L2: our tags equal what etherparse's slices read off the same offsets.
    if let Ok(eth) = ep::Ethernet2Slice::from_slice_without_fcs(data) {
        let mut et = eth.ether_type().0;
        let mut rest = eth.payload_slice();
        let mut tags = Vec::new();
        // The spec's TPIDs, spelled out rather than taken from `vlan::is_tpid`.
        let is_tpid = |t: u16| t == 0x8100 || t == 0x88a8;
        let reference = loop {
            if !is_tpid(et) {
                break Ok(());
            }
            if tags.len() == 2 {
                break Err(WireError::TooManyTags);
            }
            let Ok(v) = ep::SingleVlanSlice::from_slice(rest) else { break Err(WireError::Truncated) };
            tags.push(Tag {
                tpid: et,
                pcp: v.priority_code_point().value(),
                dei: v.drop_eligible_indicator(),
                vid: v.vlan_identifier().value(),
            });
            et = v.ether_type().0;
            rest = v.payload_slice();
        };
        match (L2Header::parse(data), reference) {
            (Ok(h), Ok(())) => {
                assert_eq!(h.tags(), &tags[..]);
                assert_eq!(h.ethertype, et);
                assert_eq!(h.l3_offset, offset_in(data, rest));
                assert_eq!((h.dst.0, h.src.0), (eth.destination(), eth.source()));
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("l2 disagreement on {data:02x?}: ours {a:?}, reference {b:?}"),
        }
    } else {
        assert_eq!(L2Header::parse(data), Err(WireError::Truncated));
    }
}

/// Bytes that get past the first checks more often than uniform noise does.
fn biased_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        vec(any::<u8>(), 0..160),
        0u8..8,
        any::<u8>(),
        any::<u16>(),
        vec(prop_oneof![Just(0x8100u16), Just(0x88a8u16), Just(0x9100u16), Just(0x0800u16), any::<u16>()], 0..4),
    )
        .prop_map(|(mut b, mode, ihl, len, tpids)| {
            match mode {
                // IPv4-looking
                0 | 1 if b.len() >= 4 => {
                    b[0] = 0x40 | (ihl & 0x0f);
                    let l = if mode == 0 { b.len() as u16 } else { len % (b.len() as u16 + 8) };
                    b[2..4].copy_from_slice(&l.to_be_bytes());
                }
                // UDP-looking length
                2 if b.len() >= 6 => {
                    let l = len % (b.len() as u16 + 4);
                    b[4..6].copy_from_slice(&l.to_be_bytes());
                }
                // TCP-looking data offset
                3 if b.len() >= 13 => b[12] = (ihl & 0xf0) | (b[12] & 0x0f),
                // ARP-looking
                4 if b.len() >= 8 => {
                    b[..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
                    b[6] = 0;
                    b[7] = ihl % 4;
                }
                // a stack of TPIDs after the MACs
                5 | 6 => {
                    for (i, t) in tpids.iter().enumerate() {
                        let at = 12 + 4 * i;
                        if b.len() >= at + 2 {
                            b[at..at + 2].copy_from_slice(&t.to_be_bytes());
                        }
                    }
                }
                _ => {}
            }
            b
        })
}

proptest! {
    #![proptest_config(config(4096))]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop_oneof![vec(any::<u8>(), 0..128), biased_bytes()]) {
        exercise(&data);
        differential(&data);
    }
}

#[test]
fn every_short_buffer_and_huge_buffer() {
    // All buffers of 0..=64 bytes of a few fill patterns, and a buffer past 64 KiB.
    for fill in [0x00u8, 0x45, 0xff, 0x81] {
        for n in 0..=64 {
            let b = vec![fill; n];
            exercise(&b);
            differential(&b);
        }
    }
    let mut big = vec![0u8; 70_000];
    big[0] = 0x45;
    big[2..4].copy_from_slice(&0xffffu16.to_be_bytes());
    big[4..6].copy_from_slice(&0xffffu16.to_be_bytes());
    big[12] = 0x50;
    exercise(&big);
    differential(&big);
}

/// Real captures, so the generated frames are not the only evidence: the RFC-style bytes from
/// our unit tests plus a QinQ frame, cross-read by etherparse.
#[test]
fn fixed_frames_read_the_same() {
    // 802.1ad S-tag 100 / 802.1Q C-tag 10 / IPv4 192.0.2.1 -> 198.51.100.7 UDP 12345 -> 53.
    let mut spec_frame = Vec::new();
    ep::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .double_vlan(ep::VlanId::try_new(100).unwrap(), ep::VlanId::try_new(10).unwrap())
        .ipv4([192, 0, 2, 1], [198, 51, 100, 7], 64)
        .udp(12345, 53)
        .write(&mut spec_frame, b"abcd")
        .unwrap();
    assert_eq!(&spec_frame[12..14], &[0x88, 0xa8]);
    assert_eq!(&spec_frame[16..18], &[0x81, 0x00]);
    let h = L2Header::parse(&spec_frame).unwrap();
    assert_eq!(h.tags(), &[Tag::s(100), Tag::c(10)]);
    assert_eq!((h.ethertype, h.l3_offset), (EtherType::IPV4, 22));
    let p = Ipv4Packet::new_checked(&spec_frame[22..]).unwrap();
    assert!(p.verify_checksum());
    let u = UdpPacket::new_checked(p.payload()).unwrap();
    assert_eq!((u.src_port(), u.dst_port(), u.payload()), (12345, 53, &b"abcd"[..]));
    assert!(u.verify_checksum(p.src(), p.dst()));
}
