//! The per-method part of [`Filter`]: requests are checked and recorded,
//! responses matched to their request and, for lists, filtered.

use std::borrow::Cow;
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::audit::Entry;
use super::envelope::{Envelope, Kind};
use super::json::strict;
use super::tools::{self, ListKind};
use super::uri;
use super::wire::{code, error_response, is_request_method};
use super::{Call, Decision, Filter, Side, Waiting};
use crate::mcp::quote::escape_text;

/// Arguments and results larger than this are not copied into the audit
/// log (their size still is): the log and cordon's memory stay bounded.
const AUDIT_VALUE_MAX: usize = 64 * 1024;

#[derive(Deserialize)]
struct NameParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UriParams<'a> {
    #[serde(borrow)]
    uri: Cow<'a, str>,
}

#[derive(Deserialize)]
struct CompleteParams<'a> {
    #[serde(borrow, rename = "ref")]
    reference: CompleteRef<'a>,
}

#[derive(Deserialize)]
struct CompleteRef<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uri: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Cancelled<'a> {
    #[serde(borrow, rename = "requestId")]
    request_id: &'a RawValue,
}

#[derive(Deserialize)]
struct CallOutcome {
    #[serde(default, rename = "isError")]
    is_error: bool,
}

/// What a host request names: what the profile's patterns are checked
/// against.
enum Target {
    Tool(String),
    Prompt(String),
    Resource(String),
    /// Nothing named (or a server request): only the method is refused.
    Method,
}

/// The list a request asks for, whose result is filtered.
fn list_kind(method: &str) -> Option<ListKind> {
    Some(match method {
        "tools/list" => ListKind::Tools,
        "prompts/list" => ListKind::Prompts,
        "resources/list" => ListKind::Resources,
        "resources/templates/list" => ListKind::Templates,
        "initialize" => ListKind::Initialize,
        _ => return None,
    })
}

/// What a host request names, from its params; `None` for a method that
/// names nothing. Params that do not parse are an error: a request cordon
/// cannot read is not passed on.
fn target_of(env: &Envelope<'_>, method: &str) -> Result<Option<Target>, String> {
    Ok(Some(match method {
        "tools/call" => Target::Tool(params::<NameParams<'_>>(env)?.name.into_owned()),
        "prompts/get" => Target::Prompt(params::<NameParams<'_>>(env)?.name.into_owned()),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            resource(&params::<UriParams<'_>>(env)?.uri)?
        }
        "completion/complete" => {
            let r = params::<CompleteParams<'_>>(env)?.reference;
            match (r.kind.as_ref(), r.name, r.uri) {
                ("ref/prompt", Some(name), _) => Target::Prompt(name.into_owned()),
                // A template (`file:///{path}`) is matched as it is, like
                // the templates of a list; a plain URI in its normal form.
                ("ref/resource", _, Some(uri)) if uri.contains('{') => {
                    Target::Resource(uri.into_owned())
                }
                ("ref/resource", _, Some(uri)) => resource(&uri)?,
                (kind, _, _) => {
                    return Err(format!(
                        "invalid params: a completion reference cordon cannot check ({})",
                        escape_text(kind)
                    ));
                }
            }
        }
        _ => return Ok(None),
    }))
}

/// A resource named by its URI, in the normal form the profile's
/// patterns are matched against ([`uri`]).
fn resource(raw: &str) -> Result<Target, String> {
    uri::normalize(raw)
        .map(Target::Resource)
        .map_err(|e| format!("resource URI \"{}\" is refused: {e}", escape_text(raw)))
}

/// The params as `T`. Only an object is read: serde would also fill a
/// struct from an array by position, which the server would not.
fn params<'a, T: Deserialize<'a>>(env: &Envelope<'a>) -> Result<T, String> {
    match env.params {
        Some(p) if p.starts_with(b"{") => {
            serde_json::from_slice(p).map_err(|e| format!("invalid params: {e}"))
        }
        _ => Err("invalid params: not an object".to_owned()),
    }
}

/// Notifications the filter acts on; every other one passes as it is.
const WATCHED_NOTIFICATIONS: [&str; 2] = [
    "notifications/cancelled",
    "notifications/tools/list_changed",
];

