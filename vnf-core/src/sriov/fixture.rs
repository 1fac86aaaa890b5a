//! Test fixtures shared with the SR-IOV kernel side's tests (`pipelines/sriov`): a config
//! of two VFs with every attribute, and the parse that gets its `[sriov]`.

use crate::config::{Config, Sriov};

/// The `[sriov]` of `text` (a config body without `[dataplane]`), which must be valid.
pub fn cfg(text: &str) -> Sriov {
    let c = Config::parse(&format!("[dataplane]\nworkers = [1]\n{text}"), None).unwrap();
    c.into_inner().sriov.unwrap()
}

/// PF `eth0` with 2 VFs: VF 0 with MAC, VLAN + QoS, spoofchk off, trust on, link state and
/// a rate; VF 1 with a MAC and vfio-pci. `ROOT` stands for the sysfs root.
pub const TWO: &str = r#"
[sriov]
sysfs = "ROOT"
[[sriov.pf]]
name = "eth0"
num_vfs = 2
[[sriov.pf.vf]]
index = 0
mac = "02:00:00:00:00:10"
vlan = 10
qos = 2
spoofchk = false
trust = true
link_state = "enable"
max_tx_rate = 100
[[sriov.pf.vf]]
index = 1
mac = "02:00:00:00:00:11"
driver = "vfio-pci"
"#;
