//! Telling the user what the filter refused: one line on stderr per
//! refusal, `cordon: egress refused: <destination>: <reason>`, written in
//! one `write` so lines from cordon and the forwarder do not interleave.
//!
//! The same line repeated within a second is counted rather than printed,
//! so a server retrying in a loop cannot flood the host's log; the count
//! is added to the next line printed for it.
//!
//! When the profile keeps an audit log (`mcp.audit`), every refusal is
//! also appended to it, through the relay's `AuditLog` (which locks the
//! file, so the forwarder's lines and cordon's never interleave), as a
//! record with method `network/egress` and outcome `refused`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::mcp::audit::{AuditLog, Entry};

const QUIET: Duration = Duration::from_secs(1);

/// Where refusals go.
#[derive(Debug)]
pub struct Reporter {
    /// Line → (when last printed, repeats not printed since).
    recent: HashMap<String, (Option<Instant>, u32)>,
    /// The profile's audit log, when it keeps one: its path until the
    /// first refusal opens it.
    audit: Audit,
    profile: String,
    /// `--explain` and `profile learn`: one record line per refusal.
    records: Option<std::fs::File>,
}

/// A refusal as a record line: the destination and the reason, control
/// characters replaced, separated by a tab.
fn record_line(dest: &str, reason: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    format!("{}\t{}\n", clean(dest), clean(reason))
}

/// One record line read back: the destination and the reason.
pub fn parse_record(line: &str) -> Option<(&str, &str)> {
    line.trim_end_matches('\n').split_once('\t')
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
    pub fn new(
        audit: Option<PathBuf>,
        profile: String,
        records: Option<std::fs::File>,
    ) -> Reporter {
        Reporter {
            recent: HashMap::new(),
            audit: audit.map_or(Audit::Off, Audit::Closed),
            profile,
            records,
        }
    }

    /// A connection or a name the filter refused.
    pub fn refused(&mut self, dest: &str, reason: &str) {
        self.line(format!("egress refused: {dest}: {reason}"));
        self.audit(dest, reason);
        if let Some(records) = &mut self.records {
            // One write per record, so that a reader never sees half of
            // one; a reader that is gone only ends the records.
            if records
                .write_all(record_line(dest, reason).as_bytes())
                .is_err()
            {
                self.records = None;
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
