//! The kernel side of SR-IOV management: [`sysfs`] (VF counts, drivers, PCI addresses and
//! binding) and [`netlink`] (VF attributes over rtnetlink), which together implement
//! `vnf_core::sriov::Kernel`. The planner and the apply logic stay pure in `vnf-core`.
//!
//! A crate of its own inside `pipelines/` rather than a module of `pipelines`: it has no
//! DPDK dependency, so `vnf-sriov` and the QEMU guest test (`examples/sriov_guest.rs`) link
//! statically for `ci/sriov-test`, and vnfd uses it through `pipelines::sriov`.

pub mod netlink;
pub mod sysfs;

#[cfg(test)]
mod tests;
