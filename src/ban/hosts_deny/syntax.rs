//! The text of hosts.deny, as bytes: which lines are authban's block, which foreign rules
//! already deny an address, and the new file text. Pure: no I/O, so every rule is tested on
//! byte strings.
//!
//! The parser follows libwrap (tcp_wrappers 7.6 with Debian's IPv6 patch) where that decides
//! whether an address is denied, and leans towards "not covered" wherever libwrap is unclear:
//! a foreign rule we misread as covering would leave an attacker unbanned, while one we misread
//! as not covering only costs a redundant line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::addr::{Cidr, parse_ip};

/// The first line of our block. The wording holds no hosts_access keyword (`ALL`, `EXCEPT`,
/// …), in case a foreign line ending in `\` ever joins it.
pub(super) const BEGIN: &[u8] =
    b"# authban: entries below are managed by authban; edit outside this block";
/// Appended to [`BEGIN`] when authban added the line break before the block (the file did not
/// end with one), so that removing the block can take it away again and give back the
/// original bytes.
const BREAK_ADDED: &[u8] = b" (authban added the line break before this line)";
pub(super) const END: &[u8] = b"# authban: end of managed entries";

/// libwrap reads lines into a 2048-byte buffer and skips longer ones ("line too long").
const LIBWRAP_MAX_LINE: usize = 2047;

/// What a hosts.deny client pattern denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covers {
    /// `ALL`: every address.
    All,
    /// An address (`203.0.113.5`, `[2001:db8::1]`) or a network (`192.0.2.0/24`,
    /// `192.0.2.0/255.255.255.0`, `192.0.2.`, `[2001:db8::]/32`).
    Net(Cidr),
}

impl Covers {
    pub fn contains(&self, addr: IpAddr) -> bool {
        match self {
            Covers::All => true,
            Covers::Net(net) => net.contains(addr),
        }
    }

    /// Whether every address of `target` is denied by this pattern.
    pub fn covers(&self, target: &Cidr) -> bool {
        match self {
            Covers::All => true,
            Covers::Net(net) => net.covers(target),
        }
    }
}

/// One pattern of the file that denies addresses to our daemons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    pub covers: Covers,
    /// 1-based line number where the rule starts.
    pub line: usize,
    /// Whether the rule lies inside authban's block.
    pub ours: bool,
}

/// The file split into what is ours and what is not.
#[derive(Debug)]
struct Layout {
    /// Physical lines (byte ranges including their `\n`), each with whether it is ours.
    lines: Vec<(Range<usize>, bool)>,
    /// Index of the first line of our first block.
    first_block: Option<usize>,
    /// The first block says authban added the line break before it.
    break_added: bool,
    /// Addresses and networks listed in our blocks, sorted, deduplicated.
    ours: Vec<Cidr>,
}

/// The outcome of [`plan`]: the new file text and what changed.
#[derive(Debug)]
pub(super) struct Plan {
    pub bytes: Vec<u8>,
    pub added: Vec<Cidr>,
    pub removed: Vec<Cidr>,
    pub already_denied: Vec<Cidr>,
    pub changed: bool,
}

/// Computes the file that makes our entries exactly `wanted` (sorted, deduplicated,
/// canonical) minus what foreign rules already deny, keeping every foreign byte.
pub(super) fn plan(old: &[u8], wanted: &[Cidr], daemons: &[String], prefix: &str) -> Plan {
    let layout = layout(old);
    let foreign: Vec<Logical> = rules(old, &layout).filter(|r| !r.ours).collect();
    let split = |count_unterminated: bool| -> (Vec<Cidr>, Vec<Cidr>) {
        let denials: Vec<Denial> = foreign
            .iter()
            .flat_map(|r| r.denials(daemons, count_unterminated))
            .collect();
        wanted
            .iter()
            .partition(|t| denials.iter().any(|d| d.covers.covers(t)))
    };
    let (mut already_denied, mut entries) = split(false);
    // libwrap ignores a last line without `\n`, but appending our block ends that line and
    // brings it to life. So when we append anyway, count it; unless counting it leaves
    // nothing to append, in which case the line stays dead and our entries are needed.
    let last_unterminated = foreign.last().is_some_and(|r| !r.terminated);
    if layout.first_block.is_none() && !entries.is_empty() && last_unterminated {
        let (denied, rest) = split(true);
        if !rest.is_empty() {
            (already_denied, entries) = (denied, rest);
        }
    }
    let added = entries
        .iter()
        .filter(|a| layout.ours.binary_search(a).is_err())
        .copied()
        .collect();
    let removed = layout
        .ours
        .iter()
        .filter(|a| entries.binary_search(a).is_err())
        .copied()
        .collect();
    let bytes = render(old, &layout, &entries, prefix);
    Plan {
        changed: bytes != old,
        bytes,
        added,
        removed,
        already_denied,
    }
}

