//! A throw-away network for end-to-end tests: a server namespace running a real sshd and two
//! client namespaces (an attacker and a friend), each joined to the server by a veth pair.
//!
//! Everything lives in namespaces and a temporary directory: the host's network, /etc and /dev
//! are never changed. Every guard cleans up on drop, so a failing assertion leaves nothing
//! behind; what a killed run leaks (namespaces, temp dir, sshd) is swept by the next one.

use std::ffi::OsStr;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Our own addresses; there is no default route in any namespace, so nothing can leave the
/// machine even if the range were in use elsewhere.
pub const SERVER_ATTACKER_SIDE: &str = "10.197.1.1";
pub const ATTACKER: &str = "10.197.1.2";
pub const SERVER_FRIEND_SIDE: &str = "10.197.2.1";
pub const FRIEND: &str = "10.197.2.2";
pub const SSH_PORT: u16 = 22;

const NETNS_PREFIX: &str = "authban-e2e-";
const SSHD: &str = "/usr/sbin/sshd";

/// Returns `true` when the test can run. Otherwise prints why and returns `false` — unless
/// `CI` is set: there a missing prerequisite fails the test, so CI can never pass by skipping.
pub fn prerequisites_met(test: &str) -> bool {
    let Err(why) = check_prerequisites() else {
        return true;
    };
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: cannot run in CI: {why}");
    }
    // Straight to the handle: libtest captures `eprintln!` of passing tests, and a skip
    // nobody sees is a skip nobody fixes.
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
    false
}

