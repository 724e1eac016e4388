//! `authban check`: parse logs and print every recognised sshd event (through
//! [`crate::print`]) with a summary on stderr; changes nothing.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::{Global, exit};
use crate::config::TrustLogins;
use crate::detect::{self, Decision, Detector};
use crate::event::{Event, Kind};
use crate::host;
use crate::host::{local_zone, reference_time};
use crate::parse::Parser;
use crate::print::Printer;
use crate::source::{self, FileEntries, Line};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON object per event per line (keys: file, line, time, kind, addr, user, msg, method, count; by_pid: true when the line names no address and the one an earlier line of the same sshd process named is shown)
    #[arg(long)]
    pub json: bool,
    /// Also score the events with the configured policy, as `scan` over these files alone
    /// would: each event's connection (sshd pid and port), the points it added, the
    /// address's score after it, and `ban` (or `spared`, for an exempt address) where it
    /// reached the threshold
    #[arg(long)]
    pub score: bool,
    /// Log files to read (plain or gzip); `-` or nothing reads standard input
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Counts for the summary on stderr.
#[derive(Debug, Default)]
struct Summary {
    lines: u64,
    bytes: u64,
    truncated: u64,
    by_kind: [u64; 4],
    /// Events printed: one per line, however many times a `message repeated N times`
    /// line stands for.
    rows: u64,
    /// The distinct addresses, per family (IPv4 in 4 bytes).
    addrs_v4: Distinct<u32>,
    addrs_v6: Distinct<u128>,
    /// The address last inserted: consecutive events mostly share it, and skipping the
    /// sets for them saves a hash and a probe per event.
    last_addr: Option<IpAddr>,
}

impl Summary {
    fn saw(&mut self, addr: IpAddr) {
        if self.last_addr == Some(addr) {
            return;
        }
        self.last_addr = Some(addr);
        match addr {
            IpAddr::V4(v4) => self.addrs_v4.insert(v4.to_bits()),
            IpAddr::V6(v6) => self.addrs_v6.insert(v6.to_bits()),
        }
    }

    fn distinct_addrs(&mut self) -> usize {
        self.addrs_v4.len() + self.addrs_v6.len()
    }
}

/// A count of distinct values, kept by appending and now and then sorting and
/// deduplicating. A hash set missed the cache on nearly every insertion (a new connection
/// is a random one of tens of thousands of attackers, and the file streams through the
/// cache in between); appending is sequential, and a sort of a few hundred thousand
/// integers costs a few milliseconds. Memory stays at most twice the distinct values, or
/// `MIN_COMPACT` values.
#[derive(Debug)]
struct Distinct<T> {
    items: Vec<T>,
    compact_at: usize,
}

const MIN_COMPACT: usize = 1 << 18;

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Distinct {
            items: Vec::new(),
            compact_at: MIN_COMPACT,
        }
    }
}

impl<T: Ord> Distinct<T> {
    fn insert(&mut self, v: T) {
        self.items.push(v);
        if self.items.len() >= self.compact_at {
            self.compact();
        }
    }

    fn compact(&mut self) {
        self.items.sort_unstable();
        self.items.dedup();
        self.compact_at = (self.items.len() * 2).max(MIN_COMPACT);
    }

    fn len(&mut self) -> usize {
        self.compact();
        self.items.len()
    }
}

pub fn run(global: &Global, args: CheckArgs) -> u8 {
    let started = Instant::now();
    let mut scorer = if args.score {
        match super::load_config(global) {
            Ok(config) => Some(Scorer::new(
                Detector::new(
                    config.detect_policy(host::local_addresses(), host::session_client()),
                ),
                config.policy.trust_logins,
            )),
            Err(code) => return code,
        }
    } else {
        None
    };
    let stdout = io::stdout();
    let mut out = Printer::new(stdout.lock(), args.json);
    let mut summary = Summary::default();
    let tz = local_zone();
    let files: Vec<PathBuf> = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files
    };
    let mut code = exit::OK;
    let mut progress = super::progress::Progress::beside_output(&files);
    for file in &files {
        progress.file(file);
        let stdin = file.as_os_str() == "-";
        let name = if stdin {
            "-".to_string()
        } else {
            file.display().to_string()
        };
        out.set_file(&name);
        let mut parser = Parser::new(
            tz.clone(),
            reference_time((!stdin).then_some(file.as_path())),
        );
        // Where reading got to, for the summary when it stops at an error (a truncated
        // `.gz`): the lines before it were printed and count.
        let mut reached = (0u64, 0u64, 0u64);
        // A saved or piped `journalctl -o json|export` is read as the journal source does.
        let mut entries = FileEntries::sshd();
        let mut on_line = |line: Line<'_>| {
            reached.0 = line.number;
            reached.1 = line.end;
            // A line cut at the cap lost its end, where most shapes keep the address.
            reached.2 += u64::from(line.truncated);
            let Some((text, from_journal)) = entries.text(line) else {
                return;
            };
            if let Some(ev) = parser.parse(text) {
                summary.by_kind[ev.kind.index()] += u64::from(ev.count.max(1));
                summary.rows += 1;
                summary.saw(ev.addr);
                // One call: the printer is inlined here once.
                let extra = match scorer.as_mut() {
                    Some(s) => s.observe(&ev, args.json, from_journal),
                    None => b"",
                };
                out.event(line.number, &ev, extra);
            }
        };
        let result = if stdin {
            source::read_lines(io::stdin().lock(), &mut on_line)
        } else {
            source::read_file_observed(file, |n| progress.read(n), &mut on_line)
        };
        if entries.broken > 0 {
            eprintln!(
                "authban: warning: {name}: {} journal export entries could not be read whole \
                 (a binary field cut short or over its size, or too many fields) and were skipped",
                entries.broken
            );
        }
        match result {
            Ok(stats) => {
                summary.lines += stats.lines;
                summary.bytes += stats.bytes;
                summary.truncated += stats.truncated;
            }
            Err(e) => {
                summary.lines += reached.0;
                summary.bytes += reached.1;
                summary.truncated += reached.2;
                eprintln!("authban: {e} (after line {} of {name})", reached.0);
                code = super::source_exit(&e);
            }
        }
        if let Some(e) = out.error.take() {
            return broken_output(e);
        }
    }
    progress.finish();
    if let Err(e) = out.finish() {
        return broken_output(e);
    }
    // Counted before the clock is read: the count's final sort is part of the work.
    let distinct = summary.distinct_addrs();
    print_summary(&summary, distinct, started.elapsed().as_secs_f64());
    code
}

