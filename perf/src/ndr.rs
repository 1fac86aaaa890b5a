//! `vnf-perf ndr`: RFC 2544 throughput (MRR, NDR, PDR) and latency of vnfd, or of testpmd io
//! as the baseline in the same run, with vnf-perf as the generator process.
//!
//! Topology: the device under test (DUT) owns two `net_vhost` ports (`gen` and `sink`,
//! vhost-user servers in the work directory) and forwards on lcore 1; vnf-perf attaches
//! two `net_virtio_user` ports to their sockets and generates on lcore 0. Per case: start the
//! DUT, attach, a warm-up trial (fills learning and connection tables), the MRR trial at the
//! highest rate the generator reaches, the NDR and PDR searches between 0 and that rate,
//! then latency trials at 10, 50 and 90% of PDR; detach and stop the DUT.

use crate::gen::{interleave, DirResult, Direction, Generator, Size, STAMP};
use crate::rfc2544::{search, search_from, Found, Search, TrialResult};
use crate::scenario::Scenario;
use pipelines::dpdk::{Eal, Mempool};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What to run.
pub struct NdrOpts {
    /// Scenarios (testpmd runs xconnect only, OVS those [`crate::ovs::flows`] has rules for).
    pub scenarios: Vec<Scenario>,
    /// Frame sizes.
    pub sizes: Vec<Size>,
    /// Flow counts.
    pub flows: Vec<u32>,
    /// Devices under test: "vnfd", "testpmd", "ovs".
    pub duts: Vec<String>,
    /// Seconds per trial.
    pub trial_s: f64,
    /// Search precision (share of the upper bound).
    pub precision: f64,
    /// Trials per search at most.
    pub max_trials: u32,
    /// PDR loss share.
    pub pdr_loss: f64,
    /// Traffic both ways: the reverse direction replies to what came out of the forward one.
    pub bidir: bool,
    /// Worker counts to run the DUT with (each its own case).
    pub workers: Vec<u32>,
    /// Skip the latency trials.
    pub no_latency: bool,
    /// Times a losing search trial is run again (the first run without loss counts).
    pub retries: u32,
    /// Rounds: each case runs this often, the DUTs taking turns; medians are reported.
    pub rounds: u32,
    /// vnfd's `tx_retries` on its vhost ports (None: its default).
    pub tx_retries: Option<u16>,
    /// The generator's virtio-user ports use packed virtqueues (else split ones).
    pub packed: bool,
    /// Binaries and work directory.
    pub vnfd: PathBuf,
    /// testpmd binary.
    pub testpmd: PathBuf,
    /// Work directory (sockets, configs, logs).
    pub workdir: PathBuf,
    /// Results as JSON here too.
    pub json: Option<PathBuf>,
}

/// Latency at one load, per direction (ns).
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Share of PDR offered.
    pub load: f64,
    /// Direction name.
    pub direction: String,
    /// Stamped frames measured.
    pub frames: u64,
    /// p50, p90, p99, p99.9, max in ns.
    pub p50: u64,
    /// p90.
    pub p90: u64,
    /// p99.
    pub p99: u64,
    /// p99.9.
    pub p999: u64,
    /// Max.
    pub max: u64,
}

/// A search's result in a report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rate {
    /// Aggregate frames per second (0 if no rate passed).
    pub pps: f64,
    /// Per direction: (name, offered pps, received pps, loss share) of the trial at that rate.
    pub per_direction: Vec<(String, f64, f64, f64)>,
    /// Trials the search took.
    pub trials: usize,
}

