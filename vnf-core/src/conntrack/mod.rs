//! Connection tracking: a fixed-capacity connection table with per-class idle timeouts and a
//! TCP state machine with window tracking ([`tcp`]).
//!
//! Layout of [`ConnTable`], all allocated in [`ConnTable::new`] (nothing allocates later):
//!
//! * a slot array of [`Conn`]s with a free list; a connection id is its slot index;
//! * a key index, open addressing with linear probing over a power-of-two array of
//!   `(32-bit hash tag, id << 1 | dir)` slots, at least `4 * capacity` slots, so at most half
//!   full with both keys of every connection indexed. A lookup compares the tag, then the
//!   full key stored in the connection. Deletion shifts entries back (no tombstones);
//! * index slots are homed by a [keyed hash](crate::hash) of the key ([`FlowKey::hash`],
//!   with the process key, which the table copies at [`ConnTable::new`]): 5-tuples are chosen
//!   by remote senders, and a fixed hash would let them fill one probe run;
//! * prefetching ahead of a burst, in two passes so that the misses of a burst overlap:
//!   [`ConnTable::prefetch_slot`] for the index slot of every packet's hash, then
//!   [`ConnTable::prefetch_conn`] for the connection each (now cached) slot points to;
//! * for expiry, two intrusive doubly-linked lists per timeout class (TCP established, TCP
//!   transitory, UDP, ICMP, other), threaded through the connection slots.
//!
//! Expiry. [`ConnTable::touch`] only writes the connection's own slot (`last_seen_ms`,
//! counters); it relinks only when the TCP state moved the connection to another timeout
//! class. Each connection carries a `stamp`. In the *main* list of a class the stamp is a
//! value `last_seen_ms` had when the connection was linked, and the list is sorted by stamp,
//! so `stamp <= last_seen_ms` for all and the head has the oldest stamp: if
//! `head.stamp + timeout > now` nothing in the list can have expired and [`ConnTable::expire`]
//! stops there. Otherwise it examines the head: if `last_seen_ms + timeout <= now` it is
//! removed; if not (it was touched since it was linked) it is relinked lazily, to the main
//! tail with `stamp = last_seen_ms` if that keeps the list sorted, otherwise (its last packet
//! is older than the newest stamp, the usual case) to the class's *recheck* list with
//! `stamp = now`. The recheck list is sorted too and is examined the same way when
//! `stamp + max(1, timeout / 16) <= now`. So expiry is never early, exact for connections in a
//! main list, and at most `max(1, timeout / 16)` ms late for the others, provided `expire` is
//! called often enough with enough budget. Each call examines at most `budget` connections,
//! stops on a list when it reaches a connection it relinked itself, and starts with a
//! different list each time so that no list starves. Changing the timeouts shifts every
//! deadline uniformly, so it takes effect at the next call. `now_ms` must not go backwards;
//! if it does, nothing breaks but expiry may be late.
//!
//! ```
//! use vnf_core::conntrack::{tcp::TcpTrack, ConnTable, Dir, FlowKey, Timeouts};
//!
//! let mut t: ConnTable<()> = ConnTable::new(1024, Timeouts::default());
//! let k = FlowKey { src: 0x0a00_0001, dst: 0x0808_0808, sport: 5353, dport: 53, proto: 17 };
//! let id = t.insert(k, k.reverse(), TcpTrack::new(), (), 0).unwrap();
//! assert_eq!(t.lookup(&k.reverse()), Some((id, Dir::Reply)));
//! t.touch(id, Dir::Reply, 120, 10);
//! assert_eq!(t.expire(300_009, 256, |_, _| {}), 0); // UDP: 300 s after the last packet
//! assert_eq!(t.expire(300_010, 256, |_, _| {}), 1);
//! ```

pub mod tcp;

use crate::hash;
use crate::prefetch;

#[cfg(test)]
mod tests;

/// Largest capacity [`ConnTable::new`] accepts; larger requests are clamped.
pub const MAX_CAPACITY: u32 = 1 << 24;

/// IP protocol numbers that select a timeout class.
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// A connection's key as seen in one direction. Addresses and ports in host byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port (ICMP echo: the identifier).
    pub sport: u16,
    /// Destination port (ICMP echo: the identifier).
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
}

