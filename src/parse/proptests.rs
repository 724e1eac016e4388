//! Property tests: whatever a client puts in its user name, every user-bearing shape yields the
//! address the line was built with, or nothing — never another address (STYLE.md §12). And
//! no input panics.

use std::net::IpAddr;

use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::Parser;

fn parser() -> Parser {
    Parser::new(TimeZone::UTC, "2026-11-25T00:00:00Z".parse().unwrap())
}

/// Pieces an attacker would put in a user name to look like a tail.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b" from ".to_vec()),
        Just(b"from".to_vec()),
        Just(b" port ".to_vec()),
        Just(b" port 22".to_vec()),
        Just(b" ssh2".to_vec()),
        Just(b" ssh2: RSA SHA256:x".to_vec()),
        Just(b" [preauth]".to_vec()),
        Just(b" [postauth]".to_vec()),
        Just(b"203.0.113.9".to_vec()),
        Just(b"2001:db8::bad".to_vec()),
        Just(b"::ffff:203.0.113.7".to_vec()),
        Just(b" 203.0.113.9 port 22".to_vec()),
        Just(b"invalid user ".to_vec()),
        Just(b"authenticating user ".to_vec()),
        Just(b"illegal user ".to_vec()),
        Just(b" via ".to_vec()),
        Just(b": Too many authentication failures".to_vec()),
        Just(b": bad service request ".to_vec()),
        Just(b"\\n".to_vec()),
        Just(b"\\\\001".to_vec()),
        Just(b" ".to_vec()),
        Just(b"'".to_vec()),
        Just(b":".to_vec()),
        // Any byte but the line end.
        any::<u8>()
            .prop_filter("no LF", |b| *b != b'\n')
            .prop_map(|b| vec![b]),
    ]
}

fn user() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..12).prop_map(|v| v.concat())
}

fn genuine_addr() -> impl Strategy<Value = (IpAddr, String)> {
    prop_oneof![
        (0u8..=255).prop_map(|x| {
            let a: IpAddr = format!("192.0.2.{x}").parse().unwrap();
            (a, a.to_string())
        }),
        any::<u16>().prop_map(|x| {
            let a: IpAddr = format!("2001:db8::{x:x}").parse().unwrap();
            (a, a.to_string())
        }),
    ]
}

/// Every shape where the client's text precedes the address, as sshd formats it.
const SHAPES: &[&str] = &[
    "Failed password for invalid user {U} from {A} port {N} ssh2",
    "Failed publickey for invalid user {U} from {A} port {N} ssh2: RSA SHA256:abc",
    "Accepted password for invalid user {U} from {A} port {N} ssh2",
    "Invalid user {U} from {A} port {N}",
    "Invalid user {U} from {A}",
    "error: maximum authentication attempts exceeded for invalid user {U} from {A} port {N} ssh2 [preauth]",
    "Disconnecting: Too many authentication failures for invalid user {U} from {A} port {N} ssh2 [preauth]",
    "Disconnecting invalid user {U} {A} port {N}: Too many authentication failures [preauth]",
    "Disconnecting authenticating user {U} {A} port {N}: Change of username or service not allowed: ({U},ssh-connection) -> ({U}x,ssh-connection) [preauth]",
    "Disconnecting invalid user {U} {A} port {N}: bad service request {U} [preauth]",
    "Connection closed by invalid user {U} {A} port {N} [preauth]",
    "Connection closed by authenticating user {U} {A} port {N} [preauth]",
    "Connection reset by invalid user {U} {A} port {N} [preauth]",
    "Disconnected from invalid user {U} {A} port {N} [preauth]",
    "Connection from invalid user {U} {A} port {N} timed out [preauth]",
    "ssh_dispatch_run_fatal: Connection from invalid user {U} {A} port {N}: Connection corrupted [preauth]",
    "error: PAM: Authentication failure for illegal user {U} from {A}",
    "error: PAM: authentication error for illegal user {U} from {A} via 198.51.100.1",
    "administratively prohibited connection for invalid user {U} from {A} port {N}",
    "Bad protocol version identification '{U}' from {A} port {N}",
    "message repeated 2 times: [ Invalid user {U} from {A} port {N}]",
];

