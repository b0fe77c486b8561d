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

/// Parses a profile and checks its header; nothing is resolved yet, so
/// this is also what `list` uses to tell a broken file.
pub(crate) fn parse_profile(doc: &Doc<'_>) -> Result<RawProfile, ProfileError> {
    let raw: RawProfile = toml::from_str(doc.text).map_err(|err| doc.toml_error(&err))?;
    check_header(doc, &raw.schema, &raw.description)?;
    Ok(raw)
}

pub(crate) fn check_header(
    doc: &Doc<'_>,
    schema: &Spanned<i64>,
    description: &Spanned<String>,
) -> Result<(), ProfileError> {
    if *schema.get_ref() != SCHEMA {
        let message = format!(
            "unsupported schema version {} (this cordon reads schema {SCHEMA})",
            schema.get_ref()
        );
        return Err(doc.at_value(schema, "schema", message));
    }
    let text = description.get_ref();
    if text.trim().is_empty() {
        return Err(doc.at_value(description, "description", "must not be empty"));
    }
    if text.contains(['\n', '\r']) {
        return Err(doc.at_value(description, "description", "must be one line"));
    }
    Ok(())
}

/// Resolves a parsed profile into a [`Policy`].
pub(crate) fn build_policy(
    raw: RawProfile,
    doc: &Doc<'_>,
    name: String,
    origin: Origin,
    ctx: &Context,
) -> Result<Policy, ProfileError> {
    let guard = grants::TmpGuard::new(&raw.filesystem, doc, ctx);
    Ok(Policy {
        name,
        origin,
        description: raw.description.into_inner(),
        fs: grants::filesystem(&raw.filesystem, doc, ctx, &guard)?,
        unprotect: grants::unprotect(&raw.filesystem, doc, ctx)?,
        private_tmp: guard.is_private(),
        network: network(&raw.network, doc)?,
        env: environment(&raw.environment, doc, ctx)?,
        limits: limits(&raw.limits, doc)?,
        seccomp: syscalls(&raw.seccomp, doc)?,
        mechanisms: mechanisms(&raw.sandbox, doc)?,
        shutdown: shutdown(&raw.shutdown, doc)?,
        mcp: mcp(&raw.mcp, doc, ctx)?,
    })
}

/// Every error of a parsed profile, one per table at most (the first of
/// each): the tables are validated independently, so a file with errors in
/// three tables reports three. [`build_policy`] stops at the first.
pub(crate) fn all_errors(raw: &RawProfile, doc: &Doc<'_>, ctx: &Context) -> Vec<ProfileError> {
    let guard = grants::TmpGuard::new(&raw.filesystem, doc, ctx);
    let results = [
        grants::filesystem(&raw.filesystem, doc, ctx, &guard).err(),
        grants::unprotect(&raw.filesystem, doc, ctx).err(),
        network(&raw.network, doc).err(),
        environment(&raw.environment, doc, ctx).err(),
        limits(&raw.limits, doc).err(),
        syscalls(&raw.seccomp, doc).err(),
        mechanisms(&raw.sandbox, doc).err(),
        shutdown(&raw.shutdown, doc).err(),
        mcp(&raw.mcp, doc, ctx).err(),
    ];
    results.into_iter().flatten().collect()
}

fn network(raw: &RawNetwork, doc: &Doc<'_>) -> Result<Network, ProfileError> {
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
            return Err(doc.at_value(list, key, message));
        }
    }
    Ok(Network {
        mode,
        connect: ports(raw.connect.as_ref(), "network.connect", doc)?,
        bind: ports(raw.bind.as_ref(), "network.bind", doc)?,
        allow: allowlist::allowlist(raw, mode, doc)?,
    })
}

/// Absent: any port; a list: exactly those, sorted and merged.
fn ports(
    list: Option<&Spanned<Vec<Spanned<RawPort>>>>,
    key: &str,
    doc: &Doc<'_>,
) -> Result<Ports, ProfileError> {
    let Some(list) = list else {
        return Ok(Ports::Any);
    };
    let mut ranges = Vec::new();
    for (i, port) in list.get_ref().iter().enumerate() {
        ranges.push(
            values::port_range(port.get_ref())
                .map_err(|m| doc.at_value(port, format!("{key}[{i}]"), m))?,
        );
    }
    Ok(Ports::Only(values::merge_ranges(ranges)))
}

fn environment(
    raw: &RawEnvironment,
    doc: &Doc<'_>,
    ctx: &Context,
) -> Result<EnvPolicy, ProfileError> {
    let mut pass = Vec::new();
    for (i, name) in raw.pass.iter().enumerate() {
        values::check_env_name(name.get_ref())
            .map_err(|m| doc.at_value(name, format!("environment.pass[{i}]"), m))?;
        pass.push(name.get_ref().clone());
    }
    pass.sort();
    pass.dedup();
    let mut set = BTreeMap::new();
    for (name, value) in &raw.set {
        let key = join_key("environment.set", name.get_ref());
        values::check_env_name(name.get_ref()).map_err(|m| doc.at_value(name, &key, m))?;
        if let Some(passed) = raw.pass.iter().find(|p| p.get_ref() == name.get_ref()) {
            let message = format!(
                "{} is also in environment.pass (line {}); a variable is either passed through or set, not both",
                name.get_ref(),
                doc.line_of(&passed.span())
            );
            return Err(doc.at_value(name, &key, message));
        }
        let expanded =
            paths::expand_value(value.get_ref(), ctx).map_err(|m| doc.at_value(value, &key, m))?;
        set.insert(name.get_ref().clone(), expanded);
    }
    Ok(EnvPolicy { pass, set })
}

