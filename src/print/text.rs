//! The texts `print` copies into its buffer: decimal numbers by word-at-a-time arithmetic,
//! addresses from tables, timestamps cached by second, and user names escaped for the
//! terminal or JSON.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::splat;
use crate::event::LogTime;

/// A position in the output buffer, kept in registers while an event is written (the
/// printer's own fields would be read back after every byte store). Each piece is copied as
/// an array of known size, a few vector moves, and the position advanced by its real
/// length: what the copy left past it is overwritten by the next piece. The printer has
/// made room for the largest size of every piece.
///
/// The position is a `u32` (the buffer is cut to 4 GiB, far more than it ever holds): the
/// end of a copy `at + N` then cannot overflow, and its bounds check is one comparison.
pub(super) struct Cursor<'a> {
    pub(super) buf: &'a mut [u8],
    pub(super) at: u32,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(super) fn new(buf: &'a mut [u8], at: usize) -> Cursor<'a> {
        let len = buf.len().min(u32::MAX as usize);
        let buf = &mut buf[..len];
        Cursor {
            at: u32::try_from(at).unwrap_or(u32::MAX),
            buf,
        }
    }

    #[inline]
    pub(super) fn pos(&self) -> usize {
        self.at as usize
    }

    /// Moves to `pos`, written already or covered by the last copy.
    #[inline]
    pub(super) fn set_pos(&mut self, pos: usize) {
        self.at = pos as u32;
    }

    /// Copies all of `bytes` and keeps the first `len`.
    #[inline]
    pub(super) fn put<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        let at = self.pos();
        self.buf[at..at + N].copy_from_slice(bytes);
        self.set_pos(at + len);
    }

    #[inline]
    pub(super) fn lit<const N: usize>(&mut self, bytes: &[u8; N]) {
        self.put(bytes, N);
    }

    /// Copies `bytes` at `at`, over what was written there, leaving the position.
    #[inline]
    pub(super) fn put_at<const N: usize>(&mut self, at: usize, bytes: &[u8; N]) {
        self.buf[at..at + N].copy_from_slice(bytes);
    }

    /// Copies `bytes` of any length.
    #[inline]
    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let at = self.pos();
        self.buf[at..at + n].copy_from_slice(bytes);
        self.set_pos(at + n);
    }

    /// The decimal text of `n` (at most 24 bytes written).
    #[inline]
    pub(super) fn number(&mut self, n: u64) {
        if n < 100_000_000 {
            let (text, len) = short_decimal(n as u32);
            self.put(&text.to_le_bytes(), len);
        } else {
            let (text, len) = long_decimal(n);
            self.put(&text, len);
        }
    }
}

