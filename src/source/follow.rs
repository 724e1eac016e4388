//! Live sources for the daemon: a log file followed across every rotation style, and
//! stdin. Each runs on its own thread and sends [`Feed`]s (batches of whole lines, and
//! state changes) on a channel.
//!
//! Owns: waking on inotify (with a `stat` poll behind it, as inotify queues overflow and
//! some file systems send nothing), the switch from a rotated file to its successor, and
//! the [`Position`] after each batch. Must not: parse lines, decide anything, or save
//! positions: the receiver saves a batch's position once it handled the batch's lines,
//! which is what makes a restart lose and repeat nothing.
//!
//! Where a file is read from:
//! - with a saved [`Cursor`]: exactly after it, finishing a rotated sibling first (the
//!   same rules as `read_since`);
//! - without one, a file that exists at start is read from its end (like `tail -n0`), so
//!   that a first start does not ban for last month's lines;
//! - a file that appears later (missing at start, the successor after a rotation, a file
//!   deleted and created again) is read from its beginning.
//!
//! Rotation styles:
//! - rename + create: the old file is read to its end and kept open while the new one is
//!   empty (the writer keeps writing the old one until told to reopen it); once the new
//!   file has bytes, or the old one was deleted, the rest of the old one (a last line
//!   without newline included) is read and the new one is read from 0;
//! - copytruncate and truncation: the same inode became shorter than our offset, or its
//!   beginning changed. If a sibling holds a copy with our beginning (copytruncate), its
//!   lines after our offset are read first; then the file is read from 0. Lines written
//!   between the copy and the truncation are lost by copytruncate's own design. A copy
//!   found as the newest rotated file while the live file still begins with its lines
//!   (the follower was finishing an older file) is not read: the live file is, and the
//!   copy after the truncation, as above;
//! - a burst of rotations (or a follower kept waiting by a slow engine) may move several
//!   files past the one being read: once it is finished, the files rotated after it are
//!   found among its siblings (`PATH.1`, `PATH.2.gz`, …, by inode and fingerprint) and
//!   read oldest first, before the live file. A listing taken while files are renamed
//!   is taken again until it is consistent. When rotation deleted the finished file
//!   before its successor was found, files may have gone unread: that is said
//!   ([`SourceState::Gap`]) and reading goes on with the unread siblings written since;
//! - deleted: the open file is read to its end, then the follower waits for the path;
//! - missing file or directory: the follower waits (the directory is then only polled).
//!
//! A line of the live file is delivered only once its newline is written. A line longer
//! than the 64 KiB cap is not delivered: it is counted in [`Batch::dropped`].

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

use super::rotate::Sibling;
use super::split::{Splitter, Tail};
use super::{Cursor, HEAD_MAX, Line, ReadStats, Segment, SourceError, head_matches};

/// Where to resume a source after the lines of a batch were handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    File(Cursor),
    /// The journal's `__CURSOR` of the batch's last entry.
    Journal(String),
    /// stdin cannot be resumed.
    Stream,
}

/// Whole lines from one source, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Stable key of the source: the followed path as given, `"journal"` or `"-"`.
    pub source: String,
    /// What was actually read: a rotated file's current name while it is finished,
    /// `"journal"`, `"-"`.
    pub origin: PathBuf,
    /// Number of the first line in `lines` (1-based, within `origin`); the lines are
    /// consecutive. For the journal, entries delivered since the follower started.
    pub first_line: u64,
    /// `count` lines, each ending in `\n`, none containing another `\n`.
    pub lines: Vec<u8>,
    pub count: usize,
    /// Lines skipped just before `lines`: over the 64 KiB cap, or for the journal,
    /// entries not trusted or without a message. They count for `position`.
    pub dropped: u64,
    /// Where to resume once every line of this batch was handled.
    pub position: Position,
    /// When its first line was read: the start of the reaction time the metrics show.
    pub read_at: std::time::Instant,
}

impl Batch {
    /// The lines, without their `\n`.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let body = self.lines.strip_suffix(b"\n").unwrap_or(&self.lines);
        body.split(|&b| b == b'\n').take(self.count)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    Lines(Batch),
    Status { source: String, state: SourceState },
}

