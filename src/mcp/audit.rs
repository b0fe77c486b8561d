//! The audit log: one JSON line per tool call and per refusal, appended to
//! a file that each line chains to the one before it.
//!
//! Each line is written with one `write` on an `O_APPEND` descriptor while
//! holding an exclusive `flock`, so lines from several cordon processes
//! never interleave, and each carries `prev`, the SHA-256 (hex) of the
//! previous line's bytes without its newline (for the first line: of the
//! empty string). `cordon audit verify` walks the chain: an edited,
//! removed or reordered line breaks it at the next line.
//!
//! The chain alone cannot show a cut tail or a chain rebuilt from scratch,
//! so cordon also keeps the log's *head* (entries, bytes, last hash) in its
//! state directory, `audit-heads/<SHA-256 of the log's real path>.json`,
//! rewritten under the log's lock after each line. `verify` compares the
//! two: fewer entries is a truncation, a different end a rewrite, no file
//! a deletion. A log that no longer matches its head is not appended to:
//! the launch is refused until someone looks. The state directory is out
//! of the server's reach (the sandbox protects it), so the head holds
//! against the server; it does not hold against someone with the user's
//! own rights outside the sandbox, who can rewrite both.
//!
//! The log is opened through [`crate::files`]: a symlink, hard link, FIFO
//! or foreign file in its place is refused, and each append first checks
//! that the name still leads to the file opened. A log inside a directory
//! the server may write is refused at launch ([`check_placement`]).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::pins::hex;
use crate::files::{Dir, FileError};
use crate::policy::Policy;

/// Values of environment variables shorter than this are not redacted:
/// redacting `C` or `1` everywhere would make the log unreadable.
pub const MIN_SECRET_LEN: usize = 4;

