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
///
/// The buffer has a fixed length and is written at the index `at` through a [`Cursor`]:
/// once per event the printer makes sure the largest size of every piece fits (flushing
/// first, growing for a huge user name), and then each piece is a copy of a known size
/// with no capacity check and no length to keep. Appending to a `Vec` piece by piece cost
/// more than the copies: a capacity check and a length store per piece, and its pointer and
/// length read again after every byte store (a byte store may alias anything).
struct Printer<W: Write> {
    out: W,
    /// The output up to `at`; its length is fixed but for growth (see [`Printer::make_room`]).
    buf: Vec<u8>,
    at: usize,
    json: bool,
    header: bool,
    /// The text of the last timestamp printed: consecutive lines mostly share it.
    time: TimeText,
    /// For JSON, `,"time":"T"` of that timestamp: one piece instead of three.
    time_json: Padded<64>,
    /// The last address printed (0.0.0.0 before the first, so that there is no `None` to
    /// test) and its text, for JSON followed by `","user":"` (see [`Printer::set_addr`]).
    /// Both take at most 49 bytes, so the room of the piece never changes.
    addr: IpAddr,
    addr_text: Padded<64>,
    /// A user name with bytes to escape, escaped (see [`UserText`]).
    escaped: Vec<u8>,
    /// Per kind: `,"kind":"K","addr":"` for JSON, and the table's column.
    kind_json: [Padded<32>; 4],
    kind_column: [Padded<16>; 4],
    /// Per (msg, method), made when first needed (empty until then: no tail is):
    /// `","msg":"M","method":"X","port":` for JSON, starting with the quote that ends the
    /// user name, and the table's message column. See [`Printer::tail_key`].
    tails: Vec<Padded<80>>,
    /// The largest [`Padded::room`] of the tails made so far.
    tail_room: usize,
    /// `{"file":"F","line":` for JSON or `F:` for the table, made once per file.
    file_head: Padded<64>,
    /// The last line number and its digits, to step from.
    line: LineNumber,
    /// The last port printed (`u32::MAX` at first) and its text, as [`short_decimal`]:
    /// about half the ports are the one before (a connection's lines).
    port: u32,
    port_text: (u64, usize),
    /// The room of the two time pieces when `room` was last computed: the time changes on
    /// nearly every line of some logs, its room (but for a long text) never.
    time_room: usize,
    /// The room an event needs besides its user name: [`EVENT_ROOM`] and the room of each
    /// piece of variable length, kept up to date as they change.
    room: usize,
    error: Option<io::Error>,
}

/// The buffer's length: events are written until the next one might not fit, then the
/// buffer is flushed in one write.
const BUF_LEN: usize = 1 << 17;

/// The bytes an event may take besides its pieces kept in [`Padded`] texts (file head,
/// time, address, message tail) and its user name: the literal pieces, a line number, port
/// and count of at most 24 bytes each (see [`Cursor::number`]), the table's padding after
/// the user name (17), its kind column (16) and time placeholder (33); either format stays
/// below 200.
const EVENT_ROOM: usize = 256;

/// Slots per message in `Printer::tails`: no method, then each method.
const TAIL_STRIDE: usize = 16;

/// How an event's user name is written.
enum UserText<'a> {
    None,
    /// Bytes copied as they are (JSON adds the quotes).
    Plain(&'a [u8]),
    /// The finished text in `Printer::escaped` (JSON with its quotes).
    Escaped,
}

impl<W: Write> Printer<W> {
    fn new(out: W, json: bool) -> Printer<W> {
        Self::with_len(out, json, BUF_LEN)
    }

    /// A printer whose buffer starts `len` long (tests use a short one to flush and grow
    /// often).
    fn with_len(out: W, json: bool, len: usize) -> Printer<W> {
        let mut p = Printer {
            out,
            buf: vec![0; len],
            at: 0,
            json,
            header: false,
            time: TimeText::default(),
            time_json: Padded::default(),
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            addr_text: Padded::default(),
            escaped: Vec::new(),
            kind_json: Kind::ALL.map(|k| {
                Padded::from(format!(",\"kind\":\"{}\",\"addr\":\"", k.as_str()).as_bytes())
            }),
            kind_column: Kind::ALL.map(|k| Padded::from(k.as_str().as_bytes())),
            tails: Vec::new(),
            tail_room: 0,
            file_head: Padded::default(),
            line: LineNumber::default(),
            port: u32::MAX,
            port_text: (0, 0),
            time_room: 0,
            room: 0,
            error: None,
        };
        p.set_addr(p.addr);
        p.refresh_room();
        p
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
        self.refresh_room();
    }

    /// Recomputes `room` after a piece of variable length changed.
    fn refresh_room(&mut self) {
        self.time_room = self.time.out.room() + self.time_json.room();
        self.room = EVENT_ROOM
            + self.file_head.room()
            + self.time_room
            + self.addr_text.room()
            + self.tail_room
            + self.kind_json.iter().map(Padded::room).max().unwrap_or(0);
    }

    /// The index in `tails` of the text for `msg` and `method`, made when first needed. The
    /// table's text has no method, but it is kept per method too: one index for both
    /// formats, and an empty slot is the only test.
    #[inline]
    fn tail_key(&mut self, msg: Msg, method: Option<Method>) -> usize {
        let m = method.map_or(0, |m| m as usize + 1);
        // A method beyond the stride (a variant added to `Method`) gets the last slot of its
        // message's row rebuilt whenever it is used: correct, just slower.
        let key = (msg as usize) * TAIL_STRIDE + m.min(TAIL_STRIDE - 1);
        if m >= TAIL_STRIDE - 1 || self.tails.get(key).is_none_or(|t| t.len == 0) {
            self.make_tail(key, msg, method);
        }
        key
    }

