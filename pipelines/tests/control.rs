//! The control socket of a running vnfd, over a real Unix socket: every command, the
//! refusals (malformed JSON, unknown commands and fields, oversize lines, silent and
//! surplus clients), reload through the socket and by SIGHUP, and `vnfctl` end to end.
//!
//! vnfd runs on a net_pcap port replaying frames from three MACs forever (so the FDB has
//! known entries) and a net_null sink, without hugepages.

mod common;

use common::netns::Vnfd;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use vnf_core::pcap;

const MACS: [&str; 3] = ["02:00:00:00:01:01", "02:00:00:00:01:02", "02:00:00:00:01:03"];

fn config(dir: &Path, prefix: &str, extra_port: bool) -> String {
    config_with(dir, prefix, extra_port, "")
}

/// The test config with more `[control]` lines (`control`, each ending in a newline).
fn config_with(dir: &Path, prefix: &str, extra_port: bool, control: &str) -> String {
    let d = dir.display();
    let mut c = format!(
        r#"{}
[[port]]
name = "p0"
devargs = "net_pcap0,rx_pcap={d}/in.pcap,infinite_rx=1"
mode = "access"
vlan = 10

[[port]]
name = "p1"
devargs = "net_null1,no-rx=1"
mode = "access"
vlan = 10

[[bridge]]
name = "b10"
vlan = 10

[control]
read_timeout_ms = 500
idle_timeout_ms = 700
max_clients = 4
max_request = 1024
{control}"#,
        common::eal_preamble(prefix)
    );
    if extra_port {
        c += "[[port]]\nname = \"p2\"\ndevargs = \"net_null2,no-rx=1\"\nmode = \"access\"\nvlan = 10\n";
    }
    c
}

fn frames() -> Vec<u8> {
    let fs: Vec<Vec<u8>> = MACS
        .iter()
        .map(|m| {
            let mut f = vec![0x02, 0, 0, 0, 0x02, 0x99];
            f.extend(m.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()));
            f.extend_from_slice(&[0x88, 0xb5]);
            f.resize(60, 0);
            f
        })
        .collect();
    pcap::encode(fs.iter().map(Vec::as_slice))
}

/// One request on a fresh connection.
fn ask(v: &Vnfd, req: &str) -> Value {
    v.request(req).unwrap()
}

fn err(v: &Vnfd, req: &str) -> String {
    let r = ask(v, req);
    assert_eq!(r["ok"], json!(false), "{req} -> {r}");
    r["error"].as_str().unwrap().to_owned()
}

fn ok(v: &Vnfd, req: &str) -> Value {
    let r = ask(v, req);
    assert_eq!(r["ok"], json!(true), "{req} -> {r}");
    r
}

