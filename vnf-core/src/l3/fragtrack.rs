//! Fragments crossing the stateful path (connection tracking and NAT) untouched in size:
//! only the first fragment of a datagram carries its ports, so the first decides (it is
//! looked up, filtered and translated like any packet) and the others follow it, translated
//! to the addresses it was given (RFC 4787 REQ-14 (MUST): fragments in and out of
//! order). Nothing is reassembled: a fragment that comes before its first waits here,
//! parked, until the first has been decided.
//!
//! # Model
//!
//! An entry per datagram, keyed by (source, destination, protocol, identification) as it
//! arrived. It is created by the first fragment ([`FragTrack::first`]) or by a fragment that
//! comes before it ([`FragTrack::follow`], which parks it), and learns its [`Fate`] when the
//! first fragment has been through the stateful nodes ([`FragTrack::decide`]: the addresses
//! it leaves with, or the worker it was handed to), which releases the parked fragments.
//! Fragments that come later go their way at once. The entry is freed when every byte of the
//! datagram has passed ([`FragTrack::passed`]: the first and last fragment seen and the
//! payload bytes add up), or `timeout_ms` after it was created ([`FragTrack::poll`], which
//! hands back what is still parked to be freed and counted).
//!
//! # Limits
//!
//! `capacity` entries with [`MAX_PARKED`] parked fragments each, all allocated by
//! [`FragTrack::new`]. A datagram that finds the table full, or a fragment that finds its
//! entry's parking full, is refused (the caller drops it, counted). Entries are found by a
//! scan: fragments are rare next to whole packets, and a scan cannot be aimed at.

use super::reass::FragKey;

/// Fragments parked per datagram while its first fragment has not been decided.
pub const MAX_PARKED: usize = 16;

/// What became of a datagram's first fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Not yet decided: later fragments wait.
    Waiting,
    /// It left with these addresses (translated, or as they were).
    Go {
        /// Its source address as it left.
        src: u32,
        /// Its destination address as it left.
        dst: u32,
    },
    /// It was handed to this worker, which owns its connection.
    Handed(u16),
}

/// What to do with a fragment that is not the first.
#[derive(Debug, PartialEq, Eq)]
pub enum Follow<P> {
    /// Its first fragment went this way: the fragment follows (it is given back).
    Go(Fate, P),
    /// It waits for its first fragment.
    Parked,
    /// No room to wait (the table or the entry's parking is full): given back to be dropped.
    Full(P),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: Option<FragKey>,
    fate: Fate,
    deadline_ms: u64,
    parked: usize,
    /// Payload bytes that passed; the datagram's payload length once the last fragment did.
    got: u32,
    total: Option<u32>,
    first: bool,
}

const FREE: Entry =
    Entry { key: None, fate: Fate::Waiting, deadline_ms: 0, parked: 0, got: 0, total: None, first: false };

/// A worker's fragment tracker, generic over the parked item `P`. See the [module
/// documentation](self).
pub struct FragTrack<P> {
    entries: Vec<Entry>,
    parked: Vec<Option<P>>,
    timeout_ms: u64,
}

impl<P> std::fmt::Debug for FragTrack<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragTrack").field("capacity", &self.entries.len()).field("len", &self.len()).finish()
    }
}

impl<P> FragTrack<P> {
    /// A tracker of `capacity` datagrams, each kept at most `timeout_ms`.
    pub fn new(capacity: usize, timeout_ms: u64) -> Self {
        let mut parked = Vec::with_capacity(capacity * MAX_PARKED);
        parked.resize_with(capacity * MAX_PARKED, || None);
        FragTrack { entries: vec![FREE; capacity], parked, timeout_ms }
    }

    /// Datagrams tracked at most.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Datagrams tracked now.
    pub fn len(&self) -> usize {
        self.entries.iter().filter(|e| e.key.is_some()).count()
    }

