//! The one table of vnfd's per-port and per-worker numbers, in the style of
//! `drop_reasons!`: each has its telemetry key, its Prometheus family, its kind, its help
//! its `vnfctl stats` column (if it has one) and its getter; the Prometheus exposition, the
//! DPDK telemetry replies and vnfctl's port and worker tables are all rendered from it, so
//! a number added here shows in each, under names that agree.
//! (Drops and events have tables of their own in `vnf_core::stats`; the JSON `stats` is the
//! serde form of [`Stats`].)

use crate::report::{PortStats, Stats, WorkerStats};

/// Prometheus metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A sample value: a count, or a ratio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    U(u64),
    F(f64),
}

impl Num {
    /// As an integer (telemetry's u64 values): ratios rounded.
    pub fn as_u64(self) -> u64 {
        match self {
            Num::U(n) => n,
            Num::F(f) => f.round().max(0.0) as u64,
        }
    }
}

/// One number of each item of type `T` (a port, a worker).
pub struct Metric<T> {
    /// The telemetry (and JSON) key.
    pub key: &'static str,
    /// The Prometheus family ("" when Prometheus has it otherwise: a sum PromQL can take,
    /// or a label of another family).
    pub prom: &'static str,
    pub kind: Kind,
    /// Its column in `vnfctl stats` ("" for none).
    pub col: &'static str,
    pub help: &'static str,
    pub get: fn(&T) -> Num,
}

macro_rules! metrics {
    ($t:ty; $($key:literal, $prom:literal, $kind:ident, $col:literal, $help:literal, |$x:ident| $e:expr;)*) => {
        &[$(Metric::<$t> { key: $key, prom: $prom, kind: Kind::$kind, col: $col, help: $help, get: |$x| $e },)*]
    };
}

/// Per port, labelled `port`.
pub const PORT: &[Metric<PortStats>] = metrics![PortStats;
    "rx", "vnf_port_rx_packets_total", Counter, "rx", "Packets the workers received from the port.", |p| Num::U(p.rx);
    "tx", "vnf_port_tx_packets_total", Counter, "tx", "Packets the workers sent to the port.", |p| Num::U(p.tx);
    "tx_full", "vnf_port_tx_full_total", Counter, "tx_full", "Packets the port's tx queues refused.", |p| Num::U(p.tx_full);
    "tx_retries", "vnf_port_tx_retries_total", Counter, "retries", "Partly refused tx bursts offered again (tx_retries).", |p| Num::U(p.tx_retries);
    "hw_ipackets", "vnf_port_hw_rx_packets_total", Counter, "", "Packets the device received.", |p| Num::U(p.hw.ipackets);
    "hw_opackets", "vnf_port_hw_tx_packets_total", Counter, "", "Packets the device sent.", |p| Num::U(p.hw.opackets);
    "hw_ibytes", "vnf_port_hw_rx_bytes_total", Counter, "", "Bytes the device received.", |p| Num::U(p.hw.ibytes);
    "hw_obytes", "vnf_port_hw_tx_bytes_total", Counter, "", "Bytes the device sent.", |p| Num::U(p.hw.obytes);
    "hw_imissed", "vnf_port_hw_imissed_total", Counter, "imissed",
        "Packets dropped because the rx ring was full (the device's count; for af_packet, the kernel's).",
        |p| Num::U(p.hw.imissed);
    "hw_ierrors", "vnf_port_hw_ierrors_total", Counter, "", "Erroneous packets the device received.", |p| Num::U(p.hw.ierrors);
    "hw_oerrors", "vnf_port_hw_oerrors_total", Counter, "", "Transmissions the device failed.", |p| Num::U(p.hw.oerrors);
    "hw_rx_nombuf", "vnf_port_hw_rx_nombuf_total", Counter, "", "Rx mbuf allocation failures of the device.", |p| Num::U(p.hw.rx_nombuf);
    "link_up", "vnf_port_link_up", Gauge, "", "1 if the port's link is up.", |p| Num::U(p.link.up.into());
    "speed_mbps", "vnf_port_link_speed_mbps", Gauge, "", "Link speed in Mbit/s (0 if unknown).", |p| Num::U(p.link.speed_mbps.into());
];

