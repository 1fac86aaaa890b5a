//! ARP for IPv4 over Ethernet (RFC 826).

use super::ethernet::{mac_at, EtherType, MacAddr};
use super::{be16, be32, put16, put32, Result, WireError};

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// ARP operation: request.
pub const OP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const OP_REPLY: u16 = 2;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Checks length, hardware (Ethernet, 6), protocol (IPv4, 4) and operation.
    pub fn new_checked(buf: T) -> Result<Self> {
        let b = buf.as_ref();
        if b.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, field::HTYPE) != 1 || b[field::HLEN] != 6 {
            return Err(WireError::BadHardware);
        }
        if be16(b, field::PTYPE) != EtherType::IPV4 || b[field::PLEN] != 4 {
            return Err(WireError::BadProtocol);
        }
        let op = be16(b, field::OPER);
        if op != OP_REQUEST && op != OP_REPLY {
            return Err(WireError::BadOperation);
        }
        Ok(ArpPacket { buf })
    }
    /// Operation.
    pub fn operation(&self) -> u16 {
        be16(self.buf.as_ref(), field::OPER)
    }
    /// Sender hardware address.
    pub fn sender_mac(&self) -> MacAddr {
        mac_at(self.buf.as_ref(), field::SHA)
    }
    /// Sender protocol address.
    pub fn sender_ip(&self) -> u32 {
        be32(self.buf.as_ref(), field::SPA)
    }
    /// Target hardware address.
    pub fn target_mac(&self) -> MacAddr {
        mac_at(self.buf.as_ref(), field::THA)
    }
    /// Target protocol address.
    pub fn target_ip(&self) -> u32 {
        be32(self.buf.as_ref(), field::TPA)
    }
}

/// An ARP message in host form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    /// [`OP_REQUEST`] or [`OP_REPLY`].
    pub operation: u16,
    /// Sender MAC.
    pub sender_mac: MacAddr,
    /// Sender IPv4.
    pub sender_ip: u32,
    /// Target MAC (zero in requests).
    pub target_mac: MacAddr,
    /// Target IPv4.
    pub target_ip: u32,
}

impl ArpRepr {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> ArpRepr {
        ArpRepr {
            operation: p.operation(),
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        }
    }
    /// Writes the 28-byte packet.
    pub fn emit(&self, b: &mut [u8]) {
        put16(b, field::HTYPE, 1);
        put16(b, field::PTYPE, EtherType::IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        put16(b, field::OPER, self.operation);
        b[field::SHA..field::SHA + 6].copy_from_slice(&self.sender_mac.0);
        put32(b, field::SPA, self.sender_ip);
        b[field::THA..field::THA + 6].copy_from_slice(&self.target_mac.0);
        put32(b, field::TPA, self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // who-has 192.0.2.254 tell 192.0.2.1 (from 02:00:00:00:00:01)
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 192, 0, 2, 1, 0, 0, 0, 0,
        0, 0, 192, 0, 2, 254,
    ];

    #[test]
    fn deconstruct_and_construct() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        let r = ArpRepr::parse(&p);
        assert_eq!(
            r,
            ArpRepr {
                operation: OP_REQUEST,
                sender_mac: MacAddr([2, 0, 0, 0, 0, 1]),
                sender_ip: 0xc000_0201,
                target_mac: MacAddr::default(),
                target_ip: 0xc000_02fe
            }
        );
        let mut out = [0xaau8; 28];
        r.emit(&mut out);
        assert_eq!(out, REQUEST);
    }

    #[test]
    fn malformed_is_named() {
        assert_eq!(ArpPacket::new_checked(&REQUEST[..27]).err(), Some(WireError::Truncated));
        let mut b = REQUEST;
        b[1] = 6;
        assert_eq!(ArpPacket::new_checked(&b[..]).err(), Some(WireError::BadHardware));
        let mut b = REQUEST;
        b[5] = 16;
        assert_eq!(ArpPacket::new_checked(&b[..]).err(), Some(WireError::BadProtocol));
        let mut b = REQUEST;
        b[7] = 3;
        assert_eq!(ArpPacket::new_checked(&b[..]).err(), Some(WireError::BadOperation));
    }
}
