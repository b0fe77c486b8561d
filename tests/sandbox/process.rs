//! Escapes through other processes and through what the server inherits:
//! ptrace and process_vm_readv of cordon, signals to and visibility of a
//! host process, a setuid binary, an inherited descriptor, the
//! environment, resource limits, a fork bomb, a grandchild that tries to
//! outlive cordon, the hostname, and cordon's terminal or stderr file
//! (the server's stderr is a pipe cordon relays).

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::invoke::{Probe, cordon_pid, host_command, kill_tree, run_timed, sigkill, with_fd3};
use crate::probe::{Outcome, io};
use crate::support::{User, eventually, sleepers, spawn};
use crate::world::{Case, CaseResult, Failure, Only, World, ensure, s};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("ptrace_parent", Only::Both, ptrace_parent),
        Case::new(
            "process_vm_readv_parent",
            Only::Both,
            process_vm_readv_parent,
        ),
        Case::new("kill_host_process", Only::Both, kill_host_process),
        Case::new("proc_hides_host_pids", Only::Both, proc_hides_host_pids),
        Case::new("setuid_binary", Only::Both, setuid_binary),
        Case::new(
            "capability_sets_are_empty",
            Only::Both,
            capability_sets_are_empty,
        ),
        Case::new("inherited_fd_closed", Only::Both, inherited_fd_closed),
        Case::new(
            "refused_after_the_sandbox_is_built",
            Only::Both,
            refused_after_the_sandbox_is_built,
        ),
        Case::new("environment_rebuilt", Only::Both, environment_rebuilt),
        Case::new("env_ld_refused", Only::Both, env_ld_refused),
        Case::new("core_rlimit_zero", Only::Both, core_rlimit_zero),
        Case::new("fork_bomb_nproc", Only::Both, fork_bomb_nproc),
        Case::new(
            "grandchild_dies_with_cordon",
            Only::Both,
            grandchild_dies_with_cordon,
        ),
        Case::new("hostname", Only::Both, hostname),
        Case::new(
            "stderr_file_not_rewritable",
            Only::Both,
            stderr_file_not_rewritable,
        ),
        Case::new("stderr_file_verbatim", Only::Both, stderr_file_verbatim),
        Case::new(
            "stderr_terminal_not_reachable",
            Only::Both,
            stderr_terminal_not_reachable,
        ),
        Case::new(
            "stderr_terminal_escaped",
            Only::Both,
            stderr_terminal_escaped,
        ),
        Case::new("stderr_nothing_lost", Only::Both, stderr_nothing_lost),
        Case::new("stderr_reaches_vet", Only::Both, stderr_reaches_vet),
        Case::new(
            "sandbox_holds_no_cordon_terminal",
            Only::Both,
            sandbox_holds_no_cordon_terminal,
        ),
    ]
}

/// Control: the probe still manages a child of its own (fork, signal, wait).
fn own_child_works(w: &World) -> CaseResult {
    w.sandbox().probe(&["kill-child"]).ok()?;
    Ok(())
}

/// Attaching to the parent (cordon's init, or cordon) or to a host
/// process of the same user fails with EPERM; the same probe attaches to
/// a child of its own on the host.
fn ptrace_parent(w: &World) -> CaseResult {
    w.host(&["ptrace-child"]).ok()?;
    w.sandbox()
        .probe(&["ptrace-attach", "ppid"])
        .errno("EPERM")?;
    w.sandbox()
        .probe(&["ptrace-attach", &w.sleeper_pid().to_string()])
        .errno("EPERM")?;
    own_child_works(w)
}

fn process_vm_readv_parent(w: &World) -> CaseResult {
    w.host(&["vm-read", "self"]).ok()?;
    w.sandbox().probe(&["vm-read", "ppid"]).errno("EPERM")?;
    w.sandbox()
        .probe(&["vm-read", &w.sleeper_pid().to_string()])
        .errno("EPERM")?;
    own_child_works(w)
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rsplit(')')
        .next()
        .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
}

