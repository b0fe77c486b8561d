//! Reading a host configuration, the backup, and the atomic replacement.
//!
//! The file is JSONC (comments and trailing commas allowed, as VS Code
//! writes `mcp.json`): [`super::jsonc`] records where each value is, and
//! serde_json reads the values from the same text with comments blanked.
//! Entries are rewritten in place ([`super::edit`]), so every other byte
//! stays as it was; the file's indentation unit (from its first indented
//! line) is used for what is inserted.
//!
//! The new file is a temporary file in the same directory, given the
//! original's mode (and owner, when cordon may set it), synced, then
//! renamed over the original: a crash leaves the old file or the new one,
//! never half of one. The directory is synced after the rename.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::HostConfigError;
use super::jsonc::{self, Node};

/// How the file was written, to write new parts the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    pub indent: String,
    pub crlf: bool,
    pub final_newline: bool,
}

/// A configuration file as read.
#[derive(Debug)]
pub struct Document {
    /// The real file (symlinks resolved): the one that is replaced.
    pub path: PathBuf,
    pub text: String,
    pub root: Map<String, Value>,
    /// Where each value of `root` is in `text`.
    pub nodes: Node,
    pub style: Style,
}

/// Reads and parses the file. Invalid JSONC is an error naming the file,
/// line and column.
pub fn read(path: &Path) -> Result<Document, HostConfigError> {
    let io = |source| HostConfigError::Io {
        path: path.to_path_buf(),
        what: "cannot read",
        source,
    };
    let real = fs::canonicalize(path).map_err(io)?;
    let text = fs::read_to_string(&real).map_err(io)?;
    let nodes = jsonc::parse(&text).map_err(|e| syntax_error(path, &text, &e))?;
    let value: Value =
        serde_json::from_str(&jsonc::plain(&text)).map_err(|e| parse_error(path, &e))?;
    let Value::Object(root) = value else {
        return Err(HostConfigError::NotAnObject {
            path: path.to_path_buf(),
            place: "the top level".into(),
        });
    };
    let style = detect_style(&text);
    Ok(Document {
        path: real,
        text,
        root,
        nodes,
        style,
    })
}

fn syntax_error(path: &Path, text: &str, err: &jsonc::SyntaxError) -> HostConfigError {
    let before = &text[..err.at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    HostConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message: err.message.clone(),
    }
}

fn parse_error(path: &Path, err: &serde_json::Error) -> HostConfigError {
    // serde_json's message ends in " at line L column C"; the location is
    // given first instead, as compilers do.
    let full = err.to_string();
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m)
        .to_owned();
    HostConfigError::Parse {
        path: path.to_path_buf(),
        line: err.line(),
        column: err.column(),
        message,
    }
}

/// The indentation of the first indented line (two spaces when the file
/// has none), CRLF line endings, and whether the file ends in a newline.
pub fn detect_style(text: &str) -> Style {
    let indent = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find_map(|line| {
            let body = line.trim_start_matches([' ', '\t']);
            let width = line.len() - body.len();
            (width > 0 && !body.is_empty()).then(|| line[..width].to_owned())
        })
        .unwrap_or_else(|| "  ".to_owned());
    Style {
        indent,
        crlf: text.contains("\r\n"),
        final_newline: text.ends_with('\n'),
    }
}

/// Copies the original text to `<file>.cordon-backup-<UTC timestamp>`
/// next to it (with `-N` added if that name is taken), with the file's
/// mode, through [`crate::files`]: a name already taken (by anything, a
/// symlink included) is never written through. Returns the backup's path.
pub fn backup(doc: &Document, now: std::time::SystemTime) -> Result<PathBuf, HostConfigError> {
    let mode = file_mode(&doc.path)?;
    let (dir, name) = crate::files::Dir::of_file(&doc.path, false).map_err(file_error)?;
    let mut base = name;
    base.push(format!(".cordon-backup-{}", utc_stamp(now)));
    for n in 0..100 {
        let mut candidate = base.clone();
        if n > 0 {
            candidate.push(format!("-{n}"));
        }
        if dir
            .create_new(&candidate, doc.text.as_bytes(), mode)
            .map_err(file_error)?
        {
            return Ok(dir.path_of(&candidate));
        }
    }
    Err(io_error(
        &dir.path_of(&base),
        "cannot create the backup",
        std::io::ErrorKind::AlreadyExists.into(),
    ))
}

