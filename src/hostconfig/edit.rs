//! The new text of one server entry: its `command` and `args` values
//! replaced in place (an `args` member inserted after `command` when it
//! had none), every other byte of the entry as it was.
//!
//! A new `args` array follows the layout of the one it replaces: on one
//! line when that was on one line, else one element per line at the
//! indentation of its first element. An inserted `args` goes on its own
//! line at the indentation of `command` when `command` starts its line
//! (elements one indentation unit deeper), else on the same line.

use super::jsonc::{self, Kind, Node};

/// The entry's text with `command` and `args` set. `indent` is the file's
/// indentation unit. None when the entry has no `command` member.
pub fn entry(
    text: &str,
    node: &Node,
    command: &str,
    args: &[String],
    indent: &str,
) -> Option<String> {
    let nl = jsonc::newline(text);
    let cmd = node.member("command")?;
    let mut edits = vec![(cmd.value.start..cmd.value.end, quote(command))];
    let cmd_indent = jsonc::line_indent(text, cmd.key_start);
    match node.member("args") {
        Some(member) => {
            let key_indent = jsonc::line_indent(text, member.key_start);
            let deeper = |k: &str| format!("{k}{indent}");
            let rendered = match (&member.value.kind, key_indent) {
                (Kind::Array(items), _)
                    if !items.is_empty() && is_multiline(text, &member.value) =>
                {
                    let close = jsonc::line_indent(text, member.value.end - 1)
                        .or(key_indent)
                        .unwrap_or("");
                    let item = jsonc::line_indent(text, items[0].start)
                        .map_or_else(|| deeper(close), str::to_owned);
                    array_lines(args, &item, close, nl)
                }
                (Kind::Array(items), Some(k)) if items.is_empty() && is_multiline(text, node) => {
                    array_lines(args, &deeper(k), k, nl)
                }
                _ => array_inline(args),
            };
            edits.push((member.value.start..member.value.end, rendered));
        }
        None => {
            let key_sep = key_separator(text, cmd.key_start, cmd.value.start);
            let inserted = match cmd_indent {
                Some(ind) => format!(
                    ",{nl}{ind}\"args\"{key_sep}{}",
                    array_lines(args, &format!("{ind}{indent}"), ind, nl)
                ),
                None => format!(", \"args\"{key_sep}{}", array_inline(args)),
            };
            edits.push((cmd.value.end..cmd.value.end, inserted));
        }
    }
    let shifted = edits
        .into_iter()
        .map(|(r, s)| ((r.start - node.start)..(r.end - node.start), s))
        .collect();
    Some(jsonc::apply(&text[node.start..node.end], shifted))
}

fn is_multiline(text: &str, node: &Node) -> bool {
    text[node.start..node.end].contains('\n')
}

/// What separates a key from its value (`": "`, `":"`, `" : "`), as the
/// `command` member writes it, comments left out.
fn key_separator(text: &str, key_start: usize, value_start: usize) -> String {
    let bytes = text.as_bytes();
    let mut i = key_start + 1;
    while i < value_start && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    let sep = &text[(i + 1).min(value_start)..value_start];
    if sep.contains('/') || sep.contains('\n') || !sep.contains(':') {
        ": ".to_owned()
    } else {
        sep.to_owned()
    }
}

/// A JSON string literal (serde_json's escaping).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn array_inline(args: &[String]) -> String {
    let items: Vec<String> = args.iter().map(|a| quote(a)).collect();
    format!("[{}]", items.join(", "))
}

fn array_lines(args: &[String], item: &str, close: &str, nl: &str) -> String {
    if args.is_empty() {
        return "[]".to_owned();
    }
    let items: Vec<String> = args.iter().map(|a| format!("{item}{}", quote(a))).collect();
    format!("[{nl}{}{nl}{close}]", items.join(&format!(",{nl}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn edit(text: &str, args: &[&str]) -> String {
        let root = jsonc::parse(text).unwrap();
        let node = &root.member("e").unwrap().value;
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let new = entry(text, node, "/usr/bin/cordon", &args, "  ").unwrap();
        jsonc::apply(text, vec![(node.start..node.end, new)])
    }

    #[test]
    fn one_line_arrays_stay_on_one_line() {
        assert_eq!(
            edit(
                r#"{"e": { "command": "npx", "args": ["-y", "x"] /* c */, }}"#,
                &["run", "--", "npx"]
            ),
            r#"{"e": { "command": "/usr/bin/cordon", "args": ["run", "--", "npx"] /* c */, }}"#
        );
    }

    #[test]
    fn multi_line_arrays_keep_their_indentation() {
        let text = "{\n\t\"e\": {\n\t\t\"command\": \"npx\", // run it\n\t\t\"args\": [\n\t\t\t\"-y\",\n\t\t]\n\t}\n}";
        assert_eq!(
            edit(text, &["run", "x"]),
            "{\n\t\"e\": {\n\t\t\"command\": \"/usr/bin/cordon\", // run it\n\t\t\"args\": [\n\t\t\t\"run\",\n\t\t\t\"x\"\n\t\t]\n\t}\n}"
        );
    }

    #[test]
    fn crlf_files_get_crlf_lines() {
        let text = "{\r\n  \"e\": {\r\n    \"command\": \"/srv\"\r\n  }\r\n}\r\n";
        assert_eq!(
            edit(text, &["run"]),
            "{\r\n  \"e\": {\r\n    \"command\": \"/usr/bin/cordon\",\r\n    \"args\": [\r\n      \"run\"\r\n    ]\r\n  }\r\n}\r\n"
        );
    }

    #[test]
    fn a_missing_args_is_inserted_after_command() {
        let text = "{\n  \"e\": {\n    \"command\": \"/srv\",\n    \"cwd\": \"/\"\n  }\n}";
        assert_eq!(
            edit(text, &["run", "--", "/srv"]),
            "{\n  \"e\": {\n    \"command\": \"/usr/bin/cordon\",\n    \"args\": [\n      \"run\",\n      \"--\",\n      \"/srv\"\n    ],\n    \"cwd\": \"/\"\n  }\n}"
        );
        assert_eq!(
            edit(r#"{"e": {"command":"/srv"}}"#, &["run"]),
            r#"{"e": {"command":"/usr/bin/cordon", "args":["run"]}}"#
        );
    }
}
