//! `[dataplane]` and `[eal]`: workers, bursts, descriptors, the mempool, and how the rx
//! queues are dealt to the workers.

use super::{check_desc, Config, ConfigError, HANDOFF_RING, MAX_BURST, MAX_LCORE};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// `[dataplane]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dataplane {
    /// The lcore of the main (control) thread.
    pub main_lcore: u32,
    /// One worker is launched on each of these lcores.
    pub workers: Vec<u32>,
    /// Packets per rx burst.
    pub burst: u16,
    /// Mbufs in the packet pool.
    pub mempool_size: u32,
    /// Per-lcore mempool cache.
    pub mempool_cache: u32,
    /// Data room of each mbuf, headroom included.
    pub mbuf_data_room: u16,
    /// Default rx descriptors per queue.
    pub rx_desc: u16,
    /// Default tx descriptors per queue.
    pub tx_desc: u16,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            main_lcore: 0,
            workers: vec![1],
            burst: 32,
            mempool_size: 16383,
            mempool_cache: 256,
            mbuf_data_room: 2048 + 128,
            rx_desc: 1024,
            tx_desc: 1024,
        }
    }
}

/// `[eal]`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eal {
    /// Extra EAL arguments (e.g. `--in-memory`, `--no-pci`). `-l`/`--main-lcore` are
    /// derived from `[dataplane]` unless given here.
    pub args: Vec<String>,
}

/// Where a worker polls: a port index and one of its rx queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxQueue {
    /// Index into [`Config::ports`].
    pub port: usize,
    /// Queue id on that port.
    pub queue: u16,
}

impl Config {
    pub(super) fn validate_dataplane(&self) -> Result<(), ConfigError> {
        let d = &self.dataplane;
        if d.workers.is_empty() {
            return Err(ConfigError::new("dataplane.workers", "at least one worker lcore is needed"));
        }
        let mut seen = HashSet::new();
        for (i, &w) in d.workers.iter().enumerate() {
            let key = format!("dataplane.workers[{i}]");
            if w >= MAX_LCORE {
                return Err(ConfigError::new(key, format!("lcore {w} is not below {MAX_LCORE}")));
            }
            if w == d.main_lcore {
                return Err(ConfigError::new(key, format!("lcore {w} is the main lcore")));
            }
            if !seen.insert(w) {
                return Err(ConfigError::new(key, format!("lcore {w} is listed twice")));
            }
        }
        if d.main_lcore >= MAX_LCORE {
            return Err(ConfigError::new(
                "dataplane.main_lcore",
                format!("lcore {} is not below {MAX_LCORE}", d.main_lcore),
            ));
        }
        if d.burst == 0 || d.burst > MAX_BURST {
            return Err(ConfigError::new("dataplane.burst", format!("{} is not in 1..={MAX_BURST}", d.burst)));
        }
        if d.mbuf_data_room < 256 + 128 {
            return Err(ConfigError::new(
                "dataplane.mbuf_data_room",
                format!("{} is below 384 (128 headroom + 256 data)", d.mbuf_data_room),
            ));
        }
        if d.mempool_cache > 512 {
            return Err(ConfigError::new(
                "dataplane.mempool_cache",
                format!("{} is above DPDK's limit of 512", d.mempool_cache),
            ));
        }
        check_desc("dataplane.rx_desc", d.rx_desc)?;
        check_desc("dataplane.tx_desc", d.tx_desc)?;
        self.check_mempool()
    }

    /// Which rx queues each worker polls: all queues of all ports, dealt round-robin over
    /// the workers in port order, so with one queue per port and as many workers as ports
    /// each worker polls one port.
    pub fn rx_plan(&self) -> Vec<Vec<RxQueue>> {
        let n = self.dataplane.workers.len();
        let mut plan = vec![Vec::new(); n];
        let mut k = 0;
        for (port, p) in self.ports.iter().enumerate() {
            for queue in 0..p.rx_queues {
                plan[k % n].push(RxQueue { port, queue });
                k += 1;
            }
        }
        plan
    }

    /// Mbufs the configured queues, bursts and caches can hold at once: the pool must be
    /// larger than this or the rx queues starve.
    pub fn mbufs_needed(&self) -> u64 {
        let d = &self.dataplane;
        let workers = d.workers.len() as u64;
        let mut n = 0u64;
        for p in &self.ports {
            n += p.rx_queues as u64 * p.rx_desc.unwrap_or(d.rx_desc) as u64;
            n += workers * p.tx_desc.unwrap_or(d.tx_desc) as u64;
            // per-worker tx buffer for this port
            n += workers * 2 * d.burst as u64;
        }
        n += workers * d.burst as u64;
        n += (workers + 1) * d.mempool_cache as u64 * 3 / 2;
        if workers > 1 && self.stateful() {
            // Each worker's handoff ring can hold a full ring of packets for its owner.
            n += workers * HANDOFF_RING as u64;
        }
        n
    }

    /// Checks that the mempool is large enough for the queues (part of validation, so the
    /// error names the key rather than the dataplane failing at start).
    fn check_mempool(&self) -> Result<(), ConfigError> {
        let need = self.mbufs_needed();
        if (self.dataplane.mempool_size as u64) < need {
            return Err(ConfigError::new(
                "dataplane.mempool_size",
                format!(
                    "{} mbufs cannot fill the configured queues, bursts and caches; at least {need} are needed",
                    self.dataplane.mempool_size
                ),
            ));
        }
        Ok(())
    }
}
