//! sshd messages: one message body (what follows `sshd[pid]: `) to the fields of an event,
//! for every failure, probe and success shape of OpenSSH 5.0–10.5 that names an address
//! (openssh-messages.md §2, ids M01–M69 below).
//!
//! The address is the whole point, and the attacker writes part of every line. So each shape
//! takes its address at the place its format string puts it (§4.2), never from the first
//! ` from `:
//! - shapes with client text *before* the address (invalid user names, the `remote_id`
//!   preamble, the banner of `Bad protocol version`) are read from the **end** of the
//!   message, after removing exactly one ` [preauth]`/` [postauth]`;
//! - shapes with client text only *after* the address (`Received disconnect from A …: text`,
//!   `Unable to negotiate with A …`, `probed from A … with V`, a valid user's
//!   `Failed … ssh2: <info>`) are read from the **start**, right after the fixed prefix;
//! - a body of 500 bytes or more was cut by sshd's `syslog(…, "%.500s", …)` (§4.5): its end
//!   may be text the attacker chose, so end-anchored shapes yield nothing from it.
//!
//! Every address token must be a complete IP literal ([`crate::addr::parse_ip`]); a host
//! name (UseDNS) is never banned nor mined for an address. The attempts that sshd and PAM
//! log without an address, or with a host name, are reported as [`Origin::SameProcess`]:
//! M06 and M10 (too many authentication failures) and M24, M25, M27 (PAM) with a host
//! name. The parser takes their address from an earlier line of the same sshd process, or
//! drops them. Other address-less lines (M13, M15, M19, M20, M26, M45, M46, M49, M53) add
//! nothing a line with the address does not already count, and give nothing.

use std::net::IpAddr;
use std::sync::LazyLock;

use memchr::memmem::{Finder, FinderRev};
use memchr::{memchr, memrchr};

use crate::addr::parse_ip;
use crate::bytes::{decimal, find_byte, rfind_byte};
use crate::event::{Kind, Method, Msg};

/// sshd's syslog cut (`"%.500s"` over prefix + text + suffix). `-E` files cut at about
/// 1021 bytes; we apply the lower limit to every line, which only costs events from genuine
/// lines that long (user names of 100 heavily escaped bytes).
pub const TRUNCATED_AT: usize = 500;

// Substring searchers, built once: `memmem::find` and friends build a searcher per call,
// which on a ~100-byte message costs more than the search.
static PORT_REV: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(b" port "));
static BRACKET_PORT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"]:"));
static OPEN_PAREN_REV: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(b" ("));

/// Every reason that may follow a `Disconnecting <remote_id>`, with whether it must end the
/// line (see [`disconnecting`]).
const REASONS: [(&[u8], bool); 4] = [
    (b": Too many authentication failures", true),
    (b": no authentication methods enabled", true),
    (b": Change of username or service not allowed: (", false),
    (b": bad service request ", false),
];

/// What one sshd message says. Borrows the user name from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: Kind,
    pub msg: Msg,
    pub addr: Origin,
    pub port: Option<u16>,
    pub user: Option<&'a [u8]>,
    pub method: Option<Method>,
}

/// Where the address of a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// At the place the message's format puts it.
    Named(IpAddr),
    /// Nowhere in the message (or a host name, which we never ban): on another line of the
    /// same sshd process, which the parser remembers (see [`super::Parser`]). `or_parent`:
    /// the line may come from a ≤ 5.8 pre-auth child, whose pid is the monitor's + 1.
    SameProcess { or_parent: bool },
    /// 6.7's `Disconnecting: Too many authentication failures for U from A port N ssh2`
    /// names A, but ≤ 6.6 writes `… for U` with the user name last, so a user name such as
    /// `x from 192.0.2.7 port 22 ssh2` makes the same line: the address the same process
    /// named before wins over this one.
    Doubtful(IpAddr),
}

/// Which process logged the line, as told by the suffix the monitor adds (§1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    /// No suffix: the monitor's own line, a ≤5.8 child, the listener, or a cut line.
    Plain,
    Preauth,
    Postauth,
}

#[derive(Debug, Clone, Copy)]
struct Ctx {
    suffix: Suffix,
    truncated: bool,
}

