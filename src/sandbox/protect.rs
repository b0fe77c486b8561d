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

/// What [`find`] learned about the protected paths of a launch.
#[derive(Debug, Default)]
pub struct Found {
    /// Existing protected paths inside grants: masked by mounts.
    pub masked: Vec<Protection>,
    /// Missing protected paths a writable grant would let the server
    /// create, where creating them runs code later (shell startup files,
    /// autostart entries, `~/.ssh`, git hooks of an existing repository):
    /// the launch is refused.
    pub creatable: Vec<PathBuf>,
    /// Missing per-project files (`.mcp.json`, `.vscode`, …) a writable
    /// grant would let the server create: reported, since refusing every
    /// project without them would refuse nearly every project.
    pub unmasked: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Below the home directory, or cordon's own files.
    Home,
    /// Git's executable state in a directory that is a repository.
    Repository,
    /// Editor and agent configuration in a project directory, and key
    /// stores other than `~/.ssh`.
    Project,
}

/// The protections that apply to `policy`'s grants.
pub fn find(policy: &Policy, host: &HostPaths) -> Found {
    let mut candidates: Vec<(PathBuf, Mask, Scope)> = Vec::new();
    candidates.extend(
        HOME_READ_ONLY
            .iter()
            .map(|rel| (host.home.join(rel), Mask::ReadOnly, Scope::Home)),
    );
    // A missing ~/.ssh would let a server plant authorized_keys; the other
    // key stores only hold secrets, so their absence is merely reported.
    candidates.extend(HOME_HIDDEN.iter().map(|rel| {
        let scope = if *rel == ".ssh" {
            Scope::Home
        } else {
            Scope::Project
        };
        (host.home.join(rel), Mask::Hide, scope)
    }));
    candidates.push((host.config.clone(), Mask::ReadOnly, Scope::Home));
    candidates.push((host.state.clone(), Mask::ReadOnly, Scope::Home));
    for grant in policy
        .fs
        .iter()
        .filter(|g| g.exists && g.access.write && g.path.is_dir())
    {
        for dir in project_dirs(&grant.path) {
            let scope = if dir.join(".git").is_dir() {
                Scope::Repository
            } else {
                Scope::Project
            };
            for rel in PROJECT_READ_ONLY {
                let git = rel.starts_with(".git/");
                candidates.push((
                    dir.join(rel),
                    Mask::ReadOnly,
                    if git { scope } else { Scope::Project },
                ));
            }
        }
    }
    let lifted = |p: &Path| policy.unprotect.iter().any(|u| u == p);
    let mut found = Found::default();
    for (path, mask, scope) in candidates {
        let Ok(real) = crate::profile::canonical(&path) else {
            if writable_grant_containing(policy, &path).is_some() && !lifted(&path) {
                match scope {
                    Scope::Home | Scope::Repository => found.creatable.push(path),
                    Scope::Project => found.unmasked.push(path),
                }
            }
            continue;
        };
        if lifted(&path) || lifted(&real) || found.masked.iter().any(|f| f.path == real) {
            continue;
        }
        let grant = match mask {
            Mask::ReadOnly => writable_grant_containing(policy, &real),
            Mask::Hide => grant_containing(policy, &real),
        };
        if let Some(grant) = grant {
            found.masked.push(Protection {
                path: real,
                mask,
                grant,
            });
        }
    }
    found.masked.sort_by(|a, b| a.path.cmp(&b.path));
    for list in [&mut found.creatable, &mut found.unmasked] {
        list.sort();
        list.dedup();
    }
    found
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
