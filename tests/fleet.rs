//! The fleet's Redis connection against a real `redis-server` (Debian's, 7.0), one started
//! by each test on a free port or a Unix socket, with an ACL user limited to the fleet's
//! keys as the README tells operators to make. Without redis-server the tests say they
//! skipped, except under CI, which installs it.

use std::fs;
#[cfg(feature = "tls")]
use std::os::unix::fs::PermissionsExt;

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/daemon.rs"]
mod daemon_support;
#[path = "support/emulation.rs"]
mod emulation;
#[path = "support/redis.rs"]
mod redis;

use authban::control::{BanInfo, FleetInfo, Request};
use authban::fleet::resp::{Conn, Reply, RespError, Url};
use daemon_support::{Daemon, Env, denies, failures, wait_until};
#[cfg(feature = "tls")]
use redis::Certs;
use redis::Redis;

const TIMEOUT: Duration = Duration::from_secs(2);

fn call(conn: &mut Conn, args: &[&str]) -> Result<Reply, RespError> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    conn.call(&args)
}

/// The ACL user of the README: the fleet's keys and the few commands it uses, nothing
/// else; the default user off.
const ACL: &str = "user default off\n\
    user node1 on >s3cret ~authban:* resetchannels -@all +ping +select +xadd +xread +xrange +xrevrange +xlen +hset +hget +hdel +hscan +hgetall +zadd +zrem +zrangebyscore\n";

