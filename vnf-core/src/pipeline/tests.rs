//! Pipeline tests on VecBuf: a frame in, the exact frames out (or the exact drop).

use super::*;
use crate::buf::{VecAlloc, VecBuf};
use crate::config::Config;
use crate::wire::arp::ArpRepr;
use crate::wire::checksum;
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::vlan::Tag;
use crate::wire::EtherType;

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
[[port]]
name = "t"
devargs = "net_null3"
mode = "trunk"
allowed_vlans = [10, 20]
[[port]]
name = "q"
devargs = "net_null4"
mode = "trunk"
outer_vlan = 100
allowed_vlans = [10]
[[bridge]]
name = "v10"
vlan = 10
gateway = "192.0.2.254/24"
[[bridge]]
name = "v20"
vlan = 20
gateway = "198.51.100.1/24"
[[route]]
prefix = "203.0.113.0/24"
via = "198.51.100.7"
[routing]
arp_retry_ms = 100
arp_retries = 2
"#;

const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa1]);
const A2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa2]);
const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb1]);
const R: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x77]);
const GW10: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 10]);
const GW20: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 20]);
const IP_A: u32 = 0xc000_0201; // 192.0.2.1
const IP_GW10: u32 = 0xc000_02fe; // 192.0.2.254
const IP_B: u32 = 0xc633_6402; // 198.51.100.2
const IP_GW20: u32 = 0xc633_6401; // 198.51.100.1
const IP_R: u32 = 0xc633_6407; // 198.51.100.7

/// What a packet came to, in the tests' words.
pub(super) type Action = Output;

/// A sink that keeps what leaves the frame, with its output, in order.
#[derive(Default)]
pub(super) struct Collect(pub(super) Vec<(VecBuf, Output)>);

impl Sink<VecBuf> for Collect {
    fn tx(&mut self, port: u16, b: VecBuf) {
        self.0.push((b, Output::Tx(port)));
    }
    fn handoff(&mut self, worker: u16, port: u16, b: VecBuf) {
        self.0.push((b, Output::Handoff(worker, port)));
    }
    fn free(&mut self, b: VecBuf, why: Output) {
        self.0.push((b, why));
    }
}

/// A pipeline on VecBufs with its tables, state and counters: shared by the VXLAN and NAT
/// tests. Drops and consumed packets are reported from the frame's output point too.
pub(super) struct Rig {
    pub(super) t: Tables,
    pub(super) st: Pipeline<VecBuf>,
    pub(super) alloc: VecAlloc,
    pub(super) c: crossbeam_utils::CachePadded<WorkerCounters>,
    pub(super) now: u64,
}

impl Rig {
    fn new() -> Rig {
        Rig::with_config(CFG, 1000)
    }
    /// A rig running `cfg` with the clock at `now` ms.
    pub(super) fn with_config(cfg: &str, now: u64) -> Rig {
        let t = Tables::compile(&Config::parse(cfg, None).unwrap()).unwrap();
        let st = Pipeline::new(&t);
        let c = WorkerCounters::with_tunnels(t.roles.len(), t.domains.len(), t.remote_vteps.len());
        Rig { t, st, alloc: VecAlloc::default(), c, now }
    }
    pub(super) fn run(&mut self, port: u16, frame: &[u8]) -> Vec<(Vec<u8>, Action)> {
        self.st.rx(&self.t, port, VecBuf::with_room(frame, VecBuf::DEFAULT_HEADROOM, 64));
        self.finish(false)
    }
    pub(super) fn tick(&mut self, ms: u64) -> Vec<(Vec<u8>, Action)> {
        self.now += ms;
        self.finish(true)
    }
    /// Runs the graph (or the timers) and returns what reached an output, in order.
    pub(super) fn finish(&mut self, tick: bool) -> Vec<(Vec<u8>, Action)> {
        let overflow = self.c.snapshot().drops[DropReason::EmitOverflow.index()];
        let mut out = Collect::default();
        if tick {
            self.st.tick(&self.t, &self.alloc, &self.c, self.now, &mut out);
        } else {
            self.st.run(&self.t, &self.alloc, &self.c, self.now, &mut out);
        }
        assert_eq!(self.c.snapshot().drops[DropReason::EmitOverflow.index()], overflow);
        out.0.into_iter().map(|(b, a)| (b.data().to_vec(), a)).collect()
    }
    /// Moves the rig to `cfg` the way a worker adopts a reloaded config.
    pub(super) fn reload(&mut self, cfg: &str) -> Adopted {
        let t = Tables::compile(&Config::parse(cfg, None).unwrap()).unwrap();
        let r = Remap::between(&self.t, &t);
        let a = self.st.adopt(&self.t, &t, &r, self.now);
        self.st.resize(&t, 32);
        self.t = t;
        a
    }
    pub(super) fn drops(&self) -> Vec<(&'static str, u64)> {
        self.c.snapshot().named_drops()
    }
    pub(super) fn events(&self) -> Vec<(&'static str, u64)> {
        self.c.snapshot().named_events()
    }
}