/// One line of the log, in field order.
#[derive(Debug, Default, Serialize)]
pub struct Entry {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    /// The profile's name.
    pub server: String,
    /// `tools/call`, or the refused method.
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `ok`, `isError`, `jsonrpc-error` or `refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    pub prev: String,
}

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    dir: Dir,
    name: OsString,
    file: File,
    /// `$STATE/audit-heads`, and this log's head file in it.
    heads: Dir,
    head_name: OsString,
    /// Whether arguments and results are recorded.
    pub arguments: bool,
    /// (name, value) of the secrets to redact, longest value first.
    secrets: Vec<(String, String)>,
    /// The head after our last line: reused when no other process
    /// appended since. Boxed: the log is kept in enums beside small
    /// variants.
    last: Option<Box<Head>>,
}

/// What cordon last wrote to a log, kept in its state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub version: u32,
    /// The log's real path (for people; the file's name is its hash).
    pub log: PathBuf,
    /// Lines in the log.
    pub entries: u64,
    /// The log's length.
    pub bytes: u64,
    /// The SHA-256 (hex) of the last line without its newline; of the
    /// empty string when there is none.
    pub last: String,
}

const HEAD_VERSION: u32 = 1;

/// How a log differs from the head cordon recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Fewer lines than cordon wrote: its tail was cut.
    Truncated { recorded: u64, found: u64 },
    /// As many lines as cordon wrote, ending in another line: the chain
    /// was rebuilt.
    Rewritten { entries: u64 },
    /// More lines than cordon wrote: lines were added (or the chain
    /// rebuilt) outside cordon.
    Appended { recorded: u64, found: u64 },
    /// The log is gone.
    Missing { recorded: u64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Truncated { recorded, found } => write!(
                f,
                "truncated: {found} entries where cordon wrote {recorded} (the last {} were cut off)",
                recorded - found
            ),
            Finding::Rewritten { entries } => write!(
                f,
                "rewritten: {entries} entries as cordon wrote, but the last is not the one cordon wrote (the chain was rebuilt)"
            ),
            Finding::Appended { recorded, found } => write!(
                f,
                "rewritten: {found} entries where cordon wrote {recorded} (lines were added or the chain rebuilt outside cordon)"
            ),
            Finding::Missing { recorded } => {
                write!(f, "missing: cordon wrote {recorded} entries to it")
            }
        }
    }
}

impl Finding {
    /// The log (`entries` lines, the last hashing to `last`) against
    /// `head`; `None` when they agree.
    pub fn compare(head: &Head, entries: u64, last: &str) -> Option<Finding> {
        use std::cmp::Ordering;
        match entries.cmp(&head.entries) {
            Ordering::Less => Some(Finding::Truncated {
                recorded: head.entries,
                found: entries,
            }),
            Ordering::Greater => Some(Finding::Appended {
                recorded: head.entries,
                found: entries,
            }),
            Ordering::Equal if last != head.last => Some(Finding::Rewritten { entries }),
            Ordering::Equal => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{what} the audit log {}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "the audit log {} does not match the head cordon recorded in {}: {finding}; cordon no longer appends to it (`cordon audit verify` shows the same); if you moved, cut or rotated it yourself, remove that head file to start a new chain",
        path.display(),
        head.display()
    )]
    Diverged {
        path: PathBuf,
        head: PathBuf,
        finding: Finding,
    },
    #[error("the audit head {} is damaged: {reason}; remove it to start a new chain", path.display())]
    DamagedHead { path: PathBuf, reason: String },
    #[error(
        "mcp.audit_path in profile {profile}: {} lies inside {what} {}, which the server may write: it could replace the log with a symlink to one of your files and have cordon write there; choose a path outside every directory the server may write, or leave mcp.audit_path unset (the default is in cordon's protected state directory)",
        path.display(),
        inside.display()
    )]
    Writable {
        path: PathBuf,
        profile: String,
        what: &'static str,
        inside: PathBuf,
    },
}

fn io_error<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

impl AuditLog {
    /// Opens (creating, mode 0600, directories 0700) the log at `path`,
    /// with its head in the state directory of the environment's user
    /// (the egress forwarder inherits cordon's environment).
    pub fn open(
        path: &Path,
        arguments: bool,
        secrets: Vec<(String, String)>,
    ) -> io::Result<AuditLog> {
        let dirs = crate::dirs::Dirs::from_env().map_err(io::Error::other)?;
        AuditLog::open_in(path, &dirs.state, arguments, secrets).map_err(io::Error::other)
    }

    /// Opens the log at `path` with its head under `state_dir`. A log
    /// that no longer matches its head is refused; a log without a head
    /// (kept before cordon recorded heads) is adopted as it is.
    pub fn open_in(
        path: &Path,
        state_dir: &Path,
        arguments: bool,
        secrets: Vec<(String, String)>,
    ) -> Result<AuditLog, AuditError> {
        let (dir, name) = match (path.parent(), path.file_name()) {
            // The default place: walked as one of cordon's own directories.
            (Some(parent), Some(name)) if parent == state_dir.join(crate::dirs::AUDIT) => {
                (Dir::own(state_dir, &[crate::dirs::AUDIT])?, name.to_owned())
            }
            _ => Dir::of_file(path, true)?,
        };
        let real = std::fs::canonicalize(dir.path())
            .map_err(io_error(path, "cannot resolve the directory of"))?
            .join(&name);
        let heads = Dir::own(state_dir, &[crate::dirs::AUDIT_HEADS])?;
        let head_name = OsString::from(format!(
            "{}.json",
            hex(&Sha256::digest(real.as_os_str().as_bytes()))
        ));
        let head_path = heads.path_of(&head_name);
        let recorded = read_head(&heads, &head_name)?;
        if let Some(head) = &recorded {
            if head.entries > 0 && !dir.exists(&name)? {
                return Err(AuditError::Diverged {
                    path: path.to_path_buf(),
                    head: head_path,
                    finding: Finding::Missing {
                        recorded: head.entries,
                    },
                });
            }
        }
        let mut log = AuditLog {
            path: path.to_path_buf(),
            file: dir.append(&name)?,
            dir,
            name,
            heads,
            head_name,
            arguments,
            secrets: Vec::new(),
            last: None,
        };
        let locked = log.lock()?;
        let len = log.len(&locked)?;
        let (mut head, torn) = log.current_head(&locked, len, recorded)?;
        if torn {
            // A line cut short by a crash before heads were kept: end it,
            // so the next line stands alone.
            (&*locked)
                .write_all(b"\n")
                .map_err(io_error(path, "cannot write"))?;
            head.bytes += 1;
        }
        log.write_head(&head)?;
        drop(locked);
        log.last = Some(Box::new(head));
        let mut secrets: Vec<_> = secrets
            .into_iter()
            .filter(|(_, v)| v.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        log.secrets = secrets;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn head_path(&self) -> PathBuf {
        self.heads.path_of(&self.head_name)
    }

    fn diverged(&self, finding: Finding) -> AuditError {
        AuditError::Diverged {
            path: self.path.clone(),
            head: self.head_path(),
            finding,
        }
    }

    fn lock(&self) -> Result<Flock<File>, AuditError> {
        let clone = self
            .file
            .try_clone()
            .map_err(io_error(&self.path, "cannot duplicate the descriptor of"))?;
        Flock::lock(clone, FlockArg::LockExclusive)
            .map_err(|(_, e)| io_error(&self.path, "cannot lock")(e.into()))
    }

    fn len(&self, file: &File) -> Result<u64, AuditError> {
        Ok(file
            .metadata()
            .map_err(io_error(&self.path, "cannot inspect"))?
            .len())
    }

    fn read_head(&self) -> Result<Option<Head>, AuditError> {
        read_head(&self.heads, &self.head_name)
    }

    fn write_head(&self, head: &Head) -> Result<(), AuditError> {
        let mut text = serde_json::to_string_pretty(head)
            .map_err(|e| io_error(&self.path, "cannot encode the head of")(e.into()))?;
        text.push('\n');
        self.heads
            .replace(&self.head_name, text.as_bytes(), crate::files::PRIVATE)?;
        Ok(())
    }

    /// The head the next line continues (under the lock): the recorded
    /// one when the file still ends where it says, else a refusal. A log
    /// without a head is adopted; the flag says its last line lacks its
    /// newline (a crash mid-write), which the next line must add.
    fn current_head(
        &self,
        file: &File,
        len: u64,
        recorded: Option<Head>,
    ) -> Result<(Head, bool), AuditError> {
        let (last, torn) =
            last_line_hash(file, len).map_err(io_error(&self.path, "cannot read"))?;
        match recorded {
            Some(head) if head.bytes == len && head.last == last && !torn => Ok((head, false)),
            Some(head)
                if head.bytes < len
                    && !torn
                    && one_line_after(file, &head, len)
                        .map_err(io_error(&self.path, "cannot read"))? =>
            {
                // cordon was stopped between writing a line and recording
                // it: the line continues the recorded chain, so it is
                // cordon's own.
                let entries = head.entries + 1;
                Ok((
                    Head {
                        entries,
                        bytes: len,
                        last,
                        ..head
                    },
                    false,
                ))
            }
            Some(head) => {
                let (entries, last) =
                    count_lines(file).map_err(io_error(&self.path, "cannot read"))?;
                let finding = Finding::compare(&head, entries, &last).unwrap_or(
                    // Same lines, other bytes after them: a line cut short.
                    Finding::Appended {
                        recorded: head.entries,
                        found: entries + 1,
                    },
                );
                Err(self.diverged(finding))
            }
            None => {
                let (entries, _) =
                    count_lines(file).map_err(io_error(&self.path, "cannot read"))?;
                let head = Head {
                    version: HEAD_VERSION,
                    log: std::fs::canonicalize(self.dir.path())
                        .unwrap_or_else(|_| self.dir.path().to_path_buf())
                        .join(&self.name),
                    entries: entries + u64::from(torn),
                    bytes: len,
                    last,
                };
                Ok((head, torn))
            }
        }
    }

    /// Replaces every occurrence of a secret in the strings (and keys) of
    /// `value` with `[redacted:NAME]`.
    pub fn redact(&self, value: &mut Value) {
        if self.secrets.is_empty() {
            return;
        }
        let clean = |s: &str| -> Option<String> {
            let mut out = None::<String>;
            for (name, secret) in &self.secrets {
                let text = out.as_deref().unwrap_or(s);
                if text.contains(secret.as_str()) {
                    out = Some(text.replace(secret.as_str(), &format!("[redacted:{name}]")));
                }
            }
            out
        };
        match value {
            Value::String(s) => {
                if let Some(c) = clean(s) {
                    *s = c;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    self.redact(&mut v);
                    map.insert(clean(&k).unwrap_or(k), v);
                }
            }
            _ => {}
        }
    }

    /// Appends one entry (its `time` and `prev` are filled in here).
    pub fn append(&mut self, entry: Entry) -> io::Result<()> {
        self.append_checked(entry).map_err(io::Error::other)
    }

    /// Appends one entry: under the lock, after checking that the path
    /// still leads to the file opened and that the file still ends where
    /// its head says; then records the new head.
    pub fn append_checked(&mut self, mut entry: Entry) -> Result<(), AuditError> {
        entry.time = rfc3339(SystemTime::now());
        let locked = self.lock()?;
        self.dir.still_names(&self.name, &self.file)?;
        let len = self.len(&locked)?;
        let (head, torn) = match &self.last {
            Some(head) if head.bytes == len => ((**head).clone(), false),
            _ => {
                let recorded = self.read_head()?;
                self.current_head(&locked, len, recorded)?
            }
        };
        entry.prev = head.last.clone();
        let json = serde_json::to_string(&entry)
            .map_err(|e| io_error(&self.path, "cannot encode an entry of")(e.into()))?;
        let mut line = Vec::with_capacity(json.len() + 2);
        if torn {
            // A line cut short by a crash: end it, so ours stands alone.
            line.push(b'\n');
        }
        line.extend_from_slice(json.as_bytes());
        line.push(b'\n');
        (&*locked)
            .write_all(&line)
            .and_then(|()| locked.sync_data())
            .map_err(io_error(&self.path, "cannot write"))?;
        let next = Head {
            entries: head.entries + 1,
            bytes: len + line.len() as u64,
            last: hex(&Sha256::digest(json.as_bytes())),
            ..head
        };
        self.write_head(&next)?;
        self.last = Some(Box::new(next));
        Ok(())
    }
}

fn read_head(heads: &Dir, name: &OsStr) -> Result<Option<Head>, AuditError> {
    let Some(bytes) = heads.read(name)? else {
        return Ok(None);
    };
    let damaged = |reason: String| AuditError::DamagedHead {
        path: heads.path_of(name),
        reason,
    };
    let head: Head = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
    if head.version != HEAD_VERSION {
        return Err(damaged(format!("unknown version {}", head.version)));
    }
    Ok(Some(head))
}

/// Whether the file (`len` bytes) holds exactly one line after where
/// `head` ends, and that line's `prev` is `head`'s last hash: cordon was
/// stopped between writing its line and recording the head.
fn one_line_after(file: &File, head: &Head, len: u64) -> io::Result<bool> {
    /// Longer tails are not read into memory: they are not one line
    /// cordon wrote in one go.
    const LIMIT: u64 = 64 << 20;
    if len <= head.bytes || len - head.bytes > LIMIT {
        return Ok(false);
    }
    let mut tail = vec![0u8; (len - head.bytes) as usize];
    let mut f = file;
    f.seek(SeekFrom::Start(head.bytes))?;
    f.read_exact(&mut tail)?;
    if tail.pop() != Some(b'\n') || tail.contains(&b'\n') {
        return Ok(false);
    }
    let prev = serde_json::from_slice::<Value>(&tail)
        .ok()
        .and_then(|v| v.get("prev").and_then(Value::as_str).map(str::to_owned));
    Ok(prev.as_deref() == Some(head.last.as_str()))
}

/// The number of lines (each ended by a newline) and the hash of the
/// last one.
fn count_lines(file: &File) -> io::Result<(u64, String)> {
    let mut f = file;
    f.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(f);
    let mut line = Vec::new();
    let mut n = 0;
    let mut last = hex(&Sha256::digest(b""));
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok((n, last));
        }
        line.pop();
        n += 1;
        last = hex(&Sha256::digest(&line));
    }
}

/// The hash of the file's last line, and whether that line lacks its
/// newline.
fn last_line_hash(file: &File, len: u64) -> io::Result<(String, bool)> {
    if len == 0 {
        return Ok((hex(&Sha256::digest(b"")), false));
    }
    let mut f = file;
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    let torn = last[0] != b'\n';
    let end = if torn { len } else { len - 1 };
    // Walk back to the previous newline, a block at a time.
    let mut start = end;
    let mut block = vec![0u8; 64 * 1024];
    'search: while start > 0 {
        let from = start.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(start - from) as usize];
        f.seek(SeekFrom::Start(from))?;
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            start = from + i as u64 + 1;
            break 'search;
        }
        start = from;
    }
    f.seek(SeekFrom::Start(start))?;
    let mut hasher = Sha256::new();
    let mut remaining = end - start;
    while remaining > 0 {
        let n = remaining.min(block.len() as u64) as usize;
        f.read_exact(&mut block[..n])?;
        hasher.update(&block[..n]);
        remaining -= n as u64;
    }
    Ok((hex(&hasher.finalize()), torn))
}

/// Where a log's chain first breaks.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    /// 1-based.
    pub line: usize,
    pub reason: String,
}

/// How the log compares with the head cordon recorded.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadCheck {
    Matches,
    /// cordon holds no head for this path (a copy, or a log it never
    /// wrote): a cut tail or a rebuilt chain cannot be told.
    NotRecorded,
    Differs(Finding),
}

/// What `cordon audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Lines read (each ended by a newline).
    pub entries: u64,
    /// The first broken line.
    pub broken: Option<Broken>,
    pub head: HeadCheck,
    /// The head file compared with.
    pub head_path: PathBuf,
}

