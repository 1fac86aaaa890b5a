//! The switch stage: 802.1Q access/trunk ports (QinQ trunks too), bridge domains with MAC
//! learning and flooding, and the gateway (IRB) of each domain: ARP and ping for its own
//! address, IPv4 routing between domains with ARP resolution, TTL and ICMP errors.
//!
//! A frame keeps the VLAN tags it arrived with until it leaves: egress rewrites them in
//! place when the count is the same (trunk to trunk), and only moves the 12 MAC bytes when
//! tags are pushed or popped. Flooding copies the frame once per extra port (each port may
//! need different tags); the last port gets the original.
//!
//! Per worker state ([`SwitchState`]): the forwarding database, the neighbour table and the
//! ICMP error budget. With several workers each learns what it receives: a MAC a worker has
//! not seen is flooded by it, which is correct bridge behaviour and costs copies until every
//! worker has learned it (workers poll disjoint queues; RSS keeps a flow on one worker).

pub mod emit;
mod reload;
pub mod stateful;
mod tables;

use crate::buf::{BufAlloc, PacketBuf};
use crate::l2::fdb::{Dest, Fdb, Learn};
use crate::l3::neigh::{NeighDrop, NeighTable, Resolve};
use crate::stats::{DropReason, Event, WorkerCounters};
use crate::wire::arp::{self, ArpPacket, ArpRepr};
use crate::wire::ethernet::mac_u64_at;
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::wire::udp::UdpPacket;
use crate::wire::vlan::{L2Info, Tag};
use crate::wire::vxlan::{self, VxlanPacket};
use crate::wire::{EtherType, MacAddr};
pub use emit::{Action, Emit};
pub use reload::{Adopted, Remap};
pub use tables::{Role, Tables, NO_DOMAIN, UNDERLAY_IFX};

/// A packet waiting for its next hop's MAC.
#[derive(Debug)]
pub struct Pending<B> {
    /// The packet (TTL already decremented).
    pub pkt: B,
    /// VLAN tags it still carries from ingress.
    pub ntags: u8,
    /// Where it came from (for an ICMP host unreachable).
    pub in_port: u16,
    /// Its ingress domain.
    pub in_domain: u16,
}

/// One worker's switching state.
pub struct SwitchState<B> {
    /// Forwarding database.
    pub fdb: Fdb,
    /// Neighbour (ARP) table, keyed by domain.
    pub neigh: NeighTable<Pending<B>>,
    icmp_tokens: u32,
    icmp_refill_ms: u64,
    released: Vec<Pending<B>>,
    requests: Vec<(u16, u32)>,
    failed: Vec<Pending<B>>,
    /// The last resolved next hop (domain, ip, mac), trusted during the millisecond it was
    /// resolved in: a burst to one next hop resolves once.
    nh_cache: (u16, u32, MacAddr, u64),
    /// The last source learned: (domain << 48 | mac, port, ms). A repeat within the same
    /// millisecond skips the FDB (its timestamp has millisecond resolution anyway).
    learn_cache: (u64, Dest, u64),
    /// The last destination looked up: (domain << 48 | mac, port, ms, generation), trusted
    /// while the FDB has not changed (`fdb_gen`) within the same millisecond.
    lookup_cache: (u64, Dest, u64, u64),
    fdb_gen: u64,
    /// Identification of the next outer IPv4 header this worker sends.
    ip_ident: u16,
    /// The last underlay next hop (ip, mac, ms), like `nh_cache`.
    underlay_cache: (u32, MacAddr, u64),
    /// Connection tracking and NAT state, when the config is stateful.
    pub ct: Option<Box<stateful::CtState>>,
    /// This worker's index (owner of its NAT port slices).
    worker: u16,
}

/// Minimum Ethernet frame without FCS.
const MIN_FRAME: usize = 60;
/// The group bit of a MAC as a u64.
const MCAST_BIT: u64 = 1 << 40;
/// ff:ff:ff:ff:ff:ff as a u64.
const BROADCAST: u64 = 0xffff_ffff_ffff;
/// 01:80:c2:00:00:00 as a u64 (the block is ...:00 to ...:0f).
const LINK_LOCAL: u64 = 0x0180_c200_0000;

/// Everything a packet needs besides the packet.
struct Ctx<'a, A: BufAlloc> {
    t: &'a Tables,
    alloc: &'a A,
    c: &'a WorkerCounters,
    now: u64,
    /// The packet was handed over by another worker: never hand it on.
    handed: bool,
}

impl<B: PacketBuf> SwitchState<B> {
    /// Fresh state sized by `t`, with its static MACs installed, for a single worker.
    pub fn new(t: &Tables) -> Self {
        Self::for_worker(t, 0)
    }

    /// Fresh state for worker `worker` (its NAT port slice).
    pub fn for_worker(t: &Tables, worker: u16) -> Self {
        let mut fdb = Fdb::new(t.fdb_size, t.domains.len().max(1) as u16, t.aging_ms);
        for (i, d) in t.domains.iter().enumerate() {
            fdb.set_domain_limit(i as u16, d.mac_limit);
        }
        for &(d, mac, p) in &t.static_macs {
            let _ = fdb.add_static(d, mac, Dest::Port(p));
        }
        for &(d, mac, ip) in &t.remote_macs {
            let _ = fdb.add_static(d, mac, Dest::Vtep(ip));
        }
        let n = t.neigh.max_pending * 8;
        let mut neigh = NeighTable::new(t.neighbor_size, t.neigh);
        for &(d, ip, mac) in &t.static_neighbors {
            neigh.add_static(d, ip, mac);
        }
        if let Some(v) = &t.vtep {
            for &(ip, mac) in &v.neighbors {
                neigh.add_static(UNDERLAY_IFX, ip, mac);
            }
        }
        SwitchState {
            fdb,
            neigh,
            icmp_tokens: t.icmp_errors_per_s,
            icmp_refill_ms: 0,
            released: Vec::with_capacity(n),
            requests: Vec::with_capacity(256),
            failed: Vec::with_capacity(n * 32),
            nh_cache: (NO_DOMAIN, 0, MacAddr::default(), u64::MAX),
            learn_cache: (u64::MAX, Dest::Port(0), u64::MAX),
            lookup_cache: (u64::MAX, Dest::Port(0), u64::MAX, 0),
            fdb_gen: 0,
            ip_ident: 0,
            underlay_cache: (0, MacAddr::default(), u64::MAX),
            ct: t.sec.as_deref().map(|s| Box::new(stateful::CtState::new(s, worker))),
            worker,
        }
    }

