//! store: the SQLite state that must survive between runs — cursors into log files,
//! bans (with expiry and offence count), the recent history that rebuilds detection
//! windows, addresses trusted because they logged in, and the bans of the past with the
//! events that caused them (`history`, bounded in age and count).
//!
//! Owns the schema and its migrations, and makes each scan's changes atomic (one
//! transaction: a crash leaves the previous state or the new one). Must not decide
//! anything (which address to ban, when a ban expires): callers hand it records.
//! No rusqlite type leaks out of this module.

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::addr::{self, Cidr};
use crate::event::Kind;
use crate::source::Cursor;

/// File name of the database inside the state directory.
pub const DB_FILE: &str = "authban.db";

/// How long a run waits for another one holding the write lock (a cron `scan` meeting
/// the daemon) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema migrations, applied in order; `PRAGMA user_version` is how many were applied.
/// Append only: never edit a step that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema. u64 values (ino, head_hash…) are stored bit for bit as i64.
    "CREATE TABLE cursors (
        source     TEXT PRIMARY KEY NOT NULL,
        dev        INTEGER NOT NULL,
        ino        INTEGER NOT NULL,
        offset     INTEGER NOT NULL,
        line       INTEGER NOT NULL,
        head_len   INTEGER NOT NULL CHECK (head_len BETWEEN 0 AND 4096),
        head_hash  INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE bans (
        addr       TEXT PRIMARY KEY NOT NULL,
        banned_at  INTEGER NOT NULL,
        expires_at INTEGER CHECK (expires_at IS NULL OR expires_at >= banned_at),
        offences   INTEGER NOT NULL CHECK (offences >= 0),
        reason     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX bans_expires_at ON bans (expires_at);
    CREATE TABLE history (
        addr   TEXT NOT NULL,
        at_ms  INTEGER NOT NULL,
        points INTEGER NOT NULL CHECK (points >= 0),
        kind   TEXT NOT NULL
    ) STRICT;
    CREATE INDEX history_addr_at ON history (addr, at_ms);
    CREATE TABLE trusted (
        addr            TEXT PRIMARY KEY NOT NULL,
        last_success_ms INTEGER NOT NULL
    ) STRICT;",
    // 2: positions of sources that are not files (the journal's __CURSOR).
    "CREATE TABLE positions (
        source     TEXT PRIMARY KEY NOT NULL,
        position   TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;",
    // 3: the counters of the slow rules, by address and rule (a rule the configuration
    // no longer has is ignored on load and forgotten on the next save of its address).
    "CREATE TABLE slow (
        addr      TEXT NOT NULL,
        window_ms INTEGER NOT NULL CHECK (window_ms > 0),
        threshold INTEGER NOT NULL CHECK (threshold > 0),
        until_ms  INTEGER NOT NULL,
        PRIMARY KEY (addr, window_ms, threshold)
    ) STRICT;",
    // 4: the bans of the past, one row each with how it ended and the scored events that
    // caused it (see `history`).
    "CREATE TABLE ban_log (
        id        INTEGER PRIMARY KEY,
        addr      TEXT NOT NULL,
        banned_at INTEGER NOT NULL,
        until     INTEGER,
        offences  INTEGER NOT NULL CHECK (offences >= 0),
        reason    TEXT NOT NULL,
        events    TEXT NOT NULL,
        ended_at  INTEGER,
        lifted    TEXT
    ) STRICT;
    CREATE UNIQUE INDEX ban_log_addr ON ban_log (addr, banned_at);
    CREATE INDEX ban_log_end ON ban_log (coalesce(ended_at, until));",
    // 5: the fleet's outbox: what this node decided, until Redis has it (see `outbox`).
    "CREATE TABLE fleet_outbox (
        id      INTEGER PRIMARY KEY,
        op      TEXT NOT NULL CHECK (op IN ('ban', 'unban')),
        target  TEXT NOT NULL,
        at      INTEGER NOT NULL,
        until   INTEGER CHECK (until IS NULL OR until >= at),
        offence INTEGER NOT NULL CHECK (offence >= 0),
        origin  TEXT NOT NULL,
        node    TEXT NOT NULL,
        reason  TEXT NOT NULL
    ) STRICT;",
    // 6: the fleet node a ban came from (NULL: decided here), so only its unban lifts it;
    // the outbox learns the fleet-wide unban (a CHECK is changed by copying the table).
    "ALTER TABLE bans ADD COLUMN node TEXT;
    CREATE TABLE fleet_outbox_6 (
        id      INTEGER PRIMARY KEY,
        op      TEXT NOT NULL CHECK (op IN ('ban', 'unban', 'unban-all')),
        target  TEXT NOT NULL,
        at      INTEGER NOT NULL,
        until   INTEGER CHECK (until IS NULL OR until >= at),
        offence INTEGER NOT NULL CHECK (offence >= 0),
        origin  TEXT NOT NULL,
        node    TEXT NOT NULL,
        reason  TEXT NOT NULL
    ) STRICT;
    INSERT INTO fleet_outbox_6 SELECT * FROM fleet_outbox;
    DROP TABLE fleet_outbox;
    ALTER TABLE fleet_outbox_6 RENAME TO fleet_outbox;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// For messages; `:memory:` in tests.
    path: PathBuf,
    /// How much of the past `ban_log` keeps.
    limits: HistoryLimits,
}