fn limits(raw: &RawLimits, doc: &Doc<'_>) -> Result<Limits, ProfileError> {
    Ok(Limits {
        core: bounded(raw.core.as_ref(), "limits.core", Unit::Bytes, 0, doc)?,
        nofile: bounded(raw.nofile.as_ref(), "limits.nofile", Unit::Count, 4096, doc)?,
        nproc: bounded(raw.nproc.as_ref(), "limits.nproc", Unit::Count, 4096, doc)?,
        address_space: limit(
            raw.address_space.as_ref(),
            "limits.address_space",
            Unit::Bytes,
            doc,
        )?,
        fsize: limit(raw.fsize.as_ref(), "limits.fsize", Unit::Bytes, doc)?,
        cpu: limit(raw.cpu.as_ref(), "limits.cpu", Unit::Seconds, doc)?,
        memory: sized(
            raw.memory.as_ref(),
            "limits.memory",
            Limits::DEFAULT_MEMORY,
            doc,
        )?,
        tmp: sized(raw.tmp.as_ref(), "limits.tmp", Limits::DEFAULT_TMP, doc)?,
        enforce: match raw.enforce.as_ref() {
            None => LimitEnforcement::Required,
            Some(v) => match v.get_ref() {
                RawRequirement::Required => LimitEnforcement::Required,
                RawRequirement::BestEffort => LimitEnforcement::BestEffort,
                RawRequirement::Off => {
                    let message = "limits cannot be \"off\"; use \"best-effort\" to start where a limit cannot be applied, or set the limit to \"unlimited\"";
                    return Err(doc.at_value(v, "limits.enforce", message));
                }
            },
        },
        asked: AskedLimits {
            nproc: raw.nproc.is_some(),
            memory: raw.memory.as_ref().is_some_and(|v| !is_unlimited(v)),
            tmp: raw.tmp.as_ref().is_some_and(|v| !is_unlimited(v)),
        },
    })
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

fn syscalls(raw: &RawSeccomp, doc: &Doc<'_>) -> Result<SyscallPolicy, ProfileError> {
    let allow = syscall_names(&raw.allow, "seccomp.allow", doc)?;
    let deny = syscall_names(&raw.deny, "seccomp.deny", doc)?;
    for (i, name) in raw.deny.iter().enumerate() {
        if let Some(allowed) = raw.allow.iter().find(|a| a.get_ref() == name.get_ref()) {
            let message = format!(
                "{} is also in seccomp.allow (line {})",
                name.get_ref(),
                doc.line_of(&allowed.span())
            );
            return Err(doc.at_value(name, format!("seccomp.deny[{i}]"), message));
        }
    }
    let action = match raw.action {
        None | Some(RawSyscallAction::Errno) => SyscallAction::Errno,
        Some(RawSyscallAction::Kill) => SyscallAction::Kill,
        Some(RawSyscallAction::Log) => SyscallAction::Log,
    };
    Ok(SyscallPolicy {
        action,
        allow,
        deny,
    })
}

/// Checked, sorted, unique.
fn syscall_names(
    list: &[Spanned<String>],
    key: &str,
    doc: &Doc<'_>,
) -> Result<Vec<String>, ProfileError> {
    let mut names = Vec::new();
    for (i, name) in list.iter().enumerate() {
        values::check_syscall_name(name.get_ref())
            .map_err(|m| doc.at_value(name, format!("{key}[{i}]"), m))?;
        names.push(name.get_ref().clone());
    }
    names.sort();
    names.dedup();
    Ok(names)
}

fn mechanisms(raw: &RawSandbox, doc: &Doc<'_>) -> Result<Mechanisms, ProfileError> {
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
    Ok(Mechanisms {
        namespaces: raw.namespaces.map_or(Requirement::Required, requirement),
        landlock: landlock_seccomp(raw.landlock.as_ref(), "sandbox.landlock", "Landlock")?,
        seccomp: landlock_seccomp(raw.seccomp.as_ref(), "sandbox.seccomp", "seccomp")?,
    })
}

/// The relay's policy. Sizes are bounded so a profile cannot ask cordon to
/// hold gigabytes per message; a pattern may not be both allowed and denied.
fn mcp(raw: &RawMcp, doc: &Doc<'_>, ctx: &Context) -> Result<McpPolicy, ProfileError> {
    let defaults = McpPolicy::default();
    let size_key = "mcp.max_message_size";
    let max_message_size = match &raw.max_message_size {
        None => defaults.max_message_size,
        Some(v) => match values::limit(v.get_ref(), Unit::Bytes) {
            Ok(Some(n)) if (1 << 10..=1 << 30).contains(&n) => n as usize,
            Ok(Some(n)) => {
                let message = format!("{n} bytes is out of range (1K to 1G)");
                return Err(doc.at_value(v, size_key, message));
            }
            Ok(None) => {
                let message = "\"unlimited\" is not accepted here; give a size like \"16M\"";
                return Err(doc.at_value(v, size_key, message));
            }
            Err(m) => return Err(doc.at_value(v, size_key, m)),
        },
    };
    let pin = match raw.pin {
        None | Some(RawPinMode::Enforce) => PinMode::Enforce,
        Some(RawPinMode::Warn) => PinMode::Warn,
        Some(RawPinMode::Off) => PinMode::Off,
    };
    Ok(McpPolicy {
        max_message_size,
        tools: name_rules(&raw.tools, "mcp.tools", doc)?,
        prompts: name_rules(&raw.prompts, "mcp.prompts", doc)?,
        resources: name_rules(&raw.resources, "mcp.resources", doc)?,
        sampling: raw.sampling.unwrap_or(defaults.sampling),
        elicitation: raw.elicitation.unwrap_or(defaults.elicitation),
        roots: raw.roots.unwrap_or(defaults.roots),
        pin,
        trust_annotations: raw.trust_annotations.unwrap_or(false),
        refuse_hidden_text: raw.refuse_hidden_text.unwrap_or(false),
        audit: audit(raw, doc, ctx)?,
    })
}

fn name_rules(raw: &RawNameRules, key: &str, doc: &Doc<'_>) -> Result<NameRules, ProfileError> {
    let check = |list: &[Spanned<String>], which: &str| -> Result<Vec<String>, ProfileError> {
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
            if let Some(problem) = problem {
                return Err(doc.at_value(pattern, format!("{key}.{which}[{i}]"), problem));
            }
            out.push(text.clone());
        }
        Ok(out)
    };
    let allow = match &raw.allow {
        Some(list) => check(list, "allow")?,
        None => NameRules::default().allow,
    };
    let deny = check(&raw.deny, "deny")?;
    let allowed = raw.allow.as_deref().unwrap_or_default();
    for (i, pattern) in raw.deny.iter().enumerate() {
        if let Some(a) = allowed.iter().find(|a| a.get_ref() == pattern.get_ref()) {
            let message = format!(
                "\"{}\" is also in {key}.allow (line {})",
                pattern.get_ref(),
                doc.line_of(&a.span())
            );
            return Err(doc.at_value(pattern, format!("{key}.deny[{i}]"), message));
        }
    }
    Ok(NameRules { allow, deny })
}

