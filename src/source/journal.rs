//! The systemd journal, read through `journalctl --output=export` (argv only, never a
//! shell): followed for the daemon, or read once since a saved `__CURSOR` for `scan`.
//! Export, not JSON: binary-safe (a value with a control byte is length-prefixed, not an
//! array of numbers), and read with the byte-level export reader that files given to
//! `check` use, four times cheaper than journalctl's JSON before any JSON is parsed
//! (`examples/bench_journal.rs`).
//!
//! Owns: the journalctl command line, which entries are trusted, and turning an entry into
//! the syslog-style line the parser reads: `<UTC time> <host> <_COMM>[<_PID>]: <MESSAGE>`.
//! Must not: parse the message or save cursors (the position travels with each batch).
//!
//! Trust (openssh-messages.md §5.5): only fields journald sets itself decide. An entry is
//! used only when `_COMM` is one of the identifiers (not `SYSLOG_IDENTIFIER`, which any
//! `logger -t sshd` sets), `_TRANSPORT` is `syslog` or `journal` (`stdout` is `sshd -e`'s
//! stderr, where the client controls line breaks), `_PID` is a number, and `MESSAGE` is
//! there; an entry with a field twice, or a line over 1 MiB, is skipped. journalctl is
//! asked for exactly these entries, and every entry is checked again here. `\n` and `\r` inside `MESSAGE`
//! become spaces, so one entry is always one line.

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc::SyncSender;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::follow::{Batcher, Feed, FlushBeforeRead, Position, SourceState, Stop};
use super::split::{CHUNK, Splitter, Tail};
use super::{Line, SourceError};

/// Key and origin of journal batches, and the store key of the journal's position.
pub const JOURNAL: &str = "journal";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// The program to run; a fake in tests.
    pub journalctl: PathBuf,
    /// Journal files to read (`--file=`), for tests and offline journals; empty: the
    /// system journal.
    pub files: Vec<PathBuf>,
    /// Process names (`_COMM`) whose entries are read.
    pub identifiers: Vec<String>,
}

