//! The engine's backends: building the configured ones, and keeping each in step with the
//! bans in force. A backend that fails is marked out of step ("dirty"), reported, retried
//! with back-off, and brought back in step with a full `restore` of every ban in force,
//! so no ban is lost while it was failing.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Engine, error, log, warn};
use crate::addr::Cidr;
use crate::ban::hosts_deny::HostsDeny;
use crate::ban::{self, Backend, BanOrder, SystemRunner};
use crate::config::{BackendKind, Config};
use crate::host;

const MIN_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often working backends are asked whether they are still in place.
const CHECK_EVERY: Duration = Duration::from_secs(30);
/// How often their contents are compared with the bans in force: listing a set of
/// 100,000 elements costs `nft` about a second, during which the engine bans nothing.
const RECONCILE_EVERY: Duration = Duration::from_secs(300);
/// A ban this close to its end is not put back: the kernel may have expired it already.
const ABOUT_TO_EXPIRE_S: i64 = 5;

/// One enforcement backend and its health.
pub(super) struct Slot {
    pub(super) backend: Box<dyn Backend>,
    pub(super) error: Option<String>,
    /// Out of step with the store: needs a `restore` before it can be trusted again.
    pub(super) dirty: bool,
    retry_at: Instant,
    backoff: Duration,
    /// Entries this backend refused (and why) while it applied every other: retried on
    /// their own back-off, without holding up later bans.
    pub(super) refused: BTreeMap<Cidr, String>,
    refused_retry_at: Instant,
    refused_backoff: Duration,
    /// Operations that failed, for the metrics; kept across a reload.
    pub(super) failures: u64,
}

