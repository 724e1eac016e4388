//! The vocabulary shared by every stage: what one sshd log line tells us.
//!
//! An [`Event`] borrows the line it came from (the user name is a slice of it), so
//! parsing allocates nothing. Nothing here does I/O.

use std::fmt;
use std::net::IpAddr;

/// What an event means for the ban policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A failed authentication, or an account sshd refused (DenyUsers, root login refused…).
    AuthFailure,
    /// An attempt on a user that does not exist.
    InvalidUser,
    /// A pre-authentication connection that never authenticated: scanners, bad banners,
    /// key-exchange failures, disconnects before authentication.
    Probe,
    /// An accepted login.
    Success,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::AuthFailure,
        Kind::InvalidUser,
        Kind::Probe,
        Kind::Success,
    ];

    /// The stable name used in `--json` output and in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AuthFailure => "auth-failure",
            Kind::InvalidUser => "invalid-user",
            Kind::Probe => "probe",
            Kind::Success => "success",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authentication method named in `Failed`/`Accepted` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Password,
    Publickey,
    KeyboardInteractive,
    Hostbased,
    Gssapi,
    None,
    /// `unknown` (the monitor found no method) or anything newer than this list.
    Other,
}

impl Method {
    /// Classifies the method token of a `Failed <method>` line (`keyboard-interactive/pam`
    /// counts as keyboard-interactive).
    pub fn from_token(token: &[u8]) -> Method {
        // A short word: a word-at-a-time scan, not a vectorised search's setup.
        let base = match crate::bytes::find_byte(token, b'/') {
            Some(slash) => &token[..slash],
            None => token,
        };
        match base {
            b"password" => Method::Password,
            b"publickey" => Method::Publickey,
            b"keyboard-interactive" => Method::KeyboardInteractive,
            b"hostbased" => Method::Hostbased,
            b"gssapi-with-mic" | b"gssapi-keyex" | b"gssapi" => Method::Gssapi,
            b"none" => Method::None,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Publickey => "publickey",
            Method::KeyboardInteractive => "keyboard-interactive",
            Method::Hostbased => "hostbased",
            Method::Gssapi => "gssapi",
            Method::None => "none",
            Method::Other => "other",
        }
    }
}

/// The shape of sshd message an event came from: a short, stable id (the `msg` key of
/// `check --json`). The numbers (M01…) are those of the parser's sshd message catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Msg {
    /// `Failed <method> for [invalid user ]U from A port N ssh2` (M01–M05).
    Failed,
    /// `Accepted <method> for U from A port N ssh2`.
    Accepted,
    /// `Invalid user U from A [port N]` (M11, M12).
    InvalidUser,
    /// `maximum authentication attempts exceeded for …` and 6.7's
    /// `Disconnecting: Too many authentication failures for U from A port N` (M07–M09).
    MaxAuthTries,
    /// `Disconnecting {authenticating|invalid} user U A port N: Too many authentication failures` (M10).
    TooManyFailures,
    /// `User U from A not allowed because …` (M14).
    NotAllowed,
    /// `ROOT LOGIN REFUSED FROM A [port N]` (M16, M17).
    RootRefused,
    /// `administratively prohibited connection for …` (M18, RefuseConnection).
    Prohibited,
    /// sshd's own `error: PAM: <text> for [illegal user ]U from A` (M24).
    PamFailure,
    /// `pam_unix(sshd:auth): authentication failure; … rhost=A …` (M25).
    PamUnix,
    /// `PAM N more authentication failures; … rhost=A …` (M27).
    PamMore,
    /// `Received disconnect from A [port N]:C: text [preauth]` (M29, M30), pre-auth only.
    ReceivedDisconnect,
    /// `Connection closed by [… user U ]A [port N]` (M31, M32).
    ConnectionClosed,
    /// `Connection reset by [… user U ]A [port N]` (M34).
    ConnectionReset,
    /// `Disconnected from [… user U ]A [port N] [preauth]` (M33), pre-auth only.
    Disconnected,
    /// `Disconnecting [… user U ]A port N: <server reason> [preauth]` other than too many failures (M35).
    Disconnecting,
    /// `Connection from … timed out` before authentication (M36).
    TimedOut,
    /// `Did not receive identification string from A [port N]` (M38, M39).
    NoIdent,
    /// `Bad protocol version identification '…' from A [port N]` (M40, M41).
    BadVersion,
    /// `probed from A …` / `scanned from A …` (M42, M43).
    Scanned,
    /// `Protocol major versions differ for A …` (M44, up to 7.9).
    VersionDiffer,
    /// `banner exchange: Connection from A port N: …` (M47).
    BannerExchange,
    /// `Could not write ident string to A [port N]` (M48).
    IdentWrite,
    /// `Unable to negotiate with A port N: …` (M51).
    Negotiate,
    /// `ssh_dispatch_run_fatal: Connection from A port N: …` and older transport errors (M50, M52).
    DispatchFatal,
    /// `Timeout before authentication for …` (M55, M56).
    GraceTimeout,
    /// `drop connection #N from [A]:P on [L]:P past MaxStartups|penalty: …` (M57, M58).
    DropConnection,
    /// `srclimit_penalise: …` penalties of single hosts (M61).
    Penalty,
    /// `Session process N unpriv child crash for …` (M62).
    SessionCrash,
    /// libwrap's `refused connect from H (A)` (M69).
    RefusedConnect,
}