/// A source's state, sent when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    Following {
        path: PathBuf,
    },
    /// Nothing to read yet: the file or its directory is missing, journalctl is not
    /// started yet or is being restarted.
    Waiting {
        why: String,
    },
    /// The file read until now was rotated (renamed, copied and truncated, truncated or
    /// deleted) and its successor is read from its beginning.
    Rotated {
        from: PathBuf,
    },
    Error {
        message: String,
    },
    /// Lines may be lost: rotation deleted the file read until now before the file
    /// written after it was found. Reading goes on with `before`.
    Gap {
        before: PathBuf,
        why: String,
    },
    /// A rotated, compressed file is damaged: its lines up to the damage were read, the
    /// rest is skipped (said once; reading goes on with the newer files).
    Damaged {
        path: PathBuf,
        why: String,
    },
    /// The follower ended: stop was asked, the input ended or the receiver is gone.
    Stopped,
}

/// Cooperative stop: followers look at it at least once per poll interval, and a
/// follower waiting for inotify is woken at once (a daemon's SIGTERM must not wait for
/// every follower's poll interval).
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<StopState>);

#[derive(Debug, Default)]
struct StopState {
    stopped: AtomicBool,
    /// The wake-up channels of the followers waiting on this stop.
    wakers: std::sync::Mutex<Vec<SyncSender<()>>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        let wakers = self.0.wakers.lock().unwrap_or_else(|e| e.into_inner());
        for w in wakers.iter() {
            let _ = w.try_send(());
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Wakes `waker` at the stop. The channels of followers gone are dropped here (a
    /// spurious wake-up of the others only makes them look again).
    fn wake_on_stop(&self, waker: SyncSender<()>) {
        let mut wakers = self.0.wakers.lock().unwrap_or_else(|e| e.into_inner());
        wakers.retain(|w| !matches!(w.try_send(()), Err(TrySendError::Disconnected(()))));
        // Registered after the stop: the stop's own wake-up missed it.
        if self.is_stopped() {
            let _ = waker.try_send(());
        }
        wakers.push(waker);
    }
}

#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// How often the file is checked with `stat` even without an inotify event.
    pub poll: Duration,
    /// Most lines in one batch.
    pub max_batch_lines: usize,
}

impl Default for FollowOptions {
    fn default() -> FollowOptions {
        FollowOptions {
            poll: Duration::from_millis(500),
            max_batch_lines: 4096,
        }
    }
}

/// Most bytes of lines in one batch: 4096 lines at the 64 KiB cap would be 256 MiB. With
/// the bounded channel to the engine, this bounds the memory a flood holds in flight.
const MAX_BATCH_BYTES: usize = 256 << 10;

/// How long a sender waits between tries while the engine's queue is full.
const FULL_QUEUE_WAIT: Duration = Duration::from_millis(1);

/// Collects lines into batches and sends them.
#[derive(Debug)]
pub(crate) struct Batcher {
    source: String,
    /// Bounded: when the engine falls behind, reading waits (the file keeps the lines).
    tx: SyncSender<Feed>,
    /// A sender waiting on a full queue gives up when the source is stopped.
    stop: Stop,
    max_lines: usize,
    origin: PathBuf,
    first_line: u64,
    lines: Vec<u8>,
    count: usize,
    dropped: u64,
    position: Option<Position>,
    read_at: Option<std::time::Instant>,
    /// The receiver is gone: the follower should end.
    closed: bool,
    last_state: Option<SourceState>,
}

impl Batcher {
    pub(crate) fn new(
        source: String,
        tx: SyncSender<Feed>,
        stop: Stop,
        max_lines: usize,
    ) -> Batcher {
        Batcher {
            source,
            tx,
            stop,
            max_lines: max_lines.max(1),
            origin: PathBuf::new(),
            first_line: 0,
            lines: Vec::new(),
            count: 0,
            dropped: 0,
            position: None,
            read_at: None,
            closed: false,
            last_state: None,
        }
    }

    pub(crate) fn line(&mut self, origin: &Path, l: Line<'_>, position: Position) {
        self.push(origin, l.bytes, l.number, l.truncated, position);
    }

    /// `bytes` must not contain `\n`; a `dropped` line only moves the position.
    pub(crate) fn push(
        &mut self,
        origin: &Path,
        bytes: &[u8],
        number: u64,
        dropped: bool,
        position: Position,
    ) {
        // One origin per batch; dropped lines only before the lines, so that the
        // numbers of `lines` stay consecutive from `first_line`.
        if self.position.is_some() && (self.origin != origin || (dropped && self.count > 0)) {
            self.flush();
        }
        if self.position.is_none() {
            self.origin.clear();
            self.origin.push(origin);
        }
        if dropped {
            self.dropped += 1;
        } else {
            if self.count == 0 {
                self.first_line = number;
                self.read_at = Some(std::time::Instant::now());
            }
            self.lines.extend_from_slice(bytes);
            self.lines.push(b'\n');
            self.count += 1;
        }
        self.position = Some(position);
        if self.count >= self.max_lines || self.lines.len() >= MAX_BATCH_BYTES {
            self.flush();
        }
    }

