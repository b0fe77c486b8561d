//! Parsing of `HOST:PORT` entries and of host names. Each error is one
//! sentence about the entry; the caller adds the file position and key.

use std::net::IpAddr;

use super::{Destination, HostPattern, IpNet};

const EXAMPLE: &str = "expected HOST:PORT, e.g. \"api.github.com:443\"";

pub(super) fn destination(text: &str) -> Result<Destination, String> {
    if text.is_empty() {
        return Err(format!("empty entry ({EXAMPLE})"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "\"{}\" contains white space or control characters ({EXAMPLE})",
            text.escape_debug()
        ));
    }
    let (host, port) = split(text)?;
    let port = port_number(text, port)?;
    let host = match host {
        Host::Bracketed(inner) => HostPattern::Net(network(inner, true)?),
        Host::Plain(h) => host_pattern(h)?,
    };
    Ok(Destination { host, port })
}

enum Host<'a> {
    /// `[…]`: an IPv6 address or network.
    Bracketed(&'a str),
    Plain(&'a str),
}

fn split(text: &str) -> Result<(Host<'_>, &str), String> {
    let missing_port = || format!("\"{}\" has no port ({EXAMPLE})", text.escape_debug());
    if let Some(rest) = text.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or_else(|| {
            format!(
                "\"{}\" opens a bracket but does not close it (expected \"[2001:db8::1]:443\")",
                text.escape_debug()
            )
        })?;
        let port = after.strip_prefix(':').ok_or_else(missing_port)?;
        return Ok((Host::Bracketed(inner), port));
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(missing_port)?;
    if host.contains(':') {
        return Err(format!(
            "\"{}\": an IPv6 address needs brackets, as in \"[2001:db8::1]:443\"",
            text.escape_debug()
        ));
    }
    if host.is_empty() {
        return Err(format!(
            "\"{}\" has no host ({EXAMPLE})",
            text.escape_debug()
        ));
    }
    Ok((Host::Plain(host), port))
}

fn port_number(text: &str, port: &str) -> Result<u16, String> {
    if port == "*" {
        return Err(format!(
            "\"{}\": a port must be a number; list each port as its own entry",
            text.escape_debug()
        ));
    }
    let valid = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u32>() {
        Ok(0) if valid => Err(format!(
            "\"{}\": port 0 is not a port (expected 1-65535)",
            text.escape_debug()
        )),
        Ok(n) if valid && n <= 65535 => Ok(n as u16),
        _ => Err(format!(
            "\"{}\": invalid port \"{}\" (expected 1-65535)",
            text.escape_debug(),
            port.escape_debug()
        )),
    }
}

fn host_pattern(host: &str) -> Result<HostPattern, String> {
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host.contains('/') || host.parse::<IpAddr>().is_ok() {
        return Ok(HostPattern::Net(network(host, false)?));
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            return Err(star_misplaced(host));
        }
        return checked_name(domain).map(HostPattern::Suffix);
    }
    if host.contains('*') {
        return Err(star_misplaced(host));
    }
    checked_name(host).map(HostPattern::Name)
}

fn star_misplaced(host: &str) -> String {
    format!(
        "\"{}\": `*` may only stand for the whole host (\"*:443\") or for the first label (\"*.example.com:443\")",
        host.escape_debug()
    )
}

/// `addr` or `addr/prefix`; IPv6 only inside brackets, IPv4 only outside.
fn network(text: &str, bracketed: bool) -> Result<IpNet, String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!(
            "\"{}\" is not an IP address{}",
            addr.escape_debug(),
            if bracketed {
                " (brackets hold an IPv6 address)"
            } else {
                ""
            }
        )
    })?;
    if ip.is_ipv6() != bracketed {
        return Err(if bracketed {
            format!("\"[{text}]\": only IPv6 addresses go in brackets; write \"{text}:PORT\"")
        } else {
            format!("\"{text}\": an IPv6 address needs brackets, as in \"[2001:db8::/32]:443\"")
        });
    }
    if let IpAddr::V6(v6) = ip {
        if v6.to_ipv4_mapped().is_some() {
            return Err(format!(
                "\"{text}\" is an IPv4-mapped address; write the IPv4 address instead"
            ));
        }
    }
    let prefix = match prefix {
        None => return Ok(IpNet::host(ip)),
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u8>()
            .map_err(|_| format!("invalid prefix length \"/{p}\""))?,
        Some(p) => {
            return Err(format!(
                "invalid prefix length \"/{}\" in \"{}\"",
                p.escape_debug(),
                text.escape_debug()
            ));
        }
    };
    IpNet::new(ip, prefix)
}

