//! VXLAN (RFC 7348): the 8-byte header after UDP port 4789.
//!
//! `flags(8) reserved(24) VNI(24) reserved(8)`; the I flag (0x08) must be set for a valid
//! VNI. Receivers ignore the reserved bits; senders write them as zero.

use super::ethernet::{self, EthernetRepr};
use super::ipv4::{self, Ipv4Repr};
use super::udp::{self, UdpRepr};
use super::{be32, put32, Result, WireError};

mod field {
    use crate::wire::Field;
    pub const FLAGS: usize = 0;
    pub const RESERVED: Field = 1..4;
    pub const VNI: usize = 4;
}

/// Header length.
pub const HEADER_LEN: usize = 8;
/// The IANA port.
pub const PORT: u16 = 4789;
/// The I flag: the VNI is valid.
pub const FLAG_I: u8 = 0x08;
/// Bytes VXLAN adds in front of an untagged inner frame: outer Ethernet, IPv4, UDP, VXLAN.
pub const OVERHEAD: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + HEADER_LEN;

/// Offsets of the outer headers in the [`OVERHEAD`] bytes [`emit_outer`] writes.
const IP_AT: usize = ethernet::HEADER_LEN;
const UDP_AT: usize = IP_AT + ipv4::HEADER_LEN;
const VXLAN_AT: usize = UDP_AT + udp::HEADER_LEN;

/// A view of a VXLAN header (and the inner frame after it).
#[derive(Debug, Clone)]
pub struct VxlanPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> VxlanPacket<T> {
    /// Checks the length and that the I flag is set ([`WireError::BadVxlanFlags`] if not).
    pub fn new_checked(buf: T) -> Result<Self> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::FLAGS] & FLAG_I == 0 {
            return Err(WireError::BadVxlanFlags);
        }
        Ok(VxlanPacket { buf })
    }
    /// The 24-bit VNI.
    pub fn vni(&self) -> u32 {
        be32(self.buf.as_ref(), field::VNI) >> 8
    }
    /// The inner Ethernet frame.
    pub fn inner(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

/// A VXLAN header in host form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanRepr {
    /// The 24-bit VNI (higher bits are not represented: [`VxlanRepr::emit`] drops them).
    pub vni: u32,
}

impl VxlanRepr {
    /// Parses a checked header (the reserved bits are ignored).
    pub fn parse<T: AsRef<[u8]>>(p: &VxlanPacket<T>) -> VxlanRepr {
        VxlanRepr { vni: p.vni() }
    }
    /// Writes the header into the first [`HEADER_LEN`] bytes of `b` (panics if shorter): the
    /// I flag, the low 24 bits of the VNI, reserved bits zero.
    pub fn emit(&self, b: &mut [u8]) {
        let b = &mut b[..HEADER_LEN];
        b[field::FLAGS] = FLAG_I;
        b[field::RESERVED].fill(0);
        put32(b, field::VNI, (self.vni & 0x00ff_ffff) << 8);
    }
}

/// Writes a VXLAN header for `vni` (I flag set, reserved bits zero): [`VxlanRepr::emit`].
pub fn emit(out: &mut [u8], vni: u32) {
    VxlanRepr { vni }.emit(out)
}

/// Lays the outer headers of an encapsulated frame at their offsets in the first
/// [`OVERHEAD`] bytes of `buf` (panics if shorter): `eth`, `ip` (with its checksum), `udp`
/// (checksum 0), then the VXLAN header for `vni`. The representations are written as given:
/// the caller sets the EtherType, the IP protocol and the payload lengths.
pub fn emit_outer(buf: &mut [u8], eth: &EthernetRepr, ip: &Ipv4Repr, udp: &UdpRepr, vni: u32) {
    let buf = &mut buf[..OVERHEAD];
    eth.emit(&mut buf[..IP_AT]);
    ip.emit(&mut buf[IP_AT..UDP_AT]);
    udp.emit(&mut buf[UDP_AT..VXLAN_AT]);
    VxlanRepr { vni }.emit(&mut buf[VXLAN_AT..]);
}

/// The outer headers of one local VTEP, laid once: Ethernet (destination zero, set when the
/// next hop is known), IPv4 (DF, the TTL, UDP, the local address) and UDP (the VTEP's
/// destination port, checksum 0), with the one's complement sum of their constant IPv4
/// words. [`Outer::emit`] copies them and writes what differs per packet, the IPv4
/// checksum from that sum plus the varying words (RFC 1071: the sum is associative), as a
/// tunnel push of a header built once; the same bytes as [`emit_outer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    hdr: [u8; OVERHEAD],
    sum: u32,
}