    /// Makes `tails[key]`, the text for `msg` and `method`: `","msg":"M","method":"X","port":`
    /// for JSON, the message padded to its column for the table (which shows no method).
    #[cold]
    fn make_tail(&mut self, key: usize, msg: Msg, method: Option<Method>) {
        let mut text = Vec::new();
        if self.json {
            text.extend_from_slice(b"\",\"msg\":\"");
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
        if self.tails.len() <= key {
            self.tails.resize_with(key + 1, Padded::default);
        }
        let tail = Padded::from(&text[..]);
        if tail.room() > self.tail_room {
            self.tail_room = tail.room();
            self.refresh_room();
        }
        self.tails[key] = tail;
    }

    /// Sorts the user name into copied as is or escaped (into `escaped`), as JSON or for
    /// the table; the length it takes.
    #[inline]
    fn user_text<'a>(&mut self, user: Option<&'a [u8]>) -> (UserText<'a>, usize) {
        let Some(u) = user else {
            return (UserText::None, 0);
        };
        let plain = if self.json {
            json_plain(u)
        } else {
            !u.is_empty() && all_graphic(u)
        };
        if plain {
            return (UserText::Plain(u), u.len());
        }
        self.escaped.clear();
        if self.json {
            json_str(&mut self.escaped, u);
        } else {
            push_printable(&mut self.escaped, u);
        }
        (UserText::Escaped, self.escaped.len())
    }

    fn event(&mut self, line: u64, ev: &Event<'_>) {
        if self.error.is_some() {
            return;
        }
        if let Some(t) = ev.time
            && self.time.update(t)
        {
            if self.json {
                self.set_time_json();
            }
            if self.time.out.room() + self.time_json.room() != self.time_room {
                self.refresh_room();
            }
        }
        if self.addr != ev.addr {
            self.set_addr(ev.addr);
        }
        let tail_key = self.tail_key(ev.msg, ev.method);
        let (user, user_len) = self.user_text(ev.user);
        if !self.json && !self.header {
            self.header = true;
            self.write_header();
        }
        let need = self.room + user_len;
        if self.buf.len() - self.at < need {
            self.make_room(need);
        }
        let tail = &self.tails[tail_key];
        let mut w = Cursor::new(&mut self.buf, self.at);
        if self.json {
            self.file_head.put(&mut w);
            self.line.put(&mut w, line);
            if ev.time.is_some() {
                self.time_json.put(&mut w);
            } else {
                w.lit(b",\"time\":null");
            }
            self.kind_json[ev.kind.index()].put(&mut w);
            // The address piece ends with the user name's opening quote and the tail starts
            // with its closing one: a plain name is written between them.
            self.addr_text.put(&mut w);
            match user {
                UserText::Plain(u) => {
                    w.bytes(u);
                    tail.put(&mut w);
                }
                UserText::Escaped => {
                    // Quoted already: over the opening quote, and the tail over the closing.
                    w.set_pos(w.pos() - 1);
                    w.bytes(&self.escaped);
                    w.set_pos(w.pos() - 1);
                    tail.put(&mut w);
                }
                UserText::None => {
                    // `null` over the opening quote: `nul` skipped, the tail written from
                    // there, and its quote made the `l`.
                    let quote = w.pos() - 1;
                    w.set_pos(quote + 3);
                    tail.put(&mut w);
                    w.put_at(quote, b"null");
                }
            }
            match ev.port {
                Some(p) => {
                    if u32::from(p) != self.port {
                        self.port = u32::from(p);
                        self.port_text = short_decimal(u32::from(p));
                    }
                    w.put(&self.port_text.0.to_le_bytes(), self.port_text.1);
                }
                None => w.lit(b"null"),
            }
            match ev.count {
                0 | 1 => w.lit(b",\"count\":1}\n"),
                n => {
                    w.lit(b",\"count\":");
                    w.number(u64::from(n));
                    w.lit(b"}\n");
                }
            }
        } else {
            if ev.time.is_some() {
                self.time.out.put_column::<32>(&mut w);
            } else {
                // `-` padded to the column and its separating space.
                let mut dash = [b' '; 33];
                dash[0] = b'-';
                w.lit(&dash);
            }
            self.kind_column[ev.kind.index()].put_column::<12>(&mut w);
            self.addr_text.put_column::<39>(&mut w);
            let start = w.pos();
            match user {
                UserText::Plain(u) => w.bytes(u),
                UserText::Escaped => w.bytes(&self.escaped),
                UserText::None => w.lit(b"-"),
            }
            // Spaces after the name, then the position moved to the column's end (see
            // `Padded::put_column`).
            let len = w.pos() - start;
            w.put(&[b' '; 17], 0);
            w.set_pos(start + len.max(16) + 1);
            tail.put(&mut w);
            self.file_head.put(&mut w);
            self.line.put(&mut w, line);
            w.lit(b"\n");
        }
        self.at = w.pos();
    }

    /// Makes `addr` the last address and `addr_text` its text, for JSON followed by
    /// `","user":"`, in place: no `Vec`, no call to copy, and no room to recompute (about a
    /// third of the events change the address).
    #[inline]
    fn set_addr(&mut self, addr: IpAddr) {
        const JSON_END: [u8; 16] = *b"\",\"user\":\"      ";
        self.addr = addr;
        let text = &mut self.addr_text.bytes;
        // Spaces for the table's column; the last text may have been longer.
        *text = [b' '; 64];
        let len = ip_text(addr, text);
        // What the text writer left after it (a dot at most), covered by the end.
        let end = if self.json { JSON_END } else { [b' '; 16] };
        text[len..len + 16].copy_from_slice(&end);
        self.addr_text.len = len + if self.json { 10 } else { 0 };
    }