/// Per worker, labelled `lcore`.
pub const WORKER: &[Metric<WorkerStats>] = metrics![WorkerStats;
    "packets", "vnf_worker_packets_total", Counter, "packets", "Packets the worker processed.", |w| Num::U(w.packets);
    "pps", "", Gauge, "pps", "Packets per second over the worker's active interval (first to latest packet; Prometheus takes rate() of the packet counter instead).", |w| Num::F(w.pps);
    "active_s", "", Gauge, "", "Seconds from the worker's first to its latest packet.", |w| Num::F(w.active_s);
    "cycles_per_packet", "vnf_worker_cycles_per_packet", Gauge, "cyc/pkt", "Busy TSC cycles per packet of the worker.", |w| Num::F(w.cycles_per_packet);
    "loops", "vnf_worker_loops_total", Counter, "", "Iterations of the worker loop.", |w| Num::U(w.loops);
    "busy_loops", "vnf_worker_busy_loops_total", Counter, "", "Loop iterations that received packets.", |w| Num::U(w.busy_loops);
    "busy_cycles", "vnf_worker_busy_cycles_total", Counter, "", "TSC cycles spent in busy iterations.", |w| Num::U(w.busy_cycles);
    "ct_entries", "vnf_conntrack_entries", Gauge, "conntrack", "Live connections in the worker's table.", |w| Num::U(w.ct_entries);
    "nat_mappings", "vnf_nat_mappings", Gauge, "nat", "Live NAT mappings of the worker.", |w| Num::U(w.nat_mappings);
    "fdb_entries", "vnf_fdb_entries", Gauge, "fdb", "FDB entries of the worker.", |w| Num::U(w.fdb_entries);
];

/// The whole dataplane (telemetry's `/vnf/stats`; the Prometheus families named here).
pub const SUMMARY: &[Metric<Stats>] = metrics![Stats;
    "rx", "", Counter, "", "Packets the workers received, all ports.", |s| Num::U(s.ports.iter().map(|p| p.rx).sum());
    "tx", "", Counter, "", "Packets the workers sent, all ports.", |s| Num::U(s.ports.iter().map(|p| p.tx).sum());
    "tx_full", "", Counter, "", "Packets tx queues refused, all ports.", |s| Num::U(s.ports.iter().map(|p| p.tx_full).sum());
    "drops", "", Counter, "", "Packets dropped, all reasons and workers.", |s| Num::U(s.drops.values().sum());
    "packets", "", Counter, "", "Packets the workers processed.", |s| Num::U(s.workers.iter().map(|w| w.packets).sum());
    "mempool_size", "vnf_mempool_size", Gauge, "", "Mbufs in the packet mempool.", |s| Num::U(s.mempool.size.into());
    "mempool_available", "", Gauge, "", "Mbufs free (vnf_mempool_mbufs{state=\"available\"}).", |s| Num::U(s.mempool.available.into());
    "mempool_in_use", "", Gauge, "", "Mbufs in use (vnf_mempool_mbufs{state=\"in_use\"}).", |s| Num::U(s.mempool.in_use.into());
    "ct_entries", "", Gauge, "", "Live connections, all workers.", |s| Num::U(s.workers.iter().map(|w| w.ct_entries).sum());
    "nat_mappings", "", Gauge, "", "Live NAT mappings, all workers.", |s| Num::U(s.workers.iter().map(|w| w.nat_mappings).sum());
    "fdb_entries", "", Gauge, "", "FDB entries, all workers.", |s| Num::U(s.workers.iter().map(|w| w.fdb_entries).sum());
    "ports", "", Gauge, "", "Ports.", |s| Num::U(s.ports.len() as u64);
    "workers", "", Gauge, "", "Workers.", |s| Num::U(s.workers.len() as u64);
    "generation", "vnf_config_generation", Gauge, "", "Config generation running.", |s| Num::U(s.generation);
    "uptime_s", "vnf_uptime_seconds", Gauge, "", "Seconds since the workers started.", |s| Num::F(s.elapsed_s);
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        fn check<T>(table: &[Metric<T>]) {
            let mut keys = std::collections::HashSet::new();
            let mut proms = std::collections::HashSet::new();
            for m in table {
                assert!(keys.insert(m.key), "{} twice", m.key);
                if m.prom.is_empty() {
                    continue;
                }
                assert!(proms.insert(m.prom), "{} twice", m.prom);
                assert!(m.prom.starts_with("vnf_"), "{}", m.prom);
                assert_eq!(m.kind == Kind::Counter, m.prom.ends_with("_total"), "{}", m.prom);
                assert!(m.key.len() < 64 && m.key.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{}", m.key);
            }
        }
        check(PORT);
        check(WORKER);
        check(SUMMARY);
        let cols: Vec<&str> = WORKER.iter().map(|m| m.col).filter(|c| !c.is_empty()).collect();
        assert_eq!(cols, ["packets", "pps", "cyc/pkt", "conntrack", "nat", "fdb"]);
    }
}