impl Outer {
    /// The template of a VTEP with MAC `src_mac`, address `src` and UDP port `udp_port`,
    /// sending with TTL `ttl`.
    pub fn new(src_mac: super::MacAddr, src: u32, udp_port: u16, ttl: u8) -> Outer {
        let mut hdr = [0u8; OVERHEAD];
        let eth = EthernetRepr { dst: super::MacAddr::default(), src: src_mac, ethertype: super::EtherType::IPV4 };
        let ip = Ipv4Repr {
            src,
            dst: 0,
            protocol: ipv4::proto::UDP,
            payload_len: 0,
            ttl,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
        };
        let udp = UdpRepr { src_port: 0, dst_port: udp_port, payload_len: 0 };
        emit_outer(&mut hdr, &eth, &ip, &udp, 0);
        // The constant words only: length (20 as emitted), checksum, ident, destination
        // are zero or taken out.
        hdr[IP_AT + 2..IP_AT + 4].fill(0);
        hdr[IP_AT + 10..IP_AT + 12].fill(0);
        hdr[UDP_AT + 4..UDP_AT + 6].fill(0);
        let sum = super::checksum::sum(0, &hdr[IP_AT..UDP_AT]);
        Outer { hdr, sum }
    }

    /// Lays the outer headers in the first [`OVERHEAD`] bytes of `buf` for a frame of
    /// `inner_len` bytes to VTEP `dst` on `vni`, with IPv4 ident `ident` and UDP source port
    /// `sport`; false (nothing written) when `buf` is shorter.
    #[inline(always)]
    #[must_use]
    pub fn emit(&self, buf: &mut [u8], dst: u32, inner_len: u16, ident: u16, sport: u16, vni: u32) -> bool {
        let Some(b) = buf.first_chunk_mut::<OVERHEAD>() else { return false };
        *b = self.hdr;
        let total = inner_len.wrapping_add((OVERHEAD - ethernet::HEADER_LEN) as u16);
        let udp_len = inner_len.wrapping_add((udp::HEADER_LEN + HEADER_LEN) as u16);
        let s = self.sum + u32::from(total) + u32::from(ident) + (dst >> 16) + (dst & 0xffff);
        let csum = !super::checksum::fold(s);
        b[IP_AT + 2..IP_AT + 4].copy_from_slice(&total.to_be_bytes());
        b[IP_AT + 4..IP_AT + 6].copy_from_slice(&ident.to_be_bytes());
        b[IP_AT + 10..IP_AT + 12].copy_from_slice(&csum.to_be_bytes());
        b[IP_AT + 16..IP_AT + 20].copy_from_slice(&dst.to_be_bytes());
        b[UDP_AT..UDP_AT + 2].copy_from_slice(&sport.to_be_bytes());
        b[UDP_AT + 4..UDP_AT + 6].copy_from_slice(&udp_len.to_be_bytes());
        b[VXLAN_AT + 4..VXLAN_AT + 8].copy_from_slice(&(vni << 8).to_be_bytes());
        true
    }
}

