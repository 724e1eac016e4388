//! resp: the Redis connection the fleet talks over (RESP2, which Redis 7 and Valkey speak
//! by default): a `redis://` or `rediss://` URL, a TCP, TLS or Unix-socket connection that
//! authenticates and selects its database, and one call at a time, `call(&["XADD", …])` →
//! [`Reply`].
//!
//! The server is the operator's, but a node must not be crashed by a compromised or
//! confused one: every length it announces is bounded before anything is allocated, and
//! arrays may not nest deeper than the fleet's replies do.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::tls;

/// The largest bulk string accepted: a stream entry is a few hundred bytes.
const MAX_BULK: usize = 1 << 20;
/// The most elements of one array: an XREAD of 10,000 entries of 8 fields.
const MAX_ARRAY: usize = 1 << 20;
/// Nesting of XREAD's reply: streams → stream → entries → entry → fields.
const MAX_DEPTH: usize = 6;
/// The longest header line (`$1048576`, `-ERR …`).
const MAX_LINE: usize = 4096;

/// A reply of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `:42`
    Int(i64),
    /// `$…`; `None` is the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*…`; `None` is the null array (XREAD BLOCK that timed out).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bytes of a bulk or status reply.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of an array reply; a null array is empty.
    pub fn items(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(Some(items)) => Some(items),
            Reply::Array(None) => Some(&[]),
            _ => None,
        }
    }
}

/// What can go wrong talking to Redis.
#[derive(Debug)]
pub enum RespError {
    /// The URL cannot be used (said why).
    Url(String),
    /// Connecting, reading or writing failed; `what` says which.
    Io { what: String, source: io::Error },
    /// The server answered with an error (`-ERR …`, `-NOAUTH …`).
    Server(String),
    /// The server's bytes are not RESP, or exceed a bound.
    Protocol(String),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::Url(why) => write!(f, "fleet.url: {why}"),
            RespError::Io { what, source } => write!(f, "{what}: {source}"),
            RespError::Server(msg) => write!(f, "redis answered: {msg}"),
            RespError::Protocol(why) => write!(f, "redis sent what is not RESP: {why}"),
        }
    }
}

impl std::error::Error for RespError {}

impl RespError {
    /// Whether the connection is unusable after this error: all but a server's error
    /// reply, after which the next call can go on.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, RespError::Server(_))
    }

    /// Whether this is a read that timed out (a blocking read with nothing to say).
    pub fn is_timeout(&self) -> bool {
        matches!(self, RespError::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

/// Where the server is and who to be there, from `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]`,
/// the same with `rediss://` (TLS), or `unix:///PATH[?db=N]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    pub place: Place,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    /// `rediss://`: TCP with TLS.
    pub tls: bool,
}

/// A TCP host and port, or a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// The password is not shown: a URL ends up in logs and `config check`'s output.
impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Url")
            .field("place", &self.place)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("db", &self.db)
            .field("tls", &self.tls)
            .finish()
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Tcp { host, port } => {
                write!(f, "{}", if self.tls { "rediss://" } else { "redis://" })?;
                match (&self.user, &self.password) {
                    (Some(u), Some(_)) => write!(f, "{u}:***@")?,
                    (None, Some(_)) => write!(f, ":***@")?,
                    (Some(u), None) => write!(f, "{u}@")?,
                    (None, None) => {}
                }
                if host.contains(':') {
                    write!(f, "[{host}]:{port}/{}", self.db)
                } else {
                    write!(f, "{host}:{port}/{}", self.db)
                }
            }
            Place::Unix(path) => write!(f, "unix://{}?db={}", path.display(), self.db),
        }
    }
}

impl std::str::FromStr for Url {
    type Err = RespError;

