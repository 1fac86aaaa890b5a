//! Layer 3: longest-prefix-match routing, the neighbour (ARP) table, and reassembly.

pub mod fragtrack;
pub mod lpm;
pub mod neigh;
pub mod reass;
