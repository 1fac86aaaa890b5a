//! The `/vnf/...` DPDK telemetry commands, read through the real telemetry socket
//! (`<runtime dir>/dpdk_telemetry.v2`, SOCK_SEQPACKET) and through `dpdk-telemetry.py`.
//!
//! One test function: EAL is initialised once and cleaned up at the end.

use pipelines::dpdk::{Eal, HwStats, LinkInfo};
use pipelines::prom::StatsSource;
use pipelines::report::{BridgeStats, MempoolStats, PortStats, Stats, VtepStats, WorkerStats};
use pipelines::telemetry;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn map(kv: &[(&str, u64)]) -> BTreeMap<String, u64> {
    kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn port(name: &str, rx: u64, tx: u64) -> PortStats {
    PortStats {
        name: name.into(),
        devargs: format!("net_ring_{name}"),
        driver: "net_ring".into(),
        mac: "02:00:00:00:00:01".into(),
        mtu: Some(1500),
        link: LinkInfo { up: true, speed_mbps: 10000, full_duplex: true },
        rx,
        tx,
        tx_full: 7,
        tx_retries: 0,
        hw: HwStats { ipackets: rx, opackets: tx, imissed: 3, rx_nombuf: 2, ..Default::default() },
    }
}

fn stats() -> Stats {
    let drops = map(&[("ct-table-full", 5), ("no-forward", 10)]);
    Stats {
        elapsed_s: 12.5,
        tsc_hz: 2_000_000_000,
        tsc: 0,
        ports: vec![port("p0", 123, 456), port("p1", 456, 123)],
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
        events: map(&[("arp-reply", 2), ("fdb-learn", 4)]),
        bridges: vec![BridgeStats { name: "br0".into(), vlan: 10, vni: Some(100), encap: 8, decap: 9 }],
        vteps: vec![VtepStats { ip: "192.0.2.1".into(), encap: 8, decap: 9 }],
        mempool: MempoolStats { size: 8191, available: 8000, in_use: 191 },
        generation: 3,
        event_log: None,
    }
}

/// A client of the telemetry socket.
struct TelSock(libc::c_int);

impl TelSock {
    fn connect(path: &Path) -> TelSock {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let s = TelSock(fd);
        // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.to_str().unwrap().as_bytes();
        assert!(bytes.len() < addr.sun_path.len());
        for (d, &b) in addr.sun_path.iter_mut().zip(bytes) {
            *d = b as libc::c_char;
        }
        let tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
        // SAFETY: fd is our socket; tv is a valid timeval of the given size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        // SAFETY: addr is a valid sockaddr_un of the given size.
        let r = unsafe {
            libc::connect(
                fd,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "connect {}: {}", path.display(), std::io::Error::last_os_error());
        s
    }

    fn recv(&self) -> Value {
        let mut buf = vec![0u8; 64 * 1024];
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(self.0, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        assert!(n > 0, "recv: {}", std::io::Error::last_os_error());
        let text = &buf[..n as usize];
        serde_json::from_slice(text)
            .unwrap_or_else(|e| panic!("reply {:?} is not JSON: {e}", String::from_utf8_lossy(text)))
    }

    fn cmd(&self, c: &str) -> Value {
        // SAFETY: c is readable for its length.
        let n = unsafe { libc::send(self.0, c.as_ptr() as *const libc::c_void, c.len(), 0) };
        assert_eq!(n, c.len() as isize, "send: {}", std::io::Error::last_os_error());
        self.recv()
    }
}

impl Drop for TelSock {
    fn drop(&mut self) {
        // SAFETY: closes our own fd once.
        unsafe { libc::close(self.0) };
    }
}

fn socket_path() -> PathBuf {
    // SAFETY: EAL is initialised; returns its NUL-terminated runtime dir.
    let dir = unsafe { CStr::from_ptr(dpdk_sys::rte_eal_get_runtime_dir()) }.to_str().unwrap().to_owned();
    PathBuf::from(dir).join("dpdk_telemetry.v2")
}

#[test]
fn telemetry_commands_answer_over_the_socket_and_the_script() {
    let prefix = format!("vnftel{}", std::process::id());
    let eal = Eal::init(&[
        "-l",
        "0",
        "--no-huge",
        "--no-pci",
        "-m",
        "128",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:warning",
    ])
    .expect("EAL init");
    telemetry::register(Arc::new(|| Some(stats()))).expect("register");

    let path = socket_path();
    let end = Instant::now() + Duration::from_secs(5);
    while !path.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(path.exists(), "telemetry socket {} missing", path.display());

    {
        let s = TelSock::connect(&path);
        let hello = s.recv();
        assert!(hello["version"].as_str().unwrap().starts_with("DPDK"), "{hello}");
        assert_eq!(hello["pid"], json!(std::process::id()));

        let list = s.cmd("/");
        for c in ["/vnf/stats", "/vnf/ports", "/vnf/drops", "/vnf/events", "/vnf/workers"] {
            assert!(list["/"].as_array().unwrap().contains(&json!(c)), "{c} listed: {list}");
        }

        assert_eq!(
            s.cmd("/vnf/stats"),
            json!({"/vnf/stats": {
                "rx": 579, "tx": 579, "tx_full": 14, "drops": 15, "packets": 579,
                "mempool_size": 8191, "mempool_available": 8000, "mempool_in_use": 191,
                "ct_entries": 42, "nat_mappings": 17, "fdb_entries": 3,
                "ports": 2, "workers": 1, "generation": 3, "uptime_s": 13
            }})
        );
        assert_eq!(s.cmd("/vnf/drops"), json!({"/vnf/drops": {"ct_table_full": 5, "no_forward": 10}}));
        assert_eq!(s.cmd("/vnf/events"), json!({"/vnf/events": {"arp_reply": 2, "fdb_learn": 4}}));
        assert_eq!(s.cmd("/vnf/ports"), json!({"/vnf/ports": ["p0", "p1"]}));
        let p0 = json!({"/vnf/ports": {
            "name": "p0", "driver": "net_ring", "mac": "02:00:00:00:00:01", "link_up": 1,
            "speed_mbps": 10000, "rx": 123, "tx": 456, "tx_full": 7, "tx_retries": 0, "hw_ipackets": 123,
            "hw_opackets": 456, "hw_ibytes": 0, "hw_obytes": 0, "hw_imissed": 3, "hw_ierrors": 0,
            "hw_oerrors": 0, "hw_rx_nombuf": 2
        }});
        assert_eq!(s.cmd("/vnf/ports,0"), p0);
        assert_eq!(s.cmd("/vnf/ports,p0"), p0);
        assert_eq!(s.cmd("/vnf/ports,1")["/vnf/ports"]["rx"], json!(456));
        assert_eq!(s.cmd("/vnf/ports,7"), json!({"/vnf/ports": null}));
        assert_eq!(s.cmd("/vnf/ports,nosuch"), json!({"/vnf/ports": null}));
        assert_eq!(s.cmd("/vnf/workers"), json!({"/vnf/workers": [1]}));
        assert_eq!(
            s.cmd("/vnf/workers,0"),
            json!({"/vnf/workers": {
                "lcore": 1, "packets": 579, "loops": 1000, "busy_loops": 100, "busy_cycles": 57900,
                "cycles_per_packet": 100, "ct_entries": 42, "nat_mappings": 17, "fdb_entries": 3,
                "pps": 290, "active_s": 2, "drops": {"ct_table_full": 5, "no_forward": 10}
            }})
        );
        assert_eq!(s.cmd("/vnf/workers,1"), json!({"/vnf/workers": null}));
        assert_eq!(s.cmd("/vnf/workers,x"), json!({"/vnf/workers": null}));
        assert_eq!(s.cmd("/vnf/drops,1"), json!({"/vnf/drops": null}), "no params taken");

        // A new source replaces the old one; None and a panicking source give null.
        let mut more = stats();
        more.drops.insert("ttl-exceeded".into(), 1);
        let src: StatsSource = Arc::new(move || Some(more.clone()));
        telemetry::register(src).expect("register again");
        assert_eq!(
            s.cmd("/vnf/drops"),
            json!({"/vnf/drops": {"ct_table_full": 5, "no_forward": 10, "ttl_exceeded": 1}})
        );
        telemetry::register(Arc::new(|| None)).unwrap();
        assert_eq!(s.cmd("/vnf/stats"), json!({"/vnf/stats": null}));
        telemetry::register(Arc::new(|| panic!("source fails"))).unwrap();
        assert_eq!(s.cmd("/vnf/stats"), json!({"/vnf/stats": null}), "a panic becomes null");
        telemetry::register(Arc::new(|| Some(stats()))).unwrap();
        assert_eq!(s.cmd("/vnf/stats")["/vnf/stats"]["drops"], json!(15));
    }

    // The same through DPDK's own client, non-interactive: one command on stdin.
    if Path::new("/usr/bin/python3").exists() {
        let mut child = Command::new("/usr/bin/python3")
            .args(["/usr/bin/dpdk-telemetry.py", "-f", &prefix])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dpdk-telemetry.py runs");
        child.stdin.take().unwrap().write_all(b"/vnf/drops\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "dpdk-telemetry.py: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let want = json!({"/vnf/drops": {"ct_table_full": 5, "no_forward": 10}});
        assert!(
            stdout.lines().any(|l| serde_json::from_str::<Value>(l).ok() == Some(want.clone())),
            "script printed {stdout:?}"
        );
        assert!(stdout.contains(r#"{"/vnf/drops": {"ct_table_full": 5, "no_forward": 10}}"#), "{stdout}");
    } else {
        eprintln!("note: /usr/bin/python3 missing, dpdk-telemetry.py part skipped");
    }

    // SAFETY: no DPDK object exists and no lcore runs anything.
    unsafe { eal.cleanup() };
    // EAL leaves its runtime dir (config, fbarrays) behind; it is this process's own.
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
