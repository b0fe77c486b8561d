//! One server's lifetime after it started: the single-threaded poll loop
//! that relays stdio through the MCP [`Relay`], forwards signals, and runs
//! the MCP shutdown sequence (close the server's stdin, wait, SIGTERM,
//! wait, kill the sandbox).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;

use crate::launch::status::Record;
use crate::launch::{Child, read_record};
use crate::mcp::Filter;
use crate::policy::Shutdown;
use crate::relay::Relay;
use crate::relay::splice::{self, Splice};
use crate::sys;

pub use crate::launch::FORWARDED;

/// How the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerExit {
    Code(i32),
    Signal(i32),
}

impl ServerExit {
    fn from_wait_status(status: i32) -> ServerExit {
        if libc::WIFSIGNALED(status) {
            ServerExit::Signal(libc::WTERMSIG(status))
        } else {
            ServerExit::Code(libc::WEXITSTATUS(status))
        }
    }

    /// The documented exit status: the server's own, or 128+N for signal N.
    pub fn exit_code(self) -> u8 {
        match self {
            ServerExit::Code(c) => c as u8,
            ServerExit::Signal(s) => (128 + s) as u8,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("relay: {0}")]
    Io(#[from] Errno),
}

/// Where the shutdown sequence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// The server's stdin is closed; it has `close_grace` to exit.
    Closing,
    /// SIGTERM sent; `term_grace` before the sandbox is killed.
    Terminating,
    /// The life pipe is closed: init kills everything.
    Killing,
}

/// Blocks the forwarded signals and returns a signalfd for them. Called
/// before the sandbox is spawned so no signal is lost in between (the
/// server resets its mask before exec).
pub fn signal_fd() -> Result<OwnedFd, Errno> {
    let fd = sys::block_to_signalfd(&FORWARDED)?;
    #[allow(unsafe_code)]
    // SAFETY: block_to_signalfd returned a fresh descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

struct Session {
    child: Child,
    stdin: Option<OwnedFd>,
    /// A non-blocking descriptor of the host's stdout pipe, when one could
    /// be opened (see [`host_output`]).
    host_out: Option<OwnedFd>,
    relay: Relay,
    phase: Phase,
    deadline: Option<Instant>,
    exit: Option<ServerExit>,
    status_open: bool,
    shutdown: Shutdown,
}

/// Relays until the server has exited and its output is drained; returns
/// how it ended.
pub fn run(
    mut child: Child,
    signals: OwnedFd,
    shutdown: Shutdown,
    filter: Filter,
) -> Result<ServerExit, SessionError> {
    let stdin = child.stdin.take();
    let mut s = Session {
        child,
        stdin,
        host_out: host_output(),
        relay: host_relay(filter),
        phase: Phase::Running,
        deadline: None,
        exit: None,
        status_open: true,
        shutdown,
    };
    while !((s.exit.is_some() || !s.status_open) && s.relay.to_host.finished()) {
        s.step(signals.as_fd())?;
    }
    let _ = nix::sys::wait::waitpid(s.child.pid, None);
    Ok(s.exit.unwrap_or(ServerExit::Signal(libc::SIGKILL)))
}

const HOST_IN: RawFd = 0;
const HOST_OUT: RawFd = 1;

fn host(fd: RawFd) -> BorrowedFd<'static> {
    #[allow(unsafe_code)]
    // SAFETY: descriptors 0 and 1 stay open for cordon's whole life (main
    // opens /dev/null on them if they were closed).
    unsafe {
        BorrowedFd::borrow_raw(fd)
    }
}

/// When stdout is a pipe, a second descriptor for it opened non-blocking
/// through /proc: a new open file description, so the flag does not leak
/// to whoever shares cordon's stdout, and a host that reads slowly can no
/// longer block the loop (signals, the other direction) in `write`. A
/// file or terminal never blocks for long; a pipe cordon may not reopen
/// (another user's) keeps the blocking descriptor 1.
fn host_output() -> Option<OwnedFd> {
    let stat = nix::sys::stat::fstat(host(HOST_OUT)).ok()?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return None;
    }
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    nix::fcntl::open("/proc/self/fd/1", flags, nix::sys::stat::Mode::empty()).ok()
}

/// The relay, set up for the host's descriptors: pages of the host's
/// messages are moved to the server when its stdin is a pipe (the
/// server's stdin always is), and the host's pipes are enlarged like the
/// server's, best effort, for fewer wake-ups per byte.
fn host_relay(filter: Filter) -> Relay {
    let mut relay = Relay::new(filter);
    for fd in [HOST_IN, HOST_OUT] {
        if splice::is_pipe(host(fd)) {
            let _ = sys::resize_pipe(fd, crate::relay::PIPE_SIZE);
        }
    }
    if splice::is_pipe(host(HOST_IN)) {
        match Splice::new() {
            Ok(pipes) => relay.to_server.move_pages(pipes),
            Err(e) => tracing::debug!("host input is copied: no private pipes: {e}"),
        }
    }
    relay
}