pub(super) fn eth(dst: MacAddr, src: MacAddr, tags: &[Tag], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![];
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    for t in tags {
        let mut b = [0u8; 4];
        t.emit(&mut b);
        f.extend_from_slice(&b);
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub(super) fn ipv4(src: u32, dst: u32, proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    Ipv4Repr {
        src,
        dst,
        protocol: proto,
        payload_len: payload.len() as u16,
        ttl,
        dscp_ecn: 0,
        ident: 0x4242,
        dont_frag: true,
    }
    .emit(&mut b);
    b.extend_from_slice(payload);
    b
}

pub(super) fn echo(kind: u8, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut b = vec![kind, 0, 0, 0];
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(data);
    let c = checksum::checksum(&b);
    b[2..4].copy_from_slice(&c.to_be_bytes());
    b
}

/// The IPv4 packet of an ICMP error from `src` to `dst` about `orig` (its header and 8
/// bytes), as icmp4-error makes it.
pub(super) fn icmp_error(src: u32, dst: u32, kind: u8, code: u8, rest: u32, orig: &[u8]) -> Vec<u8> {
    let hl = usize::from(orig[0] & 0x0f) * 4;
    let mut icmp = vec![kind, code, 0, 0];
    icmp.extend_from_slice(&rest.to_be_bytes());
    icmp.extend_from_slice(&orig[..(hl + 8).min(orig.len())]);
    let c = checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0u8; 20];
    Ipv4Repr {
        src,
        dst,
        protocol: 1,
        payload_len: icmp.len() as u16,
        ttl: 64,
        dscp_ecn: 0xc0,
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut ip);
    ip.extend_from_slice(&icmp);
    ip
}

pub(super) fn udp_payload() -> Vec<u8> {
    // ports 1000 -> 2000, length 12, checksum 0 (none), 4 data bytes
    vec![0x03, 0xe8, 0x07, 0xd0, 0, 12, 0, 0, 1, 2, 3, 4]
}

pub(super) fn arp_frame(
    op: u16,
    smac: MacAddr,
    sip: u32,
    tmac: MacAddr,
    tip: u32,
    eth_dst: MacAddr,
    tags: &[Tag],
) -> Vec<u8> {
    let mut p = [0u8; 28];
    ArpRepr { operation: op, sender_mac: smac, sender_ip: sip, target_mac: tmac, target_ip: tip }.emit(&mut p);
    eth(eth_dst, smac, tags, EtherType::ARP, &p)
}

pub(super) fn padded(mut f: Vec<u8>, len: usize) -> Vec<u8> {
    f.resize(len, 0);
    f
}

pub(super) fn tx(v: &[(Vec<u8>, Action)]) -> Vec<(u16, Vec<u8>)> {
    v.iter()
        .map(|(b, a)| match a {
            Action::Tx(p) => (*p, b.clone()),
            other => panic!("expected only Tx, got {other:?}"),
        })
        .collect()
}

#[test]
fn unknown_unicast_floods_with_each_ports_tags() {
    let mut r = Rig::new();
    let pl = ipv4(IP_A, 0xc000_0202, 17, 64, &udp_payload());
    let f = eth(B, A, &[], EtherType::IPV4, &pl);
    let out = tx(&r.run(0, &f));
    assert_eq!(
        out,
        vec![
            (1, f.clone()),
            (3, eth(B, A, &[Tag::c(10)], EtherType::IPV4, &pl)),
            (4, eth(B, A, &[Tag::s(100), Tag::c(10)], EtherType::IPV4, &pl)),
        ]
    );
    assert_eq!(r.events(), vec![("flooded", 1), ("flood-copies", 2), ("fdb-learned", 1)]);
}

#[test]
fn learned_destinations_are_unicast_and_tags_are_rewritten() {
    let mut r = Rig::new();
    let pl = ipv4(IP_A, 0xc000_0202, 17, 64, &udp_payload());
    // B speaks from the QinQ trunk in VLAN 10 (priority 5 kept on egress)
    let from_b = eth(A, B, &[Tag { pcp: 5, ..Tag::s(100) }, Tag { pcp: 5, ..Tag::c(10) }], EtherType::IPV4, &pl);
    r.run(4, &from_b);
    // A now reaches B only through the QinQ trunk: untagged in, two tags out
    let out = tx(&r.run(0, &eth(B, A, &[], EtherType::IPV4, &pl)));
    assert_eq!(out, vec![(4, eth(B, A, &[Tag::s(100), Tag::c(10)], EtherType::IPV4, &pl))]);
    // and B reaches A: two tags in, none out
    let out = tx(&r.run(4, &from_b));
    assert_eq!(out, vec![(0, eth(A, B, &[], EtherType::IPV4, &pl))]);
    // trunk (one tag) to QinQ (two tags) keeps the priority of the C-tag
    r.run(3, &eth(A2, A2, &[Tag { pcp: 3, ..Tag::c(10) }], EtherType::IPV4, &pl)).len();
    let out = tx(&r.run(3, &eth(B, A2, &[Tag { pcp: 3, ..Tag::c(10) }], EtherType::IPV4, &pl)));
    assert_eq!(
        out,
        vec![(4, eth(B, A2, &[Tag { pcp: 3, ..Tag::s(100) }, Tag { pcp: 3, ..Tag::c(10) }], EtherType::IPV4, &pl))]
    );
}

#[test]
fn drop_eligibility_is_carried_through_the_bridge() {
    // IEEE 802.1Q: DEI goes with the frame as PCP does (Linux keeps vlan_tci whole).
    let mut r = Rig::new();
    let pl = ipv4(IP_A, 0xc000_0202, 17, 64, &udp_payload());
    let tag = Tag { pcp: 5, dei: true, ..Tag::c(10) };
    r.run(3, &eth(A2, A2, &[tag], EtherType::IPV4, &pl));
    r.run(4, &eth(B, B, &[Tag::s(100), Tag::c(10)], EtherType::IPV4, &pl));
    // trunk (one tag) to QinQ (two tags): both tags carry PCP 5 and DEI 1
    let out = tx(&r.run(3, &eth(B, A2, &[tag], EtherType::IPV4, &pl)));
    let s = Tag { pcp: 5, dei: true, ..Tag::s(100) };
    assert_eq!(out, vec![(4, eth(B, A2, &[s, tag], EtherType::IPV4, &pl))]);
    // and back to the trunk: the C-tag's DEI stays set
    let out = tx(&r.run(4, &eth(A2, B, &[Tag::s(100), tag], EtherType::IPV4, &pl)));
    assert_eq!(out, vec![(3, eth(A2, B, &[tag], EtherType::IPV4, &pl))]);
    // flooded (A unknown): untagged out of the access ports, both bits kept on the QinQ trunk
    let out = tx(&r.run(3, &eth(A, A2, &[tag], EtherType::IPV4, &pl)));
    let plain = eth(A, A2, &[], EtherType::IPV4, &pl);
    assert_eq!(out, vec![(0, plain.clone()), (1, plain), (4, eth(A, A2, &[s, tag], EtherType::IPV4, &pl))]);
}

#[test]
fn vlan_policy_drops_are_named() {
    let mut r = Rig::new();
    let pl = ipv4(IP_A, 0xc000_0202, 17, 64, &udp_payload());
    let cases: Vec<(u16, Vec<u8>, DropReason)> = vec![
        (3, eth(B, A, &[Tag::c(30)], EtherType::IPV4, &pl), DropReason::VlanNotAllowed),
        (3, eth(B, A, &[], EtherType::IPV4, &pl), DropReason::UntaggedNotAllowed),
        (0, eth(B, A, &[Tag::c(20)], EtherType::IPV4, &pl), DropReason::VlanNotAllowed),
        (4, eth(B, A, &[Tag::c(10)], EtherType::IPV4, &pl), DropReason::VlanNotAllowed),
        (4, eth(B, A, &[Tag::s(101), Tag::c(10)], EtherType::IPV4, &pl), DropReason::VlanNotAllowed),
        (4, eth(B, A, &[Tag::s(100), Tag::c(20)], EtherType::IPV4, &pl), DropReason::VlanNotAllowed),
        (0, eth(B, MacAddr::BROADCAST, &[], EtherType::IPV4, &pl), DropReason::BadSrcMac),
        (0, eth(B, MacAddr::default(), &[], EtherType::IPV4, &pl), DropReason::BadSrcMac),
        (0, eth(MacAddr([0x01, 0x80, 0xc2, 0, 0, 0]), A, &[], 0x0027, &pl), DropReason::LinkLocalDst),
        (0, f_short(), DropReason::Malformed),
    ];
    for (port, f, why) in cases {
        assert_eq!(r.run(port, &f), vec![(f.clone(), Action::Drop(why))], "{why:?}");
    }
    // accepted variants: priority-tagged and same-VLAN-tagged frames on an access port
    assert_eq!(r.run(0, &eth(B, A, &[Tag::c(0)], EtherType::IPV4, &pl)).len(), 3);
    assert_eq!(r.run(0, &eth(B, A, &[Tag::c(10)], EtherType::IPV4, &pl)).len(), 3);
    // same port: A is behind port 0
    assert_eq!(
        r.run(0, &eth(A, A2, &[], EtherType::IPV4, &pl)),
        vec![(eth(A, A2, &[], EtherType::IPV4, &pl), Action::Drop(DropReason::SamePort))]
    );
}

fn f_short() -> Vec<u8> {
    vec![0xff; 13]
}

#[test]
fn arp_for_the_gateway_is_answered_and_still_flooded() {
    let mut r = Rig::new();
    let req = arp_frame(1, A, IP_A, MacAddr::default(), IP_GW10, MacAddr::BROADCAST, &[]);
    let out = tx(&r.run(0, &req));
    let reply = padded(arp_frame(2, GW10, IP_GW10, A, IP_A, A, &[]), 60);
    assert_eq!(out[0], (0, reply), "reply first, out of the ingress port");
    assert_eq!(out[1..].iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![1, 3, 4], "and flooded");
    // the same request through the trunk is answered tagged
    let req = arp_frame(1, B, 0xc000_0209, MacAddr::default(), IP_GW10, MacAddr::BROADCAST, &[Tag::c(10)]);
    let out = tx(&r.run(3, &req));
    let mut reply = arp_frame(2, GW10, IP_GW10, B, 0xc000_0209, B, &[Tag::c(10)]);
    reply.resize(64, 0);
    assert_eq!(out[0], (3, reply));
    assert_eq!(r.events().iter().find(|e| e.0 == "arp-reply-sent"), Some(&("arp-reply-sent", 2)));
    // a request for someone else is only flooded
    let other = arp_frame(1, A, IP_A, MacAddr::default(), 0xc000_0209, MacAddr::BROADCAST, &[]);
    let out = tx(&r.run(0, &other));
    assert_eq!(out.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![1, 3, 4], "only flooded");
}

#[test]
fn ping_to_the_gateway_is_answered_byte_exact() {
    let mut r = Rig::new();
    let req = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_GW10, 1, 64, &echo(8, 0x77, 3, b"hello")));
    let out = tx(&r.run(0, &req));
    let mut ip = ipv4(IP_GW10, IP_A, 1, 64, &echo(0, 0x77, 3, b"hello"));
    // the reply keeps the request's identification and DF
    assert_eq!(&ip[4..6], &[0x42, 0x42]);
    ip[8] = 64;
    let expect = eth(A, GW10, &[], EtherType::IPV4, &ip);
    assert_eq!(out, vec![(0, expect)]);
    // ping of the other domain's gateway from VLAN 10 is answered too
    let req = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_GW20, 1, 64, &echo(8, 1, 1, b"")));
    let out = tx(&r.run(0, &req));
    assert_eq!(out, vec![(0, eth(A, GW10, &[], EtherType::IPV4, &ipv4(IP_GW20, IP_A, 1, 64, &echo(0, 1, 1, b""))))]);
    // UDP to the gateway: no service, port unreachable (RFC 1122 3.2.2.1)
    let orig = ipv4(IP_A, IP_GW10, 17, 64, &udp_payload());
    let out = tx(&r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &orig)));
    let expect = eth(A, GW10, &[], EtherType::IPV4, &icmp_error(IP_GW10, IP_A, 3, 3, 0, &orig));
    assert_eq!(out, vec![(0, expect)]);
    assert!(r.drops().contains(&("port-unreachable", 1)));
    let mut bad = req.clone();
    bad[14 + 10] ^= 1;
    assert_eq!(r.run(0, &bad)[0].1, Action::Drop(DropReason::Ipv4BadChecksum));
}

