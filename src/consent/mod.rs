//! Consent: the exact command, the resolved executable and the effective
//! policy, rendered once and shown to the user before anything runs.
//!
//! - [`render`] is the single rendering shared by the prompt, `run
//!   --dry-run`, `run --yes` and (later) `approve` and `vet`; approvals are
//!   keyed by its text, so it is deterministic and every untrusted string
//!   in it is escaped ([`quote`]).
//! - [`warnings`] names dangerous patterns in one sentence each; they are
//!   part of the rendering.
//! - [`obtain`] shows the text and decides. The question is asked on the
//!   controlling terminal only: stdin and stdout carry the MCP protocol.
//!
//! Depends on [`crate::policy`] only.

pub mod binding;
pub mod digest;
mod prompt;
mod render;
mod screen;
pub mod store;
pub mod tree;
mod warn;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

pub use crate::mcp::quote::{escape_os, escape_text, quote_argv, shell_quote};
pub use prompt::{APPROVE_QUESTION, QUESTION, ask, ask_on, obtain, obtain_with};
pub use render::{Style, render, render_policy};
pub use screen::{SCREEN_LINES, SCREEN_WIDTH};
pub use warn::warnings;

pub use binding::{BindError, Binding, Subject, bind};
pub use store::{Approval, Store, StoreError};

/// What is about to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The command line as the user typed it; `argv[0]` unresolved.
    pub argv: Vec<OsString>,
    /// The absolute file cordon will `execve`.
    pub executable: PathBuf,
    /// The interpreter named by the executable's `#!` line, if any.
    pub interpreter: Option<PathBuf>,
    /// The directory the server starts in.
    pub cwd: PathBuf,
    /// Lines shown right after the command (label, text; the text is
    /// escaped when shown): the package it names, as resolved and
    /// installed into cordon's store. Empty for other commands.
    pub package: Vec<(&'static str, String)>,
}

/// How consent is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--yes`: show the text on stderr and approve.
    Yes,
    /// `--dry-run`: show the text on stderr and run nothing.
    DryRun,
    /// Ask on the controlling terminal.
    Ask,
}

/// What the user decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Run the command.
    Approved,
    /// Do not run it: the answer was not yes, or the prompt was ended by
    /// EOF, a hangup or Ctrl-C.
    Refused,
    /// `--dry-run`: the text was shown and nothing is to run.
    DryRun,
}

impl Outcome {
    /// Only [`Outcome::Approved`] allows the command to run.
    pub fn is_approved(self) -> bool {
        self == Outcome::Approved
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// `/dev/tty` cannot be opened: cordon runs without a controlling
    /// terminal (typically started by an MCP host).
    #[error(
        "no controlling terminal to ask for consent on (stdin and stdout carry the MCP protocol)"
    )]
    NoTerminal,
    /// Talking to the terminal or writing to stderr failed.
    #[error("consent prompt: cannot {step}")]
    Io {
        step: &'static str,
        #[source]
        source: io::Error,
    },
    /// No recorded approval matches what is about to run.
    #[error("not approved: {}", reasons.join("; "))]
    NotApproved {
        reasons: Vec<String>,
        /// The exact `cordon approve …` command that would approve it.
        approve: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file that was checked changed before the server started.
    #[error("{path} changed while cordon was starting it (written to, or replaced by a rename)")]
    Changed { path: std::path::PathBuf },
    /// What is to run cannot be hashed (the executable vanished, …).
    #[error("cannot bind the approval to {path}")]
    Bind {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ConsentError {
    /// A one-line suggestion for the top-level error report.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConsentError::NoTerminal => Some(
                "approve it once from a terminal with `cordon approve` and the same arguments, \
                 or pass --yes after reviewing it with --dry-run"
                    .into(),
            ),
            ConsentError::NotApproved { approve, .. } => {
                Some(format!("review and approve it from a terminal: {approve}"))
            }
            ConsentError::Store(e) => e.hint().map(str::to_owned),
            ConsentError::Changed { .. } => {
                Some("start it again; if it keeps changing, find what rewrites it".into())
            }
            ConsentError::Io { .. } | ConsentError::Bind { .. } => None,
        }
    }

    fn io(step: &'static str, source: impl Into<io::Error>) -> ConsentError {
        ConsentError::Io {
            step,
            source: source.into(),
        }
    }
}

/// The approval recorded for exactly `binding`, if any.
pub fn find_approval<'a>(approvals: &'a [Approval], binding: &Binding) -> Option<&'a Approval> {
    approvals.iter().rev().find(|a| a.binding == *binding)
}

/// Why no approval matches, against the closest earlier one: the same
/// command, else the same profile and executable, else nothing.
pub fn explain_refusal(approvals: &[Approval], binding: &Binding) -> Vec<String> {
    let closest = approvals
        .iter()
        .rev()
        .find(|a| a.binding.argv_sha256 == binding.argv_sha256)
        .or_else(|| {
            approvals.iter().rev().find(|a| {
                a.binding.profile == binding.profile
                    && a.binding.executable.path == binding.executable.path
            })
        });
    match closest {
        Some(old) => binding::differences(&old.binding, binding),
        None => vec![format!("no approval is recorded for {}", binding.command)],
    }
}

/// A small but complete invocation for the unit tests here (the policy
/// comes from [`crate::policy::test_support`]).
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    use super::Invocation;
    pub use crate::policy::test_support::{grant, policy};

    pub fn invocation(argv: &[&str]) -> Invocation {
        Invocation {
            argv: argv.iter().map(Into::into).collect(),
            executable: PathBuf::from("/usr/bin/npx"),
            interpreter: Some(PathBuf::from("/usr/bin/node")),
            cwd: PathBuf::from("/srv"),
            package: Vec::new(),
        }
    }
}
