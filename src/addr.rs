//! Addresses: turning a token from a log line into a canonical [`IpAddr`], and the
//! allowlist of networks that are never banned.
//!
//! Canonical means: IPv4-mapped IPv6 (`::ffff:192.0.2.1`) becomes IPv4, an IPv6 zone
//! (`%eth0`) is dropped, and the text form is the standard one (compressed IPv6).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// Parses `token` as a complete IP literal, or nothing.
///
/// The whole token must be the address: `203.0.113.5.dyn.example.net`, `203.0.113.300` and
/// zero-padded octets (`192.030.0.6`, never printed by sshd) are refused, so a host name can
/// never be mistaken for the address it starts with.
pub fn parse_ip(token: &[u8]) -> Option<IpAddr> {
    // Consecutive lines mostly name the same address (a connection logs several): the last
    // token and its result are remembered, per thread. This is a memo of a pure function,
    // so it changes no result.
    if token.len() > LAST_TOKEN_MAX {
        return parse_ip_uncached(token);
    }
    if let Some(hit) = LAST_TOKEN.with_borrow(|last| last.get(token)) {
        return hit;
    }
    let addr = parse_ip_uncached(token);
    LAST_TOKEN.with_borrow_mut(|last| last.set(token, addr));
    addr
}

const LAST_TOKEN_MAX: usize = 48;

thread_local! {
    static LAST_TOKEN: std::cell::RefCell<LastToken> = const {
        std::cell::RefCell::new(LastToken {
            text: [0; LAST_TOKEN_MAX],
            len: usize::MAX,
            addr: None,
        })
    };
}

/// The last token [`parse_ip`] read (`len` is `usize::MAX` before the first) and its result.
struct LastToken {
    text: [u8; LAST_TOKEN_MAX],
    len: usize,
    addr: Option<IpAddr>,
}

impl LastToken {
    fn get(&self, token: &[u8]) -> Option<Option<IpAddr>> {
        (self.len == token.len() && self.text[..token.len()] == *token).then_some(self.addr)
    }

    fn set(&mut self, token: &[u8], addr: Option<IpAddr>) {
        self.text[..token.len()].copy_from_slice(token);
        self.len = token.len();
        self.addr = addr;
    }
}

fn parse_ip_uncached(token: &[u8]) -> Option<IpAddr> {
    // The longest textual IPv6 address with a zone is well under 64 bytes; reject early so
    // a megabyte token costs nothing.
    if token.is_empty() || token.len() > 64 {
        return None;
    }
    // The byte-level IPv4 parser first (most addresses, std's exact rules). When it refuses, a
    // token without a colon is nothing: every IPv6 text holds one, and std would refuse it
    // as IPv4 too.
    if let Some(v4) = parse_ipv4(token) {
        return Some(IpAddr::V4(v4));
    }
    if !token.contains(&b':') {
        return None;
    }
    let token = match memchr::memchr(b'%', token) {
        // A zone only exists on IPv6 link-local addresses.
        Some(pct) if memchr::memchr(b':', &token[..pct]).is_some() => &token[..pct],
        Some(_) => return None,
        None => token,
    };
    // With a colon the text can only be IPv6: skip std's IPv4 attempt.
    let v6 = Ipv6Addr::from_str(std::str::from_utf8(token).ok()?).ok()?;
    Some(canonical(IpAddr::V6(v6)))
}

/// A dotted quad exactly as `std::net::Ipv4Addr::from_str` accepts it: four parts of one to
/// three ASCII digits, each at most 255, no leading zero (`0` alone is fine), nothing else.
/// Byte-level, so the hot path skips UTF-8 validation and std's generic parser.
fn parse_ipv4(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    // One pass: each byte is a digit of the current part or the dot that ends it.
    let mut octets = [0u8; 4];
    let mut part = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for &c in b {
        if c == b'.' {
            if digits == 0 || part == 3 {
                return None;
            }
            octets[part] = u8::try_from(value).ok()?;
            part += 1;
            value = 0;
            digits = 0;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        // Not a digit, a fourth digit, or a digit after a leading zero.
        if d > 9 || digits == 3 || (digits == 1 && value == 0) {
            return None;
        }
        value = value * 10 + u32::from(d);
        digits += 1;
    }
    if part != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(std::net::Ipv4Addr::from(octets))
}

/// Maps IPv4-mapped IPv6 addresses to IPv4; every other address is returned unchanged.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The address as a 128-bit key (IPv4 as IPv4-mapped IPv6), for compact maps.
pub fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The inverse of [`to_u128`].
pub fn from_u128(bits: u128) -> IpAddr {
    canonical(IpAddr::V6(Ipv6Addr::from(bits)))
}

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr(IpNet);

impl Cidr {
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr(IpNet::from(canonical(addr)))
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&canonical(addr))
    }

    pub fn net(&self) -> IpNet {
        self.0
    }

    /// The network of `prefix` bits holding `addr`; `None` if the prefix is too long.
    pub fn network(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        IpNet::new(canonical(addr), prefix)
            .ok()
            .map(|n| Cidr(n.trunc()))
    }

    /// The shortest prefix a ban from outside may have, if this is wider: /8 for IPv4,
    /// /16 for IPv6. No blocklist entry and no other node's ban is that wide; one that is
    /// is a mistake or an attack (half the Internet), and `authban ban` remains for an
    /// admin who means it.
    pub fn wider_than_outside_bans(&self) -> Option<u8> {
        let min = if self.0.addr().is_ipv4() { 8 } else { 16 };
        (self.0.prefix_len() < min).then_some(min)
    }

    /// Whether this is one address (a /32 or /128), not a network.
    pub fn is_host(&self) -> bool {
        self.0.prefix_len() == self.0.max_prefix_len()
    }

    /// Whether every address of `other` is in this network.
    pub fn covers(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0)
    }
}

