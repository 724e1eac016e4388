//! Measures the detector with the configuration's default policy (5 points in 10 minutes,
//! and the slow rule of 15 in a day) against the same policy without slow rules: 1,000,000
//! distinct addresses spread over 3 days of log time, fed in log order as the daemon feeds
//! them (its batches taken, bans lifted after `ban.time`).
//!
//! The addresses behave as a real server's attackers do: 70% try once, 20% three times
//! within a minute, 8% six times (banned by the window), 2% one password every 15 minutes
//! for 6 hours (banned by the day rule only). A tenth are IPv6.
//!
//! Each policy runs in a child process of its own, so its peak resident memory is its own:
//! memory per tracked address is (VmHWM − VmRSS before the first event) / the most
//! addresses tracked at once, hash table slack included. Speed is CPU time of the feeding
//! thread (`/proc/thread-self/schedstat`), not wall time, and the ratio to the reference
//! run of the same invocation.
//!
//! Usage:
//!   cargo build --release --example bench_detect
//!   target/release/examples/bench_detect [--addresses N] [--runs N]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

use authban::config::Config;
use authban::detect::{Decision, Detector, Policy};
use authban::event::{Event, Kind, Method, Msg};

const DAY_MS: i64 = 24 * 3600 * 1000;
const SPAN_MS: i64 = 3 * DAY_MS;

/// One failed attempt: when, by which address (its index), from which port.
#[derive(Clone, Copy)]
struct Attempt {
    at_ms: i64,
    who: u32,
    n: u16,
}

/// A small deterministic generator (xorshift64*): the same workload on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn addr(who: u32) -> IpAddr {
    if who % 10 == 9 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            (who >> 16) as u16,
            who as u16,
            0,
            0,
            0,
            1,
        ))
    } else {
        // Spread over 10.0.0.0/8 and beyond without repeating.
        IpAddr::V4(Ipv4Addr::from(
            0x0a00_0000u32.wrapping_add(who.wrapping_mul(2_654_435_761)),
        ))
    }
}

fn workload(addresses: u32) -> Vec<Attempt> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(addresses as usize * 3);
    for who in 0..addresses {
        let start = rng.below(SPAN_MS as u64) as i64;
        let (count, gap_ms) = match rng.below(100) {
            0..70 => (1, 0),
            70..90 => (3, 20_000),
            90..98 => (6, 10_000),
            _ => (24, 15 * 60 * 1000),
        };
        for n in 0..count {
            out.push(Attempt {
                at_ms: start + n * gap_ms,
                who,
                n: n as u16,
            });
        }
    }
    out.sort_unstable_by_key(|a| a.at_ms);
    out
}

fn proc_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs one policy over the workload and prints its figures as one line of numbers.
fn child(policy: Policy, addresses: u32) {
    let attempts = workload(addresses);
    let before_kb = proc_kb("VmRSS:");
    let mut d = Detector::new(policy);
    let mut lifts: std::collections::VecDeque<(i64, authban::addr::Cidr)> = Default::default();
    let (mut window_bans, mut slow_bans, mut peak) = (0u64, 0u64, 0usize);
    // The detector's own count of its bytes, taken when it tracks the most addresses
    // (its time is taken out of the CPU time).
    let (mut sampled, mut heap, mut sampling_ns) = (0usize, 0usize, 0u64);
    let start = cpu_ns();
    for (i, a) in attempts.iter().enumerate() {
        while lifts.front().is_some_and(|(at, _)| *at <= a.at_ms) {
            let (_, target) = lifts.pop_front().expect("a ban to lift");
            d.unban(&target);
        }
        let ev = Event {
            time: None,
            kind: if a.who % 3 == 0 {
                Kind::InvalidUser
            } else {
                Kind::AuthFailure
            },
            msg: Msg::Failed,
            addr: addr(a.who),
            by_pid: false,
            port: Some(30000 + a.n),
            user: Some(b"admin"),
            method: Some(Method::Password),
            count: 1,
            pid: Some(a.who.wrapping_mul(7).wrapping_add(u32::from(a.n))),
        };
        if let Some(Decision::Ban(o)) = d.observe(&ev, a.at_ms) {
            if o.slow {
                slow_bans += 1;
            } else {
                window_bans += 1;
            }
            lifts.push_back((a.at_ms + DAY_MS, o.target));
        }
        // The daemon takes the changed tallies with each batch of lines it saves.
        if i % 1024 == 0 {
            std::hint::black_box(d.take_touched());
            peak = peak.max(d.tracked());
            if d.tracked() > sampled + sampled / 50 {
                let t = cpu_ns();
                (sampled, heap) = (d.tracked(), d.heap_bytes());
                sampling_ns += cpu_ns() - t;
            }
        }
    }
    let ns = cpu_ns().saturating_sub(start).saturating_sub(sampling_ns);
    let peak_kb = proc_kb("VmHWM:");
    println!(
        "{} {ns} {peak} {} {window_bans} {slow_bans} {}",
        attempts.len(),
        peak_kb.saturating_sub(before_kb),
        heap / sampled.max(1)
    );
}

