//! IPv4 headers (RFC 791), options kept opaque.

use super::checksum;
use super::{be16, be32, put16, put32, Result, WireError};

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// IP protocol numbers.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// DCCP.
    pub const DCCP: u8 = 33;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ESP.
    pub const ESP: u8 = 50;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;
}

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks version, IHL and total length against the buffer (which may be longer, e.g.
    /// Ethernet padding). The checksum is checked separately ([`Self::verify_checksum`]).
    pub fn new_checked(buf: T) -> Result<Self> {
        let p = Self::new_quoted(buf)?;
        let b = p.buf.as_ref();
        let tl = usize::from(be16(b, field::LENGTH));
        if tl < p.header_len() {
            return Err(WireError::BadLength);
        }
        if b.len() < tl {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }
    /// Checks version and IHL against the buffer, not the total length: the start of a
    /// datagram (the header and a few payload bytes kept of it). Only the header's fields
    /// and [`Self::present_payload`] may be read; [`Self::payload`] needs `new_checked`.
    pub fn new_quoted(buf: T) -> Result<Self> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if b.len() < hl {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Packet { buf })
    }
    /// The payload bytes the buffer holds, up to the total length.
    pub fn present_payload(&self) -> &[u8] {
        let b = self.buf.as_ref();
        let end = usize::from(self.total_len()).min(b.len()).max(self.header_len());
        &b[self.header_len()..end]
    }
    /// Wraps `buf` without any check, for a header whose length the caller checked another
    /// way: the start of a datagram quoted in an ICMP error, whose total length (and
    /// possibly version) describes the original. The fixed fields can be read and written
    /// when `buf` holds [`HEADER_LEN`] bytes; [`Self::options`], [`Self::payload`] and the
    /// checksum over the header need what [`Self::new_checked`] checks and panic otherwise.
    pub fn new_unchecked(buf: T) -> Self {
        Ipv4Packet { buf }
    }
    /// The inner buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    /// DSCP and ECN byte.
    pub fn dscp_ecn(&self) -> u8 {
        self.buf.as_ref()[field::DSCP_ECN]
    }
    /// Total length.
    pub fn total_len(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH)
    }
    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(self.buf.as_ref(), field::IDENT)
    }
    /// Don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.buf.as_ref()[field::FLG_OFF] & 0x40 != 0
    }
    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.buf.as_ref()[field::FLG_OFF] & 0x20 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buf.as_ref(), field::FLG_OFF) & 0x1fff) * 8
    }
    /// True for any fragment (MF set or offset non-zero).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[field::TTL]
    }
    /// Protocol.
    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[field::PROTOCOL]
    }
    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM)
    }
    /// Source address (host order).
    pub fn src(&self) -> u32 {
        be32(self.buf.as_ref(), field::SRC)
    }
    /// Destination address (host order).
    pub fn dst(&self) -> u32 {
        be32(self.buf.as_ref(), field::DST)
    }
    /// Options bytes.
    pub fn options(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// True if the header checksum verifies.
    #[inline(always)]
    pub fn verify_checksum(&self) -> bool {
        let b = self.buf.as_ref();
        match b.first_chunk::<HEADER_LEN>() {
            Some(h) if self.header_len() == HEADER_LEN => checksum::verifies20(h),
            // Options: rare, out of line, so the common case inlines into ip4-input.
            _ => verifies_with_options(&b[..self.header_len()]),
        }
    }
    /// The payload, up to the total length (Ethernet padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

/// True if the checksum of header `h` (with options) verifies.
#[cold]
#[inline(never)]
fn verifies_with_options(h: &[u8]) -> bool {
    checksum::fold(checksum::sum(0, h)) == 0xffff
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the TTL and updates the checksum incrementally.
    #[inline]
    pub fn set_ttl_update(&mut self, ttl: u8) {
        let b = self.buf.as_mut();
        let old = be16(b, field::TTL);
        b[field::TTL] = ttl;
        let new = be16(b, field::TTL);
        let c = checksum::update16(be16(b, field::CHECKSUM), old, new);
        put16(b, field::CHECKSUM, c);
    }
    /// Sets the source and updates the checksum incrementally.
    pub fn set_src_update(&mut self, a: u32) {
        let b = self.buf.as_mut();
        let c = checksum::update32(be16(b, field::CHECKSUM), be32(b, field::SRC), a);
        put32(b, field::SRC, a);
        put16(b, field::CHECKSUM, c);
    }
    /// Sets the destination and updates the checksum incrementally.
    pub fn set_dst_update(&mut self, a: u32) {
        let b = self.buf.as_mut();
        let c = checksum::update32(be16(b, field::CHECKSUM), be32(b, field::DST), a);
        put32(b, field::DST, a);
        put16(b, field::CHECKSUM, c);
    }
    /// Sets the header length (a multiple of 4, 20 to 60 bytes), without the checksum.
    pub fn set_header_len(&mut self, hl: usize) {
        let b = self.buf.as_mut();
        b[field::VER_IHL] = 0x40 | ((hl / 4) as u8 & 0x0f);
    }
    /// Sets the total length, without the checksum.
    pub fn set_total_len(&mut self, len: u16) {
        put16(self.buf.as_mut(), field::LENGTH, len);
    }
    /// Makes the packet a fragment at `offset` bytes (a multiple of 8) with more-fragments
    /// `more`; DF is cleared. Without the checksum.
    pub fn set_frag(&mut self, offset: u16, more: bool) {
        put16(self.buf.as_mut(), field::FLG_OFF, (u16::from(more) << 13) | ((offset / 8) & 0x1fff));
    }
    /// Recomputes the header checksum.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buf.as_mut();
        put16(b, field::CHECKSUM, 0);
        let c = checksum::checksum(&b[..hl]);
        put16(b, field::CHECKSUM, c);
    }
    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buf.as_mut()[hl..tl]
    }
}

