//! Benchmark scenarios: the traffic each one sends and the vnfd config it runs.

use std::net::Ipv4Addr;
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
    /// The same routing into a port with a 1280-byte MTU, packets without DF: each one
    /// larger than that is fragmented (run it with `--frame 1518` beside `route`).
    RouteFrag,
    /// VXLAN encapsulation: frames from an access port to a MAC behind a remote VTEP (an
    /// underlay MTU of 1600, as operators set it, so a 1518-byte frame fits encapsulated).
    VxlanEncap,
    /// VXLAN decapsulation: tunnelled frames from the underlay to an access port.
    VxlanDecap,
    /// Routing with connection tracking and source NAT, established flows: the first pass
    /// over the flows creates them, every later packet is looked up and translated.
    Nat,
    /// The same NAT into a port with a 1280-byte MTU, packets without DF: each one larger
    /// than that is translated, then fragmented (run it with `--frame 1518` beside `nat`).
    NatFrag,
    /// New connections: the same but with a 1 s UDP timeout and more flows than the rate
    /// repeats in a second, so (once the table is in steady state) every packet creates a
    /// connection and a mapping and an old one expires. Rates come from `ct-new`.
    NatNew,
    /// `nat` with the event log on (`[event_log] file = "/dev/null"`: the formatting and
    /// writing are done, nothing is stored): established flows log nothing, so this shows
    /// what having the log costs the fast path.
    NatLog,
    /// `nat-new` with the event log on: every packet logs a mapping's creation and, once the
    /// table is in steady state, another's deletion.
    NatNewLog,
}

const ALL: &str =
    "xconnect, l2-pop, l2-push, route, route-frag, vxlan-encap, vxlan-decap, nat, nat-frag, nat-new, nat-log, nat-new-log";

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "xconnect" => Ok(Scenario::Xconnect),
            "l2-pop" => Ok(Scenario::L2Pop),
            "l2-push" => Ok(Scenario::L2Push),
            "route" => Ok(Scenario::Route),
            "route-frag" => Ok(Scenario::RouteFrag),
            "vxlan-encap" => Ok(Scenario::VxlanEncap),
            "vxlan-decap" => Ok(Scenario::VxlanDecap),
            "nat" => Ok(Scenario::Nat),
            "nat-frag" => Ok(Scenario::NatFrag),
            "nat-new" => Ok(Scenario::NatNew),
            "nat-log" => Ok(Scenario::NatLog),
            "nat-new-log" => Ok(Scenario::NatNewLog),
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
    /// Mbuf data room both programs use.
    pub mbuf_room: u32,
}