/// The user preamble of `remote_id` (7.5+): `authenticating user U `, `invalid user U `,
/// `user U ` (after authentication), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Preamble<'a> {
    None,
    Authenticating(&'a [u8]),
    Invalid(&'a [u8]),
    User(&'a [u8]),
}

impl<'a> Preamble<'a> {
    /// The kind of the disconnect family (M31–M35): who the connection was trying to be.
    fn kind(self) -> Kind {
        match self {
            Preamble::Invalid(_) => Kind::InvalidUser,
            Preamble::Authenticating(_) => Kind::AuthFailure,
            Preamble::None | Preamble::User(_) => Kind::Probe,
        }
    }

    fn user(self) -> Option<&'a [u8]> {
        match self {
            Preamble::None => None,
            Preamble::Authenticating(u) | Preamble::Invalid(u) | Preamble::User(u) => Some(u),
        }
    }
}

/// Parses one sshd message body (the text after the tag, with any `error: ` prefix and
/// suffix still on). `None`: not an event we count.
pub fn parse_message(body: &[u8]) -> Option<Message<'_>> {
    let truncated = body.len() >= TRUNCATED_AT;
    // The first and last bytes decide cheaply whether a prefix or suffix can be there.
    let text = match body.first() {
        Some(b'e') => body.strip_prefix(b"error: ").unwrap_or(body),
        Some(b'f') => body.strip_prefix(b"fatal: ").unwrap_or(body),
        _ => body,
    };
    let (text, suffix) = if text.last() != Some(&b']') {
        (text, Suffix::Plain)
    } else if let Some(t) = text.strip_suffix(b" [preauth]") {
        (t, Suffix::Preauth)
    } else if let Some(t) = text.strip_suffix(b" [postauth]") {
        (t, Suffix::Postauth)
    } else {
        (text, Suffix::Plain)
    };
    let ctx = Ctx { suffix, truncated };
    match *text.first()? {
        b'F' => auth_outcome(text.strip_prefix(b"Failed ")?, false, ctx),
        b'A' => auth_outcome(text.strip_prefix(b"Accepted ")?, true, ctx),
        b'I' => invalid_user(text, ctx),
        b'm' => max_auth_tries(text, ctx),
        b'D' => d_family(text, ctx),
        b'C' => c_family(text, ctx),
        b'R' => r_family(text, ctx),
        b'P' => p_family(text, ctx),
        b'U' => u_family(text),
        b'a' => prohibited(text, ctx),
        b'p' => {
            if let Some(rest) = text.strip_prefix(b"pam_unix(") {
                pam_unix(rest)
            } else {
                scanned(text.strip_prefix(b"probed from ")?)
            }
        }
        b's' => {
            if let Some(rest) = text.strip_prefix(b"scanned from ") {
                scanned(rest)
            } else if let Some(rest) = text.strip_prefix(b"ssh_dispatch_run_fatal: ") {
                // Post-auth dispatch errors carry no suffix (or `user U`): not an attack.
                if ctx.suffix != Suffix::Preauth {
                    return None;
                }
                transport_error(rest, Msg::DispatchFatal, ctx)
            } else {
                penalty(text.strip_prefix(b"srclimit_penalise: ")?)
            }
        }
        b'b' => {
            // 8.3–10.2 log it without a suffix, 10.3+ with `[preauth]`; always before auth.
            if ctx.suffix == Suffix::Postauth {
                return None;
            }
            transport_error(
                text.strip_prefix(b"banner exchange: ")?,
                Msg::BannerExchange,
                ctx,
            )
        }
        b'B' => bad_version(text, ctx),
        b'T' => grace_timeout(text.strip_prefix(b"Timeout before authentication for ")?),
        b'd' => drop_connection(text.strip_prefix(b"drop connection #")?),
        b'S' => session_crash(text.strip_prefix(b"Session process ")?),
        b'r' => refused_connect(text.strip_prefix(b"refused connect from ")?),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Small scanners

/// A port as sshd prints it (`%d`): 1–5 digits, no leading zero, 1..=65535.
fn port(b: &[u8]) -> Option<u16> {
    if b.is_empty() || b.len() > 5 || b[0] == b'0' {
        return None;
    }
    u16::try_from(decimal(b)?).ok()
}

/// The last space. The words searched from the end are short, so a word-at-a-time backward
/// scan beats a vectorised search's setup; it stays linear on long lines.
fn last_space(b: &[u8]) -> Option<usize> {
    rfind_byte(b, b' ')
}

/// Splits at the last space: (before, after). No space: (None, all).
fn rsplit_space(b: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match last_space(b) {
        Some(sp) => (Some(&b[..sp]), &b[sp + 1..]),
        None => (None, b),
    }
}

/// Splits at the first space: (before, after-the-space). No space: (all, None).
fn split_space(b: &[u8]) -> (&[u8], Option<&[u8]>) {
    match find_byte(b, b' ') {
        Some(sp) => (&b[..sp], Some(&b[sp + 1..])),
        None => (b, None),
    }
}

/// `s` ends with ` port <N>`: the text before and N. Digits hold no space, so this is the
/// last word and the five bytes before it: no search, whatever the length of `s`.
fn tail_port(s: &[u8]) -> Option<(&[u8], u16)> {
    // The digits and their value in one backward pass; a sixth digit refuses, as does any
    // other byte than the space before them.
    let mut i = s.len();
    let mut value: u32 = 0;
    let mut scale: u32 = 1;
    while i > 0 && s.len() - i < 6 {
        let d = s[i - 1].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value += u32::from(d) * scale;
        scale *= 10;
        i -= 1;
    }
    let digits = s.len() - i;
    if digits == 0 || digits > 5 || s[i] == b'0' || i == 0 || s[i - 1] != b' ' {
        return None;
    }
    let p = u16::try_from(value).ok()?;
    Some((s[..i - 1].strip_suffix(b" port")?, p))
}

/// `s` is exactly `A` or `A port N`.
fn exact_addr(s: &[u8]) -> Option<(IpAddr, Option<u16>)> {
    match tail_port(s) {
        Some((a, p)) => Some((parse_ip(a)?, Some(p))),
        None => Some((parse_ip(s)?, None)),
    }
}

/// `s` ends with ` from A port N` or ` from A` (F / F- of the catalogue): the text before
/// ` from ` (the user, possibly empty), the address and the port. The last such tail is the
/// genuine one because sshd writes it after every client-chosen field.
fn from_tail(s: &[u8]) -> Option<(&[u8], IpAddr, Option<u16>)> {
    let (rest, port) = match tail_port(s) {
        Some((rest, p)) => (rest, Some(p)),
        None => (s, None),
    };
    let (head, token) = rsplit_space(rest);
    let addr = parse_ip(token)?;
    // `head` ends in "from"; what precedes that word's space is the user (maybe empty).
    let head = head?.strip_suffix(b"from")?;
    let user = head.strip_suffix(b" ")?;
    Some((user, addr, port))
}

/// `s` is a `remote_id`, read from its end: `[preamble]A port N` (7.2+) or `A` (≤7.1).
fn remote_id(s: &[u8]) -> Option<(Preamble<'_>, IpAddr, Option<u16>)> {
    let Some((rest, p)) = tail_port(s) else {
        // ≤7.1: the bare address, never with a preamble.
        return Some((Preamble::None, parse_ip(s)?, None));
    };
    let (head, token) = rsplit_space(rest);
    let addr = parse_ip(token)?;
    let pre = match head {
        None => Preamble::None,
        // The preamble is `authenticating user U ` (U may be empty, leaving two spaces), so
        // `h` is the preamble minus its final space.
        Some(h) => {
            if let Some(u) = h.strip_prefix(b"authenticating user ") {
                Preamble::Authenticating(u)
            } else if let Some(u) = h.strip_prefix(b"invalid user ") {
                Preamble::Invalid(u)
            } else if let Some(u) = h.strip_prefix(b"user ") {
                Preamble::User(u)
            } else {
                return None;
            }
        }
    };
    Some((pre, addr, Some(p)))
}

// ---------------------------------------------------------------------------------------
// 2.1 Authentication outcomes: M01–M05, M07–M09

/// `Failed|Accepted <method> for [invalid user ]U from A port N ssh2[: info]`, also the
/// ≤6.1 forms (`ssh1`, nothing after the port), a missing port, and Solaris's
/// `<invalid username>`. `Postponed`/`Partial` start with other letters and give nothing.
/// `rest` follows `Failed ` or (`success`) `Accepted `: the verb is stripped by the caller,
/// where it is a constant (a compare of a length known only here would call `memcmp`).
fn auth_outcome(rest: &[u8], success: bool, ctx: Ctx) -> Option<Message<'_>> {
    let (method, rest) = split_space(rest);
    let rest = rest?.strip_prefix(b"for ")?;
    let method = Some(Method::from_token(method));
    let kind_for = |invalid: bool| match (success, invalid) {
        (true, _) => Kind::Success,
        (false, true) => Kind::InvalidUser,
        (false, false) => Kind::AuthFailure,
    };
    let msg = if success { Msg::Accepted } else { Msg::Failed };

    // OpenSSH before 3.9 wrote `illegal user`.
    if let Some(u) = rest
        .strip_prefix(b"invalid user ")
        .or_else(|| rest.strip_prefix(b"illegal user "))
    {
        // The user is the client's: read from the end. A `: info` tail is accepted only in the
        // one shape sshd alone writes (`ssh2: TYPE FINGERPRINT`); a certificate's or a
        // hostbased tail carries client text and more words, and such lines give nothing.
        if ctx.truncated {
            return None;
        }
        let t = strip_key_info(u);
        let t = t
            .strip_suffix(b" ssh2")
            .or_else(|| t.strip_suffix(b" ssh1"))
            .unwrap_or(t);
        let (user, addr, port) = from_tail(t)?;
        return Some(Message {
            kind: kind_for(true),
            msg,
            addr: Origin::Named(addr),
            port,
            user: Some(user),
            method,
        });
    }

    // A valid account (sshd resolved it with getpwnam), so the user has no client text; the
    // client's text (certificate ID, hostbased client user/host) follows the address, so we
    // take the first ` from A port N` right after the user word.
    let (user, after) = if let Some(after) = rest.strip_prefix(b"<invalid username>") {
        (None, after)
    } else {
        let sp = find_byte(rest, b' ')?;
        (Some(&rest[..sp]), &rest[sp..])
    };
    let after = after.strip_prefix(b" from ")?;
    let (token, tail) = split_space(after);
    let addr = parse_ip(token)?;
    let port = match tail {
        None => {
            // A bare `from A` at the end: only trustworthy when the line was not cut.
            if ctx.truncated {
                return None;
            }
            None
        }
        Some(tail) => {
            let tail = tail.strip_prefix(b"port ")?;
            let end = tail
                .iter()
                .position(|&c| c == b' ' || c == b':')
                .unwrap_or(tail.len());
            let after_port = &tail[end..];
            let ok = after_port.is_empty() && !ctx.truncated
                || [&b" ssh2"[..], b" ssh1"].iter().any(|p| {
                    after_port == *p
                        || after_port
                            .strip_prefix(*p)
                            .is_some_and(|r| r.starts_with(b": "))
                });
            if !ok {
                return None;
            }
            Some(port(&tail[..end])?)
        }
    };
    Some(Message {
        kind: kind_for(user.is_none()),
        msg,
        addr: Origin::Named(addr),
        port,
        user,
        method,
    })
}

/// Removes a `: TYPE FINGERPRINT` tail (`ssh2: RSA SHA256:…`, `ssh2: ECDSA 0e:ff:…`) when the
/// line ends with exactly that: two words, an upper-case key type and a fingerprint.
fn strip_key_info(t: &[u8]) -> &[u8] {
    let (Some(h1), fp) = rsplit_space(t) else {
        return t;
    };
    let (Some(h2), ty) = rsplit_space(h1) else {
        return t;
    };
    let type_ok = !ty.is_empty()
        && ty
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-');
    match h2.strip_suffix(b":") {
        Some(h)
            if type_ok && !fp.is_empty() && (h.ends_with(b" ssh2") || h.ends_with(b" ssh1")) =>
        {
            h
        }
        _ => t,
    }
}

/// `[invalid user ]U from A port N ssh2` (the tail of M07–M09): kind, user, address, port.
fn user_from_tail(s: &[u8], ctx: Ctx) -> Option<(Kind, &[u8], IpAddr, Option<u16>)> {
    if ctx.truncated {
        return None;
    }
    let t = s
        .strip_suffix(b" ssh2")
        .or_else(|| s.strip_suffix(b" ssh1"))?;
    let (head, addr, port) = from_tail(t)?;
    port?;
    Some(match head.strip_prefix(b"invalid user ") {
        Some(u) => (Kind::InvalidUser, u, addr, port),
        None => (Kind::AuthFailure, head, addr, port),
    })
}

/// M08/M09 `maximum authentication attempts exceeded for [invalid user ]U from A port N ssh2`.
fn max_auth_tries(text: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    let rest = text.strip_prefix(b"maximum authentication attempts exceeded for ")?;
    let (kind, user, addr, port) = user_from_tail(rest, ctx)?;
    Some(Message {
        kind,
        msg: Msg::MaxAuthTries,
        addr: Origin::Named(addr),
        port,
        user: Some(user),
        method: None,
    })
}

/// M11/M12 `Invalid user U from A[ port N]`, and `Illegal user U from A` of OpenSSH before
/// 3.9.
fn invalid_user(text: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    let rest = text
        .strip_prefix(b"Invalid user ")
        .or_else(|| text.strip_prefix(b"Illegal user "))?;
    if ctx.truncated {
        return None;
    }
    let (user, addr, port) = from_tail(rest)?;
    Some(Message {
        kind: Kind::InvalidUser,
        msg: Msg::InvalidUser,
        addr: Origin::Named(addr),
        port,
        user: Some(user),
        method: None,
    })
}

/// M18 `administratively prohibited connection for [invalid user ]U from A port N`.
fn prohibited(text: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    let rest = text.strip_prefix(b"administratively prohibited connection for ")?;
    if ctx.truncated {
        return None;
    }
    let (head, addr, port) = from_tail(rest)?;
    port?;
    let user = head.strip_prefix(b"invalid user ").unwrap_or(head);
    Some(Message {
        kind: Kind::AuthFailure,
        msg: Msg::Prohibited,
        addr: Origin::Named(addr),
        port,
        user: Some(user),
        method: None,
    })
}

// ---------------------------------------------------------------------------------------
// 2.4 Disconnects (M10, M29–M36) and other `D…`, `C…`, `R…` lines

fn d_family(text: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    if let Some(rest) = text.strip_prefix(b"Did not receive identification string from ") {
        // M38/M39: nothing follows the address.
        let (addr, port) = exact_addr(rest)?;
        return Some(probe(Msg::NoIdent, addr, port));
    }
    if let Some(rest) = text.strip_prefix(b"Disconnecting: Too many authentication failures") {
        return too_many_failures(rest, ctx);
    }
    if let Some(rest) = text.strip_prefix(b"Disconnecting ") {
        return disconnecting(rest, ctx);
    }
    if let Some(rest) = text.strip_prefix(b"Disconnected from ") {
        // M33: before authentication only; `Disconnected from user U A port N` is a logout.
        if ctx.suffix != Suffix::Preauth {
            return None;
        }
        return closing(rest, Msg::Disconnected, ctx);
    }
    None
}

/// `Disconnecting: Too many authentication failures…`: M07 (6.7) ` for U from A port N ssh2`,
/// M06 (≤ 6.6) ` for U`, M10 (6.8–7.4) nothing more. Only M07 names an address, and an M06
/// user name can imitate it ([`Origin::Doubtful`]).
fn too_many_failures(rest: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    let or_parent = ctx.suffix == Suffix::Plain;
    if rest.is_empty() {
        return Some(Message {
            kind: Kind::AuthFailure,
            msg: Msg::TooManyFailures,
            addr: Origin::SameProcess { or_parent },
            port: None,
            user: None,
            method: None,
        });
    }
    let rest = rest.strip_prefix(b" for ")?;
    if let Some((kind, user, addr, port)) = user_from_tail(rest, ctx) {
        return Some(Message {
            kind,
            msg: Msg::MaxAuthTries,
            addr: Origin::Doubtful(addr),
            port,
            user: Some(user),
            method: None,
        });
    }
    // M06: the user name is the rest (`%.100s`, so a cut line only loses its end).
    let (kind, user) = match rest.strip_prefix(b"invalid user ") {
        Some(u) => (Kind::InvalidUser, u),
        None => (Kind::AuthFailure, rest),
    };
    Some(Message {
        kind,
        msg: Msg::MaxAuthTries,
        addr: Origin::SameProcess { or_parent },
        port: None,
        user: Some(user),
        method: None,
    })
}

/// The one occurrence of a [`REASONS`] separator in `rest` (which one, and where), or
/// `None` when there is none or more than one. Every separator starts with `: `, so only
/// the places of a colon followed by a space are compared; the separators have no border
/// (no prefix that is also a suffix), so occurrences never overlap.
fn reason_separator(rest: &[u8]) -> Option<(usize, usize)> {
    let mut found = None;
    let mut from = 0;
    while let Some(p) = find_byte(&rest[from..], b':') {
        let at = from + p;
        from = at + 1;
        if rest.get(from) != Some(&b' ') {
            continue;
        }
        if let Some(i) = REASONS
            .iter()
            .position(|(sep, _)| rest[at..].starts_with(sep))
        {
            if found.is_some() {
                return None;
            }
            found = Some((i, at));
        }
    }
    found
}

/// M10/M35 `Disconnecting <remote_id>: <reason>` (7.5+). The reason may hold client text
/// (user and service names), so only sshd's own reasons are accepted, and the separator
/// must be unambiguous.
fn disconnecting(rest: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    if ctx.truncated || ctx.suffix == Suffix::Postauth {
        return None;
    }
    // Client text can sit on both sides of the separator (the preamble's user; the user and
    // service names of the last two reasons), so a line is read only when exactly one
    // separator of [`REASONS`] occurs in it: then it is sshd's own, and the remote_id ends
    // there.
    let (i, at) = reason_separator(rest)?;
    let (sep, whole) = REASONS[i];
    if whole && at + sep.len() != rest.len() {
        return None;
    }
    let too_many = i == 0;
    let rid = &rest[..at];
    let (pre, addr, port) = remote_id(rid)?;
    port?;
    let kind = match pre {
        Preamble::User(_) => return None,
        Preamble::None if too_many => Kind::AuthFailure,
        p => p.kind(),
    };
    Some(Message {
        kind,
        msg: if too_many {
            Msg::TooManyFailures
        } else {
            Msg::Disconnecting
        },
        addr: Origin::Named(addr),
        port,
        user: pre.user(),
        method: None,
    })
}

/// M31/M32/M33/M34: `<prefix><remote_id>` with nothing after. Without `[preauth]` the line is
/// either a banner-exchange failure (8.3–10.2) or, from 9.8, the close of a logged-in session
/// (word for word the same): we report a probe and the detector drops it when that
/// connection logged in.
fn closing<'a>(rest: &'a [u8], msg: Msg, ctx: Ctx) -> Option<Message<'a>> {
    if ctx.truncated || ctx.suffix == Suffix::Postauth {
        return None;
    }
    let (pre, addr, port) = remote_id(rest)?;
    if let Preamble::User(_) = pre {
        return None;
    }
    Some(Message {
        kind: pre.kind(),
        msg,
        addr: Origin::Named(addr),
        port,
        user: pre.user(),
        method: None,
    })
}

