//! One worker's source NAT mappings and its slice of the pools' ports.
//!
//! Behaviour (RFC 4787, RFC 5382, RFC 5508):
//! - endpoint-independent mapping (REQ-1): one (internal address, port, protocol) gets one
//!   external (address, port) for every destination, while any connection uses it;
//! - paired pooling (REQ-2): an internal address always gets the same pool address (a hash);
//! - no port overloading (REQ-3): an external port belongs to one mapping at a time; the
//!   internal port is kept when it is free and in this worker's slice, otherwise a port of
//!   the same range (0-1023 or 1024-65535) and the same parity (REQ-4) is chosen when the
//!   pool has one (parity first within the range; with an even number of workers a slice
//!   holds one parity only, and then the range wins);
//! - the mapping lives as long as a connection holds it (REQ-5/REQ-6 follow from the
//!   connection timeouts, refreshed by outbound and inbound packets);
//! - ICMP echo identifiers are mapped like ports (RFC 5508 REQ-1), from their own bitmap.
//!
//! All storage is allocated in [`Mappings::new`]; acquiring and releasing never allocate.
//!
//! The mapping index (by inside protocol, address and port) and the paired-pool choice are
//! [keyed hashes](crate::hash) with the process key: inside hosts choose those values, and a
//! fixed hash would let one of them aim its flows at one bucket run.

use super::SecTables;
use crate::hash;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A keyed hasher for small integer keys (the standard SipHash costs more than the whole
/// mapping lookup): integer writes are packed into one word while they fit, so a key of up
/// to 64 bits (the mapping key `(u8, u8, u32, u16)` is 64) costs one [`hash::Key::words`].
/// Longer inputs are compressed word by word with the same keyed function.
#[derive(Clone, Copy)]
pub struct KeyHasher {
    key: hash::Key,
    /// Earlier words, compressed.
    acc: u64,
    /// Pending bits, packed.
    buf: u64,
    /// Bits used in `buf`.
    used: u32,
}

impl KeyHasher {
    /// A hasher with `key`.
    pub fn new(key: hash::Key) -> KeyHasher {
        KeyHasher { key, acc: 0, buf: 0, used: 0 }
    }

    #[inline]
    fn push(&mut self, v: u64, bits: u32) {
        if self.used + bits > 64 {
            self.acc = self.key.words(self.acc, self.buf);
            self.buf = 0;
            self.used = 0;
        }
        self.buf = if bits >= 64 { v } else { (self.buf << bits) | v };
        self.used += bits;
    }
}

impl Default for KeyHasher {
    /// A hasher with the process key.
    fn default() -> Self {
        KeyHasher::new(hash::Key::process())
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.key.words(self.acc ^ u64::from(self.used), self.buf)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(u64::from(b), 8);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.push(u64::from(i), 8);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.push(u64::from(i), 16);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.push(u64::from(i), 32);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.push(i, 64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.push(i as u64, 64);
    }
}

/// Builds [`KeyHasher`]s with a key the map keeps (copied from the process key when the
/// mappings are made, so a lookup never reads the process global).
#[derive(Clone, Copy, Debug)]
pub struct KeyedState(pub hash::Key);

impl BuildHasher for KeyedState {
    type Hasher = KeyHasher;
    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher::new(self.0)
    }
}

/// One endpoint-independent mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// IP protocol.
    pub proto: u8,
    /// Internal address.
    pub int_addr: u32,
    /// Internal port or echo identifier.
    pub int_port: u16,
    /// External address.
    pub ext_addr: u32,
    /// External port or echo identifier.
    pub ext_port: u16,
    /// Connections using it (0: free slot).
    pub refs: u32,
    /// Counted in the worker's per-host table ([`super::hosts::Hosts`]).
    pub counted: bool,
    /// The zone (external realm) it maps into: an inside endpoint has one mapping per zone
    /// its traffic leaves into (RFC 4787 REQ-1 is per external realm), each from that zone's
    /// rule and pool.
    pub zone: u8,
    addr_idx: u16,
}

