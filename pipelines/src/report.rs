//! The dataplane's counters as one serialisable value, printed by vnfd and read by tests
//! and `vnf-perf`.

use crate::dpdk::{HwStats, LinkInfo};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Counters of the whole dataplane at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// Seconds since the workers started.
    pub elapsed_s: f64,
    /// TSC frequency, for converting cycles.
    pub tsc_hz: u64,
    /// Per port.
    pub ports: Vec<PortStats>,
    /// Per worker.
    pub workers: Vec<WorkerStats>,
    /// Drops by reason, summed over workers.
    pub drops: BTreeMap<String, u64>,
    /// Events (learning, flooding, ARP, ICMP), summed over workers.
    pub events: BTreeMap<String, u64>,
    /// Per bridge domain.
    pub bridges: Vec<BridgeStats>,
    /// Per remote VTEP.
    pub vteps: Vec<VtepStats>,
    /// The packet mempool.
    pub mempool: MempoolStats,
    /// Config generation running.
    pub generation: u64,
    /// The NAT/firewall event log writer, when `[event_log]` is set: events written (to
    /// every destination) and failed writes. Events lost to full rings are the
    /// `event-log-lost` event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_log: Option<EventLogStats>,
}

/// The event log writer's counts.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct EventLogStats {
    /// Events written.
    pub written: u64,
    /// Writes that failed.
    pub errors: u64,
}

/// One bridge domain.
#[derive(Clone, Debug, Serialize)]
pub struct BridgeStats {
    /// Name.
    pub name: String,
    /// VLAN id.
    pub vlan: u16,
    /// VNI, if stretched over VXLAN.
    pub vni: Option<u32>,
    /// Frames encapsulated for this VNI.
    pub encap: u64,
    /// Frames decapsulated for this VNI.
    pub decap: u64,
}

/// One remote VTEP.
#[derive(Clone, Debug, Serialize)]
pub struct VtepStats {
    /// Its address.
    pub ip: String,
    /// Frames encapsulated toward it.
    pub encap: u64,
    /// Frames decapsulated from it.
    pub decap: u64,
}

/// One port.
#[derive(Clone, Debug, Serialize)]
pub struct PortStats {
    /// Config name.
    pub name: String,
    /// Devargs.
    pub devargs: String,
    /// PMD name.
    pub driver: String,
    /// MAC address.
    pub mac: String,
    /// Effective MTU: the configured `mtu`, else the device's current one (None when the
    /// driver cannot tell).
    pub mtu: Option<u16>,
    /// Link state.
    pub link: LinkInfo,
    /// Packets the workers received from it.
    pub rx: u64,
    /// Packets the workers sent to it.
    pub tx: u64,
    /// Packets its tx queues refused.
    pub tx_full: u64,
    /// The device's own counters.
    pub hw: HwStats,
}

/// One worker.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerStats {
    /// Its lcore.
    pub lcore: u32,
    /// Packets it processed.
    pub packets: u64,
    /// Loop iterations.
    pub loops: u64,
    /// Iterations that received packets.
    pub busy_loops: u64,
    /// Cycles spent in those.
    pub busy_cycles: u64,
    /// Busy cycles per packet.
    pub cycles_per_packet: f64,
    /// Its drops by reason.
    pub drops: BTreeMap<String, u64>,
    /// Its events.
    pub events: BTreeMap<String, u64>,
    /// Live connections in its table.
    pub ct_entries: u64,
    /// Live NAT mappings.
    pub nat_mappings: u64,
    /// FDB entries.
    pub fdb_entries: u64,
}

/// The packet pool.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MempoolStats {
    /// Mbufs in the pool.
    pub size: u32,
    /// Mbufs free.
    pub available: u32,
    /// Mbufs in use.
    pub in_use: u32,
}

impl MempoolStats {
    /// From one reading of the free count: the two counts always add up to the size
    /// (two separate readings under load did not).
    pub fn from_available(size: u32, available: u32) -> MempoolStats {
        let available = available.min(size);
        MempoolStats { size, available, in_use: size - available }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ports ({:.2} s):", self.elapsed_s)?;
        writeln!(
            f,
            "  {:<10} {:<10} {:>14} {:>14} {:>10} {:>12} {:>12}",
            "name", "driver", "rx", "tx", "tx-full", "hw-imissed", "hw-rx-nombuf"
        )?;
        for p in &self.ports {
            writeln!(
                f,
                "  {:<10} {:<10} {:>14} {:>14} {:>10} {:>12} {:>12}",
                p.name, p.driver, p.rx, p.tx, p.tx_full, p.hw.imissed, p.hw.rx_nombuf
            )?;
        }
        writeln!(f, "workers:")?;
        for w in &self.workers {
            let mpps = if self.elapsed_s > 0.0 { w.packets as f64 / self.elapsed_s / 1e6 } else { 0.0 };
            writeln!(
                f,
                "  lcore {:<3} packets {:>14}  {:>8.3} Mpps  {:>7.1} cycles/packet  busy {:>5.1}%",
                w.lcore,
                w.packets,
                mpps,
                w.cycles_per_packet,
                if w.loops > 0 { 100.0 * w.busy_loops as f64 / w.loops as f64 } else { 0.0 }
            )?;
        }
        if self.drops.is_empty() {
            writeln!(f, "drops: none")?;
        } else {
            writeln!(f, "drops:")?;
            for (k, v) in &self.drops {
                writeln!(f, "  {k:<16} {v}")?;
            }
        }
        for b in self.bridges.iter().filter(|b| b.vni.is_some()) {
            writeln!(
                f,
                "vni {:<8} bridge {:<10} encap {:>12} decap {:>12}",
                b.vni.unwrap_or(0),
                b.name,
                b.encap,
                b.decap
            )?;
        }
        for v in &self.vteps {
            writeln!(f, "vtep {:<15} encap {:>12} decap {:>12}", v.ip, v.encap, v.decap)?;
        }
        if !self.events.is_empty() {
            writeln!(f, "events:")?;
            for (k, v) in &self.events {
                writeln!(f, "  {k:<16} {v}")?;
            }
        }
        write!(f, "mempool: {} of {} mbufs available", self.mempool.available, self.mempool.size)
    }
}

#[cfg(test)]
mod tests {
    use super::MempoolStats;

    #[test]
    fn mempool_counts_add_up_to_the_size() {
        for (size, avail) in [(8191, 8000), (8191, 0), (8191, 8191), (8191, 9000)] {
            let m = MempoolStats::from_available(size, avail);
            assert_eq!(m.in_use + m.available, m.size, "{m:?}");
        }
        assert_eq!(MempoolStats::from_available(8191, 8000).in_use, 191);
    }
}
