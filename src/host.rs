//! host: what authban reads from the machine it runs on rather than from its input: the
//! time zone, the clock, the interfaces' addresses, the SSH session running it, a log's
//! modification time. Kept at this edge so that `parse`, `detect` and `decide` stay pure
//! and are handed these facts.

use std::net::IpAddr;
use std::path::Path;

use crate::addr::{canonical, ssh_session_client};
use crate::event::Event;

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
/// This host's name (the kernel's), as a fleet node's default name; empty if unknown.
pub fn name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|n| n.trim_end().to_owned())
        .unwrap_or_default()
}

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

/// The accounts of the passwd file at `path` that cannot log in: their shell is
/// `nologin` or `false`, in any directory. An empty shell means /bin/sh: such an account
/// can log in.
pub fn unusable_accounts(path: &Path) -> std::io::Result<std::collections::HashSet<Box<[u8]>>> {
    let text = std::fs::read(path)?;
    Ok(text
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let mut fields = line.split(|&b| b == b':');
            let name = fields
                .next()
                .filter(|n| !n.is_empty() && !n.starts_with(b"#"))?;
            let shell = fields.nth(5)?;
            let program = shell.rsplit(|&b| b == b'/').next()?;
            matches!(program, b"nologin" | b"false").then(|| name.into())
        })
        .collect())
}

/// Whether a success read from a log anyone can write to is sshd's: its connection is
/// open in the process it names ([`login_connection_open`]). A line with no pid or port,
/// as bare `sshd -E` output, cannot be checked and is not.
pub fn login_verified(ev: &Event<'_>) -> bool {
    match (ev.pid, ev.port) {
        (Some(pid), Some(port)) => login_connection_open(pid, ev.addr, port),
        _ => false,
    }
}

/// Whether sshd process `pid` — a process of root's named `sshd`, `sshd-session` or
/// `sshd-auth` — is in a network namespace where an established TCP connection from
/// `addr` port `port` exists, held by a socket of root's. That is what a genuine
/// `Accepted … from A port N` line means while its session lasts, and what a line a local
/// user forged into a syslog file (`logger --id=PID -t sshd`) cannot show unless a remote
/// peer holds exactly that connection open. Read from `/proc`, which any process may read;
/// anything unreadable or missing answers `false`.
pub fn login_connection_open(pid: u32, addr: IpAddr, port: u16) -> bool {
    login_connection_open_in(Path::new("/proc"), pid, addr, port)
}

/// [`login_connection_open`] against a `/proc` at `proc` (tests give a directory).
pub fn login_connection_open_in(proc: &Path, pid: u32, addr: IpAddr, port: u16) -> bool {
    let dir = proc.join(pid.to_string());
    let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
        return false;
    };
    if !is_roots_sshd(&status) {
        return false;
    }
    let addr = canonical(addr);
    let tables: &[&str] = match addr {
        // sshd listening on `::` takes IPv4 clients as IPv4-mapped IPv6.
        IpAddr::V4(_) => &["net/tcp", "net/tcp6"],
        IpAddr::V6(_) => &["net/tcp6"],
    };
    tables.iter().any(|t| {
        std::fs::read_to_string(dir.join(t)).is_ok_and(|table| holds_connection(&table, addr, port))
    })
}

/// `/proc/PID/status` of a process of root's (real uid 0) named like sshd's processes.
fn is_roots_sshd(status: &str) -> bool {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let named = matches!(field("Name:"), Some("sshd" | "sshd-session" | "sshd-auth"));
    let root = field("Uid:").and_then(|u| u.split_whitespace().next()) == Some("0");
    named && root
}

/// Whether a `/proc/net/tcp[6]` table has an established connection (state `01`) whose
/// remote end is `addr`:`port` and whose socket is root's (uid column 0).
fn holds_connection(table: &str, addr: IpAddr, port: u16) -> bool {
    table.lines().skip(1).any(|row| {
        let mut f = row.split_whitespace();
        let (Some(_slot), Some(_local), Some(remote), Some(state)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return false;
        };
        // tx:rx queue, timer, retransmits, then the uid.
        let uid = f.nth(3);
        state == "01" && uid == Some("0") && proc_endpoint(remote) == Some((addr, port))
    })
}