/// The text of a number of 9 to 20 digits, left aligned, and its length: the last eight
/// digits in full after the rest. Returned by value, so that the cursor stays in registers.
#[cold]
pub(super) fn long_decimal(n: u64) -> ([u8; 24], usize) {
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
pub(super) fn digit_values(n: u32) -> u64 {
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
pub(super) fn eight_digits(n: u32) -> u64 {
    digit_values(n) | splat(b'0')
}

/// The decimal text of `n` (below 10^8) as the bytes of a little-endian word, and its
/// length: the eight digits less the leading zeros, shifted out of the lowest bytes.
#[inline]
pub(super) fn short_decimal(n: u32) -> (u64, usize) {
    decimal_text(digit_values(n))
}

/// The text of the number whose [`digit_values`] are `v`, as [`short_decimal`].
#[inline]
pub(super) fn decimal_text(v: u64) -> (u64, usize) {
    let zeros = ((v.trailing_zeros() / 8) as usize).min(7);
    ((v | splat(b'0')) >> (8 * zeros), 8 - zeros)
}

/// A short text kept at the start of a fixed array of spaces, so that appending it is a copy
/// of a known size (a few vector moves) and a truncation, where a copy of a variable length
/// calls `memmove`; the spaces after it pad a table column for free. A text longer than the
/// array is kept aside and copied the ordinary way.
pub(super) struct Padded<const N: usize> {
    pub(super) bytes: [u8; N],
    pub(super) len: usize,
    pub(super) long: Vec<u8>,
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
    pub(super) fn set(&mut self, text: &[u8]) {
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
    pub(super) fn set_padded<const M: usize>(&mut self, padded: &[u8; M], len: usize) {
        self.len = len;
        if len <= N && N <= M {
            self.bytes.copy_from_slice(&padded[..N]);
        } else {
            self.set(&padded[..len]);
        }
    }

    pub(super) fn text(&self) -> &[u8] {
        if self.len <= N {
            &self.bytes[..self.len]
        } else {
            &self.long
        }
    }

    /// The most bytes [`Padded::put`] and [`Padded::put_column`] write (the whole array or
    /// a long text and its separating space).
    pub(super) fn room(&self) -> usize {
        N.max(self.len + 1)
    }

    /// Writes the text.
    #[inline]
    pub(super) fn put(&self, w: &mut Cursor<'_>) {
        if self.len <= N {
            w.put(&self.bytes, self.len);
        } else {
            w.bytes(&self.long);
        }
    }

    /// Writes the text padded to `W` and one space, as [`push_padded`].
    #[inline]
    pub(super) fn put_column<const W: usize>(&self, w: &mut Cursor<'_>) {
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
pub(super) fn push_padded(buf: &mut Vec<u8>, text: &[u8], width: usize) {
    let start = buf.len();
    buf.extend_from_slice(text);
    pad_from(buf, start, width);
}

pub(super) fn pad_from(buf: &mut Vec<u8>, start: usize, width: usize) {
    let used = buf.len() - start;
    buf.resize(buf.len() + width.saturating_sub(used) + 1, b' ');
}

/// Writes an address in its canonical text form, as `Display` does (RFC 5952), by hand at
/// the start of `out`, and returns its length; `Display` goes through the formatting
/// machinery. Up to 16 bytes after the text may be overwritten too (the dot after an IPv4
/// address's last octet, what is left of a copy of an IPv6 group's four digits).
pub(super) fn ip_text(addr: IpAddr, out: &mut [u8; 64]) -> usize {
    match addr {
        IpAddr::V4(v4) => put_v4(out, 0, v4),
        IpAddr::V6(v6) => put_v6(out, v6),
    }
}

/// Per octet value: its digits and a dot, then spaces to four bytes.
pub(super) const OCTETS: [[u8; 4]; 256] = octet_texts();

/// Per octet value: the length of its digits and dot.
pub(super) const OCTET_LENS: [u8; 256] = octet_lens();

pub(super) const fn octet_texts() -> [[u8; 4]; 256] {
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

pub(super) const fn octet_lens() -> [u8; 256] {
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
pub(super) fn put_v4(out: &mut [u8; 64], at: usize, v4: Ipv4Addr) -> usize {
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
pub(super) fn put_v6(out: &mut [u8; 64], v6: Ipv6Addr) -> usize {
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
pub(super) const HEX_PAIRS: [u16; 256] = hex_pairs();

pub(super) const fn hex_pairs() -> [u16; 256] {
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
pub(super) fn put_groups(out: &mut [u8; 64], mut at: usize, groups: &[u16]) -> usize {
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
pub(super) struct TimeText {
    pub(super) last: Option<LogTime>,
    /// The text of `last`.
    pub(super) out: Padded<48>,
    /// The whole second and offset that the head and `offset` spell.
    pub(super) second: Option<(i64, jiff::tz::Offset)>,
    /// jiff's text of the whole second up to the offset (`head_len` bytes), then the fraction
    /// and offset of the last instant, then spaces.
    pub(super) text: [u8; TEXT_LEN],
    pub(super) head_len: usize,
    /// jiff's text of the offset (`offset_len` bytes) and spaces; `split_ok` is false if
    /// jiff's text has a shape we do not know (or too long a part), and then every instant
    /// of that second is formatted by jiff.
    pub(super) offset: [u8; OFFSET_ROOM],
    pub(super) offset_len: usize,
    pub(super) split_ok: bool,
}

/// The longest head and offset taken from jiff's text; longer ones are left to jiff.
pub(super) const HEAD_MAX: usize = 32;
pub(super) const OFFSET_MAX: usize = 16;
/// What an instant writes after the head: the fraction's ten bytes may be left from the
/// last instant and are covered by the offset's copy, however long the new fraction.
pub(super) const OFFSET_ROOM: usize = OFFSET_MAX + 10;
pub(super) const TEXT_LEN: usize = HEAD_MAX + 10 + OFFSET_ROOM;

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
    pub(super) fn text(&mut self, t: LogTime) -> &[u8] {
        self.update(t);
        self.out.text()
    }

    /// Makes `out` the text of `t`; whether it changed.
    #[inline]
    pub(super) fn update(&mut self, t: LogTime) -> bool {
        if self.last == Some(t) {
            return false;
        }
        self.last = Some(t);
        self.format(t);
        true
    }

    #[inline]
    pub(super) fn format(&mut self, t: LogTime) {
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
    pub(super) fn split_whole(&mut self, secs: i64, offset: jiff::tz::Offset) {
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
pub(super) fn fraction_text(nanos: u32) -> ([u8; 10], usize) {
    let first = nanos / 100_000_000;
    let rest = digit_values(nanos - first * 100_000_000);
    let zeros = (rest.leading_zeros() / 8) as usize;
    let mut d = [b'.'; 10];
    d[1] = b'0' + first as u8;
    d[2..].copy_from_slice(&(rest | splat(b'0')).to_le_bytes());
    (d, 10 - zeros)
}

/// In jiff's `…THH:MM:SS±HH:MM[:SS]`, where the offset starts: the last sign after the `T`,
/// provided two digits of seconds precede it.
pub(super) fn offset_start(text: &[u8]) -> Option<usize> {
    let t = memchr::memchr(b'T', text)?;
    let sign = t + text[t..].iter().rposition(|&c| c == b'+' || c == b'-')?;
    let ok = sign >= t + 9
        && text[sign - 3] == b':'
        && text[sign - 2].is_ascii_digit()
        && text[sign - 1].is_ascii_digit();
    ok.then_some(sign)
}

/// Every byte printable ASCII other than `"` and `\`: a JSON string as it is.
#[inline]
pub(super) fn json_plain(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// Every byte `is_ascii_graphic` (0x21 to 0x7e).
#[inline]
pub(super) fn all_graphic(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_graphic)
}

/// A user name for the table, in its 16 columns: control characters, spaces and every
/// non-ASCII character escaped (`\x20`, `\u{ff52}`), so a crafted name can neither move
/// the terminal's cursor, fake columns, pass for another (`ｒｏｏｔ` is not `root`) nor
/// push the columns after it; a longer name is cut to 15 and ends in `…` (`--json` has
/// it whole).
pub(super) fn push_printable(buf: &mut Vec<u8>, user: &[u8]) {
    if user.is_empty() {
        buf.extend_from_slice(b"\"\"");
        return;
    }
    let start = buf.len();
    if all_graphic(user) {
        buf.extend_from_slice(user);
    } else {
        for c in String::from_utf8_lossy(user).chars() {
            if c == ' ' {
                buf.extend_from_slice(b"\\x20");
            } else if c.is_control() {
                let _ = write!(buf, "{}", c.escape_default());
            } else if c.is_ascii() {
                buf.push(c as u8);
            } else {
                let _ = write!(buf, "{}", c.escape_unicode());
            }
        }
    }
    if buf.len() - start > USER_COLUMN {
        buf.truncate(start + USER_COLUMN - 1);
        buf.extend_from_slice("…".as_bytes());
    }
}

/// The width of the table's USER column.
pub(super) const USER_COLUMN: usize = 16;

/// A JSON string of lossy UTF-8 `bytes`; printable ASCII (nearly every user name) is
/// copied as is.
pub(super) fn json_str(buf: &mut Vec<u8>, bytes: &[u8]) {
    if json_plain(bytes) {
        buf.push(b'"');
        buf.extend_from_slice(bytes);
        buf.push(b'"');
        return;
    }
    // serde_json's escaping is correct for every char; a Vec<u8> writer cannot fail.
    let _ = serde_json::to_writer(&mut *buf, &String::from_utf8_lossy(bytes));
}
