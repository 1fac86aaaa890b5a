//! Safe wrappers over dpdk-sys: EAL, mempools, mbufs and bursts, ports, rings, lcores.
//!
//! Every DPDK object is owned by one Rust value that releases it on drop. `unsafe` is
//! confined to this module; each block says why it is sound.

pub mod afpacket;
mod eal;
pub mod log;
mod mbuf;
mod mempool;
mod port;
mod ring;

pub use eal::{launch, lcore_enabled, rdtsc, tsc_hz, version, wait, Eal};
pub use mbuf::{Burst, Mbuf, BURST_CAPACITY};
pub use mempool::{Mempool, PoolHandle};
pub use port::{HwStats, LinkInfo, Port, PortConf, RxQueue, TxQueue};
pub use ring::Ring;

use std::ffi::CStr;
use std::fmt;

/// A failed DPDK call: what was attempted and DPDK's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpdkError {
    /// What was being done, e.g. `probe net_ring0`.
    pub op: String,
    /// The (positive) errno value.
    pub errno: i32,
    /// DPDK's text for it.
    pub reason: String,
}

impl DpdkError {
    /// An error with errno `code` (sign ignored) for `op`.
    pub fn new(op: impl Into<String>, code: i32) -> Self {
        let errno = code.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
        let reason = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errno)) }.to_string_lossy().into_owned();
        DpdkError { op: op.into(), errno, reason }
    }

    /// An error for `op` from the calling thread's `rte_errno`.
    pub fn from_errno(op: impl Into<String>) -> Self {
        // SAFETY: reads the calling thread's rte_errno; no preconditions.
        let e = unsafe { dpdk_sys::dpdk_sys_rte_errno() };
        Self::new(op, e)
    }

    /// An error that did not come from an errno.
    pub fn msg(op: impl Into<String>, reason: impl Into<String>) -> Self {
        DpdkError { op: op.into(), errno: 0, reason: reason.into() }
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.reason)
    }
}

impl std::error::Error for DpdkError {}
