//! Changes to a profile's TOML text that keep every byte of it that is not
//! changed: its comments, order and layout stay, so the learned profile
//! reads as the base profile with additions.
//!
//! The text is parsed once for spans (toml's `DeTable`), each change
//! becomes an insertion or a replacement at a byte offset, and the edits
//! are applied from the end of the text backwards so that earlier offsets
//! stay valid. Only top-level tables written with a `[table]` header are
//! changed in place; a table the text does not have is appended. A table
//! written inline or by dotted keys is refused rather than rewritten.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One element added to an array, with the comment that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The element as TOML text (`"~/data"`, `8080`).
    pub value: String,
    pub comment: String,
}

/// A change to one key of a top-level table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add elements at the end of the array `key` of `[table]`, creating
    /// the key (and the table) when missing.
    Extend {
        table: String,
        key: String,
        items: Vec<Item>,
    },
    /// Set `key` of `[table]` to `value` (TOML text), with a comment line
    /// above it.
    Set {
        table: String,
        key: String,
        value: String,
        comment: String,
    },
}

impl Change {
    fn table(&self) -> &str {
        match self {
            Change::Extend { table, .. } | Change::Set { table, .. } => table,
        }
    }

    fn key(&self) -> &str {
        match self {
            Change::Extend { key, .. } | Change::Set { key, .. } => key,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    #[error("the profile does not parse as TOML: {0}")]
    Parse(String),
    #[error(
        "[{table}] is written inline or with dotted keys; write it as a [{table}] table to let cordon add to it"
    )]
    Layout { table: String },
    #[error("{table}.{key} is not an array")]
    NotArray { table: String, key: String },
}

/// One edit: replace `remove` bytes at `at` with `insert`. `seq` orders
/// edits at the same offset: the lower one ends up first in the text.
struct Edit {
    at: usize,
    remove: usize,
    insert: String,
    seq: usize,
}

/// `text` with `changes` applied.
pub fn apply(text: &str, changes: &[Change]) -> Result<String, EditError> {
    let root = DeTable::parse(text).map_err(|e| EditError::Parse(e.message().to_owned()))?;
    let mut by_table: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for change in changes {
        let table = change.table();
        if !by_table.contains_key(table) {
            order.push(table);
        }
        by_table.entry(table).or_default().push(change);
    }
    let mut edits = Vec::new();
    let mut appended = String::new();
    for table in order {
        let changes = by_table.get(table).map(Vec::as_slice).unwrap_or_default();
        match lookup(root.get_ref(), table) {
            Some(value) => edit_table(text, table, value, changes, &mut edits)?,
            None => {
                let _ = write!(appended, "\n[{table}]\n");
                for change in changes {
                    appended.push_str(&fresh(change));
                }
            }
        }
    }
    if !appended.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            appended.insert(0, '\n');
        }
        push(&mut edits, text.len(), 0, appended);
    }
    Ok(splice(text, edits))
}

/// `text` with the top-level string `key` replaced by `f` of its value
/// (unchanged when it is missing or not a string).
pub fn map_root_string(
    text: &str,
    key: &str,
    f: impl FnOnce(&str) -> String,
) -> Result<String, EditError> {
    let root = DeTable::parse(text).map_err(|e| EditError::Parse(e.message().to_owned()))?;
    let Some(value) = lookup(root.get_ref(), key) else {
        return Ok(text.to_owned());
    };
    let DeValue::String(old) = value.get_ref() else {
        return Ok(text.to_owned());
    };
    let mut edits = Vec::new();
    let new = crate::profile::init::quote(&f(old));
    push(&mut edits, value.span().start, value.span().len(), new);
    Ok(splice(text, edits))
}

/// The value of `key` in the top-level `[table]` as written, when the
/// text has it.
pub fn current_value(text: &str, table: &str, key: &str) -> Option<String> {
    let root = DeTable::parse(text).ok()?;
    let DeValue::Table(entries) = lookup(root.get_ref(), table)?.get_ref() else {
        return None;
    };
    let value = lookup(entries, key)?;
    text.get(value.span()).map(|v| v.trim().to_owned())
}

fn lookup<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

fn push(edits: &mut Vec<Edit>, at: usize, remove: usize, insert: String) {
    let seq = edits.len();
    edits.push(Edit {
        at,
        remove,
        insert,
        seq,
    });
}

fn splice(text: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse((e.at, e.seq)));
    let mut out = text.to_owned();
    for edit in edits {
        out.replace_range(edit.at..edit.at + edit.remove, &edit.insert);
    }
    out
}

