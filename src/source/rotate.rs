//! Finding a log file again after rotation: listing the rotated siblings of a path
//! (`PATH.1`, `PATH.2.gz`, `PATH.0`, `PATH-20261127`, `PATH-20261127.gz`), newest first, and
//! recognising the one a cursor was taken on by the hash of its first bytes.
//!
//! Must not deliver lines: it only opens and positions readers for `read_since`.

use std::cmp::Ordering;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{
    Cursor, HEAD_MAX, Segment, SourceError, fill, fnv1a, head_len, head_matches, read_err,
};

/// One rotated sibling of a log path.
#[derive(Debug)]
pub(crate) struct Sibling {
    pub path: PathBuf,
    gz: bool,
    ino: u64,
    rank: Rank,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rank {
    /// `PATH.N`: a lower number is newer.
    Numbered(u64),
    /// `PATH-DATE`: the date format is configurable, so order by modification time (which
    /// rename and logrotate's gzip both keep), then by name.
    Dated(SystemTime, Vec<u8>),
}

impl Rank {
    /// Newest first. Numbered before dated: mixing both only happens after a change of
    /// logrotate configuration, and then we cannot know better.
    fn newest_first(&self, other: &Rank) -> Ordering {
        match (self, other) {
            (Rank::Numbered(a), Rank::Numbered(b)) => a.cmp(b),
            (Rank::Dated(ta, na), Rank::Dated(tb, nb)) => tb.cmp(ta).then_with(|| nb.cmp(na)),
            (Rank::Numbered(_), Rank::Dated(..)) => Ordering::Less,
            (Rank::Dated(..), Rank::Numbered(_)) => Ordering::Greater,
        }
    }