impl Default for JournalOptions {
    fn default() -> JournalOptions {
        JournalOptions {
            journalctl: "journalctl".into(),
            files: Vec::new(),
            identifiers: ["sshd", "sshd-session", "sshd-auth"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// Where journalctl starts.
#[derive(Debug, Clone, Copy)]
enum From<'a> {
    Start,
    /// Only entries written from now on.
    Now,
    /// Entries written since this unix second: a restarted journalctl that never
    /// delivered a cursor resumes from when following began, not from its own start.
    Since(i64),
    After(&'a str),
}

/// The argument vector after the program name.
fn args(opts: &JournalOptions, from: From<'_>, follow: bool) -> Vec<OsString> {
    // Export, not JSON: binary-safe, and read with byte searches instead of a JSON
    // parser. Every field is printed: `--output-fields` made journalctl 14% slower.
    let mut a: Vec<OsString> = vec!["--output=export".into(), "--no-pager".into()];
    for f in &opts.files {
        let mut arg = OsString::from("--file=");
        arg.push(f);
        a.push(arg);
    }
    match from {
        From::Start => {}
        From::Now => a.push("--lines=0".into()),
        From::Since(secs) => a.push(format!("--since=@{secs}").into()),
        From::After(c) => a.push(format!("--after-cursor={c}").into()),
    }
    if follow {
        a.push("--follow".into());
    }
    // Same field: alternatives; different fields: all must hold.
    for id in &opts.identifiers {
        a.push(format!("_COMM={id}").into());
    }
    a.push("_TRANSPORT=syslog".into());
    a.push("_TRANSPORT=journal".into());
    a
}

fn spawn(opts: &JournalOptions, from: From<'_>, follow: bool) -> Result<Child, SourceError> {
    let child = Command::new(&opts.journalctl)
        .args(args(opts, from, follow))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SourceError::Spawn {
            program: opts.journalctl.clone(),
            source,
        })?;
    // A 1 MiB pipe instead of 64 KiB: journalctl blocks, and both sides switch, 16 times
    // less often over a backlog. Best effort: the pipe works at any size.
    if let Some(out) = &child.stdout {
        let _ = nix::fcntl::fcntl(out, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
    }
    Ok(child)
}

/// The longest line of journalctl's output read: an entry with a longer field is
/// skipped.
const MAX_JSON_LINE: usize = 1 << 20;

/// A field as journalctl prints it: text, or an array of bytes when it is not UTF-8 or
/// holds control characters. An entry holding the field twice prints an array of those,
/// which matches neither and makes the entry unreadable, hence skipped.
#[derive(Deserialize)]
#[serde(untagged)]
enum Field {
    Text(String),
    Bytes(Vec<u8>),
}

impl Field {
    fn bytes(&self) -> &[u8] {
        match self {
            Field::Text(s) => s.as_bytes(),
            Field::Bytes(b) => b,
        }
    }
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "__CURSOR")]
    cursor: String,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: Option<Field>,
    #[serde(rename = "_COMM")]
    comm: Option<Field>,
    #[serde(rename = "_PID")]
    pid: Option<Field>,
    #[serde(rename = "_TRANSPORT")]
    transport: Option<Field>,
    #[serde(rename = "_HOSTNAME")]
    hostname: Option<Field>,
    #[serde(rename = "MESSAGE")]
    message: Option<Field>,
}

/// What a JSON line, or the line that ends an export entry, gave.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// An entry to deliver: its line (without `\n`) is in the buffer.
    Line(String),
    /// An entry that is not trusted or has no message: only its cursor counts.
    Skip(String),
    /// Not an entry (noise, or a line too long to read).
    Nothing,
}

/// Parses one JSON line and, for a trusted entry, writes the line into `out`.
fn entry_line(json: &[u8], identifiers: &[String], out: &mut Vec<u8>) -> Parsed {
    out.clear();
    let Ok(e) = serde_json::from_slice::<Entry>(json) else {
        return Parsed::Nothing;
    };
    let fields = Fields {
        realtime: e.realtime.as_ref().map(Field::bytes),
        comm: e.comm.as_ref().map(Field::bytes),
        pid: e.pid.as_ref().map(Field::bytes),
        transport: e.transport.as_ref().map(Field::bytes),
        hostname: e.hostname.as_ref().map(Field::bytes),
        message: e.message.as_ref().map(Field::bytes),
    };
    if synthesize(&fields, identifiers, out) {
        Parsed::Line(e.cursor)
    } else {
        Parsed::Skip(e.cursor)
    }
}

/// The fields of an entry that make its line, as the journal stores them.
#[derive(Debug, Default, Clone, Copy)]
struct Fields<'a> {
    realtime: Option<&'a [u8]>,
    comm: Option<&'a [u8]>,
    pid: Option<&'a [u8]>,
    transport: Option<&'a [u8]>,
    hostname: Option<&'a [u8]>,
    message: Option<&'a [u8]>,
}

/// Writes the line of a trusted sshd entry into `out` (cleared first): `false` when the
/// entry is not one (another program, `sshd -e`'s stdout, no pid, time or message).
/// Trusted means `_COMM` (the kernel's name of the sender) is one of `identifiers` and
/// the entry came through syslog(3) or the journal's API, never `SYSLOG_IDENTIFIER`,
/// which any program sets.
fn synthesize(e: &Fields<'_>, identifiers: &[String], out: &mut Vec<u8>) -> bool {
    out.clear();
    let trusted = e
        .transport
        .is_some_and(|t| matches!(t, b"syslog" | b"journal"));
    let comm = e
        .comm
        .filter(|c| identifiers.iter().any(|id| id.as_bytes() == *c));
    let pid = e
        .pid
        .filter(|p| !p.is_empty() && p.len() <= 10 && p.iter().all(u8::is_ascii_digit));
    let time = e
        .realtime
        .and_then(|t| std::str::from_utf8(t).ok()?.parse::<i64>().ok())
        .and_then(|us| jiff::Timestamp::from_microsecond(us).ok());
    let (true, Some(comm), Some(pid), Some(time), Some(message)) =
        (trusted, comm, pid, time, e.message)
    else {
        return false;
    };
    let host = e
        .hostname
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(b))
        })
        .unwrap_or(b"-");
    let mut head = String::with_capacity(48);
    let _ = write!(head, "{}", time.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"));
    out.extend_from_slice(head.as_bytes());
    out.push(b' ');
    out.extend_from_slice(host);
    out.push(b' ');
    out.extend_from_slice(comm);
    out.push(b'[');
    out.extend_from_slice(pid);
    out.extend_from_slice(b"]: ");
    // The message is the client's: it must not end this line and start another.
    out.extend(message.iter().map(|&b| match b {
        b'\n' | b'\r' => b' ',
        b => b,
    }));
    true
}

