//! Writes a realistic auth log to stdout, for benchmarks and trials:
//!
//! ```text
//! cargo run --release --example gen_authlog -- [LINES] [ATTACKERS] [rfc3164|rfc3339|mixed] > auth.log
//! ```
//! Defaults: 1,000,000 lines, 40,000 attacker addresses, mixed envelopes (half the file
//! each, as after Debian 12's switch of rsyslog's timestamp format).

mod logmix;

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let attackers: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(40_000);
    let mode = args.get(2).map(String::as_str).unwrap_or("mixed");
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    match mode {
        "rfc3164" => {
            logmix::generate(&mut out, lines, attackers, logmix::Envelope::Rfc3164, 1)?;
        }
        "rfc3339" => {
            logmix::generate(&mut out, lines, attackers, logmix::Envelope::Rfc3339, 1)?;
        }
        _ => {
            logmix::generate(&mut out, lines / 2, attackers, logmix::Envelope::Rfc3164, 1)?;
            logmix::generate(
                &mut out,
                lines - lines / 2,
                attackers,
                logmix::Envelope::Rfc3339,
                2,
            )?;
        }
    }
    out.flush()
}
