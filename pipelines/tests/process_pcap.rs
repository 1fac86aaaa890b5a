//! Whole-process tests: vnfd runs as a subprocess on net_pcap ports; the frames it writes
//! are compared byte for byte with those it read, and its final counters are checked.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vnf_core::gen::FlowSet;
use vnf_core::pcap;

const VNFD: &str = env!("CARGO_BIN_EXE_vnfd");

fn config(dir: &Path, prefix: &str) -> String {
    let d = dir.display();
    format!(
        r#"
[dataplane]
workers = [1]
mempool_size = 8191
rx_desc = 512
tx_desc = 512

[eal]
args = ["--no-huge", "--no-pci", "-m", "256", "--file-prefix", "{prefix}"]

[[port]]
name = "p0"
devargs = "net_pcap0,rx_pcap={d}/in.pcap,tx_pcap={d}/out0.pcap"

[[port]]
name = "p1"
devargs = "net_pcap1,rx_pcap={d}/empty.pcap,tx_pcap={d}/out1.pcap"

[[xconnect]]
a = "p0"
b = "p1"
"#
    )
}

#[test]
fn vnfd_forwards_a_pcap_byte_exact_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut frames: Vec<Vec<u8>> = FlowSet { flows: 400, ..Default::default() }.frames();
    frames.extend(FlowSet { flows: 100, wire_len: 1518, ..Default::default() }.frames());
    frames.extend((0..20).map(|i| FlowSet { wire_len: 64 + i * 37, ..Default::default() }.frame(i as u32)));
    std::fs::write(dir.path().join("in.pcap"), pcap::encode(frames.iter().map(Vec::as_slice))).unwrap();
    std::fs::write(dir.path().join("empty.pcap"), pcap::header(65535)).unwrap();
    let cfg_path = dir.path().join("vnfd.toml");
    std::fs::write(&cfg_path, config(dir.path(), &format!("pcaptest{}", std::process::id()))).unwrap();
    let json = dir.path().join("stats.json");

    let mut child = Command::new(VNFD)
        .args([
            "--config",
            cfg_path.to_str().unwrap(),
            "--control",
            "",
            "--stats-interval",
            "0.05",
            "--stats-json",
            json.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let n = frames.len() as u64;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut forwarded = false;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        if v["ports"][1]["tx"].as_u64() == Some(n) {
            forwarded = true;
            break;
        }
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(forwarded, "vnfd did not forward {n} frames; stderr:\n{stderr}");
    assert!(out.status.success(), "exit {:?}; stderr:\n{stderr}", out.status);
    assert!(stderr.contains("vnfd: stopped"), "{stderr}");
    assert!(
        rest.iter().any(|l| l.contains("mempool: 8191 of 8191 mbufs available")),
        "final counters printed: {rest:?}"
    );

    let got = pcap::decode(&std::fs::read(dir.path().join("out1.pcap")).unwrap()).unwrap();
    let got: Vec<Vec<u8>> = got.into_iter().map(|r| r.data).collect();
    assert_eq!(got.len(), frames.len());
    assert!(got == frames, "out1.pcap differs from in.pcap");
    assert!(pcap::decode(&std::fs::read(dir.path().join("out0.pcap")).unwrap()).unwrap().is_empty());

    let s: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(s["ports"][0]["rx"], n);
    assert_eq!(s["ports"][0]["tx"], 0);
    assert_eq!(s["ports"][1]["tx"], n);
    assert_eq!(s["ports"][1]["tx_full"], 0);
    assert_eq!(s["ports"][0]["hw"]["ipackets"], n);
    assert_eq!(s["ports"][1]["hw"]["opackets"], n);
    assert_eq!(s["workers"][0]["packets"], n);
    assert_eq!(s["drops"], serde_json::json!({}));
    assert_eq!(s["mempool"]["available"], 8191, "no mbuf leaked");
}

#[test]
fn vnfd_refuses_a_bad_config_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("bad.toml");
    std::fs::write(&cfg_path, config(dir.path(), "x").replace("name = \"p1\"", "name = \"p1\"\nmtu = 20")).unwrap();
    let out = Command::new(VNFD).args(["--config", cfg_path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}: port[1].mtu: 20 is not in 68..=9600", cfg_path.display())), "{err}");

    std::fs::write(&cfg_path, "[[port]]\nname = \"p0\"\ndevargs = \"net_null0\"\nspeed = 10\n").unwrap();
    let out = Command::new(VNFD).args(["--config", cfg_path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4: port[0].speed: unknown field `speed`", cfg_path.display())), "{err}");

    let out =
        Command::new(VNFD).args(["--config", dir.path().join("missing.toml").to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn vnfd_reports_a_device_that_cannot_be_probed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("nodev.toml");
    let prefix = format!("nodev{}", std::process::id());
    std::fs::write(
        &cfg_path,
        format!("[eal]\nargs = [\"--no-huge\", \"--no-pci\", \"-m\", \"128\", \"--file-prefix\", \"{prefix}\"]\n[[port]]\nname = \"p0\"\ndevargs = \"net_nosuchpmd0\"\n"),
    )
    .unwrap();
    let out = Command::new(VNFD).args(["--config", cfg_path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port[0] \"p0\": probe \"net_nosuchpmd0\""), "{err}");
}
