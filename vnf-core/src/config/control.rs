//! `[control]`: the control socket, its roles and limits, and the exporters.

use super::{yes, ConfigError};
use serde::{Deserialize, Serialize};

/// `[control]`: how vnfd is driven and watched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Unix socket path (`--control` overrides it; empty: no socket).
    #[serde(default = "default_socket")]
    pub socket: String,
    /// Socket file mode, octal (default "0600", or "0660" when `group` is set: a group
    /// owning a socket only its owner may use would get nothing).
    #[serde(default)]
    pub mode: Option<String>,
    /// Group owning the socket (default: vnfd's group). Its members may connect and get the
    /// read-only role: listings and counters, no command that changes anything.
    #[serde(default)]
    pub group: Option<String>,
    /// Members of this group get the admin role (as root and vnfd's own user always do):
    /// every command, including reloads, flushes and SR-IOV changes.
    #[serde(default)]
    pub admin_group: Option<String>,
    /// Clients served at once; more are refused. [`ADMIN_RESERVE`] further slots are kept
    /// for admins, so an admin gets in while other clients hold every slot.
    #[serde(default = "default_clients")]
    pub max_clients: u32,
    /// Longest request line, in bytes.
    #[serde(default = "default_request")]
    pub max_request: u32,
    /// A request line must be complete this long after its first byte (ms); a client that
    /// dribbles it is disconnected.
    #[serde(default = "default_timeout")]
    pub read_timeout_ms: u32,
    /// A client that starts no request for this long, after connecting or after its last
    /// answer, is disconnected (ms).
    #[serde(default = "default_idle")]
    pub idle_timeout_ms: u32,
    /// The largest config file `config check` and `config reload` read (bytes).
    #[serde(default = "default_config_bytes")]
    pub max_config_bytes: u64,
    /// When set, `config check` and `config reload` take only files inside this directory
    /// (after symlinks are resolved).
    #[serde(default)]
    pub config_dir: Option<String>,
    /// Prometheus text exposition on this localhost address, e.g. "127.0.0.1:9464" (off).
    #[serde(default)]
    pub prometheus: Option<std::net::SocketAddr>,
    /// Register the counters as DPDK telemetry commands (`/vnf/...`).
    #[serde(default = "yes")]
    pub telemetry: bool,
}

fn default_socket() -> String {
    "/run/vnfd.sock".into()
}
fn default_clients() -> u32 {
    16
}
fn default_request() -> u32 {
    65536
}
fn default_timeout() -> u32 {
    5000
}
fn default_idle() -> u32 {
    60_000
}
fn default_config_bytes() -> u64 {
    16 << 20
}

/// Client slots kept for admins beyond `max_clients`.
pub const ADMIN_RESERVE: u32 = 2;

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: default_socket(),
            mode: None,
            group: None,
            admin_group: None,
            max_clients: default_clients(),
            max_request: default_request(),
            read_timeout_ms: default_timeout(),
            idle_timeout_ms: default_idle(),
            max_config_bytes: default_config_bytes(),
            config_dir: None,
            prometheus: None,
            telemetry: true,
        }
    }
}

impl Control {
    /// The socket mode as a number.
    pub fn mode_bits(&self) -> Result<u32, ConfigError> {
        let Some(mode) = &self.mode else { return Ok(if self.group.is_some() { 0o660 } else { 0o600 }) };
        let m = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
            .map_err(|_| ConfigError::new("control.mode", format!("{mode:?} is not an octal file mode")))?;
        if m > 0o777 {
            return Err(ConfigError::new("control.mode", format!("{mode:?} is above 0777")));
        }
        Ok(m)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.mode_bits()?;
        if self.max_clients == 0 || self.max_clients > 1024 {
            return Err(ConfigError::new("control.max_clients", format!("{} is not in 1..=1024", self.max_clients)));
        }
        if self.max_request < 256 || self.max_request > 16 << 20 {
            return Err(ConfigError::new(
                "control.max_request",
                format!("{} is not in 256..=16777216", self.max_request),
            ));
        }
        if self.read_timeout_ms == 0 {
            return Err(ConfigError::new("control.read_timeout_ms", "must be above 0"));
        }
        if self.idle_timeout_ms == 0 {
            return Err(ConfigError::new("control.idle_timeout_ms", "must be above 0"));
        }
        if self.max_config_bytes < 1024 || self.max_config_bytes > 1 << 30 {
            return Err(ConfigError::new(
                "control.max_config_bytes",
                format!("{} is not in 1024..=1073741824", self.max_config_bytes),
            ));
        }
        if let Some(d) = &self.config_dir {
            if !d.starts_with('/') {
                return Err(ConfigError::new("control.config_dir", format!("{d:?} is not an absolute path")));
            }
        }
        for (key, g) in [("control.group", &self.group), ("control.admin_group", &self.admin_group)] {
            if g.as_deref().is_some_and(|g| g.is_empty() || g.contains(['\0', '/', ':'])) {
                return Err(ConfigError::new(key, format!("{:?} is not a group name", g.as_deref().unwrap_or(""))));
            }
        }
        if let Some(a) = self.prometheus {
            if !a.ip().is_loopback() {
                return Err(ConfigError::new(
                    "control.prometheus",
                    format!("{a} is not a loopback address (the exporter has no authentication)"),
                ));
            }
        }
        Ok(())
    }
}
