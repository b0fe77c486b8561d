//! The little DNS the forwarder speaks (RFC 1035 wire format, UDP only):
//! answering the server's questions, asking a configured resolver, and the
//! pool of synthetic addresses that stand for allowed names inside the
//! sandbox.
//!
//! Answers never carry a real address: an allowed name gets a stable
//! address from 198.18.0.0/15, which the forwarder maps back to the name
//! when the server connects to it, and resolves for real only then, on the
//! host side, checking every address it gets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::destination::{SYNTHETIC_BASE, SYNTHETIC_PREFIX};

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
pub const NOERROR: u8 = 0;
pub const FORMERR: u8 = 1;
pub const SERVFAIL: u8 = 2;
pub const NXDOMAIN: u8 = 3;
pub const REFUSED: u8 = 5;
/// Seconds a synthetic answer may be cached; it stays valid all session.
const TTL: u32 = 300;

/// The one question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: u16,
    recursion: bool,
    /// As asked: labels joined with dots, not yet normalized.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question ends in the packet (it is echoed in the reply).
    end: usize,
}

fn u16_at(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]))
}

/// Reads a standard query with one question. `Err(Some(id))` for a
/// malformed one that deserves a FORMERR reply, `Err(None)` for one not
/// worth answering (too short, or itself a response).
pub fn parse_question(packet: &[u8]) -> Result<Question, Option<u16>> {
    if packet.len() < 12 {
        return Err(None);
    }
    let id = u16_at(packet, 0).ok_or(None)?;
    let flags = u16_at(packet, 2).ok_or(None)?;
    if flags & 0x8000 != 0 {
        return Err(None);
    }
    let opcode = (flags >> 11) & 0xf;
    if opcode != 0 || u16_at(packet, 4) != Some(1) {
        return Err(Some(id));
    }
    let mut at = 12;
    let mut name = String::new();
    loop {
        let len = usize::from(*packet.get(at).ok_or(Some(id))?);
        at += 1;
        if len == 0 {
            break;
        }
        // Compression pointers (and the reserved label types) have no
        // place in a question.
        if len > 63 || name.len() + len > 254 {
            return Err(Some(id));
        }
        let label = packet.get(at..at + len).ok_or(Some(id))?;
        if label.iter().any(|&b| b == b'.' || !b.is_ascii_graphic()) {
            return Err(Some(id));
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|&b| char::from(b)));
        at += len;
    }
    let qtype = u16_at(packet, at).ok_or(Some(id))?;
    let qclass = u16_at(packet, at + 2).ok_or(Some(id))?;
    Ok(Question {
        id,
        recursion: flags & 0x0100 != 0,
        name,
        qtype,
        qclass,
        end: at + 4,
    })
}

/// The reply to `q` (asked in `packet`) with `rcode` and these answers
/// (A or AAAA records by address family).
pub fn reply(packet: &[u8], q: &Question, rcode: u8, answers: &[IpAddr]) -> Vec<u8> {
    let mut flags: u16 = 0x8000 | 0x0400 | 0x0080 | u16::from(rcode & 0xf);
    if q.recursion {
        flags |= 0x0100;
    }
    let mut out = Vec::with_capacity(q.end + answers.len() * 28);
    for word in [q.id, flags, 1, answers.len() as u16, 0, 0] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&packet[12..q.end]);
    for ip in answers {
        let (kind, data) = match ip {
            IpAddr::V4(v4) => (TYPE_A, v4.octets().to_vec()),
            IpAddr::V6(v6) => (TYPE_AAAA, v6.octets().to_vec()),
        };
        out.extend_from_slice(&[0xc0, 0x0c]); // the name: a pointer to the question's
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// A FORMERR reply carrying only the header.
pub fn format_error(id: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    for word in [id, 0x8000 | 0x0080 | u16::from(FORMERR), 0, 0, 0, 0] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out
}

/// A recursive query for `name` (already normalized).
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 18);
    for word in [id, 0x0100, 1, 0, 0, 0] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// Skips a (possibly compressed) name; the position after it.
fn skip_name(p: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *p.get(at)?;
        match len & 0xc0 {
            0 if len == 0 => return Some(at + 1),
            0 => at += 1 + usize::from(len),
            0xc0 => return Some(at + 2),
            _ => return None,
        }
    }
}