impl Slot {
    fn failed(&mut self, e: &ban::BackendError, now: Instant) {
        self.failures += 1;
        if self.error.as_deref() != Some(&e.to_string()) {
            error(&format!("{e}; will retry"));
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

    /// The outcome of sending `sent` (and for a restore, `all`: every ban in force): the
    /// backend is in step for every entry it did not refuse.
    fn outcome(
        &mut self,
        sent: &[BanOrder],
        r: Result<(), ban::BackendError>,
        now: Instant,
        all: bool,
    ) {
        match r {
            Ok(()) => {
                self.accepted(sent, all);
                self.succeeded();
            }
            Err(ban::BackendError::Refused { entries, .. }) => {
                let again: HashSet<Cidr> = entries.iter().map(|(t, _)| *t).collect();
                let through: Vec<BanOrder> = sent
                    .iter()
                    .filter(|o| !again.contains(&o.target))
                    .copied()
                    .collect();
                self.accepted(&through, all);
                let name = self.backend.name();
                for (target, why) in entries {
                    if self.refused.get(&target) != Some(&why) {
                        error(&format!(
                            "{name} refused the ban of {target}: {why}; the other bans went \
                             through, this one is retried"
                        ));
                    }
                    self.refused.insert(target, why);
                }
                self.refused_retry_at = now + self.refused_backoff;
                self.succeeded();
            }
            Err(e) => self.failed(&e, now),
        }
    }

    /// `sent` went through: none of it is refused any more (after a restore, nothing
    /// outside it is either).
    fn accepted(&mut self, sent: &[BanOrder], all: bool) {
        if all {
            let sent: HashSet<Cidr> = sent.iter().map(|o| o.target).collect();
            self.refused.retain(|t, _| !sent.contains(t));
            return;
        }
        for o in sent {
            if self.refused.remove(&o.target).is_some() {
                log(&format!(
                    "{}: the ban of {} went through now",
                    self.backend.name(),
                    o.target
                ));
            }
        }
    }
}

/// Whether every configured backend can exist with this configuration (names, lengths,
/// ports, commands): what `config check` and `run` refuse, before anything is touched.
/// Running nothing, it cannot see runtime failures (no `nft` yet, a kernel refusal),
/// which are retried and reported instead.
pub fn check(config: &Config) -> Result<(), ban::BackendError> {
    build(config).map(drop)
}

/// Builds the configured backends. "auto" means nftables where `nft` can be found,
/// hosts.deny otherwise. The constructors only check the configuration; the first one
/// that refuses it is the error.
fn build(config: &Config) -> Result<Vec<Box<dyn Backend>>, ban::BackendError> {
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
                ipset_programs(config),
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
        out.push(built?);
    }
    Ok(out)
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
    if program_exists(&config.ipset.ipset) && program_exists(&config.ipset.iptables) {
        match ban::ipset::Ipset::new(
            Box::new(SystemRunner),
            ipset_programs(config),
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

/// The programs the configured backends run that cannot be found, each with its setting
/// (`config check` refuses them: a backend without its program cannot ban). The daemon
/// itself starts without them, says so and retries: the package may come later.
pub fn missing_programs(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut need = |key: &str, program: &Path| {
        if !program_exists(program) {
            out.push(format!(
                "{key} = \"{}\": no such program (neither that file nor in PATH)",
                program.display()
            ));
        }
    };
    for k in &config.ban.backends {
        match k {
            BackendKind::Nftables => need("nftables.nft", &config.nftables.nft),
            BackendKind::Ipset => {
                need("ipset.ipset", &config.ipset.ipset);
                need("ipset.iptables", &config.ipset.iptables);
                need("ipset.ip6tables", &config.ipset.ip6tables);
            }
            BackendKind::Command => {
                for (key, argv) in [
                    ("command.ban", &config.command.ban),
                    ("command.unban", &config.command.unban),
                ] {
                    if let Some(p) = argv.first() {
                        need(key, Path::new(p));
                    }
                }
            }
            BackendKind::HostsDeny | BackendKind::Auto => {}
        }
    }
    out
}

/// The `[ipset]` programs as the backend runs them.
fn ipset_programs(config: &Config) -> ban::ipset::Programs {
    let c = &config.ipset;
    ban::ipset::Programs {
        ipset: c.ipset.display().to_string(),
        iptables: c.iptables.display().to_string(),
        ip6tables: c.ip6tables.display().to_string(),
    }
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
    /// (Re)creates the backends and loads every ban in force into them. The configuration
    /// passed [`check`] (at start and on reload), so building cannot fail here.
    pub(super) fn install_backends(&mut self) {
        let now = Instant::now();
        let failures: Vec<(&'static str, u64)> = self
            .slots
            .iter()
            .map(|s| (s.backend.name(), s.failures))
            .collect();
        let built = build(&self.config).unwrap_or_else(|e| {
            error(&format!("cannot use the backends: {e}"));
            Vec::new()
        });
        self.slots = built
            .into_iter()
            .map(|backend| Slot {
                failures: failures
                    .iter()
                    .find(|(n, _)| *n == backend.name())
                    .map_or(0, |(_, f)| *f),
                backend,
                error: None,
                dirty: true,
                retry_at: now,
                backoff: MIN_BACKOFF,
                refused: BTreeMap::new(),
                refused_retry_at: now,
                refused_backoff: MIN_BACKOFF,
            })
            .collect();
        let started = Instant::now();
        // What the backends hold that the store does not know (the store was lost or
        // replaced) is adopted before the restore, which would otherwise lift it.
        let mut ready = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            match slot.backend.setup() {
                Ok(()) => ready.push(i),
                Err(e) => slot.failed(&e, now),
            }
        }
        for &i in &ready {
            self.adopt_from(i);
        }
        let orders = self.core.orders();
        for i in ready {
            let slot = &mut self.slots[i];
            let r = slot.backend.restore(&orders, host::now_s());
            slot.outcome(&orders, r, now, true);
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

    /// Adopts what backend `i` holds that the store has no record of (see
    /// [`Core::adopt`](crate::decide::Core::adopt)), before a restore would lift it.
    fn adopt_from(&mut self, i: usize) {
        let name = self.slots[i].backend.name();
        match self.slots[i].backend.held(host::now_s()) {
            Ok(None) => {}
            Ok(Some(held)) => {
                let adopted = self.core.adopt(&held, host::now_s(), name);
                self.counters
                    .imposed(super::observe::Imposed::Adopted, adopted.len());
                if !adopted.is_empty() {
                    warn(&format!(
                        "{name} held {} bans the store had no record of; adopted them \
                         (remaining time kept where {name} gives it)",
                        adopted.len()
                    ));
                    self.keep(adopted, &[], &[]);
                }
            }
            Err(e) => error(&format!(
                "{e}; cannot see what it holds, so none is adopted"
            )),
        }
    }

    /// Sends new bans to every backend in step, in one batch each.
    pub(super) fn enforce(&mut self, orders: &[BanOrder]) {
        if orders.is_empty() {
            return;
        }
        let now = Instant::now();
        for slot in &mut self.slots {
            if slot.dirty {
                // Out of step: the next successful restore carries these bans too.
                continue;
            }
            let r = slot.backend.ban(orders, host::now_s());
            slot.outcome(orders, r, now, false);
        }
    }

    /// Takes `targets` out of the backends. For expiry, backends whose kernel sets time out
    /// by themselves are left alone.
    pub(super) fn unenforce(&mut self, targets: &[Cidr], expired: bool) {
        if targets.is_empty() {
            return;
        }
        let now = Instant::now();
        for slot in &mut self.slots {
            for t in targets {
                slot.refused.remove(t);
            }
        }
        for slot in self
            .slots
            .iter_mut()
            .filter(|s| !(s.dirty || expired && s.backend.expires_by_itself()))
        {
            match slot.backend.unban(targets) {
                Ok(()) => slot.succeeded(),
                Err(e) => slot.failed(&e, now),
            }
        }
    }

    /// Checks working backends now and then, and restores failed ones whose back-off ended.
    pub(super) fn tend_backends(&mut self) {
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
        if instant.duration_since(self.last_reconcile) >= RECONCILE_EVERY {
            self.reconcile_backends();
        }
        let due: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].dirty && self.slots[i].retry_at <= instant)
            .collect();
        for i in due {
            // A backend that failed at start (no `nft` yet) was not asked what it holds.
            let r = self.slots[i].backend.setup();
            if r.is_ok() {
                self.adopt_from(i);
            }
            let orders = self.core.orders();
            let slot = &mut self.slots[i];
            let r = r.and_then(|()| slot.backend.restore(&orders, host::now_s()));
            slot.outcome(&orders, r, instant, true);
        }
        self.retry_refused(instant);
    }

    /// Sends again, on their own back-off, the entries a backend refused that are still
    /// bans in force.
    fn retry_refused(&mut self, instant: Instant) {
        if self
            .slots
            .iter()
            .all(|s| s.refused.is_empty() || s.dirty || s.refused_retry_at > instant)
        {
            return;
        }
        let orders = self.core.orders();
        let now = host::now_s();
        for slot in self
            .slots
            .iter_mut()
            .filter(|s| !s.refused.is_empty() && !s.dirty && s.refused_retry_at <= instant)
        {
            let again: Vec<BanOrder> = orders
                .iter()
                .filter(|o| slot.refused.contains_key(&o.target))
                .copied()
                .collect();
            // Lifted meanwhile: nothing left to retry for those.
            let wanted: HashSet<Cidr> = again.iter().map(|o| o.target).collect();
            slot.refused.retain(|t, _| wanted.contains(t));
            if again.is_empty() {
                continue;
            }
            slot.refused_backoff = (slot.refused_backoff * 2).min(MAX_BACKOFF);
            let r = slot.backend.ban(&again, now);
            slot.outcome(&again, r, instant, false);
            if slot.refused.is_empty() {
                slot.refused_backoff = MIN_BACKOFF;
            }
        }
    }

    /// Puts back into every working backend the bans in force it lost (a set flushed by
    /// hand, a hosts.deny block edited away), and says how many. Periodic, and on reload.
    pub(super) fn reconcile_backends(&mut self) {
        let instant = Instant::now();
        self.last_reconcile = instant;
        let now = host::now_s();
        let orders = self.core.orders();
        for slot in self.slots.iter_mut().filter(|s| !s.dirty) {
            let held = match slot.backend.held(now) {
                Ok(Some(held)) => held,
                Ok(None) => continue,
                Err(e) => {
                    slot.failed(&e, instant);
                    continue;
                }
            };
            let have: HashSet<Cidr> = held.into_iter().map(|(t, _)| t).collect();
            let missing: Vec<BanOrder> = orders
                .iter()
                .filter(|o| !have.contains(&o.target))
                .filter(|o| o.expires_at.is_none_or(|t| t > now + ABOUT_TO_EXPIRE_S))
                .copied()
                .collect();
            if missing.is_empty() {
                continue;
            }
            let name = slot.backend.name();
            let r = slot.backend.ban(&missing, now);
            if r.is_ok() || matches!(r, Err(ban::BackendError::Refused { .. })) {
                warn(&format!(
                    "{name}: {} bans in force were missing from it; restored them",
                    missing.len()
                ));
            }
            slot.outcome(&missing, r, instant, false);
        }
    }

    /// Removes the backends a new configuration no longer names, then builds the new set.
    pub(super) fn replace_backends(&mut self) {
        for slot in &mut self.slots {
            let kept = self.config.ban.backends.iter().any(|k| {
                matches!(
                    (k, slot.backend.name()),
                    (BackendKind::Nftables, "nftables") | (BackendKind::Ipset, "ipset")
                )
            });
            if !kept && let Err(e) = slot.backend.teardown() {
                error(&format!("cannot remove {}: {e}", slot.backend.name()));
            }
        }
        self.install_backends();
    }

    /// Removes every backend's bans (the `flush` stop policy).
    pub(super) fn teardown_backends(&mut self) {
        for slot in &mut self.slots {
            if let Err(e) = slot.backend.teardown() {
                error(&format!("cannot remove {}: {e}", slot.backend.name()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // One notion of validity: whatever configuration `config check` accepts, every
        // backend it enables can be built (issue 8, item 4).
        #[test]
        fn a_configuration_that_loads_builds_its_backends(
            backend in proptest::sample::select(vec!["nftables", "ipset", "hosts-deny", "command"]),
            table in "[A-Za-z0-9_.-]{0,34}",
            set4 in "[A-Za-z0-9_.-]{0,34}",
            set6 in "[A-Za-z0-9_.-]{0,34}",
            port in 0u32..70000,
            command in proptest::sample::select(vec!["", "/bin/true", " "]),
            prefix in proptest::sample::select(vec![32u32, 48, 56, 64, 128]),
        ) {
            let text = format!(
                "[ban]\nbackends = [\"{backend}\"]\nports = [{port}]\nipv6-prefix = {prefix}\n\
                 [nftables]\ntable = \"{table}\"\n[ipset]\nset4 = \"{set4}\"\nset6 = \"{set6}\"\n\
                 [command]\nban = [\"{command}\", \"{{addr}}\"]\nunban = [\"{command}\", \"{{addr}}\"]\n"
            );
            if let Ok(config) = crate::config::parse(&text, Path::new("test.toml")) {
                prop_assert!(check(&config).is_ok(), "{text}\n{:?}", check(&config).err().map(|e| e.to_string()));
            }
        }
    }
}
