//! Which files of code a command line makes an interpreter run, found by
//! the interpreter's own command-line grammar: the options that take a
//! value are skipped with their value, so `python3 -X utf8 s.py` runs
//! `s.py`, not `utf8`. Covered: python, node, sh/bash/dash/zsh, env
//! (including `-S`, `-u NAME`, `-C DIR` and `NAME=VALUE`), and the
//! first-operand rule for ruby, perl, php, deno and bun.
//!
//! Code given on the command line (`-c`, `-e`, `--eval`, `--print`) is
//! part of argv, which the approval binds byte for byte; it is reported
//! so consent can warn about it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a command line names as code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Code {
    /// The programs run in turn: for `env python3 s.py`, python3 (found in
    /// PATH). The first program, the executable itself, is not listed.
    pub programs: Vec<PathBuf>,
    /// Files run as code, in order, each with its role.
    pub files: Vec<(Role, PathBuf)>,
    /// The option that carries code on the command line, such as `-c`.
    pub inline: Option<String>,
    /// A module run by name (`python3 -m NAME`), when no file was found
    /// for it below the working directory.
    pub module: Option<String>,
}

/// Why a file is code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The script the interpreter runs.
    Script,
    /// Loaded before the script (`node -r`, `--import`, `--loader`).
    Preload,
    /// Read by the interpreter at start (`bash --rcfile`,
    /// `node --env-file`).
    StartFile,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Script => "script",
            Role::Preload => "preloaded file",
            Role::StartFile => "start-up file",
        }
    }
}

/// The code `argv` makes its program run. `program` is the resolved
/// executable (its file name picks the grammar), `cwd` resolves relative
/// names, `path_var` finds the program `env` runs.
pub fn code_of(program: &Path, argv: &[OsString], cwd: &Path, path_var: Option<&OsStr>) -> Code {
    let mut code = Code::default();
    let Some((first, args)) = argv.split_first() else {
        return code;
    };
    walk(program, first, args, cwd, path_var, &mut code, 0);
    code
}

/// The grammar: by the name the program was started as (a multi-call
/// binary such as busybox picks its behaviour by it), else by the name of
/// the file that runs (`python3` → `python3.11`).
fn grammar(program: &Path, invoked: &OsStr) -> Option<String> {
    let known = |name: &str| {
        matches!(
            name,
            "env"
                | "node"
                | "nodejs"
                | "sh"
                | "bash"
                | "dash"
                | "zsh"
                | "ksh"
                | "mksh"
                | "ash"
                | "ruby"
                | "perl"
                | "php"
                | "deno"
                | "bun"
        ) || name == "python"
            || name.starts_with("python2")
            || name.starts_with("python3")
    };
    [Path::new(invoked), program]
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .find(|n| known(n))
        .map(str::to_owned)
}

fn walk(
    program: &Path,
    invoked: &OsStr,
    args: &[OsString],
    cwd: &Path,
    path_var: Option<&OsStr>,
    code: &mut Code,
    depth: usize,
) {
    let Some(name) = grammar(program, invoked) else {
        return;
    };
    let found = match name.as_str() {
        "env" if depth < 4 => return env(args, cwd, path_var, code, depth),
        "node" | "nodejs" => node(args),
        n if n == "python" || n.starts_with("python2") || n.starts_with("python3") => {
            python(args, cwd)
        }
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "mksh" | "ash" => shell(args),
        "ruby" | "perl" | "php" => first_operand(args, &["-e", "-E", "-r"]),
        "deno" | "bun" => runner(args),
        _ => return,
    };
    if let Some(inline) = found.inline {
        code.inline = Some(inline);
    }
    if found.module.is_some() {
        code.module = found.module;
    }
    for (role, name) in found.files {
        let path = match role {
            Role::Preload if is_bare(&name) => match node_module(&name, cwd) {
                Some(path) => path,
                None => continue,
            },
            _ => cwd.join(&name),
        };
        // A name that is not a file here (a node module name, a file that
        // does not exist yet) stays bound as argv; a file that appears
        // later changes the binding and needs a new approval.
        if path.is_file() {
            if let Ok(real) = std::fs::canonicalize(&path) {
                code.files.push((role, real));
            }
        }
    }
}

/// `dotenv/config`, not `./pre.js` or `/opt/pre.js`: node looks such a
/// name up in `node_modules`.
fn is_bare(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !(b.starts_with(b"/")
        || b.starts_with(b"./")
        || b.starts_with(b"../")
        || b == b"."
        || b == b"..")
}

