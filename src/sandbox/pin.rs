//! Pinning the files of code an interpreter opens by path (`python3
//! s.py`, `node -r pre.js server.js`): the interpreter must read the
//! very inode cordon hashed for the approval, even when a rename on the
//! host puts another file at that path between the check and the
//! interpreter's own open.
//!
//! Why not simply bind the checked file over its path: a mount point
//! that is a dentry of the host's file system does not survive a rename
//! on the host. Since Linux 3.18, renaming (or unlinking) over a dentry
//! that is a mount point in *another* mount namespace succeeds and
//! detaches those mounts, so the sandbox would see the new file again.
//! What a rename on the host cannot change is a dentry of a file system
//! the sandbox made itself. So every directory on the way to the file in
//! which someone else could rename is *mirrored*: a fresh tmpfs at its
//! path, holding each of its entries bind-mounted (symlinks recreated as
//! they were), and the file itself bind-mounted there and checked, after
//! the mount, to be the inode that was hashed (device and inode; cordon
//! holds the checked file open, so the inode cannot be reused). The walk
//! starts at the grant that covers the file: its bind's root is attached
//! to the sandbox's own root tmpfs and holds its directory by reference.
//!
//! Who can rename in a directory (so that it needs mirroring), thinking
//! as an attacker: its owner and, through the group and other write bits
//! (and ACLs, whose mask shows in the group bits), others; in a sticky
//! directory only the owner of the entry. The user's own servers count
//! as others: a server under another profile with a writable grant
//! covering the directory can rename there, even with chmod bits
//! cleared (Landlock does not restrict chmod). So a directory is
//! *sealed* only when root owns it, nobody else may write it (or it is
//! sticky and root owns the entry), and the user is not root.
//!
//! Without namespaces there is no view of its own to build: the files
//! are started only when every directory from `/` to them is sealed, and
//! refused otherwise (fail closed), with the reason. (Passing the file
//! as `/dev/fd/N` would change what the interpreter does with it:
//! python puts the script's directory first on `sys.path`, node resolves
//! `require` from it.)
//!
//! What mirroring changes for the server: the entries of a mirrored
//! directory are those it had at the start (nothing can be created or
//! renamed there from inside; files in it stay as writable as their
//! grant makes them). Only approved starts are pinned: a start
//! consented to on the terminal or with `--yes` binds the command, not
//! the content, so there is no check to race.
//!
//! Not pinned here: an executable that is itself a `#!` script (the
//! kernel hands its path to the interpreter), the programs `env` finds
//! in PATH, and the other files of a bound code directory (hashed by
//! path for the approval). A symlink on the path as written is recreated
//! as it reads when the sandbox is planned, not as it read when the
//! file was resolved and hashed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::mounts::{self, MountOp, MountPlan};
use crate::policy::Policy;

/// A mirror larger than this (entries of every mirrored directory of one
/// launch, together) is refused: each entry costs a mount.
pub const MAX_ENTRIES: usize = 4096;

/// A file to pin: its real path and the inode cordon checked.
#[derive(Debug, Clone)]
pub struct PinFile {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(
        "{file} cannot be pinned without namespaces: {who} can rename in {dir}, so the interpreter could open another file than the one checked"
    )]
    Unsealed {
        file: PathBuf,
        dir: PathBuf,
        who: String,
    },
    #[error(
        "{file} cannot be pinned: the directories on the way to it hold more than {MAX_ENTRIES} entries"
    )]
    TooLarge { file: PathBuf },
    #[error("{file} cannot be pinned: cannot read {dir}: {source}")]
    Read {
        file: PathBuf,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} cannot be pinned: {reason}")]
    Plan { file: PathBuf, reason: String },
}

impl PinError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PinError::Unsealed { .. } => Some(
                "start it with namespaces (without --no-namespaces), where cordon builds a view the host cannot change, or keep the file in a directory only root can write",
            ),
            PinError::TooLarge { .. } => {
                Some("keep the server's files in a directory of their own")
            }
            _ => None,
        }
    }
}

/// Who, besides root, could rename `next` in `dir` (None: nobody, the
/// lookup of that name is fixed).
fn renamers(dir: &Metadata, next: Option<&Metadata>, uid: u32) -> Option<String> {
    if dir.uid() != 0 {
        return Some(if dir.uid() == uid {
            "its owner (you, and any server of yours granted write there)".into()
        } else {
            format!("its owner (uid {})", dir.uid())
        });
    }
    if uid == 0 {
        return Some("root, its owner (and any server of root's granted write there)".into());
    }
    let mode = dir.mode();
    if mode & 0o022 == 0 {
        return None;
    }
    let sticky = mode & 0o1000 != 0;
    if sticky && next.is_some_and(|n| n.uid() == 0) {
        return None;
    }
    Some(if mode & 0o002 != 0 {
        "every user".into()
    } else {
        format!("its group (gid {})", dir.gid())
    })
}

