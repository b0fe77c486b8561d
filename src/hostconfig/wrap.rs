//! Rewriting one server entry: `command args…` becomes
//! `cordon run --profile P [--rw DIR]… [--env NAME]… --yes -- command args…`,
//! and back.
//!
//! The original command and arguments are kept verbatim after `--`, so
//! unwrapping can always rebuild the entry from itself (the exact bytes
//! come back from [`super::record`]). Every other key of the entry
//! (`env`, `cwd`, `type`, …) is left where it is.
//!
//! What the chosen profile declares in `[server]` is applied here: a
//! launch form it does not support, a `--repository` it needs but is not
//! given, a file in `env` whose directory does not exist, all refuse the
//! entry with the reason, so that nothing is written that would fail at
//! start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::profile::ServerNeeds;

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
    /// What each profile's server needs (`[server]`), by name.
    pub needs: BTreeMap<String, ServerNeeds>,
    pub home: PathBuf,
    /// `$PATH`, to find a server's executable given by name.
    pub path: Option<std::ffi::OsString>,
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
    /// Left as it was: wrapped, it would not work, and why.
    Refused(String),
}

impl Outcome {
    pub fn changed(&self) -> bool {
        matches!(self, Outcome::Wrapped { .. } | Outcome::Unwrapped)
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
pub fn stdio_command(entry: &Map<String, Value>) -> Result<(String, Vec<String>), String> {
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
pub fn wrapped_start(command: &str, args: &[String]) -> Option<usize> {
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
    if let Some(needs) = ctx.needs.get(&choice.profile) {
        match needed_grants(needs, &command, &args, entry, ctx) {
            Ok(grants) => {
                for (flag, path) in grants {
                    notes.push(format!("{flag} {path:?}"));
                    new_args.extend([flag.to_owned(), path]);
                }
            }
            Err(why) => {
                return Outcome::Refused(format!("not wrapped: profile {} {why}", choice.profile));
            }
        }
    }
    if ctx
        .needs
        .get(&choice.profile)
        .is_some_and(|n| n.rw_arguments)
    {
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

/// How the server is started, as `[server] launchers` names it.
pub fn launch_form(command: &str, args: &[String]) -> &'static str {
    let first = |word: &str| args.first().map(String::as_str) == Some(word);
    match choose::file_name(command) {
        "npx" => "npx",
        "npm" | "pnpm" if first("exec") || first("dlx") => "npx",
        "uvx" => "uvx",
        "uv" if first("tool") && args.get(1).map(String::as_str) == Some("run") => "uvx",
        _ => "installed",
    }
}

/// The grants (`--rw`/`--ro` and a path) the profile's `[server]` table
/// asks of this entry, or why the entry cannot work under it.
fn needed_grants(
    needs: &ServerNeeds,
    command: &str,
    args: &[String],
    entry: &Map<String, Value>,
    ctx: &WrapContext,
) -> Result<Vec<(&'static str, String)>, String> {
    let form = launch_form(command, args);
    if !needs.launchers.is_empty() && !needs.launchers.iter().any(|l| l == form) {
        return Err(format!(
            "does not support this launch form ({form}; it supports {}): copy the profile and add what {form} needs (see profiles/README.md, \"Launch forms\")",
            needs.launchers.join(", ")
        ));
    }
    let mut grants = Vec::new();
    for option in &needs.rw_options {
        let Some(value) = option_value(args, option) else {
            return Err(format!(
                "needs {option} PATH on the server's command line, and it has none"
            ));
        };
        match choose::expand_home(&value, &ctx.home) {
            Some(dir) if dir.is_absolute() && dir.is_dir() => grants.push(("--rw", value)),
            _ => {
                return Err(format!(
                    "needs {option} to name an existing absolute directory, not {value:?}"
                ));
            }
        }
    }
    for option in &needs.rw_file_options {
        let Some(value) = option_value(args, option) else {
            return Err(format!(
                "needs {option} FILE on the server's command line, and it has none"
            ));
        };
        match existing_parent(&value, &ctx.home) {
            Some(dir) => grants.push(("--rw", dir)),
            None => {
                return Err(format!(
                    "needs {option} to name a file in an existing absolute directory, not {value:?}"
                ));
            }
        }
    }
    let env = entry.get("env").and_then(Value::as_object);
    for name in &needs.rw_file_env {
        let Some(value) = env.and_then(|e| e.get(name)) else {
            continue;
        };
        match value.as_str().and_then(|v| existing_parent(v, &ctx.home)) {
            Some(dir) => grants.push(("--rw", dir)),
            None => {
                return Err(format!(
                    "needs env {name} to name a file in an existing absolute directory, not {value}"
                ));
            }
        }
    }
    if needs.venv {
        if let Some(venv) = venv_of(command, args, ctx) {
            grants.push(("--ro", venv.to_string_lossy().into_owned()));
        }
    }
    Ok(grants)
}

/// The directory holding the file `path` names, when `path` is absolute
/// (or `~/…`) and the directory exists.
fn existing_parent(path: &str, home: &Path) -> Option<String> {
    let file = choose::expand_home(path, home).filter(|p| p.is_absolute())?;
    let dir = file.parent().filter(|d| d.is_dir())?;
    Some(dir.to_string_lossy().into_owned())
}

/// The value of `--opt VALUE` or `--opt=VALUE` among the arguments.
fn option_value(args: &[String], option: &str) -> Option<String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == option {
            return iter.next().cloned();
        }
        if let Some(value) = arg.strip_prefix(option).and_then(|r| r.strip_prefix('=')) {
            return Some(value.to_owned());
        }
    }
    None
}

/// The virtual environment (the directory with `pyvenv.cfg`) whose
/// `bin/` holds the executable; found on `$PATH` when given by name.
/// Symlinks are not resolved: a venv's `bin/python` links to the system's
/// interpreter, and the venv is what the server needs.
fn venv_of(command: &str, _args: &[String], ctx: &WrapContext) -> Option<PathBuf> {
    let exe = if command.contains('/') {
        choose::expand_home(command, &ctx.home)?
    } else {
        std::env::split_paths(ctx.path.as_deref()?)
            .filter(|d| d.is_absolute())
            .map(|d| d.join(command))
            .find(|p| p.is_file())?
    };
    let bin = exe.parent()?;
    let venv = bin.parent()?;
    (bin.file_name()? == "bin" && venv.join("pyvenv.cfg").is_file()).then(|| venv.to_path_buf())
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
/// `command`; an empty `args` stays (as `[]`): whether the original had
/// one is known only from the record of the wrap.
fn set_command(entry: &mut Map<String, Value>, command: Value, args: Vec<String>) {
    entry.insert("command".to_owned(), command);
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
    use std::fs;

    fn ctx() -> WrapContext {
        WrapContext {
            cordon: "/usr/bin/cordon".into(),
            profiles: vec!["default".into(), "everything".into(), "filesystem".into()],
            needs: BTreeMap::new(),
            home: "/nonexistent-home".into(),
            path: None,
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
    fn an_entry_without_args_gets_them_after_command_and_keeps_them_empty() {
        let original = json!({"command": "/opt/server", "cwd": "/srv"});
        let mut entry = original.clone();
        wrap_entry(&mut entry, &ctx());
        let keys: Vec<_> = entry.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["command", "args", "cwd"]);
        unwrap_entry(&mut entry);
        assert_eq!(
            entry,
            json!({"command": "/opt/server", "args": [], "cwd": "/srv"})
        );
    }

    fn needing(profile: &str, needs: ServerNeeds) -> WrapContext {
        let mut ctx = ctx();
        ctx.profiles.push(profile.into());
        ctx.needs.insert(profile.into(), needs);
        ctx
    }

    #[test]
    fn a_launch_form_the_profile_does_not_support_is_refused() {
        let ctx = needing(
            "time",
            ServerNeeds {
                launchers: vec!["installed".into()],
                ..ServerNeeds::default()
            },
        );
        let mut entry = json!({"command": "uvx", "args": ["mcp-server-time"]});
        let before = entry.clone();
        let outcome = wrap_entry(&mut entry, &ctx);
        assert!(
            matches!(&outcome, Outcome::Refused(why) if why.starts_with("not wrapped: profile time does not support this launch form (uvx; it supports installed)")),
            "{outcome:?}"
        );
        assert_eq!(entry, before);
        let mut entry = json!({"command": "/v/bin/python", "args": ["-m", "mcp_server_time"]});
        assert!(wrap_entry(&mut entry, &ctx).changed());
    }

    #[test]
    fn a_repository_option_and_the_venv_are_granted() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        fs::create_dir_all(venv.join("bin")).unwrap();
        fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        let repo = dir.path().join("repo");
        fs::create_dir(&repo).unwrap();
        let ctx = needing(
            "git",
            ServerNeeds {
                rw_options: vec!["--repository".into()],
                venv: true,
                ..ServerNeeds::default()
            },
        );
        let exe = venv.join("bin/mcp-server-git");
        let exe = exe.to_str().unwrap();
        let repo = repo.to_str().unwrap();
        let mut entry = json!({"command": exe, "args": [format!("--repository={repo}")]});
        wrap_entry(&mut entry, &ctx);
        assert_eq!(
            entry["args"],
            json!([
                "run",
                "--profile",
                "git",
                "--rw",
                repo,
                "--ro",
                venv.to_str().unwrap(),
                "--",
                exe,
                format!("--repository={repo}")
            ])
        );
        let mut entry = json!({"command": exe});
        assert!(
            matches!(wrap_entry(&mut entry, &ctx), Outcome::Refused(why) if why.contains("needs --repository PATH"))
        );
        let mut entry = json!({"command": exe, "args": ["--repository", "/no/such"]});
        assert!(
            matches!(wrap_entry(&mut entry, &ctx), Outcome::Refused(why) if why.contains("not \"/no/such\""))
        );
    }

    #[test]
    fn a_file_option_gets_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = needing(
            "sqlite",
            ServerNeeds {
                rw_file_options: vec!["--db-path".into()],
                ..ServerNeeds::default()
            },
        );
        let db = dir.path().join("app.db");
        let db = db.to_str().unwrap();
        let mut entry = json!({"command": "uvx", "args": ["mcp-server-sqlite", "--db-path", db]});
        wrap_entry(&mut entry, &ctx);
        assert_eq!(
            entry["args"],
            json!([
                "run",
                "--profile",
                "sqlite",
                "--rw",
                dir.path().to_str().unwrap(),
                "--",
                "uvx",
                "mcp-server-sqlite",
                "--db-path",
                db
            ])
        );
        let mut entry = json!({"command": "uvx", "args": ["mcp-server-sqlite", "--db-path", "/no/such/app.db"]});
        assert!(
            matches!(wrap_entry(&mut entry, &ctx), Outcome::Refused(why) if why.contains("needs --db-path to name a file in an existing absolute directory"))
        );
    }

    #[test]
    fn a_file_in_env_gets_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = needing(
            "memory",
            ServerNeeds {
                rw_file_env: vec!["MEMORY_FILE_PATH".into()],
                ..ServerNeeds::default()
            },
        );
        let file = dir.path().join("memory.jsonl");
        let mut entry = json!({"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"], "env": {"MEMORY_FILE_PATH": file}});
        wrap_entry(&mut entry, &ctx);
        assert_eq!(entry["args"][3], "--rw");
        assert_eq!(entry["args"][4], dir.path().to_str().unwrap());
        assert_eq!(entry["args"][6], "MEMORY_FILE_PATH");
        let mut entry = json!({"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"], "env": {"MEMORY_FILE_PATH": "${input:path}"}});
        assert!(matches!(wrap_entry(&mut entry, &ctx), Outcome::Refused(_)));
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
