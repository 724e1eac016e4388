//! `authban report` as a user runs it: the text summary and the HTML file, from logs and
//! from the store, and the HTML page in a real browser (Debian's chromium, headless): it
//! renders with no console error, its charts have data, it fetches nothing, and a user
//! name an attacker wrote as markup stays text. Without chromium the browser test says
//! `skipped:`; under CI (`CI` set) a missing chromium fails it. And the progress line of
//! long reads (`check`, a first `scan`, `report`), on a pseudo-terminal and off one.

#[path = "support/emulation.rs"]
mod emulation;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_authban");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample-auth.log");

fn authban(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.join("authban.toml"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--hosts-deny")
        .arg(dir.join("hosts.deny"))
        .args(args)
        .env("TZ", "UTC")
        .env_remove("SSH_CONNECTION")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "authban {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A log of one attack whose user names are markup, plus the sample log's lines.
fn hostile_log(dir: &Path) -> PathBuf {
    let mut text = fs::read_to_string(SAMPLE).unwrap();
    for i in 0..6 {
        text.push_str(&format!(
            "2026-11-24T13:0{i}:00.000000+00:00 gw1 sshd[{}]: Failed password for invalid user \
             <img src=x onerror=alert(1)> from 192.0.2.99 port {} ssh2\n",
            3000 + i,
            40000 + i
        ));
    }
    let path = dir.join("hostile.log");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_text_report_counts_events_users_and_the_bans_the_policy_would_impose() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("authban.toml"), "").unwrap();
    let out = authban(dir.path(), &["report", SAMPLE]);
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "Period: 2026-11-24 12:00 to 2026-11-24 12:03",
        "Events: 6 auth failures, 5 invalid users, 3 probes, 1 logins, from 5 addresses",
        "Bans the policy would have imposed: 1 (0 repeat offences)",
        "203.0.113.5       9",
        "203.0.113.0/24     9",
        "root                                  5",
        // The crafted user name is a user name, not an address.
        "root from 198.51.100.77 port 22 ssh2  2",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    // From the store: after a scan of the same log, the ban it imposed, with its events.
    authban(dir.path(), &["scan", SAMPLE]);
    let text = String::from_utf8(authban(dir.path(), &["report", "--text"]).stdout).unwrap();
    assert!(text.contains("Bans: 1 (0 repeat offences)"), "{text}");
    assert!(text.contains("203.0.113.5  offence 1: score 6.0"), "{text}");
    assert!(
        text.contains("The store keeps") || text.contains("give logs"),
        "{text}"
    );
    // --since counts back from now: the sample log is older than a day.
    let text = String::from_utf8(authban(dir.path(), &["report", "--since", "1d", SAMPLE]).stdout)
        .unwrap();
    assert!(text.contains("Period: no events"), "{text}");
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless chromium on `page` with `extra` arguments: (stdout, stderr).
fn browse(page: &Path, profile: &Path, extra: &[&str]) -> (String, String) {
    let mut child = Command::new(chromium().unwrap())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "chromium ran past 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of chromium's log that report the page's console messages or errors.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Refused to"))
        .collect()
}

#[test]
fn the_html_report_renders_in_a_browser_with_data_and_no_console_error() {
    if chromium().is_none() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "CI must install chromium (.ci/run)"
        );
        eprintln!("skipped: no chromium (apt-get install chromium)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("authban.toml"), "").unwrap();
    let log = hostile_log(dir.path());
    let page = dir.path().join("report.html");
    authban(
        dir.path(),
        &[
            "report",
            "--html",
            page.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
    );
    let profile = dir.path().join("profile");

    // The test can fail: a page with a script error is seen as one.
    let broken = dir.path().join("broken.html");
    fs::write(
        &broken,
        "<html><body><script>notAFunction();</script></body></html>",
    )
    .unwrap();
    let (_, err) = browse(&broken, &profile, &["--dump-dom"]);
    assert!(
        !console_errors(&err).is_empty(),
        "a script error went unseen:\n{err}"
    );

    let (dom, err) = browse(&page, &profile, &["--dump-dom"]);
    assert!(
        console_errors(&err).is_empty(),
        "console: {:?}",
        console_errors(&err)
    );
    // The page's script ran (it counts the bars into the root element).
    let bars: usize = dom
        .split("data-bars=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the script did not run:\n{}", &dom[..dom.len().min(400)]));
    assert!(bars >= 10, "{bars} bars");
    // Every chart has bars with data.
    for chart in ["timeline", "kinds", "addresses", "networks", "users"] {
        let at = dom
            .find(&format!("id=\"{chart}\""))
            .unwrap_or_else(|| panic!("no chart {chart}"));
        let svg = &dom[at..at + dom[at..].find("</svg>").unwrap()];
        let counts: Vec<u64> = svg
            .split("data-count=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next()?.parse().ok())
            .collect();
        assert!(counts.iter().any(|&c| c > 0), "{chart} has no data: {svg}");
    }
    assert!(
        dom.contains("192.0.2.99"),
        "the hostile attacker is in the report"
    );
    // The user name stayed text: no image element, the markup shown escaped.
    assert!(!dom.contains("<img"), "a user name became an element");
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"));

    let png = dir.path().join("report.png");
    let shot = format!("--screenshot={}", png.display());
    let (_, err) = browse(
        &page,
        &profile,
        &[&shot, "--window-size=1100,1400", "--hide-scrollbars"],
    );
    let size = fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "screenshot of {size} bytes:\n{err}");
}

