//! `authban report`: what the attacks looked like, for people. From the store (the bans of
//! the history and the events that caused them) or from logs given on the command line
//! (every event, the user names tried, and what the configured policy would have banned,
//! decided in log time as `scan` would). A plain-text summary for cron mail, or one
//! self-contained HTML file: inline CSS, SVG charts drawn here, a few lines of script to
//! sort the tables, and a Content-Security-Policy that forbids every network access.
//! Every string from a log is escaped: user names are the attacker's to choose.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;

use super::{Global, exit};
use crate::addr::Cidr;
use crate::config::{self, Config};
use crate::decide::{Core, Orders};
use crate::event::Kind;
use crate::host::{self, local_zone, reference_time};
use crate::parse::Parser;
use crate::source::{self, FileEntries};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only the last span (7d, 12h), counted back from now [default: everything]
    #[arg(long, value_name = "DURATION")]
    pub since: Option<config::Duration>,
    /// Write the report as one self-contained HTML file
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the plain-text summary (the default without --html)
    #[arg(long)]
    pub text: bool,
    /// Logs to report on (plain or gzip, `-` for stdin) instead of the store
    #[arg(value_name = "LOG")]
    pub files: Vec<PathBuf>,
}

/// One scored event, as the report counts it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    at_ms: i64,
    kind: Kind,
    addr: IpAddr,
}

/// A ban, as the report lists it.
#[derive(Debug, Clone)]
struct BanRow {
    target: Cidr,
    at_s: i64,
    until: Option<i64>,
    offences: u32,
    reason: String,
}

/// Everything the report shows.
#[derive(Debug, Default)]
struct Findings {
    /// Where it comes from, for the title.
    origin: String,
    /// Logs: every event; the store: the events behind the bans.
    events: Vec<Seen>,
    /// User names tried in failed attempts (logs only).
    users: HashMap<String, u64>,
    bans: Vec<BanRow>,
    /// The bans are the policy's verdict on the logs, not bans imposed.
    simulated: bool,
    lines: u64,
}

pub fn run(global: &Global, args: ReportArgs) -> u8 {
    let config = match super::load_config(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let now_ms = host::now_ms();
    let since_ms = args.since.map_or(i64::MIN, |d| {
        now_ms.saturating_sub(i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX))
    });
    let found = if args.files.is_empty() {
        from_store(&config, since_ms, now_ms)
    } else {
        from_logs(&config, &args.files, since_ms)
    };
    let found = match found {
        Ok(f) => f,
        Err((code, msg)) => {
            eprintln!("authban: {msg}");
            return code;
        }
    };
    if let Some(path) = &args.html {
        let page = html(&found, &local_zone());
        if let Err(e) = std::fs::write(path, page) {
            eprintln!("authban: cannot write {}: {e}", path.display());
            return exit::IOERR;
        }
        eprintln!("authban: wrote {}", path.display());
        if !args.text {
            return exit::OK;
        }
    }
    super::print_bytes(text(&found, &local_zone()).as_bytes(), "the report")
}

fn from_store(config: &Config, since_ms: i64, now_ms: i64) -> Result<Findings, (u8, String)> {
    let mut f = Findings {
        origin: format!("the store in {}", config.paths.state_dir.display()),
        ..Findings::default()
    };
    let Some(store) = super::past::open(config).map_err(|e| (exit::FAILURE, e))? else {
        return Ok(f);
    };
    let past = store
        .past_bans(
            now_ms.div_euclid(1000),
            Some(since_ms.div_euclid(1000)),
            None,
        )
        .map_err(|e| (exit::FAILURE, e.to_string()))?;
    for b in past {
        let addr = b.target.net().addr();
        f.events.extend(
            b.events
                .iter()
                .filter(|m| m.at_ms >= since_ms)
                .map(|m| Seen {
                    at_ms: m.at_ms,
                    kind: m.kind,
                    addr,
                }),
        );
        if b.banned_at >= since_ms.div_euclid(1000) {
            f.bans.push(BanRow {
                target: b.target,
                at_s: b.banned_at,
                until: b.until,
                offences: b.offences,
                reason: b.reason,
            });
        }
    }
    f.events.sort_by_key(|e| e.at_ms);
    Ok(f)
}

