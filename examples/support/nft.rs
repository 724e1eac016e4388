#![allow(dead_code)]
//! What the daemon benchmarks share: a network namespace of their own,
//! `nft monitor new elements` in it, every element added with when it was read, and a
//! [`Probe`] that asks the kernel for one element.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
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

/// Asks the namespace's kernel whether an address is in our set, over a netlink socket
/// of its own: a system call, no process.
///
/// `nft monitor` is not free for the daemon it watches: while anyone listens, the kernel
/// builds a notification for every element added, in the daemon's own `sendmsg`, and
/// then `nft` parses and prints it. In a burst of 10,000 bans that was 38% of the
/// daemon's CPU (perf), besides the monitors' own. A probe costs the daemon nothing.
pub struct Probe {
    fd: OwnedFd,
    seq: u32,
}

impl Probe {
    pub fn open(ns: &Netns) -> Probe {
        use nix::sys::socket::{
            AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, socket,
        };
        let path = format!("/run/netns/{}", ns.0);
        // A socket belongs to the namespace of the thread that made it.
        let fd = std::thread::spawn(move || {
            let netns = File::open(&path).expect("the namespace's file");
            rustix::thread::move_into_link_name_space(
                netns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkNetFilter,
            )
            .expect("a netlink socket")
        })
        .join()
        .unwrap();
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).expect("bind");
        Probe { fd, seq: 1 }
    }

    /// Whether `addr` is in `ban4` or `ban6`: NFT_MSG_GETSETELEM of that one key, answered
    /// with the element, or with an error (ENOENT) when it is not there.
    pub fn has(&mut self, addr: IpAddr) -> bool {
        use nix::sys::socket::{MsgFlags, recv, send};
        let (set, key): (&str, Vec<u8>) = match addr {
            IpAddr::V4(a) => ("ban4", a.octets().to_vec()),
            IpAddr::V6(a) => ("ban6", a.octets().to_vec()),
        };
        fn attr(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
            buf.extend_from_slice(&(4 + payload.len() as u16).to_ne_bytes());
            buf.extend_from_slice(&ty.to_ne_bytes());
            buf.extend_from_slice(payload);
            buf.resize(buf.len().next_multiple_of(4), 0);
        }
        const NESTED: u16 = 0x8000;
        let mut value = Vec::new();
        attr(&mut value, 1, &key); // NFTA_DATA_VALUE
        let mut elem_key = Vec::new();
        attr(&mut elem_key, 1 | NESTED, &value); // NFTA_SET_ELEM_KEY
        let mut elem = Vec::new();
        attr(&mut elem, 1 | NESTED, &elem_key); // NFTA_LIST_ELEM
        let mut body = vec![1, 0, 0, 0]; // nfgenmsg: NFPROTO_INET, version 0, res_id 0
        attr(&mut body, 1, format!("{TABLE}\0").as_bytes()); // NFTA_SET_ELEM_LIST_TABLE
        attr(&mut body, 2, format!("{set}\0").as_bytes()); // NFTA_SET_ELEM_LIST_SET
        attr(&mut body, 3 | NESTED, &elem); // NFTA_SET_ELEM_LIST_ELEMENTS
        self.seq += 1;
        let mut msg = Vec::with_capacity(16 + body.len());
        msg.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
        msg.extend_from_slice(&((10u16 << 8) | 13).to_ne_bytes()); // NFTABLES, GETSETELEM
        msg.extend_from_slice(&1u16.to_ne_bytes()); // NLM_F_REQUEST
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&body);
        send(self.fd.as_raw_fd(), &msg, MsgFlags::empty()).expect("netlink send");
        let mut buf = vec![0u8; 8192];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()).expect("netlink recv");
            if n < 20 {
                continue;
            }
            let seq = u32::from_ne_bytes(buf[8..12].try_into().unwrap());
            if seq != self.seq {
                continue; // an answer to an earlier question
            }
            let ty = u16::from_ne_bytes(buf[4..6].try_into().unwrap());
            if ty == 2 {
                // NLMSG_ERROR: ENOENT when absent; anything else is the probe's own fault.
                let code = i32::from_ne_bytes(buf[16..20].try_into().unwrap());
                assert!(
                    code == -2 || code == 0,
                    "netlink get element: errno {}",
                    -code
                );
                return false;
            }
            return ty == (10 << 8) | 12 || ty == (10 << 8) | 13;
        }
    }

    /// Waits until every one of `want` is in the set, polling the last of them (bans are
    /// applied in order) every 5 ms, then checking the others; returns the instant the
    /// last one missing was found.
    pub fn wait_all(&mut self, want: &[IpAddr], limit: Duration) -> Result<Instant, usize> {
        let deadline = Instant::now() + limit;
        let mut missing: Vec<IpAddr> = want.iter().rev().copied().collect();
        loop {
            if self.has(missing[0]) {
                let found = Instant::now();
                missing.remove(0);
                missing.retain(|&a| !self.has(a));
                if missing.is_empty() {
                    return Ok(found);
                }
                continue;
            }
            if Instant::now() >= deadline {
                return Err(want.len() - missing.len());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
