//! Requests in flight, one table per direction, keyed by id.
//!
//! The relay must know which request a response answers: a `tools/list`
//! result is filtered, a `tools/call` is audited, and a response dropped
//! for its size is replaced by an error carrying the same id. The tables
//! are bounded: when one is full, new requests are answered by cordon
//! with an error instead of evicting an entry, because an evicted
//! `tools/list` would let its response through unfiltered.

use std::collections::HashMap;

/// At most this many requests may wait for a response in each direction.
pub const MAX_IN_FLIGHT: usize = 4096;
/// Ids longer than this are refused: the table's memory stays bounded.
pub const MAX_ID_LEN: usize = 1024;

/// Why a request could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    TooMany,
    Duplicate,
    LongId,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Full::TooMany => "too many requests in flight",
            Full::Duplicate => "the id of a request still in flight was reused",
            Full::LongId => "the request id is too long",
        })
    }
}

/// One direction's requests in flight.
#[derive(Debug)]
pub struct Pending<T> {
    map: HashMap<String, T>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            map: HashMap::new(),
        }
    }
}

/// The key for an id's JSON text: a string by its decoded value, a number
/// by its integer value when it has one. Peers may re-encode an id
/// (`"\u0061"` for `"a"`), and a response must still find its request.
pub fn key(id: &str) -> Option<String> {
    if let Some(inner) = id.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(format!("s{inner}"));
        }
        return serde_json::from_str::<String>(id)
            .ok()
            .map(|s| format!("s{s}"));
    }
    match id.parse::<i64>() {
        Ok(n) => Some(format!("n{n}")),
        Err(_) => match id.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(format!("n{}", f as i64)),
            _ => Some(format!("n{id}")),
        },
    }
}

impl<T> Pending<T> {
    pub fn insert(&mut self, id: &str, value: T) -> Result<(), Full> {
        if id.len() > MAX_ID_LEN {
            return Err(Full::LongId);
        }
        let key = key(id).ok_or(Full::LongId)?;
        if self.map.contains_key(&key) {
            return Err(Full::Duplicate);
        }
        if self.map.len() >= MAX_IN_FLIGHT {
            return Err(Full::TooMany);
        }
        self.map.insert(key, value);
        Ok(())
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        key(id).and_then(|k| self.map.remove(&k))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_encodings_find_the_same_request() {
        let mut p = Pending::default();
        p.insert("\"a\"", 1).unwrap();
        assert_eq!(p.remove("\"\\u0061\""), Some(1));
        p.insert("7", 2).unwrap();
        assert_eq!(p.remove("7.0"), Some(2));
        p.insert("7", 3).unwrap();
        assert_eq!(p.remove("\"7\""), None, "a string id is not a number id");
    }

    #[test]
    fn the_table_is_bounded_and_refuses_duplicates() {
        let mut p = Pending::default();
        for i in 0..MAX_IN_FLIGHT {
            p.insert(&i.to_string(), ()).unwrap();
        }
        assert_eq!(p.insert("\"x\"", ()), Err(Full::TooMany));
        assert_eq!(p.insert("1", ()), Err(Full::Duplicate));
        let long = format!("\"{}\"", "x".repeat(MAX_ID_LEN));
        assert_eq!(p.insert(&long, ()), Err(Full::LongId));
        assert_eq!(p.len(), MAX_IN_FLIGHT);
    }
}
