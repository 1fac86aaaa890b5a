//! The stateful routed path: connection tracking, firewall and NAT between the ingress
//! domain and routing, in netfilter's order: a known connection is translated and
//! routed; a new one is destination-NATed (port forwards), routed, judged by the firewall
//! (zone pair of ingress and egress domain), source-NATed, then recorded.
//!
//! An outside packet to a pool address that matches no connection or forward may still be
//! let in to a mapping by its rule's filtering ([`crate::nat::filter`]): it then opens a
//! connection toward the inside endpoint like a port forward (DNAT, judged by the firewall
//! as a forward is) that holds a reference on the mapping. A source NAT rule's per-host
//! limits ([`crate::nat::hosts`]) are checked before a connection is made; what a connection
//! counted (mapping reference, host counts, peer record) is given back when it goes.
//!
//! ICMP errors about a known connection are related to it and translated with their
//! embedded header (RFC 5508) once their ICMP checksum verified (REQ-3); they never remove
//! it (RFC 4787 REQ-12, RFC 5382 REQ-10) nor refresh it (RFC 5508 REQ-6).
//!
//! Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): a packet from inside to a pool address
//! and port that is not a port forward is source-NATed as if it left into the pool's zone
//! (its connection marked `HAIRPIN`), then goes through `ct-lookup` once more as a packet
//! arriving at that mapping: the receiver's connection lets it in as it lets in outside
//! packets it has sent to, and translates its destination; no match is `nat-no-mapping`.
//! An ICMP error about a hairpinned packet takes the same two steps back (RFC 5508 REQ-7).
//!
//! Protocols without ports (GRE, ESP, ...) are source-NATed address-only (see
//! `address_only`). A zone pair with `mss` clamps the MSS option of its connections' SYN
//! and SYN-ACK segments.
//! Fragments are not reassembled: the first fragment of a datagram is tracked and translated
//! like a packet, and `ct-frag` makes the others follow it.
//!
//! Three nodes: `ct-lookup` (known connections: TCP state, translation; packets another
//! worker owns are handed to it), `ct-related` (ICMP errors), `ct-new` (port forwards,
//! route, firewall, source NAT, record). They read the tuple `ip4-input` put into the
//! metadata and update it when they translate the packet.
//!
//! TCP segments are checked against their connection's windows (`conntrack::tcp`): one
//! outside them is dropped (`ct-out-of-window`, `ct-rst-out-of-window`) unless
//! `[conntrack] tcp_liberal` is set, and changes nothing.
//!
//! Next: `ip4-forward`, `ct-frag`, `ip4-local`, `fw-reject`, `icmp4-error`, `ct-lookup` (a
//! hairpinned packet's second lookup); drops: ct-invalid, ct-out-of-window,
//! ct-rst-out-of-window, ct-untracked, ct-table-full, nat-no-mapping, nat-filtered,
//! nat-host-conn-limit, nat-host-rate-limit, nat-host-port-limit, nat-pool-exhausted,
//! nat-unsupported-proto, nat-addr-in-use, icmp-bad-checksum, fw-drop, local-unhandled,
//! no-forward; handoff to the owner worker.

use crate::buf::{BufAlloc, PacketBuf};
use crate::config::{Exhaustion, Filtering, Verdict};
use crate::conntrack::{tcp, Conn, ConnTable, Dir, FlowKey, InsertError};
use crate::eventlog::{Binding, EventLog, POLICY};
use crate::nat::filter::Peers;
use crate::nat::hosts::Hosts;
use crate::nat::pool::MapError;
use crate::nat::{translate, Mappings, NatData, SecTables};
use crate::packet::{flag, PacketMeta};
use crate::pipeline::{Cx, Frame, Next, Node, State};
use crate::stats::{DropReason, Event};
use crate::wire::flow::{self, Ipv4Flow};
use crate::wire::icmpv4;
use crate::wire::ipv4::{proto, Ipv4Packet};
use crate::wire::tcp::flags as tcp_flag;
use crate::wire::WireError;

