//! Tool pins: the SHA-256 of each tool's definition, recorded when a
//! server is approved, so that a definition that changes later (a "rug
//! pull") is noticed.

use std::collections::BTreeMap;

use serde_json::Value;

use super::binding::sha256_hex;

/// The fields of a tool that make up its definition.
const DEFINITION: [&str; 6] = [
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
];

/// The digest of one tool's definition: canonical JSON (keys sorted at
/// every level, no whitespace) of its defining fields.
pub fn tool_digest(tool: &Value) -> String {
    let mut text = String::new();
    text.push('{');
    let mut first = true;
    for key in DEFINITION {
        if let Some(value) = tool.get(key) {
            if !first {
                text.push(',');
            }
            first = false;
            canonical(&Value::String(key.into()), &mut text);
            text.push(':');
            canonical(value, &mut text);
        }
    }
    text.push('}');
    sha256_hex(text.as_bytes())
}

/// Tool name → digest, for every tool that has a name.
pub fn pins_of(tools: &[Value]) -> BTreeMap<String, String> {
    tools
        .iter()
        .filter_map(|t| Some((t.get("name")?.as_str()?.to_owned(), tool_digest(t))))
        .collect()
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(&Value::String(key.clone()), out);
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_key_order_but_not_content() {
        let a: Value = serde_json::from_str(
            r#"{"name":"x","description":"d","inputSchema":{"type":"object","b":1,"a":2}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(r#"{"inputSchema":{"a":2,"type":"object","b":1},"description":"d","name":"x","extra":5}"#).unwrap();
        let c: Value = serde_json::from_str(
            r#"{"name":"x","description":"d!","inputSchema":{"type":"object","b":1,"a":2}}"#,
        )
        .unwrap();
        assert_eq!(tool_digest(&a), tool_digest(&b));
        assert_ne!(tool_digest(&a), tool_digest(&c));
        assert_eq!(pins_of(&[a]).keys().collect::<Vec<_>>(), ["x"]);
    }
}
