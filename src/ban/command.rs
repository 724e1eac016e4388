//! The command backend: runs the user's own program to ban and to unban, one process per
//! address, with an argument vector built from the configured one. It owns nothing on the
//! system (whatever the program changes is the program's business) and must never go
//! through a shell: placeholders are substituted inside each argument, so an address can
//! never become a second argument or a shell word.
//!
//! Placeholders: `{addr}` (the address or network in canonical text: `192.0.2.1`,
//! `2001:db8:1:2::/64`), `{family}` (`inet` or `inet6`) and `{seconds}` (what is left of
//! the ban, at least 1, or `0` when it is permanent; always `0` when unbanning). Any other
//! text in braces is passed on as written.
//!
//! A command cannot tell us what it currently holds, so [`restore`](super::Backend::restore)
//! bans everything in `all` again and lifts nothing: the program must accept a ban of an
//! address it already bans. `setup` and `teardown` do nothing.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{BackendError, BanOrder, Runner, dedup_orders, dedup_targets};
use crate::addr::Cidr;

const NAME: &str = "command";

/// A user's program for banning and unbanning.
pub struct Command {
    ban_argv: Vec<String>,
    unban_argv: Vec<String>,
    runner: Box<dyn Runner>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("ban_argv", &self.ban_argv)
            .field("unban_argv", &self.unban_argv)
            .finish_non_exhaustive()
    }
}

impl Command {
    /// Both argument vectors need a program name first; the program is found through
    /// `PATH` unless it holds a `/`.
    pub fn new(
        ban_argv: Vec<String>,
        unban_argv: Vec<String>,
        runner: Box<dyn Runner>,
    ) -> Result<Command, BackendError> {
        for (which, argv) in [("ban", &ban_argv), ("unban", &unban_argv)] {
            if argv.first().is_none_or(|p| p.is_empty()) {
                return Err(BackendError::Other {
                    backend: NAME,
                    message: format!("the {which} command is empty; give a program to run"),
                });
            }
        }
        Ok(Command {
            ban_argv,
            unban_argv,
            runner,
        })
    }

    /// Runs `argv` once per item, carrying on after failures, and reports every failure.
    fn run_each(
        &mut self,
        which: &str,
        argv: &[String],
        items: &[(Cidr, u64)],
    ) -> Result<(), BackendError> {
        let mut failures = Vec::new();
        let mut unstartable = None;
        let mut spawn_failures = 0;
        let program = argv[0].as_str();
        for &(target, seconds) in items {
            let args: Vec<String> = argv[1..]
                .iter()
                .map(|a| substitute(a, target, seconds))
                .collect();
            match self.runner.run(program, &args, None) {
                Ok(out) if out.success => {}
                Ok(out) => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let stderr = stderr.trim();
                    let reason = if stderr.is_empty() {
                        out.status
                    } else {
                        format!("{} ({stderr})", out.status)
                    };
                    failures.push((target, reason));
                }
                Err(e) => {
                    failures.push((target, format!("cannot run {program}: {e}")));
                    spawn_failures += 1;
                    unstartable.get_or_insert(e);
                }
            }
        }
        match unstartable {
            // Not one process started: the program itself is the problem, say so plainly.
            Some(source) if spawn_failures == items.len() => Err(BackendError::Spawn {
                backend: NAME,
                program: program.to_owned(),
                source,
            }),
            _ if failures.is_empty() => Ok(()),
            _ => Err(super::refused(
                NAME,
                &format!("{which} commands"),
                items.len(),
                failures,
            )),
        }
    }
}