/// Connections from which the worker prefetches table entries ahead of a burst.
pub const PREFETCH_FROM: u32 = 4096;

/// A worker's connection table and NAT mappings.
pub struct CtState {
    /// Connections.
    pub table: ConnTable<NatData>,
    /// Source NAT mappings and port slices.
    pub maps: Mappings,
    /// Per inside address counts (per-host limits).
    pub hosts: Hosts,
    /// Remote addresses per inside endpoint (address-dependent filtering).
    pub peers: Peers,
}

impl CtState {
    /// Empty state for worker `worker`.
    pub fn new(sec: &SecTables, worker: u16) -> Self {
        CtState {
            table: ConnTable::new(sec.capacity, sec.timeouts),
            maps: Mappings::new(sec, worker, sec.capacity),
            hosts: Hosts::new(sec, sec.capacity),
            peers: Peers::new(sec, sec.capacity),
        }
    }

    /// Gives back what removed connection `c` held (its mapping reference, host count and
    /// peer record) at `now_ms`: for a removal other than expiry (a control flush).
    pub fn forget(&mut self, c: &Conn<NatData>, log: &mut EventLog, now_ms: u64) {
        release(&mut self.maps, &mut self.hosts, &mut self.peers, log, now_ms, c);
    }

    /// Rebuilds the host and peer counts from the connections and mappings (after a
    /// reload rebuilt the mappings or dropped connections); the rate windows start afresh.
    pub fn recount(&mut self, sec: &SecTables) {
        self.hosts = Hosts::new(sec, sec.capacity);
        self.peers = Peers::new(sec, sec.capacity);
        for (_, c) in self.table.iter() {
            if c.data.flags & NatData::HOST != 0 {
                self.hosts.add(c.orig.src, 0, false);
            }
            if c.data.flags & NatData::PEER != 0 {
                self.peers.add(c.orig.proto, c.orig.src, c.orig.sport, c.orig.dst);
            }
        }
        for m in self.maps.iter().filter(|m| m.counted) {
            self.hosts.add_port(m.int_addr);
        }
    }
}

/// Drops a reference on mapping `mi`; the last one of a counted mapping gives its port back
/// to the host's count. True when it was the last.
#[inline]
fn unmap(maps: &mut Mappings, hosts: &mut Hosts, mi: u32) -> bool {
    let freed = maps.release(mi);
    let m = maps.get(mi);
    if freed && m.counted {
        hosts.release_port(m.int_addr);
    }
    freed
}

/// Gives back what connection `c` holds: its mapping reference (the last one logs the
/// mapping's end), its host count, its peer; an address-only binding ends with it.
#[inline]
fn release(maps: &mut Mappings, hosts: &mut Hosts, peers: &mut Peers, log: &mut EventLog, now: u64, c: &Conn<NatData>) {
    if c.data.map != NatData::NO_MAP {
        if unmap(maps, hosts, c.data.map) && log.mappings() {
            log.mapping(false, now, &maps.get(c.data.map).binding(), (0, 0));
        }
    } else if c.data.address_only() && log.mappings() {
        log.mapping(false, now, &Binding::address_only(c.orig.proto, c.orig.src, c.reply.dst), (0, 0));
    }
    if c.data.flags & NatData::HOST != 0 {
        hosts.release(c.orig.src);
    }
    if c.data.flags & NatData::PEER != 0 {
        peers.release(c.orig.proto, c.orig.src, c.orig.sport, c.orig.dst);
    }
}

/// The mapping an outside packet `k` to a pool address (no connection, no forward) is let in
/// to by its rule's filtering.
#[inline]
fn inbound(ct: &CtState, sec: &SecTables, k: &FlowKey) -> Result<u32, DropReason> {
    if !matches!(k.proto, proto::TCP | proto::UDP) {
        return Err(DropReason::NatNoMapping);
    }
    let mi = ct.maps.find_ext(k.proto, k.dst, k.dport).ok_or(DropReason::NatNoMapping)?;
    let m = ct.maps.get(mi);
    let rule = sec.pool_index.get(&k.dst).and_then(|&(_, r)| sec.snat.get(usize::from(r)));
    let ok = match rule.map(|r| r.filtering) {
        Some(Filtering::EndpointIndependent) => true,
        Some(Filtering::AddressDependent) => ct.peers.contains(k.proto, m.int_addr, m.int_port, k.src),
        _ => false,
    };
    if ok {
        Ok(mi)
    } else {
        Err(DropReason::NatFiltered)
    }
}

