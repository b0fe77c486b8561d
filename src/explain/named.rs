//! The paths a server's own error output names: without `--explain`
//! cordon observes no open, so at a non-zero exit it reports the paths
//! the error messages runtimes print about a path name, judged against
//! the resolved policy (`judge`). The relay of the server's stderr feeds
//! every byte to a [`Collector`] as it passes, so an error early in a
//! long trace counts as much as one in the last lines. What it finds is
//! what the server's errors say, not what the kernel refused: the
//! summary is worded so.
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
//!
//! The relay must stay cheap: a chunk of output is searched once for the
//! words these messages contain ([`WORDS`], with SIMD substring search),
//! and only the lines holding one are parsed. A line longer than
//! [`MAX_LINE`] is not parsed (no runtime prints its path errors so).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use memchr::memmem::Finder;

use super::judge::{Judge, absolute};
use super::{Access, Refusal};

/// How an error names a path: the accesses to judge, in order (the first
/// the profile refuses is reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub path: PathBuf,
    pub tried: &'static [Access],
}

/// What a server's errors named: the first distinct paths, and how many
/// more distinct paths they named after those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub paths: Vec<Named>,
    pub more: usize,
}

/// At most this many distinct paths are kept (and judged) from one
/// output.
pub const MAX_PATHS: usize = 64;

/// Paths beyond [`MAX_PATHS`] are counted by a hash each, up to this
/// many; past it every further one counts, distinct or not.
const MAX_MORE: usize = 16 * 1024;

/// Longer lines are not parsed.
pub const MAX_LINE: usize = 16 * 1024;

/// A line holding none of these is no recognised message: every one
/// carries the reason as `strerror` words it (Node.js after its code,
/// Python after its errno), but for Node.js's `spawn /x CODE`. The
/// reasons go without their first letter, which may be capitalised.
/// Fewer words is less searching of every chunk relayed.
const WORDS: &[&str] = &[
    "ermission denied",
    "o such file or directory",
    "ead-only file system",
    "peration not permitted",
    "spawn ",
];

/// Collects the paths named in output fed to it in arbitrary pieces.
#[derive(Debug)]
pub struct Collector {
    words: Vec<Finder<'static>>,
    /// The start of a line not ended yet.
    partial: Vec<u8>,
    /// The current line outgrew [`MAX_LINE`]: skipped up to its end.
    skipping: bool,
    found: Found,
    /// Hashes of the paths counted in `found.more`.
    counted: HashSet<u64>,
}

impl Default for Collector {
    fn default() -> Collector {
        Collector::new()
    }
}

impl Collector {
    pub fn new() -> Collector {
        Collector {
            words: WORDS.iter().map(|w| Finder::new(w.as_bytes())).collect(),
            partial: Vec::new(),
            skipping: false,
            found: Found::default(),
            counted: HashSet::new(),
        }
    }

    /// Takes the next piece of output.
    pub fn feed(&mut self, bytes: &[u8]) {
        let Some(last) = memchr::memrchr(b'\n', bytes) else {
            self.keep_partial(bytes);
            return;
        };
        let (whole, rest) = bytes.split_at(last + 1);
        let whole = if self.partial.is_empty() && !self.skipping {
            whole
        } else {
            // The line begun in an earlier piece ends in this one.
            let end = memchr::memchr(b'\n', whole).unwrap_or(last);
            let (first, after) = whole.split_at(end + 1);
            let mut line = std::mem::take(&mut self.partial);
            if !self.skipping && line.len() + first.len() <= MAX_LINE {
                line.extend_from_slice(first);
                self.lines(&line);
            }
            line.clear();
            self.partial = line;
            self.skipping = false;
            after
        };
        self.lines(whole);
        self.keep_partial(rest);
    }

    /// What the output named, its last line included.
    pub fn finish(mut self) -> Found {
        let last = std::mem::take(&mut self.partial);
        if !self.skipping {
            self.lines(&last);
        }
        self.found
    }

    fn keep_partial(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        if self.partial.len() + bytes.len() > MAX_LINE {
            self.partial.clear();
            self.skipping = true;
            return;
        }
        self.partial.extend_from_slice(bytes);
    }

    fn has_word(&self, bytes: &[u8]) -> bool {
        self.words.iter().any(|w| w.find(bytes).is_some())
    }

    /// Whole lines: searched at once, and each parsed only when the
    /// search found a word.
    fn lines(&mut self, text: &[u8]) {
        if !self.has_word(text) {
            return;
        }
        for line in text.split(|&b| b == b'\n') {
            if line.len() <= MAX_LINE && self.has_word(line) {
                if let Some(named) = parse(&String::from_utf8_lossy(line)) {
                    self.add(named);
                }
            }
        }
    }

