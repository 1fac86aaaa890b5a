//! vnfd: the appliance daemon.
//!
//! `vnfd --config FILE [--control PATH] [--stats-interval S] [--duration S] [--stats-json FILE] [-- EAL args]`
//!
//! The control socket (`--control`, else `[control] socket`, default /run/vnfd.sock; an
//! empty path turns it off) serves `vnfctl`. SIGHUP reloads the config file it runs.
//! Reads and validates the config (a refused config exits 2 naming file, line and key),
//! initialises EAL (`-l`/`--main-lcore` derived from `[dataplane]` unless given), brings
//! up the ports and one pinned worker per configured lcore, and forwards until SIGINT or
//! SIGTERM (or `--duration`). Then the control clients are disconnected (a request being
//! answered is finished first), the workers finish their burst, the ports stop, the final
//! counters are printed and it exits 0.
//!
//! `--check` runs every check that needs no device (the same as startup runs before it
//! touches anything) and exits 0, or 2 naming the file and key.

use clap::Parser;
use pipelines::control::{self, Control, Server};
use pipelines::dataplane::Dataplane;
use pipelines::dpdk::{self, Eal};
use pipelines::preflight;
use pipelines::prom::{Exporter, StatsSource};
use pipelines::telemetry;
use pipelines::wake::Wake;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vnf_core::config::{Config, Valid};

#[derive(Parser, Debug)]
#[command(name = "vnfd", version, about = "DPDK poll-mode gateway appliance", args_override_self = true)]
struct Args {
    /// The TOML config file.
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// Print a JSON line of counters to stdout every this many seconds (0: never).
    #[arg(long, default_value_t = 0.0)]
    stats_interval: f64,
    /// Stop by itself after this many seconds (0: run until SIGINT/SIGTERM).
    #[arg(long, default_value_t = 0.0)]
    duration: f64,
    /// Write the final counters as JSON to this file.
    #[arg(long)]
    stats_json: Option<PathBuf>,
    /// Validate the config and exit.
    #[arg(long)]
    check: bool,
    /// Control socket path (overrides `[control] socket`; "" turns it off).
    #[arg(long)]
    control: Option<String>,
    /// EAL arguments, after `--`.
    #[arg(last = true)]
    eal: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let limits = control::files::FileLimits::anywhere(control::files::STARTUP_MAX);
    let text = match control::files::read_text(&args.config, &limits) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("vnfd: config refused: {}", e.trim_start_matches("path: "));
            return ExitCode::from(2);
        }
    };
    let file = args.config.display().to_string();
    // Every check that needs no device, the same for --check and for startup.
    let checked = Config::parse(&text, Some(&file)).and_then(|c| {
        let socket = args.control.clone().unwrap_or_else(|| c.control.socket.clone());
        preflight::check(&c, &file, &args.eal, &socket, &preflight::allowed_cpus())?;
        Ok(c)
    });
    let cfg = match checked {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vnfd: config refused: {}", e);
            return ExitCode::from(2);
        }
    };
    for w in cfg.warnings() {
        eprintln!("vnfd: warning: {file}: {w}");
    }
    if args.check {
        println!("{file}: ok");
        return ExitCode::SUCCESS;
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("vnfd: cannot install signal handler: {e}");
            return ExitCode::from(1);
        }
    }

    // SR-IOV first: the VFs the config names as ports must exist, with their driver, before
    // EAL probes devices. Nothing runs yet, so no VF is in use.
    match pipelines::sriov::apply(&cfg, &[]) {
        Ok(None) => {}
        Ok(Some(r)) => {
            for a in &r.steps {
                eprintln!("vnfd: sriov: {a}");
            }
            if r.steps.is_empty() {
                eprintln!("vnfd: sriov: the VFs are as configured");
            }
        }
        Err(e) => {
            eprintln!("vnfd: {file}: {e}");
            return ExitCode::from(1);
        }
    }

    let eal_argv = preflight::eal_args(&cfg, &args.eal);
    eprintln!("vnfd: EAL {}", eal_argv.join(" "));
    let eal = match Eal::init(&eal_argv) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("vnfd: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!("vnfd: {}", dpdk::version());

    let hup = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone()) {
        eprintln!("vnfd: cannot install the SIGHUP handler: {e}");
        return ExitCode::from(1);
    }
    let wake = match Wake::on_signals(&[
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("vnfd: cannot install the signal wake-up: {e}");
            return ExitCode::from(1);
        }
    };
    let code = run(&cfg, &text, &args, &stop, &hup, wake);
    // SAFETY: run() has returned, so the dataplane (workers, ports, pool) is gone.
    unsafe { eal.cleanup() };
    code
}