/// A line that gives no event but starts or ends a connection, for tying the lines of one
/// process together (see [`super::Parser`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// M66, the VERBOSE `Connection from A port N on L port P[ rdomain "R"]`
    /// (`Connection from A port N` ≤ 6.4): the address of the process's later lines.
    Start(IpAddr),
    /// A close that is not an event (a ≤ 5.8 child's or a logged-in session's): the
    /// connection from this address is over.
    End(IpAddr),
}

/// The [`Boundary`] a message that gave no event marks, if any. `body` is the whole message.
pub fn boundary(body: &[u8]) -> Option<Boundary> {
    let text = body
        .strip_suffix(b" [preauth]")
        .or_else(|| body.strip_suffix(b" [postauth]"))
        .unwrap_or(body);
    if let Some(rest) = text.strip_prefix(b"Connection from ") {
        let (token, tail) = split_space(rest);
        let tail = tail?.strip_prefix(b"port ")?;
        let (digits, tail) = split_space(tail);
        port(digits)?;
        if let Some(local) = tail {
            local.strip_prefix(b"on ")?;
        }
        return parse_ip(token).map(Boundary::Start);
    }
    if let Some(rest) = text.strip_prefix(b"Received disconnect from ") {
        return addr_then_colon(rest).map(|(addr, _, _)| Boundary::End(addr));
    }
    let rest = [
        &b"Disconnected from "[..],
        b"Connection closed by ",
        b"Connection reset by ",
    ]
    .iter()
    .find_map(|p| text.strip_prefix(*p))?;
    remote_id(rest).map(|(_, addr, _)| Boundary::End(addr))
}