    fn add(&mut self, named: Named) {
        if self.found.paths.iter().any(|n| n.path == named.path) {
            return;
        }
        if self.found.paths.len() < MAX_PATHS {
            self.found.paths.push(named);
            return;
        }
        if self.counted.len() >= MAX_MORE {
            self.found.more += 1;
            return;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        named.path.hash(&mut hasher);
        if self.counted.insert(hasher.finish()) {
            self.found.more += 1;
        }
    }
}

/// The path one line names in a recognised error message, when absolute.
fn parse(line: &str) -> Option<Named> {
    let (path, tried) = node(line)
        .or_else(|| node_spawn(line))
        .or_else(|| python(line))
        .or_else(|| perror(line))?;
    if !path.starts_with('/') {
        return None;
    }
    let path = absolute(std::path::Path::new("/"), std::path::Path::new(path));
    Some(Named { path, tried })
}

/// Every distinct absolute path `text` names in a recognised error
/// message, in order of appearance (the first [`MAX_PATHS`]).
pub fn paths(text: &str) -> Vec<Named> {
    let mut collector = Collector::new();
    collector.feed(text.as_bytes());
    collector.finish().paths
}

/// The refusals among the `named` paths: for each path, the first of its
/// accesses that `judge` finds refused (a protected path included, with
/// why no profile change allows it).
pub fn refusals(named: &[Named], judge: &Judge) -> Vec<Refusal> {
    named
        .iter()
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

    #[test]
    fn pieces_cut_anywhere_find_the_same_paths() {
        let mut text = String::from("Error: ENOENT: no such file or directory, open '/early'\n");
        text.push_str(&"noise that names no path\n".repeat(400));
        text.push_str("cat: /late: Permission denied");
        for size in [1, 7, 4096] {
            let mut collector = Collector::new();
            for piece in text.as_bytes().chunks(size) {
                collector.feed(piece);
            }
            let found = collector.finish();
            let got: Vec<_> = found.paths.iter().map(|n| n.path.clone()).collect();
            assert_eq!(
                got,
                [PathBuf::from("/early"), PathBuf::from("/late")],
                "{size}"
            );
            assert_eq!(found.more, 0);
        }
    }

    #[test]
    fn paths_beyond_the_first_are_counted() {
        let mut collector = Collector::new();
        for round in 0..2 {
            for i in 0..(MAX_PATHS + 10) {
                let line = format!("open /f{i}: permission denied\n");
                collector.feed(line.as_bytes());
            }
            collector.feed(format!("round {round}\n").as_bytes());
        }
        let found = collector.finish();
        assert_eq!(found.paths.len(), MAX_PATHS);
        assert_eq!(found.more, 10);
    }

    #[test]
    fn an_overlong_line_is_skipped_not_the_next() {
        let mut collector = Collector::new();
        let long = format!("open /long: permission denied {}\n", "x".repeat(MAX_LINE));
        for piece in long.as_bytes().chunks(1000) {
            collector.feed(piece);
        }
        collector.feed(b"open /next: permission denied\n");
        let got: Vec<_> = collector
            .finish()
            .paths
            .into_iter()
            .map(|n| n.path)
            .collect();
        assert_eq!(got, [PathBuf::from("/next")]);
    }

    /// Each message form, with each of its codes, holds one of the words
    /// the relay searches for (or its lines would never be parsed).
    #[test]
    fn every_recognised_message_holds_a_word() {
        let lines = [
            "Error: ENOENT: no such file or directory, open '/a'",
            "Error: EACCES: permission denied, open '/b'",
            "Error: EPERM: operation not permitted, unlink '/c'",
            "Error: EROFS: read-only file system, open '/d'",
            "Error: spawn /e ENOENT",
            "Error: spawn /f EPERM",
            "PermissionError: [Errno 1] Operation not permitted: '/g'",
            "FileNotFoundError: [Errno 2] No such file or directory: '/h'",
            "PermissionError: [Errno 13] Permission denied: '/i'",
            "OSError: [Errno 30] Read-only file system: '/j'",
            "open /k: permission denied",
            "mkdir /l: read-only file system",
            "rm: cannot remove '/m': Operation not permitted",
            "cat: /n: No such file or directory",
        ];
        for line in lines {
            assert_eq!(paths(&format!("{line}\n")).len(), 1, "{line}");
        }
    }
}