    fn same_slot(&self, other: &Rank) -> bool {
        match (self, other) {
            (Rank::Numbered(a), Rank::Numbered(b)) => a == b,
            (Rank::Dated(_, a), Rank::Dated(_, b)) => a == b,
            _ => false,
        }
    }
}

impl Sibling {
    /// A reader of the whole (decompressed) content, and the segment that cursors on it
    /// name: this file's inode and the fingerprint of its decompressed beginning, which
    /// is what `find` recognises a compressed generation by.
    pub(crate) fn open_segment(&self) -> Result<(Box<dyn Read>, Segment), SourceError> {
        let file = super::open(&self.path)?;
        let meta = file.metadata().map_err(|e| read_err(&self.path, e))?;
        let mut reader: Box<dyn Read> = if self.gz {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut head = vec![0u8; HEAD_MAX as usize];
        let n = fill(&mut reader, &mut head).map_err(|e| self.error(e))?;
        head.truncate(n);
        let seg = Segment {
            path: self.path.clone(),
            dev: meta.dev(),
            ino: meta.ino(),
            head_len: n as u32,
            head_hash: fnv1a(&head),
        };
        Ok((Box::new(io::Cursor::new(head).chain(reader)), seg))
    }

    pub(crate) fn ino(&self) -> u64 {
        self.ino
    }

    /// Not compressed: a file that may still be written, and followed as one.
    pub(crate) fn plain(&self) -> bool {
        !self.gz
    }

    /// The file opened for following, or None when the name no longer holds the file
    /// listed (renamed or deleted since).
    pub(crate) fn open_plain(&self) -> Result<Option<(fs::File, Segment)>, SourceError> {
        let file = match super::open(&self.path) {
            Ok(file) => file,
            Err(SourceError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let seg = Segment::of(&self.path, &file).map_err(|e| read_err(&self.path, e))?;
        Ok((seg.ino == self.ino).then_some((file, seg)))
    }

    pub(crate) fn error(&self, source: io::Error) -> SourceError {
        if self.gz {
            SourceError::Gzip {
                path: self.path.clone(),
                source,
            }
        } else {
            read_err(&self.path, source)
        }
    }

    /// A reader positioned at the cursor's offset if this is the file the cursor was
    /// taken on, else None.
    fn open_at(&self, c: &Cursor) -> Result<Option<Box<dyn Read>>, SourceError> {
        let Some(len) = head_len(c) else {
            return Ok(None);
        };
        let mut file = match super::open(&self.path) {
            Ok(file) => file,
            // Deleted since the listing (the oldest generation expiring): not ours to find.
            Err(SourceError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !self.gz {
            let size = file.metadata().map_err(|e| self.error(e))?.len();
            if size < c.offset || !head_matches(&file, c).map_err(|e| self.error(e))? {
                return Ok(None);
            }
            file.seek(SeekFrom::Start(c.offset))
                .map_err(|e| self.error(e))?;
            return Ok(Some(Box::new(file)));
        }
        let mut dec = flate2::read::MultiGzDecoder::new(file);
        let mut head = vec![0u8; len];
        // A damaged archive that is not ours must not stop us from finding the one that
        // is, so decoding errors here mean "not this one".
        match fill(&mut dec, &mut head) {
            Ok(n) if n == len && fnv1a(&head) == c.head_hash => {}
            _ => return Ok(None),
        }
        let mut reader: Box<dyn Read> = Box::new(io::Cursor::new(head).chain(dec));
        match io::copy(&mut reader.by_ref().take(c.offset), &mut io::sink()) {
            Ok(skipped) if skipped == c.offset => Ok(Some(reader)),
            _ => Ok(None),
        }
    }
}

/// The file a cursor was taken on, among the rotated siblings of `path`: the sibling,
/// a reader positioned at the cursor, and the siblings newer than it (newest first).
pub(crate) type Found = (Sibling, Box<dyn Read>, Vec<Sibling>);

pub(crate) fn find(path: &Path, c: &Cursor) -> Result<Option<Found>, SourceError> {
    let mut sibs = settled_siblings(path)?;
    // A renamed file keeps its inode: trust that first, it cannot be fooled by two files
    // that begin alike. A compressed one only has its content to recognise it by.
    let by_ino = sibs.iter().position(|s| !s.gz && s.ino == c.ino);
    let order = by_ino
        .into_iter()
        .chain((0..sibs.len()).filter(|&i| Some(i) != by_ino));
    for i in order {
        if let Some(reader) = sibs[i].open_at(c)? {
            let found = sibs.remove(i);
            sibs.truncate(i);
            return Ok(Some((found, reader, sibs)));
        }
    }
    Ok(None)
}

/// `siblings`, listed again until the listing is consistent. A directory read while
/// files are being renamed in it can miss a renamed file or show it twice, and rotation
/// renames every generation at once: one listing could skip the very file that comes
/// next. A listing taken across a rename shows one inode twice or a hole in the
/// numbers; a burst of rotations ends, so waiting a little gets a clean one.
pub(crate) fn settled_siblings(path: &Path) -> Result<Vec<Sibling>, SourceError> {
    let mut sibs = siblings(path)?;
    for attempt in 0..SETTLE_TRIES {
        if consistent(&sibs) {
            break;
        }
        if attempt >= 3 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        sibs = siblings(path)?;
    }
    Ok(sibs)
}

const SETTLE_TRIES: usize = 200;

fn consistent(sibs: &[Sibling]) -> bool {
    let mut inos: Vec<u64> = sibs.iter().map(|s| s.ino).collect();
    inos.sort_unstable();
    let unique = inos.windows(2).all(|w| w[0] != w[1]);
    let mut numbers: Vec<u64> = sibs
        .iter()
        .filter_map(|s| match s.rank {
            Rank::Numbered(n) => Some(n),
            Rank::Dated(..) => None,
        })
        .collect();
    numbers.dedup();
    // Newest first, so ascending: `.0` may or may not be used, and a file being
    // compressed shows as `.N` only (see `siblings`).
    let contiguous = numbers.windows(2).all(|w| w[1] == w[0] + 1);
    unique && contiguous
}

/// The rotated siblings of `path`, newest first; when both `PATH.1` and `PATH.1.gz`
/// exist (gzip still running), only the uncompressed one, which is complete.
pub(crate) fn siblings(path: &Path) -> Result<Vec<Sibling>, SourceError> {
    let Some(name) = path.file_name() else {
        return Ok(Vec::new());
    };
    let name = name.as_bytes();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let entries = fs::read_dir(dir).map_err(|e| read_err(dir, e))?;
    let mut sibs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| read_err(dir, e))?;
        let file_name = entry.file_name();
        let Some(rest) = file_name.as_bytes().strip_prefix(name) else {
            continue;
        };
        let (rest, gz) = match rest.strip_suffix(b".gz") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let Some(kind) = classify(rest) else {
            continue;
        };
        let path = entry.path();
        // Follows symlinks: a link to a rotated file is that file.
        let Ok(meta) = fs::metadata(&path) else {
            continue; // vanished meanwhile
        };
        if !meta.is_file() {
            continue;
        }
        let rank = match kind {
            Kind::Numbered(n) => Rank::Numbered(n),
            Kind::Dated => Rank::Dated(
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                rest.to_vec(),
            ),
        };
        sibs.push(Sibling {
            path,
            gz,
            ino: meta.ino(),
            rank,
        });
    }
    sibs.sort_by(|a, b| a.rank.newest_first(&b.rank).then(a.gz.cmp(&b.gz)));
    sibs.dedup_by(|later, earlier| later.gz && !earlier.gz && later.rank.same_slot(&earlier.rank));
    Ok(sibs)
}

enum Kind {
    Numbered(u64),
    Dated,
}

/// What follows the log's name: `.N`, or `-` and a date (digits, maybe with `-` or `_`
/// between, at least eight of them as in `-%Y%m%d`).
fn classify(rest: &[u8]) -> Option<Kind> {
    match rest.split_first()? {
        (b'.', digits) if !digits.is_empty() && digits.len() <= 9 => {
            let text = std::str::from_utf8(digits).ok()?;
            if digits.iter().all(u8::is_ascii_digit) {
                text.parse().ok().map(Kind::Numbered)
            } else {
                None
            }
        }
        (b'-', date)
            if date
                .iter()
                .all(|b| b.is_ascii_digit() || *b == b'-' || *b == b'_')
                && date.iter().filter(|b| b.is_ascii_digit()).count() >= 8 =>
        {
            Some(Kind::Dated)
        }
        _ => None,
    }
}
