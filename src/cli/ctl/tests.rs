//! The clients against a fake daemon, and their texts.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, mpsc};

use clap::{Parser, Subcommand};

use super::render::*;
use super::*;
use crate::cli::setup::{InstallArgs, UninstallArgs};
use crate::control::{BanInfo, Status};
use crate::control::{Incoming, ServerOptions};

/// The commands as the lead wires them, to check what clap makes of the arguments.
#[derive(Debug, Parser)]
struct TestCli {
    #[command(subcommand)]
    command: TestCommand,
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    Status(StatusArgs),
    List(ListArgs),
    Ban(BanArgs),
    Unban(UnbanArgs),
    Reload(ReloadArgs),
    Install(InstallArgs),
    Uninstall(UninstallArgs),
}

fn global() -> Global {
    Global {
        config: None,
        state_dir: None,
        hosts_deny: None,
    }
}

fn socket(path: &Path) -> SocketArg {
    SocketArg {
        socket: Some(path.to_path_buf()),
    }
}

/// A daemon whose engine answers `ban` of 192.0.2.66 with a refusal and everything
/// else with success; returns what it received.
struct FakeDaemon {
    _dir: tempfile::TempDir,
    path: PathBuf,
    seen: mpsc::Receiver<Request>,
    _server: control::ControlServer,
}

fn fake_daemon() -> FakeDaemon {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authban.sock");
    let (tx, rx) = mpsc::channel::<Incoming>();
    let (seen_tx, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for inc in rx {
            let _ = seen_tx.send(inc.request.clone());
            let r = match &inc.request {
                Request::Ban { addr, .. } if addr == "192.0.2.66" => {
                    Response::error("192.0.2.66 is in the allowlist (192.0.2.0/24)")
                }
                Request::Status => Response::with_status(Status::default()),
                Request::List => Response::with_bans(Vec::new()),
                _ => Response::ok(),
            };
            inc.reply(r);
        }
    });
    let server = control::serve(
        &path,
        ServerOptions::default(),
        tx,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    FakeDaemon {
        _dir: dir,
        path,
        seen,
        _server: server,
    }
}

