//! IPFIX (RFC 7011) export of the event log with the NAT event information elements of
//! RFC 8158.
//!
//! Two templates, sent in the first message and again every `template_every_ms` (over UDP a
//! collector may start late or lose a message, RFC 7011 8.4):
//!
//! | id | record | fields (IANA element id, length) |
//! |---|---|---|
//! | 256 | mapping create/delete: `natEvent` 8 NAT44 BIB create, 9 NAT44 BIB delete | observationTimeMilliseconds (323, 8), natEvent (230, 1), sourceIPv4Address (8, 4), postNATSourceIPv4Address (225, 4), protocolIdentifier (4, 1), sourceTransportPort (7, 2), postNAPTSourceTransportPort (227, 2) |
//! | 257 | firewall deny: `firewallEvent` 3 (flow denied) | observationTimeMilliseconds, firewallEvent (233, 1), sourceIPv4Address, protocolIdentifier, sourceTransportPort |
//!
//! With destinations logged both templates end in destinationIPv4Address (12, 4) and
//! destinationTransportPort (11, 2). A message stays below [`MAX_MESSAGE`] bytes (no IP
//! fragmentation on a 1500-byte path); its sequence number counts the data records sent
//! before it (RFC 7011 3.1).

use super::{LogEvent, LogKind};

/// Largest message, in bytes.
pub const MAX_MESSAGE: usize = 1400;
/// Template id of mapping records.
pub const MAPPING_TEMPLATE: u16 = 256;
/// Template id of firewall deny records.
pub const DENY_TEMPLATE: u16 = 257;
/// natEvent: NAT44 BIB create (RFC 8158 table 1).
pub const NAT44_BIB_CREATE: u8 = 8;
/// natEvent: NAT44 BIB delete.
pub const NAT44_BIB_DELETE: u8 = 9;
/// firewallEvent: flow denied (IANA).
pub const FLOW_DENIED: u8 = 3;

const HEADER: usize = 16;
const SET_HEADER: usize = 4;

const MAPPING_FIELDS: [(u16, u16); 7] = [(323, 8), (230, 1), (8, 4), (225, 4), (4, 1), (7, 2), (227, 2)];
const DENY_FIELDS: [(u16, u16); 5] = [(323, 8), (233, 1), (8, 4), (4, 1), (7, 2)];
const DST_FIELDS: [(u16, u16); 2] = [(12, 4), (11, 2)];

/// Encodes events into IPFIX messages for one observation domain.
#[derive(Debug)]
pub struct Exporter {
    domain: u32,
    destinations: bool,
    seq: u32,
    template_every_ms: u64,
    last_templates_ms: Option<u64>,
}

fn record_len(t: u16, destinations: bool) -> usize {
    let f: &[(u16, u16)] = if t == MAPPING_TEMPLATE { &MAPPING_FIELDS } else { &DENY_FIELDS };
    let extra = if destinations { 6 } else { 0 };
    f.iter().map(|&(_, l)| usize::from(l)).sum::<usize>() + extra
}

