//! `ip4-frag`: a routed packet without DF that is larger than the MTU of the domain it is
//! routed into (`meta.out_domain`) is cut into fragments that fit (RFC 791 3.2, RFC 1812
//! 4.2.2.7, Linux `ip_do_fragment`): the payload in pieces of a multiple of 8 bytes, each
//! with a copy of the header whose offset and more-fragments flag say where it belongs
//! (the last keeps the original's MF, so a fragment is fragmented correctly too); the first
//! keeps all options, the others only those with the copied flag; every header's checksum
//! is computed anew. The original buffer becomes the first fragment, the others are new
//! buffers holding a copy of the frame's L2 header, so `ip4-neigh` treats them all alike.
//!
//! Next: `ip4-neigh`; drops: malformed, no-mbuf (a fragment could not be had: the whole
//! datagram is dropped, as a receiver could not reassemble it).

use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::tables::MAX_FRAGMENTS;
use crate::pipeline::{Cx, Frame, Node};
use crate::stats::{DropReason, Event};
use crate::wire::ipv4::{self, Ipv4Packet};

/// The largest IPv4 header (with options).
const MAX_HEADER: usize = 60;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc<Buf = B>>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let mtu = cx.t.domains.get(usize::from(f.meta(i).out_domain)).map_or(0, |d| usize::from(d.mtu));
        let mut made = [0u16; MAX_FRAGMENTS];
        match fragment(cx, f, i, mtu, &mut made) {
            Ok(n) => {
                cx.c.event(Event::Fragmented);
                cx.c.event_n(Event::FragmentsSent, n as u64 + 1);
                f.to(i, Node::Ip4Neigh);
                for &j in &made[..n] {
                    f.to(j, Node::Ip4Neigh);
                }
            }
            Err((r, n)) => {
                for &j in &made[..n] {
                    f.drop(j, r);
                }
                f.drop(i, r);
            }
        }
    }
}

/// Writes one fragment into `out` (exactly its length): the L2 header `l2`, then the IPv4
/// header `hdr` with its length, offset (`offset` bytes), MF `more` and checksum set, then
/// `piece`.
pub(crate) fn write_fragment(out: &mut [u8], l2: &[u8], hdr: &[u8], piece: &[u8], offset: u16, more: bool) {
    let (l3, hl) = (l2.len(), hdr.len());
    out[..l3].copy_from_slice(l2);
    out[l3..l3 + hl].copy_from_slice(hdr);
    out[l3 + hl..].copy_from_slice(piece);
    let mut ip = Ipv4Packet::new_unchecked(&mut out[l3..]);
    ip.set_header_len(hl);
    ip.set_total_len((hl + piece.len()) as u16);
    ip.set_frag(offset, more);
    ip.fill_checksum();
}

/// The header every fragment after the first carries, and its length: the fixed 20 bytes
/// of the datagram's header `header` (options included, as checked) and the options with
/// the copied flag (RFC 791 3.2).
fn later_header(header: &[u8]) -> ([u8; MAX_HEADER], usize) {
    let mut later = [0u8; MAX_HEADER];
    let (fixed, opts) = header.split_at(ipv4::HEADER_LEN);
    later[..ipv4::HEADER_LEN].copy_from_slice(fixed);
    let n = ipv4::copied_options(opts, &mut later[ipv4::HEADER_LEN..header.len()]);
    (later, ipv4::HEADER_LEN + n)
}

