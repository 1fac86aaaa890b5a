//! The gateway as RFC 1812 routers must be: martian sources, reverse-path checks, the
//! egress MTU (bridged frames dropped, routed packets answered with fragmentation needed or
//! fragmented), byte-exact on VecBufs.

use super::tests::{eth, icmp_error, tx, udp_payload, Action, Rig};
use super::*;
use crate::config::Config;
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::vlan::Tag;
use crate::wire::EtherType;

/// Port b0 (VLAN 20, where the route to 203.0.113.0/24 leads) has a 1280-byte MTU; R is
/// behind it, known statically.
const CFG: &str = r#"
[[port]]
name = "a0"
devargs = "net_null0"
mode = "access"
vlan = 10
[[port]]
name = "a1"
devargs = "net_null1"
mode = "access"
vlan = 10
[[port]]
name = "b0"
devargs = "net_null2"
mode = "access"
vlan = 20
mtu = 1280
[[port]]
name = "t"
devargs = "net_null3"
mode = "trunk"
allowed_vlans = [10, 20]
[[bridge]]
name = "v10"
vlan = 10
gateway = "192.0.2.254/24"
[[bridge]]
name = "v20"
vlan = 20
gateway = "198.51.100.1/24"
[[bridge.static_mac]]
mac = "02:00:00:00:00:77"
port = "b0"
[[bridge.neighbor]]
ip = "198.51.100.7"
mac = "02:00:00:00:00:77"
[[route]]
prefix = "203.0.113.0/24"
via = "198.51.100.7"
"#;

const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa1]);
const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb1]);
const R: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x77]);
const GW10: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 10]);
const GW20: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 20]);
const IP_A: u32 = 0xc000_0201; // 192.0.2.1
const IP_GW10: u32 = 0xc000_02fe; // 192.0.2.254
const FAR: u32 = 0xcb00_7109; // 203.0.113.9, routed via R

fn rig(cfg: &str) -> Rig {
    Rig::with_config(cfg, 1000)
}

/// An IPv4 packet of `len` bytes (header `opts` included) with DF `df`, MF `mf` and
/// fragment offset `off`, its payload a counting pattern.
fn packet(src: u32, dst: u32, len: usize, df: bool, opts: &[u8], mf: bool, off: u16) -> Vec<u8> {
    let hl = 20 + opts.len();
    let mut b = vec![0u8; 20];
    Ipv4Repr { src, dst, protocol: 17, payload_len: 0, ttl: 64, dscp_ecn: 0, ident: 0x5151, dont_frag: df }
        .emit(&mut b);
    b.extend_from_slice(opts);
    b.extend((0..len - hl).map(|i| (i * 7) as u8));
    let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
    ip.set_header_len(hl);
    ip.set_total_len(len as u16);
    if !df {
        ip.set_frag(off, mf);
    }
    ip.fill_checksum();
    b
}

/// The fragment a router makes of `orig` (TTL decremented): header `hdr` (the original's
/// fixed 20 bytes plus the options it keeps), payload bytes `from..to`, MF `more`.
fn fragment(orig: &[u8], opts: &[u8], from: usize, to: usize, off: u16, more: bool) -> Vec<u8> {
    let hl = usize::from(orig[0] & 0x0f) * 4;
    let mut b = orig[..20].to_vec();
    b.extend_from_slice(opts);
    b.extend_from_slice(&orig[hl + from..hl + to]);
    let len = b.len();
    let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
    ip.set_header_len(20 + opts.len());
    ip.set_total_len(len as u16);
    ip.set_frag(off, more);
    b[8] -= 1;
    Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
    b
}

#[test]
fn martian_sources_are_dropped_and_counted() {
    // RFC 1812 5.3.7: this network, loopback, multicast, class E, limited broadcast, and the
    // ingress subnet's broadcast address never appear as a source that is routed.
    let mut r = rig(CFG);
    let srcs = [0x0000_0001, 0x7f00_0001, 0xe000_0005, 0xffff_ffff, 0xf000_0001, 0xc000_02ff];
    for s in srcs {
        let f = eth(GW10, A, &[], EtherType::IPV4, &packet(s, FAR, 60, true, &[], false, 0));
        assert_eq!(r.run(0, &f), vec![(f, Action::Drop(DropReason::MartianSource))], "{s:#x}");
    }
    // to a gateway address as well (ping from 127.0.0.1)
    let f = eth(GW10, A, &[], EtherType::IPV4, &packet(0x7f00_0001, IP_GW10, 60, true, &[], false, 0));
    assert_eq!(r.run(0, &f)[0].1, Action::Drop(DropReason::MartianSource));
    assert_eq!(r.drops(), vec![("martian-source", 7)]);
    // a real host's packet is routed
    let f = eth(GW10, A, &[], EtherType::IPV4, &packet(IP_A, FAR, 60, true, &[], false, 0));
    assert_eq!(r.run(0, &f)[0].1, Action::Tx(2));
}

