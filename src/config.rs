//! Configuration: the TOML file (`/etc/authban/authban.toml` by default), its defaults, and
//! its validation. Owns the meaning of every key; acts on none of them.
//!
//! Loading happens in two steps. Serde first (`deny_unknown_fields`, kebab-case keys, and
//! domain types such as [`Duration`] and [`Cidr`] that reject bad text themselves, so the
//! TOML span points at the offending value); then [`Config::validate`] checks what types
//! cannot (ranges, absolute paths, the characters of daemon names). Every problem in the
//! file is reported at once, each with its key path and line: a key that fails to
//! deserialize is recorded and left out, and the rest is still built and validated.

mod duration;
mod fleet;
mod read;

pub use fleet::{Accept, Fleet, Share};

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::de::DeTable;

use crate::addr::Cidr;
use crate::ban::hosts_deny::is_valid_daemon;
use crate::ban::is_valid_name;
use crate::{decide, detect};

/// The configuration file read when no `--config` is given; its absence means defaults.
pub const DEFAULT_PATH: &str = "/etc/authban/authban.toml";

/// The whole configuration. `Default` gives the documented defaults (the values in
/// `examples/authban.toml`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub paths: Paths,
    pub policy: Policy,
    pub ban: Ban,
    pub hosts_deny: HostsDenyConfig,
    pub nftables: NftablesConfig,
    pub ipset: IpsetConfig,
    pub command: CommandConfig,
    pub daemon: Daemon,
    pub metrics: Metrics,
    pub history: History,
    /// Off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<Fleet>,
}

/// `[history]`: how much of the past the store keeps for `history`, `explain` and
/// `report`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct History {
    /// Bans that ended longer ago are forgotten (a ban in force never is).
    pub keep: Duration,
    /// At most this many bans are kept, the oldest forgotten first.
    pub max_bans: u64,
}

impl Default for History {
    fn default() -> History {
        let d = crate::store::HistoryLimits::default();
        History {
            keep: Duration::from_secs(d.keep_s.unsigned_abs()),
            max_bans: d.max_bans,
        }
    }
}

/// `[metrics]`: the Prometheus listener of `authban run`, off unless `listen` is set.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Metrics {
    /// `127.0.0.1:9877`, `[::1]:9877` or an absolute socket path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<crate::metrics::Listen>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Paths {
    /// Where the state database lives.
    pub state_dir: PathBuf,
    pub hosts_deny: PathBuf,
    /// Logs to read; empty means the first of `/var/log/auth.log` and `/var/log/secure`
    /// that exists, else the journal (`source::default_log`).
    pub logs: Vec<PathBuf>,
}

