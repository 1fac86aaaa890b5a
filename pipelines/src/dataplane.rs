//! The dataplane: the mempool, the ports and the workers that one config describes.

use crate::dpdk::{self, DpdkError, Eal, Mempool, Port, PortConf, Ring};
use crate::report::{BridgeStats, MempoolStats, PortStats, Stats, VtepStats, WorkerStats};
use crate::worker::{Answer, Mailbox, Query, Shared, Snapshot, Worker, WorkerIo};
use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vnf_core::config::{Config, ConfigError, Valid};
use vnf_core::pipeline::Tables;
use vnf_core::stats::{WorkerCounters, WorkerSnapshot};

/// Why the dataplane could not be built or run.
#[derive(Debug)]
pub enum Error {
    /// The config is not usable (names the key).
    Config(ConfigError),
    /// DPDK refused something.
    Dpdk(DpdkError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "{e}"),
            Error::Dpdk(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
impl From<DpdkError> for Error {
    fn from(e: DpdkError) -> Self {
        Error::Dpdk(e)
    }
}

/// Ports a run can count (DPDK's own limit on ethdev ports in this build).
pub const MAX_PORTS: usize = dpdk_sys::RTE_MAX_ETHPORTS as usize;
/// Bridge domains a run can count (one per VLAN id at most).
pub const MAX_DOMAINS: usize = 4096;
/// Remote VTEPs a run can count.
pub const MAX_VTEPS: usize = 1024;
/// How long a reload waits for every worker to adopt a snapshot.
const ADOPT_TIMEOUT: Duration = Duration::from_secs(5);

/// A config [`Dataplane::check`] accepted, with its compiled tables, ready to commit.
#[derive(Debug)]
pub struct Checked {
    cfg: Valid<Config>,
    tables: Arc<Tables>,
    /// For each new port, the running port it keeps (None: added).
    keep: Vec<Option<usize>>,
    /// When the reload was asked for.
    t0: Instant,
}

impl Checked {
    /// The accepted config.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The ports committing it would add, remove and keep (by name), against the `running`
    /// config it was checked against.
    pub fn port_plan(&self, running: &Config) -> PortPlan {
        let by_keep = |kept: bool| {
            self.cfg
                .ports
                .iter()
                .zip(&self.keep)
                .filter(|(_, k)| k.is_some() == kept)
                .map(|(p, _)| p.name.clone())
                .collect()
        };
        PortPlan {
            added: by_keep(false),
            removed: running
                .ports
                .iter()
                .filter(|o| !self.cfg.ports.iter().any(|p| p.name == o.name))
                .map(|o| o.name.clone())
                .collect(),
            kept: by_keep(true),
        }
    }
}

/// Ports a reload adds, removes and keeps, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PortPlan {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub kept: Vec<String>,
}

/// What a reload did (the `config reload` answer).
pub use vnf_core::control::reply::ReloadReport;

/// The running appliance. Dropping it stops the workers, then the ports, then frees the pool.
pub struct Dataplane {
    cfg: Valid<Config>,
    // Field order is drop order: the snapshot and the handoff rings, and the ports (which
    // hold mbufs in their queues), before the pool.
    shared: Arc<Shared>,
    ports: Vec<Port>,
    pool: Mempool,
    counters: Vec<Arc<CachePadded<WorkerCounters>>>,
    tables: Arc<Tables>,
    generation: u64,
    stop: Arc<AtomicBool>,
    running: Vec<u32>,
    started: Option<Instant>,
    /// The event log: one ring per worker, the destinations (opened at build, taken by the
    /// writer at start), the writer while workers run, and its counts.
    log_rings: Vec<Arc<vnf_core::eventlog::Ring>>,
    log_sinks: Option<crate::eventlog::Sinks>,
    log_writer: Option<crate::eventlog::Writer>,
    log_stats: Arc<crate::eventlog::LogStats>,
}

impl Dataplane {
    /// Builds the dataplane of `cfg`, probing every port by its devargs.
    pub fn new(cfg: &Valid<Config>) -> Result<Dataplane, Error> {
        Self::with_ports(cfg, |_, p| Port::probe(&p.devargs))
    }

