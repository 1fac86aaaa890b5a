//! The pipeline's compiled, immutable tables: port roles, VLAN -> domain, domains with their
//! members and gateways, the route table. Built from a validated [`Config`] off the fast
//! path; workers only read them.

use crate::config::{Config, ConfigError, Ipv4Prefix, PortMode, Urpf, Valid};
use crate::l3::lpm::Lpm;
use crate::wire::vlan::Tag;
use crate::wire::MacAddr;

/// No domain.
pub const NO_DOMAIN: u16 = u16::MAX;

/// The MTU of a port with none configured until the device reports its own: what DPDK
/// configures an Ethernet device with (`RTE_ETHER_MTU`).
pub const DEFAULT_MTU: u16 = 1500;

/// Fragments one packet may become (more are counted as `emit-overflow`): what a frame
/// reserves per received packet when some domain's MTU is small enough to need them.
pub const MAX_FRAGMENTS: usize = 16;

/// A set of VLAN ids 0..4096.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VlanSet(Box<[u64; 64]>);

impl VlanSet {
    /// The empty set.
    pub fn new() -> Self {
        VlanSet(Box::new([0; 64]))
    }
    /// Adds `v`.
    pub fn insert(&mut self, v: u16) {
        let v = usize::from(v & 0x0fff);
        self.0[v / 64] |= 1 << (v % 64);
    }
    /// True if `v` is in the set.
    #[inline]
    pub fn contains(&self, v: u16) -> bool {
        let v = usize::from(v & 0x0fff);
        self.0[v / 64] & (1 << (v % 64)) != 0
    }
}

impl Default for VlanSet {
    fn default() -> Self {
        Self::new()
    }
}

/// A port's bridging role, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not a bridge port (cross-connected or unused).
    Unbridged,
    /// The VXLAN underlay port of the local VTEP.
    Underlay,
    /// Untagged member of one domain.
    Access {
        /// The domain.
        domain: u16,
    },
    /// Tagged member of the domains whose VLANs it allows.
    Trunk {
        /// QinQ: the S-tag VLAN the C-tagged frames travel in.
        outer: Option<u16>,
        /// Domain of untagged frames.
        native: Option<u16>,
        /// Allowed C-tag VLANs (that have a domain).
        allowed: VlanSet,
    },
}

/// A domain's gateway (IRB) interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gateway {
    /// Address (host order).
    pub ip: u32,
    /// Subnet.
    pub prefix: Ipv4Prefix,
    /// MAC.
    pub mac: MacAddr,
    /// MAC as a u64 (see [`MacAddr::to_u64`]).
    pub mac64: u64,
    /// The subnet's network address (checked per routed packet: computed once here).
    pub network: u32,
    /// The subnet's broadcast address.
    pub broadcast: u32,
}

impl Gateway {
    /// The interface with address `prefix.addr` on `prefix`, with `mac`.
    pub fn new(prefix: Ipv4Prefix, mac: MacAddr) -> Gateway {
        Gateway {
            ip: prefix.addr,
            prefix,
            mac,
            mac64: mac.to_u64(),
            network: prefix.network(),
            broadcast: prefix.broadcast(),
        }
    }
}

/// A bridge domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Name.
    pub name: String,
    /// VLAN id.
    pub vlan: u16,
    /// Member port indexes.
    pub members: Vec<u16>,
    /// Gateway, if routed.
    pub gateway: Option<Gateway>,
    /// Learned-MAC limit (0: none).
    pub mac_limit: u32,
    /// VXLAN network identifier, if the domain stretches over the underlay.
    pub vni: Option<u32>,
    /// Its remote VTEPs (the head-end replication list).
    pub remotes: Vec<u32>,
    /// Accept tagged inner frames from the overlay (tags carried as payload).
    pub inner_tagged: bool,
    /// The domain's IP MTU, what a packet routed into it must fit: the smallest MTU of its
    /// member ports and, with a VNI, of the tunnel (as a Linux bridge takes the smallest of
    /// its ports').
    pub mtu: u16,
    /// Reverse-path check of routed sources arriving in the domain (RFC 3704).
    pub urpf: Option<Urpf>,
}