/// Every pattern of the file that denies addresses to `daemons`, ours and foreign.
pub(super) fn denials(text: &[u8], daemons: &[String]) -> Vec<Denial> {
    let layout = layout(text);
    rules(text, &layout)
        .flat_map(|r| r.denials(daemons, false))
        .collect()
}

/// The entry line for one address or network: IPv6 in brackets, which libwrap needs (it
/// silently ignores a bare IPv6 address), as `[2001:db8:1:2::]/64` for a network; an IPv4
/// network as `net/mask`, the form every libwrap reads (the `/24` form needs a patch).
pub(super) fn entry(prefix: &str, target: Cidr) -> String {
    let net = target.net();
    match (net.addr(), target.is_host()) {
        (IpAddr::V4(v4), true) => format!("{prefix}: {v4}\n"),
        (IpAddr::V4(v4), false) => format!("{prefix}: {v4}/{}\n", net.netmask()),
        (IpAddr::V6(v6), true) => format!("{prefix}: [{v6}]\n"),
        (IpAddr::V6(v6), false) => format!("{prefix}: [{v6}]/{}\n", net.prefix_len()),
    }
}

fn render(old: &[u8], layout: &Layout, entries: &[Cidr], prefix: &str) -> Vec<u8> {
    let block_for = |break_added: bool, out: &mut Vec<u8>| {
        out.extend_from_slice(BEGIN);
        if break_added {
            out.extend_from_slice(BREAK_ADDED);
        }
        out.push(b'\n');
        for &a in entries {
            out.extend_from_slice(entry(prefix, a).as_bytes());
        }
        out.extend_from_slice(END);
        out.push(b'\n');
    };
    let mut out = Vec::with_capacity(old.len() + entries.len() * 32 + 160);
    let mut placed = false;
    for (i, (range, ours)) in layout.lines.iter().enumerate() {
        if Some(i) == layout.first_block && !entries.is_empty() {
            block_for(layout.break_added, &mut out);
            placed = true;
        }
        if !ours {
            out.extend_from_slice(&old[range.clone()]);
        }
    }
    if entries.is_empty() {
        // The block goes away; if it was last and authban had added the line break before
        // it, that break goes too, so the file is again byte for byte what it was.
        let block_was_last = layout
            .first_block
            .is_some_and(|first| layout.lines[first..].iter().all(|(_, ours)| *ours));
        if layout.break_added && block_was_last && out.last() == Some(&b'\n') {
            out.pop();
        }
    } else if !placed {
        // A line without `\n` must be ended before our block; so must a `\`
        // continuation, which would otherwise swallow our first line. (A file ending in `\`
        // with no newline still joins our marker comment to its last line: harmless words,
        // and telling that case apart on removal would need another marker.)
        let break_added = !out.is_empty() && (out.last() != Some(&b'\n') || out.ends_with(b"\\\n"));
        if break_added {
            out.push(b'\n');
        }
        block_for(break_added, &mut out);
    }
    out
}

fn physical_lines(text: &[u8]) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', text) {
        lines.push(start..nl + 1);
        start = nl + 1;
    }
    if start < text.len() {
        lines.push(start..text.len());
    }
    lines
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
        .map_or(0, |p| p + 1);
    &line[..end]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Begin { break_added: bool },
    End,
}

