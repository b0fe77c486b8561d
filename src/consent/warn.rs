//! Warnings for dangerous patterns in the command and the policy, one
//! sentence each, shown as part of the consent text.
//!
//! These are heuristics meant to catch the common mistakes (an unpinned
//! `npx -y`, `curl | sh`, a grant on `~/.ssh`), not a security boundary:
//! the sandbox is the boundary. Everything here is pure except for
//! existence checks on the granted paths (`.env` inside a granted
//! directory, credential directories inside a granted home).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Invocation;
use crate::mcp::quote::{escape_os, escape_text};
use crate::policy::{HostPattern, NetworkMode, Policy};
use crate::sandbox::protect::{Base, Mask, PROTECTED};

const PRIVILEGE: &[&str] = &["sudo", "doas", "su", "pkexec", "run0"];
const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish"];
const DOWNLOADERS: &[&str] = &["curl", "wget"];
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "KEY",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
];

/// Every warning for running `inv` under `policy`, in a fixed order.
/// `home` is the user's home directory; an empty path skips the checks
/// that depend on it.
pub fn warnings(policy: &Policy, inv: &Invocation, home: &Path) -> Vec<String> {
    let words: Vec<String> = inv
        .argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    command_warnings(&words, &inv.executable, &mut out);
    if !inv.package.is_empty() {
        // Installed into the store and run from there: what runs is the
        // version shown, not whatever is latest at a start.
        out.retain(|w| !w.contains("downloads and runs the latest version"));
    }
    if shell_command(skip_prefixes(&words)).is_none() {
        out.extend(inline_code_warning(inv));
    }
    grant_warnings(policy, home, &mut out);
    for path in &policy.unprotect {
        out.push(format!(
            "the profile lifts cordon's mandatory protection of {}",
            show_path(path, home)
        ));
    }
    if policy.network.mode == NetworkMode::Host {
        out.push(
            "network is host: the server can reach every service on this machine's loopback \
             and your network"
                .to_owned(),
        );
    }
    allowlist_warnings(policy, &mut out);
    env_warnings(policy, &mut out);
    let mut seen = std::collections::HashSet::new();
    out.retain(|w| seen.insert(w.clone()));
    out
}

/// Allowlist entries that reach what mode "filtered" refuses by default:
/// a network named by address that holds loopback, private, link-local or
/// metadata addresses.
fn allowlist_warnings(policy: &Policy, out: &mut Vec<String>) {
    for dest in &policy.network.allow {
        if let HostPattern::Net(net) = &dest.host {
            if let Some(reason) = crate::destination::overlaps_refused(net) {
                out.push(format!(
                    "network.allow {dest} reaches addresses cordon otherwise refuses ({reason})"
                ));
            }
        }
    }
}

fn command_warnings(words: &[&str], executable: &Path, out: &mut Vec<String>) {
    let cmd = skip_prefixes(words);
    let exe_name = executable
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let exe_name = exe_name.as_deref().filter(|n| PRIVILEGE.contains(n));
    if let Some(name) = privileged(words).or(exe_name) {
        out.push(privilege_warning(name));
    }
    if has_rm_rf(words) {
        out.push(RM_RF.to_owned());
    }
    if let Some((shell, script)) = shell_command(cmd) {
        out.push(format!(
            "{} -c runs a shell command string; the server is whatever that string does",
            escape_text(shell)
        ));
        script_warnings(script, out);
    }
    if let Some(w) = unpinned_package(cmd) {
        out.push(w);
    }
}

/// `python3 -c CODE`, `node -e CODE`, `env node --eval CODE`: the
/// interpreter's grammar says the command line carries the code.
fn inline_code_warning(inv: &Invocation) -> Option<String> {
    let code = crate::launch::script::code_of(&inv.executable, &inv.argv, &inv.cwd, None);
    code.inline.map(|option| {
        format!(
            "{} gives the interpreter code on the command line: the server is that code (bound to the approval as part of the command)",
            escape_text(&option)
        )
    })
}

