//! The control socket: a Unix stream socket served by vnfd, one JSON request per line and
//! one JSON response per line (`{"ok":true,...}` or `{"ok":false,"error":"..."}`, the
//! error naming the offending field).
//!
//! [`Server`] owns the socket and its client threads and knows nothing of the commands;
//! [`Control`] answers the commands against a [`Dataplane`]. The dataplane never waits for
//! either: worker state is read through the workers' mailboxes between two bursts, and a
//! client that is slow, silent or sends garbage only ever holds its own thread.
//!
//! The requests are `vnf_core::control::Request`, the one definition vnfctl builds and
//! this module parses (commands, arguments, their types and ranges, which need the admin
//! role); the answers are `vnf_core::control::reply` types, which vnfctl reads back.

pub mod files;
pub mod server;

pub use server::{refusal, Clients, Handler, Limits, Peer, Request, Role, Server};

use crate::dataplane::{Dataplane, Error as DpError, ReloadReport};
use crate::dpdk::{self, tsc_hz};
use crate::report::Stats;
use crate::worker::{Answer, Query};
use files::{read_config, FileLimits};
use serde::Serialize;
use serde_json::{Map, Value};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use vnf_core::conntrack::{tcp::TcpState, Filter};
use vnf_core::control::{self as proto, reply};
use vnf_core::l2::fdb::Dest;
use vnf_core::l3::neigh::NeighState;
use vnf_core::nat::NatData;
use vnf_core::pipeline::{Tables, UNDERLAY_IFX};

/// The most packets one `trace add` marks per worker.
pub const TRACE_MAX: u32 = proto::TRACE_MAX as u32;

/// One trace record: the node, where it sent the packet, and the packet's metadata.
fn trace_record(t: &Tables, r: &vnf_core::pipeline::trace::TraceRecord) -> reply::TraceHop {
    use vnf_core::pipeline::flag;
    let m = &r.meta;
    let port = |p: u16| t.port_names.get(usize::from(p)).cloned().unwrap_or_else(|| p.to_string());
    let mac = |v: u64| vnf_core::wire::MacAddr::from_u64(v).to_string();
    let k = &m.flow;
    reply::TraceHop {
        node: r.node.name().into(),
        next: r.hop.describe(),
        ms: r.ms,
        in_port: port(m.in_port),
        dst_mac: mac(m.dst_mac),
        src_mac: mac(m.src_mac),
        ethertype: format!("0x{:04x}", m.ethertype),
        tags: m.ntags,
        bridge: (r.node != vnf_core::pipeline::Node::Xconnect)
            .then(|| t.domains.get(usize::from(m.domain)).map(|d| d.name.clone()))
            .flatten(),
        from_vtep: m.has(flag::OVERLAY).then(|| Ipv4Addr::from(m.ip).to_string()),
        flow: m.has(flag::FLOW).then(|| {
            format!(
                "{} {}:{} -> {}:{}",
                proto_name(k.proto),
                Ipv4Addr::from(k.src),
                k.sport,
                Ipv4Addr::from(k.dst),
                k.dport
            )
        }),
        out_port: match r.hop {
            vnf_core::pipeline::Hop::Out(vnf_core::pipeline::Output::Tx(p)) => Some(port(p)),
            _ => None,
        },
    }
}

/// The running config as the control socket sees it.
struct Running {
    path: PathBuf,
    text: String,
}

/// The command side of the control socket.
pub struct Control {
    dp: Arc<Mutex<Dataplane>>,
    running: Mutex<Running>,
    started: Instant,
    /// The counters at the last `stats clear`, and when: `stats` answers what came since.
    /// The exporters (Prometheus, telemetry) never see it: their counters stay monotonic.
    baseline: Mutex<Option<(Instant, Stats)>>,
}

/// A refusal naming a field.
struct Refused(String);

impl<T: std::fmt::Display> From<T> for Refused {
    fn from(e: T) -> Self {
        Refused(e.to_string())
    }
}

type Reply = Result<Map<String, Value>, Refused>;

fn bad(field: &str, why: impl std::fmt::Display) -> Refused {
    Refused(format!("{field}: {why}"))
}

/// The index of the port named `name`, or a refusal listing the ports there are.
fn port_index(t: &Tables, name: &str) -> Result<usize, Refused> {
    t.port_names
        .iter()
        .position(|p| p == name)
        .ok_or_else(|| bad("port", format!("no port {name:?} (ports: {})", t.port_names.join(", "))))
}

/// Entries the workers removed, summed.
fn flushed(answers: Vec<Answer>) -> usize {
    answers.into_iter().map(|x| if let Answer::Flushed { n, .. } = x { n } else { 0 }).sum()
}

/// A listing's `limit`, or the default.
fn or_default(l: Option<u64>) -> usize {
    l.unwrap_or(proto::DEFAULT_LIMIT) as usize
}

