//! The one seeded hash for keys that packets choose.
//!
//! # Why keyed
//!
//! Every stateful table of the dataplane (the FDB, the connection table, the neighbour
//! cache, the NAT mappings) is an open-addressing table whose slot is a hash of a key that a
//! remote sender picks: a source MAC, a 5-tuple, a next hop, an inside (address, port). With
//! a fixed, public hash function a sender can compute offline a flood of keys that all land
//! in one probe run, and every lookup on that run then costs a walk over the whole run
//! (a hash-flooding attack: linear probing turns it into quadratic work). The same holds for
//! the choice of the worker that owns a connection: a fixed hash lets a sender aim all its
//! flows at one core. So these hashes are keyed with a per-process random [`Key`], drawn once
//! from the operating system (`getrandom`) at first use: a sender who does not know the key
//! cannot tell which keys collide.
//!
//! # What is keyed, what is not
//!
//! * Keyed ([`Key::process`]): `l2::fdb` (domain, MAC), `conntrack` ([`FlowKey`] hashes),
//!   `l3::neigh` (interface, next hop), `nat::pool` (the mapping index by inside endpoint and
//!   the paired-pool address choice), `nat::SecTables::owner` (the owning worker of a
//!   connection whose owner is not fixed by a pool port).
//! * Not keyed: hashes that spread load but index no table and give a sender nothing to aim
//!   at, such as the VXLAN source-port entropy of an encapsulated flow; the owner of a reply
//!   to a pool port, which is `port % workers` by design (a NIC must be able to match it);
//!   test and benchmark generators, which want reproducible sequences ([`Key::from_seed`]).
//!
//! Every table of one process uses the same key, so a hash computed once per packet (a
//! [`FlowKey`] hash for prefetching) is valid for every table of that process and on every
//! worker. A table copies the key into itself when it is built, so the per-packet path reads
//! it from the table's own cache lines and never touches the `OnceLock` behind
//! [`Key::process`]. The key is never printed (its `Debug` shows no bits) and never leaves
//! the process; it changes at every start, and with it the slot order of every table, so no
//! output or test may depend on slot order.
//!
//! # The function
//!
//! A keyed folded multiply in the style of foldhash and ahash's fallback:
//! `fold(x, y) = lo ^ hi` of the 128-bit product `x * y`, applied twice,
//!
//! ```text
//! h1 = fold(a ^ k0, b ^ k1)      // words(a, b); word(x) uses b = 0
//! h  = fold(h1 ^ k2, k3)         // k1, k3 odd
//! ```
//!
//! Two dependent 64x64->128 multiplies (about 8 cycles of latency, less in throughput when a
//! burst is hashed in a loop). The second round is what makes the low and the high bits of
//! the result depend on every input bit: after one round, sequential keys (MACs, ports) give
//! an arithmetic progression in the low bits, which a power-of-two table indexes badly.
//! It is a fast keyed hash for hash tables, not a MAC or PRF: it resists a sender that does
//! not know the key, which is what a table needs, and nothing more is claimed. Inputs are
//! packed injectively by the callers (a MAC with its domain in one word, a 5-tuple in two),
//! so equal hashes of different keys are ordinary collisions, not structural ones.
//!
//! ```
//! use vnf_core::hash::Key;
//!
//! let key = Key::process();
//! assert_eq!(key.mac(3, 0x0200_0000_0001), key.mac(3, 0x0200_0000_0001));
//! assert_ne!(key.mac(3, 0x0200_0000_0001), key.mac(4, 0x0200_0000_0001));
//! assert_eq!(vnf_core::hash::mac(3, 0x0200_0000_0001), key.mac(3, 0x0200_0000_0001));
//! ```
//!
//! [`FlowKey`]: crate::conntrack::FlowKey

use std::fmt;
use std::sync::OnceLock;

/// The 48 bits of a MAC address as a u64 (see [`MacAddr::to_u64`](crate::wire::MacAddr::to_u64)).
const MAC_MASK: u64 = (1 << 48) - 1;

/// A hash key: four 64-bit words, the multipliers odd. `Copy`, so a table keeps its own.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key {
    k: [u64; 4],
}

