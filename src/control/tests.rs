//! Tests of the control protocol and server, in process against a fake engine.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::*;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

fn all_requests() -> Vec<Request> {
    vec![
        Request::Status,
        Request::List,
        Request::Ban {
            addr: "192.0.2.7".into(),
            duration: Some("1h".into()),
        },
        Request::Ban {
            addr: "2001:db8::/64".into(),
            duration: None,
        },
        Request::Unban {
            addr: "192.0.2.7".into(),
            fleet: false,
        },
        Request::Reload,
    ]
}

/// A server at a fresh path with a fake engine that echoes what it got and from whom.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    server: Option<ControlServer>,
}

impl Fixture {
    fn new(opts: ServerOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/authban.sock");
        let (tx, rx) = mpsc::channel::<Incoming>();
        std::thread::spawn(move || {
            for inc in rx {
                let msg = format!("{:?} from uid {}", inc.request, inc.peer.uid);
                let response = match &inc.request {
                    Request::Status => Response {
                        message: Some(msg),
                        ..Response::with_status(sample_status())
                    },
                    Request::List => Response {
                        message: Some(msg),
                        ..Response::with_bans(vec![sample_ban()])
                    },
                    _ => Response::message(msg),
                };
                inc.reply(response);
            }
        });
        let server = serve(&path, opts, tx, Arc::new(AtomicBool::new(false))).unwrap();
        Fixture {
            _dir: dir,
            path,
            server: Some(server),
        }
    }

    fn ask(&self, req: &Request) -> Response {
        request(&self.path, req, CLIENT_TIMEOUT).unwrap()
    }

    /// Sends raw bytes and returns the raw answer line.
    fn raw(&self, bytes: &[u8]) -> Response {
        raw_exchange(&self.path, bytes)
    }
}

