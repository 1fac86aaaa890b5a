use super::*;

#[test]
fn control_section_defaults_and_refusals_name_the_key() {
    let base = "[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n";
    let c = Config::parse(base, None).unwrap();
    assert_eq!(c.control, Control::default());
    assert_eq!(
        (c.control.socket.as_str(), c.control.mode_bits().unwrap(), c.control.prometheus),
        ("/run/vnfd.sock", 0o600, None)
    );
    for (extra, key, why) in [
        ("mode = \"0999\"", "control.mode", "not an octal"),
        ("mode = \"01777\"", "control.mode", "above 0777"),
        ("max_clients = 0", "control.max_clients", "not in 1..=1024"),
        ("max_request = 10", "control.max_request", "not in 256"),
        ("read_timeout_ms = 0", "control.read_timeout_ms", "above 0"),
        ("idle_timeout_ms = 0", "control.idle_timeout_ms", "above 0"),
        ("max_config_bytes = 10", "control.max_config_bytes", "not in 1024..=1073741824"),
        ("config_dir = \"etc/vnf\"", "control.config_dir", "not an absolute path"),
        ("admin_group = \"a:b\"", "control.admin_group", "not a group name"),
        ("prometheus = \"0.0.0.0:9464\"", "control.prometheus", "not a loopback"),
        ("colour = 1", "control.colour", "unknown field"),
    ] {
        let e = Config::parse(&format!("{base}[control]\n{extra}\n"), None).unwrap_err();
        assert_eq!(e.key, key, "{extra}: {e}");
        assert!(e.to_string().contains(why), "{extra}: {e}");
    }
    let c =
        Config::parse(&format!("{base}[control]\nprometheus = \"127.0.0.1:9464\"\ngroup = \"adm\"\n"), None).unwrap();
    assert_eq!(c.control.prometheus, Some("127.0.0.1:9464".parse().unwrap()));
}

#[test]
fn reload_refuses_what_needs_a_restart_naming_the_key() {
    let base = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n";
    let old = Config::parse(base, None).unwrap();
    assert!(reload_compatible(&old, &old).is_ok());
    let other_port = Config::parse(&base.replace("net_null0", "net_null1"), None).unwrap();
    assert!(reload_compatible(&old, &other_port).is_ok(), "ports are the dataplane's business");
    for (new, key) in [
        (base.replace("workers = [1]", "workers = [1, 2]"), "dataplane.workers"),
        (base.replace("workers = [1]", "workers = [1]\nmempool_size = 4095"), "dataplane.mempool_size"),
        (base.replace("workers = [1]", "workers = [1]\nmain_lcore = 3"), "dataplane.main_lcore"),
        (format!("{base}[eal]\nargs = [\"--no-pci\"]\n"), "eal.args"),
        (format!("{base}[control]\nsocket = \"/tmp/x.sock\"\n"), "control"),
        (format!("{base}[event_log]\nfile = \"/var/log/x\"\n"), "event_log"),
    ] {
        let new = Config::parse(&new, None).unwrap();
        let e = reload_compatible(&old, &new).unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert!(e.to_string().contains("restart"), "{e}");
    }
}

#[test]
fn a_control_group_without_a_mode_gets_group_access() {
    let base = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n[control]\n";
    let mode = |extra: &str| Config::parse(&format!("{base}{extra}"), None).unwrap().control.mode_bits().unwrap();
    assert_eq!(mode(""), 0o600);
    assert_eq!(mode("group = \"vnfops\"\n"), 0o660);
    assert_eq!(mode("group = \"vnfops\"\nmode = \"0640\"\n"), 0o640, "an explicit mode wins");
    assert_eq!(mode("mode = \"0o666\"\n"), 0o666);
    let e = Config::parse(&format!("{base}mode = \"rw\"\n"), None).unwrap_err();
    assert_eq!(e.key, "control.mode", "{e}");
}