impl Session {
    fn step(&mut self, signals: BorrowedFd<'_>) -> Result<(), SessionError> {
        let mut pfds = self.poll_set(signals);
        let timeout = self.deadline.map_or(-1, |d| {
            d.saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32
        });
        sys::poll(&mut pfds, timeout)?;
        let ready = |i: usize| pfds[i].revents != 0;
        if ready(0) {
            self.read_host();
        }
        if ready(2) {
            self.read_server();
        }
        self.flush();
        if ready(4) {
            self.forward_signals(signals);
        }
        if ready(5) {
            self.read_status();
        }
        self.advance_shutdown();
        Ok(())
    }

    /// What to wait for: 0 host input, 1 room in the server's stdin, 2
    /// server output, 3 room in the host's stdout, 4 signals, 5 status.
    fn poll_set(&self, signals: BorrowedFd<'_>) -> [libc::pollfd; 6] {
        let mut pfds = [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; 6];
        let mut watch = |i: usize, fd: RawFd, events: libc::c_short| {
            pfds[i] = libc::pollfd {
                fd,
                events,
                revents: 0,
            }
        };
        if self.relay.wants_host_input() {
            watch(0, HOST_IN, libc::POLLIN);
        }
        if let (true, Some(stdin)) = (self.relay.to_server.wants_write(), &self.stdin) {
            watch(1, stdin.as_raw_fd(), libc::POLLOUT);
        }
        if self.relay.wants_server_output() {
            watch(2, self.child.stdout.as_raw_fd(), libc::POLLIN);
        }
        if self.relay.to_host.wants_write() {
            watch(3, self.host_out().as_raw_fd(), libc::POLLOUT);
        }
        watch(4, signals.as_raw_fd(), libc::POLLIN);
        if self.status_open {
            watch(5, self.child.status.as_raw_fd(), libc::POLLIN);
        }
        pfds
    }

    fn host_out(&self) -> BorrowedFd<'_> {
        self.host_out
            .as_ref()
            .map_or(host(HOST_OUT), |fd| fd.as_fd())
    }

    /// Writes whatever is queued, right after reading and without waiting
    /// for POLLOUT: the destinations are non-blocking (a full one just
    /// takes less), and a round trip through poll would add latency to
    /// every message.
    fn flush(&mut self) {
        if let (true, Some(stdin)) = (self.relay.to_server.wants_write(), &self.stdin) {
            let _ = self.relay.to_server.flush(stdin.as_fd());
        }
        if self.relay.to_host.wants_write() {
            let out = self
                .host_out
                .as_ref()
                .map_or(host(HOST_OUT), |fd| fd.as_fd());
            let _ = self.relay.to_host.flush(out);
        }
    }

    /// A read error ends the source like EOF; the lane has already
    /// decided on what it read, including a last line without newline.
    fn read_host(&mut self) {
        let _ = self.relay.read_host(host(HOST_IN));
    }

    fn read_server(&mut self) {
        let _ = self.relay.read_server(self.child.stdout.as_fd());
    }

    fn forward_signals(&mut self, signals: BorrowedFd<'_>) {
        while let Ok(Some(sig)) = sys::read_signalfd(signals.as_raw_fd()) {
            tracing::debug!(signal = sig, "forwarding signal to the server");
            let _ = sys::kill(self.child.pid.as_raw(), sig);
        }
    }

    fn read_status(&mut self) {
        match read_record(&self.child.status) {
            Some(Record::Exited { status }) => {
                self.exit = Some(ServerExit::from_wait_status(status))
            }
            _ => self.status_open = false,
        }
    }

    /// Moves the shutdown sequence on: host EOF closes the server's stdin;
    /// a server that outlives its grace periods is terminated, then killed.
    fn advance_shutdown(&mut self) {
        // Host EOF (or a server that stopped reading): close its stdin once
        // everything read has been delivered.
        let to_server = &self.relay.to_server;
        if self.stdin.is_some() && (to_server.drained() || !to_server.destination_open()) {
            self.close_server_stdin();
        }
        let (to_server, to_host) = (&self.relay.to_server, &self.relay.to_host);
        // The host is done once its input has been delivered (or the
        // server stopped taking it), or when it stopped reading our output.
        let host_done = to_server.finished() || !to_host.destination_open();
        let server_done = to_host.finished();
        let now = Instant::now();
        match self.phase {
            Phase::Running if self.exit.is_none() && (host_done || server_done) => {
                self.close_server_stdin();
                self.enter(Phase::Closing, self.shutdown.close_grace, now);
            }
            Phase::Closing if self.expired(now) => {
                tracing::info!(
                    "server still running {:?} after its stdin closed: sending SIGTERM",
                    self.shutdown.close_grace
                );
                let _ = nix::sys::signal::kill(self.child.pid, Signal::SIGTERM);
                self.enter(Phase::Terminating, self.shutdown.term_grace, now);
            }
            Phase::Terminating if self.expired(now) => {
                tracing::info!(
                    "server still running {:?} after SIGTERM: killing the sandbox",
                    self.shutdown.term_grace
                );
                self.child.kill_sandbox();
                self.enter(Phase::Killing, Duration::from_secs(3600), now);
            }
            _ => {}
        }
    }

    /// Closes the server's stdin; replies cordon still had for the server
    /// (refusals of its requests) have nowhere to go.
    fn close_server_stdin(&mut self) {
        self.stdin = None;
        self.relay.to_server.close_destination();
    }

    fn enter(&mut self, phase: Phase, grace: Duration, now: Instant) {
        self.phase = phase;
        self.deadline = Some(now + grace);
    }

    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}
