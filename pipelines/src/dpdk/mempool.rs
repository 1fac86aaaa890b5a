//! Packet mbuf pools.

use super::DpdkError;
use dpdk_sys::rte_mempool;
use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// A pktmbuf pool; freed on drop (every mbuf must be back by then).
#[derive(Debug)]
pub struct Mempool {
    ptr: NonNull<rte_mempool>,
    size: u32,
}

// SAFETY: DPDK mempools are designed for concurrent get/put from many lcores.
unsafe impl Send for Mempool {}
// SAFETY: as above; &Mempool only allows thread-safe operations.
unsafe impl Sync for Mempool {}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Mempool {
    /// Creates a pool of `size` mbufs with `data_room` bytes each (headroom included) and a
    /// per-lcore cache of `cache`. The name is made unique within the process.
    pub fn new(prefix: &str, size: u32, cache: u32, data_room: u16, socket: i32) -> Result<Mempool, DpdkError> {
        let name = format!("{prefix}{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let cname = CString::new(name.clone()).map_err(|_| DpdkError::msg("mempool", "name contains NUL"))?;
        // SAFETY: cname is a valid C string; DPDK copies it.
        let p = unsafe { dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), size, cache, 0, data_room, socket) };
        let ptr =
            NonNull::new(p).ok_or_else(|| DpdkError::from_errno(format!("create mempool {name} of {size} mbufs")))?;
        Ok(Mempool { ptr, size })
    }

    /// The raw pointer.
    pub fn as_ptr(&self) -> *mut rte_mempool {
        self.ptr.as_ptr()
    }

    /// Mbufs in the pool.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Mbufs available (in the ring and in lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: live pool.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs currently taken from the pool.
    pub fn in_use(&self) -> u32 {
        // SAFETY: live pool.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }
}

/// A non-owning handle to a pool for workers that allocate (ARP requests, copies). The
/// Dataplane that owns the pool stops its workers before freeing it.
#[derive(Clone, Copy, Debug)]
pub struct PoolHandle(NonNull<rte_mempool>);

// SAFETY: mempool get/put are thread safe; the handle's validity is guaranteed by the owner.
unsafe impl Send for PoolHandle {}

impl Mempool {
    /// A handle for a worker.
    pub fn handle(&self) -> PoolHandle {
        PoolHandle(self.ptr)
    }
}

impl vnf_core::buf::BufAlloc for PoolHandle {
    type Buf = super::Mbuf;
    #[inline]
    fn alloc(&self) -> Option<super::Mbuf> {
        // SAFETY: the pool outlives every worker holding a handle (see PoolHandle).
        let p = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.0.as_ptr()) };
        // SAFETY: a freshly allocated mbuf is ours.
        NonNull::new(p).map(|p| unsafe { super::Mbuf::from_raw(p) })
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: we own the pool; its users (ports, bursts) are gone by construction of the owners (Dataplane drops ports before the pool).
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) }
    }
}
