//! A strict JSON (RFC 8259) validator for one message, in one pass and
//! without allocating: the relay's fast path must check every line but
//! build nothing. It accepts exactly what `serde_json` accepts when it
//! skips a value, plus a nesting limit, and validates UTF-8 as it goes
//! (only strings may hold non-ASCII bytes), so no separate UTF-8 pass is
//! needed.
//!
//! In a typical message most bytes are string contents, so strings are
//! skipped 32 bytes at a time with a test the compiler turns into SIMD.

/// Deepest nesting of arrays and objects accepted. `serde_json` stops at
/// 128 when it builds values; the relay only builds values for the few
/// messages it inspects, and those fail cleanly when deeper.
pub const MAX_DEPTH: usize = 256;

/// Why a line is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// A byte sequence that is not UTF-8.
    Utf8,
    /// Anything else: the byte offset where parsing failed.
    Syntax(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Bytes that stand for themselves in a string: printable ASCII except
/// `"` and `\`.
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x80 {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

/// How many bytes at the start of `bytes` stand for themselves in a
/// string: the scan every string byte of every message goes through, so
/// it uses AVX2 where the CPU has it.
fn plain_prefix(bytes: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { plain_prefix_avx2(bytes) };
    }
    plain_prefix_portable(bytes)
}

/// 64 bytes per step: a signed compare with 0x20 catches both control
/// characters and non-ASCII bytes (negative as `i8`), two equality tests
/// catch `"` and `\`; only a step that holds a stop computes the mask
/// whose lowest bit is the first one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn plain_prefix_avx2(bytes: &[u8]) -> usize {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8, _mm256_testz_si256,
    };
    let quote = _mm256_set1_epi8(b'"' as i8);
    let backslash = _mm256_set1_epi8(b'\\' as i8);
    let space = _mm256_set1_epi8(0x20);
    let stops = |chunk: &[u8]| -> __m256i {
        debug_assert_eq!(chunk.len(), 32);
        #[allow(unsafe_code)]
        // SAFETY: `chunk` holds 32 readable bytes (it comes from
        // `chunks_exact`), and an unaligned load needs no alignment.
        let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
        _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash)),
            _mm256_cmpgt_epi8(space, v),
        )
    };
    let mask = |hit: __m256i| u64::from(_mm256_movemask_epi8(hit) as u32);
    let mut n = 0;
    for block in bytes.chunks_exact(64) {
        let (low, high) = (stops(&block[..32]), stops(&block[32..]));
        let any = _mm256_or_si256(low, high);
        if _mm256_testz_si256(any, any) == 0 {
            return n + (mask(low) | mask(high) << 32).trailing_zeros() as usize;
        }
        n += 64;
    }
    if let Some(chunk) = bytes[n..].chunks_exact(32).next() {
        let m = mask(stops(chunk));
        if m != 0 {
            return n + m.trailing_zeros() as usize;
        }
        n += 32;
    }
    n + plain_tail(&bytes[n..])
}

/// Without AVX2, whole 32-byte chunks are tested first: the test has no
/// early exit inside a chunk, so the compiler makes it a few vector
/// instructions (`b - 0x20 >= 0x60` is "below 0x20 or above 0x7f"); the
/// chunk that holds the stop is then walked byte by byte.
fn plain_prefix_portable(bytes: &[u8]) -> usize {
    let mut n = 0;
    for chunk in bytes.chunks_exact(32) {
        let mut stops = 0u8;
        for &b in chunk {
            stops |=
                u8::from(b.wrapping_sub(0x20) >= 0x60) | u8::from(b == b'"') | u8::from(b == b'\\');
        }
        if stops != 0 {
            break;
        }
        n += 32;
    }
    n + plain_tail(&bytes[n..])
}

/// The plain prefix, one byte at a time.
fn plain_tail(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|&&b| PLAIN[usize::from(b)]).count()
}

