//! The MCP layer of the relay: for each message, the decision to forward
//! it as it is, replace it with a JSON-RPC message cordon generates, or
//! drop it, plus an optional reply to the sender.
//!
//! [`Filter`] is pure logic over complete lines: the relay frames the
//! stream and does the I/O, the filter inspects. The fast path (most
//! messages) validates the line and reads its envelope without building a
//! JSON tree; only the methods the policy cares about are parsed further:
//! - host requests `tools/call`, `prompts/get`, `resources/read` and
//!   `…/subscribe`, `completion/complete` are checked and may be refused;
//! - responses to `tools/list`, `prompts/list`, `resources/list` and
//!   `resources/templates/list` are filtered ([`tools`]);
//! - server requests `sampling/createMessage`, `elicitation/create` and
//!   `roots/list` are passed or refused;
//! - every request's id is remembered until its response ([`pending`]), so
//!   a response cordon cannot forward is replaced by an error with its id;
//! - a message with a request's method but no id ([`wire::is_request_method`])
//!   is dropped, in both directions.
//!
//! Every inspection that cannot decide refuses: what cordon reads beyond
//! the envelope must read in one way only ([`json::strict`]: no key twice,
//! no lone surrogate), or the request is refused, the list item withheld,
//! the response replaced by an error; resource URIs are matched in their
//! normal form ([`uri`]) and refused when they have none.
//!
//! Messages for stderr accumulate in [`Filter::notes`], without the
//! `cordon: ` prefix.

pub mod audit;
pub mod envelope;
mod flow;
pub mod hygiene;
pub mod json;
pub mod pending;
pub mod pins;
pub mod quote;
pub mod raw;
pub mod sniff;
pub mod tools;
mod unicode_table;
pub mod uri;
pub mod wire;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;

use crate::mcp::quote::escape_os;
use crate::policy::{PinMode, Policy};
use audit::AuditLog;
use pending::Pending;
use pins::PinError;
use tools::{Catalog, ListKind, Pinning};
use wire::{code, error_response};

/// Who sent a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Host,
    Server,
}

impl Side {
    fn stream(self) -> &'static str {
        match self {
            Side::Host => "host stdin",
            Side::Server => "server stdout",
        }
    }
}

/// What happens to the line itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its original bytes go on.
    Forward,
    /// This complete line (with its newline) goes on in its place.
    Replace(Vec<u8>),
    Drop,
}

/// The decision for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// A complete line sent back to the line's sender.
    pub reply: Option<Vec<u8>>,
}

impl Decision {
    pub const FORWARD: Decision = Decision {
        verdict: Verdict::Forward,
        reply: None,
    };
    pub const DROP: Decision = Decision {
        verdict: Verdict::Drop,
        reply: None,
    };

    fn reply(line: Vec<u8>) -> Decision {
        Decision {
            verdict: Verdict::Drop,
            reply: Some(line),
        }
    }

    fn replace(line: Vec<u8>) -> Decision {
        Decision {
            verdict: Verdict::Replace(line),
            reply: None,
        }
    }
}

/// A line longer than the limit, discarded: what the relay could read of
/// it on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlong {
    /// Its length without the newline.
    pub len: u64,
    /// The JSON text of its top-level `id`, when one was found.
    pub id: Option<String>,
    /// It has a top-level `method`.
    pub has_method: bool,
    /// Its first bytes, for the note.
    pub prefix: Vec<u8>,
}

/// What a host request waits for.
#[derive(Debug)]
enum Waiting {
    List(ListKind),
    Call(Call),
    Other,
}

/// A tool call in flight, for the audit log.
#[derive(Debug)]
struct Call {
    tool: String,
    start: Instant,
    request_bytes: usize,
    arguments: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

/// Where the relay keeps its state for one run.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// `$XDG_STATE_HOME/cordon`.
    pub state_dir: PathBuf,
    /// `--pin FILE`, else the default under `state_dir`.
    pub pin_file: Option<PathBuf>,
    /// The server's command line, which names its default pin file.
    pub argv: Vec<OsString>,
}

