//! `authban scan`: the cron job. Reads the lines appended to the auth log since the last
//! run (finishing a rotated file first), decides with the ban policy, records new bans in
//! the store and makes hosts.deny deny exactly the bans that are in force.
//!
//! Order matters for "lose nothing": the store is written first, in one transaction
//! (cursors, bans, detection windows); hosts.deny is then rewritten from the store's
//! active bans. If writing hosts.deny fails, the next run writes it again; if the process
//! dies before the transaction, the next run re-reads the same lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{Global, exit, load_config, offline};
use crate::addr::Cidr;
use crate::ban::hosts_deny::HostsDeny;
use crate::config::{Config, JournalMode};
use crate::decide::{Core, Notice, Orders};
use crate::detect;
use crate::event::Kind;
use crate::host::{self, local_zone, reference_time};
use crate::parse::Parser;
use crate::source::{
    self, Cursor, DEFAULT_LOGS, FileEntries, JOURNAL, JournalOptions, SourceError,
};
use crate::store::{self, BanRecord, InstanceLock, LockError, LockRole, Store, Update};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Change nothing (neither hosts.deny nor the saved state); print what would be done
    #[arg(long)]
    pub dry_run: bool,
    /// Print nothing when nothing was banned, lifted or noticed (cron mails only what
    /// matters); errors and warnings still go to stderr
    #[arg(long, short)]
    pub quiet: bool,
    /// Auth logs to read [default: the configured logs, else the first of /var/log/auth.log and /var/log/secure that exists, else the systemd journal (daemon.journal)]
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(global: &Global, args: ScanArgs) -> u8 {
    let config = match load_config(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let inputs = match pick_inputs(&args.files, &config) {
        Ok(inputs) => inputs,
        Err(msg) => {
            eprintln!("authban: {msg}");
            return exit::NOINPUT;
        }
    };
    match Scan::new(&config, args.dry_run, args.quiet).and_then(|scan| scan.run(&inputs)) {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("authban: {msg}");
            code
        }
    }
}

/// What one run reads: log files, and the journal where no log file exists (Debian 12
/// and later install no rsyslog) or when configured.
#[derive(Debug, Default)]
struct Inputs {
    files: Vec<PathBuf>,
    journal: bool,
}

fn pick_inputs(args: &[PathBuf], config: &Config) -> Result<Inputs, String> {
    let always = config.daemon.journal == JournalMode::Always;
    if !args.is_empty() {
        return Ok(Inputs {
            files: args.to_vec(),
            journal: false,
        });
    }
    if !config.paths.logs.is_empty() {
        return Ok(Inputs {
            files: config.paths.logs.clone(),
            journal: always,
        });
    }
    let files: Vec<PathBuf> = source::default_log(Path::new("/"))
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let journal = always || (files.is_empty() && config.daemon.journal == JournalMode::Auto);
    if files.is_empty() && !journal {
        return Err(format!(
            "no auth log found (looked for {}) and the journal is disabled (daemon.journal); \
             name the log file to read, or set paths.logs in the configuration",
            DEFAULT_LOGS.join(" and ")
        ));
    }
    Ok(Inputs { files, journal })
}

type Failure = (u8, String);

struct Scan<'c> {
    config: &'c Config,
    dry_run: bool,
    quiet: bool,
    now: jiff::Timestamp,
    /// Held for the whole run: two scans must not read the same new lines twice, nor a scan
    /// and the daemon.
    _lock: Option<InstanceLock>,
    store: Option<Store>,
}