#[test]
fn timeouts_below_the_rfc_minimums_are_warned_about() {
    let base = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n[[bridge]]\nname = \"b\"\nvlan = 1\ngateway = \"192.0.2.1/24\"\n[firewall]\n";
    assert!(Config::parse(base, None).unwrap().warnings().is_empty(), "the defaults meet them");
    let w = Config::parse(&format!("{base}[conntrack]\nudp = 30\nicmp = 10\n"), None).unwrap().warnings();
    assert_eq!(
        w,
        vec![
            "conntrack.udp: 30 s is below the 120 s RFC 4787 REQ-5 asks for".to_string(),
            "conntrack.icmp: 10 s is below the 60 s RFC 5508 REQ-2 asks for".to_string(),
        ]
    );
}

#[test]
fn event_log_needs_a_destination_and_sane_values_naming_the_key() {
    let base = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n[event_log]\n";
    let ok = Config::parse(&format!("{base}file = \"/var/log/vnfd-events.log\"\n"), None).unwrap();
    let l = ok.into_inner().event_log.unwrap();
    assert_eq!(
        (l.mappings, l.firewall, l.destinations, l.ring, l.ipfix_template_interval),
        (true, true, false, 16384, 60)
    );
    for (extra, key) in [
        ("", "event_log"),
        ("file = \"events.log\"\n", "event_log.file"),
        ("syslog = \"dev/log\"\n", "event_log.syslog"),
        ("ipfix = \"0.0.0.0:4739\"\n", "event_log.ipfix"),
        ("ipfix = \"192.0.2.1:4739\"\nipfix_template_interval = 0\n", "event_log.ipfix_template_interval"),
        ("file = \"/x\"\nring = 8\n", "event_log.ring"),
    ] {
        let e = Config::parse(&format!("{base}{extra}"), None).unwrap_err();
        assert_eq!(e.key, key, "{e}");
    }
    let e = Config::parse(&format!("{base}file = \"/x\"\nlevel = 3\n"), None).unwrap_err();
    assert!(e.to_string().contains("level"), "{e}");
}

const GOOD: &str = r#"
[dataplane]
workers = [1]
burst = 32

[eal]
args = ["--no-pci"]

[[port]]
name = "p0"
devargs = "net_ring0"

[[port]]
name = "p1"
devargs = "net_pcap0,rx_pcap=/tmp/in.pcap,tx_pcap=/tmp/out.pcap"
mtu = 1500
mac = "02:00:00:00:00:01"

[[xconnect]]
a = "p0"
b = "p1"
"#;

fn err(text: &str) -> ConfigError {
    Config::parse(text, Some("t.toml")).expect_err("config must be refused")
}

fn with(old: &str, new: &str) -> String {
    assert!(GOOD.contains(old), "{old}");
    GOOD.replacen(old, new, 1)
}

#[test]
fn good_config_parses_with_defaults() {
    let c = Config::parse(GOOD, None).unwrap();
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.ports[0].rx_queues, 1);
    assert!(c.ports[0].promiscuous);
    assert_eq!(c.ports[1].device_name(), "net_pcap0");
    assert_eq!(c.ports[1].mac.unwrap().to_string(), "02:00:00:00:00:01");
    assert_eq!(c.dataplane.mempool_size, 16383);
    assert_eq!(c.xconnect_table(), vec![Some(1), Some(0)]);
    assert_eq!(c.rx_plan(), vec![vec![RxQueue { port: 0, queue: 0 }, RxQueue { port: 1, queue: 0 }]]);
}

#[test]
fn empty_config_is_valid() {
    let c = Config::parse("", None).unwrap();
    assert_eq!(c.dataplane, Dataplane::default());
    assert!(c.ports.is_empty());
}

#[test]
fn unknown_key_is_named_with_line() {
    let e = err(&with("mtu = 1500", "mtu = 1500\nspeed = 10"));
    assert_eq!(e.key, "port[1].speed");
    assert!(e.reason.contains("unknown field `speed`"), "{e}");
    assert_eq!(e.line, Some(17));
    assert!(e.to_string().starts_with("t.toml:17: port[1].speed: unknown field `speed`"), "{e}");
    let e = err("[dataplan]\nworkers=[1]\n");
    assert_eq!(e.key, "dataplan");
    assert!(e.reason.contains("unknown field `dataplan`"), "{e}");
}

