//! The sandbox's init: pid 1 of the server's pid namespace (or, without
//! namespaces, a child subreaper). It reports the server's start, forwards
//! signals to it, reaps every orphan, and reports the server's wait status
//! to cordon. Async-signal-safe only, like `launch::child`.
#![allow(unsafe_code)]
#![deny(clippy::indexing_slicing, clippy::panic)]

use std::os::fd::RawFd;

use nix::errno::Errno;

use super::status::{RECORD_SIZE, Record, Step};
use crate::sys;

/// Signals forwarded to the server: cordon forwards them to init, init
/// to the server.
pub const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// What init handles: SIGCHLD for itself, then the forwarded signals (a
/// test checks the two lists agree).
pub const HANDLED: [libc::c_int; 7] = [
    libc::SIGCHLD,
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Whether cordon has died: the life pipe's only writer is gone.
pub fn parent_gone(life: RawFd) -> bool {
    let mut pfd = [libc::pollfd {
        fd: life,
        events: libc::POLLIN,
        revents: 0,
    }];
    matches!(sys::poll(&mut pfd, 0), Ok(n) if n > 0 && pfd[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLIN) != 0)
}

/// Closes every descriptor from 3 up except those in `keep` (-1 entries
/// are ignored), allocation-free. Init is a copy of cordon: it inherited
/// whatever cordon held without close-on-exec (a host's terminal or log
/// file passed as a higher descriptor), and once the server is forked it
/// needs only its own few.
pub fn close_all_but<const N: usize>(keep: [RawFd; N]) -> Result<(), Errno> {
    let mut result = Ok(());
    for_each_gap(keep, |first, last| {
        if result.is_ok() {
            result = close_range(first, last);
        }
    });
    result
}

/// Calls `f` with each range (first, last) of descriptors from 3 up that
/// `keep` leaves out, the last one ending at `RawFd::MAX`.
fn for_each_gap<const N: usize>(mut keep: [RawFd; N], mut f: impl FnMut(RawFd, RawFd)) {
    keep.sort_unstable();
    let mut next: RawFd = 3;
    for fd in keep {
        if fd > next {
            f(next, fd - 1);
        }
        if fd >= next {
            next = fd.saturating_add(1);
        }
    }
    f(next, RawFd::MAX)
}

fn close_range(first: RawFd, last: RawFd) -> Result<(), Errno> {
    // SAFETY: close_range only closes descriptor numbers; the caller owns
    // every descriptor in the range (none is in use by anything else of
    // this single-threaded process).
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    Errno::result(ret).map(drop)
}

/// Waits for the server's exec, then supervises until it exits. Never
/// returns.
pub fn supervise(
    server: libc::pid_t,
    exec_report: RawFd,
    signalfd: RawFd,
    status: RawFd,
    life: RawFd,
    pid_namespace: bool,
) -> ! {
    // The exec report pipe reaches EOF when exec succeeded; a record means
    // the server process failed a step and has exited.
    let mut buf = [0u8; RECORD_SIZE];
    match sys::read(exec_report, &mut buf) {
        Ok(RECORD_SIZE) => {
            let _ = sys::write_all(status, &buf);
            let _ = sys::waitpid(server, 0);
            sys::exit_now(125);
        }
        Ok(_) => {
            let _ = sys::write_all(status, &Record::Started.encode());
        }
        Err(e) => {
            let _ = sys::write_all(
                status,
                &Record::Failed {
                    step: Step::Exec,
                    index: 0,
                    errno: e,
                }
                .encode(),
            );
            sys::exit_now(125);
        }
    }
    sys::close(exec_report);
    let server_status = wait_loop(server, signalfd, life);
    // Without a pid namespace nothing kills what the server left behind
    // (a double-forked, setsid'd daemon): init hunts it down. With one, the
    // kernel kills everything in the namespace when init exits.
    if !pid_namespace {
        kill_descendants();
    }
    if let Some(status_value) = server_status {
        let _ = sys::write_all(
            status,
            &Record::Exited {
                status: status_value,
            }
            .encode(),
        );
    }
    sys::exit_now(0)
}

/// Forwards signals and reaps until the server exits (its status) or
/// cordon dies (None).
fn wait_loop(server: libc::pid_t, signalfd: RawFd, life: RawFd) -> Option<i32> {
    loop {
        let mut pfds = [
            libc::pollfd {
                fd: signalfd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: life,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if sys::poll(&mut pfds, -1).is_err() {
            return None;
        }
        if pfds[1].revents != 0 {
            return None;
        }
        while let Ok(Some(sig)) = sys::read_signalfd(signalfd) {
            if sig != libc::SIGCHLD {
                let _ = sys::kill(server, sig);
            }
        }
        // Reap everything that has exited: the server and any orphan that
        // was reparented to init.
        while let Ok(Some((pid, status))) = sys::waitpid(-1, libc::WNOHANG) {
            if pid == server {
                return Some(status);
            }
        }
    }
}

/// Kills every process below init until none is left. Children of a killed
/// process are reparented to init (a subreaper) and killed next round.
fn kill_descendants() {
    loop {
        let killed = for_each_child(|pid| {
            let _ = sys::kill(pid, libc::SIGKILL);
        });
        match sys::waitpid(-1, if killed { 0 } else { libc::WNOHANG }) {
            Err(Errno::ECHILD) => return,
            Ok(None) if !killed => return,
            _ => {}
        }
    }
}

/// Calls `f` with each direct child's pid, read from
/// `/proc/self/task/<pid>/children` without allocating. Returns whether
/// there was any.
fn for_each_child(mut f: impl FnMut(libc::pid_t)) -> bool {
    let mut path = [0u8; 64];
    let len = format_children_path(&mut path, sys::getpid());
    // SAFETY: path is NUL-terminated within its length (format_children_path
    // leaves a zero after the text).
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 || len == 0 {
        return false;
    }
    let mut any = false;
    let mut buf = [0u8; 512];
    let mut current: libc::pid_t = 0;
    let mut in_number = false;
    while let Ok(n) = sys::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        for &b in buf.get(..n).unwrap_or_default() {
            if b.is_ascii_digit() {
                current = current * 10 + libc::pid_t::from(b - b'0');
                in_number = true;
            } else if in_number {
                f(current);
                any = true;
                current = 0;
                in_number = false;
            }
        }
    }
    if in_number {
        f(current);
        any = true;
    }
    sys::close(fd);
    any
}

/// Writes "/proc/self/task/<pid>/children\0" into `out`; returns the length.
/// The text is at most 36 bytes, so `out` (zero-filled) always ends with a
/// NUL after it.
fn format_children_path(out: &mut [u8; 64], pid: libc::pid_t) -> usize {
    let mut digits = [0u8; 12];
    let mut n = pid.unsigned_abs();
    let mut d = 0;
    for slot in &mut digits {
        *slot = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut len = 0;
    let mut push = |bytes: &[u8], len: &mut usize| {
        if let Some(dst) = out.get_mut(*len..*len + bytes.len()) {
            dst.copy_from_slice(bytes);
            *len += bytes.len();
        }
    };
    push(b"/proc/self/task/", &mut len);
    for digit in digits.iter().take(d).rev() {
        push(std::slice::from_ref(digit), &mut len);
    }
    push(b"/children\0", &mut len);
    len
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn init_handles_sigchld_and_every_forwarded_signal() {
        assert_eq!(HANDLED[0], libc::SIGCHLD);
        assert_eq!(HANDLED[1..], FORWARDED);
    }

    #[test]
    fn the_gaps_between_kept_descriptors_are_closed() {
        let gaps = |keep: [RawFd; 5]| {
            let mut all = Vec::new();
            for_each_gap(keep, |a, b| all.push((a, b)));
            all
        };
        assert_eq!(gaps([9, 5, -1, 6, 3]), [(4, 4), (7, 8), (10, RawFd::MAX)]);
        assert_eq!(gaps([-1, -1, 4, 4, 7]), [(3, 3), (5, 6), (8, RawFd::MAX)]);
    }

    #[test]
    fn children_path_is_formatted_without_allocation() {
        let mut out = [0u8; 64];
        let len = format_children_path(&mut out, 40213);
        assert_eq!(&out[..len], b"/proc/self/task/40213/children\0");
    }
}
