//! One attempt counts once, on every OpenSSH release: crafted logs of each era's line
//! shapes (written by us from sshd's format strings), parsed by the real parser and
//! scored by the real detector. The score of an address is exactly the sum of the weights
//! of the attempts its connections made, however many lines sshd and PAM log about them,
//! whether the connections run one after another or in parallel, interleaved with other
//! addresses, and when a pid is reused; on servers that log host names (UseDNS) too.

use std::net::IpAddr;

use authban::detect::{Detector, Policy, Weights};
use authban::parse::Parser;
use proptest::prelude::*;

/// The line shapes of one group of releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    /// 5.0–5.8: pre-auth lines come from the child, whose pid is the monitor's + 1.
    V5,
    /// 5.9–6.x: `[preauth]` lines from the monitor; `Invalid user` and `Received
    /// disconnect` without a port.
    V6,
    /// 7.0–7.2: `Received disconnect` gains the port, `Invalid user` not yet.
    V7_2,
    /// 7.3–7.4: `Invalid user … port N`, `Disconnected from A port N`.
    V7_4,
    /// 7.5–9.7: remote ids (`authenticating user root A port N`), MaxAuthTries errors.
    V9_2,
    /// 9.8–9.9: the same, logged as `sshd-session`.
    V9_8,
    /// 10.1+: the listener logs its own verdict, `srclimit_penalise: A/32: activating ipv4
    /// penalty …`, once the address's failures add up (after three failing connections).
    V10,
}

const ERAS: [Era; 7] = [
    Era::V5,
    Era::V6,
    Era::V7_2,
    Era::V7_4,
    Era::V9_2,
    Era::V9_8,
    Era::V10,
];

/// The pid of sshd's listener (which logs penalties).
const LISTENER: u32 = 900;

/// What one connection tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Try {
    /// One wrong password of an existing user (PAM line first, without a port).
    Password,
    /// One password for a user that does not exist.
    InvalidUser,
    /// One password for root.
    Root,
    /// One keyboard-interactive answer: PAM runs in a forked process with its own pid.
    KeyboardInteractive,
    /// Keys offered for root until MaxAuthTries: at INFO no `Failed` line shows (9.2+), or
    /// 6.x's `Disconnecting: Too many authentication failures` (no address) is all.
    MaxAuthTries,
    /// Three passwords for root, the last two folded by rsyslog into `message repeated`.
    Repeats,
    /// One key of an existing user refused (logged at INFO once MaxAuthTries/2 keys failed).
    Publickey,
}

const TRIES: [Try; 7] = [
    Try::Password,
    Try::InvalidUser,
    Try::Root,
    Try::KeyboardInteractive,
    Try::MaxAuthTries,
    Try::Repeats,
    Try::Publickey,
];

/// Points (100 to a weight of 1.0) that the attempts of one connection are worth.
fn worth(era: Era, t: Try, w: &Weights) -> u32 {
    match t {
        Try::Password | Try::KeyboardInteractive => w.auth_failure,
        Try::InvalidUser => w.invalid_user,
        // Up to 6.6 the keys past MaxAuthTries/2 show as `Failed publickey` lines.
        Try::MaxAuthTries if era == Era::V5 => 3 * w.publickey,
        Try::Root | Try::MaxAuthTries => w.root,
        Try::Repeats => 3 * w.root,
        Try::Publickey => w.publickey,
    }
}

/// What a server with `UseDNS yes` (the default up to 6.7) gives PAM as `rhost`.
const HOST_NAME: &str = "client.example.net";