#[test]
fn bad_value_types_are_named() {
    let e = err(&with("mtu = 1500", "mtu = \"big\""));
    assert_eq!(e.key, "port[1].mtu");
    let e = err(&with("mtu = 1500", "mtu = 70000"));
    assert_eq!(e.key, "port[1].mtu");
    let e = err(&with("mac = \"02:00:00:00:00:01\"", "mac = \"02:00:00:00:01\""));
    assert_eq!(e.key, "port[1].mac");
    assert!(e.reason.contains("six hex octets"), "{e}");
    let e = err(&with("burst = 32", "burst = -1"));
    assert_eq!(e.key, "dataplane.burst");
    let e = err(&with("name = \"p0\"\n", ""));
    assert_eq!(e.key, "port[0]");
    assert!(e.reason.contains("missing field `name`"), "{e}");
    let e = err("[dataplane\n");
    assert_eq!(e.line, Some(1));
}

#[test]
fn semantic_errors_name_their_key() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("workers = [1]", "workers = []", "dataplane.workers", "at least one"),
        ("workers = [1]", "workers = [0]", "dataplane.workers[0]", "main lcore"),
        ("workers = [1]", "workers = [1, 1]", "dataplane.workers[1]", "twice"),
        ("workers = [1]", "workers = [200]", "dataplane.workers[0]", "below"),
        ("burst = 32", "burst = 0", "dataplane.burst", "1..=256"),
        ("burst = 32", "burst = 1000", "dataplane.burst", "1..=256"),
        ("burst = 32", "rx_desc = 1000", "dataplane.rx_desc", "power of two"),
        ("burst = 32", "mempool_cache = 1000", "dataplane.mempool_cache", "512"),
        ("burst = 32", "mbuf_data_room = 200", "dataplane.mbuf_data_room", "384"),
        ("name = \"p1\"", "name = \"p0\"", "port[1].name", "already the name of port[0]"),
        ("name = \"p1\"", "name = \"bad name\"", "port[1].name", "[A-Za-z0-9_-]"),
        ("name = \"p1\"", "name = \"\"", "port[1].name", "1 to 32"),
        ("devargs = \"net_ring0\"", "devargs = \"\"", "port[0].devargs", "device name"),
        ("devargs = \"net_ring0\"", "devargs = \"net_pcap0,x=1\"", "port[1].devargs", "already used by port[0]"),
        ("mtu = 1500", "mtu = 60", "port[1].mtu", "68..=9600"),
        ("mtu = 1500", "rx_queues = 0", "port[1].rx_queues", "1..=64"),
        ("mtu = 1500", "tx_desc = 100", "port[1].tx_desc", "power of two"),
        ("mac = \"02:00:00:00:00:01\"", "mac = \"01:00:5e:00:00:01\"", "port[1].mac", "unicast"),
        ("b = \"p1\"", "b = \"p9\"", "xconnect[0].b", "no port is named \"p9\""),
        ("b = \"p1\"", "b = \"p0\"", "xconnect[0].b", "already cross-connected"),
    ];
    for (old, new, key, reason) in cases {
        let e = err(&with(old, new));
        assert_eq!(&e.key, key, "{new}: {e}");
        assert!(e.reason.contains(reason), "{new}: {e}");
        assert!(e.to_string().starts_with(&format!("t.toml: {key}: ")), "{e}");
    }
    let twice = format!("{GOOD}\n[[xconnect]]\na = \"p1\"\nb = \"p0\"\n");
    assert_eq!(err(&twice).key, "xconnect[1].a");
}

#[test]
fn small_mempool_is_refused_naming_the_key() {
    let e = Config::parse(&with("burst = 32", "burst = 32\nmempool_size = 1000"), Some("lab.toml")).unwrap_err();
    assert_eq!((e.file.as_deref(), e.key.as_str()), (Some("lab.toml"), "dataplane.mempool_size"));
    assert!(e.reason.contains("at least"), "{e}");
}

