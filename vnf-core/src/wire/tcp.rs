//! TCP headers (RFC 9293): the fields a router and a connection tracker need.

use super::checksum;
use super::ipv4::proto;
use super::{be16, be32, put16, put32, Result, WireError};

mod field {
    use crate::wire::Field;
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: usize = 18;
}

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

/// Option kinds.
pub mod option {
    /// End of option list.
    pub const END: u8 = 0;
    /// No operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size (4 bytes: kind, length, value).
    pub const MSS: u8 = 2;
    /// Window scale (RFC 7323), 3 bytes.
    pub const WINDOW_SCALE: u8 = 3;
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
        let off = usize::from(b[field::DATA_OFF] >> 4) * 4;
        if off < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if off > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(TcpPacket { buf })
    }
    /// Wraps `buf` without any check, for a header whose length the caller checked another
    /// way: a segment whose data offset is not trusted, or the start of one quoted in an ICMP
    /// error (at least 8 bytes: ports and sequence number). An accessor panics if its field
    /// lies beyond `buf` ([`Self::has_checksum`] tells for the checksum); [`Self::options`]
    /// and [`Self::payload`] need what [`Self::new_checked`] checks.
    pub fn new_unchecked(buf: T) -> Self {
        TcpPacket { buf }
    }
    /// The inner buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
    /// True if the buffer reaches past the checksum field: always after
    /// [`Self::new_checked`]; a quote in an ICMP error may stop short of it.
    pub fn has_checksum(&self) -> bool {
        self.buf.as_ref().len() >= field::CHECKSUM.end
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::SRC_PORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::DST_PORT)
    }
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.buf.as_ref(), field::SEQ)
    }
    /// Acknowledgement number.
    pub fn ack(&self) -> u32 {
        be32(self.buf.as_ref(), field::ACK)
    }
    /// Header length (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[field::DATA_OFF] >> 4) * 4
    }
    /// Flag byte (FIN..URG, ECE, CWR).
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[field::FLAGS]
    }
    /// Window.
    pub fn window(&self) -> u16 {
        be16(self.buf.as_ref(), field::WINDOW)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(self.buf.as_ref(), field::URGENT)
    }
    /// Options.
    pub fn options(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// The maximum segment size option (kind 2, RFC 9293 3.7.1) and its offset in the
    /// segment, if the options hold a well-formed one. The walk stops at an end-of-list
    /// option or at an option whose length is malformed. Needs [`Self::new_checked`].
    pub fn mss(&self) -> Option<(usize, u16)> {
        let o = self.options();
        let mut at = 0;
        while at < o.len() {
            match o[at] {
                option::END => return None,
                option::NOP => at += 1,
                kind => {
                    let len = usize::from(*o.get(at + 1)?);
                    if len < 2 || at + len > o.len() {
                        return None;
                    }
                    if kind == option::MSS {
                        return (len == 4).then(|| (HEADER_LEN + at + 2, be16(o, at + 2)));
                    }
                    at += len;
                }
            }
        }
        None
    }
    /// Payload.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }
    /// The shift of the window scale option (RFC 7323 2.2), if the options hold a
    /// well-formed one (a shift above 14 is read as 14, as the RFC says).
    pub fn window_scale(&self) -> Option<u8> {
        window_scale(self.options())
    }
    /// True if the checksum verifies with the pseudo-header.
    pub fn verify_checksum(&self, src: u32, dst: u32) -> bool {
        let b = self.buf.as_ref();
        let Ok(len) = u16::try_from(b.len()) else { return false };
        checksum::fold(checksum::sum(checksum::pseudo_header(src, dst, proto::TCP, len), b)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port, leaving the checksum alone.
    pub fn set_src_port(&mut self, p: u16) {
        put16(self.buf.as_mut(), field::SRC_PORT, p);
    }
    /// Sets the destination port, leaving the checksum alone.
    pub fn set_dst_port(&mut self, p: u16) {
        put16(self.buf.as_mut(), field::DST_PORT, p);
    }
    /// Sets the source port, updating the checksum.
    pub fn set_src_port_update(&mut self, p: u16) {
        self.set16_update(field::SRC_PORT, p);
    }
    /// Sets the destination port, updating the checksum.
    pub fn set_dst_port_update(&mut self, p: u16) {
        self.set16_update(field::DST_PORT, p);
    }
    /// Updates the checksum for an address change in the pseudo-header.
    pub fn update_for_addr(&mut self, old: u32, new: u32) {
        let b = self.buf.as_mut();
        let c = checksum::update32(be16(b, field::CHECKSUM.start), old, new);
        put16(b, field::CHECKSUM.start, c);
    }
    fn set16_update(&mut self, at: usize, v: u16) {
        let b = self.buf.as_mut();
        let c = checksum::update16(be16(b, field::CHECKSUM.start), be16(b, at), v);
        put16(b, at, v);
        put16(b, field::CHECKSUM.start, c);
    }
    /// Lowers the maximum segment size option to `max` if it is above (MSS clamping,
    /// RFC 4459 2.3), updating the checksum. True if it was changed. Needs
    /// [`Self::new_checked`].
    pub fn clamp_mss(&mut self, max: u16) -> bool {
        match self.mss() {
            Some((at, v)) if v > max => {
                self.set16_update(at, max);
                true
            }
            _ => false,
        }
    }
    /// Recomputes the checksum.
    pub fn fill_checksum(&mut self, src: u32, dst: u32) {
        let b = self.buf.as_mut();
        let len = b.len() as u16;
        put16(b, field::CHECKSUM.start, 0);
        let c = !checksum::fold(checksum::sum(checksum::pseudo_header(src, dst, proto::TCP, len), b));
        put16(b, field::CHECKSUM.start, c);
    }
}

/// The window scale shift in an option list (a SYN's options), if a well-formed option is
/// there; a truncated or malformed list stops the search.
pub fn window_scale(opts: &[u8]) -> Option<u8> {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            option::END => return None,
            option::NOP => i += 1,
            _ => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 || i + len > opts.len() {
                    return None;
                }
                if kind == option::WINDOW_SCALE && len == 3 {
                    return Some(opts[i + 2].min(14));
                }
                i += len;
            }
        }
    }
    None
}

