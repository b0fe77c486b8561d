//! Launch forms that fetch a package, parsed once into a
//! [`PackageRequest`]: `npx`, `npm exec`/`npm x`, `pnpm dlx`, `pnpx`,
//! `bunx` (npm) and `uvx`, `uv tool run`, `pipx run` (PyPI).
//!
//! A form cordon cannot map to one registry package and its bin (a local
//! path or URL, `--no`/`--offline`, `-c` shell code, more than one
//! `--package`, options it does not know) is refused with the reason, not
//! run some other way.

use std::ffi::OsString;
use std::path::Path;

use super::{Ecosystem, PackageRequest};

/// Why a launch form cannot be installed into the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cordon cannot install what `{launcher}` runs here: {reason}")]
pub struct SpecError {
    pub ecosystem: Ecosystem,
    pub launcher: String,
    pub reason: String,
}

/// The package `argv` fetches and runs; `Ok(None)` when `argv` does not
/// start with a package launcher.
pub fn parse(argv: &[OsString]) -> Result<Option<PackageRequest>, SpecError> {
    let Some(first) = argv.first() else {
        return Ok(None);
    };
    let name = Path::new(first)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let word = |i: usize| argv.get(i).and_then(|a| a.to_str()).unwrap_or_default();
    let (ecosystem, skip) = match (name, word(1)) {
        ("npx" | "bunx" | "pnpx", _) => (Ecosystem::Npm, 1),
        ("npm", "exec" | "x") => (Ecosystem::Npm, 2),
        ("pnpm", "dlx") => (Ecosystem::Npm, 2),
        ("uvx", _) => (Ecosystem::PyPI, 1),
        ("uv", "tool") if word(2) == "run" => (Ecosystem::PyPI, 3),
        ("pipx", "run") => (Ecosystem::PyPI, 2),
        _ => return Ok(None),
    };
    let launcher_words = &argv[..skip];
    let shown = launcher_words
        .iter()
        .map(|w| w.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let refuse = |reason: String| SpecError {
        ecosystem,
        launcher: shown.clone(),
        reason,
    };
    let rest = &argv[skip..];
    let parsed = match ecosystem {
        Ecosystem::Npm => npm_words(rest).map_err(refuse)?,
        Ecosystem::PyPI => {
            pypi_words(rest, if name == "pipx" { "--spec" } else { "--from" }).map_err(refuse)?
        }
    };
    let (launcher_opts, package, bin, args) = parsed;
    let mut launcher: Vec<OsString> = launcher_words.to_vec();
    launcher.extend(launcher_opts);
    let (pkg_name, spec) = match ecosystem {
        Ecosystem::Npm => split_npm(&package),
        Ecosystem::PyPI => split_pypi(&package),
    }
    .map_err(|reason| SpecError {
        ecosystem,
        launcher: shown.clone(),
        reason,
    })?;
    Ok(Some(PackageRequest {
        ecosystem,
        launcher,
        name: pkg_name,
        spec,
        bin,
        args,
    }))
}

type Words = (Vec<OsString>, String, Option<String>, Vec<OsString>);

/// npx's grammar: options, then the package (or, with `--package`, the
/// bin), then the server's arguments.
fn npm_words(rest: &[OsString]) -> Result<Words, String> {
    let mut opts = Vec::new();
    let mut package: Option<String> = None;
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i]
            .to_str()
            .ok_or_else(|| format!("{:?} is not UTF-8", rest[i]))?;
        match arg {
            "-y" | "--yes" | "-q" | "--quiet" | "--silent" => opts.push(rest[i].clone()),
            "--no" | "--no-install" | "--offline" => {
                return Err(format!(
                    "{arg} runs what is already installed, which cordon does not install"
                ));
            }
            "-c" | "--call" => return Err(format!("{arg} runs shell code, not a package")),
            "-p" | "--package" => {
                let value = rest
                    .get(i + 1)
                    .and_then(|v| v.to_str())
                    .ok_or_else(|| format!("{arg} needs a package"))?;
                if package.replace(value.to_owned()).is_some() {
                    return Err("more than one --package".into());
                }
                opts.push(rest[i].clone());
                i += 1;
            }
            "--" => {
                i += 1;
                break;
            }
            a if a.starts_with("--package=") => {
                if package
                    .replace(a.trim_start_matches("--package=").to_owned())
                    .is_some()
                {
                    return Err("more than one --package".into());
                }
                opts.push(rest[i].clone());
            }
            a if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ => break,
        }
        i += 1;
    }
    let operand = rest
        .get(i)
        .ok_or("no package named")?
        .to_str()
        .ok_or("the package name is not UTF-8")?
        .to_owned();
    let args = rest[i + 1..].to_vec();
    Ok(match package {
        Some(p) => (opts, p, Some(operand), args),
        None => (opts, operand, None, args),
    })
}

