//! What the generator reads and writes in frames besides its stamp: where the IPv4 header
//! is, the reply to a frame (for the reverse direction of a scenario), the answer to an ARP
//! request for one of its hosts, and which queue a flow goes to.

use std::collections::HashSet;

const VXLAN_PORT: u16 = 4789;

fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

/// Offset of the ethertype after the MACs and any 802.1Q/802.1ad tags.
fn ethertype_at(f: &[u8]) -> Option<usize> {
    let mut at = 12;
    while matches!(be16(f, at)?, 0x8100 | 0x88a8) {
        at += 4;
    }
    Some(at)
}

/// Offset of the IPv4 header of an Ethernet frame (after its tags), if it is IPv4.
pub fn ipv4_at(f: &[u8]) -> Option<usize> {
    let at = ethertype_at(f)?;
    (be16(f, at)? == 0x0800 && f.len() >= at + 2 + 20).then_some(at + 2)
}

/// Offset of the UDP or TCP header after the IPv4 header at `ip`, with the protocol.
fn l4_at(f: &[u8], ip: usize) -> Option<(usize, u8)> {
    let ihl = usize::from(f[ip] & 0x0f) * 4;
    let proto = f[ip + 9];
    let frag = be16(f, ip + 6)? & 0x3fff != 0;
    let at = ip + ihl;
    (!frag && matches!(proto, 6 | 17) && f.len() >= at + 8).then_some((at, proto))
}

fn swap(f: &mut [u8], a: usize, b: usize, n: usize) {
    for k in 0..n {
        f.swap(a + k, b + k);
    }
}

/// The reply to `f` as its receiver would send it: MACs, IPv4 addresses and UDP/TCP ports
/// swapped, tags kept; a VXLAN frame (UDP to 4789) keeps its ports (the tunnel's) and its
/// inner frame is reflected in turn. Swapping keeps every checksum valid (the one's
/// complement sums are of the same words). None when `f` is not IPv4.
pub fn reflect(f: &[u8]) -> Option<Vec<u8>> {
    let mut r = f.to_vec();
    reflect_in_place(&mut r)?;
    Some(r)
}

fn reflect_in_place(f: &mut [u8]) -> Option<()> {
    let ip = ipv4_at(f)?;
    swap(f, 0, 6, 6);
    swap(f, ip + 12, ip + 16, 4);
    if let Some((l4, proto)) = l4_at(f, ip) {
        if proto == 17 && be16(f, l4 + 2)? == VXLAN_PORT && f.len() >= l4 + 16 + 34 {
            reflect_in_place(&mut f[l4 + 16..])?;
        } else {
            swap(f, l4, l4 + 2, 2);
        }
    }
    Some(())
}

/// The VNI of a VXLAN frame (IPv4, UDP to 4789, the I flag set), None for any other frame.
pub fn vxlan_vni(f: &[u8]) -> Option<u32> {
    let (l4, proto) = l4_at(f, ipv4_at(f)?)?;
    if proto != 17 || be16(f, l4 + 2)? != VXLAN_PORT || f.len() < l4 + 16 || f[l4 + 8] & 0x08 == 0 {
        return None;
    }
    Some(u32::from_be_bytes([0, f[l4 + 12], f[l4 + 13], f[l4 + 14]]))
}

/// A flow's hash over its IPv4 addresses and ports (the outer ones of a tunnel), as a NIC's
/// RSS would spread it, and symmetric as operators set RSS up for stateful functions (a
/// flow and its reply, addresses and ports swapped, hash alike); 0 for frames not IPv4.
pub fn flow_hash(f: &[u8]) -> u32 {
    let Some(ip) = ipv4_at(f) else { return 0 };
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h = (h ^ u32::from(x)).wrapping_mul(0x0100_0193);
        }
    };
    let (a, b) = (&f[ip + 12..ip + 16], &f[ip + 16..ip + 20]);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    eat(lo);
    eat(hi);
    if let Some((l4, _)) = l4_at(f, ip) {
        let (a, b) = (&f[l4..l4 + 2], &f[l4 + 2..l4 + 4]);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        eat(lo);
        eat(hi);
    }
    h ^ (h >> 16)
}