    /// Makes `time_json` from the text of the time. In a log with fractional seconds (RFC
    /// 3339 as rsyslog writes it) the time changes on nearly every line, so this is built in
    /// an array, without an allocation.
    fn set_time_json(&mut self) {
        const HEAD: &[u8; 9] = b",\"time\":\"";
        let out = &self.time.out;
        if out.len > out.bytes.len() {
            self.time_json.set(&[HEAD, out.text(), b"\""].concat());
            return;
        }
        // The text's whole padded array is copied after the head (a copy of known size), and
        // the quote put after the text.
        let mut piece = [b' '; 64];
        piece[..HEAD.len()].copy_from_slice(HEAD);
        piece[HEAD.len()..HEAD.len() + 48].copy_from_slice(&out.bytes);
        piece[HEAD.len() + out.len] = b'"';
        self.time_json.set_padded(&piece, HEAD.len() + out.len + 1);
    }

    /// The table's header, written before its first event.
    #[cold]
    fn write_header(&mut self) {
        let header = format!(
            "{:<32} {:<12} {:<39} {:<16} {:<19} WHERE\n",
            "TIME", "KIND", "ADDRESS", "USER", "MESSAGE"
        );
        self.make_room(header.len());
        let mut w = Cursor::new(&mut self.buf, self.at);
        w.bytes(header.as_bytes());
        self.at = w.pos();
    }

    /// Makes `need` bytes free after `at`: flushes the buffer, and grows it if that is not
    /// enough (a user name of tens of kilobytes).
    #[cold]
    fn make_room(&mut self, need: usize) {
        if self.buf.len() - self.at >= need {
            return;
        }
        self.flush_buf();
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
    }

    fn flush_buf(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf[..self.at])
        {
            self.error = Some(e);
        }
        self.at = 0;
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

/// A position in the output buffer, kept in registers while an event is written (the
/// printer's own fields would be read back after every byte store). Each piece is copied as
/// an array of known size, a few vector moves, and the position advanced by its real
/// length: what the copy left past it is overwritten by the next piece. The printer has
/// made room for the largest size of every piece.
///
/// The position is a `u32` (the buffer is cut to 4 GiB, far more than it ever holds): the
/// end of a copy `at + N` then cannot overflow, and its bounds check is one comparison.
struct Cursor<'a> {
    buf: &'a mut [u8],
    at: u32,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn new(buf: &'a mut [u8], at: usize) -> Cursor<'a> {
        let len = buf.len().min(u32::MAX as usize);
        let buf = &mut buf[..len];
        Cursor {
            at: u32::try_from(at).unwrap_or(u32::MAX),
            buf,
        }
    }

    #[inline]
    fn pos(&self) -> usize {
        self.at as usize
    }

    /// Moves to `pos`, written already or covered by the last copy.
    #[inline]
    fn set_pos(&mut self, pos: usize) {
        self.at = pos as u32;
    }

    /// Copies all of `bytes` and keeps the first `len`.
    #[inline]
    fn put<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        let at = self.pos();
        self.buf[at..at + N].copy_from_slice(bytes);
        self.set_pos(at + len);
    }

    #[inline]
    fn lit<const N: usize>(&mut self, bytes: &[u8; N]) {
        self.put(bytes, N);
    }

    /// Copies `bytes` at `at`, over what was written there, leaving the position.
    #[inline]
    fn put_at<const N: usize>(&mut self, at: usize, bytes: &[u8; N]) {
        self.buf[at..at + N].copy_from_slice(bytes);
    }

    /// Copies `bytes` of any length; up to 16 in two word moves that may overlap, as
    /// `memcpy` does for short lengths, but without the call (user names are short).
    #[inline]
    fn bytes(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let at = self.pos();
        let dst = &mut self.buf[at..at + n];
        if n > 16 {
            dst.copy_from_slice(bytes);
        } else if n >= 8 {
            dst[..8].copy_from_slice(&bytes[..8]);
            dst[n - 8..].copy_from_slice(&bytes[n - 8..]);
        } else if n >= 4 {
            dst[..4].copy_from_slice(&bytes[..4]);
            dst[n - 4..].copy_from_slice(&bytes[n - 4..]);
        } else if n > 0 {
            dst[0] = bytes[0];
            dst[n / 2] = bytes[n / 2];
            dst[n - 1] = bytes[n - 1];
        }
        self.set_pos(at + n);
    }

    /// The decimal text of `n` (at most 24 bytes written).
    #[inline]
    fn number(&mut self, n: u64) {
        if n < 100_000_000 {
            let (text, len) = short_decimal(n as u32);
            self.put(&text.to_le_bytes(), len);
        } else {
            let (text, len) = long_decimal(n);
            self.put(&text, len);
        }
    }
}

/// The last line number printed below 10^8 (0 at first) and its [`digit_values`], from
/// which the next is mostly a few lines on: see [`digits_plus`].
#[derive(Default)]
struct LineNumber {
    last: u64,
    digits: u64,
}

impl LineNumber {
    /// Writes `line` as [`Cursor::number`] does. Inlined always: as a call (it has two
    /// callers) the cursor goes through memory and it costs more than it saves.
    #[inline(always)]
    fn put(&mut self, w: &mut Cursor<'_>, line: u64) {
        if line >= 100_000_000 {
            w.number(line);
            return;
        }
        let delta = line.wrapping_sub(self.last);
        self.digits = if delta < 10 {
            digits_plus(self.digits, delta)
        } else {
            digit_values(line as u32)
        };
        self.last = line;
        let (text, len) = decimal_text(self.digits);
        w.put(&text.to_le_bytes(), len);
    }
}

