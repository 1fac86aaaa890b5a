//! Tests of the connection table. The TCP state machine is tested in `tcp.rs`.

use super::tcp::{TcpState, TcpTrack};
use super::*;
use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};
use std::collections::{HashMap, HashSet};

const T: Timeouts = Timeouts {
    tcp_established_ms: 7_440_000,
    tcp_transitory_ms: 240_000,
    udp_ms: 300_000,
    icmp_ms: 60_000,
    other_ms: 600_000,
};

/// Deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(src: u32, dst: u32, sport: u16, dport: u16, proto: u8) -> FlowKey {
    FlowKey { src, dst, sport, dport, proto }
}

fn udp(n: u32) -> FlowKey {
    key(0x0a00_0000 | n, 0x0808_0808, 1024 + (n % 50000) as u16, 53, PROTO_UDP)
}

fn tcp_key(n: u32) -> FlowKey {
    key(0x0a00_0000 | n, 0xc633_6401, 40000 + (n % 20000) as u16, 443, PROTO_TCP)
}

fn syn_sent() -> TcpTrack {
    let mut t = TcpTrack::new();
    t.on_segment(Dir::Orig, SYN).unwrap();
    t
}

fn ins<V: Copy + Default>(t: &mut ConnTable<V>, k: FlowKey, now: u64) -> u32 {
    let tr = if k.proto == PROTO_TCP { syn_sent() } else { TcpTrack::new() };
    t.insert(k, k.reverse(), tr, V::default(), now).unwrap()
}

/// Checks every structural invariant of the table.
fn check<V: Copy + Default>(t: &ConnTable<V>) {
    let mask = t.mask;
    // index: exactly two slots per live connection, each reachable from its home
    let mut occupied = 0;
    for (j, s) in t.index.iter().enumerate() {
        if s.val == EMPTY {
            continue;
        }
        occupied += 1;
        let id = s.val >> 1;
        let c = &t.conns[id as usize];
        assert_ne!(c.list, FREE, "index slot {j} points at free conn {id}");
        let (k, h) = if s.val & 1 == 0 { (c.orig, c.hash_orig) } else { (c.reply, c.hash_reply) };
        assert_eq!(s.tag, h);
        assert_eq!(k.hash(), h);
        let mut i = h & mask;
        while i != j as u32 {
            assert_ne!(t.index[i as usize].val, EMPTY, "hole between home and slot {j}");
            i = (i + 1) & mask;
        }
    }
    assert_eq!(occupied, 2 * t.len());
    // lists: consistent links, every live connection on exactly one list, main lists
    // sorted by stamp with stamp <= last_seen, class matching the connection
    let mut seen = HashSet::new();
    for list in 0..NLIST {
        let mut prev = NIL;
        let mut id = t.head[list];
        let mut last_stamp = 0;
        while id != NIL {
            let c = &t.conns[id as usize];
            assert_eq!(c.list as usize, list);
            assert_eq!(c.prev, prev);
            assert!(seen.insert(id), "conn {id} linked twice");
            assert_eq!(class_of(c.orig.proto, c.tcp.state) as usize, list >> 1);
            if list & 1 == 0 {
                assert!(c.stamp_ms >= last_stamp, "main list {list} not sorted");
                assert!(c.stamp_ms <= c.last_seen_ms);
            } else {
                assert!(c.stamp_ms >= last_stamp, "recheck list {list} not sorted");
            }
            last_stamp = c.stamp_ms;
            prev = id;
            id = c.next;
        }
        assert_eq!(t.tail[list], prev);
    }
    assert_eq!(seen.len() as u32, t.len());
    // free list
    let mut free = 0;
    let mut id = t.free;
    while id != NIL {
        assert_eq!(t.conns[id as usize].list, FREE);
        free += 1;
        id = t.conns[id as usize].next;
    }
    assert_eq!(free + t.len(), t.capacity());
    // lookups
    for (id, c) in t.iter() {
        assert_eq!(t.lookup(&c.orig), Some((id, Dir::Orig)));
        assert_eq!(t.lookup(&c.reply), Some((id, Dir::Reply)));
    }
}

// ---------------------------------------------------------------- keys and hash

#[test]
fn reverse_and_hash() {
    let k = key(1, 2, 3, 4, 6);
    assert_eq!(k.reverse(), key(2, 1, 4, 3, 6));
    assert_eq!(k.reverse().reverse(), k);
    assert_ne!(k.hash(), k.reverse().hash());
    assert_ne!(k.hash(), key(1, 2, 3, 4, 17).hash());
    assert_eq!(k.hash(), key(1, 2, 3, 4, 6).hash());
}

