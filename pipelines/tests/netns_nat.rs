//! Real Linux hosts through vnfd's NAT and zone firewall: an `inside` host
//! (198.51.100.10/24, VLAN 10, zone inside) and an `outside` host (203.0.113.80/24, VLAN 20,
//! zone outside) that knows only its own subnet, so it can only answer the pool address
//! 203.0.113.100.
//!
//! Shows: source NAT of TCP, UDP, ICMP echo and timestamp queries (the outside servers see
//! 203.0.113.100 and a port of the pool); a TCP port forward (the inside server sees the real client); firewall
//! rejects (a real RST, ICMP port unreachable); unsolicited inbound dropped (zone policy,
//! pool address without mapping, unsolicited echo to the pool address); a connection table
//! filled by a SYN flood keeps serving an established connection and recovers after the
//! transitory timeout; a clean stop. Counters are read while vnfd runs (`--stats-interval`)
//! and compared before and after each step.

mod common;

use common::netns::{self, Host, Link, Reaper, Vnfd};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const INSIDE: &str = "198.51.100.10";
const OUTSIDE: &str = "203.0.113.80";
const POOL: &str = "203.0.113.100";
const GW_IN: &str = "198.51.100.1";
const GW_OUT: &str = "203.0.113.1";
const PORTS: (u16, u16) = (20000, 29999);
/// `[conntrack] tcp_transitory`, seconds.
const TRANSITORY: u64 = 4;
/// `[conntrack] capacity`.
const CAPACITY: u64 = 256;

fn config(inside: &Link, outside: &Link, prefix: &str) -> String {
    let rest = format!(
        r#"
[conntrack]
capacity = {CAPACITY}
tcp_transitory = {TRANSITORY}
udp = 30
icmp = 10

[[nat.snat]]
from = ["198.51.100.0/24"]
zone = "outside"
pool = ["{POOL}"]
ports = "{}-{}"

[[nat.forward]]
proto = "tcp"
address = "{POOL}"
port = 8080
to = "{INSIDE}"
to_port = 8000

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
action = "reject"
"#,
        PORTS.0, PORTS.1,
    );
    netns::two_zones(prefix, &[("in", inside.devargs(0))], &outside.devargs(1), &rest)
}

/// Servers and clients run in the hosts as `python3 -c PY CMD ARGS...`; clients print one
/// result line: `ok LOCAL_ADDR:PORT SECONDS`, `mismatch ...` or `err ERROR SECONDS`.
const PY: &str = r#"
import os, socket, struct, sys, threading, time
cmd, a = sys.argv[1], sys.argv[2:]

def err(e):
    return "timeout" if isinstance(e, (socket.timeout, TimeoutError)) else type(e).__name__

if cmd == "tserver":  # IP PORT LOG: TCP echo server, one line "IP PORT" per accepted peer
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a[0], int(a[1])))
    s.listen(128)
    def serve(c):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()
    while True:
        c, p = s.accept()
        with open(a[2], "a") as f:
            f.write("%s %d\n" % p)
        threading.Thread(target=serve, args=(c,), daemon=True).start()

elif cmd == "userver":  # IP PORT LOG: UDP echo server, one line "IP PORT" per datagram
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a[0], int(a[1])))
    while True:
        d, p = s.recvfrom(65536)
        with open(a[2], "a") as f:
            f.write("%s %d\n" % p)
        s.sendto(d, p)

elif cmd == "tcp":  # IP PORT NBYTES TIMEOUT: connect, send NBYTES, expect them echoed
    t = time.monotonic()
    try:
        c = socket.create_connection((a[0], int(a[1])), timeout=float(a[3]))
        data = os.urandom(int(a[2]))
        threading.Thread(target=c.sendall, args=(data,), daemon=True).start()
        got = bytearray()
        while len(got) < len(data):
            d = c.recv(65536)
            if not d:
                break
            got += d
        res = "ok" if bytes(got) == data else "mismatch(%d/%d)" % (len(got), len(data))
        print(res, "%s:%d" % c.getsockname(), "%.3f" % (time.monotonic() - t))
        c.close()
    except Exception as e:
        print("err", err(e), "%.3f" % (time.monotonic() - t))

