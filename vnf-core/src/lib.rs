//! vnf-core: everything of the appliance that does not need DPDK.
//!
//! Packet buffers ([`buf`]), per-packet metadata ([`packet`]), the dataplane as a graph of
//! nodes over a frame ([`pipeline`]), the tables it uses, the configuration model with validation ([`config`]), counters and drop reasons
//! ([`stats`]), pcap encoding ([`pcap`]) and a synthetic traffic generator ([`gen`]).
//! Nothing here calls DPDK, so all of it is unit-tested without EAL. The only I/O is the
//! SR-IOV manager's ([`sriov`]): sysfs files and an rtnetlink socket, behind a trait, apart
//! from its pure planner. Tables that hold keys a packet chooses hash them with the one
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