/// The per-message policy of one session.
#[derive(Debug)]
pub struct Filter {
    max_message_size: usize,
    profile: String,
    sampling: bool,
    elicitation: bool,
    roots: bool,
    catalog: Catalog,
    host_requests: Pending<Waiting>,
    server_requests: Pending<()>,
    audit: Option<AuditLog>,
    audit_failed: bool,
    /// Tools withheld because cordon could not read them in one way
    /// only: their calls are refused for the rest of the session.
    unreadable_tools: std::collections::HashSet<String>,
    /// The id of the host's first request (`initialize`), answered by
    /// cordon if the server ends before it does.
    first_request: Option<String>,
    /// Lines for stderr, drained by the relay.
    pub notes: Vec<String>,
}

impl Filter {
    /// The filter for `policy`: loads the pins, opens the audit log.
    pub fn new(policy: &Policy, files: &RunFiles) -> Result<Filter, McpError> {
        let mcp = &policy.mcp;
        let pinning = match mcp.pin {
            PinMode::Off => None,
            mode => {
                let path = files.pin_file.clone().unwrap_or_else(|| {
                    pins::default_path(&files.state_dir, &policy.name, &files.argv)
                });
                let existing = pins::load(&path)?;
                Some(Pinning::new(mode, path, existing))
            }
        };
        let audit = match &mcp.audit {
            None => None,
            Some(a) => {
                let path = a.path.clone().unwrap_or_else(|| {
                    files
                        .state_dir
                        .join(crate::dirs::AUDIT)
                        .join(format!("{}.jsonl", policy.name))
                });
                let log = AuditLog::open_in(&path, &files.state_dir, a.arguments, secrets(policy))?;
                Some(log)
            }
        };
        Ok(Filter {
            max_message_size: mcp.max_message_size,
            profile: policy.name.clone(),
            sampling: mcp.sampling,
            elicitation: mcp.elicitation,
            roots: mcp.roots,
            catalog: Catalog::new(mcp.clone(), policy.name.clone(), pinning),
            host_requests: Pending::default(),
            server_requests: Pending::default(),
            audit,
            audit_failed: false,
            unreadable_tools: std::collections::HashSet::new(),
            first_request: None,
            notes: Vec::new(),
        })
    }

    /// Whether the host has sent a request yet.
    pub fn host_sent_request(&self) -> bool {
        self.first_request.is_some()
    }

    /// The server ended: the error response for the host's first request
    /// when it still waits for its answer (a server that failed at start
    /// never answers `initialize`), once.
    pub fn answer_first_request(&mut self, code: i64, message: &str) -> Option<Vec<u8>> {
        let id = self.first_request.as_deref()?;
        self.host_requests.remove(id)?;
        Some(error_response(id, code, message))
    }

    /// The largest message the relay passes, in bytes without newline.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Decides about one complete line (without its newline).
    pub fn on_line(&mut self, from: Side, line: &[u8]) -> Decision {
        self.on_parsed(from, line, envelope::parse(line))
    }

    /// Decides about a line already parsed: the relay's threads parse
    /// their lines in parallel, outside the lock around the filter.
    pub fn on_parsed(
        &mut self,
        from: Side,
        line: &[u8],
        parsed: Result<envelope::Envelope<'_>, envelope::Rejected<'_>>,
    ) -> Decision {
        match parsed {
            Ok(env) => self.on_message(from, &env, line.len()),
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => Decision::DROP,
            Err(rejected) => {
                let why = rejected.why.to_string();
                self.note_line(from, &why, line);
                self.unusable(
                    from,
                    rejected.id,
                    rejected.has_method,
                    "not forwarded",
                    &why,
                )
            }
        }
    }

    /// Decides about a line that exceeded the size limit.
    pub fn on_overlong(&mut self, from: Side, line: &Overlong) -> Decision {
        let why = format!(
            "{} bytes, over the {}-byte limit",
            line.len, self.max_message_size
        );
        self.note_line(from, &why, &line.prefix);
        let what = format!(
            "exceeded the maximum message size ({} bytes)",
            self.max_message_size
        );
        self.unusable(from, line.id.as_deref(), line.has_method, &what, &why)
    }

