//! DPDK telemetry commands over the dataplane's [`Stats`], so `dpdk-telemetry.py` (and any
//! client of the `dpdk_telemetry.v2` socket) shows the appliance's counters.
//!
//! | command | param | reply |
//! |---|---|---|
//! | `/vnf/stats` | none | dict of totals (rx, tx, drops, packets, mempool, conntrack, ...) |
//! | `/vnf/ports` | none | list of port names |
//! | `/vnf/ports` | index or name | dict of that port's counters |
//! | `/vnf/drops` | none | dict reason -> count, summed over workers |
//! | `/vnf/events` | none | dict event -> count, summed over workers |
//! | `/vnf/workers` | none | list of the workers' lcores (index i = worker i) |
//! | `/vnf/workers` | worker index | dict of that worker's counters, `drops` nested |
//!
//! Telemetry dict keys may only hold alphanumerics, `_` and `/`, so other characters of
//! drop-reason and event names become `_` (`ct-table-full` is reported as `ct_table_full`).
//! A bad param, or no stats source / no running dataplane, gives a `null` reply.

use crate::dpdk::DpdkError;
use crate::prom::StatsSource;
use crate::report::Stats;
use dpdk_sys::rte_tel_data;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Mutex, PoisonError, RwLock};

/// The source the commands read; replaced by each [`register`].
static SOURCE: RwLock<Option<StatsSource>> = RwLock::new(None);
/// Commands already registered with DPDK (it keeps them for the life of the process).
static REGISTERED: Mutex<Vec<&'static CStr>> = Mutex::new(Vec::new());

/// The commands and their help texts.
const COMMANDS: &[(&CStr, &CStr)] = &[
    (c"/vnf/stats", c"Dataplane totals: rx, tx, drops, packets, mempool, conntrack. No parameters."),
    (c"/vnf/ports", c"Port names; with a port index or name, that port's counters."),
    (c"/vnf/drops", c"Drops by reason, summed over workers. No parameters."),
    (c"/vnf/events", c"Events by name, summed over workers. No parameters."),
    (c"/vnf/workers", c"Worker lcores; with a worker index, that worker's counters."),
];

/// Makes the `/vnf/...` telemetry commands answer from `src`. The commands are registered
/// with DPDK the first time; later calls only replace the source.
pub fn register(src: StatsSource) -> Result<(), DpdkError> {
    *SOURCE.write().unwrap_or_else(PoisonError::into_inner) = Some(src);
    let mut done = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    for &(name, help) in COMMANDS {
        if done.contains(&name) {
            continue;
        }
        // Static NUL-terminated strings (DPDK copies them); callback never unwinds.
        // SAFETY: valid C strings and a callback of the telemetry_cb signature.
        let r = unsafe { dpdk_sys::rte_telemetry_register_cmd(name.as_ptr(), Some(callback), help.as_ptr()) };
        if r < 0 {
            return Err(DpdkError::new(format!("rte_telemetry_register_cmd {}", name.to_string_lossy()), r));
        }
        done.push(name);
    }
    Ok(())
}

/// The telemetry callback of every command: a negative return makes DPDK answer `null`.
unsafe extern "C" fn callback(cmd: *const c_char, params: *const c_char, d: *mut rte_tel_data) -> c_int {
    let run = || {
        if cmd.is_null() || d.is_null() {
            return -1;
        }
        // SAFETY: DPDK passes the NUL-terminated command it matched.
        let cmd = unsafe { CStr::from_ptr(cmd) }.to_str().unwrap_or("");
        let params = if params.is_null() {
            None
        } else {
            // SAFETY: a non-null params is the NUL-terminated rest of the request.
            unsafe { CStr::from_ptr(params) }.to_str().ok()
        };
        let params = params.map(str::trim).filter(|p| !p.is_empty());
        let src = SOURCE.read().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(stats) = src.and_then(|src| src()) else {
            return -1;
        };
        match answer(cmd, params, &stats, &mut Reply(d)) {
            Ok(()) => 0,
            Err(()) => -1,
        }
    };
    std::panic::catch_unwind(run).unwrap_or(-1)
}

/// Fills `out` for `cmd`; Err for a bad or unexpected param.
fn answer(cmd: &str, params: Option<&str>, s: &Stats, out: &mut Reply) -> Result<(), ()> {
    match (cmd, params) {
        ("/vnf/stats", None) => {
            out.start_dict();
            crate::metrics::SUMMARY.iter().try_for_each(|m| out.u64(m.key, (m.get)(s).as_u64()))
        }
        ("/vnf/ports", None) => {
            out.start_str_array();
            s.ports.iter().try_for_each(|p| out.push_str(&p.name))
        }
        ("/vnf/ports", Some(param)) => {
            let p = match param.parse::<usize>() {
                Ok(i) => s.ports.get(i),
                Err(_) => s.ports.iter().find(|p| p.name == param),
            }
            .ok_or(())?;
            out.start_dict();
            out.str("name", &p.name)?;
            out.str("driver", &p.driver)?;
            out.str("mac", &p.mac)?;
            crate::metrics::PORT.iter().try_for_each(|m| out.u64(m.key, (m.get)(p).as_u64()))
        }
        ("/vnf/drops", None) => out.counts(&s.drops),
        ("/vnf/events", None) => out.counts(&s.events),
        ("/vnf/workers", None) => {
            out.start_u64_array();
            s.workers.iter().try_for_each(|w| out.push_u64(w.lcore.into()))
        }
        ("/vnf/workers", Some(param)) => {
            let w = param.parse::<usize>().ok().and_then(|i| s.workers.get(i)).ok_or(())?;
            out.start_dict();
            out.u64("lcore", w.lcore.into())?;
            crate::metrics::WORKER.iter().try_for_each(|m| out.u64(m.key, (m.get)(w).as_u64()))?;
            out.nested_counts("drops", &w.drops)
        }
        _ => Err(()),
    }
}

