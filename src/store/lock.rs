//! One authban per state directory: `run` and `scan` take the same lock file before they
//! touch the store or a backend, so two daemons, or a daemon and the cron job, never read
//! the same lines or fight over the firewall. The file names its holder, for the message
//! of whoever is refused.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file in the state directory.
pub const LOCK_FILE: &str = "authban.lock";

/// Who holds the lock: written into the file as `run pid N` or `scan pid N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Run,
    Scan,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Run => "run",
            Role::Scan => "scan",
        }
    }
}

/// Held for as long as the process works on the state directory.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    Io {
        path: PathBuf,
        what: &'static str,
        source: io::Error,
    },
    /// The daemon holds it (`holder` as the file says, e.g. `run pid 1234`).
    Daemon { dir: PathBuf, holder: String },
    /// Another `scan` held it for longer than the wait.
    Busy { dir: PathBuf, holder: String },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Io { path, what, source } => {
                write!(f, "cannot {what} {}: {source}", path.display())
            }
            LockError::Daemon { dir, holder } => {
                write!(
                    f,
                    "authban {holder} already works on the state directory {}",
                    dir.display()
                )?;
                if holder.starts_with("scan ") {
                    f.write_str("; start the daemon when it has finished")
                } else {
                    f.write_str(
                        "; while the daemon runs, use it (authban status, ban, unban) instead \
                         of a second instance",
                    )
                }
            }
            LockError::Busy { dir, holder } => write!(
                f,
                "authban {holder} held the state directory {} too long; is it stuck?",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for LockError {}

/// How long a `scan` waits for another `scan` to finish.
const SCAN_WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(50);

impl InstanceLock {
    /// Takes the lock of `dir` (created if missing) for `role`. The daemon never waits: a
    /// holder means another instance. A scan waits for another scan (cron runs overlap),
    /// never for a daemon.
    pub fn acquire(dir: &Path, role: Role) -> Result<InstanceLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |what, source| LockError::Io {
            path: path.clone(),
            what,
            source,
        };
        fs::create_dir_all(dir).map_err(|e| io("create the state directory of", e))?;
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io("open the lock file", e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => return Err(io("lock", e)),
            }
            let holder = holder(&mut file);
            // A holder that has not written its name yet is read again on the next poll.
            if holder.starts_with("run ") || role == Role::Run {
                return Err(LockError::Daemon {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "(starting)".into()
                    } else {
                        holder
                    },
                });
            }
            if started.elapsed() >= SCAN_WAIT {
                return Err(LockError::Busy {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            std::thread::sleep(POLL);
        }
        let me = format!("{} pid {}\n", role.as_str(), std::process::id());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(me.as_bytes()))
            .map_err(|e| io("write the lock file", e))?;
        Ok(InstanceLock { _file: file })
    }
}

fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    text.trim().chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_refuses_any_holder_and_a_scan_refuses_a_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let held = InstanceLock::acquire(dir.path(), Role::Run).unwrap();
        let text = fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text, format!("run pid {}\n", std::process::id()));
        // flock locks belong to the open file: a second open in this process conflicts.
        for role in [Role::Run, Role::Scan] {
            let err = InstanceLock::acquire(dir.path(), role).unwrap_err();
            assert!(matches!(err, LockError::Daemon { .. }), "{err}");
            assert!(err.to_string().contains("authban run pid"), "{err}");
        }
        drop(held);
        let scan = InstanceLock::acquire(dir.path(), Role::Scan).unwrap();
        assert!(matches!(
            InstanceLock::acquire(dir.path(), Role::Run),
            Err(LockError::Daemon { .. })
        ));
        drop(scan);
    }

    #[test]
    fn a_scan_waits_for_another_scan() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(dir.path(), Role::Scan).unwrap();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || InstanceLock::acquire(&path, Role::Scan).is_ok());
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        assert!(waiter.join().unwrap());
    }
}
