//! VXLAN in the switch stage: encapsulation, decapsulation, head-end replication, split
//! horizon, underlay ARP and the RFC 7348 checks, byte exact on VecBuf.

use super::tests::{echo, eth, icmp_error, ipv4, tx, Action, Rig};
use super::*;
use crate::wire::arp::ArpRepr;
use crate::wire::checksum;
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::udp::UdpPacket;
use crate::wire::vxlan;
use crate::wire::EtherType;

const CFG: &str = r#"
[[port]]
name = "u"
devargs = "net_null0"
[[port]]
name = "a"
devargs = "net_null1"
mode = "access"
vlan = 10
[[port]]
name = "t"
devargs = "net_null2"
mode = "trunk"
allowed_vlans = [10]
[vtep]
underlay = "u"
address = "203.0.113.1/24"
mtu = 1500
[[vtep.neighbor]]
ip = "203.0.113.2"
mac = "02:00:00:00:0e:02"
[[bridge]]
name = "v10"
vlan = 10
vni = 5010
remote_vteps = ["203.0.113.2", "203.0.113.3"]
[[bridge.remote_mac]]
mac = "02:00:00:00:00:b2"
vtep = "203.0.113.2"
"#;

const VTEP_MAC: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0xff, 0xfe]);
const R2_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0e, 2]);
const R3_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0e, 3]);
const LOCAL: u32 = 0xcb00_7101;
const R2: u32 = 0xcb00_7102;
const R3: u32 = 0xcb00_7103;
const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa1]);
const B2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb2]);
const X: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc3]);

/// The switch rig of the VLAN tests, on this file's config.
fn rig(cfg: &str) -> Rig {
    Rig::with_config(cfg, 5)
}

fn inner(dst: MacAddr, src: MacAddr, n: usize) -> Vec<u8> {
    let mut f = vec![];
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x88, 0xb5]); // local experimental EtherType
    f.extend((0..n).map(|i| i as u8));
    f
}

/// The encapsulation vnfd must produce (ident and source port given).
// A test fixture spelling out every field of the outer headers it builds.
#[allow(clippy::too_many_arguments)]
fn encap(inner: &[u8], src: u32, dst: u32, smac: MacAddr, dmac: MacAddr, ident: u16, sport: u16, vni: u32) -> Vec<u8> {
    let mut f = vec![];
    f.extend_from_slice(&dmac.0);
    f.extend_from_slice(&smac.0);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 20];
    let udp_len = (8 + 8 + inner.len()) as u16;
    Ipv4Repr { src, dst, protocol: 17, payload_len: udp_len, ttl: 64, dscp_ecn: 0, ident, dont_frag: true }
        .emit(&mut ip);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&4789u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    let mut vx = [0u8; 8];
    vxlan::emit(&mut vx, vni);
    f.extend_from_slice(&vx);
    f.extend_from_slice(inner);
    f
}

fn sport(inner: &[u8]) -> u16 {
    49152 | (flow_hash(inner) & 0x3fff) as u16
}

