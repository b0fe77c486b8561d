//! The real binary from the outside: usage, exit codes, consent without a
//! terminal, the byte-exact relay, exit status and signal propagation,
//! shutdown, and that nothing of the sandbox outlives cordon.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use support::{Env, User, eventually, read_until, run, spawn, stderr, users};

/// Every mode a sandbox test runs in: each user, with and without
/// namespaces.
fn modes() -> Vec<(User, bool)> {
    users()
        .into_iter()
        .flat_map(|u| [(u, true), (u, false)])
        .collect()
}

fn run_args<'a>(namespaces: bool, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--yes"];
    if !namespaces {
        args.push("--no-namespaces");
    }
    args.extend_from_slice(rest);
    args
}

#[test]
fn help_explains_with_examples() {
    let env = Env::new(User::Current);
    let out = run(env.cordon(&["run", "--help"]), b"");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Examples:"), "{text}");
    assert!(text.contains("--rw <PATH>"), "{text}");
    assert!(text.contains("127 the command was not found"), "{text}");
}

#[test]
fn usage_errors_exit_125_on_stderr() {
    let env = Env::new(User::Current);
    let out = run(env.cordon(&["run", "--bogus", "--", "true"]), b"");
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("--bogus"), "{}", stderr(&out));
}

#[test]
fn command_not_found_is_127() {
    let env = Env::new(User::Current);
    let out = run(
        env.cordon(&["run", "--yes", "--", "no-such-command-xyz"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(127));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "cordon: error: no-such-command-xyz: command not found\n"
    );
}

#[test]
fn command_not_executable_is_126() {
    let env = Env::new(User::Current);
    let script = env.write("home/script.sh", "echo hi\n");
    let out = run(
        env.cordon(&["run", "--yes", "--", script.to_str().unwrap()]),
        b"",
    );
    assert_eq!(out.status.code(), Some(126));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        format!(
            "cordon: error: {}: permission denied (not executable)\n",
            script.display()
        )
    );
}

/// `cordon run FLAGS` of a server that only creates a marker file in the
/// work directory; returns the output and the marker's path.
fn run_marking(env: &Env, flags: &[&str]) -> (Output, PathBuf) {
    let marker = env.work.join("ran");
    let cmd = format!("echo ran > {}", marker.display());
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend(["--rw", env.work.to_str().unwrap(), "--", "sh", "-c", &cmd]);
    (run(env.cordon(&args), b""), marker)
}

#[test]
fn no_terminal_and_no_yes_refuses_with_124_and_runs_nothing() {
    let env = Env::new(User::Current);
    let (out, marker) = run_marking(&env, &[]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("command:"),
        "the command is shown before refusing: {err}"
    );
    assert!(err.contains("cordon: error:"), "{err}");
    assert!(!marker.exists(), "the server ran without consent");
}

#[test]
fn dry_run_prints_and_runs_nothing() {
    let env = Env::new(User::Current);
    let (out, marker) = run_marking(&env, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("sh -c 'echo ran >"),
        "{}",
        stderr(&out)
    );
    assert!(!marker.exists());
}

#[test]
fn missing_profile_fails_before_anything_runs() {
    let env = Env::new(User::Current);
    let out = run(
        env.cordon(&["run", "--yes", "-p", "no-such-profile", "--", "true"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).starts_with("cordon: error: profile \"no-such-profile\" not found"),
        "{}",
        stderr(&out)
    );
}

/// A shell function `n WORD` printing a JSON-RPC notification: the relay
/// only forwards valid MCP messages from the server.
const NOTIFY: &str = r#"n() { printf '{"jsonrpc":"2.0","method":"%s"}\n' "$1"; }; "#;

/// A mixed stream of valid MCP messages (the relay drops anything else):
/// requests and notifications with odd spacing, escapes, every non-ASCII
/// plane, CRLF endings, one message of exactly the default 16 MiB limit,
/// and a last one without its newline.
fn mixed_stream() -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..1000 {
        data.extend_from_slice(
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\"}}\n").as_bytes(),
        );
    }
    data.extend_from_slice(
        "{ \"jsonrpc\" : \"2.0\", \"id\" : \"a\\u00e9\", \"method\":\"x/é中😀\", \"params\":{\"t\":\"\\n\\\"\"} }\r\n"
            .as_bytes(),
    );
    let head = b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"";
    let tail = b"\"}}";
    data.extend_from_slice(head);
    data.extend(std::iter::repeat_n(
        b'x',
        (16 << 20) - head.len() - tail.len(),
    ));
    data.extend_from_slice(tail);
    data.extend_from_slice(b"\n{\"jsonrpc\":\"2.0\",\"method\":\"last\"}");
    data
}

