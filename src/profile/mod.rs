//! Profiles: finding a profile, parsing its TOML and validating it into the
//! [`Policy`] everything downstream enforces. This module is the only
//! producer of a `Policy`.
//!
//! The stages are kept apart: `locate` finds the text and says where it came
//! from, `schema` mirrors the file one to one, `validate` (with `paths` and
//! `values`) resolves it. Every error in a file names the file, line,
//! column and key path. Grants from outside the profile (`--ro`, `--rw`,
//! the executable) enter through [`add_grant`], so they resolve the same way.

mod allowlist;
mod builtin;
mod error;
mod grants;
pub mod init;
mod locate;
mod paths;
mod recover;
mod schema;
mod validate;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) use crate::realpath::{canonical, exists_nofollow, symlink_target};
pub use error::ProfileError;
pub(crate) use values::check_env_name;

use crate::policy::{Access, FsGrant, GrantSource, Origin, Policy};
use error::Doc;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// The host facts profile paths are resolved against, and where profiles
/// are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `~` and `{home}`.
    pub home: PathBuf,
    /// `{cwd}`, and the base of relative command-line paths.
    pub cwd: PathBuf,
    /// `{tmp}`: the host's temporary directory.
    pub tmp: PathBuf,
    /// Profile directories, highest priority first; each may hold a
    /// `groups/` subdirectory.
    pub dirs: Vec<PathBuf>,
}

impl Context {
    /// home from `$HOME` (else the password database), cwd from getcwd, tmp
    /// from `$TMPDIR` else `/tmp`; dirs are
    /// `$XDG_CONFIG_HOME/cordon/profiles` (default `~/.config`),
    /// `/etc/cordon/profiles` and `/usr/share/cordon/profiles`.
    pub fn from_env() -> Result<Context, ProfileError> {
        let home = crate::dirs::home().map_err(|err| ProfileError::Environment {
            what: "the home directory",
            reason: err.0,
        })?;
        let cwd = std::env::current_dir().map_err(|err| ProfileError::Environment {
            what: "the current directory",
            reason: err.to_string(),
        })?;
        let tmp = crate::dirs::absolute_var("TMPDIR").unwrap_or_else(|| PathBuf::from("/tmp"));
        let dirs = vec![
            crate::dirs::Dirs::for_home(&home).profiles(),
            PathBuf::from("/etc/cordon/profiles"),
            PathBuf::from("/usr/share/cordon/profiles"),
        ];
        Ok(Context {
            home,
            cwd,
            tmp,
            dirs,
        })
    }

    /// cordon's own directories for this context's home.
    pub fn own_dirs(&self) -> crate::dirs::Dirs {
        crate::dirs::Dirs::for_home(&self.home)
    }
}

/// Loads and validates a profile. `reference` is a name (no `/`, no
/// `.toml` suffix), looked up in `ctx.dirs` in order and then among the
/// built-in profiles, or a path (it contains `/` or ends in `.toml`) read
/// directly, relative to `ctx.cwd`.
pub fn load(reference: &str, ctx: &Context) -> Result<Policy, ProfileError> {
    let found = locate::find_profile(reference, ctx)?;
    let doc = Doc::new(&found.file, &found.text);
    let raw = validate::parse_profile(&doc)?;
    validate::build_policy(raw, &doc, found.name.clone(), found.origin.clone(), ctx)
}

/// A profile's text as found, with its name and origin: what `profile
/// learn` extends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub origin: Origin,
    pub text: String,
}

/// Finds a profile like [`load`] and returns its text unparsed.
pub fn source(reference: &str, ctx: &Context) -> Result<Source, ProfileError> {
    let found = locate::find_profile(reference, ctx)?;
    Ok(Source {
        name: found.name,
        origin: found.origin,
        text: found.text,
    })
}

/// Validates a profile's text that is not (yet) in a file, as [`load`]
/// would validate `file` holding it; errors name `file`.
pub fn load_text(text: &str, file: &Path, ctx: &Context) -> Result<Policy, ProfileError> {
    let label = file.display().to_string();
    let doc = Doc::new(&label, text);
    let raw = validate::parse_profile(&doc)?;
    let name = file
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    validate::build_policy(raw, &doc, name, Origin::Path(file.to_path_buf()), ctx)
}

/// Checks a profile and returns every error found, in the order of the
/// file: syntax errors, else type errors and unknown keys (see
/// [`recover`]) and every validation error of the tables those left
/// whole. Empty: valid.
pub fn check(reference: &str, ctx: &Context) -> Vec<ProfileError> {
    let found = match locate::find_profile(reference, ctx) {
        Ok(found) => found,
        Err(e) => return vec![e],
    };
    let doc = Doc::new(&found.file, &found.text);
    let read = recover::read_profile(&doc);
    let mut errors = read.errors;
    if let Some(raw) = read.raw {
        let mut more = validate::Found::new();
        validate::check_header(&doc, &raw.schema, &raw.description, &mut more);
        more.extend(validate::all_errors(&raw, &doc, ctx));
        let whole = |e: &ProfileError| match e {
            ProfileError::Invalid { file, key, .. } if *file == doc.file => {
                let top = key.split(['.', '[']).next().unwrap_or_default();
                !read.pruned.iter().any(|p| p == top)
            }
            _ => true,
        };
        errors.extend(more.into_iter().filter(whole));
    }
    // This file's errors by position; a group file's after them.
    errors.sort_by_key(|e| match e {
        ProfileError::Invalid {
            file, line, column, ..
        } if *file == doc.file => (0, *line, *column),
        _ => (1, 0, 0),
    });
    errors
}