#[test]
fn routing_resolves_the_next_hop_then_forwards() {
    let mut r = Rig::new();
    let pl = udp_payload();
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 64, &pl));
    // first packet: queued, ARP request flooded in VLAN 20 (access b0 untagged, trunk tagged)
    let out = tx(&r.run(0, &f));
    let req = padded(arp_frame(1, GW20, IP_GW20, MacAddr::default(), IP_B, MacAddr::BROADCAST, &[]), 60);
    let mut req_t = arp_frame(1, GW20, IP_GW20, MacAddr::default(), IP_B, MacAddr::BROADCAST, &[Tag::c(20)]);
    req_t.resize(64, 0);
    assert_eq!(out, vec![(2, req), (3, req_t)]);
    // B answers from b0: the queued packet leaves with TTL 63 and new MACs
    let reply = arp_frame(2, B, IP_B, GW20, IP_GW20, GW20, &[]);
    let out = r.run(2, &reply);
    let routed = eth(B, GW20, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 63, &pl));
    // (the reply that released the packet reaches its output first: arp-input consumes it
    // before the released packet runs ip4-neigh and l2-output)
    assert_eq!(out, vec![(reply, Action::Consumed), (routed.clone(), Action::Tx(2))]);
    // later packets go straight through
    let out = tx(&r.run(0, &f));
    assert_eq!(out, vec![(2, routed)]);
    // tagged in on the trunk (VLAN 10), out untagged on b0
    let f = eth(GW10, A2, &[Tag::c(10)], EtherType::IPV4, &ipv4(0xc000_0202, IP_B, 17, 9, &pl));
    let out = tx(&r.run(3, &f));
    assert_eq!(out, vec![(2, eth(B, GW20, &[], EtherType::IPV4, &ipv4(0xc000_0202, IP_B, 17, 8, &pl)))]);
    let ev = r.events();
    assert!(
        ev.contains(&("routed", 3)) && ev.contains(&("arp-request-sent", 1)) && ev.contains(&("arp-learned", 1)),
        "{ev:?}"
    );
}

#[test]
fn the_next_hop_rewrite_follows_its_port_and_its_mac_within_the_same_millisecond() {
    // ip4-neigh keeps the last next hop's rewrite for the millisecond: it must not outlive
    // an FDB move or a neighbour's new MAC (the clock stands still in this test).
    let mut r = Rig::new();
    let pl = udp_payload();
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 64, &pl));
    r.run(0, &f);
    r.run(2, &arp_frame(2, B, IP_B, GW20, IP_GW20, GW20, &[]));
    let routed = |mac: MacAddr, tags: &[Tag]| eth(mac, GW20, tags, EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 63, &pl));
    assert_eq!(tx(&r.run(0, &f)), vec![(2, routed(B, &[]))]);
    // B now sends from the trunk (VLAN 20): learned there, the next routed packet follows.
    let from_trunk = eth(A2, B, &[Tag::c(20)], EtherType::IPV4, &ipv4(IP_B, 0xc633_6463, 17, 64, &pl));
    r.run(3, &from_trunk);
    assert_eq!(tx(&r.run(0, &f)), vec![(3, routed(B, &[Tag::c(20)]))]);
    // B's address moves to another MAC, one the bridge already knows (so the FDB does not
    // change when its ARP announces the move): the rewrite follows the neighbour.
    const B2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb2]);
    r.run(2, &eth(A2, B2, &[], EtherType::IPV4, &ipv4(0xc633_6409, 0xc633_6463, 17, 64, &pl)));
    assert_eq!(tx(&r.run(0, &f)), vec![(3, routed(B, &[Tag::c(20)]))]);
    r.run(2, &padded(arp_frame(1, B2, IP_B, MacAddr::default(), IP_GW20, MacAddr::BROADCAST, &[]), 60));
    assert_eq!(tx(&r.run(0, &f)), vec![(2, routed(B2, &[]))]);
    assert_eq!(r.now, 1000);
}

#[test]
fn a_reload_that_removes_a_route_is_seen_by_the_next_packet_to_the_last_destination() {
    // ip4-forward keeps the last destination's route: a reload must take it away.
    let mut r = Rig::new();
    let pl = udp_payload();
    let far = 0xcb00_7105; // 203.0.113.5, via R
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, far, 17, 64, &pl));
    r.run(0, &f);
    r.run(2, &arp_frame(2, R, IP_R, GW20, IP_GW20, GW20, &[]));
    let via_r = eth(R, GW20, &[], EtherType::IPV4, &ipv4(IP_A, far, 17, 63, &pl));
    assert_eq!(tx(&r.run(0, &f)), vec![(2, via_r.clone())]);
    // Another destination between two packets to the first: each gets its own route.
    let near = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_R, 17, 64, &pl));
    let to_r = eth(R, GW20, &[], EtherType::IPV4, &ipv4(IP_A, IP_R, 17, 63, &pl));
    assert_eq!(tx(&r.run(0, &near)), vec![(2, to_r)]);
    assert_eq!(tx(&r.run(0, &f)), vec![(2, via_r)]);
    let without = CFG.replace("[[route]]\nprefix = \"203.0.113.0/24\"\nvia = \"198.51.100.7\"\n", "");
    assert_ne!(without, CFG);
    r.reload(&without);
    let out = r.run(0, &f);
    let unreach = icmp_error(IP_GW10, IP_A, 3, 0, 0, &ipv4(IP_A, far, 17, 64, &pl));
    assert_eq!(tx(&out), vec![(0, eth(A, GW10, &[], EtherType::IPV4, &unreach))]);
    assert!(r.drops().contains(&("no-route", 1)), "{:?}", r.drops());
}

