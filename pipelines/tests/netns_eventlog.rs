//! The NAT and firewall event log with real Linux hosts: two inside hosts (198.51.100.10 and
//! .11, their own ports in bridge `inside`) open UDP, TCP and ICMP echo connections to an
//! outside host (203.0.113.80) through source NAT to 203.0.113.100, and try two connections
//! the firewall denies (TCP to port 25 rejected by rule 0, UDP to port 9 dropped by rule 1).
//!
//! The log goes to all three destinations at once: a file, a syslog socket (a Unix datagram
//! socket this test reads, as syslogd would) and an IPFIX collector (a UDP socket of this
//! test, decoded by tshark's IPFIX dissector). Checked:
//! - the file's create events are exactly the mappings `nat` lists (as sets, no duplicate);
//!   after a `conntrack flush` its delete events are exactly the same mappings;
//! - each deny is logged with its rule, action, zones and source, and no destination
//!   address appears anywhere (destinations are not asked for);
//! - `firewall` (and `vnfctl firewall`) show one hit on each deny rule and as many hits on
//!   the inside -> outside policy as connections were made;
//! - syslog got the same events in the same order, framed `<134>Mmm dd hh:mm:ss vnfd[PID]: `;
//! - tshark decodes the IPFIX messages into the same events: natEvent 8 (NAT44 BIB create)
//!   and 9 (delete) with source, post-NAT source and ports, firewallEvent 3 for the denies.

mod common;

use common::netns::{self, Host, Link, Vnfd};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const INSIDE: &str = "198.51.100.10";
const INSIDE2: &str = "198.51.100.11";
const OUTSIDE: &str = "203.0.113.80";
const POOL: &str = "203.0.113.100";
const GW_IN: &str = "198.51.100.1";

fn config(inside: &[&Link], outside: &Link, prefix: &str, dir: &std::path::Path, ipfix: u16) -> String {
    let ports: Vec<(String, String)> =
        inside.iter().enumerate().map(|(i, l)| (format!("in{i}"), l.devargs(i as u32))).collect();
    let ports: Vec<(&str, String)> = ports.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let rest = format!(
        r#"
[[nat.snat]]
from = ["198.51.100.0/24"]
zone = "outside"
pool = ["{POOL}"]
ports = "5000-5999"

[firewall]
default = "drop"

[[firewall.policy]]
from = "inside"
to = "outside"
action = "accept"

[[firewall.rule]]
from = "inside"
proto = "tcp"
dport = "25"
action = "reject"

[[firewall.rule]]
from = "inside"
proto = "udp"
dport = "9"
action = "drop"

[event_log]
file = "{file}"
syslog = "{syslog}"
ipfix = "127.0.0.1:{ipfix}"
ipfix_template_interval = 1
"#,
        file = dir.join("events.log").display(),
        syslog = dir.join("syslog.sock").display(),
    );
    netns::two_zones(prefix, &ports, &outside.devargs(inside.len() as u32), &rest)
}

/// Sends one UDP datagram from each of the source ports `ports` to `dst:dport`.
const SEND_UDP: &str = r#"
import socket, sys
dst, dport = sys.argv[1], int(sys.argv[2])
for p in sys.argv[3:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", int(p)))
    s.sendto(b"x", (dst, dport))
    s.close()
"#;

/// Connects by TCP to `dst:dport`; prints the local port and `refused` or `connected`.
const CONNECT: &str = r#"
import socket, sys
s = socket.socket()
s.settimeout(3)
s.bind(("", 0))
port = s.getsockname()[1]
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print(port, "connected")
except ConnectionRefusedError:
    print(port, "refused")
except OSError as e:
    print(port, type(e).__name__)
"#;

fn lines_of(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The (proto, inside, outside) of the file lines of event `event`.
fn mappings_in(lines: &[String], event: &str) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter(|l| l.contains(&format!(" event={event} ")))
        .map(|l| {
            let f = |k: &str| {
                l.split(' ')
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .unwrap_or_else(|| panic!("no {k}= in {l:?}"))
                    .to_string()
            };
            (f("proto"), f("inside"), f("outside"))
        })
        .collect()
}

/// What `vnfctl --json nat` shows: the mapping count and (proto, internal, external) rows.
fn nat_mappings(v: &Vnfd) -> (u64, Vec<(String, String, String)>) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vnfctl"))
        .args(["--socket", v.control_path().to_str().unwrap(), "--json", "nat"])
        .output()
        .unwrap();
    assert!(out.status.success(), "vnfctl nat: {}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let ms = r["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap().to_string();
            (s("proto"), s("internal"), s("external"))
        })
        .collect();
    (r["count"].as_u64().unwrap(), ms)
}

