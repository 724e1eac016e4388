//! Resuming across runs and rotations, through the real file system in a temporary
//! directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;

use super::split::Splitter;
use super::*;

/// One delivered line: the file it came from (name only), its bytes and number.
type Got = (String, Vec<u8>, u64);

struct Log {
    _dir: tempfile::TempDir,
    path: PathBuf,
    cursor: Option<Cursor>,
    /// Splitter sizes, so rotation tests also cross read boundaries.
    chunk: usize,
}

impl Log {
    fn new() -> Log {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.log");
        File::create(&path).unwrap();
        Log {
            _dir: dir,
            path,
            cursor: None,
            chunk: super::split::CHUNK,
        }
    }

    fn sib(&self, suffix: &str) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(suffix);
        PathBuf::from(s)
    }

    fn append(&self, bytes: &[u8]) {
        append(&self.path, bytes);
    }

    /// One `scan`: reads, then saves the cursor as the CLI would.
    fn run(&mut self) -> (Vec<Got>, ReadStats) {
        let mut got = Vec::new();
        let mut sp = Splitter::with_sizes(self.chunk, super::split::MAX_LINE);
        let (cursor, stats) =
            read_since_with(&mut sp, &self.path, self.cursor.as_ref(), |origin, l| {
                got.push((
                    origin.file_name().unwrap().to_string_lossy().into_owned(),
                    l.bytes.to_vec(),
                    l.number,
                ))
            })
            .unwrap();
        assert_eq!(stats.lines, got.len() as u64);
        self.cursor = Some(cursor);
        (got, stats)
    }

    /// logrotate's default: rename, then create a new empty file.
    fn rename_to(&self, suffix: &str) {
        fs::rename(&self.path, self.sib(suffix)).unwrap();
        File::create(&self.path).unwrap();
    }
}