#[test]
fn unicast_to_a_remote_mac_is_encapsulated_byte_exact() {
    let mut r = rig(CFG);
    let f = inner(B2, A, 46);
    let out = r.run(1, &f);
    assert_eq!(out, vec![(encap(&f, LOCAL, R2, VTEP_MAC, R2_MAC, 1, sport(&f), 5010), Action::Tx(0))]);
    // tagged on the trunk: the tag is removed before encapsulation
    let mut tagged = f[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
    tagged.extend_from_slice(&f[12..]);
    let out = r.run(2, &tagged);
    assert_eq!(out, vec![(encap(&f, LOCAL, R2, VTEP_MAC, R2_MAC, 2, sport(&f), 5010), Action::Tx(0))]);
    let sp = sport(&f);
    assert!(sp >= 49152);
}

#[test]
fn broadcast_is_replicated_to_each_remote_vtep_and_local_ports() {
    let mut r = rig(CFG);
    let f = inner(MacAddr::BROADCAST, A, 46);
    let out = r.run(1, &f);
    // local trunk copy (tagged), R2 encapsulated (static neighbour), R3 waits for ARP
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0].1, Action::Tx(2));
    assert_eq!(out[1], (encap(&f, LOCAL, R2, VTEP_MAC, R2_MAC, 1, sport(&f), 5010), Action::Tx(0)));
    let mut arp_req = vec![0u8; 60];
    arp_req[..6].copy_from_slice(&[0xff; 6]);
    arp_req[6..12].copy_from_slice(&VTEP_MAC.0);
    arp_req[12..14].copy_from_slice(&[0x08, 0x06]);
    ArpRepr { operation: 1, sender_mac: VTEP_MAC, sender_ip: LOCAL, target_mac: MacAddr::default(), target_ip: R3 }
        .emit(&mut arp_req[14..42]);
    assert_eq!(out[2], (arp_req, Action::Tx(0)));
    // what waits for ARP is not counted as encapsulated (only what left is)
    let snap = r.c.snapshot();
    assert_eq!(snap.vteps, vec![(1, 0), (0, 0)], "R3's copy has not left yet");
    assert!(snap.named_events().contains(&("vxlan-encap", 1)));
    // R3 answers on the underlay: the queued copy leaves, and the reply is consumed
    let mut reply = vec![];
    reply.extend_from_slice(&VTEP_MAC.0);
    reply.extend_from_slice(&R3_MAC.0);
    reply.extend_from_slice(&[0x08, 0x06]);
    let mut a = [0u8; 28];
    ArpRepr { operation: 2, sender_mac: R3_MAC, sender_ip: R3, target_mac: VTEP_MAC, target_ip: LOCAL }.emit(&mut a);
    reply.extend_from_slice(&a);
    let out = r.run(0, &reply);
    assert_eq!(out[1], (encap(&f, LOCAL, R3, VTEP_MAC, R3_MAC, 2, sport(&f), 5010), Action::Tx(0)));
    assert_eq!(out[0].1, Action::Consumed, "the reply reaches its output before the packet it released");
    let snap = r.c.snapshot();
    let ev = snap.named_events();
    assert!(ev.contains(&("vxlan-replicated", 2)) && ev.contains(&("vxlan-encap", 2)), "{ev:?}");
    assert_eq!(snap.domains, vec![(2, 0)], "per VNI: two encapsulated");
    assert_eq!(snap.vteps, vec![(1, 0), (1, 0)], "per remote VTEP (sorted): one each");
}

#[test]
fn decapsulation_learns_the_remote_and_never_floods_back() {
    let mut r = rig(CFG);
    // A is learned on port a first
    r.run(1, &inner(B2, A, 46));
    // X behind R3 sends to A: decapsulated, out of port a only, untagged, byte exact
    let i = inner(A, X, 46);
    let pkt = encap(&i, R3, LOCAL, R3_MAC, VTEP_MAC, 77, 50000, 5010);
    let out = r.run(0, &pkt);
    assert_eq!(out, vec![(i.clone(), Action::Tx(1))]);
    // X was learned behind R3: A's reply is encapsulated to R3 (ARP first)
    let out = r.run(1, &inner(X, A, 46));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0[12..14], [0x08, 0x06], "ARP for R3's MAC");
    // a broadcast from the overlay goes to local ports only (split horizon)
    let bc = encap(&inner(MacAddr::BROADCAST, X, 46), R3, LOCAL, R3_MAC, VTEP_MAC, 78, 50000, 5010);
    let out = r.run(0, &bc);
    assert_eq!(out.iter().map(|(_, a)| *a).collect::<Vec<_>>(), vec![Action::Tx(1), Action::Tx(2)]);
    // and a unicast to a MAC that is itself behind the overlay is dropped
    let uc = encap(&inner(B2, X, 46), R3, LOCAL, R3_MAC, VTEP_MAC, 79, 50000, 5010);
    assert_eq!(r.run(0, &uc)[0].1, Action::Drop(DropReason::VxlanSplitHorizon));
    let snap = r.c.snapshot();
    assert_eq!(snap.vteps[1].1, 3, "three decapsulated from R3");
    // a non-zero UDP checksum is verified: right is accepted
    let mut ok = encap(&inner(A, X, 46), R3, LOCAL, R3_MAC, VTEP_MAC, 80, 50000, 5010);
    UdpPacket::new_checked(&mut ok[34..]).unwrap().fill_checksum(R3, LOCAL);
    assert_eq!(r.run(0, &ok)[0].1, Action::Tx(1));
}