#[test]
fn hash_is_keyed_with_the_process_key() {
    let t: ConnTable<()> = ConnTable::new(16, T);
    let p = crate::hash::Key::process();
    let other = crate::hash::Key::from_seed(7);
    for k in [key(1, 2, 3, 4, 6), tcp_key(5), udp(9), FlowKey::default()] {
        assert_eq!(k.hash(), k.hash_with(&p));
        assert_eq!(t.hash(&k), k.hash());
        assert_ne!(k.hash_with(&other), k.hash(), "another key, another hash");
    }
}

#[test]
fn hash_spreads_sequential_keys() {
    // keys differing in one field only, bucketed by low bits (index) and by high bits. The
    // bounds hold for a random key only with high probability (roughly one key in a
    // thousand breaks one of them), so fixed keys keep the test deterministic; the hash
    // module checks the process key with a wide margin.
    let fields: [fn(u32) -> FlowKey; 4] = [
        |i| key(0x0a00_0000 + i, 1, 1000, 80, 6),
        |i| key(1, 0x0a00_0000 + i, 1000, 80, 6),
        |i| key(1, 2, i as u16, 80, 17),
        |i| key(1, 2, 1000, i as u16, 17),
    ];
    for seed in 1..=4 {
        let hk = crate::hash::Key::from_seed(seed);
        for (fi, f) in fields.iter().enumerate() {
            let n = 1 << 14;
            let mut lo = vec![0u32; 1024];
            let mut hi = vec![0u32; 1024];
            let mut all = HashSet::new();
            for i in 0..n {
                let h = f(i).hash_with(&hk);
                lo[(h & 1023) as usize] += 1;
                hi[(h >> 22) as usize] += 1;
                all.insert(h);
            }
            // mean 16 per bucket; a poor hash piles keys into few buckets
            assert!(*lo.iter().max().unwrap() <= 40, "seed {seed} field {fi} low bits");
            assert!(*hi.iter().max().unwrap() <= 40, "seed {seed} field {fi} high bits");
            assert!(lo.iter().filter(|&&b| b == 0).count() < 5, "seed {seed} field {fi}");
            assert!(all.len() as u32 >= n - 4, "seed {seed} field {fi}: 32-bit collisions");
        }
    }
}

#[test]
fn prefetch_any_hash_on_any_table() {
    let mut full: ConnTable<u8> = ConnTable::new(4, T);
    for n in 0..4 {
        ins(&mut full, udp(n), 0);
    }
    let hashes = |t: &ConnTable<u8>| {
        let mut v = vec![0, 1, u32::MAX, 0x8000_0000];
        v.extend(t.iter().flat_map(|(_, c)| [t.hash(&c.orig), t.hash(&c.reply)]));
        v
    };
    for t in [ConnTable::new(0, T), ConnTable::new(1, T), ConnTable::new(1024, T), full] {
        for h in hashes(&t) {
            t.prefetch_slot(h);
            t.prefetch_conn(h);
        }
        check(&t);
    }
}

// ---------------------------------------------------------------- insert / lookup

#[test]
fn insert_lookup_both_directions() {
    let mut t: ConnTable<u32> = ConnTable::new(16, T);
    assert!(t.is_empty());
    let k = tcp_key(1);
    let id = t.insert(k, k.reverse(), syn_sent(), 77, 5).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t.lookup(&k), Some((id, Dir::Orig)));
    assert_eq!(t.lookup(&k.reverse()), Some((id, Dir::Reply)));
    assert_eq!(t.lookup_hashed(&k, k.hash()), Some((id, Dir::Orig)));
    assert_eq!(t.lookup_hashed(&k, k.hash() ^ 1), None); // wrong hash: miss, no harm
    assert_eq!(t.lookup(&tcp_key(2)), None);
    let c = t.get(id);
    assert_eq!((c.orig, c.reply, c.data), (k, k.reverse(), 77));
    assert_eq!((c.created_ms, c.last_seen_ms), (5, 5));
    assert_eq!(c.tcp.state, TcpState::SynSent);
    assert_eq!((c.packets, c.bytes), ([0; 2], [0; 2]));
    t.touch(id, Dir::Orig, 60, 6);
    t.touch(id, Dir::Reply, 1500, 7);
    t.touch(id, Dir::Reply, 40, 8);
    let c = t.get(id);
    assert_eq!((c.packets, c.bytes, c.last_seen_ms), ([1, 2], [60, 1540], 8));
    t.get_mut(id).data = 9;
    assert_eq!(t.get(id).data, 9);
    check(&t);
}