impl<'c> Scan<'c> {
    fn new(config: &'c Config, dry_run: bool, quiet: bool) -> Result<Scan<'c>, Failure> {
        let dir = &config.paths.state_dir;
        let (lock, store) = if dry_run && !dir.join(store::DB_FILE).exists() {
            // A dry run on a fresh system must not create the state directory.
            (None, None)
        } else {
            let lock = InstanceLock::acquire(dir, LockRole::Scan).map_err(|e| {
                let code = match e {
                    LockError::Daemon { .. } | LockError::Busy { .. } => exit::TEMPFAIL,
                    LockError::Io { .. } => exit::FAILURE,
                };
                (code, e.to_string())
            })?;
            let mut store = Store::open(dir).map_err(|e| (exit::FAILURE, e.to_string()))?;
            store.set_history_limits(config.history_limits());
            (Some(lock), Some(store))
        };
        Ok(Scan {
            config,
            dry_run,
            quiet,
            now: jiff::Timestamp::now(),
            _lock: lock,
            store,
        })
    }

    fn run(mut self, inputs: &Inputs) -> Result<u8, Failure> {
        let now_s = self.now.as_second();
        let now_ms = self.now.as_millisecond();
        let sql = |e: store::StoreError| (exit::FAILURE, e.to_string());
        let known_bans = match &self.store {
            Some(store) => store.bans().map_err(sql)?,
            None => Vec::new(),
        };
        let mut core = Core::new(
            self.config
                .detect_policy(host::local_addresses(), host::session_client()),
            self.config.ban_policy(),
            known_bans,
            now_s,
        );
        if let Some(store) = &self.store {
            let detector = core.detector_mut();
            detector.restore_history(store.history().map_err(sql)?);
            detector.restore_trusted(store.trusted().map_err(sql)?);
        }
        // The allowlist always wins, over bans imposed before it covered them.
        let protected = offline::lift_protected(&mut core, now_s);

        let mut code = exit::OK;
        let mut cursors: Vec<(String, Cursor)> = Vec::new();
        let mut positions: Vec<(String, String)> = Vec::new();
        let mut orders = Orders::default();
        let mut lines = 0u64;
        let mut untrusted = 0u64;
        let trust = self.config.policy.trust_logins;
        let tz = local_zone();
        let mut progress = super::progress::Progress::new(&inputs.files);
        for log in &inputs.files {
            progress.file(log);
            // A live log is followed by its byte offset; a compressed file named here would
            // be read as garbage (its rotated `.gz` siblings are found and read whole).
            if source::is_gzip(log) {
                eprintln!(
                    "authban: {} is gzip-compressed: scan follows live logs (and reads their \
                     rotated .gz copies itself); for a compressed file, use authban check \
                     --score or authban report",
                    log.display()
                );
                code = exit::NOINPUT;
                continue;
            }
            let key = source::source_key(log);
            let cursor = match &self.store {
                Some(store) => store
                    .cursor(&key)
                    .map_err(|e| (exit::FAILURE, e.to_string()))?,
                None => None,
            };
            // The first scan of a log reads all of it: that may take a while.
            let first = cursor.is_none();
            let mut parser: Option<(PathBuf, Parser, FileEntries)> = None;
            let mut broken = 0u64;
            let result = source::read_since(log, cursor.as_ref(), |origin, line| {
                if first && origin == log.as_path() {
                    progress.read(line.end);
                }
                // Each file gets the reference time of its own mtime for year inference,
                // and its own shape (a log, or a saved `journalctl -o json|export`).
                if parser.as_ref().is_none_or(|(p, ..)| p != origin) {
                    broken += parser.as_ref().map_or(0, |(.., e)| e.broken);
                    parser = Some((
                        origin.to_path_buf(),
                        Parser::new(tz.clone(), reference_time(Some(origin))),
                        FileEntries::sshd(),
                    ));
                }
                let Some((_, p, entries)) = parser.as_mut() else {
                    return;
                };
                let Some((text, from_journal)) = entries.text(line) else {
                    return;
                };
                if let Some(ev) = p.parse(text) {
                    // A file takes lines from anyone: a login counts only when sshd
                    // still holds its connection (policy.trust-logins).
                    if ev.kind == Kind::Success && !trust.grants(&ev, from_journal) {
                        untrusted += 1;
                        return;
                    }
                    let at = ev.time.map_or(now_ms, |t| t.unix_ms());
                    core.observe(&ev, at, now_s, &mut orders);
                }
            });
            broken += parser.as_ref().map_or(0, |(.., e)| e.broken);
            if broken > 0 {
                eprintln!(
                    "authban: warning: {}: {broken} journal export entries could not be read \
                     whole and were skipped",
                    log.display()
                );
            }
            match result {
                Ok((cursor, stats)) => {
                    lines += stats.lines;
                    for (path, why) in &stats.damaged {
                        eprintln!(
                            "authban: warning: {} is damaged ({why}): its lines up to the damage \
                             were read, the rest is skipped",
                            path.display()
                        );
                    }
                    if stats.lost_rotation() {
                        eprintln!(
                            "authban: warning: {} was rotated or truncated and its old content was not found \
                             beside it; lines written between the last run and the rotation may have been missed",
                            log.display()
                        );
                    }
                    cursors.push((key, cursor));
                }
                // A log that cannot be opened contributed no line: the others go on.
                Err(e @ (SourceError::NotFound { .. } | SourceError::Open { .. })) => {
                    eprintln!("authban: {e}");
                    code = exit::NOINPUT;
                }
                // A read that failed part-way already fed lines to the detector, but its
                // cursor cannot be saved: saving their bans or windows would count those
                // lines twice when the next run reads them again. Keep the old state.
                Err(e) => {
                    return Err((
                        exit::IOERR,
                        format!("{e}; nothing was saved, the next run reads these lines again"),
                    ));
                }
            }
        }

        if inputs.journal {
            let cursor = match &self.store {
                Some(store) => store
                    .position(JOURNAL)
                    .map_err(|e| (exit::FAILURE, e.to_string()))?,
                None => None,
            };
            let opts = JournalOptions {
                journalctl: self.config.daemon.journalctl.clone(),
                ..JournalOptions::default()
            };
            let mut parser = Parser::new(tz.clone(), self.now);
            let mut read = 0u64;
            let result = source::read_journal_since(&opts, cursor.as_deref(), |line| {
                read += 1;
                if let Some(ev) = parser.parse(line) {
                    let at = ev.time.map_or(now_ms, |t| t.unix_ms());
                    core.observe(&ev, at, now_s, &mut orders);
                }
            });
            lines += read;
            match result {
                Ok(Some(c)) => positions.push((JOURNAL.to_owned(), c)),
                Ok(None) => {}
                // As for a file: entries already counted must not be saved without
                // their cursor.
                Err(e) if read > 0 => {
                    return Err((
                        exit::IOERR,
                        format!("{e}; nothing was saved, the next run reads these entries again"),
                    ));
                }
                Err(e) => {
                    eprintln!("authban: {e}");
                    code = exit::NOINPUT;
                }
            }
        }

        // An exempt address crosses the threshold again and again: report it once.
        let mut detected: BTreeSet<Cidr> = orders.bans.iter().map(|b| b.target).collect();
        for n in &orders.notices {
            match n {
                Notice::Spared {
                    target,
                    why,
                    reason,
                } => {
                    if detected.insert(*target) {
                        println!("not banned {target}: {why} ({reason})");
                    }
                }
                Notice::LoginAfterFailures { addr, score, at_ms } => {
                    let when = jiff::Timestamp::from_millisecond(*at_ms)
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    println!(
                        "warning: {addr} logged in successfully at {when} after failures (score {:.1}): check that login",
                        f64::from(*score) / detect::POINTS_PER_UNIT
                    );
                }
            }
        }
        let hosts = HostsDeny::new(
            &self.config.paths.hosts_deny,
            &self.config.hosts_deny.daemons,
        );
        let file = self.config.paths.hosts_deny.display().to_string();
        let adopted = offline::adopt_hosts_deny(&mut core, &hosts, now_s);
        let mut new_bans: Vec<BanRecord> = orders.bans.clone();
        new_bans.extend(adopted.iter().cloned());
        new_bans.extend(protected.iter().map(|(b, _)| b.clone()));
        let new_targets: BTreeSet<Cidr> = orders.bans.iter().map(|b| b.target).collect();
        let endings: Vec<(Cidr, String)> = protected
            .iter()
            .map(|(b, why)| (b.target, format!("lifted: {why}")))
            .collect();

        // Save what this run learned, then make hosts.deny agree with the store.
        // Windows are in log time: prune them relative to the newest line seen, not the
        // clock (a log read days late must still add up with the next run's lines).
        let detector = core.detector();
        let observed = detector.latest_ms() != i64::MIN;
        let latest = if observed {
            detector.latest_ms()
        } else {
            now_ms
        };
        if let Some(store) = self.store.as_mut().filter(|_| !self.dry_run) {
            let history = detector.history(latest);
            let trusted = detector.trusted(latest);
            store
                .save(&Update {
                    cursors: &cursors,
                    positions: &positions,
                    bans: &new_bans,
                    history: observed.then_some(history.as_slice()),
                    trusted: &trusted,
                    forget_trusted_before_ms: Some(
                        latest - duration_ms(self.config.policy.trust_after_login.0),
                    ),
                    evidence: &orders.evidence,
                    endings: &endings,
                    ..Update::default()
                })
                .map_err(|e| (exit::FAILURE, e.to_string()))?;
        }

        // The bans in force as the store now holds them: those known plus this run's.
        let wanted: Vec<Cidr> = core.orders().into_iter().map(|o| o.target).collect();
        let applied = match hosts.apply(&wanted, self.dry_run) {
            Ok(a) => a,
            Err(e) => {
                for b in &new_bans {
                    println!("decided to ban {} ({})", b.target, b.reason);
                }
                let saved = if self.dry_run {
                    ""
                } else {
                    "; the bans are saved and the next run writes them"
                };
                return Err((exit::FAILURE, format!("{e}{saved}")));
            }
        };
        let verb = if self.dry_run { "would deny" } else { "denied" };
        for (b, why) in &protected {
            let verb = if self.dry_run { "would lift" } else { "lifted" };
            println!("{verb} the ban of {}: {why}", b.target);
        }
        for b in &adopted {
            let until = offline::until(b.expires_at);
            println!(
                "{} {} in {file}: the store had no record of it, so it stays denied {until}",
                if self.dry_run {
                    "would adopt"
                } else {
                    "adopted"
                },
                b.target
            );
        }
        for r in &orders.bans {
            let t = &r.target;
            let addr = t;
            if applied.added.contains(t) {
                println!("{verb} {addr} in {file} ({})", r.reason);
            } else if applied.already_denied.contains(t) {
                println!(
                    "{addr} is already denied by an existing line of {file} ({})",
                    r.reason
                );
            } else {
                // Banned again before the last run lifted its entry, or another address
                // of the same network was: the line stays.
                println!("{addr} stays denied in {file} ({})", r.reason);
            }
        }
        for t in applied.added.iter().filter(|t| !new_targets.contains(t)) {
            println!(
                "{verb} {t} in {file} (restored from the saved bans; `authban unban {t}` lifts it)"
            );
        }
        let lifted: BTreeSet<Cidr> = protected.iter().map(|(b, _)| b.target).collect();
        for t in applied.removed.iter().filter(|t| !lifted.contains(t)) {
            let verb = if self.dry_run { "would lift" } else { "lifted" };
            println!("{verb} the expired ban of {t} from {file}");
        }
        let denied = applied
            .added
            .iter()
            .filter(|t| new_targets.contains(t))
            .count();
        let eventful = !detected.is_empty()
            || !orders.notices.is_empty()
            || !adopted.is_empty()
            || !protected.is_empty()
            || !applied.added.is_empty()
            || !applied.removed.is_empty();
        if self.quiet && !eventful {
            return Ok(code);
        }
        println!(
            "{lines} new line{} read; {} attacking address{} detected, {denied} {verb}",
            if lines == 1 { "" } else { "s" },
            detected.len(),
            if detected.len() == 1 { "" } else { "es" }
        );
        if untrusted > 0 {
            println!(
                "{untrusted} login{} of the log file granted no trust: sshd no longer held \
                 {} connection (see policy.trust-logins)",
                if untrusted == 1 { "" } else { "s" },
                if untrusted == 1 { "its" } else { "their" }
            );
        }
        Ok(code)
    }
}

fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