    /// Processes one packet received on `in_port` at `now_ms`.
    #[inline(always)]
    pub fn process<A: BufAlloc<Buf = B>>(
        &mut self,
        t: &Tables,
        alloc: &A,
        c: &WorkerCounters,
        in_port: u16,
        pkt: B,
        now_ms: u64,
        out: &mut Emit<B>,
    ) {
        let cx = Ctx { t, alloc, c, now: now_ms, handed: false };
        self.ingress(&cx, in_port, pkt, out);
    }

    /// Processes a packet another worker handed over (it owns the packet's connection),
    /// as received on `in_port`.
    pub fn process_handoff<A: BufAlloc<Buf = B>>(
        &mut self,
        t: &Tables,
        alloc: &A,
        c: &WorkerCounters,
        in_port: u16,
        pkt: B,
        now_ms: u64,
        out: &mut Emit<B>,
    ) {
        c.event(Event::HandoffIn);
        let cx = Ctx { t, alloc, c, now: now_ms, handed: true };
        self.ingress(&cx, in_port, pkt, out);
    }

    /// Timers: FDB aging, ARP retries and failures. Call every millisecond or so.
    pub fn tick<A: BufAlloc<Buf = B>>(
        &mut self,
        t: &Tables,
        alloc: &A,
        c: &WorkerCounters,
        now_ms: u64,
        out: &mut Emit<B>,
    ) {
        let cx = Ctx { t, alloc, c, now: now_ms, handed: false };
        self.ct_tick(&cx);
        if let Some(st) = &self.ct {
            c.ct_entries.set(u64::from(st.table.len()));
            c.nat_mappings.set(st.maps.len() as u64);
        }
        c.fdb_entries.set(self.fdb.len() as u64);
        if self.fdb.age(now_ms, 256) > 0 {
            self.fdb_gen += 1;
        }
        self.requests.clear();
        let mut failed = std::mem::take(&mut self.failed);
        self.neigh.poll(now_ms, 64, &mut self.requests, &mut failed);
        for i in 0..self.requests.len() {
            let (d, ip) = self.requests[i];
            if d == UNDERLAY_IFX {
                self.send_underlay_arp(&cx, ip, out);
            } else {
                self.send_arp_request(&cx, d, ip, out);
            }
        }
        for p in failed.drain(..) {
            c.drop_n(DropReason::ArpFailed, 1);
            if p.in_domain == UNDERLAY_IFX {
                continue;
            }
            self.icmp_error(
                &cx,
                p.pkt,
                p.ntags,
                p.in_port,
                p.in_domain,
                icmpv4::kind::DEST_UNREACHABLE,
                icmpv4::unreach::HOST,
                0,
                out,
            );
        }
        self.failed = failed;
    }

    #[inline(always)]
    fn ingress<A: BufAlloc<Buf = B>>(&mut self, cx: &Ctx<'_, A>, in_port: u16, pkt: B, out: &mut Emit<B>) {
        if !pkt.is_contiguous() {
            return out.drop(pkt, DropReason::MultiSegment);
        }
        let d = pkt.data();
        let h = match L2Info::parse(d) {
            Ok(h) => h,
            Err(_) => return out.drop(pkt, DropReason::Malformed),
        };
        let (dst, src) = (mac_u64_at(d, 0), mac_u64_at(d, 6));
        if src & MCAST_BIT != 0 || src == 0 {
            return out.drop(pkt, DropReason::BadSrcMac);
        }
        let t = cx.t;
        // Raw tags: TPID in the high half, TCI (PCP/DEI/VID) in the low half.
        const C: u32 = (EtherType::VLAN as u32) << 16;
        const S: u32 = (EtherType::QINQ as u32) << 16;
        let (r0, r1) = (h.raw_tags[0], h.raw_tags[1]);
        let vid = |r: u32| (r & 0x0fff) as u16;
        let is_c = |r: u32| r & 0xffff_0000 == C;
        let domain = match t.roles.get(usize::from(in_port)) {
            Some(Role::Access { domain }) => match h.ntags {
                0 => *domain,
                // priority-tagged, or tagged with the access VLAN itself
                1 if is_c(r0)
                    && (vid(r0) == 0 || Some(vid(r0)) == t.domains.get(usize::from(*domain)).map(|d| d.vlan)) =>
                {
                    *domain
                }
                _ => return out.drop(pkt, DropReason::VlanNotAllowed),
            },
            Some(Role::Trunk { outer: None, native, allowed }) => {
                // Untagged and priority-tagged (C-tag, VID 0) frames belong to the native VLAN;
                // C-tagged frames to their VLAN if allowed; anything else is refused.
                let untagged = h.ntags == 0 || (h.ntags == 1 && is_c(r0) && vid(r0) == 0);
                if untagged {
                    match native {
                        Some(n) => *n,
                        None => return out.drop(pkt, DropReason::UntaggedNotAllowed),
                    }
                } else if h.ntags == 1 && is_c(r0) && allowed.contains(vid(r0)) {
                    t.vlan_domain[usize::from(vid(r0))]
                } else {
                    return out.drop(pkt, DropReason::VlanNotAllowed);
                }
            }
            Some(Role::Trunk { outer: Some(s), allowed, .. }) => {
                if h.ntags == 2 && r0 & 0xffff_0000 == S && vid(r0) == *s && is_c(r1) && allowed.contains(vid(r1)) {
                    t.vlan_domain[usize::from(vid(r1))]
                } else {
                    return out.drop(pkt, DropReason::VlanNotAllowed);
                }
            }
            Some(Role::Underlay) => return self.underlay_input(cx, in_port, &h, dst, pkt, out),
            Some(Role::Unbridged) | None => return out.drop(pkt, DropReason::NoForward),
        };
        if domain == NO_DOMAIN {
            return out.drop(pkt, DropReason::VlanNotAllowed);
        }
        if dst >> 4 == LINK_LOCAL >> 4 {
            return out.drop(pkt, DropReason::LinkLocalDst);
        }
        self.learn_cached(cx, domain, src, Dest::Port(in_port));
        let pcp = h.pcp();
        let gw = t.domains.get(usize::from(domain)).and_then(|d| d.gateway);
        if let Some(g) = gw {
            if dst == g.mac64 {
                return self.l3_input(cx, in_port, domain, &h, pkt, out);
            }
            if dst == BROADCAST && h.ethertype == EtherType::ARP {
                // Answer (or learn from) ARP for the gateway and still flood it, as a host
                // on a Linux bridge would see it too.
                self.arp_broadcast(cx, in_port, domain, &h, &pkt, out);
            }
        }
        if dst & MCAST_BIT != 0 {
            return self.flood(cx, domain, Some(in_port), pkt, h.ntags, pcp, out);
        }
        let found = self.lookup_cached(cx, domain, dst);
        match found {
            Some(Dest::Port(p)) if p == in_port => out.drop(pkt, DropReason::SamePort),
            Some(Dest::Port(p)) => self.send(cx, p, domain, pkt, h.ntags, pcp, out),
            Some(Dest::Vtep(ip)) => self.send_vtep(cx, domain, ip, pkt, h.ntags, out),
            None => self.flood(cx, domain, Some(in_port), pkt, h.ntags, pcp, out),
        }
    }

