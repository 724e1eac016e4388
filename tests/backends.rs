//! Real tests of the firewall backends: nft, ipset and iptables run for real, as root, each
//! test inside network namespaces of its own (`authban-test-<pid>-<n>`), so the host's
//! firewall is never read or changed. The backends reach the namespace through a [`Runner`]
//! that prefixes `ip netns exec`; the assertions read the kernel's state with the tools
//! themselves, not through the backend under test.
//!
//! Without root or a tool the tests print "skipped: …" and pass, except when `CI` is set:
//! there a missing prerequisite fails, so CI can never pass by skipping.

#[path = "support/emulation.rs"]
mod emulation;

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use authban::addr::Cidr;
use authban::ban::ipset::{Ipset, Programs};
use authban::ban::nftables::Nftables;
use authban::ban::{Backend, BackendError, BanOrder, RunOutput, Runner, SystemRunner};
use serde_json::Value;

const NETNS_PREFIX: &str = "authban-test-";

// ---------------------------------------------------------------------------------------
// Prerequisites, namespaces and a runner inside them

fn prerequisites_met(test: &str, tools: &[&str]) -> bool {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root (network namespaces, nft, ipset)".to_owned())
    } else {
        tools
            .iter()
            .chain(&["ip"])
            .find(|t| find_program(t).is_none())
            .map(|t| format!("`{t}` is not installed"))
    };
    let Some(why) = why else {
        sweep_leftovers();
        return true;
    };
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: cannot run in CI: {why}");
    }
    // Straight to the handle: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(io::stderr(), "skipped: {test}: {why}");
    false
}

fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(Into::into))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn must(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh network namespace with loopback up, deleted on drop.
#[derive(Debug)]
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{NETNS_PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        must("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        must("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    fn runner(&self) -> Box<dyn Runner> {
        Box::new(NetnsRunner {
            ns: self.name.clone(),
            bounding: None,
        })
    }

    /// A runner whose programs keep only `caps` (`CAP_NET_ADMIN`…) in their bounding set,
    /// as systemd's CapabilityBoundingSet= leaves them: `setpriv --bounding-set`.
    fn runner_with_caps(&self, caps: &[&str]) -> Box<dyn Runner> {
        let mut spec = String::from("-all");
        for c in caps {
            spec.push_str(",+");
            spec.push_str(&c.trim_start_matches("CAP_").to_lowercase());
        }
        Box::new(NetnsRunner {
            ns: self.name.clone(),
            bounding: Some(spec),
        })
    }

    /// Runs a program inside the namespace and returns its output, asserting success.
    fn must(&self, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", self.name.as_str()];
        full.extend_from_slice(args);
        must("ip", &full)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut full = vec!["netns", "exec", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", self.name.as_str()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn in namespace")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Deletes namespaces left by runs that were killed before their guards ran.
fn sweep_leftovers() {
    let list = run("ip", &["netns", "list"]);
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            drop(Netns {
                name: name.to_owned(),
            });
        }
    }
}

/// Runs every program inside one namespace: `ip netns exec NS program args…`.
#[derive(Debug)]
struct NetnsRunner {
    ns: String,
    /// A `setpriv --bounding-set` spec the programs run under.
    bounding: Option<String>,
}

impl Runner for NetnsRunner {
    fn run(
        &mut self,
        program: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> io::Result<RunOutput> {
        // `ip netns exec` would report a missing program as its own failure; look first so a
        // missing binary is the same spawn error as with the system runner.
        let found = if program.contains('/') {
            Path::new(program).exists()
        } else {
            find_program(program).is_some()
        };
        if !found {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{program} not found"),
            ));
        }
        let mut full = vec!["netns".to_owned(), "exec".to_owned(), self.ns.clone()];
        if let Some(spec) = &self.bounding {
            full.extend([
                "setpriv".to_owned(),
                "--bounding-set".to_owned(),
                spec.clone(),
                "--".to_owned(),
            ]);
        }
        full.push(program.to_owned());
        full.extend_from_slice(args);
        SystemRunner.run("ip", &full, stdin)
    }
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn order(target: &str, secs: Option<i64>, now: i64) -> BanOrder {
    BanOrder {
        target: cidr(target),
        expires_at: secs.map(|s| now + s),
    }
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------
// What the kernel holds, read with the tools themselves

/// Elements of `inet authban <set>`: target → seconds left (None: permanent).
fn nft_set(ns: &Netns, set: &str) -> Vec<(Cidr, Option<u64>)> {
    nft_set_of(ns, "authban", set)
}

/// The elements of `set` in the table `inet TABLE`, with the seconds left of each.
fn nft_set_of(ns: &Netns, table: &str, set: &str) -> Vec<(Cidr, Option<u64>)> {
    let json: Value =
        serde_json::from_str(&ns.must(&["nft", "-j", "list", "set", "inet", table, set])).unwrap();
    let mut out = Vec::new();
    for item in json["nftables"].as_array().unwrap() {
        let Some(elems) = item["set"]["elem"].as_array() else {
            continue;
        };
        for e in elems {
            let (val, expires) = match e.get("elem") {
                Some(inner) => (&inner["val"], inner["expires"].as_u64()),
                None => (e, None),
            };
            let text = match val {
                Value::String(s) => s.clone(),
                v => format!(
                    "{}/{}",
                    v["prefix"]["addr"].as_str().unwrap(),
                    v["prefix"]["len"]
                ),
            };
            out.push((cidr(&text), expires));
        }
    }
    out.sort_by_key(|(c, _)| c.to_string());
    out
}

fn targets(elems: &[(Cidr, Option<u64>)]) -> Vec<String> {
    let mut t: Vec<String> = elems.iter().map(|(c, _)| c.to_string()).collect();
    t.sort();
    t
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| cidr(s).to_string()).collect();
    v.sort();
    v
}

/// Elements of an ipset (from `ipset save`): target → seconds left (None: permanent).
fn ipset_set(ns: &Netns, set: &str) -> Vec<(Cidr, Option<u64>)> {
    let mut out = Vec::new();
    for line in ns.must(&["ipset", "save", set]).lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.first() == Some(&"add") {
            let timeout = w
                .iter()
                .position(|x| *x == "timeout")
                .and_then(|i| w[i + 1].parse::<u64>().ok())
                .filter(|&t| t > 0);
            out.push((cidr(w[2]), timeout));
        }
    }
    out.sort_by_key(|(c, _)| c.to_string());
    out
}

fn expiry_of(elems: &[(Cidr, Option<u64>)], target: &str) -> Option<u64> {
    elems
        .iter()
        .find(|(c, _)| *c == cidr(target))
        .unwrap_or_else(|| panic!("{target} not in {elems:?}"))
        .1
}

// ---------------------------------------------------------------------------------------
// nftables

fn nftables_in(ns: &Netns) -> Nftables {
    Nftables::new(ns.runner(), "nft".into(), "authban", vec![22]).unwrap()
}

/// 5,200 weeks in seconds: `config::Duration`'s longest span.
const LONGEST: u64 = 5_200 * 7 * 86_400;

#[test]
fn nftables_bans_unbans_restores_and_tears_down_only_its_table() {
    if !prerequisites_met(
        "nftables_bans_unbans_restores_and_tears_down_only_its_table",
        &["nft"],
    ) {
        return;
    }
    let ns = Netns::new();
    ns.must(&["nft", "add table inet other"]);
    ns.must(&[
        "nft",
        "add chain inet other keep { type filter hook input priority 0; }",
    ]);
    let mut nft = nftables_in(&ns);
    nft.setup().unwrap();
    nft.check().unwrap();
    let t = now();
    nft.ban(
        &[
            order("203.0.113.5", Some(3600), t),
            order("198.51.100.7", None, t),
            order("2001:db8::7", Some(600), t),
            order("2001:db8:1:2::/64", None, t),
            // The longest ban config accepts (5200 weeks), past 2038 and past an i32 of
            // seconds: the kernel holds it as it was given, on 32-bit builds too.
            order("192.0.2.100", Some(LONGEST as i64), t),
        ],
        t,
    )
    .unwrap();
    // Addresses in the hash sets, networks in the interval sets.
    let v4 = nft_set(&ns, "ban4");
    let v6 = nft_set(&ns, "ban6");
    let n6 = nft_set(&ns, "net6");
    assert_eq!(
        targets(&v4),
        sorted(&["203.0.113.5", "198.51.100.7", "192.0.2.100"])
    );
    assert!(
        expiry_of(&v4, "192.0.2.100").is_some_and(|s| (LONGEST - 10..=LONGEST).contains(&s)),
        "{v4:?}"
    );
    nft.unban(&[cidr("192.0.2.100")]).unwrap();
    assert_eq!(targets(&v6), sorted(&["2001:db8::7"]));
    assert_eq!(targets(&n6), sorted(&["2001:db8:1:2::/64"]));
    assert!(expiry_of(&v4, "203.0.113.5").is_some_and(|s| (3590..=3600).contains(&s)));
    assert_eq!(expiry_of(&v4, "198.51.100.7"), None);
    assert!(expiry_of(&v6, "2001:db8::7").is_some_and(|s| (590..=600).contains(&s)));
    assert_eq!(expiry_of(&n6, "2001:db8:1:2::/64"), None);

    // Re-adding updates the timeout: longer, and to permanent.
    nft.ban(
        &[
            order("203.0.113.5", Some(7200), t),
            order("2001:db8::7", None, t),
        ],
        t,
    )
    .unwrap();
    assert!(expiry_of(&nft_set(&ns, "ban4"), "203.0.113.5").is_some_and(|s| s > 7000));
    assert_eq!(expiry_of(&nft_set(&ns, "ban6"), "2001:db8::7"), None);
    // …and shorter, and from permanent to expiring.
    nft.ban(
        &[
            order("203.0.113.5", Some(100), t),
            order("198.51.100.7", Some(100), t),
        ],
        t,
    )
    .unwrap();
    let v4 = nft_set(&ns, "ban4");
    assert!(expiry_of(&v4, "203.0.113.5").is_some_and(|s| s <= 100));
    assert!(expiry_of(&v4, "198.51.100.7").is_some_and(|s| s <= 100));

    // setup again keeps the elements (idempotent), and the chain has one rule per set.
    nft.setup().unwrap();
    assert_eq!(nft_set(&ns, "ban4").len(), 2);
    let chain = ns.must(&["nft", "list chain inet authban input"]);
    assert_eq!(chain.matches(" drop").count(), 4, "{chain}");

    // An address inside a banned network is an element of its own (its ban may outlast
    // the network's); a network overlapping a banned one is refused, the others still get
    // in, and the error names it.
    nft.ban(&[order("192.0.2.0/24", None, t)], t).unwrap();
    let err = nft
        .ban(
            &[
                order("192.0.2.5", None, t),
                order("192.0.2.128/25", Some(50), t),
                order("203.0.113.77", None, t),
            ],
            t,
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("nftables: 1 of 3 bans failed: 192.0.2.128/25: "),
        "{text}"
    );
    let v4 = targets(&nft_set(&ns, "ban4"));
    assert!(v4.contains(&"203.0.113.77".to_owned()), "{v4:?}");
    assert!(v4.contains(&"192.0.2.5".to_owned()), "{v4:?}");

    // Unban, including targets that are not there.
    nft.unban(&[
        cidr("203.0.113.5"),
        cidr("2001:db8:1:2::/64"),
        cidr("203.0.113.250"),
    ])
    .unwrap();
    assert_eq!(
        targets(&nft_set(&ns, "ban4")),
        sorted(&["198.51.100.7", "192.0.2.5", "203.0.113.77"])
    );
    assert_eq!(targets(&nft_set(&ns, "net4")), sorted(&["192.0.2.0/24"]));
    assert_eq!(targets(&nft_set(&ns, "ban6")), sorted(&["2001:db8::7"]));
    assert!(nft_set(&ns, "net6").is_empty());

    // Restore makes the sets exact.
    nft.restore(
        &[
            order("10.1.1.1", Some(300), t),
            order("2001:db8:9:9::/64", None, t),
        ],
        t,
    )
    .unwrap();
    assert_eq!(targets(&nft_set(&ns, "ban4")), sorted(&["10.1.1.1"]));
    assert!(nft_set(&ns, "ban6").is_empty() && nft_set(&ns, "net4").is_empty());
    assert_eq!(
        targets(&nft_set(&ns, "net6")),
        sorted(&["2001:db8:9:9::/64"])
    );
    let mut listed: Vec<String> = nft.list().unwrap().iter().map(Cidr::to_string).collect();
    listed.sort();
    assert_eq!(listed, sorted(&["10.1.1.1", "2001:db8:9:9::/64"]));

    // Restore also recreates a table someone deleted.
    ns.must(&["nft", "delete table inet authban"]);
    assert!(nft.check().is_err());
    nft.restore(&[order("10.1.1.2", None, t)], t).unwrap();
    nft.check().unwrap();
    assert_eq!(targets(&nft_set(&ns, "ban4")), sorted(&["10.1.1.2"]));

    nft.teardown().unwrap();
    let tables = ns.must(&["nft", "list tables"]);
    assert_eq!(tables.trim(), "table inet other");
    // Tearing down twice is fine.
    nft.teardown().unwrap();
    assert!(matches!(nft.check(), Err(BackendError::Failed { .. })));
}

#[test]
fn nftables_kernel_expires_a_ban_by_itself() {
    if !prerequisites_met("nftables_kernel_expires_a_ban_by_itself", &["nft"]) {
        return;
    }
    let ns = Netns::new();
    let mut nft = nftables_in(&ns);
    nft.setup().unwrap();
    let t = now();
    nft.ban(
        &[
            order("203.0.113.9", Some(2), t),
            order("2001:db8:5:5::/64", Some(2), t),
            order("203.0.113.10", None, t),
        ],
        t,
    )
    .unwrap();
    assert_eq!(nft_set(&ns, "ban4").len(), 2);
    let gone = wait_until(Duration::from_secs(4), || {
        nft_set(&ns, "ban4").len() == 1 && nft_set(&ns, "net6").is_empty()
    });
    let took = gone.expect("a 2 s ban still listed after 4 s");
    let _ = writeln!(io::stderr(), "nftables: 2 s bans gone after {took:?}");
    assert_eq!(targets(&nft_set(&ns, "ban4")), sorted(&["203.0.113.10"]));
}

#[test]
fn nftables_setup_makes_an_older_tables_sets_anew_keeping_its_bans() {
    if !prerequisites_met(
        "nftables_setup_makes_an_older_tables_sets_anew_keeping_its_bans",
        &["nft"],
    ) {
        return;
    }
    let ns = Netns::new();
    // The table as authban made it before networks had sets of their own.
    ns.must(&[
        "nft",
        "add table inet authban\n\
         add set inet authban ban4 { type ipv4_addr; flags interval, timeout; }\n\
         add set inet authban ban6 { type ipv6_addr; flags interval, timeout; }\n\
         add chain inet authban input { type filter hook input priority filter - 10; policy accept; }\n\
         add rule inet authban input ip saddr @ban4 tcp dport { 22 } counter drop\n\
         add element inet authban ban4 { 203.0.113.5 timeout 1h, 198.51.100.0/24 }\n\
         add element inet authban ban6 { 2001:db8:1:2::/64 timeout 10m, 2001:db8::9 }",
    ]);
    let mut nft = nftables_in(&ns);
    assert!(nft.check().is_err(), "the old layout is seen as incomplete");
    nft.setup().unwrap();
    nft.check().unwrap();
    let v4 = nft_set(&ns, "ban4");
    assert_eq!(targets(&v4), sorted(&["203.0.113.5"]));
    assert!(expiry_of(&v4, "203.0.113.5").is_some_and(|s| (3500..=3600).contains(&s)));
    assert_eq!(targets(&nft_set(&ns, "net4")), sorted(&["198.51.100.0/24"]));
    assert_eq!(targets(&nft_set(&ns, "ban6")), sorted(&["2001:db8::9"]));
    let n6 = nft_set(&ns, "net6");
    assert!(expiry_of(&n6, "2001:db8:1:2::/64").is_some_and(|s| (500..=600).contains(&s)));
}

#[test]
fn nftables_takes_ten_thousand_bans_in_chunks() {
    if !prerequisites_met("nftables_takes_ten_thousand_bans_in_chunks", &["nft"]) {
        return;
    }
    let ns = Netns::new();
    let mut nft = nftables_in(&ns);
    nft.setup().unwrap();
    let t = now();
    let bans: Vec<BanOrder> = (0..10_000u32)
        .map(|i| {
            let target = if i % 2 == 0 {
                Cidr::host(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)))
            } else {
                format!("2001:db8:{:x}:{:x}::/64", i >> 8, i & 0xff)
                    .parse()
                    .unwrap()
            };
            BanOrder {
                target,
                expires_at: Some(t + 3600),
            }
        })
        .collect();
    let start = Instant::now();
    nft.ban(&bans, t).unwrap();
    let ban_time = start.elapsed();
    assert_eq!(nft_set(&ns, "ban4").len(), 5_000);
    assert_eq!(nft_set(&ns, "net6").len(), 5_000);
    let start = Instant::now();
    nft.restore(&bans, t).unwrap();
    let restore_time = start.elapsed();
    assert_eq!(nft.list().unwrap().len(), 10_000);
    // Deleting from an interval set is slow in nft 1.0.6 (userspace interval handling
    // grows with set size times batch size: 2,000 deletes from 10,000 elements took ~15 s),
    // so only a few hundred are lifted here; the kernel expires the rest.
    let targets: Vec<Cidr> = bans.iter().take(200).map(|b| b.target).collect();
    let start = Instant::now();
    nft.unban(&targets).unwrap();
    let unban_time = start.elapsed();
    assert_eq!(nft.list().unwrap().len(), 9_800);
    let _ = writeln!(
        io::stderr(),
        "nftables: 10,000 bans (5,000 IPv4 hosts, 5,000 IPv6 /64) in {ban_time:?}, restore \
         {restore_time:?}, unban of 200 from 10,000 {unban_time:?}"
    );
}

