//! The forwarder's decisions: which names the server may look up, which
//! destinations it may reach, and which addresses cordon may connect to.
//!
//! The explicit-naming rule: an address in the refused ranges (loopback,
//! private, link-local, metadata, …; see `destination::refused_reason`)
//! is reached only when an entry names it by address (an IP or CIDR entry
//! with that port), however the server asked for it. A name entry never
//! reaches such an address by itself: `b.example:443` resolving to
//! 10.0.0.5 is refused, unless `10.0.0.0/8:443` is listed too, which lets
//! the server dial 10.0.0.5:443 directly anyway, so the name adds no
//! reach. This is what stops DNS rebinding: every address a name resolves
//! to is checked when cordon connects, and only a checked address is
//! dialed.
//!
//! The host's own addresses (every address of its interfaces, see `own`)
//! count as refused like loopback: `*:8443` does not reach a service the
//! host itself runs on its public address.

use std::net::IpAddr;

use super::own::OwnAddresses;
use crate::destination::refused_reason;
use crate::policy::{Destination, HostPattern};

/// The allowlist, ready for queries.
#[derive(Debug, Clone)]
pub struct Rules {
    allow: Vec<Destination>,
    own: OwnAddresses,
}

impl Rules {
    /// Parses the canonical entries the forwarder was configured with.
    pub fn parse(entries: &[String]) -> Result<Rules, String> {
        let allow = entries
            .iter()
            .map(|e| e.parse::<Destination>())
            .collect::<Result<_, _>>()?;
        Ok(Rules {
            allow,
            own: OwnAddresses::System,
        })
    }

    /// Why `ip` is refused unless an entry names it by address: a refused
    /// range, or one of the host's own addresses.
    fn refused(&self, ip: IpAddr) -> Option<String> {
        refused_reason(ip).or_else(|| self.own.refused_reason(ip))
    }

    /// Whether the server may look `name` up: some entry names it, on any
    /// port (its port is checked when it connects).
    pub fn knows_name(&self, name: &str) -> bool {
        self.allow.iter().any(|d| d.host.matches_name(name))
    }

    /// Whether the server may connect to `name` on `port`.
    pub fn name_allowed(&self, name: &str, port: u16) -> bool {
        self.allow
            .iter()
            .any(|d| d.port == port && d.host.matches_name(name))
    }

    fn named_by_address(&self, ip: IpAddr, port: u16) -> bool {
        self.allow.iter().any(|d| match &d.host {
            HostPattern::Net(net) => d.port == port && net.contains(ip),
            _ => false,
        })
    }

    /// An address the server dialed itself (or gave the proxy): allowed by
    /// an address entry, or by `*` when it is an ordinary public address.
    pub fn check_dialed(&self, ip: IpAddr, port: u16) -> Result<(), String> {
        if self.named_by_address(ip, port) {
            return Ok(());
        }
        if let Some(reason) = self.refused(ip) {
            return Err(reason);
        }
        let any = self
            .allow
            .iter()
            .any(|d| d.port == port && d.host == HostPattern::Any);
        if any {
            Ok(())
        } else {
            Err("not in the allowlist".into())
        }
    }

    /// An address an allowed name resolved to: anything but the refused
    /// ranges, unless an address entry names it.
    pub fn check_resolved(&self, ip: IpAddr, port: u16) -> Result<(), String> {
        if self.named_by_address(ip, port) {
            return Ok(());
        }
        self.refused(ip).map_or(Ok(()), Err)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rules(entries: &[&str]) -> Rules {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        let mut rules = Rules::parse(&entries).unwrap();
        rules.own = OwnAddresses::Fixed(vec![
            (ip("203.0.113.5"), "eth0".into()),
            (ip("2001:db8::5"), "eth0".into()),
        ]);
        rules
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn names_are_allowed_per_port() {
        let r = rules(&["api.github.com:443", "*.npmjs.org:443"]);
        assert!(r.knows_name("api.github.com"));
        assert!(r.name_allowed("api.github.com", 443));
        assert!(!r.name_allowed("api.github.com", 80));
        assert!(r.name_allowed("registry.npmjs.org", 443));
        assert!(!r.knows_name("npmjs.org"));
        assert!(!r.knows_name("github.com"));
    }

    #[test]
    fn dialed_addresses_need_an_entry() {
        let r = rules(&[
            "203.0.113.7:8443",
            "198.51.100.0/24:443",
            "*:80",
            "10.1.2.3:22",
        ]);
        assert!(r.check_dialed(ip("203.0.113.7"), 8443).is_ok());
        assert!(r.check_dialed(ip("203.0.113.7"), 443).is_err());
        assert!(r.check_dialed(ip("198.51.100.200"), 443).is_ok());
        assert!(r.check_dialed(ip("140.82.112.6"), 80).is_ok());
        assert_eq!(
            r.check_dialed(ip("140.82.112.6"), 443).unwrap_err(),
            "not in the allowlist"
        );
        // `*` never covers the refused ranges; an address entry does.
        assert_eq!(r.check_dialed(ip("127.0.0.1"), 80).unwrap_err(), "loopback");
        assert!(r.check_dialed(ip("::ffff:169.254.169.254"), 80).is_err());
        assert!(r.check_dialed(ip("10.1.2.3"), 22).is_ok());
        assert!(r.check_dialed(ip("10.1.2.4"), 22).is_err());
    }

    #[test]
    fn resolved_addresses_in_refused_ranges_need_an_address_entry() {
        let r = rules(&["a.example:443", "10.1.2.3:443"]);
        assert!(r.check_resolved(ip("140.82.112.6"), 443).is_ok());
        assert!(r.check_resolved(ip("10.1.2.3"), 443).is_ok());
        let err = r.check_resolved(ip("10.9.9.9"), 443).unwrap_err();
        assert!(err.contains("private"), "{err}");
        assert!(r.check_resolved(ip("fd00:ec2::254"), 443).is_err());
        assert!(r.check_resolved(ip("::ffff:127.0.0.1"), 443).is_err());
    }

    #[test]
    fn own_addresses_are_refused_like_loopback() {
        let r = rules(&["*:8443", "self.example:8443"]);
        let own = "this host's own address (interface eth0)";
        assert_eq!(r.check_dialed(ip("203.0.113.5"), 8443).unwrap_err(), own);
        assert_eq!(r.check_dialed(ip("2001:db8::5"), 8443).unwrap_err(), own);
        assert_eq!(
            r.check_dialed(ip("::ffff:203.0.113.5"), 8443).unwrap_err(),
            own
        );
        assert_eq!(r.check_resolved(ip("203.0.113.5"), 8443).unwrap_err(), own);
        assert!(r.check_dialed(ip("203.0.113.6"), 8443).is_ok());
        // Named by address, it is reached.
        let r = rules(&["203.0.113.5:8443", "[2001:db8::5]:8443"]);
        assert!(r.check_dialed(ip("203.0.113.5"), 8443).is_ok());
        assert!(r.check_resolved(ip("2001:db8::5"), 8443).is_ok());
        assert!(r.check_dialed(ip("203.0.113.5"), 8444).is_err());
    }
}