impl Filter {
    /// Whether `env` passes whatever the filter's state: a notification it
    /// does not act on. The relay forwards those without taking the lock
    /// around the filter.
    pub fn passes_statelessly(env: &Envelope<'_>) -> bool {
        let method = env.method.as_deref().unwrap_or_default();
        env.kind == Kind::Notification
            && !WATCHED_NOTIFICATIONS.contains(&method)
            && !is_request_method(method)
    }

    pub(super) fn on_message(&mut self, from: Side, env: &Envelope<'_>, size: usize) -> Decision {
        let method = env.method.as_deref().unwrap_or_default();
        match (from, env.kind) {
            (Side::Host, Kind::Request) => self.host_request(env, method, size),
            (Side::Server, Kind::Request) => self.server_request(env, method),
            (_, Kind::Notification) if is_request_method(method) => {
                self.request_without_id(from, env, method)
            }
            (_, Kind::Notification) => {
                if method == WATCHED_NOTIFICATIONS[0] {
                    if let Ok(c) = params::<Cancelled<'_>>(env) {
                        match from {
                            Side::Host => drop(self.host_requests.remove(c.request_id.get())),
                            Side::Server => drop(self.server_requests.remove(c.request_id.get())),
                        }
                    }
                } else if method == WATCHED_NOTIFICATIONS[1] {
                    tracing::info!(
                        "the server's tools changed: the next tools/list is checked against the pins"
                    );
                }
                Decision::FORWARD
            }
            (Side::Host, Kind::Response) => self.response_to_server(env),
            (Side::Server, Kind::Response) => self.response_to_host(env, size),
        }
    }

    /// A message with a request's method but no id: not a notification
    /// MCP knows, and not a request cordon can answer. A peer that acted
    /// on it anyway would skip the profile's checks, so it is dropped
    /// whatever it names, and noted and audited like a refusal.
    fn request_without_id(&mut self, from: Side, env: &Envelope<'_>, method: &str) -> Decision {
        let reason = format!("a {} request without an id", escape_text(method));
        self.notes
            .push(format!("{} (not forwarded): {reason}", from.stream()));
        let entry = Entry {
            server: self.profile.clone(),
            method: method.to_owned(),
            outcome: "refused",
            reason: Some(reason),
            request_bytes: env.params.map(<[u8]>::len),
            ..Entry::default()
        };
        self.audit_append(entry);
        Decision::DROP
    }

    fn host_request(&mut self, env: &Envelope<'_>, method: &str, size: usize) -> Decision {
        let id = env.id.unwrap_or("null");
        if self.first_request.is_none() {
            self.first_request = Some(id.to_owned());
        }
        let waiting = match self.check_host_request(env, method, size) {
            Ok(waiting) => waiting,
            Err(decision) => return decision,
        };
        match self.host_requests.insert(id, waiting) {
            Ok(()) => Decision::FORWARD,
            Err(full) => {
                self.notes.push(format!(
                    "refused a {} request from the host: {full}",
                    escape_text(method)
                ));
                Decision::reply(error_response(
                    id,
                    code::INTERNAL_ERROR,
                    &format!("cordon: {full}"),
                ))
            }
        }
    }

    fn check_host_request(
        &mut self,
        env: &Envelope<'_>,
        method: &str,
        size: usize,
    ) -> Result<Waiting, Decision> {
        if let Some(kind) = list_kind(method) {
            return Ok(Waiting::List(kind));
        }
        let target = match target_of(env, method) {
            Ok(Some(target)) => target,
            Ok(None) => return Ok(Waiting::Other),
            Err(e) => return Err(self.refuse(env, Target::Method, code::INVALID_PARAMS, e, size)),
        };
        // What cordon checked must be what the server reads: params that
        // readers may read differently (a key twice) are refused.
        if let Some(Err(e)) = env.params.map(strict) {
            let reason = format!("invalid params: {e}");
            return Err(self.refuse(env, target, code::INVALID_PARAMS, reason, size));
        }
        let allowed = match &target {
            Target::Tool(name) if self.unreadable_tools.contains(name) => Err(format!(
                "tool \"{}\" was withheld: its definition {}",
                escape_text(name),
                tools::UNREADABLE
            )),
            Target::Tool(name) => self.catalog.check_call(name),
            Target::Prompt(name) => self.catalog.check_prompt(name),
            // A server reading a file may ignore the query and fragment:
            // the bare URI must pass too.
            Target::Resource(uri) => self
                .catalog
                .check_resource(uri)
                .and_then(|()| self.catalog.check_resource(uri::without_query(uri))),
            Target::Method => Ok(()),
        };
        if let Err(reason) = allowed {
            return Err(self.refuse(env, target, code::INVALID_PARAMS, reason, size));
        }
        Ok(match target {
            Target::Tool(tool) => Waiting::Call(self.start_call(env, tool, size)),
            Target::Prompt(_) if method == "prompts/get" => Waiting::List(ListKind::PromptGet),
            _ => Waiting::Other,
        })
    }

    fn start_call(&self, env: &Envelope<'_>, tool: String, size: usize) -> Call {
        let arguments = match &self.audit {
            Some(log) if log.arguments => params::<NameParams<'_>>(env)
                .ok()
                .and_then(|p| p.arguments)
                .map(|raw| self.audit_value(raw.get().as_bytes())),
            _ => None,
        };
        Call {
            tool,
            start: Instant::now(),
            request_bytes: size,
            arguments,
        }
    }

    /// A value for the audit log: redacted, or a note of its size.
    fn audit_value(&self, text: &[u8]) -> Value {
        let Some(log) = &self.audit else {
            return Value::Null;
        };
        if text.len() > AUDIT_VALUE_MAX {
            return Value::String(format!("[omitted: {} bytes]", text.len()));
        }
        let mut value = serde_json::from_slice(text).unwrap_or(Value::Null);
        log.redact(&mut value);
        value
    }

    fn server_request(&mut self, env: &Envelope<'_>, method: &str) -> Decision {
        let id = env.id.unwrap_or("null");
        let allowed = match method {
            "sampling/createMessage" => self.sampling,
            "elicitation/create" => self.elicitation,
            "roots/list" => self.roots,
            _ => true,
        };
        if !allowed {
            let reason = format!("{method} is refused by profile \"{}\"", self.profile);
            return self.refuse(env, Target::Method, code::METHOD_NOT_FOUND, reason, 0);
        }
        match self.server_requests.insert(id, ()) {
            Ok(()) => Decision::FORWARD,
            Err(full) => Decision::reply(error_response(
                id,
                code::INTERNAL_ERROR,
                &format!("cordon: {full}"),
            )),
        }
    }

    /// Answers a request in place of its receiver, notes and audits it.
    fn refuse(
        &mut self,
        env: &Envelope<'_>,
        target: Target,
        code: i64,
        reason: String,
        size: usize,
    ) -> Decision {
        let method = env.method.as_deref().unwrap_or_default().to_owned();
        self.notes
            .push(format!("refused {}: {reason}", escape_text(&method)));
        let mut entry = Entry {
            server: self.profile.clone(),
            method,
            outcome: "refused",
            reason: Some(reason.clone()),
            request_bytes: (size > 0).then_some(size),
            id: env
                .id
                .and_then(|id| RawValue::from_string(id.to_owned()).ok()),
            ..Entry::default()
        };
        match target {
            Target::Tool(t) => entry.tool = Some(t),
            Target::Prompt(p) => entry.prompt = Some(p),
            Target::Resource(r) => entry.resource = Some(r),
            Target::Method => {}
        }
        self.audit_append(entry);
        let id = env.id.unwrap_or("null");
        Decision::reply(error_response(id, code, &format!("cordon: {reason}")))
    }

    fn response_to_server(&mut self, env: &Envelope<'_>) -> Decision {
        match env.id.and_then(|id| self.server_requests.remove(id)) {
            Some(()) => Decision::FORWARD,
            None => {
                self.notes.push(
                    "host stdin (not forwarded): a response to no server request in flight".into(),
                );
                Decision::DROP
            }
        }
    }

    fn response_to_host(&mut self, env: &Envelope<'_>, size: usize) -> Decision {
        let id = env.id.unwrap_or("null");
        match self.host_requests.remove(id) {
            None => {
                self.notes.push(format!(
                    "server stdout (not forwarded): a response to no host request in flight (id {})",
                    escape_text(id)
                ));
                Decision::DROP
            }
            Some(Waiting::List(kind)) => self.filter_list(env, id, kind),
            Some(Waiting::Call(call)) => {
                let outcome = match env.result {
                    None => "jsonrpc-error",
                    Some(r)
                        if serde_json::from_slice::<CallOutcome>(r).is_ok_and(|o| o.is_error) =>
                    {
                        "isError"
                    }
                    Some(_) => "ok",
                };
                let result = env
                    .result
                    .filter(|_| self.audit.as_ref().is_some_and(|a| a.arguments));
                let result = result.map(|r| self.audit_value(r));
                self.audit_call(call, id, outcome, Some(size), result);
                Decision::FORWARD
            }
            Some(Waiting::Other) => Decision::FORWARD,
        }
    }

    fn filter_list(&mut self, env: &Envelope<'_>, id: &str, kind: ListKind) -> Decision {
        let Some(result) = env.result else {
            return Decision::FORWARD;
        };
        let mut withheld = Vec::new();
        let mut filtered = self
            .catalog
            .filter(kind, result, &mut withheld, &mut self.notes);
        // The list's items are checked one by one (one that readers may
        // read differently is withheld); whatever goes on must read in one
        // way only as a whole, or it does not go on.
        let unclear = match &filtered {
            Ok(None) => strict(result).err(),
            Ok(Some(new)) => strict(new.as_bytes()).err(),
            Err(_) => None,
        };
        if let Some(e) = unclear {
            filtered = Err(e.to_string());
        }
        for (name, reason) in withheld {
            if kind == ListKind::Tools && reason.starts_with(tools::UNREADABLE) {
                self.unreadable_tools.insert(name.clone());
            }
            tracing::info!("withheld {name:?}: {reason}");
            let method = kind_method(kind).to_owned();
            let mut entry = Entry {
                server: self.profile.clone(),
                method,
                outcome: "refused",
                reason: Some(reason),
                ..Entry::default()
            };
            match kind {
                ListKind::Tools => entry.tool = Some(name),
                ListKind::Prompts => entry.prompt = Some(name),
                ListKind::Resources | ListKind::Templates => entry.resource = Some(name),
                // What was withheld is in the reason: the instructions, or
                // a prompt's messages (the result does not name the prompt).
                ListKind::Initialize | ListKind::PromptGet => {}
            }
            self.audit_append(entry);
        }
        match filtered {
            Ok(None) => Decision::FORWARD,
            Ok(Some(new)) => Decision::replace(
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{new}}}\n").into_bytes(),
            ),
            Err(e) => {
                self.notes.push(format!(
                    "server stdout (not forwarded): a {} result cordon cannot check: {e}",
                    kind_method(kind)
                ));
                let message =
                    "cordon: the server's result could not be checked against the profile";
                Decision::replace(error_response(id, code::INTERNAL_ERROR, message))
            }
        }
    }

    pub(super) fn audit_call(
        &mut self,
        call: Call,
        id: &str,
        outcome: &'static str,
        response_bytes: Option<usize>,
        result: Option<Value>,
    ) {
        if self.audit.is_none() {
            return;
        }
        let entry = Entry {
            server: self.profile.clone(),
            method: "tools/call".into(),
            tool: Some(call.tool),
            id: RawValue::from_string(id.to_owned()).ok(),
            duration_ms: Some(call.start.elapsed().as_millis() as u64),
            outcome,
            request_bytes: Some(call.request_bytes),
            response_bytes,
            arguments: call.arguments,
            result,
            ..Entry::default()
        };
        self.audit_append(entry);
    }
}

fn kind_method(kind: ListKind) -> &'static str {
    match kind {
        ListKind::Tools => "tools/list",
        ListKind::Prompts => "prompts/list",
        ListKind::Resources => "resources/list",
        ListKind::Templates => "resources/templates/list",
        ListKind::Initialize => "initialize",
        ListKind::PromptGet => "prompts/get",
    }
}
