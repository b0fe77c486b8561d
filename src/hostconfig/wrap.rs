//! Rewriting one server entry: `command args…` becomes
//! `cordon run --profile P [--rw DIR]… [--env NAME]… --yes -- command args…`,
//! and back.
//!
//! The original command and arguments are kept verbatim after `--`, so
//! unwrapping needs nothing but the entry itself and is exact. Every other
//! key of the entry (`env`, `cwd`, `type`, …) is left where it is.

use std::path::Path;

use serde_json::{Map, Value};

use super::choose::{self, DirArg};

/// What wrapping needs to know about this machine.
#[derive(Debug, Clone)]
pub struct WrapContext {
    /// The `command` written into wrapped entries: this cordon's absolute
    /// path, since a host started from a desktop session may not have the
    /// user's shell `PATH`.
    pub cordon: String,
    /// The names of every profile cordon can find.
    pub profiles: Vec<String>,
    pub home: std::path::PathBuf,
}

/// What was done to one entry, for the per-server line on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Wrapped {
        profile: String,
        matched: Option<String>,
        notes: Vec<String>,
    },
    Unwrapped,
    /// Left as it was, and why.
    Skipped(String),
}

impl Outcome {
    pub fn changed(&self) -> bool {
        !matches!(self, Outcome::Skipped(_))
    }
}

/// The consent a wrapped entry carries: none. The host starts it without
/// a terminal, so cordon runs it only once the person approved exactly
/// this command with `cordon approve` (or `cordon vet`); wrapping a file
/// must not grant that consent on its own.
pub fn consent_args() -> Vec<String> {
    Vec::new()
}

/// The `cordon approve …` a person runs once to let the host start the
/// wrapped entry: the same arguments as its `cordon run`.
fn approve_hint(run_args: &[String]) -> String {
    let words: Vec<std::ffi::OsString> = ["cordon", "approve"]
        .into_iter()
        .map(String::from)
        .chain(run_args.iter().skip(1).cloned())
        .map(Into::into)
        .collect();
    format!(
        "approve it once from a terminal: {}",
        crate::consent::quote_argv(&words)
    )
}

/// The command and arguments of a stdio entry, or why it is not one that
/// can be rewritten.
fn stdio_command(entry: &Map<String, Value>) -> Result<(String, Vec<String>), String> {
    if entry.contains_key("url") {
        return Err("not a stdio server (it has a url): left alone".into());
    }
    match entry.get("type").map(|t| t.as_str()) {
        None | Some(Some("stdio")) => {}
        Some(Some(other)) => {
            return Err(format!("not a stdio server (type {other:?}): left alone"));
        }
        Some(None) => return Err("its \"type\" is not a string: left alone".into()),
    }
    let Some(command) = entry.get("command").and_then(Value::as_str) else {
        return Err("no \"command\" string: left alone".into());
    };
    let args = match entry.get("args") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or("its \"args\" are not all strings: left alone")?,
        Some(_) => return Err("its \"args\" is not an array: left alone".into()),
    };
    Ok((command.to_owned(), args))
}

/// Where the original command starts in a wrapped entry's arguments
/// (just after `--`), or None when the entry is not a cordon entry.
fn wrapped_start(command: &str, args: &[String]) -> Option<usize> {
    let is_cordon = Path::new(command)
        .file_name()
        .is_some_and(|n| n == "cordon");
    if !is_cordon || args.first().map(String::as_str) != Some("run") {
        return None;
    }
    args.iter().position(|a| a == "--").map(|i| i + 1)
}

/// Rewrites one entry to run through cordon.
pub fn wrap_entry(entry: &mut Value, ctx: &WrapContext) -> Outcome {
    let Value::Object(entry) = entry else {
        return Outcome::Skipped("not an object: left alone".into());
    };
    let (command, args) = match stdio_command(entry) {
        Ok(found) => found,
        Err(why) => return Outcome::Skipped(why),
    };
    if wrapped_start(&command, &args).is_some() {
        return Outcome::Skipped("already runs through cordon".into());
    }
    let choice = choose::profile_for(&command, &args, &ctx.profiles);
    let mut notes = Vec::new();
    let mut new_args = vec![
        "run".to_owned(),
        "--profile".to_owned(),
        choice.profile.clone(),
    ];
    if choose::takes_directories(&choice.profile) {
        for arg in choose::directory_grants(&args, choice.matched.as_deref(), &ctx.home) {
            match arg {
                DirArg::Granted(dir) => {
                    notes.push(format!("--rw {dir:?}"));
                    new_args.extend(["--rw".to_owned(), dir]);
                }
                DirArg::NotGranted(arg) => notes.push(format!(
                    "{arg:?} not granted (not an existing absolute directory; add --rw or --ro by hand)"
                )),
            }
        }
    }
    for name in env_names(entry, &mut notes) {
        new_args.extend(["--env".to_owned(), name]);
    }
    if entry.contains_key("envFile") {
        notes.push(
            "its envFile's variables do not reach the server: add --env NAME for each by hand"
                .into(),
        );
    }
    new_args.extend(consent_args());
    new_args.push("--".to_owned());
    new_args.push(command);
    new_args.extend(args);
    notes.push(approve_hint(&new_args));
    set_command(entry, Value::String(ctx.cordon.clone()), new_args);
    Outcome::Wrapped {
        profile: choice.profile,
        matched: choice.matched,
        notes,
    }
}

