//! `authban status | list | ban | unban | reload`: thin clients of the daemon's control
//! socket (see [`crate::control`]); and `authban install | uninstall` (see
//! [`crate::install`]). The clients check their arguments, send one request and print the
//! answer; every decision is the daemon's.
//!
//! Wiring into `src/cli.rs` (`Command` variant → call in `run`):
//! ```text
//! /// Show what the daemon is doing: sources, backends, bans, recent events
//! Status(ctl::StatusArgs),       Command::Status(args) => ctl::status(&global, args),
//! /// List the bans in force
//! List(ctl::ListArgs),           Command::List(args) => ctl::list(&global, args),
//! /// Ban an address or network now (needs root)
//! Ban(ctl::BanArgs),             Command::Ban(args) => ctl::ban(&global, args),
//! /// Lift a ban now (needs root)
//! Unban(ctl::UnbanArgs),         Command::Unban(args) => ctl::unban(&global, args),
//! /// Make the daemon read its configuration again (needs root)
//! Reload(ctl::ReloadArgs),       Command::Reload(args) => ctl::reload(&global, args),
//! /// Install the systemd unit and a default configuration
//! Install(ctl::InstallArgs),     Command::Install(args) => ctl::install(&global, args),
//! /// Remove the systemd unit (keeps the configuration and the state)
//! Uninstall(ctl::UninstallArgs), Command::Uninstall(args) => ctl::uninstall(&global, args),
//! ```
//!
//! Exit codes: 0 done; 1 the daemon refused (its reason is printed); 64 a bad argument;
//! 69 the daemon cannot be reached; 74 the conversation broke; 76 the daemon's answer is
//! not the protocol.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use super::{Global, exit};
use crate::addr::Cidr;
use crate::control::{self, BanInfo, ControlError, Request, Response, Status};
use crate::host::local_zone;
use crate::install::{self, InstallError, InstallOptions, Outcome, Report};

