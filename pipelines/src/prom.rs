//! Prometheus text exposition (format 0.0.4) of [`Stats`], and a tiny HTTP/1.1 exporter
//! that serves it on `GET /metrics` with std only.
//!
//! Every metric family is written as `# HELP`, `# TYPE`, then all its samples, so each
//! family appears exactly once. Metric names start with `vnf_`; counters end in `_total`.

use crate::report::Stats;
use std::fmt::{Display, Write as _};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the exporter and the telemetry commands get the current counters; `None` when the
/// dataplane is not running (answered with 503 / a null telemetry reply).
pub type StatsSource = Arc<dyn Fn() -> Option<Stats> + Send + Sync>;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest request (line and headers) accepted.
const REQUEST_LIMIT: usize = 8 * 1024;
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 32;

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value in the format's float syntax.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// A table value in the format's syntax.
fn num(n: crate::metrics::Num) -> String {
    match n {
        crate::metrics::Num::U(v) => v.to_string(),
        crate::metrics::Num::F(v) => float(v),
    }
}

/// The text being built.
struct Text {
    buf: String,
}

impl Text {
    /// Starts family `name`: its HELP and TYPE lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.buf, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.buf, "# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.buf.push_str(name);
        if !labels.is_empty() {
            self.buf.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.buf.push(',');
                }
                let _ = write!(self.buf, "{k}=\"{}\"", escape_label(v));
            }
            self.buf.push('}');
        }
        let _ = writeln!(self.buf, " {value}");
    }
}

/// Renders `s` in the Prometheus text format 0.0.4.
pub fn render(s: &Stats) -> String {
    let mut t = Text { buf: String::with_capacity(4096) };

    for m in crate::metrics::PORT.iter().filter(|m| !m.prom.is_empty()) {
        t.family(m.prom, m.kind.name(), m.help);
        for p in &s.ports {
            t.sample(m.prom, &[("port", &p.name)], num((m.get)(p)));
        }
    }
    t.family("vnf_port_info", "gauge", "Port identity; always 1.");
    for p in &s.ports {
        let labels = [("port", p.name.as_str()), ("driver", &p.driver), ("mac", &p.mac), ("devargs", &p.devargs)];
        t.sample("vnf_port_info", &labels, 1);
    }
    for m in crate::metrics::WORKER.iter().filter(|m| !m.prom.is_empty()) {
        t.family(m.prom, m.kind.name(), m.help);
        for w in &s.workers {
            t.sample(m.prom, &[("lcore", &w.lcore.to_string())], num((m.get)(w)));
        }
    }

    t.family("vnf_drops_total", "counter", "Packets dropped, by reason, summed over workers.");
    for (reason, n) in &s.drops {
        t.sample("vnf_drops_total", &[("reason", reason)], n);
    }
    t.family("vnf_worker_drops_total", "counter", "Packets dropped by one worker, by reason.");
    for w in &s.workers {
        let lcore = w.lcore.to_string();
        for (reason, n) in &w.drops {
            t.sample("vnf_worker_drops_total", &[("lcore", &lcore), ("reason", reason)], n);
        }
    }
    t.family("vnf_events_total", "counter", "Dataplane events (learning, flooding, ARP, ICMP), summed over workers.");
    for (event, n) in &s.events {
        t.sample("vnf_events_total", &[("event", event)], n);
    }

    let vxlan_bridges: Vec<_> = s.bridges.iter().filter_map(|b| b.vni.map(|vni| (b, vni.to_string()))).collect();
    t.family("vnf_bridge_vxlan_encap_total", "counter", "Frames of the bridge encapsulated in VXLAN.");
    for (b, vni) in &vxlan_bridges {
        t.sample("vnf_bridge_vxlan_encap_total", &[("bridge", &b.name), ("vni", vni)], b.encap);
    }
    t.family("vnf_bridge_vxlan_decap_total", "counter", "VXLAN frames decapsulated into the bridge.");
    for (b, vni) in &vxlan_bridges {
        t.sample("vnf_bridge_vxlan_decap_total", &[("bridge", &b.name), ("vni", vni)], b.decap);
    }
    t.family("vnf_vtep_encap_total", "counter", "Frames encapsulated toward the remote VTEP.");
    for v in &s.vteps {
        t.sample("vnf_vtep_encap_total", &[("vtep", &v.ip)], v.encap);
    }
    t.family("vnf_vtep_decap_total", "counter", "Frames decapsulated from the remote VTEP.");
    for v in &s.vteps {
        t.sample("vnf_vtep_decap_total", &[("vtep", &v.ip)], v.decap);
    }

    t.family("vnf_mempool_mbufs", "gauge", "Mbufs of the packet mempool by state.");
    t.sample("vnf_mempool_mbufs", &[("state", "available")], s.mempool.available);
    t.sample("vnf_mempool_mbufs", &[("state", "in_use")], s.mempool.in_use);
    for m in crate::metrics::SUMMARY.iter().filter(|m| !m.prom.is_empty()) {
        t.family(m.prom, m.kind.name(), m.help);
        t.sample(m.prom, &[], num((m.get)(s)));
    }
    t.buf
}

