//! TCP window tracking through vnfd's source NAT between real Linux hosts (issue 14 item 1):
//! an `inside` host (198.51.100.10/24) holds a TCP connection to an echo server on the
//! `outside` host (203.0.113.80/24) through SNAT to 203.0.113.100.
//!
//! Shows: a RST spoofed from outside with a sequence number half the space away from the
//! server's is dropped (`ct-rst-out-of-window`) and the connection keeps echoing; a RST in
//! the window but not at the expected number passes without a state change
//! (`ct-rst-inexact`), the inside kernel answers it with a challenge ACK (RFC 5961 3.2) that
//! reaches the outside host; no `ct-invalid` or `ct-out-of-window` drops all along; a
//! genuine RST of the inside client moves the connection to CLOSE. The spoofed segments are
//! written with a raw socket by a script in the outside host that first reads the server's
//! next sequence number off its own interface (AF_PACKET).

mod common;

use common::netns::{self, Host, Link, Reaper, Vnfd};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const INSIDE: &str = "198.51.100.10";
const OUTSIDE: &str = "203.0.113.80";
const POOL: &str = "203.0.113.100";
const GW_IN: &str = "198.51.100.1";
const PORT: u16 = 7000;

fn config(inside: &Link, outside: &Link, prefix: &str) -> String {
    let rest = format!(
        r#"
[conntrack]
capacity = 64

[[nat.snat]]
from = ["198.51.100.0/24"]
zone = "outside"
pool = ["{POOL}"]
ports = "20000-29999"
"#
    );
    netns::two_zones(prefix, &[("in", inside.devargs(0))], &outside.devargs(1), &rest)
}

/// `python3 -c PY CMD ARGS...` in a host.
const PY: &str = r#"
import socket, struct, sys, threading, time
cmd, a = sys.argv[1], sys.argv[2:]

if cmd == "server":  # IP PORT: TCP echo server
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a[0], int(a[1])))
    s.listen(8)
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
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

elif cmd == "hold":  # IP PORT: one connection; each stdin line is echoed through it, "RESET" aborts it
    c = socket.create_connection((a[0], int(a[1])), timeout=5)
    print("connected %s:%d" % c.getsockname(), flush=True)
    f = c.makefile("rb")
    for line in sys.stdin:
        if line.strip() == "RESET":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            print("reset", flush=True)
            break
        try:
            c.sendall(line.encode())
            print("echo " + f.readline().decode().strip(), flush=True)
        except Exception as e:
            print("err " + type(e).__name__, flush=True)
            break

