//! In-process tests over ring ports: known frames in on one ring, the same frames out of the
//! other; counters exact; every mbuf back in its pool afterwards.

mod common;

use common::drain;

use pipelines::dataplane::Dataplane;
use pipelines::dpdk::{Mbuf, Mempool, Port, Ring};
use vnf_core::config::Config;
use vnf_core::gen::FlowSet;
use vnf_core::stats::{DropReason, WorkerSnapshot};

const CFG: &str = r#"
[dataplane]
workers = [1]
mempool_size = 8191
rx_desc = 256
tx_desc = 256

[[port]]
name = "a"
devargs = "ring_a"

[[port]]
name = "b"
devargs = "ring_b"

[[port]]
name = "c"
devargs = "ring_c"

[[xconnect]]
a = "a"
b = "b"
"#;

/// rx and tx rings of the three ports.
struct Rings {
    rx: Vec<Ring>,
    tx: Vec<Ring>,
}

fn rings(tag: &str, tx_size: u32) -> Rings {
    let rx = (0..3).map(|i| Ring::new(&format!("{tag}_rx{i}"), 4096).unwrap()).collect();
    let tx = (0..3).map(|i| Ring::new(&format!("{tag}_tx{i}"), tx_size).unwrap()).collect();
    Rings { rx, tx }
}

fn dataplane(tag: &str, r: &Rings) -> Dataplane {
    dataplane_of(CFG, tag, r)
}

fn dataplane_of(text: &str, tag: &str, r: &Rings) -> Dataplane {
    let cfg = Config::parse(text, None).unwrap();
    Dataplane::with_ports(&cfg, |i, _| Port::from_rings(&format!("{tag}{i}"), &[&r.rx[i]], &[&r.tx[i]])).unwrap()
}

fn inject(pool: &Mempool, ring: &Ring, frames: &[Vec<u8>]) {
    for f in frames {
        ring.push(Mbuf::from_bytes(pool, f).expect("mbuf")).expect("ring has room");
    }
}

fn total(dp: &Dataplane) -> WorkerSnapshot {
    WorkerSnapshot::sum(&dp.worker_snapshots())
}

#[test]
fn frames_cross_both_ways_byte_exact_and_nothing_leaks() {
    common::eal();
    let _l = common::lcores();
    let pool = Mempool::new("t_frames", 4095, 0, 2176, 0).unwrap();
    let start = pool.available();
    let r = rings("x", 4096);
    let mut dp = dataplane("x", &r);
    let dp_start = dp.pool().available();
    dp.start().unwrap();

    let ab: Vec<Vec<u8>> = FlowSet { flows: 1000, ..Default::default() }.frames();
    let ba: Vec<Vec<u8>> = FlowSet { flows: 300, wire_len: 1518, ..Default::default() }.frames();
    inject(&pool, &r.rx[0], &ab);
    inject(&pool, &r.rx[1], &ba);
    assert!(common::wait_until(10, || total(&dp).packets == 1300), "worker saw {}", total(&dp).packets);
    assert!(common::wait_until(5, || r.tx[1].count() == 1000 && r.tx[0].count() == 300));
    dp.stop_workers();

    assert_eq!(drain(&r.tx[1]), ab, "a -> b: same frames, same order");
    assert_eq!(drain(&r.tx[0]), ba, "b -> a: same frames, same order");
    assert!(drain(&r.tx[2]).is_empty(), "nothing to the unconnected port");

    let t = total(&dp);
    assert_eq!((t.ports[0].rx, t.ports[0].tx, t.ports[0].tx_full), (1000, 300, 0));
    assert_eq!((t.ports[1].rx, t.ports[1].tx, t.ports[1].tx_full), (300, 1000, 0));
    assert_eq!((t.ports[2].rx, t.ports[2].tx), (0, 0));
    assert!(t.drops.iter().all(|&d| d == 0), "no drops: {:?}", t.named_drops());
    let hw = dp.stats();
    assert_eq!(hw.ports[0].hw.ipackets, 1000);
    assert_eq!(hw.ports[1].hw.opackets, 1000);

    assert_eq!(dp.pool().available(), dp_start, "dataplane pool is whole");
    drop(dp);
    assert_eq!(pool.available(), start, "every injected mbuf is back in its pool");
}

