//! Timestamps of log envelopes: recognising each written form and turning it into a
//! [`LogTime`].
//!
//! Recognition ([`parse_rfc3164`], [`parse_rfc3339`], …) is stateless and only reads bytes at
//! fixed places. Resolution ([`Clock::resolve`]) needs the configured zone and the reference
//! instant for zone-less, year-less stamps; it keeps a two-slot cache keyed by the local hour,
//! because a log file's lines share their date and hour and jiff's zone lookup costs far more
//! than the rest of a line's parse. Nothing here reads the real clock.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};

use crate::event::LogTime;

/// A timestamp as written, before the zone and year are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawTime {
    /// RFC 3164 and journalctl `short`/`short-precise`: no year, no zone.
    NoYear(Civil),
    /// journalctl `short-full` with a zone abbreviation we cannot map: local time, full date.
    Local(Civil),
    /// A full date and time with the UTC offset it was written with, as the instant it names
    /// (see [`Written`]) and the offset in seconds.
    Offset(Written, i32),
    /// journalctl `short-unix`: seconds and nanoseconds since the epoch.
    Unix(i64, u32),
}

/// The instant of a stamp that carries its own offset, as UTC seconds since the epoch and
/// nanoseconds, not yet range-checked by jiff (that is [`Clock::resolve`]'s part). It is
/// worked out when the stamp is read, so that a cached stamp of the same second, of which
/// only the fraction changes, carries it at no cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    pub secs: i64,
    pub nanos: u32,
}

impl Written {
    /// `c` written with the UTC offset `offset` (seconds east).
    fn new(c: Civil, offset: i32) -> Written {
        let secs = days_from_civil(c.year, c.month, c.day) * 86_400
            + i64::from(c.hour) * 3600
            + i64::from(c.minute) * 60
            + i64::from(c.second)
            - i64::from(offset);
        Written {
            secs,
            nanos: c.nanos,
        }
    }
}

/// Calendar fields, already range-checked (day against the month only when the year is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanos: u32,
}

