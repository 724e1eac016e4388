//! engine: the daemon behind `authban run`. One thread owns the detector, the store and
//! the backends; the sources, the control socket and the signal handler only send it
//! messages through one channel, so no state is shared and nothing needs a lock.
//!
//! The store is the truth. For each batch of lines the engine first tells the backends
//! (the attacker is cut off without waiting for the disk), then saves, in one
//! transaction, the source's new position, the bans it decided and the detection windows
//! the lines changed. A crash before the transaction re-reads the batch at the next start
//! and decides its bans again (nothing counted twice: the old windows are in the store,
//! and the restore at start drops what the kernel holds beyond the store); a crash after it
//! re-applies the bans at start (`restore`). A backend that fails is marked, reported in
//! `status`, retried with back-off and reconciled with `restore`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crate::addr::{self, Cidr};
use crate::ban::hosts_deny::HostsDeny;
use crate::ban::{self, Backend, BanOrder, SystemRunner};
use crate::config::{self, BackendKind, Config, JournalMode, StopPolicy};
use crate::control::{self, Incoming, Request, Response};
use crate::detect::{self, Decision, Detector};
use crate::event::Kind;
use crate::parse::Parser;
use crate::source::{self, Feed, FollowOptions, Position, SourceState, Stop};
use crate::store::{self, BanRecord, Store, Update};

/// Everything that reaches the engine.
#[derive(Debug)]
pub enum Input {
    Feed(Feed),
    Control(Incoming),
    /// SIGTERM/SIGINT (stop) or SIGHUP (reload).
    Signal(nix::sys::signal::Signal),
}

/// What can stop the daemon from starting.
#[derive(Debug)]
pub enum DaemonError {
    Config(config::ConfigError),
    Store(store::StoreError),
    Control(control::ControlError),
    /// No log, no journal: nothing to protect with.
    NoSource(String),
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Config(e) => write!(f, "{e}"),
            DaemonError::Store(e) => write!(f, "{e}"),
            DaemonError::Control(e) => write!(f, "{e}"),
            DaemonError::NoSource(m) => f.write_str(m),
            DaemonError::Io { what, source } => write!(f, "cannot {what}: {source}"),
        }
    }
}

impl std::error::Error for DaemonError {}

/// Command-line choices that override or complete the configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub config_path: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub hosts_deny: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    /// Logs named on the command line (`-` = stdin) instead of the configured ones.
    pub logs: Vec<PathBuf>,
}

impl Options {
    /// Loads the configuration and applies the overrides.
    pub fn load(&self) -> Result<Config, config::ConfigError> {
        let (mut c, _) = config::load(self.config_path.as_deref())?;
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
        Ok(c)
    }
}

/// One enforcement backend and its health.
struct Slot {
    backend: Box<dyn Backend>,
    error: Option<String>,
    /// Out of step with the store: needs a `restore` before it can be trusted again.
    dirty: bool,
    retry_at: Instant,
    backoff: Duration,
}

