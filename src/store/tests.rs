use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::event::Kind;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cursor(seed: u64) -> Cursor {
    Cursor {
        dev: seed,
        ino: seed + 1,
        offset: seed * 100,
        line: seed * 3,
        head_len: 4096,
        head_hash: seed ^ 0xdead_beef,
    }
}

fn ban(addr: &str, banned_at: i64, expires_at: Option<i64>, offences: u32) -> BanRecord {
    BanRecord {
        target: addr.parse().unwrap(),
        banned_at,
        expires_at,
        offences,
        reason: format!("{offences} offences").into(),
        node: None,
    }
}

#[test]
fn migrations_from_empty_create_every_table() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 6);
    assert_eq!(store.cursor("/var/log/auth.log").unwrap(), None);
    assert!(store.bans().unwrap().is_empty());
    assert!(store.history().unwrap().is_empty());
    assert!(store.trusted().unwrap().is_empty());
}

#[test]
fn a_fleet_ban_keeps_its_node_and_a_local_one_has_none() {
    let mut store = Store::open_in_memory().unwrap();
    let remote = BanRecord {
        node: Some("web-2".into()),
        ..ban("203.0.113.9", 1, Some(100), 1)
    };
    store
        .save(&Update {
            bans: &[remote.clone(), ban("192.0.2.7", 1, None, 1)],
            ..Update::default()
        })
        .unwrap();
    let bans = store.bans().unwrap();
    assert_eq!(bans[0].node, None, "{bans:?}");
    assert_eq!(bans[1], remote);
}

#[test]
fn open_creates_private_dir_and_file_in_wal_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state/authban");
    let store = Store::open(&dir).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
    let journal: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let timeout: i64 = store
        .conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .unwrap();
    assert_eq!(timeout, 10_000);
}

#[test]
fn reopen_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let cursors = [("/var/log/auth.log".to_string(), cursor(7))];
    let bans = [ban("192.0.2.1", 1000, Some(2000), 2)];
    let history = [(
        ip("2001:db8::1"),
        tally(vec![Mark {
            at_ms: 5,
            points: 3,
            kind: Kind::InvalidUser,
        }]),
    )];
    {
        let mut store = Store::open(tmp.path()).unwrap();
        store
            .save(&Update {
                cursors: &cursors,
                bans: &bans,
                history: Some(&history),
                trusted: &[(ip("198.51.100.7"), 42)],
                forget_trusted_before_ms: None,
                ..Update::default()
            })
            .unwrap();
    }
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.cursor("/var/log/auth.log").unwrap(), Some(cursor(7)));
    assert_eq!(store.bans().unwrap(), bans);
    assert_eq!(store.history().unwrap(), history);
    assert_eq!(store.trusted().unwrap(), [(ip("198.51.100.7"), 42)]);
}

#[test]
fn u64_values_round_trip_through_i64_columns() {
    let mut store = Store::open_in_memory().unwrap();
    for (i, v) in [0, 1, i64::MAX as u64, 1 << 63, u64::MAX - 1, u64::MAX]
        .into_iter()
        .enumerate()
    {
        let c = Cursor {
            dev: v,
            ino: v,
            offset: v,
            line: v,
            head_len: 17,
            head_hash: v,
        };
        let name = format!("source {i}");
        store
            .save(&Update {
                cursors: &[(name.clone(), c.clone())],
                ..Update::default()
            })
            .unwrap();
        assert_eq!(store.cursor(&name).unwrap(), Some(c), "value {v:#x}");
    }
}

#[test]
fn cursor_upsert_replaces_the_previous_one() {
    let mut store = Store::open_in_memory().unwrap();
    for seed in [1, 2] {
        store
            .save(&Update {
                cursors: &[("a".into(), cursor(seed)), ("b".into(), cursor(seed + 10))],
                ..Update::default()
            })
            .unwrap();
    }
    assert_eq!(store.cursor("a").unwrap(), Some(cursor(2)));
    assert_eq!(store.cursor("b").unwrap(), Some(cursor(12)));
}