fn marker(line: &[u8]) -> Option<Marker> {
    let line = trim_end(line);
    if line == BEGIN {
        Some(Marker::Begin { break_added: false })
    } else if line.len() == BEGIN.len() + BREAK_ADDED.len()
        && line.starts_with(BEGIN)
        && line.ends_with(BREAK_ADDED)
    {
        Some(Marker::Begin { break_added: true })
    } else if line == END {
        Some(Marker::End)
    } else {
        None
    }
}

fn layout(text: &[u8]) -> Layout {
    let phys = physical_lines(text);
    let markers: Vec<Option<Marker>> = phys.iter().map(|r| marker(&text[r.clone()])).collect();
    let mut ours_flags = vec![false; phys.len()];
    let mut first_block = None;
    let mut break_added = false;
    let mut ours = Vec::new();
    let mut i = 0;
    while i < phys.len() {
        let Some(Marker::Begin { break_added: flag }) = markers[i] else {
            i += 1;
            continue;
        };
        if first_block.is_none() {
            first_block = Some(i);
            break_added = flag;
        }
        let closing = markers[i + 1..]
            .iter()
            .position(|m| m.is_some())
            .map(|p| i + 1 + p)
            .filter(|&j| markers[j] == Some(Marker::End));
        let end = match closing {
            Some(j) => j + 1,
            // The end marker was deleted by hand: claim only the lines that are exactly our
            // entries, so a foreign line appended after them is never taken for ours.
            None => {
                let mut j = i + 1;
                while j < phys.len()
                    && markers[j].is_none()
                    && own_entry(&text[phys[j].clone()]).is_some()
                {
                    j += 1;
                }
                j
            }
        };
        for j in i..end {
            ours_flags[j] = true;
            if let Some(addrs) = own_entry(&text[phys[j].clone()]) {
                ours.extend(addrs);
            }
        }
        i = end;
    }
    ours.sort();
    ours.dedup();
    Layout {
        lines: phys.into_iter().zip(ours_flags).collect(),
        first_block,
        break_added,
        ours,
    }
}

/// The addresses and networks of a line written in our own format (`DAEMONS: ADDR`), or
/// `None`.
fn own_entry(line: &[u8]) -> Option<Vec<Cidr>> {
    if !line.ends_with(b"\n") || line.ends_with(b"\\\n") {
        return None;
    }
    let rule = Rule::parse(line)?;
    if rule.options.is_some() || rule.except || rule.clients.is_empty() {
        return None;
    }
    if !rule
        .daemons
        .iter()
        .all(|d| super::is_valid_daemon(&String::from_utf8_lossy(d)))
    {
        return None;
    }
    rule.clients.iter().map(|c| own_target(c)).collect()
}

/// An address or network in a form libwrap matches (`ALL` is never one of ours).
fn own_target(token: &[u8]) -> Option<Cidr> {
    match pattern(token)? {
        Covers::Net(net) => Some(net),
        Covers::All => None,
    }
}

/// One logical line of the file (continuations joined).
#[derive(Debug)]
struct Logical {
    text: Vec<u8>,
    line: usize,
    ours: bool,
    /// libwrap skips a last line that lacks its `\n` ("missing newline").
    terminated: bool,
}

fn rules<'a>(text: &'a [u8], layout: &'a Layout) -> impl Iterator<Item = Logical> + 'a {
    let mut i = 0;
    std::iter::from_fn(move || {
        let (first, ours) = layout.lines.get(i)?.clone();
        let line = i + 1;
        let mut joined = Vec::new();
        let mut terminated;
        let mut range = first;
        loop {
            let chunk = &text[range.clone()];
            terminated = chunk.ends_with(b"\n");
            i += 1;
            if let Some(body) = chunk.strip_suffix(b"\\\n") {
                joined.extend_from_slice(body);
                match layout.lines.get(i) {
                    Some((next, _)) => range = next.clone(),
                    None => break,
                }
            } else {
                joined.extend_from_slice(chunk);
                break;
            }
        }
        Some(Logical {
            text: joined,
            line,
            ours,
            terminated,
        })
    })
}