const RM_RF: &str =
    "the command contains `rm -rf`: it can delete files recursively wherever it may write";

fn privilege_warning(name: &str) -> String {
    format!(
        "the command runs {}, which asks for root privileges; an MCP server should never need them",
        escape_text(name)
    )
}

/// Warnings about the text of a `sh -c` string.
fn script_warnings(script: &str, out: &mut Vec<String>) {
    let segments = split_script(script);
    if let Some(name) = segments.iter().find_map(|s| privileged(&s.words)) {
        out.push(privilege_warning(name));
    }
    if segments.iter().any(|s| has_rm_rf(&s.words)) {
        out.push(RM_RF.to_owned());
    }
    if downloads_and_runs(&segments, script) {
        out.push(
            "the shell command pipes a download (curl/wget) into a shell: it runs whatever \
             that URL serves at every start"
                .to_owned(),
        );
    }
}

/// A `sudo`-like word among the command's prefixes (`env`, assignments,
/// `sudo` itself) or as the command.
fn privileged<'a>(words: &[&'a str]) -> Option<&'a str> {
    let prefix = words.len() - skip_prefixes(words).len();
    words
        .iter()
        .take(prefix + 1)
        .map(|w| basename(w))
        .find(|w| PRIVILEGE.contains(w))
}

/// The last path component of a command word.
fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// The command proper, after an `env` with its options and assignments
/// and after `sudo`-like wrappers (which are warned about separately).
fn skip_prefixes<'a, 'b>(mut words: &'a [&'b str]) -> &'a [&'b str] {
    loop {
        match words.first().map(|w| basename(w)) {
            Some("env") | Some("sudo") | Some("doas") => {
                words = &words[1..];
                while words
                    .first()
                    .is_some_and(|w| w.starts_with('-') || is_assignment(w))
                {
                    words = &words[1..];
                }
            }
            Some(w) if is_assignment(w) => words = &words[1..],
            _ => return words,
        }
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `rm` followed by options that together mean recursive and forced.
fn has_rm_rf(words: &[&str]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        if basename(w) != "rm" {
            return false;
        }
        let (mut recursive, mut force) = (false, false);
        for opt in words[i + 1..]
            .iter()
            .take_while(|o| o.starts_with('-') && **o != "--")
        {
            match *opt {
                "--recursive" => recursive = true,
                "--force" => force = true,
                o if !o.starts_with("--") => {
                    recursive |= o.contains(['r', 'R']);
                    force |= o.contains('f');
                }
                _ => {}
            }
        }
        recursive && force
    })
}

/// For `sh -c STRING ...` (and `bash -lc`, `zsh -ec`...): the shell's
/// name and the command string.
fn shell_command<'a>(cmd: &[&'a str]) -> Option<(&'a str, &'a str)> {
    let shell = basename(cmd.first()?);
    if !SHELLS.contains(&shell) {
        return None;
    }
    let mut seen_c = false;
    let mut args = cmd[1..].iter();
    while let Some(arg) = args.next() {
        if *arg == "--" || !(arg.starts_with('-') || arg.starts_with('+')) {
            let operand = if *arg == "--" { args.next()? } else { arg };
            return seen_c.then_some((shell, *operand));
        }
        if arg.starts_with("--") {
            if matches!(*arg, "--rcfile" | "--init-file") {
                args.next();
            }
            continue;
        }
        seen_c |= arg.contains('c');
        if arg.contains(['o', 'O']) {
            args.next();
        }
    }
    None
}

/// One simple command of a shell string, and whether its input is piped
/// from the previous one.
struct Segment<'a> {
    words: Vec<&'a str>,
    piped: bool,
}

impl Segment<'_> {
    /// The command's name, after `env`/`sudo` prefixes.
    fn command(&self) -> Option<&str> {
        skip_prefixes(&self.words).first().map(|w| basename(w))
    }
}

