//! Per inside address limits of a worker (RFC 6888 REQ-4): one host cannot take the whole
//! connection table or pool.
//!
//! A source NAT rule may cap, for each inside address, the connections it holds
//! (`max_connections_per_host`), the connections it opens per second
//! (`max_new_per_second_per_host`) and the external ports (mappings) it holds
//! (`max_ports_per_host`). `ct-new` asks [`Hosts::check`] before it makes a connection and
//! calls [`Hosts::add`] once the connection is recorded; the connection carries
//! `NatData::HOST` and its expiry calls [`Hosts::release`]. A mapping made under a limited rule
//! is marked `counted` and its last release calls [`Hosts::release_port`].
//!
//! Invariants:
//! - an entry exists while its inside address holds a counted connection or a counted
//!   mapping, and is freed when both counts return to 0 (the rate window goes with it: a
//!   host with nothing open starts a fresh second);
//! - every counted mapping is held by at least one connection, so there are never more
//!   entries than connections: the table is reserved for the connection capacity in
//!   [`Hosts::new`] and never grows past it;
//! - the counts follow the flags on connections and mappings, not the current config: a
//!   reload that changes the limits leaves them consistent;
//! - limits are per worker: with several workers each one enforces them over the
//!   connections it owns (the owner of a new connection is a hash of the inside endpoint).
//!
//! The index is a [keyed hash](crate::hash) of the inside address, which the host chooses.

use super::pool::KeyedState;
use super::SecTables;
use crate::stats::DropReason;
use std::collections::HashMap;

/// A rule's per inside address limits (0: unlimited).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Connections held.
    pub conns: u32,
    /// New connections per second.
    pub new_per_sec: u32,
    /// External ports (mappings) held.
    pub ports: u32,
}

impl Limits {
    /// True when any limit is set.
    #[inline]
    pub fn any(&self) -> bool {
        self.conns | self.new_per_sec | self.ports != 0
    }
}

/// One inside address's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Host {
    /// Counted connections held.
    pub conns: u32,
    /// Counted mappings held.
    pub ports: u32,
    /// The second (`now / 1000`) `new` counts in.
    pub second: u64,
    /// Connections opened in `second`.
    pub new: u32,
}

/// A worker's per inside address counts.
pub struct Hosts {
    by_addr: HashMap<u32, Host, KeyedState>,
    cap: usize,
}

impl Hosts {
    /// An empty table with room for `capacity` addresses (the connection capacity).
    pub fn new(sec: &SecTables, capacity: u32) -> Self {
        let mut by_addr = HashMap::with_hasher(KeyedState(sec.key));
        by_addr.reserve(capacity as usize);
        Hosts { by_addr, cap: capacity as usize }
    }

    /// Addresses counted.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// True when no address is counted.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    /// The counts of `addr`.
    pub fn get(&self, addr: u32) -> Option<&Host> {
        self.by_addr.get(&addr)
    }

    /// May `addr` open a connection at `now_ms` under `lim`? `new_port`: it needs a new
    /// mapping.
    #[inline]
    pub fn check(&self, addr: u32, lim: &Limits, now_ms: u64, new_port: bool) -> Result<(), DropReason> {
        let Some(h) = self.by_addr.get(&addr) else {
            return if self.by_addr.len() >= self.cap { Err(DropReason::CtTableFull) } else { Ok(()) };
        };
        if lim.conns != 0 && h.conns >= lim.conns {
            return Err(DropReason::NatHostConnLimit);
        }
        if lim.new_per_sec != 0 && h.second == now_ms / 1000 && h.new >= lim.new_per_sec {
            return Err(DropReason::NatHostRateLimit);
        }
        if new_port && lim.ports != 0 && h.ports >= lim.ports {
            return Err(DropReason::NatHostPortLimit);
        }
        Ok(())
    }

    /// Counts a connection of `addr` opened at `now_ms` (after [`Hosts::check`] let it);
    /// `new_port`: it made a counted mapping.
    #[inline]
    pub fn add(&mut self, addr: u32, now_ms: u64, new_port: bool) {
        let h = self.by_addr.entry(addr).or_default();
        let s = now_ms / 1000;
        if h.second != s {
            h.second = s;
            h.new = 0;
        }
        h.new += 1;
        h.conns += 1;
        h.ports += u32::from(new_port);
    }

    /// Counts a mapping of `addr` (rebuilding the counts).
    pub fn add_port(&mut self, addr: u32) {
        self.by_addr.entry(addr).or_default().ports += 1;
    }

    /// A counted connection of `addr` is gone.
    #[inline]
    pub fn release(&mut self, addr: u32) {
        self.change(addr, |h| h.conns = h.conns.saturating_sub(1));
    }

    /// A counted mapping of `addr` is gone.
    #[inline]
    pub fn release_port(&mut self, addr: u32) {
        self.change(addr, |h| h.ports = h.ports.saturating_sub(1));
    }

    fn change(&mut self, addr: u32, f: impl FnOnce(&mut Host)) {
        if let Some(h) = self.by_addr.get_mut(&addr) {
            f(h);
            if h.conns == 0 && h.ports == 0 {
                self.by_addr.remove(&addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn sec() -> SecTables {
        let rest = "[[nat.snat]]\nfrom = [\"198.51.100.0/24\"]\nzone = \"outside\"\npool = [\"203.0.113.10\"]\n";
        let cfg = Config::parse(&crate::nat::fixture::two_zones("", "", rest), None).unwrap();
        SecTables::compile(&cfg).unwrap().unwrap()
    }

    #[test]
    fn limits_are_checked_counted_and_entries_freed_at_zero() {
        let s = sec();
        let mut h = Hosts::new(&s, 2);
        let lim = Limits { conns: 2, new_per_sec: 3, ports: 1 };
        let (a, b, c) = (1u32, 2u32, 3u32);
        assert_eq!(h.check(a, &lim, 1000, true), Ok(()));
        h.add(a, 1000, true);
        assert_eq!(h.check(a, &lim, 1000, true), Err(DropReason::NatHostPortLimit));
        assert_eq!(h.check(a, &lim, 1000, false), Ok(()));
        h.add(a, 1500, false);
        assert_eq!(h.check(a, &lim, 1999, false), Err(DropReason::NatHostConnLimit));
        h.release(a);
        h.add(a, 1999, false);
        h.release(a);
        // Three opened in second 1: the rate limit, until the next second.
        assert_eq!(h.check(a, &lim, 1999, false), Err(DropReason::NatHostRateLimit));
        assert_eq!(h.check(a, &lim, 2000, false), Ok(()));
        assert_eq!(*h.get(a).unwrap(), Host { conns: 1, ports: 1, second: 1, new: 3 });
        // Another host is unaffected; a third finds the bounded table full.
        h.add(b, 1999, false);
        assert_eq!(h.check(c, &lim, 1999, false), Err(DropReason::CtTableFull));
        h.release(b);
        assert_eq!(h.len(), 1, "b's entry freed at 0");
        h.release(a);
        assert_eq!(h.len(), 1, "a still holds a mapping");
        h.release_port(a);
        assert!(h.is_empty());
        // Releasing an address that is not counted is harmless.
        h.release(a);
        h.release_port(a);
        assert!(h.is_empty());
    }
}
