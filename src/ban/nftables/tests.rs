//! The nft commands and scripts the backend runs (recorded), and how it reads their answers.

use super::*;
use crate::ban::fixtures::{NOW, cidr, order};
use crate::ban::{Backend, RecordedCall, RecordingRunner};

fn backend(ports: Vec<u16>) -> (Nftables, RecordingRunner) {
    let rec = RecordingRunner::default();
    let nft = Nftables::new(Box::new(rec.clone()), "nft".into(), "authban", ports).unwrap();
    (nft, rec)
}

fn script(stdin: &str) -> RecordedCall {
    RecordedCall {
        program: "nft".into(),
        args: vec!["-f".into(), "-".into()],
        stdin: Some(stdin.into()),
    }
}

const SETUP: &str = "add table inet authban\n\
    add set inet authban ban4 { type ipv4_addr; flags timeout; }\n\
    add set inet authban ban6 { type ipv6_addr; flags timeout; }\n\
    add set inet authban net4 { type ipv4_addr; flags interval, timeout; }\n\
    add set inet authban net6 { type ipv6_addr; flags interval, timeout; }\n\
    add chain inet authban input { type filter hook input priority filter - 10; policy accept; }\n\
    flush chain inet authban input\n\
    add rule inet authban input ip saddr @ban4 tcp dport { 22 } counter drop\n\
    add rule inet authban input ip6 saddr @ban6 tcp dport { 22 } counter drop\n\
    add rule inet authban input ip saddr @net4 tcp dport { 22 } counter drop\n\
    add rule inet authban input ip6 saddr @net6 tcp dport { 22 } counter drop\n";

const FLUSH: &str = "flush set inet authban ban4\nflush set inet authban ban6\n\
    flush set inet authban net4\nflush set inet authban net6\n";

#[test]
fn setup_creates_table_sets_and_one_rule_per_set() {
    let (mut nft, rec) = backend(vec![22]);
    nft.setup().unwrap();
    assert_eq!(rec.calls(), vec![script(SETUP)]);
}

#[test]
fn setup_lists_several_ports_or_drops_everything_without_ports() {
    let (mut nft, rec) = backend(vec![22, 2222, 22]);
    nft.setup().unwrap();
    let stdin = rec.take_calls()[0].stdin.clone().unwrap();
    assert!(stdin.contains("ip saddr @ban4 tcp dport { 22, 2222 } counter drop\n"));
    let (mut nft, rec) = backend(vec![]);
    nft.setup().unwrap();
    let stdin = rec.take_calls()[0].stdin.clone().unwrap();
    assert!(stdin.contains("add rule inet authban input ip saddr @ban4 counter drop\n"));
    assert!(stdin.contains("add rule inet authban input ip6 saddr @ban6 counter drop\n"));
}

#[test]
fn ban_sends_hosts_networks_and_timeouts_in_one_transaction() {
    let (mut nft, rec) = backend(vec![22]);
    nft.ban(
        &[
            order("203.0.113.5", Some(3600)),
            order("2001:db8::7", Some(60)),
            order("2001:db8:1:2::/64", None),
            order("198.51.100.9", None),
            // Already past its expiry: still sent with the smallest timeout, never as
            // permanent.
            order("192.0.2.1", Some(-5)),
            // A duplicate keeps the longer ban.
            order("203.0.113.5", Some(7200)),
        ],
        NOW,
    )
    .unwrap();
    assert_eq!(
        rec.calls(),
        vec![script(
            "add element inet authban ban4 { 203.0.113.5 timeout 7200s, 198.51.100.9, 192.0.2.1 timeout 1s }\n\
             add element inet authban ban6 { 2001:db8::7 timeout 60s }\n\
             add element inet authban net6 { 2001:db8:1:2::/64 }\n"
        )]
    );
}

/// nft takes at most eight digits per number of a time: a ban longer than 10^8 s (about
/// 3 years, up to config's 5,200 weeks) is written in days and seconds, which it takes.
#[test]
fn a_ban_of_years_is_written_in_days_nft_accepts() {
    let (mut nft, rec) = backend(vec![22]);
    nft.ban(
        &[
            order("192.0.2.1", Some(99_999_999)),
            order("192.0.2.2", Some(3_144_960_000)),
            order("192.0.2.3", Some(100_000_007)),
        ],
        NOW,
    )
    .unwrap();
    assert_eq!(
        rec.calls(),
        vec![script(
            "add element inet authban ban4 { 192.0.2.1 timeout 99999999s, 192.0.2.2 timeout 36400d0s, 192.0.2.3 timeout 1157d35207s }\n"
        )]
    );
}

