//! IPv4 longest-prefix match: a DIR-16-8-8 table built once and read-only on the fast path.
//!
//! # Structure
//!
//! An [`Lpm`] maps IPv4 prefixes to a next-hop *index* (`u32`, at most [`MAX_NEXT_HOP`]); the
//! caller keeps the array of next hops that the index points into. Addresses are `u32` in
//! host order (`192.0.2.1 == 0xC000_0201`).
//!
//! The table has three levels of `u32` entries:
//!
//! * **level 1**: 65 536 entries indexed by address bits 31..16;
//! * **level 2**: groups of 256 entries indexed by bits 15..8, one group per level-1 entry
//!   covered by some prefix longer than /16;
//! * **level 3**: groups of 256 entries indexed by bits 7..0, one group per level-2 entry
//!   covered by some prefix longer than /24.
//!
//! Each entry is either empty (no route), a next hop (bit 31 set, index in bits 29..0), or a
//! pointer to a group of the next level (bit 30 set, group number in bits 29..0). A lookup is
//! therefore at most **three dependent memory reads**, one per level; addresses under a
//! prefix of /16 or shorter that has no longer prefix inside it cost one read.
//! [`Lpm::prefetch`] brings in the level-1 entry of an address ahead of a burst's lookups.
//!
//! # Build
//!
//! [`Lpm::build`] validates the routes, sorts them by prefix length and writes each prefix
//! over the whole range of entries it covers (controlled prefix expansion). Because
//! shorter prefixes are written first, every longer prefix overwrites exactly the part of
//! its covering prefixes it is more specific for; a new group starts as 256 copies of the
//! entry it replaces, so it inherits the covering route. Prefixes of the same length never
//! overlap (duplicates are refused), so their order does not matter.
//!
//! # Memory
//!
//! Level 1 is always 256 KiB. Each level-2 or level-3 group costs 1 KiB, and a route of
//! length /17../24 creates at most one group, a route of /25../32 at most two, so the worst
//! case is `256 KiB + 2 KiB × routes` plus 12 bytes per route kept for [`Lpm::routes`].
//! Routes that share a /16 (or a /24) share their group, so real tables are far below that
//! bound. For 10 000 random routes with lengths uniform in 0..=32 the table has 6 133
//! level-2 and 3 179 level-3 groups, about 9.9 MB in all (see the `memory_10k_random_routes`
//! test); [`Lpm::memory_bytes`] reports the figure for any table.

use std::fmt;

use crate::prefetch;

/// The largest next-hop index a route may carry (30 bits; the top two bits of an entry are
/// flags).
pub const MAX_NEXT_HOP: u32 = (1 << 30) - 1;

/// Entry flag: the low 30 bits are a next-hop index.
const VALID: u32 = 1 << 31;
/// Entry flag: the low 30 bits are a group number in the next level.
const EXT: u32 = 1 << 30;
/// Mask of the payload (next hop or group number) of an entry.
const PAYLOAD: u32 = MAX_NEXT_HOP;
/// Number of level-1 entries.
const TBL1_SIZE: usize = 1 << 16;
/// Entries per level-2/level-3 group.
const GROUP_SIZE: usize = 256;

/// Why a route set was refused by [`Lpm::build`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LpmError {
    /// The prefix length is above 32.
    PrefixLen(u8),
    /// The network address has bits set beyond the prefix length.
    HostBits {
        /// The network address as given.
        addr: u32,
        /// The prefix length as given.
        len: u8,
    },
    /// The same prefix appears more than once.
    Duplicate {
        /// The network address.
        addr: u32,
        /// The prefix length.
        len: u8,
    },
    /// A next-hop index is above [`MAX_NEXT_HOP`].
    TooManyNextHops,
}

impl fmt::Display for LpmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LpmError::PrefixLen(len) => write!(f, "prefix length /{len} is above 32"),
            LpmError::HostBits { addr, len } => {
                write!(f, "prefix {}/{len} has host bits set", std::net::Ipv4Addr::from(addr))
            }
            LpmError::Duplicate { addr, len } => {
                write!(f, "prefix {}/{len} is given more than once", std::net::Ipv4Addr::from(addr))
            }
            LpmError::TooManyNextHops => {
                write!(f, "a next-hop index is above the maximum {MAX_NEXT_HOP}")
            }
        }
    }
}

impl std::error::Error for LpmError {}

/// The network mask of a prefix length (`len` at most 32).
#[inline]
fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

