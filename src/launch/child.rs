//! The code between fork and exec: a flat sequence of `apply` steps over
//! what `sandbox::prepare` built. Async-signal-safe only: no allocation,
//! no locks, no logging, no panics. A failure becomes one fixed-size
//! record on the status pipe, then `_exit`.
//!
//! Two processes run this code. The first child (the sandbox's init, pid 1
//! of the new pid namespace) sets up the namespaces and the minimal root,
//! then starts the server and supervises it (`launch::init`). The server
//! process, in init's memory until it executes (see `spawn_server`),
//! applies the per-process layers, seccomp last, and executes.
#![allow(unsafe_code)]
#![deny(clippy::indexing_slicing, clippy::panic)]

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;

use super::fds::ChildFds;
use super::init;
use super::status::{Record, Step};
use crate::sandbox::seccomp::PreparedSeccomp;
use crate::sandbox::{Prepared, cgroup, mounts};
use crate::sys;

/// Reports a failure and leaves.
fn fail(status: RawFd, step: Step, index: usize, errno: Errno) -> ! {
    let _ = sys::write_all(
        status,
        &Record::Failed {
            step,
            index: index as u32,
            errno,
        }
        .encode(),
    );
    sys::exit_now(125)
}

fn check<T>(status: RawFd, step: Step, result: Result<T, Errno>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => fail(status, step, 0, e),
    }
}

/// Entry point of the first child. Never returns.
pub fn run_init(p: &Prepared, fds: ChildFds) -> ! {
    for fd in fds.cordon.into_iter().filter(|&fd| fd >= 0) {
        sys::close(fd);
    }
    // init is a copy of cordon and came with cordon's standard streams
    // (a terminal, a log file): the sandbox keeps none of them.
    for target in 0..3 {
        check(fds.status, Step::Stdio, sys::dup2(fds.null, target));
    }
    let namespaces = p.clone_flags != 0;
    // Die with cordon. In a pid namespace, init's death takes every process
    // inside with it; without one, init must outlive cordon long enough to
    // kill the tree, so it watches the life pipe instead of dying at once.
    if namespaces {
        check(
            fds.status,
            Step::ParentGone,
            sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong),
        );
    } else {
        check(
            fds.status,
            Step::Subreaper,
            sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1),
        );
    }
    // cordon may have died before the death signal was armed: the life
    // pipe has hung up then.
    if init::parent_gone(fds.life) {
        sys::exit_now(125);
    }
    check(fds.status, Step::Setsid, sys::setsid());
    // A new network namespace costs more than all the others together: a
    // helper makes it on another CPU while init builds the mount view,
    // and init joins it before anything uses the network.
    let net_parts = (p.clone_flags & libc::CLONE_NEWNET != 0).then(|| {
        (
            check(fds.status, Step::Network, sys::ChildStack::map()),
            check(fds.status, Step::Network, NetSlot::open()),
        )
    });
    let net = net_parts
        .as_ref()
        .map(|(stack, slot)| check(fds.status, Step::Network, slot.start(stack)));
    if let Some(maps) = &p.id_maps {
        check(fds.status, Step::IdMaps, maps.apply());
    }
    if let Some(plan) = &p.mounts {
        if let Err((index, errno)) = mounts::apply(plan) {
            fail(fds.status, Step::Mount, index, errno);
        }
    }
    if let Some(net) = net {
        check(fds.status, Step::Network, net.join());
    }
    if let Some(name) = p.hostname {
        check(fds.status, Step::Hostname, sys::sethostname(name));
    }
    if p.loopback {
        check(fds.status, Step::Loopback, sys::loopback_up());
    }
    // Network `filtered`: routes and listeners inside, handed to cordon's
    // forwarder outside before the server exists, so it never holds them.
    if let Some(egress) = &p.egress {
        if let Err((index, errno)) = egress.apply(fds.egress) {
            fail(fds.status, Step::Egress, index, errno);
        }
    }
    // init is a copy of cordon: its memory and /proc/1/environ hold
    // cordon's whole environment. Non-dumpable, the server (without
    // capabilities) cannot read them or attach to it.
    check(
        fds.status,
        Step::Dumpable,
        sys::prctl(libc::PR_SET_DUMPABLE, 0),
    );
    // Block the signals init handles before the server exists, so none is
    // lost between fork and the supervision loop.
    let signalfd = check(
        fds.status,
        Step::Signals,
        sys::block_to_signalfd(&init::HANDLED),
    );
    // cordon makes the cgroups while init builds the sandbox; the server
    // is forked in them.
    if let Some(cgroup) = &p.cgroup {
        check(
            fds.status,
            Step::Cgroup,
            join_cgroups(fds.go, cgroup.count()),
        );
    }
    // cordon decides (consent, the relay's filter, the last check of the
    // files it hashed) while init builds the sandbox: the server is forked
    // only on cordon's go, and never when cordon drops the socket instead.
    wait_for_go(fds.go);
    let mut exec_pipe = [0 as libc::c_int; 2];
    // SAFETY: exec_pipe is a valid array of two ints.
    if unsafe { libc::pipe2(exec_pipe.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        fail(fds.status, Step::Fork, 0, Errno::last());
    }
    let server = spawn_server(p, fds, exec_pipe, signalfd);
    if let Err(e) = init::close_all_but(fds.init_keeps(exec_pipe[0], signalfd)) {
        let _ = sys::kill(server, libc::SIGKILL);
        let _ = sys::waitpid(server, 0);
        fail(fds.status, Step::Descriptors, 0, e);
    }
    init::supervise(
        server,
        exec_pipe[0],
        signalfd,
        fds.status,
        fds.life,
        namespaces,
    )
}

