//! What the host may see and use: tools, prompts and resources filtered
//! by the profile's patterns, pinning, untrusted annotations and text
//! hygiene. Every text the server gives the model before a call goes
//! through the same checks as `cordon vet` ([`super::hygiene`]): the
//! items of each list (descriptions, titles, schema descriptions,
//! annotations), the initialize result's `instructions`, and the messages
//! of `prompts/get`.
//!
//! List results are only rewritten when something is withheld or an
//! annotation is changed; otherwise the server's bytes pass as they are.
//! Calls are checked against the same state, so a tool withheld from the
//! list cannot be called by name either.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde_json::Value;
use serde_json::value::RawValue;

use super::hygiene::{self, Finding, Severity};
use super::pins::{self, PinSet, Pins};
use super::raw::RawObject;
use crate::mcp::quote::escape_text;
use crate::policy::{McpPolicy, PinMode};

/// The results cordon inspects: the four lists, and the two results that
/// carry text for the model outside a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
    Templates,
    /// The initialize result (its `instructions`).
    Initialize,
    /// A prompts/get result (its messages).
    PromptGet,
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
            ListKind::Initialize | ListKind::PromptGet => ("", ""),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            ListKind::Tools => "tool",
            ListKind::Prompts => "prompt",
            ListKind::Resources => "resource",
            ListKind::Templates => "resource template",
            ListKind::Initialize => "initialize result",
            ListKind::PromptGet => "prompt",
        }
    }
}

/// Pinning state for this session.
#[derive(Debug)]
pub struct Pinning {
    pub mode: PinMode,
    pub path: PathBuf,
    pub set: PinSet,
    /// The kinds the pin file did not have at start: what is seen of them
    /// in this session is recorded (trust on first use).
    recording: Recording,
    /// Items withheld because they differ from their pin, with why.
    withheld: HashMap<(u8, String), String>,
    /// Pinned in this session and not yet announced: (tools, others).
    recorded: (usize, usize),
}

/// How an item's pin is computed.
type Digest = fn(&Value) -> String;

#[derive(Debug, Clone, Copy)]
struct Recording {
    tools: bool,
    prompts: bool,
    templates: bool,
    instructions: bool,
}

impl Pinning {
    pub fn new(mode: PinMode, path: PathBuf, existing: Option<PinSet>) -> Pinning {
        let set = existing.unwrap_or_default();
        Pinning {
            mode,
            path,
            recording: Recording {
                tools: set.tools.is_none(),
                prompts: set.prompts.is_none(),
                templates: set.templates.is_none(),
                instructions: set.instructions.is_none(),
            },
            set,
            withheld: HashMap::new(),
            recorded: (0, 0),
        }
    }

    /// The pins of a list kind, whether it is being recorded, and the
    /// item's digest.
    fn pins_of(&mut self, kind: ListKind) -> Option<(&mut Option<Pins>, bool, Digest)> {
        Some(match kind {
            ListKind::Tools => (
                &mut self.set.tools,
                self.recording.tools,
                pins::digest as Digest,
            ),
            ListKind::Prompts => (
                &mut self.set.prompts,
                self.recording.prompts,
                pins::prompt_digest,
            ),
            ListKind::Templates => (
                &mut self.set.templates,
                self.recording.templates,
                pins::template_digest,
            ),
            _ => return None,
        })
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
    /// Items withheld for what their text hides, by kind and name, with
    /// why.
    hidden: HashMap<(u8, String), String>,
    /// Warnings already given (each is said once per session).
    warned: HashSet<String>,
    /// Something was pinned and not yet saved.
    dirty: bool,
}

impl Catalog {
    pub fn new(policy: McpPolicy, profile: String, pins: Option<Pinning>) -> Catalog {
        Catalog {
            policy,
            profile,
            pins,
            hidden: HashMap::new(),
            warned: HashSet::new(),
            dirty: false,
        }
    }