impl Logical {
    /// `count_unterminated`: treat a last line without `\n` as libwrap will once
    /// something is appended after it.
    fn denials(&self, daemons: &[String], count_unterminated: bool) -> Vec<Denial> {
        if !(self.terminated || count_unterminated) || self.text.len() > LIBWRAP_MAX_LINE {
            return Vec::new();
        }
        let Some(rule) = Rule::parse(&self.text) else {
            return Vec::new();
        };
        if rule.except || !rule.serves(daemons) || rule.options_allow() {
            return Vec::new();
        }
        rule.clients
            .iter()
            .filter_map(|c| pattern(c))
            .map(|covers| Denial {
                covers,
                line: self.line,
                ours: self.ours,
            })
            .collect()
    }
}

/// `daemon_list : client_list [ : options ]` of one logical line.
#[derive(Debug)]
struct Rule<'a> {
    daemons: Vec<&'a [u8]>,
    clients: Vec<&'a [u8]>,
    options: Option<&'a [u8]>,
    except: bool,
}

fn is_sep(b: u8) -> bool {
    matches!(b, b',' | b' ' | b'\t' | b'\r' | b'\n')
}

fn tokens(list: &[u8]) -> Vec<&[u8]> {
    list.split(|&b| is_sep(b))
        .filter(|t| !t.is_empty())
        .collect()
}

/// The position of the first `:` outside `[...]` (IPv6 patterns hold colons).
fn split_colon(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut depth = 0u32;
    for (i, &b) in text.iter().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b':' if depth == 0 => return Some((&text[..i], &text[i + 1..])),
            _ => {}
        }
    }
    None
}

impl<'a> Rule<'a> {
    fn parse(text: &'a [u8]) -> Option<Rule<'a>> {
        let start = text.iter().position(|&b| !is_sep(b))?;
        // libwrap only treats `#` in the first column as a comment; an indented `#` is
        // counted as a comment here too, which can only make us add a redundant line.
        if text[start] == b'#' {
            return None;
        }
        let (daemons, rest) = split_colon(text)?;
        let (clients, options) = match split_colon(rest) {
            Some((c, o)) => (c, Some(o)),
            None => (rest, None),
        };
        let daemons = tokens(daemons);
        let mut clients = tokens(clients);
        let except = daemons
            .iter()
            .chain(&clients)
            .any(|t| t.eq_ignore_ascii_case(b"EXCEPT"));
        // Some libwrap builds end the line at a `#`, others read on: only patterns before
        // it count for sure (EXCEPT counts wherever it is, above).
        if let Some(hash) = clients.iter().position(|t| t.contains(&b'#')) {
            clients.truncate(hash);
        }
        Some(Rule {
            daemons,
            clients,
            options,
            except,
        })
    }

    /// Whether the rule applies to every one of our daemons: it names `ALL` or each of them.
    /// A rule naming only some of them would leave the others open.
    fn serves(&self, ours: &[String]) -> bool {
        if self.daemons.iter().any(|d| d.eq_ignore_ascii_case(b"ALL")) {
            return true;
        }
        !ours.is_empty()
            && ours.iter().all(|o| {
                self.daemons
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(o.as_bytes()))
            })
    }

    /// With libwrap's option language an `allow` option turns a hosts.deny rule into a grant.
    fn options_allow(&self) -> bool {
        self.options.is_some_and(|o| {
            o.split(|&b| b == b':').any(|opt| {
                trim_end(opt)
                    .trim_ascii_start()
                    .eq_ignore_ascii_case(b"allow")
            })
        })
    }
}

