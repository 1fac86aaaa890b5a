//! The stateful routed path on VecBufs: a packet in, the exact packet out or the exact
//! drop. RFC 4787 / RFC 5382 / RFC 5508 behaviour is named per test.

use super::tests::{echo, eth, ipv4, tx, Action, Collect, Rig};
use super::*;
use crate::buf::VecBuf;
use crate::conntrack::{tcp::TcpState, FlowKey};
use crate::wire::checksum;
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use crate::wire::EtherType;

/// The two-zone fixture with static neighbours: hosts H and H2 inside, server S and router RT outside.
pub(super) fn cfg() -> String {
    crate::nat::fixture::two_zones(
        "neighbor = [{ ip = \"198.51.100.10\", mac = \"02:00:00:00:00:0a\" }, { ip = \"198.51.100.11\", mac = \"02:00:00:00:00:0b\" }]",
        "neighbor = [{ ip = \"203.0.113.80\", mac = \"02:00:00:00:00:50\" }, { ip = \"203.0.113.254\", mac = \"02:00:00:00:00:fe\" }]",
        REST,
    )
}

const REST: &str = r#"
[conntrack]
capacity = 64
[[nat.snat]]
from = ["198.51.100.0/24"]
zone = "outside"
pool = ["203.0.113.1"]
[[nat.forward]]
proto = "tcp"
address = "203.0.113.1"
port = 8080
to = "198.51.100.10"
to_port = 80
[firewall]
[[firewall.policy]]
from = "inside"
to = "outside"
action = "accept"
[[firewall.policy]]
from = "inside"
to = "inside"
action = "accept"
[[firewall.rule]]
from = "inside"
proto = "tcp"
dport = "25"
action = "reject"
[[firewall.rule]]
from = "inside"
proto = "udp"
dport = "9"
action = "reject"
[[firewall.rule]]
from = "inside"
proto = "udp"
dport = "7"
dst = ["203.0.113.99/32"]
action = "drop"
"#;

pub(super) const H: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
const H2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0b]);
pub(super) const S: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x50]);
const RT: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xfe]);
const GW_IN: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 10]);
const GW_OUT: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 20]);
pub(super) const IP_H: u32 = 0xc633_640a; // 198.51.100.10
const IP_H2: u32 = 0xc633_640b; // 198.51.100.11
pub(super) const IP_S: u32 = 0xcb00_7150; // 203.0.113.80
pub(super) const IP_P: u32 = 0xcb00_7101; // 203.0.113.1, the pool (the outside gateway)
const IP_RT: u32 = 0xcb00_71fe; // 203.0.113.254, a router outside
const IP_IN_GW: u32 = 0xc633_6401;

const SYN: u8 = 0x02;
const SYNACK: u8 = 0x12;
const ACK: u8 = 0x10;
const FIN: u8 = 0x11;
const RST: u8 = 0x04;

// A test fixture spelling out every field of the segment it builds.
#[allow(clippy::too_many_arguments)]
fn tcp(src: u32, sport: u16, dst: u32, dport: u16, flags: u8, seq: u32, ack: u32, ttl: u8) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&1000u16.to_be_bytes());
    TcpPacket::new_checked(&mut t[..]).unwrap().fill_checksum(src, dst);
    ipv4(src, dst, 6, ttl, &t)
}

/// A TCP segment with a window and a payload (TTL 64 in, 63 out: `ttl`).
#[allow(clippy::too_many_arguments)]
fn tcp_seg(src: u32, sport: u16, dst: u32, dport: u16, flags: u8, seq: u32, ack: u32, data: &[u8], ttl: u8) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&1000u16.to_be_bytes());
    t.extend_from_slice(data);
    TcpPacket::new_checked(&mut t[..]).unwrap().fill_checksum(src, dst);
    ipv4(src, dst, 6, ttl, &t)
}

pub(super) fn udp(src: u32, sport: u16, dst: u32, dport: u16, data: &[u8], ttl: u8) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(data);
    UdpPacket::new_checked(&mut u[..]).unwrap().fill_checksum(src, dst);
    ipv4(src, dst, 17, ttl, &u)
}

pub(super) fn from_in(mac: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(GW_IN, mac, &[], EtherType::IPV4, ip)
}
pub(super) fn from_out(mac: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(GW_OUT, mac, &[], EtherType::IPV4, ip)
}
pub(super) fn to_in(mac: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(mac, GW_IN, &[], EtherType::IPV4, ip)
}
pub(super) fn to_out(mac: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(mac, GW_OUT, &[], EtherType::IPV4, ip)
}

fn rig() -> Rig {
    Rig::with_config(&cfg(), 1000)
}

fn conn_state(r: &Rig, k: FlowKey) -> Option<TcpState> {
    let st = r.st.ct.as_ref().unwrap();
    st.table.lookup(&k).map(|(id, _)| st.table.get(id).tcp.state)
}

fn drop_of(r: &mut Rig, port: u16, f: &[u8]) -> DropReason {
    match r.run(port, f).as_slice() {
        [(_, Action::Drop(d))] => *d,
        other => panic!("expected one drop, got {other:?}"),
    }
}

#[test]
fn tcp_through_snat_both_ways_with_the_state_machine() {
    let mut r = rig();
    // SYN from the inside host: source becomes the pool address, port kept (free).
    let out = tx(&r.run(0, &from_in(H, &tcp(IP_H, 40000, IP_S, 80, SYN, 100, 0, 64))));
    assert_eq!(out, vec![(1, to_out(S, &tcp(IP_P, 40000, IP_S, 80, SYN, 100, 0, 63)))]);
    let k = FlowKey { src: IP_H, dst: IP_S, sport: 40000, dport: 80, proto: 6 };
    assert_eq!(conn_state(&r, k), Some(TcpState::SynSent));
    // SYN-ACK from the server to the pool address goes back to the host.
    let out = tx(&r.run(1, &from_out(S, &tcp(IP_S, 80, IP_P, 40000, SYNACK, 500, 101, 64))));
    assert_eq!(out, vec![(0, to_in(H, &tcp(IP_S, 80, IP_H, 40000, SYNACK, 500, 101, 63)))]);
    assert_eq!(conn_state(&r, k), Some(TcpState::SynRecv));
    r.run(0, &from_in(H, &tcp(IP_H, 40000, IP_S, 80, ACK, 101, 501, 64)));
    assert_eq!(conn_state(&r, k), Some(TcpState::Established));
    // A SYN inside an established connection is invalid and dropped.
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &tcp(IP_H, 40000, IP_S, 80, SYN, 7, 0, 64))), DropReason::CtInvalid);
    // Orderly close.
    r.run(0, &from_in(H, &tcp(IP_H, 40000, IP_S, 80, FIN, 101, 501, 64)));
    r.run(1, &from_out(S, &tcp(IP_S, 80, IP_P, 40000, FIN, 501, 102, 64)));
    let out = tx(&r.run(0, &from_in(H, &tcp(IP_H, 40000, IP_S, 80, ACK, 102, 502, 64))));
    assert_eq!(out, vec![(1, to_out(S, &tcp(IP_P, 40000, IP_S, 80, ACK, 102, 502, 63)))]);
    assert_eq!(conn_state(&r, k), Some(TcpState::TimeWait));
    let ev = r.events();
    assert!(
        ev.contains(&("ct-new", 1)) && ev.contains(&("nat-mapping-new", 1)) && ev.contains(&("nat-translated", 6)),
        "{ev:?}"
    );
}

#[test]
fn endpoint_independent_mapping_and_no_port_overloading() {
    // RFC 4787 REQ-1 and REQ-3, RFC 5382 REQ-1.
    let mut r = rig();
    let a = tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_S, 53, b"q1", 64))));
    let b = tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_RT, 53, b"q2", 64))));
    let sport = |f: &[u8]| u16::from_be_bytes([f[34], f[35]]);
    let saddr = |f: &[u8]| u32::from_be_bytes([f[26], f[27], f[28], f[29]]);
    assert_eq!((saddr(&a[0].1), sport(&a[0].1)), (IP_P, 5000), "port preserved");
    assert_eq!((saddr(&b[0].1), sport(&b[0].1)), (IP_P, 5000), "same mapping for another destination");
    // Another host with the same source port gets another external port.
    let c = tx(&r.run(0, &from_in(H2, &udp(IP_H2, 5000, IP_S, 53, b"q3", 64))));
    assert_eq!(saddr(&c[0].1), IP_P);
    assert_ne!(sport(&c[0].1), 5000);
    let p2 = sport(&c[0].1);
    assert!(p2 >= 1024, "a port of the same range (REQ-3)");
    // Replies reach each host by its own mapping.
    let out = tx(&r.run(1, &from_out(S, &udp(IP_S, 53, IP_P, p2, b"a3", 64))));
    assert_eq!(out, vec![(0, to_in(H2, &udp(IP_S, 53, IP_H2, 5000, b"a3", 63)))]);
    let out = tx(&r.run(1, &from_out(RT, &udp(IP_RT, 53, IP_P, 5000, b"a2", 64))));
    assert_eq!(out, vec![(0, to_in(H, &udp(IP_RT, 53, IP_H, 5000, b"a2", 63)))]);
    // Address and port dependent filtering: a third party cannot use the mapping.
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &udp(IP_S, 9999, IP_P, 5000, b"x", 64))), DropReason::NatFiltered);
}

#[test]
fn udp_mapping_lives_300_s_refreshed_by_outbound_traffic() {
    // RFC 4787 REQ-5 (at least 2 min, 5 min default) and REQ-6 (outbound refresh).
    let mut r = rig();
    r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64)));
    for _ in 0..299 {
        r.tick(1000);
    }
    // 299 s later the mapping is there; the outbound packet refreshes it.
    assert_eq!(tx(&r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64)))).len(), 1);
    for _ in 0..299 {
        r.tick(1000);
    }
    assert_eq!(tx(&r.run(1, &from_out(S, &udp(IP_S, 53, IP_P, 6000, b"a", 64)))).len(), 1);
    for _ in 0..301 {
        r.tick(1000);
    }
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &udp(IP_S, 53, IP_P, 6000, b"a", 64))), DropReason::NatNoMapping);
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len()), (0, 0), "connection and mapping freed");
    assert!(r.events().contains(&("ct-expired", 1)));
}

