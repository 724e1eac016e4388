//! host: what authban reads from the machine it runs on rather than from its input: the
//! time zone, the clock, the interfaces' addresses, the SSH session running it, a log's
//! modification time. Kept at this edge so that `parse`, `detect` and `decide` stay pure
//! and are handed these facts.

use std::net::IpAddr;
use std::path::Path;

use crate::addr::{canonical, ssh_session_client};

/// The zone for log timestamps without an offset: the system's (honouring `TZ`).
pub fn local_zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC)
}

/// The instant used to infer the year of RFC 3164 timestamps read from `path`: its
/// modification time (a log is written up to its mtime), else now.
pub fn reference_time(path: Option<&Path>) -> jiff::Timestamp {
    path.and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .unwrap_or_else(jiff::Timestamp::now)
}

/// The wall clock, in unix seconds.
pub fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The wall clock, in unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The addresses of this host's interfaces (so a misparsed line or 9.8p1's swapped
/// addresses never make us ban ourselves). Errors are not fatal: an empty list only
/// loses that extra safety, and loopback is refused separately.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for ifa in addrs {
            let Some(sa) = ifa.address else { continue };
            if let Some(v4) = sa.as_sockaddr_in() {
                out.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                out.push(canonical(IpAddr::V6(v6.ip())));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The client of the SSH session running this process, from its environment.
pub fn session_client() -> Option<IpAddr> {
    ssh_session_client(
        std::env::var("SSH_CONNECTION").ok().as_deref(),
        std::env::var("SSH_CLIENT").ok().as_deref(),
    )
}
