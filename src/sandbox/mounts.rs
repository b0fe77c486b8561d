//! The minimal root: an ordered list of plain mount operations built in the
//! parent (every path a C string), applied by the child without allocating.
//!
//! The child's view: a fresh tmpfs root, read-only; each grant bind-mounted
//! at its own path (read-only unless writable, noexec unless executable);
//! a fresh /proc; a minimal /dev; the private /tmp; nothing else. The host
//! root is reached during setup through `/oldroot` and detached at the end.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

use super::cstring;
use super::protect::{Create, Mask, Protection};
use crate::policy::{Access, Policy};
use crate::sys::{self, SysResult};

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// Device nodes bind-mounted from the host into the sandbox's /dev.
pub const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// The contents of `/proc/self/{setgroups,uid_map,gid_map}`: the invoking
/// uid and gid mapped to themselves, nothing else.
#[derive(Debug, Clone)]
pub struct IdMaps {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl IdMaps {
    pub fn for_current_user() -> IdMaps {
        let uid = nix::unistd::getuid();
        let gid = nix::unistd::getgid();
        IdMaps {
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
        }
    }

    /// Child side. `setgroups` must be denied before an unprivileged
    /// process may write its gid map (CVE-2014-8989).
    pub fn apply(&self) -> SysResult<()> {
        sys::write_file(c"/proc/self/setgroups", b"deny")?;
        sys::write_file(c"/proc/self/uid_map", &self.uid_map)?;
        sys::write_file(c"/proc/self/gid_map", &self.gid_map)
    }
}

/// One step of the plan.
#[derive(Debug)]
pub enum MountOp {
    /// Stop mount events from propagating back to the host.
    MakePrivate,
    Tmpfs {
        target: CString,
        mode: &'static CStr,
    },
    Mkdir(CString),
    Touch(CString),
    /// Create a file with fixed contents unless it exists (a harmless
    /// git name, through a writable grant, before it is masked).
    CreateFile {
        path: CString,
        contents: &'static str,
    },
    Symlink {
        target: CString,
        path: CString,
    },
    Chdir(CString),
    PivotRoot {
        new_root: CString,
        put_old: CString,
    },
    /// Bind `source` on `target` (recursively), then set attributes on the
    /// new mount and everything below it.
    Bind {
        source: CString,
        target: CString,
        attrs: u64,
    },
    /// Set attributes on one mount only.
    SetAttr {
        target: CString,
        attrs: u64,
    },
    Proc(CString),
    Detach(CString),
    /// A tmpfs with options built for this run (the sized private /tmp).
    SizedTmpfs {
        target: CString,
        options: CString,
    },
    /// Bind `source` on `target` (recursively, keeping the attributes of
    /// the mounts copied) and check that the file or directory mounted
    /// is the inode planned: a rename on the host since then fails
    /// closed. With `optional`, an entry gone since the plan was made
    /// leaves no mount point behind (see [`super::pin`]).
    BindChecked {
        source: CString,
        target: CString,
        dev: u64,
        ino: u64,
        directory: bool,
        optional: bool,
    },
    /// Bind `source` on `target` recursively, keeping the attributes of
    /// the mounts copied, without an inode check (an entry that is a
    /// mount the sandbox made itself: a mask, a nested grant).
    BindEntry {
        source: CString,
        target: CString,
        directory: bool,
    },
    /// Check that `target` is the inode planned.
    Verify {
        target: CString,
        dev: u64,
        ino: u64,
    },
}

impl MountOp {
    /// The path an error message should name.
    pub fn describe(&self) -> String {
        let show = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            MountOp::MakePrivate => "make the mount tree private".into(),
            MountOp::Tmpfs { target, .. } => format!("mount tmpfs on {}", show(target)),
            MountOp::Mkdir(p) => format!("create directory {}", show(p)),
            MountOp::Touch(p) => format!("create mount point {}", show(p)),
            MountOp::CreateFile { path, .. } => format!("create {}", show(path)),
            MountOp::Symlink { path, target } => {
                format!("create symlink {} -> {}", show(path), show(target))
            }
            MountOp::Chdir(p) => format!("change directory to {}", show(p)),
            MountOp::PivotRoot { new_root, .. } => format!("pivot_root to {}", show(new_root)),
            MountOp::Bind { source, target, .. } => {
                format!("bind {} on {}", show(source), show(target))
            }
            MountOp::SetAttr { target, .. } => format!("set mount attributes of {}", show(target)),
            MountOp::Proc(p) => format!("mount proc on {}", show(p)),
            MountOp::Detach(p) => format!("detach {}", show(p)),
            MountOp::SizedTmpfs { target, options } => {
                format!("mount tmpfs ({}) on {}", show(options), show(target))
            }
            MountOp::BindChecked { source, target, .. } => format!(
                "bind {} on {} (the file cordon checked, or a renamed one?)",
                show(source),
                show(target)
            ),
            MountOp::BindEntry { source, target, .. } => {
                format!("bind {} on {}", show(source), show(target))
            }
            MountOp::Verify { target, .. } => {
                format!("check that {} is the file cordon checked", show(target))
            }
        }
    }

