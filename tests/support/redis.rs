//! A `redis-server` (Debian's) of a test's own, on a free port and a Unix socket in a
//! temporary directory, never the system's. Without redis-server a test says it skipped,
//! except under CI, which installs it.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authban::fleet::resp::Url;

/// A redis-server of the test's own, killed on drop.
pub struct Redis {
    pub child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    pub socket: std::path::PathBuf,
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
        let child = Redis::spawn(&conf);
        let redis = Redis {
            child,
            dir,
            port,
            socket,
        };
        redis.wait_ready();
        Some(redis)
    }

    fn spawn(conf: &std::path::Path) -> Child {
        Command::new("redis-server")
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
        format!("redis://node1:s3cret@127.0.0.1:{}", self.port)
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