fn check_prerequisites() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (for network and mount namespaces)".into());
    }
    let tools = [
        ("ip", "iproute2"),
        ("unshare", "util-linux"),
        ("mount", "mount"),
        ("sshpass", "sshpass"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("bash", "bash"),
        ("timeout", "coreutils"),
    ];
    for (tool, package) in tools {
        if find_program(tool).is_none() {
            return Err(format!("`{tool}` not found (Debian package {package})"));
        }
    }
    // Only a libwrap-linked sshd reads hosts.deny; without it the test would measure nothing.
    let sshd =
        fs::read(SSHD).map_err(|e| format!("{SSHD}: {e} (Debian package openssh-server)"))?;
    if memchr::memmem::find(&sshd, b"libwrap.so").is_none() {
        return Err(format!(
            "{SSHD} is not linked with libwrap, so it ignores hosts.deny"
        ));
    }
    let probe = Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "cannot create network/mount namespaces here: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    // root's PATH usually has the sbin directories, but `sudo -E` or a CI runner may not.
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The result of a bounded child process.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion, killing it after `limit` so no test can hang.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Finished {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs a setup command that must succeed.
fn must<I, S>(program: &str, args: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    let shown = format!("{cmd:?}");
    let done = run_bounded(&mut cmd, Duration::from_secs(20));
    assert!(
        done.status.success(),
        "{shown} failed ({}): {}",
        done.status,
        done.stderr.trim()
    );
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A named network namespace, deleted on drop (which also destroys its veth ends).
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn add(name: String) -> Netns {
        must("ip", ["netns", "add", name.as_str()]);
        let ns = Netns { name };
        must("ip", ["-n", ns.name.as_str(), "link", "set", "lo", "up"]);
        ns
    }

    /// A command that runs `program` inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.name.as_str(), program]);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", self.name.as_str()])
            .stderr(Stdio::null())
            .status();
    }
}

/// The pid in a name made by [`Lab::start`], if that process is gone.
fn dead_owner(name: &str) -> Option<u32> {
    let pid: u32 = name
        .strip_prefix(NETNS_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()?;
    (!Path::new("/proc").join(pid.to_string()).exists()).then_some(pid)
}

/// Removes what runs killed before their guards ran (SIGKILL, a second Ctrl-C) left behind:
/// namespaces, temporary directories and an sshd still running from one of them.
fn sweep_leftovers() {
    if let Ok(list) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if dead_owner(name).is_some() {
                drop(Netns {
                    name: name.to_owned(),
                });
            }
        }
    }
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead_owner(&name).is_none() {
            continue;
        }
        let dir = entry.path();
        // Kill the sshd only if its command line names this directory: the pid may be reused.
        let pid = fs::read_to_string(dir.join("sshd.pid")).unwrap_or_default();
        let pid = pid.trim();
        let cmdline = fs::read(Path::new("/proc").join(pid).join("cmdline")).unwrap_or_default();
        let config = dir.join("sshd_config");
        if !pid.is_empty()
            && memchr::memmem::find(&cmdline, config.as_os_str().as_encoded_bytes()).is_some()
        {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// Joins `a` and `b` with a veth pair, addressing both ends in one /24. The ends are created
/// directly inside the namespaces, so their fixed names never meet the host's interfaces or
/// those of a parallel run.
/// A veth pair between two namespaces, each end with its address in a /24, up.
pub fn link(a: (&Netns, &str, &str), b: (&Netns, &str, &str)) {
    let ((a_ns, a_if, _), (b_ns, b_if, _)) = (a, b);
    must(
        "ip",
        [
            "link", "add", a_if, "netns", &a_ns.name, "type", "veth", "peer", "name", b_if,
            "netns", &b_ns.name,
        ],
    );
    for (ns, dev, addr) in [a, b] {
        must(
            "ip",
            [
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                dev,
            ],
        );
        must("ip", ["-n", &ns.name, "link", "set", dev, "up"]);
    }
}

/// A syslog daemon in miniature. sshd logs with syslog(3) to /dev/log; inside sshd's mount
/// namespace that path is our socket, and each datagram becomes one line in the format of
/// Debian 12's rsyslog (RFC 3339 time, host name, `sshd[pid]: message`). `sshd -E` would be
/// simpler, but it writes bare messages without time or pid: not what authban meets on a
/// real server.
#[derive(Debug)]
struct Syslog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Syslog {
    fn start(socket: &Path, log: &Path) -> Syslog {
        let sock = UnixDatagram::bind(socket).expect("bind the syslog socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("socket timeout");
        let mut out = fs::File::create(log).expect("create the auth log");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            while !stopping.load(Ordering::Relaxed) {
                let n = match sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(e) => panic!("syslog socket: {e}"),
                };
                let line = rsyslog_line(&buf[..n], &jiff::Zoned::now());
                out.write_all(&line).expect("write the auth log");
            }
        });
        Syslog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `<38>Nov 27 03:48:39 sshd[6680]: text` → `2026-11-27T03:48:39.123456+00:00 authban-e2e sshd[6680]: text\n`
fn rsyslog_line(datagram: &[u8], now: &jiff::Zoned) -> Vec<u8> {
    let mut rest = datagram;
    if rest.first() == Some(&b'<')
        && let Some(end) = memchr::memchr(b'>', rest)
    {
        rest = &rest[end + 1..];
    }
    // glibc's RFC 3164 time stamp, "Mmm dd hh:mm:ss ", replaced by the receive time as rsyslog does.
    if rest.len() > 16 && rest[3] == b' ' && rest[15] == b' ' {
        rest = &rest[16..];
    }
    while let Some((b'\n' | b'\0', head)) = rest.split_last() {
        rest = head;
    }
    let mut line = now
        .strftime("%Y-%m-%dT%H:%M:%S%.6f%:z authban-e2e ")
        .to_string()
        .into_bytes();
    line.extend_from_slice(rest);
    line.push(b'\n');
    line
}

/// What a client sees when it opens a TCP connection to sshd.
#[derive(Debug, PartialEq, Eq)]
pub enum Probe {
    /// sshd answered with its identification line.
    Banner(String),
    /// Accepted, then closed without a byte: libwrap refusing (it sleeps 5 s, then exits).
    ClosedWithoutBanner,
    /// Nothing within the probe's time limit.
    Silent,
    /// The TCP connection itself failed (refused, unreachable).
    ConnectFailed(String),
}

/// The whole setup: three namespaces, sshd, its log. Fields drop in order: sshd first, then
/// the log reader, the namespaces and finally the files.
#[derive(Debug)]
pub struct Lab {
    sshd: Option<Child>,
    syslog: Option<Syslog>,
    pub server: Netns,
    pub attacker: Netns,
    pub friend: Netns,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// Builds the namespaces and starts sshd; returns once sshd answers the friend.
    pub fn start(tag: &str) -> Lab {
        sweep_leftovers();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{NETNS_PREFIX}{}-{tag}-", std::process::id()))
            .tempdir()
            .expect("temp dir");
        let base = format!("{NETNS_PREFIX}{}-{tag}", std::process::id());
        let server = Netns::add(format!("{base}-srv"));
        let attacker = Netns::add(format!("{base}-atk"));
        let friend = Netns::add(format!("{base}-frd"));
        link(
            (&server, "to-attacker", SERVER_ATTACKER_SIDE),
            (&attacker, "to-server", ATTACKER),
        );
        link(
            (&server, "to-friend", SERVER_FRIEND_SIDE),
            (&friend, "to-server", FRIEND),
        );
        let mut lab = Lab {
            sshd: None,
            syslog: None,
            server,
            attacker,
            friend,
            dir,
        };
        lab.prepare_etc();
        lab.write_sshd_config();
        lab.syslog = Some(Syslog::start(&lab.path("log.sock"), &lab.auth_log()));
        lab.start_sshd();
        lab
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The auth log, as the syslog daemon writes it.
    pub fn auth_log(&self) -> PathBuf {
        self.path("auth.log")
    }

    /// The hosts.deny sshd reads: `<tmp>/etc` is mounted over /etc in sshd's namespace.
    pub fn hosts_deny(&self) -> PathBuf {
        self.path("etc/hosts.deny")
    }

    pub fn read_auth_log(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.auth_log()).unwrap_or_default()).into_owned()
    }

    /// Replaces a file of the copied /etc with our content. The copy may hold symlinks
    /// (resolv.conf often points into /run); writing through one would change the host.
    fn replace_in_etc(&self, name: &str, content: &str) {
        let path = self.path("etc").join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => panic!("remove {}: {e}", path.display()),
        }
        fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Why a whole copy of /etc: authban replaces hosts.deny by writing a temporary file and
    /// renaming it over the old one. A bind mount of the single file would pin the old inode
    /// (sshd would never see the new file, and renaming onto a mount point fails with EBUSY).
    /// With the directory mounted, a rename inside `<tmp>/etc` is what sshd's libwrap sees on
    /// its next connection, exactly as on a real server.
    fn prepare_etc(&self) {
        must(
            "cp",
            [
                OsStr::new("-a"),
                OsStr::new("/etc"),
                self.path("etc").as_os_str(),
            ],
        );
        // hosts.allow is read first and wins: it must not let the attacker through.
        self.replace_in_etc(
            "hosts.allow",
            "# authban e2e: nothing is allowed explicitly\n",
        );
        self.replace_in_etc(
            "hosts.deny",
            "# /etc/hosts.deny: list of hosts that are _not_ allowed to access the system.\n",
        );
        // No DNS server is reachable in the namespaces; fail lookups at once instead of
        // waiting for a resolver timeout.
        self.replace_in_etc("resolv.conf", "nameserver 127.0.0.1\n");
        fs::create_dir(self.path("hostdev")).expect("mkdir hostdev");
        fs::create_dir(self.path("home")).expect("mkdir home");
    }

    fn write_sshd_config(&self) {
        let key = self.path("ssh_host_ed25519_key");
        must(
            "ssh-keygen",
            [
                OsStr::new("-q"),
                OsStr::new("-t"),
                OsStr::new("ed25519"),
                OsStr::new("-N"),
                OsStr::new(""),
                OsStr::new("-f"),
                key.as_os_str(),
            ],
        );
        let config = format!(
            "Port {SSH_PORT}\n\
             AddressFamily inet\n\
             ListenAddress {SERVER_ATTACKER_SIDE}\n\
             ListenAddress {SERVER_FRIEND_SIDE}\n\
             HostKey {key}\n\
             PidFile {pid}\n\
             SyslogFacility AUTH\n\
             LogLevel INFO\n\
             UsePAM no\n\
             UseDNS no\n\
             PasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin yes\n\
             MaxAuthTries 3\n\
             LoginGraceTime 20\n\
             AuthorizedKeysFile none\n",
            key = key.display(),
            pid = self.path("sshd.pid").display(),
        );
        fs::write(self.path("sshd_config"), config).expect("write sshd_config");
    }

    fn start_sshd(&mut self) {
        // sshd re-execs itself for each connection and chroots its unprivileged child here.
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        // A private mount namespace: our /etc copy over /etc, and a /dev whose `log` is our
        // syslog socket. /dev is a fresh tmpfs with the few real nodes sshd needs, because
        // creating /dev/log on the shared devtmpfs would change the host. The script is
        // constant; the only value, our temp dir, comes in as $1.
        const SCRIPT: &str = r#"set -e
mount --bind "$1/etc" /etc
mount --rbind /dev "$1/hostdev"
mount -t tmpfs -o mode=755,size=64k authban-e2e-dev /dev
for n in null zero full random urandom tty; do
  touch "/dev/$n"
  mount --bind "$1/hostdev/$n" "/dev/$n"
done
touch /dev/log
mount --bind "$1/log.sock" /dev/log
exec /usr/sbin/sshd -D -f "$1/sshd_config"
"#;
        let stderr = fs::File::create(self.path("sshd.stderr")).expect("sshd.stderr");
        let mut cmd = self.server.command("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SCRIPT,
            "sh",
        ])
        .arg(self.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // ip, unshare and sh all exec: this child is sshd itself. It stays in our process
        // group, so a Ctrl-C that kills the test before any guard runs stops sshd too.
        .stderr(stderr);
        self.sshd = Some(cmd.spawn().expect("start sshd"));

        let mut last = None;
        let up = wait_until(Duration::from_secs(15), || {
            if let Some(status) = self.sshd.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "sshd exited at start ({status}): {}",
                    fs::read_to_string(self.path("sshd.stderr")).unwrap_or_default()
                );
            }
            let probe = self.probe(&self.friend, SERVER_FRIEND_SIDE);
            let banner = matches!(probe, Probe::Banner(_));
            last = Some(probe);
            banner
        });
        assert!(
            up,
            "sshd did not answer within 15 s (last probe: {last:?}); stderr: {}; log: {}",
            fs::read_to_string(self.path("sshd.stderr")).unwrap_or_default(),
            self.read_auth_log()
        );
    }

    /// Opens a TCP connection from `from` to sshd and reads what it says first. Bash's
    /// /dev/tcp keeps this to tools every Debian has; the address and port are arguments,
    /// not part of the script.
    pub fn probe(&self, from: &Netns, server_addr: &str) -> Probe {
        const SCRIPT: &str = r#"exec 3<>"/dev/tcp/$1/$2" || exit 97
head -n 1 <&3"#;
        let mut cmd = from.command("timeout");
        // --kill-after: a probe deaf to TERM still ends (137), failing with what it said
        // rather than hanging until run_bounded gives up.
        cmd.args([
            "--kill-after=2",
            "10",
            "bash",
            "-c",
            SCRIPT,
            "probe",
            server_addr,
        ])
        .arg(SSH_PORT.to_string());
        let done = run_bounded(&mut cmd, Duration::from_secs(20));
        match done.status.code() {
            Some(0) if done.stdout.is_empty() => Probe::ClosedWithoutBanner,
            Some(0) => Probe::Banner(done.stdout.trim_end().to_owned()),
            Some(124) => Probe::Silent,
            Some(97) => Probe::ConnectFailed(done.stderr.trim().to_owned()),
            _ => panic!("probe from {} failed: {done:?}", from.name),
        }
    }

    /// One password login with a wrong password from `from`. Returns sshpass's exit code:
    /// 5 means the server asked for a password and refused it.
    pub fn failed_login(&self, from: &Netns, server_addr: &str, user: &str) -> Option<i32> {
        let mut cmd = from.command("sshpass");
        cmd.args(["-p", "not-the-password", "ssh", "-F", "/dev/null"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "PubkeyAuthentication=no"])
            .args([
                "-o",
                "PreferredAuthentications=password,keyboard-interactive",
            ])
            .args(["-o", "NumberOfPasswordPrompts=3"])
            .args(["-o", "ConnectTimeout=5"])
            .args(["-o", "LogLevel=ERROR"])
            .args(["-p", &SSH_PORT.to_string()])
            .arg(format!("{user}@{server_addr}"))
            .arg("true")
            // Keeps ssh away from root's own ~/.ssh.
            .env("HOME", self.path("home"));
        run_bounded(&mut cmd, Duration::from_secs(20)).status.code()
    }

    /// Adds an account `name` with password hash `hash` (crypt(3)) to the server's copy of
    /// /etc; sshd reads it at the next connection.
    pub fn add_user(&self, name: &str, uid: u32, hash: &str) {
        let etc = self.path("etc");
        let append = |file: &str, line: String| {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(etc.join(file))
                .unwrap_or_else(|e| panic!("open etc/{file}: {e}"));
            f.write_all(line.as_bytes())
                .unwrap_or_else(|e| panic!("append to etc/{file}: {e}"));
        };
        append(
            "passwd",
            format!("{name}:x:{uid}:{uid}:authban e2e:/:/bin/sh\n"),
        );
        append("shadow", format!("{name}:{hash}:20000:0:99999:7:::\n"));
    }

    /// Logs in from `from` as `user` with `password` and keeps the session open for
    /// `seconds` (it runs `sleep`). The returned child is ssh; kill it to end the session.
    pub fn hold_login(
        &self,
        from: &Netns,
        server_addr: &str,
        user: &str,
        password: &str,
        seconds: u32,
    ) -> Child {
        let mut cmd = from.command("sshpass");
        cmd.args(["-p", password, "ssh", "-F", "/dev/null"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "PubkeyAuthentication=no"])
            .args(["-o", "PreferredAuthentications=password"])
            .args(["-o", "ConnectTimeout=5"])
            .args(["-o", "LogLevel=ERROR"])
            .args(["-p", &SSH_PORT.to_string()])
            .arg(format!("{user}@{server_addr}"))
            .arg(format!("sleep {seconds}"))
            .env("HOME", self.path("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.spawn().expect("start ssh")
    }

    /// The syslog socket sshd writes to (its /dev/log), open to every local user as
    /// /dev/log is.
    pub fn syslog_socket(&self) -> PathBuf {
        let sock = self.path("log.sock");
        // Reachable (not listable) through the test's private directory.
        fs::set_permissions(self.dir.path(), fs::Permissions::from_mode(0o711))
            .expect("chmod the lab's directory");
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o666)).expect("chmod log.sock");
        sock
    }

    /// The pid of sshd's listener, a process of root's named sshd.
    pub fn sshd_pid(&self) -> u32 {
        self.sshd.as_ref().expect("sshd runs").id()
    }

    /// Writes hosts.deny the way a careful program does: a new file renamed over the old.
    pub fn write_hosts_deny_by_rename(&self, content: &str) {
        let tmp = self.path("etc/.hosts.deny.new");
        fs::write(&tmp, content).expect("write hosts.deny.new");
        fs::rename(&tmp, self.hosts_deny()).expect("rename over hosts.deny");
    }

    /// Waits until the auth log has at least `n` lines for which `pred` holds.
    pub fn wait_for_log(&self, n: usize, pred: impl Fn(&str) -> bool) -> bool {
        wait_until(Duration::from_secs(10), || {
            self.read_auth_log().lines().filter(|l| pred(l)).count() >= n
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut sshd) = self.sshd.take() {
            // Only the listener: connection processes end by themselves within LoginGraceTime,
            // and the netns they live in is deleted next.
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        self.syslog.take();
        // Namespaces and the temp dir follow as fields.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_datagram_becomes_a_debian_auth_log_line() {
        let now: jiff::Zoned = "2026-11-27T03:48:39.123456+01:00[+01:00]".parse().unwrap();
        let line = rsyslog_line(
            b"<38>Nov 27 03:48:39 sshd[6680]: Failed password for root from 10.197.1.2 port 5 ssh2",
            &now,
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "2026-11-27T03:48:39.123456+01:00 authban-e2e sshd[6680]: \
             Failed password for root from 10.197.1.2 port 5 ssh2\n"
        );
    }
}
