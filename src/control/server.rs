//! The control socket's server: the listener, one thread per connection (bounded), the
//! deadlines and size cap, and the peer-credential check of mutating requests. Each accepted
//! request reaches the engine as an [`Incoming`].

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{BanInfo, ControlError, Request, Response};
use crate::decide::BanRecord;

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
    reply: mpsc::Sender<Answer>,
}

impl Incoming {
    /// Sends the answer to the waiting client. If the client is gone (it gave up, or the
    /// server timed out), the answer is dropped: the engine has nothing to do about it.
    pub fn reply(self, response: Response) {
        let _ = self.reply.send(Answer::Response(Box::new(response)));
    }

    /// Answers `list` with the bans in force, which the connection's thread sorts,
    /// formats and serializes: not the engine, which must go on banning.
    pub fn reply_list(self, bans: Arc<BanSnapshot>) {
        let _ = self.reply.send(Answer::List(bans));
    }
}

#[derive(Debug)]
enum Answer {
    Response(Box<Response>),
    List(Arc<BanSnapshot>),
}

/// The bans in force at one moment, as the engine copies them (cheaply: each reason is
/// shared) for `list`. `generation` changes with every ban and unban, so one serialized
/// answer serves every client that asks while it stays the same.
#[derive(Debug)]
pub struct BanSnapshot {
    pub generation: u64,
    pub bans: Vec<BanRecord>,
}

impl BanSnapshot {
    /// What `list` shows: oldest first, each ban as the backends hold it (an IPv6 ban may
    /// cover its prefix).
    pub fn infos(&self) -> Vec<BanInfo> {
        let mut bans: Vec<&BanRecord> = self.bans.iter().collect();
        bans.sort_by_key(|b| (b.banned_at, b.target));
        bans.into_iter()
            .map(|b| BanInfo {
                addr: b.target.to_string(),
                banned_at: b.banned_at,
                expires_at: b.expires_at,
                offences: b.offences,
                reason: b.reason.to_string(),
                node: b.node.as_deref().map(str::to_owned),
            })
            .collect()
    }
}

/// The last `list` answer serialized, shared by the connection threads: clients looping
/// on `list` cost one serialization per change of the bans, not one each.
#[derive(Debug, Default)]
struct ListCache(Mutex<Option<Serialized>>);

/// A `list` answer as sent, and the generation of the bans it was made of.
#[derive(Debug)]
struct Serialized {
    generation: u64,
    bytes: Arc<Vec<u8>>,
}