/// What the server's entry point gets from init.
struct ServerStart<'p> {
    p: &'p Prepared,
    fds: ChildFds,
    exec_pipe: [RawFd; 2],
    signalfd: RawFd,
}

/// Starts the server and returns its pid once it has executed (or failed
/// to: its report is in `exec_pipe`). The server borrows init's memory
/// until its exec rather than copying it, unless it must be dumpable
/// before the exec (`--explain`): dumpability belongs to the memory, and
/// init's must never be.
fn spawn_server(
    p: &Prepared,
    fds: ChildFds,
    exec_pipe: [RawFd; 2],
    signalfd: RawFd,
) -> libc::pid_t {
    let stack = check(fds.status, Step::Fork, sys::ChildStack::map());
    let share = !p
        .seccomp
        .as_ref()
        .is_some_and(PreparedSeccomp::observes_paths);
    let mut start = ServerStart {
        p,
        fds,
        exec_pipe,
        signalfd,
    };
    // SAFETY: init is single-threaded with its handled signals blocked;
    // `server_entry` never returns and, sharing memory, writes nothing
    // init reads afterwards: its own stack, and errno, which init's next
    // failing call sets again before it is read.
    let spawned = unsafe {
        sys::spawn(
            &stack,
            share,
            server_entry,
            std::ptr::from_mut(&mut start).cast(),
        )
    };
    check(fds.status, Step::Fork, spawned)
}

extern "C" fn server_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `spawn_server` passes its ServerStart, alive until this
    // process executes or leaves (init is suspended, or this is a copy).
    let start = unsafe { &*arg.cast::<ServerStart>() };
    sys::close(start.exec_pipe[0]);
    sys::close(start.signalfd);
    run_server(start.p, start.fds, start.exec_pipe[1])
}

/// Where the network helper finds `/proc` and leaves its answer: the
/// descriptor of the namespace it made, or a negated errno.
struct NetSlot {
    proc_dir: RawFd,
    answer: AtomicI32,
}

/// The running helper, which borrows its slot and stack until joined.
struct NetHelper<'a> {
    pid: libc::pid_t,
    slot: &'a NetSlot,
    _stack: &'a sys::ChildStack,
}

impl NetSlot {
    /// `/proc` is opened before the mount view replaces it: the helper
    /// names its own namespace file below it.
    fn open() -> Result<NetSlot, Errno> {
        Ok(NetSlot {
            proc_dir: sys::open_dir(c"/proc")?,
            answer: AtomicI32::new(-libc::EPROTO),
        })
    }

    /// The helper shares init's memory and descriptors (its answer is
    /// one of them) and runs beside init.
    fn start<'a>(&'a self, stack: &'a sys::ChildStack) -> Result<NetHelper<'a>, Errno> {
        // SAFETY: `net_entry` reads the slot, writes only its atomic, and
        // makes only calls that leave init's errno alone; the slot and
        // the stack are borrowed until `join` has reaped the helper (or
        // init leaves, which ends it with the pid namespace).
        let pid = unsafe {
            sys::spawn_with(
                stack,
                libc::CLONE_VM | libc::CLONE_FILES,
                net_entry,
                std::ptr::from_ref(self).cast_mut().cast(),
            )
        }?;
        Ok(NetHelper {
            pid,
            slot: self,
            _stack: stack,
        })
    }
}

