//! The envelope of every log format, and the fast paths against the plain reading.

use super::*;
use proptest::prelude::*;

fn env(line: &str) -> Option<(bool, Option<u32>, String)> {
    split(line.as_bytes()).map(|e| {
        (
            e.time.is_some(),
            e.pid,
            String::from_utf8_lossy(e.body).into_owned(),
        )
    })
}

fn ok(line: &str, pid: u32, body: &str) {
    assert_eq!(
        env(line),
        Some((true, Some(pid), body.to_owned())),
        "{line:?}"
    );
}

#[test]
fn syslog_file_forms() {
    ok("Nov 24 12:00:07 gw1 sshd[2501]: Failed x", 2501, "Failed x");
    ok(
        "Nov  4 09:15:02 gw1 sshd[2510]: Invalid x",
        2510,
        "Invalid x",
    );
    ok(
        "Feb 7 16:01:07 linux-m899 sshd[5106]: User x",
        5106,
        "User x",
    );
    ok("Nov 24 12:00:07 gw1.example.net sshd-session[1]: m", 1, "m");
    ok("Nov 24 12:00:07 sshd-auth[7]: m", 7, "m");
    ok(
        "2026-11-24T12:10:03.512311+01:00 gw2 sshd-session[5101]: Invalid x",
        5101,
        "Invalid x",
    );
    ok("2026-11-24T12:10:03Z gw2 sshd[5]: m", 5, "m");
    ok("2026-11-24T12:30:03+0100 gw4 sshd[6102]: m", 6102, "m");
    ok("2026-11-24T12:30:04.123456+01:00 gw4 sshd[3]: m", 3, "m");
    ok(
        "Nov 24 12:30:06.654321 gw4 sshd-session[6104]: m",
        6104,
        "m",
    );
    ok("Tue 2026-11-24 12:30:07 CET gw4 sshd[700]: m", 700, "m");
    ok("1795519808.000123 gw4 sshd-session[6105]: m", 6105, "m");
    ok(
        "Nov 24 12:44:01 alpine1 auth.info sshd-session[1201]: m",
        1201,
        "m",
    );
    ok("Nov 24 12:44:03 sshd-session[1202]: m", 1202, "m");
    ok("Dec  1 08:00:03 <4.3> bsd1 sshd[7101]: m", 7101, "m");
    ok("Dec  1 08:00:04 <auth.info> bsd1 sshd[7101]: m", 7101, "m");
    ok(
        "Dec  1 08:02:00 sol11 sshd[9101]: [ID 800047 auth.info] Failed x",
        9101,
        "Failed x",
    );
    ok("Nov 24 12:00:07 2001:db8:: sshd[9]: m", 9, "m");
}

#[test]
fn raw_datagrams_and_rfc5424() {
    ok(
        "<38>Nov 24 12:45:01 sshd-session[1301]: Invalid x",
        1301,
        "Invalid x",
    );
    ok("<38>Nov 24 12:45:02 gw1 sshd-session[1301]: m", 1301, "m");
    ok(
        "<38>1 2026-11-24T12:20:01.000123+01:00 gw3 sshd-session 3101 - -  Invalid user oracle",
        3101,
        "Invalid user oracle",
    );
    ok(
        "<38>1 2026-11-24T12:20:05.250000+01:00 gw3 sshd 900 - [timeQuality tzKnown=\"1\" isSynced=\"1\"] drop x",
        900,
        "drop x",
    );
    ok(
        "<38>1 2019-07-08T17:40:17.954167-04:00 h.example.com sshd 55555 - [timeQuality tzKnown=\"1\" isSynced=\"0\"][xxx@123 test=\"[brackets]\"] Failed x",
        55555,
        "Failed x",
    );
    ok(
        "<38>1 2026-11-24T12:20:05Z gw3 sshd 900 ID47 [a@1 v=\"q\\\"]\\]\"] m",
        900,
        "m",
    );
    ok(
        "<86>1 2026-11-24T12:20:06Z gw3 sshd-session 3105 - - \u{feff}Accepted x",
        3105,
        "Accepted x",
    );
    assert_eq!(
        env("<38>1 - gw3 sshd 9 - - m"),
        Some((false, Some(9), "m".into()))
    );
    assert_eq!(env("<38>1 2026-11-24T12:20:01Z gw3 sshd - - - m"), None);
    assert_eq!(env("<38>1 2026-11-24T12:20:01Z gw3 cron 5 - - m"), None);
    assert_eq!(
        env("<38>1 2026-11-24T12:20:01Z gw3 sshd 5 - [unclosed m"),
        None
    );
}

