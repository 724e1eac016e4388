//! `authban status | list | ban | unban | reload`: thin clients of the daemon's control
//! socket (see [`crate::control`]). The clients check their arguments, send one request and
//! print the answer ([`render`] makes the text); every decision is the daemon's. When no
//! daemon listens, `list`, `ban` and `unban` work alone on the store and hosts.deny, as
//! the cron mode's `scan` does ([`super::offline`]).
//!
//! Exit codes: 0 done; 1 refused (the reason is printed); 64 a bad argument; 69 the
//! daemon cannot be reached (and runs, or the command needs it); 74 the conversation
//! broke; 76 the daemon's answer is not the protocol; 78 the configuration is invalid.

mod fleet;
mod lists;
pub(super) mod render;

pub use fleet::{FleetCommand, run as fleet};
pub use lists::{ExportArgs, ImportArgs, export, import};
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use super::offline::{self, Offline};
use super::{Global, exit};
use crate::addr::Cidr;
use crate::config::ConfigError;
use crate::control::{self, ControlError, Request, Response};
use crate::decide::Length;
use crate::host::local_zone;
use render::{render_bans, render_status};

use super::exit::{PROTOCOL, UNAVAILABLE};

/// How long a client waits for the daemon: longer than the daemon's own limit for an
/// answer from its engine (5 s), so its "busy" explanation arrives before we give up.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket option of every client command.
#[derive(Debug, Clone, Args)]
pub struct SocketArg {
    /// The daemon's control socket [default: /run/authban/authban.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

impl SocketArg {
    fn path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| PathBuf::from(control::DEFAULT_SOCKET))
    }

    /// The socket to use: `--socket`, else the configuration's `daemon.socket`. A
    /// configuration that does not load is reported as what it is (exit 78): falling
    /// back to the default socket blamed the daemon for a typo, exactly when an admin
    /// runs `reload` after editing. Only a file this user may not read (the daemon's
    /// configuration is root's) leaves the default socket, said.
    fn resolve(&self, global: &Global) -> Result<PathBuf, u8> {
        if let Some(s) = &self.socket {
            return Ok(s.clone());
        }
        match global.overrides().load() {
            Ok((c, _)) => Ok(c.daemon.socket),
            Err(ConfigError::Io { path, source })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                eprintln!(
                    "authban: cannot read {} ({source}); trying the default socket {}",
                    path.display(),
                    control::DEFAULT_SOCKET
                );
                Ok(self.path())
            }
            Err(e) => {
                eprintln!("authban: {e}");
                eprintln!(
                    "authban: the daemon's socket is set there; fix the configuration, or \
                     give --socket"
                );
                Err(exit::CONFIG)
            }
        }
    }
}

/// Show what the daemon is doing.
///
/// Prints the log sources and their state, the ban backends (and why one fails), the number
/// of active bans and tracked addresses, the events seen by kind, and the latest events.
/// Any user who can open the socket may run it.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Print the daemon's answer as JSON instead of a summary
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

/// List the bans in force.
///
/// One line per ban: address or network (what `unban` takes), when it was banned and when
/// it expires (RFC 3339, local time), how often it offended, and why. Without a daemon,
/// the bans the store records (the cron mode's).
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Print the bans as JSON instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

