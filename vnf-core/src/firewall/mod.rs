//! Firewall rules and their classifier.
//!
//! Rules are ordered, the first match wins, and they judge only the first packet of a new
//! connection (established traffic follows conntrack). [`Classifier::compile`] turns them
//! into a bit-vector classifier (Lakshman & Stiliadis) with aggregation (ABV, Baboescu &
//! Varghese): for each of the eight fields the value space is cut into elementary intervals
//! at every rule boundary, and each interval has the bitmap of rules that match there.
//! A lookup finds one bitmap per field (a binary search or a direct index), ANDs their
//! summaries (one bit per 64-rule word) and then only the words the summaries allow; the
//! lowest set bit is the first matching rule. Bitmaps are deduplicated and stored sparse
//! (summary + non-zero words), so memory follows the rules' overlap, not rules x intervals.

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Let the connection through.
    Accept,
    /// Drop it silently.
    Drop,
    /// Drop it and tell the sender.
    Reject,
}

/// An inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First value.
    pub lo: u32,
    /// Last value.
    pub hi: u32,
}

/// One rule; `None` and empty lists match anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Ingress zone id (< 64).
    pub zone_in: Option<u8>,
    /// Egress zone id (< 64).
    pub zone_out: Option<u8>,
    /// Source prefixes (address, length); any of them.
    pub src: Vec<(u32, u8)>,
    /// Destination prefixes.
    pub dst: Vec<(u32, u8)>,
    /// IP protocol.
    pub proto: Option<u8>,
    /// Source ports (TCP/UDP; the caller passes 0 for other protocols).
    pub sport: Option<Range>,
    /// Destination ports.
    pub dport: Option<Range>,
    /// ICMP type: matches only ICMP queries.
    pub icmp_type: Option<u8>,
    /// Verdict.
    pub action: Action,
}

/// A new connection to classify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// Ingress zone.
    pub zone_in: u8,
    /// Egress zone.
    pub zone_out: u8,
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// IP protocol.
    pub proto: u8,
    /// Source port (0 unless TCP/UDP).
    pub sport: u16,
    /// Destination port (0 unless TCP/UDP).
    pub dport: u16,
    /// ICMP type (ignored unless `proto` is 1).
    pub icmp_type: u8,
}

/// Why rules could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompileError {
    /// More than [`Classifier::MAX_RULES`].
    TooManyRules(usize),
    /// A prefix longer than 32 or with host bits set.
    BadPrefix {
        /// Rule index.
        rule: usize,
        /// The prefix.
        prefix: (u32, u8),
    },
    /// A port range with lo > hi or beyond 65535.
    BadRange {
        /// Rule index.
        rule: usize,
    },
    /// A zone id of 64 or more.
    BadZone {
        /// Rule index.
        rule: usize,
    },
}

/// A deduplicated sparse bitmap over the rules.
#[derive(Clone, Debug, Default)]
struct Bits {
    /// Bit i: word i has a set bit.
    summary: Vec<u64>,
    /// Number of non-zero words before each summary word.
    rank: Vec<u32>,
    /// The non-zero words, in order.
    words: Vec<u64>,
}

impl Bits {
    fn from_dense(dense: &[u64]) -> Bits {
        let nsum = dense.len().div_ceil(64);
        let mut b = Bits { summary: vec![0; nsum], rank: vec![0; nsum], words: vec![] };
        for (i, &w) in dense.iter().enumerate() {
            if i % 64 == 0 {
                b.rank[i / 64] = b.words.len() as u32;
            }
            if w != 0 {
                b.summary[i / 64] |= 1 << (i % 64);
                b.words.push(w);
            }
        }
        b
    }
    #[inline(always)]
    fn word(&self, sw: usize, bit: u32) -> u64 {
        let before = self.summary[sw] & ((1u64 << bit) - 1);
        self.words[self.rank[sw] as usize + before.count_ones() as usize]
    }
    fn bytes(&self) -> usize {
        self.summary.len() * 12 + self.words.len() * 8
    }
}

/// One field: interval starts (sorted) and the bitmap id of each interval.
#[derive(Clone, Debug, Default)]
struct Field {
    starts: Vec<u64>,
    ids: Vec<u32>,
    bits: Vec<Bits>,
}