fn run(cfg: &Valid<Config>, text: &str, args: &Args, stop: &AtomicBool, hup: &AtomicBool, mut wake: Wake) -> ExitCode {
    let mut dp = match Dataplane::new(cfg) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("vnfd: {e}");
            return ExitCode::from(1);
        }
    };
    for p in dp.ports() {
        eprintln!("vnfd: port {}: {} ({}) {} mac {}", p.label(), p.name(), p.driver(), p.devargs(), p.mac());
    }
    if let Err(e) = dp.start() {
        eprintln!("vnfd: {e}");
        return ExitCode::from(1);
    }
    let dp = Arc::new(Mutex::new(dp));
    let lock = || dp.lock().unwrap_or_else(|p| p.into_inner());
    let path = std::fs::canonicalize(&args.config).unwrap_or_else(|_| args.config.clone());
    let ctl = Control::new(dp.clone(), path, text.to_owned());
    let socket = args.control.clone().unwrap_or_else(|| cfg.control.socket.clone());
    let mut server = None;
    if !socket.is_empty() {
        let mode = cfg.control.mode_bits().unwrap_or(0o600);
        let started = control::Limits::new(&cfg.control).and_then(|limits| {
            Server::start(socket.as_ref(), mode, cfg.control.group.as_deref(), limits, ctl.handler())
        });
        match started {
            Ok(s) => {
                eprintln!("vnfd: control socket {socket}");
                server = Some(s);
            }
            Err(e) => {
                eprintln!("vnfd: control socket {socket}: {e}");
                lock().stop_workers();
                return ExitCode::from(1);
            }
        }
    }

    // The counters for the ecosystem: DPDK telemetry commands and a Prometheus endpoint. Both
    // hold the dataplane weakly, so neither keeps it alive at exit.
    let source: StatsSource = {
        let weak = Arc::downgrade(&dp);
        Arc::new(move || weak.upgrade().map(|d| d.lock().unwrap_or_else(|p| p.into_inner()).stats()))
    };
    if cfg.control.telemetry {
        match telemetry::register(source.clone()) {
            Ok(()) => {
                eprintln!("vnfd: telemetry commands /vnf/stats, /vnf/ports, /vnf/drops, /vnf/events, /vnf/workers")
            }
            Err(e) => eprintln!("vnfd: telemetry: {e} (continuing without)"),
        }
    }
    let mut exporter = None;
    if let Some(addr) = cfg.control.prometheus {
        match Exporter::serve(addr, source.clone()) {
            Ok(x) => {
                eprintln!("vnfd: prometheus metrics on http://{}/metrics", x.local_addr());
                exporter = Some(x);
            }
            Err(e) => {
                eprintln!("vnfd: control.prometheus {addr}: {e}");
                lock().stop_workers();
                return ExitCode::from(1);
            }
        }
    }

    eprintln!("vnfd: {} worker(s) on lcores {:?}; running", cfg.dataplane.workers.len(), cfg.dataplane.workers);
    // The main thread sleeps until a signal or the next timer: the control socket, the
    // exporters and the workers have threads of their own.
    let t0 = Instant::now();
    let mut next_stats = args.stats_interval;
    while !stop.load(Ordering::Relaxed) {
        let el = t0.elapsed().as_secs_f64();
        if args.duration > 0.0 && el >= args.duration {
            break;
        }
        if hup.swap(false, Ordering::Relaxed) {
            match ctl.reload(None) {
                Ok(r) => eprintln!("vnfd: SIGHUP: reloaded, generation {} in {:.0} us", r.generation, r.latency_us),
                Err(e) => eprintln!("vnfd: SIGHUP: config refused, the running one stays: {e}"),
            }
        }
        if args.stats_interval > 0.0 && el >= next_stats {
            next_stats += args.stats_interval;
            match serde_json::to_string(&lock().stats()) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("vnfd: stats: {e}"),
            }
        }
        let due = [(args.duration > 0.0).then_some(args.duration), (args.stats_interval > 0.0).then_some(next_stats)]
            .into_iter()
            .flatten()
            .reduce(f64::min);
        wake.wait(due.map(|d| Duration::from_secs_f64((d - t0.elapsed().as_secs_f64()).max(0.0))));
    }
    // Closes every client's connection and waits for its thread: nothing holds the
    // dataplane after this but the exporters, stopped next.
    drop(server);
    drop(exporter);
    if cfg.control.telemetry {
        let _ = telemetry::register(Arc::new(|| None));
    }
    drop(source);
    let (failed, stats) = {
        let mut d = lock();
        let failed = d.stop_workers();
        (failed, d.stats())
    };
    drop(ctl);
    // A telemetry request being answered may hold the dataplane for a moment.
    for _ in 0..200 {
        if Arc::strong_count(&dp) == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    match Arc::try_unwrap(dp) {
        Ok(m) => drop(m.into_inner().unwrap_or_else(|p| p.into_inner())),
        Err(_) => eprintln!("vnfd: a control client still holds the dataplane; exiting without closing ports"),
    }
    println!("{stats}");
    if let Some(path) = &args.stats_json {
        let json = serde_json::to_string_pretty(&stats).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("vnfd: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if !failed.is_empty() {
        eprintln!("vnfd: workers on lcores {failed:?} failed");
        return ExitCode::from(1);
    }
    eprintln!("vnfd: stopped");
    ExitCode::SUCCESS
}