impl From<crate::wire::Ipv4Tuple> for FlowKey {
    #[inline(always)]
    fn from(t: crate::wire::Ipv4Tuple) -> FlowKey {
        FlowKey { src: t.src, dst: t.dst, sport: t.sport, dport: t.dport, proto: t.proto }
    }
}

impl FlowKey {
    /// The key of a packet travelling the other way.
    pub fn reverse(&self) -> FlowKey {
        FlowKey { src: self.dst, dst: self.src, sport: self.dport, dport: self.sport, proto: self.proto }
    }

    /// The 32-bit hash the connection table indexes this key by: [`FlowKey::hash_with`] the
    /// process key. Equal to [`ConnTable::hash`] of every table of the process; a table's
    /// method reads its own copy of the key, this one the process global.
    #[inline]
    pub fn hash(&self) -> u32 {
        self.hash_with(&hash::Key::process())
    }

    /// A well-mixed 32-bit keyed hash of the 104 key bits: addresses packed in one word,
    /// ports and protocol in the other (injectively), then [`hash::Key::words`].
    #[inline]
    pub fn hash_with(&self, key: &hash::Key) -> u32 {
        let a = (u64::from(self.src) << 32) | u64::from(self.dst);
        let b = (u64::from(self.sport) << 24) | (u64::from(self.dport) << 8) | u64::from(self.proto);
        key.words(a, b) as u32
    }
}

/// Direction of a packet relative to the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Same direction as the packet that created the connection.
    Orig = 0,
    /// The other direction.
    Reply = 1,
}

impl Dir {
    /// The other direction.
    pub fn flip(self) -> Dir {
        match self {
            Dir::Orig => Dir::Reply,
            Dir::Reply => Dir::Orig,
        }
    }

    /// 0 for `Orig`, 1 for `Reply` (index into [`Conn::packets`] and [`Conn::bytes`]).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Idle timeouts in milliseconds, per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP in state `Established`.
    pub tcp_established_ms: u64,
    /// TCP in any other state (handshake, closing, time-wait, reset).
    pub tcp_transitory_ms: u64,
    /// UDP.
    pub udp_ms: u64,
    /// ICMP (protocol 1).
    pub icmp_ms: u64,
    /// Any other protocol.
    pub other_ms: u64,
}

impl Default for Timeouts {
    /// 7440 s, 240 s, 300 s, 60 s, 600 s (RFC 5382 / RFC 4787 minimums where they exist).
    fn default() -> Self {
        Timeouts {
            tcp_established_ms: 7_440_000,
            tcp_transitory_ms: 240_000,
            udp_ms: 300_000,
            icmp_ms: 60_000,
            other_ms: 600_000,
        }
    }
}

/// Timeout classes (indices into the per-class lists).
const CLASS_TCP_EST: u8 = 0;
const CLASS_TCP_TRANS: u8 = 1;
const CLASS_UDP: u8 = 2;
const CLASS_ICMP: u8 = 3;
const CLASS_OTHER: u8 = 4;
const NCLASS: usize = 5;
/// Two lists per class: `class * 2` is the main list, `class * 2 + 1` the recheck list.
const NLIST: usize = NCLASS * 2;
/// `Conn::list` of a free slot.
const FREE: u8 = u8::MAX;
/// End of a list / no connection.
const NIL: u32 = u32::MAX;
/// Value of an empty index slot.
const EMPTY: u32 = u32::MAX;

fn class_of(proto: u8, state: tcp::TcpState) -> u8 {
    match proto {
        PROTO_TCP if state == tcp::TcpState::Established => CLASS_TCP_EST,
        PROTO_TCP => CLASS_TCP_TRANS,
        PROTO_UDP => CLASS_UDP,
        PROTO_ICMP => CLASS_ICMP,
        _ => CLASS_OTHER,
    }
}