struct Figures {
    events: u64,
    cpu_ns: u64,
    peak: u64,
    grown_kb: u64,
    window_bans: u64,
    slow_bans: u64,
    /// The detector's bytes per tracked address, by its own count.
    per_address: u64,
}

fn run(which: &str, addresses: u32) -> Figures {
    let out = Command::new(std::env::current_exe().expect("this program"))
        .args(["--child", which, "--addresses", &addresses.to_string()])
        .output()
        .expect("running the child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|v| v.parse().expect("a number"))
        .collect();
    Figures {
        events: n[0],
        cpu_ns: n[1],
        peak: n[2],
        grown_kb: n[3],
        window_bans: n[4],
        slow_bans: n[5],
        per_address: n[6],
    }
}

fn main() {
    let mut addresses = 1_000_000u32;
    let mut runs = 3;
    let mut which = None;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--addresses" => addresses = v.parse().expect("a number of addresses"),
            "--runs" => runs = v.parse().expect("a number of runs"),
            "--child" => which = Some(v),
            _ => panic!("unknown argument {k}"),
        }
    }
    let default = Config::default().detect_policy(Vec::new(), None);
    if let Some(which) = which {
        let policy = match which.as_str() {
            "default" => default,
            _ => Policy {
                slow: Vec::new(),
                ..default
            },
        };
        return child(policy, addresses);
    }
    println!(
        "{addresses} addresses over 3 days of log time, {runs} runs each; CPU time of the \
         feeding thread, median"
    );
    println!(
        "{:<22} {:>8} {:>8} {:>6} {:>10} {:>8} {:>10} {:>9} {:>12}",
        "policy", "events", "CPU ms", "ratio", "events/s", "tracked", "B/address", "RSS MB", "bans"
    );
    let mut reference_ns = 0;
    for (which, name) in [
        ("main", "5 in 10m (reference)"),
        ("default", "5 in 10m + 15 in 1d"),
    ] {
        let mut all: Vec<Figures> = (0..runs).map(|_| run(which, addresses)).collect();
        all.sort_by_key(|f| f.cpu_ns);
        let f = &all[all.len() / 2];
        if reference_ns == 0 {
            reference_ns = f.cpu_ns;
        }
        println!(
            "{name:<22} {:>8} {:>8.0} {:>6.2} {:>10.0} {:>8} {:>10} {:>9.1} {:>12}",
            f.events,
            f.cpu_ns as f64 / 1e6,
            f.cpu_ns as f64 / reference_ns as f64,
            f.events as f64 / (f.cpu_ns as f64 / 1e9),
            f.peak,
            f.per_address,
            f.grown_kb as f64 / 1024.0,
            format!("{}+{}", f.window_bans, f.slow_bans),
        );
    }
    println!(
        "tracked: most addresses with state at once; B/address: the detector's own count of \
         its tables and spilled lists at that peak; RSS MB: the child's peak resident growth \
         (allocator slack, the bench's ban queue); bans: by the window + by the day rule"
    );
}
