//! `authban history` and `authban explain`: what the store remembers of bans past and
//! present, and why an address stands where it does. Both read the store directly, so
//! they answer the same with the daemon running (SQLite lets them read while it writes)
//! or without one; they change nothing.

use std::net::IpAddr;
use std::str::FromStr;

use clap::Args;
use serde::Serialize;

use super::ctl::render::rfc3339;
use super::{Global, exit};
use crate::addr::Cidr;
use crate::config::{self, Config};
use crate::decide::{Core, Notice, Orders};
use crate::detect::{POINTS_PER_UNIT, Tally};
use crate::event::{Event, Kind, Method, Msg};
use crate::host;
use crate::store::{self, Ending, PastBan, Store};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only what happened in this last span (7d, 12h) [default: everything kept]
    #[arg(long, value_name = "DURATION")]
    pub since: Option<config::Duration>,
    /// One JSON object per line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The address or network
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// As one JSON object
    #[arg(long)]
    pub json: bool,
}

/// The store of the configuration, if it exists (`None`: nothing happened yet).
pub(super) fn open(config: &Config) -> Result<Option<Store>, String> {
    let dir = &config.paths.state_dir;
    if !dir.join(store::DB_FILE).exists() {
        return Ok(None);
    }
    Store::open(dir).map(Some).map_err(|e| e.to_string())
}

/// One line of `history`.
#[derive(Debug, Serialize)]
struct Happening {
    /// RFC 3339, UTC in JSON.
    time: String,
    #[serde(skip)]
    at: i64,
    /// `banned`, `expired` or `lifted`.
    action: &'static str,
    target: String,
    offence: u32,
    /// For `banned`: until when (`null`: permanent).
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<String>,
    /// The ban's reason; for `lifted`, why it was lifted.
    reason: String,
}

/// What happened to each ban, in order: its start and, once it ended, its end.
fn happenings(bans: &[PastBan], since: i64, now: i64) -> Vec<Happening> {
    let utc = |t: i64| rfc3339(t, &jiff::tz::TimeZone::UTC);
    let mut out = Vec::new();
    for b in bans {
        let target = b.target.to_string();
        if b.banned_at >= since {
            out.push(Happening {
                time: utc(b.banned_at),
                at: b.banned_at,
                action: "banned",
                target: target.clone(),
                offence: b.offences,
                until: Some(b.until.map_or_else(|| "permanent".to_owned(), utc)),
                reason: b.reason.clone(),
            });
        }
        let (action, at, reason) = match &b.ending {
            Some(Ending::Expired { at }) => ("expired", *at, b.reason.clone()),
            Some(Ending::Lifted { at, why }) => ("lifted", *at, why.clone()),
            None => continue,
        };
        if at >= since && at <= now {
            out.push(Happening {
                time: utc(at),
                at,
                action,
                target,
                offence: b.offences,
                until: None,
                reason,
            });
        }
    }
    out.sort_by_key(|h| h.at);
    out
}

pub fn history(global: &Global, args: HistoryArgs) -> u8 {
    let config = match super::load_config(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let now = host::now_s();
    let since = args.since.map_or(i64::MIN, |d| {
        now.saturating_sub(i64::try_from(d.0.as_secs()).unwrap_or(i64::MAX))
    });
    let bans = match open(&config).and_then(|s| match s {
        Some(s) => s
            .past_bans(now, Some(since), None)
            .map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    }) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("authban: {e}");
            return exit::FAILURE;
        }
    };
    let list = happenings(&bans, since, now);
    let tz = host::local_zone();
    let mut out = String::new();
    for h in &list {
        if args.json {
            out.push_str(&serde_json::to_string(h).unwrap_or_default());
        } else {
            let local = rfc3339(h.at, &tz);
            out.push_str(&match h.action {
                "banned" => format!(
                    "{local}  banned   {}  until {} (offence {}): {}",
                    h.target,
                    h.until.as_deref().unwrap_or("?"),
                    h.offence,
                    h.reason
                ),
                action => format!("{local}  {action:7}  {}  ({})", h.target, h.reason),
            });
        }
        out.push('\n');
    }
    if list.is_empty() && !args.json {
        out.push_str("no bans in the history\n");
    }
    super::print_bytes(out.as_bytes(), "the history")
}

