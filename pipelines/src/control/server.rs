//! The control socket's server: it accepts clients, tells who each is (`SO_PEERCRED`) and
//! what it may do, reads request lines under deadlines, and knows nothing of the commands.
//!
//! Limits, each a config key of `[control]`:
//! - `max_clients` slots for anyone who may connect, and [`ADMIN_RESERVE`] more that only
//!   admins take, so an admin gets in while other clients hold every ordinary slot;
//! - a request line must be complete `read_timeout_ms` after its first byte, and a client
//!   that starts no request for `idle_timeout_ms` is disconnected, so a client that dribbles
//!   bytes or says nothing holds its slot for a bounded time;
//! - `max_request` bytes per line.
//!
//! A client refused for want of a slot is told so (`"busy": true`) before the close.
//! Dropping the [`Server`] closes every client's socket and joins every client thread.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vnf_core::config::{Control as ControlCfg, ADMIN_RESERVE};

/// What a client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Listings and counters only.
    ReadOnly,
    /// Every command.
    Admin,
}

impl Role {
    /// Its name in listings and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Role::ReadOnly => "read-only",
            Role::Admin => "admin",
        }
    }
}

/// A connected client, as the kernel vouches for it.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Its number, unique for the life of the server (`clients kick` takes it).
    pub id: u64,
    pub uid: u32,
    pub gid: u32,
    /// Its process (0 when in another PID namespace).
    pub pid: i32,
    pub role: Role,
}

/// Limits of the socket server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Clients served at once (admins get [`ADMIN_RESERVE`] more).
    pub max_clients: usize,
    /// Longest request line in bytes (without the newline).
    pub max_request: usize,
    /// From the first byte of a request line to its newline.
    pub read_timeout: Duration,
    /// Waiting for the first byte of a request.
    pub idle_timeout: Duration,
    /// Members of this group are admins.
    pub admin_gid: Option<u32>,
}

impl Limits {
    /// The limits `[control]` sets; `admin_group` must name a group.
    pub fn new(c: &ControlCfg) -> io::Result<Limits> {
        let admin_gid = match &c.admin_group {
            None => None,
            Some(g) => Some(group_id(g).ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("control.admin_group: no group {g:?}"))
            })?),
        };
        Ok(Limits {
            max_clients: c.max_clients as usize,
            max_request: c.max_request as usize,
            read_timeout: Duration::from_millis(u64::from(c.read_timeout_ms)),
            idle_timeout: Duration::from_millis(u64::from(c.idle_timeout_ms)),
            admin_gid,
        })
    }
}

/// What a client is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for its next request.
    Idle,
    /// Sending a request line.
    Reading,
    /// Its request is being answered.
    Running,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Reading => "reading",
            State::Running => "running",
        }
    }
}

/// One client as `clients` lists it.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub peer: Peer,
    pub connected: Duration,
    pub requests: u64,
    pub state: State,
    /// It holds one of the slots kept for admins.
    pub reserved: bool,
}

struct Entry {
    peer: Peer,
    since: Instant,
    requests: u64,
    state: State,
    reserved: bool,
    stream: UnixStream,
    thread: Option<JoinHandle<()>>,
}

/// The connected clients.
#[derive(Default)]
pub struct Clients {
    map: Mutex<HashMap<u64, Entry>>,
}

impl Clients {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every connected client, by id.
    pub fn list(&self) -> Vec<ClientInfo> {
        let mut v: Vec<ClientInfo> = self
            .lock()
            .values()
            .map(|e| ClientInfo {
                peer: e.peer.clone(),
                connected: e.since.elapsed(),
                requests: e.requests,
                state: e.state,
                reserved: e.reserved,
            })
            .collect();
        v.sort_by_key(|c| c.peer.id);
        v
    }

    /// Closes client `id`'s connection (a request it is running is finished first);
    /// whether there was one.
    pub fn kick(&self, id: u64) -> bool {
        match self.lock().get(&id) {
            Some(e) => {
                let _ = e.stream.shutdown(std::net::Shutdown::Both);
                true
            }
            None => false,
        }
    }

    fn set(&self, id: u64, state: State) {
        if let Some(e) = self.lock().get_mut(&id) {
            if state == State::Running {
                e.requests += 1;
            }
            e.state = state;
        }
    }
}