/// A deliberately rough split of a shell string into simple commands, on
/// `; & | ( ) ` < >` and newlines, quotes dropped from the words.
fn split_script(script: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut piped = false;
    let mut rest = script;
    while !rest.is_empty() {
        let end = rest
            .find([';', '&', '|', '(', ')', '`', '<', '>', '\n'])
            .unwrap_or(rest.len());
        let words = rest[..end]
            .split_whitespace()
            .map(|w| w.trim_matches(['"', '\'', '$', '{', '}']))
            .filter(|w| !w.is_empty())
            .collect();
        segments.push(Segment { words, piped });
        let sep = &rest[end..];
        piped = sep.starts_with('|') && !sep.starts_with("||");
        let skip = if sep.starts_with("||") || sep.starts_with("&&") {
            2
        } else {
            1
        };
        rest = sep.get(skip..).unwrap_or("");
    }
    segments
}

/// `curl … | sh`, or a shell fed by `$(curl …)` / `<(curl …)`.
fn downloads_and_runs(segments: &[Segment<'_>], script: &str) -> bool {
    let is_shell = |s: &Segment<'_>| s.command().is_some_and(|c| SHELLS.contains(&c));
    let is_download = |s: &Segment<'_>| s.command().is_some_and(|c| DOWNLOADERS.contains(&c));
    let piped = segments
        .windows(2)
        .any(|p| p[1].piped && is_shell(&p[1]) && is_download(&p[0]));
    let substituted = (script.contains("$(") || script.contains("<("))
        && segments.iter().any(is_download)
        && segments.iter().any(is_shell);
    piped || substituted
}

/// A package runner started with a package that has no fixed version.
fn unpinned_package(cmd: &[&str]) -> Option<String> {
    let first = basename(cmd.first()?);
    let second = cmd.get(1).copied().unwrap_or("");
    let after = |n: usize| cmd.get(n..).unwrap_or(&[]);
    // (runner as shown, package spec, whether it is a Python runner)
    let (runner, spec, python) = match (first, second) {
        ("npx" | "bunx" | "pnpx", _) => (first.to_owned(), npm_package(after(1))?, false),
        ("npm", "exec" | "x") | ("bun" | "yarn", "x" | "dlx") => {
            (format!("{first} {second}"), npm_package(after(2))?, false)
        }
        ("pnpm", _) => {
            let dlx = cmd.iter().position(|w| *w == "dlx")?;
            ("pnpm dlx".to_owned(), npm_package(after(dlx + 1))?, false)
        }
        ("uvx", _) => (first.to_owned(), py_package(after(1), "--from")?, true),
        ("uv", "tool") if cmd.get(2) == Some(&"run") => (
            "uv tool run".to_owned(),
            py_package(after(3), "--from")?,
            true,
        ),
        ("pipx", "run") => ("pipx run".to_owned(), py_package(after(2), "--spec")?, true),
        _ => return None,
    };
    let (pinned, example) = if python {
        (py_is_pinned(spec), "==")
    } else {
        (npm_is_pinned(spec), "@")
    };
    if pinned {
        return None;
    }
    Some(format!(
        "{} downloads and runs the latest version of {} at every start; pin a version \
         (name{example}1.2.3) to run the code you reviewed",
        escape_text(&runner),
        escape_text(spec)
    ))
}

/// The package an npm-style runner installs: `-p`/`--package` if given,
/// else the first operand. `None` when nothing is downloaded (`--no`).
fn npm_package<'a>(args: &[&'a str]) -> Option<&'a str> {
    let mut it = args.iter();
    let mut first_operand = None;
    while let Some(arg) = it.next() {
        match *arg {
            "--no" | "--no-install" | "--offline" => return None,
            "-p" | "--package" => return it.next().copied(),
            "-c" | "--call" => return None,
            "--" => return first_operand.or_else(|| it.next().copied()),
            a if a.starts_with("--package=") => return a.strip_prefix("--package="),
            a if a.starts_with('-') => {}
            a => {
                first_operand.get_or_insert(a);
            }
        }
    }
    first_operand
}

