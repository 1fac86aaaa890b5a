//! `ip4-reass`: fragments addressed to the appliance itself are reassembled (RFC 1122
//! 3.3.2, RFC 1812 4.2.2.8) in the worker's [`Reassembly`](crate::l3::reass) contexts: each
//! fragment's bytes are copied into its datagram and its buffer freed at once (counted as
//! consumed), so no packet buffer waits. A complete echo request is answered as `ip4-local`
//! answers one, the reply cut into fragments of the ingress domain's MTU when it is larger;
//! other complete datagrams are dropped (`local-unhandled`: no service takes them). The
//! timers discard datagrams not complete in time and, when fragment zero had come, send
//! its sender ICMP time exceeded, fragment reassembly time exceeded (RFC 792; RFC 1122
//! 3.3.2 MUST).
//!
//! Next: `l2-output` or `vxlan4-encap` (the reply's fragments), `icmp4-error` (timeouts); drops:
//! reass-table-full, reass-overlap, reass-invalid, reass-timeout, local-unhandled,
//! malformed; consumed: the fragments kept.

use super::ip4_frag::emit_datagram;
use super::{back, ETH};
use crate::buf::{BufAlloc, PacketBuf};
use crate::l3::reass::{Expired, FragFrom, FragKey, ReassDrop};
use crate::packet::{flag, PacketMeta};
use crate::pipeline::{Cx, Frame, Node, Role, State};
use crate::stats::{DropReason, Event};
use crate::wire::ethernet::{mac_u64_at, EthernetRepr};
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::ipv4::{proto, Ipv4Packet};
use crate::wire::{EtherType, MacAddr};

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    list: &[u16],
) {
    for &i in list {
        match keep(st, cx, f, i) {
            Ok(None) => {
                cx.c.event(Event::FragmentKept);
                f.consumed(i);
            }
            Ok(Some(idx)) => {
                cx.c.event(Event::FragmentKept);
                cx.c.event(Event::Reassembled);
                f.consumed(i);
                deliver(st, cx, f, idx);
                st.reass.release(idx);
            }
            Err(r) => f.drop(i, r),
        }
    }
}

/// Copies the fragment in slot `i` into its datagram; the context's index when that made
/// it complete.
fn keep<B: PacketBuf, A: BufAlloc>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &Frame<B>,
    i: u16,
) -> Result<Option<usize>, DropReason> {
    let m = f.meta(i);
    let d = f.buf(i).data();
    let ip = d.get(m.l3()..).and_then(|b| Ipv4Packet::new_checked(b).ok()).ok_or(DropReason::Malformed)?;
    let key = FragKey { src: ip.src(), dst: ip.dst(), proto: ip.protocol(), ident: ip.ident() };
    let vtep = if m.has(flag::OVERLAY) { m.vtep } else { 0 };
    let from = FragFrom { port: m.in_port, domain: m.domain, mac: mac_u64_at(d, 6), vtep };
    let hl = ip.header_len();
    let header = &d[m.l3()..m.l3() + hl];
    let at = (usize::from(ip.frag_offset()), ip.more_frags());
    st.reass.add(cx.now, key, from, at, header, ip.payload()).map_err(|e| match e {
        ReassDrop::TableFull => DropReason::ReassTableFull,
        ReassDrop::Overlap => DropReason::ReassOverlap,
        ReassDrop::Invalid => DropReason::ReassInvalid,
    })
}

/// Metadata of a packet sent back to where the fragments came from.
fn toward(from: FragFrom) -> PacketMeta {
    let mut m = PacketMeta::rx(from.port);
    m.domain = from.domain;
    if from.vtep != 0 {
        m.flags |= flag::OVERLAY;
        m.vtep = from.vtep;
    }
    m
}

