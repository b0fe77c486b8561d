//! Starting the server: resolving the executable, creating the pipes,
//! cloning into the namespaces, and reading the child's first record.
//!
//! The parent side may allocate; everything after the clone lives in
//! `child` and `init` and may not.

mod child;
mod fds;
mod init;
pub use init::FORWARDED;
pub mod resolve;
pub mod script;
pub mod status;

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::unistd::Pid;

pub use resolve::{Resolved, resolve};
use status::{RECORD_SIZE, Record, Step};

use crate::explain::notify::Watch;
use crate::relay::stderr;
use crate::sandbox::Prepared;
use crate::sys;

/// The running sandbox, as seen from cordon.
#[derive(Debug)]
pub struct Child {
    /// The sandbox's init process (cordon's direct child).
    pub pid: Pid,
    /// Write end of the server's stdin (taken by the relay, which closes
    /// it to signal EOF).
    pub stdin: Option<OwnedFd>,
    /// Read end of the server's stdout.
    pub stdout: OwnedFd,
    /// Records from init: the server's exit status.
    pub status: OwnedFd,
    /// The thread relaying the server's stderr (a pipe) to cordon's
    /// stderr or to `Prepared::stderr`.
    stderr: Option<stderr::StderrRelay>,
    /// Held open for the sandbox's lifetime: when cordon dies, or drops
    /// it, init sees this pipe hang up and ends the whole sandbox.
    life: Option<OwnedFd>,
    /// Network `filtered`: cordon's forwarder. It ends by itself when the
    /// sandbox or cordon does.
    pub forwarder: Option<std::process::Child>,
    /// The thread answering the server's seccomp notifications (the deny
    /// list's, and under `--explain` the path calls'); it ends when the
    /// sandbox does.
    notifier: Option<std::thread::JoinHandle<()>>,
    /// Plain `run`: the listener of the deny list's notifications, which
    /// the session's loop polls and answers (see [`Child::denials`]).
    denials: Option<crate::explain::notify::Polled>,
    /// `--explain` with network mode `filtered`: the thread turning the
    /// forwarder's refusals into records.
    egress_reader: Option<crate::explain::egress::Reader>,
}

impl Child {
    /// Ends every process of the sandbox: init notices the hang-up and
    /// exits (with a pid namespace the kernel then kills the rest; without
    /// one init kills its descendants first).
    pub fn kill_sandbox(&mut self) {
        self.life = None;
    }

    /// Returns once every byte the server had written to its stderr when
    /// this was called has been relayed (`vet` reads its log then).
    pub fn settle_stderr(&self) {
        if let Some(relay) = &self.stderr {
            relay.settle();
        }
    }

    /// Relays what is left of the server's stderr and ends the relay;
    /// returns what the relay saw (nothing when its stderr was already
    /// finished). Called once the sandbox is gone: everything the server
    /// wrote is in the pipe then, and nothing is lost.
    pub fn finish_stderr(&mut self) -> stderr::Relayed {
        let relayed = match self.stderr.take() {
            Some(relay) => relay.finish(),
            None => stderr::Relayed::default(),
        };
        self.finish_explain();
        relayed
    }

    /// The deny list's listener when the caller answers it (a launch by
    /// [`spawn_polled`]): whoever holds the child must poll it and call
    /// `answer_pending` when it is readable, or the server waits in a
    /// denied call.
    pub fn denials(&self) -> Option<&crate::explain::notify::Polled> {
        self.denials.as_ref()
    }

    /// Closes the deny list's listener (the sandbox is gone).
    pub fn end_denials(&mut self) {
        self.denials = None;
    }

    /// Waits for the notifier, once the sandbox is gone: every refusal it
    /// saw is recorded then.
    pub fn finish_explain(&mut self) {
        if let Some(notifier) = self.notifier.take() {
            let _ = notifier.join();
        }
        if let Some(reader) = self.egress_reader.take() {
            reader.finish();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{command}: command not found")]
    NotFound { command: String },
    #[error("{path}: {reason}")]
    NotExecutable { path: String, reason: String },
    #[error("cannot start the sandbox: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("cannot start the sandbox: clone into its namespaces: {}", .0.desc())]
    Clone(Errno),
    #[error("cordon must be single-threaded before it forks (found {0} threads)")]
    Threads(usize),
    #[error("sandbox setup failed at {step}: {detail}: {errno}", step = step.name(), errno = errno.desc())]
    Setup {
        step: Step,
        detail: String,
        errno: Errno,
    },
    #[error(
        "{path} was replaced while the sandbox was built ({}): the sandbox would not show the file cordon checked",
        errno.desc()
    )]
    Replaced { path: String, errno: Errno },
    #[error("the sandbox's init process ended before reporting")]
    Vanished,
    /// What cordon completes of the sandbox after the clone failed.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(
        "{0} (cordon took the kernel's support for namespaces from the cache of an earlier probe; the entry is dropped and the next start probes again)"
    )]
    ProbeCache(Box<LaunchError>),
}