#[test]
fn ping_through_snat_translates_the_identifier() {
    let mut r = rig();
    let out = tx(&r.run(0, &from_in(H, &ipv4(IP_H, IP_S, 1, 64, &echo(8, 0x1234, 1, b"abc")))));
    let id = u16::from_be_bytes([out[0].1[38], out[0].1[39]]);
    assert_eq!(out, vec![(1, to_out(S, &ipv4(IP_P, IP_S, 1, 63, &echo(8, id, 1, b"abc"))))]);
    let out = tx(&r.run(1, &from_out(S, &ipv4(IP_S, IP_P, 1, 64, &echo(0, id, 1, b"abc")))));
    assert_eq!(out, vec![(0, to_in(H, &ipv4(IP_S, IP_H, 1, 63, &echo(0, 0x1234, 1, b"abc"))))]);
    // An echo reply nobody asked for.
    assert_eq!(
        drop_of(&mut r, 1, &from_out(S, &ipv4(IP_S, IP_P, 1, 64, &echo(0, 999, 1, b"abc")))),
        DropReason::NatNoMapping
    );
    // Ping to the pool address (also the gateway) is answered by the gateway.
    let out = tx(&r.run(1, &from_out(S, &ipv4(IP_S, IP_P, 1, 64, &echo(8, 77, 1, b"hi")))));
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0].1[26..34], &[203, 0, 113, 1, 203, 0, 113, 80]);
}

/// An ICMP error from `from` to `to` quoting `orig` (header + 8 bytes).
fn icmp_err(from: u32, to: u32, kind: u8, code: u8, orig: &[u8], ttl: u8) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&orig[..28]);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(from, to, 1, ttl, &m)
}

#[test]
fn icmp_errors_are_translated_and_keep_the_mapping() {
    // RFC 5508 (embedded header translated) and RFC 4787 REQ-12 (no teardown).
    let mut r = rig();
    r.run(0, &from_in(H, &udp(IP_H, 7000, IP_S, 33434, b"probe", 64)));
    let seen = udp(IP_P, 7000, IP_S, 33434, b"probe", 63);
    let sent = udp(IP_H, 7000, IP_S, 33434, b"probe", 63);
    for (kind, code) in [(3u8, 3u8), (11, 0), (3, 4)] {
        let out = tx(&r.run(1, &from_out(RT, &icmp_err(IP_RT, IP_P, kind, code, &seen, 64))));
        assert_eq!(out, vec![(0, to_in(H, &icmp_err(IP_RT, IP_H, kind, code, &sent, 63)))], "type {kind} code {code}");
    }
    // The mapping still works.
    let out = tx(&r.run(1, &from_out(S, &udp(IP_S, 33434, IP_P, 7000, b"r", 64))));
    assert_eq!(out, vec![(0, to_in(H, &udp(IP_S, 33434, IP_H, 7000, b"r", 63)))]);
    assert!(r.events().contains(&("icmp-error-translated", 3)));
    // An error about nothing we know.
    let other = udp(IP_P, 1, IP_S, 2, b"x", 63);
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &icmp_err(IP_RT, IP_P, 3, 3, &other, 64))), DropReason::CtUntracked);
}

#[test]
fn port_forward_dnat_and_hairpin() {
    let mut r = rig();
    let syn = tcp(IP_S, 5555, IP_P, 8080, SYN, 1, 0, 64);
    let out = tx(&r.run(1, &from_out(S, &syn)));
    assert_eq!(out, vec![(0, to_in(H, &tcp(IP_S, 5555, IP_H, 80, SYN, 1, 0, 63)))]);
    let out = tx(&r.run(0, &from_in(H, &tcp(IP_H, 80, IP_S, 5555, SYNACK, 9, 2, 64))));
    assert_eq!(out, vec![(1, to_out(S, &tcp(IP_P, 8080, IP_S, 5555, SYNACK, 9, 2, 63)))]);
    // Hairpin (RFC 4787 REQ-9, RFC 5382 REQ-8): H2 inside uses the public address; H sees
    // H2's external address, and the answer comes back from the public address.
    let out = tx(&r.run(0, &from_in(H2, &tcp(IP_H2, 6000, IP_P, 8080, SYN, 1, 0, 64))));
    assert_eq!(out, vec![(0, to_in(H, &tcp(IP_P, 6000, IP_H, 80, SYN, 1, 0, 63)))]);
    let out = tx(&r.run(0, &from_in(H, &tcp(IP_H, 80, IP_P, 6000, SYNACK, 5, 2, 64))));
    assert_eq!(out, vec![(0, to_in(H2, &tcp(IP_P, 8080, IP_H2, 6000, SYNACK, 5, 2, 63)))]);
}

#[test]
fn unsolicited_inbound_is_dropped_with_its_reason() {
    let mut r = rig();
    // To the pool address on a port with no mapping and no forward.
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &tcp(IP_S, 1, IP_P, 22, SYN, 1, 0, 64))), DropReason::NatNoMapping);
    // Straight to an inside address: outside -> inside has no policy; the default drops.
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &tcp(IP_S, 1, IP_H, 22, SYN, 1, 0, 64))), DropReason::FwDrop);
    // A stray ACK starts nothing.
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &tcp(IP_H, 1, IP_S, 80, ACK, 1, 1, 64))), DropReason::CtInvalid);
    // A firewall drop rule.
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 1, 0xcb00_7163, 7, b"x", 64))), DropReason::FwDrop);
    assert_eq!(r.st.ct.as_ref().unwrap().table.len(), 0);
}

#[test]
fn reject_answers_rst_and_icmp() {
    let mut r = rig();
    // TCP SYN to port 25: a RST|ACK from the server's address, out of the ingress port.
    let out = tx(&r.run(0, &from_in(H, &tcp(IP_H, 40001, IP_S, 25, SYN, 1000, 0, 64))));
    let mut rst = tcp(IP_S, 25, IP_H, 40001, 0x14, 0, 1001, 64);
    rst[34..36].fill(0); // window 0
    rst[4..6].fill(0); // ident 0
    let mut t = rst[20..].to_vec();
    TcpPacket::new_checked(&mut t[..]).unwrap().fill_checksum(IP_S, IP_H);
    rst[20..].copy_from_slice(&t);
    let mut ip = rst[..20].to_vec();
    ip[10..12].fill(0);
    let c = checksum::checksum(&ip);
    rst[10..12].copy_from_slice(&c.to_be_bytes());
    let mut want = to_in(H, &rst);
    want.resize(60, 0);
    assert_eq!(out, vec![(0, want)]);
    // UDP to port 9: ICMP port unreachable from the gateway quoting the datagram.
    let d = udp(IP_H, 40002, IP_S, 9, b"discard", 64);
    let out = tx(&r.run(0, &from_in(H, &d)));
    let mut m = vec![3, 3, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&d[..28]);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut icmp = vec![0u8; 20];
    Ipv4Repr {
        src: IP_IN_GW,
        dst: IP_H,
        protocol: 1,
        payload_len: m.len() as u16,
        ttl: 64,
        dscp_ecn: 0xc0,
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut icmp);
    icmp.extend_from_slice(&m);
    assert_eq!(out, vec![(0, to_in(H, &icmp))]);
    assert!(r.drops().contains(&("fw-reject", 2)));
    assert!(r.events().contains(&("fw-reject-sent", 2)));
}

#[test]
fn a_full_table_drops_new_connections_and_keeps_old_ones() {
    let mut r = rig();
    for p in 0..64u16 {
        assert_eq!(tx(&r.run(0, &from_in(H, &udp(IP_H, 10000 + p, IP_S, 53, b"q", 64)))).len(), 1);
    }
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 20000, IP_S, 53, b"q", 64))), DropReason::CtTableFull);
    // Existing connections still pass both ways.
    assert_eq!(tx(&r.run(1, &from_out(S, &udp(IP_S, 53, IP_P, 10005, b"a", 64)))).len(), 1);
    assert_eq!(r.st.ct.as_ref().unwrap().maps.len(), 64, "the refused connection left no mapping");
    for _ in 0..301 {
        r.tick(1000);
    }
    assert_eq!(
        tx(&r.run(0, &from_in(H, &udp(IP_H, 20000, IP_S, 53, b"q", 64)))).len(),
        1,
        "room again after the timeout"
    );
}

#[test]
fn rst_keeps_the_connection_for_the_transitory_time() {
    // RFC 7857 2.2: a RST does not delete the state at once.
    let mut r = rig();
    r.run(0, &from_in(H, &tcp(IP_H, 41000, IP_S, 80, SYN, 1, 0, 64)));
    r.run(1, &from_out(S, &tcp(IP_S, 80, IP_P, 41000, SYNACK, 1, 2, 64)));
    r.run(0, &from_in(H, &tcp(IP_H, 41000, IP_S, 80, ACK, 2, 2, 64)));
    let out = tx(&r.run(1, &from_out(S, &tcp(IP_S, 80, IP_P, 41000, RST, 2, 0, 64))));
    assert_eq!(out, vec![(0, to_in(H, &tcp(IP_S, 80, IP_H, 41000, RST, 2, 0, 63)))]);
    let k = FlowKey { src: IP_H, dst: IP_S, sport: 41000, dport: 80, proto: 6 };
    assert_eq!(conn_state(&r, k), Some(TcpState::Close));
    for _ in 0..239 {
        r.tick(1000);
    }
    assert_eq!(conn_state(&r, k), Some(TcpState::Close));
    for _ in 0..2 {
        r.tick(1000);
    }
    assert_eq!(conn_state(&r, k), None);
}

#[test]
fn pool_exhaustion_is_counted_and_answered_as_configured() {
    let cfg = cfg()
        .replace(
            "pool = [\"203.0.113.1\"]",
            "pool = [\"203.0.113.1\"]\nports = \"2000-2063\"\non_exhaustion = \"icmp\"",
        )
        .replace("capacity = 64", "capacity = 256");
    let mut r = Rig::with_config(&cfg, 1000);
    for p in 0..64u16 {
        let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 30000 + p, IP_S, 53, b"q", 64))));
        let sport = u16::from_be_bytes([out[0].1[34], out[0].1[35]]);
        assert!((2000..=2063).contains(&sport));
    }
    let out = r.run(0, &from_in(H, &udp(IP_H, 31000, IP_S, 53, b"q", 64)));
    assert_eq!(out.len(), 1);
    let (f, a) = &out[0];
    assert_eq!(*a, Action::Tx(0));
    assert_eq!((f[34], f[35]), (3, 13), "ICMP administratively prohibited");
    assert!(r.drops().contains(&("nat-pool-exhausted", 1)));
}

