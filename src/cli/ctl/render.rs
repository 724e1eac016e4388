//! The text of `authban status` and `authban list`: local RFC 3339 times, spans for people.

use crate::control::{BanInfo, Status};

/// A unix time as RFC 3339 in `tz`, to the second.
pub(in crate::cli) fn rfc3339(secs: i64, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => format!("@{secs}"),
    }
}

/// "3d 4h", "5m 2s": an uptime for people.
fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

pub(super) fn render_status(s: &Status, tz: &jiff::tz::TimeZone, now: i64) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "authban {} (pid {}), running since {} ({})",
        s.version,
        s.pid,
        rfc3339(s.started_at, tz),
        span(now - s.started_at)
    ));
    line(String::new());
    line("Sources:".into());
    if s.sources.is_empty() {
        line("  none".into());
    }
    let width = s.sources.iter().map(|x| x.name.len()).max().unwrap_or(0);
    for src in &s.sources {
        line(format!(
            "  {:width$}  {}, {} lines",
            src.name, src.state, src.lines
        ));
    }
    line("Backends:".into());
    if s.backends.is_empty() {
        line("  none".into());
    }
    let width = s.backends.iter().map(|x| x.name.len()).max().unwrap_or(0);
    for b in &s.backends {
        let mut state = if b.ok {
            "ok".to_owned()
        } else {
            format!(
                "FAILING: {}",
                b.error.as_deref().unwrap_or("no reason given")
            )
        };
        if b.pending > 0 {
            state.push_str(&format!(" ({} bans not applied yet)", b.pending));
        }
        if let Some(why) = &b.degraded {
            state.push_str(&format!(" (slow path: {why})"));
        }
        if !b.refused.is_empty() {
            state.push_str(&format!(
                " ({} ban{} refused, retried; the others are in force)",
                b.refused.len(),
                if b.refused.len() == 1 { "" } else { "s" }
            ));
        }
        line(format!("  {:width$}  {state}", b.name));
        for r in b.refused.iter().take(10) {
            line(format!("  {:width$}    refused {r}", ""));
        }
        if b.refused.len() > 10 {
            line(format!(
                "  {:width$}    and {} more",
                "",
                b.refused.len() - 10
            ));
        }
    }
    match &s.store_error {
        None => line("Store:             ok".into()),
        Some(e) => line(format!(
            "Store:             FAILING: {e} ({} bans kept in memory until it is written)",
            s.unsaved_bans
        )),
    }
    if let Some(f) = &s.fleet {
        let state = match (&f.error, f.following && f.publishing) {
            (_, true) => "connected".to_owned(),
            (Some(e), false) => format!("FAILING: {e}"),
            (None, false) => "connecting".to_owned(),
        };
        line(format!(
            "Fleet:             node {} on {}, {state}; {} waiting to be published",
            f.node, f.url, f.outbox
        ));
    }
    if let Some(m) = &s.metrics {
        let failing = m.strip_prefix("error: ").map(|e| format!("FAILING: {e}"));
        line(format!(
            "Metrics:           {}",
            failing.as_deref().unwrap_or(m)
        ));
    }
    line(String::new());
    line(format!("Active bans:       {}", s.active_bans));
    line(format!("Tracked addresses: {}", s.tracked_addresses));
    line(format!("Lines read:        {}", s.lines));
    let e = &s.events;
    line(format!(
        "Events:            {} auth failures, {} invalid users, {} probes, {} logins{}",
        e.auth_failure,
        e.invalid_user,
        e.probe,
        e.success,
        if e.untrusted_logins > 0 {
            format!(" ({} not trusted: see the log)", e.untrusted_logins)
        } else {
            String::new()
        }
    ));
    if !s.recent.is_empty() {
        line(String::new());
        line("Recent events:".into());
        let kind_w = s.recent.iter().map(|r| r.kind.len()).max().unwrap_or(0);
        let addr_w = s.recent.iter().map(|r| r.addr.len()).max().unwrap_or(0);
        for r in &s.recent {
            line(format!(
                "  {:25}  {:kind_w$}  {:addr_w$}  {}",
                r.time.as_deref().unwrap_or("-"),
                r.kind,
                r.addr,
                r.msg
            ));
        }
    }
    out
}

pub(super) fn render_bans(bans: &[BanInfo], tz: &jiff::tz::TimeZone) -> String {
    if bans.is_empty() {
        return "no bans in force\n".into();
    }
    let header = ["ADDRESS", "BANNED AT", "EXPIRES", "OFFENCES", "REASON"];
    let rows: Vec<[String; 5]> = bans
        .iter()
        .map(|b| {
            [
                b.addr.clone(),
                rfc3339(b.banned_at, tz),
                b.expires_at
                    .map_or_else(|| "never".into(), |t| rfc3339(t, tz)),
                b.offences.to_string(),
                b.reason.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else if i == 3 {
                // Counts align right.
                text.push_str(&format!("{cell:>w$}  ", w = widths[i]));
            } else {
                text.push_str(&format!("{cell:w$}  ", w = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    push_row(&header);
    for row in &rows {
        push_row(&row.each_ref().map(String::as_str));
    }
    out
}
