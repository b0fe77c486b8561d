//! `cordon run --explain`: a scripted server (the probe's `steps`) reads
//! a file outside its grants, writes outside them, executes a program
//! that is not granted, reads a protected credential file and calls a
//! system call of the deny list, and opens an internet socket under
//! network mode none. Each refusal is one stderr line naming
//! the access, the path or call as the server named it, the layer, and
//! the profile change that allows it; the credential file is reported as
//! not grantable. The server still sees exactly the refusals it sees
//! without `--explain` (EPERM for the system call).

use std::os::unix::fs::PermissionsExt;

use crate::world::{Case, CaseResult, Only, World, ensure, s};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("explain_each_refusal", Only::Both, explain_each_refusal),
        Case::new("vet_explain_reports", Only::Both, vet_explain_reports),
        Case::new(
            "explain_log_and_kill_actions",
            Only::Both,
            explain_log_and_kill_actions,
        ),
        Case::new(
            "plain_run_reports_denied_calls",
            Only::Both,
            plain_run_reports_denied_calls,
        ),
        Case::new(
            "plain_run_reports_profile_denials",
            Only::Both,
            plain_run_reports_profile_denials,
        ),
        Case::new(
            "exit_summary_names_refused_paths",
            Only::Both,
            exit_summary_names_refused_paths,
        ),
        Case::new(
            "exit_summary_never_grants_protected",
            Only::Both,
            exit_summary_never_grants_protected,
        ),
        Case::new(
            "exit_summary_reads_the_whole_stderr",
            Only::Both,
            exit_summary_reads_the_whole_stderr,
        ),
        Case::new(
            "exit_summary_caps_many_paths",
            Only::Both,
            exit_summary_caps_many_paths,
        ),
        Case::new(
            "explain_exit_counts_by_layer",
            Only::Both,
            explain_exit_counts_by_layer,
        ),
        Case::new(
            "vet_reports_denied_calls",
            Only::Both,
            vet_reports_denied_calls,
        ),
        Case::new(
            "server_cannot_add_a_listener",
            Only::Both,
            server_cannot_add_a_listener,
        ),
    ]
}

/// The stderr line `cordon: refused: WHAT TARGET (…` for `target`.
fn line_for<'a>(stderr: &'a str, what: &str, target: &str) -> Result<&'a str, String> {
    let head = format!("cordon: refused: {what} {target} (");
    stderr
        .lines()
        .find(|l| l.starts_with(&head))
        .ok_or_else(|| format!("no line starting {head:?} in stderr:\n{stderr}"))
}

fn script(w: &World) -> (Vec<String>, [String; 4]) {
    let secret = w.outside.join("secret.txt");
    // Outside every grant would be inside the private /tmp with
    // namespaces (the test's world lies below /tmp): a read-only grant.
    let written = w.ro.join("new.txt");
    let tool = w.plant("outside/tool", "#!/bin/sh\necho ran\n");
    let _ = std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755));
    let key = w.at("home/.ssh/id_ed25519");
    let steps = [
        vec!["read", s(&secret)],
        vec!["write", s(&written)],
        vec!["exec", s(&tool)],
        vec!["read", s(&key)],
        vec!["keyctl"],
        // socket(AF_INET, SOCK_STREAM, 0) under network mode none.
        vec!["socket", "2", "1", "0"],
    ];
    let mut argv = vec!["steps".to_owned()];
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            argv.push("+".into());
        }
        argv.extend(step.iter().map(|a| (*a).to_owned()));
    }
    let paths = [secret, written, tool, key].map(|p| s(&p).to_owned());
    (argv, paths)
}