    /// Learns `mac` (as u64) at `dest`; a repeat within the same millisecond skips the FDB.
    #[inline]
    fn learn_cached<A: BufAlloc<Buf = B>>(&mut self, cx: &Ctx<'_, A>, domain: u16, mac: u64, dest: Dest) {
        let key = (u64::from(domain) << 48) | mac;
        if self.learn_cache == (key, dest, cx.now) {
            return;
        }
        match self.fdb.learn(domain, MacAddr::from_u64(mac), dest, cx.now) {
            Learn::New => {
                self.fdb_gen += 1;
                cx.c.event(Event::FdbLearned)
            }
            Learn::Moved { .. } => {
                self.fdb_gen += 1;
                cx.c.event(Event::FdbLearned);
                cx.c.event(Event::FdbMoved)
            }
            Learn::DomainFull => cx.c.event(Event::FdbLimit),
            Learn::TableFull => cx.c.event(Event::FdbFull),
            Learn::Refreshed | Learn::Static | Learn::Ignored => {}
        }
        self.learn_cache = (key, dest, cx.now);
    }

    /// Looks `mac` (as u64) up; the last answer is reused within the same millisecond while
    /// the FDB has not changed.
    #[inline]
    fn lookup_cached<A: BufAlloc<Buf = B>>(&mut self, cx: &Ctx<'_, A>, domain: u16, mac: u64) -> Option<Dest> {
        let key = (u64::from(domain) << 48) | mac;
        let (ck, cd, cms, cgen) = self.lookup_cache;
        if ck == key && cms == cx.now && cgen == self.fdb_gen {
            return Some(cd);
        }
        let f = self.fdb.lookup(domain, MacAddr::from_u64(mac), cx.now);
        if let Some(d) = f {
            self.lookup_cache = (key, d, cx.now, self.fdb_gen);
        }
        f
    }

