//! The engine's work on a batch of log lines and on each tick: parse, let the decision
//! core decide, enforce its bans, save; and lift the bans that expired.
//!
//! Enforcement comes before the save: an SQLite commit (and now and then a WAL checkpoint)
//! must not stand between the line that crossed the threshold and the drop rule.

use std::time::Instant;

use super::{Engine, RECENT, list, log};
use crate::ban::BanOrder;
use crate::config;
use crate::control;
use crate::decide::{NewBan, Notice, Orders};
use crate::detect;
use crate::host;
use crate::parse::Parser;
use crate::source::{self, Position};
use crate::store::{BanRecord, Update};

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
            let at = ev.time.map_or(now_ms, |t| t.unix_ms());
            self.core.observe(&ev, at, now_s, &mut orders);
        }
        self.lines += batch.count as u64;
        if let Some(s) = self.sources.get_mut(&batch.source) {
            s.lines += batch.count as u64;
        }
        report(&orders);
        self.enforce(&ban_orders(&orders.bans));
        let records: Vec<BanRecord> = orders.bans.into_iter().map(|b| b.record).collect();
        let history = self.core.detector_mut().take_touched();
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
            trusted: &orders.logins,
            // Logins older than the trust period protect nobody: forget them as new ones
            // come, so the table stays the size of the recent users.
            forget_trusted_before_ms: (!orders.logins.is_empty())
                .then(|| now_ms.saturating_sub(trust_ms)),
            ..Update::default()
        };
        if let Err(e) = self.store.save(&update) {
            // Nothing of this batch is recorded; the bans are enforced (the attack is
            // real) and the lines are read again after a restart.
            log(&format!("cannot save state: {e}"));
        }
    }

    /// Lifts bans that expired, and tends the backends.
    pub fn tick(&mut self) {
        let lifted = self.core.expire(host::now_s());
        if !lifted.records.is_empty() {
            self.unenforce(&lifted.targets, true);
            let addrs: Vec<_> = lifted.records.iter().map(|b| b.addr).collect();
            log(&format!(
                "{} ban{} expired: {}",
                addrs.len(),
                if addrs.len() == 1 { "" } else { "s" },
                list(&addrs)
            ));
        }
        self.tend_backends();
    }
}

/// What the backends get for new bans.
pub(super) fn ban_orders(bans: &[NewBan]) -> Vec<BanOrder> {
    bans.iter()
        .map(|b| BanOrder {
            target: b.target,
            expires_at: b.record.expires_at,
        })
        .collect()
}

/// `for 1d`, or `permanently`.
pub(super) fn how_long(record: &BanRecord) -> String {
    record.length().map_or("permanently".to_owned(), |l| {
        format!("for {}", config::Duration::from_secs(l))
    })
}

/// Logs the bans and notices of a batch.
fn report(orders: &Orders) {
    for b in &orders.bans {
        let r = &b.record;
        let net = if b.target.is_host() {
            String::new()
        } else {
            format!(" as {}", b.target)
        };
        log(&format!(
            "banned {}{net} {} (offence {}): {}",
            r.addr,
            how_long(r),
            r.offences,
            r.reason
        ));
    }
    for n in &orders.notices {
        match n {
            Notice::Spared { addr, why, reason } => {
                log(&format!("not banning {addr}: {why} ({reason})"));
            }
            Notice::LoginAfterFailures { addr, score, .. } => log(&format!(
                "warning: {addr} logged in after failures (score {:.1}): check that login",
                f64::from(*score) / detect::POINTS_PER_UNIT
            )),
        }
    }
}
