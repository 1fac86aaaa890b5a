//! The neighbour (ARP) cache, with a bounded queue of packets waiting for resolution, and
//! neighbour unreachability detection as RFC 1122 2.3.2.1 asks and Linux's NUD does it.
//!
//! # Model
//!
//! A [`NeighTable`] maps (interface, IPv4 next hop) to a MAC address. Entries move through
//! these states (times are the caller's `now_ms`, so tests inject a clock):
//!
//! * **INCOMPLETE**: created by the first [`NeighTable::resolve`] of an unknown address,
//!   which queues the packet and answers `Queued { send_request: true }`. Later packets are
//!   queued (`send_request: false`) up to [`NeighConfig::max_pending`], then dropped with
//!   [`NeighDrop::PendingFull`]. [`NeighTable::poll`] asks for a broadcast retry every
//!   [`NeighConfig::retry_ms`], exactly [`NeighConfig::max_retries`] times (so
//!   `1 + max_retries` requests in all); `retry_ms` after the last retry with no answer the
//!   entry becomes FAILED and its queued packets are handed back to be freed.
//! * **REACHABLE**: set by [`NeighTable::learn`] (an ARP reply, request or gratuitous ARP
//!   from the neighbour: any ARP confirms), which hands the queued packets back in arrival
//!   order. Confirmed for [`NeighConfig::reachable_ms`] after the last ARP from the
//!   neighbour; then it is **STALE** (lazily: a send past the deadline treats it as STALE
//!   at once; `poll` marks it when it passes it).
//! * **STALE**: the MAC is still used. The first packet sent on it
//!   ([`NeighTable::send_mac`] or `resolve`) moves it to DELAY; an unused STALE entry is
//!   removed [`NeighConfig::stale_ms`] after it became STALE (Linux `gc_stale_time`).
//! * **DELAY**: packets keep going to the known MAC; an ARP from the neighbour within
//!   [`NeighConfig::delay_ms`] (Linux `delay_first_probe_time`) makes it REACHABLE
//!   again, otherwise `poll` moves it to PROBE and asks for the first unicast probe.
//! * **PROBE**: packets keep going to the known MAC while `poll` asks for a unicast ARP
//!   request to that MAC ([`Request::unicast`]) every `retry_ms`, [`NeighConfig::probes`]
//!   times in all (Linux `ucast_probes`, `retrans_time`). Any ARP from the neighbour makes
//!   it REACHABLE; `retry_ms` after the last unanswered probe the entry is removed (counted
//!   by `poll`'s return value), so the next packet starts a fresh broadcast resolution.
//! * **FAILED**: answers [`NeighDrop::Unreachable`] for [`NeighConfig::failed_hold_ms`]; after
//!   that the next `resolve` starts a fresh resolution (and `poll` frees the slot).
//! * **STATIC**: installed by [`NeighTable::add_static`]; never expires, is not overridden by
//!   `learn` and survives [`NeighTable::flush`] (only [`NeighTable::remove`] deletes it).
//!
//! Invariants: an entry has a MAC exactly in REACHABLE, STALE, DELAY, PROBE and STATIC, and
//! a packet for it is then sent at once (never queued): expiry never takes a live next hop
//! away, only a failed probe does. Packets are queued only on INCOMPLETE entries (and one
//! made STATIC while packets waited, until `poll` releases them). Each state's
//! `deadline_ms` means one thing: INCOMPLETE the next retry, REACHABLE the end of the
//! confirmation, STALE its removal when unused, DELAY the first probe, PROBE the next probe
//! or the failure, FAILED the end of the hold.
//!
//! # Storage
//!
//! All storage is allocated by [`NeighTable::new`]: a slab of `capacity` entries with a free
//! list, an open-addressing index (linear probing, backward-shift deletion, at most 50 %
//! full, homed by the [keyed hash](crate::hash) of (interface, address) with the process key
//! so that remote hosts cannot aim collisions), and
//! `capacity × max_pending` pending slots, one fixed ring per entry. No method allocates
//! afterwards, except that the caller-owned `out`/`requests`/`failed` vectors grow if they
//! lack capacity (reuse them to avoid that).
//!
//! Prefetching ahead of a burst takes two passes, as the lookup makes two dependent reads:
//! [`NeighTable::prefetch`] for the index bucket of every packet's next hop, then
//! [`NeighTable::prefetch_entry`] for the entry each (now cached) bucket points to.

use std::fmt;

use crate::hash;
use crate::prefetch;
use crate::wire::MacAddr;

/// Largest number of entries a table may have; larger capacities are clamped.
pub const MAX_CAPACITY: usize = 1 << 22;
/// Largest per-entry pending queue; larger [`NeighConfig::max_pending`] values are clamped.
pub const MAX_PENDING: usize = 1024;

/// Timers and limits of a [`NeighTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighConfig {
    /// How long a confirmed entry stays REACHABLE (default 300 000 ms).
    pub reachable_ms: u64,
    /// Interval between ARP requests of an INCOMPLETE entry, and between the unicast probes
    /// of a PROBE entry (default 1000 ms, Linux `retrans_time`).
    pub retry_ms: u64,
    /// Retries after the first request before the entry becomes FAILED (default 3).
    pub max_retries: u8,
    /// How long a used STALE entry waits in DELAY for a confirmation before it is probed
    /// (default 5000 ms, Linux `delay_first_probe_time`).
    pub delay_ms: u64,
    /// Unicast probes of a PROBE entry before it is removed (default 3, Linux
    /// `ucast_probes`; 0 is taken as 1).
    pub probes: u8,
    /// How long an unused STALE entry is kept (default 60 000 ms, Linux `gc_stale_time`).
    pub stale_ms: u64,
    /// How long a FAILED entry answers Unreachable before a new resolution may start
    /// (default 3000 ms).
    pub failed_hold_ms: u64,
    /// Packets queued per INCOMPLETE entry (default 4; clamped to `1..=MAX_PENDING`).
    pub max_pending: usize,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            reachable_ms: 300_000,
            retry_ms: 1000,
            max_retries: 3,
            delay_ms: 5000,
            probes: 3,
            stale_ms: 60_000,
            failed_hold_ms: 3000,
            max_pending: 4,
        }
    }
}

/// What the caller (the worker) must do with a packet for next hop `ip` on interface `ifx`.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolve<P> {
    /// Send now with this destination MAC; the packet is handed back.
    Known(MacAddr, P),
    /// The packet was queued; send an ARP request if `send_request`.
    Queued {
        /// True when this call started the resolution.
        send_request: bool,
    },
    /// The packet is given back to be freed and counted.
    Dropped(P, NeighDrop),
}

/// Why [`NeighTable::resolve`] gave a packet back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighDrop {
    /// The entry is INCOMPLETE and its pending queue is full.
    PendingFull,
    /// The entry is FAILED (within `failed_hold_ms`).
    Unreachable,
    /// The address is unknown and the table has no free entry.
    TableFull,
}

impl NeighDrop {
    /// Kebab-case name for counters.
    pub const fn name(self) -> &'static str {
        match self {
            NeighDrop::PendingFull => "neigh-pending-full",
            NeighDrop::Unreachable => "neigh-unreachable",
            NeighDrop::TableFull => "neigh-table-full",
        }
    }
}

