//! Real Linux hosts on VLAN access ports of vnfd: same-VLAN hosts talk at L2, hosts in two
//! routed VLANs talk through the inter-VLAN gateway (ping, TCP both ways, ICMP time
//! exceeded on TTL 1), and a host in a third VLAN with an address in the same subnet is
//! unreachable (VLAN isolation). Addresses are TEST-NET-2/3 only (TEST-NET-1 is this
//! machine's own network).

mod common;

use common::netns::{self, Host, Link, Vnfd};
use serde_json::Value;

fn config(links: &[&Link], prefix: &str) -> String {
    format!(
        r#"
{preamble}
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

[[port]]
name = "h3"
devargs = "{}"
mode = "access"
vlan = 20

[[port]]
name = "h4"
devargs = "{}"
mode = "access"
vlan = 30

[[bridge]]
name = "blue"
vlan = 10
gateway = "198.51.100.254/24"

[[bridge]]
name = "green"
vlan = 20
gateway = "203.0.113.1/24"

[[bridge]]
name = "isolated"
vlan = 30
"#,
        links[0].devargs(0),
        links[1].devargs(1),
        links[2].devargs(2),
        links[3].devargs(3),
        preamble = common::eal_preamble(prefix)
    )
}

fn count(s: &Value, section: &str, key: &str) -> u64 {
    s[section][key].as_u64().unwrap_or(0)
}

#[test]
fn vlans_isolate_and_the_gateway_routes_between_them() {
    {
        let h1 = Host::new("v1");
        let h2 = Host::new("v2");
        let h3 = Host::new("v3");
        let h4 = Host::new("v4");
        let l1 = Link::new(&h1, "198.51.100.1/24", Some("02:00:00:00:10:01"));
        let l2 = Link::new(&h2, "198.51.100.2/24", Some("02:00:00:00:10:02"));
        let l3 = Link::new(&h3, "203.0.113.2/24", Some("02:00:00:00:20:02"));
        let l4 = Link::new(&h4, "198.51.100.3/24", Some("02:00:00:00:30:03"));
        h1.must(&["ip", "route", "add", "default", "via", "198.51.100.254"]);
        h2.must(&["ip", "route", "add", "default", "via", "198.51.100.254"]);
        h3.must(&["ip", "route", "add", "default", "via", "203.0.113.1"]);

        let mut vnfd = Vnfd::start(&config(&[&l1, &l2, &l3, &l4], &netns::file_prefix("vl")), &[]).unwrap();
        let log = |v: &Vnfd| v.stderr();

        // L2 inside VLAN 10, and the gateway answers ARP and ping.
        assert!(netns::ping(&h1, "198.51.100.2", 3), "h1 -> h2 (same VLAN)\n{}", log(&vnfd));
        assert!(netns::ping(&h1, "198.51.100.254", 3), "h1 -> its gateway\n{}", log(&vnfd));
        assert!(netns::ping(&h3, "203.0.113.1", 3), "h3 -> its gateway\n{}", log(&vnfd));
        // Routed between VLAN 10 and VLAN 20.
        assert!(netns::ping(&h1, "203.0.113.2", 3), "h1 -> h3 (routed)\n{}", log(&vnfd));
        assert!(netns::ping(&h3, "198.51.100.2", 3), "h3 -> h2 (routed)\n{}", log(&vnfd));
        assert!(netns::ping(&h1, "203.0.113.1", 2), "h1 -> the other VLAN's gateway\n{}", log(&vnfd));
        netns::tcp_transfer(&h3, "203.0.113.2", 8080, &h1)
            .unwrap_or_else(|e| panic!("TCP h3 -> h1 routed: {e}\n{}", log(&vnfd)));
        netns::tcp_transfer(&h1, "198.51.100.1", 8081, &h3)
            .unwrap_or_else(|e| panic!("TCP h1 -> h3 routed: {e}\n{}", log(&vnfd)));
        // TTL 1 toward the other VLAN: the kernel reports the gateway's time exceeded.
        let out = h1.exec(&["ping", "-n", "-c", "1", "-W", "2", "-t", "1", "203.0.113.2"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("From 198.51.100.254") && text.contains("Time to live exceeded"), "{text}");
        // VLAN 30 is isolated, although h4 has an address in h1's subnet.
        assert_eq!(netns::ping_replies(&h1, "198.51.100.3", 3), 0, "h1 reached h4 across VLANs");
        assert_eq!(netns::ping_replies(&h4, "198.51.100.1", 2), 0, "h4 reached h1 across VLANs");
        // Nothing routes to a network no bridge has.
        let out = h1.exec(&["ping", "-n", "-c", "1", "-W", "2", "198.18.5.5"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Destination Net Unreachable"), "{text}");

        let s = vnfd.stats().unwrap();
        assert!(log(&vnfd).contains("vnfd: stopped"), "{}", log(&vnfd));
        for ev in [
            "routed",
            "arp-reply-sent",
            "arp-request-sent",
            "arp-learned",
            "echo-reply-sent",
            "fdb-learned",
            "icmp-error-sent",
        ] {
            assert!(count(&s, "events", ev) > 0, "event {ev} never counted: {s}");
        }
        assert_eq!(count(&s, "drops", "ttl-exceeded"), 1, "{s}");
        assert_eq!(count(&s, "drops", "no-route"), 1, "{s}");
        assert_eq!(count(&s, "drops", "tx-full"), 0, "{s}");
        // h4's ARP broadcasts reached vnfd but had no other port in VLAN 30 to go to.
        assert!(s["ports"][3]["rx"].as_u64().unwrap_or(0) > 0, "{s}");
        assert!(count(&s, "drops", "flood-empty") > 0, "{s}");
        assert_eq!(s["ports"][3]["tx"].as_u64(), Some(0), "nothing from VLAN 10/20 reached h4: {s}");
        drop((l1, l2, l3, l4, h1, h2, h3, h4));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}