impl Default for Paths {
    fn default() -> Paths {
        Paths {
            state_dir: PathBuf::from("/var/lib/authban"),
            hosts_deny: PathBuf::from("/etc/hosts.deny"),
            logs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// The sliding window, measured in log time.
    pub window: Duration,
    /// An address is banned when its score inside the window reaches this.
    pub threshold: f64,
    /// Rules for slower attackers: counters that fill with the same weights and drain
    /// `threshold` per `window` (at most [`detect::MAX_SLOW_RULES`]).
    pub rules: Vec<Rule>,
    /// Networks never banned (loopback, this host's addresses and the SSH_CONNECTION
    /// client are exempt without being listed).
    pub allowlist: Vec<Cidr>,
    /// An address that logged in is not banned for this long; zero disables.
    pub trust_after_login: Duration,
    /// Which logins grant that trust.
    pub trust_logins: TrustLogins,
    pub weights: Weights,
    /// Weights of attempts on accounts by name (`mail = 5.0`), in place of the kind's.
    pub users: std::collections::BTreeMap<String, f64>,
    /// Attempts on a local account that cannot log in (its shell is `nologin` or `false`
    /// in `passwd`) weigh as attempts on an invalid user.
    pub nologin_as_invalid: bool,
    /// The passwd file those accounts are read from.
    pub passwd: PathBuf,
    /// Network aggregation.
    pub networks: Networks,
    /// Why default rules were left out (a file without `rules` whose `window` is as long
    /// as theirs, or whose window and threshold always ban first): `config check` says so.
    #[serde(skip)]
    pub dropped_rules: Vec<String>,
}

impl Policy {
    /// The rule (the first window, or one of `earlier`) that always bans before `r` can:
    /// one whose count is no larger and drains no faster. Whatever stays under it never
    /// fills `r`, so `r` could never ban anything.
    fn outrun(&self, r: &Rule, earlier: &[Rule]) -> Option<(String, Rule)> {
        let first = Rule {
            window: self.window,
            threshold: self.threshold,
        };
        let valid = |q: &Rule| q.threshold.is_finite() && q.threshold > 0.0 && !q.window.is_zero();
        let secs = |d: Duration| d.0.as_secs_f64();
        std::iter::once(("policy.window and policy.threshold".to_owned(), first))
            .chain(
                earlier
                    .iter()
                    .enumerate()
                    .map(|(j, q)| (format!("policy.rules[{j}]"), q.clone())),
            )
            .find(|(_, q)| {
                valid(q)
                    && r.threshold >= q.threshold
                    && r.threshold * secs(q.window) >= q.threshold * secs(r.window)
            })
    }

    /// Leaves out the default rules that cannot work with the configured window, for a
    /// file that does not set `rules`.
    fn drop_outrun_defaults(&mut self) {
        let mut kept: Vec<Rule> = Vec::new();
        for r in std::mem::take(&mut self.rules) {
            let why = if r.window <= self.window {
                format!("it is not longer than policy.window = {}", self.window)
            } else if let Some((name, q)) = self.outrun(&r, &kept) {
                format!("{name} ({} in {}) always bans first", q.threshold, q.window)
            } else {
                kept.push(r);
                continue;
            };
            self.dropped_rules.push(format!(
                "the default rule {} in {} is left out: {why} (set policy.rules to choose rules)",
                r.threshold, r.window
            ));
        }
        self.rules = kept;
    }
}

/// A rule for slow attackers: an address is banned when its attempts add up to
/// `threshold` faster than `threshold` per `window` drains away.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rule {
    pub window: Duration,
    pub threshold: f64,
}

/// `[policy.networks]`: when `bans` addresses of one IPv4 /`ipv4-prefix` or IPv6
/// /`ipv6-prefix` are banned within `window`, the network is banned; 0 (the default)
/// turns it off.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Networks {
    pub bans: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    pub window: Duration,
}

impl Default for Networks {
    fn default() -> Networks {
        Networks {
            bans: 0,
            ipv4_prefix: 24,
            ipv6_prefix: 48,
            window: Duration::from_secs(DAY),
        }
    }
}

/// Which `Accepted` lines grant `trust-after-login` (and forgive the failures before
/// them). A syslog file takes lines from anyone: `logger --id=PID -t sshd` writes
/// `sshd[PID]: Accepted …` as any local user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustLogins {
    /// The journal's (its `_COMM` and `_PID` are the kernel's), and a log file's or
    /// stdin's whose connection is open in root's sshd process of that pid when authban
    /// reads the line (`host::login_connection_open`).
    #[default]
    Verified,
    /// Every `Accepted` line, whatever the source: for hosts whose local users are all
    /// trusted.
    Any,
}

impl TrustLogins {
    /// Whether the success `ev` grants login trust: always when read from the journal
    /// (`from_journal`), whose sender fields a local user cannot forge; from a file or
    /// stdin under `Verified` only when its connection is open in the sshd it names.
    pub fn grants(self, ev: &crate::event::Event<'_>, from_journal: bool) -> bool {
        self == TrustLogins::Any || from_journal || crate::host::login_verified(ev)
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            window: Duration::from_secs(10 * 60),
            threshold: 5.0,
            rules: vec![Rule {
                window: Duration::from_secs(DAY),
                threshold: 15.0,
            }],
            allowlist: Vec::new(),
            trust_after_login: Duration::from_secs(7 * DAY),
            trust_logins: TrustLogins::default(),
            weights: Weights::default(),
            users: std::collections::BTreeMap::new(),
            nologin_as_invalid: false,
            passwd: PathBuf::from("/etc/passwd"),
            networks: Networks::default(),
            dropped_rules: Vec::new(),
        }
    }
}

/// The score of each kind of event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Weights {
    pub auth_failure: f64,
    pub invalid_user: f64,
    /// A failed attempt on root.
    pub root: f64,
    pub probe: f64,
    /// A failed public key for an existing user: agents offer many keys, so it counts little.
    pub publickey: f64,
}

