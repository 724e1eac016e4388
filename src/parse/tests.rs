//! Unit tests of the whole parser: every message shape (catalogue ids in the rows), every
//! envelope, and the injection and truncation attacks of openssh-messages.md §4. Addresses are
//! from the documentation ranges only.

use std::net::IpAddr;

use jiff::tz::TimeZone;

use super::*;
use crate::event::Kind::{AuthFailure as AF, InvalidUser as IU, Probe as PR, Success as OK};
use crate::event::Msg::*;
use crate::event::{Kind, Method, Msg};

type Want = Option<(Kind, Msg, &'static str, Option<u16>, Option<&'static str>)>;

fn parser() -> Parser {
    Parser::new(
        TimeZone::get("Europe/Berlin").unwrap(),
        "2026-11-25T00:00:00Z".parse().unwrap(),
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Parses `body` inside a plain RFC 3164 envelope and compares every field.
fn check(body: &str, want: Want) {
    check_bytes(body.as_bytes(), want);
}

fn check_bytes(body: &[u8], want: Want) {
    let line = [&b"Nov 24 12:00:07 gw1 sshd[2501]: "[..], body].concat();
    let got = parser().parse(&line).map(|e| {
        (
            e.kind,
            e.msg,
            e.addr,
            e.port,
            e.user.map(|u| String::from_utf8_lossy(u).into_owned()),
        )
    });
    let want = want.map(|(k, m, a, p, u)| (k, m, ip(a), p, u.map(str::to_owned)));
    assert_eq!(
        got,
        want,
        "{:?}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
}

fn event(line: &[u8]) -> Event<'_> {
    parser().parse(line).unwrap_or_else(|| {
        panic!(
            "no event: {:?}",
            String::from_utf8_lossy(&line[..line.len().min(300)])
        )
    })
}

#[test]
fn auth_outcomes_m01_m05() {
    let cases: &[(&str, Want)] = &[
        (
            "Failed password for invalid user admin from 192.0.2.10 port 51012 ssh2",
            Some((IU, Failed, "192.0.2.10", Some(51012), Some("admin"))),
        ),
        (
            "Failed keyboard-interactive/pam for invalid user support from 203.0.113.40 port 50013 ssh2",
            Some((IU, Failed, "203.0.113.40", Some(50013), Some("support"))),
        ),
        (
            "Failed password for root from 192.0.2.10 port 51000 ssh2",
            Some((AF, Failed, "192.0.2.10", Some(51000), Some("root"))),
        ),
        (
            "Failed publickey for git from 198.51.100.23 port 40022 ssh2: ED25519 SHA256:K9gGpA",
            Some((AF, Failed, "198.51.100.23", Some(40022), Some("git"))),
        ),
        // ≤6.1 protocol 1, no protocol at all, no port.
        (
            "Failed password for dan from 192.0.2.1 port 45416 ssh1",
            Some((AF, Failed, "192.0.2.1", Some(45416), Some("dan"))),
        ),
        (
            "Failed password for dan from 192.0.2.1 port 45416",
            Some((AF, Failed, "192.0.2.1", Some(45416), Some("dan"))),
        ),
        (
            "Failed password for dan from 192.0.2.1",
            Some((AF, Failed, "192.0.2.1", None, Some("dan"))),
        ),
        (
            "Failed password for invalid user ROOT from 192.0.2.70 port 12345",
            Some((IU, Failed, "192.0.2.70", Some(12345), Some("ROOT"))),
        ),
        (
            "Failed password for invalid user ROOT from 2001:db8::1:1",
            Some((IU, Failed, "2001:db8::1:1", None, Some("ROOT"))),
        ),
        (
            "Failed unknown for invalid user redmond from 192.0.2.1 port 59197 ssh2",
            Some((IU, Failed, "192.0.2.1", Some(59197), Some("redmond"))),
        ),
        (
            "Failed hostbased for dan from 192.0.2.1 port 45785 ssh2: RSA 8c:e3:aa:0f, client user \"dan\", client host \"localhost.localdomain\"",
            Some((AF, Failed, "192.0.2.1", Some(45785), Some("dan"))),
        ),
        (
            "Failed gssapi-with-mic for invalid user x from 198.51.100.5 port 2200 ssh2 [preauth]",
            Some((IU, Failed, "198.51.100.5", Some(2200), Some("x"))),
        ),
        // Solaris names no invalid user.
        (
            "[ID 800047 auth.info] Failed keyboard-interactive for <invalid username> from 192.0.2.55 port 42742 ssh2",
            Some((IU, Failed, "192.0.2.55", Some(42742), None)),
        ),
        (
            "Failed keyboard-interactive for <invalid username> from 192.0.2.55 port 42742 ssh2",
            Some((IU, Failed, "192.0.2.55", Some(42742), None)),
        ),
        // Invalid user with a plain key tail (privsep off); a certificate tail carries client
        // text in more words and gives nothing.
        (
            "Failed publickey for invalid user graysky from 192.0.2.1 port 37954 ssh2: RSA SHA256:v3dpapGleDaUKf$4V1vKy",
            Some((IU, Failed, "192.0.2.1", Some(37954), Some("graysky"))),
        ),
        (
            "Failed publickey for invalid user x from 192.0.2.1 port 1 ssh2: ED25519-CERT SHA256:ab ID d (serial 7) CA ED25519 SHA256:cd",
            None,
        ),
        (
            "Postponed keyboard-interactive for invalid user support from 203.0.113.40 port 50013 ssh2 [preauth]",
            None,
        ),
        (
            "Partial publickey for dave from 198.51.100.8 port 52101 ssh2: RSA SHA256:YeoIu4",
            None,
        ),
        (
            "Accepted publickey for alice from 198.51.100.7 port 52100 ssh2: ED25519 SHA256:K9gGpA",
            Some((OK, Accepted, "198.51.100.7", Some(52100), Some("alice"))),
        ),
        (
            "Accepted password for known from 192.0.2.114 port 52100 ssh2",
            Some((OK, Accepted, "192.0.2.114", Some(52100), Some("known"))),
        ),
        // Ports out of range, garbage after the port.
        ("Failed password for root from 192.0.2.10 port 0 ssh2", None),
        (
            "Failed password for root from 192.0.2.10 port 65536 ssh2",
            None,
        ),
        (
            "Failed password for root from 192.0.2.10 port 65535 ssh2",
            Some((AF, Failed, "192.0.2.10", Some(65535), Some("root"))),
        ),
        (
            "Failed password for root from 192.0.2.10 port 22 sshX",
            None,
        ),
        (
            "Failed password for invalid user x from 192.0.2.10 port 022 ssh2",
            None,
        ),
        ("Failed password", None),
        ("Failed password for", None),
    ];
    for (body, want) in cases {
        check(body, *want);
    }
}

#[test]
fn methods_are_classified() {
    for (m, want) in [
        ("password", Method::Password),
        ("publickey", Method::Publickey),
        ("keyboard-interactive/pam", Method::KeyboardInteractive),
        ("hostbased", Method::Hostbased),
        ("gssapi-with-mic", Method::Gssapi),
        ("none", Method::None),
        ("unknown", Method::Other),
    ] {
        let line = format!(
            "Nov 24 12:00:07 gw1 sshd[1]: Failed {m} for invalid user a from 192.0.2.1 port 2 ssh2"
        );
        assert_eq!(event(line.as_bytes()).method, Some(want), "{m}");
    }
    let line = b"Nov 24 12:00:07 gw1 sshd[1]: Invalid user a from 192.0.2.1 port 2";
    assert_eq!(event(line).method, None);
}

#[test]
fn refusals_m07_m18() {
    let cases: &[(&str, Want)] = &[
        (
            "Invalid user admin from 192.0.2.10 port 51012",
            Some((IU, InvalidUser, "192.0.2.10", Some(51012), Some("admin"))),
        ),
        (
            "Invalid user ftp from 192.0.2.1",
            Some((IU, InvalidUser, "192.0.2.1", None, Some("ftp"))),
        ),
        (
            "Invalid user  from 2001:db8:77::1 port 41003",
            Some((IU, InvalidUser, "2001:db8:77::1", Some(41003), Some(""))),
        ),
        ("Invalid user from 192.0.2.1 port 5", None),
        (
            "error: maximum authentication attempts exceeded for root from 192.0.2.10 port 51000 ssh2 [preauth]",
            Some((AF, MaxAuthTries, "192.0.2.10", Some(51000), Some("root"))),
        ),
        (
            "error: maximum authentication attempts exceeded for invalid user admin from 192.0.2.195 port 40195 ssh2 [preauth]",
            Some((IU, MaxAuthTries, "192.0.2.195", Some(40195), Some("admin"))),
        ),
        // `-E` output has no level prefix.
        (
            "maximum authentication attempts exceeded for invalid user admin from 192.0.2.195 port 40195 ssh2 [preauth]",
            Some((IU, MaxAuthTries, "192.0.2.195", Some(40195), Some("admin"))),
        ),
        (
            "Disconnecting: Too many authentication failures for root from 192.0.2.10 port 51000 ssh2 [preauth]",
            Some((AF, MaxAuthTries, "192.0.2.10", Some(51000), Some("root"))),
        ),
        (
            "Disconnecting: Too many authentication failures for invalid user a from 192.0.2.10 port 51000 ssh2 [preauth]",
            Some((IU, MaxAuthTries, "192.0.2.10", Some(51000), Some("a"))),
        ),
        (
            "Disconnecting: Too many authentication failures for git [preauth]",
            None,
        ),
        (
            "Disconnecting: Too many authentication failures [preauth]",
            None,
        ),
        (
            "Disconnecting authenticating user root 192.0.2.10 port 51000: Too many authentication failures [preauth]",
            Some((AF, TooManyFailures, "192.0.2.10", Some(51000), Some("root"))),
        ),
        (
            "Disconnecting invalid user admin 198.51.100.9 port 51000: Too many authentication failures [preauth]",
            Some((
                IU,
                TooManyFailures,
                "198.51.100.9",
                Some(51000),
                Some("admin"),
            )),
        ),
        (
            "User root from 192.0.2.46 not allowed because listed in DenyUsers",
            Some((AF, NotAllowed, "192.0.2.46", None, Some("root"))),
        ),
        (
            "User root from 192.0.2.54 not allowed because a group is listed in DenyGroups",
            Some((AF, NotAllowed, "192.0.2.54", None, Some("root"))),
        ),
        (
            "User root from example.com not allowed because not listed in AllowUsers",
            None,
        ),
        (
            "User root from 203.0.113.5.dyn.example.net not allowed because not in any group",
            None,
        ),
        ("User root not allowed because account is locked", None),
        (
            "User bob not allowed because shell /bin/false is not executable",
            None,
        ),
        (
            "ROOT LOGIN REFUSED FROM 192.0.2.4",
            Some((AF, RootRefused, "192.0.2.4", None, None)),
        ),
        (
            "ROOT LOGIN REFUSED FROM 192.0.2.4 port 12345 [preauth]",
            Some((AF, RootRefused, "192.0.2.4", Some(12345), None)),
        ),
        (
            "ROOT LOGIN REFUSED FROM ::ffff:192.0.2.4",
            Some((AF, RootRefused, "192.0.2.4", None, None)),
        ),
        (
            "administratively prohibited connection for root from 192.0.2.1 port 22000",
            Some((AF, Prohibited, "192.0.2.1", Some(22000), Some("root"))),
        ),
        (
            "administratively prohibited connection for invalid user x from 192.0.2.1 port 22000",
            Some((AF, Prohibited, "192.0.2.1", Some(22000), Some("x"))),
        ),
    ];
    for (body, want) in cases {
        check(body, *want);
    }
}

#[test]
fn pam_m24_m25_m27() {
    let cases: &[(&str, Want)] = &[
        (
            "error: PAM: Authentication failure for root from 192.0.2.1",
            Some((AF, PamFailure, "192.0.2.1", None, Some("root"))),
        ),
        (
            "error: PAM: authentication failure for james from 192.0.2.88 via 198.51.100.201",
            Some((AF, PamFailure, "192.0.2.88", None, Some("james"))),
        ),
        (
            "error: PAM: Authentication error for james from 2001:db8::9 via 198.51.100.201",
            Some((AF, PamFailure, "2001:db8::9", None, Some("james"))),
        ),
        (
            "error: PAM: authentication error for illegal user admin from 198.51.100.101",
            Some((IU, PamFailure, "198.51.100.101", None, Some("admin"))),
        ),
        (
            "error: PAM: User not known to the underlying authentication module for illegal user k from 192.0.2.227 ",
            Some((IU, PamFailure, "192.0.2.227", None, Some("k"))),
        ),
        (
            "error: PAM: Authentication failure for stefanor from example.com",
            None,
        ),
        // A host name is never replaced by the local `via` address.
        (
            "error: PAM: authentication error for james from example.com via 192.0.2.1",
            None,
        ),
        (
            "error: PAM: Authentication failure for x from 192.030.0.6",
            None,
        ),
        (
            "error: PAM: pam_open_session(): x for y from 192.0.2.1",
            None,
        ),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.112  user=root",
            Some((AF, PamUnix, "192.0.2.112", None, Some("root"))),
        ),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.112 ",
            Some((AF, PamUnix, "192.0.2.112", None, None)),
        ),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=rda rhost=192.0.2.113 [preauth]",
            Some((AF, PamUnix, "192.0.2.113", None, None)),
        ),
        (
            "pam_unix(ssh-custom:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=2001:db8::3",
            Some((AF, PamUnix, "2001:db8::3", None, None)),
        ),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=host.example.com  user=root",
            None,
        ),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=x rhost=203.0.113.9 rhost=192.0.2.1",
            None,
        ),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1x",
            None,
        ),
        (
            "pam_unix(sshd:account): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1",
            None,
        ),
        ("pam_unix(sshd:auth): check pass; user unknown", None),
        (
            "pam_unix(sshd:session): session opened for user rda by (uid=0)",
            None,
        ),
        (
            "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.10  user=root",
            Some((AF, PamMore, "192.0.2.10", None, Some("root"))),
        ),
        (
            "PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=2001:db8::5",
            Some((AF, PamMore, "2001:db8::5", None, None)),
        ),
        (
            "PAM more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.10",
            None,
        ),
    ];
    for (body, want) in cases {
        check(body, *want);
    }
    // The PAM summary stands for one line: the detector weighs it.
    let e = event(b"Nov 24 12:00:07 gw1 sshd[1]: PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.10");
    assert_eq!(e.count, 1);
}

