//! The SR-IOV test that runs inside a QEMU guest with an emulated Intel 82576 (igb) PF:
//! `ci/sriov-test` builds it statically and boots it with `ci/sriov-vm`.
//!
//! Through the VF manager (`vnf_core::sriov::apply` on the real /sys and rtnetlink): create
//! 2 VFs with MAC, VLAN + QoS, spoof checking, trust, max tx rate, link state and drivers;
//! read everything back through a second rtnetlink socket and through iproute2's `ip`, and
//! compare; apply again (only the unsupported link state is still to do); apply a changed
//! config (only the diff is applied); refuse a count change while a port uses a VF; change
//! the count (through 0); go back to 0 VFs. Prints `SRIOV-TEST: PASS` or `SRIOV-TEST: FAIL`.

use std::process::Command;
use std::time::{Duration, Instant};
use vnf_core::config::Config;
use vnf_core::sriov::{self, Change, InUse, LinkState, Outcome, Report, VfAttr, VfLink};
use vnf_core::wire::MacAddr;
use vnf_sriov::netlink::Netlink;
use vnf_sriov::sysfs::Sysfs;
use vnf_sriov::VfLinks;

/// The failures so far.
struct Check(Vec<String>);

impl Check {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        if got == want {
            println!("ok   {what}: {got:?}");
        } else {
            println!("FAIL {what}: got {got:?}, want {want:?}");
            self.0.push(what.to_owned());
        }
    }
    fn yes(&mut self, what: &str, ok: bool, detail: &str) {
        self.eq(&format!("{what} [{detail}]"), ok, true);
    }
}

fn config(pf: &str, body: &str) -> vnf_core::sriov::Sriov {
    let text = format!("[dataplane]\nworkers = [1]\n[sriov]\n[[sriov.pf]]\nname = \"{pf}\"\n{body}");
    Config::parse(&text, None).unwrap_or_else(|e| panic!("{e}\n{text}")).into_inner().sriov.expect("sriov")
}

const A: &str = r#"num_vfs = 2
autoprobe = true
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
driver = "none"
"#;

/// A changes to B: VF 0 gets another MAC and VLAN 20 without priority and loses its rate
/// limit; VF 1 is trusted, not spoof-checked, and bound back to igbvf.
const B: &str = r#"num_vfs = 2
[[sriov.pf.vf]]
index = 0
mac = "02:00:00:00:00:20"
vlan = 20
qos = 0
spoofchk = false
trust = true
max_tx_rate = 0
[[sriov.pf.vf]]
index = 1
mac = "02:00:00:00:00:11"
spoofchk = false
trust = true
driver = "igbvf"
"#;

fn mac(s: &str) -> MacAddr {
    s.parse().expect("mac")
}

fn steps(r: &Report) -> Vec<String> {
    r.steps.iter().map(ToString::to_string).collect()
}

fn print(r: &Report) {
    for s in steps(r) {
        println!("     step {s}");
    }
}

/// The vf lines of `ip -d link show dev PF`.
fn ip_vf_lines(pf: &str) -> Vec<String> {
    match Command::new("/sbin/ip.iproute2").args(["-d", "link", "show", "dev", pf]).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("vf "))
            .map(str::to_owned)
            .collect(),
        Err(e) => vec![format!("ip: {e}")],
    }
}

fn read_back(pf: &str) -> Vec<VfLink> {
    Netlink::open().and_then(|mut n| n.vfs(pf)).unwrap_or_else(|e| panic!("rtnetlink: {e}"))
}