impl Mapping {
    /// The mapping as the event log records it.
    pub fn binding(&self) -> crate::eventlog::Binding {
        crate::eventlog::Binding {
            proto: self.proto,
            int_addr: self.int_addr,
            int_port: self.int_port,
            ext_addr: self.ext_addr,
            ext_port: self.ext_port,
        }
    }
}

/// Port class of a protocol: one bitmap per (pool address, class).
#[inline]
fn class(proto: u8) -> usize {
    match proto {
        6 => 0,
        17 => 1,
        _ => 2,
    }
}

/// Why no mapping could be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No free port in this worker's slice of the rule's pool.
    Exhausted,
    /// As many mappings as connections exist already.
    Full,
}

/// A worker's mappings and port bitmaps.
pub struct Mappings {
    slab: Vec<Mapping>,
    free: Vec<u32>,
    /// The mappings by (zone, protocol, inside address, port).
    by_int: HashMap<(u8, u8, u32, u16), u32, KeyedState>,
    /// The same mappings by external (protocol, address, port).
    by_ext: HashMap<(u8, u32, u16), u32, KeyedState>,
    /// One bit per port, set when taken or not this worker's; `[addr_idx * 3 + class]`.
    bitmaps: Vec<Box<[u64; 1024]>>,
    cursors: Vec<u16>,
    worker: u16,
}

impl Mappings {
    /// Mappings for worker `worker` of `sec.workers`, room for `capacity`.
    pub fn new(sec: &SecTables, worker: u16, capacity: u32) -> Self {
        let n = sec.workers.max(1);
        let mut bitmaps = Vec::with_capacity(sec.pool_addrs.len() * 3);
        for (ai, &addr) in sec.pool_addrs.iter().enumerate() {
            let rule = sec.pool_index.get(&addr).map(|&(_, r)| usize::from(r)).unwrap_or(0);
            let (lo, hi) = sec.snat.get(rule).map(|r| r.ports).unwrap_or((1024, 65535));
            let _ = ai;
            for c in 0..3u8 {
                let mut bm = Box::new([u64::MAX; 1024]);
                for p in lo..=hi {
                    if p % n == worker {
                        bm[usize::from(p >> 6)] &= !(1u64 << (p & 63));
                    }
                }
                let proto = [6u8, 17, 1][usize::from(c)];
                for &(fp, fa, fport) in sec.forwards.keys() {
                    if fp == proto && fa == addr {
                        bm[usize::from(fport >> 6)] |= 1u64 << (fport & 63);
                    }
                }
                bitmaps.push(bm);
            }
        }
        let cursors = vec![0u16; bitmaps.len()];
        let mut by_int = HashMap::with_hasher(KeyedState(sec.key));
        by_int.reserve(capacity as usize);
        let mut by_ext = HashMap::with_hasher(KeyedState(sec.key));
        by_ext.reserve(capacity as usize);
        Mappings {
            slab: vec![Mapping::default(); capacity as usize],
            free: (0..capacity).rev().collect(),
            by_int,
            by_ext,
            bitmaps,
            cursors,
            worker,
        }
    }

    /// The worker these mappings belong to.
    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// Live mappings.
    pub fn len(&self) -> usize {
        self.by_int.len()
    }

    /// True when none is live.
    pub fn is_empty(&self) -> bool {
        self.by_int.is_empty()
    }

    /// A mapping by index.
    pub fn get(&self, i: u32) -> &Mapping {
        &self.slab[i as usize]
    }