fn from_logs(config: &Config, files: &[PathBuf], since_ms: i64) -> Result<Findings, (u8, String)> {
    let mut f = Findings {
        origin: files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        simulated: true,
        ..Findings::default()
    };
    // The configured policy, on these logs alone, in log time (as `check --score`).
    let mut core = Core::new(
        config.detect_policy(host::local_addresses(), None),
        config.ban_policy(),
        Vec::new(),
        0,
    );
    let tz = local_zone();
    let read_ms = host::now_ms();
    let mut expired_at = i64::MIN;
    let mut progress = super::progress::Progress::new(files);
    for file in files {
        progress.file(file);
        let stdin = file.as_os_str() == "-";
        let mut parser = Parser::new(
            tz.clone(),
            reference_time((!stdin).then_some(file.as_path())),
        );
        let mut entries = FileEntries::sshd();
        let mut orders = Orders::default();
        let mut on_line = |line: source::Line<'_>| {
            f.lines += 1;
            let Some((text, from_journal)) = entries.text(line) else {
                return;
            };
            let Some(ev) = parser.parse(text) else {
                return;
            };
            let at_ms = ev.time.map_or(read_ms, |t| t.unix_ms());
            if at_ms < since_ms {
                return;
            }
            for _ in 0..ev.count.max(1) {
                f.events.push(Seen {
                    at_ms,
                    kind: ev.kind,
                    addr: ev.addr,
                });
            }
            if matches!(ev.kind, Kind::AuthFailure | Kind::InvalidUser)
                && let Some(user) = ev.user
            {
                *f.users
                    .entry(String::from_utf8_lossy(user).into_owned())
                    .or_default() += u64::from(ev.count.max(1));
            }
            if ev.kind == Kind::Success && !config.policy.trust_logins.grants(&ev, from_journal) {
                return;
            }
            let at_s = at_ms.div_euclid(1000);
            // Bans end in log time too, so a return after its ban is a repeat offence.
            if at_s >= expired_at.saturating_add(60) {
                core.expire(at_s);
                expired_at = at_s;
            }
            core.observe(&ev, at_ms, at_s, &mut orders);
            for b in orders.bans.drain(..) {
                f.bans.push(BanRow {
                    target: b.target,
                    at_s: b.banned_at,
                    until: b.expires_at,
                    offences: b.offences,
                    reason: b.reason.to_string(),
                });
            }
            orders.notices.clear();
            orders.logins.clear();
            orders.evidence.clear();
        };
        let result = if stdin {
            source::read_lines(std::io::stdin().lock(), &mut on_line)
        } else {
            source::read_file_observed(file, |n| progress.read(n), &mut on_line)
        };
        if let Err(e) = result {
            return Err((super::source_exit(&e), e.to_string()));
        }
    }
    f.events.sort_by_key(|e| e.at_ms);
    Ok(f)
}

