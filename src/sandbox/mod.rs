//! Sandbox primitives: turn a resolved [`Policy`] into everything the
//! child process needs, prepared before fork.
//!
//! Each submodule owns one kernel mechanism and exposes a `prepare_*`
//! function (parent side, may allocate). The child side (`launch::child`)
//! only applies what is prepared here. Nothing in this module reads TOML or
//! touches the MCP stream.

pub mod cgroup;
pub mod egress;
pub mod env;
pub mod landlock;
pub mod mounts;
mod netfiles;
pub mod pin;
pub mod probe;
pub mod protect;
pub mod rlimits;
pub mod seccomp;
pub mod tmpdir;

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::c_char;

use crate::policy::{LimitEnforcement, NetworkMode, Policy, Requirement};

pub use probe::Probe;
pub use protect::HostPaths;

/// A part of the sandbox whose status a launch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    Namespaces,
    Landlock,
    Seccomp,
    Network,
    /// Masks of protected paths and cleaned configuration files.
    Protections,
    Tmp,
    /// Resource limits: rlimits and cgroups.
    Limits,
    /// Process hygiene: session, no_new_privs, capabilities, descriptors.
    Process,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Namespaces => "namespaces",
            Layer::Landlock => "landlock",
            Layer::Seccomp => "seccomp",
            Layer::Network => "network",
            Layer::Protections => "protections",
            Layer::Tmp => "/tmp",
            Layer::Limits => "limits",
            Layer::Process => "process",
        }
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a launch does with one part of a layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum State {
    Enforced {
        detail: String,
    },
    /// Applied in part, or not at all although the profile asked for it
    /// (best-effort): the protection is missing.
    Degraded {
        reason: String,
    },
    /// Turned off by the profile or the command line.
    Off {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayerStatus {
    pub layer: Layer,
    #[serde(flatten)]
    pub state: State,
}

/// What the kernel will enforce for this launch, one entry per fact, in
/// the order prepare found them. Rendered by the consent screen; asserted
/// on as data.
#[derive(Debug, Clone, Default)]
pub struct EnforcementReport {
    pub entries: Vec<LayerStatus>,
}

impl EnforcementReport {
    fn enforced(&mut self, layer: Layer, detail: String) {
        let state = State::Enforced { detail };
        self.entries.push(LayerStatus { layer, state });
    }

    fn degraded(&mut self, layer: Layer, reason: String) {
        let state = State::Degraded { reason };
        self.entries.push(LayerStatus { layer, state });
    }

    fn off(&mut self, layer: Layer, reason: String) {
        let state = State::Off { reason };
        self.entries.push(LayerStatus { layer, state });
    }

    /// The entries for `layer`.
    pub fn layer(&self, layer: Layer) -> impl Iterator<Item = &State> {
        self.entries
            .iter()
            .filter(move |e| e.layer == layer)
            .map(|e| &e.state)
    }
}

/// The command as it will be executed: all C strings and pointer arrays
/// built, so the child only passes pointers to `execve`.
pub struct PreparedExec {
    pub path: CString,
    pub cwd: CString,
    // The CStrings own the bytes the pointer arrays point into.
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    pub argv_ptrs: Vec<*const c_char>,
    pub envp_ptrs: Vec<*const c_char>,
    /// The executable as cordon opened and hashed it: when set, the child
    /// executes this descriptor (`execveat`) instead of `path`.
    pub fd: Option<std::os::fd::OwnedFd>,
}

impl PreparedExec {
    pub fn new(
        path: &Path,
        argv: &[impl AsRef<OsStr>],
        envp: Vec<CString>,
        cwd: &Path,
    ) -> Result<Self, SandboxError> {
        let path = cstring(path.as_os_str())?;
        let cwd = cstring(cwd.as_os_str())?;
        let argv = argv
            .iter()
            .map(|a| cstring(a.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let argv_ptrs = null_terminated(&argv);
        let envp_ptrs = null_terminated(&envp);
        Ok(PreparedExec {
            path,
            cwd,
            _argv: argv,
            _envp: envp,
            argv_ptrs,
            envp_ptrs,
            fd: None,
        })
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Everything the child applies, in the order it applies it.
pub struct Prepared {
    /// CLONE_NEW* flags; 0 when namespaces are not used.
    pub clone_flags: libc::c_int,
    /// `/proc/self/uid_map` and `gid_map` contents.
    pub id_maps: Option<mounts::IdMaps>,
    pub mounts: Option<mounts::MountPlan>,
    pub hostname: Option<&'static [u8]>,
    /// Bring up `lo` in the new network namespace (network `loopback`
    /// and `filtered`).
    pub loopback: bool,
    /// Network `filtered`: routes and listeners init creates inside, and
    /// the forwarder's configuration.
    pub egress: Option<egress::PreparedEgress>,
    /// The cgroups that hold the process limit (root) and the memory bound.
    pub cgroup: Option<cgroup::PreparedCgroup>,
    /// Where cordon relays the server's stderr instead of its own stderr
    /// (`vet` keeps it to report what the sandbox denied); its forwarder
    /// writes there too. The server itself only ever holds a pipe.
    pub stderr: Option<std::os::fd::OwnedFd>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    pub landlock: Option<landlock::PreparedLandlock>,
    pub seccomp: Option<seccomp::PreparedSeccomp>,
    pub exec: PreparedExec,
    pub report: EnforcementReport,
    /// The private temporary directory on the host; removed when dropped.
    pub private_tmp: Option<tempfile::TempDir>,
    /// Cleaned copies of configuration files (`~/.npmrc`, git's user
    /// configuration) bound in place of the user's.
    pub cleaned: Vec<tempfile::NamedTempFile>,
    /// Set when the namespaces were found usable from cordon's cache, not
    /// by a probe: a launch failing at a namespace step drops the entry.
    pub probe_cache: Option<probe::ProbeCache>,
    /// False when prepared without `allocate` (to be shown only): such a
    /// plan lacks the private /tmp and the cgroup, and is never launched.
    pub launchable: bool,
}

impl Prepared {
    /// What cordon completes after init is cloned and before the server
    /// may start, while init builds the namespaces: the Landlock rules and
    /// the cgroups. A failure refuses the start. Called once per start; a
    /// plan that is started again is not changed twice.
    pub fn complete(&self) -> Result<(), SandboxError> {
        if let Some(landlock) = &self.landlock {
            landlock.fill()?;
        }
        if let Some(cgroup) = &self.cgroup {
            cgroup.make()?;
        }
        Ok(())
    }

    /// Makes the interpreter read exactly the files cordon checked (see
    /// [`pin`]): mirrored into the sandbox's view with namespaces,
    /// refused unless nobody else can rename on their way without.
    ///
    /// Without namespaces, files in cordon's package store (`store`) need
    /// no sealed chain of directories: no server can rename there or
    /// above it. A writable grant holding a protected path (the store is
    /// one) is refused without namespaces, and renaming a directory
    /// above the store needs a writable grant of the one above that,
    /// which holds the store too; the home itself is writable only with
    /// `~` in `unprotect`, which lifts every protection.
    pub fn pin(
        &mut self,
        policy: &Policy,
        files: &[pin::PinFile],
        store: &std::path::Path,
    ) -> Result<(), SandboxError> {
        if files.is_empty() {
            return Ok(());
        }
        let uid = nix::unistd::getuid().as_raw();
        match self.mounts.as_mut() {
            Some(plan) => {
                let ops = pin::plan(policy, files, uid, plan)?;
                plan.insert_pins(ops);
            }
            None => {
                let outside: Vec<pin::PinFile> = files
                    .iter()
                    .filter(|f| !f.path.starts_with(store))
                    .cloned()
                    .collect();
                pin::check_sealed(&outside, uid)?;
            }
        }
        Ok(())
    }
}

/// Whether this launch uses namespaces, after the profile, the command line
/// and the kernel had their say.
pub fn uses_namespaces(policy: &Policy, probe: &Probe) -> bool {
    policy.mechanisms.namespaces != Requirement::Off && probe.user_namespaces.is_ok()
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{what} is required by profile {profile:?} but not available: {reason}")]
    Missing {
        what: &'static str,
        profile: String,
        reason: String,
        hint: &'static str,
    },
    #[error("limits.{key} = {value} of profile {profile:?} cannot be applied: {reason}")]
    LimitUnavailable {
        key: &'static str,
        value: String,
        profile: String,
        reason: String,
    },
    #[error("{0:?} contains a NUL byte")]
    Nul(PathBuf),
    #[error("cannot create the private temporary directory")]
    TempDir(#[source] std::io::Error),
    #[error("landlock: cannot open {path}")]
    LandlockPath {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("landlock: {0}")]
    Landlock(String),
    #[error("seccomp: {0}")]
    Seccomp(#[from] seccomp::SeccompError),
    #[error("mount plan: {0}")]
    Mounts(String),
    /// Made at the start, after the decision: never degraded then.
    #[error("{0} (the start is refused)")]
    Cgroup(#[from] cgroup::MakeError),
    #[error(
        "without namespaces protected paths cannot be masked, and the grants contain: {}",
        show_paths(paths)
    )]
    ProtectedInGrant { paths: Vec<PathBuf> },
    #[error("the grant {grant} lies inside the protected path {path}")]
    GrantInProtected { grant: PathBuf, path: PathBuf },
    #[error(
        "network mode \"filtered\" of profile {profile:?} needs a network namespace of its own, and namespaces are {why}: without one the server's connections cannot be filtered"
    )]
    FilteredWithoutNamespaces { profile: String, why: String },
    #[error("network filter: {0}")]
    Egress(String),
    #[error(
        "a writable grant would let the server create protected paths that do not exist yet: {}",
        show_paths(paths)
    )]
    ProtectedCreatable { paths: Vec<PathBuf> },
    #[error(
        "the writable grant {grant} is the home directory or contains it: the server could plant files that run later outside the sandbox"
    )]
    WritableHome { grant: PathBuf, home: PathBuf },
    #[error(transparent)]
    Pin(#[from] pin::PinError),
    #[error(
        "the writable grant {grant} holds more than {} directories within {} levels: cordon cannot check it for git repositories",
        protect::GIT_SEARCH_LIMIT,
        protect::GIT_DEPTH
    )]
    GrantTooLarge { grant: PathBuf },
}