const BRIDGED: &str = r#"
[[port]]
name = "a10"
devargs = "net_null0"
mode = "access"
vlan = 10

[[port]]
name = "t"
devargs = "net_null1"
mode = "trunk"
allowed_vlans = [10, "20-21"]
native_vlan = 20

[[port]]
name = "q"
devargs = "net_null2"
mode = "trunk"
outer_vlan = 100

[[bridge]]
name = "v10"
vlan = 10
gateway = "192.0.2.254/24"

[[bridge]]
name = "v20"
vlan = 20
gateway = "198.51.100.1/24"
gateway_mac = "02:00:00:00:20:01"
[[bridge.static_mac]]
mac = "02:00:00:00:00:99"
port = "t"
[[bridge.neighbor]]
ip = "198.51.100.7"
mac = "02:00:00:00:00:07"

[[bridge]]
name = "v30"
vlan = 30

[[route]]
prefix = "203.0.113.0/24"
via = "198.51.100.7"
"#;

#[test]
fn bridged_config_parses_and_compiles_membership() {
    let c = Config::parse(BRIDGED, None).unwrap();
    assert_eq!(c.bridge_members(0), vec![0, 1, 2], "VLAN 10: access, trunk list, QinQ trunk (all VLANs)");
    assert_eq!(c.bridge_members(1), vec![1, 2]);
    assert_eq!(c.bridge_members(2), vec![2], "VLAN 30 is not in t's list");
    assert!(c.trunk_allows(1, 21) && !c.trunk_allows(1, 22));
    assert_eq!(c.bridges[0].gateway.unwrap().to_string(), "192.0.2.254/24");
    assert_eq!(c.bridges[0].gateway_mac().to_string(), "02:76:6e:66:00:0a");
    assert_eq!(c.bridges[1].gateway_mac().to_string(), "02:00:00:00:20:01");
    assert_eq!(c.routes[0].prefix.network(), 0xcb00_7100);
    assert_eq!(c.bridging.aging_s, 300);
    assert_eq!(c.routing.arp_retries, 3);
}

