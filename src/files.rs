//! The one reader and writer of the files cordon keeps: approvals and
//! their lock, pins, audit logs and their heads, profiles it drafts, and
//! backups of host configurations.
//!
//! A file is opened relative to a descriptor of its directory, with
//! `O_NOFOLLOW` (and `O_NONBLOCK`, so a FIFO cannot stall cordon), and
//! then checked on the descriptor: a regular file, owned by cordon's
//! effective user, with a single link. Anything else (a symlink planted
//! in its place pointing at `~/.bashrc`, a hard link to another file, a
//! FIFO, another user's file) is refused with an error naming the path
//! and what is wrong: cordon never reads or writes through it.
//!
//! A whole file is replaced through a temporary file in the same
//! directory, synced, renamed over the old name on the directory's
//! descriptor, and the directory synced. Appends (the audit log) go
//! through the checked descriptor, and [`Dir::still_names`] tells whether
//! the name still leads to it.
//!
//! cordon's own directories ([`Dir::own`]) are walked below their XDG
//! base one component at a time, without following symlinks; each must
//! be a directory owned by the user, and is created with mode 0700 when
//! missing. The XDG base itself is resolved as usual: it is the user's,
//! and may be a symlink the user chose.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

/// What is wrong with a file or directory cordon was about to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It is a symbolic link.
    Symlink,
    /// It is something other than a regular file (or a directory, for
    /// directories): its kind.
    Kind(&'static str),
    /// It belongs to another user.
    Owner { uid: u32, euid: u32 },
    /// It has more than one name.
    Links(u64),
    /// The name no longer leads to the file cordon opened.
    Replaced,
    /// A name with a `/`, or `.`/`..`: cordon's names are single
    /// components.
    Name,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Symlink => f.write_str(
                "it is a symbolic link, and cordon never reads or writes its files through one",
            ),
            Problem::Kind(kind) => write!(f, "it is a {kind}, not a regular file"),
            Problem::Owner { uid, euid } => write!(
                f,
                "it belongs to uid {uid}, not to the user cordon runs as (uid {euid})"
            ),
            Problem::Links(n) => write!(
                f,
                "it has {n} hard links, so writing it would change another file too"
            ),
            Problem::Replaced => f.write_str(
                "the name was replaced while cordon had the file open (now a symlink, another file, or gone)",
            ),
            Problem::Name => f.write_str("not a single file name"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("refusing {}: {problem}", path.display())]
    Unsafe { path: PathBuf, problem: Problem },
    #[error("{what} {}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

impl FileError {
    pub fn path(&self) -> &Path {
        match self {
            FileError::Unsafe { path, .. } | FileError::Io { path, .. } => path,
        }
    }

    /// The refusal, when the file was unsafe to use.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            FileError::Unsafe { problem, .. } => Some(problem),
            FileError::Io { .. } => None,
        }
    }

    /// Whether the file (or its directory) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(Errno) -> FileError + 'a {
    move |e| FileError::Io {
        path: path.to_path_buf(),
        what,
        source: e.into(),
    }
}

fn unsafe_file(path: &Path, problem: Problem) -> FileError {
    FileError::Unsafe {
        path: path.to_path_buf(),
        problem,
    }
}

/// An open directory: files are opened relative to it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Modes of the files cordon creates: private, except drafted profiles.
pub const PRIVATE: u32 = 0o600;

impl Dir {
    /// One of cordon's own directories: `top` (such as
    /// `~/.local/state/cordon`), then each of `sub` below it. `top`'s
    /// parent is resolved as usual and created (0700) when missing;
    /// `top` and each of `sub` are opened without following symlinks,
    /// created 0700 when missing, and must be directories owned by the
    /// user.
    pub fn own(top: &Path, sub: &[&str]) -> Result<Dir, FileError> {
        let (Some(base), Some(name)) = (top.parent(), top.file_name()) else {
            return Err(unsafe_file(top, Problem::Name));
        };
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(base)
            .map_err(|source| FileError::Io {
                path: base.to_path_buf(),
                what: "cannot create",
                source,
            })?;
        let fd = nix::fcntl::open(base, dir_flags(), Mode::empty())
            .map_err(io_err(base, "cannot open the directory"))?;
        let mut dir = Dir {
            fd,
            path: base.to_path_buf(),
        };
        dir = dir.own_child(name)?;
        for s in sub {
            dir = dir.own_child(OsStr::new(s))?;
        }
        Ok(dir)
    }

