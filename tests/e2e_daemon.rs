//! End to end with the daemon: `authban run` inside the server's network namespace of a
//! real sshd (tests/support/netns.rs), enforcing with real nftables, real ipset + iptables
//! and hosts.deny read by sshd's libwrap. An attacker's failed logins over a veth get it
//! banned within a second, a friend is unaffected, and short bans expire; a restart after
//! `kill -9` in the middle of a flood enforces every ban decided before the kill and counts
//! no line twice; rotation during an attack, and a burst of 100 rotations, lose and double
//! nothing; a firewall program that is missing or failing shows in `status`, is retried
//! and reconciled when it works.
//!
//! Needs root, iproute2, a libwrap-linked sshd, sshpass, and per test nft or ipset +
//! iptables + ip6tables. Without them each test prints why it skipped, except under `CI`,
//! where that is a failure. The rotation tests need none of it and always run.

#[path = "support/emulation.rs"]
mod emulation;
#[path = "support/script.rs"]
mod script;
// Shared with tests/e2e_sshd.rs, which uses the helpers this file does not.
#[allow(dead_code)]
#[path = "support/netns.rs"]
mod netns;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use authban::control::{self, BanInfo, Request, Response, Status};
use netns::{
    ATTACKER, FRIEND, Lab, Netns, Probe, SERVER_ATTACKER_SIDE, SERVER_FRIEND_SIDE, SSH_PORT, link,
    prerequisites_met, run_bounded,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_authban");

/// An existing account without a usable password: each failed login counts 1.0 (an
/// unknown user or root would count 1.5 and cross the threshold of 3 one attempt early).
const USER: &str = "nobody";

// ---------------------------------------------------------------------------------------
// Prerequisites

/// The Lab's own prerequisites, then the firewall tools this test drives.
fn can_run(test: &str, tools: &[&str]) -> bool {
    if !prerequisites_met(test) {
        return false;
    }
    let Some(missing) = tools.iter().find(|t| find_program(t).is_none()) else {
        return true;
    };
    let why = format!("`{missing}` is not installed");
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: cannot run in CI: {why}");
    }
    // Straight to the handle: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
    false
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

// ---------------------------------------------------------------------------------------
// The daemon

/// The configuration every test starts from: threshold 3, one log, no journal.
fn config(log: &Path, ban_time: &str, backends: &str, extra: &str) -> String {
    format!(
        "[paths]\nlogs = [\"{log}\"]\n\
         [policy]\nthreshold = 3.0\n\
         [ban]\ntime = \"{ban_time}\"\nbackends = [{backends}]\nports = [{SSH_PORT}]\n\
         [daemon]\njournal = \"never\"\n\
         {extra}",
        log = log.display(),
    )
}

/// Where one daemon keeps its files, so it can be started again on the same state.
struct Setup {
    dir: PathBuf,
    netns: Option<String>,
    hosts_deny: PathBuf,
}

impl Setup {
    fn new(dir: &Path, netns: Option<&Netns>, config_text: &str, hosts_deny: &Path) -> Setup {
        fs::write(dir.join("authban.toml"), config_text).expect("write authban.toml");
        Setup {
            dir: dir.to_path_buf(),
            netns: netns.map(|n| n.name.clone()),
            hosts_deny: hosts_deny.to_path_buf(),
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("authban.sock")
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.join("authban.stderr")
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// Starts `authban run` (inside the namespace, if any) and waits for READY=1.
    fn start(&self) -> Daemon {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        // A path socket: it is reached through the file system, from any network namespace.
        let notify_path = self.dir.join(format!("notify-{nanos}"));
        let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut cmd = match &self.netns {
            // `ip netns exec` execs the program: the child is the daemon itself.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.as_str(), BIN]);
                c
            }
            None => Command::new(BIN),
        };
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .expect("open the daemon's stderr file");
        cmd.arg("--config")
            .arg(self.dir.join("authban.toml"))
            .arg("--state-dir")
            .arg(self.state())
            .arg("--hosts-deny")
            .arg(&self.hosts_deny)
            .arg("run")
            .arg("--socket")
            .arg(self.socket())
            .env("NOTIFY_SOCKET", &notify_path)
            .env("TZ", "UTC")
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd.spawn().expect("start authban run");
        let mut daemon = Daemon {
            child,
            socket: self.socket(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 256];
        loop {
            if let Ok(n) = notify.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n]).contains("READY=1")
            {
                break;
            }
            if let Some(status) = daemon.child.try_wait().expect("wait for the daemon") {
                panic!("authban run exited at start ({status}):\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "no READY=1 from authban run within 10 s:\n{}",
                self.stderr()
            );
        }
        let _ = fs::remove_file(&notify_path);
        daemon
    }
}

/// A running `authban run`, killed on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn ask(&self, req: &Request) -> Response {
        control::request(&self.socket, req, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("the daemon does not answer {req:?}: {e}"))
    }

    fn status(&self) -> Status {
        self.ask(&Request::Status).status.expect("a status")
    }

    fn bans(&self) -> Vec<BanInfo> {
        self.ask(&Request::List).bans.expect("a ban list").to_vec()
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ---------------------------------------------------------------------------------------
// Observing the server namespace and the network

/// Polls `cond` every 5 ms; the time it took, or `None` after `limit`.
fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Output of a command inside `ns` that must succeed.
fn ns_must(ns: &Netns, program: &str, args: &[&str]) -> String {
    let mut cmd = ns.command(program);
    cmd.args(args).env("LC_ALL", "C");
    let done = run_bounded(&mut cmd, Duration::from_secs(20));
    assert!(
        done.status.success(),
        "{program} {args:?} in {} failed: {}",
        ns.name,
        done.stderr.trim()
    );
    done.stdout
}

/// The addresses in `inet authban ban4` of `ns` (empty when the table does not exist).
fn nft_ban4(ns: &Netns) -> Vec<String> {
    let mut cmd = ns.command("nft");
    cmd.args(["-j", "list", "set", "inet", "authban", "ban4"]);
    let done = run_bounded(&mut cmd, Duration::from_secs(20));
    if !done.status.success() {
        return Vec::new();
    }
    let json: Value = serde_json::from_str(&done.stdout).expect("nft -j prints JSON");
    let mut out = Vec::new();
    for item in json["nftables"].as_array().expect("nftables array") {
        let Some(elems) = item["set"]["elem"].as_array() else {
            continue;
        };
        for e in elems {
            let val = e.get("elem").map_or(e, |inner| &inner["val"]);
            out.push(match val {
                Value::String(s) => s.clone(),
                v => format!(
                    "{}/{}",
                    v["prefix"]["addr"].as_str().unwrap_or("?"),
                    v["prefix"]["len"]
                ),
            });
        }
    }
    out.sort();
    out
}

fn ipset_has(ns: &Netns, set: &str, addr: &str) -> bool {
    let mut cmd = ns.command("ipset");
    cmd.args(["test", set, addr]);
    run_bounded(&mut cmd, Duration::from_secs(20))
        .status
        .success()
}

/// What a bare TCP connect from `from` to sshd does within `limit`.
#[derive(Debug, PartialEq, Eq)]
enum Connect {
    Open,
    TimedOut,
    Failed,
}

fn connect(from: &Netns, server: &str, limit: Duration) -> Connect {
    const SCRIPT: &str = r#"exec 3<>"/dev/tcp/$1/$2""#;
    let mut cmd = from.command("timeout");
    cmd.arg(format!("{:.3}", limit.as_secs_f64()))
        .args(["bash", "-c", SCRIPT, "connect", server])
        .arg(SSH_PORT.to_string());
    match run_bounded(&mut cmd, limit + Duration::from_secs(10))
        .status
        .code()
    {
        Some(0) => Connect::Open,
        Some(124) => Connect::TimedOut,
        _ => Connect::Failed,
    }
}

fn assert_banner(probe: Probe, who: &str) {
    match probe {
        Probe::Banner(line) if line.starts_with("SSH-2.0-") => {}
        other => panic!("{who} should get sshd's banner, got {other:?}"),
    }
}

/// The time stamp our syslog gave the `n`-th (1-based) failed password of `USER` from
/// the attacker: when sshd logged it.
fn logged_failure_at(lab: &Lab, n: usize) -> SystemTime {
    let needle = format!("Failed password for {USER} from {ATTACKER} port ");
    let log = lab.read_auth_log();
    let line = log
        .lines()
        .filter(|l| l.contains(&needle))
        .nth(n - 1)
        .unwrap_or_else(|| panic!("no failure #{n} from {ATTACKER} in the auth log:\n{log}"));
    let stamp: jiff::Timestamp = line
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no RFC 3339 time stamp on `{line}`"));
    SystemTime::from(stamp)
}

fn failures_logged(lab: &Lab) -> usize {
    let needle = format!("Failed password for {USER} from {ATTACKER} port ");
    lab.read_auth_log()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

/// One failed login from the attacker that sshd refused for its password, and waits until
/// sshd's log has it (and the daemon has read it).
fn fail_once(lab: &Lab, daemon: &Daemon, n: usize) {
    assert_eq!(
        lab.failed_login(&lab.attacker, SERVER_ATTACKER_SIDE, USER),
        Some(5),
        "failed login #{n} should be refused for its password (sshpass exit 5)"
    );
    assert!(
        poll(Duration::from_secs(10), || failures_logged(lab) >= n).is_some(),
        "sshd did not log failure #{n}:\n{}",
        lab.read_auth_log()
    );
    assert!(
        poll(Duration::from_secs(5), || daemon
            .status()
            .events
            .auth_failure
            >= n as u64)
        .is_some(),
        "the daemon did not count failure #{n}: {:?}",
        daemon.status()
    );
}

/// What one attack measured.
struct Attack {
    /// From sshd logging the failure that crossed the threshold to the start of the first
    /// new TCP connection from the attacker that timed out.
    blocked_after: Duration,
}

/// Two failures (below the threshold: still connects), then the third, after which new
/// connections from the attacker must time out within 1 s of sshd logging that failure,
/// while the friend is greeted. `enforced` tells whether the firewall holds the attacker.
fn attack_until_dropped(lab: &Lab, daemon: &Daemon, enforced: impl Fn() -> bool) -> Attack {
    for n in 1..=2 {
        fail_once(lab, daemon, n);
    }
    assert!(
        !enforced(),
        "banned below the threshold: {:?}",
        daemon.bans()
    );
    assert_eq!(
        connect(&lab.attacker, SERVER_ATTACKER_SIDE, Duration::from_secs(1)),
        Connect::Open,
        "the attacker still connects below the threshold"
    );

    assert_eq!(
        lab.failed_login(&lab.attacker, SERVER_ATTACKER_SIDE, USER),
        Some(5),
        "the crossing login should be refused for its password (sshpass exit 5)"
    );
    // New connections, each given 300 ms: the first that times out is the ban working.
    let deadline = Instant::now() + Duration::from_secs(3);
    let blocked_at = loop {
        let started = SystemTime::now();
        match connect(
            &lab.attacker,
            SERVER_ATTACKER_SIDE,
            Duration::from_millis(300),
        ) {
            Connect::TimedOut => break started,
            other => assert!(
                Instant::now() < deadline,
                "the attacker's connections still {other:?} 3 s after the crossing failure; \
                 bans: {:?}\n{}",
                daemon.bans(),
                lab.read_auth_log()
            ),
        }
    };
    let crossed = logged_failure_at(lab, 3);
    let blocked_after = blocked_at.duration_since(crossed).unwrap_or_default();
    assert!(
        blocked_after < Duration::from_secs(1),
        "the first dropped connection started {blocked_after:?} after sshd logged the \
         crossing failure"
    );
    assert!(enforced(), "the firewall does not hold {ATTACKER}");
    let bans = daemon.bans();
    assert_eq!(bans.len(), 1, "{bans:?}");
    assert_eq!(bans[0].addr, ATTACKER);
    assert_eq!(bans[0].offences, 1);
    // A full second: still nothing.
    assert_eq!(
        connect(&lab.attacker, SERVER_ATTACKER_SIDE, Duration::from_secs(1)),
        Connect::TimedOut,
        "a banned attacker's connection must time out"
    );
    assert_banner(
        lab.probe(&lab.friend, SERVER_FRIEND_SIDE),
        "the friend while the attacker is banned",
    );
    Attack { blocked_after }
}

/// After the ban time the kernel drops the element by itself: the attacker connects again.
fn wait_for_expiry(lab: &Lab, daemon: &Daemon, enforced: impl Fn() -> bool, ban: Duration) {
    let started = Instant::now();
    let open = poll(ban + Duration::from_secs(4), || {
        connect(
            &lab.attacker,
            SERVER_ATTACKER_SIDE,
            Duration::from_millis(300),
        ) == Connect::Open
    });
    assert!(
        open.is_some(),
        "the attacker still cannot connect {:?} after the ban; bans: {:?}",
        started.elapsed(),
        daemon.bans()
    );
    eprintln!("attacker connects again {:?} later", started.elapsed());
    assert!(!enforced(), "the expired ban is still in the firewall");
    assert_banner(
        lab.probe(&lab.attacker, SERVER_ATTACKER_SIDE),
        "the attacker after the ban expired",
    );
    assert!(
        poll(Duration::from_secs(2), || daemon.status().active_bans == 0).is_some(),
        "the daemon still counts the ban as active: {:?}",
        daemon.bans()
    );
}

/// The state every attack test starts from: sshd greets both clients.
fn greeted_before(lab: &Lab) {
    assert_banner(
        lab.probe(&lab.attacker, SERVER_ATTACKER_SIDE),
        "attacker before the attack",
    );
    assert_banner(
        lab.probe(&lab.friend, SERVER_FRIEND_SIDE),
        "friend before the attack",
    );
}

fn backend_ok(status: &Status, name: &str) -> bool {
    status.backends.iter().any(|b| b.name == name && b.ok)
}

// ---------------------------------------------------------------------------------------
// Bans over the network

#[test]
fn e2e_daemon_nftables_drops_attacker_within_a_second_and_expires() {
    let test = "e2e_daemon_nftables_drops_attacker_within_a_second_and_expires";
    if !can_run(test, &["nft"]) {
        return;
    }
    let lab = Lab::start("dnft");
    greeted_before(&lab);
    // Metrics on the server's address on the friend's link, scraped from the friend's side.
    let metrics = format!("[metrics]\nlisten = \"{SERVER_FRIEND_SIDE}:9877\"\n");
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&lab.auth_log(), "4s", "\"nftables\"", &metrics),
        &lab.hosts_deny(),
    );
    let daemon = setup.start();
    let st = daemon.status();
    assert!(backend_ok(&st, "nftables"), "{st:?}\n{}", setup.stderr());

    let in_set = || nft_ban4(&lab.server).contains(&ATTACKER.to_owned());
    let attack = attack_until_dropped(&lab, &daemon, in_set);
    eprintln!(
        "nftables: first dropped connection {:?} after sshd logged the crossing failure",
        attack.blocked_after
    );
    let during = scrape_until(&lab.friend, |m| {
        m["authban_bans_in_force{family=\"ipv4\"}"] == 1.0
    });
    assert_eq!(
        during["authban_backend_bans_in_force{backend=\"nftables\",family=\"ipv4\"}"],
        1.0
    );
    assert_eq!(
        during["authban_bans_imposed_total{reason=\"detected\"}"],
        1.0
    );
    // The histogram holds the one ban, under the second the attack test allows.
    assert_eq!(during["authban_reaction_seconds_count"], 1.0);
    assert_eq!(during["authban_reaction_seconds_bucket{le=\"1\"}"], 1.0);
    wait_for_expiry(&lab, &daemon, in_set, Duration::from_secs(4));
    assert_eq!(nft_ban4(&lab.server), Vec::<String>::new());

    // The daemon publishes each tick: a scrape agrees with `status` once both saw the last
    // line sshd wrote.
    let log = lab.auth_log();
    let lines = format!("authban_lines_read_total{{source=\"{}\"}}", log.display());
    let after = scrape_until(&lab.friend, |m| {
        let st = daemon.status();
        m["authban_bans_lifted_total{reason=\"expired\"}"] == 1.0
            && m[&lines] == st.lines as f64
            && m["authban_events_total{kind=\"auth-failure\"}"] == st.events.auth_failure as f64
    });
    // Each failure sshd logged is an event (its PAM line too, counted apart but scored once).
    assert!(
        after["authban_events_total{kind=\"auth-failure\"}"] >= failures_logged(&lab) as f64,
        "{after:#?}"
    );
    for (name, want) in [
        ("authban_bans_in_force{family=\"ipv4\"}", 0.0),
        ("authban_backend_up{backend=\"nftables\"}", 1.0),
        ("authban_backend_failures_total{backend=\"nftables\"}", 0.0),
        // Degraded where netlink cannot be had (emulation::NO_NETFILTER_NETLINK): the
        // metric says so, and `nft` bans all the same.
        (
            "authban_backend_degraded{backend=\"nftables\"}",
            f64::from(u8::from(emulation::emulator().is_some())),
        ),
        ("authban_bans_imposed_total{reason=\"detected\"}", 1.0),
    ] {
        assert_eq!(after.get(name), Some(&want), "{name}: {after:#?}");
    }
}

/// `GET /metrics` from `ns` over the veth link (python3's HTTP client), until `cond`
/// holds of the values (the daemon publishes twice a second); each sample's value.
fn scrape_until(ns: &Netns, cond: impl Fn(&HashMap<String, f64>) -> bool) -> HashMap<String, f64> {
    let url = format!("http://{SERVER_FRIEND_SIDE}:9877/metrics");
    let get = || {
        let mut cmd = ns.command("python3");
        cmd.args([
            "-c",
            "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], \
             timeout=5).read().decode())",
            &url,
        ]);
        let done = run_bounded(&mut cmd, Duration::from_secs(10));
        assert!(done.status.success(), "scraping {url}: {}", done.stderr);
        done.stdout
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (name, value) = l.rsplit_once(' ').expect("a sample line");
                (name.to_owned(), value.parse().expect("a number"))
            })
            .collect::<HashMap<String, f64>>()
    };
    let mut last = HashMap::new();
    let held = poll(Duration::from_secs(3), || {
        last = get();
        cond(&last)
    });
    assert!(held.is_some(), "the metrics never showed it: {last:#?}");
    last
}

