//! What wrap replaced, so that unwrap gives back the original bytes.
//!
//! For each entry it rewrites, wrap records the entry's text before and
//! after, keyed by the configuration file's real path, the place of its
//! server map and the entry's name, in `<state>/cordon/config-wraps.json`
//! (written through [`crate::files`]). Unwrap puts the original back when
//! the entry still reads exactly as wrap left it; otherwise (no record,
//! or the entry was edited since) it rebuilds the entry from the command
//! kept after `--`, and says so.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::HostConfigError;

/// The name of the record file in cordon's state directory.
pub const FILE: &str = "config-wraps.json";

/// One wrapped entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wrapped {
    pub file: PathBuf,
    pub place: String,
    pub name: String,
    pub original: String,
    pub wrapped: String,
}

impl Wrapped {
    fn same_entry(&self, other: &Wrapped) -> bool {
        self.file == other.file && self.place == other.place && self.name == other.name
    }
}

/// The records of every wrapped entry.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Records {
    pub entries: Vec<Wrapped>,
}

impl Records {
    /// The record of one entry.
    pub fn find(&self, file: &Path, place: &str, name: &str) -> Option<&Wrapped> {
        self.entries
            .iter()
            .rev()
            .find(|r| r.file == file && r.place == place && r.name == name)
    }

    /// Adds `new`, replacing an older record of the same entry.
    pub fn put(&mut self, new: Wrapped) {
        self.entries.retain(|r| !r.same_entry(&new));
        self.entries.push(new);
    }

    /// Drops the record of one entry.
    pub fn remove(&mut self, gone: &Wrapped) {
        self.entries.retain(|r| !r.same_entry(gone));
    }
}

fn error(e: crate::files::FileError, what: &'static str) -> HostConfigError {
    let path = e.path().to_path_buf();
    HostConfigError::Io {
        path,
        what,
        source: std::io::Error::other(e),
    }
}

/// The records in `state` (none when the file does not exist). An
/// unreadable record file is an error: unwrap would otherwise rebuild
/// entries it could restore.
pub fn load(state: &Path) -> Result<Records, HostConfigError> {
    let dir = crate::files::Dir::own(state, &[]).map_err(|e| error(e, "cannot open"))?;
    let Some(bytes) = dir
        .read(OsStr::new(FILE))
        .map_err(|e| error(e, "cannot read"))?
    else {
        return Ok(Records::default());
    };
    serde_json::from_slice(&bytes).map_err(|e| HostConfigError::Io {
        path: state.join(FILE),
        what: "cannot parse",
        source: std::io::Error::other(e),
    })
}

/// Writes the records back.
pub fn save(state: &Path, records: &Records) -> Result<(), HostConfigError> {
    let dir = crate::files::Dir::own(state, &[]).map_err(|e| error(e, "cannot open"))?;
    let bytes = serde_json::to_vec_pretty(records).map_err(HostConfigError::Encode)?;
    dir.replace(OsStr::new(FILE), &bytes, crate::files::PRIVATE)
        .map_err(|e| error(e, "cannot write"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn records_round_trip_and_replace_by_entry() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("cordon");
        assert!(load(&state).unwrap().entries.is_empty());
        let rec = |original: &str| Wrapped {
            file: "/c.json".into(),
            place: "mcpServers".into(),
            name: "a".into(),
            original: original.into(),
            wrapped: "w".into(),
        };
        let mut records = Records::default();
        records.put(rec("1"));
        records.put(rec("2"));
        save(&state, &records).unwrap();
        let back = load(&state).unwrap();
        assert_eq!(back.entries, [rec("2")]);
        assert_eq!(
            back.find(Path::new("/c.json"), "mcpServers", "a"),
            Some(&rec("2"))
        );
        assert!(back.find(Path::new("/c.json"), "servers", "a").is_none());
    }
}
