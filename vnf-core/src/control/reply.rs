//! The control protocol's answers, once for both ends: vnfd serialises one of these per
//! request (the object gets `"ok": true` added), vnfctl deserialises the same type and
//! renders it. A field renamed or retyped on one side is a compile error or a failing
//! round trip on the other, never a silently empty column.
//!
//! Which answer each request gets:
//!
//! | request | answer |
//! |---|---|
//! | `help` | [`Help`] |
//! | `version` | [`Version`] |
//! | `stats` | [`StatsReply`] (a [`Stats`]) |
//! | `ports` | [`Ports`] |
//! | `port set` | [`PortSet`] |
//! | `fdb` / `neigh` / `conntrack` | [`Listing`] of [`FdbEntry`] / [`NeighEntry`] / [`CtEntry`] |
//! | `fdb flush`, `neigh flush`, `conntrack flush` | [`Flushed`] |
//! | `conntrack count` | [`CtCount`] |
//! | `nat` | [`NatReply`] |
//! | `firewall` | [`FirewallReply`] |
//! | `vtep` | [`VtepReply`] |
//! | `trace add` / `trace show` / `trace clear` | [`TraceArmed`] / [`TraceShow`] / [`Cleared`] |
//! | `runtime` | [`Runtime`] |
//! | `latency` | [`Latency`] |
//! | `config show` / `reload` / `check` / `diff` | [`ConfigShow`] / [`ReloadReport`] / [`ConfigCheck`] / [`ConfigDiff`] |
//! | `vf list` / `vf set` / `sriov apply` | [`VfList`] / [`Steps`] / [`SriovApplied`] |
//! | `log` / `log level` | [`LogTypes`] / [`LogLevel`] |
//! | `clients` / `clients kick` | [`Clients`] / [`Kicked`] |

use crate::sriov::{Applied, PfState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Every answer's envelope: `ok`, and for a refusal the error naming the field (and
/// `busy` when vnfd had no free client slot and closed the connection).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The request was carried out.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Refused for want of a client slot: try again later.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub busy: bool,
}

impl Status {
    /// A refusal as the line vnfd sends.
    pub fn refusal(error: impl fmt::Display, busy: bool) -> String {
        let s = Status { ok: false, error: Some(error.to_string()), busy };
        serde_json::to_string(&s).unwrap_or_default()
    }
}

/// `help`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Help {
    /// Every command name.
    pub commands: Vec<String>,
}

/// `version`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// vnfd's version.
    pub version: String,
    /// DPDK's version string.
    pub dpdk: String,
    /// The running config's path.
    pub config: String,
    /// Config generation running.
    pub generation: u64,
    /// Seconds since vnfd started.
    pub uptime_s: f64,
}

/// Link state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// Up or down.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

impl fmt::Display for LinkInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.up {
            write!(f, "up,{}M", self.speed_mbps)
        } else {
            f.write_str("down")
        }
    }
}

/// A device's own counters (`rte_eth_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HwStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the device dropped because rx queues were full.
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Rx mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// `stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsReply {
    /// The counters (since the last `stats clear`, if any).
    pub stats: Stats,
    /// Seconds since the last `stats clear` (None: never cleared; the counters count from
    /// the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_clear_s: Option<f64>,
}

/// `stats clear`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsCleared {
    /// The config generation running when cleared.
    pub generation: u64,
}

/// Counters of the whole dataplane at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    /// The TSC when these were read (0: unknown).
    #[serde(default)]
    pub tsc: u64,
    /// The NAT/firewall event log writer, when `[event_log]` is set: events written (to
    /// every destination) and failed writes. Events lost to full rings are the
    /// `event-log-lost` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_log: Option<EventLogStats>,
}

/// The event log writer's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLogStats {
    /// Events written.
    pub written: u64,
    /// Writes that failed.
    pub errors: u64,
}

/// One bridge domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtepStats {
    /// Its address.
    pub ip: String,
    /// Frames encapsulated toward it.
    pub encap: u64,
    /// Frames decapsulated from it.
    pub decap: u64,
}

