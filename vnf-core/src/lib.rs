//! vnf-core: everything of the appliance that does not need DPDK.
//!
//! Packet buffers ([`buf`]), per-packet metadata ([`packet`]), the dataplane as a graph of
//! nodes over a frame ([`pipeline`]), the tables it uses, the configuration model with
//! validation ([`config`]), the control protocol's requests and answers ([`control`]),
//! counters and drop reasons ([`stats`]), the SR-IOV planner ([`sriov`]), pcap encoding
//! ([`pcap`]) and a synthetic traffic generator ([`gen`]). Nothing here calls DPDK or does
//! I/O (SR-IOV's sysfs and rtnetlink side is the `vnf-sriov` crate), so all of it is
//! unit-tested without EAL. Tables that hold keys a packet chooses hash them with the one
//! seeded hash ([`hash`]) and offer prefetch methods built on [`prefetch`], the only
//! `unsafe` code of the crate (one allowed function; everything else is denied).
#![deny(unsafe_code)]

pub mod buf;
pub mod config;
pub mod conntrack;
pub mod control;
pub mod eventlog;
pub mod firewall;
pub mod gen;
pub mod hash;
pub mod l2;
pub mod l3;
pub mod nat;
pub mod packet;
pub mod pcap;
pub mod pipeline;
pub mod prefetch;
pub mod sriov;
pub mod stats;
pub mod wire;