fn c_family(text: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    if let Some(rest) = text.strip_prefix(b"Connection closed by ") {
        return closing(rest, Msg::ConnectionClosed, ctx);
    }
    if let Some(rest) = text.strip_prefix(b"Connection reset by ") {
        return closing(rest, Msg::ConnectionReset, ctx);
    }
    if let Some(rest) = text.strip_prefix(b"Connection from ") {
        // M36 `Connection from <remote_id> timed out` (7.2+). Other `Connection from` lines
        // are the VERBOSE connection start (M66): not events.
        let rid = rest.strip_suffix(b" timed out")?;
        if ctx.suffix != Suffix::Preauth || ctx.truncated {
            return None;
        }
        let (pre, addr, port) = remote_id(rid)?;
        if let Preamble::User(_) = pre {
            return None;
        }
        return Some(Message {
            user: pre.user(),
            ..probe(Msg::TimedOut, addr, port)
        });
    }
    if let Some(rest) = text.strip_prefix(b"Connection to ") {
        // M36 ≤7.1: `Connection to A timed out[ while waiting to read|write]`.
        if ctx.suffix != Suffix::Preauth {
            return None;
        }
        let (token, tail) = split_space(rest);
        let tail = tail?;
        if !(tail == b"timed out" || tail.starts_with(b"timed out while waiting to ")) {
            return None;
        }
        return Some(probe(Msg::TimedOut, parse_ip(token)?, None));
    }
    if let Some(rest) = text.strip_prefix(b"Could not write ident string to ") {
        // M48.
        let (addr, port) = exact_addr(rest)?;
        return Some(probe(Msg::IdentWrite, addr, port));
    }
    None
}

