//! control: the daemon's control socket — the protocol (JSON lines over a Unix stream
//! socket) and its transport, server and client. It owns framing, size and time limits
//! and the check of who may change what; it knows nothing of detection or bans: each
//! accepted request goes to the engine as an [`Incoming`] and the engine's [`Response`]
//! goes back unchanged.
//!
//! One connection carries one exchange: the client writes one request line, the server
//! answers with one response line and closes. For example
//! `{"cmd":"ban","addr":"192.0.2.7","for":"1h"}` → `{"ok":true,"message":"banned 192.0.2.7"}`.
//! Fields that are absent mean "none"; a client must ignore response fields it does not
//! know (newer daemons may add some), while the server refuses unknown request fields, so
//! a typo never silently turns into a different command.
//!
//! Who may do what: the socket file's mode is the first gate (0600: root only). Behind
//! it, the peer's credentials (SO_PEERCRED, filled in by the kernel, so they cannot be
//! forged) decide whether a mutating request (`ban`, `unban`, `reload`) is allowed: root,
//! the daemon's own user and the configured uids are; anyone who can connect may read
//! (`status`, `list`). A refused request never reaches the engine.
//!
//! A client can never stall the server for others: each connection has its own thread
//! (at most [`ServerOptions::max_connections`]), a deadline for reading its request and
//! writing the answer, and a cap on the request size.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Where the daemon listens unless configured otherwise (systemd's `RuntimeDirectory=authban`).
pub const DEFAULT_SOCKET: &str = "/run/authban/authban.sock";

/// A command sent to the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "cmd",
    rename_all = "kebab-case",
    deny_unknown_fields,
    from = "WireRequest"
)]
pub enum Request {
    /// What the daemon is doing: sources, backends, counters, recent events.
    Status,
    /// The bans in force.
    List,
    /// Ban an address or network now; `duration` ("1h", "7d") overrides the configured
    /// ban time.
    Ban {
        addr: String,
        #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
        duration: Option<String>,
    },
    /// Lift a ban now.
    Unban { addr: String },
    /// Read the configuration again.
    Reload,
}

/// How a [`Request`] is read. Serde lets unit variants of an internally tagged enum
/// ignore unknown fields even with `deny_unknown_fields`; empty struct variants do not, so
/// `{"cmd":"reload","force":true}` is refused instead of being read as a plain reload.
#[derive(Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
enum WireRequest {
    Status {},
    List {},
    Ban {
        addr: String,
        #[serde(default, rename = "for")]
        duration: Option<String>,
    },
    Unban {
        addr: String,
    },
    Reload {},
}

impl From<WireRequest> for Request {
    fn from(wire: WireRequest) -> Request {
        match wire {
            WireRequest::Status {} => Request::Status,
            WireRequest::List {} => Request::List,
            WireRequest::Ban { addr, duration } => Request::Ban { addr, duration },
            WireRequest::Unban { addr } => Request::Unban { addr },
            WireRequest::Reload {} => Request::Reload,
        }
    }
}

impl Request {
    /// Whether the request changes the daemon's state or the firewall: only privileged
    /// peers may send these.
    pub fn mutates(&self) -> bool {
        match self {
            Request::Ban { .. } | Request::Unban { .. } | Request::Reload => true,
            Request::Status | Request::List => false,
        }
    }

    /// The command's name as the CLI spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::List => "list",
            Request::Ban { .. } => "ban",
            Request::Unban { .. } => "unban",
            Request::Reload => "reload",
        }
    }
}

/// The daemon's answer. `ok` is false exactly when `error` says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A sentence for the person who asked ("banned 192.0.2.7 for 1h").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bans: Option<Vec<BanInfo>>,
}

impl Response {
    /// Success with nothing to say.
    pub fn ok() -> Response {
        Response {
            ok: true,
            ..Response::default()
        }
    }

