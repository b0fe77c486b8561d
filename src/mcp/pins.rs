//! Pins (a rug-pull defence): the SHA-256 of each definition a server
//! showed when it was approved or first run, stored in a small JSON file,
//! so a definition that changes later is noticed. Pinned: tools, prompts,
//! resource templates, and the `instructions` of the initialize result:
//! every text the server gives the model before any call. (Resource lists
//! are not pinned: they are data that changes as the server's files do;
//! their text goes through hygiene on every list.)
//!
//! A digest covers the defining fields of an item in canonical JSON (no
//! whitespace, object keys sorted; the fields in a fixed order), so key
//! order and spacing do not matter but every word does. It is the digest
//! approvals record, so a pin set from an approval can stand in for this
//! file.
//!
//! File format: version 2 adds `instructions`, `prompts` and `templates`
//! to version 1's `tools`; version 1 files are read as pinning tools only.
//! A kind that is absent is recorded on first use.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::files::{Dir, FileError};

/// The file format version written; 1 is still read.
pub const VERSION: u32 = 2;

/// Name → hex SHA-256 of the definition.
pub type Pins = BTreeMap<String, String>;

/// The pins of one server. `None`: that kind was never seen, so the next
/// run records it (trust on first use).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinSet {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Pins>,
    /// Digest of the initialize result's `instructions` ([`text_digest`];
    /// of `null` when it had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Pins>,
    /// Resource templates by `uriTemplate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<Pins>,
}

/// The pins an approval keeps besides its tool pins (which it has kept
/// since before the others existed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextPins {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Pins>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<Pins>,
}

impl TextPins {
    /// Every kind is pinned.
    pub fn is_complete(&self) -> bool {
        self.instructions.is_some() && self.prompts.is_some() && self.templates.is_some()
    }
}

impl PinSet {
    /// A pin set from an approval's two parts.
    pub fn from_parts(tools: Option<Pins>, text: Option<TextPins>) -> PinSet {
        let text = text.unwrap_or_default();
        PinSet {
            version: VERSION,
            tools,
            instructions: text.instructions,
            prompts: text.prompts,
            templates: text.templates,
        }
    }

    /// The part an approval keeps besides its tool pins.
    pub fn text(&self) -> TextPins {
        TextPins {
            instructions: self.instructions.clone(),
            prompts: self.prompts.clone(),
            templates: self.templates.clone(),
        }
    }

    /// How many items are pinned, for messages.
    pub fn count(&self) -> usize {
        [&self.tools, &self.prompts, &self.templates]
            .iter()
            .map(|p| p.as_ref().map_or(0, BTreeMap::len))
            .sum::<usize>()
            + usize::from(self.instructions.is_some())
    }
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

/// The fields of a tool that make up its definition.
const TOOL: &[&str] = &[
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
];

/// The fields of a prompt (from prompts/list).
const PROMPT: &[&str] = &["name", "title", "description", "arguments"];

/// The fields of a resource template.
const TEMPLATE: &[&str] = &[
    "uriTemplate",
    "name",
    "title",
    "description",
    "mimeType",
    "annotations",
];

/// The pin of one tool definition: the digest `cordon vet` records in an
/// approval and the relay checks.
pub fn digest(tool: &Value) -> String {
    fields_digest(tool, TOOL)
}

/// The pin of one prompt definition.
pub fn prompt_digest(prompt: &Value) -> String {
    fields_digest(prompt, PROMPT)
}

/// The pin of one resource template.
pub fn template_digest(template: &Value) -> String {
    fields_digest(template, TEMPLATE)
}

/// The pin of a text (the instructions), `None` standing for its absence.
pub fn text_digest(text: Option<&str>) -> String {
    let mut out = String::new();
    canonical(
        &text.map_or(Value::Null, |t| Value::String(t.into())),
        &mut out,
    );
    hex(&Sha256::digest(out.as_bytes()))
}

/// Name → digest, for every item that has a name under `key`.
pub fn pins_of(items: &[Value], key: &str, digest: fn(&Value) -> String) -> Pins {
    items
        .iter()
        .filter_map(|t| Some((t.get(key)?.as_str()?.to_owned(), digest(t))))
        .collect()
}

/// Canonical JSON (keys sorted at every level, no whitespace) of the
/// listed fields of `item`, in the listed order, hashed.
fn fields_digest(item: &Value, fields: &[&str]) -> String {
    let mut text = String::from("{");
    let mut first = true;
    for key in fields {
        if let Some(value) = item.get(key) {
            if !first {
                text.push(',');
            }
            first = false;
            canonical(&Value::String((*key).into()), &mut text);
            text.push(':');
            canonical(value, &mut text);
        }
    }
    text.push('}');
    hex(&Sha256::digest(text.as_bytes()))
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(&Value::String(key.clone()), out);
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
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
    if pins.version != 1 && pins.version != VERSION {
        return Err(damaged(format!("unknown version {}", pins.version)));
    }
    if pins.version == 1 && pins.tools.is_none() {
        return Err(damaged("version 1 without \"tools\"".into()));
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
        ..pins.clone()
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
        let pins = PinSet {
            tools: Some(Pins::from([("t".into(), "ab".into())])),
            instructions: Some(text_digest(None)),
            ..PinSet::default()
        };
        save(&path, &pins).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.tools, pins.tools);
        assert_eq!(loaded.instructions, pins.instructions);
        assert_eq!(loaded.prompts, None);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(load(&path), Err(PinError::Damaged { .. })));
    }

    #[test]
    fn a_version_1_file_pins_tools_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, r#"{"version":1,"tools":{"t":"ab"}}"#).unwrap();
        let pins = load(&path).unwrap().unwrap();
        assert_eq!(pins.tools.unwrap()["t"], "ab");
        assert_eq!(
            (pins.instructions, pins.prompts, pins.templates),
            (None, None, None)
        );
        std::fs::write(&path, r#"{"version":3,"tools":{}}"#).unwrap();
        assert!(matches!(load(&path), Err(PinError::Damaged { .. })));
    }

    #[test]
    fn every_kind_has_its_own_digest() {
        let p: Value = serde_json::from_str(
            r#"{"name":"p","description":"d","arguments":[{"name":"a","description":"x"}],"_meta":1}"#,
        )
        .unwrap();
        let q: Value = serde_json::from_str(
            r#"{"name":"p","description":"d","arguments":[{"name":"a","description":"y"}]}"#,
        )
        .unwrap();
        assert_ne!(prompt_digest(&p), prompt_digest(&q));
        assert_eq!(pins_of(&[p], "name", prompt_digest).len(), 1);
        assert_ne!(text_digest(None), text_digest(Some("")));
        assert_ne!(text_digest(Some("a")), text_digest(Some("a\u{200b}")));
        let t: Value =
            serde_json::from_str(r#"{"uriTemplate":"f:///{x}","description":"d"}"#).unwrap();
        let u: Value =
            serde_json::from_str(r#"{"uriTemplate":"f:///{x}","description":"e"}"#).unwrap();
        assert_ne!(template_digest(&t), template_digest(&u));
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