#[test]
fn empty_ban_and_unban_run_nothing() {
    let (mut nft, rec) = backend(vec![22]);
    nft.ban(&[], NOW).unwrap();
    nft.unban(&[]).unwrap();
    assert!(rec.calls().is_empty());
}

#[test]
fn unban_deletes_in_one_transaction() {
    let (mut nft, rec) = backend(vec![22]);
    nft.unban(&[cidr("203.0.113.5"), cidr("2001:db8:1:2::/64")])
        .unwrap();
    assert_eq!(
        rec.calls(),
        vec![script(
            "delete element inet authban ban4 { 203.0.113.5 }\n\
             delete element inet authban net6 { 2001:db8:1:2::/64 }\n"
        )]
    );
}

#[test]
fn unban_retries_per_element_and_ignores_absent_ones() {
    let (mut nft, rec) = backend(vec![22]);
    rec.answer(RecordingRunner::fail(
        "/dev/stdin:1:36-42: Error: element does not exist\n",
    ));
    rec.answer(RecordingRunner::ok(""));
    rec.answer(RecordingRunner::fail(
        "Error: Could not process rule: No such file or directory\n",
    ));
    nft.unban(&[cidr("192.0.2.1"), cidr("192.0.2.2")]).unwrap();
    assert_eq!(
        rec.calls(),
        vec![
            script("delete element inet authban ban4 { 192.0.2.1, 192.0.2.2 }\n"),
            script("delete element inet authban ban4 { 192.0.2.1 }\n"),
            script("delete element inet authban ban4 { 192.0.2.2 }\n"),
        ]
    );
}

#[test]
fn failed_batch_is_retried_per_element_and_failures_reported_together() {
    let (mut nft, rec) = backend(vec![22]);
    rec.answer(RecordingRunner::fail(
        "/dev/stdin:1:33-44: Error: interval overlaps with an existing one\n\
         add element inet authban ban4 { 198.51.100.5 timeout 60s }\n\
         \x20                               ^^^^^^^^^^^^\n",
    ));
    rec.answer(RecordingRunner::ok(""));
    rec.answer(RecordingRunner::fail(
        "/dev/stdin:1:33-44: Error: interval overlaps with an existing one\n",
    ));
    rec.answer(RecordingRunner::ok(""));
    let err = nft
        .ban(
            &[
                order("192.0.2.1", Some(60)),
                order("198.51.100.5", Some(60)),
                order("2001:db8::1", None),
            ],
            NOW,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "nftables: 1 of 3 bans failed: 198.51.100.5: interval overlaps with an existing one"
    );
    assert_eq!(
        rec.calls(),
        vec![
            script(
                "add element inet authban ban4 { 192.0.2.1 timeout 60s, 198.51.100.5 timeout 60s }\n\
                 add element inet authban ban6 { 2001:db8::1 }\n"
            ),
            script("add element inet authban ban4 { 192.0.2.1 timeout 60s }\n"),
            script("add element inet authban ban4 { 198.51.100.5 timeout 60s }\n"),
            script("add element inet authban ban6 { 2001:db8::1 }\n"),
        ]
    );
}

#[test]
fn missing_table_is_not_retried_per_element() {
    let (mut nft, rec) = backend(vec![22]);
    rec.answer(RecordingRunner::fail(
        "Error: Could not process rule: No such file or directory\n",
    ));
    let err = nft
        .ban(&[order("192.0.2.1", None), order("192.0.2.2", None)], NOW)
        .unwrap_err();
    assert_eq!(rec.calls().len(), 1);
    assert!(err.to_string().contains("setup recreates them"), "{err}");
}

fn many(n: usize) -> Vec<BanOrder> {
    (0..n)
        .map(|i| BanOrder {
            target: Cidr::host(std::net::IpAddr::from([
                10,
                0,
                (i / 256) as u8,
                (i % 256) as u8,
            ])),
            expires_at: Some(NOW + 600),
        })
        .collect()
}

#[test]
fn five_thousand_bans_take_three_transactions() {
    let (mut nft, rec) = backend(vec![22]);
    nft.ban(&many(5_000), NOW).unwrap();
    let calls = rec.calls();
    assert_eq!(calls.len(), 3);
    let sizes: Vec<usize> = calls
        .iter()
        .map(|c| c.stdin.as_ref().unwrap().matches("timeout 600s").count())
        .collect();
    assert_eq!(sizes, [2_000, 2_000, 1_000]);
    assert!(calls.iter().all(|c| c.args == ["-f", "-"]));
}

