//! Layer 3: longest-prefix-match routing and the neighbour (ARP) table.

pub mod lpm;
pub mod neigh;
