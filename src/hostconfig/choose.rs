//! Which profile a server runs under when its entry is wrapped, and which
//! directories it is granted.
//!
//! The rule, in order:
//! 1. Each word of the command and its arguments that names a package
//!    (not an option, not a path; `@scope/name` counts) is stripped of its
//!    version (`@1.2.3`, `==1.2.3`) and scope, and `_` becomes `-`.
//! 2. A name of the form `server-X`, `mcp-server-X`, `X-mcp-server`,
//!    `X-mcp` or `mcp-X` gives the candidate `X`
//!    (`@modelcontextprotocol/server-filesystem` gives `filesystem`,
//!    `mcp-server-time` gives `time`).
//! 3. The first candidate that is the name of a profile cordon can find
//!    (`crate::profile::list`: shipped, system or the user's own) is
//!    chosen; otherwise `default`.
//!
//! The bare word is never a candidate by itself: option values such as
//! `--mode default` would otherwise pick profiles by accident.
//!
//! Servers that take the directories they serve as arguments (a profile
//! with `[server] rw_arguments = true`, such as `filesystem`) get `--rw DIR` for each argument that is an
//! absolute path, or starts with `~/`, and names an existing directory.
//! Anything else (relative paths, `${workspaceFolder}`, missing
//! directories) is not granted, and the caller says so.

use std::path::{Path, PathBuf};

/// The profile used when no profile matches the server.
pub const FALLBACK_PROFILE: &str = crate::profile::DEFAULT_PROFILE;

/// The profile chosen for one server, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub profile: String,
    /// The word of the command line that matched, when one did.
    pub matched: Option<String>,
}

/// Picks the profile for `command args…` among `profiles` (names).
pub fn profile_for(command: &str, args: &[String], profiles: &[String]) -> Choice {
    let words = std::iter::once(file_name(command)).chain(args.iter().map(String::as_str));
    for word in words {
        let Some(package) = package_name(word) else {
            continue;
        };
        let found = candidates(&package)
            .find(|c| *c != FALLBACK_PROFILE && profiles.iter().any(|p| p == c));
        if let Some(profile) = found {
            return Choice {
                profile: profile.to_owned(),
                matched: Some(word.to_owned()),
            };
        }
    }
    Choice {
        profile: FALLBACK_PROFILE.to_owned(),
        matched: None,
    }
}

/// What happened to one argument of a directory-taking server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirArg {
    Granted(String),
    NotGranted(String),
}

/// The server's own arguments after its package word: each is granted
/// read-write when it is an existing absolute (or `~/`) directory.
pub fn directory_grants(args: &[String], matched: Option<&str>, home: &Path) -> Vec<DirArg> {
    let start = matched
        .and_then(|m| args.iter().position(|a| a == m))
        .map_or(0, |i| i + 1);
    args[start..]
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(|arg| match expand_home(arg, home) {
            Some(path) if path.is_absolute() && path.is_dir() => DirArg::Granted(arg.clone()),
            _ => DirArg::NotGranted(arg.clone()),
        })
        .collect()
}

/// `~` and `~/…` against the home directory, as `cordon run --rw` does;
/// other paths as they are.
pub fn expand_home(arg: &str, home: &Path) -> Option<PathBuf> {
    if arg == "~" {
        Some(home.to_path_buf())
    } else if let Some(rest) = arg.strip_prefix("~/") {
        Some(home.join(rest))
    } else if arg.starts_with('~') {
        None
    } else {
        Some(PathBuf::from(arg))
    }
}

pub fn file_name(command: &str) -> &str {
    command.rsplit('/').next().unwrap_or(command)
}

/// The package a word names, normalised, or None for options and paths.
fn package_name(word: &str) -> Option<String> {
    if word.is_empty() || word.starts_with(['-', '.', '~', '/', '$']) {
        return None;
    }
    let unscoped = match word.strip_prefix('@') {
        // `@scope/name[@version]`
        Some(scoped) => scoped.split_once('/')?.1,
        None if word.contains('/') => return None,
        None => word,
    };
    let name = unscoped
        .split(['@', '=', '<', '>', '~', '[', ' '])
        .next()
        .unwrap_or(unscoped);
    (!name.is_empty()).then(|| name.replace('_', "-").to_ascii_lowercase())
}

/// The profile names a package name suggests, most specific first.
fn candidates(package: &str) -> impl Iterator<Item = &str> {
    let prefixed = ["mcp-server-", "server-", "mcp-"]
        .into_iter()
        .filter_map(move |p| package.strip_prefix(p));
    let suffixed = ["-mcp-server", "-mcp"]
        .into_iter()
        .filter_map(move |s| package.strip_suffix(s));
    prefixed.chain(suffixed).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn shipped() -> Vec<String> {
        ["default", "everything", "filesystem", "time", "github"]
            .map(String::from)
            .to_vec()
    }

    fn choose(command: &str, args: &[&str]) -> Choice {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        profile_for(command, &args, &shipped())
    }

    #[test]
    fn npm_packages_map_to_their_profiles() {
        let c = choose(
            "npx",
            &["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
        );
        assert_eq!(c.profile, "filesystem");
        assert_eq!(
            c.matched.as_deref(),
            Some("@modelcontextprotocol/server-filesystem")
        );
        let c = choose(
            "npx",
            &["-y", "@modelcontextprotocol/server-everything@2025.1.1"],
        );
        assert_eq!(c.profile, "everything");
    }

    #[test]
    fn python_and_binary_servers_match_too() {
        assert_eq!(choose("uvx", &["mcp-server-time==0.6"]).profile, "time");
        assert_eq!(
            choose("python3", &["-m", "mcp_server_time"]).profile,
            "time"
        );
        assert_eq!(
            choose("/usr/bin/github-mcp-server", &["stdio"]).profile,
            "github"
        );
    }

    #[test]
    fn unknown_servers_and_bare_words_fall_back_to_default() {
        assert_eq!(
            choose("node", &["/srv/filesystem/index.js"]).profile,
            "default"
        );
        assert_eq!(
            choose("my-tool", &["--mode", "filesystem"]).profile,
            "default"
        );
        assert_eq!(
            choose("npx", &["-y", "mcp-server-default"]).profile,
            "default"
        );
        assert_eq!(choose("npx", &["-y", "mcp-server-weather"]).matched, None);
    }

    #[test]
    fn only_existing_absolute_directories_are_granted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        let args: Vec<String> = [
            "-y",
            "@modelcontextprotocol/server-filesystem",
            &d,
            "rel",
            "/no/such",
            "~",
        ]
        .map(String::from)
        .to_vec();
        let grants = directory_grants(
            &args,
            Some("@modelcontextprotocol/server-filesystem"),
            dir.path(),
        );
        assert_eq!(
            grants,
            [
                DirArg::Granted(d),
                DirArg::NotGranted("rel".into()),
                DirArg::NotGranted("/no/such".into()),
                DirArg::Granted("~".into()),
            ]
        );
    }
}
