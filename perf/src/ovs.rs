//! OVS-DPDK as a device under test beside vnfd, in the same run: Debian's
//! `openvswitch-switch-dpdk` (3.1 on bookworm) with a private ovsdb and `ovs-vswitchd` in a
//! directory of its own (nothing of the system's Open vSwitch is touched), one userspace
//! (`netdev`) bridge, two `dpdkvhostuser` ports (`gen` = OpenFlow port 1, `sink` = 2) whose
//! sockets the generator attaches to, one PMD thread on CPU 1 and its main thread on CPU 0,
//! as vnfd runs. Each scenario is the OpenFlow rules that do the same work.
//!
//! The VXLAN scenarios use OVS's userspace tunnelling as its documentation sets it up: the
//! tunnel port `vx` (OpenFlow port 3, VNI 5010, 203.0.113.1 -> 203.0.113.2) on `br0` beside
//! the access port, the underlay port on a second bridge `br-phy` whose internal port holds
//! the VTEP address and MAC (vnfd's, 203.0.113.1/24, 02:76:6e:66:ff:fe) and the remote VTEP's
//! MAC in OVS's tunnel ARP cache. ovs-vswitchd then runs in a network namespace of its own,
//! so the address and route it needs never touch the host's.

use crate::scenario::{Scenario, VNI, VTEP_LOCAL, VTEP_MAC, VTEP_REMOTE, VTEP_REMOTE_MAC};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The DPDK build of ovs-vswitchd in Debian's package.
pub const VSWITCHD: &str = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk";
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Makes sure OVS-DPDK is installed: installs Debian's package when it is missing (apt, as
/// root); an error says why it cannot be run.
pub fn ensure_installed() -> Result<(), String> {
    if Path::new(VSWITCHD).exists() && Path::new(SCHEMA).exists() {
        return Ok(());
    }
    eprintln!("vnf-perf: OVS-DPDK is not installed; installing Debian's openvswitch-switch-dpdk");
    let st = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "openvswitch-switch-dpdk"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("apt-get: {e}"))?;
    if !st.success() || !Path::new(VSWITCHD).exists() {
        return Err(format!("apt-get install openvswitch-switch-dpdk failed ({st}); {VSWITCHD} is missing"));
    }
    // The package starts the system's Open vSwitch; it is not needed (ours runs privately).
    let _ = Command::new("sh").args(["-c", "service openvswitch-switch stop >/dev/null 2>&1"]).status();
    Ok(())
}

const GW10: &str = "02:76:6e:66:00:0a";
const GW20: &str = "02:76:6e:66:00:14";

/// The OpenFlow rules for `sc` on bridge `br0` (gen = port 1, sink = port 2), both ways
/// (the reverse direction carries the replies of `--bidir`), or None when OVS cannot express
/// the scenario here (yet). Where vnfd routes, the rules do a router's work on the packet
/// (destination MAC checked, MACs rewritten, TTL decremented) with the next hops' MACs
/// written in (OVS resolves no neighbours here; vnfd answers from its ARP table).
pub fn flows(sc: Scenario) -> Option<Vec<String>> {
    let fwd = format!("mod_dl_src:{GW20},mod_dl_dst:02:00:00:00:00:02,dec_ttl,output:2");
    let rev = format!("mod_dl_src:{GW10},mod_dl_dst:02:00:00:00:00:01,dec_ttl,output:1");
    Some(match sc {
        Scenario::Xconnect => vec!["in_port=1,actions=output:2".into(), "in_port=2,actions=output:1".into()],
        // Trunk in (tag 10), access out: pop; the replies get the tag pushed.
        Scenario::L2Pop => vec![
            "in_port=1,dl_vlan=10,actions=strip_vlan,output:2".into(),
            "in_port=2,actions=push_vlan:0x8100,mod_vlan_vid:10,output:1".into(),
        ],
        // Access in, trunk out: push tag 10; the replies are popped.
        Scenario::L2Push => vec![
            "in_port=1,actions=push_vlan:0x8100,mod_vlan_vid:10,output:2".into(),
            "in_port=2,dl_vlan=10,actions=strip_vlan,output:1".into(),
        ],
        Scenario::Route => vec![
            format!("ip,in_port=1,dl_dst={GW10},nw_dst=198.19.0.0/24,actions={fwd}"),
            format!("ip,in_port=2,dl_dst={GW20},nw_dst=198.18.0.0/16,actions={rev}"),
        ],
        // Conntrack zone 1: every packet is looked up (and an existing translation applied);
        // a new connection from the inside is committed with source NAT to the pool; the
        // rest of a tracked connection passes both ways (+est once replies were seen), what
        // is neither is dropped.
        Scenario::Nat => vec![
            format!("table=0,ip,in_port=1,dl_dst={GW10},nw_dst=198.19.0.0/24,actions=ct(zone=1,nat,table=1)"),
            format!("table=0,ip,in_port=2,dl_dst={GW20},actions=ct(zone=1,nat,table=1)"),
            format!(
                "table=1,priority=20,ip,ct_state=+trk+new,in_port=1,actions=ct(commit,zone=1,nat(src=198.19.0.100-198.19.0.131)),{fwd}"
            ),
            format!("table=1,priority=10,ip,ct_state=+trk-new-inv,in_port=1,actions={fwd}"),
            format!("table=1,priority=10,ip,ct_state=+trk-new-inv,in_port=2,actions={rev}"),
        ],
        // br0: the access port and the tunnel port (3); br-phy has the underlay.
        Scenario::VxlanEncap | Scenario::VxlanDecap => {
            let access = if sc == Scenario::VxlanEncap { 1 } else { 2 };
            vec![format!("in_port={access},actions=output:3"), format!("in_port=3,actions=output:{access}")]
        }
        _ => return None,
    })
}

