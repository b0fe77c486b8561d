//! Description hygiene: finding text a person reviewing a tool would not
//! see but a model reads (zero-width and bidirectional formatting
//! characters, Unicode tag characters, control characters).

use serde_json::Value;

/// The characters the issue names: zero-width, bidi embeddings and
/// isolates, invisible operators, the BOM, tag characters, and control
/// characters other than tab and line breaks (which descriptions use).
pub fn is_hidden(c: char) -> bool {
    let hidden = matches!(
        u32::from(c),
        0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xFEFF
            | 0xE0000..=0xE007F
    );
    hidden || (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// The first hidden character in any string or key of `value`, with the
/// path to it (`description`, `inputSchema.properties.q.description`).
pub fn find_hidden(value: &Value) -> Option<(String, char)> {
    fn walk(value: &Value, path: &mut Vec<String>) -> Option<(String, char)> {
        let found = |s: &str, path: &[String]| {
            s.chars()
                .find(|&c| is_hidden(c))
                .map(|c| (path.join("."), c))
        };
        match value {
            Value::String(s) => found(s, path),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
                path.push(i.to_string());
                let hit = walk(v, path);
                path.pop();
                hit
            }),
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                path.push(k.clone());
                let hit = found(k, path).or_else(|| walk(v, path));
                path.pop();
                hit
            }),
            _ => None,
        }
    }
    walk(value, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_invisible_and_control_characters_with_their_path() {
        let v = serde_json::json!({
            "name": "t",
            "description": "fine\nlines\tand tabs",
            "inputSchema": {"properties": {"q": {"description": "ignore\u{200b}previous"}}}
        });
        assert_eq!(
            find_hidden(&v),
            Some(("inputSchema.properties.q.description".into(), '\u{200b}'))
        );
        for c in [
            '\u{202e}',
            '\u{2066}',
            '\u{feff}',
            '\u{e0041}',
            '\u{7}',
            '\u{85}',
        ] {
            assert!(is_hidden(c), "{c:?}");
        }
        for c in ['a', 'é', '\n', ' ', '\u{2028}'] {
            assert!(!is_hidden(c), "{c:?}");
        }
    }
}
