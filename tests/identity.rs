//! What was approved is what runs: the script an interpreter runs is found
//! by its own grammar and bound, preloaded files too, every option of
//! `run` is bound, and the executable that was hashed is the file that
//! runs, even while its path is swapped by renames. Each case runs as root
//! and as nobody.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use support::{Env, run, stderr, users};

const INITIALIZE: &[u8] =
    b"{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"initialize\",\"params\":{}}\n";

const PY_ECHO: &str = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n";
const NODE_ECHO: &str = "process.stdin.pipe(process.stdout);\n";

fn cordon(env: &Env, args: &[&str], input: &[u8]) -> std::process::Output {
    run(env.cordon(args), input)
}

fn approve(env: &Env, args: &[&str]) -> String {
    let mut full = vec!["approve", "--yes"];
    full.extend_from_slice(args);
    let out = cordon(env, &full, b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "approve {args:?}: {}",
        stderr(&out)
    );
    stderr(&out)
}

/// Runs without a terminal and without --yes, as a host does.
fn host_run(env: &Env, args: &[&str]) -> std::process::Output {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    cordon(env, &full, INITIALIZE)
}

fn assert_started(out: &std::process::Output, what: &str) {
    assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
    assert_eq!(out.stdout, INITIALIZE, "{what}: the server relays");
}

/// Refused with `reason` on stderr and in the JSON-RPC error answering
/// `initialize`, both with the command that approves it again.
fn assert_refused(out: &std::process::Output, reason: &str) {
    assert_eq!(out.status.code(), Some(124), "{}", stderr(out));
    let err = stderr(out);
    assert!(err.contains(reason), "expected {reason:?} in: {err}");
    assert!(err.contains("cordon approve"), "{err}");
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(reason) && message.contains("cordon approve"),
        "{message}"
    );
}

fn have(program: &str) -> bool {
    Path::new(program).exists()
}

/// Each command line, approved and started, then refused once the file
/// its grammar names (not the decoy named like an option's value) is
/// changed. The decoys exist, so that taking an option's value for the
/// script would bind the wrong file and miss the change.
#[test]
fn scripts_after_interpreter_options_are_bound() {
    type Case = (
        &'static str,
        &'static [&'static str],
        &'static str,
        &'static str,
    );
    let cases: &[Case] = &[
        (
            "python3",
            &["python3", "-X", "utf8", "s.py"],
            "s.py",
            PY_ECHO,
        ),
        (
            "python3",
            &["python3", "-W", "ignore", "s.py"],
            "s.py",
            PY_ECHO,
        ),
        (
            "python3",
            &["python3", "-u", "-Xutf8", "s.py"],
            "s.py",
            PY_ECHO,
        ),
        (
            "python3",
            &["/usr/bin/env", "python3", "s.py"],
            "s.py",
            PY_ECHO,
        ),
        (
            "python3",
            &["env", "-S", "python3 -X utf8", "s.py"],
            "s.py",
            PY_ECHO,
        ),
        (
            "python3",
            &["env", "-u", "LANG", "A=1", "python3", "s.py"],
            "s.py",
            PY_ECHO,
        ),
        (
            "node",
            &["node", "--no-warnings", "server.js"],
            "server.js",
            NODE_ECHO,
        ),
        (
            "node",
            &["node", "-r", "./pre.js", "server.js"],
            "pre.js",
            NODE_ECHO,
        ),
        (
            "node",
            &["node", "--import", "./pre.js", "server.js"],
            "pre.js",
            NODE_ECHO,
        ),
        ("sh", &["sh", "-o", "errexit", "x.sh"], "x.sh", "exec cat\n"),
        ("sh", &["env", "-S", "sh -e", "x.sh"], "x.sh", "exec cat\n"),
    ];
    for user in users() {
        for (interpreter, argv, changed, body) in cases {
            if !have(&format!("/usr/bin/{interpreter}")) {
                eprintln!("skipped {argv:?}: no /usr/bin/{interpreter}");
                continue;
            }
            let env = Env::new(user);
            let dir = env.work.clone();
            for decoy in ["utf8", "ignore", "errexit", "--no-warnings"] {
                env.write(&format!("home/work/{decoy}"), "decoy\n");
            }
            let script = if changed.ends_with(".js") && *changed != "server.js" {
                env.write("home/work/server.js", body);
                env.write("home/work/pre.js", "globalThis.pre = 1;\n")
            } else {
                env.write(&format!("home/work/{changed}"), body)
            };
            let mut args = vec!["--ro", dir.to_str().unwrap(), "--"];
            args.extend_from_slice(argv);
            // The server runs in the granted working directory.
            let cmd_env = |a: &[&str]| {
                let mut c = env.cordon(a);
                c.current_dir(&dir);
                c
            };
            let mut full = vec!["approve", "--yes"];
            full.extend_from_slice(&args);
            let out = run(cmd_env(&full), b"");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{user:?} {argv:?}: {}",
                stderr(&out)
            );
            let mut full = vec!["run"];
            full.extend_from_slice(&args);
            assert_started(
                &run(cmd_env(&full), INITIALIZE),
                &format!("{user:?} {argv:?}"),
            );
            // A change the interpreter would run.
            let old = fs::read_to_string(&script).unwrap();
            let comment = if changed.ends_with(".js") { "//" } else { "#" };
            fs::write(&script, format!("{old}{comment} changed\n")).unwrap();
            let out = run(cmd_env(&full), INITIALIZE);
            assert_refused(&out, &script.file_name().unwrap().to_string_lossy());
            // Back as approved, it starts again. (The decoys lie in the
            // granted directory, whose every file is bound as a tree; the
            // refusal above names the script, not a decoy.)
            fs::write(&script, &old).unwrap();
            assert_started(
                &run(cmd_env(&full), INITIALIZE),
                &format!("{user:?} {argv:?} restored"),
            );
        }
    }
}

