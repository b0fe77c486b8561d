//! What an approval is bound to: the exact command, the content of what it
//! executes, the effective policy, the names of passed variables and the
//! working directory. A change to any of them is a different thing to run
//! and needs a new approval.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::digest::{Digests, Opened};
use super::tree::{self, Tree};
use super::{Invocation, quote_argv};
use crate::launch::script::{Code, Role};
use crate::policy::Policy;

/// A file and the SHA-256 of its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: PathBuf,
    pub sha256: String,
}

/// A package the command names (`npx -y PKG`, `uvx PKG`), as resolved at
/// approval and installed into cordon's store; the server runs from the
/// store entry, whose tree is bound in [`Binding::trees`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// `npm`, `pypi`.
    pub ecosystem: String,
    pub name: String,
    /// The spec as written (`^1`, `latest`); empty when none was.
    pub spec: String,
    pub version: String,
    /// The registry's integrity digest (npm `sha512-…`; PyPI: the lock's
    /// SHA-256).
    pub integrity: String,
    /// PyPI: the hash-pinned lock of the whole set.
    #[serde(default)]
    pub lock: String,
    pub registry: String,
    pub resolved_at: String,
    /// The store entry's key (content address of the fields above).
    pub key: String,
}

fn lenient_package<'de, D>(de: D) -> Result<Option<Package>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Option::<serde_json::Value>::deserialize(de)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// A file of code an interpreter runs besides its script, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeFile {
    /// "preloaded file", "start-up file", "script".
    pub role: String,
    #[serde(flatten)]
    pub file: FileHash,
}

/// Everything an approval is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The command shell-quoted, as shown at consent.
    pub command: String,
    /// SHA-256 of the raw argv bytes (NUL-separated): exact even for
    /// arguments that are not UTF-8.
    pub argv_sha256: String,
    /// cordon's own options for this launch (`--pin`, `--ro`, …), in
    /// their one canonical spelling, shell-quoted.
    #[serde(default)]
    pub options: String,
    pub executable: FileHash,
    /// The programs that run in turn: the `#!` interpreter, the program
    /// `env` starts.
    #[serde(default)]
    pub programs: Vec<FileHash>,
    /// The script an interpreter runs (`node server.js`, `python x.py`).
    pub script: Option<FileHash>,
    /// Other files of code named on the command line (`node -r pre.js`,
    /// `bash --rcfile rc`).
    #[serde(default)]
    pub code: Vec<CodeFile>,
    /// An approval recorded before packages were installed into the
    /// store holds another shape here: read as none, so it no longer
    /// matches and is asked to be given again.
    #[serde(default, deserialize_with = "lenient_package")]
    pub package: Option<Package>,
    pub profile: String,
    /// SHA-256 of the effective policy, after every command-line grant.
    pub policy_sha256: String,
    pub env_names: Vec<String>,
    /// The working directory, when the policy grants it to the server.
    pub cwd: Option<PathBuf>,
    /// The code directories the server may run from (read+exec grants
    /// that are not system runtime), as tree digests: see
    /// [`super::tree`]. Empty in approvals recorded before they were
    /// bound, which then no longer match.
    #[serde(default)]
    pub trees: Vec<Tree>,
}

/// What is bound besides the policy and the invocation: the executable as
/// cordon opened it (the descriptor it executes), what the command line
/// names as code, and cordon's own options.
pub struct Subject<'a> {
    pub executable: &'a Opened,
    /// The programs run in turn (`#!` interpreters, the program `env`
    /// starts), opened.
    pub programs: &'a [Opened],
    /// The files of code the command line names, opened.
    pub code: &'a [(Role, Opened)],
    pub options: &'a [OsString],
    /// The package the command names, installed in the store.
    pub package: Option<Package>,
    /// cordon's own state and configuration directories: hidden or
    /// read-only inside every sandbox and rewritten by cordon itself, so
    /// they are left out of bound trees.
    pub skip: &'a [PathBuf],
}

