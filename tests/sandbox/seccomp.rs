//! The system call filter: namespaces, mounts and the kernel's rarely used
//! interfaces fail with EPERM, `clone3` with ENOSYS, terminal injection
//! ioctls with EPERM whatever their high bits, and a call through the x32
//! ABI kills the process.
//!
//! Also: no set-user-ID or set-group-ID file and no file capability in a
//! writable grant, in every mode; without namespaces, no change of any
//! file's mode, owner, times or attributes, and none of the host's System
//! V IPC or POSIX message queues; no code run from a memfd. These cases
//! check the host's side of the file after each attempt.
//!
//! For calls that are simply denied, the control is the same probe on the
//! host: its arguments make the call fail there with another errno (or
//! succeed), so the EPERM inside can only be the filter's.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::world::{Case, CaseResult, Failure, Only, World, ensure, s};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("unshare_user_namespace", Only::Both, unshare_user_namespace),
        Case::new(
            "clone_new_user_namespace",
            Only::Both,
            clone_new_user_namespace,
        ),
        Case::new("clone3_is_enosys", Only::Both, clone3_is_enosys),
        Case::new("mount_tmpfs", Only::Both, mount_tmpfs),
        Case::new("keyctl", Only::Both, keyctl),
        Case::new("bpf", Only::Both, bpf),
        Case::new("perf_event_open", Only::Both, perf_event_open),
        Case::new("userfaultfd", Only::Both, userfaultfd),
        Case::new("io_uring_setup", Only::Both, io_uring_setup),
        Case::new("personality", Only::Both, personality),
        Case::new("name_to_handle_at", Only::Both, name_to_handle_at),
        Case::new("tiocsti_and_tioclinux", Only::Both, tiocsti_and_tioclinux),
        #[cfg(target_arch = "x86_64")]
        Case::new("x32_syscall_kills", Only::Both, x32_syscall_kills),
        Case::new(
            "one_program_keeps_each_answer",
            Only::Both,
            one_program_keeps_each_answer,
        ),
        Case::new(
            "setuid_file_in_writable_grant",
            Only::Both,
            setuid_file_in_writable_grant,
        ),
        Case::new("set_id_bits_every_call", Only::Both, set_id_bits_every_call),
        Case::new("file_capabilities", Only::Both, file_capabilities),
        Case::new(
            "metadata_outside_grants",
            Only::Both,
            metadata_outside_grants,
        ),
        Case::new("metadata_every_call", Only::Both, metadata_every_call),
        Case::new(
            "metadata_in_writable_grant",
            Only::Both,
            metadata_in_writable_grant,
        ),
        Case::new("metadata_of_dev_null", Only::Ns, metadata_of_dev_null),
        Case::new("host_sysv_ipc", Only::Both, host_sysv_ipc),
        Case::new("host_ipc_every_kind", Only::Both, host_ipc_every_kind),
        Case::new("memfd_exec", Only::Both, memfd_exec),
        Case::new("memfd_exec_variants", Only::Both, memfd_exec_variants),
    ]
}

/// Control: a plain fork (clone without namespace flags) works inside.
fn fork_works(w: &World) -> CaseResult {
    w.sandbox().probe(&["fork"]).ok()?;
    Ok(())
}

fn unshare_user_namespace(w: &World) -> CaseResult {
    w.sandbox().probe(&["unshare-user"]).errno("EPERM")?;
    fork_works(w)
}

fn clone_new_user_namespace(w: &World) -> CaseResult {
    w.sandbox().probe(&["clone-newuser"]).errno("EPERM")?;
    fork_works(w)
}

/// ENOSYS makes libc fall back to `clone`, whose flags the filter reads:
/// spawning a program still works inside, and clone3 works on the host.
fn clone3_is_enosys(w: &World) -> CaseResult {
    w.host(&["clone3"]).ok()?;
    w.sandbox().probe(&["clone3"]).errno("ENOSYS")?;
    let ran = w.sandbox().probe(&["exec", "/usr/bin/true"]).ok()?;
    ensure(ran.starts_with("exit 0"), || {
        format!("/usr/bin/true inside: {ran}")
    })?;
    Ok(())
}

