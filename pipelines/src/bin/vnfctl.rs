//! vnfctl: the operator's CLI over vnfd's control socket.
//!
//! Every subcommand sends one JSON request line and prints the answer as tables (or, with
//! `--json`, the answer line as vnfd sent it, for scripts). Exit status: 0 when vnfd answered
//! `ok`, 1 when it refused the request (its error on stderr), 2 for a usage error or when
//! vnfd cannot be reached, 3 when vnfd is busy (every client slot taken: try again, or
//! have an admin look with `vnfctl clients`).

use clap::{Parser, Subcommand};
use serde::Deserialize;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use vnf_core::control::{self as proto, reply};
use vnf_core::sriov;

#[derive(Parser, Debug)]
#[command(name = "vnfctl", version, about = "Control a running vnfd over its control socket")]
struct Cli {
    /// vnfd's control socket (default: $VNFCTL_SOCKET, else /run/vnfd.sock).
    #[arg(long, short = 's', global = true)]
    socket: Option<PathBuf>,
    /// Print vnfd's JSON answer unchanged instead of tables.
    #[arg(long, short = 'j', global = true)]
    json: bool,
    /// Seconds to wait for the answer.
    #[arg(long, global = true, default_value_t = 15.0)]
    timeout: f64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// vnfd and DPDK versions, config file, generation, uptime.
    Version,
    /// Ports, workers, drops by reason, events, tables, mempool (since the last `stats
    /// clear`); `stats clear` zeroes what `stats` shows (the exporters stay monotonic).
    Stats {
        #[command(subcommand)]
        action: Option<StatsAction>,
    },
    /// Live rates, refreshed every INTERVAL seconds: per port rx/tx packets and bits per
    /// second (bits from the device's byte counters; 0 where the PMD counts none, e.g.
    /// net_ring), per worker packets per second and the share of polling rounds with
    /// packets, drops per second by reason.
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes (0: until interrupted).
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
    /// Per port: driver, MAC, MTU, link, software and device counters.
    Ports,
    /// The MAC tables (learned and static entries); `fdb flush` removes learned ones.
    Fdb {
        #[command(subcommand)]
        action: Option<FdbAction>,
        /// Only this bridge.
        #[arg(long)]
        bridge: Option<String>,
        /// At most this many entries (vnfd's default: 1000).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// The neighbour (ARP) tables of every worker: bridge (or underlay), address, MAC,
    /// state, age, queued packets; `neigh flush` removes dynamic entries (static ones stay).
    Neigh {
        #[command(subcommand)]
        action: Option<NeighAction>,
        /// Only this bridge.
        #[arg(long)]
        bridge: Option<String>,
        /// At most this many entries (vnfd's default: 1000).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// The local VTEP, VNI -> bridge, remote VTEPs.
    Vtep,
    /// Tracked connections; `conntrack count`, `conntrack flush`.
    Conntrack {
        #[command(subcommand)]
        action: Option<CtAction>,
        #[command(flatten)]
        filter: CtFilter,
        /// At most this many connections (vnfd's default: 1000).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// SNAT pools (free ports), port forwards and mappings.
    Nat {
        /// At most this many mappings (vnfd's default: 1000).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Firewall rules and zone policies with their hit counts.
    Firewall,
    /// The running config: show, reload, check.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Percentiles of the per-round processing time of each worker.
    Latency,
    /// Packet trace: `trace add N [--port P]` marks the next N packets each worker
    /// receives; `trace show` prints every node each passed; `trace clear`.
    Trace {
        #[command(subcommand)]
        action: TraceAction,
    },
    /// Per-node runtime counters (VPP's `show runtime`): calls, packets, cycles per packet;
    /// `--on` turns them on (zeroed), `--off` off.
    Runtime {
        /// Turn the counters on (zeroed).
        #[arg(long, conflicts_with = "off")]
        on: bool,
        /// Turn the counters off.
        #[arg(long)]
        off: bool,
    },
    /// SR-IOV virtual functions: `vf list`, `vf set PF VF [--mac ...]`.
    Vf {
        #[command(subcommand)]
        action: VfAction,
    },
    /// SR-IOV: apply the running config's [sriov] again (`--dry-run`: print the plan).
    Sriov {
        #[command(subcommand)]
        action: SriovAction,
    },
    /// DPDK's log types and their levels; `log level MODULE LEVEL` sets them (a glob:
    /// `pmd.net.af_packet`, `lib.*`) now, without a restart.
    Log {
        #[command(subcommand)]
        action: Option<LogAction>,
    },
    /// Set a port's link administratively up or down now (not saved in the config).
    Port {
        /// The port's name in the config.
        name: String,
        /// up or down.
        #[arg(value_parser = ["up", "down"])]
        state: String,
    },
    /// The control clients connected now (id, uid, pid, role, state); `clients kick ID`
    /// disconnects one (admin).
    Clients {
        #[command(subcommand)]
        action: Option<ClientsAction>,
    },
    /// Send one JSON request as is (e.g. '{"cmd":"stats"}') and print the answer.
    Raw {
        /// The request line.
        request: String,
    },
}

#[derive(Subcommand, Debug)]
enum StatsAction {
    /// Zero the counters `stats` shows (a baseline kept by vnfd; Prometheus and telemetry
    /// keep counting from the start).
    Clear,
}

#[derive(Subcommand, Debug)]
enum LogAction {
    /// Set the log types matching MODULE (a glob) to LEVEL (emerg .. debug, or 1..8).
    Level { module: String, level: String },
}

#[derive(Subcommand, Debug)]
enum ClientsAction {
    /// Close client ID's connection (a request it is running is finished first).
    Kick {
        /// The client's id, from `vnfctl clients`.
        id: u64,
    },
}

#[derive(Subcommand, Debug)]
enum TraceAction {
    /// Mark the next N packets received by each worker (on port P only, with --port).
    Add {
        /// How many packets.
        n: u64,
        /// Only packets received on this port (its name in the config).
        #[arg(long)]
        port: Option<String>,
    },
    /// The traced packets, each with the nodes it passed and what each decided.
    Show,
    /// Forget the records and stop marking.
    Clear,
}

#[derive(Subcommand, Debug)]
enum VfAction {
    /// Per PF: its VFs with PCI address, driver, MAC, VLAN, spoofchk, trust, link state, rates.
    List,
    /// Set attributes of one VF now (the running config is not changed; a reload re-applies it).
    Set {
        /// The PF: netdev name or PCI address.
        pf: String,
        /// The VF number.
        vf: u16,
        #[arg(long)]
        mac: Option<String>,
        /// Port VLAN (0: none).
        #[arg(long)]
        vlan: Option<u16>,
        /// 802.1p priority of the VLAN.
        #[arg(long)]
        qos: Option<u8>,
        /// on or off.
        #[arg(long, value_parser = onoff)]
        spoofchk: Option<bool>,
        /// on or off.
        #[arg(long, value_parser = onoff)]
        trust: Option<bool>,
        /// auto, enable or disable.
        #[arg(long)]
        link_state: Option<String>,
        /// Mbit/s.
        #[arg(long)]
        min_tx_rate: Option<u32>,
        /// Mbit/s (0: unlimited).
        #[arg(long)]
        max_tx_rate: Option<u32>,
        /// vfio-pci, iavf, igbvf, ... or none.
        #[arg(long)]
        driver: Option<String>,
    },
}

fn onoff(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("{s:?}: expected on or off")),
    }
}

#[derive(Subcommand, Debug)]
enum SriovAction {
    /// Take the VFs to the running config; `--dry-run` prints the plan only.
    Apply {
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
enum FdbAction {
    /// Remove learned entries (static ones stay).
    Flush {
        /// Only this bridge.
        #[arg(long)]
        bridge: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum NeighAction {
    /// Remove dynamic entries; the packets waiting on them are dropped and counted
    /// (`neigh-flushed`). Static entries stay.
    Flush {
        /// Only this bridge.
        #[arg(long)]
        bridge: Option<String>,
    },
}

#[derive(clap::Args, Debug, Default, Clone)]
struct CtFilter {
    /// Either endpoint's source address.
    #[arg(long)]
    src: Option<String>,
    /// Either endpoint's destination address.
    #[arg(long)]
    dst: Option<String>,
    /// tcp, udp, icmp or a protocol number.
    #[arg(long)]
    proto: Option<String>,
    /// Either port of either direction.
    #[arg(long)]
    port: Option<u16>,
}

#[derive(Subcommand, Debug)]
enum CtAction {
    /// Connections per worker and the table capacity.
    Count,
    /// Remove the connections that match (all without a filter); their NAT mappings go too.
    Flush {
        #[command(flatten)]
        filter: CtFilter,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// The running config's text.
    Show,
    /// Load PATH (default: the file vnfd runs) without a restart.
    Reload { path: Option<PathBuf> },
    /// Whether vnfd would accept PATH in a reload, and what the reload would do: ports
    /// added, removed and kept, the SR-IOV plan, every changed key.
    Check { path: PathBuf },
    /// Every key that differs between the running config and PATH (even one a reload
    /// would refuse).
    Diff { path: PathBuf },
}

/// A failure of vnfctl itself (exit 2), vnfd's refusal (exit 1) or no slot (exit 3).
enum Fail {
    Usage(String),
    Refused(String),
    Busy(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Refused(e)) => {
            eprintln!("vnfctl: vnfd refused: {e}");
            ExitCode::from(1)
        }
        Err(Fail::Usage(e)) => {
            eprintln!("vnfctl: {e}");
            ExitCode::from(2)
        }
        Err(Fail::Busy(e)) => {
            eprintln!("vnfctl: vnfd is busy: {e}");
            ExitCode::from(3)
        }
    }
}

fn socket_path(cli: &Cli) -> PathBuf {
    cli.socket
        .clone()
        .or_else(|| std::env::var_os("VNFCTL_SOCKET").filter(|s| !s.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/run/vnfd.sock"))
}

/// vnfd resolves paths itself, in its own working directory: send absolute ones.
fn absolute(p: &Path) -> Result<String, Fail> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| Fail::Usage(format!("current directory: {e}")))?.join(p)
    };
    p.to_str().map(str::to_owned).ok_or_else(|| Fail::Usage(format!("{}: not UTF-8", p.display())))
}

fn filter(f: &CtFilter) -> proto::CtFilter {
    proto::CtFilter { src: f.src.clone(), dst: f.dst.clone(), proto: f.proto.clone(), port: f.port.map(u64::from) }
}

/// An inner filter's fields over the outer one's (`conntrack --proto udp flush --src ...`).
fn merged(outer: &CtFilter, inner: &CtFilter) -> proto::CtFilter {
    let (o, i) = (filter(outer), filter(inner));
    proto::CtFilter { src: i.src.or(o.src), dst: i.dst.or(o.dst), proto: i.proto.or(o.proto), port: i.port.or(o.port) }
}

/// The request line for `cmd`: the protocol's own type, so vnfctl and vnfd agree on it.
fn request(cmd: &Cmd) -> Result<String, Fail> {
    use proto::Request as R;
    let r = match cmd {
        Cmd::Version => R::Version,
        Cmd::Stats { action: None } | Cmd::Top { .. } => R::Stats,
        Cmd::Stats { action: Some(StatsAction::Clear) } => R::StatsClear,
        Cmd::Ports => R::Ports,
        Cmd::Fdb { action: None, bridge, limit } => R::Fdb { bridge: bridge.clone(), limit: *limit },
        Cmd::Fdb { action: Some(FdbAction::Flush { bridge }), bridge: b2, limit } => {
            if limit.is_some() {
                return Err(Fail::Usage("fdb flush: --limit does not apply".into()));
            }
            R::FdbFlush { bridge: bridge.clone().or_else(|| b2.clone()) }
        }
        Cmd::Neigh { action: None, bridge, limit } => R::Neigh { bridge: bridge.clone(), limit: *limit },
        Cmd::Neigh { action: Some(NeighAction::Flush { bridge }), bridge: b2, limit } => {
            if limit.is_some() {
                return Err(Fail::Usage("neigh flush: --limit does not apply".into()));
            }
            R::NeighFlush { bridge: bridge.clone().or_else(|| b2.clone()) }
        }
        Cmd::Vtep => R::Vtep,
        Cmd::Conntrack { action: None, filter: f, limit } => R::Conntrack { filter: filter(f), limit: *limit },
        Cmd::Conntrack { action: Some(CtAction::Count), .. } => R::ConntrackCount,
        Cmd::Conntrack { action: Some(CtAction::Flush { filter: inner }), filter: outer, .. } => {
            R::ConntrackFlush { filter: merged(outer, inner) }
        }
        Cmd::Nat { limit } => R::Nat { limit: *limit },
        Cmd::Firewall => R::Firewall,
        Cmd::Config { action: ConfigAction::Show } => R::ConfigShow,
        Cmd::Config { action: ConfigAction::Reload { path } } => {
            R::ConfigReload { path: path.as_deref().map(absolute).transpose()? }
        }
        Cmd::Config { action: ConfigAction::Check { path } } => R::ConfigCheck { path: absolute(path)? },
        Cmd::Config { action: ConfigAction::Diff { path } } => R::ConfigDiff { path: absolute(path)? },
        Cmd::Latency => R::Latency,
        Cmd::Trace { action: TraceAction::Add { n, port } } => R::TraceAdd { n: *n, port: port.clone() },
        Cmd::Trace { action: TraceAction::Show } => R::TraceShow,
        Cmd::Trace { action: TraceAction::Clear } => R::TraceClear,
        Cmd::Runtime { on, off } => R::Runtime { enable: (*on || *off).then_some(*on) },
        Cmd::Vf { action: VfAction::List } => R::VfList,
        Cmd::Vf {
            action:
                VfAction::Set { pf, vf, mac, vlan, qos, spoofchk, trust, link_state, min_tx_rate, max_tx_rate, driver },
        } => R::VfSet(proto::VfSet {
            pf: pf.clone(),
            vf: u64::from(*vf),
            mac: mac.clone(),
            vlan: vlan.map(u64::from),
            qos: qos.map(u64::from),
            spoofchk: *spoofchk,
            trust: *trust,
            link_state: link_state.clone(),
            min_tx_rate: min_tx_rate.map(u64::from),
            max_tx_rate: max_tx_rate.map(u64::from),
            driver: driver.clone(),
        }),
        Cmd::Sriov { action: SriovAction::Apply { dry_run } } => R::SriovApply { dry_run: *dry_run },
        Cmd::Log { action: None } => R::Log,
        Cmd::Log { action: Some(LogAction::Level { module, level }) } => {
            R::LogLevel { module: module.clone(), level: level.clone() }
        }
        Cmd::Port { name, state } => R::PortSet { port: name.clone(), state: state.clone() },
        Cmd::Clients { action: None } => R::Clients,
        Cmd::Clients { action: Some(ClientsAction::Kick { id }) } => R::ClientsKick { id: *id },
        Cmd::Raw { request } => {
            let v: Value = serde_json::from_str(request).map_err(|e| Fail::Usage(format!("raw: not JSON: {e}")))?;
            return Ok(v.to_string());
        }
    };
    Ok(r.to_line())
}

fn exchange(path: &Path, line: &str, timeout: f64) -> Result<String, Fail> {
    let conn = |e: std::io::Error| {
        Fail::Usage(format!("{}: {e} (is vnfd running? --socket or VNFCTL_SOCKET names its socket)", path.display()))
    };
    let mut s = UnixStream::connect(path).map_err(conn)?;
    let t = Duration::try_from_secs_f64(timeout).ok().filter(|t| !t.is_zero());
    let io = |e: std::io::Error| Fail::Usage(format!("{}: {e}", path.display()));
    s.set_read_timeout(t).map_err(io)?;
    s.set_write_timeout(t).map_err(io)?;
    // vnfd may refuse the connection (no free slot) before reading the request, and close:
    // the write then fails, but its answer is waiting to be read, so read it either way.
    let sent = s.write_all(format!("{line}\n").as_bytes());
    let mut rd = BufReader::new(&s);
    let mut answer = String::new();
    let read = rd.read_line(&mut answer);
    if answer.is_empty() {
        if let Err(e) = sent {
            return Err(io(e));
        }
    }
    read.map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            Fail::Usage(format!("no answer within {timeout} s"))
        }
        _ => io(e),
    })?;
    // Leave only once vnfd has let go of this client's slot, so that scripts running vnfctl
    // back to back are never told "too many clients".
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = std::io::Read::read_to_end(&mut rd, &mut Vec::new());
    if answer.is_empty() {
        return Err(Fail::Usage(format!("{}: vnfd closed the connection without an answer", path.display())));
    }
    Ok(answer.trim_end().to_owned())
}

/// Sends one request line and reads vnfd's answer: the raw line, its JSON and its status
/// envelope (an answer that is not JSON or has no status is a usage failure).
fn ask(cli: &Cli, line: &str) -> Result<(String, Value, reply::Status), Fail> {
    let answer = exchange(&socket_path(cli), line, cli.timeout)?;
    let v: Value = serde_json::from_str(&answer)
        .map_err(|e| Fail::Usage(format!("vnfd answered something that is not JSON ({e}): {answer}")))?;
    let status = reply::Status::deserialize(&v)
        .map_err(|e| Fail::Usage(format!("vnfd answered without a status ({e}): {answer}")))?;
    Ok((answer, v, status))
}

fn run(cli: &Cli) -> Result<(), Fail> {
    if let Cmd::Top { interval, count } = cli.cmd {
        return top(cli, interval, count);
    }
    let (answer, v, status) = ask(cli, &request(&cli.cmd)?)?;
    let refused = !status.ok;
    let error = status.error.unwrap_or_else(|| answer.clone());
    if refused && status.busy {
        if cli.json {
            println!("{answer}");
        }
        return Err(Fail::Busy(error));
    }
    if cli.json || matches!(cli.cmd, Cmd::Raw { .. }) {
        println!("{answer}");
    } else if !refused {
        print!("{}", render(&cli.cmd, &v));
    }
    if refused {
        return Err(Fail::Refused(error));
    }
    Ok(())
}

/// `top`: asks for `stats` every `interval` seconds and prints the rates between two
/// answers (the screen is redrawn when stdout is a terminal).
fn top(cli: &Cli, interval: f64, count: u64) -> Result<(), Fail> {
    use std::io::IsTerminal;
    let every = Duration::try_from_secs_f64(interval)
        .ok()
        .filter(|d| *d >= Duration::from_millis(50))
        .ok_or_else(|| Fail::Usage(format!("--interval {interval}: at least 0.05 seconds")))?;
    let stats = request(&Cmd::Stats { action: None })?;
    let poll = || -> Result<reply::Stats, Fail> {
        let (answer, v, st) = ask(cli, &stats)?;
        if !st.ok {
            let e = st.error.unwrap_or(answer);
            return Err(if st.busy { Fail::Busy(e) } else { Fail::Refused(e) });
        }
        reply::StatsReply::deserialize(&v).map(|r| r.stats).map_err(|e| Fail::Usage(format!("stats: {e}")))
    };
    let tty = std::io::stdout().is_terminal();
    let mut prev = poll()?;
    let mut shown = 0;
    while count == 0 || shown < count {
        std::thread::sleep(every);
        let cur = poll()?;
        let text = rates(&prev, &cur);
        if tty {
            print!("\x1b[H\x1b[2J{text}");
        } else {
            println!("{text}");
        }
        let _ = std::io::stdout().flush();
        prev = cur;
        shown += 1;
    }
    Ok(())
}

/// The rates between two readings of `stats`: per port, per worker, drops by reason.
fn rates(prev: &reply::Stats, cur: &reply::Stats) -> String {
    let d = cur.since(prev);
    let dt = if cur.tsc > prev.tsc && cur.tsc_hz > 0 {
        (cur.tsc - prev.tsc) as f64 / cur.tsc_hz as f64
    } else {
        d.elapsed_s
    };
    let per_s = |n: u64| if dt > 0.0 { n as f64 / dt } else { 0.0 };
    let si = |x: f64| {
        if x >= 1e9 {
            format!("{:.2}G", x / 1e9)
        } else if x >= 1e6 {
            format!("{:.2}M", x / 1e6)
        } else if x >= 1e3 {
            format!("{:.2}k", x / 1e3)
        } else {
            format!("{x:.0}")
        }
    };
    let ports: Vec<Vec<String>> = d
        .ports
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.link.to_string(),
                si(per_s(p.rx)),
                si(per_s(p.hw.ibytes) * 8.0),
                si(per_s(p.tx)),
                si(per_s(p.hw.obytes) * 8.0),
                si(per_s(p.tx_full)),
                si(per_s(p.hw.imissed)),
            ]
        })
        .collect();
    let workers: Vec<Vec<String>> = d
        .workers
        .iter()
        .map(|w| {
            let busy = if w.loops > 0 { 100.0 * w.busy_loops as f64 / w.loops as f64 } else { 0.0 };
            let cpp =
                if w.packets > 0 { format!("{:.1}", w.busy_cycles as f64 / w.packets as f64) } else { "-".into() };
            vec![w.lcore.to_string(), si(per_s(w.packets)), format!("{busy:.1}"), cpp]
        })
        .collect();
    let drops: Vec<Vec<String>> =
        d.drops.iter().filter(|(_, &n)| n > 0).map(|(k, &n)| vec![k.clone(), si(per_s(n))]).collect();
    let mut out = format!("vnfd rates over {dt:.2} s (generation {})\n\n", cur.generation);
    out += &table(&["port", "link", "rx_pps", "rx_bps", "tx_pps", "tx_bps", "tx_full/s", "imissed/s"], &ports);
    out += "\n";
    out += &table(&["lcore", "pps", "busy%", "cyc/pkt"], &workers);
    out += "\n";
    if drops.is_empty() {
        out += "drops/s: none\n";
    } else {
        out += &table(&["drop", "per_s"], &drops);
    }
    out
}

