//! The system call filter: namespaces, mounts and the kernel's rarely used
//! interfaces fail with EPERM, `clone3` with ENOSYS, terminal injection
//! ioctls with EPERM whatever their high bits, and a call through the x32
//! ABI kills the process.
//!
//! For calls that are simply denied, the control is the same probe on the
//! host: its arguments make the call fail there with another errno (or
//! succeed), so the EPERM inside can only be the filter's.

use crate::world::{Case, CaseResult, Failure, Only, World, ensure};

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

/// Neighbour: memfd_create, anonymous kernel objects without bpf.
fn bpf(w: &World) -> CaseResult {
    filtered(w, "bpf", "memfd")
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
