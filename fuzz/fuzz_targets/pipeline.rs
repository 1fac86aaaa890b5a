//! The whole pipeline on `VecBuf`s: arbitrary frames into a stateful config with access,
//! trunk and QinQ ports, two routed bridges, a VXLAN VTEP, conntrack, SNAT and a port
//! forward. The input is a sequence of frames, each `[port, len_hi, len_lo, bytes...]`;
//! every few frames the timers run. No frame may panic a node; every packet must reach an
//! output (the frame checks that in debug builds, which fuzz builds are) or wait (for ARP,
//! or for its first fragment);
//! every sent frame leaves by a configured port with at least an Ethernet header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vnf_core::buf::{PacketBuf, VecAlloc, VecBuf};
use vnf_core::config::Config;
use vnf_core::pipeline::{Output, Pipeline, Sink, Tables};
use vnf_core::stats::WorkerCounters;

const CFG: &str = r#"
[[port]]
name = "u"
devargs = "net_null0"
[[port]]
name = "a"
devargs = "net_null1"
mode = "access"
vlan = 10
[[port]]
name = "t"
devargs = "net_null2"
mode = "trunk"
allowed_vlans = [10, 20]
native_vlan = 20
[[port]]
name = "q"
devargs = "net_null3"
mode = "trunk"
outer_vlan = 100
allowed_vlans = [10]
[[port]]
name = "w"
devargs = "net_null4"
mode = "access"
vlan = 20
[vtep]
underlay = "u"
address = "203.0.113.1/24"
[[vtep.neighbor]]
ip = "203.0.113.2"
mac = "02:00:00:00:0e:02"
[[bridge]]
name = "v10"
vlan = 10
gateway = "192.0.2.254/24"
zone = "inside"
vni = 5010
remote_vteps = ["203.0.113.2", "203.0.113.3"]
[[bridge]]
name = "v20"
vlan = 20
gateway = "198.51.100.1/24"
zone = "outside"
[[route]]
prefix = "0.0.0.0/0"
via = "198.51.100.7"
[bridging]
fdb_size = 1024
[routing]
arp_retry_ms = 5
arp_retries = 1
[conntrack]
capacity = 1024
[[nat.snat]]
from = ["192.0.2.0/24"]
zone = "outside"
pool = ["198.51.100.10"]
[[nat.forward]]
proto = "tcp"
address = "198.51.100.10"
port = 8080
to = "192.0.2.5"
to_port = 80
"#;

struct Out {
    ports: u16,
}

impl Sink<VecBuf> for Out {
    fn tx(&mut self, port: u16, b: VecBuf) {
        assert!(port < self.ports, "tx to port {port}");
        assert!(b.len() >= 14, "a sent frame of {} bytes", b.len());
    }
    fn handoff(&mut self, _: u16, _: u16, _: VecBuf) {
        panic!("handoff with one worker");
    }
    fn free(&mut self, _: VecBuf, why: Output) {
        assert!(!matches!(why, Output::Tx(_) | Output::Handoff(..)));
    }
}

fuzz_target!(|data: &[u8]| {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    let t = TABLES.get_or_init(|| Tables::compile(&Config::parse(CFG, None).expect("config")).expect("tables"));
    let c = WorkerCounters::with_tunnels(t.roles.len(), t.domains.len(), t.remote_vteps.len());
    let alloc = VecAlloc::default();
    let mut pl: Pipeline<VecBuf> = Pipeline::new(t);
    let mut out = Out { ports: t.roles.len() as u16 };
    let (mut rest, mut now, mut n) = (data, 1000u64, 0u32);
    while rest.len() >= 3 {
        let port = u16::from(rest[0]) % (t.roles.len() as u16 + 1);
        let len = (usize::from(rest[1]) << 8 | usize::from(rest[2])).min(rest.len() - 3);
        let frame = &rest[3..3 + len];
        rest = &rest[3 + len..];
        pl.rx(t, port, VecBuf::with_room(frame, VecBuf::DEFAULT_HEADROOM, 64));
        pl.run(t, &alloc, &c, now, &mut out);
        n += 1;
        if n % 4 == 0 {
            now += 7;
            pl.tick(t, &alloc, &c, now, &mut out);
        }
    }
    for _ in 0..4 {
        now += 7;
        pl.tick(t, &alloc, &c, now, &mut out);
    }
});