fn append(path: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// As logrotate's `compress` does: `FILE` becomes `FILE.gz`.
fn gzip(path: &Path) {
    let data = fs::read(path).unwrap();
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    let mut enc = GzEncoder::new(File::create(&gz_name).unwrap(), Compression::fast());
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    fs::remove_file(path).unwrap();
}

fn got(items: &[(&str, &str, u64)]) -> Vec<Got> {
    items
        .iter()
        .map(|(f, l, n)| (f.to_string(), l.as_bytes().to_vec(), *n))
        .collect()
}

fn names(stats: &ReadStats) -> Vec<String> {
    stats
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn first_run_reads_everything_and_holds_back_a_partial_line() {
    let mut log = Log::new();
    log.append(b"one\ntwo\nthr");
    let (lines, stats) = log.run();
    assert_eq!(
        lines,
        got(&[("auth.log", "one", 1), ("auth.log", "two", 2)])
    );
    assert_eq!(stats.resume, Resume::Fresh);
    assert_eq!(stats.bytes, 11);
    let c = log.cursor.clone().unwrap();
    assert_eq!((c.offset, c.line, c.head_len), (8, 2, 11));
    assert_eq!(c.head_hash, fnv1a(b"one\ntwo\nthr"));

    log.append(b"ee\nfour\n");
    let (lines, stats) = log.run();
    assert_eq!(
        lines,
        got(&[("auth.log", "three", 3), ("auth.log", "four", 4)])
    );
    assert_eq!(stats.resume, Resume::Continued);
    assert!(!stats.lost_rotation());
}

#[test]
fn resume_after_append_reads_only_new_lines() {
    let mut log = Log::new();
    log.append(b"a\nb\n");
    log.run();
    let (lines, _) = log.run();
    assert!(lines.is_empty(), "nothing new, nothing delivered");
    log.append(b"c\n\nd\r\n");
    let (lines, stats) = log.run();
    assert_eq!(
        lines,
        got(&[
            ("auth.log", "c", 3),
            ("auth.log", "", 4),
            ("auth.log", "d\r", 5)
        ])
    );
    assert_eq!(stats.files, [log.path.clone()]);
    assert_eq!(log.cursor.as_ref().unwrap().offset, 10);
}

#[test]
fn small_reads_resume_exactly() {
    let mut log = Log::new();
    log.chunk = 3;
    log.append(b"first line\nsecond line\nthird li");
    let (lines, _) = log.run();
    assert_eq!(lines.len(), 2);
    log.append(b"ne\n");
    let (lines, _) = log.run();
    assert_eq!(lines, got(&[("auth.log", "third line", 3)]));
}

#[test]
fn head_grows_past_the_fingerprint_size() {
    let mut log = Log::new();
    log.append(b"short start\n");
    log.run();
    assert_eq!(log.cursor.as_ref().unwrap().head_len, 12);
    let big = format!("{}\n", "x".repeat(5000));
    log.append(big.as_bytes());
    let (lines, stats) = log.run();
    assert_eq!(lines.len(), 1);
    assert_eq!(stats.resume, Resume::Continued);
    assert_eq!(log.cursor.as_ref().unwrap().head_len, HEAD_MAX);
    log.append(b"tail\n");
    let (lines, stats) = log.run();
    assert_eq!(lines, got(&[("auth.log", "tail", 3)]));
    assert_eq!(stats.resume, Resume::Continued);
}

#[test]
fn truncation_in_place_restarts_from_zero_and_warns() {
    let mut log = Log::new();
    log.append(b"old 1\nold 2\nold 3\n");
    log.run();
    // copytruncate without keeping the copy: same inode, shorter.
    OpenOptions::new()
        .write(true)
        .open(&log.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    log.append(b"new 1\n");
    let (lines, stats) = log.run();
    assert_eq!(lines, got(&[("auth.log", "new 1", 1)]));
    assert_eq!(stats.resume, Resume::Truncated);
    assert!(stats.lost_rotation());
}

/// A scan (the cron mode, or a daemon starting) that comes while copytruncate has copied
/// the live file but not yet truncated it, the file the cursor was taken on being rotated
/// before: the copy's lines are the live file's, read once; the truncation, seen by the
/// next scan, then reads only what the copy holds past that scan.
#[test]
fn a_scan_during_a_copytruncate_reads_the_copied_lines_once() {
    let mut log = Log::new();
    log.append(b"old 1\n");
    log.run();
    log.rename_to(".1");
    log.append(b"new 1\nnew 2\n");
    fs::rename(log.sib(".1"), log.sib(".2")).unwrap();
    fs::copy(&log.path, log.sib(".1")).unwrap();
    let (lines, _) = log.run();
    assert_eq!(
        lines,
        got(&[("auth.log", "new 1", 1), ("auth.log", "new 2", 2)])
    );
    // The truncation, after a line the copy did not get: lost by copytruncate's design.
    log.append(b"new 3\n");
    OpenOptions::new()
        .write(true)
        .open(&log.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    log.append(b"newer 1\n");
    let (lines, _) = log.run();
    assert_eq!(lines, got(&[("auth.log", "newer 1", 1)]));
}

#[test]
fn copytruncate_finishes_the_copy_then_the_truncated_file() {
    let mut log = Log::new();
    log.append(b"old 1\nold 2\n");
    log.run();
    log.append(b"old 3\n");
    fs::copy(&log.path, log.sib(".1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    log.append(b"new 1\nnew 2\nnew 3\nnew 4\n"); // longer than before: size alone says nothing
    let (lines, stats) = log.run();
    assert_eq!(
        lines,
        got(&[
            ("auth.log.1", "old 3", 3),
            ("auth.log", "new 1", 1),
            ("auth.log", "new 2", 2),
            ("auth.log", "new 3", 3),
            ("auth.log", "new 4", 4),
        ])
    );
    assert_eq!(
        stats.resume,
        Resume::Rotated {
            from: log.sib(".1")
        }
    );
}

#[test]
fn rename_and_create_finishes_the_old_file_first() {
    let mut log = Log::new();
    log.append(b"l1\nl2\nl3 par");
    log.run();
    // The writer finished its line in the old file, wrote more, and a last line without
    // a newline: in a rotated file that is still a line, nothing more will come.
    log.append(b"tial\nl4\nl5 no newline");
    log.rename_to(".1");
    log.append(b"n1\nn2\n");
    let (lines, stats) = log.run();
    assert_eq!(
        lines,
        got(&[
            ("auth.log.1", "l3 partial", 3),
            ("auth.log.1", "l4", 4),
            ("auth.log.1", "l5 no newline", 5),
            ("auth.log", "n1", 1),
            ("auth.log", "n2", 2),
        ])
    );
    assert_eq!(names(&stats), ["auth.log.1", "auth.log"]);
    assert!(!stats.lost_rotation());
    let (lines, stats) = log.run();
    assert!(lines.is_empty(), "no line twice: {lines:?}");
    assert_eq!(stats.resume, Resume::Continued);
}

#[test]
fn rotated_then_compressed() {
    let mut log = Log::new();
    log.chunk = 5;
    log.append(b"a1\na2\n");
    log.run();
    log.append(b"a3\n");
    log.rename_to(".1");
    gzip(&log.sib(".1"));
    log.append(b"b1\n");
    let (lines, stats) = log.run();
    assert_eq!(
        lines,
        got(&[("auth.log.1.gz", "a3", 3), ("auth.log", "b1", 1)])
    );
    assert_eq!(
        stats.resume,
        Resume::Rotated {
            from: log.sib(".1.gz")
        }
    );
}

#[test]
fn two_rotations_read_oldest_first() {
    let mut log = Log::new();
    log.append(b"a1\n");
    log.run();
    log.append(b"a2\n");
    log.rename_to(".1");
    log.append(b"b1\nb2\n");
    // Second rotation with delaycompress: .1 -> .2.gz, current -> .1.
    fs::rename(log.sib(".1"), log.sib(".2")).unwrap();
    gzip(&log.sib(".2"));
    log.rename_to(".1");
    log.append(b"c1\n");
    // An older, unrelated generation must be ignored.
    fs::write(log.sib(".3"), b"ancient\n").unwrap();
    gzip(&log.sib(".3"));
    let (lines, stats) = log.run();
    assert_eq!(
        lines,
        got(&[
            ("auth.log.2.gz", "a2", 2),
            ("auth.log.1", "b1", 1),
            ("auth.log.1", "b2", 2),
            ("auth.log", "c1", 1),
        ])
    );
    assert_eq!(names(&stats), ["auth.log.2.gz", "auth.log.1", "auth.log"]);
}

#[test]
fn inode_wins_over_a_sibling_with_the_same_beginning() {
    let mut log = Log::new();
    log.append(b"same\n");
    log.run();
    log.append(b"mine\n");
    log.rename_to(".2");
    // A newer generation that happens to begin with the same bytes.
    fs::write(log.sib(".1"), b"same\nnot mine\n").unwrap();
    let (lines, _) = log.run();
    assert_eq!(
        lines,
        got(&[
            ("auth.log.2", "mine", 2),
            ("auth.log.1", "same", 1),
            ("auth.log.1", "not mine", 2),
        ])
    );
}

#[test]
fn plain_and_compressed_copy_of_the_same_generation_are_read_once() {
    let mut log = Log::new();
    log.append(b"x1\n");
    log.run();
    log.append(b"x2\n");
    log.rename_to(".1");
    // gzip is mid-way: the .gz exists (maybe incomplete) and the original too.
    let data = fs::read(log.sib(".1")).unwrap();
    let mut enc = GzEncoder::new(File::create(log.sib(".1.gz")).unwrap(), Compression::fast());
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    log.append(b"y1\n");
    let (lines, _) = log.run();
    assert_eq!(
        lines,
        got(&[("auth.log.1", "x2", 2), ("auth.log", "y1", 1)])
    );
}

#[test]
fn dateext_siblings_ordered_by_modification_time() {
    let mut log = Log::new();
    log.append(b"d1\n");
    log.run();
    log.append(b"d2\n");
    log.rename_to("-20261126");
    log.append(b"e1\n");
    log.rename_to("-20261127");
    gzip(&log.sib("-20261127"));
    log.append(b"f1\n");
    let now = std::time::SystemTime::now();
    let hour = std::time::Duration::from_secs(3600);
    let set = |suffix: &str, t| {
        File::options()
            .write(true)
            .open(log.sib(suffix))
            .unwrap()
            .set_modified(t)
            .unwrap()
    };
    set("-20261126", now - 2 * hour);
    set("-20261127.gz", now - hour);
    let (lines, stats) = log.run();
    assert_eq!(
        lines,
        got(&[
            ("auth.log-20261126", "d2", 2),
            ("auth.log-20261127.gz", "e1", 1),
            ("auth.log", "f1", 1),
        ])
    );
    assert_eq!(
        stats.resume,
        Resume::Rotated {
            from: log.sib("-20261126")
        }
    );
}

#[test]
fn no_matching_sibling_reads_from_zero_and_says_so() {
    let mut log = Log::new();
    log.append(b"gone 1\n");
    log.run();
    log.append(b"gone 2\n");
    // Held open so the new file cannot get the freed inode number (file systems reuse
    // them at once), which would make this look like a truncation of the same file.
    let _old = fs::File::open(&log.path).unwrap();
    fs::remove_file(&log.path).unwrap();
    fs::write(log.sib(".1"), b"something else\n").unwrap();
    fs::write(log.sib(".2.gz"), b"not even gzip").unwrap();
    fs::write(&log.path, b"fresh\n").unwrap();
    let (lines, stats) = log.run();
    assert_eq!(lines, got(&[("auth.log", "fresh", 1)]));
    assert_eq!(stats.resume, Resume::LostRotation);
    assert!(stats.lost_rotation());
}

#[test]
fn names_that_only_look_like_siblings_are_ignored() {
    let log = Log::new();
    for suffix in [
        ".10",
        ".0",
        ".1",
        ".old",
        ".1.bak",
        "-2026",
        ".2.gz",
        "-20261127",
        ".x1",
        "1",
    ] {
        fs::write(log.sib(suffix), b"").unwrap();
    }
    fs::create_dir(log.sib(".3")).unwrap();
    let sibs = rotate::siblings(&log.path).unwrap();
    let found: Vec<String> = sibs
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        found,
        [
            "auth.log.0",
            "auth.log.1",
            "auth.log.2.gz",
            "auth.log.10",
            "auth.log-20261127"
        ],
        "numbers compare as numbers, newest first"
    );
}

#[test]
fn missing_file_is_not_found_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    let err = read_since(&path, None, |_, _| {}).unwrap_err();
    assert!(matches!(&err, SourceError::NotFound { path: p } if *p == path));
    assert_eq!(err.to_string(), format!("{}: no such file", path.display()));
}

#[test]
fn unreadable_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A directory opens but cannot be read: a portable stand-in for EACCES under root.
    let err = read_since(dir.path(), None, |_, _| {}).unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

#[test]
fn damaged_newer_generation_is_named_and_skipped() {
    // Retrying could never read past the damage (issue 8, item 11): the older and newer
    // files are read, the damaged one is reported.
    let mut log = Log::new();
    log.append(b"a1\n");
    log.run();
    log.append(b"a2\n");
    log.rename_to(".2");
    fs::write(log.sib(".1.gz"), [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff]).unwrap();
    log.append(b"b1\n");
    let mut seen = Vec::new();
    let (_, stats) = read_since(&log.path, log.cursor.as_ref(), |_, l| {
        seen.push(String::from_utf8_lossy(l.bytes).into_owned())
    })
    .unwrap();
    assert_eq!(seen, ["a2", "b1"]);
    assert_eq!(stats.damaged.len(), 1, "{stats:?}");
    assert!(stats.damaged[0].0.ends_with("auth.log.1.gz"));
}

#[test]
fn read_file_decompresses_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log.2");
    fs::write(&path, b"p\nq").unwrap();
    gzip(&path);
    let gz = dir.path().join("auth.log.2.gz");
    let mut seen = Vec::new();
    let stats = read_file(&gz, |l| seen.push(l.bytes.to_vec())).unwrap();
    assert_eq!(seen, [b"p".to_vec(), b"q".to_vec()]);
    assert_eq!(stats.files, std::slice::from_ref(&gz));

    let plain = dir.path().join("short");
    fs::write(&plain, b"x").unwrap();
    let mut seen = Vec::new();
    read_file(&plain, |l| seen.push(l.bytes.to_vec())).unwrap();
    assert_eq!(seen, [b"x".to_vec()], "shorter than the gzip magic");

    // A pipe cannot seek: the magic bytes are read, then handed on.
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::write(fifo, b"from a pipe\n").unwrap())
    };
    let mut seen = Vec::new();
    read_file(&fifo, |l| seen.push(l.bytes.to_vec())).unwrap();
    writer.join().unwrap();
    assert_eq!(seen, [b"from a pipe".to_vec()]);

    fs::write(&gz, [0x1f, 0x8b, 0, 0, 0]).unwrap();
    let err = read_file(&gz, |_| {}).unwrap_err();
    assert!(matches!(err, SourceError::Gzip { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot decompress {}", gz.display()))
    );
}

#[test]
fn read_lines_delivers_the_last_unterminated_line() {
    let mut seen = Vec::new();
    let stats = read_lines(&b"a\r\nb\n\xff\x00c"[..], |l| {
        seen.push((l.bytes.to_vec(), l.number))
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            (b"a\r".to_vec(), 1),
            (b"b".to_vec(), 2),
            (b"\xff\x00c".to_vec(), 3)
        ]
    );
    assert_eq!(stats.lines, 3);
    assert_eq!(stats.bytes, 8);
}

#[test]
fn fnv1a_is_the_published_function() {
    // Test vectors of FNV-1a 64: saved cursors depend on this never changing.
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
}

/// What happens to the log between two runs.
#[derive(Debug, Clone)]
enum Step {
    /// The writer appends this many bytes of its stream (lines may be cut anywhere).
    Write(usize),
    Rotate(Rotation),
    Run,
}

#[derive(Debug, Clone, Copy)]
enum Rotation {
    /// rename + create.
    Rename,
    /// rename + create, then compress the new `.1` at once.
    RenameCompress,
    /// rename + create, compress the previous generation (`.2`): delaycompress.
    DelayCompress,
    /// copy to `.1`, truncate in place.
    CopyTruncate,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1usize..120).prop_map(Step::Write),
        1 => prop_oneof![
            Just(Rotation::Rename),
            Just(Rotation::RenameCompress),
            Just(Rotation::DelayCompress),
            Just(Rotation::CopyTruncate),
        ]
        .prop_map(Step::Rotate),
        2 => Just(Step::Run),
    ]
}

/// Lines begin with a unique number, as real log lines begin with a timestamp: two
/// files never begin alike, which is what recognising a rotated file relies on.
fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop::collection::vec(
            any::<u8>().prop_filter("no line end", |b| *b != b'\n' && *b != b'\r'),
            0..30,
        ),
        1..80,
    )
    .prop_map(|bodies| {
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let mut l = format!("{i:05} ").into_bytes();
                l.extend(body);
                l
            })
            .collect()
    })
}