/// Immutable table mapping prefixes to a next-hop index `u32` (the caller keeps the next-hop
/// array).
///
/// Built once by [`Lpm::build`]; [`Lpm::lookup`] reads at most three entries and never
/// allocates. See the [module documentation](self) for the layout and memory cost.
#[derive(Clone)]
pub struct Lpm {
    /// Level 1: 65 536 entries, indexed by address bits 31..16.
    tbl1: Vec<u32>,
    /// Level 2: groups of 256 entries, indexed by bits 15..8.
    tbl2: Vec<u32>,
    /// Level 3: groups of 256 entries, indexed by bits 7..0.
    tbl3: Vec<u32>,
    /// The routes as given, sorted by (addr, len).
    routes: Vec<(u32, u8, u32)>,
}

impl fmt::Debug for Lpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lpm")
            .field("routes", &self.routes.len())
            .field("tbl2_groups", &(self.tbl2.len() / GROUP_SIZE))
            .field("tbl3_groups", &(self.tbl3.len() / GROUP_SIZE))
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

/// Fills `v[start .. start + count]` with `value`, clipped to the vector.
fn fill(v: &mut [u32], start: usize, count: usize, value: u32) {
    let end = start.saturating_add(count).min(v.len());
    if let Some(s) = v.get_mut(start.min(end)..end) {
        s.fill(value);
    }
}

/// Returns the group that entry `*slot` points to, first creating it (as 256 copies of the
/// current entry) in `next` if the entry is not yet a pointer. Returns the group's first
/// index in `next`.
fn ensure_group(slot: Option<&mut u32>, next: &mut Vec<u32>) -> Option<usize> {
    let slot = slot?;
    if *slot & EXT != 0 {
        return Some((*slot & PAYLOAD) as usize * GROUP_SIZE);
    }
    let group = next.len() / GROUP_SIZE;
    // At most 65536 level-2 groups and 65536 * 256 level-3 groups exist, far below 2^30.
    let group_u32 = u32::try_from(group).ok().filter(|g| *g <= PAYLOAD)?;
    next.extend(std::iter::repeat_n(*slot, GROUP_SIZE));
    *slot = EXT | group_u32;
    Some(group * GROUP_SIZE)
}

impl Lpm {
    /// Builds from (network, prefix_len, next_hop). Refuses len > 32, host bits set,
    /// duplicate prefixes (even with the same next hop) and next hops above
    /// [`MAX_NEXT_HOP`].
    ///
    /// Runs in `O(routes × log routes)` plus the expansion work, which is at most 65 536
    /// writes for the shortest prefixes and 256 per longer one.
    pub fn build(routes: &[(u32, u8, u32)]) -> Result<Lpm, LpmError> {
        for &(addr, len, nh) in routes {
            if len > 32 {
                return Err(LpmError::PrefixLen(len));
            }
            if addr & !mask(len) != 0 {
                return Err(LpmError::HostBits { addr, len });
            }
            if nh > MAX_NEXT_HOP {
                return Err(LpmError::TooManyNextHops);
            }
        }
        let mut sorted: Vec<(u32, u8, u32)> = routes.to_vec();
        sorted.sort_unstable_by_key(|&(addr, len, _)| (addr, len));
        if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1) {
            return Err(LpmError::Duplicate { addr: w[0].0, len: w[0].1 });
        }

        let mut order: Vec<(u32, u8, u32)> = sorted.clone();
        order.sort_unstable_by_key(|&(addr, len, _)| (len, addr));