/// sysexits.h codes used only here.
const UNAVAILABLE: u8 = 69;
const PROTOCOL: u8 = 76;

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

    /// The socket to use: `--socket`, else the configuration's `daemon.socket` (a
    /// configuration that does not load falls back to the default: the daemon could not
    /// have started with it either).
    fn resolve(&self, global: &Global) -> PathBuf {
        if let Some(s) = &self.socket {
            return s.clone();
        }
        global
            .overrides()
            .load()
            .map(|(c, _)| c.daemon.socket)
            .unwrap_or_else(|_| self.path())
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
/// One line per ban: address, when it was banned and when it expires (RFC 3339, local
/// time), how often the address offended, and why.
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
/// ban time unless --for says otherwise. Needs root.
#[derive(Debug, Clone, Args)]
pub struct BanArgs {
    /// The address (192.0.2.7, 2001:db8::7) or network (198.51.100.0/24) to ban
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// How long the ban lasts, like 90s, 10m, 1h30m, 7d, 2w [default: the configured ban.time]
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
    #[command(flatten)]
    pub socket: SocketArg,
}

/// Lift a ban now.
///
/// Give the address or network exactly as `authban list` shows it. Needs root.
#[derive(Debug, Clone, Args)]
pub struct UnbanArgs {
    /// The banned address or network
    #[arg(value_name = "ADDR")]
    pub addr: String,
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

/// Install authban as a systemd service.
///
/// Writes the unit /etc/systemd/system/authban.service (hardened: runs as root with only
/// CAP_NET_ADMIN, a read-only file system except /var/lib/authban and /run/authban) and,
/// if there is none, the configuration /etc/authban/authban.toml with the defaults. An
/// existing configuration is never overwritten. Does not run systemctl: it prints the
/// commands to run next.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Install below this directory instead of / (to build an image or a package)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Replace an existing unit file that differs from the one authban writes
    #[arg(long)]
    pub force: bool,
    /// Let the daemon write the directory of hosts.deny (/etc) — needed by the hosts.deny
    /// backend, but it lets the daemon rewrite any file in that directory
    #[arg(long)]
    pub allow_hosts_deny: bool,
    /// The program the unit starts [default: this program]
    #[arg(long, value_name = "PATH")]
    pub exec: Option<PathBuf>,
}

/// Remove the systemd unit that `authban install` wrote.
///
/// Stop the service first: systemctl disable --now authban. The configuration
/// (/etc/authban) and the state (/var/lib/authban) are kept; delete them yourself to
/// forget everything.
#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    /// Uninstall below this directory instead of /
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

pub fn status(global: &Global, args: StatusArgs) -> u8 {
    let response = match ask(&args.socket.resolve(global), &Request::Status) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match &response.status {
        Some(s) if args.json => print_json(s),
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
    let response = match ask(&args.socket.resolve(global), &Request::List) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let Some(bans) = &response.bans else {
        return no_field("bans");
    };
    if args.json {
        return print_json(bans);
    }
    print!("{}", render_bans(bans, &local_zone()));
    exit::OK
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
    let request = Request::Ban {
        addr: addr.to_string(),
        duration: duration.map(|d| d.to_string()),
    };
    let done = match &request {
        Request::Ban {
            addr,
            duration: Some(d),
        } => format!("banned {addr} for {d}"),
        _ => format!("banned {addr}"),
    };
    say(&args.socket.resolve(global), &request, &done)
}

pub fn unban(global: &Global, args: UnbanArgs) -> u8 {
    let addr = match parse_target(&args.addr) {
        Ok(a) => a,
        Err(msg) => return usage(&msg),
    };
    let request = Request::Unban {
        addr: addr.to_string(),
    };
    say(
        &args.socket.resolve(global),
        &request,
        &format!("unbanned {addr}"),
    )
}

pub fn reload(global: &Global, args: ReloadArgs) -> u8 {
    say(
        &args.socket.resolve(global),
        &Request::Reload,
        "the daemon read its configuration again",
    )
}

pub fn install(global: &Global, args: InstallArgs) -> u8 {
    let exec = match args.exec.clone().map_or_else(std::env::current_exe, Ok) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("authban: cannot find the path of this program: {e}; give it with --exec");
            return exit::FAILURE;
        }
    };
    let hosts_deny = if args.allow_hosts_deny {
        match hosts_deny_path(global, &args.root) {
            Ok(p) => Some(p),
            Err(code) => return code,
        }
    } else {
        None
    };
    let opts = InstallOptions {
        root: args.root.clone(),
        exec,
        force: args.force,
        hosts_deny: hosts_deny.clone(),
    };
    let report = match install::install_files(&opts) {
        Ok(r) => r,
        Err(e) => return install_failed(&e),
    };
    print_report(&report);
    let config = args.root.join(install::CONFIG_PATH);
    match &hosts_deny {
        Some(file) => println!(
            "note: the daemon may write {} (and everything beside it)",
            file.display()
        ),
        None => println!(
            "note: the daemon may not write hosts.deny (the unit keeps /etc read-only); \
             to use the hosts.deny backend, run `authban install --force --allow-hosts-deny`"
        ),
    }
    println!();
    println!("Next steps:");
    println!(
        "  authban config check --config {}   # review the configuration",
        config.display()
    );
    if args.root != Path::new("/") {
        println!("  (on the system booted from {})", args.root.display());
    }
    println!("  systemctl daemon-reload && systemctl enable --now authban");
    println!("  authban status");
    exit::OK
}

pub fn uninstall(global: &Global, args: UninstallArgs) -> u8 {
    let report = match install::uninstall_files(&args.root) {
        Ok(r) => r,
        Err(e) => return install_failed(&e),
    };
    print_report(&report);
    let mut code = exit::OK;
    // The firewall is the running system's: only when uninstalling from it.
    if args.root == Path::new("/") {
        let config = match crate::config::load(global.config.as_deref()) {
            Ok((c, _)) => c,
            Err(e) => {
                eprintln!("authban: {e}");
                return exit::CONFIG;
            }
        };
        for (name, result) in crate::engine::remove_firewall(&config) {
            match result {
                Ok(()) => println!("removed authban's {name} rules and sets"),
                Err(e) => {
                    eprintln!("authban: {e}");
                    code = exit::FAILURE;
                }
            }
        }
    }
    if report.steps.iter().any(|s| s.outcome == Outcome::Removed) {
        println!();
        println!("Next step: systemctl daemon-reload");
    }
    code
}