/// The directories from `top` down to `file`'s parent, each with the
/// name looked up in it next.
fn chain(top: &Path, file: &Path) -> Vec<(PathBuf, OsString)> {
    let mut out = Vec::new();
    let mut dir = top.to_path_buf();
    let Ok(rest) = file.strip_prefix(top) else {
        return out;
    };
    for part in rest.components() {
        let name = part.as_os_str().to_owned();
        out.push((dir.clone(), name.clone()));
        dir.push(name);
    }
    out
}

/// Without namespaces: every directory from `/` to each file must be
/// sealed.
pub fn check_sealed(files: &[PinFile], uid: u32) -> Result<(), PinError> {
    for f in files {
        for (dir, name) in chain(Path::new("/"), &f.path) {
            let read = |p: &Path| {
                std::fs::symlink_metadata(p).map_err(|source| PinError::Read {
                    file: f.path.clone(),
                    dir: dir.clone(),
                    source,
                })
            };
            let meta = read(&dir)?;
            let next = std::fs::symlink_metadata(dir.join(&name)).ok();
            if let Some(who) = renamers(&meta, next.as_ref(), uid) {
                return Err(PinError::Unsealed {
                    file: f.path.clone(),
                    dir,
                    who,
                });
            }
        }
    }
    Ok(())
}

/// The names a mirrored directory must show as cordon checked them: the
/// next directory on the way, or the pinned file (device, inode).
type Required = BTreeMap<OsString, (u64, u64, bool)>;

/// With namespaces: the mount operations that pin `files` into the view
/// `plan` builds for `policy`.
pub fn plan(
    policy: &Policy,
    files: &[PinFile],
    uid: u32,
    plan: &MountPlan,
) -> Result<Vec<MountOp>, PinError> {
    let mut mirrors: BTreeMap<PathBuf, Required> = BTreeMap::new();
    let mut ops = Vec::new();
    for f in files {
        let err = |reason: String| PinError::Plan {
            file: f.path.clone(),
            reason,
        };
        // The deepest grant with a mount of its own: its root is attached
        // to the sandbox's tmpfs, out of the host's reach.
        let Some(grant) = policy
            .fs
            .iter()
            .filter(|g| g.exists && !mounts::covered(policy, g) && f.path.starts_with(&g.path))
            .max_by_key(|g| g.path.components().count())
        else {
            // Not visible in the sandbox at all: nothing to pin.
            continue;
        };
        if grant.path == f.path {
            ops.push(MountOp::Verify {
                target: mounts::in_new_root(&f.path).map_err(err)?,
                dev: f.dev,
                ino: f.ino,
            });
            continue;
        }
        let steps = chain(&grant.path, &f.path);
        let mut needed = false;
        // From the file upwards: once a directory needs mirroring, every
        // directory above it up to the grant does too, since its mount
        // point is a name looked up in its parent.
        for (dir, name) in steps.iter().rev() {
            let read = |p: &Path| {
                std::fs::symlink_metadata(p).map_err(|source| PinError::Read {
                    file: f.path.clone(),
                    dir: dir.clone(),
                    source,
                })
            };
            let meta = read(dir)?;
            let next_path = dir.join(name);
            let next = std::fs::symlink_metadata(&next_path).ok();
            needed = needed || renamers(&meta, next.as_ref(), uid).is_some();
            if !needed {
                continue;
            }
            let expected = if next_path == f.path {
                (f.dev, f.ino, false)
            } else {
                let m = read(&next_path)?;
                (m.dev(), m.ino(), true)
            };
            mirrors
                .entry(dir.clone())
                .or_default()
                .insert(name.clone(), expected);
        }
    }
    let mounted = plan.mounted();
    let mut entries = 0;
    for (n, (dir, required)) in mirrors.iter().enumerate() {
        let file = || {
            required
                .keys()
                .next()
                .map_or_else(|| dir.clone(), |k| dir.join(k))
        };
        mirror(dir, required, n, &mounted, &mut entries, &mut ops).map_err(|e| match e {
            MirrorError::Read(source) => PinError::Read {
                file: file(),
                dir: dir.clone(),
                source,
            },
            MirrorError::TooLarge => PinError::TooLarge { file: file() },
            MirrorError::Plan(reason) => PinError::Plan {
                file: file(),
                reason,
            },
        })?;
    }
    Ok(ops)
}