/// Starts the server under `prepared`; when the namespaces were taken
/// from the probe cache and a step that depends on them fails, the entry
/// is dropped and the error says so. The launch itself fails closed
/// either way: the server is never started.
pub fn spawn(prepared: &Prepared) -> Result<Child, LaunchError> {
    spawn_watched(prepared, None)
}

/// [`spawn`], with the seccomp notifier when `watch` is given (and the
/// prepared seccomp layer has a listener): `--explain`'s, or plain
/// `run`'s for the deny list alone.
pub fn spawn_watched(prepared: &Prepared, watch: Option<Watch>) -> Result<Child, LaunchError> {
    start(prepared, watch, false)?.go(prepared)
}

/// Builds the sandbox for `prepared` (see [`Starting`]): init is cloned
/// into its namespaces and builds them while cordon goes on; the server
/// is forked only by [`Starting::go`]. With `polled`, a caller that
/// polls the deny list's listener itself ([`Child::denials`]) when
/// `watch` is not `--explain`'s: no thread is started for it.
pub fn start(
    prepared: &Prepared,
    watch: Option<Watch>,
    polled: bool,
) -> Result<Starting, LaunchError> {
    start_sandbox(prepared, watch, polled).map_err(|e| blame_probe_cache(prepared, e))
}

/// A failure of a step that depends on namespaces taken from the probe
/// cache drops the cache's entry, and says so.
fn blame_probe_cache(prepared: &Prepared, e: LaunchError) -> LaunchError {
    match &prepared.probe_cache {
        Some(cache) if e.is_namespace_step() => {
            cache.forget();
            LaunchError::ProbeCache(Box::new(e))
        }
        _ => e,
    }
}

impl LaunchError {
    /// A failure where the kernel refused something the namespace probe
    /// tries: the clone into new namespaces, the id maps, the mounts.
    fn is_namespace_step(&self) -> bool {
        match self {
            LaunchError::Clone(_) => true,
            LaunchError::Setup { step, .. } => matches!(
                step,
                Step::IdMaps | Step::Mount | Step::Hostname | Step::Loopback | Step::Network
            ),
            _ => false,
        }
    }
}

/// A sandbox being built: init runs in its namespaces and builds the
/// mount view, while cordon finishes what the server's start waits for
/// (the consent screen, the relay's filter, the last check of the files
/// it hashed). Init forks the server only on [`Starting::go`]; dropping
/// this instead ends init before any server exists.
#[derive(Debug)]
pub struct Starting {
    pid: Pid,
    /// cordon's ends, taken by [`Starting::go`].
    held: Option<Held>,
    forwarder: Option<std::process::Child>,
    notifier: Option<std::thread::JoinHandle<()>>,
    /// Plain `run`: the socket the deny list's listener arrives on, taken
    /// once the server runs.
    later: Option<(OwnedFd, Watch)>,
    egress_reader: Option<crate::explain::egress::Reader>,
}

/// What cordon holds of a sandbox being built.
#[derive(Debug)]
struct Held {
    /// The read end of the server's stderr and where it goes: relayed
    /// from the go on (the pipe holds what comes before).
    stderr: (OwnedFd, stderr::Sink),
    stdin: OwnedFd,
    stdout: OwnedFd,
    status: OwnedFd,
    life: OwnedFd,
    go: OwnedFd,
}

impl Drop for Starting {
    /// The start was not given its go: init reads the end of the go
    /// socket (or, still building, is killed) and is reaped; nothing of
    /// the server ever ran.
    fn drop(&mut self) {
        if self.held.take().is_none() {
            return;
        }
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.pid, None);
        if let Some(notifier) = self.notifier.take() {
            let _ = notifier.join();
        }
    }
}

