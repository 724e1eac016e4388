//! link: the daemon's two threads (fleet, `[fleet]`) that talk to the fleet's Redis, each on its own
//! connection, and the layout of the keys they use.
//!
//! The *publisher* sends what this node decided: it reads the outbox on its own store
//! connection, writes each record to the stream and to the bans in force, and deletes it
//! from the outbox only once Redis took it. The engine wakes it after each save that
//! added to the outbox; it also looks every second, so a record waiting while Redis was
//! away goes out on reconnect.
//!
//! The *follower* reads the stream with a blocking `XREAD` from the last entry the store
//! says was applied (no polling: Redis answers the moment an entry is added) and hands
//! other nodes' records to the engine, which applies them through the decision core and
//! saves the entry's id with the bans it made. A node that is new, or was away longer than
//! the stream keeps, first reads the bans in force. With a quorum, a starting node first
//! reads the entries of the quorum's window it applied before, for their reports only.
//!
//! Neither thread touches the bans: a fleet problem (Redis away, a refused command, a
//! bad entry) is said in the log and `status`, retried with back-off, and never stops or
//! slows local protection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::fleet::record::{Op, Record};
use crate::fleet::resp::{Conn, Endpoint, Reply, RespError};
use crate::store::Store;

/// How long a connection attempt or a reply may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long one `XREAD` blocks on the server before it is sent again (a stop is seen
/// within this).
const BLOCK: Duration = Duration::from_secs(1);
/// The most records read or published in one round trip.
const BATCH: usize = 1000;
/// Bans in force read and applied at a time by a node that catches up.
const IN_FORCE_PART: usize = 10_000;
/// Back-off between reconnections: doubled from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(30));
/// How often the publisher says the node is alive and drops ended bans from the set.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// The position key in the store's `positions` table.
pub const POSITION: &str = "fleet";

/// The Redis keys of one fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Stream of ban and unban records, trimmed by length.
    pub stream: String,
    /// Hash of bans in force: field `TARGET NODE`, value the encoded record.
    pub bans: String,
    /// Sorted set of the same fields, scored by their end (`+inf` permanent), to drop
    /// ended bans from `bans`.
    pub ends: String,
    /// Hash: node → when it was last seen (unix ms) and its last record.
    pub nodes: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            stream: format!("{prefix}:stream"),
            bans: format!("{prefix}:bans"),
            ends: format!("{prefix}:ends"),
            nodes: format!("{prefix}:nodes"),
        }
    }
}

/// The field of a ban in the bans in force.
fn ban_field(r: &Record) -> String {
    format!("{} {}", r.target, r.node)
}

/// What a link needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its files are read at every connection, so a fixed one needs no restart.
    pub endpoint: Endpoint,
    pub node: String,
    pub keys: Keys,
    pub stream_length: u64,
    /// The store the publisher reads the outbox from.
    pub state_dir: PathBuf,
    /// The id of the last entry applied, from the store.
    pub applied: Option<String>,
    /// With a quorum: its window, in seconds. The entries applied within it before this
    /// start are read again, once, for their reports (which live in memory).
    pub quorum_window_s: Option<u64>,
}

/// What the follower hands the engine.
#[derive(Debug)]
pub enum Arrival {
    /// Other nodes' records, in stream order; `last_id` is the last entry read, to save
    /// as applied with what they did.
    Entries {
        last_id: String,
        records: Vec<Record>,
    },
    /// Bans in force, read by a node that is new or was away longer than the stream
    /// keeps, in parts as they are read; the last part has the `last_id` the stream
    /// follows from.
    InForce {
        last_id: Option<String>,
        records: Vec<Record>,
    },
    /// Records applied before this start, within the quorum's window: reports to count
    /// again, never bans to apply (what they did is in the store).
    Reports { records: Vec<Record> },
}

/// How the link is, for `status`, `fleet status` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub following: bool,
    pub publishing: bool,
    /// The last error of either connection, while it lasts.
    pub error: Option<String>,
    /// The last stream entry read.
    pub last_id: Option<String>,
    pub received: u64,
    pub published: u64,
    /// Entries that were not records this version reads (said in the log).
    pub bad_entries: u64,
    pub reconnects: u64,
}

/// The running link.
#[derive(Debug)]
pub struct Link {
    state: Arc<Mutex<State>>,
    wake: SyncSender<()>,
    stop: Arc<AtomicBool>,
}

