//! Carrying a worker's state from one compiled config to the next (hot reload).
//!
//! A reload compiles new [`Tables`]; each worker adopts them at a burst boundary and moves
//! its own state over: FDB entries, neighbours, connections and NAT mappings, and its
//! counters. Objects are matched by identity, not position: ports by name, bridge domains
//! by name, VTEPs by address, NAT mappings by their external address and port. What still
//! exists keeps its state; what is gone takes its state with it.
//!
//! When the layout is the same (same ports and domains in the same order, same table
//! sizes), the tables are kept in place and only the differences are applied, so a reload
//! that changes a route or a firewall rule costs the worker microseconds.

use super::{CtState, State, Tables, UNDERLAY_IFX};
use crate::buf::PacketBuf;
use crate::eventlog::{Binding, EventLog};
use crate::l2::fdb::{Dest, Fdb};
use crate::l3::neigh::{NeighState, NeighTable};
use crate::nat::{Mappings, NatData, SecTables};
use crate::wire::ethernet::MacAddr;

/// How the objects of one snapshot map onto the next: `x[old] = Some(new)` or None when
/// gone. Built once per reload, off the fast path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remap {
    /// Ports, by name.
    pub ports: Vec<Option<u16>>,
    /// Bridge domains, by name.
    pub domains: Vec<Option<u16>>,
    /// Remote VTEPs (index into `remote_vteps`), by address.
    pub vteps: Vec<Option<u16>>,
}

fn by<T: PartialEq>(old: &[T], new: &[T]) -> Vec<Option<u16>> {
    old.iter().map(|o| new.iter().position(|n| n == o).map(|i| i as u16)).collect()
}

fn identity(m: &[Option<u16>], new_len: usize) -> bool {
    m.len() == new_len && m.iter().enumerate().all(|(i, x)| *x == Some(i as u16))
}

impl Remap {
    /// The mapping from `old` to `new`.
    pub fn between(old: &Tables, new: &Tables) -> Remap {
        let dn = |t: &Tables| t.domains.iter().map(|d| d.name.clone()).collect::<Vec<_>>();
        Remap {
            ports: by(&old.port_names, &new.port_names),
            domains: by(&dn(old), &dn(new)),
            vteps: by(&old.remote_vteps, &new.remote_vteps),
        }
    }

    fn port(&self, p: u16) -> Option<u16> {
        self.ports.get(usize::from(p)).copied().flatten()
    }

    fn domain(&self, d: u16) -> Option<u16> {
        if d == UNDERLAY_IFX {
            return Some(UNDERLAY_IFX);
        }
        self.domains.get(usize::from(d)).copied().flatten()
    }
}

/// What adopting a snapshot kept and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adopted {
    /// The FDB and neighbour tables were kept in place (same layout).
    pub in_place: bool,
    /// Learned FDB entries carried over.
    pub fdb_kept: u32,
    /// Learned FDB entries dropped (their port, domain or VTEP is gone or moved).
    pub fdb_dropped: u32,
    /// Connections carried over.
    pub ct_kept: u32,
    /// Connections dropped (NAT address no longer in a pool, or tracking turned off).
    pub ct_dropped: u32,
}

/// A learned entry survives when its domain still exists and its destination is still in
/// that domain: a member port, or a VTEP of the domain's VNI.
fn dest_in(new: &Tables, d: u16, dest: Dest, r: &Remap) -> Option<Dest> {
    let dom = new.domains.get(usize::from(d))?;
    match dest {
        Dest::Port(p) => {
            let p = r.port(p)?;
            dom.members.contains(&p).then_some(Dest::Port(p))
        }
        Dest::Vtep(ip) => (dom.vni.is_some() && new.remote_vteps.contains(&ip)).then_some(Dest::Vtep(ip)),
    }
}

fn statics(t: &Tables) -> Vec<(u16, MacAddr, Dest)> {
    t.static_macs
        .iter()
        .map(|&(d, m, p)| (d, m, Dest::Port(p)))
        .chain(t.remote_macs.iter().map(|&(d, m, ip)| (d, m, Dest::Vtep(ip))))
        .collect()
}

fn static_neighbors(t: &Tables) -> Vec<(u16, u32, MacAddr)> {
    let mut v = t.static_neighbors.clone();
    if let Some(vt) = &t.vtep {
        v.extend(vt.neighbors.iter().map(|&(ip, mac)| (UNDERLAY_IFX, ip, mac)));
    }
    v
}