fn run(c: &mut Check) {
    let pf = std::env::var("SRIOV_PF").expect("SRIOV_PF (run by ci/sriov-vm)");
    let pf_pci = std::env::var("SRIOV_PF_PCI").expect("SRIOV_PF_PCI");
    // igb limits rates only at link speed 1000: wait for the PF's link.
    let end = Instant::now() + Duration::from_secs(15);
    while std::fs::read_to_string(format!("/sys/class/net/{pf}/speed")).map(|s| s.trim() != "1000").unwrap_or(true)
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut k = Sysfs::new("/sys").expect("rtnetlink socket");

    // 1. From 0 VFs to config A. The PF is named by netdev here, by PCI address below.
    let a = config(&pf, A);
    let r = sriov::apply(&a, &mut k, &[]).expect("A is accepted");
    print(&r);
    let unsupported: Vec<String> =
        r.steps.iter().filter(|s| matches!(s.outcome, Outcome::Unsupported(_))).map(|s| s.step.to_string()).collect();
    c.eq(
        "A: the only unsupported step is igb's per-VF link state",
        unsupported,
        vec![format!("{pf_pci} vf 0: link_state enable (was auto)")],
    );
    c.eq("A: no step failed", r.failed().count(), 0);
    c.eq("A: first step creates the VFs", r.steps.first().map(|s| s.step.change.clone()), Some(Change::NumVfs(2)));
    let st = &r.after[0];
    c.eq("A: sriov_numvfs", st.num_vfs, 2);
    let vf_pcis: Vec<Option<String>> = st.vfs.iter().map(|v| v.pci.clone()).collect();
    c.eq(
        "A: VF PCI addresses",
        vf_pcis.clone(),
        vec![Some("0000:01:10.0".to_owned()), Some("0000:01:10.2".to_owned())],
    );
    c.eq("A: VF 0 bound to igbvf by autoprobe", st.vfs[0].driver.as_deref(), Some("igbvf"));
    c.eq("A: VF 1 unbound (driver = none)", st.vfs[1].driver.as_deref(), None);
    let got = read_back(&pf);
    let want0 = VfLink {
        index: 0,
        mac: mac("02:00:00:00:00:10"),
        vlan: 10,
        qos: 2,
        spoofchk: Some(false),
        trust: Some(true),
        link_state: Some(LinkState::Auto),
        min_tx_rate: 0,
        max_tx_rate: 100,
    };
    let want1 = VfLink {
        index: 1,
        mac: mac("02:00:00:00:00:11"),
        spoofchk: Some(true),
        trust: Some(false),
        link_state: Some(LinkState::Auto),
        ..Default::default()
    };
    c.eq("A: VFs read back over rtnetlink", got.clone(), vec![want0.clone(), want1.clone()]);
    let lines = ip_vf_lines(&pf);
    println!("     ip: {lines:?}");
    let l0 = lines.iter().find(|l| l.starts_with("vf 0 ")).cloned().unwrap_or_default();
    for want in
        ["link/ether 02:00:00:00:00:10", "vlan 10, qos 2", "max_tx_rate 100Mbps", "spoof checking off", "trust on"]
    {
        c.yes(&format!("A: iproute2 shows VF 0 with {want:?}"), l0.contains(want), &l0);
    }

    // 2. Again: only the link state igb refuses is still different; nothing else is touched.
    let r = sriov::apply(&a, &mut k, &[]).expect("A again");
    print(&r);
    c.eq(
        "A again: the only step left",
        r.steps
            .iter()
            .map(|s| (s.step.change.clone(), matches!(s.outcome, Outcome::Unsupported(_))))
            .collect::<Vec<_>>(),
        vec![(Change::Attr(VfAttr::LinkState(LinkState::Enable)), true)],
    );
    c.eq("A again: VFs unchanged", read_back(&pf), got);

    // 3. Config B by PCI address: only the differences, in order.
    let b = config(&pf_pci, B);
    let plan = sriov::plan(&b, &sriov::observe(&b, &mut k).expect("observe"), &[]).expect("plan B");
    let r = sriov::apply(&b, &mut k, &[]).expect("B is accepted");
    print(&r);
    c.eq("B: the plan is what was applied", r.steps.iter().map(|s| s.step.clone()).collect::<Vec<_>>(), plan);
    c.eq(
        "B: steps",
        r.steps.iter().map(|s| (s.step.vf, s.step.change.clone())).collect::<Vec<_>>(),
        vec![
            (Some(0), Change::Attr(VfAttr::Mac(mac("02:00:00:00:00:20")))),
            (Some(0), Change::Attr(VfAttr::Vlan { vlan: 20, qos: 0 })),
            (Some(0), Change::Attr(VfAttr::Rate { min: 0, max: 0 })),
            (Some(1), Change::Attr(VfAttr::Spoofchk(false))),
            (Some(1), Change::Attr(VfAttr::Trust(true))),
            (Some(1), Change::Driver("igbvf".into())),
        ],
    );
    c.eq("B: no step failed", r.failed().count(), 0);
    let want0b = VfLink { mac: mac("02:00:00:00:00:20"), vlan: 20, qos: 0, max_tx_rate: 0, ..want0 };
    let want1b = VfLink { spoofchk: Some(false), trust: Some(true), ..want1 };
    c.eq("B: VFs read back over rtnetlink", read_back(&pf), vec![want0b, want1b]);
    c.eq("B: VF 1 bound to igbvf again", r.after[0].vfs[1].driver.as_deref(), Some("igbvf"));

    // 4. A count change while a port runs on VF 1 is refused, and changes nothing.
    let three = config(&pf, "num_vfs = 3\n");
    let used = [InUse { pci: "0000:01:10.2".into(), port: "uplink".into() }];
    match sriov::apply(&three, &mut k, &used) {
        Ok(r) => c.yes("3 VFs while VF 1 is a port: refused", false, &format!("{:?}", steps(&r))),
        Err(e) => c.eq(
            "3 VFs while VF 1 is a port: refused",
            e.to_string(),
            "sriov.pf[0].num_vfs: changing it from 2 to 3 goes through 0 and removes VF 1 (0000:01:10.2), which port \"uplink\" uses; remove the port first".to_owned(),
        ),
    }
    c.eq(
        "refused: still 2 VFs",
        std::fs::read_to_string(format!("/sys/class/net/{pf}/device/sriov_numvfs")).map(|s| s.trim().to_owned()).ok(),
        Some("2".into()),
    );

    // 5. 2 -> 3 goes through 0; the new VFs start from the kernel's defaults.
    let r = sriov::apply(&three, &mut k, &[]).expect("3");
    print(&r);
    c.eq(
        "3: steps",
        r.steps.iter().map(|s| s.step.change.clone()).collect::<Vec<_>>(),
        vec![Change::NumVfs(0), Change::NumVfs(3)],
    );
    c.eq("3: sriov_numvfs", r.after[0].num_vfs, 3);
    let macs: Vec<MacAddr> = read_back(&pf).iter().map(|v| v.mac).collect();
    c.eq("3: fresh VFs have no administrative MAC", macs, vec![MacAddr([0; 6]); 3]);

    // 6. The CLI's dry run lists the plan and changes nothing; then back to 0.
    let zero = format!("[dataplane]\nworkers = [1]\n[sriov]\n[[sriov.pf]]\nname = \"{pf}\"\nnum_vfs = 0\n");
    std::fs::write("/tmp/zero.toml", &zero).expect("write");
    match Command::new("/data/vnf-sriov").args(["plan", "/tmp/zero.toml"]).output() {
        Ok(o) => c.eq(
            "vnf-sriov plan",
            String::from_utf8_lossy(&o.stdout).into_owned(),
            format!("{pf_pci}: sriov_numvfs 3 -> 0\n"),
        ),
        Err(e) => c.yes("vnf-sriov plan runs", false, &e.to_string()),
    }
    match Command::new("/data/vnf-sriov").args(["list", "/tmp/zero.toml"]).output() {
        Ok(o) => {
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            print!("{out}");
            c.yes(
                "vnf-sriov list shows 3 VFs",
                out.lines().filter(|l| l.trim_start().starts_with("vf ")).count() == 3,
                &out,
            );
        }
        Err(e) => c.yes("vnf-sriov list runs", false, &e.to_string()),
    }
    let r = sriov::apply(&config(&pf, "num_vfs = 0\n"), &mut k, &[]).expect("0");
    print(&r);
    c.eq("0: steps", r.steps.iter().map(|s| s.step.change.clone()).collect::<Vec<_>>(), vec![Change::NumVfs(0)]);
    c.eq("0: no VFs over rtnetlink", read_back(&pf).len(), 0);
    c.eq(
        "0: no virtfn links",
        std::fs::read_dir(format!("/sys/class/net/{pf}/device"))
            .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("virtfn")).count())
            .ok(),
        Some(0),
    );
}

