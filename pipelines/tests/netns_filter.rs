//! Filtering modes and per-host limits of vnfd's source NAT with real Linux hosts.
//!
//! - RFC 5780 NAT behaviour discovery: coturn's `turnutils_natdiscovery` in an inside host
//!   (198.51.100.10, behind SNAT to 203.0.113.100) against `turnserver` in an outside host
//!   with two addresses (203.0.113.80 and .81, ports 3478 and 3479); for each `filtering`
//!   setting the client reports endpoint-independent mapping and the configured filtering.
//! - A UDP flood from many source ports of one inside host (198.51.100.10) stops at
//!   `max_connections_per_host` while another inside host (198.51.100.11, its own port and
//!   namespace) still gets its UDP and TCP connections through; the flood is larger than the
//!   whole connection table, so without the limit it would have filled it.
//!
//! Counters are read from vnfd's periodic stats lines; every wait is on a state or a counter.

mod common;

use common::netns::{self, Host, Link, Reaper, Vnfd};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const INSIDE: &str = "198.51.100.10";
const INSIDE2: &str = "198.51.100.11";
const OUTSIDE: &str = "203.0.113.80";
const OUTSIDE_ALT: &str = "203.0.113.81";
const POOL: &str = "203.0.113.100";
const GW_IN: &str = "198.51.100.1";
/// `[conntrack] capacity`.
const CAPACITY: usize = 256;

/// Two inside ports (hosts 1 and 2) in bridge `inside`, one outside port; `snat` is added to
/// the `[[nat.snat]]` rule.
fn config(inside: &[&Link], outside: &Link, prefix: &str, snat: &str) -> String {
    let names: Vec<String> = (0..inside.len()).map(|i| format!("in{i}")).collect();
    let ports: Vec<(&str, String)> =
        inside.iter().enumerate().map(|(i, l)| (names[i].as_str(), l.devargs(i as u32))).collect();
    let rest = format!(
        r#"
[conntrack]
capacity = {CAPACITY}
udp = 60

[[nat.snat]]
from = ["198.51.100.0/24"]
zone = "outside"
pool = ["{POOL}"]
ports = "20000-29999"
{snat}

[firewall]
default = "drop"

[[firewall.policy]]
from = "inside"
to = "outside"
action = "accept"
"#
    );
    netns::two_zones(prefix, &ports, &outside.devargs(inside.len() as u32), &rest)
}

fn count(s: &Value, section: &str, key: &str) -> u64 {
    s[section][key].as_u64().unwrap_or(0)
}