/// The text of a number of 9 to 20 digits, left aligned, and its length: the last eight
/// digits in full after the rest. Returned by value, so that the cursor stays in registers.
#[cold]
fn long_decimal(n: u64) -> ([u8; 24], usize) {
    let mut text = [0; 24];
    let mut w = Cursor::new(&mut text, 0);
    let high = n / 100_000_000;
    if high >= 100_000_000 {
        let (first, len) = short_decimal((high / 100_000_000) as u32);
        w.put(&first.to_le_bytes(), len);
        w.lit(&eight_digits((high % 100_000_000) as u32).to_le_bytes());
    } else {
        let (first, len) = short_decimal(high as u32);
        w.put(&first.to_le_bytes(), len);
    }
    w.lit(&eight_digits((n % 100_000_000) as u32).to_le_bytes());
    let len = w.pos();
    (text, len)
}

/// The eight decimal digits of `n` (below 10^8) as the bytes of a little-endian word, the
/// first digit lowest, computed in its lanes at once: the two halves of four digits in 32-bit
/// lanes, each divided by 100 into 16-bit lanes and again by 10 into bytes, dividing by a
/// multiplication and a shift exact in that range. A byte is the digit's value, not yet
/// ASCII.
#[inline]
fn digit_values(n: u32) -> u64 {
    let n = u64::from(n);
    let v = (n / 10_000) | ((n % 10_000) << 32);
    // x / 100 = x * 5243 >> 19 for x below 43,699.
    let hundreds = ((v * 5243) >> 19) & 0x0000_007f_0000_007f;
    let v = hundreds | ((v - hundreds * 100) << 16);
    // x / 10 = x * 103 >> 10 for x below 179.
    let tens = ((v * 103) >> 10) & 0x000f_000f_000f_000f;
    tens | ((v - tens * 10) << 8)
}

/// The eight digits of `n` (below 10^8) in ASCII, leading zeros kept.
#[inline]
fn eight_digits(n: u32) -> u64 {
    digit_values(n) | (ONES * u64::from(b'0'))
}

/// The decimal text of `n` (below 10^8) as the bytes of a little-endian word, and its
/// length: the eight digits less the leading zeros, shifted out of the lowest bytes.
#[inline]
fn short_decimal(n: u32) -> (u64, usize) {
    decimal_text(digit_values(n))
}

/// The text of the number whose [`digit_values`] are `v`, as [`short_decimal`].
#[inline]
fn decimal_text(v: u64) -> (u64, usize) {
    let zeros = ((v.trailing_zeros() / 8) as usize).min(7);
    ((v | (ONES * u64::from(b'0'))) >> (8 * zeros), 8 - zeros)
}