impl NetHelper<'_> {
    /// Waits for the helper, then moves init into its namespace.
    fn join(self) -> Result<(), Errno> {
        sys::waitpid(self.pid, 0)?;
        sys::close(self.slot.proc_dir);
        let answer = self.slot.answer.load(Ordering::SeqCst);
        if answer < 0 {
            return Err(Errno::from_raw(-answer));
        }
        let joined = sys::setns(answer, libc::CLONE_NEWNET);
        sys::close(answer);
        joined
    }
}

/// The helper: a new network namespace, and a descriptor that keeps it
/// once the helper is gone. It runs at the same time as init in init's
/// memory, where errno is init's: raw calls only.
extern "C" fn net_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `NetSlot::start` passes its slot, alive until joined.
    let slot = unsafe { &*arg.cast::<NetSlot>() };
    // SAFETY: unshare takes a flag word.
    let mut answer =
        unsafe { sys::raw_syscall3(libc::SYS_unshare, libc::CLONE_NEWNET as usize, 0, 0) };
    if answer == 0 {
        // SAFETY: a directory descriptor, a C string and open flags.
        answer = unsafe {
            sys::raw_syscall3(
                libc::SYS_openat,
                slot.proc_dir as usize,
                c"thread-self/ns/net".as_ptr() as usize,
                (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
            )
        };
    }
    let answer = i32::try_from(answer).unwrap_or(-libc::EOVERFLOW);
    slot.answer.store(answer, Ordering::SeqCst);
    // glibc's clone ends the process with this value (a raw exit).
    0
}

/// Joins the cgroups whose join files cordon sends (one message, exactly
/// `expected` descriptors); leaves at once on the end of the socket
/// (cordon refused the start, or died).
fn join_cgroups(go: RawFd, expected: usize) -> Result<(), Errno> {
    let mut tag = [0u8; 1];
    let mut received = [-1; cgroup::MAX_GROUPS];
    let (len, count) = crate::sockets::recv_fds_into(go, &mut tag, &mut received)?;
    if len == 0 {
        sys::exit_now(125);
    }
    let received = received.get(..count).unwrap_or_default();
    let joined = if tag == CGROUPS && count == expected {
        cgroup::join(received)
    } else {
        Err(Errno::EPROTO)
    };
    for &fd in received {
        sys::close(fd);
    }
    joined
}

/// The tag of the message carrying the cgroups' join files.
pub const CGROUPS: [u8; 1] = *b"C";

/// Returns on cordon's go byte; leaves at once on anything else: the end
/// of the socket (cordon refused the start, or died) or an error.
fn wait_for_go(go: RawFd) {
    let mut byte = [0u8; 1];
    let went = matches!(sys::read(go, &mut byte), Ok(1)) && byte == GO;
    sys::close(go);
    if !went {
        sys::exit_now(125);
    }
}

/// The byte that lets init fork the server.
pub const GO: [u8; 1] = *b"G";

/// Installs the program with a listener and sends the listener to
/// cordon. Under `--explain` the notifier must be answering before
/// `execve` (itself a notified call then), and the process is made
/// dumpable first, so that cordon, without privileges, may read the path
/// arguments of the calls made before `execve` (init made itself
/// undumpable, and the server is its copy until it executes; nothing else
/// runs in the sandbox yet). Without `--explain` only the deny list is
/// notified, whose calls need no reading.
///
/// A kernel without listeners (before Linux 5.0) gets the program
/// without notifications when there is one (plain `run`: the refusals
/// then go unreported, and cordon's end of the socket receives nothing).
fn send_listener(seccomp: &PreparedSeccomp, socket: RawFd, report: RawFd) {
    if seccomp.observes_paths() {
        check(report, Step::Dumpable, sys::prctl(libc::PR_SET_DUMPABLE, 1));
    }
    let listener = match (
        sys::seccomp_install_listener(&seccomp.program),
        &seccomp.fallback,
    ) {
        (Ok(fd), _) => fd,
        (Err(_), Some(fallback)) => {
            check(report, Step::Seccomp, sys::seccomp_install(fallback));
            return;
        }
        (Err(e), None) => fail(report, Step::Seccomp, 0, e),
    };
    let sent = crate::sockets::send_fds(socket, b"L", &[listener]);
    sys::close(listener);
    check(report, Step::Seccomp, sent);
}

