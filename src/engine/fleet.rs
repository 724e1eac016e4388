//! The engine's side of the fleet: which of its bans go to the outbox, and what other
//! nodes' records do here. Remote bans go through the decision core like local ones (the
//! allowlist, this host and the SSH session's client always win; `accept`'s quorum and
//! `max-remote-time` apply), are enforced, then saved with the stream id they came to,
//! so a restart neither misses nor re-applies an entry in effect.

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;

use super::link::{self, Arrival, Keys, Link, Settings};
use super::observe::{Imposed, Lifted};
use super::{Engine, Input, forward, list, log};
use crate::addr::Cidr;
use crate::config;
use crate::decide::Remote;
use crate::fleet::record::{Op, Origin, Record};
use crate::host;
use crate::store::BanRecord;

/// The fleet as the engine holds it, when `[fleet]` is set.
#[derive(Debug)]
pub(super) struct Fleet {
    pub(super) link: Link,
    pub(super) node: String,
    pub(super) config: config::Fleet,
    quorum: Quorum,
    /// Remote records the core refused here (protected targets).
    pub(super) refused: u64,
}

impl Fleet {
    /// Counts again the reports of records applied before this start, which the link read
    /// from the stream within the quorum's window: the quorum is where it was before the
    /// restart. What those records did is in the store; they ban and lift nothing again.
    fn recount(&mut self, records: &[Record], window_s: u64) {
        let need = self.config.accept.quorum();
        let window_s = i64::try_from(window_s).unwrap_or(i64::MAX);
        for r in records {
            match r.op {
                Op::Ban => {
                    self.quorum.reached(r, need, window_s);
                }
                Op::Unban => self.quorum.withdraw(r.target, Some(&r.node)),
                Op::UnbanAll => self.quorum.withdraw(r.target, None),
            }
        }
        self.quorum.expire(host::now_s() - window_s);
    }
}

/// Reports of targets not yet banned here for want of a quorum: target → node → when
/// that node banned it (unix seconds, the origin's time).
#[derive(Debug, Default)]
struct Quorum(HashMap<Cidr, HashMap<String, i64>>);

impl Quorum {
    /// Counts `record`'s report; whether `need` distinct nodes reported its target within
    /// `window_s` of each other.
    fn reached(&mut self, record: &Record, need: u32, window_s: i64) -> bool {
        if need <= 1 {
            return true;
        }
        let reports = self.0.entry(record.target).or_default();
        let at = reports.entry(record.node.clone()).or_insert(record.at);
        *at = (*at).max(record.at);
        let newest = reports.values().copied().max().unwrap_or(record.at);
        reports.retain(|_, t| *t > newest - window_s);
        let reached = reports.len() >= need as usize;
        if reached {
            self.0.remove(&record.target);
        }
        reached
    }

    /// Forgets the reports of a target its node lifted.
    fn withdraw(&mut self, target: Cidr, node: Option<&str>) {
        match node {
            Some(n) => {
                if let Some(r) = self.0.get_mut(&target) {
                    r.remove(n);
                }
            }
            None => {
                self.0.remove(&target);
            }
        }
    }