#[test]
fn save_is_one_transaction() {
    let mut store = Store::open_in_memory().unwrap();
    let before_history = [(
        ip("192.0.2.9"),
        tally(vec![Mark {
            at_ms: 1,
            points: 1,
            kind: Kind::AuthFailure,
        }]),
    )];
    store
        .save(&Update {
            cursors: &[("auth".into(), cursor(1))],
            bans: &[ban("192.0.2.1", 10, Some(20), 1)],
            history: Some(&before_history),
            trusted: &[(ip("192.0.2.50"), 5)],
            forget_trusted_before_ms: None,
            ..Update::default()
        })
        .unwrap();

    // The second ban expires before it starts: refused, after the cursor, the first ban
    // and (in statement order) nothing else were written.
    let err = store
        .save(&Update {
            cursors: &[("auth".into(), cursor(2))],
            bans: &[
                ban("192.0.2.1", 30, None, 2),
                ban("192.0.2.2", 100, Some(50), 1),
            ],
            history: Some(&[]),
            trusted: &[(ip("192.0.2.50"), 99)],
            forget_trusted_before_ms: Some(1000),
            ..Update::default()
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Sql { .. }), "{err:?}");
    assert!(
        err.to_string().contains("192.0.2.2"),
        "names the record: {err}"
    );

    assert_eq!(store.cursor("auth").unwrap(), Some(cursor(1)));
    assert_eq!(store.bans().unwrap(), [ban("192.0.2.1", 10, Some(20), 1)]);
    assert_eq!(store.history().unwrap(), before_history);
    assert_eq!(store.trusted().unwrap(), [(ip("192.0.2.50"), 5)]);
}

#[test]
fn active_bans_are_permanent_or_not_yet_expired() {
    let mut store = Store::open_in_memory().unwrap();
    let bans = [
        ban("192.0.2.1", 0, Some(99), 1),  // expired
        ban("192.0.2.2", 0, Some(100), 1), // expires exactly now: over
        ban("192.0.2.3", 0, Some(101), 1), // still on
        ban("2001:db8::5", 0, None, 4),    // permanent
    ];
    store
        .save(&Update {
            bans: &bans,
            ..Update::default()
        })
        .unwrap();
    let active: Vec<String> = store
        .active_bans(100)
        .unwrap()
        .iter()
        .map(|b| b.target.to_string())
        .collect();
    assert_eq!(active, ["192.0.2.3", "2001:db8::5"]);
    assert_eq!(
        store.bans().unwrap().len(),
        4,
        "expired bans keep their offences"
    );
}