/// One effective profile, as `cordon profile list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub name: String,
    pub origin: Origin,
    pub description: String,
    /// Lower-priority copies hidden by this one, highest first.
    pub shadows: Vec<Origin>,
    /// What its server needs from its command line (`[server]`).
    pub server: ServerNeeds,
}

/// A profile's `[server]` table, for `cordon config wrap`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerNeeds {
    /// `"npx"`, `"uvx"`, `"installed"`; empty: any.
    pub launchers: Vec<String>,
    pub rw_options: Vec<String>,
    pub rw_arguments: bool,
    pub rw_file_options: Vec<String>,
    pub rw_file_env: Vec<String>,
    pub venv: bool,
}

impl ServerNeeds {
    fn from_raw(raw: &schema::RawServer) -> ServerNeeds {
        let launcher = |l: &schema::RawLauncher| {
            match l {
                schema::RawLauncher::Npx => "npx",
                schema::RawLauncher::Uvx => "uvx",
                schema::RawLauncher::Installed => "installed",
            }
            .to_owned()
        };
        let names = |v: &[toml::Spanned<String>]| v.iter().map(|s| s.get_ref().clone()).collect();
        ServerNeeds {
            launchers: raw.launchers.iter().map(launcher).collect(),
            rw_options: names(&raw.rw_options),
            rw_arguments: raw.rw_arguments,
            rw_file_options: names(&raw.rw_file_options),
            rw_file_env: names(&raw.rw_file_env),
            venv: raw.venv,
        }
    }
}

/// Every profile by name, sorted, with where it comes from. Each file is
/// parsed and its header checked (a broken file is an error naming it);
/// paths are not resolved, which `load` does.
pub fn list(ctx: &Context) -> Result<Vec<Listing>, ProfileError> {
    let mut by_name: BTreeMap<String, Listing> = BTreeMap::new();
    for found in locate::all_profiles(ctx)? {
        let doc = Doc::new(&found.file, &found.text);
        let raw = validate::parse_profile(&doc)?;
        match by_name.get_mut(&found.name) {
            Some(listing) => listing.shadows.push(found.origin),
            None => {
                let listing = Listing {
                    name: found.name.clone(),
                    origin: found.origin,
                    server: ServerNeeds::from_raw(&raw.server),
                    description: raw.description.into_inner(),
                    shadows: Vec::new(),
                };
                by_name.insert(found.name, listing);
            }
        }
    }
    Ok(by_name.into_values().collect())
}

/// Every profile name, sorted, without parsing the files (see
/// [`list`] for their headers).
pub fn names(ctx: &Context) -> Result<Vec<String>, ProfileError> {
    locate::all_names(ctx)
}

/// Adds one grant from outside the profile (`--ro`/`--rw`, the resolved
/// executable, its `#!` interpreter). `~` is expanded, a relative path is
/// taken against `ctx.cwd`, the path must exist and is canonicalised;
/// `declared` keeps the original text when it differs. A grant on a path
/// already granted widens that grant to the union of both.
pub fn add_grant(
    policy: &mut Policy,
    path: &Path,
    access: Access,
    source: GrantSource,
    ctx: &Context,
) -> Result<(), ProfileError> {
    let guard = grants::TmpGuard::for_outside(policy.private_tmp, ctx);
    let resolved = paths::resolve_outside_path(path, ctx)
        .and_then(|r| guard.check(&r.path, None).map(|()| r))
        .map_err(|reason| ProfileError::Grant {
            from: source.clone(),
            path: path.to_string_lossy().into_owned(),
            reason,
        })?;
    let grant = FsGrant {
        path: resolved.path,
        declared: resolved.declared,
        link: resolved.link,
        access,
        exists: true,
        source,
    };
    grants::merge_grant(&mut policy.fs, grant);
    Ok(())
}

/// Adds `--env` names: checked like `environment.pass`, kept sorted and
/// unique. A name the profile sets to a fixed value is refused.
pub fn add_env_names(policy: &mut Policy, names: &[String]) -> Result<(), ProfileError> {
    for name in names {
        let refuse = |reason: String| ProfileError::EnvName {
            name: name.clone(),
            reason,
        };
        values::check_env_name(name).map_err(refuse)?;
        if policy.env.set.contains_key(name) {
            return Err(refuse(format!(
                "the profile sets {name} to a fixed value in environment.set"
            )));
        }
        policy.env.pass.push(name.clone());
    }
    policy.env.pass.sort();
    policy.env.pass.dedup();
    Ok(())
}

/// The name of every profile `--profile NAME` finds, for completion:
/// the files are not read, and a directory that cannot be read is passed
/// over.
pub fn names_for_completion(ctx: &Context) -> Vec<String> {
    locate::profile_names(ctx)
}

/// The names of the profiles built into the binary, sorted.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    builtin::PROFILES.iter().map(|(name, _)| *name)
}
