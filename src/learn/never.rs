//! What `profile learn` never grants, whatever asked for it: protected
//! paths and credential stores (`sandbox::protect::PROTECTED`), cordon's
//! own directories, and as a whole the root, a top-level directory, the
//! home directory or one above it, the temporary directory a private
//! /tmp replaces, or a directory holding a protected path.

use std::path::{Path, PathBuf};

use super::choose::{Setting, shown};
use crate::dirs::HostPaths;
use crate::sandbox::protect::{self, Mask};

/// The host's temporary directory itself (`/tmp`, `$TMPDIR`), which a
/// profile with `private_tmp` may not grant.
fn is_tmp(dir: &Path, tmp: &Path) -> bool {
    [Path::new("/tmp"), tmp]
        .iter()
        .any(|t| dir == *t || std::fs::canonicalize(t).is_ok_and(|real| dir == real))
}

/// The protected paths below the home directory, with the reason each is
/// protected.
fn protected_paths(host: &HostPaths) -> Vec<(PathBuf, Mask, &'static str)> {
    let mut out: Vec<(PathBuf, Mask, &'static str)> = protect::rows(host)
        .into_iter()
        .map(|(path, entry)| (path, entry.mask, entry.why))
        .collect();
    for own in [&host.config, &host.state] {
        out.push((own.clone(), Mask::Hide, "cordon's own files"));
    }
    out
}

/// Why `path` is never granted (with `writes`: never writable), if it is
/// protected.
pub(super) fn protection(path: &Path, writes: bool, host: &HostPaths) -> Option<String> {
    protected_paths(host)
        .into_iter()
        .find(|(p, mask, _)| path.starts_with(p) && (*mask == Mask::Hide || writes))
        .map(|(p, mask, why)| match mask {
            Mask::Hide => format!(
                "{} is protected ({why}) and never granted",
                shown(&p, &host.home)
            ),
            Mask::ReadOnly => format!(
                "{} is protected against writing ({why}) and never granted writable",
                shown(&p, &host.home)
            ),
        })
}

/// Whether a directory may be granted as a whole.
pub(super) fn directory_grantable(dir: &Path, setting: &Setting<'_>) -> Result<(), String> {
    let host = setting.host;
    if setting.base.private_tmp && is_tmp(dir, setting.tmp) {
        return Err(
            "the temporary directory is the server's private /tmp (private_tmp)".to_owned(),
        );
    }
    if dir.parent().is_none_or(|p| p == Path::new("/")) {
        return Err(format!(
            "{} is the root or a top-level directory, never granted as a whole",
            dir.display()
        ));
    }
    let home_real = std::fs::canonicalize(&host.home).unwrap_or_else(|_| host.home.clone());
    if dir == host.home || home_real == dir {
        return Err("the home directory is never granted as a whole".to_owned());
    }
    if host.home.starts_with(dir) || home_real.starts_with(dir) {
        return Err(format!(
            "{} holds the home directory, never granted as a whole",
            dir.display()
        ));
    }
    if let Some((p, _, why)) = protected_paths(host)
        .into_iter()
        .find(|(p, _, _)| p.starts_with(dir))
    {
        return Err(format!(
            "it holds {} ({why}), which is never granted",
            shown(&p, &host.home)
        ));
    }
    Ok(())
}