/// The edits for the changes of one table that the text has.
fn edit_table(
    text: &str,
    name: &str,
    table: &Spanned<DeValue<'_>>,
    changes: &[&Change],
    edits: &mut Vec<Edit>,
) -> Result<(), EditError> {
    let header = text.get(table.span()).unwrap_or_default();
    let layout = || EditError::Layout {
        table: name.to_owned(),
    };
    let DeValue::Table(entries) = table.get_ref() else {
        return Err(layout());
    };
    if !header.starts_with('[') || header.starts_with("[[") {
        return Err(layout());
    }
    let mut new_keys = String::new();
    for change in changes {
        match (change, lookup(entries, change.key())) {
            (_, None) => new_keys.push_str(&fresh(change)),
            (Change::Extend { items, .. }, Some(value)) => {
                extend_array(text, name, change.key(), value, items, edits)?;
            }
            (Change::Set { value, comment, .. }, Some(old)) => {
                let key_line = line_start(text, old.span().start);
                push(edits, key_line, 0, comment_lines(comment));
                push(edits, old.span().start, old.span().len(), value.clone());
            }
        }
    }
    if !new_keys.is_empty() {
        // After the table's last key (its value may span lines), else
        // after the header.
        let end = entries
            .iter()
            .map(|(_, v)| v.span().end)
            .max()
            .unwrap_or(table.span().end)
            .max(table.span().end);
        let line_end = text
            .get(end..)
            .and_then(|rest| rest.find('\n'))
            .map(|i| end + i + 1);
        match line_end {
            Some(at) => push(edits, at, 0, new_keys),
            None => push(edits, text.len(), 0, format!("\n{new_keys}")),
        }
    }
    Ok(())
}

/// Elements added before the closing bracket, one a line, each with its
/// comment; a comma after the last existing element when it has none.
fn extend_array(
    text: &str,
    table: &str,
    key: &str,
    value: &Spanned<DeValue<'_>>,
    items: &[Item],
    edits: &mut Vec<Edit>,
) -> Result<(), EditError> {
    let DeValue::Array(array) = value.get_ref() else {
        return Err(EditError::NotArray {
            table: table.to_owned(),
            key: key.to_owned(),
        });
    };
    let whole = text.get(value.span()).unwrap_or_default();
    if !whole.contains('\n') {
        // On one line: one element a line, so each added one can carry
        // its comment.
        let mut lines = String::from("[\n");
        for element in array.iter() {
            let _ = writeln!(
                lines,
                "    {},",
                text.get(element.span()).unwrap_or_default()
            );
        }
        for item in items {
            let _ = writeln!(
                lines,
                "    {},{}",
                item.value,
                trailing_comment(&item.comment)
            );
        }
        lines.push(']');
        push(edits, value.span().start, value.span().len(), lines);
        return Ok(());
    }
    let close = value.span().end.saturating_sub(1);
    if let Some(last) = array.iter().last() {
        let between = text.get(last.span().end..close).unwrap_or_default();
        if !has_comma(between) {
            push(edits, last.span().end, 0, ",".to_owned());
        }
    }
    let line = line_start(text, close);
    let before_close = text.get(line..close).unwrap_or_default();
    let mut lines = String::new();
    let (at, indent) = if before_close.trim().is_empty() && line > value.span().start {
        // The bracket is on a line of its own: keep it there.
        (line, "    ".to_owned())
    } else {
        lines.push('\n');
        (close, "    ".to_owned())
    };
    for item in items {
        let _ = writeln!(
            lines,
            "{indent}{},{}",
            item.value,
            trailing_comment(&item.comment)
        );
    }
    push(edits, at, 0, lines);
    Ok(())
}

/// Whether the text between an array's last element and its closing
/// bracket (whitespace and comments) holds the comma.
fn has_comma(between: &str) -> bool {
    between
        .lines()
        .any(|line| line.split('#').next().unwrap_or_default().contains(','))
}

