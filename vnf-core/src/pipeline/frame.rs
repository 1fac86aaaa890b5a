//! The frame: the packets of one polling round with their metadata, the queue of each node,
//! and the one output point.
//!
//! A packet lives in a slot from the moment it enters the frame (received, handed over,
//! copied, generated, or released by the neighbour table) until it reaches an [`Output`].
//! Nodes see a slot's buffer only by reference: the frame is the only code that can give a
//! buffer up, and it does so in [`Frame::finish`], which sends, hands off, or frees and
//! counts every packet that reached an output. A packet that waits for ARP leaves the frame
//! as a [`Parked`] buffer, which again only the frame can turn back into a slot or free and
//! count. So no buffer is freed without being counted, by construction.
//!
//! Queues are index lists (u16 slot numbers) preallocated to the frame's capacity; a set
//! bit per non-empty queue lets the graph pick the next node to run in one instruction.
//! A node hands its decisions over a chunk at a time ([`Frame::each`], VPP's
//! `enqueue_to_next`): a queue's length lives in memory, and updating it per packet made
//! every packet of a node wait on the previous packet's store (route: 224 -> 180
//! cycles/packet when the five nodes of its path queued by chunk).

use super::Node;
use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::PacketMeta;
use crate::stats::{DropReason, Event, WorkerCounters};

/// Where a packet ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Sent out of this port index.
    Tx(u16),
    /// Freed and counted under this reason.
    Drop(DropReason),
    /// For the appliance itself and handled (an ARP reply to a request of ours): freed and
    /// counted as `local-consumed`.
    Consumed,
    /// Handed to worker `.0`, which owns the packet's connection; it processes the packet as
    /// received on port `.1`.
    Handoff(u16, u16),
}

/// What a node's step did with a slot (see [`Frame::each`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Queued to this node.
    To(Node),
    /// Leaves by this port index.
    Tx(u16),
    /// The step gave the slot an output (or a neighbour queue) itself.
    Done,
}

/// Where the worker puts what leaves the frame.
pub trait Sink<B> {
    /// `b` leaves by port index `port`.
    fn tx(&mut self, port: u16, b: B);
    /// `b` goes to worker `worker`, as received on port `port`.
    fn handoff(&mut self, worker: u16, port: u16, b: B);
    /// Packets that all leave by port `port` (a cross-connected burst, a run of a frame's
    /// outputs to one port), any number of them. The default sends
    /// them one by one.
    #[inline(always)]
    fn tx_all(&mut self, port: u16, bufs: impl Iterator<Item = B>) {
        for b in bufs {
            self.tx(port, b);
        }
    }
    /// `b` was dropped or consumed (`why`), and already counted: free it. A test sink keeps
    /// it to look at.
    #[inline(always)]
    fn free(&mut self, b: B, why: Output) {
        let _ = why;
        drop(b);
    }
}

/// A buffer outside any frame (queued on an unresolved neighbour). Only a frame can turn it
/// back into a packet ([`Frame::unpark`]) or free and count it ([`Frame::drop_parked`]).
#[derive(Debug)]
#[must_use = "a parked packet must be unparked or dropped through a frame"]
pub struct Parked<B>(B);

/// What a node did with a slot, for the packet trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// Queued to this node.
    Next(Node),
    /// Reached this output.
    Out(Output),
    /// Queued on an unresolved neighbour.
    Parked,
    /// Not yet decided.
    None,
}

/// Decisions a node collects before queueing them ([`Frame::each`]).
const NEXTS: usize = 64;

/// A node's queue: slot numbers, preallocated to the frame's capacity.
struct Queue {
    slots: Box<[u16]>,
    len: usize,
}

impl Queue {
    fn new(cap: usize) -> Queue {
        Queue { slots: vec![0; cap].into_boxed_slice(), len: 0 }
    }
}