    /// The directory holding a file the user named (`mcp.audit_path`,
    /// `--pin FILE`), resolved as usual; created 0700 when `create`.
    pub fn named(path: &Path, create: bool) -> Result<Dir, FileError> {
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        if create {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|source| FileError::Io {
                    path: path.to_path_buf(),
                    what: "cannot create",
                    source,
                })?;
        }
        let fd = nix::fcntl::open(path, dir_flags(), Mode::empty())
            .map_err(io_err(path, "cannot open the directory"))?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The directory holding `file` and `file`'s name in it.
    pub fn of_file(file: &Path, create: bool) -> Result<(Dir, OsString), FileError> {
        let name = file
            .file_name()
            .ok_or_else(|| unsafe_file(file, Problem::Name))?;
        let dir = Dir::named(file.parent().unwrap_or(Path::new(".")), create)?;
        Ok((dir, name.to_owned()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this directory, for messages.
    pub fn path_of(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// The subdirectory `name`: not a symlink, owned by the user, created
    /// 0700 when missing.
    fn own_child(self, name: &OsStr) -> Result<Dir, FileError> {
        let path = self.path_of(name);
        check_name(name, &path)?;
        match nix::sys::stat::mkdirat(&self.fd, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(io_err(&path, "cannot create")(e)),
        }
        let fd = match nix::fcntl::openat(&self.fd, name, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                let kind = nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map(|st| kind_of(&st))
                    .unwrap_or("file");
                let problem = if kind == "symbolic link" {
                    Problem::Symlink
                } else {
                    Problem::Kind(kind)
                };
                return Err(unsafe_file(&path, problem));
            }
            Err(e) => return Err(io_err(&path, "cannot open the directory")(e)),
        };
        let st = nix::sys::stat::fstat(&fd).map_err(io_err(&path, "cannot inspect"))?;
        check_owner(&st, &path)?;
        Ok(Dir { fd, path })
    }

    /// Opens `name` with `flags` (plus `O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC|
    /// O_NOCTTY`), creating it with `mode` when `flags` has `O_CREAT`, and
    /// checks it. `None` when it does not exist and `O_CREAT` is absent.
    fn open_checked(
        &self,
        name: &OsStr,
        flags: OFlag,
        mode: u32,
    ) -> Result<Option<File>, FileError> {
        let path = self.path_of(name);
        check_name(name, &path)?;
        let all =
            flags | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
        let fd = match nix::fcntl::openat(&self.fd, name, all, Mode::from_bits_truncate(mode)) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if !flags.contains(OFlag::O_CREAT) => return Ok(None),
            // ELOOP: a symlink; ENXIO: a FIFO nobody reads or a socket;
            // EISDIR, ETXTBSY…: not a file cordon may use. Say what it is.
            Err(e @ (Errno::ELOOP | Errno::ENXIO | Errno::EISDIR | Errno::EOPNOTSUPP)) => {
                return Err(
                    match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                        Ok(st) if kind_of(&st) == "symbolic link" => {
                            unsafe_file(&path, Problem::Symlink)
                        }
                        Ok(st) => unsafe_file(&path, Problem::Kind(kind_of(&st))),
                        Err(_) => io_err(&path, "cannot open")(e),
                    },
                );
            }
            Err(e) => return Err(io_err(&path, "cannot open")(e)),
        };
        let st = nix::sys::stat::fstat(&fd).map_err(io_err(&path, "cannot inspect"))?;
        check_file(&st, &path)?;
        Ok(Some(File::from(fd)))
    }

    /// The contents of `name`; `None` when it does not exist.
    pub fn read(&self, name: &OsStr) -> Result<Option<Vec<u8>>, FileError> {
        let Some(mut file) = self.open_checked(name, OFlag::O_RDONLY, 0)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|source| FileError::Io {
                path: self.path_of(name),
                what: "cannot read",
                source,
            })?;
        Ok(Some(bytes))
    }

    /// `name` opened for reading and appending, created (mode 0600) when
    /// missing.
    pub fn append(&self, name: &OsStr) -> Result<File, FileError> {
        let flags = OFlag::O_RDWR | OFlag::O_APPEND | OFlag::O_CREAT;
        self.open_checked(name, flags, PRIVATE)?
            .ok_or_else(|| io_err(&self.path_of(name), "cannot open")(Errno::ENOENT))
    }

    /// `name` opened for a lock (`flock`), created (mode 0600) when
    /// missing.
    pub fn lock_file(&self, name: &OsStr) -> Result<File, FileError> {
        let flags = OFlag::O_RDWR | OFlag::O_CREAT;
        self.open_checked(name, flags, PRIVATE)?
            .ok_or_else(|| io_err(&self.path_of(name), "cannot open")(Errno::ENOENT))
    }

