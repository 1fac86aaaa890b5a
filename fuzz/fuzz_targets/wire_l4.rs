//! UDP, TCP, ICMPv4 and ARP on their own. The first byte picks the parser (all of them for
//! values >= 4), the next 8 bytes are the pseudo-header source and destination, the rest is
//! the packet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let (src, dst, pkt) = if rest.len() >= 8 {
        let a = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let b = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        (a, b, &rest[8..])
    } else {
        (0xc000_0201, 0xc633_6407, rest)
    };
    match sel {
        0 => vnf_fuzz::check_udp(pkt, src, dst),
        1 => vnf_fuzz::check_tcp(pkt, src, dst),
        2 => vnf_fuzz::check_icmp(pkt),
        3 => vnf_fuzz::check_arp(pkt),
        _ => {
            vnf_fuzz::check_udp(pkt, src, dst);
            vnf_fuzz::check_tcp(pkt, src, dst);
            vnf_fuzz::check_icmp(pkt);
            vnf_fuzz::check_arp(pkt);
        }
    }
});