/// One port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Partly refused bursts offered again (`tx_retries`).
    #[serde(default)]
    pub tx_retries: u64,
    /// The device's own counters.
    pub hw: HwStats,
}

/// Seconds a worker was forwarding: from its first to its latest polling round with packets
/// (TSC stamps, 0 = none yet), or its busy cycles when all packets came in one round. The one
/// rule behind `active_s` in vnfd's report and in `stats` after `stats clear`.
pub fn active_seconds(first_rx_tsc: u64, last_rx_tsc: u64, busy_cycles: u64, tsc_hz: u64) -> f64 {
    if first_rx_tsc == 0 || tsc_hz == 0 {
        return 0.0;
    }
    let span = last_rx_tsc.saturating_sub(first_rx_tsc);
    let span = if span == 0 { busy_cycles } else { span };
    span as f64 / tsc_hz as f64
}

/// One worker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    /// TSC cycles of the polling rounds that received packets, per packet. Includes any
    /// time the worker was preempted inside such a round (a shared CPU shows it here).
    pub cycles_per_packet: f64,
    /// Seconds from its first to its latest polling round with packets (0: none yet):
    /// the interval its rate is over.
    #[serde(default)]
    pub active_s: f64,
    /// Packets per second over `active_s` (0 when it is 0).
    #[serde(default)]
    pub pps: f64,
    /// TSC of its first polling round with packets (0: none).
    #[serde(default)]
    pub first_rx_tsc: u64,
    /// TSC of its latest polling round with packets.
    #[serde(default)]
    pub last_rx_tsc: u64,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

