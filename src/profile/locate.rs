//! Where a profile or group comes from: a path given by the user, the
//! profile directories in order, then the set built into the binary. Every
//! result says where it was found ([`Origin`]) and under which file name
//! errors should point.

use std::io;
use std::path::{Path, PathBuf};

use super::{Context, ProfileError, builtin};
use crate::policy::Origin;

/// The subdirectory of a profile directory that holds groups.
const GROUPS_DIR: &str = "groups";

/// A profile or group file, read.
#[derive(Debug)]
pub(crate) struct Found {
    /// The file stem.
    pub name: String,
    pub origin: Origin,
    /// The name errors use: the path, or `<built-in>/NAME.toml`.
    pub file: String,
    pub text: String,
}

/// A reference is a path when it has a `/` or ends in `.toml`; otherwise a
/// name to look up.
pub(crate) fn is_path_reference(reference: &str) -> bool {
    reference.contains('/') || reference.ends_with(".toml")
}

/// Profile and group names: a letter, digit or `_` first, then letters,
/// digits, `_`, `-` and `.`. This keeps names usable as file stems and
/// keeps `.`/`..` and hidden files out.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(
            "expected letters, digits, `_`, `-` and `.`, starting with a letter, digit or `_`"
                .to_owned(),
        )
    }
}

/// Finds a profile by name or path.
pub(crate) fn find_profile(reference: &str, ctx: &Context) -> Result<Found, ProfileError> {
    if is_path_reference(reference) {
        return read_path(reference, ctx);
    }
    check_name(reference).map_err(|reason| ProfileError::InvalidName {
        name: reference.to_owned(),
        reason,
    })?;
    for dir in &ctx.dirs {
        let path = dir.join(format!("{reference}.toml"));
        if let Some(text) = read_if_present(&path)? {
            return Ok(found_in(
                reference,
                Origin::Directory(path.clone()),
                &path,
                text,
            ));
        }
    }
    match builtin::profile(reference) {
        Some(text) => Ok(found_builtin(reference, "", text)),
        None => Err(ProfileError::NotFound {
            name: reference.to_owned(),
            looked_in: search_list(&ctx.dirs),
            nearest: nearest_name(reference, ctx),
        }),
    }
}

/// The known profile name closest to a mistyped `reference`: at most a
/// third of its letters edited (at least one). A directory that cannot be
/// read only leaves its names out: the suggestion is a courtesy.
fn nearest_name(reference: &str, ctx: &Context) -> Option<String> {
    let mut names: Vec<String> = builtin::PROFILES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    for dir in &ctx.dirs {
        let files = profile_files(dir).unwrap_or_default();
        let stems = files
            .iter()
            .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned));
        names.extend(stems);
    }
    let limit = (reference.chars().count() / 3).max(1);
    names
        .into_iter()
        .map(|n| (edit_distance(reference, &n), n))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Finds a group by (already checked) name: each directory's `groups/`,
/// then the built-in groups. `None` when there is no such group.
pub(crate) fn find_group(name: &str, ctx: &Context) -> Result<Option<Found>, ProfileError> {
    for dir in &ctx.dirs {
        let path = dir.join(GROUPS_DIR).join(format!("{name}.toml"));
        if let Some(text) = read_if_present(&path)? {
            return Ok(Some(found_in(
                name,
                Origin::Directory(path.clone()),
                &path,
                text,
            )));
        }
    }
    Ok(builtin::group(name).map(|text| found_builtin(name, "groups/", text)))
}

/// Where groups are looked up, for the unknown-group message.
pub(crate) fn group_search_list(ctx: &Context) -> Vec<String> {
    let dirs: Vec<PathBuf> = ctx.dirs.iter().map(|d| d.join(GROUPS_DIR)).collect();
    search_list(&dirs)
}

/// Every profile in every directory and every built-in one, highest
/// priority first (directories in order, each sorted by name). Files whose
/// stem is not a valid name are not profiles and are left out.
pub(crate) fn all_profiles(ctx: &Context) -> Result<Vec<Found>, ProfileError> {
    let mut all = Vec::new();
    for dir in &ctx.dirs {
        for path in profile_files(dir)? {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
                path: path.clone(),
                source,
            })?;
            all.push(found_in(name, Origin::Directory(path.clone()), &path, text));
        }
    }
    for (name, text) in builtin::PROFILES {
        all.push(found_builtin(name, "", text));
    }
    Ok(all)
}

/// The name of every profile in the directories (unread: a broken file is
/// still a name) and built in, sorted; a directory that cannot be read
/// is passed over (for completion).
pub(crate) fn profile_names(ctx: &Context) -> Vec<String> {
    names_with(ctx, |dir| Ok(profile_files(dir).unwrap_or_default())).unwrap_or_default()
}

/// The name of every profile [`all_profiles`] finds, without reading the
/// files: what picking a profile by name needs. A broken file is reported
/// when it is the one loaded; a directory that cannot be read is an error.
pub(crate) fn all_names(ctx: &Context) -> Result<Vec<String>, ProfileError> {
    names_with(ctx, profile_files)
}

fn names_with(
    ctx: &Context,
    files: impl Fn(&Path) -> Result<Vec<PathBuf>, ProfileError>,
) -> Result<Vec<String>, ProfileError> {
    let mut names: Vec<String> = builtin::PROFILES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    for dir in &ctx.dirs {
        let found = files(dir)?;
        let stems = found.iter().filter_map(|p| p.file_stem()?.to_str());
        names.extend(stems.map(str::to_owned));
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The `NAME.toml` entries of one directory that are not directories,
/// sorted. A missing directory has none.
fn profile_files(dir: &Path) -> Result<Vec<PathBuf>, ProfileError> {
    let read_err = |source| ProfileError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if is_absent(&err) => return Ok(Vec::new()),
        Err(err) => return Err(read_err(err)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(read_err)?.path();
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"));
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        if stem.is_some_and(|s| check_name(s).is_ok()) && !is_dir {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_path(reference: &str, ctx: &Context) -> Result<Found, ProfileError> {
    let path = ctx.cwd.join(reference);
    let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
        path: PathBuf::from(reference),
        source,
    })?;
    let name = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    Ok(Found {
        name,
        origin: Origin::Path(path),
        file: reference.to_owned(),
        text,
    })
}

/// The file's text, or `None` when it (or its directory) does not exist.
fn read_if_present(path: &Path) -> Result<Option<String>, ProfileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if is_absent(&err) => Ok(None),
        Err(source) => Err(ProfileError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn is_absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn found_in(name: &str, origin: Origin, path: &Path, text: String) -> Found {
    Found {
        name: name.to_owned(),
        origin,
        file: path.display().to_string(),
        text,
    }
}

fn found_builtin(name: &str, subdir: &str, text: &str) -> Found {
    Found {
        name: name.to_owned(),
        origin: Origin::BuiltIn,
        file: format!("<built-in>/{subdir}{name}.toml"),
        text: text.to_owned(),
    }
}

fn search_list(dirs: &[PathBuf]) -> Vec<String> {
    let mut list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    list.push("built-in".to_owned());
    list
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("filesytem", "filesystem"), 1);
        assert_eq!(edit_distance("fetch", "fetch"), 0);
        assert_eq!(edit_distance("git", "gti"), 2);
        assert_eq!(edit_distance("", "time"), 4);
    }
}