    /// Success with a sentence for the user.
    pub fn message(message: impl Into<String>) -> Response {
        Response {
            ok: true,
            message: Some(message.into()),
            ..Response::default()
        }
    }

    /// Failure; `error` is shown to the user as is.
    pub fn error(error: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(error.into()),
            ..Response::default()
        }
    }

    pub fn with_status(status: Status) -> Response {
        Response {
            ok: true,
            status: Some(status),
            ..Response::default()
        }
    }

    pub fn with_bans(bans: Vec<BanInfo>) -> Response {
        Response {
            ok: true,
            bans: Some(bans),
            ..Response::default()
        }
    }
}

/// A snapshot of the daemon, answered to `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    /// Unix seconds.
    pub started_at: i64,
    pub sources: Vec<SourceInfo>,
    pub backends: Vec<BackendInfo>,
    /// Why the state database cannot be written, while it cannot (decided bans wait in
    /// memory and are saved when it works again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
    /// Bans decided but not yet in the database.
    pub unsaved_bans: u64,
    pub active_bans: u64,
    /// Addresses the detector currently keeps a score for.
    pub tracked_addresses: u64,
    pub events: EventCounts,
    /// Log lines read since the start.
    pub lines: u64,
    /// The last events (about ten), oldest first.
    pub recent: Vec<RecentEvent>,
}

/// A log source (a file, the journal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceInfo {
    pub name: String,
    /// "following", "waiting for the file", "error: …".
    pub state: String,
    pub lines: u64,
}

/// An enforcement backend (nftables, hosts.deny…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendInfo {
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bans recorded in the store but not yet applied by this backend.
    pub pending: u64,
    /// Working, but more slowly than designed (why: "netlink unavailable: …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
}

/// Events seen since the start, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventCounts {
    pub auth_failure: u64,
    pub invalid_user: u64,
    pub probe: u64,
    pub success: u64,
}

/// One recent event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecentEvent {
    /// The log line's own time (RFC 3339), if it had one.
    pub time: Option<String>,
    pub kind: String,
    pub addr: String,
    pub msg: String,
}

/// A ban in force, answered to `list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BanInfo {
    /// An address or a network.
    pub addr: String,
    /// Unix seconds.
    pub banned_at: i64,
    /// Unix seconds; `None` for a permanent ban.
    pub expires_at: Option<i64>,
    pub offences: u32,
    pub reason: String,
}

/// Who is on the other end of a connection, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
}

/// A request that passed the server's checks, waiting for the engine's answer.
#[derive(Debug)]
pub struct Incoming {
    pub request: Request,
    pub peer: Peer,
    reply: mpsc::Sender<Response>,
}

impl Incoming {
    /// Sends the answer to the waiting client. If the client is gone (it gave up, or the
    /// server timed out), the answer is dropped: the engine has nothing to do about it.
    pub fn reply(self, response: Response) {
        let _ = self.reply.send(response);
    }
}

/// Limits and permissions of the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The socket file's mode, set after binding.
    pub mode: u32,
    /// The longest request line accepted, in bytes.
    pub max_request: usize,
    /// How long a client may take to send its request, and how long the engine may take to
    /// answer; also bounds writing the answer.
    pub timeout: Duration,
    /// Users allowed to send mutating requests besides root and the daemon's own user.
    pub allowed_uids: Vec<u32>,
    /// Connections served at once; more are refused with an error at once.
    pub max_connections: usize,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            mode: 0o600,
            max_request: 64 * 1024,
            timeout: Duration::from_secs(5),
            allowed_uids: Vec::new(),
            max_connections: 32,
        }
    }
}

