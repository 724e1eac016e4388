//! cli: the command line. Parses arguments, loads the configuration, and runs one
//! command; the commands live in submodules and wire the pipeline stages together.
//! Exit codes follow sysexits(3) so cron mail and scripts can tell causes apart.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod check;
mod ctl;
mod offline;
mod past;
mod progress;
mod report;
mod run;
mod scan;
mod setup;

/// Exit codes (sysexits.h).
pub mod exit {
    pub const OK: u8 = 0;
    /// Something went wrong while running (a file could not be written…).
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 64;
    /// An input log could not be opened.
    pub const NOINPUT: u8 = 66;
    /// The daemon cannot be reached (and cannot be bypassed: it runs).
    pub const UNAVAILABLE: u8 = 69;
    pub const IOERR: u8 = 74;
    /// Another authban works on the state directory (try again later, or use the daemon).
    pub const TEMPFAIL: u8 = 75;
    /// The daemon's answer is not the protocol (another version?).
    pub const PROTOCOL: u8 = 76;
    /// The configuration is invalid.
    pub const CONFIG: u8 = 78;
}

#[derive(Debug, Parser)]
#[command(
    name = "authban",
    version,
    about = "Protect a server against SSH brute force: read sshd's log, recognise attacks, ban the attackers",
    long_about = "authban reads sshd's authentication log (or the systemd journal), recognises \
attacks (password guessing, invalid users, scanners) and bans the attacking addresses: in \
/etc/hosts.deny, nftables, ipset, or through a command of yours.\n\n\
`authban run` is the daemon: it bans within milliseconds (`authban install` writes its systemd \
unit). `authban scan`, run hourly from cron, reads only the lines added since the last run, \
also across log rotation, and writes hosts.deny. `authban check FILE` shows what authban sees \
in a log without changing anything."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options that override the configuration file. `--config` is accepted by every
/// command, before or after its name; the two paths go before it (`authban --state-dir
/// DIR scan`) and are listed by `authban --help` with the commands that use them, not in
/// the help of every command, most of which write neither.
#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file [default: /etc/authban/authban.toml, if it exists]
    #[arg(long, global = true, value_name = "PATH", env = "AUTHBAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of authban's state (cursors, bans, history), for scan, run, list, ban,
    /// unban, history, explain, install and config check [default: /var/lib/authban]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The hosts.deny file scan, run, ban and unban write (config check shows it)
    /// [default: /etc/hosts.deny]
    #[arg(long, value_name = "FILE")]
    pub hosts_deny: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show every sshd event recognised in logs; changes nothing (like fail2ban-regex)
    #[command(after_help = "Examples:\n  \
        authban check examples/sample-auth.log\n  \
        authban check --score examples/sample-auth.log\n  \
        authban check --json examples/sample-auth.log")]
    Check(check::CheckArgs),
    /// Read new log lines since the last run, decide, and deny attackers in hosts.deny
    #[command(after_help = "Examples:\n  \
        authban scan --dry-run\n  \
        authban scan\n  \
        authban scan --quiet")]
    Scan(scan::ScanArgs),

    /// Run the daemon: follow the logs (or the journal) and ban attackers within milliseconds
    #[command(after_help = "Examples:\n  \
        authban run")]
    Run(run::RunArgs),
    /// Show what the daemon is doing: sources, backends, bans, recent events
    #[command(after_help = "Examples:\n  \
        authban status\n  \
        authban status --json")]
    Status(ctl::StatusArgs),
    /// List the bans in force
    #[command(after_help = "Examples:\n  \
        authban list\n  \
        authban list --json")]
    List(ctl::ListArgs),
    /// Ban an address or network now (needs root)
    #[command(after_help = "Examples:\n  \
        authban ban 192.0.2.7\n  \
        authban ban 198.51.100.0/24 --for 7d\n  \
        authban ban 2001:db8::/48 --permanent")]
    Ban(ctl::BanArgs),
    /// Lift a ban now (needs root)
    #[command(after_help = "Examples:\n  \
        authban unban 192.0.2.7\n  \
        authban unban 198.51.100.0/24\n  \
        authban unban 192.0.2.7 --fleet")]
    Unban(ctl::UnbanArgs),
    /// Ban every address and network of a blocklist (Spamhaus DROP, FireHOL, plain), for a
    /// time or permanently (needs root)
    #[command(after_help = "Examples:\n  \
        authban import examples/blocklist.txt --for 1d --dry-run\n  \
        authban import examples/blocklist.txt --for 1d\n  \
        authban import examples/blocklist.txt --permanent --name example-drop")]
    Import(ctl::ImportArgs),
    /// Print the bans in force as a blocklist, JSON, or an nft script for another firewall
    #[command(after_help = "Examples:\n  \
        authban export\n  \
        authban export --format json\n  \
        authban export --format nft")]
    Export(ctl::ExportArgs),
    /// The fleet this server shares its bans with through Redis
    #[command(subcommand)]
    Fleet(ctl::FleetCommand),
    /// Make the daemon read its configuration again (needs root)
    #[command(after_help = "Examples:\n  \
        authban reload")]
    Reload(ctl::ReloadArgs),
    /// List the bans of the past and present: when each began and how it ended
    #[command(after_help = "Examples:\n  \
        authban history\n  \
        authban history --since 7d\n  \
        authban history --since 1d --json")]
    History(past::HistoryArgs),
    /// Explain an address: its bans past and present with their events, its score now,
    /// what exempts it, and what its next failed password would do
    #[command(after_help = "Examples:\n  \
        authban explain 203.0.113.5\n  \
        authban explain 2001:db8::/64 --json")]
    Explain(past::ExplainArgs),
    /// Report on the attacks: over time, top addresses, networks and user names, bans and
    /// repeat offenders; from the store, or from logs given
    #[command(after_help = "Examples:\n  \
        authban report\n  \
        authban report --since 7d --text\n  \
        authban report --html /tmp/authban-report.html examples/sample-auth.log")]
    Report(report::ReportArgs),
    /// Install the systemd unit and a default configuration
    #[command(after_help = "Examples:\n  \
        authban install --allow-hosts-deny --root /tmp/authban-image")]
    Install(setup::InstallArgs),
    /// Remove the systemd unit (keeps the configuration and the state)
    #[command(after_help = "Examples:\n  \
        authban uninstall --root /tmp/authban-image")]
    Uninstall(setup::UninstallArgs),
    /// Configuration commands
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the shell completion script for bash, zsh or fish, built from these commands
    #[command(after_help = "Examples:\n  \
        authban completions bash\n  \
        authban completions zsh\n  \
        authban completions fish\n\n\
        Install it where the shell looks, e.g. the output of `authban completions bash` as \
        /usr/share/bash-completion/completions/authban.")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page authban(1), or authban-COMMAND(1), in roff, built from these
    /// commands
    #[command(after_help = "Examples:\n  \
        authban man\n  \
        authban man scan\n\n\
        Read one with `authban man scan | man -l -`, or install them as \
        /usr/share/man/man1/authban.1 and authban-scan.1 and so on.")]
    Man {
        /// The command whose page to print [default: the main page]
        command: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective one (with defaults and overrides)
    #[command(after_help = "Examples:\n  \
        authban config check\n  \
        authban config check --config examples/authban.toml")]
    Check,
}