impl Msg {
    pub fn as_str(self) -> &'static str {
        match self {
            Msg::Failed => "failed",
            Msg::Accepted => "accepted",
            Msg::InvalidUser => "invalid-user",
            Msg::MaxAuthTries => "max-auth-tries",
            Msg::TooManyFailures => "too-many-failures",
            Msg::NotAllowed => "not-allowed",
            Msg::RootRefused => "root-refused",
            Msg::Prohibited => "prohibited",
            Msg::PamFailure => "pam-failure",
            Msg::PamUnix => "pam-unix",
            Msg::PamMore => "pam-more",
            Msg::ReceivedDisconnect => "received-disconnect",
            Msg::ConnectionClosed => "connection-closed",
            Msg::ConnectionReset => "connection-reset",
            Msg::Disconnected => "disconnected",
            Msg::Disconnecting => "disconnecting",
            Msg::TimedOut => "timed-out",
            Msg::NoIdent => "no-ident",
            Msg::BadVersion => "bad-version",
            Msg::Scanned => "scanned",
            Msg::VersionDiffer => "version-differ",
            Msg::BannerExchange => "banner-exchange",
            Msg::IdentWrite => "ident-write",
            Msg::Negotiate => "negotiate",
            Msg::DispatchFatal => "dispatch-fatal",
            Msg::GraceTimeout => "grace-timeout",
            Msg::DropConnection => "drop-connection",
            Msg::Penalty => "penalty",
            Msg::SessionCrash => "session-crash",
            Msg::RefusedConnect => "refused-connect",
        }
    }

    /// How the detector counts a line of this shape so one attempt counts once
    /// although sshd logs it in several lines (see `detect`).
    pub fn role(self) -> Role {
        match self {
            Msg::Failed | Msg::RootRefused | Msg::NotAllowed | Msg::Prohibited => Role::Attempt,
            Msg::Accepted => Role::Attempt,
            Msg::InvalidUser => Role::Opening,
            Msg::PamFailure | Msg::PamUnix => Role::Pam,
            Msg::Penalty => Role::Summary,
            _ => Role::Closing,
        }
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a message shape relates to the attempts of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Each line is one attempt (`Failed password`, times the repeat count).
    Attempt,
    /// The first line of a connection, before its attempts (`Invalid user`): counts as one
    /// attempt that the connection's first `Failed` line then does not repeat.
    Opening,
    /// A PAM line logged beside the `Failed` line of the same attempt (possibly by a forked
    /// process with another pid, and without the port).
    Pam,
    /// A line that sums up or ends a connection (`maximum authentication attempts exceeded`,
    /// `Connection closed by … [preauth]`, probes): counts only when nothing else of the
    /// connection did.
    Closing,
    /// sshd's own verdict on an address (`srclimit_penalise: … activating … penalty`), logged
    /// by the listener for attempts its connections logged already: counts only when
    /// nothing of the address counts inside the window (the attempts were not visible).
    Summary,
}

/// When a line was logged: an instant plus the UTC offset the log wrote (or the local
/// offset we assumed for a time without a zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTime {
    pub instant: jiff::Timestamp,
    pub offset: jiff::tz::Offset,
}

impl LogTime {
    /// Milliseconds since the Unix epoch: the unit of the detector's window.
    pub fn unix_ms(&self) -> i64 {
        self.instant.as_millisecond()
    }
}

impl fmt::Display for LogTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.instant.display_with_offset(self.offset))
    }
}

/// One sshd log line that matters, as the parser understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub time: Option<LogTime>,
    pub kind: Kind,
    pub msg: Msg,
    /// The remote address, canonical (IPv4-mapped IPv6 written as IPv4, no zone).
    pub addr: IpAddr,
    /// The line names no address (or a host name): `addr` is the one an earlier line of the
    /// same sshd process named.
    pub by_pid: bool,
    /// The remote port, where the message has one.
    pub port: Option<u16>,
    /// The user name exactly as logged (still escaped by sshd), where the message has one.
    pub user: Option<&'a [u8]>,
    /// The method of `Failed`/`Accepted` lines.
    pub method: Option<Method>,
    /// How many times the line stands for (rsyslog's `message repeated N times: [ … ]`).
    pub count: u32,
    /// The pid in the envelope, when the log has one.
    pub pid: Option<u32>,
}
