//! Thin wrappers over system calls that nix lacks or that must be called
//! without allocating.
//!
//! Every function here is async-signal-safe unless its doc says otherwise:
//! it takes C strings and plain values prepared by the caller, makes one or
//! a few system calls, and returns the raw errno. This is what lets the code
//! between fork and exec (`launch::child`, `launch::init`) stay free of
//! allocation, locks and panics.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_char, c_int, c_long, c_ulong, pid_t};
use nix::errno::Errno;

pub type SysResult<T> = Result<T, Errno>;

fn check(ret: c_long) -> SysResult<c_long> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn check_int(ret: c_int) -> SysResult<c_int> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// `clone(2)` with fork semantics (a copy of the address space, no new
/// stack) plus namespace flags. Returns 0 in the child.
///
/// The caller must be single-threaded: the child gets only the calling
/// thread, and glibc's fork handlers are not run.
pub fn clone_fork(flags: c_int) -> SysResult<pid_t> {
    let flags = (flags | libc::SIGCHLD) as c_ulong;
    // SAFETY: a raw clone with a null stack behaves like fork(2): the child
    // continues on a copy of this stack. No pointers are passed.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    check(ret).map(|pid| pid as pid_t)
}

/// A stack for [`spawn`], mapped in the calling process (anonymous,
/// faulted in only where used), with an inaccessible lowest page so that
/// an overflow faults instead of writing below it.
pub struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

impl ChildStack {
    /// Enough for the server's setup in an unoptimised build; untouched
    /// pages cost nothing.
    const LEN: usize = 1 << 20;

    pub fn map() -> SysResult<ChildStack> {
        let len = Self::LEN;
        // SAFETY: a fresh anonymous mapping; no existing memory is named.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let stack = ChildStack { base, len };
        // SAFETY: the lowest page of the mapping just made.
        if unsafe { libc::mprotect(base, page_size(), libc::PROT_NONE) } == -1 {
            return Err(Errno::last());
        }
        Ok(stack)
    }

    /// One past the highest byte, 16-byte aligned as the ABIs want.
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: base + len is one past the end of the mapping; mmap
        // returns page-aligned memory, so the sum stays aligned.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made by `map`, unmapped once.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

/// Starts `entry(arg)` in a child process on `stack` and returns its pid.
/// With `share_memory` the child borrows this process's memory until it
/// executes or exits, and the caller is suspended until then
/// (`CLONE_VM | CLONE_VFORK`, as `posix_spawn` does): nothing is copied
/// and nothing torn down again at the child's exec. Without it the child
/// gets a copy, as with fork, running on the copy of `stack`.
///
/// # Safety
/// `entry` must never return and, with `share_memory`, must write no
/// memory the caller reads afterwards (its own stack is its own; errno
/// is the caller's and is overwritten): it runs async-signal-safe code
/// only and leaves by exec or `_exit`. The caller must be
/// single-threaded, and the signals whose handlers could run in the child
/// must be blocked (the child resets them).
pub unsafe fn spawn(
    stack: &ChildStack,
    share_memory: bool,
    entry: extern "C" fn(*mut libc::c_void) -> c_int,
    arg: *mut libc::c_void,
) -> SysResult<pid_t> {
    let flags = if share_memory {
        libc::CLONE_VM | libc::CLONE_VFORK
    } else {
        0
    };
    // SAFETY: the caller's.
    unsafe { spawn_with(stack, flags, entry, arg) }
}

/// Starts `entry(arg)` in a child process on `stack` with `flags` for
/// clone (`SIGCHLD` added) and returns its pid; the child ends with
/// `entry`'s value when it returns.
///
/// # Safety
/// The stack must stay mapped while the child may use it, and `entry`
/// must be safe to run with whatever `flags` shares: with `CLONE_VM` and
/// without `CLONE_VFORK` the child runs beside the caller in its memory,
/// so it may only write what is made for sharing (atomics) and must
/// leave errno alone ([`raw_syscall3`]).
pub unsafe fn spawn_with(
    stack: &ChildStack,
    flags: c_int,
    entry: extern "C" fn(*mut libc::c_void) -> c_int,
    arg: *mut libc::c_void,
) -> SysResult<pid_t> {
    // SAFETY: the stack is a live mapping this process owns; the caller
    // guarantees what `entry` does with `arg` and what is shared.
    let pid = unsafe { libc::clone(entry, stack.top(), flags | libc::SIGCHLD, arg) };
    if pid == -1 {
        Err(Errno::last())
    } else {
        Ok(pid)
    }
}

/// A system call that leaves errno alone, for code running at the same
/// time as its parent in the parent's memory (errno is the parent's):
/// the kernel's answer, a negated errno on failure.
///
/// # Safety
/// The call's arguments must be valid for it.
pub unsafe fn raw_syscall3(nr: c_long, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's; `syscall` clobbers rcx and r11 only.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller's; `svc 0` returns in x0 and clobbers nothing else.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a => ret,
            in("x1") b,
            in("x2") c,
            options(nostack),
        );
    }
    ret
}