/// Replaces the placeholders in one argument.
fn substitute(arg: &str, target: Cidr, seconds: u64) -> String {
    if !arg.contains('{') {
        return arg.to_owned();
    }
    let family = if target.net().addr().is_ipv4() {
        "inet"
    } else {
        "inet6"
    };
    // One pass, so an address can never be read again as a placeholder.
    let mut out = String::with_capacity(arg.len() + 40);
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let (value, len) = if tail.starts_with("{addr}") {
            (target.to_string(), "{addr}".len())
        } else if tail.starts_with("{family}") {
            (family.to_owned(), "{family}".len())
        } else if tail.starts_with("{seconds}") {
            (seconds.to_string(), "{seconds}".len())
        } else {
            ("{".to_owned(), 1)
        };
        out.push_str(&value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Whether `program` names an executable file, directly or through `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

impl super::Backend for Command {
    fn name(&self) -> &'static str {
        NAME
    }

    fn setup(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn ban(&mut self, bans: &[BanOrder], now: i64) -> Result<(), BackendError> {
        let items: Vec<(Cidr, u64)> = dedup_orders(bans)
            .iter()
            .map(|o| (o.target, o.remaining(now).unwrap_or(0)))
            .collect();
        let argv = self.ban_argv.clone();
        self.run_each("ban", &argv, &items)
    }

    fn unban(&mut self, targets: &[Cidr]) -> Result<(), BackendError> {
        let items: Vec<(Cidr, u64)> = dedup_targets(targets).into_iter().map(|t| (t, 0)).collect();
        let argv = self.unban_argv.clone();
        self.run_each("unban", &argv, &items)
    }

    fn restore(&mut self, all: &[BanOrder], now: i64) -> Result<(), BackendError> {
        self.ban(all, now)
    }

    fn check(&mut self) -> Result<(), BackendError> {
        for argv in [&self.ban_argv, &self.unban_argv] {
            if find_program(&argv[0]).is_none() {
                return Err(BackendError::Other {
                    backend: NAME,
                    message: format!(
                        "{} is not an executable file{}",
                        argv[0],
                        if argv[0].contains('/') {
                            ""
                        } else {
                            " in PATH"
                        }
                    ),
                });
            }
        }
        Ok(())
    }

    fn teardown(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ban::fixtures::{NOW, cidr};
    use crate::ban::{Backend, RecordedCall, RecordingRunner};

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    fn call(s: &str) -> RecordedCall {
        let mut v = argv(s);
        RecordedCall {
            program: v.remove(0),
            args: v,
            stdin: None,
        }
    }

    fn backend() -> (Command, RecordingRunner) {
        let rec = RecordingRunner::default();
        let cmd = Command::new(
            argv("/usr/local/bin/fw --ban={addr} -f {family} -t {seconds}s"),
            argv("/usr/local/bin/fw --unban {addr} {seconds}"),
            Box::new(rec.clone()),
        )
        .unwrap();
        (cmd, rec)
    }

    #[test]
    fn ban_runs_one_process_per_address_with_placeholders() {
        let (mut cmd, rec) = backend();
        cmd.ban(
            &[
                BanOrder {
                    target: cidr("203.0.113.5"),
                    expires_at: Some(NOW + 3600),
                },
                BanOrder {
                    target: cidr("2001:db8:1:2::/64"),
                    expires_at: None,
                },
            ],
            NOW,
        )
        .unwrap();
        assert_eq!(
            rec.calls(),
            vec![
                call("/usr/local/bin/fw --ban=203.0.113.5 -f inet -t 3600s"),
                call("/usr/local/bin/fw --ban=2001:db8:1:2::/64 -f inet6 -t 0s"),
            ]
        );
    }

    #[test]
    fn unban_and_restore() {
        let (mut cmd, rec) = backend();
        cmd.unban(&[cidr("2001:db8::1")]).unwrap();
        cmd.restore(
            &[BanOrder {
                target: cidr("192.0.2.1"),
                expires_at: Some(NOW - 10),
            }],
            NOW,
        )
        .unwrap();
        assert_eq!(
            rec.calls(),
            vec![
                call("/usr/local/bin/fw --unban 2001:db8::1 0"),
                call("/usr/local/bin/fw --ban=192.0.2.1 -f inet -t 1s"),
            ]
        );
    }

    #[test]
    fn hostile_text_stays_inside_its_argument() {
        let t = cidr("192.0.2.1");
        assert_eq!(substitute("{addr}; rm -rf /", t, 5), "192.0.2.1; rm -rf /");
        assert_eq!(substitute("{{addr}}", t, 5), "{192.0.2.1}");
        assert_eq!(substitute("{unknown} {", t, 5), "{unknown} {");
        assert_eq!(substitute("{seconds}{addr}", t, 5), "5192.0.2.1");
        assert_eq!(substitute("é{family}é", t, 5), "éineté");
    }

    #[test]
    fn failures_do_not_stop_the_batch_and_are_reported_together() {
        let (mut cmd, rec) = backend();
        rec.answer(RecordingRunner::fail("no route\n"));
        rec.answer(RecordingRunner::ok(""));
        rec.answer(Err(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        )));
        let bans: Vec<BanOrder> = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
            .map(|a| BanOrder {
                target: cidr(a),
                expires_at: None,
            })
            .to_vec();
        let err = cmd.ban(&bans, NOW).unwrap_err();
        assert_eq!(rec.calls().len(), 3);
        assert_eq!(
            err.to_string(),
            "command: 2 of 3 ban commands failed: 192.0.2.1: exit status: 1 (no route); \
             192.0.2.3: cannot run /usr/local/bin/fw: permission denied"
        );
    }

    #[test]
    fn check_finds_the_program() {
        let rec = RecordingRunner::default();
        let mut ok = Command::new(
            argv("true"),
            argv("/bin/true {addr}"),
            Box::new(rec.clone()),
        )
        .unwrap();
        ok.check().unwrap();
        let mut missing = Command::new(
            argv("/nonexistent/authban-fw {addr}"),
            argv("true"),
            Box::new(rec.clone()),
        )
        .unwrap();
        assert_eq!(
            missing.check().unwrap_err().to_string(),
            "command: /nonexistent/authban-fw is not an executable file"
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("fw");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let mut not_exec = Command::new(
            vec![plain.to_string_lossy().into_owned()],
            argv("true"),
            Box::new(rec.clone()),
        )
        .unwrap();
        assert!(not_exec.check().is_err());
        assert!(rec.calls().is_empty());
    }

    #[test]
    fn empty_commands_are_refused() {
        let rec = || Box::new(RecordingRunner::default());
        assert!(Command::new(vec![], argv("x"), rec()).is_err());
        assert!(Command::new(argv("x"), vec![String::new()], rec()).is_err());
    }

    #[test]
    fn missing_program_is_reported_per_address() {
        if crate::ban::fixtures::spawn_errors_are_lost("missing_program_is_reported_per_address") {
            return;
        }
        let mut cmd = Command::new(
            argv("/nonexistent/authban-fw {addr}"),
            argv("/nonexistent/authban-fw {addr}"),
            Box::new(crate::ban::SystemRunner),
        )
        .unwrap();
        let err = cmd
            .unban(&[cidr("192.0.2.1"), cidr("192.0.2.2")])
            .unwrap_err();
        assert!(matches!(err, BackendError::Spawn { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "command: cannot run /nonexistent/authban-fw: No such file or directory (os error 2)"
        );
    }
}