/// One tracked connection.
#[derive(Clone, Copy, Debug)]
pub struct Conn<V> {
    /// Key of packets in the original direction.
    pub orig: FlowKey,
    /// Key of packets in the reply direction.
    pub reply: FlowKey,
    /// TCP tracking state (state `None` for other protocols).
    pub tcp: tcp::TcpTrack,
    /// Last packet (ms); written by [`ConnTable::touch`].
    pub last_seen_ms: u64,
    /// Creation time (ms).
    pub created_ms: u64,
    /// Packets per direction ([`Dir::index`]).
    pub packets: [u64; 2],
    /// Bytes per direction ([`Dir::index`]).
    pub bytes: [u64; 2],
    /// Caller data (e.g. NAT binding).
    pub data: V,
    prev: u32,
    next: u32,
    /// See the module documentation.
    stamp_ms: u64,
    hash_orig: u32,
    hash_reply: u32,
    /// Which expiry list the connection is on, or [`FREE`].
    list: u8,
}

/// Why [`ConnTable::insert`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// `capacity` connections exist.
    Full,
    /// One of the keys is already indexed (or both keys are equal).
    Exists,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    tag: u32,
    val: u32,
}

const EMPTY_SLOT: Slot = Slot { tag: 0, val: EMPTY };

/// Fixed-capacity connection table; see the module documentation.
pub struct ConnTable<V: Copy + Default> {
    conns: Vec<Conn<V>>,
    index: Vec<Slot>,
    mask: u32,
    /// The process hash key, copied here so the packet path never reads the global.
    hash_key: hash::Key,
    free: u32,
    len: u32,
    head: [u32; NLIST],
    tail: [u32; NLIST],
    timeouts: [u64; NCLASS],
    /// First list examined by the next [`ConnTable::expire`] call (round robin).
    cursor: usize,
    /// Connections examined by `expire` so far (tests and diagnostics).
    examined: u64,
}

impl<V: Copy + Default> ConnTable<V> {
    /// Preallocates `capacity` connections (clamped to [`MAX_CAPACITY`]) and a key index of
    /// `(4 * capacity).next_power_of_two()` slots (at least 4).
    pub fn new(capacity: u32, timeouts: Timeouts) -> Self {
        let cap = capacity.min(MAX_CAPACITY);
        let slots = (cap as usize * 4).next_power_of_two().max(4);
        let blank = Conn {
            orig: FlowKey::default(),
            reply: FlowKey::default(),
            tcp: tcp::TcpTrack::new(),
            last_seen_ms: 0,
            created_ms: 0,
            packets: [0; 2],
            bytes: [0; 2],
            data: V::default(),
            prev: NIL,
            next: NIL,
            stamp_ms: 0,
            hash_orig: 0,
            hash_reply: 0,
            list: FREE,
        };
        let conns = (0..cap).map(|i| Conn { next: if i + 1 < cap { i + 1 } else { NIL }, ..blank }).collect();
        let mut t = ConnTable {
            conns,
            index: vec![EMPTY_SLOT; slots],
            mask: (slots - 1) as u32,
            hash_key: hash::Key::process(),
            free: if cap > 0 { 0 } else { NIL },
            len: 0,
            head: [NIL; NLIST],
            tail: [NIL; NLIST],
            timeouts: [0; NCLASS],
            cursor: 0,
            examined: 0,
        };
        t.set_timeouts(timeouts);
        t
    }