    /// For an operation that checks a pinned file or one of the entries
    /// beside it: the path inside the sandbox (a failure there means the
    /// host renamed something while the sandbox was built).
    pub fn checked_path(&self) -> Option<String> {
        match self {
            MountOp::BindChecked { target, .. } | MountOp::Verify { target, .. } => {
                let bytes = target.as_bytes();
                let inside = bytes.strip_prefix(NEW.as_bytes()).unwrap_or(bytes);
                Some(String::from_utf8_lossy(inside).into_owned())
            }
            _ => None,
        }
    }

    /// Child side: one operation, allocation-free.
    pub fn apply(&self) -> SysResult<()> {
        match self {
            MountOp::MakePrivate => {
                sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
            }
            MountOp::Tmpfs { target, mode } => {
                let flags = libc::MS_NOSUID | libc::MS_NODEV;
                sys::mount(Some(c"tmpfs"), target, Some(c"tmpfs"), flags, Some(mode))
            }
            MountOp::Mkdir(p) => sys::mkdir(p, 0o755),
            MountOp::Touch(p) => sys::touch(p),
            MountOp::CreateFile { path, contents } => sys::create_file(path, contents.as_bytes()),
            MountOp::Symlink { target, path } => match sys::symlink(target, path) {
                Err(Errno::EEXIST) => Ok(()),
                other => other,
            },
            MountOp::Chdir(p) => sys::chdir(p),
            MountOp::PivotRoot { new_root, put_old } => sys::pivot_root(new_root, put_old),
            MountOp::Bind {
                source,
                target,
                attrs,
            } => {
                sys::mount(
                    Some(source),
                    target,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )?;
                sys::mount_setattr(target, *attrs, true)
            }
            MountOp::SetAttr { target, attrs } => sys::mount_setattr(target, *attrs, false),
            MountOp::Proc(p) => {
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                sys::mount(Some(c"proc"), p, Some(c"proc"), flags, None)
            }
            MountOp::Detach(p) => sys::umount_detach(p),
            MountOp::SizedTmpfs { target, options } => {
                // Writable, so never executable: not by exec, not by the
                // loader or any mmap(PROT_EXEC) of a file written here.
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                sys::mount(Some(c"tmpfs"), target, Some(c"tmpfs"), flags, Some(options))
            }
            MountOp::BindChecked {
                source,
                target,
                dev,
                ino,
                directory,
                optional,
            } => {
                match bind_keeping_attrs(source, target) {
                    Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EISDIR) if *optional => {
                        return sys::remove(target, *directory);
                    }
                    other => other?,
                }
                verify(target, *dev, *ino)
            }
            MountOp::BindEntry {
                source,
                target,
                directory,
            } => match bind_keeping_attrs(source, target) {
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EISDIR) => {
                    sys::remove(target, *directory)
                }
                other => other,
            },
            MountOp::Verify { target, dev, ino } => verify(target, *dev, *ino),
        }
    }
}

