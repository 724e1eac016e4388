//! `authban check`: parse logs and print every recognised sshd event; changes nothing.
//!
//! The output is the program's hot loop over millions of lines, so events are written by
//! hand into one buffered writer (no per-event `String`), and the text of a timestamp is
//! reused while consecutive events share it.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::{Global, exit, local_zone, reference_time};
use crate::event::{Event, Kind, LogTime};
use crate::parse::Parser;
use crate::source::{self, Line, SourceError};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON object per event per line (keys: file, line, time, kind, addr, user, msg, method, count)
    #[arg(long)]
    pub json: bool,
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
    addrs: HashSet<IpAddr>,
}

pub fn run(_global: &Global, args: CheckArgs) -> u8 {
    let started = Instant::now();
    let stdout = io::stdout();
    let mut out = Printer::new(BufWriter::with_capacity(1 << 16, stdout.lock()), args.json);
    let mut summary = Summary::default();
    let tz = local_zone();
    let files: Vec<PathBuf> = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files
    };
    let mut code = exit::OK;
    for file in &files {
        let stdin = file.as_os_str() == "-";
        let name = if stdin {
            "-".to_string()
        } else {
            file.display().to_string()
        };
        let mut parser = Parser::new(
            tz.clone(),
            reference_time((!stdin).then_some(file.as_path())),
        );
        let mut on_line = |line: Line<'_>| {
            // A line cut at the cap lost its end, where most shapes keep the address.
            if line.truncated {
                return;
            }
            if let Some(ev) = parser.parse(line.bytes) {
                summary.by_kind[ev.kind.index()] += u64::from(ev.count.max(1));
                summary.addrs.insert(ev.addr);
                out.event(&name, line.number, &ev);
            }
        };
        let result = if stdin {
            source::read_lines(io::stdin().lock(), &mut on_line)
        } else {
            source::read_file(file, &mut on_line)
        };
        match result {
            Ok(stats) => {
                summary.lines += stats.lines;
                summary.bytes += stats.bytes;
                summary.truncated += stats.truncated;
            }
            Err(e) => {
                eprintln!("authban: {e}");
                code = match e {
                    SourceError::NotFound { .. } | SourceError::Open { .. } => exit::NOINPUT,
                    _ => exit::IOERR,
                };
            }
        }
        if let Some(e) = out.error.take() {
            return broken_output(e);
        }
    }
    if let Err(e) = out.finish() {
        return broken_output(e);
    }
    print_summary(&summary, started.elapsed().as_secs_f64());
    code
}

fn broken_output(e: io::Error) -> u8 {
    // `authban check … | head` closes the pipe: that is the reader's choice, not an error.
    if e.kind() == io::ErrorKind::BrokenPipe {
        return exit::OK;
    }
    eprintln!("authban: cannot write the output: {e}");
    exit::IOERR
}

fn print_summary(s: &Summary, secs: f64) {
    let events: u64 = s.by_kind.iter().sum();
    let mb = s.bytes as f64 / 1e6;
    let rate = if secs > 0.0 { mb / secs } else { 0.0 };
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("{} {}", k, s.by_kind[k.index()]))
        .collect();
    eprintln!(
        "authban: {} lines ({:.1} MB) in {:.2} s ({:.0} MB/s); {} events ({}); {} distinct addresses",
        s.lines,
        mb,
        secs,
        rate,
        events,
        kinds.join(", "),
        s.addrs.len()
    );
    if s.truncated > 0 {
        eprintln!(
            "authban: {} lines longer than 64 KiB were skipped (no sshd line is that long)",
            s.truncated
        );
    }
}

/// Writes events as a table or JSON lines, remembering the first write error.
struct Printer<W: Write> {
    out: W,
    json: bool,
    header: bool,
    time_cache: Option<(LogTime, String)>,
    error: Option<io::Error>,
    scratch: Vec<u8>,
}

impl<W: Write> Printer<W> {
    fn new(out: W, json: bool) -> Printer<W> {
        Printer {
            out,
            json,
            header: false,
            time_cache: None,
            error: None,
            scratch: Vec::with_capacity(256),
        }
    }

    fn time_text(&mut self, time: Option<LogTime>) -> &str {
        match time {
            None => "",
            Some(t) => {
                if self.time_cache.as_ref().is_none_or(|(c, _)| *c != t) {
                    self.time_cache = Some((t, t.to_string()));
                }
                self.time_cache
                    .as_ref()
                    .map(|(_, s)| s.as_str())
                    .unwrap_or("")
            }
        }
    }

    fn event(&mut self, file: &str, line: u64, ev: &Event<'_>) {
        if self.error.is_some() {
            return;
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let time = self.time_text(ev.time).to_owned();
        if self.json {
            write_json(&mut buf, file, line, &time, ev);
        } else {
            if !self.header {
                self.header = true;
                let _ = writeln!(
                    buf,
                    "{:<32} {:<12} {:<39} {:<16} {:<19} WHERE",
                    "TIME", "KIND", "ADDRESS", "USER", "MESSAGE"
                );
            }
            let user = ev.user.map(printable).unwrap_or_else(|| "-".into());
            let time = if time.is_empty() { "-" } else { &time };
            let _ = writeln!(
                buf,
                "{:<32} {:<12} {:<39} {:<16} {:<19} {}:{}",
                time,
                ev.kind.as_str(),
                ev.addr,
                user,
                ev.msg.as_str(),
                file,
                line
            );
        }
        if let Err(e) = self.out.write_all(&buf) {
            self.error = Some(e);
        }
        self.scratch = buf;
    }

    fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()
    }
}

/// A user name for the table: lossy UTF-8 with control characters escaped, so a crafted
/// name cannot move the terminal's cursor or fake columns.
fn printable(user: &[u8]) -> String {
    let text = String::from_utf8_lossy(user);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || c == ' ' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if out.is_empty() { "\"\"".into() } else { out }
}

fn write_json(buf: &mut Vec<u8>, file: &str, line: u64, time: &str, ev: &Event<'_>) {
    buf.extend_from_slice(b"{\"file\":");
    json_str(buf, file);
    let _ = write!(buf, ",\"line\":{line},\"time\":");
    if time.is_empty() {
        buf.extend_from_slice(b"null");
    } else {
        json_str(buf, time);
    }
    let _ = write!(
        buf,
        ",\"kind\":\"{}\",\"addr\":\"{}\",\"user\":",
        ev.kind.as_str(),
        ev.addr
    );
    match ev.user {
        Some(u) => json_str(buf, &String::from_utf8_lossy(u)),
        None => buf.extend_from_slice(b"null"),
    }
    let _ = write!(buf, ",\"msg\":\"{}\",\"method\":", ev.msg.as_str());
    match ev.method {
        Some(m) => {
            let _ = write!(buf, "\"{}\"", m.as_str());
        }
        None => buf.extend_from_slice(b"null"),
    }
    let _ = write!(buf, ",\"port\":");
    match ev.port {
        Some(p) => {
            let _ = write!(buf, "{p}");
        }
        None => buf.extend_from_slice(b"null"),
    }
    let _ = writeln!(buf, ",\"count\":{}}}", ev.count.max(1));
}

fn json_str(buf: &mut Vec<u8>, s: &str) {
    // serde_json's escaping is correct for every char; a Vec<u8> writer cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_characters_and_spaces() {
        assert_eq!(printable(b"adm\x1b[2Jin"), "adm\\u{1b}[2Jin");
        assert_eq!(printable(b"a b"), "a\\ b");
        assert_eq!(printable(b""), "\"\"");
        assert_eq!(printable(b"caf\xc3\xa9"), "café");
    }
}
