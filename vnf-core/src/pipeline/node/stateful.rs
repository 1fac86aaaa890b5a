//! The stateful routed path: connection tracking, firewall and NAT between the ingress
//! domain and routing, in netfilter's order: a known connection is translated and
//! routed; a new one is destination-NATed (port forwards), routed, judged by the firewall
//! (zone pair of ingress and egress domain), source-NATed, then recorded.
//!
//! ICMP errors about a known connection are related to it and translated with their
//! embedded header (RFC 5508) once their checksum verified (REQ-3); they never refresh or
//! remove it (RFC 4787 REQ-12).
//!
//! Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): a packet from inside to a pool address
//! and port that is not a port forward is source-NATed as if it left into the pool's zone
//! (its connection marked `HAIRPIN`), then goes through `ct-lookup` once more as a packet
//! arriving at that mapping: the receiver's connection filters it as any outside packet
//! (address and port dependent: the receiver must have sent to the sender's external
//! endpoint) and translates its destination; no match is `nat-no-mapping`.
//!
//! Protocols without ports (GRE, ESP, ...) are source-NATed address-only (see
//! `address_only`). A zone pair with `mss` clamps the MSS option of its connections' SYN
//! and SYN-ACK segments.
//! Fragments are not reassembled: they are dropped and counted (`ct-fragment`).
//!
//! Three nodes: `ct-lookup` (known connections: TCP state, translation; packets another
//! worker owns are handed to it), `ct-related` (ICMP errors), `ct-new` (port forwards,
//! route, firewall, source NAT, record). They read the tuple `ip4-input` put into the
//! metadata and update it when they translate the packet.
//!
//! Next: `ip4-forward`, `ip4-local`, `fw-reject`, `icmp4-error`, `ct-lookup` (a hairpinned
//! packet's second lookup); drops: ct-invalid,
//! ct-untracked, ct-table-full, nat-no-mapping, nat-pool-exhausted, nat-unsupported-proto,
//! nat-addr-in-use, icmp-bad-checksum, fw-drop, local-unhandled, no-forward; handoff to the owner worker.

use crate::buf::{BufAlloc, PacketBuf};
use crate::config::{Exhaustion, Verdict};
use crate::conntrack::{tcp, ConnTable, Dir, FlowKey, InsertError};
use crate::nat::pool::MapError;
use crate::nat::{translate, Mappings, NatData, SecTables};
use crate::packet::{flag, PacketMeta};
use crate::pipeline::{Cx, Frame, Node, State};
use crate::stats::{DropReason, Event};
use crate::wire::flow::{self, Ipv4Flow};
use crate::wire::icmpv4;
use crate::wire::ipv4::proto;
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
}

impl CtState {
    /// Empty state for worker `worker`.
    pub fn new(sec: &SecTables, worker: u16) -> Self {
        CtState { table: ConnTable::new(sec.capacity, sec.timeouts), maps: Mappings::new(sec, worker, sec.capacity) }
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

/// Reads the tuple of the IPv4 packet `ip` (its header checksum already verified), through
/// the wire layer.
#[inline]
pub(crate) fn parse_tuple(ip: &[u8]) -> Result<Tuple, DropReason> {
    match Ipv4Flow::parse_bytes(ip) {
        Ok(f) => Ok(Tuple {
            key: f.tuple.into(),
            ttl: f.ttl,
            tcp_flags: f.tcp_flags,
            icmp_type: f.icmp_type,
            icmp_error: f.icmp_error,
            ip_len: f.ip_len,
        }),
        Err(WireError::Fragment) => Err(DropReason::CtFragment),
        Err(_) => Err(DropReason::Malformed),
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
    for &i in list {
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
                continue;
            }
        }
        let Some(ct) = st.ct.as_mut() else {
            f.drop(i, DropReason::NoForward);
            continue;
        };
        let Some((id, dir)) = ct.table.lookup_hashed(&k, m.hash) else {
            f.to(i, if tu.icmp_error { Node::CtRelated } else { Node::CtNew });
            continue;
        };
        if tu.ttl <= 1 {
            // Time exceeded about the packet as it arrived.
            f.meta_mut(i).ip = k.dst;
            f.to(i, Node::Ip4Forward);
            continue;
        }
        let c = ct.table.get_mut(id);
        if k.proto == proto::TCP && c.tcp.on_segment(dir, tu.tcp_flags).is_err() {
            f.drop(i, DropReason::CtInvalid);
            continue;
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
                f.to(i, Node::CtLookup);
                continue;
            }
        }
        mm.ip = to.dst;
        f.to(i, Node::Ip4Forward);
    }
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
    let fwd = if k.proto == proto::TCP || k.proto == proto::UDP {
        sec.forwards.get(&(k.proto, k.dst, k.dport)).copied()
    } else {
        None
    };
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
            // or handed over by the sender's: then its source is a pool address) is filtered.
            let second = m.has(flag::HAIRPIN) || sec.is_pool(k.src);
            if second || !matches!(k.proto, proto::TCP | proto::UDP) || zin == z {
                return Drop(DropReason::NatNoMapping);
            }
            hp_zone = Some(z);
        }
    }
    if k.proto == proto::ICMP && tu.icmp_type != icmpv4::kind::ECHO_REQUEST {
        let r = if tu.icmp_type == icmpv4::kind::ECHO_REPLY { DropReason::CtInvalid } else { DropReason::CtUntracked };
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
    match sec.firewall(&to, zin, zout, tu.icmp_type, fwd.is_some()).0 {
        Verdict::Accept => {}
        Verdict::Drop => return Drop(DropReason::FwDrop),
        Verdict::Reject => return Next(Node::FwReject),
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
    let rule = sec.snat_rule(k.src, zout, hairpin);
    if let Some(rule) = rule.filter(|_| !matches!(k.proto, proto::TCP | proto::UDP | proto::ICMP)) {
        match address_only(ct, sec, rule, &k) {
            Ok(a) => {
                to.src = a;
                data.flags |= NatData::SNAT;
            }
            Err(r) => return Drop(r),
        }
    } else if let Some(rule) = rule {
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
    if k.proto == proto::TCP && track.on_segment(Dir::Orig, tu.tcp_flags).is_err() {
        if data.map != NatData::NO_MAP {
            ct.maps.release(data.map);
        }
        return Drop(DropReason::CtInvalid);
    }
    match ct.table.insert(k, to.reverse(), track, data, cx.now) {
        Ok(id) => {
            ct.table.touch(id, Dir::Orig, u32::from(tu.ip_len), cx.now);
            cx.c.event(Event::CtNew);
        }
        Err(e) => {
            if data.map != NatData::NO_MAP {
                ct.maps.release(data.map);
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
    Next(Node::Ip4Forward)
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
        f.meta_mut(i).ip = dst;
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
    let maps = &mut ct.maps;
    let n = ct.table.expire(cx.now, 2048, |_, c| {
        if c.data.map != NatData::NO_MAP {
            maps.release(c.data.map);
        }
    });
    if n > 0 {
        cx.c.event_n(Event::CtExpired, u64::from(n));
    }
}