/// Writes `bytes` to stdout: a reader that closed the pipe early is its choice, any other
/// failure is said.
fn print_bytes(bytes: &[u8], what: &str) -> u8 {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            eprintln!("authban: cannot write {what}: {e}");
            exit::FAILURE
        }
    }
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(run(cli))
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let Cli { global, command } = cli;
    match command {
        Command::Check(args) => check::run(&global, args),
        Command::Scan(args) => scan::run(&global, args),

        Command::Run(args) => run::run(&global, args),
        Command::Status(args) => ctl::status(&global, args),
        Command::List(args) => ctl::list(&global, args),
        Command::Ban(args) => ctl::ban(&global, args),
        Command::Unban(args) => ctl::unban(&global, args),
        Command::Reload(args) => ctl::reload(&global, args),
        Command::Import(args) => ctl::import(&global, args),
        Command::Export(args) => ctl::export(&global, args),
        Command::Fleet(command) => ctl::fleet(&global, command),
        Command::History(args) => past::history(&global, args),
        Command::Explain(args) => past::explain(&global, args),
        Command::Report(args) => report::run(&global, args),
        Command::Install(args) => setup::install(&global, args),
        Command::Uninstall(args) => setup::uninstall(&global, args),
        Command::Config(ConfigCommand::Check) => config_check(&global),
        Command::Completions { shell } => {
            // Built in memory: clap_complete panics on a write error (`| head`).
            let mut script = Vec::new();
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "authban", &mut script);
            print_bytes(&script, "the completion script")
        }
        Command::Man { command } => {
            let top = <Cli as clap::CommandFactory>::command();
            let cmd = match &command {
                None => top,
                Some(name) => match top.find_subcommand(name) {
                    // Named as the main page's SUBCOMMANDS section refers to it.
                    Some(sub) => sub.clone().name(format!("authban-{name}")),
                    None => {
                        eprintln!("authban: man: no command {name:?}");
                        return exit::USAGE;
                    }
                },
            };
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .expect("rendering into memory cannot fail");
            print_bytes(&page, "the manual page")
        }
    }
}