/// The local VXLAN tunnel endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtepTable {
    /// Underlay port index.
    pub port: u16,
    /// Local address.
    pub ip: u32,
    /// Underlay subnet.
    pub prefix: Ipv4Prefix,
    /// Underlay next hop for remote VTEPs outside the subnet.
    pub gateway: Option<u32>,
    /// Local MAC.
    pub mac: MacAddr,
    /// Local MAC as u64.
    pub mac64: u64,
    /// UDP port.
    pub udp_port: u16,
    /// Only accept tunnels from configured remotes.
    pub check_source: bool,
    /// Underlay IP MTU.
    pub mtu: u16,
    /// The outer headers of this VTEP's encapsulated frames, laid once.
    pub outer: crate::wire::vxlan::Outer,
    /// (vni, domain), sorted by VNI.
    pub vni_domain: Vec<(u32, u16)>,
    /// Static underlay neighbours (ip, mac).
    pub neighbors: Vec<(u32, MacAddr)>,
}

impl VtepTable {
    /// The domain of `vni`.
    #[inline]
    pub fn domain_of(&self, vni: u32) -> Option<u16> {
        self.vni_domain.binary_search_by_key(&vni, |&(v, _)| v).ok().map(|i| self.vni_domain[i].1)
    }
    /// The underlay next hop toward remote VTEP `ip`.
    #[inline]
    pub fn next_hop(&self, ip: u32) -> u32 {
        if self.prefix.contains(ip) {
            ip
        } else {
            self.gateway.unwrap_or(ip)
        }
    }
}

/// The neighbour-table interface id used for the underlay.
pub const UNDERLAY_IFX: u16 = u16::MAX - 1;

/// Where a route leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    /// Egress domain.
    pub domain: u16,
    /// Gateway to send to; None for a connected subnet (send to the destination itself).
    pub via: Option<u32>,
}

/// Everything the nodes read per packet.
#[derive(Clone, Debug)]
pub struct Tables {
    /// Role per port index.
    pub roles: Vec<Role>,
    /// Domain per VLAN id (NO_DOMAIN: none).
    pub vlan_domain: Box<[u16]>,
    /// Domains in config order.
    pub domains: Vec<Domain>,
    /// Routes -> index into `next_hops`.
    pub lpm: Lpm,
    /// Next hops.
    pub next_hops: Vec<NextHop>,
    /// The gateway addresses and their domains, looked up per routed packet.
    pub local_ips: LocalIps,
    /// Static FDB entries (domain, mac, port).
    pub static_macs: Vec<(u16, MacAddr, u16)>,
    /// Static neighbours (domain, ip, mac).
    pub static_neighbors: Vec<(u16, u32, MacAddr)>,
    /// The local VTEP, if any.
    pub vtep: Option<VtepTable>,
    /// Static inner MAC -> remote VTEP entries (domain, mac, vtep ip).
    pub remote_macs: Vec<(u16, MacAddr, u32)>,
    /// Every configured remote VTEP, sorted: the index of per-VTEP counters.
    pub remote_vteps: Vec<u32>,
    /// Aging time of learned MACs in ms.
    pub aging_ms: u64,
    /// FDB capacity per worker.
    pub fdb_size: usize,
    /// Neighbour table capacity per worker.
    pub neighbor_size: usize,
    /// Neighbour timers.
    pub neigh: crate::l3::neigh::NeighConfig,
    /// ICMP errors per second per worker.
    pub icmp_errors_per_s: u32,
    /// Reassembly of datagrams to own addresses.
    pub reass: crate::l3::reass::ReassConfig,
    /// Fragmented datagrams a worker follows on the stateful path, and for how long (ms).
    pub ct_fragments: (usize, u64),
    /// Per port: true if it is a bridge port.
    pub bridged: Vec<bool>,
    /// Per port: its cross-connect peer (`[[xconnect]]`), if any.
    pub peer: Vec<Option<u16>>,
    /// Connection tracking, NAT and firewall, when configured.
    pub sec: Option<std::sync::Arc<crate::nat::SecTables>>,
    /// Port names, by port index (what a reload matches ports by).
    pub port_names: Vec<String>,
    /// Per port: its IP MTU (configured, else the device's: see [`Tables::set_device_mtu`]).
    pub port_mtu: Vec<u16>,
    /// Per port: true when the MTU was configured (a device MTU does not override it).
    mtu_configured: Vec<bool>,
    /// Number of workers (each has its own neighbour table; ARP is shared among them).
    pub workers: u16,
}