#[test]
fn with_two_workers_a_reply_goes_to_the_owner_of_its_port() {
    let cfg = cfg().replace("[conntrack]", "[dataplane]\nworkers = [1, 2]\n[conntrack]");
    let t = Tables::compile(&crate::config::Config::parse(&cfg, None).unwrap()).unwrap();
    let c = WorkerCounters::with_tunnels(2, 2, 0);
    let alloc = crate::buf::VecAlloc::default();
    let mut w: Vec<Pipeline<VecBuf>> = (0..2).map(|i| Pipeline::for_worker(&t, i, 32)).collect();
    let sec = t.sec.as_deref().unwrap();
    // One packet through worker `w`, as received on `port` (or handed over by the other).
    let process = |w: &mut Pipeline<VecBuf>, port: u16, pkt: &[u8], handed: bool| {
        if handed {
            w.rx_handoff(&c, port, VecBuf::new(pkt));
        } else {
            w.rx(&t, port, VecBuf::new(pkt));
        }
        let mut out = Collect::default();
        w.run(&t, &alloc, &c, 1000, &mut out);
        out.0
    };
    // The outbound packet belongs to the worker that owns the inside endpoint.
    let k = FlowKey { src: IP_H, dst: IP_S, sport: 40000, dport: 80, proto: 6 };
    let owner = sec.owner(&k);
    let other = 1 - owner;
    let syn = from_in(H, &tcp(IP_H, 40000, IP_S, 80, SYN, 1, 0, 64));
    let out = process(&mut w[usize::from(other)], 0, &syn, false);
    assert_eq!(out[0].1, Action::Handoff(owner, 0));
    let out = process(&mut w[usize::from(owner)], 0, &syn, true);
    let (f, a) = out.into_iter().next().unwrap();
    assert_eq!(a, Action::Tx(1));
    let ext = u16::from_be_bytes([f.data()[34], f.data()[35]]);
    assert_eq!(ext % 2, owner, "the external port is in the owner's slice");
    // The reply, received by the other worker, is handed to the owner, which translates it.
    let reply = from_out(S, &tcp(IP_S, 80, IP_P, ext, SYNACK, 1, 2, 64));
    let out = process(&mut w[usize::from(other)], 1, &reply, false);
    assert_eq!(out[0].1, Action::Handoff(owner, 1));
    let out = process(&mut w[usize::from(owner)], 1, &reply, false);
    let (f, a) = out.into_iter().next().unwrap();
    assert_eq!((a, f.data().to_vec()), (Action::Tx(0), to_in(H, &tcp(IP_S, 80, IP_H, 40000, SYNACK, 1, 2, 63))));
}

#[test]
fn tcp_mappings_are_endpoint_independent_too() {
    // RFC 5382 REQ-1: connections from one inside endpoint share one external endpoint.
    let mut r = rig();
    let a = tx(&r.run(0, &from_in(H, &tcp(IP_H, 45000, IP_S, 80, SYN, 1, 0, 64))));
    let b = tx(&r.run(0, &from_in(H, &tcp(IP_H, 45000, IP_RT, 443, SYN, 1, 0, 64))));
    assert_eq!(a, vec![(1, to_out(S, &tcp(IP_P, 45000, IP_S, 80, SYN, 1, 0, 63)))]);
    assert_eq!(b, vec![(1, to_out(RT, &tcp(IP_P, 45000, IP_RT, 443, SYN, 1, 0, 63)))]);
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len()), (2, 1), "two connections, one mapping");
    // A SYN-ACK from a host the inside endpoint never contacted is not let in
    // (address and port dependent filtering).
    let third = 0xcb00_7109; // 203.0.113.9
    assert_eq!(
        drop_of(&mut r, 1, &from_out(S, &tcp(third, 80, IP_P, 45000, SYNACK, 1, 2, 64))),
        DropReason::NatFiltered
    );
}

#[test]
fn an_error_about_a_translated_packet_quotes_it_as_sent() {
    // The next hop of a new SNAT connection never answers ARP: the host unreachable goes
    // to the inside host's own address and quotes its packet untranslated.
    let mut r = rig();
    let far = 0xcb00_714d; // 203.0.113.77, no static neighbour
    let out = r.run(0, &from_in(H, &tcp(IP_H, 46000, far, 80, SYN, 9, 0, 64)));
    assert!(out.iter().all(|(_, a)| *a == Action::Tx(1)), "only the ARP request: {out:?}");
    let mut errors = vec![];
    for _ in 0..10_000 {
        errors.extend(r.tick(1).into_iter().filter(|(_, a)| *a == Action::Tx(0)));
    }
    let sent = tcp(IP_H, 46000, far, 80, SYN, 9, 0, 63);
    let mut m = vec![3, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&sent[..28]);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut icmp = vec![0u8; 20];
    Ipv4Repr {
        src: IP_IN_GW,
        dst: IP_H,
        protocol: 1,
        payload_len: m.len() as u16,
        ttl: 64,
        dscp_ecn: 0xc0,
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut icmp);
    icmp.extend_from_slice(&m);
    assert_eq!(errors, vec![(to_in(H, &icmp), Action::Tx(0))]);
}

/// The fixture with another `[[nat.snat]]` pool and an extra firewall rule.
fn cfg_pool(pool: &str) -> String {
    cfg().replace("pool = [\"203.0.113.1\"]", &format!("pool = [{pool}]"))
        + "[[firewall.rule]]\nfrom = \"inside\"\nproto = \"udp\"\ndport = \"5353\"\naction = \"drop\"\n"
}

#[test]
fn reload_keeps_connections_whose_pool_address_stays_and_applies_new_rules() {
    let mut r = rig();
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 6000, IP_S, 53, b"q", 63)))]);
    let tcp_out = tx(&r.run(0, &from_in(H2, &tcp(IP_H2, 7000, IP_S, 443, SYN, 1, 0, 64))));
    assert_eq!(tcp_out.len(), 1);
    // The pool grows by an address and a rule is added: both sessions stay as they were.
    let a = r.reload(&cfg_pool("\"203.0.113.1\", \"203.0.113.2\""));
    assert_eq!((a.ct_kept, a.ct_dropped), (2, 0), "{a:?}");
    let back = tx(&r.run(1, &from_out(S, &udp(IP_S, 53, IP_P, 6000, b"a", 64))));
    assert_eq!(back, vec![(0, to_in(H, &udp(IP_S, 53, IP_H, 6000, b"a", 63)))]);
    let synack = tx(&r.run(1, &from_out(S, &tcp(IP_S, 443, IP_P, 7000, SYNACK, 9, 2, 64))));
    assert_eq!(synack, vec![(0, to_in(H2, &tcp(IP_S, 443, IP_H2, 7000, SYNACK, 9, 2, 63)))]);
    assert_eq!(
        conn_state(&r, FlowKey { src: IP_H2, dst: IP_S, sport: 7000, dport: 443, proto: 6 }),
        Some(TcpState::SynRecv)
    );
    // The new rule applies to new connections.
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 6001, IP_S, 5353, b"m", 64))), DropReason::FwDrop);
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len()), (2, 2));
}

#[test]
fn reload_that_takes_the_pool_address_away_drops_its_sessions_and_maps_anew() {
    let mut r = rig();
    tx(&r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64))));
    let a = r.reload(&cfg_pool("\"203.0.113.2\""));
    assert_eq!((a.ct_kept, a.ct_dropped), (0, 1), "{a:?}");
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len()), (0, 0), "the connection and its mapping are gone");
    // The reply to the old mapping has no connection any more: it does not reach H (the
    // old pool address is the outside gateway's now: port unreachable, back outside).
    let out = r.run(1, &from_out(S, &udp(IP_S, 53, IP_P, 6000, b"a", 64)));
    assert!(out.iter().all(|(_, a)| *a != Action::Tx(0)), "{out:?}");
    // A new packet of the same flow is mapped to the new pool address.
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(0xcb00_7102, 6000, IP_S, 53, b"q", 63)))]);
}

#[test]
fn reload_without_nat_drops_the_table_and_back_starts_empty() {
    let mut r = rig();
    tx(&r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64))));
    let plain = crate::nat::fixture::two_zones(
        "neighbor = [{ ip = \"198.51.100.10\", mac = \"02:00:00:00:00:0a\" }]",
        "neighbor = [{ ip = \"203.0.113.80\", mac = \"02:00:00:00:00:50\" }]",
        "",
    );
    let a = r.reload(&plain);
    assert_eq!(a.ct_dropped, 1);
    assert!(r.st.ct.is_none());
    // Routed without translation now.
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(IP_H, 6000, IP_S, 53, b"q", 63)))]);
    r.reload(&cfg());
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!(st.table.len(), 0);
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 6000, IP_S, 53, b"q", 63)))]);
}

#[test]
fn trace_shows_the_stateful_nodes() {
    let mut r = rig();
    r.st.trace.add(3, None);
    // a new connection through SNAT, its reply, and an unsolicited inbound packet
    r.run(0, &from_in(H, &tcp(IP_H, 40000, IP_S, 80, SYN, 100, 0, 64)));
    r.run(1, &from_out(S, &tcp(IP_S, 80, IP_P, 40000, SYNACK, 500, 101, 64)));
    r.run(1, &from_out(S, &tcp(IP_S, 80, IP_P, 40001, SYN, 1, 0, 64)));
    let head = [("l2-input", "l2-fwd"), ("l2-fwd", "ip4-input"), ("ip4-input", "ct-lookup")];
    let tail = [("ip4-forward", "ip4-neigh")];
    let mut want = super::tests::path(0, &head);
    want.extend(super::tests::path(0, &[("ct-lookup", "ct-new"), ("ct-new", "ip4-forward")]));
    // the server's MAC is not learned yet: flooded in its domain (one port)
    want.extend(super::tests::path(0, &tail));
    want.extend(super::tests::path(0, &[("ip4-neigh", "l2-flood"), ("l2-flood", "l2-output")]));
    want.push((0, "l2-output", "tx port 1".into()));
    want.extend(super::tests::path(1, &head));
    want.push((1, "ct-lookup", "ip4-forward".into()));
    want.extend(super::tests::path(1, &tail));
    want.push((1, "ip4-neigh", "tx port 0".into()));
    want.extend(super::tests::path(2, &head));
    want.extend(super::tests::path(2, &[("ct-lookup", "ct-new"), ("ct-new", "drop nat-no-mapping")]));
    assert_eq!(r.trace(), want);
    // the metadata carries the translated tuple after ct-new
    let rec = r.st.trace.records().find(|x| x.packet == 0 && x.node == Node::CtNew).copied().unwrap();
    assert_eq!(rec.meta.flow, FlowKey { src: IP_P, dst: IP_S, sport: 40000, dport: 80, proto: 6 });
}

const PA: u8 = 0x18;

/// H:42000 -> S:80 through SNAT, established: H's next sequence number is 1001, S's 5001
/// (windows of 1000 bytes each way, no scaling).
fn established_conn(r: &mut Rig) -> FlowKey {
    r.run(0, &from_in(H, &tcp(IP_H, 42000, IP_S, 80, SYN, 1000, 0, 64)));
    r.run(1, &from_out(S, &tcp(IP_S, 80, IP_P, 42000, SYNACK, 5000, 1001, 64)));
    r.run(0, &from_in(H, &tcp(IP_H, 42000, IP_S, 80, ACK, 1001, 5001, 64)));
    let k = FlowKey { src: IP_H, dst: IP_S, sport: 42000, dport: 80, proto: 6 };
    assert_eq!(conn_state(r, k), Some(TcpState::Established));
    k
}