impl Weights {
    /// Each weight with its key under `policy.weights`.
    fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("auth-failure", self.auth_failure),
            ("invalid-user", self.invalid_user),
            ("root", self.root),
            ("probe", self.probe),
            ("publickey", self.publickey),
        ]
    }
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            auth_failure: 1.0,
            invalid_user: 1.5,
            root: 1.5,
            probe: 0.5,
            publickey: 0.2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ban {
    /// How long a first ban lasts.
    pub time: Duration,
    /// Each further offence multiplies the ban time by this (1 = no escalation)…
    pub factor: f64,
    /// …up to this.
    pub max_time: Duration,
    /// After this many offences the ban is permanent; 0 = never.
    pub permanent_after: u32,
    /// IPv6 addresses are scored and banned by networks of this prefix length (64: an
    /// attacker's /64 is one attacker); 128 = each address alone.
    pub ipv6_prefix: u8,
    /// Where bans are enforced by `authban run`: any of "nftables", "ipset", "hosts-deny",
    /// "command"; "auto" = nftables where `nft` exists, else hosts-deny. `authban scan`
    /// always writes hosts.deny.
    pub backends: Vec<BackendKind>,
    /// The ports the firewall backends close to banned addresses; empty = all traffic.
    pub ports: Vec<u16>,
}

impl Default for Ban {
    fn default() -> Ban {
        Ban {
            time: Duration::from_secs(DAY),
            factor: 2.0,
            max_time: Duration::from_secs(4 * WEEK),
            permanent_after: 0,
            ipv6_prefix: 128,
            backends: vec![BackendKind::Auto],
            ports: vec![22],
        }
    }
}

/// An enforcement point for bans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Auto,
    Nftables,
    Ipset,
    HostsDeny,
    Command,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NftablesConfig {
    /// The `nft` program.
    pub nft: PathBuf,
    /// authban's own table (family inet); nothing else is touched.
    pub table: String,
}