/// What a log file given to `check` or `scan` holds, told by its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Log lines (syslog, journalctl's short forms, `sshd -E`).
    Lines,
    /// `journalctl -o json`: one entry per line.
    Json,
    /// `journalctl -o export`: `KEY=value` lines, binary fields as `KEY`, a 64-bit
    /// little-endian length and the bytes, entries ended by an empty line.
    Export,
}

/// Turns the lines of a file that may be a journal export (`journalctl -o json` or `-o
/// export`, saved or piped) into the lines the parser reads: a log's own lines as they
/// are, each trusted sshd entry as the journal source writes it (the same `_COMM`,
/// `_PID` and `_TRANSPORT` rules). One per file: the shape is its first line's.
#[derive(Debug)]
pub struct FileEntries {
    identifiers: Vec<String>,
    shape: Option<Shape>,
    out: Vec<u8>,
    /// The export entry being read: the fields of it that make its line, so far.
    fields: Vec<(&'static [u8], Vec<u8>)>,
    /// How many fields the entry has had, kept or not (bounded by MAX_EXPORT_FIELDS).
    field_count: usize,
    /// A binary field being read: its name if it is one we keep, and its length and bytes
    /// as read so far (they may span lines, since the bytes may hold `\n`).
    binary: Option<(Option<&'static [u8]>, Vec<u8>)>,
    /// The entry being read could not be read whole: its lines are skipped to its end.
    skipping: bool,
    /// The `__CURSOR` of the export entry that ended last, if it was read whole.
    cursor: Option<String>,
    /// Entries of an export that could not be read (a binary field cut short, a line over
    /// the cap): they are skipped whole.
    pub broken: u64,
}

/// `KEY=…` or a binary field's `KEY` alone, with a journal field name (upper-case letters,
/// digits and `_`, not starting with a digit): what every line of an export that is not
/// an entry's end or a binary field's bytes starts with, also where `scan` resumes.
fn is_export_field(line: &[u8]) -> bool {
    let name = match crate::bytes::find_byte(line, b'=') {
        Some(eq) => &line[..eq],
        None => line,
    };
    (1..=64).contains(&name.len())
        && !name[0].is_ascii_digit()
        && name
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && line.len() > name.len()
}

/// The most a binary field of an export may hold: journald's own limit for one entry is
/// far below.
const MAX_EXPORT_ENTRY: usize = 1 << 20;
/// The most fields an export entry may have (an sshd entry has about 30): with the
/// reader's 64 KiB line cap, this bounds what one entry can make us hold.
const MAX_EXPORT_FIELDS: usize = 256;

impl FileEntries {
    pub fn new(identifiers: &[String]) -> FileEntries {
        FileEntries {
            identifiers: identifiers.to_vec(),
            shape: None,
            out: Vec::new(),
            fields: Vec::new(),
            field_count: 0,
            binary: None,
            skipping: false,
            cursor: None,
            broken: 0,
        }
    }

    /// For sshd's default programs.
    pub fn sshd() -> FileEntries {
        FileEntries::new(&JournalOptions::default().identifiers)
    }

    fn shape(&mut self, line: &[u8]) -> Shape {
        *self.shape.get_or_insert_with(|| {
            if line.first() == Some(&b'{') {
                Shape::Json
            } else if is_export_field(line) {
                Shape::Export
            } else {
                Shape::Lines
            }
        })
    }

    /// What the parser reads of `line`, and whether it came from a journal entry: a log
    /// line itself, the line of a trusted JSON entry, or that of the export entry the line
    /// ends. `None` for a line cut at the reader's cap (its end, where the address is, is
    /// lost) and for an export's lines that end no trusted entry. A log's lines cost one
    /// test of the shape.
    #[inline]
    pub fn text<'s>(&'s mut self, line: Line<'s>) -> Option<(&'s [u8], bool)> {
        let shape = match self.shape {
            Some(Shape::Lines) => Shape::Lines,
            _ => self.shape(line.bytes),
        };
        match shape {
            Shape::Lines => (!line.truncated).then_some((line.bytes, false)),
            Shape::Json if line.truncated => None,
            Shape::Json => match entry_line(line.bytes, &self.identifiers, &mut self.out) {
                Parsed::Line(_) => Some((&self.out, true)),
                Parsed::Skip(_) | Parsed::Nothing => None,
            },
            Shape::Export => (self.export(line.bytes, line.truncated) == Some(true))
                .then_some((&self.out[..], true)),
        }
    }

    /// One line of `journalctl -o export` as the journal source reads it: at the end of an
    /// entry, its line (in [`FileEntries::line`]) or that it is skipped, with its cursor.
    fn journal_entry(&mut self, line: &[u8], truncated: bool) -> Parsed {
        match self.export(line, truncated) {
            None => Parsed::Nothing,
            Some(trusted) => match self.cursor.take() {
                None => Parsed::Nothing,
                Some(c) if trusted => Parsed::Line(c),
                Some(c) => Parsed::Skip(c),
            },
        }
    }

    /// The line of the last trusted entry.
    fn line(&self) -> &[u8] {
        &self.out
    }

    /// One line of an export: `None` inside an entry; at its end, whether it was a trusted
    /// sshd entry, whose line is then in `out`.
    fn export(&mut self, line: &[u8], truncated: bool) -> Option<bool> {
        if let Some((name, mut value)) = self.binary.take() {
            value.extend_from_slice(line);
            let need = value
                .first_chunk::<8>()
                .map(|n| u64::from_le_bytes(*n))
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n <= MAX_EXPORT_ENTRY);
            match need {
                _ if truncated => self.break_entry(),
                // The bytes so far, then the line end that belongs to them.
                Some(n) if value.len() - 8 == n => {
                    if let Some(name) = name {
                        value.drain(..8);
                        self.fields.push((name, value));
                    }
                }
                Some(n) if value.len() - 8 < n => {
                    value.push(b'\n');
                    self.binary = Some((name, value));
                }
                None if value.len() < 8 => {
                    value.push(b'\n');
                    self.binary = Some((name, value));
                }
                _ => self.break_entry(),
            }
            return None;
        }
        if line.is_empty() {
            let done = !self.skipping && self.finish_entry();
            self.cursor = (!self.skipping)
                .then(|| self.one(b"__CURSOR"))
                .flatten()
                .map(|c| String::from_utf8_lossy(c).into_owned());
            self.fields.clear();
            self.field_count = 0;
            self.skipping = false;
            return Some(done);
        }
        if self.skipping {
            return None;
        }
        if truncated {
            self.break_entry();
            return None;
        }
        self.field_count += 1;
        if self.field_count > MAX_EXPORT_FIELDS {
            self.break_entry();
            return None;
        }
        match crate::bytes::find_byte(line, b'=') {
            Some(eq) => {
                if let Some(name) = kept_field(&line[..eq]) {
                    self.fields.push((name, line[eq + 1..].to_vec()));
                }
            }
            None => self.binary = Some((kept_field(line), Vec::new())),
        }
        None
    }