#[test]
fn with_two_workers_an_arp_reply_on_the_other_workers_queue_resolves_the_requester() {
    // Worker 1 asks for B; B's reply arrives on worker 0's queue (RSS sends non-IP frames
    // to one queue). Worker 0 hands a copy to worker 1, whose parked packet then leaves.
    let cfg = format!("[dataplane]\nworkers = [1, 2]\nmempool_size = 65535\n{CFG}");
    let mut w1 = Rig::with_config(&cfg, 1000);
    let mut w0 = Rig::with_config(&cfg, 1000);
    w1.st = Pipeline::for_worker(&w1.t, 1, 32);
    let pl = udp_payload();
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 64, &pl));
    let out = tx(&w1.run(0, &f));
    assert_eq!(out.len(), 2, "the ARP request, flooded in VLAN 20");
    let reply = arp_frame(2, B, IP_B, GW20, IP_GW20, GW20, &[]);
    let out = w0.run(2, &reply);
    assert_eq!(out, vec![(reply.clone(), Action::Handoff(1, 2)), (reply.clone(), Action::Consumed)]);
    assert!(w0.events().contains(&("arp-shared", 1)));
    // Worker 1 takes the copy: it learns B (nothing answered, nothing flooded), and the
    // packet that waited leaves with TTL 63.
    w1.st.rx_handoff(&w1.c, 2, VecBuf::new(&reply));
    let out = w1.finish(false);
    let routed = eth(B, GW20, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 63, &pl));
    assert_eq!(out, vec![(reply, Action::Consumed), (routed.clone(), Action::Tx(2))]);
    assert_eq!(tx(&w1.run(0, &f)), vec![(2, routed)]);
    assert!(!w1.events().iter().any(|e| e.0 == "arp-shared"), "a copy is not shared again");
    // A request from a neighbour for the gateway is answered and flooded once, by the
    // worker that received it; the other learns the sender from its copy.
    let c = 0xc633_6403; // 198.51.100.3
    let cm = MacAddr([2, 0, 0, 0, 0, 0xc1]);
    let req = padded(arp_frame(1, cm, c, MacAddr::default(), IP_GW20, MacAddr::BROADCAST, &[]), 60);
    let out = w0.run(2, &req);
    let handed: Vec<_> = out.iter().filter(|o| matches!(o.1, Action::Handoff(..))).collect();
    assert_eq!(handed.len(), 1);
    assert!(out.iter().any(|o| o.1 == Action::Tx(2)), "answered: {out:?}");
    w1.st.rx_handoff(&w1.c, 2, VecBuf::new(&req));
    assert_eq!(w1.finish(false), vec![(req, Action::Consumed)]);
    let g = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, c, 17, 64, &pl));
    let want = eth(cm, GW20, &[], EtherType::IPV4, &ipv4(IP_A, c, 17, 63, &pl));
    assert_eq!(tx(&w1.run(0, &g)), vec![(2, want)], "worker 1 knows 198.51.100.3 without asking");
}

#[test]
fn static_route_uses_its_gateway_and_router_on_a_stick_works() {
    let mut r = Rig::new();
    let pl = udp_payload();
    // R (198.51.100.7) lives behind the trunk in VLAN 20; learn it through its ARP reply
    r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, 0xcb00_7105, 17, 64, &pl)));
    let reply = arp_frame(2, R, IP_R, GW20, IP_GW20, GW20, &[Tag::c(20)]);
    let out = r.run(3, &reply);
    // routed to R's MAC out of the trunk, tagged 20
    let expect = eth(R, GW20, &[Tag::c(20)], EtherType::IPV4, &ipv4(IP_A, 0xcb00_7105, 17, 63, &pl));
    assert_eq!(out[1], (expect, Action::Tx(3)), "after the consumed reply");
    // router on a stick: in on the trunk in VLAN 10, out of the same trunk in VLAN 20
    let f = eth(GW10, A2, &[Tag::c(10)], EtherType::IPV4, &ipv4(0xc000_0202, 0xcb00_7106, 17, 64, &pl));
    let out = tx(&r.run(3, &f));
    assert_eq!(
        out,
        vec![(3, eth(R, GW20, &[Tag::c(20)], EtherType::IPV4, &ipv4(0xc000_0202, 0xcb00_7106, 17, 63, &pl)))]
    );
}

#[test]
fn ttl_and_no_route_give_icmp_errors_byte_exact() {
    let mut r = Rig::new();
    let pl = udp_payload();
    let orig = ipv4(IP_A, IP_B, 17, 1, &pl);
    let out = tx(&r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &orig)));
    let ip = icmp_error(IP_GW10, IP_A, 11, 0, 0, &orig);
    assert_eq!(out, vec![(0, eth(A, GW10, &[], EtherType::IPV4, &ip))]);

    // no route: net unreachable, to a tagged sender, tagged
    let orig = ipv4(0xc000_0202, 0x0808_0808, 17, 64, &pl);
    let out = tx(&r.run(3, &eth(GW10, A2, &[Tag::c(10)], EtherType::IPV4, &orig)));
    assert_eq!(out.len(), 1);
    let (port, f) = &out[0];
    assert_eq!(*port, 3);
    assert_eq!(&f[..18], &eth(A2, GW10, &[Tag::c(10)], EtherType::IPV4, &[])[..18]);
    assert_eq!((f[18 + 20], f[18 + 21]), (3, 0), "destination unreachable, net");
    assert_eq!(&f[18 + 28..], &orig[..28]);
    assert_eq!(checksum::checksum(&f[18..38]), 0);
    assert_eq!(checksum::checksum(&f[38..]), 0);
    assert_eq!(r.drops(), vec![("no-route", 1), ("ttl-exceeded", 1)]);
    assert!(r.events().contains(&("icmp-error-sent", 2)));
    // no error about an ICMP error
    let mut err = vec![3, 1, 0, 0, 0, 0, 0, 0];
    err.extend_from_slice(&orig[..28]);
    let c = checksum::checksum(&err);
    err[2..4].copy_from_slice(&c.to_be_bytes());
    // (nothing is sent; the datagram is dropped and counted as no-route at the output point)
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, 0x0808_0808, 1, 64, &err));
    assert_eq!(r.run(0, &f), vec![(f, Action::Drop(DropReason::NoRoute))]);
}

/// Five port MACs of one appliance (`n` tells appliances apart), universally administered
/// as a NIC's are.
fn port_macs(n: u8) -> Vec<MacAddr> {
    (0..5).map(|i| MacAddr([0x00, 0x1b, 0x21, 0xaa, n, 0x10 + i])).collect()
}