#[test]
fn e2e_daemon_ipset_drops_attacker_within_a_second_and_expires() {
    let test = "e2e_daemon_ipset_drops_attacker_within_a_second_and_expires";
    if !can_run(test, &["ipset", "iptables", "ip6tables"]) {
        return;
    }
    let lab = Lab::start("dips");
    greeted_before(&lab);
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&lab.auth_log(), "4s", "\"ipset\"", ""),
        &lab.hosts_deny(),
    );
    let daemon = setup.start();
    let st = daemon.status();
    assert!(backend_ok(&st, "ipset"), "{st:?}\n{}", setup.stderr());
    // The rule that makes the set matter, checked with iptables itself.
    ns_must(
        &lab.server,
        "iptables",
        &[
            "-w",
            "-C",
            "INPUT",
            "-p",
            "tcp",
            "-m",
            "multiport",
            "--dports",
            "22",
            "-m",
            "set",
            "--match-set",
            "authban4",
            "src",
            "-j",
            "DROP",
        ],
    );

    let in_set = || ipset_has(&lab.server, "authban4", ATTACKER);
    let attack = attack_until_dropped(&lab, &daemon, in_set);
    eprintln!(
        "ipset: first dropped connection {:?} after sshd logged the crossing failure",
        attack.blocked_after
    );
    let listed = ns_must(&lab.server, "ipset", &["list", "authban4"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&format!("{ATTACKER} "))),
        "`ipset list authban4` lacks {ATTACKER}:\n{listed}"
    );
    wait_for_expiry(&lab, &daemon, in_set, Duration::from_secs(4));
}

