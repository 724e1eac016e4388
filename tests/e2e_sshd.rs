//! End to end with a real sshd over a real (virtual) network: an attacker guesses passwords,
//! `authban scan` reads sshd's log and writes hosts.deny, and sshd's libwrap then refuses the
//! attacker while an allowlisted friend who also failed a few logins still gets in.
//!
//! Needs root (network and mount namespaces) and Debian's libwrap-linked openssh-server,
//! sshpass and iproute2. Without them each test prints why it skipped — except under `CI`,
//! where that is a failure. See tests/support/netns.rs for the setup.

// Shared with tests/e2e_daemon.rs, which uses the helpers this file does not.
#[allow(dead_code)]
#[path = "support/netns.rs"]
mod netns;

use netns::{
    ATTACKER, FRIEND, Lab, Probe, SERVER_ATTACKER_SIDE, SERVER_FRIEND_SIDE, prerequisites_met,
    run_bounded,
};
use std::fs;
use std::process::Command;
use std::time::Duration;

fn assert_banner(probe: Probe, who: &str) {
    match probe {
        Probe::Banner(line) if line.starts_with("SSH-2.0-") => {}
        other => panic!("{who} should get sshd's banner, got {other:?}"),
    }
}

/// Whether a line of scan's report says `addr` was denied (and not "not denied").
fn reports_denied(stdout: &str, addr: &str) -> bool {
    stdout.lines().any(|line| {
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| matches!(c, ':' | ',' | ';' | '(' | ')')))
            .collect();
        words.contains(&addr) && words.contains(&"denied") && !words.contains(&"not")
    })
}

/// libwrap accepts, sleeps 5 s and closes without a byte; its log line proves it was libwrap
/// and not a crash or a full MaxStartups.
fn assert_refused_by_libwrap(lab: &Lab, probe: Probe, addr: &str) {
    assert_eq!(
        probe,
        Probe::ClosedWithoutBanner,
        "{addr} should be refused by sshd's hosts.deny check"
    );
    assert!(
        lab.wait_for_log(1, |line| line
            .contains(&format!("refused connect from {addr}"))),
        "sshd's log lacks libwrap's `refused connect from {addr}`:\n{}",
        lab.read_auth_log()
    );
}

/// Proves the environment itself: with hosts.deny written by hand (by rename, as authban
/// does), sshd refuses the attacker and still greets the friend. If this fails, a failure
/// of the authban test below says nothing about authban.
#[test]
fn e2e_hosts_deny_mechanics_without_authban() {
    if !prerequisites_met("e2e_hosts_deny_mechanics_without_authban") {
        return;
    }
    let lab = Lab::start("mech");
    assert_banner(
        lab.probe(&lab.attacker, SERVER_ATTACKER_SIDE),
        "attacker before the ban",
    );

    lab.write_hosts_deny_by_rename(&format!("ALL: {ATTACKER}\n"));

    assert_refused_by_libwrap(
        &lab,
        lab.probe(&lab.attacker, SERVER_ATTACKER_SIDE),
        ATTACKER,
    );
    assert_banner(lab.probe(&lab.friend, SERVER_FRIEND_SIDE), "friend");
}

/// Attack and friendly failures from two namespaces, then `authban scan` on sshd's log.
#[test]
fn e2e_scan_bans_attacker_via_hosts_deny_and_spares_allowlisted_friend() {
    if !prerequisites_met("e2e_scan_bans_attacker_via_hosts_deny_and_spares_allowlisted_friend") {
        return;
    }
    let lab = Lab::start("scan");
    // An entry of the administrator's own, which authban must leave alone.
    let admin_rule = "sshd: 192.0.2.99";
    lab.write_hosts_deny_by_rename(&format!(
        "# /etc/hosts.deny: list of hosts that are _not_ allowed to access the system.\n\
         {admin_rule}\n"
    ));
    assert_banner(
        lab.probe(&lab.attacker, SERVER_ATTACKER_SIDE),
        "attacker before the ban",
    );

    let attempts = ["root", "admin", "oracle", "root", "ubnt", "test"];
    for user in attempts {
        assert_eq!(
            lab.failed_login(&lab.attacker, SERVER_ATTACKER_SIDE, user),
            Some(5),
            "the attacker's login as {user} should be refused for its password (sshpass exit 5)"
        );
        // The friend mistypes just as often: only the allowlist keeps it from being banned.
        assert_eq!(
            lab.failed_login(&lab.friend, SERVER_FRIEND_SIDE, user),
            Some(5),
            "the friend's login as {user} should be refused for its password (sshpass exit 5)"
        );
    }
    for addr in [ATTACKER, FRIEND] {
        let from = format!(" from {addr} port ");
        assert!(
            lab.wait_for_log(attempts.len(), |line| {
                line.contains("Failed password for ") && line.contains(&from)
            }),
            "sshd did not log {} failed passwords from {addr}:\n{}",
            attempts.len(),
            lab.read_auth_log()
        );
    }
    let failed = format!("Failed password for invalid user admin from {ATTACKER} port");
    assert!(
        lab.read_auth_log().contains(&failed),
        "the auth log should hold real sshd lines like `{failed}`:\n{}",
        lab.read_auth_log()
    );

    let config = lab.path("authban.toml");
    fs::write(
        &config,
        format!("[policy]\nthreshold = 3.0\nallowlist = [\"{FRIEND}\"]\n"),
    )
    .unwrap();
    fs::create_dir(lab.path("state")).unwrap();
    let scan = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authban"));
        cmd.arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(lab.path("state"))
            .arg("--hosts-deny")
            .arg(lab.hosts_deny())
            .arg("scan")
            .arg(lab.auth_log());
        let done = run_bounded(&mut cmd, Duration::from_secs(60));
        assert!(done.status.success(), "authban scan failed: {done:?}");
        done
    };

    let first = scan();
    assert!(
        reports_denied(&first.stdout, ATTACKER),
        "scan should report the attacker {ATTACKER} as denied: {first:?}\nauth log:\n{}",
        lab.read_auth_log()
    );
    assert!(
        !reports_denied(&first.stdout, FRIEND),
        "scan must not report the allowlisted friend {FRIEND} as denied: {first:?}"
    );
    let deny = fs::read_to_string(lab.hosts_deny()).unwrap();
    let rules: Vec<&str> = deny
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|rule| !rule.is_empty())
        .collect();
    assert!(
        rules.contains(&format!("ALL: {ATTACKER}").as_str()),
        "hosts.deny should deny the attacker with `ALL: {ATTACKER}`:\n{deny}"
    );
    assert!(
        !rules.iter().any(|rule| rule
            .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
            .any(|word| word == FRIEND)),
        "the allowlisted friend {FRIEND} must not be denied:\n{deny}"
    );
    assert!(
        rules.contains(&admin_rule),
        "the administrator's own `{admin_rule}` must survive:\n{deny}"
    );

    let second = scan();
    assert_eq!(
        fs::read_to_string(lab.hosts_deny()).unwrap(),
        deny,
        "a second scan of the same log must not change hosts.deny: {second:?}"
    );

    assert_refused_by_libwrap(
        &lab,
        lab.probe(&lab.attacker, SERVER_ATTACKER_SIDE),
        ATTACKER,
    );
    assert_banner(
        lab.probe(&lab.friend, SERVER_FRIEND_SIDE),
        "the allowlisted friend after the ban",
    );
}