proptest::proptest! {
    // Reusing the previous line's timestamp never changes what a line splits into: runs
    // of lines whose stamps share, extend or cut each other's bytes, parsed with one cache,
    // agree with each line parsed alone.
    #[test]
    fn stamp_cache_is_invisible(
        lines in proptest::collection::vec(
            (0usize..STAMPS.len(), 0usize..TAILS.len(), proptest::option::of((0usize..48, proptest::prelude::any::<u8>()))),
            1..24,
        )
    ) {
        let mut cache = StampCache::default();
        for (stamp, tail, edit) in lines {
            let mut line = [STAMPS[stamp].as_bytes(), TAILS[tail].as_bytes()].concat();
            if let Some((at, byte)) = edit
                && at < line.len()
            {
                line[at] = byte;
            }
            proptest::prop_assert_eq!(split_with(&line, &mut cache), split(&line));
        }
    }
}

/// An RFC 3339 stamp's parts: date and time (some out of range), the fraction's digits
/// (none: no dot; empty: a bare dot), the offset as written, and what follows it.
type Rfc3339 = (
    (u16, u8, u8, u8, u8, u8),
    Option<Vec<u8>>,
    String,
    &'static str,
);

fn rfc3339_parts() -> impl Strategy<Value = Rfc3339> {
    let digits = prop_oneof![
        Just(None),
        proptest::collection::vec(b'0'..=b'9', 0..12).prop_map(Some),
    ];
    let offset = prop_oneof![
        Just("Z".to_string()),
        Just("z".to_string()),
        Just(String::new()),
        Just("+1".to_string()),
        (0u8..30, 0u8..64, any::<bool>(), any::<bool>()).prop_map(|(h, m, minus, colon)| {
            let sign = if minus { '-' } else { '+' };
            if colon {
                format!("{sign}{h:02}:{m:02}")
            } else {
                format!("{sign}{h:02}{m:02}")
            }
        }),
    ];
    (
        (
            prop_oneof![Just(2024u16), Just(2026), 0u16..10_000],
            0u8..14,
            0u8..33,
            0u8..26,
            0u8..62,
            0u8..62,
        ),
        digits,
        offset,
        prop_oneof![
            Just(" "),
            Just(" gw1 sshd[2501]: m"),
            Just(""),
            Just("x"),
            Just(" x")
        ],
    )
}

fn rfc3339_line(((y, mo, d, h, mi, s), digits, offset, after): &Rfc3339) -> Vec<u8> {
    let mut line = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}").into_bytes();
    if let Some(digits) = digits {
        line.push(b'.');
        line.extend_from_slice(digits);
    }
    line.extend_from_slice(offset.as_bytes());
    line.extend_from_slice(after.as_bytes());
    line
}