/// The exit code of a log that could not be read: 66 when it cannot be opened, 74 when
/// reading it failed.
pub(crate) fn source_exit(e: &crate::source::SourceError) -> u8 {
    match e {
        crate::source::SourceError::NotFound { .. } | crate::source::SourceError::Open { .. } => {
            exit::NOINPUT
        }
        _ => exit::IOERR,
    }
}

/// Loads the configuration and applies the global overrides. Prints the error and returns
/// the exit code on failure.
impl Global {
    /// The overrides these options make; commands with more (`run`) add theirs.
    pub(crate) fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            config_path: self.config.clone(),
            state_dir: self.state_dir.clone(),
            hosts_deny: self.hosts_deny.clone(),
            ..Default::default()
        }
    }
}

pub(crate) fn load_config(global: &Global) -> Result<crate::config::Config, u8> {
    match global.overrides().load() {
        Ok((config, _)) => Ok(config),
        Err(e) => {
            eprintln!("authban: {e}");
            Err(exit::CONFIG)
        }
    }
}

fn config_check(global: &Global) -> u8 {
    match global.overrides().load() {
        Ok((config, _)) if let Err(e) = crate::engine::check_backends(&config) => {
            eprintln!("authban: {e}");
            exit::CONFIG
        }
        Ok((config, file)) => {
            let missing = crate::engine::missing_programs(&config);
            if !missing.is_empty() {
                for m in missing {
                    eprintln!("authban: {m}");
                }
                eprintln!("authban: the configured backends cannot ban without these programs");
                return exit::CONFIG;
            }
            if let Some(unreadable) = config.fleet.as_ref().and_then(|f| f.check_files()) {
                eprintln!("authban: {unreadable}");
                eprintln!("authban: the fleet cannot connect with these files");
                return exit::CONFIG;
            }
            match file {
                Some(path) => eprintln!("authban: {} is valid", path.display()),
                None => eprintln!("authban: no configuration file; using the defaults"),
            }
            for note in config.policy_notes() {
                eprintln!("authban: note: {note}");
            }
            print!("{}", config.to_toml());
            exit::OK
        }
        Err(e) => {
            eprintln!("authban: {e}");
            exit::CONFIG
        }
    }
}
