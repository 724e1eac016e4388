//! `authban run` as a user runs it, unprivileged: every path in a temporary directory,
//! the hosts.deny backend, the control socket. Proves the daemon reacts to appended lines,
//! tells systemd it is ready, answers the control socket, expires bans, reloads on SIGHUP,
//! stops on SIGTERM, and after a restart (also after `kill -9`) enforces its bans again
//! without counting any line twice.
//!
//! The firewall backends and a real sshd are exercised by the root-only tests.

#[path = "support/daemon.rs"]
mod daemon_support;
#[path = "support/emulation.rs"]
mod emulation;
#[path = "support/script.rs"]
mod script;

use daemon_support::*;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use authban::control::Request;

#[test]
fn daemon_bans_within_milliseconds_expires_and_answers_control() {
    let env = Env::new("3s");
    let mut d = env.start();
    let status = env.ask(Request::Status);
    let st = status.status.expect("a status");
    assert_eq!(st.sources.len(), 1, "{st:?}");
    assert!(
        st.backends.iter().any(|b| b.name == "hosts.deny" && b.ok),
        "{st:?}"
    );

    // Two failures: below the threshold of 3.
    env.append(&failures("203.0.113.20", 2, 0));
    wait_until("the lines to be read", Duration::from_secs(5), || {
        env.ask(Request::Status)
            .status
            .is_some_and(|s| s.lines == 2)
    });
    assert!(!denies(&env.hosts_deny(), "203.0.113.20"));
    // The third crosses it: the address is denied within milliseconds.
    env.append(&failures("203.0.113.20", 1, 2));
    let took = wait_until("the ban", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.20")
    });
    eprintln!("append → hosts.deny: {took:?}");

    let list = env.ask(Request::List).bans.expect("a list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].addr, "203.0.113.20");
    assert!(list[0].expires_at.is_some());

    // A manual permanent ban, and an unban.
    let r = env.ask(Request::Ban {
        addr: "198.51.100.30".into(),
        duration: Some("0".into()),
    });
    assert!(r.ok, "{r:?}");
    assert!(denies(&env.hosts_deny(), "198.51.100.30"));
    let r = env.ask(Request::Ban {
        addr: "127.0.0.1".into(),
        duration: None,
    });
    assert!(!r.ok, "loopback must be refused: {r:?}");
    let r = env.ask(Request::Ban {
        addr: "not-an-ip".into(),
        duration: None,
    });
    assert!(!r.ok);

    // The automatic ban expires after 3 s of wall time; the manual one stays.
    wait_until("the ban to expire", Duration::from_secs(6), || {
        !denies(&env.hosts_deny(), "203.0.113.20")
    });
    assert!(denies(&env.hosts_deny(), "198.51.100.30"));
    let r = env.ask(Request::Unban {
        addr: "198.51.100.30".into(),
        fleet: false,
    });
    assert!(r.ok, "{r:?}");
    assert!(!denies(&env.hosts_deny(), "198.51.100.30"));
    let r = env.ask(Request::Unban {
        addr: "198.51.100.30".into(),
        fleet: false,
    });
    assert!(!r.ok, "unbanning twice says it is not banned: {r:?}");

    // SIGHUP reloads: a lower threshold takes effect without a restart.
    let cfg = fs::read_to_string(env.path("authban.toml"))
        .unwrap()
        .replace("threshold = 3.0", "threshold = 1.0");
    fs::write(env.path("authban.toml"), cfg).unwrap();
    signal(&d, nix::sys::signal::Signal::SIGHUP);
    let mut buf = [0u8; 256];
    let mut got_ready = false;
    for _ in 0..3 {
        let n = d
            .notify
            .recv(&mut buf)
            .expect("RELOADING/READY after SIGHUP");
        if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
            got_ready = true;
            break;
        }
    }
    assert!(got_ready);
    env.append(&failures("203.0.113.21", 1, 10));
    wait_until("a ban at the new threshold", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.21")
    });

    // SIGTERM stops it cleanly.
    signal(&d, nix::sys::signal::Signal::SIGTERM);
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!env.socket().exists(), "the socket is removed on stop");
}

