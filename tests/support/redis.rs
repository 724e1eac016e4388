//! A `redis-server` (Debian's) of a test's own, on a free port and a Unix socket in a
//! temporary directory, never the system's. Without redis-server a test says it skipped,
//! except under CI, which installs it. `AUTHBAN_TEST_REDIS_SERVER` names another server
//! program that speaks the same protocol: CI runs the fleet's tests again with Valkey's.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authban::fleet::resp::Url;

#[path = "certs.rs"]
mod certs;

/// The server program: `AUTHBAN_TEST_REDIS_SERVER`, else Debian's `redis-server`.
pub fn server() -> String {
    std::env::var("AUTHBAN_TEST_REDIS_SERVER")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "redis-server".to_owned())
}

/// A redis-server of the test's own, killed on drop.
pub struct Redis {
    pub child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    pub socket: std::path::PathBuf,
    /// The port speaks TLS only (`rediss://`).
    pub tls: bool,
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
    pub fn start(test: &str, config: &str) -> Option<Redis> {
        Redis::start_on(test, config, None)
    }

    /// As [`Redis::start`], its port speaking TLS only with the server certificate of
    /// `certs`, and asking every client for a certificate signed by their CA.
    pub fn start_tls(test: &str, config: &str, certs: &Certs) -> Option<Redis> {
        Redis::start_on(test, config, Some(certs))
    }

    fn start_on(test: &str, config: &str, certs: Option<&Certs>) -> Option<Redis> {
        if Command::new(server()).arg("--version").output().is_err() {
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
        let listen = match certs {
            None => format!("port {port}\n"),
            Some(c) => format!(
                "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
                 tls-ca-cert-file {}\ntls-auth-clients yes\n",
                c.server_cert.display(),
                c.server_key.display(),
                c.ca.display()
            ),
        };
        fs::write(
            &conf,
            format!(
                "{listen}bind 127.0.0.1\nunixsocket {}\nunixsocketperm 700\n\
                 dir {}\nsave \"\"\nappendonly no\n{config}\n",
                socket.display(),
                dir.path().display()
            ),
        )
        .unwrap();
        let child = Redis::spawn(&conf);
        let redis = Redis {
            child,
            dir,
            port,
            socket,
            tls: certs.is_some(),
        };
        redis.wait_ready();
        Some(redis)
    }

    fn spawn(conf: &std::path::Path) -> Child {
        Command::new(server())
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.socket.exists()
            || std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: nothing flushed but what its append-only file holds).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.socket);
    }

    /// Starts it again on the same port, directory and files.
    pub fn restart(&mut self) {
        self.child = Redis::spawn(&self.dir.path().join("redis.conf"));
        self.wait_ready();
    }

    /// The URL a node's configuration holds: the README's ACL user, by TCP.
    pub fn url_text(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://node1:s3cret@127.0.0.1:{}", self.port)
    }

    pub fn url(&self, auth: &str) -> Url {
        format!("redis://{auth}127.0.0.1:{}", self.port)
            .parse()
            .unwrap()
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A certificate authority of the test's own, and what it signed with `openssl` (Debian's):
/// a server certificate for 127.0.0.1 and a client certificate. `None` (after saying
/// why) when openssl is not installed outside CI.
pub struct Certs {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Certs {
    pub fn make(test: &str) -> Option<Certs> {
        if Command::new("openssl").arg("version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v.is_empty()),
                "{test}: CI must install openssl"
            );
            let _ = writeln!(std::io::stderr(), "skipped: {test}: no openssl");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        let certs = Certs {
            ca: p("ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server.key"),
            client_cert: p("client.pem"),
            client_key: p("client.key"),
            dir,
        };
        let ca_key = certs.dir.path().join("ca.key");
        self_signed(&ca_key, &certs.ca, "authban test CA");
        certs.sign(
            &certs.server_key,
            &certs.server_cert,
            "127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        certs.sign(
            &certs.client_key,
            &certs.client_cert,
            "web-1",
            "extendedKeyUsage=clientAuth\n",
        );
        Some(certs)
    }

    /// A key and a certificate of `subject` signed by this CA, with `extensions`.
    fn sign(&self, key: &Path, cert: &Path, subject: &str, extensions: &str) {
        let ca_key = self.dir.path().join("ca.key");
        certs::sign(
            (&self.ca, &ca_key),
            (key, cert),
            subject,
            extensions,
            self.dir.path(),
        );
    }
}

pub use certs::self_signed;