/// For a VXLAN scenario, the name of the port on the underlay bridge `br-phy`.
fn underlay(sc: Scenario) -> Option<&'static str> {
    match sc {
        Scenario::VxlanEncap => Some("sink"),
        Scenario::VxlanDecap => Some("gen"),
        _ => None,
    }
}

/// What OVS's ports `gen` and `sink` are.
pub enum Ports {
    /// `dpdkvhostuser` ports: OVS makes their sockets, the generator attaches to them.
    Vhost,
    /// `dpdk` ports on these devargs (`--no-pci` vdevs: the pcap generator and null sink
    /// of `vnf-perf run`).
    Devargs {
        /// Port `gen`'s devargs.
        gen: String,
        /// Port `sink`'s devargs.
        sink: String,
    },
}

/// A private OVS-DPDK: ovsdb-server and ovs-vswitchd, stopped on drop.
pub struct Ovs {
    dir: PathBuf,
    db: Option<Child>,
    vswitchd: Option<Child>,
    /// ovs-vswitchd's log.
    pub log: PathBuf,
    /// The network namespace ovs-vswitchd runs in (VXLAN scenarios), deleted on drop.
    netns: Option<String>,
}

impl Ovs {
    /// The vhost-user socket of port `name`.
    pub fn socket(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn env(&self, c: &mut Command) {
        for v in ["OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"] {
            c.env(v, &self.dir);
        }
    }

    /// Runs one of Open vSwitch's tools on this instance with its own options `opts`, then
    /// `args`; its stdout, or an error with its stderr.
    fn tool(&self, prog: &str, opts: &[String], args: &[&str]) -> Result<String, String> {
        let mut c = Command::new(prog);
        self.env(&mut c);
        let out = c.args(opts).args(args).output().map_err(|e| format!("{prog}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{prog} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn vsctl(&self, args: &[&str]) -> Result<String, String> {
        let db = format!("--db=unix:{}", self.dir.join("db.sock").display());
        self.tool("ovs-vsctl", &[db, "--timeout=20".into()], args)
    }

    fn ofctl(&self, args: &[&str]) -> Result<(), String> {
        // OpenFlow 1.3: push_vlan is not an OpenFlow 1.0 action.
        self.tool("ovs-ofctl", &["-O".into(), "OpenFlow13".into()], args).map(drop)
    }

    fn appctl(&self, args: &[&str]) -> Result<String, String> {
        let target = format!("--target={}", self.dir.join("ovs-vswitchd.ctl").display());
        self.tool("ovs-appctl", &[target], args)
    }

    /// Starts OVS-DPDK in `dir` (emptied first) with the rules of `sc`; returns once both
    /// ports are up (vhost-user: their sockets exist). `spawn` sets up each process (CPU
    /// affinity).
    pub fn start(
        dir: &Path,
        sc: Scenario,
        pmds: u32,
        ports: &Ports,
        spawn: fn(&mut Command) -> &mut Command,
    ) -> Result<Ovs, String> {
        let rules = flows(sc).ok_or_else(|| format!("OVS: no rules for scenario {} yet", sc.name()))?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut o =
            Ovs { dir: dir.to_owned(), db: None, vswitchd: None, log: dir.join("ovs-vswitchd.log"), netns: None };
        let db = dir.join("conf.db");
        let st = Command::new("ovsdb-tool")
            .args(["create", db.to_str().unwrap_or_default(), SCHEMA])
            .status()
            .map_err(|e| format!("ovsdb-tool: {e}"))?;
        if !st.success() {
            return Err(format!("ovsdb-tool create {}: {st}", db.display()));
        }
        let mut c = Command::new("ovsdb-server");
        o.env(&mut c);
        o.db = Some(
            spawn(&mut c)
                .arg(&db)
                .arg(format!("--remote=punix:{}", dir.join("db.sock").display()))
                .arg(format!("--unixctl={}", dir.join("ovsdb.ctl").display()))
                .arg(format!("--log-file={}", dir.join("ovsdb-server.log").display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("ovsdb-server: {e}"))?,
        );
        wait_for(&[&dir.join("db.sock")], o.db.as_mut(), "ovsdb-server", &dir.join("ovsdb-server.log"))?;
        let prefix = format!("vnfperf-ovs-{}", std::process::id());
        o.vsctl(&["--no-wait", "init"])?;
        o.vsctl(&[
            "--no-wait",
            "set",
            "Open_vSwitch",
            ".",
            "other_config:dpdk-init=true",
            "other_config:dpdk-lcore-mask=0x1",
            // One PMD on CPU 1; a second on CPU 0 (this VM has two).
            if pmds > 1 { "other_config:pmd-cpu-mask=0x3" } else { "other_config:pmd-cpu-mask=0x2" },
            "other_config:dpdk-socket-mem=512",
            &format!("other_config:dpdk-extra=--in-memory --no-pci --file-prefix {prefix}"),
        ])?;
        let under = underlay(sc);
        let mut c = if under.is_some() {
            let ns = prefix.clone();
            let _ = Command::new("ip").args(["netns", "del", &ns]).stderr(Stdio::null()).status();
            run(Command::new("ip").args(["netns", "add", &ns]))?;
            run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
            o.netns = Some(ns.clone());
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns, VSWITCHD]);
            c
        } else {
            Command::new(VSWITCHD)
        };
        o.env(&mut c);
        o.vswitchd = Some(
            spawn(&mut c)
                .arg(format!("unix:{}", dir.join("db.sock").display()))
                .arg(format!("--unixctl={}", dir.join("ovs-vswitchd.ctl").display()))
                .arg(format!("--log-file={}", o.log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("{VSWITCHD}: {e}"))?,
        );
        o.vsctl(&[
            "add-br",
            "br0",
            "--",
            "set",
            "bridge",
            "br0",
            "datapath_type=netdev",
            "protocols=OpenFlow10,OpenFlow13",
        ])?;
        if under.is_some() {
            o.vsctl(&[
                "add-br",
                "br-phy",
                "--",
                "set",
                "bridge",
                "br-phy",
                "datapath_type=netdev",
                &format!("other-config:hwaddr={VTEP_MAC}"),
            ])?;
            o.vsctl(&[
                "add-port",
                "br0",
                "vx",
                "--",
                "set",
                "Interface",
                "vx",
                "type=vxlan",
                "ofport_request=3",
                &format!("options:remote_ip={VTEP_REMOTE}"),
                &format!("options:local_ip={VTEP_LOCAL}"),
                &format!("options:key={VNI}"),
                "options:dst_port=4789",
            ])?;
        }
        for (name, ofport) in [("gen", "1"), ("sink", "2")] {
            let br = if under == Some(name) { "br-phy" } else { "br0" };
            let kind = match ports {
                Ports::Vhost => vec!["type=dpdkvhostuser".to_string()],
                Ports::Devargs { gen, sink } => {
                    let dev = if name == "gen" { gen } else { sink };
                    // Quoted: the devargs hold commas.
                    vec!["type=dpdk".to_string(), format!("options:dpdk-devargs=\"{dev}\"")]
                }
            };
            let mut args = vec!["add-port", br, name, "--", "set", "Interface", name];
            args.extend(kind.iter().map(String::as_str));
            let req = format!("ofport_request={ofport}");
            args.push(&req);
            o.vsctl(&args)?;
            if let Ports::Devargs { .. } = ports {
                // A dpdk port that failed to attach has ofport -1 and says why in `error`.
                let of = o.vsctl(&["get", "Interface", name, "ofport"])?;
                if of.trim() != ofport {
                    let err = o.vsctl(&["get", "Interface", name, "error"]).unwrap_or_default();
                    return Err(format!("OVS: port {name} did not attach ({}); see {}", err.trim(), o.log.display()));
                }
            }
        }
        o.ofctl(&["del-flows", "br0"])?;
        for r in &rules {
            o.ofctl(&["add-flow", "br0", r])?;
        }
        if let (Some(u), Some(ns)) = (under, o.netns.clone()) {
            // The underlay bridge: what br0's tunnel port sends leaves on the underlay port,
            // what comes in goes to the VTEP address (where OVS pops the tunnel).
            let port = if u == "gen" { "1" } else { "2" };
            o.ofctl(&["del-flows", "br-phy"])?;
            o.ofctl(&["add-flow", "br-phy", &format!("in_port=LOCAL,actions=output:{port}")])?;
            o.ofctl(&["add-flow", "br-phy", &format!("in_port={port},actions=LOCAL")])?;
            run(Command::new("ip").args(["-n", &ns, "addr", "add", &format!("{VTEP_LOCAL}/24"), "dev", "br-phy"]))?;
            run(Command::new("ip").args(["-n", &ns, "link", "set", "br-phy", "up"]))?;
            let remote = VTEP_REMOTE.to_string();
            o.appctl(&["tnl/arp/set", "br-phy", &remote, &VTEP_REMOTE_MAC.to_string()])?;
            // OVS reads the kernel's routes of its namespace; wait until it has the VTEP's.
            let until = Instant::now() + Duration::from_secs(10);
            loop {
                if o.appctl(&["ovs/route/lookup", &remote]).is_ok_and(|out| out.contains("br-phy")) {
                    break;
                }
                if Instant::now() > until {
                    return Err(format!(
                        "OVS: no route to {VTEP_REMOTE} via br-phy after 10 s; see {}",
                        o.log.display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Ports::Vhost = ports {
            let (gen, sink) = (o.socket("gen"), o.socket("sink"));
            wait_for(&[&gen, &sink], o.vswitchd.as_mut(), "ovs-vswitchd", &o.log)?;
        }
        Ok(o)
    }

    /// Packets port `name` sent so far (its OpenFlow port counters, read live from the
    /// device).
    pub fn tx_packets(&self, name: &str) -> Result<u64, String> {
        let out = self.appctl(&["dpctl/show", "-s"])?;
        // "  port 2: sink (dpdk: ...)" then indented counter lines up to the next port.
        let is_port = |l: &str| {
            let t = l.trim_start();
            t.starts_with("port ") && t.split_once(": ").is_some_and(|(_, r)| r.split(' ').next() == Some(name))
        };
        let mut lines = out.lines().skip_while(|l| !is_port(l));
        lines.next().ok_or_else(|| format!("OVS: no port {name} in dpctl/show: {out}"))?;
        lines
            .take_while(|l| !l.trim_start().starts_with("port "))
            .find_map(|l| l.trim().strip_prefix("TX packets:")?.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("OVS: no TX packets of port {name} in dpctl/show: {out}"))
    }

    /// Zeroes the PMD threads' statistics (`dpif-netdev/pmd-stats-clear`).
    pub fn pmd_stats_clear(&self) -> Result<(), String> {
        self.appctl(&["dpif-netdev/pmd-stats-clear"]).map(drop)
    }

    /// The PMD threads' processing cycles per packet since the last clear (the busy cycles
    /// over the packets received, as `dpif-netdev/pmd-stats-show` reports them), averaged
    /// over the PMDs that received packets.
    pub fn pmd_cycles_per_packet(&self) -> Result<f64, String> {
        let out = self.appctl(&["dpif-netdev/pmd-stats-show"])?;
        let v: Vec<f64> = out
            .lines()
            .filter_map(|l| {
                l.trim().strip_prefix("avg processing cycles per packet:")?.split_whitespace().next()?.parse().ok()
            })
            .filter(|&c: &f64| c > 0.0)
            .collect();
        if v.is_empty() {
            return Err(format!("OVS: no processing cycles in pmd-stats-show: {out}"));
        }
        Ok(v.iter().sum::<f64>() / v.len() as f64)
    }
}

/// Runs a set-up command; an error gives its stderr.
fn run(c: &mut Command) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{c:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for mut c in [self.vswitchd.take(), self.db.take()].into_iter().flatten() {
            stop(&mut c);
        }
        if let Some(ns) = self.netns.take() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).stderr(Stdio::null()).status();
        }
    }
}

/// Waits up to 20 s for the sockets `paths` that `what` (running as `child`) creates; an
/// error names the program and its log when it exits first or they do not appear.
pub fn wait_for(paths: &[&Path], mut child: Option<&mut Child>, what: &str, log: &Path) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(20);
    while !paths.iter().all(|p| p.exists()) {
        if let Some(Ok(Some(st))) = child.as_mut().map(|c| c.try_wait()) {
            return Err(format!("{what} exited with {st} before its sockets appeared; see {}", log.display()));
        }
        if Instant::now() > until {
            return Err(format!("{what}: no sockets after 20 s ({paths:?}); see {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Stops a child as an operator would: SIGTERM, up to 5 s to exit, then SIGKILL.
pub fn stop(c: &mut Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}
