//! Filesystem grants: the profile's own lists, then each group's, merged
//! by resolved path; the protections a profile lifts; and the one conflict
//! that spans grants and `private_tmp`.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::error::Doc;
use super::schema::{RawFilesystem, RawGroup};
use super::validate::{Found, check_header, first_or};
use super::{Context, ProfileError, locate, paths};
use crate::policy::{Access, FsGrant, GrantSource};

/// Adds a grant, or widens an existing grant on the same path; the first
/// grant's source is kept, and its declared text and link unless only the
/// new one reaches the path through a symlink.
pub(crate) fn merge_grant(grants: &mut Vec<FsGrant>, grant: FsGrant) {
    let normal = |g: &FsGrant| g.exists || is_normal(g.path.as_os_str().as_bytes());
    let new_normal = normal(&grant);
    let Some(existing) = grants
        .iter_mut()
        .find(|g| same_path(&g.path, &grant.path, || new_normal && normal(g)))
    else {
        grants.push(grant);
        return;
    };
    existing.access = existing.access.union(grant.access);
    if existing.link.is_none() && grant.link.is_some() {
        existing.link = grant.link;
        existing.declared = grant.declared;
    }
}

/// `a == b` for paths, by bytes where both are in normal form (`normal`;
/// a grant that exists holds its resolved path, which is): `Path`'s
/// equality walks both component by component from the end, and a
/// profile merges each of its some 20 grants into all before it.
fn same_path(a: &Path, b: &Path, normal: impl FnOnce() -> bool) -> bool {
    if a.as_os_str().as_bytes() == b.as_os_str().as_bytes() {
        return true;
    }
    if normal() {
        return false;
    }
    a == b
}

/// An absolute path its components spell back byte for byte: no empty
/// component, no `.`, no trailing slash.
fn is_normal(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
        && (path.len() == 1
            || path[1..]
                .split(|&b| b == b'/')
                .all(|c| !c.is_empty() && c != b"."))
}

/// Refuses a grant of the temporary directory itself while `private_tmp`
/// replaces it.
pub(crate) struct TmpGuard {
    private: bool,
    /// The line of `private_tmp = true` in the profile, if written.
    line: Option<usize>,
    profile_file: String,
    /// The host temp dir and `/tmp`, as given and resolved.
    dirs: Vec<PathBuf>,
}

impl TmpGuard {
    pub(crate) fn new(fs: &RawFilesystem, doc: &Doc<'_>, ctx: &Context) -> TmpGuard {
        let mut guard = TmpGuard::for_outside(true, ctx);
        guard.private = fs.private_tmp.as_ref().is_none_or(|p| *p.get_ref());
        guard.line = fs.private_tmp.as_ref().map(|p| doc.line_of(&p.span()));
        guard.profile_file = doc.file.to_owned();
        guard
    }

    /// The guard for grants from outside the profile.
    pub(crate) fn for_outside(private: bool, ctx: &Context) -> TmpGuard {
        let mut dirs = Vec::new();
        for dir in [ctx.tmp.as_path(), Path::new("/tmp")] {
            dirs.extend(super::canonical(dir).ok());
            dirs.push(dir.to_path_buf());
        }
        TmpGuard {
            private,
            line: None,
            profile_file: String::new(),
            dirs,
        }
    }

    /// Whether the profile asks for a private `/tmp` (the default).
    pub(crate) fn is_private(&self) -> bool {
        self.private
    }

    /// The message when `path` is the temp dir and private_tmp is on.
    pub(crate) fn check(&self, path: &Path, doc: Option<&Doc<'_>>) -> Result<(), String> {
        if !self.private || !self.dirs.iter().any(|d| d == path) {
            return Ok(());
        }
        let place = match (self.line, doc) {
            (None, _) => "(the default)".to_owned(),
            (Some(line), Some(doc)) if doc.file == self.profile_file => format!("(line {line})"),
            (Some(line), _) => format!("({}:{line})", self.profile_file),
        };
        Err(format!(
            "{} is the temporary directory itself, but filesystem.private_tmp is true {place} and gives the \
             server its own; remove this grant or set private_tmp = false",
            path.display()
        ))
    }
}

/// The three grant lists of a profile or group, and their key prefix.
struct GrantLists<'r> {
    prefix: &'static str,
    exec: &'r [Spanned<String>],
    write: &'r [Spanned<String>],
    read: &'r [Spanned<String>],
}

