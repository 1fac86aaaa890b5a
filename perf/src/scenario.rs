//! Benchmark scenarios: the traffic each one sends and the vnfd config it runs.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use vnf_core::gen::FlowSet;
use vnf_core::pcap;
use vnf_core::wire::MacAddr;

/// What vnfd does to the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Port cross-connect: port 0 -> port 1 untouched (the same work as testpmd io).
    Xconnect,
    /// Bridging from a trunk (802.1Q tag 10 in) to an access port (untagged out), one
    /// source MAC learned per flow, destination a static MAC.
    L2Pop,
    /// Bridging from an access port (untagged in) to a trunk (tag 10 pushed).
    L2Push,
    /// IPv4 routing between two VLANs: parse, checksum check, LPM, neighbour lookup, TTL,
    /// MAC rewrite.
    Route,
}

const ALL: &str = "xconnect, l2-pop, l2-push, route";

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "xconnect" => Ok(Scenario::Xconnect),
            "l2-pop" => Ok(Scenario::L2Pop),
            "l2-push" => Ok(Scenario::L2Push),
            "route" => Ok(Scenario::Route),
            _ => Err(format!("unknown scenario {s:?} (known: {ALL})")),
        }
    }
}

/// One prepared case: the pcap to replay and the vnfd config to run.
pub struct Case {
    /// The flows file.
    pub pcap: PathBuf,
    /// Frames in it (each preloaded into an mbuf by net_pcap's infinite_rx).
    pub frames: u32,
    /// vnfd's config, minus EAL file prefix.
    pub vnfd_config: String,
}

impl Scenario {
    /// Name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Xconnect => "xconnect",
            Scenario::L2Pop => "l2-pop",
            Scenario::L2Push => "l2-push",
            Scenario::Route => "route",
        }
    }

    /// Writes the traffic and builds the config for `flows` flows of `frame`-byte frames.
    pub fn prepare(&self, dir: &Path, flows: u32, frame: usize) -> Result<Case, String> {
        let pcap = dir.join(format!("{}-{flows}-{frame}.pcap", self.name()));
        let set = match self {
            Scenario::Xconnect => FlowSet { flows, wire_len: frame, ..Default::default() },
            Scenario::L2Pop => FlowSet { flows, wire_len: frame, vary_src_mac: true, vlan: Some(10), ..Default::default() },
            Scenario::L2Push => FlowSet { flows, wire_len: frame, vary_src_mac: true, ..Default::default() },
            Scenario::Route => FlowSet { flows, wire_len: frame, dst_mac: GW10, ..Default::default() },
        };
        let frames = write_set(&pcap, &set)?;
        let p = pcap.display();
        let pool = pool_size(frames);
        let ports = |gen: &str, sink: &str| {
            format!(
                "[dataplane]\nworkers = [1]\nburst = 32\nmempool_size = {pool}\n[[port]]\nname = \"gen\"\ndevargs = \"net_pcap0,rx_pcap={p},infinite_rx=1\"\n{gen}\n[[port]]\nname = \"sink\"\ndevargs = \"net_null0,no-rx=1\"\n{sink}\n"
            )
        };
        let vnfd_config = match self {
            Scenario::L2Pop | Scenario::L2Push => {
                let (g, s) = if *self == Scenario::L2Pop {
                    ("mode = \"trunk\"\nallowed_vlans = [10]", "mode = \"access\"\nvlan = 10")
                } else {
                    ("mode = \"access\"\nvlan = 10", "mode = \"trunk\"\nallowed_vlans = [10]")
                };
                format!(
                    "{}[bridging]\nfdb_size = {}\n[[bridge]]\nname = \"v10\"\nvlan = 10\n[[bridge.static_mac]]\nmac = \"02:00:00:00:00:02\"\nport = \"sink\"\n",
                    ports(g, s),
                    (flows * 2).next_power_of_two().max(1024)
                )
            }
            Scenario::Route => format!(
                "{}[[bridge]]\nname = \"v10\"\nvlan = 10\ngateway = \"198.18.255.254/16\"\n[[bridge]]\nname = \"v20\"\nvlan = 20\ngateway = \"198.19.0.254/24\"\n[[bridge.static_mac]]\nmac = \"02:00:00:00:00:02\"\nport = \"sink\"\n[[bridge.neighbor]]\nip = \"198.19.0.1\"\nmac = \"02:00:00:00:00:02\"\n",
                ports("mode = \"access\"\nvlan = 10", "mode = \"access\"\nvlan = 20")
            ),
            Scenario::Xconnect => format!("{}[[xconnect]]\na = \"gen\"\nb = \"sink\"\n", ports("", "")),
        };
        Ok(Case { pcap, frames, vnfd_config })
    }
}

/// Mbufs for a run: net_pcap's infinite_rx keeps one mbuf per frame of the file.
pub fn pool_size(frames: u32) -> u32 {
    ((frames + 16384).next_power_of_two()) - 1
}

/// The gateway MAC of VLAN 10 (vnfd's default for a bridge without `gateway_mac`).
const GW10: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0x00, 0x0a]);

/// Writes `flows` flows of `frame`-byte frames as a pcap; returns the frame count.
pub fn write_flows(path: &Path, flows: u32, frame: usize) -> Result<u32, String> {
    write_set(path, &FlowSet { flows, wire_len: frame, ..Default::default() })
}

fn write_set(path: &Path, set: &FlowSet) -> Result<u32, String> {
    if set.flows == 0 {
        return Err("--flows must be at least 1".into());
    }
    if !(64..=1518).contains(&set.wire_len) {
        return Err(format!("--frame {} is not in 64..=1518", set.wire_len));
    }
    let mut out = pcap::header(65535).to_vec();
    for i in 0..set.flows {
        pcap::push_record(&mut out, i as u64 * 1000, &set.frame(i));
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(set.flows)
}
