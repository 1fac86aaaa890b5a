//! The dataplane: the mempool, the ports and the workers that one config describes.

use crate::dpdk::{self, DpdkError, Eal, Mempool, Port, PortConf, Ring};
use crate::report::{BridgeStats, MempoolStats, PortStats, Stats, VtepStats, WorkerStats};
use crate::worker::Worker;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use vnf_core::config::{Config, ConfigError};
use vnf_core::stage::Xconnect;
use vnf_core::switch::Tables;
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

/// The running appliance. Dropping it stops the workers, then the ports, then frees the pool.
pub struct Dataplane {
    cfg: Config,
    // Field order is drop order: ports (which hold mbufs in their queues) before the pool.
    ports: Vec<Port>,
    pool: Mempool,
    counters: Vec<Arc<CachePadded<WorkerCounters>>>,
    tables: Arc<Tables>,
    stop: Arc<AtomicBool>,
    running: Vec<u32>,
    started: Option<Instant>,
}

impl Dataplane {
    /// Builds the dataplane of `cfg`, probing every port by its devargs.
    pub fn new(cfg: &Config) -> Result<Dataplane, Error> {
        Self::with_ports(cfg, |_, p| Port::probe(&p.devargs))
    }

    /// Builds the dataplane of `cfg` with ports made by `open` (tests make ring ports).
    /// Checks the lcores and the mempool size against the config first, creates the pool,
    /// then opens, configures and starts every port. Workers start with [`Dataplane::start`].
    pub fn with_ports(
        cfg: &Config,
        mut open: impl FnMut(usize, &vnf_core::config::Port) -> Result<Port, DpdkError>,
    ) -> Result<Dataplane, Error> {
        let eal = Eal::get().ok_or_else(|| DpdkError::msg("dataplane", "EAL is not initialised"))?;
        cfg.validate()?;
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
        cfg.check_mempool()?;
        let tables = Arc::new(Tables::compile(cfg)?);
        let pool = Mempool::new("vnf_pkt", d.mempool_size, d.mempool_cache, d.mbuf_data_room, 0)?;
        let mut ports = Vec::with_capacity(cfg.ports.len());
        for (i, pc) in cfg.ports.iter().enumerate() {
            let label = |e: DpdkError| DpdkError { op: format!("port[{i}] {:?}: {}", pc.name, e.op), ..e };
            let mut port = open(i, pc).map_err(label)?;
            let conf = PortConf {
                rx_queues: pc.rx_queues,
                tx_queues: d.workers.len() as u16,
                rx_desc: pc.rx_desc.unwrap_or(d.rx_desc),
                tx_desc: pc.tx_desc.unwrap_or(d.tx_desc),
                mtu: pc.mtu,
                mac: pc.mac,
                promiscuous: pc.promiscuous,
            };
            port.configure(&conf, &pool).map_err(label)?;
            port.start()?;
            ports.push(port);
        }
        let counters = d
            .workers
            .iter()
            .map(|_| Arc::new(WorkerCounters::with_tunnels(cfg.ports.len(), tables.domains.len(), tables.remote_vteps.len())))
            .collect();
        Ok(Dataplane { cfg: cfg.clone(), ports, pool, counters, tables, stop: Arc::new(AtomicBool::new(false)), running: vec![], started: None })
    }

    /// Launches one worker per configured lcore.
    pub fn start(&mut self) -> Result<(), Error> {
        if !self.running.is_empty() {
            return Ok(());
        }
        self.stop.store(false, Ordering::SeqCst);
        let plan = self.cfg.rx_plan();
        let xconnect = Xconnect::new(&self.cfg);
        let tables = self.tables.clone();
        let nw = self.cfg.dataplane.workers.len();
        let mut handoff = vec![];
        if nw > 1 && tables.sec.is_some() {
            for w in 0..nw {
                static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let name = format!("handoff{}_{w}", SEQ.fetch_add(1, Ordering::Relaxed));
                handoff.push(Arc::new(Ring::new(&name, vnf_core::config::HANDOFF_RING)?));
            }
        }
        for (w, &lcore) in self.cfg.dataplane.workers.iter().enumerate() {
            let mut rx = Vec::new();
            for q in &plan[w] {
                let h = self.ports[q.port]
                    .take_rx_queue(q.queue)
                    .ok_or_else(|| DpdkError::msg(format!("port {} rx queue {}", self.cfg.ports[q.port].name, q.queue), "already taken"))?;
                rx.push((q.port, h));
            }
            let mut tx = Vec::new();
            for (i, p) in self.ports.iter_mut().enumerate() {
                tx.push(
                    p.take_tx_queue(w as u16)
                        .ok_or_else(|| DpdkError::msg(format!("port {} tx queue {w}", self.cfg.ports[i].name), "already taken"))?,
                );
            }
            let worker = Worker {
                index: w,
                lcore,
                rx,
                tx,
                xconnect: xconnect.clone(),
                tables: tables.clone(),
                pool: self.pool.handle(),
                burst: self.cfg.dataplane.burst as usize,
                counters: self.counters[w].clone(),
                stop: self.stop.clone(),
                handoff: handoff.clone(),
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
        failed
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
                        link: p.link(),
                        rx: s.rx,
                        tx: s.tx,
                        tx_full: s.tx_full,
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
                    drops: w.named_drops().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    events: w.named_events().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    ct_entries: w.ct_entries,
                    nat_mappings: w.nat_mappings,
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
            mempool: MempoolStats { size: self.pool.size(), available: self.pool.available(), in_use: self.pool.in_use() },
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop_workers();
    }
}