/// A running HTTP exporter: `GET /metrics` answers [`render`] of the source's stats. Stops
/// its accept thread on drop (connections being served finish within the request timeout).
#[derive(Debug)]
pub struct Exporter {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Listens on `addr` (port 0 picks a free port; see [`Exporter::local_addr`]) and serves
    /// each connection on its own short-lived thread.
    pub fn serve(addr: SocketAddr, src: StatsSource) -> io::Result<Exporter> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new().name("prom-exporter".into()).spawn(move || accept_loop(listener, src, stop))?
        };
        Ok(Exporter { addr, stop, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, src: StatsSource, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = conn else {
            // E.g. EMFILE: do not spin.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = respond(&stream, "503 Service Unavailable", "text/plain", "too many connections\n", &[]);
            continue;
        }
        let src = src.clone();
        let done = active.clone();
        let spawned = std::thread::Builder::new().name("prom-conn".into()).spawn(move || {
            handle(stream, &src);
            done.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads the request head: Ok(None) if the client sent nothing or timed out, Err(()) if it
/// is too large or not text.
fn read_head(stream: &mut TcpStream) -> Result<Option<String>, ()> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > REQUEST_LIMIT {
            return Err(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Ok(None);
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(None),
        }
    }
    if buf.is_empty() {
        return Ok(None);
    }
    String::from_utf8(buf).map(Some).map_err(|_| ())
}

fn handle(mut stream: TcpStream, src: &StatsSource) {
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
    let head = match read_head(&mut stream) {
        Ok(Some(h)) => h,
        Ok(None) => return,
        Err(()) => {
            let _ = respond(&stream, "400 Bad Request", "text/plain", "bad request\n", &[]);
            return;
        }
    };
    let line = head.lines().next().unwrap_or("");
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        let _ = respond(&stream, "400 Bad Request", "text/plain", "bad request\n", &[]);
        return;
    };
    let valid_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !valid_method || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        let _ = respond(&stream, "400 Bad Request", "text/plain", "bad request\n", &[]);
        return;
    }
    if method != "GET" {
        let _ = respond(&stream, "405 Method Not Allowed", "text/plain", "method not allowed\n", &["Allow: GET"]);
        return;
    }
    let path = target.split('?').next().unwrap_or(target);
    if path != "/metrics" {
        let _ = respond(&stream, "404 Not Found", "text/plain", "not found; try /metrics\n", &[]);
        return;
    }
    let stats = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| src()));
    let _ = match stats {
        Ok(Some(s)) => respond(&stream, "200 OK", CONTENT_TYPE, &render(&s), &[]),
        Ok(None) => respond(&stream, "503 Service Unavailable", "text/plain", "dataplane not running\n", &[]),
        Err(_) => respond(&stream, "500 Internal Server Error", "text/plain", "stats source failed\n", &[]),
    };
}