/// Checks the chain of the log at `path` and compares it with its head
/// under `state_dir`. A missing log is an error unless cordon recorded a
/// head for it.
pub fn verify(path: &Path, state_dir: &Path) -> Result<Verdict, AuditError> {
    let real = real_path(path);
    let head_name = format!("{}.json", hex(&Sha256::digest(real.as_os_str().as_bytes())));
    let heads_dir = state_dir.join(crate::dirs::AUDIT_HEADS);
    let head_path = heads_dir.join(&head_name);
    let head = match Dir::named(&heads_dir, false) {
        Ok(dir) => read_head(&dir, OsStr::new(&head_name))?,
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match head {
                Some(h) => Ok(Verdict {
                    entries: 0,
                    broken: None,
                    head: HeadCheck::Differs(Finding::Missing {
                        recorded: h.entries,
                    }),
                    head_path,
                }),
                None => Err(io_error(path, "cannot read")(e)),
            };
        }
        Err(e) => return Err(io_error(path, "cannot read")(e)),
    };
    let len = file
        .metadata()
        .map_err(io_error(path, "cannot inspect"))?
        .len();
    let interrupted = match &head {
        Some(h) => one_line_after(&file, h, len).map_err(io_error(path, "cannot read"))?,
        None => false,
    };
    let (entries, broken, last) = walk(&file).map_err(io_error(path, "cannot read"))?;
    let head = match head {
        None => HeadCheck::NotRecorded,
        // As the next append would: cordon's own line, not yet recorded.
        Some(_) if interrupted => HeadCheck::Matches,
        Some(h) => {
            Finding::compare(&h, entries, &last).map_or(HeadCheck::Matches, HeadCheck::Differs)
        }
    };
    Ok(Verdict {
        entries,
        broken,
        head,
        head_path,
    })
}

