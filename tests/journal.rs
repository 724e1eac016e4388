//! Reading the journal through journalctl: real journal files written by
//! `systemd-journal-remote` (no journald needed), and a fake journalctl for the
//! follower's process management.

#[path = "support/emulation.rs"]
mod emulation;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use authban::parse::Parser;
use authban::source::{
    Feed, JournalOptions, Position, SourceError, SourceState, Stop, follow_journal,
    read_journal_since,
};

/// systemd-journal-remote, or None (with the reason printed) where it is not installed;
/// CI installs it, so there its absence fails.
fn journal_remote() -> Option<PathBuf> {
    let found = [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-journal-remote is missing (apt-get install systemd-journal-remote)"
        );
        eprintln!("skipped: systemd-journal-remote is not installed");
    }
    found
}

/// One entry in journal export format; values holding a newline use the binary form.
fn entry(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend_from_slice(k.as_bytes());
        if v.contains(&b'\n') {
            out.push(b'\n');
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// An sshd-like entry at `sec` seconds past 2026-11-24T11:00:00Z.
fn sshd(sec: u64, comm: &str, transport: &str, pid: Option<&str>, msg: &[u8]) -> Vec<u8> {
    let realtime = (1_795_518_000 + sec) * 1_000_000 + 512_311;
    let realtime = realtime.to_string();
    let mono = ((sec + 1) * 1_000_000).to_string();
    let mut fields: Vec<(&str, &[u8])> = vec![
        ("__REALTIME_TIMESTAMP", realtime.as_bytes()),
        ("__MONOTONIC_TIMESTAMP", mono.as_bytes()),
        ("_BOOT_ID", b"3f1c2d4e5a6b4c7d8e9f0a1b2c3d4e5f"),
        ("_TRANSPORT", transport.as_bytes()),
        ("_COMM", comm.as_bytes()),
        ("_HOSTNAME", b"gw4"),
        ("SYSLOG_IDENTIFIER", b"sshd-session"),
        ("MESSAGE", msg),
    ];
    if let Some(pid) = pid {
        fields.push(("_PID", pid.as_bytes()));
    }
    entry(&fields)
}

fn write_journal(tool: &Path, out: &Path, export: &[u8]) {
    let mut child = Command::new(tool)
        .arg(format!("--output={}", out.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(export).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
}

fn read(opts: &JournalOptions, cursor: Option<&str>) -> (Vec<Vec<u8>>, Option<String>) {
    let mut lines = Vec::new();
    let cursor = read_journal_since(opts, cursor, |l| lines.push(l.to_vec())).unwrap();
    (lines, cursor)
}

#[test]
fn trusted_sshd_entries_become_parser_lines_and_resume_after_the_cursor() {
    let Some(tool) = journal_remote() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sshd.journal");
    let mut export = Vec::new();
    let fail = b"Failed password for root from 203.0.113.9 port 40000 ssh2";
    export.extend(sshd(1, "sshd-session", "syslog", Some("5101"), fail));
    // logger -t sshd: the identifier lies, _COMM does not.
    export.extend(sshd(
        2,
        "logger",
        "syslog",
        Some("5102"),
        b"Failed password for root from 198.51.100.1 port 1 ssh2",
    ));
    // sshd -e: stderr, where line breaks are the client's.
    export.extend(sshd(
        3,
        "sshd",
        "stdout",
        Some("5103"),
        b"Failed password for root from 198.51.100.2 port 1 ssh2",
    ));
    export.extend(sshd(
        4,
        "sshd",
        "syslog",
        None,
        b"Failed password for root from 198.51.100.3 port 1 ssh2",
    ));
    // Not UTF-8, and a newline that must not start a forged line.
    export.extend(sshd(
        5,
        "sshd",
        "journal",
        Some("5105"),
        b"Invalid user a\xff\n2026-11-24T11:00:05Z gw4 sshd[1]: Failed password for root from 198.51.100.4 port 1 ssh2 from 203.0.113.10 port 40001",
    ));
    export.extend(sshd(
        6,
        "sshd-auth",
        "syslog",
        Some("5106"),
        b"Failed password for invalid user admin from 203.0.113.11 port 40002 ssh2",
    ));
    write_journal(&tool, &file, &export);

    let opts = JournalOptions {
        files: vec![file.clone()],
        ..JournalOptions::default()
    };
    let (lines, cursor) = read(&opts, None);
    let want: Vec<&[u8]> = vec![
        b"2026-11-24T11:00:01.512311Z gw4 sshd-session[5101]: Failed password for root from 203.0.113.9 port 40000 ssh2",
        b"2026-11-24T11:00:05.512311Z gw4 sshd[5105]: Invalid user a\xff 2026-11-24T11:00:05Z gw4 sshd[1]: Failed password for root from 198.51.100.4 port 1 ssh2 from 203.0.113.10 port 40001",
        b"2026-11-24T11:00:06.512311Z gw4 sshd-auth[5106]: Failed password for invalid user admin from 203.0.113.11 port 40002 ssh2",
    ];
    assert_eq!(
        lines,
        want,
        "{:?}",
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(l))
            .collect::<Vec<_>>()
    );

    let mut parser = Parser::new(jiff::tz::TimeZone::UTC, jiff::Timestamp::now());
    let addrs: Vec<String> = lines
        .iter()
        .map(|l| parser.parse(l).expect("an event").addr.to_string())
        .collect();
    assert_eq!(addrs, ["203.0.113.9", "203.0.113.10", "203.0.113.11"]);

    let cursor = cursor.expect("a cursor");
    let (again, same) = read(&opts, Some(&cursor));
    assert!(again.is_empty());
    assert_eq!(same.as_deref(), Some(cursor.as_str()));

    // More entries in the same file: only they come after the cursor.
    write_journal(
        &tool,
        &file,
        &sshd(
            7,
            "sshd-session",
            "syslog",
            Some("5107"),
            b"Failed password for root from 203.0.113.12 port 40003 ssh2",
        ),
    );
    let (later, next) = read(&opts, Some(&cursor));
    assert_eq!(later.len(), 1, "{later:?}");
    assert!(later[0].ends_with(b"from 203.0.113.12 port 40003 ssh2"));
    assert_ne!(next, Some(cursor));
}

#[test]
fn missing_journalctl_is_a_clear_error() {
    let test = "missing_journalctl_is_a_clear_error";
    if emulation::skipped_under_emulation(test, emulation::SPAWN_ERRORS) {
        return;
    }
    let opts = JournalOptions {
        journalctl: "/nonexistent/journalctl".into(),
        ..JournalOptions::default()
    };
    let err = read_journal_since(&opts, None, |_| {}).unwrap_err();
    assert!(matches!(err, SourceError::Spawn { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot run /nonexistent/journalctl: "),
        "{err}"
    );
}

#[test]
fn failing_journalctl_reports_its_complaint() {
    let dir = tempfile::tempdir().unwrap();
    let fake = script(
        dir.path(),
        "echo 'Failed to seek to cursor: Invalid argument' >&2; exit 1",
    );
    let opts = JournalOptions {
        journalctl: fake,
        ..JournalOptions::default()
    };
    let err = read_journal_since(&opts, Some("s=bad"), |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("Failed to seek to cursor"),
        "{err}"
    );
}

fn script(dir: &Path, body: &str) -> PathBuf {
    let source = dir.join("journalctl.sh");
    fs::write(&source, format!("#!/bin/sh\n{body}\n")).unwrap();
    // Written by another process: a writable descriptor of the program held by this one
    // (inherited by a child another test forks at that instant) makes running it fail
    // with ETXTBSY, "Text file busy".
    let path = dir.join("journalctl");
    let installed = std::process::Command::new("install")
        .args(["-m", "755"])
        .arg(&source)
        .arg(&path)
        .status()
        .unwrap();
    assert!(installed.success());
    path
}

/// One entry as `journalctl -o export` prints it, without the empty line that ends it
/// (the fake's `printf '%s\n'` adds it).
fn export(cursor: &str, comm: &str, msg: &str) -> String {
    format!(
        "__CURSOR={cursor}\n__REALTIME_TIMESTAMP=1795520101120001\n_TRANSPORT=syslog\n\
         _COMM={comm}\n_PID=7201\n_HOSTNAME=gw4\nMESSAGE={msg}\n"
    )
}

#[test]
fn follower_restarts_journalctl_after_the_last_cursor_and_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let argv = dir.path().join("argv");
    // First run: a trusted entry, a forged one, then a crash. Later runs: one entry, then
    // quiet forever (exec, so that killing it closes the pipe).
    let body = format!(
        r#"echo "$*" >> {argv}
if [ "$(wc -l < {argv})" = 1 ]; then
  printf '%s\n' '{a}' '{b}'
  echo boom >&2
  exit 3
fi
printf '%s\n' '{c}'
exec sleep 30"#,
        argv = argv.display(),
        a = export(
            "c1",
            "sshd",
            "Failed password for root from 203.0.113.9 port 1 ssh2"
        ),
        b = export(
            "c2",
            "logger",
            "Failed password for root from 198.51.100.1 port 1 ssh2"
        ),
        c = export(
            "c3",
            "sshd-session",
            "Failed password for root from 203.0.113.10 port 2 ssh2"
        ),
    );
    let opts = JournalOptions {
        journalctl: script(dir.path(), &body),
        ..JournalOptions::default()
    };
    let (tx, rx) = mpsc::sync_channel(1024);
    let stop = Stop::new();
    let handle = follow_journal(opts, None, tx, stop.clone()).unwrap();

    let mut lines = Vec::new();
    let mut states = Vec::new();
    let mut positions = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines.len() < 2 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Feed::Lines(b)) => {
                lines.extend(b.iter().map(|l| String::from_utf8_lossy(l).into_owned()));
                positions.push(b.position);
            }
            Ok(Feed::Status { state, .. }) => states.push(state),
            Err(_) => panic!("got {lines:?}, states {states:?}"),
        }
    }
    assert_eq!(
        lines,
        [
            "2026-11-24T11:35:01.120001Z gw4 sshd[7201]: Failed password for root from 203.0.113.9 port 1 ssh2",
            "2026-11-24T11:35:01.120001Z gw4 sshd-session[7201]: Failed password for root from 203.0.113.10 port 2 ssh2",
        ]
    );
    assert_eq!(positions.last(), Some(&Position::Journal("c3".into())));
    assert!(
        states
            .iter()
            .any(|s| matches!(s, SourceState::Error { message } if message.contains("boom"))),
        "{states:?}"
    );
    let runs = fs::read_to_string(&argv).unwrap();
    let runs: Vec<&str> = runs.lines().collect();
    assert!(
        runs[0].contains("--lines=0 --follow _COMM=sshd"),
        "{runs:?}"
    );
    // The forged entry was skipped, but it moved the position.
    assert!(runs[1].contains("--after-cursor=c2 --follow"), "{runs:?}");

    let t = Instant::now();
    stop.stop();
    handle.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    let last = rx.try_iter().last();
    assert!(
        matches!(
            last,
            Some(Feed::Status {
                state: SourceState::Stopped,
                ..
            })
        ),
        "{last:?}"
    );
}

#[test]
fn follower_without_journalctl_reports_and_keeps_trying() {
    let test = "follower_without_journalctl_reports_and_keeps_trying";
    if emulation::skipped_under_emulation(test, emulation::SPAWN_ERRORS) {
        return;
    }
    let (tx, rx) = mpsc::sync_channel(1024);
    let stop = Stop::new();
    let opts = JournalOptions {
        journalctl: "/nonexistent/journalctl".into(),
        ..JournalOptions::default()
    };
    let handle = follow_journal(opts, Some("c9".into()), tx, stop.clone()).unwrap();
    let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(matches!(
        first,
        Feed::Status {
            state: SourceState::Waiting { .. },
            ..
        }
    ));
    let second = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        matches!(&second, Feed::Status { state: SourceState::Error { message }, .. } if message.contains("cannot run /nonexistent/journalctl")),
        "{second:?}"
    );
    stop.stop();
    handle.join().unwrap();
}