/// A host `sleep` of the same user survives SIGTERM from inside (Landlock's
/// signal scope, or a pid namespace); the probe's own child does not.
fn kill_host_process(w: &World) -> CaseResult {
    if !w.ns && w.landlock_abi < 6 {
        let why = format!(
            "kernel lacks Landlock signal scoping (ABI {} < 6)",
            w.landlock_abi
        );
        return Err(Failure::Skip(why));
    }
    let pid = w.sleeper_pid();
    w.sandbox().probe(&["kill", &pid.to_string(), "15"]).err()?;
    std::thread::sleep(Duration::from_millis(50));
    ensure(alive(pid), || {
        format!("ESCAPE: the host sleep {pid} was killed")
    })?;
    own_child_works(w)
}

/// With namespaces /proc lists only the sandbox's few pids; without, /proc
/// is not readable at all.
fn proc_hides_host_pids(w: &World) -> CaseResult {
    let host = w.sleeper_pid().to_string();
    let listed = w.host(&["list-proc"]).ok()?;
    ensure(listed.split(',').any(|p| p == host), || {
        format!("control: the host sleep {host} is not in the host's /proc")
    })?;
    let inside = w.sandbox().probe(&["list-proc"]);
    if !w.ns {
        inside.err()?;
        w.sandbox()
            .ro(&w.ro)
            .probe(&["read", s(&w.ro.join("data.txt"))])
            .ok()?;
        return Ok(());
    }
    let pids = inside.ok()?;
    let pids: Vec<&str> = pids.split(',').collect();
    ensure(
        !pids.contains(&host.as_str()) && pids.len() <= 5 && pids.contains(&"1"),
        || format!("expected a handful of sandbox pids without {host}, got {pids:?}"),
    )?;
    Ok(())
}

/// A setuid copy of `id` owned by someone else runs without changing the
/// euid (no_new_privs, nosuid), while on the host the bit works.
fn setuid_binary(w: &World) -> CaseResult {
    let dir = w.at("suid");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let plain = copy_id(&dir.join("id-plain"), None, 0o755)?;
    let owner = match (w.user(), nix::unistd::getuid().is_root()) {
        (User::Current, true) => Some(crate::support::NOBODY),
        (User::Nobody, _) => Some(0),
        // Not root: only a setuid file of our own can be made.
        (User::Current, false) => None,
    };
    let setuid = copy_id(&dir.join("id-setuid"), owner, 0o4755)?;
    let expected = owner.unwrap_or_else(|| w.uid()).to_string();
    let on_host = w.host(&["exec", s(&setuid), "-u"]).ok()?;
    ensure(on_host == format!("exit 0 {expected}"), || {
        format!(
            "control: the setuid bit has no effect on the host ({on_host}; is {} mounted nosuid?)",
            dir.display()
        )
    })?;
    let runner = format!("exit 0 {}", w.uid());
    let inside = w
        .sandbox()
        .ro(&dir)
        .probe(&["exec", s(&setuid), "-u"])
        .ok()?;
    ensure(inside == runner, || {
        format!("ESCAPE: setuid id inside printed {inside:?}, expected {runner:?}")
    })?;
    let control = w
        .sandbox()
        .ro(&dir)
        .probe(&["exec", s(&plain), "-u"])
        .ok()?;
    ensure(control == runner, || {
        format!("plain id inside printed {control:?}, expected {runner:?}")
    })?;
    Ok(())
}

/// A copy of /usr/bin/id with `owner` (uid = gid) and `mode`.
fn copy_id(path: &Path, owner: Option<u32>, mode: u32) -> Result<std::path::PathBuf, String> {
    fs::copy("/usr/bin/id", path).map_err(|e| e.to_string())?;
    if owner.is_some() {
        std::os::unix::fs::chown(path, owner, owner).map_err(|e| e.to_string())?;
    }
    // After chown, which clears the setuid bit.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
    Ok(path.to_owned())
}

