//! `ip4-input`: an IPv4 packet to a gateway MAC (Linux `ip_rcv`). The header is checked
//! once (length, version, checksum); on the stateful path the flow tuple and its hash are
//! read here, once, into the packet's metadata, and the connection table's slots for the
//! frame are prefetched before `ct-lookup` runs. Without tracking, packets to a gateway
//! address go to `ip4-local`, the rest to routing. Martian sources are dropped (RFC 1812
//! 5.3.7: this network, loopback, multicast, class E, the limited broadcast, and the
//! broadcast address of the ingress subnet), as is a source the bridge's reverse-path
//! check refuses (RFC 3704, when the bridge sets `urpf`).
//!
//! Next: `ct-lookup`, `ip4-local`, `ip4-forward`; drops: malformed, ipv4-bad-checksum,
//! martian-source, urpf-failed, ct-fragment (stateful).

use super::stateful::{parse_first_tuple, PREFETCH_FROM};
use crate::buf::{BufAlloc, PacketBuf};
use crate::config::Urpf;
use crate::conntrack::ConnTable;
use crate::nat::NatData;
use crate::packet::flag;
use crate::pipeline::{Cx, Frame, Next, Node, State};
use crate::stats::DropReason;
use crate::wire::ipv4::Ipv4Packet;

// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn run<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    let stateful = st.ct.as_ref().map(|ct| &ct.table);
    f.each(list, |f, _, i| match input(cx, f, i, stateful) {
        Ok(next) => Next::To(next),
        Err(r) => {
            f.drop(i, r);
            Next::Done
        }
    });
    // The frame's connections, before ct-lookup needs them: index slots first, then the
    // entries they point to, so the misses of a frame overlap.
    if let Some(ct) = st.ct.as_ref().filter(|ct| ct.table.len() >= PREFETCH_FROM) {
        for &i in list {
            let m = f.meta(i);
            if m.has(flag::FLOW) {
                ct.table.prefetch_slot(m.hash);
            }
        }
        for &i in list {
            let m = f.meta(i);
            if m.has(flag::FLOW) {
                ct.table.prefetch_conn(m.hash);
            }
        }
    }
}

#[inline(always)]
fn input<B: PacketBuf, A: BufAlloc>(
    cx: &Cx<'_, A>,
    f: &mut Frame<B>,
    i: u16,
    stateful: Option<&ConnTable<NatData>>,
) -> Result<Node, DropReason> {
    let (b, m) = f.both_mut(i);
    let l3 = b.data().get(m.l3()..).ok_or(DropReason::Malformed)?;
    let ip = Ipv4Packet::new_checked(l3).map_err(|_| DropReason::Malformed)?;
    if !ip.verify_checksum() {
        return Err(DropReason::Ipv4BadChecksum);
    }
    let (src, dst) = (ip.src(), ip.dst());
    let first = src >> 24;
    if first == 0 || first == 127 || first >= 224 {
        return Err(DropReason::MartianSource);
    }
    if let Some(d) = cx.t.domains.get(usize::from(m.domain)) {
        if d.gateway.is_some_and(|g| src == g.broadcast) {
            return Err(DropReason::MartianSource);
        }
        if let Some(u) = d.urpf {
            let back = cx.t.lpm.lookup(src).and_then(|i| cx.t.next_hops.get(i as usize));
            let ok = match u {
                Urpf::Strict => back.is_some_and(|nh| nh.domain == m.domain),
                Urpf::Loose => back.is_some(),
            };
            if !ok {
                return Err(DropReason::UrpfFailed);
            }
        }
    }
    m.ttl = ip.ttl();
    m.ip = dst;
    if let Some(table) = stateful {
        if ip.is_fragment() {
            // To an own address: reassembled there, conntrack does not see it.
            if cx.t.local_domain(dst).is_some() && cx.t.sec.as_deref().is_some_and(|s| !s.is_pool(dst)) {
                return Ok(Node::Ip4Local);
            }
            if cx.t.ct_fragments.0 == 0 {
                return Err(DropReason::CtFragment);
            }
            if ip.frag_offset() != 0 {
                return Ok(Node::CtFrag);
            }
            m.flags |= flag::FRAG;
        }
        // A whole packet or a first fragment (later fragments went to ct-frag above); one
        // call, so that the tuple stays in registers.
        let tu = parse_first_tuple(l3)?;
        m.flow = tu.key;
        m.hash = table.hash(&tu.key);
        m.tcp_flags = tu.tcp_flags;
        m.icmp_type = tu.icmp_type;
        m.ip_len = tu.ip_len;
        m.flags |= flag::FLOW;
        return Ok(if m.has(flag::FRAG) { Node::CtFrag } else { Node::CtLookup });
    }
    if cx.t.local_domain(dst).is_some() {
        return Ok(Node::Ip4Local);
    }
    Ok(Node::Ip4Forward)
}