struct Writer {
    stream: Vec<u8>,
    pos: usize,
}

impl Writer {
    fn write(&mut self, log: &Log, n: usize) {
        let end = (self.pos + n).min(self.stream.len());
        log.append(&self.stream[self.pos..end]);
        self.pos = end;
    }

    /// Syslog daemons write whole lines, so a file ends on a line end when rotated and
    /// begins with a whole line.
    fn finish_line(&mut self, log: &Log) {
        let rest = &self.stream[self.pos..];
        let n = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        self.write(log, n);
    }
}

fn rotate(log: &Log, how: Rotation) {
    let mut n = 1;
    while log.sib(&format!(".{n}")).exists() || log.sib(&format!(".{n}.gz")).exists() {
        n += 1;
    }
    for k in (1..n).rev() {
        for ext in ["", ".gz"] {
            let from = log.sib(&format!(".{k}{ext}"));
            if from.exists() {
                fs::rename(&from, log.sib(&format!(".{}{ext}", k + 1))).unwrap();
            }
        }
    }
    match how {
        Rotation::CopyTruncate => {
            fs::copy(&log.path, log.sib(".1")).unwrap();
            OpenOptions::new()
                .write(true)
                .open(&log.path)
                .unwrap()
                .set_len(0)
                .unwrap();
        }
        _ => log.rename_to(".1"),
    }
    match how {
        Rotation::RenameCompress => gzip(&log.sib(".1")),
        Rotation::DelayCompress if log.sib(".2").exists() => gzip(&log.sib(".2")),
        _ => {}
    }
}

