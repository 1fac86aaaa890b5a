//! The configuration model: one TOML file, parsed with serde, then validated.
//!
//! Every refused input names its key: parse errors carry the serde path of the bad value
//! (`port[1].mtu`) and the line it is on; semantic checks name the key they reject.
//! A [`Config`] that [`Config::parse`] returned is valid; [`Config::rx_plan`] and
//! [`Config::xconnect_table`] compile it into the tables the workers run from.

use crate::wire::MacAddr;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Largest rx burst a worker asks for (and the size of its per-port tx buffers).
pub const MAX_BURST: u16 = 256;
/// Most lcores DPDK 22.11 is built for by default.
pub const MAX_LCORE: u32 = 128;

/// A refused configuration: where, which key, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the config came from, when known.
    pub file: Option<String>,
    /// The line of the offending value, when known (1-based).
    pub line: Option<usize>,
    /// The key path, e.g. `port[1].mtu` or `xconnect[0].b`.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { file: None, line: None, key: key.into(), reason: reason.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": ")?;
        } else if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.key.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Workers, burst size, mempool.
    #[serde(default)]
    pub dataplane: Dataplane,
    /// EAL arguments.
    #[serde(default)]
    pub eal: Eal,
    /// Ports, in order; their index is the port index used in counters.
    #[serde(default, rename = "port")]
    pub ports: Vec<Port>,
    /// Port pairs that forward to each other in both directions.
    #[serde(default)]
    pub xconnect: Vec<Xconnect>,
}

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

/// `[[port]]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Name used everywhere else in the config and in counters.
    pub name: String,
    /// DPDK device arguments: `net_ring0`, `net_pcap0,rx_pcap=in.pcap`, `0000:03:00.1`, ...
    pub devargs: String,
    /// Rx queues; spread over the workers.
    #[serde(default = "one")]
    pub rx_queues: u16,
    /// Rx descriptors per queue (default: `dataplane.rx_desc`).
    #[serde(default)]
    pub rx_desc: Option<u16>,
    /// Tx descriptors per queue (default: `dataplane.tx_desc`).
    #[serde(default)]
    pub tx_desc: Option<u16>,
    /// MTU to set; the device's own when absent.
    #[serde(default)]
    pub mtu: Option<u16>,
    /// MAC address to set; the device's own when absent.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// Receive every frame regardless of destination MAC.
    #[serde(default = "yes")]
    pub promiscuous: bool,
}

fn one() -> u16 {
    1
}
fn yes() -> bool {
    true
}