proptest::proptest! {
    // The stamps of one second with other digits (the cache's fast path) split as the
    // general parse does: runs of RFC 3339 stamps that keep or change the second, the
    // number of digits, the offset and what follows, parsed with one cache, agree with
    // each line parsed alone.
    #[test]
    fn stamps_of_one_second_are_read_as_alone(
        first in rfc3339_parts(),
        steps in proptest::collection::vec(
            (0usize..5, proptest::collection::vec(b'0'..=b'9', 0..12), rfc3339_parts(), any::<bool>()),
            1..24,
        ),
    ) {
        let mut cache = StampCache::default();
        let mut parts = first;
        let line = rfc3339_line(&parts);
        proptest::prop_assert_eq!(split_with(&line, &mut cache), split(&line));
        for (change, digits, other, pri) in steps {
            match change {
                // The same second with other digits, as many or not.
                0 | 1 => {
                    let n = parts.1.as_ref().map_or(digits.len(), Vec::len);
                    parts.1 = Some(if change == 0 { digits.iter().copied().cycle().take(n).collect() } else { digits });
                }
                2 => parts.2 = other.2,
                3 => parts.3 = other.3,
                _ => parts = other,
            }
            let mut line = rfc3339_line(&parts);
            if pri {
                line.splice(0..0, b"<38>".iter().copied());
            }
            proptest::prop_assert_eq!(split_with(&line, &mut cache), split(&line), "{:?}", String::from_utf8_lossy(&line));
        }
    }
}

const STAMPS: [&str; 20] = [
    "2026-11-24T12:10:03.+01:00 ",
    "2026-11-24T12:10:03 ",
    "2026-13-24T12:10:03Z ",
    "2026-11-24T12:10:03.9-04:00 ",
    "Nov 24 12:00:07 ",
    "Nov 24 12:00:07",
    "Nov 24 12:00:07.5 ",
    "Nov 24 12:00:07.50 ",
    "Nov  4 12:00:07 ",
    "Nov 4 12:00:07 ",
    "2026-11-24T12:10:03.512311+01:00 ",
    "2026-11-24T12:10:03.512311+01:00",
    "2026-11-24T12:10:03.5123+01:00 ",
    "2026-11-24T12:10:03+0100 ",
    "2026-11-24T12:10:03Z ",
    "Tue 2026-11-24 12:30:07 CET ",
    "Tue 2026-11-24 12:30:07 +03 ",
    "1795519808.000123 ",
    "<38>Nov 24 12:00:07 ",
    "",
];

const TAILS: [&str; 6] = [
    "gw1 sshd[2501]: Failed x",
    "sshd[7]: m",
    " gw1 sshd[1]: m",
    "0 gw1 sshd[1]: m",
    "x",
    "",
];

#[test]
fn pids_are_whole_u32_decimals() {
    assert_eq!(decimal_u32(b"0"), Some(0));
    assert_eq!(decimal_u32(b"2501"), Some(2501));
    assert_eq!(decimal_u32(b"4294967295"), Some(u32::MAX));
    for bad in [
        &b""[..],
        b"4294967296",
        b"9999999999",
        b"12a",
        b"-1",
        b"+1",
        b"00000000001",
    ] {
        assert_eq!(decimal_u32(bad), None, "{bad:?}");
    }
    assert_eq!(decimal_u32(b"0000000001"), Some(1));
}

#[test]
fn untimed_forms() {
    assert_eq!(
        env("srv sshd[13709]: error: PAM: x"),
        Some((false, Some(13709), "error: PAM: x".into()))
    );
    assert_eq!(env("sshd[1]: m"), Some((false, Some(1), "m".into())));
    // Bare `sshd -E` output is the whole line.
    assert_eq!(
        env("Failed password for root from 192.0.2.1 port 2 ssh2"),
        Some((
            false,
            None,
            "Failed password for root from 192.0.2.1 port 2 ssh2".into()
        ))
    );
    assert_eq!(env("srv cron[1]: m"), None);
}

