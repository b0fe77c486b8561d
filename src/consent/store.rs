//! Recorded approvals: `$XDG_STATE_HOME/cordon/approvals.json`, a
//! human-readable file (mode 0600) that only grows by explicit approval.
//!
//! Every change happens under an exclusive lock on `approvals.lock` and is
//! written to a temporary file, synced, and renamed over the old one, so
//! concurrent cordon processes never lose or corrupt a record. Both files
//! go through [`crate::files`]: a symlink, hard link or foreign file in
//! their place is refused, never read or written through. A file that
//! does not parse is reported with its path and position: it is never
//! treated as empty, and never as approval.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::binding::{Binding, sha256_hex};
use crate::files::{Dir, FileError};

const VERSION: u32 = 1;

/// One recorded approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Short, stable identifier: derived from the binding.
    pub id: String,
    /// When it was given (RFC 3339, UTC).
    pub approved_at: String,
    pub binding: Binding,
    /// Tool name → SHA-256 of its definition, recorded on the first
    /// approved run (trust on first use) or by `vet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pins: Option<BTreeMap<String, String>>,
    /// The pins of the server's other text (instructions, prompts,
    /// resource templates), kept the same way; absent in approvals
    /// recorded before they were pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_pins: Option<crate::mcp::pins::TextPins>,
}

impl Approval {
    pub fn new(binding: Binding, approved_at: String) -> Approval {
        let id = id_of(&binding);
        Approval {
            id,
            approved_at,
            binding,
            pins: None,
            text_pins: None,
        }
    }
}

/// The identifier of a binding: the first 12 hex digits of its digest.
pub fn id_of(binding: &Binding) -> String {
    let text = serde_json::to_string(binding).unwrap_or_default();
    sha256_hex(text.as_bytes())[..12].to_owned()
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    approvals: Vec<Approval>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("approval store {path}: {what}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("approval store {path} is corrupt at line {line}, column {column}: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("approval store {path} has version {found}; this cordon reads version {VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error(transparent)]
    File(#[from] FileError),
}

impl StoreError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            StoreError::Corrupt { .. } | StoreError::Version { .. } => Some(
                "cordon will not guess which approvals it held: fix or move the file aside, then approve again",
            ),
            StoreError::File(e) if e.problem().is_some() => Some(
                "cordon reads and writes its state only as its user's own regular files: look at what replaced it, move it aside, then approve again",
            ),
            StoreError::Io { .. } | StoreError::File(_) => None,
        }
    }
}

/// The store in one state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            dir: state_dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(crate::dirs::APPROVALS)
    }

    /// Every approval, oldest first. A missing file is an empty store.
    pub fn load(&self) -> Result<Vec<Approval>, StoreError> {
        let _lock = self.lock(false)?;
        self.read().map(|f| f.approvals)
    }

    /// Applies `change` to the approvals under the lock and writes the
    /// result atomically; returns what `change` returned.
    pub fn update<T>(&self, change: impl FnOnce(&mut Vec<Approval>) -> T) -> Result<T, StoreError> {
        let _lock = self.lock(true)?;
        let mut file = self.read()?;
        let out = change(&mut file.approvals);
        file.version = VERSION;
        self.write(&file)?;
        Ok(out)
    }

    fn io(&self, what: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: self.path(),
            what,
            source,
        }
    }

    /// The state directory, walked and checked by [`crate::files`].
    fn open_dir(&self) -> Result<Dir, StoreError> {
        Ok(Dir::own(&self.dir, &[])?)
    }

    fn lock(&self, exclusive: bool) -> Result<nix::fcntl::Flock<fs::File>, StoreError> {
        let file = self
            .open_dir()?
            .lock_file(OsStr::new(crate::dirs::APPROVALS_LOCK))?;
        let arg = if exclusive {
            nix::fcntl::FlockArg::LockExclusive
        } else {
            nix::fcntl::FlockArg::LockShared
        };
        nix::fcntl::Flock::lock(file, arg).map_err(|(_, e)| self.io("cannot lock")(e.into()))
    }

    fn read(&self) -> Result<File, StoreError> {
        let path = self.path();
        let Some(text) = self.open_dir()?.read(OsStr::new(crate::dirs::APPROVALS))? else {
            return Ok(File {
                version: VERSION,
                approvals: Vec::new(),
            });
        };
        let file: File = serde_json::from_slice(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if file.version != VERSION {
            return Err(StoreError::Version {
                path,
                found: file.version,
            });
        }
        Ok(file)
    }

    fn write(&self, file: &File) -> Result<(), StoreError> {
        let mut text =
            serde_json::to_string_pretty(file).map_err(|e| self.io("cannot encode")(e.into()))?;
        text.push('\n');
        self.open_dir()?.replace(
            OsStr::new(crate::dirs::APPROVALS),
            text.as_bytes(),
            crate::files::PRIVATE,
        )?;
        Ok(())
    }
}
