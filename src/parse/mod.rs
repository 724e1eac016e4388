//! parse: pure functions from one log line (bytes) to an [`Event`]. No I/O, no clock, no
//! allocation per line.
//!
//! A line goes through three steps:
//! 1. [`envelope`] finds the timestamp, the `sshd[pid]` tag and the message body, and refuses
//!    every line that is not sshd's (most lines of an auth log) after a few byte comparisons;
//! 2. rsyslog's `message repeated N times: [ … ]` is unwrapped into the inner message and N;
//! 3. [`sshd`] turns the body into an event, taking the address only where the message's
//!    format puts it (the module comment explains the injection defences).
//!
//! The timestamp is resolved last ([`time`]), only for lines that are events.
//!
//! A line that names no address takes the one an earlier line of the same sshd process
//! named ([`procs`]), or gives nothing.

mod envelope;
mod procs;
mod sshd;
mod time;

#[cfg(test)]
mod by_pid_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use sshd::{Message, Origin, TRUNCATED_AT, parse_message};

use crate::event::{Event, Kind, Msg};

/// The most a `message repeated N times` line may stand for: a larger N is a corrupt or
/// forged line, and the detector only needs to know it is a lot.
pub const MAX_REPEAT: u32 = 1_000_000;

/// Turns lines into events. Holds the time zone used for timestamps without one, the
/// reference instant used to infer the year of RFC 3164 timestamps, a small cache of
/// zone offsets per local hour, and the address each sshd process named last.
#[derive(Debug)]
pub struct Parser {
    clock: time::Clock,
    stamps: envelope::StampCache,
    procs: procs::Procs,
}

impl Parser {
    /// `tz`: zone for timestamps without an offset (RFC 3164); `reference`: instant used to
    /// infer the year of RFC 3164 timestamps (file mtime or now). Pure: never reads the clock
    /// or files.
    pub fn new(tz: jiff::tz::TimeZone, reference: jiff::Timestamp) -> Parser {
        Parser {
            clock: time::Clock::new(tz, reference),
            stamps: envelope::StampCache::default(),
            procs: procs::Procs::default(),
        }
    }

    /// One line without its trailing `\n` (a trailing `\r`, as `sshd -E` writes, is
    /// dropped). `None` when the line is not an sshd line, or an sshd line that is not an
    /// event we count.
    ///
    /// A line with no envelope (bare `sshd -E` output) counts only when it ended in CR
    /// LF: sshd writes every line of its log file so, and leaves a raw LF inside a user
    /// name, so an LF-only line there is a fragment an attacker wrote
    /// (openssh-messages.md §4.6).
    pub fn parse<'a>(&mut self, line: &'a [u8]) -> Option<Event<'a>> {
        let (line, crlf) = match line.strip_suffix(b"\r") {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        let env = envelope::split_with(line, &mut self.stamps)?;
        if env.bare && !crlf {
            return None;
        }
        let (body, count) = unwrap_repeated(env.body)?;
        let Some(m) = sshd::parse_message(body) else {
            if let (Some(pid), Some(b'C' | b'R' | b'D')) = (env.pid, body.first()) {
                match sshd::boundary(body) {
                    Some(sshd::Boundary::Start(addr)) => {
                        let time = env.time.and_then(|raw| self.clock.resolve(raw));
                        self.procs.started(env.host, pid, addr, time);
                    }
                    Some(sshd::Boundary::End(addr)) => self.procs.ended(env.host, pid, Some(addr)),
                    None => {}
                }
            }
            return None;
        };
        let time = match env.time {
            Some(raw) => self.clock.resolve(raw),
            None => None,
        };
        let (addr, by_pid) = match m.addr {
            sshd::Origin::Named(addr) => (addr, false),
            _ => self.unnamed(&env, &m, time)?,
        };
        if let Some(pid) = env.pid {
            let ended = m.kind == Kind::Success || ends_connection(m.msg);
            self.procs.saw(env.host, pid, addr, by_pid, ended, time);
        }
        Some(Event {
            time,
            kind: m.kind,
            msg: m.msg,
            addr,
            by_pid,
            port: m.port,
            user: m.user,
            method: m.method,
            count,
            pid: env.pid,
        })
    }

    /// The address of a line that names none, or only doubtfully (see [`sshd::Origin`]),
    /// and whether it came from the process's earlier lines.
    #[cold]
    #[inline(never)]
    fn unnamed(
        &self,
        env: &envelope::Envelope<'_>,
        m: &sshd::Message<'_>,
        time: Option<crate::event::LogTime>,
    ) -> Option<(std::net::IpAddr, bool)> {
        let role = m.msg.role();
        let known = |pid: u32| self.procs.addr(env.host, pid, time, role);
        match (m.addr, env.pid) {
            (sshd::Origin::Named(addr), _) | (sshd::Origin::Doubtful(addr), None) => {
                Some((addr, false))
            }
            (sshd::Origin::Doubtful(addr), Some(pid)) => match known(pid) {
                Some(k) if k != addr => Some((k, true)),
                _ => Some((addr, false)),
            },
            (sshd::Origin::SameProcess { or_parent }, Some(pid)) => {
                let parent = || or_parent.then(|| known(pid.checked_sub(1)?))?;
                Some((known(pid).or_else(parent)?, true))
            }
            (sshd::Origin::SameProcess { .. }, None) => None,
        }
    }
}

/// Lines after which a process logs nothing more of the connection's attempts (sshd
/// disconnects at once once MaxAuthTries is reached).
fn ends_connection(msg: Msg) -> bool {
    matches!(
        msg,
        Msg::MaxAuthTries
            | Msg::TooManyFailures
            | Msg::ConnectionClosed
            | Msg::ConnectionReset
            | Msg::Disconnected
            | Msg::ReceivedDisconnect
            | Msg::TimedOut
            | Msg::GraceTimeout
    )
}

/// rsyslog's `message repeated N times: [ <msg>]` (with its leading space inside the brackets):
/// the inner message and N. A line that lacks the closing `]` was cut, and a cut inner message
/// cannot be trusted at its end, so it gives nothing; so does an N that is not a number.
fn unwrap_repeated(body: &[u8]) -> Option<(&[u8], u32)> {
    // One byte decides for nearly every line, before a 17-byte comparison.
    if body.first() != Some(&b'm') {
        return Some((body, 1));
    }
    let Some(rest) = body.strip_prefix(b"message repeated ") else {
        return Some((body, 1));
    };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let n = rest[..digits].iter().fold(0u32, |acc, &c| {
        acc.saturating_mul(10)
            .saturating_add(u32::from(c - b'0'))
            .min(MAX_REPEAT)
    });
    if n == 0 {
        return None;
    }
    let inner = rest[digits..]
        .strip_prefix(b" times: [")?
        .strip_suffix(b"]")?;
    let inner = inner.strip_prefix(b" ").unwrap_or(inner);
    Some((inner, n))
}
