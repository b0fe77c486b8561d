//! The paths a server's own error output names: without `--explain`
//! cordon observes no open, so at a non-zero exit it reads the last of
//! what the server wrote to its stderr (the tail the relay keeps) for the
//! error messages runtimes print about a path, and judges each path
//! against the resolved policy (`judge`). What it finds is what the
//! server's errors say, not what the kernel refused: the summary is
//! worded so.
//!
//! Recognised, one message per line:
//! - Node.js: `ENOENT: no such file or directory, open '/x'` (and
//!   `EACCES`, `EPERM`, `EROFS`; the system call after the comma), and
//!   `spawn /x EACCES`;
//! - Python: `[Errno 13] Permission denied: '/x'` (and errno 1, 2, 30);
//! - Go and C programs: `open /x: permission denied`, `cat: /x: No such
//!   file or directory`, `mkdir: cannot create directory '/x': Read-only
//!   file system` (also `operation not permitted`).
//!
//! Only absolute paths are taken: a relative one would need the
//! server's working directory at the time it failed.

use std::path::PathBuf;

use super::judge::{Judge, absolute};
use super::{Access, Refusal};

/// How an error names a path: the accesses to judge, in order (the first
/// the profile refuses is reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub path: PathBuf,
    pub tried: &'static [Access],
}

/// At most this many distinct paths are taken from one output.
const MAX_PATHS: usize = 64;

/// Every distinct absolute path `text` names in a recognised error
/// message, in order of appearance.
pub fn paths(text: &str) -> Vec<Named> {
    let mut out: Vec<Named> = Vec::new();
    for line in text.lines() {
        let found = node(line)
            .or_else(|| node_spawn(line))
            .or_else(|| python(line))
            .or_else(|| perror(line));
        let Some((path, tried)) = found else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        let path = absolute(std::path::Path::new("/"), std::path::Path::new(path));
        if !out.iter().any(|n| n.path == path) {
            out.push(Named { path, tried });
        }
        if out.len() >= MAX_PATHS {
            break;
        }
    }
    out
}

/// The refusals among the paths `text` names: for each path, the first
/// of its accesses that `judge` finds refused (a protected path included,
/// with why no profile change allows it).
pub fn refusals(text: &str, judge: &Judge) -> Vec<Refusal> {
    paths(text)
        .into_iter()
        .filter_map(|named| {
            named
                .tried
                .iter()
                .find_map(|&access| judge.judge(access, &named.path))
        })
        .collect()
}

/// The accesses an error of kind `code` may stand for, given the system
/// call when known. A missing file is a read (a create when the call
/// creates); a refusal may be a read, a write or a create (the judge
/// skips what does not fit: a read of a file that is not there, a create
/// of one that is).
fn tried(code: &str, call: &str) -> &'static [Access] {
    const READ: &[Access] = &[Access::Read];
    const CREATE: &[Access] = &[Access::Create];
    const EXECUTE: &[Access] = &[Access::Execute];
    const WRITE: &[Access] = &[Access::Write, Access::Create];
    const ANY: &[Access] = &[Access::Read, Access::Write, Access::Create];
    match (code, call) {
        (_, "mkdir" | "symlink" | "link" | "mkdtemp") => CREATE,
        (_, "spawn" | "exec" | "fork/exec") => EXECUTE,
        ("EROFS", _) => WRITE,
        ("ENOENT", _) => READ,
        (_, "scandir" | "stat" | "lstat" | "access" | "readlink" | "opendir") => READ,
        _ => ANY,
    }
}

const NODE_CODES: &[&str] = &["ENOENT", "EACCES", "EPERM", "EROFS"];

/// `ENOENT: no such file or directory, open '/x'`.
fn node(line: &str) -> Option<(&str, &'static [Access])> {
    let (code, rest) = NODE_CODES
        .iter()
        .find_map(|&c| line.split_once(&format!("{c}: ")).map(|(_, r)| (c, r)))?;
    let (_, after) = rest.split_once(", ")?;
    let (call, quoted) = after.split_once(' ')?;
    let path = quoted_string(quoted)?;
    Some((path, tried(code, call)))
}

/// `spawn /x EACCES` (child_process).
fn node_spawn(line: &str) -> Option<(&str, &'static [Access])> {
    let (_, rest) = line.split_once("spawn ")?;
    let (path, code) = rest.trim_end().rsplit_once(' ')?;
    NODE_CODES
        .contains(&code)
        .then(|| (path, tried(code, "spawn")))
}

/// `[Errno 13] Permission denied: '/x'`.
fn python(line: &str) -> Option<(&str, &'static [Access])> {
    let (_, rest) = line.split_once("[Errno ")?;
    let (number, rest) = rest.split_once("] ")?;
    let code = match number {
        "1" => "EPERM",
        "2" => "ENOENT",
        "13" => "EACCES",
        "30" => "EROFS",
        _ => return None,
    };
    let (_, quoted) = rest.split_once(": ")?;
    let path = quoted_string(quoted)?;
    Some((path, tried(code, "")))
}

