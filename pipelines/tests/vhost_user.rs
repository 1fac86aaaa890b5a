//! vhost-user: vnfd owns two net_vhost ports (as it would for a VM or a traffic generator);
//! this test process attaches to both with net_virtio_user, sends frames into one and
//! receives the same frames, byte for byte, from the other. Needs hugepages (ci/setup).

use pipelines::dpdk::{Burst, Eal, Mbuf, Mempool, Port, PortConf};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vnf_core::gen::FlowSet;

const VNFD: &str = env!("CARGO_BIN_EXE_vnfd");

fn wait_for(path: &Path, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

struct Vnfd(std::process::Child);

impl Drop for Vnfd {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn frames_pass_through_vnfd_between_two_virtio_user_ports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let pid = std::process::id();
    let cfg = format!(
        r#"
[dataplane]
workers = [1]
mempool_size = 8191
[eal]
args = ["--in-memory", "--no-pci", "--file-prefix", "vhostd{pid}", "-m", "256"]
[[port]]
name = "vm0"
devargs = "net_vhost0,iface={d}/vm0.sock,queues=1"
[[port]]
name = "vm1"
devargs = "net_vhost1,iface={d}/vm1.sock,queues=1"
[[xconnect]]
a = "vm0"
b = "vm1"
"#
    );
    let cfg_path = dir.path().join("vnfd.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let json = dir.path().join("stats.json");
    let mut child = Command::new(VNFD)
        .args(["--config", cfg_path.to_str().unwrap(), "--control", "", "--stats-json", json.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log =
        std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    let vnfd = Vnfd(child);
    assert!(
        wait_for(&dir.path().join("vm0.sock"), 20) && wait_for(&dir.path().join("vm1.sock"), 5),
        "vnfd made no vhost sockets"
    );

    // This process is the peer (a VM's virtio-net, or a traffic generator).
    Eal::init(&[
        "-l",
        "0",
        "--in-memory",
        "--single-file-segments",
        "--no-pci",
        "--file-prefix",
        &format!("vhostpeer{pid}"),
        "-m",
        "256",
    ])
    .expect("peer EAL (hugepages reserved? run ci/setup)");
    let pool = Mempool::new("peer", 4095, 0, 2176, 0).unwrap();
    let start = pool.available();
    let conf =
        PortConf { rx_queues: 1, tx_queues: 1, rx_desc: 256, tx_desc: 256, mtu: None, mac: None, promiscuous: false };
    let mut ports = vec![];
    for i in 0..2 {
        let mut p = Port::probe(&format!("net_virtio_user{i},path={d}/vm{i}.sock,queues=1,queue_size=256")).unwrap();
        p.configure(&conf, &pool).unwrap();
        p.start().unwrap();
        ports.push(p);
    }
    let tx0 = ports[0].take_tx_queue(0).unwrap();
    let rx1 = ports[1].take_rx_queue(0).unwrap();
    let tx1 = ports[1].take_tx_queue(0).unwrap();
    let rx0 = ports[0].take_rx_queue(0).unwrap();

    let there = FlowSet { flows: 500, ..Default::default() }.frames();
    let back = FlowSet { flows: 200, wire_len: 1518, ..Default::default() }.frames();
    let exchange = |frames: &[Vec<u8>], tx: &pipelines::dpdk::TxQueue, rx: &pipelines::dpdk::RxQueue| -> Vec<Vec<u8>> {
        let mut got = vec![];
        let mut sent = 0;
        let end = Instant::now() + Duration::from_secs(20);
        let mut b = Burst::new();
        while got.len() < frames.len() && Instant::now() < end {
            if sent < frames.len() {
                for f in &frames[sent..frames.len().min(sent + 32)] {
                    b.push(Mbuf::from_bytes(&pool, f).unwrap()).unwrap();
                }
                sent += tx.tx(&mut b);
                b.free_all(); // anything the (not yet connected) queue refused is sent again
            }
            let mut r = Burst::new();
            rx.rx(&mut r, 64);
            got.extend(r.mbufs().iter().map(Mbuf::to_vec));
            r.free_all();
            std::thread::sleep(Duration::from_micros(200));
        }
        got
    };
    let got = exchange(&there, &tx0, &rx1);
    assert_eq!(got.len(), there.len(), "vm0 -> vm1 frame count");
    assert!(got == there, "vm0 -> vm1 frames differ");
    let got = exchange(&back, &tx1, &rx0);
    assert_eq!(got.len(), back.len(), "vm1 -> vm0 frame count");
    assert!(got == back, "vm1 -> vm0 frames differ");

    drop(ports);
    assert_eq!(pool.available(), start, "peer mbufs all returned");
    drop(vnfd);
    let log = log.join().unwrap();
    assert!(log.contains("vnfd: stopped"), "vnfd did not stop cleanly:\n{log}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(s["ports"][0]["rx"], 500);
    assert_eq!(s["ports"][1]["tx"], 500);
    assert_eq!(s["ports"][1]["rx"], 200);
    assert_eq!(s["ports"][0]["tx"], 200);
    assert_eq!(s["drops"], serde_json::json!({}));
    assert_eq!(s["mempool"]["available"], 8191);
}
