//! The gateway against Linux hosts, as RFC 1812 routers must behave (issue 13): path MTU
//! discovery through a port with a smaller MTU (`ping -M do`, `tracepath`), fragmentation
//! of packets without DF (the receiving kernel reassembles them), martian sources dropped,
//! UDP and TCP to the gateway refused (`tracepath` reaches it, a connect is refused at
//! once), and DEI carried across trunks (tshark's dissection). Addresses are TEST-NET-2/3.

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
vlan = 20
mtu = 1400

[[port]]
name = "t1"
devargs = "{}"
mode = "trunk"
allowed_vlans = [10]

[[port]]
name = "t2"
devargs = "{}"
mode = "trunk"
allowed_vlans = [10]

[[bridge]]
name = "blue"
vlan = 10
gateway = "198.51.100.254/24"

[[bridge]]
name = "green"
vlan = 20
gateway = "203.0.113.1/24"
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

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs a scapy script in `host` (Debian's python3, which has scapy).
fn scapy(host: &Host, script: &str) -> std::process::Output {
    host.must(&["/usr/bin/python3", "-c", &format!("from scapy.all import *\nconf.verb = 0\n{script}")])
}

/// Starts a capture of `filter` on `ifname` into `file` and waits until it listens.
fn capture(host: &Host, ifname: &str, filter: &str, file: &str, n: u32) -> netns::Reaper {
    let log = format!("{file}.log");
    let cmd = format!("exec tcpdump -U -n -i {ifname} -c {n} -w {file} '{filter}' 2>{log}");
    let child = netns::Reaper(host.spawn(&["sh", "-c", &cmd]));
    let up = common::wait_until(10, || std::fs::read_to_string(&log).is_ok_and(|s| s.contains("listening on")));
    assert!(up, "tcpdump did not start: {:?}", std::fs::read_to_string(&log));
    child
}

#[test]
fn the_gateway_routes_as_rfc_1812_says() {
    let _one = common::lcores();
    {
        let h1 = Host::new("r1");
        let h2 = Host::new("r2");
        let h3 = Host::new("r3");
        let h4 = Host::new("r4");
        let l1 = Link::new(&h1, "198.51.100.1/24", Some("02:00:00:00:13:01"));
        let l2 = Link::new(&h2, "203.0.113.2/24", Some("02:00:00:00:13:02"));
        let l3 = Link::new(&h3, "192.0.2.3/24", Some("02:00:00:00:13:03"));
        let l4 = Link::new(&h4, "192.0.2.4/24", Some("02:00:00:00:13:04"));
        h1.must(&["ip", "route", "add", "default", "via", "198.51.100.254"]);
        h2.must(&["ip", "route", "add", "default", "via", "203.0.113.1"]);
        // h2's own link takes 1400 bytes, as the port toward it is configured.
        h2.must(&["ip", "link", "set", &l2.host_if, "mtu", "1400"]);

        let dir = tempdir();
        let mut vnfd = Vnfd::start(&config(&[&l1, &l2, &l3, &l4], &netns::file_prefix("rt")), &[]).unwrap();
        let log = |v: &Vnfd| v.stderr();
        assert!(netns::ping(&h1, "203.0.113.2", 3), "h1 -> h2 (routed)\n{}", log(&vnfd));

        // Path MTU: a DF packet above the 1400 of h2's port is answered with frag-needed
        // carrying 1400 (RFC 1191), and the kernel then knows the path's MTU.
        let out = h1.exec(&["ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", "203.0.113.2"]);
        let t = text(&out);
        assert!(t.contains("mtu = 1400") || t.contains("mtu=1400"), "no frag-needed with 1400: {t}\n{}", log(&vnfd));
        let out = h1.exec(&["ping", "-n", "-c", "2", "-W", "2", "-M", "do", "-s", "1372", "203.0.113.2"]);
        assert!(out.status.success(), "1400-byte packets pass: {}", text(&out));
        let out = h1.exec(&["ip", "route", "get", "203.0.113.2"]);
        assert!(text(&out).contains("mtu 1400"), "the kernel cached the path MTU: {}", text(&out));
        h1.must(&["ip", "route", "flush", "cache"]);
        let out = h1.exec(&["tracepath", "-n", "-m", "4", "203.0.113.2"]);
        assert!(text(&out).contains("pmtu 1400"), "tracepath finds the path MTU: {}", text(&out));

        // Without DF the gateway fragments: 1600 bytes of echo reach h2 (its kernel
        // reassembles them) and its reply comes back. (af_packet hands vnfd the datagram
        // the sender fragmented already reassembled, within its 2048-byte frames: so the
        // size stays below that.)
        let out = h1.exec(&["ping", "-n", "-c", "2", "-W", "2", "-M", "dont", "-s", "1600", "203.0.113.2"]);
        assert!(out.status.success(), "fragmented echo: {}\n{}", text(&out), log(&vnfd));

        // UDP to the gateway: port unreachable ends tracepath at the gateway itself; TCP is
        // refused at once (a RST), not left to time out.
        let out = h1.exec(&["tracepath", "-n", "-m", "3", "198.51.100.254"]);
        assert!(text(&out).contains("reached"), "port unreachable from the gateway: {}", text(&out));
        let connect = "import socket,sys\ns=socket.socket()\ns.settimeout(3)\ntry:\n s.connect(('198.51.100.254',80))\nexcept ConnectionRefusedError:\n print('refused')\nexcept Exception as e:\n print(repr(e))";
        let out = h1.exec(&["/usr/bin/python3", "-c", connect]);
        assert_eq!(text(&out).trim(), "refused", "TCP to the gateway");

        // Martian sources are dropped: of six packets from h1 to h2's UDP port, only the one
        // from h1's own address arrives.
        let gw = h1.neighbour("198.51.100.254").expect("h1 knows the gateway's MAC");
        let pcap = format!("{dir}/martians.pcap");
        let cap = capture(&h2, &l2.host_if, "udp port 9999", &pcap, 1);
        let mut script = String::new();
        for src in ["127.0.0.1", "0.0.0.1", "224.0.0.5", "255.255.255.255", "240.0.0.1", "198.51.100.1"] {
            script += &format!(
                "sendp(Ether(dst='{gw}', src='02:00:00:00:13:01')/IP(src='{src}', dst='203.0.113.2')/UDP(sport=1, dport=9999)/b'{src}', iface='{}')\n",
                l1.host_if
            );
        }
        scapy(&h1, &script);
        let mut cap = cap;
        let done = common::wait_until(10, || matches!(cap.0.try_wait(), Ok(Some(_))));
        assert!(done, "the legitimate packet never reached h2");
        let out = h2.must(&["tshark", "-r", &pcap, "-T", "fields", "-e", "ip.src"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "198.51.100.1");
        let live = |v: &Vnfd| v.request(r#"{"cmd":"stats"}"#).map(|r| r["stats"].clone()).unwrap_or_default();
        let ok = common::wait_until(10, || count(&live(&vnfd), "drops", "martian-source") == 5);
        assert!(ok, "five martians counted: {}", live(&vnfd));

        // DEI and PCP go through the bridge from trunk to trunk (IEEE 802.1Q).
        let pcap = format!("{dir}/dei.pcap");
        let cap = capture(&h4, &l4.host_if, "vlan 10 and udp port 7777", &pcap, 1);
        scapy(
            &h3,
            &format!(
                "sendp(Ether(dst='02:00:00:00:13:04', src='02:00:00:00:13:03')/Dot1Q(vlan=10, prio=5, id=1)/IP(src='192.0.2.3', dst='192.0.2.4')/UDP(sport=1, dport=7777)/b'dei', iface='{}')",
                l3.host_if
            ),
        );
        let mut cap = cap;
        assert!(
            common::wait_until(10, || matches!(cap.0.try_wait(), Ok(Some(_)))),
            "the tagged frame never reached h4"
        );
        let out =
            h4.must(&["tshark", "-r", &pcap, "-T", "fields", "-e", "vlan.id", "-e", "vlan.priority", "-e", "vlan.dei"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10\t5\t1", "VLAN 10, priority 5, DEI 1");

        let s = vnfd.stats().unwrap();
        assert!(count(&s, "drops", "frag-needed") >= 1, "{s}");
        assert!(count(&s, "events", "fragmented") >= 2, "{s}");
        assert!(count(&s, "drops", "port-unreachable") >= 1, "{s}");
        assert!(count(&s, "drops", "local-tcp-reset") >= 1, "{s}");
        assert_eq!(count(&s, "drops", "mtu-exceeded"), 0, "routed packets were made to fit: {s}");
        drop((l1, l2, l3, l4, h1, h2, h3, h4));
        let _ = std::fs::remove_dir_all(&dir);
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}

#[test]
fn fragments_to_the_gateway_are_reassembled_and_answered() {
    // ping -s 3000 to a gateway address (RFC 1122 3.3.2, RFC 1812 4.2.2.8). The host's
    // port is a tap, not af_packet: af_packet would hand vnfd the datagram reassembled.
    let _one = common::lcores();
    {
        let h = Host::new("rtap");
        let tap = format!("vnrt{}", std::process::id() % 100000);
        let cfg = format!(
            "{}\n[[port]]\nname = \"h\"\ndevargs = \"net_tap0,iface={tap}\"\nmode = \"access\"\nvlan = 10\n\n[[bridge]]\nname = \"blue\"\nvlan = 10\ngateway = \"198.51.100.254/24\"\n",
            common::eal_preamble(&netns::file_prefix("rtap"))
        );
        let mut vnfd = Vnfd::start(&cfg, &[]).unwrap();
        // vnfd made the tap in this namespace; it becomes the host's interface.
        netns::run(&["ip", "link", "set", &tap, "netns", h.name()]).unwrap();
        h.must(&["sysctl", "-qw", &format!("net.ipv6.conf.{tap}.disable_ipv6=1")]);
        h.must(&["ip", "link", "set", &tap, "address", "02:00:00:00:13:31"]);
        h.must(&["ip", "addr", "add", "198.51.100.31/24", "dev", &tap]);
        h.must(&["ip", "link", "set", &tap, "up"]);
        let out = h.exec(&["ping", "-n", "-c", "3", "-i", "0.3", "-W", "2", "-s", "3000", "198.51.100.254"]);
        assert!(text(&out).contains("3 received"), "{}\n{}", text(&out), vnfd.stderr());
        let s = vnfd.stats().unwrap();
        assert_eq!(count(&s, "events", "reassembled"), 3, "{s}");
        assert_eq!(count(&s, "events", "fragment-kept"), 9, "three fragments each: {s}");
        assert!(count(&s, "events", "echo-reply-sent") >= 3, "{s}");
        drop(h);
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}

/// A fresh directory for this test's captures.
fn tempdir() -> String {
    let d = format!("/tmp/vnr-router-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