/// One data segment each way, checked byte for byte: H sends `h` at `h_seq`, S answers `s`
/// at `s_seq`, each acknowledging what the other sent.
fn exchange(r: &mut Rig, h_seq: u32, s_seq: u32, h: &[u8], s: &[u8]) {
    let out = tx(&r.run(0, &from_in(H, &tcp_seg(IP_H, 42000, IP_S, 80, PA, h_seq, s_seq, h, 64))));
    assert_eq!(out, vec![(1, to_out(S, &tcp_seg(IP_P, 42000, IP_S, 80, PA, h_seq, s_seq, h, 63)))]);
    let h_next = h_seq + h.len() as u32;
    let out = tx(&r.run(1, &from_out(S, &tcp_seg(IP_S, 80, IP_P, 42000, PA, s_seq, h_next, s, 64))));
    assert_eq!(out, vec![(0, to_in(H, &tcp_seg(IP_S, 80, IP_H, 42000, PA, s_seq, h_next, s, 63)))]);
}

#[test]
fn a_spoofed_rst_outside_the_window_is_dropped_and_the_connection_goes_on() {
    // RFC 5961 3, RFC 7857 2.2: a RST changes the state only in the window (the attack of
    // `hping3 -R -s 80 -p 42000 -M 12345 203.0.113.1`).
    let mut r = rig();
    let k = established_conn(&mut r);
    exchange(&mut r, 1001, 5001, b"ping", b"pong");
    for seq in [12345, 5005 + 0x8000_0000, 5005 + 2000] {
        let rst = tcp(IP_S, 80, IP_P, 42000, RST, seq, 0, 64);
        assert_eq!(drop_of(&mut r, 1, &from_out(S, &rst)), DropReason::CtRstOutOfWindow, "seq {seq}");
        assert_eq!(conn_state(&r, k), Some(TcpState::Established));
    }
    // The same from inside (its own address and port).
    let rst = tcp(IP_H, 42000, IP_S, 80, RST | ACK, 1005 + 0x4000_0000, 5005, 64);
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &rst)), DropReason::CtRstOutOfWindow);
    // Data outside the window is dropped too (netfilter's INVALID).
    let far = tcp_seg(IP_S, 80, IP_P, 42000, PA, 5005 + 100_000, 1005, b"x", 64);
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &far)), DropReason::CtOutOfWindow);
    let bad_ack = tcp_seg(IP_S, 80, IP_P, 42000, PA, 5005, 1005 + 50, b"x", 64);
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &bad_ack)), DropReason::CtOutOfWindow);
    // The connection translates data both ways as before.
    exchange(&mut r, 1005, 5005, b"still", b"here");
    assert_eq!(conn_state(&r, k), Some(TcpState::Established));
    let d = r.drops();
    assert!(d.contains(&("ct-rst-out-of-window", 4)) && d.contains(&("ct-out-of-window", 2)), "{d:?}");
    assert!(!d.iter().any(|(n, _)| *n == "ct-invalid"), "{d:?}");
}

#[test]
fn a_rst_in_the_window_closes_at_the_exact_number_and_in_flight_data_passes() {
    let mut r = rig();
    let k = established_conn(&mut r);
    exchange(&mut r, 1001, 5001, b"ping", b"pong");
    // In the window, not at H's next expected number (5005): passed on, state kept; H's
    // challenge ACK (RFC 5961 3.2) goes out.
    let inexact = tcp(IP_S, 80, IP_P, 42000, RST, 5005 + 300, 0, 64);
    let out = tx(&r.run(1, &from_out(S, &inexact)));
    assert_eq!(out, vec![(0, to_in(H, &tcp(IP_S, 80, IP_H, 42000, RST, 5005 + 300, 0, 63)))]);
    assert_eq!(conn_state(&r, k), Some(TcpState::Established));
    let out = tx(&r.run(0, &from_in(H, &tcp(IP_H, 42000, IP_S, 80, ACK, 1005, 5005, 64))));
    assert_eq!(out, vec![(1, to_out(S, &tcp(IP_P, 42000, IP_S, 80, ACK, 1005, 5005, 63)))]);
    assert!(r.events().contains(&("ct-rst-inexact", 1)));
    // The exact RST closes.
    let out = tx(&r.run(1, &from_out(S, &tcp(IP_S, 80, IP_P, 42000, RST, 5005, 0, 64))));
    assert_eq!(out, vec![(0, to_in(H, &tcp(IP_S, 80, IP_H, 42000, RST, 5005, 0, 63)))]);
    assert_eq!(conn_state(&r, k), Some(TcpState::Close));
    // Data H sent before it saw the RST, and its FIN, still pass within the transitory time.
    for _ in 0..10 {
        r.tick(1000);
    }
    let late = tcp_seg(IP_H, 42000, IP_S, 80, PA, 1005, 5005, b"in flight", 64);
    let out = tx(&r.run(0, &from_in(H, &late)));
    assert_eq!(out, vec![(1, to_out(S, &tcp_seg(IP_P, 42000, IP_S, 80, PA, 1005, 5005, b"in flight", 63)))]);
    let out = tx(&r.run(0, &from_in(H, &tcp(IP_H, 42000, IP_S, 80, FIN, 1014, 5005, 64))));
    assert_eq!(out, vec![(1, to_out(S, &tcp(IP_P, 42000, IP_S, 80, FIN, 1014, 5005, 63)))]);
    // ... but not outside the window.
    let far = tcp_seg(IP_H, 42000, IP_S, 80, PA, 1005 + 0x1000_0000, 5005, b"x", 64);
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &far)), DropReason::CtOutOfWindow);
    assert_eq!(conn_state(&r, k), Some(TcpState::Close));
    assert!(!r.drops().iter().any(|(n, _)| *n == "ct-invalid"), "{:?}", r.drops());
}

#[test]
fn tcp_liberal_lets_segments_outside_the_window_through() {
    let cfg = cfg().replace("capacity = 64", "capacity = 64\ntcp_liberal = true");
    let mut r = Rig::with_config(&cfg, 1000);
    let k = established_conn(&mut r);
    let far = tcp_seg(IP_S, 80, IP_P, 42000, PA, 5001 + 100_000, 1001, b"x", 64);
    let out = tx(&r.run(1, &from_out(S, &far)));
    assert_eq!(out, vec![(0, to_in(H, &tcp_seg(IP_S, 80, IP_H, 42000, PA, 5001 + 100_000, 1001, b"x", 63)))]);
    // A RST outside the window passes too (the inside host ignores it) but changes nothing.
    let rst = tcp(IP_S, 80, IP_P, 42000, RST, 12345, 0, 64);
    let out = tx(&r.run(1, &from_out(S, &rst)));
    assert_eq!(out, vec![(0, to_in(H, &tcp(IP_S, 80, IP_H, 42000, RST, 12345, 0, 63)))]);
    assert_eq!(conn_state(&r, k), Some(TcpState::Established));
    exchange(&mut r, 1001, 5001, b"ping", b"pong");
    assert!(r.events().contains(&("ct-liberal", 2)), "{:?}", r.events());
    assert!(r.drops().is_empty(), "{:?}", r.drops());
}

/// The fixture with `lines` added to its source NAT rule (and `fw` to its firewall).
fn rig_snat(lines: &str, fw: &str) -> Rig {
    Rig::with_config(&cfg_snat(lines, fw), 1000)
}

fn cfg_snat(lines: &str, fw: &str) -> String {
    let rest = REST.replacen("pool = [\"203.0.113.1\"]\n", &format!("pool = [\"203.0.113.1\"]\n{lines}\n"), 1);
    let rest = format!("{rest}{fw}");
    crate::nat::fixture::two_zones(
        "neighbor = [{ ip = \"198.51.100.10\", mac = \"02:00:00:00:00:0a\" }, { ip = \"198.51.100.11\", mac = \"02:00:00:00:00:0b\" }]",
        "neighbor = [{ ip = \"203.0.113.80\", mac = \"02:00:00:00:00:50\" }, { ip = \"203.0.113.254\", mac = \"02:00:00:00:00:fe\" }]",
        &rest,
    )
}

fn count(v: &[(&'static str, u64)], name: &str) -> u64 {
    v.iter().find(|(n, _)| *n == name).map(|&(_, c)| c).unwrap_or(0)
}

#[test]
fn endpoint_independent_filtering_lets_anyone_in_to_a_mapping() {
    // RFC 4787 REQ-8 (endpoint-independent filtering), RFC 5382 REQ-3.
    let fw = "[[firewall.rule]]\nfrom = \"outside\"\nproto = \"udp\"\ndport = \"6666\"\naction = \"drop\"\n";
    let mut r = rig_snat("filtering = \"endpoint-independent\"", fw);
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_S, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 5000, IP_S, 53, b"q", 63)))]);
    // Another port of the same server, another server: both reach the inside endpoint.
    let out = tx(&r.run(1, &from_out(S, &udp(IP_S, 9999, IP_P, 5000, b"a", 64))));
    assert_eq!(out, vec![(0, to_in(H, &udp(IP_S, 9999, IP_H, 5000, b"a", 63)))]);
    let out = tx(&r.run(1, &from_out(RT, &udp(IP_RT, 7777, IP_P, 5000, b"b", 64))));
    assert_eq!(out, vec![(0, to_in(H, &udp(IP_RT, 7777, IP_H, 5000, b"b", 63)))]);
    // The inside host answers the newcomer through the same mapping.
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_RT, 7777, b"c", 64))));
    assert_eq!(out, vec![(1, to_out(RT, &udp(IP_P, 5000, IP_RT, 7777, b"c", 63)))]);
    // A TCP mapping takes a SYN from anyone (simultaneous open), not a stray ACK.
    let out = tx(&r.run(0, &from_in(H, &tcp(IP_H, 45000, IP_S, 80, SYN, 1, 0, 64))));
    assert_eq!(out, vec![(1, to_out(S, &tcp(IP_P, 45000, IP_S, 80, SYN, 1, 0, 63)))]);
    let out = tx(&r.run(1, &from_out(RT, &tcp(IP_RT, 1234, IP_P, 45000, SYN, 9, 0, 64))));
    assert_eq!(out, vec![(0, to_in(H, &tcp(IP_RT, 1234, IP_H, 45000, SYN, 9, 0, 63)))]);
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &tcp(IP_RT, 1235, IP_P, 45000, ACK, 9, 1, 64))), DropReason::CtInvalid);
    // No mapping on the port: nothing to let in; the firewall still judges what is let in.
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &udp(IP_S, 53, IP_P, 5001, b"x", 64))), DropReason::NatNoMapping);
    r.run(0, &from_in(H, &udp(IP_H, 6666, IP_S, 53, b"q", 64)));
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &udp(IP_RT, 1, IP_P, 6666, b"x", 64))), DropReason::FwDrop);
    assert_eq!(count(&r.events(), "nat-inbound-new"), 3);
    assert_eq!(count(&r.events(), "nat-mapping-new"), 3);
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len()), (6, 3));
    // The inbound connections hold the mapping: it lives until the last of them expires.
    for _ in 0..301 {
        r.tick(1000);
    }
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len()), (0, 0), "connections and mappings freed");
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &udp(IP_S, 9999, IP_P, 5000, b"a", 64))), DropReason::NatNoMapping);
}

