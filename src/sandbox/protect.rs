//! Mandatory protections: paths that stay read-only (or hidden) even inside
//! a granted directory, because writing them runs code or changes trust
//! outside the sandbox (shell startup files, git hooks, host MCP configs,
//! autostart entries) or reading them leaks keys (`~/.ssh`).
//!
//! With namespaces they are masked by mounts; without, a grant containing
//! one is refused. A profile lifts one only by naming it in
//! `filesystem.unprotect`.

use std::path::{Path, PathBuf};

use crate::policy::Policy;

/// Where cordon's own files and the user's home are.
#[derive(Debug, Clone)]
pub struct HostPaths {
    pub home: PathBuf,
    /// cordon's configuration (profiles): `$XDG_CONFIG_HOME/cordon`.
    pub config: PathBuf,
    /// cordon's state (approvals, pins, audit logs): `$XDG_STATE_HOME/cordon`.
    pub state: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Visible, read-only.
    ReadOnly,
    /// Replaced by an empty read-only directory (or an empty file).
    Hide,
}

/// One protected path that exists and lies inside a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    /// Canonical path.
    pub path: PathBuf,
    pub mask: Mask,
    /// The grant it lies in.
    pub grant: PathBuf,
}

/// Below the home directory: startup files, autostart, host MCP configs,
/// and secrets that are hidden even from read grants.
const HOME_READ_ONLY: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".zlogout",
    ".config/fish",
    ".config/autostart",
    ".config/systemd/user",
    ".config/environment.d",
    ".gitconfig",
    ".config/git",
    ".mcp.json",
    ".claude.json",
    ".claude",
    ".config/Claude/claude_desktop_config.json",
    ".cursor",
    ".vscode",
    ".config/Code/User",
    ".config/Cursor/User",
    ".local/bin",
    ".local/share/applications",
];
const HOME_HIDDEN: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".config/gh",
    ".netrc",
    ".docker/config.json",
    ".kube",
];
/// Below every writable grant and each directory directly inside it
/// (where project checkouts live): files an editor, git or direnv
/// executes or trusts.
const PROJECT_READ_ONLY: &[&str] = &[
    ".git/hooks",
    ".git/config",
    ".mcp.json",
    ".cursor",
    ".vscode",
    ".envrc",
];

/// The protections that apply to `policy`'s grants, and the protected
/// names that do not exist (so cannot be masked) inside writable grants.
pub fn find(policy: &Policy, host: &HostPaths) -> (Vec<Protection>, Vec<PathBuf>) {
    let mut candidates: Vec<(PathBuf, Mask)> = Vec::new();
    candidates.extend(
        HOME_READ_ONLY
            .iter()
            .map(|rel| (host.home.join(rel), Mask::ReadOnly)),
    );
    candidates.extend(
        HOME_HIDDEN
            .iter()
            .map(|rel| (host.home.join(rel), Mask::Hide)),
    );
    candidates.push((host.config.clone(), Mask::ReadOnly));
    candidates.push((host.state.clone(), Mask::ReadOnly));
    for grant in policy
        .fs
        .iter()
        .filter(|g| g.exists && g.access.write && g.path.is_dir())
    {
        for dir in project_dirs(&grant.path) {
            candidates.extend(
                PROJECT_READ_ONLY
                    .iter()
                    .map(|rel| (dir.join(rel), Mask::ReadOnly)),
            );
        }
    }
    let mut found: Vec<Protection> = Vec::new();
    let mut absent = Vec::new();
    for (path, mask) in candidates {
        let lifted = |p: &Path| policy.unprotect.iter().any(|u| u == p);
        let Ok(real) = std::fs::canonicalize(&path) else {
            if writable_grant_containing(policy, &path).is_some() && !lifted(&path) {
                absent.push(path);
            }
            continue;
        };
        if lifted(&path) || lifted(&real) || found.iter().any(|f| f.path == real) {
            continue;
        }
        let grant = match mask {
            Mask::ReadOnly => writable_grant_containing(policy, &real),
            Mask::Hide => grant_containing(policy, &real),
        };
        if let Some(grant) = grant {
            found.push(Protection {
                path: real,
                mask,
                grant,
            });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    absent.sort();
    absent.dedup();
    (found, absent)
}

/// A grant whose path is a protected path or lies inside one: the
/// protection would make it useless or it would defeat the protection.
pub fn grant_inside_protection<'a>(
    protections: &'a [Protection],
    policy: &Policy,
) -> Option<(&'a Protection, PathBuf)> {
    protections.iter().find_map(|p| {
        policy
            .fs
            .iter()
            .find(|g| g.exists && g.path.starts_with(&p.path))
            .map(|g| (p, g.path.clone()))
    })
}

/// The grant itself and the directories directly inside it.
fn project_dirs(grant: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![grant.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(grant) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
    }
    dirs.sort();
    dirs
}

fn grant_containing(policy: &Policy, path: &Path) -> Option<PathBuf> {
    policy
        .fs
        .iter()
        .filter(|g| g.exists && path.starts_with(&g.path))
        .map(|g| g.path.clone())
        .max()
}

fn writable_grant_containing(policy: &Policy, path: &Path) -> Option<PathBuf> {
    policy
        .fs
        .iter()
        .filter(|g| g.exists && g.access.write && path.starts_with(&g.path))
        .map(|g| g.path.clone())
        .max()
}