#[test]
fn disconnect_family_m29_m36() {
    let cases: &[(&str, Want)] = &[
        (
            "Received disconnect from 192.0.2.76 port 58846:11: Bye Bye [preauth]",
            Some((PR, ReceivedDisconnect, "192.0.2.76", Some(58846), None)),
        ),
        (
            "error: Received disconnect from 192.0.2.1 port 7736:3: com.jcraft.jsch.JSchException: Auth fail [preauth]",
            Some((AF, ReceivedDisconnect, "192.0.2.1", Some(7736), None)),
        ),
        (
            "Received disconnect from 192.0.2.89: 3: com.jcraft.jsch.JSchException: Auth fail",
            Some((AF, ReceivedDisconnect, "192.0.2.89", None, None)),
        ),
        (
            "error: Received disconnect from 192.0.2.92 port 1684:14: No supported authentication methods available [preauth]",
            Some((AF, ReceivedDisconnect, "192.0.2.92", Some(1684), None)),
        ),
        (
            "error: Received disconnect from 192.0.2.93 port 1883:14: No authentication methods available [preauth]",
            Some((AF, ReceivedDisconnect, "192.0.2.93", Some(1883), None)),
        ),
        (
            "Received disconnect from 2001:db8::1: 11: Bye [preauth]",
            Some((PR, ReceivedDisconnect, "2001:db8::1", None, None)),
        ),
        (
            "Received disconnect from 192.0.2.5 port 5: Bye [preauth]",
            Some((PR, ReceivedDisconnect, "192.0.2.5", Some(5), None)),
        ),
        (
            "Received disconnect from 192.0.2.5 port 5:11: disconnected by user",
            None,
        ),
        (
            "Received disconnect from 192.0.2.5 port 5:11: Bye [postauth]",
            None,
        ),
        (
            "Received disconnect from 192.0.2.5 port 5:3: Auth fail [postauth]",
            None,
        ),
        (
            "Received disconnect from host.example.com port 5:11: x [preauth]",
            None,
        ),
        // M31/M32: closes.
        (
            "Connection closed by authenticating user root 192.0.2.161 port 47003 [preauth]",
            Some((
                AF,
                ConnectionClosed,
                "192.0.2.161",
                Some(47003),
                Some("root"),
            )),
        ),
        (
            "Connection closed by invalid user admin 192.0.2.1 port 5 [preauth]",
            Some((IU, ConnectionClosed, "192.0.2.1", Some(5), Some("admin"))),
        ),
        (
            "Connection closed by invalid user  192.0.2.68 port 34916 [preauth]",
            Some((IU, ConnectionClosed, "192.0.2.68", Some(34916), Some(""))),
        ),
        (
            "Connection closed by 192.0.2.212 [preauth]",
            Some((PR, ConnectionClosed, "192.0.2.212", None, None)),
        ),
        (
            "Connection closed by 192.0.2.212 port 22 [preauth]",
            Some((PR, ConnectionClosed, "192.0.2.212", Some(22), None)),
        ),
        // Banner exchange (8.3–10.2) or 9.8+ logout: reported, the detector decides.
        (
            "Connection closed by 192.0.2.15 port 35352",
            Some((PR, ConnectionClosed, "192.0.2.15", Some(35352), None)),
        ),
        (
            "Connection closed by 192.0.2.15 port 35352 [postauth]",
            None,
        ),
        ("Connection closed by user bob 192.0.2.15 port 35352", None),
        (
            "Connection closed by authenticating user 192.0.2.15 port 35352 [preauth]",
            None,
        ),
        (
            "Connection closed by somebody 192.0.2.15 port 35352 [preauth]",
            None,
        ),
        (
            "Connection closed by invalid user x 192.0.2.15 [preauth]",
            None,
        ),
        (
            "Connection closed by example.com port 35352 [preauth]",
            None,
        ),
        // M34.
        (
            "Connection reset by 192.0.2.39 port 14282 [preauth]",
            Some((PR, ConnectionReset, "192.0.2.39", Some(14282), None)),
        ),
        (
            "Connection reset by authenticating user root 192.0.2.20 port 1558 [preauth]",
            Some((AF, ConnectionReset, "192.0.2.20", Some(1558), Some("root"))),
        ),
        // M33.
        (
            "Disconnected from invalid user admin 192.0.2.164 port 47007 [preauth]",
            Some((IU, Disconnected, "192.0.2.164", Some(47007), Some("admin"))),
        ),
        (
            "Disconnected from 192.0.2.4 port 36985 [preauth]",
            Some((PR, Disconnected, "192.0.2.4", Some(36985), None)),
        ),
        ("Disconnected from user bob 192.0.2.4 port 36985", None),
        ("Disconnected from 192.0.2.4 port 36985", None),
        // M35: only sshd's own reasons, and only an unambiguous separator.
        (
            "Disconnecting invalid user admin 192.0.2.117 port 44004: Change of username or service not allowed: (admin,ssh-connection) -> (user,ssh-connection) [preauth]",
            Some((IU, Disconnecting, "192.0.2.117", Some(44004), Some("admin"))),
        ),
        (
            "Disconnecting authenticating user bob 192.0.2.1 port 5: bad service request foo [preauth]",
            Some((AF, Disconnecting, "192.0.2.1", Some(5), Some("bob"))),
        ),
        (
            "Disconnecting 192.0.2.1 port 5: no authentication methods enabled [preauth]",
            Some((PR, Disconnecting, "192.0.2.1", Some(5), None)),
        ),
        (
            "Disconnecting 192.0.2.1 port 5: Packet corrupt [preauth]",
            None,
        ),
        (
            "Disconnecting user bob 192.0.2.1 port 5: bad service request x",
            None,
        ),
        (
            "Disconnecting invalid user a 203.0.113.9 port 22: bad service request  192.0.2.1 port 5: bad service request x [preauth]",
            None,
        ),
        // M36.
        (
            "Connection from 192.0.2.1 port 5 timed out [preauth]",
            Some((PR, TimedOut, "192.0.2.1", Some(5), None)),
        ),
        (
            "Connection from invalid user x 192.0.2.1 port 5 timed out [preauth]",
            Some((PR, TimedOut, "192.0.2.1", Some(5), Some("x"))),
        ),
        (
            "Connection to 192.0.2.1 timed out while waiting to read [preauth]",
            Some((PR, TimedOut, "192.0.2.1", None, None)),
        ),
        ("Connection from 192.0.2.1 port 5 timed out", None),
    ];
    for (body, want) in cases {
        check(body, *want);
    }
}