#[test]
fn default_gateway_macs_come_from_the_bridge_ports() {
    let cfg = Config::parse(CFG, None).unwrap();
    let fixed = Tables::compile(&cfg).unwrap();
    let gw = |t: &Tables, d: usize| t.domains[d].gateway.map(|g| (g.mac, g.mac64));
    // Without port MACs: the fixed scheme.
    assert_eq!(gw(&fixed, 0), Some((GW10, GW10.to_u64())));
    assert_eq!(gw(&fixed, 1), Some((GW20, GW20.to_u64())));
    // With them: v10's lowest member is a0 (..:10), v20's is b0 (..:12); locally
    // administered, the VLAN id XORed into the low bits.
    let mut one = fixed.clone();
    one.use_port_macs(&cfg, &port_macs(1));
    let m = |b: [u8; 6]| Some((MacAddr(b), MacAddr(b).to_u64()));
    assert_eq!(gw(&one, 0), m([0x02, 0x1b, 0x21, 0xaa, 0x01, 0x10 ^ 10]));
    assert_eq!(gw(&one, 1), m([0x02, 0x1b, 0x21, 0xaa, 0x01, 0x12 ^ 20]));
    // A second appliance (other port MACs) gets other gateway MACs; the same ports give the
    // same MACs again (a reload, a restart).
    let mut two = fixed.clone();
    two.use_port_macs(&cfg, &port_macs(2));
    assert_eq!(gw(&two, 0), m([0x02, 0x1b, 0x21, 0xaa, 0x02, 0x10 ^ 10]));
    let mut again = fixed.clone();
    again.use_port_macs(&cfg, &port_macs(1));
    assert_eq!((gw(&again, 0), gw(&again, 1)), (gw(&one, 0), gw(&one, 1)));
    // Unusable port MACs (zero, group) are skipped: only q (..:14) is left for v10, and
    // nothing for v20, which keeps the fixed default... unless another port has one.
    let mut some = port_macs(3);
    some[0] = MacAddr([0; 6]);
    some[1] = MacAddr([1, 0, 0x5e, 0, 0, 1]);
    some[2] = MacAddr([0; 6]);
    some[3] = MacAddr([0; 6]);
    let mut t = fixed.clone();
    t.use_port_macs(&cfg, &some);
    assert_eq!(gw(&t, 0), m([0x02, 0x1b, 0x21, 0xaa, 0x03, 0x14 ^ 10]));
    assert_eq!(gw(&t, 1), m([0x02, 0x1b, 0x21, 0xaa, 0x03, 0x14 ^ 20]));
    let mut t = fixed.clone();
    t.use_port_macs(&cfg, &[MacAddr([0; 6]); 5]);
    assert_eq!((gw(&t, 0), gw(&t, 1)), (gw(&fixed, 0), gw(&fixed, 1)));
    // A configured gateway_mac always wins, byte for byte.
    let cfg = Config::parse(
        &CFG.replace("vlan = 20\ngateway", "vlan = 20\ngateway_mac = \"02:00:00:00:20:01\"\ngateway"),
        None,
    )
    .unwrap();
    let mut t = Tables::compile(&cfg).unwrap();
    t.use_port_macs(&cfg, &port_macs(1));
    assert_eq!(gw(&t, 0), m([0x02, 0x1b, 0x21, 0xaa, 0x01, 0x10 ^ 10]));
    assert_eq!(gw(&t, 1), m([0x02, 0, 0, 0, 0x20, 0x01]));
}

#[test]
fn the_gateway_answers_arp_and_routes_with_its_derived_mac() {
    let cfg = Config::parse(CFG, None).unwrap();
    let mut r = Rig::new();
    r.t.use_port_macs(&cfg, &port_macs(1));
    let gw = MacAddr([0x02, 0x1b, 0x21, 0xaa, 0x01, 0x10 ^ 10]);
    let req = arp_frame(1, A, IP_A, MacAddr([0; 6]), IP_GW10, MacAddr::BROADCAST, &[]);
    let out = r.run(0, &req);
    let reply = out.iter().find(|(_, a)| *a == Action::Tx(0)).map(|(b, _)| b.clone()).expect("ARP reply");
    assert_eq!(reply, padded(arp_frame(2, gw, IP_GW10, A, IP_A, A, &[]), 60), "the reply comes from the derived MAC");
    // A frame to the fixed default is not for the gateway any more: it is flooded in v10
    // (a1, and the trunks t and q), not routed to b0.
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 64, &udp_payload()));
    let ports: Vec<Action> = r.run(0, &f).into_iter().map(|(_, a)| a).collect();
    assert_eq!(ports, vec![Action::Tx(1), Action::Tx(3), Action::Tx(4)]);
    // and one to the derived MAC is routed (to b0, where the next hop waits for ARP).
    let f = eth(gw, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 64, &udp_payload()));
    let out = r.run(0, &f);
    assert_eq!(out.len(), 2, "{out:?}");
    let gw20 = [0x02, 0x1b, 0x21, 0xaa, 0x01, 0x12 ^ 20];
    assert_eq!(
        out.iter().map(|(b, a)| (&b[6..12], *a)).collect::<Vec<_>>(),
        vec![(&gw20[..], Action::Tx(2)), (&gw20[..], Action::Tx(3))],
        "ARP requests for the next hop from v20's derived MAC"
    );
}

#[test]
fn neigh_flush_frees_and_counts_the_queued_packets_and_keeps_static_entries() {
    let cfg =
        CFG.replace("[[route]]", "[[bridge.neighbor]]\nip = \"198.51.100.50\"\nmac = \"02:00:00:00:00:50\"\n[[route]]");
    let mut r = Rig::with_config(&cfg, 1000);
    let pl = udp_payload();
    // Three datagrams wait for 198.51.100.9 (one ARP request flooded to two ports).
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, 0xc633_6409, 17, 64, &pl));
    assert_eq!(r.run(0, &f).len(), 2);
    assert!(r.run(0, &f).is_empty());
    assert!(r.run(0, &f).is_empty());
    let entries = |r: &Rig| {
        let mut v: Vec<_> = r.st.neigh.iter().map(|e| (e.ifx, e.ip, e.state, e.pending)).collect();
        v.sort_unstable_by_key(|e| e.1);
        v
    };
    use crate::l3::neigh::NeighState;
    assert_eq!(entries(&r), vec![(1, 0xc633_6409, NeighState::Incomplete, 3), (1, 0xc633_6432, NeighState::Static, 0)]);
    let mut out = Collect::default();
    assert_eq!(r.st.neigh_flush(None, &r.c, &mut out), 1);
    let freed: Vec<(Vec<u8>, Action)> = out.0.into_iter().map(|(b, a)| (b.data().to_vec(), a)).collect();
    assert_eq!(freed.len(), 3);
    for (b, a) in &freed {
        assert_eq!(*a, Action::Drop(DropReason::NeighFlushed));
        // the routed datagram as it waited: TTL already decremented
        assert_eq!(b[14 + 8], 63);
    }
    assert_eq!(r.drops(), vec![("neigh-flushed", 3)]);
    assert_eq!(entries(&r), vec![(1, 0xc633_6432, NeighState::Static, 0)]);
    // Nothing is left to fail later, and the next datagram resolves afresh.
    assert!(r.tick(5000).iter().all(|(b, a)| matches!(a, Action::Tx(_)) && b[12..14] == [0x08, 0x06]));
    assert_eq!(r.run(0, &f).len(), 2);
}