proptest! {
    // Failures are reported with their minimal case; not persisted, as the regressions
    // file would land outside this module's directory.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_line_exactly_once_across_runs_and_rotations(
        lines in lines(),
        steps in prop::collection::vec(step(), 0..40),
        chunk in 1usize..64,
    ) {
        let mut log = Log::new();
        log.chunk = chunk;
        let mut stream = Vec::new();
        for l in &lines {
            stream.extend_from_slice(l);
            stream.push(b'\n');
        }
        let mut w = Writer { stream, pos: 0 };
        let mut delivered: Vec<Vec<u8>> = Vec::new();
        w.finish_line(&log);
        // Without a cursor only the live file is read: what was rotated before the first
        // run is history, not news.
        let (got, _) = log.run();
        delivered.extend(got.into_iter().map(|g| g.1));
        for s in steps {
            match s {
                Step::Write(n) => w.write(&log, n),
                Step::Rotate(how) => {
                    w.finish_line(&log);
                    rotate(&log, how);
                    w.finish_line(&log);
                }
                Step::Run => {
                    let (got, stats) = log.run();
                    prop_assert!(!stats.lost_rotation(), "{:?}", stats);
                    delivered.extend(got.into_iter().map(|g| g.1));
                }
            }
        }
        let n = w.stream.len();
        w.write(&log, n);
        let (got, _) = log.run();
        delivered.extend(got.into_iter().map(|g| g.1));
        prop_assert_eq!(delivered, lines);
    }
}

