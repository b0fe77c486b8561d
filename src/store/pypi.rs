//! PyPI packages in the store, installed with uv.
//!
//! Approval resolves the request to a hash-pinned lock: every
//! distribution of the whole set at an exact version with the sha256 of
//! each file (`uv pip compile --generate-hashes`). The lock's own sha256 is
//! the resolution's integrity, so the approval binds the exact set. The
//! install then makes a virtual environment at the entry's final path
//! with the system python3 (`uv venv`; a venv holds absolute paths, so it
//! is never moved) and installs exactly the locked set into it
//! (`uv pip install --require-hashes --no-deps`): a file whose digest is
//! not in the lock is refused by uv.
//!
//! Only wheels are accepted (`--no-build`): installing a wheel runs no
//! code of the package, so nothing of it runs at install time; a package
//! published only as a source distribution is refused with that reason.
//! uv reads no configuration file (`--no-config`) and never downloads an
//! interpreter (`--python-preference only-system`).
//!
//! The index is the one uv or pip would use from cordon's environment
//! (`UV_INDEX_URL`, `UV_DEFAULT_INDEX`, `PIP_INDEX_URL`), else PyPI; the
//! install sandbox may reach its host only (for PyPI, also the host that
//! serves its files).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Confined, Installer, PackageRequest, Resolution, StoreError};

/// PyPI's simple index, and the hosts it and its files are served from.
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple/";
const DEFAULT_HOSTS: [&str; 2] = ["pypi.org:443", "files.pythonhosted.org:443"];

/// The variables naming the index, in the order uv and pip honour them.
pub const INDEX_VARS: [&str; 3] = ["UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"];

/// The interpreter every venv is made with: the system's, which the
/// server sandbox already grants as runtime.
pub const PYTHON: &str = "/usr/bin/python3";

#[derive(Debug, Clone, thiserror::Error)]
pub enum PypiError {
    #[error("{var}={url:?} is not an index URL cordon can use: {why}")]
    BadIndex {
        var: &'static str,
        url: String,
        why: &'static str,
    },
    #[error(
        "{0:?} is not a PyPI package name cordon can install (a name, optionally with [extras])"
    )]
    BadName(String),
    #[error("{0:?} is not a version or version range cordon can install")]
    BadSpec(String),
    #[error(
        "uv is not on PATH (looked for `uv` next to `uvx` and on PATH); install uv to run PyPI packages from the store"
    )]
    NoUv,
    #[error("uv's lock for {name} is not hash-pinned as expected: {why}")]
    BadLock { name: String, why: String },
    #[error("{name} has no command {bin:?}{}; name one with `uvx --from {name} COMMAND`", available_list(.available))]
    NoCommand {
        name: String,
        bin: String,
        available: Vec<String>,
    },
}

fn available_list(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!(" (it has: {})", available.join(", "))
    }
}

impl From<PypiError> for StoreError {
    fn from(e: PypiError) -> StoreError {
        match e {
            PypiError::BadLock { .. } => StoreError::Mismatch(e.to_string()),
            PypiError::NoCommand { ref name, .. } => StoreError::Registry {
                what: format!("{name} from the store"),
                reason: e.to_string(),
            },
            PypiError::NoUv => StoreError::Unsupported(e.to_string()),
            PypiError::BadIndex { .. } | PypiError::BadName(_) | PypiError::BadSpec(_) => {
                StoreError::Registry {
                    what: "PyPI".into(),
                    reason: e.to_string(),
                }
            }
        }
    }
}

/// The PyPI installer: uv, an index, the system python3. Both are looked
/// up when made and needed only to resolve and install: a start from the
/// store needs neither uv nor the index.
pub struct PyPi {
    index: Result<Index, PypiError>,
    uv: Result<PathBuf, PypiError>,
}

impl PyPi {
    /// uv from PATH, the index from the environment, both cordon's own.
    pub fn from_env() -> PyPi {
        PyPi {
            index: Index::from_env(|n| std::env::var_os(n)),
            uv: find_uv(std::env::var_os("PATH").as_deref()),
        }
    }