/// The packets of one polling round.
pub struct Frame<B> {
    bufs: Vec<Option<B>>,
    meta: Vec<PacketMeta>,
    hop: Vec<Hop>,
    /// Slots that reached an output, with it, in the order they reached it.
    done: Vec<(u16, Output)>,
    queues: [Queue; Node::COUNT],
    /// Where a taken queue's slots are copied for the node to read (see `next_queue`).
    list: Vec<u16>,
    /// Bit n set: the queue of node n is not empty.
    pending: u32,
    /// Packets that found the frame full.
    overflow: u64,
    /// Drops of packets that never had a slot or that left it counted early (see
    /// [`Frame::count_drop`]).
    lost: [u32; DropReason::COUNT],
    lost_any: bool,
    /// Some slot carries a trace mark.
    pub(super) traced: bool,
    cap: usize,
}

impl<B: PacketBuf> Frame<B> {
    /// A frame of at most `cap` packets (capped at 65535).
    pub fn new(cap: usize) -> Self {
        let cap = cap.clamp(1, u16::MAX as usize);
        Frame {
            bufs: Vec::with_capacity(cap),
            meta: vec![PacketMeta::rx(0); cap],
            hop: vec![Hop::None; cap],
            done: Vec::with_capacity(cap),
            queues: std::array::from_fn(|_| Queue::new(cap)),
            list: Vec::with_capacity(cap),
            pending: 0,
            overflow: 0,
            lost: [0; DropReason::COUNT],
            lost_any: false,
            traced: false,
            cap,
        }
    }