#[test]
fn nftables_reports_a_missing_nft_clearly() {
    let test = "nftables_reports_a_missing_nft_clearly";
    if emulation::skipped_under_emulation(test, emulation::SPAWN_ERRORS) {
        return;
    }
    let mut nft = Nftables::new(
        Box::new(SystemRunner),
        "/nonexistent/authban/nft".into(),
        "authban",
        vec![22],
    )
    .unwrap();
    for result in [
        nft.setup(),
        nft.check(),
        nft.ban(&[order("192.0.2.1", None, 0)], 0),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, BackendError::Spawn { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "nftables: cannot run /nonexistent/authban/nft: No such file or directory (os error 2)"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Traffic: a ban really drops the peer's connections, for both backends

/// A server namespace and a client namespace joined by a veth pair, a TCP listener on port
/// 22 in the server (IPv4 and IPv6), and a probe from the client.
struct Wire {
    server: Netns,
    client: Netns,
    listener: Child,
}

const SERVER4: &str = "10.198.0.1";
const CLIENT4: &str = "10.198.0.2";
const SERVER6: &str = "fd00:198::1";
const CLIENT6: &str = "fd00:198::2";

impl Wire {
    fn new() -> Wire {
        let server = Netns::new();
        let client = Netns::new();
        // Created inside the namespaces: fixed names never meet the host's interfaces.
        must(
            "ip",
            &[
                "link",
                "add",
                "abs",
                "netns",
                &server.name,
                "type",
                "veth",
                "peer",
                "name",
                "abc",
                "netns",
                &client.name,
            ],
        );
        for (ns, dev, v4, v6) in [
            (&server, "abs", SERVER4, SERVER6),
            (&client, "abc", CLIENT4, CLIENT6),
        ] {
            must(
                "ip",
                &[
                    "-n",
                    &ns.name,
                    "addr",
                    "add",
                    &format!("{v4}/24"),
                    "dev",
                    dev,
                ],
            );
            must(
                "ip",
                &[
                    "-n",
                    &ns.name,
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ],
            );
            must("ip", &["-n", &ns.name, "link", "set", dev, "up"]);
        }
        let listener = server.spawn(&[
            "python3",
            "-c",
            "import socket\n\
             s = socket.socket(socket.AF_INET6)\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n\
             s.bind(('::', 22))\n\
             s.listen(64)\n\
             while True:\n    c, _ = s.accept()\n    c.close()\n",
        ]);
        let wire = Wire {
            server,
            client,
            listener,
        };
        let up = wait_until(Duration::from_secs(5), || {
            wire.connects(SERVER4) && wire.connects(SERVER6)
        });
        assert!(up.is_some(), "the listener never answered");
        wire
    }

    /// Whether a TCP connection from the client to `server` port 22 opens within 1 s.
    fn connects(&self, server: &str) -> bool {
        self.client
            .run(&[
                "python3",
                "-c",
                "import socket, sys\n\
                 socket.create_connection((sys.argv[1], 22), timeout=1).close()\n",
                server,
            ])
            .status
            .success()
    }

    fn assert_reachable(&self, expected: bool, when: &str) {
        for server in [SERVER4, SERVER6] {
            assert_eq!(self.connects(server), expected, "{server} port 22 {when}");
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = self.listener.kill();
        let _ = self.listener.wait();
    }
}

fn traffic_is_dropped_while_banned(backend: &mut dyn Backend, wire: &Wire) {
    backend.setup().unwrap();
    wire.assert_reachable(true, "before the ban");
    let t = now();
    backend
        .ban(
            &[
                order(CLIENT4, Some(600), t),
                order("fd00:198::/64", None, t),
            ],
            t,
        )
        .unwrap();
    wire.assert_reachable(false, "while banned");
    backend
        .unban(&[cidr(CLIENT4), cidr("fd00:198::/64")])
        .unwrap();
    wire.assert_reachable(true, "after the unban");
    backend.teardown().unwrap();
}

#[test]
fn nftables_ban_drops_the_peers_connections() {
    if !prerequisites_met(
        "nftables_ban_drops_the_peers_connections",
        &["nft", "python3"],
    ) {
        return;
    }
    let wire = Wire::new();
    let mut nft = nftables_in(&wire.server);
    traffic_is_dropped_while_banned(&mut nft, &wire);
}

#[test]
fn ipset_ban_drops_the_peers_connections() {
    if !prerequisites_met(
        "ipset_ban_drops_the_peers_connections",
        &["ipset", "iptables", "ip6tables", "python3"],
    ) {
        return;
    }
    let wire = Wire::new();
    let mut ipset = Ipset::new(
        wire.server.runner(),
        Programs::default(),
        "authban4",
        "authban6",
        vec![22],
    )
    .unwrap();
    traffic_is_dropped_while_banned(&mut ipset, &wire);
}

// ---------------------------------------------------------------------------------------
// ipset + iptables

#[test]
fn ipset_bans_unbans_restores_and_tears_down_only_its_sets_and_rules() {
    if !prerequisites_met(
        "ipset_bans_unbans_restores_and_tears_down_only_its_sets_and_rules",
        &["ipset", "iptables", "ip6tables"],
    ) {
        return;
    }
    let ns = Netns::new();
    // Names of our own, so the check that the host does not see them means something even
    // on a machine where authban is installed.
    let set4 = format!("abt4_{}", std::process::id());
    let set6 = format!("abt6_{}", std::process::id());
    ns.must(&["ipset", "create", "other", "hash:ip"]);
    ns.must(&[
        "iptables",
        "-w",
        "-A",
        "INPUT",
        "-m",
        "set",
        "--match-set",
        "other",
        "src",
        "-j",
        "ACCEPT",
    ]);
    let mut ipset = Ipset::new(
        ns.runner(),
        Programs::default(),
        &set4,
        &set6,
        vec![22, 2222],
    )
    .unwrap();
    ipset.setup().unwrap();
    ipset.setup().unwrap();
    ipset.check().unwrap();

    // Sets and rules belong to the namespace.
    assert!(
        !run("ipset", &["-t", "list", &set4]).status.success(),
        "set visible on the host"
    );
    let host_rules = must("iptables", &["-w", "-S", "INPUT"]);
    assert!(
        !host_rules.contains(&set4),
        "rule on the host: {host_rules}"
    );
    let rules4 = ns.must(&["iptables", "-w", "-S", "INPUT"]);
    assert_eq!(
        rules4
            .matches(&format!("--match-set {set4} src -j DROP"))
            .count(),
        1,
        "{rules4}"
    );
    assert!(rules4.contains("--dports 22,2222"), "{rules4}");
    // Ours comes first, before the foreign accept.
    let first = rules4.lines().find(|l| l.starts_with("-A INPUT")).unwrap();
    assert!(first.contains(&set4), "{rules4}");
    let rules6 = ns.must(&["ip6tables", "-w", "-S", "INPUT"]);
    assert_eq!(
        rules6
            .matches(&format!("--match-set {set6} src -j DROP"))
            .count(),
        1,
        "{rules6}"
    );

    let t = now();
    ipset
        .ban(
            &[
                order("203.0.113.5", Some(3600), t),
                order("198.51.100.7", None, t),
                order("2001:db8::7", Some(600), t),
                order("2001:db8:1:2::/64", None, t),
                // Overlaps are fine in hash:net.
                order("198.51.100.0/24", None, t),
            ],
            t,
        )
        .unwrap();
    let v4 = ipset_set(&ns, &set4);
    assert_eq!(
        targets(&v4),
        sorted(&["203.0.113.5", "198.51.100.7", "198.51.100.0/24"])
    );
    assert!(expiry_of(&v4, "203.0.113.5").is_some_and(|s| (3590..=3600).contains(&s)));
    assert_eq!(expiry_of(&v4, "198.51.100.7"), None);
    let v6 = ipset_set(&ns, &set6);
    assert_eq!(targets(&v6), sorted(&["2001:db8::7", "2001:db8:1:2::/64"]));
    assert!(expiry_of(&v6, "2001:db8::7").is_some_and(|s| (590..=600).contains(&s)));

    // Re-adding updates the timeout both ways.
    ipset
        .ban(
            &[
                order("203.0.113.5", None, t),
                order("198.51.100.7", Some(50), t),
            ],
            t,
        )
        .unwrap();
    let v4 = ipset_set(&ns, &set4);
    assert_eq!(expiry_of(&v4, "203.0.113.5"), None);
    assert!(expiry_of(&v4, "198.51.100.7").is_some_and(|s| s <= 50));

    ipset
        .unban(&[
            cidr("203.0.113.5"),
            cidr("2001:db8:1:2::/64"),
            cidr("192.0.2.99"),
        ])
        .unwrap();
    assert_eq!(
        targets(&ipset_set(&ns, &set4)),
        sorted(&["198.51.100.7", "198.51.100.0/24"])
    );
    assert_eq!(targets(&ipset_set(&ns, &set6)), sorted(&["2001:db8::7"]));

    ipset
        .restore(
            &[
                order("10.1.1.1", Some(300), t),
                order("2001:db8:9:9::/64", None, t),
            ],
            t,
        )
        .unwrap();
    assert_eq!(targets(&ipset_set(&ns, &set4)), sorted(&["10.1.1.1"]));
    assert_eq!(
        targets(&ipset_set(&ns, &set6)),
        sorted(&["2001:db8:9:9::/64"])
    );
    let mut listed: Vec<String> = ipset.list().unwrap().iter().map(Cidr::to_string).collect();
    listed.sort();
    assert_eq!(listed, sorted(&["10.1.1.1", "2001:db8:9:9::/64"]));

    // A refused line (ipset cannot store /0) is reported; the lines after it are applied.
    let err = ipset
        .ban(
            &[order("0.0.0.0/0", None, t), order("10.2.2.2", None, t)],
            t,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("ipset: 1 of 2 bans failed: 0.0.0.0/0: "),
        "{err}"
    );
    assert!(targets(&ipset_set(&ns, &set4)).contains(&"10.2.2.2".to_owned()));

    // Expiry by the kernel.
    let t = now();
    ipset.ban(&[order("10.3.3.3", Some(2), t)], t).unwrap();
    let gone = wait_until(Duration::from_secs(4), || {
        !targets(&ipset_set(&ns, &set4)).contains(&"10.3.3.3".to_owned())
    });
    let took = gone.expect("a 2 s ipset ban still listed after 4 s");
    let _ = writeln!(io::stderr(), "ipset: 2 s ban gone after {took:?}");

    ipset.teardown().unwrap();
    ipset.teardown().unwrap();
    let sets = ns.must(&["ipset", "list", "-n"]);
    assert_eq!(sets.trim(), "other");
    let rules4 = ns.must(&["iptables", "-w", "-S", "INPUT"]);
    assert!(
        !rules4.contains(&set4) && rules4.contains("other"),
        "{rules4}"
    );
    assert!(!ns.must(&["ip6tables", "-w", "-S", "INPUT"]).contains(&set6));
    assert!(ipset.check().is_err());
}

#[test]
fn ipset_takes_ten_thousand_bans_in_one_process() {
    if !prerequisites_met(
        "ipset_takes_ten_thousand_bans_in_one_process",
        &["ipset", "iptables", "ip6tables"],
    ) {
        return;
    }
    let ns = Netns::new();
    let mut ipset = Ipset::new(
        ns.runner(),
        Programs::default(),
        "authban4",
        "authban6",
        vec![22],
    )
    .unwrap();
    ipset.setup().unwrap();
    let t = now();
    let bans: Vec<BanOrder> = (0..10_000u32)
        .map(|i| BanOrder {
            target: Cidr::host(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))),
            expires_at: Some(t + 3600),
        })
        .collect();
    let start = Instant::now();
    ipset.ban(&bans, t).unwrap();
    let took = start.elapsed();
    assert_eq!(ipset.list().unwrap().len(), 10_000);
    let _ = writeln!(io::stderr(), "ipset: 10,000 bans in {took:?}");
}

/// `authban uninstall` run on a machine (here: inside a namespace) removes authban's
/// firewall table and sets, and nothing else.
#[test]
fn uninstall_removes_only_authbans_firewall() {
    if !prerequisites_met(
        "uninstall_removes_only_authbans_firewall",
        &["nft", "ipset", "iptables"],
    ) {
        return;
    }
    let ns = Netns::new();
    let mut nft = nftables_in(&ns);
    nft.setup().unwrap();
    nft.ban(&[order("203.0.113.5", None, now())], now())
        .unwrap();
    ns.must(&["nft", "add", "table", "inet", "other"]);
    let mut ipset = Ipset::new(
        ns.runner(),
        Programs::default(),
        "authban4",
        "authban6",
        vec![22],
    )
    .unwrap();
    ipset.setup().unwrap();
    ns.must(&["ipset", "create", "foreign", "hash:ip"]);
    let dir = tempfile::tempdir().unwrap();
    // An empty configuration: the default table and set names.
    let config = dir.path().join("authban.toml");
    std::fs::write(&config, "").unwrap();
    // `--root /` is the running system, the only one whose firewall uninstall touches; a
    // test machine has no authban unit, so the files part reports nothing to remove.
    let out = ns.run(&[
        env!("CARGO_BIN_EXE_authban"),
        "--config",
        config.to_str().unwrap(),
        "uninstall",
        "--root",
        "/",
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("removed authban's nftables rules and sets"),
        "{said}"
    );
    assert!(
        said.contains("removed authban's ipset rules and sets"),
        "{said}"
    );
    let tables = ns.must(&["nft", "list", "tables"]);
    assert!(!tables.contains("inet authban"), "{tables}");
    assert!(tables.contains("inet other"), "{tables}");
    let sets = ns.must(&["ipset", "list", "-n"]);
    assert!(!sets.contains("authban4"), "{sets}");
    assert!(sets.contains("foreign"), "{sets}");
    let rules = ns.must(&["iptables", "-S", "INPUT"]);
    assert!(!rules.contains("authban4"), "{rules}");
}

#[test]
fn ipset_holds_a_ban_longer_than_its_longest_timeout_until_authban_lifts_it() {
    if !prerequisites_met(
        "ipset_holds_a_ban_longer_than_its_longest_timeout_until_authban_lifts_it",
        &["ipset", "iptables", "ip6tables"],
    ) {
        return;
    }
    let ns = Netns::new();
    let set4 = format!("abl4_{}", std::process::id());
    let set6 = format!("abl6_{}", std::process::id());
    let mut ipset = Ipset::new(ns.runner(), Programs::default(), &set4, &set6, vec![22]).unwrap();
    ipset.setup().unwrap();
    let now = now();
    // The default escalation reaches 4 weeks; ipset times out at most ~24.8 days and used
    // to refuse the whole batch ("out of range 0-2147483").
    ipset
        .ban(
            &[
                order("203.0.113.28", Some(28 * 86_400), now),
                order("203.0.113.1", Some(86_400), now),
            ],
            now,
        )
        .unwrap();
    let elems = ipset_set(&ns, &set4);
    assert_eq!(expiry_of(&elems, "203.0.113.28"), None, "{elems:?}");
    let day = expiry_of(&elems, "203.0.113.1").expect("a one-day ban keeps its timeout");
    assert!((86_000..=86_400).contains(&day), "{day}");
    // So the engine lifts expired bans itself here.
    assert!(!ipset.expires_by_itself());
    ipset.unban(&[cidr("203.0.113.28")]).unwrap();
    assert!(
        !targets(&ipset_set(&ns, &set4)).contains(&"203.0.113.28".to_string()),
        "still banned after the unban"
    );
    ipset.teardown().unwrap();
}

/// The capability set `authban install` writes into the unit for `backends`, read back
/// from the unit file as systemd would.
fn unit_capabilities(backends: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("authban.toml");
    std::fs::write(&config, format!("[ban]\nbackends = [{backends}]\n")).unwrap();
    let root = dir.path().join("root");
    let out = Command::new(env!("CARGO_BIN_EXE_authban"))
        .arg("--config")
        .arg(&config)
        .args(["install", "--exec", "/usr/local/sbin/authban", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/authban.service")).unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit sets CapabilityBoundingSet=");
    line.split_whitespace().map(String::from).collect()
}

/// Issue 9, item 4: the unit `authban install` writes keeps exactly what the configured
/// backends need. Under the ipset backend's set (systemd need not be PID 1 here:
/// `setpriv` applies the same bounding set), iptables and ipset work; under the set the
/// nftables backend gets, iptables' `-m set` is refused, which is why the ipset unit
/// grants CAP_NET_RAW too.
#[test]
fn the_units_capabilities_are_enough_for_the_ipset_backend_and_no_more() {
    if !prerequisites_met(
        "the_units_capabilities_are_enough_for_the_ipset_backend_and_no_more",
        &["ipset", "iptables", "ip6tables", "setpriv"],
    ) {
        return;
    }
    let ipset_caps = unit_capabilities("\"ipset\"");
    assert_eq!(ipset_caps, ["CAP_NET_ADMIN", "CAP_NET_RAW"]);
    assert_eq!(unit_capabilities("\"nftables\""), ["CAP_NET_ADMIN"]);
    assert!(unit_capabilities("\"hosts-deny\"").is_empty());

    let ns = Netns::new();
    let caps: Vec<&str> = ipset_caps.iter().map(String::as_str).collect();
    let mut ipset = Ipset::new(
        ns.runner_with_caps(&caps),
        Programs::default(),
        "authban4",
        "authban6",
        vec![22],
    )
    .unwrap();
    ipset.setup().unwrap();
    ipset
        .ban(&[order("203.0.113.44", Some(600), now())], now())
        .unwrap();
    ipset.check().unwrap();
    assert!(
        ns.must(&["ipset", "list", "authban4"])
            .contains("203.0.113.44")
    );
    assert!(
        ns.must(&["iptables", "-S", "INPUT"])
            .contains("--match-set authban4 src")
    );

    // One capability short, as the unit used to be: the backend fails, and says why.
    let fresh = Netns::new();
    let mut short = Ipset::new(
        fresh.runner_with_caps(&["CAP_NET_ADMIN"]),
        Programs::default(),
        "authban4",
        "authban6",
        vec![22],
    )
    .unwrap();
    let err = short.setup().unwrap_err().to_string();
    assert!(err.contains("iptables"), "{err}");
}

/// `authban export --format nft` carries the bans in force to another firewall: the
/// script loads with `nft -f` into a table of its own (twice: it replaces itself), holds
/// every ban in the right set with what remains of its time, and drops the banned peers'
/// SSH, as authban's own table does.
#[test]
fn an_nft_export_loads_into_another_firewall_with_every_ban_and_its_time() {
    let test = "an_nft_export_loads_into_another_firewall_with_every_ban_and_its_time";
    if !prerequisites_met(test, &["nft"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("authban.toml");
    std::fs::write(&config, "").unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(
        &list,
        "203.0.113.5\n198.51.100.0/24\n2001:db8::7\n2001:db8:1::/48\n",
    )
    .unwrap();
    let authban = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_authban"))
            .arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--hosts-deny")
            .arg(dir.path().join("hosts.deny"))
            .args(args)
            .args(["--socket", dir.path().join("none.sock").to_str().unwrap()])
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        out.stdout
    };
    authban(&["import", list.to_str().unwrap(), "--for", "2h"]);
    authban(&["ban", "192.0.2.99", "--permanent"]);
    let script = dir.path().join("bans.nft");
    std::fs::write(&script, authban(&["export", "--format", "nft"])).unwrap();

    let ns = Netns::new();
    for _ in 0..2 {
        ns.must(&["nft", "-f", script.to_str().unwrap()]);
    }
    let v4 = nft_set_of(&ns, "authban_export", "ban4");
    assert_eq!(targets(&v4), sorted(&["192.0.2.99", "203.0.113.5"]));
    assert_eq!(expiry_of(&v4, "192.0.2.99"), None);
    assert!(
        expiry_of(&v4, "203.0.113.5").is_some_and(|s| (7000..=7200).contains(&s)),
        "{v4:?}"
    );
    let n4 = nft_set_of(&ns, "authban_export", "net4");
    assert_eq!(targets(&n4), sorted(&["198.51.100.0/24"]));
    assert_eq!(
        targets(&nft_set_of(&ns, "authban_export", "ban6")),
        sorted(&["2001:db8::7"])
    );
    assert_eq!(
        targets(&nft_set_of(&ns, "authban_export", "net6")),
        sorted(&["2001:db8:1::/48"])
    );
    let chain = ns.must(&["nft", "list", "chain", "inet", "authban_export", "input"]);
    assert_eq!(
        chain
            .matches("tcp dport 22 counter packets 0 bytes 0 drop")
            .count(),
        4,
        "{chain}"
    );
}