fn r_family(text: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    if let Some(rest) = text.strip_prefix(b"ROOT LOGIN REFUSED FROM ") {
        // M16/M17.
        let (addr, port) = exact_addr(rest)?;
        return Some(Message {
            kind: Kind::AuthFailure,
            msg: Msg::RootRefused,
            addr: Origin::Named(addr),
            port,
            user: None,
            method: None,
        });
    }
    received_disconnect(text.strip_prefix(b"Received disconnect from ")?, ctx)
}

/// M29/M30 `Received disconnect from A[ port N]:[ ]C: text` — the address first, the client's
/// text last. The old forms put `: ` right after the address, which for IPv6 reads
/// `2001:db8::1: 11: …`.
fn received_disconnect(rest: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    if ctx.suffix == Suffix::Postauth {
        return None;
    }
    let (addr, port, after) = addr_then_colon(rest)?;
    let after = trim_start(after);
    // The reason code (absent in some 6.2–7.5 forms).
    let digits = after.iter().take_while(|c| c.is_ascii_digit()).count();
    let (code, text) = match after.get(digits) {
        Some(b':') if (1..=3).contains(&digits) => (
            Some(
                after[..digits]
                    .iter()
                    .fold(0u32, |a, &c| a * 10 + u32::from(c - b'0')),
            ),
            trim_start(&after[digits + 1..]),
        ),
        _ => (None, after),
    };
    let auth_failed = match code {
        // SSH2_DISCONNECT_PROTOCOL_ERROR from JSch-based bots: "…: Auth fail".
        Some(3) => text.ends_with(b"Auth fail"),
        // SSH2_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE.
        Some(14) => {
            text.starts_with(b"No supported authentication methods available")
                || text.starts_with(b"No authentication methods available")
        }
        _ => false,
    };
    let kind = if auth_failed {
        Kind::AuthFailure
    } else if ctx.suffix == Suffix::Preauth {
        Kind::Probe
    } else {
        // After authentication (`11: disconnected by user`): a logout.
        return None;
    };
    Some(Message {
        kind,
        ..probe(Msg::ReceivedDisconnect, addr, port)
    })
}

fn trim_start(mut b: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = b {
        b = rest;
    }
    b
}

/// `A port N:<rest>` or `A:<rest>` at the start of `s` (the address is first; the client's
/// text follows the colon).
fn addr_then_colon(s: &[u8]) -> Option<(IpAddr, Option<u16>, &[u8])> {
    let (token, tail) = split_space(s);
    if let Some(t) = tail.and_then(|t| t.strip_prefix(b"port ")) {
        let colon = find_byte(t, b':')?;
        return Some((parse_ip(token)?, Some(port(&t[..colon])?), &t[colon + 1..]));
    }
    // `A: …` — the token ends with the separator's colon (an IPv6 address keeps its own).
    let addr = token.strip_suffix(b":")?;
    Some((parse_ip(addr)?, None, tail.unwrap_or(b"")))
}

