#![allow(dead_code)]
//! What the daemon benchmarks share: a network namespace of their own, and
//! `nft monitor new elements` in it, every element added with when it was read.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub const TABLE: &str = "authban";

/// The namespace, removed on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new() -> Netns {
        Netns::named("")
    }

    /// `authban-bench-PID` and `tag`, to have several.
    pub fn named(tag: &str) -> Netns {
        let name = format!("authban-bench-{}{tag}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name} failed");
        Netns(name)
    }

    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }

    /// Elements in one of our sets, listed by nft.
    pub fn count(&self, set: &str) -> usize {
        let out = self
            .cmd("nft")
            .args(["-j", "list", "set", "inet", TABLE, set])
            .output()
            .expect("nft runs");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        json["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["set"]["elem"].as_array())
            .map(Vec::len)
            .sum()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// `nft monitor new elements` in the namespace: every element added, with when we read it.
pub struct Monitor {
    child: Child,
    pub rx: Receiver<(IpAddr, Instant)>,
}

impl Monitor {
    pub fn start(ns: &Netns) -> Monitor {
        let mut child = ns
            .cmd("nft")
            .args(["monitor", "new", "elements"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nft monitor starts");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // "add element inet authban ban4 { 10.0.0.1 timeout 1h expires 59m59s }"
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                let Some((_, rest)) = line.split_once("{ ") else {
                    continue;
                };
                let addr = rest.split([' ', '/']).next().unwrap_or("");
                if let Ok(a) = addr.parse::<IpAddr>()
                    && tx.send((a, at)).is_err()
                {
                    break;
                }
            }
        });
        // Let it subscribe before anything happens.
        std::thread::sleep(Duration::from_millis(300));
        Monitor { child, rx }
    }

    pub fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// Waits until every address of `want` was added; returns when the last one was.
    pub fn wait_all(&self, want: &HashSet<IpAddr>, limit: Duration) -> Result<Instant, usize> {
        let mut seen = HashSet::new();
        let deadline = Instant::now() + limit;
        let mut last = Instant::now();
        while seen.len() < want.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((a, at)) => {
                    if want.contains(&a) && seen.insert(a) {
                        last = at;
                    }
                }
                Err(_) => return Err(seen.len()),
            }
        }
        Ok(last)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