fn inherited_fd_closed(w: &World) -> CaseResult {
    let host = run_timed(
        with_fd3(host_command(w, &["fd-flags", "3"])),
        "[host, fd 3 open] fd-flags 3".into(),
    );
    host.ok()?;
    w.sandbox()
        .with_fd3()
        .probe(&["fd-flags", "3"])
        .errno("EBADF")?;
    w.sandbox().with_fd3().probe(&["fd-flags", "2"]).ok()?;
    Ok(())
}

/// cordon builds the sandbox while it finishes its own checks; one that
/// refuses then (a damaged pin file, a pin file that is a symbolic link)
/// ends the sandbox before the server exists: the server's first act, a
/// write into a granted directory, never happens. Control: with a pin
/// file cordon may create, the same server writes.
fn refused_after_the_sandbox_is_built(w: &World) -> CaseResult {
    let dir = w.plant("gate/granted/.keep", "");
    let dir = dir.parent().unwrap().to_path_buf();
    let marker = dir.join("server-ran");
    let damaged = w.plant("gate/pins/damaged.json", "{ not a pin file");
    let link = w.at("gate/pins/link.json");
    let fresh = w.plant("gate/pins/fresh.json", "");
    fs::remove_file(&fresh).unwrap();
    std::os::unix::fs::symlink(&fresh, &link).unwrap();
    let start = |pins: &Path| {
        w.sandbox()
            .rw(&dir)
            .flags(&["--pin", s(pins)])
            .probe(&["write", s(&marker)])
    };
    for (pins, why) in [(&damaged, "damaged"), (&link, "symbolic link")] {
        let refused = start(pins);
        ensure(
            refused.code != Some(0) && refused.stderr.contains(why),
            || {
                format!(
                    "the pin file was not refused ({why}): {}",
                    refused.describe()
                )
            },
        )?;
        ensure(!marker.exists(), || {
            format!(
                "ESCAPE: the server ran though its start was refused ({why}): {}",
                refused.describe()
            )
        })?;
    }
    start(&fresh).ok()?;
    ensure(marker.exists(), || {
        format!("the control did not write {}", marker.display())
    })?;
    Ok(())
}

/// cordon's own SECRET_TOKEN and LD_LIBRARY_PATH stay out; PATH is there,
/// and `--env SECRET_TOKEN` passes it.
fn environment_rebuilt(w: &World) -> CaseResult {
    let secret = || {
        w.sandbox()
            .env("SECRET_TOKEN", "s3cret")
            .env("LD_LIBRARY_PATH", "/nonexistent")
    };
    let names = secret().probe(&["env"]).ok()?;
    let names: Vec<&str> = names.split(',').collect();
    for leaked in ["SECRET_TOKEN", "LD_LIBRARY_PATH"] {
        ensure(!names.contains(&leaked), || {
            format!("ESCAPE: {leaked} reached the server: {names:?}")
        })?;
    }
    ensure(names.contains(&"PATH"), || {
        format!("PATH is missing inside: {names:?}")
    })?;
    let passed = secret()
        .flags(&["--env", "SECRET_TOKEN"])
        .probe(&["getenv", "SECRET_TOKEN"])
        .ok()?;
    ensure(passed == "s3cret", || {
        format!("--env SECRET_TOKEN gave {passed:?}")
    })?;
    Ok(())
}

fn env_ld_refused(w: &World) -> CaseResult {
    let sandbox = || {
        w.sandbox()
            .env("SECRET_TOKEN", "s3cret")
            .env("LD_LIBRARY_PATH", "/nonexistent")
    };
    let run = sandbox()
        .flags(&["--env", "LD_LIBRARY_PATH"])
        .probe(&["getenv", "LD_LIBRARY_PATH"]);
    ensure(run.code == Some(125) && run.stdout.is_empty(), || {
        format!(
            "expected cordon to refuse --env LD_LIBRARY_PATH (exit 125): {}",
            run.describe()
        )
    })?;
    sandbox()
        .flags(&["--env", "SECRET_TOKEN"])
        .probe(&["getenv", "SECRET_TOKEN"])
        .ok()?;
    Ok(())
}