impl SandboxError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            SandboxError::Missing { hint, .. } => Some(hint),
            SandboxError::ProtectedInGrant { .. } => Some(
                "narrow the grant so it does not contain the path, run with namespaces, or lift the protection by naming the path in the profile's filesystem.unprotect",
            ),
            SandboxError::ProtectedCreatable { .. } => Some(
                "create them first (an empty file or directory) so cordon can mask them read-only, narrow the grant, or lift a protection by naming the path in the profile's filesystem.unprotect",
            ),
            SandboxError::WritableHome { .. } => Some(
                "grant the directories the server needs instead; a profile that really needs a writable home lifts this by naming the home directory in filesystem.unprotect (unprotect = [\"~\"]), and the files that run code stay read-only",
            ),
            SandboxError::Pin(e) => e.hint(),
            SandboxError::GrantTooLarge { .. } => {
                Some("grant the project directories the server needs instead")
            }
            SandboxError::GrantInProtected { .. } => {
                Some("lift the protection by naming the path in the profile's filesystem.unprotect")
            }
            SandboxError::LimitUnavailable { .. } => Some(
                "set `enforce = \"best-effort\"` in the profile's [limits] table to start without it (printed as not enforced), or remove the limit",
            ),
            SandboxError::Cgroup(e) if e.key.is_some() => {
                Some("set a limit the kernel accepts in the profile's [limits] table, or remove it")
            }
            SandboxError::FilteredWithoutNamespaces { .. } => Some(
                "run without --no-namespaces where unprivileged user namespaces are allowed; cordon does not fall back to the host's network",
            ),
            _ => None,
        }
    }
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn cstring(s: &OsStr) -> Result<CString, SandboxError> {
    CString::new(s.as_bytes()).map_err(|_| SandboxError::Nul(PathBuf::from(s)))
}