/// `[[xconnect]]`: `a` and `b` forward to each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Xconnect {
    /// One port name.
    pub a: String,
    /// The other port name.
    pub b: String,
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
    /// Parses and validates a TOML config. `file` only labels errors.
    pub fn parse(text: &str, file: Option<&str>) -> Result<Config, ConfigError> {
        let label = |mut e: ConfigError| {
            e.file = file.map(str::to_owned);
            e
        };
        let de = toml::Deserializer::new(text);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.span().map(|s| line_of(text, s.start));
            let mut err = ConfigError::new(if path == "." { String::new() } else { path }, inner.message());
            err.line = line;
            label(err)
        })?;
        cfg.validate().map_err(label)?;
        Ok(cfg)
    }

    /// Checks everything serde cannot: ranges, names, references, uniqueness.
    pub fn validate(&self) -> Result<(), ConfigError> {
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
            return Err(ConfigError::new("dataplane.main_lcore", format!("lcore {} is not below {MAX_LCORE}", d.main_lcore)));
        }
        if d.burst == 0 || d.burst > MAX_BURST {
            return Err(ConfigError::new("dataplane.burst", format!("{} is not in 1..={MAX_BURST}", d.burst)));
        }
        if d.mbuf_data_room < 256 + 128 {
            return Err(ConfigError::new("dataplane.mbuf_data_room", format!("{} is below 384 (128 headroom + 256 data)", d.mbuf_data_room)));
        }
        if d.mempool_cache > 512 {
            return Err(ConfigError::new("dataplane.mempool_cache", format!("{} is above DPDK's limit of 512", d.mempool_cache)));
        }
        check_desc("dataplane.rx_desc", d.rx_desc)?;
        check_desc("dataplane.tx_desc", d.tx_desc)?;

        let mut names = HashMap::new();
        let mut devs = HashMap::new();
        for (i, p) in self.ports.iter().enumerate() {
            let key = |f: &str| format!("port[{i}].{f}");
            if p.name.is_empty() || p.name.len() > 32 || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(ConfigError::new(key("name"), format!("{:?} must be 1 to 32 characters of [A-Za-z0-9_-]", p.name)));
            }
            if let Some(j) = names.insert(p.name.as_str(), i) {
                return Err(ConfigError::new(key("name"), format!("{:?} is already the name of port[{j}]", p.name)));
            }
            let dev = p.device_name();
            if dev.is_empty() || p.devargs.chars().any(char::is_whitespace) {
                return Err(ConfigError::new(key("devargs"), format!("{:?} is not a device name with optional ,key=value arguments", p.devargs)));
            }
            if let Some(j) = devs.insert(dev, i) {
                return Err(ConfigError::new(key("devargs"), format!("device {dev:?} is already used by port[{j}]")));
            }
            if p.rx_queues == 0 || p.rx_queues > 64 {
                return Err(ConfigError::new(key("rx_queues"), format!("{} is not in 1..=64", p.rx_queues)));
            }
            if let Some(n) = p.rx_desc {
                check_desc(&key("rx_desc"), n)?;
            }
            if let Some(n) = p.tx_desc {
                check_desc(&key("tx_desc"), n)?;
            }
            if let Some(mtu) = p.mtu {
                if !(68..=9600).contains(&mtu) {
                    return Err(ConfigError::new(key("mtu"), format!("{mtu} is not in 68..=9600")));
                }
            }
            if let Some(mac) = p.mac {
                if mac.is_multicast() || mac == MacAddr::default() {
                    return Err(ConfigError::new(key("mac"), format!("{mac} is not a unicast address")));
                }
            }
        }
        let mut used: HashMap<&str, usize> = HashMap::new();
        for (i, x) in self.xconnect.iter().enumerate() {
            for (f, n) in [("a", &x.a), ("b", &x.b)] {
                let key = format!("xconnect[{i}].{f}");
                if !names.contains_key(n.as_str()) {
                    return Err(ConfigError::new(key, format!("no port is named {n:?}")));
                }
                if let Some(j) = used.insert(n, i) {
                    return Err(ConfigError::new(key, format!("port {n:?} is already cross-connected by xconnect[{j}]")));
                }
            }
            if x.a == x.b {
                return Err(ConfigError::new(format!("xconnect[{i}].b"), "a port cannot be cross-connected to itself"));
            }
        }
        Ok(())
    }

    /// Index of the port named `name`.
    pub fn port_index(&self, name: &str) -> Option<usize> {
        self.ports.iter().position(|p| p.name == name)
    }

    /// For each port index, the port its traffic goes to (None: the port forwards nothing).
    pub fn xconnect_table(&self) -> Vec<Option<usize>> {
        let mut t = vec![None; self.ports.len()];
        for x in &self.xconnect {
            if let (Some(a), Some(b)) = (self.port_index(&x.a), self.port_index(&x.b)) {
                t[a] = Some(b);
                t[b] = Some(a);
            }
        }
        t
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
        n
    }

    /// Checks that the mempool is large enough for the queues (done by the dataplane before
    /// creating anything, so the error names the key rather than failing at start).
    pub fn check_mempool(&self) -> Result<(), ConfigError> {
        let need = self.mbufs_needed();
        if (self.dataplane.mempool_size as u64) < need {
            return Err(ConfigError::new(
                "dataplane.mempool_size",
                format!("{} mbufs cannot fill the configured queues, bursts and caches; at least {need} are needed", self.dataplane.mempool_size),
            ));
        }
        Ok(())
    }
}

impl Port {
    /// The device name: devargs up to the first comma.
    pub fn device_name(&self) -> &str {
        self.devargs.split(',').next().unwrap_or("").trim()
    }
}