/// The C-locale month abbreviation's number. A match on the three bytes compiles to integer
/// comparisons, where a table of slices would call `memcmp` up to twelve times per line.
fn month_number(m: &[u8]) -> Option<u8> {
    Some(match m {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

fn is_weekday(d: &[u8]) -> bool {
    matches!(
        d,
        b"Mon" | b"Tue" | b"Wed" | b"Thu" | b"Fri" | b"Sat" | b"Sun"
    )
}

fn digits2(b: &[u8], at: usize) -> Option<u8> {
    let (h, l) = (*b.get(at)?, *b.get(at + 1)?);
    if h.is_ascii_digit() && l.is_ascii_digit() {
        Some((h - b'0') * 10 + (l - b'0'))
    } else {
        None
    }
}

fn digits4(b: &[u8], at: usize) -> Option<i16> {
    let hi = i16::from(digits2(b, at)?);
    let lo = i16::from(digits2(b, at + 2)?);
    Some(hi * 100 + lo)
}

/// `hh:mm:ss` at `at`; a leap second is read as :59 so the instant stays in its minute.
fn clock(b: &[u8], at: usize) -> Option<(u8, u8, u8)> {
    let hour = digits2(b, at)?;
    let minute = digits2(b, at + 3)?;
    let second = digits2(b, at + 6)?;
    if b.get(at + 2) != Some(&b':') || b.get(at + 5) != Some(&b':') {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some((hour, minute, second.min(59)))
}

/// An optional `.fraction` at `at`: returns nanoseconds and the index after it. Digits
/// past nanoseconds are read and dropped.
pub(crate) fn fraction(b: &[u8], at: usize) -> Option<(u32, usize)> {
    if b.get(at) != Some(&b'.') {
        return Some((0, at));
    }
    let mut i = at + 1;
    let mut nanos: u32 = 0;
    let mut scale: u32 = 100_000_000;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        nanos += u32::from(c - b'0') * scale;
        scale /= 10;
        i += 1;
    }
    if i == at + 1 {
        return None;
    }
    Some((nanos, i))
}

fn days_in_month(year: i16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn is_leap(year: i16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm): cheaper
/// than building a jiff date for every line that carries its own offset.
fn days_from_civil(year: i16, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Nov 24 12:00:07`, `Nov  4 …`, `Feb 7 …`, optionally `.654321` (journalctl short-precise),
/// then a space. Returns the time and the rest after that space.
pub(crate) fn parse_rfc3164(b: &[u8]) -> Option<(RawTime, &[u8])> {
    let month = month_number(b.get(..3)?)?;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let mut i = 4;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let d1 = *b.get(i)?;
    if !d1.is_ascii_digit() {
        return None;
    }
    let mut day = d1 - b'0';
    i += 1;
    if let Some(&d2) = b.get(i)
        && d2.is_ascii_digit()
    {
        day = day * 10 + (d2 - b'0');
        i += 1;
    }
    if day == 0 || day > 31 || b.get(i) != Some(&b' ') {
        return None;
    }
    let (hour, minute, second) = clock(b, i + 1)?;
    let (nanos, end) = fraction(b, i + 9)?;
    if b.get(end) != Some(&b' ') {
        return None;
    }
    let civil = Civil {
        year: 0,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    Some((RawTime::NoYear(civil), &b[end + 1..]))
}

/// `YYYY-MM-DD` at the start: the fields, checked.
fn date(b: &[u8]) -> Option<(i16, u8, u8)> {
    let year = digits4(b, 0)?;
    let month = digits2(b, 5)?;
    let day = digits2(b, 8)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day))
}

/// RFC 3339 (rsyslog, RFC 5424, journalctl short-iso[-precise]): `2026-11-24T12:10:03.512311+01:00`,
/// `…Z`, or journalctl's older `+0100`; also macOS's `2026-11-24 12:10:03.512311+0100` and
/// svlogd's UTC `2026-11-24_12:10:03.51231` (no offset: UTC). Returns the time and the
/// rest after it (not consuming the following space).
pub(crate) fn parse_rfc3339(b: &[u8]) -> Option<(RawTime, &[u8])> {
    rfc3339_tail(b, rfc3339_head(b)?)
}

/// The first 19 bytes of an RFC 3339 stamp, `YYYY-MM-DDTHH:MM:SS`, as a [`Civil`] without
/// its fraction. Reads no byte past them.
pub(crate) fn rfc3339_head(b: &[u8]) -> Option<Civil> {
    let (year, month, day) = date(b)?;
    // `T`; a space in macOS's `log show --style syslog`; `_` in svlogd's `-tt` (socklog).
    if !matches!(b.get(10), Some(b'T' | b' ' | b'_')) {
        return None;
    }
    let (hour, minute, second) = clock(b, 11)?;
    Some(Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos: 0,
    })
}

/// The rest of an RFC 3339 stamp from byte 19 (fraction and offset), `head` being what
/// [`rfc3339_head`] read from the first 19 bytes.
pub(crate) fn rfc3339_tail(b: &[u8], head: Civil) -> Option<(RawTime, &[u8])> {
    let Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        ..
    } = head;
    let (nanos, mut i) = fraction(b, 19)?;
    let offset = match *b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let oh = digits2(b, i + 1)?;
            let (om, len) = if b.get(i + 3) == Some(&b':') {
                (digits2(b, i + 4)?, 6)
            } else {
                (digits2(b, i + 3)?, 5)
            };
            if oh > 25 || om > 59 {
                return None;
            }
            i += len;
            let secs = i32::from(oh) * 3600 + i32::from(om) * 60;
            if sign == b'-' { -secs } else { secs }
        }
        // No offset but a fraction: svlogd (socklog) writes UTC so. A stamp with neither
        // names no instant we could trust.
        b' ' if i > 20 => 0,
        _ => return None,
    };
    let civil = Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    Some((
        RawTime::Offset(Written::new(civil, offset), offset),
        &b[i..],
    ))
}

/// journalctl `short-unix`: `1795519808.000123 `. Returns the time and the rest after the space.
pub(crate) fn parse_unix(b: &[u8]) -> Option<(RawTime, &[u8])> {
    let dot = b.iter().take(13).position(|&c| c == b'.')?;
    if dot == 0 || !b[..dot].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let secs: i64 = b[..dot]
        .iter()
        .fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0'));
    let (nanos, end) = fraction(b, dot)?;
    if b.get(end) != Some(&b' ') {
        return None;
    }
    Some((RawTime::Unix(secs, nanos), &b[end + 1..]))
}

/// journalctl `short-full`: `Tue 2026-11-24 12:30:07 CET `. A zone abbreviation is not a
/// zone (`CST` has three meanings), so only `UTC`/`GMT` and numeric `+hh[mm]` are taken as
/// written; any other abbreviation is read as the configured zone, which is the zone
/// journalctl printed in when it runs on this host.
pub(crate) fn parse_short_full(b: &[u8]) -> Option<(RawTime, &[u8])> {
    let wd = b.get(..3)?;
    if !is_weekday(wd) || b.get(3) != Some(&b' ') {
        return None;
    }
    let b = &b[4..];
    let (year, month, day) = date(b)?;
    if b.get(10) != Some(&b' ') {
        return None;
    }
    let (hour, minute, second) = clock(b, 11)?;
    let (nanos, end) = fraction(b, 19)?;
    if b.get(end) != Some(&b' ') {
        return None;
    }
    let rest = &b[end + 1..];
    let zlen = memchr::memchr(b' ', rest)?;
    let zone = &rest[..zlen];
    let civil = Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    let raw = match zone {
        b"UTC" | b"GMT" | b"Z" => RawTime::Offset(Written::new(civil, 0), 0),
        [sign @ (b'+' | b'-'), ..] if matches!(zone.len(), 3 | 5) => {
            let oh = digits2(zone, 1)?;
            let om = if zone.len() == 5 {
                digits2(zone, 3)?
            } else {
                0
            };
            let secs = i32::from(oh) * 3600 + i32::from(om) * 60;
            let offset = if *sign == b'-' { -secs } else { secs };
            RawTime::Offset(Written::new(civil, offset), offset)
        }
        _ if !zone.is_empty() && zone.iter().all(u8::is_ascii_alphabetic) => RawTime::Local(civil),
        _ => return None,
    };
    Some((raw, &rest[zlen + 1..]))
}

/// One cached local hour: the UTC seconds of `hh:00:00` and the offset in force then.
#[derive(Debug, Clone, Copy)]
struct HourSlot {
    key: u64,
    base: i64,
    offset: Offset,
}

/// Applies the zone and the reference instant; caches per local hour.
#[derive(Debug)]
pub(crate) struct Clock {
    tz: TimeZone,
    reference: Timestamp,
    ref_year: i16,
    slots: [Option<HourSlot>; 2],
    next: usize,
}

impl Clock {
    pub(crate) fn new(tz: TimeZone, reference: Timestamp) -> Clock {
        let ref_year = tz.to_datetime(reference).year();
        Clock {
            tz,
            reference,
            ref_year,
            slots: [None; 2],
            next: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn resolve(&mut self, raw: RawTime) -> Option<LogTime> {
        // One `Timestamp::new` for every form: copies of it inlined here make the compiler
        // stop inlining.
        let (secs, nanos, offset) = match raw {
            RawTime::Offset(w, off) => (w.secs, w.nanos, Offset::from_seconds(off).ok()?),
            RawTime::Unix(secs, nanos) => (secs, nanos, Offset::UTC),
            RawTime::NoYear(c) => {
                let key = hour_key(0, c);
                let slot = match self.lookup(key) {
                    Some(slot) => slot,
                    None => {
                        let slot = self.no_year_hour(c)?;
                        self.store(key, slot)
                    }
                };
                slot.at(c)
            }
            RawTime::Local(c) => {
                let key = hour_key(c.year, c);
                let slot = match self.lookup(key) {
                    Some(slot) => slot,
                    None => {
                        let (base, offset) = self.local_hour(c.year, c)?;
                        self.store(key, HourSlot { key, base, offset })
                    }
                };
                slot.at(c)
            }
        };
        Some(LogTime {
            instant: Timestamp::new(secs, nanos as i32).ok()?,
            offset,
        })
    }

    fn lookup(&self, key: u64) -> Option<HourSlot> {
        self.slots.iter().flatten().find(|s| s.key == key).copied()
    }

    fn store(&mut self, key: u64, mut slot: HourSlot) -> HourSlot {
        slot.key = key;
        self.slots[self.next] = Some(slot);
        self.next = (self.next + 1) % self.slots.len();
        slot
    }

    /// `hh:00:00` of `c`'s date in `year`, in the configured zone. A time in a DST gap is
    /// moved forward and a repeated one takes the earlier instant (jiff's "compatible").
    fn local_hour(&self, year: i16, c: Civil) -> Option<(i64, Offset)> {
        let dt = DateTime::new(year, c.month as i8, c.day as i8, c.hour as i8, 0, 0, 0).ok()?;
        let ts = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
        Some((ts.as_second(), self.tz.to_offset(ts)))
    }

    /// The year is the reference's, unless that puts the line more than a day after the
    /// reference: then it is from last year (a December line read in January). A line at
    /// most an hour after the reference in the *next* year is from the next year (a January
    /// line read live by a daemon whose reference is still December). The choice is made per
    /// hour, which moves the cut-over by at most an hour. 29 February falls back to the
    /// latest leap year.
    fn no_year_hour(&self, c: Civil) -> Option<HourSlot> {
        let next = self.ref_year.checked_add(1)?;
        if c.day <= days_in_month(next, c.month) {
            let (base, offset) = self.local_hour(next, c)?;
            if base <= self.reference.as_second() + 3600 {
                return Some(HourSlot {
                    key: 0,
                    base,
                    offset,
                });
            }
        }
        let limit = self.reference.as_second() + 86_400;
        let mut year = self.ref_year;
        for _ in 0..9 {
            if c.day <= days_in_month(year, c.month) {
                let (base, offset) = self.local_hour(year, c)?;
                if base <= limit {
                    return Some(HourSlot {
                        key: 0,
                        base,
                        offset,
                    });
                }
            }
            year -= 1;
        }
        None
    }
}

impl HourSlot {
    /// The seconds, nanoseconds and offset of `c`, a time of this hour.
    #[inline(always)]
    fn at(&self, c: Civil) -> (i64, u32, Offset) {
        let secs = self.base + i64::from(c.minute) * 60 + i64::from(c.second);
        (secs, c.nanos, self.offset)
    }
}

fn hour_key(year: i16, c: Civil) -> u64 {
    // The year 0 stands for "no year written"; 0 is never a year we parse.
    (u64::from(year as u16) << 24)
        | (u64::from(c.month) << 16)
        | (u64::from(c.day) << 8)
        | u64::from(c.hour)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_at(tz: &str, reference: &str) -> Clock {
        Clock::new(
            TimeZone::get(tz).unwrap(),
            reference.parse::<Timestamp>().unwrap(),
        )
    }

    fn resolve(c: &mut Clock, raw: RawTime) -> String {
        c.resolve(raw).unwrap().to_string()
    }

    #[test]
    fn rfc3164_forms_and_rest() {
        for (line, day) in [
            (&b"Nov 24 12:00:07 host x"[..], 24),
            (b"Nov  4 12:00:07 host x", 4),
            (b"Feb 7 12:00:07 host x", 7),
        ] {
            let (raw, rest) = parse_rfc3164(line).unwrap();
            let RawTime::NoYear(c) = raw else { panic!() };
            assert_eq!((c.day, c.hour, c.minute, c.second), (day, 12, 0, 7));
            assert_eq!(rest, b"host x");
        }
        let (raw, rest) = parse_rfc3164(b"Nov 24 12:30:06.654321 gw4 x").unwrap();
        let RawTime::NoYear(c) = raw else { panic!() };
        assert_eq!(c.nanos, 654_321_000);
        assert_eq!(rest, b"gw4 x");
        for bad in [
            &b"Nov 24 25:00:07 h"[..],
            b"Nov 24 12:00:07",
            b"Nov 32 12:00:07 h",
            b"Nov 0 12:00:07 h",
            b"Noo 24 12:00:07 h",
            b"Nov 24 12:0:07 h",
            b"Nov 24 12:00:07.x h",
            b"",
        ] {
            assert!(parse_rfc3164(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn year_is_inferred_from_the_reference() {
        let mut c = clock_at("Europe/Berlin", "2026-11-24T12:00:00Z");
        let (raw, _) = parse_rfc3164(b"Nov 24 12:00:07 h").unwrap();
        assert_eq!(resolve(&mut c, raw), "2026-11-24T12:00:07+01:00");
        // Summer time of the same year uses the summer offset.
        let (raw, _) = parse_rfc3164(b"Jul  1 08:00:00 h").unwrap();
        assert_eq!(resolve(&mut c, raw), "2026-07-01T08:00:00+02:00");
        // A December line read in January is from last year.
        let mut c = clock_at("UTC", "2027-01-02T00:00:00Z");
        let (raw, _) = parse_rfc3164(b"Dec 31 23:59:59 h").unwrap();
        assert_eq!(resolve(&mut c, raw), "2026-12-31T23:59:59+00:00");
        // Up to a day ahead of the reference (clock skew) stays in the reference's year.
        let (raw, _) = parse_rfc3164(b"Jan  2 20:00:00 h").unwrap();
        assert_eq!(resolve(&mut c, raw), "2027-01-02T20:00:00+00:00");
        let (raw, _) = parse_rfc3164(b"Jan  4 00:00:00 h").unwrap();
        assert_eq!(resolve(&mut c, raw), "2026-01-04T00:00:00+00:00");
        // A January line at most an hour ahead of a December reference is from the next
        // year (a daemon reading live across New Year); further ahead it is not.
        let mut c = clock_at("UTC", "2026-12-31T23:59:30Z");
        let (raw, _) = parse_rfc3164(b"Jan  1 00:00:10 h").unwrap();
        assert_eq!(resolve(&mut c, raw), "2027-01-01T00:00:10+00:00");
        let mut c = clock_at("UTC", "2026-12-31T20:00:00Z");
        let (raw, _) = parse_rfc3164(b"Jan  1 00:00:10 h").unwrap();
        assert_eq!(resolve(&mut c, raw), "2026-01-01T00:00:10+00:00");
        // 29 February goes to the latest leap year.
        let mut c = clock_at("UTC", "2027-06-01T00:00:00Z");
        let (raw, _) = parse_rfc3164(b"Feb 29 10:00:00 h").unwrap();
        assert_eq!(resolve(&mut c, raw), "2024-02-29T10:00:00+00:00");
    }

    #[test]
    fn cache_keeps_hours_apart() {
        let mut c = clock_at("Europe/Berlin", "2026-11-24T12:00:00Z");
        for (line, want) in [
            (&b"Nov 24 12:00:07 h"[..], "2026-11-24T12:00:07+01:00"),
            (b"Nov 24 13:05:00 h", "2026-11-24T13:05:00+01:00"),
            (b"Nov 24 12:59:59 h", "2026-11-24T12:59:59+01:00"),
            (b"Nov 23 12:00:00 h", "2026-11-23T12:00:00+01:00"),
            (b"Nov 24 12:00:08 h", "2026-11-24T12:00:08+01:00"),
        ] {
            let (raw, _) = parse_rfc3164(line).unwrap();
            assert_eq!(resolve(&mut c, raw), want);
        }
    }

    #[test]
    fn rfc3339_offsets() {
        let mut c = clock_at("UTC", "2026-11-24T12:00:00Z");
        for (text, want) in [
            (
                &b"2026-11-24T12:10:03.512311+01:00 h"[..],
                "2026-11-24T12:10:03.512311+01:00",
            ),
            (b"2026-11-24T12:10:03Z h", "2026-11-24T12:10:03+00:00"),
            (b"2026-11-24T12:30:03+0100 h", "2026-11-24T12:30:03+01:00"),
            (
                b"2019-07-08T17:40:16.954167-04:00 h",
                "2019-07-08T17:40:16.954167-04:00",
            ),
            (b"2024-02-29T00:00:00-00:30 h", "2024-02-29T00:00:00-00:30"),
        ] {
            let (raw, rest) = parse_rfc3339(text).unwrap();
            assert_eq!(rest, b" h");
            assert_eq!(resolve(&mut c, raw), want);
        }
        let (raw, _) = parse_rfc3339(b"2026-11-24T12:10:03.5+01:00 h").unwrap();
        assert_eq!(
            c.resolve(raw).unwrap().instant,
            "2026-11-24T11:10:03.5Z".parse::<Timestamp>().unwrap()
        );
        for bad in [
            &b"2026-13-24T12:10:03Z"[..],
            b"2025-02-29T12:10:03Z",
            b"2026-11-24/12:10:03Z",
            b"2026-11-24T12:10:03",
            b"2026-11-24_12:10:03 h",
            b"2026-11-24T12:10:03+1",
            b"2026-11-24T12:10:03+01:6",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn unix_and_short_full() {
        let mut c = clock_at("Europe/Berlin", "2026-11-24T12:00:00Z");
        let (raw, rest) = parse_unix(b"1795519808.000123 gw4 x").unwrap();
        assert_eq!(rest, b"gw4 x");
        let t = c.resolve(raw).unwrap();
        assert_eq!(t.instant.as_second(), 1_795_519_808);
        assert_eq!(t.instant.subsec_microsecond(), 123);
        assert!(parse_unix(b"1795519808 gw4").is_none());
        assert!(parse_unix(b".5 gw4").is_none());

        let (raw, rest) = parse_short_full(b"Tue 2026-11-24 12:30:07 CET gw4 x").unwrap();
        assert_eq!(rest, b"gw4 x");
        assert_eq!(resolve(&mut c, raw), "2026-11-24T12:30:07+01:00");
        let (raw, _) = parse_short_full(b"Tue 2026-11-24 12:30:07 UTC gw4 x").unwrap();
        assert_eq!(resolve(&mut c, raw), "2026-11-24T12:30:07+00:00");
        let (raw, _) = parse_short_full(b"Tue 2026-11-24 12:30:07 +03 gw4 x").unwrap();
        assert_eq!(resolve(&mut c, raw), "2026-11-24T12:30:07+03:00");
        assert!(parse_short_full(b"Tue 2026-11-24 12:30:07").is_none());
        assert!(parse_short_full(b"Tux 2026-11-24 12:30:07 CET h").is_none());
    }

    #[test]
    fn days_from_civil_matches_jiff() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 11, 24), (1969, 12, 31)] {
            let want = jiff::civil::date(y, m as i8, d as i8)
                .to_zoned(TimeZone::UTC)
                .unwrap()
                .timestamp()
                .as_second()
                / 86_400;
            assert_eq!(days_from_civil(y, m, d), want);
        }
    }
}