/// Prepares every layer for `policy`. `argv[0]` is passed as given; `exe`
/// is the resolved file that is executed. Without `allocate` (a dry run,
/// which only shows the sandbox) nothing outside cordon is created: no
/// private temporary directory and no pids cgroup; the report names them
/// as they will be at a launch. Nor is anything made that only a start
/// uses (the Landlock ruleset, the mount plan); the report is the same.
pub fn prepare(
    policy: &Policy,
    probe: &Probe,
    host: &HostPaths,
    exe: &Path,
    argv: &[impl AsRef<OsStr>],
    cwd: &Path,
    allocate: bool,
) -> Result<Prepared, SandboxError> {
    let mut report = EnforcementReport::default();
    let namespaces = check_namespaces(policy, probe, &mut report)?;
    let (egress, mut overrides) = prepare_egress(policy, probe, host, namespaces, &mut report)?;
    let (cleaned, cleaned_paths) =
        prepare_cleaned(policy, host, namespaces, &mut overrides, &mut report)?;
    let mut protections = check_protections(policy, host, namespaces, &mut report)?;
    // A cleaned copy is bound over the user's file instead of a mask.
    protections.retain(|p| !cleaned_paths.contains(&p.path));
    let has_tmp = policy.private_tmp && allocate;
    // With namespaces and a size bound, the private /tmp is a tmpfs made
    // inside the mount namespace: nothing is created on the host for it.
    let sized_tmpfs = namespaces && policy.limits.tmp.is_some();
    let private_tmp = if has_tmp && !sized_tmpfs {
        Some(tmpdir::create().map_err(SandboxError::TempDir)?)
    } else {
        None
    };
    let tmp_host = private_tmp.as_ref().map(|t| t.path().to_path_buf());
    // Inside namespaces the private /tmp is mounted at /tmp; without them
    // the server sees the directory at its host path.
    let tmp_inside = if namespaces {
        has_tmp.then(|| PathBuf::from("/tmp"))
    } else {
        tmp_host.clone()
    };

    // The mount plan serves a start alone: a shown plan reports nothing
    // from it.
    let (id_maps, mounts) = if namespaces && allocate {
        let tmp = match (has_tmp, policy.limits.tmp, tmp_host.as_deref()) {
            (false, _, _) => None,
            (true, Some(size), _) => Some(mounts::PrivateTmp::Sized(size)),
            (true, None, Some(host)) => Some(mounts::PrivateTmp::Host(host)),
            (true, None, None) => {
                return Err(SandboxError::Mounts(
                    "the private /tmp has neither a size nor a host directory".into(),
                ));
            }
        };
        let plan =
            mounts::plan(policy, tmp, &protections, &overrides).map_err(SandboxError::Mounts)?;
        (Some(mounts::IdMaps::for_current_user()), Some(plan))
    } else {
        (None, None)
    };
    let generated: Vec<PathBuf> = overrides.files.iter().map(|(_, f)| f.clone()).collect();
    let mut landlock = landlock::prepare(
        policy,
        probe,
        tmp_host.as_deref(),
        &generated,
        namespaces,
        allocate,
        &mut report,
    )?;
    if !namespaces && policy.network.mode == NetworkMode::Loopback {
        report.degraded(Layer::Network, "loopback: without a network namespace the host's loopback and network are reachable (only Landlock's TCP port rules apply)".into());
    }
    bound_tmp(policy, has_tmp, namespaces, landlock.as_mut(), &mut report)?;
    let seccomp = prepare_seccomp(policy, probe, namespaces, &mut report)?;
    let (cgroup, data_rlimit) = prepare_cgroup(policy, allocate, &mut report)?;
    let envp = env::build(policy, tmp_inside.as_deref(), &mut std::env::vars_os())?;
    // The server starts in the working directory only when a grant covers
    // it; otherwise in /, so nothing of the directory leaks by default.
    let cwd_granted = policy
        .fs
        .iter()
        .any(|g| g.exists && cwd.starts_with(&g.path));
    let cwd_inside = if cwd_granted { cwd } else { Path::new("/") };
    let exec = PreparedExec::new(exe, argv, envp, cwd_inside)?;
    report.enforced(Layer::Process, format!(
        "new session, no_new_privs, all capabilities dropped, stdin, stdout and stderr pipes cordon relays, descriptors above 2 closed, rlimits (core {}, nofile {}, nproc {})",
        policy.limits.core, policy.limits.nofile, policy.limits.nproc
    ));
    Ok(Prepared {
        clone_flags: if namespaces {
            namespace_flags(policy)
        } else {
            0
        },
        id_maps,
        mounts,
        hostname: namespaces.then_some(b"cordon".as_slice()),
        loopback: namespaces
            && matches!(
                policy.network.mode,
                NetworkMode::Loopback | NetworkMode::Filtered
            ),
        egress,
        cgroup,
        stderr: None,
        rlimits: rlimits::table(&policy.limits, data_rlimit),
        landlock,
        seccomp,
        exec,
        report,
        private_tmp,
        cleaned,
        probe_cache: probe.cache.clone().filter(|_| namespaces),
        launchable: allocate,
    })
}