impl Scenario {
    /// Name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Xconnect => "xconnect",
            Scenario::L2Pop => "l2-pop",
            Scenario::L2Push => "l2-push",
            Scenario::Route => "route",
            Scenario::RouteFrag => "route-frag",
            Scenario::VxlanEncap => "vxlan-encap",
            Scenario::VxlanDecap => "vxlan-decap",
            Scenario::Nat => "nat",
            Scenario::NatFrag => "nat-frag",
            Scenario::NatNew => "nat-new",
            Scenario::NatLog => "nat-log",
            Scenario::NatNewLog => "nat-new-log",
        }
    }

    /// The flows this scenario sends: `flows` flows of `frame`-byte frames (on the wire).
    fn flowset(&self, flows: u32, frame: usize) -> FlowSet {
        match self {
            Scenario::Xconnect => FlowSet { flows, wire_len: frame, ..Default::default() },
            Scenario::L2Pop => FlowSet { flows, wire_len: frame, vlan: Some(10), ..HOSTS_OF_GEN },
            Scenario::L2Push => FlowSet { flows, wire_len: frame, ..HOSTS_OF_GEN },
            Scenario::Route | Scenario::Nat | Scenario::NatNew | Scenario::NatLog | Scenario::NatNewLog => {
                FlowSet { flows, wire_len: frame, dst_mac: GW10, ..HOSTS_OF_V10 }
            }
            Scenario::RouteFrag | Scenario::NatFrag => {
                FlowSet { flows, wire_len: frame, dst_mac: GW10, dont_frag: false, ..HOSTS_OF_V10 }
            }
            Scenario::VxlanEncap | Scenario::VxlanDecap => FlowSet { flows, wire_len: frame, ..HOSTS_OF_GEN },
        }
    }

    /// The frames of `flows` flows of `frame` bytes, one per flow, as the generator port
    /// sends them (VXLAN-encapsulated for `vxlan-decap`).
    pub fn frames(&self, flows: u32, frame: usize) -> Result<Vec<Vec<u8>>, String> {
        if flows == 0 {
            return Err("--flows must be at least 1".into());
        }
        if !(64..=1518).contains(&frame) {
            return Err(format!("--frame {frame} is not in 64..=1518"));
        }
        let set = self.flowset(flows, frame);
        Ok(if *self == Scenario::VxlanDecap { vxlan_frames(&set) } else { set.frames() })
    }

    /// Writes the traffic and builds the config for `flows` flows of `frame`-byte frames.
    pub fn prepare(&self, dir: &Path, flows: u32, frame: usize) -> Result<Case, String> {
        let pcap = dir.join(format!("{}-{flows}-{frame}.pcap", self.name()));
        let frames = write_frames(&pcap, &self.frames(flows, frame)?)?;
        let pool = pool_size(frames);
        let room = mbuf_room(frame, frames);
        let gen = format!("net_pcap0,rx_pcap={},infinite_rx=1", pcap.display());
        let vnfd_config = self.config(flows, &gen, "net_null0,no-rx=1", pool, room);
        Ok(Case { pcap, frames, vnfd_config, mbuf_room: room })
    }

    /// vnfd's config for this scenario with port `gen` (traffic in) on `gen_dev` and port
    /// `sink` (traffic out) on `sink_dev`, minus the `[eal]` section.
    pub fn config(&self, flows: u32, gen_dev: &str, sink_dev: &str, pool: u32, room: u32) -> String {
        let ports = |gen: &str, sink: &str| {
            format!(
                "[dataplane]\nworkers = [1]\nburst = 32\nmempool_size = {pool}\nmbuf_data_room = {room}\n[[port]]\nname = \"gen\"\ndevargs = \"{gen_dev}\"\n{gen}\n[[port]]\nname = \"sink\"\ndevargs = \"{sink_dev}\"\n{sink}\n"
            )
        };
        match self {
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
            Scenario::VxlanEncap | Scenario::VxlanDecap => {
                let (g, s) = if *self == Scenario::VxlanEncap { ("mode = \"access\"\nvlan = 10", "") } else { ("", "mode = \"access\"\nvlan = 10") };
                let underlay = if *self == Scenario::VxlanEncap { "sink" } else { "gen" };
                let static_mac = if *self == Scenario::VxlanEncap {
                    format!("[[bridge.remote_mac]]\nmac = \"02:00:00:00:00:02\"\nvtep = \"{VTEP_REMOTE}\"\n")
                } else {
                    "[[bridge.static_mac]]\nmac = \"02:00:00:00:00:02\"\nport = \"sink\"\n".to_string()
                };
                format!(
                    "{}[bridging]\nfdb_size = {}\n[vtep]\nunderlay = \"{underlay}\"\naddress = \"{VTEP_LOCAL}/24\"\nmac = \"{VTEP_MAC}\"\nmtu = 1600\n[[vtep.neighbor]]\nip = \"{VTEP_REMOTE}\"\nmac = \"{VTEP_REMOTE_MAC}\"\n[[bridge]]\nname = \"v10\"\nvlan = 10\nvni = {VNI}\nremote_vteps = [\"{VTEP_REMOTE}\"]\n{static_mac}",
                    ports(g, s),
                    (flows * 2).next_power_of_two().max(1024)
                )
            }
            Scenario::Route | Scenario::RouteFrag => format!(
                "{}[[bridge]]\nname = \"v10\"\nvlan = 10\ngateway = \"198.18.255.254/16\"\ngateway_mac = \"02:76:6e:66:00:0a\"\n[[bridge]]\nname = \"v20\"\nvlan = 20\ngateway = \"198.19.0.254/24\"\ngateway_mac = \"02:76:6e:66:00:14\"\n[[bridge.static_mac]]\nmac = \"02:00:00:00:00:02\"\nport = \"sink\"\n[[bridge.neighbor]]\nip = \"198.19.0.1\"\nmac = \"02:00:00:00:00:02\"\n",
                ports(
                    "mode = \"access\"\nvlan = 10",
                    if *self == Scenario::RouteFrag { "mode = \"access\"\nvlan = 20\nmtu = 1280" } else { "mode = \"access\"\nvlan = 20" }
                )
            ),
            Scenario::Nat | Scenario::NatNew | Scenario::NatFrag | Scenario::NatLog | Scenario::NatNewLog => {
                let sink = if *self == Scenario::NatFrag { "mode = \"access\"\nvlan = 20\nmtu = 1280" } else { "mode = \"access\"\nvlan = 20" };
                let new = matches!(self, Scenario::NatNew | Scenario::NatNewLog);
                let log = if matches!(self, Scenario::NatLog | Scenario::NatNewLog) {
                    "[event_log]\nfile = \"/dev/null\"\n"
                } else {
                    ""
                };
                let ct = if new {
                    format!("capacity = {}\nudp = 1\n", flows.next_power_of_two().max(1024))
                } else {
                    format!("capacity = {}\n", (flows * 2).next_power_of_two().max(1024))
                };
                format!(
                    "{}[[bridge]]\nname = \"v10\"\nvlan = 10\ngateway = \"198.18.255.254/16\"\ngateway_mac = \"02:76:6e:66:00:0a\"\nzone = \"inside\"\n[[bridge]]\nname = \"v20\"\nvlan = 20\ngateway = \"198.19.0.254/24\"\ngateway_mac = \"02:76:6e:66:00:14\"\nzone = \"outside\"\n[[bridge.static_mac]]\nmac = \"02:00:00:00:00:02\"\nport = \"sink\"\n[[bridge.neighbor]]\nip = \"198.19.0.1\"\nmac = \"02:00:00:00:00:02\"\n[conntrack]\n{ct}[[nat.snat]]\nfrom = [\"198.18.0.0/16\"]\nzone = \"outside\"\npool = [\"198.19.0.100-198.19.0.131\"]\n{log}",
                    ports("mode = \"access\"\nvlan = 10", sink)
                )
            }
            Scenario::Xconnect => format!("{}[[xconnect]]\na = \"gen\"\nb = \"sink\"\n", ports("", "")),
        }
    }
}