/// Runs the detector over `check`'s events and writes what it made of each.
struct Scorer {
    detector: Detector,
    text: Vec<u8>,
    /// The time given to events of a log without timestamps: the time of reading.
    now_ms: i64,
    trust: TrustLogins,
}

impl Scorer {
    fn new(detector: Detector, trust: TrustLogins) -> Scorer {
        Scorer {
            detector,
            trust,
            text: Vec::with_capacity(128),
            now_ms: jiff::Timestamp::now().as_millisecond(),
        }
    }

    /// The text to append to the event's line: JSON members, or words for the table.
    fn observe(&mut self, ev: &Event<'_>, json: bool, from_journal: bool) -> &[u8] {
        // As `scan` does: a login of a file counts only while sshd holds its connection.
        if ev.kind == Kind::Success && !self.trust.grants(ev, from_journal) {
            return if json {
                b",\"trusted\":false"
            } else {
                b" not-trusted"
            };
        }
        let at = ev.time.map_or(self.now_ms, |t| t.unix_ms());
        let decision = self.detector.observe(ev, at);
        let s = self.detector.last_scored();
        // A decision starts the counts over: its row shows those that reached a threshold.
        let rules = self
            .detector
            .policy()
            .slow
            .len()
            .min(detect::MAX_SLOW_RULES);
        let (score, levels, verdict) = match &decision {
            Some(Decision::Ban(o)) => (
                o.points_by_kind.iter().sum(),
                o.levels[..rules].to_vec(),
                if json { ",\"ban\":true" } else { " ban" },
            ),
            Some(Decision::Spared(o, _)) => (
                o.points_by_kind.iter().sum(),
                o.levels[..rules].to_vec(),
                if json { ",\"spared\":true" } else { " spared" },
            ),
            _ => (
                self.detector.score(ev.addr, at),
                self.detector.slow_levels(ev.addr, at),
                "",
            ),
        };
        let points = |p: u32| format!("{}.{:02}", p / 100, p % 100);
        let slow: Vec<String> = levels.into_iter().map(points).collect();
        let null = |n: u64| {
            if n == 0 {
                "null".to_string()
            } else {
                n.to_string()
            }
        };
        self.text.clear();
        let t = if json {
            format!(
                ",\"conn\":{{\"pid\":{},\"port\":{}}},\"points\":{},\"score\":{},\"slow\":[{}]{}",
                null(s.conn_pid.into()),
                null(s.conn_port.into()),
                points(s.points),
                points(score),
                slow.join(","),
                verdict
            )
        } else {
            format!(
                " conn={}/{} points={} score={}{}{}{}",
                s.conn_pid,
                s.conn_port,
                points(s.points),
                points(score),
                if slow.is_empty() { "" } else { " slow=" },
                slow.join(","),
                verdict
            )
        };
        self.text.extend_from_slice(t.as_bytes());
        &self.text
    }
}

fn broken_output(e: io::Error) -> u8 {
    // `authban check … | head` closes the pipe: that is the reader's choice, not an error.
    if e.kind() == io::ErrorKind::BrokenPipe {
        return exit::OK;
    }
    eprintln!("authban: cannot write the output: {e}");
    exit::IOERR
}

fn print_summary(s: &Summary, distinct: usize, secs: f64) {
    let events: u64 = s.by_kind.iter().sum();
    let mb = s.bytes as f64 / 1e6;
    let rate = if secs > 0.0 { mb / secs } else { 0.0 };
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("{} {}", k, s.by_kind[k.index()]))
        .collect();
    // A `message repeated N times` row is N events: say so where the numbers differ.
    let rows = if s.rows == events {
        String::new()
    } else {
        format!(" in {} rows (repeated=N rows count N)", s.rows)
    };
    eprintln!(
        "authban: {} lines ({:.1} MB) in {:.2} s ({:.0} MB/s); {} events{rows} ({}); {} distinct addresses",
        s.lines,
        mb,
        secs,
        rate,
        events,
        kinds.join(", "),
        distinct
    );
    if s.truncated > 0 {
        eprintln!(
            "authban: {} lines longer than 64 KiB were skipped (no sshd line is that long)",
            s.truncated
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // The count agrees with a set, across compactions.
        #[test]
        fn distinct_counts_like_a_set(values in proptest::collection::vec(0u32..5000, 0..2000), compact in 1usize..600) {
            let mut d = Distinct { items: Vec::new(), compact_at: compact };
            for &v in &values {
                d.insert(v);
            }
            let set: std::collections::HashSet<u32> = values.iter().copied().collect();
            proptest::prop_assert_eq!(d.len(), set.len());
            proptest::prop_assert_eq!(d.len(), set.len());
        }
    }
}
