//! The fleet's outbox: the bans and unbans this node decided, to publish on the fleet's
//! stream. Written by [`Store::save`] in the transaction of the ban itself, so a ban in
//! force is never missing from it (a crash between the two cannot happen), and deleted
//! only once Redis took it: while Redis is away the records wait here, across restarts.

use std::str::FromStr;

use rusqlite::params;

use super::{Store, StoreError, Update, keyed, parse_target, sql};
use crate::fleet::record::{Op, Origin, Record};

/// Called by `Store::save` inside its transaction.
pub(super) fn record(
    tx: &rusqlite::Transaction<'_>,
    update: &Update<'_>,
) -> Result<(), StoreError> {
    if update.outbox.is_empty() {
        return Ok(());
    }
    let ctx = "saving to the fleet's outbox";
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO fleet_outbox (op, target, at, until, offence, origin, node, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(sql(ctx))?;
    for r in update.outbox {
        let key = r.target.to_string();
        let op = r.op.as_str();
        stmt.execute(params![
            op,
            key,
            r.at,
            r.until,
            r.offence,
            r.origin.as_str(),
            r.node,
            r.reason
        ])
        .map_err(|e| keyed(ctx, &key, e))?;
    }
    Ok(())
}

impl Store {
    /// The oldest `limit` records waiting to be published, with their ids, in order.
    pub fn outbox(&self, limit: usize) -> Result<Vec<(i64, Record)>, StoreError> {
        let ctx = "reading the fleet's outbox";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, op, target, at, until, offence, origin, node, reason
                 FROM fleet_outbox ORDER BY id LIMIT ?1",
            )
            .map_err(sql(ctx))?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                    row.get::<_, u32>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, String>(8)?,
                ))
            })
            .map_err(sql(ctx))?;
        let bad = |value: String| StoreError::BadValue {
            table: "fleet_outbox",
            value,
        };
        let mut out = Vec::new();
        for row in rows {
            let (id, op, target, at, until, offence, origin, node, reason) =
                row.map_err(sql(ctx))?;
            let op = Op::from_str(&op).map_err(|()| bad(op.clone()))?;
            let origin = Origin::from_str(&origin).map_err(|()| bad(origin.clone()))?;
            out.push((
                id,
                Record {
                    op,
                    target: parse_target("fleet_outbox", target)?,
                    at,
                    until,
                    offence,
                    origin,
                    node,
                    reason,
                },
            ));
        }
        Ok(out)
    }

    /// Forgets the records up to `id`, once Redis has them.
    pub fn published(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM fleet_outbox WHERE id <= ?1", [id])
            .map(drop)
            .map_err(sql("forgetting published records"))
    }

    /// How many records wait (for `fleet status` and the metrics).
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM fleet_outbox", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(sql("counting the fleet's outbox"))
    }
}