#[test]
fn restart_restores_bans_and_counts_no_line_twice() {
    let env = Env::new("1h");
    let d = env.start();
    env.append(&failures("203.0.113.40", 3, 0));
    env.append(&failures("203.0.113.41", 2, 10));
    wait_until("the ban", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.40")
    });
    wait_until("the lines", Duration::from_secs(5), || {
        env.ask(Request::Status)
            .status
            .is_some_and(|s| s.lines == 5)
    });
    // Killed without warning, with hosts.deny emptied behind its back.
    let mut d = d;
    signal(&d, nix::sys::signal::Signal::SIGKILL);
    let _ = d.child.wait();
    fs::write(env.path("hosts.deny"), "").unwrap();
    let _ = fs::remove_file(env.socket());

    let d2 = env.start();
    // The ban decided before the kill is enforced again at start.
    assert!(
        denies(&env.hosts_deny(), "203.0.113.40"),
        "{}",
        env.hosts_deny()
    );
    let st = env.ask(Request::Status).status.unwrap();
    assert_eq!(st.lines, 0, "no line read twice after the restart");
    // 203.0.113.41 had two failures before the kill: one more crosses the threshold,
    // because its window was saved with the lines.
    env.append(&failures("203.0.113.41", 1, 20));
    wait_until(
        "the window to survive the restart",
        Duration::from_secs(2),
        || denies(&env.hosts_deny(), "203.0.113.41"),
    );
    drop(d2);
}

#[test]
fn a_second_instance_on_the_same_state_directory_or_socket_is_refused() {
    let env = Env::new("1h");
    let d = env.start();
    let second = |state: &str, socket: &Path, cmd: &[&str]| {
        Command::new(BIN)
            .arg("--config")
            .arg(env.path("authban.toml"))
            .arg("--state-dir")
            .arg(env.path(state))
            .arg("--hosts-deny")
            .arg(env.path("hosts.deny"))
            .args(cmd)
            .arg("--socket")
            .arg(socket)
            .output()
            .unwrap()
    };
    // The same state directory: refused before it touches the store or a backend, naming
    // the daemon that holds it.
    let out = second("state", &env.path("other.sock"), &["run"]);
    assert_eq!(out.status.code(), Some(75));
    let err = String::from_utf8_lossy(&out.stderr);
    let holder = format!("authban run pid {} already works on", d.child.id());
    assert!(err.contains(&holder), "{err}");
    assert!(!env.path("other.sock").exists());
    // The cron job is refused too, and says to use the daemon.
    let scan = env.cli().arg("scan").output().unwrap();
    assert_eq!(scan.status.code(), Some(75));
    let err = String::from_utf8_lossy(&scan.stderr);
    assert!(
        err.contains(&holder) && err.contains("use it (authban status"),
        "{err}"
    );
    // Another state directory but the same socket: refused by the socket.
    let out = second("state2", &env.socket(), &["run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&env.socket().display().to_string()), "{err}");
    // The daemon is unharmed.
    assert!(env.ask(Request::Status).ok);
}

#[test]
fn the_command_backend_runs_the_users_program_on_ban_and_unban() {
    let env = Env::new("1h");
    // The user's program: records its arguments, one call per line.
    let script = env.path("on-ban");
    let record = env.path("calls");
    script::executable(
        &script,
        &format!("#!/bin/sh\necho \"$@\" >> '{}'\n", record.display()),
    );
    let cfg = fs::read_to_string(env.path("authban.toml"))
        .unwrap()
        .replace(
            "backends = [\"hosts-deny\"]",
            "backends = [\"command\", \"hosts-deny\"]",
        );
    let cfg = format!(
        "{cfg}[command]\nban = [\"{s}\", \"ban\", \"{{addr}}\", \"{{family}}\", \"{{seconds}}\"]\nunban = [\"{s}\", \"unban\", \"{{addr}}\"]\n",
        s = script.display()
    );
    fs::write(env.path("authban.toml"), cfg).unwrap();
    let _d = env.start();
    env.append(&failures("2001:db8::77", 3, 0));
    let calls = || fs::read_to_string(&record).unwrap_or_default();
    wait_until("the ban command", Duration::from_secs(2), || {
        calls().contains("ban 2001:db8::77")
    });
    let call = calls();
    let seconds: u64 = call
        .trim()
        .strip_prefix("ban 2001:db8::77 inet6 ")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected call: {call}"));
    assert!((3590..=3600).contains(&seconds), "{call}");
    // Both backends at once: hosts.deny gets it too (the backends are told in turn).
    wait_until("the hosts.deny entry", Duration::from_secs(2), || {
        env.hosts_deny().contains("ALL: [2001:db8::77]")
    });
    let r = env.ask(Request::Unban {
        addr: "2001:db8::77".into(),
        fleet: false,
    });
    assert!(r.ok, "{r:?}");
    wait_until("the unban command", Duration::from_secs(2), || {
        calls().contains("unban 2001:db8::77")
    });
}

/// A tmpfs mounted at a path for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn bans_decided_while_the_disk_is_full_are_saved_when_it_is_not() {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "this test mounts a tmpfs and needs root under CI"
        );
        eprintln!("skipping bans_decided_while_the_disk_is_full…: needs root to mount a tmpfs");
        return;
    }
    let env = Env::new("1h");
    let state = env.path("state");
    fs::create_dir_all(&state).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "cannot mount a tmpfs at {}",
        state.display()
    );
    let _tmpfs = Tmpfs(state.clone());
    let d = env.start();
    // Fill the state directory's file system to the last byte.
    let filler = state.join("filler");
    {
        let mut f = fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let byte = [0u8; 1];
        while f.write_all(&byte).is_ok() {}
        let _ = f.sync_all();
    }
    env.append(&failures("203.0.113.66", 3, 0));
    // Enforced at once though it cannot be saved, and the status says so.
    wait_until("the ban in hosts.deny", Duration::from_secs(5), || {
        denies(&env.hosts_deny(), "203.0.113.66")
    });
    let status = || env.ask(Request::Status).status.expect("a status");
    wait_until(
        "status to show the store failing",
        Duration::from_secs(5),
        || status().store_error.is_some(),
    );
    let s = status();
    assert!(
        s.store_error.as_deref().unwrap_or("").contains("full"),
        "{:?}",
        s.store_error
    );
    assert_eq!(s.unsaved_bans, 1);
    // Space returns: the waiting ban is saved on the next retry.
    fs::remove_file(&filler).unwrap();
    wait_until("the store to work again", Duration::from_secs(10), || {
        status().store_error.is_none()
    });
    assert_eq!(status().unsaved_bans, 0);
    // A kill -9 now loses nothing: the ban is in the database.
    drop(d);
    let store = authban::store::Store::open(&state).unwrap();
    let bans = store.bans().unwrap();
    assert!(
        bans.iter().any(|b| b.target.to_string() == "203.0.113.66"),
        "{bans:?}"
    );
}