#[test]
fn e2e_daemon_hosts_deny_refuses_attacker_then_lifts_the_ban() {
    let test = "e2e_daemon_hosts_deny_refuses_attacker_then_lifts_the_ban";
    if !can_run(test, &[]) {
        return;
    }
    let lab = Lab::start("dhd");
    greeted_before(&lab);
    let original = fs::read_to_string(lab.hosts_deny()).unwrap();
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&lab.auth_log(), "4s", "\"hosts-deny\"", ""),
        &lab.hosts_deny(),
    );
    let daemon = setup.start();
    let denied = || {
        fs::read_to_string(lab.hosts_deny())
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == format!("ALL: {ATTACKER}"))
    };
    for n in 1..=2 {
        fail_once(&lab, &daemon, n);
    }
    assert!(!denied(), "denied below the threshold");
    assert_eq!(
        lab.failed_login(&lab.attacker, SERVER_ATTACKER_SIDE, USER),
        Some(5),
        "the crossing login should be refused for its password (sshpass exit 5)"
    );
    assert!(
        poll(Duration::from_secs(2), denied).is_some(),
        "hosts.deny does not deny {ATTACKER}:\n{}",
        fs::read_to_string(lab.hosts_deny()).unwrap_or_default()
    );
    let took = SystemTime::now()
        .duration_since(logged_failure_at(&lab, 3))
        .unwrap_or_default();
    eprintln!("hosts.deny: {ATTACKER} denied at most {took:?} after the crossing failure");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(
        fs::read_to_string(lab.hosts_deny())
            .unwrap()
            .starts_with(&original),
        "the file's own lines must stay"
    );

    // libwrap: accepted, nothing said, closed (after its 5 s sleep).
    assert_eq!(
        lab.probe(&lab.attacker, SERVER_ATTACKER_SIDE),
        Probe::ClosedWithoutBanner,
        "the banned attacker should be refused by sshd's hosts.deny check"
    );
    assert!(
        lab.wait_for_log(1, |l| l
            .contains(&format!("refused connect from {ATTACKER}"))),
        "sshd's log lacks libwrap's refusal:\n{}",
        lab.read_auth_log()
    );
    assert_banner(
        lab.probe(&lab.friend, SERVER_FRIEND_SIDE),
        "the friend while the attacker is denied",
    );

    // The 4 s ban has run out by now (the refused probe alone takes 5 s).
    assert!(
        poll(Duration::from_secs(3), || !denied()).is_some(),
        "the expired ban is still in hosts.deny:\n{}",
        fs::read_to_string(lab.hosts_deny()).unwrap_or_default()
    );
    let after = fs::read_to_string(lab.hosts_deny()).unwrap();
    assert!(
        !after.contains(ATTACKER) && after.starts_with(&original),
        "after expiry hosts.deny keeps its own lines and nothing of {ATTACKER}:\n{after}"
    );
    assert_banner(
        lab.probe(&lab.attacker, SERVER_ATTACKER_SIDE),
        "the attacker after the ban expired",
    );
    assert_eq!(daemon.status().active_bans, 0);
}