#[test]
fn probes_m38_m69() {
    let cases: &[(&str, Want)] = &[
        (
            "Did not receive identification string from 192.0.2.114",
            Some((PR, NoIdent, "192.0.2.114", None, None)),
        ),
        (
            "Did not receive identification string from 192.0.2.5 port 35836",
            Some((PR, NoIdent, "192.0.2.5", Some(35836), None)),
        ),
        (
            "Did not receive identification string from 192.0.2.5 port 35836 x",
            None,
        ),
        (
            "Bad protocol version identification 'dummy string' from 192.0.2.115 port 31778",
            Some((PR, BadVersion, "192.0.2.115", Some(31778), None)),
        ),
        (
            "Bad protocol version identification 'GET / HTTP/1.1' from 2001:db8::7",
            Some((PR, BadVersion, "2001:db8::7", None, None)),
        ),
        (
            "probed from 192.0.2.1 port 5 with SSH-2.0-x.  Don't panic.",
            Some((PR, Scanned, "192.0.2.1", Some(5), None)),
        ),
        (
            "scanned from 192.0.2.1 with SSH-1.5-x.  Don't panic.",
            Some((PR, Scanned, "192.0.2.1", None, None)),
        ),
        (
            "Protocol major versions differ for 192.0.2.1: SSH-2.0-x vs. SSH-1.5-y",
            Some((PR, VersionDiffer, "192.0.2.1", None, None)),
        ),
        (
            "Protocol major versions differ for 192.0.2.1 port 5: 2.0 vs. 1.5",
            Some((PR, VersionDiffer, "192.0.2.1", Some(5), None)),
        ),
        (
            "Protocol major versions differ for 2001:db8::1: SSH-2.0-x vs. SSH-1.5-y",
            Some((PR, VersionDiffer, "2001:db8::1", None, None)),
        ),
        ("error: Protocol major versions differ: 2 vs. 1", None),
        (
            "banner exchange: Connection from 198.51.100.93 port 44101: invalid format [preauth]",
            Some((PR, BannerExchange, "198.51.100.93", Some(44101), None)),
        ),
        (
            "banner exchange: Connection from 198.51.100.93 port 44101: could not read protocol version",
            Some((PR, BannerExchange, "198.51.100.93", Some(44101), None)),
        ),
        (
            "Could not write ident string to 192.0.2.1 port 5",
            Some((PR, IdentWrite, "192.0.2.1", Some(5), None)),
        ),
        (
            "Could not write ident string to 192.0.2.1",
            Some((PR, IdentWrite, "192.0.2.1", None, None)),
        ),
        (
            "Unable to negotiate with 192.0.2.1 port 55419: no matching cipher found. Their offer: aes256-cbc,3des-cbc [preauth]",
            Some((PR, Negotiate, "192.0.2.1", Some(55419), None)),
        ),
        (
            "fatal: Unable to negotiate with 192.0.2.2 port 55419: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1",
            Some((PR, Negotiate, "192.0.2.2", Some(55419), None)),
        ),
        (
            "fatal: Unable to negotiate with 2001:db8::2: no matching cipher found. Their offer: x [preauth]",
            Some((PR, Negotiate, "2001:db8::2", None, None)),
        ),
        (
            "Unable to negotiate with authenticating user root 192.0.2.1 port 5: no matching cipher found. Their offer: x [preauth]",
            None,
        ),
        (
            "fatal: Unable to negotiate a key exchange method [preauth]",
            None,
        ),
        (
            "ssh_dispatch_run_fatal: Connection from 192.0.2.93 port 50006: message authentication code incorrect [preauth]",
            Some((PR, DispatchFatal, "192.0.2.93", Some(50006), None)),
        ),
        (
            "ssh_dispatch_run_fatal: Connection from authenticating user root 192.0.2.9 port 5: Connection corrupted [preauth]",
            Some((PR, DispatchFatal, "192.0.2.9", Some(5), Some("root"))),
        ),
        (
            "fatal: ssh_dispatch_run_fatal: Connection to 192.0.2.1: no matching cipher found [preauth]",
            Some((PR, DispatchFatal, "192.0.2.1", None, None)),
        ),
        (
            "ssh_dispatch_run_fatal: Connection from user bob 192.0.2.9 port 5: Connection corrupted",
            None,
        ),
        (
            "ssh_dispatch_run_fatal: Connection from 192.0.2.9 port 5: Connection corrupted",
            None,
        ),
        (
            "fatal: Timeout before authentication for 192.0.2.1 port 5",
            Some((PR, GraceTimeout, "192.0.2.1", Some(5), None)),
        ),
        (
            "fatal: Timeout before authentication for 192.0.2.1",
            Some((PR, GraceTimeout, "192.0.2.1", None, None)),
        ),
        (
            "Timeout before authentication for connection from 192.0.2.1 to 198.51.100.1, pid = 1234",
            Some((PR, GraceTimeout, "192.0.2.1", None, None)),
        ),
        (
            "Timeout before authentication for connection from 2001:db8::1, pid = 1234 (early)",
            Some((PR, GraceTimeout, "2001:db8::1", None, None)),
        ),
        (
            "drop connection #0 from [2001:db8:bad::40]:41250 on [2001:db8::1]:22 penalty: attempted authentication by invalid user",
            Some((PR, DropConnection, "2001:db8:bad::40", Some(41250), None)),
        ),
        (
            "drop connection #3 from [203.0.113.60]:56000 on [198.51.100.1]:22 past MaxStartups",
            Some((PR, DropConnection, "203.0.113.60", Some(56000), None)),
        ),
        (
            "srclimit_penalise: ipv4: new 192.0.2.77/32 active penalty of 90.000 seconds for penalty: caused crash",
            Some((PR, Penalty, "192.0.2.77", None, None)),
        ),
        (
            "srclimit_penalise: 192.0.2.78/32: activating ipv4 penalty of 20 seconds for penalty: failed authentication",
            Some((PR, Penalty, "192.0.2.78", None, None)),
        ),
        (
            "srclimit_penalise: 2001:db8::8/128: activating ipv6 penalty of 20 seconds for penalty: failed authentication",
            Some((PR, Penalty, "2001:db8::8", None, None)),
        ),
        (
            "srclimit_penalise: 192.0.2.0/24: activating ipv4 penalty of 20 seconds for x",
            None,
        ),
        (
            "srclimit_penalise: ipv6: new 2001:db8::/64 active penalty of 20 seconds for x",
            None,
        ),
        (
            "srclimit_penalise: ipv4: new 192.0.2.77/32 deferred penalty of 5 seconds for x",
            None,
        ),
        (
            "Session process 1234 unpriv child crash for connection from 192.0.2.1 to 198.51.100.1",
            Some((PR, SessionCrash, "192.0.2.1", None, None)),
        ),
        (
            "refused connect from host.example.com (192.0.2.1)",
            Some((PR, RefusedConnect, "192.0.2.1", None, None)),
        ),
        (
            "refused connect from _U2F=_@::ffff:192.0.2.161 (::ffff:192.0.2.161)",
            Some((PR, RefusedConnect, "192.0.2.161", None, None)),
        ),
        (
            "refused connect from host.example.com (host.example.com)",
            None,
        ),
    ];
    for (body, want) in cases {
        check(body, *want);
    }
}