    /// Builds the dataplane of `cfg` with ports made by `open` (tests make ring ports).
    /// Checks the lcores and the mempool size against the config first, creates the pool,
    /// then opens, configures and starts every port. Workers start with [`Dataplane::start`].
    pub fn with_ports(
        cfg: &Valid<Config>,
        mut open: impl FnMut(usize, &vnf_core::config::Port) -> Result<Port, DpdkError>,
    ) -> Result<Dataplane, Error> {
        let eal = Eal::get().ok_or_else(|| DpdkError::msg("dataplane", "EAL is not initialised"))?;
        let d = &cfg.dataplane;
        if eal.main_lcore() != d.main_lcore {
            return Err(ConfigError {
                file: None,
                line: None,
                key: "dataplane.main_lcore".into(),
                reason: format!("EAL runs its main thread on lcore {}, not {}", eal.main_lcore(), d.main_lcore),
            }
            .into());
        }
        for (i, &l) in d.workers.iter().enumerate() {
            if !dpdk::lcore_enabled(l) {
                return Err(ConfigError {
                    file: None,
                    line: None,
                    key: format!("dataplane.workers[{i}]"),
                    reason: format!("lcore {l} is not enabled in EAL (its -l list)"),
                }
                .into());
            }
        }
        let mut tables = Tables::compile(cfg)?;
        check_limits(cfg, &tables)?;
        let pool = Mempool::new("vnf_pkt", d.mempool_size, d.mempool_cache, d.mbuf_data_room, 0)?;
        let mut ports = Vec::with_capacity(cfg.ports.len());
        for (i, pc) in cfg.ports.iter().enumerate() {
            let label = |e: DpdkError| DpdkError { op: format!("port[{i}] {:?}: {}", pc.name, e.op), ..e };
            let mut port = open(i, pc).map_err(label)?;
            // From here on the port's own errors name it by its config name.
            port.set_label(&pc.name);
            let conf = port_conf(cfg, pc);
            port.configure(&conf, &pool)?;
            port.start()?;
            ports.push(port);
        }
        tables.use_port_macs(cfg, &ports.iter().map(Port::mac).collect::<Vec<_>>());
        use_device_mtus(&mut tables, &ports);
        let tables = Arc::new(tables);
        // Sized for any config a reload may bring, so counters survive reloads.
        let counters = d
            .workers
            .iter()
            .map(|_| Arc::new(WorkerCounters::with_tunnels(MAX_PORTS, MAX_DOMAINS, MAX_VTEPS)))
            .collect();
        let nw = d.workers.len();
        let mut handoff = vec![];
        if nw > 1 {
            for w in 0..nw {
                static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let name = format!("handoff{}_{w}", SEQ.fetch_add(1, Ordering::Relaxed));
                handoff.push(Arc::new(Ring::new(&name, vnf_core::config::HANDOFF_RING)?));
            }
        }
        let (log_rings, log_sinks) = match &cfg.event_log {
            Some(l) => {
                let sinks = crate::eventlog::Sinks::open(l).map_err(|reason| ConfigError {
                    file: None,
                    line: None,
                    key: String::new(),
                    reason,
                })?;
                let rings = (0..nw).map(|_| Arc::new(vnf_core::eventlog::Ring::new(l.ring as usize))).collect();
                (rings, Some(sinks))
            }
            None => (vec![], None),
        };
        let io = build_io(cfg, &mut ports, None)?;
        let down = (0..cfg.ports.len()).map(|_| AtomicBool::new(false)).collect();
        let snap = Snapshot { generation: 1, tables: tables.clone(), io, burst: usize::from(d.burst), down };
        let shared = Arc::new(Shared {
            snap: ArcSwap::from_pointee(snap),
            mail: (0..nw).map(|_| CachePadded::new(Mailbox::default())).collect(),
            handoff,
        });
        Ok(Dataplane {
            cfg: cfg.clone(),
            shared,
            ports,
            pool,
            counters,
            tables,
            generation: 1,
            stop: Arc::new(AtomicBool::new(false)),
            running: vec![],
            started: None,
            log_rings,
            log_sinks,
            log_writer: None,
            log_stats: Arc::default(),
        })
    }

