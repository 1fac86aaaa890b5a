//! Forwarding database (MAC table) of an Ethernet bridge.
//!
//! The [`Fdb`] maps `(bridge domain, MAC address)` to a [`Dest`]ination: a local port or a
//! remote VXLAN tunnel endpoint. It is built for the per-packet fast path:
//!
//! * all storage is allocated once in [`Fdb::new`]; nothing allocates afterwards;
//! * open addressing with linear probing over a power-of-two slot array, at most half full
//!   (the slot count is twice the entry capacity), so a lookup touches ~1.5 slots on a hit
//!   and ~2.5 on a miss, and always stops at the first empty slot;
//! * deletion uses backward shifting, so there are no tombstones and probe sequences never
//!   degrade over time;
//! * the home slot is a [keyed hash](crate::hash) of (domain, MAC) with the process key,
//!   copied into the table at [`Fdb::new`]: MACs are chosen by whoever sends frames, and a
//!   fixed hash would let a sender fill one probe run. Slot order (and so [`Fdb::iter`]
//!   order) differs from one process to the next;
//! * [`Fdb::prefetch`] touches the slot a lookup or learn of a key starts at, so a burst's
//!   cache misses overlap; nothing outside the table knows its layout;
//! * time is supplied by the caller (`now_ms`, monotonic milliseconds). An entry older than
//!   the aging time is invisible to [`Fdb::lookup`] at once, and is physically removed later
//!   by [`Fdb::age`], which examines a bounded number of slots per call from a persistent
//!   cursor, so no full-table scan ever runs on the packet path.
//!
//! Learning ([`Fdb::learn`]) follows the usual bridge rules: group (multicast/broadcast)
//! and all-zero source addresses are never learned, static entries are never moved or aged,
//! a MAC seen behind a different destination is moved (and counted), and per-domain MAC
//! limits apply to learned entries only.
//!
//! ```
//! use vnf_core::l2::fdb::{Dest, Fdb, Learn};
//! use vnf_core::wire::MacAddr;
//!
//! let mut fdb = Fdb::new(1024, 16, 300_000);
//! let mac = MacAddr([0x02, 0, 0, 0, 0, 1]);
//! assert_eq!(fdb.learn(3, mac, Dest::Port(1), 0), Learn::New);
//! assert_eq!(fdb.lookup(3, mac, 10), Some(Dest::Port(1)));
//! assert_eq!(fdb.lookup(4, mac, 10), None);
//! ```

use core::fmt;

use crate::hash;
use crate::prefetch;
use crate::wire::MacAddr;

/// Largest entry capacity [`Fdb::new`] accepts; larger requests are clamped.
pub const MAX_CAPACITY: usize = 1 << 24;

const KIND_PORT: u8 = 0;
const KIND_VTEP: u8 = 1;

/// Where a MAC lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// A local port of the bridge.
    Port(u16),
    /// A remote VXLAN tunnel endpoint, by its IPv4 address in host byte order.
    Vtep(u32),
}

/// Outcome of [`Fdb::learn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learn {
    /// The MAC was not known (or its entry had expired): it is now learned.
    New,
    /// The MAC was known behind the same destination: its timestamp was updated.
    Refreshed,
    /// The MAC was known behind another destination: the destination was updated.
    Moved {
        /// The previous destination.
        from: Dest,
    },
    /// A static entry exists for the MAC: nothing changed.
    Static,
    /// The domain's MAC limit is reached: not learned.
    DomainFull,
    /// The table has no free entry: not learned.
    TableFull,
    /// Group or all-zero source address, or domain out of range: never learned.
    Ignored,
}

/// One entry of the table, as reported by [`Fdb::iter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Bridge domain.
    pub domain: u16,
    /// MAC address.
    pub mac: MacAddr,
    /// Where the MAC lives.
    pub dest: Dest,
    /// Configured (never moves, never ages) rather than learned.
    pub is_static: bool,
    /// When the MAC was last learned (ms); 0 for static entries.
    pub last_seen_ms: u64,
}

/// Errors of the configuration operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FdbError {
    /// No free entry.
    TableFull,
    /// The domain is not below the table's `max_domains`.
    DomainOutOfRange(u16),
    /// The address is a group (multicast/broadcast) or the all-zero address.
    NotUnicast(MacAddr),
}

impl fmt::Display for FdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdbError::TableFull => write!(f, "forwarding table full"),
            FdbError::DomainOutOfRange(d) => write!(f, "bridge domain {d} out of range"),
            FdbError::NotUnicast(m) => write!(f, "{m} is not a unicast address"),
        }
    }
}

impl std::error::Error for FdbError {}

/// Counters maintained by [`Fdb::learn`] and [`Fdb::age`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdbStats {
    /// Entries learned ([`Learn::New`]).
    pub learned: u64,
    /// MAC moves ([`Learn::Moved`]).
    pub moves: u64,
    /// Learning refused for lack of space ([`Learn::TableFull`]).
    pub table_full: u64,
    /// Learning refused by a domain limit ([`Learn::DomainFull`]).
    pub domain_full: u64,
    /// Entries removed by [`Fdb::age`].
    pub aged: u64,
}

/// One slot, 24 bytes. `key == 0` marks an empty slot: key 0 is domain 0 with the all-zero
/// MAC, which is never stored.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u64,
    last_seen_ms: u64,
    dest_val: u32,
    dest_kind: u8,
    is_static: bool,
}

impl Slot {
    const EMPTY: Slot = Slot { key: 0, last_seen_ms: 0, dest_val: 0, dest_kind: 0, is_static: false };

    fn new(key: u64, dest: Dest, is_static: bool, last_seen_ms: u64) -> Slot {
        let mut s = Slot { key, last_seen_ms, dest_val: 0, dest_kind: 0, is_static };
        s.set_dest(dest);
        s
    }

    fn is_empty(&self) -> bool {
        self.key == 0
    }

    fn dest(&self) -> Dest {
        if self.dest_kind == KIND_VTEP {
            Dest::Vtep(self.dest_val)
        } else {
            Dest::Port(self.dest_val as u16)
        }
    }

    fn set_dest(&mut self, dest: Dest) {
        match dest {
            Dest::Port(p) => {
                self.dest_kind = KIND_PORT;
                self.dest_val = u32::from(p);
            }
            Dest::Vtep(ip) => {
                self.dest_kind = KIND_VTEP;
                self.dest_val = ip;
            }
        }
    }

