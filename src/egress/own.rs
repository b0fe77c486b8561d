//! The host's own addresses: every address on one of its interfaces
//! reaches the host itself (its services bound to `0.0.0.0` or `::`),
//! just as loopback does, so it is refused like loopback unless an entry
//! names it by address.
//!
//! The forwarder lives in the host's network namespace and lists the
//! interfaces at every check rather than once at start: an address the
//! host gains later (DHCP, a VPN, a container bridge) is refused too.

use std::net::IpAddr;

use crate::destination::canonical;

/// Where the own addresses come from.
#[derive(Debug, Clone)]
pub enum OwnAddresses {
    /// The interfaces of the network namespace the forwarder runs in.
    System,
    /// A fixed list, for tests.
    #[cfg_attr(not(test), allow(dead_code))]
    Fixed(Vec<(IpAddr, String)>),
}

impl OwnAddresses {
    /// Why `ip` is refused as the host's own address (naming the
    /// interface), or None. A listing that fails refuses everything: the
    /// check cannot decide.
    pub fn refused_reason(&self, ip: IpAddr) -> Option<String> {
        let ip = canonical(ip);
        match self {
            OwnAddresses::System => match list() {
                Ok(all) => reason_in(&all, ip),
                Err(e) => Some(format!("cannot list the host's own addresses: {e}")),
            },
            OwnAddresses::Fixed(all) => reason_in(all, ip),
        }
    }
}

fn reason_in(all: &[(IpAddr, String)], ip: IpAddr) -> Option<String> {
    all.iter()
        .find(|(own, _)| *own == ip)
        .map(|(_, name)| format!("this host's own address (interface {name})"))
}

/// Every IPv4 and IPv6 address on the interfaces, with the interface's
/// name.
fn list() -> Result<Vec<(IpAddr, String)>, nix::errno::Errno> {
    let mut out = Vec::new();
    for entry in nix::ifaddrs::getifaddrs()? {
        let Some(addr) = entry.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        out.push((canonical(ip), entry.interface_name));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_interfaces_can_be_listed() {
        assert!(list().is_ok());
    }

    #[test]
    fn fixed_addresses_are_refused_with_their_interface() {
        let own = OwnAddresses::Fixed(vec![
            ("203.0.113.5".parse().unwrap(), "eth0".into()),
            ("2001:db8::5".parse().unwrap(), "eth0".into()),
        ]);
        let why = own.refused_reason("203.0.113.5".parse().unwrap()).unwrap();
        assert_eq!(why, "this host's own address (interface eth0)");
        assert!(
            own.refused_reason("::ffff:203.0.113.5".parse().unwrap())
                .is_some()
        );
        assert!(own.refused_reason("2001:db8::5".parse().unwrap()).is_some());
        assert!(own.refused_reason("203.0.113.6".parse().unwrap()).is_none());
    }
}