pub use crate::decide::BanRecord;

/// One scored event in an address's detection window: the detector's own type, stored
/// as is (its kind is kept so a changed weight could re-score a window). A [`Tally`] is
/// an address's marks and the counters of its slow rules.
pub use crate::detect::{Level, Mark, Rule, Tally};

/// Everything one scan learned, saved together by [`Store::save`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Update<'a> {
    /// Upserted by source name.
    pub cursors: &'a [(String, Cursor)],
    /// Upserted by address.
    pub bans: &'a [BanRecord],
    /// Some: replaces the whole history with this.
    pub history: Option<&'a [(IpAddr, Tally)]>,
    /// Replaces the history of these addresses only (an empty tally forgets one): what
    /// the daemon saves with each batch of lines.
    pub history_for: &'a [(IpAddr, Tally)],
    /// Upserted by source name: opaque positions such as a journal cursor.
    pub positions: &'a [(String, String)],
    /// Upserted, keeping the later of the stored and the given time (unix ms).
    pub trusted: &'a [(IpAddr, i64)],
    /// Forget trusted addresses whose last success is older than this (unix ms).
    pub forget_trusted_before_ms: Option<i64>,
    /// The scored events behind the new bans of `bans`, kept with them in the history.
    pub evidence: &'a [(Cidr, Vec<Mark>)],
    /// Why bans of `bans` that end now ended ("unbanned by hand"); one not named here
    /// is recorded as "lifted".
    pub endings: &'a [(Cidr, String)],
    /// Appended to the fleet's outbox, to publish: the records of the bans and unbans
    /// of `bans` that this node shares.
    pub outbox: &'a [crate::fleet::record::Record],
}

#[derive(Debug)]
pub enum StoreError {
    /// The database (or its directory) cannot be created or opened, or is not a database.
    Open { path: PathBuf, msg: String },
    /// A statement failed; `context` says what we were doing.
    Sql { context: &'static str, msg: String },
    /// Applying migration `version` failed; the database was left as it was.
    Migrate {
        path: PathBuf,
        version: u32,
        msg: String,
    },
    /// Written by a newer authban: left untouched.
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// A stored value we cannot read back (edited by hand?).
    BadValue { table: &'static str, value: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open { path, msg } => {
                write!(f, "cannot open state database {}: {msg}", path.display())
            }
            StoreError::Sql { context, msg } => write!(f, "state database: {context}: {msg}"),
            StoreError::Migrate { path, version, msg } => write!(
                f,
                "cannot upgrade state database {} to schema version {version}: {msg}",
                path.display()
            ),
            StoreError::NewerSchema {
                path,
                found,
                supported,
            } => write!(
                f,
                "state database {} has schema version {found}, newer than the {supported} \
                 this authban knows: run a newer authban, or move the file away",
                path.display()
            ),
            StoreError::BadValue { table, value } => {
                write!(f, "state database: unreadable value in {table}: {value:?}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Sql {
        context,
        msg: e.to_string(),
    }
}

/// SQLite integers are i64; u64 values are stored with the same bits.
fn to_sql(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

fn from_sql(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

fn addr_text(a: IpAddr) -> String {
    addr::canonical(a).to_string()
}

fn parse_addr(table: &'static str, text: String) -> Result<IpAddr, StoreError> {
    IpAddr::from_str(&text).map_err(|_| StoreError::BadValue { table, value: text })
}

/// A ban's key: an address, or a network (`198.51.100.0/24`), as `list` shows it. Rows
/// written before networks were banned hold addresses, which read the same way.
fn parse_target(table: &'static str, text: String) -> Result<Cidr, StoreError> {
    Cidr::from_str(&text).map_err(|_| StoreError::BadValue { table, value: text })
}

impl Store {
    /// Opens `<dir>/authban.db`, creating the directory (mode 0700) and the file (mode
    /// 0600) if missing, and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        let open_err = |msg: String| StoreError::Open {
            path: path.clone(),
            msg,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::Open {
                path: dir.to_path_buf(),
                msg: format!("cannot create the directory: {e}"),
            })?;
        // Created by us rather than by SQLite so that it is never readable by others, not
        // even for an instant (it lists who logged in from where).
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(open_err(e.to_string())),
        }
        if !fs::metadata(&path)
            .map_err(|e| open_err(e.to_string()))?
            .is_file()
        {
            return Err(open_err("not a regular file".into()));
        }
        // No URI flag: a state directory named `file:…` must stay a plain path.
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|e| open_err(e.to_string()))?;
        Store::init(conn, path, true)
    }