// ---- human output ----

/// Column-aligned text: numbers right-aligned, the rest left-aligned.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..head.len())
        .map(|i| !rows.is_empty() && rows.iter().all(|r| r[i].is_empty() || r[i] == "-" || r[i].parse::<f64>().is_ok()))
        .collect();
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = w[i].saturating_sub(c.chars().count());
            if numeric[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(head.to_vec());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

/// An optional value as a cell ("-" when absent).
fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), ToString::to_string)
}

/// The count under a listing, saying when it was cut at `--limit`.
fn count_line<T>(l: &reply::Listing<T>, what: &str) -> String {
    shown_line(l.count, l.entries.len(), l.truncated, what)
}

fn shown_line(count: usize, shown: usize, truncated: bool, what: &str) -> String {
    if truncated {
        format!("{count} {what} ({shown} shown; --limit for more)\n")
    } else {
        format!("{count} {what}\n")
    }
}

/// name -> count lines of the non-zero entries of a map.
fn counts(title: &str, m: &std::collections::BTreeMap<String, u64>) -> String {
    let rows: Vec<Vec<String>> =
        m.iter().filter(|(_, &n)| n != 0).map(|(k, n)| vec![k.clone(), n.to_string()]).collect();
    if rows.is_empty() {
        return format!("{title}: none\n");
    }
    format!("{title}:\n{}", table(&[title.trim_end_matches('s'), "packets"], &rows))
}