#[test]
fn reverse_path_checks_refuse_sources_without_a_route_back() {
    let from = |src: u32| eth(GW10, A, &[], EtherType::IPV4, &packet(src, FAR, 60, true, &[], false, 0));
    // strict: the route back to the source must lead into v10 (RFC 3704 2.2)
    let strict = CFG.replacen("gateway = \"192.0.2.254/24\"", "gateway = \"192.0.2.254/24\"\nurpf = \"strict\"", 1);
    let mut r = rig(&strict);
    assert_eq!(r.run(0, &from(IP_A))[0].1, Action::Tx(2));
    assert_eq!(r.run(0, &from(0xcb00_7105))[0].1, Action::Drop(DropReason::UrpfFailed), "route back leads into v20");
    assert_eq!(r.run(0, &from(0x0808_0808))[0].1, Action::Drop(DropReason::UrpfFailed), "no route back");
    // loose: some route back is enough (RFC 3704 2.4)
    let mut r = rig(&strict.replace("\"strict\"", "\"loose\""));
    assert_eq!(r.run(0, &from(0xcb00_7105))[0].1, Action::Tx(2));
    assert_eq!(r.run(0, &from(0x0808_0808))[0].1, Action::Drop(DropReason::UrpfFailed));
    // v20 has no check
    let f = eth(GW20, R, &[], EtherType::IPV4, &packet(0x0808_0808, IP_A, 60, true, &[], false, 0));
    assert!(matches!(r.run(2, &f)[0].1, Action::Tx(_) | Action::Drop(DropReason::FloodEmpty)));
    // a bad value names the key
    let e = Config::parse(&strict.replace("\"strict\"", "\"tight\""), None).unwrap_err();
    assert_eq!(e.key, "bridge[0].urpf", "{e}");
}

#[test]
fn bridged_frames_larger_than_the_egress_mtu_are_dropped() {
    let mut r = rig(CFG);
    // B behind b0 (MTU 1280), heard from once
    r.run(2, &eth(MacAddr::BROADCAST, B, &[], 0x88b5, &[0; 46]));
    // from the trunk in VLAN 20: 1280 bytes after the Ethernet header fit, 1281 do not
    let fits = eth(B, A, &[Tag::c(20)], 0x88b5, &vec![1; 1280]);
    assert_eq!(tx(&r.run(3, &fits)), vec![(2, eth(B, A, &[], 0x88b5, &vec![1; 1280]))]);
    let big = eth(B, A, &[Tag::c(20)], 0x88b5, &vec![1; 1281]);
    assert_eq!(r.run(3, &big), vec![(big.clone(), Action::Drop(DropReason::MtuExceeded))]);
    assert_eq!(r.drops(), vec![("mtu-exceeded", 1)]);
}

#[test]
fn routed_packets_with_df_above_the_mtu_get_frag_needed_with_it() {
    // RFC 1191 4: the next-hop MTU in the ICMP error, the quoted header as received
    let mut r = rig(CFG);
    let orig = packet(IP_A, FAR, 1281, true, &[], false, 0);
    let out = tx(&r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &orig)));
    assert_eq!(out, vec![(0, eth(A, GW10, &[], EtherType::IPV4, &icmp_error(IP_GW10, IP_A, 3, 4, 1280, &orig)))]);
    assert_eq!(r.drops(), vec![("frag-needed", 1)]);
    // 1280 fits
    let orig = packet(IP_A, FAR, 1280, true, &[], false, 0);
    assert_eq!(r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &orig))[0].1, Action::Tx(2));
}

