//! record: a ban or an unban as it travels between nodes, one entry of the fleet's Redis
//! stream: its fields, written by [`Record::fields`] and read back by [`Record::parse`].
//!
//! Another node's entry is input from outside: a node may be compromised, a stream written
//! by an older or newer authban, or by hand. Every field is checked, a target wider than
//! any blocklist entry is refused (so no node can ban the Internet on all the others), and
//! the reason is cut to printable text before it reaches a log line. Fields this version
//! does not know are ignored; an entry of another format version is refused whole.

use std::fmt;
use std::str::FromStr;

use crate::addr::Cidr;

/// The format written; an entry whose `v` differs is not read.
pub const VERSION: &str = "1";
/// The longest reason kept, in characters.
pub const MAX_REASON: usize = 200;
/// The longest node name.
const MAX_NODE: usize = 64;

/// What the record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ban,
    /// The origin node lifts its own ban: only that node's ban of the target ends.
    Unban,
    /// An admin's `unban --fleet`: every node's fleet ban of the target ends (a ban a
    /// node decided itself stays: no remote node lifts that).
    UnbanAll,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ban => "ban",
            Op::Unban => "unban",
            Op::UnbanAll => "unban-all",
        }
    }
}

impl FromStr for Op {
    type Err = ();

    fn from_str(s: &str) -> Result<Op, ()> {
        match s {
            "ban" => Ok(Op::Ban),
            "unban" => Ok(Op::Unban),
            "unban-all" => Ok(Op::UnbanAll),
            _ => Err(()),
        }
    }
}

/// Why the origin banned: the kinds a node chooses to share (`fleet.share`) and that a
/// quorum counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its detector decided.
    Detected,
    /// An admin there, by hand.
    Manual,
    /// From a blocklist there.
    Imported,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Detected => "detected",
            Origin::Manual => "manual",
            Origin::Imported => "imported",
        }
    }
}

impl FromStr for Origin {
    type Err = ();

    fn from_str(s: &str) -> Result<Origin, ()> {
        match s {
            "detected" => Ok(Origin::Detected),
            "manual" => Ok(Origin::Manual),
            "imported" => Ok(Origin::Imported),
            _ => Err(()),
        }
    }
}

/// One ban or unban decided on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub op: Op,
    pub target: Cidr,
    /// Unix seconds when the origin decided.
    pub at: i64,
    /// When the ban ends, unix seconds; `None`: permanent. Always `None` for an unban.
    pub until: Option<i64>,
    /// The origin's offence count of the target (1 for a first ban).
    pub offence: u32,
    pub origin: Origin,
    /// The node that decided.
    pub node: String,
    pub reason: String,
}