#[test]
fn address_dependent_filtering_lets_in_only_addresses_sent_to() {
    // RFC 4787 REQ-8 (address-dependent filtering).
    let mut r = rig_snat("filtering = \"address-dependent\"", "");
    r.run(0, &from_in(H, &udp(IP_H, 5000, IP_S, 53, b"q", 64)));
    // Any port of the address the host sent to.
    let out = tx(&r.run(1, &from_out(S, &udp(IP_S, 9999, IP_P, 5000, b"a", 64))));
    assert_eq!(out, vec![(0, to_in(H, &udp(IP_S, 9999, IP_H, 5000, b"a", 63)))]);
    // Not another address, until the host sends to it (from the same endpoint).
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &udp(IP_RT, 7777, IP_P, 5000, b"b", 64))), DropReason::NatFiltered);
    assert_eq!(
        drop_of(&mut r, 1, &from_out(RT, &tcp(IP_RT, 7777, IP_P, 5000, SYN, 1, 0, 64))),
        DropReason::NatNoMapping,
        "a UDP mapping is not a TCP one"
    );
    r.run(0, &from_in(H, &udp(IP_H, 5001, IP_RT, 53, b"q", 64)));
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &udp(IP_RT, 7777, IP_P, 5000, b"b", 64))), DropReason::NatFiltered);
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_RT, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(RT, &udp(IP_P, 5000, IP_RT, 53, b"q", 63)))]);
    let out = tx(&r.run(1, &from_out(RT, &udp(IP_RT, 7777, IP_P, 5000, b"b", 64))));
    assert_eq!(out, vec![(0, to_in(H, &udp(IP_RT, 7777, IP_H, 5000, b"b", 63)))]);
    assert_eq!(count(&r.drops(), "nat-filtered"), 2);
    assert_eq!(count(&r.events(), "nat-inbound-new"), 2);
    assert_eq!(r.st.ct.as_ref().unwrap().peers.len(), 3);
    // Peers go with their connections.
    for _ in 0..301 {
        r.tick(1000);
    }
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len(), st.peers.len()), (0, 0, 0));
}

#[test]
fn address_and_port_dependent_filtering_lets_in_only_the_connection() {
    // RFC 4787 REQ-8: the default, also when spelled out.
    let mut r = rig_snat("filtering = \"address-and-port-dependent\"", "");
    r.run(0, &from_in(H, &udp(IP_H, 5000, IP_S, 53, b"q", 64)));
    let out = tx(&r.run(1, &from_out(S, &udp(IP_S, 53, IP_P, 5000, b"a", 64))));
    assert_eq!(out, vec![(0, to_in(H, &udp(IP_S, 53, IP_H, 5000, b"a", 63)))]);
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &udp(IP_S, 9999, IP_P, 5000, b"x", 64))), DropReason::NatFiltered);
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &udp(IP_RT, 53, IP_P, 5000, b"x", 64))), DropReason::NatFiltered);
    assert_eq!(count(&r.events(), "nat-inbound-new"), 0);
    assert_eq!(r.st.ct.as_ref().unwrap().table.len(), 1);
}

#[test]
fn a_remapped_port_keeps_its_parity() {
    // RFC 4787 REQ-4: the preserved port is taken, a port of the same parity is chosen.
    let mut r = rig();
    for (sport, data) in [(5001u16, b"o"), (5000, b"e")] {
        r.run(0, &from_in(H, &udp(IP_H, sport, IP_S, 53, data, 64)));
        let out = tx(&r.run(0, &from_in(H2, &udp(IP_H2, sport, IP_S, 53, data, 64))));
        let p = u16::from_be_bytes([out[0].1[34], out[0].1[35]]);
        assert_ne!(p, sport);
        assert_eq!(p % 2, sport % 2, "{sport} remapped to {p}");
        assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, p, IP_S, 53, data, 63)))]);
    }
}

#[test]
fn per_host_connection_limit_leaves_other_hosts_alone() {
    // RFC 6888 REQ-4 style limits: one host cannot take the table.
    let mut r = rig_snat("max_connections_per_host = 3", "");
    for p in 0..3u16 {
        let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 7000 + p, IP_S, 53, b"q", 64))));
        assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 7000 + p, IP_S, 53, b"q", 63)))]);
    }
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 7003, IP_S, 53, b"q", 64))), DropReason::NatHostConnLimit);
    assert_eq!(
        drop_of(&mut r, 0, &from_in(H, &tcp(IP_H, 7004, IP_S, 80, SYN, 1, 0, 64))),
        DropReason::NatHostConnLimit
    );
    // Known connections still pass; another host still opens its own.
    assert_eq!(tx(&r.run(0, &from_in(H, &udp(IP_H, 7000, IP_S, 53, b"q", 64)))).len(), 1);
    for p in 0..3u16 {
        let out = tx(&r.run(0, &from_in(H2, &udp(IP_H2, 8000 + p, IP_S, 53, b"q", 64))));
        assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 8000 + p, IP_S, 53, b"q", 63)))]);
    }
    assert_eq!(count(&r.drops(), "nat-host-conn-limit"), 2);
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!(st.hosts.get(IP_H).map(|h| (h.conns, h.ports)), Some((3, 3)));
    // Expiry releases the counts and frees the entries.
    for _ in 0..301 {
        r.tick(1000);
    }
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.hosts.len()), (0, 0));
    assert_eq!(tx(&r.run(0, &from_in(H, &udp(IP_H, 7003, IP_S, 53, b"q", 64)))).len(), 1);
}

#[test]
fn per_host_rate_limit_is_per_second() {
    let mut r = rig_snat("max_new_per_second_per_host = 2", "");
    for p in 0..2u16 {
        assert_eq!(tx(&r.run(0, &from_in(H, &udp(IP_H, 7000 + p, IP_S, 53, b"q", 64)))).len(), 1);
    }
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 7002, IP_S, 53, b"q", 64))), DropReason::NatHostRateLimit);
    let out = tx(&r.run(0, &from_in(H2, &udp(IP_H2, 8000, IP_S, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 8000, IP_S, 53, b"q", 63)))]);
    r.tick(1000);
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 7002, IP_S, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 7002, IP_S, 53, b"q", 63)))]);
    assert_eq!(count(&r.drops(), "nat-host-rate-limit"), 1);
}

#[test]
fn per_host_port_limit_counts_mappings_not_connections() {
    let mut r = rig_snat("max_ports_per_host = 2", "");
    r.run(0, &from_in(H, &udp(IP_H, 7000, IP_S, 53, b"q", 64)));
    r.run(0, &from_in(H, &tcp(IP_H, 7001, IP_S, 80, SYN, 1, 0, 64)));
    // A new destination on a held mapping needs no new port.
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 7000, IP_RT, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(RT, &udp(IP_P, 7000, IP_RT, 53, b"q", 63)))]);
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 7002, IP_S, 53, b"q", 64))), DropReason::NatHostPortLimit);
    assert_eq!(tx(&r.run(0, &from_in(H2, &udp(IP_H2, 7002, IP_S, 53, b"q", 64)))).len(), 1);
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!(st.hosts.get(IP_H).map(|h| (h.conns, h.ports)), Some((3, 2)));
    assert_eq!(count(&r.drops(), "nat-host-port-limit"), 1);
    // The TCP connection (SYN_SENT, transitory) goes first and its port with it.
    for _ in 0..241 {
        r.tick(1000);
    }
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!(st.hosts.get(IP_H).map(|h| (h.conns, h.ports)), Some((2, 1)));
    assert_eq!(tx(&r.run(0, &from_in(H, &udp(IP_H, 7002, IP_S, 53, b"q", 64)))).len(), 1);
    for _ in 0..301 {
        r.tick(1000);
    }
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len(), st.hosts.len()), (0, 0, 0));
}

#[test]
fn per_host_counts_and_peers_follow_a_reload_that_rebuilds_the_mappings() {
    let lines = "filtering = \"address-dependent\"\nmax_connections_per_host = 2\nmax_ports_per_host = 2";
    let mut r = rig_snat(lines, "");
    r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64)));
    r.run(0, &from_in(H, &udp(IP_H, 6001, IP_RT, 53, b"q", 64)));
    // The pool grows: the mappings are rebuilt, the connections kept, the counts too.
    let grown = cfg_snat(lines, "").replace("pool = [\"203.0.113.1\"]", "pool = [\"203.0.113.1\", \"203.0.113.2\"]");
    let a = r.reload(&grown);
    assert_eq!((a.ct_kept, a.ct_dropped), (2, 0), "{a:?}");
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!(st.hosts.get(IP_H).map(|h| (h.conns, h.ports)), Some((2, 2)));
    assert_eq!(st.peers.len(), 2);
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 6002, IP_S, 53, b"q", 64))), DropReason::NatHostConnLimit);
    let out = tx(&r.run(1, &from_out(S, &udp(IP_S, 7, IP_P, 6000, b"a", 64))));
    assert_eq!(out, vec![(0, to_in(H, &udp(IP_S, 7, IP_H, 6000, b"a", 63)))], "address-dependent after the reload");
    // The pool address goes: its connections are dropped and their counts with them.
    let gone = cfg_snat(lines, "").replace("pool = [\"203.0.113.1\"]", "pool = [\"203.0.113.2\"]");
    let a = r.reload(&gone);
    assert_eq!((a.ct_kept, a.ct_dropped), (0, 3), "{a:?}");
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!((st.table.len(), st.maps.len(), st.hosts.len(), st.peers.len()), (0, 0, 0, 0));
}

#[test]
fn a_flushed_connection_gives_its_host_count_back() {
    let mut r = rig_snat("max_connections_per_host = 1", "");
    r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64)));
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 6001, IP_S, 53, b"q", 64))), DropReason::NatHostConnLimit);
    let ct = r.st.ct.as_mut().unwrap();
    let (id, _) = ct.table.lookup(&FlowKey { src: IP_H, dst: IP_S, sport: 6000, dport: 53, proto: 17 }).unwrap();
    let c = ct.table.remove(id);
    ct.forget(&c, &mut crate::eventlog::EventLog::default(), 0);
    assert_eq!((ct.maps.len(), ct.hosts.len()), (0, 0));
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 6001, IP_S, 53, b"q", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 6001, IP_S, 53, b"q", 63)))]);
}

