//! The linked binary finds every virtual PMD the appliance is tested with. (net_vhost and
//! net_virtio_user also pass traffic in the vhost_user test.)

mod common;

use pipelines::dpdk::{Burst, Mempool, Port, PortConf, BURST_CAPACITY};
use vnf_core::buf::PacketBuf;

#[test]
fn virtual_pmds_probe_configure_and_start() {
    common::eal();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::write(dir.path().join("in.pcap"), vnf_core::pcap::header(65535)).unwrap();
    let pid = std::process::id() % 10000;
    let cases = [
        ("net_null", "net_null7".to_string()),
        ("net_ring", "net_ring7".to_string()),
        ("net_pcap", format!("net_pcap7,rx_pcap={d}/in.pcap,tx_pcap={d}/out.pcap")),
        ("net_af_packet", "net_af_packet7,iface=lo".to_string()),
        ("net_tap", format!("net_tap7,iface=vnftap{pid}")),
        ("net_vhost", format!("net_vhost7,iface={d}/v.sock")),
    ];
    let pool = Mempool::new("pmds", 4095, 0, 2176, 0).unwrap();
    let conf =
        PortConf { rx_queues: 1, tx_queues: 1, rx_desc: 256, tx_desc: 256, mtu: None, mac: None, promiscuous: false };
    for (driver, devargs) in cases {
        let mut p = Port::probe(&devargs).unwrap_or_else(|e| panic!("{driver}: {e}"));
        assert_eq!(p.driver(), driver, "{devargs}");
        p.configure(&conf, &pool).unwrap_or_else(|e| panic!("{driver}: {e}"));
        p.start().unwrap_or_else(|e| panic!("{driver}: {e}"));
        drop(p);
        // Removed on drop: the same device name can be probed again.
        let p = Port::probe(&devargs).unwrap_or_else(|e| panic!("{driver} again: {e}"));
        drop(p);
    }
    assert!(!std::path::Path::new(&format!("/sys/class/net/vnftap{pid}")).exists(), "tap interface removed");
}

/// A probe that fails names the driver's reason: rte_dev_probe's -1 is no errno (it used
/// to be printed as "Operation not permitted").
#[test]
fn a_failed_probe_names_the_real_reason() {
    common::eal();
    let e = Port::probe("net_af_packet5,iface=does-not-exist").expect_err("no such interface");
    assert_eq!(e.errno, libc::ENODEV, "{e}");
    assert_eq!(e.to_string(), "probe \"net_af_packet5,iface=does-not-exist\": No such device");
    let e = Port::probe("net_null5,no-such-key=1").expect_err("unknown devargs key");
    assert_eq!(e.errno, 0, "{e}");
    assert_eq!(
        e.to_string(),
        "probe \"net_null5,no-such-key=1\": the driver refused the device without giving a reason (an unknown or bad devargs key or value? DPDK's log above may say more)"
    );
    // A negative errno from EAL itself is kept: no bus or driver for the name.
    let e = Port::probe("net_nosuchpmd5").expect_err("unknown driver");
    assert_eq!(e.errno, libc::EFAULT, "{e}");
    // After failures, the same names probe fine (nothing was left half attached).
    drop(Port::probe("net_null5").expect("net_null5"));
    drop(Port::probe("net_af_packet5,iface=lo").expect("af_packet on lo"));
}

/// A burst takes fresh mbufs from its pool in one bulk get: all it asked for (up to its
/// room), or none when the pool holds fewer; they come reset (empty, one segment) and go
/// back whole.
#[test]
fn a_burst_takes_fresh_mbufs_in_bulk_all_or_none() {
    common::eal();
    let pool = Mempool::new("bulk", 63, 0, 2176, 0).unwrap();
    let mut b = Burst::new();
    assert!(b.alloc_from(&pool, 40));
    assert_eq!((b.len(), pool.in_use()), (40, 40));
    assert!(b.mbufs().iter().all(|m| m.data().is_empty() && m.nb_segs() == 1));
    // 23 left: 30 are not there, and none is taken.
    assert!(!b.alloc_from(&pool, 30));
    assert_eq!((b.len(), pool.in_use()), (40, 40));
    assert!(b.alloc_from(&pool, 23));
    assert_eq!((b.len(), pool.available()), (63, 0));
    assert!(b.alloc_from(&pool, 0), "nothing asked, nothing taken");
    assert_eq!(b.free_all(), 63);
    assert_eq!(pool.in_use(), 0);

    // More than the burst holds: filled to its capacity.
    let big = Mempool::new("bulk_big", 1023, 0, 2176, 0).unwrap();
    let mut b = Burst::new();
    assert!(b.alloc_from(&big, BURST_CAPACITY + 100));
    assert_eq!((b.len(), big.in_use() as usize), (BURST_CAPACITY, BURST_CAPACITY));
    drop(b);
    assert_eq!(big.in_use(), 0, "a dropped burst gives its mbufs back");
}