    /// The live mappings.
    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.by_int.values().map(|&i| &self.slab[i as usize])
    }

    /// Number of mapping slots (what [`Mappings::iter_range`] ranges over).
    pub fn slots(&self) -> usize {
        self.slab.len()
    }

    /// Live mappings in slots `from..from + n`: a listing done a slice at a time.
    pub fn iter_range(&self, from: usize, n: usize) -> impl Iterator<Item = &Mapping> + '_ {
        let end = from.saturating_add(n).min(self.slab.len());
        self.slab[from.min(end)..end].iter().filter(|m| m.refs > 0)
    }

    /// Free ports of `proto` on pool address index `ai` in this worker's slice.
    pub fn free_ports(&self, ai: usize, proto: u8) -> u32 {
        self.bitmaps.get(ai * 3 + class(proto)).map(|b| b.iter().map(|w| w.count_zeros()).sum()).unwrap_or(0)
    }

    /// The live mapping of inside endpoint (proto, addr, port) into `zone`, if any.
    #[inline]
    pub fn find(&self, zone: u8, proto: u8, addr: u32, port: u16) -> Option<u32> {
        self.by_int.get(&(zone, proto, addr, port)).copied()
    }

    /// The live mapping whose external endpoint is (proto, addr, port), if any.
    #[inline]
    pub fn find_ext(&self, proto: u8, addr: u32, port: u16) -> Option<u32> {
        self.by_ext.get(&(proto, addr, port)).copied()
    }

    /// Takes one more reference on live mapping `i` (an inbound connection to it).
    #[inline]
    pub fn hold(&mut self, i: u32) {
        let m = &mut self.slab[i as usize];
        if m.refs > 0 {
            m.refs += 1;
        }
    }

    /// Marks live mapping `i` as counted in the per-host table.
    #[inline]
    pub fn set_counted(&mut self, i: u32) {
        self.slab[i as usize].counted = true;
    }

    /// The mapping of (proto, addr, port) under rule `rule`, made if there is none; takes a
    /// reference. Returns its index.
    pub fn acquire(&mut self, sec: &SecTables, rule: usize, proto: u8, addr: u32, port: u16) -> Result<u32, MapError> {
        let r = &sec.snat[rule];
        if let Some(&i) = self.by_int.get(&(r.zone, proto, addr, port)) {
            self.slab[i as usize].refs += 1;
            return Ok(i);
        }
        if r.addrs.is_empty() {
            return Err(MapError::Exhausted);
        }
        let Some(&slot) = self.free.last() else { return Err(MapError::Full) };
        // Paired pooling: the pool address is a function of the internal address (keyed, the
        // same on every worker of the process).
        let h = (sec.key.u32(addr) >> 32) as usize;
        let ai = usize::from(r.addrs[h % r.addrs.len()]);
        let bi = ai * 3 + class(proto);
        let Some(ext_port) = self.pick(bi, r.ports, port) else { return Err(MapError::Exhausted) };
        self.free.pop();
        let ext_addr = sec.pool_addrs[ai];
        self.slab[slot as usize] = Mapping {
            proto,
            int_addr: addr,
            int_port: port,
            ext_addr,
            ext_port,
            refs: 1,
            counted: false,
            zone: r.zone,
            addr_idx: ai as u16,
        };
        self.by_int.insert((r.zone, proto, addr, port), slot);
        self.by_ext.insert((proto, ext_addr, ext_port), slot);
        Ok(slot)
    }

    /// Re-creates mapping `m` (from another pool layout) with the same external address
    /// and port, under the pool address it has in `sec`; takes one reference. None when the
    /// address is no longer a pool address, the port is outside its rule's range or not in
    /// this worker's slice, or taken.
    pub fn restore(&mut self, sec: &SecTables, m: &Mapping) -> Option<u32> {
        let &(_, rule) = sec.pool_index.get(&m.ext_addr)?;
        let r = sec.snat.get(usize::from(rule))?;
        if let Some(&i) = self.by_int.get(&(r.zone, m.proto, m.int_addr, m.int_port)) {
            let cur = &mut self.slab[i as usize];
            if cur.ext_addr != m.ext_addr || cur.ext_port != m.ext_port {
                return None;
            }
            cur.refs += 1;
            return Some(i);
        }
        let ai = sec.pool_addrs.iter().position(|&a| a == m.ext_addr)?;
        let (lo, hi) = r.ports;
        let n = sec.workers.max(1);
        if m.ext_port < lo || m.ext_port > hi || m.ext_port % n != self.worker {
            return None;
        }
        let bi = ai * 3 + class(m.proto);
        let (w, b) = (usize::from(m.ext_port >> 6), 1u64 << (m.ext_port & 63));
        if self.bitmaps[bi][w] & b != 0 {
            return None;
        }
        let slot = self.free.pop()?;
        self.bitmaps[bi][w] |= b;
        self.slab[slot as usize] = Mapping { refs: 1, zone: r.zone, addr_idx: ai as u16, ..*m };
        self.by_int.insert((r.zone, m.proto, m.int_addr, m.int_port), slot);
        self.by_ext.insert((m.proto, m.ext_addr, m.ext_port), slot);
        Some(slot)
    }

    /// Drops a reference; the last one frees the mapping and its port (then true).
    pub fn release(&mut self, i: u32) -> bool {
        let m = &mut self.slab[i as usize];
        if m.refs == 0 {
            return false;
        }
        m.refs -= 1;
        if m.refs > 0 {
            return false;
        }
        let m = *m;
        self.by_int.remove(&(m.zone, m.proto, m.int_addr, m.int_port));
        self.by_ext.remove(&(m.proto, m.ext_addr, m.ext_port));
        let bi = usize::from(m.addr_idx) * 3 + class(m.proto);
        self.bitmaps[bi][usize::from(m.ext_port >> 6)] &= !(1u64 << (m.ext_port & 63));
        self.free.push(i);
        true
    }

    /// Takes a free port: `want` itself if free, else the next free one after the cursor in
    /// the same range class (below 1024 or not) as `want` and of its parity, else of either
    /// parity, else anywhere in `range` (its parity first).
    fn pick(&mut self, bi: usize, range: (u16, u16), want: u16) -> Option<u16> {
        let bm = &mut self.bitmaps[bi];
        let taken = |bm: &[u64; 1024], p: u16| bm[usize::from(p >> 6)] >> (p & 63) & 1 == 1;
        let (lo, hi) = range;
        let p = if want >= lo && want <= hi && !taken(bm, want) {
            Some(want)
        } else {
            let class = if want < 1024 { (lo, hi.min(1023)) } else { (lo.max(1024), hi) };
            let start = self.cursors[bi];
            let same = if want & 1 == 0 { EVEN } else { !EVEN };
            let mut found = None;
            for ((a, b), parity) in [(class, same), (class, u64::MAX), (range, same), (range, u64::MAX)] {
                if a > b {
                    continue;
                }
                let s = start.clamp(a, b);
                found = find_free(bm, s, b, parity).or_else(|| find_free(bm, a, s, parity));
                if found.is_some() {
                    break;
                }
            }
            found
        }?;
        bm[usize::from(p >> 6)] |= 1u64 << (p & 63);
        self.cursors[bi] = p.wrapping_add(1);
        Some(p)
    }
}

