//! Envelopes: splitting a log line into its timestamp, the sshd process's pid and the
//! message body, for every log shape we accept (openssh-messages.md §5), and refusing every
//! line that is not from sshd.
//!
//! A line is sshd's only when its tag is exactly `sshd`, `sshd-session` or `sshd-auth`
//! **with** a `[pid]`: sshd always logs with `LOG_PID`, so `logger -t sshd …` lines (no pid)
//! are forgeries or other programs. The tag is found before any message parsing, so other
//! programs' lines cost a timestamp check and a few byte comparisons.
//!
//! Accepted shapes (see the tests for one line of each):
//! RFC 3164 (host optional, FQDN host, padded or unpadded day, journalctl `short` and
//! `short-precise`), RFC 3339 (rsyslog; journalctl `short-iso[-precise]`, with or without the
//! offset's colon), journalctl `short-full` and `short-unix`, raw datagrams with a `<PRI>`
//! prefix, RFC 5424, busybox's `facility.level` field, FreeBSD's `<4.3>`/`<auth.info>` field,
//! Solaris's `[ID n facility.level]` body prefix, macOS's `log show --style syslog` (a
//! space for the `T`), socklog's svlogd stamp and `facility.level:` field, the `host
//! program[pid]: message` form of fail2ban's journal corpus (no time), and bare `sshd -E`
//! output (no envelope, no time, no pid).

use super::time::{self, RawTime};
use crate::bytes::{self, decimal, find_byte, word};

/// The parts of a line that belong to the log, not to sshd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub time: Option<RawTime>,
    /// What stands between the timestamp and the tag (the host name, and a facility field
    /// where the log writes one), empty when nothing does: with the pid, it tells the
    /// processes of an aggregated log apart.
    pub host: &'a [u8],
    pub pid: Option<u32>,
    pub body: &'a [u8],
    /// No envelope at all: bare `sshd -E` output, the whole line is the message.
    pub bare: bool,
}

/// How many tokens may stand between the timestamp and the tag: a host name and a facility
/// field (busybox `auth.info`, FreeBSD `<4.3>`).
const MAX_SKIPPED: usize = 2;

/// The last timestamp read and the bytes it was read from, separating space included.
/// Consecutive lines mostly start with the same stamp (RFC 3164 stamps change once a
/// second), and every timestamp parser reads no byte past the ones it consumes, so a line
/// that starts with those bytes has that timestamp, whatever follows.
#[derive(Debug, Clone)]
pub(crate) struct StampCache {
    text: [u8; STAMP_MAX],
    len: usize,
    raw: Option<RawTime>,
    /// The first 19 bytes of the last RFC 3339 stamp (date and time to the second) and
    /// what they say: with a fraction, consecutive stamps share only those.
    head: [u8; 19],
    head_civil: Option<time::Civil>,
    /// The last RFC 3339 stamp with a short fraction, for the stamps of its second.
    second: Option<SecondStamp>,
}

impl Default for StampCache {
    fn default() -> Self {
        StampCache {
            text: [0; STAMP_MAX],
            len: 0,
            raw: None,
            head: [0; 19],
            head_civil: None,
            second: None,
        }
    }
}

/// An RFC 3339 stamp with a fraction of one to eight digits and its separating space, split
/// around those digits: `YYYY-MM-DDTHH:MM:SS.`, how many digits, and the offset and space
/// after them (at most `+hh:mm `, seven bytes). rsyslog writes microseconds, so in its logs
/// the stamp changes on nearly every line but mostly only in its digits. A stamp that has
/// the same bytes but for as many other digits names the same second and offset, so its
/// instant is this one's with its own fraction: [`SecondStamp::read`] checks that with a
/// few word compares and converts the digits in one word, without parsing the date, time
/// and offset again or working out their instant.
#[derive(Debug, Clone, Copy)]
struct SecondStamp {
    head: [u8; 20],
    digits: usize,
    /// The mask of the digits' bytes in a word.
    digit_mask: u64,
    /// The bytes after the digits, first byte lowest, and the mask of those bytes.
    tail: u64,
    tail_mask: u64,
    tail_len: usize,
    /// The stamp's whole seconds since the epoch, and its offset.
    secs: i64,
    offset: i32,
}