fn core_rlimit_zero(w: &World) -> CaseResult {
    let limit = w.sandbox().probe(&["rlimit-core"]).ok()?;
    ensure(limit == "0/0", || {
        format!("RLIMIT_CORE inside is {limit}, expected 0/0")
    })?;
    w.sandbox()
        .probe(&["setrlimit-core", "1048576", "1048576"])
        .errno("EPERM")?;
    w.sandbox().probe(&["setrlimit-core", "0", "0"]).ok()?;
    Ok(())
}

/// With `[limits] nproc = 64`, fork fails with EAGAIN long before 5000
/// children. The kernel exempts uid 0 from RLIMIT_NPROC: as root this only
/// holds if cordon does not leave the server running as (host) uid 0.
fn fork_bomb_nproc(w: &World) -> CaseResult {
    let profile = w.profile("nproc", "[limits]\nnproc = 64\n");
    let got = w
        .sandbox()
        .profile(&profile)
        .probe(&["fork-bomb", "5000"])
        .ok()?;
    let (count, errno) = got.split_once(' ').unwrap_or((&got, ""));
    let count: usize = count
        .parse()
        .map_err(|_| format!("fork-bomb printed {got:?}"))?;
    ensure(count > 0, || {
        format!("control: not a single fork worked ({got})")
    })?;
    ensure(errno == "EAGAIN" && count < 5000, || {
        format!("ESCAPE: nproc = 64 did not stop the fork bomb: {count} children, then {errno}")
    })?;
    Ok(())
}

/// A double-forked, setsid'd grandchild and the server itself vanish
/// within 5 s of SIGKILL to cordon.
fn grandchild_dies_with_cordon(w: &World) -> CaseResult {
    let token = format!("9{}", w.tag);
    let script = format!("(setsid sleep {token}1 &); exec sleep {token}2");
    let mut child = spawn(w.sandbox().build(&["sh", "-c", &script]));
    let started = eventually(Duration::from_secs(10), || sleepers(&token).len() == 2);
    let pids = sleepers(&token);
    let cordon = cordon_pid(child.id() as i32);
    if let Some(pid) = cordon {
        sigkill(pid);
    }
    let gone = eventually(Duration::from_secs(5), || pids.iter().all(|&p| !alive(p)));
    // Whatever is left (after a failure) goes now.
    kill_tree(child.id() as i32);
    pids.iter().for_each(|&p| sigkill(p));
    let _ = child.wait();
    ensure(started, || {
        format!("control: expected the server and its grandchild sleeping, found {pids:?}")
    })?;
    ensure(cordon.is_some(), || {
        "cordon's process not found below its wrappers".to_owned()
    })?;
    ensure(gone, || {
        format!("ESCAPE: processes survived SIGKILL of cordon: {pids:?}")
    })?;
    Ok(())
}

/// Setting the hostname fails; reading it works (and says "cordon" in
/// the sandbox's own UTS namespace).
fn hostname(w: &World) -> CaseResult {
    w.sandbox()
        .probe(&["sethostname", "escaped"])
        .errno("EPERM")?;
    let name = w.sandbox().probe(&["hostname"]).ok()?;
    ensure(!w.ns || name == "cordon", || {
        format!("hostname inside is {name:?}, expected \"cordon\"")
    })?;
    Ok(())
}

// The server's stderr. cordon's own stderr is a terminal or a log file
// the server must never hold: it gets a pipe that cordon relays.

/// The probe's stderr actions, or None for another action.
pub fn act(action: &str, args: &[String]) -> Option<Outcome> {
    let count = || args.first().and_then(|a| a.parse::<usize>().ok());
    Some(match action {
        "fd2-tty" => fd2_tty(),
        "fd2-read" => fd2_read(),
        "fd2-rewrite" => fd2_rewrite(),
        "stderr-lines" => stderr_lines(count()?),
        "stderr-flood" => stderr_flood(count()?),
        _ => return None,
    })
}

