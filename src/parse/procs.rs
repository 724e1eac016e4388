//! The address each sshd process named last, so that a line of the same process without an
//! address (or with a host name) is tied to its connection (openssh-messages.md §4.1: all
//! lines of one connection share the pid of the process logging them).
//!
//! A small direct-mapped table keyed by pid: sshd keeps at most `MaxStartups` (100 by
//! default) connections before authentication, which is when these lines are written, so a
//! collision only forgets an entry, and a forgotten entry only drops a line, as before. An
//! entry lends its address to no line that could start a connection once its connection
//! ended or logged in (a session's lines are not attempts), and to none after
//! [`TTL_SECS`], so a pid the kernel hands to a new connection never takes an old
//! connection's address.

use std::net::IpAddr;

use crate::event::{LogTime, Role};

/// Longer than sshd's LoginGraceTime (120 s by default) with room: the attempts of a
/// connection are all logged within it.
pub const TTL_SECS: i64 = 10 * 60;
const SLOTS: usize = 512;

#[derive(Debug, Clone, Copy)]
struct Slot {
    pid: u32,
    /// A hash of the envelope's host field: the same pid on two hosts of one aggregated log
    /// are two processes.
    host: u32,
    /// Log time in seconds, `None` for a log without timestamps.
    at: Option<i64>,
    addr: IpAddr,
    /// The connection ended: only the lines that follow an end (PAM's `PAM N more
    /// authentication failures`) still take its address, not those that would start a
    /// connection of a reused pid.
    ended: bool,
}

#[derive(Debug)]
pub struct Procs {
    slots: Box<[Option<Slot>]>,
}

impl Default for Procs {
    fn default() -> Procs {
        Procs {
            slots: vec![None; SLOTS].into_boxed_slice(),
        }
    }
}

impl Procs {
    /// A line of `pid` on `host` at `time`, about the connection from `addr` (`by_pid`:
    /// the line named no address, this table gave it). A line that `ended` its connection
    /// makes its address lend itself to no later line (up to 5.8 the pre-auth child, the
    /// monitor's pid + 1, logs the end, so the monitor's entry goes too when it names the
    /// same address); any other line that named its address is remembered.
    #[inline]
    pub fn saw(
        &mut self,
        host: &[u8],
        pid: u32,
        addr: IpAddr,
        by_pid: bool,
        ended: bool,
        time: Option<LogTime>,
    ) {
        if ended {
            self.ended(host, pid, Some(addr));
        } else if !by_pid {
            let at = time.map(|t| t.instant.as_second());
            let slot = &mut self.slots[index(pid)];
            match slot {
                // The connection's next line: the same process and address (on another host
                // they would still be this address), so the hash is not needed.
                Some(s) if s.pid == pid && s.addr == addr => {
                    s.at = at;
                    s.ended = false;
                }
                _ => {
                    *slot = Some(Slot {
                        pid,
                        host: host_key(host),
                        at,
                        addr,
                        ended: false,
                    })
                }
            }
        }
    }

    /// The VERBOSE connection start: `pid` on `host` is the connection from `addr`.
    pub fn started(&mut self, host: &[u8], pid: u32, addr: IpAddr, time: Option<LogTime>) {
        self.saw(host, pid, addr, false, false, time);
    }

    pub fn ended(&mut self, host: &[u8], pid: u32, addr: Option<IpAddr>) {
        // The pid (and the address) first: most ends find their own entry or none, and the
        // host's hash is only needed to tell two hosts' processes apart.
        if let Some(s) = &mut self.slots[index(pid)]
            && s.pid == pid
            && s.host == host_key(host)
        {
            s.ended = true;
        }
        if let (Some(monitor), Some(addr)) = (pid.checked_sub(1), addr)
            && let Some(s) = &mut self.slots[index(monitor)]
            && s.pid == monitor
            && s.addr == addr
            && s.host == host_key(host)
        {
            s.ended = true;
        }
    }

    /// The address `pid` on `host` named within [`TTL_SECS`] of `time`, for a line of
    /// `role` (after the connection ended, only a closing line takes it).
    pub fn addr(&self, host: &[u8], pid: u32, time: Option<LogTime>, role: Role) -> Option<IpAddr> {
        let s = self.slots[index(pid)]?;
        if s.pid != pid || s.host != host_key(host) || (s.ended && role != Role::Closing) {
            return None;
        }
        let fresh = match (s.at, time) {
            (Some(then), Some(now)) => now.instant.as_second().abs_diff(then) <= TTL_SECS as u64,
            (None, None) => true,
            // A timed line and an untimed one are not of the same log.
            _ => false,
        };
        fresh.then_some(s.addr)
    }
}

/// A word-at-a-time multiplicative hash (host fields are a few bytes, and this runs for
/// every event: a general hasher's setup costs more than the bytes). Not keyed: the host
/// field is the syslog daemon's, not the client's.
fn host_key(host: &[u8]) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = host.len() as u64;
    let mut chunks = host.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ crate::bytes::word(c)).wrapping_mul(K);
    }
    let tail = chunks
        .remainder()
        .iter()
        .rev()
        .fold(0u64, |w, &b| (w << 8) | u64::from(b));
    ((h ^ tail).wrapping_mul(K) >> 32) as u32
}

#[inline]
fn index(pid: u32) -> usize {
    pid as usize % SLOTS
}
