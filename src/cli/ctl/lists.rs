//! `authban import FILE` and `authban export`: blocklists in, the bans in force out.
//! Import sends the list to the daemon in parts under the socket's request size, or works
//! alone on the store and hosts.deny when none runs; export reads what `list` reads.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Global, SocketArg, Unanswered, ask_daemon, bans_in_force, exit, print_json};
use crate::addr::Cidr;
use crate::blocklist;
use crate::control::{BanInfo, Request};
use crate::decide::ImportTally;

/// Entries per request: 1,000 IPv6 networks are ~45 KB of JSON, under the socket's 64 KiB.
const PER_REQUEST: usize = 1000;

/// The largest list read: 1,000,000 entries of IPv6 networks with comments.
const MAX_BYTES: u64 = 128 << 20;

/// How many bad lines are named before the rest are counted.
const BAD_SHOWN: usize = 10;

/// Exit code of a list that is not one (sysexits' EX_DATAERR).
const DATAERR: u8 = 65;

/// Ban every address and network of a blocklist.
///
/// FILE holds one address or network per line, as public blocklists (Spamhaus DROP,
/// FireHOL's netsets) and `authban export` write them; anything after `#` or `;` is a
/// comment. Every line is checked first: a list with a line that is not an entry (a broken
/// download, an error page) imports nothing unless --skip-invalid, and an empty one is an
/// error too. Each entry is banned for --for, or --permanent, with "imported from NAME" as
/// its reason; one banned already keeps its ban if that lasts as long, and has it extended
/// if not. Addresses never banned (this host's, the SSH session's client, the allowlist)
/// are refused, as by `ban`. Without a daemon the bans are recorded in the store and
/// written to hosts.deny, as `scan` does. Needs root.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The blocklist; - reads standard input
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// How long each ban lasts, like 12h, 1d, 2w: a list imported daily `--for 2d` keeps
    /// its entries banned while they are listed, and lets them go two days after
    #[arg(
        long = "for",
        value_name = "DURATION",
        required_unless_present = "permanent"
    )]
    pub duration: Option<String>,
    /// Ban until an explicit unban
    #[arg(long, conflicts_with = "duration")]
    pub permanent: bool,
    /// The list's name in the bans' reason [default: the file's name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Import the entries of a list that also has lines that are not, naming those
    #[arg(long)]
    pub skip_invalid: bool,
    /// Check the list and say what importing it would do, from the bans the store
    /// records; nothing is banned
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

/// Print the bans in force, to carry them elsewhere.
///
/// `plain` is one address or network per line, a blocklist that `authban import` (or
/// another tool) reads; `json` is `list --json`'s; `nft` is a script for `nft -f` that
/// makes a table `inet authban_export` holding the bans with what remains of their time,
/// dropping the ports authban closes. Without a daemon, the bans the store records.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = Format::Plain)]
    pub format: Format,
    #[command(flatten)]
    pub socket: SocketArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Plain,
    Json,
    Nft,
}