    /// A private database in memory, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        Store::init(conn, path, false)
    }

    fn init(conn: Connection, path: PathBuf, wal: bool) -> Result<Store, StoreError> {
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.clone(),
            msg: e.to_string(),
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Read before anything writes: this is where a file that is not a database is
        // found out, and a newer schema must be refused before WAL mode changes its header.
        let found = read_version(&conn).map_err(open_err)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if wal {
            // Readers (status) never block the writer (scan) and vice versa.
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(open_err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Open {
                    path,
                    msg: format!("cannot switch to WAL mode (journal mode is {mode})"),
                });
            }
            // In WAL mode NORMAL loses no committed transaction when the process is
            // killed (only on power loss), and spares the daemon an fsync per batch.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(open_err)?;
        }
        // A page cache of 512 KiB instead of SQLite's 2 MiB: the daemon writes small
        // transactions and reads everything once at start; this is resident memory.
        conn.pragma_update(None, "cache_size", -512)
            .map_err(open_err)?;
        let mut store = Store {
            conn,
            path,
            limits: HistoryLimits::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |version: u32| {
            let path = path.clone();
            move |e: rusqlite::Error| StoreError::Migrate {
                path,
                version,
                msg: e.to_string(),
            }
        };
        // The common case takes no write lock, so `status` never waits for a scan here.
        if read_version(&self.conn).map_err(fail(SCHEMA_VERSION))? == SCHEMA_VERSION {
            return Ok(());
        }
        // IMMEDIATE: two runs starting together must not both apply the same step.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail(SCHEMA_VERSION))?;
        let current = read_version(&tx).map_err(fail(SCHEMA_VERSION))?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as u32 + 1;
            tx.execute_batch(step).map_err(fail(version))?;
            tx.pragma_update(None, "user_version", version)
                .map_err(fail(version))?;
        }
        tx.commit().map_err(fail(SCHEMA_VERSION))
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        read_version(&self.conn).map_err(sql("reading the schema version"))
    }

    /// The cursor saved for `source` (a log path, or a journal name).
    pub fn cursor(&self, source: &str) -> Result<Option<Cursor>, StoreError> {
        self.conn
            .query_row(
                "SELECT dev, ino, offset, line, head_len, head_hash FROM cursors WHERE source = ?1",
                [source],
                |r| {
                    Ok(Cursor {
                        dev: from_sql(r.get(0)?),
                        ino: from_sql(r.get(1)?),
                        offset: from_sql(r.get(2)?),
                        line: from_sql(r.get(3)?),
                        head_len: r.get(4)?,
                        head_hash: from_sql(r.get(5)?),
                    })
                },
            )
            .optional()
            .map_err(sql("reading a cursor"))
    }

    /// Every ban, expired ones included (their offence counts drive escalation).
    /// The saved position of a source that is not a file (the journal's cursor).
    pub fn position(&self, source: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT position FROM positions WHERE source = ?1",
                [source],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| keyed("reading a position", source, e))
    }

    pub fn bans(&self) -> Result<Vec<BanRecord>, StoreError> {
        self.query_bans(
            "SELECT addr, banned_at, expires_at, offences, reason, node FROM bans ORDER BY addr",
            None,
        )
    }

    /// Bans in force at `now_unix` (seconds): permanent, or expiring later.
    pub fn active_bans(&self, now_unix: i64) -> Result<Vec<BanRecord>, StoreError> {
        self.query_bans(
            "SELECT addr, banned_at, expires_at, offences, reason, node FROM bans
             WHERE expires_at IS NULL OR expires_at > ?1 ORDER BY addr",
            Some(now_unix),
        )
    }

    fn query_bans(&self, query: &str, now: Option<i64>) -> Result<Vec<BanRecord>, StoreError> {
        let mut stmt = self.conn.prepare(query).map_err(sql("reading bans"))?;
        let rows = match now {
            Some(now) => stmt.query(params![now]),
            None => stmt.query([]),
        };
        let mut rows = rows.map_err(sql("reading bans"))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql("reading bans"))? {
            let text: String = r.get(0).map_err(sql("reading bans"))?;
            type Row = (i64, Option<i64>, u32, String, Option<String>);
            let read = || -> rusqlite::Result<Row> {
                Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            };
            let (banned_at, expires_at, offences, reason, node) =
                read().map_err(sql("reading bans"))?;
            out.push(BanRecord {
                target: parse_target("bans", text)?,
                banned_at,
                expires_at,
                offences,
                reason: reason.into(),
                node: node.map(Into::into),
            });
        }
        Ok(out)
    }

    /// The saved tallies: per address, its marks oldest first and its slow counters.
    pub fn history(&self) -> Result<Vec<(IpAddr, Tally)>, StoreError> {
        let mut out = std::collections::BTreeMap::<IpAddr, Tally>::new();
        for (addr, marks) in self.marks()? {
            out.entry(addr).or_default().marks = marks;
        }
        let ctx = "reading slow counters";
        let mut stmt = self
            .conn
            .prepare("SELECT addr, window_ms, threshold, until_ms FROM slow ORDER BY addr")
            .map_err(sql(ctx))?;
        let mut rows = stmt.query([]).map_err(sql(ctx))?;
        while let Some(r) = rows.next().map_err(sql(ctx))? {
            let addr = parse_addr("slow", r.get(0).map_err(sql(ctx))?)?;
            let level = Level {
                rule: Rule {
                    window_ms: r.get(1).map_err(sql(ctx))?,
                    threshold: r.get(2).map_err(sql(ctx))?,
                },
                until_ms: r.get(3).map_err(sql(ctx))?,
            };
            out.entry(addr).or_default().levels.push(level);
        }
        Ok(out.into_iter().collect())
    }

    /// The saved marks, per address oldest first.
    fn marks(&self) -> Result<Vec<(IpAddr, Vec<Mark>)>, StoreError> {
        let ctx = "reading history";
        let mut stmt = self
            .conn
            .prepare("SELECT addr, at_ms, points, kind FROM history ORDER BY addr, at_ms")
            .map_err(sql(ctx))?;
        let mut rows = stmt.query([]).map_err(sql(ctx))?;
        let mut out: Vec<(IpAddr, Vec<Mark>)> = Vec::new();
        let mut last_text = String::new();
        while let Some(r) = rows.next().map_err(sql(ctx))? {
            let text: String = r.get(0).map_err(sql(ctx))?;
            let kind: String = r.get(3).map_err(sql(ctx))?;
            let mark = Mark {
                at_ms: r.get(1).map_err(sql(ctx))?,
                points: r.get(2).map_err(sql(ctx))?,
                kind: Kind::ALL.into_iter().find(|k| k.as_str() == kind).ok_or(
                    StoreError::BadValue {
                        table: "history",
                        value: kind,
                    },
                )?,
            };
            // Rows come grouped by their text, so one parse per address.
            match out.last_mut() {
                Some((_, marks)) if text == last_text => marks.push(mark),
                _ => {
                    out.push((parse_addr("history", text.clone())?, vec![mark]));
                    last_text = text;
                }
            }
        }
        Ok(out)
    }

    /// Addresses that logged in, with their last success (unix ms).
    pub fn trusted(&self) -> Result<Vec<(IpAddr, i64)>, StoreError> {
        let ctx = "reading trusted addresses";
        let mut stmt = self
            .conn
            .prepare("SELECT addr, last_success_ms FROM trusted ORDER BY addr")
            .map_err(sql(ctx))?;
        let mut rows = stmt.query([]).map_err(sql(ctx))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql(ctx))? {
            let text: String = r.get(0).map_err(sql(ctx))?;
            let ms: i64 = r.get(1).map_err(sql(ctx))?;
            out.push((parse_addr("trusted", text)?, ms));
        }
        Ok(out)
    }

    /// Saves everything one scan learned in one transaction: on any error nothing of
    /// `update` is kept.
    pub fn save(&mut self, update: &Update<'_>) -> Result<(), StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting to save"))?;
        {
            let ctx = "saving a cursor";
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO cursors (source, dev, ino, offset, line, head_len, head_hash, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (source) DO UPDATE SET dev = excluded.dev, ino = excluded.ino,
                       offset = excluded.offset, line = excluded.line, head_len = excluded.head_len,
                       head_hash = excluded.head_hash, updated_at = excluded.updated_at",
                )
                .map_err(sql(ctx))?;
            for (source, c) in update.cursors {
                stmt.execute(params![
                    source,
                    to_sql(c.dev),
                    to_sql(c.ino),
                    to_sql(c.offset),
                    to_sql(c.line),
                    c.head_len,
                    to_sql(c.head_hash),
                    now
                ])
                .map_err(|e| keyed(ctx, source, e))?;
            }

            let ctx = "saving a ban";
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO bans (addr, banned_at, expires_at, offences, reason, node)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (addr) DO UPDATE SET banned_at = excluded.banned_at,
                       expires_at = excluded.expires_at, offences = excluded.offences,
                       reason = excluded.reason, node = excluded.node",
                )
                .map_err(sql(ctx))?;
            for b in update.bans {
                let key = b.target.to_string();
                stmt.execute(params![
                    key,
                    b.banned_at,
                    b.expires_at,
                    b.offences,
                    b.reason,
                    b.node
                ])
                .map_err(|e| keyed(ctx, &key, e))?;
            }
            history::record(&tx, update, now, self.limits)?;
            outbox::record(&tx, update)?;

            if let Some(history) = update.history {
                tx.execute_batch("DELETE FROM history; DELETE FROM slow;")
                    .map_err(sql("saving history"))?;
                save_tallies(&tx, history, false)?;
            }
            save_tallies(&tx, update.history_for, true)?;

            let ctx = "saving a position";
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO positions (source, position, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (source) DO UPDATE SET position = excluded.position,
                       updated_at = excluded.updated_at",
                )
                .map_err(sql(ctx))?;
            for (source, position) in update.positions {
                stmt.execute(params![source, position, now])
                    .map_err(|e| keyed(ctx, source, e))?;
            }

            let ctx = "saving a trusted address";
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO trusted (addr, last_success_ms) VALUES (?1, ?2)
                     ON CONFLICT (addr) DO UPDATE
                       SET last_success_ms = max(last_success_ms, excluded.last_success_ms)",
                )
                .map_err(sql(ctx))?;
            for (a, ms) in update.trusted {
                let key = addr_text(*a);
                stmt.execute(params![key, ms])
                    .map_err(|e| keyed(ctx, &key, e))?;
            }
            if let Some(before) = update.forget_trusted_before_ms {
                tx.execute("DELETE FROM trusted WHERE last_success_ms < ?1", [before])
                    .map_err(sql("forgetting old trusted addresses"))?;
            }
        }
        tx.commit().map_err(sql("committing"))
    }
}