#[test]
fn a_hosts_deny_block_edited_away_is_put_back_on_reload() {
    // Issue 8, item 5, for hosts.deny: an admin's editor dropped our block.
    let env = Env::new("1h");
    let _d = env.start();
    env.append(&failures("203.0.113.60", 3, 0));
    wait_until("the ban", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.60")
    });
    fs::write(env.path("hosts.deny"), "sshd: 198.51.100.1\n").unwrap();
    let r = env.ask(Request::Reload);
    assert!(r.ok, "{r:?}");
    wait_until("the block to come back", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.60")
    });
    // The admin's line stays.
    assert!(
        env.hosts_deny().contains("sshd: 198.51.100.1"),
        "{}",
        env.hosts_deny()
    );
}

#[test]
fn an_entry_a_backend_refuses_holds_up_no_other_ban_and_is_retried() {
    // Issue 8, item 3: one refused entry made the whole backend FAILING, and every later
    // ban waited for the retry back-off.
    let env = Env::new("1h");
    let script = env.path("on-ban");
    let record = env.path("calls");
    let refuse = env.path("refuse-66");
    fs::write(&refuse, "").unwrap();
    script::executable(
        &script,
        &format!(
            "#!/bin/sh\nif [ \"$2\" = 203.0.113.66 ] && [ -e '{}' ]; then echo 'refused upstream' >&2; exit 3; fi\necho \"$@\" >> '{}'\n",
            refuse.display(),
            record.display()
        ),
    );
    let cfg = fs::read_to_string(env.path("authban.toml"))
        .unwrap()
        .replace("backends = [\"hosts-deny\"]", "backends = [\"command\"]");
    let cfg = format!(
        "{cfg}[command]\nban = [\"{s}\", \"ban\", \"{{addr}}\"]\nunban = [\"{s}\", \"unban\", \"{{addr}}\"]\n",
        s = script.display()
    );
    fs::write(env.path("authban.toml"), cfg).unwrap();
    let _d = env.start();
    let calls = || fs::read_to_string(&record).unwrap_or_default();
    let ban = |addr: &str| {
        let r = env.ask(Request::Ban {
            addr: addr.into(),
            duration: None,
        });
        assert!(r.ok, "{r:?}");
    };
    ban("203.0.113.66");
    ban("203.0.113.67");
    // The next ban runs at once, though the first one was refused.
    wait_until(
        "the second ban's command",
        Duration::from_millis(500),
        || calls().contains("ban 203.0.113.67"),
    );
    let st = env.ask(Request::Status).status.unwrap();
    let b = st.backends.iter().find(|b| b.name == "command").unwrap();
    assert!(b.ok, "{b:?}");
    assert_eq!(b.refused.len(), 1, "{b:?}");
    assert!(
        b.refused[0].starts_with("203.0.113.66:") && b.refused[0].contains("refused upstream"),
        "{b:?}"
    );
    // Accepted once the cause is gone, on the entry's own retry.
    fs::remove_file(&refuse).unwrap();
    wait_until("the refused ban's retry", Duration::from_secs(8), || {
        calls().contains("ban 203.0.113.66")
    });
    wait_until("the status to clear", Duration::from_secs(2), || {
        env.ask(Request::Status)
            .status
            .unwrap()
            .backends
            .iter()
            .all(|b| b.refused.is_empty())
    });
    // The accepted ban's command ran once; the second one's too.
    assert_eq!(
        calls().matches("ban 203.0.113.67").count(),
        1,
        "{}",
        calls()
    );
}

