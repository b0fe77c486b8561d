//! The minimal JSON-RPC view of one line: what kind of message it is, its
//! method and id, and where its params, result and error are, all borrowed
//! from the line. Building it validates the whole line as JSON (and UTF-8)
//! but allocates nothing unless a key or method is written with escapes.
//!
//! The rules are MCP's (2025-11-25): one JSON-RPC 2.0 object per line, no
//! batches; `jsonrpc` is `"2.0"`; an id is a string or an integer (never
//! null; cordon also refuses one a double cannot hold exactly); a request has a method and an id, a notification a method and no
//! id, a response an id and exactly one of result and error. A top-level
//! key given twice is refused: a host that reads the last copy and a
//! cordon that read the first would disagree about what was sent.

use std::borrow::Cow;

use super::json::{JsonError, Scanner};

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Notification,
    Response,
}

/// A valid MCP message, borrowed from its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub kind: Kind,
    /// The id's JSON text (a string with its quotes, or a number).
    pub id: Option<&'a str>,
    pub method: Option<Cow<'a, str>>,
    /// JSON text of each member, when present (bytes: converting them to
    /// `str` would cost a pass over most of the message for nothing, as
    /// the scanner has already validated their UTF-8).
    pub params: Option<&'a [u8]>,
    pub result: Option<&'a [u8]>,
    pub error: Option<&'a [u8]>,
}

/// Why a line is not a valid MCP message; shown in the stderr note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Utf8,
    NotJson,
    TooDeep,
    Batch,
    NotObject,
    /// Valid JSON, but not a JSON-RPC 2.0 message of a known shape.
    NotJsonRpc(&'static str),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Utf8 => f.write_str("invalid UTF-8"),
            Invalid::NotJson => f.write_str("not JSON"),
            Invalid::TooDeep => f.write_str("nested too deeply"),
            Invalid::Batch => f.write_str("a JSON-RPC batch, which MCP does not allow"),
            Invalid::NotObject => f.write_str("not a JSON object"),
            Invalid::NotJsonRpc(why) => write!(f, "not a JSON-RPC 2.0 message: {why}"),
        }
    }
}

/// A line that is not forwarded, with what could still be read from it:
/// the id lets cordon answer a request (or stand in for a response) so
/// the peer waiting for it does not hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected<'a> {
    pub why: Invalid,
    /// The id's JSON text, when the line is a JSON object with a usable id.
    pub id: Option<&'a str>,
    /// It has a `method` member: it was meant as a request.
    pub has_method: bool,
}

impl From<Invalid> for Rejected<'_> {
    fn from(why: Invalid) -> Self {
        Rejected {
            why,
            id: None,
            has_method: false,
        }
    }
}

impl From<JsonError> for Rejected<'_> {
    fn from(e: JsonError) -> Self {
        Invalid::from(e).into()
    }
}

impl From<JsonError> for Invalid {
    fn from(e: JsonError) -> Invalid {
        match e {
            JsonError::Utf8 => Invalid::Utf8,
            JsonError::Syntax(_) => Invalid::NotJson,
            JsonError::TooDeep => Invalid::TooDeep,
        }
    }
}

/// The top-level members cordon reads.
#[derive(Clone, Copy)]
enum Member {
    JsonRpc,
    Id,
    Method,
    Params,
    Result,
    Error,
}

impl Member {
    fn from_key(key: &[u8]) -> Option<Member> {
        Some(match key {
            b"jsonrpc" => Member::JsonRpc,
            b"id" => Member::Id,
            b"method" => Member::Method,
            b"params" => Member::Params,
            b"result" => Member::Result,
            b"error" => Member::Error,
            _ => return None,
        })
    }
}

/// Decodes a string's contents; borrowed unless it has escapes.
pub fn decode_str(raw: &str, escaped: bool) -> Option<Cow<'_, str>> {
    if !escaped {
        return Some(Cow::Borrowed(raw));
    }
    let quoted = format!("\"{raw}\"");
    serde_json::from_str::<String>(&quoted).ok().map(Cow::Owned)
}