fn template_of(e: &LogEvent) -> u16 {
    if e.kind == LogKind::FirewallDeny {
        DENY_TEMPLATE
    } else {
        MAPPING_TEMPLATE
    }
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn set_len(v: &mut [u8], at: usize) {
    let n = (v.len() - at) as u16;
    v[at + 2..at + 4].copy_from_slice(&n.to_be_bytes());
}

impl Exporter {
    /// An exporter for observation domain `domain`, templates resent every
    /// `template_every_ms`.
    pub fn new(domain: u32, destinations: bool, template_every_ms: u64) -> Exporter {
        Exporter { domain, destinations, seq: 0, template_every_ms, last_templates_ms: None }
    }

    /// Data records exported so far (the next message's sequence number).
    pub fn sequence(&self) -> u32 {
        self.seq
    }

    fn templates_due(&self, now_ms: u64) -> bool {
        self.last_templates_ms.is_none_or(|t| now_ms.saturating_sub(t) >= self.template_every_ms)
    }

    fn start(&self, export_ms: u64) -> Vec<u8> {
        let mut m = Vec::with_capacity(MAX_MESSAGE);
        put16(&mut m, 10);
        put16(&mut m, 0);
        put32(&mut m, (export_ms / 1000) as u32);
        put32(&mut m, self.seq);
        put32(&mut m, self.domain);
        m
    }

    fn finish(m: &mut [u8]) {
        let n = m.len() as u16;
        m[2..4].copy_from_slice(&n.to_be_bytes());
    }

    fn template_set(&self, m: &mut Vec<u8>) {
        let at = m.len();
        put16(m, 2);
        put16(m, 0);
        let dst: &[(u16, u16)] = if self.destinations { &DST_FIELDS } else { &[] };
        for (id, fields) in [(MAPPING_TEMPLATE, &MAPPING_FIELDS[..]), (DENY_TEMPLATE, &DENY_FIELDS[..])] {
            put16(m, id);
            put16(m, (fields.len() + dst.len()) as u16);
            for &(ie, len) in fields.iter().chain(dst) {
                put16(m, ie);
                put16(m, len);
            }
        }
        set_len(m, at);
    }

    fn record(&self, m: &mut Vec<u8>, wall_ms: u64, e: &LogEvent) {
        m.extend_from_slice(&wall_ms.to_be_bytes());
        match e.kind {
            LogKind::FirewallDeny => {
                m.push(FLOW_DENIED);
                put32(m, e.src);
                m.push(e.proto);
                put16(m, e.sport);
            }
            k => {
                m.push(if k == LogKind::MappingCreate { NAT44_BIB_CREATE } else { NAT44_BIB_DELETE });
                put32(m, e.src);
                put32(m, e.ext);
                m.push(e.proto);
                put16(m, e.sport);
                put16(m, e.ext_port);
            }
        }
        if self.destinations {
            put32(m, e.dst);
            put16(m, e.dport);
        }
    }

    /// Encodes `events` (each with its wall-clock time in ms) exported at `now_ms` into
    /// messages appended to `out`. With no events, a message of templates only when they
    /// are due.
    pub fn encode(&mut self, now_ms: u64, events: &[(u64, LogEvent)], out: &mut Vec<Vec<u8>>) {
        let mut m = self.start(now_ms);
        if self.templates_due(now_ms) {
            self.template_set(&mut m);
            self.last_templates_ms = Some(now_ms);
        }
        let mut set: Option<(u16, usize)> = None;
        let mut records = 0u32;
        for (wall, e) in events {
            let t = template_of(e);
            let need =
                record_len(t, self.destinations) + if set.is_some_and(|(id, _)| id == t) { 0 } else { SET_HEADER };
            if m.len() + need > MAX_MESSAGE {
                if let Some((_, at)) = set.take() {
                    set_len(&mut m, at);
                }
                Self::finish(&mut m);
                out.push(m);
                self.seq = self.seq.wrapping_add(records);
                records = 0;
                m = self.start(now_ms);
            }
            if set.is_none_or(|(id, _)| id != t) {
                if let Some((_, at)) = set {
                    set_len(&mut m, at);
                }
                set = Some((t, m.len()));
                put16(&mut m, t);
                put16(&mut m, 0);
            }
            self.record(&mut m, *wall, e);
            records += 1;
        }
        if let Some((_, at)) = set {
            set_len(&mut m, at);
        }
        if m.len() > HEADER {
            Self::finish(&mut m);
            out.push(m);
            self.seq = self.seq.wrapping_add(records);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::POLICY;

    fn mapping(kind: LogKind) -> LogEvent {
        LogEvent {
            ms: 0,
            kind,
            proto: 17,
            reject: false,
            zone_in: 0,
            zone_out: 0,
            rule: POLICY,
            src: 0xc633_640a,
            sport: 5000,
            ext: 0xcb00_7164,
            ext_port: 5002,
            dst: 0,
            dport: 0,
        }
    }

    #[test]
    fn first_message_carries_templates_then_records() {
        let mut x = Exporter::new(7, false, 60_000);
        let mut out = vec![];
        let deny = LogEvent {
            kind: LogKind::FirewallDeny,
            proto: 6,
            src: 0x0a00_0001,
            sport: 1234,
            ..mapping(LogKind::FirewallDeny)
        };
        x.encode(
            1_796_190_001_123,
            &[(1_796_190_001_100, mapping(LogKind::MappingCreate)), (1_796_190_001_101, deny)],
            &mut out,
        );
        assert_eq!(out.len(), 1);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[0, 10, 0, 122][..], &1_796_190_001u32.to_be_bytes(), &[0, 0, 0, 0], &[0, 0, 0, 7],
            // template set: 4 + (4 + 7*4) + (4 + 5*4) = 60 bytes
            &[0, 2, 0, 60],
            &[1, 0, 0, 7], &[1, 67, 0, 8], &[0, 230, 0, 1], &[0, 8, 0, 4], &[0, 225, 0, 4], &[0, 4, 0, 1], &[0, 7, 0, 2], &[0, 227, 0, 2],
            &[1, 1, 0, 5], &[1, 67, 0, 8], &[0, 233, 0, 1], &[0, 8, 0, 4], &[0, 4, 0, 1], &[0, 7, 0, 2],
            // data set 256: 4 + 22
            &[1, 0, 0, 26], &1_796_190_001_100u64.to_be_bytes(), &[8], &[198, 51, 100, 10], &[203, 0, 113, 100], &[17], &[0x13, 0x88], &[0x13, 0x8a],
            // data set 257: 4 + 16
            &[1, 1, 0, 20], &1_796_190_001_101u64.to_be_bytes(), &[3], &[10, 0, 0, 1], &[6], &[0x04, 0xd2],
        ].concat();
        assert_eq!(out[0], want);
        assert_eq!(x.sequence(), 2);
        // Within the interval: no templates; the sequence number counts the two records.
        out.clear();
        x.encode(1_796_190_002_000, &[(1, mapping(LogKind::MappingDelete))], &mut out);
        assert_eq!(
            &out[0][..16],
            &[[0, 10, 0, 42].as_slice(), &1_796_190_002u32.to_be_bytes(), &[0, 0, 0, 2], &[0, 0, 0, 7]].concat()[..]
        );
        assert_eq!(&out[0][16..20], &[1, 0, 0, 26]);
        assert_eq!(out[0][28], NAT44_BIB_DELETE);
        // Nothing to say: nothing sent until the templates are due again.
        out.clear();
        x.encode(1_796_190_003_000, &[], &mut out);
        assert!(out.is_empty());
        x.encode(1_796_190_061_123, &[], &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][16..20], &[0, 2, 0, 60]);
        assert_eq!(out[0].len(), 76);
    }

    #[test]
    fn destinations_extend_both_templates() {
        let mut x = Exporter::new(1, true, 60_000);
        let mut out = vec![];
        let mut e = mapping(LogKind::MappingCreate);
        e.dst = 0xc000_0201;
        e.dport = 53;
        x.encode(0, &[(5, e)], &mut out);
        let m = &out[0];
        // template set: 4 + (4 + 9*4) + (4 + 7*4) = 76
        assert_eq!(&m[16..20], &[0, 2, 0, 76]);
        assert_eq!(&m[20..24], &[1, 0, 0, 9]);
        assert_eq!(&m[52..60], &[0, 12, 0, 4, 0, 11, 0, 2]);
        let data = &m[16 + 76..];
        assert_eq!(&data[..4], &[1, 0, 0, 32]);
        assert_eq!(&data[26..32], &[192, 0, 2, 1, 0, 53]);
    }

    #[test]
    fn messages_stay_below_the_limit_and_count_records() {
        let mut x = Exporter::new(1, false, 60_000);
        let mut out = vec![];
        let evs: Vec<(u64, LogEvent)> = (0..200).map(|i| (i, mapping(LogKind::MappingCreate))).collect();
        x.encode(0, &evs, &mut out);
        assert!(out.len() > 1);
        let mut seq = 0u32;
        let mut total = 0;
        for m in &out {
            assert!(m.len() <= MAX_MESSAGE);
            assert_eq!(usize::from(u16::from_be_bytes([m[2], m[3]])), m.len());
            assert_eq!(u32::from_be_bytes([m[8], m[9], m[10], m[11]]), seq);
            // Walk the sets; each data record of template 256 is 22 bytes.
            let mut at = 16;
            let mut n = 0;
            while at < m.len() {
                let (id, len) =
                    (u16::from_be_bytes([m[at], m[at + 1]]), usize::from(u16::from_be_bytes([m[at + 2], m[at + 3]])));
                if id == MAPPING_TEMPLATE {
                    assert_eq!((len - 4) % 22, 0);
                    n += (len - 4) / 22;
                }
                at += len;
            }
            assert_eq!(at, m.len());
            seq += n as u32;
            total += n;
        }
        assert_eq!(total, 200);
        assert_eq!(x.sequence(), 200);
    }
}