    /// Sends `pkt` (carrying `ntags` tags) out of `port` with the tags of `domain`.
    #[inline]
    fn send<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        port: u16,
        domain: u16,
        mut pkt: B,
        ntags: u8,
        pcp: u8,
        out: &mut Emit<B>,
    ) {
        let (tags, n) = cx.t.egress_tags(port, domain, pcp);
        if retag(&mut pkt, ntags, &tags[..n]) {
            out.tx(pkt, port);
        } else {
            out.drop(pkt, DropReason::Malformed);
        }
    }

    /// Floods to every member of `domain` but `except`, and (unless the frame came from the
    /// overlay: split horizon) to every remote VTEP of the domain by head-end replication.
    #[allow(clippy::too_many_arguments)]
    fn flood<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        domain: u16,
        except: Option<u16>,
        pkt: B,
        ntags: u8,
        pcp: u8,
        out: &mut Emit<B>,
    ) {
        self.flood_from(cx, domain, except, true, pkt, ntags, pcp, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn flood_from<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        domain: u16,
        except: Option<u16>,
        to_overlay: bool,
        pkt: B,
        ntags: u8,
        pcp: u8,
        out: &mut Emit<B>,
    ) {
        #[derive(Clone, Copy)]
        enum To {
            Port(u16),
            Vtep(u32),
        }
        let Some(d) = cx.t.domains.get(usize::from(domain)) else { return out.drop(pkt, DropReason::NoForward) };
        let remotes: &[u32] = if to_overlay && cx.t.vtep.is_some() { &d.remotes } else { &[] };
        let mut targets = d
            .members
            .iter()
            .copied()
            .filter(|&p| Some(p) != except)
            .map(To::Port)
            .chain(remotes.iter().map(|&r| To::Vtep(r)));
        let Some(mut cur) = targets.next() else { return out.drop(pkt, DropReason::FloodEmpty) };
        cx.c.event(Event::Flooded);
        for next in targets {
            match pkt.duplicate() {
                Some(copy) => {
                    cx.c.event(Event::FloodCopies);
                    match cur {
                        To::Port(p) => self.send(cx, p, domain, copy, ntags, pcp, out),
                        To::Vtep(ip) => {
                            cx.c.event(Event::VxlanReplicated);
                            self.send_vtep(cx, domain, ip, copy, ntags, out)
                        }
                    }
                }
                None => cx.c.drop_n(DropReason::NoMbuf, 1),
            }
            cur = next;
        }
        match cur {
            To::Port(p) => self.send(cx, p, domain, pkt, ntags, pcp, out),
            To::Vtep(ip) => {
                cx.c.event(Event::VxlanReplicated);
                self.send_vtep(cx, domain, ip, pkt, ntags, out)
            }
        }
    }

    /// Encapsulates an inner frame of `domain` (carrying `ntags` tags, which are removed)
    /// toward remote VTEP `ip`: outer Ethernet/IPv4/UDP/VXLAN built in headroom, UDP source
    /// port from a hash of the inner flow (49152..=65535), UDP checksum 0, DF set, TTL 64.
    /// Never fragments: a packet above the underlay MTU is dropped.
    fn send_vtep<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        domain: u16,
        ip: u32,
        mut pkt: B,
        ntags: u8,
        out: &mut Emit<B>,
    ) {
        let (Some(v), Some(vni)) = (cx.t.vtep.as_ref(), cx.t.domains.get(usize::from(domain)).and_then(|d| d.vni))
        else {
            return out.drop(pkt, DropReason::NoForward);
        };
        if !retag(&mut pkt, ntags, &[]) {
            return out.drop(pkt, DropReason::Malformed);
        }
        let inner_len = pkt.len();
        let ip_len = inner_len + vxlan::OVERHEAD - 14;
        if ip_len > usize::from(v.mtu) {
            return out.drop(pkt, DropReason::VxlanMtuExceeded);
        }
        let sport = 49152 | (flow_hash(pkt.data()) & 0x3fff) as u16;
        self.ip_ident = self.ip_ident.wrapping_add(1);
        let ident = self.ip_ident;
        let Some(hdr) = pkt.prepend(vxlan::OVERHEAD) else { return out.drop(pkt, DropReason::NoMbuf) };
        hdr[6..12].copy_from_slice(&v.mac.0);
        hdr[12..14].copy_from_slice(&EtherType::IPV4.to_be_bytes());
        Ipv4Repr {
            src: v.ip,
            dst: ip,
            protocol: ipv4::proto::UDP,
            payload_len: (ip_len - 20) as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident,
            dont_frag: true,
        }
        .emit(&mut hdr[14..34]);
        hdr[34..36].copy_from_slice(&sport.to_be_bytes());
        hdr[36..38].copy_from_slice(&v.udp_port.to_be_bytes());
        hdr[38..40].copy_from_slice(&((ip_len - 20) as u16).to_be_bytes());
        hdr[40..42].fill(0);
        vxlan::emit(&mut hdr[42..50], vni);
        cx.c.event(Event::VxlanEncap);
        if let Some(t) = cx.c.domains.get(usize::from(domain)) {
            t.encap.add(1);
        }
        if let Some(t) = cx.t.vtep_index(ip).and_then(|i| cx.c.vteps.get(i)) {
            t.encap.add(1);
        }
        let nh = v.next_hop(ip);
        let port = v.port;
        let (cip, cmac, cms) = self.underlay_cache;
        if cms == cx.now && cip == nh {
            return self.underlay_output(cx, cmac, pkt, out);
        }
        let pending = Pending { pkt, ntags: 0, in_port: port, in_domain: UNDERLAY_IFX };
        match self.neigh.resolve(UNDERLAY_IFX, nh, pending, cx.now) {
            Resolve::Known(mac, p) => {
                self.underlay_cache = (nh, mac, cx.now);
                self.underlay_output(cx, mac, p.pkt, out)
            }
            Resolve::Queued { send_request } => {
                if send_request {
                    self.send_underlay_arp(cx, nh, out);
                }
            }
            Resolve::Dropped(p, why) => out.drop(p.pkt, neigh_drop_reason(why)),
        }
    }

    /// Sends an encapsulated packet to its underlay next hop `mac`.
    fn underlay_output<A: BufAlloc<Buf = B>>(&mut self, cx: &Ctx<'_, A>, mac: MacAddr, mut pkt: B, out: &mut Emit<B>) {
        let Some(v) = cx.t.vtep.as_ref() else { return out.drop(pkt, DropReason::NoForward) };
        let d = pkt.data_mut();
        d[0..6].copy_from_slice(&mac.0);
        d[6..12].copy_from_slice(&v.mac.0);
        out.tx(pkt, v.port);
    }

    fn send_underlay_arp<A: BufAlloc<Buf = B>>(&mut self, cx: &Ctx<'_, A>, ip: u32, out: &mut Emit<B>) {
        let Some(v) = cx.t.vtep.as_ref() else { return };
        match self.build_arp(
            cx,
            u16::MAX,
            0,
            0,
            arp::OP_REQUEST,
            v.mac,
            v.ip,
            MacAddr::BROADCAST,
            MacAddr::default(),
            ip,
        ) {
            Some(b) => {
                cx.c.event(Event::ArpRequestSent);
                out.tx(b, v.port);
            }
            None => cx.c.drop_n(DropReason::NoMbuf, 1),
        }
    }

    /// A frame on the underlay port: ARP for the VTEP address, or VXLAN to it.
    fn underlay_input<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        h: &L2Info,
        dst: u64,
        mut pkt: B,
        out: &mut Emit<B>,
    ) {
        let Some(v) = cx.t.vtep.as_ref() else { return out.drop(pkt, DropReason::NoForward) };
        if h.ntags != 0 || (dst != v.mac64 && dst != BROADCAST) {
            return out.drop(pkt, DropReason::UnderlayNotOurs);
        }
        if h.ethertype == EtherType::ARP {
            let Some(r) =
                pkt.data().get(h.l3_offset..).and_then(|b| ArpPacket::new_checked(b).ok()).map(|p| ArpRepr::parse(&p))
            else {
                return out.drop(pkt, DropReason::Malformed);
            };
            if r.target_ip != v.ip || !v.prefix.contains(r.sender_ip) || r.sender_ip == v.ip {
                return out.drop(pkt, DropReason::UnderlayNotOurs);
            }
            self.neigh_learn(cx, UNDERLAY_IFX, r.sender_ip, r.sender_mac, r.operation == arp::OP_REQUEST, out);
            if r.operation == arp::OP_REQUEST {
                match self.build_arp(
                    cx,
                    u16::MAX,
                    0,
                    0,
                    arp::OP_REPLY,
                    v.mac,
                    v.ip,
                    r.sender_mac,
                    r.sender_mac,
                    r.sender_ip,
                ) {
                    Some(b) => {
                        cx.c.event(Event::ArpReplySent);
                        out.tx(b, in_port);
                    }
                    None => cx.c.drop_n(DropReason::NoMbuf, 1),
                }
            }
            cx.c.event(Event::LocalConsumed);
            return out.push(pkt, Action::Consumed);
        }
        if h.ethertype != EtherType::IPV4 || dst != v.mac64 {
            return out.drop(pkt, DropReason::UnderlayNotOurs);
        }
        // Outer IPv4 / UDP / VXLAN.
        let parsed = {
            let d = pkt.data();
            let Some(ip) = d.get(14..).and_then(|b| Ipv4Packet::new_checked(b).ok()) else {
                return out.drop(pkt, DropReason::Malformed);
            };
            if !ip.verify_checksum() {
                return out.drop(pkt, DropReason::Ipv4BadChecksum);
            }
            if ip.dst() != v.ip || ip.protocol() != ipv4::proto::UDP || ip.is_fragment() {
                return out.drop(pkt, DropReason::UnderlayNotOurs);
            }
            let src = ip.src();
            let hl = ip.header_len();
            let Ok(udp) = UdpPacket::new_checked(ip.payload()) else { return out.drop(pkt, DropReason::Malformed) };
            if udp.dst_port() != v.udp_port {
                return out.drop(pkt, DropReason::UnderlayNotOurs);
            }
            if !udp.verify_checksum(src, v.ip) {
                return out.drop(pkt, DropReason::VxlanBadChecksum);
            }
            match VxlanPacket::new_checked(udp.payload()) {
                Ok(x) => Ok((src, x.vni(), 14 + hl + 8 + vxlan::HEADER_LEN, udp.payload().len() - vxlan::HEADER_LEN)),
                Err(crate::wire::WireError::BadVxlanFlags) => Err(DropReason::VxlanBadFlags),
                Err(_) => Err(DropReason::Malformed),
            }
        };
        let (src_vtep, vni, outer, inner_len) = match parsed {
            Ok(x) => x,
            Err(r) => return out.drop(pkt, r),
        };
        let Some(domain) = v.domain_of(vni) else { return out.drop(pkt, DropReason::VxlanUnknownVni) };
        let Some(d) = cx.t.domains.get(usize::from(domain)) else { return out.drop(pkt, DropReason::VxlanUnknownVni) };
        if v.check_source && !d.remotes.contains(&src_vtep) {
            return out.drop(pkt, DropReason::VxlanUnknownVtep);
        }
        // Strip the outer headers (and any Ethernet padding after the UDP datagram).
        let extra = pkt.len().saturating_sub(outer + inner_len);
        if !pkt.adj(outer) || !pkt.trim(extra) {
            return out.drop(pkt, DropReason::Malformed);
        }
        cx.c.event(Event::VxlanDecap);
        if let Some(t) = cx.c.domains.get(usize::from(domain)) {
            t.decap.add(1);
        }
        if let Some(t) = cx.t.vtep_index(src_vtep).and_then(|i| cx.c.vteps.get(i)) {
            t.decap.add(1);
        }
        let d = pkt.data();
        let ih = match L2Info::parse(d) {
            Ok(ih) => ih,
            Err(_) => return out.drop(pkt, DropReason::Malformed),
        };
        // Tagged inner frames only where the bridge allows them; their tags are then payload
        // (ntags 0 below), so local egress adds the port's own tag outside them.
        if ih.ntags != 0 && !cx.t.domains.get(usize::from(domain)).map(|d| d.inner_tagged).unwrap_or(false) {
            return out.drop(pkt, DropReason::VxlanInnerTagged);
        }
        let (idst, isrc) = (mac_u64_at(d, 0), mac_u64_at(d, 6));
        if isrc & MCAST_BIT != 0 || isrc == 0 {
            return out.drop(pkt, DropReason::BadSrcMac);
        }
        self.learn_cached(cx, domain, isrc, Dest::Vtep(src_vtep));
        if cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway).map(|g| g.mac64 == idst).unwrap_or(false) {
            return out.drop(pkt, DropReason::L3FromOverlay);
        }
        if idst & MCAST_BIT != 0 {
            return self.flood_from(cx, domain, None, false, pkt, 0, 0, out);
        }
        match self.lookup_cached(cx, domain, idst) {
            Some(Dest::Port(p)) => self.send(cx, p, domain, pkt, 0, 0, out),
            Some(Dest::Vtep(_)) => out.drop(pkt, DropReason::VxlanSplitHorizon),
            None => self.flood_from(cx, domain, None, false, pkt, 0, 0, out),
        }
    }

    /// ARP broadcast inside a routed domain: learn the sender, answer requests for the gateway.
    fn arp_broadcast<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        pkt: &B,
        out: &mut Emit<B>,
    ) {
        let Some(r) =
            pkt.data().get(h.l3_offset..).and_then(|b| ArpPacket::new_checked(b).ok()).map(|p| ArpRepr::parse(&p))
        else {
            return;
        };
        let Some(g) = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway) else { return };
        if !g.prefix.contains(r.sender_ip) || r.sender_ip == g.ip {
            return;
        }
        let for_us = r.operation == arp::OP_REQUEST && (r.target_ip == g.ip || cx.t.answers_arp(&g, r.target_ip));
        self.neigh_learn(cx, domain, r.sender_ip, r.sender_mac, for_us, out);
        if for_us {
            let pcp = h.pcp();
            if let Some(reply) = self.build_arp(
                cx,
                in_port,
                domain,
                pcp,
                arp::OP_REPLY,
                g.mac,
                r.target_ip,
                r.sender_mac,
                r.sender_mac,
                r.sender_ip,
            ) {
                cx.c.event(Event::ArpReplySent);
                out.tx(reply, in_port);
            } else {
                cx.c.drop_n(DropReason::NoMbuf, 1);
            }
        }
    }

    /// A frame addressed to the gateway MAC of `domain`.
    #[inline(always)]
    fn l3_input<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        pkt: B,
        out: &mut Emit<B>,
    ) {
        match h.ethertype {
            EtherType::ARP => self.arp_unicast(cx, in_port, domain, h, pkt, out),
            EtherType::IPV4 => self.ipv4_input(cx, in_port, domain, h, pkt, out),
            _ => out.drop(pkt, DropReason::L3Unsupported),
        }
    }

    /// ARP addressed to the gateway MAC: a reply to our request, or a unicast request.
    fn arp_unicast<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        mut pkt: B,
        out: &mut Emit<B>,
    ) {
        let Some(r) =
            pkt.data().get(h.l3_offset..).and_then(|b| ArpPacket::new_checked(b).ok()).map(|p| ArpRepr::parse(&p))
        else {
            return out.drop(pkt, DropReason::Malformed);
        };
        let Some(g) = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway) else {
            return out.drop(pkt, DropReason::NoForward);
        };
        if (r.target_ip != g.ip && !cx.t.answers_arp(&g, r.target_ip)) || !g.prefix.contains(r.sender_ip) {
            return out.drop(pkt, DropReason::ArpNotOurs);
        }
        self.neigh_learn(cx, domain, r.sender_ip, r.sender_mac, true, out);
        if r.operation == arp::OP_REPLY {
            cx.c.event(Event::LocalConsumed);
            return out.push(pkt, Action::Consumed);
        }
        // A unicast request (a neighbour re-validating us): answer in place.
        let l3 = h.l3_offset;
        let reply = ArpRepr {
            operation: arp::OP_REPLY,
            sender_mac: g.mac,
            sender_ip: r.target_ip,
            target_mac: r.sender_mac,
            target_ip: r.sender_ip,
        };
        let d = pkt.data_mut();
        d[0..6].copy_from_slice(&r.sender_mac.0);
        d[6..12].copy_from_slice(&g.mac.0);
        reply.emit(&mut d[l3..l3 + arp::PACKET_LEN]);
        cx.c.event(Event::ArpReplySent);
        let pcp = h.pcp();
        self.send(cx, in_port, domain, pkt, h.ntags, pcp, out);
    }

    /// Records a neighbour and sends the packets that waited for it.
    fn neigh_learn<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        domain: u16,
        ip: u32,
        mac: MacAddr,
        create: bool,
        out: &mut Emit<B>,
    ) {
        self.nh_cache.3 = u64::MAX;
        self.underlay_cache.2 = u64::MAX;
        let mut released = std::mem::take(&mut self.released);
        if self.neigh.learn(domain, ip, mac, cx.now, create, &mut released) {
            cx.c.event(Event::ArpLearned);
        }
        for p in released.drain(..) {
            if domain == UNDERLAY_IFX {
                self.underlay_output(cx, mac, p.pkt, out);
            } else {
                self.l3_output(cx, domain, mac, p.pkt, p.ntags, (p.in_port, p.in_domain), out);
            }
        }
        self.released = released;
    }

    #[inline(always)]
    fn ipv4_input<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        pkt: B,
        out: &mut Emit<B>,
    ) {
        let l3 = h.l3_offset;
        let (dst, ttl, proto, checksum_ok, frag_offset) = {
            let Some(ip) = pkt.data().get(l3..).and_then(|b| Ipv4Packet::new_checked(b).ok()) else {
                return out.drop(pkt, DropReason::Malformed);
            };
            (ip.dst(), ip.ttl(), ip.protocol(), ip.verify_checksum(), ip.frag_offset())
        };
        if !checksum_ok {
            return out.drop(pkt, DropReason::Ipv4BadChecksum);
        }
        let t = cx.t;
        if let Some(sec) = t.sec.as_deref() {
            return self.ipv4_stateful(cx, sec, in_port, domain, h, pkt, out);
        }
        if t.local_domain(dst).is_some() {
            if proto == ipv4::proto::ICMP && frag_offset == 0 {
                return self.echo_reply(cx, in_port, domain, h, pkt, out);
            }
            return out.drop(pkt, DropReason::LocalUnhandled);
        }
        self.ipv4_forward(cx, in_port, domain, h, pkt, dst, ttl, out)
    }

    /// Routes an IPv4 packet to `dst` (TTL `ttl`, header checksum valid): TTL and
    /// reachability checks with their ICMP errors, the route, the next hop's MAC.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn ipv4_forward<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        mut pkt: B,
        dst: u32,
        ttl: u8,
        out: &mut Emit<B>,
    ) {
        let t = cx.t;
        let l3 = h.l3_offset;
        let first = dst >> 24;
        if first >= 224 || first == 0 || first == 127 {
            return out.drop(pkt, DropReason::NotRoutable);
        }
        if ttl <= 1 {
            cx.c.drop_n(DropReason::TtlExceeded, 1);
            return self.icmp_error(cx, pkt, h.ntags, in_port, domain, icmpv4::kind::TIME_EXCEEDED, 0, 0, out);
        }
        let Some(nh) = t.lpm.lookup(dst).and_then(|i| t.next_hops.get(i as usize)).copied() else {
            cx.c.drop_n(DropReason::NoRoute, 1);
            return self.icmp_error(
                cx,
                pkt,
                h.ntags,
                in_port,
                domain,
                icmpv4::kind::DEST_UNREACHABLE,
                icmpv4::unreach::NET,
                0,
                out,
            );
        };
        let target = nh.via.unwrap_or(dst);
        if let Some(g) = t.domains.get(usize::from(nh.domain)).and_then(|d| d.gateway) {
            if nh.via.is_none() && (dst == g.prefix.network() || dst == g.prefix.broadcast()) {
                return out.drop(pkt, DropReason::NotRoutable);
            }
        }
        if let Some(mut ip) = pkt.data_mut().get_mut(l3..).and_then(|b| Ipv4Packet::new_checked(b).ok()) {
            ip.set_ttl_update(ttl - 1);
        }
        cx.c.event(Event::Routed);
        let (cd, cip, cmac, cms) = self.nh_cache;
        if cms == cx.now && cd == nh.domain && cip == target {
            return self.l3_output(cx, nh.domain, cmac, pkt, h.ntags, (in_port, domain), out);
        }
        let pending = Pending { pkt, ntags: h.ntags, in_port, in_domain: domain };
        match self.neigh.resolve(nh.domain, target, pending, cx.now) {
            Resolve::Known(mac, p) => {
                self.nh_cache = (nh.domain, target, mac, cx.now);
                self.l3_output(cx, nh.domain, mac, p.pkt, p.ntags, (p.in_port, p.in_domain), out)
            }
            Resolve::Queued { send_request } => {
                if send_request {
                    self.send_arp_request(cx, nh.domain, target, out);
                }
            }
            Resolve::Dropped(p, why) => out.drop(p.pkt, neigh_drop_reason(why)),
        }
    }

    /// Sends a routed packet to `mac` in `domain`: Ethernet rewrite, then L2 forwarding.
    #[allow(clippy::too_many_arguments)]
    fn l3_output<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        domain: u16,
        mac: MacAddr,
        mut pkt: B,
        ntags: u8,
        from: (u16, u16),
        out: &mut Emit<B>,
    ) {
        let Some(g) = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway) else {
            return out.drop(pkt, DropReason::NoForward);
        };
        let dest = self.fdb.lookup(domain, mac, cx.now);
        if let (Some(Dest::Vtep(_)), Some(v)) = (dest, cx.t.vtep.as_ref()) {
            // Into the overlay: what does not fit the tunnel is never fragmented; with DF set
            // the sender learns the tunnel's MTU (RFC 1191), otherwise it is dropped.
            let l3 = 14 + 4 * usize::from(ntags);
            let (ip_len, df) = match pkt.data().get(l3..).and_then(|b| Ipv4Packet::new_checked(b).ok()) {
                Some(ip) => (usize::from(ip.total_len()), ip.dont_frag()),
                None => (0, false),
            };
            let inner_mtu = usize::from(v.mtu) - (vxlan::OVERHEAD - 14);
            if ip_len + 14 > inner_mtu {
                if df {
                    cx.c.drop_n(DropReason::VxlanMtuExceeded, 1);
                    // The TTL was already decremented; undo it so the quoted header is the one sent.
                    if let Some(mut ip) = pkt.data_mut().get_mut(l3..).and_then(|b| Ipv4Packet::new_checked(b).ok()) {
                        let t = ip.ttl();
                        ip.set_ttl_update(t.saturating_add(1));
                    }
                    let rest = (inner_mtu - 14) as u32;
                    return self.icmp_error(
                        cx,
                        pkt,
                        ntags,
                        from.0,
                        from.1,
                        icmpv4::kind::DEST_UNREACHABLE,
                        icmpv4::unreach::FRAG_NEEDED,
                        rest,
                        out,
                    );
                }
                return out.drop(pkt, DropReason::VxlanMtuExceeded);
            }
        }
        {
            let d = pkt.data_mut();
            if d.len() < 12 {
                return out.drop(pkt, DropReason::Malformed);
            }
            d[0..6].copy_from_slice(&mac.0);
            d[6..12].copy_from_slice(&g.mac.0);
        }
        match dest {
            Some(Dest::Port(p)) => self.send(cx, p, domain, pkt, ntags, 0, out),
            Some(Dest::Vtep(ip)) => self.send_vtep(cx, domain, ip, pkt, ntags, out),
            None => self.flood(cx, domain, None, pkt, ntags, 0, out),
        }
    }

    /// Answers an ICMP echo request to a gateway address, in place, out of the ingress port.
    fn echo_reply<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        in_port: u16,
        domain: u16,
        h: &L2Info,
        mut pkt: B,
        out: &mut Emit<B>,
    ) {
        let l3 = h.l3_offset;
        let ok = {
            let d = pkt.data_mut();
            let (eth, rest) = d.split_at_mut(l3);
            match Ipv4Packet::new_checked(rest) {
                Ok(mut ip) => {
                    let hl = ip.header_len();
                    let tl = usize::from(ip.total_len());
                    let (src, dst) = (ip.src(), ip.dst());
                    let echo = Icmpv4Packet::new_checked(&ip.payload_mut()[..])
                        .map(|i| i.msg_type() == icmpv4::kind::ECHO_REQUEST && i.verify_checksum());
                    if echo == Ok(true) {
                        // Swapping source and destination leaves the header sum unchanged.
                        ip.set_src_update(dst);
                        ip.set_dst_update(src);
                        ip.set_ttl_update(64);
                        let b = ip.into_inner();
                        if let Ok(mut icmp) = Icmpv4Packet::new_checked(&mut b[hl..tl]) {
                            icmp.set_type_update(icmpv4::kind::ECHO_REPLY);
                        }
                        let mut m = [0u8; 6];
                        m.copy_from_slice(&eth[6..12]);
                        eth.copy_within(0..6, 6);
                        eth[0..6].copy_from_slice(&m);
                        true
                    } else {
                        false
                    }
                }
                Err(_) => false,
            }
        };
        if !ok {
            return out.drop(pkt, DropReason::LocalUnhandled);
        }
        cx.c.event(Event::EchoReplySent);
        let pcp = h.pcp();
        self.send(cx, in_port, domain, pkt, h.ntags, pcp, out);
    }

    /// Turns `pkt` into an ICMP error (RFC 792/1812: the original IP header and 8 bytes of
    /// its payload) from the ingress domain's gateway, sent back to the previous hop.
    /// No error is sent about an ICMP error, a non-first fragment, or a non-unicast source,
    /// nor past the per-second budget.
    #[allow(clippy::too_many_arguments)]
    fn icmp_error<A: BufAlloc<Buf = B>>(
        &mut self,
        cx: &Ctx<'_, A>,
        mut pkt: B,
        ntags: u8,
        in_port: u16,
        domain: u16,
        kind: u8,
        code: u8,
        rest: u32,
        out: &mut Emit<B>,
    ) {
        let Some(g) = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway) else { return drop(pkt) };
        let l3 = 14 + 4 * usize::from(ntags);
        // A packet NAT already translated is quoted as its sender sent it, and the error goes
        // to that sender's own address.
        self.untranslate(&mut pkt, l3);
        let (prev_hop, src, keep) = {
            let d = pkt.data();
            let Some(ip) = d.get(l3..).and_then(|b| Ipv4Packet::new_checked(b).ok()) else { return drop(pkt) };
            let src = ip.src();
            let first = src >> 24;
            if ip.frag_offset() != 0 || src == 0 || first >= 224 || src == g.prefix.broadcast() {
                return drop(pkt);
            }
            if ip.protocol() == ipv4::proto::ICMP {
                if let Ok(i) = Icmpv4Packet::new_checked(ip.payload()) {
                    if i.is_error() {
                        return drop(pkt);
                    }
                }
            }
            let mut m = [0u8; 6];
            m.copy_from_slice(&d[6..12]);
            (MacAddr(m), src, (ip.header_len() + 8).min(usize::from(ip.total_len())))
        };
        if !self.icmp_budget(cx) {
            cx.c.event(Event::IcmpRateLimited);
            return drop(pkt);
        }
        let len = pkt.len();
        if !pkt.trim(len - (l3 + keep)) || !pkt.adj(l3) {
            return drop(pkt);
        }
        let Some(hdr) = pkt.prepend(14 + ipv4::HEADER_LEN + icmpv4::HEADER_LEN) else { return drop(pkt) };
        hdr[0..6].copy_from_slice(&prev_hop.0);
        hdr[6..12].copy_from_slice(&g.mac.0);
        hdr[12..14].copy_from_slice(&EtherType::IPV4.to_be_bytes());
        let icmp_len = icmpv4::HEADER_LEN + keep;
        Ipv4Repr {
            src: g.ip,
            dst: src,
            protocol: ipv4::proto::ICMP,
            payload_len: icmp_len as u16,
            ttl: 64,
            dscp_ecn: 0xc0,
            ident: 0,
            dont_frag: false,
        }
        .emit(&mut hdr[14..34]);
        let d = pkt.data_mut();
        if let Ok(mut icmp) = Icmpv4Packet::new_checked(&mut d[34..34 + icmp_len]) {
            icmp.fill(kind, code, rest);
        }
        cx.c.event(Event::IcmpErrorSent);
        self.send(cx, in_port, domain, pkt, 0, 0, out);
    }

    fn icmp_budget<A: BufAlloc<Buf = B>>(&mut self, cx: &Ctx<'_, A>) -> bool {
        if cx.now >= self.icmp_refill_ms + 1000 {
            self.icmp_refill_ms = cx.now;
            self.icmp_tokens = cx.t.icmp_errors_per_s;
        }
        if self.icmp_tokens == 0 {
            return false;
        }
        self.icmp_tokens -= 1;
        true
    }

    fn send_arp_request<A: BufAlloc<Buf = B>>(&mut self, cx: &Ctx<'_, A>, domain: u16, ip: u32, out: &mut Emit<B>) {
        let Some(g) = cx.t.domains.get(usize::from(domain)).and_then(|d| d.gateway) else { return };
        let Some(pkt) = self.build_arp(
            cx,
            u16::MAX,
            domain,
            0,
            arp::OP_REQUEST,
            g.mac,
            g.ip,
            MacAddr::BROADCAST,
            MacAddr::default(),
            ip,
        ) else {
            return cx.c.drop_n(DropReason::NoMbuf, 1);
        };
        cx.c.event(Event::ArpRequestSent);
        self.flood(cx, domain, None, pkt, 0, 0, out);
    }

    /// A new untagged ARP frame (padded to the Ethernet minimum); tagged for `port` when
    /// `port` is a real port.
    #[allow(clippy::too_many_arguments)]
    fn build_arp<A: BufAlloc<Buf = B>>(
        &self,
        cx: &Ctx<'_, A>,
        port: u16,
        domain: u16,
        pcp: u8,
        op: u16,
        src_mac: MacAddr,
        src_ip: u32,
        eth_dst: MacAddr,
        tgt_mac: MacAddr,
        tgt_ip: u32,
    ) -> Option<B> {
        let mut b = cx.alloc.alloc()?;
        let d = b.append(MIN_FRAME)?;
        d.fill(0);
        d[0..6].copy_from_slice(&eth_dst.0);
        d[6..12].copy_from_slice(&src_mac.0);
        d[12..14].copy_from_slice(&EtherType::ARP.to_be_bytes());
        ArpRepr { operation: op, sender_mac: src_mac, sender_ip: src_ip, target_mac: tgt_mac, target_ip: tgt_ip }
            .emit(&mut d[14..14 + arp::PACKET_LEN]);
        if port != u16::MAX {
            let (tags, n) = cx.t.egress_tags(port, domain, pcp);
            if !retag(&mut b, 0, &tags[..n]) {
                return None;
            }
        }
        Some(b)
    }
}

