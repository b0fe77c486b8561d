//! Path and value expansion: `~`, the closed set of `{placeholders}`, the
//! optional marker, and resolution to an absolute path without symlinks.
//!
//! Profile paths and command-line paths share this code so they resolve
//! the same way; the differences (relative paths, `..`) are spelled out in
//! the two entry points.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::Context;

/// The placeholders a profile may use, for error messages.
const KNOWN: &str = "{home}, {cwd}, {tmp}";

/// A path after expansion and resolution.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Canonical when it exists, lexically normalised otherwise.
    pub path: PathBuf,
    /// The text as written, when it differs from `path`.
    pub declared: Option<String>,
    /// Where the symlink is, when the path as written is one.
    pub link: Option<PathBuf>,
    pub exists: bool,
}

/// Resolves one profile entry (`"~/.npmrc?"`): strips the optional marker,
/// expands, requires an absolute path without `..`, and canonicalises. The
/// error is the whole message for the entry.
pub(crate) fn resolve_profile_path(text: &str, ctx: &Context) -> Result<Resolved, String> {
    let (body, optional) = match text.strip_suffix('?') {
        Some(body) => (body, true),
        None => (text, false),
    };
    if body.is_empty() {
        return Err("empty path".to_owned());
    }
    let expanded = expand_path(body, ctx)?;
    if !expanded.is_absolute() {
        return Err(format!(
            "path \"{body}\" must be absolute or start with ~ or a {{placeholder}} ({KNOWN})"
        ));
    }
    let normal = normalize(&expanded)
        .ok_or_else(|| format!("path \"{body}\" contains `..`; name the directory itself"))?;
    match canonicalize(&normal, body, optional) {
        Ok(resolved) => Ok(resolved),
        Err(None) => {
            let shown = if Path::new(body) == normal {
                format!("\"{body}\"")
            } else {
                format!("\"{body}\" ({})", normal.display())
            };
            Err(format!(
                "path {shown} does not exist (append \"?\" to make it optional)"
            ))
        }
        Err(Some(err)) => Err(format!("cannot resolve path \"{body}\": {err}")),
    }
}

/// Resolves a path from outside the profile (`--ro`, the executable):
/// `~` is expanded, a relative path is taken against `ctx.cwd`, and the path
/// must exist. `..` is allowed here, because canonicalisation resolves it
/// against the real directories.
pub(crate) fn resolve_outside_path(path: &Path, ctx: &Context) -> Result<Resolved, String> {
    let expanded = match path.strip_prefix("~") {
        Ok(rest) => ctx.home.join(rest),
        _ => path.to_path_buf(),
    };
    let absolute = if expanded.is_absolute() {
        expanded
    } else {
        ctx.cwd.join(expanded)
    };
    let text = path.to_string_lossy();
    match canonicalize(&absolute, &text, false) {
        Ok(resolved) => Ok(resolved),
        Err(None) if Path::new(&*text) == absolute => Err("does not exist".to_owned()),
        Err(None) => Err(format!("{} does not exist", absolute.display())),
        Err(Some(err)) => Err(format!("cannot resolve: {err}")),
    }
}

/// Expands `~` and a leading placeholder in an environment value. Values
/// are not paths: anything else, braces included, is kept as written.
pub(crate) fn expand_value(text: &str, ctx: &Context) -> Result<OsString, String> {
    if let Some(rest) = strip_tilde(text) {
        return Ok(concat(&ctx.home, rest));
    }
    if let Some((name, rest)) = leading_placeholder(text) {
        return Ok(concat(lookup(name, ctx)?, rest));
    }
    Ok(OsString::from(text))
}

/// `~`, `~/…` and `{name}/…` at the start; any other placeholder is an
/// error naming it.
fn expand_path(text: &str, ctx: &Context) -> Result<PathBuf, String> {
    let (base, rest) = if let Some(rest) = strip_tilde(text) {
        (Some(ctx.home.as_path()), rest)
    } else if text.starts_with('~') {
        return Err(format!(
            "\"{text}\": only `~` and `~/` are expanded, not `~user`"
        ));
    } else if let Some((name, rest)) = leading_placeholder(text) {
        let base = lookup(name, ctx)?;
        if !rest.is_empty() && !rest.starts_with('/') {
            return Err(format!(
                "placeholder {{{name}}} must be followed by `/` or end the path"
            ));
        }
        (Some(base), rest)
    } else {
        (None, text)
    };
    if let Some(name) = find_placeholder(rest) {
        lookup(name, ctx)?;
        return Err(format!(
            "placeholder {{{name}}} is only expanded at the start of a path"
        ));
    }
    Ok(match base {
        Some(base) => PathBuf::from(concat(base, rest)),
        None => PathBuf::from(rest),
    })
}

/// The rest after `~` when the text is `~` or starts with `~/`.
fn strip_tilde(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('~')?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// `{name}` at the start of `text`: the name and what follows.
fn leading_placeholder(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (name, &inner[end + 1..]))
}

/// The first `{name}` anywhere in `text`.
fn find_placeholder(text: &str) -> Option<&str> {
    text.match_indices('{')
        .find_map(|(i, _)| leading_placeholder(&text[i..]).map(|(name, _)| name))
}

fn lookup<'c>(name: &str, ctx: &'c Context) -> Result<&'c Path, String> {
    match name {
        "home" => Ok(&ctx.home),
        "cwd" => Ok(&ctx.cwd),
        "tmp" => Ok(&ctx.tmp),
        _ => Err(format!("unknown placeholder {{{name}}} (known: {KNOWN})")),
    }
}

fn concat(base: &Path, rest: &str) -> OsString {
    let mut joined = base.as_os_str().to_owned();
    joined.push(rest);
    joined
}

/// Drops `.` and repeated slashes; `None` when the path has a `..`.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => return None,
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Canonicalises `path`. `Err(None)` means it does not exist (and is not
/// optional); `Err(Some)` is any other failure, such as a permission error.
fn canonicalize(
    given: &Path,
    declared: &str,
    optional: bool,
) -> Result<Resolved, Option<io::Error>> {
    let (resolved, exists) = match super::canonical(given) {
        Ok(real) => (real, true),
        Err(err) if is_missing(&err) && optional => (given.to_path_buf(), false),
        Err(err) if is_missing(&err) => return Err(None),
        Err(err) => return Err(Some(err)),
    };
    let declared = (Path::new(declared) != resolved).then(|| declared.to_owned());
    let link = if exists { link_location(given) } else { None };
    Ok(Resolved {
        path: resolved,
        declared,
        link,
        exists,
    })
}

/// The absolute location of `path` when it is itself a symlink: its
/// directory resolved, plus its name.
fn link_location(path: &Path) -> Option<PathBuf> {
    let is_link = super::symlink_target(path).is_some();
    let parent = super::canonical(path.parent()?).ok()?;
    is_link.then(|| parent.join(path.file_name().unwrap_or_default()))
}

/// A component is missing, or a file stands where a directory should be.
fn is_missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}
