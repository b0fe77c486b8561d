//! Small JSON helpers for the rare messages cordon rewrites: an object
//! read as its members in order with their values as raw text, so a
//! rewrite changes only what it must and keeps every other byte. (The
//! error responses cordon generates are built in [`super::wire`].)

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object's members, in order, each value as its JSON text.
#[derive(Debug)]
pub struct RawObject<'a> {
    pub members: Vec<(String, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    pub fn parse(text: &'a str) -> Result<RawObject<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The object again, with `key`'s value replaced by `value` text.
    pub fn write_with(&self, key: &str, value: &str) -> String {
        self.rewrite(|k, _| (k == key).then(|| value.to_owned()))
    }

    /// The object again; `f(key, value)` returns a replacement value text
    /// or `None` to keep the member as it was.
    pub fn rewrite(&self, f: impl Fn(&str, &RawValue) -> Option<String>) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&quote(k));
            out.push(':');
            match f(k, v) {
                Some(new) => out.push_str(&new),
                None => out.push_str(v.get()),
            }
        }
        out.push('}');
        out
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members: Vec<(String, &'de RawValue)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if members.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate member {key:?}")));
                    }
                    members.push((key, map.next_value()?));
                }
                Ok(RawObject { members })
            }
        }
        d.deserialize_map(Members)
    }
}

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

pub use super::wire::{code, error_response};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_one_member_keeps_the_others_verbatim() {
        let text = r#"{"b": [1, 2], "a":{"x" :1},"c":"\u00e9"}"#;
        let obj = RawObject::parse(text).unwrap();
        assert_eq!(obj.get("a").unwrap().get(), r#"{"x" :1}"#);
        assert_eq!(
            obj.write_with("a", "null"),
            r#"{"b":[1, 2],"a":null,"c":"\u00e9"}"#
        );
        assert!(RawObject::parse(r#"{"a":1,"a":2}"#).is_err());
    }
}
