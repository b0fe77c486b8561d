//! The profile module's one error type, and [`Doc`], which turns a byte
//! span in a profile or group file into `file:line:column: key.path: …`.
//!
//! Every problem found inside a file is a [`ProfileError::Invalid`] carrying
//! the position and the key path, so the top-level renderer prints it as is.

use std::io;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::policy::GrantSource;

/// Everything that can go wrong while finding, parsing and validating a
/// profile, or while adding grants from the command line.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A problem at one place in a profile or group file.
    #[error("{file}:{line}:{column}: {}{message}", KeyPrefix(key))]
    Invalid {
        /// The file as named to the user (`<built-in>/NAME.toml` for the
        /// shipped ones).
        file: String,
        /// 1-based.
        line: usize,
        /// 1-based, in characters.
        column: usize,
        /// The key path (`filesystem.read[1]`), empty for the whole file.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A profile file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// No profile of that name in any directory nor built in.
    #[error("profile \"{name}\" not found (looked in: {}){}", looked_in.join(", "),
        nearest.as_ref().map_or_else(String::new, |n| format!("; did you mean \"{n}\"?")))]
    NotFound {
        name: String,
        looked_in: Vec<String>,
        /// The known profile name closest to `name`, when one is close.
        nearest: Option<String>,
    },
    /// A profile reference that is neither a valid name nor a path.
    #[error("invalid profile name \"{name}\": {reason}")]
    InvalidName { name: String, reason: String },
    /// `Context::from_env` could not work out a directory.
    #[error("cannot determine {what}: {reason}")]
    Environment { what: &'static str, reason: String },
    /// A grant from outside the profile (`--ro`, `--rw`, the executable)
    /// that cannot be resolved.
    #[error("{from} path \"{path}\": {reason}")]
    Grant {
        from: GrantSource,
        path: String,
        reason: String,
    },
    /// An `--env` name that cannot be passed.
    #[error("--env {name}: {reason}")]
    EnvName { name: String, reason: String },
}

/// Renders `key: ` or nothing.
struct KeyPrefix<'a>(&'a str);

impl std::fmt::Display for KeyPrefix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}

/// One profile or group file being read: its user-facing name and text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Doc<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl<'a> Doc<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Doc<'a> {
        Doc { file, text }
    }

    /// An error at `span` under `key`.
    pub fn at(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ProfileError {
        let (line, column) = self.line_column(span.start);
        ProfileError::Invalid {
            file: self.file.to_owned(),
            line,
            column,
            key: key.into(),
            message: message.into(),
        }
    }

    /// An error at a spanned value.
    pub fn at_value<T>(
        &self,
        value: &Spanned<T>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ProfileError {
        self.at(value.span(), key, message)
    }

    /// A parse or type error from `toml`; the key path is recovered from the
    /// span, since serde does not report it.
    pub fn toml_error(&self, err: &toml::de::Error) -> ProfileError {
        let span = err.span().unwrap_or(0..0);
        // An empty span at the very start is what `missing field` reports for
        // the top-level table.
        let key = if span == (0..0) {
            String::new()
        } else {
            key_path_at(self.text, span.start)
        };
        let message = match err.message().trim_end() {
            // The parser does not say which key; the span covers it.
            "duplicate key" => format!(
                "duplicate key `{}`",
                self.text.get(span.clone()).unwrap_or_default().trim()
            ),
            // serde's words for TOML's arrays and tables.
            other => other
                .replace("expected a sequence", "expected an array")
                .replace("expected a map", "expected a table"),
        };
        self.at(span, key, message)
    }

    /// The 1-based line of a span, to point at a second place in a message.
    pub fn line_of(&self, span: &Range<usize>) -> usize {
        self.line_column(span.start).0
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &self.text[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }
}

/// The key path of the innermost key or value that contains `offset`. For a
/// key itself (an unknown field) this is the path of the table holding it.
fn key_path_at(text: &str, offset: usize) -> String {
    let Ok(root) = DeTable::parse(text) else {
        return String::new();
    };
    let mut best = Best {
        offset,
        len: usize::MAX,
        path: String::new(),
    };
    visit_table(root.get_ref(), "", &mut best);
    best.path
}

/// The smallest span seen so far that contains the offset.
struct Best {
    offset: usize,
    len: usize,
    path: String,
}

impl Best {
    fn consider(&mut self, span: Range<usize>, path: &str) {
        if span.contains(&self.offset) && span.len() < self.len {
            self.len = span.len();
            self.path = path.to_owned();
        }
    }
}

fn visit_table(table: &DeTable<'_>, path: &str, best: &mut Best) {
    for (key, value) in table {
        best.consider(key.span(), path);
        let child = join_key(path, key.get_ref());
        visit_value(value, &child, best);
    }
}

fn visit_value(value: &Spanned<DeValue<'_>>, path: &str, best: &mut Best) {
    best.consider(value.span(), path);
    match value.get_ref() {
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                visit_value(item, &format!("{path}[{i}]"), best);
            }
        }
        DeValue::Table(table) => visit_table(table, path, best),
        _ => {}
    }
}

/// `parent.key`, quoting a key that is not a bare TOML key.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}