fn set(v: &[(String, String, String)]) -> BTreeSet<(String, String, String)> {
    let s: BTreeSet<_> = v.iter().cloned().collect();
    assert_eq!(s.len(), v.len(), "duplicates in {v:?}");
    s
}

/// A frame around an IPFIX message, for tshark: Ethernet, IPv4 127.0.0.1 -> 127.0.0.1, UDP
/// to port 4739 (IPFIX), checksums left zero (tshark does not verify them by default).
fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + msg.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
        127,
        0,
        0,
        1,
        127,
        0,
        0,
        1,
    ]);
    let ulen = (8 + msg.len()) as u16;
    f.extend_from_slice(&[0x12, 0x83, 0x12, 0x83, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.extend_from_slice(msg);
    f
}

/// Every object under `v` that has key `k` (tshark's JSON: one object per IPFIX record).
fn records<'a>(v: &'a Value, k: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => {
            if o.contains_key(k) {
                out.push(v);
            }
            for x in o.values() {
                records(x, k, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| records(x, k, out)),
        _ => {}
    }
}

#[test]
fn the_event_log_holds_exactly_the_mappings_nat_showed_in_every_format() {
    let _lc = common::lcores();
    let dir = tempfile::tempdir().unwrap();
    let h1 = Host::new("evl1");
    let h2 = Host::new("evl2");
    let out = Host::new("evlout");
    let l1 = Link::new(&h1, &format!("{INSIDE}/24"), Some("02:00:00:00:0a:21"));
    let l2 = Link::new(&h2, &format!("{INSIDE2}/24"), Some("02:00:00:00:0a:22"));
    let lo = Link::new(&out, &format!("{OUTSIDE}/24"), Some("02:00:00:00:14:51"));
    for h in [&h1, &h2] {
        h.must(&["ip", "route", "add", "default", "via", GW_IN]);
    }
    // The syslog socket, read as a daemon reads it (its queue holds only a few messages).
    let syslog = UnixDatagram::bind(dir.path().join("syslog.sock")).unwrap();
    syslog.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let syslogged = Arc::new(Mutex::new(Vec::<String>::new()));
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    collector.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let ipfix_port = collector.local_addr().unwrap().port();
    let done = Arc::new(AtomicBool::new(false));
    let msgs = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let rx = {
        let (done, msgs) = (done.clone(), msgs.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while !done.load(Ordering::Relaxed) {
                if let Ok(n) = collector.recv(&mut buf) {
                    msgs.lock().unwrap().push(buf[..n].to_vec());
                }
            }
        })
    };
    let sys_rx = {
        let (done, got) = (done.clone(), syslogged.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !done.load(Ordering::Relaxed) {
                if let Ok(n) = syslog.recv(&mut buf) {
                    got.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).to_string());
                }
            }
        })
    };
    let prefix = netns::file_prefix("evl");
    let mut vnfd = Vnfd::start(&config(&[&l1, &l2], &lo, &prefix, dir.path(), ipfix_port), &[]).unwrap();

    // Nine mappings: five UDP ports and a TCP connection of host 1, two UDP ports (one of
    // them the same number as host 1's: remapped) and a ping of host 2.
    h1.must(&["python3", "-c", SEND_UDP, OUTSIDE, "7000", "5001", "5002", "5003", "5004", "5005"]);
    let c = h1.must(&["python3", "-c", CONNECT, OUTSIDE, "8000"]);
    assert!(String::from_utf8_lossy(&c.stdout).contains("refused"), "{c:?}");
    h2.must(&["python3", "-c", SEND_UDP, OUTSIDE, "7000", "5001", "5002"]);
    assert!(netns::ping(&h2, OUTSIDE, 1), "ping through the NAT");
    // Two denies.
    let c = h1.must(&["python3", "-c", CONNECT, OUTSIDE, "25"]);
    let deny_port: u16 = String::from_utf8_lossy(&c.stdout).split_whitespace().next().unwrap().parse().unwrap();
    assert!(String::from_utf8_lossy(&c.stdout).contains("refused"), "rule 0 rejects with a RST: {c:?}");
    h2.must(&["python3", "-c", SEND_UDP, OUTSIDE, "9", "5100"]);

    assert!(common::wait_until(10, || nat_mappings(&vnfd).0 == 9), "nat: {:?}\n{}", nat_mappings(&vnfd), vnfd.stderr());
    let (count, shown) = nat_mappings(&vnfd);
    assert_eq!(count as usize, shown.len());
    let log = dir.path().join("events.log");
    assert!(
        common::wait_until(10, || mappings_in(&lines_of(&log), "nat-mapping-create").len() >= 9
            && lines_of(&log).iter().filter(|l| l.contains("event=fw-deny")).count() >= 2),
        "events.log:\n{}",
        lines_of(&log).join("\n")
    );
    let lines = lines_of(&log);
    let created = mappings_in(&lines, "nat-mapping-create");
    assert_eq!(set(&created), set(&shown), "the log's mappings are the ones vnfd shows");
    assert!(created
        .iter()
        .any(|(p, i, o)| p == "udp" && i == &format!("{INSIDE2}:5001") && o != &format!("{POOL}:5001")));
    assert!(created.iter().any(|(p, i, _)| p == "icmp" && i.starts_with(INSIDE2)));
    // The denies: rule, action, zones, source; no destination anywhere.
    let denies: Vec<&String> = lines.iter().filter(|l| l.contains("event=fw-deny")).collect();
    assert_eq!(denies.len(), 2, "{denies:?}");
    assert!(
        denies[0].ends_with(&format!(
            "event=fw-deny action=reject rule=0 from=inside to=outside proto=tcp src={INSIDE}:{deny_port}"
        )),
        "{}",
        denies[0]
    );
    assert!(
        denies[1].ends_with(&format!(
            "event=fw-deny action=drop rule=1 from=inside to=outside proto=udp src={INSIDE2}:5100"
        )),
        "{}",
        denies[1]
    );
    for l in &lines {
        assert!(!l.contains(OUTSIDE) && !l.contains("dst="), "a destination was logged: {l}");
        // 2026-12-02T05:40:01.123Z event=...
        let (t, _) = l.split_once(' ').unwrap();
        assert!(t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T', "time {t:?} in {l}");
    }

    // Hit counters.
    let fw = vnfd.request(r#"{"cmd":"firewall"}"#).unwrap();
    assert_eq!(fw["ok"], true, "{fw}");
    assert_eq!((fw["rules"][0]["hits"].as_u64(), fw["rules"][1]["hits"].as_u64()), (Some(1), Some(1)), "{fw}");
    let pol =
        fw["policies"].as_array().unwrap().iter().find(|p| p["from"] == "inside" && p["to"] == "outside").unwrap();
    let st = vnfd.request(r#"{"cmd":"stats"}"#).unwrap();
    let ct_new = st["stats"]["events"]["ct-new"].as_u64().unwrap();
    assert_eq!(pol["hits"].as_u64(), Some(ct_new), "every connection was accepted by the policy: {fw}");
    assert!(ct_new >= 9, "{ct_new}");
    let ctl = std::process::Command::new(env!("CARGO_BIN_EXE_vnfctl"))
        .args(["--socket", vnfd.control_path().to_str().unwrap(), "firewall"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ctl.stdout);
    assert!(ctl.status.success(), "{text}");
    let row = |first: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(first))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    assert_eq!(row("0").unwrap().last(), Some(&"1"), "{text}");
    assert_eq!(row("1").unwrap().last(), Some(&"1"), "{text}");
    let policy =
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|w| w.starts_with(&["inside", "outside"]));
    assert_eq!(policy, Some(vec!["inside", "outside", "accept", "*", &ct_new.to_string()]), "{text}");

    // A flush ends every mapping: the deletes are the same mappings.
    let f = vnfd.request(r#"{"cmd":"conntrack flush"}"#).unwrap();
    assert_eq!(f["ok"], true, "{f}");
    assert_eq!(nat_mappings(&vnfd).0, 0);
    assert!(
        common::wait_until(10, || mappings_in(&lines_of(&log), "nat-mapping-delete").len() >= 9),
        "events.log:\n{}",
        lines_of(&log).join("\n")
    );
    let lines = lines_of(&log);
    assert_eq!(set(&mappings_in(&lines, "nat-mapping-delete")), set(&shown));
    // The writer counts a batch once it went to every destination.
    let written = || vnfd.request(r#"{"cmd":"stats"}"#).unwrap()["stats"]["event_log"]["written"].as_u64();
    assert!(
        common::wait_until(10, || written() == Some(lines.len() as u64)),
        "written {:?} of {}",
        written(),
        lines.len()
    );
    let st = vnfd.request(r#"{"cmd":"stats"}"#).unwrap();
    assert_eq!(st["stats"]["event_log"]["errors"].as_u64(), Some(0));
    assert_eq!(st["stats"]["events"]["event-log-lost"].as_u64().unwrap_or(0), 0);

    // Syslog: the same events in the same order.
    let pid = vnfd.pid();
    assert!(
        common::wait_until(10, || syslogged.lock().unwrap().len() >= lines.len()),
        "{:?}",
        syslogged.lock().unwrap()
    );
    let got = syslogged.lock().unwrap().clone();
    assert_eq!(got.len(), lines.len());
    for (m, l) in got.iter().zip(&lines) {
        let (head, body) = m.split_once(&format!(" vnfd[{pid}]: ")).unwrap_or_else(|| panic!("{m}"));
        assert!(head.starts_with("<134>") && head.len() == 5 + 15, "{m}");
        assert_eq!(body, l.split_once(' ').unwrap().1);
    }

    // IPFIX, decoded by tshark.
    assert!(common::wait_until(10, || msgs.lock().unwrap().len() >= 2));
    std::thread::sleep(Duration::from_millis(500));
    done.store(true, Ordering::Relaxed);
    rx.join().unwrap();
    sys_rx.join().unwrap();
    let frames: Vec<Vec<u8>> = msgs.lock().unwrap().iter().map(|m| frame(m)).collect();
    let pcap = dir.path().join("ipfix.pcap");
    std::fs::write(&pcap, vnf_core::pcap::encode(frames.iter().map(|f| f.as_slice()))).unwrap();
    let t = std::process::Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-d", "udp.port==4739,cflow", "-T", "json"])
        .output()
        .expect("tshark");
    let json: Value = serde_json::from_slice(&t.stdout)
        .unwrap_or_else(|e| panic!("tshark json: {e}: {}", String::from_utf8_lossy(&t.stderr)));
    let (mut nat, mut fwr) = (vec![], vec![]);
    records(&json, "cflow.nat_event", &mut nat);
    records(&json, "cflow.firewall_event", &mut fwr);
    let field = |r: &Value, k: &str| r[k].as_str().unwrap_or_else(|| panic!("no {k} in {r}")).to_string();
    let decoded = |event: &str| -> Vec<(String, String, String)> {
        nat.iter()
            .filter(|r| field(r, "cflow.nat_event") == event)
            .map(|r| {
                let proto = match field(r, "cflow.protocol").as_str() {
                    "1" => "icmp".to_string(),
                    "6" => "tcp".to_string(),
                    "17" => "udp".to_string(),
                    p => p.to_string(),
                };
                (
                    proto,
                    format!("{}:{}", field(r, "cflow.srcaddr"), field(r, "cflow.srcport")),
                    format!(
                        "{}:{}",
                        field(r, "cflow.post_natsource_ipv4_address"),
                        field(r, "cflow.post_naptsource_transport_port")
                    ),
                )
            })
            .collect()
    };
    assert_eq!(set(&decoded("8")), set(&shown), "IPFIX NAT44 BIB create records: {nat:?}");
    assert_eq!(set(&decoded("9")), set(&shown), "IPFIX NAT44 BIB delete records");
    assert_eq!(fwr.len(), 2, "{fwr:?}");
    assert!(fwr.iter().all(|r| field(r, "cflow.firewall_event") == "3"));
    assert!(!String::from_utf8_lossy(&t.stdout).contains(OUTSIDE), "a destination in the IPFIX records");
    let s = vnfd.stats().unwrap();
    assert_eq!(s["mempool"]["available"], s["mempool"]["size"], "mbufs leaked: {}", s["mempool"]);
}