#[test]
fn ban_upsert_by_address_and_canonical_text() {
    let mut store = Store::open_in_memory().unwrap();
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
    store
        .save(&Update {
            bans: &[BanRecord {
                target: crate::addr::Cidr::host(mapped),
                ..ban("192.0.2.7", 1, Some(2), 1)
            }],
            ..Update::default()
        })
        .unwrap();
    store
        .save(&Update {
            bans: &[ban("192.0.2.7", 10, None, 2)],
            ..Update::default()
        })
        .unwrap();
    assert_eq!(store.bans().unwrap(), [ban("192.0.2.7", 10, None, 2)]);
    let text: String = store
        .conn
        .query_row("SELECT addr FROM bans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(text, "192.0.2.7");
}

#[test]
fn network_bans_are_kept_by_their_network_beside_address_bans() {
    let mut store = Store::open_in_memory().unwrap();
    let bans = [
        ban("198.51.100.0/24", 1, None, 1),
        ban("198.51.100.7", 2, Some(9), 1),
        ban("2001:db8:1:2::/64", 3, Some(10), 2),
    ];
    store
        .save(&Update {
            bans: &bans,
            ..Update::default()
        })
        .unwrap();
    let mut back = store.bans().unwrap();
    back.sort_by_key(|b| b.banned_at);
    assert_eq!(back, bans);
}

#[test]
fn history_is_replaced_whole_or_left_alone() {
    let mut store = Store::open_in_memory().unwrap();
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let first = [
        (
            ip("192.0.2.1"),
            tally(vec![
                Mark {
                    at_ms: 30,
                    points: 1,
                    kind: Kind::AuthFailure,
                },
                Mark {
                    at_ms: 10,
                    points: 2,
                    kind: Kind::AuthFailure,
                },
            ]),
        ),
        (
            v6,
            tally(vec![Mark {
                at_ms: 5,
                points: 7,
                kind: Kind::Probe,
            }]),
        ),
    ];
    store
        .save(&Update {
            history: Some(&first),
            ..Update::default()
        })
        .unwrap();
    let got = store.history().unwrap();
    assert_eq!(got.len(), 2);
    let v4 = got.iter().find(|(a, _)| *a == ip("192.0.2.1")).unwrap();
    assert_eq!(
        v4.1.marks,
        [
            Mark {
                at_ms: 10,
                points: 2,
                kind: Kind::AuthFailure
            },
            Mark {
                at_ms: 30,
                points: 1,
                kind: Kind::AuthFailure
            }
        ],
        "oldest first"
    );

    store.save(&Update::default()).unwrap();
    assert_eq!(
        store.history().unwrap().len(),
        2,
        "None leaves history alone"
    );

    let second = [(
        ip("198.51.100.1"),
        tally(vec![Mark {
            at_ms: 1,
            points: 1,
            kind: Kind::AuthFailure,
        }]),
    )];
    store
        .save(&Update {
            history: Some(&second),
            ..Update::default()
        })
        .unwrap();
    assert_eq!(store.history().unwrap(), second);
}

#[test]
fn trusted_keeps_the_latest_success_and_forgets_old_ones() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .save(&Update {
            trusted: &[(ip("192.0.2.1"), 500), (ip("192.0.2.2"), 100)],
            ..Update::default()
        })
        .unwrap();
    store
        .save(&Update {
            trusted: &[(ip("192.0.2.1"), 300), (ip("192.0.2.2"), 200)],
            ..Update::default()
        })
        .unwrap();
    assert_eq!(
        store.trusted().unwrap(),
        [(ip("192.0.2.1"), 500), (ip("192.0.2.2"), 200)]
    );
    store
        .save(&Update {
            forget_trusted_before_ms: Some(300),
            ..Update::default()
        })
        .unwrap();
    assert_eq!(store.trusted().unwrap(), [(ip("192.0.2.1"), 500)]);
}

#[test]
fn failed_migration_leaves_the_database_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(DB_FILE);
    {
        let conn = Connection::open(&path).unwrap();
        // Something in the way of step 1, half-way through it.
        conn.execute_batch("CREATE TABLE history (x)").unwrap();
    }
    let err = Store::open(tmp.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::Migrate { version: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    let conn = Connection::open(&path).unwrap();
    assert_eq!(read_version(&conn).unwrap(), 0);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('cursors', 'bans')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the steps before the failure were rolled back");
}

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    drop(Store::open(tmp.path()).unwrap());
    let path = tmp.path().join(DB_FILE);
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        conn.execute_batch("PRAGMA journal_mode = DELETE").unwrap();
    }
    let before = fs::read(&path).unwrap();
    let err = Store::open(tmp.path()).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(
                (p, *found, *supported),
                (&path, SCHEMA_VERSION + 1, SCHEMA_VERSION)
            );
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), before, "file not modified");
}

#[test]
fn corrupt_file_is_refused_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(DB_FILE);
    fs::write(&path, "this is not an SQLite database\n".repeat(200)).unwrap();
    let err = Store::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("not a database"), "{msg}");
}

#[test]
fn state_dir_that_cannot_be_created_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    fs::write(&file, "").unwrap();
    let dir = file.join("state");
    let err = Store::open(&dir).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&dir.display().to_string()),
        "{err}"
    );
}

#[test]
fn read_only_state_dir_is_an_error_naming_the_file() {
    if nix::unistd::geteuid().is_root() {
        eprintln!("skipped: root ignores directory permissions");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o500)).unwrap();
    let err = Store::open(tmp.path()).unwrap_err();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(DB_FILE), "{err}");
}