enum MirrorError {
    Read(std::io::Error),
    TooLarge,
    Plan(String),
}

/// One mirrored directory, in the order the child applies it:
/// 1. its current view is bound in the staging root (checked: the
///    directory planned, not one renamed there since);
/// 2. a tmpfs covers its path;
/// 3. each entry gets a mount point on that tmpfs and is bound from the
///    staging copy (symlinks are recreated as read now); the names
///    `required` must be the inodes planned, others are checked too
///    unless the sandbox mounted something there itself, and may be gone;
/// 4. the tmpfs turns read-only.
fn mirror(
    dir: &Path,
    required: &Required,
    n: usize,
    mounted: &[PathBuf],
    entries: &mut usize,
    ops: &mut Vec<MountOp>,
) -> Result<(), MirrorError> {
    let plan_err = MirrorError::Plan;
    let stage = PathBuf::from(mounts::pin_stage(n));
    let stage_c = super::cstring(stage.as_os_str()).map_err(|e| plan_err(e.to_string()))?;
    let target = mounts::in_new_root(dir).map_err(plan_err)?;
    let meta = std::fs::symlink_metadata(dir).map_err(MirrorError::Read)?;
    ops.push(MountOp::Mkdir(stage_c.clone()));
    ops.push(MountOp::BindChecked {
        source: target.clone(),
        target: stage_c,
        dev: meta.dev(),
        ino: meta.ino(),
        directory: true,
        optional: false,
    });
    ops.push(MountOp::Tmpfs {
        target: target.clone(),
        mode: c"mode=0755",
    });
    let mut names: BTreeMap<OsString, Option<Metadata>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(MirrorError::Read)? {
        let entry = entry.map_err(MirrorError::Read)?;
        names.insert(entry.file_name(), entry.metadata().ok());
    }
    for name in required.keys() {
        names.entry(name.clone()).or_insert(None);
    }
    *entries += names.len();
    if *entries > MAX_ENTRIES {
        return Err(MirrorError::TooLarge);
    }
    for (name, meta) in names {
        let inside = dir.join(&name);
        let at = mounts::in_new_root(&inside).map_err(plan_err)?;
        let from =
            super::cstring(stage.join(&name).as_os_str()).map_err(|e| plan_err(e.to_string()))?;
        if let Some(&(dev, ino, directory)) = required.get(&name) {
            ops.push(mount_point(at.clone(), directory));
            ops.push(MountOp::BindChecked {
                source: from,
                target: at,
                dev,
                ino,
                directory,
                optional: false,
            });
            continue;
        }
        let Some(meta) = meta else {
            continue; // gone while listed
        };
        if meta.file_type().is_symlink() {
            if let Ok(link) = std::fs::read_link(&inside) {
                ops.push(MountOp::Symlink {
                    target: super::cstring(link.as_os_str())
                        .map_err(|e| plan_err(e.to_string()))?,
                    path: at,
                });
            }
            continue;
        }
        let directory = meta.is_dir();
        ops.push(mount_point(at.clone(), directory));
        ops.push(if mounted.contains(&inside) {
            MountOp::BindEntry {
                source: from,
                target: at,
                directory,
            }
        } else {
            MountOp::BindChecked {
                source: from,
                target: at,
                dev: meta.dev(),
                ino: meta.ino(),
                directory,
                optional: true,
            }
        });
    }
    ops.push(MountOp::SetAttr {
        target,
        attrs: mounts::MOUNT_ATTR_SEALED,
    });
    Ok(())
}

fn mount_point(at: std::ffi::CString, directory: bool) -> MountOp {
    if directory {
        MountOp::Mkdir(at)
    } else {
        MountOp::Touch(at)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_each_lookup() {
        let c = chain(Path::new("/home/u"), Path::new("/home/u/work/s.py"));
        assert_eq!(
            c,
            vec![
                (PathBuf::from("/home/u"), OsString::from("work")),
                (PathBuf::from("/home/u/work"), OsString::from("s.py")),
            ]
        );
        assert_eq!(chain(Path::new("/"), Path::new("/s.py")).len(), 1);
    }

    #[test]
    fn only_root_owned_unshared_directories_are_sealed() {
        let usr = std::fs::symlink_metadata("/usr").unwrap();
        if usr.uid() != 0 {
            eprintln!("skipped: /usr is not root's");
            return;
        }
        assert!(renamers(&usr, None, 1000).is_none());
        assert!(renamers(&usr, None, 0).is_some(), "root's own servers");
        let tmp = tempfile::tempdir().unwrap();
        let mine = std::fs::symlink_metadata(tmp.path()).unwrap();
        assert!(renamers(&mine, None, mine.uid()).is_some());
    }
}
