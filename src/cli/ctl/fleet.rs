//! `authban fleet status`: the daemon's link to the fleet (connected or not, last entry
//! applied, outbox), and what Redis itself says: how far behind this node is, in entries
//! and milliseconds, and which nodes were seen lately with their last report.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{SocketArg, Unanswered, ask_daemon, print_json};
use crate::cli::{Global, exit, load_config};
use crate::control::{FleetInfo, Request};
use crate::engine::link::{self, Keys, parse_id};

/// The fleet this server shares its bans with.
#[derive(Debug, Clone, Subcommand)]
pub enum FleetCommand {
    /// Whether the daemon is connected, how far behind it is, the outbox, and the nodes
    /// seen lately
    #[command(after_help = "Examples:\n  \
        authban fleet status\n  \
        authban fleet status --json")]
    Status(FleetStatusArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FleetStatusArgs {
    /// Print it as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

/// What `fleet status` prints.
#[derive(Debug, Default, Serialize)]
struct Report {
    /// The daemon's side; `None` when no daemon answered.
    daemon: Option<FleetInfo>,
    /// Why Redis could not be asked, if it could not.
    redis_error: Option<String>,
    /// Entries in the stream.
    stream_length: Option<u64>,
    /// Entries after the last one the daemon read (at most 10,000 are counted).
    lag_entries: Option<u64>,
    /// From the last entry read to the newest, by their ids.
    lag_ms: Option<u64>,
    /// Nodes that said they were alive, newest first.
    nodes: Vec<NodeSeen>,
}

#[derive(Debug, Serialize)]
struct NodeSeen {
    node: String,
    /// Unix milliseconds.
    seen_ms: i64,
    /// `AT OP TARGET` of its last record, or `- - -`.
    last_report: String,
}

/// The most entries counted behind.
const LAG_COUNT: u64 = 10_000;

pub fn run(global: &Global, command: FleetCommand) -> u8 {
    match command {
        FleetCommand::Status(args) => status(global, &args),
    }
}

fn status(global: &Global, args: &FleetStatusArgs) -> u8 {
    let config = match load_config(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(fleet) = config.fleet.clone() else {
        eprintln!("authban: no [fleet] is configured: this server shares no bans");
        return exit::CONFIG;
    };
    let socket = match args.socket.resolve(global) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut report = Report::default();
    match ask_daemon(&socket, &Request::Status) {
        Ok(r) => report.daemon = r.status.and_then(|s| s.fleet),
        Err(Unanswered::Failed(code)) => return code,
        Err(Unanswered::NoDaemon(why)) => eprintln!("authban: {why}: no daemon is running"),
    }
    let last_id = report.daemon.as_ref().and_then(|d| d.last_id.clone());
    match redis_view(&fleet, last_id.as_deref(), &mut report) {
        Ok(()) => {}
        Err(e) => report.redis_error = Some(e),
    }
    if args.json {
        return print_json(&report);
    }
    print!(
        "{}",
        render(
            &fleet.node_name(),
            &report,
            crate::host::now_ms(),
            &crate::host::local_zone(),
        )
    );
    if report.daemon.as_ref().is_some_and(|d| d.error.is_some()) || report.redis_error.is_some() {
        exit::FAILURE
    } else {
        exit::OK
    }
}

/// Asks Redis how long the stream is, how far `last_id` is behind, and who was seen.
fn redis_view(
    fleet: &crate::config::Fleet,
    last_id: Option<&str>,
    report: &mut Report,
) -> Result<(), String> {
    let endpoint = fleet.endpoint()?;
    let url = &endpoint.url;
    let mut conn = endpoint.connect(std::time::Duration::from_secs(5))?;
    let keys = Keys::new(&fleet.key_prefix);
    let err = |e: crate::fleet::resp::RespError| format!("{url}: {e}");
    let len = conn.call(&[b"XLEN", keys.stream.as_bytes()]).map_err(err)?;
    report.stream_length = len.int().and_then(|n| u64::try_from(n).ok());
    let newest = conn
        .call(&[
            b"XREVRANGE",
            keys.stream.as_bytes(),
            b"+",
            b"-",
            b"COUNT",
            b"1",
        ])
        .map_err(err)?;
    let newest = link::first_entry_id(&newest);
    if let Some(last) = last_id {
        let from = format!("({last}");
        let count = (LAG_COUNT).to_string();
        let after = conn
            .call(&[
                b"XRANGE",
                keys.stream.as_bytes(),
                from.as_bytes(),
                b"+",
                b"COUNT",
                count.as_bytes(),
            ])
            .map_err(err)?;
        report.lag_entries = after.items().map(|i| i.len() as u64);
        if let (Some(n), Some(l)) = (newest.as_deref().and_then(parse_id), parse_id(last)) {
            report.lag_ms = Some(n.0.saturating_sub(l.0));
        }
    }
    let mut nodes: Vec<NodeSeen> = link::nodes(&mut conn, &keys)
        .map_err(err)?
        .into_iter()
        .map(|(node, (seen_ms, last_report))| NodeSeen {
            node,
            seen_ms,
            last_report,
        })
        .collect();
    nodes.sort_by_key(|n| std::cmp::Reverse(n.seen_ms));
    report.nodes = nodes;
    Ok(())
}

/// `AT OP TARGET` as `OP TARGET at TIME`; `none` for a node that published nothing.
fn last_report(report: &str, tz: &jiff::tz::TimeZone) -> String {
    let mut parts = report.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(at), Some(op), Some(target)) if op != "-" => match at.parse::<i64>() {
            Ok(at) => format!("{op} {target} at {}", super::render::rfc3339(at, tz)),
            Err(_) => report.to_owned(),
        },
        _ => "none".into(),
    }
}

fn render(node: &str, r: &Report, now_ms: i64, tz: &jiff::tz::TimeZone) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    match &r.daemon {
        None => line(format!(
            "Node:        {node} (no daemon running: nothing is followed or published)"
        )),
        Some(d) => {
            line(format!("Node:        {} on {}", d.node, d.url));
            let side = |up: bool| if up { "connected" } else { "NOT CONNECTED" };
            line(format!("Following:   {}", side(d.following)));
            line(format!("Publishing:  {}", side(d.publishing)));
            if let Some(e) = &d.error {
                line(format!("Error:       {e}"));
            }
            line(format!(
                "Last entry:  {}",
                d.last_id.as_deref().unwrap_or("none yet")
            ));
            line(format!(
                "Outbox:      {} record{} waiting",
                d.outbox,
                if d.outbox == 1 { "" } else { "s" }
            ));
            line(format!(
                "Since start: {} received, {} published, {} refused here, {} bad entries, {} awaiting a quorum",
                d.received, d.published, d.refused, d.bad_entries, d.awaiting_quorum
            ));
        }
    }
    if let Some(e) = &r.redis_error {
        line(format!("Redis:       FAILING: {e}"));
        return out;
    }
    if let Some(n) = r.stream_length {
        line(format!("Stream:      {n} entries"));
    }
    if let Some(lag) = r.lag_entries {
        let more = if lag >= LAG_COUNT { "+" } else { "" };
        line(format!(
            "Lag:         {lag}{more} entries, {} ms",
            r.lag_ms.unwrap_or(0)
        ));
    }
    if !r.nodes.is_empty() {
        line("Nodes seen:".into());
        let w = r.nodes.iter().map(|n| n.node.len()).max().unwrap_or(0);
        for n in &r.nodes {
            let ago = (now_ms - n.seen_ms).max(0) / 1000;
            line(format!(
                "  {:w$}  seen {ago:>5} s ago  last: {}",
                n.node,
                last_report(&n.last_report, tz)
            ));
        }
    }
    out
}
