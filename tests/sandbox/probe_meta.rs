//! The probe's file metadata, set-ID file, System V IPC and memfd actions
//! (dispatched from `probe_sys.rs`). As there, the arguments make each
//! call work on an unconfined host, or fail there with an errno other
//! than EPERM.

use std::ffi::CString;

use libc::{c_int, c_long};
use nix::errno::Errno;

use crate::probe::Outcome;

/// `ok …` for a zero return, the errno otherwise.
fn done(ret: c_long, what: &str) -> Outcome {
    Errno::result(ret).map(|_| what.to_owned())
}

fn cstr(text: &str) -> Result<CString, Errno> {
    CString::new(text).map_err(|_| Errno::EINVAL)
}

fn octal(word: &str) -> Result<c_long, Errno> {
    c_long::from_str_radix(word, 8).map_err(|_| Errno::EINVAL)
}

/// A descriptor opened for reading (what the `f*` calls need), closed on drop.
struct Fd(c_int);

impl Fd {
    fn open(path: &CString) -> Result<Fd, Errno> {
        // SAFETY: path is NUL-terminated and outlives the call.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        Errno::result(fd).map(Fd)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor belongs to this value.
        unsafe { libc::close(self.0) };
    }
}

/// A raw call with up to six integer or pointer arguments.
fn sys(nr: c_long, a: [c_long; 6]) -> c_long {
    // SAFETY: every caller passes integers or pointers to live buffers of
    // the size the call expects; the kernel validates the rest.
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

const AT_FDCWD: c_long = libc::AT_FDCWD as c_long;
// Newer than libc's tables; the same number on every architecture.
const SYS_SETXATTRAT: c_long = 463;
const SYS_REMOVEXATTRAT: c_long = 466;
#[cfg(target_arch = "aarch64")]
const SYS_FCHMODAT2: c_long = 452;
#[cfg(target_arch = "x86_64")]
const SYS_FCHMODAT2: c_long = libc::SYS_fchmodat2;

/// A valid `struct vfs_cap_data` (revision 2, effective): CAP_NET_RAW
/// permitted. Root on the host may set it; a wrong value would fail with
/// EINVAL before any permission check.
const FILE_CAPS: [u32; 5] = [0x0200_0001, 1 << 13, 0, 0, 0];

/// `meta OP PATH [ARG]`: one call that changes a file's mode (ARG: the
/// octal mode), owner (to the caller's own uid and gid), times (to now),
/// attribute flags (to their value) or extended attribute (ARG: its name; the value is `cordon`, or a valid
/// capability set for `security.capability`).
pub fn meta(op: &str, path: &str, arg: &str) -> Option<Outcome> {
    let run = || -> Result<Option<Outcome>, Errno> {
        let c_path = cstr(path)?;
        let p = c_path.as_ptr() as c_long;
        let name = cstr(arg)?;
        let n = name.as_ptr() as c_long;
        let value: &[u8] = if arg == "security.capability" {
            // SAFETY: plain integers viewed as their 20 bytes.
            unsafe { std::slice::from_raw_parts(FILE_CAPS.as_ptr().cast(), 20) }
        } else {
            b"cordon"
        };
        let (v, len) = (value.as_ptr() as c_long, value.len() as c_long);
        let uid = nix::unistd::geteuid().as_raw() as c_long;
        let gid = nix::unistd::getegid().as_raw() as c_long;
        let fd = || Fd::open(&c_path);
        let ret = match op {
            "fchmod" => sys(
                libc::SYS_fchmod,
                [fd()?.0 as c_long, octal(arg)?, 0, 0, 0, 0],
            ),
            "fchmodat" => sys(libc::SYS_fchmodat, [AT_FDCWD, p, octal(arg)?, 0, 0, 0]),
            "fchmodat2" => sys(SYS_FCHMODAT2, [AT_FDCWD, p, octal(arg)?, 0, 0, 0]),
            "fchown" => sys(libc::SYS_fchown, [fd()?.0 as c_long, uid, gid, 0, 0, 0]),
            "fchownat" => sys(libc::SYS_fchownat, [AT_FDCWD, p, uid, gid, 0, 0]),
            "utimensat" => sys(libc::SYS_utimensat, [AT_FDCWD, p, 0, 0, 0, 0]),
            "futimens" => sys(libc::SYS_utimensat, [fd()?.0 as c_long, 0, 0, 0, 0, 0]),
            "setxattr" => sys(libc::SYS_setxattr, [p, n, v, len, 0, 0]),
            "lsetxattr" => sys(libc::SYS_lsetxattr, [p, n, v, len, 0, 0]),
            "fsetxattr" => sys(libc::SYS_fsetxattr, [fd()?.0 as c_long, n, v, len, 0, 0]),
            "setxattrat" => {
                // struct xattr_args: value pointer, size, flags.
                let args = XattrArgs {
                    value: v as u64,
                    size: len as u32,
                    flags: 0,
                };
                let a = (&raw const args) as c_long;
                let size = std::mem::size_of::<XattrArgs>() as c_long;
                sys(SYS_SETXATTRAT, [AT_FDCWD, p, 0, n, a, size])
            }
            "removexattr" => sys(libc::SYS_removexattr, [p, n, 0, 0, 0, 0]),
            "lremovexattr" => sys(libc::SYS_lremovexattr, [p, n, 0, 0, 0, 0]),
            "fremovexattr" => sys(libc::SYS_fremovexattr, [fd()?.0 as c_long, n, 0, 0, 0, 0]),
            "removexattrat" => sys(SYS_REMOVEXATTRAT, [AT_FDCWD, p, 0, n, 0, 0]),
            // `chattr`: the file's attribute flags, set to what they are.
            "setflags" => {
                let fd = fd()?;
                let mut flags: c_int = 0;
                let f = (&raw mut flags) as c_long;
                let get = libc::FS_IOC_GETFLAGS as c_long;
                Errno::result(sys(libc::SYS_ioctl, [fd.0 as c_long, get, f, 0, 0, 0]))?;
                let set = libc::FS_IOC_SETFLAGS as c_long;
                sys(libc::SYS_ioctl, [fd.0 as c_long, set, f, 0, 0, 0])
            }
            #[cfg(target_arch = "x86_64")]
            "chmod" => sys(libc::SYS_chmod, [p, octal(arg)?, 0, 0, 0, 0]),
            #[cfg(target_arch = "x86_64")]
            "chown" => sys(libc::SYS_chown, [p, uid, gid, 0, 0, 0]),
            #[cfg(target_arch = "x86_64")]
            "lchown" => sys(libc::SYS_lchown, [p, uid, gid, 0, 0, 0]),
            #[cfg(target_arch = "x86_64")]
            "utime" => sys(libc::SYS_utime, [p, 0, 0, 0, 0, 0]),
            #[cfg(target_arch = "x86_64")]
            "utimes" => sys(libc::SYS_utimes, [p, 0, 0, 0, 0, 0]),
            #[cfg(target_arch = "x86_64")]
            "futimesat" => sys(libc::SYS_futimesat, [AT_FDCWD, p, 0, 0, 0, 0]),
            _ => return Ok(None),
        };
        Ok(Some(done(ret, op)))
    };
    run().unwrap_or_else(|errno| Some(Err(errno)))
}

#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

/// `mkfile OP PATH MODE`: creates PATH with the octal MODE by `open`,
/// `openat`, `openat2`, `creat`, `mknod`, `mknodat` (a regular file), or
/// `tmpfile` (an unnamed `O_TMPFILE` file in PATH, a directory). Answers
/// the new file's mode in octal.
pub fn mkfile(op: &str, path: &str, mode: &str) -> Option<Outcome> {
    let run = || -> Result<Option<String>, Errno> {
        let c_path = cstr(path)?;
        let p = c_path.as_ptr() as c_long;
        let mode = octal(mode)?;
        let create = (libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC) as c_long;
        let reg = libc::S_IFREG as c_long | mode;
        let fd = match op {
            "openat" => sys(libc::SYS_openat, [AT_FDCWD, p, create, mode, 0, 0]),
            "openat2" => {
                // struct open_how: flags, mode, resolve.
                let how = [create as u64, mode as u64, 0];
                let size = std::mem::size_of_val(&how) as c_long;
                sys(
                    libc::SYS_openat2,
                    [AT_FDCWD, p, how.as_ptr() as c_long, size, 0, 0],
                )
            }
            "tmpfile" => {
                let flags = (libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC) as c_long;
                sys(libc::SYS_openat, [AT_FDCWD, p, flags, mode, 0, 0])
            }
            "mknodat" => Errno::result(sys(libc::SYS_mknodat, [AT_FDCWD, p, reg, 0, 0, 0]))
                .and_then(|_| Errno::result(sys(libc::SYS_openat, [AT_FDCWD, p, 0, 0, 0, 0])))?,
            #[cfg(target_arch = "x86_64")]
            "open" => sys(libc::SYS_open, [p, create, mode, 0, 0, 0]),
            #[cfg(target_arch = "x86_64")]
            "creat" => sys(libc::SYS_creat, [p, mode, 0, 0, 0, 0]),
            #[cfg(target_arch = "x86_64")]
            "mknod" => Errno::result(sys(libc::SYS_mknod, [p, reg, 0, 0, 0, 0]))
                .and_then(|_| Errno::result(sys(libc::SYS_openat, [AT_FDCWD, p, 0, 0, 0, 0])))?,
            _ => return Ok(None),
        };
        let fd = Fd(Errno::result(fd)? as c_int);
        // SAFETY: st is a live stat buffer the kernel fills.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open; st is a live buffer of the right type.
        Errno::result(unsafe { libc::fstat(fd.0, &mut st) })?;
        Ok(Some(format!("mode {:o}", st.st_mode & 0o7777)))
    };
    match run() {
        Ok(Some(detail)) => Some(Ok(detail)),
        Ok(None) => None,
        Err(errno) => Some(Err(errno)),
    }
}

/// The System V IPC key and POSIX queue name of a case.
fn keys(word: &str) -> Result<(libc::key_t, CString), Errno> {
    let key: libc::key_t = word.parse().map_err(|_| Errno::EINVAL)?;
    // The kernel's mq_open takes the name without the leading slash.
    Ok((key, cstr(&format!("cordon-test-{key}"))?))
}

const SECRET: &[u8] = b"host secret\0";

/// `ipc-plant KEY` (on the host): a shared memory segment holding a
/// secret, a message queue with one message, a semaphore set and a POSIX
/// message queue with one message, each for the caller's user only.
pub fn ipc_plant(word: &str) -> Outcome {
    let (key, name) = keys(word)?;
    let create = libc::IPC_CREAT | libc::IPC_EXCL | 0o600;
    // SAFETY: plain values; the attached segment is 4096 bytes, more than
    // the secret written to it, and detached at once.
    unsafe {
        let shm = Errno::result(libc::shmget(key, 4096, create))?;
        let addr = libc::shmat(shm, std::ptr::null(), 0);
        if addr as isize == -1 {
            return Err(Errno::last());
        }
        std::ptr::copy_nonoverlapping(SECRET.as_ptr(), addr.cast::<u8>(), SECRET.len());
        libc::shmdt(addr);
        let queue = Errno::result(libc::msgget(key, create))?;
        let message = Message::new(b"host message");
        Errno::result(libc::msgsnd(
            queue,
            (&raw const message).cast(),
            message.text.len(),
            libc::IPC_NOWAIT,
        ))?;
        Errno::result(libc::semget(key, 1, create))?;
    }
    let flags = (libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC) as c_long;
    let mq = Errno::result(sys(
        libc::SYS_mq_open,
        [name.as_ptr() as c_long, flags, 0o600, 0, 0, 0],
    ))?;
    let text = b"host message";
    let sent = sys(
        libc::SYS_mq_timedsend,
        [mq, text.as_ptr() as c_long, text.len() as c_long, 0, 0, 0],
    );
    // SAFETY: mq was just opened here.
    unsafe { libc::close(mq as c_int) };
    Errno::result(sent)?;
    Ok("planted".into())
}

/// `ipc-remove KEY` (on the host): removes what `ipc-plant` made.
pub fn ipc_remove(word: &str) -> Outcome {
    let (key, name) = keys(word)?;
    // SAFETY: plain values and null buffers the IPC_RMID commands ignore.
    unsafe {
        let shm = libc::shmget(key, 0, 0);
        if shm >= 0 {
            libc::shmctl(shm, libc::IPC_RMID, std::ptr::null_mut());
        }
        let queue = libc::msgget(key, 0);
        if queue >= 0 {
            libc::msgctl(queue, libc::IPC_RMID, std::ptr::null_mut());
        }
        let sem = libc::semget(key, 0, 0);
        if sem >= 0 {
            libc::semctl(sem, 0, libc::IPC_RMID);
        }
    }
    sys(
        libc::SYS_mq_unlink,
        [name.as_ptr() as c_long, 0, 0, 0, 0, 0],
    );
    Ok("removed".into())
}

/// `struct msgbuf` with room for a short text.
#[repr(C)]
struct Message {
    kind: c_long,
    text: [u8; 64],
}

impl Message {
    fn new(text: &[u8]) -> Message {
        let mut message = Message {
            kind: 1,
            text: [0; 64],
        };
        message.text[..text.len()].copy_from_slice(text);
        message
    }
}

/// `shm-read KEY`: attaches the host's segment and reads its text.
pub fn shm_read(word: &str) -> Outcome {
    let (key, _) = keys(word)?;
    // SAFETY: the segment is attached read-only and read within the
    // 4096 bytes `ipc-plant` made it; the text is NUL-terminated there.
    unsafe {
        let shm = Errno::result(libc::shmget(key, 0, 0))?;
        let addr = libc::shmat(shm, std::ptr::null(), libc::SHM_RDONLY);
        if addr as isize == -1 {
            return Err(Errno::last());
        }
        let text = std::ffi::CStr::from_ptr(addr.cast())
            .to_string_lossy()
            .into_owned();
        libc::shmdt(addr);
        Ok(format!("read {text:?}"))
    }
}

/// `msg-drain KEY`: takes the message off the host's queue.
pub fn msg_drain(word: &str) -> Outcome {
    let (key, _) = keys(word)?;
    let mut message = Message::new(b"");
    // SAFETY: message is a live msgbuf with 64 bytes of text.
    let n = unsafe {
        let queue = Errno::result(libc::msgget(key, 0))?;
        libc::msgrcv(queue, (&raw mut message).cast(), 64, 0, libc::IPC_NOWAIT)
    };
    let n = Errno::result(n)? as usize;
    Ok(format!(
        "drained {:?}",
        String::from_utf8_lossy(&message.text[..n])
    ))
}

/// `sem-get KEY`: reads the host's semaphore.
pub fn sem_get(word: &str) -> Outcome {
    let (key, _) = keys(word)?;
    // SAFETY: plain values.
    let value = unsafe {
        let sem = Errno::result(libc::semget(key, 0, 0))?;
        libc::semctl(sem, 0, libc::GETVAL)
    };
    Errno::result(value).map(|v| format!("value {v}"))
}

/// `mq-read KEY`: opens the host's POSIX message queue and receives.
pub fn mq_read(word: &str) -> Outcome {
    let (_, name) = keys(word)?;
    let flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) as c_long;
    let mq = Errno::result(sys(
        libc::SYS_mq_open,
        [name.as_ptr() as c_long, flags, 0, 0, 0, 0],
    ))?;
    let mut buf = [0u8; 8192];
    let n = sys(
        libc::SYS_mq_timedreceive,
        [mq, buf.as_mut_ptr() as c_long, buf.len() as c_long, 0, 0, 0],
    );
    // SAFETY: mq was just opened here.
    unsafe { libc::close(mq as c_int) };
    let n = Errno::result(n)? as usize;
    Ok(format!("received {:?}", String::from_utf8_lossy(&buf[..n])))
}

