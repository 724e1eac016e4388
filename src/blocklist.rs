//! blocklist: the lists of addresses and networks `authban import` reads, written as public
//! blocklists are (Spamhaus DROP, FireHOL's netsets, a plain list, `authban export`): one
//! address or network per line, anything after `#` or `;` a comment, blank lines ignored.
//!
//! A list is downloaded from elsewhere and may be anything: cut short, an HTML error page,
//! binary. Every line is checked before any entry is used, and a line that is not an entry
//! is named with its number, so a broken download imports nothing (unless the caller
//! chooses to skip such lines). Entries wider than any real list holds (an IPv4 network
//! shorter than /8, an IPv6 one shorter than /16) are refused the same way: such a line is
//! a mistake or an attack on the importer, and `authban ban` remains for the admin who
//! means it.

use std::fmt;
use std::str::FromStr;

use crate::addr::Cidr;

/// The most entries one list may hold: ten times the largest public lists (FireHOL's
/// level 1 is about 4,500 lines, Spamhaus DROP about 1,500, blocklist.de's all.txt about
/// 30,000), and what an nftables set takes in a few seconds.
pub const MAX_ENTRIES: usize = 1_000_000;

/// The longest line read as an entry: an IPv6 network with a comment fits many times.
const MAX_LINE: usize = 4096;

/// A line that is not an entry: its number (1-based) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub why: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// What a list holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The entries, in the list's order (duplicates kept: the importer counts them).
    pub entries: Vec<Cidr>,
    /// The lines that are not entries, in order.
    pub bad: Vec<BadLine>,
    /// Whether the list holds more than [`MAX_ENTRIES`]; those after it were not read.
    pub too_many: bool,
}

/// Reads a blocklist.
pub fn parse(bytes: &[u8]) -> Parsed {
    parse_at_most(bytes, MAX_ENTRIES)
}

fn parse_at_most(bytes: &[u8], max: usize) -> Parsed {
    let mut out = Parsed::default();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match raw.iter().position(|&b| b == b'#' || b == b';') {
            Some(at) => &raw[..at],
            None => raw,
        };
        let text = text.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match entry(text) {
            Ok(_) if out.entries.len() == max => {
                out.too_many = true;
                break;
            }
            Ok(target) => out.entries.push(target),
            Err(why) => out.bad.push(BadLine { line, why }),
        }
    }
    out
}

fn entry(text: &[u8]) -> Result<Cidr, String> {
    if text.len() > MAX_LINE {
        return Err(format!("{} bytes: not an address or network", text.len()));
    }
    let Ok(s) = std::str::from_utf8(text) else {
        return Err(format!("{}: not UTF-8 text", quoted(text)));
    };
    let target =
        Cidr::from_str(s).map_err(|_| format!("{}: not an address or network", quoted(text)))?;
    if let Some(min) = target.wider_than_outside_bans() {
        return Err(format!(
            "{target} is wider than /{min}, wider than any blocklist entry; ban it by hand \
             (`authban ban {target}`) if that is meant"
        ));
    }
    Ok(target)
}

/// `bytes` as a quoted string for a message: every byte but printable ASCII escaped (a
/// list may hold terminal escapes), cut at 60 bytes.
fn quoted(bytes: &[u8]) -> String {
    let mut out: String = bytes
        .iter()
        .take(60)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > 60 {
        out.push('…');
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn reads_drop_netsets_and_plain_lists_with_their_comments() {
        let list = b"; Spamhaus DROP List 2026/12/07 - (c) 2026 The Spamhaus Project\r\n\
            ; Last-Modified: Mon, 07 Dec 2026 10:00:00 GMT\r\n\
            192.0.2.0/24 ; SBL000001\r\n\
            # FireHOL style\n\
            198.51.100.7\n\
            \n\
            \t203.0.113.0/25   # a comment after tabs\n\
            2001:db8::/32;no space before the comment\n\
            2001:db8:1::9\n\
            198.51.100.7\n";
        let parsed = parse(list);
        assert_eq!(parsed.bad, []);
        assert_eq!(
            parsed.entries,
            cidrs(&[
                "192.0.2.0/24",
                "198.51.100.7",
                "203.0.113.0/25",
                "2001:db8::/32",
                "2001:db8:1::9",
                "198.51.100.7",
            ])
        );
        assert!(!parsed.too_many);
    }

    /// What a broken download looks like: each line named, escaped, cut; nothing taken
    /// for an entry that is not one.
    #[test]
    fn names_every_line_that_is_not_an_entry() {
        let mut list = b"<html><body>503 Service Unavailable</body></html>\n\
            192.0.2.1\n\
            0.0.0.0/0\n\
            10.0.0.0/7\n\
            2001::/15\n\
            \x1b[31mred\n\
            192.0.2.300\n"
            .to_vec();
        list.extend_from_slice(b"\xff\xfe\n");
        list.extend_from_slice(&[b'9'; 5000]);
        let parsed = parse(&list);
        assert_eq!(parsed.entries, cidrs(&["192.0.2.1"]));
        let said: Vec<String> = parsed.bad.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "line 1: \"<html><body>503 Service Unavailable</body></html>\": not an address or network",
                "line 3: 0.0.0.0/0 is wider than /8, wider than any blocklist entry; ban it by hand (`authban ban 0.0.0.0/0`) if that is meant",
                "line 4: 10.0.0.0/7 is wider than /8, wider than any blocklist entry; ban it by hand (`authban ban 10.0.0.0/7`) if that is meant",
                "line 5: 2000::/15 is wider than /16, wider than any blocklist entry; ban it by hand (`authban ban 2000::/15`) if that is meant",
                "line 6: \"\\x1b[31mred\": not an address or network",
                "line 7: \"192.0.2.300\": not an address or network",
                "line 8: \"\\xff\\xfe\": not UTF-8 text",
                "line 9: 5000 bytes: not an address or network",
            ]
        );
    }

    #[test]
    fn a_list_longer_than_the_bound_is_said_to_be() {
        let list = b"192.0.2.1\n192.0.2.2\n192.0.2.3\n";
        let parsed = parse_at_most(list, 2);
        assert_eq!(parsed.entries, cidrs(&["192.0.2.1", "192.0.2.2"]));
        assert!(parsed.too_many);
        assert!(!parse_at_most(list, 3).too_many);
    }
}
