//! decide: the one ban decision, shared by `authban scan` and `authban run`.
//!
//! [`Core`] owns the bans known (in force or expired, for their offence counts) and the
//! [`Detector`]. It is handed events with their log time and the current time, and returns
//! orders: bans to impose (the target the backends hold — an address, or a network: by
//! hand, or an IPv6 network scored as one —, the length, the offence number, the reason),
//! bans to lift, and notices for the operator. Every ban is known by its target, so `list`
//! shows what `unban` takes. It never reads the clock, a file, the store or the configuration: its
//! callers build its [`BanPolicy`] and `detect::Policy` once, save what it decides and carry
//! out its orders, each in its own way (the daemon into firewall backends, `scan` into
//! hosts.deny).
//!
//! Changes that must be saved first are split in two: `plan_*` says what the change is
//! without making it, and [`Core::impose`] or [`Core::lift`] make it once it is recorded.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::addr::Cidr;
use crate::ban::{BanOrder, Remaining};
use crate::detect::{self, Decision, Detector, Exemption};
use crate::event::{Event, Kind};
use crate::fleet::record::{Op, Origin, Record};

/// How long bans last.
#[derive(Debug, Clone, PartialEq)]
pub struct BanPolicy {
    /// The first ban's length, in seconds.
    pub time_s: u64,
    /// Each further offence multiplies the length by this…
    pub factor: f64,
    /// …up to this many seconds.
    pub max_s: u64,
    /// From this offence on the ban is permanent; 0 = never.
    pub permanent_after: u32,
    /// Network aggregation (`[policy.networks]`); off by default.
    pub networks: Networks,
}

/// When the bans of several addresses of one network ban the network: `bans` (0: never)
/// addresses of one IPv4 /`ipv4_prefix` or IPv6 /`ipv6_prefix` banned within `window_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Networks {
    pub bans: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    pub window_s: i64,
}

impl Default for Networks {
    fn default() -> Networks {
        Networks {
            bans: 0,
            ipv4_prefix: 24,
            ipv6_prefix: 48,
            window_s: 24 * 3600,
        }
    }
}

impl Default for BanPolicy {
    fn default() -> BanPolicy {
        BanPolicy {
            time_s: 24 * 3600,
            factor: 2.0,
            max_s: 4 * 7 * 24 * 3600,
            permanent_after: 0,
            networks: Networks::default(),
        }
    }
}

impl BanPolicy {
    /// How long the `offences`-th ban of an address lasts: the ban time multiplied by the
    /// factor for each earlier offence, capped; `None` is permanent.
    pub fn length(&self, offences: u32) -> Option<u64> {
        if self.permanent_after > 0 && offences >= self.permanent_after {
            return None;
        }
        let base = self.time_s as f64;
        let max = self.max_s as f64;
        let exp = i32::try_from(offences.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = (base * self.factor.powi(exp)).min(max).max(base.min(max));
        Some(secs as u64)
    }
}

/// A ban as recorded: the store is the truth that backends are reconciled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    /// What is banned, exactly as the backends hold it: an address, or a network (by
    /// hand, or an IPv6 network scored as one).
    pub target: Cidr,
    /// Unix seconds.
    pub banned_at: i64,
    /// Unix seconds; None = permanent.
    pub expires_at: Option<i64>,
    /// How many times this target was banned, for escalation; kept after expiry.
    pub offences: u32,
    /// Shared: the daemon hands snapshots of 100,000 bans to other threads.
    pub reason: Arc<str>,
    /// The fleet node whose ban this is, applied here; `None`: decided on this node. Only
    /// that node's unban lifts it (a remote node never lifts a ban of this one).
    pub node: Option<Arc<str>>,
}

impl BanRecord {
    /// In force at `now` (unix seconds): permanent, or expiring later.
    pub fn is_active(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }

    /// The length of the ban in seconds; `None` is permanent.
    pub fn length(&self) -> Option<u64> {
        self.expires_at
            .map(|t| u64::try_from(t - self.banned_at).unwrap_or(0))
    }