/// What the stateful path needs from a packet, read once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuple {
    pub key: FlowKey,
    pub ttl: u8,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_error: bool,
    pub ip_len: u16,
}

impl From<Ipv4Flow> for Tuple {
    #[inline(always)]
    fn from(f: Ipv4Flow) -> Tuple {
        Tuple {
            key: f.tuple.into(),
            ttl: f.ttl,
            tcp_flags: f.tcp_flags,
            icmp_type: f.icmp_type,
            icmp_error: f.icmp_error,
            ip_len: f.ip_len,
        }
    }
}

/// Reads the tuple of the IPv4 packet `ip` (its header checksum already verified), through
/// the wire layer.
#[inline]
pub(crate) fn parse_tuple(ip: &[u8]) -> Result<Tuple, DropReason> {
    match Ipv4Flow::parse_bytes(ip) {
        Ok(f) => Ok(f.into()),
        Err(WireError::Fragment) => Err(DropReason::CtFragment),
        Err(_) => Err(DropReason::Malformed),
    }
}

/// The tuple of a whole packet or a first fragment (offset 0), through the wire layer.
#[inline]
pub(crate) fn parse_first_tuple(ip: &[u8]) -> Result<Tuple, DropReason> {
    Ipv4Packet::new_checked(ip)
        .and_then(|p| Ipv4Flow::parse_first(&p))
        .map(Tuple::from)
        .map_err(|_| DropReason::Malformed)
}

/// Where a packet the stateful nodes let through goes: routing, or first `ct-frag` for a
/// first fragment (the others follow it).
#[inline(always)]
fn onward(m: &PacketMeta) -> Node {
    if m.has(flag::FRAG) {
        Node::CtFrag
    } else {
        Node::Ip4Forward
    }
}

/// The tuple of the packet quoted in an ICMP error (`ip` is the outer packet).
#[inline]
pub(crate) fn embedded_key(ip: &[u8]) -> Option<FlowKey> {
    flow::embedded(ip).map(FlowKey::from)
}

/// True for the ICMP types that are errors about another packet.
#[inline]
fn is_icmp_error(proto: u8, icmp_type: u8) -> bool {
    proto == proto::ICMP
        && matches!(
            icmp_type,
            icmpv4::kind::DEST_UNREACHABLE | icmpv4::kind::TIME_EXCEEDED | icmpv4::kind::PARAM_PROBLEM
        )
}

/// The tuple of slot `i` from its metadata (filled by `ip4-input`).
#[inline(always)]
fn tuple(m: &PacketMeta) -> Tuple {
    Tuple {
        key: m.flow,
        ttl: m.ttl,
        tcp_flags: m.tcp_flags,
        icmp_type: m.icmp_type,
        icmp_error: is_icmp_error(m.flow.proto, m.icmp_type),
        ip_len: m.ip_len,
    }
}

/// The packet in slot `i` now carries tuple `to` (after a translation).
#[inline(always)]
fn retuple(m: &mut PacketMeta, to: &FlowKey) {
    m.flow = *to;
}