impl Default for NftablesConfig {
    fn default() -> NftablesConfig {
        NftablesConfig {
            nft: PathBuf::from("nft"),
            table: "authban".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct IpsetConfig {
    pub ipset: PathBuf,
    pub iptables: PathBuf,
    pub ip6tables: PathBuf,
    /// The sets of banned IPv4 and IPv6 addresses.
    pub set4: String,
    pub set6: String,
}

impl Default for IpsetConfig {
    fn default() -> IpsetConfig {
        IpsetConfig {
            ipset: PathBuf::from("ipset"),
            iptables: PathBuf::from("iptables"),
            ip6tables: PathBuf::from("ip6tables"),
            set4: "authban4".to_owned(),
            set6: "authban6".to_owned(),
        }
    }
}

/// A program run on every ban and unban (argv, never a shell). In arguments, `{addr}` is
/// the address or network, `{family}` inet or inet6, `{seconds}` the ban's length (0 =
/// permanent).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CommandConfig {
    pub ban: Vec<String>,
    pub unban: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Daemon {
    /// The control socket of `authban run` (status, list, ban, unban, reload).
    pub socket: PathBuf,
    /// Most addresses whose attempts are tracked at once; beyond it the oldest un-banned
    /// state is forgotten (never a ban).
    pub max_tracked: u64,
    /// Whether to read the systemd journal: "auto" (when none of the logs exists),
    /// "always" or "never".
    pub journal: JournalMode,
    /// The `journalctl` program.
    pub journalctl: PathBuf,
    /// On stop, "keep" leaves the bans in the firewall (the kernel expires them) and
    /// "flush" removes authban's firewall table and sets.
    pub on_stop: StopPolicy,
}

impl Default for Daemon {
    fn default() -> Daemon {
        Daemon {
            socket: PathBuf::from("/run/authban/authban.sock"),
            max_tracked: 1_000_000,
            journal: JournalMode::Auto,
            journalctl: PathBuf::from("journalctl"),
            on_stop: StopPolicy::Keep,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalMode {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopPolicy {
    Keep,
    Flush,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostsDenyConfig {
    /// The daemon list of our hosts.deny entries.
    pub daemons: Vec<String>,
}

impl Default for HostsDenyConfig {
    fn default() -> HostsDenyConfig {
        HostsDenyConfig {
            daemons: vec!["ALL".to_owned()],
        }
    }
}

use duration::{DAY, WEEK};
pub use duration::{Duration, DurationError};
use read::{build, line_of, plain, span_of};

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, like `policy.weights.root` or `policy.allowlist[1]`; empty for a
    /// syntax error that belongs to no key.
    pub key: String,
    /// 1-based line in the file, when the problem comes from a file.
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            line: None,
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub enum ConfigError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, source } => {
                write!(f, "cannot read configuration {}: {source}", path.display())
            }
            ConfigError::Invalid { path, problems } => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{}", path.display())?;
                    if let Some(line) = p.line {
                        write!(f, ":{line}")?;
                    }
                    if !p.key.is_empty() {
                        write!(f, ": {}", p.key)?;
                    }
                    write!(f, ": {}", p.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            ConfigError::Invalid { .. } => None,
        }
    }
}

/// Command-line choices that override or complete the configuration, applied in this one
/// place for every command (and for a daemon's reload).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_path: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub hosts_deny: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    /// Logs named on the command line (`-` = stdin) instead of the configured ones.
    pub logs: Vec<PathBuf>,
}

impl Overrides {
    /// Loads the configuration (see [`load`]) and applies the overrides; also returns the
    /// file read, if any.
    pub fn load(&self) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let (mut c, file) = load(self.config_path.as_deref())?;
        if let Some(d) = &self.state_dir {
            c.paths.state_dir = d.clone();
        }
        if let Some(f) = &self.hosts_deny {
            c.paths.hosts_deny = f.clone();
        }
        if let Some(s) = &self.socket {
            c.daemon.socket = s.clone();
        }
        if !self.logs.is_empty() {
            c.paths.logs = self.logs.clone();
        }
        Ok((c, file))
    }
}

/// Loads the configuration from `path`, or from [`DEFAULT_PATH`] if it exists. Returns the
/// file actually used (`None`: built-in defaults). A file named explicitly must exist.
pub fn load(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
    load_from(path, Path::new(DEFAULT_PATH))
}

fn load_from(
    path: Option<&Path>,
    default: &Path,
) -> Result<(Config, Option<PathBuf>), ConfigError> {
    let file = path.unwrap_or(default);
    let bytes = match fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if path.is_none() && e.kind() == io::ErrorKind::NotFound => {
            return Ok((Config::default(), None));
        }
        Err(source) => {
            return Err(ConfigError::Io {
                path: file.to_owned(),
                source,
            });
        }
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        ConfigError::Invalid {
            path: file.to_owned(),
            problems: vec![Problem {
                key: String::new(),
                line: Some(memchr::memchr_iter(b'\n', valid).count() + 1),
                message: "the file is not UTF-8 text".to_owned(),
            }],
        }
    })?;
    parse(&text, file).map(|config| (config, Some(file.to_owned())))
}

/// Parses and validates configuration text; `origin` names it in errors.
pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        path: origin.to_owned(),
        problems,
    };
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        // After a syntax error the table is a guess; checking its keys would only add noise.
        let problems = syntax
            .iter()
            .map(|e| Problem {
                key: String::new(),
                line: e.span().map(|s| line_of(text, s.start)),
                message: plain(e.message()),
            })
            .collect();
        return Err(invalid(problems));
    }
    let mut problems = Vec::new();
    let mut config = build::<Config>(&doc, text, &mut problems);
    if let Some(config) = &mut config
        && span_of(doc.get_ref(), "policy.rules").is_none()
    {
        config.policy.drop_outrun_defaults();
    }
    if let Some(config) = &config {
        for mut p in config.validate() {
            p.line = span_of(doc.get_ref(), &p.key).map(|s| line_of(text, s.start));
            problems.push(p);
        }
    }
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => {
            problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
            Err(invalid(problems))
        }
    }
}