/// `audit_path` and `audit_arguments` only mean something with `audit`.
fn audit(raw: &RawMcp, doc: &Doc<'_>, ctx: &Context) -> Result<Option<AuditPolicy>, ProfileError> {
    let on = raw.audit.as_ref().is_some_and(|a| *a.get_ref());
    let needs_audit = |span, key: &str| {
        let message = "has no effect unless mcp.audit = true; set it or remove this key";
        Err(doc.at(span, key, message))
    };
    if let (false, Some(path)) = (on, &raw.audit_path) {
        return needs_audit(path.span(), "mcp.audit_path");
    }
    if let (false, Some(args)) = (on, &raw.audit_arguments) {
        if *args.get_ref() {
            return needs_audit(args.span(), "mcp.audit_arguments");
        }
    }
    if !on {
        return Ok(None);
    }
    let path = match &raw.audit_path {
        None => None,
        Some(text) => {
            let key = "mcp.audit_path";
            let expanded =
                paths::expand_value(text.get_ref(), ctx).map_err(|m| doc.at_value(text, key, m))?;
            let path = std::path::PathBuf::from(expanded);
            let dotdot = path
                .components()
                .any(|c| c == std::path::Component::ParentDir);
            if !path.is_absolute() || dotdot || text.get_ref().ends_with('/') {
                let message = format!(
                    "\"{}\" must be an absolute file path (or start with ~ or a {{placeholder}}) without `..`",
                    text.get_ref()
                );
                return Err(doc.at_value(text, key, message));
            }
            Some(path)
        }
    };
    Ok(Some(AuditPolicy {
        path,
        arguments: raw.audit_arguments.as_ref().is_some_and(|a| *a.get_ref()),
    }))
}

fn requirement(raw: RawRequirement) -> Requirement {
    match raw {
        RawRequirement::Required => Requirement::Required,
        RawRequirement::BestEffort => Requirement::BestEffort,
        RawRequirement::Off => Requirement::Off,
    }
}

fn shutdown(raw: &RawShutdown, doc: &Doc<'_>) -> Result<Shutdown, ProfileError> {
    let grace = |value: Option<&Spanned<String>>, key: &str| match value {
        Some(v) => values::duration(v.get_ref()).map_err(|m| doc.at_value(v, key, m)),
        None => Ok(DEFAULT_GRACE),
    };
    Ok(Shutdown {
        close_grace: grace(raw.close_grace.as_ref(), "shutdown.close_grace")?,
        term_grace: grace(raw.term_grace.as_ref(), "shutdown.term_grace")?,
    })
}
