//! The dataplane's counters as one serialisable value, printed by vnfd, answered to `stats`
//! and read by tests and `vnf-perf`. The types are the control protocol's
//! (`vnf_core::control::reply`), so vnfctl reads back exactly what vnfd wrote.

pub use vnf_core::control::reply::{
    BridgeStats, EventLogStats, MempoolStats, PortStats, Stats, VtepStats, WorkerStats,
};
