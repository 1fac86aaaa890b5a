//! Owned mbufs and bursts of them.

use super::Mempool;
use dpdk_sys::rte_mbuf;
use std::ptr::NonNull;
use vnf_core::buf::PacketBuf;

/// An owned packet buffer; freed back to its pool on drop, consumed by tx.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<rte_mbuf>);

// SAFETY: an mbuf is a plain memory object; ownership moves with the value and DPDK's mempool put/get are thread safe.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// A new empty mbuf from `pool`, or None when the pool is empty.
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: pool is a live pktmbuf pool.
        NonNull::new(unsafe { dpdk_sys::rte_pktmbuf_alloc(pool.as_ptr()) }).map(Mbuf)
    }

    /// A new mbuf holding a copy of `data` (one segment), or None if it does not fit or the
    /// pool is empty.
    pub fn from_bytes(pool: &Mempool, data: &[u8]) -> Option<Mbuf> {
        let mut m = Mbuf::alloc(pool)?;
        m.append(data.len())?.copy_from_slice(data);
        Some(m)
    }

    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `p` must be a valid mbuf that nobody else owns or frees.
    #[inline(always)]
    pub unsafe fn from_raw(p: NonNull<rte_mbuf>) -> Mbuf {
        Mbuf(p)
    }

    /// Gives up ownership; the caller must free or transmit the mbuf.
    #[inline(always)]
    pub fn into_raw(self) -> *mut rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The raw pointer (ownership stays here).
    #[inline(always)]
    pub fn as_ptr(&self) -> *mut rte_mbuf {
        self.0.as_ptr()
    }

    #[inline(always)]
    fn m(&self) -> &rte_mbuf {
        // SAFETY: we own a valid mbuf.
        unsafe { self.0.as_ref() }
    }

    /// Total packet length over all segments.
    pub fn pkt_len(&self) -> usize {
        self.m().pkt_len as usize
    }

    /// Number of segments.
    pub fn nb_segs(&self) -> u16 {
        self.m().nb_segs
    }

    /// The port the mbuf was received on.
    pub fn port(&self) -> u16 {
        self.m().port
    }

    /// Overwrites the port field (a worker handing a packet over records its ingress port
    /// index there).
    pub fn set_port(&mut self, port: u16) {
        // SAFETY: we own the mbuf; `port` is a plain field.
        unsafe { (*self.0.as_ptr()).port = port };
    }

    /// All bytes of the packet, across segments.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pkt_len());
        let mut seg: *const rte_mbuf = self.0.as_ptr();
        while !seg.is_null() {
            // SAFETY: seg is a segment of our chain; its data lies at buf_addr + data_off for data_len bytes.
            unsafe {
                let s = &*seg;
                let p = (s.buf_addr as *const u8).add(s.data_off as usize);
                out.extend_from_slice(std::slice::from_raw_parts(p, s.data_len as usize));
                seg = s.next;
            }
        }
        out
    }
}

