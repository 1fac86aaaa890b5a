//! UDP (RFC 768).

use super::checksum;
use super::ipv4::proto;
use super::{be16, put16, Result, WireError};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

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
        let l = usize::from(be16(b, field::LENGTH));
        if l < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if l > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(UdpPacket { buf })
    }
    /// Wraps `buf` without any check, for a header whose length the caller checked another
    /// way: a datagram whose length field is not trusted, or the start of one quoted in an
    /// ICMP error. The fixed fields can be read and written when `buf` holds [`HEADER_LEN`]
    /// bytes; [`Self::payload`] and the checksum methods over the datagram need what
    /// [`Self::new_checked`] checks and panic otherwise.
    pub fn new_unchecked(buf: T) -> Self {
        UdpPacket { buf }
    }
    /// The inner buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::SRC_PORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::DST_PORT)
    }
    /// Length field.
    pub fn len_field(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH)
    }
    /// Checksum field (0: none).
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM)
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
        let acc = checksum::sum(checksum::pseudo_header(src, dst, proto::UDP, l), &self.buf.as_ref()[..usize::from(l)]);
        checksum::fold(acc) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port, leaving the checksum alone.
    pub fn set_src_port(&mut self, p: u16) {
        put16(self.buf.as_mut(), field::SRC_PORT, p);
    }
    /// Sets the destination port, leaving the checksum alone.
    pub fn set_dst_port(&mut self, p: u16) {
        put16(self.buf.as_mut(), field::DST_PORT, p);
    }
    /// Sets the source port (checksum updated if present).
    pub fn set_src_port_update(&mut self, p: u16) {
        self.set16_update(field::SRC_PORT, p);
    }
    /// Sets the destination port (checksum updated if present).
    pub fn set_dst_port_update(&mut self, p: u16) {
        self.set16_update(field::DST_PORT, p);
    }
    /// Updates the checksum for an address change in the pseudo-header (if present).
    pub fn update_for_addr(&mut self, old: u32, new: u32) {
        let b = self.buf.as_mut();
        let c = be16(b, field::CHECKSUM);
        if c != 0 {
            let n = checksum::update32(c, old, new);
            put16(b, field::CHECKSUM, if n == 0 { 0xffff } else { n });
        }
    }
    fn set16_update(&mut self, at: usize, v: u16) {
        let b = self.buf.as_mut();
        let c = be16(b, field::CHECKSUM);
        if c != 0 {
            let n = checksum::update16(c, be16(b, at), v);
            put16(b, field::CHECKSUM, if n == 0 { 0xffff } else { n });
        }
        put16(b, at, v);
    }
    /// Recomputes the checksum over the pseudo-header and datagram.
    pub fn fill_checksum(&mut self, src: u32, dst: u32) {
        let l = self.len_field();
        let b = self.buf.as_mut();
        put16(b, field::CHECKSUM, 0);
        let c = !checksum::fold(checksum::sum(checksum::pseudo_header(src, dst, proto::UDP, l), &b[..usize::from(l)]));
        put16(b, field::CHECKSUM, if c == 0 { 0xffff } else { c });
    }
}

/// A UDP header in host form. The checksum is not part of it: [`UdpRepr::emit`] writes 0
/// (none, as VXLAN senders do), and [`UdpPacket::fill_checksum`] computes one once the
/// payload is in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length (the length field less the header).
    pub payload_len: u16,
}

impl UdpRepr {
    /// Largest payload the length field can describe.
    pub const MAX_PAYLOAD: u16 = 65535 - HEADER_LEN as u16;

    /// Parses a checked datagram, verifying its checksum (when present) with the
    /// pseudo-header of `src` and `dst`.
    pub fn parse<T: AsRef<[u8]>>(p: &UdpPacket<T>, src: u32, dst: u32) -> Result<UdpRepr> {
        if !p.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(UdpRepr { src_port: p.src_port(), dst_port: p.dst_port(), payload_len: p.len_field() - HEADER_LEN as u16 })
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `b` (panics if shorter), with
    /// checksum 0. A `payload_len` above [`Self::MAX_PAYLOAD`] cannot be represented: the
    /// length is clamped to 65535.
    pub fn emit(&self, b: &mut [u8]) {
        let b = &mut b[..HEADER_LEN];
        put16(b, field::SRC_PORT, self.src_port);
        put16(b, field::DST_PORT, self.dst_port);
        put16(b, field::LENGTH, self.payload_len.saturating_add(HEADER_LEN as u16));
        put16(b, field::CHECKSUM, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A DNS query 10.0.0.5:53000 -> 8.8.8.8:53 (12 bytes: id 0x1234, RD, one question count).
    const SRC: u32 = 0x0a00_0005;
    const DST: u32 = 0x0808_0808;
    const DATAGRAM: [u8; 20] = [
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x14, 0x03, 0x3f, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ];
    const REPR: UdpRepr = UdpRepr { src_port: 53000, dst_port: 53, payload_len: 12 };

    #[test]
    fn test_parse() {
        let p = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, SRC, DST), Ok(REPR));
        assert_eq!(UdpRepr::parse(&p, SRC, DST + 1), Err(WireError::BadChecksum));
        let mut none = DATAGRAM;
        none[6..8].fill(0);
        assert_eq!(UdpRepr::parse(&UdpPacket::new_checked(&none[..]).unwrap(), 1, 2), Ok(REPR));
    }

    #[test]
    fn test_emit_and_round_trip() {
        let mut b = [0xaau8; 20];
        REPR.emit(&mut b);
        assert_eq!(&b[..HEADER_LEN], &[0xcf, 0x08, 0x00, 0x35, 0x00, 0x14, 0, 0]);
        assert_eq!(&b[HEADER_LEN..], &[0xaa; 12], "only the header is written");
        b[HEADER_LEN..].copy_from_slice(&DATAGRAM[HEADER_LEN..]);
        UdpPacket::new_checked(&mut b[..]).unwrap().fill_checksum(SRC, DST);
        assert_eq!(b, DATAGRAM);
        let huge = UdpRepr { payload_len: 65530, ..REPR };
        huge.emit(&mut b);
        assert_eq!(&b[4..6], &[0xff, 0xff]);
    }

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