#[test]
fn arguments_parse_as_documented() {
    let cli = TestCli::try_parse_from([
        "authban",
        "ban",
        "192.0.2.7",
        "--for",
        "1h",
        "--socket",
        "/tmp/s",
    ])
    .unwrap();
    let TestCommand::Ban(b) = cli.command else {
        panic!()
    };
    assert_eq!(b.addr, "192.0.2.7");
    assert_eq!(b.duration.as_deref(), Some("1h"));
    assert_eq!(b.socket.path(), Path::new("/tmp/s"));
    let cli = TestCli::try_parse_from(["authban", "status"]).unwrap();
    let TestCommand::Status(s) = cli.command else {
        panic!()
    };
    assert_eq!(s.socket.path(), Path::new("/run/authban/authban.sock"));
    let cli = TestCli::try_parse_from(["authban", "install", "--root", "/mnt"]).unwrap();
    let TestCommand::Install(i) = cli.command else {
        panic!()
    };
    assert_eq!(i.root, Path::new("/mnt"));
    assert!(TestCli::try_parse_from(["authban", "ban"]).is_err());
    for cmd in ["list", "unban", "reload", "uninstall"] {
        let help = TestCli::try_parse_from(["authban", cmd, "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    }
}

#[test]
fn ban_targets_are_checked_and_made_canonical() {
    assert_eq!(parse_target("192.0.2.7").unwrap().to_string(), "192.0.2.7");
    assert_eq!(
        parse_target("::ffff:192.0.2.7").unwrap().to_string(),
        "192.0.2.7"
    );
    assert_eq!(
        parse_target("198.51.100.9/24").unwrap().to_string(),
        "198.51.100.0/24"
    );
    let err = parse_target("attacker.example.net").unwrap_err();
    assert!(err.contains("is not an IP address or network"), "{err}");
    assert!(
        parse_target("0.0.0.0/0")
            .unwrap_err()
            .contains("whole Internet")
    );
    assert!(parse_target("::/0").is_err());
    assert_eq!(parse_duration("90m").unwrap().to_string(), "1h30m");
    assert!(
        parse_duration("1 hour")
            .unwrap_err()
            .starts_with("--for: `1 hour` is not a duration")
    );
    // Zero is sent as it is: the daemon reads it as permanent (issue 9, item 2).
    assert!(parse_duration("0").unwrap().is_zero());
}

#[test]
fn clients_send_canonical_requests_and_exit_with_the_documented_codes() {
    let d = fake_daemon();
    let g = global();
    let code = ban(
        &g,
        BanArgs {
            addr: "::ffff:192.0.2.7".into(),
            duration: Some("120m".into()),
            permanent: false,
            socket: socket(&d.path),
        },
    );
    assert_eq!(code, exit::OK);
    assert_eq!(
        d.seen.recv().unwrap(),
        Request::Ban {
            addr: "192.0.2.7".into(),
            duration: Some("2h".into())
        }
    );
    // The daemon says no: its reason, exit 1.
    let code = ban(
        &g,
        BanArgs {
            addr: "192.0.2.66".into(),
            duration: None,
            permanent: false,
            socket: socket(&d.path),
        },
    );
    assert_eq!(code, exit::FAILURE);
    d.seen.recv().unwrap();
    // Bad arguments never reach the daemon.
    for (addr, duration) in [("example.net", None), ("192.0.2.7", Some("soon"))] {
        let code = ban(
            &g,
            BanArgs {
                addr: addr.into(),
                duration: duration.map(String::from),
                permanent: false,
                socket: socket(&d.path),
            },
        );
        assert_eq!(code, exit::USAGE);
    }
    let args = UnbanArgs {
        addr: "2001:DB8::1".into(),
        fleet: false,
        socket: socket(&d.path),
    };
    assert_eq!(unban(&g, args), exit::OK);
    assert_eq!(
        d.seen.recv().unwrap(),
        Request::Unban {
            addr: "2001:db8::1".into(),
            fleet: false,
        }
    );
    let reload_args = ReloadArgs {
        socket: socket(&d.path),
    };
    assert_eq!(reload(&g, reload_args), exit::OK);
    let status_args = StatusArgs {
        json: false,
        socket: socket(&d.path),
    };
    assert_eq!(status(&g, status_args), exit::OK);
    let list_args = ListArgs {
        json: true,
        socket: socket(&d.path),
    };
    assert_eq!(list(&g, list_args), exit::OK);
    assert_eq!(d.seen.try_iter().count(), 3);
}

#[test]
fn an_absent_daemon_exits_69() {
    let dir = tempfile::tempdir().unwrap();
    let args = StatusArgs {
        json: false,
        socket: socket(&dir.path().join("none.sock")),
    };
    assert_eq!(status(&global(), args), UNAVAILABLE);
}

#[test]
fn the_ban_table_has_local_rfc3339_times_and_never() {
    let bans = vec![
        BanInfo {
            addr: "192.0.2.7".into(),
            banned_at: 1_700_000_000,
            expires_at: Some(1_700_086_400),
            offences: 2,
            reason: "6 failures in 10m".into(),
            node: None,
        },
        BanInfo {
            addr: "2001:db8::/64".into(),
            banned_at: 1_700_000_000,
            expires_at: None,
            offences: 12,
            reason: "banned by root".into(),
            node: None,
        },
    ];
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(1));
    let text = render_bans(&bans, &tz);
    assert_eq!(
        text,
        "ADDRESS        BANNED AT                  EXPIRES                    OFFENCES  REASON\n\
         192.0.2.7      2023-11-14T23:13:20+01:00  2023-11-15T23:13:20+01:00         2  6 failures in 10m\n\
         2001:db8::/64  2023-11-14T23:13:20+01:00  never                            12  banned by root\n"
    );
    assert_eq!(render_bans(&[], &tz), "no bans in force\n");
}

#[test]
fn the_status_summary_names_failing_backends_and_recent_events() {
    let s = crate::control::Status {
        version: "0.1.0".into(),
        pid: 42,
        started_at: 1_700_000_000,
        sources: vec![crate::control::SourceInfo {
            name: "/var/log/auth.log".into(),
            state: "following".into(),
            lines: 1234,
        }],
        backends: vec![
            crate::control::BackendInfo {
                name: "nftables".into(),
                ok: false,
                error: Some("nft: Operation not permitted".into()),
                pending: 3,
                degraded: None,
                refused: Vec::new(),
            },
            crate::control::BackendInfo {
                name: "nftables2".into(),
                ok: true,
                error: None,
                pending: 0,
                degraded: Some("netlink unavailable: EPERM".into()),
                refused: vec!["203.0.113.5: value too large".into()],
            },
        ],
        active_bans: 3,
        tracked_addresses: 17,
        events: crate::control::EventCounts {
            auth_failure: 10,
            invalid_user: 5,
            probe: 2,
            success: 3,
            untrusted_logins: 2,
        },
        lines: 1234,
        store_error: Some("database or disk is full".into()),
        unsaved_bans: 2,
        metrics: Some("error: cannot serve metrics on 127.0.0.1:9877: Address in use".into()),
        fleet: None,
        recent: vec![crate::control::RecentEvent {
            time: None,
            kind: "invalid-user".into(),
            addr: "192.0.2.7".into(),
            msg: "Invalid user admin".into(),
        }],
    };
    let text = render_status(&s, &jiff::tz::TimeZone::UTC, 1_700_003_700);
    for want in [
        "authban 0.1.0 (pid 42), running since 2023-11-14T22:13:20+00:00 (1h 1m)",
        "  /var/log/auth.log  following, 1234 lines",
        "  nftables   FAILING: nft: Operation not permitted (3 bans not applied yet)",
        "  nftables2  ok (slow path: netlink unavailable: EPERM) (1 ban refused, retried; the others are in force)",
        "               refused 203.0.113.5: value too large",
        "Store:             FAILING: database or disk is full (2 bans kept in memory until it is written)",
        "Metrics:           FAILING: cannot serve metrics on 127.0.0.1:9877: Address in use",
        "Active bans:       3",
        "Tracked addresses: 17",
        "Events:            10 auth failures, 5 invalid users, 2 probes, 3 logins (2 not trusted: see the log)",
        "invalid-user  192.0.2.7  Invalid user admin",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}