#[test]
fn refused_tx_and_unconnected_ports_are_counted_drops() {
    common::eal();
    let _l = common::lcores();
    let pool = Mempool::new("t_frames", 1023, 0, 2176, 0).unwrap();
    let start = pool.available();
    // b's tx ring holds 63 frames and is never drained: the rest must be refused.
    let r = rings("y", 64);
    let mut dp = dataplane("y", &r);
    dp.start().unwrap();

    let frames = FlowSet { flows: 200, ..Default::default() }.frames();
    inject(&pool, &r.rx[0], &frames);
    inject(&pool, &r.rx[2], &frames[..10]);
    assert!(common::wait_until(10, || total(&dp).packets == 210));
    dp.stop_workers();
    let t = total(&dp);
    assert_eq!(t.ports[0].rx, 200);
    assert_eq!(t.ports[1].tx, 63);
    assert_eq!(t.ports[1].tx_full, 137);
    assert_eq!(t.ports[1].tx_retries, 0, "ring ports retry nothing by default");
    assert_eq!(t.ports[2].rx, 10);
    assert_eq!(t.drops[DropReason::TxFull.index()], 137);
    assert_eq!(t.drops[DropReason::NoForward.index()], 10);
    assert_eq!(t.named_drops(), vec![("tx-full", 137), ("no-forward", 10)]);
    assert_eq!(drain(&r.tx[1]), frames[..63].to_vec());
    drop(dp);
    assert_eq!(pool.available(), start, "dropped mbufs were freed");
}

#[test]
fn bad_lcore_is_refused_naming_the_key() {
    common::eal();
    let cfg = Config::parse(&CFG.replace("workers = [1]", "workers = [5]"), None).unwrap();
    let err = Dataplane::with_ports(&cfg, |i, _| Port::from_rings(&format!("z{i}"), &[], &[])).err().expect("refused");
    assert!(err.to_string().starts_with("dataplane.workers[0]: lcore 5 is not enabled"), "{err}");
}

#[test]
fn the_report_rates_a_worker_over_its_first_to_last_packet_not_the_uptime() {
    common::eal();
    let _l = common::lcores();
    let pool = Mempool::new("t_rate", 4095, 0, 2176, 0).unwrap();
    let r = rings("rt", 4096);
    let mut dp = dataplane("rt", &r);
    dp.start().unwrap();
    let frames: Vec<Vec<u8>> = FlowSet { flows: 500, ..Default::default() }.frames();
    // Idle first: the uptime grows, the active interval does not start.
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(dp.stats().workers[0].active_s, 0.0, "no packet yet");
    inject(&pool, &r.rx[0], &frames);
    assert!(common::wait_until(10, || total(&dp).packets == 500));
    let t1 = std::time::Instant::now();
    // A known gap, then the second half: the interval is at least the gap.
    std::thread::sleep(std::time::Duration::from_millis(300));
    inject(&pool, &r.rx[0], &frames);
    assert!(common::wait_until(10, || total(&dp).packets == 1000));
    let gap = t1.elapsed().as_secs_f64();
    // Idle again after the last packet: the interval stays.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let s = dp.stats();
    let w = &s.workers[0];
    assert!(w.active_s >= 0.29 && w.active_s <= gap + 0.05, "active {} s, gap {gap} s", w.active_s);
    assert!(s.elapsed_s > w.active_s + 0.8, "uptime {} s includes the idle parts", s.elapsed_s);
    assert!((w.pps - 1000.0 / w.active_s).abs() < 1e-6, "{} pps over {} s", w.pps, w.active_s);
    let text = s.to_string();
    assert!(text.contains(&format!("Mpps over {:>8.3} s", w.active_s)), "{text}");
    dp.stop_workers();
    drain(&r.tx[1]);
}

#[test]
fn a_full_tx_ring_is_offered_again_tx_retries_times_then_counted_full() {
    common::eal();
    let _l = common::lcores();
    let pool = Mempool::new("t_retry", 1023, 0, 2176, 0).unwrap();
    let r = rings("z", 64);
    let text = CFG.replace("devargs = \"ring_b\"", "devargs = \"ring_b\"\ntx_retries = 3");
    let mut dp = dataplane_of(&text, "z", &r);
    dp.start().unwrap();
    let frames = FlowSet { flows: 200, ..Default::default() }.frames();
    inject(&pool, &r.rx[0], &frames);
    assert!(common::wait_until(10, || total(&dp).packets == 200));
    dp.stop_workers();
    let t = total(&dp);
    // Nobody drains b: every burst that found the ring full was offered 3 more times, then
    // dropped; what the ring took is what it holds.
    assert_eq!((t.ports[1].tx, t.ports[1].tx_full), (63, 137));
    let r3 = t.ports[1].tx_retries;
    assert!(r3 >= 3 && r3.is_multiple_of(3), "{r3} retries");
    assert_eq!(dp.stats().ports[1].tx_retries, r3, "and stats shows them");
    assert_eq!(drain(&r.tx[1]), frames[..63].to_vec());
}