#[test]
fn restore_flushes_and_refills_in_the_first_transaction() {
    let (mut nft, rec) = backend(vec![22]);
    nft.restore(
        &[
            order("203.0.113.5", Some(10)),
            order("2001:db8:1:2::/64", None),
        ],
        NOW,
    )
    .unwrap();
    let expected = format!(
        "{FLUSH}add element inet authban ban4 {{ 203.0.113.5 timeout 10s }}\n\
         add element inet authban net6 {{ 2001:db8:1:2::/64 }}\n"
    );
    assert_eq!(rec.take_calls(), vec![script(SETUP), script(&expected)]);

    nft.restore(&[], NOW).unwrap();
    assert_eq!(rec.take_calls(), vec![script(SETUP), script(FLUSH)]);

    nft.restore(&many(4_500), NOW).unwrap();
    let calls = rec.take_calls();
    assert_eq!(calls.len(), 4);
    assert!(calls[1].stdin.as_ref().unwrap().contains("flush set"));
    assert!(!calls[2].stdin.as_ref().unwrap().contains("flush"));
}

#[test]
fn setup_on_an_older_layout_makes_the_table_anew_with_its_elements() {
    let (mut nft, rec) = backend(vec![22]);
    rec.answer(RecordingRunner::fail(
        "/dev/stdin:2:16-19: Error: Could not process rule: File exists\n",
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"name": "ban4", "elem": [{"elem": {"val": "203.0.113.5", "timeout": 3600, "expires": 1800}}, "198.51.100.9"]}}]}"#,
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"name": "ban6", "elem": [{"prefix": {"addr": "2001:db8:1:2::", "len": 64}}]}}]}"#,
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"name": "net4"}}]}"#,
    ));
    rec.answer(RecordingRunner::fail(
        "Error: Could not process rule: Operation not permitted\n",
    ));
    let err = nft.setup();
    assert!(err.is_err(), "a set that cannot be listed fails the remake");
    assert_eq!(rec.take_calls().len(), 5, "nothing deleted");

    rec.answer(RecordingRunner::fail(
        "/dev/stdin:2:16-19: Error: Could not process rule: File exists\n",
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"name": "ban4", "elem": [{"elem": {"val": "203.0.113.5", "timeout": 3600, "expires": 1800}}, "198.51.100.9"]}}]}"#,
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"name": "ban6", "elem": [{"prefix": {"addr": "2001:db8:1:2::", "len": 64}}]}}]}"#,
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"name": "net4"}}]}"#,
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"name": "net6"}}]}"#,
    ));
    nft.setup().unwrap();
    let calls = rec.take_calls();
    assert_eq!(calls.len(), 6);
    assert_eq!(
        calls[5],
        script(&format!(
            "delete table inet authban\n{SETUP}\
             add element inet authban ban4 {{ 203.0.113.5 timeout 1800s, 198.51.100.9 }}\n\
             add element inet authban net6 {{ 2001:db8:1:2::/64 }}\n"
        ))
    );
}

#[test]
fn restore_keeps_the_flush_when_one_element_is_refused() {
    let (mut nft, rec) = backend(vec![22]);
    rec.answer(RecordingRunner::ok(""));
    rec.answer(RecordingRunner::fail(
        "Error: interval overlaps with an existing one\n",
    ));
    rec.answer(RecordingRunner::ok(""));
    rec.answer(RecordingRunner::ok(""));
    rec.answer(RecordingRunner::fail(
        "Error: interval overlaps with an existing one\n",
    ));
    let err = nft
        .restore(
            &[order("192.0.2.0/24", None), order("192.0.2.0/25", None)],
            NOW,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("1 of 2 bans failed: 192.0.2.0/25"),
        "{err}"
    );
    let calls = rec.calls();
    assert_eq!(calls[0], script(SETUP));
    assert_eq!(calls[2], script(FLUSH));
    assert_eq!(
        calls[3],
        script("add element inet authban net4 { 192.0.2.0/24 }\n")
    );
    assert_eq!(
        calls[4],
        script("add element inet authban net4 { 192.0.2.0/25 }\n")
    );
    assert_eq!(calls.len(), 5);
}