/// Reads a line (without its newline) as an MCP message.
pub fn parse(line: &[u8]) -> Result<Envelope<'_>, Rejected<'_>> {
    let mut s = Scanner::new(line);
    s.skip_ws();
    let not_object = |s: &mut Scanner<'_>, why: Invalid| match s.value() {
        Ok(_) if s.at_end() => why,
        Ok(_) => Invalid::NotJson,
        Err(e) => e.into(),
    };
    match s.peek() {
        Some(b'{') => {}
        Some(b'[') => return Err(not_object(&mut s, Invalid::Batch).into()),
        _ => return Err(not_object(&mut s, Invalid::NotObject).into()),
    }
    s.pos += 1;
    let members = read_members(&mut s, line)?;
    if !s.at_end() {
        return Err(Invalid::NotJson.into());
    }
    shape(members)
}

/// The top-level members cordon reads, by [`Member`], after the opening
/// brace. Members are kept as bytes: the scanner validates their UTF-8 as
/// it goes, and only the short ones (id, method) become `str`.
fn read_members<'a>(
    s: &mut Scanner<'a>,
    line: &'a [u8],
) -> Result<[Option<&'a [u8]>; 6], Rejected<'a>> {
    let mut members: [Option<&[u8]>; 6] = [None; 6];
    s.skip_ws();
    if s.peek() == Some(b'}') {
        s.pos += 1;
        return Ok(members);
    }
    loop {
        s.skip_ws();
        let (ks, ke, escaped) = s.string()?;
        s.expect(b':')?;
        let (vs, ve) = s.value()?;
        if let Some(m) = member(&line[ks..ke], escaped)? {
            let slot = &mut members[m as usize];
            if slot.is_some() {
                // Finish validating, so an invalid line is never reported
                // as a duplicate.
                super::json::validate(line)?;
                return Err(Invalid::NotJsonRpc("a member appears twice").into());
            }
            *slot = Some(&line[vs..ve]);
        }
        s.skip_ws();
        match s.peek() {
            Some(b',') => s.pos += 1,
            Some(b'}') => {
                s.pos += 1;
                return Ok(members);
            }
            _ => return Err(Invalid::NotJson.into()),
        }
    }
}

/// The member a key names; only a key with escapes needs decoding
/// (`"\u0069d"` is `"id"`).
fn member(key: &[u8], escaped: bool) -> Result<Option<Member>, Invalid> {
    if !escaped {
        return Ok(Member::from_key(key));
    }
    let raw = std::str::from_utf8(key).map_err(|_| Invalid::Utf8)?;
    let key = decode_str(raw, true).ok_or(Invalid::NotJson)?;
    Ok(Member::from_key(key.as_bytes()))
}

/// Applies the JSON-RPC rules to the members found.
fn shape(m: [Option<&[u8]>; 6]) -> Result<Envelope<'_>, Rejected<'_>> {
    let get = |k: Member| m[k as usize];
    let id = get(Member::Id)
        .filter(|id| id.starts_with(b"\"") || safe_integer(id))
        .and_then(|id| std::str::from_utf8(id).ok());
    let rejected = |why: &'static str| Rejected {
        why: Invalid::NotJsonRpc(why),
        id,
        has_method: get(Member::Method).is_some(),
    };
    shape_with(get, id).map_err(rejected)
}

/// A number id every reader reads as the same number: an integer (as
/// MCP's schema says) of at most 2^53 - 1 in magnitude, so a host that
/// reads numbers as doubles cannot confuse two of them, written without
/// fraction or exponent.
fn safe_integer(id: &[u8]) -> bool {
    let digits = id.strip_prefix(b"-").unwrap_or(id);
    let plain =
        matches!(digits, [b'0'] | [b'1'..=b'9', ..]) && digits.iter().all(u8::is_ascii_digit);
    plain
        && digits.len() <= 16
        && std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            .is_some_and(|n| n < 1 << 53)
}

