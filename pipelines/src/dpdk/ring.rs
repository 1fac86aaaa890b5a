//! rte_ring: lock-free FIFO of mbufs between lcores (and the backing of net_ring ports).

use super::{Burst, DpdkError, Mbuf};
use dpdk_sys::rte_ring;
use std::ffi::{c_void, CString};
use std::ptr::NonNull;

/// An owned rte_ring of mbuf pointers. Freed on drop; mbufs still in it are freed too.
#[derive(Debug)]
pub struct Ring {
    ptr: NonNull<rte_ring>,
    name: String,
}

// SAFETY: rte_ring is a multi-producer/multi-consumer lock-free ring unless created SP/SC.
unsafe impl Send for Ring {}
// SAFETY: as above; rings created here are MP/MC safe.
unsafe impl Sync for Ring {}

impl Ring {
    /// Creates a ring of `size` slots (a power of two; one slot stays empty).
    pub fn new(name: &str, size: u32) -> Result<Ring, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::msg("ring", "name contains NUL"))?;
        // SAFETY: valid C string; flags 0 = multi-producer/multi-consumer.
        let p = unsafe { dpdk_sys::rte_ring_create(c.as_ptr(), size, -1, 0) };
        let ptr = NonNull::new(p).ok_or_else(|| DpdkError::from_errno(format!("create ring {name}")))?;
        Ok(Ring { ptr, name: name.to_owned() })
    }

    /// The raw pointer.
    pub fn as_ptr(&self) -> *mut rte_ring {
        self.ptr.as_ptr()
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Entries in the ring.
    pub fn count(&self) -> u32 {
        // SAFETY: live ring.
        unsafe { dpdk_sys::rte_ring_count(self.ptr.as_ptr()) }
    }

    /// Enqueues as many mbufs of `burst` as fit (from the front); returns how many.
    pub fn enqueue(&self, burst: &mut Burst) -> usize {
        let raw = burst.raw();
        // SAFETY: raw holds owned mbuf pointers; those enqueued are owned by the ring now.
        let n = unsafe {
            dpdk_sys::rte_ring_enqueue_burst(
                self.ptr.as_ptr(),
                raw.as_ptr() as *const *mut c_void,
                raw.len() as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        burst.consume_front(n);
        n
    }

    /// Dequeues up to `max` mbufs into `burst`; returns how many.
    pub fn dequeue(&self, burst: &mut Burst, max: usize) -> usize {
        let (p, room) = burst.spare_ptr();
        // SAFETY: p has room for min(max, room) pointers; the ring holds only mbufs that are handed to us by dequeue.
        unsafe {
            let n = dpdk_sys::rte_ring_dequeue_burst(
                self.ptr.as_ptr(),
                p as *mut *mut c_void,
                max.min(room) as u32,
                std::ptr::null_mut(),
            ) as usize;
            burst.add_len(n);
            n
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let mut b = Burst::new();
        while self.dequeue(&mut b, super::BURST_CAPACITY) > 0 {
            b.free_all();
        }
        // SAFETY: we own the ring and it is empty.
        unsafe { dpdk_sys::rte_ring_free(self.ptr.as_ptr()) }
    }
}

impl Ring {
    /// Enqueues one mbuf; gives it back if the ring is full.
    pub fn push(&self, m: Mbuf) -> Result<(), Mbuf> {
        let mut b = Burst::new();
        let _ = b.push(m);
        self.enqueue(&mut b);
        match b.pop() {
            None => Ok(()),
            Some(m) => Err(m),
        }
    }
}