/// A typed answer as the JSON object it is sent as.
fn ok(answer: impl Serialize) -> Reply {
    match serde_json::to_value(answer)? {
        Value::Object(m) => Ok(m),
        other => Ok(Map::from_iter([("value".to_owned(), other)])),
    }
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        n => n.to_string(),
    }
}

/// A neighbour state as the listing shows it: its name in capitals (`REACHABLE`).
fn neigh_state_name(s: NeighState) -> String {
    format!("{s:?}").to_ascii_uppercase()
}

fn tcp_state_name(s: TcpState) -> String {
    if s == TcpState::None {
        return "-".into();
    }
    let d = format!("{s:?}");
    let mut out = String::new();
    for (i, ch) in d.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

impl Control {
    /// Serves `dp`, running the config read from `path` (its text `text`).
    pub fn new(dp: Arc<Mutex<Dataplane>>, path: PathBuf, text: String) -> Arc<Control> {
        Arc::new(Control {
            dp,
            running: Mutex::new(Running { path, text }),
            started: Instant::now(),
            baseline: Mutex::new(None),
        })
    }

    /// The handler to give a [`Server`].
    pub fn handler(self: &Arc<Self>) -> Handler {
        let me = self.clone();
        Arc::new(move |req: &Request<'_>| me.handle(req))
    }

    /// Where `config check` and `config reload` may read, from the running `[control]`.
    fn file_limits(&self) -> FileLimits {
        FileLimits::from(&self.dp().config().control)
    }

    fn dp(&self) -> MutexGuard<'_, Dataplane> {
        self.dp.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers one request line; a command that needs the admin role is refused to others,
    /// and every such command is written to the audit log (vnfd's stderr) with the peer, the
    /// request and the result.
    pub fn handle(&self, req: &Request<'_>) -> String {
        let r = match proto::Request::parse_line(req.line) {
            Ok(r) => r,
            Err(e) => return refusal(e),
        };
        let cmd = r.cmd();
        let admin = r.needs_admin();
        if admin && req.peer.role != Role::Admin {
            let e = format!(
                "cmd: {cmd:?} needs the admin role; uid {} has the read-only role (see [control] admin_group)",
                req.peer.uid
            );
            audit(req.peer, &r, &Err(Refused(e.clone())));
            return refusal(e);
        }
        let answer = self.dispatch(&r, req);
        if admin {
            audit(req.peer, &r, &answer);
        }
        match answer {
            Ok(mut m) => {
                m.insert("ok".into(), Value::Bool(true));
                Value::Object(m).to_string()
            }
            Err(Refused(e)) => refusal(e),
        }
    }

    fn dispatch(&self, r: &proto::Request, req: &Request<'_>) -> Reply {
        use proto::Request as R;
        match r {
            R::Help => ok(reply::Help { commands: proto::commands().into_iter().map(Into::into).collect() }),
            R::Version => self.version(),
            R::Stats => ok(self.stats()),
            R::StatsClear => {
                let s = self.dp().stats();
                let generation = s.generation;
                *self.baseline.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), s));
                ok(reply::StatsCleared { generation })
            }
            R::Ports => self.ports(),
            R::Fdb { bridge, limit } => self.fdb(bridge.as_deref(), or_default(*limit)),
            R::FdbFlush { bridge } => self.fdb_flush(bridge.as_deref()),
            R::Neigh { bridge, limit } => self.neigh(bridge.as_deref(), or_default(*limit)),
            R::NeighFlush { bridge } => self.neigh_flush(bridge.as_deref()),
            R::Vtep => self.vtep(),
            R::Conntrack { filter, limit } => self.conntrack(filter, or_default(*limit)),
            R::ConntrackCount => self.conntrack_count(),
            R::ConntrackFlush { filter } => self.conntrack_flush(filter),
            R::Nat { limit } => self.nat(or_default(*limit)),
            R::Firewall => self.firewall(),
            R::ConfigShow => self.config_show(),
            R::ConfigReload { path } => self.config_reload(path.as_deref()),
            R::ConfigCheck { path } => self.config_check(path),
            R::ConfigDiff { path } => self.config_diff(path),
            R::Latency => self.latency(),
            R::TraceAdd { n, port } => self.trace_add(*n, port.as_deref()),
            R::TraceShow => self.trace_show(),
            R::TraceClear => self.trace_clear(),
            R::Runtime { enable } => self.runtime(*enable),
            R::VfList => self.vf_list(),
            R::VfSet(v) => self.vf_set(v),
            R::SriovApply { dry_run } => self.sriov_apply(*dry_run),
            R::Log => ok(reply::LogTypes { types: log_types() }),
            R::LogLevel { module, level } => log_level(module, level),
            R::PortSet { port, state } => self.port_set(port, state),
            R::Clients => clients(req),
            R::ClientsKick { id } => clients_kick(*id, req),
        }
    }

    /// Reloads the config from `path` (or the running path); what SIGHUP does too.
    pub fn reload(&self, path: Option<&Path>) -> Result<ReloadReport, String> {
        let path = match path {
            Some(p) => p.to_owned(),
            None => self.running.lock().unwrap_or_else(|p| p.into_inner()).path.clone(),
        };
        let (cfg, text) = read_config(&path, &self.file_limits())?;
        let file = path.display().to_string();
        // One reload at a time: the dataplane stays locked from the checks to the publish.
        let mut dp = self.dp();
        // Everything the dataplane would refuse is refused before a VF is touched.
        let checked = dp.check(cfg).map_err(|e| in_file(&file, e))?;
        // VFs first, so that ports the new config puts on VFs find them; VFs the running
        // ports use are never destroyed or rebound.
        let sriov = crate::sriov::apply(checked.config(), &vnf_core::sriov::ports_in_use(dp.config()))
            .map_err(|e| format!("{file}: {e}"))?;
        let mut report = dp.commit(checked).map_err(|e| in_file(&file, e))?;
        drop(dp);
        report.sriov = sriov.map(|r| r.steps).unwrap_or_default();
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Running { path, text };
        Ok(report)
    }

    /// The counters, since the last `stats clear` if there was one.
    fn stats(&self) -> reply::StatsReply {
        let now = self.dp().stats();
        match &*self.baseline.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((at, base)) => {
                reply::StatsReply { stats: now.since(base), since_clear_s: Some(at.elapsed().as_secs_f64()) }
            }
            None => reply::StatsReply { stats: now, since_clear_s: None },
        }
    }

    fn version(&self) -> Reply {
        let r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        ok(reply::Version {
            version: env!("CARGO_PKG_VERSION").into(),
            dpdk: dpdk::version(),
            config: r.path.display().to_string(),
            generation: self.dp().generation(),
            uptime_s: self.started.elapsed().as_secs_f64(),
        })
    }

    fn ports(&self) -> Reply {
        let dp = self.dp();
        let s = dp.stats();
        let ports = s
            .ports
            .into_iter()
            .zip(dp.ports())
            .enumerate()
            .map(|(i, (stats, p))| reply::PortRow {
                stats,
                index: i,
                port_id: p.id(),
                admin: if dp.port_down(i) { "down" } else { "up" }.into(),
            })
            .collect();
        ok(reply::Ports { ports })
    }

    /// Sets a port administratively up or down, now: down, the workers drop what it
    /// receives and what would go to it (`port-down`), and the device's link goes down
    /// where its driver can. Not saved: a restart brings it up; a reload keeps it.
    fn port_set(&self, name: &str, state: &str) -> Reply {
        let up = match state {
            "up" => true,
            "down" => false,
            o => return Err(bad("state", format!("{o:?} is not up or down"))),
        };
        let dp = self.dp();
        let i = port_index(dp.tables(), name)?;
        dp.set_port_down(i, !up);
        ok(reply::PortSet { port: name.into(), state: state.into(), link: dp.ports()[i].link() })
    }

    fn domain(t: &Tables, bridge: Option<&str>) -> Result<Option<u16>, Refused> {
        let Some(name) = bridge else { return Ok(None) };
        t.domains.iter().position(|d| d.name == name).map(|i| Some(i as u16)).ok_or_else(|| {
            let names: Vec<&str> = t.domains.iter().map(|d| d.name.as_str()).collect();
            bad(
                "bridge",
                format!(
                    "no bridge {name:?} (bridges: {})",
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                ),
            )
        })
    }

    fn fdb(&self, bridge: Option<&str>, limit: usize) -> Reply {
        let dp = self.dp();
        let t = dp.tables().clone();
        let domain = Self::domain(&t, bridge)?;
        let now_ms = dpdk::rdtsc() / (tsc_hz() / 1000).max(1);
        let mut entries = Vec::new();
        let mut total = 0;
        for w in 0..dp.workers() {
            let mut from = Some(0);
            while let Some(f) = from {
                let Answer::Fdb { entries: es, matched, next } =
                    dp.query_worker(w, Query::Fdb { domain, from: f, limit: limit - entries.len() })?
                else {
                    break;
                };
                total += matched;
                from = next;
                for e in es {
                    let d = t.domains.get(usize::from(e.domain));
                    let dest = match e.dest {
                        Dest::Port(p) => {
                            format!("port {}", t.port_names.get(usize::from(p)).map_or("?", String::as_str))
                        }
                        Dest::Vtep(ip) => format!("vtep {}", Ipv4Addr::from(ip)),
                    };
                    entries.push(reply::FdbEntry {
                        worker: w,
                        bridge: d.map_or("?", |d| d.name.as_str()).into(),
                        vlan: d.map(|d| d.vlan),
                        mac: e.mac.to_string(),
                        dest,
                        is_static: e.is_static,
                        age_ms: (!e.is_static).then(|| now_ms.saturating_sub(e.last_seen_ms)),
                    });
                }
            }
        }
        ok(reply::Listing { truncated: total > entries.len(), entries, count: total })
    }

    fn fdb_flush(&self, bridge: Option<&str>) -> Reply {
        let dp = self.dp();
        let domain = Self::domain(dp.tables(), bridge)?;
        ok(reply::Flushed { flushed: flushed(dp.query(&Query::FdbFlush { domain })?) })
    }

    /// Neighbour entries of every worker: the bridge (or the underlay), address, MAC,
    /// state, age and queued packets.
    fn neigh(&self, bridge: Option<&str>, limit: usize) -> Reply {
        let dp = self.dp();
        let t = dp.tables().clone();
        let ifx = Self::domain(&t, bridge)?;
        let now_ms = dpdk::rdtsc() / (tsc_hz() / 1000).max(1);
        let mut entries = Vec::new();
        let mut total = 0;
        for w in 0..dp.workers() {
            let Answer::Neigh { entries: es, matched } =
                dp.query_worker(w, Query::Neigh { ifx, limit: limit - entries.len() })?
            else {
                continue;
            };
            total += matched;
            for e in es {
                let d = t.domains.get(usize::from(e.ifx));
                let (domain, vlan) = match d {
                    Some(d) => (d.name.as_str(), Some(d.vlan)),
                    None if e.ifx == UNDERLAY_IFX => ("underlay", None),
                    None => ("?", None),
                };
                let is_static = e.state == NeighState::Static;
                entries.push(reply::NeighEntry {
                    worker: w,
                    bridge: domain.into(),
                    vlan,
                    ip: Ipv4Addr::from(e.ip).to_string(),
                    mac: e.mac.map(|m| m.to_string()),
                    state: neigh_state_name(e.state),
                    age_ms: (!is_static).then(|| now_ms.saturating_sub(e.since_ms)),
                    queued: e.pending,
                });
            }
        }
        ok(reply::Listing { truncated: total > entries.len(), entries, count: total })
    }

    /// Removes the dynamic neighbour entries (of one bridge); static ones stay.
    fn neigh_flush(&self, bridge: Option<&str>) -> Reply {
        let dp = self.dp();
        let ifx = Self::domain(dp.tables(), bridge)?;
        ok(reply::Flushed { flushed: flushed(dp.query(&Query::NeighFlush { ifx })?) })
    }

    /// Marks the next `n` packets each worker receives (on port `port`) for the trace.
    fn trace_add(&self, n: u64, port: Option<&str>) -> Reply {
        let dp = self.dp();
        let port = port.map(|name| port_index(dp.tables(), name).map(|i| i as u16)).transpose()?;
        dp.query(&Query::TraceAdd { n: n as u32, port })?;
        ok(reply::TraceArmed { armed: n, workers: dp.workers() })
    }

    /// The trace records of every worker, packet by packet, each with the nodes it passed.
    fn trace_show(&self) -> Reply {
        let dp = self.dp();
        let t = dp.tables().clone();
        let answers = dp.query(&Query::TraceShow)?;
        let mut packets = Vec::new();
        let mut left = 0u64;
        for (w, a) in answers.into_iter().enumerate() {
            let Answer::Trace { records, left: l } = a else { continue };
            left += u64::from(l);
            // Records are in the order the nodes ran; group them by packet, in the order
            // the packets were first seen.
            let mut order: Vec<u16> = Vec::new();
            for r in &records {
                if !order.contains(&r.packet) {
                    order.push(r.packet);
                }
            }
            for id in order {
                let nodes = records.iter().filter(|r| r.packet == id).map(|r| trace_record(&t, r)).collect();
                packets.push(reply::TracePacket { worker: w, packet: id, nodes });
            }
        }
        ok(reply::TraceShow { packets, left })
    }

    /// Per-node runtime counters summed over the workers (`enable` turns them on, zeroed,
    /// or off first): calls, packets, cycles, cycles per packet, packets per call.
    fn runtime(&self, enable: Option<bool>) -> Reply {
        let dp = self.dp();
        let mut sum: Option<Vec<vnf_core::pipeline::NodeRuntime>> = None;
        for a in dp.query(&Query::Runtime { enable })? {
            let Answer::Runtime(Some(r)) = a else { continue };
            let s = sum.get_or_insert_with(|| vec![Default::default(); r.len()]);
            for (t, x) in s.iter_mut().zip(&r) {
                t.calls += x.calls;
                t.packets += x.packets;
                t.cycles += x.cycles;
            }
        }
        let Some(sum) = sum else { return ok(reply::Runtime::default()) };
        let nodes = vnf_core::pipeline::Node::ALL
            .iter()
            .zip(&sum)
            .filter(|(_, r)| r.calls > 0)
            .map(|(n, r)| reply::NodeRow {
                node: n.name().into(),
                calls: r.calls,
                packets: r.packets,
                cycles: r.cycles,
                cycles_per_packet: if r.packets > 0 { r.cycles as f64 / r.packets as f64 } else { 0.0 },
                packets_per_call: r.packets as f64 / r.calls as f64,
            })
            .collect();
        ok(reply::Runtime { enabled: true, nodes })
    }

    fn trace_clear(&self) -> Reply {
        let dp = self.dp();
        dp.query(&Query::TraceClear)?;
        ok(reply::Cleared { cleared: true })
    }

    fn vtep(&self) -> Reply {
        let dp = self.dp();
        let t = dp.tables();
        let Some(v) = &t.vtep else { return ok(reply::VtepReply::default()) };
        let s = dp.stats();
        let vnis =
            t.domains.iter().filter_map(|d| d.vni.map(|n| reply::Vni { vni: n, bridge: d.name.clone() })).collect();
        ok(reply::VtepReply {
            vtep: Some(reply::VtepInfo {
                ip: Ipv4Addr::from(v.ip).to_string(),
                mac: v.mac.to_string(),
                udp_port: v.udp_port,
                mtu: v.mtu,
                port: t.port_names.get(usize::from(v.port)).cloned(),
                vnis,
                remotes: s.vteps,
            }),
        })
    }

    fn filter(f: &proto::CtFilter) -> Result<Filter, Refused> {
        let ip = |k: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    s.parse::<Ipv4Addr>().map(u32::from).map_err(|_| bad(k, format!("{s:?} is not an IPv4 address")))
                })
                .transpose()
        };
        let proto = match f.proto.as_deref() {
            None => None,
            Some("tcp") => Some(6),
            Some("udp") => Some(17),
            Some("icmp") => Some(1),
            Some(p) => Some(
                p.parse::<u8>()
                    .map_err(|_| bad("proto", format!("{p:?} is not tcp, udp, icmp or a protocol number")))?,
            ),
        };
        Ok(Filter { src: ip("src", &f.src)?, dst: ip("dst", &f.dst)?, proto, port: f.port.map(|p| p as u16) })
    }

    fn conntrack(&self, f: &proto::CtFilter, limit: usize) -> Reply {
        let filter = Self::filter(f)?;
        let dp = self.dp();
        let mut entries = Vec::new();
        let mut count = 0;
        for w in 0..dp.workers() {
            let mut from = Some(0);
            while let Some(f) = from {
                let Answer::Conntrack { rows, matched, next } =
                    dp.query_worker(w, Query::Conntrack { filter, from: f, limit: limit - entries.len() })?
                else {
                    break;
                };
                count += matched;
                from = next;
                for r in rows {
                    let k = |k: &vnf_core::conntrack::FlowKey| reply::Endpoints {
                        src: Ipv4Addr::from(k.src).to_string(),
                        sport: k.sport,
                        dst: Ipv4Addr::from(k.dst).to_string(),
                        dport: k.dport,
                    };
                    entries.push(reply::CtEntry {
                        worker: w,
                        proto: proto_name(r.orig.proto),
                        orig: k(&r.orig),
                        reply: k(&r.reply),
                        state: tcp_state_name(r.state),
                        expires_ms: r.expires_in_ms,
                        snat: r.flags & NatData::SNAT != 0,
                        dnat: r.flags & NatData::DNAT != 0,
                        packets: r.packets,
                    });
                }
            }
        }
        ok(reply::Listing { truncated: count > entries.len(), entries, count })
    }

    fn conntrack_count(&self) -> Reply {
        let dp = self.dp();
        let per: Vec<u64> = dp.worker_snapshots().iter().map(|w| w.ct_entries).collect();
        let capacity = dp.tables().sec.as_ref().map_or(0, |s| s.capacity);
        ok(reply::CtCount { count: per.iter().sum(), per_worker: per, capacity: capacity as u64 })
    }

    fn conntrack_flush(&self, f: &proto::CtFilter) -> Reply {
        let filter = Self::filter(f)?;
        let dp = self.dp();
        let mut n = 0;
        for w in 0..dp.workers() {
            let mut from = Some(0);
            while let Some(f) = from {
                let Answer::Flushed { n: k, next } = dp.query_worker(w, Query::ConntrackFlush { filter, from: f })?
                else {
                    break;
                };
                n += k;
                from = next;
            }
        }
        ok(reply::Flushed { flushed: n })
    }

    fn nat(&self, limit: usize) -> Reply {
        let dp = self.dp();
        let t = dp.tables().clone();
        let cfg = dp.config().clone();
        let Some(sec) = t.sec.as_ref() else {
            return ok(reply::NatReply::default());
        };
        let mut free = vec![[0u64; 3]; sec.pool_addrs.len()];
        let mut mappings = Vec::new();
        let mut total = 0;
        for w in 0..dp.workers() {
            let mut from = Some(0);
            while let Some(f) = from {
                let Answer::Nat { mappings: ms, matched, next, free: fr } =
                    dp.query_worker(w, Query::Nat { from: f, limit: limit - mappings.len() })?
                else {
                    break;
                };
                total += matched;
                from = next;
                for (acc, x) in free.iter_mut().zip(fr) {
                    for i in 0..3 {
                        acc[i] += u64::from(x[i]);
                    }
                }
                for m in ms {
                    mappings.push(reply::NatMapping {
                        worker: w,
                        proto: proto_name(m.proto),
                        internal: format!("{}:{}", Ipv4Addr::from(m.int_addr), m.int_port),
                        external: format!("{}:{}", Ipv4Addr::from(m.ext_addr), m.ext_port),
                        refs: m.refs,
                    });
                }
            }
        }
        let pools = sec
            .snat
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (mut tcp, mut udp, mut icmp) = (0, 0, 0);
                for &ai in &r.addrs {
                    let f = free[usize::from(ai)];
                    tcp += f[0];
                    udp += f[1];
                    icmp += f[2];
                }
                reply::NatPool {
                    rule: i,
                    from: r.from.iter().map(|p| p.to_string()).collect(),
                    addresses: r
                        .addrs
                        .iter()
                        .map(|&ai| Ipv4Addr::from(sec.pool_addrs[usize::from(ai)]).to_string())
                        .collect(),
                    ports: [r.ports.0, r.ports.1],
                    free: reply::Free { tcp, udp, icmp },
                }
            })
            .collect();
        let forwards = cfg
            .nat
            .iter()
            .flat_map(|n| n.forward.iter())
            .map(|f| reply::NatForward {
                proto: f.proto.clone(),
                address: f.address.to_string(),
                port: f.port,
                to: f.to.to_string(),
                to_port: f.to_port.unwrap_or(f.port),
            })
            .collect();
        ok(reply::NatReply { pools, forwards, truncated: total > mappings.len(), mappings, count: total })
    }

    /// The firewall as configured, with the hit count (new connections decided, summed
    /// over the workers) of every rule, every zone pair's policy and the port forwards that
    /// no rule matched.
    fn firewall(&self) -> Reply {
        let dp = self.dp();
        let t = dp.tables().clone();
        let cfg = dp.config().clone();
        let (Some(fw), Some(sec)) = (cfg.firewall.as_ref(), t.sec.as_ref()) else {
            return ok(reply::FirewallReply::default());
        };
        let mut hits = vec![0u64; sec.fw_slots()];
        for w in 0..dp.workers() {
            if let Answer::Firewall(h) = dp.query_worker(w, Query::Firewall)? {
                for (acc, x) in hits.iter_mut().zip(h) {
                    *acc += x;
                }
            }
        }
        let verdict = |v: vnf_core::config::Verdict| {
            serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        };
        let rules = fw
            .rule
            .iter()
            .enumerate()
            .map(|(i, r)| reply::FwRule {
                index: i,
                from: r.from.clone(),
                to: r.to.clone(),
                src: r.src.iter().map(|p| p.to_string()).collect(),
                dst: r.dst.iter().map(|p| p.to_string()).collect(),
                proto: r.proto.clone(),
                sport: r.sport.clone(),
                dport: r.dport.clone(),
                icmp_type: r.icmp_type,
                action: verdict(r.action),
                hits: hits.get(i).copied().unwrap_or(0),
            })
            .collect();
        let mut policies = Vec::new();
        for (zi, from) in sec.zones.iter().enumerate() {
            for (zo, to) in sec.zones.iter().enumerate() {
                let p = fw.policy.iter().find(|p| &p.from == from && &p.to == to);
                policies.push(reply::FwPolicy {
                    from: from.clone(),
                    to: to.clone(),
                    action: verdict(p.map_or(fw.default, |p| p.action)),
                    configured: p.is_some(),
                    mss: p.and_then(|p| p.mss),
                    hits: hits.get(sec.fw_policy_slot(zi as u8, zo as u8)).copied().unwrap_or(0),
                });
            }
        }
        ok(reply::FirewallReply {
            configured: true,
            default: Some(verdict(fw.default)),
            rules,
            policies,
            forwards_accepted: hits.get(sec.fw_forward_slot()).copied().unwrap_or(0),
        })
    }

    fn config_show(&self) -> Reply {
        let r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        ok(reply::ConfigShow {
            path: r.path.display().to_string(),
            generation: self.dp().generation(),
            text: r.text.clone(),
        })
    }

    fn path_arg(p: &str) -> Result<PathBuf, Refused> {
        if Path::new(p).is_absolute() {
            Ok(PathBuf::from(p))
        } else {
            Err(bad("path", format!("{p:?} is not absolute (vnfd's working directory is not the client's)")))
        }
    }

    fn config_reload(&self, path: Option<&str>) -> Reply {
        let path = path.map(Self::path_arg).transpose()?;
        let r = self.reload(path.as_deref()).map_err(Refused)?;
        ok(r)
    }

    fn config_check(&self, path: &str) -> Reply {
        let path = Self::path_arg(path)?;
        let (cfg, _) = read_config(&path, &self.file_limits()).map_err(Refused)?;
        let file = path.display().to_string();
        // The same checks as a reload (without carrying it out), then the SR-IOV plan.
        let dp = self.dp();
        let checked = dp.check(cfg).map_err(|e| Refused(in_file(&file, e)))?;
        let sriov = match &checked.config().sriov {
            Some(s) => crate::sriov::plan(s, &vnf_core::sriov::ports_in_use(dp.config()))
                .map_err(|e| Refused(in_file(&file, DpError::Config(e))))?
                .iter()
                .map(ToString::to_string)
                .collect(),
            None => Vec::new(),
        };
        let plan = checked.port_plan(dp.config());
        let changes = vnf_core::config::diff::diff(dp.config(), checked.config());
        ok(reply::ConfigCheck {
            path: file,
            ports_added: plan.added,
            ports_removed: plan.removed,
            ports_kept: plan.kept,
            sriov_plan: sriov,
            changes,
        })
    }

    /// What differs, key by key, between the running config and the file at `path`
    /// (parsed, not checked: a diff is wanted most when a reload is refused).
    fn config_diff(&self, path: &str) -> Reply {
        let path = Self::path_arg(path)?;
        let cfg = files::read_config_syntax(&path, &self.file_limits()).map_err(Refused)?;
        let changes = vnf_core::config::diff::diff(self.dp().config(), &cfg);
        ok(reply::ConfigDiff { path: path.display().to_string(), changes })
    }

    /// The running config's `[sriov]` (an empty one when it has none).
    fn sriov_cfg(&self) -> vnf_core::sriov::Sriov {
        self.dp().config().sriov.clone().unwrap_or_default()
    }

    fn vf_list(&self) -> Reply {
        let s = self.sriov_cfg();
        let pfs = if s.pf.is_empty() { Vec::new() } else { crate::sriov::list(&s).map_err(Refused)? };
        ok(reply::VfList { pfs })
    }

    /// One VF's attributes now, like `ip link set PF vf N ...`; the running config is not
    /// changed (a reload applies it again).
    fn vf_set(&self, v: &proto::VfSet) -> Reply {
        use vnf_core::sriov::{LinkState, PfConfig, Sriov, VfConfig};
        let pf = v.pf.as_str();
        let mac = v
            .mac
            .as_deref()
            .map(|m| {
                m.parse::<vnf_core::wire::MacAddr>().map_err(|_| bad("mac", format!("{m:?} is not a MAC address")))
            })
            .transpose()?;
        let link_state = match v.link_state.as_deref() {
            None => None,
            Some("auto") => Some(LinkState::Auto),
            Some("enable") => Some(LinkState::Enable),
            Some("disable") => Some(LinkState::Disable),
            Some(o) => return Err(bad("link_state", format!("{o:?} is not auto, enable or disable"))),
        };
        let vc = VfConfig {
            index: v.vf as u16,
            mac,
            vlan: v.vlan.map(|x| x as u16),
            qos: v.qos.map(|x| x as u8),
            spoofchk: v.spoofchk,
            trust: v.trust,
            link_state,
            min_tx_rate: v.min_tx_rate.map(|x| x as u32),
            max_tx_rate: v.max_tx_rate.map(|x| x as u32),
            driver: v.driver.clone(),
        };
        let base = self.sriov_cfg();
        let mut k = crate::sriov::kernel(&base).map_err(Refused)?;
        let one = |num_vfs| Sriov {
            sysfs: base.sysfs.clone(),
            pf: vec![PfConfig { name: pf.to_owned(), num_vfs, autoprobe: None, vf: vec![vc.clone()] }],
        };
        // The VF count stays what it is: read it, then check the VF exists.
        let now = vnf_core::sriov::observe(&one(0), &mut k).map_err(|e| bad("pf", e.reason))?;
        let s = one(now[0].num_vfs);
        s.validate().map_err(|e| {
            Refused(e.to_string().replace("sriov.pf[0].vf[0].index", "vf").replace("sriov.pf[0].vf[0].", ""))
        })?;
        let in_use = vnf_core::sriov::ports_in_use(self.dp().config());
        let r = vnf_core::sriov::apply(&s, &mut k, &in_use)
            .map_err(|e| Refused(e.to_string().replace("sriov.pf[0].vf[0].", "")))?;
        ok(reply::Steps { pf: r.after.into_iter().next(), steps: r.steps })
    }

    fn sriov_apply(&self, dry: bool) -> Reply {
        let cfg = self.dp().config().clone();
        let in_use = vnf_core::sriov::ports_in_use(&cfg);
        let Some(s) = &cfg.sriov else {
            return ok(reply::SriovApplied { dry_run: dry, plan: vec![], steps: vec![], pfs: vec![] });
        };
        if dry {
            let plan = crate::sriov::plan(s, &in_use).map_err(|e| Refused(e.to_string()))?;
            let text: Vec<String> = plan.iter().map(ToString::to_string).collect();
            return ok(reply::SriovApplied { dry_run: true, plan: text, steps: vec![], pfs: vec![] });
        }
        let r = crate::sriov::apply(&cfg, &in_use).map_err(Refused)?.unwrap_or_default();
        ok(reply::SriovApplied { dry_run: false, plan: vec![], steps: r.steps, pfs: r.after })
    }

    fn latency(&self) -> Reply {
        let dp = self.dp();
        let ns = 1e9 / tsc_hz().max(1) as f64;
        let lcores = dp.config().dataplane.workers.clone();
        let mut workers = Vec::new();
        for (w, ans) in dp.query(&Query::Latency)?.into_iter().enumerate() {
            let Answer::Latency(h) = ans else { continue };
            let q = |p: f64| (h.value_at_quantile(p) as f64 * ns).round() as u64;
            workers.push(reply::LatencyRow {
                lcore: lcores.get(w).copied(),
                bursts: h.len(),
                mean: (h.mean() * ns * 10.0).round() / 10.0,
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                p999: q(0.999),
                max: (h.max() as f64 * ns).round() as u64,
            });
        }
        ok(reply::Latency { unit: "ns".into(), workers })
    }
}