/// One case's results.
#[derive(Clone, Debug, Serialize)]
pub struct NdrResult {
    /// "vnfd" or "testpmd".
    pub dut: String,
    /// Scenario name.
    pub scenario: String,
    /// Frame size ("64", "imix").
    pub frame: String,
    /// Mean wire length.
    pub mean_frame: f64,
    /// Flows.
    pub flows: u32,
    /// The DUT's forwarding cores (workers, PMD threads).
    pub workers: u32,
    /// Directions.
    pub directions: usize,
    /// Trial seconds.
    pub trial_s: f64,
    /// MRR: received rate at the generator's top rate.
    pub mrr: Rate,
    /// NDR (0 loss).
    pub ndr: Rate,
    /// PDR (`pdr_loss`).
    pub pdr: Rate,
    /// Latency at 10/50/90% of PDR.
    pub latency: Vec<Latency>,
    /// The generator's mbufs not back in its pool after the case (rx rings' share).
    pub gen_mbufs_out: u32,
    /// Search trials run again (--retries).
    pub trials_repeated: u32,
    /// ARP requests of the DUT the generator answered.
    pub arp_replies: u64,
    /// With several rounds: each round's (MRR, NDR, PDR) in frames/s; the figures above
    /// are their medians (latency and per-direction figures from the round of median NDR).
    pub rounds: Vec<[f64; 3]>,
    /// Ticks (1/100 s) the hypervisor stole from the VM's CPUs during the case.
    pub steal_ticks: u64,
}

fn rate_of(dirs: &[Direction], res: &[DirResult], elapsed_s: f64) -> Rate {
    let per_direction = dirs
        .iter()
        .zip(res)
        .map(|(d, r)| {
            let rx_pps = r.result.received as f64 / elapsed_s.max(1e-9);
            (d.name.clone(), r.result.offered_pps, rx_pps, r.result.loss())
        })
        .collect();
    Rate { pps: res.iter().map(|r| r.result.offered_pps).sum(), per_direction, trials: 1 }
}

fn total(res: &[DirResult]) -> TrialResult {
    TrialResult {
        offered: res.iter().map(|r| r.result.offered).sum(),
        received: res.iter().map(|r| r.result.received).sum(),
        offered_pps: res.iter().map(|r| r.result.offered_pps).sum(),
    }
}

/// The DUT's process; stopped (SIGTERM, then SIGKILL) on drop.
struct Dut {
    child: Option<Child>,
    /// OVS-DPDK's processes, when it is the DUT.
    _ovs: Option<crate::ovs::Ovs>,
    log: PathBuf,
    /// The vhost-user sockets of its ports `gen` and `sink`.
    sockets: (PathBuf, PathBuf),
}

impl Drop for Dut {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            crate::ovs::stop(c);
        }
    }
}