/// What tells one delivered frame of a flow and size from another's: its bytes without
/// the `stamp` bytes at its end and without the (outer) IPv4 identification, which a
/// tunnel's encapsulation may count per packet.
pub fn delivered_key(f: &[u8], stamp: usize) -> Vec<u8> {
    let mut k = f[..f.len().saturating_sub(stamp)].to_vec();
    if let Some(ip) = ipv4_at(&k).filter(|&ip| k.len() >= ip + 6) {
        k[ip + 4..ip + 6].fill(0);
    }
    k
}

/// The hosts a generator port stands for: the source MAC and IPv4 addresses of the frames
/// it sends. It answers ARP requests for those addresses, as a host would.
#[derive(Clone, Debug, Default)]
pub struct Hosts {
    /// Source MAC of the frames.
    pub mac: [u8; 6],
    /// Source IPv4 addresses.
    pub ips: HashSet<[u8; 4]>,
}

impl Hosts {
    /// The hosts behind `frames` (the first frame's source MAC; every IPv4 source).
    pub fn of(frames: &[Vec<u8>]) -> Hosts {
        let mut h = Hosts::default();
        if let Some(f) = frames.first().filter(|f| f.len() >= 12) {
            h.mac.copy_from_slice(&f[6..12]);
        }
        for f in frames {
            if let Some(ip) = ipv4_at(f) {
                h.ips.insert([f[ip + 12], f[ip + 13], f[ip + 14], f[ip + 15]]);
            }
        }
        h
    }

    /// The reply to `f` if it is an ARP request (Ethernet/IPv4) for one of the addresses.
    pub fn arp_reply(&self, f: &[u8]) -> Option<Vec<u8>> {
        let et = ethertype_at(f)?;
        if be16(f, et)? != 0x0806 {
            return None;
        }
        let a = et + 2;
        if f.len() < a + 28 || be16(f, a)? != 1 || be16(f, a + 2)? != 0x0800 || be16(f, a + 6)? != 1 {
            return None;
        }
        let target: [u8; 4] = f[a + 24..a + 28].try_into().ok()?;
        if !self.ips.contains(&target) {
            return None;
        }
        let mut r = f.to_vec();
        r[0..6].copy_from_slice(&f[a + 8..a + 14]);
        r[6..12].copy_from_slice(&self.mac);
        r[a + 7] = 2;
        r[a + 8..a + 14].copy_from_slice(&self.mac);
        r[a + 14..a + 18].copy_from_slice(&target);
        r[a + 18..a + 28].copy_from_slice(&f[a + 8..a + 18]);
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vnf_core::gen::FlowSet;

    fn udp_ok(f: &[u8], ip: usize) -> bool {
        let udp = &f[ip + 20..];
        let pseudo = [&f[ip + 12..ip + 20], &[0, 17][..], &(udp.len() as u16).to_be_bytes()[..]].concat();
        vnf_core::gen::checksum(&[&f[ip..ip + 20]]) == 0 && vnf_core::gen::checksum(&[&pseudo, udp]) == 0
    }

    #[test]
    fn a_reflected_frame_swaps_macs_addresses_and_ports_and_keeps_its_checksums() {
        let set = FlowSet { flows: 300, vlan: Some(10), ..Default::default() };
        let f = set.frame(299);
        let r = reflect(&f).unwrap();
        assert_eq!(r[0..6], f[6..12]);
        assert_eq!(r[6..12], f[0..6]);
        assert_eq!(r[12..18], f[12..18], "the tag stays");
        let ip = ipv4_at(&r).unwrap();
        assert_eq!(ip, 18);
        assert_eq!(r[ip + 12..ip + 16], [198, 19, 0, 1]);
        assert_eq!(r[ip + 16..ip + 20], [198, 18, 1, 43]);
        assert_eq!(r[ip + 20..ip + 24], [0, 9, 4, 0]);
        assert!(udp_ok(&f, ip) && udp_ok(&r, ip));
        assert_eq!(reflect(&r).unwrap(), f);
        assert_eq!(reflect(&[0u8; 60]), None);
    }

    #[test]
    fn a_vxlan_frame_keeps_the_tunnel_ports_and_reflects_the_inner_frame() {
        let inner = FlowSet::default().frame(0);
        let mut f = vec![2, 0, 0, 0, 0, 0xaa, 2, 0, 0, 0, 0, 0xbb, 8, 0];
        let mut ip = [0u8; 20];
        vnf_core::wire::Ipv4Repr {
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            protocol: 17,
            payload_len: (16 + inner.len()) as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
        }
        .emit(&mut ip);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0xc0, 0x01, 0x12, 0xb5]);
        f.extend_from_slice(&((16 + inner.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 8, 0, 0, 0, 0, 0x13, 0x92, 0]);
        f.extend_from_slice(&inner);
        let r = reflect(&f).unwrap();
        assert_eq!(r[26..30], [10, 0, 0, 2]);
        assert_eq!(r[34..38], [0xc0, 0x01, 0x12, 0xb5], "tunnel ports kept");
        assert_eq!(r[50..], reflect(&inner).unwrap()[..]);
        assert_eq!(vxlan_vni(&f), Some(5010));
        assert_eq!(vxlan_vni(&inner), None);
        f[42] = 0;
        assert_eq!(vxlan_vni(&f), None, "no I flag, no VNI");
    }