fn respond(mut stream: &TcpStream, status: &str, ctype: &str, body: &str, extra: &[&str]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n", body.len());
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpdk::{HwStats, LinkInfo};
    use crate::report::{BridgeStats, MempoolStats, PortStats, VtepStats, WorkerStats};
    use std::collections::{BTreeMap, HashMap};

    fn port(name: &str, rx: u64, tx: u64, up: bool) -> PortStats {
        PortStats {
            name: name.into(),
            devargs: format!("net_ring_{name}"),
            driver: "net_ring".into(),
            mac: "02:00:00:00:00:01".into(),
            mtu: Some(1500),
            link: LinkInfo { up, speed_mbps: 10000, full_duplex: true },
            rx,
            tx,
            tx_full: 7,
            tx_retries: 0,
            hw: HwStats { ipackets: rx, opackets: tx, imissed: 3, rx_nombuf: 2, ..Default::default() },
        }
    }

    fn map(kv: &[(&str, u64)]) -> BTreeMap<String, u64> {
        kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    pub(crate) fn sample_stats() -> Stats {
        let drops = map(&[("ct-table-full", 5), ("no-forward", 10)]);
        Stats {
            elapsed_s: 12.5,
            tsc_hz: 2_000_000_000,
            tsc: 0,
            ports: vec![port("p0", 123, 456, true), port("p1", 456, 123, false)],
            workers: vec![WorkerStats {
                lcore: 1,
                packets: 579,
                loops: 1000,
                busy_loops: 100,
                busy_cycles: 57900,
                cycles_per_packet: 100.0,
                active_s: 2.0,
                pps: 289.5,
                first_rx_tsc: 0,
                last_rx_tsc: 0,
                drops: drops.clone(),
                events: map(&[("arp-reply", 2)]),
                ct_entries: 42,
                nat_mappings: 17,
                fdb_entries: 3,
            }],
            drops,
            events: map(&[("arp-reply", 2)]),
            bridges: vec![
                BridgeStats { name: "br0".into(), vlan: 10, vni: Some(100), encap: 8, decap: 9 },
                BridgeStats { name: "plain".into(), vlan: 20, vni: None, encap: 0, decap: 0 },
            ],
            vteps: vec![VtepStats { ip: "192.0.2.1".into(), encap: 8, decap: 9 }],
            mempool: MempoolStats { size: 8191, available: 8000, in_use: 191 },
            generation: 3,
            event_log: None,
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn renders_exact_samples() {
        let text = render(&sample_stats());
        let l = lines(&text);
        for want in [
            r#"vnf_port_rx_packets_total{port="p0"} 123"#,
            r#"vnf_port_rx_packets_total{port="p1"} 456"#,
            r#"vnf_port_tx_packets_total{port="p0"} 456"#,
            r#"vnf_port_tx_full_total{port="p1"} 7"#,
            r#"vnf_port_hw_imissed_total{port="p0"} 3"#,
            r#"vnf_port_hw_rx_nombuf_total{port="p1"} 2"#,
            r#"vnf_port_link_up{port="p0"} 1"#,
            r#"vnf_port_link_up{port="p1"} 0"#,
            r#"vnf_worker_packets_total{lcore="1"} 579"#,
            r#"vnf_worker_busy_cycles_total{lcore="1"} 57900"#,
            r#"vnf_worker_cycles_per_packet{lcore="1"} 100"#,
            r#"vnf_drops_total{reason="ct-table-full"} 5"#,
            r#"vnf_drops_total{reason="no-forward"} 10"#,
            r#"vnf_worker_drops_total{lcore="1",reason="ct-table-full"} 5"#,
            r#"vnf_events_total{event="arp-reply"} 2"#,
            r#"vnf_conntrack_entries{lcore="1"} 42"#,
            r#"vnf_nat_mappings{lcore="1"} 17"#,
            r#"vnf_bridge_vxlan_encap_total{bridge="br0",vni="100"} 8"#,
            r#"vnf_bridge_vxlan_decap_total{bridge="br0",vni="100"} 9"#,
            r#"vnf_vtep_encap_total{vtep="192.0.2.1"} 8"#,
            r#"vnf_vtep_decap_total{vtep="192.0.2.1"} 9"#,
            r#"vnf_mempool_mbufs{state="available"} 8000"#,
            r#"vnf_mempool_mbufs{state="in_use"} 191"#,
            "vnf_mempool_size 8191",
            "vnf_uptime_seconds 12.5",
            "# TYPE vnf_port_rx_packets_total counter",
            "# TYPE vnf_port_link_up gauge",
            "# TYPE vnf_worker_cycles_per_packet gauge",
        ] {
            assert!(l.contains(&want), "missing line {want:?} in\n{text}");
        }
        assert!(!text.contains("plain"), "bridges without a VNI have no VXLAN samples");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn help_and_type_once_per_family_before_its_samples() {
        let text = render(&sample_stats());
        let mut help: HashMap<&str, usize> = HashMap::new();
        let mut typ: HashMap<&str, usize> = HashMap::new();
        let mut current = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                *help.entry(name).or_default() += 1;
                current = name;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                let name = it.next().unwrap();
                assert_eq!(name, current, "TYPE right after its HELP");
                assert!(matches!(it.next(), Some("counter" | "gauge")), "{line}");
                *typ.entry(name).or_default() += 1;
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "sample {line:?} inside its own family");
                assert!(name.starts_with("vnf_"));
            }
        }
        assert!(help.len() > 20);
        assert!(help.values().all(|&n| n == 1), "{help:?}");
        assert_eq!(help, typ);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        let mut s = sample_stats();
        s.ports[0].name = "we\"ird\\po\nrt".into();
        let text = render(&s);
        assert!(text.lines().any(|l| l == r#"vnf_port_rx_packets_total{port="we\"ird\\po\nrt"} 123"#), "{text}");
    }

    #[test]
    fn floats_use_the_format_spelling() {
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(0.25), "0.25");
    }

    /// Sends `req` (if any), reads the whole answer.
    fn request(addr: SocketAddr, req: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(req).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    fn exporter(src: StatsSource) -> Exporter {
        Exporter::serve("127.0.0.1:0".parse().unwrap(), src).unwrap()
    }

    #[test]
    fn http_serves_metrics_and_errors() {
        let e = exporter(Arc::new(|| Some(sample_stats())));
        let addr = e.local_addr();
        let ok = request(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("\r\nContent-Type: text/plain; version=0.0.4\r\n"), "{ok}");
        assert!(ok.contains("\r\nConnection: close\r\n"), "{ok}");
        let (head, body) = ok.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(body.lines().any(|l| l == r#"vnf_port_rx_packets_total{port="p0"} 123"#), "{body}");

        let q = request(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(q.starts_with("HTTP/1.1 200 OK\r\n"), "{q}");
        let nope = request(addr, b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(nope.starts_with("HTTP/1.1 404 "), "{nope}");
        let post = request(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET"), "{post}");
        let garbage = request(addr, b"\x01\x02 hello\r\n\r\n");
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        let huge = request(addr, &[b'A'; 9000]);
        assert!(huge.starts_with("HTTP/1.1 400 "), "{huge}");
    }

    #[test]
    fn silent_client_does_not_block_others() {
        let e = exporter(Arc::new(|| Some(sample_stats())));
        let addr = e.local_addr();
        let _silent = TcpStream::connect(addr).unwrap();
        let _silent2 = TcpStream::connect(addr).unwrap();
        let t = Instant::now();
        let ok = request(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(t.elapsed() < Duration::from_secs(3), "answered after {:?}", t.elapsed());
    }

    #[test]
    fn no_stats_is_503_and_drop_stops_the_server() {
        let e = exporter(Arc::new(|| None));
        let addr = e.local_addr();
        let r = request(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
        let t = Instant::now();
        drop(e);
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(TcpStream::connect(addr).is_err(), "listener closed after drop");
    }
}
