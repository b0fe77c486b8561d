//! Allowlist entries of network mode `filtered`: `HOST:PORT`, where HOST
//! is a host name, a name pattern (`*.example.com`), `*`, a literal
//! address or a CIDR network (IPv6 in brackets).
//!
//! Plain data and pure functions, shared by profile validation, the
//! consent text and the egress forwarder: parsing (`parse`), the canonical
//! text (`Display`, which parses back to the same entry), name syntax, and
//! the address ranges cordon refuses unless an entry names them by address
//! (`ranges`). A leaf: it uses nothing else of cordon.

mod parse;
mod ranges;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

pub use parse::normalize_name;
pub use ranges::{overlaps_refused, refused_reason};

/// Where cordon's name server inside the sandbox places the names it
/// answers (RFC 2544's benchmarking range, which no real host uses; what
/// other fake-address resolvers use too). Always refused as a destination.
pub const SYNTHETIC_BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
pub const SYNTHETIC_PREFIX: u8 = 15;

/// [`SYNTHETIC_BASE`]/[`SYNTHETIC_PREFIX`] as a network.
pub fn synthetic_net() -> IpNet {
    IpNet {
        addr: IpAddr::V4(SYNTHETIC_BASE),
        prefix: SYNTHETIC_PREFIX,
    }
}

/// One entry of `network.allow`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub host: HostPattern,
    /// Always one port: every port needs a listener in the sandbox.
    pub port: u16,
}

/// What an entry's host part matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// `*`: every host name, and every address dialed literally that is
    /// not in the refused ranges.
    Any,
    /// Exactly this name (lowercase, no trailing dot).
    Name(String),
    /// `*.example.com`: every name below this domain, not the domain itself.
    Suffix(String),
    /// A literal address or network: these addresses, including those in
    /// the ranges cordon otherwise refuses (the only way to reach them).
    Net(IpNet),
}

/// An address and a prefix length, with the bits below the prefix zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// `addr/prefix`; refuses a prefix longer than the address and host
    /// bits set below it (so `10.0.0.1/8` is not silently `10.0.0.0/8`).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, String> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(format!(
                "prefix length /{prefix} is too long for {addr} (at most /{max})"
            ));
        }
        let net = IpNet { addr, prefix };
        if net.mask(addr) != bits(addr) {
            let base = from_bits(addr, net.mask(addr));
            return Err(format!(
                "{addr}/{prefix} has bits set below the prefix (write {base}/{prefix})"
            ));
        }
        Ok(net)
    }

    /// One address.
    pub fn host(addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (an IPv4-mapped IPv6 address counts as IPv4) is in
    /// this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && self.mask(ip) == bits(self.addr)
    }

    fn mask(&self, ip: IpAddr) -> u128 {
        let width = u32::from(max_prefix(ip));
        let keep = u32::from(self.prefix);
        if keep == 0 {
            return 0;
        }
        let mask = (u128::MAX << (128 - keep)) >> (128 - width);
        bits(ip) & mask
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(like: IpAddr, value: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4((value as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(value.into()),
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it
/// reaches; anything else unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl HostPattern {
    /// Whether this pattern covers the host name `name` (normalized: see
    /// [`normalize_name`]).
    pub fn matches_name(&self, name: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Name(n) => n == name,
            HostPattern::Suffix(domain) => name
                .strip_suffix(domain.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            HostPattern::Net(_) => false,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self.port;
        match &self.host {
            HostPattern::Any => write!(f, "*:{port}"),
            HostPattern::Name(name) => write!(f, "{name}:{port}"),
            HostPattern::Suffix(domain) => write!(f, "*.{domain}:{port}"),
            HostPattern::Net(net) if net.addr.is_ipv6() => write!(f, "[{net}]:{port}"),
            HostPattern::Net(net) => write!(f, "{net}:{port}"),
        }
    }
}

impl std::str::FromStr for Destination {
    type Err = String;

    fn from_str(text: &str) -> Result<Destination, String> {
        parse::destination(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        let (addr, prefix) = text.split_once('/').unwrap();
        IpNet::new(addr.parse().unwrap(), prefix.parse().unwrap()).unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let n = net("198.51.100.0/24");
        assert!(n.contains("198.51.100.7".parse().unwrap()));
        assert!(n.contains("::ffff:198.51.100.7".parse().unwrap()));
        assert!(!n.contains("198.51.101.1".parse().unwrap()));
        assert!(!n.contains("2001:db8::1".parse().unwrap()));
        let all = net("0.0.0.0/0");
        assert!(all.contains("10.1.2.3".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let v6 = net("2001:db8::/32");
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::".parse().unwrap()));
        assert!(
            IpNet::host("203.0.113.7".parse().unwrap()).contains("203.0.113.7".parse().unwrap())
        );
    }

    #[test]
    fn host_bits_and_long_prefixes_are_refused() {
        let err = IpNet::new("10.0.0.1".parse().unwrap(), 8).unwrap_err();
        assert!(err.contains("write 10.0.0.0/8"), "{err}");
        assert!(IpNet::new("10.0.0.0".parse().unwrap(), 33).is_err());
    }

    #[test]
    fn suffix_patterns_match_names_below_the_domain_only() {
        let p = HostPattern::Suffix("npmjs.org".into());
        assert!(p.matches_name("registry.npmjs.org"));
        assert!(p.matches_name("a.b.npmjs.org"));
        assert!(!p.matches_name("npmjs.org"));
        assert!(!p.matches_name("evilnpmjs.org"));
        assert!(HostPattern::Any.matches_name("example.com"));
        assert!(!HostPattern::Name("a.example".into()).matches_name("b.a.example"));
    }
}
