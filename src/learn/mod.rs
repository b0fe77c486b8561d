//! `cordon profile learn`: a profile learned from the refusals of a
//! confined run.
//!
//! The server runs under a base profile exactly as `cordon run` would run
//! it; nothing is granted while it runs, so the server sees every refusal.
//! The refusals come from [`crate::explain`]; at the end this module
//! writes the base profile's own text with the narrowest grants that
//! explain them added where they belong, each with a comment naming what
//! asked for it ([`choose`] holds the rules), and a closing block of
//! comments for what was asked for and is never granted. The base's
//! comments and layout stay ([`edit`]), and the result must load with the
//! profile loader before it is written: a learned profile that does not
//! validate is an error, never a file.
//!
//! A second learn run with the learned profile as its base adds what is
//! still refused (a server that failed early reaches further once it gets
//! what it first asked for).
//!
//! Learning may start from a profile that grants nothing. A server the
//! sandbox keeps from starting (its `execve` refused) is a server that
//! exited: what the kernel opens itself inside `execve` (a `#!`
//! interpreter, the dynamic loader, see [`exec`]) is no call the notifier
//! sees, so cordon names those from the file and reports the ones the
//! sandbox hides, and the profile is written.

pub mod choose;
pub mod edit;
pub mod exec;
mod net;
mod never;
mod settings;

use std::ffi::OsString;
use std::path::Path;

use crate::explain::Seen;
use crate::profile::{Context, ProfileError, Source};

pub use choose::Setting;

/// What marks a profile as learned: its header is not repeated when a
/// learned profile is the base of the next run.
const MARK: &str = "learned by `cordon profile learn`";

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("cannot add the learned grants to profile {base}: {source}")]
    Edit {
        base: String,
        source: edit::EditError,
    },
    #[error("the learned profile does not validate (please report this): {source}")]
    Invalid { source: Box<ProfileError> },
}

/// A learned profile.
#[derive(Debug)]
pub struct Learned {
    pub text: String,
    /// Grants added.
    pub grants: usize,
    /// Refusals not granted, one line each.
    pub notes: Vec<String>,
}

/// What the learned profile is made from.
#[derive(Debug)]
pub struct Input<'a> {
    /// The new profile's name.
    pub name: &'a str,
    pub base: &'a Source,
    /// The server's command, for the header.
    pub command: &'a [OsString],
    pub seen: &'a [Seen],
}

/// The learned profile's text, validated as if it were `file`.
pub fn learn(
    input: &Input<'_>,
    setting: &Setting<'_>,
    file: &Path,
    ctx: &Context,
) -> Result<Learned, LearnError> {
    let mut plan = choose::plan(input.seen, setting);
    keep_what_changes(&input.base.text, &mut plan);
    let mut text =
        edit::apply(&input.base.text, &plan.changes).map_err(|source| LearnError::Edit {
            base: input.base.name.clone(),
            source,
        })?;
    if !text.contains(MARK) {
        text.insert_str(0, &header(input, &ctx.home));
        // The base's description no longer says all it allows.
        let base = &input.base.name;
        text = edit::map_root_string(&text, "description", |d| {
            format!("Learned from profile {base} by cordon profile learn: {d}")
        })
        .map_err(|source| LearnError::Edit {
            base: base.clone(),
            source,
        })?;
    }
    text.push_str(&notes_block(&text, &plan.notes));
    crate::profile::load_text(&text, file, ctx).map_err(|e| LearnError::Invalid {
        source: Box::new(e),
    })?;
    Ok(Learned {
        text,
        grants: plan.grants,
        notes: plan.notes,
    })
}

/// A setting the base already has is not set again: the run that was
/// refused had it overridden (`--no-namespaces` overrides `namespaces`),
/// which a profile cannot change.
fn keep_what_changes(base: &str, plan: &mut choose::Plan) {
    let mut notes = Vec::new();
    plan.changes.retain(|change| match change {
        edit::Change::Set {
            table, key, value, ..
        } if edit::current_value(base, table, key).as_deref() == Some(value.as_str()) => {
            notes.push(format!(
                "{key} = {value} in [{table}] is already in the profile; this run overrode it from the command line"
            ));
            false
        }
        _ => true,
    });
    plan.grants -= notes.len().min(plan.grants);
    plan.notes.extend(notes);
}

fn header(input: &Input<'_>, home: &Path) -> String {
    let words: Vec<String> = input
        .command
        .iter()
        .map(|a| edit::comment_text(&a.to_string_lossy()))
        .collect();
    let command = words.join(" ").replace(&home.display().to_string(), "~");
    edit::comment_lines(&format!(
        "Profile `{}`, {MARK} from the refusals of\n\n  {command}\n\n\
         run under profile `{}`\n({}).\n\
         Below is that profile with a grant for each refusal, each saying what\n\
         asked for it, and at the end what was asked for and not granted.\n\
         Review it before use; a learn run with this profile (-p {}) shows\n\
         what is still refused.\n",
        input.name,
        input.base.name,
        edit::comment_text(&input.base.origin.to_string()),
        input.name
    )) + "\n"
}

/// The notes not already in the text (a learned base keeps its own).
fn notes_block(text: &str, notes: &[String]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for note in notes {
        let line = format!("#   {}\n", edit::comment_text(note));
        if !text.contains(line.as_str()) && !lines.contains(&line) {
            lines.push(line);
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    // A learned base that ends with its block: the new notes go on in it,
    // so that learning in rounds keeps one block.
    const HEADER: &str = "# Refused while learning, and not granted:\n";
    let ends_in_block = text.rfind(HEADER).is_some_and(|at| {
        text.get(at + HEADER.len()..)
            .is_some_and(|rest| rest.lines().all(|l| l.starts_with("#   ")))
    });
    if ends_in_block && text.ends_with('\n') {
        return lines.concat();
    }
    let mut block = String::from(if text.ends_with('\n') { "\n" } else { "\n\n" });
    block.push_str(HEADER);
    for line in lines {
        block.push_str(&line);
    }
    block
}

#[cfg(test)]
mod tests;
