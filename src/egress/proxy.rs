//! The HTTP proxy that the proxy variables point at: `CONNECT host:port`
//! (what clients use for https://) and absolute-form requests
//! (`GET http://host/path`, what they use for http://). Only the request
//! head is read here; after it, bytes are relayed untouched.
//!
//! A forwarded plain-HTTP request gets `Connection: close`, so a client
//! that reuses connections opens a new one (and gets a new decision) for
//! its next request rather than sending it down this one.

/// The longest request head cordon reads.
pub const MAX_HEAD: usize = 16 * 1024;

/// What the client asked the proxy for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A tunnel: after `200`, bytes flow both ways.
    Connect { host: String, port: u16 },
    /// A plain HTTP request: `head` (rewritten to origin form) goes first.
    Forward {
        host: String,
        port: u16,
        head: Vec<u8>,
    },
}

/// The length of the head (through its blank line), once it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads a complete request head.
pub fn parse(head: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(head).map_err(|_| "the request head is not text".to_owned())?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line {first:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported protocol {version:?}"));
    }
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_authority(target, None)?;
        return Ok(Request::Connect { host, port });
    }
    let rest = strip_prefix_ignore_case(target, "http://").ok_or_else(|| {
        format!("cordon's proxy forwards http:// URLs and CONNECT tunnels, not {target:?}")
    })?;
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    if authority.contains('@') {
        return Err("credentials in the URL are not forwarded".into());
    }
    let (host, port) = split_authority(authority, Some(80))?;
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        let hop_by_hop = [
            "proxy-connection",
            "proxy-authorization",
            "connection",
            "keep-alive",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h));
        if !hop_by_hop {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(Request::Forward {
        host,
        port,
        head: out.into_bytes(),
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `host:port`, `[v6]:port`, or (with a default port) `host`. The host is
/// returned without brackets.
pub fn split_authority(text: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let bad = || format!("invalid destination {text:?}");
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return Err(bad()),
            None => (text, None),
        }
    };
    let port = match (port, default_port) {
        (Some(p), _) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?,
        (None, Some(d)) => d,
        (None, None) => return Err(bad()),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// A complete response that ends the connection.
pub fn response(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What a tunnel's client reads once cordon has connected.
pub const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn connect_requests_name_their_destination() {
        let head = b"CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n\r\n";
        assert_eq!(head_end(head), Some(head.len()));
        assert_eq!(
            parse(head).unwrap(),
            Request::Connect {
                host: "api.github.com".into(),
                port: 443
            }
        );
        let v6 = parse(b"CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(
            v6,
            Request::Connect {
                host: "2001:db8::1".into(),
                port: 8443
            }
        );
        assert!(parse(b"CONNECT api.github.com HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn plain_requests_are_rewritten_to_origin_form() {
        let head = b"GET http://example.test:8080/a?b HTTP/1.1\r\nHost: example.test:8080\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n";
        let Request::Forward { host, port, head } = parse(head).unwrap() else {
            panic!("not forwarded");
        };
        assert_eq!((host.as_str(), port), ("example.test", 8080));
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /a?b HTTP/1.1\r\nHost: example.test:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let Request::Forward { port, head, .. } =
            parse(b"GET http://x.test HTTP/1.0\r\n\r\n").unwrap()
        else {
            panic!("not forwarded");
        };
        assert_eq!(port, 80);
        assert!(head.starts_with(b"GET / HTTP/1.0\r\n"));
        assert!(parse(b"GET https://x.test/ HTTP/1.1\r\n\r\n").is_err());
        assert!(parse(b"GET http://u:p@x.test/ HTTP/1.1\r\n\r\n").is_err());
    }
}