#[test]
fn informational_and_addressless_lines_are_not_events() {
    for body in [
        "reverse mapping checking getaddrinfo for x.example.com [192.0.2.1] failed - POSSIBLE BREAK-IN ATTEMPT!",
        "Address 192.0.2.1 maps to x.example.com, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!",
        "Nasty PTR record \"192.0.2.1\" is set up for 198.51.100.1, ignoring",
        "Connection from 192.0.2.1 port 5 on 198.51.100.1 port 22",
        "Connection from 192.0.2.1 port 5 on 198.51.100.1 port 22 rdomain \"\"",
        "Server listening on 0.0.0.0 port 22.",
        "input_userauth_request: invalid user root [preauth]",
        "User root not allowed because account is locked",
        "fatal: Access denied for user root by PAM account configuration [preauth]",
        "error: Could not get shadow information for NOUSER",
        "error: kex_exchange_identification: Connection closed by remote host",
        "error: kex_exchange_identification: client sent invalid protocol identifier \"GET / HTTP/1.1\"",
        "error: Bad remote protocol version identification: 'x'",
        "Bad packet length 0. [preauth]",
        "fatal: no matching mac found: client a server b [preauth]",
        "Timeout, client not responding from user bob 192.0.2.1 port 5",
        "pam_unix(sshd:session): session closed for user bob",
        "",
    ] {
        check(body, None);
    }
}