/// The names in `n`, comma-separated ("none" for an empty list).
fn names(n: &[String]) -> String {
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

/// A config's changed keys, one per line.
fn changes(c: &[String]) -> String {
    if c.is_empty() {
        return "no changes\n".into();
    }
    c.iter().map(|l| format!("  {l}\n")).collect()
}

/// Renders the answer `v` to `cmd` as the type vnfd built it from.
fn render(cmd: &Cmd, v: &Value) -> String {
    match human(cmd, v) {
        Ok(s) => s,
        Err(e) => format!("(unreadable answer: {e})\n{v}\n"),
    }
}

fn human(cmd: &Cmd, v: &Value) -> Result<String, serde_json::Error> {
    fn read<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
        T::deserialize(v)
    }
    Ok(match cmd {
        Cmd::Version => {
            let r: reply::Version = read(v)?;
            format!(
                "vnfd {} on {}\nconfig {} (generation {})\nup {:.1} s\n",
                r.version, r.dpdk, r.config, r.generation, r.uptime_s
            )
        }
        Cmd::Stats { action: None } => {
            let r: reply::StatsReply = read(v)?;
            let since =
                r.since_clear_s.map_or(String::new(), |s| format!("counters since `stats clear` {s:.1} s ago\n"));
            since + &stats(&r.stats)
        }
        Cmd::Stats { action: Some(StatsAction::Clear) } => {
            format!("counters cleared (generation {})\n", read::<reply::StatsCleared>(v)?.generation)
        }
        Cmd::Top { .. } => stats(&read::<reply::StatsReply>(v)?.stats),
        Cmd::Log { action: None } => {
            let r: reply::LogTypes = read(v)?;
            let rows: Vec<Vec<String>> = r.types.into_iter().map(|t| vec![t.name, t.level]).collect();
            table(&["type", "level"], &rows)
        }
        Cmd::Log { action: Some(_) } => {
            let r: reply::LogLevel = read(v)?;
            format!("{}: {} ({})\n", r.module, r.level, r.types.join(", "))
        }
        Cmd::Port { .. } => {
            let r: reply::PortSet = read(v)?;
            format!("port {}: admin {}; link {}\n", r.port, r.state, r.link)
        }
        Cmd::Clients { action: None } => {
            let r: reply::Clients = read(v)?;
            let rows: Vec<Vec<String>> = r
                .clients
                .iter()
                .map(|c| {
                    vec![
                        format!("{}{}", c.id, if c.is_self { " (this)" } else { "" }),
                        c.uid.to_string(),
                        c.pid.to_string(),
                        c.role.clone(),
                        c.state.clone(),
                        c.requests.to_string(),
                        c.connected_s.to_string(),
                        if c.reserved { "admin" } else { "-" }.into(),
                    ]
                })
                .collect();
            table(&["id", "uid", "pid", "role", "state", "requests", "connected-s", "reserved"], &rows)
        }
        Cmd::Clients { action: Some(ClientsAction::Kick { .. }) } => {
            format!("kicked client {}\n", read::<reply::Kicked>(v)?.kicked)
        }
        Cmd::Ports => {
            let r: reply::Ports = read(v)?;
            let rows: Vec<Vec<String>> = r
                .ports
                .iter()
                .map(|p| {
                    let s = &p.stats;
                    vec![
                        p.index.to_string(),
                        s.name.clone(),
                        p.port_id.to_string(),
                        s.driver.clone(),
                        s.mac.clone(),
                        opt(&s.mtu),
                        s.link.to_string(),
                        s.rx.to_string(),
                        s.tx.to_string(),
                        s.tx_full.to_string(),
                        s.hw.ipackets.to_string(),
                        s.hw.opackets.to_string(),
                        s.hw.imissed.to_string(),
                        s.hw.ierrors.to_string(),
                    ]
                })
                .collect();
            table(
                &[
                    "#", "name", "id", "driver", "mac", "mtu", "link", "rx", "tx", "tx_full", "hw_rx", "hw_tx",
                    "imissed", "ierrors",
                ],
                &rows,
            )
        }
        Cmd::Fdb { action: None, .. } => {
            let r: reply::Listing<reply::FdbEntry> = read(v)?;
            let rows: Vec<Vec<String>> = r
                .entries
                .iter()
                .map(|e| {
                    let age = match e.age_ms {
                        _ if e.is_static => "static".into(),
                        ms => format!("{:.1}", ms.unwrap_or(0) as f64 / 1000.0),
                    };
                    vec![e.bridge.clone(), opt(&e.vlan), e.mac.clone(), e.dest.clone(), age, e.worker.to_string()]
                })
                .collect();
            table(&["bridge", "vlan", "mac", "dest", "age_s", "worker"], &rows) + &count_line(&r, "entries")
        }
        Cmd::Fdb { action: Some(_), .. } => {
            format!("flushed {} learned entries\n", read::<reply::Flushed>(v)?.flushed)
        }
        Cmd::Neigh { action: None, .. } => {
            let r: reply::Listing<reply::NeighEntry> = read(v)?;
            let rows: Vec<Vec<String>> = r
                .entries
                .iter()
                .map(|e| {
                    vec![
                        e.bridge.clone(),
                        opt(&e.vlan),
                        e.ip.clone(),
                        opt(&e.mac),
                        e.state.clone(),
                        e.age_ms.map_or_else(|| "-".into(), |ms| format!("{:.1}", ms as f64 / 1000.0)),
                        e.queued.to_string(),
                        e.worker.to_string(),
                    ]
                })
                .collect();
            table(&["bridge", "vlan", "ip", "mac", "state", "age_s", "queued", "worker"], &rows)
                + &count_line(&r, "entries")
        }
        Cmd::Neigh { action: Some(_), .. } => {
            format!("flushed {} dynamic entries\n", read::<reply::Flushed>(v)?.flushed)
        }
        Cmd::Trace { action: TraceAction::Add { .. } } => {
            let r: reply::TraceArmed = read(v)?;
            format!("tracing the next {} packets on each of {} workers\n", r.armed, r.workers)
        }
        Cmd::Trace { action: TraceAction::Clear } => {
            read::<reply::Cleared>(v)?;
            "trace cleared\n".into()
        }
        Cmd::Trace { action: TraceAction::Show } => trace(&read(v)?),
        Cmd::Runtime { .. } => {
            let r: reply::Runtime = read(v)?;
            if !r.enabled {
                return Ok("runtime counters are off (vnfctl runtime --on)\n".into());
            }
            let rows: Vec<Vec<String>> = r
                .nodes
                .iter()
                .map(|n| {
                    vec![
                        n.node.clone(),
                        n.calls.to_string(),
                        n.packets.to_string(),
                        format!("{:.1}", n.cycles_per_packet),
                        format!("{:.1}", n.packets_per_call),
                    ]
                })
                .collect();
            table(&["node", "calls", "packets", "cycles/pkt", "pkts/call"], &rows)
        }
        Cmd::Vtep => vtep(&read::<reply::VtepReply>(v)?),
        Cmd::Conntrack { action: None, .. } => {
            let r: reply::Listing<reply::CtEntry> = read(v)?;
            let rows: Vec<Vec<String>> = r
                .entries
                .iter()
                .map(|e| {
                    let nat = match (e.snat, e.dnat) {
                        (true, true) => "snat+dnat",
                        (true, false) => "snat",
                        (false, true) => "dnat",
                        _ => "-",
                    };
                    vec![
                        e.proto.clone(),
                        e.orig.to_string(),
                        e.reply.to_string(),
                        e.state.clone(),
                        format!("{:.1}", e.expires_ms as f64 / 1000.0),
                        nat.into(),
                        format!("[{},{}]", e.packets[0], e.packets[1]),
                        e.worker.to_string(),
                    ]
                })
                .collect();
            table(&["proto", "original", "reply", "state", "expires_s", "nat", "packets", "worker"], &rows)
                + &count_line(&r, "connections")
        }
        Cmd::Conntrack { action: Some(CtAction::Count), .. } => {
            let r: reply::CtCount = read(v)?;
            let per: Vec<String> = r.per_worker.iter().map(ToString::to_string).collect();
            format!("{} connections (per worker: {}; capacity {} per worker)\n", r.count, per.join(", "), r.capacity)
        }
        Cmd::Conntrack { action: Some(CtAction::Flush { .. }), .. } => {
            format!("flushed {} connections\n", read::<reply::Flushed>(v)?.flushed)
        }
        Cmd::Nat { .. } => nat(&read(v)?),
        Cmd::Firewall => firewall(&read(v)?),
        Cmd::Config { action: ConfigAction::Show } => {
            let r: reply::ConfigShow = read(v)?;
            let nl = if r.text.ends_with('\n') || r.text.is_empty() { "" } else { "\n" };
            format!("# {} (generation {})\n{}{nl}", r.path, r.generation, r.text)
        }
        Cmd::Config { action: ConfigAction::Reload { .. } } => {
            let r: reply::ReloadReport = read(v)?;
            format!(
                "reloaded: generation {} in {:.2} ms (compile {:.2} ms, publish {:.2} ms)\nports added: {}; removed: {}; kept: {}\n",
                r.generation,
                r.latency_us / 1000.0,
                r.compile_us / 1000.0,
                r.publish_us / 1000.0,
                names(&r.ports_added),
                names(&r.ports_removed),
                names(&r.ports_kept)
            ) + &r.sriov.iter().map(|a| format!("sriov: {a}\n")).collect::<String>()
        }
        Cmd::Config { action: ConfigAction::Check { .. } } => {
            let r: reply::ConfigCheck = read(v)?;
            format!(
                "{}: ok, a reload would accept it\nports added: {}; removed: {}; kept: {}\n",
                r.path,
                names(&r.ports_added),
                names(&r.ports_removed),
                names(&r.ports_kept)
            ) + &r.sriov_plan.iter().map(|s| format!("sriov: {s}\n")).collect::<String>()
                + &changes(&r.changes)
        }
        Cmd::Config { action: ConfigAction::Diff { .. } } => changes(&read::<reply::ConfigDiff>(v)?.changes),
        Cmd::Latency => {
            let r: reply::Latency = read(v)?;
            let rows: Vec<Vec<String>> = r
                .workers
                .iter()
                .map(|w| {
                    vec![
                        opt(&w.lcore),
                        w.bursts.to_string(),
                        w.mean.to_string(),
                        w.p50.to_string(),
                        w.p90.to_string(),
                        w.p99.to_string(),
                        w.p999.to_string(),
                        w.max.to_string(),
                    ]
                })
                .collect();
            format!("per polling round with packets, in {}:\n", r.unit)
                + &table(&["lcore", "rounds", "mean", "p50", "p90", "p99", "p99.9", "max"], &rows)
        }
        Cmd::Vf { action: VfAction::List } => {
            let r: reply::VfList = read(v)?;
            if r.pfs.is_empty() {
                "no [[sriov.pf]] in the running config\n".into()
            } else {
                sriov::listing(&r.pfs)
            }
        }
        Cmd::Vf { .. } => applied(&read::<reply::Steps>(v)?.steps),
        Cmd::Sriov { action: SriovAction::Apply { dry_run: false } } => applied(&read::<reply::SriovApplied>(v)?.steps),
        Cmd::Sriov { action: SriovAction::Apply { dry_run: true } } => {
            let r: reply::SriovApplied = read(v)?;
            if r.plan.is_empty() {
                "nothing to change\n".into()
            } else {
                r.plan.iter().map(|l| format!("{l}\n")).collect()
            }
        }
        Cmd::Raw { .. } => format!("{v}\n"),
    })
}

