//! The bans of the past: one row per ban in `ban_log` (its target, reason, offence, when
//! it was to end and, if it ended early, when and why) with the scored events behind it.
//! Written by [`Store::save`] from the ban records it is given: a record
//! with a new `banned_at` is a new ban; one whose expiry moved to the past ended early.
//! An expiry needs no write: a ban whose time ran out is read as expired. Bounded by
//! [`HistoryLimits`], pruned as bans are added.

use rusqlite::params;

use super::{Kind, Mark, Store, StoreError, Update, keyed, parse_target, sql};
use crate::addr::Cidr;

/// How much of the past is kept: bans that ended longer than `keep_s` ago are forgotten,
/// and at most `max_bans` bans are kept (the oldest go first). A ban in force is never
/// forgotten by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    pub keep_s: i64,
    pub max_bans: u64,
}

impl Default for HistoryLimits {
    fn default() -> HistoryLimits {
        HistoryLimits {
            keep_s: 90 * 86_400,
            max_bans: 100_000,
        }
    }
}

/// How a ban ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Its time ran out (unix seconds).
    Expired { at: i64 },
    /// Lifted before its time (unix seconds): by hand, or the allowlist grew.
    Lifted { at: i64, why: String },
}

/// A ban, in force or past, as the history keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct PastBan {
    pub target: Cidr,
    pub banned_at: i64,
    /// When it was to end; `None`: permanent.
    pub until: Option<i64>,
    pub offences: u32,
    pub reason: String,
    /// How it ended, if it did by the time asked about.
    pub ending: Option<Ending>,
    /// The scored events that made the detector ban it, oldest first (none for a ban by
    /// hand, adopted or of a network).
    pub events: Vec<Mark>,
}

impl PastBan {
    /// When it ended or ends, if it does.
    pub fn end(&self) -> Option<i64> {
        match &self.ending {
            Some(Ending::Expired { at } | Ending::Lifted { at, .. }) => Some(*at),
            None => self.until,
        }
    }
}

/// The events of a ban as one column: `kind@at_ms+points` joined by spaces. One row per
/// ban keeps a flood of 10,000 bans at two statements each.
fn events_text(marks: &[Mark]) -> String {
    let mut out = String::new();
    for m in marks {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{}@{}+{}", m.kind.as_str(), m.at_ms, m.points));
    }
    out
}