/// The lines sshd (and PAM) log for one connection, without the syslog envelope: (pid,
/// message). `dns`: the server runs with UseDNS, so PAM names the client by host name.
fn connection(era: Era, t: Try, a: &str, pid: u32, port: u16, dns: bool) -> Vec<(u32, String)> {
    let child = if era == Era::V5 { pid + 1 } else { pid };
    let pre = if era == Era::V5 { "" } else { " [preauth]" };
    let invalid = match era {
        Era::V5 | Era::V6 | Era::V7_2 => format!("Invalid user admin from {a}"),
        _ => format!("Invalid user admin from {a} port {port}"),
    };
    let bye = match era {
        Era::V5 | Era::V6 => format!("Received disconnect from {a}: 11: Bye Bye{pre}"),
        _ => format!("Received disconnect from {a} port {port}:11: Bye Bye [preauth]"),
    };
    let gone = |who: &str| match era {
        Era::V5 | Era::V6 | Era::V7_2 => None,
        Era::V7_4 => Some(format!("Disconnected from {a} port {port} [preauth]")),
        _ => Some(format!("Disconnected from {who}{a} port {port} [preauth]")),
    };
    let rhost = if dns { HOST_NAME } else { a };
    let pam = |user: &str| {
        format!(
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={rhost}{user}"
        )
    };
    let key = match era {
        Era::V5 => "",
        Era::V6 => ": RSA 0e:ff:12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc",
        _ => ": ED25519 SHA256:K9gG0pAexample0key0fingerprint0000000000000",
    };
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut push = |p: u32, m: String| out.push((p, m));
    match t {
        Try::Password | Try::Root => {
            let user = if t == Try::Root { "root" } else { "alice" };
            push(pid, pam(&format!("  user={user}")));
            push(
                pid,
                format!("Failed password for {user} from {a} port {port} ssh2"),
            );
            push(child, bye.clone());
            if let Some(g) = gone(&format!("authenticating user {user} ")) {
                push(pid, g);
            }
        }
        Try::InvalidUser => {
            push(pid, invalid.clone());
            push(
                child,
                format!("input_userauth_request: invalid user admin{pre}"),
            );
            push(pid, "pam_unix(sshd:auth): check pass; user unknown".into());
            push(pid, pam(""));
            push(
                pid,
                format!("Failed password for invalid user admin from {a} port {port} ssh2"),
            );
            push(child, bye.clone());
            if let Some(g) = gone("invalid user admin ") {
                push(pid, g);
            }
        }
        Try::KeyboardInteractive => {
            push(pid + 7, pam("  user=alice"));
            push(
                pid,
                format!("Failed keyboard-interactive/pam for alice from {a} port {port} ssh2"),
            );
            push(child, bye.clone());
        }
        Try::MaxAuthTries => match era {
            // Up to 6.6 the keys past MaxAuthTries/2 are logged, and the child's
            // `Disconnecting: Too many authentication failures for root` names no address.
            Era::V5 => {
                for _ in 0..3 {
                    push(
                        pid,
                        format!("Failed publickey for root from {a} port {port} ssh2{key}"),
                    );
                }
                push(
                    child,
                    format!("Disconnecting: Too many authentication failures for root{pre}"),
                );
            }
            // 6.8–7.3: the error line names the address, the disconnect no longer the user.
            Era::V6 | Era::V7_2 | Era::V7_4 => {
                push(
                    pid,
                    format!(
                        "error: maximum authentication attempts exceeded for root from {a} port {port} ssh2{pre}"
                    ),
                );
                push(
                    child,
                    format!("Disconnecting: Too many authentication failures{pre}"),
                );
            }
            _ => {
                push(
                    pid,
                    format!(
                        "error: maximum authentication attempts exceeded for root from {a} port {port} ssh2 [preauth]"
                    ),
                );
                push(
                    pid,
                    format!(
                        "Disconnecting authenticating user root {a} port {port}: Too many authentication failures [preauth]"
                    ),
                );
                push(
                    pid,
                    format!(
                        "Connection closed by authenticating user root {a} port {port} [preauth]"
                    ),
                );
            }
        },
        Try::Repeats => {
            push(pid, pam("  user=root"));
            push(
                pid,
                format!("Failed password for root from {a} port {port} ssh2"),
            );
            push(
                pid,
                format!(
                    "message repeated 2 times: [ Failed password for root from {a} port {port} ssh2]"
                ),
            );
            push(
                pid,
                format!(
                    "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={rhost}  user=root"
                ),
            );
            push(child, bye.clone());
        }
        Try::Publickey => {
            push(
                pid,
                format!("Failed publickey for git from {a} port {port} ssh2{key}"),
            );
            push(child, bye.clone());
            if let Some(g) = gone("authenticating user git ") {
                push(pid, g);
            }
        }
    }
    out
}

/// The listener's verdict (10.1+) once an address's failures add up.
fn penalty(a: &str) -> String {
    let (family, bits) = if a.contains(':') {
        ("ipv6", 128)
    } else {
        ("ipv4", 32)
    };
    format!(
        "srclimit_penalise: {a}/{bits}: activating {family} penalty of 15.000 seconds for penalty: failed authentication"
    )
}