/// `0100007F:1F90` or `0000000000000000FFFF00000100007F:1F90`: the address as the kernel
/// stores it, printed as 32-bit words in the host's byte order, and the port in hex.
fn proc_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = text.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match a.len() {
        8 => IpAddr::from(word(0)?),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::from(b)
        }
        _ => return None,
    };
    Some((canonical(ip), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A `/proc/PID` with a status and TCP tables in the kernel's format, the words
    /// written in this host's byte order as the kernel would.
    fn fake_proc(name: &str, uid: u32, tcp: &[(IpAddr, u16, &str, u32)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("4242");
        std::fs::create_dir_all(p.join("net")).unwrap();
        std::fs::write(
            p.join("status"),
            format!("Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        )
        .unwrap();
        let head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let (mut v4, mut v6) = (head.to_owned(), head.to_owned());
        let hex = |b: &[u8]| -> String {
            b.chunks(4)
                .map(|w| format!("{:08X}", u32::from_ne_bytes(w.try_into().unwrap())))
                .collect()
        };
        for (i, (addr, port, state, uid)) in tcp.iter().enumerate() {
            let (table, remote) = match addr {
                IpAddr::V4(a) => (&mut v4, hex(&a.octets())),
                IpAddr::V6(a) => (&mut v6, hex(&a.octets())),
            };
            let local = if remote.len() == 8 {
                hex(&[192, 0, 2, 1])
            } else {
                hex(&[0; 16])
            };
            table.push_str(&format!(
                "{i:4}: {local}:0016 {remote}:{port:04X} {state} 00000000:00000000 02:000A7F2E 00000000 {uid:5} 0 91234 2 0000000000000000 20 4 30 10 -1\n"
            ));
        }
        std::fs::write(p.join("net/tcp"), v4).unwrap();
        std::fs::write(p.join("net/tcp6"), v6).unwrap();
        dir
    }

    #[test]
    fn a_login_is_sshds_only_while_root_sshd_holds_its_connection() {
        let a = ip("198.51.100.60");
        let open = |d: &tempfile::TempDir, addr, port| {
            login_connection_open_in(d.path(), 4242, addr, port)
        };
        let d = fake_proc("sshd-session", 0, &[(a, 40000, "01", 0)]);
        assert!(open(&d, a, 40000));
        assert!(!open(&d, a, 40001), "another port");
        assert!(!open(&d, ip("198.51.100.61"), 40000), "another address");
        assert!(
            !login_connection_open_in(d.path(), 4243, a, 40000),
            "another pid"
        );
        // Closed (TIME_WAIT), or a socket of a user's own.
        assert!(!open(
            &fake_proc("sshd", 0, &[(a, 40000, "06", 0)]),
            a,
            40000
        ));
        assert!(!open(
            &fake_proc("sshd", 0, &[(a, 40000, "01", 1000)]),
            a,
            40000
        ));
        // A process of a user's own named sshd, or root's process of another name.
        assert!(!open(
            &fake_proc("sshd", 1000, &[(a, 40000, "01", 0)]),
            a,
            40000
        ));
        assert!(!open(
            &fake_proc("logger", 0, &[(a, 40000, "01", 0)]),
            a,
            40000
        ));
        // IPv4 clients of a listener on `::` are IPv4-mapped in tcp6; IPv6 as is.
        let mapped = ip("::ffff:198.51.100.60");
        assert!(open(
            &fake_proc("sshd", 0, &[(mapped, 40000, "01", 0)]),
            a,
            40000
        ));
        let v6 = ip("2001:db8::7");
        assert!(open(
            &fake_proc("sshd", 0, &[(v6, 22022, "01", 0)]),
            v6,
            22022
        ));
    }

    #[test]
    fn this_process_is_not_an_sshd_holding_a_login() {
        let me = std::process::id();
        assert!(!login_connection_open(me, ip("127.0.0.1"), 22));
        assert!(!login_connection_open(u32::MAX, ip("127.0.0.1"), 22));
    }
}
