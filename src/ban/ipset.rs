//! The ipset + iptables backend: owns two ipsets (`authban4`, `authban6` by default, type
//! `hash:net`) and exactly one `INPUT` rule per family that drops traffic from them. It must
//! never flush a chain, touch another set, or add a second copy of its rule.
//!
//! Elements go through one `ipset restore -exist` per operation, fed on standard input
//! (`-exist` makes re-adding update the timeout and deleting an absent element a no-op);
//! never one process per address. The sets are created with `timeout 0`: elements may carry
//! their own timeout, and `timeout 0` on an element means permanent. The kernel expires the
//! others by itself, up to ipset's longest timeout ([`MAX_TIMEOUT`], about 24.8 days); a
//! longer ban is written without one and lifted by the engine, which therefore lifts every
//! expired ban here. Sets and rules are per network namespace, like nftables'.
//!
//! `ipset restore` is not a transaction: it applies lines in order and stops at the first
//! it refuses ("Error in line N"). The lines before it are in place, so a failed run is
//! resumed after the refused line, and the refused ones are reported together.

use std::fmt;

use super::{
    BackendError, BanOrder, Remaining, Runner, dedup_orders, dedup_targets, is_valid_name,
    run_checked,
};
use crate::addr::Cidr;

const NAME: &str = "ipset";

pub const DEFAULT_SET4: &str = "authban4";
pub const DEFAULT_SET6: &str = "authban6";

/// The programs the backend runs: `[ipset]`'s `ipset`, `iptables` and `ip6tables`
/// settings (a bare name is looked up in PATH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    pub ipset: String,
    pub iptables: String,
    pub ip6tables: String,
}

impl Default for Programs {
    fn default() -> Programs {
        Programs {
            ipset: "ipset".into(),
            iptables: "iptables".into(),
            ip6tables: "ip6tables".into(),
        }
    }
}
/// iptables' multiport match takes at most 15 ports.
const MAX_PORTS: usize = 15;
/// Rule deletions in teardown: a copy of the rule added by hand is removed too, but a
/// chain that keeps matching after this many is not ours to fight over.
const MAX_RULE_COPIES: usize = 16;
/// Set capacity (ipset's default is 65,536): a big botnet may exceed that.
/// The longest timeout ipset accepts, in seconds (`out of range 0-2147483`, about 24.8
/// days): a ban that lasts longer (the default escalation reaches 28 days) is written
/// without a timeout and lifted by the engine at its expiry.
pub const MAX_TIMEOUT: u64 = 2_147_483;

const MAXELEM: u32 = 1_048_576;

/// One element of our sets, as the kernel holds it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetElement {
    pub target: Cidr,
    /// Seconds until the kernel removes it; `None` when permanent.
    pub expires_in: Option<u64>,
}

/// Bans in two ipsets matched by iptables/ip6tables rules.
pub struct Ipset {
    runner: Box<dyn Runner>,
    programs: Programs,
    set4: String,
    set6: String,
    ports: Vec<u16>,
}

