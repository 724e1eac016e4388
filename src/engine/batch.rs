//! The engine's work on a batch of log lines and on each tick: parse, let the decision
//! core decide, enforce its bans, save; and lift the bans that expired.
//!
//! Enforcement comes before the save: an SQLite commit (and now and then a WAL checkpoint)
//! must not stand between the line that crossed the threshold and the drop rule.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use super::observe::{Imposed, Lifted};
use super::{Engine, RECENT, error, list, log, warn};
use crate::addr::Cidr;
use crate::ban::BanOrder;
use crate::config;
use crate::control;
use crate::decide::{Notice, Orders};
use crate::detect;
use crate::event::{Event, Kind};
use crate::fleet::record::{Origin, Record};
use crate::host;
use crate::parse::Parser;
use crate::source::{self, Position};
use crate::store::{BanRecord, Tally, Update};

/// A parser older than this is replaced: RFC 3164 lines have no year, and the parser
/// infers it from its reference time, which must follow the clock (a parser made in
/// December would date January's lines a year back).
const PARSER_REFERENCE_AGE: std::time::Duration = std::time::Duration::from_secs(60);

impl Engine {
    /// Processes one batch of lines: decide, enforce, then save.
    pub(super) fn lines(&mut self, batch: source::Batch) {
        let now_ms = host::now_ms();
        let now_s = now_ms.div_euclid(1000);
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
        let from_journal = batch.source == source::JOURNAL;
        let mut orders = Orders::default();
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
            if ev.kind == Kind::Success
                && !self.config.policy.trust_logins.grants(&ev, from_journal)
            {
                self.untrusted_logins += 1;
                warn(&untrusted_login(&ev));
                continue;
            }
            let at = ev.time.map_or(now_ms, |t| t.unix_ms());
            self.core.observe(&ev, at, now_s, &mut orders);
        }
        self.lines += batch.count as u64;
        if let Some(s) = self.sources.get_mut(&batch.source) {
            s.lines += batch.count as u64;
        }
        report(&orders);
        self.enforce(&ban_orders(&orders.bans));
        if !orders.bans.is_empty() {
            self.counters.reacted(batch.read_at, orders.bans.len());
            let escalated = orders.bans.iter().filter(|b| b.offences > 1).count();
            self.counters.imposed(Imposed::Escalated, escalated);
            self.counters
                .imposed(Imposed::Detected, orders.bans.len() - escalated);
        }
        let outbox = self.to_share(&orders.bans, Origin::Detected);
        let records = orders.bans;
        // Kept only by the save that takes its bans: while the store fails, the bans wait
        // in memory and their evidence is not kept (their reasons still say the arithmetic).
        let evidence = orders.evidence;
        let history = self.core.detector_mut().take_touched();
        let failing = self.unsaved.error.is_some();
        let logins = orders.logins;
        // While the store fails, this batch joins what is waiting and all of it is saved
        // together (this batch's values win); otherwise it is saved as it is.
        let (records, history, logins, outbox) = if failing {
            self.unsaved.absorb(records, history, logins, outbox);
            self.unsaved.contents()
        } else {
            (records, history, logins, outbox)
        };
        let mut cursors = Vec::new();
        let mut positions = Vec::new();
        match &batch.position {
            Position::File(c) => cursors.push((batch.source.clone(), c.clone())),
            Position::Journal(c) => positions.push((source::JOURNAL.to_owned(), c.clone())),
            Position::Stream => {}
        }
        let trust_ms = self.core.detector().policy().trust_ms;
        let update = Update {
            cursors: &cursors,
            bans: &records,
            history_for: &history,
            positions: &positions,
            trusted: &logins,
            // Logins older than the trust period protect nobody: forget them as new ones
            // come, so the table stays the size of the recent users.
            forget_trusted_before_ms: (!logins.is_empty()).then(|| now_ms.saturating_sub(trust_ms)),
            evidence: &evidence,
            outbox: &outbox,
            ..Update::default()
        };
        let result = self.store.save(&update);
        if result.is_ok() {
            self.shared(&outbox);
        } else if !failing {
            self.unsaved.absorb(records, history, logins, outbox);
        }
        self.saved(result);
    }

    /// Saves ban records decided outside a batch of lines (adopted from a backend,
    /// applied from the fleet), or keeps them with what is unsaved, retried until the
    /// store takes them. `endings` says why bans of `records` that end now ended, for the
    /// history; `positions` are saved with them, or not at all.
    pub(super) fn keep(
        &mut self,
        records: Vec<BanRecord>,
        endings: &[(Cidr, String)],
        positions: &[(String, String)],
    ) {
        if self.unsaved.error.is_some() {
            self.unsaved
                .absorb(records, Vec::new(), Vec::new(), Vec::new());
            return;
        }
        let result = self.store.save(&Update {
            bans: &records,
            endings,
            positions,
            ..Update::default()
        });
        if result.is_err() {
            self.unsaved
                .absorb(records, Vec::new(), Vec::new(), Vec::new());
        }
        self.saved(result);
    }

    /// Records the outcome of a save of everything unsaved: on success it is forgotten,
    /// on failure kept (the bans stay enforced: the attack is real) and said.
    fn saved(&mut self, result: Result<(), crate::store::StoreError>) {
        match result {
            Ok(()) => {
                if self.unsaved.error.take().is_some() {
                    log(&format!(
                        "state saved again, with the {} bans decided while it could not be",
                        self.unsaved.bans.len()
                    ));
                }
                self.unsaved.clear();
            }
            Err(e) => {
                self.counters.store_failures += 1;
                error(&format!(
                    "cannot save state: {e}; {} decided bans are kept in memory and saved when \
                     the store can be written",
                    self.unsaved.bans.len()
                ));
                self.unsaved.error = Some(e.to_string());
                self.unsaved.failed_at = Some(Instant::now());
            }
        }
    }

    /// Tries again to save what a failed save left.
    fn retry_save(&mut self) {
        let due = self
            .unsaved
            .failed_at
            .is_some_and(|t| t.elapsed() >= SAVE_RETRY);
        if !due {
            return;
        }
        let (records, history, logins, outbox) = self.unsaved.contents();
        let result = self.store.save(&Update {
            bans: &records,
            history_for: &history,
            trusted: &logins,
            outbox: &outbox,
            ..Update::default()
        });
        if result.is_ok() {
            self.shared(&outbox);
        }
        self.saved(result);
    }

    /// Lifts bans that expired, and tends the backends.
    pub fn tick(&mut self) {
        let lifted = self.core.expire(host::now_s());
        if !lifted.records.is_empty() {
            self.counters.lifted(Lifted::Expired, lifted.records.len());
            let addrs = lifted.targets();
            self.unenforce(&addrs, true);
            log(&format!(
                "{} ban{} expired: {}",
                addrs.len(),
                if addrs.len() == 1 { "" } else { "s" },
                list(&addrs)
            ));
        }
        self.tend_backends();
        self.retry_save();
        self.publish_metrics();
    }
}