    /// The entry being read cannot be read whole: it is counted once and its lines are
    /// skipped up to the empty line that ends it.
    fn break_entry(&mut self) {
        if !self.skipping {
            self.broken += 1;
        }
        self.skipping = true;
        self.fields.clear();
        self.binary = None;
    }

    /// The entry's field `name`, if it has exactly one (a field given twice is not one
    /// value).
    fn one(&self, name: &[u8]) -> Option<&[u8]> {
        let mut found = self.fields.iter().filter(|(n, _)| *n == name);
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Some(v.as_slice()),
            _ => None,
        }
    }

    fn finish_entry(&mut self) -> bool {
        let mut out = std::mem::take(&mut self.out);
        let get = |name: &[u8]| self.one(name);
        let fields = Fields {
            realtime: get(b"__REALTIME_TIMESTAMP"),
            comm: get(b"_COMM"),
            pid: get(b"_PID"),
            transport: get(b"_TRANSPORT"),
            hostname: get(b"_HOSTNAME"),
            message: get(b"MESSAGE"),
        };
        let done = synthesize(&fields, &self.identifiers, &mut out);
        self.out = out;
        done
    }
}

/// The export fields an entry's line is made of ([`Fields`]), and its cursor: only these
/// are kept.
const KEPT_FIELDS: [&[u8]; 7] = [
    b"__CURSOR",
    b"__REALTIME_TIMESTAMP",
    b"_COMM",
    b"_PID",
    b"_TRANSPORT",
    b"_HOSTNAME",
    b"MESSAGE",
];

