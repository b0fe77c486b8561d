//! The probe's raw system calls: other processes, namespaces, the kernel's
//! rarely used interfaces, descriptors and resource limits. Each call's
//! arguments are chosen so that, without cordon's filter, it fails with a
//! well-known errno other than EPERM (or succeeds): EPERM then can only
//! come from the filter.

use libc::{c_long, pid_t};
use nix::errno::Errno;

use crate::probe::Outcome;
use crate::probe_meta;

/// The action `action`, or `None` when this file does not know it.
pub fn act(action: &str, args: &[String]) -> Option<Outcome> {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    Some(match action {
        "ptrace-attach" => ptrace_attach(target(arg(0))?),
        "ptrace-child" => ptrace_child(),
        "vm-read" => vm_read(target(arg(0))?),
        "kill" => kill(arg(0).parse().ok()?, arg(1).parse().ok()?),
        "kill-child" => kill_child(),
        "unshare-user" => ret(sys(
            libc::SYS_unshare,
            [libc::CLONE_NEWUSER as c_long, 0, 0],
        )),
        "clone-newuser" => raw_clone((libc::CLONE_NEWUSER | libc::SIGCHLD) as c_long),
        "fork" => raw_clone(libc::SIGCHLD as c_long),
        "clone3" => clone3(),
        "socket" => socket(
            arg(0).parse().ok()?,
            arg(1).parse().ok()?,
            arg(2).parse().ok()?,
        ),
        "mount-tmpfs" => mount_tmpfs(arg(0)),
        "keyctl" => ret(sys(libc::SYS_keyctl, [9999, 0, 0])),
        "bpf" => bpf(),
        "perf-event-open" => perf_event_open(),
        "userfaultfd" => ret(sys(libc::SYS_userfaultfd, [1 | 2, 0, 0])),
        "io-uring-setup" => io_uring_setup(),
        "ioctl" => ioctl(arg(0).parse().ok()?, parse_hex(arg(1))?),
        #[cfg(target_arch = "x86_64")]
        "x32-getpid" => ret(sys(0x4000_0000 | libc::SYS_getpid, [0, 0, 0])),
        "getpid" => ret(sys(libc::SYS_getpid, [0, 0, 0])),
        "getrandom" => getrandom(),
        "personality" => ret(sys(
            libc::SYS_personality,
            [parse_hex(arg(0))? as c_long, 0, 0],
        )),
        "name-to-handle" => name_to_handle(arg(0)),
        "getrusage" => getrusage(),
        "memfd" => close_fd(sys(
            libc::SYS_memfd_create,
            [c"probe".as_ptr() as c_long, 0, 0],
        )),
        // File metadata, set-ID files, System V IPC, memfd execution.
        "meta" => probe_meta::meta(arg(0), arg(1), arg(2))?,
        "mkfile" => probe_meta::mkfile(arg(0), arg(1), arg(2))?,
        "ipc-plant" => probe_meta::ipc_plant(arg(0)),
        "ipc-remove" => probe_meta::ipc_remove(arg(0)),
        "shm-read" => probe_meta::shm_read(arg(0)),
        "msg-drain" => probe_meta::msg_drain(arg(0)),
        "sem-get" => probe_meta::sem_get(arg(0)),
        "mq-read" => probe_meta::mq_read(arg(0)),
        "shm-private" => probe_meta::shm_private(),
        "memfd-exec" => probe_meta::memfd_exec(arg(0), arg(1))?,
        "seccomp-listener" => seccomp_listener(),
        "eventfd" => close_fd(sys(libc::SYS_eventfd2, [0, 0, 0])),
        "epoll" => close_fd(sys(libc::SYS_epoll_create1, [0, 0, 0])),
        "fd-flags" => ret(sys(
            libc::SYS_fcntl,
            [arg(0).parse().ok()?, libc::F_GETFD as c_long, 0],
        )),
        "rlimit-core" => rlimit_core(),
        "setrlimit-core" => setrlimit_core(arg(0).parse().ok()?, arg(1).parse().ok()?),
        "fork-bomb" => fork_bomb(arg(0).parse().ok()?),
        // Resources (tests/sandbox/resources.rs).
        "fill" => resources::fill(arg(0), arg(1).parse().ok()?),
        "fill-files" => resources::fill_files(arg(0), arg(1).parse().ok()?, arg(2).parse().ok()?),
        "alloc-touch" => resources::alloc_touch(arg(0).parse().ok()?, arg(1).parse().ok()?),
        "mount-of" => resources::mount_of(arg(0)),
        _ => return None,
    })
}