/// Opens a directory to name paths below it (`O_PATH`, close-on-exec).
pub fn open_dir(path: &CStr) -> SysResult<RawFd> {
    // SAFETY: path is a valid C string.
    check_int(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })
}

/// Moves the calling process into the namespace `fd` refers to.
pub fn setns(fd: RawFd, kind: c_int) -> SysResult<()> {
    // SAFETY: setns takes plain integers.
    check_int(unsafe { libc::setns(fd, kind) }).map(drop)
}

/// Leaves the process at once, without running atexit handlers or
/// flushing stdio buffers that belong to the parent's copy.
pub fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Writes the whole buffer, retrying on EINTR and short writes.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for its whole length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match n {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            0 => return Err(Errno::EPIPE),
            n => buf = &buf[n as usize..],
        }
    }
    Ok(())
}

/// Fills `buf` from the kernel's random source (getrandom(2), no file
/// to open); one call, which for a few bytes is never short.
pub fn random(buf: &mut [u8]) -> SysResult<()> {
    // SAFETY: buf is a valid, writable slice for its whole length.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    match n {
        -1 => Err(Errno::last()),
        n if n as usize == buf.len() => Ok(()),
        _ => Err(Errno::EAGAIN),
    }
}

/// Reads once, retrying on EINTR.
pub fn read(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    loop {
        // SAFETY: buf is a valid, writable slice for its whole length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            n => return Ok(n as usize),
        }
    }
}

pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor number has no memory effects; errors
    // (EBADF) are irrelevant to the callers, which own `fd`.
    unsafe { libc::close(fd) };
}

pub fn dup2(old: RawFd, new: RawFd) -> SysResult<()> {
    // SAFETY: plain descriptor syscall.
    check_int(unsafe { libc::dup2(old, new) }).map(drop)
}

/// Opens `path` and writes `data` to it (used for /proc/self/uid_map).
pub fn write_file(path: &CStr, data: &[u8]) -> SysResult<()> {
    // SAFETY: path is a valid NUL-terminated string.
    let fd = check_int(unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
    let result = write_all(fd, data);
    close(fd);
    result
}

/// Creates `path` holding `data`, never following a symlink or replacing
/// an existing file (which is left as it is: `EEXIST` counts as done).
pub fn create_file(path: &CStr, data: &[u8]) -> SysResult<()> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: path is a valid NUL-terminated string.
    let fd = match check_int(unsafe { libc::open(path.as_ptr(), flags, 0o644) }) {
        Err(Errno::EEXIST) => return Ok(()),
        other => other?,
    };
    let result = write_all(fd, data);
    close(fd);
    result
}

/// Marks every descriptor from `first` up close-on-exec, so that exec
/// leaves only 0, 1 and 2 open.
pub fn cloexec_from(first: u32) -> SysResult<()> {
    // SAFETY: close_range only changes descriptor flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    check(ret).map(drop)
}

pub fn setsid() -> SysResult<()> {
    // SAFETY: plain syscall.
    check_int(unsafe { libc::setsid() }).map(drop)
}

pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: path is a valid NUL-terminated string.
    check_int(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

pub fn mkdir(path: &CStr, mode: u32) -> SysResult<()> {
    // SAFETY: path is a valid NUL-terminated string.
    match check_int(unsafe { libc::mkdir(path.as_ptr(), mode) }) {
        Err(Errno::EEXIST) => Ok(()),
        other => other.map(drop),
    }
}

/// Creates an empty regular file to serve as a mount point; an existing
/// file (even on a read-only mount) is fine.
pub fn touch(path: &CStr) -> SysResult<()> {
    let flags = libc::O_RDONLY | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: path is a valid NUL-terminated string.
    let fd = check_int(unsafe { libc::open(path.as_ptr(), flags, 0o600) })?;
    close(fd);
    Ok(())
}

/// The device and inode `path` names (following symlinks, crossing
/// mounts): what a bind mount put there.
pub fn dev_ino(path: &CStr) -> SysResult<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid NUL-terminated string; st is writable and
    // of the type stat(2) fills.
    check_int(unsafe { libc::stat(path.as_ptr(), &mut st) })?;
    Ok((st.st_dev, st.st_ino))
}

/// Removes an empty directory or a file (a mount point left unused).
pub fn remove(path: &CStr, directory: bool) -> SysResult<()> {
    // SAFETY: path is a valid NUL-terminated string.
    let ret = unsafe {
        if directory {
            libc::rmdir(path.as_ptr())
        } else {
            libc::unlink(path.as_ptr())
        }
    };
    check_int(ret).map(drop)
}

pub fn symlink(target: &CStr, path: &CStr) -> SysResult<()> {
    // SAFETY: both are valid NUL-terminated strings.
    check_int(unsafe { libc::symlink(target.as_ptr(), path.as_ptr()) }).map(drop)
}

pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is NULL or a valid NUL-terminated string.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    check_int(ret).map(drop)
}

/// `mount_setattr(2)` on `path` and, with `recursive`, every mount below
/// it: sets `set` attributes (MOUNT_ATTR_*) without having to know and
/// repeat the flags the kernel locked on the source mount.
pub fn mount_setattr(path: &CStr, set: u64, recursive: bool) -> SysResult<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: path is a valid string and attr a valid struct of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(ret).map(drop)
}

pub fn umount_detach(target: &CStr) -> SysResult<()> {
    // SAFETY: target is a valid NUL-terminated string.
    check_int(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) }).map(drop)
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both are valid NUL-terminated strings.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    check(ret).map(drop)
}

pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: name is a valid slice of the length passed.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn setrlimit(resource: libc::__rlimit_resource_t, value: u64) -> SysResult<()> {
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: lim is a valid rlimit struct.
    check_int(unsafe { libc::setrlimit(resource, &lim) }).map(drop)
}

pub fn prctl(option: c_int, arg2: c_ulong) -> SysResult<c_int> {
    // SAFETY: the prctl options used by cordon take integer arguments only.
    check_int(unsafe { libc::prctl(option, arg2, 0 as c_ulong, 0 as c_ulong, 0 as c_ulong) })
}

pub fn getpid() -> pid_t {
    // SAFETY: plain syscall, cannot fail.
    unsafe { libc::getpid() }
}

pub fn kill(pid: pid_t, sig: c_int) -> SysResult<()> {
    // SAFETY: plain syscall.
    check_int(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Drops every capability from the bounding set, the ambient set and the
/// permitted, effective and inheritable sets of the calling thread.
pub fn drop_all_capabilities() -> SysResult<()> {
    // The highest capability this kernel knows; the loop stops at the
    // first EINVAL, so a kernel with more capabilities than libc knows is
    // covered as well.
    // Without CAP_SETPCAP (an unprivileged process outside a user
    // namespace) the bounding set cannot be changed, and need not be: the
    // permitted set is emptied below and no_new_privs, set next, stops any
    // exec from gaining capabilities.
    let mut cap: c_ulong = 0;
    loop {
        match prctl(libc::PR_CAPBSET_DROP, cap) {
            Ok(_) => cap += 1,
            Err(Errno::EINVAL) if cap > 0 => break,
            Err(Errno::EPERM) => break,
            Err(e) => return Err(e),
        }
    }
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong,
    )?;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: header and data are valid for capset's version 3 layout (two
    // 32-bit data words).
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    check(ret).map(drop)
}

pub fn set_no_new_privs() -> SysResult<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map(drop)
}

