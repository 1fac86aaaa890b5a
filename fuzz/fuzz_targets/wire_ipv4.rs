//! IPv4 packets (Ipv4Packet, Ipv4Repr, checksum setters, then the transport the protocol
//! names) and the checksum primitives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vnf_fuzz::check_checksum(data);
    vnf_fuzz::check_ipv4(data);
});