/// journalctl --follow on a journal file that systemd-journal-remote appends to.
#[test]
fn follower_reads_entries_appended_to_a_journal_file() {
    let Some(tool) = journal_remote() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.journal");
    write_journal(
        &tool,
        &file,
        &sshd(
            1,
            "sshd",
            "syslog",
            Some("1"),
            b"Failed password for root from 203.0.113.1 port 1 ssh2",
        ),
    );
    let opts = JournalOptions {
        files: vec![file.clone()],
        ..JournalOptions::default()
    };
    let (tx, rx) = mpsc::sync_channel(1024);
    let stop = Stop::new();
    let handle = follow_journal(opts, None, tx, stop.clone()).unwrap();
    // Started with --lines=0: the first entry is old news.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap()
        {
            Feed::Status {
                state: SourceState::Following { .. },
                ..
            } => break,
            Feed::Status { .. } => {}
            Feed::Lines(b) => panic!("old entry delivered: {b:?}"),
        }
    }
    // journalctl needs a moment to reach the end before it watches for more.
    std::thread::sleep(Duration::from_millis(300));
    write_journal(
        &tool,
        &file,
        &sshd(
            2,
            "sshd",
            "syslog",
            Some("2"),
            b"Failed password for root from 203.0.113.2 port 1 ssh2",
        ),
    );
    let batch = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Feed::Lines(b)) => break b,
            Ok(_) => {}
            Err(e) => panic!("no entry: {e}"),
        }
    };
    assert_eq!(batch.count, 1);
    assert!(batch.lines.ends_with(b"from 203.0.113.2 port 1 ssh2\n"));
    stop.stop();
    handle.join().unwrap();
}