/// The state of a neighbour entry, as reported by [`NeighTable::iter`] (see the [module
/// documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighState {
    /// Resolution in progress; packets may be queued.
    Incomplete,
    /// MAC confirmed by ARP within the reachable time (reported until `poll` passes an
    /// entry whose time is up).
    Reachable,
    /// MAC known but not confirmed lately; still used.
    Stale,
    /// Used while STALE: waiting for a confirmation before it is probed.
    Delay,
    /// Being re-validated by unicast ARP requests; still used.
    Probe,
    /// Resolution failed; answers Unreachable during the hold time.
    Failed,
    /// Configured; never expires.
    Static,
}

impl NeighState {
    /// Lower-case name for the CLI and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            NeighState::Incomplete => "incomplete",
            NeighState::Reachable => "reachable",
            NeighState::Stale => "stale",
            NeighState::Delay => "delay",
            NeighState::Probe => "probe",
            NeighState::Failed => "failed",
            NeighState::Static => "static",
        }
    }
}

/// An ARP request [`NeighTable::poll`] asks the caller to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Interface index.
    pub ifx: u16,
    /// The address asked for (host order).
    pub ip: u32,
    /// None: a broadcast request (resolving an INCOMPLETE entry); Some: a unicast probe to
    /// the MAC the entry has (Ethernet destination; Linux `arp_solicit` with `neigh->ha`).
    pub unicast: Option<MacAddr>,
}

/// A snapshot of one entry, as reported by [`NeighTable::iter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighEntry {
    /// Interface index.
    pub ifx: u16,
    /// Neighbour IPv4 address (host order).
    pub ip: u32,
    /// Entry state.
    pub state: NeighState,
    /// The MAC address, for REACHABLE, STALE, DELAY, PROBE and STATIC entries.
    pub mac: Option<MacAddr>,
    /// Number of queued packets.
    pub pending: usize,
    /// When the entry was created or its MAC last confirmed (the caller's clock; 0 for
    /// STATIC entries).
    pub since_ms: u64,
}

/// Internal slot state (`Free` = unused slab slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    Static,
}

/// One slab entry.
#[derive(Clone, Copy, Debug)]
struct Entry {
    state: Slot,
    ifx: u16,
    /// INCOMPLETE: retries sent; PROBE: probes sent.
    retries: u8,
    ip: u32,
    mac: MacAddr,
    /// INCOMPLETE: next retry; REACHABLE: end of the confirmation; STALE: removal when
    /// unused; DELAY: first probe; PROBE: next probe or failure; FAILED: end of hold.
    deadline_ms: u64,
    /// Created (resolution started) or last confirmed.
    since_ms: u64,
    /// First pending packet in this entry's ring.
    head: usize,
    /// Number of pending packets.
    count: usize,
}

const FREE_ENTRY: Entry = Entry {
    state: Slot::Free,
    ifx: 0,
    retries: 0,
    ip: 0,
    mac: MacAddr([0; 6]),
    deadline_ms: 0,
    since_ms: 0,
    head: 0,
    count: 0,
};

/// Empty index bucket.
const EMPTY: u32 = u32::MAX;

/// Fixed-capacity neighbour cache, generic over the pending item type `P` (an mbuf in the
/// appliance; a `Vec<u8>` in tests). See the [module documentation](self).
pub struct NeighTable<P> {
    cfg: NeighConfig,
    entries: Vec<Entry>,
    /// `entries.len() * cfg.max_pending` slots; entry `i` owns
    /// `pending[i * max_pending .. (i + 1) * max_pending]` as a ring.
    pending: Vec<Option<P>>,
    /// Open-addressing index of slab slot numbers (`EMPTY` when unused); power-of-two size.
    index: Vec<u32>,
    /// Free slab slots (a stack).
    free: Vec<u32>,
    len: usize,
    /// Next slot `poll` examines.
    cursor: usize,
    /// The process hash key, copied here so the packet path never reads the global.
    hash_key: hash::Key,
}

