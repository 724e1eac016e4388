//! Following a log file through the real file system: every line once, in order, across
//! every rotation style, and quickly.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use authban::source::{
    Batch, Cursor, Feed, FollowOptions, Position, SourceState, Stop, follow_file,
};

struct Followed {
    dir: tempfile::TempDir,
    path: PathBuf,
    rx: Receiver<Feed>,
    stop: Stop,
    handle: Option<JoinHandle<()>>,
    states: Vec<SourceState>,
    batches: Vec<Batch>,
}

const WAIT: Duration = Duration::from_secs(5);

impl Followed {
    fn new(setup: impl FnOnce(&Path), cursor: Option<Cursor>, poll: Duration) -> Followed {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("auth.log");
        setup(&path);
        Followed::at(dir, path, cursor, poll)
    }

    fn at(
        dir: tempfile::TempDir,
        path: PathBuf,
        cursor: Option<Cursor>,
        poll: Duration,
    ) -> Followed {
        let (tx, rx) = mpsc::sync_channel(1024);
        let stop = Stop::new();
        let opts = FollowOptions {
            poll,
            ..FollowOptions::default()
        };
        let handle = follow_file(path.clone(), cursor, tx, stop.clone(), opts).unwrap();
        Followed {
            dir,
            path,
            rx,
            stop,
            handle: Some(handle),
            states: Vec::new(),
            batches: Vec::new(),
        }
    }

    fn take(&mut self, feed: Feed) {
        match feed {
            Feed::Lines(b) => self.batches.push(b),
            Feed::Status { state, .. } => self.states.push(state),
        }
    }

