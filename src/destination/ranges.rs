//! The address ranges cordon never connects to on a server's behalf unless
//! an allowlist entry names them by address: the host itself (loopback,
//! unspecified), the local networks (private, link-local, carrier-grade
//! NAT, unique local), cloud metadata services, multicast, broadcast and
//! reserved space, and IPv6 forms that embed one of those IPv4 addresses
//! (IPv4-mapped, NAT64, 6to4).
//!
//! The table is ordered: a more specific entry (a metadata address) comes
//! before the range that contains it, so the reason names it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{IpNet, canonical};

/// (network, prefix length, reason).
const V4: &[(Ipv4Addr, u8, &str)] = &[
    (
        Ipv4Addr::new(169, 254, 169, 254),
        32,
        "cloud metadata service",
    ),
    (
        Ipv4Addr::new(169, 254, 170, 2),
        32,
        "cloud metadata service",
    ),
    (
        Ipv4Addr::new(100, 100, 100, 200),
        32,
        "cloud metadata service",
    ),
    (
        Ipv4Addr::new(168, 63, 129, 16),
        32,
        "cloud metadata service",
    ),
    (Ipv4Addr::new(192, 0, 0, 192), 32, "cloud metadata service"),
    (Ipv4Addr::new(0, 0, 0, 0), 8, "this host (0.0.0.0/8)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private range (10.0.0.0/8)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "carrier-grade NAT range (100.64.0.0/10)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (
        Ipv4Addr::new(172, 16, 0, 0),
        12,
        "private range (172.16.0.0/12)",
    ),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    (
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        "private range (192.168.0.0/16)",
    ),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        "benchmarking range (198.18.0.0/15; cordon's names inside the sandbox)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(255, 255, 255, 255), 32, "broadcast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved (240.0.0.0/4)"),
];

const V6: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified address"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (
        Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
        128,
        "cloud metadata service",
    ),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        96,
        "IPv4-compatible (deprecated, ::/96)",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard prefix (100::/64)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local range (fc00::/7)",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local (deprecated, fec0::/10)",
    ),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

fn net(addr: IpAddr, prefix: u8) -> IpNet {
    // The table's networks have no host bits set (checked by a test).
    IpNet { addr, prefix }
}

fn table() -> impl Iterator<Item = (IpNet, &'static str)> {
    let v4 = V4.iter().map(|&(a, p, r)| (net(IpAddr::V4(a), p), r));
    let v6 = V6.iter().map(|&(a, p, r)| (net(IpAddr::V6(a), p), r));
    v4.chain(v6)
}

/// Why cordon refuses `ip` unless an entry names it by address, or None
/// for an ordinary public address.
pub fn refused_reason(ip: IpAddr) -> Option<String> {
    let ip = canonical(ip);
    if let Some((_, reason)) = table().find(|(n, _)| n.contains(ip)) {
        return Some(reason.to_owned());
    }
    // IPv6 forms that carry an IPv4 address a gateway would reach.
    let IpAddr::V6(v6) = ip else { return None };
    let s = v6.segments();
    let embedded = match s {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(("NAT64", hi, lo)),
        [0x2002, hi, lo, ..] => Some(("6to4", hi, lo)),
        _ => None,
    };
    let (kind, hi, lo) = embedded?;
    let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    refused_reason(IpAddr::V4(v4)).map(|r| format!("{kind} form of {v4}: {r}"))
}

/// A refused range that `entry` reaches into, for the consent warning;
/// None when the entry holds public addresses only.
pub fn overlaps_refused(entry: &IpNet) -> Option<&'static str> {
    table()
        .find(|(n, _)| n.contains(entry.addr) || entry.contains(n.addr))
        .map(|(_, reason)| reason)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Option<String> {
        refused_reason(text.parse().unwrap())
    }

    #[test]
    fn table_networks_are_well_formed() {
        for (n, _) in table() {
            assert!(IpNet::new(n.addr, n.prefix).is_ok(), "{n}");
        }
    }

    #[test]
    fn local_and_special_addresses_are_refused() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.1.2.3", "loopback"),
            ("0.0.0.0", "this host"),
            ("10.20.30.40", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("169.254.169.254", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("224.0.0.251", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("198.18.0.1", "benchmarking"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fd12::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            (
                "64:ff9b::a9fe:a9fe",
                "NAT64 form of 169.254.169.254: cloud metadata",
            ),
            ("2002:0a00:0001::", "6to4 form of 10.0.0.1: private"),
            ("::10.0.0.1", "IPv4-compatible"),
        ] {
            let got = reason(ip).unwrap_or_default();
            assert!(got.contains(why), "{ip}: {got:?} lacks {why:?}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "140.82.112.6",
            "172.32.0.1",
            "100.128.0.1",
            "2606:50c0:8000::154",
            "64:ff9b::8c52:7006",
            "::ffff:140.82.112.6",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn entries_reaching_into_refused_ranges_are_found() {
        let all = IpNet::new("0.0.0.0".parse().unwrap(), 0).unwrap();
        assert!(overlaps_refused(&all).is_some());
        let lan = IpNet::new("192.168.1.0".parse().unwrap(), 24).unwrap();
        assert!(overlaps_refused(&lan).unwrap().contains("private"));
        let public = IpNet::new("198.51.100.0".parse().unwrap(), 24).unwrap();
        assert_eq!(overlaps_refused(&public), None);
    }
}