#[test]
fn the_vtep_address_answers_ping_and_refuses_udp_and_tcp() {
    // RFC 1122 3.2.2.6: every address of a host answers echo; the VTEP's too.
    let mut r = rig(CFG);
    let req = ipv4(R3, LOCAL, 1, 64, &echo(8, 0x99, 1, b"vtep"));
    let out = tx(&r.run(0, &eth(VTEP_MAC, R3_MAC, &[], EtherType::IPV4, &req)));
    let mut reply = ipv4(LOCAL, R3, 1, 64, &echo(0, 0x99, 1, b"vtep"));
    reply[8] = 64;
    assert_eq!(out, vec![(0, eth(R3_MAC, VTEP_MAC, &[], EtherType::IPV4, &reply))]);
    assert!(r.events().contains(&("echo-reply-sent", 1)));
    // TCP SYN to the VTEP address: RST|ACK acknowledging the SYN, from the VTEP
    let mut syn = vec![0u8; 20];
    syn[0..2].copy_from_slice(&40000u16.to_be_bytes());
    syn[2..4].copy_from_slice(&22u16.to_be_bytes());
    syn[4..8].copy_from_slice(&1000u32.to_be_bytes());
    syn[12] = 0x50;
    syn[13] = 0x02;
    let out = tx(&r.run(0, &eth(VTEP_MAC, R3_MAC, &[], EtherType::IPV4, &ipv4(R3, LOCAL, 6, 64, &syn))));
    assert_eq!(out.len(), 1);
    let (port, f) = &out[0];
    assert_eq!((*port, &f[..12]), (0, &[R3_MAC.0, VTEP_MAC.0].concat()[..]));
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.protocol(), ip.total_len()), (LOCAL, R3, 6, 40));
    let t = &f[34..54];
    assert_eq!(&t[0..4], &[0, 22, 0x9c, 0x40], "from port 22 back to 40000");
    assert_eq!(u32::from_be_bytes([t[8], t[9], t[10], t[11]]), 1001, "acknowledges the SYN");
    assert_eq!(t[13], 0x14, "RST|ACK");
    assert!(r.drops().contains(&("local-tcp-reset", 1)));
}

#[test]
fn rfc7348_checks_drop_with_named_reasons() {
    let mut r = rig(CFG);
    let i = inner(A, X, 46);
    let good = encap(&i, R3, LOCAL, R3_MAC, VTEP_MAC, 1, 50000, 5010);
    let mut no_i = good.clone();
    no_i[42] = 0;
    let unknown_vni = encap(&i, R3, LOCAL, R3_MAC, VTEP_MAC, 1, 50000, 5011);
    let stranger = encap(&i, 0xcb00_7109, LOCAL, R3_MAC, VTEP_MAC, 1, 50000, 5010);
    let mut bad_udp = good.clone();
    bad_udp[40] = 0x12;
    bad_udp[41] = 0x34;
    let mut tagged_inner = i[..12].to_vec();
    tagged_inner.extend_from_slice(&[0x81, 0, 0, 10]);
    tagged_inner.extend_from_slice(&i[12..]);
    let tagged = encap(&tagged_inner, R3, LOCAL, R3_MAC, VTEP_MAC, 1, 50000, 5010);
    let mut other_port = good.clone();
    other_port[36..38].copy_from_slice(&4790u16.to_be_bytes());
    let mut bad_ipsum = good.clone();
    bad_ipsum[24] ^= 0xff;
    let cases = [
        (no_i, DropReason::VxlanBadFlags),
        (unknown_vni, DropReason::VxlanUnknownVni),
        (stranger, DropReason::VxlanUnknownVtep),
        (bad_udp, DropReason::VxlanBadChecksum),
        (tagged, DropReason::VxlanInnerTagged),
        (bad_ipsum, DropReason::Ipv4BadChecksum),
    ];
    for (f, why) in cases {
        let out = r.run(0, &f);
        assert_eq!(out.len(), 1, "{why:?}");
        assert_eq!(out[0].1, Action::Drop(why));
    }
    // UDP to another port of the VTEP address: port unreachable from the VTEP
    let out = tx(&r.run(0, &other_port));
    let expect = eth(R3_MAC, VTEP_MAC, &[], EtherType::IPV4, &icmp_error(LOCAL, R3, 3, 3, 0, &other_port[14..]));
    assert_eq!(out, vec![(0, expect)]);
    // reserved bits are ignored
    let mut reserved = good.clone();
    reserved[42] = 0xff;
    reserved[43] = 0xff;
    reserved[49] = 0xff;
    assert_eq!(r.run(0, &reserved)[0].1, Action::Tx(1), "A is unknown: flooded, first copy to port a");
    // source check off: any source is accepted
    let mut r = rig(&CFG.replace("mtu = 1500", "mtu = 1500\ncheck_source = false"));
    let stranger = encap(&i, 0xcb00_7109, LOCAL, R3_MAC, VTEP_MAC, 1, 50000, 5010);
    assert!(matches!(r.run(0, &stranger)[0].1, Action::Tx(_)));
}