/// A file that could not be hashed.
#[derive(Debug)]
pub struct BindError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// SHA-256 of the raw argv bytes, each argument followed by a NUL.
pub fn argv_sha256(argv: &[OsString]) -> String {
    let mut raw = Vec::new();
    for arg in argv {
        raw.extend_from_slice(arg.as_bytes());
        raw.push(0);
    }
    sha256_hex(&raw)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a file's content (streamed; a missing file is an error).
pub fn hash_file(path: &Path) -> std::io::Result<FileHash> {
    hash_path(path, &Digests::none())
}

fn hash_path(path: &Path, digests: &Digests) -> std::io::Result<FileHash> {
    let file = File::open(path)?;
    Ok(FileHash {
        path: path.to_path_buf(),
        sha256: digests.sha256(&file)?,
    })
}

/// Opens what `code` names, with the `#!` interpreters first; a file that
/// cannot be opened is left out (its interpreter cannot read it either;
/// once it can, the binding differs and needs a new approval).
pub fn open_code(interpreters: &[PathBuf], code: &Code) -> (Vec<Opened>, Vec<(Role, Opened)>) {
    let programs = interpreters
        .iter()
        .chain(&code.programs)
        .filter_map(|p| Opened::open(p).ok())
        .collect();
    let files = code
        .files
        .iter()
        .filter_map(|(role, p)| Some((*role, Opened::open(p).ok()?)))
        .collect();
    (programs, files)
}

/// The digest of the whole effective policy. Its debug form lists every
/// field in a fixed order (maps are sorted), so any change shows.
pub fn policy_digest(policy: &Policy) -> String {
    sha256_hex(format!("{policy:?}").as_bytes())
}

/// Computes the binding of what is about to run. The executable is
/// hashed from the descriptor cordon executes; every other file is
/// opened once and hashed from that descriptor.
pub fn bind(
    policy: &Policy,
    inv: &Invocation,
    _home: &Path,
    subject: &Subject<'_>,
    digests: &Digests,
) -> Result<Binding, BindError> {
    let cwd_granted = policy
        .fs
        .iter()
        .any(|g| g.exists && inv.cwd.starts_with(&g.path));
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BindError { path, source }
    };
    let hash = |o: &Opened| -> Result<FileHash, BindError> {
        let sha256 = digests.sha256(&o.file).map_err(err(&o.path))?;
        let _ = o.digest.set(sha256.clone());
        Ok(FileHash {
            path: o.path.clone(),
            sha256,
        })
    };
    let executable = hash(subject.executable)?;
    let programs = subject
        .programs
        .iter()
        .map(hash)
        .collect::<Result<Vec<_>, _>>()?;
    let mut script = None;
    let mut code = Vec::new();
    for (role, opened) in subject.code {
        let file = hash(opened)?;
        if *role == Role::Script && script.is_none() {
            script = Some(file);
        } else {
            code.push(CodeFile {
                role: role.name().to_owned(),
                file,
            });
        }
    }
    let trees = tree::bound_grants(policy)
        .into_iter()
        .map(|g| tree::tree_of(&g.path, subject.skip, digests).map_err(err(&g.path)))
        .collect::<Result<Vec<_>, _>>()?;
    tracing::debug!(
        trees = trees.len(),
        entries = trees.iter().map(|t| t.entries.len()).sum::<usize>(),
        "bound code directories"
    );
    Ok(Binding {
        command: quote_argv(&inv.argv),
        argv_sha256: argv_sha256(&inv.argv),
        options: quote_argv(subject.options),
        executable,
        programs,
        script,
        code,
        package: subject.package.clone(),
        profile: policy.name.clone(),
        policy_sha256: policy_digest(policy),
        env_names: policy.env.pass.clone(),
        cwd: cwd_granted.then(|| inv.cwd.clone()),
        trees,
    })
}