    #[test]
    fn arp_requests_for_own_addresses_get_a_reply_and_others_do_not() {
        let set = FlowSet { flows: 3, ..Default::default() };
        let frames: Vec<Vec<u8>> = (0..3).map(|i| set.frame(i)).collect();
        let h = Hosts::of(&frames);
        assert_eq!(h.mac, [2, 0, 0, 0, 0, 1]);
        assert_eq!(h.ips.len(), 3);
        let req = |tpa: [u8; 4]| {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[2, 0x76, 0x6e, 0x66, 0, 0x0a, 8, 6, 0, 1, 8, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&[2, 0x76, 0x6e, 0x66, 0, 0x0a, 198, 18, 255, 254]);
            f.extend_from_slice(&[0; 6]);
            f.extend_from_slice(&tpa);
            f.resize(60, 0);
            f
        };
        let r = h.arp_reply(&req([198, 18, 0, 2])).unwrap();
        let mut want = vec![2, 0x76, 0x6e, 0x66, 0, 0x0a, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2];
        want.extend_from_slice(&[2, 0, 0, 0, 0, 1, 198, 18, 0, 2, 2, 0x76, 0x6e, 0x66, 0, 0x0a, 198, 18, 255, 254]);
        want.resize(60, 0);
        assert_eq!(r, want);
        assert_eq!(h.arp_reply(&req([198, 18, 0, 3])), None);
        assert_eq!(h.arp_reply(&r), None, "a reply is not answered");
    }

    #[test]
    fn delivered_frames_of_one_flow_share_a_key_whatever_their_stamp_and_ident() {
        let set = FlowSet { flows: 2, ..Default::default() };
        let (a, b) = (set.frame(0), set.frame(1));
        let mut a2 = a.clone();
        a2[18] ^= 0xff;
        let n = a2.len();
        a2[n - 1] ^= 0xff;
        assert_eq!(delivered_key(&a, 12), delivered_key(&a2, 12));
        assert_ne!(delivered_key(&a, 12), delivered_key(&b, 12));
    }

    #[test]
    fn a_thousand_flows_spread_over_two_queues_and_replies_hash_as_their_flows() {
        let set = FlowSet { flows: 1000, ..Default::default() };
        let mut per = [0u32; 2];
        for i in 0..1000 {
            let f = set.frame(i);
            assert_eq!(flow_hash(&f), flow_hash(&reflect(&f).unwrap()), "symmetric");
            per[(flow_hash(&f) % 2) as usize] += 1;
        }
        assert!(per[0] > 400 && per[1] > 400, "{per:?}");
    }
}
