//! The linked binary finds every virtual PMD the appliance is tested with. (net_vhost and
//! net_virtio_user also pass traffic in the vhost_user test.)

mod common;

use pipelines::dpdk::{Mempool, Port, PortConf};

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
