//! UDP (RFC 768).

use super::checksum;
use super::{be16, put16, Result, WireError};

/// Header length.
pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Checks the header and that the length field fits between 8 and the buffer.
    pub fn new_checked(buf: T) -> Result<Self> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let l = usize::from(be16(b, 4));
        if l < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if l > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(UdpPacket { buf })
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }
    /// Length field.
    pub fn len_field(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }
    /// Checksum field (0: none).
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 6)
    }
    /// Payload.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..usize::from(self.len_field())]
    }
    /// True if the checksum is absent (0) or verifies with the pseudo-header.
    pub fn verify_checksum(&self, src: u32, dst: u32) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let l = self.len_field();
        let acc = checksum::sum(checksum::pseudo_header(src, dst, 17, l), &self.buf.as_ref()[..usize::from(l)]);
        checksum::fold(acc) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port (checksum updated if present).
    pub fn set_src_port_update(&mut self, p: u16) {
        self.set16_update(0, p);
    }
    /// Sets the destination port (checksum updated if present).
    pub fn set_dst_port_update(&mut self, p: u16) {
        self.set16_update(2, p);
    }
    /// Updates the checksum for an address change in the pseudo-header (if present).
    pub fn update_for_addr(&mut self, old: u32, new: u32) {
        let b = self.buf.as_mut();
        let c = be16(b, 6);
        if c != 0 {
            let n = checksum::update32(c, old, new);
            put16(b, 6, if n == 0 { 0xffff } else { n });
        }
    }
    fn set16_update(&mut self, at: usize, v: u16) {
        let b = self.buf.as_mut();
        let c = be16(b, 6);
        if c != 0 {
            let n = checksum::update16(c, be16(b, at), v);
            put16(b, 6, if n == 0 { 0xffff } else { n });
        }
        put16(b, at, v);
    }
    /// Recomputes the checksum over the pseudo-header and datagram.
    pub fn fill_checksum(&mut self, src: u32, dst: u32) {
        let l = self.len_field();
        let b = self.buf.as_mut();
        put16(b, 6, 0);
        let c = !checksum::fold(checksum::sum(checksum::pseudo_header(src, dst, 17, l), &b[..usize::from(l)]));
        put16(b, 6, if c == 0 { 0xffff } else { c });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_and_ports() {
        let src = 0xc000_0201;
        let dst = 0xc633_6407;
        let mut b = [0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0, 0, 1, 2, 3, 4];
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(src, dst);
        assert!(p.verify_checksum(src, dst));
        assert!(!p.verify_checksum(src, dst + 1));
        p.set_src_port_update(40000);
        p.update_for_addr(src, 0xcb00_7109);
        assert!(p.verify_checksum(0xcb00_7109, dst));
        assert_eq!((p.src_port(), p.dst_port(), p.payload()), (40000, 53, &[1u8, 2, 3, 4][..]));
        // pseudo 0xc000+0x0201+0xc633+0x6407+0x0011+0x000c + udp 0x3039+0x0035+0x000c+0x0102+0x0304
        let mut v = [0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0, 0, 1, 2, 3, 4];
        UdpPacket::new_checked(&mut v[..]).unwrap().fill_checksum(src, dst);
        let sum: u32 =
            [0xc000u32, 0x0201, 0xc633, 0x6407, 0x0011, 0x000c, 0x3039, 0x0035, 0x000c, 0x0102, 0x0304].iter().sum();
        assert_eq!(u16::from_be_bytes([v[6], v[7]]), !checksum::fold(sum));
    }

    #[test]
    fn zero_checksum_is_accepted_and_kept() {
        let mut b = [0, 1, 0, 2, 0, 8, 0, 0];
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        assert!(p.verify_checksum(1, 2));
        p.set_dst_port_update(99);
        assert_eq!(p.checksum(), 0);
    }

    #[test]
    fn malformed_is_named() {
        assert_eq!(UdpPacket::new_checked(&[0u8; 7][..]).err(), Some(WireError::Truncated));
        assert_eq!(UdpPacket::new_checked(&[0, 1, 0, 2, 0, 7, 0, 0][..]).err(), Some(WireError::BadLength));
        assert_eq!(UdpPacket::new_checked(&[0, 1, 0, 2, 0, 9, 0, 0][..]).err(), Some(WireError::Truncated));
    }
}