/// The hosts.deny file the daemon will edit: `--hosts-deny`, else the one configured in
/// `--config`, else in the configuration being installed, else the default.
fn hosts_deny_path(global: &Global, root: &Path) -> Result<PathBuf, u8> {
    if let Some(file) = &global.hosts_deny {
        return Ok(file.clone());
    }
    let in_root = root.join(install::CONFIG_PATH);
    let config = global
        .config
        .clone()
        .or_else(|| in_root.exists().then_some(in_root));
    let (config, _) = crate::config::load(config.as_deref()).map_err(|e| {
        eprintln!("authban: {e}");
        exit::CONFIG
    })?;
    Ok(config.paths.hosts_deny)
}

fn print_report(report: &Report) {
    for step in &report.steps {
        let path = step.path.display();
        match step.outcome {
            Outcome::Written => println!("wrote {path}"),
            Outcome::Unchanged => println!("unchanged {path}"),
            Outcome::Removed => println!("removed {path}"),
            Outcome::Absent => println!("not installed: {path} does not exist"),
            Outcome::Kept if step.path.ends_with(install::STATE_PATH) => {
                println!("kept {path} (the state: bans and history; delete it to forget them)")
            }
            Outcome::Kept => {
                println!("kept {path} (an existing configuration is never overwritten)")
            }
        }
    }
    for note in &report.notes {
        println!("note: {note}");
    }
}

fn install_failed(e: &InstallError) -> u8 {
    eprintln!("authban: {e}");
    match e {
        InstallError::Io { source, .. } => {
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                eprintln!("authban: run this as root");
            }
            exit::IOERR
        }
        _ => exit::FAILURE,
    }
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
    let d = crate::config::Duration::from_str(text.trim()).map_err(|e| format!("--for: {e}"))?;
    if d.is_zero() {
        return Err(
            "--for 0 would lift the ban at once; leave --for out for the configured \
                    ban time"
                .into(),
        );
    }
    Ok(d)
}

fn usage(msg: &str) -> u8 {
    eprintln!("authban: {msg}");
    exit::USAGE
}

/// Sends a request; on failure prints why and returns the exit code. A daemon that
/// answered "no" is a failure too.
fn ask(socket: &Path, request: &Request) -> Result<Response, u8> {
    match control::request(socket, request, CLIENT_TIMEOUT) {
        Ok(r) if r.ok => Ok(r),
        Ok(r) => {
            eprintln!(
                "authban: {}",
                r.error
                    .as_deref()
                    .unwrap_or("the daemon refused, without a reason")
            );
            Err(exit::FAILURE)
        }
        Err(e) => {
            eprintln!("authban: {e}");
            Err(match e {
                ControlError::Protocol { .. } => PROTOCOL,
                ControlError::Io { .. } => exit::IOERR,
                _ => UNAVAILABLE,
            })
        }
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

/// A unix time as RFC 3339 in `tz`, to the second.
fn rfc3339(secs: i64, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => format!("@{secs}"),
    }
}

/// "3d 4h", "5m 2s": an uptime for people.
fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn render_status(s: &Status, tz: &jiff::tz::TimeZone, now: i64) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "authban {} (pid {}), running since {} ({})",
        s.version,
        s.pid,
        rfc3339(s.started_at, tz),
        span(now - s.started_at)
    ));
    line(String::new());
    line("Sources:".into());
    if s.sources.is_empty() {
        line("  none".into());
    }
    let width = s.sources.iter().map(|x| x.name.len()).max().unwrap_or(0);
    for src in &s.sources {
        line(format!(
            "  {:width$}  {}, {} lines",
            src.name, src.state, src.lines
        ));
    }
    line("Backends:".into());
    if s.backends.is_empty() {
        line("  none".into());
    }
    let width = s.backends.iter().map(|x| x.name.len()).max().unwrap_or(0);
    for b in &s.backends {
        let mut state = if b.ok {
            "ok".to_owned()
        } else {
            format!(
                "FAILING: {}",
                b.error.as_deref().unwrap_or("no reason given")
            )
        };
        if b.pending > 0 {
            state.push_str(&format!(" ({} bans not applied yet)", b.pending));
        }
        line(format!("  {:width$}  {state}", b.name));
    }
    line(String::new());
    line(format!("Active bans:       {}", s.active_bans));
    line(format!("Tracked addresses: {}", s.tracked_addresses));
    line(format!("Lines read:        {}", s.lines));
    let e = &s.events;
    line(format!(
        "Events:            {} auth failures, {} invalid users, {} probes, {} logins",
        e.auth_failure, e.invalid_user, e.probe, e.success
    ));
    if !s.recent.is_empty() {
        line(String::new());
        line("Recent events:".into());
        let kind_w = s.recent.iter().map(|r| r.kind.len()).max().unwrap_or(0);
        let addr_w = s.recent.iter().map(|r| r.addr.len()).max().unwrap_or(0);
        for r in &s.recent {
            line(format!(
                "  {:25}  {:kind_w$}  {:addr_w$}  {}",
                r.time.as_deref().unwrap_or("-"),
                r.kind,
                r.addr,
                r.msg
            ));
        }
    }
    out
}