/// Applies the TCP segment of packet `ip` (IP header onward) to `track` in direction `dir`,
/// with the window check (`conntrack::tcp`); counts what passed on a RST or liberally. A
/// first fragment is checked liberally: it holds only part of its segment, whose length
/// the window check would take for the whole.
#[inline]
fn track_tcp<A: BufAlloc>(
    track: &mut tcp::TcpTrack,
    dir: Dir,
    ip: &[u8],
    liberal: bool,
    cx: &Cx<'_, A>,
) -> Result<(), DropReason> {
    let Some(seg) = tcp::Segment::parse_ipv4(ip) else { return Err(DropReason::Malformed) };
    match track.track(dir, &seg, liberal) {
        Ok(tcp::Accepted::InWindow) => Ok(()),
        Ok(tcp::Accepted::RstInexact) => {
            cx.c.event(Event::CtRstInexact);
            Ok(())
        }
        Ok(tcp::Accepted::Liberal) => {
            cx.c.event(Event::CtLiberal);
            Ok(())
        }
        Err(tcp::Reject::Invalid) => Err(DropReason::CtInvalid),
        Err(tcp::Reject::OutOfWindow) => Err(DropReason::CtOutOfWindow),
        Err(tcp::Reject::RstOutOfWindow) => Err(DropReason::CtRstOutOfWindow),
    }
}

/// `ct-lookup`.
// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn lookup<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    let Some(sec) = cx.t.sec.as_deref() else {
        for &i in list {
            f.drop(i, DropReason::NoForward);
        }
        return;
    };
    f.each(list, |f, _, i| {
        let m = *f.meta(i);
        let tu = tuple(&m);
        let k = tu.key;
        if sec.workers > 1 && !m.has(flag::HANDED) {
            let owner = if tu.icmp_error {
                embedded_key(&f.buf(i).data()[m.l3()..]).map(|e| sec.owner(&e.reverse())).unwrap_or(st.worker)
            } else {
                sec.owner(&k)
            };
            if owner != st.worker {
                cx.c.event(Event::HandoffOut);
                f.handoff(i, owner, m.in_port);
                return Next::Done;
            }
        }
        let Some(ct) = st.ct.as_mut() else {
            f.drop(i, DropReason::NoForward);
            return Next::Done;
        };
        let Some((id, dir)) = ct.table.lookup_hashed(&k, m.hash) else {
            return Next::To(if tu.icmp_error { Node::CtRelated } else { Node::CtNew });
        };
        if tu.ttl <= 1 {
            // Time exceeded about the packet as it arrived.
            f.meta_mut(i).ip = k.dst;
            return Next::To(Node::Ip4Forward);
        }
        let c = ct.table.get_mut(id);
        if k.proto == proto::TCP {
            if let Err(r) =
                track_tcp(&mut c.tcp, dir, &f.buf(i).data()[m.l3()..], sec.tcp_liberal || m.has(flag::FRAG), cx)
            {
                f.drop(i, r);
                return Next::Done;
            }
        }
        let (flags, mss) = (c.data.flags, c.data.mss);
        let to = if dir == Dir::Orig { c.reply.reverse() } else { c.orig.reverse() };
        ct.table.touch(id, dir, u32::from(tu.ip_len), cx.now);
        let (b, mm) = f.both_mut(i);
        if mss != 0 && tu.tcp_flags & tcp_flag::SYN != 0 {
            translate::clamp_mss(&mut b.data_mut()[m.l3()..], mss);
        }
        if flags & NatData::TRANSLATED != 0 {
            translate::rewrite(&mut b.data_mut()[m.l3()..], &k, &to);
            retuple(mm, &to);
            cx.c.event(Event::NatTranslated);
            if flags & NatData::HAIRPIN != 0 && dir == Dir::Orig && !m.has(flag::HAIRPIN) {
                arrive_at_mapping(mm, &ct.table, &to);
                return Next::To(Node::CtLookup);
            }
        }
        mm.ip = to.dst;
        Next::To(onward(&m))
    });
}

/// The packet `m`, source-translated to `to` by its own connection, is addressed to another
/// inside host's mapping: it goes through `ct-lookup` once more as if it arrived at the
/// mapping from outside (RFC 4787 REQ-9, RFC 5382 REQ-8), so the receiver's connection
/// filters it as it filters outside packets and translates its destination. Its owner is
/// decided again (the receiver's mapping may live on another worker).
#[inline]
fn arrive_at_mapping(m: &mut PacketMeta, table: &ConnTable<NatData>, to: &FlowKey) {
    m.flags = (m.flags | flag::HAIRPIN) & !flag::HANDED;
    m.hash = table.hash(to);
}