    /// Forgets reports too old to make a quorum with any new one.
    fn expire(&mut self, before: i64) {
        self.0.retain(|_, r| {
            r.retain(|_, t| *t > before);
            !r.is_empty()
        });
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

impl Engine {
    /// Starts the link when `[fleet]` is set; its arrivals reach the loop through `tx`.
    pub(super) fn start_fleet(&mut self, tx: SyncSender<Input>) {
        let Some(cfg) = self.config.fleet.clone() else {
            return;
        };
        let endpoint = match cfg.endpoint() {
            Ok(u) => u,
            // `config check` refuses it; a configuration changed under a running
            // daemon is read again only on reload.
            Err(e) => {
                super::error(&format!("fleet.url: {e}: the fleet is off"));
                return;
            }
        };
        let applied = match self.store.position(link::POSITION) {
            Ok(p) => p,
            Err(e) => {
                super::error(&format!(
                    "fleet: cannot read the last entry applied ({e}): reading the bans in force"
                ));
                None
            }
        };
        let node = cfg.node_name();
        let settings = Settings {
            endpoint,
            node: node.clone(),
            keys: Keys::new(&cfg.key_prefix),
            stream_length: cfg.stream_length,
            state_dir: self.config.paths.state_dir.clone(),
            applied,
            quorum_window_s: (cfg.accept.quorum() > 1)
                .then_some(self.config.policy.window.0.as_secs()),
        };
        let (arrivals, arrived) = std::sync::mpsc::sync_channel::<Arrival>(1);
        forward(arrived, tx, Input::Fleet);
        match Link::start(settings, arrivals) {
            Ok(link) => {
                self.fleet = Some(Fleet {
                    link,
                    node,
                    config: cfg,
                    quorum: Quorum::default(),
                    refused: 0,
                });
            }
            Err(e) => super::error(&format!("fleet: cannot start its threads: {e}")),
        }
    }

    /// The outbox records of bans this node decided, if it shares their kind.
    pub(super) fn to_share(&self, bans: &[BanRecord], origin: Origin) -> Vec<Record> {
        self.fleet
            .as_ref()
            .map_or_else(Vec::new, |f| f.config.to_share(bans, origin, &f.node))
    }

    /// The outbox record of an unban by hand here (see [`Record::of_unban`]).
    pub(super) fn unban_to_share(&self, target: Cidr, fleet_wide: bool) -> Vec<Record> {
        self.fleet.as_ref().map_or_else(Vec::new, |f| {
            vec![Record::of_unban(target, fleet_wide, &f.node, host::now_s())]
        })
    }

    /// Wakes the publisher after a save that added to the outbox.
    pub(super) fn shared(&self, outbox: &[Record]) {
        if let (Some(f), false) = (&self.fleet, outbox.is_empty()) {
            f.link.wake();
        }
    }

    /// Applies other nodes' records: bans through the core, unbans of their own bans.
    pub(super) fn arrival(&mut self, arrival: Arrival) {
        let Some(fleet) = self.fleet.as_mut() else {
            return;
        };
        let (last_id, records, catch_up) = match arrival {
            Arrival::Entries { last_id, records } => (Some(last_id), records, false),
            Arrival::InForce { last_id, records } => (last_id, records, true),
            Arrival::Reports { records } => {
                fleet.recount(&records, self.config.policy.window.0.as_secs());
                return;
            }
        };
        let now = host::now_s();
        let local = host::local_addresses();
        let need = fleet.config.accept.quorum();
        let window_s = i64::try_from(self.config.policy.window.0.as_secs()).unwrap_or(i64::MAX);
        let max_s = fleet.config.max_remote_time.0.as_secs();
        // By target: a later record of a target replaces an earlier one of the batch.
        let mut bans: HashMap<Cidr, BanRecord> = HashMap::new();
        let mut lifted: Vec<BanRecord> = Vec::new();
        let mut endings: Vec<(Cidr, String)> = Vec::new();
        let mut refusals: Vec<String> = Vec::new();
        for r in &records {
            match r.op {
                Op::Ban => {
                    if !fleet.quorum.reached(r, need, window_s) {
                        continue;
                    }
                    let remote = Remote {
                        target: r.target,
                        until: r.until,
                        node: &r.node,
                        reason: &r.reason,
                    };
                    match self.core.plan_remote(&remote, max_s, &local, now) {
                        Ok(Some(b)) => {
                            self.core.impose(b.clone());
                            // Banned again after an unban of this batch: the ban is what
                            // holds, and what is saved.
                            if lifted.iter().any(|l| l.target == b.target) {
                                lifted.retain(|l| l.target != b.target);
                                endings.retain(|(t, _)| *t != b.target);
                            }
                            bans.insert(b.target, b);
                        }
                        Ok(None) => {}
                        Err(refusal) => {
                            fleet.refused += 1;
                            refusals.push(format!("{refusal} (from node {})", r.node));
                        }
                    }
                }
                Op::Unban | Op::UnbanAll => {
                    let any = r.op == Op::UnbanAll;
                    fleet
                        .quorum
                        .withdraw(r.target, (!any).then_some(r.node.as_str()));
                    if let Some(rec) = self.core.plan_remote_unban(r.target, &r.node, any, now) {
                        self.core.lift(&[r.target]);
                        bans.remove(&r.target);
                        let why = if any {
                            format!("unbanned fleet-wide from node {}", r.node)
                        } else {
                            format!("unbanned by node {}", r.node)
                        };
                        endings.push((r.target, why));
                        lifted.push(rec);
                    }
                }
            }
        }
        fleet.quorum.expire(now - window_s);
        for why in &refusals {
            log(&format!("fleet: not banning: {why}"));
        }
        let mut bans: Vec<BanRecord> = bans.into_values().collect();
        bans.sort_unstable_by_key(|b| b.target);
        self.enforce(&super::batch::ban_orders(&bans));
        let gone: Vec<Cidr> = lifted.iter().map(|r| r.target).collect();
        self.unenforce(&gone, false);
        if !bans.is_empty() {
            // A burst brings 10,000 at once: only those the line names are written out.
            let shown: Vec<String> = bans
                .iter()
                .take(super::LISTED)
                .map(|b| format!("{} ({})", b.target, b.node.as_deref().unwrap_or("?")))
                .collect();
            log(&format!(
                "fleet: banned {} {}: {}",
                bans.len(),
                if catch_up {
                    "in force elsewhere"
                } else {
                    "from other nodes"
                },
                super::listed(&shown, bans.len())
            ));
        }
        if !gone.is_empty() {
            log(&format!("fleet: lifted {}: {}", gone.len(), list(&gone)));
        }
        self.counters.imposed(Imposed::Fleet, bans.len());
        self.counters.lifted(Lifted::Fleet, lifted.len());
        let mut records = bans;
        records.extend(lifted);
        // Saved with the stream id, or kept with what is unsaved (the id then waits for a
        // later save: those entries are read again at a restart, which changes nothing).
        let positions: Vec<(String, String)> = last_id
            .map(|id| (link::POSITION.to_owned(), id))
            .into_iter()
            .collect();
        self.keep(records, &endings, &positions);
    }

    /// For `status` and the metrics.
    pub(super) fn fleet_info(&self) -> Option<crate::control::FleetInfo> {
        let f = self.fleet.as_ref()?;
        let s = f.link.state();
        Some(crate::control::FleetInfo {
            node: f.node.clone(),
            url: f
                .config
                .parsed_url()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            following: s.following,
            publishing: s.publishing,
            error: s.error,
            last_id: s.last_id,
            outbox: self.store.outbox_len().unwrap_or(0) + self.unsaved.outbox_len() as u64,
            received: s.received,
            published: s.published,
            bad_entries: s.bad_entries,
            refused: f.refused,
            awaiting_quorum: f.quorum.len() as u64,
            reconnects: s.reconnects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(node: &str, at: i64) -> Record {
        Record {
            op: Op::Ban,
            target: "203.0.113.5".parse().unwrap(),
            at,
            until: None,
            offence: 1,
            origin: Origin::Detected,
            node: node.into(),
            reason: String::new(),
        }
    }

    /// A burst's log line names ten targets and counts the rest, as every list of the
    /// engine's lines does, though only the ten it names are written out.
    #[test]
    fn a_log_line_names_ten_and_counts_the_rest() {
        let all: Vec<String> = (1..=25).map(|i| format!("192.0.2.{i} (web-2)")).collect();
        let shown: Vec<String> = all.iter().take(crate::engine::LISTED).cloned().collect();
        let line = crate::engine::listed(&shown, all.len());
        assert_eq!(line, crate::engine::list(&all));
        assert!(
            line.starts_with("192.0.2.1 (web-2), 192.0.2.2 (web-2),"),
            "{line}"
        );
        assert!(line.ends_with("192.0.2.10 (web-2) and 15 more"), "{line}");
        assert_eq!(
            crate::engine::list(&all[..2]),
            "192.0.2.1 (web-2), 192.0.2.2 (web-2)"
        );
    }

    #[test]
    fn a_quorum_counts_distinct_nodes_within_the_window_and_forgets_the_rest() {
        let mut q = Quorum::default();
        assert!(q.reached(&report("a", 100), 1, 600));
        assert!(!q.reached(&report("a", 100), 2, 600));
        // The same node again is one reporter.
        assert!(!q.reached(&report("a", 200), 2, 600));
        // A second node, but too late for a's report: still one within the window.
        assert!(!q.reached(&report("b", 900), 2, 600));
        assert!(q.reached(&report("c", 950), 2, 600));
        assert_eq!(q.len(), 0, "reached targets are forgotten");
        // A withdrawn report no longer counts; old ones expire.
        assert!(!q.reached(&report("a", 1000), 2, 600));
        q.withdraw("203.0.113.5".parse().unwrap(), Some("a"));
        assert!(!q.reached(&report("b", 1001), 2, 600));
        q.expire(2000);
        assert_eq!(q.len(), 0);
    }
}