/// What changed between an earlier approval and what is about to run, one
/// sentence each.
pub fn differences(old: &Binding, new: &Binding) -> Vec<String> {
    let mut out = Vec::new();
    if old.argv_sha256 != new.argv_sha256 {
        out.push(format!(
            "new command: {} (approved: {})",
            new.command, old.command
        ));
    }
    if old.executable.path != new.executable.path {
        out.push(format!(
            "the executable is now {} (approved: {})",
            new.executable.path.display(),
            old.executable.path.display()
        ));
    } else if old.executable.sha256 != new.executable.sha256 {
        out.push(format!(
            "binary content changed: {} is not the file that was approved",
            new.executable.path.display()
        ));
    }
    if old.options != new.options {
        out.push(format!(
            "cordon's options changed: {} (approved: {})",
            shown_options(&new.options),
            shown_options(&old.options)
        ));
    }
    files_changed("program", &old.programs, &new.programs, &mut out);
    match (&old.script, &new.script) {
        (Some(o), Some(n)) if o.path == n.path && o.sha256 != n.sha256 => out.push(format!(
            "script changed: the content of {} is not what was approved",
            n.path.display()
        )),
        (o, n) if o != n => {
            let shown = |s: &Option<FileHash>| {
                s.as_ref()
                    .map_or("none".into(), |s| s.path.display().to_string())
            };
            out.push(format!(
                "script changed: {} (approved: {})",
                shown(n),
                shown(o)
            ));
        }
        _ => {}
    }
    if old.code != new.code {
        for n in &new.code {
            match old.code.iter().find(|o| o.file.path == n.file.path) {
                Some(o) if o == n => {}
                Some(_) => out.push(format!(
                    "{} content changed: {}",
                    n.role,
                    n.file.path.display()
                )),
                None => out.push(format!("new {}: {}", n.role, n.file.path.display())),
            }
        }
        for o in &old.code {
            if !new.code.iter().any(|n| n.file.path == o.file.path) {
                out.push(format!(
                    "no longer runs the {} {}",
                    o.role,
                    o.file.path.display()
                ));
            }
        }
    }
    if old.package != new.package {
        out.push(match (&old.package, &new.package) {
            (Some(o), Some(n)) if o.name == n.name && o.version != n.version => format!(
                "package {} is now {} (approved: {})",
                n.name, n.version, o.version
            ),
            (Some(o), Some(n)) if o.name == n.name => format!(
                "package {} {} differs from the approved one (integrity or registry)",
                n.name, n.version
            ),
            (_, Some(n)) => format!("new package: {} {}", n.name, n.version),
            (Some(_), None) => "the package is not installed in cordon's store".into(),
            (None, None) => "package changed".into(),
        });
    }
    if old.profile != new.profile {
        out.push(format!(
            "profile changed: {} (approved: {})",
            new.profile, old.profile
        ));
    } else if old.policy_sha256 != new.policy_sha256 {
        out.push(format!("profile changed: the effective policy of {} differs from the approved one (profile file or grants)", new.profile));
    }
    let added: Vec<&String> = new
        .env_names
        .iter()
        .filter(|n| !old.env_names.contains(n))
        .collect();
    if !added.is_empty() {
        let names: Vec<&str> = added.iter().map(|s| s.as_str()).collect();
        out.push(format!("new environment name: {}", names.join(", ")));
    } else if old.env_names != new.env_names {
        out.push("environment names changed".into());
    }
    if old.cwd != new.cwd {
        let shown = new
            .cwd
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string());
        out.push(format!("working directory changed: {shown}"));
    }
    trees_changed(&old.trees, &new.trees, &mut out);
    out
}

/// One sentence per code directory whose tree changed, appeared or is no
/// longer granted; an approval recorded before trees were bound is asked
/// to be given again.
fn trees_changed(old: &[Tree], new: &[Tree], out: &mut Vec<String>) {
    if old == new {
        return;
    }
    if old.is_empty() {
        let roots: Vec<String> = new.iter().map(|t| t.root.display().to_string()).collect();
        out.push(format!(
            "the approval predates binding code directories ({}): approve again",
            roots.join(", ")
        ));
        return;
    }
    for n in new {
        match old.iter().find(|o| o.root == n.root) {
            Some(o) => out.extend(tree::changes(o, n)),
            None => out.push(format!("new code directory: {}", n.root.display())),
        }
    }
    for o in old {
        if !new.iter().any(|n| n.root == o.root) {
            out.push(format!(
                "no longer grants the code directory {}",
                o.root.display()
            ));
        }
    }
}

fn shown_options(options: &str) -> &str {
    if options.is_empty() { "none" } else { options }
}

/// One sentence per program added, removed or changed.
fn files_changed(what: &str, old: &[FileHash], new: &[FileHash], out: &mut Vec<String>) {
    for n in new {
        match old.iter().find(|o| o.path == n.path) {
            Some(o) if o.sha256 != n.sha256 => out.push(format!(
                "{what} content changed: {} is not the file that was approved",
                n.path.display()
            )),
            Some(_) => {}
            None => out.push(format!("new {what}: {}", n.path.display())),
        }
    }
    for o in old {
        if !new.iter().any(|n| n.path == o.path) {
            out.push(format!("no longer runs the {what} {}", o.path.display()));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod package_tests {
    use super::*;

    /// An approval recorded before the store (its package as launcher,
    /// spec and manifest) still loads, without a package.
    #[test]
    fn an_old_package_shape_loads_as_none() {
        let old = serde_json::json!({
            "launcher": "npx", "spec": "pkg", "manifest": null
        });
        let text = old.to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        assert_eq!(lenient_package(&mut de).unwrap(), None);
    }
}