/// With namespaces, cleaned copies of configuration files that hold
/// credentials or run code (see [`protect::CLEANED`]): `~/.npmrc` for a
/// profile with npm's groups (`node`, `npx`), git's user configuration
/// when a grant makes it visible. Each is bound read-only at the file's
/// path; returns the copies (kept until the server ends) and the canonical
/// paths they cover.
fn prepare_cleaned(
    policy: &Policy,
    host: &HostPaths,
    namespaces: bool,
    overrides: &mut mounts::Overrides,
    report: &mut EnforcementReport,
) -> Result<(Vec<tempfile::NamedTempFile>, Vec<PathBuf>), SandboxError> {
    use std::io::Write;
    let mut files = Vec::new();
    let mut covered = Vec::new();
    if !namespaces {
        return Ok((files, covered));
    }
    let npm = policy.fs.iter().any(
        |g| matches!(&g.source, crate::policy::GrantSource::Group(n) if n == "node" || n == "npx"),
    );
    for (rel, kind) in protect::CLEANED {
        let user = host.home.join(rel);
        // Resolved by the run's path walk: the home directory is already
        // known from the grants and protections.
        let Ok(real) = crate::realpath::canonical(&user) else {
            continue;
        };
        let visible = policy
            .fs
            .iter()
            .any(|g| g.exists && real.starts_with(&g.path));
        let wanted = match kind {
            protect::Cleaner::Npmrc => npm || visible,
            protect::Cleaner::GitConfig => visible,
        };
        // A file no copy is wanted of is not read.
        if !wanted {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&real) else {
            continue;
        };
        let mut file = tempfile::Builder::new()
            .prefix("cordon-cleaned-")
            .tempfile()
            .map_err(SandboxError::TempDir)?;
        file.write_all(kind.clean(&text).as_bytes())
            .map_err(SandboxError::TempDir)?;
        overrides
            .files
            .push((real.clone(), file.path().to_path_buf()));
        report.enforced(
            Layer::Protections,
            format!(
                "{}: replaced by a copy without credentials or commands",
                user.display()
            ),
        );
        covered.push(real);
        files.push(file);
    }
    Ok((files, covered))
}