/// The open arrays and objects, as a bit stack (1 = object): no
/// allocation, and the depth is bounded by [`MAX_DEPTH`].
#[derive(Default)]
struct Nesting {
    bits: [u64; MAX_DEPTH / 64],
    depth: usize,
}

impl Nesting {
    fn push(&mut self, object: bool) -> Result<(), JsonError> {
        if self.depth == MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        let (word, bit) = (self.depth / 64, 1u64 << (self.depth % 64));
        if object {
            self.bits[word] |= bit;
        } else {
            self.bits[word] &= !bit;
        }
        self.depth += 1;
        Ok(())
    }

    fn pop(&mut self) {
        self.depth -= 1;
    }

    /// Whether the innermost open container is an object.
    fn top(&self) -> Option<bool> {
        let d = self.depth.checked_sub(1)?;
        Some(self.bits[d / 64] & (1 << (d % 64)) != 0)
    }
}

/// A cursor over one message.
pub struct Scanner<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(bytes: &'a [u8]) -> Scanner<'a> {
        Scanner { bytes, pos: 0 }
    }

    fn err(&self) -> JsonError {
        JsonError::Syntax(self.pos)
    }

    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` after optional whitespace.
    pub fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err())
        }
    }

    /// At the end, after optional whitespace.
    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos == self.bytes.len()
    }

    /// Scans a string whose opening quote is at `pos`; returns the span of
    /// its contents (escapes not decoded) and whether it has any escape.
    /// Plain bytes are skipped by [`plain_prefix`]; the loop stops only at
    /// a quote, a backslash, a non-ASCII character (validated here) or an
    /// error.
    pub fn string(&mut self) -> Result<(usize, usize, bool), JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.err());
        }
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos += plain_prefix(&self.bytes[self.pos..]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok((start, self.pos - 1, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(b) if b >= 0x80 => self.utf8_char(b)?,
                _ => return Err(self.err()),
            }
        }
    }

    fn escape(&mut self) -> Result<(), JsonError> {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
            Some(b'u') => {
                let hex = self
                    .bytes
                    .get(self.pos + 1..self.pos + 5)
                    .ok_or(self.err())?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(self.err());
                }
                self.pos += 5;
            }
            _ => return Err(self.err()),
        }
        Ok(())
    }

    /// One UTF-8 sequence starting with `lead` (non-ASCII): the ranges of
    /// the Unicode standard's table 3-7, so no overlong form, surrogate or
    /// code point above U+10FFFF passes.
    fn utf8_char(&mut self, lead: u8) -> Result<(), JsonError> {
        let (len, lo, hi) = match lead {
            0xC2..=0xDF => (2, 0x80, 0xBF),
            0xE0 => (3, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
            0xED => (3, 0x80, 0x9F),
            0xF0 => (4, 0x90, 0xBF),
            0xF1..=0xF3 => (4, 0x80, 0xBF),
            0xF4 => (4, 0x80, 0x8F),
            _ => return Err(JsonError::Utf8),
        };
        match self.bytes.get(self.pos + 1..self.pos + len) {
            Some([second, tail @ ..])
                if (lo..=hi).contains(second) && tail.iter().all(|b| b & 0xC0 == 0x80) =>
            {
                self.pos += len;
                Ok(())
            }
            _ => Err(JsonError::Utf8),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err())
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err());
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err());
            }
        }
        Ok(())
    }

    /// Skips one value (after optional whitespace); returns its span.
    /// Iterative: the open containers are a bit stack (1 = object).
    pub fn value(&mut self) -> Result<(usize, usize), JsonError> {
        let mut open = Nesting::default();
        self.skip_ws();
        let start = self.pos;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'{' | b'[') => {
                    if self.open_container(&mut open)? {
                        // Non-empty: its first value (after a key) is next.
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.err()),
            }
            if !self.after_value(&mut open)? {
                return Ok((start, self.pos));
            }
        }
    }

    /// At `{` or `[`: opens it, or consumes it whole when empty. Returns
    /// whether a value must follow (with its key, in an object).
    fn open_container(&mut self, open: &mut Nesting) -> Result<bool, JsonError> {
        let object = self.peek() == Some(b'{');
        open.push(object)?;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(if object { b'}' } else { b']' }) {
            self.pos += 1;
            open.pop();
            return Ok(false);
        }
        if object {
            self.member_key()?;
        }
        Ok(true)
    }

    /// After a value: closes what ends here. Returns whether another
    /// value follows (after a comma, and its key in an object).
    fn after_value(&mut self, open: &mut Nesting) -> Result<bool, JsonError> {
        while let Some(object) = open.top() {
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    if object {
                        self.skip_ws();
                        self.member_key()?;
                    }
                    return Ok(true);
                }
                Some(b'}') if object => open.pop(),
                Some(b']') if !object => open.pop(),
                _ => return Err(self.err()),
            }
            self.pos += 1;
        }
        Ok(false)
    }

    /// `"key" :` inside an object.
    fn member_key(&mut self) -> Result<(), JsonError> {
        self.string()?;
        self.expect(b':')
    }
}

/// Whether `bytes` is exactly one JSON value with optional whitespace.
pub fn validate(bytes: &[u8]) -> Result<(), JsonError> {
    let mut s = Scanner::new(bytes);
    s.value()?;
    if s.at_end() { Ok(()) } else { Err(s.err()) }
}

/// Why a value cannot be read in one way only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictError {
    Json(JsonError),
    /// An object has this key twice: one reader takes the first copy,
    /// another the last.
    Duplicate(String),
    /// A `\u` escape of half a surrogate pair: readers replace it, drop
    /// it or fail.
    LoneSurrogate,
}

impl std::fmt::Display for StrictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrictError::Json(JsonError::Utf8) => f.write_str("invalid UTF-8"),
            StrictError::Json(JsonError::TooDeep) => f.write_str("nested too deeply"),
            StrictError::Json(JsonError::Syntax(at)) => write!(f, "not JSON (at byte {at})"),
            StrictError::Duplicate(key) => {
                write!(f, "the key {} appears twice in one object", quote_key(key))
            }
            StrictError::LoneSurrogate => f.write_str("a string holds a lone surrogate escape"),
        }
    }
}

fn quote_key(key: &str) -> String {
    let shown: String = key.chars().take(64).collect();
    serde_json::to_string(&shown).unwrap_or_default()
}

impl From<JsonError> for StrictError {
    fn from(e: JsonError) -> Self {
        StrictError::Json(e)
    }
}

/// Whether `bytes` is one JSON value that every reader reads alike: valid
/// (as [`validate`]), no object with a key twice (keys compared after
/// decoding their escapes, so `"a"` and `"\u0061"` are one key), and no
/// lone surrogate escape in any string. The relay's fast path does not
/// need this; every message cordon inspects beyond its envelope does,
/// since a host that reads the last copy of a key would act on what
/// cordon never checked.
pub fn strict(bytes: &[u8]) -> Result<(), StrictError> {
    use std::borrow::Cow;
    use std::collections::HashSet;
    type Keys<'k> = HashSet<Cow<'k, [u8]>>;
    fn key<'k>(s: &mut Scanner<'k>, keys: &mut Keys<'k>) -> Result<(), StrictError> {
        s.skip_ws();
        let (start, end, escaped) = s.string()?;
        let bytes: &'k [u8] = s.bytes;
        let raw = &bytes[start..end];
        let key: Cow<'k, [u8]> = if escaped {
            check_surrogates(raw)?;
            let text = std::str::from_utf8(raw).map_err(|_| JsonError::Utf8)?;
            let decoded = serde_json::from_str::<String>(&format!("\"{text}\""))
                .map_err(|_| StrictError::LoneSurrogate)?;
            Cow::Owned(decoded.into_bytes())
        } else {
            Cow::Borrowed(raw)
        };
        if keys.contains(&key) {
            return Err(StrictError::Duplicate(
                String::from_utf8_lossy(&key).into_owned(),
            ));
        }
        keys.insert(key);
        s.expect(b':')?;
        Ok(())
    }
    let mut s = Scanner::new(bytes);
    // Open containers: the keys seen so far of each object, `None` for
    // an array.
    let mut open: Vec<Option<Keys<'_>>> = Vec::new();
    loop {
        s.skip_ws();
        match s.peek() {
            Some(c @ (b'{' | b'[')) => {
                if open.len() == MAX_DEPTH {
                    return Err(JsonError::TooDeep.into());
                }
                s.pos += 1;
                s.skip_ws();
                let close = if c == b'{' { b'}' } else { b']' };
                if s.peek() == Some(close) {
                    s.pos += 1;
                } else if c == b'{' {
                    let mut keys = Keys::new();
                    key(&mut s, &mut keys)?;
                    open.push(Some(keys));
                    continue;
                } else {
                    open.push(None);
                    continue;
                }
            }
            Some(b'"') => {
                let (start, end, escaped) = s.string()?;
                if escaped {
                    check_surrogates(&s.bytes[start..end])?;
                }
            }
            Some(b't') => s.literal(b"true")?,
            Some(b'f') => s.literal(b"false")?,
            Some(b'n') => s.literal(b"null")?,
            Some(b'-' | b'0'..=b'9') => s.number()?,
            _ => return Err(s.err().into()),
        }
        // After a value: close what ends here, up to the next value.
        loop {
            let Some(top) = open.last_mut() else {
                return if s.at_end() {
                    Ok(())
                } else {
                    Err(s.err().into())
                };
            };
            s.skip_ws();
            match (s.peek(), top) {
                (Some(b','), Some(keys)) => {
                    s.pos += 1;
                    key(&mut s, keys)?;
                    break;
                }
                (Some(b','), None) => {
                    s.pos += 1;
                    break;
                }
                (Some(b'}'), Some(_)) | (Some(b']'), None) => {
                    s.pos += 1;
                    open.pop();
                }
                _ => return Err(s.err().into()),
            }
        }
    }
}

/// The `\u` escapes of a string's contents (already scanned, so every
/// escape is well formed) pair their surrogates.
fn check_surrogates(raw: &[u8]) -> Result<(), StrictError> {
    let unit = |at: usize| -> Option<u16> {
        let hex = raw.get(at..at + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    };
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit(i) {
            Some(0xD800..=0xDBFF) => match unit(i + 6) {
                Some(0xDC00..=0xDFFF) => i += 12,
                _ => return Err(StrictError::LoneSurrogate),
            },
            Some(0xDC00..=0xDFFF) => return Err(StrictError::LoneSurrogate),
            Some(_) => i += 6,
            // Any other escape is two bytes.
            None => i += 2,
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// serde_json skips strings without checking their UTF-8, so the
    /// reference is serde_json plus a UTF-8 check.
    fn serde_accepts(bytes: &[u8]) -> bool {
        std::str::from_utf8(bytes).is_ok()
            && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    }

    #[test]
    fn agrees_with_serde_json_on_edge_cases() {
        let cases: &[&[u8]] = &[
            b"{}",
            b"[]",
            b" {} ",
            b"{",
            b"}",
            b"[1,]",
            b"[,1]",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{1:2}",
            b"01",
            b"-0",
            b"-",
            b"1.",
            b"1.5e",
            b"1e+5",
            b"-0.0E-0",
            b"tru",
            b"true",
            b"nul",
            b"\"\\u12\"",
            b"\"\\u12ab\"",
            b"\"\\x\"",
            b"\"a\tb\"",
            b"\"\x7f\"",
            b"\"\xc3\xa9\"",
            b"\"\xc3\"",
            b"\"\xe0\x80\x80\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xf4\x90\x80\x80\"",
            b"\"\xf0\x9f\x98\x80\"",
            b"\xef\xbb\xbf{}",
            b"{}{}",
            b"[1 2]",
            b"{\"a\":[{\"b\":[]}],\"c\":\"d\"}",
            b"\"abcdefghijklmnop\\\"q\"",
            b"\"abcdefghijklmnopqrstuvwxyz0123456789\"",
            b"",
            b" ",
            b"[\"\x01\"]",
        ];
        for case in cases {
            assert_eq!(
                validate(case).is_ok(),
                serde_accepts(case),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn strict_reading_refuses_what_readers_read_differently() {
        for ok in [
            &br#"{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}"#[..],
            br#"{"a":"\ud83d\ude00","\u0062":"\n"}"#,
            br#"[1e999, 123456789012345678901234567890, {}]"#,
        ] {
            assert_eq!(strict(ok), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
        let dup = |k: &str| Err(StrictError::Duplicate(k.into()));
        assert_eq!(strict(br#"{"a":1,"a":2}"#), dup("a"));
        assert_eq!(strict(br#"{"x":[{"b":{"c":1,"d":[],"c":2}}]}"#), dup("c"));
        assert_eq!(strict(br#"{"a":1,"\u0061":2}"#), dup("a"));
        for lone in [
            &br#"{"a":"\ud800"}"#[..],
            br#"{"a":"\udc00\ud800"}"#,
            br#"["x\ud800\u0041"]"#,
            br#"{"\ud800":1}"#,
        ] {
            assert_eq!(strict(lone), Err(StrictError::LoneSurrogate));
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(strict(deep.as_bytes()), Err(JsonError::TooDeep.into()));
        for bad in [
            &b"{\"a\":1,}"[..],
            b"{\"a\" 1}",
            b"[1,]",
            b"{} x",
            b"\"\\x\"",
        ] {
            assert!(matches!(strict(bad), Err(StrictError::Json(_))));
            assert_eq!(validate(bad).is_ok(), strict(bad).is_ok());
        }
    }

    #[test]
    fn invalid_utf8_is_reported_as_such() {
        assert_eq!(validate(b"\"\xff\""), Err(JsonError::Utf8));
        assert_eq!(validate(b"\xff"), Err(JsonError::Syntax(0)));
    }

    /// Every implementation the CPU can run: the one `plain_prefix`
    /// picks and the portable one.
    fn plain_prefix_variants() -> Vec<fn(&[u8]) -> usize> {
        vec![plain_prefix, plain_prefix_portable]
    }

    #[test]
    fn the_chunk_test_stops_at_every_special_byte_at_every_position() {
        for prefix in plain_prefix_variants() {
            for len in 0..200 {
                assert_eq!(prefix(&vec![b'a'; len]), len);
                for at in 0..len {
                    for stop in [0x00, 0x1f, b'"', b'\\', 0x80, 0xff, 0xc3] {
                        let mut run = vec![b'~'; len];
                        run[at] = stop;
                        assert_eq!(prefix(&run), at, "{len} {at} {stop:#x}");
                    }
                    let mut run = vec![b' '; len];
                    run[at] = 0x7f;
                    assert_eq!(prefix(&run), len);
                }
            }
        }
    }

    #[test]
    fn the_chunk_test_agrees_with_the_table_for_every_byte() {
        for prefix in plain_prefix_variants() {
            for b in 0..=255u8 {
                for at in [0, 15, 16, 31, 32, 47, 63, 64, 100, 127, 130] {
                    let mut run = vec![b'a'; 140];
                    run[at] = b;
                    let want = if PLAIN[usize::from(b)] { 140 } else { at };
                    assert_eq!(prefix(&run), want, "{b:#x} at {at}");
                }
            }
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(validate(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(validate(deep.as_bytes()), Err(JsonError::TooDeep));
    }

    #[test]
    fn spans_cover_the_value() {
        let mut s = Scanner::new(b"  {\"a\": [1, \"x\"]} ");
        assert_eq!(s.value().unwrap(), (2, 17));
        let mut s = Scanner::new(b"\"a\\\"b\"");
        assert_eq!(s.string().unwrap(), (1, 5, true));
    }
}
