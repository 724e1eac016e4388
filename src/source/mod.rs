//! source: reading log lines from files and streams, and resuming a file where the last
//! run stopped even when it was rotated (renamed, compressed, copied and truncated).
//!
//! Owns: splitting bytes into lines (never assuming UTF-8, capping line length, one
//! reusable buffer), the [`Cursor`] that identifies a position in a log file, finding
//! that file again among its rotated siblings, following files as they grow ([`follow`])
//! and reading the systemd journal through `journalctl` ([`journal`], the one external
//! program run here, with a fixed argv). Must not: parse lines, decide anything, or touch
//! the store (the caller saves the returned cursor, after handling the lines). `.gz` is
//! read with flate2.
//!
//! Every line is delivered exactly once across runs provided the caller saves the
//! returned cursor only after handling every line of that call, and rotation kept the
//! unread part in a sibling named like `PATH.1`, `PATH.2.gz`, `PATH-20261127`.
//!
//! A rotated file is recognised by its inode while it is only renamed, and by the hash
//! of its first 4 KiB (`Cursor::head_hash`) once compressed or copied. The hash is only
//! as good as those bytes: a file that was empty at the last run has no fingerprint, so
//! if it was rotated *and* compressed before the next run, the newest sibling is taken
//! for it. Log lines begin with a timestamp, so one whole line is enough.

pub mod follow;
mod glob;
pub mod journal;
mod rotate;
mod split;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use split::{Splitter, Tail};

/// The auth logs of common distributions, in order of preference, read when no log is
/// configured.
pub const DEFAULT_LOGS: [&str; 2] = ["/var/log/auth.log", "/var/log/secure"];

/// The auth log read when none is configured, by `scan`, the daemon and what `install`
/// says of them: the first of [`DEFAULT_LOGS`] that exists on the system whose root is
/// `root` (`/`, or `install --root`'s). One, not each: a system writing both would have
/// every attempt counted twice. `None` where sshd logs only to the journal (Debian 12 and
/// Raspberry Pi OS 12 install no syslog daemon), which is then read (`daemon.journal`).
pub fn default_log(root: &Path) -> Option<&'static str> {
    DEFAULT_LOGS
        .into_iter()
        .find(|log| root.join(log.trim_start_matches('/')).exists())
}

pub use follow::{
    Batch, Feed, FollowOptions, Position, SourceState, Stop, follow_file, follow_stdin,
};
pub use glob::expand_glob;
pub use journal::{FileEntries, JOURNAL, JournalOptions, follow_journal, read_journal_since};

/// The key under which a log's position is saved: its absolute path, so `auth.log` and
/// `/var/log/auth.log` share one cursor whatever the working directory of `scan`, the
/// daemon or its follower.
pub fn source_key(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// A line as read: its bytes without the `\n`, never assumed to be UTF-8. A `\r` before
/// the `\n` is kept: `sshd -E` ends every genuine line with CR LF, so the parser can tell
/// them from fragments forged with a raw LF in a user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// At most 64 KiB; see `truncated`.
    pub bytes: &'a [u8],
    /// 1-based line number in the file (or stream) being read.
    pub number: u64,
    /// Byte offset of the line's first byte in that file (decompressed, for `.gz`).
    pub offset: u64,
    /// Byte offset just after the line and its `\n`: where reading resumes once this line
    /// was handled.
    pub end: u64,
    /// The line was longer than the cap and `bytes` is only its beginning.
    pub truncated: bool,
}

/// How many bytes of a file's beginning identify it across renames and compression.
pub const HEAD_MAX: u32 = 4096;

/// Where reading of one log path stopped: enough to resume exactly there, or to find the
/// file again after rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Device of the file; informational, as device numbers may change across reboots.
    pub dev: u64,
    pub ino: u64,
    /// Just after the last whole line consumed.
    pub offset: u64,
    /// Lines consumed, so numbering continues.
    pub line: u64,
    /// How many bytes `head_hash` covers: `HEAD_MAX`, or fewer if the file was shorter.
    pub head_len: u32,
    /// FNV-1a 64 of the first `head_len` bytes.
    pub head_hash: u64,
}