    /// Packets the frame can hold.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Slots in use.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.bufs.len()
    }

    /// True when no packet entered the frame since the last [`Frame::finish`].
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// A new slot holding `b` with `meta`, not yet queued anywhere. None (and `b` freed and
    /// counted as `emit-overflow`) when the frame is full.
    #[inline(always)]
    pub fn add(&mut self, b: B, meta: PacketMeta) -> Option<u16> {
        let i = self.bufs.len();
        if i >= self.cap {
            self.overflow += 1;
            drop(b);
            return None;
        }
        self.bufs.push(Some(b));
        self.meta[i] = meta;
        Some(i as u16)
    }

    /// Adds `b` with `meta` and queues it to `node`.
    #[inline(always)]
    pub fn push(&mut self, b: B, meta: PacketMeta, node: Node) {
        if let Some(i) = self.add(b, meta) {
            self.to(i, node);
        }
    }

    /// A new buffer from `alloc` in a new slot with `meta`, not yet queued. None when the
    /// pool is empty (counted as `no-mbuf`) or the frame full.
    #[inline]
    pub fn alloc<A: BufAlloc<Buf = B>>(&mut self, alloc: &A, meta: PacketMeta) -> Option<u16> {
        match alloc.alloc() {
            Some(b) => self.add(b, meta),
            None => {
                self.count_drop(DropReason::NoMbuf);
                None
            }
        }
    }

    /// Adds every buffer of `bufs` with `meta` and queues them to `node` (a received
    /// burst); what does not fit is freed and counted as `emit-overflow`.
    #[inline(always)]
    pub fn push_all(&mut self, bufs: impl Iterator<Item = B>, meta: PacketMeta, node: Node) {
        let start = self.bufs.len();
        let room = self.cap - start;
        let mut more = bufs;
        self.bufs.extend(more.by_ref().take(room).map(Some));
        for b in more {
            self.overflow += 1;
            drop(b);
        }
        let end = self.bufs.len();
        if end == start {
            return;
        }
        self.meta[start..end].fill(meta);
        let q = &mut self.queues[node as usize];
        match q.slots.get_mut(q.len..q.len + (end - start)) {
            Some(dst) => {
                for (s, i) in dst.iter_mut().zip(start..end) {
                    *s = i as u16;
                }
                q.len += end - start;
                self.pending |= 1 << node as u32;
            }
            None => {
                for i in start..end {
                    self.to(i as u16, node);
                }
            }
        }
    }

    /// A copy of slot `i` (bytes and metadata) in a new slot, not yet queued. None when the
    /// pool is empty (counted as `no-mbuf`) or the frame full.
    #[inline]
    pub fn duplicate(&mut self, i: u16) -> Option<u16> {
        let copy = self.bufs[usize::from(i)].as_ref().and_then(|b| b.duplicate());
        match copy {
            Some(b) => {
                let m = self.meta[usize::from(i)];
                self.add(b, m)
            }
            None => {
                self.count_drop(DropReason::NoMbuf);
                None
            }
        }
    }

    /// Counts a drop that has no slot to go with: a copy or a generated packet that could
    /// not be made, or a datagram whose buffer goes on as something else (the ICMP error
    /// about it).
    #[inline]
    pub fn count_drop(&mut self, r: DropReason) {
        self.lost[r.index()] += 1;
        self.lost_any = true;
    }

    /// The bytes of slot `i`.
    #[inline(always)]
    pub fn buf(&self, i: u16) -> &B {
        // Slots handed to nodes always hold a buffer: they leave only through an output.
        match &self.bufs[usize::from(i)] {
            Some(b) => b,
            None => unreachable_slot(),
        }
    }

    /// The bytes of slot `i`, writable.
    #[inline(always)]
    pub fn buf_mut(&mut self, i: u16) -> &mut B {
        match &mut self.bufs[usize::from(i)] {
            Some(b) => b,
            None => unreachable_slot(),
        }
    }

    /// The bytes and the metadata of slot `i`, both writable.
    #[inline(always)]
    pub fn both_mut(&mut self, i: u16) -> (&mut B, &mut PacketMeta) {
        let m = &mut self.meta[usize::from(i)];
        match &mut self.bufs[usize::from(i)] {
            Some(b) => (b, m),
            None => unreachable_slot(),
        }
    }

    /// The bytes of slot `from` to read and those of slot `to` to write (two slots, as a
    /// copy from one packet into another needs).
    #[inline]
    pub fn pair(&mut self, from: u16, to: u16) -> (&B, &mut B) {
        let (a, b) = (usize::from(from), usize::from(to));
        assert_ne!(a, b, "a slot copied into itself");
        let (src, dst) = if a < b {
            let (lo, hi) = self.bufs.split_at_mut(b);
            (&lo[a], &mut hi[0])
        } else {
            let (lo, hi) = self.bufs.split_at_mut(a);
            (&hi[0], &mut lo[b])
        };
        match (src, dst) {
            (Some(s), Some(d)) => (s, d),
            _ => unreachable_slot(),
        }
    }

    /// The metadata of slot `i`.
    #[inline(always)]
    pub fn meta(&self, i: u16) -> &PacketMeta {
        &self.meta[usize::from(i)]
    }

    /// The metadata of slot `i`, writable.
    #[inline(always)]
    pub fn meta_mut(&mut self, i: u16) -> &mut PacketMeta {
        &mut self.meta[usize::from(i)]
    }

    /// Queues slot `i` to `node`.
    #[inline(always)]
    pub fn to(&mut self, i: u16, node: Node) {
        let q = &mut self.queues[node as usize];
        if let Some(s) = q.slots.get_mut(q.len) {
            *s = i;
            q.len += 1;
            self.pending |= 1 << node as u32;
            if self.traced {
                self.hop[usize::from(i)] = Hop::Next(node);
            }
        } else {
            // A slot visits a node at most once, so a queue cannot outgrow the frame.
            self.end(i, Output::Drop(DropReason::EmitOverflow));
        }
    }

    /// Runs `step` over `list` and takes each slot where it said: a node, a port, or
    /// nowhere (the step gave the slot an output itself). The decisions are collected a
    /// chunk at a time and applied together, so a run of packets to the same node or port
    /// (the common case) is one copy into that node's queue or the output list instead of
    /// a length update per packet. `step` gets the slot and its position in `list`.
    #[inline(always)]
    pub fn each(&mut self, list: &[u16], mut step: impl FnMut(&mut Self, usize, u16) -> Next) {
        for (c, chunk) in list.chunks(NEXTS).enumerate() {
            let mut next = [Next::Done; NEXTS];
            for (k, (n, &i)) in next.iter_mut().zip(chunk).enumerate() {
                *n = step(self, c * NEXTS + k, i);
            }
            self.go_each(chunk, &next[..chunk.len()]);
        }
    }

    /// Takes slot `i` where `n` says.
    #[inline(always)]
    pub fn go(&mut self, i: u16, n: Next) {
        match n {
            Next::To(node) => self.to(i, node),
            Next::Tx(port) => self.tx(i, port),
            Next::Done => {}
        }
    }

    /// Takes `slots[k]` where `next[k]` says.
    #[inline(always)]
    fn go_each(&mut self, slots: &[u16], next: &[Next]) {
        let Some(&first) = next.first() else { return };
        if next.iter().all(|&n| n == first) {
            match first {
                Next::To(node) => self.queue_all(slots, node),
                Next::Tx(port) => {
                    self.done.extend(slots.iter().map(|&i| (i, Output::Tx(port))));
                    if self.traced {
                        for &i in slots {
                            self.hop[usize::from(i)] = Hop::Out(Output::Tx(port));
                        }
                    }
                }
                Next::Done => {}
            }
            return;
        }
        for (&i, &n) in slots.iter().zip(next) {
            self.go(i, n);
        }
    }

    /// Queues every slot of `slots` to `node`.
    #[inline(always)]
    fn queue_all(&mut self, slots: &[u16], node: Node) {
        let q = &mut self.queues[node as usize];
        let end = q.len + slots.len();
        match q.slots.get_mut(q.len..end) {
            Some(dst) => {
                copy_slots(dst, slots);
                q.len = end;
                self.pending |= 1 << node as u32;
                if self.traced {
                    for &i in slots {
                        self.hop[usize::from(i)] = Hop::Next(node);
                    }
                }
            }
            // One at a time, so that what does not fit is counted (it cannot happen: a slot
            // visits a node at most once).
            None => {
                for &i in slots {
                    self.to(i, node);
                }
            }
        }
    }

    #[inline(always)]
    fn end(&mut self, i: u16, o: Output) {
        if self.traced {
            self.hop[usize::from(i)] = Hop::Out(o);
        }
        self.done.push((i, o));
    }

    /// Slot `i` leaves by port `port`.
    #[inline(always)]
    pub fn tx(&mut self, i: u16, port: u16) {
        self.end(i, Output::Tx(port));
    }

    /// Slot `i` is freed and counted under `r`.
    #[inline(always)]
    pub fn drop(&mut self, i: u16, r: DropReason) {
        self.end(i, Output::Drop(r));
    }

    /// Slot `i` was for the appliance and is handled.
    #[inline(always)]
    pub fn consumed(&mut self, i: u16) {
        self.end(i, Output::Consumed);
    }

    /// Slot `i` goes to worker `worker`, as received on `port`.
    #[inline(always)]
    pub fn handoff(&mut self, i: u16, worker: u16, port: u16) {
        self.end(i, Output::Handoff(worker, port));
    }

    /// Takes slot `i`'s buffer out of the frame to wait for a neighbour.
    #[inline]
    pub fn park(&mut self, i: u16) -> Parked<B> {
        self.hop[usize::from(i)] = Hop::Parked;
        match self.bufs[usize::from(i)].take() {
            Some(b) => Parked(b),
            None => unreachable_slot(),
        }
    }

    /// Brings a parked buffer back as a new slot queued to `node`.
    #[inline]
    pub fn unpark(&mut self, p: Parked<B>, meta: PacketMeta, node: Node) {
        self.push(p.0, meta, node);
    }

    /// Brings a parked buffer back as a new slot with `meta`, not yet queued. None (the
    /// buffer freed and counted as `emit-overflow`) when the frame is full.
    #[inline]
    pub fn add_parked(&mut self, p: Parked<B>, meta: PacketMeta) -> Option<u16> {
        self.add(p.0, meta)
    }

    /// A parked buffer comes back only to be dropped under `r` (it reaches the output
    /// point like any dropped packet).
    #[inline]
    pub fn drop_parked(&mut self, p: Parked<B>, meta: PacketMeta, r: DropReason) {
        if let Some(i) = self.add(p.0, meta) {
            self.drop(i, r);
        }
    }

    /// The highest-priority node with packets queued, its queue taken out of the frame
    /// (give it back with [`Frame::give_back`]).
    #[inline(always)]
    pub(super) fn next_queue(&mut self) -> Option<(Node, Vec<u16>)> {
        if self.pending == 0 {
            return None;
        }
        let n = self.pending.trailing_zeros() as usize;
        self.pending &= !(1 << n);
        let mut list = std::mem::take(&mut self.list);
        let q = &mut self.queues[n];
        list.extend_from_slice(&q.slots[..q.len]);
        q.len = 0;
        Some((Node::ALL[n], list))
    }

    /// Returns the list taken by [`Frame::next_queue`].
    #[inline(always)]
    pub(super) fn give_back(&mut self, mut list: Vec<u16>) {
        list.clear();
        self.list = list;
    }

    /// What the last node did with slot `i`.
    pub(super) fn hop(&self, i: u16) -> Hop {
        self.hop[usize::from(i)]
    }

    /// The one output point: every slot that reached an output is sent, handed off, or
    /// freed and counted, in the order the outputs were reached; then the frame is empty.
    pub fn finish<S: Sink<B>>(&mut self, sink: &mut S, c: &WorkerCounters) {
        debug_assert_eq!(self.pending, 0, "finish before the graph ran");
        let (done, bufs) = (&self.done, &mut self.bufs);
        let mut k = 0;
        while k < done.len() {
            let (i, o) = done[k];
            if let Output::Tx(p) = o {
                // A run of packets out of one port goes as one: the sink's buffer takes it
                // without a length update per packet.
                let run = done[k..].iter().take_while(|&&(_, o)| o == Output::Tx(p)).count();
                sink.tx_all(p, done[k..k + run].iter().filter_map(|&(i, _)| bufs[usize::from(i)].take()));
                k += run;
                continue;
            }
            k += 1;
            let Some(b) = bufs[usize::from(i)].take() else { continue };
            match o {
                Output::Tx(p) => sink.tx(p, b),
                Output::Handoff(w, p) => sink.handoff(w, p, b),
                o @ Output::Drop(r) => {
                    c.drop_n(r, 1);
                    sink.free(b, o);
                }
                o @ Output::Consumed => {
                    c.event(Event::LocalConsumed);
                    sink.free(b, o);
                }
            }
        }
        self.done.clear();
        debug_assert!(self.bufs.iter().all(Option::is_none), "a slot reached no output");
        self.bufs.clear();
        self.traced = false;
        if self.overflow > 0 {
            c.drop_n(DropReason::EmitOverflow, self.overflow);
            self.overflow = 0;
        }
        if self.lost_any {
            for (r, n) in self.lost.iter_mut().enumerate() {
                if *n > 0 {
                    c.drop_n(DropReason::ALL[r], u64::from(*n));
                    *n = 0;
                }
            }
            self.lost_any = false;
        }
    }
}