    /// Replaces the timeouts; existing connections use them from the next
    /// [`ConnTable::expire`] call on.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = [t.tcp_established_ms, t.tcp_transitory_ms, t.udp_ms, t.icmp_ms, t.other_ms];
    }

    /// The current timeouts.
    pub fn timeouts(&self) -> Timeouts {
        let [tcp_established_ms, tcp_transitory_ms, udp_ms, icmp_ms, other_ms] = self.timeouts;
        Timeouts { tcp_established_ms, tcp_transitory_ms, udp_ms, icmp_ms, other_ms }
    }

    /// Maximum number of connections.
    pub fn capacity(&self) -> u32 {
        self.conns.len() as u32
    }

    /// Number of live connections.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// No live connection.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `id` is a live connection.
    pub fn is_live(&self, id: u32) -> bool {
        self.conns.get(id as usize).is_some_and(|c| c.list != FREE)
    }

    /// The hash this table indexes `k` by, from the table's own copy of the process key
    /// (the same value as [`FlowKey::hash`], without reading the process global): what
    /// [`ConnTable::lookup_hashed`], [`ConnTable::prefetch_slot`] and
    /// [`ConnTable::prefetch_conn`] take.
    #[inline]
    pub fn hash(&self, k: &FlowKey) -> u32 {
        k.hash_with(&self.hash_key)
    }

    /// First prefetch pass: the index slot where a lookup of hash `h` starts. A hint only:
    /// any `h` is fine.
    #[inline]
    pub fn prefetch_slot(&self, h: u32) {
        prefetch::read(self.index.as_ptr().wrapping_add((h & self.mask) as usize));
    }

    /// Second prefetch pass, once [`ConnTable::prefetch_slot`] brought the slot in: the
    /// connection that slot points to, if it holds one with hash `h` (the likely hit). Reads
    /// the slot; any `h` is fine.
    #[inline]
    pub fn prefetch_conn(&self, h: u32) {
        if let Some(s) = self.index.get((h & self.mask) as usize) {
            if s.val != EMPTY && s.tag == h {
                prefetch::read(self.conns.as_ptr().wrapping_add((s.val >> 1) as usize));
            }
        }
    }

    /// The connection a packet with key `k` belongs to, and its direction.
    #[inline]
    pub fn lookup(&self, k: &FlowKey) -> Option<(u32, Dir)> {
        self.lookup_hashed(k, self.hash(k))
    }

    /// [`ConnTable::lookup`] with `h == self.hash(k)` (`== k.hash()`) precomputed (a wrong
    /// `h` only makes the lookup miss).
    #[inline]
    pub fn lookup_hashed(&self, k: &FlowKey, h: u32) -> Option<(u32, Dir)> {
        let mut i = h & self.mask;
        loop {
            let s = self.index[i as usize];
            if s.val == EMPTY {
                return None;
            }
            if s.tag == h {
                let c = &self.conns[(s.val >> 1) as usize];
                let (key, dir) = if s.val & 1 == 0 { (&c.orig, Dir::Orig) } else { (&c.reply, Dir::Reply) };
                if key == k {
                    return Some((s.val >> 1, dir));
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Creates a connection keyed by `orig` and `reply` (the key replies carry, which differs
    /// from `orig.reverse()` under NAT), with `created_ms = last_seen_ms = now_ms` and zero
    /// counters. `Exists` takes precedence over `Full`; equal keys are `Exists` since the
    /// directions could not be told apart.
    pub fn insert(
        &mut self,
        orig: FlowKey,
        reply: FlowKey,
        tcp: tcp::TcpTrack,
        data: V,
        now_ms: u64,
    ) -> Result<u32, InsertError> {
        let (ho, hr) = (self.hash(&orig), self.hash(&reply));
        if orig == reply || self.lookup_hashed(&orig, ho).is_some() || self.lookup_hashed(&reply, hr).is_some() {
            return Err(InsertError::Exists);
        }
        let id = self.free;
        if id == NIL {
            return Err(InsertError::Full);
        }
        let c = &mut self.conns[id as usize];
        self.free = c.next;
        *c = Conn {
            orig,
            reply,
            tcp,
            last_seen_ms: now_ms,
            created_ms: now_ms,
            packets: [0; 2],
            bytes: [0; 2],
            data,
            prev: NIL,
            next: NIL,
            stamp_ms: now_ms,
            hash_orig: ho,
            hash_reply: hr,
            list: FREE,
        };
        self.index_insert(ho, id << 1);
        self.index_insert(hr, (id << 1) | 1);
        let class = class_of(orig.proto, tcp.state);
        self.link(class, id, now_ms, now_ms);
        self.len += 1;
        Ok(id)
    }

    /// The connection `id`. Panics if `id >= capacity`; a free `id` is a bug of the caller
    /// (debug builds panic, release builds return stale data).
    #[inline]
    pub fn get(&self, id: u32) -> &Conn<V> {
        let c = &self.conns[id as usize];
        debug_assert!(c.list != FREE, "conntrack: get({id}) of a free slot");
        c
    }

    /// Mutable access to connection `id` (same conditions as [`ConnTable::get`]). Update
    /// `tcp` and `data` here; do not change `orig`/`reply` (the index keeps the hashes given
    /// to `insert`, so a changed key is simply no longer found).
    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut Conn<V> {
        let c = &mut self.conns[id as usize];
        debug_assert!(c.list != FREE, "conntrack: get_mut({id}) of a free slot");
        c
    }

    /// Records a packet of `bytes` bytes in direction `dir`: `last_seen_ms = now_ms` (never
    /// moved backwards) and the counters. Call after updating `conn.tcp`: if the TCP state
    /// changed the timeout class, the connection moves to the new class's list (O(1)).
    /// Otherwise only the connection's own slot is written. A non-live `id` is ignored.
    #[inline]
    pub fn touch(&mut self, id: u32, dir: Dir, bytes: u32, now_ms: u64) {
        let Some(c) = self.conns.get_mut(id as usize) else {
            return;
        };
        if c.list == FREE {
            return;
        }
        if now_ms > c.last_seen_ms {
            c.last_seen_ms = now_ms;
        }
        let d = dir.index();
        c.packets[d] = c.packets[d].wrapping_add(1);
        c.bytes[d] = c.bytes[d].wrapping_add(u64::from(bytes));
        let class = class_of(c.orig.proto, c.tcp.state);
        if class != c.list >> 1 {
            let last_seen = c.last_seen_ms;
            self.unlink(id);
            self.link(class, id, last_seen, now_ms);
        }
    }

    /// When connection `id` becomes eligible for expiry: `last_seen_ms` plus the timeout of
    /// its current class (for a control listing). Same conditions as [`ConnTable::get`].
    pub fn expires_at_ms(&self, id: u32) -> u64 {
        let c = self.get(id);
        let class = class_of(c.orig.proto, c.tcp.state);
        c.last_seen_ms.saturating_add(self.timeouts[class as usize])
    }

    /// Removes connection `id` (both keys) and returns it.
    ///
    /// # Panics
    /// If `id` is not a live connection.
    pub fn remove(&mut self, id: u32) -> Conn<V> {
        assert!(self.is_live(id), "conntrack: remove({id}) of a free slot");
        let c = self.conns[id as usize];
        self.index_remove(c.hash_orig, id << 1);
        self.index_remove(c.hash_reply, (id << 1) | 1);
        self.unlink(id);
        let slot = &mut self.conns[id as usize];
        slot.list = FREE;
        slot.prev = NIL;
        slot.next = self.free;
        self.free = id;
        self.len -= 1;
        c
    }

    /// Removes connections idle for at least their class timeout (`last_seen_ms + timeout
    /// <= now_ms`), examining at most `budget` connections; `f` is called with each one after
    /// its removal. Returns the number removed.
    pub fn expire(&mut self, now_ms: u64, budget: u32, mut f: impl FnMut(u32, &Conn<V>)) -> u32 {
        let mut left = budget;
        let mut expired = 0;
        // first connection appended to each list during this call: reaching it again means
        // the list has been gone through (a guard; the stamp checks stop earlier)
        let mut first = [NIL; NLIST];
        let start = self.cursor;
        self.cursor = (self.cursor + 1) % NLIST;
        for k in 0..NLIST {
            let list = (start + k) % NLIST;
            let class = list >> 1;
            let timeout = self.timeouts[class];
            // the main list is due at stamp + timeout, the recheck list at stamp + timeout/16
            let due_after = if list & 1 == 0 { timeout } else { (timeout / 16).max(1) };
            while left > 0 {
                let id = self.head[list];
                if id == NIL || id == first[list] {
                    break;
                }
                let c = &self.conns[id as usize];
                if c.stamp_ms.saturating_add(due_after) > now_ms {
                    break;
                }
                left -= 1;
                self.examined = self.examined.wrapping_add(1);
                if c.last_seen_ms.saturating_add(timeout) <= now_ms {
                    let gone = self.remove(id);
                    f(id, &gone);
                    expired += 1;
                } else {
                    let last_seen = c.last_seen_ms;
                    self.unlink(id);
                    let to = self.link(class as u8, id, last_seen, now_ms);
                    if first[to] == NIL {
                        first[to] = id;
                    }
                }
            }
            if left == 0 {
                break;
            }
        }
        expired
    }

    /// Live connections in id order (not for the fast path: visits every slot).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Conn<V>)> + '_ {
        self.conns.iter().enumerate().filter(|(_, c)| c.list != FREE).map(|(i, c)| (i as u32, c))
    }

    /// Live connections with ids in `from..from + n`, in id order: a listing done a slice
    /// at a time so no single call holds a worker long.
    pub fn iter_range(&self, from: u32, n: u32) -> impl Iterator<Item = (u32, &Conn<V>)> + '_ {
        let end = from.saturating_add(n).min(self.capacity());
        (from.min(end)..end).filter_map(move |i| {
            let c = &self.conns[i as usize];
            (c.list != FREE).then_some((i, c))
        })
    }

    /// Removes every connection, calling `f` with each after its removal.
    pub fn flush(&mut self, mut f: impl FnMut(u32, &Conn<V>)) {
        for id in 0..self.capacity() {
            if self.is_live(id) {
                let c = self.remove(id);
                f(id, &c);
            }
        }
    }

    // ---- key index ----

    fn index_insert(&mut self, h: u32, val: u32) {
        let mut i = h & self.mask;
        while self.index[i as usize].val != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.index[i as usize] = Slot { tag: h, val };
    }

    /// Deletes the slot holding `val` (probing from `h`), shifting later entries of the
    /// probe run back so that no lookup ever crosses a hole.
    fn index_remove(&mut self, h: u32, val: u32) {
        let mask = self.mask;
        let mut i = h & mask;
        loop {
            let s = self.index[i as usize];
            if s.val == val {
                break;
            }
            if s.val == EMPTY {
                debug_assert!(false, "conntrack: index entry {val:#x} missing");
                return;
            }
            i = (i + 1) & mask;
        }
        // `i` is the hole. Move back the first later entry of the run whose home is not
        // cyclically in (i, j]; repeat with its old place as the hole.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let s = self.index[j as usize];
            if s.val == EMPTY {
                break;
            }
            let home = s.tag & mask;
            let stays = if i <= j { i < home && home <= j } else { i < home || home <= j };
            if !stays {
                self.index[i as usize] = s;
                i = j;
            }
        }
        self.index[i as usize] = EMPTY_SLOT;
    }

    // ---- expiry lists ----

    /// Appends `id` to the main list of `class` with stamp `last_seen` if that keeps the list
    /// sorted, else to the class's recheck list with stamp `now`. Returns the list.
    fn link(&mut self, class: u8, id: u32, last_seen: u64, now: u64) -> usize {
        let main = class as usize * 2;
        let t = self.tail[main];
        let (list, stamp) =
            if t == NIL || self.conns[t as usize].stamp_ms <= last_seen { (main, last_seen) } else { (main + 1, now) };
        let t = self.tail[list];
        let c = &mut self.conns[id as usize];
        c.stamp_ms = stamp;
        c.list = list as u8;
        c.prev = t;
        c.next = NIL;
        if t == NIL {
            self.head[list] = id;
        } else {
            self.conns[t as usize].next = id;
        }
        self.tail[list] = id;
        list
    }

    fn unlink(&mut self, id: u32) {
        let c = &self.conns[id as usize];
        let (prev, next, list) = (c.prev, c.next, c.list as usize);
        if prev == NIL {
            self.head[list] = next;
        } else {
            self.conns[prev as usize].next = next;
        }
        if next == NIL {
            self.tail[list] = prev;
        } else {
            self.conns[next as usize].prev = prev;
        }
    }
}

/// Which connections a control listing or flush applies to: every given field must match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Source address of the original direction.
    pub src: Option<u32>,
    /// Destination address of the original direction.
    pub dst: Option<u32>,
    /// IP protocol.
    pub proto: Option<u8>,
    /// Any port (or echo identifier) of either direction.
    pub port: Option<u16>,
}

impl Filter {
    /// True if connection `c` matches.
    pub fn matches<V>(&self, c: &Conn<V>) -> bool {
        self.src.is_none_or(|a| c.orig.src == a)
            && self.dst.is_none_or(|a| c.orig.dst == a)
            && self.proto.is_none_or(|p| c.orig.proto == p)
            && self.port.is_none_or(|p| [c.orig.sport, c.orig.dport, c.reply.sport, c.reply.dport].contains(&p))
    }
}