/// Mbufs for a run: net_pcap's infinite_rx keeps one mbuf per frame of the file.
pub fn pool_size(frames: u32) -> u32 {
    if frames <= 100_000 {
        ((frames + 16384).next_power_of_two()) - 1
    } else {
        // Large flow sets: no power-of-two rounding (2M flows would need 4M mbufs).
        frames + 32768
    }
}

/// Mbuf data room (headroom included): DPDK's default, or for large flow sets just enough
/// for `frame` bytes, so a million preloaded frames fit in the hugepages.
pub fn mbuf_room(frame: usize, frames: u32) -> u32 {
    if frames <= 100_000 {
        2048 + 128
    } else {
        (frame + 128).div_ceil(128).max(3) as u32 * 128
    }
}

/// One source MAC per flow, 02:00:01 and the flow index: none of them is the sink's host
/// (02:00:00:00:00:02), whose static entry a flow's source would otherwise collide with.
const HOSTS_OF_GEN: FlowSet = FlowSet {
    flows: 1,
    wire_len: 64,
    dst_mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
    src_mac: MacAddr([0x02, 0, 0x01, 0, 0, 0]),
    vary_src_mac: true,
    vlan: None,
    dont_frag: true,
    first_host: 0,
    hosts: 65536,
};

/// Sources that are hosts of VLAN 10's 198.18.0.0/16 (neither its own address nor its
/// gateway's or broadcast), so replies to them can be routed.
const HOSTS_OF_V10: FlowSet = FlowSet {
    flows: 1,
    wire_len: 64,
    dst_mac: GW10,
    src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
    vary_src_mac: false,
    vlan: None,
    dont_frag: true,
    first_host: 1,
    hosts: 65533,
};

/// The VXLAN scenarios' tunnel, as vnfd's configuration of them has it and OVS-DPDK's is
/// set up to match: vnfd's VTEP address and MAC, the remote VTEP's, and bridge v10's VNI.
pub const VTEP_LOCAL: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const VTEP_REMOTE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
pub const VTEP_MAC: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0xff, 0xfe]);
pub const VTEP_REMOTE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x0e, 0x02]);
pub const VNI: u32 = 5010;

/// The gateway MAC of VLAN 10 (the scenarios configure it: the default depends on the ports).
const GW10: MacAddr = MacAddr([0x02, 0x76, 0x6e, 0x66, 0x00, 0x0a]);

/// Writes `flows` flows of `frame`-byte frames as a pcap; returns the frame count.
pub fn write_flows(path: &Path, flows: u32, frame: usize) -> Result<u32, String> {
    write_frames(path, &Scenario::Xconnect.frames(flows, frame)?)
}

/// The flows of `set` as VXLAN ([`VNI`]) from [`VTEP_REMOTE`] to [`VTEP_LOCAL`], outer
/// destination [`VTEP_MAC`], UDP source port per flow, checksum 0.
fn vxlan_frames(set: &FlowSet) -> Vec<Vec<u8>> {
    let mut out = vec![];
    for i in 0..set.flows {
        let inner = set.frame(i);
        let mut f = [VTEP_MAC.0, VTEP_REMOTE_MAC.0].concat();
        f.extend_from_slice(&[0x08, 0x00]);
        let udp_len = (16 + inner.len()) as u16;
        let mut ip = [0u8; 20];
        vnf_core::wire::Ipv4Repr {
            src: u32::from(VTEP_REMOTE),
            dst: u32::from(VTEP_LOCAL),
            protocol: 17,
            payload_len: udp_len,
            ttl: 64,
            dscp_ecn: 0,
            ident: i as u16,
            dont_frag: true,
        }
        .emit(&mut ip);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&(49152 | (i & 0x3fff) as u16).to_be_bytes());
        f.extend_from_slice(&4789u16.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        let mut vx = [0u8; 8];
        vnf_core::wire::vxlan::emit(&mut vx, VNI);
        f.extend_from_slice(&vx);
        f.extend_from_slice(&inner);
        out.push(f);
    }
    out
}

fn write_frames(path: &Path, frames: &[Vec<u8>]) -> Result<u32, String> {
    let mut out = pcap::header(65535).to_vec();
    for (i, f) in frames.iter().enumerate() {
        pcap::push_record(&mut out, i as u64 * 1000, f);
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(frames.len() as u32)
}