/// Clones init into the sandbox's namespaces, then does, while init
/// builds them on another CPU, what the server's start does not wait for.
fn start_sandbox(
    prepared: &Prepared,
    watch: Option<Watch>,
    polled: bool,
) -> Result<Starting, LaunchError> {
    if !prepared.launchable {
        return Err(LaunchError::Spawn(std::io::Error::other(
            "the sandbox was prepared to be shown only (a dry run), without its private /tmp and cgroup",
        )));
    }
    match sys::thread_count() {
        Some(1) | None => {}
        Some(n) => return Err(LaunchError::Threads(n)),
    }
    // The forwarder starts before the sandbox, from cordon while it is
    // still single-threaded; init gets the other end of its socket.
    // Without --explain the forwarder prints its own lines (with the
    // filter's reason), and no reader thread is needed.
    let explainer = watch
        .as_ref()
        .filter(|w| w.explaining())
        .map(|w| Arc::clone(&w.explainer));
    let (egress_end, forwarder, egress_refusals) = match &prepared.egress {
        Some(egress) => {
            let started = crate::egress::start(
                &egress.config,
                prepared.stderr.as_ref(),
                explainer.is_some(),
            )
            .map_err(LaunchError::Spawn)?;
            (
                Some(started.init_end),
                Some(started.process),
                started.refusals,
            )
        }
        None => (None, None, None),
    };
    let listener = prepared.seccomp.as_ref().is_some_and(|s| s.listener);
    let watch = watch.filter(|w| listener && w.seccomp.is_some());
    let descriptors = fds::Descriptors::new(egress_end, watch.is_some())?;
    // Init makes the network namespace itself, in a helper, while it
    // builds the mount view (see `child::NetSlot`).
    let pid = match sys::clone_fork(prepared.clone_flags & !libc::CLONE_NEWNET) {
        Ok(0) => child::run_init(prepared, descriptors.child()),
        Ok(pid) => Pid::from_raw(pid),
        Err(e) => return Err(LaunchError::Clone(e)),
    };
    let ends = descriptors.into_cordon();
    // Made before init is ended on a failure to, below.
    let sink = match &prepared.stderr {
        Some(log) => log.try_clone().map(stderr::Sink::from),
        None => Ok(stderr::Sink::host()),
    };
    // From here on, dropping `starting` ends init.
    let mut starting = Starting {
        pid,
        held: Some(Held {
            stderr: (ends.stderr, sink.map_err(LaunchError::Spawn)?),
            stdin: ends.stdin,
            stdout: ends.stdout,
            status: ends.status,
            life: ends.life,
            go: ends.go,
        }),
        forwarder,
        notifier: None,
        later: None,
        egress_reader: None,
    };
    // While init builds the namespaces on another CPU: the server's start
    // waits for this only at the go. Init joins the cgroups before it.
    prepared.complete()?;
    if let (Some(cgroup), Some(ends)) = (&prepared.cgroup, &starting.held) {
        let fds = cgroup.join_fds();
        crate::sockets::send_fds(ends.go.as_raw_fd(), &child::CGROUPS, &fds)
            .map_err(|e| LaunchError::Spawn(e.into()))?;
    }
    // Under --explain the server waits in `execve` (a notified call) for
    // the notifier. Without it nothing is notified before `execve`, and a
    // polled listener is taken once the server runs.
    match (watch, ends.explain) {
        (Some(watch), Some(socket)) if polled && !watch.explaining() => {
            starting.later = Some((socket, watch));
        }
        (Some(watch), Some(socket)) => {
            starting.notifier =
                Some(crate::explain::notify::start(socket, watch).map_err(LaunchError::Spawn)?);
        }
        _ => {}
    }
    if let (Some(pipe), Some(explainer)) = (egress_refusals, explainer) {
        starting.egress_reader =
            Some(crate::explain::egress::start(pipe, explainer).map_err(LaunchError::Spawn)?);
    }
    if let Some(ends) = &starting.held {
        for fd in [&ends.stdin, &ends.stdout] {
            let nonblocking = nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK);
            nix::fcntl::fcntl(fd, nonblocking).map_err(|e| LaunchError::Spawn(e.into()))?;
        }
        // Each pipe buffer that fills costs the relay a wake-up, a read
        // and a write: bigger pipes mean fewer of them per byte. Best
        // effort, the default size works too.
        for pipe in [&ends.stdin, &ends.stdout] {
            let _ = sys::resize_pipe(pipe.as_raw_fd(), crate::relay::PIPE_SIZE);
        }
    }
    Ok(starting)
}

impl Starting {
    /// cordon's decision is made: init forks the server, which executes.
    /// Returns once it has (or a setup step failed).
    pub fn go(mut self, prepared: &Prepared) -> Result<Child, LaunchError> {
        self.proceed(prepared)
            .map_err(|e| blame_probe_cache(prepared, e))
    }