/// The file node loads for a bare module name, looked up in
/// `node_modules` from `cwd` upwards: the name itself, with `.js`, or its
/// `index.js` (a package's `main` field is not read: such a preload is
/// bound as argv only).
fn node_module(name: &OsStr, cwd: &Path) -> Option<PathBuf> {
    for dir in cwd.ancestors() {
        let base = dir.join("node_modules").join(name);
        let mut with_js = base.clone().into_os_string();
        with_js.push(".js");
        for candidate in [base.clone(), PathBuf::from(with_js), base.join("index.js")] {
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// What one interpreter's arguments name.
#[derive(Debug, Default)]
struct Found {
    files: Vec<(Role, OsString)>,
    inline: Option<String>,
    module: Option<String>,
}

impl Found {
    fn inline(option: &str) -> Found {
        Found {
            inline: Some(option.to_owned()),
            ..Found::default()
        }
    }
}

fn bytes(a: &OsString) -> &[u8] {
    a.as_bytes()
}

/// `env [-i] [-0] [-v] [-u NAME] [-C DIR] [-S STRING] [--] [NAME=VALUE]...
/// [COMMAND [ARG]...]`. `-S` splits its string into words, which come
/// before the remaining arguments.
fn env(args: &[OsString], cwd: &Path, path_var: Option<&OsStr>, code: &mut Code, depth: usize) {
    let mut rest: Vec<OsString> = Vec::new();
    let mut dir = cwd.to_path_buf();
    let mut i = 0;
    while i < args.len() {
        let a = bytes(&args[i]);
        match a {
            b"--" => {
                i += 1;
                break;
            }
            b"-i" | b"-0" | b"-v" | b"--ignore-environment" | b"--null" | b"--debug" | b"-" => {}
            b"-u" | b"--unset" => i += 1,
            b"-C" | b"--chdir" => {
                if let Some(d) = args.get(i + 1) {
                    dir = dir.join(d);
                }
                i += 1;
            }
            b"-S" | b"--split-string" => {
                if let Some(s) = args.get(i + 1) {
                    rest.extend(split_string(bytes(s)));
                }
                i += 1;
                // The split words come first, then the remaining
                // arguments, parsed again from the start.
                rest.extend(args[i + 1..].iter().cloned());
                return env(&rest, &dir, path_var, code, depth + 1);
            }
            _ if a.starts_with(b"--split-string=") => {
                rest.extend(split_string(&a[b"--split-string=".len()..]));
                rest.extend(args[i + 1..].iter().cloned());
                return env(&rest, &dir, path_var, code, depth + 1);
            }
            _ if a.starts_with(b"-S") => {
                rest.extend(split_string(&a[2..]));
                rest.extend(args[i + 1..].iter().cloned());
                return env(&rest, &dir, path_var, code, depth + 1);
            }
            _ if a.starts_with(b"-u") || a.starts_with(b"--unset=") => {}
            _ if a.starts_with(b"-C") || a.starts_with(b"--chdir=") => {
                let d = a.strip_prefix(b"--chdir=").unwrap_or(&a[2..]);
                dir = dir.join(OsStr::from_bytes(d));
            }
            _ if a.starts_with(b"-") => {}
            _ if a.contains(&b'=') => {}
            _ => break,
        }
        i += 1;
    }
    let Some(command) = args.get(i) else {
        return;
    };
    let Ok(program) = super::resolve::resolve(command, path_var, &dir) else {
        return;
    };
    code.programs.push(program.executable.clone());
    code.programs.extend(program.interpreters.iter().cloned());
    walk(
        &program.executable,
        command,
        &args[i + 1..],
        &dir,
        path_var,
        code,
        depth + 1,
    );
}

/// env's `-S` rule, simplified: words split on blanks, with single and
/// double quotes and backslash escapes; `#` at a word's start ends it.
fn split_string(s: &[u8]) -> Vec<OsString> {
    let mut words = Vec::new();
    let mut word: Option<Vec<u8>> = None;
    let mut quote = None;
    let mut chars = s.iter().copied();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, b' ' | b'\t' | b'\n') => {
                if let Some(w) = word.take() {
                    words.push(OsStr::from_bytes(&w).to_owned());
                }
            }
            (None, b'#') if word.is_none() => break,
            (None, b'\'' | b'"') => {
                quote = Some(c);
                word.get_or_insert_with(Vec::new);
            }
            (Some(q), _) if c == q => quote = None,
            (Some(b'\''), _) => word.get_or_insert_with(Vec::new).push(c),
            (_, b'\\') => {
                if let Some(next) = chars.next() {
                    let w = word.get_or_insert_with(Vec::new);
                    match next {
                        b'n' => w.push(b'\n'),
                        b't' => w.push(b'\t'),
                        other => w.push(other),
                    }
                }
            }
            _ => word.get_or_insert_with(Vec::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(OsStr::from_bytes(&w).to_owned());
    }
    words
}

/// `python [OPTIONS] (-c CMD | -m MOD | FILE | -) [ARGS]`. Single-letter
/// options group (`-uB`); `-c`, `-m`, `-W` and `-X` take the rest of the
/// group or the next argument.
fn python(args: &[OsString], cwd: &Path) -> Found {
    let mut i = 0;
    while i < args.len() {
        let a = bytes(&args[i]);
        if a == b"-" || !a.starts_with(b"-") {
            break;
        }
        if a == b"--" {
            i += 1;
            break;
        }
        if a.starts_with(b"--") {
            if a == b"--check-hash-based-pycs" {
                i += 1;
            }
            i += 1;
            continue;
        }
        let mut value_taken = false;
        for (k, l) in a[1..].iter().enumerate() {
            match l {
                b'c' => return Found::inline("-c"),
                b'm' => {
                    let module = if k + 2 < a.len() {
                        Some(OsStr::from_bytes(&a[k + 2..]).to_owned())
                    } else {
                        args.get(i + 1).cloned()
                    };
                    return python_module(module, cwd);
                }
                b'W' | b'X' => {
                    if k + 2 >= a.len() {
                        value_taken = true;
                    }
                    break;
                }
                _ => {}
            }
        }
        i += if value_taken { 2 } else { 1 };
    }
    match args.get(i) {
        Some(file) if bytes(file) != b"-" => Found {
            files: vec![(Role::Script, file.clone())],
            ..Found::default()
        },
        _ => Found::default(),
    }
}

/// `-m NAME`: the file it names below the working directory, if any
/// (python puts the working directory first on its path for `-m`).
fn python_module(module: Option<OsString>, cwd: &Path) -> Found {
    let Some(module) = module.and_then(|m| m.into_string().ok()) else {
        return Found::default();
    };
    let rel = module.replace('.', "/");
    for candidate in [format!("{rel}.py"), format!("{rel}/__main__.py")] {
        if cwd.join(&candidate).is_file() {
            return Found {
                files: vec![(Role::Script, candidate.into())],
                ..Found::default()
            };
        }
    }
    Found {
        module: Some(module),
        ..Found::default()
    }
}

/// node's options that take a value as the next argument (or after `=`),
/// and which of them name code.
const NODE_VALUE: &[&str] = &[
    "-r",
    "--require",
    "--import",
    "--loader",
    "--experimental-loader",
    "-C",
    "--conditions",
    "--env-file",
    "--env-file-if-exists",
    "--input-type",
    "--title",
    "--openssl-config",
    "--icu-data-dir",
    "--redirect-warnings",
    "--diagnostic-dir",
    "--report-dir",
    "--report-directory",
    "--report-filename",
    "--disable-warning",
    "--unhandled-rejections",
    "--inspect-port",
    "--debug-port",
    "--experimental-config-file",
    "--watch-path",
    "--test-reporter",
    "--test-reporter-destination",
];

fn node_role(option: &str) -> Option<Role> {
    match option {
        "-r" | "--require" | "--import" | "--loader" | "--experimental-loader" => {
            Some(Role::Preload)
        }
        "--env-file" | "--env-file-if-exists" | "--experimental-config-file" => {
            Some(Role::StartFile)
        }
        _ => None,
    }
}

/// `node [OPTIONS] [-e CODE | -p CODE | SCRIPT | -] [ARGS]`.
fn node(args: &[OsString]) -> Found {
    let mut found = Found::default();
    let mut i = 0;
    while i < args.len() {
        let Some(a) = args[i].to_str() else { break };
        if a == "--" {
            i += 1;
            break;
        }
        if a == "-" || !a.starts_with('-') {
            break;
        }
        if matches!(a, "-e" | "--eval" | "-p" | "--print" | "-pe" | "-ep")
            || a.starts_with("--eval=")
            || a.starts_with("--print=")
        {
            let option = a.split('=').next().unwrap_or(a);
            found.inline = Some(option.to_owned());
            return found;
        }
        let (option, value) = match a.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(OsString::from(v))),
            _ if NODE_VALUE.contains(&a) => {
                i += 1;
                (a, args.get(i).cloned())
            }
            _ => (a, None),
        };
        if let (Some(role), Some(value)) = (node_role(option), value) {
            found.files.push((role, value));
        }
        i += 1;
    }
    if let Some(script) = args.get(i).filter(|a| bytes(a) != b"-") {
        found.files.push((Role::Script, script.clone()));
    }
    found
}

