//! Every example a command's `--help` shows works as written (issue 9, Done-when): each
//! `authban …` line under `Examples:` is run word for word, from the repository's root
//! (where `examples/` is), on a machine whose configuration (`AUTHBAN_CONFIG`, as an
//! admin's /etc/authban/authban.toml would be) keeps every file inside a temporary
//! directory. The daemon's examples run against the `authban run` of its own example.
//! Banning needs root: without it those examples print `skipped: …` (in CI, where the
//! tests run as root, they always run).

#[path = "support/redis.rs"]
mod redis;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_authban");

/// Every command, as `authban --help` lists them (checked below, so a new one is not
/// forgotten).
const COMMANDS: [&[&str]; 21] = [
    &["check"],
    &["scan"],
    &["run"],
    &["status"],
    &["list"],
    &["ban"],
    &["unban"],
    &["reload"],
    &["import"],
    &["export"],
    &["fleet"],
    &["fleet", "status"],
    &["history"],
    &["explain"],
    &["report"],
    &["install"],
    &["uninstall"],
    &["config"],
    &["config", "check"],
    &["completions"],
    &["man"],
];

struct Machine {
    dir: tempfile::TempDir,
    /// The fleet's Redis, when redis-server is installed.
    redis: Option<redis::Redis>,
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let redis = redis::Redis::start("the fleet examples", "");
        let fleet = redis.as_ref().map_or_else(String::new, |r| {
            format!(
                "[fleet]\nurl = \"redis://127.0.0.1:{}\"\nnode = \"web-1\"\n",
                r.port
            )
        });
        let config = format!(
            "[paths]\nstate-dir = \"{state}\"\nhosts-deny = \"{deny}\"\nlogs = [\"{log}\"]\n\
             [ban]\nbackends = [\"hosts-deny\"]\n\
             [daemon]\njournal = \"never\"\nsocket = \"{sock}\"\n{fleet}",
            state = p.join("state").display(),
            deny = p.join("hosts.deny").display(),
            log = p.join("auth.log").display(),
            sock = p.join("authban.sock").display(),
        );
        fs::write(p.join("authban.toml"), config).unwrap();
        let attack: String = (0..5)
            .map(|i| {
                format!(
                    "2026-11-24T12:00:0{i}+00:00 gw sshd[700{i}]: Failed password for invalid user \
                     admin from 203.0.113.9 port 4000{i} ssh2\n"
                )
            })
            .collect();
        fs::write(p.join("auth.log"), attack).unwrap();
        Machine { dir, redis }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `authban` with this machine's configuration, from the repository's root.
    fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("AUTHBAN_CONFIG", self.path("authban.toml"))
            .env("TZ", "UTC")
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT");
        cmd
    }

    fn run(&self, example: &[String]) -> Output {
        let out = self.command(example).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "`authban {}` failed: {:?}\nstdout:\n{}\nstderr:\n{}",
            example.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// The examples of `authban <cmd> --help`: the words after `authban` on each line under
/// `Examples:`.
fn examples(cmd: &[&str]) -> Vec<Vec<String>> {
    let out = Command::new(BIN).args(cmd).arg("--help").output().unwrap();
    assert!(out.status.success(), "{cmd:?} --help: {out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let words: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
            assert_eq!(words[0], "authban", "an example that is not authban's: {l}");
            words[1..].to_vec()
        })
        .collect()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Waits until the daemon answers `status`.
fn wait_for_daemon(m: &Machine, daemon: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            panic!("`authban run` exited at start: {status}");
        }
        let out = m.command(&["status".to_owned()]).output().unwrap();
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon does not answer: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_help_example_works_as_written() {
    // Every command is in COMMANDS, and every command but `config` shows examples.
    let top = Command::new(BIN).arg("--help").output().unwrap();
    let top = String::from_utf8(top.stdout).unwrap();
    let listed: Vec<&str> = top
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    for c in &listed {
        assert!(COMMANDS.iter().any(|k| k == &[*c]), "{c} has no place here");
    }
    let all: Vec<(&[&str], Vec<Vec<String>>)> =
        COMMANDS.iter().map(|c| (*c, examples(c))).collect();
    for (c, ex) in &all {
        if *c != ["config"] && *c != ["fleet"] {
            assert!(
                !ex.is_empty(),
                "`authban {} --help` shows no example",
                c.join(" ")
            );
        }
    }
    let of = |name: &[&str]| -> Vec<Vec<String>> {
        all.iter().find(|(c, _)| *c == name).unwrap().1.clone()
    };

    let m = Machine::new();
    let mut ran = 0;
    for ex in of(&["check"])
        .iter()
        .chain(&of(&["config", "check"]))
        .chain(&of(&["completions"]))
        .chain(&of(&["man"]))
    {
        m.run(ex);
        ran += 1;
    }
    for ex in of(&["scan"]) {
        m.run(&ex);
        ran += 1;
    }
    let deny = fs::read_to_string(m.path("hosts.deny")).unwrap();
    assert!(
        deny.contains("ALL: 203.0.113.9"),
        "the scan examples banned nothing:\n{deny}"
    );

    // The image examples write below their --root; it is cleared before and after.
    let image = |ex: &[String]| -> Option<PathBuf> {
        let at = ex.iter().position(|w| w == "--root")?;
        Some(PathBuf::from(&ex[at + 1]))
    };
    for ex in of(&["install"]).iter().chain(&of(&["uninstall"])) {
        let root = image(ex).expect("the install examples name an image with --root");
        assert!(root.starts_with("/tmp"), "{}", root.display());
        if ex[0] == "install" {
            let _ = fs::remove_dir_all(&root);
        }
        m.run(ex);
        ran += 1;
        let unit = root.join("etc/systemd/system/authban.service");
        assert_eq!(unit.exists(), ex[0] == "install", "{}", unit.display());
    }
    for ex in of(&["install"]) {
        let _ = fs::remove_dir_all(image(&ex).unwrap());
    }

    // The daemon, from its own example; then the examples that talk to it.
    let run = of(&["run"]);
    assert_eq!(run.len(), 1, "{run:?}");
    let mut daemon = m
        .command(&run[0])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(fs::File::create(m.path("daemon.log")).unwrap()))
        .spawn()
        .unwrap();
    wait_for_daemon(&m, &mut daemon);
    ran += 1;
    for ex in of(&["status"])
        .iter()
        .chain(&of(&["list"]))
        .chain(&of(&["export"]))
    {
        m.run(ex);
        ran += 1;
    }
    if m.redis.is_some() {
        for ex in of(&["fleet", "status"]) {
            let out = m.run(&ex);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("Following:   connected") || text.contains("\"following\": true"),
                "{text}"
            );
            ran += 1;
        }
    } else {
        eprintln!("skipped: the fleet status examples: no redis-server");
    }
    if is_root() {
        for ex in of(&["import"]) {
            m.run(&ex);
            ran += 1;
        }
        let listed = String::from_utf8(m.run(&["list".to_owned()]).stdout).unwrap();
        assert!(
            listed.contains("imported from blocklist.txt"),
            "the import examples banned nothing:\n{listed}"
        );
        for ex in of(&["ban"]) {
            m.run(&ex);
            ran += 1;
        }
        let listed = String::from_utf8(m.run(&["list".to_owned()]).stdout).unwrap();
        for t in ["192.0.2.7", "198.51.100.0/24", "2001:db8::/48"] {
            assert!(listed.contains(t), "{t} is not banned:\n{listed}");
        }
        for ex in of(&["unban"]).iter().chain(&of(&["reload"])) {
            m.run(ex);
            ran += 1;
        }
        let listed = String::from_utf8(m.run(&["list".to_owned()]).stdout).unwrap();
        assert!(!listed.contains("192.0.2.7 "), "{listed}");
        assert!(!listed.contains("198.51.100.0/24"), "{listed}");
        // The history has the bans of the examples, and the lifts.
        let history = String::from_utf8(m.run(&["history".to_owned()]).stdout).unwrap();
        assert!(history.contains("lifted   192.0.2.7"), "{history}");
        assert!(
            m.redis.is_none()
                || fs::read_to_string(m.path("daemon.log"))
                    .unwrap()
                    .contains("fleet: publishing"),
        );
    } else if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("the import, ban, unban and reload examples need root, and CI runs as root");
    } else {
        eprintln!("skipped: the import, ban, unban and reload examples: they need root");
    }
    for ex in of(&["history"])
        .iter()
        .chain(&of(&["explain"]))
        .chain(&of(&["report"]))
    {
        m.run(ex);
        ran += 1;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = daemon.wait().unwrap();
    assert!(
        status.success(),
        "{status}: {}",
        fs::read_to_string(m.path("daemon.log")).unwrap()
    );
    let total: usize = all.iter().map(|(_, e)| e.len()).sum();
    if is_root() {
        assert_eq!(ran, total, "every example ran");
    }
    assert!(Path::new(&m.path("state")).exists());
}
