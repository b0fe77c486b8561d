//! The audit log: one JSON line per tool call and per refusal, appended to
//! a file that each line chains to the one before it.
//!
//! Each line is written with one `write` on an `O_APPEND` descriptor while
//! holding an exclusive `flock`, so lines from several cordon processes
//! never interleave, and each carries `prev`, the SHA-256 (hex) of the
//! previous line's bytes without its newline (for the first line: of the
//! empty string). `cordon audit verify` walks the chain: an edited,
//! removed or reordered line breaks it at the next line. Anyone able to
//! write the file can still rebuild the whole chain, and cutting lines off
//! the end leaves it intact; the chain is a tamper *signal*, not a proof.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::pins::hex;

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
    file: File,
    /// Whether arguments and results are recorded.
    pub arguments: bool,
    /// (name, value) of the secrets to redact, longest value first.
    secrets: Vec<(String, String)>,
    /// The file's length after our last line, and that line's hash: reused
    /// when no other process appended since.
    last: Option<(u64, String)>,
}

impl AuditLog {
    /// Opens (creating, mode 0600, directories 0700) the log at `path`.
    pub fn open(
        path: &Path,
        arguments: bool,
        secrets: Vec<(String, String)>,
    ) -> io::Result<AuditLog> {
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let file = OpenOptions::new()
            .append(true)
            .read(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        let mut secrets: Vec<_> = secrets
            .into_iter()
            .filter(|(_, v)| v.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        Ok(AuditLog {
            path: path.to_path_buf(),
            file,
            arguments,
            secrets,
            last: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
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
    pub fn append(&mut self, mut entry: Entry) -> io::Result<()> {
        entry.time = rfc3339(SystemTime::now());
        let locked = Flock::lock(self.file.try_clone()?, FlockArg::LockExclusive)
            .map_err(|(_, e)| io::Error::from(e))?;
        let len = locked.metadata()?.len();
        let (prev, torn) = match &self.last {
            Some((at, hash)) if *at == len => (hash.clone(), false),
            _ => last_line_hash(&locked, len)?,
        };
        entry.prev = prev;
        let json = serde_json::to_string(&entry).map_err(io::Error::other)?;
        let mut line = Vec::with_capacity(json.len() + 2);
        if torn {
            // A line cut short by a crash: end it, so ours stands alone.
            line.push(b'\n');
        }
        line.extend_from_slice(json.as_bytes());
        line.push(b'\n');
        (&*locked).write_all(&line)?;
        self.last = Some((
            len + line.len() as u64,
            hex(&Sha256::digest(json.as_bytes())),
        ));
        Ok(())
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

/// Checks the chain of the log at `path`: the number of entries, or the
/// first broken line.
pub fn verify(path: &Path) -> io::Result<Result<usize, Broken>> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut expected = hex(&Sha256::digest(b""));
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(Ok(n));
        }
        n += 1;
        let broken = |reason: &str| {
            Ok(Err(Broken {
                line: n,
                reason: reason.to_owned(),
            }))
        };
        if line.pop() != Some(b'\n') {
            return broken("incomplete line (no newline at the end of the file)");
        }
        let prev = serde_json::from_slice::<Value>(&line)
            .ok()
            .and_then(|v| v.get("prev").and_then(Value::as_str).map(str::to_owned));
        match prev {
            None => return broken("not an audit entry (no JSON object with a \"prev\" string)"),
            Some(p) if p != expected && n == 1 => {
                return broken(
                    "\"prev\" is not the hash of the empty string: lines before it were removed",
                );
            }
            Some(p) if p != expected => {
                return broken(
                    "\"prev\" does not match the line before it: an entry was edited, removed or reordered",
                );
            }
            Some(_) => {}
        }
        expected = hex(&Sha256::digest(&line));
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

    #[test]
    fn the_chain_verifies_and_an_edit_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/audit.jsonl");
        let mut log = AuditLog::open(&path, false, Vec::new()).unwrap();
        log.append(entry("one")).unwrap();
        // A second writer (another cordon) continues the same chain.
        let mut other = AuditLog::open(&path, false, Vec::new()).unwrap();
        other.append(entry("two")).unwrap();
        log.append(entry("three")).unwrap();
        assert_eq!(verify(&path).unwrap(), Ok(3));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"two\"", "\"tw0\"", 1)).unwrap();
        assert_eq!(verify(&path).unwrap().unwrap_err().line, 3);
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n", lines[1..].join("\n"))).unwrap();
        assert_eq!(verify(&path).unwrap().unwrap_err().line, 1);
    }

    #[test]
    fn secrets_are_redacted_in_strings_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = vec![
            ("TOKEN".into(), "s3cr3t-value".into()),
            ("LANG".into(), "C".into()),
        ];
        let log = AuditLog::open(&dir.path().join("l"), true, secrets).unwrap();
        let mut v = serde_json::json!({"q": "use s3cr3t-value now", "s3cr3t-value": [1, "C"]});
        log.redact(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"q": "use [redacted:TOKEN] now", "[redacted:TOKEN]": [1, "C"]})
        );
    }
}
