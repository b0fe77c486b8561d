//! npm packages: resolved with `npm view`, installed with `npm install`,
//! both run confined ([`super::Confined`]), and started as `node BIN`
//! from the entry.
//!
//! The registry is `npm_config_registry` (any case) when set, else the
//! `registry=` line of `~/.npmrc`, else `https://registry.npmjs.org/`;
//! the install sandbox reaches that host and port only. Nothing else of
//! the user's npm configuration is read (it may hold tokens): the tool
//! runs with a private, empty HOME and cache.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::{Confined, Installer, PackageRequest, Resolution, StoreError};

pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org/";

pub struct Npm {
    registry: String,
}

impl Npm {
    /// The registry from the environment or `~/.npmrc`.
    pub fn from_env() -> Npm {
        let from_env = ["npm_config_registry", "NPM_CONFIG_REGISTRY"]
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
        let from_rc = || {
            let home = crate::dirs::home().ok()?;
            let text = std::fs::read_to_string(home.join(".npmrc")).ok()?;
            registry_line(&text)
        };
        Npm::with_registry(
            &from_env
                .or_else(from_rc)
                .unwrap_or_else(|| DEFAULT_REGISTRY.to_owned()),
        )
    }

    pub fn with_registry(url: &str) -> Npm {
        let mut registry = url.trim().to_owned();
        if !registry.ends_with('/') {
            registry.push('/');
        }
        Npm { registry }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// What every npm run gets: the registry, a private cache, no
    /// notifier, audit or funding requests (they reach other hosts).
    fn env(&self) -> Vec<(OsString, OsString)> {
        [
            ("npm_config_registry", self.registry.as_str()),
            ("npm_config_cache", "/tmp/npm-cache"),
            ("npm_config_userconfig", "/tmp/npmrc"),
            ("npm_config_update_notifier", "false"),
            ("npm_config_audit", "false"),
            ("npm_config_fund", "false"),
            ("npm_config_progress", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }
}

/// The value of a `registry=` line of an `.npmrc`.
fn registry_line(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "registry").then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// `host:port` of an http(s) URL.
pub fn destination(url: &str) -> Result<String, StoreError> {
    let bad = |reason: &str| StoreError::Registry {
        what: format!("registry {url}"),
        reason: reason.into(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not a URL"))?;
    let default = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return Err(bad("only http and https registries are supported")),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    Ok(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{default}")
    })
}

impl Installer for Npm {
    fn network(&self) -> Result<Vec<String>, StoreError> {
        Ok(vec![destination(&self.registry)?])
    }

    fn resolve(&self, req: &PackageRequest, sb: &Confined) -> Result<Resolution, StoreError> {
        let spec = format!("{}@{}", req.name, req.spec.as_deref().unwrap_or("latest"));
        let argv: Vec<OsString> = ["npm", "view", &spec, "version", "dist.integrity", "--json"]
            .iter()
            .map(OsString::from)
            .collect();
        let out = sb.run(&argv, &self.env())?;
        let what = format!("npm view {spec} (registry {})", self.registry);
        if !out.success() {
            return Err(StoreError::Tool {
                what,
                status: format!("exit status {}", out.status),
                detail: String::new(),
            });
        }
        let (version, integrity) =
            parse_view(&out.stdout).map_err(|reason| StoreError::Registry {
                what: what.clone(),
                reason,
            })?;
        Ok(Resolution {
            version,
            integrity,
            lock: String::new(),
            resolved_at: crate::clock::now_rfc3339(),
            registry: self.registry.clone(),
        })
    }

    fn install(
        &self,
        req: &PackageRequest,
        res: &Resolution,
        entry: &Path,
        sb: &Confined,
    ) -> Result<(), StoreError> {
        let spec = format!("{}@{}", req.name, res.version);
        let mut argv: Vec<OsString> = ["npm", "install", "--prefix"]
            .iter()
            .map(OsString::from)
            .collect();
        argv.push(entry.as_os_str().to_owned());
        argv.extend(
            ["--no-audit", "--no-fund", "--foreground-scripts", &spec]
                .iter()
                .map(OsString::from),
        );
        let out = sb.run(&argv, &self.env())?;
        // npm's summary ("added N packages") is progress too: stderr.
        {
            use std::io::Write;
            let _ = std::io::stderr().write_all(&out.stdout);
        }
        if !out.success() {
            return Err(StoreError::Tool {
                what: format!("npm install {spec} (registry {})", self.registry),
                status: format!("exit status {}", out.status),
                detail: String::new(),
            });
        }
        check_installed(entry, &req.name, res)
    }

    fn command(
        &self,
        req: &PackageRequest,
        _res: &Resolution,
        entry: &Path,
    ) -> Result<Vec<OsString>, StoreError> {
        let script = bin_script(entry, &req.name, req.bin.as_deref())?;
        let mut argv: Vec<OsString> = vec!["node".into(), script.into_os_string()];
        argv.extend(req.args.iter().cloned());
        Ok(argv)
    }

    fn install_note(&self) -> &'static str {
        "by npm in a sandbox: registry only, install scripts ran there"
    }
}

/// `{"version": …, "dist.integrity": …}`, or an array of them for a
/// range (npm lists every match, lowest first: the last is what npm
/// installs).
fn parse_view(stdout: &[u8]) -> Result<(String, String), String> {
    let value: serde_json::Value = serde_json::from_slice(stdout)
        .map_err(|e| format!("the registry's answer is not JSON: {e}"))?;
    let one = match &value {
        serde_json::Value::Array(items) => items.last().ok_or("no version matches")?,
        v => v,
    };
    let field = |name: &str| {
        one.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("the registry's answer has no {name}"))
    };
    let version = field("version")?;
    let integrity = field("dist.integrity")?;
    if !integrity.starts_with("sha512-") {
        return Err(format!(
            "the registry gives no sha512 integrity for {version} ({integrity})"
        ));
    }
    Ok((version, integrity))
}

/// What npm recorded of the package it installed is what was resolved.
fn check_installed(entry: &Path, name: &str, res: &Resolution) -> Result<(), StoreError> {
    let lock = entry.join("node_modules/.package-lock.json");
    let text = std::fs::read(&lock).map_err(|source| StoreError::Io {
        path: lock.clone(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| StoreError::Mismatch(format!("{}: {e}", lock.display())))?;
    let pkg = value
        .get("packages")
        .and_then(|p| p.get(format!("node_modules/{name}")))
        .ok_or_else(|| StoreError::Mismatch(format!("{name} is not in {}", lock.display())))?;
    let got = |field: &str| pkg.get(field).and_then(|v| v.as_str()).unwrap_or_default();
    if got("version") != res.version {
        return Err(StoreError::Mismatch(format!(
            "npm installed {name} {} instead of {}",
            got("version"),
            res.version
        )));
    }
    if got("integrity") != res.integrity {
        return Err(StoreError::Mismatch(format!(
            "{name} {} was installed with integrity {}, the registry said {}",
            res.version,
            got("integrity"),
            res.integrity
        )));
    }
    Ok(())
}

/// The script of the package's bin: the one named `bin`, else the one
/// named like the package, else its only one. Inside the package.
pub fn bin_script(entry: &Path, name: &str, bin: Option<&str>) -> Result<PathBuf, StoreError> {
    let dir = entry.join("node_modules").join(name);
    let manifest = dir.join("package.json");
    let text = std::fs::read(&manifest).map_err(|source| StoreError::Io {
        path: manifest.clone(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| StoreError::Mismatch(format!("{}: {e}", manifest.display())))?;
    let unscoped = name.rsplit('/').next().unwrap_or(name);
    let rel = match value.get("bin") {
        Some(serde_json::Value::String(s)) if bin.is_none_or(|b| b == unscoped) => s.clone(),
        Some(serde_json::Value::Object(map)) => {
            let pick = match bin {
                Some(b) => map.get(b),
                None if map.len() == 1 => map.values().next(),
                None => map.get(unscoped),
            };
            pick.and_then(|v| v.as_str())
                .ok_or_else(|| {
                    let names: Vec<&String> = map.keys().collect();
                    StoreError::Mismatch(format!(
                        "{name} has no bin {} (it has {names:?}); name one with `npx -p {name} BIN`",
                        bin.unwrap_or(unscoped)
                    ))
                })?
                .to_owned()
        }
        _ => {
            return Err(StoreError::Mismatch(format!(
                "{name} declares no bin {} to run",
                bin.unwrap_or(unscoped)
            )));
        }
    };
    let rel = Path::new(&rel);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(StoreError::Mismatch(format!(
            "{name}'s bin {} leaves the package",
            rel.display()
        )));
    }
    let script: PathBuf = dir.join(rel).components().collect();
    Ok(script)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn registry_destinations() {
        assert_eq!(
            destination("https://registry.npmjs.org/").unwrap(),
            "registry.npmjs.org:443"
        );
        assert_eq!(
            destination("http://127.0.0.1:4873/").unwrap(),
            "127.0.0.1:4873"
        );
        assert_eq!(destination("http://u:p@h/x").unwrap(), "h:80");
        assert!(destination("file:///x").is_err());
        assert_eq!(
            registry_line("a=b\nregistry = \"http://x:1/\"\n").as_deref(),
            Some("http://x:1/")
        );
    }

    #[test]
    fn view_answers() {
        let one = br#"{"version":"1.2.3","dist.integrity":"sha512-abc"}"#;
        assert_eq!(
            parse_view(one).unwrap(),
            ("1.2.3".into(), "sha512-abc".into())
        );
        let many = br#"[{"version":"1.0.0","dist.integrity":"sha512-a"},{"version":"1.1.0","dist.integrity":"sha512-b"}]"#;
        assert_eq!(parse_view(many).unwrap().0, "1.1.0");
        assert!(parse_view(br#"{"version":"1.0.0","dist.integrity":"sha1-x"}"#).is_err());
        assert!(parse_view(b"").is_err());
    }

    #[test]
    fn bins_stay_inside_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("node_modules/@s/p");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("package.json"), r#"{"bin":{"p":"./dist/i.js"}}"#).unwrap();
        assert_eq!(
            bin_script(dir.path(), "@s/p", None).unwrap(),
            pkg.join("dist/i.js")
        );
        std::fs::write(pkg.join("package.json"), r#"{"bin":"../../x.js"}"#).unwrap();
        assert!(bin_script(dir.path(), "@s/p", None).is_err());
    }
}
