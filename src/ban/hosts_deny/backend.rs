//! hosts.deny as a [`Backend`]: keeps the set of addresses authban wants denied and has
//! [`HostsDeny::apply`] write exactly that set after every change. It owns only that set;
//! the file's text and locking stay with [`HostsDeny`].
//!
//! hosts.deny has no timeouts: an expiring ban stays until the engine lifts it with
//! [`Backend::unban`]. Networks (an IPv6 /64 from prefix banning) are written in the forms
//! libwrap matches and our block's reader reads back.
//!
//! Before the first `restore`, the wanted set starts from the addresses already in our
//! block, so a `ban` after a restart adds to the block instead of replacing it.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Covers, HostsDeny};
use crate::addr::Cidr;
use crate::ban::{Backend, BackendError, BanOrder, Remaining};

const NAME: &str = "hosts.deny";

/// The hosts.deny backend.
#[derive(Debug, Clone)]
pub struct HostsDenyBackend {
    file: HostsDeny,
    /// `None` until read from the file or set by `restore`.
    wanted: Option<BTreeSet<Cidr>>,
}

impl HostsDenyBackend {
    pub fn new(file: HostsDeny) -> HostsDenyBackend {
        HostsDenyBackend { file, wanted: None }
    }

    pub fn hosts_deny(&self) -> &HostsDeny {
        &self.file
    }

    fn other(message: String) -> BackendError {
        BackendError::Other {
            backend: NAME,
            message,
        }
    }

    fn wanted(&mut self) -> Result<&mut BTreeSet<Cidr>, BackendError> {
        if self.wanted.is_none() {
            let ours = self
                .file
                .ours()
                .map_err(|e| Self::other(e.to_string()))?
                .into_iter()
                .collect();
            self.wanted = Some(ours);
        }
        Ok(self.wanted.get_or_insert_default())
    }

    fn apply(&mut self) -> Result<(), BackendError> {
        let wanted: Vec<Cidr> = self.wanted()?.iter().copied().collect();
        self.file
            .apply(&wanted, false)
            .map(drop)
            .map_err(|e| Self::other(e.to_string()))
    }
}

