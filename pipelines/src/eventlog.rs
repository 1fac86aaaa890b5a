//! The event log's writer: a thread that drains every worker's event ring
//! (`vnf_core::eventlog`) and writes the events to the configured destinations: text lines
//! appended to a file, syslog messages to a Unix datagram socket, IPFIX messages to a UDP
//! collector.
//!
//! It never blocks a worker: workers only push into their rings. It wakes every 5 ms while
//! events come and backs off to every 200 ms when none do. Events of one drain are written
//! in time order. A destination that fails (a full disk, no syslog daemon, an unreachable
//! collector) is counted in `errors` (per event not written to the file or syslog, per
//! IPFIX message not sent) and tried again with the next drain; the other destinations go on; a syslog daemon that does not take a message within 100 ms is
//! skipped for the rest of that drain. When the workers stop, the thread drains what is left and exits.

use crate::dpdk::{rdtsc, tsc_hz};
use crate::worker::Shared;
use std::fs::File;
use std::io::{self, Write};
use std::net::UdpSocket;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vnf_core::config::EventLog as LogConfig;
use vnf_core::eventlog::ipfix::Exporter;
use vnf_core::eventlog::{text, LogEvent, Ring};

/// syslog priority of the messages: facility local0 (16), severity informational (6).
const SYSLOG_PRI: u32 = 16 * 8 + 6;
/// How long one syslog message may wait for room in the daemon's socket.
const SYSLOG_WAIT: Duration = Duration::from_millis(100);
/// Most events taken from the rings per drain.
const BATCH: usize = 65536;

/// What the writer did, read by `vnfctl stats`.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Events written (each to every destination).
    pub written: AtomicU64,
    /// Writes that failed, over all destinations.
    pub errors: AtomicU64,
}

/// The destinations, opened.
pub struct Sinks {
    file: Option<File>,
    syslog: Option<(UnixDatagram, String)>,
    ipfix: Option<(UdpSocket, Exporter)>,
}

impl Sinks {
    /// Opens what `cfg` names; an error names the key.
    pub fn open(cfg: &LogConfig) -> Result<Sinks, String> {
        let file = match &cfg.file {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o640)
                    .open(p)
                    .map_err(|e| format!("event_log.file: {p}: {e}"))?,
            ),
            None => None,
        };
        let syslog = match &cfg.syslog {
            Some(p) => {
                let s = UnixDatagram::unbound().map_err(|e| format!("event_log.syslog: {p}: {e}"))?;
                // A syslog daemon that stops reading fills its socket's queue: wait a little,
                // then give up on it for the rest of the batch rather than stall the log.
                s.set_write_timeout(Some(SYSLOG_WAIT)).map_err(|e| format!("event_log.syslog: {p}: {e}"))?;
                Some((s, p.clone()))
            }
            None => None,
        };
        let ipfix = match cfg.ipfix {
            Some(a) => {
                let any: std::net::SocketAddr = if a.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(any)
                    .and_then(|s| s.connect(a).map(|_| s))
                    .map_err(|e| format!("event_log.ipfix: {a}: {e}"))?;
                let ex =
                    Exporter::new(cfg.ipfix_domain, cfg.destinations, u64::from(cfg.ipfix_template_interval) * 1000);
                Some((s, ex))
            }
            None => None,
        };
        Ok(Sinks { file, syslog, ipfix })
    }
}

/// The running writer.
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Writer {
    /// Starts draining `rings` into `sinks`; zone names come from the running snapshot.
    pub fn start(
        rings: Vec<Arc<Ring>>,
        mut sinks: Sinks,
        shared: Arc<Shared>,
        stats: Arc<LogStats>,
    ) -> io::Result<Writer> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new().name("vnfd-eventlog".into()).spawn(move || {
            // The workers stamp events with TSC milliseconds; the offset to wall time is taken
            // at each drain, so a clock step (NTP) shows in the next events.
            let tsc_per_ms = (tsc_hz() / 1000).max(1);
            let mut batch: Vec<LogEvent> = Vec::with_capacity(1024);
            let mut idle = Duration::from_millis(5);
            loop {
                let last = flag.load(Ordering::Acquire);
                batch.clear();
                for r in &rings {
                    while batch.len() < BATCH {
                        match r.pop() {
                            Some(e) => batch.push(e),
                            None => break,
                        }
                    }
                }
                batch.sort_by_key(|e| e.ms);
                let offset = wall_ms() as i64 - (rdtsc() / tsc_per_ms) as i64;
                let snap = shared.snap.load();
                let zones = snap.tables.sec.as_ref().map_or(&[][..], |s| &s.zones[..]);
                write(&mut sinks, &batch, zones, offset, &stats);
                drop(snap);
                // Stopping: the workers have stopped, so once the rings are empty nothing comes.
                if last && rings.iter().all(|r| r.is_empty()) {
                    break;
                }
                idle = if batch.is_empty() {
                    (idle * 2).min(Duration::from_millis(200))
                } else {
                    Duration::from_millis(5)
                };
                std::thread::sleep(idle);
            }
        })?;
        Ok(Writer { stop, handle: Some(handle) })
    }

    /// Drains what is left and stops (call after the workers stopped).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write(s: &mut Sinks, batch: &[LogEvent], zones: &[String], offset: i64, stats: &LogStats) {
    let wall = |e: &LogEvent| (e.ms as i64 + offset).max(0) as u64;
    let mut errors = 0u64;
    if let Some(f) = &mut s.file {
        let mut buf = String::with_capacity(batch.len() * 128);
        for e in batch {
            text::rfc3339(wall(e), &mut buf);
            buf.push(' ');
            text::body(e, zones, &mut buf);
            buf.push('\n');
        }
        if !buf.is_empty() && f.write_all(buf.as_bytes()).is_err() {
            errors += batch.len() as u64;
        }
    }
    if let Some((sock, path)) = &s.syslog {
        let pid = std::process::id();
        let mut m = String::with_capacity(256);
        for (i, e) in batch.iter().enumerate() {
            m.clear();
            use std::fmt::Write as _;
            let _ = write!(m, "<{SYSLOG_PRI}>");
            text::syslog_stamp(wall(e), &mut m);
            let _ = write!(m, " vnfd[{pid}]: ");
            text::body(e, zones, &mut m);
            if sock.send_to(m.as_bytes(), path).is_err() {
                // Not taken in time (or no daemon): the rest of the batch is not sent either.
                errors += (batch.len() - i) as u64;
                break;
            }
        }
    }
    if let Some((sock, ex)) = &mut s.ipfix {
        let events: Vec<(u64, LogEvent)> = batch.iter().map(|e| (wall(e), *e)).collect();
        let mut msgs = Vec::new();
        ex.encode(wall_ms(), &events, &mut msgs);
        for m in msgs {
            if sock.send(&m).is_err() {
                errors += 1;
            }
        }
    }
    stats.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
    if errors > 0 {
        stats.errors.fetch_add(errors, Ordering::Relaxed);
    }
}