impl SecondStamp {
    /// The split of `stamp` (the RFC 3339 stamp and its space, just read as `raw`), if its
    /// fraction has one to eight digits. A ninth digit would not be read by the word.
    fn new(stamp: &[u8], raw: RawTime) -> Option<SecondStamp> {
        let RawTime::Offset(written, offset) = raw else {
            return None;
        };
        let head: [u8; 20] = *stamp.first_chunk()?;
        if head[19] != b'.' {
            return None;
        }
        let digits = stamp[20..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let tail = &stamp[20 + digits..];
        if !(1..=8).contains(&digits) || tail.len() > 8 {
            return None;
        }
        let mut word = [0; 8];
        word[..tail.len()].copy_from_slice(tail);
        Some(SecondStamp {
            head,
            digits,
            digit_mask: bytes::digit_mask(digits),
            tail: u64::from_le_bytes(word),
            tail_mask: bytes::digit_mask(tail.len()),
            tail_len: tail.len(),
            secs: written.secs,
            offset,
        })
    }

    /// The time of the stamp at the start of `b` and the rest after its space, if the stamp
    /// differs from this one only in its digits (as many of them). Needs eight bytes past
    /// the digits and the stamp; the general parse takes shorter lines. The tail's first
    /// byte is a sign or `Z`, so no ninth digit can follow.
    #[inline]
    fn read<'a>(&self, b: &'a [u8]) -> Option<(RawTime, &'a [u8])> {
        let head = b.first_chunk::<20>()?;
        let digits = word(b.get(20..28)?);
        let end = 20 + self.digits;
        let tail = word(b.get(end..end + 8)?);
        if *head != self.head
            || bytes::leading_digits(digits) != self.digits
            || (tail ^ self.tail) & self.tail_mask != 0
        {
            return None;
        }
        let written = time::Written {
            secs: self.secs,
            nanos: bytes::masked_digits(digits, self.digit_mask) * 10,
        };
        Some((
            RawTime::Offset(written, self.offset),
            &b[end + self.tail_len..],
        ))
    }
}

/// The longest stamp kept (`Tue 2026-11-24 12:30:07.123456789 +0100 ` is 40 bytes).
const STAMP_MAX: usize = 48;

impl StampCache {
    /// The timestamp at the start of `b` and the rest after its space. The check for a
    /// stamp of the last RFC 3339 second is inlined where lines are split; the rest is not.
    #[inline]
    fn timestamp<'a>(&mut self, b: &'a [u8]) -> Option<(RawTime, &'a [u8])> {
        if let Some(second) = &self.second
            && let Some(found) = second.read(b)
        {
            return Some(found);
        }
        self.timestamp_again(b)
    }

    /// [`StampCache::timestamp`] for a stamp not of the last RFC 3339 second.
    #[inline(never)]
    fn timestamp_again<'a>(&mut self, b: &'a [u8]) -> Option<(RawTime, &'a [u8])> {
        if let Some(raw) = self.raw
            && b.get(..self.len)
                .is_some_and(|head| *head == self.text[..self.len])
        {
            return Some((raw, &b[self.len..]));
        }
        let (raw, rest) = match b.get(..19) {
            // The RFC 3339 branch of `timestamp`, reusing the date and time of the last stamp
            // when the line starts with the same 19 bytes.
            Some(head) if b[0].is_ascii_digit() && b[4] == b'-' => {
                let civil = match self.head_civil {
                    Some(c) if *head == self.head => c,
                    _ => {
                        let c = time::rfc3339_head(b)?;
                        self.head.copy_from_slice(head);
                        self.head_civil = Some(c);
                        c
                    }
                };
                let (t, rest) = time::rfc3339_tail(b, civil)?;
                let rest = rest.strip_prefix(b" ")?;
                if let Some(second) = SecondStamp::new(&b[..b.len() - rest.len()], t) {
                    self.second = Some(second);
                }
                (t, rest)
            }
            _ => timestamp(b)?,
        };
        let used = b.len() - rest.len();
        if used <= STAMP_MAX {
            self.text[..used].copy_from_slice(&b[..used]);
            self.len = used;
            self.raw = Some(raw);
        }
        Some((raw, rest))
    }
}