// ---------------------------------------------------------------------------------------
// Restart, rotation, backend failure

/// A synthetic sshd failure line, as Debian's rsyslog writes it (the pid and port tell
/// connections apart).
fn failure_line(addr: &str, conn: u32) -> String {
    format!(
        "{} gw sshd[{}]: Failed password for alice from {addr} port {} ssh2\n",
        jiff::Timestamp::now(),
        10_000 + conn,
        20_000 + conn % 40_000
    )
}

fn append(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open the log for appending");
    f.write_all(text.as_bytes()).expect("append to the log");
}

/// `flood` addresses, each failing three times; their failures overlap (address i fails
/// in steps i, i+1 and i+2), so wherever the kill falls, some addresses have one or two
/// failures read and the rest still to come.
fn flood_lines(flood: u32) -> Vec<String> {
    let addr = |i: u32| format!("198.18.{}.{}", i / 250, i % 250 + 1);
    let mut lines = Vec::new();
    for step in 0..flood + 2 {
        for k in 0..3 {
            if let Some(i) = step.checked_sub(k).filter(|&i| i < flood) {
                lines.push(failure_line(&addr(i), i * 3 + k));
            }
        }
    }
    lines
}

/// The addresses with all three failures among `lines`, sorted: exactly those a daemon
/// that read these lines once each has banned.
fn complete_attacks(lines: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<&str, u32>::new();
    for l in lines {
        let addr = l
            .split(" from ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .expect("an address in the line");
        *seen.entry(addr).or_default() += 1;
    }
    let mut out: Vec<String> = seen
        .into_iter()
        .filter(|&(_, n)| n >= 3)
        .map(|(a, _)| a.to_owned())
        .collect();
    out.sort();
    out
}

/// What the store says after a kill: the bans decided and the lines consumed of `log`.
fn store_state(state: &Path, log: &Path) -> (Vec<authban::store::BanRecord>, u64) {
    let store = authban::store::Store::open(state).expect("open the store");
    let key = std::path::absolute(log).unwrap().display().to_string();
    let cursor = store
        .cursor(&key)
        .expect("read the cursor")
        .expect("a cursor for the flood log");
    (store.bans().expect("read the bans"), cursor.line)
}

/// Three `kill -9`s while a flood is written, each followed by a restart on the same state
/// with the firewall emptied behind the daemon's back.
#[test]
fn e2e_daemon_kill9_during_a_flood_then_restart_enforces_every_ban_once() {
    let test = "e2e_daemon_kill9_during_a_flood_then_restart_enforces_every_ban_once";
    if emulation::skipped_under_emulation(test, emulation::NATIVE_TIMING)
        || !can_run(test, &["nft"])
    {
        return;
    }
    const FLOOD: u32 = 2_000;
    let lab = Lab::start("dkill");
    let log = lab.path("flood.log");
    fs::write(&log, "").unwrap();
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&log, "1h", "\"nftables\"", ""),
        &lab.hosts_deny(),
    );
    let mut daemon = setup.start();

    let lines = flood_lines(FLOOD);
    let total = lines.len() as u64;
    assert_eq!(total, u64::from(FLOOD) * 3);
    // 20 chunks of 300 lines, 20 ms apart. The kills come 3, 5 and 8 ms after chunks 5, 10
    // and 15 were appended: while the daemon reads, saves or enforces them (measured on a
    // 2-core machine; anywhere else they still fall somewhere in the flood). The next chunk
    // is written while it is dead.
    let chunks: Vec<String> = lines.chunks(300).map(|c| c.concat()).collect();
    // Lines of the log consumed by the runs before the current one, as the store says.
    let mut read_before = 0u64;
    let mut between_save_and_enforce = 0;
    let mut written_ahead = false;
    for (i, chunk) in chunks.iter().enumerate() {
        if std::mem::take(&mut written_ahead) {
            continue;
        }
        append(&log, chunk);
        let kill = match i {
            4 => 1,
            9 => 2,
            14 => 3,
            _ => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        std::thread::sleep(Duration::from_millis([3, 5, 8][kill - 1]));
        daemon.kill9();
        append(&log, &chunks[i + 1]);
        written_ahead = true;
        let (decided, read) = store_state(&setup.state(), &log);
        let enforced = nft_ban4(&lab.server).len();
        let appended = 300 * (i as u64 + 1);
        let moment = if enforced < decided.len() {
            between_save_and_enforce += 1;
            "after saving, before nft held every ban"
        } else if read < appended {
            "before the last chunk was read"
        } else {
            "after the last chunk was handled"
        };
        eprintln!(
            "kill -9 #{kill} {moment}: {read} of {appended} lines consumed, {} bans decided, \
             {enforced} in the nft set",
            decided.len(),
        );
        assert!(read >= read_before, "{read} < {read_before}");
        if kill == 1 {
            assert!(
                !decided.is_empty() && decided.len() < FLOOD as usize,
                "the first kill should fall in the middle of the flood: {} bans",
                decided.len()
            );
        }
        // After kills 1 and 3 the firewall forgets everything (as after a reboot): only
        // the restart brings the bans back. After kill 2 it keeps what it had (a crash):
        // the restart completes it.
        if kill != 2 {
            ns_must(&lab.server, "nft", &["delete", "table", "inet", "authban"]);
        }
        let _ = fs::remove_file(setup.socket());
        daemon = setup.start();
        let restored = nft_ban4(&lab.server);
        let missing: Vec<String> = decided
            .iter()
            .map(|b| b.target.to_string())
            .filter(|a| restored.binary_search(a).is_err())
            .collect();
        assert!(
            missing.is_empty(),
            "{} bans decided before kill #{kill} are not enforced after the restart, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        // Once it has read what was written, the restarted daemon has banned exactly the
        // addresses with three failures written: a line read twice (or a window lost)
        // would ban one with only two, or miss one.
        let written = 300 * (i + 2);
        assert!(
            poll(Duration::from_secs(10), || read + daemon.status().lines
                >= written as u64)
            .is_some(),
            "the restarted daemon did not read up to line {written}: {:?}",
            daemon.status()
        );
        let mut banned: Vec<String> = daemon.bans().into_iter().map(|b| b.addr).collect();
        banned.sort();
        assert_eq!(
            banned,
            complete_attacks(&lines[..written]),
            "after kill #{kill}, the bans are not those of the lines written"
        );
        assert_eq!(read + daemon.status().lines, written as u64);
        read_before = read;
    }
    // Where the kills fall depends on the machine's speed; the checks hold for any moment.
    eprintln!("{between_save_and_enforce} of 3 kills fell between saving bans and enforcing them");

    // The last run reads exactly what the store says the earlier ones left.
    let rest = total - read_before;
    assert!(
        poll(Duration::from_secs(20), || daemon.status().lines >= rest).is_some(),
        "the restarted daemon did not read the rest of the flood: {:?}\n{}",
        daemon.status(),
        setup.stderr()
    );
    std::thread::sleep(Duration::from_millis(700));
    let st = daemon.status();
    assert_eq!(
        st.lines, rest,
        "lines read by the last run: {read_before} were consumed before, {total} written"
    );
    let (_, consumed) = store_state(&setup.state(), &log);
    assert_eq!(
        consumed, total,
        "the store's cursor is at the end of the flood"
    );
    let bans = daemon.bans();
    assert_eq!(bans.len(), FLOOD as usize, "every address banned");
    let twice: Vec<&BanInfo> = bans.iter().filter(|b| b.offences != 1).collect();
    assert!(
        twice.is_empty(),
        "offences other than 1 mean a line counted twice: {:?}",
        &twice[..twice.len().min(5)]
    );
    let in_set = nft_ban4(&lab.server);
    assert_eq!(in_set.len(), FLOOD as usize, "the nft set holds every ban");
    let mut listed: Vec<String> = bans.iter().map(|b| b.addr.clone()).collect();
    listed.sort();
    assert_eq!(in_set, listed);
    assert!(backend_ok(&daemon.status(), "nftables"));
}

/// Rotation while an address attacks, both styles. Runs unprivileged: hosts.deny in a
/// temporary directory, no namespace.
#[test]
fn e2e_daemon_rotation_during_an_attack_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    let rotated = dir.path().join("auth.log.1");
    let deny = dir.path().join("hosts.deny");
    fs::write(&log, "").unwrap();
    let setup = Setup::new(
        dir.path(),
        None,
        &config(&log, "1h", "\"hosts-deny\"", ""),
        &deny,
    );
    let daemon = setup.start();
    let denies = |addr: &str| {
        fs::read_to_string(&deny)
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == format!("ALL: {addr}"))
    };
    let lines_read = |n: u64| {
        assert!(
            poll(Duration::from_secs(5), || daemon.status().lines >= n).is_some(),
            "the daemon did not read {n} lines: {:?}\n{}",
            daemon.status(),
            setup.stderr()
        );
    };
    let (a, b) = ("203.0.113.61", "203.0.113.62");

    // rename + create: the writer keeps writing the old file until it reopens.
    let mut old = fs::OpenOptions::new().append(true).open(&log).unwrap();
    old.write_all(failure_line(a, 1).as_bytes()).unwrap();
    lines_read(1);
    fs::rename(&log, &rotated).unwrap();
    old.write_all(failure_line(a, 2).as_bytes()).unwrap();
    fs::write(&log, "").unwrap();
    drop(old);
    append(&log, &failure_line(a, 3));
    assert!(
        poll(Duration::from_secs(5), || denies(a)).is_some(),
        "{a} not banned across rename + create: {:?}\n{}",
        daemon.status(),
        setup.stderr()
    );
    lines_read(3);

    // copytruncate: a line written just before the copy may be read from the live file or,
    // after the truncation, from the copy; either way exactly once.
    append(&log, &failure_line(b, 4));
    lines_read(4);
    append(&log, &failure_line(b, 5));
    fs::copy(&log, &rotated).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &failure_line(b, 6));
    assert!(
        poll(Duration::from_secs(5), || denies(b)).is_some(),
        "{b} not banned across copytruncate: {:?}\n{}",
        daemon.status(),
        setup.stderr()
    );
    lines_read(6);
    std::thread::sleep(Duration::from_millis(1200));
    let st = daemon.status();
    assert_eq!(st.lines, 6, "lines lost or doubled: {st:?}");
    assert_eq!(st.events.auth_failure, 6, "{st:?}");
    let bans = daemon.bans();
    assert_eq!(bans.len(), 2, "{bans:?}");
    assert!(bans.iter().all(|b| b.offences == 1), "{bans:?}");
}

