//! metrics: what the daemon did, in Prometheus' text exposition format, on an opt-in
//! listener (`[metrics] listen`). It owns the names, their HELP and TYPE lines, the label
//! escaping, the reaction-time histogram and the small HTTP server that answers
//! `GET /metrics`.
//!
//! Never on the ban path: the engine hands a fresh [`Snapshot`] to a [`Board`] on each
//! tick (half a second), which costs it a lock held for one pointer swap; a scrape takes the
//! last snapshot and formats it on the server's own thread. The server reads requests with
//! `httparse`, serves at most [`MAX_CONNECTIONS`] clients at once, each with a deadline,
//! and closes every connection after one answer.

use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Clients served at once; more are closed at once (a scraper retries at its next
/// interval).
pub const MAX_CONNECTIONS: usize = 4;
/// How long a client may take to send its request and read the answer.
const DEADLINE: Duration = Duration::from_secs(2);
/// The longest request head read; Prometheus sends about 300 bytes.
const MAX_REQUEST: usize = 8 * 1024;

/// Where the metrics are served: `127.0.0.1:9877`, `[::1]:9877`, or a Unix socket path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Listen {
    /// Whether only this host can connect (a loopback address, or a socket file).
    pub fn is_local(&self) -> bool {
        match self {
            Listen::Tcp(a) => a.ip().is_loopback(),
            Listen::Unix(_) => true,
        }
    }
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Listen, String> {
        if s.starts_with('/') {
            return Ok(Listen::Unix(PathBuf::from(s)));
        }
        // An address, never a host name: what `config check` accepts must bind the same at
        // every start, whatever the resolver says.
        let addr = SocketAddr::from_str(s).map_err(|_| {
            format!(
                "{s:?} is neither an address with a port (127.0.0.1:9877, [::1]:9877) nor an \
                 absolute socket path"
            )
        })?;
        if addr.port() == 0 {
            return Err(format!(
                "{s:?}: port 0 would pick a port nobody knows; give the port to scrape"
            ));
        }
        Ok(Listen::Tcp(addr))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(a) => write!(f, "{a}"),
            Listen::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

impl TryFrom<String> for Listen {
    type Error = String;
    fn try_from(s: String) -> Result<Listen, String> {
        s.parse()
    }
}

impl From<Listen> for String {
    fn from(l: Listen) -> String {
        l.to_string()
    }
}

/// Upper bounds of the reaction-time buckets, in seconds.
pub const REACTION_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A histogram of durations over [`REACTION_BUCKETS`] (each count is of that bucket
/// alone; the exposition adds them up).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// One count per bucket, then one for what exceeds the last.
    pub counts: [u64; REACTION_BUCKETS.len() + 1],
    pub sum_s: f64,
}

impl Histogram {
    /// Counts `n` observations of `d`.
    pub fn observe(&mut self, d: Duration, n: u64) {
        let s = d.as_secs_f64();
        let i = REACTION_BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(REACTION_BUCKETS.len());
        self.counts[i] += n;
        self.sum_s += s * n as f64;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// One log source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceSample {
    pub name: String,
    pub lines: u64,
    /// Following its log (not waiting for the file, not failing).
    pub up: bool,
}

/// One backend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackendSample {
    pub name: &'static str,
    /// In step with the bans in force.
    pub up: bool,
    pub degraded: bool,
    /// Operations that failed since the start.
    pub failures: u64,
    /// Bans it refused while it took the others.
    pub refused: u64,
    /// Bans it holds, IPv4 then IPv6.
    pub in_force: [u64; 2],
}

/// What the daemon reports, at one moment. Labels are `&'static str` where the set is
/// fixed, so every series exists from the start (a counter at 0 is not a missing one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub started_at: i64,
    pub sources: Vec<SourceSample>,
    /// By kind: `auth_failure`, `invalid_user`, `probe`, `success`.
    pub events: Vec<(&'static str, u64)>,
    pub untrusted_logins: u64,
    /// Bans imposed, by reason.
    pub imposed: Vec<(&'static str, u64)>,
    /// Bans lifted, by reason.
    pub lifted: Vec<(&'static str, u64)>,
    /// Bans in force, IPv4 then IPv6.
    pub in_force: [u64; 2],
    pub backends: Vec<BackendSample>,
    pub tracked: u64,
    /// The detector's own estimate of its heap.
    pub detector_bytes: u64,
    /// From a log line read to its ban sent to every backend in step.
    pub reaction: Histogram,
    pub store_up: bool,
    pub store_failures: u64,
    pub unsaved_bans: u64,
    /// Control requests the engine answered, by command.
    pub control: Vec<(&'static str, u64)>,
    /// The fleet link, when `[fleet]` is set.
    pub fleet: Option<FleetSample>,
}

/// The fleet link's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSample {
    pub following: bool,
    pub publishing: bool,
    pub outbox: u64,
    pub received: u64,
    pub published: u64,
    pub bad_entries: u64,
    pub refused: u64,
}

/// Where the engine leaves its latest snapshot for the server.
#[derive(Debug, Default)]
pub struct Board(Mutex<Arc<Snapshot>>);

impl Board {
    pub fn publish(&self, snap: Snapshot) {
        let snap = Arc::new(snap);
        // A poisoned lock only means a scrape panicked; the snapshot is still whole.
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = snap;
    }

    pub fn latest(&self) -> Arc<Snapshot> {
        Arc::clone(&self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The exposition text of every metric.
pub fn render(s: &Snapshot) -> String {
    let mut out = Exposition::default();
    out.family(
        "authban_build_info",
        "gauge",
        "The running authban's version (always 1).",
    );
    out.sample(
        "authban_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1u64,
    );
    out.family(
        "authban_start_time_seconds",
        "gauge",
        "When the daemon started, in Unix seconds.",
    );
    out.sample("authban_start_time_seconds", &[], s.started_at);

    out.family(
        "authban_lines_read_total",
        "counter",
        "Log lines read, by source.",
    );
    for src in &s.sources {
        out.sample(
            "authban_lines_read_total",
            &[("source", &src.name)],
            src.lines,
        );
    }
    out.family(
        "authban_source_up",
        "gauge",
        "1 while the source is followed, 0 while it waits for its file or fails.",
    );
    for src in &s.sources {
        out.sample("authban_source_up", &[("source", &src.name)], src.up);
    }
    out.family(
        "authban_events_total",
        "counter",
        "sshd events recognised, by kind (an event repeated N times counts N).",
    );
    for (kind, n) in &s.events {
        out.sample("authban_events_total", &[("kind", kind)], n);
    }
    out.family(
        "authban_untrusted_logins_total",
        "counter",
        "Logins that granted no trust (policy.trust-logins).",
    );
    out.sample("authban_untrusted_logins_total", &[], s.untrusted_logins);

    out.family(
        "authban_bans_imposed_total",
        "counter",
        "Bans imposed, by reason: detected (first offence), escalated (a repeat offence), \
         manual, restored (from the store at start), adopted (found in a backend).",
    );
    for (reason, n) in &s.imposed {
        out.sample("authban_bans_imposed_total", &[("reason", reason)], n);
    }
    out.family(
        "authban_bans_lifted_total",
        "counter",
        "Bans lifted, by reason: expired, manual, protected (the allowlist or this host).",
    );
    for (reason, n) in &s.lifted {
        out.sample("authban_bans_lifted_total", &[("reason", reason)], n);
    }
    out.family(
        "authban_bans_in_force",
        "gauge",
        "Bans in force, by address family.",
    );
    for (family, n) in FAMILIES.iter().zip(s.in_force) {
        out.sample("authban_bans_in_force", &[("family", family)], n);
    }

    out.family(
        "authban_backend_up",
        "gauge",
        "1 while the backend holds every ban in force, 0 while it fails or catches up.",
    );
    for b in &s.backends {
        out.sample("authban_backend_up", &[("backend", b.name)], b.up);
    }
    out.family(
        "authban_backend_degraded",
        "gauge",
        "1 while the backend works more slowly than designed (see `authban status`).",
    );
    for b in &s.backends {
        out.sample(
            "authban_backend_degraded",
            &[("backend", b.name)],
            b.degraded,
        );
    }
    out.family(
        "authban_backend_failures_total",
        "counter",
        "Backend operations that failed (each is retried).",
    );
    for b in &s.backends {
        out.sample(
            "authban_backend_failures_total",
            &[("backend", b.name)],
            b.failures,
        );
    }
    out.family(
        "authban_backend_refused",
        "gauge",
        "Bans in force the backend refused while it took the others (retried).",
    );
    for b in &s.backends {
        out.sample("authban_backend_refused", &[("backend", b.name)], b.refused);
    }
    out.family(
        "authban_backend_bans_in_force",
        "gauge",
        "Bans the backend holds, by address family.",
    );
    for b in &s.backends {
        for (family, n) in FAMILIES.iter().zip(b.in_force) {
            out.sample(
                "authban_backend_bans_in_force",
                &[("backend", b.name), ("family", family)],
                n,
            );
        }
    }

    out.family(
        "authban_tracked_addresses",
        "gauge",
        "Addresses the detector keeps a score for.",
    );
    out.sample("authban_tracked_addresses", &[], s.tracked);
    out.family(
        "authban_detector_memory_bytes",
        "gauge",
        "The detector's estimate of its heap (tables with their empty slots).",
    );
    out.sample("authban_detector_memory_bytes", &[], s.detector_bytes);

    out.family(
        "authban_reaction_seconds",
        "histogram",
        "From the log line read to its ban sent to every working backend.",
    );
    let mut cumulative = 0;
    for (i, bound) in REACTION_BUCKETS.iter().enumerate() {
        cumulative += s.reaction.counts[i];
        out.sample(
            "authban_reaction_seconds_bucket",
            &[("le", &bound.to_string())],
            cumulative,
        );
    }
    let count = s.reaction.count();
    out.sample("authban_reaction_seconds_bucket", &[("le", "+Inf")], count);
    out.sample("authban_reaction_seconds_sum", &[], s.reaction.sum_s);
    out.sample("authban_reaction_seconds_count", &[], count);

    out.family(
        "authban_store_up",
        "gauge",
        "1 while the state database takes every save, 0 while saves fail.",
    );
    out.sample("authban_store_up", &[], s.store_up);
    out.family(
        "authban_store_save_failures_total",
        "counter",
        "Saves of the state database that failed (what they held is kept and retried).",
    );
    out.sample("authban_store_save_failures_total", &[], s.store_failures);
    out.family(
        "authban_unsaved_bans",
        "gauge",
        "Bans decided and enforced but not yet in the state database.",
    );
    out.sample("authban_unsaved_bans", &[], s.unsaved_bans);
    out.family(
        "authban_control_requests_total",
        "counter",
        "Requests on the control socket the daemon answered, by command.",
    );
    for (command, n) in &s.control {
        out.sample("authban_control_requests_total", &[("command", command)], n);
    }
    if let Some(f) = &s.fleet {
        fleet(&mut out, f);
    }
    out.text
}

fn fleet(out: &mut Exposition, f: &FleetSample) {
    out.family(
        "authban_fleet_up",
        "gauge",
        "1 while the fleet link's connection is up, by side: follow reads other nodes' \
         records, publish sends this node's.",
    );
    out.sample("authban_fleet_up", &[("side", "follow")], f.following);
    out.sample("authban_fleet_up", &[("side", "publish")], f.publishing);
    for (name, kind, help, value) in [
        (
            "authban_fleet_outbox",
            "gauge",
            "This node's records waiting to be published (they go out on reconnect).",
            f.outbox,
        ),
        (
            "authban_fleet_received_total",
            "counter",
            "Other nodes' records read from the stream.",
            f.received,
        ),
        (
            "authban_fleet_published_total",
            "counter",
            "This node's records published.",
            f.published,
        ),
        (
            "authban_fleet_bad_entries_total",
            "counter",
            "Stream entries skipped: not records this version reads.",
            f.bad_entries,
        ),
        (
            "authban_fleet_refused_total",
            "counter",
            "Remote bans refused here: the target is protected.",
            f.refused,
        ),
    ] {
        out.family(name, kind, help);
        out.sample(name, &[], value);
    }
}

const FAMILIES: [&str; 2] = ["ipv4", "ipv6"];

/// The text being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

/// A sample's value: counters and gauges are integers, flags 0 or 1, sums fractional.
trait Value {
    fn write(&self, out: &mut String);
}

impl Value for u64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}
impl Value for &u64 {
    fn write(&self, out: &mut String) {
        (**self).write(out);
    }
}
impl Value for i64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}
impl Value for bool {
    fn write(&self, out: &mut String) {
        out.push(if *self { '1' } else { '0' });
    }
}
impl Value for f64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Value) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(k);
                self.text.push_str("=\"");
                // The format's escapes: a source path may hold any of these.
                for c in v.chars() {
                    match c {
                        '\\' => self.text.push_str("\\\\"),
                        '"' => self.text.push_str("\\\""),
                        '\n' => self.text.push_str("\\n"),
                        c => self.text.push(c),
                    }
                }
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        value.write(&mut self.text);
        self.text.push('\n');
    }
}

/// A listening socket of either kind.
#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn try_clone(&self) -> io::Result<Listener> {
        Ok(match self {
            Listener::Tcp(l) => Listener::Tcp(l.try_clone()?),
            Listener::Unix(l) => Listener::Unix(l.try_clone()?),
        })
    }

    fn fd(&self) -> std::os::fd::RawFd {
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// One accepted connection of either kind.
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn set_deadline(&self, d: Duration) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
            Conn::Unix(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
        }
    }
}