/// One request line and who sent it.
pub struct Request<'a> {
    pub peer: &'a Peer,
    pub line: &'a str,
    pub clients: &'a Clients,
}

/// Answers one request line with one response line (without the newline).
pub type Handler = Arc<dyn Fn(&Request<'_>) -> String + Send + Sync>;

/// A response refusing a request.
pub fn refusal(msg: impl std::fmt::Display) -> String {
    vnf_core::control::reply::Status::refusal(msg, false)
}

/// The listening socket and its threads. Dropping it stops accepting, closes every client's
/// connection, joins their threads and removes the socket file.
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    clients: Arc<Clients>,
}

impl Server {
    /// Binds `path` (mode `mode`, group `group` if given) and serves `handler` on it.
    /// A stale socket file is replaced; a socket another process listens on is refused.
    pub fn start(path: &Path, mode: u32, group: Option<&str>, limits: Limits, handler: Handler) -> io::Result<Server> {
        if let Ok(md) = std::fs::symlink_metadata(path) {
            if !md.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another process serves {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let gid = match group {
            None => None,
            Some(g) => Some(
                group_id(g)
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("control.group: no group {g:?}")))?,
            ),
        };
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        if let Some(gid) = gid {
            std::os::unix::fs::chown(path, None, Some(gid))?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(Clients::default());
        let (st, cl) = (stop.clone(), clients.clone());
        let accept = std::thread::Builder::new()
            .name("vnf-control".into())
            .spawn(move || accept_loop(&listener, &st, &cl, &limits, &handler))?;
        Ok(Server { path: path.to_owned(), stop, accept: Some(accept), clients })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connected clients.
    pub fn clients(&self) -> &Arc<Clients> {
        &self.clients
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
        // Every client is told by the close; a request being answered is finished first.
        let threads: Vec<JoinHandle<()>> = self
            .clients
            .lock()
            .values_mut()
            .filter_map(|e| {
                let _ = e.stream.shutdown(std::net::Shutdown::Both);
                e.thread.take()
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &UnixListener, stop: &AtomicBool, clients: &Arc<Clients>, limits: &Limits, handler: &Handler) {
    let mut next_id = 1u64;
    let euid = {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    };
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let Ok(conn) = conn else { continue };
        let Some((uid, gid, pid)) = peer_cred(&conn) else { continue };
        let admin = uid == 0 || uid == euid || limits.admin_gid.is_some_and(|g| gid == g || in_group(uid, gid, g));
        let peer = Peer { id: next_id, uid, gid, pid, role: if admin { Role::Admin } else { Role::ReadOnly } };
        next_id += 1;
        let Ok(stream) = conn.try_clone() else { continue };
        let mut map = clients.lock();
        let ordinary = map.values().filter(|e| !e.reserved).count();
        let reserved = map.len() - ordinary;
        let reserve = if ordinary < limits.max_clients {
            false
        } else if admin && reserved < ADMIN_RESERVE as usize {
            true
        } else {
            drop(map);
            busy(conn, limits.max_clients);
            continue;
        };
        let id = peer.id;
        map.insert(
            id,
            Entry {
                peer: peer.clone(),
                since: Instant::now(),
                requests: 0,
                state: State::Idle,
                reserved: reserve,
                stream,
                thread: None,
            },
        );
        let (h, l, cl) = (handler.clone(), limits.clone(), clients.clone());
        let spawned = std::thread::Builder::new().name("vnf-client".into()).spawn(move || {
            serve_client(&conn, &peer, &l, &h, &cl);
            drop(h);
            // The slot is free before the client sees the close: a client that waits for
            // it can connect again at once, even with max_clients = 1.
            cl.lock().remove(&id);
            drop(conn);
        });
        match spawned {
            Ok(t) => {
                if let Some(e) = map.get_mut(&id) {
                    e.thread = Some(t);
                }
            }
            Err(_) => {
                map.remove(&id);
            }
        }
    }
}

/// Tells a client there is no slot for it, without waiting on it.
fn busy(mut conn: UnixStream, max: usize) {
    let _ = conn.set_write_timeout(Some(Duration::from_millis(200)));
    let msg = format!(
        "control: too many clients (at most {max}, and {ADMIN_RESERVE} more for admins); try again, or ask an admin to run `vnfctl clients`"
    );
    let _ = writeln!(conn, "{}", vnf_core::control::reply::Status::refusal(msg, true));
}

/// The peer's uid, gid and pid.
fn peer_cred(s: &UnixStream) -> Option<(u32, u32, i32)> {
    let mut c = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the fd is an open socket; `c` and `len` are valid for writes of a ucred.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut c as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some((c.uid, c.gid, c.pid))
}

/// Whether user `uid` (primary group `gid`) is a member of group `g` in the user database.
fn in_group(uid: u32, gid: u32, g: u32) -> bool {
    let mut pw: libc::passwd = unsafe_zeroed_passwd();
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the sizes given; `out` is set to `&mut pw` or NULL.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if r != 0 || out.is_null() {
        return false;
    }
    let mut groups = vec![0 as libc::gid_t; 1024];
    let mut n = groups.len() as libc::c_int;
    // SAFETY: pw_name points into `buf`, a NUL-terminated name; `groups` holds `n` entries.
    let r = unsafe { libc::getgrouplist(pw.pw_name, gid, groups.as_mut_ptr(), &mut n) };
    r >= 0 && groups[..n.max(0) as usize].contains(&g)
}

fn unsafe_zeroed_passwd() -> libc::passwd {
    // SAFETY: struct passwd is plain data (pointers and integers); all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// The gid of group `name`.
pub fn group_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: valid C string; getgrnam returns a pointer to static storage or NULL, read at once.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    // SAFETY: non-null pointers from getgrnam point to a valid struct group.
    (!g.is_null()).then(|| unsafe { (*g).gr_gid })
}

/// Serves one client: requests until it closes, errs, times out or is kicked.
fn serve_client(conn: &UnixStream, peer: &Peer, limits: &Limits, handler: &Handler, clients: &Clients) {
    let _ = conn.set_write_timeout(Some(limits.read_timeout));
    let mut out = conn;
    let mut rd = conn;
    // Bytes received and not yet answered (the next request, or part of it).
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let waiting = Instant::now();
        // When the current line's first byte came.
        let mut first: Option<Instant> = (!buf.is_empty()).then_some(waiting);
        let line = loop {
            // A line longer than the limit is refused whether or not its newline came.
            let newline = buf.iter().position(|&b| b == b'\n');
            if newline.unwrap_or(buf.len()) > limits.max_request {
                let _ = writeln!(out, "{}", refusal(format!("request: longer than {} bytes", limits.max_request)));
                return;
            }
            if let Some(i) = newline {
                let rest = buf.split_off(i + 1);
                break std::mem::replace(&mut buf, rest);
            }
            let (deadline, why) = match first {
                None => (
                    waiting + limits.idle_timeout,
                    format!(
                        "request: none within {} ms (idle clients are disconnected)",
                        limits.idle_timeout.as_millis()
                    ),
                ),
                Some(t) => (
                    t + limits.read_timeout,
                    format!(
                        "request: no complete line within {} ms of its first byte",
                        limits.read_timeout.as_millis()
                    ),
                ),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = writeln!(out, "{}", refusal(why));
                return;
            }
            let _ = rd.set_read_timeout(Some(left));
            match rd.read(&mut chunk) {
                Ok(0) if buf.is_empty() => return,
                Ok(0) => {
                    // End of stream without a newline: answer what came, then stop.
                    clients.set(peer.id, State::Running);
                    let resp = answer_line(&buf, peer, handler, clients);
                    let _ = writeln!(out, "{resp}");
                    return;
                }
                Ok(n) => {
                    if first.is_none() {
                        first = Some(Instant::now());
                        clients.set(peer.id, State::Reading);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        };
        clients.set(peer.id, State::Running);
        let resp = answer_line(&line, peer, handler, clients);
        clients.set(peer.id, State::Idle);
        if writeln!(out, "{resp}").is_err() {
            return;
        }
    }
}

fn answer_line(line: &[u8], peer: &Peer, handler: &Handler, clients: &Clients) -> String {
    match std::str::from_utf8(line) {
        Ok(s) if s.trim().is_empty() => refusal("request: empty line"),
        Ok(s) => handler(&Request { peer, line: s.trim_end_matches(['\n', '\r']), clients }),
        Err(_) => refusal("request: not UTF-8"),
    }
}
