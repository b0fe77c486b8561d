//! Tool pins (a rug-pull defence): the SHA-256 of each tool's definition
//! as first seen, stored in a small JSON file, so a definition that
//! changes later is noticed.
//!
//! The digest covers `name`, `title`, `description`, `inputSchema`,
//! `outputSchema` and `annotations` in canonical JSON (no whitespace,
//! object keys sorted; the six fields in that order), so key order and
//! spacing do not matter but every word does. It is the digest approvals
//! record, so a pin set from an approval can stand in for this file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::files::{Dir, FileError};

/// The file format version.
const VERSION: u32 = 1;

/// The pins of one server: tool name → hex SHA-256 of its definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinSet {
    pub version: u32,
    pub tools: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("the pin file {} is damaged: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot write the pin file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    File(#[from] FileError),
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `$STATE/pins/<profile>-<16 hex of SHA-256 over argv>.json`; each
/// argument is hashed with a NUL after it, so `["a b"]` and `["a", "b"]`
/// differ.
pub fn default_path(state_dir: &Path, profile: &str, argv: &[OsString]) -> PathBuf {
    let mut h = Sha256::new();
    for arg in argv {
        h.update(arg.as_bytes());
        h.update([0]);
    }
    let digest = hex(&h.finalize());
    state_dir
        .join("pins")
        .join(format!("{profile}-{}.json", &digest[..16]))
}

/// The pin of one tool definition: the same digest `cordon vet` records
/// in an approval (`consent::pins::tool_digest`), so the two agree.
pub fn digest(tool: &Value) -> String {
    crate::consent::pins::tool_digest(tool)
}

/// The pins in `path`; `None` when there is no file yet. The file is read
/// through [`crate::files`]: a symlink or foreign file is refused.
pub fn load(path: &Path) -> Result<Option<PinSet>, PinError> {
    let (dir, name) = match Dir::of_file(path, false) {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(text) = dir.read(&name)? else {
        return Ok(None);
    };
    let damaged = |reason: String| PinError::Damaged {
        path: path.into(),
        reason,
    };
    let pins: PinSet = serde_json::from_slice(&text).map_err(|e| damaged(e.to_string()))?;
    if pins.version != VERSION {
        return Err(damaged(format!("unknown version {}", pins.version)));
    }
    Ok(Some(pins))
}

/// Writes `pins` atomically through [`crate::files`] (mode 0600; missing
/// directories are created with mode 0700).
pub fn save(path: &Path, pins: &PinSet) -> Result<(), PinError> {
    let failed = |source: io::Error| PinError::Write {
        path: path.into(),
        source,
    };
    let mut text = serde_json::to_string_pretty(&PinSet {
        version: VERSION,
        tools: pins.tools.clone(),
    })
    .map_err(|e| failed(e.into()))?;
    text.push('\n');
    let (dir, name) = Dir::of_file(path, true)?;
    dir.replace(&name, text.as_bytes(), crate::files::PRIVATE)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_digest_ignores_order_spacing_and_other_fields() {
        let a: Value = serde_json::from_str(
            r#"{"name":"t","description":"d","inputSchema":{"b":1,"a":[1,{"y":2,"x":1}]},"_meta":{"v":1}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{ "inputSchema" : {"a":[1,{"x":1,"y":2}],"b":1}, "description":"d", "name":"t" }"#,
        )
        .unwrap();
        assert_eq!(digest(&a), digest(&b));
        let c: Value = serde_json::from_str(r#"{"name":"t","description":"d!"}"#).unwrap();
        assert_ne!(digest(&a), digest(&c));
        // Pinned: {"name":"t","description":"d"} in canonical form.
        let d: Value = serde_json::from_str(r#"{"description":"d","name":"t"}"#).unwrap();
        let text = r#"{"name":"t","description":"d"}"#;
        assert_eq!(digest(&d), hex(&Sha256::digest(text.as_bytes())));
    }

    #[test]
    fn save_then_load_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/pins/p-0123.json");
        assert_eq!(load(&path).unwrap(), None);
        let mut pins = PinSet::default();
        pins.tools.insert("t".into(), "ab".into());
        save(&path, &pins).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.tools, pins.tools);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(load(&path), Err(PinError::Damaged { .. })));
    }

    #[test]
    fn the_default_path_depends_on_profile_and_argv() {
        let state = Path::new("/s");
        let a = default_path(state, "p", &["a b".into()]);
        let b = default_path(state, "p", &["a".into(), "b".into()]);
        assert_ne!(a, b);
        assert!(a.to_str().unwrap().starts_with("/s/pins/p-"));
        assert_eq!(
            a.file_name().unwrap().len(),
            "p-".len() + 16 + ".json".len()
        );
    }
}