/// Splits `line` (no line end) or says it is not an sshd line.
#[cfg(test)]
pub(crate) fn split(line: &[u8]) -> Option<Envelope<'_>> {
    split_with(line, &mut StampCache::default())
}

/// [`split`], reusing the timestamp of the previous line when `line` starts with its bytes.
pub(crate) fn split_with<'a>(line: &'a [u8], stamps: &mut StampCache) -> Option<Envelope<'a>> {
    match *line.first()? {
        b'<' => {
            let rest = pri(line)?;
            if let Some(rest) = rest.strip_prefix(b"1 ") {
                return rfc5424(rest);
            }
            let (time, rest) = stamps.timestamp(rest)?;
            tagged(Some(time), rest)
        }
        b'0'..=b'9' => {
            let (time, rest) = stamps.timestamp(line)?;
            tagged(Some(time), rest)
        }
        // journalctl's `-- Boot … --`, `-- No entries --`, `-- Logs begin … --`.
        b'-' => None,
        b'A'..=b'Z' => match stamps.timestamp(line) {
            Some((time, rest)) => tagged(Some(time), rest),
            None => untimed(line),
        },
        _ => untimed(line),
    }
}

/// `<PRI>`: one to three digits.
fn pri(line: &[u8]) -> Option<&[u8]> {
    let close = line.iter().take(5).position(|&c| c == b'>')?;
    let digits = &line[1..close];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(&line[close + 1..])
}

/// Any timestamp form at the start of `b`, and the rest after its separating space.
fn timestamp(b: &[u8]) -> Option<(RawTime, &[u8])> {
    match *b.first()? {
        b'0'..=b'9' => {
            if b.get(4) == Some(&b'-') {
                let (t, rest) = time::parse_rfc3339(b)?;
                Some((t, rest.strip_prefix(b" ")?))
            } else {
                time::parse_unix(b)
            }
        }
        _ => time::parse_rfc3164(b).or_else(|| time::parse_short_full(b)),
    }
}

/// After the timestamp: `[host] [facility] tag[pid]: body`.
fn tagged(time: Option<RawTime>, rest: &[u8]) -> Option<Envelope<'_>> {
    if let Some((host, pid, after)) = host_sshd(rest) {
        return Some(Envelope {
            time,
            host,
            pid: Some(pid),
            body: body(after)?,
            bare: false,
        });
    }
    tagged_slow(time, rest)
}

/// The common shapes `host sshd[pid]: ` and `host sshd-session[pid]: ` by fixed-size
/// compares: the pid and what follows the `: `. For these [`tagged_slow`] skips the host
/// (one word, not ending in `:`), takes `sshd[pid]:` as the tag and the same body; anything
/// else, including a pid it would refuse, is left to it (a proptest compares the two).
#[inline]
fn host_sshd(rest: &[u8]) -> Option<(&[u8], u32, &[u8])> {
    let h = find_byte(rest, b' ')?;
    if h == 0 || rest[h - 1] == b':' {
        return None;
    }
    let tag = &rest[h + 1..];
    let digits = if tag.first_chunk::<5>() == Some(b"sshd[") {
        &tag[5..]
    } else if tag.first_chunk::<13>() == Some(b"sshd-session[") {
        &tag[13..]
    } else {
        return None;
    };
    let (n, pid) = leading_digits(digits);
    if n == 0 || n > 10 || digits.get(n..)?.first_chunk::<3>() != Some(b"]: ") {
        return None;
    }
    Some((&rest[..h], u32::try_from(pid).ok()?, &digits[n + 3..]))
}

