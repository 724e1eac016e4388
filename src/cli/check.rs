//! `authban check`: parse logs and print every recognised sshd event; changes nothing.
//!
//! The output is the program's hot loop over millions of lines, so events are written by
//! hand into one buffered writer (no per-event `String`). Consecutive events mostly share
//! their address and the second of their timestamp (a connection logs several lines at
//! once), so the text of both is kept and reused, and only a changed fraction of a second is
//! written afresh.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::{Global, exit, local_zone, reference_time};
use crate::event::{Event, Kind, LogTime, Method, Msg};
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
        out.set_file(&name);
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
                summary.saw(ev.addr);
                out.event(line.number, &ev);
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
    // Counted before the clock is read: the count's final sort is part of the work.
    let distinct = summary.distinct_addrs();
    print_summary(&summary, distinct, started.elapsed().as_secs_f64());
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

fn print_summary(s: &Summary, distinct: usize, secs: f64) {
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
        distinct
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
    time: TimeText,
    /// The last line number printed, counted up to the next.
    line: LineText,
    /// The last address printed and its text.
    addr: Option<IpAddr>,
    addr_text: Padded<48>,
    scratch: Vec<u8>,
    /// Per kind: `,"kind":"K","addr":"` for JSON, and the table's column.
    kind_json: [Padded<32>; 4],
    kind_column: [Padded<16>; 4],
    /// Per (msg, method), made when first needed: `,"msg":"M","method":"X","port":` for
    /// JSON, and the table's message column. See [`Printer::tail`].
    tails: Vec<Option<Padded<80>>>,
    /// `{"file":"F","line":` for JSON or `F:` for the table, made once per file.
    file_head: Padded<64>,
    error: Option<io::Error>,
}

const FLUSH_AT: usize = 1 << 17;

/// Slots per message in `Printer::tails`: no method, then each method.
const TAIL_STRIDE: usize = 16;

impl<W: Write> Printer<W> {
    fn new(out: W, json: bool) -> Printer<W> {
        Printer {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            json,
            header: false,
            time: TimeText::default(),
            line: LineText::default(),
            addr: None,
            addr_text: Padded::default(),
            scratch: Vec::with_capacity(64),
            kind_json: Kind::ALL.map(|k| {
                Padded::from(format!(",\"kind\":\"{}\",\"addr\":\"", k.as_str()).as_bytes())
            }),
            kind_column: Kind::ALL.map(|k| Padded::from(k.as_str().as_bytes())),
            tails: Vec::new(),
            file_head: Padded::default(),
            error: None,
        }
    }

    /// Makes the text that starts each event of `file`.
    fn set_file(&mut self, file: &str) {
        let mut head = Vec::new();
        if self.json {
            head.extend_from_slice(b"{\"file\":");
            json_str(&mut head, file.as_bytes());
            head.extend_from_slice(b",\"line\":");
        } else {
            head.extend_from_slice(file.as_bytes());
            head.push(b':');
        }
        self.file_head.set(&head);
    }

    /// The cached text for `msg` and `method`: `,"msg":"M","method":"X","port":` for JSON,
    /// the message padded to its column for the table (which shows no method).
    fn tail_key(&mut self, msg: Msg, method: Option<Method>) -> usize {
        let m = match method {
            Some(m) => m as usize + 1,
            None => 0,
        };
        let key = if self.json {
            (msg as usize) * TAIL_STRIDE + m
        } else {
            msg as usize
        };
        // A method beyond the stride (a variant added to `Method`) gets the last slot of its
        // message's row rebuilt whenever it is used: correct, just slower.
        let key = if m >= TAIL_STRIDE {
            (msg as usize) * TAIL_STRIDE + TAIL_STRIDE - 1
        } else {
            key
        };
        if self.tails.len() <= key {
            self.tails.resize_with(key + 1, || None);
        }
        if m >= TAIL_STRIDE - 1 || self.tails[key].is_none() {
            let mut text = Vec::new();
            if self.json {
                text.extend_from_slice(b",\"msg\":\"");
                text.extend_from_slice(msg.as_str().as_bytes());
                text.extend_from_slice(b"\",\"method\":");
                match method {
                    Some(m) => {
                        text.push(b'"');
                        text.extend_from_slice(m.as_str().as_bytes());
                        text.push(b'"');
                    }
                    None => text.extend_from_slice(b"null"),
                }
                text.extend_from_slice(b",\"port\":");
            } else {
                push_padded(&mut text, msg.as_str().as_bytes(), 19);
            }
            self.tails[key] = Some(Padded::from(&text[..]));
        }
        key
    }

