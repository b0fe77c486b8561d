//! Reading an over-long line in pieces, in constant memory: the relay
//! discards the line as it arrives but still wants its top-level `id` (to
//! answer for it) and whether it has a `method` (request or response).
//!
//! The sniffer tracks only nesting depth and string state, so a nested
//! `"id"` is never mistaken for the message's own, wherever the member
//! appears (some serialisers put `id` last, after a huge `result`). It
//! does not validate: a line that turns out malformed just yields no id.

use super::pending::MAX_ID_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Before the opening brace.
    #[default]
    Open,
    /// Expecting a key (or the closing brace) at the top level.
    Key,
    /// After a top-level key, expecting `:`.
    Colon,
    /// Inside a top-level value.
    Value,
    /// The object closed, or the line is not an object.
    Done,
}

/// The streaming state.
#[derive(Debug, Default)]
pub struct Sniffer {
    phase: Phase,
    depth: usize,
    in_string: bool,
    escape: bool,
    /// The current top-level key, while short enough to matter.
    key: Vec<u8>,
    in_key: bool,
    /// The `id` value's text while it is read.
    capture: Option<Vec<u8>>,
    id: Option<Vec<u8>>,
    has_method: bool,
}

impl Sniffer {
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.phase == Phase::Done {
                return;
            }
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if self.in_string {
            self.string_byte(b);
            return;
        }
        let ws = matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        match self.phase {
            Phase::Open if ws => {}
            Phase::Open if b == b'{' => {
                self.depth = 1;
                self.phase = Phase::Key;
            }
            Phase::Key if ws => {}
            Phase::Key if b == b'"' => {
                self.key.clear();
                self.in_key = true;
                self.in_string = true;
            }
            Phase::Colon if ws => {}
            Phase::Colon if b == b':' => {
                self.phase = Phase::Value;
                match self.key.as_slice() {
                    b"id" => self.capture = Some(Vec::new()),
                    b"method" => self.has_method = true,
                    _ => {}
                }
            }
            Phase::Value => self.value_byte(b, ws),
            _ => self.phase = Phase::Done,
        }
    }

    fn string_byte(&mut self, b: u8) {
        let closing = !self.escape && b == b'"';
        self.escape = !self.escape && b == b'\\';
        if self.in_key {
            if closing {
                self.in_key = false;
                self.in_string = false;
                self.phase = Phase::Colon;
            } else if self.key.len() <= 8 {
                // An escaped key never matches: `"\u0069d"` is not sniffed.
                self.key.push(b);
            }
            return;
        }
        self.push(b);
        if closing {
            self.in_string = false;
        }
    }

    fn value_byte(&mut self, b: u8, ws: bool) {
        if self.depth == 1 && (b == b',' || b == b'}') {
            if let Some(text) = self.capture.take() {
                self.id = Some(text);
            }
            self.phase = if b == b',' { Phase::Key } else { Phase::Done };
            return;
        }
        if !(ws && self.depth == 1) {
            self.push(b);
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' if self.depth > 1 => self.depth -= 1,
            b'}' | b']' => self.phase = Phase::Done,
            _ => {}
        }
    }

    fn push(&mut self, b: u8) {
        if let Some(text) = &mut self.capture {
            if text.len() > MAX_ID_LEN {
                self.capture = None;
            } else {
                text.push(b);
            }
        }
    }

    /// The top-level id's JSON text (only a string or a number), and
    /// whether a top-level method was seen.
    pub fn finish(self) -> (Option<String>, bool) {
        let id = self.id.and_then(|t| String::from_utf8(t).ok()).filter(|t| {
            let string = t.len() >= 2 && t.starts_with('"') && t.ends_with('"');
            let number = !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || b"-+.eE".contains(&b));
            string || number
        });
        (id, self.has_method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff_in_pieces(line: &str, piece: usize) -> (Option<String>, bool) {
        let mut s = Sniffer::default();
        for chunk in line.as_bytes().chunks(piece) {
            s.feed(chunk);
        }
        s.finish()
    }

    #[test]
    fn finds_the_top_level_id_wherever_it_is() {
        let cases = [
            (
                r#"{"jsonrpc":"2.0","id":42,"result":{"id":7}}"#,
                Some("42"),
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","result":{"id":7,"x":"}\"id\":9"},"id":"a\"b"}"#,
                Some("\"a\\\"b\""),
                false,
            ),
            (
                r#"{ "id" : -3 , "method":"m","params":[{"id":1}]}"#,
                Some("-3"),
                true,
            ),
            (r#"{"result":{"id":7}}"#, None, false),
            (r#"{"id":null,"error":{}}"#, None, false),
            (r#"{"id":{"x":1},"result":1}"#, None, false),
            ("not json {\"id\":1}", None, false),
            (
                r#"{"jsonrpc":"2.0","id":5,"result":"unterminated"#,
                Some("5"),
                false,
            ),
        ];
        for (line, id, method) in cases {
            for piece in [1, 3, 1000] {
                assert_eq!(
                    sniff_in_pieces(line, piece),
                    (id.map(str::to_owned), method),
                    "{line} in pieces of {piece}"
                );
            }
        }
    }
}
