//! The nftables backend: owns the table `inet <table>` (default `authban`) and everything in
//! it — the sets `ban4` and `ban6` (single addresses), `net4` and `net6` (networks), and the
//! chain `input` whose rules drop traffic from them — and nothing else in the ruleset. It
//! must never flush the ruleset or touch another table.
//!
//! Single addresses live in plain hash sets and only networks in interval sets: the
//! kernel's interval sets (an rbtree) cost each transaction time that grows with the set,
//! 1.5 ms per ban at 10,000 elements and 5–12 ms at 50,000 (kernel 6.18), which the
//! reaction to an attack would pay; a hash set's insertion does not grow. Sets made by an
//! older authban (`ban4`/`ban6` with `flags interval`) cannot be changed in place:
//! `setup` makes the table anew with the elements it held.
//!
//! Every operation is one `nft -f -` transaction fed on standard input (a process per
//! address costs ~1.7 ms; a thousand elements in one transaction ~5 ms), cut into chunks of
//! [`CHUNK`] elements because a transaction of 8,000 elements overflows the netlink socket
//! ("Message too long"). Expiring bans carry an nft `timeout`, so the kernel lifts them even
//! while authban is not running.
//!
//! Facts this relies on (nft 1.0.6, kernel 6.x, checked in `tests/backends.rs`):
//! - re-adding an element updates its timeout (also to none, for a permanent ban), in both
//!   kinds of set;
//! - in an interval set a network overlapping another (`192.0.2.0/25` while `192.0.2.0/24`
//!   is in) is refused, and one refused element aborts its whole transaction; so is deleting
//!   an element that is not there, and `destroy element` (idempotent) needs nft 1.0.8. A failed
//!   batch is therefore retried one element per transaction, and the failures are reported
//!   together;
//! - nft keywords (`counter`, `drop`, `ip`…) cannot be table names, even quoted: nft refuses
//!   them at setup with its own syntax error;
//! - adding to an interval set is fast (10,000 elements in ~0.4 s), but deleting is not: nft
//!   1.0.6 handles intervals in userspace at a cost that grows with set size times batch
//!   size (2,000 deletes from a 10,000-element set took ~15 s; 200 took ~1.6 s). Expiry is
//!   the kernel's and `restore` flushes, so only a mass manual unban is slow. If that
//!   matters, hosts belong in plain (non-interval) sets and /64s in a set matched with
//!   `ip6 saddr & ffff:ffff:ffff:ffff::`.

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use super::{
    BackendError, BanOrder, Remaining, Runner, dedup_orders, dedup_targets, is_valid_name,
    run_checked,
};
use crate::addr::Cidr;

const NAME: &str = "nftables";

/// The program run when none is configured (found through `PATH`).
pub const DEFAULT_NFT: &str = "nft";
/// Our table in the `inet` family, which sees IPv4 and IPv6.
pub const DEFAULT_TABLE: &str = "authban";
/// Ports protected when none are configured.
pub const DEFAULT_PORTS: &[u16] = &[22];
/// Elements per `nft -f -` transaction: 8,000 failed with "Message too long", 4,000 worked;
/// 2,000 leaves room for interval sets, which send two kernel elements per entry.
pub const CHUNK: usize = 2_000;

const SET4: &str = "ban4";
const SET6: &str = "ban6";
const NET4: &str = "net4";
const NET6: &str = "net6";
/// Each set: its name, whether it holds IPv4, whether it holds networks (interval).
const SETS: [(&str, bool, bool); 4] = [
    (SET4, true, false),
    (SET6, false, false),
    (NET4, true, true),
    (NET6, false, true),
];
const CHAIN: &str = "input";

/// The set a target belongs in.
fn set_of(target: &Cidr) -> &'static str {
    let net = target.net();
    let host = net.prefix_len() == net.max_prefix_len();
    match (net.addr().is_ipv4(), host) {
        (true, true) => SET4,
        (false, true) => SET6,
        (true, false) => NET4,
        (false, false) => NET6,
    }
}

/// One element of our sets, as the kernel holds it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetElement {
    pub target: Cidr,
    /// Seconds until the kernel removes it; `None` when permanent.
    pub expires_in: Option<u64>,
}