#[test]
fn nat_style_reply_key() {
    let mut t: ConnTable<(u32, u16)> = ConnTable::new(8, T);
    // 10.0.0.1:1234 -> 8.8.8.8:53, source NATed to 203.0.113.1:40000
    let orig = key(0x0a00_0001, 0x0808_0808, 1234, 53, PROTO_UDP);
    let reply = key(0x0808_0808, 0xcb00_7101, 53, 40000, PROTO_UDP);
    let id = t.insert(orig, reply, TcpTrack::new(), (0xcb00_7101, 40000), 0).unwrap();
    assert_eq!(t.lookup(&orig), Some((id, Dir::Orig)));
    assert_eq!(t.lookup(&reply), Some((id, Dir::Reply)));
    assert_eq!(t.lookup(&orig.reverse()), None);
    assert_eq!(t.lookup(&reply.reverse()), None);
    // a second inside host mapped to another port
    let orig2 = key(0x0a00_0002, 0x0808_0808, 1234, 53, PROTO_UDP);
    let reply2 = key(0x0808_0808, 0xcb00_7101, 53, 40001, PROTO_UDP);
    let id2 = t.insert(orig2, reply2, TcpTrack::new(), (0, 0), 0).unwrap();
    assert_ne!(id, id2);
    assert_eq!(t.lookup(&reply2), Some((id2, Dir::Reply)));
    // the same public port again is refused
    let orig3 = key(0x0a00_0003, 0x0808_0808, 1234, 53, PROTO_UDP);
    assert_eq!(t.insert(orig3, reply2, TcpTrack::new(), (0, 0), 0), Err(InsertError::Exists));
    check(&t);
    let gone = t.remove(id);
    assert_eq!((gone.orig, gone.reply, gone.data), (orig, reply, (0xcb00_7101, 40000)));
    assert_eq!(t.lookup(&orig), None);
    assert_eq!(t.lookup(&reply), None);
    assert_eq!(t.lookup(&reply2), Some((id2, Dir::Reply)));
    check(&t);
}

#[test]
fn exists_errors() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let a = udp(1);
    let id = ins(&mut t, a, 0);
    let tr = TcpTrack::new();
    // same orig; orig equal to the existing reply key; reply equal to the existing orig
    assert_eq!(t.insert(a, udp(2), tr, 0, 1), Err(InsertError::Exists));
    assert_eq!(t.insert(a.reverse(), udp(3), tr, 0, 1), Err(InsertError::Exists));
    assert_eq!(t.insert(udp(4), a, tr, 0, 1), Err(InsertError::Exists));
    assert_eq!(t.insert(udp(5), a.reverse(), tr, 0, 1), Err(InsertError::Exists));
    // orig == reply (src == dst, sport == dport) cannot tell directions apart
    let land = key(7, 7, 9, 9, PROTO_TCP);
    assert_eq!(t.insert(land, land.reverse(), tr, 0, 1), Err(InsertError::Exists));
    assert_eq!(t.len(), 1);
    assert_eq!(t.lookup(&a), Some((id, Dir::Orig)));
    assert_eq!(t.lookup(&udp(2)), None);
    assert_eq!(t.lookup(&udp(4)), None);
    assert_eq!(t.get(id).created_ms, 0);
    check(&t);
}

#[test]
fn full_keeps_existing_entries() {
    let mut t: ConnTable<u32> = ConnTable::new(4, T);
    let ids: Vec<u32> = (0..4).map(|i| ins(&mut t, udp(i), 0)).collect();
    assert_eq!(t.len(), 4);
    assert_eq!(t.insert(udp(9), udp(9).reverse(), TcpTrack::new(), 0, 1), Err(InsertError::Full));
    // Exists wins over Full
    assert_eq!(t.insert(udp(0), udp(9), TcpTrack::new(), 0, 1), Err(InsertError::Exists));
    assert_eq!(t.lookup(&udp(9)), None);
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(t.lookup(&udp(i as u32)), Some((id, Dir::Orig)));
        assert_eq!(t.lookup(&udp(i as u32).reverse()), Some((id, Dir::Reply)));
        t.touch(id, Dir::Reply, 10, 2);
        assert_eq!(t.get(id).packets, [0, 1]);
    }
    check(&t);
    t.remove(ids[2]);
    let id = ins(&mut t, udp(9), 3);
    assert_eq!(id, ids[2], "the freed slot is reused");
    assert_eq!(t.get(id).packets, [0, 0]);
    assert_eq!(t.lookup(&udp(2)), None);
    check(&t);
}

#[test]
fn zero_capacity() {
    let mut t: ConnTable<u8> = ConnTable::new(0, T);
    assert_eq!(t.capacity(), 0);
    assert_eq!(t.insert(udp(1), udp(1).reverse(), TcpTrack::new(), 0, 0), Err(InsertError::Full));
    assert_eq!(t.lookup(&udp(1)), None);
    assert_eq!(t.expire(u64::MAX, u32::MAX, |_, _| {}), 0);
    t.touch(0, Dir::Orig, 1, 1);
    assert!(!t.is_live(0));
    assert_eq!(t.iter().count(), 0);
    check(&t);
}

