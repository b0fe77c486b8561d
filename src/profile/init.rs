//! `cordon profile init`: a starting profile for a new server, drafted from
//! its launch command.
//!
//! The draft is text, not a `Policy`: it is meant to be read and edited.
//! What it contains follows from how the server is started, which is told
//! from the command as typed and as resolved (the executable and its `#!`
//! interpreters, see `launch::resolve`):
//!
//! - `npx PACKAGE`: groups `runtime`, `node`, `npx`, `dns`; HTTPS out, for
//!   the registry.
//! - `node SCRIPT`, or a script whose `#!` names node: `runtime`, `node`,
//!   and the script's package (the nearest directory with a package.json)
//!   read and execute; no network.
//! - `uvx PACKAGE`: `runtime`, `python`, `uvx`, `dns`, uv's tool directory
//!   moved into the private /tmp; HTTPS out, for PyPI.
//! - `python …`, or a script whose `#!` names python: `runtime`, `python`,
//!   and the virtual environment the interpreter or script belongs to;
//!   no network.
//! - anything else: `runtime` only.
//!
//! Existing paths named on the command line are listed in a comment with
//! the `--rw`/`--ro` to grant them, never granted silently. Every grant
//! carries the comment saying why, and the header says what to tighten.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::Context;

/// How the server is started, as far as the command shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// `npx PACKAGE` or `npm exec PACKAGE`.
    Npx,
    /// `node SCRIPT`, or a script run by node.
    Node,
    /// `uvx PACKAGE`, `uv tool run` or `uv run`.
    Uvx,
    /// `python …`, or a script run by python.
    Python,
    /// A compiled program or a script for another interpreter.
    Binary,
}

/// The launch command, as typed and as cordon resolved it.
#[derive(Debug)]
pub struct LaunchCommand<'a> {
    pub argv: &'a [OsString],
    pub executable: &'a Path,
    pub interpreters: &'a [PathBuf],
}

/// A drafted profile.
#[derive(Debug)]
pub struct Draft {
    pub launcher: Launcher,
    pub text: String,
}

