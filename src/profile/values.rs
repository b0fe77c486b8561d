//! Checks and conversions of single values: variable and system call
//! names, ports, limits, durations. Each returns the message for the entry
//! on failure; the caller adds the file position and key path.

use std::time::Duration;

use super::schema::{RawLimit, RawPort};
use crate::policy::PortRange;

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, never `LD_*`.
pub(crate) fn check_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "\"{}\" is not a variable name (expected letters, digits and _, not starting with a digit)",
            name.escape_debug()
        ));
    }
    if name.starts_with("LD_") {
        return Err(format!(
            "{name} is refused: the dynamic loader variables (LD_*) are never given to the server"
        ));
    }
    Ok(())
}

/// A system call name, by syntax only: `[a-z0-9_]+`. Whether the
/// architecture has it is checked where the filter is built.
pub(crate) fn check_syscall_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" is not a system call name (expected lowercase letters, digits and _)",
            name.escape_debug()
        ))
    }
}

/// `443` or `"8000-8100"` (or `"443"`), each port 1-65535, first <= last.
pub(crate) fn port_range(raw: &RawPort) -> Result<PortRange, String> {
    let text = match raw {
        RawPort::Number(n) => return port(*n).map(|p| PortRange { first: p, last: p }),
        RawPort::Text(text) => text,
    };
    let invalid = || {
        format!(
            "invalid port \"{}\" (expected a number or a \"first-last\" range like \"8000-8100\")",
            text.escape_debug()
        )
    };
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    if !is_digits(first) || !is_digits(last) {
        return Err(invalid());
    }
    let (first, last) = (port_text(first)?, port_text(last)?);
    if first > last {
        return Err(format!(
            "port range \"{text}\" is reversed (the first port must not exceed the last)"
        ));
    }
    Ok(PortRange { first, last })
}

/// Sorts ranges and merges the overlapping and adjacent ones.
pub(crate) fn merge_ranges(mut ranges: Vec<PortRange>) -> Vec<PortRange> {
    ranges.sort();
    let mut merged: Vec<PortRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if u32::from(range.first) <= u32::from(last.last) + 1 => {
                last.last = last.last.max(range.last);
            }
            _ => merged.push(range),
        }
    }
    merged
}

fn port(n: i64) -> Result<u16, String> {
    port_text(&n.to_string())
}

/// A port written in decimal.
fn port_text(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("port {text} is out of range (1-65535)"))
}

/// A non-empty run of ASCII digits.
fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// What a limit counts, which decides the accepted spellings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    /// Bytes: a number, or a number with K, M, G or T (powers of 1024).
    Bytes,
    /// A plain count (descriptors, processes).
    Count,
    /// Seconds of CPU time.
    Seconds,
}

/// A limit value; `None` is `"unlimited"`.
pub(crate) fn limit(raw: &RawLimit, unit: Unit) -> Result<Option<u64>, String> {
    let text = match raw {
        RawLimit::Number(n) => {
            return u64::try_from(*n)
                .map(Some)
                .map_err(|_| format!("{n} is negative; a limit is a whole number"));
        }
        RawLimit::Text(text) => text.as_str(),
    };
    if text == "unlimited" {
        return Ok(None);
    }
    let (number, scale) = match (unit, text.char_indices().last()) {
        (Unit::Bytes, Some((i, suffix))) if suffix.is_ascii_alphabetic() => {
            (&text[..i], scale(suffix))
        }
        _ => (text, Some(1)),
    };
    let Some(scale) = scale.filter(|_| is_digits(number)) else {
        return Err(limit_syntax(text, unit));
    };
    match number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
    {
        Some(value) => Ok(Some(value)),
        None => Err(format!("\"{text}\" does not fit in 64 bits")),
    }
}

/// The multiplier for a size suffix.
fn scale(suffix: char) -> Option<u64> {
    match suffix.to_ascii_uppercase() {
        'K' => Some(1 << 10),
        'M' => Some(1 << 20),
        'G' => Some(1 << 30),
        'T' => Some(1 << 40),
        _ => None,
    }
}

fn limit_syntax(text: &str, unit: Unit) -> String {
    let expected = match unit {
        Unit::Bytes => {
            "a number of bytes, optionally with K, M, G or T like \"64M\", or \"unlimited\""
        }
        Unit::Count => "a whole number, or \"unlimited\"",
        Unit::Seconds => "a whole number of seconds, or \"unlimited\"",
    };
    format!(
        "invalid limit \"{}\" (expected {expected})",
        text.escape_debug()
    )
}

/// `"500ms"`, `"2s"` or `"1m"`: a whole number and a unit.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n = Some(number)
        .filter(|n| is_digits(n))
        .and_then(|n| n.parse::<u64>().ok());
    let value = match (n, unit) {
        (Some(n), "ms") => Some(Duration::from_millis(n)),
        (Some(n), "s") => Some(Duration::from_secs(n)),
        (Some(n), "m") => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    };
    value.ok_or_else(|| {
        format!(
            "invalid duration \"{}\" (expected a whole number with ms, s or m, like \"500ms\", \"2s\" or \"1m\")",
            text.escape_debug()
        )
    })
}