impl Slot {
    fn failed(&mut self, e: &ban::BackendError, now: Instant) {
        if self.error.as_deref() != Some(&e.to_string()) {
            log(&format!("{e}; will retry"));
        }
        self.error = Some(e.to_string());
        self.dirty = true;
        self.retry_at = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn succeeded(&mut self) {
        if self.error.take().is_some() {
            log(&format!("{}: working again", self.backend.name()));
        }
        self.dirty = false;
        self.backoff = MIN_BACKOFF;
    }
}

const MIN_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(500);
const CHECK_EVERY: Duration = Duration::from_secs(30);
const RECENT: usize = 10;
/// How often a source's parser takes the current time as its reference for the year.
const PARSER_REFERENCE_AGE: Duration = Duration::from_secs(60);

/// Writes one line for the journal (or the terminal).
fn log(msg: &str) {
    eprintln!("authban: {msg}");
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The running daemon's state. Lives on one thread.
pub struct Engine {
    options: Options,
    config: Config,
    store: Store,
    detector: Detector,
    tz: jiff::tz::TimeZone,
    /// One parser per source, with when it was made: RFC 3164 lines have no year, and the
    /// parser infers it from its reference time, which must follow the clock (a parser
    /// made in December would date January's lines a year back).
    parsers: HashMap<String, (Parser, Instant)>,
    slots: Vec<Slot>,
    /// Bans in force by attacking address (a cache of the store's active bans).
    active: HashMap<IpAddr, BanRecord>,
    /// Offences of every address ever banned, for escalation.
    offences: HashMap<IpAddr, u32>,
    sources: BTreeMap<String, control::SourceInfo>,
    source_stop: Stop,
    source_threads: Vec<thread::JoinHandle<()>>,
    counts: [u64; 4],
    lines: u64,
    recent: VecDeque<control::RecentEvent>,
    started_at: i64,
    last_check: Instant,
    /// The channel sources feed, kept to start new sources on reload.
    feed_tx: Sender<Feed>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("active", &self.active.len())
            .finish_non_exhaustive()
    }
}

/// The detection policy of `config`, with this host's addresses and the SSH session
/// running us (read here, at the edge, so `detect` stays pure).
pub fn policy(config: &Config) -> detect::Policy {
    detect::Policy::from_config(
        config,
        addr::local_addresses(),
        addr::ssh_session_client(
            std::env::var("SSH_CONNECTION").ok().as_deref(),
            std::env::var("SSH_CLIENT").ok().as_deref(),
        ),
    )
}

/// How long the `offences`-th ban of an address lasts: the ban time multiplied by the
/// factor for each earlier offence, capped; `None` is permanent.
pub fn ban_length(ban: &config::Ban, offences: u32) -> Option<u64> {
    if ban.permanent_after > 0 && offences >= ban.permanent_after {
        return None;
    }
    let base = ban.time.0.as_secs() as f64;
    let max = ban.max_time.0.as_secs() as f64;
    let exp = i32::try_from(offences.saturating_sub(1)).unwrap_or(i32::MAX);
    let secs = (base * ban.factor.powi(exp)).min(max).max(base.min(max));
    Some(secs as u64)
}

/// What the backends must hold for a banned address: the address, or its IPv6 prefix.
pub fn target_of(addr: IpAddr, ipv6_prefix: u8) -> Cidr {
    match addr {
        IpAddr::V6(_) if ipv6_prefix < 128 => {
            Cidr::from_str(&format!("{addr}/{ipv6_prefix}")).unwrap_or_else(|_| Cidr::host(addr))
        }
        _ => Cidr::host(addr),
    }
}

/// Builds the configured backends. "auto" means nftables where `nft` can be found,
/// hosts.deny otherwise.
fn backends(config: &Config) -> Vec<Box<dyn Backend>> {
    let mut kinds: Vec<BackendKind> = Vec::new();
    for k in &config.ban.backends {
        let k = match k {
            BackendKind::Auto => {
                if program_exists(&config.nftables.nft) {
                    BackendKind::Nftables
                } else {
                    BackendKind::HostsDeny
                }
            }
            other => *other,
        };
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let mut out: Vec<Box<dyn Backend>> = Vec::new();
    for k in kinds {
        let built: Result<Box<dyn Backend>, ban::BackendError> = match k {
            BackendKind::Nftables => ban::nftables::Nftables::new(
                Box::new(SystemRunner),
                config.nftables.nft.clone(),
                &config.nftables.table,
                config.ban.ports.clone(),
            )
            // Adds over netlink: no process, no listing of the set per ban.
            .map(|b| Box::new(b.with_netlink()) as Box<dyn Backend>),
            BackendKind::Ipset => ban::ipset::Ipset::new(
                Box::new(SystemRunner),
                &config.ipset.set4,
                &config.ipset.set6,
                config.ban.ports.clone(),
            )
            .map(|b| Box::new(b) as Box<dyn Backend>),
            BackendKind::HostsDeny => Ok(Box::new(ban::hosts_deny::HostsDenyBackend::new(
                HostsDeny::new(&config.paths.hosts_deny, &config.hosts_deny.daemons),
            ))),
            BackendKind::Command => ban::command::Command::new(
                config.command.ban.clone(),
                config.command.unban.clone(),
                Box::new(SystemRunner),
            )
            .map(|b| Box::new(b) as Box<dyn Backend>),
            BackendKind::Auto => continue,
        };
        match built {
            Ok(b) => out.push(b),
            // Configuration validation makes this rare; the others still protect.
            Err(e) => log(&format!("cannot use a backend: {e}")),
        }
    }
    out
}

/// Removes authban's firewall objects (the nftables table, the ipsets and their iptables
/// rules) for `authban uninstall`; hosts.deny and user commands are left alone. Returns
/// what was done, per backend.
pub fn remove_firewall(config: &Config) -> Vec<(&'static str, Result<(), ban::BackendError>)> {
    let mut out = Vec::new();
    if program_exists(&config.nftables.nft) {
        match ban::nftables::Nftables::new(
            Box::new(SystemRunner),
            config.nftables.nft.clone(),
            &config.nftables.table,
            config.ban.ports.clone(),
        ) {
            Ok(mut b) => out.push(("nftables", b.teardown())),
            Err(e) => out.push(("nftables", Err(e))),
        }
    }
    if program_exists(Path::new("ipset")) && program_exists(Path::new("iptables")) {
        match ban::ipset::Ipset::new(
            Box::new(SystemRunner),
            &config.ipset.set4,
            &config.ipset.set6,
            config.ban.ports.clone(),
        ) {
            Ok(mut b) => out.push(("ipset", b.teardown())),
            Err(e) => out.push(("ipset", Err(e))),
        }
    }
    out
}

/// Whether `program` names an executable file, directly or through PATH.
fn program_exists(program: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return executable(program);
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| executable(&dir.join(program))))
        .unwrap_or(false)
}