fn applied(steps: &[sriov::Applied]) -> String {
    if steps.is_empty() {
        "nothing to change\n".into()
    } else {
        steps.iter().map(|a| format!("{a}\n")).collect()
    }
}

/// `stats`: the port and worker tables take their number columns from the metric table
/// (`pipelines::metrics`), the one Prometheus and telemetry are rendered from.
fn stats(s: &reply::Stats) -> String {
    use pipelines::metrics::{Metric, Num, PORT, WORKER};
    fn shown<T>(table: &[Metric<T>]) -> impl Iterator<Item = &Metric<T>> {
        table.iter().filter(|m| !m.col.is_empty())
    }
    fn num(n: Num) -> String {
        match n {
            Num::U(v) => v.to_string(),
            Num::F(v) => format!("{v:.1}"),
        }
    }
    let ports: Vec<Vec<String>> = s
        .ports
        .iter()
        .map(|p| {
            let mut row = vec![p.name.clone(), p.driver.clone(), p.link.to_string()];
            row.extend(shown(PORT).map(|m| num((m.get)(p))));
            row
        })
        .collect();
    let workers: Vec<Vec<String>> = s
        .workers
        .iter()
        .map(|w| {
            let mut row = vec![w.lcore.to_string()];
            row.extend(shown(WORKER).map(|m| num((m.get)(w))));
            row
        })
        .collect();
    let head = |ids: &[&'static str], cols: Vec<&'static str>| -> Vec<&'static str> {
        ids.iter().copied().chain(cols).collect()
    };
    let mut out = format!("generation {}, up {:.1} s\n\n", s.generation, s.elapsed_s);
    out += &table(&head(&["port", "driver", "link"], shown(PORT).map(|m| m.col).collect()), &ports);
    out += "\n";
    out += &table(&head(&["lcore"], shown(WORKER).map(|m| m.col).collect()), &workers);
    out += "\n";
    out += &counts("drops", &s.drops);
    out += &counts("events", &s.events);
    let m = &s.mempool;
    out += &format!("mempool: {} mbufs, {} in use, {} available\n", m.size, m.in_use, m.available);
    out
}

