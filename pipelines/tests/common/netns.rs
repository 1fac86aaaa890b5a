//! Network-namespace rig for whole-process tests with real Linux hosts (see
//! shared/TESTING.md): a [`Host`] is a network namespace, a [`Link`] a veth pair with one end
//! in a host and the other in the root namespace for vnfd (`net_af_packet0,iface=...`), and
//! [`Vnfd`] runs the daemon. Everything is removed on drop, pass or panic; [`cleanup_stale`]
//! removes what crashed runs of this rig left behind.
//!
//! Names: namespaces `vnr-{pid}-{n}-{tag}`, veths `vnr{pid%100000}_{n}{h|d}` (`h` in the host,
//! `d` for DPDK). Addresses: TEST-NET ranges only (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24).
//!
//! Setup failures panic with the command and its stderr (these are test fixtures); the
//! traffic helpers return `bool`/`Result` so tests can assert both ways.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Prefix of every namespace and veth of this rig.
pub const PREFIX: &str = "vnr";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static STALE: Once = Once::new();

fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Runs a command in the root namespace; Err carries the command line and its stderr.
pub fn run(args: &[&str]) -> Result<Output, String> {
    let (cmd, rest) = args.split_first().ok_or("empty command")?;
    let out =
        Command::new(cmd).args(rest).stdin(Stdio::null()).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!("`{}` failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn must(args: &[&str]) -> Output {
    match run(args) {
        Ok(o) => o,
        Err(e) => panic!("netns rig: {e}"),
    }
}

/// Whether a process that named something with `pid % 100000` may still be alive.
fn pid_alive(pid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else { return true };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .any(|p| p % 100000 == pid % 100000)
}

fn kill_netns_pids(ns: &str) {
    if let Ok(out) = run(&["ip", "netns", "pids", ns]) {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = run(&["kill", "-9", pid]);
        }
    }
}

/// Lists this rig's namespaces (`ip netns list`).
pub fn rig_namespaces() -> Vec<String> {
    let Ok(out) = run(&["ip", "netns", "list"]) else { return vec![] };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{PREFIX}-")))
        .map(str::to_string)
        .collect()
}

/// Parses `vnr{pid}_{n}{h|d}`; None for anything else.
fn veth_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let rest = rest.strip_suffix('h').or_else(|| rest.strip_suffix('d'))?;
    let (pid, n) = rest.split_once('_')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Lists this rig's veths in the root namespace.
pub fn rig_veths() -> Vec<String> {
    let Ok(out) = run(&["ip", "-o", "link", "show"]) else { return vec![] };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| veth_pid(n).is_some())
        .collect()
}

/// Deletes namespaces and veths of this rig whose creating process is gone.
pub fn cleanup_stale() {
    for ns in rig_namespaces() {
        let pid = ns.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !pid_alive(p)) {
            kill_netns_pids(&ns);
            let _ = run(&["ip", "netns", "del", &ns]);
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
        }
    }
    for v in rig_veths() {
        if veth_pid(&v).is_some_and(|p| !pid_alive(p)) {
            let _ = run(&["ip", "link", "del", &v]);
        }
    }
    // EAL runtime dirs of `file_prefix` names: vnr-{tag}-{pid}-{n}.
    if let Ok(dir) = std::fs::read_dir(DPDK_RUN) {
        for e in dir.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let f: Vec<&str> = name.split('-').collect();
            if f.len() == 4 && f[0] == PREFIX && f[2].parse::<u32>().is_ok_and(|p| !pid_alive(p)) {
                remove_runtime_dir(&name);
            }
        }
    }
}

/// A network namespace that is a Linux host: loopback up, IPv6 off.
pub struct Host {
    name: String,
}

