//! The switch stage on real mbufs in the real worker, over ring ports: 802.1Q and QinQ tags
//! pushed and popped byte-exact, flooding with mbuf copies, learning, and every mbuf back in
//! its pool afterwards.

mod common;

use common::drain;

use pipelines::dataplane::Dataplane;
use pipelines::dpdk::{Mbuf, Mempool, Port, Ring};
use vnf_core::config::Config;
use vnf_core::gen::FlowSet;
use vnf_core::stats::WorkerSnapshot;
use vnf_core::wire::MacAddr;

const CFG: &str = r#"
[dataplane]
workers = [1]
mempool_size = 8191
rx_desc = 256
tx_desc = 256

[[port]]
name = "a"
devargs = "ring_a"
mode = "access"
vlan = 10

[[port]]
name = "t"
devargs = "ring_t"
mode = "trunk"
allowed_vlans = ["10-20"]

[[port]]
name = "q"
devargs = "ring_q"
mode = "trunk"
outer_vlan = 100
allowed_vlans = [10]

[[port]]
name = "b"
devargs = "ring_b"
mode = "access"
vlan = 20

[[bridge]]
name = "v10"
vlan = 10

[[bridge]]
name = "v20"
vlan = 20
"#;

fn tag(f: &[u8], tags: &[[u8; 4]]) -> Vec<u8> {
    let mut v = f[..12].to_vec();
    for t in tags {
        v.extend_from_slice(t);
    }
    v.extend_from_slice(&f[12..]);
    v
}

#[test]
fn trunk_access_and_qinq_tags_are_exact_and_nothing_leaks() {
    common::eal();
    let _l = common::lcores();
    let pool = Mempool::new("sw_frames", 4095, 0, 2176, 0).unwrap();
    let start = pool.available();
    let rx: Vec<Ring> = (0..4).map(|i| Ring::new(&format!("sw_rx{i}"), 4096).unwrap()).collect();
    let tx: Vec<Ring> = (0..4).map(|i| Ring::new(&format!("sw_tx{i}"), 4096).unwrap()).collect();
    let cfg = Config::parse(CFG, None).unwrap();
    let mut dp = Dataplane::with_ports(&cfg, |i, _| Port::from_rings(&format!("sw{i}"), &[&rx[i]], &[&tx[i]])).unwrap();
    let dp_start = dp.pool().available();
    dp.start().unwrap();
    let total = |dp: &Dataplane| WorkerSnapshot::sum(&dp.worker_snapshots());

    // 100 untagged frames on access port a (VLAN 10), unknown destination: flooded to the
    // trunk (C-tag 10) and the QinQ trunk (S-tag 100 + C-tag 10), not to b (VLAN 20).
    let x = FlowSet { flows: 100, vary_src_mac: true, dst_mac: MacAddr([2, 0, 0, 0, 0, 0xee]), ..Default::default() };
    let frames = x.frames();
    for f in &frames {
        rx[0].push(Mbuf::from_bytes(&pool, f).unwrap()).unwrap();
    }
    assert!(common::wait_until(10, || total(&dp).packets == 100));
    assert!(common::wait_until(5, || tx[1].count() == 100 && tx[2].count() == 100));
    let c10 = [0x81, 0x00, 0x00, 0x0a];
    let s100 = [0x88, 0xa8, 0x00, 0x64];
    assert_eq!(drain(&tx[1]), frames.iter().map(|f| tag(f, &[c10])).collect::<Vec<_>>());
    assert_eq!(drain(&tx[2]), frames.iter().map(|f| tag(f, &[s100, c10])).collect::<Vec<_>>());
    assert!(drain(&tx[3]).is_empty() && drain(&tx[0]).is_empty());

    // The replies come back tagged on the QinQ trunk to the learned MACs: unicast to a only,
    // both tags popped.
    let replies: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut r = f.clone();
            r[0..6].copy_from_slice(&f[6..12]);
            r[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xee]);
            r
        })
        .collect();
    for r in &replies {
        rx[2].push(Mbuf::from_bytes(&pool, &tag(r, &[s100, c10])).unwrap()).unwrap();
    }
    assert!(common::wait_until(10, || total(&dp).packets == 200));
    assert!(common::wait_until(5, || tx[0].count() == 100));
    assert_eq!(drain(&tx[0]), replies);
    assert!(drain(&tx[1]).is_empty(), "learned: not flooded");

    // VLAN 20 tagged on the trunk -> untagged on b; VLAN 30 is not allowed.
    let y = FlowSet { flows: 10, vlan: Some(20), ..Default::default() }.frames();
    let z = FlowSet { flows: 5, vlan: Some(30), ..Default::default() }.frames();
    for f in y.iter().chain(&z) {
        rx[1].push(Mbuf::from_bytes(&pool, f).unwrap()).unwrap();
    }
    assert!(common::wait_until(10, || total(&dp).packets == 215));
    assert!(common::wait_until(5, || tx[3].count() == 10));
    dp.stop_workers();
    let untagged: Vec<Vec<u8>> = y.iter().map(|f| [&f[..12], &f[16..]].concat()).collect();
    assert_eq!(drain(&tx[3]), untagged);

    let t = total(&dp);
    assert_eq!(t.named_drops(), vec![("vlan-not-allowed", 5)]);
    let ev = t.named_events();
    assert!(ev.contains(&("flood-copies", 100)) && ev.contains(&("fdb-learned", 102)), "{ev:?}");
    assert_eq!(dp.pool().available(), dp_start, "dataplane pool is whole");
    drop(dp);
    assert_eq!(pool.available(), start, "every mbuf is back");
}