/// `landlock_add_rule(2)` with a path-beneath rule.
pub fn landlock_add_path_rule(ruleset: RawFd, parent: RawFd, access: u64) -> SysResult<()> {
    #[repr(C, packed)]
    struct PathBeneath {
        allowed_access: u64,
        parent_fd: i32,
    }
    let rule = PathBeneath {
        allowed_access: access,
        parent_fd: parent,
    };
    const LANDLOCK_RULE_PATH_BENEATH: c_int = 1;
    // SAFETY: PathBeneath is the kernel's landlock_path_beneath_attr.
    unsafe { landlock_add_rule(ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule) }
}

/// `landlock_add_rule(2)` with a TCP port rule.
pub fn landlock_add_port_rule(ruleset: RawFd, port: u16, access: u64) -> SysResult<()> {
    #[repr(C, packed)]
    struct NetPort {
        allowed_access: u64,
        port: u64,
    }
    let rule = NetPort {
        allowed_access: access,
        port: u64::from(port),
    };
    const LANDLOCK_RULE_NET_PORT: c_int = 2;
    // SAFETY: NetPort is the kernel's landlock_net_port_attr.
    unsafe { landlock_add_rule(ruleset, LANDLOCK_RULE_NET_PORT, &rule) }
}

/// # Safety
/// `rule` must be the attribute struct the kernel defines for `kind`.
unsafe fn landlock_add_rule<T>(ruleset: RawFd, kind: c_int, rule: &T) -> SysResult<()> {
    // SAFETY: the caller pairs `kind` with its attribute layout; the
    // kernel only reads `rule`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            kind,
            rule as *const T,
            0,
        )
    };
    check(ret).map(drop)
}

pub fn landlock_restrict_self(ruleset: RawFd) -> SysResult<()> {
    // SAFETY: plain syscall on a descriptor.
    check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0) }).map(drop)
}

/// The Landlock ABI version of the running kernel (0 when unavailable).
/// Not async-signal-safe by contract but in practice one syscall.
pub fn landlock_abi_version() -> Result<u32, Errno> {
    const LANDLOCK_CREATE_RULESET_VERSION: c_ulong = 1;
    // SAFETY: with the VERSION flag the attr pointer must be NULL and size 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    check(ret).map(|v| v as u32)
}

/// Installs a compiled seccomp BPF program on the calling thread.
/// no_new_privs must already be set.
pub fn seccomp_install(filter: &[libc::sock_filter]) -> SysResult<()> {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prog points to a valid program that outlives the call; the
    // kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    check(ret).map(drop)
}

/// Installs a compiled seccomp BPF program with a notification listener
/// and returns the listener (close-on-exec). no_new_privs must be set.
pub fn seccomp_install_listener(filter: &[libc::sock_filter]) -> SysResult<RawFd> {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prog points to a valid program that outlives the call; the
    // kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    check(ret).map(|fd| fd as RawFd)
}

/// `execve(2)` with prebuilt, NULL-terminated pointer arrays. Returns only
/// on failure.
pub fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    // SAFETY: the caller built argv and envp as NULL-terminated arrays of
    // pointers into CStrings it keeps alive across this call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: executes the file `fd`
/// was opened on, whatever its path names now. Returns only on failure.
pub fn execveat_fd(fd: RawFd, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    // SAFETY: the empty path is a static C string; the caller built argv
    // and envp as NULL-terminated arrays of pointers into CStrings it
    // keeps alive across this call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// Resets every signal disposition to the default and unblocks all
/// signals, so the server does not inherit cordon's ignored SIGPIPE or
/// its blocked set.
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting SIG_DFL is always valid; errors for reserved
        // signals are irrelevant.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    unblock_all_signals();
}

