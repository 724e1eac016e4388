//! The engine's side of the metrics: the counters it keeps as it works (plain integers on
//! its own thread), the snapshot it hands to the metrics server each tick, and that
//! server's life (started with the daemon, retried while its address is taken).
//! With `[metrics]` off none of this runs beyond the counting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Engine, error, log};
use crate::event::Kind;
use crate::metrics::{self, BackendSample, Board, Histogram, Server, Snapshot, SourceSample};

/// Why bans are imposed, as the metrics label them.
#[derive(Debug, Clone, Copy)]
pub(super) enum Imposed {
    Detected,
    Escalated,
    Manual,
    Restored,
    Adopted,
    Imported,
    Fleet,
}

const IMPOSED: [&str; 7] = [
    "detected",
    "escalated",
    "manual",
    "restored",
    "adopted",
    "imported",
    "fleet",
];

/// Why bans are lifted.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lifted {
    Expired,
    Manual,
    Protected,
    Fleet,
}

const LIFTED: [&str; 4] = ["expired", "manual", "protected", "fleet"];

const COMMANDS: [&str; 6] = ["status", "list", "ban", "unban", "reload", "import"];

/// How often a metrics listener that could not bind is tried again.
const RETRY: Duration = Duration::from_secs(10);

/// What the engine counts for the metrics (and `status`).
#[derive(Debug, Default)]
pub(super) struct Counters {
    imposed: [u64; IMPOSED.len()],
    lifted: [u64; LIFTED.len()],
    control: [u64; COMMANDS.len()],
    pub(super) store_failures: u64,
    reaction: Histogram,
}

impl Counters {
    pub(super) fn imposed(&mut self, why: Imposed, n: usize) {
        self.imposed[why as usize] += n as u64;
    }

    pub(super) fn lifted(&mut self, why: Lifted, n: usize) {
        self.lifted[why as usize] += n as u64;
    }

    pub(super) fn request(&mut self, name: &str) {
        if let Some(i) = COMMANDS.iter().position(|c| *c == name) {
            self.control[i] += 1;
        }
    }

    /// `n` bans of lines read at `read_at` are now in every working backend.
    pub(super) fn reacted(&mut self, read_at: Instant, n: usize) {
        self.reaction.observe(read_at.elapsed(), n as u64);
    }
}

/// The metrics listener, when configured.
#[derive(Debug)]
pub(super) struct Exporter {
    listen: metrics::Listen,
    board: Arc<Board>,
    server: Option<Server>,
    /// Why it does not listen, while it does not.
    pub(super) error: Option<String>,
    retry_at: Instant,
}

impl Exporter {
    pub(super) fn new(listen: metrics::Listen) -> Exporter {
        let mut e = Exporter {
            listen,
            board: Arc::new(Board::default()),
            server: None,
            error: None,
            retry_at: Instant::now(),
        };
        e.try_start();
        e
    }

    fn try_start(&mut self) {
        match Server::start(&self.listen, Arc::clone(&self.board)) {
            Ok(s) => {
                if self.error.take().is_some() {
                    log(&format!("metrics: serving on {} now", self.listen));
                }
                self.server = Some(s);
            }
            Err(e) => {
                if self.error.is_none() {
                    error(&format!(
                        "{e}; protection goes on without metrics, retried every {}s",
                        RETRY.as_secs()
                    ));
                }
                self.error = Some(e.to_string());
                self.retry_at = Instant::now() + RETRY;
            }
        }
    }

    /// What `status` says of the listener.
    pub(super) fn state(&self) -> String {
        match &self.error {
            None => format!("serving on {}", self.listen),
            Some(e) => format!("error: {e}"),
        }
    }
}

impl Engine {
    /// Hands a fresh snapshot to the metrics server, and retries a listener that failed.
    pub(super) fn publish_metrics(&mut self) {
        if self.exporter.is_none() {
            return;
        }
        let snapshot = self.snapshot();
        let Some(exporter) = self.exporter.as_mut() else {
            return;
        };
        if exporter.server.is_none() && Instant::now() >= exporter.retry_at {
            exporter.try_start();
        }
        exporter.board.publish(snapshot);
    }

    /// Everything the metrics show, now.
    pub(super) fn snapshot(&self) -> Snapshot {
        let family = |t: &crate::addr::Cidr| usize::from(t.net().addr().is_ipv6());
        let mut in_force = [0u64; 2];
        for b in self.core.active() {
            in_force[family(&b.target)] += 1;
        }
        let c = &self.counters;
        let kinds = [
            Kind::AuthFailure,
            Kind::InvalidUser,
            Kind::Probe,
            Kind::Success,
        ];
        Snapshot {
            started_at: self.started_at,
            sources: self
                .sources
                .values()
                .map(|s| SourceSample {
                    name: s.name.clone(),
                    lines: s.lines,
                    up: !(s.state.starts_with("waiting")
                        || s.state.starts_with("error")
                        || s.state == "stopped"),
                })
                .collect(),
            events: kinds
                .iter()
                .map(|k| (k.as_str(), self.counts[k.index()]))
                .collect(),
            untrusted_logins: self.untrusted_logins,
            imposed: IMPOSED.iter().copied().zip(c.imposed).collect(),
            lifted: LIFTED.iter().copied().zip(c.lifted).collect(),
            in_force,
            backends: self
                .slots
                .iter()
                .map(|s| {
                    let up = s.error.is_none() && !s.dirty;
                    let mut held = if s.dirty { [0, 0] } else { in_force };
                    if !s.dirty {
                        for t in s.refused.keys() {
                            held[family(t)] = held[family(t)].saturating_sub(1);
                        }
                    }
                    BackendSample {
                        name: s.backend.name(),
                        up,
                        degraded: s.backend.degraded().is_some(),
                        failures: s.failures,
                        refused: s.refused.len() as u64,
                        in_force: held,
                    }
                })
                .collect(),
            tracked: self.core.detector().tracked() as u64,
            detector_bytes: self.core.detector().heap_bytes() as u64,
            reaction: c.reaction.clone(),
            store_up: self.unsaved.error.is_none(),
            store_failures: c.store_failures,
            unsaved_bans: self.unsaved.ban_count() as u64,
            control: COMMANDS.iter().copied().zip(c.control).collect(),
            fleet: self.fleet_info().map(|f| metrics::FleetSample {
                following: f.following,
                publishing: f.publishing,
                outbox: f.outbox,
                received: f.received,
                published: f.published,
                bad_entries: f.bad_entries,
                refused: f.refused,
            }),
        }
    }
}