/// A profile name must be usable with `--profile NAME`.
pub fn check_name(name: &str) -> Result<(), super::ProfileError> {
    super::locate::check_name(name).map_err(|reason| super::ProfileError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// Drafts the profile `name` for `cmd`.
pub fn draft(name: &str, cmd: &LaunchCommand<'_>, ctx: &Context) -> Draft {
    let launcher = detect(cmd);
    let code = code_location(launcher, cmd, ctx);
    let named: Vec<PathBuf> = named_paths(cmd, ctx)
        .into_iter()
        .filter(|p| code.as_ref().is_none_or(|c| !p.starts_with(c)))
        .collect();
    let mut text = String::new();
    header(&mut text, name, launcher, cmd, ctx);
    filesystem(&mut text, launcher, code.as_deref(), &named, ctx);
    network(&mut text, launcher);
    environment(&mut text, launcher);
    Draft { launcher, text }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

fn detect(cmd: &LaunchCommand<'_>) -> Launcher {
    let typed = cmd
        .argv
        .first()
        .map(|a| file_name(Path::new(a)))
        .unwrap_or_default();
    let second = cmd.argv.get(1).and_then(|a| a.to_str());
    match (typed.as_str(), second) {
        ("npx", _) | ("npm", Some("exec" | "x")) => return Launcher::Npx,
        ("uvx", _) | ("uv", Some("tool" | "run")) => return Launcher::Uvx,
        _ => {}
    }
    let names: Vec<String> = std::iter::once(cmd.executable)
        .chain(cmd.interpreters.iter().map(PathBuf::as_path))
        .map(file_name)
        .collect();
    if names.iter().any(|n| n == "node" || n == "nodejs") {
        Launcher::Node
    } else if names.iter().any(|n| n.starts_with("python")) {
        Launcher::Python
    } else {
        Launcher::Binary
    }
}

/// An argument as a path: `~` expanded, relative to the working directory.
fn as_path(arg: &str, ctx: &Context) -> PathBuf {
    match arg.strip_prefix('~') {
        Some("") => ctx.home.clone(),
        Some(rest) if rest.starts_with('/') => ctx.home.join(&rest[1..]),
        _ => ctx.cwd.join(arg),
    }
}

/// The first argument that is not an option and names an existing file.
fn script_argument(cmd: &LaunchCommand<'_>, ctx: &Context) -> Option<PathBuf> {
    cmd.argv
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "-m" && *a != "-c")
        .filter(|a| !a.starts_with('-'))
        .map(|a| as_path(a, ctx))
        .find(|p| p.is_file())
}

/// Where the server's own code is, when it is not in a place a group
/// grants: the script's package (or project), or the virtual environment.
fn code_location(launcher: Launcher, cmd: &LaunchCommand<'_>, ctx: &Context) -> Option<PathBuf> {
    let exe_is_interpreter = {
        let name = file_name(cmd.executable);
        name == "node" || name == "nodejs" || name.starts_with("python")
    };
    let location = match launcher {
        Launcher::Node => {
            let script = if exe_is_interpreter {
                script_argument(cmd, ctx)?
            } else {
                cmd.executable.to_path_buf()
            };
            project_root(&script, "package.json", ctx)
        }
        Launcher::Python => {
            let typed = cmd.argv.first().map(|a| as_path(&a.to_string_lossy(), ctx));
            let venv = typed
                .iter()
                .map(PathBuf::as_path)
                .chain([cmd.executable])
                .find_map(venv_of);
            match venv {
                Some(venv) => venv,
                None if exe_is_interpreter => {
                    project_root(&script_argument(cmd, ctx)?, "pyproject.toml", ctx)
                }
                None => project_root(cmd.executable, "pyproject.toml", ctx),
            }
        }
        Launcher::Npx | Launcher::Uvx | Launcher::Binary => return None,
    };
    let location = std::fs::canonicalize(&location).unwrap_or(location);
    (!location.starts_with("/usr")).then_some(location)
}

/// The virtual environment a program in `bin/` belongs to.
fn venv_of(program: &Path) -> Option<PathBuf> {
    let venv = program.parent()?.parent()?;
    venv.join("pyvenv.cfg")
        .is_file()
        .then(|| venv.to_path_buf())
}

/// The nearest directory above `file` that holds `marker`, below the home
/// directory and the root; else the file's own directory.
fn project_root(file: &Path, marker: &str, ctx: &Context) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    dir.ancestors()
        .take_while(|d| *d != ctx.home && *d != Path::new("/"))
        .find(|d| d.join(marker).is_file())
        .map_or(dir.clone(), Path::to_path_buf)
}

/// Existing paths named on the command line (an argument, or the value of
/// `--opt=value`), and for a path that does not exist yet, its directory.
fn named_paths(cmd: &LaunchCommand<'_>, ctx: &Context) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for arg in cmd.argv.iter().skip(1).filter_map(|a| a.to_str()) {
        let value = arg.split_once('=').map_or(arg, |(_, v)| v);
        if !(value.contains('/') || value.starts_with('~') || value.starts_with('.')) {
            continue;
        }
        let path = as_path(value, ctx);
        let path = if path.exists() {
            path
        } else {
            match path.parent() {
                Some(parent) if parent.is_dir() && parent != Path::new("/") => parent.to_path_buf(),
                _ => continue,
            }
        };
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        if path != Path::new("/") && !found.contains(&path) {
            found.push(path);
        }
    }
    found
}

/// `~/…` for paths in the home directory, as profiles write them.
fn shown(path: &Path, ctx: &Context) -> String {
    match path.strip_prefix(&ctx.home) {
        Ok(rest) if rest.as_os_str().is_empty() => "~".to_owned(),
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => path.display().to_string(),
    }
}

/// A TOML basic string.
pub fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The command on one line, for comments (control characters escaped).
fn command_line(cmd: &LaunchCommand<'_>, ctx: &Context) -> String {
    let words: Vec<String> = cmd
        .argv
        .iter()
        .map(|a| a.to_string_lossy().escape_default().to_string())
        .collect();
    words
        .join(" ")
        .replace(&ctx.home.display().to_string(), "~")
}