/// `shm-private`: a segment of its own, written, read back and removed.
pub fn shm_private() -> Outcome {
    // SAFETY: the segment is 4096 bytes; one byte is written and read.
    unsafe {
        let shm = Errno::result(libc::shmget(
            libc::IPC_PRIVATE,
            4096,
            libc::IPC_CREAT | 0o600,
        ))?;
        let addr = libc::shmat(shm, std::ptr::null(), 0);
        libc::shmctl(shm, libc::IPC_RMID, std::ptr::null_mut());
        if addr as isize == -1 {
            return Err(Errno::last());
        }
        *addr.cast::<u8>() = 42;
        let back = *addr.cast::<u8>();
        libc::shmdt(addr);
        Ok(format!("own segment holds {back}"))
    }
}

/// `memfd-exec FLAGS HOW`: copies /usr/bin/true into a memfd created with
/// the hex FLAGS, then runs it by `execveat(fd, "", AT_EMPTY_PATH)` (HOW
/// `execveat`) or `execve("/proc/self/fd/N")` (HOW `proc`) in a child.
/// `ok ran from a memfd` when it ran and exited 0.
pub fn memfd_exec(flags: &str, how: &str) -> Option<Outcome> {
    let flags = c_long::from_str_radix(flags, 16).ok()?;
    if !matches!(how, "execveat" | "proc") {
        return None;
    }
    Some(memfd_exec_with(flags, how == "execveat"))
}