#[test]
fn oversize_frames_are_dropped_not_fragmented() {
    let mut r = rig(CFG);
    // underlay MTU 1500: outer IP = inner frame + 36, so the inner frame may be 1464 bytes
    // (a tenant IP MTU of 1450)
    let fits = inner(B2, A, 1464 - 14);
    assert_eq!(r.run(1, &fits)[0].1, Action::Tx(0));
    assert_eq!(r.run(1, &fits)[0].0.len(), 1464 + 50);
    let big = inner(B2, A, 1465 - 14);
    assert_eq!(r.run(1, &big)[0].1, Action::Drop(DropReason::VxlanMtuExceeded));
}

#[test]
fn underlay_arp_for_the_vtep_is_answered() {
    let mut r = rig(CFG);
    let mut req = vec![0xff; 6];
    req.extend_from_slice(&R3_MAC.0);
    req.extend_from_slice(&[0x08, 0x06]);
    let mut a = [0u8; 28];
    ArpRepr { operation: 1, sender_mac: R3_MAC, sender_ip: R3, target_mac: MacAddr::default(), target_ip: LOCAL }
        .emit(&mut a);
    req.extend_from_slice(&a);
    let out = r.run(0, &req);
    let mut reply = vec![0u8; 60];
    reply[..6].copy_from_slice(&R3_MAC.0);
    reply[6..12].copy_from_slice(&VTEP_MAC.0);
    reply[12..14].copy_from_slice(&[0x08, 0x06]);
    ArpRepr { operation: 2, sender_mac: VTEP_MAC, sender_ip: LOCAL, target_mac: R3_MAC, target_ip: R3 }
        .emit(&mut reply[14..42]);
    assert_eq!(out, vec![(reply, Action::Tx(0)), (req.clone(), Action::Consumed)]);
    // the requester is now a known neighbour: no ARP before encapsulating to it
    let i = inner(MacAddr::BROADCAST, A, 46);
    let out = r.run(1, &i);
    assert!(out.iter().filter(|(f, _)| f[12..14] == [0x08, 0x06]).count() == 0, "{out:?}");
    assert_eq!(checksum::checksum(&out[2].0[14..34]), 0);
    // ARP for somebody else on the underlay is not ours
    let mut other = req.clone();
    other[38..42].copy_from_slice(&0xcb00_7164u32.to_be_bytes());
    assert_eq!(r.run(0, &other), vec![(other.clone(), Action::Drop(DropReason::UnderlayNotOurs))]);
}

#[test]
fn routed_into_the_overlay_too_big_with_df_gets_frag_needed() {
    // VLAN 20 routed to VLAN 10, whose bridge is stretched over VXLAN
    let cfg = CFG
        .replace("[vtep]", "[[port]]\nname = \"b\"\ndevargs = \"net_null3\"\nmode = \"access\"\nvlan = 20\n[vtep]")
        .replace("vni = 5010", "vni = 5010\ngateway = \"198.51.100.254/24\"")
        + "[[bridge]]\nname = \"v20\"\nvlan = 20\ngateway = \"198.18.0.1/24\"\n";
    // the routed destination 198.51.100.7 is B2, behind remote VTEP R2
    let cfg = cfg.replace("[[bridge.remote_mac]]\nmac = \"02:00:00:00:00:b2\"", "[[bridge.neighbor]]\nip = \"198.51.100.7\"\nmac = \"02:00:00:00:00:b2\"\n[[bridge.remote_mac]]\nmac = \"02:00:00:00:00:b2\"");
    let mut r = rig(&cfg);
    let gw20 = MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 20]);
    let mk = |len: usize, df: bool| {
        let mut ip = vec![0u8; 20];
        Ipv4Repr {
            src: 0xc612_0002,
            dst: 0xc633_6407,
            protocol: 17,
            payload_len: (len - 20) as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 9,
            dont_frag: df,
        }
        .emit(&mut ip);
        ip.extend((0..len - 20).map(|i| i as u8));
        let mut f = gw20.0.to_vec();
        f.extend_from_slice(&A.0);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        f
    };
    // 1450-byte packets fit the tunnel (1450 + 14 + 50 = 1514)
    let out = r.run(3, &mk(1450, true));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, Action::Tx(0));
    assert_eq!(out[0].0.len(), 1450 + 14 + 50);
    // 1451 with DF: ICMP fragmentation needed, next-hop MTU 1450, back out of port b
    let big = mk(1451, true);
    let out = r.run(3, &big);
    assert_eq!(out.len(), 1);
    let (f, a) = &out[0];
    assert_eq!(*a, Action::Tx(3));
    assert_eq!(&f[..6], &A.0);
    assert_eq!((f[34], f[35]), (3, 4), "destination unreachable, fragmentation needed");
    assert_eq!(u16::from_be_bytes([f[40], f[41]]), 1450, "next-hop MTU");
    assert_eq!(&f[42..62], &big[14..34], "the original header, TTL as sent");
    assert_eq!(checksum::checksum(&f[34..]), 0);
    assert!(r.drops().contains(&("frag-needed", 1)));
    // without DF the router fragments (RFC 791, RFC 1812 4.2.2.7) to the tunnel's 1450:
    // 1424 bytes of payload (a multiple of 8), then the last 7, each fragment tunnelled
    let orig = mk(1451, false);
    let out = r.run(3, &orig);
    assert_eq!(out.iter().map(|(_, a)| *a).collect::<Vec<_>>(), vec![Action::Tx(0), Action::Tx(0)]);
    let inner: Vec<&[u8]> = out.iter().map(|(f, _)| &f[50 + 14..]).collect();
    let (a, b) = (Ipv4Packet::new_checked(inner[0]).unwrap(), Ipv4Packet::new_checked(inner[1]).unwrap());
    assert_eq!((a.total_len(), a.frag_offset(), a.more_frags(), a.ident(), a.ttl()), (1444, 0, true, 9, 63));
    assert_eq!((b.total_len(), b.frag_offset(), b.more_frags(), b.ident(), b.ttl()), (27, 1424, false, 9, 63));
    assert!(a.verify_checksum() && b.verify_checksum());
    assert_eq!([a.payload(), b.payload()].concat(), &orig[14 + 20..]);
    assert_eq!(r.events().iter().find(|e| e.0 == "fragments-sent"), Some(&("fragments-sent", 2)));
}

