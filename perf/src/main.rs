//! vnf-perf: generates traffic and benchmarks vnfd side by side with `dpdk-testpmd
//! --forward-mode=io` on the same virtual devices in the same run.
//!
//! Modes: `run` (the default, below), `ndr` (RFC 2544 MRR/NDR/PDR and latency with vnf-perf
//! as a separate generator process over virtio-user, [`ndr`]), `gen` (write a flows pcap),
//! `lpm` and `fw` (table microbenchmarks).
//!
//! Topology (both programs): port 0 `net_pcap0,rx_pcap=FLOWS,infinite_rx=1` replays the
//! generated flows at memory speed, port 1 `net_null0,no-rx=1` is the sink; main thread on
//! lcore 0, the one forwarding worker on lcore 1, hugepages (`--in-memory`). Throughput is
//! the sink's tx rate sampled once a second after a warm-up; cycles/packet is the forwarding
//! core's busy cycles over its packets (testpmd: `--record-core-cycles`).

mod frame;
mod gen;
mod ndr;
mod ovs;
mod rfc2544;
mod runner;
mod scenario;

use clap::{Parser, Subcommand};
use runner::{Measurement, RunOpts};
use scenario::Scenario;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "vnf-perf",
    about = "vnfd benchmarks against dpdk-testpmd on the same vdevs",
    long_about = "vnfd benchmarks against dpdk-testpmd on the same vdevs.\n\nModes:\n  run (default)  vnfd and testpmd io (and OVS-DPDK with --ovs) alternate on a pcap generator and a null sink; Mpps and cycles/packet\n  ndr            vnf-perf as the generator process over virtio-user: RFC 2544 MRR, NDR, PDR, latency\n  gen            write a pcap of generated flows\n  lpm, fw        route table and firewall classifier microbenchmarks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a pcap of generated flows.
    Gen {
        /// Number of flows.
        #[arg(long, default_value_t = 1)]
        flows: u32,
        /// Frame size on the wire, FCS included.
        #[arg(long, default_value_t = 64)]
        frame: usize,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run benchmarks (the default).
    Run(RunArgs),
    /// RFC 2544 throughput and latency with vnf-perf as the generator process: MRR, NDR (0
    /// loss) and PDR (--pdr-loss) by binary search over trials of --trial-s seconds, then
    /// one-way latency (TSC stamped frames) at 10/50/90% of PDR. The DUT (vnfd, or testpmd
    /// io as the baseline) owns two net_vhost ports and forwards on lcore 1; vnf-perf
    /// attaches net_virtio_user ports to them and generates and receives on lcore 0.
    Ndr(NdrArgs),
    /// Microbenchmark of the route table: lookups per second at several table sizes.
    Lpm {
        /// Route counts to build (comma separated).
        #[arg(long, value_delimiter = ',', default_value = "10,1000,10000,100000")]
        routes: Vec<u32>,
        /// Lookups per table.
        #[arg(long, default_value_t = 20_000_000)]
        lookups: u32,
    },
    /// Microbenchmark of the firewall classifier against a linear scan of the same rules.
    Fw {
        /// Rule counts (comma separated).
        #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
        rules: Vec<usize>,
        /// Queries per rule set.
        #[arg(long, default_value_t = 200_000)]
        queries: usize,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Scenarios to run (comma separated): xconnect, l2-pop, l2-push, route, vxlan-encap, vxlan-decap, nat, nat-frag, nat-new, nat-log, nat-new-log.
    #[arg(long, value_delimiter = ',', default_value = "xconnect")]
    scenario: Vec<String>,
    /// Flow counts to run each scenario at (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,10000")]
    flows: Vec<u32>,
    /// Frame size on the wire, FCS included.
    #[arg(long, default_value_t = 64)]
    frame: usize,
    /// Seconds each program forwards (the first second is warm-up).
    #[arg(long, default_value_t = 6)]
    seconds: u32,
    /// Measurements of each program per case, alternating; the median is reported.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// vnfd binary (default: next to vnf-perf).
    #[arg(long)]
    vnfd: Option<PathBuf>,
    /// testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: PathBuf,
    /// Working directory for pcaps, configs and logs.
    #[arg(long, default_value = "/tmp/vnf-perf")]
    workdir: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Reload intervals to run each case at (comma separated, ms; 0: no reloads): vnfd
    /// re-reads its config over the control socket this often while it forwards.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    reload_ms: Vec<u32>,
    /// After each case, one more vnfd run with its per-node runtime counters on: where the
    /// cycles go, node by node (printed after the table, and in the JSON).
    #[arg(long)]
    node_runtime: bool,
    /// Also measure OVS-DPDK (Debian's openvswitch-switch-dpdk, installed when missing or
    /// skipped with a message) on the same pcap generator and null sink, one PMD thread on
    /// the forwarding core, with OpenFlow rules doing the scenario's work (xconnect, l2-pop,
    /// l2-push, route, nat, vxlan-encap, vxlan-decap; see `ndr --help`); each round runs
    /// testpmd, vnfd, OVS in turn.
    #[arg(long)]
    ovs: bool,
}

#[derive(clap::Args, Clone)]
struct NdrArgs {
    /// Scenarios (comma separated; see `run --help`; testpmd runs xconnect only).
    #[arg(long, value_delimiter = ',', default_value = "xconnect")]
    scenario: Vec<String>,
    /// Frame sizes on the wire (comma separated): 64..=1518 or imix (7:4:1 of 64/570/1518).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    frame: Vec<String>,
    /// Flow counts (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    flows: Vec<u32>,
    /// Devices under test (comma separated): vnfd, testpmd (io, xconnect only), ovs
    /// (OVS-DPDK, Debian's openvswitch-switch-dpdk, installed when missing or skipped with
    /// a message; xconnect, l2-pop, l2-push, route, nat, vxlan-encap, vxlan-decap: OpenFlow
    /// rules doing the same work, conntrack with SNAT for nat, a userspace VXLAN port).
    #[arg(long, value_delimiter = ',', default_value = "vnfd,testpmd")]
    dut: Vec<String>,
    /// Seconds per trial.
    #[arg(long, default_value_t = 2.0)]
    trial_s: f64,
    /// Stop a search when its interval is this share of the upper bound.
    #[arg(long, default_value_t = 0.005)]
    precision: f64,
    /// Trials per search at most.
    #[arg(long, default_value_t = 12)]
    max_trials: u32,
    /// Loss share PDR allows (CSIT: 0.5%).
    #[arg(long, default_value_t = 0.005)]
    pdr_loss: f64,
    /// Send both ways: the reverse direction (sink -> gen) is the replies to the frames the
    /// forward one delivered in the warm-up (MACs, addresses and ports swapped; VXLAN keeps its
    /// tunnel ports), so NAT replies go to the translated addresses and the DUT's
    /// established/reply path is what is measured; the generator answers the DUT's ARP
    /// requests for the hosts it stands for.
    #[arg(long)]
    bidir: bool,
    /// Forwarding cores of the DUT to run each case with (comma separated): vnfd workers,
    /// testpmd forwarding cores, OVS PMD threads; each port gets as many queues, and the
    /// generator spreads its flows over them by a hash of addresses and ports (as RSS).
    /// On a 2-core machine the second one shares CPU 0 with the generator.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    workers: Vec<u32>,
    /// Skip the latency trials.
    #[arg(long)]
    no_latency: bool,
    /// Run a search trial that lost frames again, up to N times; the first run without loss
    /// counts (for VMs whose host preempts the vCPUs; 0 is RFC 2544's single trial).
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// vnfd's tx_retries on both vhost ports (default: vnfd's own default).
    #[arg(long)]
    tx_retries: Option<u16>,
    /// The generator's virtqueue layout (virtio-user `packed_vq`): packed rings cost both
    /// the generator and the DUT's vhost side fewer cycles per frame than split ones (the
    /// same for every DUT in a run).
    #[arg(long, default_value = "packed", value_parser = ["packed", "split"])]
    ring: String,
    /// Run each case this many times, the DUTs taking turns (A B A B ...), and report the
    /// medians (every round's figures are in the JSON).
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// vnfd binary (default: next to vnf-perf).
    #[arg(long)]
    vnfd: Option<PathBuf>,
    /// testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: PathBuf,
    /// Working directory for sockets, configs and logs.
    #[arg(long, default_value = "/tmp/vnf-perf-ndr")]
    workdir: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn ndr_cmd(a: NdrArgs) -> Result<(), String> {
    let vnfd = match a.vnfd {
        Some(p) => p,
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("vnfd"),
    };
    let o = ndr::NdrOpts {
        scenarios: a.scenario.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
        sizes: a.frame.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
        flows: a.flows,
        duts: a.dut,
        trial_s: a.trial_s.max(0.05),
        precision: a.precision,
        max_trials: a.max_trials,
        pdr_loss: a.pdr_loss,
        bidir: a.bidir,
        workers: a.workers.into_iter().map(|w| w.clamp(1, 8)).collect(),
        no_latency: a.no_latency,
        retries: a.retries,
        rounds: a.rounds.max(1),
        tx_retries: a.tx_retries,
        packed: a.ring == "packed",
        vnfd,
        testpmd: a.testpmd,
        workdir: a.workdir,
        json: a.json,
    };
    ndr::run(&o)
}

#[derive(Serialize)]
struct CaseResult {
    scenario: String,
    reload_ms: u32,
    flows: u32,
    frame: usize,
    vnfd: Measurement,
    testpmd: Measurement,
    ratio: f64,
    /// OVS-DPDK's figures (`--ovs`, scenarios it has rules for).
    ovs: Option<Measurement>,
    /// vnfd's rate over OVS-DPDK's.
    ovs_ratio: Option<f64>,
}

/// Runs one measurement, and once more if it failed (on this VM a program is sometimes not
/// scheduled for a second, which leaves too few rate samples); the second error is final.
fn again<T>(mut f: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    f().or_else(|e| {
        eprintln!("vnf-perf: {e}; measuring again");
        f()
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let run = match cli.cmd {
        Some(Cmd::Gen { flows, frame, out }) => {
            return match scenario::write_flows(&out, flows, frame) {
                Ok(n) => {
                    println!("wrote {n} frames to {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vnf-perf: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Cmd::Run(r)) => r,
        Some(Cmd::Ndr(a)) => {
            return match ndr_cmd(a) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vnf-perf: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Cmd::Lpm { routes, lookups }) => {
            lpm_bench(&routes, lookups);
            return ExitCode::SUCCESS;
        }
        Some(Cmd::Fw { rules, queries }) => {
            return match fw_bench(&rules, queries) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vnf-perf: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        None => cli.run,
    };
    match bench(&run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vnf-perf: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds random route tables (prefix lengths 8..=32, biased to /24) and times lookups of
/// random addresses, single and in bursts of 32.
/// Times the compiled classifier and a linear first-match scan over the same generated
/// rules and queries, and checks they agree on every query.
fn fw_bench(sizes: &[usize], queries: usize) -> Result<(), String> {
    use std::hint::black_box;
    use std::time::Instant;
    use vnf_core::firewall::{bench_queries, bench_rules, linear_classify, Classifier};
    println!(
        "{:>8} {:>12} {:>14} {:>14} {:>9} {:>10}",
        "rules", "memory KiB", "classify ns", "linear ns", "speed-up", "matched"
    );
    for &n in sizes {
        let rules = bench_rules(n, 7);
        let qs = bench_queries(&rules, 4096, 11);
        let t0 = Instant::now();
        let c = Classifier::compile(&rules).map_err(|e| format!("{n} rules: {e:?}"))?;
        let build = t0.elapsed();
        let mut matched = 0usize;
        for q in &qs {
            let (a, b) = (c.classify(q), linear_classify(&rules, q));
            if a != b {
                return Err(format!("{n} rules: classifier says {a:?}, linear scan {b:?} for {q:?}"));
            }
            matched += usize::from(a.is_some());
        }
        let t0 = Instant::now();
        for i in 0..queries {
            black_box(c.classify(black_box(&qs[i & 4095])));
        }
        let fast = t0.elapsed().as_nanos() as f64 / queries as f64;
        let lin_n = (queries / (1 + n / 100)).max(2000);
        let t0 = Instant::now();
        for i in 0..lin_n {
            black_box(linear_classify(black_box(&rules), black_box(&qs[i & 4095])));
        }
        let slow = t0.elapsed().as_nanos() as f64 / lin_n as f64;
        println!(
            "{:>8} {:>12} {:>14.1} {:>14.1} {:>8.1}x {:>9.0}%   (compiled in {:.1} ms)",
            n,
            c.memory_bytes() / 1024,
            fast,
            slow,
            slow / fast,
            100.0 * matched as f64 / qs.len() as f64,
            build.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn lpm_bench(sizes: &[u32], lookups: u32) {
    use std::time::Instant;
    use vnf_core::l3::lpm::Lpm;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    println!("{:>8} {:>10} {:>12} {:>12} {:>12}", "routes", "memory KiB", "ns/lookup", "ns/lookup x32", "Mlookups/s");
    for &n in sizes {
        let mut routes = std::collections::BTreeMap::new();
        while routes.len() < n as usize {
            let r = rnd();
            let len = match r % 4 {
                0 => 8 + (r >> 8) % 25,
                _ => 24,
            } as u8;
            let addr = (r >> 32) as u32 & if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            routes.insert((addr, len), routes.len() as u32);
        }
        let list: Vec<(u32, u8, u32)> = routes.iter().map(|(&(a, l), &h)| (a, l, h)).collect();
        let Ok(t) = Lpm::build(&list) else {
            eprintln!("vnf-perf: LPM build failed for {n} routes");
            continue;
        };
        // Half the lookups hit a route's own range, half are random.
        let addrs: Vec<u32> = (0..4096)
            .map(|i| {
                if i % 2 == 0 {
                    list[(rnd() % list.len() as u64) as usize].0 | (rnd() as u32 & 0xff)
                } else {
                    rnd() as u32
                }
            })
            .collect();
        let t0 = Instant::now();
        let mut hits = 0u64;
        for i in 0..lookups as usize {
            if t.lookup(addrs[i & 4095]).is_some() {
                hits += 1;
            }
        }
        let single = t0.elapsed().as_nanos() as f64 / f64::from(lookups);
        let mut out = [None; 32];
        let t0 = Instant::now();
        for i in 0..(lookups as usize / 32) {
            let at = (i * 32) & 4095;
            t.lookup_bulk(&addrs[at..at + 32], &mut out);
            hits += out.iter().filter(|o| o.is_some()).count() as u64;
        }
        let bulk = t0.elapsed().as_nanos() as f64 / f64::from(lookups);
        println!(
            "{:>8} {:>10} {:>12.2} {:>12.2} {:>12.1}   (hits {hits})",
            n,
            t.memory_bytes() / 1024,
            single,
            bulk,
            1e3 / single
        );
    }
}

fn bench(a: &RunArgs) -> Result<(), String> {
    let vnfd = match &a.vnfd {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("vnfd"),
    };
    if !vnfd.exists() {
        return Err(format!("vnfd not found at {} (build it, or pass --vnfd)", vnfd.display()));
    }
    std::fs::create_dir_all(&a.workdir).map_err(|e| format!("{}: {e}", a.workdir.display()))?;
    let scenarios: Vec<Scenario> = a.scenario.iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
    let mut opts = RunOpts {
        seconds: a.seconds.max(3),
        vnfd,
        testpmd: a.testpmd.clone(),
        workdir: a.workdir.clone(),
        reload_ms: 0,
        node_runtime: false,
    };
    let mut with_ovs = a.ovs;
    if with_ovs {
        if let Err(e) = ovs::ensure_installed() {
            eprintln!("vnf-perf: OVS-DPDK skipped: {e}");
            with_ovs = false;
        }
    }
    let mut node_tables = vec![];
    let mut results = vec![];
    println!(
        "{:<10} {:>7} {:>8} {:>6} {:>12} {:>12} {:>7} {:>14} {:>14} {:>12} {:>8} {:>22} {:>9} {:>9} {:>12}",
        "scenario",
        "reload",
        "flows",
        "frame",
        "vnfd Mpps",
        "testpmd Mpps",
        "ratio",
        "vnfd cyc/pkt",
        "testpmd cyc/pkt",
        "vnfd conn/s",
        "reloads",
        "reload us p50/p99/max",
        "ovs Mpps",
        "vnfd/ovs",
        "ovs cyc/pkt"
    );
    for sc in &scenarios {
        for &flows in &a.flows {
            for &reload_ms in &a.reload_ms {
                opts.reload_ms = reload_ms;
                let case = sc.prepare(&opts.workdir, flows, a.frame)?;
                let mut v = vec![];
                let mut t = vec![];
                let mut w = vec![];
                let ovs_case = with_ovs && reload_ms == 0 && ovs::flows(*sc).is_some();
                for _ in 0..a.rounds.max(1) {
                    t.push(again(|| runner::run_testpmd(&opts, &case))?);
                    v.push(again(|| runner::run_vnfd(&opts, &case))?);
                    if ovs_case {
                        w.push(again(|| runner::run_ovs(&opts, *sc, &case))?);
                    }
                }
                let mut vm = Measurement::median(v);
                let tm = Measurement::median(t);
                let om = (!w.is_empty()).then(|| Measurement::median(w));
                let ovs_ratio = om.as_ref().map(|m| runner::ratio(vm.mpps, m.mpps));
                if a.node_runtime {
                    opts.node_runtime = true;
                    vm.nodes = runner::run_vnfd(&opts, &case)?.nodes;
                    opts.node_runtime = false;
                    let cells: Vec<String> =
                        vm.nodes.iter().map(|n| format!("{} {:.1}", n.node, n.cycles_per_packet)).collect();
                    node_tables.push(format!("{:<12} {:>8}  {}", sc.name(), flows, cells.join(" | ")));
                }
                let ratio = runner::ratio(vm.mpps, tm.mpps);
                let lat = &vm.reload_latency_us;
                let cell = |f: Option<f64>, p: usize| f.map_or("-".to_string(), |x| format!("{x:.p$}"));
                println!(
                    "{:<10} {:>7} {:>8} {:>6} {:>12.3} {:>12.3} {:>7.3} {:>14.1} {:>14.1} {:>12.0} {:>8} {:>22} {:>9} {:>9} {:>12}",
                    sc.name(),
                    if reload_ms == 0 { "-".to_string() } else { format!("{reload_ms}ms") },
                    flows,
                    a.frame,
                    vm.mpps,
                    tm.mpps,
                    ratio,
                    vm.cycles_per_packet,
                    tm.cycles_per_packet,
                    vm.conn_per_s,
                    vm.reloads,
                    if lat.is_empty() { "-".to_string() } else { format!("{:.0}/{:.0}/{:.0}", lat[0], lat[1], lat[2]) },
                    cell(om.as_ref().map(|m| m.mpps), 3),
                    cell(ovs_ratio, 3),
                    cell(om.as_ref().map(|m| m.cycles_per_packet), 1)
                );
                results.push(CaseResult {
                    scenario: sc.name().into(),
                    reload_ms,
                    flows,
                    frame: a.frame,
                    vnfd: vm,
                    testpmd: tm,
                    ratio,
                    ovs: om,
                    ovs_ratio,
                });
            }
        }
    }
    if !node_tables.is_empty() {
        println!("\ncycles per packet in each node (vnfd's runtime counters, a separate run):");
        for l in &node_tables {
            println!("{l}");
        }
    }
    if let Some(j) = &a.json {
        let s = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        std::fs::write(j, s).map_err(|e| format!("{}: {e}", j.display()))?;
    }
    Ok(())
}
