//! install: setting authban up as a systemd service, and taking that setup away again.
//! Writes the unit file and, when there is none, the configuration file; removes only
//! what it wrote. Every path is taken below a root directory, so packagers and tests can
//! build an image in a temporary directory.
//!
//! It never runs `systemctl` (the caller prints the commands to run), never overwrites a
//! configuration file, and never touches the firewall: the daemon's engine owns tearing
//! its rules down.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The unit file, relative to the root.
pub const UNIT_PATH: &str = "etc/systemd/system/authban.service";
/// The configuration file, relative to the root.
pub const CONFIG_PATH: &str = "etc/authban/authban.toml";
/// The state directory systemd creates for `StateDirectory=authban`, relative to the root.
pub const STATE_PATH: &str = "var/lib/authban";
/// The link `systemctl enable` makes for `WantedBy=multi-user.target`, relative to the root.
const WANTS_LINK: &str = "etc/systemd/system/multi-user.target.wants/authban.service";

/// The configuration written on first install: the documented defaults.
pub const EXAMPLE_CONFIG: &str = include_str!("../examples/authban.toml");

/// The first line of every unit we write: `uninstall` removes a unit only if it has it.
const MARKER: &str =
    "# authban-unit: written by `authban install`; `authban uninstall` removes it.";

/// Groups that may read the logs: Debian and Ubuntu's auth.log is group `adm` (and on
/// Ubuntu owned by `syslog`), the journal's files are group `systemd-journal`.
const LOG_GROUPS: [&str; 2] = ["adm", "systemd-journal"];

/// How to write the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOptions {
    /// The program systemd starts, as seen on the target system.
    pub exec: PathBuf,
    /// Supplementary groups of the daemon (only groups that exist: systemd refuses to
    /// start a unit naming a missing one).
    pub groups: Vec<String>,
    /// Directories the daemon may write besides its state and runtime directories; the
    /// directory of hosts.deny when that backend is used.
    pub writable: Vec<PathBuf>,
    /// The capabilities the daemon keeps: [`capabilities`] of the configured backends.
    pub capabilities: Vec<&'static str>,
}

/// The capabilities the backends need, and no more. nft and ipset change the firewall
/// over netlink (CAP_NET_ADMIN). iptables opens a raw socket to read and change its
/// tables, and `-m set` is refused without CAP_NET_RAW: the ipset backend needs both. A
/// ban command may run either. hosts.deny is a root-owned file: it needs none. `auto`
/// becomes nftables wherever nft is installed, so it keeps CAP_NET_ADMIN.
pub fn capabilities(backends: &[crate::config::BackendKind]) -> Vec<&'static str> {
    use crate::config::BackendKind as K;
    let mut caps = Vec::new();
    for b in backends {
        let need: &[&'static str] = match b {
            K::Nftables | K::Auto => &["CAP_NET_ADMIN"],
            K::Ipset | K::Command => &["CAP_NET_ADMIN", "CAP_NET_RAW"],
            K::HostsDeny => &[],
        };
        for c in need {
            if !caps.contains(c) {
                caps.push(*c);
            }
        }
    }
    caps.sort_unstable();
    caps
}

/// What `authban install` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// Everything is written below this directory (`/` for the running system).
    pub root: PathBuf,
    /// The program the unit starts; a path below `root` is written as seen from inside it.
    pub exec: PathBuf,
    /// Replace an existing unit file that differs from ours.
    pub force: bool,
    /// The hosts.deny file the daemon edits, if it is to be allowed to (see the unit).
    pub hosts_deny: Option<PathBuf>,
    /// The capabilities the unit keeps ([`capabilities`] of the configured backends).
    pub capabilities: Vec<&'static str>,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// Already had the content we would write.
    Unchanged,
    /// Left as it was on purpose (a configuration, the state).
    Kept,
    Removed,
    /// Was not there.
    Absent,
}

/// One file and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// What install or uninstall did, file by file, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub steps: Vec<Step>,
    /// Things the administrator should know (a group that is missing…).
    pub notes: Vec<String>,
}

impl Report {
    fn push(&mut self, path: PathBuf, outcome: Outcome) {
        self.steps.push(Step { path, outcome });
    }