/// `-c` code is part of argv: warned about at consent, and any change of
/// it is a new command.
#[test]
fn inline_code_is_warned_about_and_bound_as_argv() {
    for user in users() {
        let env = Env::new(user);
        let code = "import sys\nfor l in sys.stdin: sys.stdout.write(l)";
        let shown = approve(&env, &["--", "python3", "-u", "-c", code]);
        assert!(
            shown.contains("-c gives the interpreter code on the command line"),
            "{shown}"
        );
        assert_started(
            &host_run(&env, &["--", "python3", "-u", "-c", code]),
            "inline",
        );
        let other = format!("{code}\nimport os");
        assert_refused(
            &host_run(&env, &["--", "python3", "-u", "-c", &other]),
            "new command",
        );
        let shown = approve(
            &env,
            &["--", "node", "-e", "process.stdin.pipe(process.stdout)"],
        );
        assert!(
            shown.contains("-e gives the interpreter code on the command line"),
            "{shown}"
        );
    }
}

/// Every option of `run` is bound: `--pin FILE` added to an approved
/// command, or another pin file, is refused; the approved one starts.
#[test]
fn pin_added_to_an_approved_command_is_refused() {
    for user in users() {
        let env = Env::new(user);
        let pins = env.work.join("pins.json");
        let other = env.work.join("other.json");
        let (pins, other) = (pins.to_str().unwrap(), other.to_str().unwrap());
        approve(&env, &["--", "/bin/cat"]);
        assert_started(&host_run(&env, &["--", "/bin/cat"]), "approved");
        assert_refused(
            &host_run(&env, &["--pin", pins, "--", "/bin/cat"]),
            "cordon's options changed: --pin",
        );
        // Approved with --pin: the same file starts, another does not,
        // and the refusal's command approves exactly what was asked.
        approve(&env, &["--pin", pins, "--", "/bin/cat"]);
        assert_started(
            &host_run(&env, &["--pin", pins, "--", "/bin/cat"]),
            "pinned",
        );
        let out = host_run(&env, &["--pin", other, "--", "/bin/cat"]);
        assert_refused(&out, "cordon's options changed");
        assert!(
            stderr(&out).contains(&format!("approve --pin {other} -- /bin/cat")),
            "{}",
            stderr(&out)
        );
        // --no-namespaces is an option of its own, bound the same way.
        assert_refused(
            &host_run(&env, &["--no-namespaces", "--", "/bin/cat"]),
            "--no-namespaces",
        );
    }
}

