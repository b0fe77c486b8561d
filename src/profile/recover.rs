//! `profile check` past the first TOML error. The parser recovers from
//! syntax errors on its own; serde stops at the first type error or
//! unknown field, so each one found is taken out of the parsed document
//! (spans stay those of the file) and the document is read again. A
//! table that lost an entry this way is not validated further: what its
//! validation would say could be caused by the missing entry.

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, Deserializer};

use super::ProfileError;
use super::error::Doc;
use super::schema::RawProfile;

/// More than this many type errors in one file is not worth going on.
const MAX_ROUNDS: usize = 64;

/// What a file gives when read as far as it goes.
pub(crate) struct Recovered {
    /// Syntax and type errors, in the order found.
    pub errors: Vec<ProfileError>,
    /// The profile without the refused entries; `None` when the file
    /// could not be read that far.
    pub raw: Option<RawProfile>,
    /// Top-level keys that lost an entry.
    pub pruned: Vec<String>,
}

pub(crate) fn read_profile(doc: &Doc<'_>) -> Recovered {
    let mut recovered = Recovered {
        errors: Vec::new(),
        raw: None,
        pruned: Vec::new(),
    };
    let (mut table, syntax) = DeTable::parse_recoverable(doc.text);
    if !syntax.is_empty() {
        // A tree rebuilt around syntax errors is a guess; its types are not
        // worth reporting.
        recovered.errors = syntax.iter().map(|e| doc.toml_error(e)).collect();
        return recovered;
    }
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let err = match RawProfile::deserialize(Deserializer::from(table.clone())) {
            Ok(raw) => {
                recovered.raw = Some(raw);
                return recovered;
            }
            Err(err) => err,
        };
        if let Some(field) = missing_field(&err) {
            // The entry taken out may be what is now missing.
            if !removed.iter().any(|r| r == field) {
                recovered.errors.push(doc.toml_error(&err));
            }
            return recovered;
        }
        recovered.errors.push(doc.toml_error(&err));
        let Some(offset) = err.span().map(|s| s.start) else {
            return recovered;
        };
        match remove_at(table.get_mut(), offset) {
            Some(path) => {
                if let Some(top) = path.first() {
                    recovered.pruned.push(top.clone());
                }
                removed.extend(path.last().cloned());
            }
            None => return recovered,
        }
    }
    recovered
}

/// `missing field `name`` is serde's message for a required key.
fn missing_field(err: &toml::de::Error) -> Option<&str> {
    let rest = err.message().strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// Removes the innermost key or array item at `offset`; returns the key
/// path of what was removed (array items count as their key).
fn remove_at(table: &mut DeTable<'_>, offset: usize) -> Option<Vec<String>> {
    let mut hit = None;
    for (key, value) in table.iter_mut() {
        let name = key.get_ref().to_string();
        if key.span().contains(&offset) {
            hit = Some((key.clone(), vec![name]));
            break;
        }
        if let Some(mut inner) = remove_inside(value, offset) {
            inner.insert(0, name);
            return Some(inner);
        }
        if value.span().contains(&offset) {
            hit = Some((key.clone(), vec![name]));
            break;
        }
    }
    let (key, path) = hit?;
    table.remove(&key);
    Some(path)
}

/// Removes something at `offset` strictly inside `value`.
fn remove_inside(value: &mut Spanned<DeValue<'_>>, offset: usize) -> Option<Vec<String>> {
    let span = value.span();
    match value.get_mut() {
        DeValue::Table(inner) => remove_at(inner, offset),
        DeValue::Array(items) => {
            let i = items
                .iter()
                .position(|item| item.span().contains(&offset))?;
            let mut kept: Vec<Spanned<DeValue<'_>>> = items.to_vec();
            if let Some(path) = kept.get_mut(i).and_then(|item| remove_inside(item, offset)) {
                *items = kept.into_iter().collect::<DeArray<'_>>();
                return Some(path);
            }
            kept.remove(i);
            *value = Spanned::new(span, DeValue::Array(kept.into_iter().collect()));
            Some(Vec::new())
        }
        _ => None,
    }
}
