//! Raw profile → [`Policy`]: defaults, path resolution, groups, and the
//! checks that need more than one value (conflicts). Every error points at
//! the offending value with `file:line:column: key.path:`, and a conflict
//! names the other place too.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::error::{Doc, join_key};
use super::schema::{
    RawEnvironment, RawLimit, RawLimits, RawMcp, RawNetwork, RawNetworkMode, RawPort, RawProfile,
    RawRequirement, RawSandbox, RawSeccomp, RawShutdown, RawSyscallAction,
};
use super::values::{self, Unit};
use super::{Context, ProfileError, grants, paths};
use crate::policy::{
    EnvPolicy, Limits, McpPolicy, Mechanisms, Network, NetworkMode, Origin, Policy, Ports,
    Requirement, Shutdown, SyscallAction, SyscallPolicy,
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
        mcp: mcp(raw.mcp),
    })
}

fn network(raw: &RawNetwork, doc: &Doc<'_>) -> Result<Network, ProfileError> {
    let mode = match raw.mode.as_ref().map(|m| *m.get_ref()) {
        None | Some(RawNetworkMode::None) => NetworkMode::None,
        Some(RawNetworkMode::Loopback) => NetworkMode::Loopback,
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
    })
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

/// Reserved: the relay's policy will live here; only an empty table parses.
fn mcp(raw: RawMcp) -> McpPolicy {
    let RawMcp {} = raw;
    McpPolicy {}
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
