//! Whole Ethernet frames: EthernetFrame, L2Header (VLAN tags), then IPv4 (and its transport)
//! or ARP as the EtherType says.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vnf_fuzz::check_l2(data);
});