impl Engine {
    /// Opens the store, restores the bans into every backend and starts the sources.
    pub fn start(options: Options, feed_tx: Sender<Feed>) -> Result<Engine, DaemonError> {
        let config = options.load().map_err(DaemonError::Config)?;
        let store = Store::open(&config.paths.state_dir).map_err(DaemonError::Store)?;
        let now = now_s();
        let mut detector = Detector::new(policy(&config));
        detector.set_max_tracked(usize::try_from(config.daemon.max_tracked).unwrap_or(usize::MAX));
        let mut active = HashMap::new();
        let mut offences = HashMap::new();
        for b in store.bans().map_err(DaemonError::Store)? {
            offences.insert(b.addr, b.offences);
            if b.is_active(now) {
                active.insert(b.addr, b);
            }
        }
        detector.set_banned(active.keys().copied());
        detector.restore_history(store.history().map_err(DaemonError::Store)?);
        detector.restore_trusted(store.trusted().map_err(DaemonError::Store)?);
        let mut engine = Engine {
            tz: crate::cli::local_zone(),
            options,
            config,
            store,
            detector,
            parsers: HashMap::new(),
            slots: Vec::new(),
            active,
            offences,
            sources: BTreeMap::new(),
            source_stop: Stop::new(),
            source_threads: Vec::new(),
            counts: [0; 4],
            lines: 0,
            recent: VecDeque::new(),
            started_at: now,
            last_check: Instant::now(),
            feed_tx,
        };
        engine.install_backends();
        engine.start_sources()?;
        Ok(engine)
    }

    /// (Re)creates the backends and loads every ban in force into them.
    fn install_backends(&mut self) {
        let now = Instant::now();
        self.slots = backends(&self.config)
            .into_iter()
            .map(|backend| Slot {
                backend,
                error: None,
                dirty: true,
                retry_at: now,
                backoff: MIN_BACKOFF,
            })
            .collect();
        let orders = self.orders();
        let started = Instant::now();
        for slot in &mut self.slots {
            match slot
                .backend
                .setup()
                .and_then(|()| slot.backend.restore(&orders, now_s()))
            {
                Ok(()) => slot.succeeded(),
                Err(e) => slot.failed(&e, now),
            }
        }
        let names: Vec<&str> = self.slots.iter().map(|s| s.backend.name()).collect();
        log(&format!(
            "{} bans in force restored into {} in {} ms",
            orders.len(),
            if names.is_empty() {
                "no backend".to_owned()
            } else {
                names.join(", ")
            },
            started.elapsed().as_millis()
        ));
    }

    /// What the backends must hold: one order per target, the longest expiry winning when
    /// several banned addresses share an IPv6 prefix.
    fn orders(&self) -> Vec<BanOrder> {
        let mut by_target: HashMap<Cidr, Option<i64>> = HashMap::new();
        for b in self.active.values() {
            let t = target_of(b.addr, self.config.ban.ipv6_prefix);
            let slot = by_target.entry(t).or_insert(b.expires_at);
            *slot = match (*slot, b.expires_at) {
                (None, _) | (_, None) => None,
                (Some(x), Some(y)) => Some(x.max(y)),
            };
        }
        let mut out: Vec<BanOrder> = by_target
            .into_iter()
            .map(|(target, expires_at)| BanOrder { target, expires_at })
            .collect();
        // One string per order, not one per comparison: 100,000 bans at start.
        out.sort_by_cached_key(|o| o.target.to_string());
        out
    }