/// The full log line, in the envelope of the era (RFC 3164 before Debian 12's rsyslog).
fn line(era: Era, second: u32, pid: u32, msg: &str) -> String {
    let tag = if matches!(era, Era::V9_8 | Era::V10) && pid != LISTENER {
        "sshd-session"
    } else {
        "sshd"
    };
    let (m, s) = (second / 60, second % 60);
    match era {
        Era::V9_2 | Era::V9_8 | Era::V10 => {
            format!("2026-03-03T04:{m:02}:{s:02}.100000+00:00 web1 {tag}[{pid}]: {msg}")
        }
        _ => format!("Mar  3 04:{m:02}:{s:02} pi {tag}[{pid}]: {msg}"),
    }
}

fn parser() -> Parser {
    Parser::new(
        jiff::tz::TimeZone::UTC,
        "2026-03-10T00:00:00Z".parse().unwrap(),
    )
}

/// Feeds `lines` and returns the score of `addr` at the end.
fn score(policy: &Policy, lines: &[String], addr: &str) -> u32 {
    let mut parser = parser();
    let mut d = Detector::new(policy.clone());
    let mut last = 0;
    for l in lines {
        if let Some(ev) = parser.parse(l.as_bytes()) {
            let at = ev.time.map(|t| t.unix_ms()).unwrap();
            last = at;
            d.observe(&ev, at);
        }
    }
    d.score(addr.parse::<IpAddr>().unwrap(), last)
}

/// A policy that never bans (scores are read, not decided on), with `weights`.
fn counting(weights: Weights) -> Policy {
    Policy {
        threshold: u32::MAX,
        weights,
        ..Policy::default()
    }
}

const UNIT: Weights = Weights {
    auth_failure: 100,
    invalid_user: 100,
    root: 100,
    probe: 100,
    publickey: 100,
};

/// Three connections one after another, 20 seconds apart, pids 2201, 2205, 2209 (and, from
/// 10.1, the listener's penalty after the third).
fn three(era: Era, t: Try, addr: &str, dns: bool) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..3u32 {
        for (pid, msg) in connection(era, t, addr, 2201 + 4 * i, 50001 + i as u16, dns) {
            out.push(line(era, 20 * i, pid, &msg));
        }
    }
    if era == Era::V10 {
        out.push(line(era, 59, LISTENER, &penalty(addr)));
    }
    out
}

