//! What an approval is bound to: the exact command, the content of what it
//! executes, the effective policy, the names of passed variables and the
//! working directory. A change to any of them is a different thing to run
//! and needs a new approval.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Invocation, quote_argv};
use crate::policy::Policy;

/// A file and the SHA-256 of its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: PathBuf,
    pub sha256: String,
}

/// A package a launcher (`npx`, `uvx`, …) fetches and runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub launcher: String,
    pub spec: String,
    /// The installed package's manifest, when cordon can find it.
    pub manifest: Option<FileHash>,
}

/// Everything an approval is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The command shell-quoted, as shown at consent.
    pub command: String,
    /// SHA-256 of the raw argv bytes (NUL-separated): exact even for
    /// arguments that are not UTF-8.
    pub argv_sha256: String,
    pub executable: FileHash,
    /// The script an interpreter runs (`node server.js`, `python x.py`).
    pub script: Option<FileHash>,
    pub package: Option<Package>,
    pub profile: String,
    /// SHA-256 of the effective policy, after every command-line grant.
    pub policy_sha256: String,
    pub env_names: Vec<String>,
    /// The working directory, when the policy grants it to the server.
    pub cwd: Option<PathBuf>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a file's content (streamed; a missing file is an error).
pub fn hash_file(path: &Path) -> std::io::Result<FileHash> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileHash {
        path: path.to_path_buf(),
        sha256,
    })
}

/// The digest of the whole effective policy. Its debug form lists every
/// field in a fixed order (maps are sorted), so any change shows.
pub fn policy_digest(policy: &Policy) -> String {
    sha256_hex(format!("{policy:?}").as_bytes())
}

/// Computes the binding of what is about to run.
pub fn bind(policy: &Policy, inv: &Invocation, home: &Path) -> std::io::Result<Binding> {
    let mut raw = Vec::new();
    for arg in &inv.argv {
        raw.extend_from_slice(arg.as_bytes());
        raw.push(0);
    }
    let cwd_granted = policy
        .fs
        .iter()
        .any(|g| g.exists && inv.cwd.starts_with(&g.path));
    Ok(Binding {
        command: quote_argv(&inv.argv),
        argv_sha256: sha256_hex(&raw),
        executable: hash_file(&inv.executable)?,
        script: script_of(inv),
        package: package_of(inv, home),
        profile: policy.name.clone(),
        policy_sha256: policy_digest(policy),
        env_names: policy.env.pass.clone(),
        cwd: cwd_granted.then(|| inv.cwd.clone()),
    })
}

const INTERPRETERS: &[&str] = &[
    "node", "nodejs", "deno", "bun", "python", "python3", "bash", "sh", "dash", "zsh", "ruby",
    "perl", "php",
];

fn is_interpreter(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    INTERPRETERS.contains(&name) || name.starts_with("python3.")
}

/// When the executable is an interpreter (`node server.js`,
/// `python3 x.py`), the first argument after its options that names an
/// existing file, hashed. (A script run directly is the executable itself.)
fn script_of(inv: &Invocation) -> Option<FileHash> {
    if !is_interpreter(&inv.executable) {
        return None;
    }
    let arg = inv
        .argv
        .iter()
        .skip(1)
        .find(|a| !a.as_bytes().starts_with(b"-"))?;
    let path = inv.cwd.join(arg);
    if !path.is_file() {
        return None;
    }
    hash_file(&fs::canonicalize(&path).ok()?).ok()
}

/// `npx [-y] SPEC …`, `uvx SPEC …`, `pipx run SPEC …`, `bunx SPEC …`.
fn package_of(inv: &Invocation, home: &Path) -> Option<Package> {
    let name = Path::new(inv.argv.first()?)
        .file_name()?
        .to_str()?
        .to_owned();
    let rest: Vec<&OsString> = inv.argv.iter().skip(1).collect();
    let rest: &[&OsString] = match (name.as_str(), rest.first().and_then(|a| a.to_str())) {
        ("npx" | "uvx" | "bunx", _) => &rest,
        ("pipx", Some("run")) => &rest[1..],
        _ => return None,
    };
    let spec = rest
        .iter()
        .find(|a| !a.as_bytes().starts_with(b"-"))?
        .to_str()?
        .to_owned();
    let manifest = (name == "npx").then(|| npx_manifest(&spec, home)).flatten();
    Some(Package {
        launcher: name,
        spec,
        manifest,
    })
}

/// The newest `package.json` of `spec` in npx's cache (~/.npm/_npx).
fn npx_manifest(spec: &str, home: &Path) -> Option<FileHash> {
    // `@scope/name@1.2.3` → `@scope/name`; `name@1` → `name`.
    let name = match spec.strip_prefix('@') {
        Some(scoped) => format!("@{}", scoped.split('@').next()?),
        None => spec.split('@').next()?.to_owned(),
    };
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in fs::read_dir(home.join(".npm/_npx")).ok()?.flatten() {
        let manifest = entry
            .path()
            .join("node_modules")
            .join(&name)
            .join("package.json");
        let Ok(modified) = fs::metadata(&manifest).and_then(|m| m.modified()) else {
            continue;
        };
        if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
            newest = Some((modified, manifest));
        }
    }
    hash_file(&newest?.1).ok()
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
    if old.script != new.script {
        let shown = new
            .script
            .as_ref()
            .map_or("none".into(), |s| s.path.display().to_string());
        out.push(format!("script changed: {shown}"));
    }
    if old.package != new.package {
        out.push(match (&old.package, &new.package) {
            (Some(o), Some(n)) if o.spec == n.spec => {
                format!("the installed package {} changed", n.spec)
            }
            (_, Some(n)) => format!("new package: {}", n.spec),
            _ => "no longer runs a package launcher".into(),
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
    out
}