    fn from_str(text: &str) -> Result<Url, RespError> {
        let bad = |why: &str| RespError::Url(why.to_owned());
        if let Some(rest) = text.strip_prefix("unix://") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if !path.starts_with('/') {
                return Err(bad("a unix:// socket path must be absolute"));
            }
            let db = match query.strip_prefix("db=") {
                Some(n) => n.parse().map_err(|_| bad("db= must be a number"))?,
                None if query.is_empty() => 0,
                None => return Err(bad("a unix:// URL takes only ?db=N")),
            };
            return Ok(Url {
                place: Place::Unix(PathBuf::from(path)),
                user: None,
                password: None,
                db,
                tls: false,
            });
        }
        let (rest, tls) = match (
            text.strip_prefix("redis://"),
            text.strip_prefix("rediss://"),
        ) {
            (Some(rest), _) => (rest, false),
            (_, Some(rest)) => (rest, true),
            _ => return Err(bad("must start with redis://, rediss:// or unix://")),
        };
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, d)) => (
                h,
                d.parse()
                    .map_err(|_| bad("the database must be a number"))?,
            ),
            None => (rest, 0),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 host needs its closing ]"))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(bad("the port must be 1 to 65535")),
                Ok(p) => p,
            },
            None => 6379,
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => {
                let (u, p) = match a.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (a, None),
                };
                let u = percent_decode(u).ok_or_else(|| bad("bad %-escape in the user"))?;
                let p = match p {
                    Some(p) => {
                        Some(percent_decode(p).ok_or_else(|| bad("bad %-escape in the password"))?)
                    }
                    None => None,
                };
                ((!u.is_empty()).then_some(u), p)
            }
        };
        Ok(Url {
            place: Place::Tcp {
                host: host.to_owned(),
                port,
            },
            user,
            password,
            db,
            tls,
        })
    }
}

impl Url {
    /// This URL with the password of `file` (its first line), when there is one: the
    /// password kept out of the configuration, read at each connection so that a
    /// corrected file needs no restart.
    pub fn with_password_file(&self, file: Option<&std::path::Path>) -> Result<Url, String> {
        let mut url = self.clone();
        if let Some(path) = file {
            private(path, "password-file")?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read fleet.password-file {}: {e}", path.display()))?;
            url.password = Some(text.lines().next().unwrap_or("").to_owned());
        }
        Ok(url)
    }
}

/// Refuses a file of secrets that every user of the machine can read, as sshd refuses such
/// a private key: whoever reads the fleet's password or key can write bans to every node.
/// A group may read it (Debian's `ssl-cert` group is made for keys). A file that cannot
/// be looked at is left to the read that follows, which says why.
fn private(path: &std::path::Path, key: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o004 != 0 => Err(format!(
            "fleet.{key} {} can be read by every user (mode {:o}): it holds a secret of \
             the fleet; chmod o-r it",
            path.display(),
            m.permissions().mode() & 0o7777
        )),
        _ => Ok(()),
    }
}

/// `%40` → `@`; `None` on a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Everything a connection to the fleet's Redis is made of, read again at each
/// connection: a corrected password file or a renewed certificate needs no restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: Url,
    pub password_file: Option<PathBuf>,
    /// Used by a `rediss://` URL.
    pub tls: tls::Files,
}

impl Endpoint {
    /// Reads the password file and, for `rediss://`, the TLS files: what a connection
    /// is made with, or what is wrong with them (`config check` asks the same).
    pub fn prepare(&self) -> Result<(Url, Option<Arc<tls::ClientConfig>>), String> {
        let url = self.url.with_password_file(self.password_file.as_deref())?;
        let tls = match url.tls {
            true => {
                if let Some(key) = &self.tls.key {
                    private(key, "tls-key-file")?;
                }
                Some(self.tls.client_config()?)
            }
            false => None,
        };
        Ok((url, tls))
    }

    /// Prepares, then connects; an error names the URL (without its password) and what
    /// failed.
    pub fn connect(&self, timeout: Duration) -> Result<Conn, String> {
        let (url, tls) = self.prepare()?;
        Conn::connect(&url, tls, timeout).map_err(|e| {
            if certificate_required(&e) && self.tls.cert.is_none() {
                format!(
                    "{url}: {e} (Redis asks for this node's certificate: set \
                     fleet.tls-cert-file and tls-key-file)"
                )
            } else {
                format!("{url}: {e}")
            }
        })
    }
}

/// Whether Redis refused the handshake for want of this node's certificate.
#[cfg(feature = "tls")]
fn certificate_required(e: &RespError) -> bool {
    matches!(e, RespError::Io { source, .. }
    if source.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
        == Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateRequired,
        )))
}

