//! What the host may see and use: tools, prompts and resources filtered
//! by the profile's patterns, tool pinning, untrusted annotations and
//! description hygiene.
//!
//! List results are only rewritten when something is withheld or an
//! annotation is changed; otherwise the server's bytes pass as they are.
//! Calls are checked against the same state, so a tool withheld from the
//! list cannot be called by name either.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde_json::Value;
use serde_json::value::RawValue;

use super::hygiene::find_hidden;
use super::pins::{self, PinSet};
use super::raw::RawObject;
use crate::consent::escape_text;
use crate::policy::{McpPolicy, PinMode};

/// The list results cordon inspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl ListKind {
    /// The result member holding the items, and the item member that
    /// names them.
    fn fields(self) -> (&'static str, &'static str) {
        match self {
            ListKind::Tools => ("tools", "name"),
            ListKind::Prompts => ("prompts", "name"),
            ListKind::Resources => ("resources", "uri"),
            ListKind::Templates => ("resourceTemplates", "uriTemplate"),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            ListKind::Tools => "tool",
            ListKind::Prompts => "prompt",
            ListKind::Resources => "resource",
            ListKind::Templates => "resource template",
        }
    }
}

/// Pinning state for this session.
#[derive(Debug)]
pub struct Pinning {
    pub mode: PinMode,
    pub path: PathBuf,
    pub set: PinSet,
    /// No pin file existed at start: tools seen for the first time in
    /// this session are recorded (trust on first use).
    pub first_use: bool,
    /// Tools withheld because they differ from their pin, with why.
    withheld: HashMap<String, String>,
}

impl Pinning {
    pub fn new(mode: PinMode, path: PathBuf, existing: Option<PinSet>) -> Pinning {
        Pinning {
            mode,
            path,
            first_use: existing.is_none(),
            set: existing.unwrap_or_default(),
            withheld: HashMap::new(),
        }
    }
}

/// How the reason starts when a list item is withheld because cordon
/// cannot read it in one way only.
pub const UNREADABLE: &str = "cannot be inspected";

/// One item's fate in a list.
enum Verdict {
    Keep,
    Rewrite(String),
    Withhold(String),
}

/// The session's view of what the server offers.
#[derive(Debug)]
pub struct Catalog {
    policy: McpPolicy,
    profile: String,
    pins: Option<Pinning>,
    /// Items withheld for hidden text, by kind and name.
    hidden: HashSet<(u8, String)>,
    /// Something was pinned and not yet saved.
    dirty: bool,
}

impl Catalog {
    pub fn new(policy: McpPolicy, profile: String, pins: Option<Pinning>) -> Catalog {
        Catalog {
            policy,
            profile,
            pins,
            hidden: HashSet::new(),
            dirty: false,
        }
    }