/// What `ct-new` decided.
enum New {
    Next(Node),
    Drop(DropReason),
}

/// `ct-new`: the first packet of a connection.
// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn new<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        match new_one(st, cx, f, i) {
            New::Next(n) => f.to(i, n),
            New::Drop(r) => f.drop(i, r),
        }
    }
}

fn new_one<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, i: u16) -> New {
    use New::{Drop, Next};
    let t = cx.t;
    let Some(sec) = t.sec.as_deref() else { return Drop(DropReason::NoForward) };
    let m = *f.meta(i);
    let tu = tuple(&m);
    let k = tu.key;
    let mut fwd = if k.proto == proto::TCP || k.proto == proto::UDP {
        sec.forwards.get(&(k.proto, k.dst, k.dport)).copied()
    } else {
        None
    };
    // A mapping let in by its filtering (then `fwd` is its inside endpoint).
    let mut inbound_map = None;
    // Hairpinning of a dynamic mapping: from inside (a source NAT prefix, not the pool's
    // own zone) to a pool address and port. The packet leaves into the pool's zone as any
    // source-NATed one, then arrives at the mapping (`ct-lookup` again).
    let mut hp_zone = None;
    if fwd.is_none() {
        if t.local_domain(k.dst).is_some()
            && (!sec.is_pool(k.dst) || (k.proto == proto::ICMP && tu.icmp_type == icmpv4::kind::ECHO_REQUEST))
        {
            return Next(Node::Ip4Local);
        }
        if let Some(z) = sec.pool_zone(k.dst) {
            let zin = sec.zone(m.domain);
            // A hairpinned packet that found no connection at the mapping (on this worker,
            // or handed over by the sender's: then its source is a pool address).
            let second = m.has(flag::HAIRPIN) || sec.is_pool(k.src);
            if second {
                return Drop(DropReason::NatNoMapping);
            }
            if zin != z && matches!(k.proto, proto::TCP | proto::UDP) {
                hp_zone = Some(z);
            } else {
                // From outside: let in by the mapping's filtering, or not.
                let Some(ct) = st.ct.as_ref() else { return Drop(DropReason::NoForward) };
                match inbound(ct, sec, &k) {
                    Ok(mi) => {
                        let mp = ct.maps.get(mi);
                        fwd = Some((mp.int_addr, mp.int_port));
                        inbound_map = Some(mi);
                    }
                    Err(r) => return Drop(r),
                }
            }
        }
    }
    // ICMP queries (echo, timestamp: RFC 5508 REQ-1) open a session; their replies cannot.
    if k.proto == proto::ICMP && !icmpv4::kind::is_query_request(tu.icmp_type) {
        let r = if icmpv4::kind::is_query(tu.icmp_type) { DropReason::CtInvalid } else { DropReason::CtUntracked };
        return Drop(r);
    }
    if k.proto == proto::TCP && !tcp::is_new_ok(tcp::classify(tu.tcp_flags)) {
        return Drop(DropReason::CtInvalid);
    }
    let mut to = k;
    if let Some((a, p)) = fwd {
        to.dst = a;
        to.dport = p;
    }
    let first = to.dst >> 24;
    let nh = t.lpm.lookup(to.dst).and_then(|i| t.next_hops.get(i as usize)).copied();
    let zout = match (hp_zone, nh) {
        (Some(z), _) if tu.ttl > 1 => z,
        (None, Some(nh)) if tu.ttl > 1 && first != 0 && first != 127 && first < 224 => sec.zone(nh.domain),
        _ => {
            // Not routable, no route or TTL exceeded: the plain path answers with the error.
            f.meta_mut(i).ip = k.dst;
            return Next(Node::Ip4Forward);
        }
    };
    let zin = sec.zone(m.domain);
    let d = sec.firewall(&to, zin, zout, tu.icmp_type, fwd.is_some());
    if let Some(h) = st.fw_hits.get_mut(d.slot) {
        *h += 1;
    }
    if d.verdict != Verdict::Accept {
        let reject = d.verdict == Verdict::Reject;
        if st.log.firewall() {
            let rule = d.rule.unwrap_or(POLICY);
            st.log.deny(cx.now, k.proto, (k.src, k.sport), (to.dst, to.dport), (zin, zout), rule, reject);
        }
        return if reject { Next(Node::FwReject) } else { Drop(DropReason::FwDrop) };
    }
    let Some(ct) = st.ct.as_mut() else { return Drop(DropReason::NoForward) };
    let mut data = NatData::default();
    if fwd.is_some() {
        data.flags |= NatData::DNAT;
    }
    if hp_zone.is_some() {
        data.flags |= NatData::HAIRPIN;
    }
    if k.proto == proto::TCP {
        data.mss = sec.mss(zin, zout);
        if data.mss != 0 && tu.tcp_flags & tcp_flag::SYN != 0 {
            translate::clamp_mss(&mut f.buf_mut(i).data_mut()[m.l3()..], data.mss);
        }
    }
    let hairpin = fwd.is_some() && zin == zout;
    if let Some(mi) = inbound_map {
        if hairpin {
            // An inbound connection to a mapping from its own zone is not made.
            return Drop(DropReason::NatNoMapping);
        }
        ct.maps.hold(mi);
        data.map = mi;
    }
    // The mapping is new (for the per-host port count).
    let mut map_new = false;
    let rule = sec.snat_rule(k.src, zout, hairpin).filter(|_| inbound_map.is_none());
    if let Some(rule) = rule.filter(|_| !matches!(k.proto, proto::TCP | proto::UDP | proto::ICMP)) {
        match address_only(ct, sec, rule, &k) {
            Ok(a) => {
                to.src = a;
                data.flags |= NatData::SNAT;
            }
            Err(r) => return Drop(r),
        }
    } else if let Some(rule) = rule {
        let r = &sec.snat[rule];
        if r.limits.any() {
            let new_port = ct.maps.find(r.zone, k.proto, k.src, k.sport).is_none();
            if let Err(e) = ct.hosts.check(k.src, &r.limits, cx.now, new_port) {
                return Drop(e);
            }
            data.flags |= NatData::HOST;
        }
        if r.filtering == Filtering::AddressDependent && matches!(k.proto, proto::TCP | proto::UDP) {
            data.flags |= NatData::PEER;
        }
        match ct.maps.acquire(sec, rule, k.proto, k.src, k.sport) {
            Ok(mi) => {
                let mp = ct.maps.get(mi);
                to.src = mp.ext_addr;
                to.sport = mp.ext_port;
                if k.proto == proto::ICMP {
                    to.dport = mp.ext_port;
                }
                data.map = mi;
                data.flags |= NatData::SNAT;
                if mp.refs == 1 {
                    map_new = true;
                    cx.c.event(Event::NatMappingNew);
                }
            }
            Err(MapError::Exhausted) => {
                if sec.snat[rule].on_exhaustion == Exhaustion::Icmp {
                    f.meta_mut(i).icmp_error(
                        DropReason::NatPoolExhausted,
                        icmpv4::kind::DEST_UNREACHABLE,
                        icmpv4::unreach::ADMIN_PROHIBITED,
                        0,
                    );
                    return Next(Node::Icmp4Error);
                }
                return Drop(DropReason::NatPoolExhausted);
            }
            Err(MapError::Full) => return Drop(DropReason::CtTableFull),
        }
    } else if hp_zone.is_some() {
        // No source NAT toward the pool's zone: nothing to arrive at the mapping with.
        return Drop(DropReason::NatNoMapping);
    }
    if to != k {
        data.flags |= NatData::TRANSLATED;
    }
    let mut track = tcp::TcpTrack::default();
    if k.proto == proto::TCP {
        if let Err(r) =
            track_tcp(&mut track, Dir::Orig, &f.buf(i).data()[m.l3()..], sec.tcp_liberal || m.has(flag::FRAG), cx)
        {
            if data.map != NatData::NO_MAP {
                unmap(&mut ct.maps, &mut ct.hosts, data.map);
            }
            return Drop(r);
        }
    }
    match ct.table.insert(k, to.reverse(), track, data, cx.now) {
        Ok(id) => {
            ct.table.touch(id, Dir::Orig, u32::from(tu.ip_len), cx.now);
            cx.c.event(Event::CtNew);
            if data.flags & NatData::HOST != 0 {
                if map_new {
                    ct.maps.set_counted(data.map);
                }
                ct.hosts.add(k.src, cx.now, map_new);
            }
            if data.flags & NatData::PEER != 0 {
                ct.peers.add(k.proto, k.src, k.sport, k.dst);
            }
            if inbound_map.is_some() {
                cx.c.event(Event::NatInboundNew);
            }
            if st.log.mappings() {
                if map_new {
                    st.log.mapping(true, cx.now, &ct.maps.get(data.map).binding(), (k.dst, k.dport));
                } else if data.address_only() {
                    st.log.mapping(true, cx.now, &Binding::address_only(k.proto, k.src, to.src), (k.dst, 0));
                }
            }
        }
        Err(e) => {
            if data.map != NatData::NO_MAP {
                unmap(&mut ct.maps, &mut ct.hosts, data.map);
            }
            let r = if e == InsertError::Full { DropReason::CtTableFull } else { DropReason::CtInvalid };
            return Drop(r);
        }
    }
    let (b, mm) = f.both_mut(i);
    if data.flags & NatData::TRANSLATED != 0 {
        translate::rewrite(&mut b.data_mut()[m.l3()..], &k, &to);
        retuple(mm, &to);
        cx.c.event(Event::NatTranslated);
    }
    if hp_zone.is_some() {
        arrive_at_mapping(mm, &ct.table, &to);
        return Next(Node::CtLookup);
    }
    mm.ip = to.dst;
    Next(onward(&m))
}