/// Rotation in the middle of a flood: the writer rotates its log six times while it
/// writes 3,000 failures of 1,000 addresses and the daemon reads. Each rotation is done
/// the way logrotate does it, with no line written between copy and truncation (lines
/// written there are lost by copytruncate's own design), so every line must be read once.
#[test]
fn e2e_daemon_rotation_during_a_flood_loses_and_doubles_nothing() {
    const FLOOD: u32 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    let deny = dir.path().join("hosts.deny");
    fs::write(&log, "").unwrap();
    let setup = Setup::new(
        dir.path(),
        None,
        &config(&log, "1h", "\"hosts-deny\"", ""),
        &deny,
    );
    let daemon = setup.start();
    let lines = flood_lines(FLOOD);
    let total = lines.len() as u64;
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            let sibling = |n: u32| log.with_extension(format!("log.{n}"));
            let mut out = fs::OpenOptions::new().append(true).open(&log).unwrap();
            for (i, chunk) in lines.chunks(50).enumerate() {
                out.write_all(chunk.concat().as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(10));
                if i % 10 != 9 {
                    continue;
                }
                // Shift the numbered copies first, as logrotate does.
                for n in (1..6).rev() {
                    let _ = fs::rename(sibling(n), sibling(n + 1));
                }
                if i % 20 == 9 {
                    // rename + create; the writer reopens after writing one more chunk
                    // into the renamed file.
                    fs::rename(&log, sibling(1)).unwrap();
                    out.write_all(failure_line("192.0.2.200", 900_000 + i as u32).as_bytes())
                        .unwrap();
                    out = fs::OpenOptions::new()
                        .append(true)
                        .create_new(true)
                        .open(&log)
                        .unwrap();
                } else {
                    fs::copy(&log, sibling(1)).unwrap();
                    out.set_len(0).unwrap();
                }
            }
        })
    };
    writer.join().expect("the writer");
    // One line per rename + create went to the renamed file: 3 of the 6 rotations.
    let written = total + 3;
    assert!(
        poll(Duration::from_secs(10), || daemon.status().lines >= written).is_some(),
        "the daemon did not read {written} lines: {:?}\n{}",
        daemon.status(),
        setup.stderr()
    );
    std::thread::sleep(Duration::from_millis(1200));
    let st = daemon.status();
    assert_eq!(st.lines, written, "lines lost or doubled: {st:?}");
    assert_eq!(st.events.auth_failure, written, "{st:?}");
    let bans = daemon.bans();
    // 192.0.2.200 failed three times too.
    assert_eq!(bans.len(), FLOOD as usize + 1, "every address banned");
    assert!(
        bans.iter().all(|b| b.offences == 1),
        "{:?}",
        bans.iter().find(|b| b.offences != 1)
    );
}

/// Issue 8, item 6: 100 rename + create rotations of 400 lines each, with no pause
/// between them, as logrotate names them (every generation kept). Each file holds four
/// attackers of its own: a file skipped is four bans missing.
#[test]
fn e2e_daemon_a_burst_of_rotations_loses_no_file() {
    const FILES: u32 = 100;
    const PER_FILE: u32 = 400;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    let deny = dir.path().join("hosts.deny");
    fs::write(&log, "").unwrap();
    let setup = Setup::new(
        dir.path(),
        None,
        &config(&log, "1h", "\"hosts-deny\"", ""),
        &deny,
    );
    let daemon = setup.start();
    // The start-up line names what is followed (issue 9, item 7).
    let running = format!("running: 1 source ({}),", log.display());
    assert!(setup.stderr().contains(&running), "{}", setup.stderr());
    let sibling = |n: u32| log.with_extension(format!("log.{n}"));
    let mut attackers = Vec::new();
    for f in 0..FILES {
        let mut text = String::new();
        for i in 0..PER_FILE {
            let addr = format!("198.19.{}.{}", f, i % 4 + 1);
            text.push_str(&failure_line(&addr, f * PER_FILE + i));
        }
        attackers.extend((1..=4).map(|k| format!("198.19.{f}.{k}")));
        append(&log, &text);
        for n in (1..=f).rev() {
            fs::rename(sibling(n), sibling(n + 1)).unwrap();
        }
        fs::rename(&log, sibling(1)).unwrap();
        fs::write(&log, "").unwrap();
    }
    let written = u64::from(FILES * PER_FILE);
    assert!(
        poll(Duration::from_secs(20), || daemon.status().lines >= written).is_some(),
        "the daemon did not read {written} lines: {:?}\n{}",
        daemon.status(),
        setup.stderr()
    );
    std::thread::sleep(Duration::from_millis(500));
    let st = daemon.status();
    assert_eq!(st.lines, written, "lines lost or doubled: {st:?}");
    assert_eq!(st.events.auth_failure, written, "{st:?}");
    let mut banned: Vec<String> = daemon.bans().into_iter().map(|b| b.addr).collect();
    banned.sort();
    attackers.sort();
    assert_eq!(banned, attackers);
    assert!(
        !setup.stderr().contains("lines may be lost"),
        "{}",
        setup.stderr()
    );
}