fn kept_field(name: &[u8]) -> Option<&'static [u8]> {
    KEPT_FIELDS.into_iter().find(|k| *k == name)
}

/// For `scan`: reads the journal's sshd entries after `cursor` (None: all of them),
/// calling `f` with each synthesized line (without `\n`). Returns the cursor to save
/// once every line was handled: that of the last entry read, else the one given.
pub fn read_journal_since(
    opts: &JournalOptions,
    cursor: Option<&str>,
    mut f: impl FnMut(&[u8]),
) -> Result<Option<String>, SourceError> {
    let from = cursor.map_or(From::Start, From::After);
    let mut child = spawn(opts, from, false)?;
    let stderr = child.stderr.take().map(collect_stderr);
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut last = cursor.map(str::to_owned);
    let mut entries = FileEntries::new(&opts.identifiers);
    let read = Splitter::with_sizes(CHUNK, MAX_JSON_LINE).run(
        &mut stdout,
        0,
        0,
        Tail::Deliver,
        &mut |l| match entries.journal_entry(l.bytes, l.truncated) {
            Parsed::Line(c) => {
                f(entries.line());
                last = Some(c);
            }
            Parsed::Skip(c) => last = Some(c),
            Parsed::Nothing => {}
        },
    );
    drop(stdout);
    let status = child.wait();
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    let program = opts.journalctl.clone();
    if let Err(source) = read {
        return Err(SourceError::Journal {
            program,
            message: source.to_string(),
        });
    }
    match status {
        Ok(s) if s.success() => Ok(last),
        Ok(s) => Err(SourceError::Journal {
            program,
            message: failure(s, &stderr),
        }),
        Err(source) => Err(SourceError::Journal {
            program,
            message: source.to_string(),
        }),
    }
}

fn failure(status: ExitStatus, stderr: &str) -> String {
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    match last {
        Some(line) => format!("{status}: {}", line.trim()),
        None => status.to_string(),
    }
}

/// Keeps the first 4 KiB of journalctl's complaints, reading the rest so that it never
/// blocks on a full pipe.
fn collect_stderr(mut err: ChildStderr) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut err).take(4096).read_to_end(&mut kept);
        let _ = io::copy(&mut err, &mut io::sink());
        String::from_utf8_lossy(&kept).into_owned()
    })
}

/// How often the follower looks at the stop flag and at its journalctl.
const TICK: Duration = Duration::from_millis(100);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A journalctl that ran this long was healthy: the next failure starts backing off anew.
const HEALTHY: Duration = Duration::from_secs(10);

/// Follows the journal from after `start` (None: only entries written from now on),
/// restarting journalctl from the last delivered cursor whenever it exits, with a
/// backoff. Ends on `stop` or when the receiver is gone.
pub fn follow_journal(
    opts: JournalOptions,
    start: Option<String>,
    tx: SyncSender<Feed>,
    stop: Stop,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("follow journal".into())
        .spawn(move || run_journal(&opts, start, tx, &stop))
}