/// `sh [-abefhimnuvxCE] [-o OPT] [-c STRING | -s | SCRIPT] [ARGS]`, with
/// bash's long options (`--rcfile FILE`, `--init-file FILE`) and `-O`.
fn shell(args: &[OsString]) -> Found {
    let mut found = Found::default();
    let mut inline = false;
    let mut stdin = false;
    let mut i = 0;
    while i < args.len() {
        let a = bytes(&args[i]);
        if a == b"--" || a == b"-" {
            i += 1;
            break;
        }
        if a == b"--rcfile" || a == b"--init-file" {
            if let Some(f) = args.get(i + 1) {
                found.files.push((Role::StartFile, f.clone()));
            }
            i += 2;
            continue;
        }
        if a.starts_with(b"--") {
            i += 1;
            continue;
        }
        if !(a.starts_with(b"-") || a.starts_with(b"+")) || a.len() < 2 {
            break;
        }
        let mut takes = 0;
        for l in &a[1..] {
            match l {
                b'c' => inline = true,
                b's' => stdin = true,
                b'o' | b'O' => takes += 1,
                _ => {}
            }
        }
        i += 1 + takes;
    }
    if inline {
        found.inline = Some("-c".into());
    } else if !stdin {
        if let Some(script) = args.get(i) {
            found.files.push((Role::Script, script.clone()));
        }
    }
    found
}