#[test]
fn relay_is_byte_exact_in_every_mode() {
    let input = mixed_stream();
    for (user, ns) in modes() {
        let env = Env::new(user);
        let out = run(env.cordon(&run_args(ns, &["--", "cat"])), &input);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{user:?} ns={ns}: {}",
            stderr(&out)
        );
        assert!(
            out.stdout == input,
            "{user:?} ns={ns}: output differs ({} bytes vs {})",
            out.stdout.len(),
            input.len()
        );
    }
}

#[test]
fn relay_drops_and_reports_lines_that_are_not_mcp_messages() {
    let valid = b"{\"jsonrpc\":\"2.0\",\"method\":\"kept\"}\n";
    let mut input = b"plain text\n".to_vec();
    input.extend((0..=255u8).cycle().take(70_000));
    input.extend_from_slice(b"\n[1,2]\n");
    input.extend_from_slice(valid);
    for (user, ns) in modes() {
        let env = Env::new(user);
        let out = run(env.cordon(&run_args(ns, &["--", "cat"])), &input);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{user:?} ns={ns}: {}",
            stderr(&out)
        );
        assert_eq!(out.stdout, valid, "{user:?} ns={ns}");
        let err = stderr(&out);
        for note in [
            "cordon: host stdin (not forwarded: not JSON): plain text",
            "cordon: host stdin (not forwarded: not JSON): \\x00\\x01",
            "cordon: host stdin (not forwarded: a JSON-RPC batch, which MCP does not allow): [1,2]",
        ] {
            assert!(err.contains(note), "{user:?} ns={ns}: no {note:?} in {err}");
        }
    }
}