/// What the profile is for: the package for npx and uvx (the first
/// argument that is not an option, after `exec`/`tool run`/`run`), else
/// the program's file name.
fn subject(launcher: Launcher, cmd: &LaunchCommand<'_>) -> String {
    let args = cmd.argv.iter().skip(1).filter_map(|a| a.to_str());
    let package = match launcher {
        Launcher::Npx | Launcher::Uvx => {
            let mut rest = args.skip_while(|a| matches!(*a, "exec" | "x" | "tool" | "run"));
            let mut found = None;
            while let Some(arg) = rest.next() {
                // Options that take a value: `--with PKG`, `--from PKG`, `-p PKG`.
                if matches!(arg, "--with" | "--from" | "--python" | "-p" | "--package") {
                    rest.next();
                } else if !arg.starts_with('-') {
                    found = Some(arg.to_owned());
                    break;
                }
            }
            found
        }
        _ => None,
    };
    package.unwrap_or_else(|| match cmd.argv.first() {
        Some(a) => file_name(Path::new(a)),
        None => file_name(cmd.executable),
    })
}

fn header(
    out: &mut String,
    name: &str,
    launcher: Launcher,
    cmd: &LaunchCommand<'_>,
    ctx: &Context,
) {
    let how = match launcher {
        Launcher::Npx => "a package from npm, run with npx",
        Launcher::Node => "a Node.js program",
        Launcher::Uvx => "a package from PyPI, run with uvx",
        Launcher::Python => "a Python program",
        Launcher::Binary => "a program that is neither Node.js nor Python",
    };
    let _ = write!(
        out,
        "# Profile `{name}`, drafted by `cordon profile init` for\n\
         #\n\
         #   {}\n\
         #\n\
         # Detected: {how}\n\
         # ({}).\n\
         #\n\
         # A starting point, not a review. Before using it:\n\
         # - remove what the server does not need and add what it does: each\n\
         #   grant says why it is here;\n\
         # - grant the files it works on with --rw/--ro on the command line, or\n\
         #   below;\n\
         # - pass the variables it needs (API tokens) by name in [environment];\n\
         # - `cordon profile check FILE` validates the file, and\n\
         #   `cordon run --dry-run -p {name} -- COMMAND` shows the whole sandbox.\n\
         \n\
         schema = 1\n\
         description = {}\n",
        command_line(cmd, ctx),
        cmd.executable.display(),
        quote(&format!(
            "{}: drafted by cordon profile init, to be reviewed.",
            subject(launcher, cmd)
        )),
    );
}

// The groups for each launcher, with the reason each is there.
const RUNTIME_NODE: (&str, &str) = (
    "runtime",
    "the system's programs and libraries (node under /usr), read-only",
);
const RUNTIME_PYTHON: (&str, &str) = (
    "runtime",
    "the system's programs and libraries (python3 under /usr), read-only",
);
const NODE: (&str, &str) = (
    "node",
    "node installed elsewhere (nvm, fnm, volta), npm's configuration",
);
const NPX: (&str, &str) = (
    "npx",
    "npm's cache, writable: npx installs the package there and runs it from there",
);
const PYTHON: (&str, &str) = (
    "python",
    "interpreters and environments in the home directory (pyenv, uv, pipx)",
);
const UVX: (&str, &str) = (
    "uvx",
    "uv and its cache, writable: uvx builds the environment there and runs it from there",
);

fn groups(launcher: Launcher) -> &'static [(&'static str, &'static str)] {
    match launcher {
        Launcher::Npx => &[
            RUNTIME_NODE,
            NODE,
            NPX,
            ("dns", "name resolution, for the registry"),
        ],
        Launcher::Node => &[RUNTIME_NODE, NODE],
        Launcher::Uvx => &[
            RUNTIME_PYTHON,
            PYTHON,
            UVX,
            ("dns", "name resolution, for PyPI"),
        ],
        Launcher::Python => &[RUNTIME_PYTHON, PYTHON],
        Launcher::Binary => &[("runtime", "the system's programs and libraries, read-only")],
    }
}