/// The first operand, after options; `inline` options carry code.
fn first_operand(args: &[OsString], inline: &[&str]) -> Found {
    for a in args {
        let Some(s) = a.to_str() else { break };
        if let Some(option) = inline.iter().find(|o| s.starts_with(**o)) {
            if *option != "-r" {
                return Found::inline(option);
            }
        }
        if !s.starts_with('-') {
            return Found {
                files: vec![(Role::Script, a.clone())],
                ..Found::default()
            };
        }
    }
    Found::default()
}

/// `deno run [OPTIONS] SCRIPT`, `bun [run] [OPTIONS] SCRIPT`: the first
/// operand after the subcommand.
fn runner(args: &[OsString]) -> Found {
    let rest = match args.first().and_then(|a| a.to_str()) {
        Some("run") => &args[1..],
        Some("eval" | "-e" | "--eval") => return Found::inline("eval"),
        _ => args,
    };
    first_operand(rest, &["-e", "--eval"])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;

    fn code(dir: &Path, argv: &[&str]) -> Code {
        let argv: Vec<OsString> = argv.iter().map(Into::into).collect();
        let program =
            super::super::resolve::resolve(&argv[0], Some(OsStr::new("/usr/bin:/bin")), dir)
                .unwrap()
                .executable;
        code_of(&program, &argv, dir, Some(OsStr::new("/usr/bin:/bin")))
    }

    fn names(c: &Code) -> Vec<(Role, String)> {
        c.files
            .iter()
            .map(|(r, p)| (*r, p.file_name().unwrap().to_string_lossy().into_owned()))
            .collect()
    }

    fn dir() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let d = fs::canonicalize(t.path()).unwrap();
        for f in [
            "s.py",
            "utf8",
            "ignore",
            "pre.js",
            "server.js",
            "rc",
            "x.sh",
            "m.py",
        ] {
            fs::write(d.join(f), "").unwrap();
        }
        (t, d)
    }

    fn have(program: &str) -> bool {
        ["/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(program).exists())
    }

    #[test]
    fn python_options_with_values_are_skipped() {
        let (_t, d) = dir();
        if !have("python3") {
            eprintln!("skipped: no python3");
            return;
        }
        let script = vec![(Role::Script, "s.py".to_owned())];
        for argv in [
            &["python3", "-X", "utf8", "s.py"][..],
            &["python3", "-W", "ignore", "s.py"],
            &["python3", "-Wignore", "-u", "s.py", "utf8"],
            &["python3", "-uX", "utf8", "s.py"],
            &["python3", "--check-hash-based-pycs", "default", "s.py"],
            &["python3", "-m", "m"],
        ] {
            let c = code(&d, argv);
            let want = if argv[1] == "-m" {
                vec![(Role::Script, "m.py".to_owned())]
            } else {
                script.clone()
            };
            assert_eq!(names(&c), want, "{argv:?}");
        }
        let c = code(&d, &["python3", "-u", "-c", "import os", "s.py"]);
        assert_eq!(c.inline.as_deref(), Some("-c"));
        assert!(c.files.is_empty());
        let c = code(&d, &["python3", "-m", "http.server"]);
        assert_eq!(c.module.as_deref(), Some("http.server"));
    }

    #[test]
    fn env_finds_the_program_and_its_script() {
        let (_t, d) = dir();
        let c = code(&d, &["/usr/bin/env", "-u", "X", "A=1", "sh", "-e", "x.sh"]);
        assert_eq!(names(&c), vec![(Role::Script, "x.sh".to_owned())]);
        assert!(c.programs[0].ends_with("sh") || c.programs[0].ends_with("dash"));
        let c = code(&d, &["env", "-S", "sh -e x.sh", "more"]);
        assert_eq!(names(&c), vec![(Role::Script, "x.sh".to_owned())]);
        let c = code(&d, &["env", "-S'sh' -x", "x.sh"]);
        assert_eq!(names(&c), vec![(Role::Script, "x.sh".to_owned())]);
        let c = code(&d, &["env", "sh", "-c", "echo hi", "x.sh"]);
        assert_eq!(c.inline.as_deref(), Some("-c"));
        assert!(c.files.is_empty());
    }

    #[test]
    fn shell_grammar() {
        let (_t, d) = dir();
        let c = code(&d, &["sh", "-o", "errexit", "x.sh"]);
        assert_eq!(names(&c), vec![(Role::Script, "x.sh".to_owned())]);
        let c = code(&d, &["sh", "-ec", "true", "x.sh"]);
        assert_eq!(c.inline.as_deref(), Some("-c"));
        let c = code(&d, &["sh", "-s", "x.sh"]);
        assert!(c.files.is_empty());
    }

    #[test]
    fn node_grammar_binds_preloads() {
        let found = node(&["-r", "pre.js", "server.js"].map(OsString::from));
        assert_eq!(
            found.files,
            vec![
                (Role::Preload, "pre.js".into()),
                (Role::Script, "server.js".into())
            ]
        );
        let found =
            node(&["--require=pre.js", "--env-file", "rc", "server.js"].map(OsString::from));
        assert_eq!(found.files.len(), 3);
        let found =
            node(&["--no-warnings", "--import", "pre.js", "--", "server.js"].map(OsString::from));
        assert_eq!(found.files[1], (Role::Script, "server.js".into()));
        let found = node(&["-e", "require('x')", "server.js"].map(OsString::from));
        assert_eq!(found.inline.as_deref(), Some("-e"));
        assert!(found.files.is_empty());
    }

    #[test]
    fn bare_preloads_are_found_in_node_modules() {
        let (_t, d) = dir();
        fs::create_dir_all(d.join("node_modules/dotenv")).unwrap();
        fs::write(d.join("node_modules/dotenv/config.js"), "").unwrap();
        fs::create_dir_all(d.join("sub")).unwrap();
        let argv: Vec<OsString> = [
            "node",
            "-r",
            "dotenv/config",
            "-r",
            "./pre.js",
            "-r",
            "absent",
            "../server.js",
        ]
        .iter()
        .map(Into::into)
        .collect();
        let c = code_of(Path::new("/usr/bin/node"), &argv, &d.join("sub"), None);
        let want: Vec<(Role, PathBuf)> = vec![
            (Role::Preload, d.join("node_modules/dotenv/config.js")),
            (Role::Script, d.join("server.js")),
        ];
        assert_eq!(c.files, want);
    }

    #[test]
    fn split_string_quotes() {
        let words = split_string(br#"node --flag "a b" 'c d' e\ f #comment"#);
        let words: Vec<&str> = words.iter().map(|w| w.to_str().unwrap()).collect();
        assert_eq!(words, ["node", "--flag", "a b", "c d", "e f"]);
    }
}