    /// What happened to `path`, if it was touched.
    pub fn outcome(&self, path: &Path) -> Option<Outcome> {
        self.steps
            .iter()
            .find(|s| s.path == path)
            .map(|s| s.outcome)
    }
}

/// Why install or uninstall stopped.
#[derive(Debug)]
pub enum InstallError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// A unit file with other content exists and `--force` was not given.
    UnitExists {
        path: PathBuf,
        ours: bool,
    },
    /// The unit file was not written by authban: uninstall leaves it.
    ForeignUnit {
        path: PathBuf,
    },
    /// The program cannot be started by the unit from where it is.
    Exec {
        path: PathBuf,
        why: &'static str,
    },
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            InstallError::UnitExists { path, ours: true } => write!(
                f,
                "{} exists and differs from the unit this authban writes (edited, or written \
                 by another version); keep local changes in a drop-in (systemctl edit authban) \
                 and run `authban install --force` to replace it",
                path.display()
            ),
            InstallError::UnitExists { path, ours: false } => write!(
                f,
                "{} exists and was not written by authban; move it away or run \
                 `authban install --force` to replace it",
                path.display()
            ),
            InstallError::ForeignUnit { path } => write!(
                f,
                "{} was not written by `authban install` (its first line is not authban's \
                 marker); remove it yourself if it should go",
                path.display()
            ),
            InstallError::Exec { path, why } => {
                write!(f, "the unit cannot start {}: {why}", path.display())
            }
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that systemd can start `exec` under the unit's sandbox, and returns it as
/// written in `ExecStart=`.
pub fn check_exec(exec: &Path) -> Result<String, InstallError> {
    let bad = |why| InstallError::Exec {
        path: exec.to_path_buf(),
        why,
    };
    if !exec.is_absolute() {
        return Err(bad("the path is not absolute"));
    }
    let text = exec.to_str().ok_or_else(|| bad("the path is not UTF-8"))?;
    // Spaces, quotes, `%` (a unit specifier) and `$` would need quoting in ExecStart=;
    // paths of installed programs never have them.
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._+-".contains(&b))
    {
        return Err(bad(
            "its path has characters other than letters, digits and / . _ + -; \
             install it to /usr/local/sbin/authban and run that",
        ));
    }
    // The sandbox hides these from the service: systemd would fail with status 203/EXEC.
    for hidden in ["/home", "/root", "/run/user", "/tmp", "/var/tmp"] {
        if exec.starts_with(hidden) {
            return Err(bad(
                "ProtectHome= and PrivateTmp= hide that directory from the service; \
                 install the program first (install -m 755 PROGRAM /usr/local/sbin/authban) \
                 and run `/usr/local/sbin/authban install`",
            ));
        }
    }
    Ok(text.to_owned())
}