    /// Launches one worker per configured lcore.
    pub fn start(&mut self) -> Result<(), Error> {
        if !self.running.is_empty() {
            return Ok(());
        }
        // The writer first: it only drains, and a failure leaves no worker running.
        if let Some(l) = self.cfg.event_log.as_ref().filter(|_| self.log_writer.is_none()) {
            let sinks = match self.log_sinks.take() {
                Some(s) => s,
                None => crate::eventlog::Sinks::open(l).map_err(|e| DpdkError::msg("event log", e))?,
            };
            let w = crate::eventlog::Writer::start(
                self.log_rings.clone(),
                sinks,
                self.shared.clone(),
                self.log_stats.clone(),
            )
            .map_err(|e| DpdkError::msg("event log", e.to_string()))?;
            self.log_writer = Some(w);
        }
        self.stop.store(false, Ordering::SeqCst);
        for (w, &lcore) in self.cfg.dataplane.workers.iter().enumerate() {
            let worker = Worker {
                index: w,
                lcore,
                shared: self.shared.clone(),
                pool: self.pool.handle(),
                counters: self.counters[w].clone(),
                stop: self.stop.clone(),
                log: self.log_rings.get(w).cloned().zip(self.cfg.event_log.as_ref().map(|l| l.what())),
            };
            if let Err(e) = dpdk::launch(lcore, move || worker.run()) {
                self.stop_workers();
                return Err(e.into());
            }
            self.running.push(lcore);
        }
        self.started = Some(Instant::now());
        Ok(())
    }

    /// Replaces the running config with `cfg` without stopping: validates and compiles it,
    /// brings up the ports it adds, publishes the new snapshot and waits until every worker
    /// runs it, then stops and closes the ports it removes. Ports in both configs (same
    /// name and device settings) keep running; conntrack, NAT, FDB and counters carry over
    /// (see `vnf_core::pipeline::reload`). A config that is refused changes nothing.
    pub fn reload(&mut self, cfg: Valid<Config>) -> Result<ReloadReport, Error> {
        let checked = self.check(cfg)?;
        self.commit(checked)
    }

    /// Every check a reload to `cfg` makes, and its compiled tables, with no side effect:
    /// what passes here is refused by [`Dataplane::commit`] only if a device fails to come up
    /// or a worker does not adopt in time. Commit it against this same dataplane (the
    /// caller holds it, so nothing changes between the two).
    pub fn check(&self, cfg: Valid<Config>) -> Result<Checked, Error> {
        let t0 = Instant::now();
        vnf_core::config::reload_compatible(&self.cfg, &cfg)?;
        let tables = Arc::new(Tables::compile(&cfg)?);
        check_limits(&cfg, &tables)?;
        // Which ports stay, which come, which go; refuse what cannot change live.
        let mut keep: Vec<Option<usize>> = Vec::with_capacity(cfg.ports.len());
        for (i, pc) in cfg.ports.iter().enumerate() {
            match self.cfg.ports.iter().position(|o| o.name == pc.name) {
                Some(j) => {
                    let o = &self.cfg.ports[j];
                    let fixed: [(&str, bool); 7] = [
                        ("devargs", o.devargs == pc.devargs),
                        ("rx_queues", o.rx_queues == pc.rx_queues),
                        ("rx_desc", o.rx_desc == pc.rx_desc),
                        ("tx_desc", o.tx_desc == pc.tx_desc),
                        ("mtu", o.mtu == pc.mtu),
                        ("mac", o.mac == pc.mac),
                        ("promiscuous", o.promiscuous == pc.promiscuous),
                    ];
                    if let Some((field, _)) = fixed.iter().find(|(_, same)| !same) {
                        return Err(ConfigError {
                            file: None,
                            line: None,
                            key: format!("port[{i}].{field}"),
                            reason: format!("port {:?} is running with another {field}: remove the port in one reload and add it back in the next, or restart", pc.name),
                        }
                        .into());
                    }
                    keep.push(Some(j));
                }
                None => {
                    if let Some(o) = self.cfg.ports.iter().find(|o| o.devargs == pc.devargs) {
                        return Err(ConfigError {
                            file: None,
                            line: None,
                            key: format!("port[{i}].devargs"),
                            reason: format!("{:?} is running as port {:?}: remove it in one reload and add it under the new name in the next", pc.devargs, o.name),
                        }
                        .into());
                    }
                    keep.push(None);
                }
            }
        }
        Ok(Checked { cfg, tables, keep, t0 })
    }

