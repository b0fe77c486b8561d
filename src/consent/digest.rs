//! Hashing an open file, with a cache of earlier digests.
//!
//! Every file an approval binds is opened once and hashed from that
//! descriptor (`pread`, so the offset stays where it was). Hashing the
//! 99 MB `node` binary on every start costs tens of milliseconds, so the
//! digest is kept in cordon's state directory under the key (device,
//! inode, size, mtime in ns, ctime in ns) of the descriptor's `fstat`.
//!
//! What a hit trusts, and why the server cannot forge one:
//! - The kernel's ctime. Every change of content updates it, and user
//!   space cannot set it (`utimensat` sets atime and mtime, and sets
//!   ctime to *now*). So an unchanged key means the inode was not
//!   written since it was hashed; a new file on a reused inode number
//!   gets a new ctime. Only moving the system clock back (root) could
//!   bring an old ctime back.
//! - Timestamp granularity. A file system may stamp with a coarse clock,
//!   so two writes within one tick can leave the same ctime: a digest is
//!   kept only when the file's ctime is a few seconds old at hashing time
//!   (the rule git uses for its index), and the key is checked again
//!   after hashing.
//! - The cache itself: `$XDG_STATE_HOME/cordon/digests`, one file per
//!   key, written through [`crate::files`] (owned by the user, no
//!   symlinks). The state directory is hidden or read-only inside every
//!   sandbox, so a server cannot write an entry; only the user's own
//!   processes outside a sandbox can, and they can also rewrite the
//!   approvals next to it.
//!
//! A cache that cannot be read or written is skipped: the file is hashed.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::files::Dir;

/// A file whose ctime is younger than this is hashed but not cached.
const SETTLE_NS: i128 = 3_000_000_000;

/// The digest cache (or none, when its directory is unusable).
pub struct Digests {
    dir: Option<Dir>,
}

/// The identity of an inode's content, as `fstat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    dev: u64,
    ino: u64,
    size: i64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Key {
    pub fn of(file: &File) -> io::Result<Key> {
        let st = nix::sys::stat::fstat(file.as_fd()).map_err(io::Error::from)?;
        Ok(Key {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
        })
    }

    fn name(&self) -> String {
        format!(
            "{:x}-{:x}-{:x}-{:x}-{:x}",
            self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }

    /// The device and inode the descriptor holds.
    pub fn inode(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// The same inode, unchanged since `self` was taken.
    pub fn same_as(&self, other: &Key) -> bool {
        self == other
    }
}

/// A file opened once, with its key at that moment: hashed from this
/// descriptor, and checked again right before the server starts.
#[derive(Debug)]
pub struct Opened {
    pub path: PathBuf,
    pub file: File,
    pub key: Key,
    /// The digest an approval was checked against, once computed.
    pub digest: std::cell::OnceCell<String>,
}

impl Opened {
    pub fn open(path: &Path) -> io::Result<Opened> {
        Opened::from_file(path, File::open(path)?)
    }

    pub fn from_file(path: &Path, file: File) -> io::Result<Opened> {
        Ok(Opened {
            path: path.to_path_buf(),
            key: Key::of(&file)?,
            file,
            digest: std::cell::OnceCell::new(),
        })
    }

    /// Whether the content checked for the approval is still what the
    /// descriptor holds and, when `by_path`, whether its path still names
    /// it (nothing was renamed over it). An unchanged key answers at
    /// once; a new ctime (a write, but also a new link or a rename) means
    /// hashing the descriptor again. Without an approval (`--yes`) there
    /// is no digest to compare: only the path is checked.
    pub fn unchanged(&self, by_path: bool) -> bool {
        let same_key = Key::of(&self.file).is_ok_and(|k| k.same_as(&self.key));
        if !same_key {
            if let Some(digest) = self.digest.get() {
                if !hash_descriptor(&self.file).is_ok_and(|now| now == *digest) {
                    return false;
                }
            }
        }
        !by_path
            || std::fs::metadata(&self.path)
                .is_ok_and(|m| m.dev() == self.key.dev && m.ino() == self.key.ino)
    }
}

impl Digests {
    /// The cache in `state` (cordon's state directory).
    pub fn open(state: &Path) -> Digests {
        Digests {
            dir: Dir::own(state, &[crate::dirs::DIGESTS]).ok(),
        }
    }

    /// No cache: every file is hashed.
    pub fn none() -> Digests {
        Digests { dir: None }
    }

    /// The SHA-256 (hex) of `file`'s content, read from the descriptor.
    pub fn sha256(&self, file: &File) -> io::Result<String> {
        let key = Key::of(file)?;
        let name = key.name();
        if let Some(dir) = &self.dir {
            if let Ok(Some(bytes)) = dir.read(name.as_ref()) {
                if let Ok(hex) = String::from_utf8(bytes) {
                    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Ok(hex);
                    }
                }
            }
        }
        let hex = hash_descriptor(file)?;
        if let Some(dir) = &self.dir {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128);
            let settled = now - key.ctime_ns > SETTLE_NS;
            if settled && Key::of(file)?.same_as(&key) {
                let _ = dir.replace(name.as_ref(), hex.as_bytes(), crate::files::PRIVATE);
            }
        }
        Ok(hex)
    }
}

/// SHA-256 of everything `file` holds, read with `pread` from offset 0.
pub fn hash_descriptor(file: &File) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut offset = 0u64;
    loop {
        let n = match file.read_at(&mut buf, offset) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_changed_file_misses_and_an_old_one_hits() {
        let state = tempfile::tempdir().unwrap();
        let state = state.path().join("cordon");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"one").unwrap();
        let cache = Digests::open(&state);
        let file = File::open(&path).unwrap();
        let first = cache.sha256(&file).unwrap();
        assert_eq!(first, super::super::binding::sha256_hex(b"one"));
        // Too fresh to be kept: no entry yet.
        assert_eq!(std::fs::read_dir(state.join("digests")).unwrap().count(), 0);

        // An entry for this key (as an older file would have left it) is
        // used as is.
        let key = Key::of(&file).unwrap();
        std::fs::write(state.join("digests").join(key.name()), "ab".repeat(32)).unwrap();
        assert_eq!(cache.sha256(&file).unwrap(), "ab".repeat(32));

        // A write changes the key: the file is hashed again.
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(b"two").unwrap();
        assert_eq!(
            cache.sha256(&file).unwrap(),
            super::super::binding::sha256_hex(b"onetwo")
        );
    }
}