/// The unit file's text.
pub fn unit_text(opts: &UnitOptions) -> Result<String, InstallError> {
    let exec = check_exec(&opts.exec)?;
    let mut unit = String::new();
    let mut line = |s: &str| {
        unit.push_str(s);
        unit.push('\n');
    };
    line(MARKER);
    line("# Local changes belong in a drop-in (systemctl edit authban): `authban install --force`");
    line("# rewrites this file.");
    line("[Unit]");
    line("Description=authban: bans addresses that attack sshd");
    // nftables.service (and firewalld, ipset) flush or restore the ruleset when they start:
    // authban comes after them so that its table is not wiped at boot.
    line(
        "After=network-pre.target nftables.service firewalld.service ipset.service systemd-journald.service",
    );
    line("");
    line("[Service]");
    // The daemon tells systemd when its sources follow the logs and the bans are restored.
    line("Type=notify");
    line("NotifyAccess=main");
    line(&format!("ExecStart={exec} run"));
    line("ExecReload=/bin/kill -HUP $MAINPID");
    line("Restart=on-failure");
    line("RestartSec=5s");
    line("");
    line("# Privileges. The daemon runs as root, limited to the capabilities its backends need");
    line("# (`authban install` reads ban.backends): CAP_NET_ADMIN for nft and ipset to change the");
    line("# firewall over netlink, CAP_NET_RAW for iptables' raw socket (the ipset backend), none");
    line("# for hosts.deny alone. After changing ban.backends, run `authban install --force`.");
    line(
        "# Reading the logs needs no capability: as root it owns the journal's files and /var/log/secure, and auth.log",
    );
    line("# (group adm, owned by syslog on Ubuntu) is readable through the groups below, which");
    line("# is narrower than CAP_DAC_READ_SEARCH (that would read every file on the system).");
    line("# Without CAP_DAC_OVERRIDE it cannot write files it does not own. The bounding set is");
    line("# final: no child (nft, a ban command) regains a dropped capability.");
    line(&format!(
        "CapabilityBoundingSet={}",
        opts.capabilities.join(" ")
    ));
    if opts.groups.is_empty() {
        line("# No log group (adm, systemd-journal) exists on this system.");
    } else {
        line(&format!("SupplementaryGroups={}", opts.groups.join(" ")));
    }
    line("NoNewPrivileges=yes");
    line("");
    line("# Sandbox. The whole file system is read-only except the state directory");
    line("# (/var/lib/authban), the runtime directory (/run/authban: the control socket)");
    line("# and the paths listed in ReadWritePaths=. A state-dir or control socket moved");
    line("# elsewhere in authban.toml must be added there (systemctl edit authban).");
    line("ProtectSystem=strict");
    line("ProtectHome=yes");
    line("PrivateTmp=yes");
    line("PrivateDevices=yes");
    // Kernel modules nft needs (nf_tables, set types) are loaded by the kernel on demand
    // or by nftables.service, neither of which this forbids.
    line("ProtectKernelTunables=yes");
    line("ProtectKernelModules=yes");
    line("ProtectKernelLogs=yes");
    line("ProtectControlGroups=yes");
    line("ProtectClock=yes");
    line("ProtectHostname=yes");
    line("# Netlink for nft and ipset; AF_INET/AF_INET6 only for the host's addresses and ban");
    line("# commands that notify over the network.");
    line("RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6");
    line("RestrictNamespaces=yes");
    line("RestrictRealtime=yes");
    line("RestrictSUIDSGID=yes");
    line("LockPersonality=yes");
    line("MemoryDenyWriteExecute=yes");
    line("SystemCallArchitectures=native");
    line("SystemCallFilter=@system-service");
    line("SystemCallErrorNumber=EPERM");
    line("StateDirectory=authban");
    line("StateDirectoryMode=0700");
    line("RuntimeDirectory=authban");
    line("RuntimeDirectoryMode=0755");
    line("");
    line("# hosts.deny is replaced by renaming a new file over it, and a rename needs its");
    line("# directory writable: allowing the file alone (ReadWritePaths=/etc/hosts.deny) does");
    line("# not work. Allowing /etc lets the daemon, as root, rewrite any root-owned file in");
    line("# /etc (passwd, sudoers), undoing much of ProtectSystem=. So it is opt-in:");
    line("# `authban install --allow-hosts-deny` adds it; the firewall backends need no file.");
    if opts.writable.is_empty() {
        line("#ReadWritePaths=/etc");
    } else {
        let dirs: Vec<String> = opts
            .writable
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        line(&format!("ReadWritePaths={}", dirs.join(" ")));
    }
    line("");
    line("[Install]");
    line("WantedBy=multi-user.target");
    Ok(unit)
}