impl fmt::Debug for Key {
    /// Shows no key bits: a key in a log would let its reader aim collisions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The process key, drawn at first use.
static PROCESS: OnceLock<Key> = OnceLock::new();

/// 64-bit product folded to 64 bits: low half xor high half.
#[inline(always)]
fn fold(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

/// splitmix64: expands a seed into well-spread words (for [`Key::from_seed`]).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Key {
    /// The per-process key: random, drawn once from the operating system at the first call
    /// and the same for every later call of the process. Tables call this once, when they
    /// are built, and keep the copy.
    pub fn process() -> Key {
        *PROCESS.get_or_init(Key::random)
    }

    /// A deterministic key derived from `seed`: for tests and benchmarks that want the same
    /// slot layout at every run. Never for a table that holds packet-chosen keys.
    pub fn from_seed(seed: u64) -> Key {
        let mut s = seed;
        Key::from_words([splitmix(&mut s), splitmix(&mut s), splitmix(&mut s), splitmix(&mut s)])
    }

    /// A fresh random key from the operating system. If the OS has no randomness source at
    /// all (getrandom(2) and /dev/urandom both fail: not seen on a supported system), falls
    /// back to the clock, the process id and an address (ASLR): weak, but still different
    /// per process, and not a panic on the packet path.
    fn random() -> Key {
        let mut b = [0u8; 32];
        if getrandom::fill(&mut b).is_ok() {
            let w = |i: usize| {
                let mut x = [0u8; 8];
                x.copy_from_slice(&b[i * 8..i * 8 + 8]);
                u64::from_ne_bytes(x)
            };
            return Key::from_words([w(0), w(1), w(2), w(3)]);
        }
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let local = 0u8;
        let addr = std::ptr::addr_of!(local) as usize as u64;
        Key::from_seed(t ^ u64::from(std::process::id()).rotate_left(32) ^ addr.rotate_left(17))
    }

    fn from_words(k: [u64; 4]) -> Key {
        Key { k: [k[0], k[1] | 1, k[2], k[3] | 1] }
    }

    /// Hash of one 64-bit word.
    #[inline(always)]
    pub fn word(&self, x: u64) -> u64 {
        fold(fold(x ^ self.k[0], self.k[1]) ^ self.k[2], self.k[3])
    }

    /// Hash of two 64-bit words (a 5-tuple: addresses in `a`, ports and protocol in `b`).
    #[inline(always)]
    pub fn words(&self, a: u64, b: u64) -> u64 {
        fold(fold(a ^ self.k[0], b ^ self.k[1]) ^ self.k[2], self.k[3])
    }

    /// Hash of a (domain, MAC) pair: `mac` is the address as a u64 (its top 16 bits are
    /// ignored), packed with the domain in the top 16 bits: `word(domain << 48 | mac)`.
    #[inline(always)]
    pub fn mac(&self, domain: u16, mac: u64) -> u64 {
        self.word((u64::from(domain) << 48) | (mac & MAC_MASK))
    }

    /// Hash of a 32-bit value (an IPv4 address).
    #[inline(always)]
    pub fn u32(&self, x: u32) -> u64 {
        self.word(u64::from(x))
    }
}

/// [`Key::mac`] with the process key (touches the `OnceLock`: tables use their own copy).
pub fn mac(domain: u16, mac: u64) -> u64 {
    Key::process().mac(domain, mac)
}

/// [`Key::words`] with the process key.
pub fn words(a: u64, b: u64) -> u64 {
    Key::process().words(a, b)
}

/// [`Key::word`] with the process key.
pub fn word(x: u64) -> u64 {
    Key::process().word(x)
}

/// [`Key::u32`] with the process key.
pub fn u32(x: u32) -> u64 {
    Key::process().u32(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pearson's chi-square statistic of `n` hashes over `buckets` buckets.
    fn chi2(hashes: impl Iterator<Item = u64>, bucket: impl Fn(u64) -> usize, buckets: usize) -> f64 {
        let mut count = vec![0u32; buckets];
        let mut n = 0u64;
        for h in hashes {
            count[bucket(h)] += 1;
            n += 1;
        }
        let e = n as f64 / buckets as f64;
        count.iter().map(|&c| (f64::from(c) - e).powi(2) / e).sum()
    }

    /// Key shapes with sequential values, as a flood or an ordinary network produces them.
    fn families(k: Key) -> Vec<(&'static str, Vec<u64>)> {
        const N: u64 = 1 << 14;
        let mac = |i: u64| 0x0200_0000_0000 | i;
        let tuple = |src: u64, dst: u64, sport: u64, dport: u64, proto: u64| {
            k.words(src << 32 | dst, sport << 24 | dport << 8 | proto)
        };
        vec![
            ("sequential MACs", (0..N).map(|i| k.mac(1, mac(i))).collect()),
            ("one MAC, sequential domains", (0..N).map(|i| k.mac(i as u16, mac(7))).collect()),
            ("MACs stepping by 256", (0..N).map(|i| k.mac(0, mac(i << 8))).collect()),
            ("sequential source ports", (0..N).map(|i| tuple(0x0a00_0001, 0x0808_0808, i, 53, 17)).collect()),
            ("sequential destination ports", (0..N).map(|i| tuple(0x0a00_0001, 0x0808_0808, 40000, i, 6)).collect()),
            ("sequential sources", (0..N).map(|i| tuple(0x0a00_0000 | i, 0x0808_0808, 40000, 443, 6)).collect()),
            ("sequential addresses", (0..N).map(|i| k.u32(0xc0a8_0000 | i as u32)).collect()),
        ]
    }

    #[test]
    fn same_input_same_hash_within_a_process() {
        let (a, b) = (Key::process(), Key::process());
        assert_eq!(a, b);
        for x in [0u64, 1, 0x0200_0000_0001, u64::MAX] {
            assert_eq!(a.word(x), b.word(x));
            assert_eq!(a.words(x, !x), b.words(x, !x));
            assert_eq!(mac(5, x), a.mac(5, x));
            assert_eq!(words(x, 3), a.words(x, 3));
            assert_eq!(word(x), a.word(x));
            assert_eq!(u32(x as u32), a.u32(x as u32));
        }
        assert_eq!(Key::from_seed(42).words(1, 2), Key::from_seed(42).words(1, 2));
    }

    #[test]
    fn different_keys_give_different_hashes() {
        let keys = [Key::process(), Key::from_seed(1), Key::from_seed(2), Key::random()];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
                for x in [0u64, 1, 0x0200_0000_0001, u64::MAX] {
                    assert_ne!(a.word(x), b.word(x), "key {i}, input {x:#x}");
                    assert_ne!(a.mac(0, x), b.mac(0, x));
                    assert_ne!(a.words(x, x), b.words(x, x));
                }
            }
        }
    }

