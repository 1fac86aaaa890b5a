//! What `vnfctl` shows of a running vnfd between Linux hosts: the neighbour tables (and their
//! flush), the ports' effective MTU, and the default MACs an appliance derives from its own
//! ports, with two appliances on one underlay.

mod common;

use common::netns::{self, Host, Link, Vnfd};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn vnfctl(sock: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vnfctl")).arg("--socket").arg(sock).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "vnfctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The whitespace-separated cells of the table row whose first cells are `first`.
fn row(text: &str, first: &[&str]) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|c| c.len() >= first.len() && c.iter().zip(first).all(|(a, b)| a == b))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{text}"))
}

/// The neighbour entries sorted by address, without the ages (returned apart).
fn neigh(v: &Vnfd) -> (Vec<Value>, Vec<Value>) {
    let r = v.request(r#"{"cmd":"neigh"}"#).unwrap();
    assert_eq!(r["ok"], json!(true), "{r}");
    let mut es = r["entries"].as_array().cloned().unwrap_or_default();
    es.sort_by_key(|e| e["ip"].as_str().unwrap_or("").parse::<std::net::Ipv4Addr>().ok());
    let ages = es.iter_mut().map(|e| e.as_object_mut().unwrap().remove("age_ms").unwrap()).collect();
    (es, ages)
}

/// vnfd on `cfg`, started again when af_packet's fanout group collided with another process
/// (TESTING.md).
fn start(cfg: &str) -> Vnfd {
    let mut last = String::new();
    for _ in 0..3 {
        match Vnfd::start(cfg, &[]) {
            Ok(v) => return v,
            Err(e) if e.contains("PACKET_FANOUT") => last = e,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("{last}")
}

#[test]
fn neighbours_their_flush_and_port_mtus_through_vnfctl() {
    let names = {
        let h1 = Host::new("ctlh1");
        let h2 = Host::new("ctlh2");
        let l1 = Link::new(&h1, "198.51.100.1/24", Some("02:00:00:00:10:01"));
        let l2 = Link::new(&h2, "192.0.2.1/24", Some("02:00:00:00:20:01"));
        h1.must(&["ip", "route", "add", "192.0.2.0/24", "via", "198.51.100.254"]);
        let cfg = format!(
            r#"{}
[[port]]
name = "h1"
devargs = "{}"
mode = "access"
vlan = 10

[[port]]
name = "h2"
devargs = "{}"
mode = "access"
vlan = 20
mtu = 1400

[[bridge]]
name = "b10"
vlan = 10
gateway = "198.51.100.254/24"

[[bridge]]
name = "b20"
vlan = 20
gateway = "192.0.2.254/24"
[[bridge.neighbor]]
ip = "192.0.2.50"
mac = "02:00:00:00:20:50"

[routing]
# Long enough that the unanswered resolution below is still INCOMPLETE when flushed.
arp_retry_ms = 5000
arp_retries = 5
"#,
            common::eal_preamble(&netns::file_prefix("ctlneigh")),
            l1.devargs(0),
            l2.devargs(1)
        );
        let mut v = start(&cfg);
        let sock = v.control_path();

        // Ports: the configured MTU, else the device's (the veth's 1500).
        let r = v.request(r#"{"cmd":"ports"}"#).unwrap();
        assert_eq!((&r["ports"][0]["mtu"], &r["ports"][1]["mtu"]), (&json!(1500), &json!(1400)), "{r}");
        let out = vnfctl(&sock, &["ports"]);
        let head = row(&out, &["#", "name"]);
        let col = head.iter().position(|c| c == "mtu").unwrap_or_else(|| panic!("no mtu column:\n{out}"));
        assert_eq!((row(&out, &["0", "h1"])[col].as_str(), row(&out, &["1", "h2"])[col].as_str()), ("1500", "1400"));

        // h1 resolves its gateway (vnfd learns h1 from the request), then sends three
        // datagrams toward 192.0.2.77, which nobody answers: they wait on its entry.
        assert!(netns::ping(&h1, "198.51.100.254", 2), "{}", v.stderr());
        h1.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.77"]);
        assert!(common::wait_until(10, || neigh(&v).0.iter().any(|e| e["queued"] == json!(3))), "{:?}", neigh(&v));
        let (es, ages) = neigh(&v);
        assert_eq!(
            es,
            vec![
                json!({"worker": 0, "bridge": "b20", "vlan": 20, "ip": "192.0.2.50", "mac": "02:00:00:00:20:50", "state": "STATIC", "queued": 0}),
                json!({"worker": 0, "bridge": "b20", "vlan": 20, "ip": "192.0.2.77", "mac": null, "state": "INCOMPLETE", "queued": 3}),
                json!({"worker": 0, "bridge": "b10", "vlan": 10, "ip": "198.51.100.1", "mac": "02:00:00:00:10:01", "state": "REACHABLE", "queued": 0}),
            ]
        );
        assert_eq!(ages[0], Value::Null, "a static entry has no age");
        for a in &ages[1..] {
            assert!(a.as_u64().is_some_and(|ms| ms < 20_000), "age {a}: {es:?}");
        }
        // Only one bridge.
        let r = v.request(r#"{"cmd":"neigh","bridge":"b10"}"#).unwrap();
        assert_eq!((r["count"].clone(), r["entries"][0]["ip"].clone()), (json!(1), json!("198.51.100.1")), "{r}");

        // The same as a table.
        let out = vnfctl(&sock, &["neigh"]);
        assert_eq!(row(&out, &["bridge"]), ["bridge", "vlan", "ip", "mac", "state", "age_s", "queued", "worker"]);
        let h1row = row(&out, &["b10", "10", "198.51.100.1"]);
        assert_eq!(h1row[3..5], ["02:00:00:00:10:01", "REACHABLE"], "{out}");
        assert_eq!(h1row[6..], ["0", "0"], "{out}");
        assert_eq!(row(&out, &["b20", "20", "192.0.2.50"])[3..], ["02:00:00:00:20:50", "STATIC", "-", "0", "0"]);
        assert_eq!(row(&out, &["b20", "20", "192.0.2.77"])[3..5], ["-", "INCOMPLETE"], "{out}");
        assert_eq!(row(&out, &["b20", "20", "192.0.2.77"])[6], "3", "{out}");
        assert!(out.ends_with("3 entries\n"), "{out}");

        // Flush: the dynamic entries go, the three waiting datagrams are dropped and counted,
        // the static entry stays.
        assert_eq!(vnfctl(&sock, &["neigh", "flush"]), "flushed 2 dynamic entries\n");
        let (es, _) = neigh(&v);
        assert_eq!(
            es,
            vec![
                json!({"worker": 0, "bridge": "b20", "vlan": 20, "ip": "192.0.2.50", "mac": "02:00:00:00:20:50", "state": "STATIC", "queued": 0})
            ]
        );
        // h1 is learned again from its next ARP for the gateway.
        h1.must(&["ip", "neigh", "flush", "dev", &l1.host_if]);
        assert!(netns::ping(&h1, "198.51.100.254", 1), "{}", v.stderr());
        assert_eq!(neigh(&v).0.len(), 2);

        let s = v.stats().unwrap();
        assert_eq!(s["drops"]["neigh-flushed"], json!(3), "{s}");
        assert_eq!(s["drops"].get("arp-failed"), None, "{s}");
        let names = [h1.name().to_owned(), h2.name().to_owned()];
        drop((l1, l2, h1, h2));
        names
    };
    // (The other test of this binary may run at once: look for this one's namespaces only.)
    assert!(netns::rig_namespaces().iter().all(|n| !names.contains(n)), "namespaces left behind");
}

fn mac_of(ifname: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/address")).unwrap().trim().to_owned()
}

/// The default gateway MAC of VLAN `vlan` on an appliance whose lowest bridge-port MAC is
/// `base`, worked out by hand: locally administered, the VLAN id XORed into the low bits.
fn gateway_mac(base: &str, vlan: u16) -> String {
    let mut b: Vec<u8> = base.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect();
    b[0] = (b[0] | 2) & !1;
    b[4] ^= (vlan >> 8) as u8;
    b[5] ^= vlan as u8;
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// Two appliances with default MACs on one underlay (a Linux bridge), each a VTEP of the
/// same VNI with a host behind it: with one fixed default VTEP MAC the underlay switch saw
/// both VTEPs as one station and nothing crossed. Each VTEP now has its underlay port's
/// MAC, each gateway a MAC of its own appliance.
#[test]
fn two_appliances_with_default_macs_share_one_underlay() {
    let names = {
        let sw = Host::new("ctlsw");
        let ua = Link::new(&sw, "203.0.113.101/24", None);
        let ub = Link::new(&sw, "203.0.113.102/24", None);
        sw.must(&["ip", "link", "add", "br0", "type", "bridge"]);
        for l in [&ua, &ub] {
            sw.must(&["ip", "addr", "flush", "dev", &l.host_if]);
            sw.must(&["ip", "link", "set", &l.host_if, "master", "br0"]);
        }
        sw.must(&["ip", "link", "set", "br0", "up"]);
        let h1 = Host::new("ctlh1");
        let h2 = Host::new("ctlh2");
        let a1 = Link::new(&h1, "198.51.100.1/24", Some("02:00:00:00:10:01"));
        let b2 = Link::new(&h2, "198.51.100.2/24", Some("02:00:00:00:10:02"));
        for (h, l) in [(&h1, &a1), (&h2, &b2)] {
            h.must(&["ip", "link", "set", "dev", &l.host_if, "mtu", "1450"]);
        }
        let cfg = |tag: &str, under: &Link, access: &Link, me: &str, peer: &str, gw: &str| {
            format!(
                r#"{}
[[port]]
name = "underlay"
devargs = "{}"

[[port]]
name = "access"
devargs = "{}"
mode = "access"
vlan = 10

[vtep]
underlay = "underlay"
address = "{me}/24"

[[bridge]]
name = "tenant"
vlan = 10
vni = 5010
remote_vteps = ["{peer}"]
gateway = "{gw}/24"
"#,
                common::eal_preamble(&netns::file_prefix(tag)),
                under.devargs(0),
                access.devargs(1)
            )
        };
        let va = start(&cfg("ctla", &ua, &a1, "203.0.113.1", "203.0.113.2", "198.51.100.254"));
        let vb = start(&cfg("ctlb", &ub, &b2, "203.0.113.2", "203.0.113.1", "198.51.100.253"));
        let logs = || format!("A:\n{}\nB:\n{}", va.stderr(), vb.stderr());

        // Host to host across both appliances and the underlay.
        assert_eq!(netns::ping_replies(&h1, "198.51.100.2", 5), 5, "{}", logs());
        // Each VTEP reports its underlay port's MAC.
        let (ma, mb) = (mac_of(&ua.dpdk_if), mac_of(&ub.dpdk_if));
        assert_ne!(ma, mb);
        for (v, m) in [(&va, &ma), (&vb, &mb)] {
            let r = v.request(r#"{"cmd":"vtep"}"#).unwrap();
            assert_eq!(r["vtep"]["mac"], json!(m), "{r}");
            let out = vnfctl(&v.control_path(), &["vtep"]);
            assert!(out.lines().any(|l| l.contains(m.as_str())), "vnfctl vtep shows {m}:\n{out}");
        }
        // The underlay switch learned the two VTEPs as two stations, one on each port.
        let fdb = String::from_utf8_lossy(&sw.must(&["bridge", "fdb", "show", "br", "br0"]).stdout).into_owned();
        for (m, l) in [(&ma, &ua), (&mb, &ub)] {
            assert!(
                fdb.lines().any(|x| x.starts_with(m.as_str()) && x.contains(&format!("dev {}", l.host_if))),
                "{m}:\n{fdb}"
            );
        }
        // Each gateway answers with a MAC of its own appliance (from its access port's).
        assert!(netns::ping(&h1, "198.51.100.254", 2), "{}", logs());
        assert!(netns::ping(&h2, "198.51.100.253", 2), "{}", logs());
        let (ga, gb) = (gateway_mac(&mac_of(&a1.dpdk_if), 10), gateway_mac(&mac_of(&b2.dpdk_if), 10));
        assert_ne!(ga, gb);
        assert_eq!(h1.neighbour("198.51.100.254"), Some(ga.clone()), "{}", logs());
        assert_eq!(h2.neighbour("198.51.100.253"), Some(gb), "{}", logs());
        // A reload with the same ports keeps them.
        let r = va.request(r#"{"cmd":"config reload"}"#).unwrap();
        assert_eq!((&r["ok"], &r["generation"]), (&json!(true), &json!(2)), "{r}");
        assert_eq!(va.request(r#"{"cmd":"vtep"}"#).unwrap()["vtep"]["mac"], json!(ma));
        h1.must(&["ip", "neigh", "flush", "dev", &a1.host_if]);
        assert!(netns::ping(&h1, "198.51.100.254", 2), "{}", logs());
        assert_eq!(h1.neighbour("198.51.100.254"), Some(ga), "{}", logs());
        assert_eq!(netns::ping_replies(&h1, "198.51.100.2", 3), 3, "{}", logs());
        drop((va, vb));
        let names = [sw.name().to_owned(), h1.name().to_owned(), h2.name().to_owned()];
        drop((ua, ub, a1, b2, sw, h1, h2));
        names
    };
    assert!(netns::rig_namespaces().iter().all(|n| !names.contains(n)), "namespaces left behind");
}

/// Frames the kernel drops because an af_packet port's rx ring is full (vnfd stopped for a
/// moment) are counted in the port's `imissed`: what was sent is exactly what was received
/// plus what was missed.
#[test]
fn af_packet_ring_overflows_are_counted_as_missed() {
    let _l = common::lcores();
    let h = Host::new("ctlovf");
    let l = Link::new(&h, "198.51.100.1/24", Some("02:00:00:00:30:01"));
    let cfg = format!(
        "{}\n[[port]]\nname = \"h\"\ndevargs = \"{}\"\nmode = \"access\"\nvlan = 10\n\n[[port]]\nname = \"sink\"\ndevargs = \"net_null0,no-rx=1\"\nmode = \"access\"\nvlan = 10\n\n[[bridge]]\nname = \"b10\"\nvlan = 10\n",
        common::eal_preamble(&netns::file_prefix("ctlovf")),
        l.devargs(0)
    );
    let mut v = start(&cfg);
    let port = |v: &Vnfd| {
        let r = v.request(r#"{"cmd":"ports"}"#).unwrap();
        (r["ports"][0]["rx"].as_u64().unwrap(), r["ports"][0]["hw"]["imissed"].as_u64().unwrap())
    };
    assert_eq!(port(&v), (0, 0), "the host sends nothing by itself (IPv6 off)");
    // vnfd stops polling (SIGSTOP) while the host sends 3000 broadcast frames: its ring
    // (512 frames by default) fills and the kernel drops the rest.
    const N: u64 = 3000;
    let pid = v.pid().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let send = format!(
        "import socket\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(({:?}, 0))\nf = bytes.fromhex('ffffffffffff020000003001' + '88b5') + bytes(46)\nfor _ in range({N}):\n    s.send(f)\n",
        l.host_if
    );
    let sent = h.exec(&["python3", "-c", &send]);
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    assert!(
        common::wait_until(10, || {
            let (rx, missed) = port(&v);
            rx + missed == N
        }),
        "rx + imissed = {:?}, sent {N}",
        port(&v)
    );
    let (rx, missed) = port(&v);
    assert!(missed > 0 && rx < N, "rx {rx} missed {missed}");
    // The final counters agree.
    let s = v.stats().unwrap();
    assert_eq!(s["ports"][0]["hw"]["imissed"].as_u64(), Some(missed), "{s}");
}

/// `vnfctl port NAME down` takes an af_packet port's interface down (the host behind it
/// loses its carrier and its gateway); `up` brings both back.
#[test]
fn a_port_set_down_and_up_through_vnfctl() {
    let _l = common::lcores();
    let h = Host::new("ctlport");
    let l = Link::new(&h, "198.51.100.1/24", Some("02:00:00:00:40:01"));
    let cfg = format!(
        "{}\n[[port]]\nname = \"h\"\ndevargs = \"{}\"\nmode = \"access\"\nvlan = 10\n\n[[bridge]]\nname = \"b10\"\nvlan = 10\ngateway = \"198.51.100.254/24\"\n",
        common::eal_preamble(&netns::file_prefix("ctlport")),
        l.devargs(0)
    );
    let v = start(&cfg);
    let sock = v.control_path();
    assert!(netns::ping(&h, "198.51.100.254", 2), "{}", v.stderr());
    let dropped = || {
        let r = v.request(r#"{"cmd":"stats"}"#).unwrap();
        r["stats"]["drops"]["port-down"].as_u64().unwrap_or(0)
    };
    assert_eq!(dropped(), 0);
    let out = vnfctl(&sock, &["port", "h", "down"]);
    assert!(out.starts_with("port h: admin down; link "), "{out}");
    assert_eq!(v.request(r#"{"cmd":"ports"}"#).unwrap()["ports"][0]["admin"], json!("down"));
    // What the host sends is received and dropped, counted, and nothing answers.
    assert_eq!(netns::ping_replies(&h, "198.51.100.254", 2), 0);
    assert!(common::wait_until(5, || dropped() >= 2), "port-down drops: {}", dropped());
    // A reload that puts another port first keeps h down, by name, not by place.
    // (In a bridge of its own: b10's gateway MAC, derived from b10's ports, stays.)
    let first = "[[port]]\nname = \"sink\"\ndevargs = \"net_null0,no-rx=1\"\nmode = \"access\"\nvlan = 20\n";
    let moved =
        cfg.replacen("[[port]]", &format!("{first}\n[[port]]"), 1) + "\n[[bridge]]\nname = \"b20\"\nvlan = 20\n";
    std::fs::write(v.config_path(), &moved).unwrap();
    let r = v.request(r#"{"cmd":"config reload"}"#).unwrap();
    assert_eq!(r["ports_added"], json!(["sink"]), "{r}");
    let ports = v.request(r#"{"cmd":"ports"}"#).unwrap();
    let admin: Vec<(Value, Value)> =
        ports["ports"].as_array().unwrap().iter().map(|p| (p["name"].clone(), p["admin"].clone())).collect();
    assert_eq!(admin, [(json!("sink"), json!("up")), (json!("h"), json!("down"))]);
    assert_eq!(netns::ping_replies(&h, "198.51.100.254", 1), 0);
    let out = vnfctl(&sock, &["port", "h", "up"]);
    assert!(out.starts_with("port h: admin up; link up"), "{out}");
    assert!(
        common::wait_until(10, || netns::ping(&h, "198.51.100.254", 1)),
        "{}\n{}\n{}",
        v.request(r#"{"cmd":"stats"}"#).unwrap(),
        v.request(r#"{"cmd":"neigh"}"#).unwrap(),
        v.stderr()
    );
    // Refusals name the port, the state, the field.
    let r = v.request(r#"{"cmd":"port set","port":"nosuch","state":"down"}"#).unwrap();
    assert_eq!(r["error"], json!("port: no port \"nosuch\" (ports: sink, h)"));
    let r = v.request(r#"{"cmd":"port set","port":"h","state":"sideways"}"#).unwrap();
    assert_eq!(r["error"], json!("state: \"sideways\" is not up or down"));
    assert!(v.stderr().contains(r#"admin: "port set" {"port":"h","state":"down"} -> ok"#), "{}", v.stderr());
}