    fn entry(&self) -> Entry {
        Entry {
            domain: key_domain(self.key),
            mac: key_mac(self.key),
            dest: self.dest(),
            is_static: self.is_static,
            last_seen_ms: self.last_seen_ms,
        }
    }
}

/// Packs (domain, mac) into the 64-bit key: domain in the top 16 bits, the MAC as
/// [`MacAddr::to_u64`] below (the packing [`hash::Key::mac`] hashes).
fn make_key(domain: u16, mac: MacAddr) -> u64 {
    make_key64(domain, mac.to_u64())
}

/// [`make_key`] of a MAC already held as a u64 (its top 16 bits are ignored).
#[inline]
fn make_key64(domain: u16, mac: u64) -> u64 {
    (u64::from(domain) << 48) | (mac & ((1 << 48) - 1))
}

fn key_domain(key: u64) -> u16 {
    (key >> 48) as u16
}

fn key_mac(key: u64) -> MacAddr {
    let b = key.to_be_bytes();
    MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Result of probing for a key.
enum Probe {
    /// The key is in this slot.
    Found(usize),
    /// The key is absent; this is the first empty slot of its probe sequence.
    Vacant(usize),
    /// No empty slot on the whole ring (cannot happen: the table is at most half full).
    Exhausted,
}

/// The forwarding database: see the [module documentation](self).
#[derive(Debug)]
pub struct Fdb {
    slots: Vec<Slot>,
    /// `slots.len() - 1`.
    mask: usize,
    /// The process hash key, copied here so the packet path never reads the global.
    hash_key: hash::Key,
    capacity: usize,
    len: usize,
    max_domains: u16,
    aging_ms: u64,
    /// Learned entries per domain.
    domain_count: Vec<u32>,
    /// Per-domain learned-entry limit, 0 = unlimited.
    domain_limit: Vec<u32>,
    /// Next slot [`Fdb::age`] examines.
    cursor: usize,
    stats: FdbStats,
}

impl Fdb {
    /// Creates a table for `capacity` entries (clamped to `1..=MAX_CAPACITY` and rounded up
    /// to a power of two; the slot array is twice that, for a load factor of at most 0.5),
    /// bridge domains `0..max_domains`, and the given aging time in ms (0 = never age).
    /// This is the only allocation the table ever makes.
    pub fn new(capacity: usize, max_domains: u16, aging_ms: u64) -> Fdb {
        let capacity = capacity.clamp(1, MAX_CAPACITY).next_power_of_two();
        let n_slots = capacity * 2;
        Fdb {
            slots: vec![Slot::EMPTY; n_slots],
            mask: n_slots - 1,
            hash_key: hash::Key::process(),
            capacity,
            len: 0,
            max_domains,
            aging_ms,
            domain_count: vec![0; usize::from(max_domains)],
            domain_limit: vec![0; usize::from(max_domains)],
            cursor: 0,
            stats: FdbStats::default(),
        }
    }

    /// Sets the aging time in ms (0 = never age). Applies to existing entries too.
    pub fn set_aging_ms(&mut self, ms: u64) {
        self.aging_ms = ms;
    }

    /// The aging time in ms (0 = never age).
    pub fn aging_ms(&self) -> u64 {
        self.aging_ms
    }

    /// Sets a domain's limit on learned entries (static entries don't count); 0 = unlimited,
    /// the default. Entries already above a lowered limit stay. Out-of-range domains are
    /// ignored.
    pub fn set_domain_limit(&mut self, domain: u16, limit: u32) {
        if let Some(l) = self.domain_limit.get_mut(usize::from(domain)) {
            *l = limit;
        }
    }

    /// A domain's limit on learned entries (0 = unlimited, also for out-of-range domains).
    pub fn domain_limit(&self, domain: u16) -> u32 {
        self.domain_limit.get(usize::from(domain)).copied().unwrap_or(0)
    }

    /// Number of bridge domains: valid domains are `0..max_domains`.
    pub fn max_domains(&self) -> u16 {
        self.max_domains
    }

    /// Fast-path lookup of a destination MAC. A learned entry whose age has reached the
    /// aging time is treated as absent even if [`age`](Self::age) has not removed it yet.
    pub fn lookup(&self, domain: u16, mac: MacAddr, now_ms: u64) -> Option<Dest> {
        let key = make_key(domain, mac);
        self.lookup_at(self.home(key), domain, mac, now_ms)
    }

    /// [`Fdb::lookup`] with the key's home slot already computed by [`Fdb::home_of`] (a
    /// node that prefetched the slot passes the same home on instead of hashing again; a
    /// wrong home only makes the lookup miss).
    #[inline]
    pub fn lookup_at(&self, home: usize, domain: u16, mac: MacAddr, now_ms: u64) -> Option<Dest> {
        match self.probe_from(make_key(domain, mac), home) {
            Probe::Found(i) => {
                let s = self.slots.get(i)?;
                if self.is_expired(s, now_ms) {
                    None
                } else {
                    Some(s.dest())
                }
            }
            Probe::Vacant(_) | Probe::Exhausted => None,
        }
    }

    /// Learns a received frame's source MAC as living behind `dest`, at time `now_ms`.
    ///
    /// An existing but expired entry is relearned as [`Learn::New`] (never as a move).
    /// A new MAC is refused with [`Learn::DomainFull`] before [`Learn::TableFull`] is
    /// considered. Out-of-range domains, group and all-zero MACs give [`Learn::Ignored`].
    pub fn learn(&mut self, domain: u16, mac: MacAddr, dest: Dest, now_ms: u64) -> Learn {
        let home = self.home(make_key(domain, mac));
        self.learn_at(home, domain, mac, dest, now_ms)
    }

    /// [`Fdb::learn`] with the key's home slot already computed by [`Fdb::home_of`]. The
    /// home must be the key's: a wrong one could insert a second entry for the key.
    #[inline]
    pub fn learn_at(&mut self, home: usize, domain: u16, mac: MacAddr, dest: Dest, now_ms: u64) -> Learn {
        if domain >= self.max_domains || mac.is_multicast() || mac.is_zero() {
            return Learn::Ignored;
        }
        let key = make_key(domain, mac);
        match self.probe_from(key, home) {
            Probe::Found(i) => {
                let aging_ms = self.aging_ms;
                let Some(s) = self.slots.get_mut(i) else {
                    return Learn::Ignored;
                };
                if s.is_static {
                    return Learn::Static;
                }
                let expired = expired(aging_ms, s, now_ms);
                let from = s.dest();
                s.set_dest(dest);
                s.last_seen_ms = now_ms;
                if expired {
                    self.stats.learned = self.stats.learned.saturating_add(1);
                    Learn::New
                } else if from == dest {
                    Learn::Refreshed
                } else {
                    self.stats.moves = self.stats.moves.saturating_add(1);
                    Learn::Moved { from }
                }
            }
            Probe::Vacant(i) => {
                let d = usize::from(domain);
                let limit = self.domain_limit.get(d).copied().unwrap_or(0);
                let count = self.domain_count.get(d).copied().unwrap_or(0);
                if limit != 0 && count >= limit {
                    self.stats.domain_full = self.stats.domain_full.saturating_add(1);
                    return Learn::DomainFull;
                }
                if self.len >= self.capacity {
                    self.stats.table_full = self.stats.table_full.saturating_add(1);
                    return Learn::TableFull;
                }
                let Some(s) = self.slots.get_mut(i) else {
                    return Learn::Ignored;
                };
                *s = Slot::new(key, dest, false, now_ms);
                self.len += 1;
                if let Some(c) = self.domain_count.get_mut(d) {
                    *c = c.saturating_add(1);
                }
                self.stats.learned = self.stats.learned.saturating_add(1);
                Learn::New
            }
            Probe::Exhausted => {
                self.stats.table_full = self.stats.table_full.saturating_add(1);
                Learn::TableFull
            }
        }
    }

    /// Adds (or updates) a static entry: it never moves, never ages and is not removed by
    /// [`flush`](Self::flush). A learned entry for the same MAC is replaced.
    pub fn add_static(&mut self, domain: u16, mac: MacAddr, dest: Dest) -> Result<(), FdbError> {
        if domain >= self.max_domains {
            return Err(FdbError::DomainOutOfRange(domain));
        }
        if mac.is_multicast() || mac.is_zero() {
            return Err(FdbError::NotUnicast(mac));
        }
        let key = make_key(domain, mac);
        match self.probe(key) {
            Probe::Found(i) => {
                let Some(s) = self.slots.get_mut(i) else {
                    return Err(FdbError::TableFull);
                };
                let was_learned = !s.is_static;
                *s = Slot::new(key, dest, true, 0);
                if was_learned {
                    if let Some(c) = self.domain_count.get_mut(usize::from(domain)) {
                        *c = c.saturating_sub(1);
                    }
                }
                Ok(())
            }
            Probe::Vacant(i) => {
                if self.len >= self.capacity {
                    return Err(FdbError::TableFull);
                }
                let Some(s) = self.slots.get_mut(i) else {
                    return Err(FdbError::TableFull);
                };
                *s = Slot::new(key, dest, true, 0);
                self.len += 1;
                Ok(())
            }
            Probe::Exhausted => Err(FdbError::TableFull),
        }
    }

    /// Removes the entry (learned or static) for a MAC; true if there was one.
    pub fn remove(&mut self, domain: u16, mac: MacAddr) -> bool {
        match self.probe(make_key(domain, mac)) {
            Probe::Found(i) => {
                self.delete_at(i);
                true
            }
            Probe::Vacant(_) | Probe::Exhausted => false,
        }
    }

    /// Removes the learned (not static) entries of `domain` (or of all domains) that live
    /// behind `dest` (or anywhere); returns how many. Scans the whole table: a control-plane
    /// operation (port down, topology change), not for the packet path.
    pub fn flush(&mut self, domain: Option<u16>, dest: Option<Dest>) -> usize {
        // Start right after an empty slot: no probe run crosses it, so backward shifts only
        // move entries into the slot being examined or ahead of it, and every entry is seen.
        let Some(start) = self.slots.iter().position(Slot::is_empty) else {
            return 0;
        };
        let n = self.slots.len();
        let mut i = (start + 1) & self.mask;
        let mut steps = 1;
        let mut removed = 0;
        while steps < n {
            let hit = match self.slots.get(i) {
                Some(s) => {
                    !s.is_empty()
                        && !s.is_static
                        && domain.is_none_or(|d| key_domain(s.key) == d)
                        && dest.is_none_or(|d| s.dest() == d)
                }
                None => false,
            };
            if hit {
                // The slot is refilled by the backward shift (or emptied): look again.
                self.delete_at(i);
                removed += 1;
            } else {
                i = (i + 1) & self.mask;
                steps += 1;
            }
        }
        removed
    }

    /// Incremental aging: examines at most `budget` slots, continuing from where the
    /// previous call stopped (wrapping around), and removes the learned entries whose age
    /// has reached the aging time. Returns how many were removed. With aging disabled
    /// (0) it does nothing. A full sweep takes about `2 * capacity()` examined slots plus
    /// one per removal.
    pub fn age(&mut self, now_ms: u64, budget: usize) -> usize {
        if self.aging_ms == 0 {
            return 0;
        }
        // Never loop more than two sweeps' worth, whatever the budget.
        let budget = budget.min(self.slots.len().saturating_mul(2));
        let mut removed = 0;
        for _ in 0..budget {
            if self.len == 0 {
                break;
            }
            let expired = match self.slots.get(self.cursor) {
                Some(s) => !s.is_empty() && self.is_expired(s, now_ms),
                None => {
                    self.cursor = 0;
                    continue;
                }
            };
            if expired {
                // The backward shift may move a later entry into this slot: stay on it.
                self.delete_at(self.cursor);
                removed += 1;
            } else {
                self.cursor = (self.cursor + 1) & self.mask;
            }
        }
        self.stats.aged = self.stats.aged.saturating_add(removed as u64);
        removed
    }

    /// Number of entries stored (learned and static, including expired entries that
    /// [`age`](Self::age) has not removed yet).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Learned entries stored in a domain (0 for out-of-range domains).
    pub fn domain_len(&self, domain: u16) -> u32 {
        self.domain_count.get(usize::from(domain)).copied().unwrap_or(0)
    }

    /// Maximum number of entries (the requested capacity rounded up to a power of two).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// All stored entries, in slot order (including expired entries not yet aged out).
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        self.slots.iter().filter(|s| !s.is_empty()).map(Slot::entry)
    }

    /// Number of slots (what [`Fdb::iter_range`] ranges over).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Entries in slots `from..from + n`: a listing done a slice at a time.
    pub fn iter_range(&self, from: usize, n: usize) -> impl Iterator<Item = Entry> + '_ {
        let end = from.saturating_add(n).min(self.slots.len());
        self.slots[from.min(end)..end].iter().filter(|s| !s.is_empty()).map(Slot::entry)
    }

    /// The learning and aging counters.
    pub fn stats(&self) -> FdbStats {
        self.stats
    }

    /// Prefetches the slot where a [`lookup`](Self::lookup) or [`learn`](Self::learn) of
    /// (`domain`, `mac`) starts (`mac` as [`MacAddr::to_u64`]; its top 16 bits are ignored).
    /// A hint only: any key, in or out of range, is fine.
    #[inline]
    pub fn prefetch(&self, domain: u16, mac: u64) {
        self.prefetch_at(self.home_of(domain, mac));
    }

    /// The home slot of (domain, MAC as a u64): what [`Fdb::prefetch_at`],
    /// [`Fdb::lookup_at`] and [`Fdb::learn_at`] take, so one hash serves all three.
    #[inline]
    pub fn home_of(&self, domain: u16, mac: u64) -> usize {
        self.home(make_key64(domain, mac))
    }

    /// Prefetches home slot `home` (from [`Fdb::home_of`]).
    #[inline]
    pub fn prefetch_at(&self, home: usize) {
        prefetch::read(self.slots.as_ptr().wrapping_add(home & self.mask));
    }

    /// Home slot of a key: the keyed hash of (domain, MAC), low bits.
    #[inline]
    fn home(&self, key: u64) -> usize {
        (self.hash_key.word(key) as usize) & self.mask
    }

    fn is_expired(&self, s: &Slot, now_ms: u64) -> bool {
        expired(self.aging_ms, s, now_ms)
    }

    /// Linear probe from the key's home slot to the key or the first empty slot.
    fn probe(&self, key: u64) -> Probe {
        self.probe_from(key, self.home(key))
    }

    /// [`Fdb::probe`] from a home slot computed before.
    #[inline]
    fn probe_from(&self, key: u64, home: usize) -> Probe {
        let mut i = home & self.mask;
        for _ in 0..self.slots.len() {
            match self.slots.get(i) {
                // Empty first: key 0 (domain 0, zero MAC) must never match an empty slot.
                Some(s) if s.is_empty() => return Probe::Vacant(i),
                Some(s) if s.key == key => return Probe::Found(i),
                Some(_) => {}
                None => return Probe::Exhausted,
            }
            i = (i + 1) & self.mask;
        }
        Probe::Exhausted
    }

    /// Empties slot `i` and shifts back the entries of the following run that may move
    /// closer to their home, so that no probe sequence ever contains a hole.
    fn delete_at(&mut self, i: usize) {
        let Some(s) = self.slots.get(i).copied() else {
            return;
        };
        if s.is_empty() {
            return;
        }
        if !s.is_static {
            if let Some(c) = self.domain_count.get_mut(usize::from(key_domain(s.key))) {
                *c = c.saturating_sub(1);
            }
        }
        self.len = self.len.saturating_sub(1);
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        for _ in 0..self.slots.len() {
            let Some(next) = self.slots.get(j).copied() else {
                break;
            };
            if next.is_empty() {
                break;
            }
            // `next` may fill the hole iff the hole lies within [home, j) on the ring.
            let home = self.home(next.key);
            if j.wrapping_sub(home) & self.mask >= j.wrapping_sub(hole) & self.mask {
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = next;
                }
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        if let Some(h) = self.slots.get_mut(hole) {
            *h = Slot::EMPTY;
        }
    }
}

