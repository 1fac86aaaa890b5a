//! The control protocol's requests, once for both ends: vnfctl builds a [`Request`] and
//! sends its JSON form (`{"cmd":"fdb","bridge":"b10"}`); vnfd parses the line into the same
//! type with [`Request::parse`], which refuses unknown commands, unknown arguments and
//! wrong types naming the field. What an argument means (a bridge that exists, an address
//! that parses) is vnfd's to check. The answers are [`reply`]'s types.

pub mod reply;

use serde::Serialize;
use serde_json::{Map, Value};

/// The most entries a listing returns when the request gives no `limit`.
pub const DEFAULT_LIMIT: u64 = 1000;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u64 = 1_000_000;
/// The most packets one `trace add` marks per worker.
pub const TRACE_MAX: u64 = 4096;

/// A connection filter (`conntrack`, `conntrack flush`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CtFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
}

/// `vf set`'s attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VfSet {
    pub pf: String,
    pub vf: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spoofchk: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_tx_rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tx_rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

/// Every request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cmd")]
pub enum Request {
    #[serde(rename = "help")]
    Help,
    #[serde(rename = "version")]
    Version,
    #[serde(rename = "stats")]
    Stats,
    #[serde(rename = "stats clear")]
    StatsClear,
    #[serde(rename = "ports")]
    Ports,
    #[serde(rename = "fdb")]
    Fdb {
        #[serde(skip_serializing_if = "Option::is_none")]
        bridge: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
    },
    #[serde(rename = "fdb flush")]
    FdbFlush {
        #[serde(skip_serializing_if = "Option::is_none")]
        bridge: Option<String>,
    },
    #[serde(rename = "neigh")]
    Neigh {
        #[serde(skip_serializing_if = "Option::is_none")]
        bridge: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
    },
    #[serde(rename = "neigh flush")]
    NeighFlush {
        #[serde(skip_serializing_if = "Option::is_none")]
        bridge: Option<String>,
    },
    #[serde(rename = "vtep")]
    Vtep,
    #[serde(rename = "conntrack")]
    Conntrack {
        #[serde(flatten)]
        filter: CtFilter,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
    },
    #[serde(rename = "conntrack count")]
    ConntrackCount,
    #[serde(rename = "conntrack flush")]
    ConntrackFlush {
        #[serde(flatten)]
        filter: CtFilter,
    },
    #[serde(rename = "nat")]
    Nat {
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
    },
    #[serde(rename = "firewall")]
    Firewall,
    #[serde(rename = "config show")]
    ConfigShow,
    #[serde(rename = "config reload")]
    ConfigReload {
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    #[serde(rename = "config check")]
    ConfigCheck { path: String },
    #[serde(rename = "config diff")]
    ConfigDiff { path: String },
    #[serde(rename = "latency")]
    Latency,
    #[serde(rename = "trace add")]
    TraceAdd {
        n: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        port: Option<String>,
    },
    #[serde(rename = "trace show")]
    TraceShow,
    #[serde(rename = "trace clear")]
    TraceClear,
    #[serde(rename = "runtime")]
    Runtime {
        #[serde(skip_serializing_if = "Option::is_none")]
        enable: Option<bool>,
    },
    #[serde(rename = "vf list")]
    VfList,
    #[serde(rename = "vf set")]
    VfSet(VfSet),
    #[serde(rename = "sriov apply")]
    SriovApply {
        #[serde(default)]
        dry_run: bool,
    },
    #[serde(rename = "log")]
    Log,
    #[serde(rename = "log level")]
    LogLevel { module: String, level: String },
    #[serde(rename = "port set")]
    PortSet { port: String, state: String },
    #[serde(rename = "clients")]
    Clients,
    #[serde(rename = "clients kick")]
    ClientsKick { id: u64 },
}

/// The type of an argument.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Uint(u64),
    Bool,
}