impl<P> fmt::Debug for NeighTable<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NeighTable")
            .field("len", &self.len)
            .field("capacity", &self.entries.len())
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl<P> NeighTable<P> {
    /// Creates a table of `capacity` entries (clamped to [`MAX_CAPACITY`]). All storage
    /// (entries, index, and `capacity × max_pending` pending slots) is allocated here.
    /// `cfg.max_pending` is clamped to `1..=MAX_PENDING`.
    pub fn new(capacity: usize, cfg: NeighConfig) -> Self {
        let capacity = capacity.min(MAX_CAPACITY);
        let cfg = NeighConfig { max_pending: cfg.max_pending.clamp(1, MAX_PENDING), probes: cfg.probes.max(1), ..cfg };
        let slots = capacity * cfg.max_pending;
        let mut pending = Vec::with_capacity(slots);
        pending.resize_with(slots, || None);
        let index_len = (capacity * 2).next_power_of_two().max(2);
        // Slot numbers fit in u32 because capacity <= MAX_CAPACITY.
        let free: Vec<u32> = (0..capacity as u32).rev().collect();
        NeighTable {
            cfg,
            entries: vec![FREE_ENTRY; capacity],
            pending,
            index: vec![EMPTY; index_len],
            free,
            len: 0,
            cursor: 0,
            hash_key: hash::Key::process(),
        }
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> NeighConfig {
        self.cfg
    }

    /// Maximum number of entries.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Look up `ip` on interface `ifx` (u16) for packet `pkt`; see [`Resolve`] for what the
    /// caller must do. An entry with a MAC answers `Known` (a STALE one, or a REACHABLE one
    /// past its time, moves to DELAY as [`NeighTable::send_mac`] says). Never allocates.
    pub fn resolve(&mut self, ifx: u16, ip: u32, pkt: P, now_ms: u64) -> Resolve<P> {
        let slot = match self.find(ifx, ip) {
            Some((_, slot)) => slot,
            None => match self.insert(ifx, ip) {
                Some(slot) => return self.start_resolution(slot, pkt, now_ms),
                None => return Resolve::Dropped(pkt, NeighDrop::TableFull),
            },
        };
        if let Some(mac) = self.use_slot(slot, now_ms) {
            return Resolve::Known(mac, pkt);
        }
        let Some(e) = self.entries.get(slot).copied() else {
            return Resolve::Dropped(pkt, NeighDrop::TableFull);
        };
        match e.state {
            Slot::Incomplete => match self.push_pending(slot, pkt) {
                Ok(()) => Resolve::Queued { send_request: false },
                Err(pkt) => Resolve::Dropped(pkt, NeighDrop::PendingFull),
            },
            Slot::Failed if now_ms < e.deadline_ms => Resolve::Dropped(pkt, NeighDrop::Unreachable),
            // FAILED past its hold: start over in place.
            _ => self.start_resolution(slot, pkt, now_ms),
        }
    }

    /// The MAC to send a packet for `ip` on `ifx` to now, when the entry has one (REACHABLE,
    /// STALE, DELAY, PROBE, STATIC): the packet path's lookup. Using a STALE entry (or a
    /// REACHABLE one past its time) moves it to DELAY, so that it is probed unless an ARP
    /// from the neighbour confirms it first. None for INCOMPLETE, FAILED and unknown
    /// addresses (the caller then parks the packet with `resolve`). Never allocates.
    #[inline]
    pub fn send_mac(&mut self, ifx: u16, ip: u32, now_ms: u64) -> Option<MacAddr> {
        let (_, slot) = self.find(ifx, ip)?;
        self.use_slot(slot, now_ms)
    }

    /// Lookup without sending (changes nothing): the MAC of the entry, when it has one
    /// (REACHABLE, STALE, DELAY, PROBE, STATIC).
    pub fn lookup(&self, ifx: u16, ip: u32) -> Option<MacAddr> {
        let (_, slot) = self.find(ifx, ip)?;
        let e = self.entries.get(slot)?;
        match e.state {
            Slot::Reachable | Slot::Stale | Slot::Delay | Slot::Probe | Slot::Static => Some(e.mac),
            Slot::Free | Slot::Incomplete | Slot::Failed => None,
        }
    }

    /// A packet is sent on `slot`: its MAC if it has one; STALE (or REACHABLE past its
    /// time) becomes DELAY.
    #[inline]
    fn use_slot(&mut self, slot: usize, now_ms: u64) -> Option<MacAddr> {
        let delay_ms = self.cfg.delay_ms;
        let e = self.entries.get_mut(slot)?;
        match e.state {
            Slot::Static | Slot::Delay | Slot::Probe => Some(e.mac),
            Slot::Reachable if now_ms < e.deadline_ms => Some(e.mac),
            Slot::Reachable | Slot::Stale => {
                e.state = Slot::Delay;
                e.deadline_ms = now_ms.saturating_add(delay_ms);
                Some(e.mac)
            }
            Slot::Free | Slot::Incomplete | Slot::Failed => None,
        }
    }

    /// An ARP reply or request from `ip` with `mac` was received (gratuitous too): the entry,
    /// whatever its state (RFC 826's merge step), becomes REACHABLE with `mac` for
    /// `reachable_ms` (created if `create` is true, e.g. for requests addressed to us; only
    /// updated otherwise), and its pending packets are appended to `out`, oldest first, for
    /// the caller to send.
    ///
    /// Returns true when the entry is now REACHABLE with `mac`. Returns false, changing
    /// nothing, when the entry does not exist and `create` is false, when the table is full,
    /// when `mac` is multicast/broadcast or all-zero (never a valid ARP sender), or when the
    /// entry is STATIC (static entries are not overridden).
    pub fn learn(&mut self, ifx: u16, ip: u32, mac: MacAddr, now_ms: u64, create: bool, out: &mut Vec<P>) -> bool {
        if mac.is_multicast() || mac.is_zero() {
            return false;
        }
        let slot = match self.find(ifx, ip) {
            Some((_, slot)) => slot,
            None if create => match self.insert(ifx, ip) {
                Some(slot) => slot,
                None => return false,
            },
            None => return false,
        };
        let reachable_ms = self.cfg.reachable_ms;
        let Some(e) = self.entries.get_mut(slot) else { return false };
        let learned = if e.state == Slot::Static {
            false
        } else {
            e.state = Slot::Reachable;
            e.mac = mac;
            e.retries = 0;
            e.deadline_ms = now_ms.saturating_add(reachable_ms);
            e.since_ms = now_ms;
            true
        };
        self.drain_pending(slot, out);
        learned
    }

    /// Timers. Examines at most `budget` entries (and each entry at most once per call),
    /// continuing from where the previous call stopped:
    ///
    /// * INCOMPLETE entries whose retry is due push a broadcast [`Request`] to `requests`;
    ///   once `max_retries` retries went unanswered for `retry_ms` the entry becomes FAILED
    ///   and its pending packets go to `failed` to be freed and counted;
    /// * REACHABLE entries past their time become STALE;
    /// * DELAY entries past their delay become PROBE and push the first unicast probe;
    ///   PROBE entries push the next one every `retry_ms`, and are removed `retry_ms` after
    ///   the last of `probes` went unanswered;
    /// * unused STALE entries and FAILED entries past their hold are removed;
    /// * packets left queued on an entry made STATIC go to `failed`.
    ///
    /// Returns the number of entries removed because their probes went unanswered.
    pub fn poll(&mut self, now_ms: u64, budget: usize, requests: &mut Vec<Request>, failed: &mut Vec<P>) -> usize {
        let cap = self.entries.len();
        if cap == 0 {
            return 0;
        }
        let mut lost = 0;
        for _ in 0..budget.min(cap) {
            let slot = self.cursor % cap;
            self.cursor = (slot + 1) % cap;
            lost += usize::from(self.poll_slot(slot, now_ms, requests, failed));
        }
        lost
    }

    /// One slot's timers; true when a PROBE entry failed and was removed.
    fn poll_slot(&mut self, slot: usize, now_ms: u64, requests: &mut Vec<Request>, failed: &mut Vec<P>) -> bool {
        let cfg = self.cfg;
        let Some(e) = self.entries.get_mut(slot) else { return false };
        let due = now_ms >= e.deadline_ms;
        match e.state {
            Slot::Free => {}
            Slot::Incomplete if due => {
                if e.retries < cfg.max_retries {
                    e.retries += 1;
                    e.deadline_ms = now_ms.saturating_add(cfg.retry_ms);
                    requests.push(Request { ifx: e.ifx, ip: e.ip, unicast: None });
                } else {
                    e.state = Slot::Failed;
                    e.deadline_ms = now_ms.saturating_add(cfg.failed_hold_ms);
                    self.drain_pending(slot, failed);
                }
            }
            Slot::Reachable if due => {
                e.state = Slot::Stale;
                e.deadline_ms = now_ms.saturating_add(cfg.stale_ms);
            }
            Slot::Delay if due => {
                e.state = Slot::Probe;
                e.retries = 1;
                e.deadline_ms = now_ms.saturating_add(cfg.retry_ms);
                requests.push(Request { ifx: e.ifx, ip: e.ip, unicast: Some(e.mac) });
            }
            Slot::Probe if due => {
                if e.retries < cfg.probes {
                    e.retries += 1;
                    e.deadline_ms = now_ms.saturating_add(cfg.retry_ms);
                    requests.push(Request { ifx: e.ifx, ip: e.ip, unicast: Some(e.mac) });
                } else {
                    self.remove_slot(slot, failed);
                    return true;
                }
            }
            Slot::Stale | Slot::Failed if due => self.remove_slot(slot, failed),
            Slot::Incomplete | Slot::Reachable | Slot::Stale | Slot::Delay | Slot::Probe | Slot::Failed => {}
            Slot::Static => self.drain_pending(slot, failed),
        }
        false
    }

    /// Installs `ip` on `ifx` as STALE with `mac`, unless an entry exists: a neighbour known
    /// but not confirmed lately, used at once and probed on first use (what a reload carries
    /// over). Returns false, changing nothing, when an entry exists, the table is full, or
    /// `mac` is no unicast address.
    pub fn add_stale(&mut self, ifx: u16, ip: u32, mac: MacAddr, now_ms: u64) -> bool {
        if mac.is_multicast() || mac.is_zero() || self.find(ifx, ip).is_some() {
            return false;
        }
        let Some(slot) = self.insert(ifx, ip) else { return false };
        let stale_ms = self.cfg.stale_ms;
        let Some(e) = self.entries.get_mut(slot) else { return false };
        e.state = Slot::Stale;
        e.mac = mac;
        e.deadline_ms = now_ms.saturating_add(stale_ms);
        true
    }

    /// Installs a STATIC entry (never expires, not overridden by `learn`, kept by `flush`),
    /// replacing any dynamic entry for the address. Returns false when the table is full.
    pub fn add_static(&mut self, ifx: u16, ip: u32, mac: MacAddr) -> bool {
        let slot = match self.find(ifx, ip) {
            Some((_, slot)) => slot,
            None => match self.insert(ifx, ip) {
                Some(slot) => slot,
                None => return false,
            },
        };
        let Some(e) = self.entries.get_mut(slot) else { return false };
        e.state = Slot::Static;
        e.mac = mac;
        e.retries = 0;
        e.since_ms = 0;
        true
    }

    /// Removes the entry for `ip` on `ifx` whatever its state (static too); its pending
    /// packets go to `failed`. Returns whether an entry existed.
    pub fn remove(&mut self, ifx: u16, ip: u32, failed: &mut Vec<P>) -> bool {
        match self.find(ifx, ip) {
            Some((_, slot)) => {
                self.remove_slot(slot, failed);
                true
            }
            None => false,
        }
    }

    /// Removes every dynamic (non-STATIC) entry, of interface `ifx` only when given; pending
    /// packets go to `failed`. Returns the number of entries removed.
    pub fn flush(&mut self, ifx: Option<u16>, failed: &mut Vec<P>) -> usize {
        let mut removed = 0;
        for slot in 0..self.entries.len() {
            let Some(e) = self.entries.get(slot) else { break };
            let dynamic = !matches!(e.state, Slot::Free | Slot::Static);
            if dynamic && ifx.is_none_or(|i| i == e.ifx) {
                self.remove_slot(slot, failed);
                removed += 1;
            }
        }
        removed
    }

    /// Number of entries (all states).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Snapshots of all entries, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = NeighEntry> + '_ {
        self.entries.iter().filter_map(|e| {
            let (state, mac) = match e.state {
                Slot::Free => return None,
                Slot::Incomplete => (NeighState::Incomplete, None),
                Slot::Reachable => (NeighState::Reachable, Some(e.mac)),
                Slot::Stale => (NeighState::Stale, Some(e.mac)),
                Slot::Delay => (NeighState::Delay, Some(e.mac)),
                Slot::Probe => (NeighState::Probe, Some(e.mac)),
                Slot::Failed => (NeighState::Failed, None),
                Slot::Static => (NeighState::Static, Some(e.mac)),
            };
            Some(NeighEntry { ifx: e.ifx, ip: e.ip, state, mac, pending: e.count, since_ms: e.since_ms })
        })
    }

    // ---- internals ----

    /// Sets `slot` INCOMPLETE (first request now, retry due at `now + retry_ms`) and queues
    /// `pkt`.
    fn start_resolution(&mut self, slot: usize, pkt: P, now_ms: u64) -> Resolve<P> {
        let retry_ms = self.cfg.retry_ms;
        if let Some(e) = self.entries.get_mut(slot) {
            e.state = Slot::Incomplete;
            e.retries = 0;
            e.deadline_ms = now_ms.saturating_add(retry_ms);
            e.since_ms = now_ms;
        }
        match self.push_pending(slot, pkt) {
            Ok(()) => Resolve::Queued { send_request: true },
            Err(pkt) => Resolve::Dropped(pkt, NeighDrop::PendingFull),
        }
    }

    /// First prefetch pass: the index bucket where a [`resolve`](Self::resolve) or
    /// [`lookup`](Self::lookup) of `ip` on interface `ifx` starts. A hint only: any key is
    /// fine.
    #[inline]
    pub fn prefetch(&self, ifx: u16, ip: u32) {
        prefetch::read(self.index.as_ptr().wrapping_add(self.home(ifx, ip)));
    }

    /// Second prefetch pass, once [`NeighTable::prefetch`] brought the bucket in: the entry
    /// that bucket points to (the likely hit). Reads the bucket; any key is fine.
    #[inline]
    pub fn prefetch_entry(&self, ifx: u16, ip: u32) {
        if let Some(&s) = self.index.get(self.home(ifx, ip)) {
            if s != EMPTY {
                prefetch::read(self.entries.as_ptr().wrapping_add(s as usize));
            }
        }
    }

    /// Home bucket of a key in the index: the keyed hash of (interface, address).
    #[inline]
    fn home(&self, ifx: u16, ip: u32) -> usize {
        let x = self.hash_key.word((u64::from(ifx) << 32) | u64::from(ip));
        (x as usize) & (self.index.len() - 1)
    }

    /// Finds a key: (index position, slab slot).
    fn find(&self, ifx: u16, ip: u32) -> Option<(usize, usize)> {
        let mask = self.index.len() - 1;
        let mut pos = self.home(ifx, ip);
        for _ in 0..self.index.len() {
            let s = *self.index.get(pos)?;
            if s == EMPTY {
                return None;
            }
            if let Some(e) = self.entries.get(s as usize) {
                if e.ifx == ifx && e.ip == ip {
                    return Some((pos, s as usize));
                }
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// Inserts a key known to be absent, as a fresh INCOMPLETE entry with no deadline set.
    /// Returns its slot, or `None` when the table is full.
    fn insert(&mut self, ifx: u16, ip: u32) -> Option<usize> {
        let s = self.free.pop()?;
        let mask = self.index.len() - 1;
        let mut pos = self.home(ifx, ip);
        // The index is at most half full, so an empty bucket exists.
        for _ in 0..self.index.len() {
            match self.index.get_mut(pos) {
                Some(b) if *b == EMPTY => {
                    *b = s;
                    if let Some(e) = self.entries.get_mut(s as usize) {
                        *e = Entry { state: Slot::Incomplete, ifx, ip, ..FREE_ENTRY };
                    }
                    self.len += 1;
                    return Some(s as usize);
                }
                _ => pos = (pos + 1) & mask,
            }
        }
        self.free.push(s);
        None
    }

    /// Frees `slot`: pending packets to `failed`, index bucket removed with backward-shift
    /// deletion, slot returned to the free list.
    fn remove_slot(&mut self, slot: usize, failed: &mut Vec<P>) {
        let Some(e) = self.entries.get(slot).copied() else { return };
        if e.state == Slot::Free {
            return;
        }
        self.drain_pending(slot, failed);
        if let Some((pos, _)) = self.find(e.ifx, e.ip) {
            self.index_delete(pos);
        }
        if let Some(e) = self.entries.get_mut(slot) {
            *e = FREE_ENTRY;
        }
        self.free.push(slot as u32);
        self.len = self.len.saturating_sub(1);
    }

    /// Backward-shift deletion at index position `pos` (linear probing, no tombstones).
    fn index_delete(&mut self, mut pos: usize) {
        let mask = self.index.len() - 1;
        let mut next = pos;
        for _ in 0..self.index.len() {
            next = (next + 1) & mask;
            let s = self.index.get(next).copied().unwrap_or(EMPTY);
            if s == EMPTY {
                break;
            }
            let Some(e) = self.entries.get(s as usize) else { break };
            let home = self.home(e.ifx, e.ip);
            // The bucket at `next` may stay if its home lies cyclically in (pos, next].
            let stays = if pos <= next { pos < home && home <= next } else { pos < home || home <= next };
            if !stays {
                if let Some(b) = self.index.get_mut(pos) {
                    *b = s;
                }
                pos = next;
            }
        }
        if let Some(b) = self.index.get_mut(pos) {
            *b = EMPTY;
        }
    }

    /// Appends `pkt` to `slot`'s ring; gives it back when the ring is full.
    fn push_pending(&mut self, slot: usize, pkt: P) -> Result<(), P> {
        let mp = self.cfg.max_pending;
        let Some(e) = self.entries.get_mut(slot) else { return Err(pkt) };
        if e.count >= mp {
            return Err(pkt);
        }
        let at = slot * mp + (e.head + e.count) % mp;
        match self.pending.get_mut(at) {
            Some(cell) => {
                *cell = Some(pkt);
                e.count += 1;
                Ok(())
            }
            None => Err(pkt),
        }
    }

    /// Moves `slot`'s pending packets, oldest first, to `out`.
    fn drain_pending(&mut self, slot: usize, out: &mut Vec<P>) {
        let mp = self.cfg.max_pending;
        let Some(e) = self.entries.get_mut(slot) else { return };
        for k in 0..e.count {
            let at = slot * mp + (e.head + k) % mp;
            if let Some(p) = self.pending.get_mut(at).and_then(Option::take) {
                out.push(p);
            }
        }
        e.head = 0;
        e.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);
    const IP1: u32 = 0xC000_0201; // 192.0.2.1
    const IP2: u32 = 0xC000_0202;

    fn cfg() -> NeighConfig {
        NeighConfig::default()
    }

    fn pkt(n: u8) -> Vec<u8> {
        vec![n]
    }

    /// Polls everything; the broadcast requests as (ifx, ip) (no unicast probe expected).
    fn poll(t: &mut NeighTable<Vec<u8>>, now: u64) -> (Vec<(u16, u32)>, Vec<Vec<u8>>) {
        let (req, failed, lost) = poll_all(t, now);
        assert_eq!(lost, 0);
        assert!(req.iter().all(|r| r.unicast.is_none()), "{req:?}");
        (req.iter().map(|r| (r.ifx, r.ip)).collect(), failed)
    }

    /// Polls everything: the requests, the failed packets and the failed probes.
    fn poll_all(t: &mut NeighTable<Vec<u8>>, now: u64) -> (Vec<Request>, Vec<Vec<u8>>, usize) {
        let (mut req, mut failed) = (Vec::new(), Vec::new());
        let lost = t.poll(now, usize::MAX, &mut req, &mut failed);
        (req, failed, lost)
    }

    fn state(t: &NeighTable<Vec<u8>>, ifx: u16, ip: u32) -> Option<NeighState> {
        t.iter().find(|e| e.ifx == ifx && e.ip == ip).map(|e| e.state)
    }

    fn probe(ifx: u16, ip: u32, mac: MacAddr) -> Request {
        Request { ifx, ip, unicast: Some(mac) }
    }

    #[test]
    fn defaults() {
        let c = NeighConfig::default();
        assert_eq!(
            (c.reachable_ms, c.retry_ms, c.max_retries, c.failed_hold_ms, c.max_pending),
            (300_000, 1000, 3, 3000, 4)
        );
        // Linux's delay_first_probe_time, ucast_probes and gc_stale_time.
        assert_eq!((c.delay_ms, c.probes, c.stale_ms), (5000, 3, 60_000));
        let names: Vec<&str> = [
            NeighState::Incomplete,
            NeighState::Reachable,
            NeighState::Stale,
            NeighState::Delay,
            NeighState::Probe,
            NeighState::Failed,
            NeighState::Static,
        ]
        .iter()
        .map(|s| s.name())
        .collect();
        assert_eq!(names, ["incomplete", "reachable", "stale", "delay", "probe", "failed", "static"]);
    }

    #[test]
    fn lifecycle_queue_reply_known_stale() {
        let mut t = NeighTable::new(16, cfg());
        let t0 = 10_000;
        assert_eq!(t.resolve(1, IP1, pkt(1), t0), Resolve::Queued { send_request: true });
        assert_eq!(t.resolve(1, IP1, pkt(2), t0 + 1), Resolve::Queued { send_request: false });
        assert_eq!(t.resolve(1, IP1, pkt(3), t0 + 2), Resolve::Queued { send_request: false });
        assert_eq!(state(&t, 1, IP1), Some(NeighState::Incomplete));
        assert_eq!(t.iter().next().unwrap().pending, 3);
        assert_eq!(t.lookup(1, IP1), None);
        assert_eq!(t.send_mac(1, IP1, t0 + 3), None);

        // A reply drains the pending packets in arrival order.
        let mut out = Vec::new();
        let t1 = t0 + 500;
        assert!(t.learn(1, IP1, MAC_A, t1, false, &mut out));
        assert_eq!(out, vec![pkt(1), pkt(2), pkt(3)]);
        assert_eq!(state(&t, 1, IP1), Some(NeighState::Reachable));
        assert_eq!(t.iter().next().unwrap().pending, 0);
        assert_eq!(t.resolve(1, IP1, pkt(4), t1 + 1), Resolve::Known(MAC_A, pkt(4)));
        assert_eq!(t.lookup(1, IP1), Some(MAC_A));

        // No retries for a reachable entry.
        let (req, failed) = poll(&mut t, t1 + 5000);
        assert!(req.is_empty() && failed.is_empty());

        // Confirmed until exactly reachable_ms after the confirmation; then STALE, still
        // used (this used to remove the entry: the defect of issue 13 item 7).
        let exp = t1 + cfg().reachable_ms;
        assert_eq!(t.resolve(1, IP1, pkt(5), exp - 1), Resolve::Known(MAC_A, pkt(5)));
        let (req, failed) = poll(&mut t, exp);
        assert!(req.is_empty() && failed.is_empty());
        assert_eq!(state(&t, 1, IP1), Some(NeighState::Stale));
        assert_eq!(t.lookup(1, IP1), Some(MAC_A));
        assert_eq!(t.resolve(1, IP1, pkt(6), exp + 1), Resolve::Known(MAC_A, pkt(6)));
        assert_eq!(state(&t, 1, IP1), Some(NeighState::Delay));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn expired_entry_is_used_and_delayed_before_poll() {
        let mut t = NeighTable::new(4, cfg());
        let mut out = Vec::new();
        assert!(t.learn(0, IP1, MAC_A, 0, true, &mut out));
        let exp = cfg().reachable_ms;
        // Past its time but not yet passed by poll: a send treats it as STALE at once.
        assert_eq!(t.resolve(0, IP1, pkt(1), exp), Resolve::Known(MAC_A, pkt(1)));
        assert_eq!(state(&t, 0, IP1), Some(NeighState::Delay));
        let mut t = NeighTable::<Vec<u8>>::new(4, cfg());
        assert!(t.learn(0, IP1, MAC_A, 0, true, &mut out));
        assert_eq!(t.send_mac(0, IP1, exp), Some(MAC_A));
        assert_eq!(state(&t, 0, IP1), Some(NeighState::Delay));
        // The first probe is due delay_ms after that send.
        assert_eq!(poll_all(&mut t, exp + cfg().delay_ms - 1).0, vec![]);
        assert_eq!(poll_all(&mut t, exp + cfg().delay_ms).0, vec![probe(0, IP1, MAC_A)]);
    }

    #[test]
    fn since_is_creation_then_last_confirmation() {
        let mut t = NeighTable::new(4, cfg());
        assert_eq!(t.resolve(0, IP1, pkt(1), 100), Resolve::Queued { send_request: true });
        assert_eq!(t.iter().next().map(|e| (e.state, e.since_ms, e.pending)), Some((NeighState::Incomplete, 100, 1)));
        let mut out = Vec::new();
        assert!(t.learn(0, IP1, MAC_A, 250, false, &mut out));
        assert!(t.learn(0, IP1, MAC_A, 900, false, &mut out));
        assert_eq!(t.iter().next().map(|e| (e.state, e.since_ms, e.pending)), Some((NeighState::Reachable, 900, 0)));
        assert!(t.add_static(0, IP1, MAC_B));
        assert_eq!(t.iter().next().map(|e| (e.state, e.since_ms)), Some((NeighState::Static, 0)));
    }

    #[test]
    fn learn_refreshes_reachable() {
        let mut t: NeighTable<Vec<u8>> = NeighTable::new(4, cfg());
        let mut out = Vec::new();
        assert!(t.learn(0, IP1, MAC_A, 0, true, &mut out));
        assert!(t.learn(0, IP1, MAC_B, 200_000, false, &mut out));
        assert_eq!(t.lookup(0, IP1), Some(MAC_B));
        assert_eq!(t.send_mac(0, IP1, 499_999), Some(MAC_B));
        assert_eq!(state(&t, 0, IP1), Some(NeighState::Reachable));
        assert_eq!(t.send_mac(0, IP1, 500_000), Some(MAC_B));
        assert_eq!(state(&t, 0, IP1), Some(NeighState::Delay));
    }

    /// The NUD cycle with an injected clock: REACHABLE -> STALE -> (used) DELAY -> PROBE
    /// with unicast probes to the known MAC, forwarding on it all along; an answer makes it
    /// REACHABLE; unanswered probes remove it.
    #[test]
    fn stale_delay_probe_confirm_or_fail() {
        let c = NeighConfig { reachable_ms: 1000, delay_ms: 300, retry_ms: 100, probes: 3, ..cfg() };
        let mut t = NeighTable::new(8, c);
        let mut out = Vec::new();
        assert!(t.learn(2, IP1, MAC_A, 0, true, &mut out));
        assert_eq!(poll_all(&mut t, 999), (vec![], vec![], 0));
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Reachable));
        assert_eq!(poll_all(&mut t, 1000), (vec![], vec![], 0));
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Stale));
        // STALE and not used: no probe, however long (until the stale gc).
        assert_eq!(poll_all(&mut t, 5000), (vec![], vec![], 0));
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Stale));
        // Used: DELAY, the packet goes to the known MAC.
        assert_eq!(t.resolve(2, IP1, pkt(1), 5000), Resolve::Known(MAC_A, pkt(1)));
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Delay));
        assert_eq!(t.send_mac(2, IP1, 5100), Some(MAC_A));
        assert_eq!(poll_all(&mut t, 5299), (vec![], vec![], 0));
        // After the delay: PROBE, the first unicast probe, still forwarding.
        assert_eq!(poll_all(&mut t, 5300), (vec![probe(2, IP1, MAC_A)], vec![], 0));
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Probe));
        assert_eq!(t.resolve(2, IP1, pkt(2), 5301), Resolve::Known(MAC_A, pkt(2)));
        assert_eq!(poll_all(&mut t, 5399), (vec![], vec![], 0));
        assert_eq!(poll_all(&mut t, 5400), (vec![probe(2, IP1, MAC_A)], vec![], 0));
        // Any ARP from the neighbour confirms it: REACHABLE for reachable_ms again.
        assert!(t.learn(2, IP1, MAC_A, 5450, false, &mut out));
        assert!(out.is_empty());
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Reachable));
        assert_eq!(poll_all(&mut t, 6449), (vec![], vec![], 0));
        assert_eq!(poll_all(&mut t, 6450), (vec![], vec![], 0));
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Stale));

        // Confirmed while in DELAY: no probe at all.
        assert_eq!(t.send_mac(2, IP1, 7000), Some(MAC_A));
        assert!(t.learn(2, IP1, MAC_A, 7100, false, &mut out));
        assert_eq!(poll_all(&mut t, 7300), (vec![], vec![], 0));
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Reachable));

        // Unanswered: `probes` unicast probes retry_ms apart, forwarding on the known MAC
        // until the entry is removed retry_ms after the last one.
        assert_eq!(t.send_mac(2, IP1, 8100), Some(MAC_A));
        let mut probes = vec![];
        let mut lost_at = None;
        for now in 8100..9000 {
            let (req, failed, lost) = poll_all(&mut t, now);
            assert!(failed.is_empty());
            probes.extend(req.into_iter().map(|r| (now, r)));
            if lost > 0 {
                assert_eq!((lost, lost_at), (1, None));
                lost_at = Some(now);
            }
            if lost_at.is_none() {
                assert_eq!(t.lookup(2, IP1), Some(MAC_A), "{now}");
            }
        }
        let at = |n| (n, probe(2, IP1, MAC_A));
        assert_eq!(probes, vec![at(8400), at(8500), at(8600)]);
        assert_eq!(lost_at, Some(8700));
        assert!(t.is_empty());
        // The next packet starts a fresh broadcast resolution.
        assert_eq!(t.resolve(2, IP1, pkt(3), 9000), Resolve::Queued { send_request: true });
        assert_eq!(poll(&mut t, 9100).0, vec![(2, IP1)]);
    }

    #[test]
    fn a_new_mac_is_taken_in_any_state() {
        // RFC 826's merge step: an ARP from a known sender updates its MAC, whatever the
        // entry's state, and confirms it.
        let c = NeighConfig { reachable_ms: 1000, delay_ms: 300, retry_ms: 100, ..cfg() };
        let mut out = Vec::new();
        for (when, want) in [
            (500, NeighState::Reachable),
            (1000, NeighState::Stale),
            (1100, NeighState::Delay),
            (1400, NeighState::Probe),
        ] {
            let mut t = NeighTable::<Vec<u8>>::new(4, c);
            assert!(t.learn(0, IP1, MAC_A, 0, true, &mut out));
            if when >= 1000 {
                poll_all(&mut t, 1000);
            }
            if when >= 1100 {
                assert_eq!(t.send_mac(0, IP1, 1100), Some(MAC_A));
            }
            poll_all(&mut t, when);
            assert_eq!(state(&t, 0, IP1), Some(want));
            assert!(t.learn(0, IP1, MAC_B, when, false, &mut out));
            assert_eq!(state(&t, 0, IP1), Some(NeighState::Reachable), "{want:?}");
            assert_eq!(t.send_mac(0, IP1, when), Some(MAC_B), "{want:?}");
        }
    }

    #[test]
    fn unused_stale_entries_are_collected() {
        let c = NeighConfig { reachable_ms: 1000, stale_ms: 5000, ..cfg() };
        let mut t = NeighTable::<Vec<u8>>::new(4, c);
        let mut out = Vec::new();
        assert!(t.learn(0, IP1, MAC_A, 0, true, &mut out));
        poll_all(&mut t, 1000);
        assert_eq!(state(&t, 0, IP1), Some(NeighState::Stale));
        assert_eq!(poll_all(&mut t, 5999), (vec![], vec![], 0));
        assert_eq!(t.len(), 1);
        assert_eq!(poll_all(&mut t, 6000), (vec![], vec![], 0));
        assert!(t.is_empty());
        // add_stale: what a reload carries over; used at once, probed on first use.
        assert!(t.add_stale(0, IP2, MAC_B, 100));
        assert!(!t.add_stale(0, IP2, MAC_A, 100), "an entry exists");
        assert!(!t.add_stale(0, IP1, MacAddr::BROADCAST, 100));
        assert_eq!(state(&t, 0, IP2), Some(NeighState::Stale));
        assert_eq!(t.resolve(0, IP2, pkt(1), 200), Resolve::Known(MAC_B, pkt(1)));
        assert_eq!(state(&t, 0, IP2), Some(NeighState::Delay));
    }

    #[test]
    fn retries_then_failed_then_hold_then_fresh() {
        let c = cfg();
        let mut t = NeighTable::new(8, c);
        let t0 = 1000;
        assert_eq!(t.resolve(3, IP1, pkt(1), t0), Resolve::Queued { send_request: true });
        assert_eq!(t.resolve(3, IP1, pkt(2), t0), Resolve::Queued { send_request: false });

        // Poll every millisecond; record the times requests are asked for.
        let mut times = Vec::new();
        let mut failed_at = None;
        let mut failed_pkts = Vec::new();
        for now in t0..t0 + 10 * c.retry_ms {
            let (req, failed) = poll(&mut t, now);
            for r in req {
                assert_eq!(r, (3, IP1));
                times.push(now);
            }
            if !failed.is_empty() {
                assert!(failed_at.is_none());
                failed_at = Some(now);
                failed_pkts = failed;
            }
        }
        assert_eq!(times, vec![t0 + 1000, t0 + 2000, t0 + 3000]);
        assert_eq!(times.len(), c.max_retries as usize);
        let failed_at = failed_at.expect("entry failed");
        assert_eq!(failed_at, t0 + 4000);
        assert_eq!(failed_pkts, vec![pkt(1), pkt(2)]);
        // The loop ran past the hold, so poll removed the FAILED entry; run again without
        // polling to observe the hold.
        assert!(t.is_empty());

        let mut t = NeighTable::new(8, c);
        assert_eq!(t.resolve(3, IP1, pkt(1), 0), Resolve::Queued { send_request: true });
        for now in [1000, 2000, 3000] {
            assert_eq!(poll(&mut t, now).0, vec![(3, IP1)]);
        }
        assert_eq!(poll(&mut t, 3999), (vec![], vec![]));
        let (req, failed) = poll(&mut t, 4000);
        assert!(req.is_empty());
        assert_eq!(failed, vec![pkt(1)]);
        assert_eq!(state(&t, 3, IP1), Some(NeighState::Failed));
        let hold_end = 4000 + c.failed_hold_ms;
        assert_eq!(t.resolve(3, IP1, pkt(2), hold_end - 1), Resolve::Dropped(pkt(2), NeighDrop::Unreachable));
        assert_eq!(t.lookup(3, IP1), None);
        // After the hold a fresh resolution starts (without an intervening poll).
        assert_eq!(t.resolve(3, IP1, pkt(3), hold_end), Resolve::Queued { send_request: true });
        assert_eq!(state(&t, 3, IP1), Some(NeighState::Incomplete));
        // ...with a full set of retries again.
        for k in 1..=3u64 {
            assert_eq!(poll(&mut t, hold_end + k * 1000).0, vec![(3, IP1)]);
        }
        assert_eq!(poll(&mut t, hold_end + 4000).1, vec![pkt(3)]);
    }

    #[test]
    fn late_reply_to_failed_entry_makes_it_reachable() {
        let mut t = NeighTable::new(4, NeighConfig { max_retries: 0, ..cfg() });
        assert_eq!(t.resolve(0, IP1, pkt(1), 0), Resolve::Queued { send_request: true });
        assert_eq!(poll(&mut t, 1000).1, vec![pkt(1)]);
        assert_eq!(state(&t, 0, IP1), Some(NeighState::Failed));
        let mut out = Vec::new();
        assert!(t.learn(0, IP1, MAC_A, 1500, false, &mut out));
        assert!(out.is_empty());
        assert_eq!(t.resolve(0, IP1, pkt(2), 1501), Resolve::Known(MAC_A, pkt(2)));
    }

    #[test]
    fn pending_limit() {
        let mut t = NeighTable::new(4, NeighConfig { max_pending: 2, ..cfg() });
        assert_eq!(t.resolve(0, IP1, pkt(1), 0), Resolve::Queued { send_request: true });
        assert_eq!(t.resolve(0, IP1, pkt(2), 0), Resolve::Queued { send_request: false });
        assert_eq!(t.resolve(0, IP1, pkt(3), 0), Resolve::Dropped(pkt(3), NeighDrop::PendingFull));
        assert_eq!(t.resolve(0, IP1, pkt(4), 0), Resolve::Dropped(pkt(4), NeighDrop::PendingFull));
        let mut out = Vec::new();
        assert!(t.learn(0, IP1, MAC_A, 10, false, &mut out));
        assert_eq!(out, vec![pkt(1), pkt(2)]);
        // The ring is reusable after a drain, including wrap-around.
        let mut t = NeighTable::new(1, NeighConfig { max_pending: 3, ..cfg() });
        for round in 0..5u8 {
            let now = u64::from(round) * 1_000_000;
            for k in 0..3 {
                assert!(matches!(t.resolve(0, IP1, pkt(round * 10 + k), now), Resolve::Queued { .. }));
            }
            out.clear();
            assert!(t.learn(0, IP1, MAC_A, now, false, &mut out));
            assert_eq!(out, vec![pkt(round * 10), pkt(round * 10 + 1), pkt(round * 10 + 2)]);
            // (An expired entry is used as STALE now, not resolved again: remove it.)
            assert!(t.remove(0, IP1, &mut out));
        }
        // max_pending 0 is clamped to 1.
        let mut t = NeighTable::new(1, NeighConfig { max_pending: 0, ..cfg() });
        assert_eq!(t.config().max_pending, 1);
        assert_eq!(t.resolve(0, IP1, pkt(1), 0), Resolve::Queued { send_request: true });
        assert_eq!(t.resolve(0, IP1, pkt(2), 0), Resolve::Dropped(pkt(2), NeighDrop::PendingFull));
    }

    #[test]
    fn table_full() {
        let mut t = NeighTable::new(2, cfg());
        assert_eq!(t.resolve(0, IP1, pkt(1), 0), Resolve::Queued { send_request: true });
        assert!(t.add_static(0, IP2, MAC_B));
        assert_eq!(t.resolve(0, 3, pkt(3), 0), Resolve::Dropped(pkt(3), NeighDrop::TableFull));
        let mut out = Vec::new();
        assert!(!t.learn(0, 3, MAC_A, 0, true, &mut out));
        assert!(!t.add_static(0, 4, MAC_A));
        assert_eq!(t.len(), 2);
        // Existing entries still work when full.
        assert!(t.learn(0, IP1, MAC_A, 0, true, &mut out));
        assert_eq!(out, vec![pkt(1)]);
        // Freeing a slot makes room.
        let mut failed = Vec::new();
        assert!(t.remove(0, IP1, &mut failed));
        assert_eq!(t.resolve(0, 3, pkt(3), 0), Resolve::Queued { send_request: true });

        let mut z: NeighTable<Vec<u8>> = NeighTable::new(0, cfg());
        assert_eq!(z.resolve(0, IP1, pkt(1), 0), Resolve::Dropped(pkt(1), NeighDrop::TableFull));
        assert!(!z.add_static(0, IP1, MAC_A));
        assert_eq!(poll(&mut z, 0), (vec![], vec![]));
        assert_eq!(z.flush(None, &mut failed), 0);
    }

    #[test]
    fn prefetch_any_key_on_any_table() {
        let mut full: NeighTable<Vec<u8>> = NeighTable::new(2, cfg());
        assert!(full.add_static(0, IP1, MAC_A));
        assert!(full.add_static(7, IP2, MAC_B));
        for t in [NeighTable::new(0, cfg()), NeighTable::new(1, cfg()), NeighTable::new(1024, cfg()), full] {
            for ifx in [0, 7, u16::MAX] {
                for ip in [0, IP1, IP2, u32::MAX] {
                    t.prefetch(ifx, ip);
                    t.prefetch_entry(ifx, ip);
                }
            }
            assert_eq!(t.lookup(0, IP1).is_some(), t.len() == 2);
        }
    }

    #[test]
    fn static_entries() {
        let mut t = NeighTable::new(4, cfg());
        assert!(t.add_static(2, IP1, MAC_A));
        assert_eq!(t.resolve(2, IP1, pkt(1), 0), Resolve::Known(MAC_A, pkt(1)));
        assert_eq!(t.lookup(2, IP1), Some(MAC_A));
        assert_eq!(poll(&mut t, u64::MAX), (vec![], vec![]));
        assert_eq!(t.resolve(2, IP1, pkt(1), u64::MAX), Resolve::Known(MAC_A, pkt(1)));
        // Not overridden by ARP.
        let mut out = Vec::new();
        assert!(!t.learn(2, IP1, MAC_B, 5, true, &mut out));
        assert_eq!(t.lookup(2, IP1), Some(MAC_A));
        // Survives flush, removed by remove.
        let mut failed = Vec::new();
        assert_eq!(t.flush(None, &mut failed), 0);
        assert_eq!(state(&t, 2, IP1), Some(NeighState::Static));
        assert!(t.remove(2, IP1, &mut failed));
        assert!(t.is_empty());
        // Making an INCOMPLETE entry static: its queued packets are released by poll.
        assert_eq!(t.resolve(2, IP2, pkt(7), 0), Resolve::Queued { send_request: true });
        assert!(t.add_static(2, IP2, MAC_B));
        assert_eq!(t.resolve(2, IP2, pkt(8), 0), Resolve::Known(MAC_B, pkt(8)));
        assert_eq!(poll(&mut t, 0), (vec![], vec![pkt(7)]));
        assert_eq!(t.iter().next().unwrap().pending, 0);
    }

    #[test]
    fn interfaces_are_separate() {
        let mut t = NeighTable::new(8, cfg());
        assert_eq!(t.resolve(1, IP1, pkt(1), 0), Resolve::Queued { send_request: true });
        assert_eq!(t.resolve(2, IP1, pkt(2), 0), Resolve::Queued { send_request: true });
        let mut out = Vec::new();
        assert!(t.learn(1, IP1, MAC_A, 0, false, &mut out));
        assert_eq!(out, vec![pkt(1)]);
        assert_eq!(t.lookup(1, IP1), Some(MAC_A));
        assert_eq!(t.lookup(2, IP1), None);
        assert_eq!(t.resolve(2, IP1, pkt(3), 1), Resolve::Queued { send_request: false });
        // Learning on an interface without an entry and create=false does nothing.
        assert!(!t.learn(3, IP1, MAC_B, 0, false, &mut out));
        assert_eq!(t.len(), 2);
        out.clear();
        assert!(t.learn(2, IP1, MAC_B, 2, false, &mut out));
        assert_eq!(out, vec![pkt(2), pkt(3)]);
        assert_eq!(t.lookup(1, IP1), Some(MAC_A));
        assert_eq!(t.lookup(2, IP1), Some(MAC_B));
    }

    #[test]
    fn learn_create_flag_and_bad_macs() {
        let mut t = NeighTable::new(4, cfg());
        let mut out = Vec::new();
        assert!(!t.learn(0, IP1, MAC_A, 0, false, &mut out));
        assert!(t.is_empty());
        assert!(!t.learn(0, IP1, MacAddr::BROADCAST, 0, true, &mut out));
        assert!(!t.learn(0, IP1, MacAddr([1, 0, 0x5e, 0, 0, 1]), 0, true, &mut out));
        assert!(!t.learn(0, IP1, MacAddr([0; 6]), 0, true, &mut out));
        assert!(t.is_empty());
        assert!(t.learn(0, IP1, MAC_A, 0, true, &mut out));
        assert_eq!(state(&t, 0, IP1), Some(NeighState::Reachable));
    }

    #[test]
    fn flush_returns_pending() {
        let mut t = NeighTable::new(8, cfg());
        assert_eq!(t.resolve(1, IP1, pkt(1), 0), Resolve::Queued { send_request: true });
        assert_eq!(t.resolve(1, IP1, pkt(2), 0), Resolve::Queued { send_request: false });
        assert_eq!(t.resolve(2, IP2, pkt(3), 0), Resolve::Queued { send_request: true });
        let mut out = Vec::new();
        assert!(t.learn(2, IP1, MAC_A, 0, true, &mut out));
        assert!(t.add_static(2, 7, MAC_B));
        let mut failed = Vec::new();
        assert_eq!(t.flush(Some(1), &mut failed), 1);
        assert_eq!(failed, vec![pkt(1), pkt(2)]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(1, IP1), None);
        failed.clear();
        assert_eq!(t.flush(None, &mut failed), 2);
        assert_eq!(failed, vec![pkt(3)]);
        assert_eq!(t.len(), 1);
        assert_eq!(state(&t, 2, 7), Some(NeighState::Static));
        // A flushed address resolves afresh.
        assert_eq!(t.resolve(1, IP1, pkt(4), 1), Resolve::Queued { send_request: true });
    }

    #[test]
    fn poll_budget_and_cursor() {
        let mut t = NeighTable::new(4, cfg());
        for ip in 1..=4 {
            assert_eq!(t.resolve(0, ip, pkt(ip as u8), 0), Resolve::Queued { send_request: true });
        }
        let (mut req, mut failed) = (Vec::new(), Vec::new());
        t.poll(1000, 0, &mut req, &mut failed);
        assert!(req.is_empty());
        // One entry per call; the cursor moves on, so four calls cover all four.
        for k in 1..=4 {
            t.poll(1000, 1, &mut req, &mut failed);
            assert_eq!(req.len(), k);
        }
        let mut got: Vec<(u16, u32)> = req.iter().map(|r| (r.ifx, r.ip)).collect();
        got.sort_unstable();
        assert_eq!(got, vec![(0, 1), (0, 2), (0, 3), (0, 4)]);
        // A budget above the capacity examines each entry once.
        req.clear();
        t.poll(2000, 100, &mut req, &mut failed);
        assert_eq!(req.len(), 4);
    }

    #[test]
    fn index_churn_matches_model() {
        // Random inserts/removes against a HashMap model exercise backward-shift deletion.
        let mut t: NeighTable<Vec<u8>> = NeighTable::new(64, cfg());
        let mut model = std::collections::HashMap::new();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut failed = Vec::new();
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ifx = (x % 3) as u16;
            let ip = ((x >> 8) % 100) as u32;
            let mac = MacAddr([2, 0, 0, 0, (step >> 8) as u8, step as u8]);
            if (x >> 40).is_multiple_of(3) {
                assert_eq!(t.remove(ifx, ip, &mut failed), model.remove(&(ifx, ip)).is_some());
            } else {
                let fits = model.len() < 64 || model.contains_key(&(ifx, ip));
                assert_eq!(t.add_static(ifx, ip, mac), fits);
                if fits {
                    model.insert((ifx, ip), mac);
                }
            }
            assert_eq!(t.len(), model.len());
            if step % 1000 == 0 {
                for i in 0..3u16 {
                    for a in 0..100u32 {
                        assert_eq!(t.lookup(i, a), model.get(&(i, a)).copied());
                    }
                }
            }
        }
        assert!(failed.is_empty());
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let mut t = NeighTable::new(
            2,
            NeighConfig { reachable_ms: u64::MAX, retry_ms: u64::MAX, failed_hold_ms: u64::MAX, ..cfg() },
        );
        assert_eq!(t.resolve(0, IP1, pkt(1), u64::MAX), Resolve::Queued { send_request: true });
        assert_eq!(poll(&mut t, u64::MAX).0, vec![(0, IP1)]);
        let mut out = Vec::new();
        assert!(t.learn(0, IP1, MAC_A, u64::MAX, false, &mut out));
        assert_eq!(t.lookup(0, IP1), Some(MAC_A));
        assert_eq!(poll(&mut t, 0), (vec![], vec![]));
        let _ = NeighTable::<Vec<u8>>::new(4, NeighConfig { max_pending: usize::MAX, ..cfg() });
    }
}
