//! `l2-flood`: a copy to every member port of the domain but the ingress port, and (unless
//! the frame came from the overlay: split horizon) to every remote VTEP of the domain by
//! head-end replication (Linux `br_flood`). The last destination gets the original.
//!
//! Next: `l2-output`, `vxlan4-encap`; drops: flood-empty, no-forward, no-mbuf (a copy).

use crate::buf::{BufAlloc, PacketBuf};
use crate::packet::flag;
use crate::pipeline::{Cx, Frame, Node};
use crate::stats::{DropReason, Event};

#[derive(Clone, Copy)]
enum To {
    Port(u16),
    Vtep(u32),
}

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let m = *f.meta(i);
        let Some(d) = cx.t.domains.get(usize::from(m.out_domain)) else {
            f.drop(i, DropReason::NoForward);
            continue;
        };
        let except = m.has(flag::EXCEPT_IN).then_some(m.in_port);
        let to_overlay = !m.has(flag::OVERLAY) && cx.t.vtep.is_some();
        let remotes: &[u32] = if to_overlay { &d.remotes } else { &[] };
        let mut targets = d
            .members
            .iter()
            .copied()
            .filter(|&p| Some(p) != except)
            .map(To::Port)
            .chain(remotes.iter().map(|&r| To::Vtep(r)));
        let Some(mut cur) = targets.next() else {
            f.drop(i, DropReason::FloodEmpty);
            continue;
        };
        cx.c.event(Event::Flooded);
        for next in targets {
            if let Some(copy) = f.duplicate(i) {
                cx.c.event(Event::FloodCopies);
                send(cx, f, copy, cur);
            }
            cur = next;
        }
        send(cx, f, i, cur);
    }
}

#[inline]
fn send<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16, to: To) {
    match to {
        To::Port(p) => {
            f.meta_mut(i).out_port = p;
            f.to(i, Node::L2Output);
        }
        To::Vtep(ip) => {
            cx.c.event(Event::VxlanReplicated);
            f.meta_mut(i).ip = ip;
            f.to(i, Node::Vxlan4Encap);
        }
    }
}