impl Field {
    /// Builds a field over the domain `0..=max` from each rule's list of ranges.
    fn build(nrules: usize, max: u64, ranges: &[Vec<(u64, u64)>]) -> Field {
        // Sweep: +1 at lo, -1 at hi+1, per rule (a rule's own ranges may overlap).
        let mut ev: Vec<(u64, usize, i32)> = vec![];
        for (r, list) in ranges.iter().enumerate() {
            for &(lo, hi) in list {
                ev.push((lo, r, 1));
                if hi < max {
                    ev.push((hi + 1, r, -1));
                }
            }
        }
        ev.sort_unstable();
        let words = nrules.div_ceil(64).max(1);
        let mut count = vec![0i32; nrules];
        let mut dense = vec![0u64; words];
        let mut f = Field::default();
        let mut dedup: std::collections::HashMap<Vec<u64>, u32> = std::collections::HashMap::new();
        let mut i = 0;
        let mut at = 0u64;
        loop {
            while i < ev.len() && ev[i].0 == at {
                let (_, r, d) = ev[i];
                count[r] += d;
                if count[r] > 0 {
                    dense[r / 64] |= 1 << (r % 64);
                } else {
                    dense[r / 64] &= !(1 << (r % 64));
                }
                i += 1;
            }
            let id = match dedup.get(&dense) {
                Some(&id) => id,
                None => {
                    let id = f.bits.len() as u32;
                    f.bits.push(Bits::from_dense(&dense));
                    dedup.insert(dense.clone(), id);
                    id
                }
            };
            if f.ids.last() != Some(&id) {
                f.starts.push(at);
                f.ids.push(id);
            }
            if i >= ev.len() {
                break;
            }
            at = ev[i].0;
        }
        f
    }
    #[inline(always)]
    fn find(&self, v: u64) -> &Bits {
        let i = self.starts.partition_point(|&s| s <= v) - 1;
        &self.bits[self.ids[i] as usize]
    }
    fn bytes(&self) -> usize {
        self.starts.len() * 12 + self.bits.iter().map(Bits::bytes).sum::<usize>()
    }
}

/// The compiled rules.
#[derive(Clone, Debug)]
pub struct Classifier {
    fields: [Field; 8],
    actions: Vec<Action>,
    /// Small rule sets are scanned: below this many rules a scan beats eight lookups.
    small: Option<Vec<Rule>>,
}

const ICMP_NONE: u64 = 256;

impl Classifier {
    /// Most rules (memory grows with the rules' overlap; 64k keeps it bounded).
    pub const MAX_RULES: usize = 65536;
    /// Up to this many rules the classifier scans them (measured with `vnf-perf fw`).
    pub const SCAN_BELOW: usize = 32;

