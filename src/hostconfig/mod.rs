//! `cordon config wrap|unwrap|check`: put cordon in front of every stdio
//! server of an MCP host's configuration, take it away again, and check
//! that every local server runs through cordon with an approval.
//!
//! `formats` knows where each host keeps its file and its server maps,
//! `choose` picks a profile per server, `wrap` decides what one entry
//! becomes, `jsonc` and `edit` rewrite exactly the bytes of its `command`
//! and `args`, `record` keeps what was replaced for `unwrap`, `write`
//! reads and writes the file (backup, atomic replace) and `diff` renders
//! `--dry-run`. Every file is read and rewritten in memory before any is
//! written, so a malformed file stops the command with nothing changed.
//! Notes about each server go to stderr; the dry-run diff and the check's
//! findings are reports the user asked for and go to stdout.

pub mod choose;
mod diff;
mod edit;
mod formats;
mod jsonc;
mod record;
mod wrap;
mod write;

use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// With `dry_run`: the changes as JSON on stdout instead of a diff.
    pub json: bool,
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
                "the file was not changed; cordon reads JSON with comments and trailing commas (JSONC)",
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
    /// Records of the entries wrapped (to add) or restored (to drop).
    records: Vec<record::Wrapped>,
}

/// Runs `cordon config wrap|unwrap`: `out` gets the dry-run diff, `notes`
/// one line per server and per file.
pub fn run(
    req: &Request,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<(), HostConfigError> {
    let ctx = Context::from_env().map_err(HostConfigError::Profiles)?;
    let own = ctx.own_dirs();
    let dirs = HostDirs {
        config: own.config_home.clone(),
        home: ctx.home.clone(),
    };
    let targets = formats::targets(req.host.as_deref(), &dirs)?;
    let wrap_ctx = match req.action {
        Action::Wrap => Some(wrap_context(&ctx, notes)?),
        Action::Unwrap => None,
    };
    let mut records = record::load(&own.state)?;
    let mut plans = Vec::new();
    for target in targets {
        plans.push(plan(target, wrap_ctx.as_ref(), &records, notes)?);
    }
    for plan in &plans {
        if commit(plan, req, out, notes)? {
            for rec in &plan.records {
                match req.action {
                    Action::Wrap => records.put(rec.clone()),
                    Action::Unwrap => records.remove(rec),
                }
            }
        }
    }
    if !req.dry_run && plans.iter().any(|p| p.changed) {
        record::save(&own.state, &records)?;
    }
    if req.dry_run && req.json {
        let files: Vec<serde_json::Value> = plans.iter().map(|p| plan_json(p, req)).collect();
        let text = serde_json::to_string_pretty(&files).unwrap_or_default();
        writeln!(out, "{text}").map_err(HostConfigError::Output)?;
    }
    Ok(())
}

/// One file's planned change, for `--dry-run --json`: the file, whether
/// it changes, its diff, and each entry with its original and new text.
fn plan_json(plan: &Plan, req: &Request) -> serde_json::Value {
    let path = plan.target.path.display().to_string();
    let diff = plan.changed.then(|| {
        diff::unified(
            &plan.doc.text,
            &plan.new_text,
            &path,
            &format!("{path} ({})", after_word(req.action)),
        )
    });
    serde_json::json!({
        "file": path,
        "changed": plan.changed,
        "diff": diff,
        "entries": plan.records,
    })
}

fn after_word(action: Action) -> &'static str {
    match action {
        Action::Wrap => "wrapped",
        Action::Unwrap => "unwrapped",
    }
}