/// The path with its directory's symlinks resolved, as [`AuditLog`]
/// keys heads: the file itself when it exists, else its directory.
fn real_path(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// Walks the chain: the number of lines, the first broken one, and the
/// hash of the last line.
fn walk(mut file: &File) -> io::Result<(u64, Option<Broken>, String)> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(file);
    let mut expected = hex(&Sha256::digest(b""));
    let mut line = Vec::new();
    let mut n: u64 = 0;
    let mut broken = None;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok((n, broken, expected));
        }
        let at = n as usize + 1;
        let mut breaks = |reason: &str| {
            if broken.is_none() {
                broken = Some(Broken {
                    line: at,
                    reason: reason.to_owned(),
                });
            }
        };
        if line.pop() != Some(b'\n') {
            breaks("incomplete line (no newline at the end of the file)");
            return Ok((n, broken, expected));
        }
        n += 1;
        let prev = serde_json::from_slice::<Value>(&line)
            .ok()
            .and_then(|v| v.get("prev").and_then(Value::as_str).map(str::to_owned));
        match prev {
            None => breaks("not an audit entry (no JSON object with a \"prev\" string)"),
            Some(p) if p != expected && n == 1 => {
                breaks("\"prev\" is not the hash of the empty string: lines before it were removed")
            }
            Some(p) if p != expected => breaks(
                "\"prev\" does not match the line before it: an entry was edited, removed or reordered",
            ),
            Some(_) => {}
        }
        expected = hex(&Sha256::digest(&line));
    }
}