    /// Carries out a reload that [`Dataplane::check`] accepted: brings up the added ports,
    /// publishes, waits for the workers, closes the removed ports.
    pub fn commit(&mut self, checked: Checked) -> Result<ReloadReport, Error> {
        let plan = checked.port_plan(&self.cfg);
        let Checked { cfg, tables, keep, t0 } = checked;
        // Bring up the added ports; on failure close them again and change nothing.
        let mut added: Vec<Option<Port>> = Vec::new();
        for (i, pc) in cfg.ports.iter().enumerate() {
            if keep[i].is_some() {
                added.push(None);
                continue;
            }
            let label = |e: DpdkError| DpdkError { op: format!("port[{i}] {:?}: {}", pc.name, e.op), ..e };
            let mut port = Port::probe(&pc.devargs).map_err(label)?;
            port.set_label(&pc.name);
            let conf = port_conf(&cfg, pc);
            port.configure(&conf, &self.pool)?;
            port.start()?;
            added.push(Some(port));
        }
        // Assemble the new port list; the old one keeps the removed ports until every worker
        // has left the old snapshot.
        let mut old: Vec<Option<Port>> = std::mem::take(&mut self.ports).into_iter().map(Some).collect();
        let mut ports: Vec<Port> = Vec::with_capacity(cfg.ports.len());
        for (i, a) in added.into_iter().enumerate() {
            match (keep[i], a) {
                (Some(j), _) => ports.push(old[j].take().expect("each old port is kept at most once")),
                (None, Some(p)) => ports.push(p),
                (None, None) => unreachable!("a port is either kept or added"),
            }
        }
        let removed: Vec<Port> = old.into_iter().flatten().collect();
        // Default MACs come from the ports' own, now that the added ones are up.
        let mut tables = Arc::unwrap_or_clone(tables);
        tables.use_port_macs(&cfg, &ports.iter().map(Port::mac).collect::<Vec<_>>());
        use_device_mtus(&mut tables, &ports);
        let tables = Arc::new(tables);
        let prev_plan = self.cfg.rx_plan();
        let owner_before = |name: &str, q: u16| {
            prev_plan.iter().position(|qs| qs.iter().any(|x| self.cfg.ports[x.port].name == name && x.queue == q))
        };
        let new_plan = cfg.rx_plan();
        // An rx queue that moves to another worker is polled by neither while the workers
        // switch (a first snapshot leaves it out), never by two.
        let mut moved = false;
        for (w, qs) in new_plan.iter().enumerate() {
            for q in qs {
                if matches!(owner_before(&cfg.ports[q.port].name, q.queue), Some(o) if o != w) {
                    moved = true;
                }
            }
        }
        let compile_us = t0.elapsed().as_secs_f64() * 1e6;
        let t1 = Instant::now();
        let burst = usize::from(cfg.dataplane.burst);
        let mut failed = None;
        // Read before either publish: the flags of the running ports, by name.
        let down = self.down_flags(&cfg);
        // Each publish takes the next generation (the workers adopt a snapshot whose
        // generation differs from theirs).
        let snapshot = |generation, io| Snapshot {
            generation,
            tables: tables.clone(),
            io,
            burst,
            down: down.iter().map(|&d| AtomicBool::new(d)).collect(),
        };
        if moved {
            let skip =
                |w: usize, port: usize, q: u16| !matches!(owner_before(&cfg.ports[port].name, q), Some(o) if o == w);
            let snap = snapshot(self.generation + 1, build_io(&cfg, &mut ports, Some(&skip))?);
            failed = self.publish(snap).err();
        }
        let snap = snapshot(self.generation + 1, build_io(&cfg, &mut ports, None)?);
        if let Err(e) = self.publish(snap) {
            failed = Some(e);
        }
        let publish_us = t1.elapsed().as_secs_f64() * 1e6;
        let report = ReloadReport {
            generation: self.generation,
            latency_us: t0.elapsed().as_secs_f64() * 1e6,
            compile_us,
            publish_us,
            ports_added: plan.added,
            ports_removed: plan.removed,
            ports_kept: plan.kept,
            sriov: Vec::new(),
        };
        self.ports = ports;
        self.cfg = cfg;
        self.tables = tables;
        if let Some(e) = failed {
            // The workers did not all adopt in time: keep the removed ports open (a late
            // worker may still use them) rather than closing them under it.
            std::mem::forget(removed);
            return Err(e);
        }
        drop(removed);
        Ok(report)
    }

