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
    Eal::init(&["--lcores", "0@0,1@1,2@1", "--main-lcore", "0", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", &prefix]).expect("EAL");
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
}