    /// The fleet's record of this ban, decided on this node, as `node` shares it.
    pub fn to_fleet(&self, origin: Origin, node: &str) -> Record {
        Record {
            op: Op::Ban,
            target: self.target,
            at: self.banned_at,
            until: self.expires_at,
            offence: self.offences,
            origin,
            node: node.to_owned(),
            reason: crate::log::one_line(&self.reason, crate::fleet::record::MAX_REASON),
        }
    }

    /// What the backends must hold for it.
    pub fn order(&self) -> BanOrder {
        BanOrder {
            target: self.target,
            expires_at: self.expires_at,
        }
    }
}

/// Something the operator should hear about that changes no ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The address (or its network) reached the threshold but is exempt.
    Spared {
        target: Cidr,
        why: Exemption,
        reason: String,
    },
    /// A successful login from an address that was failing: maybe a guessed password.
    LoginAfterFailures {
        addr: IpAddr,
        /// Points ([`detect::POINTS_PER_UNIT`] to a weight of 1).
        score: u32,
        at_ms: i64,
    },
}

/// What a batch of events asks for.
#[derive(Debug, Default)]
pub struct Orders {
    pub bans: Vec<BanRecord>,
    pub notices: Vec<Notice>,
    /// Successful logins (address, log time in ms): they protect the address a while.
    pub logins: Vec<(IpAddr, i64)>,
    /// The scored events behind each detected ban of `bans`, for the history.
    pub evidence: Vec<(Cidr, Vec<crate::detect::Mark>)>,
}

/// Bans that end: the records as they must now be saved (their expiry set to when they
/// ended), whose targets leave the backends.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lifted {
    pub records: Vec<BanRecord>,
}

impl Lifted {
    pub fn targets(&self) -> Vec<Cidr> {
        self.records.iter().map(|r| r.target).collect()
    }
}

/// How long a ban by hand lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// As the policy says for the target's next offence.
    Policy,
    Seconds(u64),
    Permanent,
}

/// Why a ban or unban by hand is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Loopback, this host, the SSH session's client or the allowlist (or a network
    /// holding one of them).
    Protected(Cidr, Exemption),
    NotBanned(Cidr),
    /// The address is not banned by itself but as part of this network.
    InsideNetwork(Cidr, Cidr),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Protected(t, why) => write!(f, "refusing to ban {t}: {why}"),
            Refusal::NotBanned(t) => write!(f, "{t} is not banned"),
            Refusal::InsideNetwork(t, net) => write!(
                f,
                "{t} is not banned by itself but as part of {net}: unban {net} to lift it"
            ),
        }
    }
}

/// What importing a blocklist did, entry by entry: counted, and each refusal said.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportTally {
    /// Entries banned anew.
    pub banned: usize,
    /// Entries banned already, for less long: their ban now lasts the import's length.
    pub extended: usize,
    /// Entries banned already for at least as long.
    pub kept: usize,
    /// Entries listed more than once.
    pub duplicates: usize,
    /// Why each refused entry was refused ("refusing to ban 10.0.0.0/8: it holds …").
    pub refused: Vec<String>,
}

impl ImportTally {
    /// Adds what another part of the same import did.
    pub fn add(&mut self, other: ImportTally) {
        self.banned += other.banned;
        self.extended += other.extended;
        self.kept += other.kept;
        self.duplicates += other.duplicates;
        self.refused.extend(other.refused);
    }
}

/// Another fleet node's ban, as [`Core::plan_remote`] weighs it.
#[derive(Debug, Clone, Copy)]
pub struct Remote<'a> {
    pub target: Cidr,
    /// When the origin's ban ends; `None`: never.
    pub until: Option<i64>,
    pub node: &'a str,
    /// The origin's reason, already cut to one printable line.
    pub reason: &'a str,
}

impl Remote<'_> {
    fn reason(&self) -> Arc<str> {
        format!("fleet: {}: {}", self.node, self.reason).into()
    }
}