/// uvx's grammar: options (`--from SPEC`), then the package or bin, then
/// the server's arguments.
fn pypi_words(rest: &[OsString], from_opt: &str) -> Result<Words, String> {
    let mut opts = Vec::new();
    let mut from: Option<String> = None;
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i]
            .to_str()
            .ok_or_else(|| format!("{:?} is not UTF-8", rest[i]))?;
        if arg == from_opt {
            let value = rest
                .get(i + 1)
                .and_then(|v| v.to_str())
                .ok_or_else(|| format!("{arg} needs a package"))?;
            from = Some(value.to_owned());
            opts.extend([rest[i].clone(), rest[i + 1].clone()]);
            i += 2;
            continue;
        }
        if let Some(v) = arg.strip_prefix(from_opt).and_then(|r| r.strip_prefix('=')) {
            from = Some(v.to_owned());
            opts.push(rest[i].clone());
        } else if arg == "-q" || arg == "--quiet" {
            opts.push(rest[i].clone());
        } else if from_opt == "--from" && (arg == "--with" || arg == "-w") {
            // More packages in the same environment (`--with mcp<2`): the
            // PyPI installer locks them with the package.
            if rest.get(i + 1).and_then(|v| v.to_str()).is_none() {
                return Err(format!("{arg} needs a package"));
            }
            opts.extend([rest[i].clone(), rest[i + 1].clone()]);
            i += 1;
        } else if from_opt == "--from" && arg.starts_with("--with=") {
            opts.push(rest[i].clone());
        } else if arg == "--" {
            i += 1;
            break;
        } else if arg.starts_with('-') {
            return Err(format!("unknown option {arg}"));
        } else {
            break;
        }
        i += 1;
    }
    let operand = rest
        .get(i)
        .ok_or("no package named")?
        .to_str()
        .ok_or("the package name is not UTF-8")?
        .to_owned();
    let args = rest[i + 1..].to_vec();
    Ok(match from {
        Some(p) => (opts, p, Some(operand), args),
        None => (opts, operand, None, args),
    })
}

fn is_path_or_url(spec: &str) -> bool {
    spec.starts_with(['.', '/', '~']) || spec.contains(':') || spec.contains("//")
}

/// `@scope/name@spec`, `name@spec`, `name`.
fn split_npm(package: &str) -> Result<(String, Option<String>), String> {
    if is_path_or_url(package) {
        return Err(format!(
            "{package} is a path or URL; only registry packages are installed"
        ));
    }
    let at = match package.strip_prefix('@') {
        Some(scoped) => scoped.find('@').map(|i| i + 1),
        None => package.find('@'),
    };
    let (name, spec) = match at {
        Some(i) => (&package[..i], Some(package[i + 1..].to_owned())),
        None => (package, None),
    };
    let valid = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    };
    let ok = match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(s, n)| valid(s) && valid(n)),
        None => valid(name),
    };
    if !ok {
        return Err(format!("{name:?} is not an npm package name"));
    }
    Ok((name.to_owned(), spec.filter(|s| !s.is_empty())))
}

