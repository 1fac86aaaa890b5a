//! DPDK's log types and their levels, at runtime (what `--log-level` sets at start).

use super::DpdkError;

/// The level names as DPDK prints them, by value (1 = emergency ... 8 = debug).
pub const LEVELS: [&str; 8] = ["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"];

/// A level's value from its name (`info`, or syslog's short `emerg`, `crit`, `err`) or
/// number (`7`).
pub fn level(name: &str) -> Option<u32> {
    let short = ["emerg", "alert", "crit", "err"];
    LEVELS
        .iter()
        .position(|l| *l == name)
        .or_else(|| short.iter().position(|l| *l == name))
        .map(|i| i as u32 + 1)
        .or_else(|| name.parse().ok().filter(|n| (1..=8).contains(n)))
}

/// Every registered log type with its level name, from `rte_log_dump`.
pub fn types() -> Vec<(String, String)> {
    let mut buf: *mut libc::c_char = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: open_memstream writes the buffer pointer and size; both are valid for writes.
    let f = unsafe { libc::open_memstream(&mut buf, &mut len) };
    if f.is_null() {
        return Vec::new();
    }
    // SAFETY: `f` is an open stream; rte_log_dump only writes to it.
    unsafe { dpdk_sys::rte_log_dump(f.cast()) };
    // SAFETY: closing the stream sets `buf`/`len` to the written text, which we own.
    unsafe { libc::fclose(f) };
    if buf.is_null() {
        return Vec::new();
    }
    // SAFETY: `buf` holds `len` bytes written by the stream.
    let text = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) }).into_owned();
    // SAFETY: the buffer was allocated by open_memstream with malloc.
    unsafe { libc::free(buf.cast()) };
    // "id 3: lib.eal, level is info"
    text.lines()
        .filter_map(|l| {
            let (_, rest) = l.strip_prefix("id ")?.split_once(": ")?;
            let (name, lvl) = rest.split_once(", level is ")?;
            Some((name.to_owned(), lvl.trim().to_owned()))
        })
        .collect()
}

/// Sets every log type matching the glob `pattern` to `level` (1..=8).
pub fn set_level(pattern: &str, level: u32) -> Result<(), DpdkError> {
    let c = std::ffi::CString::new(pattern).map_err(|_| DpdkError::msg("log level", "the pattern contains NUL"))?;
    // SAFETY: a valid C string; DPDK copies it.
    let r = unsafe { dpdk_sys::rte_log_set_level_pattern(c.as_ptr(), level) };
    if r < 0 {
        return Err(DpdkError::new(format!("log level {pattern}"), r));
    }
    Ok(())
}

/// Whether glob `pattern` matches `name` (`fnmatch`, as DPDK matches it).
pub fn matches(pattern: &str, name: &str) -> bool {
    let (Ok(p), Ok(n)) = (std::ffi::CString::new(pattern), std::ffi::CString::new(name)) else { return false };
    // SAFETY: two valid C strings.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), 0) == 0 }
}