    /// Whether `name` still leads to `file` (same device and inode, not
    /// a symlink): an error naming the path when it does not.
    pub fn still_names(&self, name: &OsStr, file: &File) -> Result<(), FileError> {
        let path = self.path_of(name);
        let open = nix::sys::stat::fstat(file.as_fd()).map_err(io_err(&path, "cannot inspect"))?;
        match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(now) if now.st_dev == open.st_dev && now.st_ino == open.st_ino => Ok(()),
            Ok(_) | Err(Errno::ENOENT) => Err(unsafe_file(&path, Problem::Replaced)),
            Err(e) => Err(io_err(&path, "cannot inspect")(e)),
        }
    }

    /// Whether `name` exists (as anything, symlinks not followed).
    pub fn exists(&self, name: &OsStr) -> Result<bool, FileError> {
        match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(io_err(&self.path_of(name), "cannot inspect")(e)),
        }
    }

    /// Replaces `name` with `bytes` (mode `mode`): a temporary file in
    /// this directory, synced, renamed over `name`, the directory synced.
    /// What `name` is now must itself be a file cordon could have
    /// written (or nothing): a symlink in its place is refused, not
    /// silently replaced.
    pub fn replace(&self, name: &OsStr, bytes: &[u8], mode: u32) -> Result<(), FileError> {
        let path = self.path_of(name);
        check_name(name, &path)?;
        match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => check_file(&st, &path)?,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(io_err(&path, "cannot inspect")(e)),
        }
        let (tmp_name, mut tmp) = self.create_temporary(name, mode)?;
        let tmp_path = self.path_of(&tmp_name);
        let written = tmp
            .write_all(bytes)
            .and_then(|()| tmp.sync_all())
            .map_err(|source| FileError::Io {
                path: tmp_path.clone(),
                what: "cannot write",
                source,
            });
        let renamed = written.and_then(|()| {
            nix::fcntl::renameat(&self.fd, tmp_name.as_os_str(), &self.fd, name)
                .map_err(io_err(&path, "cannot rename into place"))
        });
        if let Err(e) = renamed {
            let _ = nix::unistd::unlinkat(
                &self.fd,
                tmp_name.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            return Err(e);
        }
        self.sync()
    }

    /// Creates `name` with `bytes` when it does not exist yet; `false`
    /// when it does (as anything, a dangling symlink included).
    pub fn create_new(&self, name: &OsStr, bytes: &[u8], mode: u32) -> Result<bool, FileError> {
        let path = self.path_of(name);
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
        let mut file = match self.open_checked(name, flags, mode) {
            Ok(file) => file.ok_or_else(|| io_err(&path, "cannot create")(Errno::ENOENT))?,
            Err(FileError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                return Ok(false);
            }
            Err(FileError::Unsafe { .. }) if self.exists(name)? => return Ok(false),
            Err(e) => return Err(e),
        };
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|source| FileError::Io {
                path,
                what: "cannot write",
                source,
            })?;
        Ok(true)
    }

    /// Removes `name` (a symlink is removed itself); nothing to do when
    /// it is missing.
    pub fn remove(&self, name: &OsStr) -> Result<(), FileError> {
        let path = self.path_of(name);
        check_name(name, &path)?;
        match nix::unistd::unlinkat(&self.fd, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(io_err(&path, "cannot remove")(e)),
        }
    }

    /// Flushes the directory's entries (a rename) to disk.
    pub fn sync(&self) -> Result<(), FileError> {
        nix::unistd::fsync(&self.fd).map_err(io_err(&self.path, "cannot sync"))
    }

    /// A new file `.<name>.<pid>.<n>` with `O_EXCL`, so nothing else can
    /// stand in its place.
    fn create_temporary(&self, name: &OsStr, mode: u32) -> Result<(OsString, File), FileError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for n in 0..100u32 {
            let mut tmp = OsString::from(".");
            tmp.push(name);
            tmp.push(format!(".{}.{}", std::process::id(), nanos.wrapping_add(n)));
            let flags = OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            match nix::fcntl::openat(
                &self.fd,
                tmp.as_os_str(),
                flags,
                Mode::from_bits_truncate(mode),
            ) {
                Ok(fd) => {
                    // The umask may have narrowed the mode; widen it back
                    // to exactly `mode` (never wider than asked).
                    let _ = nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode));
                    return Ok((tmp, File::from(fd)));
                }
                Err(Errno::EEXIST) => {}
                Err(e) => return Err(io_err(&self.path_of(&tmp), "cannot create")(e)),
            }
        }
        Err(io_err(&self.path, "cannot create a temporary file in")(
            Errno::EEXIST,
        ))
    }
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn check_name(name: &OsStr, path: &Path) -> Result<(), FileError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
        return Err(unsafe_file(path, Problem::Name));
    }
    Ok(())
}

fn kind_of(st: &FileStat) -> &'static str {
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFREG => "regular file",
        SFlag::S_IFDIR => "directory",
        SFlag::S_IFLNK => "symbolic link",
        SFlag::S_IFIFO => "FIFO",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFCHR => "character device",
        SFlag::S_IFBLK => "block device",
        _ => "file of unknown type",
    }
}