#[test]
fn routed_packets_without_df_are_fragmented_byte_exact() {
    let mut r = rig(CFG);
    let orig = packet(IP_A, FAR, 2000, false, &[], false, 0);
    let out = tx(&r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &orig)));
    // 1980 bytes of payload: 1256 (1280 - 20, down to a multiple of 8), then 724
    let want = [fragment(&orig, &[], 0, 1256, 0, true), fragment(&orig, &[], 1256, 1980, 1256, false)];
    let want: Vec<(u16, Vec<u8>)> = want.iter().map(|f| (2, eth(R, GW20, &[], EtherType::IPV4, f))).collect();
    assert_eq!(out, want);
    assert!(out.iter().all(|(_, f)| Ipv4Packet::new_checked(&f[14..]).unwrap().verify_checksum()));
    assert!(r.events().contains(&("fragmented", 1)) && r.events().contains(&("fragments-sent", 2)));

    // a fragment is fragmented again: offsets continue from its own, the last keeps MF
    let orig = packet(IP_A, FAR, 1300, false, &[], true, 800);
    let out = tx(&r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &orig)));
    let want = [fragment(&orig, &[], 0, 1256, 800, true), fragment(&orig, &[], 1256, 1280, 800 + 1256, true)];
    assert_eq!(out, want.iter().map(|f| (2, eth(R, GW20, &[], EtherType::IPV4, f))).collect::<Vec<_>>());

    // options: the first fragment keeps all, the others only those with the copied flag
    // (NOP and record route are not copied; loose source route is), padded to 4 bytes
    let opts = [1, 7, 3, 4, 0x83, 7, 4, 192, 0, 2, 9, 0];
    let orig = packet(IP_A, FAR, 1500, false, &opts, false, 0);
    let out = tx(&r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &orig)));
    // 1468 bytes of payload: (1280 - 32) & !7 = 1248 in the first, then 220 behind 28 bytes
    let lsrr = [0x83, 7, 4, 192, 0, 2, 9, 0];
    let want = [fragment(&orig, &opts, 0, 1248, 0, true), fragment(&orig, &lsrr, 1248, 1468, 1248, false)];
    assert_eq!(out, want.iter().map(|f| (2, eth(R, GW20, &[], EtherType::IPV4, f))).collect::<Vec<_>>());
}

#[test]
fn fragments_that_find_no_buffer_drop_the_whole_datagram() {
    use crate::buf::{BufAlloc, VecBuf};
    /// A pool with nothing in it.
    struct Empty;
    impl BufAlloc for Empty {
        type Buf = VecBuf;
        fn alloc(&self) -> Option<VecBuf> {
            None
        }
    }
    let mut r = rig(CFG);
    let orig = eth(GW10, A, &[], EtherType::IPV4, &packet(IP_A, FAR, 2000, false, &[], false, 0));
    r.st.rx(&r.t, 0, VecBuf::with_room(&orig, VecBuf::DEFAULT_HEADROOM, 0));
    let mut out = super::tests::Collect::default();
    r.st.run(&r.t, &Empty, &r.c, r.now, &mut out);
    assert_eq!(out.0.len(), 1);
    assert_eq!(out.0[0].1, Action::Drop(DropReason::NoMbuf));
    assert_eq!(r.drops(), vec![("no-mbuf", 2)], "the fragment that could not be had, and the datagram");
}

#[test]
fn udp_and_tcp_to_a_gateway_are_refused_as_a_host_would() {
    let mut r = rig(CFG);
    let orig = super::tests::ipv4(IP_A, IP_GW10, 17, 64, &udp_payload());
    let out = tx(&r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &orig)));
    assert_eq!(out, vec![(0, eth(A, GW10, &[], EtherType::IPV4, &icmp_error(IP_GW10, IP_A, 3, 3, 0, &orig)))]);
    // TCP with ACK: a RST with the acknowledged sequence number (RFC 9293 3.10.7.1)
    let mut seg = vec![0u8; 20];
    seg[0..4].copy_from_slice(&[0x9c, 0x40, 0, 80]);
    seg[8..12].copy_from_slice(&7777u32.to_be_bytes());
    seg[12] = 0x50;
    seg[13] = 0x10;
    let out = tx(&r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &super::tests::ipv4(IP_A, IP_GW10, 6, 64, &seg))));
    assert_eq!(out.len(), 1);
    let f = &out[0].1;
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.protocol()), (IP_GW10, IP_A, 6));
    assert_eq!(&f[34..38], &[0, 80, 0x9c, 0x40]);
    assert_eq!(u32::from_be_bytes([f[38], f[39], f[40], f[41]]), 7777, "seq = the segment's ack");
    assert_eq!(f[47], 0x04, "RST");
    // a RST is never answered
    seg[13] = 0x04;
    let rst = eth(GW10, A, &[], EtherType::IPV4, &super::tests::ipv4(IP_A, IP_GW10, 6, 64, &seg));
    assert_eq!(r.run(0, &rst), vec![(rst.clone(), Action::Drop(DropReason::LocalTcpReset))]);
    assert_eq!(r.drops(), vec![("port-unreachable", 1), ("local-tcp-reset", 2)]);
}

