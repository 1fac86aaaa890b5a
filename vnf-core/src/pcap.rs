//! The classic pcap file format (microsecond or nanosecond timestamps, either byte order),
//! encoded to and decoded from bytes. File I/O is left to the caller.

/// Link type of Ethernet frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Timestamp in nanoseconds.
    pub ts_ns: u64,
    /// Length on the wire.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// Why a pcap could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcapError {
    /// Shorter than the 24-byte file header.
    TruncatedHeader,
    /// Unknown magic number.
    BadMagic(u32),
    /// Not Ethernet.
    LinkType(u32),
    /// A record header or body runs past the end of the file.
    TruncatedRecord(usize),
}

impl std::fmt::Display for PcapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PcapError::TruncatedHeader => write!(f, "pcap: file shorter than its header"),
            PcapError::BadMagic(m) => write!(f, "pcap: unknown magic {m:#010x}"),
            PcapError::LinkType(l) => write!(f, "pcap: link type {l} is not Ethernet"),
            PcapError::TruncatedRecord(i) => write!(f, "pcap: record {i} is truncated"),
        }
    }
}

impl std::error::Error for PcapError {}

/// The 24-byte file header (microsecond timestamps, little endian, Ethernet).
pub fn header(snaplen: u32) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&MAGIC_US.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&snaplen.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// Appends one record (microsecond timestamp) to `out`.
pub fn push_record(out: &mut Vec<u8>, ts_ns: u64, frame: &[u8]) {
    let secs = (ts_ns / 1_000_000_000) as u32;
    let usecs = ((ts_ns % 1_000_000_000) / 1000) as u32;
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&usecs.to_le_bytes());
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(frame);
}

/// A whole pcap file holding `frames`, timestamps 1 µs apart.
pub fn encode<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = header(65535).to_vec();
    for (i, f) in frames.into_iter().enumerate() {
        push_record(&mut out, i as u64 * 1000, f);
    }
    out
}

/// Decodes a whole pcap file.
pub fn decode(bytes: &[u8]) -> Result<Vec<Record>, PcapError> {
    if bytes.len() < 24 {
        return Err(PcapError::TruncatedHeader);
    }
    let le = u32::from_le_bytes(bytes[0..4].try_into().unwrap_or_default());
    let (big, nanos) = match le {
        MAGIC_US => (false, false),
        MAGIC_NS => (false, true),
        m if m.swap_bytes() == MAGIC_US => (true, false),
        m if m.swap_bytes() == MAGIC_NS => (true, true),
        m => return Err(PcapError::BadMagic(m)),
    };
    let rd = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap_or_default();
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let link = rd(&bytes[20..24]);
    if link != LINKTYPE_ETHERNET {
        return Err(PcapError::LinkType(link));
    }
    let mut out = Vec::new();
    let mut off = 24;
    while off < bytes.len() {
        let i = out.len();
        let h = bytes.get(off..off + 16).ok_or(PcapError::TruncatedRecord(i))?;
        let (sec, frac, incl, orig) = (rd(&h[0..4]), rd(&h[4..8]), rd(&h[8..12]) as usize, rd(&h[12..16]));
        let data = bytes.get(off + 16..off + 16 + incl).ok_or(PcapError::TruncatedRecord(i))?;
        let ts_ns = sec as u64 * 1_000_000_000 + if nanos { frac as u64 } else { frac as u64 * 1000 };
        out.push(Record { ts_ns, orig_len: orig, data: data.to_vec() });
        off += 16 + incl;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let frames: Vec<Vec<u8>> = vec![vec![1; 60], vec![2; 1514], vec![]];
        let bytes = encode(frames.iter().map(|f| f.as_slice()));
        assert_eq!(bytes.len(), 24 + 3 * 16 + 60 + 1514);
        let recs = decode(&bytes).unwrap();
        assert_eq!(recs.len(), 3);
        for (r, f) in recs.iter().zip(&frames) {
            assert_eq!(&r.data, f);
            assert_eq!(r.orig_len as usize, f.len());
        }
        assert_eq!(recs[1].ts_ns, 1000);
    }

    #[test]
    fn big_endian_nanosecond_files_decode() {
        let mut b = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&5u32.to_be_bytes());
        b.extend_from_slice(&3u32.to_be_bytes());
        b.extend_from_slice(&3u32.to_be_bytes());
        b.extend_from_slice(&[7, 8, 9]);
        let r = decode(&b).unwrap();
        assert_eq!(r, vec![Record { ts_ns: 2_000_000_005, orig_len: 3, data: vec![7, 8, 9] }]);
    }

    #[test]
    fn broken_files_are_refused() {
        assert_eq!(decode(&[0; 10]), Err(PcapError::TruncatedHeader));
        assert_eq!(decode(&[0; 24]), Err(PcapError::BadMagic(0)));
        let mut b = encode([&[1u8, 2, 3][..]]);
        b.truncate(b.len() - 1);
        assert_eq!(decode(&b), Err(PcapError::TruncatedRecord(0)));
        let mut b = header(100).to_vec();
        b[20] = 101;
        assert_eq!(decode(&b), Err(PcapError::LinkType(101)));
    }
}
