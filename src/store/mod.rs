//! The package store: servers published as packages (`npx -y PKG`, `uvx
//! PKG`) are installed once, by cordon, and run from there.
//!
//! - At approval the command's package spec is *resolved* to an exact
//!   version and the registry's integrity digest ([`Resolution`]), by the
//!   ecosystem's own tool run confined ([`Confined`]): network only the
//!   registry, writes only a private temporary home.
//! - It is *installed* with that tool, again confined (network: the
//!   registry; writable: only the new entry and the private home; install
//!   scripts run there, inside the sandbox), into
//!   `<data>/cordon/store/<ecosystem>/<key>`, where `key` is the SHA-256 of
//!   (ecosystem, name, version, integrity): content-addressed by what was
//!   approved. The installed version and integrity are checked against the
//!   resolution, then the entry is *sealed* (directories 0555, files
//!   without write bits) and its tree digest (every path, mode and
//!   content, see [`crate::consent::tree`]) recorded next to it. Only then
//!   is it complete; an incomplete entry (an install that died) is removed
//!   and installed again. One install at a time per entry (a lock file).
//! - The approval binds the entry's key and its tree digest; every start
//!   runs the server from the entry (`node` and the package's bin script
//!   inside it; no npx resolution, no registry, no writable cache) and
//!   checks the tree first (fast through the digest cache).
//!
//! The store is read-only inside every writable grant of every server
//! ([`crate::sandbox`]'s protected paths); a server gets its own entry,
//! read+exec, and nothing else of the store.

pub mod npm;
pub mod pypi;
pub mod spec;

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::consent::digest::Digests;
use crate::consent::tree::{self, Tree};
use crate::dirs::HostPaths;
use crate::profile::Context;

pub use spec::parse;

/// Which registry a package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Npm,
    #[serde(rename = "pypi")]
    PyPI,
}

impl Ecosystem {
    /// The directory name in the store, and the word shown.
    pub fn name(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "pypi",
        }
    }
}

impl std::fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the command line asked for, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRequest {
    pub ecosystem: Ecosystem,
    /// The words as written before the package: `["npx", "-y"]`.
    pub launcher: Vec<OsString>,
    /// `@scope/pkg`, `mcp-server-time`.
    pub name: String,
    /// `1.2.3`, `^1`, `latest`, `==1.0`; None when the command names no
    /// version (the registry's latest).
    pub spec: Option<String>,
    /// The program to run when it is not the package's own
    /// (`npx -p P BIN`, `uvx --from P BIN`).
    pub bin: Option<String>,
    /// The server's arguments.
    pub args: Vec<OsString>,
}

impl PackageRequest {
    /// `name@spec` (npm) or `name==spec` style, as written.
    pub fn shown(&self) -> String {
        match (&self.spec, self.ecosystem) {
            (None, _) => self.name.clone(),
            (Some(s), Ecosystem::Npm) => format!("{}@{s}", self.name),
            (Some(s), Ecosystem::PyPI) if s.starts_with(['=', '<', '>', '~', '!']) => {
                format!("{}{s}", self.name)
            }
            (Some(s), Ecosystem::PyPI) => format!("{}=={s}", self.name),
        }
    }

    /// Whether the spec names one exact version.
    pub fn pinned(&self, version: &str) -> bool {
        self.spec
            .as_deref()
            .map(|s| s.trim_start_matches("==").trim_start_matches('='))
            .is_some_and(|s| s == version)
    }
}

/// Resolved at approval: exact, and bound into the approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub version: String,
    /// npm: `dist.integrity` (`sha512-…`); PyPI: SHA-256 of the
    /// hash-pinned lock text.
    pub integrity: String,
    /// PyPI: the `name==v --hash=sha256:…` lines of the whole set; npm:
    /// empty (the registry's integrity of each dependency is checked by
    /// npm itself against its lock).
    #[serde(default)]
    pub lock: String,
    /// RFC 3339 UTC, shown for unpinned specs.
    pub resolved_at: String,
    /// The index or registry URL used.
    pub registry: String,
}

