//! Raw profile → [`Policy`]: defaults, path resolution, groups, and the
//! checks that need more than one value (conflicts). Every error points at
//! the offending value with `file:line:column: key.path:`, and a conflict
//! names the other place too.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::error::{Doc, join_key};
use super::schema::{
    RawEnvironment, RawLimit, RawLimits, RawMcp, RawNameRules, RawNetwork, RawNetworkMode,
    RawPinMode, RawPort, RawProfile, RawRequirement, RawSandbox, RawSeccomp, RawShutdown,
    RawSyscallAction,
};
use super::values::{self, Unit};
use super::{Context, ProfileError, allowlist, grants, paths};
use crate::policy::{
    AskedLimits, AuditPolicy, EnvPolicy, LimitEnforcement, Limits, McpPolicy, Mechanisms,
    NameRules, Network, NetworkMode, Origin, PinMode, Policy, Ports, Requirement, Shutdown,
    SyscallAction, SyscallPolicy,
};

/// The only schema version this build reads.
const SCHEMA: i64 = 1;
const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// Errors found so far. Validation goes on past each one, so that
/// `profile check` reports them all; loading reports the first.
pub(crate) type Found = Vec<ProfileError>;

/// The first error found, or the value.
pub(crate) fn first_or<T>(found: Found, value: T) -> Result<T, ProfileError> {
    match found.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(value),
    }
}

/// The value, or `fallback` with the error noted.
fn or_note<T>(found: &mut Found, result: Result<T, ProfileError>, fallback: T) -> T {
    result.unwrap_or_else(|e| {
        found.push(e);
        fallback
    })
}

/// Parses a profile and checks its header; nothing is resolved yet, so
/// this is also what `list` uses to tell a broken file.
pub(crate) fn parse_profile(doc: &Doc<'_>) -> Result<RawProfile, ProfileError> {
    let raw: RawProfile = toml::from_str(doc.text).map_err(|err| doc.toml_error(&err))?;
    let mut found = Found::new();
    check_header(doc, &raw.schema, &raw.description, &mut found);
    first_or(found, raw)
}

pub(crate) fn check_header(
    doc: &Doc<'_>,
    schema: &Spanned<i64>,
    description: &Spanned<String>,
    found: &mut Found,
) {
    if *schema.get_ref() != SCHEMA {
        let message = format!(
            "unsupported schema version {} (this cordon reads schema {SCHEMA})",
            schema.get_ref()
        );
        found.push(doc.at_value(schema, "schema", message));
    }
    let text = description.get_ref();
    if text.trim().is_empty() {
        found.push(doc.at_value(description, "description", "must not be empty"));
    } else if text.contains(['\n', '\r']) {
        found.push(doc.at_value(description, "description", "must be one line"));
    }
}

/// Resolves a parsed profile into a [`Policy`]; the first error found is
/// the error.
pub(crate) fn build_policy(
    raw: RawProfile,
    doc: &Doc<'_>,
    name: String,
    origin: Origin,
    ctx: &Context,
) -> Result<Policy, ProfileError> {
    let mut found = Found::new();
    let policy = resolve(&raw, doc, name, origin, ctx, &mut found);
    first_or(found, policy)
}

/// Every error of a parsed profile, in the order of the tables and of the
/// entries in each: nothing stops at an error.
pub(crate) fn all_errors(raw: &RawProfile, doc: &Doc<'_>, ctx: &Context) -> Found {
    let mut found = Found::new();
    resolve(raw, doc, String::new(), Origin::BuiltIn, ctx, &mut found);
    found
}

/// The policy, with every problem noted in `found` and a default in
/// place of each refused value (a policy with notes is never used).
fn resolve(
    raw: &RawProfile,
    doc: &Doc<'_>,
    name: String,
    origin: Origin,
    ctx: &Context,
    found: &mut Found,
) -> Policy {
    let guard = grants::TmpGuard::new(&raw.filesystem, doc, ctx);
    Policy {
        name,
        origin,
        description: raw.description.get_ref().clone(),
        fs: grants::filesystem(&raw.filesystem, doc, ctx, &guard, found),
        unprotect: grants::unprotect(&raw.filesystem, doc, ctx, found),
        private_tmp: guard.is_private(),
        network: network(&raw.network, doc, found),
        env: environment(&raw.environment, doc, ctx, found),
        limits: limits(&raw.limits, doc, found),
        seccomp: syscalls(&raw.seccomp, doc, found),
        mechanisms: mechanisms(&raw.sandbox, doc, found),
        shutdown: shutdown(&raw.shutdown, doc, found),
        mcp: mcp(&raw.mcp, doc, ctx, found),
    }
}