/// The drop reason for a packet the neighbour table refused.
#[inline]
fn neigh_drop_reason(why: NeighDrop) -> DropReason {
    match why {
        NeighDrop::PendingFull => DropReason::ArpQueueFull,
        NeighDrop::Unreachable => DropReason::ArpFailed,
        NeighDrop::TableFull => DropReason::NeighborTableFull,
    }
}

/// A hash of an inner frame's flow (MACs, EtherType, and for IPv4 the addresses, protocol
/// and the first 4 bytes of the L4 header), for the outer UDP source port (RFC 7348 5).
/// Word-wise multiply-xorshift: a few cycles, well mixed in the low bits.
#[inline]
pub fn flow_hash(frame: &[u8]) -> u32 {
    #[inline(always)]
    fn w64(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 8).map(|s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])).unwrap_or(0)
    }
    #[inline(always)]
    fn w32(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 4).map(|s| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))).unwrap_or(0)
    }
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = w64(frame, 0) ^ w64(frame, 6).rotate_left(29) ^ (w32(frame, 10) << 7);
    if frame.get(12..14) == Some(&[0x08, 0x00]) {
        let hl = frame.get(14).map(|b| usize::from(b & 0x0f) * 4).unwrap_or(20);
        h = (h ^ w64(frame, 26)).wrapping_mul(K);
        h ^= (w32(frame, 14 + hl) << 8) ^ u64::from(frame.get(23).copied().unwrap_or(0));
    }
    h = h.wrapping_mul(K);
    (h ^ (h >> 29) ^ (h >> 47)) as u32
}

/// Rewrites the VLAN tags of a frame that carries `cur` tags so it carries `want` (outer
/// first), keeping the MACs and the EtherType; moves only the 12 MAC bytes. False (frame
/// unchanged) if there is no headroom or the frame is too short.
pub fn retag<B: PacketBuf>(pkt: &mut B, cur: u8, want: &[Tag]) -> bool {
    let (cur, nw) = (usize::from(cur), want.len());
    if pkt.len() < 14 + 4 * cur {
        return false;
    }
    if nw > cur {
        let d = 4 * (nw - cur);
        let Some(_) = pkt.prepend(d) else { return false };
        pkt.data_mut().copy_within(d..d + 12, 0);
    } else if nw < cur {
        let d = 4 * (cur - nw);
        pkt.data_mut().copy_within(0..12, d);
        if !pkt.adj(d) {
            return false;
        }
    }
    let data = pkt.data_mut();
    for (i, t) in want.iter().enumerate() {
        t.emit(&mut data[12 + 4 * i..16 + 4 * i]);
    }
    true
}

#[cfg(test)]
mod nat_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vxlan_tests;