/// Most pool addresses tried for an address-only translation.
const ADDRESS_ONLY_TRIES: usize = 8;

/// The external address of a new connection `k` of a protocol without ports (GRE, ESP, ...)
/// under rule `rule`: address-only NAT, as netfilter does it. The inside address's paired
/// pool address (the same as its port mappings get), else the next ones of the rule (at most
/// [`ADDRESS_ONLY_TRIES`]) whose (protocol, address, remote) no other connection holds: the
/// reply key names the inside host, so one inside host per protocol, external address and
/// remote address at a time. DCCP and UDP-Lite are refused: they carry ports and a
/// pseudo-header checksum that address-only NAT would break.
fn address_only(ct: &CtState, sec: &SecTables, rule: usize, k: &FlowKey) -> Result<u32, DropReason> {
    if matches!(k.proto, proto::DCCP | proto::UDPLITE) {
        return Err(DropReason::NatUnsupportedProto);
    }
    let addrs = &sec.snat[rule].addrs;
    if addrs.is_empty() {
        return Err(DropReason::NatPoolExhausted);
    }
    let first = sec.paired(k.src, addrs.len());
    for n in 0..addrs.len().min(ADDRESS_ONLY_TRIES) {
        let a = sec.pool_addrs[usize::from(addrs[(first + n) % addrs.len()])];
        let reply = FlowKey { src: k.dst, dst: a, sport: 0, dport: 0, proto: k.proto };
        if ct.table.lookup(&reply).is_none() {
            return Ok(a);
        }
    }
    Err(DropReason::NatAddrInUse)
}