/// What can go wrong with the control socket.
#[derive(Debug)]
pub enum ControlError {
    /// The server could not create, bind or set up its socket.
    Bind { path: PathBuf, source: io::Error },
    /// Another daemon answers on the socket.
    InUse { path: PathBuf },
    /// The client could not connect.
    Connect { path: PathBuf, source: io::Error },
    /// The daemon did not answer in time.
    Timeout { path: PathBuf, after: Duration },
    /// Reading or writing failed after connecting.
    Io { path: PathBuf, source: io::Error },
    /// The other side sent something that is not the protocol.
    Protocol { msg: String },
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::Bind { path, source } => {
                write!(
                    f,
                    "cannot listen on the control socket {}: {source}",
                    path.display()
                )
            }
            ControlError::InUse { path } => write!(
                f,
                "another authban is running: it answers on {}; stop it first \
                 (systemctl stop authban), or give this one another socket",
                path.display()
            ),
            ControlError::Connect { path, source }
                if source.kind() == io::ErrorKind::PermissionDenied =>
            {
                write!(
                    f,
                    "cannot reach the authban daemon at {}: {source}; the control socket \
                     is open to root only: run this command as root",
                    path.display()
                )
            }
            ControlError::Connect { path, source } => write!(
                f,
                "cannot reach the authban daemon at {}: {source}; is `authban run` running? \
                 (systemctl status authban)",
                path.display()
            ),
            ControlError::Timeout { path, after } => write!(
                f,
                "the authban daemon at {} did not answer within {} s",
                path.display(),
                after.as_secs_f32()
            ),
            ControlError::Io { path, source } => {
                write!(
                    f,
                    "talking to the authban daemon at {}: {source}",
                    path.display()
                )
            }
            ControlError::Protocol { msg } => {
                write!(f, "the authban daemon sent an invalid answer: {msg}")
            }
        }
    }
}

impl std::error::Error for ControlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ControlError::Bind { source, .. }
            | ControlError::Connect { source, .. }
            | ControlError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A running control server. Shutting it down (or dropping it) stops accepting, waits for
/// the accept thread, and removes the socket file if it is still the one we bound.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    handle: Option<JoinHandle<()>>,
    /// Our own stop, so that shutting the server down does not stop the caller's other
    /// threads through the shared flag.
    shut: Arc<AtomicBool>,
    /// A second handle on the listening socket, to wake the blocked accept.
    listener: UnixListener,
    /// The socket file's identity (device, inode) right after binding.
    identity: (u64, u64),
}

impl ControlServer {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the server; same as dropping it, but explicit.
    pub fn shutdown(self) {}

    fn stop(&mut self) {
        self.shut.store(true, Ordering::SeqCst);
        // On Linux, shutting a listening socket down makes a blocked accept() return at
        // once (EINVAL); connecting is the fallback should it not.
        let _ =
            nix::sys::socket::shutdown(self.listener.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        if let Some(handle) = self.handle.take() {
            if !handle.is_finished() {
                let _ = UnixStream::connect(&self.path);
            }
            let _ = handle.join();
        }
        // Another daemon may have replaced the file since (after we were declared dead):
        // remove only our own.
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.identity
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the control socket at `path` and serves it in a thread, sending each accepted
/// request to the engine through `tx`. Serving ends when `stop` is set (checked between
/// connections) or when the returned server is shut down or dropped.
///
/// A socket file left by a daemon that died is replaced; if a daemon still answers on it,
/// this fails with [`ControlError::InUse`]. A path that exists and is not a socket is
/// never removed.
pub fn serve(
    path: &Path,
    opts: ServerOptions,
    tx: mpsc::Sender<Incoming>,
    stop: Arc<AtomicBool>,
) -> Result<ControlServer, ControlError> {
    let bind_err = |source: io::Error| ControlError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(bind_err)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(ControlError::InUse {
                    path: path.to_path_buf(),
                });
            }
            // Nobody listens: the file is a leftover of a daemon that died.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(bind_err)?;
            }
            Err(e) => return Err(bind_err(e)),
        },
        Ok(_) => {
            return Err(bind_err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket; authban will not remove it",
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_err(e)),
    }
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    // After bind: bind creates the file with the umask's mode, and the umask is the
    // caller's business; a chmod sets exactly what was asked. Until it runs the socket
    // may be wider open, but the credential check still guards every mutating request.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(opts.mode)).map_err(|e| {
        let _ = std::fs::remove_file(path);
        bind_err(e)
    })?;
    let meta = std::fs::symlink_metadata(path).map_err(bind_err)?;
    let identity = (meta.dev(), meta.ino());
    let waker = listener.try_clone().map_err(bind_err)?;
    let shut = Arc::new(AtomicBool::new(false));
    let server = Server {
        opts: Arc::new(opts),
        tx,
        active: Arc::new(AtomicUsize::new(0)),
        own_euid: nix::unistd::geteuid().as_raw(),
    };
    let handle = {
        let shut = Arc::clone(&shut);
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || server.accept_loop(listener, &stop, &shut))
            .map_err(bind_err)?
    };
    Ok(ControlServer {
        path: path.to_path_buf(),
        handle: Some(handle),
        shut,
        listener: waker,
        identity,
    })
}