    pub(crate) fn flush(&mut self) {
        let Some(position) = self.position.take() else {
            return;
        };
        let batch = Batch {
            source: self.source.clone(),
            origin: self.origin.clone(),
            first_line: self.first_line,
            lines: std::mem::take(&mut self.lines),
            count: std::mem::take(&mut self.count),
            dropped: std::mem::take(&mut self.dropped),
            position,
            read_at: self.read_at.take().unwrap_or_else(std::time::Instant::now),
        };
        self.deliver(Feed::Lines(batch));
    }

    /// Sends `feed`, waiting while the queue is full; a stop or a gone receiver ends the
    /// follower instead (an undelivered batch is not saved, so it is read again).
    fn deliver(&mut self, mut feed: Feed) {
        loop {
            match self.tx.try_send(feed) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) if !self.stop.is_stopped() => {
                    feed = back;
                    thread::sleep(FULL_QUEUE_WAIT);
                }
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// Sends `state` unless it is the one sent last.
    pub(crate) fn status(&mut self, state: SourceState) {
        if self.last_state.as_ref() == Some(&state) {
            return;
        }
        self.flush();
        self.last_state = Some(state.clone());
        let feed = Feed::Status {
            source: self.source.clone(),
            state,
        };
        self.deliver(feed);
    }

    pub(crate) fn closed(&self) -> bool {
        self.closed
    }
}

/// A reader that hands the pending batch over before each read, since the read may block
/// (a pipe): lines already read must not wait for more input.
pub(crate) struct FlushBeforeRead<'a, R> {
    pub inner: R,
    pub batcher: &'a std::cell::RefCell<Batcher>,
    pub stop: &'a Stop,
}

impl<R: Read> Read for FlushBeforeRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut b = self.batcher.borrow_mut();
        if self.stop.is_stopped() {
            // Not delivered, so not saved either: read again after the restart.
            return Ok(0);
        }
        b.flush();
        if b.closed() {
            return Ok(0);
        }
        drop(b);
        self.inner.read(buf)
    }
}

/// Follows stdin until it ends, then sends `Stopped`. A read of stdin cannot be
/// interrupted, so the reading happens on an inner thread: the returned thread ends
/// within 100 ms of a stop request (for a prompt join), while the inner one ends at
/// stdin's next line or end, sending nothing more.
pub fn follow_stdin(tx: SyncSender<Feed>, stop: Stop) -> JoinHandle<()> {
    thread::spawn(move || {
        let inner = {
            let stop = stop.clone();
            thread::spawn(move || read_stdin(tx, &stop))
        };
        while !inner.is_finished() && !stop.is_stopped() {
            thread::sleep(Duration::from_millis(100));
        }
    })
}

fn read_stdin(tx: SyncSender<Feed>, stop: &Stop) {
    let batcher = std::cell::RefCell::new(Batcher::new("-".into(), tx, stop.clone(), 4096));
    batcher
        .borrow_mut()
        .status(SourceState::Following { path: "-".into() });
    let mut reader = FlushBeforeRead {
        inner: io::stdin().lock(),
        batcher: &batcher,
        stop,
    };
    let result = Splitter::new().run(&mut reader, 0, 0, Tail::Deliver, &mut |l| {
        batcher
            .borrow_mut()
            .line(Path::new("-"), l, Position::Stream)
    });
    let mut b = batcher.into_inner();
    b.flush();
    if let Err(e) = result {
        b.status(SourceState::Error {
            message: SourceError::Stream { source: e }.to_string(),
        });
    }
    b.status(SourceState::Stopped);
}

/// Follows the log file at `path` (see the module comment for where reading starts and
/// how rotation is handled) until `stop`, or until the receiver is dropped.
pub fn follow_file(
    path: PathBuf,
    start: Option<Cursor>,
    tx: SyncSender<Feed>,
    stop: Stop,
    opts: FollowOptions,
) -> io::Result<JoinHandle<()>> {
    let path = std::path::absolute(&path)?;
    let source = super::source_key(&path);
    let mut f = Follower {
        watcher: Watcher::new(&path, &stop),
        batcher: Batcher::new(source.clone(), tx, stop.clone(), opts.max_batch_lines),
        path,
        sp: Splitter::new(),
        cur: None,
        finished: VecDeque::new(),
        after: None,
        resume: start,
        opts,
        stop,
    };
    // Where reading starts is settled before returning: a line appended once the caller
    // says it is ready (the daemon's READY=1) must be read, not taken for old content.
    // From a saved cursor every later line is read anyway, so the reading itself is left
    // to the thread: the caller is not consuming yet, and a backlog larger than the
    // bounded queue would wait for it forever.
    f.begin();
    thread::Builder::new()
        .name(format!("follow {source}"))
        .spawn(move || f.run())
}

