//! Escapes through other processes and through what the server inherits:
//! ptrace and process_vm_readv of cordon, signals to and visibility of a
//! host process, a setuid binary, an inherited descriptor, the
//! environment, resource limits, a fork bomb, a grandchild that tries to
//! outlive cordon, and the hostname.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::invoke::{cordon_pid, host_command, kill_tree, run_timed, sigkill, with_fd3};
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
        Case::new("inherited_fd_closed", Only::Both, inherited_fd_closed),
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
