//! Resource URIs in the one spelling the profile's patterns are matched
//! against: `file:///home/me/notes/../.ssh/id_rsa`, `FILE:///home/me/.ssh/id_rsa`
//! and `file:///home/me/%2essh/id_rsa` name the same file, and a deny
//! pattern must catch every spelling.
//!
//! Normalisation follows RFC 3986 section 6.2.2, plus what `file` URIs
//! (RFC 8089) and the usual default ports add:
//! - the scheme and the host are lowercased;
//! - percent escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
//!   decoded, other escapes get uppercase hex, and characters a URI
//!   cannot hold as they are (space, `"<>\^`{|}`, non-ASCII) are
//!   percent-encoded as UTF-8;
//! - `.` and `..` segments of a path with a root are resolved;
//! - `file:/p` and `file://localhost/p` become `file:///p`; an empty port
//!   and the default port of `http`, `https`, `ws`, `wss` are dropped, and
//!   their empty path becomes `/`.
//!
//! What cordon cannot spell in one way is refused rather than guessed: a
//! server may read the URI differently from cordon. "Clean" means none
//! of: a control character (raw or escaped), an invalid escape, no
//! scheme, user information (`user@host`), an escape in the host, a port
//! that is not a number, an empty segment inside the path (`a//b`: a
//! filesystem reads it as `a/b`, so `a//../b` is `b` to it but `a/b` to
//! RFC 3986), an escaped `/` or `\` in the path (`%2F`: reserved, so not
//! decoded, but a server that decodes it would see other segments), a
//! `..` above the root, and dot segments in a path without a root.

/// Why a URI does not normalise cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("it has no scheme")]
    NoScheme,
    #[error("it has an invalid percent escape")]
    BadEscape,
    #[error("it has a control character")]
    Control,
    #[error("it has user information before its host")]
    UserInfo,
    #[error("its host has a percent escape")]
    EscapedHost,
    #[error("its port is not a number")]
    BadPort,
    #[error("its path has an empty segment (//)")]
    EmptySegment,
    #[error("its path has an escaped slash or backslash (%2F, %5C)")]
    EscapedSeparator,
    #[error("its path climbs above its root (..)")]
    AboveRoot,
    #[error("its path has . or .. segments but no root")]
    RootlessDots,
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Reserved characters (gen-delims and sub-delims): they stand for
/// themselves in a URI.
fn reserved(b: u8) -> bool {
    matches!(
        b,
        b':' | b'/'
            | b'?'
            | b'#'
            | b'['
            | b']'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
    )
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 15)]));
}

/// The percent-encoding pass over the whole URI: unreserved characters
/// decoded, every other escape in uppercase, characters outside the URI
/// set encoded. Decoding unreserved characters first is safe everywhere,
/// as none of them delimits a component.
fn escapes(uri: &str) -> Result<String, UriError> {
    let bytes = uri.as_bytes();
    let mut out = String::with_capacity(uri.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(UriError::BadEscape)?;
            let text = std::str::from_utf8(hex).map_err(|_| UriError::BadEscape)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(UriError::BadEscape);
            }
            let d = u8::from_str_radix(text, 16).map_err(|_| UriError::BadEscape)?;
            if d < 0x20 || d == 0x7f {
                return Err(UriError::Control);
            }
            if unreserved(d) {
                out.push(char::from(d));
            } else {
                push_escape(&mut out, d);
            }
            i += 3;
            continue;
        }
        if b < 0x20 || b == 0x7f {
            return Err(UriError::Control);
        }
        if unreserved(b) || reserved(b) {
            out.push(char::from(b));
        } else {
            push_escape(&mut out, b);
        }
        i += 1;
    }
    Ok(out)
}