#[cfg(not(feature = "tls"))]
fn certificate_required(_: &RespError) -> bool {
    false
}

/// The bytes of each kind of connection.
#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    // Boxed: a TLS session is 1 KB beside the socket's 4 bytes.
    #[cfg(feature = "tls")]
    Tls(Box<tls::Stream>),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

impl Stream {
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(d),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock.set_read_timeout(d),
            Stream::Unix(s) => s.set_read_timeout(d),
        }
    }
}

/// One connection to the server.
#[derive(Debug)]
pub struct Conn {
    reader: BufReader<Stream>,
    timeout: Duration,
    request: Vec<u8>,
}

impl Conn {
    /// Connects within `timeout`, over TLS with `tls` for a `rediss://` URL, authenticates
    /// and selects the URL's database. Every call then waits at most `timeout` for its
    /// reply, but for [`Conn::call_blocking`].
    pub fn connect(
        url: &Url,
        tls: Option<Arc<tls::ClientConfig>>,
        timeout: Duration,
    ) -> Result<Conn, RespError> {
        let io = |what: String| move |source| RespError::Io { what, source };
        let stream = match &url.place {
            Place::Tcp { host, port } => {
                let addrs = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(io(format!("resolving {host}")))?;
                let mut last = None;
                let mut stream = None;
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            stream = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let s = stream.ok_or_else(|| RespError::Io {
                    what: format!("connecting to {host}:{port}"),
                    source: last.unwrap_or_else(|| io::Error::other("no address")),
                })?;
                // Bans are small and must go out at once.
                s.set_nodelay(true)
                    .map_err(io("setting TCP_NODELAY".into()))?;
                s.set_write_timeout(Some(timeout))
                    .map_err(io("setting a write timeout".into()))?;
                // The handshake runs within the same timeouts as any reply.
                s.set_read_timeout(Some(timeout))
                    .map_err(io("setting a read timeout".into()))?;
                match (url.tls, tls) {
                    (false, _) => Stream::Tcp(s),
                    #[cfg(feature = "tls")]
                    (true, Some(config)) => Stream::Tls(Box::new(
                        tls::handshake(config, host, s)
                            .map_err(io(format!("TLS handshake with {host}:{port}")))?,
                    )),
                    (true, _) if !tls::BUILT => return Err(RespError::Url(tls::NOT_BUILT.into())),
                    (true, _) => {
                        return Err(RespError::Url(
                            "rediss:// needs a TLS configuration to connect with".into(),
                        ));
                    }
                }
            }
            Place::Unix(path) => {
                let s = UnixStream::connect(path)
                    .map_err(io(format!("connecting to {}", path.display())))?;
                s.set_write_timeout(Some(timeout))
                    .map_err(io("setting a write timeout".into()))?;
                Stream::Unix(s)
            }
        };
        stream
            .set_read_timeout(Some(timeout))
            .map_err(io("setting a read timeout".into()))?;
        let mut conn = Conn {
            // Replies of 1,000 entries are read through it: 16 KiB is a few reads each.
            reader: BufReader::with_capacity(16 * 1024, stream),
            timeout,
            request: Vec::new(),
        };
        if let Some(password) = &url.password {
            match &url.user {
                Some(user) => conn.call(&[b"AUTH", user.as_bytes(), password.as_bytes()])?,
                None => conn.call(&[b"AUTH", password.as_bytes()])?,
            };
        }
        if url.db != 0 {
            conn.call(&[b"SELECT", url.db.to_string().as_bytes()])?;
        }
        Ok(conn)
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        self.send(args)?;
        self.read_reply()
    }