#[test]
fn netlink_ranges_are_half_open_and_leave_the_top_to_nft() {
    let r = netlink::range(&cidr("10.0.0.255"), Some(60_000)).unwrap();
    assert_eq!((r.start, r.end), (vec![10, 0, 0, 255], vec![10, 0, 1, 0]));
    let r = netlink::range(&cidr("2001:db8:1:2::/64"), None).unwrap();
    let end: std::net::Ipv6Addr = "2001:db8:1:3::".parse().unwrap();
    assert_eq!(r.end, end.octets().to_vec());
    assert!(netlink::range(&cidr("255.255.255.255"), None).is_none());
    assert!(netlink::range(&cidr("ffff:ffff:ffff:ffff::/64"), None).is_none());
}

#[test]
fn netlink_batch_is_begin_messages_end_with_aligned_lengths() {
    let mut b = netlink::Batch::new(7);
    b.flush("authban", "net4");
    let ranges: Vec<_> = (0..netlink::PER_MESSAGE + 1)
        .map(|i| netlink::range(&many(i + 1)[i].target, Some(1000)).unwrap())
        .collect();
    b.add("authban", "net4", &ranges, true);
    let (bytes, acked) = b.end();
    assert_eq!(acked, 3, "the flush and two messages of elements");
    let mut at = 0;
    let mut types = Vec::new();
    while at < bytes.len() {
        let len = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        assert!(
            (20..65_536).contains(&len) && len.is_multiple_of(4),
            "{len}"
        );
        types.push(u16::from_ne_bytes(
            bytes[at + 4..at + 6].try_into().unwrap(),
        ));
        at += len;
    }
    assert_eq!(at, bytes.len());
    assert_eq!(types, [0x10, 0x0a0e, 0x0a0c, 0x0a0c, 0x11]);
}

#[test]
fn teardown_deletes_only_our_table_even_when_absent() {
    let (mut nft, rec) = backend(vec![22]);
    nft.teardown().unwrap();
    assert_eq!(
        rec.calls(),
        vec![script(
            "add table inet authban\ndelete table inet authban\n"
        )]
    );
}

#[test]
fn names_outside_the_strict_class_are_refused() {
    for bad in ["", "auth ban", "a;b", "1abc", "a-b", "x}", &"a".repeat(32)] {
        let err = Nftables::new(
            Box::new(RecordingRunner::default()),
            "nft".into(),
            bad,
            vec![22],
        )
        .unwrap_err();
        assert!(err.to_string().contains("table name"), "{bad}: {err}");
    }
    let err = Nftables::new(
        Box::new(RecordingRunner::default()),
        "nft".into(),
        "ok",
        vec![0],
    )
    .unwrap_err();
    assert!(err.to_string().contains("port 0"));
}

#[test]
fn missing_program_is_a_spawn_error_naming_it() {
    if crate::ban::fixtures::spawn_errors_are_lost("missing_program_is_a_spawn_error_naming_it") {
        return;
    }
    let mut nft = Nftables::new(
        Box::new(crate::ban::SystemRunner),
        "/nonexistent/authban-test/nft".into(),
        "authban",
        vec![22],
    )
    .unwrap();
    let err = nft.setup().unwrap_err();
    assert!(matches!(err, BackendError::Spawn { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "nftables: cannot run /nonexistent/authban-test/nft: No such file or directory (os error 2)"
    );
}

#[test]
fn failing_nft_reports_its_message() {
    let (mut nft, rec) = backend(vec![22]);
    rec.answer(RecordingRunner::fail(
        "Error: Could not process rule: Operation not permitted\n",
    ));
    let err = nft.setup().unwrap_err();
    assert!(matches!(err, BackendError::Failed { .. }));
    assert_eq!(
        err.to_string(),
        "nftables: nft failed (exit status: 1): Error: Could not process rule: Operation not permitted"
    );
}

const TABLE_JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "authban", "handle": 1}}, {"set": {"family": "inet", "name": "ban4", "table": "authban", "type": "ipv4_addr", "handle": 1, "flags": ["timeout"]}}, {"set": {"family": "inet", "name": "ban6", "table": "authban", "type": "ipv6_addr", "handle": 2, "flags": ["timeout"]}}, {"set": {"family": "inet", "name": "net4", "table": "authban", "type": "ipv4_addr", "handle": 3, "flags": ["interval", "timeout"]}}, {"set": {"family": "inet", "name": "net6", "table": "authban", "type": "ipv6_addr", "handle": 4, "flags": ["interval", "timeout"]}}, {"chain": {"family": "inet", "table": "authban", "name": "input", "handle": 5, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}}, {"rule": {"family": "inet", "table": "authban", "chain": "input", "handle": 6, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@ban4"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "authban", "chain": "input", "handle": 7, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": "@ban6"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "authban", "chain": "input", "handle": 8, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@net4"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "authban", "chain": "input", "handle": 9, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": "@net6"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}]}"#;

