//! Runs vnfd and testpmd on the same topology and measures them.

use crate::scenario::{pool_size, Case};
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vnf_core::control::reply;

/// Where and how long to run.
pub struct RunOpts {
    /// Seconds each program forwards.
    pub seconds: u32,
    /// vnfd binary.
    pub vnfd: PathBuf,
    /// testpmd binary.
    pub testpmd: PathBuf,
    /// Working directory.
    pub workdir: PathBuf,
    /// Reload vnfd's config over its control socket this often (ms; 0: never).
    pub reload_ms: u32,
    /// Read vnfd's per-node runtime counters (turned on after the warm-up) at the end.
    pub node_runtime: bool,
}

/// What one node of vnfd's graph cost, from its runtime counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeCost {
    /// The node's name.
    pub node: String,
    /// Clock cycles per packet spent in the node.
    pub cycles_per_packet: f64,
    /// Packets per call (the vector size the node saw).
    pub packets_per_call: f64,
    /// Packets it processed while the counters were on.
    pub packets: u64,
}

/// One program's figures for one case.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Measurement {
    /// Mean of the per-second sink rates after warm-up, in Mpps.
    pub mpps: f64,
    /// Per-second samples (Mpps) used for the mean.
    pub samples: Vec<f64>,
    /// Busy cycles of the forwarding core per packet.
    pub cycles_per_packet: f64,
    /// Packets dropped by the forwarding program (tx refused and the like).
    pub dropped: u64,
    /// Connections created per second (vnfd's `ct-new` after warm-up; 0 without conntrack).
    pub conn_per_s: f64,
    /// Live connections at the end (vnfd).
    pub connections: u64,
    /// Reloads done while forwarding (vnfd).
    pub reloads: u64,
    /// Reload latency (request to every worker running it), p50 / p99 / max, in µs.
    pub reload_latency_us: Vec<f64>,
    /// Per-node costs (vnfd with `node_runtime`).
    pub nodes: Vec<NodeCost>,
}

impl Measurement {
    fn from_samples(samples: Vec<f64>, cycles_per_packet: f64, dropped: u64) -> Result<Measurement, String> {
        // The first sample covers start-up; use the rest.
        let used: Vec<f64> = samples.iter().skip(1).copied().collect();
        if used.is_empty() {
            return Err(format!("too few rate samples ({samples:?})"));
        }
        let mpps = used.iter().sum::<f64>() / used.len() as f64;
        Ok(Measurement {
            mpps,
            samples: used,
            cycles_per_packet,
            dropped,
            conn_per_s: 0.0,
            connections: 0,
            reloads: 0,
            reload_latency_us: vec![],
            nodes: vec![],
        })
    }

    /// The measurement with the median rate.
    pub fn median(mut ms: Vec<Measurement>) -> Measurement {
        ms.sort_by(|a, b| a.mpps.total_cmp(&b.mpps));
        let i = ms.len() / 2;
        ms.swap_remove(i)
    }
}

fn prefix(what: &str) -> String {
    format!("vnfperf-{what}-{}", std::process::id())
}