fn fd2() -> BorrowedFd<'static> {
    // SAFETY: descriptor 2 stays open for the probe's whole life.
    unsafe { BorrowedFd::borrow_raw(2) }
}

/// Reads fd 2's terminal modes and sets them back unchanged (what a
/// server changing the user's terminal does first).
fn fd2_tty() -> Outcome {
    let modes = nix::sys::termios::tcgetattr(fd2())?;
    nix::sys::termios::tcsetattr(fd2(), nix::sys::termios::SetArg::TCSANOW, &modes)?;
    Ok("terminal modes read and set".into())
}

/// Whether what the user types could be read from fd 2: opened for
/// reading, it could (not read here: a terminal would wait for input); a
/// write-only descriptor fails the read at once.
fn fd2_read() -> Outcome {
    let flags = nix::fcntl::fcntl(fd2(), nix::fcntl::FcntlArg::F_GETFL)?;
    if flags & libc::O_ACCMODE != libc::O_WRONLY {
        return Ok("fd 2 is open for reading".into());
    }
    let mut buf = [0u8; 1];
    nix::unistd::read(fd2(), &mut buf)?;
    Ok("read from fd 2".into())
}

/// Writes a line, tries to seek, truncate and overwrite fd 2 from its
/// start, writes another line. `ok` names what worked; `err` is lseek's
/// errno when nothing did.
fn fd2_rewrite() -> Outcome {
    let _ = std::io::stderr().write_all(b"probe: before the rewrite\n");
    let seek = nix::unistd::lseek(fd2(), 0, nix::unistd::Whence::SeekSet);
    let truncate = nix::unistd::ftruncate(fd2(), 0);
    let pwrite = nix::sys::uio::pwrite(fd2(), b"REWRITTEN\n", 0);
    let _ = std::io::stderr().write_all(b"probe: after the rewrite\n");
    let worked: Vec<&str> = [
        ("lseek", seek.is_ok()),
        ("ftruncate", truncate.is_ok()),
        ("pwrite", pwrite.is_ok()),
    ]
    .into_iter()
    .filter_map(|(name, ok)| ok.then_some(name))
    .collect();
    match seek {
        Err(e) if worked.is_empty() => Err(e),
        _ => Ok(worked.join(",")),
    }
}

/// The line `stderr-lines` writes as number `i`: colours, a title change
/// and a carriage return a terminal would act on.
fn escape_line(i: usize) -> String {
    format!("probe line {i:05} \x1b[31mred\x1b[0m \x1b]0;title\x07 cr\r end\n")
}

fn stderr_lines(n: usize) -> Outcome {
    let mut err = std::io::stderr().lock();
    for i in 0..n {
        err.write_all(escape_line(i).as_bytes()).map_err(io)?;
    }
    Ok(format!("{n} lines"))
}

/// The line `stderr-flood` writes as number `i` (100 bytes).
fn flood_line(i: usize) -> String {
    format!("flood {i:08} {}\n", "x".repeat(85))
}

/// Writes `n` lines as fast as it can, then exits: all must arrive.
fn stderr_flood(n: usize) -> Outcome {
    let mut err = std::io::stderr().lock();
    for i in 0..n {
        err.write_all(flood_line(i).as_bytes()).map_err(io)?;
    }
    Ok(format!("{n} lines"))
}

/// Runs `cmd` with `stderr`, stdin held open and stdout read, killing its
/// tree after the deadline, like `invoke::run_timed`.
fn run_with_stderr(mut cmd: Command, stderr: Stdio, what: String) -> Probe {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Probe {
                what,
                code: None,
                stdout: String::new(),
                stderr: format!("spawn: {e}"),
            };
        }
    };
    // The command holds the other end of `stderr` (a pty's side) until it
    // is dropped.
    drop(cmd);
    let stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        text
    });
    let ended = eventually(Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ended {
        kill_tree(child.id() as i32);
    }
    let status = child.wait().ok();
    drop(stdin);
    Probe {
        what,
        code: status.and_then(|s| s.code()),
        stdout: out.join().unwrap_or_default(),
        stderr: if ended {
            String::new()
        } else {
            "(killed)".into()
        },
    }
}

