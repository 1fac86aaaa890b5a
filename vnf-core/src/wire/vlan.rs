//! 802.1Q (C-tag, TPID 0x8100) and 802.1ad (S-tag, TPID 0x88a8) VLAN tags, and the parse of
//! an Ethernet header with up to two tags.

use super::ethernet::{mac_at, EtherType, MacAddr};
use super::{be16, put16, Result, WireError};

/// Length of one 802.1Q or 802.1ad tag (TPID + TCI).
pub const TAG_LEN: usize = 4;

/// One VLAN tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Tag {
    /// The TPID that introduced it (0x8100 or 0x88a8).
    pub tpid: u16,
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN id (12 bits; 0 means priority-tagged only).
    pub vid: u16,
}

impl Tag {
    /// A C-tag for `vid` with priority 0.
    pub fn c(vid: u16) -> Tag {
        Tag { tpid: EtherType::VLAN, pcp: 0, dei: false, vid }
    }
    /// An S-tag for `vid` with priority 0.
    pub fn s(vid: u16) -> Tag {
        Tag { tpid: EtherType::QINQ, pcp: 0, dei: false, vid }
    }
    /// The 16-bit tag control information.
    pub fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }
    /// Decodes a TPID and TCI.
    pub fn from_tci(tpid: u16, tci: u16) -> Tag {
        Tag { tpid, pcp: (tci >> 13) as u8, dei: tci & 0x1000 != 0, vid: tci & 0x0fff }
    }
    /// Writes TPID + TCI into 4 bytes.
    pub fn emit(&self, out: &mut [u8]) {
        put16(out, 0, self.tpid);
        put16(out, 2, self.tci());
    }
}

/// True for the TPIDs recognised as VLAN tags.
#[inline]
pub fn is_tpid(t: u16) -> bool {
    t == EtherType::VLAN || t == EtherType::QINQ
}

/// The VLAN tags, EtherType and L3 offset of a frame, without the MACs: what the fast path
/// keeps per packet (MACs are read from the packet where needed). Tags are kept raw (TPID in
/// the high 16 bits, TCI in the low) so the value stays in whole, aligned words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Info {
    /// Raw tags in wire order (outer first): `tpid << 16 | tci`; `ntags` are valid.
    pub raw_tags: [u32; 2],
    /// Number of tags (0..=2).
    pub ntags: u8,
    /// The EtherType after the tags.
    pub ethertype: u16,
    /// Offset of the L3 header.
    pub l3_offset: usize,
}

impl L2Info {
    /// Parses the tags of an Ethernet frame (at most two; a third is
    /// [`WireError::TooManyTags`]).
    #[inline]
    pub fn parse(b: &[u8]) -> Result<L2Info> {
        if b.len() < 14 {
            return Err(WireError::Truncated);
        }
        // Unrolled (no indexed writes) so the result stays in registers.
        let et = be16(b, 12);
        if !is_tpid(et) {
            return Ok(L2Info { raw_tags: [0, 0], ntags: 0, ethertype: et, l3_offset: 14 });
        }
        if b.len() < 18 {
            return Err(WireError::Truncated);
        }
        let t0 = (u32::from(et) << 16) | u32::from(be16(b, 14));
        let et = be16(b, 16);
        if !is_tpid(et) {
            return Ok(L2Info { raw_tags: [t0, 0], ntags: 1, ethertype: et, l3_offset: 18 });
        }
        if b.len() < 22 {
            return Err(WireError::Truncated);
        }
        let t1 = (u32::from(et) << 16) | u32::from(be16(b, 18));
        let et = be16(b, 20);
        if is_tpid(et) {
            return Err(WireError::TooManyTags);
        }
        Ok(L2Info { raw_tags: [t0, t1], ntags: 2, ethertype: et, l3_offset: 22 })
    }

    /// Tag `i` decoded (a zero tag past `ntags`).
    #[inline]
    pub fn tag(&self, i: usize) -> Tag {
        match self.raw_tags.get(i) {
            Some(&r) if i < usize::from(self.ntags) => Tag::from_tci((r >> 16) as u16, r as u16),
            _ => Tag::default(),
        }
    }

    /// The valid tags, decoded.
    pub fn tags(&self) -> Vec<Tag> {
        (0..usize::from(self.ntags)).map(|i| self.tag(i)).collect()
    }

    /// Priority of the innermost tag (0 untagged).
    #[inline]
    pub fn pcp(&self) -> u8 {
        if self.ntags == 0 {
            0
        } else {
            (self.raw_tags[usize::from(self.ntags - 1) & 1] >> 13) as u8 & 7
        }
    }