pub fn import(global: &Global, args: ImportArgs) -> u8 {
    let stdin = args.file.as_os_str() == "-";
    let name = args.name.clone().unwrap_or_else(|| {
        if stdin {
            "standard input".to_owned()
        } else {
            args.file.file_name().map_or_else(
                || args.file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        }
    });
    // The name goes into every ban's reason, the log and `list`: printable text only.
    let name = crate::log::one_line(&name, 200);
    let length = match (&args.duration, args.permanent) {
        (_, true) => None,
        (Some(d), false) => match super::parse_duration(d) {
            Ok(d) if d.is_zero() => None,
            Ok(d) => Some(d),
            Err(msg) => return super::usage(&msg),
        },
        (None, false) => unreachable!("clap requires --for or --permanent"),
    };
    let bytes = match read_list(&args.file, stdin) {
        Ok(b) => b,
        Err((code, msg)) => {
            eprintln!("authban: {msg}");
            return code;
        }
    };
    let parsed = blocklist::parse(&bytes);
    for bad in parsed.bad.iter().take(BAD_SHOWN) {
        eprintln!("authban: {name}: {bad}");
    }
    if parsed.bad.len() > BAD_SHOWN {
        eprintln!(
            "authban: {name}: and {} more lines that are not entries",
            parsed.bad.len() - BAD_SHOWN
        );
    }
    if !parsed.bad.is_empty() && !args.skip_invalid {
        eprintln!(
            "authban: {name}: nothing imported: lines that are not an address or network: \
             {} (--skip-invalid imports the {} entries)",
            parsed.bad.len(),
            parsed.entries.len()
        );
        return DATAERR;
    }
    if parsed.too_many {
        eprintln!(
            "authban: {name}: nothing imported: it lists more than {} entries",
            blocklist::MAX_ENTRIES
        );
        return DATAERR;
    }
    if parsed.entries.is_empty() {
        eprintln!("authban: {name}: nothing imported: it lists no address or network");
        return DATAERR;
    }
    let how = match length {
        None => "permanently".to_owned(),
        Some(d) => format!("for {d}"),
    };
    if args.dry_run {
        return match dry_run(global, &parsed.entries, length, &name) {
            Ok(tally) => {
                let how = format!("{how}, in a dry run that bans nothing");
                println!(
                    "would import {}",
                    summary(&name, &how, parsed.entries.len(), &tally)
                );
                for why in &tally.refused {
                    println!("  {why}");
                }
                exit::OK
            }
            Err(code) => code,
        };
    }
    match send_or_alone(global, &args.socket, &parsed.entries, length, &name) {
        Ok((tally, said)) => {
            println!(
                "imported {}",
                summary(&name, &how, parsed.entries.len(), &tally)
            );
            for why in &tally.refused {
                println!("  {why}");
            }
            if let Some(said) = said {
                println!("{said}");
            }
            exit::OK
        }
        Err((code, msg)) => {
            // Empty: said already where it happened.
            if !msg.is_empty() {
                eprintln!("authban: {msg}");
            }
            code
        }
    }
}

/// The list's bytes, at most [`MAX_BYTES`] of them.
fn read_list(file: &std::path::Path, stdin: bool) -> Result<Vec<u8>, (u8, String)> {
    let mut bytes = Vec::new();
    let read = if stdin {
        std::io::stdin()
            .lock()
            .take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        let f = std::fs::File::open(file).map_err(|e| {
            (
                exit::NOINPUT,
                format!("cannot open {}: {e}", file.display()),
            )
        })?;
        f.take(MAX_BYTES + 1).read_to_end(&mut bytes)
    };
    read.map_err(|e| (exit::IOERR, format!("reading {}: {e}", file.display())))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err((
            DATAERR,
            format!(
                "{}: nothing imported: larger than {} MiB, no blocklist is",
                file.display(),
                MAX_BYTES >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// Imports through the daemon, in parts; alone on the store when none runs (with what
/// that run said of itself).
fn send_or_alone(
    global: &Global,
    socket: &SocketArg,
    entries: &[Cidr],
    length: Option<crate::config::Duration>,
    name: &str,
) -> Result<(ImportTally, Option<String>), (u8, String)> {
    let socket = socket.resolve(global).map_err(|c| (c, String::new()))?;
    let duration = length.unwrap_or(crate::config::Duration::ZERO).to_string();
    let mut tally = ImportTally::default();
    for (i, part) in entries.chunks(PER_REQUEST).enumerate() {
        let request = Request::Import {
            targets: part.iter().map(Cidr::to_string).collect(),
            duration: duration.clone(),
            list: name.to_owned(),
        };
        match ask_daemon(&socket, &request) {
            Ok(response) => match response.import {
                Some(t) => tally.add(t),
                None => return Err((exit::PROTOCOL, "the daemon's answer has no `import`".into())),
            },
            Err(Unanswered::Failed(code)) if i == 0 => return Err((code, String::new())),
            Err(Unanswered::Failed(code)) => {
                return Err((
                    code,
                    format!(
                        "the import of {name} stopped after {} of {} entries (so far {}); \
                         importing it again completes it",
                        i * PER_REQUEST,
                        entries.len(),
                        summary(name, "", i * PER_REQUEST, &tally)
                    ),
                ));
            }
            Err(Unanswered::NoDaemon(why)) if i == 0 => {
                let config = super::super::load_config(global).map_err(|c| (c, String::new()))?;
                let offline = super::Offline::open(&config, &why)?;
                let (tally, said) = offline.import(entries, length.map(|d| d.0.as_secs()), name)?;
                return Ok((tally, Some(said)));
            }
            Err(Unanswered::NoDaemon(why)) => {
                return Err((
                    exit::UNAVAILABLE,
                    format!(
                        "the daemon went away after {} of {} entries ({why}); importing {name} \
                         again completes it",
                        i * PER_REQUEST,
                        entries.len()
                    ),
                ));
            }
        }
    }
    Ok((tally, None))
}

/// What importing `entries` would do, planned by the configured decision core on the bans
/// the store records (the daemon's, saved as it decides), without the lock or a change.
fn dry_run(
    global: &Global,
    entries: &[Cidr],
    length: Option<crate::config::Duration>,
    name: &str,
) -> Result<ImportTally, u8> {
    let config = super::super::load_config(global)?;
    let known = match super::super::past::open(&config) {
        Ok(Some(store)) => store.bans().map_err(|e| {
            eprintln!("authban: {e}");
            exit::FAILURE
        })?,
        Ok(None) => Vec::new(),
        Err(msg) => {
            eprintln!("authban: {msg}");
            return Err(exit::FAILURE);
        }
    };
    let now = crate::host::now_s();
    let local = crate::host::local_addresses();
    let core = crate::decide::Core::new(
        config.detect_policy(local.clone(), crate::host::session_client()),
        config.ban_policy(),
        known,
        now,
    );
    let (_, tally) = core.plan_import(entries, length.map(|d| d.0.as_secs()), name, &local, now);
    Ok(tally)
}

/// `drop.txt (1,500 entries) for 1d: 1,480 banned, 12 extended, …`.
fn summary(name: &str, how: &str, entries: usize, t: &ImportTally) -> String {
    let mut parts = vec![format!("{} banned", t.banned)];
    if t.extended > 0 {
        parts.push(format!("{} extended", t.extended));
    }
    if t.kept > 0 {
        parts.push(format!("{} banned already for as long", t.kept));
    }
    if t.duplicates > 0 {
        parts.push(format!("{} listed twice", t.duplicates));
    }
    if !t.refused.is_empty() {
        parts.push(format!("{} refused:", t.refused.len()));
    }
    let how = if how.is_empty() {
        String::new()
    } else {
        format!(" {how}")
    };
    let noun = if entries == 1 { "entry" } else { "entries" };
    format!("{name} ({entries} {noun}){how}: {}", parts.join(", "))
}

pub fn export(global: &Global, args: ExportArgs) -> u8 {
    let bans = match bans_in_force(global, &args.socket) {
        Ok(b) => b,
        Err(code) => return code,
    };
    match args.format {
        Format::Json => print_json(&super::with_times(&bans, &["banned_at", "expires_at"])),
        Format::Plain => {
            let mut out = format!(
                "# authban export: {} bans in force at {}\n",
                bans.len(),
                jiff::Timestamp::now()
                    .round(jiff::Unit::Second)
                    .unwrap_or_default()
            );
            for b in &bans {
                out.push_str(&b.addr);
                out.push('\n');
            }
            super::super::print_bytes(out.as_bytes(), "the export")
        }
        Format::Nft => match nft_script(global, &bans) {
            Ok(script) => super::super::print_bytes(script.as_bytes(), "the export"),
            Err(code) => code,
        },
    }
}

fn nft_script(global: &Global, bans: &[BanInfo]) -> Result<String, u8> {
    let config = super::super::load_config(global)?;
    let now = crate::host::now_s();
    let mut orders = Vec::with_capacity(bans.len());
    for b in bans {
        let target: Cidr = b.addr.parse().map_err(|e| {
            eprintln!("authban: a ban in force names {:?}: {e}", b.addr);
            exit::PROTOCOL
        })?;
        orders.push(crate::ban::BanOrder {
            target,
            expires_at: b.expires_at,
        });
    }
    Ok(format!(
        "#!/usr/sbin/nft -f\n# authban export: {} bans in force at {}; load with `nft -f FILE`\n{}",
        bans.len(),
        jiff::Timestamp::from_second(now).unwrap_or_default(),
        crate::ban::nftables::ruleset_script("authban_export", &config.ban.ports, &orders, now)
    ))
}
