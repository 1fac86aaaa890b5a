//! Two workers (lcores 1 and 2, both on CPU 1 via --lcores) over ring ports with two rx and
//! two tx queues each: every rx queue is polled by one worker, every worker sends on its own
//! tx queue, no frame is lost or reordered within a queue, counters sum exactly, and every
//! mbuf comes back. Runs both the cross-connect and the switch loop.

mod common;

use common::{drain, wait_until};
use pipelines::dataplane::Dataplane;
use pipelines::dpdk::{Eal, Mbuf, Mempool, Port, Ring};
use vnf_core::config::Config;
use vnf_core::gen::FlowSet;
use vnf_core::stats::WorkerSnapshot;

fn run(tag: &str, cfg: &str) {
    let pool = Mempool::new("tw_frames", 8191, 0, 2176, 0).unwrap();
    let start = pool.available();
    let rings = |p: &str| -> Vec<Ring> { (0..2).map(|q| Ring::new(&format!("{tag}_{p}{q}"), 4096).unwrap()).collect() };
    let (arx, atx, brx, btx) = (rings("arx"), rings("atx"), rings("brx"), rings("btx"));
    let cfg = Config::parse(cfg, None).unwrap();
    let mut dp = Dataplane::with_ports(&cfg, |i, _| {
        let (rx, tx) = if i == 0 { (&arx, &atx) } else { (&brx, &btx) };
        Port::from_rings(&format!("{tag}{i}"), &[&rx[0], &rx[1]], &[&tx[0], &tx[1]])
    })
    .unwrap();
    let dp_start = dp.pool().available();
    dp.start().unwrap();
    // queue 0 of port a is polled by worker 0, queue 1 by worker 1 (round-robin plan)
    let q0: Vec<Vec<u8>> = FlowSet { flows: 700, vary_src_mac: true, ..Default::default() }.frames();
    let q1: Vec<Vec<u8>> = FlowSet { flows: 900, wire_len: 200, vary_src_mac: true, ..Default::default() }.frames();
    for (ring, frames) in [(&arx[0], &q0), (&arx[1], &q1)] {
        for f in frames.iter() {
            ring.push(Mbuf::from_bytes(&pool, f).unwrap()).unwrap();
        }
    }
    let total = |dp: &Dataplane| WorkerSnapshot::sum(&dp.worker_snapshots());
    assert!(wait_until(20, || total(&dp).packets == 1600), "{:?}", total(&dp));
    assert!(wait_until(5, || btx[0].count() + btx[1].count() == 1600));
    dp.stop_workers();
    let per = dp.worker_snapshots();
    assert_eq!(per[0].packets, 700, "worker 0 polled queue 0");
    assert_eq!(per[1].packets, 900, "worker 1 polled queue 1");
    // each worker sent on its own tx queue, in order
    assert_eq!(drain(&btx[0]), q0);
    assert_eq!(drain(&btx[1]), q1);
    let t = total(&dp);
    assert_eq!((t.ports[0].rx, t.ports[1].tx, t.ports[1].tx_full), (1600, 1600, 0));
    assert!(t.drops.iter().all(|&d| d == 0), "{:?}", t.named_drops());
    assert_eq!(dp.pool().available(), dp_start);
    drop(dp);
    assert_eq!(pool.available(), start);
}

