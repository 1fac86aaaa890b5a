//! VXLAN (RFC 7348): the 8-byte header after UDP port 4789.
//!
//! `flags(8) reserved(24) VNI(24) reserved(8)`; the I flag (0x08) must be set for a valid
//! VNI. Receivers ignore the reserved bits; senders write them as zero.

use super::{be32, Result, WireError};

/// Header length.
pub const HEADER_LEN: usize = 8;
/// The IANA port.
pub const PORT: u16 = 4789;
/// The I flag: the VNI is valid.
pub const FLAG_I: u8 = 0x08;
/// Bytes VXLAN adds in front of an untagged inner frame: outer Ethernet, IPv4, UDP, VXLAN.
pub const OVERHEAD: usize = 14 + 20 + 8 + HEADER_LEN;

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
        if b[0] & FLAG_I == 0 {
            return Err(WireError::BadVxlanFlags);
        }
        Ok(VxlanPacket { buf })
    }
    /// The 24-bit VNI.
    pub fn vni(&self) -> u32 {
        be32(self.buf.as_ref(), 4) >> 8
    }
    /// The inner Ethernet frame.
    pub fn inner(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

/// Writes a VXLAN header for `vni` (I flag set, reserved bits zero).
pub fn emit(out: &mut [u8], vni: u32) {
    out[0] = FLAG_I;
    out[1..4].fill(0);
    out[4..8].copy_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

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