fn check_desc(key: &str, n: u16) -> Result<(), ConfigError> {
    if !(32..=16384).contains(&n) || !n.is_power_of_two() {
        return Err(ConfigError::new(key, format!("{n} is not a power of two in 32..=16384")));
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[dataplane]
workers = [1]
burst = 32

[eal]
args = ["--no-pci"]

[[port]]
name = "p0"
devargs = "net_ring0"

[[port]]
name = "p1"
devargs = "net_pcap0,rx_pcap=/tmp/in.pcap,tx_pcap=/tmp/out.pcap"
mtu = 1500
mac = "02:00:00:00:00:01"

[[xconnect]]
a = "p0"
b = "p1"
"#;

    fn err(text: &str) -> ConfigError {
        Config::parse(text, Some("t.toml")).expect_err("config must be refused")
    }

    fn with(old: &str, new: &str) -> String {
        assert!(GOOD.contains(old), "{old}");
        GOOD.replacen(old, new, 1)
    }

    #[test]
    fn good_config_parses_with_defaults() {
        let c = Config::parse(GOOD, None).unwrap();
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.ports[0].rx_queues, 1);
        assert!(c.ports[0].promiscuous);
        assert_eq!(c.ports[1].device_name(), "net_pcap0");
        assert_eq!(c.ports[1].mac.unwrap().to_string(), "02:00:00:00:00:01");
        assert_eq!(c.dataplane.mempool_size, 16383);
        assert_eq!(c.xconnect_table(), vec![Some(1), Some(0)]);
        assert_eq!(c.rx_plan(), vec![vec![RxQueue { port: 0, queue: 0 }, RxQueue { port: 1, queue: 0 }]]);
        c.check_mempool().unwrap();
    }

    #[test]
    fn empty_config_is_valid() {
        let c = Config::parse("", None).unwrap();
        assert_eq!(c.dataplane, Dataplane::default());
        assert!(c.ports.is_empty());
    }

    #[test]
    fn unknown_key_is_named_with_line() {
        let e = err(&with("mtu = 1500", "mtu = 1500\nspeed = 10"));
        assert_eq!(e.key, "port[1].speed");
        assert!(e.reason.contains("unknown field `speed`"), "{e}");
        assert_eq!(e.line, Some(17));
        assert!(e.to_string().starts_with("t.toml:17: port[1].speed: unknown field `speed`"), "{e}");
        let e = err("[dataplan]\nworkers=[1]\n");
        assert_eq!(e.key, "dataplan");
        assert!(e.reason.contains("unknown field `dataplan`"), "{e}");
    }

    #[test]
    fn bad_value_types_are_named() {
        let e = err(&with("mtu = 1500", "mtu = \"big\""));
        assert_eq!(e.key, "port[1].mtu");
        let e = err(&with("mtu = 1500", "mtu = 70000"));
        assert_eq!(e.key, "port[1].mtu");
        let e = err(&with("mac = \"02:00:00:00:00:01\"", "mac = \"02:00:00:00:01\""));
        assert_eq!(e.key, "port[1].mac");
        assert!(e.reason.contains("six hex octets"), "{e}");
        let e = err(&with("burst = 32", "burst = -1"));
        assert_eq!(e.key, "dataplane.burst");
        let e = err(&with("name = \"p0\"\n", ""));
        assert_eq!(e.key, "port[0]");
        assert!(e.reason.contains("missing field `name`"), "{e}");
        let e = err("[dataplane\n");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn semantic_errors_name_their_key() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("workers = [1]", "workers = []", "dataplane.workers", "at least one"),
            ("workers = [1]", "workers = [0]", "dataplane.workers[0]", "main lcore"),
            ("workers = [1]", "workers = [1, 1]", "dataplane.workers[1]", "twice"),
            ("workers = [1]", "workers = [200]", "dataplane.workers[0]", "below"),
            ("burst = 32", "burst = 0", "dataplane.burst", "1..=256"),
            ("burst = 32", "burst = 1000", "dataplane.burst", "1..=256"),
            ("burst = 32", "rx_desc = 1000", "dataplane.rx_desc", "power of two"),
            ("burst = 32", "mempool_cache = 1000", "dataplane.mempool_cache", "512"),
            ("burst = 32", "mbuf_data_room = 200", "dataplane.mbuf_data_room", "384"),
            ("name = \"p1\"", "name = \"p0\"", "port[1].name", "already the name of port[0]"),
            ("name = \"p1\"", "name = \"bad name\"", "port[1].name", "[A-Za-z0-9_-]"),
            ("name = \"p1\"", "name = \"\"", "port[1].name", "1 to 32"),
            ("devargs = \"net_ring0\"", "devargs = \"\"", "port[0].devargs", "device name"),
            ("devargs = \"net_ring0\"", "devargs = \"net_pcap0,x=1\"", "port[1].devargs", "already used by port[0]"),
            ("mtu = 1500", "mtu = 60", "port[1].mtu", "68..=9600"),
            ("mtu = 1500", "rx_queues = 0", "port[1].rx_queues", "1..=64"),
            ("mtu = 1500", "tx_desc = 100", "port[1].tx_desc", "power of two"),
            ("mac = \"02:00:00:00:00:01\"", "mac = \"01:00:5e:00:00:01\"", "port[1].mac", "unicast"),
            ("b = \"p1\"", "b = \"p9\"", "xconnect[0].b", "no port is named \"p9\""),
            ("b = \"p1\"", "b = \"p0\"", "xconnect[0].b", "already cross-connected"),
        ];
        for (old, new, key, reason) in cases {
            let e = err(&with(old, new));
            assert_eq!(&e.key, key, "{new}: {e}");
            assert!(e.reason.contains(reason), "{new}: {e}");
            assert!(e.to_string().starts_with(&format!("t.toml: {key}: ")), "{e}");
        }
        let twice = format!("{GOOD}\n[[xconnect]]\na = \"p1\"\nb = \"p0\"\n");
        assert_eq!(err(&twice).key, "xconnect[1].a");
    }

    #[test]
    fn small_mempool_is_refused_naming_the_key() {
        let c = Config::parse(&with("burst = 32", "burst = 32\nmempool_size = 1000"), None).unwrap();
        let e = c.check_mempool().unwrap_err();
        assert_eq!(e.key, "dataplane.mempool_size");
        assert!(e.reason.contains("at least"), "{e}");
    }

    #[test]
    fn rx_queues_are_dealt_round_robin() {
        let c = Config::parse(
            &with("workers = [1]", "workers = [1, 2]").replace("devargs = \"net_ring0\"", "devargs = \"net_ring0\"\nrx_queues = 3"),
            None,
        )
        .unwrap();
        let q = |port, queue| RxQueue { port, queue };
        assert_eq!(c.rx_plan(), vec![vec![q(0, 0), q(0, 2)], vec![q(0, 1), q(1, 0)]]);
    }
}