#[test]
fn bridged_ipv4_with_df_too_big_for_the_tunnel_gets_frag_needed_from_the_gateway() {
    // As a Linux bridge with a VXLAN port answers (skb_tunnel_check_pmtu): the sender learns
    // the tunnel's 1450, from the bridge's gateway address.
    let cfg = CFG.replace("vni = 5010", "vni = 5010\ngateway = \"198.51.100.254/24\"");
    let mut r = rig(&cfg);
    let gw = MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 10]);
    let mk = |len: usize, df: bool| {
        let mut ip = vec![0u8; 20];
        let (src, dst) = (0xc633_6401, 0xc633_6407);
        Ipv4Repr {
            src,
            dst,
            protocol: 17,
            payload_len: (len - 20) as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 3,
            dont_frag: df,
        }
        .emit(&mut ip);
        ip.extend((0..len - 20).map(|i| i as u8));
        ip
    };
    let orig = mk(1451, true);
    let out = tx(&r.run(1, &eth(B2, A, &[], EtherType::IPV4, &orig)));
    let err = icmp_error(0xc633_64fe, 0xc633_6401, 3, 4, 1450, &orig);
    assert_eq!(out, vec![(1, eth(A, gw, &[], EtherType::IPV4, &err))]);
    assert_eq!(r.drops(), vec![("vxlan-mtu-exceeded", 1)]);
    // without DF (or not IPv4) a bridge only drops it: VTEPs never fragment (RFC 7348 4.3)
    let f = eth(B2, A, &[], EtherType::IPV4, &mk(1451, false));
    assert_eq!(r.run(1, &f), vec![(f.clone(), Action::Drop(DropReason::VxlanMtuExceeded))]);
    // 1450 fits
    assert_eq!(r.run(1, &eth(B2, A, &[], EtherType::IPV4, &mk(1450, true)))[0].1, Action::Tx(0));
}

#[test]
fn tagged_inner_frames_pass_where_the_bridge_allows_them() {
    let mut r = rig(&CFG.replace("vni = 5010", "vni = 5010\nvxlan_inner_tagged = true"));
    let i = inner(A, X, 46);
    let mut tagged = i[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0, 0, 77]);
    tagged.extend_from_slice(&i[12..]);
    let out = r.run(0, &encap(&tagged, R3, LOCAL, R3_MAC, VTEP_MAC, 1, 50000, 5010));
    // flooded (A unknown): out of the access port with the inner tag as it came, and out of
    // the trunk with VLAN 10 added outside it
    assert_eq!(out[0], (tagged.clone(), Action::Tx(1)));
    let mut double = i[..12].to_vec();
    double.extend_from_slice(&[0x81, 0, 0, 10, 0x81, 0, 0, 77]);
    double.extend_from_slice(&i[12..]);
    assert_eq!(out[1], (double, Action::Tx(2)));
}