#[test]
fn envelopes_with_time_and_pid() {
    let cases: &[(&str, &str, Option<u32>, &str)] = &[
        (
            "Nov 24 12:00:07 gw1 sshd[2501]: Failed password for root from 192.0.2.10 port 51000 ssh2",
            "192.0.2.10",
            Some(2501),
            "2026-11-24T12:00:07+01:00",
        ),
        (
            "Nov  4 09:15:02 gw1 sshd[2510]: Invalid user admin from 192.0.2.10 port 51012",
            "192.0.2.10",
            Some(2510),
            "2026-11-04T09:15:02+01:00",
        ),
        (
            "Feb 7 16:01:07 linux-m899 sshd[5106]: User root from 192.0.2.54 not allowed because a group is listed in DenyGroups",
            "192.0.2.54",
            Some(5106),
            "2026-02-07T16:01:07+01:00",
        ),
        (
            "Jul  1 16:01:07 gw1.example.net sshd-session[5]: Invalid user a from 192.0.2.5 port 5",
            "192.0.2.5",
            Some(5),
            "2026-07-01T16:01:07+02:00",
        ),
        (
            "2026-11-24T12:10:03.512311+01:00 gw2 sshd-session[5101]: Invalid user ubnt from 2001:db8:bad::40 port 41234",
            "2001:db8:bad::40",
            Some(5101),
            "2026-11-24T12:10:03.512311+01:00",
        ),
        (
            "2026-11-24T11:10:03Z gw2 sshd[5]: Invalid user a from 192.0.2.5 port 5",
            "192.0.2.5",
            Some(5),
            "2026-11-24T11:10:03+00:00",
        ),
        (
            "2026-11-24T12:30:03+0100 gw4 sshd[6102]: Failed password for invalid user test from 192.0.2.160 port 47002 ssh2",
            "192.0.2.160",
            Some(6102),
            "2026-11-24T12:30:03+01:00",
        ),
        (
            "2026-11-24T12:30:04.123456+01:00 gw4 sshd-session[6103]: Connection closed by authenticating user root 192.0.2.161 port 47003 [preauth]",
            "192.0.2.161",
            Some(6103),
            "2026-11-24T12:30:04.123456+01:00",
        ),
        (
            "<38>1 2026-11-24T12:20:01.000123+01:00 gw3 sshd-session 3101 - -  Invalid user oracle from 2001:db8:4::66 port 55100",
            "2001:db8:4::66",
            Some(3101),
            "2026-11-24T12:20:01.000123+01:00",
        ),
        (
            "<38>1 2026-11-24T12:20:05.250000+01:00 gw3 sshd 900 - [timeQuality tzKnown=\"1\" isSynced=\"1\"] drop connection #3 from [203.0.113.60]:56000 on [198.51.100.1]:22 penalty: exceeded LoginGraceTime",
            "203.0.113.60",
            Some(900),
            "2026-11-24T12:20:05.25+01:00",
        ),
        (
            "<38>1 2019-07-08T17:40:17.954167-04:00 h.example.com sshd 55555 - [timeQuality tzKnown=\"1\" isSynced=\"0\"][xxx@123 test=\"[brackets]\"] Failed unknown for invalid user redmond from 192.0.2.2 port 55555 ssh2",
            "192.0.2.2",
            Some(55555),
            "2019-07-08T17:40:17.954167-04:00",
        ),
        (
            "<86>1 2026-11-24T12:20:06.000000+01:00 gw3 sshd-session 3105 - - \u{feff}Accepted publickey for deploy from 198.51.100.70 port 56010 ssh2: ECDSA SHA256:t71VK4",
            "198.51.100.70",
            Some(3105),
            "2026-11-24T12:20:06+01:00",
        ),
        (
            "<38>Nov 24 12:45:01 sshd-session[1301]: Invalid user admin from 192.0.2.192 port 40193",
            "192.0.2.192",
            Some(1301),
            "2026-11-24T12:45:01+01:00",
        ),
        (
            "<35>Nov 24 12:00:11 gw1 sshd[2501]: error: maximum authentication attempts exceeded for root from 192.0.2.10 port 51000 ssh2 [preauth]",
            "192.0.2.10",
            Some(2501),
            "2026-11-24T12:00:11+01:00",
        ),
        (
            "Nov 24 12:44:01 alpine1 auth.info sshd-session[1201]: Failed password for root from 2001:db8:5::9 port 40191 ssh2",
            "2001:db8:5::9",
            Some(1201),
            "2026-11-24T12:44:01+01:00",
        ),
        (
            "Nov 24 12:44:03 sshd-session[1202]: Invalid user git from 192.0.2.191 port 40192",
            "192.0.2.191",
            Some(1202),
            "2026-11-24T12:44:03+01:00",
        ),
        (
            "Dec  1 08:00:03 <4.3> bsd1 sshd[7101]: error: PAM: authentication error for illegal user admin from 198.51.100.101",
            "198.51.100.101",
            Some(7101),
            "2025-12-01T08:00:03+01:00",
        ),
        (
            "Dec  1 08:00:04 <auth.info> bsd1 sshd[7101]: Failed keyboard-interactive/pam for invalid user admin from 198.51.100.101 port 23000 ssh2",
            "198.51.100.101",
            Some(7101),
            "2025-12-01T08:00:04+01:00",
        ),
        (
            "Nov  1 08:02:00 sol11 sshd[9101]: [ID 800047 auth.info] Failed password for invalid user test from 192.0.2.190 port 40190 ssh2",
            "192.0.2.190",
            Some(9101),
            "2026-11-01T08:02:00+01:00",
        ),
        (
            "Nov 24 12:30:06.654321 gw4 sshd-session[6104]: Failed password for root from 192.0.2.162 port 47004 ssh2",
            "192.0.2.162",
            Some(6104),
            "2026-11-24T12:30:06.654321+01:00",
        ),
        (
            "Tue 2026-11-24 12:30:07 CET gw4 sshd[700]: drop connection #2 from [192.0.2.163]:47006 on [203.0.113.1]:22 penalty: connections without attempting authentication",
            "192.0.2.163",
            Some(700),
            "2026-11-24T12:30:07+01:00",
        ),
        (
            "1795519808.000123 gw4 sshd-session[6105]: Disconnected from invalid user admin 192.0.2.164 port 47007 [preauth]",
            "192.0.2.164",
            Some(6105),
            "2026-11-24T11:30:08.000123+00:00",
        ),
    ];
    for (line, addr, pid, time) in cases {
        let e = event(line.as_bytes());
        assert_eq!(e.addr, ip(addr), "{line}");
        assert_eq!(e.pid, *pid, "{line}");
        assert_eq!(e.time.unwrap().to_string(), *time, "{line}");
        assert_eq!(e.count, 1);
    }
}

