//! Typed, bounds-checked views over packet bytes, in the style of smoltcp's `wire`.
//!
//! Each protocol has a `XxxPacket<T: AsRef<[u8]>>` view whose `new_checked` validates the
//! lengths once, after which no accessor can panic; setters exist for `AsMut<[u8]>`. Field
//! offsets are declared once per protocol (`mod field`). Accessors take and return host-order
//! values. Every malformed input maps to a named [`WireError`].

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod flow;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use ethernet::{EtherType, EthernetFrame, EthernetRepr, MacAddr};
pub use flow::{Ipv4Flow, Ipv4Tuple};
pub use ipv4::{Ipv4Packet, Ipv4Repr};

use std::fmt;

/// Why bytes are not a valid header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// Shorter than the header (or than a length field says).
    Truncated,
    /// IPv4 version field is not 4.
    BadVersion,
    /// IPv4 IHL below 5, or TCP data offset below 5.
    BadHeaderLen,
    /// A total/length field is inconsistent with the header or the buffer.
    BadLength,
    /// A checksum does not verify.
    BadChecksum,
    /// ARP hardware type/length is not Ethernet.
    BadHardware,
    /// ARP protocol type/length is not IPv4.
    BadProtocol,
    /// ARP operation is neither request nor reply.
    BadOperation,
    /// The frame carries more VLAN tags than supported (two).
    TooManyTags,
    /// A VXLAN header without the I flag.
    BadVxlanFlags,
    /// An IPv4 fragment where a whole datagram is needed (a flow tuple).
    Fragment,
}

impl WireError {
    /// Kebab-case name for counters.
    pub const fn name(self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad-version",
            WireError::BadHeaderLen => "bad-header-len",
            WireError::BadLength => "bad-length",
            WireError::BadChecksum => "bad-checksum",
            WireError::BadHardware => "bad-hardware",
            WireError::BadProtocol => "bad-protocol",
            WireError::BadOperation => "bad-operation",
            WireError::TooManyTags => "too-many-tags",
            WireError::BadVxlanFlags => "bad-vxlan-flags",
            WireError::Fragment => "fragment",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for WireError {}

/// Result of wire parsing.
pub type Result<T> = std::result::Result<T, WireError>;

pub(crate) type Field = std::ops::Range<usize>;

#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// An IPv4 address in host order, printed dotted.
pub fn ip_str(a: u32) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}