#[test]
fn trace_shows_encapsulation_and_decapsulation() {
    let mut r = rig(CFG);
    r.st.trace.add(2, None);
    let f = inner(B2, A, 46);
    r.run(1, &f);
    // B2 answers from behind R2: decapsulated, learned at R2, out of the access port
    let back = inner(A, B2, 46);
    r.run(0, &encap(&back, R2, LOCAL, R2_MAC, VTEP_MAC, 9, 50000, 5010));
    let mut want =
        super::tests::path(0, &[("l2-input", "l2-fwd"), ("l2-fwd", "vxlan4-encap"), ("vxlan4-encap", "tx port 0")]);
    want.extend(super::tests::path(
        1,
        &[("l2-input", "vxlan4-input"), ("vxlan4-input", "l2-fwd"), ("l2-fwd", "tx port 1")],
    ));
    assert_eq!(r.trace(), want);
    let rec = r.st.trace.records().find(|x| x.packet == 1 && x.node == Node::L2Fwd).copied().unwrap();
    assert!(rec.meta.has(flag::OVERLAY));
    assert_eq!(rec.meta.ip, R2, "learned at the VTEP it came from");
}

fn arp(op: u16, eth_dst: MacAddr, smac: MacAddr, sip: u32, tmac: MacAddr, tip: u32) -> Vec<u8> {
    let mut f = eth_dst.0.to_vec();
    f.extend_from_slice(&smac.0);
    f.extend_from_slice(&[0x08, 0x06]);
    let mut a = [0u8; 28];
    ArpRepr { operation: op, sender_mac: smac, sender_ip: sip, target_mac: tmac, target_ip: tip }.emit(&mut a);
    f.extend_from_slice(&a);
    f
}

fn pad60(mut f: Vec<u8>) -> Vec<u8> {
    f.resize(60, 0);
    f
}

#[test]
fn a_gratuitous_arp_from_a_remote_vtep_updates_its_underlay_mac() {
    let mut r = rig(CFG);
    let f = inner(MacAddr::BROADCAST, A, 46);
    r.run(1, &f);
    let reply = arp(2, VTEP_MAC, R3_MAC, R3, VTEP_MAC, LOCAL);
    assert_eq!(r.run(0, &reply)[1], (encap(&f, LOCAL, R3, VTEP_MAC, R3_MAC, 2, sport(&f), 5010), Action::Tx(0)));
    // R3 moves to a new MAC and announces it (a broadcast request for itself, as
    // `arping -U` sends it): not ours, but R3 is a known neighbour, so it is updated.
    let new = MacAddr([2, 0, 0, 0, 0x0e, 0x33]);
    let garp = arp(1, MacAddr::BROADCAST, new, R3, MacAddr::default(), R3);
    assert_eq!(r.run(0, &garp), vec![(garp.clone(), Action::Drop(DropReason::UnderlayNotOurs))]);
    let out = r.run(1, &f);
    assert_eq!(out[2], (encap(&f, LOCAL, R3, VTEP_MAC, new, 4, sport(&f), 5010), Action::Tx(0)));
    // ... and in the reply form (`arping -A`, a broadcast reply for itself)
    let newer = MacAddr([2, 0, 0, 0, 0x0e, 0x34]);
    let garp = arp(2, MacAddr::BROADCAST, newer, R3, MacAddr::BROADCAST, R3);
    assert_eq!(r.run(0, &garp), vec![(garp.clone(), Action::Drop(DropReason::UnderlayNotOurs))]);
    let out = r.run(1, &f);
    assert_eq!(out[2], (encap(&f, LOCAL, R3, VTEP_MAC, newer, 6, sport(&f), 5010), Action::Tx(0)));
    // A GARP from an unknown sender teaches nothing; a static neighbour is not overridden.
    let stranger = arp(1, MacAddr::BROADCAST, X, 0xcb00_7109, MacAddr::default(), 0xcb00_7109);
    assert_eq!(r.run(0, &stranger)[0].1, Action::Drop(DropReason::UnderlayNotOurs));
    let r2 = arp(1, MacAddr::BROADCAST, X, R2, MacAddr::default(), R2);
    r.run(0, &r2);
    assert_eq!(r.st.neigh.lookup(UNDERLAY_IFX, R2), Some(R2_MAC));
    assert_eq!(r.st.neigh.lookup(UNDERLAY_IFX, 0xcb00_7109), None);
}