/// vnfd with `--stats-interval 1`: rates from the sink port's tx counter deltas.
pub fn run_vnfd(o: &RunOpts, case: &Case) -> Result<Measurement, String> {
    let cfg = o.workdir.join("vnfd.toml");
    let text = format!(
        "{}\n[eal]\nargs = [\"--in-memory\", \"--no-pci\", \"--file-prefix\", \"{}\", \"--log-level\", \"lib.eal:warning\"]\n",
        case.vnfd_config,
        prefix("vnfd")
    );
    std::fs::write(&cfg, text).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(o.workdir.join("vnfd.log")).map_err(|e| e.to_string())?;
    let sock = if o.reload_ms > 0 || o.node_runtime { o.workdir.join("vnfd.sock") } else { PathBuf::new() };
    let _ = std::fs::remove_file(&sock);
    let mut child = Command::new(&o.vnfd)
        .args(["--config", cfg.to_str().unwrap_or_default()])
        // VNF_PERF_LEGACY=1: a vnfd from before the control socket (no --control option).
        .args(if std::env::var_os("VNF_PERF_LEGACY").is_some() {
            vec![]
        } else {
            vec!["--control", sock.to_str().unwrap_or_default()]
        })
        .args(["--stats-interval", "1", "--duration", &(o.seconds + 1).to_string()])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", o.vnfd.display()))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let runtime = o.node_runtime.then(|| {
        let (sock, secs) = (sock.clone(), o.seconds);
        std::thread::spawn(move || node_runtime(&sock, secs))
    });
    let reloader = (o.reload_ms > 0).then(|| {
        let (every, until) =
            (Duration::from_millis(u64::from(o.reload_ms)), Instant::now() + Duration::from_secs(u64::from(o.seconds)));
        std::thread::spawn(move || reload_loop(&sock, every, until))
    });
    let mut samples = vec![];
    let mut prev: Option<(f64, u64)> = None;
    // (packets, busy cycles) at the end of the warm-up sample and at the last sample.
    let mut window: Option<(u64, u64)> = None;
    let mut last = (0u64, 0u64);
    let mut dropped = 0;
    // (elapsed, ct-new) at the end of the warm-up sample and at the last sample.
    let mut ct0: Option<(f64, u64)> = None;
    let mut ct_last = (0.0, 0u64);
    let mut connections = 0;
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        // vnfd's --stats-interval lines are the control protocol's `Stats`.
        let Ok(v) = serde_json::from_str::<reply::Stats>(&line) else { continue };
        let t = v.elapsed_s;
        let tx = v.ports.get(1).map_or(0, |p| p.tx);
        let w0 = v.workers.first().cloned().unwrap_or_default();
        let (pk, cy) = (w0.packets, w0.busy_cycles);
        dropped = v.drops.values().sum();
        if let Some((pt, ptx)) = prev {
            if t > pt {
                samples.push((tx - ptx) as f64 / (t - pt) / 1e6);
            }
            if samples.len() == 1 && window.is_none() {
                // The first rate sample is warm-up; cycles are counted from its end.
                window = Some((pk, cy));
            }
        }
        let ct_new = v.events.get("ct-new").copied().unwrap_or(0);
        connections = w0.ct_entries;
        if samples.len() == 1 && ct0.is_none() {
            ct0 = Some((t, ct_new));
        }
        ct_last = (t, ct_new);
        last = (pk, cy);
        prev = Some((t, tx));
    }
    let cpp = match window {
        Some((pk0, cy0)) if last.0 > pk0 => (last.1 - cy0) as f64 / (last.0 - pk0) as f64,
        _ => 0.0,
    };
    let st = child.wait().map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("vnfd exited with {st}; see {}", o.workdir.join("vnfd.log").display()));
    }
    let mut m = Measurement::from_samples(samples, cpp, dropped)?;
    if let Some((t0, n0)) = ct0 {
        if ct_last.0 > t0 {
            m.conn_per_s = (ct_last.1 - n0) as f64 / (ct_last.0 - t0);
        }
    }
    m.connections = connections;
    if let Some(r) = runtime {
        m.nodes = r.join().map_err(|_| "runtime thread panicked")??;
    }
    if let Some(r) = reloader {
        let mut lat = r.join().map_err(|_| "reload thread panicked")??;
        m.reloads = lat.len() as u64;
        lat.sort_by(f64::total_cmp);
        if !lat.is_empty() {
            let at = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
            m.reload_latency_us = vec![at(0.5), at(0.99), lat[lat.len() - 1]];
        }
    }
    Ok(m)
}