impl<B: PacketBuf> State<B> {
    /// Moves this worker's state from `old` to `new` (see the module documentation).
    /// Packets waiting for ARP in a domain that is gone are failed like an unanswered ARP.
    pub fn adopt(&mut self, old: &Tables, new: &Tables, r: &Remap, now_ms: u64) -> Adopted {
        let mut out = Adopted::default();
        let same_ports = identity(&r.ports, new.port_names.len());
        let same_domains = identity(&r.domains, new.domains.len());
        let members_same = old.domains.iter().zip(&new.domains).all(|(a, b)| a.members == b.members && a.vni == b.vni);
        out.in_place = same_ports
            && same_domains
            && members_same
            && old.remote_vteps == new.remote_vteps
            && old.fdb_size == new.fdb_size
            && old.neighbor_size == new.neighbor_size
            && old.neigh == new.neigh;
        if out.in_place {
            for (d, m, _) in statics(old) {
                self.fdb.remove(d, m);
            }
            for (d, ip, _) in static_neighbors(old) {
                self.neigh.remove(d, ip, &mut self.failed);
            }
            out.fdb_kept = self.fdb.len() as u32;
        } else {
            let mut fdb = Fdb::new(new.fdb_size, new.domains.len().max(1) as u16, new.aging_ms);
            for e in self.fdb.iter().filter(|e| !e.is_static) {
                match r.domain(e.domain).and_then(|d| Some((d, dest_in(new, d, e.dest, r)?))) {
                    Some((d, dest)) => {
                        fdb.learn(d, e.mac, dest, e.last_seen_ms);
                        out.fdb_kept += 1;
                    }
                    None => out.fdb_dropped += 1,
                }
            }
            self.fdb = fdb;
            let mut neigh = NeighTable::new(new.neighbor_size, new.neigh);
            let mut released = Vec::new();
            for e in self.neigh.iter() {
                match (e.state, e.mac, r.domain(e.ifx)) {
                    (NeighState::Reachable, Some(mac), Some(d)) => {
                        neigh.learn(d, e.ip, mac, now_ms, true, &mut released);
                    }
                    // Not confirmed lately: carried STALE, used and probed on first use.
                    (NeighState::Stale | NeighState::Delay | NeighState::Probe, Some(mac), Some(d)) => {
                        neigh.add_stale(d, e.ip, mac, now_ms);
                    }
                    _ => {}
                }
            }
            // Pending packets: their next hop may be elsewhere now; fail them like a lost ARP.
            let old_neigh = std::mem::replace(&mut self.neigh, neigh);
            let mut old_neigh = old_neigh;
            old_neigh.flush(None, &mut self.failed);
            drop(released);
        }
        self.fdb.set_aging_ms(new.aging_ms);
        for (i, d) in new.domains.iter().enumerate() {
            self.fdb.set_domain_limit(i as u16, d.mac_limit);
        }
        if out.in_place {
            // Same layout: drop learned entries whose port left the domain or VTEP is gone.
            for (i, d) in old.domains.iter().enumerate() {
                for p in &d.members {
                    if !new.domains[i].members.contains(p) {
                        out.fdb_dropped += self.fdb.flush(Some(i as u16), Some(Dest::Port(*p))) as u32;
                    }
                }
            }
        }
        for (d, m, dest) in statics(new) {
            let _ = self.fdb.add_static(d, m, dest);
        }
        for (d, ip, mac) in static_neighbors(new) {
            self.neigh.add_static(d, ip, mac);
        }
        self.adopt_ct(old.sec.as_deref(), new.sec.as_deref(), now_ms, &mut out);
        self.adopt_fw_hits(old.sec.as_deref(), new.sec.as_deref());
        if old.ct_fragments != new.ct_fragments {
            // What waited is dropped by the next timer run (`ct-frag-timeout`).
            self.frags.clear(&mut self.frag_out);
            self.frags = crate::l3::fragtrack::FragTrack::new(new.ct_fragments.0, new.ct_fragments.1);
        }
        if old.reass != new.reass {
            self.reass = crate::l3::reass::Reassembly::new(new.reass);
            self.expired = Vec::with_capacity(new.reass.contexts);
        }
        self.forget_next_hops();
        self.learn_cache = None;
        self.lookup_cache = None;
        self.fdb_gen += 1;
        out.fdb_kept = out.fdb_kept.saturating_sub(out.fdb_dropped * u32::from(out.in_place));
        out
    }