/// `open /x: permission denied` (Go's `*PathError`), `cat: /x: No such
/// file or directory` and `touch: cannot touch '/x': Permission denied`
/// (C programs, `perror` style): the path is the word before `: REASON`,
/// quotes stripped; the word before it says the call when it can.
fn perror(line: &str) -> Option<(&str, &'static [Access])> {
    const REASONS: &[(&str, &str)] = &[
        ("permission denied", "EACCES"),
        ("no such file or directory", "ENOENT"),
        ("read-only file system", "EROFS"),
        ("operation not permitted", "EPERM"),
    ];
    const QUOTES: &[char] = &['\'', '"', '\u{2018}', '\u{2019}', '`'];
    let lower = line.to_ascii_lowercase();
    let (end, code) = REASONS
        .iter()
        .find_map(|(r, code)| lower.find(&format!(": {r}")).map(|at| (at, *code)))?;
    let head = line.get(..end)?.trim_end_matches(QUOTES);
    let (before, word) = head.rsplit_once(' ').unwrap_or(("", head));
    let path = word.trim_start_matches(QUOTES);
    let call = match before.rsplit(' ').next().unwrap_or("") {
        "directory" => "mkdir",
        call => call,
    };
    Some((path, tried(code, call)))
}

/// The text of a string quoted with `'` or `"` at the start of `s`.
fn quoted_string(s: &str) -> Option<&str> {
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = s.get(1..)?;
    let end = inner.find(quote)?;
    inner.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, &'static [Access])> {
        paths(text)
            .into_iter()
            .map(|n| (n.path.display().to_string(), n.tried))
            .collect()
    }

    #[test]
    fn node_messages() {
        let text = "node:internal/fs/utils:347\n    throw err;\nError: ENOENT: no such file or directory, open '/srv/data/config.json'\n    at Object.openSync (node:fs:596:3) {\n  errno: -2,\n  path: '/srv/data/config.json'\n}\n[Error: EACCES: permission denied, mkdir '/var/cache/app'] {\nError: spawn /opt/tool/bin/run EACCES\n";
        assert_eq!(
            found(text),
            vec![
                ("/srv/data/config.json".into(), &[Access::Read][..]),
                ("/var/cache/app".into(), &[Access::Create][..]),
                ("/opt/tool/bin/run".into(), &[Access::Execute][..]),
            ]
        );
    }

    #[test]
    fn python_messages() {
        let text = "Traceback (most recent call last):\n  File \"/app/main.py\", line 3, in <module>\nPermissionError: [Errno 13] Permission denied: '/home/u/notes.txt'\nOSError: [Errno 30] Read-only file system: \"/srv/it's\"\nFileNotFoundError: [Errno 2] No such file or directory: 'relative.txt'\n";
        assert_eq!(
            found(text),
            vec![
                (
                    "/home/u/notes.txt".into(),
                    &[Access::Read, Access::Write, Access::Create][..]
                ),
                ("/srv/it's".into(), &[Access::Write, Access::Create][..]),
            ]
        );
    }

    #[test]
    fn go_messages_and_noise() {
        let text = "2026/01/01 server: open /etc/app/app.yaml: permission denied\nmkdir /data/x: read-only file system\nlisten tcp 127.0.0.1:80: bind: permission denied\nthe file '/a/b' was fine\n";
        assert_eq!(
            found(text),
            vec![
                (
                    "/etc/app/app.yaml".into(),
                    &[Access::Read, Access::Write, Access::Create][..]
                ),
                ("/data/x".into(), &[Access::Create][..]),
            ]
        );
    }

    #[test]
    fn coreutils_messages() {
        let text = "cat: /srv/secret.txt: No such file or directory\nmkdir: cannot create directory \u{2018}/srv/new\u{2019}: Read-only file system\ntouch: cannot touch '/srv/t': Permission denied\n";
        assert_eq!(
            found(text),
            vec![
                ("/srv/secret.txt".into(), &[Access::Read][..]),
                ("/srv/new".into(), &[Access::Create][..]),
                (
                    "/srv/t".into(),
                    &[Access::Read, Access::Write, Access::Create][..]
                ),
            ]
        );
    }

    #[test]
    fn repeats_are_one_path() {
        let line = "Error: ENOENT: no such file or directory, open '/x/y'\n";
        assert_eq!(paths(&line.repeat(3)).len(), 1);
        assert_eq!(
            paths("Error: ENOENT: no such file or directory, open '/x/../y'\n")[0].path,
            PathBuf::from("/y")
        );
    }
}