fn explain_each_refusal(w: &World) -> CaseResult {
    let profile = w.profile("explain", "");
    let (argv, [secret, written, tool, key]) = script(w);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let run = w
        .sandbox()
        .profile(&profile)
        .ro(&w.ro)
        .flags(&["--explain"])
        .probe(&argv);
    let outcome = run.ok()?;
    // The server saw the refusals; the system call got the profile's errno.
    ensure(outcome.contains("keyctl:EPERM"), || {
        format!("keyctl was not refused with EPERM: {outcome}")
    })?;
    ensure(!outcome.contains("read:ok"), || {
        format!("ESCAPE: a read succeeded: {outcome}")
    })?;
    let err = &run.stderr;
    let layer = if w.ns { "(mount view)" } else { "(landlock)" };

    let read = line_for(err, "read", &secret)?;
    ensure(
        read.contains(layer)
            && read.contains(&format!("--ro {secret}"))
            && read.contains(&format!("read = [\"{secret}\"] in [filesystem]")),
        || format!("read line: {read}"),
    )?;
    let ro = s(&w.ro).to_owned();
    let write = line_for(err, "create", &written)?;
    ensure(
        write.contains(&format!("--rw {ro}"))
            && write.contains(&format!("write = [\"{ro}\"] in [filesystem]")),
        || format!("write line: {write}"),
    )?;
    let exec = line_for(err, "execute", &tool)?;
    ensure(
        exec.contains(layer) && exec.contains(&format!("exec = [\"{tool}\"] in [filesystem]")),
        || format!("execute line: {exec}"),
    )?;
    let credential = line_for(err, "read", &key)?;
    ensure(
        credential.contains("no profile change allows it")
            && credential.contains("protected path")
            && !credential.contains("--ro"),
        || format!("credential line: {credential}"),
    )?;
    let syscall = line_for(err, "system call", "keyctl")?;
    ensure(
        syscall.contains("(seccomp)") && syscall.contains("allow = [\"keyctl\"] in [seccomp]"),
        || format!("system call line: {syscall}"),
    )?;
    // Refused for the network mode, not for the call: the advice is the
    // mode, not lifting `socket`.
    let mode = if w.ns { "filtered" } else { "host" };
    let socket = line_for(err, "system call", "socket (AF_INET)")?;
    ensure(
        socket.contains("(seccomp)")
            && socket.contains(&format!("mode = \"{mode}\" in [network]"))
            && !socket.contains("[seccomp]"),
        || format!("socket line: {socket}"),
    )?;
    // One line per distinct refusal.
    let repeated = err
        .lines()
        .filter(|l| l.starts_with(&format!("cordon: refused: read {secret} (")))
        .count();
    ensure(repeated == 1, || {
        format!("{repeated} lines for one refusal:\n{err}")
    })?;
    Ok(())
}