impl Link {
    /// Starts both threads; arrivals go to `arrivals`.
    pub fn start(settings: Settings, arrivals: SyncSender<Arrival>) -> std::io::Result<Link> {
        let state = Arc::new(Mutex::new(State {
            last_id: settings.applied.clone(),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, woken) = mpsc::sync_channel(1);
        let s = Shared {
            settings: Arc::new(settings),
            state: state.clone(),
            stop: stop.clone(),
        };
        let follower = s.clone();
        thread::Builder::new()
            .name("fleet-follow".into())
            .spawn(move || follower.follow(&arrivals))?;
        thread::Builder::new()
            .name("fleet-publish".into())
            .spawn(move || s.publish(&woken))?;
        Ok(Link { state, wake, stop })
    }

    /// Says the outbox has something new.
    pub fn wake(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    pub fn state(&self) -> State {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Link {
    /// The threads end within a blocking read; they hold nothing that must be closed.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }
}

#[derive(Debug, Clone)]
struct Shared {
    settings: Arc<Settings>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

/// Which side of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Follow,
    Publish,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
    }

    /// Connects, reading the password file and the TLS files first.
    fn connect(&self) -> Result<Conn, String> {
        self.settings.endpoint.connect(TIMEOUT)
    }

    /// Marks one side up or down, logging each change once.
    fn mark(&self, side: Side, outcome: Result<(), String>) {
        let mut said = None;
        self.update(|s| {
            let up = outcome.is_ok();
            let was = match side {
                Side::Follow => std::mem::replace(&mut s.following, up),
                Side::Publish => std::mem::replace(&mut s.publishing, up),
            };
            match &outcome {
                Ok(()) => {
                    if !was {
                        said = Some(Ok(()));
                    }
                    if s.following && s.publishing {
                        s.error = None;
                    }
                }
                Err(e) => {
                    if s.error.as_ref() != Some(e) {
                        said = Some(Err(e.clone()));
                    }
                    if was {
                        s.reconnects += 1;
                    }
                    s.error = Some(e.clone());
                }
            }
        });
        let which = match side {
            Side::Follow => "following",
            Side::Publish => "publishing",
        };
        match said {
            Some(Ok(())) => crate::log::info(&format!(
                "fleet: {which} on {} as node {}",
                self.settings.endpoint.url, self.settings.node
            )),
            Some(Err(e)) => crate::log::error(&format!(
                "fleet: {which} stopped: {e}; local protection goes on, retrying"
            )),
            None => {}
        }
    }

    /// Waits out the back-off, or until stopped; returns the next back-off.
    fn back_off(&self, wait: Duration) -> Duration {
        let until = Instant::now() + wait;
        while !self.stopped() && Instant::now() < until {
            thread::sleep(Duration::from_millis(50).min(wait));
        }
        (wait * 2).min(BACKOFF.1)
    }

    fn follow(&self, arrivals: &SyncSender<Arrival>) {
        let mut applied = self.settings.applied.clone();
        let mut replay = self.settings.quorum_window_s.zip(applied.clone());
        let mut wait = BACKOFF.0;
        while !self.stopped() {
            let result = self.connect().and_then(|mut conn| {
                if let Some((window_s, upto)) = &replay {
                    let fail = |e: RespError| e.to_string();
                    if !self
                        .replay(&mut conn, *window_s, upto, arrivals)
                        .map_err(fail)?
                    {
                        return Ok(());
                    }
                    replay = None;
                }
                self.follow_on(&mut conn, &mut applied, arrivals, &mut wait)
            });
            if self.stopped() {
                return;
            }
            if let Err(e) = result {
                self.mark(Side::Follow, Err(e));
                wait = self.back_off(wait);
            }
        }
    }

    fn follow_on(
        &self,
        conn: &mut Conn,
        applied: &mut Option<String>,
        arrivals: &SyncSender<Arrival>,
        wait: &mut Duration,
    ) -> Result<(), String> {
        let keys = &self.settings.keys;
        let fail = |e: RespError| e.to_string();
        if self.stream_lost(conn, applied.as_deref()).map_err(fail)? {
            let Some((last_id, read)) = self.in_force(conn, arrivals).map_err(fail)? else {
                return Ok(());
            };
            crate::log::info(&format!(
                "fleet: {read} bans in force read ({})",
                match applied {
                    None => "first start in this fleet".to_owned(),
                    Some(id) => format!("the stream no longer holds entry {id}"),
                }
            ));
            *applied = Some(last_id);
        }
        self.mark(Side::Follow, Ok(()));
        *wait = BACKOFF.0;
        let count = BATCH.to_string();
        let block = BLOCK.as_millis().to_string();
        while !self.stopped() {
            let from = applied.clone().unwrap_or_else(|| "0-0".into());
            let reply = conn
                .call_blocking(
                    &[
                        b"XREAD",
                        b"COUNT",
                        count.as_bytes(),
                        b"BLOCK",
                        block.as_bytes(),
                        b"STREAMS",
                        keys.stream.as_bytes(),
                        from.as_bytes(),
                    ],
                    BLOCK,
                )
                .map_err(fail)?;
            let Some(entries) = xread_entries(&reply) else {
                continue;
            };
            let mut records = Vec::new();
            let mut last = None;
            let mut bad = 0;
            for (id, fields) in entries {
                last = Some(id.clone());
                match Record::parse(&fields) {
                    Ok(r) if r.node == self.settings.node => {}
                    Ok(r) => records.push(r),
                    Err(why) => {
                        bad += 1;
                        crate::log::warn(&format!("fleet: entry {id} skipped: {why}"));
                    }
                }
            }
            let Some(last_id) = last else { continue };
            let n = records.len() as u64;
            self.update(|s| {
                s.last_id = Some(last_id.clone());
                s.received += n;
                s.bad_entries += bad;
            });
            *applied = Some(last_id.clone());
            // Only this node's own entries: nothing to apply, nothing worth a write (a
            // restart reads them again and skips them again).
            if records.is_empty() {
                continue;
            }
            if arrivals
                .send(Arrival::Entries { last_id, records })
                .is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads the entries of the last `window_s` seconds up to `upto` (applied before this
    /// start) and hands their records to the engine as reports. False if it is gone.
    fn replay(
        &self,
        conn: &mut Conn,
        window_s: u64,
        upto: &str,
        arrivals: &SyncSender<Arrival>,
    ) -> Result<bool, RespError> {
        let now_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
        let mut from = format!("{}-0", now_ms.saturating_sub(window_s.saturating_mul(1000)));
        let count = BATCH.to_string();
        loop {
            let reply = conn.call(&[
                b"XRANGE",
                self.settings.keys.stream.as_bytes(),
                from.as_bytes(),
                upto.as_bytes(),
                b"COUNT",
                count.as_bytes(),
            ])?;
            let entries = reply.items().map(entries_of).unwrap_or_default();
            let Some((last, _)) = entries.last() else {
                return Ok(true);
            };
            // After the last one read: `(` makes the start exclusive (Redis 6.2 and later).
            from = format!("({last}");
            let full = entries.len() >= BATCH;
            let records: Vec<Record> = entries
                .iter()
                .filter_map(|(_, fields)| Record::parse(fields).ok())
                .filter(|r| r.node != self.settings.node)
                .collect();
            if !records.is_empty() && arrivals.send(Arrival::Reports { records }).is_err() {
                return Ok(false);
            }
            if !full {
                return Ok(true);
            }
        }
    }

    /// Whether entries after `applied` may be gone: nothing applied yet, or the
    /// stream's first entry is later than the one after it.
    fn stream_lost(&self, conn: &mut Conn, applied: Option<&str>) -> Result<bool, RespError> {
        let Some(applied) = applied else {
            return Ok(true);
        };
        let reply = conn.call(&[
            b"XRANGE",
            self.settings.keys.stream.as_bytes(),
            b"-",
            b"+",
            b"COUNT",
            b"1",
        ])?;
        let first = first_entry_id(&reply).as_deref().and_then(parse_id);
        Ok(match (first, parse_id(applied)) {
            (Some(first), Some(applied)) => first > next_id(applied),
            (None, _) => false,
            (Some(_), None) => true,
        })
    }

    /// Reads the stream's last id, then every ban in force of other nodes, handed to the
    /// engine in parts of [`IN_FORCE_PART`] as they come (it applies one while the next is
    /// read). The stream's last id and how many were read; `None` if the engine is gone.
    fn in_force(
        &self,
        conn: &mut Conn,
        arrivals: &SyncSender<Arrival>,
    ) -> Result<Option<(String, usize)>, RespError> {
        let keys = &self.settings.keys;
        // Read before the set: entries added meanwhile are read from the stream again,
        // which changes nothing (a ban applied twice is the same ban).
        let last = conn.call(&[
            b"XREVRANGE",
            keys.stream.as_bytes(),
            b"+",
            b"-",
            b"COUNT",
            b"1",
        ])?;
        let last_id = first_entry_id(&last).unwrap_or_else(|| "0-0".to_owned());
        let now = crate::host::now_s();
        let mut records = Vec::new();
        let mut read = 0;
        let mut cursor = b"0".to_vec();
        let count = IN_FORCE_PART.to_string();
        loop {
            let reply = conn.call(&[
                b"HSCAN",
                keys.bans.as_bytes(),
                &cursor,
                b"COUNT",
                count.as_bytes(),
            ])?;
            let (next, pairs) = hscan_page(&reply)?;
            for pair in pairs.chunks(2) {
                let Some(value) = pair.get(1).and_then(Reply::bytes) else {
                    continue;
                };
                match Record::decode(value) {
                    Ok(r) if r.node == self.settings.node => {}
                    Ok(r) if r.until.is_some_and(|u| u <= now) => {}
                    Ok(r) => records.push(r),
                    Err(why) => {
                        self.update(|s| s.bad_entries += 1);
                        crate::log::warn(&format!("fleet: a ban in force skipped: {why}"));
                    }
                }
            }
            let done = next == b"0";
            if done || records.len() >= IN_FORCE_PART {
                read += records.len();
                let part = Arrival::InForce {
                    last_id: done.then(|| last_id.clone()),
                    records: std::mem::take(&mut records),
                };
                if arrivals.send(part).is_err() {
                    return Ok(None);
                }
            }
            if done {
                return Ok(Some((last_id, read)));
            }
            cursor = next.to_vec();
        }
    }

    fn publish(&self, woken: &Receiver<()>) {
        let mut store: Option<Store> = None;
        let mut conn: Option<Conn> = None;
        let mut wait = BACKOFF.0;
        let mut last_beat: Option<Instant> = None;
        while !self.stopped() {
            if store.is_none() {
                match Store::open(&self.settings.state_dir) {
                    Ok(s) => store = Some(s),
                    Err(e) => {
                        self.mark(Side::Publish, Err(format!("the outbox: {e}")));
                        wait = self.back_off(wait);
                        continue;
                    }
                }
            }
            if conn.is_none() {
                match self.connect() {
                    Ok(c) => {
                        conn = Some(c);
                        self.mark(Side::Publish, Ok(()));
                        wait = BACKOFF.0;
                    }
                    Err(e) => {
                        self.mark(Side::Publish, Err(e));
                        wait = self.back_off(wait);
                        continue;
                    }
                }
            }
            let (Some(st), Some(c)) = (store.as_mut(), conn.as_mut()) else {
                continue;
            };
            let beat = last_beat.is_none_or(|t| t.elapsed() >= HEARTBEAT);
            match self.publish_some(st, c, beat) {
                Ok(sent) => {
                    if beat {
                        last_beat = Some(Instant::now());
                    }
                    if sent == BATCH {
                        continue;
                    }
                }
                Err(PublishError::Store(e)) => {
                    self.mark(Side::Publish, Err(format!("the outbox: {e}")));
                    store = None;
                    wait = self.back_off(wait);
                    continue;
                }
                Err(PublishError::Redis(e)) => {
                    self.mark(Side::Publish, Err(e.to_string()));
                    if e.is_fatal() {
                        conn = None;
                    }
                    wait = self.back_off(wait);
                    continue;
                }
            }
            match woken.recv_timeout(Duration::from_secs(1)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Publishes up to [`BATCH`] records of the outbox in one round trip, and on
    /// `beat` says this node is alive and drops ended bans. Returns how many went.
    fn publish_some(
        &self,
        store: &mut Store,
        conn: &mut Conn,
        beat: bool,
    ) -> Result<usize, PublishError> {
        let keys = &self.settings.keys;
        let waiting = store.outbox(BATCH).map_err(PublishError::Store)?;
        let now_ms = crate::host::now_ms();
        let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
        let cmd = |parts: &[&[u8]]| parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>();
        let maxlen = self.settings.stream_length.to_string();
        for (_, r) in &waiting {
            let mut xadd = cmd(&[
                b"XADD",
                keys.stream.as_bytes(),
                b"MAXLEN",
                b"~",
                maxlen.as_bytes(),
                b"*",
            ]);
            for (name, value) in r.fields() {
                xadd.push(name.as_bytes().to_vec());
                xadd.push(value.into_bytes());
            }
            commands.push(xadd);
            let field = ban_field(r);
            match r.op {
                Op::Ban => {
                    let end = r.until.map_or_else(|| "+inf".to_owned(), |u| u.to_string());
                    commands.push(cmd(&[
                        b"HSET",
                        keys.bans.as_bytes(),
                        field.as_bytes(),
                        r.encode().as_bytes(),
                    ]));
                    commands.push(cmd(&[
                        b"ZADD",
                        keys.ends.as_bytes(),
                        end.as_bytes(),
                        field.as_bytes(),
                    ]));
                }
                Op::Unban => {
                    commands.push(cmd(&[b"HDEL", keys.bans.as_bytes(), field.as_bytes()]));
                    commands.push(cmd(&[b"ZREM", keys.ends.as_bytes(), field.as_bytes()]));
                }
                Op::UnbanAll => {
                    for f in self
                        .fields_of(conn, &r.target.to_string())
                        .map_err(PublishError::Redis)?
                    {
                        commands.push(cmd(&[b"HDEL", keys.bans.as_bytes(), &f]));
                        commands.push(cmd(&[b"ZREM", keys.ends.as_bytes(), &f]));
                    }
                }
            }
        }
        if let Some((_, r)) = waiting.last() {
            let report = format!("{now_ms} {} {} {}", r.at, r.op.as_str(), r.target);
            commands.push(cmd(&[
                b"HSET",
                keys.nodes.as_bytes(),
                self.settings.node.as_bytes(),
                report.as_bytes(),
            ]));
        } else if beat {
            // Alive, keeping the last report it made.
            let old = conn
                .call(&[
                    b"HGET",
                    keys.nodes.as_bytes(),
                    self.settings.node.as_bytes(),
                ])
                .map_err(PublishError::Redis)?;
            let rest = old
                .bytes()
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|t| t.split_once(' ').map(|(_, r)| r.to_owned()))
                .unwrap_or_else(|| "- - -".into());
            let report = format!("{now_ms} {rest}");
            commands.push(cmd(&[
                b"HSET",
                keys.nodes.as_bytes(),
                self.settings.node.as_bytes(),
                report.as_bytes(),
            ]));
        }
        if beat {
            self.drop_ended(conn).map_err(PublishError::Redis)?;
        }
        if commands.is_empty() {
            return Ok(0);
        }
        conn.pipeline(&commands).map_err(PublishError::Redis)?;
        if let Some((id, _)) = waiting.last() {
            store.published(*id).map_err(PublishError::Store)?;
        }
        let n = waiting.len();
        self.update(|s| s.published += n as u64);
        Ok(n)
    }

    /// Every field of the bans in force about `target`, whichever node's.
    fn fields_of(&self, conn: &mut Conn, target: &str) -> Result<Vec<Vec<u8>>, RespError> {
        let keys = &self.settings.keys;
        let pattern = format!("{} *", glob_escape(target));
        let mut out = Vec::new();
        let mut cursor = b"0".to_vec();
        loop {
            let reply = conn.call(&[
                b"HSCAN",
                keys.bans.as_bytes(),
                &cursor,
                b"MATCH",
                pattern.as_bytes(),
                b"COUNT",
                b"1000",
            ])?;
            let (next, pairs) = hscan_page(&reply)?;
            out.extend(
                pairs
                    .chunks(2)
                    .filter_map(|p| p.first()?.bytes().map(<[u8]>::to_vec)),
            );
            if next == b"0" {
                return Ok(out);
            }
            cursor = next.to_vec();
        }
    }

    /// Removes bans that ended from the bans in force, a thousand at a time.
    fn drop_ended(&self, conn: &mut Conn) -> Result<(), RespError> {
        let keys = &self.settings.keys;
        let now = format!("({}", crate::host::now_s() + 1);
        let ended = conn.call(&[
            b"ZRANGEBYSCORE",
            keys.ends.as_bytes(),
            b"-inf",
            now.as_bytes(),
            b"LIMIT",
            b"0",
            b"1000",
        ])?;
        let fields: Vec<&[u8]> = ended
            .items()
            .unwrap_or(&[])
            .iter()
            .filter_map(Reply::bytes)
            .collect();
        if fields.is_empty() {
            return Ok(());
        }
        let mut hdel: Vec<&[u8]> = vec![b"HDEL", keys.bans.as_bytes()];
        hdel.extend(&fields);
        let mut zrem: Vec<&[u8]> = vec![b"ZREM", keys.ends.as_bytes()];
        zrem.extend(&fields);
        let to_vec = |c: &[&[u8]]| c.iter().map(|p| p.to_vec()).collect::<Vec<_>>();
        conn.pipeline(&[to_vec(&hdel), to_vec(&zrem)]).map(drop)
    }
}

#[derive(Debug)]
enum PublishError {
    Store(crate::store::StoreError),
    Redis(RespError),
}

/// An HSCAN reply: the next cursor, and the fields with their values, flat.
fn hscan_page(reply: &Reply) -> Result<(&[u8], &[Reply]), RespError> {
    let parts = reply.items().unwrap_or(&[]);
    match (
        parts.first().and_then(Reply::bytes),
        parts.get(1).and_then(Reply::items),
    ) {
        (Some(next), Some(pairs)) => Ok((next, pairs)),
        _ => Err(RespError::Protocol(
            "HSCAN's reply is not [cursor, fields]".into(),
        )),
    }
}

/// The id of the first entry of an XRANGE or XREVRANGE reply.
pub fn first_entry_id(reply: &Reply) -> Option<String> {
    let id = reply.items()?.first()?.items()?.first()?.bytes()?;
    Some(String::from_utf8_lossy(id).into_owned())
}

/// A stream id `MS-SEQ` as numbers, to compare.
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn next_id((ms, seq): (u64, u64)) -> (u64, u64) {
    match seq.checked_add(1) {
        Some(s) => (ms, s),
        None => (ms + 1, 0),
    }
}

/// `target` as a Redis glob that matches only itself (IPv6 holds no glob characters,
/// but a field is matched byte for byte only if nothing in it is special).
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The entries of an XREAD reply of one stream: `(id, fields)`; `None` when it timed out.
/// A stream entry: its id and its field, value pairs.
type Entry<'a> = (String, Vec<(&'a [u8], &'a [u8])>);

fn xread_entries(reply: &Reply) -> Option<Vec<Entry<'_>>> {
    let streams = reply.items()?;
    let stream = streams.first()?.items()?;
    Some(entries_of(stream.get(1)?.items()?))
}

/// The entries of a stream reply (XRANGE's, or one stream of XREAD's): `(id, fields)`.
fn entries_of(entries: &[Reply]) -> Vec<Entry<'_>> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Some(parts) = e.items() else { continue };
        let (Some(id), Some(fields)) = (
            parts.first().and_then(Reply::bytes),
            parts.get(1).and_then(Reply::items),
        ) else {
            continue;
        };
        let pairs = fields
            .chunks(2)
            .filter_map(|p| Some((p.first()?.bytes()?, p.get(1)?.bytes()?)))
            .collect();
        out.push((String::from_utf8_lossy(id).into_owned(), pairs));
    }
    out
}

/// The nodes' last reports, as `fleet status` shows them: node → (seen at ms, report).
pub fn nodes(conn: &mut Conn, keys: &Keys) -> Result<BTreeMap<String, (i64, String)>, RespError> {
    let reply = conn.call(&[b"HGETALL", keys.nodes.as_bytes()])?;
    let items = reply.items().unwrap_or(&[]);
    let mut out = BTreeMap::new();
    for pair in items.chunks(2) {
        let (Some(node), Some(value)) = (
            pair.first().and_then(Reply::bytes),
            pair.get(1).and_then(Reply::bytes),
        ) else {
            continue;
        };
        let node = String::from_utf8_lossy(node);
        if !crate::fleet::record::valid_node(&node) {
            continue;
        }
        let value = String::from_utf8_lossy(value);
        let (seen, report) = value.split_once(' ').unwrap_or((&value, ""));
        let Ok(seen) = seen.parse::<i64>() else {
            continue;
        };
        out.insert(node.into_owned(), (seen, crate::log::one_line(report, 120)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_compare_as_numbers_and_targets_match_only_themselves() {
        assert!(parse_id("1700000000000-10") > parse_id("1700000000000-9"));
        assert!(parse_id("999-0") < parse_id("1000-0"));
        assert_eq!(parse_id("x-1"), None);
        assert_eq!(next_id((5, u64::MAX)), (6, 0));
        assert_eq!(glob_escape("2001:db8::/48"), "2001:db8::/48");
        assert_eq!(glob_escape("a*[b]?"), "a\\*\\[b\\]\\?");
    }
}