    /// Compiles `rules` (first match wins).
    pub fn compile(rules: &[Rule]) -> Result<Classifier, CompileError> {
        if rules.len() > Self::MAX_RULES {
            return Err(CompileError::TooManyRules(rules.len()));
        }
        let n = rules.len();
        let prefixes = |r: usize, l: &[(u32, u8)]| -> Result<Vec<(u64, u64)>, CompileError> {
            if l.is_empty() {
                return Ok(vec![(0, u64::from(u32::MAX))]);
            }
            l.iter()
                .map(|&(a, len)| {
                    if len > 32 {
                        return Err(CompileError::BadPrefix { rule: r, prefix: (a, len) });
                    }
                    let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                    if a & host != 0 {
                        return Err(CompileError::BadPrefix { rule: r, prefix: (a, len) });
                    }
                    Ok((u64::from(a), u64::from(a | host)))
                })
                .collect()
        };
        let port = |r: usize, p: Option<Range>| -> Result<Vec<(u64, u64)>, CompileError> {
            match p {
                None => Ok(vec![(0, 65535)]),
                Some(x) if x.lo > x.hi || x.hi > 65535 => Err(CompileError::BadRange { rule: r }),
                Some(x) => Ok(vec![(u64::from(x.lo), u64::from(x.hi))]),
            }
        };
        let zone = |r: usize, z: Option<u8>| -> Result<Vec<(u64, u64)>, CompileError> {
            match z {
                None => Ok(vec![(0, 63)]),
                Some(z) if z >= 64 => Err(CompileError::BadZone { rule: r }),
                Some(z) => Ok(vec![(u64::from(z), u64::from(z))]),
            }
        };
        let one = |v: Option<u8>, max: u64| -> Vec<(u64, u64)> {
            v.map(|x| vec![(u64::from(x), u64::from(x))]).unwrap_or(vec![(0, max)])
        };
        let mut dims: [Vec<Vec<(u64, u64)>>; 8] = Default::default();
        for (i, r) in rules.iter().enumerate() {
            dims[0].push(zone(i, r.zone_in)?);
            dims[1].push(zone(i, r.zone_out)?);
            dims[2].push(prefixes(i, &r.src)?);
            dims[3].push(prefixes(i, &r.dst)?);
            dims[4].push(one(r.proto, 255));
            dims[5].push(port(i, r.sport)?);
            dims[6].push(port(i, r.dport)?);
            dims[7].push(one(r.icmp_type, ICMP_NONE));
        }
        let max = [63, 63, u64::from(u32::MAX), u64::from(u32::MAX), 255, 65535, 65535, ICMP_NONE];
        let fields = std::array::from_fn(|d| Field::build(n, max[d], &dims[d]));
        let small = (n < Self::SCAN_BELOW).then(|| rules.to_vec());
        Ok(Classifier { fields, actions: rules.iter().map(|r| r.action).collect(), small })
    }

    /// Index of the first matching rule.
    pub fn classify(&self, q: &Query) -> Option<u32> {
        if let Some(r) = &self.small {
            return linear_classify(r, q);
        }
        self.classify_bits(q)
    }

    /// The bit-vector lookup (used from [`Self::SCAN_BELOW`] rules on).
    pub fn classify_bits(&self, q: &Query) -> Option<u32> {
        if self.actions.is_empty() {
            return None;
        }
        let icmp = if q.proto == 1 { u64::from(q.icmp_type) } else { ICMP_NONE };
        let f = &self.fields;
        let b: [&Bits; 8] = [
            f[0].find(u64::from(q.zone_in.min(63))),
            f[1].find(u64::from(q.zone_out.min(63))),
            f[2].find(u64::from(q.src)),
            f[3].find(u64::from(q.dst)),
            f[4].find(u64::from(q.proto)),
            f[5].find(u64::from(q.sport)),
            f[6].find(u64::from(q.dport)),
            f[7].find(icmp),
        ];
        for sw in 0..b[0].summary.len() {
            let mut cand = b.iter().fold(u64::MAX, |a, x| a & x.summary[sw]);
            while cand != 0 {
                let bit = cand.trailing_zeros();
                let w = b.iter().fold(u64::MAX, |a, x| a & x.word(sw, bit));
                if w != 0 {
                    return Some(((sw * 64 + bit as usize) * 64 + w.trailing_zeros() as usize) as u32);
                }
                cand &= cand - 1;
            }
        }
        None
    }

    /// The action of rule `rule`.
    pub fn action(&self, rule: u32) -> Action {
        self.actions[rule as usize]
    }

    /// Rules compiled.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True without rules.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Bytes of the compiled structure.
    pub fn memory_bytes(&self) -> usize {
        self.fields.iter().map(Field::bytes).sum::<usize>() + self.actions.len()
    }
}

