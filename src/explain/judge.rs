//! Whether a path access the notifier observed is refused, by which
//! layer, and what would allow it: judged against the same resolved
//! grants Landlock and the mount view were built from, and the table of
//! protected paths. The kernel decides; this only explains.

use std::path::{Component, Path, PathBuf};

use super::{Access, Layer, Refusal, Suggestion};
use crate::dirs::HostPaths;
use crate::policy::{self, Policy};
use crate::sandbox::protect::{self, Mask};

/// The grants and protections of one launch.
#[derive(Debug, Clone)]
pub struct Judge {
    grants: Vec<(PathBuf, policy::Access)>,
    protected: Vec<(PathBuf, Mask, &'static str)>,
    unprotected: Vec<PathBuf>,
    /// Directories whose writable grant cordon refuses: the home and
    /// every directory above it.
    no_write: Vec<PathBuf>,
    namespaces: bool,
    /// With namespaces: the private /tmp, mounted at /tmp, which hides
    /// the host's /tmp except where a grant is bound over it.
    private_tmp: Option<PathBuf>,
    /// Whether any filesystem layer is enforced at all.
    enforced: bool,
}

impl Judge {
    /// `tmp` is the private /tmp as the server sees it (namespaces: /tmp);
    /// `bound` the paths the mount plan binds into the view, which are
    /// readable there whatever the host holds (the generated resolver
    /// files).
    pub fn new(
        policy: &Policy,
        host: &HostPaths,
        namespaces: bool,
        landlock: bool,
        tmp: Option<&Path>,
        bound: Vec<PathBuf>,
    ) -> Judge {
        // A grant is named by its canonical path and, when declared through
        // a symbolic link (`/lib` → `/usr/lib`), by the link too.
        let mut grants: Vec<(PathBuf, policy::Access)> = policy
            .fs
            .iter()
            .filter(|g| g.exists)
            .flat_map(|g| {
                std::iter::once((g.path.clone(), g.access))
                    .chain(g.link.clone().map(|l| (l, g.access)))
            })
            .collect();
        let mut private_tmp = None;
        match tmp {
            Some(tmp) if namespaces => private_tmp = Some(tmp.to_path_buf()),
            Some(tmp) => grants.push((tmp.to_path_buf(), policy::Access::READ_WRITE)),
            None => {}
        }
        for device in crate::sandbox::mounts::DEVICES {
            grants.push((Path::new("/dev").join(device), policy::Access::READ_WRITE));
        }
        if namespaces {
            grants.push(("/proc".into(), policy::Access::READ));
        }
        grants.extend(bound.into_iter().map(|p| (p, policy::Access::READ)));
        let protected = protect::rows(host)
            .into_iter()
            .map(|(path, entry)| (path, entry.mask, entry.why))
            .collect();
        let no_write = host.home.ancestors().map(Path::to_path_buf).collect();
        Judge {
            grants,
            protected,
            unprotected: policy.unprotect.clone(),
            no_write,
            namespaces,
            private_tmp,
            enforced: namespaces || landlock,
        }
    }

    /// The access the grants give to `path`, as named or with its
    /// symbolic links resolved (in cordon's view, which matches the
    /// server's for granted paths: they are bound at the same place).
    fn granted(&self, path: &Path) -> Option<policy::Access> {
        let resolved = match std::fs::canonicalize(path) {
            Ok(p) => Some(p),
            Err(_) => path
                .parent()
                .and_then(|d| std::fs::canonicalize(d).ok())
                .zip(path.file_name())
                .map(|(d, f)| d.join(f)),
        };
        self.grants
            .iter()
            .filter(|(g, _)| {
                path.starts_with(g) || resolved.as_ref().is_some_and(|r| r.starts_with(g))
            })
            .map(|&(_, a)| a)
            .reduce(policy::Access::union)
    }