/// cordon's stderr is a file (`2> FILE`): the server cannot seek,
/// truncate or overwrite it (its fd 2 is a pipe: ESPIPE), and the file
/// holds cordon's lines, then the server's, intact and in order.
fn stderr_file_not_rewritable(w: &World) -> CaseResult {
    let file = w.at(&format!("stderr-{}.log", w.tag));
    let host_log = fs::File::create(&file).map_err(|e| e.to_string())?;
    let control = run_with_stderr(
        host_command(w, &["fd2-rewrite"]),
        Stdio::from(host_log),
        "[host, 2> file] fd2-rewrite".into(),
    );
    let worked = control.ok()?;
    ensure(worked == "lseek,ftruncate,pwrite", || {
        format!("control: on the host the probe rewrote only {worked:?}")
    })?;
    let log = fs::File::create(&file).map_err(|e| e.to_string())?;
    let run = run_with_stderr(
        w.sandbox().build(&[s(&w.probe), "--probe", "fd2-rewrite"]),
        Stdio::from(log),
        "[sandbox, 2> file] fd2-rewrite".into(),
    );
    run.errno("ESPIPE")?;
    let text = fs::read_to_string(&file).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| *l == needle);
    let cordon = lines.iter().position(|l| l.starts_with("cordon: "));
    let (before, after) = (
        at("probe: before the rewrite"),
        at("probe: after the rewrite"),
    );
    ensure(
        matches!((cordon, before, after), (Some(c), Some(b), Some(a)) if c < b && b < a)
            && !text.contains("REWRITTEN"),
        || {
            let shown: Vec<&str> = lines
                .iter()
                .filter(|l| !l.starts_with("  "))
                .copied()
                .collect();
            format!("ESCAPE: cordon's stderr file was rewritten or reordered: {shown:?}")
        },
    )?;
    Ok(())
}

/// The same file keeps the server's bytes verbatim (escape sequences and
/// all), every line, in order.
fn stderr_file_verbatim(w: &World) -> CaseResult {
    let file = w.at(&format!("stderr-lines-{}.log", w.tag));
    let log = fs::File::create(&file).map_err(|e| e.to_string())?;
    let run = run_with_stderr(
        w.sandbox()
            .build(&[s(&w.probe), "--probe", "stderr-lines", "200"]),
        Stdio::from(log),
        "[sandbox, 2> file] stderr-lines 200".into(),
    );
    run.ok()?;
    let text = fs::read_to_string(&file).map_err(|e| e.to_string())?;
    let expected: String = (0..200).map(escape_line).collect();
    ensure(text.contains(&expected), || {
        let server: Vec<&str> = text.lines().filter(|l| l.contains("probe line")).collect();
        format!(
            "the server's lines are not all there verbatim and in order ({} lines, the first: {:?})",
            server.len(),
            server.first()
        )
    })?;
    Ok(())
}

/// A pseudo-terminal: (the side cordon's stderr is, a reader of the
/// other side collecting everything written). The side given to cordon is
/// inheritable (openpty sets no close-on-exec): cordon also gets it as a
/// higher descriptor, as from a careless host.
fn pty() -> Result<(OwnedFd, std::thread::JoinHandle<Vec<u8>>), String> {
    let pty = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
    let mut master = fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once every holder of the other side has closed it.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    Ok((pty.slave, reader))
}