/// Whether a ban ending at `have` lasts at least until `want` (`None`: never ends).
fn outlasts(have: Option<i64>, want: Option<i64>) -> bool {
    match (have, want) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(h), Some(w)) => h >= w,
    }
}

/// The decision state: the detector and every ban known.
#[derive(Debug)]
pub struct Core {
    detector: Detector,
    ban: BanPolicy,
    /// Bans in force by target.
    active: HashMap<Cidr, BanRecord>,
    /// Offences of every target ever banned, for escalation.
    offences: HashMap<Cidr, u32>,
    /// Changes whenever the bans in force may have changed, for caches of them.
    generation: u64,
}

impl Core {
    /// A core that knows the bans `known` (from the store, in force or not) at `now_s`.
    pub fn new(
        detect: detect::Policy,
        ban: BanPolicy,
        known: impl IntoIterator<Item = BanRecord>,
        now_s: i64,
    ) -> Core {
        let mut active = HashMap::new();
        let mut offences = HashMap::new();
        for b in known {
            offences.insert(b.target, b.offences);
            if b.is_active(now_s) {
                active.insert(b.target, b);
            }
        }
        let mut detector = Detector::new(detect);
        detector.set_banned(active.keys());
        Core {
            detector,
            ban,
            active,
            offences,
            generation: 0,
        }
    }

    /// A number that changes whenever the bans in force may have changed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// For restoring and saving the detector's windows, which its callers persist each in
    /// their own rhythm.
    pub fn detector_mut(&mut self) -> &mut Detector {
        &mut self.detector
    }

    pub fn ban_policy(&self) -> &BanPolicy {
        &self.ban
    }

    /// A new policy (a reload); bans in force keep their length. A new IPv6 prefix
    /// changes what is scored: the bans in force are marked again under it.
    pub fn set_policy(&mut self, detect: detect::Policy, ban: BanPolicy) {
        self.detector.set_policy(detect);
        self.detector.set_banned(self.active.keys());
        self.ban = ban;
    }

    /// Feeds one event at log time `at_ms`; a ban it causes starts at `now_s`.
    pub fn observe(&mut self, ev: &Event<'_>, at_ms: i64, now_s: i64, out: &mut Orders) {
        if ev.kind == Kind::Success {
            out.logins.push((ev.addr, at_ms));
        }
        let Some(decision) = self.detector.observe(ev, at_ms) else {
            return;
        };
        match decision {
            Decision::Ban(o) => {
                let at_ms = o.last_ms;
                let offences = self.next_offence(&o.target);
                let ban = self.new_ban(o.target, offences, self.ban.length(offences), now_s, {
                    o.reason()
                });
                let member = ban.target;
                self.impose(ban.clone());
                out.bans.push(ban);
                out.evidence.push((member, o.marks));
                self.aggregate(member, at_ms, now_s, out);
            }
            Decision::Spared(o, why) => out.notices.push(Notice::Spared {
                target: o.target,
                why,
                reason: o.reason(),
            }),
            Decision::LoginAfterFailures { addr, score, at_ms } => out
                .notices
                .push(Notice::LoginAfterFailures { addr, score, at_ms }),
        }
    }