/// A `#!`-less executable of the test's user.
fn own_file(env: &Env, path: &Path, from: &Path, mode: u32) {
    fs::copy(from, path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    env.give(path);
}

/// A loop renames a good and an evil file over the approved executable
/// while 50 approved starts happen: the evil one never runs. (Starts
/// that open the evil file are refused, or fail closed at exec when the
/// sandbox's rules were made for the other file; enough of them open the
/// good one and run it.)
#[test]
fn a_rename_swap_during_approved_starts_never_runs_the_evil_file() {
    for user in users() {
        for namespaces in [true, false] {
            let env = Env::new(user);
            let bin = env.home.join("bin");
            fs::create_dir(&bin).unwrap();
            env.give(&bin);
            let srv = bin.join("srv");
            let good = bin.join("good");
            let evil = bin.join("evil");
            own_file(&env, &good, Path::new("/bin/cat"), 0o755);
            fs::write(&evil, "#!/bin/sh\necho EVIL-RAN >&2\nexec cat\n").unwrap();
            fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).unwrap();
            env.give(&evil);
            fs::hard_link(&good, &srv).unwrap();
            let mut args = vec![];
            if !namespaces {
                args.push("--no-namespaces");
            }
            args.extend(["--", srv.to_str().unwrap()]);
            approve(&env, &args);

            let stop = Arc::new(AtomicBool::new(false));
            let swapper = {
                let (stop, bin, srv) = (stop.clone(), bin.clone(), srv.clone());
                let (good, evil) = (good.clone(), evil.clone());
                std::thread::spawn(move || {
                    let tmp = bin.join("next");
                    let mut swaps = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for from in [&good, &evil] {
                            let _ = fs::remove_file(&tmp);
                            fs::hard_link(from, &tmp).unwrap();
                            fs::rename(&tmp, &srv).unwrap();
                            swaps += 1;
                        }
                    }
                    swaps
                })
            };
            let mut started = 0;
            for i in 0..50 {
                let out = host_run(&env, &args);
                let err = stderr(&out);
                assert!(
                    !err.contains("EVIL-RAN"),
                    "{user:?} namespaces={namespaces} start {i}: the evil file ran: {err}"
                );
                if out.status.code() == Some(0) {
                    assert_eq!(out.stdout, INITIALIZE);
                    started += 1;
                }
            }
            stop.store(true, Ordering::Relaxed);
            let swaps = swapper.join().unwrap();
            eprintln!(
                "{user:?} namespaces={namespaces}: {started} of 50 approved starts ran the good file, {swaps} renames"
            );
            assert!(swaps > 100, "the swap loop ran: {swaps}");
            assert!(
                started > 0,
                "{user:?} namespaces={namespaces}: no start ran the good file"
            );
            // Control: with the evil file in place and no swapping, the
            // start is refused, and names the changed file.
            fs::rename(&evil, &srv).unwrap();
            assert_refused(&host_run(&env, &args), "binary content changed");
        }
    }
}

/// The digest cache is in the state directory, keyed by inode: a second
/// approved start of the same executable reads it, and a rewrite in
/// place (new ctime) is hashed again and refused.
#[test]
fn the_digest_cache_never_hides_a_changed_file() {
    for user in users() {
        let env = Env::new(user);
        let bin = env.home.join("bin");
        fs::create_dir(&bin).unwrap();
        env.give(&bin);
        let srv = bin.join("srv");
        own_file(&env, &srv, Path::new("/bin/cat"), 0o755);
        // Old enough for its digest to be kept.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        let f = fs::File::options().write(true).open(&srv).unwrap();
        f.set_modified(old).unwrap();
        drop(f);
        std::thread::sleep(std::time::Duration::from_millis(3100));
        let args = ["--", srv.to_str().unwrap()];
        approve(&env, &args);
        let digests: PathBuf = env.home.join(".local/state/cordon/digests");
        assert_eq!(
            fs::read_dir(&digests).unwrap().count(),
            1,
            "one digest kept"
        );
        assert_started(&host_run(&env, &args), "cached");
        // Same size, same mtime, other content: only ctime tells.
        let mut bytes = fs::read(&srv).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&srv, &bytes).unwrap();
        let f = fs::File::options().write(true).open(&srv).unwrap();
        f.set_modified(old).unwrap();
        drop(f);
        assert_refused(&host_run(&env, &args), "binary content changed");
    }
}

