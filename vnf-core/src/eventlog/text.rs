//! The text form of an event: one line of `key=value` fields (logfmt), the same in the log
//! file (after an RFC 3339 time) and in syslog messages.
//!
//! ```text
//! 2026-12-02T05:40:01.123Z event=nat-mapping-create proto=udp inside=198.51.100.10:5000 outside=203.0.113.100:5000
//! 2026-12-02T05:40:09.004Z event=fw-deny action=reject rule=0 from=inside to=outside proto=tcp src=198.51.100.10:40312
//! ```
//!
//! `dst=` follows only when destinations are logged. A deny by a zone policy says
//! `rule=policy`; ports of protocols without ports are left out (`inside=10.0.0.1`).

use super::{LogEvent, LogKind, POLICY};
#[cfg(test)]
use std::net::Ipv4Addr;

// Hand-rolled number formatting: the log thread writes a line per new connection at
// connection-setup rates, and `fmt` machinery (Display of an address, padding) was most of
// its time.

/// Appends `n` in decimal.
fn push_u(out: &mut String, mut n: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &b[i..] {
        out.push(char::from(d));
    }
}

/// Appends `n` (below 10^width) with leading zeros to `width` digits.
fn push_padded(out: &mut String, n: u64, width: u32) {
    let mut p = 10u64.pow(width - 1);
    while p > 0 {
        out.push(char::from(b'0' + (n / p % 10) as u8));
        p /= 10;
    }
}

fn push_ip(out: &mut String, a: u32) {
    for (i, o) in a.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_u(out, u64::from(o));
    }
}

fn proto_name(p: u8, out: &mut String) {
    match p {
        1 => out.push_str("icmp"),
        6 => out.push_str("tcp"),
        17 => out.push_str("udp"),
        _ => push_u(out, u64::from(p)),
    }
}

fn endpoint(out: &mut String, key: &str, addr: u32, port: u16, proto: u8) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
    push_ip(out, addr);
    if matches!(proto, 1 | 6 | 17) {
        out.push(':');
        push_u(out, u64::from(port));
    }
}

/// Appends the fields of `e` (no time) to `out`; `zones` names the zone ids.
pub fn body(e: &LogEvent, zones: &[String], out: &mut String) {
    out.push_str("event=");
    out.push_str(e.kind.name());
    if e.kind == LogKind::FirewallDeny {
        out.push_str(if e.reject { " action=reject" } else { " action=drop" });
        if e.rule == POLICY {
            out.push_str(" rule=policy");
        } else {
            out.push_str(" rule=");
            push_u(out, u64::from(e.rule));
        }
        let zone = |z: u8| zones.get(usize::from(z)).map_or("?", |s| s.as_str());
        out.push_str(" from=");
        out.push_str(zone(e.zone_in));
        out.push_str(" to=");
        out.push_str(zone(e.zone_out));
    }
    out.push_str(" proto=");
    proto_name(e.proto, out);
    if e.kind == LogKind::FirewallDeny {
        endpoint(out, "src", e.src, e.sport, e.proto);
    } else {
        endpoint(out, "inside", e.src, e.sport, e.proto);
        endpoint(out, "outside", e.ext, e.ext_port, e.proto);
    }
    if e.dst != 0 {
        endpoint(out, "dst", e.dst, e.dport, e.proto);
    }
}