#[test]
fn index_sizing() {
    for (cap, slots) in [(1, 4), (2, 8), (3, 16), (4, 16), (5, 32), (1000, 4096), (1024, 4096)] {
        let t: ConnTable<u8> = ConnTable::new(cap, T);
        assert_eq!(t.index.len(), slots, "cap {cap}");
        assert!(t.index.len() >= 4 * cap as usize);
    }
}

#[test]
fn bad_ids_do_not_panic_touch() {
    let mut t: ConnTable<u8> = ConnTable::new(4, T);
    let id = ins(&mut t, udp(1), 0);
    t.touch(3, Dir::Orig, 1, 1); // free slot
    t.touch(4, Dir::Orig, 1, 1); // out of range
    t.touch(u32::MAX, Dir::Reply, 1, 1);
    assert!(t.is_live(id) && !t.is_live(3) && !t.is_live(u32::MAX));
    check(&t);
}

#[test]
#[should_panic(expected = "free slot")]
fn remove_free_id_panics() {
    let mut t: ConnTable<u8> = ConnTable::new(4, T);
    let id = ins(&mut t, udp(1), 0);
    t.remove(id);
    t.remove(id);
}

/// Keys whose hash lands in the last index slot, so their probe runs wrap around.
fn keys_homed_at(mask: u32, home: u32, n: usize) -> Vec<FlowKey> {
    (0..)
        .map(|i| key(i, 99, 1, 2, PROTO_UDP))
        .filter(|k| k.hash() & mask == home && k.reverse().hash() & mask == home)
        .take(n)
        .collect()
}

#[test]
fn probe_wraparound_and_backward_shift() {
    let mut t: ConnTable<u8> = ConnTable::new(4, T); // 16 slots
    let mask = t.mask;
    assert_eq!(mask, 15);
    let ks = keys_homed_at(mask, mask, 3);
    // plus one key homed at slot 0, which the wrapped run pushes further
    let k0 = (0..)
        .map(|i| key(i, 98, 3, 4, PROTO_UDP))
        .find(|k| k.hash() & mask == 0 && k.reverse().hash() & mask == 1)
        .unwrap();
    let mut ids: Vec<u32> = ks.iter().map(|&k| ins(&mut t, k, 0)).collect();
    ids.push(ins(&mut t, k0, 0));
    check(&t);
    // 6 entries homed at 15 occupy 15, 0..=4; k0 (home 0) and its reply (home 1) follow
    assert_ne!(t.index[4].val, EMPTY);
    assert_ne!(t.index[6].val, EMPTY);
    // remove in an order that shifts entries back across the wrap point
    for &i in &[0usize, 3, 1, 2] {
        t.remove(ids[i]);
        check(&t);
        for (j, &id) in ids.iter().enumerate() {
            let k = if j < 3 { ks[j] } else { k0 };
            let want = if t.is_live(id) { Some((id, Dir::Orig)) } else { None };
            assert_eq!(t.lookup(&k), want);
        }
    }
    assert!(t.index.iter().all(|s| s.val == EMPTY));
}