fn vtep(r: &reply::VtepReply) -> String {
    let Some(v) = &r.vtep else { return "no VTEP configured\n".into() };
    let mut out = format!("local {} mac {} udp {} mtu {} on port {}\n\n", v.ip, v.mac, v.udp_port, v.mtu, opt(&v.port));
    let vnis: Vec<Vec<String>> = v.vnis.iter().map(|n| vec![n.vni.to_string(), n.bridge.clone()]).collect();
    out += &table(&["vni", "bridge"], &vnis);
    let remotes: Vec<Vec<String>> =
        v.remotes.iter().map(|r| vec![r.ip.clone(), r.encap.to_string(), r.decap.to_string()]).collect();
    out += "\n";
    out += &table(&["remote", "encap", "decap"], &remotes);
    out
}

fn firewall(v: &reply::FirewallReply) -> String {
    if !v.configured {
        return "no firewall configured\n".into();
    }
    let any = |x: &Option<String>| x.clone().unwrap_or_else(|| "*".into());
    let join = |l: &[String]| if l.is_empty() { "*".into() } else { l.join(",") };
    let rules: Vec<Vec<String>> = v
        .rules
        .iter()
        .map(|r| {
            vec![
                r.index.to_string(),
                any(&r.from),
                any(&r.to),
                any(&r.proto),
                join(&r.src),
                join(&r.dst),
                any(&r.sport),
                any(&r.dport),
                any(&r.icmp_type.map(|t| t.to_string())),
                r.action.clone(),
                r.hits.to_string(),
            ]
        })
        .collect();
    let policies: Vec<Vec<String>> = v
        .policies
        .iter()
        .map(|p| {
            let action = if p.configured { p.action.clone() } else { format!("{} (default)", p.action) };
            vec![p.from.clone(), p.to.clone(), action, any(&p.mss.map(|m| m.to_string())), p.hits.to_string()]
        })
        .collect();
    let mut out = format!("default {}\n\n", opt(&v.default));
    out += &table(&["rule", "from", "to", "proto", "src", "dst", "sport", "dport", "icmp", "action", "hits"], &rules);
    out += "\n";
    out += &table(&["from", "to", "policy", "mss", "hits"], &policies);
    out += &format!("port forwards accepted without a rule: {}\n", v.forwards_accepted);
    out
}