/// Mounting over the private /tmp fails; writing into it works.
fn mount_tmpfs(w: &World) -> CaseResult {
    w.sandbox()
        .probe(&["mount-tmpfs", "$TMPDIR"])
        .errno("EPERM")?;
    w.sandbox().probe(&["write", "$TMPDIR/control.txt"]).ok()?;
    Ok(())
}

/// EPERM inside, while on the host the same call is not EPERM; inside, a
/// neighbouring call the filter leaves alone works.
fn filtered(w: &World, action: &str, neighbour: &str) -> CaseResult {
    filtered_with(w, &[action], &[neighbour])
}

fn filtered_with(w: &World, action: &[&str], neighbour: &[&str]) -> CaseResult {
    w.host(action).not_errno("EPERM")?;
    w.sandbox().probe(action).errno("EPERM")?;
    w.sandbox().probe(neighbour).ok()?;
    Ok(())
}

/// READ_IMPLIES_EXEC (0x0400000) makes every readable mapping executable;
/// only the query (0xffffffff) and PER_LINUX pass.
fn personality(w: &World) -> CaseResult {
    filtered_with(w, &["personality", "0400000"], &["personality", "ffffffff"])
}

/// File handles reopen files by inode, around Landlock's path checks and
/// the mount tree. Neighbour: reading the same file by its path.
fn name_to_handle_at(w: &World) -> CaseResult {
    filtered_with(
        w,
        &["name-to-handle", "/etc/passwd"],
        &["read", "/etc/passwd"],
    )
}

/// Neighbour: getrandom, the kernel's other source of secrets.
fn keyctl(w: &World) -> CaseResult {
    filtered(w, "keyctl", "getrandom")
}

/// Neighbour: eventfd, an anonymous kernel object without bpf.
fn bpf(w: &World) -> CaseResult {
    filtered(w, "bpf", "eventfd")
}

/// Neighbour: getrusage, measuring oneself without perf.
fn perf_event_open(w: &World) -> CaseResult {
    filtered(w, "perf-event-open", "getrusage")
}

/// Neighbour: eventfd, another anonymous descriptor.
fn userfaultfd(w: &World) -> CaseResult {
    filtered(w, "userfaultfd", "eventfd")
}

/// Also EPERM on the host when io_uring is switched off by sysctl: then
/// the case cannot tell the filter's answer from the kernel's.
fn io_uring_setup(w: &World) -> CaseResult {
    if w.host(&["io-uring-setup"]).errno("EPERM").is_ok() {
        let sysctl =
            std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
        let why = format!(
            "kernel has io_uring disabled (kernel.io_uring_disabled = {})",
            sysctl.trim()
        );
        return Err(Failure::Skip(why));
    }
    // Neighbour: epoll, asynchronous I/O the old way.
    filtered(w, "io-uring-setup", "epoll")
}

/// TIOCSTI and TIOCLINUX on stdin fail, also with high bits set in the
/// request (the kernel reads 32 bits); FIONREAD on stdin is not filtered.
fn tiocsti_and_tioclinux(w: &World) -> CaseResult {
    for request in ["5412", "100005412", "541c", "ffffffff0000541c"] {
        w.sandbox().probe(&["ioctl", "0", request]).errno("EPERM")?;
    }
    w.sandbox()
        .probe(&["ioctl", "0", "541b"])
        .not_errno("EPERM")?;
    Ok(())
}