impl Stats {
    /// What has been counted since `base` (an earlier reading of the same dataplane): every
    /// counter less its value in `base` (ports, bridges and VTEPs matched by name, workers by
    /// lcore; one `base` lacks counts from 0), gauges as they are now, rates over the part of
    /// each worker's active interval after `base`. `stats clear` answers with this; the
    /// exporters keep the raw, monotonic counters.
    pub fn since(&self, base: &Stats) -> Stats {
        fn less(m: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
            m.iter().map(|(k, &v)| (k.clone(), v.saturating_sub(b.get(k).copied().unwrap_or(0)))).collect()
        }
        let mut s = self.clone();
        s.elapsed_s = (self.elapsed_s - base.elapsed_s).max(0.0);
        for p in &mut s.ports {
            let Some(b) = base.ports.iter().find(|b| b.name == p.name) else { continue };
            p.rx = p.rx.saturating_sub(b.rx);
            p.tx = p.tx.saturating_sub(b.tx);
            p.tx_full = p.tx_full.saturating_sub(b.tx_full);
            p.tx_retries = p.tx_retries.saturating_sub(b.tx_retries);
            let (h, bh) = (&mut p.hw, &b.hw);
            h.ipackets = h.ipackets.saturating_sub(bh.ipackets);
            h.opackets = h.opackets.saturating_sub(bh.opackets);
            h.ibytes = h.ibytes.saturating_sub(bh.ibytes);
            h.obytes = h.obytes.saturating_sub(bh.obytes);
            h.imissed = h.imissed.saturating_sub(bh.imissed);
            h.ierrors = h.ierrors.saturating_sub(bh.ierrors);
            h.oerrors = h.oerrors.saturating_sub(bh.oerrors);
            h.rx_nombuf = h.rx_nombuf.saturating_sub(bh.rx_nombuf);
        }
        for w in &mut s.workers {
            let Some(b) = base.workers.iter().find(|b| b.lcore == w.lcore) else { continue };
            w.packets = w.packets.saturating_sub(b.packets);
            w.loops = w.loops.saturating_sub(b.loops);
            w.busy_loops = w.busy_loops.saturating_sub(b.busy_loops);
            w.busy_cycles = w.busy_cycles.saturating_sub(b.busy_cycles);
            w.cycles_per_packet = if w.packets > 0 { w.busy_cycles as f64 / w.packets as f64 } else { 0.0 };
            w.drops = less(&w.drops, &b.drops);
            w.events = less(&w.events, &b.events);
            if w.packets == 0 || w.last_rx_tsc <= base.tsc {
                (w.first_rx_tsc, w.last_rx_tsc, w.active_s, w.pps) = (0, 0, 0.0, 0.0);
            } else {
                w.first_rx_tsc = w.first_rx_tsc.max(base.tsc);
                w.active_s = active_seconds(w.first_rx_tsc, w.last_rx_tsc, w.busy_cycles, self.tsc_hz);
                w.pps = if w.active_s > 0.0 { w.packets as f64 / w.active_s } else { 0.0 };
            }
        }
        s.drops = less(&self.drops, &base.drops);
        s.events = less(&self.events, &base.events);
        for x in &mut s.bridges {
            if let Some(b) = base.bridges.iter().find(|b| b.name == x.name) {
                x.encap = x.encap.saturating_sub(b.encap);
                x.decap = x.decap.saturating_sub(b.decap);
            }
        }
        for x in &mut s.vteps {
            if let Some(b) = base.vteps.iter().find(|b| b.ip == x.ip) {
                x.encap = x.encap.saturating_sub(b.encap);
                x.decap = x.decap.saturating_sub(b.decap);
            }
        }
        if let (Some(l), Some(b)) = (&mut s.event_log, &base.event_log) {
            l.written = l.written.saturating_sub(b.written);
            l.errors = l.errors.saturating_sub(b.errors);
        }
        s
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
        writeln!(f, "workers (Mpps over each worker's active interval, its first to its last packet):")?;
        for w in &self.workers {
            writeln!(
                f,
                "  lcore {:<3} packets {:>14}  {:>8.3} Mpps over {:>8.3} s  {:>7.1} cycles/packet in rounds with packets  {:>5.1}% of rounds had packets",
                w.lcore,
                w.packets,
                w.pps / 1e6,
                w.active_s,
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

/// `ports`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// Every port, in config order.
    pub ports: Vec<PortRow>,
}

/// One port as `ports` lists it: its counters, its index and ethdev id, its admin state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRow {
    /// The counters (flattened into the row).
    #[serde(flatten)]
    pub stats: PortStats,
    /// Index in the config.
    pub index: usize,
    /// DPDK port id.
    pub port_id: u16,
    /// `up` or `down` (`port set`).
    pub admin: String,
}

/// `port set`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSet {
    /// The port's name.
    pub port: String,
    /// The admin state now.
    pub state: String,
    /// The link as the device reports it now.
    pub link: LinkInfo,
}

/// A listing of table entries, at most `limit` of the `count` that matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing<T> {
    /// The entries shown.
    pub entries: Vec<T>,
    /// Entries that matched.
    pub count: usize,
    /// More matched than are shown.
    pub truncated: bool,
}

/// One FDB entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    /// The worker whose table holds it.
    pub worker: usize,
    /// The bridge's name.
    pub bridge: String,
    /// The bridge's VLAN.
    pub vlan: Option<u16>,
    /// The MAC address.
    pub mac: String,
    /// `port NAME` or `vtep ADDR`.
    pub dest: String,
    /// Configured, never aged.
    #[serde(rename = "static")]
    pub is_static: bool,
    /// Since last seen (None for static entries).
    pub age_ms: Option<u64>,
}

/// One neighbour entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighEntry {
    /// The worker whose table holds it.
    pub worker: usize,
    /// The bridge's name (`underlay` for the VTEP's).
    pub bridge: String,
    /// The bridge's VLAN.
    pub vlan: Option<u16>,
    /// The IPv4 address.
    pub ip: String,
    /// The MAC, once resolved.
    pub mac: Option<String>,
    /// RFC 4861-style state name.
    pub state: String,
    /// In this state for (None for static entries).
    pub age_ms: Option<u64>,
    /// Packets waiting for the resolution.
    pub queued: usize,
}