/// The table as authban made it before networks had sets of their own.
const OLD_TABLE_JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "authban", "handle": 1}}, {"set": {"family": "inet", "name": "ban4", "table": "authban", "type": "ipv4_addr", "handle": 1, "flags": ["interval", "timeout"]}}, {"set": {"family": "inet", "name": "ban6", "table": "authban", "type": "ipv6_addr", "handle": 2, "flags": ["interval", "timeout"]}}, {"chain": {"family": "inet", "table": "authban", "name": "input", "handle": 3, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}}, {"rule": {"family": "inet", "table": "authban", "chain": "input", "handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@ban4"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "authban", "chain": "input", "handle": 6, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": "@ban6"}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}]}"#;

#[test]
fn check_reads_the_table_as_json() {
    let (mut nft, rec) = backend(vec![22]);
    rec.answer(RecordingRunner::ok(TABLE_JSON));
    nft.check().unwrap();
    assert_eq!(
        rec.calls()[0].args,
        ["-j", "list", "table", "inet", "authban"]
    );
    let incomplete = TABLE_JSON.replace("@net6", "@other");
    rec.answer(RecordingRunner::ok(&incomplete));
    let err = nft.check().unwrap_err();
    assert_eq!(
        err.to_string(),
        "nftables: table inet authban is incomplete: no rule dropping @net6; setup recreates it"
    );
    rec.answer(RecordingRunner::ok(OLD_TABLE_JSON));
    let err = nft.check().unwrap_err().to_string();
    assert!(err.contains("set ban4 has flag interval"), "{err}");
    assert!(err.contains("no set net6 of type ipv6_addr"), "{err}");
    rec.answer(RecordingRunner::fail("Error: No such file or directory\n"));
    assert!(matches!(nft.check(), Err(BackendError::Failed { .. })));
    rec.answer(RecordingRunner::ok("not json"));
    assert!(nft.check().unwrap_err().to_string().contains("no JSON"));
}

#[test]
fn list_reads_every_element_form() {
    let (mut nft, rec) = backend(vec![22]);
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "inet", "name": "ban4", "table": "authban", "type": "ipv4_addr", "flags": ["interval", "timeout"], "elem": ["10.0.0.1", {"prefix": {"addr": "198.51.100.0", "len": 24}}, {"elem": {"val": "203.0.113.5", "timeout": 1000, "expires": 999}}]}}]}"#,
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"family": "inet", "name": "ban6", "table": "authban", "type": "ipv6_addr", "elem": ["2001:db8::1"]}}]}"#,
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"family": "inet", "name": "net4", "table": "authban", "type": "ipv4_addr"}}]}"#,
    ));
    rec.answer(RecordingRunner::ok(
        r#"{"nftables": [{"set": {"family": "inet", "name": "net6", "table": "authban", "type": "ipv6_addr", "elem": [{"elem": {"val": {"prefix": {"addr": "2001:db8:1:2::", "len": 64}}, "timeout": 500, "expires": 499}}]}}]}"#,
    ));
    let got = nft.elements().unwrap();
    let want = [
        ("10.0.0.1", None),
        ("198.51.100.0/24", None),
        ("203.0.113.5", Some(999)),
        ("2001:db8::1", None),
        ("2001:db8:1:2::/64", Some(499)),
    ]
    .map(|(t, e)| SetElement {
        target: cidr(t),
        expires_in: e,
    });
    assert_eq!(got, want);
    let calls = rec.calls();
    assert_eq!(
        calls[0].args,
        ["-j", "list", "set", "inet", "authban", "ban4"]
    );
    assert_eq!(
        calls[3].args,
        ["-j", "list", "set", "inet", "authban", "net6"]
    );
    // An empty set has no `elem` at all.
    for set in ["ban4", "ban6", "net4", "net6"] {
        rec.answer(RecordingRunner::ok(&format!(
            r#"{{"nftables": [{{"set": {{"name": "{set}"}}}}]}}"#
        )));
    }
    assert_eq!(nft.list().unwrap(), vec![]);
}