/// What one client pattern denies, if it is one of the address forms libwrap matches against
/// the client address. Host names, `.domain`, `@netgroup`, `LOCAL`, `KNOWN`, wildcards and
/// file references never count.
fn pattern(token: &[u8]) -> Option<Covers> {
    if token.eq_ignore_ascii_case(b"ALL") {
        return Some(Covers::All);
    }
    if let Some(rest) = token.strip_prefix(b"[") {
        let close = memchr::memchr(b']', rest)?;
        let text = std::str::from_utf8(&rest[..close]).ok()?;
        let v6: Ipv6Addr = text.parse().ok()?;
        // An IPv4 client reaches libwrap as AF_INET and never matches a bracketed pattern.
        if v6.to_ipv4_mapped().is_some() {
            return None;
        }
        let prefix = match &rest[close + 1..] {
            b"" => 128,
            suffix => decimal(suffix.strip_prefix(b"/")?, 128)?,
        };
        return network(IpAddr::V6(v6), prefix);
    }
    if memchr::memchr(b':', token).is_some() {
        // A bare IPv6 address: libwrap ignores it.
        return None;
    }
    if let Some(stem) = token.strip_suffix(b".") {
        // `192.0.2.` matches by string prefix, so only canonical octets can ever match.
        let octets: Vec<u8> = stem
            .split(|&b| b == b'.')
            .map(|o| decimal(o, 255))
            .collect::<Option<_>>()?;
        if octets.is_empty() || octets.len() > 3 {
            return None;
        }
        let mut full = [0u8; 4];
        full[..octets.len()].copy_from_slice(&octets);
        return network(IpAddr::from(full), octets.len() as u8 * 8);
    }
    if let Some(slash) = memchr::memchr(b'/', token) {
        let IpAddr::V4(net) = parse_ip(&token[..slash])? else {
            return None;
        };
        let mask = &token[slash + 1..];
        let prefix = if memchr::memchr(b'.', mask).is_some() {
            let mask: Ipv4Addr = std::str::from_utf8(mask).ok()?.parse().ok()?;
            let bits = u32::from(mask);
            // A non-contiguous mask is legal for libwrap but no CIDR; leave it uncovered.
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return None;
            }
            bits.leading_ones() as u8
        } else {
            decimal(mask, 32)?
        };
        return network(IpAddr::V4(net), prefix);
    }
    match parse_ip(token)? {
        v4 @ IpAddr::V4(_) => network(v4, 32),
        IpAddr::V6(_) => None,
    }
}

/// A canonical decimal number up to `max` (no sign, no leading zero).
fn decimal(text: &[u8], max: u8) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || (text.len() > 1 && text[0] == b'0') {
        return None;
    }
    if !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u32 = std::str::from_utf8(text).ok()?.parse().ok()?;
    u8::try_from(n).ok().filter(|&n| n <= max)
}