#[test]
fn server_exit_status_and_signal_death_propagate() {
    for (user, ns) in modes() {
        let env = Env::new(user);
        let out = run(
            env.cordon(&run_args(ns, &["--", "sh", "-c", "exit 3"])),
            b"",
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "{user:?} ns={ns}: {}",
            stderr(&out)
        );
        let out = run(
            env.cordon(&run_args(ns, &["--", "sh", "-c", "kill -SEGV $$"])),
            b"",
        );
        assert_eq!(
            out.status.code(),
            Some(128 + 11),
            "{user:?} ns={ns}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
        assert!(
            stderr(&out).ends_with("cordon: the server was killed by SIGSEGV\n"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn signals_sent_to_cordon_reach_the_server() {
    for (user, ns) in modes() {
        let env = Env::new(user);
        let script = format!(
            "{NOTIFY}trap 'n got-term; exit 7' TERM; n ready; while :; do sleep 0.05; done"
        );
        let mut child = spawn(env.cordon(&run_args(ns, &["--", "sh", "-c", &script])));
        let mut stdout = child.stdout.take().unwrap();
        read_until(&mut stdout, "ready");
        // setsid --wait forks: signal cordon itself, the only child of setsid.
        let cordon = support::cordon_pid(child.id()).expect("cordon below its wrapper") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(cordon),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert!(rest.contains("got-term"), "{user:?} ns={ns}: {rest}");
        assert_eq!(
            out.status.code(),
            Some(7),
            "{user:?} ns={ns}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn nothing_survives_kill_9_of_cordon() {
    for (user, ns) in modes() {
        let env = Env::new(user);
        let token = format!("9{}{}", std::process::id() % 1000, if ns { 11 } else { 22 });
        // A background child, and a double-forked, setsid'd grandchild
        // trying to escape.
        let script = format!(
            "{NOTIFY}sleep {token}1 & (setsid sleep {token}2 &) ; n ready; exec sleep {token}3"
        );
        let mut child = spawn(env.cordon(&run_args(ns, &["--", "sh", "-c", &script])));
        read_until(child.stdout.as_mut().unwrap(), "ready");
        assert!(eventually(Duration::from_secs(5), || support::sleepers(
            &token
        )
        .len()
            == 3));
        let pids = support::sleepers(&token);
        let cordon = support::cordon_pid(child.id()).expect("cordon below its wrapper") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(cordon),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = child.wait();
        let gone = eventually(Duration::from_secs(5), || {
            pids.iter()
                .all(|p| !Path::new(&format!("/proc/{p}")).exists())
        });
        assert!(
            gone,
            "{user:?} ns={ns}: processes survived cordon's death: {pids:?}"
        );
    }
}

#[test]
fn host_eof_closes_the_servers_stdin_and_a_stubborn_server_is_killed() {
    for (user, ns) in modes() {
        let env = Env::new(user);
        let profile = env.write(
            "stubborn.toml",
            "schema = 1\ndescription = \"test\"\n[filesystem]\ngroups = [\"runtime\"]\n[shutdown]\nclose_grace = \"100ms\"\nterm_grace = \"100ms\"\n",
        );
        // Ignores EOF and SIGTERM: only the kill ends it.
        let script = format!("{NOTIFY}trap '' TERM; n ready; while :; do sleep 0.05; done");
        let mut child = spawn(env.cordon(&run_args(
            ns,
            &["-p", profile.to_str().unwrap(), "--", "sh", "-c", &script],
        )));
        read_until(child.stdout.as_mut().unwrap(), "ready");
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(128 + 9),
            "{user:?} ns={ns}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_server_that_exits_on_eof_ends_cleanly() {
    for (user, ns) in modes() {
        let env = Env::new(user);
        let script = format!("{NOTIFY}cat; n bye");
        let mut child = spawn(env.cordon(&run_args(ns, &["--", "sh", "-c", &script])));
        let hello = b"{\"jsonrpc\":\"2.0\",\"method\":\"hello\"}\n";
        child.stdin.as_mut().unwrap().write_all(hello).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{user:?} ns={ns}: {}",
            stderr(&out)
        );
        let bye = b"{\"jsonrpc\":\"2.0\",\"method\":\"bye\"}\n";
        assert_eq!(out.stdout, [&hello[..], bye].concat());
    }
}

#[test]
fn profile_list_show_and_check_report_on_stdout() {
    let env = Env::new(User::Current);
    let out = run(env.cordon(&["profile", "list"]), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("default") && l.contains("built-in")),
        "{list}"
    );

    let out = run(env.cordon(&["profile", "show", "default"]), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("/usr") && shown.contains("network:"),
        "{shown}"
    );

    let good = env.write("good.toml", "schema = 1\ndescription = \"ok\"\n");
    let bad = env.write(
        "bad.toml",
        "schema = 1\ndescription = \"bad\"\n[network]\nmode = \"wide\"\n",
    );
    let out = run(
        env.cordon(&["profile", "check", good.to_str().unwrap()]),
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: ok\n", good.display())
    );
    let out = run(
        env.cordon(&[
            "profile",
            "check",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "cordon: error: {}:4:8: network.mode:",
            bad.display()
        )),
        "{err}"
    );
}

#[test]
fn doctor_tells_the_truth_about_this_kernel() {
    let env = Env::new(User::Current);
    let out = run(env.cordon(&["doctor"]), b"");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    // Cross-check each line against the kernel directly.
    let abi = landlock_abi();
    if abi > 0 {
        assert!(
            line("landlock:").contains(&format!("kernel ABI {abi}")),
            "{text}"
        );
    } else {
        assert!(line("landlock:").contains("MISSING"), "{text}");
    }
    let userns = std::process::Command::new("unshare")
        .args(["-Urmpf", "--mount-proc", "true"])
        .status();
    if userns.is_ok_and(|s| s.success()) {
        assert!(line("namespaces:").starts_with("namespaces: ok"), "{text}");
    }
    assert!(line("seccomp:").starts_with("seccomp: ok"), "{text}");
    // The explanation line says what --explain reports here, and that a
    // failed server's own errors are summarised whatever the mechanism.
    let explain = line("explain:");
    assert!(
        explain.contains("--explain reports")
            && explain.contains("a server that exits non-zero")
            && explain.contains("paths its own errors name"),
        "{text}"
    );
    assert_eq!(out.status.success(), !text.contains("MISSING"), "{text}");
}

fn landlock_abi() -> i64 {
    // SAFETY: landlock_create_ruleset with the VERSION flag takes a NULL
    // attribute and size 0 and only returns a number.
    #[allow(unsafe_code)]
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    v.max(0)
}

#[test]
fn verbose_logs_go_to_stderr_only() {
    let env = Env::new(User::Current);
    let mut cmd = env.cordon(&["-vv", "run", "--yes", "--", "sh", "-c", "kill -TERM $$"]);
    cmd.env("CORDON_LOG", "debug");
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(128 + 15));
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr(&out).contains("sandbox started"), "{}", stderr(&out));
    assert!(stderr(&out).contains("server exited"), "{}", stderr(&out));
}

#[test]
fn sandbox_setup_failures_leave_stdout_empty() {
    let env = Env::new(User::Current);
    // A grant that does not exist, a required grant inside a protected
    // path, and a protected path inside a grant without namespaces.
    std::fs::create_dir_all(env.home.join(".ssh")).unwrap();
    std::fs::write(env.home.join(".bashrc"), "").unwrap();
    let ssh = env.home.join(".ssh");
    for args in [
        vec!["run", "--yes", "--rw", "/nonexistent/dir", "--", "true"],
        vec!["run", "--yes", "--ro", ssh.to_str().unwrap(), "--", "true"],
        vec![
            "run",
            "--yes",
            "--no-namespaces",
            "--rw",
            env.home.to_str().unwrap(),
            "--",
            "true",
        ],
    ] {
        let out = run(
            env.cordon(&args),
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}\n",
        );
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            stderr(&out).contains("cordon: error:"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn the_prompt_asks_on_the_terminal_and_defaults_to_no() {
    for (answer, expect_run) in [
        ("y\n", true),
        ("n\n", false),
        ("\n", false),
        ("\x03", false),
    ] {
        let env = Env::new(User::Current);
        let marker = env.work.join("ran");
        let script = format!("{NOTIFY}echo ran > {}; n served", marker.display());
        let args = [
            "run",
            "--rw",
            env.work.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &script,
        ];
        let out = support::answer_on_terminal(&env, &args, answer);
        assert_eq!(
            marker.exists(),
            expect_run,
            "answer {answer:?}: {}",
            stderr(&out)
        );
        if expect_run {
            assert_eq!(out.status.code(), Some(0));
            assert_eq!(out.stdout, b"{\"jsonrpc\":\"2.0\",\"method\":\"served\"}\n");
        } else {
            assert_eq!(out.status.code(), Some(124), "answer {answer:?}");
            assert!(out.stdout.is_empty());
        }
    }
}

#[test]
fn private_tmp_dirs_left_by_killed_cordons_are_removed_at_the_next_start() {
    let env = Env::new(User::Current);
    let tmp = env.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // A pid above any kernel's pid_max: that cordon is certainly gone.
    let dead = tmp.join("cordon-tmp-999999999-aBcDeF");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join("left-behind"), "x").unwrap();
    let live = tmp.join(format!("cordon-tmp-{}-aBcDeF", std::process::id()));
    std::fs::create_dir(&live).unwrap();
    let unrelated = tmp.join("cordon-tmp-notapid");
    std::fs::create_dir(&unrelated).unwrap();
    // Without namespaces the private /tmp is a host directory, and its
    // creation cleans up (with them it is a tmpfs that leaves nothing).
    let mut cmd = env.cordon(&["run", "--yes", "--no-namespaces", "--", "true"]);
    cmd.env("TMPDIR", &tmp);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !dead.exists(),
        "the stale directory of a dead cordon was kept"
    );
    assert!(
        live.exists() && unrelated.exists(),
        "a directory that is not stale was removed"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "this run's own directory was not removed: {left:?}"
    );
}

/// The namespace probe's cached success is only a shortcut: when the
/// launch then cannot make its namespaces (here: nobody may start no more
/// processes, so the clone is refused), the launch fails closed, says
/// that the cached answer was used, and drops it; the next start probes
/// again. Needs root (RLIMIT_NPROC does not bind root itself).
#[test]
fn a_cached_namespace_probe_that_proves_wrong_fails_closed_and_is_dropped() {
    if !nix::unistd::getuid().is_root() {
        eprintln!("SKIP: needs root to run cordon as nobody under RLIMIT_NPROC");
        return;
    }
    let env = Env::new(User::Nobody);
    let entry = env.home.join(".local/state/cordon/namespace-probe");
    let (out, marker) = run_marking(&env, &["--yes"]);
    if !entry.exists() {
        eprintln!(
            "SKIP: the kernel lacks unprivileged user namespaces, nothing is cached: {}",
            stderr(&out)
        );
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::remove_file(&marker).unwrap();
    // The same start, with no process to spare for the sandbox.
    let cmd = format!("echo ran > {}", marker.display());
    let mut limited = support::as_user(User::Nobody, "prlimit");
    limited
        .arg("--nproc=1")
        .arg("--")
        .arg(env.path().join("cordon"))
        .args(["run", "--yes", "--rw", env.work.to_str().unwrap()])
        .args(["--", "sh", "-c", &cmd])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &env.home)
        .env("XDG_CONFIG_HOME", env.home.join(".config"))
        .env("XDG_STATE_HOME", env.home.join(".local/state"))
        .current_dir(&env.home);
    let out = run(limited, b"");
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("from the cache of an earlier probe; the entry is dropped"),
        "{}",
        stderr(&out)
    );
    assert!(!marker.exists(), "the server ran");
    assert!(!entry.exists(), "the entry was not dropped");
    // Control: without the limit the next start probes, runs and caches.
    let (out, marker) = run_marking(&env, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(marker.exists());
    assert!(entry.exists());
}

/// A representative command for each shipped profile; a profile added
/// without one fails the screen test.
fn representative(profile: &str, work: &str) -> Option<Vec<String>> {
    let npx = |pkg: &str| vec!["npx".into(), "-y".into(), pkg.to_owned()];
    let uvx = |pkg: &str| vec!["uvx".into(), pkg.to_owned()];
    let mut argv = match profile {
        "default" => vec!["my-server".to_owned()],
        "everything" => npx("@modelcontextprotocol/server-everything"),
        "filesystem" => npx("@modelcontextprotocol/server-filesystem"),
        "github" => npx("@modelcontextprotocol/server-github"),
        "memory" => npx("@modelcontextprotocol/server-memory"),
        "sequential-thinking" => npx("@modelcontextprotocol/server-sequential-thinking"),
        "fetch" => uvx("mcp-server-fetch"),
        "git" => uvx("mcp-server-git"),
        "sqlite" => uvx("mcp-server-sqlite"),
        "time" => uvx("mcp-server-time"),
        _ => return None,
    };
    match profile {
        "filesystem" => argv.push(work.to_owned()),
        "git" => argv.extend(["--repository".to_owned(), work.to_owned()]),
        "sqlite" => argv.extend(["--db-path".to_owned(), format!("{work}/test.db")]),
        _ => {}
    }
    Some(argv)
}

/// `cordon run --dry-run` of `argv` with `bin` first on PATH, NO_COLOR set.
fn dry_run_screen(env: &Env, bin: &Path, profile: &str, argv: &[String], extra: &[&str]) -> String {
    let mut args = vec!["run", "--dry-run", "-p", profile];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend(argv.iter().map(String::as_str));
    let mut cmd = env.cordon(&args);
    cmd.env(
        "PATH",
        format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
    )
    .env("NO_COLOR", "1");
    let out = run(cmd, b"");
    let err = stderr(&out);
    assert!(out.status.success(), "{profile}: {err}");
    err
}

/// Stand-ins for the launchers the shipped profiles run (npx, uvx, the
/// default profile's server), so the screen does not depend on what is
/// installed.
fn launchers(env: &Env) -> PathBuf {
    let bin = env.home.join("bin");
    for name in ["npx", "uvx", "my-server"] {
        env.write(&format!("home/bin/{name}"), "#!/bin/sh\nexit 0\n");
        let path = bin.join(name);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        env.give(&path);
    }
    env.give(&bin);
    bin
}

#[test]
fn the_default_screen_of_every_shipped_profile_fits_80_by_24() {
    let env = Env::new(User::Current);
    let bin = launchers(&env);
    let work = env.work.to_str().unwrap().to_owned();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let argv = representative(&name, &work)
            .unwrap_or_else(|| panic!("no representative command for profile {name}"));
        let screen = dry_run_screen(&env, &bin, &name, &argv, &[]);
        let lines: Vec<&str> = screen.lines().collect();
        // One line is left for the question "Run this command? [y/N]".
        assert!(lines.len() < 24, "{name}: {} lines\n{screen}", lines.len());
        for line in &lines {
            assert!(
                line.chars().count() <= 80,
                "{name}: too wide: {line}\n{screen}"
            );
        }
        assert!(
            !screen.contains('\x1b'),
            "{name}: colour with NO_COLOR\n{screen}"
        );
        assert!(lines[1].starts_with("  command:"), "{name}\n{screen}");
        assert!(lines[1].contains(&argv[0]), "{name}\n{screen}");
        assert!(lines[2].starts_with("  executable:"), "{name}\n{screen}");
        assert!(
            screen.contains("read-only system paths"),
            "{name}\n{screen}"
        );
        assert!(screen.contains("--details"), "{name}\n{screen}");
        seen += 1;
    }
    assert!(
        seen >= 10,
        "only {seen} profiles found in {}",
        dir.display()
    );
}

#[test]
fn missing_optional_paths_are_shown_only_with_details() {
    let env = Env::new(User::Current);
    let bin = launchers(&env);
    let profile = env.write(
        "optional.toml",
        "schema = 1\ndescription = \"an optional path\"\n\
         [filesystem]\ngroups = [\"runtime\"]\nread = [\"~/absent-on-purpose?\"]\n",
    );
    let profile = profile.to_str().unwrap();
    let argv = vec!["my-server".to_owned()];
    let screen = dry_run_screen(&env, &bin, profile, &argv, &[]);
    assert!(!screen.contains("absent-on-purpose"), "{screen}");
    assert!(!screen.contains("does not exist"), "{screen}");
    let details = dry_run_screen(&env, &bin, profile, &argv, &["--details"]);
    assert!(
        details
            .lines()
            .any(|l| l.contains("absent-on-purpose") && l.contains("does not exist; optional")),
        "{details}"
    );
    assert!(details.contains("  enforced:        "), "{details}");
}

#[test]
fn doctor_json_is_the_structured_status() {
    let env = Env::new(User::Current);
    let out = run(env.cordon(&["doctor", "--json"]), b"");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let layers = v["layers"].as_array().unwrap();
    let names: Vec<&str> = layers
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["landlock", "seccomp", "namespaces"], "{text}");
    for layer in layers {
        let state = layer["state"].as_str().unwrap();
        match state {
            "enforced" => assert!(layer["detail"].is_string(), "{text}"),
            "degraded" | "off" => assert!(layer["reason"].is_string(), "{text}"),
            other => panic!("state {other}: {text}"),
        }
        assert!(layer["fatal"].is_boolean(), "{text}");
    }
    let abi = landlock_abi();
    assert_eq!(layers[0]["state"] == "enforced", abi > 0, "{text}");
    assert_eq!(layers[1]["state"], "enforced", "{text}");
    assert_eq!(v["ok"].as_bool().unwrap(), out.status.success(), "{text}");
}

/// `cordon run --dry-run -- /bin/true` with stderr on a terminal (`script`
/// gives it a pty), `NO_COLOR` set to `no_color` when given.
fn screen_on_terminal(env: &Env, no_color: Option<&str>) -> String {
    let command = format!(
        "{} run --dry-run -- /bin/true",
        support::cordon_bin().display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &env.home)
        .env("XDG_CONFIG_HOME", env.home.join(".config"))
        .env("XDG_STATE_HOME", env.home.join(".local/state"))
        .current_dir(&env.home);
    if let Some(value) = no_color {
        cmd.env("NO_COLOR", value);
    }
    let out = run(cmd, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_screen_is_coloured_only_on_a_terminal_without_no_color() {
    let env = Env::new(User::Current);
    let tty = screen_on_terminal(&env, None);
    assert!(tty.contains("\x1b[1m  command:"), "{tty:?}");
    let tty = screen_on_terminal(&env, Some("1"));
    assert!(
        tty.contains("  command:") && !tty.contains('\x1b'),
        "{tty:?}"
    );
    let piped = run(env.cordon(&["run", "--dry-run", "--", "/bin/true"]), b"");
    let piped = stderr(&piped);
    assert!(
        piped.contains("  command:") && !piped.contains('\x1b'),
        "{piped}"
    );
}

#[test]
fn after_consent_cordon_says_the_server_is_starting() {
    let env = Env::new(User::Current);
    let out = run(env.cordon(&["run", "--yes", "--", "/bin/true"]), b"");
    let err = stderr(&out);
    let screen_end = err.find("read-only system paths").unwrap_or(0);
    let starting = err.find("cordon: starting the server in its sandbox");
    assert!(starting.is_some_and(|at| at > screen_end), "{err}");
    let dry = run(env.cordon(&["run", "--dry-run", "--", "/bin/true"]), b"");
    assert!(
        !stderr(&dry).contains("starting the server"),
        "{}",
        stderr(&dry)
    );
}
#[test]
fn run_without_profile_picks_the_profile_the_package_names_and_says_so() {
    let env = Env::new(User::Current);
    // A stand-in `npx`: the pick reads the command line, not the program.
    let npx = env.home.join("bin/npx");
    std::fs::create_dir_all(npx.parent().unwrap()).unwrap();
    std::fs::copy("/bin/true", &npx).unwrap();
    env.give(npx.parent().unwrap());
    env.give(&npx);
    let npx = npx.to_str().unwrap();
    let out = run(
        env.cordon(&[
            "run",
            "--dry-run",
            "--",
            npx,
            "-y",
            "@modelcontextprotocol/server-filesystem@1.0.0",
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let first = err.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "cordon: no --profile given; using profile filesystem because the command names package @modelcontextprotocol/server-filesystem@1.0.0"
    );
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with("profile:") && l.contains(" filesystem")),
        "{err}"
    );

    let out = run(
        env.cordon(&["run", "--dry-run", "--", npx, "-y", "left-pad"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.lines().next().unwrap_or_default(),
        "cordon: no --profile given; using profile default because the command names no package of a known profile"
    );

    // An explicit --profile is taken as given, without the line.
    let out = run(
        env.cordon(&[
            "run",
            "--dry-run",
            "-p",
            "default",
            "--",
            npx,
            "@modelcontextprotocol/server-filesystem",
        ]),
        b"",
    );
    assert!(
        !stderr(&out).contains("no --profile given"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn profile_check_reports_every_error_of_a_file() {
    let env = Env::new(User::Current);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/three_errors.toml");
    let out = run(
        env.cordon(&["profile", "check", file.to_str().unwrap()]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    let at = |line: usize| format!("cordon: error: {}:{line}:", file.display());
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&(at(7) + "9: network.allow:")),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&(at(10) + "9: environment.pass[0]:")),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&(at(13) + "15: shutdown.close_grace:")),
        "{err}"
    );
}

#[test]
fn profile_check_reports_type_errors_and_validation_errors_of_every_table() {
    let env = Env::new(User::Current);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/type_errors.toml");
    let out = run(
        env.cordon(&["profile", "check", file.to_str().unwrap()]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    let at = |place: &str| format!("cordon: error: {}:{place}", file.display());
    let expected = [
        // A type error in a list, and an unknown key in the same table.
        "7:17: filesystem.read[1]: invalid type: integer `7`, expected a string",
        "8:1: filesystem: unknown field `writable`",
        // A type error in another table does not hide the rest.
        "12:8: network.mode:",
        // Every bad entry of a list, not only the first.
        "15:17: environment.pass[1]:",
        "15:29: environment.pass[2]:",
        // Every bad key of a table.
        "18:10: limits.nofile:",
        "19:7: limits.tmp:",
        "22:9: seccomp.deny[0]:",
    ];
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{err}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.starts_with(&at(want)), "expected {want:?} in:\n{err}");
    }
    // A table that lost an entry to a type error is not validated further
    // (its bad placeholder in filesystem.exec is not reported).
    assert!(!err.contains("filesystem.exec"), "{err}");
}

#[test]
fn profile_check_reports_every_syntax_error() {
    let env = Env::new(User::Current);
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/syntax_errors.toml");
    let out = run(
        env.cordon(&["profile", "check", file.to_str().unwrap()]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let at = |place: &str| format!("cordon: error: {}:{place}", file.display());
    assert!(err.contains(&at("6:17: ")), "{err}");
    assert!(err.contains(&at("9:15: ")), "{err}");
}

#[test]
fn an_unknown_profile_name_suggests_the_nearest() {
    let env = Env::new(User::Current);
    let out = run(
        env.cordon(&["run", "-p", "filesytem", "--", "/bin/true"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("profile \"filesytem\" not found"), "{err}");
    assert!(err.contains("did you mean \"filesystem\"?"), "{err}");
    // Nothing close: no suggestion.
    let out = run(env.cordon(&["profile", "show", "zzzzzzzz"]), b"");
    assert!(!stderr(&out).contains("did you mean"), "{}", stderr(&out));
}

#[test]
fn profile_show_json_parses_with_the_policy_keys() {
    let env = Env::new(User::Current);
    let out = run(
        env.cordon(&["profile", "show", "--json", "filesystem"]),
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(policy["name"], "filesystem");
    assert_eq!(policy["origin"], "built-in");
    for key in [
        "description",
        "fs",
        "network",
        "env",
        "limits",
        "mechanisms",
        "private_tmp",
        "unprotect",
    ] {
        assert!(policy.get(key).is_some(), "{key} missing: {policy}");
    }
    assert!(
        policy["fs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["path"] == "/usr" && g["access"].is_string())
    );
    assert!(policy["network"]["mode"].is_string());
}

#[test]
fn help_texts_say_what_the_commands_do_now() {
    let env = Env::new(User::Current);
    let help =
        |args: &[&str]| String::from_utf8_lossy(&run(env.cordon(args), b"").stdout).into_owned();
    // A wrapped entry carries no --yes: it starts once approved.
    let wrap = help(&["config", "wrap", "--help"]);
    assert!(!wrap.contains("--yes"), "{wrap}");
    assert!(
        wrap.contains("cordon\napprove") || wrap.contains("cordon approve"),
        "{wrap}"
    );
    assert!(wrap.contains("--json"), "{wrap}");
    let run_help = help(&["run", "--help"]);
    assert!(
        run_help.contains("the profile whose package the command names"),
        "{run_help}"
    );
    assert!(run_help.contains("--quiet"), "{run_help}");
    assert!(help(&["consent", "list", "--help"]).contains("--json"));
    assert!(help(&["profile", "show", "--help"]).contains("--json"));
}

/// `profile learn`: another file of that name is kept unless --force;
/// with --stdout the profile follows the relayed protocol, after it, and
/// a file of the user's is written nowhere.
#[test]
fn profile_learn_keeps_other_files_and_prints_after_the_relay() {
    let env = Env::new(User::Current);
    let profiles = env.home.join(".config/cordon/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let mine = "schema = 1\ndescription = \"mine\"\n";
    std::fs::write(profiles.join("mine.toml"), mine).unwrap();
    let out = run(
        env.cordon(&["profile", "learn", "mine", "--yes", "--", "true"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exists and is not the base profile"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(profiles.join("mine.toml")).unwrap(),
        mine
    );

    let script = format!("{NOTIFY} n relayed");
    let out = run(
        env.cordon(&[
            "profile", "learn", "printed", "--yes", "--stdout", "--", "sh", "-c", &script,
        ]),
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let (first, rest) = text.split_once('\n').unwrap();
    assert_eq!(first, r#"{"jsonrpc":"2.0","method":"relayed"}"#, "{text}");
    assert!(
        rest.starts_with("# Profile `printed`, learned by `cordon profile learn`"),
        "{text}"
    );
    assert!(!profiles.join("printed.toml").exists());
}