/// Without `--explain` a call of the deny list is still one line, the
/// same as `--explain`'s, once however often the server makes it, and
/// the server sees the profile's errno; the file refusals are not
/// observed (no path call is notified).
fn plain_run_reports_denied_calls(w: &World) -> CaseResult {
    let profile = w.profile("explain-quiet", "");
    let (mut argv, [secret, ..]) = script(w);
    argv.extend(["+".into(), "keyctl".into()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let run = w.sandbox().profile(&profile).ro(&w.ro).probe(&argv);
    let outcome = run.ok()?;
    ensure(outcome.matches("keyctl:EPERM").count() == 2, || {
        format!("keyctl was not refused with EPERM twice: {outcome}")
    })?;
    let err = &run.stderr;
    let lines = err
        .lines()
        .filter(|l| l.starts_with("cordon: refused: system call keyctl ("))
        .count();
    ensure(lines == 1, || format!("{lines} lines for keyctl:\n{err}"))?;
    let syscall = line_for(err, "system call", "keyctl")?;
    ensure(
        syscall.contains("(seccomp)") && syscall.contains("allow = [\"keyctl\"] in [seccomp]"),
        || format!("system call line: {syscall}"),
    )?;
    line_for(err, "system call", "socket (AF_INET)")?;
    ensure(!err.contains(&format!("refused: read {secret}")), || {
        format!("a path reported without --explain:\n{err}")
    })?;
    Ok(())
}

/// A call the profile adds to the deny list is reported like the
/// built-in ones; under `action = "log"` nothing is refused, so nothing
/// is reported (the kernel logs it, as the profile asked).
fn plain_run_reports_profile_denials(w: &World) -> CaseResult {
    let profile = w.profile("deny-getpid", "[seccomp]\ndeny = [\"getpid\"]\n");
    let run = w.sandbox().profile(&profile).probe(&["getpid"]);
    run.errno("EPERM")?;
    line_for(&run.stderr, "system call", "getpid")?;
    let logged = w.profile(
        "log-getpid",
        "[seccomp]\naction = \"log\"\ndeny = [\"getpid\"]\n",
    );
    let run = w.sandbox().profile(&logged).probe(&["getpid"]);
    run.ok()?;
    ensure(!run.stderr.contains("cordon: refused:"), || {
        format!("a refusal line under action log: {}", run.stderr)
    })?;
    Ok(())
}

/// `sh -c SCRIPT` inside cordon (plain `run`, the given profile and a
/// read-only grant of the world's `ro`).
fn shell(w: &World, profile: &std::path::Path, script: &str) -> crate::invoke::Probe {
    shell_with(w, profile, &[], script)
}

/// [`shell`] with more flags of `run`.
fn shell_with(
    w: &World,
    profile: &std::path::Path,
    flags: &[&str],
    script: &str,
) -> crate::invoke::Probe {
    let inv = w.sandbox().profile(profile).ro(&w.ro).flags(flags);
    let cmd = inv.build(&["sh", "-c", script]);
    crate::invoke::run_timed(cmd, format!("[sandbox {}] sh -c {script}", flags.join(" ")))
}

/// Shell lines writing `lines` lines of progress (about 60 bytes each)
/// to stderr.
fn noise(lines: u32) -> String {
    format!(
        "i=0; while [ $i -lt {lines} ]; do echo \"progress: step $i of a long trace, nothing wrong\" >&2; i=$((i+1)); done"
    )
}

/// `cordon vet --yes --json FLAGS -- sh -c SCRIPT` as the world's user;
/// its stderr, once the report shows vet talked to the server and stdout
/// holds no refusal line.
fn vet_sh(w: &World, flags: &[&str], script: &str) -> Result<String, String> {
    let mut args = vec!["vet", "--yes", "--json"];
    args.extend_from_slice(flags);
    if !w.ns {
        args.push("--no-namespaces");
    }
    args.extend(["--", "sh", "-c", script]);
    let out = crate::support::run(w.env.cordon(&args), b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .map_err(|e| format!("vet printed no report ({e}): {stdout}\n{stderr}"))?;
    ensure(report["server_name"] == "sh", || {
        format!("control: vet did not talk to the server: {report}")
    })?;
    ensure(!stdout.contains("refused:"), || {
        format!("a refusal line on stdout: {stdout}")
    })?;
    Ok(stderr)
}

/// The server's own exit status is cordon's.
fn passed_through(run: &crate::invoke::Probe, code: i32) -> Result<(), String> {
    ensure(run.code == Some(code), || {
        format!(
            "the server's status was not passed through: {}",
            run.describe()
        )
    })
}

/// A control: the server ended with `code` and cordon printed no summary
/// (`why` says what would have been wrong with one).
fn no_summary(run: &crate::invoke::Probe, code: i32, why: &str) -> Result<(), String> {
    ensure(run.code == Some(code), || {
        format!("control: {}", run.describe())
    })?;
    ensure(!run.stderr.contains("does not grant"), || {
        format!("{why}:\n{}", run.stderr)
    })
}

/// The summary line for `path` under the exit's summary.
fn summary_line<'a>(stderr: &'a str, path: &str) -> Result<&'a str, String> {
    let head = format!("cordon:   refused: read {path} (");
    stderr
        .lines()
        .find(|l| l.starts_with(&head))
        .ok_or_else(|| format!("no summary line for {path}:\n{stderr}"))
}

/// Without `--explain`, a server that exits 1 after its runtime's errors
/// named paths outside its grants (Node's and Python's message, and a
/// real `cat` of a file outside): the summary counts them and gives each
/// its grant. A refused write of a file granted read-only gets the write
/// grant; a missing file in a read grant is not counted; a server that
/// exits 0 gets no summary.
fn exit_summary_names_refused_paths(w: &World) -> CaseResult {
    let profile = w.profile("exit-summary", "");
    let node = w.plant("outside/node.json", "{}\n");
    let python = w.plant("outside/python.txt", "x\n");
    let cat = w.plant("outside/cat.txt", "x\n");
    let granted = w.plant("ro/granted.txt", "x\n");
    let missing = w.ro.join("missing.txt");
    let (node, python, cat, granted, missing) =
        (s(&node), s(&python), s(&cat), s(&granted), s(&missing));
    let script = format!(
        "echo \"Error: ENOENT: no such file or directory, open '{node}'\" >&2; \
         echo \"PermissionError: [Errno 13] Permission denied: '{python}'\" >&2; \
         echo \"Error: EACCES: permission denied, open '{granted}'\" >&2; \
         echo \"Error: ENOENT: no such file or directory, open '{missing}'\" >&2; \
         cat '{cat}' >/dev/null; exit 1"
    );
    let run = shell(w, &profile, &script);
    passed_through(&run, 1)?;
    let err = &run.stderr;
    ensure(
        err.contains("the server's errors name 4 paths this profile does not grant"),
        || format!("no count of 4 paths:\n{err}"),
    )?;
    for path in [node, python, cat] {
        let line = summary_line(err, path)?;
        ensure(
            line.contains(&format!("--ro {path}"))
                && line.contains(&format!("read = [\"{path}\"] in [filesystem]")),
            || format!("summary line: {line}"),
        )?;
    }
    ensure(
        err.contains(&format!(
            "cordon:   refused: write {granted} (landlock): allow with --rw {granted}"
        )),
        || format!("no write grant for the read-only file:\n{err}"),
    )?;
    ensure(!err.contains(&format!(" {missing} (")), || {
        format!("a missing file of a grant counted:\n{err}")
    })?;
    ensure(err.contains("cordon run --explain"), || {
        format!("no pointer to --explain:\n{err}")
    })?;

    let script = format!("echo \"Error: ENOENT: no such file or directory, open '{node}'\" >&2");
    let run = shell(w, &profile, &script);
    no_summary(&run, 0, "a summary after exit 0")?;
    Ok(())
}

/// A protected credential path the server's errors name is reported as
/// never granted, with no flag or entry that would grant it.
fn exit_summary_never_grants_protected(w: &World) -> CaseResult {
    let profile = w.profile("exit-summary-protected", "");
    let key = w.at("home/.ssh/id_ed25519");
    let key = s(&key);
    let script = format!(
        "echo \"Error: EACCES: permission denied, open '{key}'\" >&2; cat '{key}' >/dev/null; exit 1"
    );
    let run = shell(w, &profile, &script);
    let err = &run.stderr;
    let line = summary_line(err, key)?;
    ensure(
        line.contains("no profile change allows it")
            && line.contains("protected path")
            && !line.contains("--ro")
            && !line.contains("[filesystem]"),
        || format!("protected line: {line}"),
    )?;
    ensure(
        err.contains("the server's errors name 1 path this profile does not grant"),
        || format!("no count:\n{err}"),
    )?;
    Ok(())
}

/// The kernel allows one seccomp listener per process's filter chain:
/// cordon's notifier holds it, so a server cannot install its own (EBUSY).
/// Control: on the host the probe can.
fn server_cannot_add_a_listener(w: &World) -> CaseResult {
    w.host(&["seccomp-listener"]).ok()?;
    w.sandbox().probe(&["seccomp-listener"]).errno("EBUSY")?;
    Ok(())
}

/// `vet --explain`: the refusals of the server vet interviews are
/// reported on stderr the same way, next to vet's report on stdout.
fn vet_explain_reports(w: &World) -> CaseResult {
    let init = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"sh","version":"1"}}}"#;
    let secret = w.outside.join("secret.txt");
    let secret = s(&secret);
    let script = format!(
        "cat '{secret}' >/dev/null 2>&1; read -r line; printf '%s\\n' '{init}'; cat >/dev/null"
    );
    let stderr = vet_sh(w, &["--explain"], &script)?;
    let read = line_for(&stderr, "read", secret)?;
    ensure(
        read.contains(&format!("read = [\"{secret}\"] in [filesystem]")),
        || format!("read line: {read}"),
    )?;
    Ok(())
}

