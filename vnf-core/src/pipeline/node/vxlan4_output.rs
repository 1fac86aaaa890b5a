//! `vxlan4-output`: an encapsulated packet released by the underlay neighbour's ARP answer
//! gets its underlay next hop's MAC and the local VTEP's MAC, and leaves by the underlay
//! port; what leaves is counted here (`vxlan-encap`, per bridge and per remote VTEP), so a
//! frame that waits for ARP or is dropped there is counted only under its reason.
//!
//! Output: tx; drops: no-forward, malformed.

use crate::buf::{BufAlloc, PacketBuf};
use crate::pipeline::{Cx, Frame};
use crate::stats::{DropReason, Event};
use crate::wire::ethernet::set_macs;
use crate::wire::MacAddr;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    let Some(v) = cx.t.vtep.as_ref() else {
        for &i in list {
            f.drop(i, DropReason::NoForward);
        }
        return;
    };
    let _ = v;
    for &i in list {
        let mac = MacAddr::from_u64(f.meta(i).nh_mac);
        output(cx, f, i, mac);
    }
}

/// Sends the encapsulated packet in slot `i` to underlay next hop `mac`.
#[inline]
pub(crate) fn output<B: PacketBuf, A: BufAlloc>(cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16, mac: MacAddr) {
    let Some(v) = cx.t.vtep.as_ref() else { return f.drop(i, DropReason::NoForward) };
    if set_macs(f.buf_mut(i).data_mut(), mac, v.mac) {
        let m = f.meta(i);
        cx.c.event(Event::VxlanEncap);
        if let Some(t) = cx.c.domains.get(usize::from(m.out_domain)) {
            t.encap.add(1);
        }
        if let Some(t) = cx.t.vtep_index(m.ip).and_then(|i| cx.c.vteps.get(i)) {
            t.encap.add(1);
        }
        f.tx(i, v.port);
    } else {
        f.drop(i, DropReason::Malformed);
    }
}
