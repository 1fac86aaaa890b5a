//! `arp-input`: ARP in a routed domain (Linux `arp_process`). A broadcast request or
//! announcement teaches the neighbour table its sender (created when the request is for a
//! gateway address, which is answered from a new buffer), and the frame is flooded on as
//! any broadcast. ARP sent to the gateway MAC is a reply to our request (consumed) or a
//! unicast request (answered in place). Learning a neighbour releases the packets that
//! waited for it.
//!
//! Next: `l2-flood` (broadcast), `l2-output` (replies); drops: malformed, no-forward,
//! arp-not-ours; consumed: replies to our requests.

use super::new_arp;
use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::{flag, PacketMeta};
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
        if m.has(flag::ARP_BCAST) {
            if let (Some(r), Some(g)) = (r, gw) {
                if g.prefix.contains(r.sender_ip) && r.sender_ip != g.ip {
                    let for_us =
                        r.operation == arp::OP_REQUEST && (r.target_ip == g.ip || cx.t.answers_arp(&g, r.target_ip));
                    st.neigh_learn(cx, f, m.domain, r.sender_ip, r.sender_mac, for_us);
                    if for_us {
                        let reply = ArpRepr {
                            operation: arp::OP_REPLY,
                            sender_mac: g.mac,
                            sender_ip: r.target_ip,
                            target_mac: r.sender_mac,
                            target_ip: r.sender_ip,
                        };
                        let mut rm = PacketMeta::rx(m.in_port);
                        rm.domain = m.domain;
                        rm.out_domain = m.domain;
                        rm.out_port = m.in_port;
                        rm.prio = m.prio;
                        rm.flags = m.flags & flag::TRACED;
                        rm.trace = m.trace;
                        if let Some(j) = new_arp(cx.alloc, f, r.sender_mac, &reply, rm) {
                            cx.c.event(Event::ArpReplySent);
                            f.to(j, Node::L2Output);
                        }
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
        if (r.target_ip != g.ip && !cx.t.answers_arp(&g, r.target_ip)) || !g.prefix.contains(r.sender_ip) {
            f.drop(i, DropReason::ArpNotOurs);
            continue;
        }
        st.neigh_learn(cx, f, m.domain, r.sender_ip, r.sender_mac, true);
        if r.operation == arp::OP_REPLY {
            f.consumed(i);
            continue;
        }
        // A unicast request (a neighbour re-validating us): answered in place.
        answer_in_place(f, i, &r, g.mac);
        cx.c.event(Event::ArpReplySent);
        let mm = f.meta_mut(i);
        mm.out_port = m.in_port;
        f.to(i, Node::L2Output);
    }
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