    fn proceed(&mut self, prepared: &Prepared) -> Result<Child, LaunchError> {
        let Some(ends) = self.held.take() else {
            return Err(LaunchError::Vanished);
        };
        // A failed write means init is gone: it failed a setup step (its
        // record is in the status pipe) or vanished, as read next.
        let _ = sys::write_all(ends.go.as_raw_fd(), &child::GO);
        drop(ends.go);
        // While init forks the server and the server sets itself up: the
        // stderr relay's thread (init and the server write nothing there
        // before the server runs; setup failures come on the status
        // pipe), and the tidying of cgroups left by cordons that are gone.
        let Held {
            stderr: (pipe, sink),
            stdin,
            stdout,
            status,
            life,
            ..
        } = ends;
        let stderr = match stderr::StderrRelay::start(pipe, sink) {
            Ok(relay) => Some(relay),
            Err(e) => {
                // The life pipe's hang-up makes init end whatever it
                // started, then itself.
                drop((stdin, stdout, status, life));
                let _ = nix::sys::wait::waitpid(self.pid, None);
                return Err(LaunchError::Spawn(e));
            }
        };
        if let Some(cgroup) = &prepared.cgroup {
            cgroup.remove_stale();
        }
        match read_record(&status) {
            Some(Record::Started) => {
                // The server has executed: its listener is in the socket,
                // or it sent none (a kernel without listeners) and every
                // other end is closed. Either way this does not block.
                let denials = self.later.take().and_then(|(socket, watch)| {
                    crate::explain::notify::receive_listener(socket)
                        .map(|listener| crate::explain::notify::Polled { listener, watch })
                });
                Ok(Child {
                    pid: self.pid,
                    stdin: Some(stdin),
                    stdout,
                    status,
                    stderr,
                    life: Some(life),
                    forwarder: self.forwarder.take(),
                    notifier: self.notifier.take(),
                    denials,
                    egress_reader: self.egress_reader.take(),
                })
            }
            Some(Record::Failed { step, index, errno }) => {
                self.reap(stderr);
                // The sandbox is gone: the notifier has seen every call it
                // will see, and what it recorded explains the failure.
                if let Some(notifier) = self.notifier.take() {
                    let _ = notifier.join();
                }
                if let Some(path) = checked_path(prepared, step, index) {
                    return Err(LaunchError::Replaced { path, errno });
                }
                Err(LaunchError::Setup {
                    step,
                    detail: describe(prepared, step, index),
                    errno,
                })
            }
            _ => {
                self.reap(stderr);
                Err(LaunchError::Vanished)
            }
        }
    }

    /// After a failed start: reaps init, then relays what the server
    /// wrote to its stderr, if anything, and ends the relay.
    fn reap(&self, stderr: Option<stderr::StderrRelay>) {
        let _ = nix::sys::wait::waitpid(self.pid, None);
        if let Some(relay) = stderr {
            relay.finish();
        }
    }
}

/// Reads one record (blocking); None at EOF or on a short read.
pub fn read_record(fd: &OwnedFd) -> Option<Record> {
    let mut buf = [0u8; RECORD_SIZE];
    let mut got = 0;
    while got < RECORD_SIZE {
        match sys::read(fd.as_raw_fd(), &mut buf[got..]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got += n,
        }
    }
    Record::decode(&buf)
}

/// The path of a failed mount step that checks a pinned file.
fn checked_path(prepared: &Prepared, step: Step, index: u32) -> Option<String> {
    if step != Step::Mount {
        return None;
    }
    prepared
        .mounts
        .as_ref()?
        .ops
        .get(index as usize)?
        .checked_path()
}

/// The item a failed step was working on, from the plan the parent holds.
fn describe(prepared: &Prepared, step: Step, index: u32) -> String {
    let index = index as usize;
    match step {
        Step::Mount => prepared
            .mounts
            .as_ref()
            .and_then(|m| m.ops.get(index))
            .map_or_else(|| "mount".into(), |op| op.describe()),
        Step::Rlimit => prepared.rlimits.get(index).map_or_else(
            || "rlimit".into(),
            |(r, v)| format!("{} = {v}", crate::sandbox::rlimits::name(*r)),
        ),
        Step::Exec => format!("execve {}", prepared.exec.path.to_string_lossy()),
        Step::Directory => format!("chdir {}", prepared.exec.cwd.to_string_lossy()),
        Step::Seccomp => format!("install filter {index}"),
        Step::Egress => prepared
            .egress
            .as_ref()
            .map_or_else(|| "network filter".into(), |e| e.describe(index)),
        other => other.name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_probe_cache_is_blamed_only_for_namespace_steps() {
        let setup = |step| LaunchError::Setup {
            step,
            detail: String::new(),
            errno: Errno::EPERM,
        };
        assert!(LaunchError::Clone(Errno::EPERM).is_namespace_step());
        for step in [Step::IdMaps, Step::Mount, Step::Hostname, Step::Loopback] {
            assert!(setup(step).is_namespace_step(), "{step:?}");
        }
        for step in [Step::Exec, Step::Landlock, Step::Seccomp, Step::Rlimit] {
            assert!(!setup(step).is_namespace_step(), "{step:?}");
        }
        assert!(!LaunchError::Vanished.is_namespace_step());
    }
}