fn namespace_flags(policy: &Policy) -> libc::c_int {
    let mut flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP;
    if policy.network.mode != NetworkMode::Host {
        flags |= libc::CLONE_NEWNET;
    }
    flags
}

/// Network `filtered` needs the sandbox's own network namespace: without
/// it nothing stands between the server and the host's network, so cordon
/// refuses rather than fall back (even for a best-effort profile).
fn prepare_egress(
    policy: &Policy,
    probe: &Probe,
    host: &HostPaths,
    namespaces: bool,
    report: &mut EnforcementReport,
) -> Result<(Option<egress::PreparedEgress>, mounts::Overrides), SandboxError> {
    if policy.network.mode != NetworkMode::Filtered {
        return Ok((None, mounts::Overrides::default()));
    }
    if !namespaces {
        let why = match &probe.user_namespaces {
            Err(reason) if policy.mechanisms.namespaces != Requirement::Off => {
                format!("unavailable ({reason})")
            }
            _ => "off".to_owned(),
        };
        return Err(SandboxError::FilteredWithoutNamespaces {
            profile: policy.name.clone(),
            why,
        });
    }
    let (prepared, overrides) = egress::prepare(policy, host, report)?;
    Ok((Some(prepared), overrides))
}

fn check_namespaces(
    policy: &Policy,
    probe: &Probe,
    report: &mut EnforcementReport,
) -> Result<bool, SandboxError> {
    match (policy.mechanisms.namespaces, &probe.user_namespaces) {
        (Requirement::Off, _) => {
            report.off(Layer::Namespaces, "no private mount, pid, network, ipc or uts namespace; Landlock and seccomp carry the isolation".into());
            Ok(false)
        }
        (_, Ok(())) => {
            let net = if policy.network.mode == NetworkMode::Host {
                "host network"
            } else {
                "own network"
            };
            report.enforced(
                Layer::Namespaces,
                format!("user, mount (minimal root), pid, ipc, uts, cgroup, {net}"),
            );
            Ok(true)
        }
        (Requirement::BestEffort, Err(reason)) => {
            report.degraded(Layer::Namespaces, format!("unavailable ({reason}); running with Landlock, seccomp and process hygiene only"));
            Ok(false)
        }
        (Requirement::Required, Err(reason)) => Err(SandboxError::Missing {
            what: "unprivileged user namespaces",
            profile: policy.name.clone(),
            reason: reason.clone(),
            hint: "allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1, or on Ubuntu install cordon's AppArmor profile), or set `namespaces = \"best-effort\"` in the profile's [sandbox] table, or pass --no-namespaces",
        }),
    }
}

