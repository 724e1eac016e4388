//! Conformance with fail2ban's annotated sshd test logs (`shared/corpus/fail2ban`, see its
//! README): every `# failJSON:` annotation is checked against `authban::parse::Parser`.
//!
//! - `match: true` with an IP host: we must yield a non-success event for that address.
//! - `match: true` with a host name or a zero-padded address (`192.030.0.6`): we must yield
//!   nothing — we never ban a name, and sshd never prints padded octets.
//! - `match: false`: we must yield no attack event. An attack is `AuthFailure` or
//!   `InvalidUser`; a `Probe` counts as one only when the annotation is not constrained to a
//!   fail2ban mode (its `constraint` names `mode`), because probes are what fail2ban's
//!   `ddos`/`aggressive` modes count.
//!
//! Where we deliberately differ, [`DIFFERENCES`] names the line and the reason, and the test
//! checks that the table is exact: every listed difference still differs, and nothing else
//! does. Timestamps are not compared: fail2ban's expected times assume its test's own year
//! and zone; the parser's unit tests cover time.

use std::net::IpAddr;
use std::path::Path;

use authban::parse::Parser;
use authban::{Event, Kind};

/// Lines (a distinctive substring of the log line) where we deliberately give another answer
/// than fail2ban, and why. Every line containing the substring must differ.
const DIFFERENCES: &[(&str, &str)] = &[
    ("[sshd]: User root from", NO_PID),
    ("[sshd] User root from", NO_PID),
    (": kernel:", KERNEL_PREFIX),
    (
        "Read from socket failed: Connection reset by peer",
        NO_ADDRESS,
    ),
    (
        "sshd[19725]: error: kex_exchange_identification:",
        NO_ADDRESS,
    ),
    (
        "kex_exchange_identification: read: Connection reset by peer",
        NO_ADDRESS,
    ),
    ("Unable to negotiate a key exchange method", NO_ADDRESS),
    ("fatal: no matching mac found", NO_ADDRESS),
    (
        "sshd[26713]: Disconnecting: Too many authentication failures",
        NO_ADDRESS,
    ),
    (
        "sshd[32310]: Disconnecting: Too many authentication failures",
        NO_ADDRESS,
    ),
    ("sshd[16700]: Connection closed by", UNSUFFIXED_CLOSE),
    ("sshd[32307]: Connection closed by", UNSUFFIXED_CLOSE),
    ("sshd[7148]: Connection closed by", UNSUFFIXED_CLOSE),
    ("sshd[1556]: Connection closed by", UNSUFFIXED_CLOSE),
    ("sshd[1559]: Connection closed by", UNSUFFIXED_CLOSE),
    ("sshd[649921]: Connection reset by", UNSUFFIXED_CLOSE),
    ("rhost=192.0.2.112  user=root", PAM_ALONE),
    ("rhost=192.0.2.113", PAM_ALONE),
    ("ruser=root rhost=192.0.2.114", PAM_ALONE),
    ("rhost=192.0.2.116", PAM_ALONE),
    (
        "Accepted password for known from 192.0.2.11",
        PAM_AT_SUCCESS,
    ),
    ("Failed publickey for git from", VALID_USER_PUBKEY),
    (
        "Disconnected from authenticating user admin",
        PREAUTH_DISCONNECT,
    ),
    ("ssh2: from 10.10.1.2 port 55555 ssh2", FAKE_AUTH_INFO),
];

const NO_PID: &str = "the tag has no [pid]: sshd always logs with LOG_PID, so this is `logger -t sshd` \
    or another program (openssh-messages.md §4.3.3)";
const KERNEL_PREFIX: &str = "text before the sshd message (a kernel-log prefix inside MESSAGE): we read a \
    message's shape from its first byte only";
const NO_ADDRESS: &str = "the line has no address (M06/M10, M34 <6.9, M45, M49): fail2ban takes it from \
    an earlier line of the same pid; we never guess, the detector may correlate by pid";
const UNSUFFIXED_CLOSE: &str = "`Connection closed|reset by A` without [preauth] is a banner failure or \
    (9.8+) a logout, word for word: we report a Probe and the detector drops it when that \
    connection logged in; fail2ban forgets it by pid";
const PAM_ALONE: &str = "a PAM failure line alone: fail2ban waits for the next line of the pid (a \
    success forgets it, gh-2070); we report every PAM line (Role::Pam) and the detector \
    correlates";
const PAM_AT_SUCCESS: &str = "fail2ban emits the remembered PAM failures of the pid at `Accepted`; we \
    report Success here and the PAM lines as their own events";
const VALID_USER_PUBKEY: &str = "fail2ban ignores publickey failures of valid users (gh-1263: clients \
    offer several keys); sshd logs them at INFO only after MaxAuthTries/2 failures, so we \
    report them and let the detector weigh them";