/// Why a text is not a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an IP address or network (like 192.0.2.0/24 or 2001:db8::/32)",
            self.0
        )
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        if let Ok(net) = IpNet::from_str(s) {
            // An IPv4-mapped network is the IPv4 network it spells.
            if let IpNet::V6(v6) = net
                && let Some(v4) = v6.network().to_ipv4_mapped()
                && v6.prefix_len() >= 96
            {
                let v4net = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                    .map_err(|_| CidrError(s.into()))?;
                return Ok(Cidr(IpNet::V4(v4net.trunc())));
            }
            return Ok(Cidr(net.trunc()));
        }
        match IpAddr::from_str(s) {
            Ok(addr) => Ok(Cidr::host(addr)),
            Err(_) => Err(CidrError(s.to_owned())),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(de)?;
        Cidr::from_str(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_str(self)
    }
}

/// A set of networks that are never banned. Lookups are linear: allowlists hold a handful
/// of networks, and the check runs once per address that crosses the threshold, not per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    nets: Vec<Cidr>,
}

impl Allowlist {
    pub fn new(nets: impl IntoIterator<Item = Cidr>) -> Allowlist {
        Allowlist {
            nets: nets.into_iter().collect(),
        }
    }

    pub fn push(&mut self, net: Cidr) {
        self.nets.push(net);
    }