fn prepare_seccomp(
    policy: &Policy,
    probe: &Probe,
    namespaces: bool,
    report: &mut EnforcementReport,
) -> Result<Option<seccomp::PreparedSeccomp>, SandboxError> {
    match (&probe.seccomp, policy.mechanisms.seccomp) {
        (Ok(()), _) => {
            let prepared = seccomp::prepare(&policy.seccomp, policy.network.mode, namespaces)?;
            report.enforced(
                Layer::Seccomp,
                format!("denied system calls: {})", policy.seccomp.action),
            );
            if !namespaces {
                // The filter cannot tell a granted file from the host's.
                report.enforced(Layer::Seccomp, "without namespaces, changing any file's mode, owner, times or extended attributes is refused (granted files too), and so are System V IPC and POSIX message queues".into());
            }
            Ok(Some(prepared))
        }
        (Err(reason), Requirement::BestEffort) => {
            report.degraded(Layer::Seccomp, format!("unavailable ({reason})"));
            Ok(None)
        }
        (Err(reason), _) => Err(SandboxError::Missing {
            what: "seccomp filtering",
            profile: policy.name.clone(),
            reason: reason.clone(),
            hint: "use a kernel built with CONFIG_SECCOMP_FILTER, or set `seccomp = \"best-effort\"` in the profile's [sandbox] table",
        }),
    }
}

/// Finds the mandatory protections for this launch. Without namespaces
/// nothing can be masked, so a grant that contains one is refused; a
/// protected path that does not exist cannot be masked either, so a grant
/// that would let the server create one where it runs code later is
/// refused too.
fn check_protections(
    policy: &Policy,
    host: &HostPaths,
    namespaces: bool,
    report: &mut EnforcementReport,
) -> Result<Vec<protect::Protection>, SandboxError> {
    let mut found = protect::find(policy, host);
    if let Some(grant) = found.writable_home.take() {
        return Err(SandboxError::WritableHome {
            grant,
            home: host.home.clone(),
        });
    }
    if let Some(grant) = found.too_large.take() {
        return Err(SandboxError::GrantTooLarge { grant });
    }
    if let Some((p, grant)) = protect::grant_inside_protection(&found.masked, policy) {
        return Err(SandboxError::GrantInProtected {
            grant,
            path: p.path.clone(),
        });
    }
    if !found.creatable.is_empty() {
        return Err(SandboxError::ProtectedCreatable {
            paths: found.creatable,
        });
    }
    let unmaskable = !found.masked.is_empty() || !found.harmless.is_empty();
    if !namespaces && unmaskable {
        let masked = found.masked.iter().map(|p| p.path.clone());
        let paths = masked
            .chain(found.harmless.iter().map(|h| h.path.clone()))
            .collect();
        return Err(SandboxError::ProtectedInGrant { paths });
    }
    if !found.harmless.is_empty() {
        let names: Vec<String> = found
            .harmless
            .iter()
            .map(|h| h.path.display().to_string())
            .collect();
        report.enforced(
            Layer::Protections,
            format!(
                "git: creates {} (the form git treats as harmless) and masks them read-only",
                names.join(", ")
            ),
        );
        found
            .masked
            .extend(protect::harmless_protections(&found.harmless, policy));
        found.masked.sort_by(|a, b| a.path.cmp(&b.path));
    }
    if !found.masked.is_empty() {
        report.enforced(
            Layer::Protections,
            format!(
                "{} protected paths inside grants masked (read-only or hidden)",
                found.masked.len()
            ),
        );
    }
    if !found.unmasked.is_empty() {
        let shown: Vec<String> = found
            .unmasked
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect();
        let more = match found.unmasked.len() {
            n if n > 3 => format!(" and {} more", n - 3),
            _ => String::new(),
        };
        report.degraded(Layer::Protections, format!(
            "{}{more} do not exist inside writable grants and cannot be masked: the server could create them",
            shown.join(", ")
        ));
    }
    Ok(found.masked)
}