/// A TCP header without options, in host form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag byte ([`flags`]).
    pub flags: u8,
    /// Window.
    pub window: u16,
}

impl TcpRepr {
    /// Parses a checked segment, verifying its checksum with the pseudo-header of `src` and
    /// `dst`. Options and the urgent pointer are kept out of the representation (they are
    /// visible on the view).
    pub fn parse<T: AsRef<[u8]>>(p: &TcpPacket<T>, src: u32, dst: u32) -> Result<TcpRepr> {
        if !p.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq(),
            ack: p.ack(),
            flags: p.flags(),
            window: p.window(),
        })
    }

    /// Writes a header without options into the first [`HEADER_LEN`] bytes of `b` (panics if
    /// shorter): data offset 5, checksum and urgent pointer 0. Once the payload follows it,
    /// [`TcpPacket::fill_checksum`] over the whole segment completes it.
    pub fn emit(&self, b: &mut [u8]) {
        let b = &mut b[..HEADER_LEN];
        put16(b, field::SRC_PORT, self.src_port);
        put16(b, field::DST_PORT, self.dst_port);
        put32(b, field::SEQ, self.seq);
        put32(b, field::ACK, self.ack);
        b[field::DATA_OFF] = ((HEADER_LEN / 4) << 4) as u8;
        b[field::FLAGS] = self.flags;
        put16(b, field::WINDOW, self.window);
        put16(b, field::CHECKSUM.start, 0);
        put16(b, field::URGENT, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.0.2.1:40000 -> 198.51.100.7:80, PSH|ACK seq 1001 ack 0x1f2e3d4d window 502,
    // "GET / HTTP/1.0\r\n\r\n", no options.
    const SRC: u32 = 0xc000_0201;
    const DST: u32 = 0xc633_6407;
    const SEGMENT: [u8; 38] = [
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe9, 0x1f, 0x2e, 0x3d, 0x4d, 0x50, 0x18, 0x01, 0xf6, 0xe5, 0xf3,
        0x00, 0x00, 0x47, 0x45, 0x54, 0x20, 0x2f, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x30, 0x0d, 0x0a,
        0x0d, 0x0a,
    ];
    const REPR: TcpRepr = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1001,
        ack: 0x1f2e_3d4d,
        flags: flags::PSH | flags::ACK,
        window: 502,
    };

    #[test]
    fn test_parse() {
        let p = TcpPacket::new_checked(&SEGMENT[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST), Ok(REPR));
        assert_eq!((p.checksum(), p.urgent(), p.payload()), (0xe5f3, 0, &b"GET / HTTP/1.0\r\n\r\n"[..]));
        assert_eq!(TcpRepr::parse(&p, SRC, DST + 1), Err(WireError::BadChecksum));
        // Options stay on the view.
        let b = syn();
        let r = TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap(), SRC, DST).unwrap();
        assert_eq!((r.seq, r.flags, r.window), (1000, flags::SYN, 64240));
    }

    #[test]
    fn test_emit_and_round_trip() {
        let mut b = [0xaau8; 38];
        REPR.emit(&mut b);
        assert_eq!(&b[..HEADER_LEN], &[&SEGMENT[..16], &[0, 0, 0, 0][..]].concat()[..]);
        assert_eq!(&b[HEADER_LEN..], &[0xaa; 18], "only the header is written");
        b[HEADER_LEN..].copy_from_slice(&SEGMENT[HEADER_LEN..]);
        TcpPacket::new_checked(&mut b[..]).unwrap().fill_checksum(SRC, DST);
        assert_eq!(b, SEGMENT);
    }

    #[test]
    fn unchecked_view_of_a_quote() {
        // The first 8 bytes, as an ICMP error quotes them: ports, no checksum.
        let mut q = [0u8; 8];
        q.copy_from_slice(&SEGMENT[..8]);
        let mut p = TcpPacket::new_unchecked(&mut q[..]);
        assert!(!p.has_checksum());
        assert_eq!((p.src_port(), p.dst_port(), p.seq()), (40000, 80, 1001));
        p.set_src_port(1025);
        p.set_dst_port(8080);
        assert_eq!(&q[..4], &[0x04, 0x01, 0x1f, 0x90]);
        assert!(TcpPacket::new_unchecked(&SEGMENT[..18]).has_checksum());
    }

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
    fn window_scale_option() {
        // A Linux SYN's options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
        let linux = [
            0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x9d, 0x2e, 0x5a, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03,
            0x03, 0x07,
        ];
        assert_eq!(window_scale(&linux), Some(7));
        let mut b = [0u8; 40];
        b[..20].copy_from_slice(&syn()[..20]);
        b[12] = 0xa0; // data offset 10: 20 bytes of options
        b[20..].copy_from_slice(&linux);
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap().window_scale(), Some(7));
        assert_eq!(TcpPacket::new_checked(&syn()[..]).unwrap().window_scale(), None, "MSS only");
        assert_eq!(window_scale(&[1, 1, 3, 3, 15]), Some(14), "a shift above 14 counts as 14");
        assert_eq!(window_scale(&[0, 3, 3, 7]), None, "after the end of the list");
        assert_eq!(window_scale(&[3, 3]), None, "truncated");
        assert_eq!(window_scale(&[8, 0, 3, 3, 7]), None, "a length of 0 stops the search");
        assert_eq!(window_scale(&[3, 4, 7, 0]), None, "wrong length");
        assert_eq!(window_scale(&[]), None);
    }

    #[test]
    fn mss_option_is_found_and_clamped_with_the_checksum() {
        let mut b = syn();
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.mss(), Some((22, 1460)));
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        assert!(!p.clamp_mss(1460), "not above");
        assert!(p.clamp_mss(1360));
        assert_eq!(&b[20..24], &[2, 4, 0x05, 0x50]);
        let mut want = b;
        want[16..18].fill(0);
        TcpPacket::new_checked(&mut want[..]).unwrap().fill_checksum(0xc000_0201, 0xc633_6407);
        assert_eq!(b, want, "incremental checksum equals recomputation");
        // After NOPs and another option; malformed lengths end the walk without a panic.
        let mut o = [0u8; 32];
        o[..20].copy_from_slice(&syn()[..20]);
        o[12] = 8 << 4;
        o[20..32].copy_from_slice(&[1, 1, 4, 2, 2, 4, 0x05, 0xb4, 0, 0, 0, 0]);
        assert_eq!(TcpPacket::new_checked(&o[..]).unwrap().mss(), Some((26, 1460)));
        for bad in [[1, 1, 4, 0], [1, 3, 9, 0], [0, 2, 4, 5], [2, 3, 5, 0]] {
            o[20..24].copy_from_slice(&bad);
            o[24..28].fill(0);
            assert_eq!(TcpPacket::new_checked(&o[..]).unwrap().mss(), None, "{bad:?}");
        }
        assert_eq!(TcpPacket::new_checked(&SEGMENT[..]).unwrap().mss(), None, "no options");
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