/// Why an entry was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord(pub String);

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` may name a node: what a host name holds, so it is safe in a log line,
/// a Redis key and a metric label.
pub fn valid_node(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NODE
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

impl Record {
    /// The stream entry's fields, in the order written.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let op = self.op.as_str();
        let until = match self.until {
            Some(t) => t.to_string(),
            None => "never".to_owned(),
        };
        vec![
            ("v", VERSION.to_owned()),
            ("op", op.to_owned()),
            ("target", self.target.to_string()),
            ("at", self.at.to_string()),
            ("until", until),
            ("offence", self.offence.to_string()),
            ("origin", self.origin.as_str().to_owned()),
            ("node", self.node.clone()),
            ("reason", self.reason.clone()),
        ]
    }

    /// The record of an unban by hand on `node`: its own ban of `target` ends on the
    /// other nodes, or with `fleet_wide` every node's fleet ban of it.
    pub fn of_unban(target: Cidr, fleet_wide: bool, node: &str, now_s: i64) -> Record {
        Record {
            op: if fleet_wide { Op::UnbanAll } else { Op::Unban },
            target,
            at: now_s,
            until: None,
            offence: 0,
            origin: Origin::Manual,
            node: node.to_owned(),
            reason: "unbanned by hand".into(),
        }
    }

    /// The record as one value of the hash of bans in force: its fields, one `name value`
    /// per line (no value holds a line break: the reason is one printable line).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (name, value) in self.fields() {
            out.push_str(name);
            out.push(' ');
            out.push_str(&value);
            out.push('\n');
        }
        out
    }

    /// Reads what [`Record::encode`] wrote, checked as [`Record::parse`] checks.
    pub fn decode(text: &[u8]) -> Result<Record, BadRecord> {
        let pairs: Vec<(&[u8], &[u8])> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| match l.iter().position(|&b| b == b' ') {
                Some(i) => (&l[..i], &l[i + 1..]),
                None => (l, &b""[..]),
            })
            .collect();
        Record::parse(&pairs)
    }

    /// Reads an entry's fields (name, value pairs as XREAD gives them).
    pub fn parse(fields: &[(&[u8], &[u8])]) -> Result<Record, BadRecord> {
        let get = |name: &str| -> Result<&str, BadRecord> {
            let (_, value) = fields
                .iter()
                .find(|(n, _)| *n == name.as_bytes())
                .ok_or_else(|| BadRecord(format!("no field {name}")))?;
            std::str::from_utf8(value).map_err(|_| BadRecord(format!("{name} is not UTF-8")))
        };
        let v = get("v")?;
        if v != VERSION {
            return Err(BadRecord(format!(
                "format version {:?}, not {VERSION}: written by another authban",
                cut(v)
            )));
        }
        let op_text = get("op")?;
        let op = Op::from_str(op_text).map_err(|()| BadRecord(format!("op {:?}", cut(op_text))))?;
        let target_text = get("target")?;
        let target = Cidr::from_str(target_text).map_err(|_| {
            BadRecord(format!(
                "target {:?} is no address or network",
                cut(target_text)
            ))
        })?;
        if let Some(min) = target.wider_than_outside_bans() {
            return Err(BadRecord(format!("target {target} is wider than /{min}")));
        }
        let number = |name: &str| -> Result<i64, BadRecord> {
            let text = get(name)?;
            text.parse()
                .map_err(|_| BadRecord(format!("{name} {:?} is not a number", cut(text))))
        };
        let at = number("at")?;
        let until = match (op, get("until")?) {
            (_, "never") => None,
            (_, _) => Some(number("until")?),
        };
        if op != Op::Ban && until.is_some() {
            return Err(BadRecord("an unban with an end".into()));
        }
        if until.is_some_and(|u| u < at) {
            return Err(BadRecord("a ban that ends before it began".into()));
        }
        let offence = get("offence")?
            .parse::<u32>()
            .map_err(|_| BadRecord("offence is not a count".into()))?;
        let origin_text = get("origin")?;
        let origin = Origin::from_str(origin_text)
            .map_err(|()| BadRecord(format!("origin {:?}", cut(origin_text))))?;
        let node = get("node")?;
        if !valid_node(node) {
            return Err(BadRecord(format!(
                "node {:?} is not a node name",
                cut(node)
            )));
        }
        let reason = crate::log::one_line(get("reason")?, MAX_REASON);
        Ok(Record {
            op,
            target,
            at,
            until,
            offence,
            origin,
            node: node.to_owned(),
            reason,
        })
    }
}

/// A value for a message: at most 40 characters, escaped by `{:?}`.
fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban() -> Record {
        Record {
            op: Op::Ban,
            target: "203.0.113.5".parse().unwrap(),
            at: 1_800_000_000,
            until: Some(1_800_086_400),
            offence: 2,
            origin: Origin::Detected,
            node: "web-1.example".into(),
            reason: "score 6.0 within 600s".into(),
        }
    }

    fn round_trip(r: &Record) -> Result<Record, BadRecord> {
        let fields = r.fields();
        let pairs: Vec<(&[u8], &[u8])> = fields
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        Record::parse(&pairs)
    }

    #[test]
    fn bans_and_unbans_read_back_as_written() {
        let b = ban();
        assert_eq!(round_trip(&b), Ok(b.clone()));
        let permanent = Record {
            until: None,
            target: "2001:db8::/48".parse().unwrap(),
            origin: Origin::Imported,
            ..b.clone()
        };
        assert_eq!(round_trip(&permanent), Ok(permanent.clone()));
        let unban = Record {
            op: Op::Unban,
            until: None,
            origin: Origin::Manual,
            ..b
        };
        assert_eq!(round_trip(&unban), Ok(unban.clone()));
        let all = Record {
            op: Op::UnbanAll,
            ..unban.clone()
        };
        assert_eq!(round_trip(&all), Ok(all.clone()));
        for r in [ban(), permanent, unban, all] {
            assert_eq!(Record::decode(r.encode().as_bytes()), Ok(r));
        }
        assert!(Record::decode(b"v 1\nop ban\n").is_err());
    }

    /// What a compromised node, another version or a hand-made entry may hold.
    #[test]
    fn an_entry_from_outside_is_checked_field_by_field() {
        let with = |name: &str, value: &[u8]| -> Result<Record, BadRecord> {
            let fields = ban().fields();
            let pairs: Vec<(&[u8], &[u8])> = fields
                .iter()
                .map(|(n, v)| {
                    if *n == name {
                        (n.as_bytes(), value)
                    } else {
                        (n.as_bytes(), v.as_bytes())
                    }
                })
                .collect();
            Record::parse(&pairs)
        };
        let refused = [
            (
                "v",
                &b"2"[..],
                "format version \"2\", not 1: written by another authban",
            ),
            ("op", b"flush", "op \"flush\""),
            ("target", b"0.0.0.0/0", "target 0.0.0.0/0 is wider than /8"),
            ("target", b"::/0", "target ::/0 is wider than /16"),
            (
                "target",
                b"example.com",
                "target \"example.com\" is no address or network",
            ),
            ("until", b"1700000000", "a ban that ends before it began"),
            ("until", b"soon", "until \"soon\" is not a number"),
            ("offence", b"-1", "offence is not a count"),
            ("origin", b"remote", "origin \"remote\""),
            (
                "node",
                b"web 1\nfake log line",
                "node \"web 1\\nfake log line\" is not a node name",
            ),
            ("node", b"", "node \"\" is not a node name"),
            ("target", b"\xff", "target is not UTF-8"),
        ];
        for (field, value, why) in refused {
            assert_eq!(with(field, value), Err(BadRecord(why.into())), "{field}");
        }
        // A reason is cut to printable text, at most 200 characters.
        let long = format!("a\x1b[2J\nb{}", "x".repeat(500));
        let r = with("reason", long.as_bytes()).unwrap();
        assert!(r.reason.starts_with("a[2Jb") && r.reason.chars().count() == 200);
        // Missing fields are named; unknown ones are ignored.
        let fields = ban().fields();
        let mut pairs: Vec<(&[u8], &[u8])> = fields
            .iter()
            .filter(|(n, _)| *n != "at")
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(Record::parse(&pairs), Err(BadRecord("no field at".into())));
        pairs.push((b"at", b"1800000000"));
        pairs.push((b"future-field", b"x"));
        assert_eq!(Record::parse(&pairs), Ok(ban()));
    }

    #[test]
    fn node_names_are_what_a_host_name_holds() {
        for ok in ["web-1", "db_2.example.org", "a"] {
            assert!(valid_node(ok), "{ok}");
        }
        for bad in ["", "web 1", "a:b", "é", &"n".repeat(65)] {
            assert!(!valid_node(bad), "{bad}");
        }
    }
}
