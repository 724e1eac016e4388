//! The bans of the past: one row per ban in `ban_log` (its target, reason, offence, when
//! it was to end and, if it ended early, when and why) and the scored events behind it in
//! `ban_events`. Written by [`Store::save`] from the ban records it is given: a record
//! with a new `banned_at` is a new ban; one whose expiry moved to the past ended early.
//! An expiry needs no write: a ban whose time ran out is read as expired. Bounded by
//! [`HistoryLimits`], pruned as bans are added.

use rusqlite::{OptionalExtension, params};

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
    let mut find = tx
        .prepare_cached(
            "SELECT id, until, ended_at FROM ban_log WHERE addr = ?1 AND banned_at = ?2",
        )
        .map_err(sql(ctx))?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO ban_log (addr, banned_at, until, offences, reason)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(sql(ctx))?;
    let mut event = tx
        .prepare_cached(
            "INSERT INTO ban_events (ban_id, at_ms, points, kind) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(sql(ctx))?;
    let mut end = tx
        .prepare_cached("UPDATE ban_log SET ended_at = ?2, lifted = ?3 WHERE id = ?1")
        .map_err(sql(ctx))?;
    let mut extend = tx
        .prepare_cached("UPDATE ban_log SET until = ?2, offences = ?3 WHERE id = ?1")
        .map_err(sql(ctx))?;
    let mut added = false;
    for b in update.bans {
        let key = b.target.to_string();
        let failed = |e| keyed(ctx, &key, e);
        type Row = (i64, Option<i64>, Option<i64>);
        let found: Option<Row> = find
            .query_row(params![key, b.banned_at], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(failed)?;
        match found {
            None => {
                insert
                    .execute(params![
                        key,
                        b.banned_at,
                        b.expires_at,
                        b.offences,
                        b.reason
                    ])
                    .map_err(failed)?;
                added = true;
                let id = tx.last_insert_rowid();
                let marks = update
                    .evidence
                    .iter()
                    .filter(|(t, _)| *t == b.target)
                    .flat_map(|(_, m)| m);
                for m in marks {
                    event
                        .execute(params![id, m.at_ms, m.points, m.kind.as_str()])
                        .map_err(failed)?;
                }
            }
            Some((id, until, None)) if b.expires_at != until => {
                let early = b
                    .expires_at
                    .is_some_and(|t| t <= now && until.is_none_or(|u| t < u));
                if early {
                    let why = update
                        .endings
                        .iter()
                        .find(|(t, _)| *t == b.target)
                        .map_or("lifted", |(_, w)| w.as_str());
                    end.execute(params![id, b.expires_at, why])
                        .map_err(failed)?;
                } else {
                    extend
                        .execute(params![id, b.expires_at, b.offences])
                        .map_err(failed)?;
                }
            }
            Some(_) => {}
        }
    }
    if added {
        prune(tx, now, limits)?;
    }
    Ok(())
}

/// Forgets what the limits no longer keep, with its events.
fn prune(
    tx: &rusqlite::Transaction<'_>,
    now: i64,
    limits: HistoryLimits,
) -> Result<(), StoreError> {
    let ctx = "pruning ban history";
    let cutoff = now.saturating_sub(limits.keep_s);
    let old = tx
        .prepare_cached("DELETE FROM ban_log WHERE coalesce(ended_at, until) < ?1")
        .map_err(sql(ctx))?
        .execute([cutoff])
        .map_err(sql(ctx))?;
    // Ids only grow: the rows beyond the count are those below the newest id − max.
    let newest: i64 = tx
        .query_row("SELECT coalesce(max(id), 0) FROM ban_log", [], |r| r.get(0))
        .map_err(sql(ctx))?;
    let max = i64::try_from(limits.max_bans).unwrap_or(i64::MAX);
    let over = tx
        .prepare_cached("DELETE FROM ban_log WHERE id <= ?1")
        .map_err(sql(ctx))?
        .execute([newest.saturating_sub(max)])
        .map_err(sql(ctx))?;
    if old + over > 0 {
        tx.execute(
            "DELETE FROM ban_events WHERE ban_id NOT IN (SELECT id FROM ban_log)",
            [],
        )
        .map_err(sql(ctx))?;
    }
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
                "SELECT id, addr, banned_at, until, offences, reason, ended_at, lifted FROM ban_log
                 WHERE banned_at >= ?1 OR ended_at >= ?1 OR until IS NULL OR until >= ?1
                 ORDER BY banned_at, id",
            )
            .map_err(sql(ctx))?;
        let mut rows = stmt.query([since.unwrap_or(i64::MIN)]).map_err(sql(ctx))?;
        let mut out = Vec::new();
        let mut ids = Vec::new();
        while let Some(r) = rows.next().map_err(sql(ctx))? {
            let target = parse_target("ban_log", r.get(1).map_err(sql(ctx))?)?;
            if let Some(about) = about
                && !(target == about || about.is_host() && target.contains(about.net().addr()))
            {
                continue;
            }
            let until: Option<i64> = r.get(3).map_err(sql(ctx))?;
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
            ids.push(r.get::<_, i64>(0).map_err(sql(ctx))?);
            out.push(PastBan {
                target,
                banned_at: r.get(2).map_err(sql(ctx))?,
                until,
                offences: r.get(4).map_err(sql(ctx))?,
                reason: r.get(5).map_err(sql(ctx))?,
                ending,
                events: Vec::new(),
            });
        }
        let mut events = self
            .conn
            .prepare_cached(
                "SELECT at_ms, points, kind FROM ban_events WHERE ban_id = ?1 ORDER BY at_ms",
            )
            .map_err(sql(ctx))?;
        for (ban, id) in out.iter_mut().zip(ids) {
            let mut rows = events.query([id]).map_err(sql(ctx))?;
            while let Some(r) = rows.next().map_err(sql(ctx))? {
                let kind: String = r.get(2).map_err(sql(ctx))?;
                ban.events.push(Mark {
                    at_ms: r.get(0).map_err(sql(ctx))?,
                    points: r.get(1).map_err(sql(ctx))?,
                    kind: Kind::ALL.into_iter().find(|k| k.as_str() == kind).ok_or(
                        StoreError::BadValue {
                            table: "ban_events",
                            value: kind,
                        },
                    )?,
                });
            }
        }
        Ok(out)
    }
}