/// vnfd itself, when the rig put it in the guest (`SRIOV_VM_ELFS`): it creates the VFs from
/// its config before EAL starts, and `vnfctl vf list` shows them over its control socket.
fn vnfd(c: &mut Check) {
    let pf = std::env::var("SRIOV_PF").expect("SRIOV_PF");
    // VF 1 goes to vfio-pci (behind the guest's emulated VT-d) and is DPDK port "vf1",
    // cross-connected to a null sink. DPDK maps its memory for the VF: hugepages.
    let _ = std::fs::write("/proc/sys/vm/nr_hugepages", "96");
    let _ = std::fs::create_dir_all("/dev/hugepages");
    let _ = Command::new("/bin/busybox").args(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"]).status();
    let sriov = |n: u16| {
        format!(
            r#"[dataplane]
workers = [1]
mempool_size = 8191
rx_desc = 256
tx_desc = 256
[eal]
args = ["--file-prefix", "guest", "-m", "160"]
[[port]]
name = "vf1"
devargs = "0000:01:10.2"
[[port]]
name = "sink"
devargs = "net_null0,no-rx=1"
[[xconnect]]
a = "vf1"
b = "sink"
[control]
socket = "/tmp/vnfd.sock"
[sriov]
[[sriov.pf]]
name = "{pf}"
num_vfs = {n}
[[sriov.pf.vf]]
index = 0
mac = "02:00:00:00:00:30"
vlan = 30
[[sriov.pf.vf]]
index = 1
mac = "02:00:00:00:00:31"
trust = true
driver = "vfio-pci"
"#
        )
    };
    std::fs::write("/tmp/vnfd.toml", sriov(2)).expect("write");
    std::fs::write("/tmp/vnfd3.toml", sriov(3)).expect("write");
    let log = std::fs::File::create("/tmp/vnfd.log").expect("log");
    let mut child = match Command::new("/usr/bin/vnfd")
        .args(["--config", "/tmp/vnfd.toml"])
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .spawn()
    {
        Ok(ch) => ch,
        Err(e) => return c.yes("vnfd starts", false, &e.to_string()),
    };
    let end = Instant::now() + Duration::from_secs(60);
    let running =
        || std::fs::read_to_string("/tmp/vnfd.log").unwrap_or_default().lines().any(|l| l.ends_with("; running"));
    while !running() && Instant::now() < end && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = || std::fs::read_to_string("/tmp/vnfd.log").unwrap_or_default();
    c.yes("vnfd running", running(), &log());
    c.yes("vnfd created the VFs before EAL", log().contains(": sriov_numvfs 0 -> 2: done"), &log());
    let ctl = |args: &[&str]| {
        let o = Command::new("/usr/bin/vnfctl")
            .args(["--socket", "/tmp/vnfd.sock"])
            .args(args)
            .output()
            .expect("vnfctl runs");
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
    };
    let (code, out) = ctl(&["vf", "list"]);
    print!("     vnfctl vf list:\n{out}");
    c.eq("vnfctl vf list exit", code, Some(0));
    let lines: Vec<&str> = out.lines().collect();
    c.yes(
        "vnfctl vf list: the PF with 2 of 7 VFs",
        lines.first().is_some_and(|l| l.starts_with(&format!("pf {pf} (")) && l.contains("vfs 2/7")),
        &out,
    );
    let vf0 = lines.iter().find(|l| l.trim_start().starts_with("vf 0 ")).copied().unwrap_or("");
    let vf1 = lines.iter().find(|l| l.trim_start().starts_with("vf 1 ")).copied().unwrap_or("");
    c.yes(
        "vnfctl vf list: VF 0",
        vf0.contains("0000:01:10.0") && vf0.contains("igbvf") && vf0.contains("mac 02:00:00:00:00:30 vlan 30 qos 0"),
        vf0,
    );
    c.yes(
        "vnfctl vf list: VF 1 on vfio-pci",
        vf1.contains("0000:01:10.2")
            && vf1.contains("vfio-pci")
            && vf1.contains("mac 02:00:00:00:00:31")
            && vf1.contains("trust on"),
        vf1,
    );
    // The VF is a DPDK port, run by DPDK's igb VF driver.
    let (code, out) = ctl(&["--json", "ports"]);
    let drivers: Vec<String> = serde_json::from_str::<serde_json::Value>(out.trim())
        .ok()
        .and_then(|v| {
            v["ports"]
                .as_array()
                .map(|a| a.iter().map(|p| format!("{} {} {}", p["name"], p["driver"], p["devargs"])).collect())
        })
        .unwrap_or_default();
    c.eq(
        "vnfctl ports: VF 1 is DPDK port vf1",
        (code, drivers),
        (
            Some(0),
            vec![
                "\"vf1\" \"net_e1000_igb_vf\" \"0000:01:10.2\"".to_owned(),
                "\"sink\" \"net_null\" \"net_null0,no-rx=1\"".to_owned(),
            ],
        ),
    );
    // A reload that would recreate the VFs under the running port is refused whole.
    let (code, out) = ctl(&["config", "reload", "/tmp/vnfd3.toml"]);
    c.eq(
        "reload to 3 VFs while vf1 runs on VF 1: refused",
        (code, out),
        (
            Some(1),
            "vnfctl: vnfd refused: /tmp/vnfd3.toml: sriov.pf[0].num_vfs: changing it from 2 to 3 goes through 0 and removes VF 1 (0000:01:10.2), which port \"vf1\" uses; remove the port first\n".to_owned(),
        ),
    );
    c.eq(
        "refused reload: still 2 VFs",
        std::fs::read_to_string(format!("/sys/class/net/{pf}/device/sriov_numvfs")).map(|s| s.trim().to_owned()).ok(),
        Some("2".into()),
    );
    let (code, out) = ctl(&["sriov", "apply", "--dry-run"]);
    c.eq("vnfctl sriov apply --dry-run", (code, out), (Some(0), "nothing to change\n".to_owned()));
    let (code, out) = ctl(&["vf", "set", &pf, "1", "--spoofchk", "off"]);
    c.eq(
        "vnfctl vf set",
        (code, out.trim_end().to_owned()),
        (Some(0), format!("{} vf 1: spoofchk off (was on): done", std::env::var("SRIOV_PF_PCI").unwrap_or_default())),
    );
    let _ = Command::new("/bin/busybox").args(["kill", "-TERM", &child.id().to_string()]).status();
    let st = child.wait().expect("wait vnfd");
    c.eq("vnfd stopped cleanly", st.code(), Some(0));
    if !c.0.is_empty() {
        println!("     vnfd log:\n{}", log());
    }
}

fn main() {
    let mut c = Check(Vec::new());
    let t = Instant::now();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&mut c);
        if std::path::Path::new("/usr/bin/vnfd").exists() {
            vnfd(&mut c);
        } else {
            c.yes("vnfd in the guest (ci/sriov-test puts it there)", false, "/usr/bin/vnfd is missing");
        }
    }));
    println!("sriov guest test: {:.1} s", t.elapsed().as_secs_f64());
    match res {
        Ok(()) if c.0.is_empty() => println!("SRIOV-TEST: PASS"),
        Ok(()) => println!("SRIOV-TEST: FAIL ({} checks: {})", c.0.len(), c.0.join("; ")),
        Err(_) => println!("SRIOV-TEST: FAIL (panicked)"),
    }
}