/// How `read_since` found its place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Resume {
    /// No cursor: read from the start.
    #[default]
    Fresh,
    /// Same file as last time: continued from the saved offset.
    Continued,
    /// The file had been rotated: the rest of `from` was read, then newer siblings, then
    /// the new file from its start.
    Rotated { from: PathBuf },
    /// Same file but shorter than the saved offset (truncated or copytruncate), and no
    /// sibling holds the old content: read from the start. Lines written between the last
    /// run and the truncation are gone.
    Truncated,
    /// A different file and no sibling holds the old one: read from the start. Lines
    /// written between the last run and the rotation may have been missed.
    LostRotation,
}

/// What one call read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Bytes read (decompressed), including a held-back partial last line.
    pub bytes: u64,
    /// Lines delivered.
    pub lines: u64,
    /// Lines delivered cut to the cap.
    pub truncated: u64,
    /// Files read, in the order read.
    pub files: Vec<PathBuf>,
    pub resume: Resume,
    /// Rotated, compressed files whose content is damaged (a copy cut short, a corrupt
    /// block), with the decompressor's error: their lines up to the damage were
    /// delivered, the rest is skipped, and reading went on with the newer files. Retrying
    /// could never get past the damage.
    pub damaged: Vec<(PathBuf, String)>,
}

impl ReadStats {
    /// Lines may have been missed: the CLI should warn.
    pub fn lost_rotation(&self) -> bool {
        matches!(self.resume, Resume::LostRotation | Resume::Truncated)
    }

    fn add(&mut self, path: &Path, run: split::Run) {
        self.bytes += run.bytes;
        self.lines += run.lines;
        self.truncated += run.truncated;
        self.files.push(path.to_path_buf());
    }
}

#[derive(Debug)]
pub enum SourceError {
    /// The log path does not exist (the caller decides whether that is an error).
    NotFound {
        path: PathBuf,
    },
    Open {
        path: PathBuf,
        source: io::Error,
    },
    Read {
        path: PathBuf,
        source: io::Error,
    },
    /// A `.gz` file that is not valid gzip, or ends early.
    Gzip {
        path: PathBuf,
        source: io::Error,
    },
    /// A stream without a name (stdin) failed.
    Stream {
        source: io::Error,
    },
    /// journalctl (or the program configured instead) could not be started.
    Spawn {
        program: PathBuf,
        source: io::Error,
    },
    /// journalctl failed; `message` is its exit status and last complaint.
    Journal {
        program: PathBuf,
        message: String,
    },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::NotFound { path } => write!(f, "{}: no such file", path.display()),
            SourceError::Open { path, source } => {
                write!(f, "cannot open {}: {source}", path.display())
            }
            SourceError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            SourceError::Gzip { path, source } => {
                write!(f, "cannot decompress {}: {source}", path.display())
            }
            SourceError::Stream { source } => write!(f, "cannot read input: {source}"),
            SourceError::Spawn { program, source } => {
                write!(f, "cannot run {}: {source}", program.display())
            }
            SourceError::Journal { program, message } => {
                write!(f, "{} failed: {message}", program.display())
            }
        }
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SourceError::NotFound { .. } | SourceError::Journal { .. } => None,
            SourceError::Spawn { source, .. }
            | SourceError::Open { source, .. }
            | SourceError::Read { source, .. }
            | SourceError::Gzip { source, .. }
            | SourceError::Stream { source } => Some(source),
        }
    }
}