/// Ban an address or network now.
///
/// The ban is recorded and applied like one the daemon decided, and lasts the configured
/// ban time unless --for or --permanent says otherwise. Without a daemon it is recorded in
/// the store and written to hosts.deny, as `scan` does. An address or network that holds
/// this host's own, the SSH session's client or an allowlisted one is refused. Needs root.
#[derive(Debug, Clone, Args)]
pub struct BanArgs {
    /// The address (192.0.2.7, 2001:db8::7) or network (198.51.100.0/24) to ban
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// How long the ban lasts, like 90s, 10m, 1h30m, 7d, 2w; 0 is permanent [default: the
    /// configured ban.time]
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
    /// Ban until an explicit unban (the same as --for 0)
    #[arg(long, conflicts_with = "duration")]
    pub permanent: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

/// Lift a ban now.
///
/// Give the address or network exactly as `authban list` shows it. Without a daemon the
/// ban is lifted in the store and hosts.deny, and the next `scan` does not restore it.
/// Needs root.
///
/// Example: `authban unban 198.51.100.0/24`
#[derive(Debug, Clone, Args)]
pub struct UnbanArgs {
    /// The banned address or network
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// Also lift every fleet node's ban of it that came from the fleet (a ban another
    /// node decided itself stays: no remote node lifts that)
    #[arg(long)]
    pub fleet: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

/// Make the daemon read its configuration again.
///
/// Same as `systemctl reload authban`. If the new configuration is invalid, the daemon
/// keeps the old one and this command prints why. Needs root.
#[derive(Debug, Clone, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub socket: SocketArg,
}

pub fn status(global: &Global, args: StatusArgs) -> u8 {
    let socket = match args.socket.resolve(global) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let response = match ask(&socket, &Request::Status) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match &response.status {
        Some(s) if args.json => print_json(&with_times(s, &["started_at"])),
        Some(s) => {
            print!(
                "{}",
                render_status(s, &local_zone(), jiff::Timestamp::now().as_second())
            );
            exit::OK
        }
        None => no_field("status"),
    }
}

pub fn list(global: &Global, args: ListArgs) -> u8 {
    let bans = match bans_in_force(global, &args.socket) {
        Ok(b) => b,
        Err(code) => return code,
    };
    if args.json {
        return print_json(&with_times(&bans, &["banned_at", "expires_at"]));
    }
    print!("{}", render_bans(&bans, &local_zone()));
    exit::OK
}

/// The bans in force: the daemon's, or without a daemon the store's (saying so on stderr).
fn bans_in_force(global: &Global, socket: &SocketArg) -> Result<Vec<control::BanInfo>, u8> {
    let socket = socket.resolve(global)?;
    match ask_daemon(&socket, &Request::List) {
        Ok(response) => match response.bans {
            Some(bans) => Ok(bans.to_vec()),
            None => Err(no_field("bans")),
        },
        Err(Unanswered::Failed(code)) => Err(code),
        Err(Unanswered::NoDaemon(why)) => {
            let config = super::load_config(global)?;
            let bans = offline::list(&config).map_err(|(code, msg)| {
                eprintln!("authban: {msg}");
                code
            })?;
            eprintln!(
                "authban: {why}\nauthban: no daemon is running: these are the bans the store \
                 in {} records",
                config.paths.state_dir.display()
            );
            Ok(bans)
        }
    }
}

pub fn ban(global: &Global, args: BanArgs) -> u8 {
    let addr = match parse_target(&args.addr) {
        Ok(a) => a,
        Err(msg) => return usage(&msg),
    };
    let duration = match args.duration.as_deref().map(parse_duration).transpose() {
        Ok(d) => d,
        Err(msg) => return usage(&msg),
    };
    let length = match (&duration, args.permanent) {
        (_, true) => Length::Permanent,
        (Some(d), _) if d.is_zero() => Length::Permanent,
        (Some(d), _) => Length::Seconds(d.0.as_secs()),
        (None, _) => Length::Policy,
    };
    // The daemon reads a zero duration as permanent.
    let duration = if args.permanent {
        Some(crate::config::Duration::ZERO)
    } else {
        duration
    };
    let done = match &duration {
        Some(d) if d.is_zero() => format!("banned {addr} permanently"),
        Some(d) => format!("banned {addr} for {d}"),
        None => format!("banned {addr}"),
    };
    let request = Request::Ban {
        addr: addr.to_string(),
        duration: duration.map(|d| d.to_string()),
    };
    say_or_alone(&args.socket, global, &request, &done, |o| {
        o.ban(addr, length)
    })
}

pub fn unban(global: &Global, args: UnbanArgs) -> u8 {
    let addr = match parse_target(&args.addr) {
        Ok(a) => a,
        Err(msg) => return usage(&msg),
    };
    let request = Request::Unban {
        addr: addr.to_string(),
        fleet: args.fleet,
    };
    let done = format!("unbanned {addr}");
    say_or_alone(&args.socket, global, &request, &done, move |o| {
        o.unban(addr, args.fleet)
    })
}

pub fn reload(global: &Global, args: ReloadArgs) -> u8 {
    say_to(
        &args.socket,
        global,
        &Request::Reload,
        "the daemon read its configuration again",
    )
}

/// Parses an address or network for `ban`/`unban`, refusing what is surely a mistake.
fn parse_target(text: &str) -> Result<Cidr, String> {
    let target = Cidr::from_str(text).map_err(|e| e.to_string())?;
    if target.net().prefix_len() == 0 {
        return Err(format!(
            "`{text}` is every address: refusing to ban the whole Internet"
        ));
    }
    Ok(target)
}

fn parse_duration(text: &str) -> Result<crate::config::Duration, String> {
    crate::config::Duration::from_str(text.trim()).map_err(|e| format!("--for: {e}"))
}

fn usage(msg: &str) -> u8 {
    eprintln!("authban: {msg}");
    exit::USAGE
}

/// Why asking the daemon gave no answer.
enum Unanswered {
    /// Nothing listens on the socket (why, as a sentence): no daemon runs, or it runs
    /// elsewhere, which the state directory's lock tells.
    NoDaemon(String),
    /// Already printed; the exit code.
    Failed(u8),
}

/// Sends a request. A daemon that answered "no" is a failure, printed.
fn ask_daemon(socket: &Path, request: &Request) -> Result<Response, Unanswered> {
    match control::request(socket, request, CLIENT_TIMEOUT) {
        Ok(r) if r.ok => Ok(r),
        Ok(r) => {
            eprintln!(
                "authban: {}",
                r.error
                    .as_deref()
                    .unwrap_or("the daemon refused, without a reason")
            );
            Err(Unanswered::Failed(exit::FAILURE))
        }
        Err(ref e @ ControlError::Connect { ref source, .. })
            if matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(Unanswered::NoDaemon(e.to_string()))
        }
        Err(e) => {
            eprintln!("authban: {e}");
            Err(Unanswered::Failed(match e {
                ControlError::Protocol { .. } => PROTOCOL,
                ControlError::Io { .. } => exit::IOERR,
                _ => UNAVAILABLE,
            }))
        }
    }
}