    /// Publishes `snap` and waits until every running worker has adopted it.
    fn publish(&mut self, snap: Snapshot) -> Result<(), Error> {
        let generation = snap.generation;
        // Keep the previous snapshot until every worker has left it, so it is freed here on
        // the control thread, not by the last worker to drop it (freeing tables is not
        // fast-path work).
        let _retired = self.shared.snap.swap(Arc::new(snap));
        self.generation = generation;
        for m in &self.shared.mail {
            m.wake();
        }
        if self.running.is_empty() {
            for c in &self.counters {
                c.generation.set(generation);
            }
            return Ok(());
        }
        let t = Instant::now();
        loop {
            let late: Vec<usize> = self
                .counters
                .iter()
                .enumerate()
                .filter(|(_, c)| c.generation.get() < generation)
                .map(|(w, _)| w)
                .collect();
            if late.is_empty() {
                return Ok(());
            }
            if t.elapsed() > ADOPT_TIMEOUT {
                return Err(DpdkError::msg(
                    "reload",
                    format!("workers {late:?} did not adopt generation {generation} within {ADOPT_TIMEOUT:?}"),
                )
                .into());
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    /// Asks every worker `q` and collects the answers, in worker order.
    pub fn query(&self, q: &Query) -> Result<Vec<Answer>, Error> {
        (0..self.shared.mail.len()).map(|w| self.query_worker(w, q.clone())).collect()
    }

    /// Asks worker `w` `q` and waits for its answer (given between two of its bursts).
    pub fn query_worker(&self, w: usize, q: Query) -> Result<Answer, Error> {
        if self.running.is_empty() {
            return Err(DpdkError::msg("query", "the workers are not running").into());
        }
        let m = self.shared.mail.get(w).ok_or_else(|| DpdkError::msg("query", format!("no worker {w}")))?;
        let r = m.ask(q).ok_or_else(|| DpdkError::msg("query", format!("worker {w} has too many queries queued")))?;
        Ok(r.recv_timeout(Duration::from_secs(2))
            .map_err(|_| DpdkError::msg("query", format!("worker {w} did not answer within 2 s")))?)
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.shared.mail.len()
    }

    /// The generation of the running config (1 at start, +1 per snapshot published).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The compiled tables of the running config.
    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// Asks the workers to stop and waits for them; returns the lcores that reported an
    /// error. Ports stay up (call drop to stop them).
    pub fn stop_workers(&mut self) -> Vec<u32> {
        self.stop.store(true, Ordering::SeqCst);
        let mut failed = vec![];
        for l in self.running.drain(..) {
            if dpdk::wait(l) != 0 {
                failed.push(l);
            }
        }
        // The workers pushed their last events: the writer drains them and stops.
        if let Some(mut w) = self.log_writer.take() {
            w.stop();
        }
        failed
    }

    /// The event log writer's counts (events written, failed writes).
    pub fn event_log_stats(&self) -> &crate::eventlog::LogStats {
        &self.log_stats
    }

    /// The config it runs.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The packet mempool.
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// The ports, in config order.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// The admin-down flags for `cfg`'s ports, carried by name from the running snapshot.
    fn down_flags(&self, cfg: &Config) -> Vec<bool> {
        let cur = self.shared.snap.load();
        cfg.ports
            .iter()
            .map(|p| {
                let was = self.cfg.ports.iter().position(|o| o.name == p.name);
                was.and_then(|i| cur.down.get(i)).is_some_and(|d| d.load(Ordering::Relaxed))
            })
            .collect()
    }

    /// Sets port `i` administratively down (or up): the workers drop what it receives and
    /// what would be sent to it as `port-down`, from their next polling round; the device's
    /// link follows where its driver can set it (a NIC; not af_packet, pcap, null, ring).
    pub fn set_port_down(&self, i: usize, down: bool) {
        if let Some(f) = self.shared.snap.load().down.get(i) {
            f.store(down, Ordering::Relaxed);
        }
        if let Some(p) = self.ports.get(i) {
            let _ = p.set_link(!down);
        }
    }

    /// Whether port `i` is set administratively down.
    pub fn port_down(&self, i: usize) -> bool {
        self.shared.snap.load().down.get(i).is_some_and(|d| d.load(Ordering::Relaxed))
    }

    /// A flag that stops the workers when set (e.g. from a signal handler).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Current counters of every worker.
    pub fn worker_snapshots(&self) -> Vec<WorkerSnapshot> {
        self.counters.iter().map(|c| c.snapshot()).collect()
    }

    /// Counters of the whole dataplane.
    pub fn stats(&self) -> Stats {
        let workers = self.worker_snapshots();
        let total = WorkerSnapshot::sum(&workers);
        Stats {
            elapsed_s: self.started.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0),
            tsc_hz: dpdk::tsc_hz(),
            tsc: dpdk::rdtsc(),
            ports: self
                .cfg
                .ports
                .iter()
                .zip(&self.ports)
                .enumerate()
                .map(|(i, (pc, p))| {
                    let s = total.ports.get(i).copied().unwrap_or_default();
                    PortStats {
                        name: pc.name.clone(),
                        devargs: pc.devargs.clone(),
                        driver: p.driver(),
                        mac: p.mac().to_string(),
                        mtu: pc.mtu.or_else(|| p.mtu()),
                        link: p.link(),
                        rx: s.rx,
                        tx: s.tx,
                        tx_full: s.tx_full,
                        tx_retries: s.tx_retries,
                        hw: p.hw_stats(),
                    }
                })
                .collect(),
            workers: self
                .cfg
                .dataplane
                .workers
                .iter()
                .zip(&workers)
                .map(|(&lcore, w)| WorkerStats {
                    lcore,
                    packets: w.packets,
                    loops: w.loops,
                    busy_loops: w.busy_loops,
                    busy_cycles: w.busy_cycles,
                    cycles_per_packet: w.cycles_per_packet(),
                    active_s: active_s(w, dpdk::tsc_hz()),
                    pps: rate(w.packets, active_s(w, dpdk::tsc_hz())),
                    first_rx_tsc: w.first_rx_tsc,
                    last_rx_tsc: w.last_rx_tsc,
                    drops: w.named_drops().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    events: w.named_events().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    ct_entries: w.ct_entries,
                    nat_mappings: w.nat_mappings,
                    fdb_entries: w.fdb_entries,
                })
                .collect(),
            drops: total.named_drops().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            events: total.named_events().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            bridges: self
                .tables
                .domains
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let (encap, decap) = total.domains.get(i).copied().unwrap_or_default();
                    BridgeStats { name: d.name.clone(), vlan: d.vlan, vni: d.vni, encap, decap }
                })
                .collect(),
            vteps: self
                .tables
                .remote_vteps
                .iter()
                .enumerate()
                .map(|(i, &ip)| {
                    let (encap, decap) = total.vteps.get(i).copied().unwrap_or_default();
                    VtepStats { ip: std::net::Ipv4Addr::from(ip).to_string(), encap, decap }
                })
                .collect(),
            mempool: MempoolStats::from_available(self.pool.size(), self.pool.available()),
            generation: self.generation,
            event_log: self.cfg.event_log.as_ref().map(|_| crate::report::EventLogStats {
                written: self.log_stats.written.load(Ordering::Relaxed),
                errors: self.log_stats.errors.load(Ordering::Relaxed),
            }),
        }
    }
}

/// Seconds from `w`'s first to its latest polling round with packets (one round counts
/// as that round's own length, which its busy cycles give when it is the only one).
fn active_s(w: &WorkerSnapshot, tsc_hz: u64) -> f64 {
    vnf_core::control::reply::active_seconds(w.first_rx_tsc, w.last_rx_tsc, w.busy_cycles, tsc_hz)
}

/// `n` per second over `s` seconds (0 over none).
fn rate(n: u64, s: f64) -> f64 {
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

fn port_conf(cfg: &Config, pc: &vnf_core::config::Port) -> PortConf {
    let d = &cfg.dataplane;
    PortConf {
        rx_queues: pc.rx_queues,
        tx_queues: d.workers.len() as u16,
        rx_desc: pc.rx_desc.unwrap_or(d.rx_desc),
        tx_desc: pc.tx_desc.unwrap_or(d.tx_desc),
        mtu: pc.mtu,
        mac: pc.mac,
        promiscuous: pc.promiscuous,
    }
}

fn check_limits(cfg: &Config, t: &Tables) -> Result<(), ConfigError> {
    let over = |key: &str, n: usize, max: usize| ConfigError {
        file: None,
        line: None,
        key: key.into(),
        reason: format!("{n} is more than this build counts ({max})"),
    };
    if cfg.ports.len() > MAX_PORTS {
        return Err(over("port", cfg.ports.len(), MAX_PORTS));
    }
    if t.domains.len() > MAX_DOMAINS {
        return Err(over("bridge", t.domains.len(), MAX_DOMAINS));
    }
    if t.remote_vteps.len() > MAX_VTEPS {
        return Err(over("bridge.remote_vteps", t.remote_vteps.len(), MAX_VTEPS));
    }
    Ok(())
}

/// The queue handles of every worker for `cfg`'s rx plan (leaving out the rx queues `skip`
/// names for a worker) and one tx queue per worker on every port.
#[allow(clippy::type_complexity)]
fn build_io(
    cfg: &Config,
    ports: &mut [Port],
    skip: Option<&dyn Fn(usize, usize, u16) -> bool>,
) -> Result<Vec<WorkerIo>, Error> {
    for p in ports.iter_mut() {
        p.release_queues();
    }
    let plan = cfg.rx_plan();
    let mut io = Vec::with_capacity(plan.len());
    for (w, qs) in plan.iter().enumerate() {
        let mut rx = Vec::new();
        for q in qs {
            if skip.is_some_and(|f| f(w, q.port, q.queue)) {
                continue;
            }
            let h = ports[q.port].take_rx_queue(q.queue).ok_or_else(|| {
                DpdkError::msg(format!("port {} rx queue {}", cfg.ports[q.port].name, q.queue), "already taken")
            })?;
            rx.push((q.port, h));
        }
        let mut tx = Vec::new();
        for (i, p) in ports.iter_mut().enumerate() {
            let mut q = p
                .take_tx_queue(w as u16)
                .ok_or_else(|| DpdkError::msg(format!("port {} tx queue {w}", cfg.ports[i].name), "already taken"))?;
            q.set_retries(cfg.ports[i].tx_retries());
            tx.push(q);
        }
        io.push(WorkerIo { rx, tx });
    }
    Ok(io)
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

/// The MTU each port's device reports applies where the config sets none (what the
/// dataplane checks frames against, and routes and fragments to).
fn use_device_mtus(tables: &mut Tables, ports: &[Port]) {
    for (i, p) in ports.iter().enumerate() {
        if let Some(mtu) = p.mtu() {
            tables.set_device_mtu(i, mtu);
        }
    }
}
