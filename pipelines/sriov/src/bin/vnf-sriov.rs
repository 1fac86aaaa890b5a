//! vnf-sriov: the SR-IOV manager of vnfd on its own, for hosts and initramfs images without
//! DPDK (it links nothing but libc, and builds statically).
//!
//! ```text
//! vnf-sriov list  CONFIG [--json]     the PFs the config names: VFs with MAC, VLAN, ...
//! vnf-sriov plan  CONFIG [--json]     what `apply` would change (dry run)
//! vnf-sriov apply CONFIG [--json]     change it; per-step outcomes
//! ```
//!
//! CONFIG is a vnfd config file; only `[sriov]` (and the ports, to refuse destroying a VF
//! one of them uses) matter. Exit 0 when everything was applied (steps a driver does not
//! support count as applied), 1 when a step failed or the config was refused, 2 on usage.

use std::process::ExitCode;
use vnf_core::config::Config;
use vnf_core::sriov;
use vnf_sriov::sysfs::Sysfs;

fn usage() -> ExitCode {
    eprintln!("usage: vnf-sriov list|plan|apply CONFIG [--json]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let ([cmd, file], true) = (pos.as_slice(), args.iter().filter(|a| a.starts_with("--")).all(|a| a == "--json"))
    else {
        return usage();
    };
    let text = match std::fs::read_to_string(file.as_str()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("vnf-sriov: {file}: {e}");
            return ExitCode::from(1);
        }
    };
    let cfg = match Config::parse(&text, Some(file)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vnf-sriov: {e}");
            return ExitCode::from(1);
        }
    };
    let Some(s) = cfg.sriov.clone() else {
        eprintln!("vnf-sriov: {file}: no [sriov] section");
        return ExitCode::from(1);
    };
    let mut k = match Sysfs::new(&s.sysfs) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("vnf-sriov: rtnetlink: {e}");
            return ExitCode::from(1);
        }
    };
    let in_use = sriov::ports_in_use(&cfg);
    let fail = |e: vnf_core::config::ConfigError| {
        eprintln!("vnf-sriov: {file}: {e}");
        ExitCode::from(1)
    };
    match cmd.as_str() {
        "list" => match sriov::observe(&s, &mut k) {
            Ok(p) if json => println!("{}", serde_json::to_string(&p).unwrap_or_default()),
            Ok(p) => print!("{}", sriov::listing(&p)),
            Err(e) => return fail(e),
        },
        "plan" => match sriov::observe(&s, &mut k).and_then(|st| sriov::plan(&s, &st, &in_use)) {
            Ok(p) if json => println!("{}", serde_json::to_string(&p).unwrap_or_default()),
            Ok(p) if p.is_empty() => println!("nothing to change"),
            Ok(p) => p.iter().for_each(|s| println!("{s}")),
            Err(e) => return fail(e),
        },
        "apply" => match sriov::apply(&s, &mut k, &in_use) {
            Ok(r) => {
                if json {
                    println!("{}", serde_json::to_string(&r).unwrap_or_default());
                } else {
                    r.steps.iter().for_each(|a| println!("{a}"));
                    if r.steps.is_empty() {
                        println!("nothing to change");
                    }
                }
                if r.failed().count() > 0 {
                    return ExitCode::from(1);
                }
            }
            Err(e) => return fail(e),
        },
        _ => return usage(),
    }
    ExitCode::SUCCESS
}
