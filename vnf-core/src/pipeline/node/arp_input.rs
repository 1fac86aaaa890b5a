//! `arp-input`: ARP in a routed domain (Linux `arp_process`, RFC 826's reception steps).
//! The merge step first: an ARP whose sender is a neighbour in the gateway's subnet
//! updates (and confirms) that neighbour's entry, whatever the ARP is; a request for an own
//! address (the gateway, or an address `Tables::answers_arp` names) creates it. Every
//! request for an own address is answered, from any sender: a probe (sender 0.0.0.0, RFC
//! 5227) gets a reply to the sender's MAC with target address 0.0.0.0 and teaches nothing,
//! and a sender outside the subnet is answered but not recorded. A broadcast ARP is then
//! flooded on as any broadcast (the reply comes from a new buffer); ARP sent to the gateway
//! MAC is a reply to our request or probe (consumed) or a unicast request (answered in
//! place). Learning a neighbour releases the packets that waited for it.
//!
//! With several workers every neighbour table must learn what one ARP teaches: the reply
//! to worker A's request may arrive on worker B's queue (a NIC's RSS sends non-IP frames to
//! one queue). So an ARP from a possible neighbour is also copied to every other worker
//! (handoff); there the copy (marked handed) only updates that worker's table, as Linux's
//! one shared table would be, and is consumed: it is answered and flooded once, here.
//!
//! Next: `l2-flood` (broadcast), `l2-output` (replies), handoff (copies to the other
//! workers); drops: malformed, no-forward, arp-not-ours; consumed: replies to our requests,
//! copies from other workers.

use super::new_arp;
use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::{flag, PacketMeta};
use crate::pipeline::tables::Gateway;
use crate::pipeline::{Cx, Frame, Node, State};
use crate::stats::{DropReason, Event};
use crate::wire::arp::{self, ArpPacket, ArpRepr};
use crate::wire::ethernet::set_macs;
use crate::wire::MacAddr;

fn parse<B: PacketBuf>(f: &Frame<B>, i: u16) -> Option<ArpRepr> {
    let m = f.meta(i);
    f.buf(i).data().get(m.l3()..).and_then(|b| ArpPacket::new_checked(b).ok()).map(|p| ArpRepr::parse(&p))
}

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    list: &[u16],
) {
    for &i in list {
        let m = *f.meta(i);
        let r = parse(f, i);
        let gw = cx.t.domains.get(usize::from(m.domain)).and_then(|d| d.gateway);
        if let (Some(r), Some(g)) = (r, gw) {
            if m.has(flag::HANDED) {
                // Another worker's copy: learn, nothing else (it answered and flooded).
                merge(st, cx, f, m.domain, &r, &g);
                f.consumed(i);
                continue;
            }
            if cx.t.workers > 1 && neighbour(&g, r.sender_ip) {
                super::share_arp(st, cx, f, i);
            }
        }
        if m.has(flag::ARP_BCAST) {
            if let (Some(r), Some(g)) = (r, gw) {
                let answer = merge(st, cx, f, m.domain, &r, &g);
                if answer {
                    let reply = ArpRepr {
                        operation: arp::OP_REPLY,
                        sender_mac: g.mac,
                        sender_ip: r.target_ip,
                        target_mac: r.sender_mac,
                        target_ip: r.sender_ip,
                    };
                    let mut rm = PacketMeta::rx(m.in_port);
                    rm.domain = m.domain;
                    rm.prio = m.prio;
                    rm.flags = m.flags & (flag::TRACED | flag::OVERLAY);
                    rm.trace = m.trace;
                    rm.vtep = m.vtep;
                    let next = super::back(&mut rm);
                    if let Some(j) = new_arp(cx.alloc, f, r.sender_mac, &reply, rm) {
                        cx.c.event(Event::ArpReplySent);
                        f.to(j, next);
                    }
                }
            }
            f.to(i, Node::L2Flood);
            continue;
        }
        let Some(r) = r else {
            f.drop(i, DropReason::Malformed);
            continue;
        };
        let Some(g) = gw else {
            f.drop(i, DropReason::NoForward);
            continue;
        };
        if merge(st, cx, f, m.domain, &r, &g) {
            // A unicast request (a neighbour re-validating us, or a unicast probe): answered
            // in place.
            answer_in_place(f, i, &r, g.mac);
            cx.c.event(Event::ArpReplySent);
            let next = super::back(f.meta_mut(i));
            f.to(i, next);
        } else if r.operation == arp::OP_REPLY && is_ours(cx, &g, r.target_ip) && neighbour(&g, r.sender_ip) {
            f.consumed(i);
        } else {
            f.drop(i, DropReason::ArpNotOurs);
        }
    }
}

/// True when `ip` is an own address in the subnet of gateway `g`.
fn is_ours<A: BufAlloc>(cx: &Cx<'_, A>, g: &Gateway, ip: u32) -> bool {
    ip == g.ip || cx.t.answers_arp(g, ip)
}

/// True when `ip` can be a neighbour of gateway `g`: a host of its subnet other than the
/// gateway (so never 0.0.0.0, the sender of a probe).
fn neighbour(g: &Gateway, ip: u32) -> bool {
    ip != 0 && ip != g.ip && g.prefix.contains(ip)
}

/// RFC 826's merge step for ARP `r` in `domain`: a sender that can be a neighbour is
/// updated when known, and created when `r` is a request for an own address. Returns
/// whether `r` is a request for an own address to answer (any sender but the gateway
/// itself, with a unicast sender MAC to answer to).
fn merge<B: PacketBuf, A: BufAlloc<Buf = B>>(
    st: &mut State<B>,
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    domain: u16,
    r: &ArpRepr,
    g: &Gateway,
) -> bool {
    let request_for_us = r.operation == arp::OP_REQUEST && is_ours(cx, g, r.target_ip);
    if neighbour(g, r.sender_ip) {
        st.neigh_learn(cx, f, domain, r.sender_ip, r.sender_mac, request_for_us);
    }
    request_for_us && r.sender_ip != g.ip && !r.sender_mac.is_multicast() && !r.sender_mac.is_zero()
}

/// Turns the request `r` in slot `i` into the reply from `mac`, in place.
fn answer_in_place<B: PacketBuf>(f: &mut Frame<B>, i: u16, r: &ArpRepr, mac: MacAddr) {
    let reply = ArpRepr {
        operation: arp::OP_REPLY,
        sender_mac: mac,
        sender_ip: r.target_ip,
        target_mac: r.sender_mac,
        target_ip: r.sender_ip,
    };
    let (b, m) = f.both_mut(i);
    let d = b.data_mut();
    set_macs(d, r.sender_mac, mac);
    if let Some(a) = d.get_mut(m.l3()..m.l3() + arp::PACKET_LEN) {
        reply.emit(a);
    }
}