fn filesystem(
    out: &mut String,
    launcher: Launcher,
    code: Option<&Path>,
    named: &[PathBuf],
    ctx: &Context,
) {
    let groups = groups(launcher);
    out.push_str("\n[filesystem]\ngroups = [\n");
    // The quotes, the comma and one space.
    let width = groups.iter().map(|(g, _)| g.len()).max().unwrap_or(0) + 4;
    for (group, why) in groups {
        let _ = writeln!(out, "    {:<width$}# {why}", format!("{},", quote(group)));
    }
    out.push_str("]\n");
    if let Some(code) = code {
        let why = match launcher {
            Launcher::Python => {
                "the environment the server runs from (its interpreter link, its packages)"
            }
            _ => "the server's own code",
        };
        let _ = writeln!(
            out,
            "exec = [\n    {},  # {why}\n]",
            quote(&shown(code, ctx))
        );
    }
    named_paths_comment(out, named, ctx);
    out.push_str("private_tmp = true  # an empty /tmp of its own\n");
}

/// The paths the command names, offered for --rw/--ro, never granted.
fn named_paths_comment(out: &mut String, named: &[PathBuf], ctx: &Context) {
    let Some(first) = named.first() else {
        out.push_str(
            "# No file of yours is granted. Give the ones the server works on with\n\
             # --rw PATH (read-write) or --ro PATH (read-only) on the command line.\n",
        );
        return;
    };
    out.push_str(
        "# The command names these paths. Grant the ones the server must reach,\n\
         # with --rw PATH / --ro PATH on the command line, or here:\n",
    );
    for path in named {
        let _ = writeln!(out, "#   {}", shown(path, ctx));
    }
    let first = quote(&shown(first, ctx));
    let _ = writeln!(
        out,
        "# write = [{first}]   # read-write\n# read = [{first}]    # read-only"
    );
}

fn network(out: &mut String, launcher: Launcher) {
    out.push_str("\n[network]\n");
    match launcher {
        Launcher::Npx | Launcher::Uvx => {
            let registry = if launcher == Launcher::Npx {
                "npx fetches the package from npm"
            } else {
                "uvx fetches the package from PyPI"
            };
            let _ = write!(
                out,
                "# {registry} over HTTPS. If the server itself needs\n\
                 # other ports, list them; if it needs no network and runs from an\n\
                 # installed copy instead, set mode = \"none\".\n\
                 mode = \"host\"\n\
                 connect = [443]\n\
                 bind = []        # it listens on nothing\n"
            );
        }
        _ => out.push_str(
            "# No network. If the server needs it: mode = \"host\" and the ports it\n\
             # connects to (connect = [443]); a local service only: mode = \"loopback\".\n\
             mode = \"none\"\n",
        ),
    }
}