/// A plain recursive bind: the new mounts keep the flags of those copied
/// (read-only, noexec, …), as the kernel copies them.
fn bind_keeping_attrs(source: &CStr, target: &CStr) -> SysResult<()> {
    sys::mount(
        Some(source),
        target,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
}

/// `ESTALE` when `target` is not the inode planned.
fn verify(target: &CStr, dev: u64, ino: u64) -> SysResult<()> {
    if sys::dev_ino(target)? == (dev, ino) {
        Ok(())
    } else {
        Err(Errno::ESTALE)
    }
}

/// Files the sandbox reads in place of the host's, and directories it
/// must not see (network mode `filtered`: the generated resolver files;
/// the host's resolver sockets).
#[derive(Debug, Default)]
pub struct Overrides {
    /// (path inside the sandbox, file on the host bound there read-only).
    pub files: Vec<(PathBuf, PathBuf)>,
    /// Directories covered by an empty read-only tmpfs.
    pub hide: Vec<PathBuf>,
}

/// The ordered plan.
#[derive(Debug)]
pub struct MountPlan {
    pub ops: Vec<MountOp>,
    /// Where pinned files go: after every grant, mask and override is
    /// in place (so their mounts are copied along), before /dev and
    /// /proc.
    pin_at: usize,
}

impl MountPlan {
    /// Every path a bind mount puts in the sandbox's view, as the server
    /// sees it (grants, and files cordon generates such as the resolver
    /// files of mode `filtered`); for `--explain`, which must not report
    /// these as missing from the view.
    pub fn bound(&self) -> Vec<PathBuf> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                MountOp::Bind { target, .. } => {
                    let inside = target.as_bytes().strip_prefix(NEW.as_bytes())?;
                    inside
                        .starts_with(b"/")
                        .then(|| PathBuf::from(std::ffi::OsStr::from_bytes(inside)))
                }
                _ => None,
            })
            .collect()
    }

    /// Inserts the operations that pin files (see [`super::pin`]).
    pub fn insert_pins(&mut self, ops: Vec<MountOp>) {
        let at = self.pin_at.min(self.ops.len());
        self.ops.splice(at..at, ops);
        self.pin_at = at;
    }

    /// The paths inside the sandbox that the plan mounts something on.
    pub fn mounted(&self) -> Vec<PathBuf> {
        let prefix = NEW.as_bytes();
        self.ops
            .iter()
            .filter_map(|op| match op {
                MountOp::Bind { target, .. }
                | MountOp::Tmpfs { target, .. }
                | MountOp::SizedTmpfs { target, .. } => Some(target),
                _ => None,
            })
            .filter_map(|t| t.as_bytes().strip_prefix(prefix))
            .filter(|rest| rest.starts_with(b"/"))
            .map(|rest| PathBuf::from(std::ffi::OsStr::from_bytes(rest)))
            .collect()
    }
}

/// The staging root's path of the `n`th directory pinned: reachable
/// while the new root is assembled, gone with the staging root.
pub fn pin_stage(n: usize) -> String {
    format!("/pin{n}")
}

/// `path` inside the new root, as the child names it while assembling.
pub fn in_new_root(path: &Path) -> Result<CString, String> {
    cpath(NEW, path)
}

pub const MOUNT_ATTR_SEALED: u64 = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

const STAGE: &str = "/tmp";
const OLD: &str = "/oldroot";
const NEW: &str = "/newroot";

fn c(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"))
}

fn cpath(prefix: &str, path: &Path) -> Result<CString, String> {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.extend_from_slice(path.as_os_str().as_bytes());
    CString::new(bytes).map_err(|_| format!("{} contains a NUL byte", path.display()))
}