/// Installs the unit file and, if there is none, the configuration file below
/// `opts.root`. Running it twice changes nothing.
pub fn install_files(opts: &InstallOptions) -> Result<Report, InstallError> {
    let mut report = Report::default();
    let exec = inside_root(&opts.root, &opts.exec);
    let (groups, missing) = existing_groups(&opts.root);
    for g in missing {
        report.notes.push(format!(
            "group {g} does not exist here, so the unit does not name it \
             (systemd refuses to start a unit with an unknown group)"
        ));
    }
    let writable = match &opts.hosts_deny {
        Some(file) => {
            let dir =
                file.parent()
                    .filter(|d| d.is_absolute())
                    .ok_or_else(|| InstallError::Io {
                        path: file.clone(),
                        source: io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "the hosts.deny path must be absolute",
                        ),
                    })?;
            vec![dir.to_path_buf()]
        }
        None => Vec::new(),
    };
    let unit = unit_text(&UnitOptions {
        exec,
        groups,
        writable,
        capabilities: opts.capabilities.clone(),
    })?;

    let unit_path = opts.root.join(UNIT_PATH);
    let outcome = match fs::read(&unit_path) {
        Ok(old) if old == unit.as_bytes() => Outcome::Unchanged,
        Ok(old) if !opts.force => {
            return Err(InstallError::UnitExists {
                path: unit_path,
                ours: old.starts_with(MARKER.as_bytes()),
            });
        }
        Ok(_) => {
            write_file(&unit_path, unit.as_bytes(), true)?;
            Outcome::Written
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_file(&unit_path, unit.as_bytes(), true)?;
            Outcome::Written
        }
        Err(e) => return Err(io_err(&unit_path)(e)),
    };
    report.push(unit_path, outcome);

    let config_path = opts.root.join(CONFIG_PATH);
    let outcome = if fs::symlink_metadata(&config_path).is_ok() {
        Outcome::Kept
    } else {
        // create_new: a configuration that appeared meanwhile is still never overwritten.
        match write_file(&config_path, EXAMPLE_CONFIG.as_bytes(), false) {
            Ok(()) => Outcome::Written,
            Err(InstallError::Io { source, .. })
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                Outcome::Kept
            }
            Err(e) => return Err(e),
        }
    };
    report.push(config_path, outcome);
    Ok(report)
}

/// Removes the unit file below `root` if `authban install` wrote it, and the link
/// `systemctl enable` made to it. Leaves the configuration and the state, reported as
/// kept when they exist. The firewall is not touched here.
pub fn uninstall_files(root: &Path) -> Result<Report, InstallError> {
    let mut report = Report::default();
    let unit_path = root.join(UNIT_PATH);
    match fs::read(&unit_path) {
        Ok(text) if text.starts_with(MARKER.as_bytes()) => {
            fs::remove_file(&unit_path).map_err(io_err(&unit_path))?;
            report.push(unit_path.clone(), Outcome::Removed);
        }
        Ok(_) => return Err(InstallError::ForeignUnit { path: unit_path }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.push(unit_path.clone(), Outcome::Absent);
        }
        Err(e) => return Err(io_err(&unit_path)(e)),
    }
    // The link would dangle once the unit is gone; remove it only if it names our unit,
    // as `systemctl disable` would.
    let link = root.join(WANTS_LINK);
    if let Ok(target) = fs::read_link(&link) {
        let ours = target == Path::new("/").join(UNIT_PATH) || root.join(&target) == unit_path;
        if ours {
            fs::remove_file(&link).map_err(io_err(&link))?;
            report.push(link, Outcome::Removed);
        }
    }
    for kept in [CONFIG_PATH, STATE_PATH] {
        let path = root.join(kept);
        if path.exists() {
            report.push(path, Outcome::Kept);
        }
    }
    Ok(report)
}

/// `exec` as seen from inside `root`: an image's program is started from its own /usr.
fn inside_root(root: &Path, exec: &Path) -> PathBuf {
    match exec.strip_prefix(root) {
        Ok(rel) if root.components().any(|c| c != Component::RootDir) => Path::new("/").join(rel),
        _ => exec.to_path_buf(),
    }
}

/// The [`LOG_GROUPS`] that exist in `root`'s /etc/group, and those that do not. A root
/// without a group file (an image being built) gets them all: every systemd distribution
/// has them.
fn existing_groups(root: &Path) -> (Vec<String>, Vec<String>) {
    let Ok(text) = fs::read_to_string(root.join("etc/group")) else {
        return (LOG_GROUPS.map(String::from).to_vec(), Vec::new());
    };
    let names: Vec<&str> = text.lines().filter_map(|l| l.split(':').next()).collect();
    LOG_GROUPS
        .iter()
        .map(|g| g.to_string())
        .partition(|g| names.contains(&g.as_str()))
}