/// The `cordon approve …` a refusal prints, run by a shell as printed
/// (with `--yes`, there being no terminal), approves exactly the start
/// that was refused: every option survives the round trip.
#[test]
fn the_printed_approve_command_approves_exactly_the_refused_start() {
    for user in users() {
        let env = Env::new(user);
        let profile = env.write(
            "home/my profile.toml",
            "schema = 1\ndescription = \"p\"\n[filesystem]\ngroups = [\"runtime\"]\n",
        );
        let data = env.work.join("data dir");
        fs::create_dir(&data).unwrap();
        env.give(&data);
        let (profile, data) = (profile.to_str().unwrap(), data.to_str().unwrap());
        let args = [
            "-p",
            profile,
            "--ro",
            "/etc",
            "--rw",
            data,
            "--env",
            "LANG",
            "--pin",
            "pins.json",
            "--",
            "/bin/sh",
            "-c",
            "exec cat",
            "it's",
            "--x",
        ];
        let out = host_run(&env, &args);
        assert_refused(&out, "no approval is recorded");
        let err = stderr(&out);
        let printed = err
            .lines()
            .find_map(|l| l.split("from a terminal: ").nth(1))
            .unwrap()
            .replacen("cordon approve ", "cordon approve --yes ", 1);
        // `cordon` on PATH is the binary under test.
        let wrapper_dir = env.path().join("wrapper");
        fs::create_dir(&wrapper_dir).unwrap();
        let bin = match user {
            support::User::Current => support::cordon_bin(),
            support::User::Nobody => env.path().join("cordon"),
        };
        let wrapper = wrapper_dir.join("cordon");
        fs::write(
            &wrapper,
            format!("#!/bin/sh\nexec '{}' \"$@\"\n", bin.display()),
        )
        .unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        let mut shell = support::as_user(user, "setsid");
        shell
            .args(["--wait", "sh", "-c", &printed])
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", wrapper_dir.display()))
            .env("HOME", &env.home)
            .env("XDG_CONFIG_HOME", env.home.join(".config"))
            .env("XDG_STATE_HOME", env.home.join(".local/state"))
            .current_dir("/");
        let approved = run(shell, b"");
        assert_eq!(
            approved.status.code(),
            Some(0),
            "{printed}: {}",
            stderr(&approved)
        );
        assert_started(&host_run(&env, &args), "approved by the printed command");
    }
}

const VENV_SERVER: &str = "import os, sys\nsys.dont_write_bytecode = True\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\nfrom pkg import echo\necho.run()\n";
const VENV_MODULE: &str =
    "import sys\ndef run():\n    for line in sys.stdin:\n        sys.stdout.write(line)\n";

/// A venv-like directory granted with `--ro`, holding the module its
/// script imports, is bound file by file: a changed module, an added
/// file and a retargeted symlink are each refused by name; a file
/// outside the grant changes nothing; and the runtime under /usr is not
/// hashed (the digest cache holds the directory's files and the
/// interpreter, not thousands of /usr files).
#[test]
fn code_directories_are_bound_file_by_file() {
    if !have("/usr/bin/python3") {
        eprintln!("skipped: no /usr/bin/python3");
        return;
    }
    for user in users() {
        let env = Env::new(user);
        let venv = env.home.join("venv");
        env.write("home/venv/srv.py", VENV_SERVER);
        env.write("home/venv/pkg/__init__.py", "");
        let module = env.write("home/venv/pkg/echo.py", VENV_MODULE);
        env.write("home/venv/pkg/other.py", "x = 1\n");
        let link = venv.join("current");
        std::os::unix::fs::symlink("pkg/echo.py", &link).unwrap();
        let outside = env.write("home/notes.txt", "unrelated\n");
        // Old enough for digests to be kept, so the count below shows
        // what was hashed.
        std::thread::sleep(std::time::Duration::from_millis(3100));
        let script = venv.join("srv.py");
        let args = [
            "--ro",
            venv.to_str().unwrap(),
            "--",
            "python3",
            script.to_str().unwrap(),
        ];
        approve(&env, &args);
        assert_started(&host_run(&env, &args), &format!("{user:?} approved"));
        let digests = env.home.join(".local/state/cordon/digests");
        let kept = fs::read_dir(&digests).unwrap().count();
        assert!(
            (4..=10).contains(&kept),
            "{user:?}: the venv's 4 files and the interpreter are hashed, /usr is not: {kept} digests"
        );

        // A file outside the grant: still runs.
        fs::write(&outside, "changed\n").unwrap();
        assert_started(&host_run(&env, &args), &format!("{user:?} outside"));

        // A changed module the server imports.
        fs::write(&module, format!("{VENV_MODULE}# changed\n")).unwrap();
        assert_refused(&host_run(&env, &args), "changed");
        assert_refused(&host_run(&env, &args), "pkg/echo.py");
        fs::write(&module, VENV_MODULE).unwrap();
        assert_started(&host_run(&env, &args), &format!("{user:?} restored"));

        // An added file.
        let added = env.write("home/venv/pkg/sitecustomize.py", "");
        assert_refused(&host_run(&env, &args), "added");
        assert_refused(&host_run(&env, &args), "pkg/sitecustomize.py");
        fs::remove_file(&added).unwrap();
        assert_started(&host_run(&env, &args), &format!("{user:?} removed again"));

        // A retargeted symlink.
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("pkg/other.py", &link).unwrap();
        assert_refused(&host_run(&env, &args), "current");
    }
}