    pub fn with(index: Index, uv: PathBuf) -> PyPi {
        PyPi {
            index: Ok(index),
            uv: Ok(uv),
        }
    }

    pub fn index(&self) -> Result<&Index, StoreError> {
        self.index.as_ref().map_err(|e| e.clone().into())
    }

    fn index_url(&self) -> &str {
        self.index.as_ref().map_or("", |i| i.url.as_str())
    }

    /// What every uv run gets: a private cache in the sandbox's /tmp, no
    /// configuration file, no interpreter download, no progress bars.
    fn env(&self) -> Vec<(OsString, OsString)> {
        [
            ("UV_CACHE_DIR", "/tmp/uv-cache"),
            ("UV_NO_CONFIG", "1"),
            ("UV_PYTHON_DOWNLOADS", "never"),
            ("UV_NO_PROGRESS", "1"),
            ("NO_COLOR", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    /// `uv WORDS… --no-config --python-preference only-system` and, for
    /// commands that read the index, `--default-index URL`.
    fn uv(&self, words: &[&OsStr], index: bool) -> Result<Vec<OsString>, StoreError> {
        let uv = self.uv.as_ref().map_err(|e| StoreError::from(e.clone()))?;
        let mut argv: Vec<OsString> = vec![uv.clone().into_os_string()];
        argv.extend(words.iter().map(|w| (*w).to_owned()));
        for w in [
            "--no-config",
            "--python-preference",
            "only-system",
            "--quiet",
        ] {
            argv.push(w.into());
        }
        if index {
            argv.push("--default-index".into());
            argv.push(self.index()?.url.clone().into());
        }
        Ok(argv)
    }

    fn run(&self, what: &str, argv: &[OsString], sb: &Confined) -> Result<Vec<u8>, StoreError> {
        let out = sb.run(argv, &self.env())?;
        if !out.success() {
            return Err(StoreError::Tool {
                what: format!("{what} (index {})", self.index_url()),
                status: format!("exit status {}", out.status),
                detail: String::new(),
            });
        }
        Ok(out.stdout)
    }
}

/// A private directory for the files handed to uv (requirements, the
/// lock); the sandbox gets it writable, nothing else of the host's /tmp.
fn scratch(path_of: &str) -> Result<tempfile::TempDir, StoreError> {
    tempfile::Builder::new()
        .prefix("cordon-uv-")
        .tempdir()
        .map_err(|source| StoreError::Io {
            path: PathBuf::from(path_of),
            source,
        })
}

fn write(path: &Path, text: &str) -> Result<(), StoreError> {
    std::fs::write(path, text).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Installer for PyPi {
    fn network(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.index()?.hosts.clone())
    }

    fn resolve(&self, req: &PackageRequest, sb: &Confined) -> Result<Resolution, StoreError> {
        let requirement = requirement(&req.name, req.spec.as_deref())?;
        let mut lines = vec![requirement.clone()];
        lines.extend(with_requirements(&req.launcher)?);
        let dir = scratch("a temporary directory for uv's requirements")?;
        let input = dir.path().join("requirements.in");
        write(&input, &format!("{}\n", lines.join("\n")))?;
        let argv = self.uv(
            &[
                "pip".as_ref(),
                "compile".as_ref(),
                input.as_os_str(),
                "--generate-hashes".as_ref(),
                "--no-header".as_ref(),
                "--no-annotate".as_ref(),
                "--no-build".as_ref(),
                "--python".as_ref(),
                PYTHON.as_ref(),
            ],
            true,
        )?;
        let what = format!("uv pip compile {requirement}");
        let stdout = self.run(&what, &argv, &sb.writing(dir.path()))?;
        let text = String::from_utf8(stdout).map_err(|_| PypiError::BadLock {
            name: req.name.clone(),
            why: "not UTF-8".into(),
        })?;
        let pinned = parse_lock(&req.name, &text)?;
        let version = locked_version(&req.name, &pinned)?;
        let lock = canonical_lock(&pinned);
        Ok(Resolution {
            version,
            integrity: lock_integrity(&lock),
            lock,
            resolved_at: crate::clock::now_rfc3339(),
            registry: self.index()?.url.clone(),
        })
    }

    fn install(
        &self,
        req: &PackageRequest,
        res: &Resolution,
        entry: &Path,
        sb: &Confined,
    ) -> Result<(), StoreError> {
        // The lock handed to uv is the one approved, re-read and checked
        // as strictly as at resolution.
        if lock_integrity(&res.lock) != res.integrity {
            return Err(StoreError::Mismatch(format!(
                "the lock of {} {} does not have the approved digest",
                req.name, res.version
            )));
        }
        let pinned = parse_lock(&req.name, &res.lock)?;
        if locked_version(&req.name, &pinned)? != res.version {
            return Err(StoreError::Mismatch(format!(
                "the lock of {} does not hold version {}",
                req.name, res.version
            )));
        }
        let venv = self.uv(
            &[
                "venv".as_ref(),
                entry.as_os_str(),
                "--python".as_ref(),
                PYTHON.as_ref(),
                "--no-project".as_ref(),
            ],
            false,
        )?;
        self.run("uv venv", &venv, sb)?;
        let dir = scratch("a temporary directory for uv's lock")?;
        let lock = dir.path().join("requirements.txt");
        write(&lock, &res.lock)?;
        let python = entry.join("bin/python");
        let install = self.uv(
            &[
                "pip".as_ref(),
                "install".as_ref(),
                "--python".as_ref(),
                python.as_os_str(),
                "--require-hashes".as_ref(),
                "--no-deps".as_ref(),
                "--no-build".as_ref(),
                "--link-mode".as_ref(),
                "copy".as_ref(),
                "--compile-bytecode".as_ref(),
                "-r".as_ref(),
                lock.as_os_str(),
            ],
            true,
        )?;
        let what = format!("uv pip install {} {}", req.name, res.version);
        self.run(&what, &install, &sb.writing(dir.path()))?;
        check_installed(entry, &req.name, &pinned)
    }

    fn command(
        &self,
        req: &PackageRequest,
        _res: &Resolution,
        entry: &Path,
    ) -> Result<Vec<OsString>, StoreError> {
        let script = command_name(&req.name, req.bin.as_deref());
        venv_argv(entry, script, &req.args).map_err(|bin| {
            StoreError::from(PypiError::NoCommand {
                name: req.name.clone(),
                bin,
                available: scripts_in(entry),
            })
        })
    }

    fn install_note(&self) -> &'static str {
        "installed by uv in a sandbox (network: the index only; writable: the new entry only), wheels only: no code of the package ran at install"
    }
}

/// The venv holds exactly the locked set: one distribution per lock line
/// at its version, and no other.
fn check_installed(entry: &Path, root: &str, pinned: &[Pinned]) -> Result<(), StoreError> {
    let found = installed(entry)?;
    let mut want: Vec<(String, String)> = pinned
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    want.sort();
    if found != want {
        let show = |set: &[(String, String)]| {
            set.iter()
                .map(|(n, v)| format!("{n}=={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(StoreError::Mismatch(format!(
            "uv installed [{}] for {root}, the lock holds [{}]",
            show(&found),
            show(&want)
        )));
    }
    Ok(())
}

/// (normalised name, version) of every distribution in the venv's
/// site-packages, from each `*.dist-info/METADATA`.
fn installed(entry: &Path) -> Result<Vec<(String, String)>, StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let lib = entry.join("lib");
    let mut out = Vec::new();
    for python in std::fs::read_dir(&lib).map_err(io(&lib))? {
        let site = python.map_err(io(&lib))?.path().join("site-packages");
        let Ok(read) = std::fs::read_dir(&site) else {
            continue;
        };
        for item in read {
            let path = item.map_err(io(&site))?.path();
            if path.extension().is_none_or(|e| e != "dist-info") {
                continue;
            }
            let meta = path.join("METADATA");
            let text = std::fs::read_to_string(&meta).map_err(io(&meta))?;
            let field = |key: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
            };
            match (field("Name:"), field("Version:")) {
                (Some(n), Some(v)) => out.push((normalize(&n), v)),
                _ => {
                    return Err(StoreError::Mismatch(format!(
                        "{} names no distribution",
                        meta.display()
                    )));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The index uv is told to use, and the destinations the install sandbox
/// may reach for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub url: String,
    pub hosts: Vec<String>,
}

impl Index {
    /// From the environment `var` looks up (cordon's own, at approval and
    /// install); PyPI when none is set.
    pub fn from_env(var: impl Fn(&str) -> Option<OsString>) -> Result<Index, PypiError> {
        for name in INDEX_VARS {
            let Some(value) = var(name) else { continue };
            if value.is_empty() {
                continue;
            }
            let url = value.to_str().ok_or(PypiError::BadIndex {
                var: name,
                url: value.to_string_lossy().into_owned(),
                why: "not UTF-8",
            })?;
            let host = host_port(url).map_err(|why| PypiError::BadIndex {
                var: name,
                url: url.to_owned(),
                why,
            })?;
            let hosts = if url.trim_end_matches('/') == DEFAULT_INDEX.trim_end_matches('/') {
                DEFAULT_HOSTS.iter().map(|h| (*h).to_owned()).collect()
            } else {
                vec![host]
            };
            return Ok(Index {
                url: url.to_owned(),
                hosts,
            });
        }
        Ok(Index {
            url: DEFAULT_INDEX.to_owned(),
            hosts: DEFAULT_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
        })
    }
}

/// `host:port` of an http(s) URL. Credentials in the URL are refused: the
/// URL is shown on the consent screen and recorded in the approval.
fn host_port(url: &str) -> Result<String, &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return Err("only http and https indexes are supported"),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "credentials in the URL would be shown and recorded; use an index without them",
        );
    }
    if authority.is_empty() {
        return Err("no host");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed [")?;
        let port = after.strip_prefix(':');
        (format!("[{addr}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    let port: u16 = match port {
        Some(p) => p.parse().map_err(|_| "bad port")?,
        None => default_port,
    };
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    {
        return Err("bad host");
    }
    Ok(format!("{}:{port}", host.to_ascii_lowercase()))
}

/// A PyPI project name as PEP 503 compares them.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Splits `name[extra,…]` into the bare name and the extras part, and
/// checks both against PEP 508's grammar: what reaches uv's requirements
/// is a name, never an option, a URL or a path.
fn split_name(name: &str) -> Result<(&str, &str), PypiError> {
    let bad = || PypiError::BadName(name.to_owned());
    let (bare, extras) = match name.find('[') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !ident(bare) {
        return Err(bad());
    }
    if !extras.is_empty() {
        let inner = extras
            .strip_prefix('[')
            .and_then(|e| e.strip_suffix(']'))
            .ok_or_else(bad)?;
        if !inner.split(',').map(str::trim).all(ident) {
            return Err(bad());
        }
    }
    Ok((bare, extras))
}

/// The requirement line for `name` at `spec`: an exact version
/// (`1.2.3`, `==1.2.3`, as `uvx name@1.2.3` or `name==1.2.3` give it), a
/// PEP 440 range (`>=1,<2`), or the newest (`None`, `latest`).
pub fn requirement(name: &str, spec: Option<&str>) -> Result<String, PypiError> {
    split_name(name)?;
    let spec = match spec.map(str::trim) {
        None | Some("" | "latest") => return Ok(name.to_owned()),
        Some(s) => s,
    };
    let ok = spec.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '.' | '*' | '+' | '!' | ',' | '<' | '>' | '=' | '~' | ' ')
    });
    if !ok {
        return Err(PypiError::BadSpec(spec.to_owned()));
    }
    if spec.starts_with(|c: char| c.is_ascii_digit()) {
        Ok(format!("{name}=={spec}"))
    } else if spec.starts_with(['<', '>', '=', '~', '!']) {
        Ok(format!("{name}{spec}"))
    } else {
        Err(PypiError::BadSpec(spec.to_owned()))
    }
}

/// The requirements `--with REQ` adds to the environment (uvx and `uv
/// tool run`), each checked like the package's own.
pub fn with_requirements(launcher: &[OsString]) -> Result<Vec<String>, PypiError> {
    let mut out = Vec::new();
    let mut words = launcher.iter().map(|w| w.to_str().unwrap_or_default());
    while let Some(word) = words.next() {
        let value = match word {
            "--with" | "-w" => words.next().unwrap_or_default(),
            w => match w.strip_prefix("--with=") {
                Some(v) => v,
                None => continue,
            },
        };
        let cut = value
            .find(['=', '<', '>', '~', '!', '@'])
            .unwrap_or(value.len());
        let spec = value[cut..].trim();
        let spec = spec.strip_prefix('@').unwrap_or(spec);
        out.push(requirement(
            value[..cut].trim(),
            (!spec.is_empty()).then_some(spec),
        )?);
    }
    Ok(out)
}

/// One distribution of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub name: String,
    pub version: String,
    pub hashes: Vec<String>,
}