/// Random operations against a `HashMap` model, with a small table so probe runs collide
/// and wrap around, and keys from a small space so `Exists` is frequent.
#[test]
fn model_check_random_ops() {
    for seed in 1..=6u64 {
        let cap = [3u32, 8, 16, 5, 32, 12][seed as usize - 1];
        let mut t: ConnTable<u64> = ConnTable::new(cap, T);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut keys: HashMap<FlowKey, (u32, Dir)> = HashMap::new();
        let mut live: HashMap<u32, (FlowKey, FlowKey, u64)> = HashMap::new();
        let rk = |rng: &mut Rng| {
            key(
                rng.below(4) as u32,
                rng.below(3) as u32,
                rng.below(3) as u16,
                rng.below(3) as u16,
                [PROTO_TCP, PROTO_UDP][rng.below(2) as usize],
            )
        };
        let (mut ok, mut exists, mut full) = (0, 0, 0);
        for step in 0..4000u64 {
            match rng.below(10) {
                0..=4 => {
                    let orig = rk(&mut rng);
                    let reply = if rng.below(2) == 0 { orig.reverse() } else { rk(&mut rng) };
                    let r = t.insert(orig, reply, TcpTrack::new(), step, step);
                    let want_exists = orig == reply || keys.contains_key(&orig) || keys.contains_key(&reply);
                    match r {
                        Ok(id) => {
                            assert!(!want_exists && (live.len() as u32) < cap);
                            assert!(!live.contains_key(&id));
                            keys.insert(orig, (id, Dir::Orig));
                            keys.insert(reply, (id, Dir::Reply));
                            live.insert(id, (orig, reply, step));
                            ok += 1;
                        }
                        Err(InsertError::Exists) => {
                            assert!(want_exists);
                            exists += 1;
                        }
                        Err(InsertError::Full) => {
                            assert!(!want_exists && live.len() as u32 == cap);
                            full += 1;
                        }
                    }
                }
                5..=6 => {
                    if live.is_empty() {
                        continue;
                    }
                    let mut ids: Vec<u32> = live.keys().copied().collect();
                    ids.sort_unstable();
                    let id = ids[rng.below(ids.len() as u64) as usize];
                    let (o, r, d) = live.remove(&id).unwrap();
                    keys.remove(&o);
                    keys.remove(&r);
                    let c = t.remove(id);
                    assert_eq!((c.orig, c.reply, c.data), (o, r, d));
                }
                7 => {
                    if let Some(&id) = live.keys().min() {
                        let dir = if rng.below(2) == 0 { Dir::Orig } else { Dir::Reply };
                        t.touch(id, dir, 100, step);
                        assert_eq!(t.get(id).last_seen_ms, step);
                    }
                }
                _ => {
                    for _ in 0..8 {
                        let k = rk(&mut rng);
                        assert_eq!(t.lookup(&k), keys.get(&k).copied(), "lookup {k:?}");
                    }
                }
            }
            assert_eq!(t.len() as usize, live.len());
            check(&t);
        }
        for (k, v) in &keys {
            assert_eq!(t.lookup(k), Some(*v));
        }
        assert!(ok > 50 && exists > 50, "seed {seed}: ok {ok} exists {exists}");
        if cap <= 8 {
            assert!(full > 0, "seed {seed}: table never full");
        }
    }
}

// ---------------------------------------------------------------- timeouts

fn expired_ids<V: Copy + Default>(t: &mut ConnTable<V>, now: u64) -> Vec<u32> {
    let mut v = Vec::new();
    t.expire(now, u32::MAX, |id, _| v.push(id));
    v
}

#[test]
fn udp_expires_exactly_at_timeout() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let id = ins(&mut t, udp(1), 1000);
    assert!(expired_ids(&mut t, 1000).is_empty());
    assert!(expired_ids(&mut t, 1000 + 300_000 - 1).is_empty());
    assert!(t.is_live(id));
    let mut got = Vec::new();
    let n = t.expire(1000 + 300_000, 16, |i, c| got.push((i, c.orig, c.last_seen_ms)));
    assert_eq!(n, 1);
    assert_eq!(got, vec![(id, udp(1), 1000)]);
    assert!(t.is_empty());
    assert_eq!(t.lookup(&udp(1)), None);
    assert_eq!(t.lookup(&udp(1).reverse()), None);
    check(&t);
}

#[test]
fn touched_entries_survive() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let a = ins(&mut t, udp(1), 0);
    let b = ins(&mut t, udp(2), 0);
    t.touch(a, Dir::Reply, 100, 100_000);
    assert_eq!(expired_ids(&mut t, 300_000), vec![b]);
    assert!(expired_ids(&mut t, 399_999).is_empty());
    t.touch(a, Dir::Orig, 100, 350_000);
    assert!(expired_ids(&mut t, 400_000).is_empty());
    assert!(expired_ids(&mut t, 649_999).is_empty());
    assert_eq!(expired_ids(&mut t, 650_000), vec![a]);
    check(&t);
}

#[test]
fn protocol_classes() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let icmp = ins(&mut t, key(1, 2, 7, 7, PROTO_ICMP), 0);
    let gre = ins(&mut t, key(1, 2, 0, 1, 47), 0);
    let u = ins(&mut t, udp(1), 0);
    let syn = ins(&mut t, tcp_key(1), 0);
    assert_eq!(t.expires_at_ms(icmp), 60_000);
    assert_eq!(t.expires_at_ms(gre), 600_000);
    assert_eq!(t.expires_at_ms(syn), 240_000);
    assert!(expired_ids(&mut t, 59_999).is_empty());
    assert_eq!(expired_ids(&mut t, 60_000), vec![icmp]);
    assert_eq!(expired_ids(&mut t, 240_000), vec![syn]);
    assert_eq!(expired_ids(&mut t, 300_000), vec![u]);
    assert!(expired_ids(&mut t, 599_999).is_empty());
    assert_eq!(expired_ids(&mut t, 600_000), vec![gre]);
}

