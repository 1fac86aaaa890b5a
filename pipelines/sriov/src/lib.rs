//! The kernel side of SR-IOV management: [`sysfs`] (VF counts, drivers, PCI addresses and
//! binding) and [`netlink`] (VF attributes over rtnetlink), which together implement
//! `vnf_core::sriov::Kernel`. The planner and the apply logic stay pure in `vnf-core`.
//!
//! A crate of its own inside `pipelines/` rather than a module of `pipelines`: it has no
//! DPDK dependency, so `vnf-sriov` and the QEMU guest test (`examples/sriov_guest.rs`) link
//! statically for `ci/sriov-test`, and vnfd uses it through `pipelines::sriov`.

pub mod netlink;
pub mod sysfs;

use std::io;
use vnf_core::sriov::{VfAttr, VfLink};

/// Where VF attributes are read and set: rtnetlink through the PF's netdev
/// ([`netlink::Netlink`]); [`sysfs::Sysfs`] uses one, or a stand-in in tests.
pub trait VfLinks {
    /// The VFs' attributes as the PF reports them.
    fn vfs(&mut self, pf_netdev: &str) -> io::Result<Vec<VfLink>>;
    /// Sets one attribute of one VF.
    fn set_vf(&mut self, pf_netdev: &str, vf: u16, attr: &VfAttr) -> io::Result<()>;
}

#[cfg(test)]
mod tests;
