//! ban: carrying out ban decisions in the places that enforce them — hosts.deny, an
//! nftables set, an ipset, a user's command. Every enforcement point implements
//! [`Backend`]; the engine talks to all of them the same way and treats the store as the
//! truth, so a backend that fails is retried and reconciled with [`Backend::restore`].
//!
//! Backends never decide anything and never read logs. External programs are started
//! through a [`Runner`] with an argument vector (never a shell), so tests can record the
//! exact arguments and standard input we would send.

pub mod command;
pub mod hosts_deny;
pub mod ipset;
pub mod nftables;

use std::fmt;
use std::io;
use std::process::{Command, Stdio};

use crate::addr::Cidr;

/// Whether `name` may be used as a table, set or chain name in a firewall command: an ASCII
/// letter or `_`, then letters, digits and `_`, at most 31 bytes (ipset's limit, the
/// strictest of our tools). Names are checked when a backend is built so that nothing from
/// a configuration file can change the meaning of a command or script.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 31
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// `orders` with each target once, in first-seen order; a target given twice keeps the
/// longest ban (permanent beats any expiry), so a batch never shortens a ban by accident.
pub fn dedup_orders(orders: &[BanOrder]) -> Vec<BanOrder> {
    let mut index: std::collections::HashMap<Cidr, usize> = std::collections::HashMap::new();
    let mut out: Vec<BanOrder> = Vec::with_capacity(orders.len());
    for order in orders {
        match index.get(&order.target) {
            Some(&i) => {
                let kept = &mut out[i];
                kept.expires_at = match (kept.expires_at, order.expires_at) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            None => {
                index.insert(order.target, out.len());
                out.push(*order);
            }
        }
    }
    out
}

/// `targets` with duplicates removed, in first-seen order.
pub fn dedup_targets(targets: &[Cidr]) -> Vec<Cidr> {
    let mut seen = std::collections::HashSet::new();
    targets
        .iter()
        .copied()
        .filter(|t| seen.insert(*t))
        .collect()
}

/// One sentence for the targets a backend could not handle, so a batch reports every
/// failure at once: `2 of 5 bans failed: 192.0.2.1: reason; 192.0.2.2: reason`. Long
/// lists are cut after ten entries.
pub fn describe_failures(what: &str, total: usize, failures: &[(Cidr, String)]) -> String {
    const SHOWN: usize = 10;
    let mut text = format!("{} of {total} {what} failed: ", failures.len());
    for (i, (target, reason)) in failures.iter().take(SHOWN).enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        text.push_str(&target.to_string());
        text.push_str(": ");
        text.push_str(reason.trim());
    }
    if failures.len() > SHOWN {
        text.push_str(&format!("; and {} more", failures.len() - SHOWN));
    }
    text
}

/// One ban as a backend needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BanOrder {
    /// A host, or a network when prefix banning is on (an IPv6 /64).
    pub target: Cidr,
    /// Unix seconds; `None` for a permanent ban.
    pub expires_at: Option<i64>,
}

impl BanOrder {
    /// Seconds left at `now` (at least 1, so a ban about to expire is not sent as
    /// "permanent" or as a zero timeout that some tools read as "no timeout").
    pub fn remaining(&self, now: i64) -> Option<u64> {
        self.expires_at
            .map(|t| u64::try_from(t.saturating_sub(now)).unwrap_or(0).max(1))
    }
}

/// Why a backend could not do what it was asked.
#[derive(Debug)]
pub enum BackendError {
    /// The program could not be started (missing binary, permissions).
    Spawn {
        backend: &'static str,
        program: String,
        source: io::Error,
    },
    /// The program ran and failed.
    Failed {
        backend: &'static str,
        program: String,
        status: String,
        stderr: String,
    },
    /// Anything else, already worded for a person.
    Other {
        backend: &'static str,
        message: String,
    },
    /// These entries were refused; every other one of the `total` was applied. The
    /// failure is the entries', not the backend's: it stays in step for the others.
    Refused {
        backend: &'static str,
        what: String,
        total: usize,
        entries: Vec<(Cidr, String)>,
    },
}

/// The error of a batch of `total` `what` of which `entries` were refused.
pub fn refused(
    backend: &'static str,
    what: &str,
    total: usize,
    entries: Vec<(Cidr, String)>,
) -> BackendError {
    BackendError::Refused {
        backend,
        what: what.to_owned(),
        total,
        entries,
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Spawn {
                backend,
                program,
                source,
            } => {
                write!(f, "{backend}: cannot run {program}: {source}")
            }
            BackendError::Failed {
                backend,
                program,
                status,
                stderr,
            } => {
                let stderr = stderr.trim();
                if stderr.is_empty() {
                    write!(f, "{backend}: {program} failed ({status})")
                } else {
                    write!(f, "{backend}: {program} failed ({status}): {stderr}")
                }
            }
            BackendError::Other { backend, message } => write!(f, "{backend}: {message}"),
            BackendError::Refused {
                backend,
                what,
                total,
                entries,
            } => write!(f, "{backend}: {}", describe_failures(what, *total, entries)),
        }
    }
}