#[test]
fn two_workers_share_the_ports_without_loss() {
    let prefix = format!("vnftw{}", std::process::id());
    Eal::init(&[
        "--lcores",
        "0@0,1@1,2@1",
        "--main-lcore",
        "0",
        "--no-huge",
        "--no-pci",
        "-m",
        "512",
        "--file-prefix",
        &prefix,
    ])
    .expect("EAL");
    let base = r#"
[dataplane]
workers = [1, 2]
mempool_size = 16383
rx_desc = 256
tx_desc = 256
[[port]]
name = "a"
devargs = "ring_a"
rx_queues = 2
PORT_A
[[port]]
name = "b"
devargs = "ring_b"
rx_queues = 2
PORT_B
"#;
    // the cross-connect loop
    run("twx", &(base.replace("PORT_A", "").replace("PORT_B", "") + "[[xconnect]]\na = \"a\"\nb = \"b\"\n"));
    // the switch loop (destination static behind b; each worker learns on its own)
    run(
        "tws",
        &(base.replace("PORT_A", "mode = \"access\"\nvlan = 10").replace("PORT_B", "mode = \"access\"\nvlan = 10")
            + "[[bridge]]\nname = \"v10\"\nvlan = 10\n[[bridge.static_mac]]\nmac = \"02:00:00:00:00:02\"\nport = \"b\"\n"),
    );
    // the stateful path with handoff between the workers
    run_nat();
}

