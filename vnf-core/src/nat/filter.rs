//! Filtering of inbound packets to a mapping (RFC 4787 §5, REQ-8; RFC 5382 REQ-3).
//!
//! An outside packet to a pool address and port that matches no connection and no port
//! forward is looked up as a mapping's external endpoint. The rule that made the mapping
//! decides ([`Filtering`]):
//! - `endpoint-independent`: any outside endpoint may send; the packet opens a connection
//!   toward the inside endpoint, judged by the firewall as a port forward is;
//! - `address-dependent`: only from an address the inside endpoint has sent to (any port),
//!   which [`Peers`] records per mapping;
//! - `address-and-port-dependent` (the default): only the connection itself, so such a
//!   packet is dropped.
//!
//! Refused packets to a live mapping are counted as `nat-filtered`; to no mapping, as
//! `nat-no-mapping`. The mapping itself stays endpoint-independent in every mode.
//!
//! [`Peers`] counts, per (protocol, inside address, inside port, remote address), the
//! outbound connections of a mapping under an address-dependent rule; an entry goes when its
//! count returns to 0, so there are never more entries than connections (reserved in
//! [`Peers::new`]). It is keyed by the inside endpoint, not the mapping slot, so a reload
//! that rebuilds the mappings leaves it valid.

use super::pool::KeyedState;
use super::SecTables;
pub use crate::config::Filtering;
use std::collections::HashMap;

/// A worker's remote addresses per inside endpoint (address-dependent filtering).
pub struct Peers {
    by_ep: HashMap<(u8, u32, u16, u32), u32, KeyedState>,
}

impl Peers {
    /// An empty table with room for `capacity` (the connection capacity).
    pub fn new(sec: &SecTables, capacity: u32) -> Self {
        let mut by_ep = HashMap::with_hasher(KeyedState(sec.key));
        by_ep.reserve(capacity as usize);
        Peers { by_ep }
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.by_ep.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_ep.is_empty()
    }

    /// Has inside endpoint (`proto`, `addr`, `port`) a connection to `remote`?
    #[inline]
    pub fn contains(&self, proto: u8, addr: u32, port: u16, remote: u32) -> bool {
        self.by_ep.contains_key(&(proto, addr, port, remote))
    }

    /// A connection from (`proto`, `addr`, `port`) to `remote` is made.
    #[inline]
    pub fn add(&mut self, proto: u8, addr: u32, port: u16, remote: u32) {
        *self.by_ep.entry((proto, addr, port, remote)).or_default() += 1;
    }

    /// That connection is gone.
    #[inline]
    pub fn release(&mut self, proto: u8, addr: u32, port: u16, remote: u32) {
        let k = (proto, addr, port, remote);
        if let Some(n) = self.by_ep.get_mut(&k) {
            *n -= 1;
            if *n == 0 {
                self.by_ep.remove(&k);
            }
        }
    }
}
