//! The buffer interface stages are written against.
//!
//! `pipelines` implements [`PacketBuf`] for a DPDK mbuf; [`VecBuf`] implements it over a
//! plain `Vec<u8>` with headroom, so stage logic runs in unit tests and fuzzers without EAL.
//! Both behave the same at the edges: a request that does not fit returns `None`/`false` and
//! leaves the packet unchanged.

/// A packet buffer: contiguous bytes with headroom in front and tailroom behind.
pub trait PacketBuf {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Packet length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// True when the packet holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes free in front of the packet.
    fn headroom(&self) -> usize;
    /// Bytes free behind the packet.
    fn tailroom(&self) -> usize;
    /// Grows the packet by `n` bytes at the front (into headroom) and returns them.
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Grows the packet by `n` bytes at the end (into tailroom) and returns them.
    fn append(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Removes `n` bytes from the front. False (and no change) if the packet is shorter.
    fn adj(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the end. False (and no change) if the packet is shorter.
    fn trim(&mut self, n: usize) -> bool;
    /// True when all bytes are in [`PacketBuf::data`] (an mbuf chain of one segment).
    fn is_contiguous(&self) -> bool {
        true
    }
    /// A copy of the packet in a new buffer from the same pool (None when the pool is empty).
    fn duplicate(&self) -> Option<Self>
    where
        Self: Sized;
}

/// Where stages get new buffers (ARP requests, replies to broadcasts).
pub trait BufAlloc {
    /// The buffer type.
    type Buf: PacketBuf;
    /// An empty buffer with the default headroom, or None when the pool is empty.
    fn alloc(&self) -> Option<Self::Buf>;
}

/// Allocates [`VecBuf`]s with mbuf-like room (128 headroom, 2048 data); can be limited to
/// test pool exhaustion.
#[derive(Debug, Default)]
pub struct VecAlloc {
    /// Allocations left (None: unlimited).
    pub left: std::cell::Cell<Option<usize>>,
}

impl BufAlloc for VecAlloc {
    type Buf = VecBuf;
    fn alloc(&self) -> Option<VecBuf> {
        if let Some(n) = self.left.get() {
            if n == 0 {
                return None;
            }
            self.left.set(Some(n - 1));
        }
        Some(VecBuf::with_room(&[], VecBuf::DEFAULT_HEADROOM, 2048))
    }
}

/// A heap buffer with headroom: the test and fuzz double of an mbuf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecBuf {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl VecBuf {
    /// Default headroom, the same as DPDK's `RTE_PKTMBUF_HEADROOM`.
    pub const DEFAULT_HEADROOM: usize = 128;

    /// A buffer holding `data` with `headroom` bytes in front and `tailroom` behind.
    pub fn with_room(data: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut bytes = vec![0u8; headroom + data.len() + tailroom];
        bytes[headroom..headroom + data.len()].copy_from_slice(data);
        VecBuf { bytes, start: headroom, end: headroom + data.len() }
    }

    /// A buffer holding `data` with the default mbuf headroom and no tailroom.
    pub fn new(data: &[u8]) -> Self {
        Self::with_room(data, Self::DEFAULT_HEADROOM, 0)
    }
}

impl PacketBuf for VecBuf {
    fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.end]
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn tailroom(&self) -> usize {
        self.bytes.len() - self.end
    }
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        Some(&mut self.bytes[self.start..self.start + n])
    }
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        let old = self.end;
        self.end += n;
        Some(&mut self.bytes[old..self.end])
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.start += n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.end -= n;
        true
    }
    fn duplicate(&self) -> Option<Self> {
        Some(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_and_adj_are_inverse() {
        let mut b = VecBuf::with_room(&[1, 2, 3], 4, 2);
        b.prepend(2).unwrap().copy_from_slice(&[9, 8]);
        assert_eq!(b.data(), &[9, 8, 1, 2, 3]);
        assert_eq!(b.headroom(), 2);
        assert!(b.adj(2));
        assert_eq!(b.data(), &[1, 2, 3]);
    }

    #[test]
    fn out_of_room_changes_nothing() {
        let mut b = VecBuf::with_room(&[1, 2, 3], 1, 1);
        assert!(b.prepend(2).is_none());
        assert!(b.append(2).is_none());
        assert!(!b.adj(4));
        assert!(!b.trim(4));
        assert_eq!(b.data(), &[1, 2, 3]);
        b.append(1).unwrap()[0] = 7;
        assert!(b.trim(2));
        assert_eq!(b.data(), &[1, 2]);
        assert_eq!(b.tailroom(), 2);
    }
}
