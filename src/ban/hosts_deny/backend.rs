//! hosts.deny as a [`Backend`]: keeps the set of addresses authban wants denied and has
//! [`HostsDeny::apply`] write exactly that set after every change. It owns only that set;
//! the file's text and locking stay with [`HostsDeny`].
//!
//! hosts.deny has no timeouts: an expiring ban stays until the engine lifts it with
//! [`Backend::unban`]. Only single addresses are written; a network target (an IPv6 /64
//! from prefix banning) is refused with an error naming it, while the addresses of the
//! same call are still written, because our block's own reader claims single addresses only
//! and a network line it cannot read back would be left behind as foreign.
//!
//! Before the first `restore`, the wanted set starts from the addresses already in our
//! block, so a `ban` after a restart adds to the block instead of replacing it.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use super::{Covers, HostsDeny};
use crate::addr::Cidr;
use crate::ban::{Backend, BackendError, BanOrder};

const NAME: &str = "hosts.deny";

/// The hosts.deny backend.
#[derive(Debug, Clone)]
pub struct HostsDenyBackend {
    file: HostsDeny,
    /// `None` until read from the file or set by `restore`.
    wanted: Option<BTreeSet<IpAddr>>,
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

    fn wanted(&mut self) -> Result<&mut BTreeSet<IpAddr>, BackendError> {
        if self.wanted.is_none() {
            let ours = self
                .file
                .denied()
                .map_err(|e| Self::other(e.to_string()))?
                .into_iter()
                .filter(|d| d.ours)
                .filter_map(|d| match d.covers {
                    Covers::Net(net) if net.net().prefix_len() == net.net().max_prefix_len() => {
                        Some(net.net().addr())
                    }
                    _ => None,
                })
                .collect();
            self.wanted = Some(ours);
        }
        Ok(self.wanted.get_or_insert_default())
    }

    fn apply(&mut self) -> Result<(), BackendError> {
        let wanted: Vec<IpAddr> = self.wanted()?.iter().copied().collect();
        self.file
            .apply(&wanted, false)
            .map(drop)
            .map_err(|e| Self::other(e.to_string()))
    }
}

/// The single addresses among `targets`, and the networks, which hosts.deny does not get.
fn split(targets: impl Iterator<Item = Cidr>) -> (Vec<IpAddr>, Vec<Cidr>) {
    let mut hosts = Vec::new();
    let mut nets = Vec::new();
    for t in targets {
        let net = t.net();
        if net.prefix_len() == net.max_prefix_len() {
            hosts.push(net.addr());
        } else {
            nets.push(t);
        }
    }
    (hosts, nets)
}

fn refuse_networks(nets: &[Cidr]) -> Result<(), BackendError> {
    if nets.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = nets.iter().map(Cidr::to_string).collect();
    Err(HostsDenyBackend::other(format!(
        "only single addresses are written to hosts.deny; not written: {} (use the nftables \
         or ipset backend for network bans)",
        list.join(", ")
    )))
}

impl Backend for HostsDenyBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn setup(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn ban(&mut self, bans: &[BanOrder], _now: i64) -> Result<(), BackendError> {
        let (hosts, nets) = split(bans.iter().map(|b| b.target));
        if !hosts.is_empty() {
            let before = self.wanted()?.len();
            self.wanted()?.extend(hosts);
            if self.wanted()?.len() != before {
                self.apply()?;
            }
        }
        refuse_networks(&nets)
    }

    fn unban(&mut self, targets: &[Cidr]) -> Result<(), BackendError> {
        let (hosts, _nets) = split(targets.iter().copied());
        let wanted = self.wanted()?;
        let before = wanted.len();
        for h in &hosts {
            wanted.remove(h);
        }
        if wanted.len() != before {
            self.apply()?;
        }
        Ok(())
    }

    fn restore(&mut self, all: &[BanOrder], _now: i64) -> Result<(), BackendError> {
        let (hosts, nets) = split(all.iter().map(|b| b.target));
        self.wanted = Some(hosts.into_iter().collect());
        self.apply()?;
        refuse_networks(&nets)
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
    fn networks_are_refused_by_name_but_hosts_of_the_same_call_are_written() {
        let (_dir, path, mut b) = setup("");
        let err = b
            .ban(&[order("2001:db8:1:2::/64"), order("203.0.113.5")], 0)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "hosts.deny: only single addresses are written to hosts.deny; not written: \
             2001:db8:1:2::/64 (use the nftables or ipset backend for network bans)"
        );
        assert_eq!(entries(&path), ["sshd: 203.0.113.5"]);
        // Unbanning a network that was never written is not an error.
        b.unban(&[cidr("2001:db8:1:2::/64")]).unwrap();
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