/// `ct-related`: an ICMP error, translated as its connection if it quotes one (RFC 5508).
// Each node is its own function: its loop gets the registers to itself.
#[inline(never)]
pub(crate) fn related<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>, f: &mut Frame<B>, list: &[u16]) {
    for &i in list {
        let m = *f.meta(i);
        let k = m.flow;
        let l3 = m.l3();
        let found = embedded_key(&f.buf(i).data()[l3..]).and_then(|e| {
            let ct = st.ct.as_ref()?;
            let (id, dir) = ct.table.lookup(&e.reverse())?;
            Some((e, dir, *ct.table.get(id)))
        });
        let Some((e, dir, c)) = found else {
            let local = cx.t.local_domain(k.dst).is_some() && !cx.t.sec.as_ref().is_some_and(|s| s.is_pool(k.dst));
            f.drop(i, if local { DropReason::LocalUnhandled } else { DropReason::CtUntracked });
            continue;
        };
        let mut dst = k.dst;
        if c.data.flags & NatData::TRANSLATED != 0 {
            // RFC 5508 REQ-3: a corrupted error is dropped, not re-checksummed.
            if !translate::icmp_checksum_ok(&f.buf(i).data()[l3..]) {
                f.drop(i, DropReason::IcmpBadChecksum);
                continue;
            }
            let seen = e.reverse();
            let to = if dir == Dir::Orig { c.reply.reverse() } else { c.orig.reverse() };
            let src = if k.src == seen.src || (dir == Dir::Orig && c.data.flags & NatData::SNAT != 0) {
                to.src
            } else {
                k.src
            };
            dst = to.dst;
            if !translate::rewrite_icmp_error(&mut f.buf_mut(i).data_mut()[l3..], src, dst, &e, &to.reverse()) {
                f.drop(i, DropReason::Malformed);
                continue;
            }
            let mm = f.meta_mut(i);
            mm.flow.src = src;
            mm.flow.dst = dst;
        }
        cx.c.event(Event::IcmpErrorTranslated);
        let mm = f.meta_mut(i);
        // RFC 5508 REQ-7: an error about a hairpinned packet, translated by the receiver's
        // connection, is addressed to the sender's external address; it arrives at the
        // sender's mapping as the packet it quotes did, and its connection translates it
        // once more, to the sender (REQ-7a: the quoted source as the sender sent it).
        if !m.has(flag::HAIRPIN) && cx.t.sec.as_ref().is_some_and(|s| s.is_pool(dst)) {
            if let Some(ct) = st.ct.as_ref() {
                arrive_at_mapping(mm, &ct.table, &tuple(mm).key);
                f.to(i, Node::CtLookup);
                continue;
            }
        }
        mm.ip = dst;
        f.to(i, Node::Ip4Forward);
    }
}

