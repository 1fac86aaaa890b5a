//! ARP as RFC 826, RFC 1122 and RFC 5227 say, against Linux hosts (issue 13 items 5-7):
//! `arping -0` probes of the gateway are answered as a Linux host answers them; a kernel
//! VXLAN peer that changes its underlay MAC and announces it with a gratuitous ARP keeps
//! receiving the overlay's traffic; and a steady UDP stream across neighbour re-probes
//! (`arp_reachable_s = 1`) loses nothing, routed toward a host and through the overlay
//! toward a remote VTEP. Tests wait on counters and tool results, not on sleeps.

mod common;

use common::netns::{self, Host, Link, Vnfd};
use serde_json::Value;
use std::time::{Duration, Instant};

const GW_MAC: &str = "02:00:00:00:00:fe";

/// A counter of the running vnfd (`stats` over the control socket).
fn live(v: &Vnfd, section: &str, key: &str) -> u64 {
    let r = v.request(r#"{"cmd":"stats"}"#).unwrap_or_else(|e| panic!("stats: {e}\n{}", v.stderr()));
    r["stats"][section][key].as_u64().unwrap_or(0)
}

fn count(s: &Value, section: &str, key: &str) -> u64 {
    s[section][key].as_u64().unwrap_or(0)
}

/// arping's "N packets received" (0 when it printed none).
fn arping_received(out: &std::process::Output) -> u32 {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn arping(h: &Host, args: &[&str]) -> (u32, String) {
    let mut a = vec!["timeout", "20", "arping"];
    a.extend_from_slice(args);
    let out = h.exec(&a);
    (arping_received(&out), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn arping_probes_of_the_gateway_are_answered_like_a_linux_host_answers_them() {
    let _l = common::lcores();
    {
        let h1 = Host::new("arp1");
        let h2 = Host::new("arp2");
        let l1 = Link::new(&h1, "198.51.100.1/24", Some("02:00:00:00:10:01"));
        let l2 = Link::new(&h2, "198.51.100.2/24", Some("02:00:00:00:10:02"));
        let cfg = format!(
            r#"
{}
[[port]]
name = "h1"
devargs = "{}"
mode = "access"
vlan = 10

[[port]]
name = "h2"
devargs = "{}"
mode = "access"
vlan = 10

[[bridge]]
name = "blue"
vlan = 10
gateway = "198.51.100.254/24"
gateway_mac = "{GW_MAC}"
"#,
            common::eal_preamble(&netns::file_prefix("arpprobe")),
            l1.devargs(0),
            l2.devargs(1)
        );
        let mut vnfd = Vnfd::start(&cfg, &[]).unwrap();
        let log = |v: &Vnfd| v.stderr();
        let ifname = l1.host_if.as_str();

        // The reference: a Linux host answers an RFC 5227 probe (sender 0.0.0.0).
        let (n, text) = arping(&h1, &["-0", "-c", "2", "-i", ifname, "198.51.100.2"]);
        assert_eq!(n, 2, "Linux host h2 answers arping -0:\n{text}\n{}", log(&vnfd));
        // vnfd's gateway answers the same probe, broadcast ...
        let (n, text) = arping(&h1, &["-0", "-c", "2", "-i", ifname, "198.51.100.254"]);
        assert_eq!(n, 2, "gateway answers arping -0:\n{text}\n{}", log(&vnfd));
        assert!(text.contains(&format!("from {GW_MAC} (198.51.100.254)")), "{text}");
        // ... and unicast to its MAC (a host re-checking its address)
        let (n, text) = arping(&h1, &["-0", "-c", "2", "-t", GW_MAC, "-i", ifname, "198.51.100.254"]);
        assert_eq!(n, 2, "gateway answers a unicast probe:\n{text}\n{}", log(&vnfd));
        assert_eq!(live(&vnfd, "events", "arp-reply-sent"), 4);
        // Nothing was learned from the probes: 0.0.0.0 is nobody's address.
        assert_eq!(live(&vnfd, "events", "arp-learned"), 0);
        // An ordinary request still works and is learned.
        let (n, text) = arping(&h1, &["-c", "1", "-i", ifname, "198.51.100.254"]);
        assert_eq!(n, 1, "{text}");
        assert_eq!(live(&vnfd, "events", "arp-learned"), 1);

        let s = vnfd.stats().unwrap();
        assert!(log(&vnfd).contains("vnfd: stopped"), "{}", log(&vnfd));
        assert_eq!(count(&s, "events", "arp-reply-sent"), 5, "{s}");
        assert_eq!(count(&s, "drops", "arp-not-ours"), 0, "{s}");
        drop((l1, l2, h1, h2));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}

/// A kernel VXLAN peer (`remote`, underlay 203.0.113.2, inner 198.51.100.2 in VNI 5010)
/// and a host `h1` (198.51.100.1) on an access port of vnfd, whose VTEP is 203.0.113.1.
struct Overlay {
    vnfd: Vnfd,
    underlay: Link,
    access: Link,
    remote: Host,
    h1: Host,
}

fn overlay(tag: &str, routing: &str) -> Overlay {
    let remote = Host::new(&format!("{tag}vtep"));
    let h1 = Host::new(&format!("{tag}h1"));
    let underlay = Link::new(&remote, "203.0.113.2/24", Some("02:00:00:00:e0:02"));
    let access = Link::new(&h1, "198.51.100.1/24", Some("02:00:00:00:10:01"));
    h1.must(&["ip", "link", "set", "dev", &access.host_if, "mtu", "1450"]);
    remote.kernel_vxlan(&underlay.host_if, "203.0.113.2", "203.0.113.1", "02:00:00:00:50:02", "198.51.100.2/24");
    let cfg = format!(
        r#"
{}
[[port]]
name = "underlay"
devargs = "{},framecnt=4096"

[[port]]
name = "h1"
devargs = "{},framecnt=4096"
mode = "access"
vlan = 10

[vtep]
underlay = "underlay"
address = "203.0.113.1/24"

[[bridge]]
name = "tenant"
vlan = 10
vni = 5010
remote_vteps = ["203.0.113.2"]
{routing}
"#,
        common::eal_preamble(&netns::file_prefix(tag)),
        underlay.devargs(0),
        access.devargs(1)
    );
    let vnfd = Vnfd::start(&cfg, &[]).unwrap();
    Overlay { vnfd, underlay, access, remote, h1 }
}

#[test]
fn a_remote_vteps_gratuitous_arp_after_a_mac_change_keeps_the_overlay_delivering() {
    let _l = common::lcores();
    {
        let o = overlay("arpgarp", "");
        let mut vnfd = o.vnfd;
        let log = |v: &Vnfd| v.stderr();
        assert!(netns::ping(&o.h1, "198.51.100.2", 3), "h1 -> kernel VXLAN\n{}", log(&vnfd));
        // The peer keeps vnfd's VTEP MAC fixed, so that it never re-ARPs for it: vnfd can
        // only learn the peer's new MAC from the gratuitous ARP.
        let vtep_mac = o.remote.neighbour("203.0.113.1").expect("the peer resolved vnfd's VTEP");
        let u = o.underlay.host_if.as_str();
        o.remote.must(&["ip", "neigh", "replace", "203.0.113.1", "lladdr", &vtep_mac, "nud", "permanent", "dev", u]);
        let learned = live(&vnfd, "events", "arp-learned");

        // New underlay MAC, announced as `arping -U` does (a broadcast request for itself).
        o.remote.must(&["ip", "link", "set", "dev", u, "address", "02:00:00:00:e0:99"]);
        let (_, text) = arping(&o.remote, &["-U", "-c", "1", "-i", u, "203.0.113.2"]);
        assert!(text.contains("1 packets transmitted"), "{text}");
        assert!(common::wait_until(5, || live(&vnfd, "events", "arp-learned") > learned), "GARP not taken");
        assert_eq!(netns::ping_replies(&o.h1, "198.51.100.2", 5), 5, "after the GARP\n{}", log(&vnfd));

        // Again, announced in the reply form (`arping -U -P`, iputils' `arping -A`).
        let learned = live(&vnfd, "events", "arp-learned");
        o.remote.must(&["ip", "link", "set", "dev", u, "address", "02:00:00:00:e0:9a"]);
        let (_, text) = arping(&o.remote, &["-U", "-P", "-c", "1", "-i", u, "203.0.113.2"]);
        assert!(text.contains("1 packets transmitted"), "{text}");
        assert!(common::wait_until(5, || live(&vnfd, "events", "arp-learned") > learned), "GARP not taken");
        assert_eq!(netns::ping_replies(&o.h1, "198.51.100.2", 5), 5, "after the reply GARP\n{}", log(&vnfd));

        let s = vnfd.stats().unwrap();
        assert!(log(&vnfd).contains("vnfd: stopped"), "{}", log(&vnfd));
        // Both announcements were looked at, merged, and counted as not for the VTEP.
        assert!(count(&s, "drops", "underlay-not-ours") >= 2, "{s}");
        assert_eq!(count(&s, "drops", "arp-queue-full"), 0, "{s}");
        drop((o.underlay, o.access, o.remote, o.h1));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}

const UDP_RECV: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
seen = set()
try:
    while True:
        d, _ = s.recvfrom(4096)
        n = int.from_bytes(d[:4], "big")
        if n == 0xFFFFFFFF:
            break
        seen.add(n)
except socket.timeout:
    pass
print(len(seen))
"#;

/// Sends argv[3] datagrams of argv[4] bytes, each starting with its sequence number, in
/// bursts of argv[5] every argv[6] seconds; then three end markers.
const UDP_SEND: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], int(sys.argv[2]))
n, size, burst, gap = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
pad = bytes(size - 4)
t = time.monotonic()
for i in range(n):
    s.sendto(i.to_bytes(4, "big") + pad, dst)
    if (i + 1) % burst == 0:
        t += gap
        d = t - time.monotonic()
        if d > 0:
            time.sleep(d)
time.sleep(0.3)
for _ in range(3):
    s.sendto(b"\xff\xff\xff\xff", dst)
    time.sleep(0.05)
"#;

/// A one-way UDP stream of `n` datagrams from `src` to `dst_ip` in `dst`, in bursts of 10
/// every 10 ms (1000 packets/s); the number of distinct datagrams received.
fn udp_stream(src: &Host, dst: &Host, dst_ip: &str, n: u32) -> u32 {
    std::thread::scope(|sc| {
        let rx = sc.spawn(|| dst.exec(&["timeout", "60", "python3", "-c", UDP_RECV, dst_ip, "9000", "10"]));
        let end = Instant::now() + Duration::from_secs(20);
        while String::from_utf8_lossy(&dst.exec(&["ss", "-Hlun", "sport = :9000"]).stdout).trim().is_empty() {
            assert!(Instant::now() < end, "UDP receiver in {} not bound", dst.name());
            std::thread::sleep(Duration::from_millis(20));
        }
        let n_s = n.to_string();
        let out = src.exec(&["python3", "-c", UDP_SEND, dst_ip, "9000", &n_s, "1000", "10", "0.01"]);
        assert!(out.status.success(), "sender: {}", String::from_utf8_lossy(&out.stderr));
        let out = rx.join().expect("receiver thread");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
    })
}

/// Short neighbour timers: confirmed for 1 s, probed 200 ms after first use when stale.
const FAST_NUD: &str = "[routing]\narp_reachable_s = 1\narp_delay_ms = 200\narp_retry_ms = 200\n";

#[test]
fn a_steady_stream_to_a_routed_host_across_neighbour_reprobes_loses_nothing() {
    let _l = common::lcores();
    {
        let h1 = Host::new("arpnud1");
        let h3 = Host::new("arpnud3");
        let l1 = Link::new(&h1, "198.51.100.1/24", Some("02:00:00:00:10:01"));
        let l3 = Link::new(&h3, "203.0.113.2/24", Some("02:00:00:00:20:02"));
        h1.must(&["ip", "route", "add", "default", "via", "198.51.100.254"]);
        h3.must(&["ip", "route", "add", "default", "via", "203.0.113.1"]);
        let cfg = format!(
            r#"
{}
[[port]]
name = "h1"
devargs = "{},framecnt=4096"
mode = "access"
vlan = 10

[[port]]
name = "h3"
devargs = "{},framecnt=4096"
mode = "access"
vlan = 20

[[bridge]]
name = "blue"
vlan = 10
gateway = "198.51.100.254/24"

[[bridge]]
name = "green"
vlan = 20
gateway = "203.0.113.1/24"
{FAST_NUD}
"#,
            common::eal_preamble(&netns::file_prefix("arpnud")),
            l1.devargs(0),
            l3.devargs(1)
        );
        let mut vnfd = Vnfd::start(&cfg, &[]).unwrap();
        let log = |v: &Vnfd| v.stderr();
        // Everyone resolves everyone once.
        assert!(netns::ping(&h1, "203.0.113.2", 2), "h1 -> h3 routed\n{}", log(&vnfd));
        let requests = live(&vnfd, "events", "arp-request-sent");

        // 6 s at 1000 packets/s toward h3: h3's entry goes stale every second and is
        // re-probed by unicast while the stream goes on.
        let got = udp_stream(&h1, &h3, "203.0.113.2", 6000);
        assert_eq!(got, 6000, "datagrams received\n{}", log(&vnfd));
        assert!(live(&vnfd, "events", "arp-probe-sent") >= 3, "{}", log(&vnfd));
        assert_eq!(live(&vnfd, "events", "arp-request-sent"), requests, "no new broadcast resolution");

        let s = vnfd.stats().unwrap();
        assert!(log(&vnfd).contains("vnfd: stopped"), "{}", log(&vnfd));
        for d in ["arp-queue-full", "arp-failed", "tx-full"] {
            assert_eq!(count(&s, "drops", d), 0, "{d}: {s}");
        }
        assert_eq!(count(&s, "events", "neigh-probe-failed"), 0, "{s}");
        drop((l1, l3, h1, h3));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}

#[test]
fn a_steady_stream_through_the_overlay_across_underlay_reprobes_loses_nothing() {
    let _l = common::lcores();
    {
        let o = overlay("arpnudvx", FAST_NUD);
        let mut vnfd = o.vnfd;
        let log = |v: &Vnfd| v.stderr();
        assert!(netns::ping(&o.h1, "198.51.100.2", 2), "h1 -> kernel VXLAN\n{}", log(&vnfd));
        let requests = live(&vnfd, "events", "arp-request-sent");

        // Toward the remote VTEP: its underlay entry goes stale every second.
        let got = udp_stream(&o.h1, &o.remote, "198.51.100.2", 6000);
        assert_eq!(got, 6000, "datagrams received\n{}", log(&vnfd));
        assert!(live(&vnfd, "events", "arp-probe-sent") >= 3, "{}", log(&vnfd));
        assert_eq!(live(&vnfd, "events", "arp-request-sent"), requests, "no new broadcast resolution");

        let s = vnfd.stats().unwrap();
        assert!(log(&vnfd).contains("vnfd: stopped"), "{}", log(&vnfd));
        for d in ["arp-queue-full", "arp-failed", "tx-full"] {
            assert_eq!(count(&s, "drops", d), 0, "{d}: {s}");
        }
        assert_eq!(count(&s, "events", "neigh-probe-failed"), 0, "{s}");
        drop((o.underlay, o.access, o.remote, o.h1));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}