/// (year, month 1-12, day 1-31) of day `days` since 1970-01-01 (proleptic Gregorian; the
/// era arithmetic of H. Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Appends `ms` (milliseconds since the Unix epoch) as an RFC 3339 UTC time with
/// milliseconds: `2026-12-02T05:40:01.123Z`.
pub fn rfc3339(ms: u64, out: &mut String) {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (y, mo, d) = civil((secs / 86_400) as i64);
    let s = secs % 86_400;
    push_padded(out, y.max(0) as u64, 4);
    out.push('-');
    push_padded(out, u64::from(mo), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
    out.push('T');
    push_padded(out, s / 3600, 2);
    out.push(':');
    push_padded(out, s / 60 % 60, 2);
    out.push(':');
    push_padded(out, s % 60, 2);
    out.push('.');
    push_padded(out, milli, 3);
    out.push('Z');
}

/// Appends `ms` as the timestamp of a BSD syslog message (RFC 3164 4.1.2, UTC):
/// `Dec  2 05:40:01`.
pub fn syslog_stamp(ms: u64, out: &mut String) {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = ms / 1000;
    let (_, mo, d) = civil((secs / 86_400) as i64);
    let s = secs % 86_400;
    out.push_str(MONTHS[(mo - 1) as usize]);
    out.push(' ');
    out.push(if d < 10 { ' ' } else { char::from(b'0' + (d / 10) as u8) });
    out.push(char::from(b'0' + (d % 10) as u8));
    out.push(' ');
    push_padded(out, s / 3600, 2);
    out.push(':');
    push_padded(out, s / 60 % 60, 2);
    out.push(':');
    push_padded(out, s % 60, 2);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::LogEvent;

    fn ev(kind: LogKind) -> LogEvent {
        LogEvent {
            ms: 0,
            kind,
            proto: 17,
            reject: false,
            zone_in: 0,
            zone_out: 1,
            rule: POLICY,
            src: u32::from(Ipv4Addr::new(198, 51, 100, 10)),
            sport: 5000,
            ext: u32::from(Ipv4Addr::new(203, 0, 113, 100)),
            ext_port: 5002,
            dst: 0,
            dport: 0,
        }
    }

    #[test]
    fn lines() {
        let zones = vec!["inside".to_string(), "outside".to_string()];
        let mut s = String::new();
        body(&ev(LogKind::MappingCreate), &zones, &mut s);
        assert_eq!(s, "event=nat-mapping-create proto=udp inside=198.51.100.10:5000 outside=203.0.113.100:5002");
        let mut e = ev(LogKind::MappingDelete);
        e.proto = 47;
        e.sport = 0;
        e.ext_port = 0;
        s.clear();
        body(&e, &zones, &mut s);
        assert_eq!(s, "event=nat-mapping-delete proto=47 inside=198.51.100.10 outside=203.0.113.100");
        let mut e = ev(LogKind::FirewallDeny);
        e.proto = 6;
        e.rule = 2;
        e.reject = true;
        e.dst = u32::from(Ipv4Addr::new(192, 0, 2, 1));
        e.dport = 25;
        s.clear();
        body(&e, &zones, &mut s);
        assert_eq!(s, "event=fw-deny action=reject rule=2 from=inside to=outside proto=tcp src=198.51.100.10:5000 dst=192.0.2.1:25");
        e.rule = POLICY;
        e.reject = false;
        e.dst = 0;
        s.clear();
        body(&e, &zones, &mut s);
        assert_eq!(s, "event=fw-deny action=drop rule=policy from=inside to=outside proto=tcp src=198.51.100.10:5000");
    }

    #[test]
    fn times() {
        let mut s = String::new();
        rfc3339(0, &mut s);
        assert_eq!(s, "1970-01-01T00:00:00.000Z");
        s.clear();
        // 2024-02-29T23:59:59.999Z (a leap day), as `date -d @1709251199` says.
        rfc3339(1_709_251_199_999, &mut s);
        assert_eq!(s, "2024-02-29T23:59:59.999Z");
        s.clear();
        rfc3339(1_796_190_001_123, &mut s);
        assert_eq!(s, "2026-12-02T05:40:01.123Z");
        s.clear();
        syslog_stamp(1_796_190_001_123, &mut s);
        assert_eq!(s, "Dec  2 05:40:01");
        s.clear();
        syslog_stamp(1_797_054_001_000, &mut s);
        assert_eq!(s, "Dec 12 05:40:01");
    }
}