/// cordon's stderr is a terminal: the server's fd 2 is not one (it cannot
/// read or set its modes) and cannot be read (what the user types stays
/// cordon's); on the host, the same probe finds the terminal.
fn stderr_terminal_not_reachable(w: &World) -> CaseResult {
    let (slave, host_out) = pty()?;
    let control = run_with_stderr(
        host_command(w, &["fd2-tty"]),
        Stdio::from(slave),
        "[host, 2> pty] fd2-tty".into(),
    );
    control.ok()?;
    drop(host_out);
    for action in ["fd2-tty", "fd2-read"] {
        let (slave, output) = pty()?;
        let run = run_with_stderr(
            w.sandbox().build(&[s(&w.probe), "--probe", action]),
            Stdio::from(slave),
            format!("[sandbox, 2> pty] {action}"),
        );
        let errno = if action == "fd2-tty" {
            "ENOTTY"
        } else {
            "EBADF"
        };
        run.errno(errno)?;
        drop(output);
    }
    Ok(())
}

/// On a terminal the server's escape sequences arrive escaped, every line
/// in order; cordon's own lines are there too.
fn stderr_terminal_escaped(w: &World) -> CaseResult {
    let (slave, output) = pty()?;
    let run = run_with_stderr(
        w.sandbox()
            .build(&[s(&w.probe), "--probe", "stderr-lines", "50"]),
        Stdio::from(slave),
        "[sandbox, 2> pty] stderr-lines 50".into(),
    );
    run.ok()?;
    let bytes = output
        .join()
        .map_err(|_| "the pty reader panicked".to_owned())?;
    // The terminal turns each newline into CR LF.
    let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
    let expected: String = (0..50)
        .map(|i| format!("probe line {i:05} \\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 cr\\r end\n"))
        .collect();
    ensure(text.contains(&expected), || {
        let server: Vec<&str> = text.lines().filter(|l| l.contains("probe line")).collect();
        format!(
            "the server's lines did not arrive escaped and in order ({} lines, the first: {:?})",
            server.len(),
            server.first()
        )
    })?;
    let raw = text
        .lines()
        .filter(|l| l.starts_with("probe line"))
        .find(|l| l.contains(['\x1b', '\x07', '\r']));
    ensure(raw.is_none(), || {
        format!("ESCAPE: a control character reached the terminal: {raw:?}")
    })?;
    ensure(text.starts_with("cordon: "), || {
        let head: String = text.chars().take(200).collect();
        format!("cordon's own lines are missing or not first: {head:?}")
    })?;
    Ok(())
}

/// A server that writes 5 MB to stderr and exits: every line arrives, in
/// order (cordon drains the pipe before it exits).
fn stderr_nothing_lost(w: &World) -> CaseResult {
    let n = 50_000;
    let run = w.sandbox().probe(&["stderr-flood", &n.to_string()]);
    run.ok()?;
    let expected: String = (0..n).map(flood_line).collect();
    ensure(run.stderr.contains(&expected), || {
        let got = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("flood "))
            .count();
        format!("{got} of {n} lines arrived whole and in order")
    })?;
    Ok(())
}

/// `vet` reads the server's stderr to report the sandbox's denials: it
/// gets them through the same relay, even one written just before the
/// answer it waits for.
fn stderr_reaches_vet(w: &World) -> CaseResult {
    let init = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"sh","version":"1"}}}"#;
    let script = format!(
        "read -r line; echo 'cat: /etc/shadow: Permission denied' >&2; printf '%s\\n' '{init}'; cat >/dev/null"
    );
    let mut args = vec!["vet", "--yes", "--json"];
    if !w.ns {
        args.push("--no-namespaces");
    }
    args.extend(["--", "sh", "-c", &script]);
    let run = run_with_stderr(w.env.cordon(&args), Stdio::null(), "[vet] sh".into());
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .map_err(|e| format!("vet printed no report ({e}): {}", run.describe()))?;
    ensure(report["server_name"] == "sh", || {
        format!("control: vet did not talk to the server: {report}")
    })?;
    let denials = report["denials"].to_string();
    ensure(denials.contains("/etc/shadow: Permission denied"), || {
        format!("vet did not see the server's stderr: {report}")
    })?;
    Ok(())
}

