//! Packet trace (VPP's `trace add`): `vnfctl trace add N [--port P]` marks the next N
//! packets a worker receives (on port P); every node such a packet passes records what it
//! did with it (the node, the next node or output, the packet's metadata) into the
//! worker's trace ring; `vnfctl trace show` prints the records packet by packet.
//!
//! Off, the cost is one predictable branch per frame ([`Trace::armed`] before the graph
//! runs, and the frame's `traced` flag after each node). The ring is allocated when a trace
//! is armed, on the control path, never per packet.

use super::{Frame, Hop, Node};
use crate::buf::PacketBuf;
use crate::packet::{flag, PacketMeta};

/// Records kept per worker; older ones are overwritten.
pub const RING: usize = 4096;

/// What one node did with one traced packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// The packet's trace id (copies of a packet share it).
    pub packet: u16,
    /// The node.
    pub node: Node,
    /// Where the node sent it.
    pub hop: Hop,
    /// The packet's metadata after the node.
    pub meta: PacketMeta,
    /// When, in milliseconds.
    pub ms: u64,
}

/// A worker's trace state.
#[derive(Debug, Default)]
pub struct Trace {
    left: u32,
    port: Option<u16>,
    next_id: u16,
    ring: Vec<TraceRecord>,
    head: usize,
}

impl Trace {
    /// Marks the next `n` packets received (on `port`, or on any port).
    pub fn add(&mut self, n: u32, port: Option<u16>) {
        if self.ring.capacity() < RING {
            self.ring.reserve_exact(RING - self.ring.len());
        }
        self.left = n;
        self.port = port;
    }

    /// Forgets the records and stops marking.
    pub fn clear(&mut self) {
        self.left = 0;
        self.ring.clear();
        self.head = 0;
        self.next_id = 0;
    }

    /// Packets still to be marked.
    pub fn left(&self) -> u32 {
        self.left
    }

    /// True while packets are still to be marked.
    #[inline(always)]
    pub fn armed(&self) -> bool {
        self.left > 0
    }

    /// The records, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &TraceRecord> + '_ {
        let (a, b) = self.ring.split_at(self.head.min(self.ring.len()));
        b.iter().chain(a.iter())
    }

    /// Marks the frame's received packets (before the graph runs).
    pub(super) fn mark<B: PacketBuf>(&mut self, f: &mut Frame<B>) {
        for i in 0..f.len() as u16 {
            if self.left == 0 {
                break;
            }
            let m = f.meta_mut(i);
            if m.has(flag::TRACED) || self.port.is_some_and(|p| p != m.in_port) {
                continue;
            }
            m.flags |= flag::TRACED;
            m.trace = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            self.left -= 1;
            f.traced = true;
        }
    }

    /// Records what node `node` did with the traced packets of `list`.
    pub(super) fn record<B: PacketBuf>(&mut self, node: Node, f: &Frame<B>, list: &[u16], ms: u64) {
        for &i in list {
            let m = f.meta(i);
            if !m.has(flag::TRACED) {
                continue;
            }
            let r = TraceRecord { packet: m.trace, node, hop: f.hop(i), meta: *m, ms };
            if self.ring.len() < RING {
                self.ring.push(r);
            } else {
                self.ring[self.head] = r;
                self.head = (self.head + 1) % RING;
            }
        }
    }
}

impl Hop {
    /// A short text: the next node's name, or the output.
    pub fn describe(&self) -> String {
        match self {
            Hop::Next(n) => n.name().to_string(),
            Hop::Out(super::Output::Tx(p)) => format!("tx port {p}"),
            Hop::Out(super::Output::Drop(r)) => format!("drop {}", r.name()),
            Hop::Out(super::Output::Consumed) => "consumed".to_string(),
            Hop::Out(super::Output::Handoff(w, _)) => format!("handoff worker {w}"),
            Hop::Parked => "parked (waiting for ARP)".to_string(),
            Hop::None => "-".to_string(),
        }
    }
}