impl fmt::Debug for Ipset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ipset")
            .field("set4", &self.set4)
            .field("set6", &self.set6)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl Ipset {
    /// `ports` are the TCP ports closed to banned addresses (at most 15); empty closes
    /// everything. Set names must match `[A-Za-z_][A-Za-z0-9_]*`, 31 bytes at most.
    pub fn new(
        runner: Box<dyn Runner>,
        programs: Programs,
        set4: &str,
        set6: &str,
        ports: Vec<u16>,
    ) -> Result<Ipset, BackendError> {
        let other = |message: String| BackendError::Other {
            backend: NAME,
            message,
        };
        for set in [set4, set6] {
            if !is_valid_name(set) {
                return Err(other(format!(
                    "set name `{set}` must be 1 to 31 letters, digits or `_`, not starting \
                     with a digit"
                )));
            }
        }
        if set4 == set6 {
            return Err(other(format!(
                "the IPv4 and IPv6 sets must have different names (both are `{set4}`)"
            )));
        }
        if ports.contains(&0) {
            return Err(other("port 0 cannot be protected; list real ports".into()));
        }
        let mut unique = Vec::with_capacity(ports.len());
        for p in ports {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        if unique.len() > MAX_PORTS {
            return Err(other(format!(
                "iptables can match at most {MAX_PORTS} ports in one rule, not {}",
                unique.len()
            )));
        }
        Ok(Ipset {
            runner,
            programs,
            set4: set4.to_owned(),
            set6: set6.to_owned(),
            ports: unique,
        })
    }

    /// The targets in our sets now (IPv4 first).
    pub fn list(&mut self) -> Result<Vec<Cidr>, BackendError> {
        Ok(self.elements()?.into_iter().map(|e| e.target).collect())
    }

    /// The elements of our sets now, with what is left of their timeouts.
    pub fn elements(&mut self) -> Result<Vec<SetElement>, BackendError> {
        let mut out = Vec::new();
        for set in [self.set4.clone(), self.set6.clone()] {
            let args = vec!["save".to_owned(), set.clone()];
            let saved = run_checked(
                self.runner.as_mut(),
                NAME,
                &self.programs.ipset,
                &args,
                None,
            )?;
            for line in String::from_utf8_lossy(&saved.stdout).lines() {
                out.push(parse_saved(line, &set).map_err(|m| self.other(m))?);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    fn other(&self, message: String) -> BackendError {
        BackendError::Other {
            backend: NAME,
            message,
        }
    }

    fn set_for(&self, target: &Cidr) -> &str {
        if target.net().addr().is_ipv4() {
            &self.set4
        } else {
            &self.set6
        }
    }

    fn create_lines(&self) -> String {
        format!(
            "create {} hash:net family inet timeout 0 maxelem {MAXELEM}\n\
             create {} hash:net family inet6 timeout 0 maxelem {MAXELEM}\n",
            self.set4, self.set6
        )
    }

    /// The iptables rule (without the `-C`/`-I`/`-D INPUT` in front) for one set.
    fn rule(&self, set: &str) -> Vec<String> {
        let mut rule = Vec::new();
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            rule.extend(["-p", "tcp", "-m", "multiport", "--dports"].map(String::from));
            rule.push(ports.join(","));
        }
        rule.extend(["-m", "set", "--match-set", set, "src", "-j", "DROP"].map(String::from));
        rule
    }

    fn iptables(&mut self, program: &str, op: &str, set: &str) -> Result<(), BackendError> {
        let mut args: Vec<String> = ["-w", op, "INPUT"].map(String::from).to_vec();
        args.extend(self.rule(set));
        run_checked(self.runner.as_mut(), NAME, program, &args, None).map(drop)
    }

    fn families(&self) -> [(String, String); 2] {
        [
            (self.programs.iptables.clone(), self.set4.clone()),
            (self.programs.ip6tables.clone(), self.set6.clone()),
        ]
    }

    fn ensure_rules(&mut self) -> Result<(), BackendError> {
        for (program, set) in self.families() {
            match self.iptables(&program, "-C", &set) {
                Ok(()) => {}
                // `-C` fails when the rule is absent; anything worse shows again in `-I`.
                Err(BackendError::Failed { .. }) => self.iptables(&program, "-I", &set)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs `ipset restore -exist` on `head` followed by `lines`, resuming after each line
    /// ipset refuses (`lines[i]` is about `targets[i]`). A refused line in `head` is fatal.
    fn restore_lines(
        &mut self,
        head: &str,
        lines: &[String],
        targets: &[Cidr],
        what: &str,
    ) -> Result<(), BackendError> {
        let head_lines = head.lines().count();
        let mut failures = Vec::new();
        let mut start = 0;
        let mut first = true;
        while first || start < lines.len() {
            let mut script = if first {
                head.to_owned()
            } else {
                String::new()
            };
            let skip = if first { head_lines } else { 0 };
            first = false;
            for line in &lines[start..] {
                script.push_str(line);
            }
            let args = vec!["restore".to_owned(), "-exist".to_owned()];
            match run_checked(
                self.runner.as_mut(),
                NAME,
                &self.programs.ipset,
                &args,
                Some(script.as_bytes()),
            ) {
                Ok(_) => break,
                Err(BackendError::Failed { stderr, .. }) if failed_line(&stderr).is_some() => {
                    let n = failed_line(&stderr).unwrap_or(0);
                    if n <= skip || start + (n - skip) > lines.len() {
                        return Err(self.other(format!("ipset restore refused: {}", stderr.trim())));
                    }
                    let index = start + (n - skip) - 1;
                    failures.push((targets[index], ipset_error(&stderr)));
                    start = index + 1;
                }
                Err(e) => return Err(e),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(super::refused(NAME, what, lines.len(), failures))
        }
    }

    fn add_lines(&self, orders: &[BanOrder], now: i64) -> (Vec<String>, Vec<Cidr>) {
        orders
            .iter()
            .map(|o| {
                // `timeout 0` is ipset's "permanent": for permanent bans, and for those
                // longer than ipset can time (the engine lifts those itself, see
                // `expires_by_itself`).
                let secs = o.remaining(now).filter(|&s| s <= MAX_TIMEOUT).unwrap_or(0);
                (
                    format!(
                        "add {} {} timeout {secs}\n",
                        self.set_for(&o.target),
                        o.target
                    ),
                    o.target,
                )
            })
            .unzip()
    }
}

impl super::Backend for Ipset {
    fn expires_by_itself(&self) -> bool {
        // Not for bans longer than MAX_TIMEOUT, written without a timeout: the engine lifts
        // every expired ban (deleting one the kernel already removed is a no-op).
        false
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn setup(&mut self) -> Result<(), BackendError> {
        let head = self.create_lines();
        self.restore_lines(&head, &[], &[], "sets")?;
        self.ensure_rules()
    }

    fn ban(&mut self, bans: &[BanOrder], now: i64) -> Result<(), BackendError> {
        let bans = dedup_orders(bans);
        if bans.is_empty() {
            return Ok(());
        }
        let (lines, targets) = self.add_lines(&bans, now);
        self.restore_lines("", &lines, &targets, "bans")
    }

    fn unban(&mut self, targets: &[Cidr]) -> Result<(), BackendError> {
        let targets = dedup_targets(targets);
        if targets.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = targets
            .iter()
            .map(|t| format!("del {} {t}\n", self.set_for(t)))
            .collect();
        self.restore_lines("", &lines, &targets, "unbans")
    }

    fn restore(&mut self, all: &[BanOrder], now: i64) -> Result<(), BackendError> {
        let all = dedup_orders(all);
        // Creating (if lost), flushing and refilling in one `ipset restore` keeps the
        // moment without bans to the time ipset takes to read the script.
        let head = format!(
            "{}flush {}\nflush {}\n",
            self.create_lines(),
            self.set4,
            self.set6
        );
        let (lines, targets) = self.add_lines(&all, now);
        let filled = self.restore_lines(&head, &lines, &targets, "bans");
        // The rules are checked even when some elements were refused.
        self.ensure_rules()?;
        filled
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
        for (program, set) in self.families() {
            let args = vec!["-t".to_owned(), "list".to_owned(), set.clone()];
            let ipset = self.programs.ipset.clone();
            run_checked(self.runner.as_mut(), NAME, &ipset, &args, None).map_err(|e| match e {
                BackendError::Failed { stderr, .. } => self.other(format!(
                    "set {set} is missing ({}); setup recreates it",
                    ipset_error(&stderr)
                )),
                e => e,
            })?;
            self.iptables(&program, "-C", &set).map_err(|e| match e {
                BackendError::Failed { .. } => self.other(format!(
                    "{program} has no INPUT rule dropping set {set}; setup adds it"
                )),
                e => e,
            })?;
        }
        Ok(())
    }

    fn teardown(&mut self) -> Result<(), BackendError> {
        for (program, set) in self.families() {
            for _ in 0..MAX_RULE_COPIES {
                match self.iptables(&program, "-D", &set) {
                    Ok(()) => {}
                    // No (more) rule: done with this family.
                    Err(BackendError::Failed { .. }) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        let script = format!("destroy {}\ndestroy {}\n", self.set4, self.set6);
        self.restore_lines(&script, &[], &[], "sets")
    }
}

/// The line number in ipset's "Error in line N: …".
fn failed_line(stderr: &str) -> Option<usize> {
    let rest = &stderr[stderr.find("Error in line ")? + "Error in line ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// ipset's message without its version prefix and line number.
fn ipset_error(stderr: &str) -> String {
    let line = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let line = line.split_once(": ").map_or(line, |(head, rest)| {
        if head.starts_with("ipset v") {
            rest
        } else {
            line
        }
    });
    let line = match line.strip_prefix("Error in line ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, msg)| msg),
        None => line,
    };
    line.trim().to_owned()
}

/// One line of `ipset save NAME`: `add NAME 192.0.2.1 timeout 57` is an element; the
/// `create` line is not.
fn parse_saved(line: &str, set: &str) -> Result<Option<SetElement>, String> {
    let mut words = line.split_ascii_whitespace();
    if words.next() != Some("add") || words.next() != Some(set) {
        return Ok(None);
    }
    let addr = words
        .next()
        .ok_or_else(|| format!("cannot read `{line}`"))?;
    let target: Cidr = addr.parse().map_err(|_| format!("cannot read `{line}`"))?;
    let mut expires_in = None;
    while let Some(w) = words.next() {
        if w == "timeout" {
            expires_in = words
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|&n| n > 0);
        }
    }
    Ok(Some(SetElement { target, expires_in }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ban::fixtures::{NOW, cidr, order};
    use crate::ban::{Backend, RecordedCall, RecordingRunner};

    fn backend(ports: Vec<u16>) -> (Ipset, RecordingRunner) {
        let rec = RecordingRunner::default();
        let ipset = Ipset::new(
            Box::new(rec.clone()),
            Programs::default(),
            "authban4",
            "authban6",
            ports,
        )
        .unwrap();
        (ipset, rec)
    }

    fn call(program: &str, args: &str, stdin: Option<&str>) -> RecordedCall {
        RecordedCall {
            program: program.into(),
            args: args.split(' ').map(String::from).collect(),
            stdin: stdin.map(String::from),
        }
    }

    fn restore(stdin: &str) -> RecordedCall {
        call("ipset", "restore -exist", Some(stdin))
    }

    const CREATE: &str = "create authban4 hash:net family inet timeout 0 maxelem 1048576\n\
        create authban6 hash:net family inet6 timeout 0 maxelem 1048576\n";
    const RULE4: &str =
        "INPUT -p tcp -m multiport --dports 22 -m set --match-set authban4 src -j DROP";
    const RULE6: &str =
        "INPUT -p tcp -m multiport --dports 22 -m set --match-set authban6 src -j DROP";

    #[test]
    fn setup_creates_sets_and_inserts_rules_only_when_absent() {
        let (mut ipset, rec) = backend(vec![22]);
        rec.answer(RecordingRunner::ok("")); // restore
        rec.answer(RecordingRunner::ok("")); // iptables -C: present
        rec.answer(RecordingRunner::fail(
            "ip6tables: Bad rule (does a matching rule exist in that chain?).\n",
        ));
        ipset.setup().unwrap();
        assert_eq!(
            rec.calls(),
            vec![
                restore(CREATE),
                call("iptables", &format!("-w -C {RULE4}"), None),
                call("ip6tables", &format!("-w -C {RULE6}"), None),
                call("ip6tables", &format!("-w -I {RULE6}"), None),
            ]
        );
    }

    #[test]
    fn the_configured_programs_are_the_ones_run() {
        // `[ipset] iptables = "/usr/sbin/iptables-legacy"` (a host whose iptables is the
        // nft shim, say) must reach the program, for every call.
        let rec = RecordingRunner::default();
        let programs = Programs {
            ipset: "/opt/bin/ipset".into(),
            iptables: "/usr/sbin/iptables-legacy".into(),
            ip6tables: "/usr/sbin/ip6tables-legacy".into(),
        };
        let mut ipset = Ipset::new(
            Box::new(rec.clone()),
            programs,
            "authban4",
            "authban6",
            vec![22],
        )
        .unwrap();
        ipset.setup().unwrap();
        ipset
            .ban(&[order("192.0.2.1", Some(NOW + 60))], NOW)
            .unwrap();
        ipset.teardown().unwrap();
        let run: std::collections::BTreeSet<String> =
            rec.calls().into_iter().map(|c| c.program).collect();
        assert_eq!(
            run.into_iter().collect::<Vec<_>>(),
            [
                "/opt/bin/ipset",
                "/usr/sbin/ip6tables-legacy",
                "/usr/sbin/iptables-legacy"
            ]
        );
    }

    #[test]
    fn rules_list_ports_or_match_everything() {
        let (mut ipset, rec) = backend(vec![22, 2222]);
        ipset.check().unwrap();
        assert_eq!(
            rec.calls()[1],
            call(
                "iptables",
                "-w -C INPUT -p tcp -m multiport --dports 22,2222 -m set --match-set authban4 src -j DROP",
                None
            )
        );
        let (mut ipset, rec) = backend(vec![]);
        ipset.check().unwrap();
        assert_eq!(
            rec.calls()[1],
            call(
                "iptables",
                "-w -C INPUT -m set --match-set authban4 src -j DROP",
                None
            )
        );
    }

    #[test]
    fn ban_sends_one_restore_with_timeouts() {
        let (mut ipset, rec) = backend(vec![22]);
        ipset
            .ban(
                &[
                    order("203.0.113.5", Some(3600)),
                    order("2001:db8::7", Some(60)),
                    order("2001:db8:1:2::/64", None),
                    order("198.51.100.9", None),
                    order("192.0.2.1", Some(-5)),
                ],
                NOW,
            )
            .unwrap();
        assert_eq!(
            rec.calls(),
            vec![restore(
                "add authban4 203.0.113.5 timeout 3600\n\
                 add authban6 2001:db8::7 timeout 60\n\
                 add authban6 2001:db8:1:2::/64 timeout 0\n\
                 add authban4 198.51.100.9 timeout 0\n\
                 add authban4 192.0.2.1 timeout 1\n"
            )]
        );
    }

    #[test]
    fn ten_thousand_bans_are_one_process() {
        let (mut ipset, rec) = backend(vec![22]);
        let bans: Vec<BanOrder> = (0..10_000u32)
            .map(|i| BanOrder {
                target: Cidr::host(std::net::Ipv4Addr::from(0x0a00_0000 + i).into()),
                expires_at: None,
            })
            .collect();
        ipset.ban(&bans, NOW).unwrap();
        let calls = rec.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].stdin.as_ref().unwrap().lines().count(), 10_000);
    }

    #[test]
    fn unban_deletes_in_one_restore() {
        let (mut ipset, rec) = backend(vec![22]);
        ipset
            .unban(&[cidr("203.0.113.5"), cidr("2001:db8:1:2::/64")])
            .unwrap();
        assert_eq!(
            rec.calls(),
            vec![restore(
                "del authban4 203.0.113.5\ndel authban6 2001:db8:1:2::/64\n"
            )]
        );
        rec.take_calls();
        ipset.unban(&[]).unwrap();
        assert!(rec.calls().is_empty());
    }

    #[test]
    fn a_refused_line_is_reported_and_the_rest_still_applied() {
        let (mut ipset, rec) = backend(vec![22]);
        rec.answer(RecordingRunner::fail(
            "ipset v7.17: Error in line 2: The value of the CIDR parameter of the IP address is invalid\n",
        ));
        let err = ipset
            .ban(
                &[
                    order("192.0.2.1", None),
                    order("0.0.0.0/0", None),
                    order("192.0.2.3", None),
                ],
                NOW,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ipset: 1 of 3 bans failed: 0.0.0.0/0: The value of the CIDR parameter of the IP \
             address is invalid"
        );
        assert_eq!(
            rec.calls(),
            vec![
                restore(
                    "add authban4 192.0.2.1 timeout 0\nadd authban4 0.0.0.0/0 timeout 0\n\
                     add authban4 192.0.2.3 timeout 0\n"
                ),
                restore("add authban4 192.0.2.3 timeout 0\n"),
            ]
        );
    }

    #[test]
    fn restore_creates_flushes_and_refills_in_one_script_then_checks_rules() {
        let (mut ipset, rec) = backend(vec![22]);
        ipset
            .restore(
                &[
                    order("203.0.113.5", Some(10)),
                    order("2001:db8:1:2::/64", None),
                ],
                NOW,
            )
            .unwrap();
        assert_eq!(
            rec.calls(),
            vec![
                restore(&format!(
                    "{CREATE}flush authban4\nflush authban6\n\
                     add authban4 203.0.113.5 timeout 10\n\
                     add authban6 2001:db8:1:2::/64 timeout 0\n"
                )),
                call("iptables", &format!("-w -C {RULE4}"), None),
                call("ip6tables", &format!("-w -C {RULE6}"), None),
            ]
        );
    }

    #[test]
    fn restore_with_a_refused_line_after_the_head_resumes() {
        let (mut ipset, rec) = backend(vec![22]);
        rec.answer(RecordingRunner::fail("ipset v7.17: Error in line 5: bad\n"));
        let err = ipset
            .restore(&[order("0.0.0.0/0", None), order("192.0.2.9", None)], NOW)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("1 of 2 bans failed: 0.0.0.0/0: bad"),
            "{err}"
        );
        assert_eq!(
            rec.calls()[1],
            restore("add authban4 192.0.2.9 timeout 0\n")
        );
        // A refused head (a set of another type under our name) is fatal.
        let (mut ipset, rec) = backend(vec![22]);
        rec.answer(RecordingRunner::fail(
            "ipset v7.17: Error in line 1: Set cannot be created: set with the same name already exists\n",
        ));
        let err = ipset.restore(&[order("192.0.2.9", None)], NOW).unwrap_err();
        assert!(
            err.to_string().contains("same name already exists"),
            "{err}"
        );
    }

    #[test]
    fn teardown_deletes_every_copy_of_our_rules_then_the_sets() {
        let (mut ipset, rec) = backend(vec![22]);
        rec.answer(RecordingRunner::ok("")); // first -D iptables
        rec.answer(RecordingRunner::ok("")); // a second copy
        rec.answer(RecordingRunner::fail("iptables: Bad rule\n"));
        rec.answer(RecordingRunner::fail("ip6tables: Bad rule\n"));
        ipset.teardown().unwrap();
        assert_eq!(
            rec.calls(),
            vec![
                call("iptables", &format!("-w -D {RULE4}"), None),
                call("iptables", &format!("-w -D {RULE4}"), None),
                call("iptables", &format!("-w -D {RULE4}"), None),
                call("ip6tables", &format!("-w -D {RULE6}"), None),
                restore("destroy authban4\ndestroy authban6\n"),
            ]
        );
    }

    #[test]
    fn check_names_what_is_missing() {
        let (mut ipset, rec) = backend(vec![22]);
        rec.answer(RecordingRunner::fail(
            "ipset v7.17: The set with the given name does not exist\n",
        ));
        assert_eq!(
            ipset.check().unwrap_err().to_string(),
            "ipset: set authban4 is missing (The set with the given name does not exist); setup \
             recreates it"
        );
        rec.take_calls();
        rec.answer(RecordingRunner::ok(""));
        rec.answer(RecordingRunner::fail("iptables: Bad rule\n"));
        assert_eq!(
            ipset.check().unwrap_err().to_string(),
            "ipset: iptables has no INPUT rule dropping set authban4; setup adds it"
        );
        assert_eq!(rec.calls()[0], call("ipset", "-t list authban4", None));
    }

    #[test]
    fn missing_programs_are_spawn_errors() {
        let rec = RecordingRunner::default();
        rec.answer(Err(std::io::Error::from(std::io::ErrorKind::NotFound)));
        let mut ipset =
            Ipset::new(Box::new(rec), Programs::default(), "a4", "a6", vec![22]).unwrap();
        let err = ipset.ban(&[order("192.0.2.1", None)], NOW).unwrap_err();
        assert!(matches!(err, BackendError::Spawn { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("ipset: cannot run ipset: "),
            "{err}"
        );
    }

    #[test]
    fn bad_names_and_ports_are_refused() {
        let new = |a: &str, b: &str, ports: Vec<u16>| {
            Ipset::new(
                Box::new(RecordingRunner::default()),
                Programs::default(),
                a,
                b,
                ports,
            )
        };
        assert!(new("a b", "x", vec![22]).is_err());
        assert!(new("x", "-exist", vec![22]).is_err());
        assert!(new(&"a".repeat(32), "x", vec![22]).is_err());
        assert!(new("same", "same", vec![22]).is_err());
        assert!(new("a", "b", vec![0]).is_err());
        assert!(new("a", "b", (1..=16).collect()).is_err());
        assert!(new("a", "b", (1..=15).collect()).is_ok());
    }

    #[test]
    fn list_reads_ipset_save() {
        let (mut ipset, rec) = backend(vec![22]);
        rec.answer(RecordingRunner::ok(
            "create authban4 hash:net family inet hashsize 1024 maxelem 1048576 timeout 0\n\
             add authban4 10.0.0.0/8 timeout 0\nadd authban4 1.2.3.4 timeout 49\n",
        ));
        rec.answer(RecordingRunner::ok(
            "create authban6 hash:net family inet6\nadd authban6 2001:db8:1:2::/64 timeout 0\n",
        ));
        assert_eq!(
            ipset.elements().unwrap(),
            vec![
                SetElement {
                    target: cidr("10.0.0.0/8"),
                    expires_in: None
                },
                SetElement {
                    target: cidr("1.2.3.4"),
                    expires_in: Some(49)
                },
                SetElement {
                    target: cidr("2001:db8:1:2::/64"),
                    expires_in: None
                },
            ]
        );
        assert_eq!(rec.calls()[0], call("ipset", "save authban4", None));
    }
}
