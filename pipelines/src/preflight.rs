//! Every check of a config that needs no device, run by `vnfd --check` and by startup
//! before anything is touched, so that what `--check` accepts startup does not refuse for
//! a reason it could have known. Each refusal names the file and the key.
//!
//! Beyond the config's own validation: the mempool against the queues, the compiled
//! tables, the control socket's groups and directory, the EAL lcore arguments against
//! `[dataplane]`, and every lcore against the CPUs this process may run on.

use crate::control::server::group_id;
use vnf_core::config::{Config, ConfigError, Valid};

/// The EAL arguments vnfd starts with: `-l` and `--main-lcore` from `[dataplane]` unless
/// given, a file prefix of its own unless given, then `[eal] args` and the command line's.
pub fn eal_args(cfg: &Config, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let given: Vec<&String> = cfg.eal.args.iter().chain(extra).collect();
    if flag_value(&given, &["-l", "-c", "--lcores"]).is_none() {
        let mut lcores = vec![cfg.dataplane.main_lcore];
        lcores.extend(&cfg.dataplane.workers);
        args.push("-l".into());
        args.push(lcores.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
    }
    if flag_value(&given, &["--main-lcore"]).is_none() {
        args.push("--main-lcore".into());
        args.push(cfg.dataplane.main_lcore.to_string());
    }
    if flag_value(&given, &["--file-prefix"]).is_none() {
        args.push("--file-prefix".into());
        args.push("vnfd".into());
    }
    args.extend(given.into_iter().cloned());
    args
}

/// The first of `flags` in `args` and its value (`-l 0,1`, `-l0,1` or `--lcores=...`).
fn flag_value<'a>(args: &[&'a String], flags: &[&'static str]) -> Option<(&'static str, Option<&'a str>)> {
    for (i, a) in args.iter().enumerate() {
        for &f in flags {
            if a.as_str() == f {
                return Some((f, args.get(i + 1).map(|s| s.as_str())));
            }
            if let Some(v) = a.strip_prefix(f) {
                if let Some(v) = v.strip_prefix('=') {
                    return Some((f, Some(v)));
                }
                if f.len() == 2 && !v.is_empty() {
                    return Some((f, Some(v)));
                }
            }
        }
    }
    None
}

/// The lcores of a `-l` list (`0,2-3`).
fn parse_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a || b - a > 1024 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    Some(out)
}

