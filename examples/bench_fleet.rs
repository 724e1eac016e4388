//! Measures a fleet for real: N release daemons, each in a network namespace of its own
//! with the nftables backend and `nft monitor new elements` watching its kernel set, all
//! sharing bans through one Debian redis-server on a Unix socket.
//!
//! - propagation: 3 failures for a fresh address appended to node 0's log in one write →
//!   the address in every other node's set (p50/p99 over `--propagation N` bans, each
//!   over every other node, and of the slowest node per ban), with 3 and `--nodes` nodes;
//! - burst: `--burst N` bans imported on node 0 → all of them in every other node's set;
//! - catch-up: the last node stopped while `--catchup N` bans are imported on node 0, then
//!   started: from its start to all of them in its set, resuming from the stream; then
//!   again as a new node (state and table removed), reading the bans in force;
//! - cost: the CPU time (user + system) of the daemons per ban applied, the idle VmRSS of
//!   a fleet-connected daemon, and Redis's memory per ban in force;
//! - `--tls N` instead: N nodes reaching Redis over TCP through a veth link each, first in
//!   plain text, then over TLS (a build with `--features tls`): propagation and idle VmRSS
//!   of both, in the same invocation.
//!
//! Propagation runs from just before the write to the moment the monitor's line is read
//! here: an upper bound. The burst and the catch-up run from the import's (or the node's)
//! start to the moment a netlink probe finds the last address in the node's set, every
//! address being checked then; the monitors are gone by then, as they cost the daemons
//! more CPU than their bans (`nft::Probe`). Needs root, nft, redis-server.
//!   cargo rustc --release --bin authban -- -C target-feature=+crt-static
//!   cargo build --release --example bench_fleet
//!   target/release/examples/bench_fleet [--nodes 20] [--propagation 200] [--burst 10000]
//!        [--catchup 100000]
//!   cargo rustc --release --features tls --bin authban -- -C target-feature=+crt-static
//!   target/release/examples/bench_fleet --tls 3 [--propagation 200]

#[path = "../tests/support/certs.rs"]
mod certs;
#[path = "support/nft.rs"]
mod nft;

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nft::{Monitor, Netns, Probe};

struct Args {
    nodes: usize,
    propagation: usize,
    burst: usize,
    catchup: usize,
    tls: usize,
}

fn args() -> Args {
    let mut a = Args {
        nodes: 20,
        propagation: 200,
        burst: 10_000,
        catchup: 100_000,
        tls: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v: usize = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} needs a number"));
        match k.as_str() {
            "--nodes" => a.nodes = v,
            "--propagation" => a.propagation = v,
            "--burst" => a.burst = v,
            "--catchup" => a.catchup = v,
            "--tls" => a.tls = v,
            _ => panic!("unknown option {k}"),
        }
    }
    a
}

/// redis-server on a Unix socket (reached from every namespace through the file system).
struct Redis {
    child: Child,
    socket: PathBuf,
}

/// Redis's plain and TLS ports, for `--tls`.
const PLAIN_PORT: u16 = 6389;
const TLS_PORT: u16 = 6390;