/// Under `action = "log"` a call of the deny list runs (the kernel would
/// have let it run too) and is reported, marked as allowed this time;
/// under `action = "kill"` the kernel kills, and `--explain` says which
/// layer did and how to see the call's name.
fn explain_log_and_kill_actions(w: &World) -> CaseResult {
    let profile = w.profile("explain-log", "[seccomp]\naction = \"log\"\n");
    let run = w
        .sandbox()
        .profile(&profile)
        .flags(&["--explain"])
        .probe(&["keyctl"]);
    let outcome = run.stdout.clone();
    ensure(!outcome.contains("EPERM"), || {
        format!("keyctl was refused under action log: {outcome}")
    })?;
    let line = line_for(&run.stderr, "system call", "keyctl")?;
    ensure(
        line.contains("action log: allowed this time")
            && line.contains("allow = [\"keyctl\"] in [seccomp]"),
        || format!("logged call line: {line}"),
    )?;

    let profile = w.profile("explain-kill", "[seccomp]\naction = \"kill\"\n");
    let run = w
        .sandbox()
        .profile(&profile)
        .flags(&["--explain"])
        .probe(&["keyctl"]);
    ensure(run.stderr.contains("killed by SIGSYS"), || {
        format!("no note on the killed server: {}", run.stderr)
    })?;
    // The control: the same profile without the call runs.
    w.sandbox()
        .profile(&profile)
        .flags(&["--explain"])
        .probe(&["socketpair"])
        .ok()?;
    Ok(())
}