#[test]
fn untimed_envelopes() {
    // fail2ban's journal corpus form.
    let e = event(
        b"srv sshd[31602]: Failed password for invalid user ROOT from 192.0.2.69 port 50273 ssh2",
    );
    assert_eq!(
        (e.time, e.pid, e.addr),
        (None, Some(31602), ip("192.0.2.69"))
    );
    // RFC 5424 with a nil timestamp.
    let e = event(b"<38>1 - gw3 sshd 9 - - Invalid user a from 192.0.2.1 port 5");
    assert_eq!((e.time, e.pid), (None, Some(9)));
    // Bare `sshd -E` output, CRLF.
    let e = event(b"Failed password for invalid user admin from 192.0.2.195 port 40195 ssh2\r");
    assert_eq!(
        (e.time, e.pid, e.addr, e.port),
        (None, None, ip("192.0.2.195"), Some(40195))
    );
    let e = event(b"maximum authentication attempts exceeded for invalid user admin from 192.0.2.195 port 40195 ssh2 [preauth]\r");
    assert_eq!(e.msg, MaxAuthTries);
    // A CR elsewhere is not a line end.
    assert!(
        parser()
            .parse(b"Invalid user a from 192.0.2.1 port 5\r\r")
            .is_none()
    );
}

/// Issue 9, item 6: `sshd -E` ends each line it writes with CR LF and leaves a raw LF in a
/// user name as it is, so a name holding LFs splits one genuine line into pieces of which
/// only the last has the CR. The pieces before it are the attacker's text.
#[test]
fn a_bare_sshd_e_line_without_its_cr_is_a_forged_fragment() {
    let written: &[u8] = b"Invalid user x\nFailed password for root from 198.51.100.9 port 22 ssh2\n\
        Accepted password for root from 198.51.100.10 port 22 ssh2\nz from 203.0.113.4 port 4711\r\n";
    let mut p = parser();
    let events: Vec<_> = written
        .strip_suffix(b"\n")
        .unwrap()
        .split(|&b| b == b'\n')
        .filter_map(|line| p.parse(line).map(|e| (e.msg, e.addr)))
        .collect();
    assert_eq!(events, [], "no piece of a split line is an event");
    // The same lines with sshd's CR LF are sshd's.
    let mut p = parser();
    let e = p
        .parse(b"Failed password for root from 198.51.100.9 port 22 ssh2\r")
        .unwrap();
    assert_eq!((e.msg, e.addr), (Failed, ip("198.51.100.9")));
    assert!(
        p.parse(b"Failed password for root from 198.51.100.9 port 22 ssh2")
            .is_none()
    );
    // A line with an envelope needs no CR: syslog escapes the LF (`#012`) or splits
    // records itself, and the forged piece has no `sshd[pid]:` of its own.
    assert!(
        p.parse(b"Nov 24 12:00:07 gw sshd[2501]: Failed password for root from 198.51.100.9 port 22 ssh2")
            .is_some()
    );
}

