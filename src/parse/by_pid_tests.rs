//! Lines that name no address (or a host name) take the address an earlier line of the same
//! sshd process named, and only that one (issue 14, item 4).

use std::net::IpAddr;

use super::*;
use crate::event::{Kind, Msg};

fn parser() -> Parser {
    Parser::new(
        jiff::tz::TimeZone::UTC,
        "2026-03-10T00:00:00Z".parse().unwrap(),
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Feeds `lines` (`(second, host, pid, message)`) and returns, for each, the address of its
/// event, and whether it came from the pid.
fn feed(lines: &[(u32, &str, u32, &str)]) -> Vec<Option<(IpAddr, bool)>> {
    let mut p = parser();
    lines
        .iter()
        .map(|(s, host, pid, msg)| {
            let line = format!(
                "Mar  3 04:{:02}:{:02} {host} sshd[{pid}]: {msg}",
                s / 60,
                s % 60
            );
            p.parse(line.as_bytes()).map(|e| (e.addr, e.by_pid))
        })
        .collect()
}

const FAILED: &str = "Failed password for root from 198.51.100.7 port 40001 ssh2";
const M06: &str = "Disconnecting: Too many authentication failures for root [preauth]";
const PAM_NAME: &str = "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=host.example.net  user=root";

#[test]
fn an_addressless_line_takes_the_address_of_its_process() {
    let a = ip("198.51.100.7");
    // In the order sshd logs them: PAM's lines of an attempt, the disconnect, PAM's summary.
    let got = feed(&[
        (0, "pi", 1201, FAILED),
        (1, "pi", 1201, PAM_NAME),
        (
            2,
            "pi",
            1201,
            "error: PAM: Authentication failure for root from host.example.net",
        ),
        (3, "pi", 1201, M06),
        (
            4,
            "pi",
            1201,
            "PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=host.example.net  user=root",
        ),
        (
            5,
            "pi",
            1201,
            "Disconnecting: Too many authentication failures [preauth]",
        ),
    ]);
    assert_eq!(got[0], Some((a, false)));
    for g in &got[1..] {
        assert_eq!(*g, Some((a, true)));
    }
}

#[test]
fn the_verbose_connection_start_names_the_address_of_the_process() {
    let got = feed(&[
        (
            0,
            "pi",
            1201,
            "Connection from 2001:db8::7 port 40001 on 2001:db8::1 port 22 rdomain \"\"",
        ),
        (1, "pi", 1201, PAM_NAME),
    ]);
    assert_eq!(got, [None, Some((ip("2001:db8::7"), true))]);
}

#[test]
fn no_other_process_lends_its_address() {
    let got = feed(&[
        (0, "pi", 1201, FAILED),
        // Another pid, the same pid on another host, a pid never seen.
        (1, "pi", 1205, PAM_NAME),
        (2, "web1", 1201, PAM_NAME),
        (3, "pi", 1717, M06),
    ]);
    assert_eq!(got[1..], [None, None, None]);
}

#[test]
fn an_ended_connection_or_an_old_one_lends_nothing_to_its_reused_pid() {
    let closed = feed(&[
        (0, "pi", 1201, FAILED),
        (
            1,
            "pi",
            1201,
            "Connection closed by authenticating user root 198.51.100.7 port 40001 [preauth]",
        ),
        (2, "pi", 1201, PAM_NAME),
    ]);
    assert_eq!(closed[2], None);
    // What follows the end of a connection still does.
    let summary = feed(&[
        (0, "pi", 1201, FAILED),
        (1, "pi", 1201, M06),
        (
            2,
            "pi",
            1201,
            "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=host.example.net  user=root",
        ),
        (3, "pi", 1201, PAM_NAME),
    ]);
    assert_eq!(summary[2], Some((ip("198.51.100.7"), true)));
    assert_eq!(summary[3], None);
    let old = feed(&[(0, "pi", 1201, FAILED), (11 * 60, "pi", 1201, PAM_NAME)]);
    assert_eq!(old[1], None);
    // A login: the session's lines are not attempts.
    let login = feed(&[
        (0, "pi", 1201, FAILED),
        (
            1,
            "pi",
            1201,
            "Accepted password for root from 198.51.100.7 port 40001 ssh2",
        ),
        (2, "pi", 1201, PAM_NAME),
    ]);
    assert_eq!(login[2], None);
}

#[test]
fn a_pre_5_9_child_takes_the_address_of_its_monitor() {
    // Up to 5.8 the pre-auth child logs itself, without `[preauth]`, as the monitor's pid + 1.
    let got = feed(&[
        (0, "pi", 1201, FAILED),
        (
            1,
            "pi",
            1202,
            "Disconnecting: Too many authentication failures for root",
        ),
        // With `[preauth]` the line is the monitor's own: its pid must match.
        (2, "pi", 1202, M06),
    ]);
    assert_eq!(got[1], Some((ip("198.51.100.7"), true)));
    assert_eq!(got[2], None);
}

#[test]
fn a_host_name_that_starts_with_an_address_gives_only_the_process_address() {
    let got = feed(&[
        (0, "pi", 1201, FAILED),
        (
            1,
            "pi",
            1201,
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5.dyn.example.net  user=root",
        ),
    ]);
    assert_eq!(got[1], Some((ip("198.51.100.7"), true)));
}

#[test]
fn a_user_name_imitating_6_7s_address_cannot_frame_anyone() {
    // ≤ 6.6 writes `… failures for <user>`: this user name makes it look like 6.7's line.
    let forged = "Disconnecting: Too many authentication failures for x from 192.0.2.66 port 22 ssh2 [preauth]";
    let got = feed(&[(0, "pi", 1201, FAILED), (1, "pi", 1201, forged)]);
    assert_eq!(got[1], Some((ip("198.51.100.7"), true)));
    // A genuine 6.7 line agrees with its process, or is the first line of it.
    let genuine = "Disconnecting: Too many authentication failures for root from 198.51.100.7 port 40001 ssh2 [preauth]";
    assert_eq!(
        feed(&[(0, "pi", 1201, FAILED), (1, "pi", 1201, genuine)])[1],
        Some((ip("198.51.100.7"), false))
    );
    assert_eq!(
        feed(&[(0, "pi", 1201, genuine)])[0],
        Some((ip("198.51.100.7"), false))
    );
}

#[test]
fn addressless_lines_keep_their_kind_and_user() {
    let mut p = parser();
    p.parse(format!("Mar  3 04:10:00 pi sshd[9]: {FAILED}").as_bytes())
        .unwrap();
    let m06 = "Mar  3 04:10:01 pi sshd[9]: Disconnecting: Too many authentication failures for invalid user admin [preauth]";
    let e = p.parse(m06.as_bytes()).unwrap();
    assert_eq!(
        (e.kind, e.msg, e.user, e.port, e.pid),
        (
            Kind::InvalidUser,
            Msg::MaxAuthTries,
            Some(&b"admin"[..]),
            None,
            Some(9)
        )
    );
}
