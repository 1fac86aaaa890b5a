//! Layer 2: the forwarding database and bridge domains.

pub mod fdb;