/// Rewrites the packet in slot `i` (IPv4 at `l3`) that NAT translated (its tuple is the
/// reverse of one of its connection's keys) back to the tuple it arrived with; anything
/// else is left alone. Used by `icmp4-error` to quote a packet as its sender sent it.
pub(crate) fn untranslate<B: PacketBuf>(st: &State<B>, f: &mut Frame<B>, i: u16, l3: usize) {
    let Some(ct) = st.ct.as_ref() else { return };
    let m = *f.meta(i);
    let tu = if m.has(flag::FLOW) {
        tuple(&m)
    } else {
        match f.buf(i).data().get(l3..).map(parse_tuple) {
            Some(Ok(tu)) => tu,
            _ => return,
        }
    };
    if tu.icmp_error {
        return;
    }
    let Some((id, dir)) = ct.table.lookup(&tu.key.reverse()) else { return };
    let c = ct.table.get(id);
    if c.data.flags & NatData::TRANSLATED == 0 {
        return;
    }
    let arrived = if dir == Dir::Reply { c.orig } else { c.reply };
    if let Some(d) = f.buf_mut(i).data_mut().get_mut(l3..) {
        translate::rewrite(d, &tu.key, &arrived);
    }
    retuple(f.meta_mut(i), &arrived);
}

/// Connection expiry: call every millisecond; frees the mappings of expired connections.
pub(crate) fn expire<B: PacketBuf, A: BufAlloc>(st: &mut State<B>, cx: &Cx<'_, A>) {
    let Some(ct) = st.ct.as_mut() else { return };
    let (maps, hosts, peers, log, now) = (&mut ct.maps, &mut ct.hosts, &mut ct.peers, &mut st.log, cx.now);
    let n = ct.table.expire(now, 2048, |_, c| release(maps, hosts, peers, log, now, c));
    if n > 0 {
        cx.c.event_n(Event::CtExpired, u64::from(n));
    }
}