    /// As [`Conn::call`] for a command that blocks on the server up to `block` (XREAD
    /// BLOCK): the reply may take that long, plus the usual timeout.
    pub fn call_blocking(&mut self, args: &[&[u8]], block: Duration) -> Result<Reply, RespError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| RespError::Io { what, source }
        };
        self.send(args)?;
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(block + self.timeout))
            .map_err(io("setting a read timeout"))?;
        let reply = self.read_reply();
        self.reader
            .get_ref()
            .set_read_timeout(Some(self.timeout))
            .map_err(io("setting a read timeout"))?;
        reply
    }

    /// Several commands in one write, their replies in order (one round trip).
    pub fn pipeline(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, RespError> {
        self.request.clear();
        for c in commands {
            let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            encode(&mut self.request, &args);
        }
        self.write_request()?;
        let mut out = Vec::with_capacity(commands.len());
        let mut first_error = None;
        for _ in commands {
            match self.read_reply() {
                Ok(r) => out.push(r),
                // The others' replies still come: read them all before saying it.
                Err(RespError::Server(msg)) => {
                    first_error.get_or_insert(RespError::Server(msg));
                }
                Err(e) => return Err(e),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn send(&mut self, args: &[&[u8]]) -> Result<(), RespError> {
        self.request.clear();
        encode(&mut self.request, args);
        self.write_request()
    }

    fn write_request(&mut self) -> Result<(), RespError> {
        let stream = self.reader.get_mut();
        stream
            .write_all(&self.request)
            .and_then(|()| stream.flush())
            .map_err(|source| RespError::Io {
                what: "writing to redis".into(),
                source,
            })
    }

    fn read_reply(&mut self) -> Result<Reply, RespError> {
        read_reply(&mut self.reader, 0)
    }
}

/// A command as RESP: an array of bulk strings, binary-safe.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn read_line(r: &mut impl BufRead) -> Result<Vec<u8>, RespError> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(MAX_LINE as u64 + 2)
        .read_until(b'\n', &mut line)
        .map_err(|source| RespError::Io {
            what: "reading from redis".into(),
            source,
        })?;
    if n == 0 {
        return Err(RespError::Io {
            what: "reading from redis".into(),
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ),
        });
    }
    if !line.ends_with(b"\r\n") {
        return Err(RespError::Protocol(if line.len() > MAX_LINE {
            format!("a line longer than {MAX_LINE} bytes")
        } else {
            "a line not ended by CR LF".into()
        }));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn number(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            RespError::Protocol(format!(
                "{:?} is not a number",
                String::from_utf8_lossy(text)
            ))
        })
}

/// A length the server announced, or `None` for RESP's -1 (null).
fn length(text: &[u8], max: usize, what: &str) -> Result<Option<usize>, RespError> {
    match number(text)? {
        -1 => Ok(None),
        n if n < 0 => Err(RespError::Protocol(format!("{what} of length {n}"))),
        n if n as u64 > max as u64 => Err(RespError::Protocol(format!(
            "{what} of {n}, more than the {max} accepted"
        ))),
        n => Ok(Some(n as usize)),
    }
}

fn read_reply(r: &mut impl BufRead, depth: usize) -> Result<Reply, RespError> {
    let line = read_line(r)?;
    let Some((&kind, rest)) = line.split_first() else {
        return Err(RespError::Protocol("an empty line".into()));
    };
    match kind {
        b'+' => Ok(Reply::Status(String::from_utf8_lossy(rest).into_owned())),
        b'-' => Err(RespError::Server(
            String::from_utf8_lossy(rest).into_owned(),
        )),
        b':' => Ok(Reply::Int(number(rest)?)),
        b'$' => {
            let Some(n) = length(rest, MAX_BULK, "a bulk string")? else {
                return Ok(Reply::Bulk(None));
            };
            let mut data = vec![0; n + 2];
            r.read_exact(&mut data).map_err(|source| RespError::Io {
                what: "reading from redis".into(),
                source,
            })?;
            if !data.ends_with(b"\r\n") {
                return Err(RespError::Protocol(
                    "a bulk string not ended by CR LF".into(),
                ));
            }
            data.truncate(n);
            Ok(Reply::Bulk(Some(data)))
        }
        b'*' => {
            let Some(n) = length(rest, MAX_ARRAY, "an array")? else {
                return Ok(Reply::Array(None));
            };
            if depth == MAX_DEPTH {
                return Err(RespError::Protocol(format!(
                    "arrays nested deeper than {MAX_DEPTH}"
                )));
            }
            // Allocated as elements arrive: an announced length costs nothing until sent.
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                items.push(read_reply(r, depth + 1)?);
            }
            Ok(Reply::Array(Some(items)))
        }
        other => Err(RespError::Protocol(format!(
            "a reply of type {:?}",
            other as char
        ))),
    }
}

#[cfg(test)]
mod tests;
