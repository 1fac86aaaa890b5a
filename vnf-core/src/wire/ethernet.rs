//! Ethernet II frames and addresses.

use super::{be16, put16, Result, WireError};
use std::fmt;
use std::str::FromStr;

/// EtherType values the appliance handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtherType;

impl EtherType {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use crate::wire::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of the two MAC addresses at the start of a frame (where VLAN tags are inserted).
pub const MACS_LEN: usize = field::SRC.end;

/// A view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buf` after checking it holds a header.
    pub fn new_checked(buf: T) -> Result<Self> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(EthernetFrame { buf })
    }
    /// The inner buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
    /// Destination address.
    pub fn dst(&self) -> MacAddr {
        mac_at(self.buf.as_ref(), field::DST.start)
    }
    /// Source address.
    pub fn src(&self) -> MacAddr {
        mac_at(self.buf.as_ref(), field::SRC.start)
    }
    /// EtherType (or the TPID of a first VLAN tag).
    pub fn ethertype(&self) -> u16 {
        be16(self.buf.as_ref(), field::ETHERTYPE)
    }
    /// The bytes after the 14-byte header.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination.
    pub fn set_dst(&mut self, m: MacAddr) {
        self.buf.as_mut()[field::DST].copy_from_slice(&m.0);
    }
    /// Sets the source.
    pub fn set_src(&mut self, m: MacAddr) {
        self.buf.as_mut()[field::SRC].copy_from_slice(&m.0);
    }
    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, t: u16) {
        put16(self.buf.as_mut(), field::ETHERTYPE, t);
    }
    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[field::PAYLOAD..]
    }
}

/// An Ethernet II header in host form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// EtherType (or the TPID of a first VLAN tag).
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Parses a checked frame.
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> EthernetRepr {
        EthernetRepr { dst: f.dst(), src: f.src(), ethertype: f.ethertype() }
    }
    /// Writes the header into the first [`HEADER_LEN`] bytes of `b` (panics if shorter).
    pub fn emit(&self, b: &mut [u8]) {
        let b = &mut b[..HEADER_LEN];
        b[field::DST].copy_from_slice(&self.dst.0);
        b[field::SRC].copy_from_slice(&self.src.0);
        put16(b, field::ETHERTYPE, self.ethertype);
    }
}

/// Sets the destination and source addresses of `frame`; false (nothing written) if it is
/// shorter than an Ethernet header.
#[inline]
pub fn set_macs(frame: &mut [u8], dst: MacAddr, src: MacAddr) -> bool {
    let Ok(mut f) = EthernetFrame::new_checked(frame) else { return false };
    f.set_dst(dst);
    f.set_src(src);
    true
}

/// Exchanges the destination and source addresses of `frame` (a reply to its sender from
/// the address it was sent to); false (nothing written) if it is shorter than an Ethernet
/// header.
#[inline]
pub fn swap_macs(frame: &mut [u8]) -> bool {
    let Ok(mut f) = EthernetFrame::new_checked(frame) else { return false };
    let (dst, src) = (f.dst(), f.src());
    f.set_dst(src);
    f.set_src(dst);
    true
}