fn check_owner(st: &FileStat, path: &Path) -> Result<(), FileError> {
    let euid = nix::unistd::geteuid().as_raw();
    if st.st_uid != euid {
        return Err(unsafe_file(
            path,
            Problem::Owner {
                uid: st.st_uid,
                euid,
            },
        ));
    }
    Ok(())
}

/// A regular file of the user with one link (none, when it was removed
/// meanwhile: the descriptor still holds it, and nothing else does).
fn check_file(st: &FileStat, path: &Path) -> Result<(), FileError> {
    match kind_of(st) {
        "regular file" => {}
        "symbolic link" => return Err(unsafe_file(path, Problem::Symlink)),
        kind => return Err(unsafe_file(path, Problem::Kind(kind))),
    }
    check_owner(st, path)?;
    if st.st_nlink > 1 {
        return Err(unsafe_file(path, Problem::Links(st.st_nlink)));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn own_dirs_are_created_private_and_files_replaced_atomically() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join("base/cordon");
        let dir = Dir::own(&top, &["pins"]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&top), 0o700);
        assert_eq!(mode(&top.join("pins")), 0o700);
        assert_eq!(dir.read(name("a")).unwrap(), None);
        dir.replace(name("a"), b"one", PRIVATE).unwrap();
        dir.replace(name("a"), b"two", PRIVATE).unwrap();
        assert_eq!(dir.read(name("a")).unwrap().unwrap(), b"two");
        assert_eq!(mode(&top.join("pins/a")), 0o600);
        let left: Vec<_> = std::fs::read_dir(top.join("pins")).unwrap().collect();
        assert_eq!(left.len(), 1, "a temporary file was left behind");
    }

    #[test]
    fn symlinks_hard_links_and_fifos_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("bashrc");
        std::fs::write(&victim, "original\n").unwrap();
        let dir = Dir::own(&root.path().join("cordon"), &[]).unwrap();
        let at = |n: &str| root.path().join("cordon").join(n);

        std::os::unix::fs::symlink(&victim, at("link")).unwrap();
        for result in [
            dir.read(name("link")).map(|_| ()),
            dir.append(name("link")).map(|_| ()),
            dir.replace(name("link"), b"x", PRIVATE),
            dir.lock_file(name("link")).map(|_| ()),
        ] {
            let err = result.unwrap_err();
            assert_eq!(err.problem(), Some(&Problem::Symlink), "{err}");
            assert!(err.to_string().contains(&at("link").display().to_string()));
        }
        // A dangling symlink is not created through either.
        std::os::unix::fs::symlink(root.path().join("new"), at("dangling")).unwrap();
        assert!(dir.append(name("dangling")).is_err());
        assert!(!root.path().join("new").exists());

        std::fs::hard_link(&victim, at("hard")).unwrap();
        let err = dir.append(name("hard")).unwrap_err();
        assert_eq!(err.problem(), Some(&Problem::Links(2)));

        nix::unistd::mkfifo(&at("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let err = dir.append(name("fifo")).unwrap_err();
        assert_eq!(err.problem(), Some(&Problem::Kind("FIFO")), "{err}");
        let err = dir.read(name("fifo")).unwrap_err();
        assert_eq!(err.problem(), Some(&Problem::Kind("FIFO")), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original\n");

        // cordon's own directory as a symlink is refused too.
        std::os::unix::fs::symlink(root.path(), at("sub")).unwrap();
        let err = Dir::own(&root.path().join("cordon"), &["sub"]).unwrap_err();
        assert_eq!(err.problem(), Some(&Problem::Symlink));
    }

    #[test]
    fn a_replaced_name_is_noticed() {
        let root = tempfile::tempdir().unwrap();
        let dir = Dir::own(&root.path().join("cordon"), &[]).unwrap();
        let file = dir.append(name("log")).unwrap();
        dir.still_names(name("log"), &file).unwrap();
        let path = root.path().join("cordon/log");
        std::fs::rename(&path, root.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(root.path().join("moved"), &path).unwrap();
        let err = dir.still_names(name("log"), &file).unwrap_err();
        assert_eq!(err.problem(), Some(&Problem::Replaced));
    }

    #[test]
    fn create_new_does_not_replace_anything() {
        let root = tempfile::tempdir().unwrap();
        let dir = Dir::named(root.path(), false).unwrap();
        assert!(dir.create_new(name("b"), b"1", 0o640).unwrap());
        assert!(!dir.create_new(name("b"), b"2", 0o640).unwrap());
        std::os::unix::fs::symlink(root.path().join("elsewhere"), root.path().join("c")).unwrap();
        assert!(!dir.create_new(name("c"), b"3", 0o640).unwrap());
        assert!(!root.path().join("elsewhere").exists());
        assert_eq!(std::fs::read(root.path().join("b")).unwrap(), b"1");
    }
}
