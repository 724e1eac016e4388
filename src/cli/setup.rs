//! `authban install | uninstall`: the systemd unit and the default configuration (the
//! work is in [`crate::install`]; this turns arguments into its options and prints its
//! report).

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Global, exit};
use crate::install::{self, InstallError, InstallOptions, Outcome, Report};

/// Install authban as a systemd service.
///
/// Writes the unit /etc/systemd/system/authban.service (hardened: runs as root with only
/// the capabilities the configured backends need, a read-only file system except
/// /var/lib/authban and /run/authban) and,
/// if there is none, the configuration /etc/authban/authban.toml with the defaults. An
/// existing configuration is never overwritten. Does not run systemctl: it prints the
/// commands to run next.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Install below this directory instead of / (to build an image or a package)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Replace an existing unit file that differs from the one authban writes
    #[arg(long)]
    pub force: bool,
    /// Let the daemon write the directory of hosts.deny (/etc) — needed by the hosts.deny
    /// backend, but it lets the daemon rewrite any file in that directory
    #[arg(long)]
    pub allow_hosts_deny: bool,
    /// The program the unit starts [default: this program]
    #[arg(long, value_name = "PATH")]
    pub exec: Option<PathBuf>,
}

/// Remove the systemd unit that `authban install` wrote.
///
/// Stop the service first: systemctl disable --now authban. The configuration
/// (/etc/authban) and the state (/var/lib/authban) are kept; delete them yourself to
/// forget everything.
#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    /// Uninstall below this directory instead of /
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

pub fn install(global: &Global, args: InstallArgs) -> u8 {
    let exec = match args.exec.clone().map_or_else(std::env::current_exe, Ok) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("authban: cannot find the path of this program: {e}; give it with --exec");
            return exit::FAILURE;
        }
    };
    let target = match target_config(global, &args.root) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let hosts_deny = args.allow_hosts_deny.then(|| {
        global
            .hosts_deny
            .clone()
            .unwrap_or_else(|| target.paths.hosts_deny.clone())
    });
    let opts = InstallOptions {
        root: args.root.clone(),
        exec,
        force: args.force,
        hosts_deny: hosts_deny.clone(),
        capabilities: install::capabilities(&target.ban.backends),
    };
    let report = match install::install_files(&opts) {
        Ok(r) => r,
        Err(e) => return install_failed(&e),
    };
    print_report(&report);
    println!("the daemon will read {}", source_of(&target, &args.root));
    let config = args.root.join(install::CONFIG_PATH);
    match &hosts_deny {
        Some(file) => println!(
            "note: the daemon may write {} (and everything beside it)",
            file.display()
        ),
        None => println!(
            "note: the daemon may not write hosts.deny (the unit keeps /etc read-only); \
             to use the hosts.deny backend, run `authban install --force --allow-hosts-deny`"
        ),
    }
    println!();
    println!("Next steps:");
    println!(
        "  authban config check --config {}   # review the configuration",
        config.display()
    );
    if args.root != Path::new("/") {
        println!("  (on the system booted from {})", args.root.display());
    }
    println!("  systemctl daemon-reload && systemctl enable --now authban");
    println!("  authban status");
    exit::OK
}

pub fn uninstall(global: &Global, args: UninstallArgs) -> u8 {
    let report = match install::uninstall_files(&args.root) {
        Ok(r) => r,
        Err(e) => return install_failed(&e),
    };
    print_report(&report);
    let mut code = exit::OK;
    // The firewall is the running system's: only when uninstalling from it.
    if args.root == Path::new("/") {
        let config = match crate::config::load(global.config.as_deref()) {
            Ok((c, _)) => c,
            Err(e) => {
                eprintln!("authban: {e}");
                return exit::CONFIG;
            }
        };
        for (name, result) in crate::engine::remove_firewall(&config) {
            match result {
                Ok(()) => println!("removed authban's {name} rules and sets"),
                Err(e) => {
                    eprintln!("authban: {e}");
                    code = exit::FAILURE;
                }
            }
        }
    }
    if report.steps.iter().any(|s| s.outcome == Outcome::Removed) {
        println!();
        println!("Next step: systemctl daemon-reload");
    }
    code
}

