//! What changes between two configs, key by key, as an operator reads it: `port[p1].mtu:
//! 1500 -> 9000`, `bridge[b30]: added`. Arrays of named tables (ports, bridges, ...) are
//! matched by `name`, so reordering them is no change; other arrays by position.

use super::Config;
use serde_json::Value;

/// The differences from `old` to `new`, one line each, in key order.
pub fn diff(old: &Config, new: &Config) -> Vec<String> {
    let a = serde_json::to_value(old).unwrap_or(Value::Null);
    let b = serde_json::to_value(new).unwrap_or(Value::Null);
    let mut out = Vec::new();
    walk("", Some(&a), Some(&b), &mut out);
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::Object(_) => "{...}".into(),
        other => other.to_string(),
    }
}

fn named(v: &[Value]) -> Option<Vec<(&str, &Value)>> {
    v.iter().map(|e| e.get("name").and_then(Value::as_str).map(|n| (n, e))).collect()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => {}
        (None | Some(Value::Null), Some(b)) => out.push(match b {
            Value::Object(_) | Value::Array(_) => format!("{path}: added"),
            v => format!("{path}: added ({})", show(v)),
        }),
        (Some(a), None | Some(Value::Null)) => out.push(match a {
            Value::Object(_) | Value::Array(_) => format!("{path}: removed"),
            v => format!("{path}: removed (was {})", show(v)),
        }),
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(&join(path, k), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => match (named(x), named(y)) {
            (Some(nx), Some(ny)) if !nx.is_empty() || !ny.is_empty() => {
                for (n, e) in &nx {
                    let other = ny.iter().find(|(m, _)| m == n).map(|(_, e)| *e);
                    walk(&format!("{path}[{n}]"), Some(e), other, out);
                }
                for (n, e) in &ny {
                    if !nx.iter().any(|(m, _)| m == n) {
                        walk(&format!("{path}[{n}]"), None, Some(e), out);
                    }
                }
                let order = |v: &[(&str, &Value)]| v.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
                let (ox, oy) = (order(&nx), order(&ny));
                let kept_x: Vec<&String> = ox.iter().filter(|n| oy.contains(n)).collect();
                let kept_y: Vec<&String> = oy.iter().filter(|n| ox.contains(n)).collect();
                if kept_x != kept_y {
                    out.push(format!("{path}: order {} -> {}", ox.join(","), oy.join(",")));
                }
            }
            _ if x.len() == y.len() && x.iter().all(|e| e.is_object()) => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(&format!("{path}[{i}]"), Some(p), Some(q), out);
                }
            }
            _ if x != y => out.push(format!("{path}: {} -> {}", Value::Array(x.clone()), Value::Array(y.clone()))),
            _ => {}
        },
        (Some(a), Some(b)) if a != b => out.push(format!("{path}: {} -> {}", show(a), show(b))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p0\"\ndevargs = \"net_null0\"\nmode = \"access\"\nvlan = 10\n[[port]]\nname = \"p1\"\ndevargs = \"net_null1\"\nmode = \"access\"\nvlan = 10\n[[bridge]]\nname = \"b10\"\nvlan = 10\n";

    #[test]
    fn changes_are_named_by_key_and_ports_by_name() {
        let a = Config::parse(BASE, None).unwrap();
        assert_eq!(diff(&a, &a), Vec::<String>::new());
        let text = BASE.replace(
            "name = \"p1\"\ndevargs = \"net_null1\"\nmode = \"access\"\nvlan = 10",
            "name = \"p1\"\ndevargs = \"net_null1\"\nmode = \"access\"\nvlan = 20\nmtu = 9000",
        ) + "[[bridge]]\nname = \"b20\"\nvlan = 20\n[dataplane.x]\n";
        let text = text.replace("[dataplane.x]\n", "");
        let b = Config::parse(&text.replace("workers = [1]", "workers = [1]\nburst = 64"), None).unwrap();
        let d = diff(&a, &b);
        assert_eq!(
            d,
            [
                "bridge[b20]: added",
                &format!("dataplane.burst: {} -> 64", a.dataplane.burst),
                "port[p1].mtu: added (9000)",
                "port[p1].vlan: 10 -> 20",
            ]
        );
        // Reordered ports are one line, not a change of every field.
        let swapped = Config::parse(
            &BASE
                .replacen("name = \"p0\"\ndevargs = \"net_null0\"", "name = \"px\"\ndevargs = \"net_nullx\"", 1)
                .replacen("name = \"p1\"\ndevargs = \"net_null1\"", "name = \"p0\"\ndevargs = \"net_null0\"", 1)
                .replacen("name = \"px\"\ndevargs = \"net_nullx\"", "name = \"p1\"\ndevargs = \"net_null1\"", 1),
            None,
        )
        .unwrap();
        assert_eq!(diff(&a, &swapped), ["port: order p0,p1 -> p1,p0"]);
        assert_eq!(diff(&b, &a).len(), 4);
    }
}