/// Reads a lock as `uv pip compile --generate-hashes --no-annotate
/// --no-header` writes it, and checks what `--require-hashes` will rely
/// on: every requirement is `name==version` with at least one sha256.
/// Anything else (an option line, a URL, an unpinned name) is refused.
pub fn parse_lock(root: &str, text: &str) -> Result<Vec<Pinned>, PypiError> {
    let bad = |why: String| PypiError::BadLock {
        name: root.to_owned(),
        why,
    };
    let joined = text.replace("\\\n", " ");
    let mut out: Vec<Pinned> = Vec::new();
    for line in joined.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let req = words.next().unwrap_or_default();
        let (name, version) = req
            .split_once("==")
            .ok_or_else(|| bad(format!("{req:?} is not pinned to one version")))?;
        let (bare, _) = split_name(name).map_err(|_| bad(format!("{name:?} is not a name")))?;
        if version.is_empty()
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!'))
        {
            return Err(bad(format!("{req:?} has no plain version")));
        }
        let mut hashes = Vec::new();
        for word in words {
            let hex = word
                .strip_prefix("--hash=sha256:")
                .ok_or_else(|| bad(format!("unexpected {word:?} after {req}")))?;
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!("{word:?} is not a sha256")));
            }
            hashes.push(hex.to_ascii_lowercase());
        }
        if hashes.is_empty() {
            return Err(bad(format!("{req} has no hash")));
        }
        out.push(Pinned {
            name: normalize(bare),
            version: version.to_owned(),
            hashes,
        });
    }
    if out.is_empty() {
        return Err(bad("it is empty".to_owned()));
    }
    Ok(out)
}