/// How many decimal digits `d` starts with (at most 11: more refuse anyway) and their
/// value, in one pass.
fn leading_digits(d: &[u8]) -> (usize, u64) {
    let mut v = 0u64;
    let mut n = 0;
    for &c in d.iter().take(11) {
        if !c.is_ascii_digit() {
            break;
        }
        v = v * 10 + u64::from(c - b'0');
        n += 1;
    }
    (n, v)
}

/// [`tagged`] by the general loop.
fn tagged_slow(time: Option<RawTime>, mut rest: &[u8]) -> Option<Envelope<'_>> {
    while let [b' ', tail @ ..] = rest {
        rest = tail;
    }
    let start = rest;
    for _ in 0..=MAX_SKIPPED {
        while let [b' ', tail @ ..] = rest {
            rest = tail;
        }
        // Header words are short: a word-at-a-time scan beats a vectorised search's setup.
        let end = find_byte(rest, b' ')?;
        let token = &rest[..end];
        if token.last() == Some(&b':') && !is_ipv6_host(token) {
            // socklog: `facility.level: `, then the tag or the sender's RFC 3164 stamp
            // and the tag.
            if is_socklog_field(token) {
                let after = &rest[end + 1..];
                let after = time::parse_rfc3164(after)
                    .map(|(_, r)| r.strip_prefix(b" ").unwrap_or(r))
                    .unwrap_or(after);
                return tagged_slow(time, after).map(|e| Envelope { host: b"", ..e });
            }
            let pid = sshd_tag(token)?;
            let host = start[..start.len() - rest.len()].trim_ascii_end();
            return Some(Envelope {
                time,
                host,
                pid: Some(pid),
                body: body(&rest[end + 1..])?,
                bare: false,
            });
        }
        rest = &rest[end..];
    }
    None
}

/// A host token written as an IPv6 address may end in `:` (`2001:db8::`); a tag never holds
/// a colon before its last byte.
fn is_ipv6_host(token: &[u8]) -> bool {
    !token.ends_with(b"]:") && memchr::memchr(b':', &token[..token.len() - 1]).is_some()
}

/// `name[pid]:` with an sshd name: the pid. Anything else is another program.
fn sshd_tag(token: &[u8]) -> Option<u32> {
    let inner = token.strip_suffix(b"]:")?;
    // A tag is a dozen bytes: a short scan.
    let open = find_byte(inner, b'[')?;
    if !is_sshd_name(&inner[..open]) {
        return None;
    }
    decimal_u32(&inner[open + 1..])
}

/// `sshd`, `sshd-session` or `sshd-auth`, compared as fixed-size arrays (integer compares;
/// a match on slices calls `bcmp`).
fn is_sshd_name(name: &[u8]) -> bool {
    match name.len() {
        4 => <[u8; 4]>::try_from(name).is_ok_and(|n| n == *b"sshd"),
        9 => <[u8; 9]>::try_from(name).is_ok_and(|n| n == *b"sshd-auth"),
        12 => <[u8; 12]>::try_from(name).is_ok_and(|n| n == *b"sshd-session"),
        _ => false,
    }
}

fn decimal_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    // Ten digits fit a u64, so the range is checked once at the end.
    u32::try_from(decimal(digits)?).ok()
}

/// The message after the tag: drops Solaris's `[ID 800047 auth.info] ` message-id prefix,
/// which syslogd adds, not sshd. An empty message is not an event.
fn body(b: &[u8]) -> Option<&[u8]> {
    let b = match b.strip_prefix(b"[ID ") {
        Some(rest) => {
            let close = rest.iter().take(64).position(|&c| c == b']')?;
            rest[close + 1..].strip_prefix(b" ")?
        }
        None => b,
    };
    if b.is_empty() { None } else { Some(b) }
}

