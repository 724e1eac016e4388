//! The cron mode's hand controls: `authban ban`, `unban` and `list` when no daemon runs.
//! They work on the store and hosts.deny as `scan` does, under the lock `scan` takes, so
//! a scan running meanwhile never reads a half-made change, and a daemon that starts later
//! restores what they recorded. The store is written first; hosts.deny is then made to
//! deny exactly the bans in force, so a failure in between is repaired by the next run.
//!
//! Every run here and in `scan` also lifts the bans the policy now protects (the allowlist
//! always wins), and adopts lines of authban's hosts.deny block that no record explains,
//! as `scan` does: a ban in force is lifted only by its expiry or an explicit unban.

use super::exit;
use crate::addr::Cidr;
use crate::ban::Remaining;
use crate::ban::hosts_deny::{Applied, HostsDeny};
use crate::config::{self, Config};
use crate::control::{self, BanInfo};
use crate::decide::{BanRecord, Core, ImportTally, Length, Refusal};
use crate::detect::Exemption;
use crate::fleet::record::{Origin, Record};
use crate::host;
use crate::store::{self, InstanceLock, LockError, LockRole, Store, Update};

/// An exit code and what to print.
pub(super) type Failure = (u8, String);

/// The bans the policy now protects, lifted in `core` and returned as they must be
/// saved, each with why. Lifting them is the point: an admin who allowlists a colleague
/// locked out by a ban expects the ban gone, whoever imposed it.
pub(super) fn lift_protected(core: &mut Core, now_s: i64) -> Vec<(BanRecord, Exemption)> {
    let planned = core.plan_lift_protected(now_s);
    let targets: Vec<Cidr> = planned.iter().map(|(b, _)| b.target).collect();
    core.lift(&targets);
    planned
}

/// Adopts the lines of our hosts.deny block that no record explains (the store was lost
/// or replaced): lifting them would lift bans in force. Returns the records to save.
pub(super) fn adopt_hosts_deny(core: &mut Core, hosts: &HostsDeny, now_s: i64) -> Vec<BanRecord> {
    let held: Vec<(Cidr, Remaining)> = match hosts.ours() {
        Ok(ours) => ours.into_iter().map(|c| (c, Remaining::Unknown)).collect(),
        // Writing the file reads it again and reports the error.
        Err(_) => Vec::new(),
    };
    core.adopt(&held, now_s, &hosts.path().display().to_string())
}

/// `until 2026-12-08T03:00:00Z`, or `permanently`.
pub(super) fn until(expires_at: Option<i64>) -> String {
    expires_at
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map_or("permanently".to_string(), |t| format!("until {t}"))
}

/// The state of a cron-mode system, locked for one change.
pub(super) struct Offline<'c> {
    config: &'c Config,
    /// Held until the change is in hosts.deny.
    _lock: InstanceLock,
    store: Store,
    core: Core,
    hosts: HostsDeny,
    now_s: i64,
    /// Records to save with the change: protected bans lifted, lines adopted.
    pending: Vec<BanRecord>,
    /// What to say about them.
    said: Vec<String>,
}