/// The follower lengthens a file's fingerprint as it grows, but not once the file was
/// emptied and rewritten (copytruncate between two looks): the old fingerprint must stay
/// to find the copy.
#[test]
fn fingerprint_grows_only_while_the_beginning_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    fs::write(&path, "line one\n").unwrap();
    let seg = Segment::of(&path, &File::open(&path).unwrap()).unwrap();
    assert_eq!(seg.head_len, 9);

    append(&path, b"line two\n");
    let file = File::open(&path).unwrap();
    assert_eq!(
        longer_head(&file, &seg).unwrap(),
        Some((18, fnv1a(b"line one\nline two\n")))
    );

    // Truncated, then a new line longer than the old beginning.
    fs::write(&path, "line three, longer\n").unwrap();
    assert_eq!(longer_head(&file, &seg).unwrap(), None);
    // Emptied: shorter than the fingerprint.
    fs::write(&path, "").unwrap();
    assert_eq!(longer_head(&file, &seg).unwrap(), None);
}

/// The log read when none is configured, on systems laid out as each release lays out
/// /var/log: Raspberry Pi OS 12 and Debian 12 (the journal only), Raspberry Pi OS 11 and
/// older (rsyslog's auth.log), RHEL (secure), and one with both (auth.log alone, so that
/// no attempt counts twice).
#[test]
fn the_default_log_is_the_first_usual_one_that_exists_else_the_journal() {
    let systems: [(&str, &[&str], Option<&str>); 5] = [
        ("pi-os-12", &["var/log/journal/0123/system.journal"], None),
        (
            "pi-os-11",
            &["var/log/auth.log", "var/log/syslog"],
            Some("/var/log/auth.log"),
        ),
        (
            "rhel-9",
            &["var/log/secure", "var/log/messages"],
            Some("/var/log/secure"),
        ),
        (
            "both",
            &["var/log/secure", "var/log/auth.log"],
            Some("/var/log/auth.log"),
        ),
        ("empty", &[], None),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, files, want) in systems {
        let root = dir.path().join(name);
        fs::create_dir_all(root.join("var/log")).unwrap();
        for f in files {
            let path = root.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "").unwrap();
        }
        assert_eq!(super::default_log(&root), want, "{name}");
    }
}