fn checked_name(name: &str) -> Result<String, String> {
    normalize_name(name).ok_or_else(|| {
        let numeric = name
            .rsplit('.')
            .next()
            .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
        if numeric {
            format!(
                "\"{}\" is neither an IP address nor a host name",
                name.escape_debug()
            )
        } else {
            format!(
                "\"{}\" is not a host name (dot-separated labels of letters, digits, - and _; \
                 internationalised names in their xn-- form)",
                name.escape_debug()
            )
        }
    })
}

/// A host name as cordon compares it: lowercase, without a trailing dot.
/// None when `name` is not a host name: labels of 1-63 letters, digits,
/// `-` and `_` (not starting or ending with `-`), 253 characters in all,
/// and a last label that is not all digits (`1.2.3` would be read as an
/// address by the system's resolver).
pub fn normalize_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !name.split('.').all(label_ok) {
        return None;
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::Destination;

    fn ok(text: &str) -> String {
        text.parse::<Destination>().unwrap().to_string()
    }

    fn err(text: &str) -> String {
        text.parse::<Destination>().unwrap_err()
    }

    #[test]
    fn entries_parse_to_their_canonical_text() {
        assert_eq!(ok("api.github.com:443"), "api.github.com:443");
        assert_eq!(ok("API.GitHub.com.:443"), "api.github.com:443");
        assert_eq!(ok("*.npmjs.org:443"), "*.npmjs.org:443");
        assert_eq!(ok("*:80"), "*:80");
        assert_eq!(ok("203.0.113.7:8443"), "203.0.113.7:8443");
        assert_eq!(ok("198.51.100.0/24:443"), "198.51.100.0/24:443");
        assert_eq!(ok("[2001:db8::1]:443"), "[2001:db8::1]:443");
        assert_eq!(ok("[2001:db8::/32]:443"), "[2001:db8::/32]:443");
        assert_eq!(ok("10.0.0.0/8:22"), "10.0.0.0/8:22");
        assert_eq!(ok("_srv.example:1"), "_srv.example:1");
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        assert!(err("api.github.com").contains("has no port"));
        assert!(err("api.github.com:").contains("invalid port"));
        assert!(err("api.github.com:0").contains("port 0"));
        assert!(err("api.github.com:65536").contains("invalid port"));
        assert!(err("api.github.com:*").contains("must be a number"));
        assert!(err("api.*.com:443").contains("`*` may only"));
        assert!(err("*.*.com:443").contains("`*` may only"));
        assert!(err("a*.com:443").contains("`*` may only"));
        assert!(err("2001:db8::1:443").contains("needs brackets"));
        assert!(err("[2001:db8::1:443").contains("does not close"));
        assert!(err("[10.0.0.1]:443").contains("only IPv6"));
        assert!(err("10.0.0.0/33:443").contains("too long"));
        assert!(err("10.0.0.1/8:443").contains("write 10.0.0.0/8"));
        assert!(err("10.0.0.0/:443").contains("prefix length"));
        assert!(err("10.0.0/8:443").contains("not an IP address"));
        assert!(err("1.2.3:443").contains("neither an IP address nor a host name"));
        assert!(err("bad_-.ex ample:1").contains("white space"));
        assert!(err("-bad.example:1").contains("not a host name"));
        assert!(err("münchen.de:443").contains("xn--"));
        assert!(err("[::ffff:10.0.0.1]:443").contains("IPv4-mapped"));
        assert!(err(":443").contains("no host"));
        assert!(err("").contains("empty"));
    }
}