/// The `command` a wrapped entry gets: the `cordon` found on `$PATH`,
/// else the package's `/usr/bin/cordon`, else this binary with a
/// warning: a host would otherwise start whatever build directory wrap
/// happened to run from, which goes away or changes.
fn installed_cordon(notes: &mut dyn Write) -> Result<String, HostConfigError> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .filter(|d| d.is_absolute())
            .map(|d| d.join("cordon"))
            .find(|p| is_executable(p))
    });
    let found = on_path.or_else(|| {
        let packaged = PathBuf::from("/usr/bin/cordon");
        is_executable(&packaged).then_some(packaged)
    });
    let path = match found {
        Some(path) => path,
        None => {
            let exe = std::env::current_exe().map_err(|e| HostConfigError::Io {
                path: PathBuf::from("/proc/self/exe"),
                what: "cannot find cordon's own executable at",
                source: e,
            })?;
            writeln!(
                notes,
                "cordon: warning: no cordon on PATH and no /usr/bin/cordon: the entries run {}, this build's binary; install cordon and wrap again",
                exe.display()
            )
            .map_err(HostConfigError::Output)?;
            exe
        }
    };
    Ok(path.to_string_lossy().into_owned())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn wrap_context(ctx: &Context, notes: &mut dyn Write) -> Result<WrapContext, HostConfigError> {
    let listings = crate::profile::list(ctx).map_err(HostConfigError::Profiles)?;
    Ok(WrapContext {
        cordon: installed_cordon(notes)?,
        profiles: listings.iter().map(|l| l.name.clone()).collect(),
        needs: listings.into_iter().map(|l| (l.name, l.server)).collect(),
        home: ctx.home.clone(),
        path: std::env::var_os("PATH"),
    })
}

/// Reads one file and applies the action to every server entry, saying
/// what happened to each.
fn plan(
    target: Target,
    wrap_ctx: Option<&WrapContext>,
    records: &record::Records,
    notes: &mut dyn Write,
) -> Result<Plan, HostConfigError> {
    let doc = write::read(&target.path)?;
    let layout = formats::resolve_layout(target.layout, &doc.root, &target.path)?;
    let mut edits = Vec::new();
    let mut wrapped = Vec::new();
    for map in formats::server_maps(&doc.root, layout, &target.path)? {
        let map_node = formats::node_at(&doc.nodes, &map.keys);
        for (name, entry) in map.servers {
            let Some(node) = map_node.and_then(|m| m.member(name)).map(|m| &m.value) else {
                continue;
            };
            let before = &doc.text[node.start..node.end];
            let mut value = entry.clone();
            let mut extra = None;
            let restored = match wrap_ctx {
                Some(_) => None,
                None => records
                    .find(&doc.path, &map.place, name)
                    .filter(|r| r.wrapped == before),
            };
            let outcome = match (wrap_ctx, restored) {
                (Some(ctx), _) => wrap::wrap_entry(&mut value, ctx),
                (None, Some(_)) => Outcome::Unwrapped,
                (None, None) => {
                    let outcome = wrap::unwrap_entry(&mut value);
                    if outcome.changed() {
                        extra = Some(
                            "no record of its original text (or it was edited since): rebuilt from the command after \"--\"",
                        );
                    }
                    outcome
                }
            };
            if outcome.changed() {
                let new_text = match restored {
                    Some(rec) => Some(rec.original.clone()),
                    None => new_entry_text(&doc, node, &value),
                };
                if let Some(new_text) = new_text {
                    wrapped.push(record::Wrapped {
                        file: doc.path.clone(),
                        place: map.place.clone(),
                        name: name.clone(),
                        original: before.to_owned(),
                        wrapped: new_text.clone(),
                    });
                    edits.push((node.start..node.end, new_text));
                }
            }
            let mut line = describe(&outcome);
            if let Some(extra) = extra {
                line.push_str("; ");
                line.push_str(extra);
            }
            writeln!(
                notes,
                "cordon: {}: {}[{name:?}]: {line}",
                target.label, map.place
            )
            .map_err(HostConfigError::Output)?;
        }
    }
    let changed = !edits.is_empty();
    let new_text = jsonc::apply(&doc.text, edits);
    Ok(Plan {
        target,
        doc,
        new_text,
        changed,
        records: wrapped,
    })
}

/// The entry's text with the `command` and `args` of `value`.
fn new_entry_text(doc: &Document, node: &jsonc::Node, value: &serde_json::Value) -> Option<String> {
    let command = value.get("command")?.as_str()?;
    let args: Vec<String> = match value.get("args") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        _ => Vec::new(),
    };
    edit::entry(&doc.text, node, command, &args, &doc.style.indent)
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
        Outcome::Skipped(why) | Outcome::Refused(why) => why.clone(),
    }
}