/// The nft program the daemon runs is ours: missing, then failing, then the real one.
#[test]
fn e2e_daemon_failing_nft_is_reported_retried_and_reconciled() {
    let test = "e2e_daemon_failing_nft_is_reported_retried_and_reconciled";
    if !can_run(test, &["nft"]) {
        return;
    }
    let real_nft = find_program("nft").unwrap();
    let lab = Lab::start("dfail");
    greeted_before(&lab);
    let nft = lab.path("nft");
    let extra = format!("[nftables]\nnft = \"{}\"\n", nft.display());
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&lab.auth_log(), "1h", "\"nftables\"", &extra),
        &lab.hosts_deny(),
    );
    let started = Instant::now();
    let daemon = setup.start();
    let nft_status = |d: &Daemon| {
        d.status()
            .backends
            .into_iter()
            .find(|b| b.name == "nftables")
            .expect("an nftables backend in status")
    };

    // Missing: the error names the program.
    let b = nft_status(&daemon);
    assert!(!b.ok, "{b:?}");
    let err = b.error.clone().unwrap_or_default();
    assert!(
        err.contains(&nft.display().to_string()),
        "the error should name {}: {err}",
        nft.display()
    );
    eprintln!("nft missing: status error `{err}`");

    // Failing: the next retry (2 s after the start) reports the program's own words.
    let script = "#!/bin/sh\necho 'nft: simulated breakage' >&2\nexit 1\n";
    script::executable(&nft, script);
    assert!(
        poll(Duration::from_secs(4), || nft_status(&daemon)
            .error
            .is_some_and(|e| e.contains("simulated breakage")))
        .is_some(),
        "no retry with the failing nft: {:?}",
        nft_status(&daemon)
    );
    let b = nft_status(&daemon);
    assert!(!b.ok);
    eprintln!(
        "nft failing: status error `{}` {:?} after the start",
        b.error.unwrap_or_default(),
        started.elapsed()
    );

    // Bans decided while the firewall is broken: the attacker's, and one by hand.
    for n in 1..=3 {
        fail_once(&lab, &daemon, n);
    }
    let manual = "192.0.2.77";
    let r = daemon.ask(&Request::Ban {
        addr: manual.into(),
        duration: None,
    });
    assert!(r.ok, "{r:?}");
    let bans = daemon.bans();
    assert_eq!(bans.len(), 2, "{bans:?}");
    let b = nft_status(&daemon);
    assert!(!b.ok && b.pending == 2, "{b:?}");
    assert_eq!(
        connect(&lab.attacker, SERVER_ATTACKER_SIDE, Duration::from_secs(1)),
        Connect::Open,
        "nothing enforces the ban while nft fails"
    );

    // nft comes back: the retry with back-off (2 s, 4 s, 8 s …) reconciles the set.
    let _ = fs::remove_file(&nft);
    std::os::unix::fs::symlink(&real_nft, &nft).unwrap();
    let fixed = Instant::now();
    assert!(
        poll(Duration::from_secs(12), || nft_status(&daemon).ok).is_some(),
        "nftables not working again 12 s after nft came back: {:?}\n{}",
        nft_status(&daemon),
        setup.stderr()
    );
    eprintln!(
        "nft back: status ok {:?} later ({:?} after the start)",
        fixed.elapsed(),
        started.elapsed()
    );
    let b = nft_status(&daemon);
    assert!(b.error.is_none() && b.pending == 0, "{b:?}");
    let mut want = vec![ATTACKER.to_owned(), manual.to_owned()];
    want.sort();
    assert_eq!(nft_ban4(&lab.server), want);
    assert_eq!(
        connect(&lab.attacker, SERVER_ATTACKER_SIDE, Duration::from_secs(1)),
        Connect::TimedOut,
        "the reconciled set drops the attacker"
    );
    assert_banner(
        lab.probe(&lab.friend, SERVER_FRIEND_SIDE),
        "the friend after the reconciliation",
    );
}

/// Bans reach the kernel over netlink, not by running `nft` (issue 8, item 9): the `nft`
/// the daemon is given records its arguments, and a ban by hand adds no invocation that
/// writes elements; status reports no slow path.
#[test]
fn e2e_daemon_bans_take_the_netlink_path() {
    let test = "e2e_daemon_bans_take_the_netlink_path";
    if emulation::skipped_under_emulation(test, emulation::NO_NETFILTER_NETLINK)
        || !can_run(test, &["nft"])
    {
        return;
    }
    let real_nft = find_program("nft").unwrap();
    let lab = Lab::start("dnl");
    let nft = lab.path("nft");
    let calls = lab.path("nft-calls");
    script::executable(
        &nft,
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            real_nft.display()
        ),
    );
    let extra = format!("[nftables]\nnft = \"{}\"\n", nft.display());
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&lab.auth_log(), "1h", "\"nftables\"", &extra),
        &lab.hosts_deny(),
    );
    let daemon = setup.start();
    let st = daemon.status();
    assert!(backend_ok(&st, "nftables"), "{st:?}\n{}", setup.stderr());
    let before = fs::read_to_string(&calls).unwrap_or_default();
    for addr in ["203.0.113.77", "203.0.113.78"] {
        let r = daemon.ask(&Request::Ban {
            addr: addr.into(),
            duration: None,
        });
        assert!(r.ok, "{r:?}");
    }
    assert!(
        poll(Duration::from_secs(2), || {
            let set = nft_ban4(&lab.server);
            set.contains(&"203.0.113.77".to_owned()) && set.contains(&"203.0.113.78".to_owned())
        })
        .is_some(),
        "the bans did not reach the set: {:?}",
        nft_ban4(&lab.server)
    );
    let after = fs::read_to_string(&calls).unwrap_or_default();
    let new: Vec<&str> = after[before.len()..].lines().collect();
    assert!(
        new.iter().all(|c| !c.contains("-f")),
        "bans went through nft: {new:?}"
    );
    let b = daemon
        .status()
        .backends
        .into_iter()
        .find(|b| b.name == "nftables")
        .unwrap();
    assert!(b.ok && b.degraded.is_none(), "{b:?}\n{}", setup.stderr());
    assert!(!setup.stderr().contains("instead"), "{}", setup.stderr());
}

