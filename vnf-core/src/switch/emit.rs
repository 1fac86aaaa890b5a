//! What a stage produces: packets with the action to take on each.

use crate::stats::DropReason;

/// What to do with an emitted packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send out of this port index.
    Tx(u16),
    /// Free and count under this reason.
    Drop(DropReason),
    /// Free: it was for the appliance and has been handled (e.g. an ARP reply).
    Consumed,
    /// Hand to worker `.0`, which owns the packet's connection; it processes the packet as
    /// received on port `.1` (`SwitchState::process_handoff`).
    Handoff(u16, u16),
}

/// A bounded list of (packet, action), filled by a stage and drained by the worker after
/// each burst. Its storage is allocated once; when it is full, further packets are dropped
/// and counted in `overflow`.
#[derive(Debug)]
pub struct Emit<B> {
    items: Vec<(B, Action)>,
    cap: usize,
    /// Packets dropped because the list was full.
    pub overflow: u64,
}

impl<B> Emit<B> {
    /// A list holding up to `cap` packets.
    pub fn new(cap: usize) -> Self {
        Emit { items: Vec::with_capacity(cap), cap, overflow: 0 }
    }
    /// Adds a packet (dropped and counted if the list is full).
    #[inline]
    pub fn push(&mut self, b: B, a: Action) {
        if self.items.len() < self.cap {
            self.items.push((b, a));
        } else {
            self.overflow += 1;
        }
    }
    /// Shorthand for `push(b, Action::Tx(port))`.
    #[inline]
    pub fn tx(&mut self, b: B, port: u16) {
        self.push(b, Action::Tx(port));
    }
    /// Shorthand for `push(b, Action::Drop(r))`.
    #[inline]
    pub fn drop(&mut self, b: B, r: DropReason) {
        self.push(b, Action::Drop(r));
    }
    /// Items held.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Takes every item out, in order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, (B, Action)> {
        self.items.drain(..)
    }
    /// The items (for tests).
    pub fn items(&self) -> &[(B, Action)] {
        &self.items
    }
}