/// Refuses an `mcp.audit_path` the server could write: inside a writable
/// grant or its private temporary directory. The default path, and any
/// inside cordon's state directory, are protected by the sandbox.
pub fn check_placement(
    policy: &Policy,
    state_dir: &Path,
    private_tmp: Option<&Path>,
) -> Result<(), AuditError> {
    let Some(path) = policy.mcp.audit.as_ref().and_then(|a| a.path.as_ref()) else {
        return Ok(());
    };
    let real = existing_prefix_resolved(path);
    if real.starts_with(existing_prefix_resolved(state_dir)) {
        return Ok(());
    }
    let refuse = |what: &'static str, inside: &Path| AuditError::Writable {
        path: path.clone(),
        profile: policy.origin.to_string(),
        what,
        inside: inside.to_path_buf(),
    };
    for grant in policy.fs.iter().filter(|g| g.access.write) {
        if real.starts_with(&grant.path) || path.starts_with(&grant.path) {
            return Err(refuse("the writable grant", &grant.path));
        }
    }
    if let Some(tmp) = private_tmp {
        if real.starts_with(existing_prefix_resolved(tmp)) {
            return Err(refuse("the server's private /tmp", tmp));
        }
    }
    Ok(())
}

/// `path` with symlinks resolved in the part of it that exists.
fn existing_prefix_resolved(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                at = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// RFC 3339 in UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    crate::clock::rfc3339_utc(t, true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_matches_known_dates() {
        let at = |s: u64, ms: u64| {
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }

    fn entry(tool: &str) -> Entry {
        Entry {
            method: "tools/call".into(),
            tool: Some(tool.into()),
            outcome: "ok",
            ..Entry::default()
        }
    }

    fn open(dir: &Path, path: &Path) -> Result<AuditLog, AuditError> {
        AuditLog::open_in(path, &dir.join("state"), false, Vec::new())
    }

    fn check(dir: &Path, path: &Path) -> (u64, Option<usize>, HeadCheck) {
        let v = verify(path, &dir.join("state")).unwrap();
        (v.entries, v.broken.map(|b| b.line), v.head)
    }

    #[test]
    fn the_chain_verifies_and_an_edit_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/audit.jsonl");
        let mut log = open(dir.path(), &path).unwrap();
        log.append(entry("one")).unwrap();
        // A second writer (another cordon) continues the same chain.
        let mut other = open(dir.path(), &path).unwrap();
        other.append(entry("two")).unwrap();
        log.append(entry("three")).unwrap();
        assert_eq!(check(dir.path(), &path), (3, None, HeadCheck::Matches));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"two\"", "\"tw0\"", 1)).unwrap();
        assert_eq!(check(dir.path(), &path), (3, Some(3), HeadCheck::Matches));
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n", lines[1..].join("\n"))).unwrap();
        let (n, line, head) = check(dir.path(), &path);
        assert_eq!((n, line), (2, Some(1)));
        assert!(matches!(
            head,
            HeadCheck::Differs(Finding::Truncated { .. })
        ));
    }

    /// Rebuilds the log from `tools`, with a consistent chain.
    fn forge(path: &Path, tools: &[&str]) {
        let mut prev = hex(&Sha256::digest(b""));
        let mut text = String::new();
        for t in tools {
            let mut e = entry(t);
            e.prev = prev;
            let json = serde_json::to_string(&e).unwrap();
            prev = hex(&Sha256::digest(json.as_bytes()));
            text.push_str(&json);
            text.push('\n');
        }
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_head_catches_a_cut_tail_a_rebuilt_chain_and_a_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = open(dir.path(), &path).unwrap();
        for t in ["a", "b", "c"] {
            log.append(entry(t)).unwrap();
        }
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();

        let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, cut).unwrap();
        assert_eq!(
            check(dir.path(), &path).2,
            HeadCheck::Differs(Finding::Truncated {
                recorded: 3,
                found: 2
            })
        );
        let err = open(dir.path(), &path).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");

        forge(&path, &["a", "b", "X"]);
        assert_eq!(
            check(dir.path(), &path),
            (
                3,
                None,
                HeadCheck::Differs(Finding::Rewritten { entries: 3 })
            )
        );
        assert!(open(dir.path(), &path).is_err());

        forge(&path, &["a", "b", "c", "d"]);
        assert!(matches!(
            check(dir.path(), &path).2,
            HeadCheck::Differs(Finding::Appended { .. })
        ));

        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            verify(&path, &dir.path().join("state")).unwrap().head,
            HeadCheck::Differs(Finding::Missing { recorded: 3 })
        );
        let err = open(dir.path(), &path).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(!path.exists(), "a refused open must not create the log");

        // The original bytes are accepted again.
        std::fs::write(&path, &text).unwrap();
        open(dir.path(), &path).unwrap().append(entry("d")).unwrap();
        assert_eq!(check(dir.path(), &path), (4, None, HeadCheck::Matches));
    }

    #[test]
    fn a_line_written_but_not_recorded_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let state = dir.path().join("state");
        let mut log = open(dir.path(), &path).unwrap();
        log.append(entry("a")).unwrap();
        let head_path = log.head_path();
        let recorded = std::fs::read(&head_path).unwrap();
        log.append(entry("b")).unwrap();
        drop(log);
        // As if cordon died between the line and its head.
        std::fs::write(&head_path, &recorded).unwrap();
        assert_eq!(verify(&path, &state).unwrap().head, HeadCheck::Matches);
        open(dir.path(), &path).unwrap().append(entry("c")).unwrap();
        assert_eq!(check(dir.path(), &path), (3, None, HeadCheck::Matches));
        // Two lines after the head are not cordon's interrupted append.
        let recorded = std::fs::read(&head_path).unwrap();
        let mut log = open(dir.path(), &path).unwrap();
        log.append(entry("d")).unwrap();
        log.append(entry("e")).unwrap();
        drop(log);
        std::fs::write(&head_path, &recorded).unwrap();
        assert!(open(dir.path(), &path).is_err());
        assert!(matches!(
            verify(&path, &state).unwrap().head,
            HeadCheck::Differs(Finding::Appended { .. })
        ));
    }

    #[test]
    fn a_log_without_a_head_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.jsonl");
        forge(&path, &["a", "b"]);
        assert_eq!(check(dir.path(), &path).2, HeadCheck::NotRecorded);
        open(dir.path(), &path).unwrap().append(entry("c")).unwrap();
        assert_eq!(check(dir.path(), &path), (3, None, HeadCheck::Matches));
        // A last line cut short is ended, and the next line stands alone.
        let torn = dir.path().join("torn.jsonl");
        forge(&torn, &["a", "b"]);
        let mut text = std::fs::read_to_string(&torn).unwrap();
        text.truncate(text.len() - 5);
        std::fs::write(&torn, &text).unwrap();
        open(dir.path(), &torn).unwrap().append(entry("c")).unwrap();
        let after = std::fs::read_to_string(&torn).unwrap();
        assert_eq!(after.lines().count(), 3);
        assert!(after.lines().nth(2).unwrap().contains("\"c\""));
        let v = verify(&torn, &dir.path().join("state")).unwrap();
        assert_eq!((v.entries, v.head), (3, HeadCheck::Matches));
        assert_eq!(v.broken.map(|b| b.line), Some(2));
    }

    #[test]
    fn an_audit_path_the_server_may_write_is_refused() {
        use crate::policy::AuditPolicy;
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        let tmp = root.join("cordon-tmp-1-x");
        std::fs::create_dir(&tmp).unwrap();
        let state = root.join("state/cordon");
        let mut policy = crate::policy::test_support::policy();
        let at = |policy: &mut Policy, path: &Path| {
            policy.mcp.audit = Some(AuditPolicy {
                path: Some(path.to_path_buf()),
                arguments: false,
            });
        };
        // /srv/notes is a writable grant, /usr a read-only one.
        at(&mut policy, Path::new("/srv/notes/audit/log.jsonl"));
        let err = check_placement(&policy, &state, Some(&tmp)).unwrap_err();
        assert!(
            err.to_string()
                .contains("mcp.audit_path in profile built-in"),
            "{err}"
        );
        assert!(
            err.to_string().contains("the writable grant /srv/notes"),
            "{err}"
        );
        at(&mut policy, &tmp.join("log.jsonl"));
        let err = check_placement(&policy, &state, Some(&tmp)).unwrap_err();
        assert!(
            err.to_string().contains("the server's private /tmp"),
            "{err}"
        );
        for fine in [Path::new("/usr/audit.jsonl"), &root.join("log.jsonl")] {
            at(&mut policy, fine);
            check_placement(&policy, &state, Some(&tmp)).unwrap();
        }
        // cordon's state directory is protected even inside a grant.
        policy.fs.push(crate::policy::test_support::grant(
            root.to_str().unwrap(),
            crate::policy::Access::READ_WRITE,
            crate::policy::GrantSource::CommandLine,
        ));
        at(&mut policy, &state.join("audit/x.jsonl"));
        check_placement(&policy, &state, None).unwrap();
        at(&mut policy, &root.join("log.jsonl"));
        assert!(check_placement(&policy, &state, None).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_strings_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = vec![
            ("TOKEN".into(), "s3cr3t-value".into()),
            ("LANG".into(), "C".into()),
        ];
        let log =
            AuditLog::open_in(&dir.path().join("l"), &dir.path().join("s"), true, secrets).unwrap();
        let mut v = serde_json::json!({"q": "use s3cr3t-value now", "s3cr3t-value": [1, "C"]});
        log.redact(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"q": "use [redacted:TOKEN] now", "[redacted:TOKEN]": [1, "C"]})
        );
    }
}
