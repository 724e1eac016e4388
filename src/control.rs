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
//!
//! The protocol's types, its errors and the client are here; the server is `server`.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Lift a ban now; with `fleet`, every fleet node's ban of it too.
    Unban {
        addr: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fleet: bool,
    },
    /// Read the configuration again.
    Reload,
    /// Ban the entries of the blocklist `list` (its name, for the bans' reason), each for
    /// `duration` ("0": permanently). A long list comes in several requests, each under
    /// the socket's request size.
    Import {
        targets: Vec<String>,
        #[serde(rename = "for")]
        duration: String,
        list: String,
    },
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
        #[serde(default)]
        fleet: bool,
    },
    Reload {},
    Import {
        targets: Vec<String>,
        #[serde(rename = "for")]
        duration: String,
        list: String,
    },
}

impl From<WireRequest> for Request {
    fn from(wire: WireRequest) -> Request {
        match wire {
            WireRequest::Status {} => Request::Status,
            WireRequest::List {} => Request::List,
            WireRequest::Ban { addr, duration } => Request::Ban { addr, duration },
            WireRequest::Unban { addr, fleet } => Request::Unban { addr, fleet },
            WireRequest::Reload {} => Request::Reload,
            WireRequest::Import {
                targets,
                duration,
                list,
            } => Request::Import {
                targets,
                duration,
                list,
            },
        }
    }
}

impl Request {
    /// Whether the request changes the daemon's state or the firewall: only privileged
    /// peers may send these.
    pub fn mutates(&self) -> bool {
        match self {
            Request::Ban { .. }
            | Request::Unban { .. }
            | Request::Reload
            | Request::Import { .. } => true,
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
            Request::Import { .. } => "import",
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
    /// Shared: the daemon answers every `list` of one moment with the same list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bans: Option<std::sync::Arc<Vec<BanInfo>>>,
    /// What an `import` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<crate::decide::ImportTally>,
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

    pub fn with_bans(bans: impl Into<std::sync::Arc<Vec<BanInfo>>>) -> Response {
        Response {
            ok: true,
            bans: Some(bans.into()),
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
    /// The metrics listener, when configured: "serving on 127.0.0.1:9877" or "error: …".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// The fleet link, when `[fleet]` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetInfo>,
}

/// The fleet link as `status` and `fleet status` show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FleetInfo {
    /// This node's name.
    pub node: String,
    /// Redis, without its password.
    pub url: String,
    /// The follower's connection is up (reading other nodes' records).
    pub following: bool,
    /// The publisher's connection is up (sending this node's).
    pub publishing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last stream entry read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_id: Option<String>,
    /// Records of this node waiting to be published.
    pub outbox: u64,
    /// Other nodes' records read since the start.
    pub received: u64,
    /// This node's records published since the start.
    pub published: u64,
    /// Stream entries that were not records this version reads.
    pub bad_entries: u64,
    /// Remote bans refused here (protected targets).
    pub refused: u64,
    /// Targets reported by fewer nodes than the quorum, waiting for more.
    pub awaiting_quorum: u64,
    pub reconnects: u64,
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
    /// Bans in force this backend refused, with its reason (`203.0.113.5: …`), while it
    /// applied every other; retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

/// Events seen since the start, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventCounts {
    pub auth_failure: u64,
    pub invalid_user: u64,
    pub probe: u64,
    pub success: u64,
    /// Of the logins, those that granted no trust (`policy.trust-logins`): a log file's
    /// whose connection was not open in root's sshd.
    pub untrusted_logins: u64,
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
    /// The fleet node this ban came from; absent: decided on this node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
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

mod server;
#[cfg(test)]
mod tests;

pub use server::{BanSnapshot, ControlServer, Incoming, Peer, ServerOptions, serve};