fn line_start(text: &str, at: usize) -> usize {
    text.get(..at)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// A key the table does not have yet, with its comment.
fn fresh(change: &Change) -> String {
    match change {
        Change::Extend { key, items, .. } => {
            let mut out = format!("{key} = [\n");
            for item in items {
                let _ = writeln!(
                    out,
                    "    {},{}",
                    item.value,
                    trailing_comment(&item.comment)
                );
            }
            out.push_str("]\n");
            out
        }
        Change::Set {
            key,
            value,
            comment,
            ..
        } => format!("{}{key} = {value}\n", comment_lines(comment)),
    }
}

fn trailing_comment(comment: &str) -> String {
    if comment.is_empty() {
        String::new()
    } else {
        format!("  # {}", comment_text(comment))
    }
}

/// A comment on lines of its own, `# ` before each.
pub fn comment_lines(comment: &str) -> String {
    comment
        .lines()
        .map(|line| {
            let line = comment_text(line);
            if line.is_empty() {
                "#\n".to_owned()
            } else {
                format!("# {line}\n")
            }
        })
        .collect()
}

/// Comment text from what a server named: control characters escaped, so
/// that nothing it chose can end the comment and become TOML.
pub fn comment_text(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn extend(table: &str, key: &str, values: &[&str]) -> Change {
        Change::Extend {
            table: table.into(),
            key: key.into(),
            items: values
                .iter()
                .map(|v| Item {
                    value: format!("\"{v}\""),
                    comment: format!("asked for {v}"),
                })
                .collect(),
        }
    }

    fn applied(text: &str, changes: &[Change]) -> String {
        let out = apply(text, changes).unwrap();
        // Whatever the edit, the result is TOML.
        DeTable::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        out
    }

    #[test]
    fn an_inline_array_gets_a_comma_and_lines() {
        let out = applied(
            "[filesystem]\nread = [\"/a\"] # mine\n",
            &[extend("filesystem", "read", &["/b"])],
        );
        assert_eq!(
            out,
            "[filesystem]\nread = [\n    \"/a\",\n    \"/b\",  # asked for /b\n] # mine\n"
        );
        let out = applied(
            "[seccomp]\nallow = [ \"a\" , \"b\" ]\n",
            &[extend("seccomp", "allow", &["c"])],
        );
        assert_eq!(
            out,
            "[seccomp]\nallow = [\n    \"a\",\n    \"b\",\n    \"c\",  # asked for c\n]\n"
        );
    }

    #[test]
    fn a_multiline_array_keeps_its_comments_and_bracket() {
        let text = "[filesystem]\ngroups = [\n    \"runtime\",  # why, really\n    \"python\" # no comma\n]\n";
        let out = applied(text, &[extend("filesystem", "groups", &["node"])]);
        assert_eq!(
            out,
            "[filesystem]\ngroups = [\n    \"runtime\",  # why, really\n    \"python\", # no comma\n    \"node\",  # asked for node\n]\n"
        );
    }

    #[test]
    fn an_empty_array_is_filled() {
        let out = applied(
            "[network]\nallow = []\n",
            &[extend("network", "allow", &["h:1"])],
        );
        assert_eq!(
            out,
            "[network]\nallow = [\n    \"h:1\",  # asked for h:1\n]\n"
        );
    }

    #[test]
    fn a_missing_key_goes_after_the_last_key_of_its_table() {
        let out = applied(
            "[filesystem] # fs\ngroups = [\n  \"runtime\",\n]  # why\n\n# net\n[network]\nmode = \"none\"\n",
            &[extend("filesystem", "write", &["/w"])],
        );
        assert_eq!(
            out,
            "[filesystem] # fs\ngroups = [\n  \"runtime\",\n]  # why\nwrite = [\n    \"/w\",  # asked for /w\n]\n\n# net\n[network]\nmode = \"none\"\n"
        );
        let out = applied(
            "[filesystem]\n[network]\n",
            &[extend("filesystem", "read", &["/r"])],
        );
        assert_eq!(
            out,
            "[filesystem]\nread = [\n    \"/r\",  # asked for /r\n]\n[network]\n"
        );
    }

    #[test]
    fn a_missing_table_is_appended_once() {
        let out = applied(
            "schema = 1",
            &[
                extend("seccomp", "allow", &["memfd_create"]),
                Change::Set {
                    table: "network".into(),
                    key: "mode".into(),
                    value: "\"filtered\"".into(),
                    comment: "for the allowlist".into(),
                },
                extend("network", "allow", &["h:1"]),
            ],
        );
        assert_eq!(
            out,
            "schema = 1\n\n[seccomp]\nallow = [\n    \"memfd_create\",  # asked for memfd_create\n]\n\n[network]\n# for the allowlist\nmode = \"filtered\"\nallow = [\n    \"h:1\",  # asked for h:1\n]\n"
        );
    }

    #[test]
    fn a_value_is_replaced_with_a_comment_above() {
        let out = applied(
            "[network]\n  mode = \"none\"  # none at all\n",
            &[Change::Set {
                table: "network".into(),
                key: "mode".into(),
                value: "\"filtered\"".into(),
                comment: "was \"none\"".into(),
            }],
        );
        assert_eq!(
            out,
            "[network]\n# was \"none\"\n  mode = \"filtered\"  # none at all\n"
        );
    }

    #[test]
    fn a_root_string_is_rewritten() {
        let out = map_root_string(
            "schema = 1\ndescription = 'old \\n' # why\n[a]\ndescription = \"x\"\n",
            "description",
            |d| format!("new: {d}"),
        )
        .unwrap();
        assert_eq!(
            out,
            "schema = 1\ndescription = \"new: old \\\\n\" # why\n[a]\ndescription = \"x\"\n"
        );
    }

    #[test]
    fn inline_tables_are_refused() {
        let err = apply(
            "filesystem = { read = [] }\n",
            &[extend("filesystem", "read", &["/a"])],
        )
        .unwrap_err();
        assert_eq!(
            err,
            EditError::Layout {
                table: "filesystem".into()
            }
        );
        let err = apply(
            "[filesystem]\nread = \"/a\"\n",
            &[extend("filesystem", "read", &["/b"])],
        );
        assert!(matches!(err, Err(EditError::NotArray { .. })));
    }

    #[test]
    fn comments_cannot_be_ended_by_a_name() {
        assert_eq!(comment_text("a\nmode = \"host\""), "a\\nmode = \"host\"");
        let out = applied(
            "[filesystem]\n",
            &[Change::Extend {
                table: "filesystem".into(),
                key: "read".into(),
                items: vec![Item {
                    value: "\"/x\"".into(),
                    comment: "read /x\n[network]\nmode = \"host\"".into(),
                }],
            }],
        );
        assert!(!out.contains("\n[network]"), "{out}");
    }
}