#[test]
fn an_acl_user_authenticates_and_a_blocking_read_gets_an_entry_as_it_is_added() {
    let test = "an_acl_user_authenticates_and_a_blocking_read_gets_an_entry_as_it_is_added";
    let Some(redis) = Redis::start(test, ACL) else {
        return;
    };
    // A wrong password, and no user at all, are refused with the server's words.
    match Conn::connect(&redis.url("node1:wrong@"), None, TIMEOUT) {
        Err(RespError::Server(msg)) => assert!(msg.starts_with("WRONGPASS"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let mut anon = Conn::connect(&redis.url(""), None, TIMEOUT).unwrap();
    match call(&mut anon, &["PING"]) {
        Err(RespError::Server(msg)) => assert!(msg.starts_with("NOAUTH"), "{msg}"),
        other => panic!("{other:?}"),
    }

    let mut reader = Conn::connect(&redis.url("node1:s3cret@"), None, TIMEOUT).unwrap();
    let mut writer = Conn::connect(&redis.url("node1:s3cret@"), None, TIMEOUT).unwrap();
    assert_eq!(
        call(&mut writer, &["PING"]).unwrap(),
        Reply::Status("PONG".into())
    );
    // Outside the prefix, or a command not granted: refused, and the connection goes on.
    let err = call(&mut writer, &["XADD", "other:key", "*", "a", "b"]).unwrap_err();
    assert!(
        !err.is_fatal() && err.to_string().contains("NOPERM"),
        "{err}"
    );
    let err = call(&mut writer, &["FLUSHALL"]).unwrap_err();
    assert!(err.to_string().contains("NOPERM"), "{err}");

    // Nothing to read: the blocking read ends with the null array at its time.
    let t = Instant::now();
    let none = reader
        .call_blocking(
            &[
                b"XREAD",
                b"BLOCK",
                b"300",
                b"STREAMS",
                b"authban:bans",
                b"$",
            ],
            Duration::from_millis(300),
        )
        .unwrap();
    assert_eq!(none, Reply::Array(None));
    assert!(t.elapsed() >= Duration::from_millis(300));

    // An entry added while the reader blocks reaches it at once, binary-safe.
    let added = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let sent = Instant::now();
        let id = writer
            .call(&[b"XADD", b"authban:bans", b"*", b"reason", b"a\r\nb\0c"])
            .unwrap();
        (sent, id)
    });
    let got = reader
        .call_blocking(
            &[
                b"XREAD",
                b"BLOCK",
                b"5000",
                b"STREAMS",
                b"authban:bans",
                b"$",
            ],
            Duration::from_secs(5),
        )
        .unwrap();
    let arrived = Instant::now();
    let (sent, id) = added.join().unwrap();
    let stream = &got.items().unwrap()[0].items().unwrap()[1].items().unwrap()[0];
    let fields = stream.items().unwrap();
    assert_eq!(fields[0].bytes(), id.bytes());
    assert_eq!(
        fields[1].items().unwrap()[1].bytes(),
        Some(&b"a\r\nb\0c"[..])
    );
    eprintln!("XADD → XREAD: {:?}", arrived.duration_since(sent));
    assert!(arrived.duration_since(sent) < Duration::from_secs(1));
}

#[test]
fn a_pipeline_is_one_round_trip_and_a_killed_server_is_a_fatal_error() {
    let test = "a_pipeline_is_one_round_trip_and_a_killed_server_is_a_fatal_error";
    let Some(mut redis) = Redis::start(test, "") else {
        return;
    };
    let url: Url = format!("unix://{}?db=1", redis.socket.display())
        .parse()
        .unwrap();
    let mut conn = Conn::connect(&url, None, TIMEOUT).unwrap();
    let commands: Vec<Vec<Vec<u8>>> = (0..100)
        .map(|i| {
            ["XADD", "authban:bans", "*", "addr", &format!("192.0.2.{i}")]
                .iter()
                .map(|a| a.as_bytes().to_vec())
                .collect()
        })
        .collect();
    let replies = conn.pipeline(&commands).unwrap();
    assert_eq!(replies.len(), 100);
    let all = call(&mut conn, &["XRANGE", "authban:bans", "-", "+"]).unwrap();
    assert_eq!(all.items().unwrap().len(), 100);
    // In database 1, not 0.
    let mut zero = Conn::connect(
        &format!("unix://{}", redis.socket.display())
            .parse()
            .unwrap(),
        None,
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(
        call(&mut zero, &["XLEN", "authban:bans"]).unwrap(),
        Reply::Int(0)
    );

    redis.child.kill().unwrap();
    redis.child.wait().unwrap();
    let err = call(&mut conn, &["PING"]).unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(Conn::connect(&url, None, TIMEOUT).is_err());
}

/// A node of a fleet: a daemon of its own (its log, store, hosts.deny) whose `[fleet]`
/// points at `redis`, logging to its own file.
struct Node {
    env: Env,
    daemon: Option<Daemon>,
}

impl Node {
    fn new(redis: &Redis, name: &str, more: &str) -> Node {
        let env = Env::with(
            "1h",
            &format!(
                "[fleet]\nurl = \"{}\"\nnode = \"{name}\"\n{more}",
                redis.url_text()
            ),
        );
        let mut node = Node { env, daemon: None };
        node.start();
        node
    }

    fn start(&mut self) {
        self.start_unlinked();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fleet(&self.env).is_some_and(|f| f.following && f.publishing) {
            assert!(
                Instant::now() < deadline,
                "no fleet link after 10 s: {:?}\n{}",
                fleet(&self.env),
                self.env.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the daemon without waiting for its link to Redis.
    fn start_unlinked(&mut self) {
        self.daemon = Some(self.env.start_logging());
    }

    fn stop(&mut self) {
        self.daemon = None;
    }

    fn bans(&self) -> Vec<BanInfo> {
        self.env
            .ask(Request::List)
            .bans
            .unwrap_or_default()
            .to_vec()
    }

    fn ban_of(&self, addr: &str) -> Option<BanInfo> {
        self.bans().into_iter().find(|b| b.addr == addr)
    }

    fn wait_ban(&self, addr: &str) -> Duration {
        wait_until(&format!("{addr} denied"), Duration::from_secs(10), || {
            denies(&self.env.hosts_deny(), addr)
        })
    }

    /// `authban config check` of this node's configuration.
    fn config_check(&self) -> std::process::Output {
        Command::new(daemon_support::BIN)
            .arg("--config")
            .arg(self.env.path("authban.toml"))
            .args(["config", "check"])
            .output()
            .unwrap()
    }

    fn authban(&self, args: &[&str]) -> std::process::Output {
        self.env
            .cli()
            .args(args)
            .arg("--socket")
            .arg(self.env.socket())
            .output()
            .unwrap()
    }
}

fn fleet(env: &Env) -> Option<FleetInfo> {
    authban::control::request(&env.socket(), &Request::Status, Duration::from_secs(5))
        .ok()?
        .status?
        .fleet
}

fn ok(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn an_attack_on_one_node_bans_on_the_other_and_unbans_follow_their_origin() {
    let test = "an_attack_on_one_node_bans_on_the_other_and_unbans_follow_their_origin";
    let Some(redis) = Redis::start(test, ACL) else {
        return;
    };
    let a = Node::new(&redis, "web-1", "");
    let b = Node::new(
        &redis,
        "web-2",
        "share = [\"detected\", \"manual\", \"imported\"]\n",
    );
    // Detected on web-1: in web-2's hosts.deny, tagged with its origin.
    a.env.append(&failures("203.0.113.20", 3, 0));
    let took = b.wait_ban("203.0.113.20");
    eprintln!("from web-1's log line to web-2's hosts.deny: {took:?}");
    a.wait_ban("203.0.113.20");
    let remote = b.ban_of("203.0.113.20").unwrap();
    assert_eq!(remote.node.as_deref(), Some("web-1"));
    assert!(
        remote.reason.starts_with("fleet: web-1: score 3.0"),
        "{remote:?}"
    );
    assert_eq!(a.ban_of("203.0.113.20").unwrap().node, None);
    let list = ok(&b.authban(&["list"]));
    assert!(list.contains("fleet: web-1:"), "{list}");

    // web-1 lifts its ban: web-2 lifts the ban it had from web-1.
    ok(&a.authban(&["unban", "203.0.113.20"]));
    wait_until("the unban on web-2", Duration::from_secs(10), || {
        b.ban_of("203.0.113.20").is_none()
    });

    // web-2's own ban reaches web-1; web-1 lifting it there does not lift it on web-2,
    // and even a fleet-wide unban leaves a ban web-2 decided itself.
    ok(&b.authban(&["ban", "192.0.2.50", "--for", "2h"]));
    a.wait_ban("192.0.2.50");
    let text = ok(&a.authban(&["unban", "192.0.2.50", "--fleet"]));
    assert!(text.contains("on every fleet node"), "{text}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(a.ban_of("192.0.2.50").is_none());
    let kept = b.ban_of("192.0.2.50").expect("web-2 keeps its own ban");
    assert_eq!(kept.node, None);

    // A ban of a third node (written here as any node writes it) reaches both; an
    // admin's fleet-wide unban on web-2 lifts it on web-1 too.
    let mut conn = Conn::connect(&redis.url("node1:s3cret@"), None, TIMEOUT).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (at, until) = (now.to_string(), (now + 3600).to_string());
    call(
        &mut conn,
        &[
            "XADD",
            "authban:stream",
            "*",
            "v",
            "1",
            "op",
            "ban",
            "target",
            "198.51.100.7",
            "at",
            &at,
            "until",
            &until,
            "offence",
            "1",
            "origin",
            "detected",
            "node",
            "web-9",
            "reason",
            "seen on web-9",
        ],
    )
    .unwrap();
    a.wait_ban("198.51.100.7");
    b.wait_ban("198.51.100.7");
    assert_eq!(
        a.ban_of("198.51.100.7").unwrap().node.as_deref(),
        Some("web-9")
    );
    ok(&b.authban(&["unban", "198.51.100.7", "--fleet"]));
    wait_until(
        "the fleet-wide unban on web-1",
        Duration::from_secs(10),
        || a.ban_of("198.51.100.7").is_none(),
    );

    // An import on web-2, which shares imports, reaches web-1.
    let list = b.env.path("drop.txt");
    fs::write(&list, "198.51.100.0/24 ; SBL1\n203.0.113.128/25\n").unwrap();
    ok(&b.authban(&["import", list.to_str().unwrap(), "--for", "1d"]));
    wait_until(
        "the imported bans on web-1",
        Duration::from_secs(10),
        || a.ban_of("198.51.100.0/24").is_some() && a.ban_of("203.0.113.128/25").is_some(),
    );

    let status = ok(&b.authban(&["fleet", "status"]));
    for want in [
        "Node:        web-2 on redis://node1:***@",
        "Following:   connected",
        "Lag:         0 entries",
        "web-1",
        "Outbox:      0 records",
    ] {
        assert!(status.contains(want), "{want} not in\n{status}");
    }
    assert!(!status.contains("s3cret"), "{status}");
    let st = ok(&b.authban(&["status"]));
    assert!(st.contains("Fleet:             node web-2 on"), "{st}");
}

#[test]
fn the_allowlist_wins_and_a_quorum_of_two_ignores_a_single_reporter() {
    // Also: a report awaiting its quorum outlives a restart.
    let test = "the_allowlist_wins_and_a_quorum_of_two_ignores_a_single_reporter";
    let Some(redis) = Redis::start(test, ACL) else {
        return;
    };
    // Every node waits for two reporters, so each still detects on its own.
    let a = Node::new(&redis, "a", "");
    let b = Node::new(&redis, "b", "accept = { quorum = 2 }\n");
    let allow = Env::with(
        "1h",
        &format!(
            "[fleet]\nurl = \"{}\"\nnode = \"c\"\naccept = {{ quorum = 2 }}\n",
            redis.url_text()
        ),
    );
    // c also allowlists 192.0.2.99.
    let config = fs::read_to_string(allow.path("authban.toml"))
        .unwrap()
        .replace(
            "threshold = 3.0",
            "threshold = 3.0\nallowlist = [\"192.0.2.99\"]",
        );
    fs::write(allow.path("authban.toml"), config).unwrap();
    let mut c = Node {
        env: allow,
        daemon: None,
    };
    c.start();

    ok(&a.authban(&["ban", "203.0.113.77"]));
    // One reporter: b and c wait for a second.
    wait_until("the report on c", Duration::from_secs(10), || {
        fleet(&c.env).is_some_and(|f| f.awaiting_quorum == 1)
    });
    assert!(c.ban_of("203.0.113.77").is_none());
    assert!(b.ban_of("203.0.113.77").is_none());
    // A restart of c within the window keeps a's report: read again from the stream.
    c.stop();
    c.start();
    wait_until(
        "the report on c after its restart",
        Duration::from_secs(10),
        || fleet(&c.env).is_some_and(|f| f.awaiting_quorum == 1),
    );
    // b detects it too: the quorum is reached on c.
    b.env.append(&failures("203.0.113.77", 3, 0));
    wait_until("b's own ban", Duration::from_secs(10), || {
        b.ban_of("203.0.113.77").is_some_and(|x| x.node.is_none())
    });
    c.wait_ban("203.0.113.77");

    // Two nodes report an address c allowlists: c stays open to it, and says so.
    ok(&a.authban(&["ban", "192.0.2.99"]));
    ok(&b.authban(&["ban", "192.0.2.99"]));
    wait_until("c's refusal", Duration::from_secs(10), || {
        fleet(&c.env).is_some_and(|f| f.refused == 1)
    });
    assert!(c.ban_of("192.0.2.99").is_none());
    assert!(!denies(&c.env.hosts_deny(), "192.0.2.99"));
    let log = c.env.daemon_log();
    assert!(
        log.contains("fleet: not banning: refusing to ban 192.0.2.99")
            && log.contains("(from node "),
        "{log}"
    );
}

#[test]
fn a_node_away_catches_up_and_redis_killed_and_restarted_loses_nothing() {
    let test = "a_node_away_catches_up_and_redis_killed_and_restarted_loses_nothing";
    let Some(mut redis) = Redis::start(test, &format!("{ACL}appendonly yes\nappendfsync always\n"))
    else {
        return;
    };
    let a = Node::new(
        &redis,
        "a",
        "share = [\"detected\", \"manual\", \"imported\"]\n",
    );
    let list = a.env.path("list.txt");
    let first: Vec<String> = (1..=50).map(|i| format!("198.51.100.{i}")).collect();
    fs::write(&list, first.join("\n")).unwrap();
    ok(&a.authban(&["import", list.to_str().unwrap(), "--for", "1d"]));

    // A node that was never in the fleet reads the bans in force.
    let mut b = Node::new(&redis, "b", "");
    wait_until("the bans in force on b", Duration::from_secs(10), || {
        b.bans().len() == 50
    });
    assert!(
        b.env
            .daemon_log()
            .contains("50 bans in force read (first start in this fleet)")
    );

    // Away while more bans are made: it resumes from the stream where it stopped.
    b.stop();
    let more: Vec<String> = (51..=60).map(|i| format!("198.51.100.{i}")).collect();
    fs::write(&list, more.join("\n")).unwrap();
    ok(&a.authban(&["import", list.to_str().unwrap(), "--for", "1d"]));
    b.start();
    wait_until("the catch-up on b", Duration::from_secs(10), || {
        b.bans().len() == 60
    });
    assert!(!b.env.daemon_log().contains("60 bans in force read"));

    // Redis dies: a's bans wait in its outbox, shown in fleet status, and go out when
    // Redis is back; what Redis had is still there (its append-only file).
    redis.kill();
    wait_until("a to see Redis gone", Duration::from_secs(10), || {
        fleet(&a.env).is_some_and(|f| f.error.is_some())
    });
    for i in 1..=5 {
        ok(&a.authban(&["ban", &format!("203.0.113.{i}")]));
    }
    let f = fleet(&a.env).unwrap();
    assert_eq!(f.outbox, 5, "{f:?}");
    let out = a.authban(&["fleet", "status"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !out.status.success() && text.contains("5 records waiting"),
        "{text}"
    );
    // Local protection goes on meanwhile.
    a.env.append(&failures("203.0.113.200", 3, 0));
    a.wait_ban("203.0.113.200");

    redis.restart();
    for i in 1..=5 {
        b.wait_ban(&format!("203.0.113.{i}"));
    }
    b.wait_ban("203.0.113.200");
    wait_until("a's outbox to empty", Duration::from_secs(10), || {
        fleet(&a.env).is_some_and(|f| f.outbox == 0 && f.error.is_none())
    });
    // A node joining now finds every ban in force, the ones from before the kill too.
    let c = Node::new(&redis, "c", "");
    wait_until("the bans in force on c", Duration::from_secs(10), || {
        c.bans().len() == 66
    });
}

#[test]
fn a_ban_lifted_and_banned_again_in_one_read_stays_in_force_across_a_restart() {
    let test = "a_ban_lifted_and_banned_again_in_one_read_stays_in_force_across_a_restart";
    let Some(redis) = Redis::start(test, ACL) else {
        return;
    };
    let mut a = Node::new(&redis, "a", "");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (at, until) = (now.to_string(), (now + 3600).to_string());
    let entry = |op: &str| -> Vec<Vec<u8>> {
        let until = if op == "ban" { until.as_str() } else { "never" };
        [
            "XADD",
            "authban:stream",
            "*",
            "v",
            "1",
            "op",
            op,
            "target",
            "198.51.100.9",
            "at",
            &at,
            "until",
            until,
            "offence",
            "1",
            "origin",
            "manual",
            "node",
            "web-9",
            "reason",
            "x",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    };
    // One write: the follower reads the three entries in one XREAD.
    let mut conn = Conn::connect(&redis.url("node1:s3cret@"), None, TIMEOUT).unwrap();
    conn.pipeline(&[entry("ban"), entry("unban"), entry("ban")])
        .unwrap();
    a.wait_ban("198.51.100.9");
    // The engine answers `list` after its save of what it read: the kill below must not
    // fall between the firewall and the store (that case is adoption's, and loses the
    // ban's origin).
    wait_until("the ban listed", Duration::from_secs(10), || {
        a.ban_of("198.51.100.9").is_some()
    });
    a.stop();
    a.start();
    let b = a
        .ban_of("198.51.100.9")
        .expect("still banned after the restart");
    assert_eq!(b.node.as_deref(), Some("web-9"));
}

/// The TLS keys of a node's `[fleet]`: the CA to trust, and a client certificate.
#[cfg(feature = "tls")]
fn tls_files(ca: &std::path::Path, cert: Option<(&std::path::Path, &std::path::Path)>) -> String {
    let mut out = format!("tls-ca-file = \"{}\"\n", ca.display());
    if let Some((cert, key)) = cert {
        out += &format!(
            "tls-cert-file = \"{}\"\ntls-key-file = \"{}\"\n",
            cert.display(),
            key.display()
        );
    }
    out
}

#[cfg(not(feature = "tls"))]
#[test]
fn a_build_without_tls_refuses_a_rediss_url_in_config_check() {
    let env = Env::with(
        "1h",
        "[fleet]\nurl = \"rediss://node1:s3cret@127.0.0.1:6380\"\n",
    );
    let out = Node { env, daemon: None }.config_check();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(
        text.contains("this authban was built without TLS: build it with `--features tls`"),
        "{text}"
    );
}

/// Needs the `tls` feature: `cargo test --features tls` (`.ci/run` runs it).
#[cfg(feature = "tls")]
#[test]
fn over_tls_a_ban_is_shared_and_a_server_or_a_node_the_ca_did_not_sign_is_refused() {
    // Also refused: a server whose certificate does not name the host in the URL.
    let test = "over_tls_a_ban_is_shared_and_a_server_or_a_node_the_ca_did_not_sign_is_refused";
    let Some(certs) = Certs::make(test) else {
        return;
    };
    // Redis's port speaks TLS only and asks each client for a certificate of the CA.
    let Some(redis) = Redis::start_tls(test, ACL, &certs) else {
        return;
    };
    let tls = tls_files(&certs.ca, Some((&certs.client_cert, &certs.client_key)));
    let a = Node::new(&redis, "web-1", &tls);
    let b = Node::new(&redis, "web-2", &tls);
    let check = ok(&a.config_check());
    assert!(
        check.contains("url = \"rediss://node1:***@127.0.0.1:"),
        "{check}"
    );

    a.env.append(&failures("203.0.113.30", 3, 0));
    let took = b.wait_ban("203.0.113.30");
    eprintln!("over TLS, from web-1's log line to web-2's hosts.deny: {took:?}");
    assert_eq!(
        b.ban_of("203.0.113.30").unwrap().node.as_deref(),
        Some("web-1")
    );
    let status = ok(&b.authban(&["fleet", "status"]));
    assert!(status.contains("rediss://node1:***@127.0.0.1:"), "{status}");
    assert!(status.contains("web-1"), "{status}");

    // A node that trusts another CA refuses the server: it says why, in status and in
    // `fleet status`, and bans nothing from the fleet.
    let other = certs.dir.path().join("other-ca.pem");
    redis::self_signed(&certs.dir.path().join("other-ca.key"), &other, "another CA");
    let mut c = Node {
        env: Env::with(
            "1h",
            &format!(
                "[fleet]\nurl = \"{}\"\nnode = \"web-3\"\n{}",
                redis.url_text(),
                tls_files(&other, Some((&certs.client_cert, &certs.client_key)))
            ),
        ),
        daemon: None,
    };
    ok(&c.config_check());
    c.start_unlinked();
    let error = |env: &Env| fleet(env).and_then(|f| f.error);
    wait_until("web-3's TLS error", Duration::from_secs(10), || {
        error(&c.env).is_some()
    });
    let said = error(&c.env).unwrap();
    assert!(said.contains("TLS handshake with 127.0.0.1"), "{said}");
    assert!(said.contains("invalid peer certificate"), "{said}");
    let out = c.authban(&["fleet", "status"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(c.ban_of("203.0.113.30").is_none());

    // A node that reaches the server by a name its certificate does not carry (the
    // certificate names 127.0.0.1 only) refuses it, though its CA signed it.
    let mut e = Node {
        env: Env::with(
            "1h",
            &format!(
                "[fleet]\nurl = \"{}\"\nnode = \"web-5\"\n{}",
                redis.url_text().replace("@127.0.0.1:", "@localhost:"),
                tls_files(&certs.ca, Some((&certs.client_cert, &certs.client_key)))
            ),
        ),
        daemon: None,
    };
    e.start_unlinked();
    wait_until("web-5's TLS error", Duration::from_secs(10), || {
        error(&e.env).is_some()
    });
    let said = error(&e.env).unwrap();
    assert!(said.contains("TLS handshake with localhost"), "{said}");
    assert!(
        said.contains("not valid for name") || said.contains("NotValidForName"),
        "{said}"
    );
    assert!(e.ban_of("203.0.113.30").is_none());

    // A node without a client certificate is refused by Redis.
    let mut d = Node {
        env: Env::with(
            "1h",
            &format!(
                "[fleet]\nurl = \"{}\"\nnode = \"web-4\"\n{}",
                redis.url_text(),
                tls_files(&certs.ca, None)
            ),
        ),
        daemon: None,
    };
    d.start_unlinked();
    wait_until("web-4's TLS error", Duration::from_secs(10), || {
        error(&d.env).is_some()
    });
    assert!(d.ban_of("203.0.113.30").is_none());
    let said = error(&d.env).unwrap();
    assert!(said.contains("set fleet.tls-cert-file"), "{said}");
    assert!(
        fleet(&d.env).is_some_and(|f| !f.following && !f.publishing),
        "{:?}",
        fleet(&d.env)
    );

    // `config check` reads the files as the daemon would, and refuses what cannot work.
    let url = redis.url_text();
    let refused = |url: &str, tls: String, want: &str| {
        let env = Env::with("1h", &format!("[fleet]\nurl = \"{url}\"\n{tls}"));
        let out = Node { env, daemon: None }.config_check();
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(78), "{text}");
        assert!(text.contains(want), "{text}");
    };
    refused(
        &url,
        tls_files(&certs.client_key, None),
        "fleet.tls-ca-file",
    );
    refused(
        &url,
        tls_files(&certs.ca, Some((&certs.client_cert, &certs.server_key))),
        "KeyMismatch",
    );
    refused(
        &url.replace("node1:s3cret@", "node1@"),
        format!(
            "{}password-file = \"/nonexistent/pw\"\n",
            tls_files(&certs.ca, None)
        ),
        "cannot read fleet.password-file /nonexistent/pw",
    );
    let open_key = certs.dir.path().join("open.key");
    fs::copy(&certs.client_key, &open_key).unwrap();
    fs::set_permissions(&open_key, fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        &url,
        tls_files(&certs.ca, Some((&certs.client_cert, &open_key))),
        "can be read by every user (mode 644)",
    );
}