impl Conn {
    fn shutdown_write(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Conn::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.flush(),
            Conn::Unix(s) => s.flush(),
        }
    }
}

/// Why the server cannot start.
#[derive(Debug)]
pub struct ServeError {
    pub listen: Listen,
    pub source: io::Error,
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot serve metrics on {}: {}",
            self.listen, self.source
        )
    }
}

impl std::error::Error for ServeError {}

/// The running metrics server; dropping it stops it (and removes its socket file).
#[derive(Debug)]
pub struct Server {
    listen: Listen,
    stop: Arc<AtomicBool>,
    wake: Listener,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `listen` and serves the board's latest snapshot until dropped. A socket file
    /// left by a daemon that died is replaced; one that answers is not.
    pub fn start(listen: &Listen, board: Arc<Board>) -> Result<Server, ServeError> {
        let fail = |source| ServeError {
            listen: listen.clone(),
            source,
        };
        let listener = match listen {
            Listen::Tcp(a) => Listener::Tcp(TcpListener::bind(a).map_err(fail)?),
            Listen::Unix(path) => {
                // As for the control socket: the runtime directory may not exist yet.
                if let Some(parent) = path.parent().filter(|p| !p.exists()) {
                    use std::os::unix::fs::DirBuilderExt;
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(parent)
                        .map_err(fail)?;
                }
                if UnixStream::connect(path).is_ok() {
                    return Err(fail(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "another process answers on it",
                    )));
                }
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                {
                    std::fs::remove_file(path).map_err(fail)?;
                }
                let l = UnixListener::bind(path).map_err(fail)?;
                // Counts only, no addresses: any local user may read them.
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
                    .map_err(fail)?;
                Listener::Unix(l)
            }
        };
        // A second handle on the socket, to wake the blocked accept on drop.
        let wake = listener.try_clone().map_err(fail)?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("metrics".into())
                .spawn(move || accept_loop(&listener, &board, &stop))
                .map_err(fail)?
        };
        Ok(Server {
            listen: listen.clone(),
            stop,
            wake,
            handle: Some(handle),
        })
    }

    pub fn listen(&self) -> &Listen {
        &self.listen
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Shutting a listening socket down makes a blocked accept() return at once.
        let _ = nix::sys::socket::shutdown(self.wake.fd(), nix::sys::socket::Shutdown::Both);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        if let Listen::Unix(path) = &self.listen {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn accept_loop(listener: &Listener, board: &Arc<Board>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let conn = match listener {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Conn::Tcp(s)),
            Listener::Unix(l) => l.accept().map(|(s, _)| Conn::Unix(s)),
        };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else {
            // EMFILE and the like: wait instead of spinning.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let board = Arc::clone(board);
        let done = Arc::clone(&active);
        let spawned = std::thread::Builder::new()
            .name("metrics-conn".into())
            .spawn(move || {
                let _ = answer(conn, &board);
                done.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one request and answers it.
fn answer(mut conn: Conn, board: &Board) -> io::Result<()> {
    let started = Instant::now();
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (status, body, head_only) = loop {
        let left = DEADLINE.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(());
        }
        conn.set_deadline(left)?;
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => break route(&req, board),
            Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST => {}
            Ok(httparse::Status::Partial) => {
                break ("431 Request Header Fields Too Large", String::new(), false);
            }
            Err(_) => break ("400 Bad Request", "not an HTTP request\n".into(), false),
        }
    };
    conn.set_deadline(DEADLINE)?;
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        if body.starts_with('#') {
            "text/plain; version=0.0.4; charset=utf-8"
        } else {
            "text/plain; charset=utf-8"
        },
        body.len()
    )
    .into_bytes();
    if !head_only {
        head.extend_from_slice(body.as_bytes());
    }
    conn.write_all(&head)?;
    conn.flush()?;
    // Closing with unread input would reset the connection and lose the answer at the
    // client (a refused oversized request): end our side, then drain a little first.
    conn.shutdown_write();
    conn.set_deadline(Duration::from_millis(200))?;
    let mut drained = 0;
    while drained < MAX_REQUEST * 8 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}

/// Status, body and whether only the head is sent (HEAD).
fn route(req: &httparse::Request<'_, '_>, board: &Board) -> (&'static str, String, bool) {
    let head_only = req.method == Some("HEAD");
    if !matches!(req.method, Some("GET" | "HEAD")) {
        return ("405 Method Not Allowed", "only GET\n".into(), false);
    }
    // A scraper may add a query string (`?name[]=…`); the answer is the same.
    let path = req.path.unwrap_or("/");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match path {
        "/metrics" => ("200 OK", render(&board.latest()), head_only),
        "/" => ("200 OK", "authban: metrics at /metrics\n".into(), head_only),
        _ => (
            "404 Not Found",
            "not found; metrics at /metrics\n".into(),
            head_only,
        ),
    }
}

#[cfg(test)]
mod tests;