    #[test]
    fn keys_are_random_not_a_fixed_constant() {
        let p = Key::process();
        // Not the old fixed multiplier, not zero, not a seeded key, not the same twice.
        for w in p.k {
            assert_ne!(w | 1, 0x9E37_79B9_7F4A_7C15);
            assert!(w != 0 && w != 1 && w != u64::MAX);
        }
        assert_ne!(p, Key::from_seed(0));
        assert_ne!(Key::random(), Key::random());
        // The multipliers are odd, so no key makes a round collapse to 0 for every input.
        for k in [p, Key::from_seed(0), Key::random()] {
            assert_eq!((k.k[1] & 1, k.k[3] & 1), (1, 1));
        }
        assert_eq!(format!("{p:?}"), "Key(..)", "the key is never printed");
    }

    #[test]
    fn macs_ignore_the_top_16_bits() {
        let k = Key::process();
        assert_eq!(k.mac(3, 0x0200_0000_0001), k.mac(3, 0xffff_0200_0000_0001));
        assert_eq!(k.mac(3, 0x0200_0000_0001), k.word(3 << 48 | 0x0200_0000_0001));
    }

    /// Low and high bits of every key shape spread evenly over 1024 buckets: the chi-square
    /// statistic (1023 degrees of freedom, mean 1023, standard deviation 45) stays far below
    /// what a structural weakness gives (a single folded multiply fails this for sequential
    /// source ports with about a quarter of all keys). Checked with the process key and fixed seeds.
    #[test]
    fn low_and_high_bits_are_well_distributed() {
        let keys = [Key::process(), Key::from_seed(0), Key::from_seed(0xdead_beef), Key::random()];
        for (ki, k) in keys.into_iter().enumerate() {
            for (name, hs) in families(k) {
                let lo = chi2(hs.iter().copied(), |h| (h & 1023) as usize, 1024);
                let lo32 = chi2(hs.iter().copied(), |h| (h as u32 >> 22) as usize, 1024);
                let hi = chi2(hs.iter().copied(), |h| (h >> 54) as usize, 1024);
                for (bits, x) in [("low", lo), ("bits 31..22", lo32), ("high", hi)] {
                    assert!(x < 1023.0 + 8.0 * 45.0, "key {ki}, {name}, {bits} bits: chi2 {x:.0}");
                }
                let mut sorted = hs.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(sorted.len(), hs.len(), "key {ki}, {name}: 64-bit collisions");
            }
        }
    }
}
