//! VXLAN interop with the Linux kernel: a namespace holds a kernel `vxlan` device (VNI 5010,
//! remote = vnfd's VTEP address, dstport 4789) on a veth to vnfd's underlay port; a host
//! namespace on a vnfd access port in the same bridge domain pings the kernel's inner
//! address and exchanges TCP data both ways. ARP crosses the tunnel; vnfd answers ARP for its
//! VTEP address; both sides learn each other's inner MACs.

mod common;

use common::netns::{self, Host, Link, Vnfd};
use serde_json::Value;

fn count(s: &Value, section: &str, key: &str) -> u64 {
    s[section][key].as_u64().unwrap_or(0)
}

#[test]
fn a_host_behind_vnfd_talks_to_the_kernels_vxlan() {
    // One rig at a time: each checks at its end that none of this process's namespaces
    // is left.
    let _one = common::lcores();
    {
        let remote = Host::new("vtep");
        let h1 = Host::new("h1");
        let underlay = Link::new(&remote, "203.0.113.2/24", Some("02:00:00:00:e0:02"));
        let access = Link::new(&h1, "198.51.100.1/24", Some("02:00:00:00:10:01"));
        // VXLAN adds 50 bytes: tenants get an MTU of 1450 on a 1500-byte underlay.
        h1.must(&["ip", "link", "set", "dev", &access.host_if, "mtu", "1450"]);
        remote.kernel_vxlan(&underlay.host_if, "203.0.113.2", "203.0.113.1", "02:00:00:00:50:02", "198.51.100.2/24");

        let cfg = format!(
            r#"
{}
[[port]]
name = "underlay"
devargs = "{}"

[[port]]
name = "h1"
devargs = "{}"
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
"#,
            common::eal_preamble(&netns::file_prefix("vx")),
            underlay.devargs(0),
            access.devargs(1)
        );
        let mut vnfd = Vnfd::start(&cfg, &[]).unwrap();
        let log = |v: &Vnfd| v.stderr();

        // The kernel speaks first, so it must resolve vnfd's VTEP address with ARP.
        assert!(netns::ping(&remote, "198.51.100.1", 5), "kernel VXLAN -> h1\n{}", log(&vnfd));
        assert!(netns::ping(&h1, "198.51.100.2", 5), "h1 -> kernel VXLAN inner address\n{}", log(&vnfd));
        netns::tcp_transfer(&remote, "198.51.100.2", 8080, &h1)
            .unwrap_or_else(|e| panic!("TCP kernel -> h1: {e}\n{}", log(&vnfd)));
        netns::tcp_transfer(&h1, "198.51.100.1", 8081, &remote)
            .unwrap_or_else(|e| panic!("TCP h1 -> kernel: {e}\n{}", log(&vnfd)));

        // The kernel learned h1's MAC behind vnfd's VTEP address.
        let fdb = remote.must(&["bridge", "fdb", "show", "dev", "vx5010"]);
        let fdb = String::from_utf8_lossy(&fdb.stdout);
        assert!(
            fdb.lines().any(|l| l.starts_with("02:00:00:00:10:01") && l.contains("dst 203.0.113.1")),
            "kernel fdb:\n{fdb}"
        );
        // and it resolved vnfd's VTEP address on the underlay to the VTEP's default MAC: the
        // underlay port's own
        let port_mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", underlay.dpdk_if)).unwrap();
        assert_eq!(remote.neighbour("203.0.113.1").as_deref(), Some(port_mac.trim()));

        let s = vnfd.stats().unwrap();
        assert!(log(&vnfd).contains("vnfd: stopped"), "{}", log(&vnfd));
        for ev in ["vxlan-decap", "vxlan-encap", "arp-reply-sent", "fdb-learned"] {
            assert!(count(&s, "events", ev) > 0, "event {ev} never counted: {s}");
        }
        // per-VNI and per-remote-VTEP counters agree with the events
        assert_eq!(s["bridges"][0]["vni"], 5010, "{s}");
        assert_eq!(s["bridges"][0]["encap"], s["events"]["vxlan-encap"], "{s}");
        assert_eq!(s["bridges"][0]["decap"], s["events"]["vxlan-decap"], "{s}");
        assert_eq!(s["vteps"][0]["ip"], "203.0.113.2", "{s}");
        assert_eq!(s["vteps"][0]["decap"], s["events"]["vxlan-decap"], "{s}");
        let drops = s["drops"].as_object().cloned().unwrap_or_default();
        assert!(drops.keys().all(|k| !k.starts_with("vxlan")), "VXLAN drops: {s}");
        assert_eq!(count(&s, "drops", "tx-full"), 0, "{s}");
        assert_eq!(s["mempool"]["available"], 8191, "{s}");
        drop((underlay, access, remote, h1));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}

#[test]
fn the_gateway_of_a_vni_bridge_routes_for_hosts_behind_the_kernels_vxlan() {
    let _one = common::lcores();
    {
        let remote = Host::new("vtepgw");
        let h2 = Host::new("h2gw");
        let underlay = Link::new(&remote, "203.0.113.2/24", Some("02:00:00:00:e0:12"));
        let access = Link::new(&h2, "198.18.0.2/24", Some("02:00:00:00:20:02"));
        h2.must(&["ip", "route", "add", "default", "via", "198.18.0.1"]);
        remote.kernel_vxlan(&underlay.host_if, "203.0.113.2", "203.0.113.1", "02:00:00:00:50:12", "198.51.100.2/24");
        remote.must(&["ip", "route", "add", "default", "via", "198.51.100.254"]);

        let cfg = format!(
            r#"
{}
[[port]]
name = "underlay"
devargs = "{}"

[[port]]
name = "h2"
devargs = "{}"
mode = "access"
vlan = 20

[vtep]
underlay = "underlay"
address = "203.0.113.1/24"

[[bridge]]
name = "tenant"
vlan = 10
vni = 5010
remote_vteps = ["203.0.113.2"]
gateway = "198.51.100.254/24"

[[bridge]]
name = "local"
vlan = 20
gateway = "198.18.0.1/24"
"#,
            common::eal_preamble(&netns::file_prefix("vxgw")),
            underlay.devargs(0),
            access.devargs(1)
        );
        let mut vnfd = Vnfd::start(&cfg, &[]).unwrap();
        let log = |v: &Vnfd| v.stderr();

        // The host behind the kernel's VTEP resolves and pings its gateway through the tunnel,
        assert!(netns::ping(&remote, "198.51.100.254", 5), "kernel VXLAN host -> its gateway\n{}", log(&vnfd));
        assert!(remote.neighbour("198.51.100.254").is_some(), "the kernel host resolved the gateway");
        // is routed to h2 and back, and h2 reaches it (vnfd resolves it across the tunnel).
        assert!(netns::ping(&remote, "198.18.0.2", 5), "overlay host -> h2 (routed)\n{}", log(&vnfd));
        assert!(netns::ping(&h2, "198.51.100.2", 5), "h2 -> overlay host (routed)\n{}", log(&vnfd));
        netns::tcp_transfer(&remote, "198.51.100.2", 8082, &h2)
            .unwrap_or_else(|e| panic!("TCP h2 -> overlay host: {e}\n{}", log(&vnfd)));
        // TTL 1 from the overlay: time exceeded comes back through the tunnel.
        let out = remote.exec(&["ping", "-n", "-c", "1", "-W", "2", "-t", "1", "198.18.0.2"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("From 198.51.100.254") && text.contains("Time to live exceeded"), "{text}");

        let s = vnfd.stats().unwrap();
        for ev in ["routed", "echo-reply-sent", "arp-reply-sent", "vxlan-encap", "vxlan-decap"] {
            assert!(count(&s, "events", ev) > 0, "event {ev} never counted: {s}");
        }
        assert_eq!(count(&s, "drops", "ttl-exceeded"), 1, "{s}");
        drop((underlay, access, remote, h2));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}