    /// After the ban of `member`: bans its network when `[policy.networks]` says enough
    /// addresses of it were banned inside its window, unless the network holds an address
    /// never banned (then its members stay banned one by one, and a notice says why).
    fn aggregate(&mut self, member: Cidr, at_ms: i64, now_s: i64, out: &mut Orders) {
        let n = self.ban.networks;
        let first = member.net().network();
        let prefix = if first.is_ipv4() {
            n.ipv4_prefix
        } else {
            n.ipv6_prefix
        };
        if n.bans == 0 || member.net().prefix_len() <= prefix {
            return;
        }
        let Some(net) = Cidr::network(first, prefix) else {
            return;
        };
        if self.active.keys().any(|t| t.covers(&net)) {
            return;
        }
        let since = now_s.saturating_sub(n.window_s);
        let mut members: Vec<Cidr> = self
            .active
            .values()
            .filter(|b| net.covers(&b.target) && b.target != net && b.banned_at >= since)
            .map(|b| b.target)
            .collect();
        if members.len() < n.bans as usize {
            return;
        }
        members.sort_unstable();
        let shown: Vec<String> = members.iter().take(8).map(ToString::to_string).collect();
        let more = members.len().saturating_sub(shown.len());
        let reason = format!(
            "{} addresses of the network banned within {}s: {}{}",
            members.len(),
            n.window_s,
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        if let Some(why) = self.detector.protected(&net, Some(at_ms)) {
            out.notices.push(Notice::Spared {
                target: net,
                why,
                reason,
            });
            return;
        }
        let offences = self.next_offence(&net);
        let ban = self.new_ban(net, offences, self.ban.length(offences), now_s, reason);
        self.impose(ban.clone());
        out.bans.push(ban);
    }

    fn next_offence(&self, target: &Cidr) -> u32 {
        self.offences
            .get(target)
            .copied()
            .unwrap_or(0)
            .saturating_add(1)
    }

    fn new_ban(
        &self,
        target: Cidr,
        offences: u32,
        length: Option<u64>,
        now_s: i64,
        reason: String,
    ) -> BanRecord {
        let expires_at = length.map(|l| now_s.saturating_add(i64::try_from(l).unwrap_or(i64::MAX)));
        BanRecord {
            target,
            banned_at: now_s,
            expires_at,
            offences,
            reason: reason.into(),
            node: None,
        }
    }

    /// The ban by hand of `target`, an address or a network (not yet in force:
    /// [`Core::impose`] it once saved). Refused when it is or holds an address that is
    /// never banned: this host's (`local`, read anew by the caller), loopback, the SSH
    /// session's client, or an allowlisted one (the allowlist always wins: such a ban
    /// would be lifted at the next reload).
    pub fn plan_ban_by_hand(
        &self,
        target: Cidr,
        length: Length,
        local: &[IpAddr],
        now_s: i64,
    ) -> Result<BanRecord, Refusal> {
        self.refuse_protected(target, local)?;
        let offences = self.next_offence(&target);
        let length = match length {
            Length::Policy => self.ban.length(offences),
            Length::Seconds(s) => Some(s),
            Length::Permanent => None,
        };
        Ok(self.new_ban(target, offences, length, now_s, "banned by hand".into()))
    }

    /// Why `target` may not be banned, if it is or holds an address never banned (see
    /// [`Core::plan_ban_by_hand`]).
    fn refuse_protected(&self, target: Cidr, local: &[IpAddr]) -> Result<(), Refusal> {
        if let Some(a) = local.iter().find(|a| target.contains(**a)) {
            let why = if target.is_host() {
                Exemption::LocalAddress
            } else {
                Exemption::Holds(*a, Box::new(Exemption::LocalAddress))
            };
            return Err(Refusal::Protected(target, why));
        }
        match self.detector.protected(&target, None) {
            Some(why) => Err(Refusal::Protected(target, why)),
            None => Ok(()),
        }
    }

    /// The bans importing `targets` from the blocklist `list` makes, each for `length`
    /// seconds (`None`: permanent), and what became of every target. Protected targets are
    /// refused as by hand, and so are networks wider than a list holds. A target banned already keeps its ban if that lasts as long,
    /// and has it extended if not: the same ban, so a list imported again every day is
    /// one ban per entry in the history, not one per import. Not yet in force:
    /// [`Core::impose`] the records once saved.
    pub fn plan_import(
        &self,
        targets: &[Cidr],
        length: Option<u64>,
        list: &str,
        local: &[IpAddr],
        now_s: i64,
    ) -> (Vec<BanRecord>, ImportTally) {
        let until = length.map(|l| now_s.saturating_add(i64::try_from(l).unwrap_or(i64::MAX)));
        let mut records: Vec<BanRecord> = Vec::new();
        let mut tally = ImportTally::default();
        let mut seen: HashSet<Cidr> = HashSet::new();
        let reason: Arc<str> = format!("imported from {list}").into();
        for &target in targets {
            if !seen.insert(target) {
                tally.duplicates += 1;
                continue;
            }
            if let Err(refusal) = self.refuse_protected(target, local) {
                tally.refused.push(refusal.to_string());
                continue;
            }
            // The blocklist reader refuses these first; a client of the daemon may not.
            if let Some(min) = target.wider_than_outside_bans() {
                tally
                    .refused
                    .push(format!("refusing to ban {target}: wider than /{min}"));
                continue;
            }
            match self.active.get(&target) {
                Some(rec) if outlasts(rec.expires_at, until) => tally.kept += 1,
                Some(rec) => {
                    tally.extended += 1;
                    records.push(BanRecord {
                        expires_at: until,
                        ..rec.clone()
                    });
                }
                None => {
                    tally.banned += 1;
                    records.push(BanRecord {
                        target,
                        banned_at: now_s,
                        expires_at: until,
                        offences: self.next_offence(&target),
                        reason: reason.clone(),
                        node: None,
                    });
                }
            }
        }
        (records, tally)
    }

    /// The ban that another fleet node's ban of `target` makes here, if any: `Ok(None)`
    /// when this node holds a ban of it already that lasts as long, or one it decided
    /// itself (a remote ban never replaces a local one, so no remote unban can lift it).
    /// Protected targets are refused as by hand: the allowlist, this host and the SSH
    /// session's client always win. The ban ends when the origin's does, at most
    /// `max_s` from now; a remote ban counts as an offence here, as a ban by hand does.
    /// Not yet in force: [`Core::impose`] it once saved.
    pub fn plan_remote(
        &self,
        remote: &Remote<'_>,
        max_s: u64,
        local: &[IpAddr],
        now_s: i64,
    ) -> Result<Option<BanRecord>, Refusal> {
        let target = remote.target;
        self.refuse_protected(target, local)?;
        let cap = now_s.saturating_add(i64::try_from(max_s).unwrap_or(i64::MAX));
        let until = Some(remote.until.map_or(cap, |u| u.min(cap)));
        if until.is_some_and(|u| u <= now_s) {
            return Ok(None);
        }
        match self.active.get(&target) {
            Some(rec) if rec.node.is_none() || outlasts(rec.expires_at, until) => Ok(None),
            Some(rec) => Ok(Some(BanRecord {
                expires_at: until,
                node: Some(remote.node.into()),
                reason: remote.reason(),
                ..rec.clone()
            })),
            None => Ok(Some(BanRecord {
                target,
                banned_at: now_s,
                expires_at: until,
                offences: self.next_offence(&target),
                reason: remote.reason(),
                node: Some(remote.node.into()),
            })),
        }
    }

    /// The record that a remote unban of `target` saves here, if it lifts a ban: one
    /// applied from `node` (or, when `any_node`, an admin's fleet-wide unban, from any
    /// node). A ban this node decided itself is never lifted from outside.
    pub fn plan_remote_unban(
        &self,
        target: Cidr,
        node: &str,
        any_node: bool,
        now_s: i64,
    ) -> Option<BanRecord> {
        let rec = self.active.get(&target)?;
        let from = rec.node.as_deref()?;
        if !any_node && from != node {
            return None;
        }
        let mut rec = rec.clone();
        rec.expires_at = Some(now_s.max(rec.banned_at));
        Some(rec)
    }

    /// Bans for what a backend holds that no record, in force or expired, explains: the
    /// store was lost, emptied or replaced, and a ban in force is lifted only by its expiry
    /// or an explicit unban. Each is put in force from `now_s` for the remaining time the
    /// backend gives (the policy's first ban length when it cannot tell), and returned to
    /// be saved and said. A target that a record explains is left to it: expired means
    /// lifted.
    pub fn adopt(&mut self, held: &[(Cidr, Remaining)], now_s: i64, from: &str) -> Vec<BanRecord> {
        let mut out: Vec<BanRecord> = Vec::new();
        for (target, remaining) in held {
            if self.offences.contains_key(target) || out.iter().any(|b| b.target == *target) {
                continue;
            }
            let length = match remaining {
                Remaining::Until(at) => {
                    Some(u64::try_from(at.saturating_sub(now_s)).unwrap_or(0).max(1))
                }
                Remaining::Permanent => None,
                Remaining::Unknown => self.ban.length(1),
            };
            out.push(self.new_ban(
                *target,
                1,
                length,
                now_s,
                format!("adopted from {from}: the store had no record of it"),
            ));
        }
        for b in &out {
            self.impose(b.clone());
        }
        out
    }

    /// Puts a ban in force (replacing one of the same target).
    pub fn impose(&mut self, ban: BanRecord) {
        self.generation += 1;
        self.offences.insert(ban.target, ban.offences);
        self.detector.ban(&ban.target);
        self.active.insert(ban.target, ban);
    }

    /// The record that lifting the ban of `target` at `now_s` saves (not yet lifted: see
    /// [`Core::lift`]). `target` is what `list` shows: an address banned only as part of
    /// a network is refused with that network's name, not lifted with it.
    pub fn plan_unban(&self, target: Cidr, now_s: i64) -> Result<BanRecord, Refusal> {
        let Some(rec) = self.active.get(&target) else {
            let addr = target.net().network();
            let mut nets: Vec<&Cidr> = self
                .active
                .keys()
                .filter(|n| !n.is_host() && target.is_host() && n.contains(addr))
                .collect();
            nets.sort();
            return Err(match nets.first() {
                Some(net) => Refusal::InsideNetwork(target, **net),
                None => Refusal::NotBanned(target),
            });
        };
        let mut rec = rec.clone();
        rec.expires_at = Some(now_s.max(rec.banned_at));
        Ok(rec)
    }

    /// Ends the bans of `targets`; returns those that were in force.
    pub fn lift(&mut self, targets: &[Cidr]) -> Vec<Cidr> {
        let mut gone = Vec::new();
        self.generation += 1;
        for t in targets {
            if self.active.remove(t).is_some() {
                self.detector.unban(t);
                gone.push(*t);
            }
        }
        gone.sort();
        gone.dedup();
        gone
    }

    /// Ends every ban that expired by `now_s`.
    pub fn expire(&mut self, now_s: i64) -> Lifted {
        let mut records: Vec<BanRecord> = self
            .active
            .values()
            .filter(|b| !b.is_active(now_s))
            .cloned()
            .collect();
        records.sort_by_key(|b| (b.expires_at, b.target));
        self.lift(&records.iter().map(|b| b.target).collect::<Vec<_>>());
        Lifted { records }
    }

    /// The bans in force that the policy now protects (the allowlist grew, an address
    /// became this host's), each with why, as they must be saved once lifted (not yet
    /// lifted: see [`Core::lift`]). The allowlist always wins, over detected, manual,
    /// restored and adopted bans alike.
    pub fn plan_lift_protected(&self, now_s: i64) -> Vec<(BanRecord, Exemption)> {
        let mut out: Vec<(BanRecord, Exemption)> = self
            .active
            .values()
            .filter_map(|b| {
                let why = self.detector.protected(&b.target, None)?;
                let mut rec = b.clone();
                rec.expires_at = Some(now_s.max(rec.banned_at));
                Some((rec, why))
            })
            .collect();
        out.sort_by_key(|(b, _)| b.target);
        out
    }

    /// Bans in force.
    pub fn active(&self) -> impl Iterator<Item = &BanRecord> {
        self.active.values()
    }

    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    pub fn is_banned(&self, target: &Cidr) -> bool {
        self.active.contains_key(target)
    }

    /// What the backends must hold: one order per ban in force, sorted.
    pub fn orders(&self) -> Vec<BanOrder> {
        let mut out: Vec<BanOrder> = self.active.values().map(BanRecord::order).collect();
        out.sort_unstable_by_key(|o| o.target);
        out
    }
}

#[cfg(test)]
mod tests;