#[test]
fn unanswered_arp_gives_host_unreachable_and_queue_limits_hold() {
    let mut r = Rig::new();
    let pl = udp_payload();
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, 0xc633_6409, 17, 64, &pl));
    assert_eq!(r.run(0, &f).len(), 2, "ARP request flooded to two ports");
    for _ in 0..3 {
        assert!(r.run(0, &f).is_empty(), "queued");
    }
    let out = r.run(0, &f);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, Action::Drop(DropReason::ArpQueueFull));
    // retries every 100 ms, twice, then failure (timers tick every millisecond, as in the
    // worker; each tick examines part of the table)
    let mut requests = 0;
    let mut errors = vec![];
    for _ in 0..1000 {
        for (b, a) in r.tick(1) {
            match a {
                Action::Tx(2) if b[12..14] == [0x08, 0x06] => requests += 1,
                Action::Tx(3) if b[16..18] == [0x08, 0x06] => {}
                Action::Tx(p) => errors.push((p, b)),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(requests, 2, "retried twice");
    assert_eq!(errors.len(), 4, "one host unreachable per queued packet");
    assert!(errors.iter().all(|(p, b)| *p == 0 && b[34] == 3 && b[35] == 1));
    assert!(r.drops().contains(&("arp-failed", 4)), "{:?}", r.drops());
}

#[test]
fn retag_moves_only_macs() {
    let f = eth(B, A, &[Tag::c(7)], 0x0800, &[9, 9]);
    let mut b = VecBuf::new(&f);
    assert!(retag(&mut b, 1, &[Tag::s(5), Tag::c(6)]));
    assert_eq!(b.data(), &eth(B, A, &[Tag::s(5), Tag::c(6)], 0x0800, &[9, 9])[..]);
    assert!(retag(&mut b, 2, &[]));
    assert_eq!(b.data(), &eth(B, A, &[], 0x0800, &[9, 9])[..]);
    assert!(retag(&mut b, 0, &[Tag::c(8)]));
    assert_eq!(b.data(), &eth(B, A, &[Tag::c(8)], 0x0800, &[9, 9])[..]);
    let mut tight = VecBuf::with_room(&f, 2, 0);
    assert!(!retag(&mut tight, 0, &[Tag::c(1)]), "no headroom: refused");
    assert_eq!(tight.data(), &f[..]);
}

fn l2(dst: MacAddr, src: MacAddr, tags: &[Tag]) -> Vec<u8> {
    padded(eth(dst, src, tags, 0x88b5, b"reload"), 60)
}

/// `f` without its one VLAN tag, as an access port sends it.
fn untag(mut f: Vec<u8>) -> Vec<u8> {
    f.drain(12..16);
    f
}

#[test]
fn reload_with_the_same_ports_keeps_learned_macs_and_takes_new_statics() {
    let mut r = Rig::new();
    r.run(0, &l2(MacAddr::BROADCAST, A, &[]));
    let cfg2 = format!("{CFG}\n[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"198.51.100.8\"\n").replace(
        "name = \"v20\"\nvlan = 20\n",
        "name = \"v20\"\nvlan = 20\nstatic_mac = [{ mac = \"02:00:00:00:00:b1\", port = \"b0\" }]\n",
    );
    let a = r.reload(&cfg2);
    assert!(a.in_place, "{a:?}");
    assert_eq!((a.fdb_kept, a.fdb_dropped), (1, 0));
    // Known unicast: out of a0 only, not flooded.
    assert_eq!(tx(&r.run(1, &l2(A, A2, &[]))), vec![(0, l2(A, A2, &[]))]);
    // The new static MAC is in place (no flooding to B in VLAN 20).
    let f = l2(B, R, &[Tag::c(20)]);
    assert_eq!(tx(&r.run(3, &f)), vec![(2, untag(f))]);
}

#[test]
fn reload_that_removes_a_port_moves_macs_by_port_name_and_forgets_the_gone_port() {
    let mut r = Rig::new();
    r.run(1, &l2(MacAddr::BROADCAST, A, &[])); // A behind a1 (index 1)
    r.run(0, &l2(MacAddr::BROADCAST, A2, &[])); // A2 behind a0 (index 0)
                                                // Without a0, a1 becomes port 0 and the trunk port 2.
    let cfg2 = CFG.replacen("[[port]]\nname = \"a0\"\ndevargs = \"net_null0\"\nmode = \"access\"\nvlan = 10\n", "", 1);
    let a = r.reload(&cfg2);
    assert!(!a.in_place);
    assert_eq!((a.fdb_kept, a.fdb_dropped), (1, 1), "{a:?}");
    // A is still known, behind a1, now index 0.
    let f = l2(A, R, &[Tag::c(10)]);
    assert_eq!(tx(&r.run(2, &f)), vec![(0, untag(f))]);
    // A2 is unknown now: flooded in VLAN 10 (a1 and the QinQ trunk).
    let out: Vec<u16> = tx(&r.run(2, &l2(A2, R, &[Tag::c(10)]))).into_iter().map(|(p, _)| p).collect();
    assert_eq!(out, vec![0, 3]);
}

impl Rig {
    /// The trace records so far: (packet, node, what the node did).
    pub(super) fn trace(&self) -> Vec<(u16, &'static str, String)> {
        self.st.trace.records().map(|r| (r.packet, r.node.name(), r.hop.describe())).collect()
    }
}

/// `(packet, node, hop)` rows for the expected trace of one packet.
pub(super) fn path(packet: u16, hops: &[(&'static str, &str)]) -> Vec<(u16, &'static str, String)> {
    hops.iter().map(|(n, h)| (packet, *n, h.to_string())).collect()
}

#[test]
fn trace_shows_each_node_a_bridged_packet_passes() {
    let mut r = Rig::new();
    let pl = ipv4(IP_A, 0xc000_0202, 17, 64, &udp_payload());
    r.run(1, &eth(MacAddr::BROADCAST, A2, &[], EtherType::IPV4, &pl)); // A2 learned behind a1
    assert!(r.trace().is_empty(), "nothing is traced before trace add");
    r.st.trace.add(2, None);
    // known unicast: a0 -> a1, untagged to untagged
    r.run(0, &eth(A2, A, &[], EtherType::IPV4, &pl));
    // tagged on the trunk (VLAN 10) to a1: the tag is popped on the access port
    r.run(3, &eth(A2, B, &[Tag::c(10)], EtherType::IPV4, &pl));
    // a third packet is not traced (N was 2)
    r.run(0, &eth(A2, A, &[], EtherType::IPV4, &pl));
    let hops = [("l2-input", "l2-fwd"), ("l2-fwd", "tx port 1")];
    let mut want = path(0, &hops);
    want.extend(path(1, &hops));
    assert_eq!(r.trace(), want);
    let recs: Vec<_> = r.st.trace.records().copied().collect();
    assert_eq!((recs[0].meta.in_port, recs[2].meta.in_port), (0, 3));
    assert_eq!((recs[2].meta.ntags, recs[3].meta.ntags), (1, 0), "l2-fwd popped the tag as it sent the frame");
    assert_eq!(recs[3].meta.dst_mac, A2.to_u64());
    r.st.trace.clear();
    assert!(r.trace().is_empty());
}

#[test]
fn trace_shows_routing_arp_and_drops() {
    let mut r = Rig::new();
    let pl = udp_payload();
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 64, &pl));
    r.st.trace.add(10, None);
    // first packet: waits for ARP (the request is generated, not traced)
    r.run(0, &f);
    // B answers: the reply is consumed, and releases the waiting packet
    r.run(2, &arp_frame(2, B, IP_B, GW20, IP_GW20, GW20, &[]));
    // a routed packet with a known next hop
    r.run(0, &f);
    // drops: bad source MAC, and a TTL that runs out (ICMP time exceeded back to the sender)
    r.run(0, &eth(GW10, MacAddr::BROADCAST, &[], EtherType::IPV4, &pl));
    r.run(0, &eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 1, &pl)));
    let routed =
        [("l2-input", "l2-fwd"), ("l2-fwd", "ip4-input"), ("ip4-input", "ip4-forward"), ("ip4-forward", "ip4-neigh")];
    let mut want = path(0, &routed);
    want.push((0, "ip4-neigh", "parked (waiting for ARP)".into()));
    want.extend(path(1, &[("l2-input", "l2-fwd"), ("l2-fwd", "arp-input")]));
    want.push((1, "arp-input", "consumed".into()));
    // the released packet keeps its trace id and goes on in ip4-neigh, its MAC known
    want.push((0, "ip4-neigh", "tx port 2".into()));
    want.extend(path(2, &routed));
    want.push((2, "ip4-neigh", "tx port 2".into()));
    want.push((3, "l2-input", "drop bad-src-mac".into()));
    want.extend(path(
        4,
        &[
            ("l2-input", "l2-fwd"),
            ("l2-fwd", "ip4-input"),
            ("ip4-input", "ip4-forward"),
            ("ip4-forward", "icmp4-error"),
            ("icmp4-error", "l2-output"),
            ("l2-output", "tx port 0"),
        ],
    ));
    assert_eq!(r.trace(), want);
    assert_eq!(r.st.trace.left(), 5);
}

