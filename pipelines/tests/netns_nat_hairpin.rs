//! Real Linux hosts through vnfd's source NAT, for issue 14 items 3, 4 and 8: two inside
//! hosts (198.51.100.10 and .11, VLAN 10, zone inside, one bridge) and an outside host
//! (203.0.113.80, VLAN 20, zone outside) that knows only its own subnet; pool 203.0.113.100.
//!
//! Shows:
//! - hairpinning of dynamic mappings (RFC 4787 REQ-9): each inside host learns its external
//!   endpoint from a STUN-like server outside, then both punch UDP toward each other's
//!   external endpoint and each receives the other's datagrams from that external endpoint;
//!   the endpoints are the mappings `nat` lists;
//! - a corrupted ICMP error (crafted with scapy) quoting a translated flow is dropped and
//!   counted (`icmp-bad-checksum`, RFC 5508 REQ-3), nothing reaches the inside host's
//!   capture; the same error with its checksum right arrives, translated and valid;
//! - raw GRE (IP protocol 47) through source NAT: the outside host sees the pool address,
//!   its answer comes back to the inside host;
//! - MSS clamping on the inside -> outside zone pair (`mss = 1360`): the outside host's SYN
//!   and the inside host's SYN-ACK carry 1360 where the kernels wrote 1460, and the
//!   connection works (the kernels verify the updated checksums).
//!
//! Counters are read from the control socket and waited on; every process and namespace is
//! dropped on every path (RAII).

mod common;

use common::netns::{self, Host, Link, Reaper, Vnfd};
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

const IN1: &str = "198.51.100.10";
const IN2: &str = "198.51.100.11";
const OUTSIDE: &str = "203.0.113.80";
const POOL: &str = "203.0.113.100";
const GW_IN: &str = "198.51.100.1";

fn config(in1: &Link, in2: &Link, outside: &Link, prefix: &str) -> String {
    let rest = format!(
        r#"
[[nat.snat]]
from = ["198.51.100.0/24"]
zone = "outside"
pool = ["{POOL}"]

[firewall]
default = "drop"

[[firewall.policy]]
from = "inside"
to = "outside"
action = "accept"
mss = 1360
"#
    );
    let ring = |l: &Link, n: u32| format!("{},framecnt=4096", l.devargs(n));
    netns::two_zones(prefix, &[("in1", ring(in1, 0)), ("in2", ring(in2, 1))], &ring(outside, 2), &rest)
}

/// The hosts' programs, as `python3 -c PY CMD ARGS...`.
const PY: &str = r#"
import socket, sys, time
cmd, a = sys.argv[1], sys.argv[2:]

def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    return s

if cmd == "stun":  # IP PORT: answers each datagram with its sender's "IP PORT"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a[0], int(a[1])))
    while True:
        d, p = s.recvfrom(2048)
        s.sendto(("%s %d" % p).encode(), p)

elif cmd == "whoami":  # LPORT SERVER SPORT: prints the external "IP PORT" the server saw
    s = udp(int(a[0]))
    s.settimeout(0.5)
    res = "err timeout"
    for i in range(20):
        s.sendto(b"who", (a[1], int(a[2])))
        try:
            res = s.recv(2048).decode()
            break
        except socket.timeout:
            pass
    print(res)

elif cmd == "punch":  # LPORT PEER_IP PEER_PORT OUT: hole punching toward a peer's endpoint
    # Sends every 100 ms for up to 20 s; after the first datagram from the peer, goes on
    # for 1 s (so the peer gets one too) and writes "got IP PORT DATA" to OUT.
    s = udp(int(a[0]))
    s.settimeout(0.1)
    peer = (a[1], int(a[2]))
    got, until = None, time.monotonic() + 20
    while time.monotonic() < until:
        s.sendto(b"punch from %d" % int(a[0]), peer)
        try:
            d, p = s.recvfrom(2048)
            if got is None:
                got = "got %s %d %s" % (p[0], p[1], d.decode())
                until = time.monotonic() + 1
        except socket.timeout:
            pass
    with open(a[3], "w") as f:
        f.write(got or "err timeout")

elif cmd == "sink":  # IP PORT LOG: receives UDP, logs "IP PORT" of each sender, never answers
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a[0], int(a[1])))
    while True:
        d, p = s.recvfrom(2048)
        with open(a[2], "a") as f:
            f.write("%s %d\n" % p)