    fn start_sources(&mut self) -> Result<(), DaemonError> {
        let mut files: Vec<PathBuf> = Vec::new();
        let mut stdin = false;
        let configured = if self.config.paths.logs.is_empty() {
            ["/var/log/auth.log", "/var/log/secure"]
                .iter()
                .map(PathBuf::from)
                .collect()
        } else {
            self.config.paths.logs.clone()
        };
        for pattern in &configured {
            if pattern.as_os_str() == "-" {
                stdin = true;
            } else if pattern.to_string_lossy().contains(['*', '?', '[']) {
                files.extend(source::expand_glob(pattern));
            } else if !self.config.paths.logs.is_empty() || pattern.exists() {
                // A configured log that does not exist yet is followed when it appears.
                files.push(pattern.clone());
            }
        }
        let journal = match self.config.daemon.journal {
            JournalMode::Always => true,
            JournalMode::Never => false,
            JournalMode::Auto => files.is_empty() && !stdin,
        };
        if files.is_empty() && !stdin && !journal {
            return Err(DaemonError::NoSource(
                "no log to read: none of the configured logs exists and the journal is disabled \
                 (set paths.logs, or daemon.journal = \"auto\")"
                    .into(),
            ));
        }
        let opts = FollowOptions::default();
        for path in files {
            let key = source::source_key(&path);
            let cursor = self.store.cursor(&key).map_err(DaemonError::Store)?;
            let handle = source::follow_file(
                path.clone(),
                cursor,
                self.feed_tx.clone(),
                self.source_stop.clone(),
                opts.clone(),
            )
            .map_err(|source| DaemonError::Io {
                what: format!("follow {}", path.display()),
                source,
            })?;
            self.sources.insert(
                key,
                control::SourceInfo {
                    name: path.display().to_string(),
                    state: "starting".into(),
                    lines: 0,
                },
            );
            self.source_threads.push(handle);
        }
        if journal {
            let cursor = self.store.position(JOURNAL).map_err(DaemonError::Store)?;
            let opts = self.journal_options();
            let handle = source::journal::follow_journal(
                opts,
                cursor,
                self.feed_tx.clone(),
                self.source_stop.clone(),
            )
            .map_err(|source| DaemonError::Io {
                what: "read the journal".into(),
                source,
            })?;
            self.sources.insert(
                JOURNAL.into(),
                control::SourceInfo {
                    name: JOURNAL.into(),
                    state: "starting".into(),
                    lines: 0,
                },
            );
            self.source_threads.push(handle);
        }
        if stdin {
            self.source_threads.push(source::follow_stdin(
                self.feed_tx.clone(),
                self.source_stop.clone(),
            ));
            self.sources.insert(
                "-".into(),
                control::SourceInfo {
                    name: "stdin".into(),
                    state: "reading".into(),
                    lines: 0,
                },
            );
        }
        Ok(())
    }

    fn journal_options(&self) -> source::journal::JournalOptions {
        source::journal::JournalOptions {
            journalctl: self.config.daemon.journalctl.clone(),
            ..source::journal::JournalOptions::default()
        }
    }

    fn stop_sources(&mut self) {
        self.source_stop.stop();
        for h in self.source_threads.drain(..) {
            let _ = h.join();
        }
        self.source_stop = Stop::new();
        self.sources.clear();
    }