#[test]
fn bridging_errors_name_their_key() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("vlan = 10\n\n[[port]]", "vlan = 11\n\n[[port]]", "port[0].vlan", "no bridge has VLAN 11"),
        ("mode = \"access\"\nvlan = 10", "mode = \"access\"", "port[0].vlan", "needs its VLAN"),
        ("mode = \"access\"\nvlan = 10", "vlan = 10", "port[0].vlan", "needs mode"),
        ("mode = \"access\"", "mode = \"hybrid\"", "port[0].mode", "unknown variant"),
        (
            "allowed_vlans = [10, \"20-21\"]",
            "allowed_vlans = [10, \"21-20\"]",
            "port[1].allowed_vlans[1]",
            "not a range",
        ),
        ("allowed_vlans = [10, \"20-21\"]", "allowed_vlans = [10, \"x\"]", "port[1].allowed_vlans[1]", "not a VLAN id"),
        ("allowed_vlans = [10, \"20-21\"]", "allowed_vlans = [0]", "port[1].allowed_vlans[0]", "1..=4094"),
        ("allowed_vlans = [10, \"20-21\"]", "allowed_vlans = []", "port[1].allowed_vlans", "empty"),
        ("native_vlan = 20", "native_vlan = 30", "port[1].native_vlan", "not in allowed_vlans"),
        ("outer_vlan = 100", "outer_vlan = 4095", "port[2].outer_vlan", "1..=4094"),
        ("outer_vlan = 100", "outer_vlan = 100\nnative_vlan = 10", "port[2].native_vlan", "QinQ"),
        ("name = \"v30\"\nvlan = 30", "name = \"v30\"\nvlan = 20", "bridge[2].vlan", "already belongs to bridge[1]"),
        ("name = \"v30\"\nvlan = 30", "name = \"v10\"\nvlan = 30", "bridge[2].name", "already the name"),
        ("name = \"v30\"\nvlan = 30", "name = \"v30\"\nvlan = 5000", "bridge[2].vlan", "1..=4094"),
        (
            "name = \"v30\"\nvlan = 30",
            "name = \"v30\"\nvlan = 30\ngateway = \"192.0.2.1/25\"",
            "bridge[2].gateway",
            "overlaps bridge[0]",
        ),
        ("gateway = \"192.0.2.254/24\"", "gateway = \"192.0.2.255/24\"", "bridge[0].gateway", "broadcast"),
        ("gateway = \"192.0.2.254/24\"", "gateway = \"192.0.2.254/31\"", "bridge[0].gateway", "1..=30"),
        ("gateway = \"192.0.2.254/24\"", "gateway = \"192.0.2.254\"", "bridge[0].gateway", "not address/length"),
        ("gateway = \"192.0.2.254/24\"", "gateway = \"224.0.0.1/24\"", "bridge[0].gateway", "unicast"),
        (
            "gateway_mac = \"02:00:00:00:20:01\"",
            "gateway_mac = \"ff:ff:ff:ff:ff:ff\"",
            "bridge[1].gateway_mac",
            "unicast",
        ),
        ("port = \"t\"", "port = \"a10\"", "bridge[1].static_mac[0].port", "not a member of VLAN 20"),
        ("port = \"t\"", "port = \"zz\"", "bridge[1].static_mac[0].port", "no port is named"),
        ("prefix = \"203.0.113.0/24\"", "prefix = \"203.0.113.1/24\"", "route[0].prefix", "host bits"),
        ("ip = \"198.51.100.7\"", "ip = \"198.51.100.1\"", "bridge[1].neighbor[0].ip", "other than the gateway"),
        ("ip = \"198.51.100.7\"", "ip = \"192.0.2.7\"", "bridge[1].neighbor[0].ip", "not a host of"),
        ("mac = \"02:00:00:00:00:07\"", "mac = \"01:00:00:00:00:07\"", "bridge[1].neighbor[0].mac", "unicast"),
        ("via = \"198.51.100.7\"", "via = \"10.0.0.1\"", "route[0].via", "not inside any bridge"),
        ("via = \"198.51.100.7\"", "via = \"198.51.100.1\"", "route[0].via", "gateway's own address"),
    ];
    for (old, new, key, reason) in cases {
        assert!(BRIDGED.contains(old), "{old}");
        let e = Config::parse(&BRIDGED.replacen(old, new, 1), Some("b.toml")).expect_err(new);
        assert_eq!(&e.key, key, "{new}: {e}");
        assert!(e.reason.contains(reason), "{new}: {e}");
    }
    let x = format!("{BRIDGED}\n[[xconnect]]\na = \"a10\"\nb = \"q\"\n");
    assert_eq!(Config::parse(&x, None).unwrap_err().key, "port[0].mode");
    let dup = format!("{BRIDGED}\n[[route]]\nprefix = \"203.0.113.0/24\"\nvia = \"198.51.100.8\"\n");
    assert_eq!(Config::parse(&dup, None).unwrap_err().key, "route[1].prefix");
    let e = Config::parse(&format!("{BRIDGED}\n[routing]\narp_queue = 0\n"), None).unwrap_err();
    assert_eq!(e.key, "routing.arp_queue");
    // A neighbour must be confirmed for some time (0 used to be accepted).
    for key in ["arp_reachable_s", "arp_probes"] {
        let e = Config::parse(&format!("{BRIDGED}\n[routing]\n{key} = 0\n"), Some("r.toml")).unwrap_err();
        assert_eq!(e.key, format!("routing.{key}"), "{e}");
        assert!(e.reason.contains("must be above 0"), "{e}");
    }
    let e = Config::parse(&format!("{BRIDGED}\n[bridging]\nfdb_size = 0\n"), None).unwrap_err();
    assert_eq!(e.key, "bridging.fdb_size");
}