/// The addresses of type `qtype` in a resolver's reply to query `id`.
pub fn parse_reply(p: &[u8], id: u16, qtype: u16) -> Result<Vec<IpAddr>, String> {
    let malformed = || "malformed reply from the resolver".to_owned();
    let flags = u16_at(p, 2).ok_or_else(malformed)?;
    if u16_at(p, 0) != Some(id) || flags & 0x8000 == 0 {
        return Err(malformed());
    }
    if flags & 0x0200 != 0 {
        return Err("the resolver's reply was truncated".into());
    }
    match (flags & 0xf) as u8 {
        NOERROR => {}
        NXDOMAIN => return Err("no such name".into()),
        rcode => return Err(format!("the resolver answered with error code {rcode}")),
    }
    let questions = u16_at(p, 4).ok_or_else(malformed)?;
    let answers = u16_at(p, 6).ok_or_else(malformed)?;
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(p, at).ok_or_else(malformed)? + 4;
    }
    let mut found = Vec::new();
    for _ in 0..answers {
        at = skip_name(p, at).ok_or_else(malformed)?;
        let kind = u16_at(p, at).ok_or_else(malformed)?;
        let class = u16_at(p, at + 2).ok_or_else(malformed)?;
        let len = usize::from(u16_at(p, at + 8).ok_or_else(malformed)?);
        let data = p.get(at + 10..at + 10 + len).ok_or_else(malformed)?;
        at += 10 + len;
        if kind != qtype || class != CLASS_IN {
            continue; // a CNAME on the way, or another type
        }
        match (kind, <[u8; 4]>::try_from(data), <[u8; 16]>::try_from(data)) {
            (TYPE_A, Ok(v4), _) => found.push(IpAddr::V4(Ipv4Addr::from(v4))),
            (TYPE_AAAA, _, Ok(v6)) => found.push(IpAddr::V6(Ipv6Addr::from(v6))),
            _ => return Err(malformed()),
        }
    }
    Ok(found)
}

/// Synthetic addresses handed out for allowed names, stable for the
/// session: the same name always gets the same address.
#[derive(Debug, Default)]
pub struct Names {
    by_name: HashMap<String, Ipv4Addr>,
    by_addr: HashMap<Ipv4Addr, String>,
}

impl Names {
    /// The address standing for `name`, allocated on first use; None when
    /// the pool (131070 names) is exhausted.
    pub fn address_of(&mut self, name: &str) -> Option<Ipv4Addr> {
        if let Some(&addr) = self.by_name.get(name) {
            return Some(addr);
        }
        let size = 1u32 << (32 - SYNTHETIC_PREFIX);
        // .0 of the pool is skipped, so the first name gets 198.18.0.1.
        let index = self.by_name.len() as u32 + 1;
        if index >= size - 1 {
            return None;
        }
        let addr = Ipv4Addr::from(u32::from(SYNTHETIC_BASE) + index);
        self.by_name.insert(name.to_owned(), addr);
        self.by_addr.insert(addr, name.to_owned());
        Some(addr)
    }

    /// The name an address stands for.
    pub fn name_at(&self, addr: Ipv4Addr) -> Option<&str> {
        self.by_addr.get(&addr).map(String::as_str)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn questions_round_trip_into_replies_and_back() {
        let q = query(0x1234, "api.github.com", TYPE_A);
        let parsed = parse_question(&q).unwrap();
        assert_eq!((parsed.id, parsed.qtype), (0x1234, TYPE_A));
        assert_eq!(parsed.name, "api.github.com");
        let addr: IpAddr = "198.18.0.1".parse().unwrap();
        let r = reply(&q, &parsed, NOERROR, &[addr]);
        assert_eq!(parse_reply(&r, 0x1234, TYPE_A).unwrap(), vec![addr]);
        assert!(parse_reply(&r, 0x1234, TYPE_AAAA).unwrap().is_empty());
        let nx = reply(&q, &parsed, NXDOMAIN, &[]);
        assert_eq!(
            parse_reply(&nx, 0x1234, TYPE_A).unwrap_err(),
            "no such name"
        );
        assert!(parse_reply(&r, 0x9999, TYPE_A).is_err());
    }

    #[test]
    fn malformed_questions_are_told_apart() {
        assert_eq!(parse_question(&[0; 5]), Err(None));
        let mut q = query(7, "a.example", TYPE_A);
        q[12] = 0xc0; // a compression pointer as the first label
        assert_eq!(parse_question(&q), Err(Some(7)));
        let mut response = query(8, "a.example", TYPE_A);
        response[2] |= 0x80;
        assert_eq!(parse_question(&response), Err(None));
        assert_eq!(
            parse_question(&query(9, "a.example", TYPE_A)[..20]),
            Err(Some(9))
        );
    }

    #[test]
    fn names_get_stable_synthetic_addresses() {
        let mut names = Names::default();
        let a = names.address_of("a.example").unwrap();
        let b = names.address_of("b.example").unwrap();
        assert_eq!(a, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(b, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(names.address_of("a.example"), Some(a));
        assert_eq!(names.name_at(b), Some("b.example"));
        assert_eq!(names.name_at(Ipv4Addr::new(198, 18, 0, 3)), None);
    }
}