/// copytruncate's copy in progress is told from a file renamed away before its
/// successor was written, which holds other lines or more of them.
#[test]
fn a_copy_in_progress_is_a_prefix_of_the_live_file_of_a_whole_line_at_least() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        File::open(path).unwrap()
    };
    let live = file("auth.log", "Dec  7 10:00:01 a\nDec  7 10:00:02 b\n");
    let is_copy = |copy: &File| copy_in_progress(copy, &live).unwrap().is_some();
    // Whole, or partly copied yet.
    assert!(is_copy(&file(
        "whole",
        "Dec  7 10:00:01 a\nDec  7 10:00:02 b\n"
    )));
    assert!(is_copy(&file("part", "Dec  7 10:00:01 a\nDec  7")));
    // Not a whole line copied: nothing to tell a copy by.
    assert!(!is_copy(&file("start", "Dec  7 10:00:01")));
    assert!(!is_copy(&file("empty", "")));
    // A file renamed away: longer than its successor, or other lines.
    assert!(!is_copy(&file(
        "longer",
        "Dec  7 10:00:01 a\nDec  7 10:00:02 b\nDec  7 10:00:03 c\n"
    )));
    assert!(!is_copy(&file("other", "Dec  7 09:59:59 z\n")));
    // The live file's fingerprint comes with the answer, as `Segment::of` takes it.
    let (len, hash) = copy_in_progress(&file("again", "Dec  7 10:00:01 a\n"), &live)
        .unwrap()
        .unwrap();
    assert_eq!((len, hash), head_of(&live).unwrap());
}
