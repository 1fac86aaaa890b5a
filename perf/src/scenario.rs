//! Benchmark scenarios: the traffic each one sends and the vnfd config it runs.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use vnf_core::gen::FlowSet;
use vnf_core::pcap;

/// What vnfd does to the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Port cross-connect: port 0 -> port 1 untouched (the same work as testpmd io).
    Xconnect,
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "xconnect" => Ok(Scenario::Xconnect),
            _ => Err(format!("unknown scenario {s:?} (known: xconnect)")),
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
        }
    }

    /// Writes the traffic and builds the config for `flows` flows of `frame`-byte frames.
    pub fn prepare(&self, dir: &Path, flows: u32, frame: usize) -> Result<Case, String> {
        let pcap = dir.join(format!("{}-{flows}-{frame}.pcap", self.name()));
        let frames = write_flows(&pcap, flows, frame)?;
        let p = pcap.display();
        let vnfd_config = match self {
            Scenario::Xconnect => format!(
                r#"[dataplane]
workers = [1]
burst = 32
mempool_size = {pool}
[[port]]
name = "gen"
devargs = "net_pcap0,rx_pcap={p},infinite_rx=1"
[[port]]
name = "sink"
devargs = "net_null0,no-rx=1"
[[xconnect]]
a = "gen"
b = "sink"
"#,
                pool = pool_size(frames)
            ),
        };
        Ok(Case { pcap, frames, vnfd_config })
    }
}

/// Mbufs for a run: net_pcap's infinite_rx keeps one mbuf per frame of the file.
pub fn pool_size(frames: u32) -> u32 {
    ((frames + 16384).next_power_of_two()) - 1
}

/// Writes `flows` flows of `frame`-byte frames as a pcap; returns the frame count.
pub fn write_flows(path: &Path, flows: u32, frame: usize) -> Result<u32, String> {
    if flows == 0 {
        return Err("--flows must be at least 1".into());
    }
    if !(64..=1518).contains(&frame) {
        return Err(format!("--frame {frame} is not in 64..=1518"));
    }
    let set = FlowSet { flows, wire_len: frame, ..Default::default() };
    let mut out = pcap::header(65535).to_vec();
    for i in 0..flows {
        pcap::push_record(&mut out, i as u64 * 1000, &set.frame(i));
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(flows)
}