/// `syscall(0x40000000 | SYS_getpid)` kills the server with SIGSYS (cordon
/// exits 128+31), while the plain getpid answers.
#[cfg(target_arch = "x86_64")]
fn x32_syscall_kills(w: &World) -> CaseResult {
    let run = w.sandbox().probe(&["x32-getpid"]);
    ensure(run.code == Some(128 + 31) && run.stdout.is_empty(), || {
        format!("expected death by SIGSYS (exit 159): {}", run.describe())
    })?;
    w.sandbox().probe(&["getpid"]).ok()?;
    Ok(())
}

/// The layer's parts are linked into one program that must answer what
/// separate filters answered: a profile that denies `openat2` (also a
/// fixed ENOSYS answer) gets the deny list's EPERM, as when the deny list
/// was the filter installed last; under `--explain` (path calls are
/// notified, then continued) a set-ID creation is still refused and an
/// x32 call still kills. Controls: without the profile's entry openat2 is
/// ENOSYS; a plain creation works under `--explain`.
fn one_program_keeps_each_answer(w: &World) -> CaseResult {
    let denied = w.profile("deny-openat2", "[seccomp]\ndeny = [\"openat2\"]\n");
    let path = w.rw.join("openat2-denied");
    w.sandbox()
        .profile(&denied)
        .rw(&w.rw)
        .probe(&["mkfile", "openat2", s(&path), "644"])
        .errno("EPERM")?;
    w.sandbox()
        .rw(&w.rw)
        .probe(&["mkfile", "openat2", s(&path), "644"])
        .errno("ENOSYS")?;

    let suid = w.rw.join("explain-suid");
    let run =
        w.sandbox()
            .rw(&w.rw)
            .flags(&["--explain"])
            .probe(&["mkfile", "openat", s(&suid), "4755"]);
    no_set_id(&suid)?;
    run.errno("EPERM")?;
    let plain = w.rw.join("explain-plain");
    let made = w
        .sandbox()
        .rw(&w.rw)
        .flags(&["--explain"])
        .probe(&["mkfile", "openat", s(&plain), "755"])
        .ok()?;
    ensure(made == "mode 755", || format!("created {made}"))?;

    let run = w.sandbox().flags(&["--explain"]).probe(&["x32-getpid"]);
    ensure(run.code == Some(128 + 31) && run.stdout.is_empty(), || {
        format!(
            "expected death by SIGSYS (exit 159) under --explain: {}",
            run.describe()
        )
    })?;
    Ok(())
}

// ---- Set-ID files, file metadata, host IPC, memfd execution ----

/// The host's view of a file: permission bits with the set-ID bits,
/// owner, modification time.
fn stat(path: &Path) -> Option<(u32, u32, i64, i64)> {
    let m = fs::symlink_metadata(path).ok()?;
    Some((m.mode() & 0o7777, m.uid(), m.mtime(), m.mtime_nsec()))
}

