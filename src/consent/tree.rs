//! Code directories an approval binds, as tree digests.
//!
//! Which read+exec grants are bound: every grant the server may read and
//! execute but not write, that exists, and that is code the user (or a
//! process of theirs) could change:
//! - a grant from the profile itself or from `--ro` (a venv, a project
//!   directory, a store entry) is always bound;
//! - a grant pulled in by a shipped group (`runtime`, `node`, `python`,
//!   …) is bound unless it is *system runtime*: the grant and every
//!   directory above it are owned by root and writable by neither group
//!   nor others, so only root (the package manager) can change it. `/usr`
//!   is not hashed; `~/.nvm` or a user-owned `/usr/local` is.
//! - the executable and its `#!` interpreters are bound by their own file
//!   digests already; writable grants are not bound (the server may
//!   change them itself, so no digest could stay approved).
//!
//! A tree is walked without following symlinks, leaving out cordon's own
//! state and configuration directories (hidden or read-only in every
//! sandbox, and rewritten by cordon on every start). Each entry is its path
//! relative to the grant, its mode (type and permission bits) and a
//! payload: the SHA-256 of a regular file's content (through the digest
//! cache, so a second start hashes nothing that did not change), the
//! target text of a symlink, nothing for a directory or special file, and
//! `unreadable` for what cordon cannot read (the server, running as the
//! same user, cannot read it either). The entries, sorted by their raw
//! path bytes, are encoded canonically (each field length-prefixed, so no
//! byte of a name can be mistaken for a separator) and hashed into one
//! digest; the entry list is kept with the approval so that a refusal
//! names the file that was added, removed or changed.
//!
//! A tree of more than [`MAX_ENTRIES`] entries is refused (fail closed)
//! rather than left unbound: the error names the grant and asks for a
//! narrower one.

use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::digest::Digests;
use crate::policy::{FsGrant, GrantSource, Policy};

/// The most entries one bound tree may hold.
pub const MAX_ENTRIES: usize = 100_000;

/// A bound grant: its root, the digest of its canonical encoding and the
/// entries it was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    pub root: PathBuf,
    pub sha256: String,
    pub entries: Vec<Entry>,
}

/// One file, directory or symlink of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative to the tree's root (empty for the root itself); shown
    /// lossily when not UTF-8, but hashed from the raw bytes.
    pub path: String,
    pub mode: u32,
    /// A regular file's SHA-256, a symlink's `-> target`, else empty.
    pub payload: String,
}

/// The grants of `policy` that are bound as trees (see the module doc).
pub fn bound_grants(policy: &Policy) -> Vec<&FsGrant> {
    policy
        .fs
        .iter()
        .filter(|g| g.exists && g.access.execute && !g.access.write)
        .filter(|g| match &g.source {
            GrantSource::Profile | GrantSource::CommandLine | GrantSource::Store => true,
            GrantSource::Group(_) => !root_protected(&g.path),
            GrantSource::Executable | GrantSource::Interpreter => false,
        })
        .collect()
}

/// Whether `path` and every directory above it belong to root and are
/// writable by neither group nor others.
fn root_protected(path: &Path) -> bool {
    path.ancestors()
        .all(|p| fs::symlink_metadata(p).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0))
}

/// Walks `root` and computes its tree, leaving out `skip` (cordon's own
/// directories, which no server sees); more than [`MAX_ENTRIES`] entries
/// is an error.
pub fn tree_of(root: &Path, skip: &[PathBuf], digests: &Digests) -> io::Result<Tree> {
    walk(root, skip, digests, MAX_ENTRIES)
}

fn walk(root: &Path, skip: &[PathBuf], digests: &Digests, limit: usize) -> io::Result<Tree> {
    let mut raw: Vec<(Vec<u8>, u32, Vec<u8>)> = Vec::new();
    let mut pending: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let full = if rel.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        if skip.contains(&full) {
            continue;
        }
        let meta = fs::symlink_metadata(&full)?;
        let mode = meta.mode();
        let payload: Vec<u8> = if meta.file_type().is_symlink() {
            let mut p = b"-> ".to_vec();
            p.extend_from_slice(fs::read_link(&full)?.as_os_str().as_bytes());
            p
        } else if meta.is_file() {
            match open_regular(&full) {
                Ok(file) => digests.sha256(&file)?.into_bytes(),
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => b"unreadable".to_vec(),
                Err(e) => return Err(e),
            }
        } else if meta.is_dir() {
            match fs::read_dir(&full) {
                Ok(read) => {
                    for entry in read {
                        pending.push(rel.join(entry?.file_name()));
                    }
                    Vec::new()
                }
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => b"unreadable".to_vec(),
                Err(e) => return Err(e),
            }
        } else {
            Vec::new()
        };
        raw.push((rel.as_os_str().as_bytes().to_vec(), mode, payload));
        if raw.len() > limit {
            return Err(io::Error::other(format!(
                "more than {limit} files to bind: grant a narrower directory (the package or venv the server runs) instead"
            )));
        }
    }
    raw.sort();
    Ok(Tree {
        root: root.to_path_buf(),
        sha256: encode_digest(&raw),
        entries: raw
            .into_iter()
            .map(|(path, mode, payload)| Entry {
                path: String::from_utf8_lossy(&path).into_owned(),
                mode,
                payload: String::from_utf8_lossy(&payload).into_owned(),
            })
            .collect(),
    })
}