#[test]
fn e2e_daemon_a_lost_store_adopts_the_bans_the_kernel_set_holds() {
    // Issue 8, item 2: a daemon started on a deleted store used to restore "no ban" into
    // the kernel, flushing every ban in force. It adopts them instead, with the time the
    // kernel says is left.
    let test = "e2e_daemon_a_lost_store_adopts_the_bans_the_kernel_set_holds";
    if !can_run(test, &["nft"]) {
        return;
    }
    let lab = Lab::start("dad");
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&lab.auth_log(), "1h", "\"nftables\"", ""),
        &lab.hosts_deny(),
    );
    let mut daemon = setup.start();
    let r = daemon.ask(&Request::Ban {
        addr: "203.0.113.91".into(),
        duration: None,
    });
    assert!(r.ok, "{r:?}");
    assert!(
        poll(Duration::from_secs(2), || nft_ban4(&lab.server)
            .contains(&"203.0.113.91".to_owned()))
        .is_some(),
        "{:?}",
        nft_ban4(&lab.server)
    );
    daemon.kill9();
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(setup.state().join(format!("authban.db{suffix}")));
    }
    let daemon = setup.start();
    assert!(
        nft_ban4(&lab.server).contains(&"203.0.113.91".to_owned()),
        "the restart flushed the set: {:?}\n{}",
        nft_ban4(&lab.server),
        setup.stderr()
    );
    let bans = daemon.bans();
    let b = bans
        .iter()
        .find(|b| b.addr == "203.0.113.91")
        .unwrap_or_else(|| panic!("not in force: {bans:?}"));
    let left = b.expires_at.expect("the kernel's timeout") - b.banned_at;
    assert!((3000..=3600).contains(&left), "{b:?}");
    assert!(b.reason.contains("adopted from nftables"), "{b:?}");
    assert!(
        setup.stderr().contains("adopted them"),
        "{}",
        setup.stderr()
    );
    // Saved: a restart on this store has nothing more to adopt.
    drop(daemon);
    let _daemon = setup.start();
    assert_eq!(
        setup.stderr().matches("adopted them").count(),
        1,
        "{}",
        setup.stderr()
    );
    assert!(nft_ban4(&lab.server).contains(&"203.0.113.91".to_owned()));
}

#[test]
fn e2e_daemon_a_flushed_kernel_set_is_refilled_on_reload() {
    // Issue 8, item 5: `nft flush set` left the set empty while status said "ok".
    let test = "e2e_daemon_a_flushed_kernel_set_is_refilled_on_reload";
    if !can_run(test, &["nft"]) {
        return;
    }
    let lab = Lab::start("drf");
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&lab.auth_log(), "1h", "\"nftables\"", ""),
        &lab.hosts_deny(),
    );
    let daemon = setup.start();
    for addr in ["203.0.113.81", "203.0.113.82"] {
        let r = daemon.ask(&Request::Ban {
            addr: addr.into(),
            duration: None,
        });
        assert!(r.ok, "{r:?}");
    }
    let both = || {
        let set = nft_ban4(&lab.server);
        set.contains(&"203.0.113.81".to_owned()) && set.contains(&"203.0.113.82".to_owned())
    };
    assert!(poll(Duration::from_secs(2), both).is_some());
    ns_must(
        &lab.server,
        "nft",
        &["flush", "set", "inet", "authban", "ban4"],
    );
    assert!(nft_ban4(&lab.server).is_empty());
    let r = daemon.ask(&Request::Reload);
    assert!(r.ok, "{r:?}");
    assert!(
        poll(Duration::from_secs(2), both).is_some(),
        "not refilled: {:?}\n{}",
        nft_ban4(&lab.server),
        setup.stderr()
    );
    assert!(
        setup
            .stderr()
            .contains("nftables: 2 bans in force were missing from it; restored them"),
        "{}",
        setup.stderr()
    );
    // In step again: another reload has nothing to say.
    assert!(daemon.ask(&Request::Reload).ok);
    assert_eq!(
        setup.stderr().matches("were missing").count(),
        1,
        "{}",
        setup.stderr()
    );
}

// ---------------------------------------------------------------------------------------
// Forged logins

/// A password of the owner's account in the lab, and its crypt(3) hash (`openssl passwd -6`).
const OWNER: &str = "owner";
const OWNER_PASSWORD: &str = "owner-secret-7";
const OWNER_HASH: &str = "$6$authbane2e$DTUR5JXS38W1aDiBUrg/d39ana86hdAlh7C.UffvxtfOihTxQqrET5IthGq1KUZtZR55cgffHPUhFQUq5gWKz0";

/// Issue 9, item 6: a local user can write `sshd[PID]: Accepted …` into a syslog file
/// (`logger --id`), naming a real sshd's pid. Such a line must not shield the attacker's
/// address; the owner's real login, whose connection sshd holds, still does.
#[test]
fn e2e_daemon_a_forged_login_shields_nobody_and_a_real_one_protects_its_owner() {
    let test = "e2e_daemon_a_forged_login_shields_nobody_and_a_real_one_protects_its_owner";
    if !can_run(test, &["logger", "runuser"]) {
        return;
    }
    let lab = Lab::start("dfl");
    lab.add_user(OWNER, 4711, OWNER_HASH);
    greeted_before(&lab);
    let setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(&lab.auth_log(), "1h", "\"hosts-deny\"", ""),
        &lab.hosts_deny(),
    );
    let daemon = setup.start();

    // The owner logs in from the friend's side and stays logged in.
    let mut session = lab.hold_login(&lab.friend, SERVER_FRIEND_SIDE, OWNER, OWNER_PASSWORD, 30);
    let accepted = format!("Accepted password for {OWNER} from {FRIEND}");
    assert!(
        lab.wait_for_log(1, |l| l.contains(&accepted)),
        "the owner's login is not in the log:\n{}",
        lab.read_auth_log()
    );
    assert!(
        poll(Duration::from_secs(3), || daemon.status().events.success
            >= 1)
        .is_some(),
        "the daemon did not see the login:\n{}",
        setup.stderr()
    );

    // A local user forges the attacker's login, with the listener's pid, through /dev/log.
    let forged = format!("Accepted password for {OWNER} from {ATTACKER} port 50000 ssh2");
    let mut logger = Command::new("runuser");
    logger
        .args(["-u", "nobody", "--", "logger", "--socket"])
        .arg(lab.syslog_socket())
        .arg(format!("--id={}", lab.sshd_pid()))
        .args(["-t", "sshd", "-p", "auth.info", &forged]);
    let done = run_bounded(&mut logger, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(0), "logger: {done:?}");
    assert!(
        lab.wait_for_log(1, |l| l
            .contains(&format!("sshd[{}]: {forged}", lab.sshd_pid()))),
        "the forged line is not in the log as sshd's:\n{}",
        lab.read_auth_log()
    );
    let untrusted = poll(Duration::from_secs(3), || {
        daemon.status().events.untrusted_logins == 1
    });
    assert!(untrusted.is_some(), "{}", setup.stderr());
    assert!(
        setup.stderr().contains(&format!(
            "login of {ATTACKER} (sshd[{}], port 50000) not trusted",
            lab.sshd_pid()
        )),
        "{}",
        setup.stderr()
    );

    // The attacker's failures ban it; the owner's own typos, as many, do not.
    for n in 1..=3 {
        assert_eq!(
            lab.failed_login(&lab.attacker, SERVER_ATTACKER_SIDE, USER),
            Some(5)
        );
        assert_eq!(
            lab.failed_login(&lab.friend, SERVER_FRIEND_SIDE, USER),
            Some(5),
            "typo {n}"
        );
    }
    let denied = |addr: &str| {
        fs::read_to_string(lab.hosts_deny())
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == format!("ALL: {addr}"))
    };
    assert!(
        poll(Duration::from_secs(3), || denied(ATTACKER)).is_some(),
        "the forged login shielded the attacker:\n{}",
        setup.stderr()
    );
    assert!(!denied(FRIEND), "the owner was banned:\n{}", setup.stderr());
    // The owner's typos may still be on their way through the daemon (emulated armhf).
    assert!(
        poll(Duration::from_secs(5), || setup
            .stderr()
            .contains(&format!("not banning {FRIEND}")))
        .is_some(),
        "{}",
        setup.stderr()
    );
    assert_eq!(
        daemon.status().events.untrusted_logins,
        1,
        "the owner's login was trusted"
    );
    let _ = session.kill();
    let _ = session.wait();
}