/// The profile's own grants (exec, write, read), then each group's.
pub(crate) fn filesystem(
    fs: &RawFilesystem,
    doc: &Doc<'_>,
    ctx: &Context,
    guard: &TmpGuard,
    found: &mut Found,
) -> Vec<FsGrant> {
    let mut grants = Vec::new();
    let own = GrantLists {
        prefix: "filesystem.",
        exec: &fs.exec,
        write: &fs.write,
        read: &fs.read,
    };
    add_lists(
        &mut grants,
        &own,
        &GrantSource::Profile,
        doc,
        ctx,
        guard,
        found,
    );
    for (i, name) in fs.groups.iter().enumerate() {
        let key = format!("filesystem.groups[{i}]");
        let text = name.get_ref();
        if let Err(reason) = locate::check_name(text) {
            let message = format!("invalid group name \"{}\": {reason}", text.escape_debug());
            found.push(doc.at_value(name, &key, message));
            continue;
        }
        let group_file = match locate::find_group(text, ctx) {
            Ok(Some(group_file)) => group_file,
            Ok(None) => {
                let looked_in = locate::group_search_list(ctx).join(", ");
                let message = format!("unknown group \"{text}\" (looked in: {looked_in})");
                found.push(doc.at_value(name, &key, message));
                continue;
            }
            Err(e) => {
                found.push(e);
                continue;
            }
        };
        let group_doc = Doc::new(&group_file.file, &group_file.text);
        let group = match parse_group(&group_doc) {
            Ok(group) => group,
            Err(e) => {
                found.push(e);
                continue;
            }
        };
        let lists = GrantLists {
            prefix: "",
            exec: &group.exec,
            write: &group.write,
            read: &group.read,
        };
        let source = GrantSource::Group(group_file.name.clone());
        add_lists(&mut grants, &lists, &source, &group_doc, ctx, guard, found);
    }
    grants
}

fn add_lists(
    grants: &mut Vec<FsGrant>,
    lists: &GrantLists<'_>,
    source: &GrantSource,
    doc: &Doc<'_>,
    ctx: &Context,
    guard: &TmpGuard,
    found: &mut Found,
) {
    let kinds = [
        ("exec", lists.exec, Access::READ_EXEC),
        ("write", lists.write, Access::READ_WRITE),
        ("read", lists.read, Access::READ),
    ];
    for (list, entries, access) in kinds {
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("{}{list}[{i}]", lists.prefix);
            let resolved = match paths::resolve_profile_path(entry.get_ref(), ctx)
                .and_then(|r| guard.check(&r.path, Some(doc)).map(|()| r))
            {
                Ok(resolved) => resolved,
                Err(message) => {
                    found.push(doc.at_value(entry, &key, message));
                    continue;
                }
            };
            let grant = FsGrant {
                path: resolved.path,
                declared: resolved.declared,
                link: resolved.link,
                access,
                exists: resolved.exists,
                source: source.clone(),
            };
            merge_grant(grants, grant);
        }
    }
}

/// The protections lifted by name, resolved like grants.
pub(crate) fn unprotect(
    fs: &RawFilesystem,
    doc: &Doc<'_>,
    ctx: &Context,
    found: &mut Found,
) -> Vec<PathBuf> {
    let mut lifted = Vec::new();
    for (i, entry) in fs.unprotect.iter().enumerate() {
        match paths::resolve_profile_path(entry.get_ref(), ctx) {
            Ok(resolved) if !lifted.contains(&resolved.path) => lifted.push(resolved.path),
            Ok(_) => {}
            Err(message) => {
                found.push(doc.at_value(entry, format!("filesystem.unprotect[{i}]"), message));
            }
        }
    }
    lifted
}

/// Parses a group file and checks its header.
fn parse_group(doc: &Doc<'_>) -> Result<RawGroup, ProfileError> {
    let raw: RawGroup = toml::from_str(doc.text).map_err(|err| doc.toml_error(&err))?;
    let mut found = Found::new();
    check_header(doc, &raw.schema, &raw.description, &mut found);
    first_or(found, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_path_agrees_with_path_equality() {
        let paths = [
            "/", "//", "/a", "/a/", "/a//b", "/a/b", "/a/./b", "/a/b/.", "/a/..", "/a/b/..", "a/b",
            "a//b", "/ab", "/a/bc",
        ];
        for a in paths {
            for b in paths {
                assert_eq!(
                    same_path(Path::new(a), Path::new(b), || is_normal(a.as_bytes())
                        && is_normal(b.as_bytes())),
                    Path::new(a) == Path::new(b),
                    "{a} vs {b}"
                );
            }
        }
    }
}