/// What becomes the sandbox's private /tmp.
#[derive(Debug, Clone, Copy)]
pub enum PrivateTmp<'a> {
    /// A directory on the host, bound.
    Host(&'a Path),
    /// A tmpfs of this many bytes, made inside the mount namespace: nothing
    /// on the host. Inodes are bounded in proportion (one per 16 KiB, at
    /// least 1024): empty files cost memory but no blocks. A write past
    /// the size fails with ENOSPC and nothing reaches the host's disk.
    Sized(u64),
}

/// Where a mount of the new root comes from.
enum Source<'a> {
    Host(&'a Path),
    Tmpfs(CString),
}

/// Builds the plan for `policy`, with `private_tmp` as the sandbox's /tmp.
pub fn plan(
    policy: &Policy,
    private_tmp: Option<PrivateTmp<'_>>,
    protections: &[Protection],
    overrides: &Overrides,
) -> Result<MountPlan, String> {
    let mut ops = vec![MountOp::MakePrivate];
    // Stage: a tmpfs that becomes the root, so the host root is reachable
    // under /oldroot while the new root is assembled under /newroot.
    ops.push(MountOp::Tmpfs {
        target: c(STAGE)?,
        mode: c"mode=0755",
    });
    ops.push(MountOp::Mkdir(c(&format!("{STAGE}{OLD}"))?));
    ops.push(MountOp::Mkdir(c(&format!("{STAGE}{NEW}"))?));
    ops.push(MountOp::Chdir(c(STAGE)?));
    ops.push(MountOp::PivotRoot {
        new_root: c(".")?,
        put_old: c(&format!(".{OLD}"))?,
    });
    ops.push(MountOp::Chdir(c("/")?));
    ops.push(MountOp::Tmpfs {
        target: c(NEW)?,
        mode: c"mode=0755",
    });

    // (path inside, path on the host, attributes); the private /tmp is one
    // more bind so grants below /tmp land on top of it, not under it.
    let mut binds: Vec<(PathBuf, Source<'_>, u64)> = policy
        .fs
        .iter()
        .filter(|g| g.exists && !covered(policy, g))
        .map(|g| {
            (
                g.path.clone(),
                Source::Host(g.path.as_path()),
                bind_attrs(g.access),
            )
        })
        .collect();
    match private_tmp {
        Some(PrivateTmp::Host(tmp)) => {
            binds.push((PathBuf::from("/tmp"), Source::Host(tmp), PRIVATE_TMP_ATTRS));
        }
        Some(PrivateTmp::Sized(size)) => {
            let inodes = (size / (16 << 10)).max(1024);
            let options = c(&format!("size={size},nr_inodes={inodes},mode=0700"))?;
            binds.push((PathBuf::from("/tmp"), Source::Tmpfs(options), 0));
        }
        None => {}
    }
    // Parents before children, so a nested grant is mounted on top of its
    // parent's bind rather than hidden under it.
    binds.sort_by_key(|(inside, _, _)| inside.components().count());
    let mut made = Vec::new();
    for (inside, source, attrs) in binds {
        make_parents(&mut ops, &mut made, &inside)?;
        let target = cpath(NEW, &inside)?;
        match source {
            Source::Host(host) => {
                ops.push(if crate::realpath::is_directory(host) {
                    MountOp::Mkdir(target.clone())
                } else {
                    MountOp::Touch(target.clone())
                });
                ops.push(MountOp::Bind {
                    source: cpath(OLD, host)?,
                    target,
                    attrs,
                });
            }
            Source::Tmpfs(options) => {
                ops.push(MountOp::Mkdir(target.clone()));
                ops.push(MountOp::SizedTmpfs { target, options });
            }
        }
    }
    plan_protections(protections, &mut ops)?;
    recreate_symlinks(policy, &mut ops, &mut made)?;
    plan_overrides(overrides, &mut ops, &mut made)?;
    let pin_at = ops.len();
    plan_dev(&mut ops, &mut made)?;
    ops.push(MountOp::Mkdir(cpath(NEW, Path::new("/proc"))?));
    ops.push(MountOp::Proc(cpath(NEW, Path::new("/proc"))?));
    // The assembled root itself is read-only: the server can create
    // nothing outside its writable grants.
    ops.push(MountOp::SetAttr {
        target: c(NEW)?,
        attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    });
    // Swap roots: the staging tmpfs is stacked over the new root by
    // pivot_root(".", ".") and then detached, and with it the host's tree
    // below /oldroot: one lazy unmount of the whole old tree, since each
    // unmount that frees mounts waits for an expedited RCU grace period
    // (up to milliseconds on a busy virtual machine).
    ops.push(MountOp::Chdir(c(NEW)?));
    ops.push(MountOp::PivotRoot {
        new_root: c(".")?,
        put_old: c(".")?,
    });
    ops.push(MountOp::Detach(c(".")?));
    ops.push(MountOp::Chdir(c("/")?));
    Ok(MountPlan { ops, pin_at })
}

/// Masks each protected path inside its grant. Every directory between
/// the grant and the path becomes a mount point of its own first: a mount
/// point cannot be renamed or removed, so the server cannot move `.git`
/// aside and build a new one around a hook of its own.
fn plan_protections(protections: &[Protection], ops: &mut Vec<MountOp>) -> Result<(), String> {
    let mut pinned: Vec<PathBuf> = Vec::new();
    for p in protections {
        let Ok(inner) = p.path.strip_prefix(&p.grant) else {
            continue;
        };
        let mut dir = p.grant.clone();
        let parts: Vec<_> = inner.components().collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            dir.push(part);
            if !pinned.contains(&dir) {
                let here = cpath(NEW, &dir)?;
                ops.push(MountOp::Bind {
                    source: here.clone(),
                    target: here,
                    attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                });
                pinned.push(dir.clone());
            }
        }
        let target = cpath(NEW, &p.path)?;
        match p.create {
            Some(Create::Dir) => ops.push(MountOp::Mkdir(target.clone())),
            Some(Create::File(contents)) => ops.push(MountOp::CreateFile {
                path: target.clone(),
                contents,
            }),
            None => {}
        }
        ops.push(match (p.mask, p.path.is_dir()) {
            (Mask::ReadOnly, _) => MountOp::Bind {
                source: target.clone(),
                target,
                attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            },
            (Mask::Hide, true) => MountOp::Tmpfs {
                target,
                mode: c"mode=0500",
            },
            (Mask::Hide, false) => MountOp::Bind {
                source: cpath(OLD, Path::new("/dev/null"))?,
                target,
                attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            },
        });
        if (p.mask, p.path.is_dir()) == (Mask::Hide, true) {
            let target = cpath(NEW, &p.path)?;
            ops.push(MountOp::SetAttr {
                target,
                attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            });
        }
    }
    Ok(())
}