#[test]
fn dynamic_mappings_hairpin_with_their_filtering() {
    // RFC 4787 REQ-9, RFC 5382 REQ-8: H and H2 learn their external endpoints from S (a
    // STUN server), then reach each other through them. Each sees the other's external
    // address and port; filtering stays address and port dependent.
    let mut r = rig();
    assert_eq!(
        tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_S, 3478, b"stun", 64)))),
        vec![(1, to_out(S, &udp(IP_P, 5000, IP_S, 3478, b"stun", 63)))]
    );
    assert_eq!(
        tx(&r.run(0, &from_in(H2, &udp(IP_H2, 6000, IP_S, 3478, b"stun", 64)))),
        vec![(1, to_out(S, &udp(IP_P, 6000, IP_S, 3478, b"stun", 63)))]
    );
    // H to H2's mapping first: H2 never sent to P:5000, so its mapping filters it (as an
    // outside packet), but H's own connection toward P:6000 is made.
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &udp(IP_H, 5000, IP_P, 6000, b"hi", 64))), DropReason::NatNoMapping);
    // H2 to H's mapping: H sent to P:6000, so it passes, from H2's external endpoint.
    assert_eq!(
        tx(&r.run(0, &from_in(H2, &udp(IP_H2, 6000, IP_P, 5000, b"hello", 64)))),
        vec![(0, to_in(H, &udp(IP_P, 6000, IP_H, 5000, b"hello", 63)))]
    );
    // And now H to H2 goes through, from H's external endpoint.
    assert_eq!(
        tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_P, 6000, b"hi", 64)))),
        vec![(0, to_in(H2, &udp(IP_P, 5000, IP_H2, 6000, b"hi", 63)))]
    );
    // Another port of H2 (another mapping) is filtered by H's mapping.
    assert_eq!(drop_of(&mut r, 0, &from_in(H2, &udp(IP_H2, 6001, IP_P, 5000, b"x", 64))), DropReason::NatNoMapping);
    // The mappings stay endpoint independent: the same external endpoints toward S.
    assert_eq!(
        tx(&r.run(0, &from_in(H2, &udp(IP_H2, 6000, IP_S, 3478, b"again", 64)))),
        vec![(1, to_out(S, &udp(IP_P, 6000, IP_S, 3478, b"again", 63)))]
    );
    // From outside, an endpoint H2's mapping never sent to is filtered.
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &udp(IP_S, 1, IP_P, 6000, b"x", 64))), DropReason::NatFiltered);
    assert_eq!(r.st.ct.as_ref().unwrap().maps.len(), 3, "H:5000, H2:6000, H2:6001");
    // TCP hairpins the same way (H listening after it sent to H2's mapping).
    let mut r = rig();
    r.run(0, &from_in(H, &tcp(IP_H, 7000, IP_S, 80, SYN, 1, 0, 64)));
    r.run(0, &from_in(H2, &tcp(IP_H2, 7001, IP_S, 80, SYN, 1, 0, 64)));
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &tcp(IP_H, 7000, IP_P, 7001, SYN, 10, 0, 64))), DropReason::NatNoMapping);
    assert_eq!(
        tx(&r.run(0, &from_in(H2, &tcp(IP_H2, 7001, IP_P, 7000, SYN, 20, 0, 64)))),
        vec![(0, to_in(H, &tcp(IP_P, 7001, IP_H, 7000, SYN, 20, 0, 63)))]
    );
    assert_eq!(
        // (its SYN-ACK carries the initial sequence number of its own SYN, simultaneous open)
        tx(&r.run(0, &from_in(H, &tcp(IP_H, 7000, IP_P, 7001, SYNACK, 10, 21, 64)))),
        vec![(0, to_in(H2, &tcp(IP_P, 7000, IP_H2, 7001, SYNACK, 10, 21, 63)))]
    );
}

#[test]
fn icmp_error_with_a_bad_checksum_is_dropped_not_re_checksummed() {
    // RFC 5508 REQ-3.
    let mut r = rig();
    r.run(0, &from_in(H, &udp(IP_H, 7000, IP_S, 33434, b"probe", 64)));
    let seen = udp(IP_P, 7000, IP_S, 33434, b"probe", 63);
    let mut bad = icmp_err(IP_RT, IP_P, 3, 3, &seen, 64);
    bad[22] ^= 0x40; // the ICMP checksum
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &bad)), DropReason::IcmpBadChecksum);
    let mut bad = icmp_err(IP_RT, IP_P, 3, 3, &seen, 64);
    bad[54] ^= 1; // a byte of the quote (the quoted UDP checksum)
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &bad)), DropReason::IcmpBadChecksum);
    assert!(r.drops().contains(&("icmp-bad-checksum", 2)));
    let out = tx(&r.run(1, &from_out(RT, &icmp_err(IP_RT, IP_P, 3, 3, &seen, 64))));
    let sent = udp(IP_H, 7000, IP_S, 33434, b"probe", 63);
    assert_eq!(out, vec![(0, to_in(H, &icmp_err(IP_RT, IP_H, 3, 3, &sent, 63)))]);
    assert!(r.events().contains(&("icmp-error-translated", 1)));
}

#[test]
fn gre_and_esp_leave_address_translated() {
    // Address-only NAT: one inside host per protocol, external address and remote.
    let mut r = rig();
    let gre = [0u8, 0, 0x08, 0x00, 0x45, 0, 0, 20];
    assert_eq!(
        tx(&r.run(0, &from_in(H, &ipv4(IP_H, IP_S, 47, 64, &gre)))),
        vec![(1, to_out(S, &ipv4(IP_P, IP_S, 47, 63, &gre)))]
    );
    assert_eq!(
        tx(&r.run(1, &from_out(S, &ipv4(IP_S, IP_P, 47, 64, &gre)))),
        vec![(0, to_in(H, &ipv4(IP_S, IP_H, 47, 63, &gre)))]
    );
    // H2 cannot take GRE to S on the only pool address while H holds it; to another
    // remote it can, and ESP is another protocol.
    assert_eq!(drop_of(&mut r, 0, &from_in(H2, &ipv4(IP_H2, IP_S, 47, 64, &gre))), DropReason::NatAddrInUse);
    assert_eq!(
        tx(&r.run(0, &from_in(H2, &ipv4(IP_H2, IP_RT, 47, 64, &gre)))),
        vec![(1, to_out(RT, &ipv4(IP_P, IP_RT, 47, 63, &gre)))]
    );
    let esp = [0u8, 0, 0x10, 0x01, 0, 0, 0, 1, 0xaa, 0xbb];
    assert_eq!(
        tx(&r.run(0, &from_in(H2, &ipv4(IP_H2, IP_S, 50, 64, &esp)))),
        vec![(1, to_out(S, &ipv4(IP_P, IP_S, 50, 63, &esp)))]
    );
    assert_eq!(
        tx(&r.run(1, &from_out(S, &ipv4(IP_S, IP_P, 50, 64, &esp)))),
        vec![(0, to_in(H2, &ipv4(IP_S, IP_H2, 50, 63, &esp)))]
    );
    // GRE from a remote no inside host talks to finds no connection.
    assert_eq!(drop_of(&mut r, 1, &from_out(S, &ipv4(0xcb00_7163, IP_P, 47, 64, &gre))), DropReason::NatNoMapping);
    // DCCP has ports and a pseudo-header checksum: not translated address-only.
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &ipv4(IP_H, IP_S, 33, 64, &[0; 16]))), DropReason::NatUnsupportedProto);
    // The connection expires with the `other` timeout (600 s) and frees the address.
    for _ in 0..601 {
        r.tick(1000);
    }
    assert_eq!(
        tx(&r.run(0, &from_in(H2, &ipv4(IP_H2, IP_S, 47, 64, &gre)))),
        vec![(1, to_out(S, &ipv4(IP_P, IP_S, 47, 63, &gre)))]
    );
}

/// A TCP segment with an MSS option.
#[allow(clippy::too_many_arguments)]
fn tcp_mss(src: u32, sport: u16, dst: u32, dport: u16, flags: u8, seq: u32, ack: u32, ttl: u8, mss: u16) -> Vec<u8> {
    let mut t = vec![0u8; 24];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 6 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&1000u16.to_be_bytes());
    t[20..24].copy_from_slice(&[2, 4, (mss >> 8) as u8, mss as u8]);
    TcpPacket::new_checked(&mut t[..]).unwrap().fill_checksum(src, dst);
    ipv4(src, dst, 6, ttl, &t)
}

#[test]
fn mss_is_clamped_on_the_configured_zone_pair() {
    // RFC 4459 2.3: SYN and SYN-ACK of connections from inside to outside.
    let cfg =
        cfg().replace("to = \"outside\"\naction = \"accept\"", "to = \"outside\"\naction = \"accept\"\nmss = 1360");
    let mut r = Rig::with_config(&cfg, 1000);
    assert_eq!(
        tx(&r.run(0, &from_in(H, &tcp_mss(IP_H, 40000, IP_S, 80, SYN, 100, 0, 64, 1460)))),
        vec![(1, to_out(S, &tcp_mss(IP_P, 40000, IP_S, 80, SYN, 100, 0, 63, 1360)))]
    );
    // The retransmitted SYN too, and the SYN-ACK the other way.
    assert_eq!(
        tx(&r.run(0, &from_in(H, &tcp_mss(IP_H, 40000, IP_S, 80, SYN, 100, 0, 64, 1460)))),
        vec![(1, to_out(S, &tcp_mss(IP_P, 40000, IP_S, 80, SYN, 100, 0, 63, 1360)))]
    );
    assert_eq!(
        tx(&r.run(1, &from_out(S, &tcp_mss(IP_S, 80, IP_P, 40000, SYNACK, 500, 101, 64, 1460)))),
        vec![(0, to_in(H, &tcp_mss(IP_S, 80, IP_H, 40000, SYNACK, 500, 101, 63, 1360)))]
    );
    // A smaller MSS is left alone.
    assert_eq!(
        tx(&r.run(0, &from_in(H, &tcp_mss(IP_H, 40001, IP_S, 80, SYN, 100, 0, 64, 1200)))),
        vec![(1, to_out(S, &tcp_mss(IP_P, 40001, IP_S, 80, SYN, 100, 0, 63, 1200)))]
    );
    // Another zone pair (inside to inside, the port forward's hairpin) is not clamped.
    r.run(1, &from_out(S, &tcp(IP_S, 5555, IP_P, 8080, SYN, 1, 0, 64)));
    assert_eq!(
        tx(&r.run(0, &from_in(H2, &tcp_mss(IP_H2, 6000, IP_P, 8080, SYN, 1, 0, 64, 1460)))),
        vec![(0, to_in(H, &tcp_mss(IP_P, 6000, IP_H, 80, SYN, 1, 0, 63, 1460)))]
    );
    // Without the key nothing is clamped.
    let mut r = rig();
    assert_eq!(
        tx(&r.run(0, &from_in(H, &tcp_mss(IP_H, 40000, IP_S, 80, SYN, 100, 0, 64, 1460)))),
        vec![(1, to_out(S, &tcp_mss(IP_P, 40000, IP_S, 80, SYN, 100, 0, 63, 1460)))]
    );
    // The key is checked.
    let low = cfg.replace("mss = 1360", "mss = 100");
    let e = crate::config::Config::parse(&low, None).unwrap_err();
    assert_eq!(e.key, "firewall.policy[0].mss", "{e}");
}