/// The file being read.
#[derive(Debug)]
struct Open {
    file: File,
    /// Its identity and current name.
    seg: Segment,
    /// Just after the last line delivered.
    offset: u64,
    line: u64,
    /// The path names another file, or none: this one is only being finished.
    rotated: bool,
}

/// Files finished, kept to recognise one already read among the rotated siblings.
const FINISHED_KEPT: usize = 64;
/// Files read (or listings repeated) when moving on from a finished file, before the
/// live file is taken from its beginning.
const MOVE_ON_ROUNDS: usize = 4096;
/// Listings of the rotated files before the one finished last is taken for deleted.
const GAP_LISTINGS: usize = 3;

struct Follower {
    path: PathBuf,
    /// The files finished last, newest first.
    finished: VecDeque<Segment>,
    /// Between files: the end of the one finished last (and its modification time),
    /// which the next file to read is found after.
    after: Option<(Cursor, Option<SystemTime>)>,
    batcher: Batcher,
    sp: Splitter,
    cur: Option<Open>,
    /// A saved cursor not yet resumed from (the first attempt failed).
    resume: Option<Cursor>,
    watcher: Option<Watcher>,
    opts: FollowOptions,
    stop: Stop,
}

impl Follower {
    fn begin(&mut self) {
        if self.watcher.is_none() {
            self.batcher.status(SourceState::Error {
                message: format!(
                    "{}: inotify unavailable; checking every {:?}",
                    self.path.display(),
                    self.opts.poll
                ),
            });
        }
        if self.resume.is_none() {
            self.start();
        }
    }

    fn run(&mut self) {
        if self.resume.is_some() {
            self.start();
        }
        while !self.stop.is_stopped() && !self.batcher.closed() {
            match &self.watcher {
                Some(w) => w.wait(self.opts.poll),
                None => thread::sleep(self.opts.poll),
            }
            if self.stop.is_stopped() {
                break;
            }
            if self.resume.is_some() {
                self.start();
            } else {
                self.pass();
            }
        }
        self.batcher.flush();
        self.batcher.status(SourceState::Stopped);
    }

    fn start(&mut self) {
        match self.resume.clone() {
            Some(c) => self.start_at(c),
            None => self.start_at_end(),
        }
    }

    fn start_at(&mut self, c: Cursor) {
        let path = self.path.clone();
        let batcher = &mut self.batcher;
        let mut last = None;
        let result = super::read_since_core(&mut self.sp, &path, Some(&c), &mut |seg, l| {
            last = Some((seg.clone(), l.end, l.number));
            batcher.line(&seg.path, l, Position::File(seg.cursor(l.end, l.number)));
        });
        self.batcher.flush();
        match result {
            Ok((file, cursor, stats)) => {
                self.resume = None;
                self.damaged(stats.damaged);
                if let super::Resume::Rotated { from } = stats.resume {
                    self.batcher.status(SourceState::Rotated { from });
                }
                self.opened(file, cursor);
                self.pass();
            }
            Err(SourceError::NotFound { .. }) => {
                // The path is gone, but the file the cursor was taken on may be a sibling.
                let mut stats = ReadStats::default();
                let batcher = &mut self.batcher;
                let result = super::finish_rotated(
                    &mut self.sp,
                    &path,
                    &c,
                    None,
                    &mut stats,
                    &mut |seg, l| {
                        batcher.line(&seg.path, l, Position::File(seg.cursor(l.end, l.number)))
                    },
                );
                self.batcher.flush();
                match result {
                    Ok(_) => {
                        self.resume = None;
                        self.damaged(stats.damaged);
                        self.waiting();
                    }
                    Err(e) => self.error(e.to_string()),
                }
            }
            Err(e) => {
                // Retry from where this attempt got, so nothing is read twice.
                if let Some((seg, end, number)) = last {
                    self.resume = Some(seg.cursor(end, number));
                }
                self.error(e.to_string());
            }
        }
    }

    fn damaged(&mut self, damaged: Vec<(PathBuf, String)>) {
        for (path, why) in damaged {
            self.batcher.status(SourceState::Damaged { path, why });
        }
    }