/// The per-ecosystem part; everything else is shared.
pub trait Installer {
    /// The registry destinations (`host:port`) the install sandbox may
    /// reach.
    fn network(&self) -> Result<Vec<String>, StoreError>;
    /// The exact version and integrity the request names today.
    fn resolve(&self, req: &PackageRequest, sb: &Confined) -> Result<Resolution, StoreError>;
    /// Installs into `entry` (an empty directory at its final path; venvs
    /// hold absolute paths, so nothing is moved afterwards) and checks
    /// that what was installed is what `res` names.
    fn install(
        &self,
        req: &PackageRequest,
        res: &Resolution,
        entry: &Path,
        sb: &Confined,
    ) -> Result<(), StoreError>;
    /// The argv that starts the server from the entry (an interpreter
    /// from the system runtime and a script inside the entry, or an
    /// executable inside the entry), followed by `req.args`.
    fn command(
        &self,
        req: &PackageRequest,
        res: &Resolution,
        entry: &Path,
    ) -> Result<Vec<OsString>, StoreError>;
    /// What the consent screen says about how the install ran.
    fn install_note(&self) -> &'static str;
}

/// The installer of `ecosystem`.
pub fn installer(ecosystem: Ecosystem) -> Result<Box<dyn Installer>, StoreError> {
    match ecosystem {
        Ecosystem::Npm => Ok(Box::new(npm::Npm::from_env())),
        Ecosystem::PyPI => Ok(Box::new(pypi::PyPi::from_env())),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("cannot run {what} in its sandbox: {reason}")]
    Sandbox { what: String, reason: String },
    #[error("{what} failed ({status}){detail}")]
    Tool {
        what: String,
        status: String,
        detail: String,
    },
    #[error("{what}: {reason}")]
    Registry { what: String, reason: String },
    #[error("the installed package does not match its resolution: {0}")]
    Mismatch(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the store entry {path} changed after it was sealed")]
    Changed { path: PathBuf },
    #[error("the store entry {path} is not complete (no record of its sealed tree)")]
    Incomplete { path: PathBuf },
}

impl StoreError {
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::Incomplete { .. } | StoreError::Changed { .. } => Some(
                "approve it again from a terminal (`cordon approve` with the same arguments) to install it".into(),
            ),
            StoreError::Tool { .. } | StoreError::Registry { .. } => Some(
                "check the registry setting (npm: npm_config_registry or `registry=` in ~/.npmrc; PyPI: UV_INDEX_URL, UV_DEFAULT_INDEX or PIP_INDEX_URL) and that it is reachable".into(),
            ),
            _ => None,
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Runs a command confined by cordon's own sandbox: read-only system
/// runtime, writable only the given directories and a private /tmp (the
/// tool's HOME and cache), network only the installer's registry
/// destinations (mode `filtered`), the environment rebuilt from the
/// sandbox's allowlist plus the registry settings.
pub struct Confined {
    pub(crate) ctx: Context,
    pub(crate) host: HostPaths,
    /// Directories the tool may write besides its private /tmp.
    pub writable: Vec<PathBuf>,
    /// `host:port` destinations it may reach.
    pub network: Vec<String>,
    /// Whether namespaces may be used (`--no-namespaces` forbids them,
    /// and mode `filtered` then refuses to start).
    pub namespaces: bool,
}

/// What a confined command printed on stdout, and how it ended.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

impl Confined {
    pub fn new(ctx: &Context, host: &HostPaths, network: Vec<String>) -> Confined {
        Confined {
            ctx: ctx.clone(),
            host: host.clone(),
            writable: Vec::new(),
            network,
            namespaces: true,
        }
    }

    /// The same sandbox with `dir` writable too.
    pub fn writing(&self, dir: &Path) -> Confined {
        let mut writable = self.writable.clone();
        writable.push(dir.to_path_buf());
        Confined {
            ctx: self.ctx.clone(),
            host: self.host.clone(),
            writable,
            network: self.network.clone(),
            namespaces: self.namespaces,
        }
    }

    /// Runs `argv` (its first word looked up on PATH) in the sandbox with
    /// `env` set on top of the allowlisted environment; its stderr goes
    /// to cordon's stderr (the terminal: progress and errors), its stdout
    /// is returned.
    pub fn run(
        &self,
        argv: &[OsString],
        env: &[(OsString, OsString)],
    ) -> Result<Output, StoreError> {
        let what = argv
            .first()
            .map_or_else(String::new, |a| a.to_string_lossy().into_owned());
        let fail = |reason: String| StoreError::Sandbox {
            what: what.clone(),
            reason,
        };
        let policy = self.policy(env).map_err(|e| fail(e.to_string()))?;
        let path_var = std::env::var_os("PATH");
        let first = argv.first().ok_or_else(|| fail("no command".into()))?;
        let resolved = crate::launch::resolve(first, path_var.as_deref(), &self.ctx.cwd)
            .map_err(|e| fail(e.to_string()))?;
        let mut policy = policy;
        crate::profile::add_grant(
            &mut policy,
            &resolved.executable,
            crate::policy::Access::READ_EXEC,
            crate::policy::GrantSource::Executable,
            &self.ctx,
        )
        .map_err(|e| fail(e.to_string()))?;
        for interp in &resolved.interpreters {
            crate::profile::add_grant(
                &mut policy,
                interp,
                crate::policy::Access::READ_EXEC,
                crate::policy::GrantSource::Interpreter,
                &self.ctx,
            )
            .map_err(|e| fail(e.to_string()))?;
        }
        let probe = crate::sandbox::Probe::for_launch(&self.host.state, self.namespaces);
        let prepared = crate::sandbox::prepare(
            &policy,
            &probe,
            &self.host,
            &resolved.executable,
            argv,
            Path::new("/"),
            true,
        )
        .map_err(|e| fail(e.to_string()))?;
        let mut child = crate::launch::spawn(&prepared).map_err(|e| fail(e.to_string()))?;
        // Nothing to say on its stdin: EOF at once.
        child.stdin = None;
        let stdout = read_all(&child.stdout).map_err(|e| fail(e.to_string()))?;
        let status = match crate::launch::read_record(&child.status) {
            Some(crate::launch::status::Record::Exited { status }) => status,
            _ => -1,
        };
        child.kill_sandbox();
        let _ = nix::sys::wait::waitpid(child.pid, None);
        child.finish_stderr();
        if let Some(mut forwarder) = child.forwarder.take() {
            let _ = forwarder.wait();
        }
        Ok(Output {
            status: if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            },
            stdout,
        })
    }

    /// The sandbox's policy, through the one validator every profile
    /// goes through.
    fn policy(
        &self,
        env: &[(OsString, OsString)],
    ) -> Result<crate::policy::Policy, crate::profile::ProfileError> {
        let quote = |p: &Path| toml_string(&p.to_string_lossy());
        let write: Vec<String> = self.writable.iter().map(|p| quote(p)).collect();
        let allow: Vec<String> = self.network.iter().map(|d| toml_string(d)).collect();
        let text = format!(
            "schema = 1\n\
             description = \"cordon's package installer\"\n\
             [filesystem]\n\
             groups = [\"runtime\", \"node\", \"dns\"]\n\
             write = [{}]\n\
             private_tmp = true\n\
             [network]\n\
             mode = \"filtered\"\n\
             allow = [{}]\n\
             bind = []\n",
            write.join(", "),
            allow.join(", ")
        );
        let dir = tempfile::tempdir().map_err(|e| crate::profile::ProfileError::Environment {
            what: "a temporary directory",
            reason: e.to_string(),
        })?;
        let file = dir.path().join("cordon-install.toml");
        fs::write(&file, text).map_err(|e| crate::profile::ProfileError::Environment {
            what: "a temporary profile",
            reason: e.to_string(),
        })?;
        let mut policy = crate::profile::load(&file.to_string_lossy(), &self.ctx)?;
        for (name, value) in env {
            if let Some(name) = name.to_str() {
                policy.env.set.insert(name.to_owned(), value.clone());
            }
        }
        policy.env.set.insert("HOME".into(), "/tmp".into());
        Ok(policy)
    }
}

fn say(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads a non-blocking pipe to its end.
fn read_all(fd: &std::os::fd::OwnedFd) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut file = fs::File::from(fd.try_clone()?);
    let mut buf = [0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut pfd = [libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                // SAFETY: one valid pollfd, its length passed alongside.
                #[allow(unsafe_code)]
                unsafe {
                    libc::poll(pfd.as_mut_ptr(), 1, -1)
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// An installed, sealed entry of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ecosystem: Ecosystem,
    pub key: String,
    pub path: PathBuf,
    /// The tree digest recorded when it was sealed.
    pub tree: String,
}

/// What is recorded next to an entry once it is sealed: the entry is
/// complete only when this exists.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sealed {
    name: String,
    resolution: Resolution,
    tree: String,
}

/// The store in `<data>/cordon/store`.
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content address of what was approved.
    pub fn key(ecosystem: Ecosystem, name: &str, res: &Resolution) -> String {
        let mut text = Vec::new();
        for field in [
            ecosystem.name(),
            name,
            res.version.as_str(),
            res.integrity.as_str(),
        ] {
            text.extend_from_slice(format!("{}:", field.len()).as_bytes());
            text.extend_from_slice(field.as_bytes());
        }
        crate::consent::binding::sha256_hex(&text)
    }

    pub fn entry_path(&self, ecosystem: Ecosystem, key: &str) -> PathBuf {
        self.root.join(ecosystem.name()).join(key)
    }

    fn sealed_path(&self, ecosystem: Ecosystem, key: &str) -> PathBuf {
        self.root
            .join(ecosystem.name())
            .join(format!("{key}.sealed.json"))
    }

    /// The complete entry of `key`, if there is one.
    pub fn find(&self, ecosystem: Ecosystem, key: &str) -> Result<Entry, StoreError> {
        let path = self.entry_path(ecosystem, key);
        let sealed = self.sealed_path(ecosystem, key);
        let text = match fs::read(&sealed) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Incomplete { path });
            }
            Err(e) => return Err(StoreError::io(&sealed)(e)),
        };
        let record: Sealed = serde_json::from_slice(&text)
            .map_err(|e| StoreError::io(&sealed)(std::io::Error::other(e)))?;
        Ok(Entry {
            ecosystem,
            key: key.to_owned(),
            path,
            tree: record.tree,
        })
    }

    /// The entry for `res`, installed (confined) and sealed when it is
    /// not complete yet. Progress goes to stderr.
    pub fn ensure(
        &self,
        req: &PackageRequest,
        res: &Resolution,
        installer: &dyn Installer,
        sb: &Confined,
    ) -> Result<Entry, StoreError> {
        let key = Store::key(req.ecosystem, &req.name, res);
        let dir = self.root.join(req.ecosystem.name());
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(StoreError::io(&dir))?;
        let lock_path = dir.join(format!("{key}.lock"));
        let lock_file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(StoreError::io(&lock_path))?;
        let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| StoreError::io(&lock_path)(e.into()))?;
        if let Ok(entry) = self.find(req.ecosystem, &key) {
            match self.verify(&entry, &Digests::none()) {
                Ok(()) => return Ok(entry),
                Err(e) => say(&format!("cordon: {e}; installing it again\n")),
            }
        }
        let path = self.entry_path(req.ecosystem, &key);
        if fs::symlink_metadata(&path).is_ok() {
            // An install that did not finish: start over.
            unseal(&path);
            fs::remove_dir_all(&path).map_err(StoreError::io(&path))?;
        }
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(StoreError::io(&path))?;
        crate::realpath::forget();
        say(&format!(
            "cordon: installing {} {} into the store ({}), confined: network only {}, writes only {}\n",
            req.name,
            res.version,
            req.ecosystem,
            sb.network.join(", "),
            path.display()
        ));
        installer.install(req, res, &path, &sb.writing(&path))?;
        seal(&path).map_err(StoreError::io(&path))?;
        let tree = tree::tree_of(&path, &[], &Digests::none()).map_err(StoreError::io(&path))?;
        let record = Sealed {
            name: req.name.clone(),
            resolution: res.clone(),
            tree: tree.sha256.clone(),
        };
        let sealed = self.sealed_path(req.ecosystem, &key);
        let text = serde_json::to_vec_pretty(&record)
            .map_err(|e| StoreError::io(&sealed)(std::io::Error::other(e)))?;
        let tmp = dir.join(format!("{key}.sealed.tmp"));
        fs::write(&tmp, text).map_err(StoreError::io(&tmp))?;
        fs::rename(&tmp, &sealed).map_err(StoreError::io(&sealed))?;
        crate::realpath::forget();
        say(&format!(
            "cordon: installed {} {} into {} (sealed read-only, tree {})\n",
            req.name,
            res.version,
            path.display(),
            &tree.sha256[..16]
        ));
        Ok(Entry {
            ecosystem: req.ecosystem,
            key,
            path,
            tree: tree.sha256,
        })
    }

    /// Whether the entry's tree is still the one sealed; the error names
    /// what changed.
    pub fn verify(&self, entry: &Entry, digests: &Digests) -> Result<(), StoreError> {
        let now = self.tree(entry, digests)?;
        if now.sha256 == entry.tree {
            return Ok(());
        }
        Err(StoreError::Changed {
            path: entry.path.clone(),
        })
    }

    /// The tree of an entry as it is now, through the digest cache.
    pub fn tree(&self, entry: &Entry, digests: &Digests) -> Result<Tree, StoreError> {
        tree::tree_of(&entry.path, &[], digests).map_err(StoreError::io(&entry.path))
    }
}