impl std::error::Error for BackendError {}

/// How long a backend says one of its entries still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remaining {
    /// Until this unix second (a kernel set's timeout).
    Until(i64),
    /// For good (an element without a timeout).
    Permanent,
    /// The backend cannot tell (a hosts.deny line).
    Unknown,
}

impl Remaining {
    /// A kernel set element's: `expires_in` seconds after `now`; without a timeout it was
    /// written permanent (or longer than the kernel holds).
    pub fn after(now: i64, expires_in: Option<u64>) -> Remaining {
        match expires_in {
            Some(s) => Remaining::Until(now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX))),
            None => Remaining::Permanent,
        }
    }
}

/// A place where bans are enforced.
pub trait Backend: Send {
    /// Short stable name for status and logs: `nftables`, `ipset`, `hosts.deny`, `command`.
    fn name(&self) -> &'static str;
    /// Creates what the backend needs (tables, sets, rules). Idempotent.
    fn setup(&mut self) -> Result<(), BackendError>;
    /// Adds bans, in as few operations as possible. Banning an address that is already
    /// banned updates its expiry.
    fn ban(&mut self, bans: &[BanOrder], now: i64) -> Result<(), BackendError>;
    /// Lifts bans; lifting one that is not there is not an error.
    fn unban(&mut self, targets: &[Cidr]) -> Result<(), BackendError>;
    /// Makes the backend hold exactly `all` (after a start, a reload or a failure).
    fn restore(&mut self, all: &[BanOrder], now: i64) -> Result<(), BackendError>;
    /// Whether the backend is in place and working.
    fn check(&mut self) -> Result<(), BackendError>;
    /// What the backend holds now and for how long; `None` where it cannot tell (a
    /// command). A store that lost its records adopts these rather than lift them, and
    /// what is missing from them is put back.
    fn held(&mut self, _now: i64) -> Result<Option<Vec<(Cidr, Remaining)>>, BackendError> {
        Ok(None)
    }
    /// Removes everything the backend created (uninstall, or the daemon's stop policy).
    fn teardown(&mut self) -> Result<(), BackendError>;
    /// Whether the backend drops an expiring ban by itself (kernel set timeouts), so the
    /// engine need not lift it when it expires — and must not: deleting thousands of
    /// already-expired elements one by one is slow.
    fn expires_by_itself(&self) -> bool {
        false
    }

    /// Why the backend works more slowly than it should (a fast path that is off), for
    /// `status`; `None` when all is as designed.
    fn degraded(&self) -> Option<String> {
        None
    }
}

/// What a finished program returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    pub success: bool,
    /// `exit status: 1`, `signal: 9`…
    pub status: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Starts external programs. The real one runs them; tests record the calls.