/// One request on vnfd's control socket; its answer as the protocol's type `T`.
fn ask<T: serde::de::DeserializeOwned>(sock: &std::path::Path, req: &str) -> Result<T, String> {
    use std::io::Write;
    let mut c = std::os::unix::net::UnixStream::connect(sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    c.write_all(format!("{req}\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(c).read_line(&mut line).map_err(|e| e.to_string())?;
    let status: reply::Status = serde_json::from_str(&line).map_err(|e| format!("answer {line:?}: {e}"))?;
    if !status.ok {
        return Err(format!("{req}: refused: {line}"));
    }
    serde_json::from_str(&line).map_err(|e| format!("answer to {req} {line:?}: {e}"))
}

/// Turns vnfd's per-node runtime counters on after a 1 s warm-up and reads them 1 s before
/// vnfd stops (it forwards `seconds` + 1 s).
fn node_runtime(sock: &std::path::Path, seconds: u32) -> Result<Vec<NodeCost>, String> {
    let t0 = Instant::now();
    while !sock.exists() {
        if t0.elapsed() > Duration::from_secs(20) {
            return Err(format!("no control socket at {}", sock.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    ask::<reply::Runtime>(sock, r#"{"cmd":"runtime","enable":true}"#)?;
    std::thread::sleep(Duration::from_secs(u64::from(seconds.saturating_sub(2).max(1))));
    let r: reply::Runtime = ask(sock, r#"{"cmd":"runtime"}"#)?;
    Ok(r.nodes
        .into_iter()
        .map(|n| NodeCost {
            node: n.node,
            cycles_per_packet: n.cycles_per_packet,
            packets_per_call: n.packets_per_call,
            packets: n.packets,
        })
        .collect())
}

/// Asks vnfd to reload its config every `every` after a 1 s warm-up until `until`; returns
/// the latencies it reported (µs).
fn reload_loop(sock: &std::path::Path, every: Duration, until: Instant) -> Result<Vec<f64>, String> {
    let t0 = Instant::now();
    while !sock.exists() {
        if t0.elapsed() > Duration::from_secs(20) {
            return Err(format!("no control socket at {}", sock.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut lat = vec![];
    let mut next = Instant::now();
    while Instant::now() < until {
        let r: reply::ReloadReport = ask(sock, r#"{"cmd":"config reload"}"#)?;
        lat.push(r.latency_us);
        next += every;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(lat)
}

/// testpmd io forwarding with `--stats-period 1`: rates from port 1's Tx-pps lines.
pub fn run_testpmd(o: &RunOpts, case: &Case) -> Result<Measurement, String> {
    let logp = o.workdir.join("testpmd.log");
    let mut child = Command::new(&o.testpmd)
        .args([
            "-l",
            "0,1",
            "--main-lcore",
            "0",
            "--in-memory",
            "--no-pci",
            "--file-prefix",
            &prefix("testpmd"),
            "--log-level",
            "lib.eal:warning",
        ])
        .arg("--vdev")
        .arg(format!("net_pcap0,rx_pcap={},infinite_rx=1", case.pcap.display()))
        .args(["--vdev", "net_null0,no-rx=1", "--"])
        .args(["--forward-mode=io", "--no-flush-rx", "--nb-cores=1", "--burst=32", "--rxd=1024", "--txd=1024"])
        .arg(format!("--total-num-mbufs={}", pool_size(case.frames)))
        .arg(format!("--mbuf-size={}", case.mbuf_room))
        .args(["--stats-period", "1", "--record-core-cycles"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", o.testpmd.display()))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let pid = child.id();
    let secs = o.seconds + 1;
    // Stop it after the run time, as an operator would with Ctrl-C.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs as u64 + 1));
        let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
    });
    let t0 = Instant::now();
    let mut text = String::new();
    let mut samples = vec![];
    let mut port = None;
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        if line.contains("NIC statistics for port") {
            port = line.split_whitespace().find_map(|w| w.parse::<u32>().ok());
        }
        if port == Some(1) && line.trim_start().starts_with("Tx-pps:") {
            if let Some(v) = line.split_whitespace().nth(1).and_then(|x| x.parse::<f64>().ok()) {
                samples.push(v / 1e6);
            }
        }
        text.push_str(&line);
        text.push('\n');
    }
    let _ = killer.join();
    let st = child.wait().map_err(|e| e.to_string())?;
    std::fs::write(&logp, &text).map_err(|e| e.to_string())?;
    if !st.success() && t0.elapsed() < Duration::from_secs(secs as u64) {
        return Err(format!("testpmd exited with {st}; see {}", logp.display()));
    }
    // Drop samples from before forwarding started (zero rate) and the last partial one.
    let started: Vec<f64> = samples.iter().copied().skip_while(|&s| s == 0.0).collect();
    let cpp = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("CPU cycles/packet=")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|x| x.parse().ok())
        })
        .unwrap_or(0.0);
    let dropped = text
        .lines()
        .rfind(|l| l.contains("TX-dropped:"))
        .and_then(|l| l.split("TX-dropped:").nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Measurement::from_samples(started, cpp, dropped)
}

/// OVS-DPDK on the same pcap generator and null sink: one PMD thread on CPU 1, the rules of
/// the scenario ([`crate::ovs::flows`]); rates from the sink's tx counter once a second,
/// cycles/packet the PMD's processing cycles per packet after the warm-up second.
pub fn run_ovs(o: &RunOpts, sc: crate::scenario::Scenario, case: &Case) -> Result<Measurement, String> {
    use crate::ovs::{Ovs, Ports};
    let ports = Ports::Devargs {
        gen: format!("net_pcap0,rx_pcap={},infinite_rx=1", case.pcap.display()),
        sink: "net_null0,no-rx=1".into(),
    };
    let ovs = Ovs::start(&o.workdir.join("ovs"), sc, 1, &ports, |c| c)?;
    let t0 = Instant::now();
    let mut prev = (0.0, ovs.tx_packets("sink")?);
    let mut samples = vec![];
    for s in 1..=o.seconds {
        std::thread::sleep((t0 + Duration::from_secs(u64::from(s))).saturating_duration_since(Instant::now()));
        let (t, tx) = (t0.elapsed().as_secs_f64(), ovs.tx_packets("sink")?);
        samples.push(tx.saturating_sub(prev.1) as f64 / (t - prev.0) / 1e6);
        prev = (t, tx);
        if s == 1 {
            // The first second is warm-up (and the rules' installation): cycles from here.
            ovs.pmd_stats_clear()?;
        }
    }
    let cpp = ovs.pmd_cycles_per_packet()?;
    Measurement::from_samples(samples, cpp, 0)
}

/// `a` over `b`, 0 when `b` is not positive (a DUT that forwarded nothing).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}