impl<'c> Offline<'c> {
    /// Takes the state directory's lock and reads the bans. `unreachable` is why the
    /// daemon could not be asked; if the daemon holds the lock, that is the error.
    pub(super) fn open(config: &'c Config, unreachable: &str) -> Result<Offline<'c>, Failure> {
        let dir = &config.paths.state_dir;
        let lock = InstanceLock::acquire(dir, LockRole::Scan).map_err(|e| match e {
            LockError::Daemon { .. } => (
                exit::UNAVAILABLE,
                format!("{unreachable}\nauthban: and the daemon cannot be bypassed: {e}"),
            ),
            LockError::Busy { .. } => (exit::TEMPFAIL, e.to_string()),
            LockError::Io { .. } => (exit::FAILURE, e.to_string()),
        })?;
        let mut store = Store::open(dir).map_err(|e| (exit::FAILURE, e.to_string()))?;
        store.set_history_limits(config.history_limits());
        let now_s = host::now_s();
        let known = store.bans().map_err(|e| (exit::FAILURE, e.to_string()))?;
        let mut core = Core::new(
            config.detect_policy(host::local_addresses(), host::session_client()),
            config.ban_policy(),
            known,
            now_s,
        );
        let hosts = HostsDeny::new(&config.paths.hosts_deny, &config.hosts_deny.daemons);
        let file = config.paths.hosts_deny.display().to_string();
        let mut pending = Vec::new();
        let mut said = Vec::new();
        for (rec, why) in lift_protected(&mut core, now_s) {
            said.push(format!("lifted the ban of {}: {why}", rec.target));
            pending.push(rec);
        }
        for rec in adopt_hosts_deny(&mut core, &hosts, now_s) {
            said.push(format!(
                "adopted {} in {file}: the store had no record of it, so it stays denied {}",
                rec.target,
                until(rec.expires_at)
            ));
            pending.push(rec);
        }
        Ok(Offline {
            config,
            _lock: lock,
            store,
            core,
            hosts,
            now_s,
            pending,
            said,
        })
    }

    /// Bans `target` by hand; returns what to print.
    pub(super) fn ban(mut self, target: Cidr, length: Length) -> Result<String, Failure> {
        let ban = self
            .core
            .plan_ban_by_hand(target, length, &host::local_addresses(), self.now_s)
            .map_err(|r| (exit::FAILURE, r.to_string()))?;
        let how = match ban.length() {
            None => "permanently".to_owned(),
            Some(l) => format!("for {}", crate::config::Duration::from_secs(l)),
        };
        let outbox = self.to_share(std::slice::from_ref(&ban), Origin::Manual);
        self.save(Some(ban.clone()), "ban", &outbox)?;
        self.core.impose(ban);
        let applied = self.write()?;
        let file = self.config.paths.hosts_deny.display();
        let place = if applied.added.contains(&target) {
            format!("written to {file}")
        } else if applied.already_denied.contains(&target) {
            format!("{file} already denies it by a line of its own")
        } else {
            format!("already in {file}")
        };
        Ok(self.report(format!(
            "banned {target} {how} (no daemon is running: saved in the store, {place})"
        )))
    }

    /// Bans the entries of the blocklist `list` for `length` seconds (`None`: permanently);
    /// returns what became of them.
    pub(super) fn import(
        mut self,
        targets: &[Cidr],
        length: Option<u64>,
        list: &str,
    ) -> Result<(ImportTally, String), Failure> {
        let (records, tally) =
            self.core
                .plan_import(targets, length, list, &host::local_addresses(), self.now_s);
        let mut bans = std::mem::take(&mut self.pending);
        bans.extend(records.iter().cloned());
        let outbox = self.to_share(&records, Origin::Imported);
        self.store
            .save(&Update {
                bans: &bans,
                outbox: &outbox,
                ..Update::default()
            })
            .map_err(|e| {
                (
                    exit::FAILURE,
                    format!("cannot record the imported bans: {e}"),
                )
            })?;
        for rec in records {
            self.core.impose(rec);
        }
        self.write()?;
        let file = self.config.paths.hosts_deny.display().to_string();
        Ok((
            tally,
            self.report(format!(
                "no daemon is running: saved in the store, and {file} denies them"
            )),
        ))
    }

    /// Lifts the ban of `target` by hand; returns what to print.
    pub(super) fn unban(mut self, target: Cidr, fleet_wide: bool) -> Result<String, Failure> {
        let node = self.config.fleet.as_ref().map(config::Fleet::node_name);
        if fleet_wide && node.is_none() {
            return Err((
                exit::USAGE,
                "--fleet: this host is in no fleet (no [fleet] is configured)".into(),
            ));
        }
        let rec = match self.core.plan_unban(target, self.now_s) {
            Ok(r) => Some(r),
            Err(Refusal::NotBanned(_)) if fleet_wide => None,
            Err(r) => return Err((exit::FAILURE, r.to_string())),
        };
        // Published by the daemon when it starts. A fleet ban lifted here only is this
        // node's business: the others keep theirs.
        let publish = fleet_wide || rec.as_ref().is_some_and(|r| r.node.is_none());
        let outbox: Vec<Record> = match node {
            Some(n) if publish => vec![Record::of_unban(target, fleet_wide, &n, self.now_s)],
            _ => Vec::new(),
        };
        let lifted = rec.is_some();
        self.save(rec, "unban", &outbox)?;
        let fleet = if fleet_wide {
            "; the fleet's nodes lift theirs when this node's daemon starts and publishes it"
        } else {
            ""
        };
        if !lifted {
            return Ok(self.report(format!("{target} is not banned here{fleet}")));
        }
        self.core.lift(&[target]);
        let applied = self.write()?;
        let file = self.config.paths.hosts_deny.display();
        let place = if applied.removed.contains(&target) {
            format!("its line left {file}")
        } else {
            format!("{file} had no line of it")
        };
        Ok(self.report(format!(
            "unbanned {target} (no daemon is running: saved in the store, {place}){fleet}"
        )))
    }

    /// The outbox records of bans by hand or imported here, if the fleet shares them.
    fn to_share(&self, bans: &[BanRecord], origin: Origin) -> Vec<Record> {
        self.config
            .fleet
            .as_ref()
            .map_or_else(Vec::new, |f| f.to_share(bans, origin, &f.node_name()))
    }

    /// Saves `change` with what opening found, in one transaction.
    fn save(
        &mut self,
        change: Option<BanRecord>,
        what: &str,
        outbox: &[Record],
    ) -> Result<(), Failure> {
        let mut bans = std::mem::take(&mut self.pending);
        // Read as the ending's reason only where the record ends the ban.
        let endings: Vec<(Cidr, String)> = change
            .iter()
            .map(|c| (c.target, "unbanned by hand".to_owned()))
            .collect();
        bans.extend(change);
        self.store
            .save(&Update {
                bans: &bans,
                endings: &endings,
                outbox,
                ..Update::default()
            })
            .map_err(|e| (exit::FAILURE, format!("cannot record the {what}: {e}")))
    }

    /// Makes hosts.deny deny exactly the bans in force.
    fn write(&self) -> Result<Applied, Failure> {
        let wanted: Vec<Cidr> = self.core.orders().into_iter().map(|o| o.target).collect();
        self.hosts.apply(&wanted, false).map_err(|e| {
            (
                exit::FAILURE,
                format!("{e}; the change is saved, and the next scan writes it"),
            )
        })
    }

    fn report(self, last: String) -> String {
        let mut lines = self.said;
        lines.push(last);
        lines.join("\n")
    }
}

/// The bans in force as the store records them, for `list` without a daemon. Reading
/// needs no lock: SQLite gives a consistent snapshot while a scan writes.
pub(super) fn list(config: &Config) -> Result<Vec<BanInfo>, Failure> {
    let dir = &config.paths.state_dir;
    if !dir.join(store::DB_FILE).exists() {
        return Ok(Vec::new());
    }
    let store = Store::open(dir).map_err(|e| (exit::FAILURE, e.to_string()))?;
    let bans = store
        .active_bans(host::now_s())
        .map_err(|e| (exit::FAILURE, e.to_string()))?;
    Ok(control::BanSnapshot {
        generation: 0,
        bans,
    }
    .infos())
}