/// An approval recorded before code directories were bound (no trees)
/// does not cover a launch that has one: it is refused with "approve
/// again".
#[test]
fn an_approval_without_trees_is_asked_again() {
    for user in users() {
        let env = Env::new(user);
        let dir = env.home.join("code");
        env.write("home/code/lib.sh", "true\n");
        let args = ["--ro", dir.to_str().unwrap(), "--", "/bin/cat"];
        approve(&env, &args);
        let store = env.home.join(".local/state/cordon/approvals.json");
        let text = fs::read_to_string(&store).unwrap();
        let mut all: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut stripped = 0;
        strip_trees(&mut all, &mut stripped);
        assert_eq!(stripped, 1, "{text}");
        fs::write(&store, serde_json::to_vec(&all).unwrap()).unwrap();
        assert_refused(&host_run(&env, &args), "approve again");
    }
}

fn strip_trees(v: &mut serde_json::Value, count: &mut usize) {
    match v {
        serde_json::Value::Object(map) => {
            if map.remove("trees").is_some() {
                *count += 1;
            }
            for child in map.values_mut() {
                strip_trees(child, count);
            }
        }
        serde_json::Value::Array(items) => {
            for child in items {
                strip_trees(child, count);
            }
        }
        _ => {}
    }
}

const PY_EVIL: &str = "import sys\nsys.stderr.write('EVIL-RAN\\n')\nfor line in sys.stdin:\n    sys.stdout.write(line)\n";
const NODE_EVIL: &str = "process.stderr.write('EVIL-RAN\\n');\n";

/// A loop that renames `good` and `evil` in turn over `path` (through a
/// hard link made aside, so the path always names one of them) until
/// stopped; returns the number of renames.
fn swap_loop(
    stop: Arc<AtomicBool>,
    path: PathBuf,
    good: PathBuf,
    evil: PathBuf,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let tmp = good.with_file_name("next");
        let mut swaps = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for from in [&good, &evil] {
                let _ = fs::remove_file(&tmp);
                fs::hard_link(from, &tmp).unwrap();
                fs::rename(&tmp, &path).unwrap();
                swaps += 1;
            }
        }
        swaps
    })
}

