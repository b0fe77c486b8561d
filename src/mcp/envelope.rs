//! The minimal JSON-RPC view of one line: what kind of message it is, its
//! method and id, and where its params, result and error are, all borrowed
//! from the line. Building it validates the whole line as JSON (and UTF-8)
//! but allocates nothing unless a key or method is written with escapes.
//!
//! The rules are MCP's (2025-11-25): one JSON-RPC 2.0 object per line, no
//! batches; `jsonrpc` is `"2.0"`; an id is a string or a number (never
//! null); a request has a method and an id, a notification a method and no
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
    /// JSON text of each member, when present.
    pub params: Option<&'a str>,
    pub result: Option<&'a str>,
    pub error: Option<&'a str>,
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
    fn from_key(key: &str) -> Option<Member> {
        Some(match key {
            "jsonrpc" => Member::JsonRpc,
            "id" => Member::Id,
            "method" => Member::Method,
            "params" => Member::Params,
            "result" => Member::Result,
            "error" => Member::Error,
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
pub fn parse(line: &[u8]) -> Result<Envelope<'_>, Invalid> {
    let mut s = Scanner::new(line);
    s.skip_ws();
    match s.peek() {
        Some(b'{') => {}
        Some(b'[') => return Err(s.value().map_or_else(Invalid::from, |_| Invalid::Batch)),
        _ => return Err(s.value().map_or_else(Invalid::from, |_| Invalid::NotObject)),
    }
    // Validation already proved every byte range below is UTF-8 and
    // starts and ends on character boundaries.
    let text = |a: usize, b: usize| std::str::from_utf8(&line[a..b]).map_err(|_| Invalid::Utf8);
    let mut members: [Option<(&str, bool)>; 6] = [None; 6];
    s.pos += 1;
    s.skip_ws();
    if s.peek() == Some(b'}') {
        s.pos += 1;
    } else {
        loop {
            s.skip_ws();
            let (ks, ke, kesc) = s.string()?;
            s.expect(b':')?;
            let (vs, ve) = s.value()?;
            let key = decode_str(text(ks, ke)?, kesc).ok_or(Invalid::NotJson)?;
            if let Some(m) = Member::from_key(&key) {
                let slot = &mut members[m as usize];
                if slot.is_some() {
                    return Err(Invalid::NotJsonRpc("a member appears twice"));
                }
                let escaped = line[vs..ve].contains(&b'\\');
                *slot = Some((text(vs, ve)?, escaped));
            }
            s.skip_ws();
            match s.peek() {
                Some(b',') => s.pos += 1,
                Some(b'}') => {
                    s.pos += 1;
                    break;
                }
                _ => return Err(Invalid::NotJson),
            }
        }
    }
    if !s.at_end() {
        return Err(Invalid::NotJson);
    }
    shape(members)
}

/// Applies the JSON-RPC rules to the members found.
fn shape(m: [Option<(&str, bool)>; 6]) -> Result<Envelope<'_>, Invalid> {
    let get = |k: Member| m[k as usize];
    match get(Member::JsonRpc) {
        Some(("\"2.0\"", _)) => {}
        _ => return Err(Invalid::NotJsonRpc("\"jsonrpc\" is not \"2.0\"")),
    }
    let id = get(Member::Id).map(|(v, _)| v);
    if let Some(id) = id {
        if !(id.starts_with('"') || id.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])) {
            return Err(Invalid::NotJsonRpc("the id is not a string or a number"));
        }
    }
    let method = match get(Member::Method) {
        Some((raw, escaped)) if raw.starts_with('"') => {
            let inner = &raw[1..raw.len() - 1];
            Some(decode_str(inner, escaped).ok_or(Invalid::NotJson)?)
        }
        Some(_) => return Err(Invalid::NotJsonRpc("the method is not a string")),
        None => None,
    };
    let params = get(Member::Params).map(|(v, _)| v);
    if params.is_some_and(|p| !p.starts_with(['{', '['])) {
        return Err(Invalid::NotJsonRpc("params is not an object or an array"));
    }
    let result = get(Member::Result).map(|(v, _)| v);
    let error = get(Member::Error).map(|(v, _)| v);
    let kind = match (&method, id, result.is_some(), error.is_some()) {
        (Some(_), Some(_), false, false) => Kind::Request,
        (Some(_), None, false, false) => Kind::Notification,
        (None, Some(_), true, false) | (None, Some(_), false, true) => Kind::Response,
        (None, Some(_), true, true) => {
            return Err(Invalid::NotJsonRpc("a response has both result and error"));
        }
        (Some(_), _, _, _) => return Err(Invalid::NotJsonRpc("a request has a result or error")),
        (None, _, _, _) => return Err(Invalid::NotJsonRpc("neither a request nor a response")),
    };
    if error.is_some_and(|e| !e.starts_with('{')) {
        return Err(Invalid::NotJsonRpc("the error is not an object"));
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
        parse(line.as_bytes()).map(|e| e.kind)
    }

    #[test]
    fn the_three_kinds() {
        let r = parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#)
            .unwrap();
        assert_eq!(r.kind, Kind::Request);
        assert_eq!(r.id, Some("7"));
        assert_eq!(r.method.as_deref(), Some("tools/call"));
        assert_eq!(r.params, Some(r#"{"name":"x"}"#));
        assert_eq!(kind(r#"{"method":"n","jsonrpc":"2.0"}"#), Ok(Kind::Notification));
        assert_eq!(kind(r#" {"jsonrpc":"2.0","id":"a","result":{}} "#), Ok(Kind::Response));
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
}
