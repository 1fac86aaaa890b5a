//! ICMPv4 (RFC 792): echo and the error messages a router sends.

use super::checksum;
use super::ipv4::{self, Ipv4Packet};
use super::{be16, put16, Result, WireError};

/// Message types.
pub mod kind {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP_REQUEST: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;

    /// A query or its reply (echo, timestamp): the identifier at bytes 4..6 names the
    /// session, as a port does (RFC 5508 3.1).
    pub const fn is_query(t: u8) -> bool {
        matches!(t, ECHO_REQUEST | ECHO_REPLY | TIMESTAMP_REQUEST | TIMESTAMP_REPLY)
    }

    /// A query request: what opens an ICMP query session.
    pub const fn is_query_request(t: u8) -> bool {
        matches!(t, ECHO_REQUEST | TIMESTAMP_REQUEST)
    }
}

/// Destination-unreachable codes.
pub mod unreach {
    /// Net unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (carries the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Length of the ICMP header (type, code, checksum, 4 bytes rest-of-header).
pub const HEADER_LEN: usize = 8;

/// Bytes of the original datagram's payload an error quotes at least, after its IP header
/// (RFC 792): the ports of TCP and UDP, the identifier of an echo.
pub const QUOTE_L4_LEN: usize = 8;

/// The header length of the datagram quoted in an error's data `quote` (see
/// [`Icmpv4Packet::data`]), if the quote holds that header and [`QUOTE_L4_LEN`] bytes after
/// it. Only the header length is checked: the quoted version and total length describe the
/// original datagram, not the quote ([`Ipv4Packet::new_unchecked`] reads the quoted header).
#[inline]
pub fn quoted_header_len(quote: &[u8]) -> Option<usize> {
    if quote.len() < ipv4::HEADER_LEN {
        return None;
    }
    let hl = Ipv4Packet::new_unchecked(quote).header_len();
    (hl >= ipv4::HEADER_LEN && quote.len() >= hl + QUOTE_L4_LEN).then_some(hl)
}

/// A view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Checks the length (the buffer is the whole ICMP message).
    pub fn new_checked(buf: T) -> Result<Self> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv4Packet { buf })
    }
    /// Type.
    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[0]
    }
    /// Code.
    pub fn code(&self) -> u8 {
        self.buf.as_ref()[1]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }
    /// Echo identifier.
    pub fn echo_ident(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }
    /// Echo sequence number.
    pub fn echo_seq(&self) -> u16 {
        be16(self.buf.as_ref(), 6)
    }
    /// Bytes after the 8-byte header (echo data, or the embedded datagram of an error).
    pub fn data(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
    /// True if the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(0, self.buf.as_ref())) == 0xffff
    }
    /// True for error messages (which carry an embedded datagram).
    pub fn is_error(&self) -> bool {
        matches!(self.msg_type(), kind::DEST_UNREACHABLE | kind::TIME_EXCEEDED | kind::PARAM_PROBLEM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the type, updating the checksum incrementally.
    pub fn set_type_update(&mut self, t: u8) {
        let b = self.buf.as_mut();
        let old = be16(b, 0);
        b[0] = t;
        let c = checksum::update16(be16(b, 2), old, be16(b, 0));
        put16(b, 2, c);
    }
    /// Sets the echo identifier, updating the checksum incrementally.
    pub fn set_echo_ident_update(&mut self, id: u16) {
        let b = self.buf.as_mut();
        let c = checksum::update16(be16(b, 2), be16(b, 4), id);
        put16(b, 4, id);
        put16(b, 2, c);
    }
    /// Bytes after the 8-byte header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[HEADER_LEN..]
    }
    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        let b = self.buf.as_mut();
        put16(b, 2, 0);
        let c = checksum::checksum(b);
        put16(b, 2, c);
    }
    /// Writes type, code and the 4-byte rest of header, then the checksum over everything.
    pub fn fill(&mut self, msg_type: u8, code: u8, rest: u32) {
        let b = self.buf.as_mut();
        b[0] = msg_type;
        b[1] = code;
        put16(b, 2, 0);
        b[4..8].copy_from_slice(&rest.to_be_bytes());
        let c = checksum::checksum(b);
        put16(b, 2, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // echo request id 0x1234 seq 1, data "abcd"
    fn echo() -> [u8; 12] {
        let mut b = [8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd'];
        let c = checksum::checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn deconstruct() {
        let b = echo();
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.echo_ident(), p.echo_seq()), (8, 0, 0x1234, 1));
        assert_eq!(p.data(), b"abcd");
        assert!(p.verify_checksum() && !p.is_error());
        // by hand: 0800+0000+1234+0001+6162+6364 = 0xdefb -> !0xdefb
        assert_eq!(p.checksum(), 0x2104);
        assert_eq!(Icmpv4Packet::new_checked(&b[..7]).err(), Some(WireError::Truncated));
    }

    #[test]
    fn echo_to_reply_and_fill() {
        let mut b = echo();
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_type_update(kind::ECHO_REPLY);
        p.set_echo_ident_update(0xbeef);
        assert!(p.verify_checksum());
        assert_eq!(b[0], 0);
        let mut e = [0u8; 36];
        let mut p = Icmpv4Packet::new_checked(&mut e[..]).unwrap();
        p.fill(kind::DEST_UNREACHABLE, unreach::FRAG_NEEDED, 1450);
        assert!(p.verify_checksum() && p.is_error());
        assert_eq!(&e[4..8], &[0, 0, 0x05, 0xaa]);
    }

    #[test]
    fn quote_and_fill_checksum() {
        // Port unreachable quoting a DNS query 10.0.0.5:53000 -> 8.8.8.8:53 (header + 8 bytes).
        let mut m = [
            3u8, 3, 0, 0, 0, 0, 0, 0, 0x45, 0x00, 0x00, 0x28, 0x01, 0x01, 0x00, 0x00, 0x40, 0x11, 0x5f, 0xb0, 0x0a,
            0x00, 0x00, 0x05, 0x08, 0x08, 0x08, 0x08, 0xcf, 0x08, 0x00, 0x35, 0x00, 0x14, 0x03, 0x3f,
        ];
        let mut p = Icmpv4Packet::new_checked(&mut m[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum() && p.is_error());
        assert_eq!(p.checksum(), 0x2a6c);
        assert_eq!(quoted_header_len(p.data()), Some(20));
        let q = Ipv4Packet::new_unchecked(p.data());
        assert_eq!((q.src(), q.dst(), q.protocol(), q.total_len()), (0x0a00_0005, 0x0808_0808, 17, 40));
        p.data_mut()[0] = 0x46; // 24-byte header: the quote stops 4 bytes short
        assert_eq!(quoted_header_len(p.data()), None);
        p.data_mut()[0] = 0x44;
        assert_eq!(quoted_header_len(p.data()), None);
        assert_eq!(quoted_header_len(&m[8..35]), None);
        assert_eq!(quoted_header_len(&m[8..12]), None);
    }
}