/// An error early in a long stderr trace (then more than 8 KiB of other
/// output, twice the tail cordon keeps) still gets its path named at the
/// non-zero exit; the control: without the error no path is named.
fn exit_summary_reads_the_whole_stderr(w: &World) -> CaseResult {
    let profile = w.profile("exit-summary-long", "");
    let early = w.plant("outside/early.json", "{}\n");
    let early = s(&early);
    let script = format!(
        "echo \"Error: EACCES: permission denied, open '{early}'\" >&2; {}; exit 1",
        noise(200)
    );
    let run = shell(w, &profile, &script);
    passed_through(&run, 1)?;
    let err = &run.stderr;
    ensure(err.len() > 8192, || {
        format!("the trace was short: {} bytes", err.len())
    })?;
    let line = summary_line(err, early)?;
    ensure(line.contains(&format!("--ro {early}")), || {
        format!("summary line: {line}")
    })?;
    ensure(
        err.contains("the server's errors name 1 path this profile does not grant"),
        || format!("no count of 1 path:\n{err}"),
    )?;

    let run = shell(w, &profile, &format!("{}; exit 1", noise(200)));
    no_summary(&run, 1, "a path named without an error")?;
    Ok(())
}

/// A server whose errors name more paths than cordon keeps: the first
/// ones are judged and counted, five shown, the rest of them summed up
/// ("and N more"), and the paths named after the kept ones only counted.
fn exit_summary_caps_many_paths(w: &World) -> CaseResult {
    const KEPT: usize = 64;
    const NAMED: usize = 80;
    let profile = w.profile("exit-summary-many", "");
    for i in 0..NAMED {
        w.plant(&format!("outside/many/f{i}.txt"), "x\n");
    }
    let dir = w.outside.join("many");
    let dir = s(&dir);
    // Each path twice: a repeated path is one path.
    let script = format!(
        "for round in 1 2; do i=0; while [ $i -lt {NAMED} ]; do \
         echo \"PermissionError: [Errno 13] Permission denied: '{dir}/f$i.txt'\" >&2; \
         i=$((i+1)); done; done; exit 2"
    );
    let run = shell(w, &profile, &script);
    passed_through(&run, 2)?;
    let err = &run.stderr;
    ensure(
        err.contains(&format!(
            "the server's errors name {KEPT} paths this profile does not grant"
        )),
        || format!("no count of {KEPT} paths:\n{err}"),
    )?;
    let shown = err
        .lines()
        .filter(|l| l.starts_with("cordon:   refused: "))
        .count();
    ensure(shown == 5, || format!("{shown} paths shown, not 5:\n{err}"))?;
    summary_line(err, &format!("{dir}/f0.txt"))?;
    ensure(
        err.contains(&format!("cordon:   and {} more\n", KEPT - 5)),
        || format!("no \"and {} more\":\n{err}", KEPT - 5),
    )?;
    ensure(
        err.contains(&format!(
            "cordon:   the errors name {} more paths after the first {KEPT}, not judged",
            NAMED - KEPT
        )),
        || format!("no count of the paths not judged:\n{err}"),
    )?;
    Ok(())
}