/// Installs an allow-all seccomp filter with a notification listener, as
/// a server supervising its own children would (no_new_privs first, which
/// an unprivileged process needs).
fn seccomp_listener() -> Outcome {
    let allow = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: allow.as_ptr().cast_mut(),
    };
    // SAFETY: prctl takes plain values; prog points to a live
    // one-instruction program, which the kernel copies.
    let fd = unsafe {
        Errno::result(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    close_fd(fd)
}

/// `ppid`, `self` or a pid.
fn target(word: &str) -> Option<pid_t> {
    match word {
        "ppid" => Some(nix::unistd::getppid().as_raw()),
        "self" => Some(nix::unistd::getpid().as_raw()),
        pid => pid.parse().ok(),
    }
}

fn parse_hex(word: &str) -> Option<u64> {
    u64::from_str_radix(word.trim_start_matches("0x"), 16).ok()
}

/// A system call with three arguments, as the kernel sees them.
fn sys(nr: c_long, a: [c_long; 3]) -> c_long {
    // SAFETY: every caller passes integers or pointers to live buffers of
    // the size the call expects; the kernel validates the rest.
    unsafe { libc::syscall(nr, a[0], a[1], a[2]) }
}

fn ret(value: c_long) -> Outcome {
    Errno::result(value).map(|v| format!("returned {v}"))
}

/// Closes a descriptor a call returned.
fn close_fd(fd: c_long) -> Outcome {
    let fd = Errno::result(fd)?;
    // SAFETY: fd was just opened by this process and is not used again.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(format!("descriptor {fd}"))
}

/// `name_to_handle_at`: the first half of "shocker" (open_by_handle_at
/// opens the handle, around every path check).
fn name_to_handle(path: &str) -> Outcome {
    let path = std::ffi::CString::new(path).map_err(|_| Errno::EINVAL)?;
    // struct file_handle: handle_bytes, handle_type, then up to 128 bytes.
    let mut handle = [0u32; 34];
    handle[0] = 128;
    let mut mount_id: libc::c_int = 0;
    // SAFETY: path is NUL-terminated; handle and mount_id are live buffers
    // of the sizes the call expects.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            path.as_ptr(),
            handle.as_mut_ptr(),
            &raw mut mount_id,
            0,
        )
    };
    ret(r)
}

fn getrandom() -> Outcome {
    let mut buf = [0u8; 16];
    ret(sys(
        libc::SYS_getrandom,
        [buf.as_mut_ptr() as c_long, buf.len() as c_long, 0],
    ))
}

fn getrusage() -> Outcome {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)?;
    Ok(format!("user time {:?}", usage.user_time()))
}

fn ptrace_attach(pid: pid_t) -> Outcome {
    // SAFETY: PTRACE_ATTACH takes no pointers.
    let r = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0usize, 0usize) };
    Errno::result(r)?;
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    // SAFETY: as above; the tracee is let go at once.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0usize, 0usize) };
    Ok(format!("attached to {pid}"))
}

/// Attaches to a child of its own: what ptrace allows without privileges.
fn ptrace_child() -> Outcome {
    let child = fork_paused()?;
    let outcome = ptrace_attach(child);
    reap(child);
    outcome
}

/// Forks a child that waits for a signal; returns its pid.
fn fork_paused() -> Result<pid_t, Errno> {
    // SAFETY: the probe is single-threaded; the child only calls
    // async-signal-safe functions (pause, _exit).
    match unsafe { libc::fork() } {
        -1 => Err(Errno::last()),
        0 => loop {
            // SAFETY: async-signal-safe.
            unsafe { libc::pause() };
        },
        pid => Ok(pid),
    }
}