elif cmd == "udp":  # IP PORT TIMEOUT TRIES: connected UDP socket, expect the datagram echoed
    t = time.monotonic()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(float(a[2]))
    c.connect((a[0], int(a[1])))
    msg = os.urandom(32)
    res = "err timeout"
    for i in range(int(a[3])):
        try:
            c.send(msg)
            d = c.recv(65536)
            res = "ok" if d == msg else "mismatch"
            break
        except Exception as e:
            res = "err " + err(e)
            if res != "err timeout":
                break
    print(res, "%s:%d" % c.getsockname(), "%.3f" % (time.monotonic() - t))

elif cmd == "hold":  # IP PORT: one long-lived connection; each stdin line goes through it
    try:
        c = socket.create_connection((a[0], int(a[1])), timeout=5)
    except Exception as e:
        print("err", err(e), flush=True)
        sys.exit(1)
    print("connected %s:%d" % c.getsockname(), flush=True)
    f = c.makefile("rb")
    for line in sys.stdin:
        try:
            c.sendall(line.encode())
            print("echo " + f.readline().decode().strip(), flush=True)
        except Exception as e:
            print("err " + err(e), flush=True)
            break

elif cmd == "flood":  # SRC DST DPORT N FIRST_SPORT: N SYNs from N source ports (raw socket)
    src, dst = socket.inet_aton(a[0]), socket.inet_aton(a[1])
    dport, n, sp0 = int(a[2]), int(a[3]), int(a[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    def csum(b):
        x = sum(struct.unpack("!%dH" % (len(b) // 2), b))
        while x >> 16:
            x = (x & 0xffff) + (x >> 16)
        return ~x & 0xffff
    t = time.monotonic()
    for i in range(n):
        h = struct.pack("!HHIIBBHHH", sp0 + i, dport, 0x1000 * i + 1, 0, 5 << 4, 0x02, 64240, 0, 0)
        c = csum(src + dst + struct.pack("!BBH", 0, 6, len(h)) + h)
        s.sendto(h[:16] + struct.pack("!H", c) + h[18:], (a[1], 0))
        if i % 32 == 31:
            time.sleep(0.001)  # the veth backlog and af_packet ring are finite
    print("sent", n, "%.3f" % (time.monotonic() - t))
"#;

/// Runs a client subcommand of [`PY`] in `host` and returns its result line.
fn client(host: &Host, args: &[&str]) -> String {
    let mut argv = vec!["timeout", "30", "python3", "-c", PY];
    argv.extend(args);
    let out = host.exec(&argv);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if text.is_empty() {
        format!("no output ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())
    } else {
        text
    }
}

/// Starts a server subcommand of [`PY`] in `host` and waits (at most 20 s) until it listens.
fn server(host: &Host, kind: &str, ip: &str, port: u16, log: &Path) -> Reaper {
    std::fs::write(log, "").unwrap();
    let port_s = port.to_string();
    let mut r = Reaper(host.spawn(&["python3", "-c", PY, kind, ip, &port_s, log.to_str().unwrap()]));
    let ss = if kind == "userver" { "-Hlun" } else { "-Hltn" };
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let out = host.exec(&["ss", ss, &format!("sport = :{port}")]);
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return r;
        }
        if let Ok(Some(st)) = r.0.try_wait() {
            panic!("{kind} {ip}:{port} in {} exited ({st}) before listening", host.name());
        }
        assert!(Instant::now() < end, "{kind} {ip}:{port} in {} not listening after 20 s", host.name());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The peers a server logged: (address, port).
fn peers(log: &Path) -> Vec<(String, u16)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (ip, port) = l.split_once(' ')?;
            Some((ip.to_string(), port.trim().parse().ok()?))
        })
        .collect()
}

fn count(s: &Value, section: &str, key: &str) -> u64 {
    s[section][key].as_u64().unwrap_or(0)
}

/// A counter's increase from `before` to `after`.
fn delta(before: &Value, after: &Value, section: &str, key: &str) -> u64 {
    count(after, section, key).saturating_sub(count(before, section, key))
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
    let s = v.last_stats_line().unwrap_or_else(|| panic!("no parsable stats line:\n{}", v.stderr()));
    // Read while traffic flows: the mempool counts still add up (one reading, not two).
    let m = &s["mempool"];
    let n = |k: &str| m[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n("in_use") + n("available"), n("size"), "{m}");
    s
}

/// Drops, events and connection-table gauges of a stats value, for messages.
fn summary(s: &Value) -> String {
    let w = &s["workers"][0];
    format!(
        "drops {} events {} ct_entries {} nat_mappings {}",
        s["drops"], s["events"], w["ct_entries"], w["nat_mappings"]
    )
}

/// vnfd's stderr and its latest counters, for messages.
fn ctx(v: &Vnfd) -> String {
    let s = v.last_stats_line().map(|s| summary(&s)).unwrap_or_else(|| "no stats line".into());
    format!("\nvnfd stats: {s}\nvnfd stderr:\n{}", v.stderr())
}

fn vnfd_ok(v: &Vnfd, req: &str) -> Value {
    let r = v.request(req).unwrap_or_else(|e| panic!("{req}: {e}"));
    assert_eq!(r["ok"], Value::Bool(true), "{req} -> {r}");
    r
}

fn in_pool(port: u16) -> bool {
    (PORTS.0..=PORTS.1).contains(&port)
}

/// A long-lived TCP connection from a host: each `line` goes through it and must come back.
struct Hold {
    child: Reaper,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Hold {
    fn open(host: &Host, ip: &str, port: u16) -> (Hold, String) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", host.name(), "python3", "-c", PY, "hold", ip, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn hold client");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("hold stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut h = Hold { child: Reaper(child), stdin, lines };
        let first = h.next_line();
        (h, first)
    }

    fn next_line(&mut self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| format!("no line from the hold client in 10 s ({e})"))
    }

    /// Sends `word` and returns what the client printed (`echo WORD` when it came back).
    fn echo(&mut self, word: &str) -> String {
        let sent = self.stdin.as_mut().map(|s| writeln!(s, "{word}").and_then(|_| s.flush()));
        if let Some(Err(e)) = sent {
            return format!("cannot write to the hold client: {e}");
        }
        self.next_line()
    }

    fn close(mut self) {
        drop(self.stdin.take());
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && matches!(self.child.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn nat_and_firewall_between_linux_hosts() {
    let t0 = Instant::now();
    {
        let inside = Host::new("natin");
        let outside = Host::new("natout");
        let l_in = Link::new(&inside, &format!("{INSIDE}/24"), Some("02:00:00:00:0a:10"));
        let l_out = Link::new(&outside, &format!("{OUTSIDE}/24"), Some("02:00:00:00:14:50"));
        inside.must(&["ip", "route", "add", "default", "via", GW_IN]);
        // The outside host knows only its own subnet.
        let routes = String::from_utf8_lossy(&outside.must(&["ip", "route", "show"]).stdout).to_string();
        assert!(!routes.contains("198.51.100") && !routes.contains("default"), "outside host routes: {routes}");

        let logs = tempfile::tempdir().unwrap();
        let (out_tcp, out_udp, in_tcp) =
            (logs.path().join("out_tcp.log"), logs.path().join("out_udp.log"), logs.path().join("in_tcp.log"));
        let _srv_out_tcp = server(&outside, "tserver", OUTSIDE, 7000, &out_tcp);
        let _srv_out_udp = server(&outside, "userver", OUTSIDE, 7007, &out_udp);
        let _srv_in_tcp = server(&inside, "tserver", INSIDE, 8000, &in_tcp);

        let mut vnfd =
            Vnfd::start(&config(&l_in, &l_out, &netns::file_prefix("nat")), &["--stats-interval", "0.2"]).unwrap();
        let s0 = fresh_stats(&vnfd);
        eprintln!("[{:.1}s] vnfd running", t0.elapsed().as_secs_f64());

        // --- 3. ICMP: echo through SNAT (ids translated), the gateway answers, the pool
        // address does not answer unsolicited echo.
        assert!(netns::ping(&inside, OUTSIDE, 3), "ping inside -> {OUTSIDE} through SNAT failed{}", ctx(&vnfd));
        assert!(netns::ping(&outside, GW_OUT, 3), "ping outside -> gateway {GW_OUT} failed{}", ctx(&vnfd));
        // A timestamp query (RFC 5508 REQ-1: queries other than echo), sent by scapy: the
        // outside kernel answers it, and the reply comes back with the identifier restored.
        let ts = format!(
            "from scapy.all import *\nconf.verb=0\nr=sr1(IP(dst='{OUTSIDE}')/ICMP(type=13,id=0x4242,seq=1)/(b'\\0'*12),timeout=3)\nprint('none' if r is None else '%d %d %s' % (r[ICMP].type, r[ICMP].id, r[IP].src))"
        );
        let out = inside.exec(&["/usr/bin/python3", "-c", &ts]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("14 {} {OUTSIDE}", 0x4242),
            "timestamp query through SNAT: {}{}",
            String::from_utf8_lossy(&out.stderr),
            ctx(&vnfd)
        );
        let s1 = fresh_stats(&vnfd);
        assert!(
            delta(&s0, &s1, "events", "nat-translated") >= 6,
            "ping through SNAT translated fewer than 6 packets: {}{}",
            summary(&s1),
            ctx(&vnfd)
        );
        let replies = netns::ping_replies(&outside, POOL, 3);
        let s2 = fresh_stats(&vnfd);
        assert_eq!(replies, 0, "unsolicited echo to pool address {POOL} answered{}", ctx(&vnfd));
        // vnfd answered ARP for the pool address with the gateway's MAC (else the echo
        // requests would not have reached it at all).
        let gw_mac = outside.neighbour(GW_OUT);
        assert!(gw_mac.is_some(), "outside host has no neighbour entry for its gateway{}", ctx(&vnfd));
        assert_eq!(
            outside.neighbour(POOL),
            gw_mac,
            "outside host's neighbour entry for {POOL} (want the gateway's MAC){}",
            ctx(&vnfd)
        );
        assert!(
            delta(&s1, &s2, "drops", "nat-no-mapping") >= 3,
            "echo to {POOL}: nat-no-mapping not counted: {}{}",
            summary(&s2),
            ctx(&vnfd)
        );
        eprintln!("[{:.1}s] ICMP ok", t0.elapsed().as_secs_f64());

        // --- 1. TCP inside -> outside through SNAT.
        let r = client(&inside, &["tcp", OUTSIDE, "7000", "1048576", "10"]);
        assert!(r.starts_with("ok "), "TCP echo of 1 MiB inside -> {OUTSIDE}:7000: {r}{}", ctx(&vnfd));
        assert!(r.contains(&format!(" {INSIDE}:")), "client's own address: {r}");
        let p = peers(&out_tcp);
        assert_eq!(p.len(), 1, "outside TCP server peers {p:?}{}", ctx(&vnfd));
        assert!(
            p.iter().all(|(ip, port)| ip == POOL && in_pool(*port)),
            "outside TCP server saw {p:?}, want {POOL}:{}-{}{}",
            PORTS.0,
            PORTS.1,
            ctx(&vnfd)
        );
        let took = netns::tcp_transfer(&outside, OUTSIDE, 8081, &inside)
            .unwrap_or_else(|e| panic!("HTTP 2 MiB inside -> outside through SNAT: {e}{}", ctx(&vnfd)));
        eprintln!("[{:.1}s] TCP SNAT ok (2 MiB HTTP in {took:?})", t0.elapsed().as_secs_f64());

        // --- 2. UDP echo through SNAT.
        let r = client(&inside, &["udp", OUTSIDE, "7007", "2", "3"]);
        assert!(r.starts_with("ok "), "UDP echo inside -> {OUTSIDE}:7007: {r}{}", ctx(&vnfd));
        let p = peers(&out_udp);
        assert!(
            !p.is_empty() && p.iter().all(|(ip, port)| ip == POOL && in_pool(*port)),
            "outside UDP server saw {p:?}, want {POOL}:{}-{}{}",
            PORTS.0,
            PORTS.1,
            ctx(&vnfd)
        );
        eprintln!("[{:.1}s] UDP SNAT ok", t0.elapsed().as_secs_f64());

        // --- 4. Port forward POOL:8080 -> INSIDE:8000.
        let r = client(&outside, &["tcp", POOL, "8080", "1048576", "10"]);
        assert!(r.starts_with("ok "), "TCP echo of 1 MiB outside -> {POOL}:8080 (forward): {r}{}", ctx(&vnfd));
        let p = peers(&in_tcp);
        assert!(
            p.len() == 1 && p[0].0 == OUTSIDE,
            "inside server (forward target) saw {p:?}, want {OUTSIDE}{}",
            ctx(&vnfd)
        );
        eprintln!("[{:.1}s] DNAT ok", t0.elapsed().as_secs_f64());

        // --- 5. Firewall reject: TCP RST, ICMP port unreachable.
        let s3 = fresh_stats(&vnfd);
        let r = client(&inside, &["tcp", OUTSIDE, "25", "0", "5"]);
        let secs: f64 = r.rsplit(' ').next().and_then(|x| x.parse().ok()).unwrap_or(99.0);
        assert!(
            r.starts_with("err ConnectionRefusedError") && secs < 1.0,
            "TCP to {OUTSIDE}:25 (reject): {r}, want a refusal within 1 s{}",
            ctx(&vnfd)
        );
        let r = client(&inside, &["udp", OUTSIDE, "9", "2", "2"]);
        assert!(
            r.starts_with("err ConnectionRefusedError"),
            "UDP to {OUTSIDE}:9 (reject): {r}, want ICMP port unreachable{}",
            ctx(&vnfd)
        );
        let s4 = fresh_stats(&vnfd);
        assert!(delta(&s3, &s4, "drops", "fw-reject") >= 2, "fw-reject: {}{}", summary(&s4), ctx(&vnfd));
        assert!(delta(&s3, &s4, "events", "fw-reject-sent") >= 2, "fw-reject-sent: {}{}", summary(&s4), ctx(&vnfd));
        eprintln!("[{:.1}s] reject ok", t0.elapsed().as_secs_f64());

        // --- 6. Unsolicited inbound is dropped silently.
        outside.must(&["ip", "route", "add", "198.51.100.0/24", "via", GW_OUT]);
        let before = peers(&in_tcp).len();
        let r = client(&outside, &["tcp", INSIDE, "8000", "0", "2"]);
        assert!(
            r.starts_with("err timeout"),
            "TCP outside -> {INSIDE}:8000 (no policy outside -> inside): {r}, want a timeout{}",
            ctx(&vnfd)
        );
        assert_eq!(
            peers(&in_tcp).len(),
            before,
            "the inside server was reached from outside: {:?}{}",
            peers(&in_tcp),
            ctx(&vnfd)
        );
        let s5 = fresh_stats(&vnfd);
        assert!(delta(&s4, &s5, "drops", "fw-drop") > 0, "fw-drop: {}{}", summary(&s5), ctx(&vnfd));
        let r = client(&outside, &["tcp", POOL, "2222", "0", "2"]);
        assert!(
            r.starts_with("err timeout"),
            "TCP outside -> {POOL}:2222 (no forward): {r}, want a timeout{}",
            ctx(&vnfd)
        );
        let s6 = fresh_stats(&vnfd);
        assert!(delta(&s5, &s6, "drops", "nat-no-mapping") > 0, "nat-no-mapping: {}{}", summary(&s6), ctx(&vnfd));
        eprintln!("[{:.1}s] unsolicited inbound dropped", t0.elapsed().as_secs_f64());

        // --- 7. A full connection table: established traffic goes on, new connections
        // recover after the transitory timeout.
        let (mut hold, first) = Hold::open(&inside, OUTSIDE, 7000);
        assert!(first.starts_with("connected "), "long-lived connection: {first}{}", ctx(&vnfd));
        assert_eq!(hold.echo("before"), "echo before", "long-lived connection before the flood{}", ctx(&vnfd));
        let s7 = fresh_stats(&vnfd);
        let r = client(&inside, &["flood", INSIDE, OUTSIDE, "9999", "600", "40000"]);
        assert!(r.starts_with("sent 600"), "SYN flood: {r}");
        let s8 = fresh_stats(&vnfd);
        eprintln!("[{:.1}s] after the flood: {}", t0.elapsed().as_secs_f64(), summary(&s8));
        assert!(
            delta(&s7, &s8, "drops", "ct-table-full") > 0,
            "600 SYNs did not fill a table of {CAPACITY}: {}{}",
            summary(&s8),
            ctx(&vnfd)
        );
        // Top it up (an older connection may have expired meanwhile) and talk right away.
        let r = client(&inside, &["flood", INSIDE, OUTSIDE, "9999", "100", "40600"]);
        let flood_end = Instant::now();
        assert!(r.starts_with("sent 100"), "SYN flood: {r}");
        let during = hold.echo("during");
        let s8b = fresh_stats(&vnfd);
        assert!(
            delta(&s8, &s8b, "drops", "ct-table-full") > 0,
            "the table was not full around the exchange: {}{}",
            summary(&s8b),
            ctx(&vnfd)
        );
        assert_eq!(during, "echo during", "long-lived connection while the table is full{}", ctx(&vnfd));
        let r = client(&inside, &["tcp", OUTSIDE, "7000", "100", "1"]);
        eprintln!("[{:.1}s] new connection during the flood (not asserted): {r}", t0.elapsed().as_secs_f64());
        // The flood's connections expire TRANSITORY s after their last packet (the RST).
        let wait = Duration::from_secs(TRANSITORY + 2).saturating_sub(flood_end.elapsed());
        std::thread::sleep(wait);
        let peers_before = peers(&out_tcp).len();
        let r = client(&inside, &["tcp", OUTSIDE, "7000", "1000", "5"]);
        assert!(r.starts_with("ok "), "new connection {:?} after the flood: {r}{}", flood_end.elapsed(), ctx(&vnfd));
        let p = peers(&out_tcp);
        assert!(
            p.len() > peers_before && p.iter().all(|(ip, port)| ip == POOL && in_pool(*port)),
            "outside TCP server peers {p:?}{}",
            ctx(&vnfd)
        );
        assert_eq!(hold.echo("after"), "echo after", "long-lived connection after the flood{}", ctx(&vnfd));
        let s9 = fresh_stats(&vnfd);
        assert!(delta(&s8, &s9, "events", "ct-expired") > 0, "ct-expired: {}{}", summary(&s9), ctx(&vnfd));
        eprintln!("[{:.1}s] recovered: {}", t0.elapsed().as_secs_f64(), summary(&s9));
        hold.close();

        // --- 8. Hot reload: established connections through SNAT and through the port
        // forward survive a reload that widens the pool's port range, adds a firewall rule
        // and changes timeouts; the new rule applies to new connections; SIGHUP reloads back.
        // The connections are listed by `conntrack` over the control socket.
        let (mut snat_c, first) = Hold::open(&inside, OUTSIDE, 7000);
        assert!(first.starts_with("connected "), "SNAT connection: {first}{}", ctx(&vnfd));
        let (mut dnat_c, first) = Hold::open(&outside, POOL, 8080);
        assert!(first.starts_with("connected "), "forwarded connection: {first}{}", ctx(&vnfd));
        assert_eq!(
            (snat_c.echo("r0"), dnat_c.echo("r0")),
            ("echo r0".into(), "echo r0".into()),
            "before the reload{}",
            ctx(&vnfd)
        );
        let listing = |v: &Vnfd| vnfd_ok(v, r#"{"cmd":"conntrack","proto":"tcp","port":7000}"#);
        let before = listing(&vnfd);
        let established: Vec<&Value> =
            before["entries"].as_array().unwrap().iter().filter(|e| e["state"] == "ESTABLISHED").collect();
        assert_eq!(established.len(), 1, "one established connection to port 7000: {before}");
        let ext_port = established[0]["reply"]["dport"].as_u64().unwrap();
        assert_eq!(
            (established[0]["reply"]["dst"].as_str(), established[0]["snat"].as_bool()),
            (Some(POOL), Some(true)),
            "{before}"
        );
        let nat = vnfd_ok(&vnfd, r#"{"cmd":"nat"}"#);
        let ext = format!("{POOL}:{ext_port}");
        let m: Vec<&Value> =
            nat["mappings"].as_array().unwrap().iter().filter(|m| m["external"] == ext.as_str()).collect();
        assert_eq!(m.len(), 1, "the connection's mapping in `nat`: {nat}");
        assert!(
            m[0]["internal"].as_str().unwrap().starts_with(&format!("{INSIDE}:")) && m[0]["proto"] == "tcp",
            "{nat}"
        );
        assert_eq!(
            (nat["pools"][0]["addresses"].clone(), nat["pools"][0]["ports"].clone()),
            (serde_json::json!([POOL]), serde_json::json!([PORTS.0, PORTS.1])),
            "{nat}"
        );
        assert!(nat["pools"][0]["free"]["tcp"].as_u64().unwrap() < u64::from(PORTS.1 - PORTS.0 + 1), "{nat}");
        let cfg_path = vnfd.config_path();
        let original = std::fs::read_to_string(&cfg_path).unwrap();
        let changed = original
            .replace(&format!("ports = \"{}-{}\"", PORTS.0, PORTS.1), &format!("ports = \"{}-39999\"", PORTS.0))
            .replace("udp = 30", "udp = 60")
            + "\n[[firewall.rule]]\nfrom = \"inside\"\nproto = \"tcp\"\ndport = \"7001\"\naction = \"reject\"\n";
        let changed_path = vnfd.dir().join("changed.toml");
        std::fs::write(&changed_path, &changed).unwrap();
        let r = vnfd_ok(&vnfd, &serde_json::json!({"cmd": "config reload", "path": changed_path}).to_string());
        assert_eq!((r["generation"].as_u64(), &r["ports_kept"]), (Some(2), &serde_json::json!(["in", "out"])), "{r}");
        eprintln!("[{:.1}s] reloaded in {} us", t0.elapsed().as_secs_f64(), r["latency_us"]);
        assert_eq!(
            (snat_c.echo("r1"), dnat_c.echo("r1")),
            ("echo r1".into(), "echo r1".into()),
            "after the reload{}",
            ctx(&vnfd)
        );
        let after = listing(&vnfd);
        let same: Vec<&Value> =
            after["entries"].as_array().unwrap().iter().filter(|e| e["state"] == "ESTABLISHED").collect();
        assert_eq!(
            (same.len(), same[0]["reply"]["dport"].as_u64()),
            (1, Some(ext_port)),
            "the connection keeps its mapping: {after}"
        );
        let r = client(&inside, &["tcp", OUTSIDE, "7001", "0", "5"]);
        assert!(
            r.starts_with("err ConnectionRefusedError"),
            "TCP to {OUTSIDE}:7001 after the reload added a reject rule: {r}{}",
            ctx(&vnfd)
        );
        // SIGHUP re-reads the file vnfd runs now (the one the last reload named): put the
        // original text there.
        std::fs::write(&changed_path, &original).unwrap();
        let _ = Command::new("kill").args(["-HUP", &vnfd.pid().to_string()]).status();
        assert!(
            common::wait_until(5, || vnfd_ok(&vnfd, r#"{"cmd":"version"}"#)["generation"] == 3),
            "SIGHUP reload{}",
            ctx(&vnfd)
        );
        assert_eq!(
            (snat_c.echo("r2"), dnat_c.echo("r2")),
            ("echo r2".into(), "echo r2".into()),
            "after SIGHUP{}",
            ctx(&vnfd)
        );
        // No rule now: the outside host itself refuses (no server on 7001), vnfd rejects nothing.
        let rejects = |v: &Vnfd| vnfd_ok(v, r#"{"cmd":"stats"}"#)["stats"]["drops"]["fw-reject"].as_u64().unwrap_or(0);
        let n = rejects(&vnfd);
        let r = client(&inside, &["tcp", OUTSIDE, "7001", "0", "3"]);
        assert_eq!(rejects(&vnfd), n, "the reject rule is gone again: {r}{}", ctx(&vnfd));
        snat_c.close();
        dnat_c.close();
        // What is left can be flushed by filter: the forwarded connections (port 8000 inside).
        let f = vnfd_ok(&vnfd, r#"{"cmd":"conntrack flush","proto":"tcp","port":8000}"#);
        assert!(f["flushed"].as_u64().unwrap() >= 1, "{f}");
        let left = vnfd_ok(&vnfd, r#"{"cmd":"conntrack","port":8000}"#);
        assert_eq!(left["count"], 0, "{left}");
        eprintln!("[{:.1}s] connections survived two reloads", t0.elapsed().as_secs_f64());

        // --- 9. Clean stop.
        let s = vnfd.stats().unwrap_or_else(|e| panic!("{e}"));
        let log = vnfd.stderr();
        assert!(log.contains("vnfd: stopped"), "vnfd did not stop cleanly:\n{log}");
        eprintln!(
            "final: {} mempool {} ports {}",
            summary(&s),
            s["mempool"],
            s["ports"]
                .as_array()
                .map(|ps| ps
                    .iter()
                    .map(|p| format!("{}: rx {} tx {} hw {}", p["name"], p["rx"], p["tx"], p["hw"]))
                    .collect::<Vec<_>>()
                    .join("; "))
                .unwrap_or_default()
        );
        assert_eq!(count(&s, "drops", "tx-full"), 0, "{s}");
        assert_eq!(s["mempool"]["available"], s["mempool"]["size"], "mbufs leaked: {s}");
        for p in s["ports"].as_array().into_iter().flatten() {
            assert_eq!(p["tx_full"].as_u64(), Some(0), "{s}");
        }
        for ev in [
            "ct-new",
            "nat-mapping-new",
            "nat-translated",
            "arp-reply-sent",
            "echo-reply-sent",
            "fw-reject-sent",
            "ct-expired",
        ] {
            assert!(count(&s, "events", ev) > 0, "event {ev} never counted: {}", summary(&s));
        }
        drop((vnfd, l_in, l_out, inside, outside));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(
        netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)),
        "namespaces left behind: {:?}",
        netns::rig_namespaces()
    );
    eprintln!("total {:?}", t0.elapsed());
}
