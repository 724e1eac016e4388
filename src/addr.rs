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
    // The longest textual IPv6 address with a zone is well under 64 bytes; reject early so
    // a megabyte token costs nothing.
    if token.is_empty() || token.len() > 64 {
        return None;
    }
    let token = match memchr::memchr(b'%', token) {
        // A zone only exists on IPv6 link-local addresses.
        Some(pct) if memchr::memchr(b':', &token[..pct]).is_some() => &token[..pct],
        Some(_) => return None,
        None => token,
    };
    let text = std::str::from_utf8(token).ok()?;
    IpAddr::from_str(text).ok().map(canonical)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// The addresses of this host's interfaces (so a misparsed line or 9.8p1's swapped
/// addresses never make us ban ourselves). Errors are not fatal: an empty list only
/// loses that extra safety, and loopback is refused separately.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for ifa in addrs {
            let Some(sa) = ifa.address else { continue };
            if let Some(v4) = sa.as_sockaddr_in() {
                out.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                out.push(canonical(IpAddr::V6(v6.ip())));
            }
        }
    }
    out.sort();
    out.dedup();
    out
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
        for bad in [
            &b"203.0.113.300"[..],
            b"192.030.0.6",
            b"203.0.113.5.dyn.example.net",
            b"example.com",
            b"",
            b"192.0.2.1%eth0",
            b"1.2.3",
            b"\xff\xfe",
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
