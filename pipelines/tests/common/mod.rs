//! Shared helpers of the EAL test binaries: EAL is initialised once per binary, and tests
//! that launch workers take a lock since they share the worker lcore.
#![allow(dead_code)]

pub mod netns;
use pipelines::dpdk::Eal;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static LCORES: Mutex<()> = Mutex::new(());

/// EAL without hugepages, main lcore 0, worker lcore 1, a file prefix of this process.
pub fn eal() -> &'static Eal {
    let prefix = format!("vnftest{}", std::process::id());
    Eal::init(&[
        "-l",
        "0,1",
        "--main-lcore",
        "0",
        "--no-huge",
        "--no-pci",
        "-m",
        "512",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:warning",
    ])
    .expect("EAL init")
}

/// The `[dataplane]` and `[eal]` sections of a vnfd config for whole-process tests: one
/// worker on lcore 1, no hugepages, the given EAL file prefix.
pub fn eal_preamble(prefix: &str) -> String {
    format!(
        "[dataplane]\nworkers = [1]\nmempool_size = 8191\nrx_desc = 512\ntx_desc = 512\n\n[eal]\nargs = [\"--no-huge\", \"--no-pci\", \"-m\", \"256\", \"--file-prefix\", \"{prefix}\"]\n"
    )
}

/// Serialises tests that launch workers.
pub fn lcores() -> MutexGuard<'static, ()> {
    LCORES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes every frame out of `ring`, freeing the mbufs.
pub fn drain(ring: &pipelines::dpdk::Ring) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let mut b = pipelines::dpdk::Burst::new();
    while ring.dequeue(&mut b, 256) > 0 {
        out.extend(b.mbufs().iter().map(pipelines::dpdk::Mbuf::to_vec));
        b.free_all();
    }
    out
}

/// Polls `f` until it is true or `secs` pass.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}