/// Issue 8, item 7: after a crash, a restarted daemon finds a backlog of 400,000 lines
/// (40 MB). The readers wait when the engine is behind, so the backlog waits in the log
/// file: the peak resident set (VmHWM, which no sampling can miss) stays small. Before
/// the bounded queues, a 324,000-line backlog took the daemon to 235 MB.
#[test]
fn a_backlog_after_a_crash_is_read_in_bounded_memory() {
    let test = "a_backlog_after_a_crash_is_read_in_bounded_memory";
    if emulation::skipped_under_emulation(test, emulation::RESIDENT_MEMORY) {
        return;
    }
    const LINES: usize = 400_000;
    let env = Env::new("1h");
    let mut d = env.start();
    // Positions are saved: the restart reads what comes after this moment.
    env.append(&failures("203.0.113.70", 1, 0));
    wait_until("the first line", Duration::from_secs(5), || {
        env.ask(Request::Status)
            .status
            .is_some_and(|s| s.lines == 1)
    });
    signal(&d, nix::sys::signal::Signal::SIGKILL);
    let _ = d.child.wait();
    let _ = fs::remove_file(env.socket());
    // Lines that are no sshd event: what costs memory here is the lines in flight, not
    // what the detector keeps.
    let now = jiff::Timestamp::now();
    let mut text = String::with_capacity(LINES * 110);
    for i in 0..LINES {
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "{now} gw CRON[{}]: pam_unix(cron:session): session opened for user root(uid=0) \
             by root(uid=0), job {i}",
            10_000 + i % 50_000,
        );
    }
    fs::OpenOptions::new()
        .append(true)
        .open(env.path("auth.log"))
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    drop(text);
    let d2 = env.start();
    wait_until("the backlog", Duration::from_secs(60), || {
        env.ask(Request::Status)
            .status
            .is_some_and(|s| s.lines == LINES as u64)
    });
    let status = fs::read_to_string(format!("/proc/{}/status", d2.child.id())).unwrap();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/PID/status");
    eprintln!("backlog of {LINES} lines read; peak resident set {hwm_kib} KiB");
    assert!(hwm_kib < 40 * 1024, "peak resident set {hwm_kib} KiB");
    drop(d2);
    drop(d);
}

