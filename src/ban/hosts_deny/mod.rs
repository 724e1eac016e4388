//! The hosts.deny backend: owns authban's block of entries in `/etc/hosts.deny` (or the
//! configured path) and nothing else in that file.
//!
//! [`HostsDeny::apply`] makes the block list exactly the wanted addresses and networks, leaving every
//! byte outside it as it was, and replaces the file atomically under an exclusive `flock`
//! so that concurrent authban runs never lose or interleave lines. It decides nothing about
//! who deserves a ban: that is `detect`'s job. The text handling is in [`syntax`], pure and
//! tested on bytes.

mod backend;
mod syntax;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use backend::HostsDenyBackend;
pub use syntax::{Covers, Denial};

use crate::addr::Cidr;

/// How long [`HostsDeny::apply`] waits for another process's lock before giving up.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Mode of a hosts.deny that authban creates: world-readable, as libwrap in every daemon
/// must read it.
const NEW_FILE_MODE: u32 = 0o644;

/// Whether `name` may appear in the daemon list of our entries: `ALL` or a plain process
/// name. Anything else (`:`, `,`, spaces, `EXCEPT`, `daemon@host`) would change what the
/// line means, so configuration refuses it.
pub fn is_valid_daemon(name: &str) -> bool {
    !name.is_empty()
        && !name.eq_ignore_ascii_case("EXCEPT")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// authban's view of one hosts.deny file.
#[derive(Debug, Clone)]
pub struct HostsDeny {
    path: PathBuf,
    /// The daemon list as written in our entries (`ALL`, `sshd, sshd-session`).
    daemons: String,
    daemon_names: Vec<String>,
    lock_timeout: Duration,
}

/// What [`HostsDeny::apply`] did (or, with `dry_run`, would do). Lists are sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Entries written that were not in our block before.
    pub added: Vec<Cidr>,
    /// Entries taken out of our block: expired, or now denied by a foreign line.
    pub removed: Vec<Cidr>,
    /// Wanted targets that a foreign line already denies to our daemons, so we list
    /// them no more.
    pub already_denied: Vec<Cidr>,
    /// Whether the file's bytes changed (would change, with `dry_run`).
    pub changed: bool,
}

/// Why hosts.deny could not be read or updated. After any of these the file is as it was.
#[derive(Debug)]
pub enum HostsDenyError {
    Read {
        path: PathBuf,
        source: io::Error,
    },
    Write {
        path: PathBuf,
        source: io::Error,
    },
    Lock {
        path: PathBuf,
        source: io::Error,
    },
    /// Another process held the lock for longer than the timeout.
    Busy {
        path: PathBuf,
        waited: Duration,
    },
    /// The path names a directory, device, FIFO or socket.
    NotRegular {
        path: PathBuf,
    },
    /// A daemon name that would corrupt the file (configuration normally refuses it first).
    BadDaemon {
        path: PathBuf,
        name: String,
    },
}

impl fmt::Display for HostsDenyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostsDenyError::Read { path, source } => write!(
                f,
                "cannot read {}: {source}; check that authban may read it",
                path.display()
            ),
            HostsDenyError::Write { path, source } => write!(
                f,
                "cannot update {}: {source}; it was left unchanged (check free space and that \
                 authban may write to its directory)",
                path.display()
            ),
            HostsDenyError::Lock { path, source } => write!(
                f,
                "cannot lock {}: {source}; it was left unchanged (the file system must support flock)",
                path.display()
            ),
            HostsDenyError::Busy { path, waited } => write!(
                f,
                "{} stayed locked by another process for {}s; it was left unchanged (is another \
                 authban still running?)",
                path.display(),
                waited.as_secs()
            ),
            HostsDenyError::NotRegular { path } => write!(
                f,
                "{} is not a regular file; point paths.hosts-deny at a file",
                path.display()
            ),
            HostsDenyError::BadDaemon { path, name } => write!(
                f,
                "refusing to write {}: daemon name `{name}` is not ALL or a plain process name; \
                 fix hosts-deny.daemons",
                path.display()
            ),
        }
    }
}

