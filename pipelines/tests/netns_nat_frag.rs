//! Fragments through the NAT against Linux hosts (RFC 4787 REQ-14): an
//! inside host behind SNAT pings with 3000 bytes, sends a 4000-byte UDP datagram, and sends
//! a datagram whose fragments scapy puts on the wire last first; the outside kernel
//! reassembles each and answers. Both hosts are on tap ports: af_packet would hand vnfd the
//! datagrams reassembled already. Addresses are TEST-NET-2/3.

mod common;

use common::netns::{self, Host, Vnfd};
use serde_json::Value;

const INSIDE: &str = "198.51.100.10";
const OUTSIDE: &str = "203.0.113.80";
const POOL: &str = "203.0.113.100";

fn count(s: &Value, section: &str, key: &str) -> u64 {
    s[section][key].as_u64().unwrap_or(0)
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Moves the tap `tap` vnfd made into `host` as its interface, with `mac` and `addr`.
fn take_tap(host: &Host, tap: &str, mac: &str, addr: &str, gw: &str) {
    netns::run(&["ip", "link", "set", tap, "netns", host.name()]).unwrap();
    host.must(&["sysctl", "-qw", &format!("net.ipv6.conf.{tap}.disable_ipv6=1")]);
    host.must(&["ip", "link", "set", tap, "address", mac]);
    host.must(&["ip", "addr", "add", addr, "dev", tap]);
    host.must(&["ip", "link", "set", tap, "up"]);
    host.must(&["ip", "route", "add", "default", "via", gw]);
}

#[test]
fn fragmented_datagrams_cross_the_nat_both_ways() {
    let _one = common::lcores();
    {
        let inside = Host::new("nfin");
        let outside = Host::new("nfout");
        let pid = std::process::id() % 100000;
        let (tin, tout) = (format!("vnfi{pid}"), format!("vnfo{pid}"));
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
"#
        );
        let ports = [("in", format!("net_tap0,iface={tin}"))];
        let cfg = netns::two_zones(&netns::file_prefix("natfrag"), &ports, &format!("net_tap1,iface={tout}"), &rest);
        let mut vnfd = Vnfd::start(&cfg, &[]).unwrap();
        take_tap(&inside, &tin, "02:00:00:00:14:0a", &format!("{INSIDE}/24"), "198.51.100.1");
        take_tap(&outside, &tout, "02:00:00:00:14:50", &format!("{OUTSIDE}/24"), "203.0.113.1");
        let log = |v: &Vnfd| v.stderr();
        assert!(netns::ping(&inside, OUTSIDE, 3), "plain ping through the NAT\n{}", log(&vnfd));

        // ping -s 3000: three fragments each way, translated both ways
        let out = inside.exec(&["ping", "-n", "-c", "3", "-i", "0.3", "-W", "2", "-s", "3000", OUTSIDE]);
        assert!(text(&out).contains("3 received"), "{}\n{}", text(&out), log(&vnfd));

        // A 4000-byte UDP datagram, and one whose fragments leave last first: the outside
        // kernel reassembles each and sees it from the pool address.
        let listen = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',9999))\ns.settimeout(10)\nprint('ready',flush=True)\nfor _ in range(2):\n d,a=s.recvfrom(65535)\n print(len(d),a[0],d[:4].decode(),flush=True)";
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", outside.name(), "/usr/bin/python3", "-u", "-c", listen])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the UDP listener");
        let mut server = netns::Reaper(child);
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(server.0.stdout.take().unwrap()));
        assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"));
        let send = format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.sendto(b'big1'+bytes(3996),('{OUTSIDE}',9999))"
        );
        inside.must(&["/usr/bin/python3", "-c", &send]);
        let scapy = format!(
            "from scapy.all import *\nconf.verb=0\np=IP(src='{INSIDE}',dst='{OUTSIDE}',id=4242)/UDP(sport=5555,dport=9999)/(b'rev1'+bytes(2996))\nfr=fragment(p,fragsize=1200)\ngw=getmacbyip('198.51.100.1')\nfor f in reversed(fr):\n sendp(Ether(dst=gw)/f,iface='{tin}')"
        );
        inside.must(&["/usr/bin/python3", "-c", &scapy]);
        let got: Vec<String> = lines.by_ref().take(2).map_while(Result::ok).collect();
        assert_eq!(got, vec![format!("4000 {POOL} big1"), format!("3000 {POOL} rev1")], "{}", log(&vnfd));

        let s = vnfd.stats().unwrap();
        assert!(count(&s, "events", "ct-frag-followed") >= 10, "{s}");
        assert_eq!(count(&s, "drops", "ct-fragment"), 0, "{s}");
        assert_eq!(count(&s, "drops", "ct-frag-timeout"), 0, "{s}");
        drop((inside, outside));
    }
    let me = format!("{}-{}-", netns::PREFIX, std::process::id());
    assert!(netns::rig_namespaces().iter().all(|n| !n.starts_with(&me)), "namespaces left behind");
}
