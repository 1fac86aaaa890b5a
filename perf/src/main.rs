//! vnf-perf: generates traffic and benchmarks vnfd side by side with `dpdk-testpmd
//! --forward-mode=io` on the same virtual devices in the same run.
//!
//! Topology (both programs): port 0 `net_pcap0,rx_pcap=FLOWS,infinite_rx=1` replays the
//! generated flows at memory speed, port 1 `net_null0,no-rx=1` is the sink; main thread on
//! lcore 0, the one forwarding worker on lcore 1, hugepages (`--in-memory`). Throughput is
//! the sink's tx rate sampled once a second after a warm-up; cycles/packet is the forwarding
//! core's busy cycles over its packets (testpmd: `--record-core-cycles`).

mod scenario;
mod runner;

use clap::{Parser, Subcommand};
use runner::{Measurement, RunOpts};
use scenario::Scenario;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "vnf-perf", about = "vnfd benchmarks against dpdk-testpmd on the same vdevs")]
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
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Scenarios to run (comma separated): xconnect, l2-pop, l2-push, route.
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
}

#[derive(Serialize)]
struct CaseResult {
    scenario: String,
    flows: u32,
    frame: usize,
    vnfd: Measurement,
    testpmd: Measurement,
    ratio: f64,
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
    let opts = RunOpts { seconds: a.seconds.max(3), vnfd, testpmd: a.testpmd.clone(), workdir: a.workdir.clone() };
    let mut results = vec![];
    println!(
        "{:<10} {:>8} {:>6} {:>12} {:>12} {:>7} {:>14} {:>14}",
        "scenario", "flows", "frame", "vnfd Mpps", "testpmd Mpps", "ratio", "vnfd cyc/pkt", "testpmd cyc/pkt"
    );
    for sc in &scenarios {
        for &flows in &a.flows {
            let case = sc.prepare(&opts.workdir, flows, a.frame)?;
            let mut v = vec![];
            let mut t = vec![];
            for _ in 0..a.rounds.max(1) {
                t.push(runner::run_testpmd(&opts, &case)?);
                v.push(runner::run_vnfd(&opts, &case)?);
            }
            let vm = Measurement::median(v);
            let tm = Measurement::median(t);
            let ratio = if tm.mpps > 0.0 { vm.mpps / tm.mpps } else { 0.0 };
            println!(
                "{:<10} {:>8} {:>6} {:>12.3} {:>12.3} {:>7.3} {:>14.1} {:>14.1}",
                sc.name(),
                flows,
                a.frame,
                vm.mpps,
                tm.mpps,
                ratio,
                vm.cycles_per_packet,
                tm.cycles_per_packet
            );
            results.push(CaseResult { scenario: sc.name().into(), flows, frame: a.frame, vnfd: vm, testpmd: tm, ratio });
        }
    }
    if let Some(j) = &a.json {
        let s = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        std::fs::write(j, s).map_err(|e| format!("{}: {e}", j.display()))?;
    }
    Ok(())
}