/// The even ports of a bitmap word.
const EVEN: u64 = 0x5555_5555_5555_5555;

/// The first clear bit in `from..=to` that is also set in `allow` (a per-word mask).
fn find_free(bm: &[u64; 1024], from: u16, to: u16, allow: u64) -> Option<u16> {
    if from > to {
        return None;
    }
    let (fw, tw) = (usize::from(from >> 6), usize::from(to >> 6));
    for (w, &word) in bm.iter().enumerate().take(tw + 1).skip(fw) {
        let mut free = !word & allow;
        if w == fw {
            free &= u64::MAX << (from & 63);
        }
        if w == tw && (to & 63) != 63 {
            free &= (1u64 << ((to & 63) + 1)) - 1;
        }
        if free != 0 {
            return Some((w as u16) << 6 | free.trailing_zeros() as u16);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn sec(workers: usize, ports: &str, extra: &str) -> SecTables {
        sec_pool(workers, "203.0.113.10-203.0.113.11", ports, extra)
    }

    fn sec_pool(workers: usize, pool: &str, ports: &str, extra: &str) -> SecTables {
        let w: Vec<String> = (1..=workers).map(|i| i.to_string()).collect();
        let rest = format!(
            "[[nat.snat]]\nfrom = [\"198.51.100.0/24\"]\nzone = \"outside\"\npool = [\"{pool}\"]\nports = \"{ports}\"\n{extra}"
        );
        let text =
            format!("[dataplane]\nworkers = [{}]\n{}", w.join(","), crate::nat::fixture::two_zones("", "", &rest));
        let cfg = Config::parse(&text, None).unwrap();
        SecTables::compile(&cfg).unwrap().unwrap()
    }

    const IN: u32 = 0xc633_640a; // 198.51.100.10

    #[test]
    fn key_hasher_is_keyed_and_packs_injectively() {
        let (a, b) = (hash::Key::from_seed(1), hash::Key::from_seed(2));
        let h = |k: hash::Key, v: (u8, u32, u16)| KeyedState(k).hash_one(v);
        let x = (6u8, IN, 40000u16);
        assert_eq!(h(a, x), h(a, x));
        assert_ne!(h(a, x), h(b, x), "another key, another hash");
        assert_eq!(KeyedState(hash::Key::process()).hash_one(x), {
            let mut d = KeyHasher::default();
            std::hash::Hash::hash(&x, &mut d);
            d.finish()
        });
        // The 56 key bits are packed without loss: no collision over a grid of near keys.
        let mut seen = std::collections::HashSet::new();
        for p in [1u8, 6, 17] {
            for addr in IN..IN + 64 {
                for port in 0..64u16 {
                    seen.insert(h(a, (p, addr, port)));
                }
            }
        }
        assert_eq!(seen.len(), 3 * 64 * 64);
        // Inputs longer than a word are compressed, not truncated: every word counts.
        let long = |v: [u64; 3]| KeyedState(a).hash_one(v);
        assert_ne!(long([1, 2, 3]), long([9, 2, 3]));
        assert_ne!(long([1, 2, 3]), long([1, 9, 3]));
        assert_ne!(long([1, 2, 3]), long([1, 2, 9]));
    }

    #[test]
    fn endpoint_independent_and_port_preserving() {
        let s = sec(1, "1024-65535", "");
        let mut m = Mappings::new(&s, 0, 64);
        let a = m.acquire(&s, 0, 6, IN, 40000).unwrap();
        let b = m.acquire(&s, 0, 6, IN, 40000).unwrap();
        assert_eq!(a, b, "same internal endpoint, same mapping (REQ-1)");
        let mp = *m.get(a);
        assert_eq!((mp.ext_port, mp.refs), (40000, 2), "port preserved when free");
        assert!(s.pool_addrs.contains(&mp.ext_addr));
        // Another internal host that wants the same port gets another one (no overloading).
        let c = m.acquire(&s, 0, 6, IN + 1, 40000).unwrap();
        let mc = *m.get(c);
        let same_addr = mc.ext_addr == mp.ext_addr;
        assert!(!same_addr || mc.ext_port != 40000);
        // UDP and ICMP have their own port spaces.
        let u = m.acquire(&s, 0, 17, IN, 40000).unwrap();
        assert_eq!(m.get(u).ext_port, 40000);
        m.release(a);
        assert_eq!(m.len(), 3);
        m.release(b);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn a_remapped_port_keeps_its_parity() {
        // One pool address, so the second host competes for the first one's ports.
        let s = sec_pool(1, "203.0.113.10", "1024-65535", "");
        let mut m = Mappings::new(&s, 0, 64);
        for want in [40000u16, 40001, 1500, 1501] {
            let a = m.acquire(&s, 0, 17, IN, want).unwrap();
            assert_eq!(m.get(a).ext_port, want);
            for h in 1..4 {
                let b = m.acquire(&s, 0, 17, IN + h, want).unwrap();
                let p = m.get(b).ext_port;
                assert_ne!(p, want);
                assert_eq!(p % 2, want % 2, "REQ-4: {want} remapped to {p}");
                assert!(p >= 1024);
            }
        }
        // Only odd ports left in a tiny range: an even one is remapped to an odd port.
        let s = sec_pool(1, "203.0.113.10", "2000-2063", "");
        let mut m = Mappings::new(&s, 0, 128);
        for p in (2000..2064).step_by(2) {
            m.acquire(&s, 0, 6, IN, p).unwrap();
        }
        let x = m.acquire(&s, 0, 6, IN + 1, 2000).unwrap();
        assert_eq!(m.get(x).ext_port % 2, 1, "parity yields to exhaustion");
    }

    #[test]
    fn paired_pooling_keeps_one_address_per_host() {
        let s = sec(1, "1024-65535", "");
        let mut m = Mappings::new(&s, 0, 256);
        let addrs: Vec<u32> = (1..100)
            .map(|p| {
                let i = m.acquire(&s, 0, 17, IN, 5000 + p).unwrap();
                m.get(i).ext_addr
            })
            .collect();
        assert!(addrs.iter().all(|&a| a == addrs[0]));
    }

    #[test]
    fn low_ports_stay_low_and_exhaustion_is_reported() {
        let s = sec(1, "1000-1099", "");
        let mut m = Mappings::new(&s, 0, 1000);
        // Internal port 22 is outside the pool range: a port below 1024 is chosen.
        let i = m.acquire(&s, 0, 6, IN, 22).unwrap();
        assert!(m.get(i).ext_port < 1024);
        // 100 ports per address; the pool address of IN is fixed, so 99 more fit.
        for p in 0..99 {
            m.acquire(&s, 0, 6, IN, 2000 + p).unwrap();
        }
        assert_eq!(m.acquire(&s, 0, 6, IN, 3000), Err(MapError::Exhausted));
        assert_eq!(m.free_ports(usize::from(s.pool_index[&m.get(i).ext_addr].0), 6), 0);
        // Releasing one makes room again, and the freed port is reused.
        let freed = m.get(i).ext_port;
        m.release(i);
        let j = m.acquire(&s, 0, 6, IN, 3000).unwrap();
        assert_eq!(m.get(j).ext_port, freed);
    }

    #[test]
    fn each_worker_allocates_only_its_slice_and_forwards_are_reserved() {
        let s = sec(
            2,
            "1024-2047",
            "[[nat.forward]]\nproto = \"tcp\"\naddress = \"203.0.113.10\"\nport = 1030\nto = \"198.51.100.5\"\n",
        );
        for w in 0..2u16 {
            let mut m = Mappings::new(&s, w, 4096);
            let mut n = 0;
            while let Ok(i) = m.acquire(&s, 0, 6, IN + u32::from(n % 7), 3000 + n) {
                let mp = *m.get(i);
                assert_eq!(mp.ext_port % 2, w, "worker {w} owns its slice");
                assert_eq!(
                    s.owner(&crate::conntrack::FlowKey {
                        src: 1,
                        dst: mp.ext_addr,
                        sport: 9,
                        dport: mp.ext_port,
                        proto: 6
                    }),
                    w
                );
                assert!(!(mp.ext_addr == 0xcb00_710a && mp.ext_port == 1030), "forwarded port handed out");
                n += 1;
            }
            // 7 hosts map onto at most 2 addresses; the count is bounded by the slice.
            assert!(n > 0 && n <= 1024);
        }
    }
}