/// One end of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// Source address.
    pub src: String,
    /// Source port (ICMP: the identifier).
    pub sport: u16,
    /// Destination address.
    pub dst: String,
    /// Destination port.
    pub dport: u16,
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} -> {}:{}", self.src, self.sport, self.dst, self.dport)
    }
}

/// One connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtEntry {
    /// The worker whose table holds it.
    pub worker: usize,
    /// `tcp`, `udp`, `icmp` or a number.
    pub proto: String,
    /// The original direction.
    pub orig: Endpoints,
    /// The reply direction (translated when NAT applies).
    pub reply: Endpoints,
    /// TCP state name (or `established`/`new` for the others).
    pub state: String,
    /// Until it expires when idle.
    pub expires_ms: u64,
    /// Source-translated.
    pub snat: bool,
    /// Destination-translated.
    pub dnat: bool,
    /// Packets seen, original and reply direction.
    pub packets: [u64; 2],
}

/// A flush: how many entries went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flushed {
    /// Entries removed.
    pub flushed: usize,
}

/// `conntrack count`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtCount {
    /// Connections over all workers.
    pub count: u64,
    /// Per worker.
    pub per_worker: Vec<u64>,
    /// Table capacity per worker.
    pub capacity: u64,
}

/// `nat`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatReply {
    /// Per `[[nat.snat]]` rule.
    pub pools: Vec<NatPool>,
    /// The `[[nat.forward]]`s.
    pub forwards: Vec<NatForward>,
    /// Live mappings shown.
    pub mappings: Vec<NatMapping>,
    /// Mappings that exist.
    #[serde(default)]
    pub count: usize,
    /// More exist than are shown.
    pub truncated: bool,
}

/// Free ports of a pool, per protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Free {
    /// TCP.
    pub tcp: u64,
    /// UDP.
    pub udp: u64,
    /// ICMP identifiers.
    pub icmp: u64,
}

/// One SNAT rule's pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatPool {
    /// Its index.
    pub rule: usize,
    /// The source prefixes it translates.
    pub from: Vec<String>,
    /// Its external addresses.
    pub addresses: Vec<String>,
    /// Its port range.
    pub ports: [u16; 2],
    /// Ports free now, summed over the workers.
    pub free: Free,
}

/// One port forward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatForward {
    /// `tcp` or `udp`.
    pub proto: String,
    /// The external address.
    pub address: String,
    /// The external port.
    pub port: u16,
    /// The internal address.
    pub to: String,
    /// The internal port.
    pub to_port: u16,
}

/// One live mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatMapping {
    /// The worker whose table holds it.
    pub worker: usize,
    /// Protocol name.
    pub proto: String,
    /// `addr:port` inside.
    pub internal: String,
    /// `addr:port` outside.
    pub external: String,
    /// Connections using it.
    pub refs: u32,
}

/// `firewall`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallReply {
    /// A `[firewall]` is running.
    pub configured: bool,
    /// The default verdict.
    #[serde(default)]
    pub default: Option<String>,
    /// Every rule with its hits.
    pub rules: Vec<FwRule>,
    /// Every zone pair's policy with its hits.
    pub policies: Vec<FwPolicy>,
    /// Port forwards accepted without a rule.
    #[serde(default)]
    pub forwards_accepted: u64,
}

/// One firewall rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwRule {
    /// Its index.
    pub index: usize,
    /// Source zone (None: any).
    pub from: Option<String>,
    /// Destination zone.
    pub to: Option<String>,
    /// Source prefixes (empty: any).
    pub src: Vec<String>,
    /// Destination prefixes.
    pub dst: Vec<String>,
    /// Protocol.
    pub proto: Option<String>,
    /// Source ports.
    pub sport: Option<String>,
    /// Destination ports.
    pub dport: Option<String>,
    /// ICMP type.
    pub icmp_type: Option<u8>,
    /// Verdict.
    pub action: String,
    /// New connections it decided.
    pub hits: u64,
}