fn file_error(e: crate::files::FileError) -> HostConfigError {
    let path = e.path().to_path_buf();
    io_error(&path, "cannot create the backup", std::io::Error::other(e))
}

/// Replaces the file with `text` atomically, keeping its mode and owner.
pub fn replace(path: &Path, text: &str) -> Result<(), HostConfigError> {
    let meta = fs::metadata(path).map_err(|e| io_error(path, "cannot read", e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".cordon-")
        .tempfile_in(dir)
        .map_err(|e| io_error(dir, "cannot create a temporary file in", e))?;
    let written = tmp
        .write_all(text.as_bytes())
        .and_then(|()| {
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
        })
        .and_then(|()| tmp.as_file().sync_all());
    written.map_err(|e| io_error(tmp.path(), "cannot write", e))?;
    // Only root may give the file back to its owner; for anyone else the
    // new file is theirs already, as the old one was.
    if nix::unistd::geteuid().is_root() {
        let uid = Some(nix::unistd::Uid::from_raw(meta.uid()));
        let gid = Some(nix::unistd::Gid::from_raw(meta.gid()));
        nix::unistd::fchown(tmp.as_file(), uid, gid)
            .map_err(|e| io_error(tmp.path(), "cannot set the owner of", e.into()))?;
    }
    tmp.persist(path)
        .map_err(|e| io_error(path, "cannot replace", e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, "cannot sync", e))
}

fn file_mode(path: &Path) -> Result<u32, HostConfigError> {
    fs::metadata(path)
        .map(|m| m.mode() & 0o7777)
        .map_err(|e| io_error(path, "cannot read", e))
}

fn io_error(path: &Path, what: &'static str, source: std::io::Error) -> HostConfigError {
    HostConfigError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// `YYYYMMDDTHHMMSSZ` in UTC: RFC 3339 without the separators, which
/// are awkward in file names.
pub fn utc_stamp(now: std::time::SystemTime) -> String {
    crate::clock::rfc3339_utc(now, false).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_764_153_296)),
            "20251126T103456Z"
        );
    }

    #[test]
    fn style_is_detected_and_kept() {
        let text = "{\n    \"a\": [\n        1\n    ]\n}";
        let style = detect_style(text);
        assert_eq!(
            style,
            Style {
                indent: "    ".into(),
                crlf: false,
                final_newline: false
            }
        );
        let crlf = "{\r\n\t\"b\": true\r\n}\r\n";
        let style = detect_style(crlf);
        assert!(style.crlf && style.final_newline && style.indent == "\t");
    }

    #[test]
    fn parse_errors_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        fs::write(&path, "{\n  \"a\": 1,\n  oops\n}\n").unwrap();
        let err = read(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:3:3: invalid JSON: key must be a string", path.display())
        );
    }

    #[test]
    fn replace_keeps_the_mode_and_backup_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        fs::write(&path, "{}\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let doc = read(&path).unwrap();
        let first = backup(&doc, UNIX_EPOCH).unwrap();
        let second = backup(&doc, UNIX_EPOCH).unwrap();
        assert_eq!(second, PathBuf::from(format!("{}-1", first.display())));
        assert_eq!(fs::read_to_string(&first).unwrap(), "{}\n");
        // A name taken by a symlink (to a file of the user's) is skipped,
        // never written through.
        let victim = dir.path().join("bashrc");
        fs::write(&victim, "mine\n").unwrap();
        let third = PathBuf::from(format!("{}-2", first.display()));
        std::os::unix::fs::symlink(&victim, &third).unwrap();
        let fourth = backup(&doc, UNIX_EPOCH).unwrap();
        assert_eq!(fourth, PathBuf::from(format!("{}-3", first.display())));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "mine\n");
        replace(&path, "{\"a\": 1}\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\": 1}\n");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }
}