/// Issue 9, item 2: a ban by hand can be permanent, from the command line as documented.
#[test]
fn a_ban_by_hand_can_be_permanent() {
    let env = Env::new("1h");
    let d = env.start();
    let ctl = |args: &[&str]| {
        env.cli()
            .args(args)
            .arg("--socket")
            .arg(env.socket())
            .output()
            .unwrap()
    };
    for (addr, how) in [
        ("198.51.100.40", &["--permanent"][..]),
        ("198.51.100.41", &["--for", "0"]),
    ] {
        let out = ctl(&[&["ban", addr][..], how].concat());
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{addr} {how:?}: {said}");
        assert!(denies(&env.hosts_deny(), addr), "{}", env.hosts_deny());
    }
    let list = env.ask(Request::List).bans.expect("a list");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|b| b.expires_at.is_none()), "{list:?}");
    let out = ctl(&["ban", "198.51.100.42", "--permanent", "--for", "1h"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses both");
    drop(d);
}

/// Issue 9, items 1 and 2: the daemon bans networks by hand, `unban` takes what `list`
/// shows, and after `reload` an allowlist that now covers a ban lifts it.
#[test]
fn the_daemon_bans_networks_by_hand_and_a_reloaded_allowlist_lifts_bans() {
    let env = Env::new("1h");
    let d = env.start();
    let ctl = |args: &[&str]| {
        env.cli()
            .args(args)
            .arg("--socket")
            .arg(env.socket())
            .output()
            .unwrap()
    };
    let said = |out: &std::process::Output| {
        format!(
            "{:?} {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    for net in ["198.51.100.0/24", "2001:db8:7::/48"] {
        let out = ctl(&["ban", net]);
        assert!(out.status.success(), "{}", said(&out));
    }
    let deny = env.hosts_deny();
    assert!(deny.contains("ALL: 198.51.100.0/255.255.255.0"), "{deny}");
    assert!(deny.contains("ALL: [2001:db8:7::]/48"), "{deny}");
    let listed: Vec<String> = env
        .ask(Request::List)
        .bans
        .unwrap()
        .iter()
        .map(|b| b.addr.clone())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let out = ctl(&["unban", "198.51.100.9"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("as part of 198.51.100.0/24"),
        "{}",
        said(&out)
    );
    let out = ctl(&["unban", "2001:db8:7::/48"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        !env.hosts_deny().contains("2001:db8:7::"),
        "{}",
        env.hosts_deny()
    );

    // An attacker is banned, then allowlisted: reload lifts its ban and the network's.
    env.append(&failures("203.0.113.90", 3, 0));
    wait_until("the attacker is banned", Duration::from_secs(5), || {
        denies(&env.hosts_deny(), "203.0.113.90")
    });
    let config = fs::read_to_string(env.path("authban.toml")).unwrap();
    let config = config.replace(
        "[policy]\n",
        "[policy]\nallowlist = [\"203.0.113.90\", \"198.51.100.200\"]\n",
    );
    fs::write(env.path("authban.toml"), config).unwrap();
    let out = ctl(&["reload"]);
    assert!(out.status.success(), "{}", said(&out));
    let deny = env.hosts_deny();
    assert!(!denies(&deny, "203.0.113.90"), "{deny}");
    assert!(!deny.contains("198.51.100.0"), "{deny}");
    assert!(env.ask(Request::List).bans.unwrap().is_empty());
    // Saved: a restart does not bring them back.
    drop(d);
    let _d = env.start();
    assert!(env.ask(Request::List).bans.unwrap().is_empty());
}

/// Issue 9, item 7: the daemon says when the log it follows is empty (sshd may log
/// elsewhere), and a reload does not set the sources' line counts back to zero.
#[test]
fn an_empty_log_is_said_and_a_reload_keeps_the_line_counts() {
    let env = Env::new("1h");
    let _d = env.start_logging();
    let said = env.daemon_log();
    assert!(
        said.contains(&format!(
            "warning: {} is empty",
            env.path("auth.log").display()
        )),
        "{said}"
    );
    env.append(&failures("203.0.113.61", 2, 0));
    let lines = || {
        let status = env.ask(Request::Status).status.expect("a status");
        (status.lines, status.sources[0].lines)
    };
    wait_until("the lines to be read", Duration::from_secs(2), || {
        lines() == (2, 2)
    });
    let r = env.ask(Request::Reload);
    assert!(r.ok, "{r:?}");
    assert_eq!(lines(), (2, 2), "the counts after the reload");
    env.append(&failures("203.0.113.62", 1, 10));
    wait_until("the next line", Duration::from_secs(2), || {
        lines() == (3, 3)
    });
    // `status --json` writes its times as `list --json` does: RFC 3339, UTC.
    let out = Command::new(BIN)
        .args(["status", "--json", "--socket"])
        .arg(env.socket())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let started = status["started_at"].as_str().unwrap_or_default();
    assert!(started.parse::<jiff::Timestamp>().is_ok(), "{status}");
    assert_eq!(status["sources"][0]["lines"], 3, "{status}");
}

/// Issue 15, item 1: the daemon bans an address trying one password every 15 minutes
/// (log time) by the default day rule, and its count survives a `kill -9` between the
/// attempts because it is saved with the lines that filled it.
#[test]
fn the_day_rule_bans_a_slow_attacker_across_a_crash() {
    let env = Env::new("1h");
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(6);
    let attempt = |i: i64| {
        let at = start + jiff::SignedDuration::from_mins(15 * i);
        format!(
            "{at} gw sshd[{}]: Failed password for admin from 203.0.113.70 port {} ssh2",
            8000 + i,
            41000 + i
        )
    };
    let d = env.start();
    env.append(&(0..10).map(attempt).collect::<Vec<_>>());
    wait_until("the lines", Duration::from_secs(5), || {
        env.ask(Request::Status)
            .status
            .is_some_and(|s| s.lines == 10)
    });
    assert!(!denies(&env.hosts_deny(), "203.0.113.70"));
    let mut d = d;
    signal(&d, nix::sys::signal::Signal::SIGKILL);
    let _ = d.child.wait();
    let _ = fs::remove_file(env.socket());

    let d2 = env.start();
    // 10 attempts hold 8.6 points of 15: 8 more fill the count, none of them inside 10
    // minutes of another.
    env.append(&(10..17).map(attempt).collect::<Vec<_>>());
    wait_until("the lines", Duration::from_secs(5), || {
        env.ask(Request::Status)
            .status
            .is_some_and(|s| s.lines == 7)
    });
    assert!(!denies(&env.hosts_deny(), "203.0.113.70"), "one early");
    env.append(&[attempt(17)]);
    wait_until("the slow ban", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.70")
    });
    let list = env.ask(Request::List).bans.expect("a list");
    assert_eq!(list.len(), 1);
    assert!(
        list[0]
            .reason
            .contains("a slow attack (the count drains 15.0 per 86400s)"),
        "{:?}",
        list[0].reason
    );
    drop(d2);
}

/// Issue 10, item 4: when stderr is the journal (systemd names its stream in
/// `JOURNAL_STREAM` as device:inode), each line carries its sd-daemon priority, so
/// `journalctl -p warning` finds the problems; a variable that names another stream
/// (inherited by a child whose stderr was redirected) changes nothing.
#[test]
fn lines_carry_journal_priorities_only_when_stderr_is_the_journal_and_json_on_request() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new("1h");
    let log = fs::File::create(env.path("daemon.log")).unwrap();
    let meta = log.metadata().unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let d = env.start_env(Stdio::from(log), &[("JOURNAL_STREAM", &stream)], &[]);
    env.append(&failures("203.0.113.80", 3, 0));
    wait_until("the ban", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.80")
    });
    drop(d);
    let said = env.daemon_log();
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<4>authban: warning: ") && l.contains("is empty")),
        "the empty log is a warning: {said}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<6>authban: banned 203.0.113.80")),
        "a ban is news: {said}"
    );
    assert!(
        lines.iter().all(|l| l.starts_with('<')),
        "every line has its priority: {said}"
    );

    let _ = fs::remove_file(env.socket());
    let log = fs::File::create(env.path("daemon.log")).unwrap();
    let d = env.start_env(Stdio::from(log), &[("JOURNAL_STREAM", "1:2")], &[]);
    drop(d);
    let said = env.daemon_log();
    assert!(
        said.contains("authban: running: ") && said.lines().all(|l| l.starts_with("authban: ")),
        "another stream's variable: {said}"
    );

    // `--log-format json`: one object per line, for log shippers.
    let _ = fs::remove_file(env.socket());
    let log = fs::File::create(env.path("daemon.log")).unwrap();
    let d = env.start_env(Stdio::from(log), &[], &["--log-format", "json"]);
    env.append(&failures("203.0.113.81", 3, 10));
    wait_until("the ban", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.81")
    });
    drop(d);
    let said = env.daemon_log();
    let objects: Vec<serde_json::Value> = said
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let ban = objects
        .iter()
        .find(|o| {
            o["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("banned 203.0.113.81"))
        })
        .unwrap_or_else(|| panic!("no ban line: {said}"));
    assert_eq!(ban["level"], "info");
    assert_eq!(ban["priority"], 6);
    assert!(
        ban["time"]
            .as_str()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{ban}"
    );
}