    fn start_at_end(&mut self) {
        match File::open(&self.path) {
            Ok(mut file) => {
                // Whole lines only, and counted so numbering matches `read_since`'s.
                let run = self
                    .sp
                    .run(&mut file, 0, 0, Tail::Hold, &mut |_| {})
                    .and_then(|run| Ok((run, Segment::of(&self.path, &file)?)));
                match run {
                    Ok((run, seg)) => {
                        let cursor = seg.cursor(run.end_offset, run.lines);
                        self.opened(file, cursor);
                        self.pass();
                    }
                    Err(e) => self.error(super::read_err(&self.path, e).to_string()),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.waiting(),
            Err(e) => self.error(super::open_err(&self.path, e).to_string()),
        }
    }

    fn opened(&mut self, file: File, c: Cursor) {
        let seg = Segment {
            path: self.path.clone(),
            dev: c.dev,
            ino: c.ino,
            head_len: c.head_len,
            head_hash: c.head_hash,
        };
        if let Some(w) = &mut self.watcher {
            w.watch_file(&self.path);
        }
        self.cur = Some(Open {
            file,
            seg,
            offset: c.offset,
            line: c.line,
            rotated: false,
        });
        self.batcher.status(SourceState::Following {
            path: self.path.clone(),
        });
    }

    fn waiting(&mut self) {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let why = if dir.is_dir() {
            format!("{}: no such file", self.path.display())
        } else {
            format!("{}: no such directory", dir.display())
        };
        if let Some(w) = &mut self.watcher {
            w.watch_dir();
        }
        self.batcher.status(SourceState::Waiting { why });
    }

    fn error(&mut self, message: String) {
        self.batcher.status(SourceState::Error { message });
    }

    /// One look at the file: reads what is new and handles rotation.
    fn pass(&mut self) {
        if self.cur.is_none() && self.after.is_some() {
            self.next_file();
            return;
        }
        let Some(mut cur) = self.cur.take() else {
            // Appeared after start, or again after deletion: from its beginning.
            match File::open(&self.path) {
                Ok(file) => match Segment::of(&self.path, &file) {
                    Ok(seg) => {
                        self.opened(file, seg.cursor(0, 0));
                        self.pass();
                    }
                    Err(e) => self.error(super::read_err(&self.path, e).to_string()),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.waiting(),
                Err(e) => self.error(super::open_err(&self.path, e).to_string()),
            }
            return;
        };
        if let Some(w) = &mut self.watcher {
            w.watch_dir();
        }
        let now = fs::metadata(&self.path);
        let same = matches!(&now, Ok(m) if m.ino() == cur.seg.ino && m.dev() == cur.seg.dev);
        if same {
            // Also a file renamed back: it is the live file again.
            cur.rotated = false;
            cur.seg.path.clone_from(&self.path);
            let len = now.as_ref().map_or(0, |m| m.len());
            let c = cur.seg.cursor(cur.offset, cur.line);
            let head_ok = head_matches(&cur.file, &c).unwrap_or(true);
            if len < cur.offset || !head_ok {
                self.truncated(&mut cur);
            }
            self.read(&mut cur, Tail::Hold);
            self.cur = Some(cur);
            return;
        }

        // The path names another file, or nothing: ours was renamed or deleted.
        let sibs = super::rotate::settled_siblings(&self.path).unwrap_or_default();
        let at = sibs
            .iter()
            .position(|s| s.plain() && s.ino() == cur.seg.ino);
        if let Some(i) = at {
            cur.seg.path.clone_from(&sibs[i].path);
        }
        cur.rotated = true;
        if !self.read(&mut cur, Tail::Hold) {
            self.cur = Some(cur);
            return;
        }
        let deleted = cur.file.metadata().map(|m| m.nlink() == 0).unwrap_or(true);
        let newer_rotated = at.is_some_and(|i| i > 0);
        let successor_written = matches!(&now, Ok(m) if m.len() > 0);
        if deleted || newer_rotated || successor_written {
            // The writer has moved on (or the file is gone): the rest is final, even a
            // last line without its newline.
            if !self.read(&mut cur, Tail::Deliver) {
                self.cur = Some(cur);
                return;
            }
            if let Some(w) = &mut self.watcher {
                w.unwatch_file();
            }
            self.batcher.status(SourceState::Rotated {
                from: cur.seg.path.clone(),
            });
            self.move_on(cur);
            return;
        }
        // The writer may still write the old file: stay on it, and watch the new one.
        if let (Some(w), Ok(_)) = (&mut self.watcher, &now) {
            w.watch_next(&self.path);
        }
        if now.is_err() {
            self.batcher.status(SourceState::Waiting {
                why: format!(
                    "{} was renamed to {}; waiting for a new file",
                    self.path.display(),
                    cur.seg.path.display()
                ),
            });
        }
        self.cur = Some(cur);
    }

    /// `done` was read to its end: goes on with the file written after it. A burst of
    /// rotations (or an engine that kept the follower waiting) may have moved several
    /// files past it meanwhile; they are read in the order they were written, so that
    /// a burst loses nothing while rotation keeps them.
    fn move_on(&mut self, done: Open) {
        let end = done.seg.cursor(done.offset, done.line);
        let mtime = done.file.metadata().and_then(|m| m.modified()).ok();
        self.finished.push_front(done.seg.clone());
        self.finished.truncate(FINISHED_KEPT);
        drop(done);
        self.after = Some((end, mtime));
        self.next_file();
    }

    /// Finds and reads what was written after `self.after`: rotated files first, then
    /// the live file from its beginning (or waits for it, still knowing where it was).
    fn next_file(&mut self) {
        // Each round reads one file, or lists again when renames moved the one listed.
        for _ in 0..MOVE_ON_ROUNDS {
            let Some((end, mtime)) = self.after.clone() else {
                return;
            };
            let (newer, gap) = self.newer(&end, mtime);
            let Some(next) = newer.last() else {
                match self.open_live(&end, mtime) {
                    Some(true) => return,
                    Some(false) => continue,
                    None => return,
                }
            };
            if gap && let Some(gone) = self.finished.front() {
                self.batcher.status(SourceState::Gap {
                    before: next.path.clone(),
                    why: format!(
                        "{} was deleted by rotation before the file after it was found: a \
                         file rotated away meanwhile was not read",
                        gone.path.display()
                    ),
                });
            }
            if next.plain() && newer.len() == 1 {
                // The newest rotated file: the writer may still write it, so it is
                // followed like the file we had (`pass` decides when it is finished).
                if self.follow_copied(next) {
                    return;
                }
                match next.open_plain() {
                    Ok(Some((file, seg))) => {
                        self.after = None;
                        self.cur = Some(Open {
                            file,
                            seg,
                            offset: 0,
                            line: 0,
                            rotated: true,
                        });
                        self.pass();
                        return;
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        self.error(e.to_string());
                        return;
                    }
                }
            }
            // Older than the newest: surely complete.
            let mut stats = ReadStats::default();
            let batcher = &mut self.batcher;
            let read = super::read_sibling(&mut self.sp, next, &mut stats, &mut |seg, l| {
                batcher.line(&seg.path, l, Position::File(seg.cursor(l.end, l.number)))
            });
            self.batcher.flush();
            self.damaged(stats.damaged);
            match read {
                Ok(Some((seg, offset, lines))) => {
                    self.batcher.status(SourceState::Rotated {
                        from: seg.path.clone(),
                    });
                    let m = fs::metadata(&seg.path).ok();
                    let mtime = m.and_then(|m| m.modified().ok()).or(mtime);
                    self.after = Some((seg.cursor(offset, lines), mtime));
                    self.finished.push_front(seg);
                    self.finished.truncate(FINISHED_KEPT);
                }
                // Renamed or compressed since the listing: list again.
                Ok(None) => {}
                Err(e) => {
                    self.error(e.to_string());
                    return;
                }
            }
        }
        self.error(format!(
            "{}: renamed {MOVE_ON_ROUNDS} times while looking for the file after {}; \
             trying again",
            self.path.display(),
            self.finished
                .front()
                .map_or(self.path.as_path(), |s| &s.path)
                .display()
        ));
    }

    /// When `rotated`, the newest rotated file, is the live file's copy and the live file
    /// is not truncated yet (a copytruncate in progress), follows the live file from its
    /// beginning instead, and returns true: its lines are the copy's, and once it is
    /// truncated the copy is read after the offset reached, as in any copytruncate.
    /// Reading both would deliver every copied line twice.
    fn follow_copied(&mut self, rotated: &Sibling) -> bool {
        let Some((live, meta, (head_len, head_hash))) = super::live_copied_to(rotated, &self.path)
        else {
            return false;
        };
        let seg = Segment {
            path: self.path.clone(),
            dev: meta.dev(),
            ino: meta.ino(),
            head_len,
            head_hash,
        };
        self.after = None;
        self.opened(live, seg.cursor(0, 0));
        self.pass();
        true
    }

    /// The live file as the one after `end`, from its beginning: Some(true) when it is
    /// followed now, Some(false) when a file rotated meanwhile comes first, None when it
    /// is missing or cannot be read (said; `self.after` is kept for the next look).
    fn open_live(&mut self, end: &Cursor, mtime: Option<SystemTime>) -> Option<bool> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.waiting();
                return None;
            }
            Err(e) => {
                self.error(super::open_err(&self.path, e).to_string());
                return None;
            }
        };
        // Opened after a listing with nothing newer than ours: it is the file after ours
        // unless that one was rotated before the open, and then a new listing shows it.
        if !self.newer(end, mtime).0.is_empty() {
            return Some(false);
        }
        match Segment::of(&self.path, &file) {
            Ok(seg) => {
                self.after = None;
                self.opened(file, seg.cursor(0, 0));
                self.pass();
                Some(true)
            }
            Err(e) => {
                self.error(super::read_err(&self.path, e).to_string());
                None
            }
        }
    }