#[test]
fn with_two_workers_a_hairpinned_packet_reaches_the_receivers_worker() {
    let cfg = cfg().replace("[conntrack]", "[dataplane]\nworkers = [1, 2]\n[conntrack]");
    let t = Tables::compile(&crate::config::Config::parse(&cfg, None).unwrap()).unwrap();
    let c = WorkerCounters::with_tunnels(2, 2, 0);
    let alloc = crate::buf::VecAlloc::default();
    let mut w: Vec<Pipeline<VecBuf>> = (0..2).map(|i| Pipeline::for_worker(&t, i, 32)).collect();
    let sec = t.sec.as_deref().unwrap();
    // A packet received by worker 0 on `port`, followed through every handoff; the handoffs.
    let send = |w: &mut [Pipeline<VecBuf>], port: u16, pkt: &[u8]| -> (Vec<u8>, Action, u32) {
        let (mut at, mut handed, mut pkt, mut hops) = (0usize, false, pkt.to_vec(), 0);
        loop {
            if handed {
                w[at].rx_handoff(&c, port, VecBuf::new(&pkt));
            } else {
                w[at].rx(&t, port, VecBuf::new(&pkt));
            }
            let mut out = Collect::default();
            w[at].run(&t, &alloc, &c, 1000, &mut out);
            let (f, a) = out.0.into_iter().next().unwrap();
            match a {
                Action::Handoff(o, _) if hops < 4 => {
                    (at, handed, pkt, hops) = (usize::from(o), true, f.data().to_vec(), hops + 1);
                }
                a => return (f.data().to_vec(), a, hops),
            }
        }
    };
    // Two inside endpoints owned by different workers.
    let owner = |src: u32, sport: u16| sec.owner(&FlowKey { src, dst: IP_S, sport, dport: 3478, proto: 17 });
    let p2 = (6000..).find(|&p| owner(IP_H2, p) != owner(IP_H, 5000)).unwrap();
    let ext = |f: &[u8]| u16::from_be_bytes([f[34], f[35]]);
    let (f, a, _) = send(&mut w, 0, &from_in(H, &udp(IP_H, 5000, IP_S, 3478, b"s", 64)));
    assert_eq!(a, Action::Tx(1));
    let x1 = ext(&f);
    let (f, a, _) = send(&mut w, 0, &from_in(H2, &udp(IP_H2, p2, IP_S, 3478, b"s", 64)));
    assert_eq!(a, Action::Tx(1));
    let x2 = ext(&f);
    assert_ne!(x1 % 2, x2 % 2, "the mappings live on different workers");
    let (_, a, _) = send(&mut w, 0, &from_in(H, &udp(IP_H, 5000, IP_P, x2, b"hi", 64)));
    assert_eq!(a, Action::Drop(DropReason::NatNoMapping), "filtered by H2's mapping");
    let (f, a, hops) = send(&mut w, 0, &from_in(H2, &udp(IP_H2, p2, IP_P, x1, b"hello", 64)));
    assert_eq!((f, a), (to_in(H, &udp(IP_P, x2, IP_H, 5000, b"hello", 63)), Action::Tx(0)));
    assert!(hops >= 1, "the second lookup ran on the receiver's worker");
    let (f, a, _) = send(&mut w, 0, &from_in(H, &udp(IP_H, 5000, IP_P, x2, b"hi", 64)));
    assert_eq!((f, a), (to_in(H2, &udp(IP_P, x1, IP_H2, p2, b"hi", 63)), Action::Tx(0)));
}

/// A rig whose worker logs to a ring; `destinations` as configured.
fn logged(cfg: &str, destinations: bool) -> (Rig, std::sync::Arc<crate::eventlog::Ring>) {
    use crate::eventlog::{EventLog, LogWhat, Ring};
    let mut r = Rig::with_config(cfg, 1000);
    let ring = std::sync::Arc::new(Ring::new(64));
    r.st.set_event_log(EventLog::new(ring.clone(), LogWhat { mappings: true, firewall: true, destinations }));
    (r, ring)
}

/// What the ring holds, as (kind, ms, proto, inside, external, destination) or, for a deny,
/// (kind, ms, proto, source, (rule, reject), destination).
type Row = (crate::eventlog::LogKind, u64, u8, (u32, u16), (u32, u16), (u32, u16));

fn rows(ring: &crate::eventlog::Ring) -> Vec<Row> {
    use crate::eventlog::LogKind;
    std::iter::from_fn(|| ring.pop())
        .map(|e| {
            let second =
                if e.kind == LogKind::FirewallDeny { (e.rule, u16::from(e.reject)) } else { (e.ext, e.ext_port) };
            (e.kind, e.ms, e.proto, (e.src, e.sport), second, (e.dst, e.dport))
        })
        .collect()
}

#[test]
fn the_event_log_records_each_mapping_once_and_every_deny() {
    use crate::eventlog::LogKind::{FirewallDeny as Deny, MappingCreate as Create, MappingDelete as Delete};
    let (mut r, ring) = logged(&cfg(), false);
    r.run(0, &from_in(H, &udp(IP_H, 5000, IP_S, 53, b"q", 64)));
    // The same inside endpoint to another destination: the mapping exists, no event.
    r.run(0, &from_in(H, &udp(IP_H, 5000, IP_RT, 53, b"q", 64)));
    let c = tx(&r.run(0, &from_in(H2, &udp(IP_H2, 5000, IP_S, 53, b"q", 64))));
    let p2 = u16::from_be_bytes([c[0].1[34], c[0].1[35]]);
    // Rule 0 rejects TCP to port 25, rule 2 drops UDP 7 to .99; destinations are not kept.
    r.run(0, &from_in(H, &tcp(IP_H, 40001, IP_S, 25, SYN, 1000, 0, 64)));
    r.run(0, &from_in(H, &udp(IP_H, 1, 0xcb00_7163, 7, b"x", 64)));
    // Address-only (GRE) binds the inside host to the pool address.
    r.run(0, &from_in(H, &ipv4(IP_H, IP_S, 47, 64, &[0, 0, 0x08, 0])));
    assert_eq!(
        rows(&ring),
        vec![
            (Create, 1000, 17, (IP_H, 5000), (IP_P, 5000), (0, 0)),
            (Create, 1000, 17, (IP_H2, 5000), (IP_P, p2), (0, 0)),
            (Deny, 1000, 6, (IP_H, 40001), (0, 1), (0, 0)),
            (Deny, 1000, 17, (IP_H, 1), (2, 0), (0, 0)),
            (Create, 1000, 47, (IP_H, 0), (IP_P, 0), (0, 0)),
        ]
    );
    // Hit counters: rules 0 and 2 once, rule 1 never; the inside -> outside policy accepted
    // four connections (three UDP, GRE). Zones: inside 0, outside 1; 3 rules.
    let hits = r.st.firewall_hits().to_vec();
    assert_eq!(hits.len(), 3 + 4 + 1);
    assert_eq!(&hits[..3], &[1, 0, 1]);
    assert_eq!(hits[3 + 1], 4, "{hits:?}");
    assert_eq!(hits.iter().sum::<u64>(), 6);
    // A control flush of H2's connection ends its mapping; expiry ends the others (H's
    // mapping once its second connection went too), each exactly once.
    let f = crate::conntrack::Filter { src: Some(IP_H2), ..Default::default() };
    assert_eq!(r.st.ct_flush(&f, 0, 1 << 16, 1500), 1);
    assert_eq!(rows(&ring), vec![(Delete, 1500, 17, (IP_H2, 5000), (IP_P, p2), (0, 0))]);
    for _ in 0..601 {
        r.tick(1000);
    }
    assert_eq!(
        rows(&ring),
        vec![
            (Delete, 301_000, 17, (IP_H, 5000), (IP_P, 5000), (0, 0)),
            (Delete, 601_000, 47, (IP_H, 0), (IP_P, 0), (0, 0))
        ]
    );
    assert_eq!(r.st.ct.as_ref().unwrap().maps.len(), 0);
}

#[test]
fn the_event_log_keeps_destinations_only_when_asked_and_logs_what_a_reload_drops() {
    use crate::eventlog::LogKind::{MappingCreate as Create, MappingDelete as Delete};
    let (mut r, ring) = logged(&cfg(), true);
    r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64)));
    r.run(0, &from_in(H2, &udp(IP_H2, 7000, IP_S, 53, b"q", 64)));
    assert_eq!(
        rows(&ring),
        vec![
            (Create, 1000, 17, (IP_H, 6000), (IP_P, 6000), (IP_S, 53)),
            (Create, 1000, 17, (IP_H2, 7000), (IP_P, 7000), (IP_S, 53)),
        ]
    );
    // Taking the pool address away drops both sessions: both mappings end in the log.
    let a = r.reload(&cfg_pool("\"203.0.113.2\""));
    assert_eq!(a.ct_dropped, 2);
    let mut got = rows(&ring);
    got.sort_by_key(|x| x.3);
    assert_eq!(
        got,
        vec![
            (Delete, 1000, 17, (IP_H, 6000), (IP_P, 6000), (0, 0)),
            (Delete, 1000, 17, (IP_H2, 7000), (IP_P, 7000), (0, 0))
        ]
    );
    // A reload that keeps the firewall keeps the rules' hit counts; one that changes a rule
    // starts that rule afresh.
    r.run(0, &from_in(H, &udp(IP_H, 40002, IP_S, 9, b"x", 64)));
    assert_eq!(r.st.firewall_hits()[1], 1);
    r.reload(&cfg_pool("\"203.0.113.2\""));
    assert_eq!(r.st.firewall_hits()[1], 1);
    r.reload(&cfg_pool("\"203.0.113.2\"").replace("dport = \"9\"", "dport = \"19\""));
    assert_eq!(r.st.firewall_hits()[1], 0);
}

