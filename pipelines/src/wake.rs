//! How vnfd's main thread waits: blocked in poll(2) on a self-pipe the signal handlers
//! write to, until a signal comes or the next timer (the `--duration` end, the next
//! `--stats-interval` line) is due. An idle vnfd's main thread does not wake at all (it
//! slept 10 ms in a loop before: 100 wake-ups a second, each one preempting whatever
//! shares its CPU, a generator in a 2-core VM).

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The read end of the self-pipe.
pub struct Wake {
    rx: UnixStream,
}

impl Wake {
    /// A waker that the signals in `signals` interrupt (each signal handler writes one
    /// byte; their flags are the caller's to register and read).
    pub fn on_signals(signals: &[i32]) -> io::Result<Wake> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        for &s in signals {
            signal_hook::low_level::pipe::register(s, tx.try_clone()?)?;
        }
        Ok(Wake { rx })
    }

    /// Blocks until a signal came (true) or `timeout` passed (false; None waits for a
    /// signal only). The timeout is rounded up to whole milliseconds, so a timer is never
    /// woken early and spun on.
    pub fn wait(&mut self, timeout: Option<Duration>) -> bool {
        let ms = timeout.map_or(-1, |t| t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32);
        let mut fds = libc::pollfd { fd: self.rx.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd on a descriptor this struct owns; poll only writes revents.
        let n = unsafe { libc::poll(&mut fds, 1, ms) };
        if n <= 0 {
            // Timeout, or EINTR from a signal that is not ours: the caller re-checks.
            return n < 0;
        }
        let mut buf = [0u8; 64];
        while matches!(self.rx.read(&mut buf), Ok(k) if k > 0) {}
        true
    }
}

/// The voluntary context switches (how often it blocked and woke) of each thread of
/// process `pid` whose name does not start with one of `skip`, by thread id, from
/// /proc/PID/task/*/status.
pub fn voluntary_switches(pid: u32, skip: &[&str]) -> io::Result<std::collections::BTreeMap<u32, u64>> {
    let mut out = std::collections::BTreeMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = t?.path();
        let Some(tid) = dir.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()) else { continue };
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if skip.iter().any(|s| name.trim().starts_with(s)) {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let n = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        out.insert(tid, n);
    }
    Ok(out)
}

/// The switches from `before` to `after` ([`voluntary_switches`] readings): a thread in
/// both counts its increase, one that started in between all of its switches.
pub fn switches_between(
    before: &std::collections::BTreeMap<u32, u64>,
    after: &std::collections::BTreeMap<u32, u64>,
) -> u64 {
    after.iter().map(|(t, &n)| n.saturating_sub(before.get(t).copied().unwrap_or(0))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_signal_ends_the_wait_and_a_timer_does_too() {
        let mut w = Wake::on_signals(&[libc::SIGUSR2]).unwrap();
        let t = Instant::now();
        assert!(!w.wait(Some(Duration::from_millis(50))), "no signal: the timer ends it");
        assert!(t.elapsed() >= Duration::from_millis(50));
        // SAFETY: raising a signal whose handler (signal-hook's) is installed above.
        unsafe { libc::raise(libc::SIGUSR2) };
        let t = Instant::now();
        assert!(w.wait(Some(Duration::from_secs(10))), "the signal wakes it");
        assert!(t.elapsed() < Duration::from_secs(5));
        // Drained: the next wait sleeps again.
        assert!(!w.wait(Some(Duration::from_millis(10))));
    }
}
