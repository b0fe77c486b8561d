//! The sandbox's name server: what the forwarder answers to each question
//! the server asks at 127.0.0.53.
//!
//! A name the allowlist names (on any port) gets a synthetic IPv4 address
//! and no IPv6 one, so clients connect over IPv4 to an address the
//! forwarder maps back to the name. `localhost` is the sandbox's own
//! loopback. Every other name does not exist, and the refusal is reported.
//! No question leaves the sandbox: the real lookup happens on the host,
//! when the server connects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::dns::{self, Names, Question};
use super::report::{Fix, Reporter};
use super::rules::Rules;
use crate::destination::normalize_name;

/// The reply to one packet, or None when it deserves none.
pub fn reply(
    rules: &Rules,
    names: &mut Names,
    report: &mut Reporter,
    packet: &[u8],
) -> Option<Vec<u8>> {
    let q = match dns::parse_question(packet) {
        Ok(q) => q,
        Err(Some(id)) => return Some(dns::format_error(id)),
        Err(None) => return None,
    };
    let (rcode, answers) = decide(rules, names, report, &q);
    Some(dns::reply(packet, &q, rcode, &answers))
}

fn decide(
    rules: &Rules,
    names: &mut Names,
    report: &mut Reporter,
    q: &Question,
) -> (u8, Vec<IpAddr>) {
    const CLASS_IN: u16 = 1;
    if q.qclass != CLASS_IN {
        return (dns::REFUSED, Vec::new());
    }
    // parse_question let only printable ASCII through: safe to print.
    let Some(name) = normalize_name(&q.name) else {
        if !q.name.is_empty() {
            report.refused_name(
                &q.name,
                "not a host name",
                Fix::Impossible("not a host name, which no allowlist entry can name".into()),
            );
        }
        return (dns::NXDOMAIN, Vec::new());
    };
    if name == "localhost" || name.ends_with(".localhost") {
        let own = match q.qtype {
            dns::TYPE_A => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            dns::TYPE_AAAA => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
            _ => Vec::new(),
        };
        return (dns::NOERROR, own);
    }
    if !rules.knows_name(&name) {
        // The port it would have connected to is not known from a lookup:
        // HTTPS's is the likely one.
        report.refused_name(
            &name,
            "name not in the allowlist",
            Fix::Allow(format!("{name}:443")),
        );
        return (dns::NXDOMAIN, Vec::new());
    }
    if q.qtype != dns::TYPE_A {
        return (dns::NOERROR, Vec::new());
    }
    match names.address_of(&name) {
        Some(addr) => (dns::NOERROR, vec![IpAddr::V4(addr)]),
        None => {
            report.failed(&name, "cordon has handed out every synthetic address");
            (dns::SERVFAIL, Vec::new())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ask(names: &mut Names, name: &str, qtype: u16) -> Result<Vec<IpAddr>, String> {
        let rules = Rules::parse(&["*.example:443".to_owned()]).unwrap();
        let mut report = Reporter::new(None, "test".into(), None);
        let packet = dns::query(42, name, qtype);
        let answer = reply(&rules, names, &mut report, &packet).unwrap();
        dns::parse_reply(&answer, 42, qtype)
    }

    #[test]
    fn allowed_names_get_synthetic_ipv4_only() {
        let mut names = Names::default();
        let a = ask(&mut names, "api.example", dns::TYPE_A).unwrap();
        assert_eq!(a, vec![IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))]);
        assert_eq!(ask(&mut names, "API.Example", dns::TYPE_A).unwrap(), a);
        assert!(
            ask(&mut names, "api.example", dns::TYPE_AAAA)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn other_names_do_not_exist_and_localhost_is_local() {
        let mut names = Names::default();
        assert_eq!(
            ask(&mut names, "evil.test", dns::TYPE_A).unwrap_err(),
            "no such name"
        );
        assert_eq!(
            ask(&mut names, "localhost", dns::TYPE_A).unwrap(),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
    }
}