/// An argument: name, type, required.
type ArgSpec = (&'static str, Ty, bool);

/// Every command with its arguments, in `help`'s order.
const SPEC: &[(&str, &[ArgSpec])] = &[
    ("help", &[]),
    ("version", &[]),
    ("stats", &[]),
    ("stats clear", &[]),
    ("ports", &[]),
    ("fdb", &[("bridge", Ty::Str, false), ("limit", Ty::Uint(MAX_LIMIT), false)]),
    ("fdb flush", &[("bridge", Ty::Str, false)]),
    ("neigh", &[("bridge", Ty::Str, false), ("limit", Ty::Uint(MAX_LIMIT), false)]),
    ("neigh flush", &[("bridge", Ty::Str, false)]),
    ("vtep", &[]),
    ("conntrack", &[FSRC, FDST, FPROTO, FPORT, ("limit", Ty::Uint(MAX_LIMIT), false)]),
    ("conntrack count", &[]),
    ("conntrack flush", &[FSRC, FDST, FPROTO, FPORT]),
    ("nat", &[("limit", Ty::Uint(MAX_LIMIT), false)]),
    ("firewall", &[]),
    ("config show", &[]),
    ("config reload", &[("path", Ty::Str, false)]),
    ("config check", &[("path", Ty::Str, true)]),
    ("config diff", &[("path", Ty::Str, true)]),
    ("latency", &[]),
    ("trace add", &[("n", Ty::Uint(TRACE_MAX), true), ("port", Ty::Str, false)]),
    ("trace show", &[]),
    ("trace clear", &[]),
    ("runtime", &[("enable", Ty::Bool, false)]),
    ("vf list", &[]),
    (
        "vf set",
        &[
            ("pf", Ty::Str, true),
            ("vf", Ty::Uint(255), true),
            ("mac", Ty::Str, false),
            ("vlan", Ty::Uint(4094), false),
            ("qos", Ty::Uint(7), false),
            ("spoofchk", Ty::Bool, false),
            ("trust", Ty::Bool, false),
            ("link_state", Ty::Str, false),
            ("min_tx_rate", Ty::Uint(u32::MAX as u64), false),
            ("max_tx_rate", Ty::Uint(u32::MAX as u64), false),
            ("driver", Ty::Str, false),
        ],
    ),
    ("sriov apply", &[("dry_run", Ty::Bool, false)]),
    ("log", &[]),
    ("log level", &[("module", Ty::Str, true), ("level", Ty::Str, true)]),
    ("port set", &[("port", Ty::Str, true), ("state", Ty::Str, true)]),
    ("clients", &[]),
    ("clients kick", &[("id", Ty::Uint(u64::MAX), true)]),
];

const FSRC: ArgSpec = ("src", Ty::Str, false);
const FDST: ArgSpec = ("dst", Ty::Str, false);
const FPROTO: ArgSpec = ("proto", Ty::Str, false);
const FPORT: ArgSpec = ("port", Ty::Uint(65535), false);

/// Every command name, as `help` lists them.
pub fn commands() -> Vec<&'static str> {
    SPEC.iter().map(|(c, _)| *c).collect()
}

/// What a refused request is told, naming the field.
pub type Refusal = String;

/// The arguments of one request, checked against the spec.
struct Checked<'a> {
    obj: &'a Map<String, Value>,
}

impl Checked<'_> {
    fn str(&self, k: &str) -> Option<String> {
        self.obj.get(k).and_then(Value::as_str).map(str::to_owned)
    }
    fn uint(&self, k: &str) -> Option<u64> {
        self.obj.get(k).and_then(Value::as_u64)
    }
    fn bool(&self, k: &str) -> Option<bool> {
        self.obj.get(k).and_then(Value::as_bool)
    }
    fn filter(&self) -> CtFilter {
        CtFilter { src: self.str("src"), dst: self.str("dst"), proto: self.str("proto"), port: self.uint("port") }
    }
}