/// A line with no timestamp: fail2ban's journal form `host sshd[pid]: message`, a bare
/// `sshd[pid]: message`, or else bare `sshd -E` output, which is the whole line.
fn untimed(line: &[u8]) -> Option<Envelope<'_>> {
    let first_end = memchr::memchr(b' ', line);
    let first = &line[..first_end.unwrap_or(line.len())];
    if first.ends_with(b"]:") {
        return Some(Envelope {
            time: None,
            host: b"",
            pid: Some(sshd_tag(first)?),
            body: body(&line[first_end? + 1..])?,
            bare: false,
        });
    }
    if let Some(fe) = first_end {
        let rest = &line[fe + 1..];
        if let Some(second_end) = memchr::memchr(b' ', rest) {
            let second = &rest[..second_end];
            if second.ends_with(b"]:") {
                return Some(Envelope {
                    time: None,
                    host: first,
                    pid: Some(sshd_tag(second)?),
                    body: body(&rest[second_end + 1..])?,
                    bare: false,
                });
            }
        }
    }
    // Bare `sshd -E` output. A line here may be a fragment forged with a raw LF in a user
    // name (§4.6): sshd ends each genuine line with CR LF, so the parser drops the lines
    // that came without the CR.
    Some(Envelope {
        time: None,
        host: b"",
        pid: None,
        body: line,
        bare: true,
    })
}

/// socklog's `facility.level:` (`auth.info:`, `authpriv.notice:`, `local7.err:`).
fn is_socklog_field(token: &[u8]) -> bool {
    let Some(field) = token.strip_suffix(b":") else {
        return false;
    };
    let Some(dot) = find_byte(field, b'.') else {
        return false;
    };
    let (facility, level) = (&field[..dot], &field[dot + 1..]);
    !facility.is_empty()
        && facility.len() <= 8
        && facility
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && matches!(
            level,
            b"emerg"
                | b"alert"
                | b"crit"
                | b"err"
                | b"warning"
                | b"warn"
                | b"notice"
                | b"info"
                | b"debug"
        )
}

/// RFC 5424 after `<PRI>1 `: `TIMESTAMP HOST APP-NAME PROCID MSGID SD MSG`.
fn rfc5424(b: &[u8]) -> Option<Envelope<'_>> {
    let (time, rest) = if let Some(rest) = b.strip_prefix(b"- ") {
        (None, rest)
    } else {
        let (t, rest) = time::parse_rfc3339(b)?;
        (Some(t), rest.strip_prefix(b" ")?)
    };
    let (host, rest) = field(rest)?;
    let (app, rest) = field(rest)?;
    if !matches!(app, b"sshd" | b"sshd-session" | b"sshd-auth") {
        return None;
    }
    // PROCID `-`: the sender gave no pid, so it is not sshd.
    let (procid, rest) = field(rest)?;
    let pid = decimal_u32(procid)?;
    let (_msgid, rest) = field(rest)?;
    let rest = structured_data(rest)?;
    // The separating space, then rsyslog's legacy leading space (two spaces after `- -`).
    let mut msg = rest.strip_prefix(b" ")?;
    while let [b' ', tail @ ..] = msg {
        msg = tail;
    }
    let msg = msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg);
    Some(Envelope {
        time,
        host,
        pid: Some(pid),
        body: body(msg)?,
        bare: false,
    })
}

/// One space-terminated header field of RFC 5424 and the rest after the space.
fn field(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(b' ', b)?;
    if end == 0 {
        return None;
    }
    Some((&b[..end], &b[end + 1..]))
}

/// Skips STRUCTURED-DATA: `-` or one or more `[id param="value" …]` elements. Values are
/// quoted and may hold `]` (fail2ban's corpus has `test="[brackets]"`) and escapes `\"`,
/// `\\`, `\]`. Returns what follows the last element.
fn structured_data(b: &[u8]) -> Option<&[u8]> {
    if let Some(rest) = b.strip_prefix(b"-") {
        return Some(rest);
    }
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        i += 1;
        let mut quoted = false;
        loop {
            match *b.get(i)? {
                b'\\' if quoted => i += 2,
                b'"' => {
                    quoted = !quoted;
                    i += 1;
                }
                b']' if !quoted => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
    }
    if i == 0 { None } else { b.get(i..) }
}

#[cfg(test)]
mod tests;
