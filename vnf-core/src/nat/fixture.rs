//! The two-zone topology the NAT, pool and config tests share: access port `in` (VLAN 10,
//! bridge `lan`, 198.51.100.1/24, zone `inside`) and access port `out` (VLAN 20, bridge
//! `wan`, 203.0.113.1/24, zone `outside`). `lan` and `wan` are TOML lines added to each
//! bridge (neighbours); `rest` follows the bridges.

/// The config text.
pub(crate) fn two_zones(lan: &str, wan: &str, rest: &str) -> String {
    format!(
        r#"
[[port]]
name = "in"
devargs = "net_null0"
mode = "access"
vlan = 10
[[port]]
name = "out"
devargs = "net_null1"
mode = "access"
vlan = 20
[[bridge]]
name = "lan"
vlan = 10
gateway = "198.51.100.1/24"
zone = "inside"
{lan}
[[bridge]]
name = "wan"
vlan = 20
gateway = "203.0.113.1/24"
zone = "outside"
{wan}
{rest}"#
    )
}