#[test]
fn trace_on_one_port_marks_only_its_packets() {
    let mut r = Rig::new();
    let pl = ipv4(IP_A, 0xc000_0202, 17, 64, &udp_payload());
    r.st.trace.add(1, Some(2));
    r.run(0, &eth(B, A, &[], EtherType::IPV4, &pl));
    assert!(r.trace().is_empty());
    r.run(2, &eth(MacAddr::BROADCAST, B, &[], EtherType::ARP, &pl));
    let t = r.trace();
    assert_eq!(t[0], (0, "l2-input", "l2-fwd".to_string()));
    // flooded in VLAN 20: one copy (trunk) and the original (nothing else in the domain)
    assert_eq!(t.iter().filter(|x| x.1 == "l2-output").count(), 1, "{t:?}");
    assert_eq!(r.st.trace.left(), 0);
}

#[test]
fn xconnect_pairs_forward_both_ways_and_others_drop() {
    let cfg = "[[port]]\nname = \"a\"\ndevargs = \"net_null0\"\n[[port]]\nname = \"b\"\ndevargs = \"net_null1\"\n[[port]]\nname = \"c\"\ndevargs = \"net_null2\"\n[[xconnect]]\na = \"a\"\nb = \"b\"\n";
    let mut r = Rig::with_config(cfg, 0);
    let frame = [0xffu8; 60];
    let burst = |r: &mut Rig, port: u16| {
        let mut out = Collect::default();
        assert!(r.st.is_xconnect(&r.t, port));
        let bufs = vec![VecBuf::new(&frame), VecBuf::new(&frame)];
        r.st.xconnect(&r.t, &r.c, port, bufs.into_iter(), &mut out);
        out.0.into_iter().map(|(b, a)| (b.data().to_vec(), a)).collect::<Vec<_>>()
    };
    assert_eq!(burst(&mut r, 0), vec![(frame.to_vec(), Action::Tx(1)); 2]);
    assert_eq!(burst(&mut r, 1), vec![(frame.to_vec(), Action::Tx(0)); 2]);
    assert_eq!(burst(&mut r, 2), vec![(frame.to_vec(), Action::Drop(DropReason::NoForward)); 2]);
    assert_eq!(r.drops(), vec![("no-forward", 2)]);
    // Traced, the same decisions packet by packet through the frame, with their trace.
    r.st.trace.add(2, None);
    assert!(!r.st.is_xconnect(&r.t, 0));
    assert_eq!(r.run(0, &frame), vec![(frame.to_vec(), Action::Tx(1))]);
    assert_eq!(r.run(2, &frame), vec![(frame.to_vec(), Action::Drop(DropReason::NoForward))]);
    assert_eq!(
        r.trace(),
        vec![(0, "xconnect", "tx port 1".to_string()), (1, "xconnect", "drop no-forward".to_string())]
    );
}

#[test]
fn a_large_fdb_learns_and_forwards_through_the_prefetch_pass() {
    // Above PREFETCH_FROM learned MACs, l2-fwd hashes each key once, in its prefetch pass,
    // and hands the home slots to the learn and the lookup: the answers must be the same.
    let cfg = CFG.replace("[[bridge]]\nname = \"v10\"", "[bridging]\nfdb_size = 16384\n[[bridge]]\nname = \"v10\"");
    let mut r = Rig::with_config(&cfg, 1000);
    let pl = ipv4(IP_A, 0xc000_0202, 17, 64, &udp_payload());
    let host = |n: u32| MacAddr([2, 1, (n >> 16) as u8, (n >> 8) as u8, n as u8, 0]);
    let n = super::node::PREFETCH_FROM as u32 + 200;
    for k in 0..n {
        // each host speaks once from a0 (flooded: nobody knows the destination)
        r.now = 1000 + u64::from(k) / 16;
        let out = r.run(0, &eth(MacAddr::BROADCAST, host(k), &[], EtherType::IPV4, &pl));
        assert_eq!(out.len(), 3, "flooded to a1, t and q");
    }
    assert_eq!(r.st.fdb.len(), n as usize);
    for k in (0..n).step_by(97) {
        // from a1 to each learned host: out of a0 only, untagged, byte-exact
        r.now += 1;
        let f = eth(host(k), A2, &[], EtherType::IPV4, &pl);
        assert_eq!(tx(&r.run(1, &f)), vec![(0, f.clone())], "host {k}");
    }
    // a host that moves is learned at its new port through the carried home slot too
    r.now += 1;
    r.run(3, &eth(MacAddr::BROADCAST, host(5), &[Tag::c(10)], EtherType::IPV4, &pl));
    r.now += 1;
    let f = eth(host(5), A2, &[], EtherType::IPV4, &pl);
    assert_eq!(tx(&r.run(1, &f)), vec![(3, eth(host(5), A2, &[Tag::c(10)], EtherType::IPV4, &pl))]);
    assert!(r.events().contains(&("fdb-moved", 1)));
}

#[test]
fn arp_probes_and_requests_from_outside_the_subnet_for_the_gateway_are_answered() {
    // RFC 5227 probe (sender 0.0.0.0), broadcast: a Linux host answers with a reply to the
    // sender's MAC whose target address is 0.0.0.0, and learns nothing (`arp_process`).
    let mut r = Rig::new();
    let probe = arp_frame(1, A, 0, MacAddr::default(), IP_GW10, MacAddr::BROADCAST, &[]);
    let out = tx(&r.run(0, &probe));
    assert_eq!(out[0], (0, padded(arp_frame(2, GW10, IP_GW10, A, 0, A, &[]), 60)), "reply first");
    assert_eq!(out[1..].iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![1, 3, 4], "and flooded");
    // through the trunk: answered tagged
    let probe_t = arp_frame(1, A2, 0, MacAddr::default(), IP_GW10, MacAddr::BROADCAST, &[Tag::c(10)]);
    let out = tx(&r.run(3, &probe_t));
    assert_eq!(out[0], (3, padded(arp_frame(2, GW10, IP_GW10, A2, 0, A2, &[Tag::c(10)]), 64)));
    // unicast to the gateway MAC: answered in place
    let uprobe = arp_frame(1, A, 0, MacAddr::default(), IP_GW10, GW10, &[]);
    assert_eq!(tx(&r.run(0, &uprobe)), vec![(0, arp_frame(2, GW10, IP_GW10, A, 0, A, &[]))]);
    // a sender outside the subnet is answered too (RFC 826: every request for an own
    // address), broadcast and unicast, and not recorded
    let far = 0x0a09_0909; // 10.9.9.9
    let req = arp_frame(1, A, far, MacAddr::default(), IP_GW10, MacAddr::BROADCAST, &[]);
    assert_eq!(tx(&r.run(0, &req))[0], (0, padded(arp_frame(2, GW10, IP_GW10, A, far, A, &[]), 60)));
    let req = arp_frame(1, A, far, MacAddr::default(), IP_GW10, GW10, &[]);
    assert_eq!(tx(&r.run(0, &req)), vec![(0, arp_frame(2, GW10, IP_GW10, A, far, A, &[]))]);
    assert!(r.st.neigh.is_empty(), "{:?}", r.st.neigh.iter().collect::<Vec<_>>());
    assert_eq!(r.events().iter().find(|e| e.0 == "arp-reply-sent"), Some(&("arp-reply-sent", 5)));
    assert!(!r.events().iter().any(|e| e.0 == "arp-learned"), "{:?}", r.events());
    // a probe for another address is only flooded; one claiming the gateway's own address
    // as sender is not answered
    let other = arp_frame(1, A, 0, MacAddr::default(), 0xc000_0209, MacAddr::BROADCAST, &[]);
    assert_eq!(tx(&r.run(0, &other)).iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![1, 3, 4]);
    let clash = arp_frame(1, A, IP_GW10, MacAddr::default(), IP_GW10, GW10, &[]);
    assert_eq!(r.run(0, &clash), vec![(clash.clone(), Action::Drop(DropReason::ArpNotOurs))]);
}