#[test]
fn non_sshd_lines_are_refused() {
    for line in [
        // logger -t sshd: no pid.
        &b"Nov 24 12:00:07 gw1 sshd: Failed password for root from 192.0.2.1 port 22 ssh2"[..],
        b"srv sshd: Failed password for root from 192.0.2.1 port 22 ssh2",
        b"<38>1 2026-11-24T12:20:01Z gw3 sshd - - - Failed password for root from 192.0.2.1 port 22 ssh2",
        b"Mar  3 00:17:22 [sshd]: User root from 192.0.2.49 not allowed because not listed in AllowUsers",
        b"Jun 25 23:53:34 [sshd] User root from 192.0.2.4 not allowed because not listed in AllowUsers",
        // Other programs.
        b"Nov 24 12:00:07 gw1 CRON[2501]: Failed password for root from 192.0.2.1 port 22 ssh2",
        b"Nov 24 12:00:07 gw1 sudo[2501]: Invalid user a from 192.0.2.1 port 22",
        b"Nov 24 12:00:07 gw1 sshd-keygen[2501]: Invalid user a from 192.0.2.1 port 22",
        b"srv sshd[20879]: kernel: [  970.699397] Failed password for user admin from 192.0.2.10 port 42745 ssh2",
        b"-- Boot 3f1c2d4e5a6b4c7d8e9f0a1b2c3d4e5f --",
        b"-- No entries --",
        b"",
        b"\r",
    ] {
        assert!(
            parser().parse(line).is_none(),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn rsyslog_repeats() {
    let e = event(b"Nov 24 12:00:11 gw1 sshd[2501]: message repeated 2 times: [ Failed password for root from 192.0.2.10 port 51000 ssh2]");
    assert_eq!((e.count, e.msg, e.addr), (2, Failed, ip("192.0.2.10")));
    let e = event(b"Nov 24 12:00:11 gw1 sshd[2501]: message repeated 99999999999999999999 times: [ Failed password for root from 192.0.2.10 port 51000 ssh2]");
    assert_eq!(e.count, MAX_REPEAT);
    for bad in [
        &b"Nov 24 12:00:11 gw1 sshd[1]: message repeated x times: [ Failed password for root from 192.0.2.10 port 51000 ssh2]"[..],
        b"Nov 24 12:00:11 gw1 sshd[1]: message repeated 0 times: [ Failed password for root from 192.0.2.10 port 51000 ssh2]",
        b"Nov 24 12:00:11 gw1 sshd[1]: message repeated 3 times: [ Failed password for root from 192.0.2.10 port 51000 ssh2",
        b"Nov 24 12:00:11 gw1 sshd[1]: message repeated 3 times: [ Postponed password for root from 192.0.2.10 port 51000 ssh2]",
    ] {
        assert!(parser().parse(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
    }
}

/// Every injection of openssh-messages.md §4.4, and fail2ban's: the genuine address is the
/// 198.51.100.x / 192.0.2.x one.
#[test]
fn injections_of_section_4_4_name_the_real_address() {
    let cases: &[(&str, &str, u16)] = &[
        (
            "Invalid user evil from 203.0.113.9 port 22 ssh2 from 198.51.100.77 port 50123",
            "198.51.100.77",
            50123,
        ),
        (
            "Failed password for invalid user evil from 203.0.113.9 port 22 ssh2 from 198.51.100.77 port 50123 ssh2",
            "198.51.100.77",
            50123,
        ),
        (
            "Connection closed by invalid user evil from 203.0.113.9 port 22 ssh2 198.51.100.77 port 50123 [preauth]",
            "198.51.100.77",
            50123,
        ),
        (
            "Invalid user root from 203.0.113.10 from 198.51.100.78 port 50124",
            "198.51.100.78",
            50124,
        ),
        (
            "Invalid user x\\nFailed password for root from 203.0.113.9 port 22 ssh2 from 192.0.2.73 port 41004",
            "192.0.2.73",
            41004,
        ),
        (
            "Connection closed by invalid user x\\\\nFailed password for root from 203.0.113.9 port 22 ssh2 192.0.2.73 port 41004 [preauth]",
            "192.0.2.73",
            41004,
        ),
        (
            "Failed publickey for git from 198.51.100.23 port 40022 ssh2: ED25519-CERT SHA256:abc ID deploy from 203.0.113.14 port 22 ssh2 (serial 7) CA ED25519 SHA256:def",
            "198.51.100.23",
            40022,
        ),
        (
            "Bad protocol version identification 'SSH-2.0-x' from 203.0.113.11 port 22' from 192.0.2.111 port 40001",
            "192.0.2.111",
            40001,
        ),
        // fail2ban's corpus, re-addressed.
        (
            "Failed password for invalid user test from 203.0.113.2 port 55555 ssh2 from 192.0.2.1 port 58946 ssh2",
            "192.0.2.1",
            58946,
        ),
        (
            "Failed password for invalid user from 203.0.113.1 from 192.0.2.1 port 58946 ssh2",
            "192.0.2.1",
            58946,
        ),
        (
            "Failed password for user from 192.0.2.1 port 20000 ssh1: ruser from 203.0.113.4",
            "192.0.2.1",
            20000,
        ),
        (
            "Connection closed by authenticating user test 203.0.113.1 port 12345 192.0.2.11 port 46039 [preauth]",
            "192.0.2.11",
            46039,
        ),
        (
            "Bad protocol version identification 'dummy string' from 203.0.113.1' from 192.0.2.115 port 31778",
            "192.0.2.115",
            31778,
        ),
        (
            "Received disconnect from 192.0.2.1 port 5:11: from 203.0.113.9 port 22 [preauth]",
            "192.0.2.1",
            5,
        ),
        (
            "Unable to negotiate with 192.0.2.1 port 5: no matching cipher found. Their offer: 203.0.113.9 port 22 [preauth]",
            "192.0.2.1",
            5,
        ),
        (
            "probed from 192.0.2.1 port 5 with from 203.0.113.9 port 22.  Don't panic.",
            "192.0.2.1",
            5,
        ),
        (
            "maximum authentication attempts exceeded for invalid user a from 203.0.113.9 port 22 ssh2 from 192.0.2.1 port 5 ssh2 [preauth]",
            "192.0.2.1",
            5,
        ),
        (
            "Invalid user x [preauth] from 192.0.2.1 port 5 [preauth]",
            "192.0.2.1",
            5,
        ),
        (
            "administratively prohibited connection for invalid user a from 203.0.113.9 port 22 from 192.0.2.1 port 5",
            "192.0.2.1",
            5,
        ),
    ];
    for (body, addr, port) in cases {
        let line = format!("Nov 24 12:00:07 gw1 sshd[1]: {body}");
        let e = event(line.as_bytes());
        assert_eq!((e.addr, e.port), (ip(addr), Some(*port)), "{body}");
    }
    // A user holding a reason separator makes a Disconnecting line ambiguous: nothing.
    check(
        "Disconnecting invalid user a 203.0.113.9 port 22: Too many authentication failures 192.0.2.1 port 5: Too many authentication failures [preauth]",
        None,
    );
    // A PAM user naming an address: still the last one.
    check(
        "error: PAM: Authentication failure for illegal user x from 203.0.113.9 from 192.0.2.1",
        Some((
            IU,
            PamFailure,
            "192.0.2.1",
            None,
            Some("x from 203.0.113.9"),
        )),
    );
    check(
        "error: PAM: Authentication failure for illegal user x from 203.0.113.9 via 198.51.100.1 from 192.0.2.1 via 198.51.100.1",
        Some((
            IU,
            PamFailure,
            "192.0.2.1",
            None,
            Some("x from 203.0.113.9 via 198.51.100.1"),
        )),
    );
}

/// Found by the property test: the client's service name in `bad service request <S>` can
/// end with `: Too many authentication failures`, which an end-anchored reason check took for
/// sshd's own reason and so read the injected address before it.
#[test]
fn regression_service_name_mimicking_too_many_failures() {
    check(
        "Disconnecting invalid user  203.0.113.9 port 22: Too many authentication failures 192.0.2.1 port 1: bad service request  203.0.113.9 port 22: Too many authentication failures [preauth]",
        None,
    );
    check(
        "Disconnecting invalid user a 192.0.2.1 port 1: bad service request 203.0.113.9 port 22: Too many authentication failures [preauth]",
        None,
    );
}

/// §4.5: a user name sized so that syslog's 500-byte cut ends right after an injected
/// `203.0.113.9 port 22`. The genuine tail is gone; we must not take the injected one.
#[test]
fn truncation_attack_of_section_4_5_gives_nothing() {
    let prefix = "Connection closed by invalid user ";
    let inject = "y 203.0.113.9 port 22";
    // 89 × `\001`, escaped twice as ≤10.2 relays it: `\\001`, 5 bytes each.
    let mut user = "\\\\001".repeat(89);
    let pad = TRUNCATED_AT - prefix.len() - inject.len() - user.len();
    user.push_str(&"z".repeat(pad));
    let body = format!("{prefix}{user}{inject}");
    assert_eq!(body.len(), TRUNCATED_AT);
    check(&body, None);
    // The same body one byte shorter could not have been cut: it is read from its end.
    let short = format!("{prefix}{}{inject}", &user[1..]);
    assert_eq!(short.len(), TRUNCATED_AT - 1);
    let short_user: &'static str = format!("{}y", &user[1..]).leak();
    check(
        &short,
        Some((
            IU,
            ConnectionClosed,
            "203.0.113.9",
            Some(22),
            Some(short_user),
        )),
    );
    // The Disconnecting variant, with the reason injected too.
    let prefix = "Disconnecting invalid user ";
    let inject = "y 203.0.113.9 port 22: Too many authentication failures";
    let fill = "z".repeat(TRUNCATED_AT - prefix.len() - inject.len());
    check(&format!("{prefix}{fill}{inject}"), None);
    // `error: ` counts toward the 500 bytes.
    let prefix = "error: maximum authentication attempts exceeded for invalid user ";
    let inject = "y from 203.0.113.9 port 22 ssh2";
    let fill = "z".repeat(TRUNCATED_AT - prefix.len() - inject.len());
    check(&format!("{prefix}{fill}{inject}"), None);
    // Start-anchored shapes stay safe when long: their address comes first.
    let body = format!(
        "Received disconnect from 192.0.2.1 port 5:11: {} [preauth]",
        "x".repeat(600)
    );
    check(
        &body,
        Some((PR, ReceivedDisconnect, "192.0.2.1", Some(5), None)),
    );
}

#[test]
fn hostile_bytes() {
    // NUL and invalid UTF-8 in user names are kept raw.
    let line = b"Nov 24 12:00:07 gw1 sshd[1]: Invalid user a\0b\xff\xfe from 192.0.2.1 port 5";
    let e = event(line);
    assert_eq!(e.user, Some(&b"a\0b\xff\xfe"[..]));
    assert_eq!(e.addr, ip("192.0.2.1"));
    // NUL or invalid UTF-8 inside the address is no address.
    check_bytes(b"Invalid user a from 192.0.2.1\0 port 5", None);
    check_bytes(b"Invalid user a from 192.0.\xff.1 port 5", None);
    // IPv4-mapped becomes IPv4; a zone is dropped.
    check(
        "Invalid user x from ::ffff:192.0.2.9 port 5",
        Some((IU, InvalidUser, "192.0.2.9", Some(5), Some("x"))),
    );
    check(
        "Invalid user x from 2001:db8::1%eth0 port 5",
        Some((IU, InvalidUser, "2001:db8::1", Some(5), Some("x"))),
    );
    // Host names, out-of-range octets and zero-padded octets are never addresses.
    for body in [
        "Invalid user x from host.example.com port 5",
        "Invalid user x from 203.0.113.5.dyn.example.net port 5",
        "Invalid user x from 203.0.113.300 port 5",
        "Invalid user x from 192.030.0.6 port 5",
        "Failed password for root from 203.0.113.300 port 5 ssh2",
        "ROOT LOGIN REFUSED FROM 203.0.113.300",
        "Received disconnect from 203.0.113.300 port 5:11: x [preauth]",
        "Connection closed by 203.0.113.300 port 5 [preauth]",
    ] {
        check(body, None);
    }
}

#[test]
fn megabyte_lines_are_cheap_and_safe() {
    let mut body = b"Invalid user ".to_vec();
    while body.len() < 1 << 20 {
        body.extend_from_slice(b"a from 203.0.113.9 port 22 ");
    }
    body.extend_from_slice(b"from 192.0.2.1 port 5");
    check_bytes(&body, None);
    let mut line =
        b"Nov 24 12:00:07 gw1 sshd[1]: Received disconnect from 192.0.2.1 port 5:11: ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 1 << 20));
    line.extend_from_slice(b" [preauth]");
    assert_eq!(event(&line).addr, ip("192.0.2.1"));
    let garbage: Vec<u8> = (0..1u64 << 20).map(|i| (i * 7919 % 251) as u8).collect();
    let _ = parser().parse(&garbage);
    let mut tagged = b"Nov 24 12:00:07 gw1 sshd[1]: ".to_vec();
    tagged.extend_from_slice(&garbage);
    let _ = parser().parse(&tagged);
    let spaces = vec![b' '; 1 << 20];
    let _ = parser().parse(&spaces);
}

/// Issue 9, item 9: the unquoted banner of releases before 5.0 is the client's text, so
/// a banner that names an address frames nobody: sshd writes the real one last.
#[test]
fn an_unquoted_bad_banner_naming_an_address_frames_nobody() {
    let e = event(b"Mar  3 04:00:01 old sshd[302]: Bad protocol version identification x from 192.0.2.9 port 22 from 203.0.113.5");
    assert_eq!(
        (e.msg, e.addr, e.port),
        (BadVersion, ip("203.0.113.5"), None)
    );
    let e =
        event(b"Mar  3 04:00:01 old sshd[303]: Illegal user root from 192.0.2.9 from 203.0.113.6");
    assert_eq!((e.kind, e.addr), (Kind::InvalidUser, ip("203.0.113.6")));
}

/// Issue 9, item 8: macOS's unified log as `log show|stream --style syslog` prints it (a
/// space between date and time, an offset without a colon, two spaces before the host),
/// and Void Linux's socklog (svlogd's UTC stamp `-tt` or `-ttt`, then `facility.level:`,
/// then the tag, with or without the sender's own RFC 3164 stamp).
#[test]
fn macos_and_socklog_envelopes() {
    let at = |line: &[u8]| {
        let e = event(line);
        (e.time.unwrap().to_string(), e.pid, e.addr)
    };
    assert_eq!(
        at(b"2020-03-23 06:47:42.801612-0700  localhost sshd[1234]: Invalid user admin from 203.0.113.181 port 40180"),
        ("2020-03-23T06:47:42.801612-07:00".into(), Some(1234), ip("203.0.113.181"))
    );
    assert_eq!(
        at(b"2026-11-24 12:40:01.123456+0100  localhost sshd-session[6201]: Failed password for root from 2001:db8::5 port 40180 ssh2"),
        ("2026-11-24T12:40:01.123456+01:00".into(), Some(6201), ip("2001:db8::5"))
    );
    assert_eq!(
        at(b"2026-11-24_12:40:05.12345 auth.info: sshd[6202]: Invalid user admin from 203.0.113.183 port 40180"),
        ("2026-11-24T12:40:05.12345+00:00".into(), Some(6202), ip("203.0.113.183"))
    );
    assert_eq!(
        at(b"2026-11-24T12:40:06.12345 authpriv.notice: Nov 24 13:40:06 sshd-session[6203]: Invalid user admin from 203.0.113.185 port 40180"),
        ("2026-11-24T12:40:06.12345+00:00".into(), Some(6203), ip("203.0.113.185"))
    );
    let mut p = parser();
    for forged in [
        // Another program's tag before sshd's, a facility field that is not one, no pid.
        &b"2026-11-24_12:40:07.12345 auth.info: logger[6203]: sshd[6203]: Invalid user a from 203.0.113.186 port 1"[..],
        b"2026-11-24_12:40:07.12345 auth.nosuch: sshd[6203]: Invalid user a from 203.0.113.186 port 1",
        b"2026-11-24_12:40:07.12345 auth.info: sshd: Invalid user a from 203.0.113.186 port 1",
        b"2020-03-23 06:47:42.801612-0700  localhost logger[1]: sshd[1234]: Invalid user a from 203.0.113.186 port 1",
    ] {
        assert!(p.parse(forged).is_none(), "{}", String::from_utf8_lossy(forged));
    }
}
