//! decide: the one ban decision, shared by `authban scan` and `authban run`.
//!
//! [`Core`] owns the bans known (in force or expired, for their offence counts) and the
//! [`Detector`]. It is handed events with their log time and the current time, and returns
//! orders: bans to impose (the address, the target the backends hold — the address or its
//! IPv6 prefix —, the length, the offence number, the reason), bans to lift, and notices for
//! the operator. It never reads the clock, a file, the store or the configuration: its
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

/// How long bans last and what they cover.
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
    /// IPv6 attackers are banned by this prefix length; 128 = the address alone.
    pub ipv6_prefix: u8,
}

impl Default for BanPolicy {
    fn default() -> BanPolicy {
        BanPolicy {
            time_s: 24 * 3600,
            factor: 2.0,
            max_s: 4 * 7 * 24 * 3600,
            permanent_after: 0,
            ipv6_prefix: 128,
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

    /// What the backends must hold for a banned address: the address, or its IPv6 prefix.
    pub fn target(&self, addr: IpAddr) -> Cidr {
        match addr {
            IpAddr::V6(_) if self.ipv6_prefix < 128 => {
                Cidr::network(addr, self.ipv6_prefix).unwrap_or_else(|| Cidr::host(addr))
            }
            _ => Cidr::host(addr),
        }
    }
}

/// A ban as recorded: the store is the truth that backends are reconciled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    pub addr: IpAddr,
    /// Unix seconds.
    pub banned_at: i64,
    /// Unix seconds; None = permanent.
    pub expires_at: Option<i64>,
    /// How many times this address was banned, for escalation; kept after expiry.
    pub offences: u32,
    /// Shared: the daemon hands snapshots of 100,000 bans to other threads.
    pub reason: Arc<str>,
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
}

/// A ban to impose: the record to save, and what the backends must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBan {
    pub record: BanRecord,
    pub target: Cidr,
}

/// Something the operator should hear about that changes no ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The address reached the threshold but is exempt.
    Spared {
        addr: IpAddr,
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
    pub bans: Vec<NewBan>,
    pub notices: Vec<Notice>,
    /// Successful logins (address, log time in ms): they protect the address a while.
    pub logins: Vec<(IpAddr, i64)>,
}

/// Bans that end: the records as they must now be saved, and the targets to take out of
/// the backends (those no other ban in force still needs, as a shared IPv6 prefix).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lifted {
    pub records: Vec<BanRecord>,
    pub targets: Vec<Cidr>,
}

/// How long a ban by hand lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// As the policy says for the address's next offence.
    Policy,
    Seconds(u64),
    Permanent,
}

/// Why a ban or unban by hand is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Loopback, unspecified, or an address of this host.
    OwnAddress(IpAddr),
    NotBanned(IpAddr),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::OwnAddress(a) => {
                write!(f, "refusing to ban {a}: it is this host's own address")
            }
            Refusal::NotBanned(a) => write!(f, "{a} is not banned"),
        }
    }
}