/// Hides first, so a replacement file may land inside a hidden directory
/// (resolv.conf pointing into /run/systemd/resolve); the hiding tmpfs
/// turns read-only after.
fn plan_overrides(
    overrides: &Overrides,
    ops: &mut Vec<MountOp>,
    made: &mut Vec<PathBuf>,
) -> Result<(), String> {
    const SEALED: u64 =
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    for dir in &overrides.hide {
        ops.push(MountOp::Tmpfs {
            target: cpath(NEW, dir)?,
            mode: c"mode=0755",
        });
    }
    for (inside, host) in &overrides.files {
        make_parents(ops, made, inside)?;
        ops.push(MountOp::Touch(cpath(NEW, inside)?));
        ops.push(MountOp::Bind {
            source: cpath(OLD, host)?,
            target: cpath(NEW, inside)?,
            attrs: SEALED,
        });
    }
    for dir in &overrides.hide {
        ops.push(MountOp::SetAttr {
            target: cpath(NEW, dir)?,
            attrs: SEALED,
        });
    }
    Ok(())
}

/// A grant below another grant that allows at least as much needs no
/// mount of its own.
/// Both paths are resolved (the grants exist), so they are compared as
/// bytes: `Path::starts_with` walks components, for every pair of grants.
pub(crate) fn covered(policy: &Policy, grant: &crate::policy::FsGrant) -> bool {
    let inner = grant.path.as_os_str().as_bytes();
    policy.fs.iter().any(|other| {
        other.exists
            && other.access.union(grant.access) == other.access
            && strictly_below(inner, other.path.as_os_str().as_bytes())
    })
}

