//! The engine's answers to control requests (`status`, `list`, `ban`, `unban`, `reload`)
//! and the reload itself. A ban or unban by hand is saved before it takes effect: the
//! answer "banned" means the store has it.

use std::str::FromStr;
use std::sync::Arc;

use super::batch::{ban_orders, how_long};
use super::observe::{Imposed, Lifted};
use super::{DaemonError, Engine, log, warn};
use crate::addr::Cidr;
use crate::control::{self, Incoming, Request, Response};
use crate::decide::Length;
use crate::event::Kind;
use crate::fleet::record::Origin;
use crate::store::{BanRecord, Update};
use crate::{config, host};

impl Engine {
    /// The bans in force for `list`: a copy handed to the connection's thread, which
    /// sorts, formats and serializes it. Formatting 100,000 bans took the engine tens of
    /// milliseconds, during which it banned nothing; the copy takes about a millisecond,
    /// and one copy serves every `list` until the bans change.
    fn ban_list(&mut self) -> Arc<control::BanSnapshot> {
        let generation = self.core.generation();
        if let Some(snap) = &self.list_cache
            && snap.generation == generation
        {
            return Arc::clone(snap);
        }
        let snap = Arc::new(control::BanSnapshot {
            generation,
            bans: self.core.active().cloned().collect(),
        });
        self.list_cache = Some(Arc::clone(&snap));
        snap
    }

    /// Answers a control request; `list` goes to [`Engine::ban_list`].
    pub(super) fn answer(&mut self, incoming: Incoming) {
        self.counters.request(incoming.request.name());
        if matches!(incoming.request, Request::List) {
            let snap = self.ban_list();
            incoming.reply_list(snap);
        } else {
            let response = self.control(incoming.request.clone());
            incoming.reply(response);
        }
    }

    pub(super) fn control(&mut self, request: Request) -> Response {
        match request {
            Request::Status => Response::with_status(self.status()),
            Request::List => Response::with_bans(self.ban_list().infos()),
            Request::Ban { addr, duration } => self.manual_ban(&addr, duration.as_deref()),
            Request::Unban { addr, fleet } => self.manual_unban(&addr, fleet),
            Request::Import {
                targets,
                duration,
                list,
            } => self.import(&targets, &duration, &list),
            Request::Reload => match self.reload() {
                Ok(()) => Response::message("configuration reloaded"),
                Err(e) => Response::error(format!(
                    "reload failed, the running configuration is kept: {e}"
                )),
            },
        }
    }

    fn manual_ban(&mut self, text: &str, duration: Option<&str>) -> Response {
        let addr = match Cidr::from_str(text) {
            Ok(t) => t,
            Err(e) => return Response::error(e.to_string()),
        };
        let length = match duration.map(config::Duration::from_str) {
            None => Length::Policy,
            Some(Ok(d)) if d.is_zero() => Length::Permanent,
            Some(Ok(d)) => Length::Seconds(d.0.as_secs()),
            Some(Err(e)) => return Response::error(e.to_string()),
        };
        let ban =
            match self
                .core
                .plan_ban_by_hand(addr, length, &host::local_addresses(), host::now_s())
            {
                Ok(b) => b,
                Err(refusal) => return Response::error(refusal.to_string()),
            };
        let outbox = self.to_share(std::slice::from_ref(&ban), Origin::Manual);
        if let Err(e) = self.store.save(&Update {
            bans: std::slice::from_ref(&ban),
            outbox: &outbox,
            ..Update::default()
        }) {
            self.counters.store_failures += 1;
            return Response::error(format!("cannot record the ban: {e}"));
        }
        self.shared(&outbox);
        let how = how_long(&ban);
        self.enforce(&ban_orders(std::slice::from_ref(&ban)));
        self.core.impose(ban);
        self.counters.imposed(Imposed::Manual, 1);
        log(&format!("banned {addr} {how} by hand"));
        Response::message(format!("banned {addr} {how}"))
    }