/// On the host, `path` is absent or has neither set-ID bit.
fn no_set_id(path: &Path) -> Result<(), String> {
    match stat(path) {
        Some((mode, uid, ..)) if mode & 0o6000 != 0 => Err(format!(
            "ESCAPE: {} has mode {mode:o} (owner uid {uid}) on the host",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// The host's value of the extended attribute `name` of `path`, if any.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = std::ffi::CString::new(s(path)).ok()?;
    let c_name = std::ffi::CString::new(name).ok()?;
    let mut buf = [0u8; 256];
    // SAFETY: both strings are NUL-terminated; buf is a live buffer of the
    // size passed.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// A server makes a set-user-ID file in its writable grant, by creating it
/// so or by `chmod` on a file of its own: EPERM in every mode, and on the
/// host no such file exists (as root, it would be a setuid-root file).
/// Control: creating an executable file works; on the host the probe does
/// make a set-user-ID file.
fn setuid_file_in_writable_grant(w: &World) -> CaseResult {
    let suid = w.rw.join("suid");
    let run = w
        .sandbox()
        .rw(&w.rw)
        .probe(&["mkfile", "openat", s(&suid), "4755"]);
    no_set_id(&suid)?;
    run.errno("EPERM")?;
    let own = w.rw.join("own");
    let made = w
        .sandbox()
        .rw(&w.rw)
        .probe(&["mkfile", "openat", s(&own), "755"])
        .ok()?;
    ensure(made == "mode 755", || format!("created {made}"))?;
    let run = w
        .sandbox()
        .rw(&w.rw)
        .probe(&["meta", "fchmodat", s(&own), "4755"]);
    no_set_id(&own)?;
    run.errno("EPERM")?;
    host_makes_set_id(w, "openat", "4755")
}

/// The host control: the probe, unconfined, creates a set-ID file with
/// `op` (then removed).
fn host_makes_set_id(w: &World, op: &str, mode: &str) -> CaseResult {
    let path = w.rw.join(format!("host-{op}-{mode}"));
    let made = w.host(&["mkfile", op, s(&path), mode]).ok();
    let _ = fs::remove_file(&path);
    let made = made?;
    ensure(made == format!("mode {mode}"), || {
        format!("on the host, {op} made {made}")
    })?;
    Ok(())
}

/// Every call that creates a file (`open`, `openat`, `creat`, `mknod`,
/// `mknodat`, `O_TMPFILE`) with S_ISUID or S_ISGID, and every call that
/// sets a mode (`chmod`, `fchmod`, `fchmodat`, `fchmodat2`), fails with
/// EPERM; `openat2`, whose mode the filter cannot read, fails with ENOSYS
/// (libc falls back to `openat`). Controls: an O_TMPFILE file without
/// the bits works inside; with namespaces a plain `chmod` of a file in
/// the grant works; on the host `mknodat` makes a set-group-ID file.
fn set_id_bits_every_call(w: &World) -> CaseResult {
    let creators: &[&str] = &[
        "openat",
        "mknodat",
        "tmpfile",
        #[cfg(target_arch = "x86_64")]
        "open",
        #[cfg(target_arch = "x86_64")]
        "creat",
        #[cfg(target_arch = "x86_64")]
        "mknod",
    ];
    for op in creators {
        for mode in ["4755", "2770", "6711"] {
            let path = w.rw.join(format!("{op}-{mode}"));
            let target = if *op == "tmpfile" { &w.rw } else { &path };
            let run = w
                .sandbox()
                .rw(&w.rw)
                .probe(&["mkfile", op, s(target), mode]);
            no_set_id(&path)?;
            run.errno("EPERM")
                .map_err(|e| format!("{op} with mode {mode}: {e}"))?;
        }
    }
    let path = w.rw.join("openat2");
    let run = w
        .sandbox()
        .rw(&w.rw)
        .probe(&["mkfile", "openat2", s(&path), "4755"]);
    no_set_id(&path)?;
    run.errno("ENOSYS")?;
    let made = w
        .sandbox()
        .rw(&w.rw)
        .probe(&["mkfile", "tmpfile", s(&w.rw), "640"])
        .ok()?;
    ensure(made == "mode 640", || format!("O_TMPFILE made {made}"))?;

    let own = w.rw.join("own");
    w.sandbox().rw(&w.rw).probe(&["write", s(&own)]).ok()?;
    let setters: &[&str] = &[
        "fchmod",
        "fchmodat",
        "fchmodat2",
        #[cfg(target_arch = "x86_64")]
        "chmod",
    ];
    for op in setters {
        for mode in ["4755", "2755"] {
            let run = w.sandbox().rw(&w.rw).probe(&["meta", op, s(&own), mode]);
            no_set_id(&own)?;
            run.errno("EPERM")
                .map_err(|e| format!("{op} to mode {mode}: {e}"))?;
        }
    }
    if w.ns {
        w.sandbox()
            .rw(&w.rw)
            .probe(&["meta", "fchmodat", s(&own), "700"])
            .ok()?;
    }
    host_makes_set_id(w, "mknodat", "2755")
}

/// File capabilities are the extended attribute `security.capability`:
/// setting it (or any attribute: the filter cannot read the name) fails
/// with EOPNOTSUPP by every call, in every mode, on a file of the server's own
/// in its writable grant. (The kernel also wants CAP_SETFCAP, which
/// cordon drops: the filter is the second wall.) Controls: writing the
/// file works inside; on the host the probe sets a `user.` attribute and,
/// as root, the capability.
fn file_capabilities(w: &World) -> CaseResult {
    let own = w.rw.join("capable");
    w.sandbox().rw(&w.rw).probe(&["write", s(&own)]).ok()?;
    for op in ["setxattr", "lsetxattr", "fsetxattr", "setxattrat"] {
        for name in ["security.capability", "user.cordon"] {
            let run = w.sandbox().rw(&w.rw).probe(&["meta", op, s(&own), name]);
            ensure(xattr(&own, name).is_none(), || {
                format!("ESCAPE: {op} set {name} on the host's {}", own.display())
            })?;
            run.errno("EOPNOTSUPP")
                .map_err(|e| format!("{op} {name}: {e}"))?;
        }
    }
    w.host(&["meta", "setxattr", s(&own), "user.cordon"]).ok()?;
    if w.uid() == 0 {
        let capable = w.host(&["meta", "setxattr", s(&own), "security.capability"]);
        let _ = fs::remove_file(&own);
        capable.ok()?;
    }
    Ok(())
}

/// Without namespaces the server names the host's own files, and
/// Landlock does not cover `chmod`: opening up `~/.ssh` (never granted)
/// must fail, with EPERM from the filter; with namespaces `~/.ssh` is not
/// in the sandbox at all. On the host its mode stays. Controls: the same
/// call works on the host; reading a read-only grant works inside.
fn metadata_outside_grants(w: &World) -> CaseResult {
    let ssh = w.env.home.join(".ssh");
    let before = stat(&ssh).ok_or_else(|| "no ~/.ssh in the test's home".to_owned())?;
    for (op, arg) in [("fchmodat", "777"), ("utimensat", ""), ("fchownat", "")] {
        let run = w.sandbox().probe(&["meta", op, s(&ssh), arg]);
        ensure(stat(&ssh) == Some(before), || {
            format!(
                "ESCAPE: {op} changed ~/.ssh on the host: {before:?} -> {:?}",
                stat(&ssh)
            )
        })?;
        if w.ns {
            run.err()?;
        } else {
            run.errno("EPERM")?;
        }
    }
    let mode = format!("{:o}", before.0);
    w.host(&["meta", "fchmodat", s(&ssh), &mode]).ok()?;
    w.sandbox()
        .ro(&w.ro)
        .probe(&["read", s(&w.ro.join("data.txt"))])
        .ok()?;
    Ok(())
}

/// Every call that changes a file's mode, owner, times, attribute flags
/// (`chattr`) or extended attributes, on a file of a read-only grant (the file belongs to the
/// server's user, so only the sandbox can refuse). Without namespaces:
/// EPERM from the filter. With namespaces: EROFS from the read-only bind
/// mount. Attribute writes: EOPNOTSUPP from the filter in every mode. On the host the file's mode, owner, times and attributes stay.
/// Control: every call works (or fails other than EPERM) on the host.
fn metadata_every_call(w: &World) -> CaseResult {
    let data = w.ro.join("data.txt");
    let before = stat(&data).ok_or_else(|| "no data.txt in the read-only grant".to_owned())?;
    let mode = format!("{:o}", before.0);
    let calls: &[(&str, &str)] = &[
        ("fchmod", &mode),
        ("fchmodat", &mode),
        ("fchmodat2", &mode),
        ("fchown", ""),
        ("fchownat", ""),
        ("utimensat", ""),
        ("futimens", ""),
        ("setxattr", "user.cordon"),
        ("lsetxattr", "user.cordon"),
        ("fsetxattr", "user.cordon"),
        ("setxattrat", "user.cordon"),
        ("removexattr", "user.cordon"),
        ("lremovexattr", "user.cordon"),
        ("fremovexattr", "user.cordon"),
        ("removexattrat", "user.cordon"),
        ("setflags", ""),
        #[cfg(target_arch = "x86_64")]
        ("chmod", &mode),
        #[cfg(target_arch = "x86_64")]
        ("chown", ""),
        #[cfg(target_arch = "x86_64")]
        ("lchown", ""),
        #[cfg(target_arch = "x86_64")]
        ("utime", ""),
        #[cfg(target_arch = "x86_64")]
        ("utimes", ""),
        #[cfg(target_arch = "x86_64")]
        ("futimesat", ""),
    ];
    for &(op, arg) in calls {
        let run = w.sandbox().ro(&w.ro).probe(&["meta", op, s(&data), arg]);
        ensure(
            stat(&data) == Some(before) && xattr(&data, "user.cordon").is_none(),
            || format!("ESCAPE: {op} changed the host's {}", data.display()),
        )?;
        let expected = if op.contains("setxattr") {
            "EOPNOTSUPP"
        } else if w.ns {
            "EROFS"
        } else {
            "EPERM"
        };
        run.errno(expected).map_err(|e| format!("{op}: {e}"))?;
    }
    for &(op, arg) in calls {
        w.host(&["meta", op, s(&data), arg])
            .not_errno("EPERM")
            .map_err(|e| format!("host control {op}: {e}"))?;
    }
    Ok(())
}

/// The price of `--no-namespaces`: the filter cannot tell a granted file
/// from another, so mode, owner and time changes fail even in a writable
/// grant (with namespaces they work there). Control without namespaces:
/// writing the file works.
fn metadata_in_writable_grant(w: &World) -> CaseResult {
    let own = w.rw.join("own");
    w.sandbox().rw(&w.rw).probe(&["write", s(&own)]).ok()?;
    for (op, arg) in [
        ("fchmodat", "600"),
        ("fchmod", "640"),
        ("utimensat", ""),
        ("fchownat", ""),
    ] {
        let run = w.sandbox().rw(&w.rw).probe(&["meta", op, s(&own), arg]);
        if w.ns {
            run.ok().map_err(|e| format!("{op}: {e}"))?;
        } else {
            run.errno("EPERM").map_err(|e| format!("{op}: {e}"))?;
        }
    }
    Ok(())
}

/// /dev/null inside is the host's device node, bound read-only: its mode
/// and owner cannot change (as root, its owner, they otherwise would).
/// The mode asked for is its own, so nothing on the host changes even on
/// failure. Control: writing to it works.
fn metadata_of_dev_null(w: &World) -> CaseResult {
    for (op, arg) in [("fchmodat", "666"), ("fchownat", "")] {
        w.sandbox()
            .probe(&["meta", op, "/dev/null", arg])
            .err()
            .map_err(|e| format!("{op}: {e}"))?;
    }
    w.sandbox().probe(&["write", "/dev/null"]).ok()?;
    w.sandbox().probe(&["read-head", "/dev/urandom"]).ok()?;
    Ok(())
}

/// A System V IPC key of this mode's own.
fn ipc_key(w: &World) -> String {
    (0x0c00_0000 + w.tag.parse::<i32>().unwrap_or(0) % 0x0010_0000).to_string()
}

/// Runs `check` with the host's IPC objects for this mode planted (by the
/// mode's user), and removes them after.
fn with_host_ipc(w: &World, check: impl FnOnce(&str) -> CaseResult) -> CaseResult {
    let key = ipc_key(w);
    let _ = w.host(&["ipc-remove", &key]);
    w.host(&["ipc-plant", &key]).ok()?;
    let outcome = check(&key);
    let _ = w.host(&["ipc-remove", &key]);
    outcome
}

/// The errno a server gets for the host's IPC objects: the filter's EPERM
/// without namespaces; with them its own IPC namespace has no such key.
fn ipc_errno(w: &World) -> &'static str {
    if w.ns { "ENOENT" } else { "EPERM" }
}

/// The host's shared memory segment cannot be read, nor its message
/// queue drained. Controls: on the host afterwards, the secret is read
/// and the message is still there to drain; inside, with namespaces a
/// segment of its own works, without them a socket pair does.
fn host_sysv_ipc(w: &World) -> CaseResult {
    with_host_ipc(w, |key| {
        w.sandbox().probe(&["shm-read", key]).errno(ipc_errno(w))?;
        w.sandbox().probe(&["msg-drain", key]).errno(ipc_errno(w))?;
        let read = w.host(&["shm-read", key]).ok()?;
        ensure(read.contains("host secret"), || format!("host read {read}"))?;
        let drained = w.host(&["msg-drain", key]).ok()?;
        ensure(drained.contains("host message"), || {
            format!("host drained {drained}")
        })?;
        if w.ns {
            w.sandbox().probe(&["shm-private"]).ok()?;
        } else {
            w.sandbox().probe(&["socketpair"]).ok()?;
        }
        Ok(())
    })
}

/// The host's semaphores and POSIX message queues are out of reach too,
/// and without namespaces even a private segment is refused (the filter
/// cannot tell it from the host's). Controls: both work on the host.
fn host_ipc_every_kind(w: &World) -> CaseResult {
    with_host_ipc(w, |key| {
        w.sandbox().probe(&["sem-get", key]).errno(ipc_errno(w))?;
        w.sandbox().probe(&["mq-read", key]).errno(ipc_errno(w))?;
        if !w.ns {
            w.sandbox().probe(&["shm-private"]).errno("EPERM")?;
        }
        w.host(&["sem-get", key]).ok()?;
        let received = w.host(&["mq-read", key]).ok()?;
        ensure(received.contains("host message"), || {
            format!("host received {received}")
        })?;
        Ok(())
    })
}

/// Code copied into a memfd and run by `execveat(fd, "", AT_EMPTY_PATH)`:
/// Landlock lets a memfd through, so the filter refuses memfds that could
/// be made executable. Controls: on the host the probe runs it; inside a
/// granted binary runs.
fn memfd_exec(w: &World) -> CaseResult {
    w.host(&["memfd-exec", "0", "execveat"]).ok()?;
    w.sandbox()
        .probe(&["memfd-exec", "0", "execveat"])
        .errno("EPERM")?;
    let ran = w.sandbox().probe(&["exec", "/usr/bin/true"]).ok()?;
    ensure(ran.starts_with("exit 0"), || {
        format!("/usr/bin/true inside: {ran}")
    })?;
    Ok(())
}

/// Through `/proc/self/fd/N`, with MFD_CLOEXEC or MFD_EXEC: EPERM. A memfd
/// created with MFD_NOEXEC_SEAL is allowed and cannot run (EACCES, the
/// kernel's own answer, also on the host). A profile that lists
/// `memfd_create` in `seccomp.allow` gets executable memfds back.
fn memfd_exec_variants(w: &World) -> CaseResult {
    for (flags, how) in [("1", "proc"), ("10", "execveat"), ("11", "proc")] {
        w.host(&["memfd-exec", flags, how]).ok()?;
        w.sandbox()
            .probe(&["memfd-exec", flags, how])
            .errno("EPERM")
            .map_err(|e| format!("flags {flags} by {how}: {e}"))?;
    }
    for how in ["proc", "execveat"] {
        w.host(&["memfd-exec", "9", how]).errno("EACCES")?;
        w.sandbox()
            .probe(&["memfd-exec", "9", how])
            .errno("EACCES")?;
    }
    let profile = w.profile("memfd", "[seccomp]\nallow = [\"memfd_create\"]\n");
    w.sandbox()
        .profile(&profile)
        .probe(&["memfd-exec", "0", "execveat"])
        .ok()?;
    Ok(())
}