/// The [`digit_values`] of `n + d` from those of `n`, for `d` below 10 and `n + d` below
/// 10^8: the next event's line number is mostly a few lines on, and this is cheaper than
/// dividing again. The digits are turned lowest first and each given 246 more, so that one
/// addition carries from a digit that reaches 10 into the next; a digit that did not carry
/// is then 246 too high, and has its high bit set.
#[inline]
fn digits_plus(v: u64, d: u64) -> u64 {
    let sum = v.swap_bytes() + d + ONES * 246;
    let kept = (sum >> 7) & ONES;
    (sum - kept * 246).swap_bytes()
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

    /// The most bytes [`Padded::put`] and [`Padded::put_column`] write (the whole array or
    /// a long text and its separating space).
    fn room(&self) -> usize {
        N.max(self.len + 1)
    }

    /// Writes the text.
    #[inline]
    fn put(&self, w: &mut Cursor<'_>) {
        if self.len <= N {
            w.put(&self.bytes, self.len);
        } else {
            w.bytes(&self.long);
        }
    }

    /// Writes the text padded to `W` and one space, as [`push_padded`].
    #[inline]
    fn put_column<const W: usize>(&self, w: &mut Cursor<'_>) {
        const { assert!(W < N) };
        let keep = self.len.max(W) + 1;
        if keep <= N {
            w.put(&self.bytes, keep);
        } else {
            // Longer than the column: no padding but the separating space.
            w.bytes(self.text());
            w.lit(b" ");
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

/// Writes an address in its canonical text form, as `Display` does (RFC 5952), by hand at
/// the start of `out`, and returns its length; `Display` goes through the formatting
/// machinery. Up to 16 bytes after the text may be overwritten too (the dot after an IPv4
/// address's last octet, what is left of a copy of an IPv6 group's four digits).
fn ip_text(addr: IpAddr, out: &mut [u8; 64]) -> usize {
    match addr {
        IpAddr::V4(v4) => put_v4(out, 0, v4),
        IpAddr::V6(v6) => put_v6(out, v6),
    }
}

/// Per octet value: its digits and a dot, then spaces to four bytes.
const OCTETS: [[u8; 4]; 256] = octet_texts();

/// Per octet value: the length of its digits and dot.
const OCTET_LENS: [u8; 256] = octet_lens();

const fn octet_texts() -> [[u8; 4]; 256] {
    let mut t = [[b' '; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let (a, b, c) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        t[i] = if i >= 100 {
            [b'0' + a, b'0' + b, b'0' + c, b'.']
        } else if i >= 10 {
            [b'0' + b, b'0' + c, b'.', b' ']
        } else {
            [b'0' + c, b'.', b' ', b' ']
        };
        i += 1;
    }
    t
}

const fn octet_lens() -> [u8; 256] {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i >= 100 {
            4
        } else if i >= 10 {
            3
        } else {
            2
        };
        i += 1;
    }
    t
}

/// Writes `v4` at `at` (at most 7: after `::ffff:`) and returns where it ends: each octet a
/// four-byte copy from [`OCTETS`], advanced by its length; the last dot is left after the
/// text.
#[inline]
fn put_v4(out: &mut [u8; 64], at: usize, v4: Ipv4Addr) -> usize {
    // Below 8 and each octet's length below 8, so that every copy is seen to fit.
    let mut at = at & 7;
    for o in v4.octets() {
        out[at..at + 4].copy_from_slice(&OCTETS[usize::from(o)]);
        // (Four at most: the mask shows it.)
        at += usize::from(OCTET_LENS[usize::from(o)] & 7);
    }
    at - 1
}

/// As std's `Display`: an IPv4-mapped address as `::ffff:a.b.c.d`; otherwise lowercase hex
/// groups with the first longest run of two or more zero groups written `::`.
#[cold]
fn put_v6(out: &mut [u8; 64], v6: Ipv6Addr) -> usize {
    if let Some(v4) = v6.to_ipv4_mapped() {
        out[..7].copy_from_slice(b"::ffff:");
        return put_v4(out, 7, v4);
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
        let at = put_groups(out, 0, &groups[..best]);
        out[at..at + 2].copy_from_slice(b"::");
        put_groups(out, at + 2, &groups[best + best_len..])
    } else {
        put_groups(out, 0, &groups)
    }
}

/// Per byte value: its two hex digits, the first in the low byte.
const HEX_PAIRS: [u16; 256] = hex_pairs();

const fn hex_pairs() -> [u16; 256] {
    let digits = b"0123456789abcdef";
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = digits[i >> 4] as u16 | (digits[i & 15] as u16) << 8;
        i += 1;
    }
    t
}

/// The groups in hex at `at`, `:` between them (eight groups and a `::` take at most 41
/// bytes); where they end. Each group's four digits are made as one word from
/// [`HEX_PAIRS`], shifted past its leading zeros and copied whole; the next piece covers
/// what is left.
fn put_groups(out: &mut [u8; 64], mut at: usize, groups: &[u16]) -> usize {
    for (i, &g) in groups.iter().take(8).enumerate() {
        if i > 0 {
            out[at] = b':';
            at += 1;
        }
        let digits = (16 - g.leading_zeros() as usize).div_ceil(4).max(1);
        let [high, low] = g.to_be_bytes();
        let word = u32::from(HEX_PAIRS[usize::from(high)])
            | (u32::from(HEX_PAIRS[usize::from(low)]) << 16);
        out[at..at + 4].copy_from_slice(&(word >> (8 * (4 - digits))).to_le_bytes());
        at += digits;
    }
    at
}

/// The text of the last timestamp printed, built from jiff's text of its whole second (kept
/// while the second and offset stay the same) with the fraction written by hand, exactly as
/// jiff writes it: nine digits less their trailing zeros, none when zero.
///
/// The text is kept in a space-padded array that starts with the whole second's head
/// (`2026-11-24T00:00:00`); an instant of the same second writes only its fraction and the
/// offset after it, by copies of known sizes. The offset is copied with enough spaces after
/// it to cover what the longest fraction and offset left there, so the array holds spaces
/// after the text without being cleared.
struct TimeText {
    last: Option<LogTime>,
    /// The text of `last`.
    out: Padded<48>,
    /// The whole second and offset that the head and `offset` spell.
    second: Option<(i64, jiff::tz::Offset)>,
    /// jiff's text of the whole second up to the offset (`head_len` bytes), then the fraction
    /// and offset of the last instant, then spaces.
    text: [u8; TEXT_LEN],
    head_len: usize,
    /// jiff's text of the offset (`offset_len` bytes) and spaces; `split_ok` is false if
    /// jiff's text has a shape we do not know (or too long a part), and then every instant
    /// of that second is formatted by jiff.
    offset: [u8; OFFSET_ROOM],
    offset_len: usize,
    split_ok: bool,
}

/// The longest head and offset taken from jiff's text; longer ones are left to jiff.
const HEAD_MAX: usize = 32;
const OFFSET_MAX: usize = 16;
/// What an instant writes after the head: the fraction's ten bytes may be left from the
/// last instant and are covered by the offset's copy, however long the new fraction.
const OFFSET_ROOM: usize = OFFSET_MAX + 10;
const TEXT_LEN: usize = HEAD_MAX + 10 + OFFSET_ROOM;

impl Default for TimeText {
    fn default() -> Self {
        TimeText {
            last: None,
            out: Padded::default(),
            second: None,
            text: [b' '; TEXT_LEN],
            head_len: 0,
            offset: [b' '; OFFSET_ROOM],
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

    /// Makes `out` the text of `t`; whether it changed.
    #[inline]
    fn update(&mut self, t: LogTime) -> bool {
        if self.last == Some(t) {
            return false;
        }
        self.last = Some(t);
        self.format(t);
        true
    }

    #[inline]
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
            let same_minute = self.split_ok
                && self.second.is_some_and(|(prev, offset)| {
                    let off = i64::from(offset.seconds());
                    offset == t.offset && (prev + off).div_euclid(60) == (secs + off).div_euclid(60)
                });
            self.second = Some(key);
            if same_minute {
                // Only the seconds changed: the head ends with their two digits (see
                // `offset_start`), which jiff would write the same way.
                let s = (secs + i64::from(t.offset.seconds())).rem_euclid(60) as u8;
                self.text[self.head_len - 2] = b'0' + s / 10;
                self.text[self.head_len - 1] = b'0' + s % 10;
            } else {
                self.split_whole(secs, t.offset);
            }
        }
        if !self.split_ok {
            self.out.set(t.to_string().as_bytes());
            return;
        }
        let mut at = self.head_len;
        if nanos > 0 {
            let (digits, len) = fraction_text(nanos as u32);
            self.text[at..at + 10].copy_from_slice(&digits);
            at += len;
        }
        self.text[at..at + OFFSET_ROOM].copy_from_slice(&self.offset);
        at += self.offset_len;
        self.out.set_padded(&self.text, at);
    }

    /// Takes the head and offset of jiff's text of the whole second `secs` at `offset`.
    #[cold]
    fn split_whole(&mut self, secs: i64, offset: jiff::tz::Offset) {
        self.split_ok = false;
        let Ok(instant) = jiff::Timestamp::new(secs, 0) else {
            return;
        };
        let whole = LogTime { instant, offset }.to_string();
        let whole = whole.as_bytes();
        let Some(split) = offset_start(whole) else {
            return;
        };
        let (head, offset) = whole.split_at(split);
        if head.len() <= HEAD_MAX && offset.len() <= OFFSET_MAX {
            self.text = [b' '; TEXT_LEN];
            self.text[..head.len()].copy_from_slice(head);
            self.head_len = head.len();
            self.offset = [b' '; OFFSET_ROOM];
            self.offset[..offset.len()].copy_from_slice(offset);
            self.offset_len = offset.len();
            self.split_ok = true;
        }
    }
}

/// `.` and the nine digits of `nanos` (1 to 999,999,999) less their trailing zeros; the
/// length kept. The last eight digits are made in one word (see [`digit_values`]), whose
/// trailing zeros are its highest zero bytes (all eight when the word is zero, and then the
/// first digit is not zero).
#[inline]
fn fraction_text(nanos: u32) -> ([u8; 10], usize) {
    let first = nanos / 100_000_000;
    let rest = digit_values(nanos - first * 100_000_000);
    let zeros = (rest.leading_zeros() / 8) as usize;
    let mut d = [b'.'; 10];
    d[1] = b'0' + first as u8;
    d[2..].copy_from_slice(&(rest | (ONES * u64::from(b'0'))).to_le_bytes());
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

/// Whether `bad` finds nothing in `bytes`, read eight at a time. The end is read as a word
/// overlapping the one before (bytes tested twice are no harm), and fewer than eight bytes
/// as two overlapping halves, or three bytes padded with `a` (which no test here refuses):
/// no loop over single bytes.
#[inline(always)]
fn no_bad_words(bytes: &[u8], bad: impl Fn(u64) -> u64) -> bool {
    let n = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            bytes[at..at + 4].try_into().expect("four bytes"),
        ))
    };
    if n >= 8 {
        let mut acc = bad(word(n - 8));
        for c in bytes.chunks_exact(8) {
            acc |= bad(u64::from_le_bytes(c.try_into().expect("eight bytes")));
        }
        acc == 0
    } else if n >= 4 {
        bad(half(0) | (half(n - 4) << 32)) == 0
    } else if n > 0 {
        let three =
            u64::from(bytes[0]) | (u64::from(bytes[n / 2]) << 8) | (u64::from(bytes[n - 1]) << 16);
        bad((ONES * u64::from(b'a')) << 24 | three) == 0
    } else {
        true
    }
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

    #[test]
    fn fractions_of_one_second_leave_nothing_behind() {
        // Long and short fractions in turn, with the longest offset jiff writes: each text
        // is whole and nothing of the last one shows after it.
        let mut tt = TimeText::default();
        for offset in [3 * 3600 + 7 * 60 + 9, 0, -(25 * 3600 + 59 * 60 + 59)] {
            for nanos in [
                123_456_789,
                0,
                100_000_000,
                999_999_999,
                5,
                120_000_000,
                0,
                1,
            ] {
                let t = log_time(1_795_519_808, nanos, offset);
                let text = tt.text(t).to_vec();
                assert_eq!(String::from_utf8(text).unwrap(), t.to_string());
                assert!(tt.out.bytes[tt.out.len..].iter().all(|&c| c == b' '));
            }
        }
    }

    /// A fraction of a second in nanoseconds, often with trailing zeros.
    fn nanos() -> impl proptest::strategy::Strategy<Value = u32> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            1u32..1_000_000_000,
            (1u64..1000, 0u32..9).prop_map(|(n, z)| (n * 10u64.pow(z)).min(999_999_999) as u32),
        ]
    }

    proptest::proptest! {
        // The fraction is jiff's: nine digits less their trailing zeros.
        #[test]
        fn fraction_text_is_the_trimmed_nine_digits(nanos in nanos()) {
            let (digits, len) = fraction_text(nanos);
            let want = format!(".{nanos:09}");
            proptest::prop_assert_eq!(
                String::from_utf8(digits[..len].to_vec()).unwrap(),
                want.trim_end_matches('0')
            );
        }
    }

    proptest::proptest! {
        // Runs of instants a few seconds apart (within a minute and across minutes, hours,
        // days and years), with any fraction and offset.
        #[test]
        fn time_text_of_nearby_seconds_agrees_with_display(
            start in -100_000_000_000i64..200_000_000_000,
            offset in -93_599i32..93_600,
            steps in proptest::collection::vec((0i64..90, 0i32..1_000_000_000), 1..40),
        ) {
            let mut tt = TimeText::default();
            let mut secs = start;
            for (step, nanos) in steps {
                secs += step;
                let t = log_time(secs, nanos, offset);
                proptest::prop_assert_eq!(String::from_utf8(tt.text(t).to_vec()).unwrap(), t.to_string());
            }
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
            proptest::prop_assert_eq!(ip_string(IpAddr::V6(v6)), v6.to_string());
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
                assert_eq!(ip_string(IpAddr::V4(v4)), v4.to_string());
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
            assert_eq!(ip_string(IpAddr::V6(v6)), v6.to_string());
        }
    }

    /// What a cursor over a buffer of garbage writes.
    fn ip_string(addr: IpAddr) -> String {
        let mut out = [0xaa; 64];
        let len = ip_text(addr, &mut out);
        String::from_utf8(out[..len].to_vec()).unwrap()
    }

    fn written(f: impl FnOnce(&mut Cursor<'_>)) -> Vec<u8> {
        let mut buf = vec![0xaa; 128];
        let mut w = Cursor::new(&mut buf, 3);
        f(&mut w);
        let at = w.pos();
        buf[3..at].to_vec()
    }

    fn number_text(n: u64) -> String {
        String::from_utf8(written(|w| w.number(n))).unwrap()
    }

    #[test]
    fn numbers_print_like_display() {
        for n in (0..100_000).chain([
            99_999_999,
            100_000_000,
            100_000_001,
            1_234_567_890,
            9_999_999_999_999_999,
            10_000_000_000_000_000,
            10_000_000_000_000_001,
            u64::MAX,
        ]) {
            assert_eq!(number_text(n), n.to_string());
        }
        for k in 0..20 {
            let p = 10u64.pow(k);
            for n in [p - 1, p, p + 1] {
                assert_eq!(number_text(n), n.to_string());
            }
        }
    }

    #[test]
    fn digits_plus_carries_like_addition() {
        for n in (0..2_000)
            .chain(99_998_000..99_999_999)
            .chain([9, 99, 999_999, 9_999_999])
        {
            for d in 0..10 {
                if n + d < 100_000_000 {
                    assert_eq!(
                        digits_plus(digit_values(n as u32), d),
                        digit_values((n + d) as u32),
                        "{n} + {d}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn digits_plus_is_addition(n in 0u64..100_000_000, d in 0u64..10) {
            proptest::prop_assume!(n + d < 100_000_000);
            proptest::prop_assert_eq!(digits_plus(digit_values(n as u32), d), digit_values((n + d) as u32));
        }

        // Line numbers in steps, as in a log, across powers of ten and past 10^8.
        #[test]
        fn line_numbers_print_like_display(start in proptest::prop_oneof![0u64..100, 99_999_900u64..100_000_100, proptest::num::u64::ANY], steps in proptest::collection::vec(0u64..25, 1..200)) {
            let mut buf = vec![0; 64];
            let mut lines = LineNumber::default();
            let mut line = start;
            for step in steps {
                line = line.wrapping_add(step);
                let mut w = Cursor::new(&mut buf, 0);
                lines.put(&mut w, line);
                let len = w.pos();
                proptest::prop_assert_eq!(String::from_utf8(buf[..len].to_vec()).unwrap(), line.to_string());
            }
        }

        #[test]
        fn any_number_prints_like_display(n in proptest::num::u64::ANY, small in 0u64..100_000_000) {
            proptest::prop_assert_eq!(number_text(n), n.to_string());
            proptest::prop_assert_eq!(number_text(small), small.to_string());
        }

        // Copies of every short length, and nothing written past them.
        #[test]
        fn cursor_copies_bytes(bytes in proptest::collection::vec(byte(), 0..60)) {
            let mut buf = vec![0xaa; 128];
            let mut w = Cursor::new(&mut buf, 5);
            w.bytes(&bytes);
            proptest::prop_assert_eq!(w.pos(), 5 + bytes.len());
            proptest::prop_assert_eq!(&buf[5..5 + bytes.len()], &bytes[..]);
            proptest::prop_assert!(buf[..5].iter().chain(&buf[5 + bytes.len()..]).all(|&b| b == 0xaa));
        }
    }

    #[test]
    fn addresses_print_like_display() {
        for a in [
            "0.0.0.0",
            "192.0.2.1",
            "255.255.255.255",
            "10.20.0.3",
            "2001:db8::1",
        ] {
            let addr: IpAddr = a.parse().unwrap();
            assert_eq!(ip_string(addr), a);
        }
    }

    /// An event's line as the printer wrote it before it had a cursor, by the plainest
    /// means: `format!`, serde_json and [`push_printable`] (the table pads by bytes).
    fn reference(file: &str, line: u64, ev: &Event<'_>, json: bool) -> String {
        if json {
            let quoted = |s: &str| serde_json::to_string(s).unwrap();
            let or_null = |v: Option<String>| v.unwrap_or_else(|| "null".to_string());
            format!(
                "{{\"file\":{},\"line\":{line},\"time\":{},\"kind\":\"{}\",\"addr\":\"{}\",\"user\":{},\"msg\":\"{}\",\"method\":{},\"port\":{},\"count\":{}}}\n",
                quoted(file),
                or_null(ev.time.map(|t| format!("\"{t}\""))),
                ev.kind,
                ev.addr,
                or_null(ev.user.map(|u| quoted(&String::from_utf8_lossy(u)))),
                ev.msg,
                or_null(ev.method.map(|m| quoted(m.as_str()))),
                or_null(ev.port.map(|p| p.to_string())),
                ev.count.max(1)
            )
        } else {
            let mut user = Vec::new();
            match ev.user {
                Some(u) => push_printable(&mut user, u),
                None => user.push(b'-'),
            }
            user.resize(user.len().max(16), b' ');
            format!(
                "{:<32} {:<12} {:<39} {} {:<19} {file}:{line}\n",
                ev.time.map_or("-".to_string(), |t| t.to_string()),
                ev.kind.as_str(),
                ev.addr.to_string(),
                String::from_utf8_lossy(&user),
                ev.msg.as_str()
            )
        }
    }

    const MSGS: [Msg; 5] = [
        Msg::Failed,
        Msg::Accepted,
        Msg::ReceivedDisconnect,
        Msg::ConnectionClosed,
        Msg::TooManyFailures,
    ];
    const METHODS: [Method; 7] = [
        Method::Password,
        Method::Publickey,
        Method::KeyboardInteractive,
        Method::Hostbased,
        Method::Gssapi,
        Method::None,
        Method::Other,
    ];

    /// A user name: often short and plain, sometimes escaped, empty or thousands of bytes.
    fn user() -> impl proptest::strategy::Strategy<Value = Option<Vec<u8>>> {
        use proptest::strategy::Strategy;
        proptest::option::of(proptest::prop_oneof![
            4 => proptest::string::string_regex("[a-z0-9._-]{1,20}").unwrap().prop_map(String::into_bytes),
            2 => proptest::collection::vec(byte(), 0..40),
            1 => (1usize..3000, byte()).prop_map(|(n, b)| vec![b; n]),
        ])
    }

    /// An address of either family, IPv6 with runs of zeros.
    fn addr() -> impl proptest::strategy::Strategy<Value = IpAddr> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            proptest::num::u32::ANY.prop_map(|v| IpAddr::V4(Ipv4Addr::from_bits(v))),
            proptest::num::u128::ANY.prop_map(|v| IpAddr::V6(Ipv6Addr::from_bits(v))),
            (0u128..1 << 40).prop_map(|v| IpAddr::V6(Ipv6Addr::from_bits(v << 64 | 1))),
        ]
    }

    type RawEvent = (
        Option<(i64, i32, i32)>,
        (usize, usize, Option<usize>),
        IpAddr,
        Option<u16>,
        Option<Vec<u8>>,
        u32,
        u64,
    );

    fn raw_event() -> impl proptest::strategy::Strategy<Value = RawEvent> {
        (
            proptest::option::of((
                1_700_000_000i64..1_700_000_100,
                proptest::prop_oneof![proptest::strategy::Just(0i32), 0i32..1_000_000_000],
                proptest::prop_oneof![proptest::strategy::Just(0i32), -50_000i32..50_000],
            )),
            (
                0usize..4,
                0usize..MSGS.len(),
                proptest::option::of(0usize..METHODS.len()),
            ),
            addr(),
            proptest::option::of(proptest::num::u16::ANY),
            user(),
            proptest::prop_oneof![0u32..3, proptest::num::u32::ANY],
            proptest::prop_oneof![0u64..10, 0u64..1_000_000_000, proptest::num::u64::ANY],
        )
    }

    proptest::proptest! {
        // The printer writes what the plain formatting does, for random events in two
        // files, through a buffer short enough to flush and grow often. As in a log, events
        // often share their time, address, kind, message, user or port with the one before,
        // so that a text kept from an event is used again, and one kept too long would show.
        #[test]
        fn printer_agrees_with_plain_formatting(
            mut events in proptest::collection::vec(raw_event(), 1..40),
            shares in proptest::collection::vec(0u16..2048, 40),
            json in proptest::bool::ANY,
            len in proptest::prop_oneof![proptest::strategy::Just(BUF_LEN), 0usize..2000],
            long_name in proptest::bool::ANY,
        ) {
            let files = if long_name {
                ["/var/log/\"quoted\"/a-rather-long-directory-name/and-more/auth.log.1".to_string(), "-".to_string()]
            } else {
                ["auth.log".to_string(), "/x/\u{e9}\\".to_string()]
            };
            let mut out = Vec::new();
            let mut expected = String::new();
            if !json {
                expected.push_str(&format!(
                    "{:<32} {:<12} {:<39} {:<16} {:<19} WHERE\n",
                    "TIME", "KIND", "ADDRESS", "USER", "MESSAGE"
                ));
            }
            for i in 1..events.len() {
                let (prev, next) = events.split_at_mut(i);
                let (prev, next) = (&prev[i - 1], &mut next[0]);
                let share = shares[i];
                if share & 1 != 0 {
                    next.0 = prev.0;
                }
                if share & 2 != 0 {
                    next.2 = prev.2;
                }
                if share & 4 != 0 {
                    next.1.0 = prev.1.0;
                }
                if share & 8 != 0 {
                    next.1.1 = prev.1.1;
                    next.1.2 = prev.1.2;
                }
                if share & 16 != 0 {
                    next.4 = prev.4.clone();
                }
                if share & 32 != 0 {
                    next.3 = prev.3;
                }
                if share & 64 != 0 {
                    // A few lines on, or ten and more.
                    next.6 = prev.6.wrapping_add(u64::from(share >> 7));
                }
            }
            let mut p = Printer::with_len(&mut out, json, len);
            for (i, (time, (kind, msg, method), addr, port, user, count, line)) in events.iter().enumerate() {
                let file = &files[usize::from(i >= events.len() / 2)];
                if i == 0 || i == events.len() / 2 {
                    p.set_file(file);
                }
                let ev = Event {
                    time: time.map(|(s, n, o)| log_time(s, n, o)),
                    kind: Kind::ALL[*kind],
                    msg: MSGS[*msg],
                    addr: *addr,
                    port: *port,
                    user: user.as_deref(),
                    method: method.map(|m| METHODS[m]),
                    count: *count,
                    pid: None,
                };
                p.event(*line, &ev);
                expected.push_str(&reference(file, *line, &ev, json));
            }
            p.finish().unwrap();
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