    /// Filters a list result. `Ok(None)`: forward it unchanged; `Ok(Some)`:
    /// the new result text. Withheld items are pushed to `withheld` as
    /// (name, reason); notes for stderr to `notes`.
    pub fn filter(
        &mut self,
        kind: ListKind,
        result: &[u8],
        withheld: &mut Vec<(String, String)>,
        notes: &mut Vec<String>,
    ) -> Result<Option<String>, String> {
        let (list_key, name_key) = kind.fields();
        let result = std::str::from_utf8(result).map_err(|e| e.to_string())?;
        let object = RawObject::parse(result).map_err(|e| e.to_string())?;
        let Some(items) = object.get(list_key) else {
            return Ok(None);
        };
        let items: Vec<&RawValue> = serde_json::from_str(items.get()).map_err(|e| e.to_string())?;
        let mut kept = Vec::with_capacity(items.len());
        let mut changed = false;
        for item in items {
            // An item readers may read differently (a key twice: the host
            // may take the copy cordon did not check) is withheld.
            if let Err(e) = super::json::strict(item.get().as_bytes()) {
                // The name, as one reader would take it: for the note only.
                let name = serde_json::from_str::<Value>(item.get())
                    .ok()
                    .and_then(|v| v.get(name_key)?.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let reason = format!("{UNREADABLE}: {e}");
                notes.push(format!(
                    "server stdout: {} \"{}\" {reason}: withheld",
                    kind.noun(),
                    escape_text(&name)
                ));
                withheld.push((name, reason));
                changed = true;
                continue;
            }
            let value: Value = serde_json::from_str(item.get()).map_err(|e| e.to_string())?;
            let name = value
                .get(name_key)
                .and_then(Value::as_str)
                .unwrap_or_default();
            match self.judge(kind, item.get(), &value, name, notes) {
                Verdict::Keep => kept.push(item.get().to_owned()),
                Verdict::Rewrite(text) => {
                    changed = true;
                    kept.push(text);
                }
                Verdict::Withhold(reason) => {
                    changed = true;
                    withheld.push((name.to_owned(), reason));
                }
            }
        }
        self.save_pins(notes);
        Ok(changed.then(|| object.write_with(list_key, &format!("[{}]", kept.join(",")))))
    }

    fn judge(
        &mut self,
        kind: ListKind,
        raw: &str,
        value: &Value,
        name: &str,
        notes: &mut Vec<String>,
    ) -> Verdict {
        let noun = kind.noun();
        if name.is_empty() {
            return Verdict::Withhold(format!("a {noun} without a {}", kind.fields().1));
        }
        let rules = match kind {
            ListKind::Tools => &self.policy.tools,
            ListKind::Prompts => &self.policy.prompts,
            ListKind::Resources | ListKind::Templates => &self.policy.resources,
        };
        // A resource's URI is matched in its normal form, as its reads are.
        let normal = match kind {
            ListKind::Resources => match super::uri::normalize(name) {
                Ok(uri) => std::borrow::Cow::Owned(uri),
                Err(e) => return Verdict::Withhold(format!("its URI is refused: {e}")),
            },
            _ => std::borrow::Cow::Borrowed(name),
        };
        if !rules.allows(&normal) {
            return Verdict::Withhold(format!("not allowed by profile \"{}\"", self.profile));
        }
        if let Some(reason) = self.check_hidden(kind, value, name, notes) {
            return Verdict::Withhold(reason);
        }
        if kind != ListKind::Tools {
            return Verdict::Keep;
        }
        if let Some(reason) = self.check_pin(value, name, notes) {
            return Verdict::Withhold(reason);
        }
        if self.policy.trust_annotations {
            return Verdict::Keep;
        }
        match distrust_annotations(raw, value) {
            Ok(Some(text)) => Verdict::Rewrite(text),
            Ok(None) => Verdict::Keep,
            Err(()) => Verdict::Withhold("its annotations cannot be rewritten".into()),
        }
    }

    fn check_hidden(
        &mut self,
        kind: ListKind,
        value: &Value,
        name: &str,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let key = (kind as u8, name.to_owned());
        let Some((path, c)) = find_hidden(value) else {
            self.hidden.remove(&key);
            return None;
        };
        let what = format!(
            "{} \"{}\" hides character U+{:04X} in {}",
            kind.noun(),
            escape_text(name),
            u32::from(c),
            if path.is_empty() { "its name" } else { &path }
        );
        if !self.policy.refuse_hidden_text {
            notes.push(format!(
                "warning: {what} (set [mcp] refuse_hidden_text = true to withhold it)"
            ));
            return None;
        }
        if self.hidden.insert(key) {
            notes.push(format!("{what}: withheld"));
        }
        Some(format!(
            "hides character U+{:04X} in {}",
            u32::from(c),
            path
        ))
    }

    /// Compares a tool with its pin; records it on first use.
    fn check_pin(&mut self, value: &Value, name: &str, notes: &mut Vec<String>) -> Option<String> {
        let pins = self.pins.as_mut().filter(|p| p.mode != PinMode::Off)?;
        let digest = pins::digest(value);
        let problem = match pins.set.tools.get(name) {
            Some(pinned) if *pinned == digest => None,
            Some(_) => Some("changed since it was pinned"),
            None if pins.first_use => {
                pins.set.tools.insert(name.to_owned(), digest);
                self.dirty = true;
                None
            }
            None => Some("is new since the tools were pinned"),
        };
        let Some(problem) = problem else {
            pins.withheld.remove(name);
            return None;
        };
        let shown = escape_text(name);
        if pins.mode == PinMode::Warn {
            notes.push(format!(
                "warning: tool \"{shown}\" {problem} (pin = \"warn\": passed)"
            ));
            return None;
        }
        let reason = format!("tool \"{shown}\" {problem}");
        if pins
            .withheld
            .insert(name.to_owned(), reason.clone())
            .is_none()
        {
            notes.push(format!(
                "{reason}: withheld from tools/list and its calls refused; to review and accept the change, run `cordon vet` with this command again (or, for a run without an approval, delete the pin file {} so the next run pins again)",
                pins.path.display()
            ));
        }
        Some(reason)
    }

    fn save_pins(&mut self, notes: &mut Vec<String>) {
        let Some(pins) = self.pins.as_ref().filter(|_| self.dirty) else {
            return;
        };
        self.dirty = false;
        match pins::save(&pins.path, &pins.set) {
            Ok(()) => notes.push(format!(
                "trust on first use: pinned {} tool(s) in {}; a tool that changes later will be withheld",
                pins.set.tools.len(),
                pins.path.display()
            )),
            Err(e) => notes.push(format!("warning: {e}: {}", error_chain(&e))),
        }
    }

    /// Whether the host may call tool `name`; the error is the reason.
    pub fn check_call(&self, name: &str) -> Result<(), String> {
        let shown = escape_text(name);
        if !self.policy.tools.allows(name) {
            return Err(format!(
                "tool \"{shown}\" is not allowed by profile \"{}\"",
                self.profile
            ));
        }
        if self
            .hidden
            .contains(&(ListKind::Tools as u8, name.to_owned()))
        {
            return Err(format!(
                "tool \"{shown}\" hides characters in its definition"
            ));
        }
        if let Some(p) = self.pins.as_ref().filter(|p| p.mode == PinMode::Enforce) {
            if let Some(reason) = p.withheld.get(name) {
                return Err(reason.clone());
            }
            if !p.first_use && !p.set.tools.contains_key(name) {
                return Err(format!("tool \"{shown}\" is not pinned for this server"));
            }
        }
        Ok(())
    }

    /// Whether the host may get prompt `name`.
    pub fn check_prompt(&self, name: &str) -> Result<(), String> {
        let hidden = self
            .hidden
            .contains(&(ListKind::Prompts as u8, name.to_owned()));
        if !self.policy.prompts.allows(name) || hidden {
            return Err(format!(
                "prompt \"{}\" is not allowed by profile \"{}\"",
                escape_text(name),
                self.profile
            ));
        }
        Ok(())
    }

    /// Whether the host may read (or subscribe to) resource `uri`.
    pub fn check_resource(&self, uri: &str) -> Result<(), String> {
        let hidden = self
            .hidden
            .contains(&(ListKind::Resources as u8, uri.to_owned()));
        if !self.policy.resources.allows(uri) || hidden {
            return Err(format!(
                "resource \"{}\" is not allowed by profile \"{}\"",
                escape_text(uri),
                self.profile
            ));
        }
        Ok(())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    e.source().map_or_else(String::new, |s| s.to_string())
}

/// The hints that would make a host trust a tool more, with the value
/// that does so; absent hints already default to the cautious value.
const TRUSTING_HINTS: [(&str, bool); 4] = [
    ("readOnlyHint", true),
    ("destructiveHint", false),
    ("openWorldHint", false),
    ("idempotentHint", true),
];

/// The tool with its trusting hints turned to the cautious value, or
/// `None` when it has none; an error when it has some but cannot be
/// rewritten (it is then withheld, never passed as it is).
fn distrust_annotations(raw: &str, value: &Value) -> Result<Option<String>, ()> {
    let Some(annotations) = value.get("annotations").and_then(Value::as_object) else {
        return Ok(None);
    };
    let trusting = |k: &str| {
        TRUSTING_HINTS
            .iter()
            .any(|(hint, v)| *hint == k && annotations.get(k) == Some(&Value::Bool(*v)))
    };
    if !annotations.keys().any(|k| trusting(k)) {
        return Ok(None);
    }
    let tool = RawObject::parse(raw).map_err(drop)?;
    let inner = tool.get("annotations").ok_or(())?;
    let inner = RawObject::parse(inner.get()).map_err(drop)?;
    let rewritten = inner.rewrite(|k, v| {
        let flip = trusting(k) && matches!(v.get(), "true" | "false");
        flip.then(|| if v.get() == "true" { "false" } else { "true" }.to_owned())
    });
    Ok(Some(tool.write_with("annotations", &rewritten)))
}