    /// Handles one input; returns false when the daemon must stop.
    pub fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Feed(Feed::Lines(batch)) => self.lines(batch),
            Input::Feed(Feed::Status { source, state }) => {
                let text = match &state {
                    SourceState::Following { path } => format!("following {}", path.display()),
                    SourceState::Waiting { why } => format!("waiting: {why}"),
                    SourceState::Rotated { from } => format!("rotated from {}", from.display()),
                    SourceState::Error { message } => format!("error: {message}"),
                    SourceState::Stopped => "stopped".into(),
                };
                if matches!(
                    state,
                    SourceState::Error { .. } | SourceState::Rotated { .. }
                ) {
                    log(&format!("{source}: {text}"));
                }
                self.sources
                    .entry(source.clone())
                    .or_insert_with(|| control::SourceInfo {
                        name: source,
                        ..Default::default()
                    })
                    .state = text;
            }
            Input::Control(incoming) => {
                let request = incoming.request.clone();
                let response = self.control(request);
                incoming.reply(response);
            }
            Input::Signal(sig) => match sig {
                nix::sys::signal::Signal::SIGHUP => {
                    if let Err(e) = self.reload() {
                        log(&format!(
                            "reload failed, keeping the running configuration: {e}"
                        ));
                    }
                }
                _ => return false,
            },
        }
        true
    }

    /// Processes one batch of lines: detect, save, then enforce.
    fn lines(&mut self, batch: source::Batch) {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let fresh = || {
            (
                Parser::new(self.tz.clone(), jiff::Timestamp::now()),
                Instant::now(),
            )
        };
        let slot = self
            .parsers
            .entry(batch.source.clone())
            .or_insert_with(fresh);
        if slot.1.elapsed() >= PARSER_REFERENCE_AGE {
            *slot = fresh();
        }
        let parser = &mut slot.0;
        let mut decisions = Vec::new();
        let mut trusted = Vec::new();
        for line in batch.iter() {
            let Some(ev) = parser.parse(line) else {
                continue;
            };
            self.counts[ev.kind.index()] += u64::from(ev.count.max(1));
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back(control::RecentEvent {
                time: ev.time.map(|t| t.to_string()),
                kind: ev.kind.as_str().into(),
                addr: ev.addr.to_string(),
                msg: ev.msg.as_str().into(),
            });
            let at = ev.time.map_or(now_ms, |t| t.unix_ms());
            if ev.kind == Kind::Success {
                trusted.push((ev.addr, at));
            }
            if let Some(d) = self.detector.observe(&ev, at) {
                decisions.push(d);
            }
        }
        self.lines += batch.count as u64;
        if let Some(s) = self.sources.get_mut(&batch.source) {
            s.lines += batch.count as u64;
        }
        let new_bans = self.decide(decisions);
        let history = self.detector.take_touched();
        let mut cursors = Vec::new();
        let mut positions = Vec::new();
        match &batch.position {
            Position::File(c) => cursors.push((batch.source.clone(), c.clone())),
            Position::Journal(c) => positions.push((JOURNAL.to_owned(), c.clone())),
            Position::Stream => {}
        }
        let update = Update {
            cursors: &cursors,
            bans: &new_bans,
            history_for: &history,
            positions: &positions,
            trusted: &trusted,
            // Logins older than the trust period protect nobody: forget them as new ones
            // come, so the table stays the size of the recent users.
            forget_trusted_before_ms: (!trusted.is_empty())
                .then(|| now_ms.saturating_sub(self.detector.policy().trust_ms)),
            ..Update::default()
        };
        // Enforce first: an SQLite commit (and now and then a WAL checkpoint) must not
        // stand between the line that crossed the threshold and the drop rule.
        self.enforce(&new_bans);
        if let Err(e) = self.store.save(&update) {
            // Nothing of this batch is recorded; the bans are enforced (the attack is
            // real) and the lines are read again after a restart.
            log(&format!("cannot save state: {e}"));
        }
    }

    /// Turns decisions into ban records (not yet saved).
    fn decide(&mut self, decisions: Vec<Decision>) -> Vec<BanRecord> {
        let now = now_s();
        let window_ms = self.detector.policy().window_ms;
        let mut out = Vec::new();
        for d in decisions {
            match d {
                Decision::Ban(o) => {
                    let offences = self.offences.get(&o.addr).copied().unwrap_or(0) + 1;
                    let length = ban_length(&self.config.ban, offences);
                    let rec = BanRecord {
                        addr: o.addr,
                        banned_at: now,
                        expires_at: length.map(|l| now + l as i64),
                        offences,
                        reason: o.reason(window_ms),
                    };
                    log(&format!(
                        "banned {} {} (offence {offences}): {}",
                        o.addr,
                        length.map_or("permanently".to_owned(), |l| format!(
                            "for {}",
                            config::Duration::from_secs(l)
                        )),
                        rec.reason
                    ));
                    self.offences.insert(o.addr, offences);
                    self.active.insert(o.addr, rec.clone());
                    out.push(rec);
                }
                Decision::Spared(o, why) => {
                    log(&format!(
                        "not banning {}: {why} ({})",
                        o.addr,
                        o.reason(window_ms)
                    ));
                }
                Decision::LoginAfterFailures { addr, score, .. } => {
                    log(&format!(
                        "warning: {addr} logged in after failures (score {:.1}): check that login",
                        f64::from(score) / detect::POINTS_PER_UNIT
                    ));
                }
            }
        }
        out
    }

    /// Sends new bans to every backend in one batch each.
    fn enforce(&mut self, bans: &[BanRecord]) {
        if bans.is_empty() {
            return;
        }
        let prefix = self.config.ban.ipv6_prefix;
        let orders: Vec<BanOrder> = bans
            .iter()
            .map(|b| BanOrder {
                target: target_of(b.addr, prefix),
                expires_at: b.expires_at,
            })
            .collect();
        let now = Instant::now();
        for slot in &mut self.slots {
            if slot.dirty {
                // Out of step: the next successful restore carries these bans too.
                continue;
            }
            match slot.backend.ban(&orders, now_s()) {
                Ok(()) => slot.succeeded(),
                Err(e) => slot.failed(&e, now),
            }
        }
    }

    /// Lifts bans that expired, and retries backends that failed.
    pub fn tick(&mut self) {
        let now = now_s();
        let expired: Vec<IpAddr> = self
            .active
            .values()
            .filter(|b| b.expires_at.is_some_and(|t| t <= now))
            .map(|b| b.addr)
            .collect();
        if !expired.is_empty() {
            for a in &expired {
                self.active.remove(a);
                self.detector.unban(*a);
            }
            self.lift(&expired, true);
            log(&format!(
                "{} ban{} expired: {}",
                expired.len(),
                if expired.len() == 1 { "" } else { "s" },
                list(&expired)
            ));
        }
        let instant = Instant::now();
        if instant.duration_since(self.last_check) >= CHECK_EVERY {
            self.last_check = instant;
            for slot in &mut self.slots {
                if !slot.dirty
                    && let Err(e) = slot.backend.check()
                {
                    slot.failed(&e, instant);
                }
            }
        }
        if self.slots.iter().any(|s| s.dirty && s.retry_at <= instant) {
            let orders = self.orders();
            for slot in self
                .slots
                .iter_mut()
                .filter(|s| s.dirty && s.retry_at <= instant)
            {
                match slot
                    .backend
                    .setup()
                    .and_then(|()| slot.backend.restore(&orders, now))
                {
                    Ok(()) => slot.succeeded(),
                    Err(e) => slot.failed(&e, instant),
                }
            }
        }
    }

    /// Removes the targets of `addrs` from the backends, unless another ban in force
    /// still needs the same target (a shared IPv6 prefix). For expiry, backends whose
    /// kernel sets time out by themselves are left alone.
    fn lift(&mut self, addrs: &[IpAddr], expired: bool) {
        let prefix = self.config.ban.ipv6_prefix;
        let still: std::collections::HashSet<Cidr> =
            self.active.keys().map(|a| target_of(*a, prefix)).collect();
        let mut targets: Vec<Cidr> = addrs
            .iter()
            .map(|a| target_of(*a, prefix))
            .filter(|t| !still.contains(t))
            .collect();
        targets.sort_by_key(|t| t.to_string());
        targets.dedup();
        if targets.is_empty() {
            return;
        }
        let now = Instant::now();
        for slot in self
            .slots
            .iter_mut()
            .filter(|s| !(s.dirty || expired && s.backend.expires_by_itself()))
        {
            match slot.backend.unban(&targets) {
                Ok(()) => slot.succeeded(),
                Err(e) => slot.failed(&e, now),
            }
        }
    }

    fn control(&mut self, request: Request) -> Response {
        match request {
            Request::Status => Response::with_status(self.status()),
            Request::List => {
                let mut bans: Vec<&BanRecord> = self.active.values().collect();
                bans.sort_by_key(|b| (b.banned_at, b.addr));
                let prefix = self.config.ban.ipv6_prefix;
                Response::with_bans(
                    bans.into_iter()
                        .map(|b| control::BanInfo {
                            addr: target_of(b.addr, prefix).to_string(),
                            banned_at: b.banned_at,
                            expires_at: b.expires_at,
                            offences: b.offences,
                            reason: b.reason.clone(),
                        })
                        .collect(),
                )
            }
            Request::Ban { addr, duration } => self.manual_ban(&addr, duration.as_deref()),
            Request::Unban { addr } => self.manual_unban(&addr),
            Request::Reload => match self.reload() {
                Ok(()) => Response::message("configuration reloaded"),
                Err(e) => Response::error(format!(
                    "reload failed, the running configuration is kept: {e}"
                )),
            },
        }
    }

    fn manual_ban(&mut self, text: &str, duration: Option<&str>) -> Response {
        let Some(addr) = addr::parse_ip(text.trim().as_bytes()) else {
            return Response::error(format!("`{text}` is not an IP address"));
        };
        if addr.is_loopback() || addr.is_unspecified() || addr::local_addresses().contains(&addr) {
            return Response::error(format!(
                "refusing to ban {addr}: it is this host's own address"
            ));
        }
        let now = now_s();
        let offences = self.offences.get(&addr).copied().unwrap_or(0) + 1;
        let length = match duration {
            Some(d) => match config::Duration::from_str(d) {
                Ok(d) if d.is_zero() => None,
                Ok(d) => Some(d.0.as_secs()),
                Err(e) => return Response::error(e.to_string()),
            },
            None => ban_length(&self.config.ban, offences),
        };
        let rec = BanRecord {
            addr,
            banned_at: now,
            expires_at: length.map(|l| now + l as i64),
            offences,
            reason: "banned by hand".into(),
        };
        if let Err(e) = self.store.save(&Update {
            bans: std::slice::from_ref(&rec),
            ..Update::default()
        }) {
            return Response::error(format!("cannot record the ban: {e}"));
        }
        self.offences.insert(addr, offences);
        self.active.insert(addr, rec.clone());
        self.detector.ban(addr);
        self.enforce(std::slice::from_ref(&rec));
        let how = length.map_or("permanently".to_owned(), |l| {
            format!("for {}", config::Duration::from_secs(l))
        });
        log(&format!("banned {addr} {how} by hand"));
        Response::message(format!("banned {addr} {how}"))
    }

    fn manual_unban(&mut self, text: &str) -> Response {
        let Some(addr) = addr::parse_ip(text.trim().as_bytes()) else {
            return Response::error(format!("`{text}` is not an IP address"));
        };
        let Some(mut rec) = self.active.remove(&addr) else {
            return Response::error(format!("{addr} is not banned"));
        };
        let now = now_s();
        rec.expires_at = Some(now.max(rec.banned_at));
        if let Err(e) = self.store.save(&Update {
            bans: std::slice::from_ref(&rec),
            ..Update::default()
        }) {
            self.active.insert(addr, rec);
            return Response::error(format!("cannot record the unban: {e}"));
        }
        self.detector.unban(addr);
        self.lift(&[addr], false);
        log(&format!("unbanned {addr} by hand"));
        Response::message(format!("unbanned {addr}"))
    }

    /// Reads the configuration again; on error the running one stays.
    pub fn reload(&mut self) -> Result<(), DaemonError> {
        let config = self.options.load().map_err(DaemonError::Config)?;
        if config.paths.state_dir != self.config.paths.state_dir {
            log("paths.state-dir changed: it takes effect at the next start");
        }
        self.detector.set_policy(policy(&config));
        self.detector
            .set_max_tracked(usize::try_from(config.daemon.max_tracked).unwrap_or(usize::MAX));
        let sources_changed = config.paths.logs != self.config.paths.logs
            || config.daemon.journal != self.config.daemon.journal;
        let backends_changed = config.ban.backends != self.config.ban.backends
            || config.ban.ports != self.config.ban.ports
            || config.ban.ipv6_prefix != self.config.ban.ipv6_prefix
            || config.nftables != self.config.nftables
            || config.ipset != self.config.ipset
            || config.command != self.config.command
            || config.paths.hosts_deny != self.config.paths.hosts_deny
            || config.hosts_deny != self.config.hosts_deny;
        let old = std::mem::replace(&mut self.config, config);
        if backends_changed {
            for slot in &mut self.slots {
                let kept = self.config.ban.backends.iter().any(|k| {
                    matches!(
                        (k, slot.backend.name()),
                        (BackendKind::Nftables, "nftables") | (BackendKind::Ipset, "ipset")
                    )
                });
                if !kept && let Err(e) = slot.backend.teardown() {
                    log(&format!("cannot remove {}: {e}", slot.backend.name()));
                }
            }
            self.install_backends();
        }
        if sources_changed {
            // Positions are saved after every batch: the new followers resume exactly.
            self.stop_sources();
            if let Err(e) = self.start_sources() {
                self.config = old;
                self.start_sources()?;
                return Err(e);
            }
        }
        log("configuration reloaded");
        Ok(())
    }

    fn status(&self) -> control::Status {
        let c = &self.counts;
        control::Status {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            started_at: self.started_at,
            sources: self.sources.values().cloned().collect(),
            backends: self
                .slots
                .iter()
                .map(|s| control::BackendInfo {
                    name: s.backend.name().into(),
                    ok: s.error.is_none() && !s.dirty,
                    error: s.error.clone(),
                    pending: if s.dirty { self.active.len() as u64 } else { 0 },
                })
                .collect(),
            active_bans: self.active.len() as u64,
            tracked_addresses: self.detector.tracked() as u64,
            events: control::EventCounts {
                auth_failure: c[Kind::AuthFailure.index()],
                invalid_user: c[Kind::InvalidUser.index()],
                probe: c[Kind::Probe.index()],
                success: c[Kind::Success.index()],
            },
            lines: self.lines,
            recent: self.recent.iter().cloned().collect(),
        }
    }

    /// Stops the sources and applies the stop policy.
    pub fn shutdown(mut self) {
        self.stop_sources();
        if self.config.daemon.on_stop == StopPolicy::Flush {
            for slot in &mut self.slots {
                if let Err(e) = slot.backend.teardown() {
                    log(&format!("cannot remove {}: {e}", slot.backend.name()));
                }
            }
        }
        log("stopped");
    }
}