/// The lcores of a `-c` hex mask.
fn parse_mask(s: &str) -> Option<Vec<u32>> {
    let m = u128::from_str_radix(s.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()?;
    Some((0..128).filter(|i| m >> i & 1 == 1).collect())
}

/// The lcores of a `--lcores` map without groups (`0@0,1@1,2-3`); `None` for the forms
/// with parentheses, which are left to EAL.
fn parse_lcores(s: &str) -> Option<Vec<u32>> {
    if s.contains('(') {
        return None;
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let l = part.split('@').next()?;
        out.extend(parse_list(l)?);
    }
    Some(out)
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<u32> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writes of its size.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads the set within its size (i < CPU_SETSIZE).
    (0..libc::CPU_SETSIZE as usize).filter(|&i| unsafe { libc::CPU_ISSET(i, &set) }).map(|i| i as u32).collect()
}

/// `0-1,4` for a sorted list of CPUs.
fn ranges(cpus: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    out.join(",")
}

/// Every device-free check of `cfg` (read from `file`), with the EAL arguments given on the
/// command line (`extra`), the control socket vnfd will serve (`socket`, empty for none)
/// and the CPUs it may run on (`cpus`).
pub fn check(cfg: &Valid<Config>, file: &str, extra: &[String], socket: &str, cpus: &[u32]) -> Result<(), ConfigError> {
    check_inner(cfg, extra, socket, cpus).map_err(|mut e| {
        e.file.get_or_insert_with(|| file.to_owned());
        e
    })
}

fn check_inner(cfg: &Valid<Config>, extra: &[String], socket: &str, cpus: &[u32]) -> Result<(), ConfigError> {
    vnf_core::pipeline::Tables::compile(cfg)?;
    let c = &cfg.control;
    for (key, g) in [("control.group", &c.group), ("control.admin_group", &c.admin_group)] {
        if let Some(g) = g {
            if group_id(g).is_none() {
                return Err(ConfigError::at(key, format!("no group {g:?} on this system")));
            }
        }
    }
    if !socket.is_empty() {
        let parent = std::path::Path::new(socket).parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(p) = parent {
            if !p.is_dir() {
                return Err(ConfigError::at("control.socket", format!("{} is not a directory", p.display())));
            }
        }
    }
    if let Some(d) = &c.config_dir {
        if !std::path::Path::new(d).is_dir() {
            return Err(ConfigError::at("control.config_dir", format!("{d} is not a directory")));
        }
    }

    let d = &cfg.dataplane;
    let given: Vec<&String> = cfg.eal.args.iter().chain(extra).collect();
    if let Some((_, v)) = flag_value(&given, &["--main-lcore"]) {
        let v = v.unwrap_or("");
        if v.parse::<u32>().ok() != Some(d.main_lcore) {
            return Err(ConfigError::at(
                "eal.args",
                format!(
                    "--main-lcore {v} is not dataplane.main_lcore ({}): set dataplane.main_lcore instead",
                    d.main_lcore
                ),
            ));
        }
    }
    let lcore_flag = flag_value(&given, &["-l", "-c", "--lcores"]);
    let listed = match lcore_flag {
        None => None,
        Some((f, v)) => {
            let v = v.unwrap_or("");
            let parsed = match f {
                "-l" => parse_list(v),
                "-c" => parse_mask(v),
                _ => parse_lcores(v),
            };
            if parsed.is_none() && !(f == "--lcores" && v.contains('(')) {
                return Err(ConfigError::at("eal.args", format!("{f} {v:?} is not an lcore list")));
            }
            parsed.map(|l| (f, v, l))
        }
    };
    if let Some((f, v, l)) = &listed {
        if !l.contains(&d.main_lcore) {
            return Err(ConfigError::at(
                "eal.args",
                format!("{f} {v} leaves out dataplane.main_lcore ({}); drop {f} and vnfd derives it", d.main_lcore),
            ));
        }
        for (i, w) in d.workers.iter().enumerate() {
            if !l.contains(w) {
                return Err(ConfigError::at(
                    format!("dataplane.workers[{i}]"),
                    format!("lcore {w} is not in eal.args {f} {v}; drop {f} and vnfd derives it"),
                ));
            }
        }
    }
    // Where vnfd derives the lcores, or `-l`/`-c` gives them, lcore N runs on CPU N.
    let mapped = matches!(lcore_flag, Some(("--lcores", _)));
    if !mapped && !cpus.is_empty() {
        let mut want = vec![("dataplane.main_lcore".to_owned(), d.main_lcore)];
        want.extend(d.workers.iter().enumerate().map(|(i, &w)| (format!("dataplane.workers[{i}]"), w)));
        for (key, l) in want {
            if !cpus.contains(&l) {
                return Err(ConfigError::at(
                    key,
                    format!("lcore {l} is not a CPU vnfd may run on (CPUs {})", ranges(cpus)),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[dataplane]\nworkers = [1]\n[[port]]\nname = \"p\"\ndevargs = \"net_null0\"\n";

    fn run(extra_cfg: &str, extra: &[&str]) -> Result<(), String> {
        let cfg = Config::parse(&format!("{BASE}{extra_cfg}"), Some("t.toml")).map_err(|e| e.to_string())?;
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        check(&cfg, "t.toml", &extra, "", &[0, 1]).map_err(|e| e.to_string())
    }

    #[test]
    fn what_startup_would_refuse_is_refused_naming_the_file_and_key() {
        assert_eq!(run("", &[]), Ok(()));
        assert_eq!(
            run("[control]\ngroup = \"nosuchgroup-vnf\"\n", &[]).unwrap_err(),
            "t.toml: control.group: no group \"nosuchgroup-vnf\" on this system"
        );
        assert_eq!(
            run("[control]\nadmin_group = \"nosuchgroup-vnf\"\n", &[]).unwrap_err(),
            "t.toml: control.admin_group: no group \"nosuchgroup-vnf\" on this system"
        );
        assert_eq!(
            run("[eal]\nargs = [\"--main-lcore\", \"1\"]\n", &[]).unwrap_err(),
            "t.toml: eal.args: --main-lcore 1 is not dataplane.main_lcore (0): set dataplane.main_lcore instead"
        );
        assert_eq!(run("[eal]\nargs = [\"--main-lcore=0\"]\n", &[]), Ok(()));
        assert_eq!(
            run("", &["-l", "0"]).unwrap_err(),
            "t.toml: dataplane.workers[0]: lcore 1 is not in eal.args -l 0; drop -l and vnfd derives it"
        );
        assert_eq!(run("", &["-l0-1"]), Ok(()));
        assert_eq!(run("", &["-c", "0x3"]), Ok(()));
        assert_eq!(
            run("", &["-c", "0x2"]).unwrap_err(),
            "t.toml: eal.args: -c 0x2 leaves out dataplane.main_lcore (0); drop -c and vnfd derives it"
        );
        assert_eq!(run("", &["-l", "zero"]).unwrap_err(), "t.toml: eal.args: -l \"zero\" is not an lcore list");
        let e = Config::parse(&BASE.replace("[1]", "[7]"), Some("t.toml")).unwrap();
        assert_eq!(
            check(&e, "t.toml", &[], "", &[0, 1]).unwrap_err().to_string(),
            "t.toml: dataplane.workers[0]: lcore 7 is not a CPU vnfd may run on (CPUs 0-1)"
        );
        // Lcores mapped onto CPUs by --lcores are EAL's to check.
        assert_eq!(
            check(&e, "t.toml", &["--lcores".into(), "0@0,7@1".into()], "", &[0, 1]).map_err(|e| e.to_string()),
            Ok(())
        );
        assert_eq!(
            run("[dataplane]\n", &[]).unwrap_err().split(": ").next(),
            Some("t.toml:6"),
            "a duplicate table is the parser's, with its line"
        );
        // The mempool size is validation's (the file name is there without preflight).
        let small =
            Config::parse(&BASE.replace("workers = [1]\n", "workers = [1]\nmempool_size = 100\n"), Some("t.toml"));
        let e = small.unwrap_err().to_string();
        assert!(e.starts_with("t.toml: dataplane.mempool_size: 100 mbufs cannot fill"), "{e}");
        assert_eq!(
            check(&Config::parse(BASE, None).unwrap(), "t.toml", &[], "/nonexistent-dir/x.sock", &[0, 1])
                .unwrap_err()
                .to_string(),
            "t.toml: control.socket: /nonexistent-dir is not a directory"
        );
    }

    #[test]
    fn cpu_ranges_read_as_taskset_prints_them() {
        assert_eq!(ranges(&[0, 1, 2, 4, 6, 7]), "0-2,4,6-7");
        assert_eq!(parse_list("0,2-3"), Some(vec![0, 2, 3]));
        assert_eq!(parse_lcores("0@0,1-2@1"), Some(vec![0, 1, 2]));
        assert_eq!(parse_mask("0x5"), Some(vec![0, 2]));
    }
}