/// Writes `content` to `path` with mode 0644, creating missing directories (0755).
/// With `replace`, an existing file is replaced atomically (a new file renamed over it),
/// so systemd never reads half a unit; without, an existing file is an error.
fn write_file(path: &Path, content: &[u8], replace: bool) -> Result<(), InstallError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(io_err(dir))?;
    let target = if replace {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".authban-new");
        dir.join(name)
    } else {
        path.to_path_buf()
    };
    let result = (|| -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(!replace)
            .create(replace)
            .truncate(replace)
            .mode(0o644)
            .open(&target)?;
        // The mode above is filtered by the umask; the files must be world-readable.
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.write_all(content)?;
        file.sync_all()?;
        if replace {
            fs::rename(&target, path)?;
        }
        Ok(())
    })();
    result.map_err(|e| {
        if replace || e.kind() != io::ErrorKind::AlreadyExists {
            let _ = fs::remove_file(&target);
        }
        io_err(path)(e)
    })
}

/// Install and uninstall in a temporary root.
#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use super::*;

    const EXEC: &str = "/usr/local/sbin/authban";

    fn opts(root: &Path) -> InstallOptions {
        InstallOptions {
            root: root.to_path_buf(),
            exec: PathBuf::from(EXEC),
            force: false,
            hosts_deny: None,
            capabilities: capabilities(&[crate::config::BackendKind::Auto]),
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn unit(root: &Path) -> String {
        fs::read_to_string(root.join(UNIT_PATH)).unwrap()
    }

    #[test]
    fn install_writes_the_unit_and_the_config_world_readable() {
        let root = tempfile::tempdir().unwrap();
        let report = install_files(&opts(root.path())).unwrap();
        let unit_path = root.path().join(UNIT_PATH);
        let config_path = root.path().join(CONFIG_PATH);
        assert_eq!(report.outcome(&unit_path), Some(Outcome::Written));
        assert_eq!(report.outcome(&config_path), Some(Outcome::Written));
        assert_eq!(fs::read_to_string(&config_path).unwrap(), EXAMPLE_CONFIG);
        assert_eq!(mode(&unit_path), 0o644);
        assert_eq!(mode(&config_path), 0o644);
        assert_eq!(mode(unit_path.parent().unwrap()), 0o755);
        assert!(unit(root.path()).starts_with(MARKER));
    }

    #[test]
    fn the_unit_has_every_required_directive() {
        let root = tempfile::tempdir().unwrap();
        install_files(&opts(root.path())).unwrap();
        let text = unit(root.path());
        let directives: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .collect();
        for want in [
            "Type=notify",
            "NotifyAccess=main",
            "ExecStart=/usr/local/sbin/authban run",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "CapabilityBoundingSet=CAP_NET_ADMIN",
            "SupplementaryGroups=adm systemd-journal",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6",
            "RestrictNamespaces=yes",
            "LockPersonality=yes",
            "MemoryDenyWriteExecute=yes",
            "SystemCallArchitectures=native",
            "StateDirectory=authban",
            "RuntimeDirectory=authban",
            "WantedBy=multi-user.target",
        ] {
            assert!(directives.contains(&want), "missing {want}:\n{text}");
        }
        assert!(directives.iter().any(|l| l.starts_with("After=")
            && l.contains("nftables.service")
            && l.contains("network-pre.target")));
        // No write access to /etc unless asked for.
        assert!(!directives.iter().any(|l| l.starts_with("ReadWritePaths=")));
        // No capability to read every file: the log groups do that job.
        assert!(!text.contains("CapabilityBoundingSet=CAP_NET_ADMIN CAP_DAC"));
    }

    #[test]
    fn the_capabilities_are_exactly_what_the_backends_need() {
        use crate::config::BackendKind as K;
        assert_eq!(capabilities(&[K::Auto]), ["CAP_NET_ADMIN"]);
        assert_eq!(capabilities(&[K::Nftables]), ["CAP_NET_ADMIN"]);
        assert_eq!(
            capabilities(&[K::Ipset, K::HostsDeny]),
            ["CAP_NET_ADMIN", "CAP_NET_RAW"]
        );
        assert!(capabilities(&[K::HostsDeny]).is_empty());
        let root = tempfile::tempdir().unwrap();
        let mut o = opts(root.path());
        o.capabilities = capabilities(&[K::Ipset]);
        install_files(&o).unwrap();
        assert!(
            unit(root.path())
                .lines()
                .any(|l| l == "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW")
        );
    }

    #[test]
    fn hosts_deny_write_access_is_opt_in_and_names_its_directory() {
        let root = tempfile::tempdir().unwrap();
        install_files(&InstallOptions {
            hosts_deny: Some(PathBuf::from("/etc/hosts.deny")),
            ..opts(root.path())
        })
        .unwrap();
        assert!(
            unit(root.path())
                .lines()
                .any(|l| l == "ReadWritePaths=/etc")
        );
    }

    #[test]
    fn only_groups_that_exist_are_named() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(root.path().join("etc/group"), "root:x:0:\nadm:x:4:syslog\n").unwrap();
        let report = install_files(&opts(root.path())).unwrap();
        let text = unit(root.path());
        assert!(
            text.lines().any(|l| l == "SupplementaryGroups=adm"),
            "{text}"
        );
        assert!(report.notes[0].contains("systemd-journal does not exist"));
    }

    #[test]
    fn a_second_install_changes_nothing() {
        let root = tempfile::tempdir().unwrap();
        install_files(&opts(root.path())).unwrap();
        let before = unit(root.path());
        let report = install_files(&opts(root.path())).unwrap();
        assert_eq!(
            report.outcome(&root.path().join(UNIT_PATH)),
            Some(Outcome::Unchanged)
        );
        assert_eq!(
            report.outcome(&root.path().join(CONFIG_PATH)),
            Some(Outcome::Kept)
        );
        assert_eq!(unit(root.path()), before);
    }

    #[test]
    fn an_existing_config_is_never_touched() {
        let root = tempfile::tempdir().unwrap();
        let config_path = root.path().join(CONFIG_PATH);
        fs::create_dir_all(config_path.parent().unwrap()).unwrap();
        fs::write(&config_path, "[ban]\ntime = \"1w\"\n").unwrap();
        fs::set_permissions(&config_path, fs::Permissions::from_mode(0o600)).unwrap();
        for force in [false, true] {
            let report = install_files(&InstallOptions {
                force,
                ..opts(root.path())
            })
            .unwrap();
            assert_eq!(report.outcome(&config_path), Some(Outcome::Kept));
            assert_eq!(
                fs::read_to_string(&config_path).unwrap(),
                "[ban]\ntime = \"1w\"\n"
            );
            assert_eq!(mode(&config_path), 0o600);
        }
    }

    #[test]
    fn a_foreign_or_edited_unit_is_replaced_only_with_force() {
        let root = tempfile::tempdir().unwrap();
        let unit_path = root.path().join(UNIT_PATH);
        fs::create_dir_all(unit_path.parent().unwrap()).unwrap();
        fs::write(&unit_path, "[Service]\nExecStart=/opt/other run\n").unwrap();
        let err = install_files(&opts(root.path())).unwrap_err();
        assert!(matches!(err, InstallError::UnitExists { ours: false, .. }));
        assert!(err.to_string().contains("not written by authban"));
        assert!(err.to_string().contains(&*unit_path.to_string_lossy()));
        assert!(unit(root.path()).contains("/opt/other"));

        // Our own unit, for another program path: "edited, or another version".
        install_files(&InstallOptions {
            force: true,
            ..opts(root.path())
        })
        .unwrap();
        assert!(unit(root.path()).starts_with(MARKER));
        let err = install_files(&InstallOptions {
            exec: PathBuf::from("/usr/bin/authban"),
            ..opts(root.path())
        })
        .unwrap_err();
        assert!(matches!(err, InstallError::UnitExists { ours: true, .. }));
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(unit_path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["authban.service"]);
    }

    #[test]
    fn a_program_the_sandbox_hides_or_that_needs_quoting_is_refused() {
        for (exec, why) in [
            ("/root/.cargo/bin/authban", "ProtectHome"),
            ("/home/ann/.cargo/bin/authban", "ProtectHome"),
            ("/tmp/authban", "PrivateTmp"),
            ("/opt/my tools/authban", "characters"),
            ("/opt/100%/authban", "characters"),
            ("authban", "not absolute"),
        ] {
            let root = tempfile::tempdir().unwrap();
            let err = install_files(&InstallOptions {
                exec: PathBuf::from(exec),
                ..opts(root.path())
            })
            .unwrap_err();
            assert!(err.to_string().contains(why), "{exec}: {err}");
            assert!(!root.path().join(UNIT_PATH).exists());
        }
    }

    #[test]
    fn a_program_inside_the_root_is_started_from_inside_it() {
        let root = tempfile::tempdir().unwrap();
        install_files(&InstallOptions {
            exec: root.path().join("usr/sbin/authban"),
            ..opts(root.path())
        })
        .unwrap();
        assert!(
            unit(root.path())
                .lines()
                .any(|l| l == "ExecStart=/usr/sbin/authban run")
        );
    }

    #[test]
    fn uninstall_removes_our_unit_and_its_link_and_keeps_config_and_state() {
        let root = tempfile::tempdir().unwrap();
        install_files(&opts(root.path())).unwrap();
        let link = root.path().join(WANTS_LINK);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/etc/systemd/system/authban.service", &link).unwrap();
        let other = link.with_file_name("sshd.service");
        std::os::unix::fs::symlink("/usr/lib/systemd/system/ssh.service", &other).unwrap();
        fs::create_dir_all(root.path().join(STATE_PATH)).unwrap();

        let report = uninstall_files(root.path()).unwrap();
        let unit_path = root.path().join(UNIT_PATH);
        assert_eq!(report.outcome(&unit_path), Some(Outcome::Removed));
        assert_eq!(report.outcome(&link), Some(Outcome::Removed));
        assert_eq!(
            report.outcome(&root.path().join(CONFIG_PATH)),
            Some(Outcome::Kept)
        );
        assert_eq!(
            report.outcome(&root.path().join(STATE_PATH)),
            Some(Outcome::Kept)
        );
        assert!(!unit_path.exists());
        assert!(fs::symlink_metadata(&link).is_err());
        assert!(fs::symlink_metadata(&other).is_ok());
        assert!(root.path().join(CONFIG_PATH).exists());

        // Twice: nothing left to remove, and that is fine.
        let report = uninstall_files(root.path()).unwrap();
        assert_eq!(report.outcome(&unit_path), Some(Outcome::Absent));
    }

    #[test]
    fn uninstall_leaves_a_unit_it_did_not_write() {
        let root = tempfile::tempdir().unwrap();
        let unit_path = root.path().join(UNIT_PATH);
        fs::create_dir_all(unit_path.parent().unwrap()).unwrap();
        fs::write(&unit_path, "[Service]\nExecStart=/opt/other run\n").unwrap();
        let err = uninstall_files(root.path()).unwrap_err();
        assert!(matches!(err, InstallError::ForeignUnit { .. }), "{err}");
        assert!(unit_path.exists());
    }

    /// systemd's own parser finds nothing to complain about, where systemd-analyze exists
    /// (it is not a CI prerequisite: skipped without it, even in CI).
    #[test]
    fn systemd_analyze_accepts_the_unit() {
        let dir = tempfile::tempdir().unwrap();
        for hosts_deny in [None, Some(PathBuf::from("/etc/hosts.deny"))] {
            // A program that exists, so that verify does not complain about ExecStart=.
            let text = unit_text(&UnitOptions {
                exec: PathBuf::from("/bin/true"),
                groups: LOG_GROUPS.map(String::from).to_vec(),
                writable: hosts_deny
                    .iter()
                    .map(|p| p.parent().unwrap().into())
                    .collect(),
                capabilities: vec!["CAP_NET_ADMIN", "CAP_NET_RAW"],
            })
            .unwrap();
            let path = dir.path().join("authban.service");
            fs::write(&path, text).unwrap();
            let out = match Command::new("systemd-analyze")
                .arg("verify")
                .arg(&path)
                .output()
            {
                Ok(out) => out,
                Err(e) => {
                    eprintln!("skipped: cannot run systemd-analyze: {e}");
                    return;
                }
            };
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stderr}");
            // verify reports unknown keys and bad values as warnings, with exit status 0.
            let ours: Vec<&str> = stderr
                .lines()
                .filter(|l| l.contains("authban.service"))
                .collect();
            assert!(ours.is_empty(), "{stderr}");
        }
    }
}