/// The cgroups of the sandbox. The kernel exempts uid 0 from
/// RLIMIT_NPROC: for root the process limit needs a pids cgroup. Memory is
/// bounded for the whole sandbox by a memory cgroup where one can be made,
/// else for each process by RLIMIT_DATA (returned, for the rlimit table).
fn prepare_cgroup(
    policy: &Policy,
    allocate: bool,
    report: &mut EnforcementReport,
) -> Result<(Option<cgroup::PreparedCgroup>, Option<u64>), SandboxError> {
    let limits = &policy.limits;
    let root = nix::unistd::geteuid().is_root();
    if !allocate {
        // Shown only (a dry run): no cgroup is made; the launch decides.
        if root {
            report.enforced(
                Layer::Limits,
                format!(
                    "processes: {} processes (a pids cgroup, created at launch)",
                    limits.nproc
                ),
            );
        }
        if let Some(bytes) = limits.memory {
            report.enforced(Layer::Limits, format!(
                "memory: {} (a memory cgroup for the whole sandbox where one can be made at launch, else per process by RLIMIT_DATA)",
                rlimits::show_bytes(bytes)
            ));
        }
        return Ok((None, None));
    }
    let outcome = cgroup::prepare(cgroup::Request {
        pids: root.then_some(limits.nproc),
        memory: limits.memory,
    });
    match outcome.pids {
        Some(Ok(dir)) => report.enforced(
            Layer::Limits,
            format!(
                "processes: {} processes (pids cgroup {})",
                limits.nproc,
                dir.display()
            ),
        ),
        Some(Err(reason)) => unavailable(
            policy,
            "nproc",
            limits.asked.nproc,
            limits.nproc.to_string(),
            format!("root is exempt from RLIMIT_NPROC and {reason}"),
            report,
        )?,
        None => {}
    }
    let mut data = None;
    match (outcome.memory, limits.memory) {
        (Some(Ok(dir)), Some(bytes)) => report.enforced(Layer::Limits, format!(
            "memory: {} for the whole sandbox (memory cgroup {}; past it the kernel kills a process of the sandbox)",
            rlimits::show_bytes(bytes),
            dir.display()
        )),
        (Some(Err(reason)), Some(bytes)) => {
            // Under a lower hard limit of cordon's own, that one holds (the
            // server could not raise it either).
            let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_DATA)
                .map_or(u64::MAX, |(_, hard)| hard);
            let bytes = bytes.min(hard);
            data = Some(bytes);
            report.enforced(Layer::Limits, format!(
                "memory: {} per process (RLIMIT_DATA; no memory cgroup: {reason})",
                rlimits::show_bytes(bytes)
            ));
        }
        _ => {}
    }
    let prepared = Some(outcome.prepared).filter(|p| !p.is_empty());
    Ok((prepared, data))
}

/// A limit that cannot be applied: a refusal when the profile set it and
/// its limits are required, otherwise printed as not enforced.
fn unavailable(
    policy: &Policy,
    key: &'static str,
    asked: bool,
    value: String,
    reason: String,
    report: &mut EnforcementReport,
) -> Result<(), SandboxError> {
    if asked && policy.limits.enforce == LimitEnforcement::Required {
        return Err(SandboxError::LimitUnavailable {
            key,
            value,
            profile: policy.name.clone(),
            reason,
        });
    }
    let why = if asked {
        "enforce = \"best-effort\""
    } else {
        "the default"
    };
    report.degraded(Layer::Limits, format!("{key} = {value} ({why}): {reason}"));
    Ok(())
}