#[test]
fn with_two_workers_an_underlay_arp_reply_on_the_other_queue_resolves_the_requester() {
    let cfg = format!("[dataplane]\nworkers = [1, 2]\nmempool_size = 65535\n{CFG}");
    let (mut w0, mut w1) = (rig(&cfg), rig(&cfg));
    w1.st = Pipeline::for_worker(&w1.t, 1, 32);
    let f = inner(MacAddr::BROADCAST, A, 46);
    w1.run(1, &f);
    // R3's reply lands on worker 0: a copy goes to worker 1, which sends what waited.
    let reply = arp(2, VTEP_MAC, R3_MAC, R3, VTEP_MAC, LOCAL);
    assert_eq!(w0.run(0, &reply), vec![(reply.clone(), Action::Handoff(1, 0)), (reply.clone(), Action::Consumed)]);
    w1.st.rx_handoff(&w1.c, 0, crate::buf::VecBuf::new(&reply));
    let out = w1.finish(false);
    assert_eq!(out[0], (reply, Action::Consumed));
    assert_eq!(out[1], (encap(&f, LOCAL, R3, VTEP_MAC, R3_MAC, 2, sport(&f), 5010), Action::Tx(0)));
    assert_eq!(w1.st.st.neigh.lookup(UNDERLAY_IFX, R3), Some(R3_MAC));
}

#[test]
fn an_arp_probe_for_the_vtep_address_is_answered_without_learning() {
    let mut r = rig(CFG);
    let probe = arp(1, MacAddr::BROADCAST, R3_MAC, 0, MacAddr::default(), LOCAL);
    let out = r.run(0, &probe);
    let reply = pad60(arp(2, R3_MAC, VTEP_MAC, LOCAL, R3_MAC, 0));
    assert_eq!(out, vec![(reply, Action::Tx(0)), (probe, Action::Consumed)]);
    assert_eq!(r.st.neigh.lookup(UNDERLAY_IFX, 0), None);
    assert_eq!(r.st.neigh.len(), 1, "only the static neighbour");
}

#[test]
fn a_stale_remote_vtep_is_used_and_probed_by_unicast() {
    use crate::l3::neigh::NeighState;
    let cfg = format!("{CFG}[routing]\nneighbor_size = 32\narp_reachable_s = 1\narp_delay_ms = 200\n");
    let mut r = rig(&cfg);
    let f = inner(MacAddr::BROADCAST, A, 46);
    r.run(1, &f);
    r.run(0, &arp(2, VTEP_MAC, R3_MAC, R3, VTEP_MAC, LOCAL));
    for _ in 0..1000 {
        assert!(r.tick(1).is_empty());
    }
    let st = |r: &Rig| r.st.neigh.iter().find(|e| e.ip == R3).map(|e| e.state);
    assert_eq!(st(&r), Some(NeighState::Stale));
    // Encapsulated to R3's known MAC at once (this used to wait for a new ARP resolution).
    let out = r.run(1, &f);
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[2], (encap(&f, LOCAL, R3, VTEP_MAC, R3_MAC, 4, sport(&f), 5010), Action::Tx(0)));
    assert_eq!(st(&r), Some(NeighState::Delay));
    // After the delay, a unicast probe from the VTEP to R3's MAC.
    let mut sent = vec![];
    for k in 1..=200u64 {
        for (b, a) in r.tick(1) {
            sent.push((k, b, a));
        }
    }
    let probe = pad60(arp(1, R3_MAC, VTEP_MAC, LOCAL, MacAddr::default(), R3));
    assert_eq!(sent, vec![(200, probe, Action::Tx(0))]);
    assert_eq!(st(&r), Some(NeighState::Probe));
    // R3 answers: REACHABLE, and the probe was counted.
    r.run(0, &arp(2, VTEP_MAC, R3_MAC, R3, VTEP_MAC, LOCAL));
    assert_eq!(st(&r), Some(NeighState::Reachable));
    let ev = r.c.snapshot().named_events();
    assert!(ev.contains(&("arp-probe-sent", 1)) && ev.contains(&("arp-request-sent", 1)), "{ev:?}");
}

#[test]
fn the_default_vtep_mac_is_the_underlay_ports_own() {
    let cfg = crate::config::Config::parse(CFG, None).unwrap();
    let mut t = Tables::compile(&cfg).unwrap();
    assert_eq!(t.vtep.as_ref().map(|v| (v.mac, v.mac64)), Some((VTEP_MAC, VTEP_MAC.to_u64())));
    let u = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    let ports = [u, MacAddr([0x52, 0x54, 0, 0, 0, 1]), MacAddr([0x52, 0x54, 0, 0, 0, 2])];
    t.use_port_macs(&cfg, &ports);
    assert_eq!(t.vtep.as_ref().map(|v| (v.mac, v.mac64)), Some((u, u.to_u64())));
    // No usable MAC on the underlay port: the fixed default stays.
    let mut t = Tables::compile(&cfg).unwrap();
    t.use_port_macs(&cfg, &[MacAddr([0; 6]), ports[1], ports[2]]);
    assert_eq!(t.vtep.as_ref().map(|v| v.mac), Some(VTEP_MAC));
    // A configured mac wins.
    let cfg =
        crate::config::Config::parse(&CFG.replace("mtu = 1500\n", "mtu = 1500\nmac = \"02:00:00:00:0e:01\"\n"), None)
            .unwrap();
    let mut t = Tables::compile(&cfg).unwrap();
    t.use_port_macs(&cfg, &ports);
    assert_eq!(t.vtep.as_ref().map(|v| v.mac), Some(MacAddr([2, 0, 0, 0, 0x0e, 1])));
}