/// `GET /metrics` on the daemon's metrics socket: the value of each sample line.
fn scrape(socket: &Path) -> std::collections::HashMap<String, f64> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: authban\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn metrics_count_what_the_daemon_did_and_a_taken_address_stops_no_ban() {
    let env = Env::new("2s");
    let metrics = env.path("metrics.sock");
    let mut cfg = fs::read_to_string(env.path("authban.toml")).unwrap();
    cfg.push_str(&format!("[metrics]\nlisten = \"{}\"\n", metrics.display()));
    fs::write(env.path("authban.toml"), &cfg).unwrap();
    let d = env.start_logging();
    let log = env.path("auth.log");
    let source = |name: &str| format!("{name}{{source=\"{}\"}}", log.display());

    env.append(&failures("203.0.113.40", 3, 0));
    env.append(&[format!(
        "{} gw sshd[9]: Invalid user admin from 198.51.100.9 port 4",
        jiff::Timestamp::now()
    )]);
    wait_until("the ban", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.40")
    });
    assert!(
        env.ask(Request::Ban {
            addr: "2001:db8::7".into(),
            duration: Some("0".into())
        })
        .ok
    );
    assert!(
        env.ask(Request::Unban {
            addr: "2001:db8::7".into(),
            fleet: false,
        })
        .ok
    );
    wait_until("the ban to expire", Duration::from_secs(5), || {
        !denies(&env.hosts_deny(), "203.0.113.40")
    });
    let st = env.ask(Request::Status).status.unwrap();
    assert_eq!(
        st.metrics.as_deref(),
        Some(&*format!("serving on {}", metrics.display()))
    );
    // Published on the engine's next tick.
    let mut m = scrape(&metrics);
    wait_until("the expiry in the metrics", Duration::from_secs(2), || {
        m = scrape(&metrics);
        m["authban_bans_lifted_total{reason=\"expired\"}"] == 1.0
            && m["authban_control_requests_total{command=\"status\"}"] == 1.0
    });
    for (name, want) in [
        (source("authban_lines_read_total").as_str(), 4.0),
        (&source("authban_source_up"), 1.0),
        ("authban_events_total{kind=\"auth-failure\"}", 3.0),
        ("authban_events_total{kind=\"invalid-user\"}", 1.0),
        ("authban_events_total{kind=\"success\"}", 0.0),
        ("authban_bans_imposed_total{reason=\"detected\"}", 1.0),
        ("authban_bans_imposed_total{reason=\"manual\"}", 1.0),
        ("authban_bans_imposed_total{reason=\"escalated\"}", 0.0),
        ("authban_bans_lifted_total{reason=\"manual\"}", 1.0),
        ("authban_bans_in_force{family=\"ipv4\"}", 0.0),
        ("authban_backend_up{backend=\"hosts.deny\"}", 1.0),
        (
            "authban_backend_failures_total{backend=\"hosts.deny\"}",
            0.0,
        ),
        ("authban_reaction_seconds_count", 1.0),
        ("authban_store_up", 1.0),
        ("authban_control_requests_total{command=\"ban\"}", 1.0),
        ("authban_control_requests_total{command=\"unban\"}", 1.0),
        ("authban_control_requests_total{command=\"status\"}", 1.0),
    ] {
        assert_eq!(m.get(name), Some(&want), "{name} in {m:#?}");
    }
    // A ban read from the log reaches hosts.deny in milliseconds, and the histogram says so.
    assert_eq!(
        m["authban_reaction_seconds_bucket{le=\"0.1\"}"], 1.0,
        "{m:#?}"
    );
    drop(d);

    // Another process holds the address: the daemon protects anyway and says so.
    let _holder = std::os::unix::net::UnixListener::bind(&metrics).unwrap_or_else(|_| {
        let _ = fs::remove_file(&metrics);
        std::os::unix::net::UnixListener::bind(&metrics).unwrap()
    });
    let _d = env.start_logging();
    let st = env.ask(Request::Status).status.unwrap();
    let state = st.metrics.unwrap();
    assert!(
        state.starts_with("error: cannot serve metrics on"),
        "{state}"
    );
    assert!(
        env.daemon_log()
            .contains("protection goes on without metrics"),
        "{}",
        env.daemon_log()
    );
    env.append(&failures("203.0.113.41", 3, 10));
    wait_until("a ban without metrics", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.41")
    });
}

