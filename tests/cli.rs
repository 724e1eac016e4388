//! The binary as a user runs it, every path inside a temporary directory: `check`,
//! `scan` (idempotence, foreign lines, rotation between runs, concurrent runs, failures
//! that lose nothing) and `config check`.

#[path = "support/script.rs"]
mod script;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_authban");

struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        fs::write(env.path("authban.toml"), "").expect("writing the config");
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn authban(&self, args: &[&str]) -> Output {
        self.authban_with(args, &[])
    }

    fn authban_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(self.path("authban.toml"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--hosts-deny")
            .arg(self.path("hosts.deny"))
            .args(args)
            .env("TZ", "UTC")
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("running authban")
    }

    fn scan(&self, log: &str) -> Output {
        let log = self.path(log);
        let out = self.authban(&["scan", log.to_str().expect("utf-8 path")]);
        assert!(out.status.success(), "scan failed: {}", text(&out));
        out
    }

    fn append(&self, name: &str, lines: &[String]) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .expect("opening the log");
        for l in lines {
            writeln!(f, "{l}").expect("appending");
        }
    }

    fn hosts_deny(&self) -> String {
        fs::read_to_string(self.path("hosts.deny")).unwrap_or_default()
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `n` failed password attempts of `user` from `addr`, one per second from minute `minute`,
/// each logged as sshd logs it (RFC 3339 envelope as on Debian 12).
fn failures(addr: &str, user: &str, n: u32, minute: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "2026-11-24T12:{minute:02}:{:02}.000000+00:00 gw sshd[{}]: Failed password for {user} from {addr} port {} ssh2",
                i,
                4000 + i,
                50000 + i
            )
        })
        .collect()
}

fn count_lines_with(haystack: &str, needle: &str) -> usize {
    haystack.lines().filter(|l| l.trim_end() == needle).count()
}