fn connect(v: &Vnfd) -> UnixStream {
    let s = UnixStream::connect(v.control_path()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn read_line(s: &mut BufReader<UnixStream>) -> String {
    let mut l = String::new();
    s.read_line(&mut l).unwrap();
    l
}

/// vnfd with a file prefix of its own (`tag`): tests run at once in one process.
fn start(dir: &Path, tag: &str) -> Vnfd {
    std::fs::write(dir.join("in.pcap"), frames()).unwrap();
    let prefix = format!("ctl{tag}{}", std::process::id());
    Vnfd::start(&config(dir, &prefix, false), &[]).unwrap()
}

#[test]
fn every_command_and_every_refusal_over_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = start(dir.path(), "test");
    let mode = std::fs::metadata(v.control_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode");

    let r = ok(&v, r#"{"cmd":"version"}"#);
    assert_eq!((r["version"].as_str(), r["generation"].as_u64()), (Some(env!("CARGO_PKG_VERSION")), Some(1)));
    assert!(r["dpdk"].as_str().unwrap().starts_with("DPDK 22.11"), "{r}");
    let r = ok(&v, r#"{"cmd":"help"}"#);
    assert_eq!(r["commands"].as_array().unwrap().len(), vnf_core::control::commands().len());
    let r = ok(&v, r#"{"cmd":"stats"}"#);
    let names: Vec<&str> =
        r["stats"]["ports"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["p0", "p1"]);
    assert_eq!(r["stats"]["generation"], json!(1));
    let r = ok(&v, r#"{"cmd":"ports"}"#);
    assert_eq!(r["ports"][1]["index"], json!(1));
    assert_eq!(r["ports"][1]["driver"], json!("net_null"));
    // No `mtu` configured: the device's own.
    assert_eq!((&r["ports"][0]["mtu"], &r["ports"][1]["mtu"]), (&json!(1500), &json!(1500)), "{r}");

    // The FDB: exactly the three MACs of the pcap, behind p0, in bridge b10.
    assert!(common::wait_until(10, || ok(&v, r#"{"cmd":"fdb"}"#)["count"] == json!(3)));
    let r = ok(&v, r#"{"cmd":"fdb","bridge":"b10","limit":10}"#);
    let mut macs: Vec<&str> = r["entries"].as_array().unwrap().iter().map(|e| e["mac"].as_str().unwrap()).collect();
    macs.sort();
    assert_eq!(macs, MACS);
    for e in r["entries"].as_array().unwrap() {
        assert_eq!(
            (e["dest"].as_str(), e["bridge"].as_str(), e["vlan"].as_u64(), e["static"].as_bool()),
            (Some("port p0"), Some("b10"), Some(10), Some(false)),
            "{e}"
        );
    }
    let r = ok(&v, r#"{"cmd":"fdb","limit":1}"#);
    assert_eq!((r["entries"].as_array().unwrap().len(), r["truncated"].as_bool()), (1, Some(true)));
    assert_eq!(err(&v, r#"{"cmd":"fdb","bridge":"nope"}"#), "bridge: no bridge \"nope\" (bridges: b10)");
    assert_eq!(ok(&v, r#"{"cmd":"fdb flush","bridge":"b10"}"#)["flushed"], json!(3));
    // The pcap keeps replaying: the three MACs are learned again (wait for it, under load).
    let learned = || ok(&v, r#"{"cmd":"stats"}"#)["stats"]["events"]["fdb-learned"].as_u64().unwrap_or(0);
    assert!(common::wait_until(10, || learned() >= 6), "relearned after the flush: {}", learned());

    // No gateway in this config: an empty neighbour table; refusals name the field.
    assert_eq!(ok(&v, r#"{"cmd":"neigh"}"#)["entries"], json!([]));
    assert_eq!(ok(&v, r#"{"cmd":"neigh flush","bridge":"b10"}"#)["flushed"], json!(0));
    assert_eq!(err(&v, r#"{"cmd":"neigh","bridge":"nope"}"#), "bridge: no bridge \"nope\" (bridges: b10)");
    assert_eq!(err(&v, r#"{"cmd":"neigh","limit":-1}"#), "limit: expected an integer in 0..=1000000, got -1");
    assert_eq!(
        err(&v, r#"{"cmd":"neigh flush","limit":3}"#),
        "limit: not an argument of \"neigh flush\" (it takes bridge)"
    );
    assert_eq!(ok(&v, r#"{"cmd":"vtep"}"#)["vtep"], Value::Null);
    // No NAT or firewall in this config: empty tables, not errors.
    let r = ok(&v, r#"{"cmd":"conntrack","proto":"tcp","src":"198.51.100.2","port":80}"#);
    assert_eq!((r["count"].as_u64(), r["entries"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert_eq!(ok(&v, r#"{"cmd":"conntrack count"}"#)["count"], json!(0));
    assert_eq!(ok(&v, r#"{"cmd":"conntrack flush"}"#)["flushed"], json!(0));
    assert_eq!(ok(&v, r#"{"cmd":"nat"}"#)["pools"], json!([]));
    assert_eq!(err(&v, r#"{"cmd":"conntrack","src":"10.0.0.300"}"#), "src: \"10.0.0.300\" is not an IPv4 address");
    assert_eq!(
        err(&v, r#"{"cmd":"conntrack","proto":"sctpx"}"#),
        "proto: \"sctpx\" is not tcp, udp, icmp or a protocol number"
    );
    assert_eq!(err(&v, r#"{"cmd":"conntrack","port":70000}"#), "port: expected an integer in 0..=65535, got 70000");
    assert_eq!(
        err(&v, r#"{"cmd":"conntrack flush","limit":3}"#),
        "limit: not an argument of \"conntrack flush\" (it takes src, dst, proto, port)"
    );

    let r = ok(&v, r#"{"cmd":"latency"}"#);
    let w = &r["workers"][0];
    assert_eq!((r["unit"].as_str(), w["lcore"].as_u64()), (Some("ns"), Some(1)));
    assert!(w["bursts"].as_u64().unwrap() > 0, "{r}");
    let (p50, p99, max) = (w["p50"].as_u64().unwrap(), w["p99"].as_u64().unwrap(), w["max"].as_u64().unwrap());
    assert!(0 < p50 && p50 <= p99 && p99 <= max, "{r}");

    // Config: show, check, reload (adds and removes a port), refusals.
    let cfg_path = v.config_path();
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    let r = ok(&v, r#"{"cmd":"config show"}"#);
    assert_eq!((r["text"].as_str(), r["generation"].as_u64()), (Some(text.as_str()), Some(1)));
    let prefix = format!("ctltest{}", std::process::id());
    let with_p2 = dir.path().join("with-p2.toml");
    std::fs::write(&with_p2, config(dir.path(), &prefix, true)).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, text.replace("vlan = 10\n\n[[port]]", "vlan = 5000\n\n[[port]]")).unwrap();
    let req = |cmd: &str, p: &Path| json!({"cmd": cmd, "path": p}).to_string();
    assert_eq!(ok(&v, &req("config check", &with_p2))["path"], json!(with_p2));
    let e = err(&v, &req("config check", &bad));
    assert_eq!(e, format!("{}: port[0].vlan: 5000 is not in 1..=4094", bad.display()));
    assert_eq!(err(&v, r#"{"cmd":"config check"}"#), "path: missing");
    assert!(err(&v, r#"{"cmd":"config reload","path":"x.toml"}"#).starts_with("path: \"x.toml\" is not absolute"));
    let r = ok(&v, &req("config reload", &with_p2));
    assert_eq!(
        (r["generation"].as_u64(), &r["ports_added"], &r["ports_kept"]),
        (Some(2), &json!(["p2"]), &json!(["p0", "p1"]))
    );
    assert!(r["latency_us"].as_f64().unwrap() > 0.0);
    assert_eq!(ok(&v, r#"{"cmd":"stats"}"#)["stats"]["ports"].as_array().unwrap().len(), 3);
    assert_eq!(err(&v, &req("config reload", &bad)), e, "the same refusal as check");
    assert!(err(&v, &req("config reload", &dir.path().join("missing.toml"))).starts_with("path: cannot read"));
    assert_eq!(ok(&v, r#"{"cmd":"version"}"#)["generation"], json!(2), "refused reloads change nothing");
    let r = ok(&v, &req("config reload", &cfg_path));
    assert_eq!((r["generation"].as_u64(), &r["ports_removed"]), (Some(3), &json!(["p2"])));

    // Malformed requests.
    assert!(err(&v, "{not json").starts_with("request: not JSON"));
    assert!(err(&v, "[1,2]").starts_with("request: expected a JSON object"));
    assert!(err(&v, r#"{"command":"stats"}"#).starts_with("cmd: missing"));
    assert_eq!(err(&v, r#"{"cmd":7}"#), "cmd: expected a string, got 7");
    assert!(err(&v, r#"{"cmd":"reboot"}"#).starts_with("cmd: unknown command \"reboot\" (known: help, version,"));
    assert_eq!(
        err(&v, r#"{"cmd":"stats","verbose":true}"#),
        "verbose: not an argument of \"stats\" (it takes no arguments)"
    );

    // Several requests on one connection, answered in order.
    let mut s = connect(&v);
    s.write_all(b"{\"cmd\":\"version\"}\n{\"cmd\":\"nope\"}\n\n{\"cmd\":\"help\"}\n").unwrap();
    let mut rd = BufReader::new(s);
    let lines: Vec<Value> = (0..4).map(|_| serde_json::from_str(&read_line(&mut rd)).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["ok"].as_bool().unwrap()).collect::<Vec<_>>(), [true, false, false, true]);
    assert_eq!(lines[2]["error"], json!("request: empty line"));

    // An oversize line is refused and the connection closed.
    let mut s = connect(&v);
    let big = format!("{{\"cmd\":\"stats\",\"pad\":\"{}\"}}\n", "x".repeat(2000));
    let _ = s.write_all(big.as_bytes());
    let mut rd = BufReader::new(s);
    let l: Value = serde_json::from_str(&read_line(&mut rd)).unwrap();
    assert_eq!(l["error"], json!("request: longer than 1024 bytes"));
    assert_eq!(read_line(&mut rd), "", "closed");

    // A client that sends nothing holds only itself: others are answered meanwhile, and it
    // is told and dropped after the idle timeout.
    let silent = connect(&v);
    let t = Instant::now();
    ok(&v, r#"{"cmd":"version"}"#);
    assert!(t.elapsed() < Duration::from_millis(400), "answered while a client is silent");
    let mut rd = BufReader::new(silent);
    let l: Value = serde_json::from_str(&read_line(&mut rd)).unwrap();
    assert_eq!(l["error"], json!("request: none within 700 ms (idle clients are disconnected)"));
    assert!(t.elapsed() >= Duration::from_millis(650), "{:?}", t.elapsed());
    // A partial line without its newline is not a request either: the line's deadline runs
    // from its first byte, however the rest dribbles in.
    let mut s = connect(&v);
    s.write_all(br#"{"cmd":"ver"#).unwrap();
    let t = Instant::now();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(150));
        let _ = s.write_all(b" ");
    }
    let mut rd = BufReader::new(s);
    let l: Value = serde_json::from_str(&read_line(&mut rd)).unwrap();
    assert_eq!(l["error"], json!("request: no complete line within 500 ms of its first byte"));
    assert!(t.elapsed() < Duration::from_millis(1200), "{:?}", t.elapsed());

    // At most 4 clients at once, and 2 more for admins (this test runs as root, an admin);
    // the seventh is refused as busy, and served again once they are gone.
    // (The threads of the clients above leave right after their last answer.)
    assert!(common::wait_until(3, || ok(&v, r#"{"cmd":"clients"}"#)["clients"].as_array().unwrap().len() == 1));
    let held: Vec<UnixStream> = (0..6).map(|_| connect(&v)).collect();
    assert!(common::wait_until(3, || {
        // Each probe takes a slot of its own while it lasts: wait until 6 are held.
        let mut s = connect(&v);
        // A busy refusal may close the connection before the request is written.
        let _ = s.write_all(b"{\"cmd\":\"clients\"}\n");
        let l: Value = serde_json::from_str(&read_line(&mut BufReader::new(s))).unwrap();
        l["busy"] == json!(true)
    }));
    let mut rd = BufReader::new(connect(&v));
    let l: Value = serde_json::from_str(&read_line(&mut rd)).unwrap();
    assert_eq!((&l["ok"], &l["busy"]), (&json!(false), &json!(true)), "{l}");
    assert!(l["error"].as_str().unwrap().starts_with("control: too many clients (at most 4, and 2 more for admins)"));
    drop(held);
    assert!(common::wait_until(3, || v.request(r#"{"cmd":"version"}"#).is_ok_and(|r| r["ok"] == json!(true))));

    // SIGHUP reloads the file vnfd runs: rewrite it with p2, signal, see generation 4.
    std::fs::write(&cfg_path, config(dir.path(), &prefix, true)).unwrap();
    let _ = Command::new("kill").args(["-HUP", &v.pid().to_string()]).status();
    assert!(common::wait_until(5, || ok(&v, r#"{"cmd":"version"}"#)["generation"] == json!(4)), "{}", v.stderr());
    // The generation is visible before vnfd's log line is: wait for the line too.
    assert!(common::wait_until(5, || v.stderr().contains("vnfd: SIGHUP: reloaded, generation 4")), "{}", v.stderr());
    // A broken file on SIGHUP: refused, logged, nothing changes.
    std::fs::write(&cfg_path, "[[port]]\nname = 3\n").unwrap();
    let _ = Command::new("kill").args(["-HUP", &v.pid().to_string()]).status();
    assert!(common::wait_until(5, || v.stderr().contains("SIGHUP: config refused")), "{}", v.stderr());
    assert_eq!(ok(&v, r#"{"cmd":"stats"}"#)["stats"]["ports"].as_array().unwrap().len(), 3);

    let stats = v.stats().unwrap();
    assert_eq!(stats["generation"], json!(4));
    assert!(!v.control_path().exists(), "socket removed at exit");
}

#[test]
fn a_second_vnfd_on_the_same_socket_is_refused_and_a_stale_socket_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("c.sock");
    // A stale socket file (nobody listening) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let prefix = format!("ctl2test{}", std::process::id());
    std::fs::write(dir.path().join("in.pcap"), frames()).unwrap();
    let cfg = config(dir.path(), &prefix, false);
    let s = sock.to_str().unwrap();
    let v = Vnfd::start(&cfg, &["--control", s]).unwrap();
    let mut c = UnixStream::connect(&sock).unwrap();
    c.write_all(b"{\"cmd\":\"version\"}\n").unwrap();
    let mut line = String::new();
    BufReader::new(c.try_clone().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\":true"), "{line}");
    let mut rest = Vec::new();
    drop(c.shutdown(std::net::Shutdown::Write));
    let _ = c.read_to_end(&mut rest);
    // The second one fails before starting its workers, naming the socket.
    let e = match Vnfd::start(&cfg.replace(&prefix, &format!("{prefix}b")), &["--control", s]) {
        Ok(_) => panic!("a second vnfd started on a socket in use"),
        Err(e) => e,
    };
    assert!(e.contains(&format!("control socket {s}: another process serves {s}")), "{e}");
    drop(v);
}

/// `GET /metrics` over plain TCP; returns (status line, content type, body).
fn http_get(addr: &str, path: &str) -> (String, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("").to_owned();
    let ctype = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    (status, ctype, body.to_owned())
}

/// The value of one sample line `name{labels} value` of an exposition.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

/// `dpdk-telemetry.py -f prefix` with one command on stdin; the JSON reply it prints.
fn telemetry_script(prefix: &str, cmd: &str) -> Value {
    let mut child = Command::new("/usr/bin/python3")
        .args(["/usr/bin/dpdk-telemetry.py", "-f", prefix])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dpdk-telemetry.py (package dpdk) runs");
    child.stdin.take().unwrap().write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The reply is keyed by the command without its parameter.
    let key = cmd.split(',').next().unwrap();
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim_start_matches("--> ").trim()).ok())
        .find_map(|mut v| v.get_mut(key).map(Value::take))
        .unwrap_or_else(|| panic!("dpdk-telemetry.py {cmd}: {stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn prometheus_and_dpdk_telemetry_show_a_running_vnfds_counters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.pcap"), frames()).unwrap();
    let prefix = format!("ctl3test{}", std::process::id());
    let cfg = config(dir.path(), &prefix, false)
        .replace("max_request = 1024\n", "max_request = 1024\nprometheus = \"127.0.0.1:0\"\n");
    let mut v = Vnfd::start(&cfg, &[]).unwrap();
    let err = v.stderr();
    let addr = err
        .lines()
        .find_map(|l| l.strip_prefix("vnfd: prometheus metrics on http://").and_then(|r| r.strip_suffix("/metrics")))
        .unwrap_or_else(|| panic!("no exporter address: {err}"))
        .to_owned();
    assert!(err.contains("vnfd: telemetry commands /vnf/stats"), "{err}");
    assert!(common::wait_until(10, || ok(&v, r#"{"cmd":"fdb"}"#)["count"] == json!(3)));

    // Prometheus: the counters lie between two stats read around the scrape; gauges exact.
    let before = ok(&v, r#"{"cmd":"stats"}"#)["stats"].clone();
    let (status, ctype, body) = http_get(&addr, "/metrics");
    let after = ok(&v, r#"{"cmd":"stats"}"#)["stats"].clone();
    assert_eq!((status.as_str(), ctype.as_str()), ("HTTP/1.1 200 OK", "text/plain; version=0.0.4"), "{body}");
    for (i, port) in ["p0", "p1"].iter().enumerate() {
        for (metric, field) in [("vnf_port_rx_packets_total", "rx"), ("vnf_port_tx_packets_total", "tx")] {
            let got = sample(&body, &format!("{metric}{{port=\"{port}\"}}"))
                .unwrap_or_else(|| panic!("{metric} {port}: {body}"));
            let (lo, hi) = (before["ports"][i][field].as_f64().unwrap(), after["ports"][i][field].as_f64().unwrap());
            assert!(lo <= got && got <= hi, "{metric}{{{port}}} = {got}, stats {lo}..{hi}");
        }
    }
    assert!(sample(&body, "vnf_port_rx_packets_total{port=\"p0\"}").unwrap() > 0.0);
    assert_eq!(sample(&body, "vnf_fdb_entries{lcore=\"1\"}"), Some(3.0), "{body}");
    assert_eq!(sample(&body, "vnf_config_generation"), Some(1.0));
    assert_eq!(sample(&body, "vnf_mempool_size"), before["mempool"]["size"].as_f64());
    let (status, _, _) = http_get(&addr, "/nothing");
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");

    // DPDK telemetry, through DPDK's own client script on vnfd's file prefix.
    let before = ok(&v, r#"{"cmd":"stats"}"#)["stats"].clone();
    let p0 = telemetry_script(&prefix, "/vnf/ports,p0");
    let after = ok(&v, r#"{"cmd":"stats"}"#)["stats"].clone();
    let rx = p0["rx"].as_u64().unwrap_or_else(|| panic!("{p0}"));
    assert!(
        before["ports"][0]["rx"].as_u64().unwrap() <= rx && rx <= after["ports"][0]["rx"].as_u64().unwrap(),
        "{p0} vs {before} {after}"
    );
    assert_eq!(telemetry_script(&prefix, "/vnf/ports"), json!(["p0", "p1"]));
    let st = telemetry_script(&prefix, "/vnf/stats");
    assert_eq!(st["mempool_size"], after["mempool"]["size"], "{st}");
    assert_eq!(telemetry_script(&prefix, "/vnf/workers"), json!([1]));

    let stats = v.stats().unwrap();
    assert_eq!(stats["generation"], json!(1));
    assert!(v.stderr().contains("vnfd: stopped"), "{}", v.stderr());
}

/// Runs vnfctl in `cwd` with `VNFCTL_SOCKET` set; returns (exit code, stdout, stderr).
fn vnfctl(cwd: &Path, socket: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vnfctl"))
        .args(args)
        .current_dir(cwd)
        .env("VNFCTL_SOCKET", socket)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The whitespace-separated cells of the table row whose first cell is `first`.
fn row(text: &str, first: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|c| c.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{text}"))
}

#[test]
fn vnfctl_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut v = start(d, "ctl");
    let sock = v.control_path();
    let ctl = |args: &[&str]| vnfctl(d, &sock, args);
    let good = |args: &[&str]| {
        let (code, out, err) = ctl(args);
        assert_eq!(code, 0, "vnfctl {args:?}: {out}{err}");
        out
    };

    let out = good(&["version"]);
    assert!(out.starts_with(&format!("vnfd {} on DPDK 22.11", env!("CARGO_PKG_VERSION"))), "{out}");
    assert!(out.contains("(generation 1)"), "{out}");

    assert!(common::wait_until(10, || ok(&v, r#"{"cmd":"fdb"}"#)["count"] == json!(3)));
    // The FDB as a table: each MAC in bridge b10, VLAN 10, behind p0, learned.
    let out = good(&["fdb", "--bridge", "b10"]);
    assert_eq!(row(&out, "bridge")[..4], ["bridge", "vlan", "mac", "dest"]);
    let rows: Vec<Vec<String>> = out
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("b10"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    let mut macs: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    macs.sort();
    assert_eq!(macs, MACS, "{out}");
    for r in &rows {
        assert_eq!((r[1].as_str(), r[3].as_str(), r[4].as_str()), ("10", "port", "p0"), "{out}");
        assert!(r[5].parse::<f64>().unwrap() < 60.0, "{out}");
    }
    assert!(out.ends_with("3 entries\n"), "{out}");
    assert!(good(&["fdb", "--limit", "1"]).ends_with("3 entries (1 shown; --limit for more)\n"));
    // --json: vnfd's answer line, unchanged.
    let j: Value = serde_json::from_str(good(&["--json", "fdb", "--bridge", "b10"]).trim()).unwrap();
    assert_eq!(
        (j["ok"].clone(), j["count"].clone(), j["entries"].as_array().unwrap().len()),
        (json!(true), json!(3), 3)
    );

    let out = good(&["stats"]);
    assert_eq!(row(&out, "p0")[1], "net_pcap", "{out}");
    assert_eq!(row(&out, "p1")[1], "net_null", "{out}");
    assert!(row(&out, "p0")[3].parse::<u64>().unwrap() > 0, "p0 rx: {out}");
    let mp = ok(&v, r#"{"cmd":"stats"}"#)["stats"]["mempool"]["size"].clone();
    assert!(out.contains(&format!("mempool: {mp} mbufs")), "{out}");
    assert_eq!(row(&out, "1").len(), 7, "worker on lcore 1: {out}");
    let out = good(&["ports"]);
    assert_eq!(row(&out, "1")[1..4], ["p1", "1", "net_null"], "{out}");
    assert_eq!(good(&["vtep"]), "no VTEP configured\n");
    assert!(good(&["conntrack", "count"]).starts_with("0 connections"));
    assert!(good(&["conntrack", "--proto", "tcp"]).ends_with("0 connections\n"));
    assert!(good(&["nat"]).starts_with("SNAT pools:\n"));
    let out = good(&["latency"]);
    assert!(row(&out, "1")[1].parse::<u64>().unwrap() > 0, "rounds: {out}");

    // config show prints the running file behind a comment line.
    let text = std::fs::read_to_string(v.config_path()).unwrap();
    let out = good(&["config", "show"]);
    let (first, rest) = out.split_once('\n').unwrap();
    assert_eq!(first, format!("# {} (generation 1)", v.config_path().canonicalize().unwrap().display()));
    assert_eq!(rest, text);

    // Relative paths are vnfctl's, made absolute before they are sent.
    let prefix = format!("ctlctl{}", std::process::id());
    std::fs::write(d.join("more.toml"), config(d, &prefix, true)).unwrap();
    // A check says what the reload would do: the same port plan, and every changed key.
    assert_eq!(
        good(&["config", "check", "more.toml"]),
        format!(
            "{}: ok, a reload would accept it\nports added: p2; removed: none; kept: p0, p1\n  port[p2]: added\n",
            d.join("more.toml").display()
        )
    );
    std::fs::write(
        d.join("bad.toml"),
        config(d, &prefix, true).replace("vlan = 10\n\n[control]", "vlan = 5000\n\n[control]"),
    )
    .unwrap();
    let (code, out, err) = ctl(&["config", "check", "bad.toml"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.starts_with("vnfctl: vnfd refused: ") && err.contains("bridge[0].vlan"), "{err}");
    let (code, out, _) = ctl(&["config", "reload", "bad.toml"]);
    assert_eq!((code, out.as_str()), (1, ""));
    // A diff shows what differs even where a reload is refused.
    assert_eq!(good(&["config", "diff", "bad.toml"]), "  bridge[b10].vlan: 10 -> 5000\n  port[p2]: added\n");
    let (_, out, _) = ctl(&["--json", "config", "diff", "bad.toml"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["changes"],
        json!(["bridge[b10].vlan: 10 -> 5000", "port[p2]: added"])
    );
    let out = good(&["config", "reload", "more.toml"]);
    assert!(out.starts_with("reloaded: generation 2 in "), "{out}");
    assert!(out.ends_with("ports added: p2; removed: none; kept: p0, p1\n"), "{out}");
    assert_eq!(row(&good(&["ports"]), "2")[1], "p2");
    assert!(good(&["fdb", "flush"]).starts_with("flushed "));

    // DPDK's log levels at runtime: a glob, the types it matched, refusals naming the field.
    let level_of = |t: &str| {
        let (_, out, _) = ctl(&["--json", "log"]);
        let v: Value = serde_json::from_str(&out).unwrap();
        v["types"].as_array().unwrap().iter().find(|x| x["type"] == json!(t)).map(|x| x["level"].clone())
    };
    assert!(level_of("lib.eal").is_some(), "lib.eal is listed");
    assert_eq!(good(&["log", "level", "lib.ea?", "debug"]), "lib.ea?: debug (lib.eal)\n");
    assert_eq!(level_of("lib.eal"), Some(json!("debug")));
    assert_eq!(good(&["log", "level", "lib.eal", "4"]), "lib.eal: error (lib.eal)\n");
    assert_eq!(level_of("lib.eal"), Some(json!("error")));
    assert_eq!(good(&["log", "level", "lib.eal", "warning"]), "lib.eal: warning (lib.eal)\n");
    let (code, _, err) = ctl(&["log", "level", "lib.eal", "loud"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("level: \"loud\" is not one of emergency, alert, critical, error, warning, notice, info, debug"),
        "{err}"
    );
    let (code, _, err) = ctl(&["log", "level", "nosuch.*", "info"]);
    assert_eq!(code, 1);
    assert!(err.contains("module: no DPDK log type matches \"nosuch.*\" (types: "), "{err}");

    // raw: any request; a refusal still prints the answer, exits 1.
    let (code, out, err) = ctl(&["raw", r#"{"cmd":"reboot"}"#]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with(r#"{"ok":false,"error":"cmd: unknown command \"reboot\""#), "{out}");
    let (code, _, err) = ctl(&["raw", "not json"]);
    assert_eq!(code, 2);
    assert!(err.contains("raw: not JSON"), "{err}");
    // Usage errors and an unreachable vnfd: exit 2.
    assert_eq!(ctl(&["fdb", "--limit", "x"]).0, 2);
    assert_eq!(ctl(&["frobnicate"]).0, 2);
    let (code, _, err) = vnfctl(d, &d.join("none.sock"), &["stats"]);
    assert_eq!(code, 2);
    assert!(err.contains("none.sock") && err.contains("is vnfd running?"), "{err}");
    let (code, out, _) = vnfctl(d, &d.join("none.sock"), &["--socket", sock.to_str().unwrap(), "version"]);
    assert_eq!(code, 0, "--socket wins over VNFCTL_SOCKET: {out}");

    assert_eq!(v.stats().unwrap()["generation"], json!(2));
}

/// A fake sysfs tree: PF 0000:01:00.0 (netdev vnfpf0, which no kernel has, so rtnetlink
/// answers nothing for it) with 7 VFs possible, none enabled; every VF device exists ahead
/// and is bound to igbvf, as the kernel would have them once sriov_numvfs is written.
fn fake_sysfs(root: &Path) {
    let w = |p: &Path, s: &str| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    };
    let pf = root.join("bus/pci/devices/0000:01:00.0");
    w(&pf.join("sriov_totalvfs"), "7\n");
    w(&pf.join("sriov_numvfs"), "0\n");
    w(&pf.join("sriov_drivers_autoprobe"), "1\n");
    std::fs::create_dir_all(pf.join("net/vnfpf0")).unwrap();
    std::fs::create_dir_all(root.join("class/net/vnfpf0")).unwrap();
    std::os::unix::fs::symlink("../../../bus/pci/devices/0000:01:00.0", root.join("class/net/vnfpf0/device")).unwrap();
    w(&root.join("bus/pci/drivers/igbvf/unbind"), "");
    w(&root.join("bus/pci/drivers_probe"), "");
    for i in 0..7 {
        let vf = format!("0000:01:10.{}", i * 2);
        let d = root.join("bus/pci/devices").join(&vf);
        w(&d.join("driver_override"), "(null)\n");
        std::os::unix::fs::symlink("../../drivers/igbvf", d.join("driver")).unwrap();
        std::os::unix::fs::symlink(format!("../{vf}"), pf.join(format!("virtfn{i}"))).unwrap();
    }
}

/// First line of a sysfs attribute of the fake tree (writes there do not truncate).
fn attr(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap().lines().next().unwrap_or("").to_owned()
}

#[test]
fn sriov_vfs_at_start_on_reload_and_through_vnfctl_on_a_fake_sysfs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("sys");
    fake_sysfs(&root);
    std::fs::write(d.join("in.pcap"), frames()).unwrap();
    let prefix = format!("ctl4test{}", std::process::id());
    let sriov = |n: u16| {
        format!("[sriov]\nsysfs = \"{}\"\n[[sriov.pf]]\nname = \"vnfpf0\"\nnum_vfs = {n}\n[[sriov.pf.vf]]\nindex = 1\ndriver = \"igbvf\"\n", root.display())
    };
    let base = config(d, &prefix, false);
    let mut v = Vnfd::start(&format!("{base}{}", sriov(2)), &[]).unwrap();
    let pf = root.join("bus/pci/devices/0000:01:00.0");
    // Applied before EAL: 2 VFs; VF 1 is on igbvf already, so nothing else.
    assert!(v.stderr().contains("vnfd: sriov: 0000:01:00.0: sriov_numvfs 0 -> 2: done\n"), "{}", v.stderr());
    assert_eq!(attr(&pf.join("sriov_numvfs")), "2");
    let sock = v.control_path();
    let ctl = |args: &[&str]| vnfctl(d, &sock, args);

    let (code, out, err) = ctl(&["vf", "list"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pf vnfpf0 (0000:01:00.0) netdev vnfpf0 vfs 2/7 autoprobe on", "{out}");
    assert!(lines[1].trim_start().starts_with("vf 0  0000:01:10.0  igbvf"), "{out}");
    assert!(lines[2].trim_start().starts_with("vf 1  0000:01:10.2  igbvf"), "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    let j: Value = serde_json::from_str(ctl(&["--json", "vf", "list"]).1.trim()).unwrap();
    assert_eq!(
        (j["pfs"][0]["pci"].clone(), j["pfs"][0]["vfs"][1]["pci"].clone(), j["pfs"][0]["vfs"][1]["driver"].clone()),
        (json!("0000:01:00.0"), json!("0000:01:10.2"), json!("igbvf"))
    );
    assert_eq!(ctl(&["sriov", "apply", "--dry-run"]).1, "nothing to change\n");

    // A reload to 3 VFs goes through 0; the answer says what was done.
    std::fs::write(d.join("three.toml"), format!("{base}{}", sriov(3))).unwrap();
    let (code, out, err) = ctl(&["config", "check", "three.toml"]);
    assert_eq!(code, 0, "{err}");
    let (code, out2, err) = ctl(&["config", "reload", "three.toml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out2.ends_with(
            "sriov: 0000:01:00.0: sriov_numvfs 2 -> 0: done\nsriov: 0000:01:00.0: sriov_numvfs 0 -> 3: done\n"
        ),
        "{out2}"
    );
    assert_eq!(attr(&pf.join("sriov_numvfs")), "3");
    // More VFs than the device has: refused by check and by reload, nothing written.
    std::fs::write(d.join("eight.toml"), format!("{base}{}", sriov(8))).unwrap();
    for cmd in ["check", "reload"] {
        let (code, out, err) = ctl(&["config", cmd, "eight.toml"]);
        assert_eq!((code, out.as_str()), (1, ""), "{err}");
        assert!(err.contains("sriov.pf[0].num_vfs: 8 is above the device's sriov_totalvfs 7"), "{err}");
    }
    assert_eq!(attr(&pf.join("sriov_numvfs")), "3");
    assert_eq!(ok(&v, r#"{"cmd":"version"}"#)["generation"], json!(2));

    // vf set: unbind VF 2 (driver none) through driver_override and the driver's unbind.
    let (code, out, err) = ctl(&["vf", "set", "vnfpf0", "2", "--driver", "none"]);
    assert_eq!((code, out.as_str()), (0, "0000:01:00.0 vf 2: driver igbvf -> none: done\n"), "{err}");
    assert_eq!(attr(&root.join("bus/pci/devices/0000:01:10.4/driver_override")), "none");
    assert_eq!(attr(&root.join("bus/pci/drivers/igbvf/unbind")), "0000:01:10.4");
    // A VF that does not exist, a bad value: refused naming the field, exit 1 / 2.
    let (code, _, err) = ctl(&["vf", "set", "vnfpf0", "5", "--trust", "on"]);
    assert_eq!(code, 1);
    assert!(err.contains("vf: VF 5 does not exist with num_vfs = 3"), "{err}");
    let (code, _, err) = ctl(&["raw", r#"{"cmd":"vf set","pf":"vnfpf0","vf":0,"vlan":4095}"#]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = ctl(&["vf", "set", "vnfpf0", "0", "--trust", "maybe"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = ctl(&["vf", "set", "eth9", "0", "--trust", "on"]);
    assert_eq!(code, 1);
    assert!(err.contains("pf: no netdev \"eth9\""), "{err}");
    // The dataplane never stopped.
    assert_eq!(v.stats().unwrap()["generation"], json!(2));
}

#[test]
fn packet_trace_through_vnfctl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = start(d, "trc");
    let sock = v.control_path();
    let ctl = |args: &[&str]| vnfctl(d, &sock, args);
    // Refusals name the field.
    assert!(err(&v, r#"{"cmd":"trace add"}"#).starts_with("n: missing"));
    assert!(err(&v, r#"{"cmd":"trace add","n":2,"port":"nope"}"#).starts_with("port: no port \"nope\""));
    assert!(err(&v, r#"{"cmd":"trace add","n":-1}"#).starts_with("n: expected an integer"));
    assert!(err(&v, r#"{"cmd":"trace show","n":1}"#).starts_with("n: not an argument"));

    let (code, out, e) = ctl(&["trace", "add", "3", "--port", "p0"]);
    assert_eq!(code, 0, "{out}{e}");
    assert!(out.starts_with("tracing the next 3 packets on each of 1 workers"), "{out}");
    // The three replayed frames (unknown destination) are flooded to p1, the only other
    // member of b10: every node each passed, in order, with what it decided.
    let mut shown = Value::Null;
    assert!(common::wait_until(10, || {
        shown = ok(&v, r#"{"cmd":"trace show"}"#);
        shown["left"] == json!(0) && shown["packets"].as_array().is_some_and(|p| p.len() == 3)
    }));
    let want = [("l2-input", "l2-fwd"), ("l2-fwd", "l2-flood"), ("l2-flood", "l2-output"), ("l2-output", "tx port 1")];
    let mut srcs = vec![];
    for p in shown["packets"].as_array().unwrap() {
        let nodes: Vec<(String, String)> = p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["node"].as_str().unwrap().to_owned(), n["next"].as_str().unwrap().to_owned()))
            .collect();
        let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(nodes, want, "{p}");
        let first = &p["nodes"][0];
        assert_eq!((first["in_port"].clone(), first["bridge"].clone()), (json!("p0"), json!("b10")));
        assert_eq!(first["dst_mac"], json!("02:00:00:00:02:99"));
        assert_eq!(p["nodes"][3]["out_port"], json!("p1"));
        srcs.push(first["src_mac"].as_str().unwrap().to_owned());
    }
    // Consecutive packets of the replay: three different sources, in the pcap's order.
    let at = MACS.iter().position(|m| *m == srcs[0]).unwrap();
    assert_eq!(srcs, (0..3).map(|k| MACS[(at + k) % 3].to_owned()).collect::<Vec<_>>());
    // The table view.
    let (code, out, _) = ctl(&["trace", "show"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().filter(|l| l.starts_with("packet ")).count(), 3, "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("l2-flood") && l.contains("-> l2-output")), "{out}");
    // No more packets are marked once N were.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(ok(&v, r#"{"cmd":"trace show"}"#)["packets"].as_array().unwrap().len(), 3);
    let (code, out, _) = ctl(&["trace", "clear"]);
    assert_eq!((code, out.as_str()), (0, "trace cleared\n"));
    let (_, out, _) = ctl(&["trace", "show"]);
    assert_eq!(out, "no packets traced\n");
}

#[test]
fn per_node_runtime_counters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = start(d, "rtm");
    let sock = v.control_path();
    let r = ok(&v, r#"{"cmd":"runtime"}"#);
    assert_eq!((r["enabled"].clone(), r["nodes"].clone()), (json!(false), json!([])));
    assert!(err(&v, r#"{"cmd":"runtime","enable":"yes"}"#).starts_with("enable: expected true or false"));
    ok(&v, r#"{"cmd":"runtime","enable":true}"#);
    // The replayed frames are flooded: exactly these nodes run, each over every packet.
    let mut r = Value::Null;
    assert!(common::wait_until(10, || {
        r = ok(&v, r#"{"cmd":"runtime"}"#);
        r["nodes"].as_array().is_some_and(|n| n.len() == 4 && n.iter().all(|x| x["packets"].as_u64() > Some(1000)))
    }));
    let names: Vec<&str> = r["nodes"].as_array().unwrap().iter().map(|n| n["node"].as_str().unwrap()).collect();
    assert_eq!(names, ["l2-input", "l2-fwd", "l2-flood", "l2-output"]);
    for n in r["nodes"].as_array().unwrap() {
        assert!(n["cycles"].as_u64().unwrap() > 0 && n["calls"].as_u64().unwrap() > 0, "{n}");
        assert!(n["packets_per_call"].as_f64().unwrap() >= 1.0, "{n}");
    }
    let (code, out, _) = vnfctl(d, &sock, &["runtime"]);
    assert_eq!(code, 0);
    assert!(row(&out, "l2-flood").len() == 5, "{out}");
    let (code, out, _) = vnfctl(d, &sock, &["runtime", "--off"]);
    assert_eq!((code, out.as_str()), (0, "runtime counters are off (vnfctl runtime --on)\n"));
}

/// Runs vnfctl as user `uid` (group `uid` too, no others): (exit code, stdout, stderr, pid).
fn vnfctl_as(uid: u32, socket: &Path, args: &[&str]) -> (i32, String, String, u32) {
    use std::os::unix::process::CommandExt;
    let child = Command::new(env!("CARGO_BIN_EXE_vnfctl"))
        .args(args)
        .env("VNFCTL_SOCKET", socket)
        .uid(uid)
        .gid(uid)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        pid,
    )
}

const NOBODY: u32 = 65534;

/// Slow clients as user nobody: `n` connections, each sending `{` and then one space every
/// 100 ms, never a newline; prints "held" once all are connected and, when each is cut
/// off, the line vnfd sent it.
const SLOWLORIS: &str = r#"
import socket, sys, time
path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.send(b"{")
    s.setblocking(False)
    socks.append(s)
print("held", flush=True)
end = time.time() + secs
got = {}
while time.time() < end and len(got) < n:
    for i, s in enumerate(socks):
        if i in got:
            continue
        try:
            data = s.recv(4096)
            got[i] = data.decode().strip()
            print(got[i], flush=True)
            continue
        except BlockingIOError:
            pass
        try:
            s.send(b" ")
        except OSError:
            pass
    time.sleep(0.1)
"#;

#[test]
fn slow_clients_and_hostile_paths_never_lock_out_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.pcap"), frames()).unwrap();
    let prefix = format!("ctlslow{}", std::process::id());
    // Anyone may connect (mode 0666); only root and vnfd's user are admins. A request line
    // has 3 s from its first byte, so the slow clients below hold their slots that long.
    let conf = d.join("conf");
    std::fs::create_dir(&conf).unwrap();
    let control = format!("mode = \"0666\"\nmax_config_bytes = 4096\nconfig_dir = \"{}\"\n", conf.display());
    let cfg = |p2| config_with(d, &prefix, p2, &control).replace("read_timeout_ms = 500", "read_timeout_ms = 3000");
    let v = Vnfd::start(&cfg(false), &[]).unwrap();
    // nobody must reach the socket inside the (root-only) temp dir.
    std::fs::set_permissions(v.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = v.control_path();

    // Before anything: nobody is served, read-only.
    let (code, out, err, _) = vnfctl_as(NOBODY, &sock, &["--json", "clients"]);
    assert_eq!(code, 0, "{out}{err}");
    let me: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(me["clients"][0]["role"], json!("read-only"), "{me}");
    assert_eq!(me["clients"][0]["uid"], json!(NOBODY), "{me}");

    // The read-only role lists and counts; it changes nothing and reads no file.
    let (code, _, err, npid) = vnfctl_as(NOBODY, &sock, &["fdb", "flush"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.trim(),
        format!("vnfctl: vnfd refused: cmd: \"fdb flush\" needs the admin role; uid {NOBODY} has the read-only role (see [control] admin_group)")
    );
    for args in [
        &["config", "check", "/etc/shadow"][..],
        &["config", "reload"],
        &["conntrack", "flush"],
        &["runtime", "--on"],
        &["trace", "add", "1"],
        &["stats", "clear"],
    ] {
        let (code, _, err, _) = vnfctl_as(NOBODY, &sock, args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("needs the admin role"), "{args:?}: {err}");
        assert!(!err.contains("root:"), "{err}");
    }
    let (code, _, err, _) = vnfctl_as(NOBODY, &sock, &["stats"]);
    assert_eq!(code, 0, "{err}");
    assert!(v.stderr().contains(&format!(
        "vnfd: audit: client 2 uid {NOBODY} pid {npid} read-only: \"fdb flush\" {{}} -> refused: cmd: \"fdb flush\" needs the admin role"
    )), "{}", v.stderr());

    // Config paths: only regular files inside control.config_dir, at most 4096 bytes, refused
    // at once (no wait for a FIFO's writer, no endless read), the slot back each time.
    let fifo = conf.join("fifo.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let big = conf.join("big.toml");
    std::fs::write(&big, "#".repeat(5000)).unwrap();
    let zero = conf.join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let check = |p: &Path| self::err(&v, &json!({"cmd": "config check", "path": p}).to_string());
    let t = Instant::now();
    for _ in 0..8 {
        assert_eq!(check(&fifo), format!("path: {} is a FIFO, not a regular file", fifo.display()));
        assert_eq!(
            check(&big),
            format!("path: {} has 5000 bytes, more than control.max_config_bytes (4096)", big.display())
        );
        let canon = std::fs::canonicalize(&conf).unwrap();
        assert_eq!(
            check(&zero),
            format!("path: {} is outside control.config_dir ({})", zero.display(), canon.display())
        );
        assert_eq!(
            check(Path::new("/dev/zero")),
            format!("path: /dev/zero is outside control.config_dir ({})", canon.display())
        );
        assert_eq!(
            check(Path::new("/etc/shadow")),
            format!("path: /etc/shadow is outside control.config_dir ({})", canon.display())
        );
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(ok(&v, r#"{"cmd":"clients"}"#)["clients"].as_array().unwrap().len(), 1, "every slot is back");
    std::fs::write(conf.join("good.toml"), cfg(true)).unwrap();
    assert_eq!(
        ok(&v, &json!({"cmd": "config check", "path": conf.join("good.toml")}).to_string())["path"],
        json!(conf.join("good.toml"))
    );

    // Four slow clients (max_clients = 4) as nobody: every ordinary slot is taken.
    let mut slow = Command::new("python3")
        .args(["-c", SLOWLORIS, sock.to_str().unwrap(), "4", "10"])
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(slow.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "held");
    let t = Instant::now();
    assert!(common::wait_until(3, || ok(&v, r#"{"cmd":"clients"}"#)["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == json!("reading"))
        .count()
        == 4));
    // Another ordinary client is told vnfd is busy: exit 3.
    let (code, _, err, _) = vnfctl_as(NOBODY, &sock, &["stats"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.starts_with("vnfctl: vnfd is busy: control: too many clients (at most 4, and 2 more for admins)"),
        "{err}"
    );
    // An admin is served at once, from the slots kept for admins.
    let ta = Instant::now();
    let (code, out, err) = vnfctl(d, &sock, &["--json", "clients"]);
    assert_eq!(code, 0, "{err}");
    assert!(ta.elapsed() < Duration::from_secs(1), "{:?}", ta.elapsed());
    let c: Value = serde_json::from_str(&out).unwrap();
    let list = c["clients"].as_array().unwrap();
    assert_eq!(list.len(), 5, "{c}");
    let me = list.iter().find(|c| c["self"] == json!(true)).unwrap();
    assert_eq!((&me["role"], &me["reserved"], &me["uid"]), (&json!("admin"), &json!(true), &json!(0)), "{c}");
    // The slow clients are cut off 3 s after their first byte, each told why.
    for _ in 0..4 {
        assert_eq!(
            lines.next().unwrap().unwrap(),
            r#"{"ok":false,"error":"request: no complete line within 3000 ms of its first byte"}"#
        );
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let _ = slow.wait();
    assert!(common::wait_until(2, || vnfctl_as(NOBODY, &sock, &["stats"]).0 == 0), "slots back for everyone");

    // A client an admin kicks is gone; the kick is audited with the admin's pid.
    let mut idle = connect(&v);
    let id = ok(&v, r#"{"cmd":"clients"}"#)["clients"][0]["id"].as_u64().unwrap();
    let (code, out, err, kpid) = vnfctl_as(0, &sock, &["clients", "kick", &id.to_string()]);
    assert_eq!((code, out.as_str()), (0, format!("kicked client {id}\n").as_str()), "{err}");
    assert_eq!(idle.read(&mut [0u8; 16]).unwrap(), 0, "closed");
    assert!(
        v.stderr().contains(&format!("uid 0 pid {kpid} admin: \"clients kick\" {{\"id\":{id}}} -> ok kicked={id}")),
        "{}",
        v.stderr()
    );
}

#[test]
fn every_mutating_command_is_audited_with_its_peer_and_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = start(d, "audit");
    let sock = v.control_path();
    assert!(common::wait_until(10, || ok(&v, r#"{"cmd":"fdb"}"#)["count"] == json!(3)));
    let prefix = format!("ctlaudit{}", std::process::id());
    std::fs::write(d.join("more.toml"), config(d, &prefix, true)).unwrap();
    let more = d.join("more.toml").display().to_string();
    let runs: &[(&[&str], String)] = &[
        (&["fdb", "flush"], r#""fdb flush" {} -> ok flushed="#.into()),
        (&["neigh", "flush"], r#""neigh flush" {} -> ok flushed=0"#.into()),
        (&["conntrack", "flush", "--proto", "udp"], r#""conntrack flush" {"proto":"udp"} -> ok flushed=0"#.into()),
        (&["config", "check", &more], format!(r#""config check" {{"path":"{more}"}} -> ok"#)),
        (&["config", "reload", &more], format!(r#""config reload" {{"path":"{more}"}} -> ok generation=2"#)),
        (
            &["config", "reload", "/nonexistent.toml"],
            r#""config reload" {"path":"/nonexistent.toml"} -> refused: path: cannot read /nonexistent.toml"#.into(),
        ),
        (&["trace", "add", "5"], r#""trace add" {"n":5} -> ok armed=5"#.into()),
        (&["trace", "clear"], r#""trace clear" {} -> ok"#.into()),
        (&["stats", "clear"], r#""stats clear" {} -> ok generation="#.into()),
        (&["runtime", "--on"], r#""runtime" {"enable":true} -> ok"#.into()),
        (&["sriov", "apply", "--dry-run"], r#""sriov apply" {"dry_run":true} -> ok dry_run=true"#.into()),
    ];
    for (args, want) in runs {
        let (_, out, err, pid) = vnfctl_as(0, &sock, args);
        let line = format!("uid 0 pid {pid} admin: {want}");
        assert!(
            common::wait_until(3, || v
                .stderr()
                .lines()
                .any(|l| l.starts_with("vnfd: audit: client ") && l.contains(&line))),
            "{args:?} ({out}{err}): no audit line with {line}:\n{}",
            v.stderr()
        );
    }
    // Listings are not audited.
    let before = v.stderr().matches("vnfd: audit:").count();
    let _ = vnfctl_as(0, &sock, &["stats"]);
    let _ = vnfctl_as(0, &sock, &["runtime"]);
    assert_eq!(v.stderr().matches("vnfd: audit:").count(), before);
}

#[test]
fn sigterm_with_clients_attached_closes_them_and_the_ports_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.pcap"), frames()).unwrap();
    let prefix = format!("ctlterm{}", std::process::id());
    // p1 writes a pcap: libpcap flushes its buffer when the port is closed, so a complete
    // file with every packet sent shows the ports were stopped and closed.
    let out = d.join("out.pcap");
    let cfg = config(d, &prefix, false).replace("net_null1,no-rx=1", &format!("net_pcap1,tx_pcap={}", out.display()));
    let mut v = Vnfd::start(&cfg, &[]).unwrap();
    assert!(
        common::wait_until(10, || ok(&v, r#"{"cmd":"stats"}"#)["stats"]["ports"][1]["tx"].as_u64().unwrap_or(0) > 100)
    );
    // One idle client, one in the middle of a line, one that asked and reads nothing.
    let idle = connect(&v);
    let mut partial = connect(&v);
    partial.write_all(br#"{"cmd":"#).unwrap();
    let mut deaf = connect(&v);
    deaf.write_all(b"{\"cmd\":\"help\"}\n").unwrap();
    assert!(common::wait_until(3, || ok(&v, r#"{"cmd":"clients"}"#)["clients"].as_array().unwrap().len() == 4));
    let t = Instant::now();
    let stats = v.stats().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let log = v.stderr();
    assert!(!log.contains("still holds"), "{log}");
    assert!(log.contains("vnfd: stopped"), "{log}");
    for s in [&idle, &partial] {
        let mut rest = Vec::new();
        let _ = (&*s).read_to_end(&mut rest);
        assert!(rest.is_empty() || String::from_utf8_lossy(&rest).contains("\"ok\""), "{rest:?}");
    }
    let sent = stats["ports"][1]["tx"].as_u64().unwrap();
    let frames = pcap::decode(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(frames.len() as u64, sent, "every frame p1 sent is in its pcap: the port was closed");
}

#[test]
fn vnfd_check_refuses_what_startup_would_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let prefix = format!("ctlcheck{}", std::process::id());
    let base = config(d, &prefix, false);
    let cases = [
        (
            base.replace("[control]\n", "[control]\ngroup = \"nosuchgroup-vnf\"\n"),
            "control.group: no group \"nosuchgroup-vnf\" on this system",
        ),
        (
            base.replace("args = [", "args = [\"--main-lcore\", \"1\", "),
            "eal.args: --main-lcore 1 is not dataplane.main_lcore (0): set dataplane.main_lcore instead",
        ),
        (
            base.replace("workers = [1]", "workers = [7]"),
            "dataplane.workers[0]: lcore 7 is not a CPU vnfd may run on (CPUs 0-1)",
        ),
        (base.replace("mempool_size = 8191", "mempool_size = 100"), "dataplane.mempool_size: 100 mbufs cannot fill"),
    ];
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    for (i, (text, want)) in cases.iter().enumerate() {
        if want.contains("CPUs 0-1") && cpus != 2 {
            continue;
        }
        let path = d.join(format!("c{i}.toml"));
        std::fs::write(&path, text).unwrap();
        for check in [true, false] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_vnfd"));
            cmd.arg("--config").arg(&path).arg("--control").arg("");
            if check {
                cmd.arg("--check");
            }
            let out = cmd.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "--check {check}: {err}");
            let line = format!("vnfd: config refused: {}: {want}", path.display());
            assert!(
                err.lines().next().is_some_and(|l| l.starts_with(&line)),
                "--check {check}: want {line}, got\n{err}"
            );
        }
    }
    // A FIFO as the config: refused at once, not waited on.
    let fifo = d.join("fifo.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = Command::new(env!("CARGO_BIN_EXE_vnfd")).arg("--config").arg(&fifo).arg("--check").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("vnfd: config refused: {} is a FIFO, not a regular file", fifo.display())
    );
}

#[test]
fn an_idle_vnfd_wakes_up_less_than_5_times_a_second_outside_its_workers() {
    let dir = tempfile::tempdir().unwrap();
    let v = start(dir.path(), "idle");
    ok(&v, r#"{"cmd":"version"}"#);
    // Ports are named as the config names them (then the device).
    assert!(v.stderr().contains("vnfd: port p0: net_pcap0 (net_pcap) net_pcap0,rx_pcap="), "{}", v.stderr());
    assert!(v.stderr().contains("vnfd: port p1: net_null1 (net_null)"), "{}", v.stderr());
    // Worker lcores poll (they never block, so they count no voluntary switches anyway);
    // every other thread (main, control, telemetry, EAL's interrupt and IPC threads) should
    // sleep until there is work.
    let skip = ["rte-worker"];
    let (t0, s0) = (Instant::now(), pipelines::wake::voluntary_switches(v.pid(), &skip).unwrap());
    std::thread::sleep(Duration::from_secs(3));
    let s1 = pipelines::wake::voluntary_switches(v.pid(), &skip).unwrap();
    let per_s = pipelines::wake::switches_between(&s0, &s1) as f64 / t0.elapsed().as_secs_f64();
    eprintln!("idle vnfd: {per_s:.2} voluntary context switches per second outside the workers");
    assert!(per_s < 5.0, "{per_s:.1} wake-ups a second");
    // And it still reacts at once: a request is answered, SIGHUP wakes it and reloads.
    ok(&v, r#"{"cmd":"stats"}"#);
    let t = Instant::now();
    // SAFETY: signalling the vnfd child this test started.
    assert_eq!(unsafe { libc::kill(v.pid() as i32, libc::SIGHUP) }, 0);
    assert!(common::wait_until(10, || v.stderr().contains("SIGHUP: reloaded, generation 2")), "{}", v.stderr());
    eprintln!("SIGHUP handled after {:?}", t.elapsed());
}

#[test]
fn stats_clear_zeroes_what_stats_shows_and_top_shows_live_rates() {
    let dir = tempfile::tempdir().unwrap();
    let v = start(dir.path(), "clear");
    let sock = v.control_path();
    let rx = |s: &Value| s["stats"]["ports"][0]["rx"].as_u64().unwrap();
    // p0 replays its pcap forever: wait for a good count.
    assert!(common::wait_until(20, || rx(&ok(&v, r#"{"cmd":"stats"}"#)) > 200_000));
    let before = ok(&v, r#"{"cmd":"stats"}"#);
    assert!(before.get("since_clear_s").is_none(), "{before}");
    let (code, out, err) = vnfctl(dir.path(), &sock, &["stats", "clear"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "counters cleared (generation 1)\n");
    let after = ok(&v, r#"{"cmd":"stats"}"#);
    assert!(rx(&after) < rx(&before), "{} since the clear, {} before it", rx(&after), rx(&before));
    assert!(after["since_clear_s"].as_f64().unwrap() < before["stats"]["elapsed_s"].as_f64().unwrap());
    let (_, text, _) = vnfctl(dir.path(), &sock, &["stats"]);
    assert!(text.starts_with("counters since `stats clear` "), "{text}");

    // top: two refreshes, each with p0's rate; not a terminal, so blocks one after another.
    let (code, out, err) = vnfctl(dir.path(), &sock, &["top", "--interval", "0.3", "--count", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("vnfd rates over ").count(), 2, "{out}");
    let p0: Vec<&str> = out.lines().filter(|l| l.starts_with("p0 ")).collect();
    assert_eq!(p0.len(), 2, "{out}");
    for l in p0 {
        let rx_pps = l.split_whitespace().nth(2).unwrap();
        assert!(rx_pps != "0", "p0 receives: {l}");
    }
    let (code, _, err) = vnfctl(dir.path(), &sock, &["top", "--interval", "0"]);
    assert_eq!((code, err.trim()), (2, "vnfctl: --interval 0: at least 0.05 seconds"));
}