#[test]
fn the_gateway_of_a_vni_bridge_serves_hosts_behind_remote_vteps() {
    // As a VXLAN gateway does: X, behind remote VTEP R2, resolves, pings and routes through
    // the gateway of its VNI bridge, both ways.
    let cfg = CFG
        .replace("[vtep]", "[[port]]\nname = \"b\"\ndevargs = \"net_null3\"\nmode = \"access\"\nvlan = 20\n[vtep]")
        .replace("vni = 5010", "vni = 5010\ngateway = \"198.51.100.254/24\"")
        + "[[bridge]]\nname = \"v20\"\nvlan = 20\ngateway = \"198.18.0.1/24\"\n[[bridge.static_mac]]\nmac = \"02:00:00:00:00:c1\"\nport = \"b\"\n[[bridge.neighbor]]\nip = \"198.18.0.2\"\nmac = \"02:00:00:00:00:c1\"\n";
    let mut r = rig(&cfg);
    let (gw10, gw20) = (MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 10]), MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 20]));
    let h = MacAddr([2, 0, 0, 0, 0, 0xc1]);
    let (ip_gw, ip_x, ip_h) = (0xc633_64fe, 0xc633_6409, 0xc612_0002);
    let from_r2 = |f: &[u8], ident: u16| encap(f, R2, LOCAL, R2_MAC, VTEP_MAC, ident, 50000, 5010);
    let to_r2 = |f: &[u8], ident: u16| encap(f, LOCAL, R2, VTEP_MAC, R2_MAC, ident, sport(f), 5010);

    // ARP for the gateway from the overlay: answered back through the tunnel (and, a
    // broadcast, still flooded to the local ports only)
    let req = arp(1, MacAddr::BROADCAST, X, ip_x, MacAddr::default(), ip_gw);
    let out = r.run(0, &from_r2(&req, 1));
    let reply = pad60(arp(2, X, gw10, ip_gw, X, ip_x));
    let acts: Vec<Action> = out.iter().map(|(_, a)| *a).collect();
    assert_eq!(acts, vec![Action::Tx(1), Action::Tx(2), Action::Tx(0)], "{out:?}");
    assert_eq!(out[2].0, to_r2(&reply, 1));
    assert_eq!(r.st.neigh.lookup(0, ip_x), Some(X), "X learned as a neighbour");

    // ping of the gateway from the overlay
    let echo_req = eth(gw10, X, &[], EtherType::IPV4, &ipv4(ip_x, ip_gw, 1, 64, &echo(8, 5, 1, b"ovl")));
    let out = tx(&r.run(0, &from_r2(&echo_req, 2)));
    let mut rep = ipv4(ip_gw, ip_x, 1, 64, &echo(0, 5, 1, b"ovl"));
    rep[8] = 64;
    assert_eq!(out, vec![(0, to_r2(&eth(X, gw10, &[], EtherType::IPV4, &rep), 2))]);

    // routed from the overlay to H on port b, and H's answer back into the overlay
    let pl = [0u8; 12];
    let x_to_h = eth(gw10, X, &[], EtherType::IPV4, &ipv4(ip_x, ip_h, 17, 64, &pl));
    let out = tx(&r.run(0, &from_r2(&x_to_h, 3)));
    assert_eq!(out, vec![(3, eth(h, gw20, &[], EtherType::IPV4, &ipv4(ip_x, ip_h, 17, 63, &pl)))]);
    let h_to_x = eth(gw20, h, &[], EtherType::IPV4, &ipv4(ip_h, ip_x, 17, 64, &pl));
    let out = tx(&r.run(3, &h_to_x));
    assert_eq!(out, vec![(0, to_r2(&eth(X, gw10, &[], EtherType::IPV4, &ipv4(ip_h, ip_x, 17, 63, &pl)), 3))]);
    assert!(r.drops().is_empty(), "{:?}", r.drops());
}