/// `run --explain`, server exits non-zero: after the refusal lines, one
/// line counts the distinct refusals by layer and points at them; the
/// count matches the lines printed. The control: exit 0 gets no count.
fn explain_exit_counts_by_layer(w: &World) -> CaseResult {
    let profile = w.profile("explain-exit", "");
    let secret = w.plant("outside/explain-exit.txt", "x\n");
    let secret = s(&secret);
    let key = w.at("home/.ssh/id_ed25519");
    let key = s(&key);
    let script = format!("cat '{secret}' '{key}' >/dev/null 2>&1; exit 3");
    let run = shell_with(w, &profile, &["--explain"], &script);
    passed_through(&run, 3)?;
    let err = &run.stderr;
    line_for(err, "read", secret)?;
    line_for(err, "read", key)?;
    let refused = err
        .lines()
        .filter(|l| l.starts_with("cordon: refused: "))
        .count();
    let head = "cordon: the server exited with status 3 after ";
    let summary = err
        .lines()
        .find(|l| l.starts_with(head))
        .ok_or_else(|| format!("no count at the exit:\n{err}"))?;
    let plural = if refused == 1 { "refusal" } else { "refusals" };
    ensure(
        summary.starts_with(&format!("{head}{refused} {plural}: "))
            && summary.ends_with("; see the lines above"),
        || format!("{refused} refusal lines, summary: {summary}"),
    )?;
    // The counts by layer add up to the total.
    let by_layer = summary
        .trim_start_matches(head)
        .split_once(": ")
        .map(|(_, rest)| rest.trim_end_matches("; see the lines above"))
        .unwrap_or("");
    let sum: usize = by_layer
        .split(", ")
        .filter_map(|part| part.split_once(' ')?.0.parse::<usize>().ok())
        .sum();
    let layer = if w.ns { "mount view" } else { "landlock" };
    ensure(sum == refused && by_layer.contains(layer), || {
        format!("counts by layer do not add up to {refused} or lack {layer}: {summary}")
    })?;
    ensure(err.rfind(head) > err.rfind("cordon: refused: "), || {
        format!("the count is not after the lines:\n{err}")
    })?;

    let run = shell_with(
        w,
        &profile,
        &["--explain"],
        &format!("cat '{secret}' 2>/dev/null; exit 0"),
    );
    ensure(run.code == Some(0), || {
        format!("control: {}", run.describe())
    })?;
    line_for(&run.stderr, "read", secret)?;
    ensure(!run.stderr.contains("see the lines above"), || {
        format!("a count after exit 0:\n{}", run.stderr)
    })?;
    Ok(())
}

/// `vet` without `--explain`: a call of the deny list the server makes
/// while vet interviews it is one stderr line (from vet's notifier
/// thread) however often it is made, with the `[seccomp]` entry that
/// allows it; nothing lands on stdout (vet's report), and no path is
/// reported.
fn vet_reports_denied_calls(w: &World) -> CaseResult {
    let init = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"sh","version":"1"}}}"#;
    let probe = s(&w.probe);
    let secret = w.outside.join("secret.txt");
    let secret = s(&secret);
    // The probe's answer goes to stderr (vet's log): stdout is the
    // protocol.
    let script = format!(
        "cat '{secret}' >/dev/null 2>&1; '{probe}' --probe keyctl >&2; '{probe}' --probe keyctl >&2; \
         read -r line; printf '%s\\n' '{init}'; cat >/dev/null"
    );
    // The probe alone: for nobody its copy lies in the world's root, next
    // to the protected home.
    let stderr = vet_sh(w, &["--ro", probe], &script)?;
    let lines = stderr
        .lines()
        .filter(|l| l.starts_with("cordon: refused: system call keyctl ("))
        .count();
    ensure(lines == 1, || {
        format!("{lines} lines for keyctl:\n{stderr}")
    })?;
    let syscall = line_for(&stderr, "system call", "keyctl")?;
    ensure(
        syscall.contains("(seccomp)") && syscall.contains("allow = [\"keyctl\"] in [seccomp]"),
        || format!("system call line: {syscall}"),
    )?;
    ensure(!stderr.contains(&format!("refused: read {secret}")), || {
        format!("a path reported without --explain:\n{stderr}")
    })?;
    Ok(())
}
