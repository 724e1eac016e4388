//! The daemon as the tests start it: a temporary directory holding its configuration,
//! log, state and hosts.deny, `authban run` started with systemd's readiness protocol,
//! and the control socket's requests. Shared by `tests/daemon.rs` and `tests/fleet.rs`.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authban::control::{self, Request, Response};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_authban");

pub struct Daemon {
    pub child: Child,
    pub notify: UnixDatagram,
}

impl Daemon {
    /// What became of a daemon that did not answer: exited, or where it is stuck. A child
    /// whose command line is still the test's never reached `exec`.
    pub fn diagnose(&mut self) -> String {
        if let Ok(Some(status)) = self.child.try_wait() {
            return format!("exited: {status}");
        }
        let proc = PathBuf::from(format!("/proc/{}", self.child.id()));
        let cmdline = fs::read(proc.join("cmdline")).unwrap_or_default();
        let stat = fs::read_to_string(proc.join("stat")).unwrap_or_default();
        let wchan = fs::read_to_string(proc.join("wchan")).unwrap_or_default();
        format!(
            "is running: state {:?}, waiting in {wchan:?}, command line {:?}",
            stat.rsplit(") ").next().and_then(|s| s.split(' ').next()),
            String::from_utf8_lossy(&cmdline).replace('\0', " ")
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Env {
    pub dir: TempDir,
}

impl Env {
    pub fn new(ban_time: &str) -> Env {
        Env::with(ban_time, "")
    }

    /// A daemon whose configuration ends with `more` (a section of the test's own).
    pub fn with(ban_time: &str, more: &str) -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        let config = format!(
            "[paths]\nlogs = [\"{log}\"]\n\
             [policy]\nthreshold = 3.0\n\
             [ban]\ntime = \"{ban_time}\"\nbackends = [\"hosts-deny\"]\n\
             [daemon]\njournal = \"never\"\n{more}",
            log = env.path("auth.log").display()
        );
        fs::write(env.path("authban.toml"), config).unwrap();
        fs::write(env.path("auth.log"), "").unwrap();
        env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn socket(&self) -> PathBuf {
        self.path("authban.sock")
    }

    pub fn start(&self) -> Daemon {
        self.start_with(Stdio::inherit())
    }

    /// Starts the daemon with its log in `daemon.log`.
    pub fn start_logging(&self) -> Daemon {
        let log = fs::File::create(self.path("daemon.log")).unwrap();
        self.start_with(Stdio::from(log))
    }

    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    pub fn start_with(&self, stderr: Stdio) -> Daemon {
        self.start_env(stderr, &[], &[])
    }

    /// Starts the daemon with more environment and more arguments to `run`.
    pub fn start_env(&self, stderr: Stdio, env: &[(&str, &str)], args: &[&str]) -> Daemon {
        let notify_path = self.path(&format!("notify-{}", rand_suffix()));
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        let patience = crate::emulation::patience(Duration::from_secs(10));
        notify.set_read_timeout(Some(patience)).unwrap();
        let child = Command::new(BIN)
            .arg("--config")
            .arg(self.path("authban.toml"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--hosts-deny")
            .arg(self.path("hosts.deny"))
            .arg("run")
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("TZ", "UTC")
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT")
            .env_remove("JOURNAL_STREAM")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut d = Daemon { child, notify };
        let mut buf = [0u8; 256];
        let n = match d.notify.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => panic!(
                "READY=1 from the daemon within {patience:?}: {e}; the daemon {}",
                d.diagnose()
            ),
        };
        let msg = String::from_utf8_lossy(&buf[..n]);
        assert!(msg.contains("READY=1"), "{msg}");
        d
    }

    pub fn append(&self, lines: &[String]) {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.path("auth.log"))
            .unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
        f.flush().unwrap();
    }

    /// `authban` with this daemon's configuration, state and hosts.deny, as an operator
    /// on its machine runs it; the caller adds the command (and `--socket` when it talks
    /// to the daemon).
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(self.path("authban.toml"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--hosts-deny")
            .arg(self.path("hosts.deny"))
            .env("TZ", "UTC");
        cmd
    }

    pub fn hosts_deny(&self) -> String {
        fs::read_to_string(self.path("hosts.deny")).unwrap_or_default()
    }

    pub fn ask(&self, req: Request) -> Response {
        control::request(
            &self.socket(),
            &req,
            crate::emulation::patience(Duration::from_secs(5)),
        )
        .expect("the daemon answers")
    }
}

pub fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `n` failed password attempts from `addr`, logged now (the daemon's window is in log
/// time, and expiry in wall time).
pub fn failures(addr: &str, n: u32, port0: u32) -> Vec<String> {
    let now = jiff::Timestamp::now();
    (0..n)
        .map(|i| {
            format!(
                "{now} gw sshd[{}]: Failed password for alice from {addr} port {} ssh2",
                7000 + port0 + i,
                40000 + port0 + i
            )
        })
        .collect()
}

pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

pub fn denies(deny: &str, addr: &str) -> bool {
    deny.lines().any(|l| l.trim_end() == format!("ALL: {addr}"))
}

pub fn signal(d: &Daemon, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.child.id() as i32), sig).unwrap();
}
