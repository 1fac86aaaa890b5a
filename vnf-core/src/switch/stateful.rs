//! The stateful routed path: connection tracking, firewall and NAT between the ingress
//! domain and routing, in netfilter's order: a known connection is translated and
//! routed; a new one is destination-NATed (port forwards), routed, judged by the firewall
//! (zone pair of ingress and egress domain), source-NATed, then recorded.
//!
//! ICMP errors about a known connection are related to it and translated with their
//! embedded header (RFC 5508); they never refresh or remove it (RFC 4787 REQ-12).
//! Fragments are not reassembled: they are dropped and counted (`ct-fragment`).

use super::{Ctx, Emit, SwitchState};
use crate::buf::{BufAlloc, PacketBuf};
use crate::config::{Exhaustion, Verdict};
use crate::conntrack::{tcp, ConnTable, Dir, FlowKey, InsertError};
use crate::nat::pool::MapError;
use crate::nat::{translate, Mappings, NatData, SecTables};
use crate::stats::{DropReason, Event};
use crate::switch::Action;
use crate::wire::icmpv4;
use crate::wire::ipv4::{proto, Ipv4Packet};
use crate::wire::vlan::L2Info;

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
pub(super) struct Tuple {
    pub key: FlowKey,
    pub ttl: u8,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_error: bool,
    pub ip_len: u16,
}

/// Reads the tuple of the IPv4 packet `ip` (its header checksum already verified).
#[inline]
pub(super) fn parse_tuple(ip: &[u8]) -> Result<Tuple, DropReason> {
    let p = Ipv4Packet::new_checked(ip).map_err(|_| DropReason::Malformed)?;
    if p.is_fragment() {
        return Err(DropReason::CtFragment);
    }
    let hl = p.header_len();
    let total = usize::from(p.total_len());
    let l4 = &ip[hl..total];
    let mut k = FlowKey { src: p.src(), dst: p.dst(), sport: 0, dport: 0, proto: p.protocol() };
    let mut t = Tuple { key: k, ttl: p.ttl(), tcp_flags: 0, icmp_type: 0, icmp_error: false, ip_len: total as u16 };
    let be = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    match k.proto {
        proto::TCP => {
            if l4.len() < 20 {
                return Err(DropReason::Malformed);
            }
            k.sport = be(0);
            k.dport = be(2);
            t.tcp_flags = l4[13];
        }
        proto::UDP => {
            if l4.len() < 8 {
                return Err(DropReason::Malformed);
            }
            k.sport = be(0);
            k.dport = be(2);
        }
        proto::ICMP => {
            if l4.len() < 8 {
                return Err(DropReason::Malformed);
            }
            t.icmp_type = l4[0];
            match l4[0] {
                icmpv4::kind::ECHO_REQUEST | icmpv4::kind::ECHO_REPLY => {
                    k.sport = be(4);
                    k.dport = k.sport;
                }
                icmpv4::kind::DEST_UNREACHABLE | icmpv4::kind::TIME_EXCEEDED | icmpv4::kind::PARAM_PROBLEM => {
                    t.icmp_error = true
                }
                _ => {}
            }
        }
        _ => {}
    }
    t.key = k;
    Ok(t)
}

/// The tuple of the packet quoted in an ICMP error (`ip` is the outer packet).
pub(super) fn embedded_key(ip: &[u8]) -> Option<FlowKey> {
    let hl = usize::from(ip.first()? & 0x0f) * 4;
    let total = (usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]))).min(ip.len());
    let e = ip.get(hl + 8..total)?;
    let ihl = usize::from(e.first()? & 0x0f) * 4;
    if ihl < 20 || e.len() < ihl + 8 {
        return None;
    }
    let a = |at: usize| u32::from_be_bytes([e[at], e[at + 1], e[at + 2], e[at + 3]]);
    let be = |at: usize| u16::from_be_bytes([e[at], e[at + 1]]);
    let mut k = FlowKey { src: a(12), dst: a(16), sport: 0, dport: 0, proto: e[9] };
    match k.proto {
        proto::TCP | proto::UDP => {
            k.sport = be(ihl);
            k.dport = be(ihl + 2);
        }
        proto::ICMP => match e[ihl] {
            icmpv4::kind::ECHO_REQUEST | icmpv4::kind::ECHO_REPLY => {
                k.sport = be(ihl + 4);
                k.dport = k.sport;
            }
            _ => return None,
        },
        _ => {}
    }
    Some(k)
}