/// `inner` lies below `outer`, both absolute paths in normal form.
fn strictly_below(inner: &[u8], outer: &[u8]) -> bool {
    inner.len() > outer.len()
        && inner.starts_with(outer)
        && (outer == b"/" || inner[outer.len()] == b'/')
}

/// The private /tmp is writable, so it is `noexec`: a file the server
/// writes there can be neither executed nor mapped executable (the
/// dynamic loader run on it, `ld.so /tmp/x`, fails to map it), which
/// Landlock's execute right alone does not cover.
pub const PRIVATE_TMP_ATTRS: u64 = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

/// A writable grant is `noexec` unless it is also granted execute (npx's
/// and uv's caches, which run what they install).
fn bind_attrs(access: Access) -> u64 {
    let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if !access.write {
        attrs |= MOUNT_ATTR_RDONLY;
    }
    if !access.execute {
        attrs |= MOUNT_ATTR_NOEXEC;
    }
    attrs
}

/// Creates (once) every missing ancestor directory of `path` in the new root.
fn make_parents(
    ops: &mut Vec<MountOp>,
    made: &mut Vec<PathBuf>,
    path: &Path,
) -> Result<(), String> {
    let mut current = PathBuf::from("/");
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    for part in parent.components() {
        if let Component::Normal(name) = part {
            current.push(name);
            if !made.contains(&current) {
                ops.push(MountOp::Mkdir(cpath(NEW, &current)?));
                made.push(current.clone());
            }
        }
    }
    Ok(())
}

/// A grant declared through a symlink (such as /lib64 → usr/lib64 on
/// merged-/usr systems) is mounted at its target; the link itself is
/// recreated so that paths compiled into programs keep working, and so
/// is every other symlink the host's kernel follows from the declared
/// path to the grant: `/lib64/ld-linux-x86-64.so.2` passes through
/// `/lib64`, its own link, and `/lib`, and each must be there for the
/// path to resolve in the sandbox (a declared path with `~` or a
/// placeholder is followed from its link only).
fn recreate_symlinks(
    policy: &Policy,
    ops: &mut Vec<MountOp>,
    made: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let bound = |p: &Path| bound(policy, p);
    let mut linked: Vec<PathBuf> = Vec::new();
    for (at, target) in recreated_links(policy) {
        if bound(&at) || linked.contains(&at) || made.contains(&at) {
            continue; // already visible through a bind, or made
        }
        make_parents(ops, made, &at)?;
        ops.push(MountOp::Symlink {
            target: cstring(target.as_os_str()).map_err(|e| e.to_string())?,
            path: cpath(NEW, &at)?,
        });
        linked.push(at);
    }
    Ok(())
}

/// Whether a grant's bind shows `path` in the view.
fn bound(policy: &Policy, path: &Path) -> bool {
    policy
        .fs
        .iter()
        .any(|g| g.exists && path.starts_with(&g.path))
}

/// The symlinks the view recreates (some may be shown by a bind
/// instead): those on the way from each grant's link and declared path.
fn recreated_links(policy: &Policy) -> Vec<(PathBuf, PathBuf)> {
    let mut hops = Vec::new();
    for grant in policy.fs.iter().filter(|g| g.exists) {
        let declared = grant
            .declared
            .as_deref()
            .map(Path::new)
            .filter(|d| d.is_absolute());
        for start in grant.link.as_deref().into_iter().chain(declared) {
            hops.extend(symlinks_on_the_way(start));
        }
    }
    hops
}