/// What `explain` finds out, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Explanation {
    target: String,
    bans: Vec<BanView>,
    /// The events in the current window (for an address).
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<WindowView>,
    /// Why the address is never banned, if it is not.
    exemption: Option<String>,
    /// What the next failed password from it would do.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_failure: Option<String>,
}

#[derive(Debug, Serialize)]
struct BanView {
    target: String,
    banned_at: String,
    until: Option<String>,
    offence: u32,
    reason: String,
    /// `in force`, `expired`, `lifted: why`.
    state: String,
    events: Vec<EventView>,
}

#[derive(Debug, Serialize)]
struct EventView {
    time: String,
    kind: &'static str,
    points: f64,
}

#[derive(Debug, Serialize)]
struct WindowView {
    window: String,
    score: f64,
    threshold: f64,
    events: Vec<EventView>,
    /// Each slow rule: its counter now, and what bans.
    slow: Vec<(String, f64, f64)>,
}

fn events_view(marks: &[crate::detect::Mark]) -> Vec<EventView> {
    marks
        .iter()
        .map(|m| EventView {
            time: jiff::Timestamp::from_millisecond(m.at_ms)
                .map_or_else(|_| format!("@{}", m.at_ms), |t| t.to_string()),
            kind: m.kind.as_str(),
            points: f64::from(m.points) / POINTS_PER_UNIT,
        })
        .collect()
}

pub fn explain(global: &Global, args: ExplainArgs) -> u8 {
    let target = match Cidr::from_str(&args.addr) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("authban: explain: {e}");
            return exit::USAGE;
        }
    };
    let config = match super::load_config(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match explanation(&config, target) {
        Ok(x) if args.json => {
            let mut text = serde_json::to_string_pretty(&x).unwrap_or_default();
            text.push('\n');
            super::print_bytes(text.as_bytes(), "the explanation")
        }
        Ok(x) => super::print_bytes(render(&x).as_bytes(), "the explanation"),
        Err(e) => {
            eprintln!("authban: {e}");
            exit::FAILURE
        }
    }
}

fn explanation(config: &Config, target: Cidr) -> Result<Explanation, String> {
    let now = host::now_s();
    let now_ms = host::now_ms();
    let store = open(config)?;
    let err = |e: store::StoreError| e.to_string();
    let (past, known, history, trusted) = match &store {
        Some(s) => (
            s.past_bans(now, None, Some(target)).map_err(err)?,
            s.bans().map_err(err)?,
            s.history().map_err(err)?,
            s.trusted().map_err(err)?,
        ),
        None => Default::default(),
    };
    let tz = host::local_zone();
    let bans = past
        .iter()
        .map(|b| BanView {
            target: b.target.to_string(),
            banned_at: rfc3339(b.banned_at, &tz),
            until: b.until.map(|t| rfc3339(t, &tz)),
            offence: b.offences,
            reason: b.reason.clone(),
            state: match &b.ending {
                None => "in force".to_owned(),
                Some(Ending::Expired { .. }) => "expired".to_owned(),
                Some(Ending::Lifted { at, why }) => format!("{why} at {}", rfc3339(*at, &tz)),
            },
            events: events_view(&b.events),
        })
        .collect();
    // The daemon's view: its policy, the bans and windows it saved. The daemon has no SSH
    // session, so none is exempt as this command's own client.
    let mut core = Core::new(
        config.detect_policy(host::local_addresses(), None),
        config.ban_policy(),
        known,
        now,
    );
    let addr: Option<IpAddr> = target.is_host().then(|| target.net().addr());
    let tally: Tally = addr
        .and_then(|a| {
            let a = crate::addr::canonical(a);
            history
                .iter()
                .find(|(h, _)| *h == a)
                .map(|(_, t)| t.clone())
        })
        .unwrap_or_default();
    core.detector_mut().restore_history(history);
    core.detector_mut().restore_trusted(trusted);
    let detector = core.detector();
    let exemption = detector
        .protected(&target, Some(now_ms))
        .map(|why| why.to_string());
    let policy = detector.policy();
    let window = addr.map(|a| {
        let horizon = now_ms.saturating_sub(policy.window_ms);
        let marks: Vec<_> = tally
            .marks
            .into_iter()
            .filter(|m| m.at_ms > horizon)
            .collect();
        WindowView {
            window: config.policy.window.to_string(),
            score: f64::from(detector.score(a, now_ms)) / POINTS_PER_UNIT,
            threshold: f64::from(policy.threshold) / POINTS_PER_UNIT,
            events: events_view(&marks),
            slow: policy
                .slow
                .iter()
                .zip(detector.slow_levels(a, now_ms))
                .map(|(r, level)| {
                    (
                        config::Duration::from_secs((r.window_ms / 1000).unsigned_abs())
                            .to_string(),
                        f64::from(level) / POINTS_PER_UNIT,
                        f64::from(r.threshold) / POINTS_PER_UNIT,
                    )
                })
                .collect(),
        }
    });
    let in_force = core.active().find(|b| b.target.covers(&target)).cloned();
    let next_failure = addr.map(|a| match &in_force {
        Some(b) => format!(
            "none: {} is banned {}",
            b.target,
            b.expires_at.map_or_else(
                || "permanently".to_owned(),
                |t| format!("until {}", rfc3339(t, &tz))
            )
        ),
        None => next_failure(&mut core, a, now, now_ms),
    });
    Ok(Explanation {
        target: target.to_string(),
        bans,
        window,
        exemption,
        next_failure,
    })
}