    /// True when no datagram is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn find(&self, key: &FragKey) -> Option<usize> {
        self.entries.iter().position(|e| e.key.as_ref() == Some(key))
    }

    fn find_or_add(&mut self, now_ms: u64, key: FragKey) -> Option<usize> {
        if let Some(i) = self.find(&key) {
            return Some(i);
        }
        let i = self.entries.iter().position(|e| e.key.is_none())?;
        self.entries[i] = Entry { key: Some(key), deadline_ms: now_ms.saturating_add(self.timeout_ms), ..FREE };
        Some(i)
    }

    /// The fate of `key`'s first fragment, if the datagram is tracked.
    pub fn fate(&self, key: &FragKey) -> Option<Fate> {
        self.find(key).map(|i| self.entries[i].fate)
    }

    /// The first fragment of `key` arrived (before the stateful nodes decide it). False when
    /// the table is full (the caller drops it).
    pub fn first(&mut self, now_ms: u64, key: FragKey) -> bool {
        match self.find_or_add(now_ms, key) {
            Some(i) => {
                self.entries[i].first = true;
                true
            }
            None => false,
        }
    }

    /// The first fragment of `key` was decided: `fate`. The fragments that waited for it are
    /// appended to `out`, in arrival order, to go the same way.
    pub fn decide(&mut self, key: &FragKey, fate: Fate, out: &mut Vec<P>) {
        let Some(i) = self.find(key) else { return };
        self.entries[i].fate = fate;
        let n = std::mem::take(&mut self.entries[i].parked);
        for p in &mut self.parked[i * MAX_PARKED..i * MAX_PARKED + n] {
            out.extend(p.take());
        }
    }

    /// A fragment of `key` that is not the first: see [`Follow`].
    pub fn follow(&mut self, now_ms: u64, key: FragKey, p: P) -> Follow<P> {
        let Some(i) = self.find_or_add(now_ms, key) else { return Follow::Full(p) };
        let e = &mut self.entries[i];
        if e.fate != Fate::Waiting {
            return Follow::Go(e.fate, p);
        }
        if e.parked == MAX_PARKED {
            return Follow::Full(p);
        }
        self.parked[i * MAX_PARKED + e.parked] = Some(p);
        e.parked += 1;
        Follow::Parked
    }

    /// A fragment of `key` with `len` payload bytes left, the last one when `last`: the
    /// entry is freed once the whole datagram has passed.
    pub fn passed(&mut self, key: &FragKey, len: usize, last_at: Option<usize>) {
        let Some(i) = self.find(key) else { return };
        let e = &mut self.entries[i];
        e.got = e.got.saturating_add(len as u32);
        if let Some(end) = last_at {
            e.total = Some(end as u32);
        }
        if e.first && e.total == Some(e.got) {
            self.entries[i] = FREE;
        }
    }

    /// Frees the entries whose time ran out; their parked fragments go to `out`.
    pub fn poll(&mut self, now_ms: u64, out: &mut Vec<P>) {
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            if e.key.is_some() && now_ms >= e.deadline_ms {
                for p in &mut self.parked[i * MAX_PARKED..i * MAX_PARKED + e.parked] {
                    out.extend(p.take());
                }
                self.entries[i] = FREE;
            }
        }
    }

    /// Frees every entry; parked fragments go to `out`.
    pub fn clear(&mut self, out: &mut Vec<P>) {
        self.poll(u64::MAX, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: FragKey = FragKey { src: 1, dst: 2, proto: 17, ident: 9 };

    #[test]
    fn fragments_before_their_first_wait_and_go_its_way() {
        let mut t = FragTrack::new(2, 100);
        assert_eq!(t.follow(0, K, "b"), Follow::Parked);
        assert_eq!(t.follow(0, K, "c"), Follow::Parked);
        assert!(t.first(0, K));
        let mut out = vec![];
        t.decide(&K, Fate::Go { src: 7, dst: 2 }, &mut out);
        assert_eq!(out, vec!["b", "c"], "in arrival order");
        assert_eq!(t.follow(0, K, "d"), Follow::Go(Fate::Go { src: 7, dst: 2 }, "d"));
        // 3000 bytes: 1480 + 1480 + 40 passed (the last at offset 2960)
        t.passed(&K, 1480, None);
        t.passed(&K, 1480, None);
        assert_eq!(t.len(), 1);
        t.passed(&K, 40, Some(3000));
        assert!(t.is_empty(), "freed once the whole datagram passed");
    }

    #[test]
    fn limits_and_timeouts() {
        let mut t = FragTrack::new(1, 100);
        for k in 0..MAX_PARKED {
            assert_eq!(t.follow(0, K, k), Follow::Parked);
        }
        assert_eq!(t.follow(0, K, 99), Follow::Full(99), "the parking is full");
        let other = FragKey { ident: 10, ..K };
        assert!(!t.first(0, other), "the table is full");
        assert_eq!(t.follow(0, other, 5), Follow::Full(5));
        let mut out = vec![];
        t.poll(99, &mut out);
        assert!(out.is_empty());
        t.poll(100, &mut out);
        assert_eq!(out.len(), MAX_PARKED, "what waited is given back");
        assert!(t.first(101, other));
        t.decide(&other, Fate::Handed(3), &mut out);
        assert_eq!(t.follow(101, other, 1), Follow::Go(Fate::Handed(3), 1));
    }
}
