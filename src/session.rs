//! One server's lifetime after it started: the single-threaded poll loop
//! that relays stdio, forwards signals, and runs the MCP shutdown sequence
//! (close the server's stdin, wait, SIGTERM, wait, kill the sandbox).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::launch::status::Record;
use crate::launch::{Child, read_record};
use crate::policy::Shutdown;
use crate::relay::Direction;
use crate::sys;

/// Signals cordon forwards to the server.
pub const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

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
    to_server: Direction,
    to_host: Direction,
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
) -> Result<ServerExit, SessionError> {
    let stdin = child.stdin.take();
    let mut s = Session {
        child,
        stdin,
        to_server: Direction::default(),
        to_host: Direction::default(),
        phase: Phase::Running,
        deadline: None,
        exit: None,
        status_open: true,
        shutdown,
    };
    while !((s.exit.is_some() || !s.status_open) && s.to_host.finished()) {
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

impl Session {
    fn step(&mut self, signals: BorrowedFd<'_>) -> Result<(), SessionError> {
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
        if self.to_server.wants_read() {
            watch(0, HOST_IN, libc::POLLIN);
        }
        if let (true, Some(stdin)) = (self.to_server.wants_write(), &self.stdin) {
            watch(1, stdin.as_raw_fd(), libc::POLLOUT);
        }
        if self.to_host.wants_read() {
            watch(2, self.child.stdout.as_raw_fd(), libc::POLLIN);
        }
        if self.to_host.wants_write() {
            watch(3, HOST_OUT, libc::POLLOUT);
        }
        watch(4, signals.as_raw_fd(), libc::POLLIN);
        if self.status_open {
            watch(5, self.child.status.as_raw_fd(), libc::POLLIN);
        }
        let timeout = self.deadline.map_or(-1, |d| {
            d.saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32
        });
        sys::poll(&mut pfds, timeout)?;
        let ready = |i: usize| pfds[i].revents != 0;
        if ready(0) && self.to_server.fill(host(HOST_IN)).is_err() {
            self.to_server.close_source();
        }
        if ready(1) {
            if let Some(stdin) = &self.stdin {
                let _ = self.to_server.flush(stdin.as_fd());
            }
        }
        if ready(2) && self.to_host.fill(self.child.stdout.as_fd()).is_err() {
            self.to_host.close_source();
        }
        if ready(3) || self.to_host.wants_write() {
            let _ = self.to_host.flush(host(HOST_OUT));
        }
        if ready(4) {
            self.forward_signals(signals);
        }
        if ready(5) {
            self.read_status();
        }
        self.advance_shutdown();
        Ok(())
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
        if self.stdin.is_some() && (self.to_server.drained() || !self.to_server.destination_open())
        {
            self.stdin = None;
        }
        // The host is done once its input has been delivered (or the
        // server stopped taking it), or when it stopped reading our output.
        let host_done = self.to_server.finished() || !self.to_host.destination_open();
        let server_done = self.to_host.finished();
        let now = Instant::now();
        match self.phase {
            Phase::Running if self.exit.is_none() && (host_done || server_done) => {
                self.stdin = None;
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

    fn enter(&mut self, phase: Phase, grace: Duration, now: Instant) {
        self.phase = phase;
        self.deadline = Some(now + grace);
    }

    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}