    /// Receives until `n` lines came, returning them as text.
    fn lines(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let deadline = Instant::now() + WAIT;
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let feed = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("only {out:?} of {n} lines; states {:?}", self.states));
            if let Feed::Lines(b) = &feed {
                out.extend(b.iter().map(|l| String::from_utf8_lossy(l).into_owned()));
            }
            self.take(feed);
        }
        out
    }

    /// Nothing more arrives within `d`.
    fn quiet(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(feed) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Feed::Lines(b) = &feed {
                assert_eq!(
                    b.count,
                    0,
                    "unexpected lines {:?}",
                    String::from_utf8_lossy(&b.lines)
                );
            }
            self.take(feed);
        }
    }

    fn wait_state(&mut self, want: impl Fn(&SourceState) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !self.states.iter().any(&want) {
            let left = deadline.saturating_duration_since(Instant::now());
            let feed = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("state not reached; states {:?}", self.states));
            self.take(feed);
        }
    }

    fn last_cursor(&self) -> Cursor {
        match &self.batches.last().unwrap().position {
            Position::File(c) => c.clone(),
            p => panic!("not a file position: {p:?}"),
        }
    }

    fn sib(&self, suffix: &str) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(suffix);
        PathBuf::from(s)
    }

    fn finish(mut self) -> (tempfile::TempDir, PathBuf, Vec<SourceState>) {
        self.stop.stop();
        self.handle.take().unwrap().join().unwrap();
        while let Ok(feed) = self.rx.try_recv() {
            self.take(feed);
        }
        assert_eq!(self.states.last(), Some(&SourceState::Stopped));
        (self.dir, self.path.clone(), self.states.clone())
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

fn with_lines(text: &'static str) -> impl FnOnce(&Path) {
    move |path| {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

const SLOW_POLL: Duration = Duration::from_millis(600);

#[test]
fn first_start_skips_old_lines_and_delivers_an_appended_line_within_milliseconds() {
    // The poll is slow, so only inotify can be this quick.
    let mut f = Followed::new(with_lines("old 1\nold 2\n"), None, SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let t = Instant::now();
        append(&f.path, format!("new {i}\n").as_bytes());
        assert_eq!(f.lines(1), [format!("new {i}")]);
        worst = worst.max(t.elapsed());
    }
    eprintln!("append → batch, worst of 5: {worst:?}");
    assert!(worst < Duration::from_millis(100), "took {worst:?}");
    assert_eq!(
        f.batches[0].first_line, 3,
        "numbering counts the skipped lines"
    );
    f.finish();
}

#[test]
fn partial_line_waits_for_its_newline() {
    let mut f = Followed::new(with_lines(""), None, Duration::from_millis(50));
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    append(&f.path, b"Failed password for ro");
    f.quiet(Duration::from_millis(200));
    append(&f.path, b"ot\n");
    assert_eq!(f.lines(1), ["Failed password for root"]);
    f.finish();
}

#[test]
fn file_missing_at_start_is_read_from_its_beginning_when_it_appears() {
    let mut f = Followed::new(
        |p| fs::create_dir_all(p.parent().unwrap()).unwrap(),
        None,
        SLOW_POLL,
    );
    f.wait_state(|s| matches!(s, SourceState::Waiting { why } if why.contains("no such file")));
    append(&f.path, b"first\nsecond\n");
    assert_eq!(f.lines(2), ["first", "second"]);
    f.finish();
}

#[test]
fn missing_directory_is_waited_for() {
    let mut f = Followed::new(|_| {}, None, Duration::from_millis(50));
    f.wait_state(
        |s| matches!(s, SourceState::Waiting { why } if why.contains("no such directory")),
    );
    fs::create_dir_all(f.path.parent().unwrap()).unwrap();
    append(&f.path, b"hello\n");
    assert_eq!(f.lines(1), ["hello"]);
    f.finish();
}

#[test]
fn rename_and_create_finishes_the_old_file_then_reads_the_new_from_zero() {
    let mut f = Followed::new(with_lines(""), None, SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    // The syslog daemon's descriptor: it keeps writing there after the rename.
    let mut writer = OpenOptions::new().append(true).open(&f.path).unwrap();
    writer.write_all(b"a\n").unwrap();
    assert_eq!(f.lines(1), ["a"]);
    fs::rename(&f.path, f.sib(".1")).unwrap();
    File::create(&f.path).unwrap();
    writer.write_all(b"b\nc, no newline yet").unwrap();
    assert_eq!(f.lines(1), ["b"]);
    assert_eq!(f.batches.last().unwrap().origin, f.sib(".1"));
    // Told to reopen: it writes the new file from now on.
    let mut writer = OpenOptions::new().append(true).open(&f.path).unwrap();
    writer.write_all(b"d\n").unwrap();
    assert_eq!(f.lines(2), ["c, no newline yet", "d"]);
    let last = f.batches.last().unwrap();
    assert_eq!(last.origin, f.path);
    assert_eq!(last.first_line, 1);
    let (_dir, path, states) = f.finish();
    let mut from = path.into_os_string();
    from.push(".1");
    assert!(
        states.contains(&SourceState::Rotated { from: from.into() }),
        "{states:?}"
    );
}

#[test]
fn copytruncate_reads_every_line_once() {
    let mut f = Followed::new(with_lines(""), None, Duration::from_millis(50));
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    append(&f.path, b"a\nb\n");
    assert_eq!(f.lines(2), ["a", "b"]);
    // c may be read before the copy or from the copy: either way once.
    append(&f.path, b"c\n");
    fs::copy(&f.path, f.sib(".1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&f.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&f.path, b"d\n");
    assert_eq!(f.lines(2), ["c", "d"]);
    f.quiet(Duration::from_millis(200));
    f.finish();
}

#[test]
fn truncation_restarts_from_zero() {
    let mut f = Followed::new(with_lines(""), None, Duration::from_millis(50));
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    append(&f.path, b"a long first line\n");
    assert_eq!(f.lines(1), ["a long first line"]);
    fs::write(&f.path, b"").unwrap();
    f.wait_state(|s| matches!(s, SourceState::Rotated { .. }));
    append(&f.path, b"x\n");
    assert_eq!(f.lines(1), ["x"]);
    assert_eq!(f.batches.last().unwrap().first_line, 1);
    f.finish();
}

#[test]
fn deleted_file_is_drained_then_its_successor_read_from_zero() {
    let mut f = Followed::new(with_lines(""), None, Duration::from_millis(50));
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    let mut writer = OpenOptions::new().append(true).open(&f.path).unwrap();
    writer.write_all(b"a\n").unwrap();
    assert_eq!(f.lines(1), ["a"]);
    writer.write_all(b"last words").unwrap();
    fs::remove_file(&f.path).unwrap();
    drop(writer);
    assert_eq!(f.lines(1), ["last words"]);
    f.wait_state(|s| matches!(s, SourceState::Waiting { .. }));
    append(&f.path, b"reborn\n");
    assert_eq!(f.lines(1), ["reborn"]);
    f.finish();
}

#[test]
fn restart_from_a_batch_position_repeats_and_loses_nothing() {
    let mut f = Followed::new(with_lines("skipped\n"), None, SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    append(&f.path, b"one\ntwo\n");
    assert_eq!(f.lines(2), ["one", "two"]);
    let cursor = f.last_cursor();
    let (dir, path, _) = f.finish();
    // While the daemon is down: more lines, then a rotation.
    append(&path, b"three\n");
    let mut old = path.clone().into_os_string();
    old.push(".1");
    fs::rename(&path, &old).unwrap();
    append(&path, b"four\n");
    let mut f = Followed::at(dir, path, Some(cursor), SLOW_POLL);
    assert_eq!(f.lines(2), ["three", "four"]);
    append(&f.path, b"five\n");
    assert_eq!(f.lines(1), ["five"]);
    f.quiet(Duration::from_millis(100));
    f.finish();
}

#[test]
fn flood_of_thirty_thousand_lines_arrives_whole_in_few_batches() {
    let mut f = Followed::new(with_lines(""), None, SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    let mut text = String::new();
    for i in 0..30_000 {
        text.push_str(&format!("line {i}\n"));
    }
    append(&f.path, text.as_bytes());
    let got = f.lines(30_000);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, l)| *l == format!("line {i}"))
    );
    let n = f.batches.iter().filter(|b| b.count > 0).count();
    assert!(n <= 12, "{n} batches");
    f.quiet(Duration::from_millis(100));
    f.finish();
}

#[test]
fn overlong_line_is_dropped_and_counted() {
    let mut f = Followed::new(with_lines(""), None, SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    let mut data = vec![b'x'; 100_000];
    data.extend_from_slice(b"\nafter\n");
    append(&f.path, &data);
    assert_eq!(f.lines(1), ["after"]);
    let dropped: u64 = f.batches.iter().map(|b| b.dropped).sum();
    assert_eq!(dropped, 1);
    assert_eq!(f.batches.last().unwrap().first_line, 2);
    f.finish();
}

#[test]
fn stop_ends_the_follower_promptly() {
    let f = Followed::new(with_lines(""), None, Duration::from_millis(100));
    let t = Instant::now();
    f.finish();
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_follower_ahead_of_its_reader_waits_and_still_stops_promptly() {
    // The engine's queue is bounded: a flood waits in the file, not in memory (issue 8,
    // item 7). Here the queue holds one batch and nobody reads it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    fs::write(&path, "").unwrap();
    let (tx, rx) = mpsc::sync_channel(1);
    let stop = Stop::new();
    let opts = FollowOptions {
        poll: SLOW_POLL,
        max_batch_lines: 100,
    };
    let handle = follow_file(path.clone(), None, tx, stop.clone(), opts).unwrap();
    // Wait until it follows, then append 20,000 lines: 200 batches.
    let deadline = Instant::now() + WAIT;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Feed::Status {
                state: SourceState::Following { .. },
                ..
            }) => break,
            Ok(_) => {}
            Err(e) => panic!("never followed: {e}"),
        }
    }
    let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    append(&path, text.as_bytes());
    std::thread::sleep(Duration::from_millis(300));
    let queued = rx.try_iter().count();
    assert!(
        queued <= 2,
        "{queued} feeds queued for a reader that reads nothing"
    );
    // Blocked on the full queue, it still stops at once.
    let t = Instant::now();
    stop.stop();
    handle.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    drop(rx);
}

#[test]
fn a_slow_reader_gets_every_line_of_a_flood_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    fs::write(&path, "").unwrap();
    let (tx, rx) = mpsc::sync_channel(1);
    let stop = Stop::new();
    let opts = FollowOptions {
        poll: SLOW_POLL,
        max_batch_lines: 500,
    };
    let handle = follow_file(path.clone(), None, tx, stop.clone(), opts).unwrap();
    let mut appended = false;
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT * 4;
    while got.len() < 20_000 {
        let feed = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| panic!("{e} after {} lines", got.len()));
        match feed {
            Feed::Status {
                state: SourceState::Following { .. },
                ..
            } if !appended => {
                let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
                append(&path, text.as_bytes());
                appended = true;
            }
            Feed::Lines(b) => {
                got.extend(b.iter().map(|l| String::from_utf8_lossy(l).into_owned()));
                // A reader slower than the follower.
                std::thread::sleep(Duration::from_millis(2));
            }
            _ => {}
        }
    }
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, l)| *l == format!("line {i}"))
    );
    stop.stop();
    handle.join().unwrap();
}