/// The version the lock holds of `name`.
pub fn locked_version(root: &str, pinned: &[Pinned]) -> Result<String, PypiError> {
    let (bare, _) = split_name(root)?;
    let key = normalize(bare);
    pinned
        .iter()
        .find(|p| p.name == key)
        .map(|p| p.version.clone())
        .ok_or_else(|| PypiError::BadLock {
            name: root.to_owned(),
            why: format!("{key} itself is not in it"),
        })
}

/// The lock in the form installed and bound: one `name==version
/// --hash=sha256:…` line per distribution, sorted, so that the same set
/// always has the same digest whatever uv's layout.
pub fn canonical_lock(pinned: &[Pinned]) -> String {
    let mut lines: Vec<String> = pinned
        .iter()
        .map(|p| {
            let mut hashes = p.hashes.clone();
            hashes.sort();
            hashes.dedup();
            let hashes: Vec<String> = hashes
                .iter()
                .map(|h| format!("--hash=sha256:{h}"))
                .collect();
            format!("{}=={} {}", p.name, p.version, hashes.join(" "))
        })
        .collect();
    lines.sort();
    lines.dedup();
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// `sha256:HEX` of the lock text: the resolution's integrity.
pub fn lock_integrity(lock: &str) -> String {
    let digest = Sha256::digest(lock.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The command a request runs: `uvx PKG` runs the console script named
/// like the package, `uvx --from PKG CMD` the script CMD; `python` (or
/// `python3`) is the venv's interpreter itself (`uvx --from PKG python -m
/// MODULE`).
pub fn command_name<'a>(name: &'a str, bin: Option<&'a str>) -> &'a str {
    match bin {
        Some(b) => b,
        None => split_name(name).map_or(name, |(bare, _)| bare),
    }
}

/// The argv that starts `script` of the venv at `entry`: the venv's
/// python (a link to the system interpreter that finds the venv by its
/// pyvenv.cfg) with the console script as its script, so that no
/// `#!` line is followed; the script is a file of the bound tree.
pub fn venv_argv(entry: &Path, script: &str, args: &[OsString]) -> Result<Vec<OsString>, String> {
    let bin = entry.join("bin");
    let python = bin.join("python");
    let mut argv = vec![python.into_os_string()];
    if !matches!(script, "python" | "python3") {
        if script.contains('/') || script.is_empty() || script.starts_with('.') {
            return Err(script.to_owned());
        }
        let path = bin.join(script);
        if !path.is_file() {
            return Err(script.to_owned());
        }
        argv.push(path.into_os_string());
    }
    argv.extend(args.iter().cloned());
    Ok(argv)
}

/// The console scripts a venv holds (for the error naming what exists).
pub fn scripts_in(entry: &Path) -> Vec<String> {
    let skip = |n: &str| {
        n.starts_with("python")
            || n.starts_with("activate")
            || n.starts_with("deactivate")
            || n.starts_with("pydoc")
    };
    let mut names: Vec<String> = std::fs::read_dir(entry.join("bin"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !skip(n))
        .collect();
    names.sort();
    names
}

/// uv: `uv` next to `uvx` on PATH (the launcher the host names), else `uv`
/// on PATH.
pub fn find_uv(path: Option<&OsStr>) -> Result<PathBuf, PypiError> {
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    for dir in dirs.iter().filter(|d| d.is_absolute()) {
        if executable(&dir.join("uvx")) && executable(&dir.join("uv")) {
            return Ok(dir.join("uv"));
        }
    }
    dirs.iter()
        .filter(|d| d.is_absolute())
        .map(|d| d.join("uv"))
        .find(|p| executable(p))
        .ok_or(PypiError::NoUv)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_index_comes_from_uv_then_pip_else_pypi() {
        let none = Index::from_env(|_| None).unwrap();
        assert_eq!(none.url, DEFAULT_INDEX);
        assert_eq!(none.hosts, ["pypi.org:443", "files.pythonhosted.org:443"]);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let both = Index::from_env(env(&[
            ("PIP_INDEX_URL", "https://pip.example/simple"),
            ("UV_DEFAULT_INDEX", "http://127.0.0.1:8123/simple/"),
        ]))
        .unwrap();
        assert_eq!(both.url, "http://127.0.0.1:8123/simple/");
        assert_eq!(both.hosts, ["127.0.0.1:8123"]);
        let pip = Index::from_env(env(&[(
            "PIP_INDEX_URL",
            "https://Mirror.example/pypi/simple",
        )]))
        .unwrap();
        assert_eq!(pip.hosts, ["mirror.example:443"]);
        assert!(Index::from_env(env(&[("UV_INDEX_URL", "https://u:p@x.example/simple")])).is_err());
        assert!(Index::from_env(env(&[("UV_INDEX_URL", "file:///srv/simple")])).is_err());
        assert!(
            Index::from_env(env(&[("UV_INDEX_URL", "http://[::1]:9/simple")]))
                .is_ok_and(|i| i.hosts == ["[::1]:9"])
        );
    }

    #[test]
    fn requirements_are_names_and_versions_only() {
        assert_eq!(
            requirement("mcp-server-time", None).unwrap(),
            "mcp-server-time"
        );
        assert_eq!(
            requirement("mcp-server-time", Some("latest")).unwrap(),
            "mcp-server-time"
        );
        assert_eq!(requirement("pkg", Some("1.2.3")).unwrap(), "pkg==1.2.3");
        assert_eq!(requirement("pkg", Some("==1.2.3")).unwrap(), "pkg==1.2.3");
        assert_eq!(
            requirement("pkg[cli]", Some(">=1,<2")).unwrap(),
            "pkg[cli]>=1,<2"
        );
        for name in [
            "-r",
            "--index-url=x",
            "git+https://x/y",
            "./dir",
            "a b",
            "pkg\n--index-url",
            "",
        ] {
            assert!(requirement(name, None).is_err(), "{name:?}");
        }
        for spec in ["1.0\n--index-url http://x", "@ file:///x", "; os_name"] {
            assert!(requirement("pkg", Some(spec)).is_err(), "{spec:?}");
        }
    }

    const LOCK: &str = "cordon-echo==1.0.0 \\\n    --hash=sha256:aeb2880c005096ee80bf6c39a45ebcc1072b668ff5455feb6f9bfa4e8c22dcee\nCordon_Lib==1.0.0 \\\n    --hash=sha256:6af2f1165e718f3a1c34f2bf2251a64f9469e939dd341f642ac26855c5d1bbc7\n";

    #[test]
    fn a_lock_pins_every_distribution_by_hash() {
        let pinned = parse_lock("cordon-echo", LOCK).unwrap();
        assert_eq!(pinned.len(), 2);
        assert_eq!(pinned[1].name, "cordon-lib");
        assert_eq!(locked_version("cordon_echo[x]", &pinned).unwrap(), "1.0.0");
        let canonical = canonical_lock(&pinned);
        assert_eq!(
            canonical.lines().next().unwrap(),
            "cordon-echo==1.0.0 --hash=sha256:aeb2880c005096ee80bf6c39a45ebcc1072b668ff5455feb6f9bfa4e8c22dcee"
        );
        // The canonical form reads back to the same set.
        assert_eq!(parse_lock("cordon-echo", &canonical).unwrap(), {
            let mut p = pinned.clone();
            p.sort_by(|a, b| a.name.cmp(&b.name));
            p
        });
        assert!(lock_integrity(&canonical).starts_with("sha256:"));
        for bad in [
            "",
            "cordon-echo>=1.0.0 --hash=sha256:aeb2880c005096ee80bf6c39a45ebcc1072b668ff5455feb6f9bfa4e8c22dcee\n",
            "cordon-echo==1.0.0\n",
            "--index-url http://evil/\ncordon-echo==1.0.0 --hash=sha256:aeb2880c005096ee80bf6c39a45ebcc1072b668ff5455feb6f9bfa4e8c22dcee\n",
            "cordon-echo==1.0.0 --hash=md5:00\n",
            "cordon-echo @ https://x/y.whl --hash=sha256:aeb2880c005096ee80bf6c39a45ebcc1072b668ff5455feb6f9bfa4e8c22dcee\n",
        ] {
            assert!(parse_lock("cordon-echo", bad).is_err(), "{bad:?}");
        }
        assert!(locked_version("other", &pinned).is_err());
    }

    #[test]
    fn with_adds_checked_requirements() {
        let words: Vec<OsString> = ["uvx", "--with", "mcp<2", "-w", "b@1.0", "--with=c[x]"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            with_requirements(&words).unwrap(),
            ["mcp<2", "b==1.0", "c[x]"]
        );
        let bad: Vec<OsString> = ["uvx", "--with", "-r x"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(with_requirements(&bad).is_err());
    }

    #[test]
    fn names_normalize_as_pep_503_says() {
        assert_eq!(normalize("Mcp_Server.Time"), "mcp-server-time");
        assert_eq!(normalize("a--_b"), "a-b");
        assert_eq!(command_name("mcp-server-git[x]", None), "mcp-server-git");
        assert_eq!(command_name("pkg", Some("tool")), "tool");
    }
}