impl<B: PacketBuf> SwitchState<B> {
    /// For prefetching ahead of a burst: the connection-table hash of `frame`'s flow, when
    /// the table is large enough that its entries miss the caches (below that, the extra
    /// parse costs more than it saves).
    #[inline]
    pub fn ct_hash(&self, frame: &[u8]) -> Option<u32> {
        let st = self.ct.as_ref()?;
        if st.table.len() < PREFETCH_FROM {
            return None;
        }
        let h = L2Info::parse(frame).ok()?;
        if h.ethertype != crate::wire::EtherType::IPV4 {
            return None;
        }
        let tu = parse_tuple(frame.get(h.l3_offset..)?).ok()?;
        Some(tu.key.hash())
    }

    /// The address of the index slot of hash `h` (to prefetch).
    #[inline]
    pub fn ct_slot_addr(&self, h: u32) -> Option<usize> {
        self.ct.as_ref().map(|st| st.table.slot_addr(h))
    }

    /// The address of the connection hash `h` most likely finds (to prefetch once its slot
    /// is cached).
    #[inline]
    pub fn ct_conn_addr(&self, h: u32) -> Option<usize> {
        self.ct.as_ref().and_then(|st| st.table.conn_addr(h))
    }

    /// An IPv4 packet to a gateway MAC when the config is stateful (kept out of line so the
    /// stateless routing path stays small enough to inline).
    #[inline(never)]
    pub(super) fn ipv4_stateful<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        sec: &SecTables,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        mut pkt: B,
        out: &mut Emit<B>,
    ) {
        let l3 = h.l3_offset;
        let tu = match pkt.data().get(l3..).map(parse_tuple) {
            Some(Ok(t)) => t,
            Some(Err(r)) => return out.drop(pkt, r),
            None => return out.drop(pkt, DropReason::Malformed),
        };
        let k = tu.key;
        if sec.workers > 1 && !cx.handed {
            let owner = if tu.icmp_error {
                embedded_key(&pkt.data()[l3..]).map(|e| sec.owner(&e.reverse())).unwrap_or(self.worker)
            } else {
                sec.owner(&k)
            };
            if owner != self.worker {
                cx.c.event(Event::HandoffOut);
                return out.push(pkt, Action::Handoff(owner, in_port));
            }
        }
        let Some(st) = self.ct.as_mut() else { return out.drop(pkt, DropReason::NoForward) };
        if let Some((id, dir)) = st.table.lookup_hashed(&k, k.hash()) {
            if tu.ttl <= 1 {
                // Time exceeded about the packet as it arrived.
                return self.ipv4_forward(cx, in_port, domain, h, pkt, k.dst, tu.ttl, out);
            }
            let c = st.table.get_mut(id);
            if k.proto == proto::TCP && c.tcp.on_segment(dir, tu.tcp_flags).is_err() {
                return out.drop(pkt, DropReason::CtInvalid);
            }
            let translated = c.data.flags & NatData::TRANSLATED != 0;
            let to = if dir == Dir::Orig { c.reply.reverse() } else { c.orig.reverse() };
            st.table.touch(id, dir, u32::from(tu.ip_len), cx.now);
            if translated {
                translate::rewrite(&mut pkt.data_mut()[l3..], &k, &to);
                cx.c.event(Event::NatTranslated);
            }
            return self.ipv4_forward(cx, in_port, domain, h, pkt, to.dst, tu.ttl, out);
        }
        if tu.icmp_error {
            return self.ct_related(cx, in_port, domain, h, pkt, &tu, out);
        }
        self.ct_new(cx, sec, in_port, domain, h, pkt, &tu, out)
    }

    /// The first packet of a connection.
    #[allow(clippy::too_many_arguments)]
    fn ct_new<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        sec: &SecTables,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        mut pkt: B,
        tu: &Tuple,
        out: &mut Emit<B>,
    ) {
        let k = tu.key;
        let l3 = h.l3_offset;
        let t = cx.t;
        let fwd = if k.proto == proto::TCP || k.proto == proto::UDP {
            sec.forwards.get(&(k.proto, k.dst, k.dport)).copied()
        } else {
            None
        };
        if fwd.is_none() {
            if t.local_domain(k.dst).is_some() {
                if k.proto == proto::ICMP && tu.icmp_type == icmpv4::kind::ECHO_REQUEST {
                    return self.echo_reply(cx, in_port, domain, h, pkt, out);
                }
                if !sec.is_pool(k.dst) {
                    return out.drop(pkt, DropReason::LocalUnhandled);
                }
            }
            if sec.is_pool(k.dst) {
                return out.drop(pkt, DropReason::NatNoMapping);
            }
        }
        if k.proto == proto::ICMP && tu.icmp_type != icmpv4::kind::ECHO_REQUEST {
            let r =
                if tu.icmp_type == icmpv4::kind::ECHO_REPLY { DropReason::CtInvalid } else { DropReason::CtUntracked };
            return out.drop(pkt, r);
        }
        if k.proto == proto::TCP && !tcp::is_new_ok(tcp::classify(tu.tcp_flags)) {
            return out.drop(pkt, DropReason::CtInvalid);
        }
        let mut to = k;
        if let Some((a, p)) = fwd {
            to.dst = a;
            to.dport = p;
        }
        let first = to.dst >> 24;
        let nh = t.lpm.lookup(to.dst).and_then(|i| t.next_hops.get(i as usize)).copied();
        let Some(nh) = nh.filter(|_| tu.ttl > 1 && first != 0 && first != 127 && first < 224) else {
            // Not routable, no route or TTL exceeded: the plain path answers with the error.
            return self.ipv4_forward(cx, in_port, domain, h, pkt, k.dst, tu.ttl, out);
        };
        let (zin, zout) = (sec.zone(domain), sec.zone(nh.domain));
        match sec.firewall(&to, zin, zout, tu.icmp_type, fwd.is_some()).0 {
            Verdict::Accept => {}
            Verdict::Drop => return out.drop(pkt, DropReason::FwDrop),
            Verdict::Reject => return self.reject(cx, in_port, domain, h, pkt, tu, out),
        }
        let Some(st) = self.ct.as_mut() else { return out.drop(pkt, DropReason::NoForward) };
        let mut data = NatData::default();
        if fwd.is_some() {
            data.flags |= NatData::DNAT;
        }
        let hairpin = fwd.is_some() && zin == zout;
        if let Some(rule) = sec.snat_rule(k.src, zout, hairpin) {
            if !matches!(k.proto, proto::TCP | proto::UDP | proto::ICMP) {
                return out.drop(pkt, DropReason::NatUnsupportedProto);
            }
            match st.maps.acquire(sec, rule, k.proto, k.src, k.sport) {
                Ok(mi) => {
                    let m = st.maps.get(mi);
                    to.src = m.ext_addr;
                    to.sport = m.ext_port;
                    if k.proto == proto::ICMP {
                        to.dport = m.ext_port;
                    }
                    data.map = mi;
                    data.flags |= NatData::SNAT;
                    if m.refs == 1 {
                        cx.c.event(Event::NatMappingNew);
                    }
                }
                Err(MapError::Exhausted) => {
                    if sec.snat[rule].on_exhaustion == Exhaustion::Icmp {
                        cx.c.drop_n(DropReason::NatPoolExhausted, 1);
                        return self.icmp_error(
                            cx,
                            pkt,
                            h.ntags,
                            in_port,
                            domain,
                            icmpv4::kind::DEST_UNREACHABLE,
                            icmpv4::unreach::ADMIN_PROHIBITED,
                            0,
                            out,
                        );
                    }
                    return out.drop(pkt, DropReason::NatPoolExhausted);
                }
                Err(MapError::Full) => return out.drop(pkt, DropReason::CtTableFull),
            }
        }
        if to != k {
            data.flags |= NatData::TRANSLATED;
        }
        let mut track = tcp::TcpTrack::default();
        if k.proto == proto::TCP && track.on_segment(Dir::Orig, tu.tcp_flags).is_err() {
            if data.map != NatData::NO_MAP {
                st.maps.release(data.map);
            }
            return out.drop(pkt, DropReason::CtInvalid);
        }
        match st.table.insert(k, to.reverse(), track, data, cx.now) {
            Ok(id) => {
                st.table.touch(id, Dir::Orig, u32::from(tu.ip_len), cx.now);
                cx.c.event(Event::CtNew);
            }
            Err(e) => {
                if data.map != NatData::NO_MAP {
                    st.maps.release(data.map);
                }
                let r = if e == InsertError::Full { DropReason::CtTableFull } else { DropReason::CtInvalid };
                return out.drop(pkt, r);
            }
        }
        if data.flags & NatData::TRANSLATED != 0 {
            translate::rewrite(&mut pkt.data_mut()[l3..], &k, &to);
            cx.c.event(Event::NatTranslated);
        }
        self.ipv4_forward(cx, in_port, domain, h, pkt, to.dst, tu.ttl, out)
    }

    /// An ICMP error: translated as its connection if it quotes one (RFC 5508).
    #[allow(clippy::too_many_arguments)]
    fn ct_related<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        mut pkt: B,
        tu: &Tuple,
        out: &mut Emit<B>,
    ) {
        let l3 = h.l3_offset;
        let k = tu.key;
        let found = embedded_key(&pkt.data()[l3..]).and_then(|e| {
            let st = self.ct.as_ref()?;
            let (id, dir) = st.table.lookup(&e.reverse())?;
            let c = st.table.get(id);
            Some((e, dir, *c))
        });
        let Some((e, dir, c)) = found else {
            let local = cx.t.local_domain(k.dst).is_some() && !cx.t.sec.as_ref().is_some_and(|s| s.is_pool(k.dst));
            let r = if local { DropReason::LocalUnhandled } else { DropReason::CtUntracked };
            return out.drop(pkt, r);
        };
        let mut dst = k.dst;
        if c.data.flags & NatData::TRANSLATED != 0 {
            let seen = e.reverse();
            let to = if dir == Dir::Orig { c.reply.reverse() } else { c.orig.reverse() };
            let src = if k.src == seen.src || (dir == Dir::Orig && c.data.flags & NatData::SNAT != 0) {
                to.src
            } else {
                k.src
            };
            dst = to.dst;
            if !translate::rewrite_icmp_error(&mut pkt.data_mut()[l3..], src, dst, &e, &to.reverse()) {
                return out.drop(pkt, DropReason::Malformed);
            }
        }
        cx.c.event(Event::IcmpErrorTranslated);
        self.ipv4_forward(cx, in_port, domain, h, pkt, dst, tu.ttl, out)
    }

    /// Rejects a new connection: a TCP RST from the address the client tried, or ICMP port
    /// unreachable (UDP) / administratively prohibited (others) from the gateway.
    #[allow(clippy::too_many_arguments)]
    fn reject<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        mut pkt: B,
        tu: &Tuple,
        out: &mut Emit<B>,
    ) {
        cx.c.drop_n(DropReason::FwReject, 1);
        let k = tu.key;
        if k.proto != proto::TCP {
            let code = if k.proto == proto::UDP { icmpv4::unreach::PORT } else { icmpv4::unreach::ADMIN_PROHIBITED };
            cx.c.event(Event::FwRejectSent);
            return self.icmp_error(cx, pkt, h.ntags, in_port, domain, icmpv4::kind::DEST_UNREACHABLE, code, 0, out);
        }
        if tu.tcp_flags & 0x04 != 0 {
            return drop(pkt);
        }
        let Some(g) = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway) else { return drop(pkt) };
        let l3 = h.l3_offset;
        let (seq, ack, payload) = {
            let d = pkt.data();
            let ip = &d[l3..];
            let hl = usize::from(ip[0] & 0x0f) * 4;
            let t = &ip[hl..];
            let thl = usize::from(t[12] >> 4) * 4;
            let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
            let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
            let payload = usize::from(tu.ip_len).saturating_sub(hl + thl) as u32;
            (seq, ack, payload)
        };
        let len = pkt.len();
        let want = (l3 + 40).max(60);
        let sized = if len >= want { pkt.trim(len - want) } else { pkt.append(want - len).is_some() };
        if !sized {
            return drop(pkt);
        }
        let d = pkt.data_mut();
        let mut m = [0u8; 6];
        m.copy_from_slice(&d[6..12]);
        d[0..6].copy_from_slice(&m);
        d[6..12].copy_from_slice(&g.mac.0);
        d[l3..].fill(0);
        let ip = &mut d[l3..l3 + 40];
        crate::wire::ipv4::Ipv4Repr {
            src: k.dst,
            dst: k.src,
            protocol: proto::TCP,
            payload_len: 20,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
        }
        .emit(&mut ip[..20]);
        let t = &mut ip[20..40];
        t[0..2].copy_from_slice(&k.dport.to_be_bytes());
        t[2..4].copy_from_slice(&k.sport.to_be_bytes());
        let syn_fin = u32::from(tu.tcp_flags & 0x02 != 0) + u32::from(tu.tcp_flags & 0x01 != 0);
        if tu.tcp_flags & 0x10 != 0 {
            t[4..8].copy_from_slice(&ack.to_be_bytes());
            t[13] = 0x04;
        } else {
            t[8..12].copy_from_slice(&seq.wrapping_add(payload + syn_fin).to_be_bytes());
            t[13] = 0x14;
        }
        t[12] = 5 << 4;
        if let Ok(mut tp) = crate::wire::tcp::TcpPacket::new_checked(&mut t[..]) {
            tp.fill_checksum(k.dst, k.src);
        }
        cx.c.event(Event::FwRejectSent);
        let pcp = h.pcp();
        self.send(cx, in_port, domain, pkt, h.ntags, pcp, out);
    }

    /// Rewrites a packet that NAT translated (its tuple is the reverse of one of its
    /// connection's keys) back to the tuple it arrived with; anything else is left alone.
    pub(super) fn untranslate(&self, pkt: &mut B, l3: usize) {
        let Some(st) = self.ct.as_ref() else { return };
        let Some(Ok(tu)) = pkt.data().get(l3..).map(parse_tuple) else { return };
        if tu.icmp_error {
            return;
        }
        let Some((id, dir)) = st.table.lookup(&tu.key.reverse()) else { return };
        let c = st.table.get(id);
        if c.data.flags & NatData::TRANSLATED == 0 {
            return;
        }
        let arrived = if dir == Dir::Reply { c.orig } else { c.reply };
        translate::rewrite(&mut pkt.data_mut()[l3..], &tu.key, &arrived);
    }

    /// Connection expiry: call every millisecond; frees the mappings of expired connections.
    pub(super) fn ct_tick<A: BufAlloc<Buf = B>>(&mut self, cx: &Ctx<'_, A>) {
        let Some(st) = self.ct.as_mut() else { return };
        let maps = &mut st.maps;
        let n = st.table.expire(cx.now, 2048, |_, c| {
            if c.data.map != NatData::NO_MAP {
                maps.release(c.data.map);
            }
        });
        if n > 0 {
            cx.c.event_n(Event::CtExpired, u64::from(n));
        }
    }
}