pub fn unblock_all_signals() {
    // SAFETY: the set is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Blocks `signals` and returns a signalfd that reports them
/// (non-blocking, close-on-exec).
pub fn block_to_signalfd(signals: &[c_int]) -> SysResult<RawFd> {
    // SAFETY: the set is initialised by sigemptyset before use and only
    // passed by pointer to the libc calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        check_int(libc::sigprocmask(
            libc::SIG_BLOCK,
            &set,
            std::ptr::null_mut(),
        ))?;
        check_int(libc::signalfd(
            -1,
            &set,
            libc::SFD_NONBLOCK | libc::SFD_CLOEXEC,
        ))
    }
}

/// Reads one pending signal number from a signalfd, if any.
pub fn read_signalfd(fd: RawFd) -> SysResult<Option<c_int>> {
    // SAFETY: signalfd_siginfo is plain data; zeroed is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: info is a valid, writable buffer of `size` bytes.
    let n = unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
    match n {
        -1 if matches!(Errno::last(), Errno::EAGAIN | Errno::EINTR) => Ok(None),
        -1 => Err(Errno::last()),
        n if n as usize == size => Ok(Some(info.ssi_signo as c_int)),
        _ => Ok(None),
    }
}

/// `waitpid(2)`; returns the pid and raw status, or None with WNOHANG and
/// nothing to reap.
pub fn waitpid(pid: pid_t, flags: c_int) -> SysResult<Option<(pid_t, c_int)>> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        let ret = unsafe { libc::waitpid(pid, &mut status, flags) };
        match ret {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            0 => return Ok(None),
            p => return Ok(Some((p, status))),
        }
    }
}

/// Asks for a pipe buffer of `size` bytes and returns the size the pipe
/// has now: the kernel rounds up to whole pages, and past the user's pipe
/// quota (`fs.pipe-user-pages-soft`) it refuses and the size stays.
pub fn resize_pipe(fd: RawFd, size: usize) -> SysResult<usize> {
    let size = c_int::try_from(size).unwrap_or(c_int::MAX);
    // SAFETY: fcntl with integer arguments only.
    let _ = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size) };
    // SAFETY: as above.
    check_int(unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) }).map(|n| n as usize)
}

/// `poll(2)` over raw pollfds; EINTR is reported as zero ready.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: c_int) -> SysResult<usize> {
    // SAFETY: fds is a valid slice of pollfd structs.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    match ret {
        -1 if Errno::last() == Errno::EINTR => Ok(0),
        -1 => Err(Errno::last()),
        n => Ok(n as usize),
    }
}

/// The whole of a small text file of /proc or /sys. Their size reads as
/// 0, so `fs::read_to_string` stats the file and then reads it in pieces
/// that double from 32 bytes, one system call each; this reads up to
/// 4 KiB at once. Not async-signal-safe.
pub fn read_text(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Number of threads of this process, from /proc/self/status. Not
/// async-signal-safe; used before fork to assert the precondition of
/// [`clone_fork`].
pub fn thread_count() -> Option<usize> {
    let status = read_text("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Opens `path` as an `O_PATH` descriptor (for a Landlock rule).
pub fn open_path(path: &CStr) -> SysResult<RawFd> {
    // SAFETY: path is a valid NUL-terminated string.
    check_int(unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) })
}

/// Brings up the loopback interface of the current network namespace.
pub fn loopback_up() -> SysResult<()> {
    // SAFETY: plain syscall.
    let fd = check_int(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: ifreq is plain data; zeroed is valid, and the name is
    // NUL-terminated within IFNAMSIZ.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as c_char;
    }
    // SAFETY: req is a valid ifreq for both requests.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == -1 {
            Err(Errno::last())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) == -1 {
                Err(Errno::last())
            } else {
                Ok(())
            }
        }
    };
    close(fd);
    result
}

/// One seccomp user notification, as `SECCOMP_IOCTL_NOTIF_RECV` fills it.
pub type Notification = libc::seccomp_notif;