fn raw_exchange(path: &Path, bytes: &[u8]) -> Response {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    // A too-long request is answered before it is read in full: the rest may not go out.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

pub(crate) fn sample_status() -> Status {
    Status {
        version: "0.1.0".into(),
        pid: 42,
        started_at: 1_700_000_000,
        store_error: None,
        unsaved_bans: 0,
        metrics: None,
        fleet: None,
        sources: vec![SourceInfo {
            name: "/var/log/auth.log".into(),
            state: "following".into(),
            lines: 1234,
        }],
        backends: vec![BackendInfo {
            name: "nftables".into(),
            ok: false,
            error: Some("nft: cannot open netlink".into()),
            pending: 3,
            degraded: None,
            refused: Vec::new(),
        }],
        active_bans: 3,
        tracked_addresses: 17,
        events: EventCounts {
            auth_failure: 10,
            invalid_user: 5,
            probe: 2,
            success: 1,
            untrusted_logins: 0,
        },
        lines: 1234,
        recent: vec![RecentEvent {
            time: Some("2023-11-14T22:13:20+00:00".into()),
            kind: "invalid-user".into(),
            addr: "192.0.2.7".into(),
            msg: "Invalid user admin".into(),
        }],
    }
}

pub(crate) fn sample_ban() -> BanInfo {
    BanInfo {
        addr: "192.0.2.7".into(),
        banned_at: 1_700_000_000,
        expires_at: Some(1_700_086_400),
        offences: 2,
        reason: "6 failures in 10m".into(),
        node: None,
    }
}

#[test]
fn requests_have_the_documented_json_shape() {
    let ban = Request::Ban {
        addr: "192.0.2.7".into(),
        duration: Some("1h".into()),
    };
    assert_eq!(
        serde_json::to_string(&ban).unwrap(),
        r#"{"cmd":"ban","addr":"192.0.2.7","for":"1h"}"#
    );
    assert_eq!(
        serde_json::to_string(&Request::Status).unwrap(),
        r#"{"cmd":"status"}"#
    );
    let parsed: Request = serde_json::from_str(r#"{"cmd":"ban","addr":"192.0.2.7"}"#).unwrap();
    assert_eq!(
        parsed,
        Request::Ban {
            addr: "192.0.2.7".into(),
            duration: None
        }
    );
    for req in all_requests() {
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(
            serde_json::from_str::<Request>(&text).unwrap(),
            req,
            "{text}"
        );
    }
}

#[test]
fn a_request_with_an_unknown_field_is_refused() {
    // A typo must not turn `ban --for` into a ban with the default time.
    assert!(
        serde_json::from_str::<Request>(r#"{"cmd":"ban","addr":"1.2.3.4","fro":"1h"}"#).is_err()
    );
    assert!(serde_json::from_str::<Request>(r#"{"cmd":"status","x":1}"#).is_err());
}

#[test]
fn only_ban_unban_and_reload_mutate() {
    let mutating: Vec<&str> = all_requests()
        .iter()
        .filter(|r| r.mutates())
        .map(|r| r.name())
        .collect();
    assert_eq!(mutating, ["ban", "ban", "unban", "reload"]);
}

#[test]
fn responses_leave_out_empty_fields_and_tolerate_new_ones() {
    assert_eq!(
        serde_json::to_string(&Response::ok()).unwrap(),
        r#"{"ok":true}"#
    );
    assert_eq!(
        serde_json::to_string(&Response::error("no")).unwrap(),
        r#"{"ok":false,"error":"no"}"#
    );
    // A newer daemon may add fields; an older client must still read the answer.
    let r: Response =
        serde_json::from_str(r#"{"ok":true,"message":"hi","uptime":3,"status":{"pid":1,"new":2}}"#)
            .unwrap();
    assert_eq!(r.message.as_deref(), Some("hi"));
    assert_eq!(r.status.unwrap().pid, 1);
}

#[test]
fn every_request_makes_the_round_trip_to_the_engine_and_back() {
    let f = Fixture::new(ServerOptions::default());
    for req in all_requests() {
        let r = f.ask(&req);
        assert!(r.ok, "{req:?}: {r:?}");
        assert_eq!(
            r.message.unwrap(),
            format!("{req:?} from uid {}", nix::unistd::getuid())
        );
    }
    assert_eq!(f.ask(&Request::Status).status.unwrap(), sample_status());
    assert_eq!(*f.ask(&Request::List).bans.unwrap(), vec![sample_ban()]);
}

#[test]
fn the_socket_gets_the_asked_mode_and_its_directory_is_created() {
    for mode in [0o600, 0o660] {
        let f = Fixture::new(ServerOptions {
            mode,
            ..ServerOptions::default()
        });
        let meta = std::fs::metadata(&f.path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, mode);
        let dir = std::fs::metadata(f.path.parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o7777, 0o755);
    }
}

#[test]
fn a_megabyte_request_is_refused_and_the_next_client_is_served() {
    let f = Fixture::new(ServerOptions::default());
    let mut big = vec![b'a'; 1 << 20];
    big.push(b'\n');
    let r = f.raw(&big);
    assert!(!r.ok);
    assert!(r.error.unwrap().contains("request too long"));
    // Also through the client, whose write fails half-way: it reports the server's reason.
    let r = f.ask(&Request::Ban {
        addr: "x".repeat(1 << 20),
        duration: None,
    });
    assert!(r.error.unwrap().contains("request too long"));
    assert!(f.ask(&Request::Status).ok);
}

#[test]
fn garbage_invalid_utf8_and_unknown_commands_get_an_error_answer() {
    let f = Fixture::new(ServerOptions::default());
    for (bytes, expect) in [
        (&b"{not json\n"[..], "bad request"),
        (b"\xff\xfe{}\n", "not UTF-8"),
        (b"{\"cmd\":\"shutdown\"}\n", "unknown variant `shutdown`"),
        (b"{\"addr\":\"1.2.3.4\"}\n", "bad request"),
        (b"\n", "bad request"),
        // No newline, then EOF: the last line still counts.
        (b"{\"cmd\":\"rm -rf\"}", "unknown variant"),
    ] {
        let r = f.raw(bytes);
        assert!(!r.ok);
        let error = r.error.unwrap();
        assert!(error.contains(expect), "{bytes:?}: {error}");
    }
    assert!(f.ask(&Request::List).ok);
}

#[test]
fn a_silent_client_times_out_while_others_are_served() {
    let f = Fixture::new(ServerOptions {
        timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    });
    let silent = UnixStream::connect(&f.path).unwrap();
    let half = {
        let mut s = UnixStream::connect(&f.path).unwrap();
        s.write_all(br#"{"cmd":"sta"#).unwrap();
        s
    };
    let start = Instant::now();
    assert!(f.ask(&Request::Status).ok);
    assert!(
        start.elapsed() < Duration::from_millis(400),
        "blocked by silent clients"
    );
    for s in [silent, half] {
        s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        let r: Response = serde_json::from_str(&line).unwrap();
        assert!(r.error.unwrap().contains("no complete request"));
    }
    assert!(start.elapsed() >= Duration::from_millis(450));
}

#[test]
fn an_engine_that_does_not_answer_makes_the_daemon_busy_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let (tx, rx) = mpsc::channel::<Incoming>();
    let opts = ServerOptions {
        timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    };
    let _server = serve(&path, opts, tx, Arc::new(AtomicBool::new(false))).unwrap();
    let r = request(&path, &Request::Status, CLIENT_TIMEOUT).unwrap();
    assert!(r.error.unwrap().starts_with("daemon busy"));
    drop(rx);
    let r = request(&path, &Request::Status, CLIENT_TIMEOUT).unwrap();
    assert!(r.error.unwrap().contains("shutting down"));
}

#[test]
fn connections_beyond_the_limit_are_refused_at_once() {
    let f = Fixture::new(ServerOptions {
        max_connections: 2,
        timeout: Duration::from_secs(3),
        ..ServerOptions::default()
    });
    // This test runs as root, so its connections also fill the privileged slots.
    let _held: Vec<UnixStream> = (0..2 + super::server::PRIVILEGED_SLOTS)
        .map(|_| UnixStream::connect(&f.path).unwrap())
        .collect();
    // Let the server accept them all before the next one arrives.
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let r = f.ask(&Request::Status);
    assert!(r.error.unwrap().contains("too many control connections"));
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn clients_holding_every_slot_do_not_lock_root_out() {
    // Issue 8, item 8: users allowed on the socket (mode 0666 here) hold every ordinary
    // slot; root still gets its answer.
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run clients as another user");
        return;
    }
    let python = std::path::Path::new("/usr/bin/python3");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "/usr/bin/python3 is missing in CI"
        );
        eprintln!("skipped: /usr/bin/python3 is missing");
        return;
    }
    let f = Fixture::new(ServerOptions {
        max_connections: 3,
        mode: 0o666,
        timeout: Duration::from_secs(10),
        ..ServerOptions::default()
    });
    use std::os::unix::fs::PermissionsExt;
    for dir in [f.path.parent().unwrap(), f._dir.path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Three processes of `nobody`, each holding a connection without a request.
    let script = format!(
        "import socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.connect({:?})\nprint('held', flush=True)\ntime.sleep(8)",
        f.path.display().to_string()
    );
    let mut holders: Vec<std::process::Child> = (0..3)
        .map(|_| {
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(python)
                .args(["-c", &script])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("setpriv")
        })
        .collect();
    for h in &mut holders {
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(h.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "held");
    }
    std::thread::sleep(Duration::from_millis(200));
    let r = f.ask(&Request::Status);
    assert!(r.ok, "root was refused: {r:?}");
    for mut h in holders {
        let _ = h.kill();
        let _ = h.wait();
    }
}

#[test]
fn a_stale_socket_is_replaced_a_live_one_refused_and_a_file_kept() {
    let f = Fixture::new(ServerOptions::default());
    let (tx, _rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let err = serve(&f.path, ServerOptions::default(), tx.clone(), stop.clone()).unwrap_err();
    assert!(matches!(err, ControlError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("another authban is running"));
    // The refused second daemon must not have removed the first one's socket.
    assert!(f.ask(&Request::Status).ok);

    // A socket nobody listens on: left by a daemon that died.
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let server = serve(&stale, ServerOptions::default(), tx.clone(), stop.clone()).unwrap();
    drop(server);

    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "precious").unwrap();
    let err = serve(&file, ServerOptions::default(), tx, stop).unwrap_err();
    assert!(matches!(err, ControlError::Bind { .. }));
    assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

#[test]
fn shutting_down_removes_the_socket_promptly() {
    let mut f = Fixture::new(ServerOptions::default());
    let start = Instant::now();
    f.server.take().unwrap().shutdown();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(!f.path.exists());
    let err = request(&f.path, &Request::Status, CLIENT_TIMEOUT).unwrap_err();
    assert!(matches!(err, ControlError::Connect { .. }));
}

#[test]
fn the_stop_flag_ends_serving_at_the_next_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let (tx, _rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(&path, ServerOptions::default(), tx, stop.clone()).unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = UnixStream::connect(&path);
    let start = Instant::now();
    while !server.handle.as_ref().unwrap().is_finished() {
        assert!(start.elapsed() < Duration::from_secs(5), "still serving");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_unreachable_daemon_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authban.sock");
    let err = request(&path, &Request::Status, CLIENT_TIMEOUT).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach the authban daemon at {}: ",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("is `authban run` running?"), "{text}");
}

/// Not a test of its own: the client half of
/// [`a_peer_that_is_not_root_may_read_but_not_change`], run in a child process under
/// another uid. Prints one `RESULT name json` line per request.
#[test]
#[ignore = "helper run by a_peer_that_is_not_root_may_read_but_not_change"]
fn peer_client_helper() {
    let Some(path) = std::env::var_os("AUTHBAN_TEST_PEER_SOCKET") else {
        return;
    };
    for req in all_requests() {
        let r = request(Path::new(&path), &req, CLIENT_TIMEOUT).unwrap();
        println!(
            "RESULT {} {}",
            req.name(),
            serde_json::to_string(&r).unwrap()
        );
    }
}

/// Runs the helper as uid/gid 65534 (nobody) through setpriv and returns each request's
/// answer, or why it cannot run.
fn ask_as_nobody(path: &Path) -> Result<Vec<(String, Response)>, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root to run a client as another user".into());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", "control::tests::peer_client_helper", "--ignored"])
        .args(["--nocapture", "--test-threads", "1"])
        .env("AUTHBAN_TEST_PEER_SOCKET", path)
        .output()
        .map_err(|e| format!("cannot run setpriv (util-linux): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the client as nobody failed ({}); is {} executable by nobody?\n{}{}",
            out.status,
            exe.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        // libtest's "test name ... " may precede the first result on its line.
        .filter_map(|l| l.find("RESULT ").map(|at| &l[at + "RESULT ".len()..]))
        .map(|l| {
            let (name, json) = l.split_once(' ').unwrap();
            (name.to_owned(), serde_json::from_str(json).unwrap())
        })
        .collect())
}

fn skip_or_fail(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and this test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

/// A world-writable socket (0666) lets nobody connect, so what refuses the mutating
/// requests here is the credential check, not the file mode.
#[test]
fn a_peer_that_is_not_root_may_read_but_not_change() {
    let f = Fixture::new(ServerOptions {
        mode: 0o666,
        ..ServerOptions::default()
    });
    // tempdir() makes a 0700 directory: nobody must be able to reach the socket in it.
    let top = f.path.parent().unwrap().parent().unwrap();
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755)).unwrap();
    let results = match ask_as_nobody(&f.path) {
        Ok(r) => r,
        Err(why) => return skip_or_fail(&why),
    };
    assert_eq!(results.len(), all_requests().len(), "{results:?}");
    for (name, r) in results {
        if name == "status" || name == "list" {
            assert!(r.ok, "{name}: {r:?}");
            assert!(r.message.unwrap().ends_with("from uid 65534"));
        } else {
            assert!(!r.ok, "{name} must be refused: {r:?}");
            let error = r.error.unwrap();
            assert!(error.starts_with("permission denied: "), "{error}");
            assert!(error.contains("needs root"), "{error}");
            assert!(error.contains("uid 65534"), "{error}");
        }
    }
}

#[test]
fn an_allowed_uid_may_change() {
    let f = Fixture::new(ServerOptions {
        mode: 0o666,
        allowed_uids: vec![65534],
        ..ServerOptions::default()
    });
    let top = f.path.parent().unwrap().parent().unwrap();
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755)).unwrap();
    let results = match ask_as_nobody(&f.path) {
        Ok(r) => r,
        Err(why) => return skip_or_fail(&why),
    };
    assert_eq!(results.len(), all_requests().len());
    for (name, r) in results {
        assert!(r.ok, "{name}: {r:?}");
    }
}