    /// The rotated files written after the one `end` was taken on, newest first, and
    /// whether that one was gone from them (a gap is possible then).
    fn newer(&mut self, end: &Cursor, mtime: Option<SystemTime>) -> (Vec<Sibling>, bool) {
        // A listing taken while a burst renames files can miss the one finished last:
        // list again before concluding that rotation deleted it.
        let mut found = super::rotate::find(&self.path, end);
        for _ in 1..GAP_LISTINGS {
            if !matches!(found, Ok(None)) {
                break;
            }
            found = super::rotate::find(&self.path, end);
        }
        match found {
            Ok(Some((_, _, newer))) => (newer, false),
            Ok(None) => (self.unread_since(mtime), true),
            // Listing the directory failed: said, and the live file is all there is to
            // read.
            Err(e) => {
                self.error(e.to_string());
                (Vec::new(), false)
            }
        }
    }

    /// When the file finished last is gone from the rotated siblings (deleted by a
    /// rotation that overtook us), the uncompressed siblings written since it, newest
    /// first, leaving out those already read.
    fn unread_since(&self, mtime: Option<SystemTime>) -> Vec<Sibling> {
        let Some(mtime) = mtime else {
            return Vec::new();
        };
        let sibs = super::rotate::settled_siblings(&self.path).unwrap_or_default();
        sibs.into_iter()
            .filter(|s| s.plain())
            .filter(|s| {
                let Ok(file) = File::open(&s.path) else {
                    return false;
                };
                let Ok(meta) = file.metadata() else {
                    return false;
                };
                let newer = meta.modified().is_ok_and(|m| m >= mtime);
                // Inode numbers are reused at once: a file read before has its inode
                // and its beginning.
                let read = self.finished.iter().any(|seg| {
                    seg.ino == meta.ino() && head_matches(&file, &seg.cursor(0, 0)).unwrap_or(false)
                });
                newer && !read
            })
            .collect()
    }