/// Streams every line of `reader` (stdin, a file for `check`) to `f`, including a last
/// line without a newline. Memory: one buffer, whatever the input.
pub fn read_lines<R: Read>(
    mut reader: R,
    mut f: impl FnMut(Line<'_>),
) -> Result<ReadStats, SourceError> {
    let run = Splitter::new()
        .run(&mut reader, 0, 0, Tail::Deliver, &mut f)
        .map_err(|source| SourceError::Stream { source })?;
    Ok(ReadStats {
        bytes: run.bytes,
        lines: run.lines,
        truncated: run.truncated,
        files: Vec::new(),
        resume: Resume::Fresh,
        damaged: Vec::new(),
    })
}

/// Reads every line of the file at `path`, decompressing it if it is gzip (by its magic
/// bytes, whatever its name), as `check` does for `auth.log.2.gz`.
pub fn read_file(path: &Path, f: impl FnMut(Line<'_>)) -> Result<ReadStats, SourceError> {
    read_file_observed(path, |_| {}, f)
}

/// [`read_file`], telling `read` how many bytes of the file itself (compressed, for a
/// `.gz`) were read so far, once per read from it: what a progress bar needs.
pub fn read_file_observed(
    path: &Path,
    read: impl FnMut(u64),
    mut f: impl FnMut(Line<'_>),
) -> Result<ReadStats, SourceError> {
    let file = Counted {
        inner: open(path)?,
        total: 0,
        tell: read,
    };
    let mut file = file;
    // Read, not read_at: `check <(zcat …)` hands us a pipe, which cannot seek.
    let mut magic = [0u8; 2];
    let n = fill(&mut file, &mut magic).map_err(|source| read_err(path, source))?;
    let mut reader = (&magic[..n]).chain(file);
    let mut sp = Splitter::new();
    let run = if magic[..n] == GZIP_MAGIC {
        sp.run(
            &mut flate2::read::MultiGzDecoder::new(reader),
            0,
            0,
            Tail::Deliver,
            &mut f,
        )
        .map_err(|source| SourceError::Gzip {
            path: path.to_path_buf(),
            source,
        })?
    } else {
        sp.run(&mut reader, 0, 0, Tail::Deliver, &mut f)
            .map_err(|source| read_err(path, source))?
    };
    let mut stats = ReadStats::default();
    stats.add(path, run);
    Ok(stats)
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether the file at `path` starts as gzip does (false if it cannot be read).
pub fn is_gzip(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    File::open(path).is_ok_and(|mut f| fill(&mut f, &mut magic).is_ok_and(|n| n == 2))
        && magic == GZIP_MAGIC
}

/// A reader that tells how many bytes were read through it.
struct Counted<R, F> {
    inner: R,
    total: u64,
    tell: F,
}

impl<R: Read, F: FnMut(u64)> Read for Counted<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        (self.tell)(self.total);
        Ok(n)
    }
}

/// For `scan`: reads what was appended to the log at `path` since `cursor` (None: from
/// the start), calling `f(origin, line)` where `origin` is the file actually read (a
/// rotated sibling while finishing it). Returns the cursor of `path` to save once every
/// line was handled.
///
/// The last line of `path` is held back until its newline is written; a rotated file's
/// last line is delivered, newline or not. On error, nothing should be saved: the next
/// run starts again from the old cursor.
pub fn read_since(
    path: &Path,
    cursor: Option<&Cursor>,
    f: impl FnMut(&Path, Line<'_>),
) -> Result<(Cursor, ReadStats), SourceError> {
    read_since_with(&mut Splitter::new(), path, cursor, f)
}

fn read_since_with(
    sp: &mut Splitter,
    path: &Path,
    cursor: Option<&Cursor>,
    mut f: impl FnMut(&Path, Line<'_>),
) -> Result<(Cursor, ReadStats), SourceError> {
    let (_, cursor, stats) = read_since_core(sp, path, cursor, &mut |seg, l| f(&seg.path, l))?;
    Ok((cursor, stats))
}

/// The file lines come from, with what a [`Cursor`] on it needs besides the position, so
/// that a follower can save a cursor after any line, not only at the end of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub head_len: u32,
    pub head_hash: u64,
}

impl Segment {
    fn of(path: &Path, file: &File) -> io::Result<Segment> {
        let meta = file.metadata()?;
        let (head_len, head_hash) = head_of(file)?;
        Ok(Segment {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            head_len,
            head_hash,
        })
    }

    pub(crate) fn cursor(&self, offset: u64, line: u64) -> Cursor {
        Cursor {
            dev: self.dev,
            ino: self.ino,
            offset,
            line,
            head_len: self.head_len,
            head_hash: self.head_hash,
        }
    }
}

/// Callback of the reusable pieces: the segment a line belongs to, and the line.
pub(crate) type SegmentFn<'f> = dyn FnMut(&Segment, Line<'_>) + 'f;

/// `read_since`, also handing back the live file, still open, so that a follower goes on
/// with the very file whose end it reached (the path may already name another).
pub(crate) fn read_since_core(
    sp: &mut Splitter,
    path: &Path,
    cursor: Option<&Cursor>,
    f: &mut SegmentFn<'_>,
) -> Result<(File, Cursor, ReadStats), SourceError> {
    let mut live = open(path)?;
    let meta = live.metadata().map_err(|source| read_err(path, source))?;
    let mut stats = ReadStats::default();

    let (offset, line) = match cursor {
        None => (0, 0),
        Some(c) => {
            let same_ino = meta.ino() == c.ino;
            let live_matches =
                meta.len() >= c.offset && head_matches(&live, c).map_err(|e| read_err(path, e))?;
            if same_ino && live_matches {
                stats.resume = Resume::Continued;
                (c.offset, c.line)
            } else if finish_rotated(sp, path, c, Some(meta.ino()), &mut stats, f)? {
                (0, 0)
            } else if live_matches {
                // Same content under another inode number (restored from a backup, a
                // file system without stable inodes): it is still our file.
                stats.resume = Resume::Continued;
                (c.offset, c.line)
            } else if same_ino {
                stats.resume = Resume::Truncated;
                (0, 0)
            } else {
                stats.resume = Resume::LostRotation;
                (0, 0)
            }
        }
    };

    live.seek(SeekFrom::Start(offset))
        .map_err(|source| read_err(path, source))?;
    let seg = Segment::of(path, &live).map_err(|source| read_err(path, source))?;
    let run = sp
        .run(&mut live, offset, line, Tail::Hold, &mut |l| f(&seg, l))
        .map_err(|source| read_err(path, source))?;
    stats.add(path, run);
    // Again after reading: the file may have grown past the fingerprint size meanwhile.
    let (head_len, head_hash) = head_of(&live).map_err(|source| read_err(path, source))?;
    let cursor = Cursor {
        dev: meta.dev(),
        ino: meta.ino(),
        offset: run.end_offset,
        line: line + run.lines,
        head_len,
        head_hash,
    };
    Ok((live, cursor, stats))
}

/// When the file `c` was taken on is a rotated sibling of `path`: reads the rest of it,
/// then the newer siblings, oldest first, and returns true. False when no sibling is it.
/// `live` is the inode of the live file the caller has open and reads next: if it was
/// rotated too since it was opened, it and what came after it are left to the caller.
pub(crate) fn finish_rotated(
    sp: &mut Splitter,
    path: &Path,
    c: &Cursor,
    live: Option<u64>,
    stats: &mut ReadStats,
    f: &mut SegmentFn<'_>,
) -> Result<bool, SourceError> {
    let Some((from, mut reader, mut newer)) = rotate::find(path, c)? else {
        return Ok(false);
    };
    if let Some(i) = newer.iter().position(|s| Some(s.ino()) == live) {
        newer.drain(..=i);
    }
    // A copytruncate under way: the newest is the live file's copy, read with it.
    if let (Some(live), Some(newest)) = (live, newer.first())
        && live_copied_to(newest, path).is_some_and(|(_, m, _)| m.ino() == live)
    {
        newer.remove(0);
    }
    let seg = Segment {
        path: from.path.clone(),
        dev: c.dev,
        ino: c.ino,
        head_len: c.head_len,
        head_hash: c.head_hash,
    };
    // Lines delivered by the current run, for a run that stops at damage.
    let mut delivered = 0;
    let run = sp.run(&mut reader, c.offset, c.line, Tail::Deliver, &mut |l| {
        delivered += 1;
        f(&seg, l)
    });
    if let Some(run) = damage(run.map_err(|e| from.error(e)), delivered, stats)? {
        stats.add(&from.path, run);
    }
    // Oldest first, so lines come out in the order they were written.
    for sib in newer.iter().rev() {
        read_sibling(sp, sib, stats, f)?;
    }
    stats.resume = Resume::Rotated { from: from.path };
    Ok(true)
}

/// The live file `path`, opened, with its metadata and fingerprint, when the rotated
/// `sib` is its copy that copytruncate made and has not truncated it after yet
/// ([`copy_in_progress`]). A file that cannot be read is no copy.
pub(crate) fn live_copied_to(
    sib: &rotate::Sibling,
    path: &Path,
) -> Option<(File, std::fs::Metadata, (u32, u64))> {
    if !sib.plain() {
        return None;
    }
    let copy = File::open(&sib.path).ok()?;
    let live = File::open(path).ok()?;
    let meta = live.metadata().ok()?;
    if meta.ino() == sib.ino() {
        return None;
    }
    let head = copy_in_progress(&copy, &live).ok()??;
    Some((live, meta, head))
}

/// Reads a rotated sibling whole, as complete. Returns the segment and the end of what
/// was read (a damaged compressed file ends at the damage, set aside in `stats`), or
/// None when the listed file is no longer there under that name (a later rename).
pub(crate) fn read_sibling(
    sp: &mut Splitter,
    sib: &rotate::Sibling,
    stats: &mut ReadStats,
    f: &mut SegmentFn<'_>,
) -> Result<Option<(Segment, u64, u64)>, SourceError> {
    let opened = match sib.open_segment() {
        Err(SourceError::NotFound { .. }) => return Ok(None),
        r => r,
    };
    let Some((mut reader, seg)) = damage(opened, 0, stats)? else {
        return Ok(None);
    };
    if seg.ino != sib.ino() {
        return Ok(None);
    }
    let mut delivered = 0;
    let mut end = 0;
    let run = sp
        .run(&mut reader, 0, 0, Tail::Deliver, &mut |l| {
            delivered += 1;
            end = l.end;
            f(&seg, l)
        })
        .map_err(|e| sib.error(e));
    match damage(run, delivered, stats)? {
        Some(run) => {
            stats.add(&sib.path, run);
            Ok(Some((seg, run.end_offset, run.lines)))
        }
        None => Ok(Some((seg, end, delivered))),
    }
}

/// A rotated file's result, with a damaged compressed content set aside in `stats` (see
/// [`ReadStats::damaged`], and counting the `delivered` lines read before the damage)
/// rather than failing the whole read.
fn damage<T>(
    r: Result<T, SourceError>,
    delivered: u64,
    stats: &mut ReadStats,
) -> Result<Option<T>, SourceError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(SourceError::Gzip { path, source }) => {
            stats.lines += delivered;
            stats.files.push(path.clone());
            stats.damaged.push((path, source.to_string()));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn open(path: &Path) -> Result<File, SourceError> {
    File::open(path).map_err(|source| open_err(path, source))
}

fn open_err(path: &Path, source: io::Error) -> SourceError {
    if source.kind() == io::ErrorKind::NotFound {
        SourceError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        SourceError::Open {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn read_err(path: &Path, source: io::Error) -> SourceError {
    SourceError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// FNV-1a 64: tiny, and fixed forever (std's hasher may change between Rust releases,
/// which would make every saved cursor look rotated).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Reads from `r` until `buf` is full or the input ends; returns how much was read.
pub(crate) fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_head(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn head_of(file: &File) -> io::Result<(u32, u64)> {
    let mut head = [0u8; HEAD_MAX as usize];
    let n = read_head(file, &mut head)?;
    Ok((n as u32, fnv1a(&head[..n])))
}

/// The fingerprint of `file`'s beginning, longer than `seg`'s, if the file still begins with
/// the bytes `seg` fingerprinted; `None` if it does not (truncated and rewritten since), so
/// that the old fingerprint is kept and still finds the file's copy among its siblings.
/// One read serves both the check and the new fingerprint.
pub(crate) fn longer_head(file: &File, seg: &Segment) -> io::Result<Option<(u32, u64)>> {
    let mut head = [0u8; HEAD_MAX as usize];
    let n = read_head(file, &mut head)?;
    let old = seg.head_len as usize;
    if n < old || fnv1a(&head[..old]) != seg.head_hash {
        return Ok(None);
    }
    Ok(Some((n as u32, fnv1a(&head[..n]))))
}

/// Whether `copy`, a rotated file, is a copy of `live` that copytruncate made (or is still
/// making) and has not truncated `live` after yet: all `copy` holds of its beginning,
/// a whole line at least, begins `live` too. A file renamed away holds more than its
/// successor, or other lines. Returns `live`'s fingerprint, taken in the same read, so
/// that the truncation still to come is recognised against it.
pub(crate) fn copy_in_progress(copy: &File, live: &File) -> io::Result<Option<(u32, u64)>> {
    let mut copied = [0u8; HEAD_MAX as usize];
    let mut head = [0u8; HEAD_MAX as usize];
    let n = read_head(copy, &mut copied)?;
    let live_len = read_head(live, &mut head)?;
    let copied = &copied[..n];
    let same = n > 0 && n <= live_len && copied.contains(&b'\n') && *copied == head[..n];
    Ok(same.then(|| (live_len as u32, fnv1a(&head[..live_len]))))
}

/// Whether `file` begins with the bytes the cursor fingerprinted.
fn head_matches(file: &File, c: &Cursor) -> io::Result<bool> {
    let Some(len) = head_len(c) else {
        return Ok(false);
    };
    let mut head = [0u8; HEAD_MAX as usize];
    let n = read_head(file, &mut head[..len])?;
    Ok(n == len && fnv1a(&head[..len]) == c.head_hash)
}

/// The cursor's head length, or None for a value no cursor of ours can hold.
pub(crate) fn head_len(c: &Cursor) -> Option<usize> {
    (c.head_len <= HEAD_MAX).then_some(c.head_len as usize)
}