#[test]
fn follower_that_never_got_a_cursor_restarts_from_when_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let argv = dir.path().join("argv");
    // First run: nothing, then a crash (no cursor was ever delivered). Later runs: quiet.
    let body = format!(
        r#"echo "$*" >> {argv}
if [ "$(wc -l < {argv})" = 1 ]; then exit 1; fi
exec sleep 30"#,
        argv = argv.display(),
    );
    let opts = JournalOptions {
        journalctl: script(dir.path(), &body),
        ..JournalOptions::default()
    };
    let began = jiff::Timestamp::now().as_second();
    let (tx, _rx) = mpsc::sync_channel(1024);
    let stop = Stop::new();
    let handle = follow_journal(opts, None, tx, stop.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let runs = loop {
        let runs = fs::read_to_string(&argv).unwrap_or_default();
        if runs.lines().count() >= 2 {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "journalctl was not restarted: {runs:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    stop.stop();
    handle.join().unwrap();
    let runs: Vec<&str> = runs.lines().collect();
    assert!(runs[0].contains("--lines=0"), "{runs:?}");
    // Entries written while journalctl was down are not skipped: the restart asks for
    // everything since the follower began.
    let since: i64 = runs[1]
        .split_whitespace()
        .find_map(|a| a.strip_prefix("--since=@"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{runs:?}"));
    assert!(
        (began - 1..=began + 1).contains(&since),
        "{since} vs {began}"
    );
}