#[cold]
#[inline(never)]
fn unreachable_slot() -> ! {
    unreachable!("a node was given a slot without a buffer")
}

/// `dst` = `src` (equal lengths, at most a frame's worth): sixteen bytes at a time, then
/// pieces of four, two and one slots, all inline; a slice copy of a run's length is a call
/// into libc's memmove for what is a few vector moves.
#[inline(always)]
fn copy_slots(dst: &mut [u16], src: &[u16]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (a, b) in (&mut d).zip(&mut s) {
        let b: &[u16; 8] = b.try_into().unwrap_or(&[0; 8]);
        a.copy_from_slice(b);
    }
    // The rest (under eight) in fixed-size pieces: a loop here becomes a memcpy call again.
    let (d, s) = (d.into_remainder(), s.remainder());
    let mut k = 0;
    for w in [4, 2, 1] {
        if s.len() - k >= w {
            if let (Some(a), Some(b)) = (d.get_mut(k..k + w), s.get(k..k + w)) {
                a.copy_from_slice(b);
            }
            k += w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::VecBuf;

    /// A frame of `n` one-byte packets, slot k holding byte k.
    fn frame(n: usize) -> Frame<VecBuf> {
        let mut f = Frame::new(n + 8);
        for k in 0..n {
            assert_eq!(f.add(VecBuf::new(&[k as u8]), PacketMeta::rx(0)), Some(k as u16));
        }
        f
    }

    fn queue(f: &Frame<VecBuf>, n: Node) -> Vec<u16> {
        let q = &f.queues[n as usize];
        q.slots[..q.len].to_vec()
    }

    #[test]
    fn each_queues_every_slot_to_the_node_its_step_chose_in_list_order() {
        // 150 slots: more than one chunk of decisions; all to one node, then mixed.
        let mut f = frame(150);
        let list: Vec<u16> = (0..150).rev().collect();
        let mut seen = Vec::new();
        f.each(&list, |_, k, i| {
            seen.push((k, i));
            Next::To(Node::Ip4Input)
        });
        assert_eq!(seen, list.iter().enumerate().map(|(k, &i)| (k, i)).collect::<Vec<_>>());
        assert_eq!(queue(&f, Node::Ip4Input), list);
        assert_eq!(f.pending, 1 << Node::Ip4Input as u32);

        let (node, taken) = f.next_queue().unwrap();
        assert_eq!((node, taken.len()), (Node::Ip4Input, 150));
        // Mixed: odd slots forward, multiples of 10 dropped by the step, the rest local.
        f.each(&taken, |f, _, i| match i {
            _ if i % 10 == 0 => {
                f.drop(i, DropReason::Malformed);
                Next::Done
            }
            _ if i % 2 == 1 => Next::To(Node::Ip4Forward),
            _ => Next::To(Node::Ip4Local),
        });
        let odd: Vec<u16> = taken.iter().copied().filter(|i| i % 2 == 1).collect();
        let local: Vec<u16> = taken.iter().copied().filter(|i| i % 2 == 0 && i % 10 != 0).collect();
        assert_eq!(queue(&f, Node::Ip4Forward), odd);
        assert_eq!(queue(&f, Node::Ip4Local), local);
        let dropped: Vec<u16> = f
            .done
            .iter()
            .map(|&(i, o)| {
                assert_eq!(o, Output::Drop(DropReason::Malformed));
                i
            })
            .collect();
        assert_eq!(dropped, taken.iter().copied().filter(|i| i % 10 == 0).collect::<Vec<_>>());
        assert_eq!(f.pending, (1 << Node::Ip4Forward as u32) | (1 << Node::Ip4Local as u32));
        f.give_back(taken);
    }

    #[test]
    fn each_records_the_hops_of_a_traced_frame() {
        let mut f = frame(3);
        f.traced = true;
        f.each(&[0, 1, 2], |_, _, _| Next::To(Node::L2Fwd));
        assert!((0..3).all(|i| f.hop(i) == Hop::Next(Node::L2Fwd)));
        f.each(&[2, 1], |_, _, i| if i == 2 { Next::To(Node::L2Flood) } else { Next::Done });
        assert_eq!(f.hop(2), Hop::Next(Node::L2Flood));
        assert_eq!(f.hop(1), Hop::Next(Node::L2Fwd), "a slot the step kept has no new hop");
    }
    #[test]
    fn each_sends_a_run_to_one_port_and_mixed_decisions_one_by_one() {
        let mut f = frame(5);
        f.traced = true;
        f.each(&[4, 2, 0], |_, _, _| Next::Tx(3));
        assert_eq!(f.done, [(4, Output::Tx(3)), (2, Output::Tx(3)), (0, Output::Tx(3))]);
        assert_eq!(f.hop(2), Hop::Out(Output::Tx(3)));
        f.each(&[1, 3], |_, _, i| if i == 1 { Next::Tx(0) } else { Next::To(Node::L2Flood) });
        assert_eq!(f.done[3..], [(1, Output::Tx(0))]);
        assert_eq!(queue(&f, Node::L2Flood), [3]);
        let (_, list) = f.next_queue().unwrap();
        f.each(&list, |_, _, _| Next::Tx(0));
        f.give_back(list);
        let c = WorkerCounters::new(4);
        let mut rec = Rec::default();
        f.finish(&mut rec, &c);
        assert_eq!(rec.tx, [(3, 4), (3, 2), (3, 0), (0, 1), (0, 3)]);
        assert_eq!(rec.runs, [(3, 3), (0, 2)]);
    }

    /// Records what leaves: (port, first byte) per tx, how many tx_all calls, what was freed.
    #[derive(Default)]
    struct Rec {
        tx: Vec<(u16, u8)>,
        runs: Vec<(u16, usize)>,
        freed: Vec<(u8, Output)>,
    }

    impl Sink<VecBuf> for Rec {
        fn tx(&mut self, port: u16, b: VecBuf) {
            self.tx.push((port, b.data()[0]));
        }
        fn handoff(&mut self, _: u16, _: u16, _: VecBuf) {}
        fn tx_all(&mut self, port: u16, bufs: impl Iterator<Item = VecBuf>) {
            let before = self.tx.len();
            for b in bufs {
                self.tx(port, b);
            }
            self.runs.push((port, self.tx.len() - before));
        }
        fn free(&mut self, b: VecBuf, why: Output) {
            self.freed.push((b.data()[0], why));
        }
    }

    #[test]
    fn finish_sends_each_run_to_one_port_as_one_in_output_order() {
        let mut f = frame(6);
        // Outputs reached in this order: 3, 0 -> port 1; 5 dropped; 1, 2 -> port 0; 4 -> port 1.
        f.tx(3, 1);
        f.tx(0, 1);
        f.drop(5, DropReason::NoRoute);
        f.tx(1, 0);
        f.tx(2, 0);
        f.tx(4, 1);
        let c = WorkerCounters::new(2);
        let mut rec = Rec::default();
        f.finish(&mut rec, &c);
        assert_eq!(rec.tx, [(1, 3), (1, 0), (0, 1), (0, 2), (1, 4)]);
        assert_eq!(rec.runs, [(1, 2), (0, 2), (1, 1)]);
        assert_eq!(rec.freed, [(5, Output::Drop(DropReason::NoRoute))]);
        assert_eq!(c.drops[DropReason::NoRoute.index()].get(), 1);
        assert!(f.is_empty());
    }

    #[test]
    fn push_all_queues_a_burst_and_counts_what_does_not_fit() {
        let mut f: Frame<VecBuf> = Frame::new(4);
        f.add(VecBuf::new(&[9]), PacketMeta::rx(0)).unwrap();
        f.push_all((0..5u8).map(|k| VecBuf::new(&[k])), PacketMeta::rx(7), Node::L2Input);
        assert_eq!(queue(&f, Node::L2Input), [1, 2, 3]);
        assert!((1..4).all(|i| f.meta(i).in_port == 7 && f.buf(i).data()[0] == i as u8 - 1));
        assert_eq!(f.meta(0).in_port, 0);
        // Nothing at all fits now: still counted.
        f.push_all(std::iter::once(VecBuf::new(&[5])), PacketMeta::rx(7), Node::L2Input);
        assert_eq!(f.overflow, 3);
        let (_, list) = f.next_queue().unwrap();
        for &i in &list {
            f.drop(i, DropReason::Malformed);
        }
        f.give_back(list);
        f.drop(0, DropReason::Malformed);
        let c = WorkerCounters::new(1);
        f.finish(&mut Rec::default(), &c);
        assert_eq!(c.drops[DropReason::EmitOverflow.index()].get(), 3);
        assert_eq!(c.drops[DropReason::Malformed.index()].get(), 4);
    }

    #[test]
    fn copy_slots_copies_every_length_of_a_run() {
        let src: Vec<u16> = (100..100 + NEXTS as u16).collect();
        for n in 0..=NEXTS {
            let mut dst = [u16::MAX; NEXTS + 1];
            super::copy_slots(&mut dst[..n], &src[..n]);
            assert_eq!(&dst[..n], &src[..n], "length {n}");
            assert!(dst[n..].iter().all(|&x| x == u16::MAX), "length {n} wrote past its end");
        }
    }
}