    /// The file became shorter than our offset or its beginning changed.
    fn truncated(&mut self, cur: &mut Open) {
        // copytruncate: a sibling with our beginning holds what we had not read yet.
        let c = cur.seg.cursor(cur.offset, cur.line);
        let mut stats = ReadStats::default();
        let batcher = &mut self.batcher;
        let found = super::finish_rotated(
            &mut self.sp,
            &self.path,
            &c,
            None,
            &mut stats,
            &mut |seg, l| batcher.line(&seg.path, l, Position::File(seg.cursor(l.end, l.number))),
        );
        self.batcher.flush();
        let from = match found {
            Ok(true) => stats.files.first().cloned().unwrap_or(self.path.clone()),
            Ok(false) => self.path.clone(),
            Err(e) => {
                self.error(e.to_string());
                self.path.clone()
            }
        };
        self.batcher.status(SourceState::Rotated { from });
        cur.offset = 0;
        cur.line = 0;
        if let Ok(seg) = Segment::of(&self.path, &cur.file) {
            cur.seg = seg;
        }
        self.batcher.status(SourceState::Following {
            path: self.path.clone(),
        });
    }

    /// Reads `cur` from its offset to its end. False on a read error (reported).
    fn read(&mut self, cur: &mut Open, tail: Tail) -> bool {
        if cur.seg.head_len < HEAD_MAX && !cur.rotated {
            // Lengthen the fingerprint as the file grows: a longer one finds the file
            // surely among compressed siblings. Only while the file still begins as
            // fingerprinted: copytruncate may have emptied and refilled it since `pass`
            // looked, and a fingerprint of the new text would not find the copy.
            if let Ok(Some((len, hash))) = super::longer_head(&cur.file, &cur.seg) {
                cur.seg.head_len = len;
                cur.seg.head_hash = hash;
            }
        }
        let result = cur.file.seek(SeekFrom::Start(cur.offset)).and_then(|_| {
            let seg = &cur.seg;
            let batcher = &mut self.batcher;
            self.sp
                .run(&mut cur.file, cur.offset, cur.line, tail, &mut |l| {
                    batcher.line(&seg.path, l, Position::File(seg.cursor(l.end, l.number)))
                })
        });
        self.batcher.flush();
        match result {
            Ok(run) => {
                cur.offset = run.end_offset;
                cur.line += run.lines;
                true
            }
            Err(e) => {
                self.error(super::read_err(&cur.seg.path, e).to_string());
                false
            }
        }
    }
}