#[test]
fn a_full_event_ring_counts_what_it_lost() {
    let mut r = Rig::with_config(&cfg(), 1000);
    let ring = std::sync::Arc::new(crate::eventlog::Ring::new(1));
    let what = crate::eventlog::LogWhat { mappings: true, firewall: true, destinations: false };
    r.st.set_event_log(crate::eventlog::EventLog::new(ring.clone(), what));
    r.run(0, &from_in(H, &udp(IP_H, 6000, IP_S, 53, b"q", 64)));
    r.run(0, &from_in(H, &udp(IP_H, 6001, IP_S, 53, b"q", 64)));
    r.run(0, &from_in(H, &udp(IP_H, 6002, IP_S, 53, b"q", 64)));
    r.tick(1);
    assert_eq!(ring.len(), 1);
    assert_eq!(count(&r.events(), "event-log-lost"), 2);
    // The packets went through all the same.
    assert_eq!(r.st.ct.as_ref().unwrap().maps.len(), 3);
}

#[test]
fn icmp_errors_about_hairpinned_packets_reach_the_sender() {
    // RFC 5508 REQ-7 (MUST): hairpinned ICMP errors; REQ-7a: their outer destination is the
    // quoted source after translation. H's datagram reaches H2 through H2's mapping; H2
    // answers port unreachable quoting what it got, and H gets it quoting what it sent.
    let mut r = rig();
    r.run(0, &from_in(H, &udp(IP_H, 5000, IP_S, 3478, b"stun", 64)));
    r.run(0, &from_in(H2, &udp(IP_H2, 6000, IP_S, 3478, b"stun", 64)));
    r.run(0, &from_in(H, &udp(IP_H, 5000, IP_P, 6000, b"hi", 64)));
    r.run(0, &from_in(H2, &udp(IP_H2, 6000, IP_P, 5000, b"hello", 64)));
    let got = udp(IP_P, 5000, IP_H2, 6000, b"hi", 63);
    assert_eq!(tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_P, 6000, b"hi", 64)))), vec![(0, to_in(H2, &got))]);
    let sent = udp(IP_H, 5000, IP_P, 6000, b"hi", 63);
    for (kind, code) in [(3u8, 3u8), (11, 0)] {
        let out = tx(&r.run(0, &from_in(H2, &icmp_err(IP_H2, IP_P, kind, code, &got, 64))));
        assert_eq!(out, vec![(0, to_in(H, &icmp_err(IP_P, IP_H, kind, code, &sent, 63)))], "type {kind} code {code}");
    }
    // Both connections stay (RFC 4787 REQ-12).
    assert_eq!(tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_P, 6000, b"hi", 64)))), vec![(0, to_in(H2, &got))]);
    assert_eq!(count(&r.events(), "icmp-error-translated"), 4, "each error translated twice");
    // An error quoting a pool endpoint no connection knows goes nowhere.
    let stray = udp(IP_P, 5999, IP_H2, 6000, b"x", 63);
    assert_eq!(drop_of(&mut r, 0, &from_in(H2, &icmp_err(IP_H2, IP_P, 3, 3, &stray, 64))), DropReason::CtUntracked);
}

#[test]
fn an_icmp_error_about_a_tcp_connection_is_translated_and_keeps_it() {
    // RFC 5382 REQ-9 (translate Destination Unreachable about TCP) and REQ-10 (no ICMP
    // message ends a TCP connection).
    let mut r = rig();
    let k = established_conn(&mut r);
    let seen = tcp(IP_P, 42000, IP_S, 80, ACK, 1001, 5001, 63);
    let sent = tcp(IP_H, 42000, IP_S, 80, ACK, 1001, 5001, 63);
    for (kind, code) in [(3u8, 4u8), (3, 1), (11, 0)] {
        let out = tx(&r.run(1, &from_out(RT, &icmp_err(IP_RT, IP_P, kind, code, &seen, 64))));
        assert_eq!(out, vec![(0, to_in(H, &icmp_err(IP_RT, IP_H, kind, code, &sent, 63)))], "type {kind} code {code}");
        assert_eq!(conn_state(&r, k), Some(TcpState::Established));
    }
    let out = tx(&r.run(0, &from_in(H, &tcp_seg(IP_H, 42000, IP_S, 80, ACK, 1001, 5001, b"x", 64))));
    assert_eq!(out, vec![(1, to_out(S, &tcp_seg(IP_P, 42000, IP_S, 80, ACK, 1001, 5001, b"x", 63)))]);
}

#[test]
fn icmp_errors_do_not_refresh_an_echo_session() {
    // RFC 5508 REQ-6: an error about a query session neither refreshes nor deletes it; it
    // expires `icmp` (60 s) after its last echo, whatever errors came since.
    let mut r = rig();
    let out = tx(&r.run(0, &from_in(H, &ipv4(IP_H, IP_S, 1, 64, &echo(8, 0x4242, 1, b"p")))));
    let id = u16::from_be_bytes([out[0].1[38], out[0].1[39]]);
    let seen = ipv4(IP_P, IP_S, 1, 63, &echo(8, id, 1, b"p"));
    for _ in 0..2 {
        for _ in 0..20 {
            r.tick(1000);
        }
        assert_eq!(tx(&r.run(1, &from_out(RT, &icmp_err(IP_RT, IP_P, 3, 1, &seen, 64)))).len(), 1);
    }
    for _ in 0..21 {
        r.tick(1000);
    }
    assert_eq!(drop_of(&mut r, 1, &from_out(RT, &icmp_err(IP_RT, IP_P, 3, 1, &seen, 64))), DropReason::CtUntracked);
    assert_eq!(r.st.ct.as_ref().unwrap().maps.len(), 0, "the identifier's mapping went with it");
}

#[test]
fn an_icmp_error_from_inside_leaves_from_the_public_address() {
    // RFC 5508 REQ-5: an error from the private realm about an inbound (port-forwarded)
    // packet: quoted packet restored as the outside sender sent it, outer source the
    // public address, type and code kept.
    let mut r = rig();
    tx(&r.run(1, &from_out(S, &tcp(IP_S, 5555, IP_P, 8080, SYN, 1, 0, 64))));
    let got = tcp(IP_S, 5555, IP_H, 80, SYN, 1, 0, 63);
    let out = tx(&r.run(0, &from_in(H, &icmp_err(IP_H, IP_S, 3, 3, &got, 64))));
    let sent = tcp(IP_S, 5555, IP_P, 8080, SYN, 1, 0, 63);
    assert_eq!(out, vec![(1, to_out(S, &icmp_err(IP_P, IP_S, 3, 3, &sent, 63)))]);
}

#[test]
fn one_echo_identifier_maps_the_same_toward_every_destination() {
    // RFC 5508 REQ-1a: the identifier mapping does not depend on the external host.
    let mut r = rig();
    let a = tx(&r.run(0, &from_in(H, &ipv4(IP_H, IP_S, 1, 64, &echo(8, 0x1234, 1, b"a")))));
    let b = tx(&r.run(0, &from_in(H, &ipv4(IP_H, IP_RT, 1, 64, &echo(8, 0x1234, 1, b"b")))));
    let id = |f: &[u8]| u16::from_be_bytes([f[38], f[39]]);
    assert_eq!(id(&a[0].1), id(&b[0].1));
    assert_eq!(r.st.ct.as_ref().unwrap().maps.len(), 1);
}

#[test]
fn timestamp_queries_through_snat_like_echo() {
    // RFC 5508 REQ-1 (MUST): ICMP queries initiated inside, not only echo; the identifier
    // is mapped as an echo's is.
    let mut r = rig();
    let ts = |kind: u8, id: u16| echo(kind, id, 7, &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
    let out = tx(&r.run(0, &from_in(H, &ipv4(IP_H, IP_S, 1, 64, &ts(13, 0x4242)))));
    let id = u16::from_be_bytes([out[0].1[38], out[0].1[39]]);
    assert_eq!(out, vec![(1, to_out(S, &ipv4(IP_P, IP_S, 1, 63, &ts(13, id))))]);
    let out = tx(&r.run(1, &from_out(S, &ipv4(IP_S, IP_P, 1, 64, &ts(14, id)))));
    assert_eq!(out, vec![(0, to_in(H, &ipv4(IP_S, IP_H, 1, 63, &ts(14, 0x4242))))]);
    // A reply nobody asked for starts nothing; other ICMP types are not tracked.
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &ipv4(IP_H, IP_S, 1, 64, &ts(14, 9)))), DropReason::CtInvalid);
    assert_eq!(drop_of(&mut r, 0, &from_in(H, &ipv4(IP_H, IP_S, 1, 64, &ts(17, 9)))), DropReason::CtUntracked);
}

#[test]
fn one_inside_endpoint_has_a_mapping_per_zone_it_leaves_into() {
    // Two source NAT rules for the same inside prefix into two zones: each zone's traffic
    // leaves with that zone's pool (endpoint-independent mapping is per external realm,
    // RFC 4787 REQ-1); the mapping into one zone is never reused for the other.
    const P2: u32 = 0xc000_0201; // 192.0.2.1, the partner zone's pool (its gateway)
    const PEER: u32 = 0xc000_0232; // 192.0.2.50
    const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x32]);
    let extra = r#"
[[port]]
name = "dmz"
devargs = "net_null2"
mode = "access"
vlan = 30
[[bridge]]
name = "dmz"
vlan = 30
gateway = "192.0.2.1/24"
zone = "partner"
neighbor = [{ ip = "192.0.2.50", mac = "02:00:00:00:00:32" }]
[[nat.snat]]
from = ["198.51.100.0/24"]
zone = "partner"
pool = ["192.0.2.1"]
[[firewall.policy]]
from = "inside"
to = "partner"
action = "accept"
"#;
    let mut r = Rig::with_config(&(cfg() + extra), 1000);
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, IP_S, 53, b"a", 64))));
    assert_eq!(out, vec![(1, to_out(S, &udp(IP_P, 5000, IP_S, 53, b"a", 63)))]);
    let out = tx(&r.run(0, &from_in(H, &udp(IP_H, 5000, PEER, 53, b"b", 64))));
    assert_eq!(out.len(), 1, "{out:?}");
    let (port, frame) = &out[0];
    assert_eq!(*port, 2);
    assert_eq!(&frame[..6], &PEER_MAC.0);
    assert_eq!(&frame[14..], &udp(P2, 5000, PEER, 53, b"b", 63)[..], "the partner zone's pool, not {IP_P:#x}");
    let st = r.st.ct.as_ref().unwrap();
    assert_eq!(st.maps.len(), 2);
    let zones: Vec<u8> = st.maps.iter().map(|m| m.zone).collect();
    assert!(zones.contains(&1) && zones.contains(&2), "{zones:?}");
    // Replies come back through each zone's mapping.
    let gw_dmz =
        MacAddr::from_u64(u64::from_be_bytes([0, 0, frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]]));
    let back = eth(gw_dmz, PEER_MAC, &[], EtherType::IPV4, &udp(PEER, 53, P2, 5000, b"r", 64));
    assert_eq!(tx(&r.run(2, &back)), vec![(0, to_in(H, &udp(PEER, 53, IP_H, 5000, b"r", 63)))]);
}
