//! Telling the user what the filter refused: one line on stderr per
//! refusal, `cordon: egress refused: <destination>: <reason>`, written in
//! one `write` so lines from cordon and the forwarder do not interleave.
//!
//! The same line repeated within a second is counted rather than printed,
//! so a server retrying in a loop cannot flood the host's log; the count
//! is added to the next line printed for it.
//!
//! With `--explain` cordon hands the forwarder the write end of a pipe
//! (attached to the configuration message): each refusal then goes there
//! instead, as one JSON line ([`Refused`]: the destination, the reason,
//! and the allowlist entry that would reach it or why none can), and
//! cordon prints it among the sandbox's other refusals. The pipe is
//! non-blocking: when cordon does not keep up, the line is printed here
//! as without `--explain`, never lost and never waited for.
//!
//! When the profile keeps an audit log (`mcp.audit`), every refusal is
//! also appended to it, through the relay's `AuditLog` (which locks the
//! file, so the forwarder's lines and cordon's never interleave), as a
//! record with method `network/egress` and outcome `refused`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::mcp::audit::{AuditLog, Entry};

const QUIET: Duration = Duration::from_secs(1);

/// One refusal as the forwarder reports it to cordon in `--explain` mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// A name lookup (`dest` is the name), not a connection (`dest` is
    /// `host:port`).
    pub lookup: bool,
    pub dest: String,
    pub reason: String,
    pub fix: Fix,
}

/// What would let a refused destination through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fix {
    /// This entry in the allowlist (`allow` of `[network]`).
    Allow(String),
    /// No entry can, and why.
    Impossible(String),
}

/// Where refusals go.
#[derive(Debug)]
pub struct Reporter {
    /// Line → (when last printed, repeats not printed since).
    recent: HashMap<String, (Option<Instant>, u32)>,
    /// The profile's audit log, when it keeps one: its path until the
    /// first refusal opens it.
    audit: Audit,
    profile: String,
    /// `--explain`: the pipe to cordon (non-blocking).
    explain: Option<File>,
}

#[derive(Debug)]
enum Audit {
    Off,
    Closed(PathBuf),
    Open(AuditLog),
    /// Opening or writing failed (said once on stderr).
    Broken,
}

impl Reporter {
    pub fn new(audit: Option<PathBuf>, profile: String, explain: Option<File>) -> Reporter {
        Reporter {
            recent: HashMap::new(),
            audit: audit.map_or(Audit::Off, Audit::Closed),
            profile,
            explain,
        }
    }

    /// A connection the filter refused, and what would allow it.
    pub fn refused(&mut self, dest: &str, reason: &str, fix: Fix) {
        self.refusal(false, dest, reason, fix);
    }

    /// A name lookup the filter refused.
    pub fn refused_name(&mut self, name: &str, reason: &str, fix: Fix) {
        self.refusal(true, name, reason, fix);
    }

    fn refusal(&mut self, lookup: bool, dest: &str, reason: &str, fix: Fix) {
        let record = Refused {
            lookup,
            dest: dest.to_owned(),
            reason: reason.to_owned(),
            fix,
        };
        if !self.send_to_cordon(&record) {
            self.line(format!("egress refused: {dest}: {reason}"));
        }
        self.audit(dest, reason);
    }

    /// Sends `record` to cordon's `--explain` stream; false when there is
    /// none or it is full (one write of a whole line, below the pipe's
    /// atomic size, or nothing).
    fn send_to_cordon(&mut self, record: &Refused) -> bool {
        let Some(pipe) = &mut self.explain else {
            return false;
        };
        let Ok(mut line) = serde_json::to_vec(record) else {
            return false;
        };
        line.push(b'\n');
        if line.len() > libc::PIPE_BUF {
            return false;
        }
        match pipe.write(&line) {
            Ok(n) => n == line.len(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(_) => {
                // cordon is gone or stopped reading: stderr from now on.
                self.explain = None;
                false
            }
        }
    }

    /// An allowed destination that could not be reached.
    pub fn failed(&mut self, dest: &str, reason: &str) {
        self.line(format!("egress failed: {dest}: {reason}"));
    }

    fn line(&mut self, text: String) {
        let now = Instant::now();
        if self.recent.len() > 4096 {
            self.recent
                .retain(|_, (at, _)| at.is_some_and(|t| now.duration_since(t) < QUIET));
        }
        let entry = self.recent.entry(text.clone()).or_insert((None, 0));
        if entry.0.is_some_and(|t| now.duration_since(t) < QUIET) {
            entry.1 += 1;
            return;
        }
        let repeats = std::mem::take(&mut entry.1);
        entry.0 = Some(now);
        let more = if repeats > 0 {
            format!(" ({repeats} more like it not shown)")
        } else {
            String::new()
        };
        let _ = std::io::stderr().write_all(format!("cordon: {text}{more}\n").as_bytes());
    }

    fn audit(&mut self, dest: &str, reason: &str) {
        if let Audit::Closed(path) = &self.audit {
            self.audit = match AuditLog::open(path, false, Vec::new()) {
                Ok(log) => Audit::Open(log),
                Err(e) => self.audit_broken(path.display().to_string(), &e),
            };
        }
        let Audit::Open(log) = &mut self.audit else {
            return;
        };
        let entry = Entry {
            server: self.profile.clone(),
            method: "network/egress".into(),
            outcome: "refused",
            reason: Some(format!("{dest}: {reason}")),
            ..Entry::default()
        };
        if let Err(e) = log.append(entry) {
            let path = log.path().display().to_string();
            self.audit = self.audit_broken(path, &e);
        }
    }

    fn audit_broken(&self, path: String, e: &std::io::Error) -> Audit {
        let line = format!("cordon: egress: cannot write the audit log {path}: {e}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
        Audit::Broken
    }
}