/// A hash of an inner frame's flow (MACs, EtherType, and for IPv4 the addresses, protocol
/// and the first 4 bytes of the L4 header), for the outer UDP source port (RFC 7348 5).
/// Word-wise multiply-xorshift: a few cycles, well mixed in the low bits. Not a table
/// hash (nothing is looked up by it): it only spreads flows over underlay paths, so it
/// needs no per-process key. Offsets: Ethernet (MACs at 0 and 6, EtherType at 12), IPv4
/// at 14 (protocol at 23, addresses at 26..34), L4 ports after the IPv4 header.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::{EtherType, EthernetFrame, MacAddr};
    use crate::wire::ipv4::{proto, Ipv4Packet};
    use crate::wire::udp::UdpPacket;

    // 192.168.1.10:51234 -> 192.168.1.20:4789 VNI 5010 (UDP checksum 0, DF, id 0x0d0e) carrying
    // an ARP request who-has 10.0.0.2 tell 10.0.0.1 from 02:00:00:00:0a:01.
    const VXLAN_ARP: [u8; 92] = [
        0x00, 0x50, 0x56, 0xaa, 0xbb, 0x02, 0x00, 0x50, 0x56, 0xaa, 0xbb, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x4e,
        0x0d, 0x0e, 0x40, 0x00, 0x40, 0x11, 0xaa, 0x22, 0xc0, 0xa8, 0x01, 0x0a, 0xc0, 0xa8, 0x01, 0x14, 0xc8, 0x22,
        0x12, 0xb5, 0x00, 0x3a, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x13, 0x92, 0x00, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00,
        0x00, 0x02,
    ];
    const INNER_LEN: usize = 42;

    fn outer() -> (EthernetRepr, Ipv4Repr, UdpRepr) {
        let eth = EthernetRepr {
            dst: MacAddr([0x00, 0x50, 0x56, 0xaa, 0xbb, 0x02]),
            src: MacAddr([0x00, 0x50, 0x56, 0xaa, 0xbb, 0x01]),
            ethertype: EtherType::IPV4,
        };
        let ip = Ipv4Repr {
            src: 0xc0a8_010a,
            dst: 0xc0a8_0114,
            protocol: proto::UDP,
            payload_len: (udp::HEADER_LEN + HEADER_LEN + INNER_LEN) as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0x0d0e,
            dont_frag: true,
        };
        let udp = UdpRepr { src_port: 51234, dst_port: PORT, payload_len: (HEADER_LEN + INNER_LEN) as u16 };
        (eth, ip, udp)
    }

    #[test]
    fn the_template_lays_the_bytes_of_emit_outer() {
        let mac = MacAddr([0x00, 0x50, 0x56, 0xaa, 0xbb, 0x01]);
        let o = Outer::new(mac, 0xc0a8_010a, PORT, 64);
        let mut x: u32 = 7;
        for _ in 0..5000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let (dst, ident, sport) = (x.rotate_left(7), (x >> 3) as u16, 49152 | (x >> 18) as u16 & 0x3fff);
            let (inner_len, vni) = (14 + (x % 9000) as u16, x & 0x00ff_ffff);
            let eth = EthernetRepr { dst: MacAddr::default(), src: mac, ethertype: EtherType::IPV4 };
            let ip = Ipv4Repr {
                src: 0xc0a8_010a,
                dst,
                protocol: proto::UDP,
                payload_len: inner_len + (udp::HEADER_LEN + HEADER_LEN) as u16,
                ttl: 64,
                dscp_ecn: 0,
                ident,
                dont_frag: true,
            };
            let udp = UdpRepr { src_port: sport, dst_port: PORT, payload_len: inner_len + HEADER_LEN as u16 };
            let (mut want, mut got) = ([0u8; OVERHEAD], [0xeeu8; OVERHEAD + 4]);
            emit_outer(&mut want, &eth, &ip, &udp, vni);
            assert!(o.emit(&mut got, dst, inner_len, ident, sport, vni));
            assert_eq!(&got[..OVERHEAD], &want[..], "dst {dst:08x} len {inner_len} ident {ident}");
            assert_eq!(&got[OVERHEAD..], &[0xee; 4], "nothing past the headers");
            assert!(crate::wire::checksum::verifies20(got[IP_AT..UDP_AT].try_into().unwrap()), "checksum");
        }
        let mut short = [0xeeu8; OVERHEAD - 1];
        assert!(!o.emit(&mut short, 1, 64, 1, 49152, 1), "a short buffer is refused");
        assert_eq!(short, [0xee; OVERHEAD - 1], "and left alone");
    }

    #[test]
    fn test_parse() {
        let f = EthernetFrame::new_checked(&VXLAN_ARP[..]).unwrap();
        let ip = Ipv4Packet::new_checked(f.payload()).unwrap();
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        let v = VxlanPacket::new_checked(u.payload()).unwrap();
        let (eth, ipr, udpr) = outer();
        assert_eq!(EthernetRepr::parse(&f), eth);
        assert_eq!(Ipv4Repr::parse(&ip), Ok(ipr));
        assert_eq!(UdpRepr::parse(&u, ipr.src, ipr.dst), Ok(udpr));
        assert_eq!(VxlanRepr::parse(&v), VxlanRepr { vni: 5010 });
        assert_eq!(v.inner(), &VXLAN_ARP[OVERHEAD..]);
    }

    #[test]
    fn test_emit_outer_and_round_trip() {
        assert_eq!(OVERHEAD, 50);
        let (eth, ip, udp) = outer();
        let mut b = [0u8; 92];
        b[OVERHEAD..].copy_from_slice(&VXLAN_ARP[OVERHEAD..]);
        emit_outer(&mut b, &eth, &ip, &udp, 5010);
        assert_eq!(b, VXLAN_ARP);
        let mut h = [0xaau8; HEADER_LEN + 1];
        VxlanRepr { vni: 0xff12_3456 }.emit(&mut h);
        assert_eq!(h, [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xaa]);
        assert_eq!(VxlanRepr::parse(&VxlanPacket::new_checked(&h[..]).unwrap()), VxlanRepr { vni: 0x12_3456 });
    }

    #[test]
    fn header_round_trip_and_reserved_bits_ignored() {
        let mut b = [0xffu8; 10];
        emit(&mut b, 0x12_3456);
        assert_eq!(&b[..8], &[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        let mut r = b;
        r[0] = 0x08 | 0xf7; // every reserved flag bit set: still valid
        r[1] = 0xaa;
        r[7] = 0x55;
        let p = VxlanPacket::new_checked(&r[..]).unwrap();
        assert_eq!(p.vni(), 0x12_3456);
        assert_eq!(p.inner(), &[0xff, 0xff]);
    }

    #[test]
    fn missing_i_flag_and_truncation_are_named() {
        assert_eq!(VxlanPacket::new_checked(&[0u8, 0, 0, 0, 0, 0, 1, 0][..]).err(), Some(WireError::BadVxlanFlags));
        assert_eq!(VxlanPacket::new_checked(&[8u8, 0, 0][..]).err(), Some(WireError::Truncated));
    }
}
