//! Measures the journal source: the CPU time to read N sshd entries from a journal file,
//! as `scan` and the daemon read it (`journalctl --output=export`, parsed by authban),
//! beside journalctl alone on the same query into a pipe, and journalctl's JSON output
//! alone (what the JSON reader this replaced started from, before parsing any JSON).
//!
//! The journal file is written by `systemd-journal-remote` (Debian package of that name)
//! from N entries: 90% sshd failures from distinct addresses, 10% other programs' lines.
//! Each measure runs 3 times; the figure is the median of user + system CPU seconds of this
//! process and its children (getrusage), not wall time, so a busy machine moves it little.
//!
//! Usage: cargo run --release --example bench_journal [-- ENTRIES]   (default 100000)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use authban::source::{JournalOptions, read_journal_since};
use nix::sys::resource::{UsageWho, getrusage};

/// User + system CPU seconds of this process, and of its children that ended.
fn cpu_s() -> (f64, f64) {
    let t = |who| {
        let u = getrusage(who).expect("getrusage");
        let (a, b) = (u.user_time(), u.system_time());
        a.tv_sec() as f64 + a.tv_usec() as f64 / 1e6 + b.tv_sec() as f64 + b.tv_usec() as f64 / 1e6
    };
    (t(UsageWho::RUSAGE_SELF), t(UsageWho::RUSAGE_CHILDREN))
}

fn field(out: &mut Vec<u8>, k: &str, v: &str) {
    out.extend_from_slice(k.as_bytes());
    out.push(b'=');
    out.extend_from_slice(v.as_bytes());
    out.push(b'\n');
}

fn write_journal(path: &Path, n: u64) {
    let tool = [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("systemd-journal-remote (apt-get install systemd-journal-remote)");
    let mut export = Vec::with_capacity(n as usize * 400);
    for i in 0..n {
        let realtime = (1_795_518_000_000_000 + i * 10_000).to_string();
        let mono = (1_000_000 + i * 10_000).to_string();
        field(&mut export, "__REALTIME_TIMESTAMP", &realtime);
        field(&mut export, "__MONOTONIC_TIMESTAMP", &mono);
        field(&mut export, "_BOOT_ID", "3f1c2d4e5a6b4c7d8e9f0a1b2c3d4e5f");
        field(&mut export, "_HOSTNAME", "gw4");
        field(&mut export, "_TRANSPORT", "syslog");
        field(&mut export, "_UID", "0");
        field(&mut export, "_GID", "0");
        field(&mut export, "SYSLOG_FACILITY", "4");
        field(&mut export, "PRIORITY", "6");
        if i % 10 == 9 {
            field(&mut export, "_COMM", "cron");
            field(&mut export, "SYSLOG_IDENTIFIER", "CRON");
            field(&mut export, "_PID", &(20_000 + i % 5000).to_string());
            field(
                &mut export,
                "MESSAGE",
                "pam_unix(cron:session): session opened for user root",
            );
        } else {
            field(&mut export, "_COMM", "sshd-session");
            field(&mut export, "SYSLOG_IDENTIFIER", "sshd-session");
            field(&mut export, "_PID", &(1000 + i % 30_000).to_string());
            field(
                &mut export,
                "MESSAGE",
                &format!(
                    "Failed password for invalid user admin from 10.{}.{}.{} port {} ssh2",
                    i >> 16 & 255,
                    i >> 8 & 255,
                    i & 255,
                    1024 + i % 60_000
                ),
            );
        }
        export.push(b'\n');
    }
    let mut child = Command::new(tool)
        .arg(format!("--output={}", path.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&export).unwrap();
    assert!(child.wait().unwrap().success());
}

/// CPU seconds of `f` over 3 runs, the run of the median total: (this process,
/// journalctl), and what `f` returned.
fn measure(mut f: impl FnMut() -> u64) -> ((f64, f64), u64) {
    let mut times = Vec::new();
    let mut got = 0;
    for _ in 0..3 {
        let before = cpu_s();
        got = f();
        let after = cpu_s();
        times.push((after.0 - before.0, after.1 - before.1));
    }
    times.sort_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
    (times[1], got)
}

/// journalctl alone with `args`, its output thrown away: the bytes it wrote.
fn journalctl(file: &Path, args: &[&str]) -> u64 {
    let out = Command::new("journalctl")
        .arg(format!("--file={}", file.display()))
        .args(args)
        .args(["_COMM=sshd", "_COMM=sshd-session", "_COMM=sshd-auth"])
        .args(["_TRANSPORT=syslog", "_TRANSPORT=journal", "--no-pager"])
        .output()
        .expect("journalctl");
    assert!(out.status.success());
    out.stdout.len() as u64
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.journal");
    write_journal(&file, n);
    let opts = JournalOptions {
        files: vec![file.clone()],
        ..JournalOptions::default()
    };
    let (authban, lines) = measure(|| {
        let mut lines = 0;
        read_journal_since(&opts, None, |_| lines += 1).expect("read the journal");
        lines
    });
    assert_eq!(lines, n - n / 10, "every sshd entry, no other");
    let (export, _) = measure(|| journalctl(&file, &["--output=export"]));
    let (json, _) = measure(|| journalctl(&file, &["--output=json"]));
    println!("{n} entries ({lines} of sshd), CPU seconds (user + system), median of 3:");
    println!(
        "  authban's journal source: {:.3} s = journalctl -o export {:.3} s + authban's parsing {:.3} s ({:.0} ns per entry)",
        authban.0 + authban.1,
        authban.1,
        authban.0,
        authban.0 / lines as f64 * 1e9
    );
    println!(
        "  journalctl -o export alone, same query, into a 64 KiB pipe: {:.3} s",
        export.1
    );
    println!(
        "  journalctl -o json alone, the JSON reader's start: {:.3} s",
        json.1
    );
}