    /// The first network that holds `addr`.
    pub fn find(&self, addr: IpAddr) -> Option<&Cidr> {
        self.nets.iter().find(|net| net.contains(addr))
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.find(addr).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Cidr> {
        self.nets.iter()
    }
}

/// The client address of the SSH session this command runs in (`SSH_CONNECTION` is
/// `client-addr client-port server-addr server-port`; `SSH_CLIENT` is the older form).
pub fn ssh_session_client(
    ssh_connection: Option<&str>,
    ssh_client: Option<&str>,
) -> Option<IpAddr> {
    [ssh_connection, ssh_client]
        .into_iter()
        .flatten()
        .find_map(|v| {
            v.split_ascii_whitespace()
                .next()
                .and_then(|t| parse_ip(t.as_bytes()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_ip_accepts_whole_literals_only() {
        assert_eq!(parse_ip(b"192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(parse_ip(b"2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip(b"2001:DB8:0:0::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip(b"fe80::1%eth0"), Some(ip("fe80::1")));
        assert_eq!(parse_ip(b"::ffff:203.0.113.9"), Some(ip("203.0.113.9")));
        assert_eq!(parse_ip(b"0.0.0.0"), Some(ip("0.0.0.0")));
        assert_eq!(parse_ip(b"255.255.255.255"), Some(ip("255.255.255.255")));
        assert_eq!(parse_ip(b"10.0.100.9"), Some(ip("10.0.100.9")));
        for bad in [
            &b"203.0.113.300"[..],
            b"192.030.0.6",
            b"203.0.113.5.dyn.example.net",
            b"example.com",
            b"",
            b"192.0.2.1%eth0",
            b"1.2.3",
            b"\xff\xfe",
            // Edges of the byte-level IPv4 path.
            b"256.0.0.1",
            b"1.2.3.4.",
            b".1.2.3",
            b"1..2.3",
            b"01.2.3.4",
            b"1.2.3.0004",
            b"1.2.3.1000",
            b"+1.2.3.4",
            b"1.2.3.4 ",
            b"1.2.3.4\0",
        ] {
            assert_eq!(parse_ip(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_ip(&[b'1'; 100_000]), None);
    }

    #[test]
    fn u128_round_trip_keeps_families() {
        for a in ["192.0.2.1", "2001:db8::1", "::1", "0.0.0.0"] {
            assert_eq!(from_u128(to_u128(ip(a))), ip(a));
        }
    }

    #[test]
    fn cidr_parses_networks_hosts_and_mapped_forms() {
        let net: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains(ip("10.200.0.1")));
        assert!(net.contains(ip("::ffff:10.200.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        let host: Cidr = "2001:db8::5".parse().unwrap();
        assert_eq!(host.to_string(), "2001:db8::5");
        assert!(host.contains(ip("2001:db8::5")));
        assert!(!host.contains(ip("2001:db8::6")));
        let mapped: Cidr = "::ffff:192.0.2.0/120".parse().unwrap();
        assert_eq!(mapped.to_string(), "192.0.2.0/24");
        assert!("192.0.2.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn ssh_connection_names_the_client() {
        assert_eq!(
            ssh_session_client(Some("198.51.100.7 52100 192.0.2.1 22"), None),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            ssh_session_client(None, Some("2001:db8::7 52100 22")),
            Some(ip("2001:db8::7"))
        );
        assert_eq!(ssh_session_client(Some("garbage"), None), None);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// What std says about `bytes` as an IPv4 literal.
    fn std_ipv4(bytes: &[u8]) -> Option<std::net::Ipv4Addr> {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }

    /// Dotted parts with optional zero padding, some out of range, sometimes not four.
    fn dotted() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec((0u32..1200, 0usize..3), 1..6).prop_map(|parts| {
            parts
                .iter()
                .map(|&(v, pad)| format!("{}{v}", "0".repeat(pad)))
                .collect::<Vec<_>>()
                .join(".")
                .into_bytes()
        })
    }

    proptest! {
        // The byte-level IPv4 fast path must accept exactly what std accepts, with the same value.
        #[test]
        fn ipv4_fast_path_agrees_with_std_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            prop_assert_eq!(parse_ipv4(&bytes), std_ipv4(&bytes));
        }

        #[test]
        fn ipv4_fast_path_agrees_with_std_on_digits_and_dots(text in "[0-9.]{0,18}") {
            prop_assert_eq!(parse_ipv4(text.as_bytes()), std_ipv4(text.as_bytes()));
        }

        #[test]
        fn ipv4_fast_path_agrees_with_std_on_dotted_quads(bytes in dotted()) {
            prop_assert_eq!(parse_ipv4(&bytes), std_ipv4(&bytes));
        }

        #[test]
        fn ipv4_fast_path_accepts_every_address(a in any::<u32>()) {
            let addr = std::net::Ipv4Addr::from(a);
            prop_assert_eq!(parse_ipv4(addr.to_string().as_bytes()), Some(addr));
            prop_assert_eq!(parse_ip(addr.to_string().as_bytes()), Some(IpAddr::V4(addr)));
        }

        // The memo never changes a result, over runs of repeated, similar and other tokens.
        #[test]
        fn parse_ip_memo_is_invisible(picks in proptest::collection::vec(0usize..10, 1..30)) {
            const TOKENS: [&[u8]; 10] = [
                b"192.0.2.1", b"192.0.2.10", b"192.0.2.1x", b"2001:db8::1", b"2001:db8::1%eth0",
                b"", b"host.example", b"::ffff:192.0.2.1", b"192.0.2", b"2001:db8::",
            ];
            for i in picks {
                prop_assert_eq!(parse_ip(TOKENS[i]), parse_ip_uncached(TOKENS[i]));
            }
        }

        // parse_ip as a whole agrees with the std-only version it replaced, on any token.
        #[test]
        fn parse_ip_agrees_with_std(bytes in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b':'), Just(b'%'), b'0'..=b'9', b'a'..=b'f', any::<u8>()], 0..48)) {
            let want = (|| {
                let t = match memchr::memchr(b'%', &bytes) {
                    Some(pct) if memchr::memchr(b':', &bytes[..pct]).is_some() => &bytes[..pct],
                    Some(_) => return None,
                    None => &bytes[..],
                };
                if bytes.is_empty() {
                    return None;
                }
                std::str::from_utf8(t).ok()?.parse::<IpAddr>().ok().map(canonical)
            })();
            prop_assert_eq!(parse_ip(&bytes), want);
        }
    }

    proptest! {
        // The allowlist must agree with a naive scan over every address of each network.
        #[test]
        fn allowlist_agrees_with_naive_scan(nets in proptest::collection::vec((any::<u32>(), 8u8..=32), 0..6), probe in any::<u32>()) {
            let cidrs: Vec<Cidr> = nets.iter().map(|&(a, p)| {
                Cidr(IpNet::V4(ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(a), p).unwrap().trunc()))
            }).collect();
            let list = Allowlist::new(cidrs.clone());
            let addr = std::net::Ipv4Addr::from(probe);
            let naive = nets.iter().any(|&(a, p)| {
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                (a & mask) == (probe & mask)
            });
            prop_assert_eq!(list.contains(IpAddr::V4(addr)), naive);
        }
    }
}