fn reap(pid: pid_t) {
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// Reads 8 bytes at the address of a local variable in `pid`.
fn vm_read(pid: pid_t) -> Outcome {
    let source = 0x5eed_u64;
    let mut dest = 0u64;
    let local = libc::iovec {
        iov_base: (&raw mut dest).cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: (&raw const source).cast_mut().cast(),
        iov_len: 8,
    };
    // SAFETY: both iovecs describe live 8-byte locals; a wrong remote
    // address only yields EFAULT.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    Errno::result(n)?;
    Ok(format!("read {n} bytes of {pid}"))
}

fn kill(pid: pid_t, signal: i32) -> Outcome {
    // SAFETY: kill takes no pointers.
    Errno::result(unsafe { libc::kill(pid, signal) })?;
    Ok(format!("signalled {pid}"))
}

/// Signals a child of its own: always allowed.
fn kill_child() -> Outcome {
    let child = fork_paused()?;
    let outcome = kill(child, libc::SIGTERM);
    reap(child);
    outcome
}

/// `clone(flags, NULL…)`, like fork; the child exits at once.
fn raw_clone(flags: c_long) -> Outcome {
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack) of a
    // single-threaded process; the child only calls _exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    finish_child(pid)
}

/// `clone3` with a fork-like `struct clone_args` (VER0, 64 bytes).
fn clone3() -> Outcome {
    let mut args = [0u64; 8];
    args[4] = libc::SIGCHLD as u64; // exit_signal
    // SAFETY: args is a live, zeroed clone_args of the size passed; no
    // CLONE_VM, so the child runs on a copy of this stack and only _exits.
    let pid = unsafe { libc::syscall(libc::SYS_clone3, args.as_mut_ptr(), 64usize) };
    finish_child(pid)
}

fn finish_child(pid: c_long) -> Outcome {
    match pid {
        -1 => Err(Errno::last()),
        // SAFETY: async-signal-safe exit of the child.
        0 => unsafe { libc::_exit(0) },
        pid => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as pid_t), None);
            Ok(format!("child {pid}"))
        }
    }
}

/// `socket(domain, type, protocol)`, closed again at once.
fn socket(domain: i32, kind: i32, protocol: i32) -> Outcome {
    // SAFETY: socket takes no pointers.
    let fd = Errno::result(unsafe { libc::socket(domain, kind, protocol) })?;
    // SAFETY: fd was just opened here and is not used again.
    unsafe { libc::close(fd) };
    Ok(format!("socket {fd}"))
}

fn mount_tmpfs(target: &str) -> Outcome {
    let target = std::ffi::CString::new(target).map_err(|_| Errno::EINVAL)?;
    // SAFETY: all strings are NUL-terminated and outlive the call.
    let r = unsafe {
        libc::mount(
            c"none".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    Errno::result(r)?;
    // SAFETY: as above.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    Ok("mounted".into())
}

/// An unknown bpf command: EINVAL for everyone, privileged or not.
fn bpf() -> Outcome {
    let mut attr = [0u8; 128];
    ret(sys(
        libc::SYS_bpf,
        [1000, attr.as_mut_ptr() as c_long, attr.len() as c_long],
    ))
}

/// A perf_event_attr whose size field is 1: E2BIG before any permission check.
fn perf_event_open() -> Outcome {
    let mut attr = [0u32; 32];
    attr[1] = 1;
    // SAFETY: attr is a live 128-byte buffer the kernel may write its size into.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_mut_ptr(), 0, -1, -1, 0) };
    ret(fd)
}

/// Zero entries: EINVAL when io_uring is enabled.
fn io_uring_setup() -> Outcome {
    let mut params = [0u8; 120];
    ret(sys(
        libc::SYS_io_uring_setup,
        [0, params.as_mut_ptr() as c_long, 0],
    ))
}

/// `ioctl(fd, request, &int)`, the request passed as all 64 bits.
fn ioctl(fd: c_long, request: u64) -> Outcome {
    let mut value: libc::c_int = 0;
    ret(sys(
        libc::SYS_ioctl,
        [fd, request as c_long, (&raw mut value) as c_long],
    ))
}

fn rlimit_core() -> Outcome {
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE)?;
    Ok(format!("{soft}/{hard}"))
}

fn setrlimit_core(soft: u64, hard: u64) -> Outcome {
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, soft, hard)?;
    Ok(format!("set {soft}/{hard}"))
}