impl Config {
    /// The detection policy this configuration describes; `local` and `session_client`
    /// are the addresses the caller found on this host (`host`), never banned.
    pub fn detect_policy(
        &self,
        local: Vec<std::net::IpAddr>,
        session_client: Option<std::net::IpAddr>,
    ) -> detect::Policy {
        let p = &self.policy;
        let w = &p.weights;
        let ms = |d: Duration| i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX);
        detect::Policy {
            window_ms: ms(p.window),
            threshold: detect::points(p.threshold),
            slow: p
                .rules
                .iter()
                .map(|r| detect::Rule {
                    window_ms: ms(r.window),
                    threshold: detect::points(r.threshold),
                })
                .collect(),
            weights: detect::Weights {
                auth_failure: detect::points(w.auth_failure),
                invalid_user: detect::points(w.invalid_user),
                root: detect::points(w.root),
                probe: detect::points(w.probe),
                publickey: detect::points(w.publickey),
            },
            allowlist: crate::addr::Allowlist::new(p.allowlist.iter().copied()),
            local,
            session_client,
            trust_ms: ms(p.trust_after_login),
            ipv6_prefix: self.ban.ipv6_prefix,
            users: p
                .users
                .iter()
                .map(|(name, &w)| (name.as_bytes().into(), detect::points(w)))
                .collect(),
            unusable: if p.nologin_as_invalid {
                // `validate` read it a moment ago; a passwd that went away since weighs
                // those accounts as before, and says so.
                crate::host::unusable_accounts(&p.passwd).unwrap_or_else(|e| {
                    crate::log::warn(&format!(
                        "warning: policy.passwd: cannot read {}: {e}; accounts that cannot log \
                         in weigh as others",
                        p.passwd.display()
                    ));
                    Default::default()
                })
            } else {
                Default::default()
            },
        }
    }

    /// What `config check` tells of a valid policy that bans at a single attempt: the
    /// weights (and account weights) that reach the threshold alone.
    pub fn policy_notes(&self) -> Vec<String> {
        let p = &self.policy;
        let w = &p.weights;
        let named = w
            .named()
            .into_iter()
            .map(|(k, v)| (format!("policy.weights.{k}"), v))
            .chain(
                p.users
                    .iter()
                    .map(|(u, &v)| (format!("policy.users.{u}"), v)),
            );
        let thresholds = std::iter::once(("policy.threshold".to_owned(), p.threshold)).chain(
            p.rules
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("policy.rules[{i}].threshold"), r.threshold)),
        );
        let (limit, threshold) = thresholds
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or_default();
        let dropped = p.dropped_rules.iter().cloned();
        let exposed = self.metrics.listen.as_ref().and_then(|l| match l {
            crate::metrics::Listen::Tcp(a) if a.port() < 1024 => Some(format!(
                "metrics.listen = {l}: a port below 1024 needs CAP_NET_BIND_SERVICE, which \
                 authban's unit does not give; pick a port above 1023"
            )),
            crate::metrics::Listen::Tcp(_) if !l.is_local() => Some(format!(
                "metrics.listen = {l}: anyone who reaches this port reads the counters \
                 (no addresses); firewall it, or listen on 127.0.0.1 or a socket path"
            )),
            crate::metrics::Listen::Unix(p) if !p.starts_with("/run/authban") => Some(format!(
                "metrics.listen = {l}: authban's unit lets the daemon write only /run/authban \
                 and its state directory; add the socket's directory with systemctl edit \
                 authban (ReadWritePaths=), or listen in /run/authban"
            )),
            _ => None,
        });
        named
            .filter(|(_, v)| *v >= threshold)
            .map(|(key, v)| {
                format!("{key} = {v} reaches {limit} = {threshold} alone: one such attempt bans")
            })
            .chain(dropped)
            .chain(exposed)
            .collect()
    }

    /// What the store keeps of the past.
    pub fn history_limits(&self) -> crate::store::HistoryLimits {
        crate::store::HistoryLimits {
            keep_s: i64::try_from(self.history.keep.0.as_secs()).unwrap_or(i64::MAX),
            max_bans: self.history.max_bans,
        }
    }

    /// How long bans last and what they cover.
    pub fn ban_policy(&self) -> decide::BanPolicy {
        let b = &self.ban;
        decide::BanPolicy {
            time_s: b.time.0.as_secs(),
            factor: b.factor,
            max_s: b.max_time.0.as_secs(),
            permanent_after: b.permanent_after,
            networks: {
                let n = &self.policy.networks;
                decide::Networks {
                    bans: n.bans,
                    ipv4_prefix: n.ipv4_prefix,
                    ipv6_prefix: n.ipv6_prefix,
                    window_s: i64::try_from(n.window.0.as_secs()).unwrap_or(i64::MAX),
                }
            },
        }
    }

    /// Checks what the types alone do not: ranges, absolute paths, daemon names. Returns
    /// every problem (without line numbers: [`parse`] adds them).
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut absolute = |key: String, path: &Path| {
            if !path.is_absolute() {
                problems.push(Problem::new(
                    key,
                    format!("`{}` must be an absolute path", path.display()),
                ));
            }
        };
        absolute("paths.state-dir".into(), &self.paths.state_dir);
        absolute("paths.hosts-deny".into(), &self.paths.hosts_deny);
        for (i, log) in self.paths.logs.iter().enumerate() {
            absolute(format!("paths.logs[{i}]"), log);
        }
        // Read by the daemon (cwd /) and by scan (cron's cwd) alike.
        absolute("policy.passwd".into(), &self.policy.passwd);

        let p = &self.policy;
        if p.window.is_zero() {
            problems.push(Problem::new("policy.window", "must be longer than 0"));
        }
        if !(p.threshold.is_finite() && p.threshold > 0.0) {
            problems.push(Problem::new(
                "policy.threshold",
                format!("{} must be a number above 0", p.threshold),
            ));
        }
        let w = &p.weights;
        for (name, value) in w.named() {
            if !(value.is_finite() && value >= 0.0) {
                problems.push(Problem::new(
                    format!("policy.weights.{name}"),
                    format!("{value} must be a number of 0 or more"),
                ));
            }
        }
        for (name, &value) in &p.users {
            if !(value.is_finite() && value >= 0.0) {
                problems.push(Problem::new(
                    format!("policy.users.{name}"),
                    format!("{value} must be a number of 0 or more"),
                ));
            }
        }
        // What one event can add at most, and so whether the threshold can be reached at
        // all: the detector keeps at most `detect::MAX_MARKS` events per address.
        let heaviest = w
            .named()
            .into_iter()
            .map(|(_, v)| v)
            .chain(p.users.values().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        if p.threshold.is_finite()
            && p.threshold > 0.0
            && heaviest * (detect::MAX_MARKS as f64) < p.threshold
        {
            problems.push(Problem::new(
                "policy.threshold",
                format!(
                    "{} can never be reached: no event weighs more than {heaviest}, and at most \
                     {} events of an address are scored at once",
                    p.threshold,
                    detect::MAX_MARKS
                ),
            ));
        }
        self.validate_rules(&mut problems);
        let n = &p.networks;
        if n.bans == 1 {
            problems.push(Problem::new(
                "policy.networks.bans",
                "1 would ban the network of every banned address: 0 (off) or 2 or more",
            ));
        }
        if !(8..=31).contains(&n.ipv4_prefix) {
            problems.push(Problem::new(
                "policy.networks.ipv4-prefix",
                format!("{} must be between 8 and 31", n.ipv4_prefix),
            ));
        }
        if !(16..=127).contains(&n.ipv6_prefix) {
            problems.push(Problem::new(
                "policy.networks.ipv6-prefix",
                format!("{} must be between 16 and 127", n.ipv6_prefix),
            ));
        }
        if n.bans > 0 && n.window.is_zero() {
            problems.push(Problem::new(
                "policy.networks.window",
                "must be longer than 0",
            ));
        }
        if p.nologin_as_invalid
            && let Err(e) = crate::host::unusable_accounts(&p.passwd)
        {
            problems.push(Problem::new(
                "policy.passwd",
                format!("cannot read {}: {e}", p.passwd.display()),
            ));
        }
        let b = &self.ban;
        if b.time.is_zero() {
            problems.push(Problem::new("ban.time", "must be longer than 0"));
        }
        if !(b.factor.is_finite() && b.factor >= 1.0) {
            problems.push(Problem::new(
                "ban.factor",
                format!("{} must be a number of 1 or more", b.factor),
            ));
        }
        if b.max_time < b.time {
            problems.push(Problem::new(
                "ban.max-time",
                format!("{} is shorter than ban.time ({})", b.max_time, b.time),
            ));
        }
        if !(16..=128).contains(&b.ipv6_prefix) {
            problems.push(Problem::new(
                "ban.ipv6-prefix",
                format!("{} must be between 16 and 128", b.ipv6_prefix),
            ));
        }
        if b.backends.is_empty() {
            problems.push(Problem::new(
                "ban.backends",
                "must name at least one backend (\"auto\", \"nftables\", \"ipset\", \"hosts-deny\", \"command\")",
            ));
        }
        for (i, port) in b.ports.iter().enumerate() {
            if *port == 0 {
                problems.push(Problem::new(format!("ban.ports[{i}]"), "0 is not a port"));
            }
        }
        // Table and set names end up in nft and ipset commands: the backends' own rule
        // (`ban::is_valid_name`) decides, so a name accepted here is one they take.
        for (key, name) in [
            ("nftables.table", &self.nftables.table),
            ("ipset.set4", &self.ipset.set4),
            ("ipset.set6", &self.ipset.set6),
        ] {
            if !is_valid_name(name) {
                problems.push(Problem::new(
                    key,
                    format!(
                        "{name:?} must be 1 to 31 letters, digits or `_`, not starting with a \
                         digit"
                    ),
                ));
            }
        }
        if self.ipset.set4 == self.ipset.set6 {
            problems.push(Problem::new(
                "ipset.set6",
                format!(
                    "the IPv4 and IPv6 sets must have different names (both are `{}`)",
                    self.ipset.set4
                ),
            ));
        }
        if b.backends.contains(&BackendKind::Command) && self.command.ban.is_empty() {
            problems.push(Problem::new(
                "command.ban",
                "the command backend is enabled but no program is set",
            ));
        }
        for (key, argv) in [
            ("command.ban", &self.command.ban),
            ("command.unban", &self.command.unban),
        ] {
            if let Some(program) = argv.first()
                && !Path::new(program).is_absolute()
            {
                problems.push(Problem::new(
                    format!("{key}[0]"),
                    format!("`{program}` must be an absolute path (no shell, no PATH lookup)"),
                ));
            }
        }
        if !self.daemon.socket.is_absolute() {
            problems.push(Problem::new(
                "daemon.socket",
                format!(
                    "`{}` must be an absolute path",
                    self.daemon.socket.display()
                ),
            ));
        }
        if self.history.keep.is_zero() {
            problems.push(Problem::new(
                "history.keep",
                "must be longer than 0 (the bans in force are always kept)",
            ));
        }
        if self.history.max_bans == 0 {
            problems.push(Problem::new("history.max-bans", "must be at least 1"));
        }
        if self.daemon.max_tracked == 0 {
            problems.push(Problem::new("daemon.max-tracked", "must be at least 1"));
        }
        if self.hosts_deny.daemons.is_empty() {
            problems.push(Problem::new(
                "hosts-deny.daemons",
                "must name at least one daemon (\"ALL\" for every service)",
            ));
        }
        for (i, d) in self.hosts_deny.daemons.iter().enumerate() {
            // These names are written into hosts.deny: a `:` or `,` would change the rule.
            if !is_valid_daemon(d) {
                problems.push(Problem::new(
                    format!("hosts-deny.daemons[{i}]"),
                    format!(
                        "{d:?} is not a daemon name: use ALL or letters, digits, `_`, `.`, `-`"
                    ),
                ));
            }
        }
        if let Some(f) = &self.fleet {
            f.validate(&mut problems);
        }
        problems
    }

    /// Checks `policy.rules`: each must be able to ban an address that the first window
    /// and the rules before it would not.
    fn validate_rules(&self, problems: &mut Vec<Problem>) {
        let p = &self.policy;
        if p.rules.len() > detect::MAX_SLOW_RULES {
            problems.push(Problem::new(
                "policy.rules",
                format!(
                    "{} rules: at most {} are scored (each costs every tracked address 4 bytes)",
                    p.rules.len(),
                    detect::MAX_SLOW_RULES
                ),
            ));
        }
        for (i, r) in p.rules.iter().enumerate() {
            let key = format!("policy.rules[{i}]");
            if !(r.threshold.is_finite() && r.threshold > 0.0) {
                problems.push(Problem::new(
                    format!("{key}.threshold"),
                    format!("{} must be a number above 0", r.threshold),
                ));
            } else if r.window <= p.window {
                problems.push(Problem::new(
                    format!("{key}.window"),
                    format!(
                        "{} must be longer than policy.window ({}): a rule is for attackers \
                         slower than the first window catches",
                        r.window, p.window
                    ),
                ));
            } else if let Some((name, q)) = p.outrun(r, &p.rules[..i]) {
                let slower = Duration::from_secs(
                    (r.threshold / q.threshold * q.window.0.as_secs_f64() * 2.0).ceil() as u64,
                );
                problems.push(Problem::new(
                    key,
                    format!(
                        "{} in {} can never ban: {name} ({} in {}) always bans first; a slow \
                         rule needs a lower rate, such as {} in {slower}",
                        r.threshold, r.window, q.threshold, q.window, r.threshold
                    ),
                ));
            }
        }
    }
    /// The effective configuration as TOML, for `authban config check`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self)
            .unwrap_or_else(|e| format!("# cannot show the configuration as TOML: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