/// The configuration the installed daemon will run with (its backends decide the unit's
/// capabilities, its hosts.deny what the unit may write): `--config`, else the one being
/// installed below `root` if it exists, else the defaults it will be written with.
/// What the daemon of the system at `root` will read, as it decides at start: the
/// configured logs, else the first of the usual auth logs that exists there, else the
/// journal (`daemon.journal = "auto"`).
fn source_of(config: &crate::config::Config, root: &Path) -> String {
    use crate::config::JournalMode;
    if !config.paths.logs.is_empty() {
        let logs: Vec<String> = config
            .paths
            .logs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return format!("the configured logs: {}", logs.join(", "));
    }
    match (crate::source::default_log(root), config.daemon.journal) {
        (Some(log), JournalMode::Always) => format!("{log} and the systemd journal"),
        (Some(log), _) => log.to_owned(),
        (None, JournalMode::Never) => format!(
            "nothing: there is no {} and daemon.journal = \"never\"; set paths.logs or \
             daemon.journal",
            crate::source::DEFAULT_LOGS.join(" or ")
        ),
        (None, _) => format!(
            "the systemd journal: there is no {} (Debian 12 and Raspberry Pi OS 12 install \
             no syslog daemon; sshd logs only to the journal)",
            crate::source::DEFAULT_LOGS.join(" or ")
        ),
    }
}

fn target_config(global: &Global, root: &Path) -> Result<crate::config::Config, u8> {
    let in_root = root.join(install::CONFIG_PATH);
    let config = global
        .config
        .clone()
        .or_else(|| in_root.exists().then_some(in_root));
    let (config, _) = crate::config::load(config.as_deref()).map_err(|e| {
        eprintln!("authban: {e}");
        exit::CONFIG
    })?;
    Ok(config)
}

fn print_report(report: &Report) {
    for step in &report.steps {
        let path = step.path.display();
        match step.outcome {
            Outcome::Written => println!("wrote {path}"),
            Outcome::Unchanged => println!("unchanged {path}"),
            Outcome::Removed => println!("removed {path}"),
            Outcome::Absent => println!("not installed: {path} does not exist"),
            Outcome::Kept if step.path.ends_with(install::STATE_PATH) => {
                println!("kept {path} (the state: bans and history; delete it to forget them)")
            }
            Outcome::Kept => {
                println!("kept {path} (an existing configuration is never overwritten)")
            }
        }
    }
    for note in &report.notes {
        println!("note: {note}");
    }
}

fn install_failed(e: &InstallError) -> u8 {
    eprintln!("authban: {e}");
    match e {
        InstallError::Io { source, .. } => {
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                eprintln!("authban: run this as root");
            }
            exit::IOERR
        }
        _ => exit::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::{CONFIG_PATH, UNIT_PATH};

    fn global() -> Global {
        Global {
            config: None,
            state_dir: None,
            hosts_deny: None,
        }
    }

    #[test]
    fn install_then_uninstall_through_the_cli() {
        let root = tempfile::tempdir().unwrap();
        let args = InstallArgs {
            root: root.path().to_path_buf(),
            force: false,
            allow_hosts_deny: true,
            exec: Some(PathBuf::from("/usr/sbin/authban")),
        };
        assert_eq!(install(&global(), args.clone()), exit::OK);
        let unit = std::fs::read_to_string(root.path().join(UNIT_PATH)).unwrap();
        assert!(unit.lines().any(|l| l == "ReadWritePaths=/etc"), "{unit}");
        assert_eq!(install(&global(), args), exit::OK);
        let foreign = InstallArgs {
            root: root.path().to_path_buf(),
            force: false,
            allow_hosts_deny: false,
            exec: Some(PathBuf::from("/usr/sbin/authban")),
        };
        assert_eq!(install(&global(), foreign), exit::FAILURE);
        let args = UninstallArgs {
            root: root.path().to_path_buf(),
        };
        assert_eq!(uninstall(&global(), args), exit::OK);
        assert!(!root.path().join(UNIT_PATH).exists());
        assert!(root.path().join(CONFIG_PATH).exists());
    }
}