/// NAT with two workers: outbound flows arrive on both workers' queues, replies all on
/// worker 0's queue. Every connection lives on its owner: outbound packets leave on the
/// owner's tx queue with an external port of the owner's slice (port % 2 == worker), and
/// every reply is handed to and translated by the owner (it leaves on the owner's queue).
fn run_nat() {
    const N: u32 = 200;
    let tag = "twn";
    let pool = Mempool::new("twn_frames", 8191, 0, 2176, 0).unwrap();
    let start = pool.available();
    let rings = |p: &str| -> Vec<Ring> { (0..2).map(|q| Ring::new(&format!("{tag}_{p}{q}"), 4096).unwrap()).collect() };
    let (arx, atx, brx, btx) = (rings("arx"), rings("atx"), rings("brx"), rings("btx"));
    let host_mac = |i: u32| format!("02:00:00:01:{:02x}:{:02x}", i >> 8, i & 0xff);
    let mut text = String::from(
        r#"
[dataplane]
workers = [1, 2]
mempool_size = 16383
rx_desc = 256
tx_desc = 256
[[port]]
name = "a"
devargs = "ring_a"
rx_queues = 2
mode = "access"
vlan = 10
[[port]]
name = "b"
devargs = "ring_b"
rx_queues = 2
mode = "access"
vlan = 20
[[bridge]]
name = "inside"
vlan = 20
gateway = "198.19.0.254/24"
zone = "outside"
[[bridge.neighbor]]
ip = "198.19.0.1"
mac = "02:00:00:00:00:02"
[[bridge.static_mac]]
mac = "02:00:00:00:00:02"
port = "b"
[[nat.snat]]
from = ["198.18.0.0/16"]
zone = "outside"
pool = ["198.19.0.100-198.19.0.101"]
[[bridge]]
name = "lan"
vlan = 10
gateway = "198.18.255.254/16"
zone = "inside"
"#,
    );
    for i in 1..=N {
        text += &format!("[[bridge.neighbor]]\nip = \"198.18.{}.{}\"\nmac = \"{}\"\n", i >> 8, i & 0xff, host_mac(i));
    }
    // The first bridge is named "inside" but is the outside (VLAN 20); keep names honest.
    let text = text.replace("name = \"inside\"\nvlan = 20", "name = \"wan\"\nvlan = 20");
    let cfg = Config::parse(&text, None).unwrap();
    let mut dp = Dataplane::with_ports(&cfg, |i, _| {
        let (rx, tx) = if i == 0 { (&arx, &atx) } else { (&brx, &btx) };
        Port::from_rings(&format!("{tag}{i}"), &[&rx[0], &rx[1]], &[&tx[0], &tx[1]])
    })
    .unwrap();
    let dp_start = dp.pool().available();
    dp.start().unwrap();
    let gw10 = vnf_core::wire::MacAddr([0x02, 0x76, 0x6e, 0x66, 0, 10]);
    let set = FlowSet { flows: N + 1, dst_mac: gw10, ..Default::default() };
    // Outbound: even flows on queue 0 (worker 0), odd flows on queue 1 (worker 1).
    for i in 1..=N {
        arx[(i % 2) as usize].push(Mbuf::from_bytes(&pool, &set.frame(i)).unwrap()).unwrap();
    }
    assert!(
        wait_until(20, || btx[0].count() + btx[1].count() == N),
        "outbound: {:?}",
        WorkerSnapshot::sum(&dp.worker_snapshots()).named_drops()
    );
    let mut replies = vec![];
    for (q, ring) in btx.iter().enumerate() {
        for f in drain(ring) {
            let src = u32::from_be_bytes([f[26], f[27], f[28], f[29]]);
            let sport = u16::from_be_bytes([f[34], f[35]]);
            assert!(src == 0xc613_0064 || src == 0xc613_0065, "source is a pool address");
            assert_eq!(usize::from(sport % 2), q, "worker {q} translated to a port of its slice");
            replies.push((src, sport));
        }
    }
    // Replies: all on queue 0 of b, so worker 0 receives them all.
    let mut expect = [vec![], vec![]];
    for &(ext, port) in &replies {
        let mut f = vec![0x02, 0x76, 0x6e, 0x66, 0, 20, 2, 0, 0, 0, 0, 2, 8, 0];
        let mut ip = [0u8; 20];
        vnf_core::wire::Ipv4Repr {
            src: 0xc613_0001,
            dst: ext,
            protocol: 17,
            payload_len: 12,
            ttl: 64,
            dscp_ecn: 0,
            ident: 1,
            dont_frag: true,
        }
        .emit(&mut ip);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&9u16.to_be_bytes());
        f.extend_from_slice(&port.to_be_bytes());
        f.extend_from_slice(&[0, 12, 0, 0, b'r', b'e', b'p', b'l']);
        f.resize(60, 0);
        brx[0].push(Mbuf::from_bytes(&pool, &f).unwrap()).unwrap();
        expect[usize::from(port % 2)].push(port);
    }
    assert!(
        wait_until(20, || atx[0].count() + atx[1].count() == N),
        "replies: {:?}",
        WorkerSnapshot::sum(&dp.worker_snapshots()).named_drops()
    );
    dp.stop_workers();
    let mut seen = 0;
    for q in 0..2 {
        let out = drain(&atx[q]);
        assert_eq!(out.len(), expect[q].len(), "replies owned by worker {q} leave on its queue");
        for f in out {
            let dst = u32::from_be_bytes([f[30], f[31], f[32], f[33]]);
            let i = dst & 0xffff;
            assert_eq!(dst >> 16, 0xc612, "back to an inside host");
            assert_eq!(u16::from_be_bytes([f[36], f[37]]), 1024, "inside port restored");
            assert_eq!(f[0..6], host_mac(i).parse::<vnf_core::wire::MacAddr>().unwrap().0, "to the host's MAC");
            seen += 1;
        }
    }
    assert_eq!(seen, N);
    let per = dp.worker_snapshots();
    let ev = |w: usize, name: &str| per[w].named_events().iter().find(|e| e.0 == name).map(|e| e.1).unwrap_or(0);
    let odd = expect[1].len() as u64;
    assert!(ev(0, "handoff-out") >= odd, "worker 0 handed every odd-port reply over");
    assert_eq!(ev(1, "handoff-in"), ev(0, "handoff-out"), "worker 1 took what worker 0 handed");
    assert_eq!(ev(0, "handoff-in"), ev(1, "handoff-out"));
    assert_eq!(ev(0, "ct-new") + ev(1, "ct-new"), u64::from(N));
    assert_eq!(ev(0, "ct-new"), expect[0].len() as u64, "each connection was created by its owner");
    let t = WorkerSnapshot::sum(&per);
    assert!(t.drops.iter().all(|&d| d == 0), "{:?}", t.named_drops());
    assert_eq!(dp.pool().available(), dp_start);
    drop(dp);
    assert_eq!(pool.available(), start);
}