fn environment(out: &mut String, launcher: Launcher) {
    out.push_str(
        "\n[environment]\n# pass = [\"API_TOKEN\"]   # variables the server needs, by name only\n",
    );
    if launcher == Launcher::Uvx {
        out.push_str(
            "# uvx locks uv's tool directory before it runs anything: this one is in\n\
             # the private /tmp, so tools installed with `uv tool install` stay\n\
             # read-only.\n\
             set = { UV_TOOL_DIR = \"/tmp/uv-tools\" }\n",
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;

    fn ctx(root: &Path) -> Context {
        Context {
            home: root.join("home"),
            cwd: root.join("home/work"),
            tmp: root.join("tmp"),
            dirs: Vec::new(),
        }
    }

    fn world() -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        for d in [
            "home/work",
            "tmp",
            "home/venv/bin",
            "home/srv/pkg/dist",
            "home/notes",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("home/venv/pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", root.join("home/venv/bin/python")).unwrap();
        fs::write(root.join("home/srv/pkg/package.json"), "{}").unwrap();
        fs::write(root.join("home/srv/pkg/dist/index.js"), "").unwrap();
        (dir, ctx(&root))
    }

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    /// Drafts, writes and loads the profile: it must validate.
    fn drafted(ctx: &Context, words: &[&str], exe: &str, interps: &[&str]) -> Draft {
        let argv = argv(words);
        let interpreters: Vec<PathBuf> = interps.iter().map(PathBuf::from).collect();
        let cmd = LaunchCommand {
            argv: &argv,
            executable: Path::new(exe),
            interpreters: &interpreters,
        };
        let d = draft("drafted", &cmd, ctx);
        let file = ctx.tmp.join("drafted.toml");
        fs::write(&file, &d.text).unwrap();
        if let Err(e) = super::super::load(file.to_str().unwrap(), ctx) {
            panic!("{e}\n{}", d.text);
        }
        d
    }

    #[test]
    fn npx_gets_the_cache_and_https() {
        let (_dir, ctx) = world();
        let notes = ctx.home.join("notes").display().to_string();
        let d = drafted(
            &ctx,
            &[
                "npx",
                "-y",
                "@modelcontextprotocol/server-filesystem",
                &notes,
            ],
            "/usr/lib/node_modules/npm/bin/npx-cli.js",
            &["/usr/bin/env", "/usr/bin/node"],
        );
        assert_eq!(d.launcher, Launcher::Npx);
        assert!(d.text.contains("\"npx\","), "{}", d.text);
        assert!(d.text.contains("connect = [443]"), "{}", d.text);
        assert!(d.text.contains("#   ~/notes\n"), "{}", d.text);
        assert!(
            d.text
                .contains("\"@modelcontextprotocol/server-filesystem: drafted"),
            "{}",
            d.text
        );
    }

    #[test]
    fn node_script_gets_its_package_and_no_network() {
        let (_dir, ctx) = world();
        let script = ctx.home.join("srv/pkg/dist/index.js").display().to_string();
        let d = drafted(&ctx, &["node", &script], "/usr/bin/node", &[]);
        assert_eq!(d.launcher, Launcher::Node);
        assert!(
            d.text.contains("exec = [\n    \"~/srv/pkg\","),
            "{}",
            d.text
        );
        assert!(d.text.contains("mode = \"none\""), "{}", d.text);
        assert!(
            !d.text.contains("#   ~/srv"),
            "the code is not listed again: {}",
            d.text
        );
    }

    #[test]
    fn venv_python_gets_the_environment() {
        let (_dir, ctx) = world();
        let python = ctx.home.join("venv/bin/python").display().to_string();
        let d = drafted(
            &ctx,
            &[&python, "-m", "mcp_server_time"],
            "/usr/bin/python3.11",
            &[],
        );
        assert_eq!(d.launcher, Launcher::Python);
        assert!(d.text.contains("exec = [\n    \"~/venv\","), "{}", d.text);
        assert!(d.text.contains("\"python\","), "{}", d.text);
    }

    #[test]
    fn uvx_moves_the_tool_directory_and_finds_the_package() {
        let (_dir, ctx) = world();
        let d = drafted(
            &ctx,
            &[
                "uvx",
                "--with",
                "mcp<2",
                "mcp-server-sqlite",
                "--db-path",
                "~/notes/new.db",
            ],
            "/usr/local/bin/uvx",
            &[],
        );
        assert_eq!(d.launcher, Launcher::Uvx);
        assert!(d.text.contains("UV_TOOL_DIR"), "{}", d.text);
        assert!(
            d.text.contains("\"mcp-server-sqlite: drafted"),
            "{}",
            d.text
        );
        assert!(
            d.text.contains("#   ~/notes\n"),
            "the database's directory: {}",
            d.text
        );
    }

    #[test]
    fn anything_else_is_the_runtime_only() {
        let (_dir, ctx) = world();
        let d = drafted(&ctx, &["github-mcp-server", "stdio"], "/usr/bin/true", &[]);
        assert_eq!(d.launcher, Launcher::Binary);
        assert!(
            d.text.contains("groups = [\n    \"runtime\","),
            "{}",
            d.text
        );
        assert!(d.text.contains("mode = \"none\""), "{}", d.text);
    }

    #[test]
    fn strings_are_quoted() {
        assert_eq!(quote("a\"b\\c\u{7}"), "\"a\\\"b\\\\c\\u0007\"");
    }
}