/// [`ask_daemon`] for commands that need the daemon: no daemon is a failure, printed.
fn ask(socket: &Path, request: &Request) -> Result<Response, u8> {
    ask_daemon(socket, request).map_err(|u| match u {
        Unanswered::NoDaemon(why) => {
            eprintln!("authban: {why}");
            UNAVAILABLE
        }
        Unanswered::Failed(code) => code,
    })
}

/// Sends a mutating request to the daemon; when none runs, makes the change `alone`
/// on the store and hosts.deny (the cron mode).
fn say_or_alone(
    arg: &SocketArg,
    global: &Global,
    request: &Request,
    done: &str,
    alone: impl FnOnce(Offline<'_>) -> Result<String, offline::Failure>,
) -> u8 {
    let socket = match arg.resolve(global) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let why = match ask_daemon(&socket, request) {
        Ok(r) => {
            println!("{}", r.message.as_deref().unwrap_or(done));
            return exit::OK;
        }
        Err(Unanswered::Failed(code)) => return code,
        Err(Unanswered::NoDaemon(why)) => why,
    };
    let config = match super::load_config(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match Offline::open(&config, &why).and_then(alone) {
        Ok(said) => {
            println!("{said}");
            exit::OK
        }
        Err((code, msg)) => {
            eprintln!("authban: {msg}");
            code
        }
    }
}

/// [`say`] to the socket `arg` resolves to.
fn say_to(arg: &SocketArg, global: &Global, request: &Request, done: &str) -> u8 {
    match arg.resolve(global) {
        Ok(socket) => say(&socket, request, done),
        Err(code) => code,
    }
}

/// Sends a mutating request and prints the daemon's message, or `done` if it had none.
fn say(socket: &Path, request: &Request, done: &str) -> u8 {
    match ask(socket, request) {
        Ok(r) => {
            println!("{}", r.message.as_deref().unwrap_or(done));
            exit::OK
        }
        Err(code) => code,
    }
}

/// `value` as JSON with the members named `keys` (unix seconds, at any depth) written
/// as RFC 3339 in UTC, as the recent events' times are: one form of time in every
/// `--json`, readable by people and by `date -d` or `jq`'s `fromdate` alike.
fn with_times<T: serde::Serialize>(value: &T, keys: &[&str]) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value, keys: &[&str]) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, member) in map.iter_mut() {
                    if keys.contains(&k.as_str())
                        && let Some(t) = member
                            .as_i64()
                            .and_then(|s| jiff::Timestamp::from_second(s).ok())
                    {
                        *member = serde_json::Value::from(t.to_string());
                    } else {
                        walk(member, keys);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, keys)),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    walk(&mut v, keys);
    v
}

fn print_json<T: serde::Serialize>(value: &T) -> u8 {
    let mut out = std::io::stdout().lock();
    match serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
    {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("authban: writing to standard output: {e}");
            exit::IOERR
        }
    }
}

fn no_field(field: &str) -> u8 {
    eprintln!(
        "authban: the authban daemon sent an invalid answer: `{field}` is missing \
         (is it another version?)"
    );
    PROTOCOL
}