/// 50 approved starts of `args` while `swapped` is renamed between its
/// good and evil versions: each start either ran the good code (it
/// relays `initialize` and exits 0, and nothing said EVIL-RAN) or was
/// refused. Returns how many ran.
fn starts_during_swaps(
    env: &Env,
    args: &[&str],
    swapped: &Path,
    good: &Path,
    evil: &Path,
    what: &str,
) -> usize {
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = swap_loop(
        stop.clone(),
        swapped.to_path_buf(),
        good.to_path_buf(),
        evil.to_path_buf(),
    );
    let mut started = 0;
    let mut refusals = std::collections::BTreeMap::new();
    for i in 0..50 {
        let out = host_run(env, args);
        let err = stderr(&out);
        assert!(
            !err.contains("EVIL-RAN"),
            "{what} start {i}: the evil file ran: {err}"
        );
        if out.status.code() == Some(0) {
            assert_eq!(out.stdout, INITIALIZE, "{what} start {i}: {err}");
            started += 1;
        } else {
            let reason = err
                .lines()
                .find(|l| l.starts_with("cordon: error:"))
                .unwrap_or_else(|| panic!("{what} start {i}: neither ran nor refused: {err}"));
            if reason.contains("setup failed") {
                eprintln!("{what} start {i}: {reason}");
            }
            *refusals
                .entry(reason.split(':').take(3).collect::<String>())
                .or_insert(0) += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!(
        "{what}: {started} of 50 approved starts ran the good file, {swaps} renames; refused: {refusals:?}"
    );
    // Back to the good version, as approved.
    fs::hard_link(good, good.with_file_name("back")).unwrap();
    fs::rename(good.with_file_name("back"), swapped).unwrap();
    assert!(swaps > 100, "{what}: the swap loop ran: {swaps}");
    started
}

/// The script an interpreter opens by path (`python3 S.py`), and a file
/// node preloads (`node -r ./P.js S.js`), renamed between a good and an
/// evil version while approved starts happen: the evil one never runs.
/// With namespaces the sandbox reads the checked file (the directories
/// on the way are mirrored, so a rename on the host cannot reach the
/// view); without them a file in a directory its user (and so any of
/// the user's servers granted write there) can rename in is refused,
/// while one in a directory only root can write starts.
#[test]
fn a_rename_swap_of_a_script_during_approved_starts_never_runs_the_evil_one() {
    let node = have("/usr/bin/node");
    if !node {
        eprintln!("node -r case skipped: no /usr/bin/node");
    }
    for user in users() {
        for namespaces in [true, false] {
            let what = format!("{user:?} namespaces={namespaces}");
            let env = Env::new(user);
            let dir = env.home.join("srv");
            // The versions lie outside the granted directory, whose every
            // file the approval binds as a tree: only the swapped name
            // changes there.
            env.write("home/srv/README", "the server\n");
            let good = env.write("home/swap/good.py", PY_ECHO);
            let evil = env.write("home/swap/evil.py", PY_EVIL);
            let script = dir.join("S.py");
            fs::hard_link(&good, &script).unwrap();
            let mut args = vec![];
            if !namespaces {
                args.push("--no-namespaces");
            }
            args.extend(["--ro", dir.to_str().unwrap(), "--"]);
            let mut py = args.clone();
            py.extend(["python3", script.to_str().unwrap()]);
            approve(&env, &py);
            let started = starts_during_swaps(&env, &py, &script, &good, &evil, &what);
            if namespaces {
                assert!(started > 0, "{what}: no start ran the good script");
            } else {
                assert_eq!(started, 0, "{what}: an unpinnable script started");
                let out = host_run(&env, &py);
                let err = stderr(&out);
                assert!(
                    err.contains("cannot be pinned without namespaces")
                        && err.contains("can rename in"),
                    "{what}: {err}"
                );
            }

            if node {
                let good = env.write("home/swap/good.js", "globalThis.pre = 1;\n");
                let evil = env.write("home/swap/evil.js", NODE_EVIL);
                env.write("home/srv/S.js", NODE_ECHO);
                let pre = dir.join("P.js");
                fs::hard_link(&good, &pre).unwrap();
                let mut js = args.clone();
                js.extend(["node", "-r", "./P.js", "S.js"]);
                let cmd = |a: &[&str], input: &[u8]| {
                    let mut c = env.cordon(a);
                    c.current_dir(&dir);
                    run(c, input)
                };
                let mut full = vec!["approve", "--yes"];
                full.extend_from_slice(&js);
                let out = cmd(&full, b"");
                assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
                let stop = Arc::new(AtomicBool::new(false));
                let swapper = swap_loop(stop.clone(), pre.clone(), good, evil);
                let mut started = 0;
                let mut full = vec!["run"];
                full.extend_from_slice(&js);
                for i in 0..50 {
                    let out = cmd(&full, INITIALIZE);
                    let err = stderr(&out);
                    assert!(!err.contains("EVIL-RAN"), "{what} node start {i}: {err}");
                    if out.status.code() == Some(0) {
                        assert_eq!(out.stdout, INITIALIZE, "{what} node start {i}: {err}");
                        started += 1;
                    }
                }
                stop.store(true, Ordering::Relaxed);
                let swaps = swapper.join().unwrap();
                eprintln!("{what} node -r: {started} of 50 ran the good preload, {swaps} renames");
                assert_eq!(started > 0, namespaces, "{what} node -r: {started} started");
            }
        }
        // Control: without namespaces, a script in a directory only root
        // can write (for nobody, while the test runs as root) starts.
        if user == support::User::Nobody {
            let env = Env::new(user);
            let sealed = env.path().join("sealed");
            fs::create_dir(&sealed).unwrap();
            let script = sealed.join("S.py");
            fs::write(&script, PY_ECHO).unwrap();
            let py = [
                "--no-namespaces",
                "--ro",
                sealed.to_str().unwrap(),
                "--",
                "python3",
                script.to_str().unwrap(),
            ];
            approve(&env, &py);
            assert_started(&host_run(&env, &py), "nobody, sealed directory");
        }
    }
}