/// One zone pair's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwPolicy {
    /// Source zone.
    pub from: String,
    /// Destination zone.
    pub to: String,
    /// Verdict.
    pub action: String,
    /// Configured (else the default).
    pub configured: bool,
    /// TCP MSS clamp.
    pub mss: Option<u16>,
    /// New connections it decided.
    pub hits: u64,
}

/// `vtep`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtepReply {
    /// The VTEP (None when none is configured).
    pub vtep: Option<VtepInfo>,
}

/// The VTEP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtepInfo {
    /// Local address.
    pub ip: String,
    /// Local MAC.
    pub mac: String,
    /// UDP port.
    pub udp_port: u16,
    /// Underlay MTU.
    pub mtu: u16,
    /// The underlay port's name.
    pub port: Option<String>,
    /// VNI -> bridge.
    pub vnis: Vec<Vni>,
    /// Per remote VTEP.
    pub remotes: Vec<VtepStats>,
}

/// A VNI and its bridge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vni {
    /// The VNI.
    pub vni: u32,
    /// The bridge's name.
    pub bridge: String,
}

/// `trace add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceArmed {
    /// Packets marked per worker.
    pub armed: u64,
    /// Workers.
    pub workers: usize,
}

/// `trace clear`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleared {
    /// Always true.
    pub cleared: bool,
}

/// `trace show`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceShow {
    /// Traced packets, in the order they were first seen per worker.
    pub packets: Vec<TracePacket>,
    /// Packets still to be traced.
    pub left: u64,
}

/// One traced packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracePacket {
    /// Its worker.
    pub worker: usize,
    /// Its trace id.
    pub packet: u16,
    /// The nodes it passed.
    pub nodes: Vec<TraceHop>,
}

/// One node a traced packet passed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHop {
    /// The node.
    pub node: String,
    /// Where it sent the packet.
    pub next: String,
    /// When (ms of the worker's clock).
    pub ms: u64,
    /// Receiving port.
    pub in_port: String,
    /// Destination MAC.
    pub dst_mac: String,
    /// Source MAC.
    pub src_mac: String,
    /// EtherType, `0x....`.
    pub ethertype: String,
    /// VLAN tags.
    pub tags: u8,
    /// Its bridge, once classified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// The VTEP it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_vtep: Option<String>,
    /// Its 5-tuple, once parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Transmitting port, once chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_port: Option<String>,
}

/// `runtime`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    /// Counting is on.
    pub enabled: bool,
    /// Per node that ran, summed over the workers.
    pub nodes: Vec<NodeRow>,
}

/// One node's runtime counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    /// The node.
    pub node: String,
    /// Vectors it ran on.
    pub calls: u64,
    /// Packets.
    pub packets: u64,
    /// TSC cycles.
    pub cycles: u64,
    /// Cycles per packet.
    pub cycles_per_packet: f64,
    /// Packets per call.
    pub packets_per_call: f64,
}

/// `latency`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// `ns`.
    pub unit: String,
    /// Per worker.
    pub workers: Vec<LatencyRow>,
}

/// One worker's polling-round latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// Its lcore.
    pub lcore: Option<u32>,
    /// Rounds with packets measured.
    pub bursts: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
}

/// `config show`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigShow {
    /// The running config's path.
    pub path: String,
    /// Its generation.
    pub generation: u64,
    /// Its text as read.
    pub text: String,
}

/// What a reload did (`config reload`, SIGHUP).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The generation now running.
    pub generation: u64,
    /// From the request to every worker running the new snapshot, in microseconds.
    pub latency_us: f64,
    /// Of which parsing, validating and compiling (and bringing up added ports).
    pub compile_us: f64,
    /// Of which publishing: from the store to the last worker's adoption.
    pub publish_us: f64,
    /// Ports brought up.
    pub ports_added: Vec<String>,
    /// Ports stopped and closed.
    pub ports_removed: Vec<String>,
    /// Ports that kept running.
    pub ports_kept: Vec<String>,
    /// SR-IOV steps carried out before the publish (`[sriov]`), with their outcomes.
    pub sriov: Vec<Applied>,
}