elif cmd == "tserver":  # IP PORT: TCP echo server
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a[0], int(a[1])))
    s.listen(16)
    while True:
        c, p = s.accept()
        c.sendall(c.recv(2048))
        c.close()

elif cmd == "tcp":  # IP PORT: connects, sends a line, prints "ok" when it comes back
    try:
        c = socket.create_connection((a[0], int(a[1])), timeout=10)
        c.sendall(b"mss\n")
        print("ok" if c.recv(2048) == b"mss\n" else "mismatch")
    except Exception as e:
        print("err", type(e).__name__)

elif cmd == "send":  # LPORT DST DPORT: one UDP datagram "probe"
    udp(int(a[0])).sendto(b"probe", (a[1], int(a[2])))

elif cmd == "greecho":  # LOG: raw IP protocol 47; logs each source, sends the GRE back
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
    while True:
        d, p = s.recvfrom(65535)
        with open(a[0], "a") as f:
            f.write(p[0] + "\n")
        s.sendto(d[(d[0] & 15) * 4:], (p[0], 0))

elif cmd == "gre":  # DST: a GRE packet (IPv4 payload type) to DST, expects it back from DST
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
    s.settimeout(0.5)
    msg = b"\x00\x00\x08\x00" + b"gre through the nat"
    res = "err timeout"
    for i in range(10):
        s.sendto(msg, (a[0], 0))
        try:
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                d, p = s.recvfrom(65535)
                if p[0] == a[0]:
                    res = "ok" if d[(d[0] & 15) * 4:] == msg else "mismatch"
                    break
            if res != "err timeout":
                break
        except socket.timeout:
            pass
    print(res)
"#;

/// An ICMP port unreachable from the outside host to the pool address quoting the datagram
/// POOL:PORT -> OUTSIDE:33434 "probe"; `good` or with a wrong checksum (scapy).
const SCAPY: &str = r#"
import sys
from scapy.all import IP, UDP, ICMP, send, conf
conf.verb = 0
src, pool, port, good = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "good"
quote = bytes(IP(src=pool, dst=src, ttl=63, id=7) / UDP(sport=port, dport=33434) / b"probe")[:28]
c = ICMP(bytes(ICMP(type=3, code=3) / quote)).chksum
icmp = ICMP(type=3, code=3, chksum=c if good else c ^ 0x0101)
send(IP(src=src, dst=pool) / icmp / quote)
print("sent")
"#;