/// The DUT may run on every CPU: EAL pinned this process (and what it spawns) to lcore 0.
fn all_cpus(c: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls sched_setaffinity(2), which is async-signal-safe, on a set on its own stack.
    unsafe {
        c.pre_exec(|| {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for cpu in 0..libc::CPU_SETSIZE as usize {
                libc::CPU_SET(cpu, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            Ok(())
        })
    }
}

/// EAL's lcore layout for a DUT with `workers` forwarding lcores: main lcore 0 and lcore 1
/// on CPUs 0 and 1; on this 2-core VM a second worker (lcore 2) shares CPU 0 with the main
/// lcore and the generator.
fn lcores(workers: u32) -> String {
    // The machine's CPUs, not this process's (EAL pinned it to one).
    // SAFETY: sysconf(3) reads a system value.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u32;
    (0..=workers).map(|l| format!("{l}@{}", l % cpus)).collect::<Vec<_>>().join(",")
}

fn start_dut(o: &NdrOpts, dut: &str, sc: Scenario, flows: u32, workers: u32) -> Result<Dut, String> {
    if dut == "ovs" {
        let ovs = crate::ovs::Ovs::start(&o.workdir.join("ovs"), sc, workers, &crate::ovs::Ports::Vhost, all_cpus)?;
        let sockets = (ovs.socket("gen"), ovs.socket("sink"));
        return Ok(Dut { child: None, log: ovs.log.clone(), _ovs: Some(ovs), sockets });
    }
    let (gen, sink) = (&o.workdir.join("gen.sock"), &o.workdir.join("sink.sock"));
    let _ = std::fs::remove_file(gen);
    let _ = std::fs::remove_file(sink);
    let log = o.workdir.join(format!("{dut}.log"));
    let logf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let prefix = format!("vnfperf-{dut}-{}", std::process::id());
    let vhost = |i: u32, p: &Path| format!("net_vhost{i},iface={},queues={workers}", p.display());
    let lc = lcores(workers);
    let child = match dut {
        "vnfd" => {
            let mut cfg = sc.config(flows, &vhost(0, gen), &vhost(1, sink), 32767, 2176);
            let list: Vec<String> = (1..=workers).map(|w| w.to_string()).collect();
            cfg = cfg.replace("workers = [1]\n", &format!("workers = [{}]\n", list.join(", ")));
            let q = format!("\nrx_queues = {workers}\n");
            cfg = cfg
                .replace("name = \"gen\"\n", &format!("name = \"gen\"{q}"))
                .replace("name = \"sink\"\n", &format!("name = \"sink\"{q}"));
            if let Some(n) = o.tx_retries {
                cfg = cfg.replace("name = \"gen\"\n", &format!("name = \"gen\"\ntx_retries = {n}\n"));
                cfg = cfg.replace("name = \"sink\"\n", &format!("name = \"sink\"\ntx_retries = {n}\n"));
            }
            cfg.push_str(&format!(
                "\n[eal]\nargs = [\"--lcores\", \"{lc}\", \"--in-memory\", \"--no-pci\", \"--file-prefix\", \"{prefix}\", \"--log-level\", \"lib.eal:warning\"]\n"
            ));
            let path = o.workdir.join("vnfd-ndr.toml");
            std::fs::write(&path, cfg).map_err(|e| e.to_string())?;
            all_cpus(&mut Command::new(&o.vnfd))
                .args(["--config", path.to_str().unwrap_or_default()])
                .args(["--control", o.workdir.join("vnfd.sock").to_str().unwrap_or_default()])
                .stdin(Stdio::null())
                .stdout(logf.try_clone().map_err(|e| e.to_string())?)
                .stderr(logf)
                .spawn()
                .map_err(|e| format!("{}: {e}", o.vnfd.display()))?
        }
        "testpmd" => all_cpus(&mut Command::new(&o.testpmd))
            .args(["--lcores", &lc, "--main-lcore", "0", "--in-memory", "--no-pci", "--file-prefix", &prefix])
            .args(["--log-level", "lib.eal:warning", "--vdev", &vhost(0, gen), "--vdev", &vhost(1, sink), "--"])
            .args(["--forward-mode=io", &format!("--nb-cores={workers}"), &format!("--rxq={workers}")])
            .args([&format!("--txq={workers}"), "--burst=32", "--rxd=1024", "--txd=1024"])
            .args(["--total-num-mbufs=32767", "--stats-period", "3600"])
            .stdin(Stdio::null())
            .stdout(logf.try_clone().map_err(|e| e.to_string())?)
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("{}: {e}", o.testpmd.display()))?,
        other => return Err(format!("unknown DUT {other:?} (vnfd, testpmd, ovs)")),
    };
    let mut d = Dut { child: Some(child), _ovs: None, log, sockets: (gen.clone(), sink.clone()) };
    crate::ovs::wait_for(&[gen, sink], d.child.as_mut(), dut, &d.log)?;
    Ok(d)
}

/// The frames of a case's forward direction (gen -> sink), sizes interleaved.
fn forward_frames(sc: Scenario, size: Size, flows: u32) -> Result<Vec<Vec<u8>>, String> {
    let pattern = size.pattern();
    let mut sizes: Vec<usize> = pattern.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let by_size = sizes.iter().map(|&n| sc.frames(flows, n)).collect::<Result<Vec<_>, _>>()?;
    let frames = interleave(&sizes, &by_size, &pattern);
    if let Some(f) = frames.iter().find(|f| f.len() < STAMP + 42) {
        return Err(format!("a {}-byte frame has no room for the {STAMP}-byte stamp", f.len()));
    }
    Ok(frames)
}

fn latency_of(load: f64, dirs: &[Direction], res: &[DirResult]) -> Vec<Latency> {
    dirs.iter()
        .zip(res)
        .filter_map(|(d, r)| {
            let h = r.latency.as_ref()?;
            Some(Latency {
                load,
                direction: d.name.clone(),
                frames: h.len(),
                p50: h.value_at_quantile(0.5),
                p90: h.value_at_quantile(0.9),
                p99: h.value_at_quantile(0.99),
                p999: h.value_at_quantile(0.999),
                max: h.max(),
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
/// The first 64 bytes of a frame in hex, for messages.
fn head_hex(f: &[u8]) -> String {
    f[..f.len().min(64)].iter().map(|b| format!("{b:02x}")).collect()
}

fn run_case(
    o: &NdrOpts,
    pool: &Mempool,
    dut: &str,
    sc: Scenario,
    size: Size,
    flows: u32,
    workers: u32,
) -> Result<NdrResult, String> {
    let frames = forward_frames(sc, size, flows)?;
    let steal0 = steal_ticks();
    let dut_proc = start_dut(o, dut, sc, flows, workers)?;
    let (gs, ss) = dut_proc.sockets.clone();
    // Port numbers are per probe; names must be unique in the process.
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
    let dev = |i: u32, p: &Path| {
        format!(
            "net_virtio_user{},path={},queues={workers},queue_size={},speed=10000,packed_vq={}",
            n + i,
            p.display(),
            crate::gen::DESC,
            u8::from(o.packed)
        )
    };
    let queues = workers as u16;
    let mut g = Generator::new(&[dev(0, &gs), dev(1, &ss)], queues, pool, Duration::from_secs(20))
        .map_err(|e| format!("{e}; see {}", dut_proc.log.display()))?;
    g.drain();
    // Warm-up: tables filled, both sides' rings and caches touched. With --bidir it keeps
    // what the forward direction delivered: the reverse direction is the replies to those
    // frames (addresses and ports swapped), as the hosts behind the sink would send them,
    // so a NAT's translated ports are what the replies go to.
    let mut dirs = vec![Direction::new("gen->sink", 0, 1, &frames, queues.into())];
    let warm_s = o.trial_s.clamp(0.2, 1.0);
    g.capture = o.bidir.then(|| (frames.len().min(1 << 20), vec![]));
    // A DUT may still be setting up its queues when the links are up (OVS assigns rx
    // queues to PMDs once every queue pair is enabled): warm up until frames come back.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while total(&g.trial(&dirs, 0.0, warm_s, false)).received == 0 {
        if std::time::Instant::now() > until {
            return Err(format!("{dut} forwarded nothing in 10 s of warm-up; see {}", dut_proc.log.display()));
        }
    }
    if let Some((_, got)) = g.capture.take() {
        let replies: Vec<Vec<u8>> = got.iter().filter_map(|f| crate::frame::reflect(f)).collect();
        if std::env::var_os("VNF_PERF_VERBOSE").is_some() {
            for f in got.iter().take(4) {
                eprintln!("delivered: {}", head_hex(f));
            }
        }
        // What a tunnel scenario delivers is checked: encapsulated with VNI 5010 (encap),
        // plain Ethernet (decap).
        let tunnelled = |f: &Vec<u8>| crate::frame::vxlan_vni(f) == Some(crate::scenario::VNI);
        let bad = match sc {
            Scenario::VxlanEncap => got.iter().position(|f| !tunnelled(f)),
            Scenario::VxlanDecap => got.iter().position(|f| crate::frame::vxlan_vni(f).is_some()),
            _ => None,
        };
        if let Some(i) = bad {
            let hex = head_hex(&got[i]);
            return Err(format!("{dut} {}: delivered frame {i} is not what the scenario makes: {hex}", sc.name()));
        }
        if replies.is_empty() {
            return Err(format!("--bidir: none of the {} frames {dut} delivered is IPv4 to reply to", got.len()));
        }
        dirs.push(Direction::new("sink->gen", 1, 0, &replies, queues.into()));
        // Both ways once before measuring: the DUT resolves the forward hosts (the
        // generator answers its ARP requests), learns, and sees the connections' replies.
        let warm = g.trial(&dirs, 0.0, warm_s, false);
        if warm[1].result.received == 0 {
            return Err(format!(
                "{dut} forwarded none of the replies (sink->gen) in the warm-up trial; see {}",
                dut_proc.log.display()
            ));
        }
    }
    let t = o.trial_s;
    let mrr_res = g.trial(&dirs, 0.0, t, false);
    let mut mrr = rate_of(&dirs, &mrr_res, t);
    // MRR is what came back; the search's upper bound is what the generator got onto the
    // wire at its top rate (offered minus what its tx queues refused).
    mrr.pps = mrr.per_direction.iter().map(|d| d.2).sum();
    let top: f64 = mrr_res.iter().map(|r| (r.result.offered - r.refused) as f64 / t).sum();
    let verbose = std::env::var_os("VNF_PERF_VERBOSE").is_some();
    let mut repeated = 0u32;
    let mut trial = |rate: f64| {
        // With --retries N a losing trial is run again, up to N times, and the first run
        // without loss counts: on a VM whose host preempts the vCPUs for milliseconds the
        // loss is the host's scheduling; 0 (the default) is RFC 2544's single trial.
        let mut res;
        let mut tries = 0;
        loop {
            res = g.trial(&dirs, rate, t, false);
            if total(&res).loss() == 0.0 || tries >= o.retries {
                break;
            }
            tries += 1;
            repeated += 1;
            if verbose {
                eprintln!("trial {dut} at {:.3} Mpps: loss {:.6}: again", rate / 1e6, total(&res).loss());
            }
        }
        if verbose {
            for (d, r) in dirs.iter().zip(&res) {
                eprintln!(
                    "trial {dut} {} at {:.3} Mpps: offered {} received {} refused {} late {} foreign {} loss {:.6}",
                    d.name,
                    rate / 1e6,
                    r.result.offered,
                    r.result.received,
                    r.refused,
                    r.late,
                    r.foreign,
                    r.result.loss()
                );
            }
        }
        total(&res)
    };
    let mk = |f: &Found| Rate { pps: f.rate_pps, per_direction: vec![], trials: f.trials.len() };
    let ndr_f = search(top, Search { loss: 0.0, precision: o.precision, max_trials: o.max_trials }, &mut trial);
    let pdr_s = Search { loss: o.pdr_loss, precision: o.precision, max_trials: o.max_trials };
    let pdr_f = search_from(ndr_f.rate_pps, top, pdr_s, &mut trial);
    // Per-direction figures at the found rates: one more trial each.
    let per_dir = |g: &mut Generator, f: &Found| -> Rate {
        let mut r = mk(f);
        if f.rate_pps > 0.0 {
            let res = g.trial(&dirs, f.rate_pps, t, false);
            r.per_direction = rate_of(&dirs, &res, t).per_direction;
        }
        r
    };
    let trials_repeated = repeated;
    let ndr = per_dir(&mut g, &ndr_f);
    let pdr = per_dir(&mut g, &pdr_f);
    let mut latency = vec![];
    if !o.no_latency && pdr.pps > 0.0 {
        for load in [0.1, 0.5, 0.9] {
            let res = g.trial(&dirs, pdr.pps * load, t, true);
            latency.extend(latency_of(load, &dirs, &res));
        }
    }
    g.drain();
    let gen_mbufs_out = g.in_use();
    let g_arp = g.arp_replies;
    drop(g);
    drop(dut_proc);
    Ok(NdrResult {
        dut: dut.into(),
        scenario: sc.name().into(),
        frame: size.to_string(),
        mean_frame: size.mean(),
        flows,
        workers,
        directions: dirs.len(),
        trial_s: t,
        mrr,
        ndr,
        pdr,
        latency,
        gen_mbufs_out,
        trials_repeated,
        arp_replies: g_arp,
        rounds: vec![],
        steal_ticks: steal_ticks().saturating_sub(steal0),
    })
}

/// The median of a case's rounds: the round of median NDR, with MRR and PDR replaced by
/// their own medians and every round's figures kept.
fn median(mut runs: Vec<NdrResult>) -> Option<NdrResult> {
    if runs.len() < 2 {
        return runs.pop();
    }
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rounds: Vec<[f64; 3]> = runs.iter().map(|r| [r.mrr.pps, r.ndr.pps, r.pdr.pps]).collect();
    let mrr = mid(rounds.iter().map(|r| r[0]).collect());
    let pdr = mid(rounds.iter().map(|r| r[2]).collect());
    runs.sort_by(|a, b| a.ndr.pps.total_cmp(&b.ndr.pps));
    let mut m = runs.swap_remove(runs.len() / 2);
    m.mrr.pps = mrr;
    m.pdr.pps = pdr;
    m.trials_repeated += runs.iter().map(|r| r.trials_repeated).sum::<u32>();
    m.steal_ticks += runs.iter().map(|r| r.steal_ticks).sum::<u64>();
    m.rounds = rounds;
    Some(m)
}

/// Ticks (USER_HZ) the hypervisor stole from this VM's CPUs so far (/proc/stat's 8th field).
fn steal_ticks() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next()?.split_whitespace().nth(8)?.parse().ok())
        .unwrap_or(0)
}

/// Runs every case and prints the table (and the JSON).
pub fn run(o: &NdrOpts) -> Result<(), String> {
    if !o.vnfd.exists() && o.duts.iter().any(|d| d == "vnfd") {
        return Err(format!("vnfd not found at {} (build it, or pass --vnfd)", o.vnfd.display()));
    }
    std::fs::create_dir_all(&o.workdir).map_err(|e| format!("{}: {e}", o.workdir.display()))?;
    let mut duts = o.duts.clone();
    if duts.iter().any(|d| d == "ovs") {
        if let Err(e) = crate::ovs::ensure_installed() {
            eprintln!("vnf-perf: skipping OVS-DPDK: {e}");
            duts.retain(|d| d != "ovs");
        }
    }
    let prefix = format!("vnfperf-gen-{}", std::process::id());
    Eal::init(&[
        "-l",
        "0",
        "--main-lcore",
        "0",
        "--in-memory",
        "--single-file-segments",
        "--no-pci",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:warning",
        "--log-level",
        "pmd.net.virtio.*:error",
    ])
    .map_err(|e| e.to_string())?;
    // One pool for every case: sized for the most queues a case gives the generator's two ports.
    let most = o.workers.iter().copied().max().unwrap_or(1) as u16;
    let pool = Mempool::new("gen", crate::gen::pool_size(2, most), 256, 2048 + 128, -1).map_err(|e| e.to_string())?;
    println!(
        "{:<8} {:<12} {:>5} {:>6} {:>3} {:>4} {:>9} {:>9} {:>9} {:>8} {:>10} {:>26}",
        "dut",
        "scenario",
        "frame",
        "flows",
        "wk",
        "dirs",
        "MRR Mpps",
        "NDR Mpps",
        "PDR Mpps",
        "NDR/MRR",
        "NDR Gbit/s",
        "latency 50% PDR p50/p99/max us"
    );
    let mut all: Vec<NdrResult> = vec![];
    for &sc in &o.scenarios {
        for &size in &o.sizes {
            for &flows in &o.flows {
                for &workers in &o.workers {
                    let here: Vec<&String> = duts
                        .iter()
                        .filter(|d| {
                            !((*d == "testpmd" && sc != Scenario::Xconnect)
                                || (*d == "ovs" && crate::ovs::flows(sc).is_none()))
                        })
                        .collect();
                    // Rounds: the DUTs take turns, so a slow spell of the host hits each alike.
                    let mut runs: Vec<Vec<NdrResult>> = vec![vec![]; here.len()];
                    for _ in 0..o.rounds.max(1) {
                        for (k, dut) in here.iter().enumerate() {
                            runs[k].push(run_case(o, &pool, dut, sc, size, flows, workers)?);
                        }
                    }
                    for r in runs.into_iter().filter_map(median) {
                        let lat = r
                            .latency
                            .iter()
                            .find(|l| l.load == 0.5)
                            .map(|l| {
                                format!("{:.1}/{:.1}/{:.1}", l.p50 as f64 / 1e3, l.p99 as f64 / 1e3, l.max as f64 / 1e3)
                            })
                            .unwrap_or_else(|| "-".into());
                        println!(
                            "{:<8} {:<12} {:>5} {:>6} {:>3} {:>4} {:>9.3} {:>9.3} {:>9.3} {:>8.3} {:>10.2} {:>26}",
                            r.dut,
                            r.scenario,
                            r.frame,
                            r.flows,
                            r.workers,
                            r.directions,
                            r.mrr.pps / 1e6,
                            r.ndr.pps / 1e6,
                            r.pdr.pps / 1e6,
                            crate::runner::ratio(r.ndr.pps, r.mrr.pps),
                            r.ndr.pps * r.mean_frame * 8.0 / 1e9,
                            lat
                        );
                        if r.rounds.len() > 1 {
                            let each: Vec<String> = r
                                .rounds
                                .iter()
                                .map(|x| format!("{:.3}/{:.3}/{:.3}", x[0] / 1e6, x[1] / 1e6, x[2] / 1e6))
                                .collect();
                            println!("  (medians of {} rounds, MRR/NDR/PDR Mpps: {})", each.len(), each.join("  "));
                        }
                        all.push(r);
                    }
                }
            }
        }
    }
    use crate::runner::ratio;
    let same = |a: &NdrResult, b: &NdrResult| {
        a.scenario == b.scenario && a.frame == b.frame && a.flows == b.flows && a.directions == b.directions
    };
    // One line of ratios: `a`'s MRR, NDR and PDR over `b`'s.
    let ratios = |what: String, a: &NdrResult, b: &NdrResult| {
        println!(
            "{what}: MRR {:.3}  NDR {:.3}  PDR {:.3}",
            ratio(a.mrr.pps, b.mrr.pps),
            ratio(a.ndr.pps, b.ndr.pps),
            ratio(a.pdr.pps, b.pdr.pps)
        );
    };
    // vnfd against each peer where both ran the same case.
    for v in all.iter().filter(|r| r.dut == "vnfd") {
        for peer in ["testpmd", "ovs"] {
            if let Some(t) = all.iter().find(|t| t.dut == peer && same(v, t) && t.workers == v.workers) {
                let what = format!("vnfd/{peer} {} {} {} flows {} wk", v.scenario, v.frame, v.flows, v.workers);
                ratios(what, v, t);
            }
        }
    }
    // Scaling: each DUT's case with more workers against the same case with one.
    for m in all.iter().filter(|r| r.workers > 1) {
        if let Some(one) = all.iter().find(|r| r.dut == m.dut && same(r, m) && r.workers == 1) {
            let what =
                format!("scaling {} {} {} {} flows {} wk / 1 wk", m.dut, m.scenario, m.frame, m.flows, m.workers);
            ratios(what, m, one);
        }
    }
    for r in &all {
        for l in &r.latency {
            println!(
                "latency {} {} {} {} flows {} wk at {:.0}% PDR {}: p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} us ({} frames)",
                r.dut,
                r.scenario,
                r.frame,
                r.flows,
                r.workers,
                l.load * 100.0,
                l.direction,
                l.p50 as f64 / 1e3,
                l.p90 as f64 / 1e3,
                l.p99 as f64 / 1e3,
                l.p999 as f64 / 1e3,
                l.max as f64 / 1e3,
                l.frames
            );
        }
    }
    if let Some(j) = &o.json {
        let s = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
        std::fs::write(j, s).map_err(|e| format!("{}: {e}", j.display()))?;
    }
    Ok(())
}
