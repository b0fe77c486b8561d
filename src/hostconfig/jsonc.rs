//! JSON with comments and trailing commas (JSONC, VS Code's own format
//! for `mcp.json`), read with the byte span of every value and key, so
//! that an edit replaces exactly the bytes of one value and leaves every
//! other byte of the file (comments, commas, layout) as it was.
//!
//! [`parse`] records spans only; the values themselves are read by
//! serde_json from [`plain`], the same text with each comment and each
//! trailing comma replaced by spaces (so byte offsets are unchanged and
//! serde_json's line and column point into the original file).

/// A value and where it is in the text (`start..end`, in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    /// A string, number, `true`, `false` or `null`.
    Scalar,
}

/// One `"key": value` of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub key: String,
    /// Where the key's opening quote is.
    pub key_start: usize,
    pub value: Node,
}

impl Node {
    /// The member `key` of an object (the last one, as JSON parsers keep).
    pub fn member(&self, key: &str) -> Option<&Member> {
        match &self.kind {
            Kind::Object(members) => members.iter().rev().find(|m| m.key == key),
            _ => None,
        }
    }
}

/// Where the text stops being JSONC: byte offset and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: usize,
    pub message: String,
}

/// The text with comments and trailing commas blanked out: plain JSON
/// with the same byte offsets (newlines inside block comments are kept).
pub fn plain(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    // A byte order mark (some editors write one) is whitespace here.
    if text.starts_with('\u{feff}') {
        out[..3].fill(b' ');
        i = 3;
    }
    // The position of the last comma seen outside strings and comments,
    // cleared by any other significant byte.
    let mut comma: Option<usize> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                comma = None;
                i = string_end(bytes, i).unwrap_or(bytes.len());
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = find(bytes, i + 2, b"*/").map_or(bytes.len(), |e| e + 2);
                for b in &mut out[i..end] {
                    if *b != b'\n' && *b != b'\r' {
                        *b = b' ';
                    }
                }
                i = end;
                continue;
            }
            b',' => comma = Some(i),
            b'}' | b']' => {
                if let Some(c) = comma.take() {
                    out[c] = b' ';
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => comma = None,
        }
        i += 1;
    }
    // Only ASCII bytes outside strings were replaced by spaces.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The offset just past the string starting at `start` (a `"`).
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// Parses the whole text (one value, then only whitespace and comments).
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        text,
        pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
    };
    let node = p.value()?;
    p.skip();
    if p.pos < p.bytes.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(node)
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> SyntaxError {
        SyntaxError {
            at: self.pos,
            message: message.to_owned(),
        }
    }

    /// Skips whitespace and comments.
    fn skip(&mut self) {
        loop {
            match self.bytes.get(self.pos) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.pos += 1,
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'/') => {
                    while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'*') => {
                    self.pos =
                        find(self.bytes, self.pos + 2, b"*/").map_or(self.bytes.len(), |e| e + 2);
                }
                _ => return,
            }
        }
    }

    fn value(&mut self) -> Result<Node, SyntaxError> {
        self.skip();
        let start = self.pos;
        match self.bytes.get(start) {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                self.string()?;
                Ok(Node {
                    start,
                    end: self.pos,
                    kind: Kind::Scalar,
                })
            }
            Some(b) if b.is_ascii_alphanumeric() || *b == b'-' => {
                while self
                    .bytes
                    .get(self.pos)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
                {
                    self.pos += 1;
                }
                Ok(Node {
                    start,
                    end: self.pos,
                    kind: Kind::Scalar,
                })
            }
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of the file")),
        }
    }

    /// A string's decoded text; `pos` ends just past it.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        let end = string_end(self.bytes, start).ok_or_else(|| self.error("unterminated string"))?;
        let decoded: String =
            serde_json::from_str(&self.text[start..end]).map_err(|e| SyntaxError {
                at: start,
                message: format!("invalid string: {e}"),
            })?;
        self.pos = end;
        Ok(decoded)
    }

    /// After a member or element: `,` (possibly trailing) or the closing
    /// bracket. Returns true when the container is closed.
    fn separator(&mut self, close: u8) -> Result<bool, SyntaxError> {
        self.skip();
        match self.bytes.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                self.skip();
                if self.bytes.get(self.pos) == Some(&close) {
                    self.pos += 1;
                    return Ok(true);
                }
                Ok(false)
            }
            Some(b) if *b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.error(&format!("expected ',' or '{}'", close as char))),
        }
    }

    fn object(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut members = Vec::new();
        self.skip();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip();
                if self.bytes.get(self.pos) != Some(&b'"') {
                    return Err(self.error("key must be a string"));
                }
                let key_start = self.pos;
                let key = self.string()?;
                self.skip();
                if self.bytes.get(self.pos) != Some(&b':') {
                    return Err(self.error("expected ':'"));
                }
                self.pos += 1;
                let value = self.value()?;
                members.push(Member {
                    key,
                    key_start,
                    value,
                });
                if self.separator(b'}')? {
                    break;
                }
            }
        }
        Ok(Node {
            start,
            end: self.pos,
            kind: Kind::Object(members),
        })
    }

    fn array(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
        } else {
            loop {
                items.push(self.value()?);
                if self.separator(b']')? {
                    break;
                }
            }
        }
        Ok(Node {
            start,
            end: self.pos,
            kind: Kind::Array(items),
        })
    }
}

/// The whitespace that starts the line holding `at`, when only
/// whitespace precedes `at` on that line.
pub fn line_indent(text: &str, at: usize) -> Option<&str> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..at];
    before
        .bytes()
        .all(|b| b == b' ' || b == b'\t')
        .then_some(before)
}

/// The line ending the file uses.
pub fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// Replaces `range` of `text` by `with`, for edits sorted by position
/// and not overlapping.
pub fn apply(text: &str, mut edits: Vec<(std::ops::Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, with) in edits {
        out.push_str(&text[at..range.start]);
        out.push_str(&with);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const TEXT: &str = "// top\n{\n  /* a */ \"a\": [1, \"x,]\", ],\n  \"b\": {\"c\": null,},\n}\n";

    #[test]
    fn comments_and_trailing_commas_are_blanked_at_the_same_offsets() {
        let plain = plain(TEXT);
        assert_eq!(plain.len(), TEXT.len());
        let value: serde_json::Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": [1, "x,]"], "b": {"c": null}})
        );
    }

    #[test]
    fn spans_locate_keys_and_values() {
        let root = parse(TEXT).unwrap();
        let a = root.member("a").unwrap();
        assert_eq!(&TEXT[a.key_start..a.key_start + 3], "\"a\"");
        assert_eq!(&TEXT[a.value.start..a.value.end], "[1, \"x,]\", ]");
        let b = root.member("b").unwrap();
        let c = b.value.member("c").unwrap();
        assert_eq!(&TEXT[c.value.start..c.value.end], "null");
        assert_eq!(line_indent(TEXT, b.key_start), Some("  "));
        assert_eq!(line_indent(TEXT, a.key_start), None);
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let text = "\u{feff}{\"a\": 1}";
        assert_eq!(parse(text).unwrap().member("a").unwrap().value.start, 9);
        let value: serde_json::Value = serde_json::from_str(&plain(text)).unwrap();
        assert_eq!(value["a"], 1);
    }

    #[test]
    fn errors_say_where() {
        let err = parse("{\"a\" 1}").unwrap_err();
        assert_eq!(err.at, 5);
        assert!(parse("{\"a\": 1} x").is_err());
        assert!(parse("[1 2]").is_err());
    }
}