struct Server {
    opts: Arc<ServerOptions>,
    tx: mpsc::Sender<Incoming>,
    active: Arc<AtomicUsize>,
    own_euid: u32,
}

impl Server {
    fn accept_loop(self, listener: UnixListener, stop: &AtomicBool, shut: &AtomicBool) {
        let stopping = || stop.load(Ordering::SeqCst) || shut.load(Ordering::SeqCst);
        loop {
            let accepted = listener.accept();
            if stopping() {
                return;
            }
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Running out of descriptors, or a client that vanished between connect
                // and accept: the next one may well succeed. Pause so a persistent error
                // does not spin.
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if self.active.fetch_add(1, Ordering::SeqCst) >= self.opts.max_connections {
                self.active.fetch_sub(1, Ordering::SeqCst);
                // A fresh socket's buffer takes a short answer without blocking; never
                // wait for this client in the accept thread.
                let _ = stream.set_nonblocking(true);
                let _ = write_response(
                    &stream,
                    &Response::error("daemon busy: too many control connections; try again"),
                );
                continue;
            }
            let conn = Connection {
                opts: Arc::clone(&self.opts),
                tx: self.tx.clone(),
                own_euid: self.own_euid,
            };
            let active = Arc::clone(&self.active);
            let spawned = std::thread::Builder::new()
                .name("control-conn".into())
                .spawn(move || {
                    conn.handle(stream);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                self.active.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

struct Connection {
    opts: Arc<ServerOptions>,
    tx: mpsc::Sender<Incoming>,
    own_euid: u32,
}

impl Connection {
    fn handle(self, stream: UnixStream) {
        let deadline = Instant::now() + self.opts.timeout;
        let response = match self.exchange(&stream, deadline) {
            Some(r) => r,
            None => return,
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        let _ = stream.set_write_timeout(Some(left));
        let _ = write_response(&stream, &response);
    }

    /// Reads and checks the request and gets the engine's answer; `None` when there is
    /// nobody to answer (the client closed without sending anything).
    fn exchange(&self, stream: &UnixStream, deadline: Instant) -> Option<Response> {
        let peer = match nix::sys::socket::getsockopt(
            stream,
            nix::sys::socket::sockopt::PeerCredentials,
        ) {
            Ok(c) => Peer {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            Err(e) => {
                return Some(Response::error(format!(
                    "cannot identify the client (SO_PEERCRED): {e}"
                )));
            }
        };
        let line = match read_line(stream, self.opts.max_request, deadline) {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(ReadError::TooLong) => {
                return Some(Response::error(format!(
                    "request too long: more than {} bytes",
                    self.opts.max_request
                )));
            }
            Err(ReadError::Timeout) => {
                return Some(Response::error(format!(
                    "no complete request within {} s",
                    self.opts.timeout.as_secs_f32()
                )));
            }
            Err(ReadError::Io(e)) => {
                return Some(Response::error(format!("reading the request: {e}")));
            }
        };
        let Ok(text) = std::str::from_utf8(&line) else {
            return Some(Response::error("bad request: not UTF-8"));
        };
        let request: Request = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => return Some(Response::error(format!("bad request: {e}"))),
        };
        if request.mutates() && !self.may_mutate(peer.uid) {
            return Some(Response::error(format!(
                "permission denied: `authban {}` changes bans or the configuration and needs \
                 root (you are uid {})",
                request.name(),
                peer.uid
            )));
        }
        let (reply, answer) = mpsc::channel();
        let incoming = Incoming {
            request,
            peer,
            reply,
        };
        if self.tx.send(incoming).is_err() {
            return Some(Response::error("the daemon is shutting down"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        Some(match answer.recv_timeout(left) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Response::error(format!(
                "daemon busy: no answer within {} s; try again",
                self.opts.timeout.as_secs_f32()
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Response::error("the daemon dropped the request (shutting down?)")
            }
        })
    }

    fn may_mutate(&self, uid: u32) -> bool {
        uid == 0 || uid == self.own_euid || self.opts.allowed_uids.contains(&uid)
    }
}

enum ReadError {
    TooLong,
    Timeout,
    Io(io::Error),
}

/// Reads up to the first newline, at most `max` bytes before it, by `deadline`. Returns
/// `None` for a connection closed before any byte; a last line without a newline counts.
fn read_line(
    mut stream: &UnixStream,
    max: usize,
    deadline: Instant,
) -> Result<Option<Vec<u8>>, ReadError> {
    let mut line = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        // Each read waits at most for what is left of the deadline, so a client that
        // dribbles a byte at a time cannot stretch it.
        stream.set_read_timeout(Some(left)).map_err(ReadError::Io)?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadError::Timeout);
            }
            Err(e) => return Err(ReadError::Io(e)),
        };
        if n == 0 {
            return Ok(if line.is_empty() { None } else { Some(line) });
        }
        let chunk = &buf[..n];
        if let Some(end) = memchr::memchr(b'\n', chunk) {
            line.extend_from_slice(&chunk[..end]);
            return if line.len() > max {
                Err(ReadError::TooLong)
            } else {
                Ok(Some(line))
            };
        }
        line.extend_from_slice(chunk);
        if line.len() > max {
            return Err(ReadError::TooLong);
        }
    }
}

fn write_response(mut stream: &UnixStream, response: &Response) -> io::Result<()> {
    let mut text = serde_json::to_vec(response).map_err(io::Error::other)?;
    text.push(b'\n');
    stream.write_all(&text)?;
    stream.flush()
}

/// Sends one request to the daemon listening at `path` and returns its answer. Each read
/// and write may take up to `timeout`.
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let io_err = |source: io::Error| {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            ControlError::Timeout {
                path: path.to_path_buf(),
                after: timeout,
            }
        } else {
            ControlError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut stream = UnixStream::connect(path).map_err(|source| ControlError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let mut line =
        serde_json::to_vec(req).map_err(|e| ControlError::Protocol { msg: e.to_string() })?;
    line.push(b'\n');
    // The server may answer and close before reading everything (a request it finds too
    // long): its answer is still waiting to be read, and says more than EPIPE.
    let send_error = match stream.write_all(&line).and_then(|()| stream.flush()) {
        Ok(()) => None,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) =>
        {
            Some(e)
        }
        Err(e) => return Err(io_err(e)),
    };
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    let read = BufReader::new(&stream).read_line(&mut answer);
    match read {
        Ok(0) => {
            return Err(match send_error {
                Some(e) => io_err(e),
                None => ControlError::Protocol {
                    msg: "it closed the connection without answering".into(),
                },
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(ControlError::Protocol {
                msg: "the answer is not UTF-8".into(),
            });
        }
        Err(e) => return Err(io_err(e)),
    }
    serde_json::from_str(answer.trim_end())
        .map_err(|e| ControlError::Protocol { msg: e.to_string() })
}

#[cfg(test)]
mod tests;
