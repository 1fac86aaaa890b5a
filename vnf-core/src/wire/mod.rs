//! Typed views over packet bytes. Accessors take and return host-order values.

pub mod ethernet;

pub use ethernet::MacAddr;