/// A refusal of the dataplane about the config in `file`, labelled with it.
fn in_file(file: &str, e: DpError) -> String {
    match e {
        DpError::Config(mut c) => {
            c.file.get_or_insert_with(|| file.to_owned());
            c.to_string()
        }
        other => other.to_string(),
    }
}

/// One audit line on vnfd's stderr: who asked, what, and what came of it.
fn audit(peer: &Peer, request: &proto::Request, r: &Reply) {
    let result = match r {
        Ok(m) => {
            let mut s = "ok".to_owned();
            for k in ["generation", "flushed", "armed", "kicked", "dry_run"] {
                if let Some(v) = m.get(k) {
                    s += &format!(" {k}={v}");
                }
            }
            s
        }
        Err(Refused(e)) => format!("refused: {e}"),
    };
    eprintln!(
        "vnfd: audit: client {} uid {} pid {} {}: {:?} {} -> {result}",
        peer.id,
        peer.uid,
        peer.pid,
        peer.role.name(),
        request.cmd(),
        Value::Object(request.args())
    );
}

/// The connected clients: who, since when, doing what.
fn clients(req: &Request<'_>) -> Reply {
    let clients = req
        .clients
        .list()
        .into_iter()
        .map(|c| reply::ClientRow {
            id: c.peer.id,
            uid: c.peer.uid,
            gid: c.peer.gid,
            pid: c.peer.pid,
            role: c.peer.role.name().into(),
            connected_s: (c.connected.as_secs_f64() * 10.0).round() / 10.0,
            requests: c.requests,
            state: c.state.name().into(),
            reserved: c.reserved,
            is_self: c.peer.id == req.peer.id,
        })
        .collect();
    ok(reply::Clients { clients })
}