fn parse_events(text: &str) -> Result<Vec<Mark>, StoreError> {
    let bad = || StoreError::BadValue {
        table: "ban_log",
        value: text.to_owned(),
    };
    text.split_ascii_whitespace()
        .map(|e| {
            let (kind, rest) = e.split_once('@').ok_or_else(bad)?;
            let (at, points) = rest.split_once('+').ok_or_else(bad)?;
            Ok(Mark {
                kind: Kind::ALL
                    .into_iter()
                    .find(|k| k.as_str() == kind)
                    .ok_or_else(bad)?,
                at_ms: at.parse().map_err(|_| bad())?,
                points: points.parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// Adds the new bans of `update` to the log, marks those that ended early, and prunes.
pub(super) fn record(
    tx: &rusqlite::Transaction<'_>,
    update: &Update<'_>,
    now: i64,
    limits: HistoryLimits,
) -> Result<(), StoreError> {
    if update.bans.is_empty() {
        return Ok(());
    }
    let ctx = "saving ban history";
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO ban_log (addr, banned_at, until, offences, reason, events)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (addr, banned_at) DO NOTHING",
        )
        .map_err(sql(ctx))?;
    // A record of a ban already logged: its expiry moved into the past (it ended early),
    // or elsewhere (a later length). Neither touches a ban that ended already.
    let mut end = tx
        .prepare_cached(
            "UPDATE ban_log SET ended_at = ?3, lifted = ?4
             WHERE addr = ?1 AND banned_at = ?2 AND ended_at IS NULL
               AND (until IS NULL OR until > ?3)",
        )
        .map_err(sql(ctx))?;
    let mut extend = tx
        .prepare_cached(
            "UPDATE ban_log SET until = ?3, offences = ?4
             WHERE addr = ?1 AND banned_at = ?2 AND ended_at IS NULL AND until IS NOT ?3",
        )
        .map_err(sql(ctx))?;
    let mut added = false;
    for b in update.bans {
        let key = b.target.to_string();
        let failed = |e| keyed(ctx, &key, e);
        let marks = update
            .evidence
            .iter()
            .find(|(t, _)| *t == b.target)
            .map_or(&[][..], |(_, m)| m.as_slice());
        let inserted = insert
            .execute(params![
                key,
                b.banned_at,
                b.expires_at,
                b.offences,
                b.reason,
                events_text(marks)
            ])
            .map_err(failed)?;
        if inserted > 0 {
            added = true;
        } else if let Some(t) = b.expires_at.filter(|&t| t <= now) {
            let why = update
                .endings
                .iter()
                .find(|(t, _)| *t == b.target)
                .map_or("lifted", |(_, w)| w.as_str());
            end.execute(params![key, b.banned_at, t, why])
                .map_err(failed)?;
        } else {
            extend
                .execute(params![key, b.banned_at, b.expires_at, b.offences])
                .map_err(failed)?;
        }
    }
    if added {
        prune(tx, now, limits)?;
    }
    Ok(())
}

/// Forgets what the limits no longer keep.
fn prune(
    tx: &rusqlite::Transaction<'_>,
    now: i64,
    limits: HistoryLimits,
) -> Result<(), StoreError> {
    let ctx = "pruning ban history";
    let cutoff = now.saturating_sub(limits.keep_s);
    tx.prepare_cached("DELETE FROM ban_log WHERE coalesce(ended_at, until) < ?1")
        .map_err(sql(ctx))?
        .execute([cutoff])
        .map_err(sql(ctx))?;
    // Ids only grow: the rows beyond the count are those below the newest id − max.
    let max = i64::try_from(limits.max_bans).unwrap_or(i64::MAX);
    tx.prepare_cached("DELETE FROM ban_log WHERE id <= (SELECT max(id) FROM ban_log) - ?1")
        .map_err(sql(ctx))?
        .execute([max])
        .map_err(sql(ctx))?;
    Ok(())
}

impl Store {
    /// Sets how much of the past is kept (`[history]`); applies from the next save.
    pub fn set_history_limits(&mut self, limits: HistoryLimits) {
        self.limits = limits;
    }

    /// The bans kept, oldest first, with how they had ended at `now`: those that were in
    /// force at or after `since` (every one without it), and with `about`, those whose
    /// target holds that address or is that network.
    pub fn past_bans(
        &self,
        now: i64,
        since: Option<i64>,
        about: Option<Cidr>,
    ) -> Result<Vec<PastBan>, StoreError> {
        let ctx = "reading ban history";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT addr, banned_at, until, offences, reason, events, ended_at, lifted FROM ban_log
                 WHERE banned_at >= ?1 OR ended_at >= ?1 OR until IS NULL OR until >= ?1
                 ORDER BY banned_at, id",
            )
            .map_err(sql(ctx))?;
        let mut rows = stmt.query([since.unwrap_or(i64::MIN)]).map_err(sql(ctx))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql(ctx))? {
            let target = parse_target("ban_log", r.get(0).map_err(sql(ctx))?)?;
            if let Some(about) = about
                && !(target == about || about.is_host() && target.contains(about.net().addr()))
            {
                continue;
            }
            let until: Option<i64> = r.get(2).map_err(sql(ctx))?;
            let ended_at: Option<i64> = r.get(6).map_err(sql(ctx))?;
            let ending = match (ended_at, until) {
                (Some(at), _) => Some(Ending::Lifted {
                    at,
                    why: r
                        .get::<_, Option<String>>(7)
                        .map_err(sql(ctx))?
                        .unwrap_or_default(),
                }),
                (None, Some(at)) if at <= now => Some(Ending::Expired { at }),
                _ => None,
            };
            out.push(PastBan {
                target,
                banned_at: r.get(1).map_err(sql(ctx))?,
                until,
                offences: r.get(3).map_err(sql(ctx))?,
                reason: r.get(4).map_err(sql(ctx))?,
                ending,
                events: parse_events(&r.get::<_, String>(5).map_err(sql(ctx))?)?,
            });
        }
        Ok(out)
    }
}