// ---------------------------------------------------------------------------------------
// PAM and `P…`/`U…` lines: M14, M24, M25, M27, M44, M51

fn p_family(text: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    if let Some(rest) = text.strip_prefix(b"PAM: ") {
        return pam_error(rest, ctx);
    }
    if let Some(rest) = text.strip_prefix(b"PAM ") {
        return pam_more(rest);
    }
    if let Some(rest) = text.strip_prefix(b"Protocol major versions differ for ") {
        // M44 ≤7.9; the 8.0+ form has no address.
        let (addr, port, _) = addr_then_colon(rest)?;
        return Some(probe(Msg::VersionDiffer, addr, port));
    }
    // `Postponed`/`Partial` are steps of an authentication, not outcomes.
    None
}

/// M24 `PAM: <error> for [illegal user ]U from H[ via L]` (Linux-PAM and OpenPAM wordings;
/// macOS adds ` via <local address>`). H is a host name with UseDNS: then nothing.
fn pam_error(rest: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    const ERRORS: [&[u8]; 3] = [
        b"uthentication failure for ",
        b"uthentication error for ",
        b"ser not known to the underlying authentication module for ",
    ];
    let first = *rest.first()?;
    let rest = &rest[1..];
    let r = ERRORS.iter().enumerate().find_map(|(i, e)| {
        let ok_first = if i == 2 {
            first == b'U'
        } else {
            first == b'A' || first == b'a'
        };
        if ok_first {
            rest.strip_prefix(*e)
        } else {
            None
        }
    })?;
    if ctx.truncated {
        return None;
    }
    let mut r = r;
    // One sample line of fail2ban's corpus ends with a space.
    while let [head @ .., b' '] = r {
        r = head;
    }
    let (invalid, r) = match r.strip_prefix(b"illegal user ") {
        Some(u) => (true, u),
        None => (false, r),
    };
    let (head, last) = rsplit_space(r);
    let head = head?;
    let (head, host) = match head.strip_suffix(b" via") {
        Some(h) => {
            let (h2, host) = rsplit_space(h);
            (h2?, host)
        }
        None => (head, last),
    };
    let user = head.strip_suffix(b" from")?;
    Some(Message {
        kind: if invalid {
            Kind::InvalidUser
        } else {
            Kind::AuthFailure
        },
        msg: Msg::PamFailure,
        addr: host_origin(host)?,
        port: None,
        user: Some(user),
        method: None,
    })
}

/// A host as PAM and UseDNS write it: an address, or a host name (then the address is on
/// another line of the same process; never taken from the name). Empty: nothing.
fn host_origin(host: &[u8]) -> Option<Origin> {
    if host.is_empty() {
        return None;
    }
    Some(match parse_ip(host) {
        Some(addr) => Origin::Named(addr),
        None => Origin::SameProcess { or_parent: false },
    })
}

/// M25 `pam_unix(<service>:auth): authentication failure; logname=… rhost=A[  user=U]`.
fn pam_unix(rest: &[u8]) -> Option<Message<'_>> {
    // The first `):`; the service name before it is a word.
    let mut from = 0;
    let close = loop {
        let p = from + find_byte(&rest[from..], b')')?;
        if rest.get(p + 1) == Some(&b':') {
            break p;
        }
        from = p + 1;
    };
    if !rest[..close].ends_with(b":auth") {
        return None;
    }
    let fields = rest[close..].strip_prefix(b"): authentication failure; ")?;
    let (addr, user) = pam_fields(fields)?;
    Some(Message {
        kind: Kind::AuthFailure,
        msg: Msg::PamUnix,
        addr,
        port: None,
        user,
        method: None,
    })
}

/// M27 `PAM N more authentication failure[s]; logname=… rhost=A …`. The count stays 1: the
/// detector decides how much a PAM summary is worth next to the sshd lines.
fn pam_more(rest: &[u8]) -> Option<Message<'_>> {
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let r = rest[digits..].strip_prefix(b" more authentication failure")?;
    let r = r.strip_prefix(b"s").unwrap_or(r);
    let (addr, user) = pam_fields(r.strip_prefix(b"; ")?)?;
    Some(Message {
        kind: Kind::AuthFailure,
        msg: Msg::PamMore,
        addr,
        port: None,
        user,
        method: None,
    })
}

/// `logname=%s uid=%d euid=%d tty=%s ruser=%s rhost=%s[ [ ]user=%s]`: each value is one word,
/// and `rhost` is read only at its fixed place after `ruser=`. A second ` rhost=` anywhere
/// means some value held a space and the line is ambiguous.
fn pam_fields(s: &[u8]) -> Option<(Origin, Option<&[u8]>)> {
    // What sshd's PAM conversation nearly always gives, compared at once; the loop reads
    // the same fields one by one for every other value.
    const USUAL: &[u8] = b"logname= uid=0 euid=0 tty=ssh ruser= ";
    let mut rest = s;
    if let Some(after) = s.strip_prefix(USUAL) {
        rest = after;
    } else {
        for key in [&b"logname="[..], b"uid=", b"euid=", b"tty=", b"ruser="] {
            rest = rest.strip_prefix(key)?;
            let sp = find_byte(rest, b' ')?;
            rest = &rest[sp + 1..];
        }
    }
    // `s[sp..]` is the genuine ` rhost=`; another one cannot overlap it (the pattern has
    // one space), so it lies wholly before or wholly after. Before it there is none: each
    // value there was cut at its first space, and every space was followed by the next key
    // (`uid=` … `ruser=`), never by `rhost=`. So only the text after it is searched.
    let sp = s.len() - rest.len() - 1;
    rest = rest.strip_prefix(b"rhost=")?;
    debug_assert!(!has_rhost(&s[..sp]));
    if has_rhost(&s[sp + 7..]) {
        return None;
    }
    let (host, after) = split_space(rest);
    let addr = host_origin(host)?;
    let user = after
        .map(trim_start)
        .and_then(|a| a.strip_prefix(b"user="))
        .filter(|u| !u.is_empty());
    Some((addr, user))
}