        let mut tbl1 = vec![0u32; TBL1_SIZE];
        let mut tbl2: Vec<u32> = Vec::new();
        let mut tbl3: Vec<u32> = Vec::new();
        for &(addr, len, nh) in &order {
            let value = VALID | nh;
            let i1 = (addr >> 16) as usize;
            if len <= 16 {
                fill(&mut tbl1, i1, 1usize << (16 - len), value);
                continue;
            }
            let Some(g2) = ensure_group(tbl1.get_mut(i1), &mut tbl2) else { continue };
            let i2 = g2 + ((addr >> 8) & 0xff) as usize;
            if len <= 24 {
                fill(&mut tbl2, i2, 1usize << (24 - len), value);
                continue;
            }
            let Some(g3) = ensure_group(tbl2.get_mut(i2), &mut tbl3) else { continue };
            let i3 = g3 + (addr & 0xff) as usize;
            fill(&mut tbl3, i3, 1usize << (32 - len), value);
        }
        tbl2.shrink_to_fit();
        tbl3.shrink_to_fit();
        sorted.shrink_to_fit();
        Ok(Lpm { tbl1, tbl2, tbl3, routes: sorted })
    }

    /// Returns the next-hop index of the longest prefix containing `addr`, or `None` when
    /// no route (not even a /0) covers it. At most three dependent reads; never allocates.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<u32> {
        let mut e = *self.tbl1.get((addr >> 16) as usize)?;
        if e & EXT != 0 {
            e = *self.tbl2.get((((e & PAYLOAD) as usize) << 8) | ((addr >> 8) & 0xff) as usize)?;
            if e & EXT != 0 {
                e = *self.tbl3.get((((e & PAYLOAD) as usize) << 8) | (addr & 0xff) as usize)?;
            }
        }
        if e & VALID != 0 {
            Some(e & PAYLOAD)
        } else {
            None
        }
    }

    /// Prefetches the level-1 entry a [`lookup`](Self::lookup) of `addr` reads first (the
    /// deeper levels depend on it). A hint only: any address is fine.
    #[inline]
    pub fn prefetch(&self, addr: u32) {
        prefetch::read(self.tbl1.as_ptr().wrapping_add((addr >> 16) as usize));
    }

    /// Lookup of a burst (addresses -> results), for amortising over a vector of packets:
    /// `out[i] = self.lookup(addrs[i])` for every `i` below the shorter of the two lengths;
    /// the rest of `out` is left untouched.
    ///
    /// The level-1 reads of the whole burst are issued before any deeper read, so their
    /// cache misses overlap instead of forming one chain per address.
    pub fn lookup_bulk(&self, addrs: &[u32], out: &mut [Option<u32>]) {
        /// Addresses handled per pass (bounded stack scratch, no allocation).
        const CHUNK: usize = 32;
        let mut first = [0u32; CHUNK];
        for (a_chunk, o_chunk) in addrs.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            for (f, &a) in first.iter_mut().zip(a_chunk) {
                *f = self.tbl1.get((a >> 16) as usize).copied().unwrap_or(0);
            }
            for ((o, &a), &e) in o_chunk.iter_mut().zip(a_chunk).zip(first.iter()) {
                *o = if e & EXT != 0 {
                    self.lookup(a)
                } else if e & VALID != 0 {
                    Some(e & PAYLOAD)
                } else {
                    None
                };
            }
        }
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when the table holds no route (every lookup answers `None`).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The routes as given to [`Lpm::build`], as (network, prefix_len, next_hop), sorted by
    /// (network, prefix_len).
    pub fn routes(&self) -> impl Iterator<Item = (u32, u8, u32)> + '_ {
        self.routes.iter().copied()
    }

    /// Heap and inline bytes used by the table: 256 KiB of level 1, 1 KiB per level-2 and
    /// level-3 group, and the route list.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + (self.tbl1.capacity() + self.tbl2.capacity() + self.tbl3.capacity()) * std::mem::size_of::<u32>()
            + self.routes.capacity() * std::mem::size_of::<(u32, u8, u32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Tiny xorshift64 PRNG so the tests need no crates and are reproducible.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn u32(&mut self) -> u32 {
            (self.next() >> 32) as u32
        }
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    /// Brute-force model: linear scan picking the longest matching prefix.
    fn model(routes: &[(u32, u8, u32)], addr: u32) -> Option<u32> {
        routes
            .iter()
            .filter(|&&(net, len, _)| addr & mask(len) == net)
            .max_by_key(|&&(_, len, _)| len)
            .map(|&(_, _, nh)| nh)
    }

    fn random_routes(rng: &mut XorShift, n: usize) -> Vec<(u32, u8, u32)> {
        let mut seen = std::collections::HashSet::new();
        let mut routes = Vec::with_capacity(n);
        while routes.len() < n {
            let len = (rng.next() % 33) as u8;
            let addr = rng.u32() & mask(len);
            if seen.insert((addr, len)) {
                routes.push((addr, len, (rng.next() % 1_000_000) as u32));
            }
        }
        routes
    }

    fn check_against_model(seed: u64, n: usize) {
        let mut rng = XorShift(seed);
        let routes = random_routes(&mut rng, n);
        let lpm = Lpm::build(&routes).unwrap();
        assert_eq!(lpm.len(), n);
        // The model is a linear scan; index routes by length for speed on 10k routes.
        let mut by_len: Vec<std::collections::HashMap<u32, u32>> = vec![Default::default(); 33];
        for &(a, l, nh) in &routes {
            by_len[l as usize].insert(a, nh);
        }
        let fast_model = |addr: u32| -> Option<u32> {
            (0..=32u8).rev().find_map(|l| by_len[l as usize].get(&(addr & mask(l))).copied())
        };
        let mut addrs: Vec<u32> = (0..100_000).map(|_| rng.u32()).collect();
        for &(a, l, _) in &routes {
            let last = a | !mask(l);
            addrs.push(a);
            addrs.push(last);
            addrs.push(last.wrapping_add(1));
            addrs.push(a.wrapping_sub(1));
        }
        for &a in &addrs {
            assert_eq!(lpm.lookup(a), fast_model(a), "addr {}", Ipv4Addr::from(a));
        }
        // The indexed model must agree with the plain linear scan.
        for &a in addrs.iter().take(if n > 1000 { 2_000 } else { 20_000 }) {
            assert_eq!(fast_model(a), model(&routes, a));
        }
        let mut out = vec![None; addrs.len()];
        lpm.lookup_bulk(&addrs, &mut out);
        for (&a, &o) in addrs.iter().zip(&out) {
            assert_eq!(o, lpm.lookup(a));
        }
    }

    #[test]
    fn random_1_route_matches_model() {
        for seed in 1..=20 {
            check_against_model(seed * 0x9E37_79B9, 1);
        }
    }

    #[test]
    fn random_10_routes_match_model() {
        check_against_model(0xDEAD_BEEF, 10);
        check_against_model(0x1234_5678, 10);
    }

    #[test]
    fn random_1000_routes_match_model() {
        check_against_model(0xC0FF_EE11, 1000);
    }

    #[test]
    fn random_10k_routes_match_model() {
        check_against_model(0x0BAD_CAFE, 10_000);
    }

    #[test]
    fn memory_10k_random_routes() {
        let mut rng = XorShift(0x0BAD_CAFE);
        let routes = random_routes(&mut rng, 10_000);
        let lpm = Lpm::build(&routes).unwrap();
        let m = lpm.memory_bytes();
        eprintln!("{lpm:?}");
        assert!(m >= TBL1_SIZE * 4);
        assert!(m <= TBL1_SIZE * 4 + 2 * 1024 * routes.len() + 12 * routes.len() + 1024);
    }

    #[test]
    fn empty_table_and_default_route() {
        let empty = Lpm::build(&[]).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.lookup(0), None);
        assert_eq!(empty.lookup(u32::MAX), None);

        let lpm = Lpm::build(&[(0, 0, 7)]).unwrap();
        assert_eq!(lpm.len(), 1);
        for a in [0, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
            assert_eq!(lpm.lookup(a), Some(7));
        }
    }

    #[test]
    fn prefetch_any_address() {
        let tables = [Lpm::build(&[]).unwrap(), Lpm::build(&[(0, 0, 7), (ip("10.1.2.3"), 32, 1)]).unwrap()];
        for t in &tables {
            for a in [0, 1, ip("10.1.2.3"), 0x7fff_ffff, 0x8000_0000, u32::MAX] {
                let before = t.lookup(a);
                t.prefetch(a);
                assert_eq!(t.lookup(a), before);
            }
        }
    }

    #[test]
    fn host_route_32() {
        let a = ip("192.0.2.1");
        let lpm = Lpm::build(&[(a, 32, 3), (0, 0, 1)]).unwrap();
        assert_eq!(lpm.lookup(a), Some(3));
        assert_eq!(lpm.lookup(a - 1), Some(1));
        assert_eq!(lpm.lookup(a + 1), Some(1));
        let only = Lpm::build(&[(u32::MAX, 32, 9)]).unwrap();
        assert_eq!(only.lookup(u32::MAX), Some(9));
        assert_eq!(only.lookup(u32::MAX - 1), None);
    }

    #[test]
    fn nested_24_in_16_in_8() {
        let routes =
            [(ip("10.1.2.0"), 24, 24), (ip("10.0.0.0"), 8, 8), (ip("10.1.0.0"), 16, 16), (ip("10.1.2.128"), 25, 25)];
        let lpm = Lpm::build(&routes).unwrap();
        assert_eq!(lpm.lookup(ip("10.1.2.3")), Some(24));
        assert_eq!(lpm.lookup(ip("10.1.2.128")), Some(25));
        assert_eq!(lpm.lookup(ip("10.1.2.255")), Some(25));
        assert_eq!(lpm.lookup(ip("10.1.2.127")), Some(24));
        assert_eq!(lpm.lookup(ip("10.1.3.0")), Some(16));
        assert_eq!(lpm.lookup(ip("10.1.1.255")), Some(16));
        assert_eq!(lpm.lookup(ip("10.1.255.255")), Some(16));
        assert_eq!(lpm.lookup(ip("10.2.0.0")), Some(8));
        assert_eq!(lpm.lookup(ip("10.255.255.255")), Some(8));
        assert_eq!(lpm.lookup(ip("11.0.0.0")), None);
        assert_eq!(lpm.lookup(ip("9.255.255.255")), None);
    }

    #[test]
    fn adjacent_prefixes() {
        let routes = [
            (ip("192.0.2.0"), 25, 1),
            (ip("192.0.2.128"), 25, 2),
            (ip("192.0.3.0"), 24, 3),
            (ip("192.0.4.0"), 22, 4),
            (ip("192.0.0.0"), 23, 5),
        ];
        let lpm = Lpm::build(&routes).unwrap();
        assert_eq!(lpm.lookup(ip("192.0.2.127")), Some(1));
        assert_eq!(lpm.lookup(ip("192.0.2.128")), Some(2));
        assert_eq!(lpm.lookup(ip("192.0.2.255")), Some(2));
        assert_eq!(lpm.lookup(ip("192.0.3.0")), Some(3));
        assert_eq!(lpm.lookup(ip("192.0.3.255")), Some(3));
        assert_eq!(lpm.lookup(ip("192.0.4.0")), Some(4));
        assert_eq!(lpm.lookup(ip("192.0.7.255")), Some(4));
        assert_eq!(lpm.lookup(ip("192.0.8.0")), None);
        assert_eq!(lpm.lookup(ip("192.0.1.255")), Some(5));
        assert_eq!(lpm.lookup(ip("191.255.255.255")), None);
    }

    #[test]
    fn routes_are_sorted_by_addr_then_len() {
        let routes = [(ip("10.0.0.0"), 16, 2), (ip("10.0.0.0"), 8, 1), (0, 0, 0)];
        let lpm = Lpm::build(&routes).unwrap();
        let got: Vec<_> = lpm.routes().collect();
        assert_eq!(got, vec![(0, 0, 0), (ip("10.0.0.0"), 8, 1), (ip("10.0.0.0"), 16, 2)]);
    }

    #[test]
    fn errors_for_each_variant() {
        assert_eq!(Lpm::build(&[(0, 33, 1)]).unwrap_err(), LpmError::PrefixLen(33));
        assert_eq!(Lpm::build(&[(0, 255, 1)]).unwrap_err(), LpmError::PrefixLen(255));
        let a = ip("10.0.0.1");
        assert_eq!(Lpm::build(&[(a, 24, 1)]).unwrap_err(), LpmError::HostBits { addr: a, len: 24 });
        assert_eq!(Lpm::build(&[(1, 0, 1)]).unwrap_err(), LpmError::HostBits { addr: 1, len: 0 });
        let n = ip("10.0.0.0");
        assert_eq!(
            Lpm::build(&[(n, 8, 1), (0, 0, 1), (n, 8, 1)]).unwrap_err(),
            LpmError::Duplicate { addr: n, len: 8 }
        );
        assert_eq!(Lpm::build(&[(n, 8, 1), (n, 8, 2)]).unwrap_err(), LpmError::Duplicate { addr: n, len: 8 });
        assert!(Lpm::build(&[(n, 8, MAX_NEXT_HOP)]).is_ok());
        assert_eq!(Lpm::build(&[(n, 8, MAX_NEXT_HOP + 1)]).unwrap_err(), LpmError::TooManyNextHops);
        assert_eq!(Lpm::build(&[(n, 8, u32::MAX)]).unwrap_err(), LpmError::TooManyNextHops);
        // Display is human-readable.
        let e = LpmError::HostBits { addr: a, len: 24 };
        assert_eq!(e.to_string(), "prefix 10.0.0.1/24 has host bits set");
    }

    #[test]
    fn max_next_hop_round_trips() {
        let lpm = Lpm::build(&[(0, 0, MAX_NEXT_HOP), (ip("1.2.3.4"), 32, 0)]).unwrap();
        assert_eq!(lpm.lookup(0), Some(MAX_NEXT_HOP));
        assert_eq!(lpm.lookup(ip("1.2.3.4")), Some(0));
        assert_eq!(lpm.lookup(ip("1.2.3.5")), Some(MAX_NEXT_HOP));
    }

    #[test]
    fn bulk_handles_length_mismatch() {
        let lpm = Lpm::build(&[(0, 0, 1)]).unwrap();
        let mut out = [Some(99); 3];
        lpm.lookup_bulk(&[1, 2], &mut out);
        assert_eq!(out, [Some(1), Some(1), Some(99)]);
        let mut short = [None; 1];
        lpm.lookup_bulk(&[1, 2, 3], &mut short);
        assert_eq!(short, [Some(1)]);
        let addrs: Vec<u32> = (0..100).collect();
        let mut out = vec![None; 100];
        lpm.lookup_bulk(&addrs, &mut out);
        assert!(out.iter().all(|o| *o == Some(1)));
    }
}
