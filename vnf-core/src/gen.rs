//! Synthetic traffic: sets of Ethernet/IPv4/UDP flows in the benchmarking range 198.18.0.0/15
//! (RFC 2544), with valid IPv4 and UDP checksums.

use crate::wire::MacAddr;

/// Ethernet frame length without FCS of the smallest frame (64 bytes on the wire).
pub const MIN_FRAME: usize = 60;
const HDRS: usize = 14 + 20 + 8;

/// A set of UDP flows that differ in source address and source port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSet {
    /// Number of distinct flows.
    pub flows: u32,
    /// Frame length on the wire including the 4-byte FCS (64 by default); the frames
    /// themselves are 4 bytes shorter, as DPDK and pcap carry them.
    pub wire_len: usize,
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// Source MAC.
    pub src_mac: MacAddr,
    /// Give each flow its own source MAC (`src_mac` with the flow index in the low 3 bytes),
    /// so a bridge learns one entry per flow.
    pub vary_src_mac: bool,
    /// Carry an 802.1Q tag with this VLAN id.
    pub vlan: Option<u16>,
    /// Set DF in the IPv4 header (default; clear it for a router to fragment).
    pub dont_frag: bool,
    /// Source address of flow 0 as an offset into 198.18.0.0/15 (0 by default; 1 keeps
    /// the subnet's own address out of a /16's hosts).
    pub first_host: u32,
    /// Distinct source addresses before the source port moves on (65536 by default; 65533
    /// with `first_host = 1` keeps 198.18.255.254 and .255 out, a /16's gateway and broadcast).
    pub hosts: u32,
}

impl Default for FlowSet {
    fn default() -> Self {
        FlowSet {
            flows: 1,
            wire_len: 64,
            dst_mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            vary_src_mac: false,
            vlan: None,
            dont_frag: true,
            first_host: 0,
            hosts: 65536,
        }
    }
}

impl FlowSet {
    /// Frame of flow `i` (taken modulo the flow count): source 198.18.0.0 + `first_host` +
    /// (i mod `hosts`), source port 1024 + i / `hosts`, destination 198.19.0.1:9.
    pub fn frame(&self, i: u32) -> Vec<u8> {
        let i = i % self.flows.max(1);
        let len = self.wire_len.saturating_sub(4).max(MIN_FRAME).max(HDRS);
        let mut f = vec![0u8; len];
        f[0..6].copy_from_slice(&self.dst_mac.0);
        f[6..12].copy_from_slice(&self.src_mac.0);
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip_len = (len - 14) as u16;
        let hosts = self.hosts.clamp(1, 65536);
        let h = self.first_host + i % hosts;
        let src = [198, 18 + (h >> 16) as u8, (h >> 8) as u8, h as u8];
        let dst = [198, 19, 0, 1];
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[4..6].copy_from_slice(&(i as u16).to_be_bytes());
        if self.dont_frag {
            ip[6] = 0x40;
        }
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let c = checksum(&[&f[14..34]]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        let udp_len = ip_len - 20;
        let sport = 1024u16.wrapping_add((i / hosts) as u16);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&9u16.to_be_bytes());
        f[38..40].copy_from_slice(&udp_len.to_be_bytes());
        for (k, b) in f[HDRS..].iter_mut().enumerate() {
            *b = k as u8;
        }
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&src);
        pseudo[4..8].copy_from_slice(&dst);
        pseudo[9] = 17;
        pseudo[10..12].copy_from_slice(&udp_len.to_be_bytes());
        let mut c = checksum(&[&pseudo, &f[34..14 + ip_len as usize]]);
        if c == 0 {
            c = 0xffff;
        }
        f[40..42].copy_from_slice(&c.to_be_bytes());
        if self.vary_src_mac {
            f[9..12].copy_from_slice(&i.to_be_bytes()[1..]);
        }
        if let Some(v) = self.vlan {
            let tag = [0x81, 0x00, (v >> 8) as u8 & 0x0f, v as u8];
            f.splice(12..12, tag);
        }
        f
    }

    /// All frames, one per flow.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        (0..self.flows).map(|i| self.frame(i)).collect()
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for p in parts {
        for &b in *p {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_bytes_are_exact() {
        let f = FlowSet::default().frame(0);
        assert_eq!(f.len(), 60);
        let expect_hdr: [u8; 42] = [
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // ethernet
            0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 0, 198, 19, 0, 1, // ipv4 (csum below)
            0x04, 0x00, 0, 9, 0, 26, 0, 0, // udp (csum below)
        ];
        assert_eq!(&f[..24], &expect_hdr[..24]);
        assert_eq!(&f[26..40], &expect_hdr[26..40]);
        // IPv4 header checksum verifies to zero; the one's complement sum is independent.
        assert_eq!(checksum(&[&f[14..34]]), 0);
        // by hand: 0x4500+0x002e+0x4000+0x4011+0xc612+0x0000+0xc613+0x0001 = 0x2_5165 -> 0x5167 -> !0xae98
        assert_eq!(u16::from_be_bytes([f[24], f[25]]), 0xae98);
        let mut pseudo = vec![198, 18, 0, 0, 198, 19, 0, 1, 0, 17, 0, 26];
        pseudo.extend_from_slice(&f[34..60]);
        assert_eq!(checksum(&[&pseudo]), 0, "UDP checksum verifies");
    }

    #[test]
    fn tagged_and_mac_varying_flows() {
        let s = FlowSet { flows: 300, vary_src_mac: true, vlan: Some(10), ..Default::default() };
        let f = s.frame(258);
        assert_eq!(f.len(), 64);
        assert_eq!(&f[6..12], &[2, 0, 0, 0, 1, 2]);
        assert_eq!(&f[12..18], &[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        assert_eq!(checksum(&[&f[18..38]]), 0);
    }

    #[test]
    fn flows_differ_and_wrap() {
        let s = FlowSet { flows: 70000, ..Default::default() };
        let a = s.frame(1);
        let b = s.frame(65537);
        assert_eq!(&a[26..30], &[198, 18, 0, 1]);
        assert_eq!(&b[26..30], &[198, 18, 0, 1]);
        assert_eq!(u16::from_be_bytes([a[34], a[35]]), 1024);
        assert_eq!(u16::from_be_bytes([b[34], b[35]]), 1025);
        assert_eq!(s.frame(70001), a);
        let big = FlowSet { wire_len: 1518, ..Default::default() }.frame(3);
        assert_eq!(big.len(), 1514);
        assert_eq!(checksum(&[&big[14..34]]), 0);
    }
}