/// Writes one planned file (backup, then atomic replace), or prints its
/// diff for `--dry-run`. True when the file was written.
fn commit(
    plan: &Plan,
    req: &Request,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<bool, HostConfigError> {
    let path = &plan.target.path;
    let note = |notes: &mut dyn Write, text: String| {
        writeln!(notes, "cordon: {text}").map_err(HostConfigError::Output)
    };
    if !plan.changed {
        note(notes, format!("{}: nothing to change", path.display()))?;
        return Ok(false);
    }
    if req.dry_run {
        if !req.json {
            let diff = diff::unified(
                &plan.doc.text,
                &plan.new_text,
                &path.display().to_string(),
                &format!("{} ({})", path.display(), after_word(req.action)),
            );
            out.write_all(diff.as_bytes())
                .map_err(HostConfigError::Output)?;
        }
        note(
            notes,
            format!("{}: dry run, nothing written", path.display()),
        )?;
        return Ok(false);
    }
    let backup = write::backup(&plan.doc, std::time::SystemTime::now())?;
    write::replace(&plan.doc.path, &plan.new_text)?;
    note(
        notes,
        format!("wrote {} (backup: {})", path.display(), backup.display()),
    )?;
    Ok(true)
}

/// Whether a wrapped entry's `cordon run` arguments (everything after
/// the command, `run` first) have a recorded approval: `Err` says why
/// that cannot be told (or why it never starts).
pub type ApprovalCheck<'a> = &'a dyn Fn(&[String]) -> Result<bool, String>;

/// `cordon config check`: one line on `out` per local (stdio) server of
/// each host configuration, saying whether it runs through cordon with a
/// recorded approval. Returns how many do not.
pub fn check(
    host: Option<&str>,
    approved: ApprovalCheck<'_>,
    out: &mut dyn Write,
) -> Result<usize, HostConfigError> {
    let ctx = Context::from_env().map_err(HostConfigError::Profiles)?;
    let dirs = HostDirs {
        config: ctx.own_dirs().config_home,
        home: ctx.home.clone(),
    };
    let targets = match formats::targets(host, &dirs) {
        // Nothing installed, nothing unguarded.
        Err(HostConfigError::NoHostFound { looked }) => {
            writeln!(
                out,
                "ok: no MCP host configuration found ({})",
                list(&looked)
            )
            .map_err(HostConfigError::Output)?;
            return Ok(0);
        }
        other => other?,
    };
    let mut problems = 0;
    for target in targets {
        let doc = write::read(&target.path)?;
        let layout = formats::resolve_layout(target.layout, &doc.root, &target.path)?;
        for map in formats::server_maps(&doc.root, layout, &target.path)? {
            for (name, entry) in map.servers {
                let Some(verdict) = check_entry(entry, approved) else {
                    continue;
                };
                let (ok, text) = match verdict {
                    Ok(text) => (true, text),
                    Err(text) => (false, text),
                };
                problems += usize::from(!ok);
                let mark = if ok { "ok" } else { "PROBLEM" };
                writeln!(
                    out,
                    "{mark}: {}: {}[{name:?}]: {text}",
                    target.path.display(),
                    map.place
                )
                .map_err(HostConfigError::Output)?;
            }
        }
    }
    Ok(problems)
}

/// The verdict on one entry: None for remote servers (and entries that
/// are not objects), `Ok` when it runs through cordon and is approved,
/// else `Err` with what is wrong.
fn check_entry(
    entry: &serde_json::Value,
    approved: ApprovalCheck<'_>,
) -> Option<Result<String, String>> {
    let entry = entry.as_object()?;
    let (command, args) = match wrap::stdio_command(entry) {
        Ok(found) => found,
        Err(why) if why.starts_with("not a stdio server") => return None,
        Err(why) => return Some(Err(why.replace(": left alone", ""))),
    };
    if wrap::wrapped_start(&command, &args).is_none() {
        return Some(Err(format!(
            "does not run through cordon ({}); `cordon config wrap` puts it in front",
            crate::consent::quote_argv(
                &std::iter::once(&command)
                    .chain(&args)
                    .map(Into::into)
                    .collect::<Vec<std::ffi::OsString>>()
            )
        )));
    }
    let approve = || {
        let words: Vec<std::ffi::OsString> = ["cordon", "approve"]
            .into_iter()
            .map(String::from)
            .chain(args.iter().skip(1).cloned())
            .map(Into::into)
            .collect();
        crate::consent::quote_argv(&words)
    };
    Some(match approved(&args) {
        Ok(true) => Ok("runs through cordon, approved".to_owned()),
        Ok(false) => Err(format!(
            "runs through cordon, but no approval matches it: run {}",
            approve()
        )),
        Err(why) => Err(format!("runs through cordon, but {why}")),
    })
}