impl std::error::Error for HostsDenyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HostsDenyError::Read { source, .. }
            | HostsDenyError::Write { source, .. }
            | HostsDenyError::Lock { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl HostsDeny {
    /// `daemons` is the daemon list of our entries; empty means `ALL`.
    pub fn new(path: impl Into<PathBuf>, daemons: &[String]) -> HostsDeny {
        let daemon_names = if daemons.is_empty() {
            vec!["ALL".to_owned()]
        } else {
            daemons.to_vec()
        };
        HostsDeny {
            path: path.into(),
            daemons: daemon_names.join(", "),
            daemon_names,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    pub fn with_lock_timeout(mut self, timeout: Duration) -> HostsDeny {
        self.lock_timeout = timeout;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes authban's entries exactly `wanted`, addresses and networks (minus those a
    /// foreign line already denies), keeping every other byte of the file. With `dry_run`,
    /// computes the change and writes nothing. An unchanged file is not rewritten (its
    /// mtime stays).
    pub fn apply(&self, wanted: &[Cidr], dry_run: bool) -> Result<Applied, HostsDenyError> {
        if let Some(bad) = self.daemon_names.iter().find(|d| !is_valid_daemon(d)) {
            return Err(HostsDenyError::BadDaemon {
                path: self.path.clone(),
                name: bad.clone(),
            });
        }
        let mut wanted: Vec<Cidr> = wanted.to_vec();
        wanted.sort();
        wanted.dedup();

        // A symlink is followed and its target rewritten: replacing the link itself with a
        // regular file would silently detach it from wherever the admin keeps the real file.
        let target = resolve_symlinks(&self.path).map_err(|source| HostsDenyError::Read {
            path: self.path.clone(),
            source,
        })?;
        // A missing file with nothing to add is already right; don't create it.
        let create = !dry_run && !wanted.is_empty();
        let locked = self.open_locked(&target, create, !dry_run)?;
        let old = match &locked {
            Some((file, _)) => read_all(file).map_err(|source| HostsDenyError::Read {
                path: target.clone(),
                source,
            })?,
            None => Vec::new(),
        };
        let plan = syntax::plan(&old, &wanted, &self.daemon_names, &self.daemons);
        let applied = Applied {
            added: plan.added,
            removed: plan.removed,
            already_denied: plan.already_denied,
            changed: plan.changed,
        };
        if plan.changed && !dry_run {
            let meta = locked.as_ref().map(|(_, m)| m);
            replace(&target, meta, &plan.bytes).map_err(|source| HostsDenyError::Write {
                path: target.clone(),
                source,
            })?;
        }
        // The lock is released here, after the rename: a waiter then finds the path names a
        // new inode and starts over on it.
        drop(locked);
        Ok(applied)
    }

    /// The entries of authban's block now (a missing file has none).
    pub fn ours(&self) -> Result<Vec<Cidr>, HostsDenyError> {
        Ok(self
            .denied()?
            .into_iter()
            .filter(|d| d.ours)
            .filter_map(|d| match d.covers {
                Covers::Net(net) => Some(net),
                Covers::All => None,
            })
            .collect())
    }

    /// What the file currently denies to our daemons, foreign rules and ours, in file order.
    /// A missing file denies nothing.
    pub fn denied(&self) -> Result<Vec<Denial>, HostsDenyError> {
        let read_err = |source| HostsDenyError::Read {
            path: self.path.clone(),
            source,
        };
        let text = match fs::metadata(&self.path) {
            Ok(m) if !m.is_file() => {
                return Err(HostsDenyError::NotRegular {
                    path: self.path.clone(),
                });
            }
            Ok(_) => fs::read(&self.path).map_err(read_err)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(read_err(e)),
        };
        Ok(syntax::denials(&text, &self.daemon_names))
    }

    /// Opens `target` and locks it (exclusive or shared), making sure the locked file is the
    /// one the path names: another writer may have renamed a new file in between our open
    /// and our lock, and a lock on the old inode protects nothing. `None`: the file is
    /// missing and `create` is false.
    fn open_locked(
        &self,
        target: &Path,
        create: bool,
        exclusive: bool,
    ) -> Result<Option<(File, Metadata)>, HostsDenyError> {
        let read_err = |source| HostsDenyError::Read {
            path: target.to_owned(),
            source,
        };
        let started = Instant::now();
        loop {
            let file = match fs::metadata(target) {
                Ok(m) if !m.is_file() => {
                    return Err(HostsDenyError::NotRegular {
                        path: target.to_owned(),
                    });
                }
                // O_NONBLOCK: if a FIFO is swapped in after the check, open must not hang.
                Ok(_) => OpenOptions::new()
                    .read(true)
                    .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                    .open(target)
                    .map_err(read_err)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if !create {
                        return Ok(None);
                    }
                    // An empty placeholder gives concurrent creators one inode to lock.
                    match create_placeholder(target) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(source) => {
                            return Err(HostsDenyError::Write {
                                path: target.to_owned(),
                                source,
                            });
                        }
                    }
                    continue;
                }
                Err(e) => return Err(read_err(e)),
            };
            let remaining = self.lock_timeout.saturating_sub(started.elapsed());
            lock(&file, exclusive, remaining).map_err(|e| match e {
                LockFailure::Busy => HostsDenyError::Busy {
                    path: target.to_owned(),
                    waited: started.elapsed(),
                },
                LockFailure::Io(source) => HostsDenyError::Lock {
                    path: target.to_owned(),
                    source,
                },
            })?;
            let held = file.metadata().map_err(read_err)?;
            match fs::metadata(target) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    if !held.is_file() {
                        return Err(HostsDenyError::NotRegular {
                            path: target.to_owned(),
                        });
                    }
                    return Ok(Some((file, held)));
                }
                // Replaced or removed while we waited: start over on what is there now.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(read_err(e)),
            }
            if started.elapsed() > self.lock_timeout {
                return Err(HostsDenyError::Busy {
                    path: target.to_owned(),
                    waited: started.elapsed(),
                });
            }
        }
    }
}