/// Whether every symlink the host's kernel follows to resolve `path` is
/// in the mount view of `policy` (bound or recreated). A grant of the
/// file a path leads to is not enough: `/bin/sh` needs `/bin` and the
/// `sh` link too. Whether the file itself is granted is not looked at.
pub fn links_in_view(policy: &Policy, path: &Path) -> bool {
    let recreated = recreated_links(policy);
    symlinks_on_the_way(path)
        .iter()
        .all(|(at, _)| bound(policy, at) || recreated.iter().any(|(r, _)| r == at))
}

/// Every symlink the kernel follows to resolve `path` on the host (see
/// [`crate::realpath::links_followed`]; remembered per run: canonicalising
/// the grants looked at the same prefixes already).
fn symlinks_on_the_way(path: &Path) -> Vec<(PathBuf, PathBuf)> {
    crate::realpath::links_followed(path)
}

/// A tmpfs /dev holding only the harmless devices (bound from the host so
/// they keep working inside a user namespace) and the standard links; no
/// tty, no pts, no block devices.
fn plan_dev(ops: &mut Vec<MountOp>, made: &mut Vec<PathBuf>) -> Result<(), String> {
    let dev = Path::new("/dev");
    ops.push(MountOp::Mkdir(cpath(NEW, dev)?));
    ops.push(MountOp::Tmpfs {
        target: cpath(NEW, dev)?,
        mode: c"mode=0755",
    });
    made.push(dev.to_path_buf());
    for name in DEVICES {
        let path = dev.join(name);
        ops.push(MountOp::Touch(cpath(NEW, &path)?));
        ops.push(MountOp::Bind {
            source: cpath(OLD, &path)?,
            target: cpath(NEW, &path)?,
            // Read-only: I/O on a device node ignores it, but a chmod,
            // chown or utimes of the host's node (root owns it) does not.
            attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
        });
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(MountOp::Symlink {
            target: c(target)?,
            path: cpath(NEW, &dev.join(name))?,
        });
    }
    ops.push(MountOp::SetAttr {
        target: cpath(NEW, dev)?,
        attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
    });
    Ok(())
}

/// Applies the whole plan; on failure returns the failing op's index.
pub fn apply(plan: &MountPlan) -> Result<(), (usize, Errno)> {
    for (i, op) in plan.ops.iter().enumerate() {
        op.apply().map_err(|e| (i, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn every_symlink_on_the_way_is_found() {
        // As on merged-/usr systems: lib64 -> usr/lib64, a loader link in
        // it naming lib/…, and lib -> usr/lib.
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("usr/lib64")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib/arch")).unwrap();
        std::fs::write(root.join("usr/lib/arch/ld.so"), "").unwrap();
        std::os::unix::fs::symlink("usr/lib64", root.join("lib64")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        let loader = root.join("lib/arch/ld.so");
        std::os::unix::fs::symlink(&loader, root.join("usr/lib64/ld.so")).unwrap();
        let hops = symlinks_on_the_way(&root.join("lib64/ld.so"));
        assert_eq!(
            hops,
            vec![
                (root.join("lib64"), PathBuf::from("usr/lib64")),
                (root.join("usr/lib64/ld.so"), loader),
                (root.join("lib"), PathBuf::from("usr/lib")),
            ]
        );
        assert!(symlinks_on_the_way(&root.join("usr/lib/arch/ld.so")).is_empty());
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(symlinks_on_the_way(&root.join("loop/x")).is_empty());
    }

    #[test]
    fn strictly_below_agrees_with_path_prefixes() {
        let paths = ["/", "/a", "/ab", "/a/b", "/a/bc", "/a/b/c", "/b"];
        for inner in paths {
            for outer in paths {
                let by_path = inner != outer && Path::new(inner).starts_with(outer);
                assert_eq!(
                    strictly_below(inner.as_bytes(), outer.as_bytes()),
                    by_path,
                    "{inner} below {outer}"
                );
            }
        }
    }
}