/// The default gateway MAC of VLAN `vlan` on an appliance whose base MAC is `base`: `base`
/// made a locally administered unicast address, with the VLAN id XORed into its last 12
/// bits. Bridges of one appliance get distinct MACs, none equal to `base` itself, and
/// appliances whose base MACs differ in more than that bit get distinct gateway MACs for
/// the same VLAN.
pub fn derived_gateway_mac(base: MacAddr, vlan: u16) -> MacAddr {
    let mut m = base.0;
    m[0] = (m[0] | 0x02) & !0x01;
    m[4] ^= ((vlan >> 8) & 0x0f) as u8;
    m[5] ^= vlan as u8;
    MacAddr(m)
}

impl Tables {
    /// Compiles a validated config.
    pub fn compile(cfg: &Valid<Config>) -> Result<Tables, ConfigError> {
        let mut vlan_domain = vec![NO_DOMAIN; 4096].into_boxed_slice();
        let mut domains = Vec::with_capacity(cfg.bridges.len());
        for (i, b) in cfg.bridges.iter().enumerate() {
            vlan_domain[usize::from(b.vlan)] = i as u16;
            domains.push(Domain {
                name: b.name.clone(),
                vlan: b.vlan,
                members: cfg.bridge_members(i).into_iter().map(|p| p as u16).collect(),
                gateway: b.gateway.map(|g| Gateway::new(g, b.gateway_mac())),
                mac_limit: b.mac_limit,
                vni: b.vni,
                remotes: b.remote_vteps.iter().map(|&r| u32::from(r)).collect(),
                inner_tagged: b.vxlan_inner_tagged,
                mtu: DEFAULT_MTU,
                urpf: b.urpf,
            });
        }
        let roles: Vec<Role> = cfg
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| match p.mode {
                None if cfg.vtep.as_ref().map(|v| v.underlay == p.name).unwrap_or(false) => Role::Underlay,
                None => Role::Unbridged,
                Some(PortMode::Access) => {
                    Role::Access { domain: p.vlan.map(|v| vlan_domain[usize::from(v)]).unwrap_or(NO_DOMAIN) }
                }
                Some(PortMode::Trunk) => {
                    let mut allowed = VlanSet::new();
                    for b in &cfg.bridges {
                        if cfg.trunk_allows(i, b.vlan) {
                            allowed.insert(b.vlan);
                        }
                    }
                    Role::Trunk {
                        outer: p.outer_vlan,
                        native: p.native_vlan.map(|v| vlan_domain[usize::from(v)]),
                        allowed,
                    }
                }
            })
            .collect();
        let mut routes = vec![];
        let mut next_hops = vec![];
        let mut local_ips = vec![];
        for (i, d) in domains.iter().enumerate() {
            if let Some(g) = d.gateway {
                routes.push((g.prefix.network(), g.prefix.len, next_hops.len() as u32));
                next_hops.push(NextHop { domain: i as u16, via: None });
                local_ips.push((g.ip, i as u16));
            }
        }
        let local_ips = LocalIps::new(local_ips);
        for (i, r) in cfg.routes.iter().enumerate() {
            let via = u32::from(r.via);
            let domain = domains
                .iter()
                .position(|d| d.gateway.map(|g| g.prefix.contains(via)).unwrap_or(false))
                .ok_or_else(|| ConfigError {
                    file: None,
                    line: None,
                    key: format!("route[{i}].via"),
                    reason: "not inside any gateway subnet".into(),
                })?;
            if routes.iter().any(|&(a, l, _)| a == r.prefix.addr && l == r.prefix.len) {
                return Err(ConfigError {
                    file: None,
                    line: None,
                    key: format!("route[{i}].prefix"),
                    reason: format!("{} is a bridge's connected subnet", r.prefix),
                });
            }
            routes.push((r.prefix.addr, r.prefix.len, next_hops.len() as u32));
            next_hops.push(NextHop { domain: domain as u16, via: Some(via) });
        }
        let lpm = Lpm::build(&routes).map_err(|e| ConfigError {
            file: None,
            line: None,
            key: "route".into(),
            reason: e.to_string(),
        })?;
        let mut static_macs = vec![];
        let mut remote_macs = vec![];
        for (i, b) in cfg.bridges.iter().enumerate() {
            for s in &b.static_mac {
                if let Some(p) = cfg.port_index(&s.port) {
                    static_macs.push((i as u16, s.mac, p as u16));
                }
            }
        }
        for (i, b) in cfg.bridges.iter().enumerate() {
            for m in &b.remote_mac {
                remote_macs.push((i as u16, m.mac, u32::from(m.vtep)));
            }
        }
        let vtep = cfg.vtep.as_ref().and_then(|v| {
            let port = cfg.port_index(&v.underlay)? as u16;
            let mut vni_domain: Vec<(u32, u16)> =
                cfg.bridges.iter().enumerate().filter_map(|(i, b)| b.vni.map(|n| (n, i as u16))).collect();
            vni_domain.sort_unstable();
            Some(VtepTable {
                port,
                ip: v.address.addr,
                prefix: v.address,
                gateway: v.gateway.map(u32::from),
                mac: v.mac(),
                mac64: v.mac().to_u64(),
                udp_port: v.udp_port,
                outer: crate::wire::vxlan::Outer::new(v.mac(), v.address.addr, v.udp_port, 64),
                check_source: v.check_source,
                mtu: v.mtu,
                vni_domain,
                neighbors: v.neighbor.iter().map(|n| (u32::from(n.ip), n.mac)).collect(),
            })
        });
        let static_neighbors = cfg
            .bridges
            .iter()
            .enumerate()
            .flat_map(|(i, b)| b.neighbor.iter().map(move |n| (i as u16, u32::from(n.ip), n.mac)))
            .collect();
        let r = &cfg.routing;
        let mut remote_vteps: Vec<u32> =
            cfg.bridges.iter().flat_map(|b| b.remote_vteps.iter().map(|&r| u32::from(r))).collect();
        remote_vteps.sort_unstable();
        remote_vteps.dedup();
        let mut t = Tables {
            static_neighbors,
            vtep,
            remote_macs,
            remote_vteps,
            bridged: roles.iter().map(|r| *r != Role::Unbridged).collect(),
            peer: cfg.xconnect_table().into_iter().map(|p| p.map(|i| i as u16)).collect(),
            roles,
            vlan_domain,
            domains,
            lpm,
            next_hops,
            local_ips,
            static_macs,
            aging_ms: u64::from(cfg.bridging.aging_s) * 1000,
            fdb_size: cfg.bridging.fdb_size as usize,
            neighbor_size: r.neighbor_size as usize,
            neigh: crate::l3::neigh::NeighConfig {
                reachable_ms: u64::from(r.arp_reachable_s) * 1000,
                retry_ms: u64::from(r.arp_retry_ms),
                max_retries: r.arp_retries,
                delay_ms: u64::from(r.arp_delay_ms),
                probes: r.arp_probes,
                failed_hold_ms: 3000,
                max_pending: usize::from(r.arp_queue),
                ..crate::l3::neigh::NeighConfig::default()
            },
            icmp_errors_per_s: r.icmp_errors_per_s,
            ct_fragments: (cfg.conntrack.fragments as usize, u64::from(cfg.conntrack.fragment_timeout) * 1000),
            reass: crate::l3::reass::ReassConfig {
                contexts: usize::from(r.reassembly_contexts),
                timeout_ms: u64::from(r.reassembly_timeout_s) * 1000,
            },
            sec: crate::nat::SecTables::compile(cfg)?.map(std::sync::Arc::new),
            port_names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            port_mtu: cfg.ports.iter().map(|p| p.mtu.unwrap_or(DEFAULT_MTU)).collect(),
            mtu_configured: cfg.ports.iter().map(|p| p.mtu.is_some()).collect(),
            workers: cfg.dataplane.workers.len() as u16,
        };
        t.domain_mtus();
        Ok(t)
    }

    /// The device of port `p` reports MTU `mtu`: it applies where the config sets none.
    pub fn set_device_mtu(&mut self, p: usize, mtu: u16) {
        if self.mtu_configured.get(p) == Some(&false) {
            self.port_mtu[p] = mtu;
            self.domain_mtus();
        }
    }

    /// Each domain's MTU from its members' (and its tunnel's).
    fn domain_mtus(&mut self) {
        // The inner frame's IP room in a tunnel: the underlay MTU less the outer IPv4, UDP,
        // VXLAN and inner Ethernet headers.
        let tunnel = self.vtep.as_ref().map(|v| v.mtu.saturating_sub(crate::wire::vxlan::OVERHEAD as u16));
        for d in &mut self.domains {
            let ports = d.members.iter().filter_map(|&p| self.port_mtu.get(usize::from(p)).copied());
            let tun = if d.vni.is_some() { tunnel } else { None };
            d.mtu = ports.chain(tun).min().unwrap_or(DEFAULT_MTU);
        }
    }

    /// Fragments the largest packet a port may receive becomes when it is routed into the
    /// domain with the smallest MTU, at most [`MAX_FRAGMENTS`].
    pub fn max_fragments(&self) -> usize {
        let biggest = self.port_mtu.iter().copied().max().unwrap_or(DEFAULT_MTU);
        let smallest = self.domains.iter().map(|d| d.mtu).min().unwrap_or(DEFAULT_MTU);
        // Each fragment carries at least (mtu - 60) & !7 bytes of payload (a full-size
        // header with options).
        let per = usize::from(smallest.saturating_sub(60)) & !7;
        if per == 0 {
            return MAX_FRAGMENTS;
        }
        usize::from(biggest).div_ceil(per).clamp(1, MAX_FRAGMENTS)
    }

    /// Gives the VTEP and the bridge gateways that have no configured MAC a default unique to
    /// this appliance, from its ports' own MACs (`port_macs`, by port index; a zero or group
    /// address counts as none):
    ///
    /// * the VTEP takes its underlay port's MAC;
    /// * a gateway takes [`derived_gateway_mac`] of the lowest MAC among its bridge's member
    ///   ports (as a Linux bridge takes its lowest port MAC), or among all ports when no
    ///   member has one.
    ///
    /// The same ports give the same MACs on every compile, so reloads and restarts keep
    /// them. Where no port MAC is usable the fixed defaults of the config stay
    /// ([`crate::config::Vtep::mac`], [`crate::config::Bridge::gateway_mac`]); a configured
    /// `mac` / `gateway_mac` always wins.
    pub fn use_port_macs(&mut self, cfg: &Config, port_macs: &[MacAddr]) {
        let usable = |i: usize| port_macs.get(i).copied().filter(|m| !m.is_zero() && !m.is_multicast());
        if let (Some(v), Some(vc)) = (self.vtep.as_mut(), cfg.vtep.as_ref()) {
            if let (None, Some(m)) = (vc.mac, usable(usize::from(v.port))) {
                v.mac = m;
                v.mac64 = m.to_u64();
            }
        }
        let lowest = |it: &mut dyn Iterator<Item = usize>| it.filter_map(usable).min_by_key(|m| m.to_u64());
        let any = lowest(&mut (0..port_macs.len()));
        for (d, b) in self.domains.iter_mut().zip(&cfg.bridges) {
            let (Some(g), None) = (d.gateway.as_mut(), b.gateway_mac) else { continue };
            if let Some(base) = lowest(&mut d.members.iter().map(|&p| usize::from(p))).or(any) {
                g.mac = derived_gateway_mac(base, b.vlan);
                g.mac64 = g.mac.to_u64();
            }
        }
    }

    /// True if any port is a bridge port (the worker then runs the bridging nodes and timers).
    pub fn any_bridged(&self) -> bool {
        self.bridged.iter().any(|&b| b)
    }

    /// The tags a frame of domain `d` carries when it leaves port `p`, outer first, keeping
    /// priority and drop eligibility `prio` (PCP << 1 | DEI); the count is returned with
    /// them.
    #[inline]
    pub fn egress_tags(&self, p: u16, d: u16, prio: u8) -> ([Tag; 2], usize) {
        let (pcp, dei) = (prio >> 1 & 7, prio & 1 != 0);
        let none = [Tag::default(); 2];
        let vlan = match self.domains.get(usize::from(d)) {
            Some(dom) => dom.vlan,
            None => return (none, 0),
        };
        match self.roles.get(usize::from(p)) {
            Some(Role::Trunk { outer, native, .. }) => {
                if *native == Some(d) {
                    return (none, 0);
                }
                let c = Tag { pcp, dei, ..Tag::c(vlan) };
                match outer {
                    Some(s) => ([Tag { pcp, dei, ..Tag::s(*s) }, c], 2),
                    None => ([c, Tag::default()], 1),
                }
            }
            _ => (none, 0),
        }
    }

    /// Index of remote VTEP `ip` in [`Tables::remote_vteps`].
    #[inline]
    pub fn vtep_index(&self, ip: u32) -> Option<usize> {
        self.remote_vteps.binary_search(&ip).ok()
    }

    /// True if ARP for `ip` in the subnet of gateway `g` is answered with the gateway MAC
    /// besides the gateway address itself.
    pub fn answers_arp(&self, g: &Gateway, ip: u32) -> bool {
        // NAT pool addresses in the gateway's subnet are the appliance's too (proxy ARP).
        g.prefix.contains(ip) && self.sec.as_ref().is_some_and(|s| s.is_pool(ip))
    }

    /// The domain whose gateway owns `ip`, if `ip` is a gateway address.
    #[inline]
    pub fn local_domain(&self, ip: u32) -> Option<u16> {
        self.local_ips.get(ip)
    }

    /// The appliance's own interface the packet `m` describes was sent to, as what answers
    /// come from: the local VTEP for a packet on the underlay port (not an inner frame from
    /// the overlay), else the gateway of the packet's domain.
    pub fn gateway_for(&self, m: &crate::packet::PacketMeta) -> Option<Gateway> {
        let (domain, in_port) = (m.domain, m.in_port);
        if m.has(crate::packet::flag::OVERLAY) {
            return self.domains.get(usize::from(domain)).and_then(|d| d.gateway);
        }
        match (self.roles.get(usize::from(in_port)), self.vtep.as_ref()) {
            (Some(Role::Underlay), Some(v)) => Some(Gateway { ip: v.ip, ..Gateway::new(v.prefix, v.mac) }),
            (Some(Role::Underlay), None) => None,
            _ => self.domains.get(usize::from(domain)).and_then(|d| d.gateway),
        }
    }
}