    /// Bans a part of a blocklist: every entry checked first (the CLI sends what it
    /// parsed, so a bad one is a bad client), then all saved in one transaction and sent
    /// to the backends in one batch.
    fn import(&mut self, targets: &[String], duration: &str, list: &str) -> Response {
        // The name goes into the log and the store: one line of printable text.
        let list = crate::log::one_line(list, 200);
        let list = list.as_str();
        let parsed: Result<Vec<Cidr>, _> = targets.iter().map(|t| Cidr::from_str(t)).collect();
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => return Response::error(e.to_string()),
        };
        let length = match config::Duration::from_str(duration) {
            Ok(d) if d.is_zero() => None,
            Ok(d) => Some(d.0.as_secs()),
            Err(e) => return Response::error(e.to_string()),
        };
        let (records, tally) = self.core.plan_import(
            &parsed,
            length,
            list,
            &host::local_addresses(),
            host::now_s(),
        );
        let outbox = self.to_share(&records, Origin::Imported);
        if let Err(e) = self.store.save(&Update {
            bans: &records,
            outbox: &outbox,
            ..Update::default()
        }) {
            self.counters.store_failures += 1;
            return Response::error(format!("cannot record the imported bans: {e}"));
        }
        self.shared(&outbox);
        self.enforce(&ban_orders(&records));
        for rec in records {
            self.core.impose(rec);
        }
        self.counters.imposed(Imposed::Imported, tally.banned);
        log(&format!(
            "imported {list}: {} banned, {} extended, {} banned already for as long, {} refused",
            tally.banned,
            tally.extended,
            tally.kept,
            tally.refused.len()
        ));
        for why in &tally.refused {
            log(&format!("import of {list}: {why}"));
        }
        Response {
            ok: true,
            import: Some(tally),
            ..Response::default()
        }
    }

    /// Lifts a ban here; with `fleet_wide` the other nodes lift their fleet bans of it
    /// too, even where this node has none.
    fn manual_unban(&mut self, text: &str, fleet_wide: bool) -> Response {
        let addr = match Cidr::from_str(text) {
            Ok(t) => t,
            Err(e) => return Response::error(e.to_string()),
        };
        if fleet_wide && self.fleet.is_none() {
            return Response::error(
                "--fleet: this daemon is in no fleet (no [fleet] is configured)",
            );
        }
        let rec = match self.core.plan_unban(addr, host::now_s()) {
            Ok(r) => Some(r),
            Err(crate::decide::Refusal::NotBanned(_)) if fleet_wide => None,
            Err(refusal) => return Response::error(refusal.to_string()),
        };
        // A remote ban lifted here only is this node's business: the others keep theirs.
        let publish = fleet_wide || rec.as_ref().is_some_and(|r| r.node.is_none());
        let outbox = if publish {
            self.unban_to_share(addr, fleet_wide)
        } else {
            Vec::new()
        };
        if let Err(e) = self.store.save(&Update {
            bans: rec.as_slice(),
            endings: &[(addr, "unbanned by hand".to_owned())],
            outbox: &outbox,
            ..Update::default()
        }) {
            self.counters.store_failures += 1;
            return Response::error(format!("cannot record the unban: {e}"));
        }
        self.shared(&outbox);
        let scope = if fleet_wide {
            " and on every fleet node"
        } else {
            ""
        };
        if rec.is_some() {
            let targets = self.core.lift(&[addr]);
            self.counters.lifted(Lifted::Manual, 1);
            self.unenforce(&targets, false);
            log(&format!("unbanned {addr} by hand{scope}"));
            Response::message(format!("unbanned {addr}{scope}"))
        } else {
            log(&format!(
                "unbanned {addr} by hand on every fleet node (not banned here)"
            ));
            Response::message(format!(
                "{addr} is not banned here; unbanned on every fleet node"
            ))
        }
    }

    /// Lifts the bans the policy now protects (the allowlist grew, an address became
    /// this host's): the allowlist always wins, over bans detected, by hand, restored or
    /// adopted. Saved like adopted bans: at once, or with what waits for the store.
    pub(super) fn lift_protected(&mut self) {
        let planned = self.core.plan_lift_protected(host::now_s());
        if planned.is_empty() {
            return;
        }
        for (rec, why) in &planned {
            log(&format!("lifted the ban of {}: {why}", rec.target));
        }
        let endings: Vec<(Cidr, String)> = planned
            .iter()
            .map(|(r, why)| (r.target, format!("lifted: {why}")))
            .collect();
        let records: Vec<BanRecord> = planned.into_iter().map(|(r, _)| r).collect();
        self.counters.lifted(Lifted::Protected, records.len());
        let targets: Vec<Cidr> = records.iter().map(|r| r.target).collect();
        self.keep(records, &endings, &[]);
        let gone = self.core.lift(&targets);
        self.unenforce(&gone, false);
    }

    /// Reads the configuration again; on error the running one stays.
    pub fn reload(&mut self) -> Result<(), DaemonError> {
        let (config, _) = self.options.load().map_err(DaemonError::Config)?;
        super::backends::check(&config).map_err(DaemonError::Backend)?;
        if config.paths.state_dir != self.config.paths.state_dir {
            warn("paths.state-dir changed: it takes effect at the next start");
        }
        if config.fleet != self.config.fleet {
            // The link's threads hold their connections and the stream position.
            warn("[fleet] changed: it takes effect at the next start");
        }
        self.core.set_policy(
            config.detect_policy(host::local_addresses(), host::session_client()),
            config.ban_policy(),
        );
        self.core
            .detector_mut()
            .set_max_tracked(usize::try_from(config.daemon.max_tracked).unwrap_or(usize::MAX));
        let sources_changed = config.paths.logs != self.config.paths.logs
            || config.daemon.journal != self.config.daemon.journal;
        let backends_changed = config.ban.backends != self.config.ban.backends
            || config.ban.ports != self.config.ban.ports
            || config.nftables != self.config.nftables
            || config.ipset != self.config.ipset
            || config.command != self.config.command
            || config.paths.hosts_deny != self.config.paths.hosts_deny
            || config.hosts_deny != self.config.hosts_deny;
        if config.metrics.listen != self.config.metrics.listen {
            // The old listener is closed first: the new one may want its address.
            self.exporter = None;
            self.exporter = config
                .metrics
                .listen
                .clone()
                .map(super::observe::Exporter::new);
        }
        let old = std::mem::replace(&mut self.config, config);
        if backends_changed {
            self.replace_backends();
        } else {
            self.reconcile_backends();
        }
        self.lift_protected();
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
        let active = self.core.active_count() as u64;
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
                    pending: if s.dirty { active } else { 0 },
                    degraded: s.backend.degraded(),
                    refused: s
                        .refused
                        .iter()
                        .map(|(t, why)| format!("{t}: {why}"))
                        .collect(),
                })
                .collect(),
            store_error: self.unsaved.error.clone(),
            unsaved_bans: self.unsaved.ban_count() as u64,
            active_bans: active,
            tracked_addresses: self.core.detector().tracked() as u64,
            events: control::EventCounts {
                auth_failure: c[Kind::AuthFailure.index()],
                invalid_user: c[Kind::InvalidUser.index()],
                probe: c[Kind::Probe.index()],
                success: c[Kind::Success.index()],
                untrusted_logins: self.untrusted_logins,
            },
            lines: self.lines,
            recent: self.recent.iter().cloned().collect(),
            metrics: self.exporter.as_ref().map(super::observe::Exporter::state),
            fleet: self.fleet_info(),
        }
    }
}