/// The names of the entry's `env` map that cordon can pass: the host
/// sets their values in cordon's environment, cordon passes them on by
/// name.
fn env_names(entry: &Map<String, Value>, notes: &mut Vec<String>) -> Vec<String> {
    let Some(Value::Object(env)) = entry.get("env") else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for name in env.keys() {
        match crate::profile::check_env_name(name) {
            Ok(()) => names.push(name.clone()),
            Err(why) => notes.push(format!("env {name:?} not passed: {why}")),
        }
    }
    names
}

/// Restores the original command of a cordon entry.
pub fn unwrap_entry(entry: &mut Value) -> Outcome {
    let Value::Object(entry) = entry else {
        return Outcome::Skipped("not an object: left alone".into());
    };
    let (command, args) = match stdio_command(entry) {
        Ok(found) => found,
        Err(why) => return Outcome::Skipped(why),
    };
    let Some(start) = wrapped_start(&command, &args) else {
        return Outcome::Skipped("does not run through cordon".into());
    };
    let Some(original) = args.get(start) else {
        return Outcome::Skipped("runs cordon with no command after \"--\": left alone".into());
    };
    set_command(
        entry,
        Value::String(original.clone()),
        args[start + 1..].to_vec(),
    );
    Outcome::Unwrapped
}

/// Sets `command` and `args` in place. A new `args` key goes right after
/// `command`; an empty `args` is removed, so that an entry written
/// without one comes back without one.
fn set_command(entry: &mut Map<String, Value>, command: Value, args: Vec<String>) {
    entry.insert("command".to_owned(), command);
    if args.is_empty() {
        entry.shift_remove("args");
        return;
    }
    let args = Value::Array(args.into_iter().map(Value::String).collect());
    match entry.get_mut("args") {
        Some(slot) => *slot = args,
        None => {
            let at = entry
                .keys()
                .position(|k| k == "command")
                .map_or(entry.len(), |i| i + 1);
            entry.shift_insert(at, "args".to_owned(), args);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn ctx() -> WrapContext {
        WrapContext {
            cordon: "/usr/bin/cordon".into(),
            profiles: vec!["default".into(), "everything".into(), "filesystem".into()],
            home: "/nonexistent-home".into(),
        }
    }

    #[test]
    fn wrap_keeps_the_original_after_the_separator_and_unwrap_restores_it() {
        let original = json!({"type": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"], "env": {"TOKEN": "x"}});
        let mut entry = original.clone();
        let outcome = wrap_entry(&mut entry, &ctx());
        assert!(matches!(outcome, Outcome::Wrapped { ref profile, .. } if profile == "everything"));
        assert_eq!(
            entry,
            json!({"type": "stdio", "command": "/usr/bin/cordon", "args": ["run", "--profile", "everything", "--env", "TOKEN", "--", "npx", "-y", "@modelcontextprotocol/server-everything"], "env": {"TOKEN": "x"}})
        );
        assert_eq!(
            wrap_entry(&mut entry, &ctx()),
            Outcome::Skipped("already runs through cordon".into())
        );
        assert_eq!(unwrap_entry(&mut entry), Outcome::Unwrapped);
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            serde_json::to_string(&original).unwrap()
        );
    }

    #[test]
    fn an_entry_without_args_gets_them_after_command_and_loses_them_again() {
        let original = json!({"command": "/opt/server", "cwd": "/srv"});
        let mut entry = original.clone();
        wrap_entry(&mut entry, &ctx());
        let keys: Vec<_> = entry.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["command", "args", "cwd"]);
        unwrap_entry(&mut entry);
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            serde_json::to_string(&original).unwrap()
        );
    }

    #[test]
    fn remote_servers_are_left_alone() {
        for mut entry in [
            json!({"url": "https://x"}),
            json!({"type": "sse", "command": "x"}),
        ] {
            let before = entry.clone();
            assert!(
                matches!(wrap_entry(&mut entry, &ctx()), Outcome::Skipped(why) if why.starts_with("not a stdio server"))
            );
            assert_eq!(entry, before);
        }
    }

    #[test]
    fn loader_variables_are_not_passed() {
        let mut entry = json!({"command": "srv", "env": {"LD_PRELOAD": "x", "API_KEY": "y"}});
        let Outcome::Wrapped { notes, .. } = wrap_entry(&mut entry, &ctx()) else {
            panic!("not wrapped");
        };
        assert!(notes[0].contains("LD_PRELOAD"), "{notes:?}");
        assert_eq!(
            entry["args"],
            json!([
                "run",
                "--profile",
                "default",
                "--env",
                "API_KEY",
                "--",
                "srv"
            ])
        );
    }
}
