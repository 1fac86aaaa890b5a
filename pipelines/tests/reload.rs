//! Hot reload under load on real ring ports: a generator pushes a known number of frames
//! while the config is reloaded every 100 ms, alternating two valid configs (one stops VLAN
//! 20 on the trunk and adds a port and a bridge; the other undoes it), with an invalid
//! config in the middle. Every frame is accounted for: out of a port, byte-exact and in
//! order, or dropped by policy (`vlan-not-allowed`); nothing else is dropped, and every
//! mbuf comes back.

mod common;

use pipelines::dataplane::Dataplane;
use pipelines::dpdk::{Burst, Mbuf, Mempool, Port, Ring};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vnf_core::config::Config;
use vnf_core::stats::WorkerSnapshot;

const BASE: &str = r#"
[dataplane]
workers = [1]
mempool_size = 8191
rx_desc = 256
tx_desc = 256

[[port]]
name = "t"
devargs = "rl_t"
mode = "trunk"
allowed_vlans = ALLOWED

[[port]]
name = "a"
devargs = "rl_a"
mode = "access"
vlan = 10

[[port]]
name = "b"
devargs = "rl_b"
mode = "access"
vlan = 20

[[bridge]]
name = "v10"
vlan = 10
static_mac = [{ mac = "02:00:00:00:00:0a", port = "a" }]

[[bridge]]
name = "v20"
vlan = 20
static_mac = [{ mac = "02:00:00:00:00:0b", port = "b" }]
"#;

/// Config A: VLANs 10 and 20 on the trunk.
fn cfg_a() -> String {
    BASE.replace("ALLOWED", "[10, 20]")
}

/// Config B: VLAN 20 no longer allowed on the trunk, and a port and a bridge more.
fn cfg_b() -> String {
    BASE.replace("ALLOWED", "[10]")
        + "[[port]]\nname = \"x\"\ndevargs = \"net_null7,no-rx=1\"\nmode = \"access\"\nvlan = 30\n[[bridge]]\nname = \"v30\"\nvlan = 30\n"
}

const SRC: [u8; 6] = [2, 0, 0, 0, 0, 0x5c];

/// A frame on the trunk to the host behind `a` (VLAN 10) or `b` (VLAN 20), numbered.
fn frame(vlan: u16, seq: u64) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, if vlan == 10 { 0x0a } else { 0x0b }];
    f.extend_from_slice(&SRC);
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&vlan.to_be_bytes());
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(&seq.to_be_bytes());
    f.resize(64, 0);
    f
}

fn untag(f: &[u8]) -> Vec<u8> {
    [&f[..12], &f[16..]].concat()
}

struct Out {
    frames: u64,
    last: Option<u64>,
}

impl Out {
    /// Checks a frame out of an access port: the untagged frame that went in, in order.
    fn take(&mut self, vlan: u16, bytes: &[u8]) {
        let seq = u64::from_be_bytes(bytes[14..22].try_into().unwrap());
        assert_eq!(bytes, untag(&frame(vlan, seq)).as_slice(), "frame {seq} out of VLAN {vlan}");
        assert!(self.last.is_none_or(|l| seq > l), "VLAN {vlan}: {seq} after {:?}", self.last);
        self.last = Some(seq);
        self.frames += 1;
    }
}

fn drain_into(ring: &Ring, vlan: u16, out: &mut Out) {
    let mut b = Burst::new();
    while ring.dequeue(&mut b, 256) > 0 {
        for m in b.mbufs() {
            out.take(vlan, &m.to_vec());
        }
        b.free_all();
    }
}