/// How often a failed save is retried.
const SAVE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Bans, windows, logins and the fleet's outbox, as [`Update`] takes them.
type Contents = (
    Vec<BanRecord>,
    Vec<(IpAddr, Tally)>,
    Vec<(IpAddr, i64)>,
    Vec<Record>,
);

/// Decided state the store has not taken yet.
#[derive(Debug, Default)]
pub(super) struct Unsaved {
    bans: HashMap<Cidr, BanRecord>,
    history: HashMap<IpAddr, Tally>,
    logins: HashMap<IpAddr, i64>,
    /// Records for the fleet, in the order decided: published once saved.
    outbox: Vec<Record>,
    /// The store's last error, while it fails.
    pub(super) error: Option<String>,
    failed_at: Option<Instant>,
}

impl Unsaved {
    fn absorb(
        &mut self,
        bans: Vec<BanRecord>,
        history: Vec<(IpAddr, Tally)>,
        logins: Vec<(IpAddr, i64)>,
        outbox: Vec<Record>,
    ) {
        self.outbox.extend(outbox);
        self.bans.extend(bans.into_iter().map(|b| (b.target, b)));
        self.history.extend(history);
        for (a, at) in logins {
            let slot = self.logins.entry(a).or_insert(at);
            *slot = (*slot).max(at);
        }
    }

    /// Everything to save, as the store takes it.
    fn contents(&self) -> Contents {
        (
            self.bans.values().cloned().collect(),
            self.history.iter().map(|(a, m)| (*a, m.clone())).collect(),
            self.logins.iter().map(|(a, t)| (*a, *t)).collect(),
            self.outbox.clone(),
        )
    }

    fn clear(&mut self) {
        self.outbox.clear();
        self.bans.clear();
        self.history.clear();
        self.logins.clear();
        self.failed_at = None;
    }

    pub(super) fn ban_count(&self) -> usize {
        self.bans.len()
    }

    pub(super) fn outbox_len(&self) -> usize {
        self.outbox.len()
    }
}

/// What the backends get for new bans.
pub(super) fn ban_orders(bans: &[BanRecord]) -> Vec<BanOrder> {
    bans.iter().map(BanRecord::order).collect()
}

/// `for 1d`, or `permanently`.
pub(super) fn how_long(record: &BanRecord) -> String {
    record.length().map_or("permanently".to_owned(), |l| {
        format!("for {}", config::Duration::from_secs(l))
    })
}

/// Why a login of a log file grants no trust: its line could be anyone's.
fn untrusted_login(ev: &Event<'_>) -> String {
    let pid = ev
        .pid
        .map_or_else(|| "no pid".to_owned(), |p| format!("sshd[{p}]"));
    let port = ev
        .port
        .map_or_else(|| "no port".to_owned(), |p| format!("port {p}"));
    format!(
        "login of {} ({pid}, {port}) not trusted: no process of root's named sshd holds that \
         connection (a line forged into the log, or a session already closed); \
         policy.trust-logins = \"any\" trusts every login",
        ev.addr
    )
}

/// Logs the bans and notices of a batch.
fn report(orders: &Orders) {
    for b in &orders.bans {
        let r = b;
        log(&format!(
            "banned {} {} (offence {}): {}",
            r.target,
            how_long(r),
            r.offences,
            r.reason
        ));
    }
    for n in &orders.notices {
        match n {
            Notice::Spared {
                target,
                why,
                reason,
            } => {
                log(&format!("not banning {target}: {why} ({reason})"));
            }
            Notice::LoginAfterFailures { addr, score, .. } => warn(&format!(
                "warning: {addr} logged in after failures (score {:.1}): check that login",
                f64::from(*score) / detect::POINTS_PER_UNIT
            )),
        }
    }
}