    fn event(&mut self, line: u64, ev: &Event<'_>) {
        if self.error.is_some() {
            return;
        }
        if let Some(t) = ev.time {
            self.time.update(t);
        }
        if self.addr != Some(ev.addr) {
            self.addr = Some(ev.addr);
            self.scratch.clear();
            push_ip(&mut self.scratch, ev.addr);
            self.addr_text.set(&self.scratch);
        }
        let tail_key = self.tail_key(ev.msg, ev.method);
        let tail = self.tails[tail_key].as_ref().expect("made by tail_key");
        let buf = &mut self.buf;
        if self.json {
            self.file_head.put(buf);
            self.line.update(line);
            self.line.text.put(buf);
            if ev.time.is_some() {
                buf.extend_from_slice(b",\"time\":\"");
                self.time.out.put(buf);
                buf.push(b'"');
            } else {
                buf.extend_from_slice(b",\"time\":null");
            }
            self.kind_json[ev.kind.index()].put(buf);
            self.addr_text.put(buf);
            buf.extend_from_slice(b"\",\"user\":");
            match ev.user {
                Some(u) => json_str(buf, u),
                None => buf.extend_from_slice(b"null"),
            }
            tail.put(buf);
            match ev.port {
                Some(p) => put_u64(buf, u64::from(p)),
                None => buf.extend_from_slice(b"null"),
            }
            match ev.count {
                0 | 1 => buf.extend_from_slice(b",\"count\":1}\n"),
                n => {
                    buf.extend_from_slice(b",\"count\":");
                    put_u64(buf, u64::from(n));
                    buf.extend_from_slice(b"}\n");
                }
            }
        } else {
            if !self.header {
                self.header = true;
                let _ = writeln!(
                    buf,
                    "{:<32} {:<12} {:<39} {:<16} {:<19} WHERE",
                    "TIME", "KIND", "ADDRESS", "USER", "MESSAGE"
                );
            }
            if ev.time.is_some() {
                self.time.out.put_column::<32>(buf);
            } else {
                push_padded(buf, b"-", 32);
            }
            self.kind_column[ev.kind.index()].put_column::<12>(buf);
            self.addr_text.put_column::<39>(buf);
            let start = buf.len();
            match ev.user {
                Some(u) => push_printable(buf, u),
                None => buf.push(b'-'),
            }
            // The padding as a copy of a known size, cut to length (see `Padded`).
            let keep = (buf.len() - start).max(16) + 1;
            buf.extend_from_slice(&[b' '; 17]);
            buf.truncate(start + keep);
            tail.put(buf);
            self.file_head.put(buf);
            self.line.update(line);
            self.line.text.put(buf);
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

/// A short text kept at the start of a fixed array of spaces, so that appending it is a copy
/// of a known size (a few vector moves) and a truncation, where a copy of a variable length
/// calls `memmove`; the spaces after it pad a table column for free. A text longer than the
/// array is kept aside and copied the ordinary way.
struct Padded<const N: usize> {
    bytes: [u8; N],
    len: usize,
    long: Vec<u8>,
}

impl<const N: usize> Default for Padded<N> {
    fn default() -> Self {
        Padded {
            bytes: [b' '; N],
            len: 0,
            long: Vec::new(),
        }
    }
}

impl<const N: usize> From<&[u8]> for Padded<N> {
    fn from(text: &[u8]) -> Self {
        let mut p = Padded::default();
        p.set(text);
        p
    }
}

impl<const N: usize> Padded<N> {
    fn set(&mut self, text: &[u8]) {
        self.bytes = [b' '; N];
        self.len = text.len();
        if text.len() <= N {
            self.bytes[..text.len()].copy_from_slice(text);
        } else {
            self.long = text.to_vec();
        }
    }

    /// Sets the text to `padded[..len]`, where `padded` holds spaces after the text.
    #[inline]
    fn set_padded<const M: usize>(&mut self, padded: &[u8; M], len: usize) {
        self.len = len;
        if len <= N && N <= M {
            self.bytes.copy_from_slice(&padded[..N]);
        } else {
            self.set(&padded[..len]);
        }
    }

    fn text(&self) -> &[u8] {
        if self.len <= N {
            &self.bytes[..self.len]
        } else {
            &self.long
        }
    }

    /// Appends the text.
    #[inline]
    fn put(&self, buf: &mut Vec<u8>) {
        if self.len <= N {
            let start = buf.len();
            buf.extend_from_slice(&self.bytes);
            buf.truncate(start + self.len);
        } else {
            buf.extend_from_slice(&self.long);
        }
    }

    /// Appends the text padded to `W` and one space, as [`push_padded`].
    #[inline]
    fn put_column<const W: usize>(&self, buf: &mut Vec<u8>) {
        let keep = self.len.max(W) + 1;
        if keep <= N {
            let start = buf.len();
            buf.extend_from_slice(&self.bytes);
            buf.truncate(start + keep);
        } else {
            push_padded(buf, self.text(), W);
        }
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

/// "00" to "99": two digits per division instead of one.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// As [`push_u64`], with a copy of a known size (see [`Padded`]). Numbers below 10^8 (line
/// numbers, ports, counts) are built in a register, the first digit in the lowest byte: digits
/// stored one by one in memory and read back as a block would stall the store forwarding.
#[inline]
fn put_u64(buf: &mut Vec<u8>, n: u64) {
    if n >= 100_000_000 {
        push_u64(buf, n);
        return;
    }
    // Two digits per division; each step shifts the digits so far up and puts the next more
    // significant ones in the lowest bytes.
    let mut v: u64 = 0;
    let mut m = n;
    let mut len = 0;
    while m >= 100 {
        let pair = (m % 100) as usize * 2;
        m /= 100;
        v = (v << 16) | u64::from(u16::from_le_bytes([PAIRS[pair], PAIRS[pair + 1]]));
        len += 2;
    }
    if m >= 10 {
        let pair = m as usize * 2;
        v = (v << 16) | u64::from(u16::from_le_bytes([PAIRS[pair], PAIRS[pair + 1]]));
        len += 2;
    } else {
        v = (v << 8) | (u64::from(b'0') + m);
        len += 1;
    }
    let start = buf.len();
    buf.extend_from_slice(&v.to_le_bytes());
    buf.truncate(start + len);
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Writes an address in its canonical text form, as `Display` does (RFC 5952), by hand:
/// `Display` goes through the formatting machinery.
fn push_ip(buf: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => push_v4(buf, v4),
        IpAddr::V6(v6) => push_v6(buf, v6),
    }
}

/// Per octet value: its digits, then dots to four bytes.
const OCTETS: [[u8; 4]; 256] = octet_texts();

const fn octet_texts() -> [[u8; 4]; 256] {
    let mut t = [[b'.'; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let (a, b, c) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        t[i] = if i >= 100 {
            [b'0' + a, b'0' + b, b'0' + c, b'.']
        } else if i >= 10 {
            [b'0' + b, b'0' + c, b'.', b'.']
        } else {
            [b'0' + c, b'.', b'.', b'.']
        };
        i += 1;
    }
    t
}

/// Each octet as a four-byte copy from [`OCTETS`], advanced by its length and the dot.
fn push_v4(buf: &mut Vec<u8>, v4: Ipv4Addr) {
    let mut text = [0u8; 16];
    let mut at = 0;
    for o in v4.octets() {
        text[at..at + 4].copy_from_slice(&OCTETS[usize::from(o)]);
        at += 2 + usize::from(o >= 10) + usize::from(o >= 100);
    }
    buf.extend_from_slice(&text[..at - 1]);
}

/// As std's `Display`: an IPv4-mapped address as `::ffff:a.b.c.d`; otherwise lowercase hex
/// groups with the first longest run of two or more zero groups written `::`.
fn push_v6(buf: &mut Vec<u8>, v6: Ipv6Addr) {
    if let Some(v4) = v6.to_ipv4_mapped() {
        buf.extend_from_slice(b"::ffff:");
        push_v4(buf, v4);
        return;
    }
    let groups = v6.segments();
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                best = run;
                best_len = run_len;
            }
        } else {
            run_len = 0;
        }
    }
    if best_len > 1 {
        push_groups(buf, &groups[..best]);
        buf.extend_from_slice(b"::");
        push_groups(buf, &groups[best + best_len..]);
    } else {
        push_groups(buf, &groups);
    }
}

fn push_groups(buf: &mut Vec<u8>, groups: &[u16]) {
    for (i, &g) in groups.iter().enumerate() {
        if i > 0 {
            buf.push(b':');
        }
        let digits = (16 - g.leading_zeros() as usize).div_ceil(4).max(1);
        for k in (0..digits).rev() {
            buf.push(b"0123456789abcdef"[usize::from(g >> (4 * k)) & 15]);
        }
    }
}

/// The text of the last timestamp printed, built from jiff's text of its whole second (kept
/// while the second and offset stay the same) with the fraction written by hand, exactly as
/// jiff writes it: nine digits less their trailing zeros, none when zero. The parts are kept
/// in space-padded arrays and put together by copies of known sizes.
struct TimeText {
    last: Option<LogTime>,
    /// The text of `last`.
    out: Padded<48>,
    /// The whole second and offset that `head` and `offset` spell.
    second: Option<(i64, jiff::tz::Offset)>,
    /// jiff's text of the whole second up to the offset, and the offset, space padded;
    /// `split_ok` is false if jiff's text has a shape we do not know (or too long a part),
    /// and then every instant of that second is formatted by jiff.
    head: [u8; 32],
    head_len: usize,
    offset: [u8; 16],
    offset_len: usize,
    split_ok: bool,
}

impl Default for TimeText {
    fn default() -> Self {
        TimeText {
            last: None,
            out: Padded::default(),
            second: None,
            head: [b' '; 32],
            head_len: 0,
            offset: [b' '; 16],
            offset_len: 0,
            split_ok: false,
        }
    }
}

impl TimeText {
    #[cfg(test)]
    fn text(&mut self, t: LogTime) -> &[u8] {
        self.update(t);
        self.out.text()
    }

    /// Makes `out` the text of `t`.
    #[inline]
    fn update(&mut self, t: LogTime) {
        if self.last != Some(t) {
            self.last = Some(t);
            self.format(t);
        }
    }

    fn format(&mut self, t: LogTime) {
        let secs = t.instant.as_second();
        let nanos = t.instant.subsec_nanosecond();
        // Before 1970 the fraction is negative and borrows from the second: leave it to jiff.
        if nanos < 0 {
            self.out.set(t.to_string().as_bytes());
            return;
        }
        let key = (secs, t.offset);
        if self.second != Some(key) {
            self.second = Some(key);
            self.split_ok = false;
            if let Ok(instant) = jiff::Timestamp::new(secs, 0) {
                let whole = LogTime {
                    instant,
                    offset: t.offset,
                }
                .to_string();
                let whole = whole.as_bytes();
                if let Some(split) = offset_start(whole) {
                    let (head, offset) = whole.split_at(split);
                    if head.len() <= self.head.len() && offset.len() <= self.offset.len() {
                        self.head = [b' '; 32];
                        self.head[..head.len()].copy_from_slice(head);
                        self.head_len = head.len();
                        self.offset = [b' '; 16];
                        self.offset[..offset.len()].copy_from_slice(offset);
                        self.offset_len = offset.len();
                        self.split_ok = true;
                    }
                }
            }
        }
        if !self.split_ok {
            self.out.set(t.to_string().as_bytes());
            return;
        }
        // Each copy is of a whole array; the next one overwrites what the last left past its
        // text (the offset's 16 bytes cover the fraction's trimmed zeros).
        let mut text = [b' '; 64];
        text[..32].copy_from_slice(&self.head);
        let mut at = self.head_len;
        if nanos > 0 {
            let (digits, len) = fraction_text(nanos as u32);
            text[at..at + 10].copy_from_slice(&digits);
            at += len;
        }
        text[at..at + 16].copy_from_slice(&self.offset);
        at += self.offset_len;
        self.out.set_padded(&text, at);
    }
}

/// The decimal text of the last line number printed. Events come from lines a few apart,
/// so the next number is nearly always the last plus a one-digit step: adding it to the
/// last digit, with a carry now and then, costs less than converting the number afresh.
#[derive(Default)]
struct LineText {
    n: u64,
    text: Padded<24>,
}

impl LineText {
    #[inline]
    fn update(&mut self, n: u64) {
        let step = n.wrapping_sub(self.n);
        if step == 0 && self.text.len > 0 {
            return;
        }
        if step < 10 && self.text.len > 0 && self.add_small(step as u8) {
            self.n = n;
            return;
        }
        self.n = n;
        let mut digits = Vec::with_capacity(24);
        push_u64(&mut digits, n);
        self.text.set(&digits);
    }

    /// Adds `step` (below 10) to the text in place; false when the number gains a digit,
    /// which the caller then writes afresh.
    #[inline]
    fn add_small(&mut self, step: u8) -> bool {
        let digits = &mut self.text.bytes[..self.text.len];
        let mut carry = step;
        for d in digits.iter_mut().rev() {
            let v = *d - b'0' + carry;
            if v < 10 {
                *d = b'0' + v;
                return true;
            }
            *d = b'0' + v - 10;
            carry = 1;
        }
        false
    }
}

/// `.` and the nine digits of `nanos` (1 to 999,999,999) less their trailing zeros, two
/// digits at a time; the length kept.
#[inline]
fn fraction_text(nanos: u32) -> ([u8; 10], usize) {
    let mut d = [b'.'; 10];
    d[1] = b'0' + (nanos / 100_000_000) as u8;
    let rest = nanos % 100_000_000;
    let (hi, lo) = (rest / 10_000, rest % 10_000);
    for (i, pair) in [hi / 100, hi % 100, lo / 100, lo % 100]
        .into_iter()
        .enumerate()
    {
        let p = pair as usize * 2;
        d[2 + 2 * i..4 + 2 * i].copy_from_slice(&PAIRS[p..p + 2]);
    }
    // Trailing zeros of the last eight digits: `'0'` bytes at the top of the little-endian
    // word. All eight zero leaves the first digit, which is then not zero.
    let low = u64::from_le_bytes(d[2..10].try_into().expect("eight bytes"))
        ^ u64::from_le_bytes([b'0'; 8]);
    let zeros = if low == 0 {
        8
    } else {
        (low.leading_zeros() / 8) as usize
    };
    (d, 10 - zeros)
}

/// In jiff's `…THH:MM:SS±HH:MM[:SS]`, where the offset starts: the last sign after the `T`,
/// provided two digits of seconds precede it.
fn offset_start(text: &[u8]) -> Option<usize> {
    let t = memchr::memchr(b'T', text)?;
    let sign = t + text[t..].iter().rposition(|&c| c == b'+' || c == b'-')?;
    let ok = sign >= t + 9
        && text[sign - 3] == b':'
        && text[sign - 2].is_ascii_digit()
        && text[sign - 1].is_ascii_digit();
    ok.then_some(sign)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each zero byte of `w` (exact as "is any byte zero", which is all it is
/// used for).
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// Nonzero if some byte of `w` is below `n` (`n` at most 0x80); exact when no byte has its
/// high bit set, which the callers test as well.
#[inline]
fn bytes_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// Whether `bad` finds nothing in `bytes`, read eight at a time; the last short word is
/// padded with `a`, which no test here refuses.
#[inline]
fn no_bad_words(bytes: &[u8], bad: impl Fn(u64) -> u64) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut acc = 0;
    for c in &mut chunks {
        acc |= bad(u64::from_le_bytes(c.try_into().expect("eight bytes")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = ONES * u64::from(b'a');
        for &b in rest.iter().rev() {
            w = (w << 8) | u64::from(b);
        }
        acc |= bad(w);
    }
    acc == 0
}

/// Every byte printable ASCII other than `"` and `\`: a JSON string as it is.
#[inline]
fn json_plain(bytes: &[u8]) -> bool {
    no_bad_words(bytes, |w| {
        (w & HIGHS)
            | bytes_below(w, 0x20)
            | zero_bytes(w ^ (ONES * 0x7f))
            | zero_bytes(w ^ (ONES * u64::from(b'"')))
            | zero_bytes(w ^ (ONES * u64::from(b'\\')))
    })
}

/// Every byte `is_ascii_graphic` (0x21 to 0x7e).
#[inline]
fn all_graphic(bytes: &[u8]) -> bool {
    no_bad_words(bytes, |w| {
        (w & HIGHS) | bytes_below(w, 0x21) | zero_bytes(w ^ (ONES * 0x7f))
    })
}

/// A user name for the table: lossy UTF-8 with control characters and spaces escaped, so
/// a crafted name cannot move the terminal's cursor or fake columns.
fn push_printable(buf: &mut Vec<u8>, user: &[u8]) {
    if user.is_empty() {
        buf.extend_from_slice(b"\"\"");
        return;
    }
    if all_graphic(user) {
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
    if json_plain(bytes) {
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

    fn log_time(secs: i64, nanos: i32, offset: i32) -> LogTime {
        LogTime {
            instant: jiff::Timestamp::new(secs, nanos).unwrap(),
            offset: jiff::tz::Offset::from_seconds(offset).unwrap(),
        }
    }

    #[test]
    fn time_text_is_jiffs() {
        let mut tt = TimeText::default();
        for (secs, nanos, offset) in [
            (1_795_519_808, 0, 0),
            (1_795_519_808, 529_000_000, 0),
            (1_795_519_808, 529_000_000, 3600),
            (1_795_519_808, 1, -16_200),
            (1_795_519_808, 999_999_999, 0),
            (1_795_519_809, 100, 0),
            (0, 0, 0),
            (-1, 500_000_000, 0),
            (-1, 0, 0),
            (-62_000_000_000, 5, 0),
            (1_795_519_808, 5, 3 * 3600 + 7 * 60 + 9),
            (253_402_200_000, 123_000, 0),
        ] {
            let t = log_time(secs, nanos, offset);
            assert_eq!(
                String::from_utf8(tt.text(t).to_vec()).unwrap(),
                t.to_string(),
                "{secs} {nanos} {offset}"
            );
        }
    }

    proptest::proptest! {
        // Runs of instants in the same and in other seconds, with any fraction and offset.
        #[test]
        fn time_text_agrees_with_display(
            times in proptest::collection::vec(
                (-100_000_000_000i64..200_000_000_000, 0i32..1_000_000_000, -93_599i32..93_600, 0usize..3),
                1..20,
            )
        ) {
            let mut tt = TimeText::default();
            let mut prev: Option<(i64, i32)> = None;
            for (secs, nanos, offset, reuse) in times {
                // Sometimes stay in the previous second and offset.
                let (secs, offset) = match (reuse, prev) {
                    (0, Some(p)) => p,
                    _ => (secs, offset),
                };
                prev = Some((secs, offset));
                let nanos = match reuse { 1 => nanos / 1_000_000 * 1_000_000, _ => nanos };
                let t = log_time(secs, nanos, offset);
                proptest::prop_assert_eq!(String::from_utf8(tt.text(t).to_vec()).unwrap(), t.to_string());
            }
        }
    }

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

    fn byte() -> impl proptest::strategy::Strategy<Value = u8> {
        proptest::prop_oneof![
            proptest::num::u8::ANY,
            proptest::sample::select(vec![
                0u8, 0x1f, 0x20, 0x21, b'"', b'\\', b'a', 0x7e, 0x7f, 0x80, 0xc3, 0xff
            ]),
        ]
    }

    proptest::proptest! {
        // The word-at-a-time tests agree with the byte tests.
        #[test]
        fn word_tests_agree_with_byte_tests(bytes in proptest::collection::vec(byte(), 0..40)) {
            proptest::prop_assert_eq!(
                json_plain(&bytes),
                bytes.iter().all(|&b| b.is_ascii() && b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
            );
            proptest::prop_assert_eq!(all_graphic(&bytes), bytes.iter().all(u8::is_ascii_graphic));
        }

        // IPv6 text as std's, with runs of zero groups of every length and mapped IPv4.
        #[test]
        fn ipv6_text_is_displays(
            groups in proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(0u16), proptest::strategy::Just(1u16), proptest::num::u16::ANY],
                8,
            ),
            mapped in proptest::bool::ANY,
        ) {
            let mut g: [u16; 8] = groups.try_into().unwrap();
            if mapped {
                g[..5].fill(0);
                g[5] = 0xffff;
            }
            let v6 = Ipv6Addr::from(g);
            let mut buf = Vec::new();
            push_ip(&mut buf, IpAddr::V6(v6));
            proptest::prop_assert_eq!(String::from_utf8(buf).unwrap(), v6.to_string());
        }
    }

    #[test]
    fn every_octet_prints_like_display() {
        for o in 0..=255u8 {
            for v4 in [
                Ipv4Addr::new(o, o, o, o),
                Ipv4Addr::new(1, o, 100, o),
                Ipv4Addr::new(o, 9, o, 255),
            ] {
                let mut buf = Vec::new();
                push_ip(&mut buf, IpAddr::V4(v4));
                assert_eq!(String::from_utf8(buf).unwrap(), v4.to_string());
            }
        }
        for a in [
            "::",
            "::1",
            "1::",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "1:0:0:1:0:0:0:1",
            "1:0:0:1:0:0:1:1",
            "0:1::",
        ] {
            let v6: Ipv6Addr = a.parse().unwrap();
            let mut buf = Vec::new();
            push_ip(&mut buf, IpAddr::V6(v6));
            assert_eq!(String::from_utf8(buf).unwrap(), v6.to_string());
        }
    }

    #[test]
    fn line_numbers_count_up_like_display() {
        let mut lt = LineText::default();
        let mut n = 0u64;
        for step in [
            1, 1, 7, 9, 1, 0, 3, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 80, 1, 999, 9, 1,
        ]
        .into_iter()
        .cycle()
        .take(2000)
        {
            n += step;
            lt.update(n);
            assert_eq!(lt.text.text(), n.to_string().as_bytes(), "{n}");
        }
        for n in [5, 3, 99, 100, 9_999_999_999, 10_000_000_005, 1] {
            lt.update(n);
            assert_eq!(lt.text.text(), n.to_string().as_bytes(), "{n}");
        }
    }

    #[test]
    fn numbers_and_addresses_print_like_display() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            12_345,
            123_456,
            1_000_000,
            99_999_999,
            100_000_000,
            u64::MAX,
        ] {
            let mut buf = b"x".to_vec();
            push_u64(&mut buf, n);
            assert_eq!(String::from_utf8(buf).unwrap(), format!("x{n}"));
            let mut buf = b"x".to_vec();
            put_u64(&mut buf, n);
            assert_eq!(String::from_utf8(buf).unwrap(), format!("x{n}"));
        }
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