/// A periodic stats line taken after this call (waits for two new lines).
fn fresh_stats(v: &Vnfd) -> Value {
    let lines = || std::fs::read_to_string(v.dir().join("stdout.log")).map(|t| t.matches('\n').count()).unwrap_or(0);
    let n0 = lines();
    let end = Instant::now() + Duration::from_secs(10);
    while lines() < n0 + 2 {
        assert!(Instant::now() < end, "no periodic stats line for 10 s:\n{}", v.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    v.last_stats_line().unwrap_or_else(|| panic!("no parsable stats line:\n{}", v.stderr()))
}

/// vnfd's counters and stderr, for messages.
fn ctx(v: &Vnfd) -> String {
    let s = v.last_stats_line().map(|s| format!("drops {} events {}", s["drops"], s["events"]));
    format!("\nvnfd stats: {}\nvnfd stderr:\n{}", s.unwrap_or_default(), v.stderr())
}

/// Waits (at most `secs`) until `host` has a socket listening as `ss FILTER` shows it.
fn wait_listening(host: &Host, ss: &str, port: u16, child: &mut Reaper, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let out = host.exec(&["ss", ss, &format!("sport = :{port}")]);
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        if let Ok(Some(st)) = child.0.try_wait() {
            panic!("server on port {port} in {} exited ({st}) before listening", host.name());
        }
        assert!(Instant::now() < end, "nothing listens on port {port} in {} after {secs} s", host.name());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `turnserver` on both outside addresses (STUN only, no auth), ports 3478 and 3479
/// (the RFC 5780 alternate port); killed when the returned reaper (or the host) goes.
fn turnserver(host: &Host, dir: &Path) -> Reaper {
    let pid = dir.join("turnserver.pid");
    let log = dir.join("turnserver.log");
    let args = [
        "turnserver",
        "-n",
        "--no-auth",
        "--no-tls",
        "--no-dtls",
        "--no-tcp",
        "--no-cli",
        "--simple-log",
        "-L",
        OUTSIDE,
        "-L",
        OUTSIDE_ALT,
        "--listening-port",
        "3478",
        "--alt-listening-port",
        "3479",
        "--pidfile",
        pid.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ];
    let mut r = Reaper(host.spawn(&args));
    for port in [3478, 3479] {
        wait_listening(host, "-Hlun", port, &mut r, 20);
    }
    r
}

/// Inside and outside hosts as the discovery test uses them (one inside host).
struct Rig {
    inside: Host,
    outside: Host,
    l_in: Link,
    l_out: Link,
}

fn rig(tag: &str) -> Rig {
    let inside = Host::new(&format!("flt{tag}in"));
    let outside = Host::new(&format!("flt{tag}out"));
    let l_in = Link::new(&inside, &format!("{INSIDE}/24"), Some("02:00:00:00:0a:10"));
    let l_out = Link::new(&outside, &format!("{OUTSIDE}/24"), Some("02:00:00:00:14:50"));
    outside.must(&["ip", "addr", "add", &format!("{OUTSIDE_ALT}/24"), "dev", &l_out.host_if]);
    inside.must(&["ip", "route", "add", "default", "via", GW_IN]);
    Rig { inside, outside, l_in, l_out }
}

/// Runs the RFC 5780 mapping and filtering discovery behind vnfd with `filtering`, checks
/// what the client reports and what vnfd counted.
fn discover(filtering: &str, want: &str) {
    let _lc = common::lcores();
    let t0 = Instant::now();
    let names;
    {
        let tag = match filtering {
            "endpoint-independent" => "ei",
            "address-dependent" => "ad",
            _ => "apd",
        };
        let r = rig(tag);
        names = [r.inside.name().to_string(), r.outside.name().to_string()];
        let dir = tempfile::tempdir().unwrap();
        let _turn = turnserver(&r.outside, dir.path());
        let prefix = netns::file_prefix("flt");
        let cfg = config(&[&r.l_in], &r.l_out, &prefix, &format!("filtering = \"{filtering}\""));
        let vnfd = Vnfd::start(&cfg, &["--stats-interval", "0.2"]).unwrap();
        let s0 = fresh_stats(&vnfd);
        // The client gives up on a test after its retransmissions time out.
        let out = r.inside.exec(&["timeout", "120", "turnutils_natdiscovery", "-m", "-f", OUTSIDE]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let s1 = fresh_stats(&vnfd);
        eprintln!("[{:.1}s] {filtering}: discovery done", t0.elapsed().as_secs_f64());
        let verdicts: Vec<&str> = text.lines().filter(|l| l.starts_with("NAT with")).collect();
        assert_eq!(
            verdicts,
            ["NAT with Endpoint Independent Mapping!", want],
            "turnutils_natdiscovery behind filtering = {filtering}:\n{text}{}",
            ctx(&vnfd)
        );
        // Every reflexive address the server saw is the pool address.
        let reflexive: Vec<&str> = text.lines().filter(|l| l.contains("UDP reflexive addr")).collect();
        assert!(!reflexive.is_empty(), "{text}");
        assert!(reflexive.iter().all(|l| l.contains(&format!("{POOL}:"))), "{text}");
        let d = |sec: &str, k: &str| count(&s1, sec, k) - count(&s0, sec, k);
        // Test II (answer from the other address and port) and, when II got no answer,
        // test III (from the other port) come from outside endpoints the client never sent
        // to: let in, or refused and counted.
        let (inbound, filtered) = (d("events", "nat-inbound-new"), d("drops", "nat-filtered"));
        match filtering {
            "endpoint-independent" => assert!(inbound >= 1 && filtered == 0, "in {inbound} filtered {filtered}"),
            "address-dependent" => assert!(inbound >= 1 && filtered >= 1, "in {inbound} filtered {filtered}"),
            _ => assert!(inbound == 0 && filtered >= 2, "in {inbound} filtered {filtered}"),
        }
        drop(vnfd);
    }
    let left = netns::rig_namespaces();
    assert!(names.iter().all(|n| !left.contains(n)), "namespaces left behind: {left:?}");
}

#[test]
fn rfc5780_discovery_sees_endpoint_independent_filtering() {
    discover("endpoint-independent", "NAT with Endpoint Independent Filtering!");
}

#[test]
fn rfc5780_discovery_sees_address_dependent_filtering() {
    discover("address-dependent", "NAT with Address Dependent Filtering!");
}

#[test]
fn rfc5780_discovery_sees_address_and_port_dependent_filtering() {
    discover("address-and-port-dependent", "NAT with Address and Port Dependent Filtering!");
}

/// UDP echo server (`userver IP PORT`), UDP flood (`flood DST PORT N`: N sockets bound to
/// source ports 20000.., one datagram each, prints `sent N`), one UDP exchange (`uecho DST
/// PORT [SPORT]`) and one TCP exchange (`techo DST PORT`), each printing `ok` or `err WHAT`.
/// Fixed source ports (below Linux's ephemeral range, 32768..) keep every connection of a
/// test distinct: an ephemeral port the kernel hands out again would match a connection the
/// NAT still holds.
const PY: &str = r#"
import socket, sys
cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "userver":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a[0], int(a[1])))
    while True:
        d, p = s.recvfrom(2048)
        s.sendto(d, p)
elif cmd == "tserver":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a[0], int(a[1])))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.settimeout(5)
        try:
            c.sendall(c.recv(100))
        except OSError:
            pass
        c.close()