/// Bans in an nftables table of our own.
pub struct Nftables {
    runner: Box<dyn Runner>,
    nft: String,
    table: String,
    ports: Vec<u16>,
    /// The fast path for adds; `None`: everything through `nft`.
    netlink: Option<netlink::Socket>,
    /// Why bans last went through `nft` instead of netlink; logged once per cause.
    fallback: Option<String>,
}

impl fmt::Debug for Nftables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nftables")
            .field("nft", &self.nft)
            .field("table", &self.table)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl Nftables {
    /// `ports` are the TCP ports closed to banned addresses; empty closes everything.
    /// Refuses a table name outside `[A-Za-z_][A-Za-z0-9_]*`, port 0 and an `nft` path that
    /// is not UTF-8, before anything is run.
    pub fn new(
        runner: Box<dyn Runner>,
        nft: PathBuf,
        table: &str,
        ports: Vec<u16>,
    ) -> Result<Nftables, BackendError> {
        let other = |message: String| BackendError::Other {
            backend: NAME,
            message,
        };
        if !is_valid_name(table) {
            return Err(other(format!(
                "table name `{table}` must be 1 to 31 letters, digits or `_`, not starting with \
                 a digit"
            )));
        }
        for set in [SET4, SET6, NET4, NET6, CHAIN] {
            debug_assert!(is_valid_name(set));
        }
        if ports.contains(&0) {
            return Err(other("port 0 cannot be protected; list real ports".into()));
        }
        let nft = nft
            .into_os_string()
            .into_string()
            .map_err(|p| other(format!("the nft path {p:?} is not valid UTF-8")))?;
        let mut unique = Vec::with_capacity(ports.len());
        for p in ports {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        Ok(Nftables {
            runner,
            nft,
            table: table.to_owned(),
            ports: unique,
            netlink: None,
            fallback: None,
        })
    }

    /// Adds elements over netlink from now on (in the caller's network namespace), when a
    /// netlink socket can be opened; `nft` stays the fallback for whatever the kernel
    /// refuses. Not for a runner that runs `nft` elsewhere (another namespace).
    pub fn with_netlink(mut self) -> Nftables {
        match netlink::Socket::open() {
            Ok(sock) => self.netlink = Some(sock),
            Err(e) => self.fell_back(format!("netlink unavailable: {e}")),
        }
        self
    }

    /// Notes (and logs, once per cause) that bans go through `nft`: slower, and at 20,000
    /// bans in force much slower, so an operator must hear of it.
    fn fell_back(&mut self, why: String) {
        if self.fallback.as_deref() != Some(why.as_str()) {
            crate::log::warn(&format!(
                "nftables: {why}; bans go through {} instead",
                self.nft
            ));
            self.fallback = Some(why);
        }
    }

    /// Adds `orders` over netlink in one transaction, after flushing the sets if `flush`.
    /// `false` when netlink is off or anything failed: the caller then uses `nft`.
    fn netlink_add(&mut self, orders: &[BanOrder], now: i64, flush: bool) -> bool {
        let Some(sock) = self.netlink.as_mut() else {
            return false;
        };
        let mut batch = sock.batch();
        for (set, _, interval) in SETS {
            let mut ranges = Vec::new();
            for o in orders.iter().filter(|o| set_of(&o.target) == set) {
                let ms = o.remaining(now).map(|s| s.saturating_mul(1000));
                match netlink::range(&o.target, ms) {
                    Some(r) => ranges.push(r),
                    None => {
                        self.fell_back(format!("netlink cannot encode {}", o.target));
                        return false;
                    }
                }
            }
            if flush {
                batch.flush(&self.table, set);
            }
            batch.add(&self.table, set, &ranges, interval);
        }
        match sock.run(batch) {
            Ok(_) => {
                self.fallback = None;
                true
            }
            Err(e) => {
                self.fell_back(format!("netlink refused the bans ({e})"));
                false
            }
        }
    }

    /// The targets in our sets now (IPv4 first).
    pub fn list(&mut self) -> Result<Vec<Cidr>, BackendError> {
        Ok(self.elements()?.into_iter().map(|e| e.target).collect())
    }

    /// The elements of our sets now, with what is left of their timeouts. A set that does
    /// not exist holds nothing (an older layout lacks the network sets; `check` reports a
    /// set missing).
    pub fn elements(&mut self) -> Result<Vec<SetElement>, BackendError> {
        let mut out = Vec::new();
        for (set, ..) in SETS {
            let args = argv(&["-j", "list", "set", "inet", &self.table, set]);
            let listed = match run_checked(self.runner.as_mut(), NAME, &self.nft, &args, None) {
                Ok(listed) => listed,
                Err(BackendError::Failed { stderr, .. }) if is_missing(&stderr) => continue,
                Err(e) => return Err(e),
            };
            let json: Value = serde_json::from_slice(&listed.stdout)
                .map_err(|e| self.other(format!("`nft -j list set` printed no JSON: {e}")))?;
            out.extend(parse_set_elements(&json).map_err(|m| self.other(m))?);
        }
        Ok(out)
    }

    fn other(&self, message: String) -> BackendError {
        BackendError::Other {
            backend: NAME,
            message,
        }
    }

    fn setup_script(&self) -> String {
        setup_script(&self.table, &self.ports)
    }

    fn add_script(&self, orders: &[BanOrder], now: i64) -> String {
        add_script(&self.table, orders, now)
    }

    fn delete_script(&self, targets: &[Cidr]) -> String {
        let mut script = String::new();
        for (set, ..) in SETS {
            let items: Vec<String> = targets
                .iter()
                .filter(|t| set_of(t) == set)
                .map(Cidr::to_string)
                .collect();
            if !items.is_empty() {
                script.push_str(&format!(
                    "delete element inet {} {set} {{ {} }}\n",
                    self.table,
                    items.join(", ")
                ));
            }
        }
        script
    }

    fn run_script(&mut self, script: &str) -> Result<(), BackendError> {
        run_checked(
            self.runner.as_mut(),
            NAME,
            &self.nft,
            &argv(&["-f", "-"]),
            Some(script.as_bytes()),
        )
        .map(drop)
    }

    /// Adds one chunk; if nft refuses the transaction, adds its elements one by one and
    /// appends those still refused to `failures`. A missing set or table ends the attempt
    /// at once: every element would fail the same way.
    fn add_chunk(
        &mut self,
        prefix: &str,
        chunk: &[BanOrder],
        now: i64,
        failures: &mut Vec<(Cidr, String)>,
    ) -> Result<(), BackendError> {
        let script = format!("{prefix}{}", self.add_script(chunk, now));
        match self.run_script(&script) {
            Ok(()) => return Ok(()),
            Err(BackendError::Failed { stderr, .. }) if !is_missing(&stderr) => {}
            Err(e) => return Err(with_hint(e)),
        }
        if !prefix.is_empty() {
            self.run_script(prefix).map_err(with_hint)?;
        }
        for order in chunk {
            match self.run_script(&self.add_script(std::slice::from_ref(order), now)) {
                Ok(()) => {}
                Err(BackendError::Failed { stderr, .. }) if !is_missing(&stderr) => {
                    failures.push((order.target, nft_error(&stderr)));
                }
                Err(e) => return Err(with_hint(e)),
            }
        }
        Ok(())
    }
}

impl super::Backend for Nftables {
    fn degraded(&self) -> Option<String> {
        self.fallback.clone()
    }

    fn expires_by_itself(&self) -> bool {
        // Every element is added with its timeout; the kernel removes it on time.
        true
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn setup(&mut self) -> Result<(), BackendError> {
        let script = self.setup_script();
        match self.run_script(&script) {
            Err(BackendError::Failed { stderr, .. }) if stderr.contains("File exists") => {
                self.remake()
            }
            other => other,
        }
    }

    fn ban(&mut self, bans: &[BanOrder], now: i64) -> Result<(), BackendError> {
        let bans = dedup_orders(bans);
        if bans.is_empty() || self.netlink_add(&bans, now, false) {
            return Ok(());
        }
        let mut failures = Vec::new();
        for chunk in bans.chunks(CHUNK) {
            self.add_chunk("", chunk, now, &mut failures)?;
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(super::refused(NAME, "bans", bans.len(), failures))
        }
    }

    fn unban(&mut self, targets: &[Cidr]) -> Result<(), BackendError> {
        let targets = dedup_targets(targets);
        let mut failures = Vec::new();
        for chunk in targets.chunks(CHUNK) {
            match self.run_script(&self.delete_script(chunk)) {
                Ok(()) => continue,
                Err(BackendError::Failed { .. }) => {}
                Err(e) => return Err(e),
            }
            // One absent element aborts the whole transaction: find which ones really fail.
            for target in chunk {
                match self.run_script(&self.delete_script(std::slice::from_ref(target))) {
                    Ok(()) => {}
                    // Not there (or no set at all): not banned, which is what was asked.
                    Err(BackendError::Failed { stderr, .. }) if is_missing(&stderr) => {}
                    Err(BackendError::Failed { stderr, .. }) => {
                        failures.push((*target, nft_error(&stderr)));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(super::refused(NAME, "unbans", targets.len(), failures))
        }
    }

    fn restore(&mut self, all: &[BanOrder], now: i64) -> Result<(), BackendError> {
        let all = dedup_orders(all);
        // Fast path: the table as it should be (sets keep their elements; an older layout
        // is made anew), then one netlink transaction that flushes the sets and refills
        // them.
        let set_up = self.setup();
        if self.netlink.is_some() && set_up.is_ok() && self.netlink_add(&all, now, true) {
            return Ok(());
        }
        // The first transaction empties the sets and refills them with the first chunk, so
        // there is no moment without the bans of that chunk; later chunks follow within
        // milliseconds. When setup failed, it also tries again to recreate what may have
        // been lost (a `nft flush ruleset`).
        let mut prefix = match set_up {
            Ok(()) => String::new(),
            Err(_) => self.setup_script(),
        };
        for (set, ..) in SETS {
            prefix.push_str(&format!("flush set inet {} {set}\n", self.table));
        }
        self.fill(&prefix, &all, now).map(drop)
    }

    fn held(&mut self, now: i64) -> Result<Option<Vec<(Cidr, Remaining)>>, BackendError> {
        let elements = self.elements()?;
        Ok(Some(
            elements
                .into_iter()
                .map(|e| (e.target, Remaining::after(now, e.expires_in)))
                .collect(),
        ))
    }

    fn check(&mut self) -> Result<(), BackendError> {
        let args = argv(&["-j", "list", "table", "inet", &self.table]);
        let listed = run_checked(self.runner.as_mut(), NAME, &self.nft, &args, None)?;
        let json: Value = serde_json::from_slice(&listed.stdout)
            .map_err(|e| self.other(format!("`nft -j list table` printed no JSON: {e}")))?;
        let problems = table_problems(&json);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(self.other(format!(
                "table inet {} is incomplete: {}; setup recreates it",
                self.table,
                problems.join(", ")
            )))
        }
    }

    fn teardown(&mut self) -> Result<(), BackendError> {
        // Adding first makes the delete succeed when the table is already gone, in one
        // transaction and without parsing nft's error text.
        let t = &self.table;
        let script = format!("add table inet {t}\ndelete table inet {t}\n");
        self.run_script(&script)
    }
}

impl Nftables {
    /// A set of ours exists with other flags (an older authban's layout): the table is
    /// made anew and given back every element it held, with what was left of its timeout.
    /// The first transaction deletes, recreates and refills with the first chunk, so the
    /// bans of that chunk are never out; later chunks follow within milliseconds.
    fn remake(&mut self) -> Result<(), BackendError> {
        let held: Vec<BanOrder> = self
            .elements()?
            .into_iter()
            .map(|e| BanOrder {
                target: e.target,
                // Relative to 0: `remaining(0)` gives the seconds back.
                expires_at: e.expires_in.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            })
            .collect();
        let prefix = format!(
            "delete table inet {t}\n{}",
            self.setup_script(),
            t = self.table
        );
        let result = self.fill(&prefix, &held, 0);
        let refused = match &result {
            Err(BackendError::Refused { entries, .. }) => entries.len(),
            _ => 0,
        };
        if result.is_ok() || refused > 0 {
            crate::log::warn(&format!(
                "nftables: table inet {} made anew for authban's set layout \
                 (addresses in hash sets, networks in interval sets); {} of its {} elements \
                 kept",
                self.table,
                held.len() - refused,
                held.len()
            ));
        }
        result
    }

    /// Runs `prefix` with the first chunk of `orders` in one transaction, then the other
    /// chunks; entries refused are reported together, the others are in.
    fn fill(&mut self, prefix: &str, orders: &[BanOrder], now: i64) -> Result<(), BackendError> {
        let mut failures = Vec::new();
        let mut chunks = orders.chunks(CHUNK);
        match chunks.next() {
            Some(first) => self.add_chunk(prefix, first, now, &mut failures)?,
            None => self.run_script(prefix)?,
        }
        for chunk in chunks {
            self.add_chunk("", chunk, now, &mut failures)?;
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(super::refused(NAME, "bans", orders.len(), failures))
        }
    }
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// The statements that make the table, sets and chain what they should be. Sets are
/// only added (an existing set keeps its elements); the chain is flushed and refilled,
/// inside the same transaction, so the rules change without a moment unprotected.
fn setup_script(t: &str, ports: &[u16]) -> String {
    let ports = if ports.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        format!("tcp dport {{ {} }} ", list.join(", "))
    };
    // `filter - 10` runs before the usual filter-priority chains, so an accept rule
    // elsewhere (ssh open to the world) cannot let a banned address through first.
    let mut script = format!("add table inet {t}\n");
    for (set, v4, interval) in SETS {
        let ty = if v4 { "ipv4_addr" } else { "ipv6_addr" };
        let flags = if interval {
            "interval, timeout"
        } else {
            "timeout"
        };
        script.push_str(&format!(
            "add set inet {t} {set} {{ type {ty}; flags {flags}; }}\n"
        ));
    }
    script.push_str(&format!(
        "add chain inet {t} {CHAIN} {{ type filter hook input priority filter - 10; policy accept; }}\n\
         flush chain inet {t} {CHAIN}\n"
    ));
    for (set, v4, _) in SETS {
        let field = if v4 { "ip" } else { "ip6" };
        script.push_str(&format!(
            "add rule inet {t} {CHAIN} {field} saddr @{set} {ports}counter drop\n"
        ));
    }
    script
}

fn add_script(table: &str, orders: &[BanOrder], now: i64) -> String {
    let mut script = String::new();
    for (set, ..) in SETS {
        let items: Vec<String> = orders
            .iter()
            .filter(|o| set_of(&o.target) == set)
            .map(|o| match o.remaining(now) {
                Some(secs) => format!("{} timeout {}", o.target, nft_time(secs)),
                None => o.target.to_string(),
            })
            .collect();
        if !items.is_empty() {
            script.push_str(&format!(
                "add element inet {} {set} {{ {} }}\n",
                table,
                items.join(", ")
            ));
        }
    }
    script
}

/// A script for `nft -f` that makes the table `table` hold exactly `orders` (timeouts as
/// what remains at `now`), in the layout of authban's own table and dropping the same
/// ports: for `authban export --format nft`, to carry bans to another firewall. Loading it
/// twice gives the same table.
pub fn ruleset_script(table: &str, ports: &[u16], orders: &[BanOrder], now: i64) -> String {
    // `add` first, so the `delete` finds a table the first time too.
    format!(
        "add table inet {table}\ndelete table inet {table}\n{}{}",
        setup_script(table, ports),
        add_script(table, orders, now)
    )
}

/// A timeout as nft's scripts take it. nft (1.0.6, Debian 12's) refuses a number of more
/// than eight digits in a time ("value too large"), so `3153600000s`, a 100-year ban, must
/// be written `36500d`: seconds below 10^8 (3 years), days and seconds above.
fn nft_time(secs: u64) -> String {
    if secs < 100_000_000 {
        format!("{secs}s")
    } else {
        format!("{}d{}s", secs / 86_400, secs % 86_400)
    }
}

/// Whether nft failed because the element, set or table is not there (ENOENT), as opposed to
/// refusing the element itself.
fn is_missing(stderr: &str) -> bool {
    stderr.contains("No such file or directory") || stderr.contains("does not exist")
}

/// nft's own words, without the script excerpt and carets it prints below them.
fn nft_error(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| {
            l.split_once("Error: ")
                .map(|(_, msg)| msg.trim().to_owned())
        })
        .unwrap_or_else(|| stderr.trim().to_owned())
}

fn with_hint(e: BackendError) -> BackendError {
    match e {
        BackendError::Failed {
            backend,
            program,
            status,
            stderr,
        } if is_missing(&stderr) => BackendError::Failed {
            backend,
            program,
            status,
            stderr: format!(
                "{} (our table or sets are missing; setup recreates them)",
                { nft_error(&stderr) }
            ),
        },
        other => other,
    }
}

/// What `nft -j list table` lacks of what setup creates.
fn table_problems(json: &Value) -> Vec<String> {
    let items: &[Value] = json
        .get("nftables")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let mut problems = Vec::new();
    for (set, v4, interval) in SETS {
        let ty = if v4 { "ipv4_addr" } else { "ipv6_addr" };
        let found = items.iter().filter_map(|i| i.get("set")).find(|s| {
            s.get("name").and_then(Value::as_str) == Some(set)
                && s.get("type").and_then(Value::as_str) == Some(ty)
        });
        match found {
            None => problems.push(format!("no set {set} of type {ty}")),
            Some(s) => {
                let flags: Vec<&str> = s
                    .get("flags")
                    .and_then(Value::as_array)
                    .map(|f| f.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if !flags.contains(&"timeout") {
                    problems.push(format!("set {set} lacks flag timeout"));
                }
                if flags.contains(&"interval") != interval {
                    problems.push(format!(
                        "set {set} {} flag interval",
                        if interval { "lacks" } else { "has" }
                    ));
                }
            }
        }
    }
    let hooked = items.iter().filter_map(|i| i.get("chain")).any(|c| {
        c.get("name").and_then(Value::as_str) == Some(CHAIN)
            && c.get("hook").and_then(Value::as_str) == Some("input")
    });
    if !hooked {
        problems.push(format!("no chain {CHAIN} hooked on input"));
    }
    for (set, ..) in SETS {
        let reference = Value::String(format!("@{set}"));
        let ruled = items
            .iter()
            .filter_map(|i| i.get("rule"))
            .filter(|r| r.get("chain").and_then(Value::as_str) == Some(CHAIN))
            .any(|r| r.get("expr").is_some_and(|e| mentions(e, &reference)));
        if !ruled {
            problems.push(format!("no rule dropping @{set}"));
        }
    }
    problems
}

fn mentions(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        v if v == needle => true,
        Value::Array(a) => a.iter().any(|v| mentions(v, needle)),
        Value::Object(o) => o.values().any(|v| mentions(v, needle)),
        _ => false,
    }
}

/// The elements of the set in `nft -j list set` output. nft prints an element as `"addr"`,
/// `{"prefix": {...}}`, `{"range": [...]}`, or, with a timeout, `{"elem": {"val": <one of
/// those>, "timeout": s, "expires": s}}`.
fn parse_set_elements(json: &Value) -> Result<Vec<SetElement>, String> {
    let mut out = Vec::new();
    let items = json
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("no `nftables` array in nft's JSON")?;
    for set in items.iter().filter_map(|i| i.get("set")) {
        let Some(elems) = set.get("elem").and_then(Value::as_array) else {
            continue;
        };
        for e in elems {
            let (val, expires_in) = match e.get("elem") {
                Some(inner) => (
                    inner.get("val").ok_or("element without `val`")?,
                    inner.get("expires").and_then(Value::as_u64),
                ),
                None => (e, None),
            };
            out.push(SetElement {
                target: parse_value(val)?,
                expires_in,
            });
        }
    }
    Ok(out)
}

fn parse_value(val: &Value) -> Result<Cidr, String> {
    let bad = || format!("cannot read set element {val}");
    let text = match val {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("prefix") {
            Some(p) => format!(
                "{}/{}",
                p.get("addr").and_then(Value::as_str).ok_or_else(bad)?,
                p.get("len").and_then(Value::as_u64).ok_or_else(bad)?
            ),
            // A range only appears when something other than authban added one.
            None => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    text.parse().map_err(|_| bad())
}

mod netlink;

#[cfg(test)]
mod tests;
