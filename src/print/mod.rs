//! print: the output of `authban check`, events as a table or as JSON lines.
//!
//! The output is the program's hot loop over millions of lines, so events are written by
//! hand into one buffered writer (no per-event `String`). Consecutive events mostly share
//! their address and the second of their timestamp (a connection logs several lines at
//! once), so the text of both is kept and reused, and only a changed fraction of a second is
//! written afresh. [`text`] makes the texts of numbers, addresses, times and user names.

#[cfg(test)]
mod tests;
mod text;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

use crate::event::{Event, Kind, Method, Msg};
use text::*;

/// Writes events as a table or JSON lines into one buffer flushed in large writes,
/// remembering the first write error.
///
/// The buffer has a fixed length and is written at the index `at` through a [`Cursor`]:
/// once per event the printer makes sure the largest size of every piece fits (flushing
/// first, growing for a huge user name), and then each piece is a copy of a known size
/// with no capacity check and no length to keep. Appending to a `Vec` piece by piece cost
/// more than the copies: a capacity check and a length store per piece, and its pointer and
/// length read again after every byte store (a byte store may alias anything).
pub(crate) struct Printer<W: Write> {
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
    /// The room of the two time pieces when `room` was last computed: the time changes on
    /// nearly every line of some logs, its room (but for a long text) never.
    time_room: usize,
    /// The room an event needs besides its user name: [`EVENT_ROOM`] and the room of each
    /// piece of variable length, kept up to date as they change.
    room: usize,
    /// The first write error, if any: the caller stops and reports it.
    pub error: Option<io::Error>,
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

/// The JSON member of an event whose line named no address (see `Event::by_pid`).
const BY_PID: &[u8; 14] = b",\"by_pid\":true";
/// The most the table's ` repeated=N` takes (N a u32).
const REPEATED_ROOM: usize = b" repeated=".len() + 10;

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
    pub fn new(out: W, json: bool) -> Printer<W> {
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
            time_room: 0,
            room: 0,
            error: None,
        };
        p.set_addr(p.addr);
        p.refresh_room();
        p
    }

    /// Makes the text that starts each event of `file`.
    pub fn set_file(&mut self, file: &str) {
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
    #[inline(always)]
    fn user_text<'a>(&mut self, user: Option<&'a [u8]>) -> (UserText<'a>, usize) {
        let Some(u) = user else {
            return (UserText::None, 0);
        };
        let plain = if self.json {
            json_plain(u)
        } else {
            !u.is_empty() && u.len() <= text::USER_COLUMN && all_graphic(u)
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

    /// Writes one event, with `extra` at the end of its line (empty, or what `check --score`
    /// adds: JSON members after a comma, `,"points":1.00`, or words after a space in the
    /// table).
    pub fn event(&mut self, line: u64, ev: &Event<'_>, extra: &[u8]) {
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
        let need = self.room + user_len + extra.len() + BY_PID.len().max(REPEATED_ROOM);
        if self.buf.len() - self.at < need {
            self.make_room(need);
        }
        let tail = &self.tails[tail_key];
        let mut w = Cursor::new(&mut self.buf, self.at);
        if self.json {
            self.file_head.put(&mut w);
            w.number(line);
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
                Some(p) => w.number(u64::from(p)),
                None => w.lit(b"null"),
            }
            let plain = extra.is_empty() && !ev.by_pid;
            match ev.count {
                0 | 1 if plain => w.lit(b",\"count\":1}\n"),
                n => {
                    w.lit(b",\"count\":");
                    w.number(u64::from(n.max(1)));
                    if ev.by_pid {
                        w.lit(BY_PID);
                    }
                    w.bytes(extra);
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
            w.number(line);
            if ev.count > 1 {
                w.lit(b" repeated=");
                w.number(u64::from(ev.count));
            }
            w.bytes(extra);
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

    pub fn finish(mut self) -> io::Result<()> {
        if self.error.is_none() {
            self.flush_buf();
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()
    }
}