fn memfd_exec_with(flags: c_long, at: bool) -> Outcome {
    use std::io::Write;
    use std::os::fd::FromRawFd;

    let program = std::fs::read("/usr/bin/true").map_err(crate::probe::io)?;
    let fd = sys(
        libc::SYS_memfd_create,
        [c"probe-exec".as_ptr() as c_long, flags, 0, 0, 0, 0],
    );
    let fd = Errno::result(fd)? as c_int;
    // SAFETY: fd was just created here; the File owns and closes it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(&program).map_err(crate::probe::io)?;
    let proc_path = cstr(&format!("/proc/self/fd/{fd}"))?;
    let argv = [c"true".as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    // SAFETY: the probe is single-threaded; the child only makes the exec
    // call on memory prepared before the fork, then _exits with its errno.
    match unsafe { libc::fork() } {
        -1 => Err(Errno::last()),
        // SAFETY: in the child, only the exec call and _exit.
        0 => unsafe {
            if at {
                libc::syscall(
                    libc::SYS_execveat,
                    fd,
                    c"".as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                );
            } else {
                libc::execve(proc_path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            }
            libc::_exit(*libc::__errno_location())
        },
        pid => {
            let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None)?;
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok("ran from a memfd".into()),
                nix::sys::wait::WaitStatus::Exited(_, code) => Err(Errno::from_raw(code)),
                _ => Err(Errno::EIO),
            }
        }
    }
}