/// True if a learned entry's age has reached `aging_ms` (never with aging disabled).
fn expired(aging_ms: u64, s: &Slot, now_ms: u64) -> bool {
    aging_ms != 0 && !s.is_static && now_ms.saturating_sub(s.last_seen_ms) >= aging_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn mac(n: u32) -> MacAddr {
        let b = n.to_be_bytes();
        MacAddr([0x02, 0x00, b[0], b[1], b[2], b[3]])
    }

    /// Tiny xorshift64 PRNG: deterministic, no crates.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Structural invariants: every entry reachable from its home without crossing an empty
    /// slot, no duplicate keys, counters consistent.
    fn check_invariants(f: &Fdb) {
        let mut keys = HashSet::new();
        let mut per_domain = vec![0u32; usize::from(f.max_domains)];
        let mut n = 0;
        for (j, s) in f.slots.iter().enumerate() {
            if s.is_empty() {
                continue;
            }
            n += 1;
            assert!(keys.insert(s.key), "duplicate key in slot {j}");
            if !s.is_static {
                per_domain[usize::from(key_domain(s.key))] += 1;
            }
            let mut i = f.home(s.key);
            while i != j {
                assert!(!f.slots[i].is_empty(), "hole at {i} between home and slot {j}");
                i = (i + 1) & f.mask;
            }
        }
        assert_eq!(n, f.len());
        for d in 0..f.max_domains {
            assert_eq!(f.domain_len(d), per_domain[usize::from(d)], "domain {d} count");
        }
    }

    #[test]
    fn learn_then_lookup() {
        let mut f = Fdb::new(64, 4, 1000);
        assert!(f.is_empty());
        assert_eq!(f.lookup(1, mac(1), 0), None);
        assert_eq!(f.learn(1, mac(1), Dest::Port(3), 0), Learn::New);
        assert_eq!(f.learn(1, mac(2), Dest::Vtep(0x0a00_0001), 0), Learn::New);
        assert_eq!(f.lookup(1, mac(1), 5), Some(Dest::Port(3)));
        assert_eq!(f.lookup(1, mac(2), 5), Some(Dest::Vtep(0x0a00_0001)));
        assert_eq!(f.lookup(1, mac(3), 5), None);
        assert_eq!(f.len(), 2);
        assert_eq!(f.domain_len(1), 2);
        assert_eq!(f.stats().learned, 2);
        check_invariants(&f);
    }

    #[test]
    fn same_mac_in_two_domains_is_independent() {
        let mut f = Fdb::new(64, 4, 0);
        assert_eq!(f.learn(0, mac(7), Dest::Port(1), 0), Learn::New);
        assert_eq!(f.learn(2, mac(7), Dest::Port(2), 0), Learn::New);
        assert_eq!(f.lookup(0, mac(7), 0), Some(Dest::Port(1)));
        assert_eq!(f.lookup(2, mac(7), 0), Some(Dest::Port(2)));
        assert_eq!(f.lookup(1, mac(7), 0), None);
        assert!(f.remove(0, mac(7)));
        assert_eq!(f.lookup(0, mac(7), 0), None);
        assert_eq!(f.lookup(2, mac(7), 0), Some(Dest::Port(2)));
        assert_eq!((f.domain_len(0), f.domain_len(2)), (0, 1));
    }

    #[test]
    fn relearn_same_dest_refreshes() {
        let mut f = Fdb::new(64, 1, 100);
        assert_eq!(f.learn(0, mac(1), Dest::Port(1), 0), Learn::New);
        assert_eq!(f.learn(0, mac(1), Dest::Port(1), 90), Learn::Refreshed);
        // Refreshed at 90, so still visible at 150 (would have expired at 100).
        assert_eq!(f.lookup(0, mac(1), 150), Some(Dest::Port(1)));
        assert_eq!(f.iter().next().map(|e| e.last_seen_ms), Some(90));
        assert_eq!(f.stats().learned, 1);
        assert_eq!(f.stats().moves, 0);
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn move_is_detected_and_counted() {
        let mut f = Fdb::new(64, 1, 0);
        f.learn(0, mac(1), Dest::Port(1), 0);
        assert_eq!(f.learn(0, mac(1), Dest::Port(2), 1), Learn::Moved { from: Dest::Port(1) });
        assert_eq!(f.lookup(0, mac(1), 1), Some(Dest::Port(2)));
        assert_eq!(f.learn(0, mac(1), Dest::Vtep(9), 2), Learn::Moved { from: Dest::Port(2) });
        assert_eq!(f.lookup(0, mac(1), 2), Some(Dest::Vtep(9)));
        assert_eq!(f.stats().moves, 2);
        assert_eq!(f.stats().learned, 1);
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn static_entries_never_move_or_age() {
        let mut f = Fdb::new(64, 2, 100);
        f.add_static(1, mac(5), Dest::Port(4)).unwrap();
        assert_eq!(f.learn(1, mac(5), Dest::Port(9), 10), Learn::Static);
        assert_eq!(f.lookup(1, mac(5), 10), Some(Dest::Port(4)));
        assert_eq!(f.lookup(1, mac(5), 1_000_000), Some(Dest::Port(4)));
        assert_eq!(f.age(1_000_000, 1000), 0);
        assert_eq!(f.flush(None, None), 0);
        assert_eq!(f.lookup(1, mac(5), 1_000_000), Some(Dest::Port(4)));
        assert_eq!(f.stats().moves, 0);
        assert_eq!(f.domain_len(1), 0, "static entries are not counted");
        assert_eq!(f.len(), 1);
        assert!(f.iter().all(|e| e.is_static));
        // Updating a static entry changes its destination.
        f.add_static(1, mac(5), Dest::Port(6)).unwrap();
        assert_eq!(f.lookup(1, mac(5), 0), Some(Dest::Port(6)));
        assert!(f.remove(1, mac(5)));
        assert!(f.is_empty());
    }

    #[test]
    fn add_static_replaces_learned_and_validates() {
        let mut f = Fdb::new(2, 2, 100);
        f.learn(0, mac(1), Dest::Port(1), 0);
        assert_eq!(f.domain_len(0), 1);
        f.add_static(0, mac(1), Dest::Port(2)).unwrap();
        assert_eq!(f.domain_len(0), 0);
        assert_eq!(f.len(), 1);
        assert_eq!(f.lookup(0, mac(1), 500), Some(Dest::Port(2)));
        assert_eq!(f.add_static(2, mac(2), Dest::Port(1)), Err(FdbError::DomainOutOfRange(2)));
        assert_eq!(f.add_static(0, MacAddr::BROADCAST, Dest::Port(1)), Err(FdbError::NotUnicast(MacAddr::BROADCAST)));
        assert_eq!(f.add_static(0, MacAddr([0; 6]), Dest::Port(1)), Err(FdbError::NotUnicast(MacAddr([0; 6]))));
        f.add_static(0, mac(2), Dest::Port(1)).unwrap();
        assert_eq!(f.add_static(0, mac(3), Dest::Port(1)), Err(FdbError::TableFull));
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn group_zero_and_out_of_range_are_ignored() {
        let mut f = Fdb::new(64, 2, 0);
        let mcast = MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]);
        assert_eq!(f.learn(0, mcast, Dest::Port(1), 0), Learn::Ignored);
        assert_eq!(f.learn(0, MacAddr::BROADCAST, Dest::Port(1), 0), Learn::Ignored);
        assert_eq!(f.learn(0, MacAddr([0; 6]), Dest::Port(1), 0), Learn::Ignored);
        assert_eq!(f.learn(2, mac(1), Dest::Port(1), 0), Learn::Ignored);
        assert_eq!(f.learn(u16::MAX, mac(1), Dest::Port(1), 0), Learn::Ignored);
        assert_eq!(f.lookup(0, mcast, 0), None);
        assert_eq!(f.lookup(0, MacAddr([0; 6]), 0), None);
        assert!(!f.remove(0, MacAddr([0; 6])));
        assert_eq!(f.lookup(u16::MAX, mac(1), 0), None);
        assert_eq!(f.domain_len(u16::MAX), 0);
        f.set_domain_limit(u16::MAX, 3); // no panic, no effect
        assert!(!f.remove(u16::MAX, mac(1)));
        assert!(f.is_empty());
        assert_eq!(f.stats(), FdbStats::default());
    }

    #[test]
    fn lookup_hides_expired_entries() {
        let mut f = Fdb::new(64, 1, 1000);
        f.learn(0, mac(1), Dest::Port(1), 5000);
        assert_eq!(f.lookup(0, mac(1), 5000 + 999), Some(Dest::Port(1)));
        assert_eq!(f.lookup(0, mac(1), 5000 + 1000), None);
        // Not removed yet: lookup alone never mutates.
        assert_eq!(f.len(), 1);
        // A clock that goes backwards never makes an entry expire.
        assert_eq!(f.lookup(0, mac(1), 0), Some(Dest::Port(1)));
    }

    #[test]
    fn expired_entry_relearned_counts_as_new() {
        let mut f = Fdb::new(64, 1, 100);
        f.learn(0, mac(1), Dest::Port(1), 0);
        assert_eq!(f.learn(0, mac(1), Dest::Port(2), 100), Learn::New);
        assert_eq!(f.stats().moves, 0);
        assert_eq!(f.stats().learned, 2);
        assert_eq!(f.len(), 1);
        assert_eq!(f.domain_len(0), 1);
        assert_eq!(f.lookup(0, mac(1), 150), Some(Dest::Port(2)));
        assert_eq!(f.learn(0, mac(1), Dest::Port(2), 250), Learn::New);
        assert_eq!(f.learn(0, mac(1), Dest::Port(2), 251), Learn::Refreshed);
    }

    #[test]
    fn incremental_aging_wraps_and_removes_all_expired() {
        let aging = 1000;
        let mut f = Fdb::new(256, 2, aging);
        let slots = f.slots.len();
        // 150 old entries at t=0, 50 fresh ones at t=900, plus a static one.
        for n in 0..150 {
            assert_eq!(f.learn((n % 2) as u16, mac(n), Dest::Port(1), 0), Learn::New);
        }
        for n in 1000..1050 {
            assert_eq!(f.learn(0, mac(n), Dest::Port(2), 900), Learn::New);
        }
        f.add_static(1, mac(5000), Dest::Port(3)).unwrap();
        // Not yet expired: nothing to remove during a full sweep.
        let mut examined = 0;
        while examined < slots {
            assert_eq!(f.age(999, 7), 0);
            examined += 7;
        }
        assert_eq!(f.len(), 201);
        // Cursor wrapped past the end of the table.
        assert!(f.cursor < slots);
        assert_eq!(f.cursor, examined % slots);

        // At t=1000 the old ones are expired; a small budget never removes them all at once.
        let first = f.age(1000, 7);
        assert!(first <= 7);
        let mut removed = first;
        let mut calls = 1;
        while removed < 150 {
            removed += f.age(1000, 7);
            calls += 1;
            assert!(calls < 1000, "aging does not converge");
            check_invariants(&f);
        }
        assert!(calls > 10, "budget was not respected");
        assert_eq!(removed, 150);
        assert_eq!(f.stats().aged, 150);
        assert_eq!(f.len(), 51);
        assert_eq!(f.domain_len(0), 50);
        assert_eq!(f.domain_len(1), 0);
        for n in 1000..1050 {
            assert_eq!(f.lookup(0, mac(n), 1000), Some(Dest::Port(2)));
        }
        // Another full sweep (cursor wraps again) removes nothing more.
        let mut more = 0;
        for _ in 0..(2 * slots / 7 + 1) {
            more += f.age(1000, 7);
        }
        assert_eq!(more, 0);
        // Then the fresh ones expire too; the static one survives.
        let mut more = 0;
        for _ in 0..(2 * slots / 7 + 1) {
            more += f.age(1900, 7);
        }
        assert_eq!(more, 50);
        assert_eq!(f.len(), 1);
        assert!(f.iter().all(|e| e.is_static));
        check_invariants(&f);
    }

    #[test]
    fn zero_aging_never_ages() {
        let mut f = Fdb::new(64, 1, 0);
        f.learn(0, mac(1), Dest::Port(1), 0);
        assert_eq!(f.lookup(0, mac(1), u64::MAX), Some(Dest::Port(1)));
        assert_eq!(f.age(u64::MAX, usize::MAX), 0);
        assert_eq!(f.learn(0, mac(1), Dest::Port(1), u64::MAX), Learn::Refreshed);
        assert_eq!(f.len(), 1);
        // Enabling aging later applies to existing entries; disabling again stops it.
        f.set_aging_ms(10);
        assert_eq!(f.aging_ms(), 10);
        f.learn(0, mac(2), Dest::Port(1), 0);
        assert_eq!(f.lookup(0, mac(2), 10), None);
        f.set_aging_ms(0);
        assert_eq!(f.lookup(0, mac(2), 10), Some(Dest::Port(1)));
    }

    #[test]
    fn domain_limit() {
        let mut f = Fdb::new(64, 3, 100);
        f.set_domain_limit(1, 2);
        assert_eq!(f.domain_limit(1), 2);
        f.add_static(1, mac(100), Dest::Port(1)).unwrap(); // doesn't count
        assert_eq!(f.learn(1, mac(1), Dest::Port(1), 0), Learn::New);
        assert_eq!(f.learn(1, mac(2), Dest::Port(1), 0), Learn::New);
        assert_eq!(f.learn(1, mac(3), Dest::Port(1), 0), Learn::DomainFull);
        assert_eq!(f.lookup(1, mac(3), 0), None);
        assert_eq!(f.domain_len(1), 2);
        assert_eq!(f.stats().domain_full, 1);
        // Known MACs can still refresh and move.
        assert_eq!(f.learn(1, mac(2), Dest::Port(1), 10), Learn::Refreshed);
        assert_eq!(f.learn(1, mac(2), Dest::Port(2), 20), Learn::Moved { from: Dest::Port(1) });
        // Other domains are unaffected.
        assert_eq!(f.learn(2, mac(3), Dest::Port(1), 0), Learn::New);
        // Freed by remove.
        assert!(f.remove(1, mac(1)));
        assert_eq!(f.domain_len(1), 1);
        assert_eq!(f.learn(1, mac(3), Dest::Port(1), 30), Learn::New);
        assert_eq!(f.learn(1, mac(4), Dest::Port(1), 30), Learn::DomainFull);
        // Freed by aging: mac(2) last seen at 20, expires at 120; mac(3) at 130.
        assert_eq!(f.age(125, 1000), 2, "mac(2) in domain 1 and mac(3) in domain 2");
        assert_eq!(f.domain_len(1), 1);
        assert_eq!(f.learn(1, mac(4), Dest::Port(1), 125), Learn::New);
        assert_eq!(f.stats().domain_full, 2);
        // Unlimited again.
        f.set_domain_limit(1, 0);
        assert_eq!(f.learn(1, mac(5), Dest::Port(1), 125), Learn::New);
        assert_eq!(f.domain_len(1), 3);
        check_invariants(&f);
    }

    #[test]
    fn table_full_and_recovery() {
        let mut f = Fdb::new(3, 1, 0);
        assert_eq!(f.capacity(), 4);
        for n in 0..4 {
            assert_eq!(f.learn(0, mac(n), Dest::Port(1), 0), Learn::New);
        }
        assert_eq!(f.learn(0, mac(10), Dest::Port(1), 0), Learn::TableFull);
        assert_eq!(f.learn(0, mac(11), Dest::Port(1), 0), Learn::TableFull);
        assert_eq!(f.stats().table_full, 2);
        assert_eq!(f.add_static(0, mac(10), Dest::Port(1)), Err(FdbError::TableFull));
        // Existing entries still refresh when full.
        assert_eq!(f.learn(0, mac(3), Dest::Port(1), 1), Learn::Refreshed);
        for n in 0..4 {
            assert_eq!(f.lookup(0, mac(n), 1), Some(Dest::Port(1)));
        }
        assert!(f.remove(0, mac(2)));
        assert!(!f.remove(0, mac(2)));
        assert_eq!(f.learn(0, mac(10), Dest::Port(1), 2), Learn::New);
        assert_eq!(f.learn(0, mac(11), Dest::Port(1), 2), Learn::TableFull);
        assert_eq!(f.len(), 4);
        check_invariants(&f);
    }

    #[test]
    fn capacity_rounding() {
        assert_eq!(Fdb::new(0, 1, 0).capacity(), 1);
        assert_eq!(Fdb::new(1000, 1, 0).capacity(), 1024);
        assert_eq!(Fdb::new(1024, 1, 0).capacity(), 1024);
        assert_eq!(Fdb::new(1024, 1, 0).slots.len(), 2048);
        // Capacity 1 works (two slots).
        let mut f = Fdb::new(0, 0, 0);
        assert_eq!(f.learn(0, mac(1), Dest::Port(1), 0), Learn::Ignored, "no domains");
        let mut f1 = Fdb::new(1, 1, 0);
        assert_eq!(f1.learn(0, mac(1), Dest::Port(1), 0), Learn::New);
        assert_eq!(f1.learn(0, mac(2), Dest::Port(1), 0), Learn::TableFull);
        assert!(f.is_empty());
    }

    #[test]
    fn flush_by_domain_and_dest() {
        let mut f = Fdb::new(128, 3, 0);
        for n in 0..60 {
            let d = (n % 3) as u16;
            let dest = if n % 2 == 0 { Dest::Port(1) } else { Dest::Vtep(7) };
            assert_eq!(f.learn(d, mac(n), dest, 0), Learn::New);
        }
        f.add_static(0, mac(1000), Dest::Port(1)).unwrap();
        // Domain 0 behind port 1: n % 3 == 0 and n even -> n % 6 == 0 -> 10 entries.
        assert_eq!(f.flush(Some(0), Some(Dest::Port(1))), 10);
        assert_eq!(f.domain_len(0), 10);
        check_invariants(&f);
        // Everything behind VTEP 7 in any domain: 30 odd n, 10 of them in domain 0.
        assert_eq!(f.flush(None, Some(Dest::Vtep(7))), 30);
        assert_eq!(f.domain_len(0), 0);
        check_invariants(&f);
        // Whole domain 1: the 10 even n with n % 3 == 1.
        assert_eq!(f.flush(Some(1), None), 10);
        assert_eq!(f.domain_len(1), 0);
        assert_eq!(f.domain_len(2), 10);
        for n in 0..60u32 {
            let expect = (n % 3 == 2 && n % 2 == 0).then_some(Dest::Port(1));
            assert_eq!(f.lookup((n % 3) as u16, mac(n), 0), expect, "mac {n}");
        }
        assert_eq!(f.flush(None, None), 10);
        assert_eq!(f.len(), 1, "static entry survives");
        assert_eq!(f.lookup(0, mac(1000), 0), Some(Dest::Port(1)));
        assert_eq!(f.flush(Some(99), None), 0);
        check_invariants(&f);
    }

    #[test]
    fn iter_returns_exactly_the_entries() {
        let mut f = Fdb::new(64, 4, 0);
        let mut want = Vec::new();
        for n in 0..40u32 {
            let d = (n % 4) as u16;
            let dest = Dest::Port(n as u16);
            f.learn(d, mac(n), dest, u64::from(n));
            want.push(Entry { domain: d, mac: mac(n), dest, is_static: false, last_seen_ms: n.into() });
        }
        f.add_static(3, mac(500), Dest::Vtep(1)).unwrap();
        want.push(Entry { domain: 3, mac: mac(500), dest: Dest::Vtep(1), is_static: true, last_seen_ms: 0 });
        f.remove(1, mac(1));
        want.retain(|e| !(e.domain == 1 && e.mac == mac(1)));
        let key = |e: &Entry| (e.domain, e.mac);
        let mut got: Vec<Entry> = f.iter().collect();
        got.sort_by_key(key);
        want.sort_by_key(key);
        assert_eq!(got, want);
        assert_eq!(f.iter().count(), f.len());
    }

    #[test]
    fn prefetch_any_key_on_any_table() {
        let mut full = Fdb::new(4, 2, 0);
        for n in 0..4 {
            full.learn(1, mac(n), Dest::Port(1), 0);
        }
        for f in [Fdb::new(0, 0, 0), Fdb::new(1, 1, 0), Fdb::new(1024, 16, 100), full] {
            for d in [0, 1, 2, u16::MAX] {
                for m in [0, 1, mac(3).to_u64(), 0xffff_ffff_ffff, u64::MAX] {
                    f.prefetch(d, m);
                    // Same key, same start: the u64 form packs like the MacAddr form.
                    assert_eq!(f.home(make_key64(d, m)), f.home(make_key(d, MacAddr::from_u64(m))));
                }
            }
            check_invariants(&f);
        }
    }

    #[test]
    fn error_display() {
        assert_eq!(FdbError::TableFull.to_string(), "forwarding table full");
        assert_eq!(FdbError::DomainOutOfRange(7).to_string(), "bridge domain 7 out of range");
        assert_eq!(FdbError::NotUnicast(MacAddr::BROADCAST).to_string(), "ff:ff:ff:ff:ff:ff is not a unicast address");
        let _: &dyn std::error::Error = &FdbError::TableFull;
    }

    /// 100k mixed operations without aging against a HashMap model: learn, lookup, remove,
    /// add_static, flush. The key pool exceeds the capacity so TableFull and long probe runs
    /// with wrap-around and backward shifts all happen.
    #[test]
    fn random_ops_match_hashmap_model() {
        const DOMAINS: u16 = 4;
        let mut f = Fdb::new(256, DOMAINS, 0);
        let cap = f.capacity();
        let mut model: HashMap<(u16, MacAddr), (Dest, bool)> = HashMap::new();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut seen = [0usize; 7];
        for op in 0..100_000u32 {
            let domain = rng.below(u64::from(DOMAINS) + 1) as u16; // includes out of range
            let m = mac(rng.below(120) as u32);
            let dest =
                if rng.below(4) == 0 { Dest::Vtep(rng.below(3) as u32) } else { Dest::Port(rng.below(3) as u16) };
            let k = (domain, m);
            match rng.below(100) {
                0..=44 => {
                    let want = if domain >= DOMAINS {
                        Learn::Ignored
                    } else {
                        match model.get(&k).copied() {
                            Some((_, true)) => Learn::Static,
                            Some((d, false)) if d == dest => Learn::Refreshed,
                            Some((d, false)) => Learn::Moved { from: d },
                            None if model.len() >= cap => Learn::TableFull,
                            None => Learn::New,
                        }
                    };
                    if matches!(want, Learn::New | Learn::Refreshed | Learn::Moved { .. }) {
                        model.insert(k, (dest, false));
                    }
                    let idx = match want {
                        Learn::New => 0,
                        Learn::Refreshed => 1,
                        Learn::Moved { .. } => 2,
                        Learn::TableFull => 3,
                        _ => 4,
                    };
                    seen[idx] += 1;
                    assert_eq!(f.learn(domain, m, dest, u64::from(op)), want, "op {op}");
                }
                45..=69 => {
                    let want = model.get(&k).map(|&(d, _)| d);
                    assert_eq!(f.lookup(domain, m, u64::from(op)), want, "op {op}");
                }
                70..=91 => {
                    let want = model.remove(&k).is_some();
                    if want {
                        seen[5] += 1;
                    }
                    assert_eq!(f.remove(domain, m), want, "op {op}");
                }
                92..=97 => {
                    let want = if domain >= DOMAINS {
                        Err(FdbError::DomainOutOfRange(domain))
                    } else if !model.contains_key(&k) && model.len() >= cap {
                        Err(FdbError::TableFull)
                    } else {
                        model.insert(k, (dest, true));
                        Ok(())
                    };
                    assert_eq!(f.add_static(domain, m, dest), want, "op {op}");
                }
                98 => {
                    let fd = (rng.below(2) == 0).then_some(domain);
                    let fdest = (rng.below(2) == 0).then_some(dest);
                    let before = model.len();
                    model.retain(|&(d, _), &mut (de, st)| {
                        st || fd.is_some_and(|x| x != d) || fdest.is_some_and(|x| x != de)
                    });
                    seen[6] += 1;
                    assert_eq!(f.flush(fd, fdest), before - model.len(), "op {op}");
                }
                _ => {
                    let mut got: Vec<_> = f.iter().map(|e| ((e.domain, e.mac), (e.dest, e.is_static))).collect();
                    let mut want: Vec<_> = model.iter().map(|(&k, &v)| (k, v)).collect();
                    got.sort_by_key(|x| x.0);
                    want.sort_by_key(|x| x.0);
                    assert_eq!(got, want, "op {op}");
                }
            }
            assert_eq!(f.len(), model.len(), "op {op}");
            if op % 1000 == 0 {
                check_invariants(&f);
                for d in 0..DOMAINS {
                    let n = model.iter().filter(|(k, v)| k.0 == d && !v.1).count();
                    assert_eq!(f.domain_len(d) as usize, n);
                }
            }
        }
        check_invariants(&f);
        // Every path was exercised a meaningful number of times.
        assert!(seen.iter().all(|&n| n > 100), "coverage {seen:?}");
    }

    /// Mixed operations with a moving clock, aging, incremental `age` calls and a domain
    /// limit, against a model that tracks which (possibly expired) entries are stored.
    #[test]
    fn random_ops_with_aging_match_model() {
        const DOMAINS: u16 = 3;
        const AGING: u64 = 40;
        const LIMIT: u32 = 12;
        let mut f = Fdb::new(128, DOMAINS, AGING);
        f.set_domain_limit(1, LIMIT);
        let cap = f.capacity();
        // key -> (dest, static, last_seen)
        let mut model: HashMap<(u16, MacAddr), (Dest, bool, u64)> = HashMap::new();
        let expired = |v: &(Dest, bool, u64), now: u64| !v.1 && now - v.2 >= AGING;
        let mut rng = Rng(0xdead_beef_1234_5678);
        let mut now = 0u64;
        let (mut aged, mut domain_full, mut relearned) = (0usize, 0usize, 0usize);
        for op in 0..50_000u32 {
            now += rng.below(3);
            let domain = rng.below(u64::from(DOMAINS)) as u16;
            let m = mac(rng.below(100) as u32);
            let dest = Dest::Port(rng.below(2) as u16);
            let k = (domain, m);
            match rng.below(100) {
                0..=49 => {
                    let want = match model.get(&k).copied() {
                        Some((_, true, _)) => Learn::Static,
                        Some(v) if expired(&v, now) => Learn::New,
                        Some((d, _, _)) if d == dest => Learn::Refreshed,
                        Some((d, _, _)) => Learn::Moved { from: d },
                        None => {
                            let n = model.iter().filter(|(k, v)| k.0 == domain && !v.1).count();
                            if domain == 1 && n >= LIMIT as usize {
                                Learn::DomainFull
                            } else if model.len() >= cap {
                                Learn::TableFull
                            } else {
                                Learn::New
                            }
                        }
                    };
                    match want {
                        Learn::New if model.contains_key(&k) => relearned += 1,
                        Learn::DomainFull => domain_full += 1,
                        _ => {}
                    }
                    if matches!(want, Learn::New | Learn::Refreshed | Learn::Moved { .. }) {
                        model.insert(k, (dest, false, now));
                    }
                    assert_eq!(f.learn(domain, m, dest, now), want, "op {op}");
                }
                50..=74 => {
                    let want = model.get(&k).filter(|v| !expired(v, now)).map(|v| v.0);
                    assert_eq!(f.lookup(domain, m, now), want, "op {op}");
                }
                75..=86 => {
                    assert_eq!(f.remove(domain, m), model.remove(&k).is_some(), "op {op}");
                }
                87..=88 => {
                    if !model.contains_key(&k) && model.len() >= cap {
                        assert_eq!(f.add_static(domain, m, dest), Err(FdbError::TableFull));
                    } else {
                        model.insert(k, (dest, true, 0));
                        assert_eq!(f.add_static(domain, m, dest), Ok(()), "op {op}");
                    }
                }
                _ => {
                    let n = f.age(now, rng.below(40) as usize);
                    let present: HashSet<_> = f.iter().map(|e| (e.domain, e.mac)).collect();
                    let gone: Vec<_> = model.keys().filter(|k| !present.contains(k)).copied().collect();
                    assert_eq!(gone.len(), n, "op {op}");
                    for k in gone {
                        let v = model.remove(&k).unwrap();
                        assert!(expired(&v, now), "op {op}: aged a live entry {k:?}");
                    }
                    aged += n;
                }
            }
            assert_eq!(f.len(), model.len(), "op {op}");
            if op % 500 == 0 {
                check_invariants(&f);
            }
        }
        assert_eq!(f.stats().aged as usize, aged);
        assert_eq!(f.stats().domain_full as usize, domain_full);
        assert!(aged > 100 && domain_full > 10 && relearned > 100, "{aged} {domain_full} {relearned}");
    }
}
