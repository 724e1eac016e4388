//! `authban check`: parse logs and print every recognised sshd event; changes nothing.
//!
//! The output is the program's hot loop over millions of lines, so events are written by
//! hand into one buffered writer (no per-event `String`), and the text of a timestamp is
//! reused while consecutive events share it.

use std::collections::HashSet;
use std::io::{self, Write};
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
    /// foldhash instead of SipHash: this set is touched once per event.
    addrs: HashSet<IpAddr, foldhash::fast::RandomState>,
}

pub fn run(_global: &Global, args: CheckArgs) -> u8 {
    let started = Instant::now();
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

/// Writes events as a table or JSON lines into one buffer flushed in large writes,
/// remembering the first write error.
struct Printer<W: Write> {
    out: W,
    buf: Vec<u8>,
    json: bool,
    header: bool,
    /// The text of the last timestamp printed: consecutive lines mostly share it.
    time_cache: Option<(LogTime, Vec<u8>)>,
    /// The JSON string of the current file name, escaped once per file.
    file_json: (String, Vec<u8>),
    error: Option<io::Error>,
}

const FLUSH_AT: usize = 1 << 17;

impl<W: Write> Printer<W> {
    fn new(out: W, json: bool) -> Printer<W> {
        Printer {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            json,
            header: false,
            time_cache: None,
            file_json: (String::new(), Vec::new()),
            error: None,
        }
    }

    fn event(&mut self, file: &str, line: u64, ev: &Event<'_>) {
        if self.error.is_some() {
            return;
        }
        if let Some(t) = ev.time
            && self.time_cache.as_ref().is_none_or(|(c, _)| *c != t)
        {
            self.time_cache = Some((t, t.to_string().into_bytes()));
        }
        let time: &[u8] = match (ev.time, &self.time_cache) {
            (Some(_), Some((_, text))) => text,
            _ => b"",
        };
        let buf = &mut self.buf;
        if self.json {
            if self.file_json.0 != file {
                let mut escaped = Vec::new();
                json_str(&mut escaped, file.as_bytes());
                self.file_json = (file.to_owned(), escaped);
            }
            buf.extend_from_slice(b"{\"file\":");
            buf.extend_from_slice(&self.file_json.1);
            buf.extend_from_slice(b",\"line\":");
            push_u64(buf, line);
            buf.extend_from_slice(b",\"time\":");
            if time.is_empty() {
                buf.extend_from_slice(b"null");
            } else {
                buf.push(b'"');
                buf.extend_from_slice(time);
                buf.push(b'"');
            }
            buf.extend_from_slice(b",\"kind\":\"");
            buf.extend_from_slice(ev.kind.as_str().as_bytes());
            buf.extend_from_slice(b"\",\"addr\":\"");
            push_ip(buf, ev.addr);
            buf.extend_from_slice(b"\",\"user\":");
            match ev.user {
                Some(u) => json_str(buf, u),
                None => buf.extend_from_slice(b"null"),
            }
            buf.extend_from_slice(b",\"msg\":\"");
            buf.extend_from_slice(ev.msg.as_str().as_bytes());
            buf.extend_from_slice(b"\",\"method\":");
            match ev.method {
                Some(m) => {
                    buf.push(b'"');
                    buf.extend_from_slice(m.as_str().as_bytes());
                    buf.push(b'"');
                }
                None => buf.extend_from_slice(b"null"),
            }
            buf.extend_from_slice(b",\"port\":");
            match ev.port {
                Some(p) => push_u64(buf, u64::from(p)),
                None => buf.extend_from_slice(b"null"),
            }
            buf.extend_from_slice(b",\"count\":");
            push_u64(buf, u64::from(ev.count.max(1)));
            buf.extend_from_slice(b"}\n");
        } else {
            if !self.header {
                self.header = true;
                let _ = writeln!(
                    buf,
                    "{:<32} {:<12} {:<39} {:<16} {:<19} WHERE",
                    "TIME", "KIND", "ADDRESS", "USER", "MESSAGE"
                );
            }
            push_padded(buf, if time.is_empty() { b"-" } else { time }, 32);
            push_padded(buf, ev.kind.as_str().as_bytes(), 12);
            let start = buf.len();
            push_ip(buf, ev.addr);
            pad_from(buf, start, 39);
            let start = buf.len();
            match ev.user {
                Some(u) => push_printable(buf, u),
                None => buf.push(b'-'),
            }
            pad_from(buf, start, 16);
            push_padded(buf, ev.msg.as_str().as_bytes(), 19);
            buf.extend_from_slice(file.as_bytes());
            buf.push(b':');
            push_u64(buf, line);
            buf.push(b'\n');
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf();
        }
    }

    fn flush_buf(&mut self) {
        if let Err(e) = self.out.write_all(&self.buf) {
            self.error = Some(e);
        }
        self.buf.clear();
    }

    fn finish(mut self) -> io::Result<()> {
        if self.error.is_none() {
            self.flush_buf();
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()
    }
}

/// Appends `text` and spaces up to `width`, then one separating space.
fn push_padded(buf: &mut Vec<u8>, text: &[u8], width: usize) {
    let start = buf.len();
    buf.extend_from_slice(text);
    pad_from(buf, start, width);
}

fn pad_from(buf: &mut Vec<u8>, start: usize, width: usize) {
    let used = buf.len() - start;
    buf.resize(buf.len() + width.saturating_sub(used) + 1, b' ');
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Writes an address in its canonical text form; IPv4 by hand, as it is most of them and
/// `Display` goes through the formatting machinery.
fn push_ip(buf: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                push_u64(buf, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(buf, "{v6}");
        }
    }
}

/// A user name for the table: lossy UTF-8 with control characters and spaces escaped, so
/// a crafted name cannot move the terminal's cursor or fake columns.
fn push_printable(buf: &mut Vec<u8>, user: &[u8]) {
    if user.is_empty() {
        buf.extend_from_slice(b"\"\"");
        return;
    }
    if user.iter().all(|&b| b.is_ascii_graphic()) {
        buf.extend_from_slice(user);
        return;
    }
    for c in String::from_utf8_lossy(user).chars() {
        if c == ' ' {
            buf.extend_from_slice(b"\\x20");
        } else if c.is_control() {
            let _ = write!(buf, "{}", c.escape_default());
        } else {
            let _ = write!(buf, "{c}");
        }
    }
}

/// A JSON string of lossy UTF-8 `bytes`; printable ASCII (nearly every user name) is
/// copied as is.
fn json_str(buf: &mut Vec<u8>, bytes: &[u8]) {
    if bytes
        .iter()
        .all(|&b| b.is_ascii() && b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
    {
        buf.push(b'"');
        buf.extend_from_slice(bytes);
        buf.push(b'"');
        return;
    }
    // serde_json's escaping is correct for every char; a Vec<u8> writer cannot fail.
    let _ = serde_json::to_writer(&mut *buf, &String::from_utf8_lossy(bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printable(user: &[u8]) -> String {
        let mut buf = Vec::new();
        push_printable(&mut buf, user);
        String::from_utf8(buf).unwrap()
    }

    fn json(bytes: &[u8]) -> String {
        let mut buf = Vec::new();
        json_str(&mut buf, bytes);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn printable_escapes_control_characters_and_spaces() {
        assert_eq!(printable(b"adm\x1b[2Jin"), "adm\\u{1b}[2Jin");
        assert_eq!(printable(b"a b"), "a\\x20b");
        assert_eq!(printable(b""), "\"\"");
        assert_eq!(printable(b"caf\xc3\xa9"), "café");
    }

    #[test]
    fn json_strings_are_escaped_and_lossy() {
        assert_eq!(json(b"root"), "\"root\"");
        assert_eq!(json(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json(b"x\ny\x01"), r#""x\ny\u0001""#);
        assert_eq!(json(b"r\xffoot"), "\"r\u{fffd}oot\"");
        for bytes in [
            &b"plain"[..],
            b"with \"quotes\"",
            b"\x7f\x00",
            b"caf\xc3\xa9",
        ] {
            let back: String = serde_json::from_str(&json(bytes)).unwrap();
            assert_eq!(back, String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn numbers_and_addresses_print_like_display() {
        for n in [0u64, 7, 10, 65535, u64::MAX] {
            let mut buf = Vec::new();
            push_u64(&mut buf, n);
            assert_eq!(String::from_utf8(buf).unwrap(), n.to_string());
        }
        for a in [
            "0.0.0.0",
            "192.0.2.1",
            "255.255.255.255",
            "10.20.0.3",
            "2001:db8::1",
        ] {
            let addr: IpAddr = a.parse().unwrap();
            let mut buf = Vec::new();
            push_ip(&mut buf, addr);
            assert_eq!(String::from_utf8(buf).unwrap(), a);
        }
    }
}
