//! vnfctl: the operator's CLI over vnfd's control socket.
//!
//! Every subcommand sends one JSON request line and prints the answer as tables (or, with
//! `--json`, the answer line as vnfd sent it, for scripts). Exit status: 0 when vnfd answered
//! `ok`, 1 when it refused the request (its error on stderr), 2 for a usage error or when
//! vnfd cannot be reached, 3 when vnfd is busy (every client slot taken: try again, or
//! have an admin look with `vnfctl clients`).

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use vnf_core::control as proto;
use vnf_core::sriov::{self, Applied, PfState};

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
    /// Ports, workers, drops by reason, events, tables, mempool.
    Stats,
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
        Cmd::Stats => R::Stats,
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

fn run(cli: &Cli) -> Result<(), Fail> {
    let line = request(&cli.cmd)?;
    let answer = exchange(&socket_path(cli), &line, cli.timeout)?;
    let v: Value = serde_json::from_str(&answer)
        .map_err(|e| Fail::Usage(format!("vnfd answered something that is not JSON ({e}): {answer}")))?;
    let refused = v["ok"] != json!(true);
    if refused && v["busy"] == json!(true) {
        if cli.json {
            println!("{answer}");
        }
        return Err(Fail::Busy(v["error"].as_str().unwrap_or(&answer).to_owned()));
    }
    if cli.json || matches!(cli.cmd, Cmd::Raw { .. }) {
        println!("{answer}");
    } else if !refused {
        print!("{}", render(&cli.cmd, &v));
    }
    if refused {
        return Err(Fail::Refused(v["error"].as_str().unwrap_or(&answer).to_owned()));
    }
    Ok(())
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

/// A JSON value as a cell: strings unquoted, null as "-".
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn count_line(v: &Value, what: &str) -> String {
    let shown = list(&v["entries"]).len().max(list(&v["mappings"]).len());
    if v["truncated"] == json!(true) {
        format!("{} {what} ({shown} shown; --limit for more)\n", cell(&v["count"]))
    } else {
        format!("{} {what}\n", cell(&v["count"]))
    }
}

fn link(l: &Value) -> String {
    if l["up"] == json!(true) {
        format!("up,{}M", cell(&l["speed_mbps"]))
    } else {
        "down".into()
    }
}

/// name -> count lines of the non-zero entries of a map.
fn counts(title: &str, m: &Value) -> String {
    let rows: Vec<Vec<String>> = m
        .as_object()
        .map(|o| o.iter().filter(|(_, n)| n.as_u64() != Some(0)).map(|(k, n)| vec![k.clone(), cell(n)]).collect())
        .unwrap_or_default();
    if rows.is_empty() {
        return format!("{title}: none\n");
    }
    format!("{title}:\n{}", table(&[title.trim_end_matches('s'), "packets"], &rows))
}

fn render(cmd: &Cmd, v: &Value) -> String {
    match cmd {
        Cmd::Version => format!(
            "vnfd {} on {}\nconfig {} (generation {})\nup {:.1} s\n",
            cell(&v["version"]),
            cell(&v["dpdk"]),
            cell(&v["config"]),
            cell(&v["generation"]),
            v["uptime_s"].as_f64().unwrap_or(0.0)
        ),
        Cmd::Stats => stats(&v["stats"]),
        Cmd::Log { action: None } => {
            let rows: Vec<Vec<String>> = list(&v["types"]).iter().map(|t| vec![cell(&t["type"]), cell(&t["level"])]).collect();
            table(&["type", "level"], &rows)
        }
        Cmd::Log { action: Some(_) } => format!(
            "{}: {} ({})\n",
            cell(&v["module"]),
            cell(&v["level"]),
            list(&v["types"]).iter().map(cell).collect::<Vec<_>>().join(", ")
        ),
        Cmd::Port { .. } => format!("port {}: admin {}; link {}\n", cell(&v["port"]), cell(&v["state"]), link(&v["link"])),
        Cmd::Clients { action: None } => {
            let rows: Vec<Vec<String>> = list(&v["clients"])
                .iter()
                .map(|c| {
                    let me = if c["self"] == json!(true) { " (this)" } else { "" };
                    vec![
                        format!("{}{me}", cell(&c["id"])),
                        cell(&c["uid"]),
                        cell(&c["pid"]),
                        cell(&c["role"]),
                        cell(&c["state"]),
                        cell(&c["requests"]),
                        cell(&c["connected_s"]),
                        if c["reserved"] == json!(true) { "admin".into() } else { "-".into() },
                    ]
                })
                .collect();
            table(&["id", "uid", "pid", "role", "state", "requests", "connected-s", "reserved"], &rows)
        }
        Cmd::Clients { action: Some(ClientsAction::Kick { .. }) } => format!("kicked client {}\n", cell(&v["kicked"])),
        Cmd::Ports => {
            let rows: Vec<Vec<String>> = list(&v["ports"])
                .iter()
                .map(|p| {
                    vec![
                        cell(&p["index"]),
                        cell(&p["name"]),
                        cell(&p["port_id"]),
                        cell(&p["driver"]),
                        cell(&p["mac"]),
                        cell(&p["mtu"]),
                        link(&p["link"]),
                        cell(&p["rx"]),
                        cell(&p["tx"]),
                        cell(&p["tx_full"]),
                        cell(&p["hw"]["ipackets"]),
                        cell(&p["hw"]["opackets"]),
                        cell(&p["hw"]["imissed"]),
                        cell(&p["hw"]["ierrors"]),
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
            let rows: Vec<Vec<String>> = list(&v["entries"])
                .iter()
                .map(|e| {
                    let age = if e["static"] == json!(true) {
                        "static".into()
                    } else {
                        format!("{:.1}", e["age_ms"].as_f64().unwrap_or(0.0) / 1000.0)
                    };
                    vec![
                        cell(&e["bridge"]),
                        cell(&e["vlan"]),
                        cell(&e["mac"]),
                        cell(&e["dest"]),
                        age,
                        cell(&e["worker"]),
                    ]
                })
                .collect();
            table(&["bridge", "vlan", "mac", "dest", "age_s", "worker"], &rows) + &count_line(v, "entries")
        }
        Cmd::Fdb { action: Some(_), .. } => format!("flushed {} learned entries\n", cell(&v["flushed"])),
        Cmd::Neigh { action: None, .. } => {
            let rows: Vec<Vec<String>> = list(&v["entries"])
                .iter()
                .map(|e| {
                    let age = match e["age_ms"].as_f64() {
                        Some(ms) => format!("{:.1}", ms / 1000.0),
                        None => "-".into(),
                    };
                    vec![
                        cell(&e["bridge"]),
                        cell(&e["vlan"]),
                        cell(&e["ip"]),
                        cell(&e["mac"]),
                        cell(&e["state"]),
                        age,
                        cell(&e["queued"]),
                        cell(&e["worker"]),
                    ]
                })
                .collect();
            table(&["bridge", "vlan", "ip", "mac", "state", "age_s", "queued", "worker"], &rows)
                + &count_line(v, "entries")
        }
        Cmd::Neigh { action: Some(_), .. } => format!("flushed {} dynamic entries\n", cell(&v["flushed"])),
        Cmd::Trace { action: TraceAction::Add { .. } } => {
            format!("tracing the next {} packets on each of {} workers\n", cell(&v["armed"]), cell(&v["workers"]))
        }
        Cmd::Trace { action: TraceAction::Clear } => "trace cleared\n".into(),
        Cmd::Trace { action: TraceAction::Show } => trace(v),
        Cmd::Runtime { .. } => {
            if v["enabled"] != json!(true) {
                return "runtime counters are off (vnfctl runtime --on)\n".into();
            }
            let rows: Vec<Vec<String>> = list(&v["nodes"])
                .iter()
                .map(|n| {
                    vec![
                        cell(&n["node"]),
                        cell(&n["calls"]),
                        cell(&n["packets"]),
                        format!("{:.1}", n["cycles_per_packet"].as_f64().unwrap_or(0.0)),
                        format!("{:.1}", n["packets_per_call"].as_f64().unwrap_or(0.0)),
                    ]
                })
                .collect();
            table(&["node", "calls", "packets", "cycles/pkt", "pkts/call"], &rows)
        }
        Cmd::Vtep => vtep(&v["vtep"]),
        Cmd::Conntrack { action: None, .. } => {
            let ep = |k: &Value| {
                format!("{}:{} -> {}:{}", cell(&k["src"]), cell(&k["sport"]), cell(&k["dst"]), cell(&k["dport"]))
            };
            let rows: Vec<Vec<String>> = list(&v["entries"])
                .iter()
                .map(|e| {
                    let nat = match (e["snat"] == json!(true), e["dnat"] == json!(true)) {
                        (true, true) => "snat+dnat",
                        (true, false) => "snat",
                        (false, true) => "dnat",
                        _ => "-",
                    };
                    vec![
                        cell(&e["proto"]),
                        ep(&e["orig"]),
                        ep(&e["reply"]),
                        cell(&e["state"]),
                        format!("{:.1}", e["expires_ms"].as_f64().unwrap_or(0.0) / 1000.0),
                        nat.into(),
                        cell(&e["packets"]),
                        cell(&e["worker"]),
                    ]
                })
                .collect();
            table(&["proto", "original", "reply", "state", "expires_s", "nat", "packets", "worker"], &rows)
                + &count_line(v, "connections")
        }
        Cmd::Conntrack { action: Some(CtAction::Count), .. } => {
            let per: Vec<String> = list(&v["per_worker"]).iter().map(cell).collect();
            format!(
                "{} connections (per worker: {}; capacity {} per worker)\n",
                cell(&v["count"]),
                per.join(", "),
                cell(&v["capacity"])
            )
        }
        Cmd::Conntrack { action: Some(CtAction::Flush { .. }), .. } => {
            format!("flushed {} connections\n", cell(&v["flushed"]))
        }
        Cmd::Nat { .. } => nat(v),
        Cmd::Firewall => firewall(v),
        Cmd::Config { action: ConfigAction::Show } => {
            let text = v["text"].as_str().unwrap_or("");
            let nl = if text.ends_with('\n') || text.is_empty() { "" } else { "\n" };
            format!("# {} (generation {})\n{text}{nl}", cell(&v["path"]), cell(&v["generation"]))
        }
        Cmd::Config { action: ConfigAction::Reload { .. } } => {
            format!(
                "reloaded: generation {} in {:.2} ms (compile {:.2} ms, publish {:.2} ms)\nports added: {}; removed: {}; kept: {}\n",
                cell(&v["generation"]),
                v["latency_us"].as_f64().unwrap_or(0.0) / 1000.0,
                v["compile_us"].as_f64().unwrap_or(0.0) / 1000.0,
                v["publish_us"].as_f64().unwrap_or(0.0) / 1000.0,
                names(v, "ports_added"),
                names(v, "ports_removed"),
                names(v, "ports_kept")
            ) + &list(&v["sriov"]).iter().filter_map(|a| serde_json::from_value::<Applied>(a.clone()).ok()).map(|a| format!("sriov: {a}\n")).collect::<String>()
        }
        Cmd::Config { action: ConfigAction::Check { .. } } => {
            format!(
                "{}: ok, a reload would accept it\nports added: {}; removed: {}; kept: {}\n",
                cell(&v["path"]),
                names(v, "ports_added"),
                names(v, "ports_removed"),
                names(v, "ports_kept")
            ) + &list(&v["sriov_plan"]).iter().map(|s| format!("sriov: {}\n", cell(s))).collect::<String>()
                + &changes(v)
        }
        Cmd::Config { action: ConfigAction::Diff { .. } } => changes(v),
        Cmd::Latency => {
            let rows: Vec<Vec<String>> = list(&v["workers"])
                .iter()
                .map(|w| {
                    ["lcore", "bursts", "mean", "p50", "p90", "p99", "p999", "max"]
                        .iter()
                        .map(|k| cell(&w[*k]))
                        .collect()
                })
                .collect();
            format!("per polling round with packets, in {}:\n", cell(&v["unit"]))
                + &table(&["lcore", "rounds", "mean", "p50", "p90", "p99", "p99.9", "max"], &rows)
        }
        Cmd::Vf { action: VfAction::List } => match serde_json::from_value::<Vec<PfState>>(v["pfs"].clone()) {
            Ok(p) if p.is_empty() => "no [[sriov.pf]] in the running config\n".into(),
            Ok(p) => sriov::listing(&p),
            Err(e) => format!("(unreadable answer: {e})\n{v}\n"),
        },
        Cmd::Vf { .. } | Cmd::Sriov { action: SriovAction::Apply { dry_run: false } } => {
            match serde_json::from_value::<Vec<Applied>>(v["steps"].clone()) {
                Ok(s) if s.is_empty() => "nothing to change\n".into(),
                Ok(s) => s.iter().map(|a| format!("{a}\n")).collect(),
                Err(e) => format!("(unreadable answer: {e})\n{v}\n"),
            }
        }
        Cmd::Sriov { action: SriovAction::Apply { dry_run: true } } => {
            let plan: Vec<String> = list(&v["plan"]).iter().map(cell).collect();
            if plan.is_empty() {
                "nothing to change\n".into()
            } else {
                plan.iter().map(|l| format!("{l}\n")).collect()
            }
        }
        Cmd::Raw { .. } => format!("{v}\n"),
    }
}

/// The names in list `k` of `v`, comma-separated ("none" for an empty list).
fn names(v: &Value, k: &str) -> String {
    let n: Vec<String> = list(&v[k]).iter().map(cell).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

/// A config's changed keys, one per line.
fn changes(v: &Value) -> String {
    let c = list(&v["changes"]);
    if c.is_empty() {
        return "no changes\n".into();
    }
    c.iter().map(|l| format!("  {}\n", cell(l))).collect()
}

fn stats(s: &Value) -> String {
    let ports: Vec<Vec<String>> = list(&s["ports"])
        .iter()
        .map(|p| {
            vec![
                cell(&p["name"]),
                cell(&p["driver"]),
                link(&p["link"]),
                cell(&p["rx"]),
                cell(&p["tx"]),
                cell(&p["tx_full"]),
                cell(&p["hw"]["imissed"]),
            ]
        })
        .collect();
    let workers: Vec<Vec<String>> = list(&s["workers"])
        .iter()
        .map(|w| {
            vec![
                cell(&w["lcore"]),
                cell(&w["packets"]),
                format!("{:.1}", w["cycles_per_packet"].as_f64().unwrap_or(0.0)),
                cell(&w["ct_entries"]),
                cell(&w["nat_mappings"]),
                cell(&w["fdb_entries"]),
            ]
        })
        .collect();
    let mut out =
        format!("generation {}, up {:.1} s\n\n", cell(&s["generation"]), s["elapsed_s"].as_f64().unwrap_or(0.0));
    out += &table(&["port", "driver", "link", "rx", "tx", "tx_full", "imissed"], &ports);
    out += "\n";
    out += &table(&["lcore", "packets", "cyc/pkt", "conntrack", "nat", "fdb"], &workers);
    out += "\n";
    out += &counts("drops", &s["drops"]);
    out += &counts("events", &s["events"]);
    let m = &s["mempool"];
    out += &format!(
        "mempool: {} mbufs, {} in use, {} available\n",
        cell(&m["size"]),
        cell(&m["in_use"]),
        cell(&m["available"])
    );
    out
}

fn vtep(v: &Value) -> String {
    if v.is_null() {
        return "no VTEP configured\n".into();
    }
    let mut out = format!(
        "local {} mac {} udp {} mtu {} on port {}\n\n",
        cell(&v["ip"]),
        cell(&v["mac"]),
        cell(&v["udp_port"]),
        cell(&v["mtu"]),
        cell(&v["port"])
    );
    let vnis: Vec<Vec<String>> = list(&v["vnis"]).iter().map(|n| vec![cell(&n["vni"]), cell(&n["bridge"])]).collect();
    out += &table(&["vni", "bridge"], &vnis);
    let remotes: Vec<Vec<String>> =
        list(&v["remotes"]).iter().map(|r| vec![cell(&r["ip"]), cell(&r["encap"]), cell(&r["decap"])]).collect();
    out += "\n";
    out += &table(&["remote", "encap", "decap"], &remotes);
    out
}

fn firewall(v: &Value) -> String {
    if v["configured"] != Value::Bool(true) {
        return "no firewall configured\n".into();
    }
    let any = |x: &Value| if x.is_null() { "*".to_string() } else { cell(x) };
    let join = |a: &Value| {
        let l: Vec<String> = list(a).iter().map(cell).collect();
        if l.is_empty() {
            "*".into()
        } else {
            l.join(",")
        }
    };
    let rules: Vec<Vec<String>> = list(&v["rules"])
        .iter()
        .map(|r| {
            vec![
                cell(&r["index"]),
                any(&r["from"]),
                any(&r["to"]),
                any(&r["proto"]),
                join(&r["src"]),
                join(&r["dst"]),
                any(&r["sport"]),
                any(&r["dport"]),
                any(&r["icmp_type"]),
                cell(&r["action"]),
                cell(&r["hits"]),
            ]
        })
        .collect();
    let policies: Vec<Vec<String>> = list(&v["policies"])
        .iter()
        .map(|p| {
            let action = if p["configured"] == Value::Bool(true) {
                cell(&p["action"])
            } else {
                format!("{} (default)", cell(&p["action"]))
            };
            vec![cell(&p["from"]), cell(&p["to"]), action, any(&p["mss"]), cell(&p["hits"])]
        })
        .collect();
    let mut out = format!("default {}\n\n", cell(&v["default"]));
    out += &table(&["rule", "from", "to", "proto", "src", "dst", "sport", "dport", "icmp", "action", "hits"], &rules);
    out += "\n";
    out += &table(&["from", "to", "policy", "mss", "hits"], &policies);
    out += &format!("port forwards accepted without a rule: {}\n", cell(&v["forwards_accepted"]));
    out
}

fn nat(v: &Value) -> String {
    let pools: Vec<Vec<String>> = list(&v["pools"])
        .iter()
        .map(|p| {
            let join = |a: &Value| list(a).iter().map(cell).collect::<Vec<_>>().join(",");
            vec![
                cell(&p["rule"]),
                join(&p["from"]),
                join(&p["addresses"]),
                format!("{}-{}", cell(&p["ports"][0]), cell(&p["ports"][1])),
                cell(&p["free"]["tcp"]),
                cell(&p["free"]["udp"]),
                cell(&p["free"]["icmp"]),
            ]
        })
        .collect();
    let forwards: Vec<Vec<String>> = list(&v["forwards"])
        .iter()
        .map(|f| {
            vec![
                cell(&f["proto"]),
                format!("{}:{}", cell(&f["address"]), cell(&f["port"])),
                format!("{}:{}", cell(&f["to"]), cell(&f["to_port"])),
            ]
        })
        .collect();
    let maps: Vec<Vec<String>> = list(&v["mappings"])
        .iter()
        .map(|m| {
            vec![cell(&m["proto"]), cell(&m["internal"]), cell(&m["external"]), cell(&m["refs"]), cell(&m["worker"])]
        })
        .collect();
    let mut out = String::from("SNAT pools:\n");
    out += &table(&["rule", "from", "addresses", "ports", "free_tcp", "free_udp", "free_icmp"], &pools);
    out += "\nport forwards:\n";
    out += &table(&["proto", "address", "to"], &forwards);
    out += "\nmappings:\n";
    out += &table(&["proto", "internal", "external", "conns", "worker"], &maps);
    out + &count_line(v, "mappings")
}

/// `trace show`: per packet, one line per node it passed.
fn trace(v: &Value) -> String {
    let mut out = String::new();
    for p in list(&v["packets"]) {
        out += &format!("packet {} (worker {})\n", cell(&p["packet"]), cell(&p["worker"]));
        for n in list(&p["nodes"]) {
            let mut line = format!("  {:<14} -> {:<24}", cell(&n["node"]), cell(&n["next"]));
            line += &format!(" in {} {} > {}", cell(&n["in_port"]), cell(&n["src_mac"]), cell(&n["dst_mac"]));
            for k in ["bridge", "from_vtep", "flow", "out_port"] {
                if !n[k].is_null() {
                    line += &format!(" {k} {}", cell(&n[k]));
                }
            }
            out += line.trim_end();
            out.push('\n');
        }
    }
    if list(&v["packets"]).is_empty() {
        out += "no packets traced\n";
    }
    let left = v["left"].as_u64().unwrap_or(0);
    if left > 0 {
        out += &format!("({left} packets still to be traced)\n");
    }
    out
}