#[test]
fn a_unicast_arp_not_for_us_still_updates_a_known_sender() {
    // RFC 826's merge step comes before "am I the target?"
    let mut r = Rig::new();
    let mut out = Vec::new();
    assert!(r.st.neigh.learn(1, IP_B, B, r.now, true, &mut out));
    let b2 = MacAddr([2, 0, 0, 0, 0, 0xb9]);
    let f = arp_frame(2, b2, IP_B, GW20, 0xc633_6409, GW20, &[]);
    assert_eq!(r.run(2, &f), vec![(f.clone(), Action::Drop(DropReason::ArpNotOurs))]);
    assert_eq!(r.st.neigh.lookup(1, IP_B), Some(b2));
}

/// CFG with short neighbour timers: reachable 1 s, delay 200 ms, probes 100 ms apart, two
/// of them; a small table so that every tick's poll covers all of it.
fn nud_cfg() -> String {
    CFG.replace(
        "[routing]\n",
        "[routing]\nneighbor_size = 32\narp_reachable_s = 1\narp_delay_ms = 200\narp_probes = 2\n",
    )
}

/// Ticks the rig `ms` times by 1 ms; the frames the timers sent, with the tick they left at.
fn ticks(r: &mut Rig, ms: u64) -> Vec<(u64, u16, Vec<u8>)> {
    let mut v = vec![];
    for _ in 0..ms {
        for (p, b) in tx(&r.tick(1)) {
            v.push((r.now, p, b));
        }
    }
    v
}

fn neigh_state(r: &Rig, ifx: u16, ip: u32) -> Option<crate::l3::neigh::NeighState> {
    r.st.neigh.iter().find(|e| e.ifx == ifx && e.ip == ip).map(|e| e.state)
}

#[test]
fn a_stale_next_hop_keeps_forwarding_while_it_is_probed_by_unicast() {
    use crate::l3::neigh::NeighState;
    let mut r = Rig::with_config(&nud_cfg(), 1000);
    let pl = udp_payload();
    let f = eth(GW10, A, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 64, &pl));
    let routed = eth(B, GW20, &[], EtherType::IPV4, &ipv4(IP_A, IP_B, 17, 63, &pl));
    assert_eq!(r.run(0, &f).len(), 2, "queued; ARP request flooded in VLAN 20");
    let reply = arp_frame(2, B, IP_B, GW20, IP_GW20, GW20, &[]);
    assert_eq!(r.run(2, &reply)[1], (routed.clone(), Action::Tx(2)));
    // One second later the entry is STALE: nothing is sent for it while it is not used.
    assert!(ticks(&mut r, 1000).is_empty());
    assert_eq!(neigh_state(&r, 1, IP_B), Some(NeighState::Stale));
    // A packet on it is forwarded at once (this used to queue behind a new resolution).
    assert_eq!(tx(&r.run(0, &f)), vec![(2, routed.clone())]);
    assert_eq!(neigh_state(&r, 1, IP_B), Some(NeighState::Delay));
    // After the delay: a unicast probe from the gateway to B's MAC, out of B's port only.
    let probe = padded(arp_frame(1, GW20, IP_GW20, MacAddr::default(), IP_B, B, &[]), 60);
    let t0 = r.now;
    assert_eq!(ticks(&mut r, 200), vec![(t0 + 200, 2, probe.clone())]);
    assert_eq!(neigh_state(&r, 1, IP_B), Some(NeighState::Probe));
    // Still forwarding on the known MAC while probing.
    assert_eq!(tx(&r.run(0, &f)), vec![(2, routed.clone())]);
    // B answers (Linux answers a unicast request with a unicast reply): REACHABLE.
    assert_eq!(r.run(2, &reply), vec![(reply.clone(), Action::Consumed)]);
    assert_eq!(neigh_state(&r, 1, IP_B), Some(NeighState::Reachable));
    assert!(ticks(&mut r, 150).is_empty(), "no more probes");
    let ev = r.events();
    assert!(ev.contains(&("arp-request-sent", 1)) && ev.contains(&("arp-probe-sent", 1)), "{ev:?}");

    // Stale again, used, and this time B stays silent: two probes 100 ms apart, then the
    // entry is removed and the next packet starts a broadcast resolution.
    ticks(&mut r, 1000);
    assert_eq!(tx(&r.run(0, &f)), vec![(2, routed.clone())]);
    let t0 = r.now;
    assert_eq!(ticks(&mut r, 400), vec![(t0 + 200, 2, probe.clone()), (t0 + 300, 2, probe)]);
    assert_eq!(neigh_state(&r, 1, IP_B), None);
    let ev = r.events();
    assert!(ev.contains(&("arp-probe-sent", 3)) && ev.contains(&("neigh-probe-failed", 1)), "{ev:?}");
    assert_eq!(r.run(0, &f).len(), 2, "queued; broadcast ARP request flooded in VLAN 20");
    assert!(r.drops().is_empty(), "{:?}", r.drops());
}

#[test]
fn macs_aged_out_are_counted_and_then_flooded_again() {
    let mut r = Rig::new();
    let pl = ipv4(IP_A, 0xc000_0202, 17, 64, &udp_payload());
    // A learns on port 0; B's answer goes to port 0 only.
    r.run(0, &eth(B, A, &[], EtherType::IPV4, &pl));
    let back = eth(A, B, &[], EtherType::IPV4, &pl);
    assert_eq!(tx(&r.run(1, &back)).iter().map(|(p, _)| *p).collect::<Vec<_>>(), [0]);
    // Aging is incremental (256 slots a tick): sweep the whole table each time. Just before
    // the aging time (300 s) nothing is aged; past it, both MACs are.
    let sweep = |r: &mut Rig, ms: u64| {
        r.tick(ms);
        for _ in 0..200 {
            r.tick(1);
        }
    };
    sweep(&mut r, 298_000);
    assert!(!r.events().iter().any(|(e, _)| *e == "fdb-aged"), "{:?}", r.events());
    sweep(&mut r, 2_000);
    assert!(r.events().contains(&("fdb-aged", 2)), "{:?}", r.events());
    // A is unknown again: the frame to it floods.
    assert!(tx(&r.run(1, &back)).len() > 1);
}