#[test]
fn check_json_reports_every_event_with_its_place() {
    let env = Env::new();
    env.append(
        "auth.log",
        &[
            "Nov 24 12:00:07 gw CRON[1]: pam_unix(cron:session): session opened for user root".to_string(),
            "2026-11-24T12:10:03.512311+01:00 gw sshd-session[5101]: Invalid user ubnt from 2001:db8:bad::40 port 41234".to_string(),
            "2026-11-24T12:10:04+01:00 gw sshd[5101]: Failed password for invalid user root from 203.0.113.9 port 22 ssh2 from ::ffff:198.51.100.77 port 50123 ssh2".to_string(),
            "2026-11-24T12:10:05+01:00 gw sshd[5102]: Accepted publickey for alice from 198.51.100.7 port 52100 ssh2: ED25519 SHA256:abc".to_string(),
            "2026-11-24T12:10:06+01:00 gw sshd[5103]: banner exchange: Connection from 198.51.100.93 port 44101: invalid format".to_string(),
        ],
    );
    let log = env.path("auth.log");
    let out = env.authban(&["check", "--json", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(events.len(), 4, "{}", text(&out));
    let e = &events[0];
    assert_eq!(e["file"], log.to_str().unwrap());
    assert_eq!(e["line"], 2);
    assert_eq!(e["time"], "2026-11-24T12:10:03.512311+01:00");
    assert_eq!(e["kind"], "invalid-user");
    assert_eq!(e["addr"], "2001:db8:bad::40");
    assert_eq!(e["user"], "ubnt");
    assert_eq!(e["msg"], "invalid-user");
    // The crafted user name does not frame 203.0.113.9; the mapped address is written as IPv4.
    assert_eq!(events[1]["addr"], "198.51.100.77");
    assert_eq!(events[1]["kind"], "invalid-user");
    assert_eq!(events[2]["kind"], "success");
    assert_eq!(events[3]["kind"], "probe");
    assert_eq!(events[3]["user"], serde_json::Value::Null);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("5 lines"), "summary on stderr: {err}");
    assert!(
        err.contains("4 distinct addresses"),
        "summary on stderr: {err}"
    );
    // Nothing was written anywhere.
    assert!(!env.path("state").exists());
    assert!(!env.path("hosts.deny").exists());
}

/// `authban check --json -` with `input` on its standard input.
fn check_json_stdin(input: Vec<u8>) -> Output {
    let mut child = Command::new(BIN)
        .args(["check", "--json", "-"])
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawning authban");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

#[test]
fn check_reads_stdin_and_survives_binary_garbage() {
    let mut input = Vec::new();
    input.extend_from_slice(b"\x00\xff\xfe garbage \x00\n");
    input.extend_from_slice(&vec![b'x'; 3 << 20]);
    input.extend_from_slice(b"\nNov 24 12:00:07 gw sshd[2501]: Failed password for r\xffoot from 192.0.2.10 port 51000 ssh2\n");
    let out = check_json_stdin(input);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 1, "{}", text(&out));
    let e: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(e["addr"], "192.0.2.10");
    assert_eq!(e["line"], 3);
    assert_eq!(e["user"], "r\u{fffd}oot");
}

#[test]
fn check_missing_file_is_a_clear_error() {
    let env = Env::new();
    let out = env.authban(&["check", env.path("nope.log").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(66), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope.log"),
        "{}",
        text(&out)
    );
}

#[test]
fn scan_denies_attackers_keeps_foreign_lines_and_is_idempotent() {
    let env = Env::new();
    let foreign = "# site rules\r\nsshd: 198.51.100.99\nALL : 192.0.2.200 # legacy";
    fs::write(env.path("hosts.deny"), foreign).unwrap();
    env.append("auth.log", &failures("203.0.113.5", "root", 4, 0));
    env.append("auth.log", &failures("198.51.100.20", "alice", 2, 1));
    // Already denied by a foreign line: detected, but not added twice.
    env.append("auth.log", &failures("192.0.2.200", "root", 4, 2));

    let out = env.scan("auth.log");
    let said = stdout(&out);
    assert!(said.contains("denied 203.0.113.5"), "{said}");
    assert!(
        !said.contains("198.51.100.20"),
        "two failures are below the threshold: {said}"
    );
    assert!(said.contains("192.0.2.200 is already denied"), "{said}");
    let deny = env.hosts_deny();
    assert!(
        deny.starts_with(foreign),
        "foreign lines kept byte for byte:\n{deny}"
    );
    assert_eq!(count_lines_with(&deny, "ALL: 203.0.113.5"), 1, "{deny}");
    assert_eq!(count_lines_with(&deny, "ALL: 192.0.2.200"), 0, "{deny}");

    // Run again: nothing new, nothing changes.
    let before = fs::read(env.path("hosts.deny")).unwrap();
    let out = env.scan("auth.log");
    assert!(stdout(&out).contains("0 new lines"), "{}", text(&out));
    assert_eq!(fs::read(env.path("hosts.deny")).unwrap(), before);

    // Failures split across two runs add up inside the window.
    env.append("auth.log", &failures("198.51.100.20", "alice", 3, 3));
    let out = env.scan("auth.log");
    assert!(
        stdout(&out).contains("denied 198.51.100.20"),
        "{}",
        text(&out)
    );
    assert_eq!(count_lines_with(&env.hosts_deny(), "ALL: 198.51.100.20"), 1);
}

#[test]
fn scan_dry_run_changes_nothing() {
    let env = Env::new();
    env.append("auth.log", &failures("203.0.113.6", "root", 4, 0));
    let log = env.path("auth.log");
    let out = env.authban(&["scan", "--dry-run", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("would deny 203.0.113.6"),
        "{}",
        text(&out)
    );
    assert!(!env.path("hosts.deny").exists());
    assert!(!env.path("state").exists());
    // A real run afterwards still sees those lines.
    let out = env.scan("auth.log");
    assert!(
        stdout(&out).contains("denied 203.0.113.6"),
        "{}",
        text(&out)
    );
}

#[test]
fn scan_finishes_a_rotated_log_before_the_new_one() {
    let env = Env::new();
    env.append("auth.log", &failures("203.0.113.7", "alice", 2, 0));
    env.scan("auth.log");
    // Written after the last run, then the log was rotated and a new one started.
    env.append("auth.log", &failures("203.0.113.7", "alice", 2, 1));
    fs::rename(env.path("auth.log"), env.path("auth.log.1")).unwrap();
    env.append("auth.log", &failures("203.0.113.7", "alice", 1, 2));
    let out = env.scan("auth.log");
    // 2 + 2 + 1 failures: five, across two runs and two files; none lost or counted twice.
    assert!(
        stdout(&out).contains("denied 203.0.113.7"),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("3 new lines"), "{}", text(&out));
}

#[test]
fn scan_finishes_a_rotated_log_that_was_compressed_meanwhile() {
    let env = Env::new();
    env.append("auth.log", &failures("203.0.113.8", "alice", 2, 0));
    env.scan("auth.log");
    env.append("auth.log", &failures("203.0.113.8", "alice", 2, 1));
    let old = fs::read(env.path("auth.log")).unwrap();
    let gz = fs::File::create(env.path("auth.log.1.gz")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
    enc.write_all(&old).unwrap();
    enc.finish().unwrap();
    fs::remove_file(env.path("auth.log")).unwrap();
    env.append("auth.log", &failures("203.0.113.8", "alice", 1, 2));
    let out = env.scan("auth.log");
    assert!(
        stdout(&out).contains("denied 203.0.113.8"),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("3 new lines"), "{}", text(&out));
}

#[test]
fn concurrent_scans_never_corrupt_hosts_deny() {
    let env = Env::new();
    fs::write(env.path("hosts.deny"), "# keep me\n").unwrap();
    let logs: Vec<String> = (0..4)
        .map(|i| {
            let name = format!("auth{i}.log");
            for j in 0..5 {
                env.append(
                    &name,
                    &failures(&format!("203.0.113.{}", 10 + i * 5 + j), "root", 4, j),
                );
            }
            name
        })
        .collect();
    let handles: Vec<_> = logs
        .iter()
        .map(|log| {
            let mut cmd = Command::new(BIN);
            cmd.arg("--config")
                .arg(env.path("authban.toml"))
                .arg("--state-dir")
                .arg(env.path("state"))
                .arg("--hosts-deny")
                .arg(env.path("hosts.deny"))
                .arg("scan")
                .arg(env.path(log))
                .env("TZ", "UTC")
                .stdout(std::process::Stdio::null());
            cmd.spawn().expect("spawning")
        })
        .collect();
    for mut h in handles {
        assert!(h.wait().unwrap().success());
    }
    let deny = env.hosts_deny();
    assert!(deny.starts_with("# keep me\n"), "{deny}");
    for i in 10..30 {
        assert_eq!(
            count_lines_with(&deny, &format!("ALL: 203.0.113.{i}")),
            1,
            "{deny}"
        );
    }
}

#[test]
fn unwritable_hosts_deny_is_an_error_and_the_ban_is_not_lost() {
    let env = Env::new();
    env.append("auth.log", &failures("203.0.113.40", "root", 4, 0));
    let log = env.path("auth.log");
    let missing_dir = env.path("no-such-dir/hosts.deny");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(env.path("authban.toml"))
        .arg("--state-dir")
        .arg(env.path("state"))
        .arg("--hosts-deny")
        .arg(&missing_dir)
        .arg("scan")
        .arg(&log)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-dir"),
        "the error names the file: {err}"
    );
    // Once the file can be written, the next run writes the saved ban, without new lines.
    let out = env.scan("auth.log");
    assert!(stdout(&out).contains("0 new lines"), "{}", text(&out));
    assert_eq!(
        count_lines_with(&env.hosts_deny(), "ALL: 203.0.113.40"),
        1,
        "{}",
        text(&out)
    );
}

#[test]
fn ipv6_attackers_are_bracketed_and_the_session_client_is_spared() {
    let env = Env::new();
    env.append("auth.log", &failures("2001:db8::66", "root", 4, 0));
    // Eight attempts cross the threshold twice: still one address, reported once.
    env.append("auth.log", &failures("198.51.100.50", "root", 8, 1));
    let log = env.path("auth.log");
    let out = env.authban_with(
        &["scan", log.to_str().unwrap()],
        &[("SSH_CONNECTION", "198.51.100.50 50000 192.0.2.1 22")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let deny = env.hosts_deny();
    assert_eq!(count_lines_with(&deny, "ALL: [2001:db8::66]"), 1, "{deny}");
    assert!(!deny.contains("198.51.100.50"), "{deny}");
    let said = stdout(&out);
    assert_eq!(
        said.matches("not banned 198.51.100.50").count(),
        1,
        "{said}"
    );
    assert!(
        said.contains("2 attacking addresses detected, 1 denied"),
        "{said}"
    );
}

#[test]
fn allowlist_and_trusted_logins_are_never_banned() {
    let env = Env::new();
    // The test's log is a file no sshd writes: every login is trusted only with "any".
    fs::write(
        env.path("authban.toml"),
        "[policy]\nallowlist = [\"192.0.2.0/24\"]\ntrust-logins = \"any\"\n",
    )
    .unwrap();
    env.append("auth.log", &failures("192.0.2.33", "root", 6, 0));
    env.append(
        "auth.log",
        &["2026-11-24T12:01:00+00:00 gw sshd[900]: Accepted password for alice from 198.51.100.60 port 40000 ssh2".to_string()],
    );
    env.append("auth.log", &failures("198.51.100.60", "alice", 6, 2));
    env.scan("auth.log");
    let deny = env.hosts_deny();
    assert!(!deny.contains("192.0.2.33"), "{deny}");
    assert!(!deny.contains("198.51.100.60"), "{deny}");
}

/// Issue 9, item 6: any local user can write `sshd[900]: Accepted …` into a syslog file
/// with logger. By default such a line shields nobody unless sshd's process holds its
/// connection (here no sshd does), and `scan` says how many logins it did not trust.
#[test]
fn a_login_line_in_a_file_without_its_connection_shields_nobody() {
    let env = Env::new();
    env.append(
        "auth.log",
        &["2026-11-24T12:01:00+00:00 gw sshd[900]: Accepted password for alice from 198.51.100.60 port 40000 ssh2".to_string()],
    );
    env.append("auth.log", &failures("198.51.100.60", "alice", 6, 2));
    let said = text(&env.scan("auth.log"));
    assert!(env.hosts_deny().contains("ALL: 198.51.100.60"), "{said}");
    assert!(
        said.contains("1 login of the log file granted no trust"),
        "{said}"
    );
    let out = env.authban(&["check", "--score", env.path("auth.log").to_str().unwrap()]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.contains("198.51.100.60") && l.ends_with("not-trusted")),
        "{table}"
    );
}

#[test]
fn broken_config_is_reported_with_key_and_line() {
    let env = Env::new();
    fs::write(
        env.path("authban.toml"),
        "[policy]\nthreshold = -1.0\nwindow = \"ten minutes\"\n",
    )
    .unwrap();
    let out = env.authban(&["config", "check"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.window") && err.contains(":3"), "{err}");
    let log = env.path("auth.log");
    env.append("auth.log", &failures("203.0.113.41", "root", 4, 0));
    let out = env.authban(&["scan", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(!env.path("hosts.deny").exists());
}

/// Issue 9, item 4: the `[ipset]` programs are settings that must work: `config check`
/// refuses one that cannot be found, naming the key.
#[test]
fn config_check_refuses_a_backend_program_that_does_not_exist() {
    let env = Env::new();
    fs::write(
        env.path("authban.toml"),
        "[ban]\nbackends = [\"ipset\"]\n[ipset]\niptables = \"/nonexistent/iptables-legacy\"\n",
    )
    .unwrap();
    let out = env.authban(&["config", "check"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("ipset.iptables = \"/nonexistent/iptables-legacy\": no such program"),
        "{}",
        text(&out)
    );
}

#[test]
fn config_check_prints_the_effective_configuration() {
    let env = Env::new();
    fs::write(env.path("authban.toml"), "[ban]\ntime = \"2h\"\n").unwrap();
    let out = env.authban(&["config", "check"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    assert!(said.contains("time = \"2h\""), "{said}");
    // The override from the command line shows in the effective configuration.
    assert!(
        said.contains(&env.path("hosts.deny").display().to_string()),
        "{said}"
    );
}

/// A stand-in for `journalctl -o export` (the program is configurable, as on systems where
/// it lives elsewhere): prints sshd entries, or only those after `--after-cursor=c4`.
/// CI has no running journald; real journal files are read in tests/journal.rs.
const FAKE_JOURNALCTL: &str = r#"#!/bin/sh
entry() {
  printf '__CURSOR=%s\n__REALTIME_TIMESTAMP=1795518000%06d\n_COMM=%s\n_PID=4242\n_TRANSPORT=%s\n_HOSTNAME=gw\nMESSAGE=Failed password for root from %s port 4%04d ssh2\n\n' "$1" "$2" "$3" "$4" "$5" "$2"
}
for a in "$@"; do
  case "$a" in
    --after-cursor=c4)
      entry c5 5 sshd-session syslog 203.0.113.60
      exit 0 ;;
  esac
done
entry c1 1 sshd-session syslog 203.0.113.60
entry c2 2 sshd-session syslog 203.0.113.60
entry c3 3 logger syslog 198.51.100.61
entry c4 4 sshd stdout 198.51.100.61
"#;

#[test]
fn scan_reads_the_journal_when_there_is_no_auth_log_and_resumes_at_its_cursor() {
    let env = Env::new();
    let fake = env.path("journalctl");
    script::executable(&fake, FAKE_JOURNALCTL);
    fs::write(
        env.path("authban.toml"),
        format!(
            "[policy]\nthreshold = 4.0\n[daemon]\njournal = \"always\"\njournalctl = \"{}\"\n",
            fake.display()
        ),
    )
    .unwrap();
    // Two root failures (3.0) from the real sshd; the forged `logger` and `-e` (stdout)
    // entries for 198.51.100.61 are not sshd's and count for nothing.
    let out = env.authban(&["scan"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("2 new lines read; 0 attacking"),
        "{}",
        text(&out)
    );
    // The next run starts after c4: one more failure, which crosses 4.0.
    let out = env.authban(&["scan"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("denied 203.0.113.60"),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("1 new line read"), "{}", text(&out));
    assert!(!env.hosts_deny().contains("198.51.100.61"));
}

#[test]
fn repeat_offenders_are_banned_longer() {
    let env = Env::new();
    fs::write(
        env.path("authban.toml"),
        "[ban]\ntime = \"1h\"\nfactor = 3.0\n",
    )
    .unwrap();
    env.append("auth.log", &failures("203.0.113.70", "root", 4, 0));
    env.scan("auth.log");
    let list = |env: &Env| {
        let store = authban::store::Store::open(&env.path("state")).unwrap();
        store.bans().unwrap()
    };
    let first = list(&env)
        .into_iter()
        .find(|b| b.target.to_string() == "203.0.113.70")
        .unwrap();
    assert_eq!(first.offences, 1);
    assert_eq!(first.expires_at.unwrap() - first.banned_at, 3600);
    // The ban is lifted by hand in the store (as if it expired), and the address attacks again.
    let mut store = authban::store::Store::open(&env.path("state")).unwrap();
    let mut lifted = first.clone();
    lifted.expires_at = Some(lifted.banned_at);
    store
        .save(&authban::store::Update {
            bans: &[lifted],
            ..Default::default()
        })
        .unwrap();
    drop(store);
    let out = env.scan("auth.log");
    assert!(
        stdout(&out).contains("lifted the expired ban of 203.0.113.70"),
        "{}",
        text(&out)
    );
    env.append("auth.log", &failures("203.0.113.70", "root", 4, 5));
    let out = env.scan("auth.log");
    assert!(
        stdout(&out).contains("denied 203.0.113.70"),
        "{}",
        text(&out)
    );
    let second = list(&env)
        .into_iter()
        .find(|b| b.target.to_string() == "203.0.113.70")
        .unwrap();
    assert_eq!(second.offences, 2);
    assert_eq!(second.expires_at.unwrap() - second.banned_at, 3 * 3600);
}

/// Whether libwrap (Debian's tcpdmatch, reading hosts.deny in `dir`) denies `client` to sshd.
/// `None` when tcpdmatch is not installed (allowed only outside CI).
fn libwrap_denies(dir: &std::path::Path, client: &str) -> Option<bool> {
    let out = match Command::new("tcpdmatch")
        .args(["-d", "sshd", client])
        .current_dir(dir)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "tcpdmatch (package tcpd) is needed under CI: {e}"
            );
            eprintln!(
                "skipping the libwrap check: tcpdmatch not found ({e}); apt-get install tcpd"
            );
            return None;
        }
    };
    let said = String::from_utf8_lossy(&out.stdout);
    Some(said.contains("access:   denied"))
}

#[test]
fn scan_bans_an_ipv6_attacker_hopping_through_its_prefix_and_libwrap_denies_it() {
    // With ipv6-prefix = 64 the addresses of one /64 are one attacker: five failures from
    // five of its addresses (one each, each under any per-address threshold) ban the /64.
    let env = Env::new();
    fs::write(env.path("authban.toml"), "[ban]\nipv6-prefix = 64\n").unwrap();
    fs::write(env.path("hosts.allow"), "").unwrap();
    let hops: Vec<String> = (0..5)
        .map(|i| {
            format!(
                "2026-11-24T12:00:{i:02}.000000+00:00 gw sshd[{}]: Failed password for admin \
                 from 2001:db8:1:2::{:x} port {} ssh2",
                4100 + i,
                0x60 + i,
                50100 + i
            )
        })
        .collect();
    env.append("auth.log", &hops);
    env.append("auth.log", &failures("203.0.113.71", "root", 4, 1));
    let out = env.scan("auth.log");
    let said = stdout(&out);
    assert!(
        said.contains("denied 2001:db8:1:2::/64 in")
            && said.contains("scored together; last 2001:db8:1:2::64"),
        "{said}"
    );
    assert!(
        said.contains("2 attacking addresses detected, 2 denied"),
        "{said}"
    );
    let deny = env.hosts_deny();
    assert_eq!(
        count_lines_with(&deny, "ALL: [2001:db8:1:2::]/64"),
        1,
        "{deny}"
    );
    assert_eq!(count_lines_with(&deny, "ALL: 203.0.113.71"), 1, "{deny}");
    // Another address of the same /64 is denied by that line, one outside it is not.
    if let Some(denied) = libwrap_denies(env.dir.path(), "2001:db8:1:2::99") {
        assert!(denied, "libwrap lets 2001:db8:1:2::99 through:\n{deny}");
        assert_eq!(
            libwrap_denies(env.dir.path(), "2001:db8:1:3::99"),
            Some(false)
        );
        assert_eq!(libwrap_denies(env.dir.path(), "203.0.113.71"), Some(true));
    }
    // A second run reads the network line back as ours: nothing changes.
    let again = env.scan("auth.log");
    assert!(
        stdout(&again).contains("0 new lines read"),
        "{}",
        text(&again)
    );
    assert_eq!(env.hosts_deny(), deny);
}

#[test]
fn an_owner_who_mistypes_once_in_each_of_three_connections_is_not_banned() {
    // The lines sshd 9.2 and PAM log for it (issue 14): PAM's line of each attempt has no
    // port, and used to be credited to the previous connection, scoring 5.0.
    let env = Env::new();
    let mut lines = Vec::new();
    for (i, pid) in [2201, 2205, 2209].into_iter().enumerate() {
        let port = 50001 + i;
        lines.push(format!("2026-03-03T04:1{i}:01.100000+00:00 web1 sshd[{pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.9  user=alice"));
        lines.push(format!("2026-03-03T04:1{i}:03.200000+00:00 web1 sshd[{pid}]: Failed password for alice from 198.51.100.9 port {port} ssh2"));
        lines.push(format!("2026-03-03T04:1{i}:03.900000+00:00 web1 sshd[{pid}]: Connection closed by authenticating user alice 198.51.100.9 port {port} [preauth]"));
    }
    env.append("auth.log", &lines);
    let out = env.scan("auth.log");
    let said = stdout(&out);
    assert!(said.contains("0 attacking addresses detected"), "{said}");
    assert!(!env.hosts_deny().contains("198.51.100.9"));
    // Two more such connections make five attempts: banned, and the reason shows why.
    let more: Vec<String> = lines[..6]
        .iter()
        .map(|l| {
            l.replace("04:11", "04:14")
                .replace("04:10", "04:13")
                .replace("sshd[22", "sshd[23")
        })
        .collect();
    env.append("auth.log", &more);
    let out = env.scan("auth.log");
    let said = stdout(&out);
    assert!(
        said.contains("denied 198.51.100.9 in")
            && said.contains("score 5.0 within 600s: 5 auth-failure = 5.0"),
        "{said}"
    );
}

#[test]
fn check_on_a_truncated_gz_reports_the_error_and_counts_what_it_read() {
    use flate2::{Compression, write::GzEncoder};
    let env = Env::new();
    let lines = failures("203.0.113.90", "root", 400, 0).join("\n") + "\n";
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(lines.as_bytes()).unwrap();
    let whole = gz.finish().unwrap();
    // Cut in the middle, as a copy interrupted by a full disk leaves it.
    fs::write(env.path("auth.log.2.gz"), &whole[..whole.len() / 2]).unwrap();
    let file = env.path("auth.log.2.gz");
    let out = env.authban(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    let printed = stdout(&out)
        .lines()
        .filter(|l| l.contains("203.0.113.90"))
        .count();
    assert!(printed > 0, "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("after line"), "{err}");
    // The summary counts the lines that were read, not 0.
    assert!(!err.contains(" 0 lines ("), "{err}");
    assert!(err.contains(&format!(" {printed} events")), "{err}");
}

#[test]
fn check_score_shows_each_events_connection_and_points() {
    // The issue's second log (OpenSSH 6.7, Raspbian Jessie), on a server with UseDNS: PAM
    // names the client by host name, and `Disconnecting` names no one.
    let env = Env::new();
    let log = "\
Mar  3 04:10:01 pi sshd[1201]: Invalid user support from 198.51.100.7
Mar  3 04:10:01 pi sshd[1201]: input_userauth_request: invalid user support [preauth]
Mar  3 04:10:01 pi sshd[1201]: pam_unix(sshd:auth): check pass; user unknown
Mar  3 04:10:01 pi sshd[1201]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=client.example.net
Mar  3 04:10:03 pi sshd[1201]: Failed password for invalid user support from 198.51.100.7 port 40001 ssh2
Mar  3 04:10:03 pi sshd[1201]: Received disconnect from 198.51.100.7: 11: Bye Bye [preauth]
Mar  3 04:10:04 pi sshd[1203]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7  user=root
Mar  3 04:10:06 pi sshd[1203]: Failed password for root from 198.51.100.7 port 40002 ssh2
Mar  3 04:10:06 pi sshd[1203]: Disconnecting: Too many authentication failures for root [preauth]
";
    fs::write(env.path("auth.log"), log).unwrap();
    let file = env.path("auth.log");
    let out = env.authban(&["check", "--json", "--score", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let by_line = |n: u64| {
        events
            .iter()
            .find(|e| e["line"] == n)
            .unwrap_or_else(|| panic!("no event for line {n}: {}", text(&out)))
    };
    // Invalid user counts 1.5; PAM (by host name, tied by pid) and `Failed` add nothing.
    assert_eq!(by_line(1)["points"], 1.5);
    assert_eq!(by_line(4)["by_pid"], true);
    assert_eq!(by_line(4)["addr"], "198.51.100.7");
    assert_eq!(by_line(4)["conn"]["pid"], 1201);
    assert_eq!(by_line(4)["points"], 0.0);
    assert_eq!(by_line(5)["points"], 0.0);
    assert_eq!(by_line(5)["conn"]["port"], 40001);
    // Root: PAM's line counts 1.5 for the attempt its `Failed` line repeats.
    assert_eq!(by_line(7)["points"], 1.5);
    assert_eq!(by_line(8)["points"], 0.0);
    assert_eq!(by_line(8)["conn"]["pid"], 1203);
    let last = by_line(9);
    assert_eq!(
        (
            &last["by_pid"],
            &last["msg"],
            &last["points"],
            &last["score"]
        ),
        (
            &serde_json::json!(true),
            &serde_json::json!("max-auth-tries"),
            &serde_json::json!(0.0),
            &serde_json::json!(3.0)
        )
    );
    assert!(events.iter().all(|e| e.get("ban").is_none()));
    // Without --score, the same events and no score.
    let plain = env.authban(&["check", "--json", file.to_str().unwrap()]);
    assert_eq!(stdout(&plain).lines().count(), events.len());
    assert!(!stdout(&plain).contains("\"points\""));
}

#[test]
fn a_damaged_rotated_gz_is_reported_once_and_skipped_not_retried_forever() {
    // Issue 8, item 11: the copy that compressed the rotated log was cut short (a full
    // disk). Its lines up to the damage count; the rest cannot ever be read, so scan says
    // so and goes on with the new log instead of failing every run.
    let env = Env::new();
    env.append("auth.log", &failures("203.0.113.8", "alice", 2, 0));
    env.scan("auth.log");
    // Written after that scan, then rotated and compressed: 2 failures of another address,
    // then other programs' lines, whose end the damage cuts off.
    let mut more = failures("203.0.113.9", "bob", 2, 10);
    more.extend((0..3000).map(|i| {
        format!("2026-11-24T12:10:30.{i:06}+00:00 gw CRON[{i}]: pam_unix(cron:session): session closed for user root")
    }));
    env.append("auth.log", &more);
    let old = fs::read(env.path("auth.log")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&old).unwrap();
    let gz = enc.finish().unwrap();
    fs::write(env.path("auth.log.1.gz"), &gz[..gz.len() * 9 / 10]).unwrap();
    fs::remove_file(env.path("auth.log")).unwrap();
    env.append("auth.log", &failures("203.0.113.9", "bob", 3, 12));
    let log = env.path("auth.log");
    let out = env.authban(&["scan", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth.log.1.gz is damaged") && err.contains("the rest is skipped"),
        "{err}"
    );
    // The 2 failures read before the damage and the 3 new ones: 5, banned; the lines read
    // before the damage are counted.
    assert!(
        stdout(&out).contains("denied 203.0.113.9"),
        "{}",
        text(&out)
    );
    let read: u64 = stdout(&out)
        .split(" new lines read")
        .next()
        .and_then(|s| s.rsplit(['\n', ' ']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count: {}", text(&out)));
    assert!(read > 1000 && read < 3005, "{read} lines: {}", text(&out));
    // The next run has nothing left to say about it.
    env.append("auth.log", &failures("203.0.113.10", "dave", 1, 30));
    let again = env.authban(&["scan", log.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains("damaged"),
        "{}",
        text(&again)
    );
    assert!(stdout(&again).contains("1 new line"), "{}", text(&again));
}

#[test]
fn a_lost_or_emptied_store_lifts_no_ban_the_hosts_deny_block_holds() {
    // Issue 8, item 2: the store is the truth, but a missing one knows nothing; the bans
    // in hosts.deny are adopted, not lifted as "expired".
    for how in ["deleted", "truncated"] {
        let env = Env::new();
        env.append("auth.log", &failures("203.0.113.77", "root", 5, 0));
        env.scan("auth.log");
        assert!(env.hosts_deny().contains("ALL: 203.0.113.77"), "{how}");
        let db = env.path("state").join("authban.db");
        match how {
            "deleted" => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = fs::remove_file(format!("{}{suffix}", db.display()));
                }
            }
            _ => {
                for suffix in ["-wal", "-shm"] {
                    let _ = fs::remove_file(format!("{}{suffix}", db.display()));
                }
                fs::write(&db, b"").unwrap();
            }
        }
        // The attack's lines went with the rotation: nothing can re-detect it.
        fs::remove_file(env.path("auth.log")).unwrap();
        env.append("auth.log", &failures("198.51.100.3", "alice", 1, 1));
        let out = env.scan("auth.log");
        let said = stdout(&out);
        assert!(!said.contains("lifted"), "{how}: {}", text(&out));
        assert!(
            said.contains("adopted 203.0.113.77 in") && said.contains("stays denied until"),
            "{how}: {}",
            text(&out)
        );
        assert!(env.hosts_deny().contains("ALL: 203.0.113.77"), "{how}");
        // Now the store has it: the next run has nothing to adopt, and keeps it.
        let again = env.scan("auth.log");
        assert!(
            !stdout(&again).contains("adopted"),
            "{how}: {}",
            text(&again)
        );
        assert!(env.hosts_deny().contains("ALL: 203.0.113.77"), "{how}");
    }
}

#[test]
fn a_broken_configuration_is_reported_by_the_control_commands_not_blamed_on_the_daemon() {
    // Issue 9, item 5: an admin edits the configuration, makes a typo and runs `reload`.
    let env = Env::new();
    fs::write(env.path("authban.toml"), "[daemon]\nsocket = 5\n").unwrap();
    for args in [
        &["status"][..],
        &["list"],
        &["reload"],
        &["ban", "192.0.2.1"],
        &["unban", "192.0.2.1"],
    ] {
        let out = env.authban(args);
        let err = text(&out);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {err}");
        assert!(err.contains("authban.toml"), "{args:?}: {err}");
        assert!(!err.contains("cannot reach"), "{args:?}: {err}");
    }
    // --socket needs no configuration: the daemon is asked (and is not there).
    let sock = env.path("elsewhere.sock");
    let out = env.authban(&["status", "--socket", sock.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    // A configuration that loads names the socket the clients use.
    let configured = env.path("configured.sock");
    fs::write(
        env.path("authban.toml"),
        format!("[daemon]\nsocket = \"{}\"\n", configured.display()),
    )
    .unwrap();
    let out = env.authban(&["status"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert!(
        text(&out).contains(configured.to_str().unwrap()),
        "{}",
        text(&out)
    );
}

#[test]
fn scan_quiet_prints_only_when_something_happened() {
    // Issue 9, item 7: hourly from cron, "0 new lines read" mailed every hour.
    let env = Env::new();
    env.append("auth.log", &failures("203.0.113.90", "alice", 1, 0));
    let log = env.path("auth.log");
    let log = log.to_str().unwrap();
    let out = env.authban(&["scan", "--quiet", log]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout(&out), "", "one failure bans nobody: nothing to say");
    env.append("auth.log", &failures("203.0.113.90", "alice", 4, 1));
    let out = env.authban(&["scan", "-q", log]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("denied 203.0.113.90"),
        "{}",
        text(&out)
    );
    let out = env.authban(&["scan", "--quiet", log]);
    assert_eq!(stdout(&out), "", "no new lines: nothing to say");
    let out = env.authban(&["scan", log]);
    assert!(stdout(&out).contains("0 new lines read"), "{}", text(&out));
}

/// Issue 9, items 1 and 2: without a daemon (the cron mode), `ban`, `unban` and `list`
/// work on the store and hosts.deny under scan's lock; networks and permanent bans are
/// accepted; `unban` takes what `list` prints, and the next scan does not undo it.
#[test]
fn cron_mode_bans_unbans_and_lists_without_a_daemon() {
    let env = Env::new();
    let sock = env.path("authban.sock");
    fs::write(
        env.path("authban.toml"),
        format!("[daemon]\nsocket = \"{}\"\n", sock.display()),
    )
    .unwrap();
    fs::write(env.path("hosts.allow"), "").unwrap();
    env.append("auth.log", &failures("203.0.113.80", "root", 4, 0));
    env.scan("auth.log");
    assert_eq!(count_lines_with(&env.hosts_deny(), "ALL: 203.0.113.80"), 1);

    // A network, permanently: hosts.deny gets the form libwrap reads.
    let out = env.authban(&["ban", "198.51.100.0/24", "--permanent"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("banned 198.51.100.0/24 permanently (no daemon is running"),
        "{}",
        text(&out)
    );
    let deny = env.hosts_deny();
    assert_eq!(
        count_lines_with(&deny, "ALL: 198.51.100.0/255.255.255.0"),
        1,
        "{deny}"
    );
    if let Some(denied) = libwrap_denies(env.dir.path(), "198.51.100.9") {
        assert!(denied, "libwrap lets 198.51.100.9 through:\n{deny}");
    }
    // IPv6 networks too, for a time.
    let out = env.authban(&["ban", "2001:db8:5::/48", "--for", "2h"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        count_lines_with(&env.hosts_deny(), "ALL: [2001:db8:5::]/48"),
        1
    );

    // `list` reads the store; its first column is what `unban` takes.
    let out = env.authban(&["list"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = stdout(&out);
    let mut targets: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        ["198.51.100.0/24", "2001:db8:5::/48", "203.0.113.80"],
        "{listed}"
    );
    let json = env.authban(&["list", "--json"]);
    let bans: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(bans.as_array().map(Vec::len), Some(3), "{}", text(&json));
    // Times as RFC 3339 in UTC, as `status --json` writes them; null for permanent.
    for b in bans.as_array().unwrap() {
        let banned = b["banned_at"].as_str().unwrap();
        assert!(
            banned.parse::<jiff::Timestamp>().is_ok() && banned.ends_with('Z'),
            "{b}"
        );
        assert!(
            b["expires_at"].is_null() || b["expires_at"].as_str().is_some(),
            "{b}"
        );
    }
    assert!(
        bans.as_array()
            .unwrap()
            .iter()
            .any(|b| b["expires_at"].is_null()),
        "{bans}"
    );

    // An address inside a banned network is not banned by itself: unban says what is.
    let out = env.authban(&["unban", "198.51.100.7"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("as part of 198.51.100.0/24: unban 198.51.100.0/24"),
        "{}",
        text(&out)
    );
    for t in targets {
        let out = env.authban(&["unban", t]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(stdout(&out).contains("its line left"), "{}", text(&out));
    }
    let deny = env.hosts_deny();
    assert!(!deny.contains("ALL: "), "{deny}");
    if let Some(denied) = libwrap_denies(env.dir.path(), "203.0.113.80") {
        assert!(!denied, "still denied after unban:\n{deny}");
    }
    // The next scan does not restore what was lifted by hand.
    let again = env.scan("auth.log");
    assert!(!stdout(&again).contains("restored"), "{}", text(&again));
    assert!(!env.hosts_deny().contains("ALL: "));
    let out = env.authban(&["list"]);
    assert!(stdout(&out).lines().count() <= 1, "{}", text(&out));
}

/// Issue 9, item 1: the allowlist always wins. An address banned by a scan (or by hand)
/// and then allowlisted is lifted at the next scan, with a line saying why.
#[test]
fn a_ban_lifted_by_a_newer_allowlist_at_the_next_scan() {
    let env = Env::new();
    let sock = format!(
        "[daemon]\nsocket = \"{}\"\n",
        env.path("authban.sock").display()
    );
    fs::write(env.path("authban.toml"), &sock).unwrap();
    fs::write(env.path("hosts.allow"), "").unwrap();
    env.append("auth.log", &failures("203.0.113.81", "root", 4, 0));
    env.scan("auth.log");
    let out = env.authban(&["ban", "198.51.100.0/24"]);
    assert!(out.status.success(), "{}", text(&out));
    let deny = env.hosts_deny();
    assert_eq!(count_lines_with(&deny, "ALL: 203.0.113.81"), 1, "{deny}");
    fs::write(
        env.path("authban.toml"),
        format!("{sock}[policy]\nallowlist = [\"203.0.113.81\", \"198.51.100.10\"]\n"),
    )
    .unwrap();
    let out = env.scan("auth.log");
    let said = stdout(&out);
    assert!(
        said.contains("lifted the ban of 203.0.113.81: allowlisted by 203.0.113.81"),
        "{said}"
    );
    assert!(
        said.contains("lifted the ban of 198.51.100.0/24: it overlaps allowlisted 198.51.100.10"),
        "{said}"
    );
    assert!(!env.hosts_deny().contains("ALL: "), "{}", env.hosts_deny());
    // And a ban by hand of what the allowlist covers is refused, not lifted later.
    let out = env.authban(&["ban", "198.51.100.10"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("allowlisted by 198.51.100.10"),
        "{}",
        text(&out)
    );
}

/// One journal entry's fields, in the order journalctl prints them.
fn journal_entry(
    n: u64,
    comm: &str,
    transport: &str,
    message: &[u8],
) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "__CURSOR",
            format!("s=6f1e;i={n:x};b=7a2c;m={n:x};t=62f1;x=9e").into_bytes(),
        ),
        (
            "__REALTIME_TIMESTAMP",
            (1_795_521_600_000_000 + n * 1_000_000)
                .to_string()
                .into_bytes(),
        ),
        ("_HOSTNAME", b"gw".to_vec()),
        ("SYSLOG_IDENTIFIER", b"sshd".to_vec()),
        ("_COMM", comm.as_bytes().to_vec()),
        ("_PID", (4000 + n).to_string().into_bytes()),
        ("_TRANSPORT", transport.as_bytes().to_vec()),
        ("MESSAGE", message.to_vec()),
    ]
}

/// `journalctl -o json`: one object per line; a value that is not printable UTF-8 is an
/// array of its bytes (systemd's journal JSON format).
fn journal_json(entries: &[Vec<(&str, Vec<u8>)>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut obj = serde_json::Map::new();
        for (k, v) in e {
            let value = match std::str::from_utf8(v) {
                Ok(s) if !s.chars().any(char::is_control) => serde_json::Value::from(s),
                _ => serde_json::Value::from(v.clone()),
            };
            obj.insert((*k).to_owned(), value);
        }
        out.extend_from_slice(serde_json::to_string(&obj).unwrap().as_bytes());
        out.push(b'\n');
    }
    out
}

/// `journalctl -o export`: `KEY=value` lines, a value holding control bytes as `KEY\n`, its
/// length (64-bit little-endian) and its bytes and `\n`; an empty line after each entry
/// (systemd's journal export format).
fn journal_export(entries: &[Vec<(&str, Vec<u8>)>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        for (k, v) in e {
            out.extend_from_slice(k.as_bytes());
            if v.iter().any(|b| b.is_ascii_control()) {
                out.push(b'\n');
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                out.extend_from_slice(v);
            } else {
                out.push(b'=');
                out.extend_from_slice(v);
            }
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// Issue 9, item 8: a saved or piped `journalctl -o json` or `-o export` is read as the
/// journal source reads the journal: only entries whose `_COMM` is sshd's and whose
/// transport is syslog or the journal count; `SYSLOG_IDENTIFIER=sshd` from another
/// program, `sshd -e`'s stdout and a message holding a newline forge nothing.
#[test]
fn check_and_scan_read_journal_exports_with_the_journal_sources_trust() {
    let env = Env::new();
    let mut entries = Vec::new();
    for n in 0..4 {
        let msg = format!(
            "Failed password for invalid user admin from 203.0.113.77 port {} ssh2",
            50000 + n
        );
        entries.push(journal_entry(n, "sshd-session", "syslog", msg.as_bytes()));
    }
    entries.push(journal_entry(
        10,
        "logger",
        "syslog",
        b"Failed password for root from 198.51.100.1 port 1 ssh2",
    ));
    entries.push(journal_entry(
        11,
        "sshd",
        "stdout",
        b"Failed password for root from 198.51.100.2 port 2 ssh2",
    ));
    entries.push(journal_entry(
        12,
        "sshd",
        "journal",
        b"Invalid user x\nFailed password for root from 198.51.100.3 port 3 ssh2 from 203.0.113.78 port 4",
    ));
    // A binary field of 10 bytes: its length's first byte is `\n` itself.
    entries.push(journal_entry(13, "sshd-session", "syslog", b"ab\ncdefghi"));
    entries.push(journal_entry(
        14,
        "sshd-session",
        "syslog",
        b"Invalid user z from 203.0.113.79 port 4",
    ));
    let want_addrs = |stdout: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["addr"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let mut expected = vec!["203.0.113.77".to_owned(); 4];
    expected.push("203.0.113.78".to_owned());
    expected.push("203.0.113.79".to_owned());
    for (name, bytes) in [
        ("journal.json", journal_json(&entries)),
        ("journal.export", journal_export(&entries)),
    ] {
        fs::write(env.path(name), &bytes).unwrap();
        let out = env.authban(&["check", "--json", env.path(name).to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        assert_eq!(want_addrs(&out.stdout), expected, "{name}: {}", text(&out));
        // Piped, as `journalctl -o … | authban check -` does.
        let out = check_json_stdin(bytes.clone());
        assert_eq!(
            want_addrs(&out.stdout),
            expected,
            "{name} on stdin: {}",
            text(&out)
        );
    }
    // The entries' own time: 2026-11-24T12:00:00Z and the seconds after.
    let out = env.authban(&[
        "check",
        "--json",
        env.path("journal.export").to_str().unwrap(),
    ]);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["time"], "2026-11-24T12:00:00+00:00", "{first}");
    // scan bans from an export as from a log.
    let said = text(&env.scan("journal.export"));
    let deny = env.hosts_deny();
    assert!(deny.contains("ALL: 203.0.113.77"), "{said}\n{deny}");
    for forged in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert!(!deny.contains(forged), "{forged}: {deny}");
    }
}

/// Issue 9, item 7: a `message repeated N times` line is one row that says it stands for
/// N, and the summary's event count says why it exceeds the rows.
#[test]
fn check_shows_a_repeated_line_as_its_count() {
    let env = Env::new();
    env.append(
        "auth.log",
        &[
            "Nov 24 12:00:07 gw sshd[2501]: message repeated 2 times: [ Failed password for root from 192.0.2.10 port 51000 ssh2]".to_string(),
            "Nov 24 12:00:08 gw sshd[2501]: Failed password for root from 192.0.2.10 port 51000 ssh2".to_string(),
        ],
    );
    let out = env.authban(&["check", env.path("auth.log").to_str().unwrap()]);
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows[0].ends_with(":1 repeated=2"), "{table}");
    assert!(rows[1].ends_with(":2"), "{table}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 events in 2 rows"), "{err}");
}

/// Issue 15, item 3: per-account weights (`[policy.users]`) and accounts that cannot log
/// in weighed as invalid users. The first script banned at the first failure for `mail`.
#[test]
fn account_weights_ban_mail_at_its_first_attempt_and_nologin_accounts_weigh_as_invalid() {
    let env = Env::new();
    fs::write(
        env.path("passwd"),
        "root:x:0:0:root:/root:/bin/bash\n\
         www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
         backup:x:34:34:backup:/var/backups:/bin/false\n\
         alice:x:1000:1000:Alice:/home/alice:/bin/bash\n",
    )
    .unwrap();
    let failure = |addr: &str, user: &str, i: u32| {
        format!(
            "2026-11-24T12:00:{i:02}+00:00 gw sshd[{}]: Failed password for {user} from {addr} port {} ssh2",
            3000 + i,
            40000 + i
        )
    };
    env.append("auth.log", &[failure("203.0.113.90", "mail", 1)]);
    for i in 0..4 {
        env.append("auth.log", &[failure("203.0.113.91", "www-data", 10 + i)]);
        env.append("auth.log", &[failure("203.0.113.92", "alice", 20 + i)]);
    }
    // Without the settings: nobody reaches 5 points.
    let out = env.authban(&["scan", "--dry-run", env.path("auth.log").to_str().unwrap()]);
    assert!(stdout(&out).contains("0 would deny"), "{}", text(&out));
    fs::write(
        env.path("authban.toml"),
        format!(
            "[policy]\nnologin-as-invalid = true\npasswd = \"{}\"\n[policy.users]\nmail = 5.0\n",
            env.path("passwd").display()
        ),
    )
    .unwrap();
    let said = text(&env.scan("auth.log"));
    let deny = env.hosts_deny();
    assert!(deny.contains("ALL: 203.0.113.90"), "mail at once: {said}");
    assert!(
        deny.contains("ALL: 203.0.113.91"),
        "www-data as invalid: {said}"
    );
    assert!(!deny.contains("203.0.113.92"), "alice is a person: {said}");
    // A passwd that cannot be read is refused where the setting is checked.
    fs::write(
        env.path("authban.toml"),
        "[policy]\nnologin-as-invalid = true\npasswd = \"/nonexistent/passwd\"\n",
    )
    .unwrap();
    let out = env.authban(&["config", "check"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("policy.passwd"), "{}", text(&out));
}

/// Issue 15, item 2: with `[policy.networks]`, a /24 of which three addresses were banned
/// is banned whole (libwrap then refuses an address of it that never attacked); a /24
/// holding an allowlisted address is not, and its attackers stay banned one by one.
#[test]
fn a_network_whose_members_are_banned_is_banned_unless_it_holds_the_allowlist() {
    let attack = |net: &str| -> Vec<String> {
        (1..=3u32)
            .flat_map(|host| failures(&format!("{net}.{host}"), "root", 4, host))
            .collect()
    };
    let env = Env::new();
    fs::write(
        env.path("authban.toml"),
        "[policy]\nallowlist = [\"198.51.100.200\"]\n\
         [policy.networks]\nbans = 3\nipv4-prefix = 24\nwindow = \"1h\"\n",
    )
    .unwrap();
    fs::write(env.path("hosts.allow"), "").unwrap();
    env.append("auth.log", &attack("203.0.113"));
    env.append("auth.log", &attack("198.51.100"));
    let said = stdout(&env.scan("auth.log"));
    let deny = env.hosts_deny();
    assert!(
        said.contains("denied 203.0.113.0/24")
            && said.contains("3 addresses of the network banned within 3600s: 203.0.113.1, 203.0.113.2, 203.0.113.3"),
        "{said}"
    );
    assert!(!deny.contains("198.51.100.0"), "{deny}");
    for host in 1..=3 {
        assert!(
            deny.contains(&format!("ALL: 198.51.100.{host}\n")),
            "{deny}"
        );
    }
    assert!(
        said.contains("not banned 198.51.100.0/24") && said.contains("198.51.100.200"),
        "{said}"
    );
    if let Some(denied) = libwrap_denies(&env.path(""), "203.0.113.77") {
        assert!(
            denied,
            "libwrap lets a member of the banned /24 in:\n{deny}"
        );
        assert_eq!(libwrap_denies(&env.path(""), "198.51.100.77"), Some(false));
    }
}

/// An export entry that cannot be read whole (a binary field longer than its length says)
/// is skipped and said; the entries after it count.
#[test]
fn a_broken_journal_export_entry_is_said_and_the_next_ones_count() {
    let env = Env::new();
    let good = journal_entry(
        2,
        "sshd-session",
        "syslog",
        b"Invalid user z from 203.0.113.79 port 4",
    );
    let mut bytes =
        b"__CURSOR=s=1;i=1\n__REALTIME_TIMESTAMP=1795521600000000\n_COMM=sshd\nMESSAGE\n".to_vec();
    bytes.extend_from_slice(&5u64.to_le_bytes());
    bytes.extend_from_slice(b"0123456789\n_PID=4\n_TRANSPORT=syslog\n\n");
    bytes.extend_from_slice(&journal_export(&[good]));
    fs::write(env.path("journal.export"), &bytes).unwrap();
    let out = env.authban(&[
        "check",
        "--json",
        env.path("journal.export").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 journal export entries could not be read whole"),
        "{}",
        text(&out)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{}", text(&out));
    assert_eq!(rows[0]["addr"], "203.0.113.79");
    let said = text(&env.scan("journal.export"));
    assert!(
        said.contains("1 journal export entries could not be read whole"),
        "{said}"
    );
}

/// Issue 15, item 1: the original script ran hourly from cron. An address trying one
/// password every 15 minutes, day and night, never has 5 points in 10 minutes; with the
/// default configuration the hourly `scan` bans it within the day, because each run saves
/// the day rule's count for the next. A person who mistypes four times in a row, three
/// times a day, in the same log is never banned.
#[test]
fn hourly_scans_ban_a_password_every_fifteen_minutes_within_the_day() {
    let env = Env::new();
    let line = |minute: u32, second: u32, pid: u32, who: &str| {
        format!(
            "2026-11-24T{:02}:{:02}:{second:02}+00:00 gw sshd[{pid}]: Failed password for {who} port {} ssh2",
            minute / 60,
            minute % 60,
            40000 + pid
        )
    };
    let mut banned_in_hour = None;
    for hour in 0..24u32 {
        let mut lines = Vec::new();
        for quarter in 0..4 {
            let minute = hour * 60 + quarter * 15;
            lines.push(line(minute, 0, minute, "admin from 203.0.113.15"));
        }
        if [8, 13, 19].contains(&hour) {
            for typo in 0..4 {
                lines.push(line(
                    hour * 60 + 7,
                    typo * 20,
                    5000 + hour * 10 + typo,
                    "alice from 198.51.100.20",
                ));
            }
        }
        lines.sort();
        env.append("auth.log", &lines);
        let said = stdout(&env.scan("auth.log"));
        if banned_in_hour.is_none() && env.hosts_deny().contains("ALL: 203.0.113.15\n") {
            assert!(said.contains("a slow attack"), "{said}");
            banned_in_hour = Some(hour);
        }
    }
    // 18 attempts fill 15.0 points: the one at 04:15, read by the run after it.
    assert_eq!(banned_in_hour, Some(4), "{}", env.hosts_deny());
    assert!(
        !env.hosts_deny().contains("198.51.100.20"),
        "the person was banned: {}",
        env.hosts_deny()
    );
    // Without the rule (policy.rules = []), nothing bans the slow attacker.
    let quiet = Env::new();
    fs::write(quiet.path("authban.toml"), "[policy]\nrules = []\n").unwrap();
    fs::copy(env.path("auth.log"), quiet.path("auth.log")).unwrap();
    quiet.scan("auth.log");
    assert!(
        !quiet.hosts_deny().contains("203.0.113.15"),
        "{}",
        quiet.hosts_deny()
    );
}

/// Issue 10, item 6: completions and the manual page come from the same command
/// definition, so every command is in both; the bash script is valid bash.
#[test]
fn completions_and_the_manual_page_name_every_command() {
    let env = Env::new();
    let commands = [
        "check",
        "scan",
        "run",
        "status",
        "list",
        "ban",
        "unban",
        "reload",
        "history",
        "explain",
        "report",
        "install",
        "uninstall",
        "config",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = env.authban(&["completions", shell]);
        assert!(out.status.success(), "{}", text(&out));
        let script = stdout(&out);
        for c in commands {
            assert!(script.contains(c), "{shell} completion lacks {c}");
        }
        assert!(script.contains("log-format"), "{shell}: run's options");
    }
    let bash = stdout(&env.authban(&["completions", "bash"]));
    fs::write(env.path("authban.bash"), &bash).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(env.path("authban.bash"))
        .output()
        .expect("bash");
    assert!(syntax.status.success(), "{}", text(&syntax));

    let out = env.authban(&["man"]);
    assert!(out.status.success(), "{}", text(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH authban 1"), "{page}");
    for c in commands {
        assert!(
            page.contains(&format!("authban\\-{c}(1)")),
            "man lacks {c}: {page}"
        );
    }
    // Each page the main one refers to exists.
    let out = env.authban(&["man", "scan"]);
    let scan = stdout(&out);
    assert!(
        out.status.success() && scan.contains(".TH authban-scan 1") && scan.contains("dry\\-run"),
        "{}",
        text(&out)
    );
    let out = env.authban(&["man", "nosuch"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let out = env.authban(&["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is refused: {}",
        text(&out)
    );
}

/// Issue 16: on a system like Raspberry Pi OS 12 or Debian 12 (no syslog daemon, no
/// auth.log) the daemon reads the journal; on an older one, auth.log. `install` says which,
/// as the daemon will decide it, for the image it writes.
#[test]
fn install_says_the_daemon_reads_the_journal_where_there_is_no_auth_log() {
    let env = Env::new();
    let bin = env!("CARGO_BIN_EXE_authban");
    for (root, log, want) in [
        (
            "pi-os-12",
            None,
            "the daemon will read the systemd journal: there is no /var/log/auth.log or /var/log/secure",
        ),
        (
            "pi-os-11",
            Some("var/log/auth.log"),
            "the daemon will read /var/log/auth.log",
        ),
        (
            "rhel",
            Some("var/log/secure"),
            "the daemon will read /var/log/secure",
        ),
    ] {
        let root = env.path(root);
        fs::create_dir_all(root.join("var/log")).unwrap();
        if let Some(log) = log {
            fs::write(root.join(log), "").unwrap();
        }
        let out = env.authban(&["install", "--root", root.to_str().unwrap(), "--exec", bin]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(stdout(&out).contains(want), "{}", stdout(&out));
    }
}

/// Times past 2038 (the end of a signed 32-bit `time_t`, still the default of 32-bit
/// Raspberry Pi OS's C library) are kept: a log line written after it reads with its date,
/// and a ban that ends after it (a 100-year ban, the longest accepted) stays in force
/// across scans and is listed with its year. `packaging/cross.sh test armhf` runs this on
/// the 32-bit target.
#[test]
fn times_past_2038_are_read_kept_and_listed() {
    let env = Env::new();
    fs::write(
        env.path("auth.log"),
        "2040-02-29T06:07:08.000000+00:00 gw sshd[4242]: Failed password for root from \
         203.0.113.38 port 50000 ssh2\n",
    )
    .unwrap();
    let out = env.authban(&["check", "--json", env.path("auth.log").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let event: serde_json::Value =
        serde_json::from_slice(stdout(&out).lines().next().unwrap().as_bytes()).unwrap();
    assert_eq!(event["time"], "2040-02-29T06:07:08+00:00", "{event}");

    let out = env.authban(&["ban", "192.0.2.38", "--for", "5200w"]);
    assert!(out.status.success(), "{}", text(&out));
    env.scan("auth.log");
    assert_eq!(count_lines_with(&env.hosts_deny(), "ALL: 192.0.2.38"), 1);
    let out = env.authban(&["list", "--json"]);
    let bans: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ban = &bans.as_array().unwrap()[0];
    assert_eq!(ban["addr"], "192.0.2.38", "{bans}");
    let until: jiff::Timestamp = ban["expires_at"].as_str().unwrap().parse().unwrap();
    let years = (until.as_second() - jiff::Timestamp::now().as_second()) / (365 * 86_400);
    assert!((99..=100).contains(&years), "{ban}");
}

/// `authban import` in the cron mode: a DROP-style list banned in the store and
/// hosts.deny, and listed with its name; a broken download imports nothing and names its
/// lines; `--skip-invalid` takes the good ones; a second import extends, never shortens,
/// and leaves one ban per entry in the history. `export` gives back a list that imports
/// into another system as the same bans.
#[test]
fn import_bans_a_blocklist_and_export_gives_it_back() {
    let env = Env::new();
    let list = env.path("drop.txt");
    fs::write(
        &list,
        "; Spamhaus-style header\n198.51.100.0/24 ; SBL1\n203.0.113.7\n2001:db8:bad::/48 # x\n",
    )
    .unwrap();
    // A dry run says what would be done, and does nothing.
    let out = env.authban(&["import", list.to_str().unwrap(), "--for", "1d", "--dry-run"]);
    assert_eq!(
        stdout(&out),
        "would import drop.txt (3 entries) for 1d, in a dry run that bans nothing: 3 banned\n",
        "{}",
        text(&out)
    );
    assert!(!env.hosts_deny().contains("ALL: "));
    let out = env.authban(&["import", list.to_str().unwrap(), "--for", "1d"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).starts_with("imported drop.txt (3 entries) for 1d: 3 banned\n"),
        "{}",
        text(&out)
    );
    let deny = env.hosts_deny();
    for line in [
        "ALL: 198.51.100.0/255.255.255.0",
        "ALL: 203.0.113.7",
        "ALL: [2001:db8:bad::]/48",
    ] {
        assert_eq!(count_lines_with(&deny, line), 1, "{deny}");
    }
    let listed = stdout(&env.authban(&["list"]));
    assert_eq!(
        listed.matches("imported from drop.txt").count(),
        3,
        "{listed}"
    );

    // A broken download: nothing imported, each bad line named, exit 65.
    let broken = env.path("broken.txt");
    fs::write(&broken, "192.0.2.77\n<html>\x1b[2J\n0.0.0.0/0\n").unwrap();
    let out = env.authban(&["import", broken.to_str().unwrap(), "--permanent"]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.txt: line 2: \"<html>\\x1b[2J\": not an address or network"),
        "{err}"
    );
    assert!(
        err.contains("broken.txt: line 3: 0.0.0.0/0 is wider than /8"),
        "{err}"
    );
    assert!(err.contains("nothing imported"), "{err}");
    assert!(!env.hosts_deny().contains("192.0.2.77"));
    let out = env.authban(&[
        "import",
        broken.to_str().unwrap(),
        "--permanent",
        "--skip-invalid",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(count_lines_with(&env.hosts_deny(), "ALL: 192.0.2.77"), 1);
    // An empty file (a download cut at its start) is an error too.
    fs::write(env.path("empty.txt"), "; only a header\n").unwrap();
    let out = env.authban(&[
        "import",
        env.path("empty.txt").to_str().unwrap(),
        "--for",
        "1d",
    ]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));

    // Again, for an hour: each ban already lasts longer. For a week: extended.
    let out = env.authban(&["import", list.to_str().unwrap(), "--for", "1h"]);
    assert!(
        stdout(&out).contains("0 banned, 3 banned already for as long"),
        "{}",
        text(&out)
    );
    let out = env.authban(&["import", list.to_str().unwrap(), "--for", "7d", "--dry-run"]);
    assert!(
        stdout(&out).starts_with("would import drop.txt (3 entries) for 1w, in a dry run that bans nothing: 0 banned, 3 extended"),
        "{}",
        text(&out)
    );
    let out = env.authban(&["import", list.to_str().unwrap(), "--for", "7d"]);
    assert!(
        stdout(&out).contains("0 banned, 3 extended"),
        "{}",
        text(&out)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&env.authban(&["list", "--json"]).stdout).unwrap();
    let week = jiff::Timestamp::now().as_second() + 7 * 86_400;
    for b in json.as_array().unwrap() {
        if b["reason"] == "imported from drop.txt" {
            let until: jiff::Timestamp = b["expires_at"].as_str().unwrap().parse().unwrap();
            assert!((until.as_second() - week).abs() < 60, "{b}");
        }
    }
    let history = stdout(&env.authban(&["history"]));
    assert_eq!(history.matches("203.0.113.7").count(), 1, "{history}");

    // Export, and import the export elsewhere: the same targets.
    let out = env.authban(&["export"]);
    assert!(out.status.success(), "{}", text(&out));
    let exported = stdout(&out);
    assert!(
        exported.starts_with("# authban export: 4 bans in force at "),
        "{exported}"
    );
    let other = Env::new();
    let file = other.path("from-gw.txt");
    fs::write(&file, &exported).unwrap();
    let out = other.authban(&["import", file.to_str().unwrap(), "--for", "1d"]);
    assert!(out.status.success(), "{}", text(&out));
    let targets = |e: &Env| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_slice(&e.authban(&["export", "--format", "json"]).stdout).unwrap();
        let mut t: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["addr"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    assert_eq!(targets(&env), targets(&other));
    assert_eq!(targets(&env).len(), 4);

    // The list's name is printable text wherever it goes.
    fs::write(env.path("one.txt"), "192.0.2.88\n").unwrap();
    let one = env.path("one.txt");
    let out = env.authban(&[
        "import",
        one.to_str().unwrap(),
        "--for",
        "1h",
        "--name",
        "a\nfake: line\x1b[2J",
    ]);
    assert!(
        stdout(&out).starts_with("imported afake: line[2J (1 entry)"),
        "{}",
        text(&out)
    );
    let listed = stdout(&env.authban(&["list"]));
    assert!(
        listed.contains("imported from afake: line[2J\n"),
        "{listed}"
    );
}