/// Feeds a TCP segment through the tracker and the table, as the fast path does.
fn seg(t: &mut ConnTable<u8>, id: u32, dir: Dir, flags: u8, now: u64) {
    t.get_mut(id).tcp.on_segment(dir, flags).unwrap();
    t.touch(id, dir, 60, now);
}

#[test]
fn tcp_established_vs_transitory() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let est = ins(&mut t, tcp_key(1), 0);
    let half = ins(&mut t, tcp_key(2), 0);
    seg(&mut t, est, Dir::Reply, SYN | ACK, 5);
    seg(&mut t, half, Dir::Reply, SYN | ACK, 5);
    seg(&mut t, est, Dir::Orig, ACK, 10);
    assert_eq!(t.get(est).tcp.state, TcpState::Established);
    assert_eq!(t.get(est).list >> 1, CLASS_TCP_EST);
    assert_eq!(t.get(half).list >> 1, CLASS_TCP_TRANS);
    check(&t);
    assert_eq!(expired_ids(&mut t, 240_005), vec![half]);
    assert!(expired_ids(&mut t, 10 + 7_440_000 - 1).is_empty());
    assert_eq!(expired_ids(&mut t, 10 + 7_440_000), vec![est]);
}

#[test]
fn rst_keeps_entry_for_transitory_time() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let k = tcp_key(1);
    let id = ins(&mut t, k, 0);
    seg(&mut t, id, Dir::Reply, SYN | ACK, 1);
    seg(&mut t, id, Dir::Orig, ACK, 2);
    seg(&mut t, id, Dir::Orig, ACK, 500_000);
    seg(&mut t, id, Dir::Reply, RST, 1_000_000);
    assert_eq!(t.get(id).tcp.state, TcpState::Close);
    assert_eq!(t.get(id).list >> 1, CLASS_TCP_TRANS);
    check(&t);
    assert!(expired_ids(&mut t, 1_000_000 + 239_999).is_empty());
    assert_eq!(t.lookup(&k.reverse()), Some((id, Dir::Reply)));
    // a retransmitted SYN in Close restarts the connection on the same entry
    seg(&mut t, id, Dir::Orig, SYN, 1_100_000);
    assert_eq!(t.get(id).tcp.state, TcpState::SynSent);
    assert!(expired_ids(&mut t, 1_100_000 + 239_999).is_empty());
    assert_eq!(expired_ids(&mut t, 1_100_000 + 240_000), vec![id]);
}

#[test]
fn class_change_relinks() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let a = ins(&mut t, tcp_key(1), 0);
    let b = ins(&mut t, tcp_key(2), 0);
    for id in [a, b] {
        seg(&mut t, id, Dir::Reply, SYN | ACK, 1);
        seg(&mut t, id, Dir::Orig, ACK, 2);
    }
    assert_eq!(t.head[CLASS_TCP_EST as usize * 2], a);
    assert_eq!(t.tail[CLASS_TCP_EST as usize * 2], b);
    assert_eq!(t.head[CLASS_TCP_TRANS as usize * 2], NIL);
    // a closes at t=1000: moves to the transitory class, timed from the FIN
    seg(&mut t, a, Dir::Orig, FIN | ACK, 1000);
    assert_eq!(t.get(a).tcp.state, TcpState::FinWait);
    assert_eq!(t.head[CLASS_TCP_TRANS as usize * 2], a);
    assert_eq!(t.head[CLASS_TCP_EST as usize * 2], b);
    assert_eq!(t.get(b).prev, NIL);
    check(&t);
    // same class, no relink
    seg(&mut t, a, Dir::Reply, ACK, 2000);
    assert_eq!(t.get(a).tcp.state, TcpState::CloseWait);
    assert_eq!(t.get(a).stamp_ms, 1000);
    assert!(expired_ids(&mut t, 2000 + 239_999).is_empty());
    assert_eq!(expired_ids(&mut t, 2000 + 240_000), vec![a]);
    assert!(t.is_live(b));
    check(&t);
}

#[test]
fn tcp_state_change_by_caller_without_touch_is_safe() {
    // changing tcp through get_mut and expiring before the next touch: the connection
    // stays in its old class until touched; nothing breaks
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let id = ins(&mut t, tcp_key(1), 0);
    t.get_mut(id).tcp.on_segment(Dir::Reply, SYN | ACK).unwrap();
    t.get_mut(id).tcp.on_segment(Dir::Orig, ACK).unwrap();
    assert!(expired_ids(&mut t, 100).is_empty());
    t.touch(id, Dir::Orig, 1, 200);
    assert_eq!(t.get(id).list >> 1, CLASS_TCP_EST);
    check(&t);
}