/// What differs between two trees, by path relative to their roots (an
/// update's entry has a root of its own).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TreeDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// The files added, removed and changed from `old` to `new`.
pub fn diff(old: &Tree, new: &Tree) -> TreeDiff {
    let mut out = TreeDiff::default();
    let old_by: std::collections::BTreeMap<&str, &tree::Entry> =
        old.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let new_by: std::collections::BTreeMap<&str, &tree::Entry> =
        new.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    for (path, n) in &new_by {
        match old_by.get(path) {
            None => out.added.push((*path).to_owned()),
            Some(o) if o != n => out.changed.push((*path).to_owned()),
            Some(_) => {}
        }
    }
    for path in old_by.keys() {
        if !new_by.contains_key(path) {
            out.removed.push((*path).to_owned());
        }
    }
    // The root's own entry (empty path) says nothing a person can use.
    out.changed.retain(|p| !p.is_empty());
    out
}

impl TreeDiff {
    /// A summary line, then the paths (at most a few of each kind).
    pub fn render(&self) -> String {
        const SHOWN: usize = 8;
        let mut text = format!(
            "cordon: --update: files added: {}, removed: {}, changed: {}\n",
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        );
        for (mark, list) in [
            ("+", &self.added),
            ("-", &self.removed),
            ("~", &self.changed),
        ] {
            for path in list.iter().take(SHOWN) {
                text.push_str(&format!("  {mark} {}\n", crate::consent::escape_text(path)));
            }
            if list.len() > SHOWN {
                text.push_str(&format!("  {mark} … and {} more\n", list.len() - SHOWN));
            }
        }
        text
    }
}