/// Forks paused children until fork fails or `max` exist, then kills them
/// all. Prints `ok <count> <errno|none>`.
fn fork_bomb(max: usize) -> Outcome {
    let mut children = Vec::new();
    let mut failure = None;
    while children.len() < max {
        match fork_paused() {
            Ok(pid) => children.push(pid),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    for &pid in &children {
        // SAFETY: kill takes no pointers.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for &pid in &children {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    }
    Ok(format!(
        "{} {}",
        children.len(),
        failure.map_or_else(|| "none".into(), |e| format!("{e:?}"))
    ))
}

/// The resource actions: filling /tmp and allocating memory.
mod resources {
    use std::io::Write;

    use nix::errno::Errno;

    use crate::probe::{Outcome, io};

    const MIB: usize = 1 << 20;

    /// Writes `bytes` to `path` in 1 MiB pieces: `ok wrote N` or the
    /// errno of the first write that failed (ENOSPC on a full tmpfs,
    /// EFBIG past RLIMIT_FSIZE).
    pub fn fill(path: &str, bytes: usize) -> Outcome {
        let mut file = std::fs::File::create(path).map_err(io)?;
        write_n(&mut file, bytes)?;
        // A full tmpfs may only say so when the data is flushed.
        file.sync_all().map_err(io)?;
        Ok(format!("wrote {bytes}"))
    }

    /// `count` files of `each` bytes in `dir`: only a bound on the sum of
    /// the files (not on each file) stops this.
    pub fn fill_files(dir: &str, count: usize, each: usize) -> Outcome {
        for i in 0..count {
            let mut file = std::fs::File::create(format!("{dir}/part-{i}")).map_err(io)?;
            write_n(&mut file, each)?;
        }
        Ok(format!("wrote {count} files of {each}"))
    }

    fn write_n(file: &mut std::fs::File, bytes: usize) -> Result<(), Errno> {
        let chunk = vec![0x5a_u8; MIB];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(MIB);
            file.write_all(&chunk[..n]).map_err(io)?;
            left -= n;
        }
        Ok(())
    }

    /// A child maps `total` bytes of private anonymous memory in pieces of
    /// `chunk` bytes and writes to every page. `ok touched N` when it
    /// managed; `ok killed by signal S` when the kernel killed it (the OOM
    /// killer of a memory cgroup); the errno of the mmap that failed
    /// otherwise (ENOMEM past RLIMIT_DATA or RLIMIT_AS).
    pub fn alloc_touch(total: usize, chunk: usize) -> Outcome {
        if chunk == 0 {
            return Err(Errno::EINVAL);
        }
        // SAFETY: the probe is single-threaded; the child only maps,
        // writes to its own fresh mappings and _exits.
        match unsafe { libc::fork() } {
            -1 => Err(Errno::last()),
            0 => {
                let code = match map_and_touch(total, chunk) {
                    Ok(()) => 0,
                    Err(errno) => errno as i32,
                };
                // SAFETY: async-signal-safe exit of the child.
                unsafe { libc::_exit(code) }
            }
            pid => {
                let pid = nix::unistd::Pid::from_raw(pid);
                match nix::sys::wait::waitpid(pid, None)? {
                    nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(format!("touched {total}")),
                    nix::sys::wait::WaitStatus::Exited(_, code) => Err(Errno::from_raw(code)),
                    nix::sys::wait::WaitStatus::Signaled(_, signal, _) => {
                        Ok(format!("killed by signal {}", signal as i32))
                    }
                    other => Ok(format!("ended as {other:?}")),
                }
            }
        }
    }

    /// `FSTYPE SUPER_OPTIONS` of the topmost mount at `path`, from
    /// /proc/self/mountinfo; ENOENT when nothing is mounted there.
    pub fn mount_of(path: &str) -> Outcome {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(io)?;
        mountinfo
            .lines()
            .rev()
            .find_map(|line| {
                let (left, right) = line.split_once(" - ")?;
                let point = left.split(' ').nth(4)?;
                let mut right = right.split(' ');
                let fstype = right.next()?;
                let options = right.nth(1)?;
                (point == path).then(|| format!("{fstype} {options}"))
            })
            .ok_or(Errno::ENOENT)
    }

    fn map_and_touch(total: usize, chunk: usize) -> Result<(), Errno> {
        let page = 4096;
        let mut done = 0;
        while done < total {
            let len = chunk.min(total - done);
            // SAFETY: a fresh private anonymous mapping; nothing else
            // refers to it.
            let addr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if addr == libc::MAP_FAILED {
                return Err(Errno::last());
            }
            let base = addr.cast::<u8>();
            let mut offset = 0;
            while offset < len {
                // SAFETY: offset < len, inside the mapping just made.
                unsafe { base.add(offset).write_volatile(1) };
                offset += page;
            }
            done += len;
        }
        Ok(())
    }
}