/// Debian's redis-server inside a namespace of its own, with its append-only file, killed
/// on drop.
struct NsRedis {
    child: Child,
    netns: String,
    conf: PathBuf,
}

impl NsRedis {
    fn start(ns: &Netns, dir: &Path) -> NsRedis {
        let conf = dir.join("redis.conf");
        fs::write(
            &conf,
            format!(
                "port 6379\nbind 0.0.0.0\nprotected-mode no\ndir {}\nsave \"\"\n\
                 appendonly yes\nappendfsync always\n\
                 user default off\n\
                 user node on >fleet-pw ~authban:* resetchannels -@all +ping +select +xadd \
                 +xread +xrange +xrevrange +xlen +hset +hget +hdel +hscan +hgetall +zadd +zrem \
                 +zrangebyscore\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut r = NsRedis {
            child: Command::new("true").spawn().unwrap(),
            netns: ns.name.clone(),
            conf,
        };
        r.restart();
        r
    }

    fn restart(&mut self) {
        let _ = self.child.wait();
        self.child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "redis-server"])
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let up = poll(Duration::from_secs(10), || {
            Command::new("ip")
                .args(["netns", "exec", &self.netns, "redis-cli", "--user", "node"])
                .args(["--pass", "fleet-pw", "--no-auth-warning", "PING"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
        });
        assert!(up.is_some(), "redis-server did not start in {}", self.netns);
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NsRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three servers in three namespaces share their bans through Redis in a fourth, over
/// veth links: a real sshd attacked on one is banned in the kernel of all three
/// (nftables); a node stopped during the attack enforces it when it starts; Redis killed
/// and restarted from its append-only file loses nothing; an address one node allowlists
/// stays open there.
#[test]
fn e2e_fleet_an_attack_on_one_server_is_dropped_by_all_three() {
    let test = "e2e_fleet_an_attack_on_one_server_is_dropped_by_all_three";
    if !can_run(test, &["nft", "redis-server", "redis-cli"]) {
        return;
    }
    let lab = Lab::start("fleet");
    greeted_before(&lab);
    let base = lab.server.name.replace("-srv", "");
    let redis_ns = Netns::add(format!("{base}-rds"));
    let web2 = Netns::add(format!("{base}-w2"));
    let web3_ns = Netns::add(format!("{base}-w3"));
    link(
        (&redis_ns, "to-web1", "10.198.1.1"),
        (&lab.server, "to-redis", "10.198.1.2"),
    );
    link(
        (&redis_ns, "to-web2", "10.198.2.1"),
        (&web2, "to-redis", "10.198.2.2"),
    );
    link(
        (&redis_ns, "to-web3", "10.198.3.1"),
        (&web3_ns, "to-redis", "10.198.3.2"),
    );
    let rdir = lab.path("redis");
    fs::create_dir_all(&rdir).unwrap();
    let mut redis = NsRedis::start(&redis_ns, &rdir);
    fs::write(lab.path("fleet.pw"), "fleet-pw\n").unwrap();
    // As an operator makes it: authban refuses a password every user can read.
    fs::set_permissions(lab.path("fleet.pw"), fs::Permissions::from_mode(0o600)).unwrap();
    let fleet = |name: &str, at: &str, more: &str| {
        format!(
            "[fleet]\nurl = \"redis://node@{at}:6379\"\npassword-file = \"{}\"\nnode = \"{name}\"\n{more}",
            lab.path("fleet.pw").display()
        )
    };
    let node = |name: &str, ns: &Netns, at: &str, more: &str, allow: &str| -> Setup {
        let dir = lab.path(name);
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("auth.log");
        fs::write(&log, "").unwrap();
        let text = config(&log, "1h", "\"nftables\"", &fleet(name, at, more)).replace(
            "threshold = 3.0",
            &format!("threshold = 3.0\nallowlist = [{allow}]"),
        );
        Setup::new(&dir, Some(ns), &text, &dir.join("hosts.deny"))
    };
    let web1_setup = Setup::new(
        lab.dir.path(),
        Some(&lab.server),
        &config(
            &lab.auth_log(),
            "1h",
            "\"nftables\"",
            &fleet("web1", "10.198.1.1", ""),
        ),
        &lab.hosts_deny(),
    );
    let web2_setup = node("web2", &web2, "10.198.2.1", "", "");
    let web3_setup = node(
        "web3",
        &web3_ns,
        "10.198.3.1",
        "",
        &format!("\"{ATTACKER}\""),
    );
    let connected = |d: &Daemon| {
        poll(Duration::from_secs(10), || {
            d.status()
                .fleet
                .is_some_and(|f| f.following && f.publishing)
        })
        .is_some()
    };
    let web1 = web1_setup.start();
    let web3 = web3_setup.start();
    assert!(connected(&web1), "{}", web1_setup.stderr());
    assert!(connected(&web3), "{}", web3_setup.stderr());

    // web2 is down during the attack.
    let in_set = || nft_ban4(&lab.server).contains(&ATTACKER.to_owned());
    attack_until_dropped(&lab, &web1, in_set);
    let web2_daemon = web2_setup.start();
    let caught_up = poll(Duration::from_secs(10), || {
        nft_ban4(&web2).contains(&ATTACKER.to_owned())
    });
    assert!(
        caught_up.is_some(),
        "web2 did not catch up:\n{}",
        web2_setup.stderr()
    );
    let b = web2_daemon.bans();
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].node.as_deref(), Some("web1"));
    // web3 allowlists the attacker: it stays open there, and says why.
    std::thread::sleep(Duration::from_millis(500));
    assert!(nft_ban4(&web3_ns).is_empty(), "{:?}", nft_ban4(&web3_ns));
    assert_eq!(web3.status().fleet.unwrap().refused, 1);

    // Redis dies while web1 bans by hand; comes back from its append-only file.
    redis.kill();
    let gone = poll(Duration::from_secs(10), || {
        web1.status().fleet.is_some_and(|f| f.error.is_some())
    });
    assert!(gone.is_some());
    let r = web1.ask(&Request::Ban {
        addr: "192.0.2.66".into(),
        duration: Some("2h".into()),
    });
    assert!(r.ok, "{r:?}");
    assert_eq!(web1.status().fleet.unwrap().outbox, 1);
    redis.restart();
    for ns in [&web2, &web3_ns] {
        let got = poll(Duration::from_secs(15), || {
            nft_ban4(ns).contains(&"192.0.2.66".to_owned())
        });
        assert!(
            got.is_some(),
            "{} lacks the ban made while Redis was down",
            ns.name
        );
    }
    assert!(nft_ban4(&web2).contains(&ATTACKER.to_owned()));
    // A node joining now finds the ban of before the kill in the bans in force.
    drop(web2_daemon);
    let _ = fs::remove_dir_all(web2_setup.state());
    let _web2_again = web2_setup.start();
    let rejoined = poll(Duration::from_secs(10), || {
        let set = nft_ban4(&web2);
        set.contains(&ATTACKER.to_owned()) && set.contains(&"192.0.2.66".to_owned())
    });
    assert!(rejoined.is_some(), "{}", web2_setup.stderr());
}