/// `uri` in its normal form, or why it has none.
pub fn normalize(uri: &str) -> Result<String, UriError> {
    let text = escapes(uri)?;
    let (scheme, rest) = text.split_once(':').ok_or(UriError::NoScheme)?;
    let valid_scheme = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid_scheme {
        return Err(UriError::NoScheme);
    }
    let scheme = scheme.to_ascii_lowercase();
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (hier, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match hier.strip_prefix("//") {
        Some(after) => {
            let cut = after.find('/').unwrap_or(after.len());
            (Some(authority(&scheme, &after[..cut])?), &after[cut..])
        }
        // `file:/p` is `file:///p` (RFC 8089).
        None if scheme == "file" && hier.starts_with('/') => (Some(String::new()), hier),
        None => (None, hier),
    };
    let mut path = normal_path(path)?;
    // An empty path is `/` to HTTP (RFC 9110 4.2.3).
    if path.is_empty() && matches!(scheme.as_str(), "http" | "https" | "ws" | "wss") {
        path.push('/');
    }
    let mut out = scheme;
    out.push(':');
    if let Some(a) = authority {
        out.push_str("//");
        out.push_str(&a);
    }
    out.push_str(&path);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Ok(out)
}

/// `host[:port]`, lowercased, without a default or empty port.
fn authority(scheme: &str, text: &str) -> Result<String, UriError> {
    if text.contains('@') {
        return Err(UriError::UserInfo);
    }
    // An IPv6 literal holds colons: the port comes after its `]`.
    let port_at = match text.rfind(']') {
        Some(close) => text[close..].find(':').map(|i| close + i),
        None => text.rfind(':'),
    };
    let (host, port) = match port_at {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    if host.contains('%') {
        return Err(UriError::EscapedHost);
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::BadPort);
    }
    let mut host = host.to_ascii_lowercase();
    if scheme == "file" && host == "localhost" {
        host.clear();
    }
    let default = matches!(
        (scheme, port),
        ("http" | "ws", "80") | ("https" | "wss", "443")
    );
    if !port.is_empty() && !default {
        host.push(':');
        host.push_str(port);
    }
    Ok(host)
}

/// The path with its dot segments resolved (when it has a root).
fn normal_path(path: &str) -> Result<String, UriError> {
    if path.contains("%2F") || path.contains("%5C") {
        return Err(UriError::EscapedSeparator);
    }
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    if segments
        .iter()
        .enumerate()
        .any(|(i, s)| s.is_empty() && i != 0 && i != last)
    {
        return Err(UriError::EmptySegment);
    }
    let dot = |s: &&str| *s == "." || *s == "..";
    let Some(rooted) = path.strip_prefix('/') else {
        if segments.iter().any(dot) {
            return Err(UriError::RootlessDots);
        }
        return Ok(path.to_owned());
    };
    let mut out: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in rooted.split('/') {
        trailing = dot(&seg);
        match seg {
            "." => {}
            ".." => {
                out.pop().ok_or(UriError::AboveRoot)?;
            }
            s => out.push(s),
        }
    }
    let mut text = String::with_capacity(path.len());
    for seg in &out {
        text.push('/');
        text.push_str(seg);
    }
    if trailing || text.is_empty() {
        text.push('/');
    }
    Ok(text)
}

/// The URI without its query and fragment: a server reading a file may
/// ignore them, so a pattern that names the file must see it bare too.
pub fn without_query(uri: &str) -> &str {
    let cut = uri.find(['?', '#']).unwrap_or(uri.len());
    &uri[..cut]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_uri_meet() {
        let cases = [
            ("file:///home/me/.ssh/id_rsa", "file:///home/me/.ssh/id_rsa"),
            (
                "file:///home/me/notes/../.ssh/id_rsa",
                "file:///home/me/.ssh/id_rsa",
            ),
            (
                "FILE:///home/me/notes/%2e%2E/.ssh/id_rsa",
                "file:///home/me/.ssh/id_rsa",
            ),
            (
                "file:///home/me/./%2Essh/id%5frsa",
                "file:///home/me/.ssh/id_rsa",
            ),
            (
                "file://LOCALHOST/home/me/.ssh/id_rsa",
                "file:///home/me/.ssh/id_rsa",
            ),
            ("file:/home/me/.ssh/id_rsa", "file:///home/me/.ssh/id_rsa"),
            (
                "HTTPS://Example.COM:443/a/./b/../c",
                "https://example.com/a/c",
            ),
            ("http://example.com:/a", "http://example.com/a"),
            ("HTTPS://Example.com:443", "https://example.com/"),
            ("http://[::1]:8080/a", "http://[::1]:8080/a"),
            ("file:///data/", "file:///data/"),
            ("file:///data/x/..", "file:///data/"),
            ("file:///a%3ab?q=%7e#f", "file:///a%3Ab?q=~#f"),
            ("file:///caf\u{e9} x", "file:///caf%C3%A9%20x"),
            ("urn:example:a.b", "urn:example:a.b"),
            ("mem://notes", "mem://notes"),
        ];
        for (uri, normal) in cases {
            assert_eq!(normalize(uri).as_deref(), Ok(normal), "{uri}");
            assert_eq!(
                normalize(normal).as_deref(),
                Ok(normal),
                "idempotent: {normal}"
            );
        }
    }

    #[test]
    fn what_cannot_be_spelled_one_way_is_refused() {
        let cases = [
            ("/etc/passwd", UriError::NoScheme),
            ("1x:/a", UriError::NoScheme),
            ("file:///a%zz", UriError::BadEscape),
            ("file:///a%2", UriError::BadEscape),
            ("file:///a\nb", UriError::Control),
            ("file:///a%00b", UriError::Control),
            ("https://me@example.com/", UriError::UserInfo),
            ("https://ex%25ample.com/", UriError::EscapedHost),
            ("https://example.com:x/", UriError::BadPort),
            ("file:///home/me//.ssh/id_rsa", UriError::EmptySegment),
            ("file:///data//../etc/passwd", UriError::EmptySegment),
            ("file:///data/..%2Fetc/passwd", UriError::EscapedSeparator),
            ("file:///data/..%2fetc/passwd", UriError::EscapedSeparator),
            ("file:///data\\..\\etc", UriError::EscapedSeparator),
            ("file:///../etc/passwd", UriError::AboveRoot),
            ("mem:notes/../secret", UriError::RootlessDots),
        ];
        for (uri, why) in cases {
            assert_eq!(normalize(uri), Err(why), "{uri}");
        }
    }

    #[test]
    fn the_bare_uri_drops_query_and_fragment() {
        assert_eq!(without_query("file:///a?x#y"), "file:///a");
        assert_eq!(without_query("file:///a#y?x"), "file:///a");
        assert_eq!(without_query("file:///a"), "file:///a");
    }
}