/// The package a Python-style runner installs: the `spec_opt` value if
/// given, else the first operand.
fn py_package<'a>(args: &[&'a str], spec_opt: &str) -> Option<&'a str> {
    // Options of uvx, `uv tool run` and `pipx run` that take a value.
    const TAKES_VALUE: &str = "--with -w --with-editable --with-requirements --python -p \
        --index --default-index --index-url -i --extra-index-url --find-links -f --constraints \
        --overrides --pip-args --cache-dir --directory";
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if *arg == spec_opt {
            return it.next().copied();
        }
        if let Some(v) = arg.strip_prefix(spec_opt).and_then(|r| r.strip_prefix('=')) {
            return Some(v);
        }
        if TAKES_VALUE.split_whitespace().any(|o| o == *arg) {
            it.next();
        } else if *arg == "--" {
            return it.next().copied();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// Local paths and URLs are not registry packages; say nothing about them.
fn is_path_or_url(spec: &str) -> bool {
    spec.starts_with(['.', '/', '~']) || spec.contains(':')
}

/// `name@1.2.3` or `@scope/name@1.2.3`; tags (`@latest`) and ranges are
/// not pins.
fn npm_is_pinned(spec: &str) -> bool {
    if is_path_or_url(spec) {
        return true;
    }
    let at = if let Some(scoped) = spec.strip_prefix('@') {
        scoped.find('@').map(|i| i + 1)
    } else {
        spec.find('@')
    };
    at.is_some_and(|i| is_exact_version(&spec[i + 1..]))
}

/// `name==1.2.3` or `name@1.2.3` (with optional `[extras]`).
fn py_is_pinned(spec: &str) -> bool {
    if is_path_or_url(spec) {
        return true;
    }
    let version = spec
        .split_once("==")
        .or_else(|| spec.split_once('@'))
        .map(|(_, v)| v);
    version.is_some_and(|v| is_exact_version(v.trim_start_matches('=')))
}

fn is_exact_version(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        && !v.split('.').any(|part| matches!(part, "x" | "X"))
}

/// A place the server should rarely see.
struct Sensitive {
    path: PathBuf,
    what: &'static str,
    /// Warn also for grants below it (credential directories).
    below_too: bool,
}

fn sensitive_places(home: &Path) -> Vec<Sensitive> {
    let mut list: Vec<Sensitive> = [
        ("/", "the whole filesystem"),
        ("/etc", "system configuration"),
        ("/home", "every user's home directory"),
        ("/root", "root's home directory"),
    ]
    .into_iter()
    .map(|(p, what)| Sensitive {
        path: p.into(),
        what,
        below_too: false,
    })
    .collect();
    if home.is_absolute() && home != Path::new("/") {
        list.push(Sensitive {
            path: home.to_owned(),
            what: "your home directory",
            below_too: false,
        });
        // Credential stores: the rows cordon hides (sandbox::protect).
        for entry in PROTECTED.iter().filter(|e| e.mask == Mask::Hide) {
            let base = match entry.base {
                Base::Home => home.to_path_buf(),
                Base::Config => home.join(".config"),
            };
            list.push(Sensitive {
                path: base.join(entry.rel),
                what: entry.why,
                below_too: true,
            });
        }
        let hosts = [
            ".config/Claude/claude_desktop_config.json",
            ".claude.json",
            ".cursor/mcp.json",
            ".vscode/mcp.json",
            ".mcp.json",
        ];
        for rel in hosts {
            list.push(Sensitive {
                path: home.join(rel),
                what: "an MCP host's configuration",
                below_too: false,
            });
        }
    }
    list
}

/// Files that are sensitive wherever they are: matched by name on the
/// grant itself, and looked for directly inside a granted directory.
const LOCAL_FILES: [(&str, &str); 4] = [
    (".env", "a .env file, which usually holds secrets"),
    (".mcp.json", "an MCP host's configuration"),
    (".cursor/mcp.json", "an MCP host's configuration"),
    (".vscode/mcp.json", "an MCP host's configuration"),
];

fn grant_warnings(policy: &Policy, home: &Path, out: &mut Vec<String>) {
    let mut places = sensitive_places(home);
    // Compared as bytes below: normal forms (no `//`, `.` or trailing
    // `/`) make that the same as comparing components, at a fraction of
    // the cost (every grant meets every place).
    for s in &mut places {
        s.path = normal(&s.path);
    }
    for g in &policy.fs {
        let mut hits: Vec<&str> = Vec::new();
        let mut contains: Vec<PathBuf> = Vec::new();
        let grant = normal(&g.path);
        for s in &places {
            if grant == s.path || (s.below_too && within(&grant, &s.path)) {
                hits.push(s.what);
            } else if within(&s.path, &grant) && grant != Path::new("/") && exists(&s.path) {
                contains.push(s.path.clone());
            }
        }
        for (rel, what) in LOCAL_FILES {
            if g.path.ends_with(rel) {
                hits.push(what);
            } else if exists(&g.path.join(rel)) {
                contains.push(g.path.join(rel));
            }
        }
        contains.sort();
        contains.dedup();
        if hits.is_empty() && contains.is_empty() {
            continue;
        }
        out.push(grant_sentence(
            g.access.write,
            &g.path,
            &hits,
            &contains,
            home,
        ));
    }
}

/// `path` without `//`, `.` components or a trailing `/` (`..` stays).
fn normal(path: &Path) -> PathBuf {
    path.components().collect()
}

/// `Path::starts_with` for paths in [`normal`] form, on their bytes.
fn within(path: &Path, base: &Path) -> bool {
    let (path, base) = (path.as_os_str().as_bytes(), base.as_os_str().as_bytes());
    path.starts_with(base)
        && (path.len() == base.len() || base.ends_with(b"/") || path[base.len()] == b'/')
}

fn grant_sentence(
    write: bool,
    path: &Path,
    hits: &[&str],
    contains: &[PathBuf],
    home: &Path,
) -> String {
    let mut s = format!(
        "{} access to {}",
        if write { "grants WRITE" } else { "grants read" },
        show_path(path, home)
    );
    if !hits.is_empty() {
        s.push_str(&format!(" ({})", hits.join(", ")));
    }
    if !contains.is_empty() {
        let names: Vec<String> = contains.iter().map(|p| show_path(p, home)).collect();
        s.push_str(&format!(", which contains {}", names.join(", ")));
    }
    s.push_str(if write {
        ": the server can read, change and delete it"
    } else {
        ": the server can read it"
    });
    s
}

fn exists(path: &Path) -> bool {
    // Grants are canonical: what resolving them saw answers most of these
    // (nothing is looked for inside a file or a missing directory).
    crate::profile::exists_nofollow(path)
}

/// A path for a sentence: below `home` as `~/…`, escaped.
fn show_path(path: &Path, home: &Path) -> String {
    match path.strip_prefix(home) {
        Ok(rest) if home.is_absolute() && !rest.as_os_str().is_empty() => {
            format!("~/{}", escape_os(rest.as_os_str()))
        }
        _ => escape_os(path.as_os_str()),
    }
}

fn env_warnings(policy: &Policy, out: &mut Vec<String>) {
    let looks_secret = |name: &&String| {
        let upper = name.to_ascii_uppercase();
        SECRET_WORDS.iter().any(|w| upper.contains(w))
    };
    let passed: Vec<String> = policy
        .env
        .pass
        .iter()
        .filter(looks_secret)
        .map(|n| escape_text(n))
        .collect();
    if !passed.is_empty() {
        out.push(format!(
            "passes a credential to the server: {} (copied from your environment)",
            passed.join(", ")
        ));
    }
    let set: Vec<String> = policy
        .env
        .set
        .keys()
        .filter(looks_secret)
        .map(|n| escape_text(n))
        .collect();
    if !set.is_empty() {
        out.push(format!(
            "passes a credential to the server: {} (set by the profile)",
            set.join(", ")
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::consent::test_support::{grant, invocation, policy};
    use crate::policy::{Access, GrantSource};

    fn for_argv(argv: &[&str]) -> Vec<String> {
        warnings(&policy(), &invocation(argv), Path::new(""))
    }

    fn fires(argv: &[&str], needle: &str) -> bool {
        for_argv(argv).iter().any(|w| w.contains(needle))
    }

    #[test]
    fn benign_commands_are_quiet() {
        for argv in [
            &[
                "npx",
                "-y",
                "@modelcontextprotocol/server-filesystem@2025.1.14",
                "/srv/notes",
            ][..],
            &["node", "/srv/server.js", "--rm", "-rf-ish"],
            &[
                "uvx",
                "mcp-server-git==2025.1.14",
                "--repository",
                "/srv/repo",
            ],
            &[
                "uvx",
                "--from",
                "mcp-server-fetch@0.6.2",
                "mcp-server-fetch",
            ],
            &["pipx", "run", "--spec", "pkg==1.0", "pkg"],
            &["bunx", "pkg@1.2.3"],
            &["python3", "-m", "server", "--shell", "bash"],
            &["bash", "/srv/start.sh"],
            &["npx", "--no", "local-bin"],
            &["npx", "./local/package"],
        ] {
            assert_eq!(for_argv(argv), Vec::<String>::new(), "{argv:?}");
        }
    }

    #[test]
    fn privilege_escalation() {
        assert!(fires(
            &["sudo", "node", "x.js"],
            "runs sudo, which asks for root"
        ));
        assert!(fires(&["/usr/bin/doas", "x"], "runs doas"));
        assert!(fires(&["env", "A=1", "pkexec", "x"], "runs pkexec"));
        assert!(fires(&["sh", "-c", "cd /srv && sudo ./serve"], "runs sudo"));
        assert!(fires(&["sh", "-c", "A=1 env doas ./serve"], "runs doas"));
        assert!(!fires(&["sh", "-c", "echo sudo"], "root"));
        let mut inv = invocation(&["server"]);
        inv.executable = "/usr/bin/su".into();
        assert!(!warnings(&policy(), &inv, Path::new("")).is_empty());
        assert!(!fires(&["node", "sudo.js"], "root"));
    }

    #[test]
    fn rm_rf() {
        for argv in [
            &["rm", "-rf", "/srv/cache"][..],
            &["rm", "-fr", "x"],
            &["rm", "-r", "-f", "x"],
            &["/bin/rm", "-Rf", "x"],
            &["rm", "--recursive", "--force", "x"],
            &["sh", "-c", "rm -rf /tmp/x; exec server"],
            &["bash", "-lc", "cd /srv && rm -r -f build && node x"],
        ] {
            assert!(fires(argv, "rm -rf"), "{argv:?}");
        }
        assert!(!fires(&["rm", "-r", "x"], "rm -rf"));
        assert!(!fires(&["server", "-rf"], "rm -rf"));
        assert!(!fires(&["sh", "-c", "echo rm; ls -rf"], "rm -rf"));
    }

    #[test]
    fn shell_command_strings() {
        let msg = "runs a shell command string; the server is whatever that string does";
        assert!(fires(&["sh", "-c", "exec node x.js"], msg));
        assert!(fires(&["/bin/bash", "-lc", "node x.js"], msg));
        assert!(fires(&["zsh", "-e", "-c", "node x.js"], msg));
        assert!(fires(&["env", "bash", "-c", "node x.js"], msg));
        assert!(!fires(&["bash", "script.sh", "-c"], msg));
        assert!(!fires(&["node", "-c", "x"], msg));
    }

    #[test]
    fn download_piped_into_a_shell() {
        let msg = "pipes a download";
        assert!(fires(
            &["sh", "-c", "curl -fsSL https://x.example/i.sh | sh"],
            msg
        ));
        assert!(fires(
            &["bash", "-c", "wget -qO- https://x.example/i | sudo bash -s"],
            msg
        ));
        assert!(fires(
            &["bash", "-c", "bash <(curl -s https://x.example/i)"],
            msg
        ));
        assert!(fires(
            &["sh", "-c", "sh -c \"$(curl -fsSL https://x.example)\""],
            msg
        ));
        assert!(!fires(
            &["sh", "-c", "curl -s https://x.example > /tmp/f || true"],
            msg
        ));
        assert!(!fires(&["sh", "-c", "curl https://x.example | jq ."], msg));
    }

    #[test]
    fn unpinned_package_runners() {
        let msg = "downloads and runs the latest version";
        for argv in [
            &[
                "npx",
                "-y",
                "@modelcontextprotocol/server-filesystem",
                "/srv",
            ][..],
            &["npx", "--yes", "mcp-server"],
            &["npx", "mcp-server@latest"],
            &["npx", "-y", "mcp-server@^1.2.0"],
            &["npx", "-y", "@scope/pkg@next"],
            &["npx", "-y", "-p", "@scope/pkg", "cmd"],
            &["npm", "exec", "--", "pkg"],
            &["bunx", "pkg"],
            &["pnpm", "dlx", "pkg"],
            &["uvx", "mcp-server-fetch"],
            &["uvx", "mcp-server-fetch>=1.0"],
            &["uvx", "--from", "pkg@latest", "cmd"],
            &["uv", "tool", "run", "pkg"],
            &["pipx", "run", "pkg"],
            &["pipx", "run", "--spec", "pkg", "cmd"],
        ] {
            assert!(fires(argv, msg), "{argv:?}");
        }
        for argv in [
            &["npx", "-y", "@scope/pkg@1.2.3"][..],
            &["npx", "-y", "pkg@0.6.2", "--flag"],
            &["npx", "-y", "-p", "@scope/pkg@1.0.0", "cmd"],
            &["pnpm", "dlx", "pkg@1.0.0"],
            &["uvx", "pkg==1.2"],
            &["uvx", "pkg[extra]==1.2", "--x"],
            &["uvx", "--python", "3.12", "pkg@1.2"],
            &["pipx", "run", "pkg==1.0"],
        ] {
            assert!(!fires(argv, msg), "{argv:?}");
        }
        assert!(
            for_argv(&["npx", "-y", "srv"])[0]
                .starts_with("npx downloads and runs the latest version of srv")
        );
    }

    #[test]
    fn network_host_and_credentials() {
        let mut p = policy();
        let inv = invocation(&["server"]);
        assert!(warnings(&p, &inv, Path::new("")).is_empty());
        p.network.mode = NetworkMode::Host;
        p.env.pass = vec![
            "GITHUB_TOKEN".into(),
            "HOME".into(),
            "OPENAI_API_KEY".into(),
        ];
        p.env.set.insert("DB_PASSWORD".into(), "x".into());
        let w = warnings(&p, &inv, Path::new(""));
        assert!(
            w.iter()
                .any(|w| w.contains("every service on this machine's loopback and your network"))
        );
        assert!(w.iter().any(|w| w == "passes a credential to the server: GITHUB_TOKEN, OPENAI_API_KEY (copied from your environment)"), "{w:?}");
        assert!(
            w.iter()
                .any(|w| w.contains("credential to the server: DB_PASSWORD"))
        );
    }

    fn grant_warnings_for(grants: &[(&Path, Access)], home: &Path) -> Vec<String> {
        let mut p = policy();
        p.fs = grants
            .iter()
            .map(|(path, access)| grant(path.to_str().unwrap(), *access, GrantSource::Profile))
            .collect();
        warnings(&p, &invocation(&["server"]), home)
    }

    #[test]
    fn within_agrees_with_path_starts_with() {
        let paths = [
            "/",
            "/home",
            "/home/",
            "/home/u",
            "/home//u/",
            "/home/u/.ssh",
            "/home/us",
            "/home/./u",
            "/home/u/../v",
            "/etc",
            "/etcetera",
            "",
        ];
        for a in paths {
            for b in paths {
                let (a, b) = (Path::new(a), Path::new(b));
                assert_eq!(
                    within(&normal(a), &normal(b)),
                    a.starts_with(b),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn sensitive_grants() {
        let home_dir = tempfile::tempdir().unwrap();
        let home = home_dir.path();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join("code/app")).unwrap();
        std::fs::write(home.join("code/app/.env"), "K=v").unwrap();
        std::fs::create_dir_all(home.join("code/other/.vscode")).unwrap();
        std::fs::write(home.join("code/other/.vscode/mcp.json"), "{}").unwrap();
        std::fs::create_dir_all(home.join("notes")).unwrap();
        let one = |path: &Path, access| grant_warnings_for(&[(path, access)], home);

        let w = one(home, Access::READ_WRITE);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("grants WRITE access to "), "{w:?}");
        assert!(
            w[0].contains("(your home directory), which contains ~/.ssh:"),
            "{w:?}"
        );
        assert!(w[0].ends_with("the server can read, change and delete it"));

        let w = one(&home.join(".ssh"), Access::READ);
        assert_eq!(
            w,
            vec![
                "grants read access to ~/.ssh (SSH keys; authorized_keys and config (ProxyCommand) run code): the server can read it"
            ]
        );
        assert!(one(&home.join(".ssh/id_ed25519"), Access::READ)[0].contains("SSH keys"));
        assert!(one(&home.join(".aws/credentials"), Access::READ)[0].contains("AWS"));
        assert!(one(&home.join(".config/gh"), Access::READ)[0].contains("GitHub"));
        assert!(one(&home.join(".netrc"), Access::READ)[0].contains("passwords"));
        assert!(one(&home.join(".npmrc"), Access::READ)[0].contains("npm's registry tokens"));
        let uv = home.join(".local/share/uv/credentials/credentials.toml");
        assert!(one(&uv, Access::READ)[0].contains("uv auth"));
        assert!(
            one(
                &home.join(".config/Claude/claude_desktop_config.json"),
                Access::READ
            )[0]
            .contains("MCP host")
        );
        assert!(
            one(&home.join("code/app"), Access::READ)[0].contains("which contains ~/code/app/.env")
        );
        assert!(one(&home.join("code/app/.env"), Access::READ)[0].contains("a .env file"));
        assert!(
            one(&home.join("code/other"), Access::READ)[0]
                .contains("~/code/other/.vscode/mcp.json")
        );
        assert!(one(Path::new("/srv/x/.mcp.json"), Access::READ)[0].contains("MCP host"));
        for root in ["/", "/etc", "/home", "/root"] {
            assert_eq!(one(Path::new(root), Access::READ).len(), 1, "{root}");
        }
        assert!(one(Path::new("/"), Access::READ)[0].contains("the whole filesystem"));
        assert!(one(Path::new("/home"), Access::READ)[0].contains("every user's home"));

        assert!(one(&home.join("notes"), Access::READ_WRITE).is_empty());
        assert!(one(Path::new("/usr"), Access::READ_EXEC).is_empty());
        assert!(one(Path::new("/etc/ssl/certs"), Access::READ).is_empty());
    }

    #[test]
    fn unprotect_is_named() {
        let mut p = policy();
        p.unprotect = vec!["/home/u/.ssh".into()];
        let w = warnings(&p, &invocation(&["server"]), Path::new("/home/u"));
        assert_eq!(
            w,
            vec!["the profile lifts cordon's mandatory protection of ~/.ssh"]
        );
    }

    #[test]
    fn warnings_escape_untrusted_text() {
        let w = for_argv(&["npx", "-y", "evil\x1b]0;x\x07\u{202e}"]);
        assert!(
            !w[0].contains('\x1b') && !w[0].contains('\u{202e}'),
            "{w:?}"
        );
        assert!(w[0].contains(r"evil\x1b]0;x\x07\u{202e}"));
    }
}