fn build(shape: &str, user: &[u8], addr: &str, port: u16) -> Vec<u8> {
    let mut out = b"Nov 24 12:00:07 gw1 sshd[77]: ".to_vec();
    let mut rest = shape;
    while let Some(at) = rest.find('{') {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        match &rest[at..at + 3] {
            "{U}" => out.extend_from_slice(user),
            "{A}" => out.extend_from_slice(addr.as_bytes()),
            "{N}" => out.extend_from_slice(port.to_string().as_bytes()),
            other => panic!("{other}"),
        }
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn user_text_never_moves_the_address(
        shape in 0..SHAPES.len(),
        user in user(),
        (addr, text) in genuine_addr(),
        port in 1u16..,
    ) {
        let line = build(SHAPES[shape], &user, &text, port);
        if let Some(e) = parser().parse(&line) {
            prop_assert_eq!(e.addr, addr, "{:?}", String::from_utf8_lossy(&line));
            if SHAPES[shape].contains("port {N}") {
                prop_assert_eq!(e.port, Some(port));
            }
            // The user is reported exactly as the client sent it.
            if let Some(u) = e.user {
                prop_assert_eq!(u, &user[..]);
            }
        }
    }

    /// Lines short enough not to be cut must not be lost either (except where the user text
    /// legitimately makes the line ambiguous): the defence is not "return None always".
    #[test]
    fn plain_users_are_found(
        shape in 0..SHAPES.len(),
        user in "[a-z0-9._-]{0,20}",
        (addr, text) in genuine_addr(),
        port in 1u16..,
    ) {
        let line = build(SHAPES[shape], user.as_bytes(), &text, port);
        let e = parser().parse(&line);
        prop_assert!(e.is_some(), "{:?}", String::from_utf8_lossy(&line));
        prop_assert_eq!(e.unwrap().addr, addr);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut p = parser();
        let _ = p.parse(&bytes);
        let mut tagged = b"Nov 24 12:00:07 gw1 sshd[1]: ".to_vec();
        tagged.extend_from_slice(&bytes);
        let _ = p.parse(&tagged);
        let mut rfc5424 = b"<38>1 ".to_vec();
        rfc5424.extend_from_slice(&bytes);
        let _ = p.parse(&rfc5424);
        let _ = super::parse_message(&bytes);
    }

    #[test]
    fn arbitrary_text_after_known_prefixes_never_panics(
        prefix in proptest::sample::select(vec![
            "Failed password for ", "Failed password for invalid user ", "Invalid user ",
            "Connection closed by ", "Disconnecting ", "Received disconnect from ",
            "Unable to negotiate with ", "PAM: Authentication failure for ", "PAM 3 more authentication failures; ",
            "pam_unix(sshd:auth): authentication failure; ", "drop connection #", "srclimit_penalise: ",
            "Timeout before authentication for ", "refused connect from ", "banner exchange: Connection from ",
            "ssh_dispatch_run_fatal: Connection from ", "Session process ", "probed from ", "User ",
            "Bad protocol version identification ", "message repeated ",
        ]),
        tail in proptest::collection::vec(fragment(), 0..16),
    ) {
        let mut body = prefix.as_bytes().to_vec();
        body.extend_from_slice(&tail.concat());
        let _ = super::parse_message(&body);
        let mut line = b"Nov 24 12:00:07 gw1 sshd[1]: ".to_vec();
        line.extend_from_slice(&body);
        let _ = parser().parse(&line);
    }
}

/// Bytes around the edges of the digit range, and digits.
fn fraction_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => proptest::sample::select(b"0123456789".to_vec()),
        1 => proptest::sample::select(vec![
            b'/', b':', b'.', b'+', b'-', b'Z', b' ', 0x00, 0x7f, 0x80, 0xb0, 0xba, 0xff
        ]),
        1 => proptest::num::u8::ANY,
    ]
}

proptest! {
    // A fraction is its first nine digits as nanoseconds, whatever surrounds it.
    #[test]
    fn fraction_is_its_first_nine_digits(
        lead in proptest::collection::vec(fraction_byte(), 0..3),
        dot in proptest::bool::weighted(0.9),
        tail in proptest::collection::vec(fraction_byte(), 0..20),
    ) {
        let mut b = lead.clone();
        let at = b.len();
        b.push(if dot { b'.' } else { b'x' });
        b.extend_from_slice(&tail);
        let digits: String = tail.iter().take_while(|c| c.is_ascii_digit()).map(|&c| c as char).collect();
        let want = if !dot {
            Some((0, at))
        } else if digits.is_empty() {
            None
        } else {
            let nine: String = format!("{digits:0<9}").chars().take(9).collect();
            Some((nine.parse::<u32>().unwrap(), at + 1 + digits.len()))
        };
        prop_assert_eq!(super::time::fraction(&b, at), want);
    }
}