/// Closes another client's connection.
fn clients_kick(id: u64, req: &Request<'_>) -> Reply {
    if id == req.peer.id {
        return Err(bad("id", "that is this connection"));
    }
    if !req.clients.kick(id) {
        return Err(bad("id", format!("no client {id}")));
    }
    ok(reply::Kicked { kicked: id })
}

fn log_types() -> Vec<reply::LogType> {
    dpdk::log::types().into_iter().map(|(name, level)| reply::LogType { name, level }).collect()
}

/// Sets DPDK's log types matching `module` (a glob, e.g. `pmd.net.af_packet` or `lib.*`) to
/// `level`; refuses a pattern that matches none, naming the types there are.
fn log_level(module: &str, level: &str) -> Reply {
    let n = dpdk::log::level(level)
        .ok_or_else(|| bad("level", format!("{level:?} is not one of {} (or 1..=8)", dpdk::log::LEVELS.join(", "))))?;
    let all = dpdk::log::types();
    let matched: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).filter(|t| dpdk::log::matches(module, t)).collect();
    if matched.is_empty() {
        let names: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
        return Err(bad("module", format!("no DPDK log type matches {module:?} (types: {})", names.join(", "))));
    }
    dpdk::log::set_level(module, n).map_err(|e| bad("module", e))?;
    ok(reply::LogLevel {
        module: module.into(),
        level: dpdk::log::LEVELS[n as usize - 1].into(),
        types: matched.into_iter().map(Into::into).collect(),
    })
}