fn network(raw: &RawNetwork, doc: &Doc<'_>, found: &mut Found) -> Network {
    let mode = match raw.mode.as_ref().map(|m| *m.get_ref()) {
        None | Some(RawNetworkMode::None) => NetworkMode::None,
        Some(RawNetworkMode::Loopback) => NetworkMode::Loopback,
        Some(RawNetworkMode::Filtered) => NetworkMode::Filtered,
        Some(RawNetworkMode::Host) => NetworkMode::Host,
    };
    for (key, list) in [
        ("network.connect", &raw.connect),
        ("network.bind", &raw.bind),
    ] {
        let listed = list.as_ref().filter(|l| !l.get_ref().is_empty());
        if let (NetworkMode::None, Some(list)) = (mode, listed) {
            let place = raw.mode.as_ref().map_or("(the default)".to_owned(), |m| {
                format!("(line {})", doc.line_of(&m.span()))
            });
            let message = format!(
                "ports are listed but network.mode is \"none\" {place}; set mode = \"loopback\" or \"host\", or remove the list"
            );
            found.push(doc.at_value(list, key, message));
        }
    }
    Network {
        mode,
        connect: ports(raw.connect.as_ref(), "network.connect", doc, found),
        bind: ports(raw.bind.as_ref(), "network.bind", doc, found),
        allow: allowlist::allowlist(raw, mode, doc, found),
    }
}

/// Absent: any port; a list: exactly those, sorted and merged.
fn ports(
    list: Option<&Spanned<Vec<Spanned<RawPort>>>>,
    key: &str,
    doc: &Doc<'_>,
    found: &mut Found,
) -> Ports {
    let Some(list) = list else {
        return Ports::Any;
    };
    let mut ranges = Vec::new();
    for (i, port) in list.get_ref().iter().enumerate() {
        match values::port_range(port.get_ref()) {
            Ok(range) => ranges.push(range),
            Err(m) => found.push(doc.at_value(port, format!("{key}[{i}]"), m)),
        }
    }
    Ports::Only(values::merge_ranges(ranges))
}

fn environment(raw: &RawEnvironment, doc: &Doc<'_>, ctx: &Context, found: &mut Found) -> EnvPolicy {
    let mut pass = Vec::new();
    for (i, name) in raw.pass.iter().enumerate() {
        match values::check_env_name(name.get_ref()) {
            Ok(()) => pass.push(name.get_ref().clone()),
            Err(m) => found.push(doc.at_value(name, format!("environment.pass[{i}]"), m)),
        }
    }
    pass.sort();
    pass.dedup();
    let mut set = BTreeMap::new();
    for (name, value) in &raw.set {
        let key = join_key("environment.set", name.get_ref());
        if let Err(m) = values::check_env_name(name.get_ref()) {
            found.push(doc.at_value(name, &key, m));
            continue;
        }
        if let Some(passed) = raw.pass.iter().find(|p| p.get_ref() == name.get_ref()) {
            let message = format!(
                "{} is also in environment.pass (line {}); a variable is either passed through or set, not both",
                name.get_ref(),
                doc.line_of(&passed.span())
            );
            found.push(doc.at_value(name, &key, message));
            continue;
        }
        match paths::expand_value(value.get_ref(), ctx) {
            Ok(expanded) => {
                set.insert(name.get_ref().clone(), expanded);
            }
            Err(m) => found.push(doc.at_value(value, &key, m)),
        }
    }
    EnvPolicy { pass, set }
}

