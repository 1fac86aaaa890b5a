//! TCP headers (RFC 9293): the fields a router and a connection tracker need.

use super::checksum;
use super::{be16, be32, put16, Result, WireError};

/// Header length without options.
pub const HEADER_LEN: usize = 20;

/// Flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// A view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Checks the header and data offset against the buffer (the whole segment).
    pub fn new_checked(buf: T) -> Result<Self> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let off = usize::from(b[12] >> 4) * 4;
        if off < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if off > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(TcpPacket { buf })
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.buf.as_ref(), 4)
    }
    /// Acknowledgement number.
    pub fn ack(&self) -> u32 {
        be32(self.buf.as_ref(), 8)
    }
    /// Header length (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[12] >> 4) * 4
    }
    /// Flag byte (FIN..URG, ECE, CWR).
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[13]
    }
    /// Window.
    pub fn window(&self) -> u16 {
        be16(self.buf.as_ref(), 14)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 16)
    }
    /// Options.
    pub fn options(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// Payload.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }
    /// True if the checksum verifies with the pseudo-header.
    pub fn verify_checksum(&self, src: u32, dst: u32) -> bool {
        let b = self.buf.as_ref();
        let Ok(len) = u16::try_from(b.len()) else { return false };
        checksum::fold(checksum::sum(checksum::pseudo_header(src, dst, 6, len), b)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port, updating the checksum.
    pub fn set_src_port_update(&mut self, p: u16) {
        self.set16_update(0, p);
    }
    /// Sets the destination port, updating the checksum.
    pub fn set_dst_port_update(&mut self, p: u16) {
        self.set16_update(2, p);
    }
    /// Updates the checksum for an address change in the pseudo-header.
    pub fn update_for_addr(&mut self, old: u32, new: u32) {
        let b = self.buf.as_mut();
        let c = checksum::update32(be16(b, 16), old, new);
        put16(b, 16, c);
    }
    fn set16_update(&mut self, at: usize, v: u16) {
        let b = self.buf.as_mut();
        let c = checksum::update16(be16(b, 16), be16(b, at), v);
        put16(b, at, v);
        put16(b, 16, c);
    }
    /// Recomputes the checksum.
    pub fn fill_checksum(&mut self, src: u32, dst: u32) {
        let b = self.buf.as_mut();
        let len = b.len() as u16;
        put16(b, 16, 0);
        let c = !checksum::fold(checksum::sum(checksum::pseudo_header(src, dst, 6, len), b));
        put16(b, 16, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SYN 192.0.2.1:40000 -> 198.51.100.7:80 seq 1000, window 64240, MSS option 1460.
    fn syn() -> [u8; 24] {
        let mut b = [
            0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0, 0, 0, 0, 0x60, 0x02, 0xfa, 0xf0, 0, 0, 0, 0, 0x02, 0x04,
            0x05, 0xb4,
        ];
        TcpPacket::new_checked(&mut b[..]).unwrap().fill_checksum(0xc000_0201, 0xc633_6407);
        b
    }

    #[test]
    fn deconstruct() {
        let b = syn();
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.seq(), p.ack()), (40000, 80, 1000, 0));
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.window(), 64240);
        assert_eq!(p.options(), &[2, 4, 5, 0xb4]);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(0xc000_0201, 0xc633_6407));
    }

    #[test]
    fn rewrites_keep_checksum_valid() {
        let mut b = syn();
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        p.set_src_port_update(61000);
        p.update_for_addr(0xc000_0201, 0xcb00_7101);
        p.set_dst_port_update(8080);
        assert!(p.verify_checksum(0xcb00_7101, 0xc633_6407));
    }

    #[test]
    fn malformed_is_named() {
        let b = syn();
        assert_eq!(TcpPacket::new_checked(&b[..19]).err(), Some(WireError::Truncated));
        let mut v = b;
        v[12] = 0x40;
        assert_eq!(TcpPacket::new_checked(&v[..]).err(), Some(WireError::BadHeaderLen));
        let mut v = b;
        v[12] = 0x70;
        assert_eq!(TcpPacket::new_checked(&v[..]).err(), Some(WireError::Truncated));
    }
}