impl PacketBuf for Mbuf {
    /// The first segment's bytes (the whole packet for single-segment mbufs).
    #[inline(always)]
    fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: the first segment's data lies at buf_addr + data_off for data_len bytes, inside the buffer we own.
        unsafe { std::slice::from_raw_parts((m.buf_addr as *const u8).add(m.data_off as usize), m.data_len as usize) }
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m();
        let (p, n) = (m.buf_addr as *mut u8, m.data_len as usize);
        let off = m.data_off as usize;
        // SAFETY: as in data(); &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(p.add(off), n) }
    }
    fn headroom(&self) -> usize {
        self.m().data_off as usize
    }
    fn tailroom(&self) -> usize {
        // SAFETY: valid mbuf.
        unsafe { dpdk_sys::rte_pktmbuf_tailroom(self.0.as_ptr()) as usize }
    }
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok()?;
        // SAFETY: valid mbuf; DPDK returns NULL (and changes nothing) when headroom is short.
        let p = unsafe { dpdk_sys::rte_pktmbuf_prepend(self.0.as_ptr(), n16) } as *mut u8;
        // SAFETY: on success p points at n new bytes at the front of our data.
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(p, n) })
    }
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok()?;
        // SAFETY: valid mbuf; DPDK returns NULL (and changes nothing) when tailroom is short.
        let p = unsafe { dpdk_sys::rte_pktmbuf_append(self.0.as_ptr(), n16) } as *mut u8;
        // SAFETY: on success p points at n new bytes at the end of the last segment.
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(p, n) })
    }
    fn adj(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else { return false };
        // SAFETY: valid mbuf; DPDK refuses (NULL) if the first segment is shorter.
        !unsafe { dpdk_sys::rte_pktmbuf_adj(self.0.as_ptr(), n16) }.is_null()
    }
    fn is_contiguous(&self) -> bool {
        self.m().nb_segs == 1
    }
    fn duplicate(&self) -> Option<Self> {
        let m = self.m();
        // SAFETY: a valid mbuf and its own pool; copy returns a new owned mbuf or NULL.
        NonNull::new(unsafe { dpdk_sys::rte_pktmbuf_copy(self.0.as_ptr(), m.pool, 0, u32::MAX) }).map(Mbuf)
    }
    fn trim(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else { return false };
        // SAFETY: valid mbuf; DPDK refuses (-1) if the last segment is shorter.
        unsafe { dpdk_sys::rte_pktmbuf_trim(self.0.as_ptr(), n16) == 0 }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (chain); it is not used after this.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// Most mbufs one [`Burst`] holds.
pub const BURST_CAPACITY: usize = 512;

/// A fixed-capacity array of owned mbufs: the unit of rx, stage processing and tx.
/// Whatever it still holds when dropped is freed in bulk.
pub struct Burst {
    ptrs: [*mut rte_mbuf; BURST_CAPACITY],
    len: usize,
}

// SAFETY: the Burst owns its mbufs exclusively (see Mbuf).
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl Burst {
    /// An empty burst.
    pub const fn new() -> Self {
        Burst { ptrs: [std::ptr::null_mut(); BURST_CAPACITY], len: 0 }
    }

    /// Number of mbufs held.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free slots.
    #[inline(always)]
    pub fn room(&self) -> usize {
        BURST_CAPACITY - self.len
    }

    /// The held mbufs.
    #[inline(always)]
    pub fn mbufs(&self) -> &[Mbuf] {
        // SAFETY: the first len pointers are owned, non-null mbufs and Mbuf is a repr(transparent) NonNull<rte_mbuf>, layout-identical to *mut rte_mbuf.
        unsafe { std::slice::from_raw_parts(self.ptrs.as_ptr() as *const Mbuf, self.len) }
    }

    /// The held mbufs, mutable.
    #[inline(always)]
    pub fn mbufs_mut(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in mbufs(); &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptrs.as_mut_ptr() as *mut Mbuf, self.len) }
    }

    /// Adds an mbuf; gives it back when full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == BURST_CAPACITY {
            return Err(m);
        }
        self.ptrs[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Moves every mbuf of `bufs` to the end of this burst, freeing those that do not fit;
    /// returns how many were freed.
    #[inline(always)]
    pub fn extend_from(&mut self, bufs: impl Iterator<Item = Mbuf>) -> u64 {
        // The length in a register: updated in memory per mbuf, each store would be waited
        // on by the next mbuf's load.
        let (mut lost, mut len) = (0, self.len);
        for m in bufs {
            match self.ptrs.get_mut(len) {
                Some(slot) => {
                    *slot = m.into_raw();
                    len += 1;
                }
                None => {
                    drop(m);
                    lost += 1;
                }
            }
        }
        self.len = len;
        lost
    }

    /// Moves every mbuf of `other` to the end of this burst (as many as fit; the rest stay
    /// in `other`).
    #[inline(always)]
    pub fn append_from(&mut self, other: &mut Burst) {
        let n = other.len.min(self.room());
        self.ptrs[self.len..self.len + n].copy_from_slice(&other.ptrs[..n]);
        self.len += n;
        other.consume_front(n);
    }

    /// Moves every mbuf out, in order, to `f`; the burst is empty afterwards.
    #[inline(always)]
    pub fn for_each_owned(&mut self, mut f: impl FnMut(Mbuf)) {
        let n = self.len;
        // Ownership of every slot moves to `f`; len is reset first so a panic in `f`
        // cannot lead to a double free (it would leak instead).
        self.len = 0;
        for i in 0..n {
            // SAFETY: slots 0..n held owned non-null mbufs; each is moved out exactly once.
            f(unsafe { Mbuf::from_raw(NonNull::new_unchecked(self.ptrs[i])) });
        }
    }

    /// Moves every mbuf out, in order, as an iterator; the burst is empty afterwards (mbufs
    /// the iterator did not yield are freed when it is dropped).
    #[inline(always)]
    pub fn drain_owned(&mut self) -> DrainOwned<'_> {
        let n = self.len;
        // As in for_each_owned: the burst forgets the slots before any is moved out.
        self.len = 0;
        DrainOwned { ptrs: &self.ptrs[..n], next: 0 }
    }

    /// Adds `n` fresh mbufs of `pool` (at most the room left) in one bulk get: all or,
    /// when the pool holds fewer, none (false).
    pub fn alloc_from(&mut self, pool: &Mempool, n: usize) -> bool {
        let (at, room) = self.spare_ptr();
        let n = n.min(room);
        if n == 0 {
            return true;
        }
        // DPDK either fills all n slots with reset mbufs we then own (0) or takes none.
        // SAFETY: `at` has room for n pointers and the pool is a live pktmbuf pool.
        let ok = unsafe { dpdk_sys::rte_pktmbuf_alloc_bulk(pool.as_ptr(), at, n as u32) } == 0;
        if ok {
            // SAFETY: the n slots after len were just filled with owned mbufs.
            unsafe { self.add_len(n) };
        }
        ok
    }

    /// Removes and returns the last mbuf.
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: the slot held an owned non-null mbuf, now moved out.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(self.ptrs[self.len])) })
    }

    /// Raw pointer to slot `len` and the room behind it, for rx/dequeue to fill.
    #[inline(always)]
    pub(crate) fn spare_ptr(&mut self) -> (*mut *mut rte_mbuf, usize) {
        // SAFETY: len <= capacity, so the offset stays within (or one past) the array.
        (unsafe { self.ptrs.as_mut_ptr().add(self.len) }, BURST_CAPACITY - self.len)
    }

    /// Records that `n` more slots were filled with owned mbufs.
    ///
    /// # Safety
    /// The `n` slots after `len` must hold valid mbufs now owned by this burst.
    #[inline(always)]
    pub(crate) unsafe fn add_len(&mut self, n: usize) {
        debug_assert!(self.len + n <= BURST_CAPACITY);
        self.len += n;
    }

    /// The owned pointers, for tx.
    #[inline(always)]
    pub(crate) fn raw(&mut self) -> &mut [*mut rte_mbuf] {
        &mut self.ptrs[..self.len]
    }

    /// Forgets the first `n` mbufs (they were transmitted) and moves the rest to the front.
    #[inline(always)]
    pub(crate) fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        if n < self.len {
            self.ptrs.copy_within(n..self.len, 0);
        }
        self.len -= n;
    }

    /// Frees every mbuf held (in one bulk call) and returns how many.
    #[inline]
    pub fn free_all(&mut self) -> usize {
        let n = self.len;
        if n > 0 {
            // SAFETY: the first n slots are owned valid mbufs; after this none are held.
            unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.ptrs.as_mut_ptr(), n as u32) };
            self.len = 0;
        }
        n
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.free_all();
    }
}

/// The mbufs of a burst, moved out in order ([`Burst::drain_owned`]).
pub struct DrainOwned<'a> {
    ptrs: &'a [*mut rte_mbuf],
    next: usize,
}

impl Iterator for DrainOwned<'_> {
    type Item = Mbuf;
    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        let p = *self.ptrs.get(self.next)?;
        self.next += 1;
        // The burst held these as owned non-null mbufs and forgot them (len 0) before this
        // iterator was made.
        // SAFETY: an owned, non-null mbuf, moved out exactly once.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) })
    }
    #[inline(always)]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.ptrs.len() - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for DrainOwned<'_> {}

impl Drop for DrainOwned<'_> {
    fn drop(&mut self) {
        for m in self.by_ref() {
            drop(m);
        }
    }
}
