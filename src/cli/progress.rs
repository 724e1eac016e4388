//! The progress line of long reads (`check`, `report`, a first `scan`): on stderr, only when
//! it is a terminal, and only once a read has taken half a second, so short runs, pipes,
//! cron mail and log files never see it. Bytes are those of the files as stored
//! (compressed, for a `.gz`), so the share and the time left hold through gzip.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Nothing is drawn before a read has run this long.
const DELAY: Duration = Duration::from_millis(500);
/// Redrawn at most this often.
const EVERY: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Progress {
    on: bool,
    /// The size of every file to read (`None`: one is a stream of unknown length).
    total: Option<u64>,
    /// Bytes of the files already finished.
    before: u64,
    /// Bytes of the current file read so far.
    current: u64,
    started: Instant,
    last: Option<Instant>,
    drawn: bool,
    name: String,
    /// Calls to `read` since the clock was last read (it may be called once a line).
    calls: u32,
}

impl Progress {
    /// For reading `files` (`-` is stdin), drawn only if stderr is a terminal.
    pub fn new(files: &[impl AsRef<Path>]) -> Progress {
        Progress::with(files, std::io::stderr().is_terminal())
    }

    /// For `check`, whose events go to stdout: drawn only when they do not go to the same
    /// terminal, where the line would land among them (`check big.log > events`).
    pub fn beside_output(files: &[impl AsRef<Path>]) -> Progress {
        let on = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
        Progress::with(files, on)
    }

    fn with(files: &[impl AsRef<Path>], on: bool) -> Progress {
        let total = files.iter().try_fold(0u64, |sum, f| {
            let f = f.as_ref();
            (f.as_os_str() != "-")
                .then(|| std::fs::metadata(f).ok().filter(|m| m.is_file()))
                .flatten()
                .map(|m| sum + m.len())
        });
        Progress {
            on,
            total,
            before: 0,
            current: 0,
            started: Instant::now(),
            last: None,
            drawn: false,
            name: String::new(),
            calls: 0,
        }
    }

    /// The next file begins (the one before is read).
    pub fn file(&mut self, name: &Path) {
        self.before += std::mem::take(&mut self.current);
        self.name = name.file_name().map_or_else(
            || name.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
    }

    /// `read` bytes of the current file are read.
    pub fn read(&mut self, read: u64) {
        self.current = read;
        if !self.on {
            return;
        }
        self.calls += 1;
        if self.calls < 256 && self.drawn {
            return;
        }
        self.calls = 0;
        let now = Instant::now();
        if now.duration_since(self.started) < DELAY
            || self.last.is_some_and(|l| now.duration_since(l) < EVERY)
        {
            return;
        }
        self.last = Some(now);
        let line = self.line(self.before + self.current, now.duration_since(self.started));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        self.drawn = true;
    }

    /// The line for `done` bytes after `elapsed`.
    fn line(&self, done: u64, elapsed: Duration) -> String {
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        let mb = |b: f64| b / 1e6;
        match self.total.filter(|&t| t > 0) {
            Some(total) => {
                let left = total.saturating_sub(done) as f64 / rate.max(1.0);
                format!(
                    "{:3.0}% {:.1} of {:.1} MB, {:.1} MB/s, {} left  {}",
                    (done as f64 / total as f64 * 100.0).min(100.0),
                    mb(done as f64),
                    mb(total as f64),
                    mb(rate),
                    eta(left),
                    self.name
                )
            }
            None => format!(
                "{:.1} MB, {:.1} MB/s  {}",
                mb(done as f64),
                mb(rate),
                self.name
            ),
        }
    }

    /// Clears the line, if one was drawn, so what follows starts clean.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn eta(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_gives_the_share_the_rate_and_the_time_left() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("auth.log.2.gz");
        std::fs::write(&a, vec![0u8; 3_000_000]).unwrap();
        let mut p = Progress::with(&[&a], true);
        p.file(&a);
        assert_eq!(
            p.line(1_000_000, Duration::from_secs(2)),
            " 33% 1.0 of 3.0 MB, 0.5 MB/s, 4s left  auth.log.2.gz"
        );
        // A stream has no size: bytes and rate only.
        let p = Progress::with(&[Path::new("-")], true);
        assert_eq!(
            p.line(2_500_000, Duration::from_secs(1)),
            "2.5 MB, 2.5 MB/s  "
        );
        assert_eq!(eta(3725.0), "1h 02m");
        assert_eq!(eta(75.0), "1m 15s");
    }

    #[test]
    fn nothing_is_drawn_off_a_terminal_or_before_half_a_second() {
        let mut off = Progress::with(&[Path::new("-")], false);
        off.read(1 << 30);
        assert!(!off.drawn);
        let mut on = Progress::with(&[Path::new("-")], true);
        on.read(1 << 30);
        assert!(!on.drawn, "drawn at once");
        on.drawn = false;
    }
}