/// Opens a regular file without following a symlink swapped in, and
/// without blocking on a FIFO swapped in.
fn open_regular(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("changed while it was hashed"));
    }
    Ok(file)
}

/// SHA-256 of the canonical encoding of sorted entries: for each, the
/// path, the mode in octal and the payload, each as `LEN:BYTES`.
fn encode_digest(sorted: &[(Vec<u8>, u32, Vec<u8>)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"cordon-tree-1\n");
    for (path, mode, payload) in sorted {
        let mode = format!("{mode:o}");
        for field in [path.as_slice(), mode.as_bytes(), payload.as_slice()] {
            hasher.update(format!("{}:", field.len()).as_bytes());
            hasher.update(field);
        }
        hasher.update(b"\n");
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What changed between two trees of the same root: the first few
/// entries changed, added or removed, one sentence.
pub fn changes(old: &Tree, new: &Tree) -> Option<String> {
    if old.sha256 == new.sha256 {
        return None;
    }
    const SHOWN: usize = 5;
    let mut named = Vec::new();
    let name = |e: &Entry| new.root.join(&e.path).display().to_string();
    let (old, new_entries) = (&old.entries, &new.entries);
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new_entries.len() {
        match (old.get(i), new_entries.get(j)) {
            (Some(a), Some(b)) if a.path == b.path => {
                if a != b {
                    named.push(format!("changed {}", name(b)));
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.path.as_bytes() < b.path.as_bytes() => {
                named.push(format!("removed {}", name(a)));
                i += 1;
            }
            (Some(a), None) => {
                named.push(format!("removed {}", name(a)));
                i += 1;
            }
            (_, Some(b)) => {
                named.push(format!("added {}", name(b)));
                j += 1;
            }
            (None, None) => break,
        }
    }
    if named.is_empty() {
        // Only bytes the lossy names hide differ.
        named.push(format!("a file of {}", new.root.display()));
    }
    let more = named.len().saturating_sub(SHOWN);
    named.truncate(SHOWN);
    let mut text = format!("code directory changed: {}", named.join(", "));
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    Some(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(path: &[u8], mode: u32, payload: &[u8]) -> (Vec<u8>, u32, Vec<u8>) {
        (path.to_vec(), mode, payload.to_vec())
    }

    /// Moving bytes between fields or entries gives another digest: the
    /// encoding is unambiguous.
    #[test]
    fn the_encoding_keeps_fields_apart() {
        let a = encode_digest(&[entry(b"ab", 0o100644, b"x")]);
        let b = encode_digest(&[entry(b"a", 0o100644, b"bx")]);
        let c = encode_digest(&[entry(b"a", 0o100644, b""), entry(b"b", 0o100644, b"x")]);
        let d = encode_digest(&[entry(b"ab", 0o100755, b"x")]);
        let e = encode_digest(&[entry(b"a\n1:b", 0o100644, b"x")]);
        let all = [&a, &b, &c, &d, &e];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(a, encode_digest(&[entry(b"ab", 0o100644, b"x")]));
    }

    /// The same tree gives the same digest; a change of content, mode,
    /// link target or a new file is named.
    #[test]
    fn a_tree_names_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("pkg")).unwrap();
        fs::write(root.join("pkg/mod.py"), "x = 1\n").unwrap();
        std::os::unix::fs::symlink("pkg/mod.py", root.join("link")).unwrap();
        let none = Digests::none();
        let first = tree_of(root, &[], &none).unwrap();
        assert_eq!(first, tree_of(root, &[], &none).unwrap());
        assert_eq!(first.entries.len(), 4);

        fs::write(root.join("pkg/mod.py"), "x = 2\n").unwrap();
        let second = tree_of(root, &[], &none).unwrap();
        let said = changes(&first, &second).unwrap();
        assert!(
            said.contains("changed") && said.contains("pkg/mod.py"),
            "{said}"
        );

        fs::write(root.join("pkg/new.py"), "").unwrap();
        let third = tree_of(root, &[], &none).unwrap();
        let said = changes(&second, &third).unwrap();
        assert!(
            said.contains("added") && said.contains("pkg/new.py"),
            "{said}"
        );
        let said = changes(&third, &second).unwrap();
        assert!(
            said.contains("removed") && said.contains("pkg/new.py"),
            "{said}"
        );

        fs::remove_file(root.join("link")).unwrap();
        std::os::unix::fs::symlink("pkg/new.py", root.join("link")).unwrap();
        let fourth = tree_of(root, &[], &none).unwrap();
        let said = changes(&third, &fourth).unwrap();
        assert!(said.contains("changed") && said.contains("link"), "{said}");
    }

    /// A tree past the bound is an error naming the remedy, never a tree
    /// left unbound; cordon's own directories are left out.
    #[test]
    fn a_tree_past_the_bound_is_refused_and_skipped_dirs_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["a", "b", "c"] {
            fs::write(root.join(name), name).unwrap();
        }
        let err = walk(root, &[], &Digests::none(), 3).unwrap_err();
        assert!(err.to_string().contains("narrower"), "{err}");
        let skipped = walk(root, &[root.join("c")], &Digests::none(), 3).unwrap();
        let names: Vec<&str> = skipped.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["", "a", "b"]);
    }

    /// A shipped group's grant is system runtime only when root alone
    /// can change it: /usr is; a directory under the world-writable /tmp
    /// is not.
    #[test]
    fn only_root_protected_group_grants_are_runtime() {
        assert!(root_protected(Path::new("/usr")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!root_protected(dir.path()));
    }
}