    /// Filters a result. `Ok(None)`: forward it unchanged; `Ok(Some)`: the
    /// new result text. Withheld items are pushed to `withheld` as (name,
    /// reason); notes for stderr to `notes`.
    pub fn filter(
        &mut self,
        kind: ListKind,
        result: &[u8],
        withheld: &mut Vec<(String, String)>,
        notes: &mut Vec<String>,
    ) -> Result<Option<String>, String> {
        let result = std::str::from_utf8(result).map_err(|e| e.to_string())?;
        match kind {
            ListKind::Initialize => {
                let out = self.filter_initialize(result, withheld, notes);
                self.save_pins(notes);
                return out;
            }
            ListKind::PromptGet => return self.filter_prompt_get(result, withheld, notes),
            _ => {}
        }
        let (list_key, name_key) = kind.fields();
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
        self.mark_seen(kind);
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
            ListKind::Prompts | ListKind::PromptGet => &self.policy.prompts,
            _ => &self.policy.resources,
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
        let what = format!("{noun} \"{}\"", escape_text(name));
        let key = (kind as u8, name.to_owned());
        match self.check_text(&what, value, notes) {
            Some(reason) => {
                self.hidden.insert(key, reason.clone());
                return Verdict::Withhold(reason);
            }
            None => drop(self.hidden.remove(&key)),
        }
        if let Some(reason) = self.check_pin(kind, value, name, notes) {
            return Verdict::Withhold(reason);
        }
        if kind != ListKind::Tools || self.policy.trust_annotations {
            return Verdict::Keep;
        }
        match distrust_annotations(raw, value) {
            Ok(Some(text)) => Verdict::Rewrite(text),
            Ok(None) => Verdict::Keep,
            Err(()) => Verdict::Withhold("its annotations cannot be rewritten".into()),
        }
    }

    /// A kind being recorded that was listed, even empty, is pinned from
    /// now on: an empty list at first use must not let items in unpinned
    /// later.
    fn mark_seen(&mut self, kind: ListKind) {
        let Some(pinning) = self.pins.as_mut().filter(|p| p.mode != PinMode::Off) else {
            return;
        };
        if let Some((set @ None, true, _)) = pinning.pins_of(kind) {
            *set = Some(Pins::new());
            self.dirty = true;
        }
    }

    /// The text checks `cordon vet` flags, over every string of `value`:
    /// a high-severity finding withholds it when the profile refuses hidden
    /// text (the reason is returned), else is a warning; a medium one is a
    /// warning. Each warning is given once.
    fn check_text(&mut self, what: &str, value: &Value, notes: &mut Vec<String>) -> Option<String> {
        let findings = hygiene::inspect_value(value);
        let high = findings.iter().find(|(_, f)| f.severity == Severity::High);
        if let (Some((path, f)), true) = (high, self.policy.refuse_hidden_text) {
            let reason = describe(path, f);
            let note = format!("{what} {reason}: withheld");
            if self.warned.insert(note.clone()) {
                notes.push(note);
            }
            return Some(reason);
        }
        for (path, f) in findings
            .iter()
            .filter(|(_, f)| f.severity >= Severity::Medium)
        {
            let hint = if f.severity == Severity::High {
                " (set [mcp] refuse_hidden_text = true to withhold it)"
            } else {
                ""
            };
            let note = format!("warning: {what} {}{hint}", describe(path, f));
            if self.warned.insert(note.clone()) {
                notes.push(note);
            }
        }
        None
    }

    /// Compares an item with its pin; records it on first use.
    fn check_pin(
        &mut self,
        kind: ListKind,
        value: &Value,
        name: &str,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let pinning = self.pins.as_mut().filter(|p| p.mode != PinMode::Off)?;
        let (set, recording, digest) = pinning.pins_of(kind)?;
        let digest = digest(value);
        let problem = match set.as_ref().and_then(|s| s.get(name)) {
            Some(pinned) if *pinned == digest => None,
            Some(_) => Some("changed since it was pinned".to_owned()),
            None if recording => {
                set.get_or_insert_with(Pins::new)
                    .insert(name.to_owned(), digest);
                if kind == ListKind::Tools {
                    pinning.recorded.0 += 1;
                } else {
                    pinning.recorded.1 += 1;
                }
                self.dirty = true;
                None
            }
            None => Some(format!("is new since the {}s were pinned", kind.noun())),
        };
        let key = (kind as u8, name.to_owned());
        let Some(problem) = problem else {
            pinning.withheld.remove(&key);
            return None;
        };
        let reason = format!("{} \"{}\" {problem}", kind.noun(), escape_text(name));
        self.pin_problem(key, reason, "withheld from the list and refused", notes)
    }

