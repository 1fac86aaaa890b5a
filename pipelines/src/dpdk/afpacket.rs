//! Ring overflows of `net_af_packet` ports. The kernel drops a frame when the socket's rx
//! ring is full and counts it in the socket's `PACKET_STATISTICS` (`tp_drops`), which
//! DPDK 22.11's af_packet PMD never reads: its `imissed` stays 0 whatever was lost. vnfd
//! finds the PMD's packet sockets for the port's interface among its own file descriptors
//! and folds their drops into the port's `imissed`.

use std::os::fd::RawFd;

/// The `iface=` of af_packet devargs.
pub fn iface(devargs: &str) -> Option<&str> {
    devargs.split(',').find_map(|kv| kv.strip_prefix("iface="))
}

/// This process's AF_PACKET sockets bound to interface `ifname`.
pub fn sockets(ifname: &str) -> Vec<RawFd> {
    let Ok(c) = std::ffi::CString::new(ifname) else { return Vec::new() };
    // SAFETY: a valid C string.
    let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) } as i32;
    if ifindex == 0 {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return Vec::new() };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<RawFd>().ok()) else { continue };
        if !std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")) {
            continue;
        }
        let mut sa: libc::sockaddr_ll = unsafe_zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `sa` is valid for `len` bytes; a socket of another family fills less or fails.
        let r = unsafe { libc::getsockname(fd, (&mut sa as *mut libc::sockaddr_ll).cast(), &mut len) };
        if r == 0 && i32::from(sa.sll_family) == libc::AF_PACKET && sa.sll_ifindex == ifindex {
            out.push(fd);
        }
    }
    out.sort_unstable();
    out
}

fn unsafe_zeroed<T: Copy>() -> T {
    // SAFETY: used only for plain C structs (sockaddr_ll, tpacket_stats), valid all-zero.
    unsafe { std::mem::zeroed() }
}

/// Frames the kernel dropped on these sockets since the last call (reading resets the
/// kernel's counts).
pub fn drops(fds: &[RawFd]) -> u64 {
    let mut total = 0u64;
    for &fd in fds {
        let mut st: libc::tpacket_stats = unsafe_zeroed();
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st` is valid for `len` bytes; on a closed or foreign fd the call fails.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if r == 0 {
            total += u64::from(st.tp_drops);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_interface_comes_from_the_devargs() {
        assert_eq!(super::iface("net_af_packet0,iface=veth-a,qpairs=2"), Some("veth-a"));
        assert_eq!(super::iface("net_null0"), None);
    }
}