impl ListCache {
    fn bytes(&self, snap: &BanSnapshot) -> Arc<Vec<u8>> {
        // A poisoned lock only means a thread panicked while serializing: build anew.
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref()
            && c.generation == snap.generation
        {
            return Arc::clone(&c.bytes);
        }
        let response = Response::with_bans(snap.infos());
        let mut bytes = serde_json::to_vec(&response).unwrap_or_else(|e| {
            serde_json::to_vec(&Response::error(format!("cannot serialize the list: {e}")))
                .unwrap_or_default()
        });
        bytes.push(b'\n');
        let bytes = Arc::new(bytes);
        *cached = Some(Serialized {
            generation: snap.generation,
            bytes: Arc::clone(&bytes),
        });
        bytes
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
    /// Connections served at once; more are refused with an error at once, except for
    /// root and the daemon's own user, who have [`PRIVILEGED_SLOTS`] more of their own.
    pub max_connections: usize,
}

/// Connections kept for root (and the daemon's own user) beyond `max_connections`, so that
/// clients holding every ordinary slot cannot lock the administrator out of `status`.
pub const PRIVILEGED_SLOTS: usize = 4;

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

/// A running control server. Shutting it down (or dropping it) stops accepting, waits for
/// the accept thread, and removes the socket file if it is still the one we bound.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    pub(super) handle: Option<JoinHandle<()>>,
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
        lists: Arc::default(),
        opts: Arc::new(opts),
        tx,
        active: Arc::new(AtomicUsize::new(0)),
        privileged: Arc::new(AtomicUsize::new(0)),
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
    lists: Arc<ListCache>,
    tx: mpsc::Sender<Incoming>,
    active: Arc<AtomicUsize>,
    /// Connections in the privileged slots.
    privileged: Arc<AtomicUsize>,
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
            let mut slots = Arc::clone(&self.active);
            if self.active.fetch_add(1, Ordering::SeqCst) >= self.opts.max_connections {
                self.active.fetch_sub(1, Ordering::SeqCst);
                // The kernel's credentials of the peer: no read, so no wait.
                let uid = nix::sys::socket::getsockopt(
                    &stream,
                    nix::sys::socket::sockopt::PeerCredentials,
                )
                .map(|c| c.uid());
                let privileged = uid.is_ok_and(|u| u == 0 || u == self.own_euid);
                if privileged && self.privileged.fetch_add(1, Ordering::SeqCst) < PRIVILEGED_SLOTS {
                    slots = Arc::clone(&self.privileged);
                } else {
                    if privileged {
                        self.privileged.fetch_sub(1, Ordering::SeqCst);
                    }
                    // A fresh socket's buffer takes a short answer without blocking; never
                    // wait for this client in the accept thread.
                    let _ = stream.set_nonblocking(true);
                    let _ = write_response(
                        &stream,
                        &Response::error("daemon busy: too many control connections; try again"),
                    );
                    continue;
                }
            }
            let conn = Connection {
                opts: Arc::clone(&self.opts),
                lists: Arc::clone(&self.lists),
                tx: self.tx.clone(),
                own_euid: self.own_euid,
            };
            let taken = Arc::clone(&slots);
            let spawned = std::thread::Builder::new()
                .name("control-conn".into())
                .spawn(move || {
                    yield_to_the_engine();
                    conn.handle(stream);
                    taken.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                slots.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

struct Connection {
    opts: Arc<ServerOptions>,
    lists: Arc<ListCache>,
    tx: mpsc::Sender<Incoming>,
    own_euid: u32,
}

impl Connection {
    fn handle(self, stream: UnixStream) {
        let deadline = Instant::now() + self.opts.timeout;
        let answer = match self.exchange(&stream, deadline) {
            Some(r) => r,
            None => return,
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        let _ = stream.set_write_timeout(Some(left));
        let _ = match answer {
            Answer::Response(response) => write_response(&stream, &response),
            Answer::List(snap) => {
                let bytes = self.lists.bytes(&snap);
                drop(snap);
                (&stream).write_all(&bytes)
            }
        };
    }

    /// Reads and checks the request and gets the engine's answer; `None` when there is
    /// nobody to answer (the client closed without sending anything).
    fn exchange(&self, stream: &UnixStream, deadline: Instant) -> Option<Answer> {
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
                return refuse(format!("cannot identify the client (SO_PEERCRED): {e}"));
            }
        };
        let line = match read_line(stream, self.opts.max_request, deadline) {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(ReadError::TooLong) => {
                return refuse(format!(
                    "request too long: more than {} bytes",
                    self.opts.max_request
                ));
            }
            Err(ReadError::Timeout) => {
                return refuse(format!(
                    "no complete request within {} s",
                    self.opts.timeout.as_secs_f32()
                ));
            }
            Err(ReadError::Io(e)) => {
                return refuse(format!("reading the request: {e}"));
            }
        };
        let Ok(text) = std::str::from_utf8(&line) else {
            return refuse("bad request: not UTF-8");
        };
        let request: Request = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => return refuse(format!("bad request: {e}")),
        };
        if request.mutates() && !self.may_mutate(peer.uid) {
            return refuse(format!(
                "permission denied: `authban {}` changes bans or the configuration and needs \
                 root (you are uid {})",
                request.name(),
                peer.uid
            ));
        }
        let (reply, answer) = mpsc::channel();
        let incoming = Incoming {
            request,
            peer,
            reply,
        };
        if self.tx.send(incoming).is_err() {
            return refuse("the daemon is shutting down");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        Some(match answer.recv_timeout(left) {
            Ok(a) => a,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return refuse(format!(
                    "daemon busy: no answer within {} s; try again",
                    self.opts.timeout.as_secs_f32()
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return refuse("the daemon dropped the request (shutting down?)");
            }
        })
    }

    fn may_mutate(&self, uid: u32) -> bool {
        uid == 0 || uid == self.own_euid || self.opts.allowed_uids.contains(&uid)
    }
}

/// Lowers the calling thread's priority (nice 10; Linux's nice is per thread). Clients
/// looping on `list` keep connection threads copying megabytes into sockets, and on a
/// small machine those threads would take the cores from the engine, whose reaction to
/// an attack is what matters. Raising one's own nice value needs no privilege, so this
/// cannot fail short of a kernel without it, and then the thread runs as it was.
fn yield_to_the_engine() {
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
}

/// The server's own answer to a request it cannot pass on.
fn refuse(error: impl Into<String>) -> Option<Answer> {
    Some(Answer::Response(Box::new(Response::error(error))))
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

/// Streams the answer as it is serialized: a list of 100,000 bans is 13 MB of JSON, and a
/// client that does not read it must cost no more than the socket's buffer (the write
/// times out instead).
fn write_response(stream: &UnixStream, response: &Response) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, stream);
    serde_json::to_writer(&mut out, response).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}