impl Host {
    pub fn new(tag: &str) -> Host {
        STALE.call_once(cleanup_stale);
        let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect();
        let name = format!("{PREFIX}-{}-{}-{tag}", std::process::id(), next());
        kill_netns_pids(&name);
        let _ = run(&["ip", "netns", "del", &name]);
        must(&["ip", "netns", "add", &name]);
        // `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc: give the host a resolver
        // config with no name server, so nothing in it (e.g. http.server's getfqdn) sends DNS
        // queries toward the machine's real resolver through the appliance.
        let etc = format!("/etc/netns/{name}");
        let _ = std::fs::create_dir_all(&etc);
        let _ = std::fs::write(
            format!("{etc}/resolv.conf"),
            "# vnf test host: no DNS\noptions timeout:1 attempts:1\nnameserver 127.0.0.1\n",
        );
        let host = Host { name };
        for key in ["all", "default"] {
            host.must(&["sysctl", "-qw", &format!("net.ipv6.conf.{key}.disable_ipv6=1")]);
        }
        host.must(&["ip", "link", "set", "lo", "up"]);
        host
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args).stdin(Stdio::null());
        c
    }

    /// Runs a command in the namespace and returns its output (whatever the exit status).
    pub fn exec(&self, args: &[&str]) -> Output {
        match self.cmd(args).output() {
            Ok(o) => o,
            Err(e) => panic!("netns rig: cannot run ip netns exec {} {}: {e}", self.name, args.join(" ")),
        }
    }

    /// Like `exec`, but panics unless the command succeeds.
    pub fn must(&self, args: &[&str]) -> Output {
        let out = self.exec(args);
        if !out.status.success() {
            panic!(
                "netns rig: in {}: `{}` failed ({}): {}",
                self.name,
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        out
    }

    /// Starts a process in the namespace (stdin/stdout/stderr null). The host kills whatever
    /// still runs in it when dropped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        match self.cmd(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
            Ok(c) => c,
            Err(e) => panic!("netns rig: cannot spawn in {}: {}: {e}", self.name, args.join(" ")),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        kill_netns_pids(&self.name);
        let _ = run(&["ip", "netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

/// A veth pair: `host_if` in a [`Host`] with an address, `dpdk_if` in the root namespace (no
/// address, IPv6 off, NOARP) for `net_af_packet0,iface=...`. Offloads off on both ends.
pub struct Link {
    /// Root-namespace end, for vnfd.
    pub dpdk_if: String,
    /// End inside the host.
    pub host_if: String,
    /// The host's address on it, without prefix length.
    pub ip: String,
}

impl Host {
    /// The MAC of interface `ifname` in this host.
    pub fn mac(&self, ifname: &str) -> Option<String> {
        let out = self.exec(&["cat", &format!("/sys/class/net/{ifname}/address")]);
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    }

    /// The link-layer address this host has learned for `ip` (`ip neigh`), if any.
    pub fn neighbour(&self, ip: &str) -> Option<String> {
        let out = self.exec(&["ip", "neigh", "show", ip]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut f = text.split_whitespace();
        f.find(|w| *w == "lladdr").and(f.next()).map(str::to_string)
    }
}

const OFFLOADS_OFF: [&str; 8] = ["tx", "off", "tso", "off", "gso", "off", "gro", "off"];

impl Link {
    /// `addr` is "IP/PREFIX", `mac` optional ("02:..").
    pub fn new(host: &Host, addr: &str, mac: Option<&str>) -> Link {
        let n = next();
        let base = format!("{PREFIX}{}_{n}", std::process::id() % 100000);
        assert!(base.len() < 15, "veth name {base} too long");
        let link = Link {
            dpdk_if: format!("{base}d"),
            host_if: format!("{base}h"),
            ip: addr.split('/').next().unwrap_or(addr).to_string(),
        };
        let _ = run(&["ip", "link", "del", &link.dpdk_if]);
        must(&["ip", "link", "add", &link.dpdk_if, "type", "veth", "peer", "name", &link.host_if]);
        // From here on, drop deletes the pair.
        must(&["sysctl", "-qw", &format!("net.ipv6.conf.{}.disable_ipv6=1", link.dpdk_if)]);
        // NOARP: the root namespace must not answer ARP arriving on it for its own
        // addresses (this machine's eth0 may itself sit in a TEST-NET range).
        must(&["ip", "link", "set", &link.dpdk_if, "arp", "off"]);
        let mut k = vec!["ethtool", "-K", &link.dpdk_if];
        k.extend(OFFLOADS_OFF);
        must(&k);
        must(&["ip", "link", "set", &link.host_if, "netns", host.name()]);
        host.must(&["sysctl", "-qw", &format!("net.ipv6.conf.{}.disable_ipv6=1", link.host_if)]);
        let mut k = vec!["ethtool", "-K", &link.host_if];
        k.extend(OFFLOADS_OFF);
        host.must(&k);
        if let Some(mac) = mac {
            host.must(&["ip", "link", "set", &link.host_if, "address", mac]);
        }
        host.must(&["ip", "addr", "add", addr, "dev", &link.host_if]);
        host.must(&["ip", "link", "set", &link.host_if, "up"]);
        must(&["ip", "link", "set", &link.dpdk_if, "up"]);
        link
    }

    /// `net_af_packetN,iface=DPDK_IF`.
    pub fn devargs(&self, n: u32) -> String {
        format!("net_af_packet{n},iface={}", self.dpdk_if)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting one end deletes the pair; it is already gone if its host was dropped first.
        let _ = run(&["ip", "link", "del", &self.dpdk_if]);
    }
}

impl Host {
    /// A kernel VXLAN device `vx5010` (VNI 5010, IANA port 4789) in this host from `local`
    /// to the VTEP at `remote` over `dev`, with MAC `mac`, MTU 1450 (a 1500-byte underlay),
    /// offloads and IPv6 off, and inner address `addr` ("IP/PREFIX"); up.
    pub fn kernel_vxlan(&self, dev: &str, local: &str, remote: &str, mac: &str, addr: &str) {
        let vx = ["ip", "link", "add", "vx5010", "type", "vxlan", "id", "5010", "remote", remote, "local", local];
        let mut cmd = vx.to_vec();
        cmd.extend(["dev", dev, "dstport", "4789"]);
        self.must(&cmd);
        self.must(&["sysctl", "-qw", "net.ipv6.conf.vx5010.disable_ipv6=1"]);
        self.must(&["ip", "link", "set", "vx5010", "address", mac, "mtu", "1450"]);
        self.must(&["ethtool", "-K", "vx5010", "tx", "off", "tso", "off", "gso", "off"]);
        self.must(&["ip", "addr", "add", addr, "dev", "vx5010"]);
        self.must(&["ip", "link", "set", "vx5010", "up"]);
    }
}

/// A unique EAL `--file-prefix` for this process: `vnr-{tag}-{pid}-{n}`. [`Vnfd`] removes
/// its runtime dir (`/var/run/dpdk/PREFIX`) when it has stopped.
pub fn file_prefix(tag: &str) -> String {
    let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{PREFIX}-{tag}-{}-{}", std::process::id(), next())
}

const DPDK_RUN: &str = "/var/run/dpdk";

fn remove_runtime_dir(prefix: &str) {
    if prefix.starts_with(&format!("{PREFIX}-")) && !prefix.contains('/') {
        let _ = std::fs::remove_dir_all(Path::new(DPDK_RUN).join(prefix));
    }
}

/// vnfd as a subprocess: config, stderr, stdout (periodic JSON lines) and the final counters
/// in a temp dir. Dropping it stops it (SIGTERM, SIGKILL after 10 s).
pub struct Vnfd {
    child: Child,
    dir: tempfile::TempDir,
    status: Option<ExitStatus>,
}

impl Vnfd {
    /// Its control socket.
    pub fn control_path(&self) -> std::path::PathBuf {
        self.dir.path().join("control.sock")
    }

    /// Its config file (rewrite it, then reload).
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("vnfd.toml")
    }

    /// Sends one control request and returns the response.
    pub fn request(&self, req: &str) -> Result<serde_json::Value, String> {
        use std::io::{BufRead, Write};
        let mut s =
            std::os::unix::net::UnixStream::connect(self.control_path()).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        writeln!(s, "{req}").map_err(|e| format!("send: {e}"))?;
        let mut rd = std::io::BufReader::new(&s);
        let mut line = String::new();
        rd.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
        // Close our side and wait for vnfd's: its client slot is free again when this returns,
        // so back-to-back requests never count against max_clients.
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = std::io::Read::read_to_end(&mut rd, &mut Vec::new());
        serde_json::from_str(&line).map_err(|e| format!("response {line:?}: {e}"))
    }

    /// Writes `config`, starts vnfd with `--stats-json` plus `extra` args, and waits (at most
    /// 60 s) until its stderr says `running`.
    pub fn start(config: &str, extra: &[&str]) -> Result<Vnfd, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let cfg = dir.path().join("vnfd.toml");
        std::fs::write(&cfg, config).map_err(|e| format!("write config: {e}"))?;
        let open = |name: &str| std::fs::File::create(dir.path().join(name)).map_err(|e| format!("create {name}: {e}"));
        let (stdout, stderr) = (open("stdout.log")?, open("stderr.log")?);
        let json = dir.path().join("stats.json");
        let child = Command::new(env!("CARGO_BIN_EXE_vnfd"))
            .arg("--config")
            .arg(&cfg)
            .arg("--stats-json")
            .arg(&json)
            .arg("--control")
            .arg(dir.path().join("control.sock"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn vnfd: {e}"))?;
        let mut v = Vnfd { child, dir, status: None };
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            // vnfd's own line; EAL's "Is another primary process running?" is not it.
            if v.stderr().lines().any(|l| l.starts_with("vnfd: ") && l.ends_with("; running")) {
                return Ok(v);
            }
            if let Ok(Some(st)) = v.child.try_wait() {
                v.status = Some(st);
                return Err(format!("vnfd exited ({st}) before running:\n{}", v.stderr()));
            }
            if Instant::now() > end {
                return Err(format!("vnfd not running after 60 s:\n{}", v.stderr()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything vnfd wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The last complete JSON line on stdout (`--stats-interval`), if any.
    pub fn last_stats_line(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("stdout.log")).ok()?;
        text.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok().filter(Value::is_object))
    }

    /// Stops vnfd (SIGTERM; SIGKILL after 10 s) and returns its exit status; idempotent.
    pub fn stop(&mut self) -> Result<ExitStatus, String> {
        if let Some(st) = self.status {
            return Ok(st);
        }
        let pid = self.child.id().to_string();
        let _ = run(&["kill", "-TERM", &pid]);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            match self.child.try_wait() {
                Ok(Some(st)) => {
                    self.status = Some(st);
                    return Ok(st);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("wait vnfd: {e}")),
            }
        }
        let _ = self.child.kill();
        let st = self.child.wait().map_err(|e| format!("wait vnfd: {e}"))?;
        self.status = Some(st);
        Err(format!("vnfd ignored SIGTERM for 10 s, killed ({st}):\n{}", self.stderr()))
    }

    /// Stops vnfd (if running), checks it exited 0 and returns its final counters
    /// (`--stats-json`).
    pub fn stats(&mut self) -> Result<Value, String> {
        let st = self.stop()?;
        if !st.success() {
            return Err(format!("vnfd exited {st}:\n{}", self.stderr()));
        }
        let path: PathBuf = self.dir.path().join("stats.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}\n{}", path.display(), self.stderr()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Drop for Vnfd {
    fn drop(&mut self) {
        let _ = self.stop();
        // "vnfd: EAL ... --file-prefix P ..."
        let log = self.stderr();
        let eal = log.lines().find_map(|l| l.strip_prefix("vnfd: EAL ")).unwrap_or("");
        let mut words = eal.split_whitespace();
        if let Some(prefix) = words.find(|w| *w == "--file-prefix").and(words.next()) {
            remove_runtime_dir(prefix);
        }
    }
}

/// Pings `dst` from `host` `count` times (`-c N -W 1 -i 0.2`); the number of replies.
pub fn ping_replies(host: &Host, dst: &str, count: u32) -> u32 {
    let out = host.exec(&["ping", "-n", "-q", "-c", &count.to_string(), "-W", "1", "-i", "0.2", dst]);
    let text = String::from_utf8_lossy(&out.stdout);
    // "N packets transmitted, M received, ..."
    text.lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// True when all `count` pings from `host` to `dst` are answered.
pub fn ping(host: &Host, dst: &str, count: u32) -> bool {
    ping_replies(host, dst, count) == count
}

/// Kills (and reaps) a child on drop.
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `len` pseudo-random bytes (xorshift64*, seeded from the clock).
pub fn random_bytes(len: usize) -> Vec<u8> {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let mut x = nanos ^ ((std::process::id() as u64) << 32) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let p = path.to_str().ok_or("non-UTF-8 path")?;
    let out = run(&["sha256sum", p])?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| "sha256sum printed nothing".into())
}

const FETCH: &str = r#"
import hashlib, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
data = opener.open(sys.argv[1], timeout=10).read()
print(len(data), hashlib.sha256(data).hexdigest())
"#;

/// TCP through whatever joins the hosts: `server` runs `python3 -m http.server PORT --bind
/// IP` over a temp dir holding 2 MiB of pseudo-random bytes; `client` fetches it with urllib
/// (timeout 10 s) and the sha256 must match. Ok carries the elapsed fetch time.
pub fn tcp_transfer(server: &Host, server_ip: &str, port: u16, client: &Host) -> Result<Duration, String> {
    const LEN: usize = 2 << 20;
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let file = dir.path().join("blob.bin");
    std::fs::File::create(&file)
        .and_then(|mut f| f.write_all(&random_bytes(LEN)))
        .map_err(|e| format!("write blob: {e}"))?;
    let want = sha256_file(&file)?;
    let d = dir.path().to_str().ok_or("non-UTF-8 temp dir")?;
    let port_s = port.to_string();
    let mut srv =
        Reaper(server.spawn(&["python3", "-m", "http.server", &port_s, "--bind", server_ip, "--directory", d]));
    // Wait (at most 20 s) until it listens.
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let out = server.exec(&["ss", "-Hltn", &format!("sport = :{port}")]);
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            break;
        }
        if let Ok(Some(st)) = srv.0.try_wait() {
            return Err(format!("http.server in {} exited ({st}) before listening", server.name()));
        }
        if Instant::now() > end {
            return Err(format!("http.server in {} not listening on {server_ip}:{port} after 20 s", server.name()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://{server_ip}:{port}/blob.bin");
    let t = Instant::now();
    let out = client.exec(&["timeout", "60", "python3", "-c", FETCH, &url]);
    let took = t.elapsed();
    drop(srv);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.trim().lines().rev().take(2).collect();
        return Err(format!(
            "fetch {url} from {} failed ({}): {}",
            client.name(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    let (len, got) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
    if len != LEN.to_string() || got != want {
        return Err(format!("fetched {len} bytes sha256 {got}, served {LEN} bytes sha256 {want}"));
    }
    Ok(took)
}

/// The two-zone vnfd config the NAT tests share: the `inside` ports (name, devargs) are
/// access ports of VLAN 10 in bridge `inside` (198.51.100.1/24, zone `inside`), port `out`
/// (devargs `outside`) an access port of VLAN 20 in bridge `outside` (203.0.113.1/24, zone
/// `outside`); `rest` follows (conntrack, NAT, firewall, ...). EAL file prefix `prefix`.
pub fn two_zones(prefix: &str, inside: &[(&str, String)], outside: &str, rest: &str) -> String {
    let mut s = super::eal_preamble(prefix);
    for (name, devargs) in inside {
        s += &format!("\n[[port]]\nname = \"{name}\"\ndevargs = \"{devargs}\"\nmode = \"access\"\nvlan = 10\n");
    }
    s += &format!(
        r#"
[[port]]
name = "out"
devargs = "{outside}"
mode = "access"
vlan = 20

[[bridge]]
name = "inside"
vlan = 10
gateway = "198.51.100.1/24"
zone = "inside"

[[bridge]]
name = "outside"
vlan = 20
gateway = "203.0.113.1/24"
zone = "outside"
"#
    );
    s + rest
}