impl Backend for HostsDenyBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn setup(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn ban(&mut self, bans: &[BanOrder], _now: i64) -> Result<(), BackendError> {
        let wanted = self.wanted()?;
        wanted.extend(bans.iter().map(|b| b.target));
        // Even when every target was wanted already: the file may have lost them (an
        // edit), and an unchanged file is not rewritten.
        self.apply()
    }

    fn unban(&mut self, targets: &[Cidr]) -> Result<(), BackendError> {
        let wanted = self.wanted()?;
        let before = wanted.len();
        for t in targets {
            wanted.remove(t);
        }
        if wanted.len() != before {
            self.apply()?;
        }
        Ok(())
    }

    fn restore(&mut self, all: &[BanOrder], _now: i64) -> Result<(), BackendError> {
        self.wanted = Some(all.iter().map(|b| b.target).collect());
        self.apply()
    }

    /// Our block's entries, and the bans we were asked for that a line of the admin's
    /// already denies (so our block does not list them, yet the file holds them).
    fn held(&mut self, _now: i64) -> Result<Option<Vec<(Cidr, Remaining)>>, BackendError> {
        let denials = self.file.denied().map_err(|e| Self::other(e.to_string()))?;
        let mut held: Vec<(Cidr, Remaining)> = self
            .file
            .ours()
            .map_err(|e| Self::other(e.to_string()))?
            .into_iter()
            .map(|c| (c, Remaining::Unknown))
            .collect();
        if let Some(wanted) = &self.wanted {
            let foreign: Vec<Covers> = denials
                .iter()
                .filter(|d| !d.ours)
                .map(|d| d.covers)
                .collect();
            held.extend(
                wanted
                    .iter()
                    .filter(|t| foreign.iter().any(|c| c.covers(t)))
                    .map(|t| (*t, Remaining::Unknown)),
            );
        }
        Ok(Some(held))
    }

    fn check(&mut self) -> Result<(), BackendError> {
        let path = self.file.path();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // The file is replaced by a rename, so it is the directory that must be writable.
        nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).map_err(|e| {
            Self::other(format!(
                "cannot write to {} ({e}), where {} is replaced on each change",
                dir.display(),
                path.display()
            ))
        })?;
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => Err(Self::other(format!(
                "{} is not a regular file",
                path.display()
            ))),
            _ => Ok(()),
        }
    }

    fn teardown(&mut self) -> Result<(), BackendError> {
        self.wanted = Some(BTreeSet::new());
        self.apply()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(s: &str) -> BanOrder {
        BanOrder {
            target: s.parse().unwrap(),
            expires_at: Some(100),
        }
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn setup(initial: &str) -> (tempfile::TempDir, std::path::PathBuf, HostsDenyBackend) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.deny");
        if !initial.is_empty() {
            std::fs::write(&path, initial).unwrap();
        }
        let backend = HostsDenyBackend::new(HostsDeny::new(&path, &["sshd".to_owned()]));
        (dir, path, backend)
    }

    fn entries(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("sshd: "))
            .map(String::from)
            .collect()
    }

    #[test]
    fn ban_unban_restore_and_teardown_edit_our_block() {
        let (_dir, path, mut b) = setup("ALL: 198.51.100.1\n");
        b.setup().unwrap();
        b.ban(&[order("203.0.113.5"), order("2001:db8::7")], 0)
            .unwrap();
        assert_eq!(entries(&path), ["sshd: 203.0.113.5", "sshd: [2001:db8::7]"]);
        b.unban(&[cidr("203.0.113.5"), cidr("192.0.2.200")])
            .unwrap();
        assert_eq!(entries(&path), ["sshd: [2001:db8::7]"]);
        b.restore(&[order("192.0.2.1"), order("192.0.2.2")], 0)
            .unwrap();
        assert_eq!(entries(&path), ["sshd: 192.0.2.1", "sshd: 192.0.2.2"]);
        b.check().unwrap();
        b.teardown().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "ALL: 198.51.100.1\n"
        );
    }

    #[test]
    fn a_new_backend_adds_to_the_block_a_previous_run_wrote() {
        let (_dir, path, mut first) = setup("");
        first.ban(&[order("203.0.113.5")], 0).unwrap();
        let mut second = HostsDenyBackend::new(first.hosts_deny().clone());
        second.ban(&[order("203.0.113.6")], 0).unwrap();
        assert_eq!(entries(&path), ["sshd: 203.0.113.5", "sshd: 203.0.113.6"]);
    }

    #[test]
    fn networks_are_written_in_forms_libwrap_reads_and_read_back_after_a_restart() {
        let (_dir, path, mut b) = setup("");
        b.ban(
            &[
                order("2001:db8:1:2::/64"),
                order("203.0.113.5"),
                order("198.51.100.0/24"),
            ],
            0,
        )
        .unwrap();
        assert_eq!(
            entries(&path),
            [
                "sshd: 198.51.100.0/255.255.255.0",
                "sshd: 203.0.113.5",
                "sshd: [2001:db8:1:2::]/64"
            ]
        );
        // A new backend (a restart) reads the networks back as its own and lifts one.
        let mut again = HostsDenyBackend::new(b.hosts_deny().clone());
        again.unban(&[cidr("2001:db8:1:2::/64")]).unwrap();
        assert_eq!(
            entries(&path),
            ["sshd: 198.51.100.0/255.255.255.0", "sshd: 203.0.113.5"]
        );
    }

    #[test]
    fn check_needs_a_writable_directory() {
        let (_dir, _path, mut b) = setup("");
        b.check().unwrap();
        let mut missing =
            HostsDenyBackend::new(HostsDeny::new("/nonexistent/authban/hosts.deny", &[]));
        let err = missing.check().unwrap_err().to_string();
        assert!(
            err.starts_with("hosts.deny: cannot write to /nonexistent/authban"),
            "{err}"
        );
    }
}
