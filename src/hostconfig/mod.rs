//! `cordon config wrap|unwrap`: put cordon in front of every stdio server
//! of an MCP host's configuration, and take it away again.
//!
//! `formats` knows where each host keeps its file and its server maps,
//! `choose` picks a profile per server, `wrap` rewrites one entry, `write`
//! reads and writes the file (style, backup, atomic replace) and `diff`
//! renders `--dry-run`. Every file is read and rewritten in memory before
//! any is written, so a malformed file stops the command with nothing
//! changed. Notes about each server go to stderr; the dry-run diff is a
//! report the user asked for and goes to stdout.

mod choose;
mod diff;
mod formats;
mod wrap;
mod write;

use std::io::Write;
use std::path::PathBuf;

use crate::profile::{Context, ProfileError};
use formats::{HostDirs, Target};
use wrap::{Outcome, WrapContext};
use write::Document;

pub use formats::HOST_NAMES;
pub use wrap::consent_args;

/// Which way to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Wrap,
    Unwrap,
}

/// What `cordon config wrap|unwrap` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub action: Action,
    /// A host name (see [`HOST_NAMES`]) or a path; None for every known
    /// host whose file exists.
    pub host: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostConfigError {
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {place} is not a JSON object", path.display())]
    NotAnObject { path: PathBuf, place: String },
    #[error("{}: no \"mcpServers\" or \"servers\" object: not an MCP host configuration", path.display())]
    NoServerKey { path: PathBuf },
    #[error("{label}: no configuration file at {}", path.display())]
    Missing { label: String, path: PathBuf },
    #[error("no MCP host configuration found; looked for {}", list(looked))]
    NoHostFound { looked: Vec<PathBuf> },
    #[error("{what} {}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot encode the configuration as JSON")]
    Encode(#[source] serde_json::Error),
    #[error("cannot write the report")]
    Output(#[source] std::io::Error),
    #[error("cannot list the profiles to choose from")]
    Profiles(#[source] ProfileError),
}

impl HostConfigError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            HostConfigError::Parse { .. } => Some(
                "the file was not changed; cordon reads strict JSON (no comments, no trailing commas)",
            ),
            HostConfigError::NoHostFound { .. } | HostConfigError::Missing { .. } => Some(
                "name the host with --host claude-desktop|vscode|cursor|claude-code, or give the file's path",
            ),
            _ => None,
        }
    }
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// One file, read and rewritten in memory.
struct Plan {
    target: Target,
    doc: Document,
    new_text: String,
    changed: bool,
}

/// Runs `cordon config wrap|unwrap`: `out` gets the dry-run diff, `notes`
/// one line per server and per file.
pub fn run(
    req: &Request,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<(), HostConfigError> {
    let ctx = Context::from_env().map_err(HostConfigError::Profiles)?;
    let dirs = HostDirs {
        config: ctx.own_dirs().config_home,
        home: ctx.home.clone(),
    };
    let wrap_ctx = match req.action {
        Action::Wrap => Some(wrap_context(&ctx)?),
        Action::Unwrap => None,
    };
    let mut plans = Vec::new();
    for target in formats::targets(req.host.as_deref(), &dirs)? {
        plans.push(plan(target, wrap_ctx.as_ref(), notes)?);
    }
    for plan in &plans {
        commit(plan, req, out, notes)?;
    }
    Ok(())
}

fn wrap_context(ctx: &Context) -> Result<WrapContext, HostConfigError> {
    let exe = std::env::current_exe().map_err(|e| HostConfigError::Io {
        path: PathBuf::from("/proc/self/exe"),
        what: "cannot find cordon's own executable at",
        source: e,
    })?;
    let profiles = crate::profile::list(ctx)
        .map_err(HostConfigError::Profiles)?
        .into_iter()
        .map(|listing| listing.name)
        .collect();
    Ok(WrapContext {
        cordon: exe.to_string_lossy().into_owned(),
        profiles,
        home: ctx.home.clone(),
    })
}

/// Reads one file and applies the action to every server entry, saying
/// what happened to each.
fn plan(
    target: Target,
    wrap_ctx: Option<&WrapContext>,
    notes: &mut dyn Write,
) -> Result<Plan, HostConfigError> {
    let mut doc = write::read(&target.path)?;
    let layout = formats::resolve_layout(target.layout, &doc.root, &target.path)?;
    let mut changed = false;
    for map in formats::server_maps(&mut doc.root, layout, &target.path)? {
        for (name, entry) in map.servers.iter_mut() {
            let outcome = match wrap_ctx {
                Some(ctx) => wrap::wrap_entry(entry, ctx),
                None => wrap::unwrap_entry(entry),
            };
            changed |= outcome.changed();
            let line = describe(&outcome);
            writeln!(
                notes,
                "cordon: {}: {}[{name:?}]: {line}",
                target.label, map.place
            )
            .map_err(HostConfigError::Output)?;
        }
    }
    let new_text = write::render(&doc.root, &doc.style)?;
    Ok(Plan {
        target,
        doc,
        new_text,
        changed,
    })
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Wrapped {
            profile,
            matched,
            notes,
        } => {
            let why = match matched {
                Some(word) => format!("matches {word:?}"),
                None => "no profile matches this server: review what it needs".to_owned(),
            };
            let mut line = format!("wrapped, profile {profile} ({why})");
            for note in notes {
                line.push_str("; ");
                line.push_str(note);
            }
            line
        }
        Outcome::Unwrapped => "unwrapped".to_owned(),
        Outcome::Skipped(why) => why.clone(),
    }
}

/// Writes one planned file (backup, then atomic replace), or prints its
/// diff for `--dry-run`.
fn commit(
    plan: &Plan,
    req: &Request,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<(), HostConfigError> {
    let path = &plan.target.path;
    let note = |notes: &mut dyn Write, text: String| {
        writeln!(notes, "cordon: {text}").map_err(HostConfigError::Output)
    };
    if !plan.changed {
        return note(notes, format!("{}: nothing to change", path.display()));
    }
    if req.dry_run {
        let after = match req.action {
            Action::Wrap => "wrapped",
            Action::Unwrap => "unwrapped",
        };
        let diff = diff::unified(
            &plan.doc.text,
            &plan.new_text,
            &path.display().to_string(),
            &format!("{} ({after})", path.display()),
        );
        out.write_all(diff.as_bytes())
            .map_err(HostConfigError::Output)?;
        return note(
            notes,
            format!("{}: dry run, nothing written", path.display()),
        );
    }
    let backup = write::backup(&plan.doc, std::time::SystemTime::now())?;
    write::replace(&plan.doc.path, &plan.new_text)?;
    note(
        notes,
        format!("wrote {} (backup: {})", path.display(), backup.display()),
    )
}