/// Waits for the next notification on a seccomp listener (blocks).
pub fn notif_recv(listener: RawFd) -> SysResult<Notification> {
    // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: notif is a valid, writable seccomp_notif for the call.
    let ret = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    check_int(ret).map(|_| notif)
}

/// Answers notification `id`: `continue_call` lets the kernel run the
/// call (every other filter and LSM still decide); otherwise the call
/// fails with `errno`.
pub fn notif_send(listener: RawFd, id: u64, continue_call: bool, errno: c_int) -> SysResult<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: if continue_call { 0 } else { -errno },
        flags: if continue_call {
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32
        } else {
            0
        },
    };
    // SAFETY: resp is a valid seccomp_notif_resp for the call.
    let ret = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    check_int(ret).map(drop)
}

/// Whether notification `id` is still pending (its process has not died
/// and been replaced under the same pid).
pub fn notif_id_valid(listener: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: id is a valid u64 for the call.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// Writes 7 where `arg` points, then leaves with 3.
    extern "C" fn write_and_leave(arg: *mut libc::c_void) -> c_int {
        // SAFETY: the test passes an AtomicI32 that outlives the child.
        let flag = unsafe { &*arg.cast::<AtomicI32>() };
        flag.store(7, Ordering::SeqCst);
        exit_now(3)
    }

    /// What the caller sees of the child's write on `spawn`'s return and
    /// once the child is reaped, and the child's exit code.
    fn spawn_and_reap(share_memory: bool) -> (i32, i32, c_int) {
        let stack = ChildStack::map().expect("map a stack");
        let flag = AtomicI32::new(0);
        let arg = std::ptr::from_ref(&flag).cast_mut().cast();
        // SAFETY: the child writes only the flag, which outlives it, and
        // leaves with `_exit`.
        let pid = unsafe { spawn(&stack, share_memory, write_and_leave, arg) }.expect("spawn");
        let on_return = flag.load(Ordering::SeqCst);
        let (_, status) = waitpid(pid, 0).expect("waitpid").expect("a reaped child");
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        (
            on_return,
            flag.load(Ordering::SeqCst),
            libc::WEXITSTATUS(status),
        )
    }

    #[test]
    fn a_shared_spawn_returns_only_once_the_child_has_left() {
        // The child ran in this memory, and the caller was suspended until
        // it left: its write is there the moment `spawn` returns.
        assert_eq!(spawn_and_reap(true), (7, 7, 3));
    }

    #[test]
    fn a_copying_spawn_keeps_the_childs_writes_to_itself() {
        let (on_return, after, code) = spawn_and_reap(false);
        assert_eq!((on_return, after, code), (0, 0, 3));
    }

    #[test]
    fn a_raw_call_leaves_errno_alone() {
        // SAFETY: closing -1 only fails.
        unsafe { *libc::__errno_location() = libc::EINTR };
        // SAFETY: as above.
        let answer = unsafe { raw_syscall3(libc::SYS_close, usize::MAX, 0, 0) };
        assert_eq!(answer, -(libc::EBADF as isize));
        assert_eq!(Errno::last(), Errno::EINTR);
    }

    #[test]
    fn a_child_stack_has_an_inaccessible_lowest_page() {
        let stack = ChildStack::map().expect("map a stack");
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // The kernel reads the bytes to write: it reports EFAULT where a
        // read by the process would fault.
        // SAFETY: write only reads the range, and checks its access.
        let guard = unsafe { libc::write(fds[1], stack.base, 1) };
        let errno = Errno::last();
        // SAFETY: the page above the guard is the stack's lowest usable one.
        let above = unsafe { stack.base.cast::<u8>().add(page_size()) };
        // SAFETY: as above.
        let usable = unsafe { libc::write(fds[1], above.cast(), 1) };
        // SAFETY: the top is one past the mapping: its last byte is usable.
        let last = unsafe { libc::write(fds[1], stack.top().cast::<u8>().sub(1).cast(), 1) };
        close(fds[0]);
        close(fds[1]);
        assert_eq!((guard, errno), (-1, Errno::EFAULT));
        assert_eq!((usable, last), (1, 1));
        assert_eq!(stack.top() as usize % 16, 0);
    }
}