fn limits(raw: &RawLimits, doc: &Doc<'_>, found: &mut Found) -> Limits {
    let bytes =
        |value: Option<&Spanned<RawLimit>>, key: &str, unit: Unit| limit(value, key, unit, doc);
    Limits {
        core: or_note(
            found,
            bounded(raw.core.as_ref(), "limits.core", Unit::Bytes, 0, doc),
            0,
        ),
        nofile: or_note(
            found,
            bounded(raw.nofile.as_ref(), "limits.nofile", Unit::Count, 4096, doc),
            4096,
        ),
        nproc: or_note(
            found,
            bounded(raw.nproc.as_ref(), "limits.nproc", Unit::Count, 4096, doc),
            4096,
        ),
        address_space: or_note(
            found,
            bytes(
                raw.address_space.as_ref(),
                "limits.address_space",
                Unit::Bytes,
            ),
            None,
        ),
        fsize: or_note(
            found,
            bytes(raw.fsize.as_ref(), "limits.fsize", Unit::Bytes),
            None,
        ),
        cpu: or_note(
            found,
            bytes(raw.cpu.as_ref(), "limits.cpu", Unit::Seconds),
            None,
        ),
        memory: or_note(
            found,
            sized(
                raw.memory.as_ref(),
                "limits.memory",
                Limits::DEFAULT_MEMORY,
                doc,
            ),
            Some(Limits::DEFAULT_MEMORY),
        ),
        tmp: or_note(
            found,
            sized(raw.tmp.as_ref(), "limits.tmp", Limits::DEFAULT_TMP, doc),
            Some(Limits::DEFAULT_TMP),
        ),
        enforce: match raw.enforce.as_ref() {
            None => LimitEnforcement::Required,
            Some(v) => match v.get_ref() {
                RawRequirement::Required => LimitEnforcement::Required,
                RawRequirement::BestEffort => LimitEnforcement::BestEffort,
                RawRequirement::Off => {
                    let message = "limits cannot be \"off\"; use \"best-effort\" to start where a limit cannot be applied, or set the limit to \"unlimited\"";
                    found.push(doc.at_value(v, "limits.enforce", message));
                    LimitEnforcement::Required
                }
            },
        },
        asked: AskedLimits {
            nproc: raw.nproc.is_some(),
            memory: raw.memory.as_ref().is_some_and(|v| !is_unlimited(v)),
            tmp: raw.tmp.as_ref().is_some_and(|v| !is_unlimited(v)),
        },
    }
}

fn is_unlimited(value: &Spanned<RawLimit>) -> bool {
    matches!(value.get_ref(), RawLimit::Text(t) if t == "unlimited")
}

/// A size in bytes with a default; `"unlimited"` is `None`, and 0 is
/// refused (a tmpfs reads `size=0` as no limit at all).
fn sized(
    raw: Option<&Spanned<RawLimit>>,
    key: &str,
    default: u64,
    doc: &Doc<'_>,
) -> Result<Option<u64>, ProfileError> {
    let Some(value) = raw else {
        return Ok(Some(default));
    };
    match limit(Some(value), key, Unit::Bytes, doc)? {
        Some(0) => Err(doc.at_value(
            value,
            key,
            "0 is not a size; give a size like \"512M\", or \"unlimited\"",
        )),
        other => Ok(other),
    }
}

/// A limit that may be `"unlimited"` (`None`, also the default).
fn limit(
    raw: Option<&Spanned<RawLimit>>,
    key: &str,
    unit: Unit,
    doc: &Doc<'_>,
) -> Result<Option<u64>, ProfileError> {
    match raw {
        Some(value) => {
            values::limit(value.get_ref(), unit).map_err(|m| doc.at_value(value, key, m))
        }
        None => Ok(None),
    }
}

/// A limit that must be a number.
fn bounded(
    raw: Option<&Spanned<RawLimit>>,
    key: &str,
    unit: Unit,
    default: u64,
    doc: &Doc<'_>,
) -> Result<u64, ProfileError> {
    let Some(value) = raw else { return Ok(default) };
    match limit(Some(value), key, unit, doc)? {
        Some(n) => Ok(n),
        None => Err(doc.at_value(
            value,
            key,
            "\"unlimited\" is not accepted here; give a number",
        )),
    }
}

fn syscalls(raw: &RawSeccomp, doc: &Doc<'_>, found: &mut Found) -> SyscallPolicy {
    let allow = syscall_names(&raw.allow, "seccomp.allow", doc, found);
    let deny = syscall_names(&raw.deny, "seccomp.deny", doc, found);
    for (i, name) in raw.deny.iter().enumerate() {
        if let Some(allowed) = raw.allow.iter().find(|a| a.get_ref() == name.get_ref()) {
            let message = format!(
                "{} is also in seccomp.allow (line {})",
                name.get_ref(),
                doc.line_of(&allowed.span())
            );
            found.push(doc.at_value(name, format!("seccomp.deny[{i}]"), message));
        }
    }
    let action = match raw.action {
        None | Some(RawSyscallAction::Errno) => SyscallAction::Errno,
        Some(RawSyscallAction::Kill) => SyscallAction::Kill,
        Some(RawSyscallAction::Log) => SyscallAction::Log,
    };
    SyscallPolicy {
        action,
        allow,
        deny,
    }
}