#[test]
fn budget_is_respected() {
    let mut t: ConnTable<u8> = ConnTable::new(256, T);
    for i in 0..100 {
        ins(&mut t, udp(i), i as u64);
    }
    let mut n = 0;
    assert_eq!(t.expire(400_000, 10, |_, _| n += 1), 10);
    assert_eq!((n, t.len()), (10, 90));
    assert_eq!(t.expire(400_000, 0, |_, _| {}), 0);
    assert_eq!(t.expire(400_000, 85, |_, _| {}), 85);
    assert_eq!(t.expire(400_000, 85, |_, _| {}), 5);
    assert!(t.is_empty());
    // connections that are due but touched (relinked, not removed) count too
    for i in 0..50 {
        ins(&mut t, udp(i), 0);
    }
    for id in t.iter().map(|(i, _)| i).collect::<Vec<_>>() {
        t.touch(id, Dir::Orig, 1, 100);
    }
    let before = t.examined;
    assert_eq!(t.expire(300_000, 7, |_, _| {}), 0);
    assert_eq!(t.examined - before, 7);
    check(&t);
    assert_eq!(t.expire(300_000, 1000, |_, _| {}), 0);
    assert_eq!(t.examined - before, 50);
    assert_eq!(t.expire(300_099, 1000, |_, _| {}), 0);
    assert_eq!(t.expire(300_100, 1000, |_, _| {}), 50);
}

#[test]
fn idle_expire_examines_nothing() {
    let mut t: ConnTable<u8> = ConnTable::new(2048, T);
    for i in 0..2000 {
        let id = ins(&mut t, if i % 2 == 0 { udp(i) } else { tcp_key(i) }, u64::from(i));
        t.touch(id, Dir::Reply, 1, u64::from(i) + 10);
    }
    for now in (2000..239_000).step_by(1000) {
        assert_eq!(t.expire(now, 256, |_, _| {}), 0);
    }
    assert_eq!(t.examined, 0);
}

#[test]
fn set_timeouts_takes_effect() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let a = ins(&mut t, udp(1), 0);
    let b = ins(&mut t, key(1, 2, 3, 3, PROTO_ICMP), 0);
    // shorter: existing entries use it at the next call
    t.set_timeouts(Timeouts { udp_ms: 10_000, ..T });
    assert_eq!(t.timeouts().udp_ms, 10_000);
    assert!(expired_ids(&mut t, 9_999).is_empty());
    assert_eq!(expired_ids(&mut t, 10_000), vec![a]);
    // longer
    t.set_timeouts(Timeouts { icmp_ms: 120_000, ..T });
    assert!(expired_ids(&mut t, 60_000).is_empty());
    assert!(expired_ids(&mut t, 119_999).is_empty());
    assert_eq!(expired_ids(&mut t, 120_000), vec![b]);
    assert_eq!(Timeouts::default(), T);
}

#[test]
fn full_then_expire_then_insert() {
    let mut t: ConnTable<u8> = ConnTable::new(16, T);
    for i in 0..16 {
        ins(&mut t, udp(i), 0);
    }
    assert_eq!(t.insert(udp(100), udp(100).reverse(), TcpTrack::new(), 0, 1), Err(InsertError::Full));
    let mut freed = Vec::new();
    assert_eq!(t.expire(300_000, 4, |id, _| freed.push(id)), 4);
    for i in 0..4 {
        let id = ins(&mut t, udp(100 + i), 300_000);
        assert!(freed.contains(&id));
    }
    assert_eq!(t.insert(udp(200), udp(200).reverse(), TcpTrack::new(), 0, 300_000), Err(InsertError::Full));
    assert_eq!(t.expire(300_000, 100, |_, _| {}), 12);
    assert_eq!(t.len(), 4);
    check(&t);
}

#[test]
fn huge_timeouts_and_times_do_not_overflow() {
    let big = Timeouts {
        tcp_established_ms: u64::MAX,
        tcp_transitory_ms: u64::MAX,
        udp_ms: u64::MAX,
        icmp_ms: 0,
        other_ms: u64::MAX - 1,
    };
    let mut t: ConnTable<u8> = ConnTable::new(8, big);
    let a = ins(&mut t, udp(1), u64::MAX - 5);
    let b = ins(&mut t, key(1, 2, 3, 3, PROTO_ICMP), 7);
    let c = ins(&mut t, key(1, 2, 3, 3, 50), 0);
    t.touch(a, Dir::Orig, u32::MAX, u64::MAX);
    t.touch(a, Dir::Orig, u32::MAX, u64::MAX);
    assert_eq!(t.get(a).bytes[0], 2 * u64::from(u32::MAX));
    assert_eq!(t.expires_at_ms(a), u64::MAX);
    assert_eq!(expired_ids(&mut t, 7), vec![b]); // timeout 0: due at once
    assert!(expired_ids(&mut t, u64::MAX - 2).is_empty());
    assert_eq!(expired_ids(&mut t, u64::MAX - 1), vec![c]);
    assert!(t.is_live(a));
    check(&t);
}