/// Feeds the decision core one failed password from `addr`, now, and says what it did.
fn next_failure(core: &mut Core, addr: IpAddr, now: i64, now_ms: i64) -> String {
    let ev = Event {
        time: None,
        kind: Kind::AuthFailure,
        msg: Msg::Failed,
        addr,
        by_pid: false,
        port: None,
        user: None,
        method: Some(Method::Password),
        count: 1,
        pid: None,
    };
    let before = core.detector().score(addr, now_ms);
    let mut orders = Orders::default();
    core.observe(&ev, now_ms, now, &mut orders);
    if let Some(b) = orders.bans.first() {
        let how = b.length().map_or_else(
            || "permanently".to_owned(),
            |l| format!("for {}", config::Duration::from_secs(l)),
        );
        return format!(
            "bans {} {how} (offence {}): {}",
            b.target, b.offences, b.reason
        );
    }
    for n in &orders.notices {
        if let Notice::Spared { why, .. } = n {
            return format!("reaches the threshold, but no ban: {why}");
        }
    }
    let after = core.detector().score(addr, now_ms);
    let threshold = core.detector().policy().threshold;
    format!(
        "no ban: the score goes from {:.1} to {:.1} of {:.1}",
        f64::from(before) / POINTS_PER_UNIT,
        f64::from(after) / POINTS_PER_UNIT,
        f64::from(threshold) / POINTS_PER_UNIT
    )
}

/// One indented line per event: its time, kind and points.
fn push_events(out: &mut String, events: &[EventView]) {
    for e in events {
        out.push_str(&format!(
            "      {}  {:12}  +{:.1}\n",
            e.time, e.kind, e.points
        ));
    }
}

fn render(x: &Explanation) -> String {
    let mut out = format!("{}\n", x.target);
    if x.bans.is_empty() {
        out.push_str("  Bans: none in the history\n");
    } else {
        out.push_str(&format!("  Bans ({}):\n", x.bans.len()));
    }
    for b in &x.bans {
        out.push_str(&format!(
            "    {} → {}  {}  offence {}\n      {}\n",
            b.banned_at,
            b.until.as_deref().unwrap_or("never"),
            b.state,
            b.offence,
            b.reason
        ));
        if !b.target.eq(&x.target) {
            out.push_str(&format!("      (a ban of the network {})\n", b.target));
        }
        push_events(&mut out, &b.events);
    }
    if let Some(w) = &x.window {
        out.push_str(&format!(
            "  Now: score {:.1} of {:.1} within {}, {} event{}\n",
            w.score,
            w.threshold,
            w.window,
            w.events.len(),
            if w.events.len() == 1 { "" } else { "s" }
        ));
        push_events(&mut out, &w.events);
        for (window, level, threshold) in &w.slow {
            out.push_str(&format!(
                "  Slow rule {threshold:.1} in {window}: {level:.1}\n"
            ));
        }
    }
    out.push_str(&format!(
        "  Exempt: {}\n",
        x.exemption.as_deref().unwrap_or("no")
    ));
    if let Some(n) = &x.next_failure {
        out.push_str(&format!("  A failed password now: {n}\n"));
    }
    out
}