/// The network, unless the address has bits set outside the prefix: libwrap compares
/// `addr & mask == net`, which such a pattern never satisfies.
fn network(addr: IpAddr, prefix: u8) -> Option<Covers> {
    let net = ipnet::IpNet::new(addr, prefix).ok()?;
    if net.trunc().addr() != addr {
        return None;
    }
    let cidr: Cidr = net.to_string().parse().ok()?;
    Some(Covers::Net(cidr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn covers(token: &str, addr: &str) -> bool {
        pattern(token.as_bytes()).is_some_and(|c| c.contains(ip(addr)))
    }

    #[test]
    fn client_patterns_cover_what_libwrap_matches() {
        assert!(covers("203.0.113.5", "203.0.113.5"));
        assert!(!covers("203.0.113.5", "203.0.113.6"));
        assert!(covers("ALL", "2001:db8::1"));
        assert!(covers("all", "192.0.2.1"));
        assert!(covers("[2001:db8::1]", "2001:db8::1"));
        assert!(covers("[2001:DB8:0::1]", "2001:db8::1"));
        assert!(covers("[2001:db8::]/32", "2001:db8:ffff::1"));
        assert!(!covers("[2001:db8::]/32", "2001:db9::1"));
        assert!(covers("192.0.2.0/24", "192.0.2.77"));
        assert!(covers("192.0.2.0/255.255.255.0", "192.0.2.77"));
        assert!(covers("192.0.2.", "192.0.2.77"));
        assert!(covers("10.", "10.9.8.7"));
        assert!(!covers("192.0.2.", "192.0.20.1"));
        // Forms libwrap does not match against an address.
        for never in [
            "2001:db8::1",           // bare IPv6: ignored by libwrap
            "[::ffff:192.0.2.1]",    // IPv4 clients never match bracketed patterns
            "192.0.2.5/24",          // host bits set: addr & mask never equals it
            "192.0.2.0/255.0.255.0", // non-contiguous mask
            "192.0.2.05",
            "192.0.2",
            "host.example.net",
            ".example.net",
            "@netgroup",
            "LOCAL",
            "KNOWN",
            "192.0.2.*",
            "/etc/banned",
            "1.2.3.4.",
            "192.0.2.0/33",
        ] {
            assert_eq!(pattern(never.as_bytes()), None, "{never}");
        }
    }

    fn denied(text: &str, daemons: &[&str]) -> Vec<Covers> {
        let daemons: Vec<String> = daemons.iter().map(|d| d.to_string()).collect();
        denials(text.as_bytes(), &daemons)
            .into_iter()
            .map(|d| d.covers)
            .collect()
    }

    #[test]
    fn rule_parsing_follows_hosts_access() {
        let net = |s: &str| Covers::Net(s.parse().unwrap());
        assert_eq!(denied("ALL: 192.0.2.1\n", &["ALL"]), [net("192.0.2.1")]);
        assert_eq!(denied("ALL : 192.0.2.1\n", &["sshd"]), [net("192.0.2.1")]);
        assert_eq!(
            denied("sshd: 192.0.2.1, 192.0.2.2\n", &["sshd"]),
            [net("192.0.2.1"), net("192.0.2.2")]
        );
        assert_eq!(
            denied("SSHD,sshd-session: 192.0.2.1\n", &["sshd", "sshd-session"]),
            [net("192.0.2.1")]
        );
        assert_eq!(
            denied("sshd: [2001:db8::1] : spawn /bin/true\n", &["sshd"]),
            [net("2001:db8::1")]
        );
        // A rule for another daemon, or for only part of ours, leaves ours open.
        assert!(denied("vsftpd: 192.0.2.1\n", &["sshd"]).is_empty());
        assert!(denied("sshd: 192.0.2.1\n", &["ALL"]).is_empty());
        assert!(denied("sshd: 192.0.2.1\n", &["sshd", "sshd-session"]).is_empty());
        // EXCEPT anywhere, an allow option, comments, no colon, no final newline.
        assert!(denied("ALL: 192.0.2.0/24 EXCEPT 192.0.2.9\n", &["sshd"]).is_empty());
        assert!(denied("ALL EXCEPT vsftpd: 192.0.2.1\n", &["sshd"]).is_empty());
        assert!(denied("sshd: 192.0.2.1 : ALLOW\n", &["sshd"]).is_empty());
        assert!(denied("# sshd: 192.0.2.1\n", &["sshd"]).is_empty());
        assert!(denied("  # sshd: 192.0.2.1\n", &["sshd"]).is_empty());
        assert!(denied("sshd 192.0.2.1\n", &["sshd"]).is_empty());
        assert!(denied("sshd: 192.0.2.1", &["sshd"]).is_empty());
        // Continuations join lines; CRLF is whitespace to libwrap.
        assert_eq!(
            denied("sshd: 192.0.2.1, \\\n 192.0.2.2\r\n", &["sshd"]),
            [net("192.0.2.1"), net("192.0.2.2")]
        );
        // A line longer than libwrap's buffer is skipped by libwrap.
        let long = format!("sshd: {} 192.0.2.1\n", "x".repeat(3000));
        assert!(denied(&long, &["sshd"]).is_empty());
    }

    #[test]
    fn denials_say_where_and_whose() {
        let text = format!(
            "# comment\nsshd: 192.0.2.1\n{}\nALL: 198.51.100.1\n{}\n",
            String::from_utf8_lossy(BEGIN),
            String::from_utf8_lossy(END)
        );
        let d = denials(text.as_bytes(), &["sshd".to_string()]);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].line, d[0].ours), (2, false));
        assert_eq!((d[1].line, d[1].ours), (4, true));
    }

    #[test]
    fn block_without_end_claims_only_our_entry_lines() {
        let text = format!(
            "{}\nALL: 192.0.2.1\nALL: [2001:db8::1]\nsshd: host.example.net\nALL: 192.0.2.2\n",
            String::from_utf8_lossy(BEGIN)
        );
        let l = layout(text.as_bytes());
        let ours: Vec<bool> = l.lines.iter().map(|(_, o)| *o).collect();
        assert_eq!(ours, [true, true, true, false, false]);
        assert_eq!(
            l.ours,
            [Cidr::host(ip("192.0.2.1")), Cidr::host(ip("2001:db8::1"))]
        );
    }
}