elif cmd == "spoof":  # IFACE SRC SPORT DST DPORT: RSTs at the server's next sequence number + offsets
    iface, src, sport, dst, dport = a[0], a[1], int(a[2]), a[3], int(a[4])
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    cap.bind((iface, 0))
    cap.settimeout(10)
    def segments(deadline):
        while time.monotonic() < deadline:
            try:
                fr = cap.recv(65536)
            except socket.timeout:
                return
            if len(fr) < 54 or fr[12:14] != b"\x08\x00" or fr[23] != 6:
                continue
            ip = fr[14:]
            ihl = (ip[0] & 15) * 4
            tot = struct.unpack("!H", ip[2:4])[0]
            t = ip[ihl:]
            sp, dp, seq, ack, off, fl = struct.unpack("!HHIIBB", t[:14])
            yield socket.inet_ntoa(ip[12:16]), sp, socket.inet_ntoa(ip[16:20]), dp, seq, ack, fl, tot - ihl - (off >> 4) * 4
    print("ready", flush=True)
    nxt = None
    for s_ip, sp, d_ip, dp, seq, ack, fl, n in segments(time.monotonic() + 10):
        if (s_ip, sp, d_ip, dp) == (src, sport, dst, dport) and n > 0:
            nxt = (seq + n) & 0xffffffff
            break
    if nxt is None:
        print("no segment of the connection seen", flush=True)
        sys.exit(1)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    def csum(b):
        x = sum(struct.unpack("!%dH" % (len(b) // 2), b))
        while x >> 16:
            x = (x & 0xffff) + (x >> 16)
        return ~x & 0xffff
    def rst(seq):
        h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, 0, 5 << 4, 0x04, 0, 0, 0)
        c = csum(socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(h)) + h)
        raw.sendto(h[:16] + struct.pack("!H", c) + h[18:], (dst, 0))
    rst(nxt + 0x80000000)  # out of the window
    print("sent out-of-window", nxt, flush=True)
    time.sleep(0.3)
    cap.setblocking(False)  # what was captured so far (e.g. the ACK of the echo) is not the answer
    try:
        while cap.recv(65536):
            pass
    except BlockingIOError:
        pass
    cap.settimeout(5)
    rst(nxt + 1000)  # in the window, not the expected number: the inside answers a challenge ACK
    for s_ip, sp, d_ip, dp, seq, ack, fl, n in segments(time.monotonic() + 5):
        if (s_ip, sp, d_ip, dp) == (dst, dport, src, sport) and fl & 0x10 and not fl & 0x04 and ack == nxt:
            print("challenge-ack", flush=True)
            break
    else:
        print("no challenge ack", flush=True)
"#;

/// A child in a host whose stdout lines arrive on a channel (and whose stdin is a pipe).
struct Lines {
    _child: Reaper,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Lines {
    fn spawn(host: &Host, args: &[&str]) -> Lines {
        let mut child = Command::new("ip")
            .args(["netns", "exec", host.name(), "python3", "-c", PY])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a script in a host");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("script stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Lines { _child: Reaper(child), stdin, lines }
    }

    fn next_line(&mut self) -> String {
        self.lines.recv_timeout(Duration::from_secs(15)).unwrap_or_else(|e| format!("no line in 15 s ({e})"))
    }

    fn send(&mut self, line: &str) -> String {
        let sent = self.stdin.as_mut().map(|s| writeln!(s, "{line}").and_then(|_| s.flush()));
        if let Some(Err(e)) = sent {
            return format!("cannot write to the script: {e}");
        }
        self.next_line()
    }
}

/// A periodic stats line taken after this call (waits for two new lines).
fn fresh_stats(v: &Vnfd) -> Value {
    let lines = || std::fs::read_to_string(v.dir().join("stdout.log")).map(|t| t.matches('\n').count()).unwrap_or(0);
    let n0 = lines();
    assert!(common::wait_until(10, || lines() >= n0 + 2), "no periodic stats line for 10 s:\n{}", v.stderr());
    v.last_stats_line().unwrap_or_else(|| panic!("no parsable stats line:\n{}", v.stderr()))
}

fn count(s: &Value, section: &str, key: &str) -> u64 {
    s[section][key].as_u64().unwrap_or(0)
}

fn ctx(v: &Vnfd) -> String {
    let s = v.last_stats_line().map(|s| format!("drops {} events {}", s["drops"], s["events"])).unwrap_or_default();
    format!("\nvnfd stats: {s}\nvnfd stderr:\n{}", v.stderr())
}

/// The state of the connection to the server, from the control socket's listing.
fn conn_state(v: &Vnfd) -> (String, u64) {
    let r =
        v.request(&format!(r#"{{"cmd":"conntrack","proto":"tcp","port":{PORT}}}"#)).unwrap_or_else(|e| panic!("{e}"));
    let e = &r["entries"][0];
    (e["state"].as_str().unwrap_or("none").to_string(), e["reply"]["dport"].as_u64().unwrap_or(0))
}

#[test]
fn spoofed_rsts_leave_the_connection_echoing() {
    let _l = common::lcores();
    let t0 = Instant::now();
    {
        let inside = Host::new("tcpin");
        let outside = Host::new("tcpout");
        let l_in = Link::new(&inside, &format!("{INSIDE}/24"), Some("02:00:00:00:0a:10"));
        let l_out = Link::new(&outside, &format!("{OUTSIDE}/24"), Some("02:00:00:00:14:50"));
        inside.must(&["ip", "route", "add", "default", "via", GW_IN]);
        let _srv = Reaper(outside.spawn(&["python3", "-c", PY, "server", OUTSIDE, &PORT.to_string()]));
        assert!(
            common::wait_until(20, || !outside.exec(&["ss", "-Hltn", &format!("sport = :{PORT}")]).stdout.is_empty()),
            "the echo server does not listen"
        );
        let vnfd =
            Vnfd::start(&config(&l_in, &l_out, &netns::file_prefix("tcp")), &["--stats-interval", "0.2"]).unwrap();

        let mut hold = Lines::spawn(&inside, &["hold", OUTSIDE, &PORT.to_string()]);
        let first = hold.next_line();
        assert!(first.starts_with("connected "), "connection through SNAT: {first}{}", ctx(&vnfd));
        assert_eq!(hold.send("one"), "echo one", "{}", ctx(&vnfd));
        let (state, ext) = conn_state(&vnfd);
        assert_eq!(state, "ESTABLISHED", "{}", ctx(&vnfd));
        assert!((20000..=29999).contains(&ext), "external port {ext}");
        let s0 = fresh_stats(&vnfd);
        eprintln!("[{:.1}s] established, external {POOL}:{ext}", t0.elapsed().as_secs_f64());

        // The outside host learns the server's next sequence number from the echo of "two",
        // then sends the two RSTs to the connection's external address and port.
        let ext_s = ext.to_string();
        let port_s = PORT.to_string();
        let mut spoof = Lines::spawn(&outside, &["spoof", &l_out.host_if, OUTSIDE, &port_s, POOL, &ext_s]);
        assert_eq!(spoof.next_line(), "ready");
        assert_eq!(hold.send("two"), "echo two", "{}", ctx(&vnfd));
        let sent = spoof.next_line();
        assert!(sent.starts_with("sent out-of-window "), "spoofer: {sent}{}", ctx(&vnfd));
        let answer = spoof.next_line();
        assert_eq!(answer, "challenge-ack", "the inside host's challenge ACK to the in-window RST{}", ctx(&vnfd));
        drop(spoof);

        assert_eq!(conn_state(&vnfd).0, "ESTABLISHED", "{}", ctx(&vnfd));
        assert_eq!(hold.send("three"), "echo three", "after the spoofed RSTs{}", ctx(&vnfd));
        let s1 = fresh_stats(&vnfd);
        let delta = |k: &str, n: &str| count(&s1, k, n).saturating_sub(count(&s0, k, n));
        assert_eq!(
            (
                delta("drops", "ct-rst-out-of-window"),
                delta("events", "ct-rst-inexact"),
                delta("drops", "ct-invalid"),
                delta("drops", "ct-out-of-window")
            ),
            (1, 1, 0, 0),
            "{}",
            ctx(&vnfd)
        );
        eprintln!("[{:.1}s] spoofed RSTs dropped / passed, connection echoing", t0.elapsed().as_secs_f64());

        // A genuine RST (SO_LINGER 0) closes the connection in vnfd's table.
        assert_eq!(hold.send("RESET"), "reset");
        assert!(
            common::wait_until(5, || conn_state(&vnfd).0 == "CLOSE"),
            "after the client's RST: {:?}{}",
            conn_state(&vnfd),
            ctx(&vnfd)
        );
        drop(hold);
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