/// The IP MTU toward where a datagram came from: the ingress domain's (which counts the
/// tunnel's for the overlay), or on the underlay the port's.
fn mtu_back<A: BufAlloc>(cx: &Cx<'_, A>, m: &PacketMeta) -> usize {
    let t = cx.t;
    let mtu = match t.roles.get(usize::from(m.in_port)) {
        Some(Role::Underlay) if !m.has(flag::OVERLAY) => t.port_mtu.get(usize::from(m.in_port)).copied(),
        _ => t.domains.get(usize::from(m.domain)).map(|d| d.mtu),
    };
    usize::from(mtu.unwrap_or(crate::pipeline::tables::DEFAULT_MTU))
}

/// Serves the complete datagram of context `idx`.
fn deliver<B: PacketBuf, A: BufAlloc<Buf = B>>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, idx: usize) {
    let Some((dg, from)) = st.reass.datagram(idx) else { return };
    let mut meta = toward(from);
    let Some(g) = cx.t.gateway_for(&meta) else { return f.count_drop(DropReason::NoForward) };
    let len = dg.len();
    let mut ip = Ipv4Packet::new_unchecked(&mut dg[..]);
    // Fragment zero's header becomes the whole datagram's.
    ip.set_total_len(len as u16);
    ip.set_frag(0, false);
    let (src, dst, hl) = (ip.src(), ip.dst(), ip.header_len());
    let echo = ip.protocol() == proto::ICMP
        && Icmpv4Packet::new_checked(&dg[hl..])
            .is_ok_and(|e| e.msg_type() == icmpv4::kind::ECHO_REQUEST && e.verify_checksum());
    if !echo {
        return f.count_drop(DropReason::LocalUnhandled);
    }
    // The reply, in place (RFC 1122 3.2.2.6: same data and identification).
    let mut ip = Ipv4Packet::new_unchecked(&mut dg[..]);
    ip.set_src_update(dst);
    ip.set_dst_update(src);
    ip.set_ttl_update(64);
    ip.fill_checksum();
    if let Ok(mut e) = Icmpv4Packet::new_checked(&mut dg[hl..]) {
        e.set_type_update(icmpv4::kind::ECHO_REPLY);
    }
    let mut l2 = [0u8; ETH];
    EthernetRepr { dst: MacAddr::from_u64(from.mac), src: g.mac, ethertype: EtherType::IPV4 }.emit(&mut l2);
    let mtu = mtu_back(cx, &meta);
    let next = back(&mut meta);
    if emit_datagram(cx, f, meta, &l2, dg, mtu, next) > 0 {
        cx.c.event(Event::EchoReplySent);
    }
}

/// Timers: datagrams not complete in time are discarded; whose fragment zero came gets
/// ICMP time exceeded (code 1) through `icmp4-error`, the others are counted.
pub(crate) fn expire<B: PacketBuf, A: BufAlloc<Buf = B>>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>) {
    let mut gone = std::mem::take(&mut st.expired);
    gone.clear();
    st.reass.poll(cx.now, &mut gone);
    for e in &gone {
        let Expired { from, quote } = *e;
        let Some((q, n)) = quote else {
            f.count_drop(DropReason::ReassTimeout);
            continue;
        };
        // The quoted start of the datagram behind its sender's Ethernet header, as if it had
        // just arrived: icmp4-error answers it like any datagram it turns into an error.
        let mut meta = toward(from);
        meta.icmp_error(DropReason::ReassTimeout, icmpv4::kind::TIME_EXCEEDED, 1, 0);
        let Some(j) = f.alloc(cx.alloc, meta) else { continue };
        let Some(out) = f.buf_mut(j).append(ETH + n) else {
            f.drop(j, DropReason::NoMbuf);
            continue;
        };
        let src = MacAddr::from_u64(from.mac);
        EthernetRepr { dst: MacAddr::default(), src, ethertype: EtherType::IPV4 }.emit(&mut out[..ETH]);
        out[ETH..].copy_from_slice(&q[..n]);
        f.to(j, Node::Icmp4Error);
    }
    st.expired = gone;
}