fn create_placeholder(target: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(NEW_FILE_MODE)
        .open(target)?;
    // The umask may have narrowed the mode; libwrap in every daemon must read the file.
    file.set_permissions(fs::Permissions::from_mode(NEW_FILE_MODE))
}

enum LockFailure {
    Busy,
    Io(io::Error),
}

fn lock(file: &File, exclusive: bool, timeout: Duration) -> Result<(), LockFailure> {
    // Polling with a deadline rather than a blocking flock: a cron run must end with an
    // error, not hang forever behind a stuck process.
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let attempt = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(LockFailure::Busy);
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(fs::TryLockError::Error(e)) => return Err(LockFailure::Io(e)),
        }
    }
}

fn read_all(mut file: &File) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Follows symbolic links to the file they name (which may not exist yet).
fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(
        nix::errno::Errno::ELOOP as i32,
    ))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Points at which tests make [`replace`] fail, to prove the original survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailPoint {
    AfterTempCreated,
    BeforeRename,
}

#[cfg(test)]
thread_local! {
    static FAIL_AT: std::cell::Cell<Option<FailPoint>> = const { std::cell::Cell::new(None) };
}

fn fail_point(_point: FailPoint) -> io::Result<()> {
    #[cfg(test)]
    if FAIL_AT.with(|f| f.get()) == Some(_point) {
        return Err(io::Error::other("injected failure"));
    }
    Ok(())
}

/// Writes `bytes` to a new file beside `target` with the original's owner and mode, flushes
/// it, and renames it over `target`. On failure the temporary file is removed and `target`
/// is untouched.
fn replace(target: &Path, original: Option<&Metadata>, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = parent_dir(target);
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?
        .to_string_lossy();
    let (tmp_path, mut tmp) = loop {
        let candidate = dir.join(format!(
            ".{name}.authban-{}-{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&candidate)
        {
            Ok(file) => break (candidate, file),
            // Left behind by a crashed run with a recycled pid: pick another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let written = (|| {
        fail_point(FailPoint::AfterTempCreated)?;
        let mode = match original {
            Some(meta) => {
                let mine = tmp.metadata()?;
                // Only chown when needed, so that an unprivileged user can update a file
                // they own; chown before chmod, as chown may clear set-id bits.
                if mine.uid() != meta.uid() || mine.gid() != meta.gid() {
                    std::os::unix::fs::fchown(&tmp, Some(meta.uid()), Some(meta.gid()))?;
                }
                meta.mode() & 0o7777
            }
            None => NEW_FILE_MODE,
        };
        tmp.set_permissions(fs::Permissions::from_mode(mode))?;
        tmp.write_all(bytes)?;
        tmp.sync_all()?;
        fail_point(FailPoint::BeforeRename)?;
        fs::rename(&tmp_path, target)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }
    // The rename is done and visible. If flushing the directory fails, only durability
    // across a crash is weakened, and the next run writes the same block again, so this is
    // not worth failing the run (some file systems refuse fsync on a directory).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
