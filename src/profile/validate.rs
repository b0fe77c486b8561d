//! Raw profile → [`Policy`]: defaults, path resolution, groups, and the
//! checks that need more than one value (conflicts). Every error points at
//! the offending value with `file:line:column: key.path:`, and a conflict
//! names the other place too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::{join_key, Doc};
use super::schema::{
    RawEnvironment, RawFilesystem, RawGroup, RawLimit, RawLimits, RawMcp, RawNetwork, RawNetworkMode,
    RawPort, RawProfile, RawRequirement, RawSandbox, RawSeccomp, RawShutdown, RawSyscallAction,
};
use super::values::{self, Unit};
use super::{locate, paths, Context, ProfileError};
use crate::policy::{
    Access, EnvPolicy, FsGrant, GrantSource, Limits, McpPolicy, Mechanisms, Network, NetworkMode,
    Origin, Policy, Ports, Requirement, Shutdown, SyscallAction, SyscallPolicy,
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

/// Parses a group file and checks its header.
fn parse_group(doc: &Doc<'_>) -> Result<RawGroup, ProfileError> {
    let raw: RawGroup = toml::from_str(doc.text).map_err(|err| doc.toml_error(&err))?;
    check_header(doc, &raw.schema, &raw.description)?;
    Ok(raw)
}

fn check_header(doc: &Doc<'_>, schema: &Spanned<i64>, description: &Spanned<String>) -> Result<(), ProfileError> {
    if *schema.get_ref() != SCHEMA {
        let message = format!("unsupported schema version {} (this cordon reads schema {SCHEMA})", schema.get_ref());
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
pub(crate) fn build_policy(raw: RawProfile, doc: &Doc<'_>, name: String, origin: Origin, ctx: &Context) -> Result<Policy, ProfileError> {
    let private_tmp = raw.filesystem.private_tmp.as_ref().is_none_or(|p| *p.get_ref());
    let guard = TmpGuard::new(&raw.filesystem, doc, ctx);
    Ok(Policy {
        name,
        origin,
        description: raw.description.into_inner(),
        fs: filesystem(&raw.filesystem, doc, ctx, &guard)?,
        unprotect: unprotect(&raw.filesystem, doc, ctx)?,
        private_tmp,
        network: network(&raw.network, doc)?,
        env: environment(&raw.environment, doc, ctx)?,
        limits: limits(&raw.limits, doc)?,
        seccomp: syscalls(&raw.seccomp, doc)?,
        mechanisms: mechanisms(&raw.sandbox, doc)?,
        shutdown: shutdown(&raw.shutdown, doc)?,
        mcp: mcp(raw.mcp),
    })
}

/// Adds a grant, or widens an existing grant on the same path; the first
/// grant's source is kept, and its declared text and link unless only the
/// new one reaches the path through a symlink.
pub(crate) fn merge_grant(grants: &mut Vec<FsGrant>, grant: FsGrant) {
    let Some(existing) = grants.iter_mut().find(|g| g.path == grant.path) else {
        grants.push(grant);
        return;
    };
    existing.access = existing.access.union(grant.access);
    if existing.link.is_none() && grant.link.is_some() {
        existing.link = grant.link;
        existing.declared = grant.declared;
    }
}

/// Refuses a grant of the temporary directory itself while `private_tmp`
/// replaces it.
pub(crate) struct TmpGuard {
    private: bool,
    /// The line of `private_tmp = true` in the profile, if written.
    line: Option<usize>,
    profile_file: String,
    /// The host temp dir and `/tmp`, as given and resolved.
    dirs: Vec<PathBuf>,
}

impl TmpGuard {
    fn new(fs: &RawFilesystem, doc: &Doc<'_>, ctx: &Context) -> TmpGuard {
        let mut guard = TmpGuard::for_outside(true, ctx);
        guard.private = fs.private_tmp.as_ref().is_none_or(|p| *p.get_ref());
        guard.line = fs.private_tmp.as_ref().map(|p| doc.line_of(&p.span()));
        guard.profile_file = doc.file.to_owned();
        guard
    }

    /// The guard for grants from outside the profile.
    pub(crate) fn for_outside(private: bool, ctx: &Context) -> TmpGuard {
        let mut dirs = Vec::new();
        for dir in [ctx.tmp.as_path(), Path::new("/tmp")] {
            dirs.extend(std::fs::canonicalize(dir).ok());
            dirs.push(dir.to_path_buf());
        }
        TmpGuard { private, line: None, profile_file: String::new(), dirs }
    }

    /// The message when `path` is the temp dir and private_tmp is on.
    pub(crate) fn check(&self, path: &Path, doc: Option<&Doc<'_>>) -> Result<(), String> {
        if !self.private || !self.dirs.iter().any(|d| d == path) {
            return Ok(());
        }
        let place = match (self.line, doc) {
            (None, _) => "(the default)".to_owned(),
            (Some(line), Some(doc)) if doc.file == self.profile_file => format!("(line {line})"),
            (Some(line), _) => format!("({}:{line})", self.profile_file),
        };
        Err(format!(
            "{} is the temporary directory itself, but filesystem.private_tmp is true {place} and gives the \
             server its own; remove this grant or set private_tmp = false",
            path.display()
        ))
    }
}

/// The three grant lists of a profile or group, and their key prefix.
struct GrantLists<'r> {
    prefix: &'static str,
    exec: &'r [Spanned<String>],
    write: &'r [Spanned<String>],
    read: &'r [Spanned<String>],
}

/// The profile's own grants (exec, write, read), then each group's.
fn filesystem(fs: &RawFilesystem, doc: &Doc<'_>, ctx: &Context, guard: &TmpGuard) -> Result<Vec<FsGrant>, ProfileError> {
    let mut grants = Vec::new();
    let own = GrantLists { prefix: "filesystem.", exec: &fs.exec, write: &fs.write, read: &fs.read };
    add_lists(&mut grants, &own, &GrantSource::Profile, doc, ctx, guard)?;
    for (i, name) in fs.groups.iter().enumerate() {
        let key = format!("filesystem.groups[{i}]");
        let text = name.get_ref();
        locate::check_name(text)
            .map_err(|reason| doc.at_value(name, &key, format!("invalid group name \"{}\": {reason}", text.escape_debug())))?;
        let Some(found) = locate::find_group(text, ctx)? else {
            let looked_in = locate::group_search_list(ctx).join(", ");
            return Err(doc.at_value(name, &key, format!("unknown group \"{text}\" (looked in: {looked_in})")));
        };
        let group_doc = Doc::new(&found.file, &found.text);
        let group = parse_group(&group_doc)?;
        let lists = GrantLists { prefix: "", exec: &group.exec, write: &group.write, read: &group.read };
        add_lists(&mut grants, &lists, &GrantSource::Group(found.name.clone()), &group_doc, ctx, guard)?;
    }
    Ok(grants)
}

fn add_lists(
    grants: &mut Vec<FsGrant>,
    lists: &GrantLists<'_>,
    source: &GrantSource,
    doc: &Doc<'_>,
    ctx: &Context,
    guard: &TmpGuard,
) -> Result<(), ProfileError> {
    let kinds = [("exec", lists.exec, Access::READ_EXEC), ("write", lists.write, Access::READ_WRITE), ("read", lists.read, Access::READ)];
    for (list, entries, access) in kinds {
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("{}{list}[{i}]", lists.prefix);
            let resolved = paths::resolve_profile_path(entry.get_ref(), ctx)
                .and_then(|r| guard.check(&r.path, Some(doc)).map(|()| r))
                .map_err(|message| doc.at_value(entry, &key, message))?;
            let grant = FsGrant {
                path: resolved.path,
                declared: resolved.declared,
                link: resolved.link,
                access,
                exists: resolved.exists,
                source: source.clone(),
            };
            merge_grant(grants, grant);
        }
    }
    Ok(())
}

/// The protections lifted by name, resolved like grants.
fn unprotect(fs: &RawFilesystem, doc: &Doc<'_>, ctx: &Context) -> Result<Vec<PathBuf>, ProfileError> {
    let mut lifted = Vec::new();
    for (i, entry) in fs.unprotect.iter().enumerate() {
        let resolved = paths::resolve_profile_path(entry.get_ref(), ctx)
            .map_err(|message| doc.at_value(entry, format!("filesystem.unprotect[{i}]"), message))?;
        if !lifted.contains(&resolved.path) {
            lifted.push(resolved.path);
        }
    }
    Ok(lifted)
}

fn network(raw: &RawNetwork, doc: &Doc<'_>) -> Result<Network, ProfileError> {
    let mode = match raw.mode.as_ref().map(|m| *m.get_ref()) {
        None | Some(RawNetworkMode::None) => NetworkMode::None,
        Some(RawNetworkMode::Loopback) => NetworkMode::Loopback,
        Some(RawNetworkMode::Host) => NetworkMode::Host,
    };
    for (key, list) in [("network.connect", &raw.connect), ("network.bind", &raw.bind)] {
        let listed = list.as_ref().filter(|l| !l.get_ref().is_empty());
        if let (NetworkMode::None, Some(list)) = (mode, listed) {
            let place = raw.mode.as_ref().map_or("(the default)".to_owned(), |m| format!("(line {})", doc.line_of(&m.span())));
            let message = format!(
                "ports are listed but network.mode is \"none\" {place}; set mode = \"loopback\" or \"host\", or remove the list"
            );
            return Err(doc.at_value(list, key, message));
        }
    }
    Ok(Network { mode, connect: ports(raw.connect.as_ref(), "network.connect", doc)?, bind: ports(raw.bind.as_ref(), "network.bind", doc)? })
}

/// Absent: any port; a list: exactly those, sorted and merged.
fn ports(list: Option<&Spanned<Vec<Spanned<RawPort>>>>, key: &str, doc: &Doc<'_>) -> Result<Ports, ProfileError> {
    let Some(list) = list else { return Ok(Ports::Any) };
    let mut ranges = Vec::new();
    for (i, port) in list.get_ref().iter().enumerate() {
        ranges.push(values::port_range(port.get_ref()).map_err(|m| doc.at_value(port, format!("{key}[{i}]"), m))?);
    }
    Ok(Ports::Only(values::merge_ranges(ranges)))
}

fn environment(raw: &RawEnvironment, doc: &Doc<'_>, ctx: &Context) -> Result<EnvPolicy, ProfileError> {
    let mut pass = Vec::new();
    for (i, name) in raw.pass.iter().enumerate() {
        values::check_env_name(name.get_ref()).map_err(|m| doc.at_value(name, format!("environment.pass[{i}]"), m))?;
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
        let expanded = paths::expand_value(value.get_ref(), ctx).map_err(|m| doc.at_value(value, &key, m))?;
        set.insert(name.get_ref().clone(), expanded);
    }
    Ok(EnvPolicy { pass, set })
}

fn limits(raw: &RawLimits, doc: &Doc<'_>) -> Result<Limits, ProfileError> {
    Ok(Limits {
        core: bounded(raw.core.as_ref(), "limits.core", Unit::Bytes, 0, doc)?,
        nofile: bounded(raw.nofile.as_ref(), "limits.nofile", Unit::Count, 4096, doc)?,
        nproc: bounded(raw.nproc.as_ref(), "limits.nproc", Unit::Count, 4096, doc)?,
        address_space: limit(raw.address_space.as_ref(), "limits.address_space", Unit::Bytes, doc)?,
        fsize: limit(raw.fsize.as_ref(), "limits.fsize", Unit::Bytes, doc)?,
        cpu: limit(raw.cpu.as_ref(), "limits.cpu", Unit::Seconds, doc)?,
    })
}

/// A limit that may be `"unlimited"` (`None`, also the default).
fn limit(raw: Option<&Spanned<RawLimit>>, key: &str, unit: Unit, doc: &Doc<'_>) -> Result<Option<u64>, ProfileError> {
    match raw {
        Some(value) => values::limit(value.get_ref(), unit).map_err(|m| doc.at_value(value, key, m)),
        None => Ok(None),
    }
}

/// A limit that must be a number.
fn bounded(raw: Option<&Spanned<RawLimit>>, key: &str, unit: Unit, default: u64, doc: &Doc<'_>) -> Result<u64, ProfileError> {
    let Some(value) = raw else { return Ok(default) };
    match limit(Some(value), key, unit, doc)? {
        Some(n) => Ok(n),
        None => Err(doc.at_value(value, key, "\"unlimited\" is not accepted here; give a number")),
    }
}

fn syscalls(raw: &RawSeccomp, doc: &Doc<'_>) -> Result<SyscallPolicy, ProfileError> {
    let allow = syscall_names(&raw.allow, "seccomp.allow", doc)?;
    let deny = syscall_names(&raw.deny, "seccomp.deny", doc)?;
    for (i, name) in raw.deny.iter().enumerate() {
        if let Some(allowed) = raw.allow.iter().find(|a| a.get_ref() == name.get_ref()) {
            let message = format!("{} is also in seccomp.allow (line {})", name.get_ref(), doc.line_of(&allowed.span()));
            return Err(doc.at_value(name, format!("seccomp.deny[{i}]"), message));
        }
    }
    let action = match raw.action {
        None | Some(RawSyscallAction::Errno) => SyscallAction::Errno,
        Some(RawSyscallAction::Kill) => SyscallAction::Kill,
        Some(RawSyscallAction::Log) => SyscallAction::Log,
    };
    Ok(SyscallPolicy { action, allow, deny })
}

/// Checked, sorted, unique.
fn syscall_names(list: &[Spanned<String>], key: &str, doc: &Doc<'_>) -> Result<Vec<String>, ProfileError> {
    let mut names = Vec::new();
    for (i, name) in list.iter().enumerate() {
        values::check_syscall_name(name.get_ref()).map_err(|m| doc.at_value(name, format!("{key}[{i}]"), m))?;
        names.push(name.get_ref().clone());
    }
    names.sort();
    names.dedup();
    Ok(names)
}

fn mechanisms(raw: &RawSandbox, doc: &Doc<'_>) -> Result<Mechanisms, ProfileError> {
    let landlock_seccomp = |value: Option<&Spanned<RawRequirement>>, key: &str, layer: &str| match value {
        Some(v) if *v.get_ref() == RawRequirement::Off => Err(doc.at_value(
            v,
            key,
            format!("{layer} cannot be \"off\"; only namespaces may be off (use \"best-effort\" to run where the kernel lacks {layer})"),
        )),
        other => Ok(other.map_or(Requirement::Required, |v| requirement(*v.get_ref()))),
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