fn run_journal(
    opts: &JournalOptions,
    mut cursor: Option<String>,
    tx: SyncSender<Feed>,
    stop: &Stop,
) {
    let mut status = Batcher::new(JOURNAL.into(), tx.clone(), stop.clone(), 1);
    status.status(SourceState::Waiting {
        why: "journalctl not started yet".into(),
    });
    let mut backoff = BACKOFF_MIN;
    let mut number = 0u64;
    let began = jiff::Timestamp::now().as_second();
    let mut first = true;
    while !stop.is_stopped() && !status.closed() {
        let from = match cursor.as_deref() {
            Some(c) => From::After(c),
            None if first => From::Now,
            None => From::Since(began),
        };
        first = false;
        let started = Instant::now();
        let mut child = match spawn(opts, from, true) {
            Ok(child) => child,
            Err(e) => {
                status.status(SourceState::Error {
                    message: e.to_string(),
                });
                sleep(stop, backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        status.status(SourceState::Following {
            path: JOURNAL.into(),
        });
        let stderr = child.stderr.take().map(collect_stderr);
        let stdout = child.stdout.take().expect("stdout is piped");
        let reader = {
            let (tx, stop, ids) = (tx.clone(), stop.clone(), opts.identifiers.clone());
            thread::spawn(move || read_entries(stdout, &ids, tx, &stop, number))
        };
        while !reader.is_finished() && !stop.is_stopped() {
            thread::sleep(TICK);
        }
        if !reader.is_finished() {
            // Stopping: journalctl may wait for entries forever.
            let _ = child.kill();
            let _ = child.wait();
            // Its output ends with it, unless a process that inherited the pipe (another
            // thread's fork in that instant) still holds it: then do not wait for that.
            sleep_until(|| reader.is_finished(), Duration::from_secs(1));
            if !reader.is_finished() {
                break;
            }
        }
        let exit = child.wait();
        let (last, n, closed) = reader.join().unwrap_or((None, number, true));
        let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        number = n;
        if last.is_some() {
            cursor = last;
        }
        if stop.is_stopped() || closed {
            break;
        }
        let why = match exit {
            Ok(s) => failure(s, &stderr),
            Err(e) => e.to_string(),
        };
        status.status(SourceState::Error {
            message: format!("{} exited ({why}); restarting", opts.journalctl.display()),
        });
        if started.elapsed() >= HEALTHY {
            backoff = BACKOFF_MIN;
        }
        sleep(stop, backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    status.status(SourceState::Stopped);
}

/// Reads journalctl's output until it ends; returns the last cursor delivered, the
/// number of entries delivered so far, and whether the receiver is gone.
fn read_entries(
    stdout: impl Read,
    identifiers: &[String],
    tx: SyncSender<Feed>,
    stop: &Stop,
    number: u64,
) -> (Option<String>, u64, bool) {
    let batcher = RefCell::new(Batcher::new(JOURNAL.into(), tx, stop.clone(), 4096));
    let mut reader = FlushBeforeRead {
        inner: stdout,
        batcher: &batcher,
        stop,
    };
    let mut last = None;
    let mut number = number;
    let mut entries = FileEntries::new(identifiers);
    let origin = Path::new(JOURNAL);
    let _ =
        Splitter::with_sizes(CHUNK, MAX_JSON_LINE).run(&mut reader, 0, 0, Tail::Hold, &mut |l| {
            let parsed = entries.journal_entry(l.bytes, l.truncated);
            let mut b = batcher.borrow_mut();
            match parsed {
                Parsed::Line(c) => {
                    number += 1;
                    b.push(
                        origin,
                        entries.line(),
                        number,
                        false,
                        Position::Journal(c.clone()),
                    );
                    last = Some(c);
                }
                Parsed::Skip(c) => {
                    // Moves the position without a line, as a dropped line does.
                    b.push(origin, b"", number + 1, true, Position::Journal(c.clone()));
                    last = Some(c);
                }
                Parsed::Nothing => {}
            }
        });
    let mut b = batcher.into_inner();
    if !stop.is_stopped() {
        b.flush();
    }
    (last, number, b.closed())
}

fn sleep_until(done: impl Fn() -> bool, most: Duration) {
    let end = Instant::now() + most;
    while !done() && Instant::now() < end {
        thread::sleep(Duration::from_millis(10));
    }
}

fn sleep(stop: &Stop, d: Duration) {
    let end = Instant::now() + d;
    while !stop.is_stopped() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        thread::sleep(left.min(TICK));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_line(bytes: &[u8], truncated: bool) -> Line<'_> {
        Line {
            bytes,
            number: 0,
            offset: 0,
            end: 0,
            truncated,
        }
    }

    /// An export entry that breaks twice (too long a binary field, then a line over the
    /// cap) is one broken entry, and the entry after it is read.
    #[test]
    fn a_broken_export_entry_counts_once_and_the_next_is_read() {
        let mut e = FileEntries::sshd();
        let mut feed = |bytes: &[u8], truncated: bool| {
            e.text(read_line(bytes, truncated)).map(|(t, _)| t.to_vec())
        };
        assert_eq!(feed(b"__CURSOR=a", false), None);
        assert_eq!(feed(b"MESSAGE", false), None);
        let mut long = (2u64 << 20).to_le_bytes().to_vec();
        long.extend_from_slice(b"x");
        assert_eq!(feed(&long, false), None);
        assert_eq!(feed(b"_PID=1", true), None);
        assert_eq!(feed(b"", false), None);
        for f in [
            &b"__CURSOR=b"[..],
            b"__REALTIME_TIMESTAMP=1795521600000000",
            b"_COMM=sshd",
            b"_PID=7",
            b"_TRANSPORT=syslog",
            b"MESSAGE=Invalid user z from 192.0.2.1 port 4",
        ] {
            assert_eq!(feed(f, false), None);
        }
        let done = feed(b"", false).expect("the entry's line");
        assert!(
            done.ends_with(b" sshd[7]: Invalid user z from 192.0.2.1 port 4"),
            "{done:?}"
        );
        assert_eq!(e.broken, 1);
    }

    fn ids() -> Vec<String> {
        JournalOptions::default().identifiers
    }

    fn line(json: &str) -> (Parsed, String) {
        let mut out = Vec::new();
        let p = entry_line(json.as_bytes(), &ids(), &mut out);
        (p, String::from_utf8_lossy(&out).into_owned())
    }

    const OK: &str = r#"{"__CURSOR":"c1","__REALTIME_TIMESTAMP":"1795520101120001","_TRANSPORT":"syslog","_COMM":"sshd-session","_PID":"7201","_HOSTNAME":"gw4","SYSLOG_IDENTIFIER":"sshd-session","MESSAGE":"Failed password for root from 203.0.113.71 port 48001 ssh2"}"#;

    #[test]
    fn trusted_entry_becomes_a_syslog_line() {
        let (p, l) = line(OK);
        assert_eq!(p, Parsed::Line("c1".into()));
        assert_eq!(
            l,
            "2026-11-24T11:35:01.120001Z gw4 sshd-session[7201]: Failed password for root from 203.0.113.71 port 48001 ssh2"
        );
    }

    #[test]
    fn untrusted_entries_only_move_the_cursor() {
        for (from, to) in [
            (r#""_COMM":"sshd-session""#, r#""_COMM":"logger""#),
            (r#""_TRANSPORT":"syslog""#, r#""_TRANSPORT":"stdout""#),
            (r#","_PID":"7201""#, ""),
            (r#""_PID":"7201""#, r#""_PID":"7201 x""#),
            (
                r#""MESSAGE":"Failed password for root from 203.0.113.71 port 48001 ssh2""#,
                r#""MESSAGE":null"#,
            ),
        ] {
            let json = OK.replace(from, to);
            assert_ne!(json, OK);
            assert_eq!(line(&json).0, Parsed::Skip("c1".into()), "{json}");
        }
        assert_eq!(line("-- No entries --").0, Parsed::Nothing);
    }

    #[test]
    fn message_bytes_and_line_breaks() {
        let json = OK.replace(
            r#""MESSAGE":"Failed password for root from 203.0.113.71 port 48001 ssh2""#,
            r#""MESSAGE":[97,255,10,98,13,99]"#,
        );
        let mut out = Vec::new();
        assert_eq!(
            entry_line(json.as_bytes(), &ids(), &mut out),
            Parsed::Line("c1".into())
        );
        assert!(out.ends_with(b"sshd-session[7201]: a\xff b c"), "{out:?}");
        let json = OK.replace("root from", "x\\n2026-11-25T06:55:01Z h sshd[1]: root from");
        let (_, l) = line(&json);
        assert!(!l.contains('\n'));
    }

    #[test]
    fn hostile_hostname_becomes_a_dash() {
        let (_, l) = line(&OK.replace(r#""gw4""#, r#""evil host""#));
        assert!(l.starts_with("2026-11-24T11:35:01.120001Z - sshd-session[7201]: "));
    }

    #[test]
    fn argv_for_each_start() {
        let opts = JournalOptions {
            files: vec!["/tmp/a.journal".into()],
            ..JournalOptions::default()
        };
        let s = |v: Vec<OsString>| {
            v.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let tail =
            "_COMM=sshd _COMM=sshd-session _COMM=sshd-auth _TRANSPORT=syslog _TRANSPORT=journal";
        assert_eq!(
            s(args(&opts, From::Now, true)),
            format!("--output=export --no-pager --file=/tmp/a.journal --lines=0 --follow {tail}")
        );
        assert_eq!(
            s(args(&opts, From::After("s=1;i=2"), false)),
            format!(
                "--output=export --no-pager --file=/tmp/a.journal --after-cursor=s=1;i=2 {tail}"
            )
        );
        assert_eq!(
            s(args(&JournalOptions::default(), From::Start, false)),
            format!("--output=export --no-pager {tail}")
        );
        assert_eq!(
            s(args(
                &JournalOptions::default(),
                From::Since(1_795_000_000),
                true
            )),
            format!("--output=export --no-pager --since=@1795000000 --follow {tail}")
        );
    }

    /// The journal source's export reading: each entry's end gives its line or a skip,
    /// with its cursor; a binary MESSAGE keeps its bytes on one line.
    #[test]
    fn export_entries_give_their_line_or_a_skip_with_their_cursor() {
        let mut e = FileEntries::new(&ids());
        let mut feed = |text: &[u8]| -> Vec<Parsed> {
            let mut out = Vec::new();
            for l in text.split(|&b| b == b'\n') {
                match e.journal_entry(l, false) {
                    Parsed::Nothing => {}
                    Parsed::Line(c) => out.push(Parsed::Line(format!(
                        "{c} {}",
                        String::from_utf8_lossy(e.line())
                    ))),
                    p => out.push(p),
                }
            }
            out
        };
        let head =
            "__REALTIME_TIMESTAMP=1795520101120001\n_TRANSPORT=syslog\n_PID=7\n_HOSTNAME=gw\n";
        let mut text = format!(
            "__CURSOR=c1\n{head}_COMM=sshd\nMESSAGE=Failed password for root from 192.0.2.1 port 1 ssh2\n\n\
             __CURSOR=c2\n{head}_COMM=logger\nMESSAGE=Failed password for root from 192.0.2.2 port 1 ssh2\n\n\
             __CURSOR=c3\n{head}_COMM=sshd\nMESSAGE\n"
        )
        .into_bytes();
        let msg = b"Invalid user a\nb from 192.0.2.3 port 2";
        text.extend_from_slice(&(msg.len() as u64).to_le_bytes());
        text.extend_from_slice(msg);
        text.extend_from_slice(b"\n\n");
        assert_eq!(
            feed(&text),
            [
                Parsed::Line(
                    "c1 2026-11-24T11:35:01.120001Z gw sshd[7]: Failed password for root from 192.0.2.1 port 1 ssh2".into()
                ),
                Parsed::Skip("c2".into()),
                Parsed::Line(
                    "c3 2026-11-24T11:35:01.120001Z gw sshd[7]: Invalid user a b from 192.0.2.3 port 2".into()
                ),
            ]
        );
    }
}