/// `name==1.0`, `name@1.0`, `name>=1`, `name[extra]==1`, `name`.
fn split_pypi(package: &str) -> Result<(String, Option<String>), String> {
    if is_path_or_url(package) {
        return Err(format!(
            "{package} is a path or URL; only index packages are installed"
        ));
    }
    let cut = package
        .find(['=', '<', '>', '~', '!', '@'])
        .unwrap_or(package.len());
    let name = package[..cut].trim();
    let spec = package[cut..].trim();
    let spec = spec.strip_prefix('@').unwrap_or(spec);
    let base = name.split('[').next().unwrap_or_default();
    if base.is_empty()
        || !base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("{name:?} is not a Python package name"));
    }
    Ok((name.to_owned(), (!spec.is_empty()).then(|| spec.to_owned())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn req(s: &[&str]) -> PackageRequest {
        parse(&words(s)).unwrap().unwrap()
    }

    #[test]
    fn npm_forms() {
        let r = req(&["npx", "-y", "@scope/pkg@1.2.3", "--x", "y"]);
        assert_eq!(r.ecosystem, Ecosystem::Npm);
        assert_eq!(r.launcher, words(&["npx", "-y"]));
        assert_eq!(r.name, "@scope/pkg");
        assert_eq!(r.spec.as_deref(), Some("1.2.3"));
        assert_eq!(r.args, words(&["--x", "y"]));
        assert!(r.pinned("1.2.3"));

        let r = req(&["/usr/bin/npx", "pkg"]);
        assert_eq!((r.name.as_str(), r.spec), ("pkg", None));

        let r = req(&["npm", "exec", "--yes", "--", "pkg@^1", "a"]);
        assert_eq!(r.spec.as_deref(), Some("^1"));
        assert_eq!(r.args, words(&["a"]));

        let r = req(&["npx", "-y", "-p", "pkg@2", "tool", "arg"]);
        assert_eq!((r.name.as_str(), r.bin.as_deref()), ("pkg", Some("tool")));
        assert_eq!(r.args, words(&["arg"]));

        let r = req(&["pnpm", "dlx", "pkg"]);
        assert_eq!(r.name, "pkg");
        let r = req(&["bunx", "pkg@latest"]);
        assert!(!r.pinned("1.0.0"));
    }

    #[test]
    fn pypi_forms() {
        let r = req(&["uvx", "mcp-server-time==1.0", "--tz", "UTC"]);
        assert_eq!(r.ecosystem, Ecosystem::PyPI);
        assert_eq!(
            (r.name.as_str(), r.spec.as_deref()),
            ("mcp-server-time", Some("==1.0"))
        );
        let r = req(&["uvx", "--from", "pkg==2", "tool"]);
        assert_eq!((r.name.as_str(), r.bin.as_deref()), ("pkg", Some("tool")));
        let r = req(&["pipx", "run", "--spec", "pkg", "tool"]);
        assert_eq!(r.bin.as_deref(), Some("tool"));
        let r = req(&["uvx", "--with", "mcp<2", "-w", "b", "--with=c", "pkg"]);
        assert_eq!(
            r.launcher,
            words(&["uvx", "--with", "mcp<2", "-w", "b", "--with=c"])
        );
        assert_eq!(r.name, "pkg");
        assert!(parse(&words(&["pipx", "run", "--with", "x", "pkg"])).is_err());
        let r = req(&["uv", "tool", "run", "pkg@3"]);
        assert_eq!(r.spec.as_deref(), Some("3"));
    }

    #[test]
    fn what_cannot_be_mapped_is_refused_and_other_commands_are_not_packages() {
        for argv in [
            &["npx", "./local"][..],
            &["npx", "--no", "bin"],
            &["npx", "-c", "echo hi"],
            &["npx", "--registry=x", "pkg"],
            &["npx", "-y"],
            &["npx", "github:a/b"],
            &["uvx", "git+https://x/y"],
            &["npx", "-p", "a", "-p", "b", "c"],
        ] {
            assert!(parse(&words(argv)).is_err(), "{argv:?}");
        }
        assert_eq!(parse(&words(&["node", "server.js"])), Ok(None));
        assert_eq!(parse(&words(&["npm", "start"])), Ok(None));
    }
}