elif cmd == "flood":
    socks = []
    for i in range(int(a[2])):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", 20000 + i))
        u.sendto(b"flood", (a[0], int(a[1])))
        socks.append(u)
    print("sent", len(socks), flush=True)
    sys.stdin.read()
elif cmd in ("uecho", "techo"):
    try:
        if cmd == "uecho":
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(3)
            if len(a) > 2:
                u.bind(("0.0.0.0", int(a[2])))
            u.sendto(b"hello", (a[0], int(a[1])))
            d, _ = u.recvfrom(100)
        else:
            t = socket.create_connection((a[0], int(a[1])), timeout=3)
            t.sendall(b"hello")
            d = t.recv(100)
        print("ok" if d == b"hello" else "err mismatch")
    except socket.timeout:
        print("err timeout")
    except Exception as e:
        print("err", type(e).__name__)
"#;

/// Runs one PY client command in `host`; its output line.
fn client(host: &Host, args: &[&str]) -> String {
    let mut a = vec!["timeout", "20", "python3", "-c", PY];
    a.extend(args);
    String::from_utf8_lossy(&host.exec(&a).stdout).trim().to_string()
}

#[test]
fn a_udp_flood_from_one_host_leaves_another_hosts_connections_working() {
    const LIMIT: u64 = 32;
    const FLOOD: u64 = 400;
    assert!(FLOOD as usize > CAPACITY, "the flood must be able to fill the table without the limit");
    let _lc = common::lcores();
    let t0 = Instant::now();
    let names;
    {
        let a = Host::new("fltflooda");
        let b = Host::new("fltfloodb");
        let outside = Host::new("fltfloodout");
        names = [a.name().to_string(), b.name().to_string(), outside.name().to_string()];
        let l_a = Link::new(&a, &format!("{INSIDE}/24"), Some("02:00:00:00:0a:10"));
        let l_b = Link::new(&b, &format!("{INSIDE2}/24"), Some("02:00:00:00:0a:11"));
        let l_out = Link::new(&outside, &format!("{OUTSIDE}/24"), Some("02:00:00:00:14:50"));
        for h in [&a, &b] {
            h.must(&["ip", "route", "add", "default", "via", GW_IN]);
        }
        let mut userver = Reaper(outside.spawn(&["python3", "-c", PY, "userver", OUTSIDE, "7007"]));
        wait_listening(&outside, "-Hlun", 7007, &mut userver, 20);
        let mut tserver = Reaper(outside.spawn(&["python3", "-c", PY, "tserver", OUTSIDE, "7000"]));
        wait_listening(&outside, "-Hltn", 7000, &mut tserver, 20);
        let prefix = netns::file_prefix("fltflood");
        let cfg = config(&[&l_a, &l_b], &l_out, &prefix, &format!("max_connections_per_host = {LIMIT}"));
        let vnfd = Vnfd::start(&cfg, &["--stats-interval", "0.2"]).unwrap();
        // Both inside hosts work before the flood (and ARP is settled).
        for (h, name) in [(&a, "A"), (&b, "B")] {
            let r = client(h, &["uecho", OUTSIDE, "7007", "30000"]);
            assert_eq!(r, "ok", "host {name} before the flood{}", ctx(&vnfd));
        }
        let s0 = fresh_stats(&vnfd);
        // The flood: FLOOD sockets of host A, one datagram each, held open meanwhile.
        let mut flood = std::process::Command::new("ip")
            .args(["netns", "exec", a.name(), "python3", "-c", PY, "flood", OUTSIDE, "7007", &FLOOD.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn flood");
        let flood_in = flood.stdin.take();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(flood.stdout.take().unwrap()), &mut line).unwrap();
        let _flood = Reaper(flood);
        assert_eq!(line.trim(), format!("sent {FLOOD}"));
        // Host A's uecho connection holds one of its LIMIT; the flood gets the rest.
        let want = FLOOD - (LIMIT - 1);
        let mut s1 = fresh_stats(&vnfd);
        let end = Instant::now() + Duration::from_secs(20);
        while count(&s1, "drops", "nat-host-conn-limit") - count(&s0, "drops", "nat-host-conn-limit") < want {
            assert!(Instant::now() < end, "flood not limited: {}", ctx(&vnfd));
            s1 = fresh_stats(&vnfd);
        }
        eprintln!("[{:.1}s] flood limited", t0.elapsed().as_secs_f64());
        let d = |s: &Value, sec: &str, k: &str| count(s, sec, k) - count(&s0, sec, k);
        assert_eq!(d(&s1, "drops", "nat-host-conn-limit"), want, "{}", ctx(&vnfd));
        assert_eq!(d(&s1, "drops", "ct-table-full"), 0, "{}", ctx(&vnfd));
        assert_eq!(s1["workers"][0]["ct_entries"].as_u64(), Some(LIMIT + 1), "A's {LIMIT} and B's one{}", ctx(&vnfd));
        // Host A is at its limit; host B still opens new connections, UDP and TCP.
        assert_eq!(
            client(&a, &["uecho", OUTSIDE, "7007", "30001"]),
            "err timeout",
            "host A past its limit{}",
            ctx(&vnfd)
        );
        for i in 0..3 {
            assert_eq!(client(&b, &["uecho", OUTSIDE, "7007"]), "ok", "host B UDP {i} during the flood{}", ctx(&vnfd));
            assert_eq!(client(&b, &["techo", OUTSIDE, "7000"]), "ok", "host B TCP {i} during the flood{}", ctx(&vnfd));
        }
        let s2 = fresh_stats(&vnfd);
        assert_eq!(d(&s2, "drops", "nat-host-conn-limit"), want + 1, "only A's own try refused{}", ctx(&vnfd));
        drop(flood_in);
        drop(vnfd);
        eprintln!("[{:.1}s] host B unaffected", t0.elapsed().as_secs_f64());
    }
    let left = netns::rig_namespaces();
    assert!(names.iter().all(|n| !left.contains(n)), "namespaces left behind: {left:?}");
}