fn nat(v: &reply::NatReply) -> String {
    let pools: Vec<Vec<String>> = v
        .pools
        .iter()
        .map(|p| {
            vec![
                p.rule.to_string(),
                p.from.join(","),
                p.addresses.join(","),
                format!("{}-{}", p.ports[0], p.ports[1]),
                p.free.tcp.to_string(),
                p.free.udp.to_string(),
                p.free.icmp.to_string(),
            ]
        })
        .collect();
    let forwards: Vec<Vec<String>> = v
        .forwards
        .iter()
        .map(|f| vec![f.proto.clone(), format!("{}:{}", f.address, f.port), format!("{}:{}", f.to, f.to_port)])
        .collect();
    let maps: Vec<Vec<String>> = v
        .mappings
        .iter()
        .map(|m| {
            vec![m.proto.clone(), m.internal.clone(), m.external.clone(), m.refs.to_string(), m.worker.to_string()]
        })
        .collect();
    let mut out = String::from("SNAT pools:\n");
    out += &table(&["rule", "from", "addresses", "ports", "free_tcp", "free_udp", "free_icmp"], &pools);
    out += "\nport forwards:\n";
    out += &table(&["proto", "address", "to"], &forwards);
    out += "\nmappings:\n";
    out += &table(&["proto", "internal", "external", "conns", "worker"], &maps);
    out + &shown_line(v.count, v.mappings.len(), v.truncated, "mappings")
}