/// Checked, sorted, unique.
fn syscall_names(
    list: &[Spanned<String>],
    key: &str,
    doc: &Doc<'_>,
    found: &mut Found,
) -> Vec<String> {
    let mut names = Vec::new();
    for (i, name) in list.iter().enumerate() {
        match values::check_syscall_name(name.get_ref()) {
            Ok(()) => names.push(name.get_ref().clone()),
            Err(m) => found.push(doc.at_value(name, format!("{key}[{i}]"), m)),
        }
    }
    names.sort();
    names.dedup();
    names
}

fn mechanisms(raw: &RawSandbox, doc: &Doc<'_>, found: &mut Found) -> Mechanisms {
    let landlock_seccomp = |value: Option<&Spanned<RawRequirement>>, key: &str, layer: &str| {
        match value {
        Some(v) if *v.get_ref() == RawRequirement::Off => Err(doc.at_value(
            v,
            key,
            format!("{layer} cannot be \"off\"; only namespaces may be off (use \"best-effort\" to run where the kernel lacks {layer})"),
        )),
        other => Ok(other.map_or(Requirement::Required, |v| requirement(*v.get_ref()))),
    }
    };
    let landlock = landlock_seccomp(raw.landlock.as_ref(), "sandbox.landlock", "Landlock");
    let seccomp = landlock_seccomp(raw.seccomp.as_ref(), "sandbox.seccomp", "seccomp");
    Mechanisms {
        namespaces: raw.namespaces.map_or(Requirement::Required, requirement),
        landlock: or_note(found, landlock, Requirement::Required),
        seccomp: or_note(found, seccomp, Requirement::Required),
    }
}

/// The relay's policy. Sizes are bounded so a profile cannot ask cordon to
/// hold gigabytes per message; a pattern may not be both allowed and denied.
fn mcp(raw: &RawMcp, doc: &Doc<'_>, ctx: &Context, found: &mut Found) -> McpPolicy {
    let defaults = McpPolicy::default();
    let size_key = "mcp.max_message_size";
    let max_message_size = match &raw.max_message_size {
        None => defaults.max_message_size,
        Some(v) => {
            let size = match values::limit(v.get_ref(), Unit::Bytes) {
                Ok(Some(n)) if (1 << 10..=1 << 30).contains(&n) => Ok(n as usize),
                Ok(Some(n)) => Err(format!("{n} bytes is out of range (1K to 1G)")),
                Ok(None) => {
                    Err("\"unlimited\" is not accepted here; give a size like \"16M\"".to_owned())
                }
                Err(m) => Err(m),
            };
            let size = size.map_err(|m| doc.at_value(v, size_key, m));
            or_note(found, size, defaults.max_message_size)
        }
    };
    let pin = match raw.pin {
        None | Some(RawPinMode::Enforce) => PinMode::Enforce,
        Some(RawPinMode::Warn) => PinMode::Warn,
        Some(RawPinMode::Off) => PinMode::Off,
    };
    McpPolicy {
        max_message_size,
        tools: name_rules(&raw.tools, "mcp.tools", doc, found),
        prompts: name_rules(&raw.prompts, "mcp.prompts", doc, found),
        resources: name_rules(&raw.resources, "mcp.resources", doc, found),
        sampling: raw.sampling.unwrap_or(defaults.sampling),
        elicitation: raw.elicitation.unwrap_or(defaults.elicitation),
        roots: raw.roots.unwrap_or(defaults.roots),
        pin,
        trust_annotations: raw.trust_annotations.unwrap_or(false),
        refuse_hidden_text: raw.refuse_hidden_text.unwrap_or(false),
        audit: audit(raw, doc, ctx, found),
    }
}

