//! Real Linux hosts through vnfd: two network namespaces (203.0.113.1/24, 203.0.113.2/24), each
//! joined by a veth pair to vnfd, which cross-connects the two root-side veths with
//! net_af_packet ports. Ping and a TCP transfer go through; without vnfd they do not.

mod common;

use common::netns::{self, Host, Link, Vnfd};
use serde_json::{json, Value};
use std::time::Instant;

fn config(a: &Link, b: &Link, prefix: &str) -> String {
    format!(
        r#"
{preamble}
[[port]]
name = "p0"
devargs = "{}"

[[port]]
name = "p1"
devargs = "{}"

[[xconnect]]
a = "p0"
b = "p1"
"#,
        a.devargs(0),
        b.devargs(1),
        preamble = common::eal_preamble(prefix)
    )
}

fn port<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no port {name} in {s}"))
}

#[test]
fn two_linux_hosts_talk_through_vnfd_xconnect() {
    let t0 = Instant::now();
    let prefix = netns::file_prefix("xc");
    {
        let h1 = Host::new("a");
        let h2 = Host::new("b");
        let l1 = Link::new(&h1, "203.0.113.1/24", Some("02:00:00:00:0a:01"));
        let l2 = Link::new(&h2, "203.0.113.2/24", Some("02:00:00:00:0a:02"));

        // Negative control: the veths are not joined by anything but vnfd.
        assert_eq!(netns::ping_replies(&h1, "203.0.113.2", 2), 0, "ping answered with no vnfd running");

        let mut vnfd = Vnfd::start(&config(&l1, &l2, &prefix), &[]).unwrap();
        let t = Instant::now();
        assert!(netns::ping(&h1, "203.0.113.2", 5), "h1 -> h2 ping failed; vnfd:\n{}", vnfd.stderr());
        assert!(netns::ping(&h2, "203.0.113.1", 5), "h2 -> h1 ping failed; vnfd:\n{}", vnfd.stderr());
        eprintln!("pings: {:?}", t.elapsed());
        // The ARP answers came from the other host, not from anything in between.
        assert_eq!(h1.neighbour("203.0.113.2").as_deref(), Some("02:00:00:00:0a:02"));
        assert_eq!(h2.neighbour("203.0.113.1").as_deref(), Some("02:00:00:00:0a:01"));
        let took = netns::tcp_transfer(&h1, "203.0.113.1", 8080, &h2)
            .unwrap_or_else(|e| panic!("TCP h1 -> h2: {e}\nvnfd:\n{}", vnfd.stderr()));
        eprintln!("2 MiB h1 -> h2 over TCP: {took:?}");
        let took = netns::tcp_transfer(&h2, "203.0.113.2", 8081, &h1)
            .unwrap_or_else(|e| panic!("TCP h2 -> h1: {e}\nvnfd:\n{}", vnfd.stderr()));
        eprintln!("2 MiB h2 -> h1 over TCP: {took:?}");

        let s = vnfd.stats().unwrap();
        let log = vnfd.stderr();
        assert!(log.contains("vnfd: stopped"), "vnfd did not stop cleanly:\n{log}");
        let (p0, p1) = (port(&s, "p0"), port(&s, "p1"));
        let n = |p: &Value, k: &str| p[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {p}"));
        // 10 echo requests, 2 x ~1450 data segments and ARP at least, each way.
        assert!(n(p0, "rx") > 1000 && n(p1, "rx") > 1000, "too few frames: {s}");
        assert_eq!(n(p0, "rx"), n(p1, "tx"), "p0 rx != p1 tx: {s}");
        assert_eq!(n(p1, "rx"), n(p0, "tx"), "p1 rx != p0 tx: {s}");
        assert_eq!(n(p0, "tx_full") + n(p1, "tx_full"), 0, "{s}");
        assert_eq!(s["drops"], json!({}), "drops: {s}");
        assert_eq!(s["mempool"]["available"], 8191, "mbufs leaked: {s}");

        // Negative control: the same hosts cannot talk with vnfd stopped.
        assert_eq!(netns::ping_replies(&h1, "203.0.113.2", 3), 0, "ping answered after vnfd stopped");
        assert!(netns::tcp_transfer(&h2, "203.0.113.2", 8082, &h1).is_err(), "TCP worked after vnfd stopped");

        drop((vnfd, l1, l2, h1, h2));
    }
    assert!(!std::path::Path::new("/var/run/dpdk").join(&prefix).exists(), "EAL runtime dir {prefix} left");
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    let left: Vec<String> = netns::rig_namespaces().into_iter().filter(|n| n.starts_with(&me)).collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    let mine = format!("{}{}_", netns::PREFIX, std::process::id() % 100000);
    let left: Vec<String> = netns::rig_veths().into_iter().filter(|n| n.starts_with(&mine)).collect();
    assert!(left.is_empty(), "veths left: {left:?}");
    eprintln!("total: {:?}", t0.elapsed());
}