/// The reference: a linear first-match scan.
pub fn linear_classify(rules: &[Rule], q: &Query) -> Option<u32> {
    let pm = |l: &[(u32, u8)], a: u32| {
        l.is_empty() || l.iter().any(|&(p, n)| n == 0 || (n <= 32 && (a ^ p) >> (32 - u32::from(n)) == 0))
    };
    let rm = |r: Option<Range>, v: u16| r.is_none_or(|x| (x.lo..=x.hi).contains(&u32::from(v)));
    rules
        .iter()
        .position(|r| {
            r.zone_in.is_none_or(|z| z == q.zone_in)
                && r.zone_out.is_none_or(|z| z == q.zone_out)
                && pm(&r.src, q.src)
                && pm(&r.dst, q.dst)
                && r.proto.is_none_or(|p| p == q.proto)
                && rm(r.sport, q.sport)
                && rm(r.dport, q.dport)
                && r.icmp_type.is_none_or(|t| q.proto == 1 && t == q.icmp_type)
        })
        .map(|i| i as u32)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A realistic rule set of `n` rules for benchmarks: zone pairs, /16 to /32 prefixes,
/// single ports and ranges, some wildcards, and a catch-all at the end.
pub fn bench_rules(n: usize, seed: u64) -> Vec<Rule> {
    let mut g = Rng(seed | 1);
    let mut v = Vec::with_capacity(n);
    for i in 0..n.saturating_sub(1) {
        let r = g.next();
        let pfx = |x: u64| -> (u32, u8) {
            let len = [16u8, 24, 24, 28, 32][(x % 5) as usize];
            let a = 0x0a00_0000 | ((x >> 8) as u32 & 0x00ff_ffff);
            (a & (u32::MAX << (32 - u32::from(len))), len)
        };
        let proto = [Some(6u8), Some(17), Some(6), None, Some(1)][(r % 5) as usize];
        let tcp_udp = matches!(proto, Some(6) | Some(17));
        let port = (r >> 20) as u32 % 2000;
        v.push(Rule {
            zone_in: if r & 0x100 != 0 { Some((r >> 9) as u8 % 4) } else { None },
            zone_out: if r & 0x2000 != 0 { Some((r >> 14) as u8 % 4) } else { None },
            src: if r & 0x40000 != 0 { vec![pfx(g.next())] } else { vec![] },
            dst: vec![pfx(g.next())],
            proto,
            sport: None,
            dport: if tcp_udp {
                Some(if i % 7 == 0 { Range { lo: port, hi: port + 100 } } else { Range { lo: port, hi: port } })
            } else {
                None
            },
            icmp_type: if proto == Some(1) { Some(8) } else { None },
            action: [Action::Accept, Action::Drop, Action::Reject][(r >> 40) as usize % 3],
        });
    }
    if n > 0 {
        v.push(Rule {
            zone_in: None,
            zone_out: None,
            src: vec![],
            dst: vec![],
            proto: None,
            sport: None,
            dport: None,
            icmp_type: None,
            action: Action::Drop,
        });
    }
    v
}

/// Queries for benchmarks: half aimed at a rule spread over the whole list, half random.
pub fn bench_queries(rules: &[Rule], n: usize, seed: u64) -> Vec<Query> {
    let mut g = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let r = g.next();
            let mut q = Query {
                zone_in: (r % 4) as u8,
                zone_out: (r >> 3) as u8 % 4,
                src: 0x0a00_0000 | (g.next() as u32 & 0x00ff_ffff),
                dst: g.next() as u32,
                proto: [6u8, 17, 1][(r >> 8) as usize % 3],
                sport: (r >> 16) as u16,
                dport: (r >> 32) as u16 % 2200,
                icmp_type: 8,
            };
            if i % 2 == 0 && !rules.is_empty() {
                let t = &rules[(g.next() % rules.len() as u64) as usize];
                if let Some(&(a, _)) = t.dst.first() {
                    q.dst = a;
                }
                if let Some(&(a, _)) = t.src.first() {
                    q.src = a;
                }
                if let Some(p) = t.proto {
                    q.proto = p;
                }
                if let Some(z) = t.zone_in {
                    q.zone_in = z;
                }
                if let Some(z) = t.zone_out {
                    q.zone_out = z;
                }
                if let Some(d) = t.dport {
                    q.dport = d.lo as u16;
                }
            }
            if q.proto != 6 && q.proto != 17 {
                q.sport = 0;
                q.dport = 0;
            }
            q
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(action: Action) -> Rule {
        Rule {
            zone_in: None,
            zone_out: None,
            src: vec![],
            dst: vec![],
            proto: None,
            sport: None,
            dport: None,
            icmp_type: None,
            action,
        }
    }
    fn q() -> Query {
        Query {
            zone_in: 0,
            zone_out: 1,
            src: 0x0a00_0001,
            dst: 0xc633_6405,
            proto: 6,
            sport: 40000,
            dport: 80,
            icmp_type: 0,
        }
    }

    #[test]
    fn first_match_per_field() {
        let rules = vec![
            Rule { zone_in: Some(1), ..any(Action::Drop) },
            Rule { dst: vec![(0xc633_6400, 24)], proto: Some(17), ..any(Action::Drop) },
            Rule {
                src: vec![(0x0b00_0000, 8), (0x0a00_0000, 8)],
                dport: Some(Range { lo: 80, hi: 80 }),
                ..any(Action::Reject)
            },
            any(Action::Accept),
        ];
        let c = Classifier::compile(&rules).unwrap();
        assert_eq!(c.classify_bits(&q()), Some(2));
        assert_eq!(c.action(2), Action::Reject);
        assert_eq!(c.classify_bits(&Query { zone_in: 1, ..q() }), Some(0));
        assert_eq!(c.classify_bits(&Query { proto: 17, ..q() }), Some(1));
        assert_eq!(c.classify_bits(&Query { dport: 81, ..q() }), Some(3));
        assert_eq!(c.classify_bits(&Query { src: 0x0c00_0001, ..q() }), Some(3));
    }

    #[test]
    fn edges_of_ranges_prefixes_and_icmp() {
        let rules = vec![
            Rule { sport: Some(Range { lo: 0, hi: 0 }), proto: Some(17), ..any(Action::Drop) },
            Rule { dport: Some(Range { lo: 65535, hi: 65535 }), ..any(Action::Drop) },
            Rule { dst: vec![(0xffff_ffff, 32)], ..any(Action::Drop) },
            Rule { src: vec![(0, 0)], proto: Some(1), icmp_type: Some(8), ..any(Action::Accept) },
            Rule { zone_out: Some(63), ..any(Action::Reject) },
        ];
        let c = Classifier::compile(&rules).unwrap();
        assert_eq!(c.classify_bits(&Query { proto: 17, sport: 0, ..q() }), Some(0));
        assert_eq!(c.classify_bits(&Query { dport: 65535, ..q() }), Some(1));
        assert_eq!(c.classify_bits(&Query { dst: u32::MAX, ..q() }), Some(2));
        assert_eq!(c.classify_bits(&Query { proto: 1, icmp_type: 8, sport: 0, dport: 0, ..q() }), Some(3));
        // icmp_type never matches another protocol, even with the same number in the field.
        assert_eq!(c.classify_bits(&Query { proto: 6, icmp_type: 8, ..q() }), None);
        assert_eq!(c.classify_bits(&Query { zone_out: 63, ..q() }), Some(4));
        assert_eq!(Classifier::compile(&[]).unwrap().classify(&q()), None);
    }

    #[test]
    fn bad_rules_are_refused_by_index() {
        assert_eq!(
            Classifier::compile(&[any(Action::Drop), Rule { dst: vec![(0x0a00_0001, 24)], ..any(Action::Drop) }])
                .unwrap_err(),
            CompileError::BadPrefix { rule: 1, prefix: (0x0a00_0001, 24) }
        );
        assert_eq!(
            Classifier::compile(&[Rule { src: vec![(0, 33)], ..any(Action::Drop) }]).unwrap_err(),
            CompileError::BadPrefix { rule: 0, prefix: (0, 33) }
        );
        assert_eq!(
            Classifier::compile(&[Rule { dport: Some(Range { lo: 9, hi: 8 }), ..any(Action::Drop) }]).unwrap_err(),
            CompileError::BadRange { rule: 0 }
        );
        assert_eq!(
            Classifier::compile(&[Rule { sport: Some(Range { lo: 9, hi: 70000 }), ..any(Action::Drop) }]).unwrap_err(),
            CompileError::BadRange { rule: 0 }
        );
        assert_eq!(
            Classifier::compile(&[Rule { zone_in: Some(64), ..any(Action::Drop) }]).unwrap_err(),
            CompileError::BadZone { rule: 0 }
        );
    }

    /// Random rule sets with few distinct values (so rules overlap), and queries aimed at
    /// their boundaries: the classifier agrees with the linear scan on every query.
    #[test]
    fn agrees_with_the_linear_scan() {
        let mut g = Rng(0x1234_5678_9abc_def1);
        let mut checks = 0;
        for _ in 0..60 {
            let n = 1 + (g.next() % 300) as usize;
            let addrs = [0u32, 0x0a00_0000, 0x0a01_0000, 0x0a01_0100, 0xc000_0200, 0xffff_ff00];
            let mut rules = vec![];
            for _ in 0..n {
                let r = g.next();
                let pfx = |x: u64| {
                    let len = [0u8, 8, 16, 24, 32][(x % 5) as usize];
                    let a = addrs[(x >> 3) as usize % addrs.len()] | ((x >> 9) as u32 & 0xff);
                    let a = if len == 0 { 0 } else { a & (u32::MAX << (32 - u32::from(len))) };
                    (a, len)
                };
                let range = |x: u64| -> Option<Range> {
                    match x % 4 {
                        0 => None,
                        1 => Some(Range { lo: (x >> 4) as u32 % 100, hi: (x >> 4) as u32 % 100 }),
                        2 => Some(Range { lo: (x >> 4) as u32 % 100, hi: 100 + (x >> 12) as u32 % 65436 }),
                        _ => Some(Range { lo: 65535, hi: 65535 }),
                    }
                };
                rules.push(Rule {
                    zone_in: (r & 1 != 0).then_some((r >> 1) as u8 % 3),
                    zone_out: (r & 8 != 0).then_some((r >> 4) as u8 % 3),
                    src: (0..(r >> 8) % 3).map(|k| pfx(g.next() ^ k)).collect(),
                    dst: (0..(r >> 10) % 2).map(|_| pfx(g.next())).collect(),
                    proto: [None, Some(6), Some(17), Some(1)][(r >> 12) as usize % 4],
                    sport: range(g.next()),
                    dport: range(g.next()),
                    icmp_type: (r >> 14 & 3 == 0).then_some((r >> 16) as u8 % 3),
                    action: [Action::Accept, Action::Drop, Action::Reject][(r >> 20) as usize % 3],
                });
            }
            let c = Classifier::compile(&rules).unwrap();
            for _ in 0..200 {
                let r = g.next();
                let t = &rules[(r % n as u64) as usize];
                let edge = |p: Option<Range>, x: u64| -> u16 {
                    match p {
                        Some(p) => [p.lo, p.hi, p.hi.saturating_add(1).min(65535), p.lo.saturating_sub(1)]
                            [(x % 4) as usize] as u16,
                        None => x as u16,
                    }
                };
                let addr = |l: &[(u32, u8)], x: u64| -> u32 {
                    match l.first() {
                        Some(&(a, len)) => {
                            let host =
                                if len == 0 { u32::MAX } else { u32::MAX.checked_shr(u32::from(len)).unwrap_or(0) };
                            [a, a | host, (a | host).wrapping_add(1), a.wrapping_sub(1)][(x % 4) as usize]
                        }
                        None => x as u32,
                    }
                };
                let q = Query {
                    zone_in: (g.next() % 3) as u8,
                    zone_out: (g.next() % 3) as u8,
                    src: addr(&t.src, g.next()),
                    dst: addr(&t.dst, g.next()),
                    proto: [6u8, 17, 1, 47][(g.next() % 4) as usize],
                    sport: edge(t.sport, g.next()),
                    dport: edge(t.dport, g.next()),
                    icmp_type: (g.next() % 3) as u8,
                };
                assert_eq!(c.classify(&q), linear_classify(&rules, &q), "{q:?}");
                assert_eq!(c.classify_bits(&q), linear_classify(&rules, &q), "{q:?}");
                checks += 1;
            }
        }
        assert_eq!(checks, 12000);
    }

    #[test]
    fn ten_thousand_rules_compile_in_bounded_memory() {
        let rules = bench_rules(10_000, 3);
        let c = Classifier::compile(&rules).unwrap();
        assert!(c.memory_bytes() < 64 << 20, "{} bytes", c.memory_bytes());
        for q in bench_queries(&rules, 500, 5) {
            assert_eq!(c.classify(&q), linear_classify(&rules, &q));
        }
    }
}