fn name_rules(raw: &RawNameRules, key: &str, doc: &Doc<'_>, found: &mut Found) -> NameRules {
    let mut check = |list: &[Spanned<String>], which: &str| -> Vec<String> {
        let mut out = Vec::new();
        for (i, pattern) in list.iter().enumerate() {
            let text = pattern.get_ref();
            let problem = if text.is_empty() {
                Some("empty pattern")
            } else if text.chars().any(char::is_control) {
                Some("a pattern may not contain control characters")
            } else {
                None
            };
            match problem {
                Some(problem) => {
                    found.push(doc.at_value(pattern, format!("{key}.{which}[{i}]"), problem));
                }
                None => out.push(text.clone()),
            }
        }
        out
    };
    let allow = match &raw.allow {
        Some(list) => check(list, "allow"),
        None => NameRules::default().allow,
    };
    let deny = check(&raw.deny, "deny");
    let allowed = raw.allow.as_deref().unwrap_or_default();
    for (i, pattern) in raw.deny.iter().enumerate() {
        if let Some(a) = allowed.iter().find(|a| a.get_ref() == pattern.get_ref()) {
            let message = format!(
                "\"{}\" is also in {key}.allow (line {})",
                pattern.get_ref(),
                doc.line_of(&a.span())
            );
            found.push(doc.at_value(pattern, format!("{key}.deny[{i}]"), message));
        }
    }
    NameRules { allow, deny }
}

/// `audit_path` and `audit_arguments` only mean something with `audit`.
fn audit(raw: &RawMcp, doc: &Doc<'_>, ctx: &Context, found: &mut Found) -> Option<AuditPolicy> {
    let on = raw.audit.as_ref().is_some_and(|a| *a.get_ref());
    let needs_audit = |span, key: &str| {
        let message = "has no effect unless mcp.audit = true; set it or remove this key";
        doc.at(span, key, message)
    };
    if let (false, Some(path)) = (on, &raw.audit_path) {
        found.push(needs_audit(path.span(), "mcp.audit_path"));
    }
    if let (false, Some(args)) = (on, &raw.audit_arguments) {
        if *args.get_ref() {
            found.push(needs_audit(args.span(), "mcp.audit_arguments"));
        }
    }
    if !on {
        return None;
    }
    let path = match &raw.audit_path {
        None => None,
        Some(text) => audit_path(text, doc, ctx, found),
    };
    Some(AuditPolicy {
        path,
        arguments: raw.audit_arguments.as_ref().is_some_and(|a| *a.get_ref()),
    })
}

/// An absolute file path without `..`.
fn audit_path(
    text: &Spanned<String>,
    doc: &Doc<'_>,
    ctx: &Context,
    found: &mut Found,
) -> Option<std::path::PathBuf> {
    let key = "mcp.audit_path";
    let expanded = match paths::expand_value(text.get_ref(), ctx) {
        Ok(expanded) => expanded,
        Err(m) => {
            found.push(doc.at_value(text, key, m));
            return None;
        }
    };
    let path = std::path::PathBuf::from(expanded);
    let dotdot = path
        .components()
        .any(|c| c == std::path::Component::ParentDir);
    if !path.is_absolute() || dotdot || text.get_ref().ends_with('/') {
        let message = format!(
            "\"{}\" must be an absolute file path (or start with ~ or a {{placeholder}}) without `..`",
            text.get_ref()
        );
        found.push(doc.at_value(text, key, message));
        return None;
    }
    Some(path)
}

fn requirement(raw: RawRequirement) -> Requirement {
    match raw {
        RawRequirement::Required => Requirement::Required,
        RawRequirement::BestEffort => Requirement::BestEffort,
        RawRequirement::Off => Requirement::Off,
    }
}

fn shutdown(raw: &RawShutdown, doc: &Doc<'_>, found: &mut Found) -> Shutdown {
    let grace = |value: Option<&Spanned<String>>, key: &str| match value {
        Some(v) => values::duration(v.get_ref()).map_err(|m| doc.at_value(v, key, m)),
        None => Ok(DEFAULT_GRACE),
    };
    let close_grace = grace(raw.close_grace.as_ref(), "shutdown.close_grace");
    let term_grace = grace(raw.term_grace.as_ref(), "shutdown.term_grace");
    Shutdown {
        close_grace: or_note(found, close_grace, DEFAULT_GRACE),
        term_grace: or_note(found, term_grace, DEFAULT_GRACE),
    }
}