    /// A line that cannot be forwarded: a request gets an error back; a
    /// response to a request in flight is replaced by an error so the
    /// requester does not wait forever.
    fn unusable(
        &mut self,
        from: Side,
        id: Option<&str>,
        has_method: bool,
        what: &str,
        why: &str,
    ) -> Decision {
        let Some(id) = id else {
            return Decision::DROP;
        };
        if has_method {
            let message = format!("cordon: request {what}: {why}");
            return Decision::reply(error_response(id, code::INVALID_REQUEST, &message));
        }
        let answered = match from {
            Side::Server => match self.host_requests.remove(id) {
                Some(Waiting::Call(call)) => {
                    self.audit_call(call, id, "jsonrpc-error", None, None);
                    true
                }
                Some(_) => true,
                None => false,
            },
            Side::Host => self.server_requests.remove(id).is_some(),
        };
        if !answered {
            return Decision::DROP;
        }
        let message = format!("cordon: response {what}");
        Decision::replace(error_response(id, code::INTERNAL_ERROR, &message))
    }

    /// `cordon: server stdout (not forwarded: why): <line…>`.
    fn note_line(&mut self, from: Side, why: &str, line: &[u8]) {
        self.notes.push(format!(
            "{} (not forwarded: {why}): {}",
            from.stream(),
            excerpt(line)
        ));
    }

    fn audit_append(&mut self, entry: audit::Entry) {
        let Some(log) = &mut self.audit else { return };
        if let Err(e) = log.append(entry) {
            if !self.audit_failed {
                self.audit_failed = true;
                let path = log.path().display().to_string();
                self.notes
                    .push(format!("warning: cannot write the audit log {path}: {e}"));
            }
        }
    }
}

/// At most this many characters of a line are shown in a note.
const EXCERPT_CHARS: usize = 200;

/// The start of a line, escaped for a terminal and cut to
/// [`EXCERPT_CHARS`] characters.
pub fn excerpt(line: &[u8]) -> String {
    let head = &line[..line.len().min(EXCERPT_CHARS * 4)];
    let escaped = escape_os(OsStr::from_bytes(head));
    let mut out: String = escaped.chars().take(EXCERPT_CHARS).collect();
    if out.len() < escaped.len() || head.len() < line.len() {
        out.push('…');
    }
    out
}