/// The decision state: the detector and every ban known.
#[derive(Debug)]
pub struct Core {
    detector: Detector,
    ban: BanPolicy,
    /// Bans in force by attacking address.
    active: HashMap<IpAddr, BanRecord>,
    /// Offences of every address ever banned, for escalation.
    offences: HashMap<IpAddr, u32>,
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
            offences.insert(b.addr, b.offences);
            if b.is_active(now_s) {
                active.insert(b.addr, b);
            }
        }
        let mut detector = Detector::new(detect);
        detector.set_banned(active.keys().copied());
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

    /// A new policy (a reload); bans in force keep their length.
    pub fn set_policy(&mut self, detect: detect::Policy, ban: BanPolicy) {
        self.detector.set_policy(detect);
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
        let window_ms = self.detector.policy().window_ms;
        match decision {
            Decision::Ban(o) => {
                let offences = self.next_offence(o.addr);
                let ban = self.new_ban(o.addr, offences, self.ban.length(offences), now_s, {
                    o.reason(window_ms)
                });
                self.impose(ban.clone());
                out.bans.push(ban);
            }
            Decision::Spared(o, why) => out.notices.push(Notice::Spared {
                addr: o.addr,
                why,
                reason: o.reason(window_ms),
            }),
            Decision::LoginAfterFailures { addr, score, at_ms } => out
                .notices
                .push(Notice::LoginAfterFailures { addr, score, at_ms }),
        }
    }

    fn next_offence(&self, addr: IpAddr) -> u32 {
        self.offences
            .get(&addr)
            .copied()
            .unwrap_or(0)
            .saturating_add(1)
    }

    fn new_ban(
        &self,
        addr: IpAddr,
        offences: u32,
        length: Option<u64>,
        now_s: i64,
        reason: String,
    ) -> NewBan {
        let expires_at = length.map(|l| now_s.saturating_add(i64::try_from(l).unwrap_or(i64::MAX)));
        NewBan {
            target: self.ban.target(addr),
            record: BanRecord {
                addr,
                banned_at: now_s,
                expires_at,
                offences,
                reason: reason.into(),
            },
        }
    }

    /// The ban by hand of `addr` (not yet in force: [`Core::impose`] it once saved).
    /// `local` are this host's addresses, which are never banned.
    pub fn plan_ban_by_hand(
        &self,
        addr: IpAddr,
        length: Length,
        local: &[IpAddr],
        now_s: i64,
    ) -> Result<NewBan, Refusal> {
        if addr.is_loopback() || addr.is_unspecified() || local.contains(&addr) {
            return Err(Refusal::OwnAddress(addr));
        }
        let offences = self.next_offence(addr);
        let length = match length {
            Length::Policy => self.ban.length(offences),
            Length::Seconds(s) => Some(s),
            Length::Permanent => None,
        };
        Ok(self.new_ban(addr, offences, length, now_s, "banned by hand".into()))
    }

    /// Bans for what a backend holds that no record, in force or expired, explains: the
    /// store was lost, emptied or replaced, and a ban in force is lifted only by its expiry
    /// or an explicit unban. Each is put in force from `now_s` for the remaining time the
    /// backend gives (the policy's first ban length when it cannot tell), and returned to
    /// be saved and said. A target that a record explains is left to it: expired means
    /// lifted.
    pub fn adopt(&mut self, held: &[(Cidr, Remaining)], now_s: i64, from: &str) -> Vec<NewBan> {
        let explained: HashSet<Cidr> = self.offences.keys().map(|a| self.ban.target(*a)).collect();
        let mut out: Vec<NewBan> = Vec::new();
        for (target, remaining) in held {
            let addr = target.net().network();
            if explained.contains(target)
                || explained.contains(&self.ban.target(addr))
                || out.iter().any(|b| b.record.addr == addr)
            {
                continue;
            }
            let length = match remaining {
                Remaining::Until(at) => {
                    Some(u64::try_from(at.saturating_sub(now_s)).unwrap_or(0).max(1))
                }
                Remaining::Permanent => None,
                Remaining::Unknown => self.ban.length(1),
            };
            let mut ban = self.new_ban(
                addr,
                1,
                length,
                now_s,
                format!("adopted from {from}: the store had no record of it"),
            );
            // The backend's entry as it is, even if the prefix policy changed since.
            ban.target = *target;
            out.push(ban);
        }
        for b in &out {
            self.impose(b.clone());
        }
        out
    }

    /// Puts a ban in force (replacing one of the same address).
    pub fn impose(&mut self, ban: NewBan) {
        self.generation += 1;
        let addr = ban.record.addr;
        self.offences.insert(addr, ban.record.offences);
        self.detector.ban(addr);
        self.active.insert(addr, ban.record);
    }

    /// The record that lifting the ban of `addr` at `now_s` saves (not yet lifted: see
    /// [`Core::lift`]).
    pub fn plan_unban(&self, addr: IpAddr, now_s: i64) -> Result<BanRecord, Refusal> {
        let mut rec = self
            .active
            .get(&addr)
            .cloned()
            .ok_or(Refusal::NotBanned(addr))?;
        rec.expires_at = Some(now_s.max(rec.banned_at));
        Ok(rec)
    }

    /// Ends the bans of `addrs`; returns the targets no ban in force needs any more.
    pub fn lift(&mut self, addrs: &[IpAddr]) -> Vec<Cidr> {
        let mut gone = Vec::new();
        self.generation += 1;
        for a in addrs {
            if self.active.remove(a).is_some() {
                self.detector.unban(*a);
                gone.push(self.ban.target(*a));
            }
        }
        let still: HashSet<Cidr> = self.active.keys().map(|a| self.ban.target(*a)).collect();
        gone.retain(|t| !still.contains(t));
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
        records.sort_by_key(|b| (b.expires_at, b.addr));
        let addrs: Vec<IpAddr> = records.iter().map(|b| b.addr).collect();
        let targets = self.lift(&addrs);
        Lifted { records, targets }
    }

    /// Bans in force.
    pub fn active(&self) -> impl Iterator<Item = &BanRecord> {
        self.active.values()
    }

    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    pub fn is_banned(&self, addr: IpAddr) -> bool {
        self.active.contains_key(&addr)
    }

    /// What the backends must hold: one order per target, sorted, the longest expiry
    /// winning when several banned addresses share an IPv6 prefix.
    pub fn orders(&self) -> Vec<BanOrder> {
        let mut by_target: HashMap<Cidr, Option<i64>> = HashMap::new();
        for b in self.active.values() {
            let slot = by_target
                .entry(self.ban.target(b.addr))
                .or_insert(b.expires_at);
            *slot = match (*slot, b.expires_at) {
                (None, _) | (_, None) => None,
                (Some(x), Some(y)) => Some(x.max(y)),
            };
        }
        let mut out: Vec<BanOrder> = by_target
            .into_iter()
            .map(|(target, expires_at)| BanOrder { target, expires_at })
            .collect();
        out.sort_unstable_by_key(|o| o.target);
        out
    }
}

#[cfg(test)]
mod tests;