/// The appliance's own addresses (gateway address -> domain). Nearly every routed packet is
/// to some other address, so a 256-bit filter answers "not local" with one load; only an
/// address whose bit is set pays the binary search over the sorted list (a scan was linear
/// in the number of gateways, the search alone ~8 cycles per packet at two gateways).
/// A sender choosing destinations that share a local address's bit gets the search, never a
/// wrong answer.
#[derive(Clone, Debug, Default)]
pub struct LocalIps {
    sorted: Vec<(u32, u16)>,
    filter: [u64; 4],
}

impl LocalIps {
    /// From (address, domain) pairs in config order; an address listed twice belongs to the
    /// first (lowest) domain, as a scan in config order would find.
    pub fn new(mut v: Vec<(u32, u16)>) -> Self {
        v.sort_unstable();
        let mut filter = [0u64; 4];
        for &(a, _) in &v {
            let b = Self::bit(a);
            filter[b >> 6] |= 1 << (b & 63);
        }
        LocalIps { sorted: v, filter }
    }

    #[inline(always)]
    fn bit(ip: u32) -> usize {
        // Multiplicative mixing: gateways and hosts of one subnet differ in the low bits,
        // which plain truncation would compare alone.
        (ip.wrapping_mul(0x9e37_79b1) >> 24) as usize
    }