/// The values the audit log must never contain: those of the variables
/// passed through from cordon's environment, and those the profile sets.
fn secrets(policy: &Policy) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in &policy.env.pass {
        if let Ok(value) = std::env::var(name) {
            out.push((name.clone(), value));
        }
    }
    for (name, value) in &policy.env.set {
        if let Some(value) = value.to_str() {
            out.push((name.clone(), value.to_owned()));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::policy::NameRules;

    fn filter(edit: impl FnOnce(&mut crate::policy::McpPolicy)) -> Filter {
        let mut policy = crate::policy::test_support::policy();
        policy.mcp.pin = PinMode::Off;
        edit(&mut policy.mcp);
        let files = RunFiles {
            state_dir: PathBuf::from("/nonexistent"),
            pin_file: None,
            argv: Vec::new(),
        };
        Filter::new(&policy, &files).unwrap()
    }

    #[test]
    fn only_notifications_the_filter_ignores_skip_it() {
        let lines: [(&[u8], bool); 6] = [
            (
                br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#,
                true,
            ),
            (
                br#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#,
                true,
            ),
            (
                br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
                false,
            ),
            (
                br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
                false,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
                false,
            ),
            (br#"{"jsonrpc":"2.0","id":1,"result":{}}"#, false),
        ];
        let mut f = filter(|_| {});
        for (line, stateless) in lines {
            let env = envelope::parse(line).unwrap();
            assert_eq!(Filter::passes_statelessly(&env), stateless, "{env:?}");
            if stateless {
                for side in [Side::Host, Side::Server] {
                    let d = f.on_line(side, line);
                    assert!(matches!(d.verdict, Verdict::Forward) && d.reply.is_none());
                }
            }
        }
    }

    /// A generated line: a valid MCP message; returns it as JSON.
    fn generated(line: &[u8]) -> Value {
        let text = line.strip_suffix(b"\n").unwrap();
        envelope::parse(text).unwrap();
        serde_json::from_slice(text).unwrap()
    }

    #[test]
    fn responses_must_answer_a_request_in_flight() {
        let mut f = filter(|_| {});
        let response = br#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert_eq!(f.on_line(Side::Server, response), Decision::DROP);
        assert!(f.notes[0].contains("a response to no host request in flight"));
        let request = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(f.on_line(Side::Host, request), Decision::FORWARD);
        assert_eq!(f.on_line(Side::Server, response), Decision::FORWARD);
        assert_eq!(
            f.on_line(Side::Server, response),
            Decision::DROP,
            "answered once"
        );
    }

    #[test]
    fn a_refused_call_is_answered_by_cordon() {
        let mut f = filter(|m| {
            m.tools = NameRules {
                allow: vec!["read_*".into()],
                deny: Vec::new(),
            }
        });
        let call = br#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"rm"}}"#;
        let d = f.on_line(Side::Host, call);
        assert_eq!(d.verdict, Verdict::Drop);
        let reply = generated(&d.reply.unwrap());
        assert_eq!(reply["id"], "c");
        assert_eq!(reply["error"]["code"], code::INVALID_PARAMS);
        let dup = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_x","name":"rm"}}"#;
        assert_eq!(
            f.on_line(Side::Host, dup).verdict,
            Verdict::Drop,
            "no parser differential"
        );
    }

    #[test]
    fn an_overlong_response_becomes_an_error_for_its_request() {
        let mut f = filter(|_| {});
        f.on_line(
            Side::Host,
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t"}}"#,
        );
        let line = Overlong {
            len: 1 << 30,
            id: Some("7".into()),
            has_method: false,
            prefix: b"{\"jsonrpc\"".to_vec(),
        };
        let Verdict::Replace(error) = f.on_overlong(Side::Server, &line).verdict else {
            panic!("not replaced")
        };
        let error = generated(&error);
        assert_eq!(error["id"], 7);
        assert_eq!(error["error"]["code"], -32603);
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("cordon: response exceeded the maximum message size"));
        assert_eq!(
            f.on_overlong(Side::Server, &line),
            Decision::DROP,
            "once only"
        );
    }

    #[test]
    fn server_requests_follow_the_profile() {
        let mut f = filter(|m| m.roots = false);
        let sampling =
            br#"{"jsonrpc":"2.0","id":"s","method":"sampling/createMessage","params":{}}"#;
        let d = f.on_line(Side::Server, sampling);
        assert_eq!(d.verdict, Verdict::Drop);
        assert_eq!(
            generated(&d.reply.unwrap())["error"]["code"],
            code::METHOD_NOT_FOUND
        );
        let roots = br#"{"jsonrpc":"2.0","id":"r","method":"roots/list"}"#;
        assert_eq!(f.on_line(Side::Server, roots).verdict, Verdict::Drop);
        let ping = br#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
        assert_eq!(f.on_line(Side::Server, ping), Decision::FORWARD);
        let pong = br#"{"jsonrpc":"2.0","id":"p","result":{}}"#;
        assert_eq!(f.on_line(Side::Host, pong), Decision::FORWARD);
    }

    #[test]
    fn lists_are_rewritten_only_when_something_is_withheld() {
        let mut f = filter(|m| {
            m.tools = NameRules {
                allow: vec!["*".into()],
                deny: vec!["rm".into()],
            }
        });
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        f.on_line(Side::Host, list);
        let same =
            br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ls"}],"nextCursor":"n"}}"#;
        assert_eq!(f.on_line(Side::Server, same), Decision::FORWARD);
        f.on_line(Side::Host, list);
        let both = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ls"},{"name":"rm"}],"nextCursor":"n"}}"#;
        let Verdict::Replace(line) = f.on_line(Side::Server, both).verdict else {
            panic!("not filtered")
        };
        assert_eq!(
            line,
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"ls\"}],\"nextCursor\":\"n\"}}\n"
        );
    }

    #[test]
    fn requests_without_an_id_are_dropped_both_ways() {
        let mut f = filter(|_| {});
        for (side, line) in [
            (
                Side::Host,
                &br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"rm"}}"#[..],
            ),
            (Side::Host, br#"{"jsonrpc":"2.0","method":"tools\/call"}"#),
            (Side::Host, br#"{"jsonrpc":"2.0","method":"tasks/get"}"#),
            (
                Side::Server,
                br#"{"jsonrpc":"2.0","method":"sampling/createMessage","params":{}}"#,
            ),
            (Side::Server, br#"{"jsonrpc":"2.0","method":"roots/list"}"#),
        ] {
            let env = envelope::parse(line).unwrap();
            assert!(!Filter::passes_statelessly(&env));
            assert_eq!(f.on_line(side, line), Decision::DROP);
            assert!(f.notes.pop().unwrap().contains("request without an id"));
        }
        let other = br#"{"jsonrpc":"2.0","method":"x/custom"}"#;
        assert_eq!(f.on_line(Side::Server, other), Decision::FORWARD);
    }

    #[test]
    fn a_tool_with_a_key_twice_is_withheld_and_its_list_rewritten() {
        let mut f = filter(|_| {});
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        f.on_line(Side::Host, list);
        let dup = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ok"},{"name":"rm","annotations":{"destructiveHint":false,"destructiveHint":false,"readOnlyHint":true}}]}}"#;
        let Verdict::Replace(line) = f.on_line(Side::Server, dup).verdict else {
            panic!("forwarded as it is")
        };
        assert_eq!(
            generated(&line)["result"]["tools"],
            serde_json::json!([{"name": "ok"}])
        );
        assert!(
            f.notes
                .iter()
                .any(|n| n.contains("tool \"rm\" cannot be inspected"))
        );
        f.on_line(Side::Host, list);
        let outside = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[],"_meta":{"a":1,"a":2}}}"#;
        let Verdict::Replace(line) = f.on_line(Side::Server, outside).verdict else {
            panic!("forwarded as it is")
        };
        assert_eq!(generated(&line)["error"]["code"], code::INTERNAL_ERROR);
    }

    #[test]
    fn resources_are_checked_in_their_normal_form() {
        let mut f = filter(|m| {
            m.resources = NameRules {
                allow: vec!["file:///home/me/*".into()],
                deny: vec![
                    "file:///home/me/.ssh/*".into(),
                    "file:///home/me/secret".into(),
                ],
            }
        });
        let read = |uri: &str| {
            let line = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read",
                "params": {"uri": uri}});
            line.to_string()
        };
        for uri in [
            "file:///home/me/notes/../.ssh/id_rsa",
            "FILE://LOCALHOST/home/me/%2essh/id_rsa",
            "file:///home/me/./.ssh/id_rsa",
            "file:///home/me//.ssh/id_rsa",
            "file:///home/me/notes/..%2F.ssh/id_rsa",
            "file:///home/me/secret?x",
        ] {
            let d = f.on_line(Side::Host, read(uri).as_bytes());
            assert_eq!(d.verdict, Verdict::Drop, "{uri}");
            assert_eq!(
                generated(&d.reply.unwrap())["error"]["code"],
                code::INVALID_PARAMS
            );
        }
        let ok = read("file:///home/me/notes/./a.txt");
        assert_eq!(f.on_line(Side::Host, ok.as_bytes()), Decision::FORWARD);
    }

    #[test]
    fn notes_escape_what_they_show() {
        let mut f = filter(|_| {});
        f.on_line(Side::Server, b"\x1b[31mred\xff");
        assert_eq!(
            f.notes,
            ["server stdout (not forwarded: not JSON): \\x1b[31mred\\xff"]
        );
        assert!(excerpt(&[b'a'; 1000]).ends_with('…'));
        assert_eq!(excerpt(&[b'a'; 1000]).chars().count(), EXCERPT_CHARS + 1);
    }
}