/// `authban ARGS` with the test's configuration: (exit code, stdout, stderr).
fn authban(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = env.cli().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn history_and_explain_tell_expired_and_lifted_bans_with_and_without_the_daemon() {
    let env = Env::new("2s");
    let d = env.start();
    env.append(&failures("203.0.113.50", 3, 0));
    wait_until("the ban", Duration::from_secs(2), || {
        denies(&env.hosts_deny(), "203.0.113.50")
    });
    assert!(
        env.ask(Request::Ban {
            addr: "198.51.100.60".into(),
            duration: Some("1h".into())
        })
        .ok
    );
    assert!(
        env.ask(Request::Unban {
            addr: "198.51.100.60".into(),
            fleet: false,
        })
        .ok
    );
    wait_until("the expiry", Duration::from_secs(5), || {
        !denies(&env.hosts_deny(), "203.0.113.50")
    });
    // One failure below the threshold: in the window `explain` shows.
    env.append(&failures("203.0.113.50", 1, 10));
    env.append(&failures("203.0.113.51", 2, 20));
    wait_until("the lines", Duration::from_secs(2), || {
        env.ask(Request::Status)
            .status
            .is_some_and(|s| s.lines == 6)
    });

    let check = |daemon: &str| {
        let (code, out, err) = authban(&env, &["history"]);
        assert_eq!(code, 0, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{daemon}: {out}");
        let has = |action: &str, addr: &str| {
            lines
                .iter()
                .any(|l| l.contains(&format!("  {action}")) && l.contains(addr))
        };
        assert!(has("banned", "203.0.113.50"), "{out}");
        assert!(has("expired", "203.0.113.50"), "{out}");
        assert!(has("banned", "198.51.100.60"), "{out}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("lifted") && l.contains("unbanned by hand")),
            "{out}"
        );
        let (code, json, _) = authban(&env, &["history", "--since", "1h", "--json"]);
        assert_eq!(code, 0);
        let actions: Vec<String> = json
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
            .collect();
        assert_eq!(actions.len(), 4, "{json}");

        let (code, out, err) = authban(&env, &["explain", "203.0.113.50"]);
        assert_eq!(code, 0, "{err}");
        for want in [
            "Bans (1):",
            "expired  offence 1",
            "score 3.0 within 600s: 3 auth-failure = 3.0",
            "Now: score 1.0 of 3.0 within 10m, 1 event",
            "Exempt: no",
            "A failed password now: no ban: the score goes from 1.0 to 2.0 of 3.0",
        ] {
            assert!(out.contains(want), "{daemon}: {want:?} not in\n{out}");
        }
        // The three events behind the ban, with their points.
        assert_eq!(out.matches("auth-failure  +1.0").count(), 4, "{out}");
        let (_, out, _) = authban(&env, &["explain", "198.51.100.60", "--json"]);
        let x: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(
            x["bans"][0]["state"]
                .as_str()
                .unwrap()
                .starts_with("unbanned by hand at"),
            "{x}"
        );
        let (_, out, _) = authban(&env, &["explain", "203.0.113.51"]);
        assert!(
            out.contains("A failed password now: bans 203.0.113.51 for 2s (offence 1)"),
            "{out}"
        );
        let (code, out, _) = authban(&env, &["explain", "127.0.0.1"]);
        assert_eq!(code, 0);
        assert!(out.contains("Exempt: loopback"), "{out}");
    };
    check("with the daemon");
    drop(d);
    check("without a daemon");
}

/// `authban import` of a list longer than one request (2,500 entries: three parts under
/// the socket's size limit) while the daemon runs: every entry is denied at once, listed
/// with its list's name, counted as imported in the metrics, and an allowlisted entry is
/// refused by the daemon's decision core. `export --format json` reads them back.
#[test]
fn the_daemon_imports_a_long_blocklist_in_parts_and_refuses_allowlisted_entries() {
    let env = Env::new("1h");
    let metrics = env.path("metrics.sock");
    let mut cfg = fs::read_to_string(env.path("authban.toml")).unwrap();
    cfg = cfg.replace("[policy]\n", "[policy]\nallowlist = [\"198.18.0.200\"]\n");
    cfg.push_str(&format!("[metrics]\nlisten = \"{}\"\n", metrics.display()));
    fs::write(env.path("authban.toml"), &cfg).unwrap();
    let _d = env.start_logging();
    let mut list = String::from("; a long list\n");
    for i in 0..2_500u32 {
        list.push_str(&format!("198.18.{}.{} ; entry {i}\n", i / 250, i % 250 + 1));
    }
    let file = env.path("long.txt");
    fs::write(&file, &list).unwrap();
    let socket = env.socket();
    let (code, out, err) = authban(
        &env,
        &[
            "import",
            file.to_str().unwrap(),
            "--for",
            "2h",
            "--socket",
            socket.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "imported long.txt (2500 entries) for 2h: 2499 banned, 1 refused:\n  \
         refusing to ban 198.18.0.200: allowlisted by 198.18.0.200\n",
        "{err}"
    );
    let deny = env.hosts_deny();
    assert!(denies(&deny, "198.18.0.1") && denies(&deny, "198.18.9.250"));
    assert!(!denies(&deny, "198.18.0.200"));
    let (code, json, err) = authban(
        &env,
        &[
            "export",
            "--format",
            "json",
            "--socket",
            socket.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let bans: serde_json::Value = serde_json::from_str(&json).unwrap();
    let bans = bans.as_array().unwrap();
    assert_eq!(bans.len(), 2_499);
    assert!(bans.iter().all(|b| b["reason"] == "imported from long.txt"));
    let mut m = scrape(&metrics);
    wait_until("the import in the metrics", Duration::from_secs(2), || {
        m = scrape(&metrics);
        m["authban_bans_imposed_total{reason=\"imported\"}"] == 2_499.0
    });
    assert_eq!(m["authban_control_requests_total{command=\"import\"}"], 3.0);
    assert_eq!(m["authban_bans_in_force{family=\"ipv4\"}"], 2_499.0);
    // One line per part, and the refusal said.
    let log = env.daemon_log();
    for part in [
        "999 banned, 0 extended, 0 banned already for as long, 1 refused",
        "1000 banned",
        "500 banned",
    ] {
        assert!(log.contains(&format!("imported long.txt: {part}")), "{log}");
    }
    assert!(
        log.contains("import of long.txt: refusing to ban 198.18.0.200"),
        "{log}"
    );
}