const VXLAN: &str = r#"
[[port]]
name = "u"
devargs = "net_null0"
[[port]]
name = "a"
devargs = "net_null1"
mode = "access"
vlan = 10
[vtep]
underlay = "u"
address = "203.0.113.1/24"
gateway = "203.0.113.254"
[[vtep.neighbor]]
ip = "203.0.113.2"
mac = "02:00:00:00:00:02"
[[bridge]]
name = "v10"
vlan = 10
vni = 5010
remote_vteps = ["203.0.113.2", "198.18.0.9"]
[[bridge.remote_mac]]
mac = "02:00:00:00:aa:01"
vtep = "203.0.113.2"
"#;

#[test]
fn vtep_config_parses_with_defaults_and_errors_name_keys() {
    let c = Config::parse(VXLAN, None).unwrap();
    let v = c.vtep.as_ref().unwrap();
    assert_eq!((v.udp_port, v.check_source, v.mtu), (4789, true, 1500));
    assert_eq!(v.mac().to_string(), "02:76:6e:66:ff:fe");
    assert_eq!(c.bridges[0].vni, Some(5010));
    let cases: &[(&str, &str, &str, &str)] = &[
        ("underlay = \"u\"", "underlay = \"a\"", "vtep.underlay", "bridge role"),
        ("underlay = \"u\"", "underlay = \"x\"", "vtep.underlay", "no port"),
        ("address = \"203.0.113.1/24\"", "address = \"203.0.113.0/24\"", "vtep.address", "unicast host"),
        ("gateway = \"203.0.113.254\"", "gateway = \"198.18.0.1\"", "vtep.gateway", "not another host"),
        ("vni = 5010", "vni = 16777216", "bridge[0].vni", "1..=16777215"),
        ("\"198.18.0.9\"]", "\"203.0.113.2\"]", "bridge[0].remote_vteps[1]", "twice"),
        ("\"198.18.0.9\"]", "\"203.0.113.1\"]", "bridge[0].remote_vteps[1]", "remote unicast"),
        ("vtep = \"203.0.113.2\"", "vtep = \"203.0.113.3\"", "bridge[0].remote_mac[0].vtep", "not in remote_vteps"),
        ("ip = \"203.0.113.2\"", "ip = \"203.0.113.1\"", "vtep.neighbor[0].ip", "not another host"),
    ];
    for (old, new, key, reason) in cases {
        assert!(VXLAN.contains(old), "{old}");
        let e = Config::parse(&VXLAN.replacen(old, new, 1), None).expect_err(new);
        assert_eq!(&e.key, key, "{new}: {e}");
        assert!(e.reason.contains(reason), "{new}: {e}");
    }
    let no_gw = VXLAN.replace("gateway = \"203.0.113.254\"\n", "");
    assert_eq!(Config::parse(&no_gw, None).unwrap_err().key, "bridge[0].remote_vteps[1]");
    let no_vtep = "[[bridge]]\nname = \"b\"\nvlan = 5\nvni = 7\n";
    assert_eq!(Config::parse(no_vtep, None).unwrap_err().key, "bridge[0].vni");
}

#[test]
fn rx_queues_are_dealt_round_robin() {
    let c = Config::parse(
        &with("workers = [1]", "workers = [1, 2]")
            .replace("devargs = \"net_ring0\"", "devargs = \"net_ring0\"\nrx_queues = 3"),
        None,
    )
    .unwrap();
    let q = |port, queue| RxQueue { port, queue };
    assert_eq!(c.rx_plan(), vec![vec![q(0, 0), q(0, 2)], vec![q(0, 1), q(1, 0)]]);
}

#[test]
fn a_changed_config_is_valid_again_only_after_validation() {
    let good = Config::parse(GOOD, None).unwrap();
    let mut c = good.clone().into_inner();
    c.dataplane.burst = 0;
    assert_eq!(c.clone().validate().unwrap_err().key, "dataplane.burst");
    c.dataplane.burst = 32;
    assert_eq!(c.validate().unwrap(), good);
    // The sections are checked in dependency order: a route into no gateway subnet is
    // refused naming the route, after the bridges (whose subnets it needs) passed.
    let e = Config::parse(&format!("{GOOD}\n[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.0.0.1\"\n"), None);
    assert_eq!(e.unwrap_err().key, "route[0].via");
}