/// The MAC address at `at` as a u64 (see [`MacAddr::to_u64`]); the caller checked the length.
#[inline(always)]
pub fn mac_u64_at(b: &[u8], at: usize) -> u64 {
    let hi = u16::from_be_bytes([b[at], b[at + 1]]);
    let lo = u32::from_be_bytes([b[at + 2], b[at + 3], b[at + 4], b[at + 5]]);
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The MAC address at `at` (the caller checked the length).
#[inline(always)]
pub fn mac_at(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    MacAddr(m)
}

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The address as the low 48 bits of a u64 (first octet most significant), for
    /// compares and hashing in registers.
    #[inline(always)]
    pub const fn to_u64(self) -> u64 {
        let b = self.0;
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// The inverse of [`MacAddr::to_u64`] (the top 16 bits are ignored).
    #[inline(always)]
    pub const fn from_u64(v: u64) -> MacAddr {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// True for group (multicast and broadcast) addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    /// True for 01:80:c2:00:00:00..0f, the IEEE 802.1D link-local block (STP, LACP, LLDP,
    /// pause) that bridges must not forward.
    pub fn is_link_local(&self) -> bool {
        self.0[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && self.0[5] & 0xf0 == 0
    }
    /// True for 00:00:00:00:00:00.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
    /// True for locally administered addresses.
    pub fn is_local(&self) -> bool {
        self.0[0] & 2 == 2
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!("MAC address {s:?} must be six hex octets separated by ':'"));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(format!("MAC address {s:?} has an octet {p:?} that is not two hex digits"));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| format!("MAC address {s:?} has a non-hex octet {p:?}"))?;
        }
        Ok(MacAddr(out))
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The header of an IPv4 frame 00:50:56:aa:bb:01 -> 00:50:56:aa:bb:02, and the start of its
    // payload.
    const FRAME: [u8; 20] = [
        0x00, 0x50, 0x56, 0xaa, 0xbb, 0x02, 0x00, 0x50, 0x56, 0xaa, 0xbb, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x4e,
        0x0d, 0x0e,
    ];

    fn repr() -> EthernetRepr {
        EthernetRepr {
            dst: MacAddr([0x00, 0x50, 0x56, 0xaa, 0xbb, 0x02]),
            src: MacAddr([0x00, 0x50, 0x56, 0xaa, 0xbb, 0x01]),
            ethertype: EtherType::IPV4,
        }
    }

    #[test]
    fn test_parse() {
        assert_eq!(EthernetRepr::parse(&EthernetFrame::new_checked(&FRAME[..]).unwrap()), repr());
    }

    #[test]
    fn test_emit_and_round_trip() {
        let mut b = [0xaau8; 20];
        repr().emit(&mut b);
        assert_eq!(&b[..HEADER_LEN], &FRAME[..HEADER_LEN]);
        assert_eq!(&b[HEADER_LEN..], &[0xaa; 6], "only the header is written");
        let r = EthernetRepr::parse(&EthernetFrame::new_checked(&b[..]).unwrap());
        assert_eq!(r, repr());
    }

    #[test]
    fn set_and_swap_macs() {
        let mut f = FRAME;
        assert!(swap_macs(&mut f));
        assert_eq!(&f[..6], &FRAME[6..12]);
        assert_eq!(&f[6..12], &FRAME[..6]);
        assert_eq!(&f[12..], &FRAME[12..]);
        assert!(set_macs(&mut f, MacAddr::BROADCAST, MacAddr([2, 0, 0, 0, 0, 9])));
        let r = EthernetRepr::parse(&EthernetFrame::new_checked(&f[..]).unwrap());
        assert_eq!(r, EthernetRepr { dst: MacAddr::BROADCAST, src: MacAddr([2, 0, 0, 0, 0, 9]), ..repr() });
        let mut short = [1u8; 13];
        assert!(!swap_macs(&mut short) && !set_macs(&mut short, MacAddr::BROADCAST, MacAddr::BROADCAST));
        assert_eq!(short, [1; 13], "nothing written");
    }

    #[test]
    fn parse_and_print() {
        let m: MacAddr = "02:00:5E:10:00:01".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
        assert_eq!(m.to_string(), "02:00:5e:10:00:01");
        assert!(m.is_local() && !m.is_multicast());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert_eq!(m.to_u64(), 0x0200_5e10_0001);
        assert_eq!(MacAddr::from_u64(0xffff_0200_5e10_0001), m);
        assert_eq!(mac_u64_at(&[9, 2, 0, 0x5e, 0x10, 0, 1], 1), 0x0200_5e10_0001);
    }

    #[test]
    fn frame_view() {
        let mut b = [0u8; 20];
        b[..6].copy_from_slice(&[0xff; 6]);
        b[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        b[12..14].copy_from_slice(&[0x08, 0x06]);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.dst(), MacAddr::BROADCAST);
        assert_eq!(f.src(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.payload().len(), 6);
        assert_eq!(EthernetFrame::new_checked(&b[..13]).err(), Some(WireError::Truncated));
        let mut f = EthernetFrame::new_checked(&mut b[..]).unwrap();
        f.set_dst(MacAddr([1, 2, 3, 4, 5, 6]));
        f.set_ethertype(EtherType::IPV4);
        assert_eq!(&b[..6], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(&b[12..14], &[0x08, 0x00]);
        assert!(MacAddr([0x01, 0x80, 0xc2, 0, 0, 0x0e]).is_link_local());
        assert!(!MacAddr([0x01, 0x80, 0xc2, 0, 0, 0x10]).is_link_local());
    }

    #[test]
    fn refuses_bad_text() {
        for bad in ["", "02:00:5e:10:00", "02:00:5e:10:00:01:02", "0g:00:00:00:00:00", "2:00:00:00:00:001"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