/// The size of the private /tmp. With namespaces it is a tmpfs of that
/// size, made in the mount namespace (see [`mounts::PrivateTmp`]);
/// Landlock's rule for it is added in the child, once it is mounted.
/// Without namespaces the server writes to a host directory, on the
/// host's disk: no mechanism open to an unprivileged process bounds the
/// sum of its files (RLIMIT_FSIZE bounds each file alone), so the bound
/// is not applied.
fn bound_tmp(
    policy: &Policy,
    has_tmp: bool,
    namespaces: bool,
    landlock: Option<&mut landlock::PreparedLandlock>,
    report: &mut EnforcementReport,
) -> Result<(), SandboxError> {
    let (true, Some(size)) = (has_tmp, policy.limits.tmp) else {
        return Ok(());
    };
    if !namespaces {
        return unavailable(
            policy,
            "tmp",
            policy.limits.asked.tmp,
            rlimits::show_bytes(size),
            "without namespaces the private /tmp is a directory on the host's disk, and the total size of its files cannot be bounded".into(),
            report,
        );
    }
    if let Some(landlock) = landlock {
        landlock.grant_fresh_tmp();
    }
    report.enforced(
        Layer::Tmp,
        format!("a private tmpfs of {}", rlimits::show_bytes(size)),
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::policy::test_support::policy;

    fn probe(userns: Result<(), String>, seccomp: Result<(), String>) -> Probe {
        Probe {
            landlock: Ok(6),
            seccomp,
            user_namespaces: userns,
            apparmor_userns_restricted: None,
            cache: None,
        }
    }

    fn only(report: &EnforcementReport, layer: Layer) -> State {
        let states: Vec<&State> = report.layer(layer).collect();
        assert_eq!(states.len(), 1, "{:?}", report.entries);
        states[0].clone()
    }

    #[test]
    fn namespaces_turned_off_are_reported_off_with_a_reason() {
        let mut p = policy();
        p.mechanisms.namespaces = Requirement::Off;
        let mut report = EnforcementReport::default();
        let used = check_namespaces(&p, &probe(Ok(()), Ok(())), &mut report).unwrap();
        assert!(!used);
        match only(&report, Layer::Namespaces) {
            State::Off { reason } => assert!(reason.contains("no private mount"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn namespaces_unavailable_are_degraded_or_refused() {
        let mut p = policy();
        let missing = || probe(Err("EPERM from clone".into()), Ok(()));
        p.mechanisms.namespaces = Requirement::BestEffort;
        let mut report = EnforcementReport::default();
        assert!(!check_namespaces(&p, &missing(), &mut report).unwrap());
        match only(&report, Layer::Namespaces) {
            State::Degraded { reason } => assert!(reason.contains("EPERM from clone"), "{reason}"),
            other => panic!("{other:?}"),
        }
        p.mechanisms.namespaces = Requirement::Required;
        let mut report = EnforcementReport::default();
        assert!(check_namespaces(&p, &missing(), &mut report).is_err());
        assert!(report.entries.is_empty());
        let mut report = EnforcementReport::default();
        assert!(check_namespaces(&p, &probe(Ok(()), Ok(())), &mut report).unwrap());
        assert!(matches!(
            only(&report, Layer::Namespaces),
            State::Enforced { .. }
        ));
    }

    #[test]
    fn seccomp_unavailable_best_effort_is_degraded() {
        let mut p = policy();
        p.mechanisms.seccomp = Requirement::BestEffort;
        let mut report = EnforcementReport::default();
        let none = probe(Ok(()), Err("no CONFIG_SECCOMP_FILTER".into()));
        assert!(
            prepare_seccomp(&p, &none, true, &mut report)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            only(&report, Layer::Seccomp),
            State::Degraded {
                reason: "unavailable (no CONFIG_SECCOMP_FILTER)".into()
            }
        );
    }

    #[test]
    fn statuses_serialise_with_layer_and_state() {
        let status = LayerStatus {
            layer: Layer::Namespaces,
            state: State::Off {
                reason: "--no-namespaces".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"layer":"namespaces","state":"off","reason":"--no-namespaces"}"#
        );
    }
}