fn shape_with<'a>(
    get: impl Fn(Member) -> Option<&'a [u8]>,
    id: Option<&'a str>,
) -> Result<Envelope<'a>, &'static str> {
    match get(Member::JsonRpc) {
        Some(b"\"2.0\"") => {}
        _ => return Err("\"jsonrpc\" is not \"2.0\""),
    }
    if get(Member::Id).is_some() && id.is_none() {
        return Err("the id is not a string or an integer below 2^53");
    }
    let method = match get(Member::Method) {
        Some(raw) if raw.starts_with(b"\"") => {
            let inner = std::str::from_utf8(&raw[1..raw.len() - 1]).map_err(|_| "invalid UTF-8")?;
            Some(decode_str(inner, inner.contains('\\')).ok_or("the method is not a string")?)
        }
        Some(_) => return Err("the method is not a string"),
        None => None,
    };
    let params = get(Member::Params);
    if params.is_some_and(|p| !p.starts_with(b"{") && !p.starts_with(b"[")) {
        return Err("params is not an object or an array");
    }
    let result = get(Member::Result);
    let error = get(Member::Error);
    let kind = match (&method, id, result.is_some(), error.is_some()) {
        (Some(_), Some(_), false, false) => Kind::Request,
        (Some(_), None, false, false) => Kind::Notification,
        (None, Some(_), true, false) | (None, Some(_), false, true) => Kind::Response,
        (None, Some(_), true, true) => {
            return Err("a response has both result and error");
        }
        (Some(_), _, _, _) => return Err("a request has a result or error"),
        (None, _, _, _) => return Err("neither a request nor a response"),
    };
    if error.is_some_and(|e| !e.starts_with(b"{")) {
        return Err("the error is not an object");
    }
    Ok(Envelope {
        kind,
        id,
        method,
        params,
        result,
        error,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kind(line: &str) -> Result<Kind, Invalid> {
        parse(line.as_bytes()).map(|e| e.kind).map_err(|r| r.why)
    }

    #[test]
    fn the_three_kinds() {
        let r = parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#)
            .unwrap();
        assert_eq!(r.kind, Kind::Request);
        assert_eq!(r.id, Some("7"));
        for id in ["0", "-3", "9007199254740991"] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(parse(line.as_bytes()).unwrap().id, Some(id));
        }
        assert_eq!(r.method.as_deref(), Some("tools/call"));
        assert_eq!(r.params, Some(&br#"{"name":"x"}"#[..]));
        assert_eq!(
            kind(r#"{"method":"n","jsonrpc":"2.0"}"#),
            Ok(Kind::Notification)
        );
        assert_eq!(
            kind(r#" {"jsonrpc":"2.0","id":"a","result":{}} "#),
            Ok(Kind::Response)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}"#),
            Ok(Kind::Response)
        );
    }

    #[test]
    fn escaped_keys_and_methods_are_decoded() {
        let e = parse(br#"{"jsonrpc":"2.0","\u0069d":1,"method":"tools\/call"}"#).unwrap();
        assert_eq!(e.id, Some("1"));
        assert_eq!(e.method.as_deref(), Some("tools/call"));
    }

    #[test]
    fn invalid_shapes_are_refused() {
        let cases = [
            ("[{\"jsonrpc\":\"2.0\",\"method\":\"a\"}]", Invalid::Batch),
            ("\"text\"", Invalid::NotObject),
            ("hello", Invalid::NotJson),
            ("{\"jsonrpc\":\"2.0\",\"method\":\"a\"", Invalid::NotJson),
            ("{\"jsonrpc\":\"2.0\",\"method\":\"a\"} x", Invalid::NotJson),
        ];
        for (line, expected) in cases {
            assert_eq!(kind(line), Err(expected), "{line}");
        }
        for line in [
            r#"{"method":"a"}"#,
            r#"{"jsonrpc":"1.0","method":"a"}"#,
            r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1e400,"method":"a"}"#,
            r#"{"jsonrpc":"2.0","id":9007199254740993,"method":"a"}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","m\u0065thod":"b"}"#,
            r#"{"jsonrpc":"2.0","method":7}"#,
            r#"{"jsonrpc":"2.0","method":"a","params":3}"#,
            r#"{"jsonrpc":"2.0"}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":"bad"}"#,
        ] {
            assert!(matches!(kind(line), Err(Invalid::NotJsonRpc(_))), "{line}");
        }
    }

    #[test]
    fn a_rejected_request_keeps_its_id() {
        let r = parse(br#"{"jsonrpc":"1.0","id":"x","method":"a"}"#).unwrap_err();
        assert_eq!((r.id, r.has_method), (Some("\"x\""), true));
        let r = parse(br#"{"jsonrpc":"2.0","id":3,"result":1,"error":{}}"#).unwrap_err();
        assert_eq!((r.id, r.has_method), (Some("3"), false));
    }
}