impl Redis {
    /// On its Unix socket; with `tcp` (a directory of certificates), also on every
    /// address, on a plain and a TLS port.
    fn start(dir: &Path, tcp: Option<&Path>) -> Redis {
        let socket = dir.join("redis.sock");
        let conf = dir.join("redis.conf");
        let listen = match tcp {
            None => "port 0\n".to_owned(),
            Some(c) => format!(
                "port {PLAIN_PORT}\ntls-port {TLS_PORT}\nbind 0.0.0.0\nprotected-mode no\n\
                 tls-cert-file {}\ntls-key-file {}\ntls-auth-clients no\n",
                c.join("server.pem").display(),
                c.join("server.key").display()
            ),
        };
        fs::write(
            &conf,
            format!(
                "{listen}unixsocket {}\nunixsocketperm 777\ndir {}\nsave \"\"\nappendonly no\n",
                socket.display(),
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, socket }
    }

    fn used_memory(&self) -> u64 {
        let out = Command::new("redis-cli")
            .arg("-s")
            .arg(&self.socket)
            .args(["INFO", "memory"])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One node: its namespace, files, monitor and daemon.
struct Node {
    ns: Netns,
    dir: PathBuf,
    /// For propagation; dropped before the burst and the catch-up (see [`Probe`]).
    mon: Option<Monitor>,
    daemon: Option<Child>,
}

impl Node {
    /// Node `i`, reaching Redis on its Unix socket.
    fn new(i: usize, root: &Path, redis: &Redis) -> Node {
        Node::with_fleet(
            i,
            root,
            &format!("url = \"unix://{}\"\n", redis.socket.display()),
            false,
        )
    }

    /// Node `i` with `fleet` in its `[fleet]`; `link`ed, its namespace reaches the root
    /// one's 10.201.i.1 through a veth pair.
    fn with_fleet(i: usize, root: &Path, fleet: &str, link: bool) -> Node {
        let ns = Netns::named(&format!("-n{i}"));
        if link {
            let host = format!("abf{}-{i}", std::process::id() % 10_000);
            let run = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
            run(Command::new("ip").args([
                "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &ns.0,
            ]));
            run(Command::new("ip").args([
                "addr",
                "add",
                &format!("10.201.{i}.1/30"),
                "dev",
                &host,
            ]));
            run(Command::new("ip").args(["link", "set", &host, "up"]));
            run(ns
                .cmd("ip")
                .args(["addr", "add", &format!("10.201.{i}.2/30"), "dev", "eth0"]));
            run(ns.cmd("ip").args(["link", "set", "eth0", "up"]));
            run(ns.cmd("ip").args(["link", "set", "lo", "up"]));
        }
        let dir = root.join(format!("n{i}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("auth.log"), "").unwrap();
        fs::write(
            dir.join("authban.toml"),
            format!(
                "[paths]\nlogs = [\"{log}\"]\n[policy]\nthreshold = 3.0\n\
                 [ban]\ntime = \"1h\"\nbackends = [\"nftables\"]\n[daemon]\njournal = \"never\"\n\
                 [fleet]\n{fleet}node = \"n{i}\"\n\
                 share = [\"detected\", \"manual\", \"imported\"]\nstream-length = 200000\n",
                log = dir.join("auth.log").display(),
            ),
        )
        .unwrap();
        let mon = Some(Monitor::start(&ns));
        let mut node = Node {
            ns,
            dir,
            mon,
            daemon: None,
        };
        node.start();
        node
    }

    fn start(&mut self) -> Instant {
        let notify_path = self.dir.join("notify");
        let _ = fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/authban");
        assert!(bin.exists(), "build target/release/authban first");
        let started = Instant::now();
        let child = self
            .ns
            .cmd(bin.to_str().unwrap())
            .arg("--config")
            .arg(self.dir.join("authban.toml"))
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .arg("run")
            .arg("--socket")
            .arg(self.dir.join("authban.sock"))
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT")
            .stdout(Stdio::null())
            .stderr(fs::File::create(self.dir.join("daemon.err")).unwrap())
            .spawn()
            .unwrap();
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).expect("READY=1 within 60 s");
        assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
        self.daemon = Some(child);
        started
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.daemon.as_ref().expect("running").id()
    }

    /// User + system CPU seconds of the daemon so far.
    fn cpu_s(&self) -> f64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after = stat.rsplit_once(')').unwrap().1;
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
        ticks / 100.0
    }

    fn rss_kib(&self) -> u64 {
        fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    fn append(&self, text: &str) -> Instant {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("auth.log"))
            .unwrap();
        let t = Instant::now();
        f.write_all(text.as_bytes()).unwrap();
        t
    }

    /// `authban import` of `addrs` on this node; returns when it started.
    fn import(&self, addrs: &[IpAddr]) -> Instant {
        let list = self.dir.join("list.txt");
        let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
        fs::write(&list, text).unwrap();
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/authban");
        let t = Instant::now();
        let out = Command::new(bin)
            .arg("--config")
            .arg(self.dir.join("authban.toml"))
            .arg("import")
            .arg(&list)
            .args(["--for", "1h", "--socket"])
            .arg(self.dir.join("authban.sock"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        t
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

fn nth(block: u8, i: usize) -> IpAddr {
    let i = i as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(
        block,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn failures(addr: IpAddr, k: usize) -> String {
    let now = jiff::Timestamp::now();
    (0..3)
        .map(|i| {
            format!(
                "{now} gw sshd[{}]: Failed password for root from {addr} port {} ssh2\n",
                7000 + (k * 3 + i) % 50_000,
                1024 + (k * 3 + i) % 60_000
            )
        })
        .collect()
}

/// Waits on every node of `nodes` for all of `want`; the latest arrival. Every node's
/// probe asks for the last of `want` in turn, so that each arrival is seen when it
/// happens; then every address is checked, and any missing is waited for.
fn wait_everywhere(nodes: &[&Node], want: &[IpAddr], limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    let mut probes: Vec<Probe> = nodes.iter().map(|n| Probe::open(&n.ns)).collect();
    let last = *want.last().expect("something to wait for");
    let mut found: Vec<Option<Instant>> = vec![None; nodes.len()];
    while found.iter().any(Option::is_none) {
        for (f, probe) in found.iter_mut().zip(&mut probes) {
            if f.is_none() && probe.has(last) {
                *f = Some(Instant::now());
            }
        }
        assert!(Instant::now() < deadline, "not everywhere within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut latest = Instant::now() - Duration::from_secs(3600);
    for ((n, probe), f) in nodes.iter().zip(&mut probes).zip(found) {
        let missing: Vec<IpAddr> = want.iter().copied().filter(|&a| !probe.has(a)).collect();
        let at = if missing.is_empty() {
            f.unwrap()
        } else {
            match probe.wait_all(&missing, deadline.saturating_duration_since(Instant::now())) {
                Ok(t) => t,
                Err(seen) => panic!(
                    "{}: {} of {} in the set\n{}",
                    n.ns.0,
                    want.len() - missing.len() + seen,
                    want.len(),
                    fs::read_to_string(n.dir.join("daemon.err")).unwrap_or_default()
                ),
            }
        };
        latest = latest.max(at);
    }
    latest
}

fn propagation(nodes: &[Node], bans: usize, block: u8) {
    let others: Vec<&Node> = nodes[1..].iter().collect();
    let mut pairs = Vec::new();
    let mut slowest = Vec::new();
    for k in 0..bans {
        let addr = nth(block, k);
        let want: HashSet<IpAddr> = [addr].into();
        let t0 = nodes[0].append(&failures(addr, k));
        let mut worst: f64 = 0.0;
        for n in &others {
            let t = n
                .mon
                .as_ref()
                .expect("a monitor")
                .wait_all(&want, Duration::from_secs(10))
                .expect("propagated");
            let ms = t.duration_since(t0).as_secs_f64() * 1e3;
            pairs.push(ms);
            worst = worst.max(ms);
        }
        slowest.push(worst);
        std::thread::sleep(Duration::from_millis(5));
    }
    pairs.sort_by(f64::total_cmp);
    slowest.sort_by(f64::total_cmp);
    println!(
        "{} nodes: propagation over {bans} bans: every pair p50 {:.2} ms, p99 {:.2} ms; \
         slowest node per ban p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        nodes.len(),
        pct(&pairs, 0.5),
        pct(&pairs, 0.99),
        pct(&slowest, 0.5),
        pct(&slowest, 0.99),
        slowest.last().unwrap()
    );
}

fn main() {
    let a = args();
    if !nix::unistd::geteuid().is_root() {
        println!("bench_fleet: needs root (network namespaces and nftables); skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    if a.tls > 0 {
        tls_against_plain(dir.path(), a.tls, a.propagation);
        return;
    }
    let redis = Redis::start(dir.path(), None);
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average before: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    for (round, count) in [3, a.nodes].into_iter().enumerate() {
        let nodes: Vec<Node> = (0..count)
            .map(|i| Node::new(round * 100 + i, dir.path(), &redis))
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        if round == 1 {
            let rss: Vec<u64> = nodes.iter().map(Node::rss_kib).collect();
            println!(
                "idle VmRSS of a fleet-connected daemon: {} to {} KiB",
                rss.iter().min().unwrap(),
                rss.iter().max().unwrap()
            );
        }
        propagation(&nodes, a.propagation, 10 + round as u8);
        if round == 0 {
            continue;
        }

        // Burst: one import on node 0, enforced on every other node, seen by probes: the
        // monitors would cost the daemons more than the bans (see `Probe`).
        let mut nodes = nodes;
        for n in &mut nodes {
            n.mon = None;
        }
        let addrs: Vec<IpAddr> = (0..a.burst).map(|i| nth(20, i)).collect();
        let others: Vec<&Node> = nodes[1..].iter().collect();
        let cpu0: f64 = others.iter().map(|n| n.cpu_s()).sum();
        let mem0 = redis.used_memory();
        let t0 = nodes[0].import(&addrs);
        let last = wait_everywhere(&others, &addrs, Duration::from_secs(120));
        let cpu: f64 = others.iter().map(|n| n.cpu_s()).sum::<f64>() - cpu0;
        let mem = redis.used_memory().saturating_sub(mem0);
        println!(
            "burst: {} bans imported on node 0 in every other node's set ({} nodes) after {:.3} s; \
             {:.1} µs of CPU per ban applied per node; Redis {} bytes per ban in force (stream entry, hash, sorted set)",
            a.burst,
            others.len(),
            last.duration_since(t0).as_secs_f64(),
            cpu * 1e6 / (a.burst * others.len()) as f64,
            mem / a.burst as u64
        );

        // Catch-up: the last node away during an import, from the stream, then anew.
        let away = nodes.len() - 1;
        nodes[away].stop();
        let addrs: Vec<IpAddr> = (0..a.catchup).map(|i| nth(30, i)).collect();
        let t0 = nodes[0].import(&addrs);
        // Every node running has them (and its monitor is done) before the away node
        // starts, so it runs alone.
        let present: Vec<&Node> = nodes[1..away].iter().collect();
        let last = wait_everywhere(&present, &addrs, Duration::from_secs(600));
        println!(
            "catch-up: {} bans imported on node 0, in the sets of the {} other nodes running \
             after {:.3} s",
            a.catchup,
            present.len(),
            last.duration_since(t0).as_secs_f64()
        );
        for how in [
            "resuming from the stream",
            "as a new node, from the bans in force",
        ] {
            let started = nodes[away].start();
            let last = wait_everywhere(&[&nodes[away]], &addrs, Duration::from_secs(120));
            println!(
                "catch-up {how}: all {} in the set {:.3} s after the start ({:.2} s of CPU)",
                a.catchup,
                last.duration_since(started).as_secs_f64(),
                nodes[away].cpu_s()
            );
            nodes[away].stop();
            let _ = fs::remove_dir_all(nodes[away].dir.join("state"));
            let _ = nodes[away]
                .ns
                .cmd("nft")
                .args(["delete", "table", "inet", "authban"])
                .status();
        }
    }
}

/// `--tls N`: N nodes over TCP in plain text, then N over TLS, each through its own veth
/// link to Redis in the root namespace: what TLS costs, measured side by side.
fn tls_against_plain(dir: &Path, n: usize, bans: usize) {
    assert!((2..=100).contains(&n), "--tls takes 2 to 100 nodes");
    let certs = dir.join("certs");
    fs::create_dir_all(&certs).unwrap();
    let sans: Vec<String> = (0..2 * n).map(|i| format!("IP:10.201.{i}.1")).collect();
    make_certs(&certs, &sans.join(","));
    let _redis = Redis::start(dir, Some(&certs)); // runs until dropped
    let mut rss = Vec::new();
    for (round, tls) in [false, true].into_iter().enumerate() {
        let nodes: Vec<Node> = (0..n)
            .map(|k| {
                let i = round * n + k;
                let fleet = if tls {
                    format!(
                        "url = \"rediss://10.201.{i}.1:{TLS_PORT}\"\ntls-ca-file = \"{}\"\n",
                        certs.join("ca.pem").display()
                    )
                } else {
                    format!("url = \"redis://10.201.{i}.1:{PLAIN_PORT}\"\n")
                };
                Node::with_fleet(i, dir, &fleet, true)
            })
            .collect();
        // The link is up once a ban crosses it; then the daemons idle.
        propagation(&nodes, 1, 50 + round as u8);
        std::thread::sleep(Duration::from_millis(500));
        let kib: Vec<u64> = nodes.iter().map(Node::rss_kib).collect();
        print!("{}: ", if tls { "over TLS" } else { "plain TCP" });
        propagation(&nodes, bans, 60 + round as u8);
        rss.push((*kib.iter().min().unwrap(), *kib.iter().max().unwrap()));
    }
    println!(
        "idle VmRSS: plain TCP {} to {} KiB, over TLS {} to {} KiB",
        rss[0].0, rss[0].1, rss[1].0, rss[1].1
    );
}

/// A CA, and a server certificate of it for `sans`, made with openssl.
fn make_certs(dir: &Path, sans: &str) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    certs::self_signed(&ca_key, &ca, "bench CA");
    certs::sign(
        (&ca, &ca_key),
        (&dir.join("server.key"), &dir.join("server.pem")),
        "redis",
        &format!("subjectAltName={sans}\n"),
        dir,
    );
}
