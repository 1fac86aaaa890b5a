//! Software prefetch, for tables to offer "prefetch the entry this key will touch" without
//! anyone outside a table knowing its memory layout.
//!
//! This is the only `unsafe` in vnf-core (the crate denies `unsafe_code`; this one function
//! allows it). A prefetch is a hint to the cache: it reads nothing into the program, never
//! faults (not even on an unmapped or null address) and has no effect on the result of any
//! computation, so the wrapper is a safe function of any pointer, including a dangling one
//! made with `wrapping_add`.

/// Hints that the cache line holding `p` will be read soon (into all cache levels, T0).
/// A no-op on targets other than x86_64.
#[inline(always)]
#[allow(unsafe_code)]
pub fn read<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // Nothing is read into the program, so no reference or validity requirement applies.
    // SAFETY: a prefetch is a hint and never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_pointer_is_fine() {
        let v = [1u64, 2, 3];
        super::read(v.as_ptr());
        super::read(v.as_ptr().wrapping_add(1 << 40));
        super::read(std::ptr::null::<u8>());
        super::read(usize::MAX as *const u32);
        assert_eq!(v, [1, 2, 3]);
    }
}