/// A log of `n` failures from distinct addresses, gzip'd or not.
fn big_log(path: &Path, n: u32, gzip: bool) {
    use std::io::Write;
    let file = fs::File::create(path).unwrap();
    let mut out: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    for i in 0..n {
        writeln!(
            out,
            "2026-11-24T12:{:02}:{:02}.000000+00:00 gw1 sshd[{}]: Failed password for root from \
             10.{}.{}.{} port {} ssh2",
            i / 6000 % 60,
            i / 100 % 60,
            1000 + i,
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255,
            1024 + i % 60000
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// Runs `command` (a shell line) on a pseudo-terminal with `script`: what the terminal got.
fn on_a_terminal(command: &str) -> String {
    let out = Command::new("script")
        .args(["-qfec", command, "/dev/null"])
        .env("TZ", "UTC")
        .output()
        .expect("util-linux's script");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn long_reads_show_progress_on_a_terminal_only() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "CI must install util-linux"
        );
        eprintln!("skipped: no `script` (util-linux) to make a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("authban.toml"), "").unwrap();
    let log = dir.path().join("big.log.gz");
    // Enough for the half second after which progress shows, in a debug build; emulated
    // (packaging/cross.sh test) authban runs ten times slower, and so does writing the logs.
    let lines = if emulation::emulator().is_some() {
        40_000
    } else {
        400_000
    };
    big_log(&log, lines, true);
    let plain = dir.path().join("auth.log");
    big_log(&plain, lines, false);
    let size = fs::metadata(&log).unwrap().len() as f64 / 1e6;
    let base = format!(
        "{BIN} --config {d}/authban.toml --state-dir {d}/state --hosts-deny {d}/hosts.deny",
        d = dir.path().display()
    );
    // Events to a file, the terminal sees the progress: the share of the compressed file.
    let seen = on_a_terminal(&format!(
        "{base} check {} > {}/events",
        log.display(),
        dir.path().display()
    ));
    let draws: Vec<&str> = seen.split('\r').filter(|d| d.contains("MB/s")).collect();
    assert!(!draws.is_empty(), "no progress in {seen:?}");
    assert!(draws[0].contains(&format!(" of {size:.1} MB")), "{draws:?}");
    assert!(draws[0].contains("left  big.log.gz"), "{draws:?}");
    assert!(seen.contains("\r\x1b[K"), "the line is cleared at the end");
    // A first scan, and the report, on a terminal.
    let seen = on_a_terminal(&format!("{base} scan --dry-run {}", plain.display()));
    assert!(seen.contains("MB/s"), "no progress in the scan: {seen:?}");
    assert!(
        seen.contains(&format!("{lines} new lines read")),
        "{seen:?}"
    );
    // scan follows live logs: a compressed one is refused, not read as garbage.
    let out = Command::new(BIN)
        .args([
            "--config",
            dir.path().join("authban.toml").to_str().unwrap(),
        ])
        .args([
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
            "scan",
            "--dry-run",
        ])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is gzip-compressed"));
    let seen = on_a_terminal(&format!("{base} report {}", log.display()));
    assert!(seen.contains("MB/s"), "no progress in the report: {seen:?}");
    // Not a terminal: not a byte of it.
    let out = Command::new(BIN)
        .args([
            "--config",
            dir.path().join("authban.toml").to_str().unwrap(),
            "check",
        ])
        .arg(&log)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\r') && !err.contains("MB/s,"), "{err}");
}