/// `trace show`: per packet, one line per node it passed.
fn trace(v: &reply::TraceShow) -> String {
    let mut out = String::new();
    for p in &v.packets {
        out += &format!("packet {} (worker {})\n", p.packet, p.worker);
        for n in &p.nodes {
            let mut line = format!("  {:<14} -> {:<24}", n.node, n.next);
            line += &format!(" in {} {} > {}", n.in_port, n.src_mac, n.dst_mac);
            for (k, x) in
                [("bridge", &n.bridge), ("from_vtep", &n.from_vtep), ("flow", &n.flow), ("out_port", &n.out_port)]
            {
                if let Some(x) = x {
                    line += &format!(" {k} {x}");
                }
            }
            out += line.trim_end();
            out.push('\n');
        }
    }
    if v.packets.is_empty() {
        out += "no packets traced\n";
    }
    if v.left > 0 {
        out += &format!("({} packets still to be traced)\n", v.left);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_rates_are_the_counter_deltas_over_the_tsc_interval() {
        let hz = 2_000_000_000;
        let at = |s: u64, rx: u64, bytes: u64, drops: u64| {
            let mut st =
                reply::Stats { tsc_hz: hz, tsc: s * hz, elapsed_s: s as f64, generation: 4, ..Default::default() };
            st.ports.push(reply::PortStats {
                name: "wan".into(),
                rx,
                tx: rx / 2,
                hw: reply::HwStats { ibytes: bytes, ..Default::default() },
                ..Default::default()
            });
            st.workers.push(reply::WorkerStats {
                lcore: 1,
                packets: rx,
                loops: s * 1000,
                busy_loops: s * 250,
                busy_cycles: rx * 50,
                ..Default::default()
            });
            st.drops.insert("tx-full".into(), drops);
            st
        };
        // 3 Mpps of 64-byte frames (1.536 Gbit/s) for 2 s, 1000 drops a second.
        let text = rates(&at(10, 1_000_000, 64_000_000, 500), &at(12, 7_000_000, 448_000_000, 2_500));
        assert!(text.starts_with("vnfd rates over 2.00 s (generation 4)"), "{text}");
        let row = |first: &str| {
            text.lines()
                .find(|l| l.split_whitespace().next() == Some(first))
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(row("wan"), ["wan", "down", "3.00M", "1.54G", "1.50M", "0", "0", "0"], "{text}");
        assert_eq!(row("1"), ["1", "3.00M", "25.0", "50.0"], "{text}");
        assert_eq!(row("tx-full"), ["tx-full", "1.00k"], "{text}");
    }
}