/// Whether ` rhost=` occurs in `hay`: each `=` is checked for the six bytes before it (a
/// word-at-a-time scan; a substring searcher's setup costs more on these short fields).
fn has_rhost(hay: &[u8]) -> bool {
    let mut from = 0;
    while let Some(q) = find_byte(&hay[from..], b'=') {
        let q = from + q;
        if q >= 6 && &hay[q - 6..q] == b" rhost" {
            return true;
        }
        from = q + 1;
    }
    false
}

fn u_family(text: &[u8]) -> Option<Message<'_>> {
    if let Some(rest) = text.strip_prefix(b"User ") {
        // M14: the user is an existing account (sshd looked it up), so it is one word; the
        // host is an address, or a name with UseDNS (then nothing: we never ban a name).
        let (user, after) = split_space(rest);
        let after = after?.strip_prefix(b"from ")?;
        let (host, after) = split_space(after);
        after?.strip_prefix(b"not allowed because ")?;
        return Some(Message {
            kind: Kind::AuthFailure,
            msg: Msg::NotAllowed,
            addr: Origin::Named(parse_ip(host)?),
            port: None,
            user: Some(user),
            method: None,
        });
    }
    // M51 `Unable to negotiate with A[ port N]: … Their offer: …` (address first). A rekey
    // after the user name would put a preamble first: its first word is no address, so nothing.
    let rest = text.strip_prefix(b"Unable to negotiate with ")?;
    let (addr, port, _) = addr_then_colon(rest)?;
    Some(probe(Msg::Negotiate, addr, port))
}

// ---------------------------------------------------------------------------------------
// 2.5–2.7 Banner, transport, listener lines

fn probe(msg: Msg, addr: IpAddr, port: Option<u16>) -> Message<'static> {
    Message {
        kind: Kind::Probe,
        msg,
        addr: Origin::Named(addr),
        port,
        user: None,
        method: None,
    }
}

/// M42/M43 `probed|scanned from A[ port N] with V.  Don't panic.` (address first).
fn scanned(rest: &[u8]) -> Option<Message<'_>> {
    let (token, tail) = split_space(rest);
    let tail = tail?;
    let port = match tail.strip_prefix(b"port ") {
        Some(t) => {
            let (p, t) = split_space(t);
            t?.strip_prefix(b"with ")?;
            Some(port(p)?)
        }
        None => {
            tail.strip_prefix(b"with ")?;
            None
        }
    };
    Some(probe(Msg::Scanned, parse_ip(token)?, port))
}

/// M40/M41 `Bad protocol version identification '<banner>' from A[ port N]`, and the
/// unquoted `… identification <banner> from A` of releases before 5.0: the banner is the
/// client's and comes first, so the address is the last ` from ` (sshd writes it after
/// the banner, whatever the banner holds).
fn bad_version(text: &[u8], ctx: Ctx) -> Option<Message<'_>> {
    let rest = text.strip_prefix(b"Bad protocol version identification ")?;
    if ctx.truncated {
        return None;
    }
    let (head, addr, port) = from_tail(rest)?;
    if head.is_empty() {
        return None;
    }
    Some(probe(Msg::BadVersion, addr, port))
}

/// M47/M50/M52 `<tag>: Connection from <remote_id>: <ssh_err>` and the 6.8–7.1
/// `<tag>: Connection to A: <error>`. The error text is sshd's own (`ssh_err()`), never
/// ` port N: `, so the last ` port N: ` ends the remote_id.
fn transport_error(rest: &[u8], msg: Msg, ctx: Ctx) -> Option<Message<'_>> {
    if let Some(r) = rest.strip_prefix(b"Connection from ") {
        if ctx.truncated {
            return None;
        }
        let end = PORT_REV.rfind_iter(r).find_map(|at| {
            let t = &r[at + 6..];
            let colon = memchr(b':', t)?;
            (port(&t[..colon]).is_some() && t[colon + 1..].starts_with(b" "))
                .then_some(at + 6 + colon)
        })?;
        let (pre, addr, port) = remote_id(&r[..end])?;
        if let Preamble::User(_) = pre {
            return None;
        }
        return Some(Message {
            user: pre.user(),
            ..probe(msg, addr, port)
        });
    }
    let r = rest.strip_prefix(b"Connection to ")?;
    let (addr, port, _) = addr_then_colon(r)?;
    Some(probe(msg, addr, port))
}

/// M55 `Timeout before authentication for A[ port N]` (≤9.7, `fatal:`) and M56 (9.8+)
/// `… for connection from A[ to B], pid = N[ (stage)]`. 9.8p1 swapped A and B, so there the
/// first address is the server's own: the caller refuses to ban its own addresses, which is
/// the defence (§4.3.11).
fn grace_timeout(rest: &[u8]) -> Option<Message<'_>> {
    if let Some(r) = rest.strip_prefix(b"connection from ") {
        let end = r
            .iter()
            .position(|&c| c == b' ' || c == b',')
            .unwrap_or(r.len());
        return Some(probe(Msg::GraceTimeout, parse_ip(&r[..end])?, None));
    }
    let (addr, port) = exact_addr(rest)?;
    Some(probe(Msg::GraceTimeout, addr, port))
}

/// M57/M58 `drop connection #N from [A]:P on [L]:P <reason>` (MaxStartups, penalties).
fn drop_connection(rest: &[u8]) -> Option<Message<'_>> {
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let r = rest[digits..].strip_prefix(b" from [")?;
    let close = BRACKET_PORT.find(r)?;
    let addr = parse_ip(&r[..close])?;
    let (p, tail) = split_space(&r[close + 2..]);
    tail?.strip_prefix(b"on [")?;
    Some(probe(Msg::DropConnection, addr, Some(port(p)?)))
}