/// `config check`: what a reload of the file would do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigCheck {
    /// The file.
    pub path: String,
    /// Ports it would bring up.
    pub ports_added: Vec<String>,
    /// Ports it would stop.
    pub ports_removed: Vec<String>,
    /// Ports that would keep running.
    pub ports_kept: Vec<String>,
    /// The SR-IOV steps it would take.
    pub sriov_plan: Vec<String>,
    /// Changed keys.
    pub changes: Vec<String>,
}

/// `config diff`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDiff {
    /// The file.
    pub path: String,
    /// Changed keys, one line each.
    pub changes: Vec<String>,
}

/// `vf list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfList {
    /// The configured PFs as the kernel has them.
    pub pfs: Vec<PfState>,
}

/// `vf set`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Steps {
    /// What was done.
    pub steps: Vec<Applied>,
    /// The PF afterwards.
    pub pf: Option<PfState>,
}

/// `sriov apply`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SriovApplied {
    /// Only planned.
    pub dry_run: bool,
    /// The plan (a dry run).
    #[serde(default)]
    pub plan: Vec<String>,
    /// What was done (otherwise).
    #[serde(default)]
    pub steps: Vec<Applied>,
    /// The PFs afterwards.
    #[serde(default)]
    pub pfs: Vec<PfState>,
}

/// `log`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogTypes {
    /// Every DPDK log type and its level.
    pub types: Vec<LogType>,
}

/// A DPDK log type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogType {
    /// Its name.
    #[serde(rename = "type")]
    pub name: String,
    /// Its level.
    pub level: String,
}

/// `log level`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLevel {
    /// The pattern.
    pub module: String,
    /// The level set.
    pub level: String,
    /// The types it matched.
    pub types: Vec<String>,
}

/// `clients`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clients {
    /// Every connected client.
    pub clients: Vec<ClientRow>,
}

/// One connected client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientRow {
    /// Its id (`clients kick`).
    pub id: u64,
    /// Peer credentials (SO_PEERCRED).
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Process.
    pub pid: i32,
    /// `admin` or `read-only`.
    pub role: String,
    /// Connected for.
    pub connected_s: f64,
    /// Requests answered.
    pub requests: u64,
    /// What it is doing.
    pub state: String,
    /// Holds a slot kept for admins.
    pub reserved: bool,
    /// The connection that asked.
    #[serde(rename = "self")]
    pub is_self: bool,
}