/// Counts of each key, most first (ties by key), at most `n`.
fn top<K: Ord + Clone>(counts: &HashMap<K, u64>, n: usize) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = counts.iter().map(|(k, c)| (k.clone(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// The /24 of an IPv4 address, the /64 of an IPv6 one.
fn network(addr: IpAddr) -> Cidr {
    let prefix = if addr.is_ipv4() { 24 } else { 64 };
    Cidr::network(addr, prefix).unwrap_or(Cidr::host(addr))
}

/// What the tables and charts are made of.
struct Tables {
    by_kind: [u64; 4],
    addrs: Vec<(IpAddr, u64)>,
    nets: Vec<(Cidr, u64)>,
    users: Vec<(String, u64)>,
    /// (start ms, count per kind) per bucket, and the bucket's length.
    buckets: Vec<(i64, [u64; 4], u64)>,
    bucket_ms: i64,
    distinct: usize,
    repeat: usize,
}

fn tables(f: &Findings) -> Tables {
    let mut by_kind = [0u64; 4];
    let mut addrs: HashMap<IpAddr, u64> = HashMap::new();
    let mut nets: HashMap<Cidr, u64> = HashMap::new();
    for e in &f.events {
        by_kind[e.kind.index()] += 1;
        if e.kind != Kind::Success {
            *addrs.entry(e.addr).or_default() += 1;
            *nets.entry(network(e.addr)).or_default() += 1;
        }
    }
    let (first, last) = match (f.events.first(), f.events.last()) {
        (Some(a), Some(b)) => (a.at_ms, b.at_ms),
        _ => (0, 0),
    };
    // The shortest of these lengths that draws the span in at most 60 bars.
    const STEPS: [i64; 9] = [
        60,
        300,
        900,
        3600,
        3 * 3600,
        6 * 3600,
        86_400,
        7 * 86_400,
        30 * 86_400,
    ];
    let span = (last - first).max(1);
    let bucket_ms = STEPS
        .iter()
        .map(|s| s * 1000)
        .find(|b| span / b < 60)
        .unwrap_or(365 * 86_400_000);
    let start = first.div_euclid(bucket_ms) * bucket_ms;
    let n = usize::try_from((last - start) / bucket_ms + 1)
        .unwrap_or(1)
        .min(400);
    let mut buckets: Vec<(i64, [u64; 4], u64)> = (0..n)
        .map(|i| (start + i as i64 * bucket_ms, [0; 4], 0))
        .collect();
    for e in &f.events {
        let i = usize::try_from((e.at_ms - start) / bucket_ms)
            .unwrap_or(0)
            .min(n - 1);
        buckets[i].1[e.kind.index()] += 1;
    }
    for b in &f.bans {
        let i = usize::try_from((b.at_s * 1000 - start) / bucket_ms).unwrap_or(0);
        if let Some(slot) = buckets.get_mut(i) {
            slot.2 += 1;
        }
    }
    Tables {
        by_kind,
        distinct: addrs.len(),
        addrs: top(&addrs, 15),
        nets: top(&nets, 10),
        users: top(&f.users, 15),
        buckets,
        bucket_ms,
        repeat: f.bans.iter().filter(|b| b.offences > 1).count(),
    }
}

fn when(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| format!("@{ms}"),
        |t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        },
    )
}

fn period(f: &Findings, tz: &jiff::tz::TimeZone) -> String {
    match (f.events.first(), f.events.last()) {
        (Some(a), Some(b)) => format!("{} to {}", when(a.at_ms, tz), when(b.at_ms, tz)),
        _ => "no events".to_owned(),
    }
}

/// The summary for cron mail.
fn text(f: &Findings, tz: &jiff::tz::TimeZone) -> String {
    let t = tables(f);
    let mut out = String::new();
    let _ = writeln!(out, "authban report: {}", f.origin);
    let _ = writeln!(out, "Period: {}", period(f, tz));
    let _ = writeln!(
        out,
        "Events: {} auth failures, {} invalid users, {} probes, {} logins, from {} addresses",
        t.by_kind[0], t.by_kind[1], t.by_kind[2], t.by_kind[3], t.distinct
    );
    let _ = writeln!(
        out,
        "{}: {} ({} repeat offences)",
        if f.simulated {
            "Bans the policy would have imposed"
        } else {
            "Bans"
        },
        f.bans.len(),
        t.repeat
    );
    let list = |out: &mut String, title: &str, rows: Vec<(String, u64)>| {
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{title}:");
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (k, n) in rows {
            let _ = writeln!(out, "  {k:w$}  {n}");
        }
    };
    list(
        &mut out,
        "Top addresses (events)",
        t.addrs.iter().map(|(a, n)| (a.to_string(), *n)).collect(),
    );
    list(
        &mut out,
        "Top networks (/24, /64)",
        t.nets.iter().map(|(a, n)| (a.to_string(), *n)).collect(),
    );
    // Printed as the terminal shows it: control bytes a user name may carry are escaped.
    list(
        &mut out,
        "Top user names tried",
        t.users
            .iter()
            .map(|(u, n)| (u.escape_debug().to_string(), *n))
            .collect(),
    );
    if !f.bans.is_empty() {
        let _ = writeln!(out, "\nBans:");
        for b in f.bans.iter().rev().take(20) {
            let _ = writeln!(
                out,
                "  {}  {}  offence {}: {}",
                when(b.at_s * 1000, tz),
                b.target,
                b.offences,
                b.reason
            );
        }
        if f.bans.len() > 20 {
            let _ = writeln!(out, "  ({} more)", f.bans.len() - 20);
        }
    }
    if !f.simulated {
        let _ = writeln!(
            out,
            "\n(From the store: the events behind the bans; give logs for every event and the user names.)"
        );
    }
    out
}

/// HTML-escapes text (also in attribute values).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

const KIND_COLOURS: [&str; 4] = ["#d9534f", "#f0ad4e", "#7f8c8d", "#5cb85c"];
const KIND_NAMES: [&str; 4] = ["auth failures", "invalid users", "probes", "logins"];

/// Attacks over time: bars stacked by kind per bucket, bans as marks under them.
fn timeline(t: &Tables, tz: &jiff::tz::TimeZone) -> String {
    let (w, h, pad) = (960.0_f64, 220.0_f64, 40.0_f64);
    let max = t
        .buckets
        .iter()
        .map(|b| b.1.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = t.buckets.len().max(1) as f64;
    let bw = (w - pad) / n;
    let mut svg = format!(
        "<svg class=\"chart\" id=\"timeline\" viewBox=\"0 0 {w} {}\" role=\"img\" \
         aria-label=\"events over time\">",
        h + 50.0
    );
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"12\" class=\"axis\">{}</text><line x1=\"{pad}\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" class=\"base\"/>",
        max as u64
    );
    for (i, (start, kinds, bans)) in t.buckets.iter().enumerate() {
        let x = pad + i as f64 * bw;
        let mut y = h;
        for (k, &c) in kinds.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let bh = c as f64 / max * (h - 20.0);
            y -= bh;
            let _ = write!(
                svg,
                "<rect class=\"bar\" data-count=\"{c}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}: {c} {}</title></rect>",
                (bw - 1.0).max(1.0),
                KIND_COLOURS[k],
                esc(&when(*start, tz)),
                KIND_NAMES[k]
            );
        }
        if *bans > 0 {
            let _ = write!(
                svg,
                "<rect class=\"ban\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"8\" fill=\"#222\"><title>{}: {bans} ban{}</title></rect>",
                h + 4.0,
                (bw - 1.0).max(1.0),
                esc(&when(*start, tz)),
                if *bans == 1 { "" } else { "s" }
            );
        }
    }
    if let (Some(first), Some(last)) = (t.buckets.first(), t.buckets.last()) {
        let _ = write!(
            svg,
            "<text x=\"{pad}\" y=\"{}\" class=\"axis\">{}</text><text x=\"{w}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            h + 30.0,
            esc(&when(first.0, tz)),
            h + 30.0,
            esc(&when(last.0 + t.bucket_ms, tz))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per row.
fn bars(id: &str, rows: &[(String, u64, &str)]) -> String {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let (w, row) = (460.0_f64, 22.0_f64);
    let h = row * rows.len().max(1) as f64;
    // Drawn at its own size (not stretched to the column): labels stay one size.
    let mut svg = format!(
        "<svg class=\"chart bars\" id=\"{id}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">"
    );
    for (i, (label, n, colour)) in rows.iter().enumerate() {
        let y = i as f64 * row;
        let bw = (*n as f64 / max * (w - 220.0)).max(if *n > 0 { 2.0 } else { 0.0 });
        // Long labels (a user name is the attacker's to choose) are cut; the tooltip has all.
        let shown: String = if label.chars().count() > 26 {
            label.chars().take(25).chain(['…']).collect()
        } else {
            label.clone()
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" class=\"label\">{}<title>{}</title></text><rect class=\"bar\" data-count=\"{n}\" x=\"175\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{n}</text>",
            y + 15.0,
            esc(&shown),
            esc(label),
            y + 3.0,
            row - 6.0,
            180.0 + bw,
            y + 15.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn table<const N: usize>(id: &str, head: [&str; N], rows: &[[String; N]]) -> String {
    let mut out = format!("<table id=\"{id}\" class=\"sortable\"><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for cell in r {
            let _ = write!(out, "<td>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(out, "<tr><td colspan=\"{N}\">none</td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// Sorts a table by the column whose header is clicked (numbers as numbers).
const SCRIPT: &str = r#"
document.querySelectorAll("table.sortable th").forEach(function (th, _) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.dataset.asc !== "1";
    th.dataset.asc = asc ? "1" : "0";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.documentElement.dataset.bars = document.querySelectorAll("svg .bar").length;
"#;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#f6f6f6;padding:.6em 1em;border-radius:6px}\
.card b{display:block;font-size:1.6em}svg.chart{width:100%;height:auto}svg.bars{width:auto;max-width:100%}.axis,.label{font-size:11px;fill:#555}\
.base{stroke:#999}table{border-collapse:collapse;width:100%;margin:.4em 0}\
th,td{text-align:left;padding:2px 8px;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}\
th{cursor:pointer;background:#fafafa}.legend span{display:inline-block;margin-right:1em}\
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}.cols{display:flex;gap:2em}\
.cols>div{flex:1;min-width:0}.note{color:#666}";

/// The report as one HTML page.
fn html(f: &Findings, tz: &jiff::tz::TimeZone) -> String {
    let t = tables(f);
    let mut p = String::new();
    p.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    // Nothing leaves the machine when the file is opened: no fetch, no image, no font.
    p.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
    );
    let _ = write!(
        p,
        "<title>authban report</title><style>{STYLE}</style></head><body><h1>authban report</h1>\
         <p class=\"note\">{} &middot; {} &middot; generated {}</p>",
        esc(&f.origin),
        esc(&period(f, tz)),
        esc(&when(host::now_ms(), tz))
    );
    let attempts = t.by_kind[0] + t.by_kind[1];
    let _ = write!(
        p,
        "<div class=\"cards\"><div class=\"card\"><b>{attempts}</b>failed attempts</div>\
         <div class=\"card\"><b>{}</b>attacking addresses</div>\
         <div class=\"card\"><b>{}</b>{}</div><div class=\"card\"><b>{}</b>repeat offences</div></div>",
        t.distinct,
        f.bans.len(),
        if f.simulated {
            "bans the policy would impose"
        } else {
            "bans"
        },
        t.repeat
    );
    p.push_str("<h2>Attacks over time</h2><div class=\"legend\">");
    for (c, n) in KIND_COLOURS.iter().zip(KIND_NAMES) {
        let _ = write!(p, "<span><i style=\"background:{c}\"></i>{n}</span>");
    }
    p.push_str("<span><i style=\"background:#222\"></i>bans</span></div>");
    p.push_str(&timeline(&t, tz));
    p.push_str("<h2>Event kinds</h2>");
    let kinds: Vec<(String, u64, &str)> = (0..4)
        .map(|k| (KIND_NAMES[k].to_owned(), t.by_kind[k], KIND_COLOURS[k]))
        .collect();
    p.push_str(&bars("kinds", &kinds));
    p.push_str("<div class=\"cols\"><div><h2>Top addresses</h2>");
    let rows: Vec<(String, u64, &str)> = t
        .addrs
        .iter()
        .map(|(a, n)| (a.to_string(), *n, "#d9534f"))
        .collect();
    p.push_str(&bars("addresses", &rows));
    p.push_str("</div><div><h2>Top networks (/24, /64)</h2>");
    let rows: Vec<(String, u64, &str)> = t
        .nets
        .iter()
        .map(|(a, n)| (a.to_string(), *n, "#8e44ad"))
        .collect();
    p.push_str(&bars("networks", &rows));
    p.push_str("</div></div><h2>Top user names tried</h2>");
    if f.simulated {
        let rows: Vec<(String, u64, &str)> = t
            .users
            .iter()
            .map(|(u, n)| (u.clone(), *n, "#f0ad4e"))
            .collect();
        p.push_str(&bars("users", &rows));
    } else {
        p.push_str(
            "<p class=\"note\">The store keeps no user names: <code>authban report --html \
             FILE /var/log/auth.log</code> shows them.</p>",
        );
    }
    let _ = write!(
        p,
        "<h2>{}</h2>",
        if f.simulated {
            "What the policy would have banned"
        } else {
            "Bans and repeat offenders"
        }
    );
    let rows: Vec<[String; 5]> = f
        .bans
        .iter()
        .map(|b| {
            [
                when(b.at_s * 1000, tz),
                b.target.to_string(),
                b.offences.to_string(),
                b.until
                    .map_or_else(|| "permanent".to_owned(), |u| when(u * 1000, tz)),
                b.reason.clone(),
            ]
        })
        .collect();
    p.push_str(&table(
        "bans",
        ["banned at", "target", "offence", "until", "reason"],
        &rows,
    ));
    let _ = writeln!(p, "<script>{SCRIPT}</script></body></html>");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings() -> Findings {
        let a: IpAddr = "203.0.113.5".parse().unwrap();
        Findings {
            origin: "test".into(),
            events: (0..10)
                .map(|i| Seen {
                    at_ms: 1_700_000_000_000 + i * 600_000,
                    kind: Kind::AuthFailure,
                    addr: a,
                })
                .collect(),
            users: [("<script>alert(1)</script>".to_owned(), 3)].into(),
            bans: vec![BanRow {
                target: Cidr::host(a),
                at_s: 1_700_000_300,
                until: None,
                offences: 2,
                reason: "score <b>".into(),
            }],
            simulated: true,
            lines: 10,
        }
    }

    #[test]
    fn strings_from_the_log_are_escaped_and_nothing_is_fetched() {
        let page = html(&findings(), &jiff::tz::TimeZone::UTC);
        assert!(!page.contains("<script>alert"), "a user name became markup");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("score &lt;b&gt;"));
        assert_eq!(page.matches("<script>").count(), 1, "only our own script");
        assert!(page.contains("default-src 'none'"));
        for remote in ["http:", "https:", "src=", "url("] {
            assert!(!page.contains(remote), "the page refers to {remote}");
        }
        assert_eq!(esc("a\u{1b}[31m"), "a\\u{1b}[31m");
    }

    #[test]
    fn the_timeline_takes_the_shortest_bucket_that_fits_and_counts_every_event() {
        let t = tables(&findings());
        assert_eq!(t.bucket_ms, 300_000, "90 minutes in 5-minute bars");
        let total: u64 = t.buckets.iter().map(|b| b.1.iter().sum::<u64>()).sum();
        assert_eq!(total, 10);
        assert_eq!(
            t.buckets.iter().map(|b| b.2).sum::<u64>(),
            1,
            "the ban is drawn"
        );
        assert_eq!(t.repeat, 1);
        assert_eq!(t.nets[0].0.to_string(), "203.0.113.0/24");
        let text = text(&findings(), &jiff::tz::TimeZone::UTC);
        assert!(
            text.contains("Bans the policy would have imposed: 1 (1 repeat offences)"),
            "{text}"
        );
        assert!(text.contains("<script>alert(1)</script>  3"), "{text}");
    }
}