/// The fragments of `dg` at `offsets` (each running to the next offset, the last to the end).
pub(super) fn pieces(dg: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &dg[20..];
    let mut out = vec![];
    for (k, &at) in cuts.iter().enumerate() {
        let end = cuts.get(k + 1).copied().unwrap_or(payload.len());
        let mut b = dg[..20].to_vec();
        b.extend_from_slice(&payload[at..end]);
        let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
        ip.set_total_len((20 + end - at) as u16);
        ip.set_frag(at as u16, end < payload.len());
        ip.fill_checksum();
        out.push(b);
    }
    out
}

#[test]
fn a_fragmented_ping_to_the_gateway_is_reassembled_and_answered_in_fragments() {
    // ping -s 3000: 3008 bytes of ICMP, in three fragments, arriving out of order
    let mut r = rig(CFG);
    let data: Vec<u8> = (0..3000).map(|i| (i % 251) as u8).collect();
    let req = super::tests::ipv4(IP_A, IP_GW10, 1, 64, &super::tests::echo(8, 0x1234, 9, &data));
    let frags = pieces(&req, &[0, 1480, 2960]);
    for k in [2, 0] {
        let f = eth(GW10, A, &[], EtherType::IPV4, &frags[k]);
        assert_eq!(r.run(0, &f), vec![(f, Action::Consumed)], "fragment {k} kept");
    }
    let out = r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &frags[1]));
    assert_eq!(out[0].1, Action::Consumed, "the last fragment, kept; then the reply");
    let out = tx(&out[1..]);
    // the reply: same identification and data, from the gateway, TTL 64, cut to v10's 1500
    let mut reply = super::tests::ipv4(IP_GW10, IP_A, 1, 64, &super::tests::echo(0, 0x1234, 9, &data));
    reply[6] = 0; // a reply made of fragments carries no DF
    Ipv4Packet::new_unchecked(&mut reply[..]).fill_checksum();
    let want: Vec<(u16, Vec<u8>)> =
        pieces(&reply, &[0, 1480, 2960]).iter().map(|p| (0, eth(A, GW10, &[], EtherType::IPV4, p))).collect();
    assert_eq!(out, want);
    assert!(r.events().contains(&("reassembled", 1)) && r.events().contains(&("fragment-kept", 3)));
    assert!(r.st.reass.is_empty());
}

#[test]
fn reassembly_times_out_with_time_exceeded_and_drops_what_no_service_takes() {
    let mut r = rig(CFG);
    let data = vec![7u8; 2000];
    let req = super::tests::ipv4(IP_A, IP_GW10, 1, 64, &super::tests::echo(8, 1, 1, &data));
    let frags = pieces(&req, &[0, 1480]);
    let f = eth(GW10, A, &[], EtherType::IPV4, &frags[0]);
    assert_eq!(r.run(0, &f)[0].1, Action::Consumed);
    assert!(r.tick(29_000).is_empty(), "still waiting at 29 s");
    let out = tx(&r.tick(1_000));
    // RFC 1122 3.3.2: time exceeded, fragment reassembly (code 1), quoting fragment zero
    let want = icmp_error(IP_GW10, IP_A, 11, 1, 0, &frags[0][..28]);
    assert_eq!(out, vec![(0, eth(A, GW10, &[], EtherType::IPV4, &want))]);
    assert!(r.drops().contains(&("reass-timeout", 1)));
    // a later fragment alone times out silently (nothing to quote)
    let f = eth(GW10, A, &[], EtherType::IPV4, &frags[1]);
    assert_eq!(r.run(0, &f)[0].1, Action::Consumed);
    assert!(r.tick(31_000).is_empty());
    assert!(r.drops().contains(&("reass-timeout", 2)));
    // overlapping fragments discard the datagram
    let f = eth(GW10, A, &[], EtherType::IPV4, &frags[0]);
    r.run(0, &f);
    assert_eq!(r.run(0, &f)[0].1, Action::Drop(DropReason::ReassOverlap));
    assert!(r.st.reass.is_empty());
    // a complete UDP datagram to the gateway: nothing serves it
    let udp = super::tests::ipv4(IP_A, IP_GW10, 17, 64, &[0u8; 1600]);
    for p in pieces(&udp, &[0, 1480]) {
        r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &p));
    }
    assert!(r.drops().contains(&("local-unhandled", 1)));
    // reassembly off: fragments to the gateway are dropped
    let mut r = rig(&format!("{CFG}[routing]\nreassembly_contexts = 0\n"));
    let f = eth(GW10, A, &[], EtherType::IPV4, &frags[0]);
    assert_eq!(r.run(0, &f)[0].1, Action::Drop(DropReason::LocalUnhandled));
}