/// Wake-ups from inotify. `Inotify` can only block without a timeout, and `nix`'s poll is
/// not among our features, so a helper thread blocks on it and signals a channel that
/// the follower waits on with a timeout.
struct Watcher {
    watches: Watches,
    dir: PathBuf,
    dir_wd: Option<WatchDescriptor>,
    file_wd: Option<WatchDescriptor>,
    next_wd: Option<WatchDescriptor>,
    wake: mpsc::Receiver<()>,
    closing: Arc<AtomicBool>,
}

const DIR_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);
const FILE_MASK: WatchMask = WatchMask::MODIFY
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::DELETE_SELF);

impl Watcher {
    /// None when inotify is unavailable (no instances left): the caller polls.
    fn new(path: &Path, stop: &Stop) -> Option<Watcher> {
        let inotify = Inotify::init().ok()?;
        let watches = inotify.watches();
        let name = path.file_name().map(OsString::from).unwrap_or_default();
        let (tx, wake) = mpsc::sync_channel(1);
        stop.wake_on_stop(tx.clone());
        let closing = Arc::new(AtomicBool::new(false));
        let flag = closing.clone();
        thread::Builder::new()
            .name("inotify".into())
            .spawn(move || wait_events(inotify, &name, &tx, &flag))
            .ok()?;
        Some(Watcher {
            watches,
            dir: path.parent().unwrap_or(Path::new("/")).to_path_buf(),
            dir_wd: None,
            file_wd: None,
            next_wd: None,
            wake,
            closing,
        })
    }

    /// Returns at the first event, or after `timeout`; at once if one is pending.
    fn wait(&self, timeout: Duration) {
        match self.wake.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            // The helper died (read error): fall back to polling.
            Err(RecvTimeoutError::Disconnected) => thread::sleep(timeout),
        }
    }

    /// Adding a watch on an inode already watched returns its descriptor, so this is
    /// cheap to repeat, and it heals a watch lost with a deleted directory.
    fn watch_dir(&mut self) {
        self.dir_wd = self.watches.add(&self.dir, DIR_MASK).ok();
    }

    fn watch_file(&mut self, path: &Path) {
        let wd = self.watches.add(path, FILE_MASK).ok();
        if self.file_wd != wd
            && let Some(old) = self.file_wd.take()
        {
            let _ = self.watches.remove(old);
        }
        self.file_wd = wd;
        self.next_wd = None;
    }

    fn watch_next(&mut self, path: &Path) {
        if self.next_wd.is_none() {
            self.next_wd = self.watches.add(path, FILE_MASK).ok();
        }
    }

    fn unwatch_file(&mut self) {
        if let Some(old) = self.file_wd.take()
            && Some(&old) != self.next_wd.as_ref()
        {
            // Fails when the kernel already dropped it with the deleted file.
            let _ = self.watches.remove(old);
        }
        self.file_wd = self.next_wd.take();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        for wd in [self.dir_wd.take(), self.file_wd.take(), self.next_wd.take()]
            .into_iter()
            .flatten()
        {
            let _ = self.watches.remove(wd);
        }
        // Removing a watch queues IN_IGNORED, which wakes the helper so it can end; "/"
        // makes sure there is one even when every watch was already gone.
        if let Ok(wd) = self.watches.add("/", WatchMask::ATTRIB) {
            let _ = self.watches.remove(wd);
        }
    }
}

fn wait_events(mut inotify: Inotify, name: &OsString, tx: &SyncSender<()>, closing: &AtomicBool) {
    let mut buf = [0u8; 4096];
    loop {
        let events = match inotify.read_events_blocking(&mut buf) {
            Ok(events) => events,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let mut wake = false;
        for e in events {
            // Directory events about other files are not ours; events on our files and
            // the directory itself, and queue overflows, have no name.
            if e.mask.contains(EventMask::Q_OVERFLOW) || e.name.is_none_or(|n| n == name) {
                wake = true;
            }
        }
        if closing.load(Ordering::SeqCst) {
            return;
        }
        if wake {
            match tx.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => return,
            }
        }
    }
}