#[test]
fn unreadable_address_in_the_table_is_reported() {
    let store = Store::open_in_memory().unwrap();
    store
        .conn
        .execute(
            "INSERT INTO trusted (addr, last_success_ms) VALUES ('not-an-ip', 1)",
            [],
        )
        .unwrap();
    let err = store.trusted().unwrap_err();
    assert!(err.to_string().contains("not-an-ip"), "{err}");
}

#[test]
fn concurrent_writer_is_waited_for() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Store::open(tmp.path()).unwrap();
    let mut b = Store::open(tmp.path()).unwrap();
    b.conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let tx = a
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let handle = std::thread::spawn(move || {
        b.save(&Update {
            trusted: &[(ip("192.0.2.3"), 1)],
            ..Update::default()
        })
        .map(|()| b)
    });
    std::thread::sleep(Duration::from_millis(200));
    tx.commit().unwrap();
    let b = handle
        .join()
        .unwrap()
        .expect("the second writer waits, then succeeds");
    assert_eq!(b.trusted().unwrap(), [(ip("192.0.2.3"), 1)]);
}

#[test]
fn history_for_replaces_only_the_given_addresses_and_positions_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let mark = |at_ms| Mark {
        at_ms,
        points: 100,
        kind: Kind::AuthFailure,
    };
    store
        .save(&Update {
            history: Some(&[
                (ip("192.0.2.1"), tally(vec![mark(1), mark(2)])),
                (ip("192.0.2.2"), tally(vec![mark(3)])),
            ]),
            positions: &[("journal".into(), "s=abc;i=1".into())],
            ..Update::default()
        })
        .unwrap();
    store
        .save(&Update {
            history_for: &[
                (ip("192.0.2.1"), tally(vec![mark(9)])),
                (ip("192.0.2.3"), Tally::default()),
            ],
            positions: &[("journal".into(), "s=abc;i=2".into())],
            ..Update::default()
        })
        .unwrap();
    let mut history = store.history().unwrap();
    history.sort_by_key(|(a, _)| *a);
    assert_eq!(
        history,
        vec![
            (ip("192.0.2.1"), tally(vec![mark(9)])),
            (ip("192.0.2.2"), tally(vec![mark(3)]))
        ]
    );
    assert_eq!(
        store.position("journal").unwrap().as_deref(),
        Some("s=abc;i=2")
    );
    assert_eq!(store.position("other").unwrap(), None);
}

#[test]
fn a_version_1_database_is_migrated_keeping_its_bans() {
    let tmp = tempfile::tempdir().unwrap();
    {
        // What the first release wrote.
        let conn = rusqlite::Connection::open(tmp.path().join(DB_FILE)).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute(
            "INSERT INTO bans (addr, banned_at, expires_at, offences, reason) VALUES ('203.0.113.5', 1, 2, 1, 'r')",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.bans().unwrap().len(), 1);
    assert_eq!(store.position("journal").unwrap(), None);
    assert!(store.history().unwrap().is_empty());
}

#[test]
fn slow_counters_round_trip_and_are_replaced_with_their_address() {
    let mut store = Store::open_in_memory().unwrap();
    let day = Rule {
        window_ms: 86_400_000,
        threshold: 1500,
    };
    let week = Rule {
        window_ms: 7 * 86_400_000,
        threshold: 3000,
    };
    let level = |rule, until_ms| Level { rule, until_ms };
    let mark = Mark {
        at_ms: 7,
        points: 150,
        kind: Kind::InvalidUser,
    };
    store
        .save(&Update {
            history: Some(&[
                (
                    ip("192.0.2.1"),
                    Tally {
                        marks: vec![mark],
                        levels: vec![level(day, 9_000), level(week, 20_000)],
                    },
                ),
                // A counter outlives the window's marks: an address may have only it.
                (
                    ip("2001:db8::1"),
                    Tally {
                        marks: vec![],
                        levels: vec![level(day, 5_000)],
                    },
                ),
            ]),
            ..Update::default()
        })
        .unwrap();
    let got = store.history().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, ip("192.0.2.1"));
    assert_eq!(got[0].1.marks, [mark]);
    assert_eq!(got[0].1.levels.len(), 2);
    assert_eq!(got[1].1.levels, [level(day, 5_000)]);

    store
        .save(&Update {
            history_for: &[(
                ip("192.0.2.1"),
                Tally {
                    marks: vec![],
                    levels: vec![level(day, 12_000)],
                },
            )],
            ..Update::default()
        })
        .unwrap();
    let got = store.history().unwrap();
    assert_eq!(
        got[0].1,
        Tally {
            marks: vec![],
            levels: vec![level(day, 12_000)]
        },
        "the week counter and the mark went with the replaced tally"
    );
    store
        .save(&Update {
            history_for: &[(ip("2001:db8::1"), Tally::default())],
            ..Update::default()
        })
        .unwrap();
    assert_eq!(store.history().unwrap().len(), 1, "an empty tally forgets");
}