const PREAUTH_DISCONNECT: &str = "fail2ban counts a pre-auth disconnect of an authenticating user only in \
    extra/aggressive mode (its block's filterOptions); we report it (Role::Closing: counted \
    only when nothing else of the connection was)";
const FAKE_AUTH_INFO: &str = "fail2ban's invented auth info after `ssh2` for an invalid user: sshd writes \
    no info for password, and this exact line is what a user named `test from 127.0.0.1 port \
    58946 ssh2:` produces from 10.10.1.2, so the end-anchored reading (10.10.1.2) is right";

#[derive(Debug)]
struct Case {
    file: &'static str,
    line_no: usize,
    text: String,
    json: serde_json::Value,
}

fn load(dir: &Path, file: &'static str) -> Option<Vec<Case>> {
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    let mut cases = Vec::new();
    let mut pending: Option<serde_json::Value> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(json) = line.strip_prefix("# failJSON:") {
            let value = serde_json::from_str(json.trim())
                .unwrap_or_else(|e| panic!("{file}:{}: bad failJSON: {e}", i + 1));
            pending = Some(value);
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else if let Some(json) = pending.take() {
            cases.push(Case {
                file,
                line_no: i + 1,
                text: line.to_owned(),
                json,
            });
        }
    }
    Some(cases)
}

fn parser() -> Parser {
    Parser::new(
        jiff::tz::TimeZone::UTC,
        "2005-12-31T00:00:00Z".parse().unwrap(),
    )
}

/// The verdict on one case: `Ok` when we agree, `Err(why)` when we differ.
fn judge(case: &Case, event: Option<&Event<'_>>) -> Result<(), String> {
    let j = &case.json;
    let matches = j["match"].as_bool().expect("match is a bool");
    let host = ["host", "ip4", "ip6"]
        .iter()
        .find_map(|k| j[*k].as_str())
        .map(str::to_owned);
    let mode_constrained = j["constraint"].as_str().is_some_and(|c| c.contains("mode"));
    let got = event.map(|e| (e.kind, e.msg, e.addr));
    if matches {
        match host.as_deref().map(|h| (h, h.parse::<IpAddr>())) {
            Some((_, Ok(addr))) => {
                let want = authban::addr::canonical(addr);
                match event {
                    Some(e) if e.addr == want && e.kind != Kind::Success => Ok(()),
                    _ => Err(format!("want an event for {want}, got {got:?}")),
                }
            }
            Some((h, Err(_))) => match event {
                None => Ok(()),
                Some(_) => Err(format!("host {h:?} is no IP: want nothing, got {got:?}")),
            },
            None => Err(format!(
                "fail2ban takes the address from another line; we got {got:?}"
            )),
        }
    } else {
        match event {
            Some(e)
                if matches!(e.kind, Kind::AuthFailure | Kind::InvalidUser)
                    || (e.kind == Kind::Probe && !mode_constrained) =>
            {
                Err(format!("want no attack, got {got:?}"))
            }
            _ => Ok(()),
        }
    }
}

#[test]
fn fail2ban_sshd_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/fail2ban");
    let mut cases = Vec::new();
    for file in ["sshd", "sshd-journal"] {
        match load(&dir, file) {
            Some(c) => cases.extend(c),
            None => {
                // Under CI ../shared is always there: a missing corpus is a broken machine,
                // not a reason to pass.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "fail2ban corpus file {} not found (CI is set)",
                    dir.join(file).display()
                );
                eprintln!(
                    "skipped: fail2ban corpus file {} not found",
                    dir.join(file).display()
                );
                return;
            }
        }
    }
    assert!(cases.len() > 200, "only {} annotated lines", cases.len());

    let mut problems = Vec::new();
    let mut used = vec![0usize; DIFFERENCES.len()];
    let (mut agree, mut differ) = (0, 0);
    for case in &cases {
        let mut p = parser();
        let event = p.parse(case.text.as_bytes());
        let verdict = judge(case, event.as_ref());
        let listed = DIFFERENCES
            .iter()
            .position(|(needle, _)| case.text.contains(needle));
        match (verdict, listed) {
            (Ok(()), None) => agree += 1,
            (Err(_), Some(i)) => {
                differ += 1;
                used[i] += 1;
            }
            (Err(why), None) => problems.push(format!(
                "{}:{}: {why}\n    {}",
                case.file, case.line_no, case.text
            )),
            (Ok(()), Some(i)) => problems.push(format!(
                "{}:{}: listed as a difference ({:?}) but now agrees\n    {}",
                case.file, case.line_no, DIFFERENCES[i].0, case.text
            )),
        }
    }
    for (i, n) in used.iter().enumerate() {
        if *n == 0 {
            problems.push(format!(
                "difference {:?} matches no annotated line",
                DIFFERENCES[i].0
            ));
        }
    }
    eprintln!(
        "fail2ban corpus: {} annotated lines, matched {agree}, differ {differ} (all listed)",
        cases.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