#[test]
fn reload_every_100_ms_under_load_loses_no_frame() {
    common::eal();
    let _l = common::lcores();
    let pool = Mempool::new("rl_frames", 8191, 0, 2176, 0).unwrap();
    let start = pool.available();
    let rx: Vec<Ring> = (0..3).map(|i| Ring::new(&format!("rl_rx{i}"), 4096).unwrap()).collect();
    let tx: Vec<Ring> = (0..3).map(|i| Ring::new(&format!("rl_tx{i}"), 16384).unwrap()).collect();
    let cfg = Config::parse(&cfg_a(), None).unwrap();
    let mut dp = Dataplane::with_ports(&cfg, |i, _| Port::from_rings(&format!("rl{i}"), &[&rx[i]], &[&tx[i]])).unwrap();
    let dp_start = dp.pool().available();
    dp.start().unwrap();

    // The generator: N frames, alternating VLAN 10 and 20, as fast as the rx ring takes them,
    // draining the tx rings as it goes.
    const N: u64 = 1_500_000;
    let done = Arc::new(AtomicBool::new(false));
    let (mut out_a, mut out_b) = (Out { frames: 0, last: None }, Out { frames: 0, last: None });
    let gen_done = done.clone();
    let reload_cfgs = (Config::parse(&cfg_a(), None).unwrap(), Config::parse(&cfg_b(), None).unwrap());
    // Valid on its own, but it changes the device of a running port.
    let bad = Config::parse(&BASE.replace("ALLOWED", "[10]").replace("\"rl_b\"", "\"rl_z\""), None).unwrap();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let gen = s.spawn(|| {
            let mut seq = 0u64;
            let mut b = Burst::new();
            while seq < N {
                while b.len() < 32 && seq < N {
                    let vlan = if seq.is_multiple_of(2) { 10 } else { 20 };
                    match Mbuf::from_bytes(&pool, &frame(vlan, seq)) {
                        Some(m) => {
                            b.push(m).unwrap();
                            seq += 1;
                        }
                        None => break,
                    }
                }
                rx[0].enqueue(&mut b);
                drain_into(&tx[1], 10, &mut out_a);
                drain_into(&tx[2], 20, &mut out_b);
                if !b.is_empty() {
                    std::thread::yield_now();
                }
            }
            // Whatever the ring did not take yet.
            while !b.is_empty() {
                rx[0].enqueue(&mut b);
                drain_into(&tx[1], 10, &mut out_a);
                drain_into(&tx[2], 20, &mut out_b);
            }
            gen_done.store(true, Ordering::Release);
            (out_a, out_b)
        });

        // The control side: a reload every 100 ms until the generator is done.
        let mut reloads = 0u64;
        let mut refused = 0;
        let mut latencies = vec![];
        while !done.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(100));
            if reloads == 5 && refused == 0 {
                let generation = dp.generation();
                let e = dp.reload(bad.clone()).unwrap_err().to_string();
                assert!(e.starts_with("port[2].devargs: port \"b\" is running with another devargs"), "{e}");
                assert_eq!(dp.generation(), generation, "a refused config changes nothing");
                refused += 1;
                continue;
            }
            let next = if reloads.is_multiple_of(2) { &reload_cfgs.1 } else { &reload_cfgs.0 };
            let r = dp.reload(next.clone()).unwrap();
            latencies.push(r.latency_us);
            reloads += 1;
            assert_eq!(dp.generation(), 1 + reloads);
            if reloads % 2 == 1 {
                assert_eq!((r.ports_added.as_slice(), r.ports_removed.len()), (["x".to_string()].as_slice(), 0));
            } else {
                assert_eq!((r.ports_added.len(), r.ports_removed.as_slice()), (0, ["x".to_string()].as_slice()));
            }
        }
        let (mut out_a, mut out_b) = gen.join().unwrap();
        if reloads % 2 == 1 {
            dp.reload(reload_cfgs.0.clone()).unwrap();
            reloads += 1;
        }
        let total = |dp: &Dataplane| WorkerSnapshot::sum(&dp.worker_snapshots());
        assert!(common::wait_until(20, || total(&dp).packets == N), "vnfd saw {} of {N}", total(&dp).packets);
        dp.stop_workers();
        drain_into(&tx[1], 10, &mut out_a);
        drain_into(&tx[2], 20, &mut out_b);
        let t = total(&dp);
        let policy = t.named_drops().iter().find(|(k, _)| *k == "vlan-not-allowed").map_or(0, |x| x.1);
        let other: Vec<_> = t.named_drops().into_iter().filter(|(k, _)| *k != "vlan-not-allowed").collect();
        eprintln!(
            "{N} frames in {:.2} s, {reloads} reloads (+{refused} refused): out a {} b {}, policy drops {policy}; reload latency us {:?}",
            t0.elapsed().as_secs_f64(),
            out_a.frames,
            out_b.frames,
            latencies.iter().map(|l| *l as u64).collect::<Vec<_>>()
        );
        assert!(reloads >= 6, "only {reloads} reloads happened during the run");
        assert_eq!(other, vec![], "nothing dropped but by policy");
        assert_eq!(out_a.frames, N / 2, "VLAN 10 is allowed by both configs: every frame out");
        assert_eq!(out_a.frames + out_b.frames + policy, N, "frames in = frames out + dropped by policy");
        assert!(policy > 0 && out_b.frames > 0, "both configs were in effect for VLAN 20");
        // Counters survived the reloads: per-port counts add up over all generations.
        let s = dp.stats();
        assert_eq!(
            s.ports.iter().map(|p| (p.name.as_str(), p.rx, p.tx)).collect::<Vec<_>>(),
            vec![("t", N, 0), ("a", 0, out_a.frames), ("b", 0, out_b.frames)]
        );
    });
    assert_eq!(dp.pool().available(), dp_start, "dataplane pool is whole");
    drop(dp);
    assert_eq!(pool.available(), start, "every mbuf is back");
}