    /// Forgets the lookup caches after the FDB was changed from outside (a control flush).
    pub fn flushed_fdb(&mut self) {
        self.learn_cache = None;
        self.lookup_cache = None;
        self.fdb_gen += 1;
    }

    /// The firewall hit counters for `new`: a rule unchanged at its place keeps its count,
    /// and the zone pairs and forwards keep theirs when the zones are the same.
    fn adopt_fw_hits(&mut self, old: Option<&SecTables>, new: Option<&SecTables>) {
        let mut hits = vec![0u64; new.map_or(0, |s| s.fw_slots())];
        if let (Some(o), Some(n)) = (old, new) {
            if let (Some(of), Some(nf)) = (&o.fw, &n.fw) {
                for (i, r) in nf.list.iter().enumerate() {
                    if of.list.get(i) == Some(r) {
                        hits[i] = self.fw_hits.get(i).copied().unwrap_or(0);
                    }
                }
                if o.zones == n.zones {
                    // The zone pairs' and the forwards' counters, after the rules.
                    let (from, to) = (o.fw_policy_slot(0, 0), n.fw_policy_slot(0, 0));
                    for k in 0..=n.fw_forward_slot() - to {
                        hits[to + k] = self.fw_hits.get(from + k).copied().unwrap_or(0);
                    }
                }
            }
        }
        self.fw_hits = hits;
    }

    /// Logs the end of every mapping (and address-only binding) of connection state that a
    /// reload throws away.
    fn log_dropped(log: &mut EventLog, st: &CtState, now_ms: u64) {
        if !log.mappings() {
            return;
        }
        for m in st.maps.iter() {
            log.mapping(false, now_ms, &m.binding(), (0, 0));
        }
        for (_, c) in st.table.iter() {
            if c.data.address_only() {
                log.mapping(false, now_ms, &Binding::address_only(c.orig.proto, c.orig.src, c.reply.dst), (0, 0));
            }
        }
    }

    fn adopt_ct(&mut self, old: Option<&SecTables>, new: Option<&SecTables>, now_ms: u64, out: &mut Adopted) {
        let (Some(old), Some(new)) = (old, new) else {
            if let Some(st) = self.ct.take() {
                out.ct_dropped = st.table.len();
                Self::log_dropped(&mut self.log, &st, now_ms);
            }
            if let Some(n) = new {
                self.ct = Some(Box::new(CtState::new(n, self.worker)));
            }
            return;
        };
        let Some(st) = self.ct.as_mut() else {
            self.ct = Some(Box::new(CtState::new(new, self.worker)));
            return;
        };
        if st.table.capacity() != new.capacity {
            out.ct_dropped = st.table.len();
            Self::log_dropped(&mut self.log, st, now_ms);
            self.ct = Some(Box::new(CtState::new(new, self.worker)));
            return;
        }
        st.table.set_timeouts(new.timeouts);
        let same_pools = old.pool_addrs == new.pool_addrs
            && old.workers == new.workers
            && old.snat.iter().map(|r| (r.ports, &r.addrs)).eq(new.snat.iter().map(|r| (r.ports, &r.addrs)))
            && old.pool_index == new.pool_index
            && old.forwards.keys().collect::<std::collections::BTreeSet<_>>() == new.forwards.keys().collect();
        if same_pools {
            out.ct_kept = st.table.len();
            return;
        }
        // Pools changed: rebuild the mappings; a connection keeps its translation when its
        // external address and port are still valid in the new pools, else it is dropped.
        let mut maps = Mappings::new(new, self.worker, new.capacity);
        let mut gone = Vec::new();
        let ids: Vec<u32> = st.table.iter().map(|(id, _)| id).collect();
        for id in ids {
            let m = st.table.get(id).data.map;
            if m == NatData::NO_MAP {
                continue;
            }
            match maps.restore(new, st.maps.get(m)) {
                Some(i) => st.table.get_mut(id).data.map = i,
                None => gone.push(id),
            }
        }
        for id in &gone {
            st.table.remove(*id);
        }
        if self.log.mappings() {
            for m in st.maps.iter() {
                let kept = maps.find_ext(m.proto, m.ext_addr, m.ext_port).map(|i| maps.get(i));
                if kept.is_none_or(|k| (k.int_addr, k.int_port) != (m.int_addr, m.int_port)) {
                    self.log.mapping(false, now_ms, &m.binding(), (0, 0));
                }
            }
        }
        st.maps = maps;
        st.recount(new);
        out.ct_dropped = gone.len() as u32;
        out.ct_kept = st.table.len();
    }
}