    /// The domain whose gateway address is `ip`.
    #[inline(always)]
    pub fn get(&self, ip: u32) -> Option<u16> {
        let b = Self::bit(ip);
        if self.filter[b >> 6] & 1 << (b & 63) == 0 {
            return None;
        }
        self.search(ip)
    }

    #[inline(never)]
    fn search(&self, ip: u32) -> Option<u16> {
        let k = self.sorted.partition_point(|&(a, _)| a < ip);
        self.sorted.get(k).filter(|&&(a, _)| a == ip).map(|&(_, d)| d)
    }
}

#[cfg(test)]
mod tests {
    use super::{LocalIps, Tables};

    #[test]
    fn every_gateway_address_finds_its_domain_among_many() {
        let mut cfg =
            String::from("[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\nmode = \"trunk\"\nallowed_vlans = [1]\n");
        // Listed in descending address order, so the table's order is not the config's.
        for v in (1..=200u32).rev() {
            cfg += &format!("[[bridge]]\nname = \"b{v}\"\nvlan = {v}\ngateway = \"10.{}.{}.1/24\"\n", v / 256, v % 256);
        }
        let t = Tables::compile(&crate::config::Config::parse(&cfg, None).unwrap()).unwrap();
        for (i, d) in t.domains.iter().enumerate() {
            let g = d.gateway.unwrap();
            assert_eq!(t.local_domain(g.ip), Some(i as u16), "{:08x}", g.ip);
            assert_eq!(t.local_domain(g.ip + 1), None, "a host of the subnet is not local");
        }
        assert_eq!(t.local_domain(0), None);
        assert_eq!(t.local_domain(u32::MAX), None);
    }

    #[test]
    fn an_address_that_shares_a_gateways_filter_bit_is_not_local() {
        let gw = 0xc612_fffe; // 198.18.255.254
        let l = LocalIps::new(vec![(0xc613_00fe, 1), (gw, 3), (gw, 0)]);
        assert_eq!(l.get(gw), Some(0), "an address listed twice belongs to the lowest domain");
        assert_eq!(l.get(0xc613_00fe), Some(1));
        // Addresses whose bit is set without being in the list take the search and miss.
        let twins: Vec<u32> =
            (1..u32::MAX).step_by(7919).filter(|&a| LocalIps::bit(a) == LocalIps::bit(gw) && a != gw).take(3).collect();
        assert_eq!(twins.len(), 3);
        for a in twins {
            assert_eq!(l.get(a), None, "{a:08x}");
        }
        assert_eq!(l.get(0xc613_0001), None);
        assert_eq!(LocalIps::new(vec![]).get(gw), None);
    }
}
