//! `ct-frag`: fragments on the stateful path (RFC 4787 REQ-14: fragments in and out of
//! order), without reassembly, through the worker's
//! [`FragTrack`](crate::l3::fragtrack). The first fragment of a datagram carries its ports:
//! it passes here on its way to `ct-lookup` (recorded, or handed to the worker that owns its
//! connection, as `ct-lookup` would hand it) and again when the stateful nodes let it
//! through, translated; its addresses as it leaves are the datagram's fate. The other
//! fragments follow: translated to the same addresses (the header checksum updated
//! incrementally; they carry no L4 header), handed to the same worker, or, when they come
//! before their first fragment, parked until it is decided. A fragment that waited in vain
//! is dropped by the timers (`ct-frag-timeout`). Each fragment then goes to routing, which
//! cuts it again if the egress MTU is smaller.
//!
//! Next: `ct-lookup` (a first fragment), `ip4-forward`; handoff; drops: malformed,
//! ct-frag-table-full, ct-frag-park-full, ct-frag-timeout.

use crate::buf::{BufAlloc, PacketBuf};
use crate::l3::fragtrack::{Fate, Follow};
use crate::l3::reass::FragKey;
use crate::packet::{flag, PacketMeta};
use crate::pipeline::{Cx, Frame, Node, Pending, State};
use crate::stats::{DropReason, Event};
use crate::wire::ipv4::Ipv4Packet;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let Some(key) = frag_key(f, i) else {
            f.drop(i, DropReason::Malformed);
            continue;
        };
        let m = *f.meta(i);
        if !m.has(flag::FRAG) {
            follower(st, cx, f, i, key);
        } else if let Some(k) = st.firsts.iter().position(|&(s, _)| s == i) {
            let (_, key) = st.firsts.swap_remove(k);
            decided(st, cx, f, i, key);
        } else {
            arrived(st, cx, f, i, key, &m);
        }
    }
}

/// The datagram slot `i` is a fragment of, as its header says now.
fn frag_key<B: PacketBuf>(f: &Frame<B>, i: u16) -> Option<FragKey> {
    let m = f.meta(i);
    let ip = f.buf(i).data().get(m.l3()..).and_then(|d| Ipv4Packet::new_checked(d).ok())?;
    Some(FragKey { src: ip.src(), dst: ip.dst(), proto: ip.protocol(), ident: ip.ident() })
}

/// Payload bytes of slot `i`'s fragment, and where the datagram ends when it is the last.
fn extent<B: PacketBuf>(f: &Frame<B>, i: u16) -> (usize, Option<usize>) {
    let m = f.meta(i);
    match f.buf(i).data().get(m.l3()..).and_then(|d| Ipv4Packet::new_checked(d).ok()) {
        Some(ip) => {
            let len = ip.payload().len();
            (len, (!ip.more_frags()).then(|| usize::from(ip.frag_offset()) + len))
        }
        None => (0, None),
    }
}

/// A first fragment on its way in: recorded and sent to `ct-lookup`, or handed to the
/// worker that owns its connection (which will decide it).
fn arrived<B: PacketBuf, A: BufAlloc>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    i: u16,
    key: FragKey,
    m: &PacketMeta,
) {
    if !st.frags.first(cx.now, key) {
        return f.drop(i, DropReason::CtFragTableFull);
    }
    if let Some(sec) = cx.t.sec.as_deref().filter(|s| s.workers > 1 && !m.has(flag::HANDED)) {
        let owner = sec.owner(&m.flow);
        if owner != st.worker {
            let (len, last) = extent(f, i);
            st.frags.passed(&key, len, last);
            cx.c.event(Event::HandoffOut);
            f.handoff(i, owner, m.in_port);
            // After it, so that the owner meets the first fragment first.
            return release(st, cx, f, key, Fate::Handed(owner));
        }
    }
    st.firsts.push((i, key));
    f.to(i, Node::CtLookup);
}

/// A first fragment the stateful nodes let through: its addresses as it leaves are the
/// datagram's fate, and the fragments that waited for it go the same way.
fn decided<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16, key: FragKey) {
    let now = frag_key(f, i).unwrap_or(key);
    let (len, last) = extent(f, i);
    st.frags.passed(&key, len, last);
    f.to(i, Node::Ip4Forward);
    release(st, cx, f, key, Fate::Go { src: now.src, dst: now.dst });
}

/// Lets the fragments parked on `key` go as `fate` says.
fn release<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, key: FragKey, fate: Fate) {
    let mut out = std::mem::take(&mut st.frag_out);
    st.frags.decide(&key, fate, &mut out);
    for p in out.drain(..) {
        // Back in the frame, then on its way like a fragment that came after its first.
        let Some(j) = f.add_parked(p.pkt, p.meta) else { continue };
        go(st, cx, f, j, key, fate);
    }
    st.frag_out = out;
}

/// A fragment after the first.
fn follower<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16, key: FragKey) {
    if let Some(fate @ (Fate::Go { .. } | Fate::Handed(_))) = st.frags.fate(&key) {
        return go(st, cx, f, i, key, fate);
    }
    let meta = *f.meta(i);
    let p = Pending { pkt: f.park(i), ifx: 0, meta };
    match st.frags.follow(cx.now, key, p) {
        Follow::Go(fate, p) => {
            if let Some(j) = f.add_parked(p.pkt, p.meta) {
                go(st, cx, f, j, key, fate);
            }
        }
        Follow::Parked => {}
        Follow::Full(p) => f.drop_parked(p.pkt, p.meta, DropReason::CtFragParkFull),
    }
}

/// Slot `j`, a fragment after the first, goes as its first fragment went.
fn go<B: PacketBuf, A: BufAlloc>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    j: u16,
    key: FragKey,
    fate: Fate,
) {
    let (len, last) = extent(f, j);
    st.frags.passed(&key, len, last);
    match fate {
        Fate::Waiting => f.drop(j, DropReason::CtFragTimeout),
        Fate::Handed(w) => {
            cx.c.event(Event::HandoffOut);
            let port = f.meta(j).in_port;
            f.handoff(j, w, port);
        }
        Fate::Go { src, dst } => {
            let (b, m) = f.both_mut(j);
            let l3 = m.l3();
            if let Some(mut ip) = b.data_mut().get_mut(l3..).and_then(|d| Ipv4Packet::new_checked(d).ok()) {
                if ip.src() != src {
                    ip.set_src_update(src);
                }
                if ip.dst() != dst {
                    ip.set_dst_update(dst);
                }
            }
            m.ip = dst;
            cx.c.event(Event::CtFragFollowed);
            f.to(j, Node::Ip4Forward);
        }
    }
}

/// Timers: fragments whose first fragment never came in time are dropped.
pub(crate) fn expire<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>) {
    let mut out = std::mem::take(&mut st.frag_out);
    st.frags.poll(cx.now, &mut out);
    for p in out.drain(..) {
        f.drop_parked(p.pkt, p.meta, DropReason::CtFragTimeout);
    }
    st.frag_out = out;
}