fn render_bans(bans: &[BanInfo], tz: &jiff::tz::TimeZone) -> String {
    if bans.is_empty() {
        return "no bans in force\n".into();
    }
    let header = ["ADDRESS", "BANNED AT", "EXPIRES", "OFFENCES", "REASON"];
    let rows: Vec<[String; 5]> = bans
        .iter()
        .map(|b| {
            [
                b.addr.clone(),
                rfc3339(b.banned_at, tz),
                b.expires_at
                    .map_or_else(|| "never".into(), |t| rfc3339(t, tz)),
                b.offences.to_string(),
                b.reason.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else if i == 3 {
                // Counts align right.
                text.push_str(&format!("{cell:>w$}  ", w = widths[i]));
            } else {
                text.push_str(&format!("{cell:w$}  ", w = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    push_row(&header);
    for row in &rows {
        push_row(&row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, mpsc};

    use clap::{Parser, Subcommand};

    use super::*;
    use crate::control::{Incoming, ServerOptions};

    /// The commands as the lead wires them, to check what clap makes of the arguments.
    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(subcommand)]
        command: TestCommand,
    }

    #[derive(Debug, Subcommand)]
    enum TestCommand {
        Status(StatusArgs),
        List(ListArgs),
        Ban(BanArgs),
        Unban(UnbanArgs),
        Reload(ReloadArgs),
        Install(InstallArgs),
        Uninstall(UninstallArgs),
    }

    fn global() -> Global {
        Global {
            config: None,
            state_dir: None,
            hosts_deny: None,
        }
    }

    fn socket(path: &Path) -> SocketArg {
        SocketArg {
            socket: Some(path.to_path_buf()),
        }
    }

    /// A daemon whose engine answers `ban` of 192.0.2.66 with a refusal and everything
    /// else with success; returns what it received.
    struct FakeDaemon {
        _dir: tempfile::TempDir,
        path: PathBuf,
        seen: mpsc::Receiver<Request>,
        _server: control::ControlServer,
    }

    fn fake_daemon() -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authban.sock");
        let (tx, rx) = mpsc::channel::<Incoming>();
        let (seen_tx, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for inc in rx {
                let _ = seen_tx.send(inc.request.clone());
                let r = match &inc.request {
                    Request::Ban { addr, .. } if addr == "192.0.2.66" => {
                        Response::error("192.0.2.66 is in the allowlist (192.0.2.0/24)")
                    }
                    Request::Status => Response::with_status(Status::default()),
                    Request::List => Response::with_bans(Vec::new()),
                    _ => Response::ok(),
                };
                inc.reply(r);
            }
        });
        let server = control::serve(
            &path,
            ServerOptions::default(),
            tx,
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        FakeDaemon {
            _dir: dir,
            path,
            seen,
            _server: server,
        }
    }

    #[test]
    fn arguments_parse_as_documented() {
        let cli = TestCli::try_parse_from([
            "authban",
            "ban",
            "192.0.2.7",
            "--for",
            "1h",
            "--socket",
            "/tmp/s",
        ])
        .unwrap();
        let TestCommand::Ban(b) = cli.command else {
            panic!()
        };
        assert_eq!(b.addr, "192.0.2.7");
        assert_eq!(b.duration.as_deref(), Some("1h"));
        assert_eq!(b.socket.path(), Path::new("/tmp/s"));
        let cli = TestCli::try_parse_from(["authban", "status"]).unwrap();
        let TestCommand::Status(s) = cli.command else {
            panic!()
        };
        assert_eq!(s.socket.path(), Path::new("/run/authban/authban.sock"));
        let cli = TestCli::try_parse_from(["authban", "install", "--root", "/mnt"]).unwrap();
        let TestCommand::Install(i) = cli.command else {
            panic!()
        };
        assert_eq!(i.root, Path::new("/mnt"));
        assert!(TestCli::try_parse_from(["authban", "ban"]).is_err());
        for cmd in ["list", "unban", "reload", "uninstall"] {
            let help = TestCli::try_parse_from(["authban", cmd, "--help"]).unwrap_err();
            assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        }
    }

    #[test]
    fn ban_targets_are_checked_and_made_canonical() {
        assert_eq!(parse_target("192.0.2.7").unwrap().to_string(), "192.0.2.7");
        assert_eq!(
            parse_target("::ffff:192.0.2.7").unwrap().to_string(),
            "192.0.2.7"
        );
        assert_eq!(
            parse_target("198.51.100.9/24").unwrap().to_string(),
            "198.51.100.0/24"
        );
        let err = parse_target("attacker.example.net").unwrap_err();
        assert!(err.contains("is not an IP address or network"), "{err}");
        assert!(
            parse_target("0.0.0.0/0")
                .unwrap_err()
                .contains("whole Internet")
        );
        assert!(parse_target("::/0").is_err());
        assert_eq!(parse_duration("90m").unwrap().to_string(), "1h30m");
        assert!(
            parse_duration("1 hour")
                .unwrap_err()
                .starts_with("--for: `1 hour` is not a duration")
        );
        assert!(parse_duration("0").unwrap_err().contains("at once"));
    }

    #[test]
    fn clients_send_canonical_requests_and_exit_with_the_documented_codes() {
        let d = fake_daemon();
        let g = global();
        let code = ban(
            &g,
            BanArgs {
                addr: "::ffff:192.0.2.7".into(),
                duration: Some("120m".into()),
                socket: socket(&d.path),
            },
        );
        assert_eq!(code, exit::OK);
        assert_eq!(
            d.seen.recv().unwrap(),
            Request::Ban {
                addr: "192.0.2.7".into(),
                duration: Some("2h".into())
            }
        );
        // The daemon says no: its reason, exit 1.
        let code = ban(
            &g,
            BanArgs {
                addr: "192.0.2.66".into(),
                duration: None,
                socket: socket(&d.path),
            },
        );
        assert_eq!(code, exit::FAILURE);
        d.seen.recv().unwrap();
        // Bad arguments never reach the daemon.
        for (addr, duration) in [("example.net", None), ("192.0.2.7", Some("soon"))] {
            let code = ban(
                &g,
                BanArgs {
                    addr: addr.into(),
                    duration: duration.map(String::from),
                    socket: socket(&d.path),
                },
            );
            assert_eq!(code, exit::USAGE);
        }
        let args = UnbanArgs {
            addr: "2001:DB8::1".into(),
            socket: socket(&d.path),
        };
        assert_eq!(unban(&g, args), exit::OK);
        assert_eq!(
            d.seen.recv().unwrap(),
            Request::Unban {
                addr: "2001:db8::1".into()
            }
        );
        let reload_args = ReloadArgs {
            socket: socket(&d.path),
        };
        assert_eq!(reload(&g, reload_args), exit::OK);
        let status_args = StatusArgs {
            json: false,
            socket: socket(&d.path),
        };
        assert_eq!(status(&g, status_args), exit::OK);
        let list_args = ListArgs {
            json: true,
            socket: socket(&d.path),
        };
        assert_eq!(list(&g, list_args), exit::OK);
        assert_eq!(d.seen.try_iter().count(), 3);
    }

    #[test]
    fn an_absent_daemon_exits_69() {
        let dir = tempfile::tempdir().unwrap();
        let args = StatusArgs {
            json: false,
            socket: socket(&dir.path().join("none.sock")),
        };
        assert_eq!(status(&global(), args), UNAVAILABLE);
    }

    #[test]
    fn the_ban_table_has_local_rfc3339_times_and_never() {
        let bans = vec![
            BanInfo {
                addr: "192.0.2.7".into(),
                banned_at: 1_700_000_000,
                expires_at: Some(1_700_086_400),
                offences: 2,
                reason: "6 failures in 10m".into(),
            },
            BanInfo {
                addr: "2001:db8::/64".into(),
                banned_at: 1_700_000_000,
                expires_at: None,
                offences: 12,
                reason: "banned by root".into(),
            },
        ];
        let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(1));
        let text = render_bans(&bans, &tz);
        assert_eq!(
            text,
            "ADDRESS        BANNED AT                  EXPIRES                    OFFENCES  REASON\n\
             192.0.2.7      2023-11-14T23:13:20+01:00  2023-11-15T23:13:20+01:00         2  6 failures in 10m\n\
             2001:db8::/64  2023-11-14T23:13:20+01:00  never                            12  banned by root\n"
        );
        assert_eq!(render_bans(&[], &tz), "no bans in force\n");
    }

    #[test]
    fn the_status_summary_names_failing_backends_and_recent_events() {
        let s = crate::control::Status {
            version: "0.1.0".into(),
            pid: 42,
            started_at: 1_700_000_000,
            sources: vec![crate::control::SourceInfo {
                name: "/var/log/auth.log".into(),
                state: "following".into(),
                lines: 1234,
            }],
            backends: vec![crate::control::BackendInfo {
                name: "nftables".into(),
                ok: false,
                error: Some("nft: Operation not permitted".into()),
                pending: 3,
            }],
            active_bans: 3,
            tracked_addresses: 17,
            events: crate::control::EventCounts {
                auth_failure: 10,
                invalid_user: 5,
                probe: 2,
                success: 1,
            },
            lines: 1234,
            recent: vec![crate::control::RecentEvent {
                time: None,
                kind: "invalid-user".into(),
                addr: "192.0.2.7".into(),
                msg: "Invalid user admin".into(),
            }],
        };
        let text = render_status(&s, &jiff::tz::TimeZone::UTC, 1_700_003_700);
        for want in [
            "authban 0.1.0 (pid 42), running since 2023-11-14T22:13:20+00:00 (1h 1m)",
            "  /var/log/auth.log  following, 1234 lines",
            "  nftables  FAILING: nft: Operation not permitted (3 bans not applied yet)",
            "Active bans:       3",
            "Tracked addresses: 17",
            "Events:            10 auth failures, 5 invalid users, 2 probes, 1 logins",
            "invalid-user  192.0.2.7  Invalid user admin",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn install_then_uninstall_through_the_cli() {
        let root = tempfile::tempdir().unwrap();
        let args = InstallArgs {
            root: root.path().to_path_buf(),
            force: false,
            allow_hosts_deny: true,
            exec: Some(PathBuf::from("/usr/sbin/authban")),
        };
        assert_eq!(install(&global(), args.clone()), exit::OK);
        let unit = std::fs::read_to_string(root.path().join(install::UNIT_PATH)).unwrap();
        assert!(unit.lines().any(|l| l == "ReadWritePaths=/etc"), "{unit}");
        assert_eq!(install(&global(), args), exit::OK);
        let foreign = InstallArgs {
            root: root.path().to_path_buf(),
            force: false,
            allow_hosts_deny: false,
            exec: Some(PathBuf::from("/usr/sbin/authban")),
        };
        assert_eq!(install(&global(), foreign), exit::FAILURE);
        let args = UninstallArgs {
            root: root.path().to_path_buf(),
        };
        assert_eq!(uninstall(&global(), args), exit::OK);
        assert!(!root.path().join(install::UNIT_PATH).exists());
        assert!(root.path().join(install::CONFIG_PATH).exists());
    }
}