impl Request {
    /// Parses one request line.
    pub fn parse_line(line: &str) -> Result<Request, Refusal> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("request: not JSON ({e})"))?;
        let Value::Object(obj) = &v else {
            return Err("request: expected a JSON object like {\"cmd\":\"stats\"}".into());
        };
        Request::parse(obj)
    }

    /// Parses one request object: the command, then each argument against its type.
    pub fn parse(obj: &Map<String, Value>) -> Result<Request, Refusal> {
        let cmd = match obj.get("cmd") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Err(format!("cmd: expected a string, got {other}")),
            None => return Err("cmd: missing (e.g. {\"cmd\":\"help\"})".into()),
        };
        let Some((_, args)) = SPEC.iter().find(|(c, _)| *c == cmd) else {
            return Err(format!("cmd: unknown command {cmd:?} (known: {})", commands().join(", ")));
        };
        for k in obj.keys().filter(|k| *k != "cmd") {
            if !args.iter().any(|(a, _, _)| a == k) {
                let takes = if args.is_empty() {
                    "no arguments".to_owned()
                } else {
                    args.iter().map(|(a, _, _)| *a).collect::<Vec<_>>().join(", ")
                };
                return Err(format!("{k}: not an argument of {cmd:?} (it takes {takes})"));
            }
        }
        for &(k, ty, required) in args.iter() {
            match (obj.get(k), ty) {
                (None | Some(Value::Null), _) if required => return Err(format!("{k}: missing")),
                (None | Some(Value::Null), _)
                | (Some(Value::String(_)), Ty::Str)
                | (Some(Value::Bool(_)), Ty::Bool) => {}
                (Some(v), Ty::Uint(max)) if v.as_u64().is_some_and(|n| n <= max) => {}
                (Some(v), Ty::Uint(max)) => return Err(format!("{k}: expected an integer in 0..={max}, got {v}")),
                (Some(v), Ty::Str) => return Err(format!("{k}: expected a string, got {v}")),
                (Some(v), Ty::Bool) => return Err(format!("{k}: expected true or false, got {v}")),
            }
        }
        let a = Checked { obj };
        Ok(match cmd {
            "help" => Request::Help,
            "version" => Request::Version,
            "stats" => Request::Stats,
            "stats clear" => Request::StatsClear,
            "ports" => Request::Ports,
            "fdb" => Request::Fdb { bridge: a.str("bridge"), limit: a.uint("limit") },
            "fdb flush" => Request::FdbFlush { bridge: a.str("bridge") },
            "neigh" => Request::Neigh { bridge: a.str("bridge"), limit: a.uint("limit") },
            "neigh flush" => Request::NeighFlush { bridge: a.str("bridge") },
            "vtep" => Request::Vtep,
            "conntrack" => Request::Conntrack { filter: a.filter(), limit: a.uint("limit") },
            "conntrack count" => Request::ConntrackCount,
            "conntrack flush" => Request::ConntrackFlush { filter: a.filter() },
            "nat" => Request::Nat { limit: a.uint("limit") },
            "firewall" => Request::Firewall,
            "config show" => Request::ConfigShow,
            "config reload" => Request::ConfigReload { path: a.str("path") },
            "config check" => Request::ConfigCheck { path: a.str("path").unwrap_or_default() },
            "config diff" => Request::ConfigDiff { path: a.str("path").unwrap_or_default() },
            "latency" => Request::Latency,
            "trace add" => Request::TraceAdd { n: a.uint("n").unwrap_or(0), port: a.str("port") },
            "trace show" => Request::TraceShow,
            "trace clear" => Request::TraceClear,
            "runtime" => Request::Runtime { enable: a.bool("enable") },
            "vf list" => Request::VfList,
            "vf set" => Request::VfSet(VfSet {
                pf: a.str("pf").unwrap_or_default(),
                vf: a.uint("vf").unwrap_or(0),
                mac: a.str("mac"),
                vlan: a.uint("vlan"),
                qos: a.uint("qos"),
                spoofchk: a.bool("spoofchk"),
                trust: a.bool("trust"),
                link_state: a.str("link_state"),
                min_tx_rate: a.uint("min_tx_rate"),
                max_tx_rate: a.uint("max_tx_rate"),
                driver: a.str("driver"),
            }),
            "sriov apply" => Request::SriovApply { dry_run: a.bool("dry_run").unwrap_or(false) },
            "log" => Request::Log,
            "log level" => Request::LogLevel {
                module: a.str("module").unwrap_or_default(),
                level: a.str("level").unwrap_or_default(),
            },
            "port set" => {
                Request::PortSet { port: a.str("port").unwrap_or_default(), state: a.str("state").unwrap_or_default() }
            }
            "clients" => Request::Clients,
            "clients kick" => Request::ClientsKick { id: a.uint("id").unwrap_or(0) },
            other => unreachable!("{other} is in SPEC but not parsed"),
        })
    }

    /// Its wire form: one JSON object (without the newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Its arguments as sent on the wire (without `cmd`), e.g. for a log line.
    pub fn args(&self) -> Map<String, Value> {
        let mut m = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        m.remove("cmd");
        m
    }

    /// Its command name.
    pub fn cmd(&self) -> &'static str {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        let name = v.get("cmd").and_then(Value::as_str).unwrap_or("");
        SPEC.iter().map(|(c, _)| *c).find(|c| *c == name).unwrap_or("")
    }

    /// Whether it needs the admin role: everything that changes state, reads a file the
    /// client names, or touches another client.
    pub fn needs_admin(&self) -> bool {
        match self {
            Request::FdbFlush { .. }
            | Request::NeighFlush { .. }
            | Request::ConntrackFlush { .. }
            | Request::ConfigReload { .. }
            | Request::ConfigCheck { .. }
            | Request::ConfigDiff { .. }
            | Request::TraceAdd { .. }
            | Request::TraceClear
            | Request::StatsClear
            | Request::VfSet(_)
            | Request::SriovApply { .. }
            | Request::PortSet { .. }
            | Request::LogLevel { .. }
            | Request::ClientsKick { .. } => true,
            // Turning the node counters on or off (and zeroing them) changes what others see.
            Request::Runtime { enable } => enable.is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each request, with every argument set.
    fn samples() -> Vec<Request> {
        let f = CtFilter {
            src: Some("10.0.0.1".into()),
            dst: Some("10.0.0.2".into()),
            proto: Some("tcp".into()),
            port: Some(80),
        };
        vec![
            Request::Help,
            Request::Version,
            Request::Stats,
            Request::StatsClear,
            Request::Ports,
            Request::Fdb { bridge: Some("b".into()), limit: Some(5) },
            Request::FdbFlush { bridge: Some("b".into()) },
            Request::Neigh { bridge: None, limit: Some(1) },
            Request::NeighFlush { bridge: None },
            Request::Vtep,
            Request::Conntrack { filter: f.clone(), limit: Some(3) },
            Request::ConntrackCount,
            Request::ConntrackFlush { filter: f },
            Request::Nat { limit: None },
            Request::Firewall,
            Request::ConfigShow,
            Request::ConfigReload { path: Some("/a.toml".into()) },
            Request::ConfigCheck { path: "/a.toml".into() },
            Request::ConfigDiff { path: "/a.toml".into() },
            Request::Latency,
            Request::TraceAdd { n: 4, port: Some("p0".into()) },
            Request::TraceShow,
            Request::TraceClear,
            Request::Runtime { enable: Some(true) },
            Request::VfList,
            Request::VfSet(VfSet {
                pf: "pf0".into(),
                vf: 1,
                mac: Some("02:00:00:00:00:01".into()),
                vlan: Some(10),
                qos: Some(1),
                spoofchk: Some(true),
                trust: Some(false),
                link_state: Some("auto".into()),
                min_tx_rate: Some(1),
                max_tx_rate: Some(2),
                driver: Some("vfio-pci".into()),
            }),
            Request::SriovApply { dry_run: true },
            Request::Log,
            Request::LogLevel { module: "pmd.net.*".into(), level: "debug".into() },
            Request::PortSet { port: "p0".into(), state: "down".into() },
            Request::Clients,
            Request::ClientsKick { id: 9 },
        ]
    }

    #[test]
    fn what_vnfctl_sends_vnfd_parses_back_for_every_command() {
        let all = samples();
        let names: Vec<&str> = all.iter().map(Request::cmd).collect();
        assert_eq!(names, commands(), "one sample per command, in help's order");
        for r in all {
            assert_eq!(Request::parse_line(&r.to_line()), Ok(r.clone()), "{}", r.to_line());
            assert!(!r.args().contains_key("cmd"));
        }
        assert_eq!(Value::Object(Request::TraceAdd { n: 5, port: None }.args()).to_string(), r#"{"n":5}"#);
        assert_eq!(Request::Fdb { bridge: None, limit: None }.to_line(), r#"{"cmd":"fdb"}"#);
    }

    #[test]
    fn refusals_name_the_field() {
        let e = |l: &str| Request::parse_line(l).unwrap_err();
        assert_eq!(
            e(r#"{"cmd":"stats","verbose":true}"#),
            "verbose: not an argument of \"stats\" (it takes no arguments)"
        );
        assert_eq!(e(r#"{"cmd":"neigh","limit":-1}"#), "limit: expected an integer in 0..=1000000, got -1");
        assert_eq!(e(r#"{"cmd":"trace add"}"#), "n: missing");
        assert_eq!(e(r#"{"cmd":"runtime","enable":1}"#), "enable: expected true or false, got 1");
        assert_eq!(e(r#"{"cmd":"fdb","bridge":3}"#), "bridge: expected a string, got 3");
        assert_eq!(e(r#"{"cmd":7}"#), "cmd: expected a string, got 7");
        assert!(e(r#"{"cmd":"reboot"}"#).starts_with("cmd: unknown command \"reboot\" (known: help, version,"));
        assert!(e("[1]").starts_with("request: expected a JSON object"));
        assert!(e("{x").starts_with("request: not JSON"));
        // null is "not given".
        assert_eq!(
            Request::parse_line(r#"{"cmd":"fdb","bridge":null}"#),
            Ok(Request::Fdb { bridge: None, limit: None })
        );
    }
}