#[test]
fn a_damaged_rotated_gz_is_said_once_and_reading_goes_on_with_the_new_file() {
    // Issue 8, item 11: while the daemon was down, the log was rotated and compressed, and
    // the copy was cut short. Before, the follower retried at the damage forever.
    let mut f = Followed::new(with_lines(""), None, SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    append(&f.path, b"one\n");
    assert_eq!(f.lines(1), ["one"]);
    let cursor = f.last_cursor();
    let (dir, path, _) = f.finish();
    let mut more = b"two\n".to_vec();
    for i in 0..5000 {
        more.extend_from_slice(format!("filler line {i} of the rotated log\n").as_bytes());
    }
    append(&path, &more);
    let whole = fs::read(&path).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&whole).unwrap();
    let gz = enc.finish().unwrap();
    let mut gz_path = path.clone().into_os_string();
    gz_path.push(".1.gz");
    fs::write(&gz_path, &gz[..gz.len() * 9 / 10]).unwrap();
    fs::remove_file(&path).unwrap();
    append(&path, b"new one\n");
    let mut f = Followed::at(dir, path, Some(cursor), SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    let got: Vec<String> = f
        .batches
        .iter()
        .flat_map(|b| b.iter().map(|l| String::from_utf8_lossy(l).into_owned()))
        .collect();
    assert_eq!(got.first().map(String::as_str), Some("two"));
    assert_eq!(
        got.last().map(String::as_str),
        Some("new one"),
        "{:?}",
        &got[got.len().saturating_sub(3)..]
    );
    let damaged = f
        .states
        .iter()
        .filter(
            |s| matches!(s, SourceState::Damaged { path, .. } if path.ends_with("auth.log.1.gz")),
        )
        .count();
    assert_eq!(damaged, 1, "{:?}", f.states);
    assert!(
        !f.states
            .iter()
            .any(|s| matches!(s, SourceState::Error { .. })),
        "{:?}",
        f.states
    );
    append(&f.path, b"after\n");
    assert_eq!(f.lines(1), ["after"]);
    f.quiet(Duration::from_millis(700));
    let (_, _, states) = f.finish();
    assert_eq!(
        states
            .iter()
            .filter(|s| matches!(s, SourceState::Damaged { .. }))
            .count(),
        1
    );
}

/// Shifts `PATH.k` to `PATH.k+1` for every kept generation, then `PATH` to `PATH.1`, as
/// logrotate does without compression, and creates an empty `PATH`.
fn rotate_numbered(path: &Path, generations: usize) {
    let sib = |k: usize| {
        let mut s = path.to_path_buf().into_os_string();
        s.push(format!(".{k}"));
        PathBuf::from(s)
    };
    for k in (1..=generations).rev() {
        if sib(k).exists() {
            fs::rename(sib(k), sib(k + 1)).unwrap();
        }
    }
    fs::rename(path, sib(1)).unwrap();
    File::create(path).unwrap();
}

#[test]
fn a_burst_of_a_hundred_rotations_loses_no_line() {
    // Issue 8, item 6: 100 rename+create rotations of 400 lines each with no pause. The
    // follower used to reopen the path after finishing a file, skipping every file that
    // had been rotated away meanwhile.
    let mut f = Followed::new(with_lines(""), None, SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    let mut n = 0;
    for r in 0..100 {
        let mut text = String::new();
        for _ in 0..400 {
            text.push_str(&format!("line {n}\n"));
            n += 1;
        }
        append(&f.path, text.as_bytes());
        rotate_numbered(&f.path, r);
    }
    let got = f.lines(n);
    let wrong = got
        .iter()
        .enumerate()
        .find(|(i, l)| **l != format!("line {i}"));
    assert_eq!(wrong, None, "{} lines", got.len());
    f.quiet(Duration::from_millis(300));
    f.finish();
}

#[test]
fn a_burst_behind_a_slow_engine_loses_no_line_and_says_nothing_is_lost() {
    // The follower is kept waiting by a full queue while 30 logrotate-style rotations go
    // on (every generation kept): it reads them all afterwards, in order.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    fs::write(&path, "").unwrap();
    let (tx, rx) = mpsc::sync_channel(1);
    let stop = Stop::new();
    let opts = FollowOptions {
        poll: SLOW_POLL,
        max_batch_lines: 100,
    };
    let handle = follow_file(path.clone(), None, tx, stop.clone(), opts).unwrap();
    let mut states = Vec::new();
    let mut got = Vec::new();
    let mut n = 0;
    let deadline = Instant::now() + WAIT * 4;
    while n == 0 || got.len() < n {
        let feed = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| panic!("{e} after {} lines; {states:?}", got.len()));
        match feed {
            Feed::Status { state, .. } => {
                if n == 0 && matches!(state, SourceState::Following { .. }) {
                    for r in 0..30 {
                        let text: String = (n..n + 400).map(|i| format!("line {i}\n")).collect();
                        n += 400;
                        append(&path, text.as_bytes());
                        rotate_numbered(&path, r);
                    }
                }
                states.push(state);
            }
            Feed::Lines(b) => {
                got.extend(b.iter().map(|l| String::from_utf8_lossy(l).into_owned()));
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let wrong = got
        .iter()
        .enumerate()
        .find(|(i, l)| **l != format!("line {i}"));
    assert_eq!(wrong, None);
    assert!(
        !states.iter().any(|s| matches!(s, SourceState::Gap { .. })),
        "{states:?}"
    );
    stop.stop();
    handle.join().unwrap();
}

/// A copytruncate that comes while the follower is still finishing the file rotated before:
/// when it moves on, the copy (`.1`) is the newest rotated file and the live file it was
/// copied from is not truncated yet. The copy's lines are the live file's: they are read
/// once, and what the live file gets after its truncation is read too.
#[test]
fn a_copy_taken_while_the_follower_finishes_the_file_before_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    fs::write(&path, "").unwrap();
    let sib = |k: u32| dir.path().join(format!("auth.log.{k}"));
    // The queue holds one batch: until this test reads, the follower waits mid-file.
    let (tx, rx) = mpsc::sync_channel(1);
    let stop = Stop::new();
    let opts = FollowOptions {
        poll: Duration::from_millis(50),
        max_batch_lines: 100,
    };
    let handle = follow_file(path.clone(), None, tx, stop.clone(), opts).unwrap();
    let mut got: Vec<String> = Vec::new();
    let mut states = Vec::new();
    // Receives until `until` lines came in all, then as long as more keep coming.
    let mut receive = |until: usize, then_quiet: Duration| {
        let deadline = Instant::now() + WAIT;
        let mut quiet_from = None;
        loop {
            let limit = quiet_from.map_or(deadline, |t: Instant| t + then_quiet);
            match rx.recv_timeout(limit.saturating_duration_since(Instant::now())) {
                Ok(Feed::Lines(b)) => {
                    got.extend(b.iter().map(|l| String::from_utf8_lossy(l).into_owned()))
                }
                Ok(Feed::Status { state, .. }) => states.push(state),
                Err(_) if quiet_from.is_some() => break,
                Err(e) => panic!("{e} after {} lines; {states:?}", got.len()),
            }
            if got.len() >= until && quiet_from.is_none() {
                quiet_from = Some(Instant::now());
            }
        }
        (got.clone(), states.clone())
    };
    let (_, states) = receive(0, Duration::from_millis(200));
    assert!(
        states
            .iter()
            .any(|s| matches!(s, SourceState::Following { .. })),
        "{states:?}"
    );
    let text =
        |from: usize, to: usize| -> String { (from..to).map(|i| format!("line {i}\n")).collect() };
    append(&path, text(0, 2_000).as_bytes());
    std::thread::sleep(Duration::from_millis(100));
    // rename + create, then the start of a copytruncate: shift, copy, and no truncation.
    fs::rename(&path, sib(1)).unwrap();
    fs::write(&path, text(2_000, 2_100)).unwrap();
    fs::rename(sib(1), sib(2)).unwrap();
    fs::copy(&path, sib(1)).unwrap();
    receive(2_100, Duration::from_millis(300));
    // The truncation, and lines after it.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, text(2_100, 2_150).as_bytes());
    let (got, states) = receive(2_150, Duration::from_millis(300));
    let want: Vec<String> = (0..2_150).map(|i| format!("line {i}")).collect();
    if got != want {
        let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w);
        panic!(
            "{} lines, {} wanted; the first wrong at {first_wrong:?}: {:?}; {states:?}",
            got.len(),
            want.len(),
            first_wrong.map(|i| &got[i])
        );
    }
    stop.stop();
    handle.join().unwrap();
}

#[test]
fn rotation_that_deletes_files_unread_is_said() {
    // `mv auth.log auth.log.1` with nothing kept older: while the follower waits on a
    // full queue, files are rotated over one another and gone for good. That must be
    // said, and reading must go on with what is left, in order.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    fs::write(&path, "").unwrap();
    let one = dir.path().join("auth.log.1");
    let (tx, rx) = mpsc::sync_channel(1);
    let stop = Stop::new();
    let opts = FollowOptions {
        poll: SLOW_POLL,
        max_batch_lines: 100,
    };
    let handle = follow_file(path.clone(), None, tx, stop.clone(), opts).unwrap();
    let mut states = Vec::new();
    let mut got: Vec<String> = Vec::new();
    let deadline = Instant::now() + WAIT * 2;
    let mut written = false;
    while got.last().is_none_or(|l| l != "last") {
        let feed = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| panic!("{e} after {} lines; {states:?}", got.len()));
        match feed {
            Feed::Status { state, .. } => {
                if !written && matches!(state, SourceState::Following { .. }) {
                    written = true;
                    // The first file fills the queue and then some: the follower holds it
                    // open while the next ones come and go.
                    let text: String = (0..1000).map(|i| format!("first {i}\n")).collect();
                    append(&path, text.as_bytes());
                    std::thread::sleep(Duration::from_millis(50));
                    for r in 0..5 {
                        fs::rename(&path, &one).unwrap();
                        append(&path, format!("file {r}\n").as_bytes());
                    }
                    append(&path, b"last\n");
                }
                states.push(state);
            }
            Feed::Lines(b) => {
                got.extend(b.iter().map(|l| String::from_utf8_lossy(l).into_owned()));
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    let firsts: Vec<_> = got.iter().filter(|l| l.starts_with("first")).collect();
    assert_eq!(firsts.len(), 1000, "the open file is read whole");
    assert_eq!(got.last().unwrap(), "last");
    // Files 0 to 3 were deleted unread; file 4 is `auth.log.1` and comes before `last`.
    assert_eq!(got[got.len() - 2], "file 4", "{:?}", &got[1000..]);
    let gap = states
        .iter()
        .find(|s| matches!(s, SourceState::Gap { .. }))
        .unwrap_or_else(|| panic!("no gap said: {states:?}"));
    let SourceState::Gap { before, .. } = gap else {
        unreachable!()
    };
    assert_eq!(*before, one);
    stop.stop();
    handle.join().unwrap();
}

/// Issue 9, item 7: a stop reaches a follower that waits for inotify at once, not at its
/// next poll (the daemon's SIGTERM took up to a poll interval per follower). The poll here
/// is a minute, so only the wake-up can end the follower within the bound.
#[test]
fn a_stop_wakes_a_waiting_follower_at_once() {
    let mut f = Followed::new(with_lines("old\n"), None, Duration::from_secs(60));
    append(&f.path, b"new\n");
    assert_eq!(f.lines(1), ["new"]);
    let asked = Instant::now();
    f.stop.stop();
    let handle = f.handle.take().unwrap();
    while !handle.is_finished() {
        assert!(
            asked.elapsed() < Duration::from_secs(20),
            "the follower still waits for its minute's poll"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.join().unwrap();
}

/// Offsets are `u64` everywhere, so a log that has grown past 4 GiB (a year of a busy
/// server's auth.log, on a 32-bit Raspberry Pi OS too) resumes at its cursor: a `usize`
/// or `u32` on the way would wrap the offset to the start of the file on armhf
/// (`packaging/cross.sh test armhf` runs this there). The file is sparse: 5 GiB of
/// which only the lines take disk.
#[test]
fn a_log_past_4_gib_resumes_at_its_cursor_when_read_and_when_followed() {
    const FIVE_GIB: u64 = 5 << 30;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    fs::write(&path, "line 1, before the gigabytes\n").unwrap();
    let (mut cursor, _) = authban::source::read_since(&path, None, |_, _| {}).unwrap();
    // The hole reads as NUL bytes; the cursor says they were consumed up to its newline.
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(FIVE_GIB - 1).unwrap();
    drop(f);
    append(&path, b"\nline 3, past 5 GiB\nline 4\n");
    cursor.offset = FIVE_GIB;
    cursor.line = 2;

    let mut read = Vec::new();
    let (after, _) = authban::source::read_since(&path, Some(&cursor), |_, l| {
        let text = String::from_utf8_lossy(l.bytes).into_owned();
        read.push((l.number, l.offset, text));
    })
    .unwrap();
    assert_eq!(
        read,
        [
            (3, FIVE_GIB, "line 3, past 5 GiB".to_owned()),
            (4, FIVE_GIB + 19, "line 4".to_owned())
        ]
    );
    assert_eq!(after.offset, FIVE_GIB + 26, "{after:?}");
    assert_eq!(after.line, 4);

    // The daemon's follower, from the cursor `scan` saved.
    let mut f = Followed::at(dir, path, Some(after), SLOW_POLL);
    f.wait_state(|s| matches!(s, SourceState::Following { .. }));
    append(&f.path, b"line 5\n");
    assert_eq!(f.lines(1), ["line 5"]);
    assert_eq!(f.last_cursor().offset, FIVE_GIB + 33);
    assert_eq!(f.batches.last().unwrap().first_line, 5);
    f.finish();
}
