//! A deterministic generator of realistic auth logs, for the benchmarks and for trying
//! authban on a large input. Attackers come from 100.64.0.0/10 (shared address space,
//! big enough for tens of thousands of them) and 2001:db8::/32; legitimate users from
//! 198.51.100.0/24: nothing routable on the Internet.
//!
//! The mix follows what a server on the Internet sees: mostly password guessing on invalid
//! users and root (each attempt in several lines: `Invalid user`, PAM, `Failed password`,
//! `Disconnected`), scanners and key-exchange failures, some legitimate logins, and other
//! daemons (cron, systemd-logind, sudo, kernel) that the parser must skip.

use std::io::{self, Write};

/// Which envelope the lines get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `Nov 24 12:00:07 host sshd[2501]: …`
    Rfc3164,
    /// `2026-11-24T12:00:07.512311+01:00 host sshd[2501]: …`
    Rfc3339,
}

/// xorshift64*: small, fast and deterministic; statistical quality is irrelevant here.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const USERS: &[&str] = &[
    "admin",
    "test",
    "user",
    "oracle",
    "postgres",
    "ubuntu",
    "guest",
    "ftpuser",
    "git",
    "pi",
    "support",
    "deploy",
    "jenkins",
    "hadoop",
    "mysql",
    "www",
    "tomcat",
    "nagios",
    "dev",
    "minecraft",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Attacker address number `n` (tens of thousands of distinct ones; one in eight is IPv6).
fn attacker(n: u64) -> String {
    if n % 8 == 7 {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            (n >> 16) & 0xffff,
            n & 0xffff,
            1 + n % 251
        )
    } else {
        // 100.64.0.0/10 is shared address space, never routed on the Internet.
        let v = 0x6440_0000u32 + (n as u32 % 0x003f_ffff);
        std::net::Ipv4Addr::from(v).to_string()
    }
}

/// Writes `lines` lines (about 120 bytes each) to `out`.
pub fn generate(
    out: &mut impl Write,
    lines: u64,
    attackers: u64,
    envelope: Envelope,
    seed: u64,
) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let mut written = 0u64;
    // 2026-11-24 00:00:00 UTC, advancing ~50 ms per line on average.
    let mut t_ms: i64 = 1_795_478_400_000;
    let mut pid: u32 = 10_000;
    let mut buf = Vec::with_capacity(256);
    while written < lines {
        t_ms += rng.below(100) as i64;
        pid = pid.wrapping_add(1 + rng.below(3) as u32) % 4_000_000 + 1000;
        let addr = attacker(rng.below(attackers));
        let port = 1024 + rng.below(64_000);
        let user = USERS[rng.below(USERS.len() as u64) as usize];
        let roll = rng.below(100);
        let mut msgs: Vec<(&str, String)> = Vec::with_capacity(6);
        match roll {
            // Password guessing on an invalid user: several lines per attempt.
            0..=39 => {
                msgs.push(("sshd", format!("Invalid user {user} from {addr} port {port}")));
                msgs.push(("sshd", "pam_unix(sshd:auth): check pass; user unknown".to_string()));
                msgs.push(("sshd", format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={addr} ")));
                msgs.push(("sshd", format!("Failed password for invalid user {user} from {addr} port {port} ssh2")));
                msgs.push(("sshd", format!("Disconnected from invalid user {user} {addr} port {port} [preauth]")));
            }
            // Password guessing on root.
            40..=59 => {
                msgs.push(("sshd", format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={addr}  user=root")));
                msgs.push(("sshd", format!("Failed password for root from {addr} port {port} ssh2")));
                if rng.below(4) == 0 {
                    msgs.push(("sshd", format!("message repeated 2 times: [ Failed password for root from {addr} port {port} ssh2]")));
                    msgs.push(("sshd", format!("error: maximum authentication attempts exceeded for root from {addr} port {port} ssh2 [preauth]")));
                    msgs.push(("sshd", format!("Disconnecting authenticating user root {addr} port {port}: Too many authentication failures [preauth]")));
                } else {
                    msgs.push(("sshd", format!("Connection closed by authenticating user root {addr} port {port} [preauth]")));
                }
            }
            // Scanners and key-exchange failures.
            60..=71 => match rng.below(5) {
                0 => {
                    msgs.push(("sshd", "error: kex_exchange_identification: Connection closed by remote host".to_string()));
                    msgs.push(("sshd", format!("Connection closed by {addr} port {port}")));
                }
                1 => msgs.push(("sshd", format!("banner exchange: Connection from {addr} port {port}: invalid format"))),
                2 => msgs.push(("sshd", format!("Unable to negotiate with {addr} port {port}: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1,diffie-hellman-group14-sha1 [preauth]"))),
                3 => msgs.push(("sshd", format!("Received disconnect from {addr} port {port}:11: Bye Bye [preauth]"))),
                _ => msgs.push(("sshd", format!("Disconnected from {addr} port {port} [preauth]"))),
            },
            // Legitimate logins from a handful of addresses.
            72..=75 => {
                let who = ["alice", "bob", "deploy"][rng.below(3) as usize];
                let from = format!("198.51.100.{}", 10 + rng.below(5));
                msgs.push(("sshd", format!("Accepted publickey for {who} from {from} port {port} ssh2: ED25519 SHA256:Yb7lYzm9Ewxd0qg1cOvRPuERrFNDmoTDkXpzmsg1WcQ")));
                msgs.push(("sshd", format!("pam_unix(sshd:session): session opened for user {who}(uid=1000) by (uid=0)")));
            }
            // Other daemons.
            76..=85 => msgs.push(("CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)".to_string())),
            86..=90 => msgs.push(("systemd-logind", format!("New session {} of user alice.", pid % 9000))),
            91..=94 => msgs.push(("sudo", "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt-get update".to_string())),
            95..=97 => msgs.push(("sshd-session", format!("Invalid user {user} from {addr} port {port}"))),
            _ => msgs.push(("kernel", format!("[UFW BLOCK] IN=eth0 OUT= MAC=00:00 SRC={addr} DST=192.0.2.1 LEN=40 PROTO=TCP SPT={port} DPT=23"))),
        }
        for (prog, msg) in msgs {
            if written >= lines {
                break;
            }
            buf.clear();
            t_ms += rng.below(20) as i64;
            stamp(&mut buf, t_ms, envelope);
            write!(buf, " gw1 {prog}[{pid}]: {msg}")?;
            buf.push(b'\n');
            out.write_all(&buf)?;
            written += 1;
        }
    }
    Ok(written)
}

fn stamp(buf: &mut Vec<u8>, t_ms: i64, envelope: Envelope) {
    let secs = t_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
    let _ = match envelope {
        Envelope::Rfc3164 => write!(
            buf,
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[(m - 1) as usize],
            d,
            hh,
            mm,
            ss
        ),
        Envelope::Rfc3339 => write!(
            buf,
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:06}+00:00",
            t_ms.rem_euclid(1000) * 1000
        ),
    };
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}
