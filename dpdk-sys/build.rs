//! Finds the system DPDK with pkg-config, generates bindings with bindgen and compiles the
//! wrappers that export DPDK's `static inline` fast-path functions as real symbols.
//!
//! Linking is shared (the default of Debian's `libdpdk.pc`): EAL then loads every PMD in its
//! plugin directory by itself, so net_null, net_ring, net_pcap, net_af_packet, net_tap,
//! net_vhost and net_virtio_user are all available to every binary without whole-archive
//! tricks, and a DPDK security update from the distribution applies without a rebuild.
use std::env;
use std::path::PathBuf;

/// `static inline` functions of DPDK that the appliance calls; each gets a C wrapper.
const STATIC_FNS: &[&str] = &[
    "rte_eth_rx_burst",
    "rte_eth_tx_burst",
    "rte_eth_tx_prepare",
    "rte_pktmbuf_alloc",
    "rte_pktmbuf_alloc_bulk",
    "rte_pktmbuf_free",
    "rte_pktmbuf_prepend",
    "rte_pktmbuf_append",
    "rte_pktmbuf_adj",
    "rte_pktmbuf_trim",
    "rte_pktmbuf_reset",
    "rte_pktmbuf_refcnt_update",
    "rte_mbuf_refcnt_read",
    "rte_pktmbuf_headroom",
    "rte_pktmbuf_tailroom",
    "rte_pktmbuf_linearize",
    "rte_ring_enqueue_burst",
    "rte_ring_dequeue_burst",
    "rte_ring_count",
    "rte_ring_free_count",
    "rte_rdtsc",
    "rte_rdtsc_precise",
    "rte_get_tsc_hz",
    "rte_lcore_id",
    "rte_pause",
    "rte_mempool_get_count",
];

/// Exported (non-inline) DPDK functions the appliance calls: EAL, devices, ethdev, mempool,
/// mbuf, ring, telemetry and timing.
const EXPORTED_FNS: &str = "rte_(eal_.*|exit|strerror|lcore_count|get_main_lcore|socket_id|\
lcore_to_socket_id|get_next_lcore|lcore_is_enabled|lcore_has_role|dev_probe|dev_remove|dev_iterator_.*|eth_iterator_.*|\
eth_dev_.*|eth_rx_queue_setup|eth_tx_queue_setup|eth_macaddr_get|eth_macaddr_set|\
eth_link_get_nowait|eth_stats_.*|eth_xstats_.*|eth_promiscuous_.*|eth_allmulticast_.*|\
eth_from_rings|eth_find_next.*|eth_tx_done_cleanup|eth_tx_buffer_.*|\
pktmbuf_pool_create|pktmbuf_free_bulk|pktmbuf_clone|pktmbuf_copy|\
mempool_avail_count|mempool_in_use_count|mempool_free|mempool_lookup|\
ring_create|ring_free|ring_lookup|telemetry_.*|tel_data_.*|version|get_tsc_hz|delay_us_block|\
thread_.*|zmalloc|malloc|free|log_set_level_pattern|log_get_level|log_dump)";

/// `--features static`: link DPDK's archives into the binary. Every PMD archive is linked
/// whole (`+whole-archive`), since PMDs register themselves from constructors that nothing
/// references; without it `net_ring0` is an unknown device and pktmbuf pools fail (no
/// `ring_mp_mc` mempool driver).
fn link_static() {
    let out = std::process::Command::new("pkg-config")
        .args(["--static", "--libs", "libdpdk"])
        .output()
        .expect("pkg-config runs");
    let libs = String::from_utf8_lossy(&out.stdout).to_string();
    for tok in libs.split_whitespace() {
        if let Some(a) = tok.strip_prefix("-l:lib").and_then(|t| t.strip_suffix(".a")) {
            println!("cargo:rustc-link-lib=static:+whole-archive,-bundle={a}");
        } else if let Some(l) = tok.strip_prefix("-l") {
            if !l.starts_with(':') && !l.starts_with("rte_") {
                println!("cargo:rustc-link-lib={l}");
            }
        } else if let Some(d) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={d}");
        }
    }
}

fn main() {
    let statik = env::var_os("CARGO_FEATURE_STATIC").is_some();
    if statik {
        link_static();
    }
    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(!statik)
        .probe("libdpdk")
        .unwrap_or_else(|e| panic!("libdpdk >= 22.11 not found by pkg-config (run ci/setup): {e}"));

    // DPDK's pkg-config cflags carry -include rte_config.h and -march; pass them all on.
    let cflags = pkg_config::get_variable("libdpdk", "cflags").ok();
    let mut clang_args: Vec<String> = Vec::new();
    for p in &lib.include_paths {
        clang_args.push(format!("-I{}", p.display()));
    }
    let raw = std::process::Command::new("pkg-config").args(["--cflags", "libdpdk"]).output().expect("pkg-config runs");
    let raw = String::from_utf8_lossy(&raw.stdout).to_string();
    let mut it = raw.split_whitespace().peekable();
    while let Some(a) = it.next() {
        if a == "-include" {
            if let Some(f) = it.next() {
                clang_args.push("-include".into());
                clang_args.push(f.into());
            }
        } else if a.starts_with("-march") || a.starts_with("-m") || a.starts_with("-D") {
            clang_args.push(a.into());
        }
    }
    let _ = cflags;

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let wrappers = out.join("static_fns");

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function(EXPORTED_FNS)
        .allowlist_function("dpdk_sys_.*")
        .allowlist_type("rte_(mbuf|mempool|ring|eth_.*|ether_addr|dev_iterator|lcore_.*)")
        .allowlist_var("RTE_(ETH|MBUF|PKTMBUF|MEMPOOL|RING|MAX|LCORE|ETHER|MBUF_F)_.*")
        .opaque_type("rte_(l2tpv2|gtp|flow|mtr|tm|eth_.*_ops|eth_dev_cb_fn).*")
        .derive_debug(false)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrappers)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    // Only the listed static inline functions get wrappers; other static fns are not bound.
    for f in STATIC_FNS {
        builder = builder.allowlist_function(f);
    }
    let bindings = builder.generate().expect("bindgen over DPDK headers");
    bindings.write_to_file(out.join("bindings.rs")).expect("write bindings");

    let mut cc = cc::Build::new();
    cc.file(wrappers.with_extension("c"))
        .file("shim.c")
        .include(".")
        .opt_level(3)
        .flag_if_supported("-Wno-deprecated-declarations");
    for p in &lib.include_paths {
        cc.include(p);
    }
    let mut it = raw.split_whitespace().peekable();
    while let Some(a) = it.next() {
        if a == "-include" {
            if let Some(f) = it.next() {
                cc.flag("-include").flag(f);
            }
        } else if a.starts_with("-march") || a.starts_with("-D") {
            cc.flag(a);
        }
    }
    cc.compile("dpdk_sys_shim");

    // librte_net_ring is a PMD, not in libdpdk.pc's link line; rte_eth_from_rings lives there.
    if !statik {
        println!("cargo:rustc-link-lib=rte_net_ring");
    }
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
}
