//! EAL: initialised once per process; lcore launch and timing.

use super::DpdkError;
use std::ffi::{c_int, c_void, CStr, CString};
use std::sync::{Mutex, OnceLock};

/// The initialised EAL. There is at most one per process; [`Eal::init`] returns it.
#[derive(Debug)]
pub struct Eal {
    args: Vec<String>,
}

static EAL: OnceLock<Result<Eal, DpdkError>> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

impl Eal {
    /// Initialises EAL with `args` (without the program name) the first time it is called in
    /// the process; later calls return the same EAL (and the same error if it failed), since
    /// DPDK cannot be initialised twice.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<&'static Eal, DpdkError> {
        let _g = INIT.lock().unwrap_or_else(|p| p.into_inner());
        EAL.get_or_init(|| {
            let args: Vec<String> = args.iter().map(|s| s.as_ref().to_owned()).collect();
            let mut cargs = Vec::with_capacity(args.len() + 1);
            for a in std::iter::once("vnfd").chain(args.iter().map(String::as_str)) {
                let c = CString::new(a)
                    .map_err(|_| DpdkError::msg("rte_eal_init", format!("argument {a:?} contains a NUL byte")))?;
                cargs.push(c);
            }
            // EAL keeps pointers into argv (e.g. for --vdev parsing); they must outlive it.
            let argv: &'static mut [*mut std::ffi::c_char] =
                Box::leak(cargs.into_iter().map(|c| c.into_raw()).collect::<Vec<_>>().into_boxed_slice());
            // SAFETY: argv holds argc valid NUL-terminated strings that are never freed.
            let r = unsafe { dpdk_sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
            if r < 0 {
                return Err(DpdkError::from_errno(format!("rte_eal_init {}", args.join(" "))));
            }
            Ok(Eal { args })
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// The EAL if it was initialised.
    pub fn get() -> Option<&'static Eal> {
        EAL.get().and_then(|r| r.as_ref().ok())
    }

    /// The arguments EAL was initialised with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The main lcore.
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: EAL is initialised (self exists).
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// Releases EAL's resources (hugepage mappings, runtime files).
    ///
    /// # Safety
    /// No DPDK object (mempool, port, ring, mbuf) may be used after this, and no lcore may
    /// be running a launched function.
    pub unsafe fn cleanup(&self) {
        // SAFETY: guaranteed by the caller.
        unsafe { dpdk_sys::rte_eal_cleanup() };
    }
}

/// True if `lcore` is an enabled EAL lcore.
pub fn lcore_enabled(lcore: u32) -> bool {
    // SAFETY: a pure query of EAL's lcore table; any id is accepted.
    Eal::get().is_some() && unsafe { dpdk_sys::rte_lcore_is_enabled(lcore) } != 0
}

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Job> leaked by `launch`, handed to exactly one call.
    let job: Box<Job> = unsafe { Box::from_raw(arg as *mut Job) };
    // A panic must not unwind into C: turn it into an error return.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(-1)
}

/// Runs `f` on worker lcore `lcore` (an EAL thread, pinned by EAL). Collect its return
/// value with [`wait`].
pub fn launch(lcore: u32, f: impl FnOnce() -> i32 + Send + 'static) -> Result<(), DpdkError> {
    if !lcore_enabled(lcore) {
        return Err(DpdkError::msg(format!("launch on lcore {lcore}"), "not an enabled EAL lcore (see -l)"));
    }
    let job: Box<Job> = Box::new(Box::new(f));
    let arg = Box::into_raw(job) as *mut c_void;
    // SAFETY: trampoline has the lcore_function_t signature and takes ownership of arg.
    let r = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if r != 0 {
        // SAFETY: the launch failed, so the trampoline never ran and arg is still ours.
        drop(unsafe { Box::from_raw(arg as *mut Job) });
        return Err(DpdkError::new(format!("launch on lcore {lcore}"), r));
    }
    Ok(())
}

/// Waits for the function launched on `lcore` and returns its result.
pub fn wait(lcore: u32) -> i32 {
    // SAFETY: waiting on any lcore id is allowed; an idle lcore returns at once.
    unsafe { dpdk_sys::rte_eal_wait_lcore(lcore) }
}

/// The time stamp counter (the instruction itself on x86_64, so it inlines; DPDK's
/// `rte_rdtsc` elsewhere).
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: reads the TSC; no preconditions.
        unsafe { dpdk_sys::rte_rdtsc() }
    }
}

/// TSC ticks per second as measured by EAL.
pub fn tsc_hz() -> u64 {
    // SAFETY: a query with no preconditions.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}

/// The DPDK version string, e.g. `DPDK 22.11.11`.
pub fn version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(dpdk_sys::dpdk_sys_version()) }.to_string_lossy().into_owned()
}