/// M61 `srclimit_penalise: ipv4: new A/32 active penalty of …` and
/// `srclimit_penalise: A/32: activating ipv4 penalty of …`. Only single hosts: a wider
/// netblock (`PerSourceNetBlockSize`) is not one address. Deferred penalties (VERBOSE, not
/// yet enforced) give nothing.
fn penalty(rest: &[u8]) -> Option<Message<'_>> {
    let block = if let Some(r) = rest
        .strip_prefix(b"ipv4: new ")
        .or_else(|| rest.strip_prefix(b"ipv6: new "))
    {
        let (block, tail) = split_space(r);
        tail?.strip_prefix(b"active penalty ")?;
        block
    } else {
        let (block, tail) = split_space(rest);
        tail?.strip_prefix(b"activating ")?;
        block.strip_suffix(b":")?
    };
    let slash = memrchr(b'/', block)?;
    let (a, len) = (&block[..slash], &block[slash + 1..]);
    let want: &[u8] = if memchr(b':', a).is_some() {
        b"128"
    } else {
        b"32"
    };
    if len != want {
        return None;
    }
    Some(probe(Msg::Penalty, parse_ip(a)?, None))
}

/// M62 `Session process N unpriv child crash for connection from A[ to B]…`.
fn session_crash(rest: &[u8]) -> Option<Message<'_>> {
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let r = rest[digits..].strip_prefix(b" unpriv child crash for connection from ")?;
    let end = r
        .iter()
        .position(|&c| c == b' ' || c == b',')
        .unwrap_or(r.len());
    Some(probe(Msg::SessionCrash, parse_ip(&r[..end])?, None))
}

/// M69 libwrap `refused connect from H (A)`: the address is the parenthesised tail (H is a
/// name from DNS).
fn refused_connect(rest: &[u8]) -> Option<Message<'_>> {
    let r = rest.strip_suffix(b")")?;
    let open = OPEN_PAREN_REV.rfind(r)?;
    Some(probe(Msg::RefusedConnect, parse_ip(&r[open + 2..])?, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The searcher-based reading `pam_fields` had before its word-at-a-time scan.
    fn pam_fields_reference(s: &[u8]) -> Option<(Origin, Option<&[u8]>)> {
        let mut rest = s;
        for key in [&b"logname="[..], b"uid=", b"euid=", b"tty=", b"ruser="] {
            rest = rest.strip_prefix(key)?;
            let sp = memchr(b' ', rest)?;
            rest = &rest[sp + 1..];
        }
        rest = rest.strip_prefix(b"rhost=")?;
        if memchr::memmem::find_iter(s, b" rhost=").count() != 1 {
            return None;
        }
        let (host, after) = split_space(rest);
        let addr = host_origin(host)?;
        let user = after
            .map(trim_start)
            .and_then(|a| a.strip_prefix(b"user="))
            .filter(|u| !u.is_empty());
        Some((addr, user))
    }

    const PIECES: [&[u8]; 15] = [
        b"logname=",
        b" uid=0",
        b" euid=0",
        b" tty=ssh",
        b" ruser=",
        b" rhost=",
        b"rhost=",
        b"192.0.2.1",
        b" ",
        b"=",
        b"  user=root",
        b"x",
        b"r",
        b" rhos",
        b"t=",
    ];

    proptest! {
        #[test]
        fn pam_fields_agree_with_the_searcher(
            picks in proptest::collection::vec(0..PIECES.len(), 0..16)
        ) {
            let tail: Vec<u8> = picks.iter().flat_map(|&i| PIECES[i].iter().copied()).collect();
            prop_assert_eq!(pam_fields(&tail), pam_fields_reference(&tail));
            let genuine = b"logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1";
            let s = [&genuine[..], &tail].concat();
            prop_assert_eq!(pam_fields(&s), pam_fields_reference(&s));
        }
    }

    /// [`reason_separator`] by a substring search per separator.
    fn reason_separator_reference(rest: &[u8]) -> Option<(usize, usize)> {
        let mut found = None;
        for (i, (sep, _)) in REASONS.iter().enumerate() {
            for at in memchr::memmem::find_iter(rest, sep) {
                if found.is_some() {
                    return None;
                }
                found = Some((i, at));
            }
        }
        found
    }

    proptest! {
        #[test]
        fn reason_separator_agrees_with_searching(
            picks in proptest::collection::vec(0usize..9, 0..8)
        ) {
            const PIECES: [&[u8]; 9] = [
                b": Too many authentication failures",
                b": no authentication methods enabled",
                b": Change of username or service not allowed: (",
                b": bad service request ",
                b"root 192.0.2.1 port 22",
                b":",
                b": ",
                b"2001:db8::1",
                b"x",
            ];
            let rest: Vec<u8> = picks.iter().flat_map(|&i| PIECES[i].iter().copied()).collect();
            prop_assert_eq!(reason_separator(&rest), reason_separator_reference(&rest));
        }
    }

    /// `tail_port` as two passes: the last word, then [`port`].
    fn tail_port_reference(s: &[u8]) -> Option<(&[u8], u16)> {
        let sp = last_space(s)?;
        let p = port(&s[sp + 1..])?;
        Some((s[..sp].strip_suffix(b" port")?, p))
    }

    proptest! {
        #[test]
        fn tail_port_agrees_with_two_passes(
            head in proptest::collection::vec(prop_oneof![Just(b' '), Just(b'p'), Just(b'x'), Just(b'0'), Just(b'7')], 0..12),
            port in prop_oneof![Just(String::new()), "[0-9]{1,7}", Just("65535".to_string()), Just("65536".to_string()), Just("0".to_string())],
            sep in prop_oneof![Just(&b" port "[..]), Just(&b"port "[..]), Just(&b" port"[..]), Just(&b" "[..]), Just(&b""[..])],
        ) {
            let s = [&head[..], sep, port.as_bytes()].concat();
            prop_assert_eq!(tail_port(&s), tail_port_reference(&s));
        }
    }

    #[test]
    fn has_rhost_finds_every_place() {
        assert!(has_rhost(b" rhost="));
        assert!(has_rhost(b"a rhost=b"));
        assert!(!has_rhost(b"rhost="));
        assert!(!has_rhost(b" rhost"));
        assert!(!has_rhost(b"x=y rhos=t"));
        assert!(has_rhost(b"=== rhost==="));
    }
}