fn py(host: &Host, args: &[&str]) -> String {
    let mut argv = vec!["timeout", "40", "python3", "-c", PY];
    argv.extend(args);
    let out = host.exec(&argv);
    let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if t.is_empty() {
        format!("no output ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())
    } else {
        t
    }
}

/// Starts a UDP server of [`PY`] and waits until it listens on `port`.
fn udp_server(host: &Host, args: &[&str], port: u16) -> Reaper {
    let mut argv = vec!["python3", "-c", PY];
    argv.extend(args);
    let mut r = Reaper(host.spawn(&argv));
    let listening = common::wait_until(20, || {
        let out = host.exec(&["ss", "-Hlun", &format!("sport = :{port}")]);
        !String::from_utf8_lossy(&out.stdout).trim().is_empty() || matches!(r.0.try_wait(), Ok(Some(_)))
    });
    assert!(listening && matches!(r.0.try_wait(), Ok(None)), "{args:?} in {} not listening", host.name());
    r
}

fn vnfd_ok(v: &Vnfd, req: &str) -> Value {
    let r = v.request(req).unwrap_or_else(|e| panic!("{req}: {e}"));
    assert_eq!(r["ok"], Value::Bool(true), "{req} -> {r}");
    r
}

/// A counter (`drops` or `events`) read over the control socket.
fn counter(v: &Vnfd, section: &str, name: &str) -> u64 {
    vnfd_ok(v, r#"{"cmd":"stats"}"#)["stats"][section][name].as_u64().unwrap_or(0)
}

fn ctx(v: &Vnfd) -> String {
    let s = v
        .request(r#"{"cmd":"stats"}"#)
        .map(|s| format!("drops {} events {}", s["stats"]["drops"], s["stats"]["events"]));
    format!("\nvnfd: {}\nvnfd stderr:\n{}", s.unwrap_or_else(|e| e), v.stderr())
}

/// tcpdump of `filter` on `ifname` in `host` into `file`, capturing once it returns.
fn capture(host: &Host, ifname: &str, filter: &str, file: &Path) -> Reaper {
    let f = file.to_str().unwrap();
    let mut r = Reaper(host.spawn(&["tcpdump", "-i", ifname, "-U", "-n", "-w", f, filter]));
    // The file header is written once the capture is active.
    let up = common::wait_until(20, || {
        std::fs::metadata(file).map(|m| m.len() >= 24).unwrap_or(false) || matches!(r.0.try_wait(), Ok(Some(_)))
    });
    assert!(up && matches!(r.0.try_wait(), Ok(None)), "tcpdump in {} did not start", host.name());
    r
}

/// `fields` (tshark `-e` names, first occurrences) of the packets of `file` that match
/// `filter`, one line each, space separated.
fn fields(file: &Path, filter: &str, fields: &[&str]) -> Vec<String> {
    let mut c = std::process::Command::new("tshark");
    c.args(["-r", file.to_str().unwrap(), "-Y", filter, "-T", "fields", "-E", "occurrence=f"]);
    for f in fields {
        c.args(["-e", f]);
    }
    let out = c.output().expect("tshark");
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

/// `src dst type code checksum-status` of each ICMP packet in `file`, the outer headers'
/// (tshark; status 1 = good).
fn icmp_seen(file: &Path) -> Vec<String> {
    fields(file, "icmp", &["ip.src", "ip.dst", "icmp.type", "icmp.code", "icmp.checksum.status"])
}

/// The three hosts, their servers and vnfd; dropped in this order (processes first).
struct Rig {
    _servers: Vec<Reaper>,
    vnfd: Vnfd,
    logs: tempfile::TempDir,
    sink_log: std::path::PathBuf,
    gre_log: std::path::PathBuf,
    l1: Link,
    _l2: Link,
    _lo: Link,
    lo_if: String,
    h1: Host,
    h2: Host,
    out: Host,
    t0: Instant,
}

/// Hosts, links, the outside servers (STUN-like on 3478, a silent UDP sink on 33434, a raw
/// GRE echo) and a running vnfd.
fn rig() -> Rig {
    let t0 = Instant::now();
    let h1 = Host::new("hpin1");
    let h2 = Host::new("hpin2");
    let out = Host::new("hpout");
    let l1 = Link::new(&h1, &format!("{IN1}/24"), Some("02:00:00:00:0a:10"));
    let l2 = Link::new(&h2, &format!("{IN2}/24"), Some("02:00:00:00:0a:11"));
    let lo = Link::new(&out, &format!("{OUTSIDE}/24"), Some("02:00:00:00:14:50"));
    for h in [&h1, &h2] {
        h.must(&["ip", "route", "add", "default", "via", GW_IN]);
    }
    let logs = tempfile::tempdir().unwrap();
    let sink_log = logs.path().join("sink.log");
    let gre_log = logs.path().join("gre.log");
    let servers = vec![
        udp_server(&out, &["stun", OUTSIDE, "3478"], 3478),
        udp_server(&out, &["sink", OUTSIDE, "33434", sink_log.to_str().unwrap()], 33434),
        Reaper(out.spawn(&["python3", "-c", PY, "greecho", gre_log.to_str().unwrap()])),
    ];
    let vnfd = Vnfd::start(&config(&l1, &l2, &lo, &netns::file_prefix("hpnat")), &[]).unwrap();
    eprintln!("[{:.1}s] vnfd running", t0.elapsed().as_secs_f64());
    Rig {
        _servers: servers,
        vnfd,
        logs,
        sink_log,
        gre_log,
        l1,
        _l2: l2,
        lo_if: lo.host_if.clone(),
        _lo: lo,
        h1,
        h2,
        out,
        t0,
    }
}

/// "IP PORT" as a pair.
fn endpoint(s: &str) -> (String, u16) {
    let (ip, port) = s.split_once(' ').unwrap_or_else(|| panic!("endpoint {s:?}"));
    (ip.to_string(), port.trim().parse().unwrap_or_else(|_| panic!("endpoint {s:?}")))
}

/// Runs `f` on a fresh rig, holding the lcores; then no namespace of this process is left.
fn with_rig(f: impl FnOnce(&Rig)) {
    let _l = common::lcores();
    {
        let r = rig();
        f(&r);
        eprintln!("total {:?}", r.t0.elapsed());
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(
        netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)),
        "namespaces left behind: {:?}",
        netns::rig_namespaces()
    );
}

#[test]
fn two_inside_hosts_reach_each_other_through_their_external_mappings() {
    // RFC 4787 REQ-9.
    with_rig(|r| {
        // --- Hairpinning: the external endpoints as the STUN server sees them.
        let e1 = py(&r.h1, &["whoami", "5000", OUTSIDE, "3478"]);
        let e2 = py(&r.h2, &["whoami", "6000", OUTSIDE, "3478"]);
        let (x1, x2) = (endpoint(&e1), endpoint(&e2));
        assert!(x1.0 == POOL && x2.0 == POOL && x1.1 != x2.1, "external endpoints {x1:?} {x2:?}{}", ctx(&r.vnfd));
        // They are the mappings `nat` lists.
        let nat = vnfd_ok(&r.vnfd, r#"{"cmd":"nat"}"#);
        for (int, ext) in [(format!("{IN1}:5000"), &x1), (format!("{IN2}:6000"), &x2)] {
            let ext = format!("{}:{}", ext.0, ext.1);
            let found = nat["mappings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["internal"] == int.as_str() && m["external"] == ext.as_str() && m["proto"] == "udp");
            assert!(found, "mapping {int} -> {ext} not in `nat`: {nat}");
        }
        let hp_before = counter(&r.vnfd, "events", "nat-translated");
        let (p1, p2) = (r.logs.path().join("punch1"), r.logs.path().join("punch2"));
        let x2p = x2.1.to_string();
        let x1p = x1.1.to_string();
        let _punch2 = Reaper(r.h2.spawn(&[
            "timeout",
            "40",
            "python3",
            "-c",
            PY,
            "punch",
            "6000",
            POOL,
            &x1p,
            p2.to_str().unwrap(),
        ]));
        py(&r.h1, &["punch", "5000", POOL, &x2p, p1.to_str().unwrap()]);
        assert!(
            common::wait_until(25, || std::fs::read_to_string(&p2).is_ok_and(|s| !s.is_empty())),
            "second puncher did not finish{}",
            ctx(&r.vnfd)
        );
        let (r1, r2) = (std::fs::read_to_string(&p1).unwrap(), std::fs::read_to_string(&p2).unwrap());
        assert_eq!(r1, format!("got {POOL} {} punch from 6000", x2.1), "inside host 1 received{}", ctx(&r.vnfd));
        assert_eq!(r2, format!("got {POOL} {} punch from 5000", x1.1), "inside host 2 received{}", ctx(&r.vnfd));
        assert!(counter(&r.vnfd, "events", "nat-translated") > hp_before, "{}", ctx(&r.vnfd));
        eprintln!("[{:.1}s] hairpin ok: {x1:?} <-> {x2:?}", r.t0.elapsed().as_secs_f64());
    });
}

#[test]
fn a_corrupted_icmp_error_is_not_delivered_inside() {
    // RFC 5508 REQ-3.
    with_rig(|r| {
        // --- A corrupted ICMP error about a translated flow is dropped, the right one passes.
        let pcap = r.logs.path().join("h1-icmp.pcap");
        let _cap = capture(&r.h1, &r.l1.host_if, "icmp", &pcap);
        py(&r.h1, &["send", "7000", OUTSIDE, "33434"]);
        assert!(
            common::wait_until(10, || std::fs::read_to_string(&r.sink_log).is_ok_and(|s| !s.is_empty())),
            "probe datagram did not arrive outside{}",
            ctx(&r.vnfd)
        );
        let sink = std::fs::read_to_string(&r.sink_log).unwrap();
        let (ip, port) = endpoint(sink.lines().next().unwrap());
        assert_eq!(ip, POOL, "probe seen from {sink}");
        let port = port.to_string();
        let (bad0, tr0) =
            (counter(&r.vnfd, "drops", "icmp-bad-checksum"), counter(&r.vnfd, "events", "icmp-error-translated"));
        let scapy = |good: &str| {
            let o = r.out.exec(&["timeout", "40", "/usr/bin/python3", "-c", SCAPY, OUTSIDE, POOL, &port, good]);
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("sent"),
                "scapy: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        scapy("bad");
        assert!(
            common::wait_until(10, || counter(&r.vnfd, "drops", "icmp-bad-checksum") == bad0 + 1),
            "icmp-bad-checksum not counted{}",
            ctx(&r.vnfd)
        );
        assert_eq!(counter(&r.vnfd, "events", "icmp-error-translated"), tr0, "{}", ctx(&r.vnfd));
        scapy("good");
        assert!(
            common::wait_until(10, || counter(&r.vnfd, "events", "icmp-error-translated") == tr0 + 1),
            "the valid error was not translated{}",
            ctx(&r.vnfd)
        );
        // Delivered once, with a valid checksum; the corrupted one never arrived.
        let want = vec![format!("{OUTSIDE} {IN1} 3 3 1")];
        assert!(
            common::wait_until(10, || icmp_seen(&pcap) == want),
            "inside capture: {:?}{}",
            icmp_seen(&pcap),
            ctx(&r.vnfd)
        );
        assert_eq!(counter(&r.vnfd, "drops", "icmp-bad-checksum"), bad0 + 1);
        eprintln!("[{:.1}s] ICMP checksum ok", r.t0.elapsed().as_secs_f64());
    });
}

#[test]
fn gre_leaves_through_snat_with_the_pool_address() {
    with_rig(|r| {
        // --- GRE (IP protocol 47) through source NAT, address-only.
        let res = py(&r.h1, &["gre", OUTSIDE]);
        assert_eq!(res, "ok", "GRE inside -> outside and back{}", ctx(&r.vnfd));
        let seen = std::fs::read_to_string(&r.gre_log).unwrap_or_default();
        assert!(!seen.is_empty() && seen.lines().all(|l| l == POOL), "outside saw GRE from {seen:?}{}", ctx(&r.vnfd));
        let ct = vnfd_ok(&r.vnfd, r#"{"cmd":"conntrack"}"#);
        let gre = ct["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["proto"] == "47" && e["orig"]["src"] == IN1 && e["reply"]["dst"] == POOL && e["snat"] == true)
            .count();
        assert_eq!(gre, 1, "the address-translated GRE connection of {IN1}: {ct}");
        assert_eq!(counter(&r.vnfd, "drops", "nat-unsupported-proto"), 0, "{}", ctx(&r.vnfd));
        eprintln!("[{:.1}s] GRE ok", r.t0.elapsed().as_secs_f64());
    });
}

#[test]
fn mss_is_clamped_on_the_inside_to_outside_zone_pair() {
    // RFC 4459 2.3.
    with_rig(|r| {
        let _srv = Reaper(r.out.spawn(&["python3", "-c", PY, "tserver", OUTSIDE, "8000"]));
        assert!(
            common::wait_until(20, || {
                !String::from_utf8_lossy(&r.out.exec(&["ss", "-Hltn", "sport = :8000"]).stdout).trim().is_empty()
            }),
            "TCP server outside not listening"
        );
        let (pin, pout) = (r.logs.path().join("in.pcap"), r.logs.path().join("out.pcap"));
        let syns = "tcp port 8000 and tcp[tcpflags] & tcp-syn != 0";
        let _c1 = capture(&r.h1, &r.l1.host_if, syns, &pin);
        let _c2 = capture(&r.out, &r.lo_if, syns, &pout);
        let res = py(&r.h1, &["tcp", OUTSIDE, "8000"]);
        assert_eq!(res, "ok", "TCP through the clamped zone pair{}", ctx(&r.vnfd));
        let f = ["ip.src", "tcp.flags.ack", "tcp.options.mss_val"];
        let want_in = [format!("{IN1} 0 1460"), format!("{OUTSIDE} 1 1360")];
        let want_out = [format!("{POOL} 0 1360"), format!("{OUTSIDE} 1 1460")];
        assert!(
            common::wait_until(10, || fields(&pin, "tcp", &f) == want_in && fields(&pout, "tcp", &f) == want_out),
            "inside saw {:?}, outside saw {:?}{}",
            fields(&pin, "tcp", &f),
            fields(&pout, "tcp", &f),
            ctx(&r.vnfd)
        );
        eprintln!("[{:.1}s] MSS ok", r.t0.elapsed().as_secs_f64());
    });
}