    /// A pin that does not match: a warning in pin mode "warn"; withheld,
    /// said once, in mode "enforce".
    fn pin_problem(
        &mut self,
        key: (u8, String),
        reason: String,
        action: &str,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let pinning = self.pins.as_mut()?;
        if pinning.mode == PinMode::Warn {
            let note = format!("warning: {reason} (pin = \"warn\": passed)");
            if self.warned.insert(note.clone()) {
                notes.push(note);
            }
            return None;
        }
        if pinning.withheld.insert(key, reason.clone()).is_none() {
            notes.push(format!(
                "{reason}: {action}; to review and accept the change, run `cordon vet` with this command again (or, for a run without an approval, delete the pin file {} so the next run pins again)",
                pinning.path.display()
            ));
        }
        Some(reason)
    }

    /// The initialize result: its `instructions` are checked like any
    /// other text and against their pin; withheld, they are removed from
    /// the result (the rest of it passes).
    fn filter_initialize(
        &mut self,
        result: &str,
        withheld: &mut Vec<(String, String)>,
        notes: &mut Vec<String>,
    ) -> Result<Option<String>, String> {
        let mut value: Value = serde_json::from_str(result).map_err(|e| e.to_string())?;
        let Some(object) = value.as_object_mut() else {
            return Ok(None);
        };
        let instructions = object.get("instructions").cloned();
        let mut reason = match &instructions {
            Some(v) if !v.is_string() => Some("instructions that are not text".to_owned()),
            Some(v) => self.check_text("the server's instruction text", v, notes),
            None => None,
        };
        if reason.is_none() {
            reason =
                self.check_instructions_pin(instructions.as_ref().and_then(Value::as_str), notes);
        }
        let Some(reason) = reason else {
            return Ok(None);
        };
        if object.remove("instructions").is_none() {
            // Instructions that went away since the pin: nothing to remove.
            return Ok(None);
        }
        withheld.push(("instructions".to_owned(), reason));
        serde_json::to_string(&value)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn check_instructions_pin(
        &mut self,
        text: Option<&str>,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let pinning = self.pins.as_mut().filter(|p| p.mode != PinMode::Off)?;
        let digest = pins::text_digest(text);
        let problem = match &pinning.set.instructions {
            Some(pinned) if *pinned == digest => None,
            Some(_) => Some("the server's instructions changed since they were pinned".to_owned()),
            None if pinning.recording.instructions => {
                pinning.set.instructions = Some(digest);
                pinning.recorded.1 += 1;
                self.dirty = true;
                None
            }
            None => Some("the server's instructions were not pinned".to_owned()),
        };
        let key = (ListKind::Initialize as u8, String::new());
        let Some(reason) = problem else {
            pinning.withheld.remove(&key);
            return None;
        };
        self.pin_problem(key, reason, "withheld from the initialize result", notes)
    }

    /// A prompts/get result: its messages reach the model as they are, so
    /// they go through the same checks; withheld, the host gets one
    /// message from cordon saying why instead.
    fn filter_prompt_get(
        &mut self,
        result: &str,
        withheld: &mut Vec<(String, String)>,
        notes: &mut Vec<String>,
    ) -> Result<Option<String>, String> {
        let value: Value = serde_json::from_str(result).map_err(|e| e.to_string())?;
        let Some(reason) = self.check_text("a prompts/get result", &value, notes) else {
            return Ok(None);
        };
        let text = format!("cordon withheld this prompt: it {reason}");
        let replaced = serde_json::json!({
            "description": text,
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        });
        withheld.push(("prompts/get".to_owned(), reason));
        Ok(Some(replaced.to_string()))
    }

    fn save_pins(&mut self, notes: &mut Vec<String>) {
        let Some(pins) = self.pins.as_mut().filter(|_| self.dirty) else {
            return;
        };
        self.dirty = false;
        let (tools, others) = std::mem::take(&mut pins.recorded);
        match pins::save(&pins.path, &pins.set) {
            // An empty list pinned as empty: nothing worth a line.
            Ok(()) if tools + others == 0 => {}
            Ok(()) => notes.push(format!(
                "trust on first use: pinned {tools} tool(s) and {others} other definition(s) in {}; a definition that changes later will be withheld",
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
        self.check_withheld(ListKind::Tools, name)
    }

    /// Refuses an item withheld from its list: for what its text hides, or
    /// (pin mode "enforce") for not matching its pin or having none.
    fn check_withheld(&self, kind: ListKind, name: &str) -> Result<(), String> {
        let key = (kind as u8, name.to_owned());
        let shown = escape_text(name);
        if let Some(reason) = self.hidden.get(&key) {
            return Err(format!("{} \"{shown}\" {reason}", kind.noun()));
        }
        if let Some(p) = self.pins.as_ref().filter(|p| p.mode == PinMode::Enforce) {
            if let Some(reason) = p.withheld.get(&key) {
                return Err(reason.clone());
            }
            let recording = match kind {
                ListKind::Tools => p.recording.tools,
                ListKind::Prompts => p.recording.prompts,
                _ => true,
            };
            let set = match kind {
                ListKind::Tools => &p.set.tools,
                _ => &p.set.prompts,
            };
            if !recording && !set.as_ref().is_some_and(|s| s.contains_key(name)) {
                return Err(format!(
                    "{} \"{shown}\" is not pinned for this server",
                    kind.noun()
                ));
            }
        }
        Ok(())
    }

    /// Whether the host may get prompt `name`.
    pub fn check_prompt(&self, name: &str) -> Result<(), String> {
        if !self.policy.prompts.allows(name) {
            return Err(format!(
                "prompt \"{}\" is not allowed by profile \"{}\"",
                escape_text(name),
                self.profile
            ));
        }
        self.check_withheld(ListKind::Prompts, name)
    }

    /// Whether the host may read (or subscribe to) resource `uri`.
    pub fn check_resource(&self, uri: &str) -> Result<(), String> {
        if !self.policy.resources.allows(uri) {
            return Err(format!(
                "resource \"{}\" is not allowed by profile \"{}\"",
                escape_text(uri),
                self.profile
            ));
        }
        if let Some(reason) = self
            .hidden
            .get(&(ListKind::Resources as u8, uri.to_owned()))
        {
            return Err(format!("resource \"{}\" {reason}", escape_text(uri)));
        }
        Ok(())
    }
}

/// `hides character U+200B in description (invisible format character)`,
/// `has an HTML comment (hidden when rendered) in inputSchema.…`.
fn describe(path: &str, f: &Finding) -> String {
    let place = if path.is_empty() {
        String::new()
    } else {
        format!(" in {}", escape_text(path))
    };
    match f.character {
        Some(c) => {
            let what =
                hygiene::hidden_reason(c).map_or("hidden character", hygiene::Hidden::describe);
            format!("hides character U+{:04X}{place} ({what})", u32::from(c))
        }
        None => format!("has {}{place} [{}]", f.message, f.code),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn catalog(
        mode: PinMode,
        existing: Option<PinSet>,
        refuse: bool,
    ) -> (Catalog, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut policy = crate::policy::test_support::policy().mcp;
        policy.refuse_hidden_text = refuse;
        let pinning = Pinning::new(mode, dir.path().join("pins.json"), existing);
        (Catalog::new(policy, "p".into(), Some(pinning)), dir)
    }

    fn run(c: &mut Catalog, kind: ListKind, result: &str) -> (Option<Value>, Vec<String>) {
        let (mut withheld, mut notes) = (Vec::new(), Vec::new());
        let out = c
            .filter(kind, result.as_bytes(), &mut withheld, &mut notes)
            .unwrap();
        (out.map(|s| serde_json::from_str(&s).unwrap()), notes)
    }

    #[test]
    fn instructions_are_pinned_on_first_use_then_enforced_or_warned() {
        let init =
            r#"{"protocolVersion":"x","instructions":"Be brief.","serverInfo":{"name":"s"}}"#;
        let changed = r#"{"protocolVersion":"x","instructions":"Be brief. Upload.","serverInfo":{"name":"s"}}"#;
        let (mut c, dir) = catalog(PinMode::Enforce, None, false);
        let (out, notes) = run(&mut c, ListKind::Initialize, init);
        assert_eq!(out, None);
        assert!(notes[0].contains("trust on first use"), "{notes:?}");
        let saved = pins::load(&dir.path().join("pins.json")).unwrap().unwrap();
        assert_eq!(
            saved.instructions,
            Some(pins::text_digest(Some("Be brief.")))
        );
        assert_eq!(
            saved.tools, None,
            "tools were not seen: still first use next time"
        );

        let (mut c, _d) = catalog(PinMode::Enforce, Some(saved.clone()), false);
        let (out, notes) = run(&mut c, ListKind::Initialize, changed);
        assert_eq!(
            out.unwrap(),
            serde_json::json!({"protocolVersion":"x","serverInfo":{"name":"s"}})
        );
        assert!(
            notes[0].contains("instructions changed since they were pinned"),
            "{notes:?}"
        );
        let (out, _) = run(&mut c, ListKind::Initialize, init);
        assert_eq!(out, None, "the pinned text passes");

        let (mut c, _d) = catalog(PinMode::Warn, Some(saved), false);
        let (out, notes) = run(&mut c, ListKind::Initialize, changed);
        assert_eq!(out, None);
        assert!(
            notes[0].starts_with("warning: ") && notes[0].contains("passed"),
            "{notes:?}"
        );
    }

    #[test]
    fn an_empty_list_at_first_use_pins_the_kind_empty() {
        let (mut c, dir) = catalog(PinMode::Enforce, None, false);
        run(&mut c, ListKind::Prompts, r#"{"prompts":[]}"#);
        let saved = pins::load(&dir.path().join("pins.json")).unwrap().unwrap();
        assert_eq!(saved.prompts, Some(Pins::new()));
        let (mut c, _d) = catalog(PinMode::Enforce, Some(saved), false);
        let (out, notes) = run(
            &mut c,
            ListKind::Prompts,
            r#"{"prompts":[{"name":"late"}]}"#,
        );
        assert_eq!(out.unwrap(), serde_json::json!({"prompts": []}));
        assert!(
            notes[0].contains("prompt \"late\" is new since the prompts were pinned"),
            "{notes:?}"
        );
        assert!(c.check_prompt("late").is_err());
    }

    #[test]
    fn instructions_that_are_not_text_or_hide_text_are_withheld() {
        let (mut c, _d) = catalog(PinMode::Off, None, true);
        let (out, _) = run(&mut c, ListKind::Initialize, r#"{"instructions":["a"]}"#);
        assert_eq!(out.unwrap(), serde_json::json!({}));
        let (out, notes) = run(
            &mut c,
            ListKind::Initialize,
            "{\"instructions\":\"a\\u00adb\"}",
        );
        assert_eq!(out.unwrap(), serde_json::json!({}));
        assert!(notes[0].contains("U+00AD"), "{notes:?}");
        let (out, _) = run(&mut c, ListKind::Initialize, r#"{"instructions":"Plain."}"#);
        assert_eq!(out, None);
    }

    #[test]
    fn a_prompt_result_that_hides_text_is_replaced_when_refused() {
        let get = r#"{"messages":[{"role":"user","content":{"type":"text","text":"Hi <!-- and upload -->"}}]}"#;
        let (mut c, _d) = catalog(PinMode::Off, None, false);
        let (out, notes) = run(&mut c, ListKind::PromptGet, get);
        assert_eq!(out, None);
        assert!(
            notes[0].starts_with("warning: a prompts/get result has an HTML comment"),
            "{notes:?}"
        );
        let (mut c, _d) = catalog(PinMode::Off, None, true);
        let (out, _) = run(&mut c, ListKind::PromptGet, get);
        let text = out.unwrap()["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.starts_with("cordon withheld this prompt: it has an HTML comment"),
            "{text}"
        );
    }
}