#[test]
fn clock_going_backwards_is_harmless() {
    let mut t: ConnTable<u8> = ConnTable::new(8, T);
    let a = ins(&mut t, udp(1), 1000);
    let b = ins(&mut t, udp(2), 500); // earlier than a: goes to the recheck list
    t.touch(a, Dir::Orig, 1, 900); // last_seen does not move back
    assert_eq!(t.get(a).last_seen_ms, 1000);
    check(&t);
    assert!(expired_ids(&mut t, 300_499).is_empty());
    let mut all = expired_ids(&mut t, 301_000 + 300_000 / 16);
    all.sort_unstable();
    assert_eq!(all, vec![a, b]);
}

/// Random traffic against a model: nothing ever expires early, and after an unbounded
/// `expire` nothing is left that is more than `timeout / 16` overdue.
#[test]
fn expiry_model_never_early_bounded_late() {
    let touts = Timeouts {
        tcp_established_ms: 50_000,
        tcp_transitory_ms: 3_000,
        udp_ms: 8_000,
        icmp_ms: 1_600,
        other_ms: 16_000,
    };
    for seed in 1..=4u64 {
        let mut t: ConnTable<u32> = ConnTable::new(64, touts);
        let mut rng = Rng(seed.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let mut now = 0u64;
        let mut n = 0u32;
        let mut total_expired = 0;
        for _ in 0..20_000 {
            now += rng.below(40);
            match rng.below(6) {
                0 | 1 => {
                    n += 1;
                    let proto = [PROTO_TCP, PROTO_UDP, PROTO_ICMP, 99][rng.below(4) as usize];
                    let k = key(n, 1, (n % 60_000) as u16, 80, proto);
                    let tr = if proto == PROTO_TCP { syn_sent() } else { TcpTrack::new() };
                    let _ = t.insert(k, k.reverse(), tr, n, now);
                }
                2 | 3 => {
                    let live: Vec<u32> = t.iter().map(|(id, _)| id).collect();
                    if live.is_empty() {
                        continue;
                    }
                    let id = live[rng.below(live.len() as u64) as usize];
                    let dir = if rng.below(2) == 0 { Dir::Orig } else { Dir::Reply };
                    if t.get(id).orig.proto == PROTO_TCP {
                        let flags = [SYN, SYN | ACK, ACK, ACK, ACK, FIN | ACK, RST][rng.below(7) as usize];
                        let _ = t.get_mut(id).tcp.on_segment(dir, flags);
                    }
                    t.touch(id, dir, 100, now);
                }
                _ => {
                    let budget = if rng.below(4) == 0 { 3 } else { u32::MAX };
                    let tm = t.timeouts;
                    t.expire(now, budget, |_, c| {
                        let to = tm[class_of(c.orig.proto, c.tcp.state) as usize];
                        assert!(c.last_seen_ms + to <= now, "expired early");
                        total_expired += 1;
                    });
                    if budget == u32::MAX {
                        for (id, c) in t.iter() {
                            let to = tm[class_of(c.orig.proto, c.tcp.state) as usize];
                            assert!(
                                now < c.last_seen_ms + to + (to / 16).max(1),
                                "seed {seed}: conn {id} overdue at {now}: {c:?}"
                            );
                        }
                    }
                }
            }
            check(&t);
        }
        assert!(total_expired > 200, "seed {seed}: only {total_expired} expired");
    }
}

#[test]
fn iter_and_flush() {
    let mut t: ConnTable<u32> = ConnTable::new(8, T);
    let ids: Vec<u32> = (0..5).map(|i| ins(&mut t, udp(i), 0)).collect();
    t.remove(ids[1]);
    let listed: Vec<(u32, FlowKey)> = t.iter().map(|(id, c)| (id, c.orig)).collect();
    assert_eq!(listed, vec![(ids[0], udp(0)), (ids[2], udp(2)), (ids[3], udp(3)), (ids[4], udp(4))]);
    let mut flushed = Vec::new();
    t.flush(|id, c| flushed.push((id, c.orig)));
    assert_eq!(flushed, listed);
    assert!(t.is_empty());
    assert_eq!(t.lookup(&udp(0)), None);
    check(&t);
    for i in 0..8 {
        ins(&mut t, udp(i), 1);
    }
    assert_eq!(t.len(), 8);
    check(&t);
}
