//! The one table of vnfd's per-port and per-worker numbers, in the style of
//! `drop_reasons!`: each has its telemetry key, its Prometheus family, its kind, its help
//! and its getter, and the Prometheus exposition and the DPDK telemetry replies are both
//! rendered from it, so a number added here shows in both, under names that agree.
//! (Drops and events have tables of their own in `vnf_core::stats`; the JSON `stats` is the
//! serde form of [`Stats`].)

use crate::report::{PortStats, WorkerStats};

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
    /// The Prometheus family.
    pub prom: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub get: fn(&T) -> Num,
}

macro_rules! metrics {
    ($t:ty; $($key:literal, $prom:literal, $kind:ident, $help:literal, |$x:ident| $e:expr;)*) => {
        &[$(Metric::<$t> { key: $key, prom: $prom, kind: Kind::$kind, help: $help, get: |$x| $e },)*]
    };
}

/// Per port, labelled `port`.
pub const PORT: &[Metric<PortStats>] = metrics![PortStats;
    "rx", "vnf_port_rx_packets_total", Counter, "Packets the workers received from the port.", |p| Num::U(p.rx);
    "tx", "vnf_port_tx_packets_total", Counter, "Packets the workers sent to the port.", |p| Num::U(p.tx);
    "tx_full", "vnf_port_tx_full_total", Counter, "Packets the port's tx queues refused.", |p| Num::U(p.tx_full);
    "hw_ipackets", "vnf_port_hw_rx_packets_total", Counter, "Packets the device received.", |p| Num::U(p.hw.ipackets);
    "hw_opackets", "vnf_port_hw_tx_packets_total", Counter, "Packets the device sent.", |p| Num::U(p.hw.opackets);
    "hw_ibytes", "vnf_port_hw_rx_bytes_total", Counter, "Bytes the device received.", |p| Num::U(p.hw.ibytes);
    "hw_obytes", "vnf_port_hw_tx_bytes_total", Counter, "Bytes the device sent.", |p| Num::U(p.hw.obytes);
    "hw_imissed", "vnf_port_hw_imissed_total", Counter,
        "Packets dropped because the rx ring was full (the device's count; for af_packet, the kernel's).",
        |p| Num::U(p.hw.imissed);
    "hw_ierrors", "vnf_port_hw_ierrors_total", Counter, "Erroneous packets the device received.", |p| Num::U(p.hw.ierrors);
    "hw_oerrors", "vnf_port_hw_oerrors_total", Counter, "Transmissions the device failed.", |p| Num::U(p.hw.oerrors);
    "hw_rx_nombuf", "vnf_port_hw_rx_nombuf_total", Counter, "Rx mbuf allocation failures of the device.", |p| Num::U(p.hw.rx_nombuf);
    "link_up", "vnf_port_link_up", Gauge, "1 if the port's link is up.", |p| Num::U(p.link.up.into());
    "speed_mbps", "vnf_port_link_speed_mbps", Gauge, "Link speed in Mbit/s (0 if unknown).", |p| Num::U(p.link.speed_mbps.into());
];

/// Per worker, labelled `lcore`.
pub const WORKER: &[Metric<WorkerStats>] = metrics![WorkerStats;
    "packets", "vnf_worker_packets_total", Counter, "Packets the worker processed.", |w| Num::U(w.packets);
    "loops", "vnf_worker_loops_total", Counter, "Iterations of the worker loop.", |w| Num::U(w.loops);
    "busy_loops", "vnf_worker_busy_loops_total", Counter, "Loop iterations that received packets.", |w| Num::U(w.busy_loops);
    "busy_cycles", "vnf_worker_busy_cycles_total", Counter, "TSC cycles spent in busy iterations.", |w| Num::U(w.busy_cycles);
    "ct_entries", "vnf_conntrack_entries", Gauge, "Live connections in the worker's table.", |w| Num::U(w.ct_entries);
    "nat_mappings", "vnf_nat_mappings", Gauge, "Live NAT mappings of the worker.", |w| Num::U(w.nat_mappings);
    "fdb_entries", "vnf_fdb_entries", Gauge, "FDB entries of the worker.", |w| Num::U(w.fdb_entries);
    "cycles_per_packet", "vnf_worker_cycles_per_packet", Gauge, "Busy TSC cycles per packet of the worker.", |w| Num::F(w.cycles_per_packet);
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
                assert!(keys.insert(m.key) && proms.insert(m.prom), "{} / {} twice", m.key, m.prom);
                assert!(m.prom.starts_with("vnf_"), "{}", m.prom);
                assert_eq!(m.kind == Kind::Counter, m.prom.ends_with("_total"), "{}", m.prom);
                assert!(m.key.len() < 64 && m.key.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{}", m.key);
            }
        }
        check(PORT);
        check(WORKER);
    }
}