fn tally(marks: Vec<Mark>) -> Tally {
    Tally {
        marks,
        levels: Vec::new(),
    }
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn net(s: &str) -> Cidr {
    Cidr::from_str(s).unwrap()
}

#[test]
fn the_history_keeps_each_ban_with_its_events_and_how_it_ended() {
    let mut s = Store::open_in_memory().unwrap();
    let now = now_s();
    let marks = vec![
        Mark {
            at_ms: (now - 20) * 1000,
            points: 1000,
            kind: Kind::AuthFailure,
        },
        Mark {
            at_ms: (now - 10) * 1000,
            points: 1500,
            kind: Kind::InvalidUser,
        },
    ];
    let expired = ban("192.0.2.1", now - 100, Some(now - 40), 1);
    let lifted = ban("192.0.2.2", now - 50, Some(now + 3600), 2);
    let in_force = ban("2001:db8::/64", now - 30, None, 1);
    s.save(&Update {
        bans: &[expired.clone(), lifted.clone(), in_force.clone()],
        evidence: &[(expired.target, marks.clone())],
        ..Update::default()
    })
    .unwrap();
    // Saving the same records again (a restart, a reconcile) adds nothing.
    s.save(&Update {
        bans: &[expired.clone(), lifted.clone()],
        ..Update::default()
    })
    .unwrap();
    // The unban: the record's expiry moves to now.
    let mut unbanned = lifted.clone();
    unbanned.expires_at = Some(now);
    s.save(&Update {
        bans: &[unbanned],
        endings: &[(lifted.target, "unbanned by hand".into())],
        ..Update::default()
    })
    .unwrap();

    let all = s.past_bans(now, None, None).unwrap();
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(all[0].target, expired.target);
    assert_eq!(all[0].ending, Some(Ending::Expired { at: now - 40 }));
    assert_eq!(all[0].events, marks);
    assert_eq!(
        all[1].ending,
        Some(Ending::Lifted {
            at: now,
            why: "unbanned by hand".into()
        })
    );
    assert_eq!(all[1].offences, 2);
    assert_eq!(all[2].ending, None, "permanent and in force");
    assert!(all[1].events.is_empty());

    // An address finds its own bans and those of a network holding it.
    let about = s.past_bans(now, None, Some(net("2001:db8::5"))).unwrap();
    assert_eq!(about.len(), 1);
    assert_eq!(about[0].target, in_force.target);
    // `since` leaves out what ended before it, never what is in force.
    let recent = s.past_bans(now, Some(now - 35), None).unwrap();
    let targets: Vec<String> = recent.iter().map(|b| b.target.to_string()).collect();
    assert_eq!(targets, ["192.0.2.2", "2001:db8::/64"]);
    // A second offence of the same address is a second ban.
    s.save(&Update {
        bans: &[ban("192.0.2.1", now, Some(now + 60), 2)],
        ..Update::default()
    })
    .unwrap();
    assert_eq!(
        s.past_bans(now, None, Some(net("192.0.2.1")))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn the_history_is_pruned_by_age_and_count_but_keeps_bans_in_force() {
    let mut s = Store::open_in_memory().unwrap();
    s.set_history_limits(HistoryLimits {
        keep_s: 3600,
        max_bans: 5,
    });
    let now = now_s();
    let old = ban("192.0.2.1", now - 9000, Some(now - 8000), 1);
    let old_permanent = ban("192.0.2.2", now - 9000, None, 1);
    s.save(&Update {
        bans: &[old.clone(), old_permanent],
        evidence: &[(
            old.target,
            vec![Mark {
                at_ms: 1,
                points: 1,
                kind: Kind::Probe,
            }],
        )],
        ..Update::default()
    })
    .unwrap();
    let left = s.past_bans(now, None, None).unwrap();
    let targets: Vec<String> = left.iter().map(|b| b.target.to_string()).collect();
    assert_eq!(
        targets,
        ["192.0.2.2"],
        "the ban that ended long ago goes at once"
    );
    // The count: the newest five stay, and the events of the others go with them.
    for i in 0..8 {
        let b = ban(
            &format!("198.51.100.{i}"),
            now - 100 + i,
            Some(now + 600),
            1,
        );
        s.save(&Update {
            bans: std::slice::from_ref(&b),
            evidence: &[(
                b.target,
                vec![Mark {
                    at_ms: i,
                    points: 1,
                    kind: Kind::Probe,
                }],
            )],
            ..Update::default()
        })
        .unwrap();
    }
    let left = s.past_bans(now, None, None).unwrap();
    let targets: Vec<String> = left.iter().map(|b| b.target.to_string()).collect();
    assert_eq!(
        targets,
        [
            "198.51.100.3",
            "198.51.100.4",
            "198.51.100.5",
            "198.51.100.6",
            "198.51.100.7"
        ]
    );
    // Each kept its own events.
    for (i, b) in left.iter().enumerate() {
        assert_eq!(
            b.events,
            [Mark {
                at_ms: i as i64 + 3,
                points: 1,
                kind: Kind::Probe
            }]
        );
    }
}

fn record(target: &str, op: crate::fleet::record::Op, at: i64) -> crate::fleet::record::Record {
    crate::fleet::record::Record {
        op,
        target: target.parse().unwrap(),
        at,
        until: (op == crate::fleet::record::Op::Ban).then_some(at + 3600),
        offence: 1,
        origin: crate::fleet::record::Origin::Detected,
        node: "web-1".into(),
        reason: "score 6.0 within 600s".into(),
    }
}

/// The outbox is written with the ban, in its transaction: a save that fails writes
/// neither. Its records wait across a restart, in order, until published.
#[test]
fn the_fleet_outbox_is_saved_with_its_bans_and_kept_until_published() {
    use crate::fleet::record::Op;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let first = [
        record("203.0.113.5", Op::Ban, 1_000),
        record("2001:db8::/48", Op::Ban, 1_001),
    ];
    store
        .save(&Update {
            bans: &[ban("203.0.113.5", 1_000, Some(4_600), 1)],
            outbox: &first,
            ..Update::default()
        })
        .unwrap();
    // A record that cannot be stored (an end before its start) fails the whole save,
    // the ban with it.
    let mut bad = record("198.51.100.7", Op::Ban, 2_000);
    bad.until = Some(1_999);
    assert!(
        store
            .save(&Update {
                bans: &[ban("198.51.100.7", 2_000, Some(5_600), 1)],
                outbox: &[bad],
                ..Update::default()
            })
            .is_err()
    );
    assert_eq!(store.bans().unwrap().len(), 1);
    store
        .save(&Update {
            outbox: &[record("203.0.113.5", Op::Unban, 3_000)],
            ..Update::default()
        })
        .unwrap();
    drop(store);

    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.outbox_len().unwrap(), 3);
    let waiting = store.outbox(2).unwrap();
    assert_eq!(
        waiting.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        first
    );
    store.published(waiting[1].0).unwrap();
    let rest = store.outbox(10).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].1, record("203.0.113.5", Op::Unban, 3_000));
    assert!(rest[0].0 > waiting[1].0);
}
