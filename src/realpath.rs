//! Canonical paths, resolving each directory once per run.
//!
//! A launch resolves some fifty paths (the profile's grants, where their
//! symlinks are, the protected paths, the temporary directories), most of
//! them below the same few directories. `realpath(3)` walks every path
//! from `/` with one `readlink` per component, so `/etc` alone was looked
//! at thirty times. [`canonical`] walks the same way, but remembers what
//! each path it has looked at is (a directory, a symlink and its target,
//! something else, or the error), so every prefix costs one `lstat` per
//! run.
//!
//! The answer is the one `realpath` gives, with the same errors (a
//! missing component, a file where a directory should be, a symlink
//! loop). It is as old as the run: like `realpath`'s, it is a snapshot,
//! and the sandbox opens what it binds and grants again when it is built.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What one path is, as `lstat` (and `readlink`) saw it.
#[derive(Debug, Clone)]
enum Node {
    Directory,
    Link(PathBuf),
    Other,
    Error(i32),
}

/// The kernel's limit on symlinks followed in one lookup.
const MAX_LINKS: usize = 40;

/// A multiply-rotate hash over the path's bytes (FxHash's round). The keys
/// are paths cordon builds itself from its profiles and the command line,
/// so a hash that resists chosen collisions buys nothing; hashing the
/// bytes, not `Path`'s components, keeps a lookup cheap.
#[derive(Default)]
struct BytesHasher(u64);

impl Hasher for BytesHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Keyed by the path's bytes: the paths looked at are built by
/// [`canonical`] (or are canonical already), so equal paths are equal
/// bytes.
type Seen = HashMap<OsString, Node, BuildHasherDefault<BytesHasher>>;

/// Room for what a launch looks at (some hundred paths), so that the
/// table is not rebuilt as it grows.
const EXPECTED: usize = 128;

thread_local! {
    static SEEN: RefCell<Seen> =
        RefCell::new(Seen::with_capacity_and_hasher(EXPECTED, Default::default()));
}

fn seen(path: &Path) -> Option<Node> {
    SEEN.with(|seen| seen.borrow().get(path.as_os_str()).cloned())
}

