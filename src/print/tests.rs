//! The printer's output, byte for byte, and its helpers against the standard library.

use super::text::*;
use super::*;
use crate::event::LogTime;
use std::net::Ipv6Addr;

fn printable(user: &[u8]) -> String {
    let mut buf = Vec::new();
    push_printable(&mut buf, user);
    String::from_utf8(buf).unwrap()
}

fn json(bytes: &[u8]) -> String {
    let mut buf = Vec::new();
    json_str(&mut buf, bytes);
    String::from_utf8(buf).unwrap()
}

#[test]
fn printable_escapes_control_characters_and_spaces() {
    assert_eq!(printable(b"adm\x1b[2Jin"), "adm\\u{1b}[2Jin");
    assert_eq!(printable(b"a b"), "a\\x20b");
    assert_eq!(printable(b""), "\"\"");
    // Non-ASCII is escaped: `ｒｏｏｔ` must not pass for root, nor take other widths.
    assert_eq!(printable(b"caf\xc3\xa9"), "caf\\u{e9}");
    assert_eq!(
        printable("ｒｏｏｔ".as_bytes()),
        "\\u{ff52}\\u{ff4f}\\u{ff4f}\\u{ff54}"
            .chars()
            .take(15)
            .collect::<String>()
            + "…"
    );
}

/// Issue 9, item 7: whatever the user name, the table's columns stay where the header
/// puts them: a name over 16 columns is cut, and nothing in it is wider than one column.
#[test]
fn a_crafted_user_name_keeps_the_table_aligned() {
    let names: [&[u8]; 6] = [
        b"bob",
        b"exactly16columns",
        b"a-name-much-longer-than-its-column",
        "ｒｏｏｔ".as_bytes(),
        b"tab\there\x1b[31m",
        "漢字のユーザー名".as_bytes(),
    ];
    let mut out = Vec::new();
    let mut p = Printer::new(&mut out, false);
    for (i, name) in names.iter().enumerate() {
        let ev = Event {
            time: None,
            kind: Kind::InvalidUser,
            msg: Msg::InvalidUser,
            addr: "192.0.2.1".parse().unwrap(),
            by_pid: false,
            port: Some(22),
            user: Some(name),
            method: None,
            count: 1,
            pid: None,
        };
        p.event(i as u64 + 1, &ev, b"");
    }
    p.finish().unwrap();
    let text = String::from_utf8(out).unwrap();
    let column = |l: &str, word: &str| l.rfind(word).map(|b| l[..b].chars().count());
    let header = text.lines().next().unwrap();
    let want = column(header, "MESSAGE");
    for row in text.lines().skip(1) {
        assert_eq!(column(row, " invalid-user ").map(|c| c + 1), want, "{text}");
        assert!(
            row.chars()
                .all(|c| c.is_ascii_graphic() || c == ' ' || c == '…'),
            "{row}"
        );
    }
}