    /// The refusal `access` to `path` (absolute, normalised) meets, or
    /// None when the sandbox lets it through or there is nothing there to
    /// refuse (reading a file that does not exist fails outside the
    /// sandbox too).
    pub fn judge(&self, access: Access, path: &Path) -> Option<Refusal> {
        if !self.enforced {
            return None;
        }
        let exists = std::fs::symlink_metadata(path).is_ok();
        match access {
            Access::Read | Access::Execute | Access::Write | Access::Remove if !exists => {
                return None;
            }
            Access::Create if exists => return None,
            Access::Create if !path.parent().is_some_and(Path::is_dir) => return None,
            _ => {}
        }
        let needs_write = matches!(access, Access::Write | Access::Create | Access::Remove);
        let granted = self.granted(path);
        // Below the private /tmp and no grant: the server's own files,
        // which cordon cannot see; only a read or execution of a host
        // file there (the host's /tmp, hidden) is worth a line.
        if granted.is_none()
            && self
                .private_tmp
                .as_ref()
                .is_some_and(|t| path.starts_with(t))
            && needs_write
        {
            return None;
        }
        let allowed = granted.is_some_and(|g| match access {
            Access::Execute => g.execute,
            _ if needs_write => g.write,
            _ => g.read,
        });
        let layer = if self.namespaces && granted.is_none() {
            Layer::MountView
        } else {
            Layer::Landlock
        };
        if let Some(why) = self.protection(path, needs_write) {
            let layer = if self.namespaces {
                Layer::MountView
            } else {
                layer
            };
            return Some(refusal(access, path, layer, Suggestion::Impossible { why }));
        }
        if allowed {
            return None;
        }
        Some(refusal(access, path, layer, self.suggest(access, path)))
    }

    /// A lookup (`stat`, `access`) of `path`: refused only where the
    /// mount view hides it (Landlock does not check lookups); the
    /// directories above a grant are in that view, so looking at them
    /// is never refused.
    pub fn judge_lookup(&self, path: &Path) -> Option<Refusal> {
        if !self.namespaces || self.grants.iter().any(|(g, _)| g.starts_with(path)) {
            return None;
        }
        // The private /tmp and the directories above it are in the view
        // too; what is below it, the server's own files, cordon cannot
        // see (a host file there is hidden: `judge` says so).
        if self
            .private_tmp
            .as_ref()
            .is_some_and(|t| t.starts_with(path))
        {
            return None;
        }
        self.judge(Access::Read, path)
            .filter(|r| r.layer == Layer::MountView)
    }

    /// Why `path` stays out of reach whatever the grants, if it does.
    fn protection(&self, path: &Path, write: bool) -> Option<String> {
        if self.unprotected.iter().any(|u| path.starts_with(u)) {
            return None;
        }
        self.protected
            .iter()
            .find(|(p, mask, _)| path.starts_with(p) && (write || *mask == Mask::Hide))
            .map(|(p, mask, why)| {
                let what = match mask {
                    Mask::Hide => "hidden",
                    Mask::ReadOnly => "read-only",
                };
                format!(
                    "{} is a protected path, {what} in every sandbox ({why})",
                    p.display()
                )
            })
    }

    fn suggest(&self, access: Access, path: &Path) -> Suggestion {
        // Creating or removing an entry needs write access to its directory.
        let target = match access {
            Access::Create | Access::Remove => path.parent().unwrap_or(path),
            _ => path,
        };
        let shown = target.display().to_string();
        match access {
            Access::Read => Suggestion::Grant {
                flag: format!("--ro {shown}"),
                key: "read".into(),
                path: shown,
            },
            Access::Execute => Suggestion::Grant {
                flag: format!("--ro {shown}"),
                key: "exec".into(),
                path: shown,
            },
            _ if self.no_write.iter().any(|d| d == target) => Suggestion::Impossible {
                why: format!(
                    "writing in {shown} needs a writable grant of it, which cordon refuses for the home directory and every directory above it"
                ),
            },
            _ => Suggestion::Grant {
                flag: format!("--rw {shown}"),
                key: "write".into(),
                path: shown,
            },
        }
    }
}

fn refusal(access: Access, path: &Path, layer: Layer, suggestion: Suggestion) -> Refusal {
    Refusal {
        access,
        target: path.display().to_string(),
        layer,
        suggestion,
        reason: None,
    }
}

/// `name` made absolute against `base` and normalised without touching
/// the filesystem (`.` and `..` removed), as the server named it.
pub fn absolute(base: &Path, name: &Path) -> PathBuf {
    let joined = if name.is_absolute() {
        name.to_path_buf()
    } else {
        base.join(name)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_absolute_without_the_filesystem() {
        assert_eq!(
            absolute(Path::new("/srv/app"), Path::new("../data/./x")),
            PathBuf::from("/srv/data/x")
        );
        assert_eq!(
            absolute(Path::new("/srv"), Path::new("/etc/../../passwd")),
            PathBuf::from("/passwd")
        );
    }
}
