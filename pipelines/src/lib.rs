//! The appliance on DPDK: safe wrappers ([`dpdk`]), the worker loop ([`worker`]), the
//! dataplane that builds ports and workers from a config ([`dataplane`]) and the binaries.

pub mod control;
pub mod dataplane;
pub mod dpdk;
pub mod eventlog;
pub mod metrics;
pub mod preflight;
pub mod prom;
pub mod report;
pub mod sriov;
pub mod telemetry;
pub mod wake;
pub mod worker;