#[test]
fn other_programs_and_forgeries_are_refused() {
    for line in [
        "Nov 24 12:00:07 gw1 sshd: Failed password for root from 192.0.2.1 port 2 ssh2",
        "Nov 24 12:00:07 gw1 CRON[2501]: m",
        "Nov 24 12:00:07 gw1 sshdx[2501]: m",
        "Nov 24 12:00:07 gw1 sshd[]: m",
        "Nov 24 12:00:07 gw1 sshd[12a]: m",
        "Nov 24 12:00:07 gw1 sshd[99999999999]: m",
        "Nov 24 12:00:07 gw1 sshd[1]:",
        "Nov 24 12:00:07 gw1 sshd[1]: ",
        "Mar  3 00:17:22 [sshd]: User root from 192.0.2.1 not allowed because x",
        "Jun 25 23:53:34 [sshd] User root from 192.0.2.1 not allowed because x",
        "Nov 24 12:00:07 gw1 su: sshd[1]: m",
        "Dec  1 08:00:05 bsd1 last message repeated 3 times",
        "-- Boot 3f1c2d4e5a6b4c7d8e9f0a1b2c3d4e5f --",
        "-- No entries --",
        "<38>Nov 24 12:45:01 sshd: m",
        "<3x>Nov 24 12:45:01 sshd[1]: m",
        "2026-11-24T12:10:03 gw2 sshd[1]: m",
        "1795519808 gw4 sshd[1]: m",
        "",
    ] {
        assert_eq!(env(line), None, "{line:?}");
    }
}

mod fast_path {
    use proptest::prelude::*;

    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"gw1".to_vec()),
            Just(b"gw1:".to_vec()),
            Just(b"2001:db8::".to_vec()),
            Just(b" ".to_vec()),
            Just(b"sshd".to_vec()),
            Just(b"sshd-session".to_vec()),
            Just(b"sshd-auth".to_vec()),
            Just(b"sshd-sessio".to_vec()),
            Just(b"[".to_vec()),
            Just(b"]".to_vec()),
            Just(b"]:".to_vec()),
            Just(b": ".to_vec()),
            Just(b"]: ".to_vec()),
            Just(b"123".to_vec()),
            Just(b"4294967295".to_vec()),
            Just(b"4294967296".to_vec()),
            Just(b"99999999999".to_vec()),
            Just(b"0".to_vec()),
            Just(b"auth.info".to_vec()),
            Just(b"[ID 800047 auth.info] ".to_vec()),
            Just(b"Failed password for root from 192.0.2.1 port 22 ssh2".to_vec()),
            proptest::collection::vec(proptest::num::u8::ANY, 0..4),
        ]
    }

    fn shaped() -> impl Strategy<Value = Vec<u8>> {
        (
            piece(),
            proptest::sample::select(vec![
                &b"sshd["[..],
                b"sshd-session[",
                b"sshd-auth[",
                b"sshd [",
            ]),
            proptest::collection::vec(piece(), 0..4),
        )
            .prop_map(|(host, tag, rest)| {
                let mut line = host;
                line.push(b' ');
                line.extend_from_slice(tag);
                line.extend_from_slice(&rest.concat());
                line
            })
    }

    proptest! {
        // The fast path agrees with the general loop, whatever follows the timestamp.
        #[test]
        fn host_sshd_agrees_with_the_loop(
            line in prop_oneof![shaped(), proptest::collection::vec(piece(), 0..8).prop_map(|p| p.concat())]
        ) {
            prop_assert_eq!(super::super::tagged(None, &line), super::super::tagged_slow(None, &line));
        }

        // The pid's digits are counted and summed as counting and parsing them would.
        #[test]
        fn leading_digits_count_and_sum_the_digits(
            d in proptest::collection::vec(prop_oneof![
                4 => proptest::char::range('0', '9').prop_map(|c| c as u8),
                1 => any::<u8>(),
                1 => Just(b']'),
            ], 0..14)
        ) {
            let n = d.iter().take(11).take_while(|c| c.is_ascii_digit()).count();
            let want = std::str::from_utf8(&d[..n]).unwrap().parse::<u64>().unwrap_or(0);
            prop_assert_eq!(super::super::leading_digits(&d), (n, want));
        }
    }
}