fn look(path: &Path) -> Node {
    if let Some(node) = seen(path) {
        return node;
    }
    let node = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::read_link(path) {
            Ok(target) => Node::Link(target),
            Err(e) => Node::Error(e.raw_os_error().unwrap_or(libc::EIO)),
        },
        Ok(meta) if meta.is_dir() => Node::Directory,
        Ok(_) => Node::Other,
        Err(e) => Node::Error(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    SEEN.with(|seen| {
        seen.borrow_mut()
            .insert(path.as_os_str().to_owned(), node.clone())
    });
    node
}

/// Drops what was remembered: cordon changed paths itself (a store
/// entry replaced), so the snapshot is stale.
pub(crate) fn forget() {
    SEEN.with(|seen| seen.borrow_mut().clear());
}

/// Drops what was remembered missing: cordon may have created
/// directories since (`mkdir -p`), which only ever turns a missing path
/// into a directory. What was seen to exist is still what it was, so the
/// grants resolved before are not walked again.
pub(crate) fn forget_missing() {
    SEEN.with(|seen| {
        seen.borrow_mut()
            .retain(|_, node| !matches!(node, Node::Error(_)))
    });
}

/// `path` absolute and without symlinks, `.` or `..`, as
/// `std::fs::canonicalize` gives it; a relative path is taken against
/// the working directory.
pub(crate) fn canonical(path: &Path) -> io::Result<PathBuf> {
    walk(path, |_, _| {})
}

/// Every symlink that resolving `path` (absolute) follows, as (where it
/// is, what it holds), in the order met; where each is has its directory
/// resolved. The walk ends where resolving fails (no link can lie below a
/// missing or non-directory component); none when the links loop.
pub(crate) fn links_followed(path: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut links = Vec::new();
    let walked = walk(path, |at, target| {
        links.push((at.to_path_buf(), target.to_path_buf()));
    });
    match walked {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Vec::new(),
        _ => links,
    }
}

/// Resolves `path` as the kernel would, calling `on_link` with each
/// symlink followed (where it is, what it holds).
fn walk(path: &Path, mut on_link: impl FnMut(&Path, &Path)) -> io::Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    // The texts walked: the path, then each link's target. A component
    // is a range of one of them, so none is copied on its own.
    let mut texts: Vec<OsString> = vec![absolute.into_os_string()];
    // Components still to walk, the next one last.
    let mut pending: Vec<Name> = Vec::new();
    push_components(&mut pending, &texts, 0);
    let mut out = PathBuf::from("/");
    // Whether `out` is a directory: only then may a component follow.
    let mut directory = true;
    let mut links = 0;
    while let Some(at) = pending.pop() {
        if !directory {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        let name = at.of(&texts);
        if name == ".." {
            out.pop();
            continue;
        }
        out.push(name);
        match look(&out) {
            Node::Directory => {}
            Node::Other => directory = false,
            Node::Link(target) => {
                on_link(&out, &target);
                out.pop();
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                texts.push(target.into_os_string());
                push_components(&mut pending, &texts, texts.len() - 1);
            }
            Node::Error(errno) => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
    Ok(out)
}

/// Whether something (a symlink included, not followed) is at `path`, an
/// absolute path whose directory is canonical. A parent already seen to be
/// missing or not a directory answers without a system call.
pub(crate) fn exists_nofollow(path: &Path) -> bool {
    if let Some(parent) = path.parent().filter(|p| p.parent().is_some()) {
        if !exists_nofollow(parent) {
            return false;
        }
        if let Some(Node::Other | Node::Error(_)) = seen(parent) {
            return false;
        }
    }
    !matches!(look(path), Node::Error(_))
}

/// Whether `path`, a canonical path, is a directory: answered from what
/// resolving it saw, else looked at once. A stale answer is harmless where
/// it is used (the mount plan's mount points): a bind onto the wrong kind
/// of mount point fails, and the launch with it.
pub(crate) fn is_directory(path: &Path) -> bool {
    matches!(look(path), Node::Directory)
}

/// The target of the symlink at `path` (not followed), None when it is
/// not one; from what resolving it saw, else looked at once.
pub(crate) fn symlink_target(path: &Path) -> Option<PathBuf> {
    match look(path) {
        Node::Link(target) => Some(target),
        _ => None,
    }
}

/// One component to walk: bytes `start..end` of text `text`.
#[derive(Clone, Copy)]
struct Name {
    text: usize,
    start: usize,
    end: usize,
}

impl Name {
    fn of(self, texts: &[OsString]) -> &OsStr {
        let bytes = texts
            .get(self.text)
            .and_then(|t| t.as_bytes().get(self.start..self.end))
            .unwrap_or_default();
        OsStr::from_bytes(bytes)
    }
}

/// Pushes the components of text `text` so that the first is popped
/// first. As `Path::components` has them: empty ones (repeated or
/// trailing slashes), `.` and the root are left out; `..` is kept (it is
/// resolved against what is walked before it).
fn push_components(pending: &mut Vec<Name>, texts: &[OsString], text: usize) {
    let at = pending.len();
    let bytes = texts.get(text).map(|t| t.as_bytes()).unwrap_or_default();
    let mut start = 0;
    for part in bytes.split(|&b| b == b'/') {
        let end = start + part.len();
        if !part.is_empty() && part != b"." {
            pending.push(Name { text, start, end });
        }
        start = end + 1;
    }
    pending[at..].reverse();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn agrees_with_realpath() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/file"), "x").unwrap();
        symlink("a/b", root.join("rel")).unwrap();
        symlink(root.join("a/b/c"), root.join("abs")).unwrap();
        symlink("../file", root.join("a/b/up")).unwrap();
        symlink("rel/../../a", root.join("chain")).unwrap();
        symlink("missing", root.join("dangling")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        for rel in [
            "a",
            "a/b/c",
            "a/file",
            "rel",
            "rel/c",
            "abs",
            "abs/..",
            "a/b/up",
            "chain",
            "chain/b",
            "dangling",
            "loop1",
            "a/file/x",
            "a/file/..",
            "nothing",
            "a/./b/../b",
            "rel/../file",
            "",
        ] {
            let path = root.join(rel);
            let expected = std::fs::canonicalize(&path).map_err(|e| e.raw_os_error());
            // Twice: the second answer comes from what the first saw.
            for _ in 0..2 {
                let got = canonical(&path).map_err(|e| e.raw_os_error());
                assert_eq!(got, expected, "{rel}");
            }
        }
        assert_eq!(canonical(Path::new("/")).unwrap(), Path::new("/"));
    }

    #[test]
    fn a_directory_created_later_is_seen_after_forget_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let made = root.join("made");
        assert!(!exists_nofollow(&made));
        std::fs::create_dir(&made).unwrap();
        forget_missing();
        assert!(exists_nofollow(&made));
        assert_eq!(canonical(&made).unwrap(), made);
        // What existed stays remembered: its removal goes unseen until a
        // full forget, as the snapshot says.
        std::fs::remove_dir(&made).unwrap();
        forget_missing();
        assert!(exists_nofollow(&made));
        forget();
        assert!(!exists_nofollow(&made));
    }
}