/// The datagram `dg` (header and payload, not a fragment) as fragments of at most `mtu`
/// bytes in new slots with `meta`, each behind the L2 header `l2`, queued to `next`: one
/// slot when it fits. Returns the slots made; on a missing buffer or a full frame the
/// fragments made so far are dropped too (counted under `no-mbuf`).
pub(crate) fn emit_datagram<B: PacketBuf, A: BufAlloc<Buf = B>>(
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    meta: crate::packet::PacketMeta,
    l2: &[u8],
    dg: &[u8],
    mtu: usize,
    next: Node,
) -> usize {
    let Ok(ip) = Ipv4Packet::new_checked(dg) else { return 0 };
    let hl = ip.header_len();
    let (later, later_hl) = later_header(&dg[..hl]);
    let payload = &dg[hl..usize::from(ip.total_len())];
    let mut made = [0u16; MAX_FRAGMENTS * 4];
    let (mut n, mut at) = (0, 0);
    while at < payload.len() || n == 0 {
        let hdr = if n == 0 { &dg[..hl] } else { &later[..later_hl] };
        let room = mtu.saturating_sub(hdr.len()) & !7;
        let len = if dg.len() <= mtu { payload.len() } else { room.min(payload.len() - at) };
        let slot = if len == 0 || n == made.len() { None } else { f.alloc(cx.alloc, meta) };
        if let Some(j) = slot {
            made[n] = j;
            n += 1;
        }
        let Some(out) = slot.and_then(|j| f.buf_mut(j).append(l2.len() + hdr.len() + len)) else {
            for &j in &made[..n] {
                f.drop(j, DropReason::NoMbuf);
            }
            return 0;
        };
        let more = at + len < payload.len();
        write_fragment(out, l2, hdr, &payload[at..at + len], at as u16, more);
        at += len;
    }
    for &j in &made[..n] {
        f.to(j, next);
    }
    n
}

/// Cuts slot `i` into fragments of at most `mtu` bytes of IPv4: the fragments after the
/// first go to new slots, listed in `made` (their count returned); slot `i` becomes the
/// first. On an error, the slots made so far are in `made[..n]`.
fn fragment<B: PacketBuf, A: BufAlloc<Buf = B>>(
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    i: u16,
    mtu: usize,
    made: &mut [u16; MAX_FRAGMENTS],
) -> Result<usize, (DropReason, usize)> {
    let m = *f.meta(i);
    let l3 = m.l3();
    // The original's header: its fields, and the header later fragments carry.
    let (hl, total, offset, more, (later, later_hl)) = {
        let d = f.buf(i).data();
        let ip = d.get(l3..).and_then(|b| Ipv4Packet::new_checked(b).ok()).ok_or((DropReason::Malformed, 0))?;
        let hl = ip.header_len();
        (hl, usize::from(ip.total_len()), ip.frag_offset(), ip.more_frags(), later_header(&d[l3..l3 + hl]))
    };
    let first = mtu.saturating_sub(hl) & !7;
    let rest = mtu.saturating_sub(later_hl) & !7;
    let payload = total - hl;
    if first == 0 || rest == 0 || payload <= first {
        // Nothing to cut, or an MTU below any fragment (validation keeps MTUs >= 68).
        return Err((DropReason::Malformed, 0));
    }
    let count = (payload - first).div_ceil(rest);
    if count > MAX_FRAGMENTS {
        return Err((DropReason::EmitOverflow, 0));
    }
    // The later fragments: L2 header, the header with the copied options, the piece.
    let mut at = first;
    for (k, slot) in made.iter_mut().enumerate().take(count) {
        let len = rest.min(payload - at);
        let Some(j) = f.alloc(cx.alloc, m) else { return Err((DropReason::NoMbuf, k)) };
        *slot = j;
        let (src, dst) = f.pair(i, j);
        let Some(out) = dst.append(l3 + later_hl + len) else { return Err((DropReason::NoMbuf, k + 1)) };
        let s = src.data();
        let piece = &s[l3 + hl + at..l3 + hl + at + len];
        write_fragment(out, &s[..l3], &later[..later_hl], piece, offset + at as u16, more || at + len < payload);
        at += len;
    }
    // The original becomes the first fragment.
    let b = f.buf_mut(i);
    let cut = b.len() - (l3 + hl + first);
    if !b.trim(cut) {
        return Err((DropReason::Malformed, count));
    }
    let mut ip = Ipv4Packet::new_unchecked(&mut b.data_mut()[l3..]);
    ip.set_total_len((hl + first) as u16);
    ip.set_frag(offset, true);
    ip.fill_checksum();
    Ok(count)
}