/// Writes into `out` the options of `opts` that every fragment carries (those with the
/// copied flag, RFC 791 3.2: security, source routes), padded with end-of-list to a
/// multiple of 4 bytes; returns the length written. An option whose length runs past
/// `opts` ends the list. `out` must hold `opts.len()` bytes.
pub fn copied_options(opts: &[u8], out: &mut [u8]) -> usize {
    const END: u8 = 0;
    const NOP: u8 = 1;
    const COPIED: u8 = 0x80;
    let (mut at, mut n) = (0, 0);
    while at < opts.len() {
        let kind = opts[at];
        if kind == END {
            break;
        }
        if kind == NOP {
            at += 1;
            continue;
        }
        let len = opts.get(at + 1).map_or(0, |&l| usize::from(l));
        if len < 2 || at + len > opts.len() {
            break;
        }
        if kind & COPIED != 0 {
            out[n..n + len].copy_from_slice(&opts[at..at + len]);
            n += len;
        }
        at += len;
    }
    let padded = n.div_ceil(4) * 4;
    out[n..padded].fill(END);
    padded
}

/// An IPv4 header without options, in host form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source.
    pub src: u32,
    /// Destination.
    pub dst: u32,
    /// Protocol.
    pub protocol: u8,
    /// Payload length.
    pub payload_len: u16,
    /// TTL.
    pub ttl: u8,
    /// DSCP/ECN.
    pub dscp_ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Parses a checked packet, verifying the checksum; fragments and options are kept out
    /// of the representation (their presence is visible on the packet view).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        if !p.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        Ok(Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            payload_len: p.total_len() - p.header_len() as u16,
            ttl: p.ttl(),
            dscp_ecn: p.dscp_ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        })
    }
    /// Largest payload a 20-byte header can describe.
    pub const MAX_PAYLOAD: u16 = 65535 - HEADER_LEN as u16;

    /// Writes a 20-byte header with a valid checksum. A `payload_len` above
    /// [`Self::MAX_PAYLOAD`] cannot be represented: the total length is clamped to 65535.
    pub fn emit(&self, b: &mut [u8]) {
        b[field::VER_IHL] = 0x45;
        b[field::DSCP_ECN] = self.dscp_ecn;
        put16(b, field::LENGTH, self.payload_len.saturating_add(HEADER_LEN as u16));
        put16(b, field::IDENT, self.ident);
        put16(b, field::FLG_OFF, if self.dont_frag { 0x4000 } else { 0 });
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        put32(b, field::SRC, self.src);
        put32(b, field::DST, self.dst);
        put16(b, field::CHECKSUM, 0);
        let c = checksum::checksum(&b[..HEADER_LEN]);
        put16(b, field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copied_options_keep_only_options_with_the_copied_flag() {
        // NOP, record route (7: not copied), loose source route (0x83: copied), end
        let opts = [1, 7, 7, 4, 0, 0, 0, 0, 0x83, 7, 4, 192, 0, 2, 1, 0];
        let mut out = [0xff; 16];
        assert_eq!(copied_options(&opts, &mut out), 8);
        assert_eq!(&out[..8], &[0x83, 7, 4, 192, 0, 2, 1, 0]);
        // none copied: nothing; a length running past the end stops the walk
        assert_eq!(copied_options(&[7, 3, 4, 0], &mut out), 0);
        assert_eq!(copied_options(&[0x83, 9, 4, 0], &mut out), 0);
    }

    #[test]
    fn fragment_fields_are_set() {
        let mut b = [0u8; 24];
        Ipv4Repr { src: 1, dst: 2, protocol: 17, payload_len: 4, ttl: 9, dscp_ecn: 0, ident: 7, dont_frag: true }
            .emit(&mut b[..20]);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_frag(1480, true);
        p.set_total_len(24);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.frag_offset(), p.more_frags(), p.dont_frag(), p.total_len()), (1480, true, false, 24));
        assert!(p.verify_checksum());
    }

    use super::*;

    // 192.0.2.1 -> 198.51.100.7, UDP, TTL 64, id 0x1c46, DF, 8 bytes of payload.
    pub(crate) const PACKET: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 192, 0, 2, 1, 198, 51, 100, 7, 0x30,
        0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
    ];

    fn packet() -> [u8; 28] {
        let mut p = PACKET;
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn deconstruct() {
        let b = packet();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), proto::UDP);
        assert_eq!(p.src(), 0xc000_0201);
        assert_eq!(p.dst(), 0xc633_6407);
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &b[20..28]);
        // by hand: 4500+001c+1c46+4000+4011+c000+0201+c633+6407 = 0x2_cdae -> cdb0 -> !cdb0
        assert_eq!(p.checksum(), 0x324f);
    }

    #[test]
    fn construct_round_trip() {
        let b = packet();
        let r = Ipv4Repr::parse(&Ipv4Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.payload_len, 8);
        let mut out = [0u8; 28];
        r.emit(&mut out);
        out[20..].copy_from_slice(&b[20..]);
        assert_eq!(out, b);
    }

    #[test]
    fn malformed_is_named() {
        let b = packet();
        let e = |x: &[u8]| Ipv4Packet::new_checked(x).err();
        assert_eq!(e(&b[..19]), Some(WireError::Truncated));
        let mut v = b;
        v[0] = 0x65;
        assert_eq!(e(&v), Some(WireError::BadVersion));
        let mut v = b;
        v[0] = 0x44;
        assert_eq!(e(&v), Some(WireError::BadHeaderLen));
        let mut v = b;
        v[0] = 0x48; // 32-byte header in a 28-byte buffer
        assert_eq!(e(&v), Some(WireError::Truncated));
        let mut v = b;
        v[3] = 19;
        assert_eq!(e(&v), Some(WireError::BadLength));
        let mut v = b;
        v[3] = 40;
        assert_eq!(e(&v), Some(WireError::Truncated));
        let mut v = b;
        v[8] = 1;
        let p = Ipv4Packet::new_checked(&v[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p), Err(WireError::BadChecksum));
    }

    #[test]
    fn padding_is_excluded_and_options_exposed() {
        let mut v = [0u8; 60];
        v[..28].copy_from_slice(&packet());
        let p = Ipv4Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.payload().len(), 8);
        let mut o = [0u8; 32];
        o[..20].copy_from_slice(&packet()[..20]);
        o[0] = 0x46;
        o[3] = 32;
        o[20..24].copy_from_slice(&[1, 1, 1, 0]);
        let mut p = Ipv4Packet::new_checked(&mut o[..]).unwrap();
        p.fill_checksum();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn incremental_setters_keep_checksum_valid() {
        let mut b = packet();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_ttl_update(63);
        assert!(p.verify_checksum());
        p.set_src_update(0xcb00_7101);
        p.set_dst_update(0x0a00_0001);
        assert!(p.verify_checksum());
        assert_eq!((p.ttl(), p.src(), p.dst()), (63, 0xcb00_7101, 0x0a00_0001));
    }
}