/// The server process: per-process layers, seccomp last, then exec.
fn run_server(p: &Prepared, fds: ChildFds, report: RawFd) -> ! {
    sys::close(fds.status);
    sys::close(fds.life);
    // The plan's pipes become 0, 1 and 2 (they are all above 2: cordon's
    // own 0, 1 and 2 are open when it creates them).
    for (target, fd) in (0..).zip(fds.stdio) {
        check(report, Step::Stdio, sys::dup2(fd, target));
    }
    sys::reset_signals();
    for (i, &(resource, value)) in p.rlimits.iter().enumerate() {
        if let Err(e) = sys::setrlimit(resource, value) {
            fail(report, Step::Rlimit, i, e);
        }
    }
    check(report, Step::Directory, sys::chdir(&p.exec.cwd));
    // Everything above 2 is closed by exec, including the Landlock ruleset
    // and this report pipe (both close-on-exec after this call).
    check(report, Step::Descriptors, sys::cloexec_from(3));
    check(report, Step::Capabilities, sys::drop_all_capabilities());
    match &p.landlock {
        Some(landlock) => check(report, Step::Landlock, landlock.apply()),
        None => check(report, Step::NoNewPrivs, sys::set_no_new_privs()),
    }
    if let Some(seccomp) = &p.seccomp {
        if seccomp.listener && fds.explain >= 0 {
            send_listener(seccomp, fds.explain, report);
        } else {
            // Without a listener a notification is answered ENOSYS by the
            // kernel: still a refusal.
            check(
                report,
                Step::Seccomp,
                sys::seccomp_install(&seccomp.program),
            );
        }
    }
    if fds.explain >= 0 {
        sys::close(fds.explain);
    }
    // The descriptor cordon hashed, when it has one: the file that was
    // checked is the file that runs, whatever its path names by now.
    let errno = match &p.exec.fd {
        Some(fd) => sys::execveat_fd(fd.as_raw_fd(), &p.exec.argv_ptrs, &p.exec.envp_ptrs),
        None => sys::execve(&p.exec.path, &p.exec.argv_ptrs, &p.exec.envp_ptrs),
    };
    fail(report, Step::Exec, 0, errno)
}

#[cfg(test)]
#[allow(clippy::panic, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// The inode of the calling process's network namespace.
    fn net_inode() -> u64 {
        // SAFETY: stat is plain data; zeroed is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid path and out pointer.
        if unsafe { libc::stat(c"/proc/self/ns/net".as_ptr(), &mut st) } != 0 {
            sys::exit_now(90);
        }
        st.st_ino
    }

    /// In a forked child (allocation-free from here: the test harness has
    /// threads): `setup`, then the helper makes a namespace and the child
    /// joins it. Exit 0: joined, in a new namespace; 1: joined, but in
    /// the old one; 100 + errno: the join failed.
    fn helper_in_child(setup: fn()) -> i32 {
        match sys::clone_fork(0).expect("fork") {
            0 => {
                setup();
                let before = net_inode();
                let stack = sys::ChildStack::map().unwrap_or_else(|_| sys::exit_now(91));
                let slot = NetSlot::open().unwrap_or_else(|_| sys::exit_now(92));
                let joined = slot.start(&stack).and_then(NetHelper::join);
                sys::exit_now(match joined {
                    Ok(()) if net_inode() != before => 0,
                    Ok(()) => 1,
                    Err(e) => 100 + e as i32,
                })
            }
            pid => {
                let (_, status) = sys::waitpid(pid, 0).expect("waitpid").expect("reaped");
                assert!(libc::WIFEXITED(status), "status {status:#x}");
                libc::WEXITSTATUS(status)
            }
        }
    }

    #[test]
    fn init_joins_the_network_namespace_its_helper_makes() {
        fn own_user_namespace() {
            // SAFETY: unshare takes a flag word.
            if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
                sys::exit_now(93);
            }
        }
        match helper_in_child(own_user_namespace) {
            93 => eprintln!(
                "skipped: no user namespace for this process (kernel feature: unprivileged user namespaces)"
            ),
            code => assert_eq!(code, 0),
        }
    }

    #[test]
    fn a_helper_the_kernel_refuses_a_namespace_fails_the_join() {
        fn without_privileges() {
            // Leaving root drops every capability, CAP_SYS_ADMIN included.
            // SAFETY: plain integers.
            if unsafe { libc::setresuid(65534, 65534, 65534) } != 0 {
                sys::exit_now(94);
            }
        }
        assert_eq!(helper_in_child(without_privileges), 100 + libc::EPERM);
    }
}
