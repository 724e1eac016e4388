//! The fleet's Redis connection against a real `redis-server` (Debian's, 7.0), one started
//! by each test on a free port or a Unix socket, with an ACL user limited to the fleet's
//! keys as the README tells operators to make. Without redis-server the tests say they
//! skipped, except under CI, which installs it.

use std::fs;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authban::fleet::resp::{Conn, Reply, RespError, Url};

const TIMEOUT: Duration = Duration::from_secs(2);

/// A redis-server of the test's own, killed on drop.
struct Redis {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
    socket: std::path::PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// Starts redis-server with `config` lines added; `None` (after saying why) when it
    /// is not installed outside CI.
    fn start(test: &str, config: &str) -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v.is_empty()),
                "{test}: CI must install redis-server"
            );
            let _ = writeln!(std::io::stderr(), "skipped: {test}: no redis-server");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let socket = dir.path().join("redis.sock");
        let conf = dir.path().join("redis.conf");
        fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nunixsocket {}\nunixsocketperm 700\n\
                 dir {}\nsave \"\"\nappendonly no\n{config}\n",
                socket.display(),
                dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let redis = Redis {
            child,
            _dir: dir,
            port,
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis.socket.exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    fn url(&self, auth: &str) -> Url {
        format!("redis://{auth}127.0.0.1:{}", self.port)
            .parse()
            .unwrap()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn call(conn: &mut Conn, args: &[&str]) -> Result<Reply, RespError> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    conn.call(&args)
}

/// The ACL user of the README: the fleet's keys and the few commands it uses, nothing
/// else; the default user off.
const ACL: &str = "user default off\n\
    user node1 on >s3cret ~authban:* resetchannels -@all +ping +select +xadd +xread +xrange +xtrim +zadd +zrangebyscore +zremrangebyscore +hset +hgetall +eval\n";

#[test]
fn an_acl_user_authenticates_and_a_blocking_read_gets_an_entry_as_it_is_added() {
    let test = "an_acl_user_authenticates_and_a_blocking_read_gets_an_entry_as_it_is_added";
    let Some(redis) = Redis::start(test, ACL) else {
        return;
    };
    // A wrong password, and no user at all, are refused with the server's words.
    match Conn::connect(&redis.url("node1:wrong@"), TIMEOUT) {
        Err(RespError::Server(msg)) => assert!(msg.starts_with("WRONGPASS"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let mut anon = Conn::connect(&redis.url(""), TIMEOUT).unwrap();
    match call(&mut anon, &["PING"]) {
        Err(RespError::Server(msg)) => assert!(msg.starts_with("NOAUTH"), "{msg}"),
        other => panic!("{other:?}"),
    }

    let mut reader = Conn::connect(&redis.url("node1:s3cret@"), TIMEOUT).unwrap();
    let mut writer = Conn::connect(&redis.url("node1:s3cret@"), TIMEOUT).unwrap();
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
    let mut conn = Conn::connect(&url, TIMEOUT).unwrap();
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
    assert!(Conn::connect(&url, TIMEOUT).is_err());
}