#[test]
fn every_era_and_every_kind_of_attempt_scores_its_attempts_exactly() {
    let mut wrong = Vec::new();
    for weights in [UNIT, Weights::default()] {
        let policy = counting(weights);
        for era in ERAS {
            for t in TRIES {
                for dns in [false, true] {
                    let got = score(&policy, &three(era, t, "198.51.100.9", dns), "198.51.100.9");
                    let want = 3 * worth(era, t, &weights);
                    if got != want {
                        wrong.push(format!(
                            "{era:?} {t:?} UseDNS {dns} {weights:?}: {got} points, want {want}"
                        ));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_owner_mistyping_in_three_connections_is_not_banned() {
    // The first log, as Debian 12 writes it: 3.0 points, below the default 5.
    let log = three(Era::V9_2, Try::Password, "198.51.100.9", false);
    assert_eq!(score(&counting(UNIT), &log, "198.51.100.9"), 300);
    assert_eq!(
        score(&counting(Weights::default()), &log, "198.51.100.9"),
        300
    );
    let mut parser = parser();
    let mut d = Detector::new(Policy::default());
    for l in &log {
        let ev = parser.parse(l.as_bytes());
        if let Some(ev) = ev {
            let at = ev.time.map(|t| t.unix_ms()).unwrap();
            assert!(d.observe(&ev, at).is_none(), "decided on {l}");
        }
    }
}

#[test]
fn a_raspbian_jessie_attack_of_three_connections_scores_three_attempts() {
    // The second log (OpenSSH 6.7): invalid user, root, invalid user.
    let mut log = Vec::new();
    for (i, t) in [Try::InvalidUser, Try::Root, Try::InvalidUser]
        .into_iter()
        .enumerate()
    {
        let i = i as u32;
        for (pid, msg) in connection(
            Era::V6,
            t,
            "198.51.100.7",
            1201 + 2 * i,
            40001 + i as u16,
            false,
        ) {
            log.push(line(Era::V6, 3 * i, pid, &msg));
        }
    }
    assert_eq!(score(&counting(UNIT), &log, "198.51.100.7"), 300);
    assert_eq!(
        score(&counting(Weights::default()), &log, "198.51.100.7"),
        450
    );
}

#[test]
fn attempts_that_only_pam_shows_with_a_host_name_count_once() {
    // A keyboard-interactive attempt of an existing user: its first `Failed` lines are below
    // INFO (MaxAuthTries/2), so PAM's lines are all there is, and with UseDNS they name a
    // host. With LogLevel VERBOSE, the connection's first line names the address of the
    // monitor, which also logs `error: PAM: Authentication failure … from <host>`.
    let a = "198.51.100.9";
    for era in ERAS {
        let mut log = Vec::new();
        for i in 0..3u32 {
            let (pid, port) = (2201 + 4 * i, 50001 + i as u16);
            let child = if era == Era::V5 { pid + 1 } else { pid };
            let start = match era {
                Era::V5 => format!("Connection from {a} port {port}"),
                _ => format!("Connection from {a} port {port} on 192.0.2.1 port 22"),
            };
            let mut push = |p: u32, m: String| log.push(line(era, 20 * i, p, &m));
            push(pid, start);
            push(
                pid + 7,
                format!(
                    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={HOST_NAME}  user=alice"
                ),
            );
            push(
                pid,
                format!("error: PAM: Authentication failure for alice from {HOST_NAME}"),
            );
            let pre = if era == Era::V5 { "" } else { " [preauth]" };
            push(
                child,
                match era {
                    Era::V5 | Era::V6 => format!("Connection closed by {a}{pre}"),
                    Era::V7_2 | Era::V7_4 => format!("Connection closed by {a} port {port}{pre}"),
                    _ => format!(
                        "Connection closed by authenticating user alice {a} port {port} [preauth]"
                    ),
                },
            );
        }
        for weights in [UNIT, Weights::default()] {
            assert_eq!(
                score(&counting(weights), &log, a),
                3 * weights.auth_failure,
                "{era:?} {weights:?}\n{}",
                log.join("\n")
            );
        }
    }
}

fn era() -> impl Strategy<Value = Era> {
    proptest::sample::select(ERAS.to_vec())
}

fn attempt() -> impl Strategy<Value = Try> {
    proptest::sample::select(TRIES.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // Connections of three addresses, several of one address at once, their lines
    // interleaved at random and pids reused by later connections: every score is still
    // the sum of its attempts.
    #[test]
    fn interleaving_parallel_connections_and_pid_reuse_change_no_score(
        era in era(),
        conns in proptest::collection::vec((0usize..3, attempt()), 1..10),
        picks in proptest::collection::vec(0usize..10, 0..200),
        reuse in any::<bool>(),
        dns in any::<bool>(),
    ) {
        let addrs = ["203.0.113.1", "203.0.113.2", "2001:db8::3"];
        // Each connection's lines, in order; a pid of its own, or (reuse) the pid of the
        // connection two before it, which has then ended.
        let mut queues: Vec<Vec<(u32, String)>> = Vec::new();
        for (i, (who, t)) in conns.iter().enumerate() {
            let pid = if reuse && i >= 2 { 3000 + 10 * (i as u32 - 2) } else { 3000 + 10 * i as u32 };
            queues.push(connection(era, *t, addrs[*who], pid, 41000 + i as u16, dns));
        }
        // With pid reuse, a connection starts only after the one whose pid it takes ended.
        let mut order: Vec<usize> = Vec::new();
        let mut next = vec![0usize; queues.len()];
        let mut open: Vec<usize> = Vec::new();
        let mut started = 0;
        let mut picks = picks.into_iter();
        while order.len() < queues.iter().map(Vec::len).sum::<usize>() {
            let can_start = started < queues.len()
                && !(reuse && started >= 2 && next[started - 2] < queues[started - 2].len());
            let pick = picks.next();
            if can_start && (open.is_empty() || pick.is_some_and(|p| p % 3 == 0)) {
                open.push(started);
                started += 1;
                continue;
            }
            if open.is_empty() {
                // Waiting for the connection whose pid is reused: finish it.
                let c = started - 2;
                order.push(c);
                next[c] += 1;
                continue;
            }
            let c = open[pick.unwrap_or(0) % open.len()];
            order.push(c);
            next[c] += 1;
            if next[c] == queues[c].len() {
                open.retain(|&o| o != c);
            }
        }
        let mut taken = vec![0usize; queues.len()];
        let lines: Vec<String> = order
            .iter()
            .enumerate()
            .map(|(n, &c)| {
                let (pid, msg) = &queues[c][taken[c]];
                taken[c] += 1;
                line(era, n as u32 % 3600, *pid, msg)
            })
            .collect();
        let policy = counting(Weights::default());
        for (who, a) in addrs.iter().enumerate() {
            let want: u32 = conns
                .iter()
                .filter(|(w, _)| *w == who)
                .map(|(_, t)| worth(era, *t, &policy.weights))
                .sum();
            prop_assert_eq!(score(&policy, &lines, a), want, "{}\n{}", a, lines.join("\n"));
        }
    }
}

/// Issue 9, item 9: OpenSSH before 3.9 said `illegal user` (`Illegal user U from A`,
/// `Failed password for illegal user U from A port N ssh2`, PAM's `… for illegal user U
/// from A`), and before 5.0 wrote the bad banner unquoted. Each connection's attempts
/// count once, as on newer releases; a bad banner is one probe.
#[test]
fn the_oldest_releases_illegal_users_and_unquoted_banners_count_once() {
    let at = |s: u32, pid: u32, msg: &str| {
        format!(
            "Mar  3 04:00:{s:02} old {}: {msg}",
            format_args!("sshd[{pid}]")
        )
    };
    let log = [
        at(1, 300, "Illegal user admin from 203.0.113.30"),
        at(
            1,
            300,
            "Failed password for illegal user admin from 203.0.113.30 port 4000 ssh2",
        ),
        at(
            2,
            300,
            "Failed password for illegal user admin from 203.0.113.30 port 4000 ssh2",
        ),
        at(3, 301, "Illegal user carol from 203.0.113.30"),
        at(
            3,
            301,
            "error: PAM: User not known to the underlying authentication module for illegal user carol from 203.0.113.30",
        ),
        at(
            3,
            301,
            "Failed keyboard-interactive/pam for illegal user carol from 203.0.113.30 port 4001 ssh2",
        ),
        at(
            4,
            302,
            "Bad protocol version identification GET / HTTP/1.1 from 203.0.113.31",
        ),
    ];
    let policy = counting(UNIT);
    // Two attempts in the first connection, one in the second.
    assert_eq!(score(&policy, &log, "203.0.113.30"), 300);
    assert_eq!(score(&policy, &log, "203.0.113.31"), 100);
    let mut parser = parser();
    let kinds: Vec<_> = log
        .iter()
        .filter_map(|l| parser.parse(l.as_bytes()).map(|e| e.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        ["invalid-user"; 6]
            .iter()
            .copied()
            .chain(["probe"])
            .collect::<Vec<_>>()
    );
}

/// Issue 9, item 9: `Disconnecting invalid user U A port N: Too many authentication
/// failures` closes a connection whose attempts its `Failed` lines counted: it adds none.
/// Alone (the failures were not logged) it is one attempt.
#[test]
fn disconnecting_for_too_many_failures_adds_no_attempt_to_the_counted_ones() {
    let at = |s: u32, msg: &str| {
        format!("2026-03-03T04:00:{s:02}.100000+00:00 web1 sshd-session[700]: {msg}")
    };
    let mut log = vec![at(1, "Invalid user bob from 203.0.113.40 port 4001")];
    for s in 2..5 {
        log.push(at(
            s,
            "Failed password for invalid user bob from 203.0.113.40 port 4001 ssh2",
        ));
    }
    let policy = counting(UNIT);
    assert_eq!(score(&policy, &log, "203.0.113.40"), 300);
    log.push(at(5, "Disconnecting invalid user bob 203.0.113.40 port 4001: Too many authentication failures [preauth]"));
    assert_eq!(score(&policy, &log, "203.0.113.40"), 300);
    let alone = [at(
        5,
        "Disconnecting invalid user bob 203.0.113.41 port 4002: Too many authentication failures [preauth]",
    )];
    assert_eq!(score(&policy, &alone, "203.0.113.41"), 100);
}