/// (device, inode) of what `path` opens.
fn identity(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Every descriptor of `pid` that is the file `target`.
fn holding(pid: i32, target: (u64, u64)) -> Vec<String> {
    let dir = format!("/proc/{pid}/fd");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| identity(&e.path().to_string_lossy()) == Some(target))
        .map(|e| format!("{pid}:{}", e.file_name().to_string_lossy()))
        .collect()
}

/// Seen from the host, while the server runs: cordon's stderr is the
/// terminal (the control), and no process of the sandbox (init, the
/// server) holds any descriptor of it.
fn sandbox_holds_no_cordon_terminal(w: &World) -> CaseResult {
    let (slave, output) = pty()?;
    let target = identity(&format!("/proc/self/fd/{}", slave.as_raw_fd()))
        .ok_or_else(|| "cannot stat the pty".to_owned())?;
    let mut cmd = w.sandbox().build(&["sh", "-c", "read line"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave));
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    drop(cmd);
    let wrapper = child.id() as i32;
    let below = |pid: i32| {
        let mut all = vec![pid];
        let mut i = 0;
        while let Some(&p) = all.get(i) {
            all.extend(crate::invoke::children(p));
            i += 1;
        }
        all.split_off(1)
    };
    let cordon = cordon_pid(wrapper);
    // init, and the server executed (until then it is a copy of init).
    let executed = |pid: &i32| {
        fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|exe| exe.file_name().is_some_and(|n| n != "cordon"))
    };
    let started = cordon.is_some_and(|c| {
        eventually(Duration::from_secs(10), || {
            let all = below(c);
            all.len() >= 2 && all.iter().any(executed)
        })
    });
    let sandbox = cordon.map(below).unwrap_or_default();
    let held: Vec<String> = sandbox.iter().flat_map(|&p| holding(p, target)).collect();
    let control = cordon.map(|c| holding(c, target)).unwrap_or_default();
    drop(child.stdin.take());
    let ended = eventually(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ended {
        kill_tree(wrapper);
    }
    let _ = child.wait();
    drop(output);
    ensure(started, || {
        format!("control: the sandbox did not start: {sandbox:?}")
    })?;
    ensure(control.iter().any(|d| d.ends_with(":2")), || {
        format!("control: cordon's stderr is not the terminal: {control:?}")
    })?;
    ensure(held.is_empty(), || {
        format!("ESCAPE: the sandbox ({sandbox:?}) holds cordon's terminal: {held:?}")
    })?;
    Ok(())
}

/// One field of the `caps` probe's answer.
fn cap_count(answer: &str, set: &str) -> Result<usize, String> {
    answer
        .split_whitespace()
        .find_map(|f| f.strip_prefix(&format!("{set}=")))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no {set} in {answer:?}"))
}

/// The server holds no capability: its effective, permitted, inheritable
/// and ambient sets are empty (as root too, and as the root of a user
/// namespace), and its bounding set is empty wherever cordon may drop it
/// (root, or inside a user namespace). Control: the same probe on the
/// host reports a bounding set that is not empty.
fn capability_sets_are_empty(w: &World) -> CaseResult {
    let host = w.host(&["caps"]).ok()?;
    ensure(cap_count(&host, "bounding")? > 0, || {
        format!("control: the host's bounding set is already empty ({host})")
    })?;
    let inside = w.sandbox().probe(&["caps"]).ok()?;
    for set in ["effective", "permitted", "inheritable", "ambient"] {
        let n = cap_count(&inside, set)?;
        ensure(n == 0, || {
            format!("ESCAPE: {set} set of {n} inside: {inside}")
        })?;
    }
    let droppable = w.ns || nix::unistd::getuid().is_root() && w.user() == User::Current;
    if droppable {
        let n = cap_count(&inside, "bounding")?;
        ensure(n == 0, || {
            format!("ESCAPE: bounding set of {n} inside: {inside}")
        })?;
    }
    Ok(())
}