/// `clients kick`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kicked {
    /// The client closed.
    pub kicked: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    /// What vnfd writes (the answer and `"ok": true`) reads back as the same value.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(x: T) {
        let mut v = serde_json::to_value(&x).unwrap();
        v.as_object_mut().unwrap().insert("ok".into(), true.into());
        let back: T = serde_json::from_str(&v.to_string()).unwrap_or_else(|e| panic!("{e}: {v}"));
        assert_eq!(back, x);
    }

    #[test]
    fn every_answer_reads_back_as_written() {
        let port = PortStats {
            name: "wan".into(),
            devargs: "net_ring0".into(),
            driver: "net_ring".into(),
            mac: "02:00:00:00:00:01".into(),
            mtu: Some(1500),
            link: LinkInfo { up: true, speed_mbps: 10000, full_duplex: true },
            rx: 1,
            tx: 2,
            tx_full: 3,
            tx_retries: 0,
            hw: HwStats { imissed: 4, ..Default::default() },
        };
        round_trip(Ports { ports: vec![PortRow { stats: port.clone(), index: 0, port_id: 3, admin: "up".into() }] });
        let mut stats = Stats { ports: vec![port], mempool: MempoolStats::from_available(10, 4), ..Default::default() };
        stats.drops.insert("no-route".into(), 7);
        round_trip(StatsReply { stats, since_clear_s: Some(1.5) });
        round_trip(Listing {
            entries: vec![FdbEntry {
                worker: 0,
                bridge: "b10".into(),
                vlan: Some(10),
                mac: "02:00:00:00:00:02".into(),
                dest: "port a".into(),
                is_static: true,
                age_ms: None,
            }],
            count: 3,
            truncated: true,
        });
        round_trip(TraceShow {
            packets: vec![TracePacket {
                worker: 1,
                packet: 2,
                nodes: vec![TraceHop { node: "eth-input".into(), bridge: Some("b".into()), ..Default::default() }],
            }],
            left: 5,
        });
        round_trip(SriovApplied { dry_run: true, plan: vec!["x".into()], steps: vec![], pfs: vec![] });
        round_trip(VtepReply::default());
        round_trip(FirewallReply::default());
    }

    #[test]
    fn since_a_clear_counters_start_from_it_and_rates_cover_what_came_after() {
        let hz = 1_000_000_000;
        let w = |packets, first, last| WorkerStats {
            lcore: 1,
            packets,
            busy_cycles: packets * 100,
            first_rx_tsc: first,
            last_rx_tsc: last,
            ..Default::default()
        };
        let mut base = Stats { tsc_hz: hz, tsc: 5 * hz, elapsed_s: 5.0, ..Default::default() };
        base.workers.push(w(1_000, hz, 4 * hz));
        base.ports.push(PortStats { name: "a".into(), rx: 1_000, ..Default::default() });
        base.drops.insert("tx-full".into(), 7);
        let mut now = Stats { tsc_hz: hz, tsc: 9 * hz, elapsed_s: 9.0, ..Default::default() };
        // 3000 more packets from t = 6 s to t = 8 s.
        now.workers.push(w(4_000, hz, 8 * hz));
        now.ports.push(PortStats { name: "a".into(), rx: 4_000, ..Default::default() });
        now.ports.push(PortStats { name: "new".into(), rx: 5, ..Default::default() });
        now.drops.insert("tx-full".into(), 10);
        now.mempool = MempoolStats::from_available(100, 60);
        let d = now.since(&base);
        assert_eq!(d.elapsed_s, 4.0);
        assert_eq!((d.ports[0].rx, d.ports[1].rx), (3_000, 5), "a port the base lacks counts from 0");
        assert_eq!(d.drops["tx-full"], 3);
        assert_eq!(d.mempool.in_use, 40, "gauges are as they are now");
        let dw = &d.workers[0];
        assert_eq!((dw.packets, dw.busy_cycles, dw.cycles_per_packet), (3_000, 300_000, 100.0));
        // The interval after the clear: from the clear (t = 5 s) to the latest packet (8 s).
        assert_eq!((dw.active_s, dw.pps), (3.0, 1_000.0));
        // Nothing since: no rate.
        let idle = base.since(&base);
        assert_eq!((idle.workers[0].packets, idle.workers[0].active_s, idle.workers[0].pps), (0, 0.0, 0.0));
    }

    #[test]
    fn the_json_names_are_the_documented_ones() {
        let e = FdbEntry {
            worker: 0,
            bridge: "b".into(),
            vlan: None,
            mac: "m".into(),
            dest: "d".into(),
            is_static: false,
            age_ms: Some(5),
        };
        let v = serde_json::to_value(e).unwrap();
        assert_eq!((v["static"].as_bool(), v["age_ms"].as_u64()), (Some(false), Some(5)));
        let h = serde_json::to_value(TraceHop::default()).unwrap();
        assert!(h.get("bridge").is_none(), "unset trace fields are left out: {h}");
        let t = serde_json::to_value(LogType { name: "lib.eal".into(), level: "info".into() }).unwrap();
        assert_eq!(t["type"], "lib.eal");
        assert_eq!(LinkInfo { up: true, speed_mbps: 100, full_duplex: true }.to_string(), "up,100M");
        let m = MempoolStats::from_available(8191, 9000);
        assert_eq!((m.in_use, m.available), (0, 8191));
    }
}