    /// Priority and drop eligibility of the innermost tag, the top four bits of its TCI
    /// (PCP << 1 | DEI; 0 untagged).
    #[inline]
    pub fn prio(&self) -> u8 {
        if self.ntags == 0 {
            0
        } else {
            (self.raw_tags[usize::from(self.ntags - 1) & 1] >> 12) as u8 & 0xf
        }
    }
}

/// The Ethernet header of a frame with its VLAN tags decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Header {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// The tags in wire order (outer first); `ntags` are valid.
    pub tags: [Tag; 2],
    /// Number of tags (0..=2).
    pub ntags: u8,
    /// The EtherType after the tags.
    pub ethertype: u16,
    /// Offset of the L3 header.
    pub l3_offset: usize,
}

impl L2Header {
    /// Parses the Ethernet header and up to two VLAN tags. A third tag is refused
    /// ([`WireError::TooManyTags`]).
    pub fn parse(b: &[u8]) -> Result<L2Header> {
        let i = L2Info::parse(b)?;
        Ok(L2Header {
            dst: mac_at(b, 0),
            src: mac_at(b, 6),
            tags: [i.tag(0), i.tag(1)],
            ntags: i.ntags,
            ethertype: i.ethertype,
            l3_offset: i.l3_offset,
        })
    }

    /// The valid tags.
    pub fn tags(&self) -> &[Tag] {
        &self.tags[..self.ntags as usize]
    }
}

/// Writes `tags` (outer first) after the MAC addresses of `hdr`, which must be exactly
/// `12 + 4 * tags.len() + 2` bytes with the MACs in place; `ethertype` follows the tags.
pub fn emit_tags(hdr: &mut [u8], tags: &[Tag], ethertype: u16) {
    let mut at = 12;
    for t in tags {
        t.emit(&mut hdr[at..at + 4]);
        at += 4;
    }
    put16(hdr, at, ethertype);
}

#[cfg(test)]
mod tests {
    use super::*;

    const QINQ_FRAME: [u8; 26] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, // macs
        0x88, 0xa8, 0xa0, 0x64, // S-tag pcp 5 vid 100
        0x81, 0x00, 0x30, 0x0a, // C-tag pcp 1 dei 1 vid 10
        0x08, 0x00, 0x45, 0, 0, 0,
    ];

    #[test]
    fn parses_two_tags() {
        let h = L2Header::parse(&QINQ_FRAME).unwrap();
        assert_eq!(h.ntags, 2);
        assert_eq!(h.tags[0], Tag { tpid: 0x88a8, pcp: 5, dei: false, vid: 100 });
        assert_eq!(h.tags[1], Tag { tpid: 0x8100, pcp: 1, dei: true, vid: 10 });
        assert_eq!(h.ethertype, 0x0800);
        assert_eq!(h.l3_offset, 22);
        assert_eq!(h.src, MacAddr([2, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn untagged_and_errors() {
        let h = L2Header::parse(&QINQ_FRAME[..]).unwrap();
        assert_eq!(h.tags().len(), 2);
        let mut u = QINQ_FRAME;
        u[12] = 0x08;
        u[13] = 0x06;
        let h = L2Header::parse(&u).unwrap();
        assert_eq!((h.ntags, h.ethertype, h.l3_offset), (0, 0x0806, 14));
        assert_eq!(L2Header::parse(&QINQ_FRAME[..17]), Err(WireError::Truncated));
        assert_eq!(L2Header::parse(&QINQ_FRAME[..13]), Err(WireError::Truncated));
        let mut three = QINQ_FRAME;
        three[20] = 0x81;
        three[21] = 0x00;
        assert_eq!(L2Header::parse(&three), Err(WireError::TooManyTags));
    }

    #[test]
    fn tag_round_trip_and_emit() {
        for tci in [0u16, 1, 0x0fff, 0x1000, 0xe00a, 0xffff] {
            assert_eq!(Tag::from_tci(0x8100, tci).tci(), tci);
        }
        let mut hdr = [0u8; 22];
        hdr[..12].copy_from_slice(&QINQ_FRAME[..12]);
        emit_tags(
            &mut hdr,
            &[Tag { tpid: 0x88a8, pcp: 5, dei: false, vid: 100 }, Tag { tpid: 0x8100, pcp: 1, dei: true, vid: 10 }],
            0x0800,
        );
        assert_eq!(&hdr[..], &QINQ_FRAME[..22]);
    }
}