/// Writes the tallies of some addresses, each replacing what was saved for its address
/// when `replace` (the table holds none of them otherwise).
fn save_tallies(
    tx: &rusqlite::Transaction<'_>,
    tallies: &[(IpAddr, Tally)],
    replace: bool,
) -> Result<(), StoreError> {
    if tallies.is_empty() {
        return Ok(());
    }
    let ctx = "saving history";
    let mut forget_marks = tx
        .prepare_cached("DELETE FROM history WHERE addr = ?1")
        .map_err(sql(ctx))?;
    let mut forget_levels = tx
        .prepare_cached("DELETE FROM slow WHERE addr = ?1")
        .map_err(sql(ctx))?;
    let mut mark = tx
        .prepare_cached("INSERT INTO history (addr, at_ms, points, kind) VALUES (?1, ?2, ?3, ?4)")
        .map_err(sql(ctx))?;
    let mut level = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO slow (addr, window_ms, threshold, until_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(sql(ctx))?;
    for (a, tally) in tallies {
        let key = addr_text(*a);
        let failed = |e| keyed(ctx, &key, e);
        if replace {
            forget_marks.execute([&key]).map_err(failed)?;
            forget_levels.execute([&key]).map_err(failed)?;
        }
        for m in &tally.marks {
            mark.execute(params![key, m.at_ms, m.points, m.kind.as_str()])
                .map_err(failed)?;
        }
        for l in &tally.levels {
            level
                .execute(params![key, l.rule.window_ms, l.rule.threshold, l.until_ms])
                .map_err(failed)?;
        }
    }
    Ok(())
}

/// An SQL error about one record, naming it.
fn keyed(context: &'static str, key: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Sql {
        context,
        msg: format!("{key}: {e}"),
    }
}

fn read_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

mod history;
mod lock;
mod outbox;
#[cfg(test)]
mod tests;

pub use history::{Ending, HistoryLimits, PastBan};

pub use lock::{InstanceLock, LockError, Role as LockRole};