/// Makes an entry read-only: directories 0555, files without write bits.
/// Children first, so that a directory is sealed after its content.
fn seal(root: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(root)?;
    if meta.is_dir() {
        for entry in fs::read_dir(root)? {
            seal(&entry?.path())?;
        }
        fs::set_permissions(root, fs::Permissions::from_mode(0o555))?;
    } else if meta.is_file() {
        let mode = meta.mode() & 0o7777 & !0o222;
        fs::set_permissions(root, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Gives the owner write access to every directory again, so that an
/// incomplete entry can be removed.
fn unseal(root: &Path) {
    if let Ok(meta) = fs::symlink_metadata(root) {
        if meta.is_dir() {
            let _ = fs::set_permissions(root, fs::Permissions::from_mode(0o755));
            if let Ok(read) = fs::read_dir(root) {
                for entry in read.flatten() {
                    unseal(&entry.path());
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn res(version: &str) -> Resolution {
        Resolution {
            version: version.into(),
            integrity: "sha512-x".into(),
            lock: String::new(),
            resolved_at: "2026-01-01T00:00:00Z".into(),
            registry: "https://registry.npmjs.org/".into(),
        }
    }

    #[test]
    fn keys_differ_by_every_field() {
        let a = Store::key(Ecosystem::Npm, "a", &res("1.0.0"));
        assert_ne!(a, Store::key(Ecosystem::PyPI, "a", &res("1.0.0")));
        assert_ne!(a, Store::key(Ecosystem::Npm, "a", &res("1.0.1")));
        assert_ne!(a, Store::key(Ecosystem::Npm, "a1", &res(".0.0")));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn sealing_removes_every_write_bit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("e");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), "x").unwrap();
        seal(&root).unwrap();
        for p in [root.clone(), root.join("a/b"), root.join("a/b/f")] {
            assert_eq!(fs::metadata(&p).unwrap().mode() & 0o222, 0, "{p:?}");
        }
        unseal(&root);
        fs::remove_dir_all(&root).unwrap();
    }
}