/// A dict key telemetry accepts: alphanumerics, `_` and `/`, at most 63 bytes.
fn key(k: &str) -> CString {
    let k: String =
        k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '/' { c } else { '_' }).take(63).collect();
    CString::new(k).unwrap_or_default()
}

/// A string value DPDK 22.11 can put in JSON unescaped: no quotes, backslashes or control
/// characters, at most 127 bytes.
fn value(v: &str) -> CString {
    let mut out = String::with_capacity(v.len());
    for c in v.chars().map(|c| if c == '"' || c == '\\' || c.is_control() { '_' } else { c }) {
        if out.len() + c.len_utf8() > 127 {
            break;
        }
        out.push(c);
    }
    CString::new(out).unwrap_or_default()
}

/// The reply being filled: a `rte_tel_data` DPDK handed to the callback (or allocated for
/// nesting). Every add checks DPDK's return (full dict, bad key).
struct Reply(*mut rte_tel_data);

fn check(r: c_int) -> Result<(), ()> {
    if r < 0 {
        Err(())
    } else {
        Ok(())
    }
}

impl Reply {
    fn start_dict(&mut self) {
        // SAFETY: self.0 is a valid rte_tel_data owned by DPDK for this callback.
        unsafe { dpdk_sys::rte_tel_data_start_dict(self.0) };
    }

    fn start_str_array(&mut self) {
        // SAFETY: as in start_dict.
        unsafe { dpdk_sys::rte_tel_data_start_array(self.0, dpdk_sys::RTE_TEL_STRING_VAL) };
    }

    fn start_u64_array(&mut self) {
        // SAFETY: as in start_dict.
        unsafe { dpdk_sys::rte_tel_data_start_array(self.0, dpdk_sys::RTE_TEL_U64_VAL) };
    }

    fn u64(&mut self, k: &str, v: u64) -> Result<(), ()> {
        let k = key(k);
        // SAFETY: self.0 is valid; DPDK copies the NUL-terminated key.
        check(unsafe { dpdk_sys::rte_tel_data_add_dict_u64(self.0, k.as_ptr(), v) })
    }

    fn str(&mut self, k: &str, v: &str) -> Result<(), ()> {
        let (k, v) = (key(k), value(v));
        // SAFETY: self.0 is valid; DPDK copies both NUL-terminated strings.
        check(unsafe { dpdk_sys::rte_tel_data_add_dict_string(self.0, k.as_ptr(), v.as_ptr()) })
    }

    fn push_str(&mut self, v: &str) -> Result<(), ()> {
        let v = value(v);
        // SAFETY: self.0 is valid; DPDK copies the NUL-terminated string.
        check(unsafe { dpdk_sys::rte_tel_data_add_array_string(self.0, v.as_ptr()) })
    }

    fn push_u64(&mut self, v: u64) -> Result<(), ()> {
        // SAFETY: self.0 is valid.
        check(unsafe { dpdk_sys::rte_tel_data_add_array_u64(self.0, v) })
    }

    /// This reply as a dict of `counts`.
    fn counts(&mut self, counts: &BTreeMap<String, u64>) -> Result<(), ()> {
        self.start_dict();
        counts.iter().try_for_each(|(k, &v)| self.u64(k, v))
    }

    /// Adds a dict of `counts` under `k`.
    fn nested_counts(&mut self, k: &str, counts: &BTreeMap<String, u64>) -> Result<(), ()> {
        // SAFETY: allocation has no preconditions; null is checked below.
        let inner = unsafe { dpdk_sys::rte_tel_data_alloc() };
        if inner.is_null() {
            return Err(());
        }
        let filled = Reply(inner).counts(counts);
        let k = key(k);
        let r = filled.and_then(|()| {
            // With keep = 0 DPDK owns inner on success and frees it after the reply.
            // SAFETY: self.0, k and inner are valid.
            check(unsafe { dpdk_sys::rte_tel_data_add_dict_container(self.0, k.as_ptr(), inner, 0) })
        });
        if r.is_err() {
            // SAFETY: inner was not handed to DPDK, so it is still ours to free.
            unsafe { dpdk_sys::rte_tel_data_free(inner) };
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_made_safe() {
        assert_eq!(key("ct-table-full").to_str().unwrap(), "ct_table_full");
        assert_eq!(key("a/b_c9").to_str().unwrap(), "a/b_c9");
        assert_eq!(key(&"x".repeat(100)).to_bytes().len(), 63);
        assert_eq!(value("p\"0\\\n").to_str().unwrap(), "p_0__");
        assert_eq!(value(&"é".repeat(100)).to_bytes().len(), 126);
    }
}