#[test]
fn json_strings_are_escaped_and_lossy() {
    assert_eq!(json(b"root"), "\"root\"");
    assert_eq!(json(b"a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(json(b"x\ny\x01"), r#""x\ny\u0001""#);
    assert_eq!(json(b"r\xffoot"), "\"r\u{fffd}oot\"");
    for bytes in [
        &b"plain"[..],
        b"with \"quotes\"",
        b"\x7f\x00",
        b"caf\xc3\xa9",
    ] {
        let back: String = serde_json::from_str(&json(bytes)).unwrap();
        assert_eq!(back, String::from_utf8_lossy(bytes));
    }
}

fn log_time(secs: i64, nanos: i32, offset: i32) -> LogTime {
    LogTime {
        instant: jiff::Timestamp::new(secs, nanos).unwrap(),
        offset: jiff::tz::Offset::from_seconds(offset).unwrap(),
    }
}

#[test]
fn time_text_is_jiffs() {
    let mut tt = TimeText::default();
    for (secs, nanos, offset) in [
        (1_795_519_808, 0, 0),
        (1_795_519_808, 529_000_000, 0),
        (1_795_519_808, 529_000_000, 3600),
        (1_795_519_808, 1, -16_200),
        (1_795_519_808, 999_999_999, 0),
        (1_795_519_809, 100, 0),
        (0, 0, 0),
        (-1, 500_000_000, 0),
        (-1, 0, 0),
        (-62_000_000_000, 5, 0),
        (1_795_519_808, 5, 3 * 3600 + 7 * 60 + 9),
        (253_402_200_000, 123_000, 0),
    ] {
        let t = log_time(secs, nanos, offset);
        assert_eq!(
            String::from_utf8(tt.text(t).to_vec()).unwrap(),
            t.to_string(),
            "{secs} {nanos} {offset}"
        );
    }
}

#[test]
fn fractions_of_one_second_leave_nothing_behind() {
    // Long and short fractions in turn, with the longest offset jiff writes: each text
    // is whole and nothing of the last one shows after it.
    let mut tt = TimeText::default();
    for offset in [3 * 3600 + 7 * 60 + 9, 0, -(25 * 3600 + 59 * 60 + 59)] {
        for nanos in [
            123_456_789,
            0,
            100_000_000,
            999_999_999,
            5,
            120_000_000,
            0,
            1,
        ] {
            let t = log_time(1_795_519_808, nanos, offset);
            let text = tt.text(t).to_vec();
            assert_eq!(String::from_utf8(text).unwrap(), t.to_string());
            assert!(tt.out.bytes[tt.out.len..].iter().all(|&c| c == b' '));
        }
    }
}

/// A fraction of a second in nanoseconds, often with trailing zeros.
fn nanos() -> impl proptest::strategy::Strategy<Value = u32> {
    use proptest::strategy::Strategy;
    proptest::prop_oneof![
        1u32..1_000_000_000,
        (1u64..1000, 0u32..9).prop_map(|(n, z)| (n * 10u64.pow(z)).min(999_999_999) as u32),
    ]
}

proptest::proptest! {
    // The fraction is jiff's: nine digits less their trailing zeros.
    #[test]
    fn fraction_text_is_the_trimmed_nine_digits(nanos in nanos()) {
        let (digits, len) = fraction_text(nanos);
        let want = format!(".{nanos:09}");
        proptest::prop_assert_eq!(
            String::from_utf8(digits[..len].to_vec()).unwrap(),
            want.trim_end_matches('0')
        );
    }
}

proptest::proptest! {
    // Runs of instants a few seconds apart (within a minute and across minutes, hours,
    // days and years), with any fraction and offset.
    #[test]
    fn time_text_of_nearby_seconds_agrees_with_display(
        start in -100_000_000_000i64..200_000_000_000,
        offset in -93_599i32..93_600,
        steps in proptest::collection::vec((0i64..90, 0i32..1_000_000_000), 1..40),
    ) {
        let mut tt = TimeText::default();
        let mut secs = start;
        for (step, nanos) in steps {
            secs += step;
            let t = log_time(secs, nanos, offset);
            proptest::prop_assert_eq!(String::from_utf8(tt.text(t).to_vec()).unwrap(), t.to_string());
        }
    }
}

proptest::proptest! {
    // Runs of instants in the same and in other seconds, with any fraction and offset.
    #[test]
    fn time_text_agrees_with_display(
        times in proptest::collection::vec(
            (-100_000_000_000i64..200_000_000_000, 0i32..1_000_000_000, -93_599i32..93_600, 0usize..3),
            1..20,
        )
    ) {
        let mut tt = TimeText::default();
        let mut prev: Option<(i64, i32)> = None;
        for (secs, nanos, offset, reuse) in times {
            // Sometimes stay in the previous second and offset.
            let (secs, offset) = match (reuse, prev) {
                (0, Some(p)) => p,
                _ => (secs, offset),
            };
            prev = Some((secs, offset));
            let nanos = match reuse { 1 => nanos / 1_000_000 * 1_000_000, _ => nanos };
            let t = log_time(secs, nanos, offset);
            proptest::prop_assert_eq!(String::from_utf8(tt.text(t).to_vec()).unwrap(), t.to_string());
        }
    }
}

fn byte() -> impl proptest::strategy::Strategy<Value = u8> {
    proptest::prop_oneof![
        proptest::num::u8::ANY,
        proptest::sample::select(vec![
            0u8, 0x1f, 0x20, 0x21, b'"', b'\\', b'a', 0x7e, 0x7f, 0x80, 0xc3, 0xff
        ]),
    ]
}

proptest::proptest! {
    // The word-at-a-time tests agree with the byte tests.
    #[test]
    fn word_tests_agree_with_byte_tests(bytes in proptest::collection::vec(byte(), 0..40)) {
        proptest::prop_assert_eq!(
            json_plain(&bytes),
            bytes.iter().all(|&b| b.is_ascii() && b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
        );
        proptest::prop_assert_eq!(all_graphic(&bytes), bytes.iter().all(u8::is_ascii_graphic));
    }

    // IPv6 text as std's, with runs of zero groups of every length and mapped IPv4.
    #[test]
    fn ipv6_text_is_displays(
        groups in proptest::collection::vec(
            proptest::prop_oneof![proptest::strategy::Just(0u16), proptest::strategy::Just(1u16), proptest::num::u16::ANY],
            8,
        ),
        mapped in proptest::bool::ANY,
    ) {
        let mut g: [u16; 8] = groups.try_into().unwrap();
        if mapped {
            g[..5].fill(0);
            g[5] = 0xffff;
        }
        let v6 = Ipv6Addr::from(g);
        proptest::prop_assert_eq!(ip_string(IpAddr::V6(v6)), v6.to_string());
    }
}

#[test]
fn every_octet_prints_like_display() {
    for o in 0..=255u8 {
        for v4 in [
            Ipv4Addr::new(o, o, o, o),
            Ipv4Addr::new(1, o, 100, o),
            Ipv4Addr::new(o, 9, o, 255),
        ] {
            assert_eq!(ip_string(IpAddr::V4(v4)), v4.to_string());
        }
    }
    for a in [
        "::",
        "::1",
        "1::",
        "::ffff:1.2.3.4",
        "::1.2.3.4",
        "1:0:0:1:0:0:0:1",
        "1:0:0:1:0:0:1:1",
        "0:1::",
    ] {
        let v6: Ipv6Addr = a.parse().unwrap();
        assert_eq!(ip_string(IpAddr::V6(v6)), v6.to_string());
    }
}

/// What a cursor over a buffer of garbage writes.
fn ip_string(addr: IpAddr) -> String {
    let mut out = [0xaa; 64];
    let len = ip_text(addr, &mut out);
    String::from_utf8(out[..len].to_vec()).unwrap()
}

fn written(f: impl FnOnce(&mut Cursor<'_>)) -> Vec<u8> {
    let mut buf = vec![0xaa; 128];
    let mut w = Cursor::new(&mut buf, 3);
    f(&mut w);
    let at = w.pos();
    buf[3..at].to_vec()
}

fn number_text(n: u64) -> String {
    String::from_utf8(written(|w| w.number(n))).unwrap()
}

#[test]
fn numbers_print_like_display() {
    for n in (0..100_000).chain([
        99_999_999,
        100_000_000,
        100_000_001,
        1_234_567_890,
        9_999_999_999_999_999,
        10_000_000_000_000_000,
        10_000_000_000_000_001,
        u64::MAX,
    ]) {
        assert_eq!(number_text(n), n.to_string());
    }
    for k in 0..20 {
        let p = 10u64.pow(k);
        for n in [p - 1, p, p + 1] {
            assert_eq!(number_text(n), n.to_string());
        }
    }
}

proptest::proptest! {
    #[test]
    fn any_number_prints_like_display(n in proptest::num::u64::ANY, small in 0u64..100_000_000) {
        proptest::prop_assert_eq!(number_text(n), n.to_string());
        proptest::prop_assert_eq!(number_text(small), small.to_string());
    }

    // Copies of every short length, and nothing written past them.
    #[test]
    fn cursor_copies_bytes(bytes in proptest::collection::vec(byte(), 0..60)) {
        let mut buf = vec![0xaa; 128];
        let mut w = Cursor::new(&mut buf, 5);
        w.bytes(&bytes);
        proptest::prop_assert_eq!(w.pos(), 5 + bytes.len());
        proptest::prop_assert_eq!(&buf[5..5 + bytes.len()], &bytes[..]);
        proptest::prop_assert!(buf[..5].iter().chain(&buf[5 + bytes.len()..]).all(|&b| b == 0xaa));
    }
}

#[test]
fn addresses_print_like_display() {
    for a in [
        "0.0.0.0",
        "192.0.2.1",
        "255.255.255.255",
        "10.20.0.3",
        "2001:db8::1",
    ] {
        let addr: IpAddr = a.parse().unwrap();
        assert_eq!(ip_string(addr), a);
    }
}

/// An event's line as the printer wrote it before it had a cursor, by the plainest
/// means: `format!`, serde_json and [`push_printable`] (the table pads by bytes).
fn reference(file: &str, line: u64, ev: &Event<'_>, json: bool) -> String {
    if json {
        let quoted = |s: &str| serde_json::to_string(s).unwrap();
        let or_null = |v: Option<String>| v.unwrap_or_else(|| "null".to_string());
        format!(
            "{{\"file\":{},\"line\":{line},\"time\":{},\"kind\":\"{}\",\"addr\":\"{}\",\"user\":{},\"msg\":\"{}\",\"method\":{},\"port\":{},\"count\":{}}}\n",
            quoted(file),
            or_null(ev.time.map(|t| format!("\"{t}\""))),
            ev.kind,
            ev.addr,
            or_null(ev.user.map(|u| quoted(&String::from_utf8_lossy(u)))),
            ev.msg,
            or_null(ev.method.map(|m| quoted(m.as_str()))),
            or_null(ev.port.map(|p| p.to_string())),
            ev.count.max(1)
        )
    } else {
        let mut user = Vec::new();
        match ev.user {
            Some(u) => push_printable(&mut user, u),
            None => user.push(b'-'),
        }
        user.resize(user.len().max(16), b' ');
        let repeated = if ev.count > 1 {
            format!(" repeated={}", ev.count)
        } else {
            String::new()
        };
        format!(
            "{:<32} {:<12} {:<39} {} {:<19} {file}:{line}{repeated}\n",
            ev.time.map_or("-".to_string(), |t| t.to_string()),
            ev.kind.as_str(),
            ev.addr.to_string(),
            String::from_utf8_lossy(&user),
            ev.msg.as_str()
        )
    }
}

const MSGS: [Msg; 5] = [
    Msg::Failed,
    Msg::Accepted,
    Msg::ReceivedDisconnect,
    Msg::ConnectionClosed,
    Msg::TooManyFailures,
];
const METHODS: [Method; 7] = [
    Method::Password,
    Method::Publickey,
    Method::KeyboardInteractive,
    Method::Hostbased,
    Method::Gssapi,
    Method::None,
    Method::Other,
];

/// A user name: often short and plain, sometimes escaped, empty or thousands of bytes.
fn user() -> impl proptest::strategy::Strategy<Value = Option<Vec<u8>>> {
    use proptest::strategy::Strategy;
    proptest::option::of(proptest::prop_oneof![
        4 => proptest::string::string_regex("[a-z0-9._-]{1,20}").unwrap().prop_map(String::into_bytes),
        2 => proptest::collection::vec(byte(), 0..40),
        1 => (1usize..3000, byte()).prop_map(|(n, b)| vec![b; n]),
    ])
}

/// An address of either family, IPv6 with runs of zeros.
fn addr() -> impl proptest::strategy::Strategy<Value = IpAddr> {
    use proptest::strategy::Strategy;
    proptest::prop_oneof![
        proptest::num::u32::ANY.prop_map(|v| IpAddr::V4(Ipv4Addr::from_bits(v))),
        proptest::num::u128::ANY.prop_map(|v| IpAddr::V6(Ipv6Addr::from_bits(v))),
        (0u128..1 << 40).prop_map(|v| IpAddr::V6(Ipv6Addr::from_bits(v << 64 | 1))),
    ]
}

type RawEvent = (
    Option<(i64, i32, i32)>,
    (usize, usize, Option<usize>),
    IpAddr,
    Option<u16>,
    Option<Vec<u8>>,
    u32,
    u64,
);

fn raw_event() -> impl proptest::strategy::Strategy<Value = RawEvent> {
    (
        proptest::option::of((
            1_700_000_000i64..1_700_000_100,
            proptest::prop_oneof![proptest::strategy::Just(0i32), 0i32..1_000_000_000],
            proptest::prop_oneof![proptest::strategy::Just(0i32), -50_000i32..50_000],
        )),
        (
            0usize..4,
            0usize..MSGS.len(),
            proptest::option::of(0usize..METHODS.len()),
        ),
        addr(),
        proptest::option::of(proptest::num::u16::ANY),
        user(),
        proptest::prop_oneof![0u32..3, proptest::num::u32::ANY],
        proptest::prop_oneof![0u64..10, 0u64..1_000_000_000, proptest::num::u64::ANY],
    )
}

proptest::proptest! {
    // The printer writes what the plain formatting does, for random events in two
    // files, through a buffer short enough to flush and grow often. As in a log, events
    // often share their time, address, kind, message, user or port with the one before,
    // so that a text kept from an event is used again, and one kept too long would show.
    #[test]
    fn printer_agrees_with_plain_formatting(
        mut events in proptest::collection::vec(raw_event(), 1..40),
        shares in proptest::collection::vec(0u16..2048, 40),
        json in proptest::bool::ANY,
        len in proptest::prop_oneof![proptest::strategy::Just(BUF_LEN), 0usize..2000],
        long_name in proptest::bool::ANY,
    ) {
        let files = if long_name {
            ["/var/log/\"quoted\"/a-rather-long-directory-name/and-more/auth.log.1".to_string(), "-".to_string()]
        } else {
            ["auth.log".to_string(), "/x/\u{e9}\\".to_string()]
        };
        let mut out = Vec::new();
        let mut expected = String::new();
        if !json {
            expected.push_str(&format!(
                "{:<32} {:<12} {:<39} {:<16} {:<19} WHERE\n",
                "TIME", "KIND", "ADDRESS", "USER", "MESSAGE"
            ));
        }
        for i in 1..events.len() {
            let (prev, next) = events.split_at_mut(i);
            let (prev, next) = (&prev[i - 1], &mut next[0]);
            let share = shares[i];
            if share & 1 != 0 {
                next.0 = prev.0;
            }
            if share & 2 != 0 {
                next.2 = prev.2;
            }
            if share & 4 != 0 {
                next.1.0 = prev.1.0;
            }
            if share & 8 != 0 {
                next.1.1 = prev.1.1;
                next.1.2 = prev.1.2;
            }
            if share & 16 != 0 {
                next.4 = prev.4.clone();
            }
            if share & 32 != 0 {
                next.3 = prev.3;
            }
            if share & 64 != 0 {
                // A few lines on, or ten and more.
                next.6 = prev.6.wrapping_add(u64::from(share >> 7));
            }
        }
        let mut p = Printer::with_len(&mut out, json, len);
        for (i, (time, (kind, msg, method), addr, port, user, count, line)) in events.iter().enumerate() {
            let file = &files[usize::from(i >= events.len() / 2)];
            if i == 0 || i == events.len() / 2 {
                p.set_file(file);
            }
            let ev = Event {
                time: time.map(|(s, n, o)| log_time(s, n, o)),
                kind: Kind::ALL[*kind],
                msg: MSGS[*msg],
                addr: *addr,
                by_pid: false,
                port: *port,
                user: user.as_deref(),
                method: method.map(|m| METHODS[m]),
                count: *count,
                pid: None,
            };
            p.event(*line, &ev, b"");
            expected.push_str(&reference(file, *line, &ev, json));
        }
        p.finish().unwrap();
        proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