pub trait Runner: Send {
    fn run(
        &mut self,
        program: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> io::Result<RunOutput>;
}

/// Runs programs for real, with an argument vector and a cleared locale (so error
/// messages are the ones tests and users search for). A program that does not finish
/// within [`RUN_TIMEOUT`] is killed: a hung `nft` or user command must not stop the
/// daemon from banning.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

/// The longest an external program may run.
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl SystemRunner {
    /// Runs with a given time limit (tests use a short one).
    pub fn run_with_timeout(
        program: &str,
        args: &[String],
        stdin: Option<&[u8]>,
        timeout: std::time::Duration,
    ) -> io::Result<RunOutput> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("LC_ALL", "C")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        // Feeding stdin on its own thread: a program that writes before it has read all
        // its input must not deadlock against us.
        let feeder = match (stdin, child.stdin.take()) {
            (Some(input), Some(mut pipe)) => {
                let input = input.to_vec();
                Some(std::thread::spawn(move || {
                    use std::io::Write;
                    // A program that exits early closes its stdin: its status says why.
                    let _ = pipe.write_all(&input);
                }))
            }
            _ => None,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(timeout) {
            Ok(out) => out?,
            Err(_) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                // The waiting thread reaps it; its pipes close with it.
                let _ = rx.recv();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("killed after {} s without finishing", timeout.as_secs()),
                ));
            }
        };
        if let Some(f) = feeder {
            let _ = f.join();
        }
        Ok(RunOutput {
            success: out.status.success(),
            status: out.status.to_string(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

impl Runner for SystemRunner {
    fn run(
        &mut self,
        program: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> io::Result<RunOutput> {
        SystemRunner::run_with_timeout(program, args, stdin, RUN_TIMEOUT)
    }
}

/// Runs `program` through `runner` and turns failure into a [`BackendError`].
pub fn run_checked(
    runner: &mut dyn Runner,
    backend: &'static str,
    program: &str,
    args: &[String],
    stdin: Option<&[u8]>,
) -> Result<RunOutput, BackendError> {
    let out = runner
        .run(program, args, stdin)
        .map_err(|source| BackendError::Spawn {
            backend,
            program: program.to_owned(),
            source,
        })?;
    if out.success {
        Ok(out)
    } else {
        Err(BackendError::Failed {
            backend,
            program: program.to_owned(),
            status: out.status.clone(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// A [`Runner`] that records every call and answers from a script: for tests. Clones
/// share one recording, so a test keeps a clone while the backend owns another.
#[derive(Debug, Default, Clone)]
pub struct RecordingRunner(std::sync::Arc<std::sync::Mutex<Recording>>);

#[derive(Debug, Default)]
struct Recording {
    calls: Vec<RecordedCall>,
    answers: std::collections::VecDeque<io::Result<RunOutput>>,
}

/// One call seen by a [`RecordingRunner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub program: String,
    pub args: Vec<String>,
    pub stdin: Option<String>,
}

impl RecordingRunner {
    /// A successful run printing `stdout`.
    pub fn ok(stdout: &str) -> io::Result<RunOutput> {
        Ok(RunOutput {
            success: true,
            status: "exit status: 0".into(),
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
        })
    }

    /// A run that exits 1 printing `stderr`.
    pub fn fail(stderr: &str) -> io::Result<RunOutput> {
        Ok(RunOutput {
            success: false,
            status: "exit status: 1".into(),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        })
    }

    /// Queues the answer to a future call; calls beyond the queue succeed silently.
    pub fn answer(&self, answer: io::Result<RunOutput>) {
        self.lock().answers.push_back(answer);
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// The calls so far, forgetting them.
    pub fn take_calls(&self) -> Vec<RecordedCall> {
        std::mem::take(&mut self.lock().calls)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recording> {
        // A panicking test thread poisons the lock; the recording is still readable.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Runner for RecordingRunner {
    fn run(
        &mut self,
        program: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> io::Result<RunOutput> {
        let mut rec = self.lock();
        rec.calls.push(RecordedCall {
            program: program.to_owned(),
            args: args.to_vec(),
            stdin: stdin.map(|s| String::from_utf8_lossy(s).into_owned()),
        });
        rec.answers
            .pop_front()
            .unwrap_or_else(|| RecordingRunner::ok(""))
    }
}

/// Fixtures the backends' unit tests share.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::io::Write;

    use super::BanOrder;
    use crate::addr::Cidr;

    /// The clock of the backends' tests.
    pub(crate) const NOW: i64 = 1_700_000_000;

    pub(crate) fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    /// A ban of `s` that ends `secs` after [`NOW`], or never.
    pub(crate) fn order(s: &str, secs: Option<i64>) -> BanOrder {
        BanOrder {
            target: cidr(s),
            expires_at: secs.map(|d| NOW + d),
        }
    }

    /// Whether `test`, which expects a spawn error, must skip: under qemu-user
    /// (`packaging/cross.sh test`) posix_spawn's exec error is lost and a missing program
    /// shows as exit status 127 (tests/support/emulation.rs has the list).
    pub(crate) fn spawn_errors_are_lost(test: &str) -> bool {
        let Some(emulator) = std::env::var_os("AUTHBAN_TEST_EMULATOR") else {
            return false;
        };
        // Straight to the handle: libtest captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "skipped under {}: {test}: spawn errors are lost",
            emulator.display()
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_hangs_is_killed_and_reported() {
        let started = std::time::Instant::now();
        let err = SystemRunner::run_with_timeout(
            "sleep",
            &["30".to_owned()],
            None,
            std::time::Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn stdin_is_fed_and_output_collected() {
        let input = vec![b'x'; 1 << 20];
        let out = SystemRunner
            .run("wc", &["-c".to_owned()], Some(&input))
            .unwrap();
        assert!(out.success);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");
        let out = SystemRunner.run("false", &[], None).unwrap();
        assert!(!out.success);
    }

    /// The engine runs `ipset restore` and `nft -f -` while other threads work. A child
    /// forked while another thread spawns holds that sibling's stdin until its own `exec`;
    /// if it never gets there, the sibling waits for the end of its input for good. Under
    /// Debian 12's qemu-user that happened (glib's slice allocator is not fork-safe;
    /// `packaging/cross.sh test` sets `G_SLICE=always-malloc`): without that setting this
    /// failed there in 3 runs of 6, with it in none of 12.
    #[test]
    fn programs_fed_from_several_threads_at_once_all_finish() {
        let feeders: Vec<_> = (0..3)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..300 {
                        let input = format!("thread {t} run {i}\n").repeat(100);
                        let out = SystemRunner::run_with_timeout(
                            "cat",
                            &[],
                            Some(input.as_bytes()),
                            std::time::Duration::from_secs(10),
                        )
                        .unwrap_or_else(|e| panic!("thread {t} run {i}: cat: {e}"));
                        assert!(out.success, "thread {t} run {i}: {}", out.status);
                        assert_eq!(out.stdout, input.as_bytes(), "thread {t} run {i}");
                    }
                })
            })
            .collect();
        for f in feeders {
            f.join().expect("every run finished with its input back");
        }
    }
}