/// The source key of the journal in the store.
const JOURNAL: &str = "journal";

fn list(addrs: &[IpAddr]) -> String {
    let shown: Vec<String> = addrs.iter().take(10).map(ToString::to_string).collect();
    if addrs.len() > 10 {
        format!("{} and {} more", shown.join(", "), addrs.len() - 10)
    } else {
        shown.join(", ")
    }
}

/// Tells systemd (Type=notify) how we are, if it is listening.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sock = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s,
        Err(_) => return,
    };
    let bytes = path.as_encoded_bytes();
    let result = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), Path::new(&path))
    };
    if let Err(e) = result {
        log(&format!("cannot notify systemd: {e}"));
    }
}

/// Runs the daemon until SIGTERM/SIGINT. Blocks the signals first (so every thread
/// inherits the mask and only the signal thread receives them).
pub fn run(options: Options) -> Result<(), DaemonError> {
    use nix::sys::signal::{SigSet, Signal};
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_block().map_err(|e| DaemonError::Io {
        what: "block signals".into(),
        source: e.into(),
    })?;

    let (tx, rx) = mpsc::channel::<Input>();
    let (feed_tx, feed_rx) = mpsc::channel::<Feed>();
    forward(feed_rx, tx.clone(), Input::Feed);
    {
        let tx = tx.clone();
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                while let Ok(sig) = signals.wait() {
                    if tx.send(Input::Signal(sig)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|source| DaemonError::Io {
                what: "start the signal thread".into(),
                source,
            })?;
    }

    let mut engine = Engine::start(options, feed_tx)?;
    let (ctl_tx, ctl_rx) = mpsc::channel::<Incoming>();
    forward(ctl_rx, tx.clone(), Input::Control);
    let stop = Arc::new(AtomicBool::new(false));
    let server = control::serve(
        &engine.config.daemon.socket,
        control::ServerOptions::default(),
        ctl_tx,
        stop.clone(),
    )
    .map_err(DaemonError::Control)?;
    drop(tx);
    notify("READY=1\nSTATUS=protecting");
    log(&format!(
        "running: {} source{}, control socket {}",
        engine.sources.len(),
        if engine.sources.len() == 1 { "" } else { "s" },
        engine.config.daemon.socket.display()
    ));
    serve(&mut engine, &rx);
    notify("STOPPING=1");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.shutdown();
    engine.shutdown();
    Ok(())
}

/// The engine loop: inputs as they come, expiry and retries every tick.
fn serve(engine: &mut Engine, rx: &Receiver<Input>) {
    let mut next_tick = Instant::now() + TICK;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Input::Signal(nix::sys::signal::Signal::SIGHUP)) => {
                notify("RELOADING=1");
                engine.handle(Input::Signal(nix::sys::signal::Signal::SIGHUP));
                notify("READY=1");
            }
            Ok(input) => {
                if !engine.handle(input) {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if Instant::now() >= next_tick {
            engine.tick();
            next_tick = Instant::now() + TICK;
        }
    }
}

/// Moves messages of one channel into the engine's channel.
fn forward<T: Send + 'static>(rx: Receiver<T>, tx: Sender<Input>, wrap: fn(T) -> Input) {
    let _ = thread::Builder::new()
        .name("forward".into())
        .spawn(move || {
            for m in rx {
                if tx.send(wrap(m)).is_err() {
                    break;
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ban_length_escalates_and_caps() {
        let mut b = config::Ban {
            time: config::Duration::from_secs(3600),
            factor: 2.0,
            max_time: config::Duration::from_secs(5 * 3600),
            ..Default::default()
        };
        assert_eq!(ban_length(&b, 1), Some(3600));
        assert_eq!(ban_length(&b, 2), Some(7200));
        assert_eq!(ban_length(&b, 3), Some(4 * 3600));
        assert_eq!(ban_length(&b, 4), Some(5 * 3600));
        assert_eq!(ban_length(&b, 40), Some(5 * 3600));
        b.permanent_after = 3;
        assert_eq!(ban_length(&b, 2), Some(7200));
        assert_eq!(ban_length(&b, 3), None);
    }

    #[test]
    fn targets_follow_the_ipv6_prefix_setting() {
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let v4: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(target_of(v6, 128).to_string(), "2001:db8:1:2:3:4:5:6");
        assert_eq!(target_of(v6, 64).to_string(), "2001:db8:1:2::/64");
        assert_eq!(target_of(v4, 64).to_string(), "203.0.113.5");
    }
}
