//! One server's lifetime after it started: the relay's two threads (see
//! [`crate::relay`]) carry stdio, while this thread's poll loop forwards
//! signals, watches the server's status and runs the MCP shutdown
//! sequence (close the server's stdin, wait, SIGTERM, wait, kill the
//! sandbox). The server's stderr has a thread of its own, started with
//! the sandbox ([`crate::relay::stderr`]); the session drains it once the
//! sandbox is gone, before cordon says anything more.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;

use crate::launch::status::Record;
use crate::launch::{Child, read_record};
use crate::mcp::Filter;
use crate::policy::Shutdown;
use crate::relay::splice;
use crate::relay::{Direction, End, Shared, Worker};
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
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    phase: Phase,
    deadline: Option<Instant>,
    exit: Option<ServerExit>,
    /// The server ended by itself, not in a shutdown the host started.
    ended_by_itself: bool,
    status_open: bool,
    shutdown: Shutdown,
}

/// How the server ended, and what it wrote to its stderr: the last
/// bytes (at most `relay::stderr::TAIL`) and the paths its errors named.
#[derive(Debug)]
pub struct Ended {
    pub exit: ServerExit,
    pub stderr: crate::relay::stderr::Relayed,
}

/// Relays until the server has exited and its output is drained; returns
/// how it ended.
pub fn run(
    mut child: Child,
    signals: OwnedFd,
    shutdown: Shutdown,
    filter: Filter,
) -> Result<Ended, SessionError> {
    let shared = Shared::new(filter)?;
    let workers = start_workers(&mut child, &shared)?;
    let mut s = Session {
        child,
        shared,
        workers,
        phase: Phase::Running,
        deadline: None,
        exit: None,
        ended_by_itself: false,
        status_open: true,
        shutdown,
    };
    while !((s.exit.is_some() || !s.status_open) && s.shared.finished(Direction::ToHost)) {
        s.step(signals.as_fd())?;
    }
    s.shared.stop(Direction::ToServer);
    for worker in s.workers.drain(..) {
        let _ = worker.join();
    }
    let _ = nix::sys::wait::waitpid(s.child.pid, None);
    // The sandbox is gone: whatever the server wrote to its stderr is in
    // the pipe, and goes out before cordon says anything more.
    let stderr = s.child.finish_stderr();
    let exit = s.exit.unwrap_or(ServerExit::Signal(libc::SIGKILL));
    if s.ended_by_itself {
        answer_unanswered(&s.shared, exit, &stderr.tail);
    }
    Ok(Ended { exit, stderr })
}

/// How long cordon waits for the host's first request after the server
/// failed without having seen one. Short: a host sends `initialize` as it
/// starts cordon, so it has nearly always arrived; and a caller that holds
/// stdin open without speaking should not wait for cordon's exit.
const FIRST_REQUEST_WAIT: Duration = Duration::from_millis(500);

/// A server that ended by itself before answering the host's first
/// request (it failed at start, most often; some servers then exit 0)
/// leaves the host with a closed connection and nothing to show: cordon
/// answers that request with how the server ended and the last lines of
/// its stderr. When the host has not sent it yet and the server failed,
/// cordon waits a little for it.
fn answer_unanswered(shared: &Shared, exit: ServerExit, stderr_tail: &[u8]) {
    use crate::mcp::wire;
    let message = early_exit_message(exit, stderr_tail);
    let mut filter = shared.filter();
    if let Some(reply) = filter.answer_first_request(wire::code::SERVER_EXITED, &message) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&reply);
        let _ = out.flush();
        return;
    }
    let waited_for = !filter.host_sent_request();
    drop(filter);
    if waited_for && exit != ServerExit::Code(0) {
        wire::answer_first_request(wire::code::SERVER_EXITED, &message, FIRST_REQUEST_WAIT);
    }
}

/// Lines of the server's stderr an early exit's message quotes.
const TAIL_LINES: usize = 10;

/// `the server exited with status 1 before answering; its last words on
/// stderr: …`, escaped: hosts show it as text.
pub fn early_exit_message(exit: ServerExit, stderr_tail: &[u8]) -> String {
    let how = match exit {
        ServerExit::Code(code) => format!("exited with status {code}"),
        ServerExit::Signal(sig) => {
            let name = Signal::try_from(sig)
                .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_owned());
            format!("was killed by {name}")
        }
    };
    let text = String::from_utf8_lossy(stderr_tail);
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(crate::mcp::quote::escape_text)
        .collect();
    let last = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    if last.is_empty() {
        return format!("cordon: the server {how} before answering (it wrote nothing to stderr)");
    }
    format!(
        "cordon: the server {how} before answering; the last lines of its stderr:\n{}",
        last.join("\n")
    )
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
/// longer block its direction's thread (and its wake-ups) in `write`. A
/// file or terminal never blocks for long; a pipe cordon may not reopen
/// (another user's) keeps the blocking descriptor 1.
fn host_output() -> End {
    if splice::is_pipe(host(HOST_OUT)) {
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        if let Ok(fd) = nix::fcntl::open("/proc/self/fd/1", flags, nix::sys::stat::Mode::empty()) {
            return End::Owned(fd);
        }
    }
    End::Stdio(HOST_OUT)
}

/// Starts a thread for each direction; the host's pipes are enlarged like
/// the server's, best effort, for fewer wake-ups per byte.
fn start_workers(child: &mut Child, shared: &Arc<Shared>) -> Result<Vec<JoinHandle<()>>, Errno> {
    for fd in [HOST_IN, HOST_OUT] {
        if splice::is_pipe(host(fd)) {
            let _ = sys::resize_pipe(fd, crate::relay::PIPE_SIZE);
        }
    }
    let server_in = child.stdin.take().ok_or(Errno::EBADF)?;
    let server_out = child
        .stdout
        .try_clone()
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    let to_server = Worker::new(
        Direction::ToServer,
        End::Stdio(HOST_IN),
        End::Owned(server_in),
        Arc::clone(shared),
    );
    let to_host = Worker::new(
        Direction::ToHost,
        End::Owned(server_out),
        host_output(),
        Arc::clone(shared),
    );
    let mut workers = Vec::new();
    for (name, worker) in [("relay to server", to_server), ("relay to host", to_host)] {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || worker.run())
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        workers.push(handle);
    }
    Ok(workers)
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
            self.forward_signals(signals);
        }
        if ready(1) {
            self.read_status();
        }
        if ready(2) {
            self.shared.clear_changed();
        }
        if pfds[3].revents & libc::POLLIN != 0 {
            if let Some(denials) = self.child.denials() {
                denials.answer_pending();
            }
        } else if ready(3) {
            // Every process of the sandbox is gone: nothing more comes.
            self.child.end_denials();
        }
        self.advance_shutdown();
        Ok(())
    }

    /// What to wait for: 0 signals, 1 status, 2 a direction's news, 3 a
    /// notification of the seccomp deny list (plain `run`).
    fn poll_set(&self, signals: BorrowedFd<'_>) -> [libc::pollfd; 4] {
        let watch = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let status = if self.status_open {
            self.child.status.as_raw_fd()
        } else {
            -1
        };
        [
            watch(signals.as_raw_fd()),
            watch(status),
            watch(self.shared.changed_fd().as_raw_fd()),
            watch(self.child.denials().map_or(-1, |d| d.listener.as_raw_fd())),
        ]
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
                self.exit = Some(ServerExit::from_wait_status(status));
                // The host had closed its input or stopped reading: the
                // server ended because of it, or at least not alone.
                let host_ended = self.shared.source_ended(Direction::ToServer)
                    || self.shared.destination_closed(Direction::ToHost);
                self.ended_by_itself =
                    !host_ended && matches!(self.phase, Phase::Running | Phase::Closing);
            }
            _ => self.status_open = false,
        }
    }

    /// Moves the shutdown sequence on: the host's direction closes the
    /// server's stdin by itself at host EOF; a server that outlives its
    /// grace periods is terminated, then killed.
    fn advance_shutdown(&mut self) {
        let shared = &self.shared;
        // The host is done once its input has been delivered (or the
        // server stopped taking it), or when it stopped reading our output.
        let host_done =
            shared.finished(Direction::ToServer) || shared.destination_closed(Direction::ToHost);
        let server_done = shared.finished(Direction::ToHost);
        let now = Instant::now();
        match self.phase {
            Phase::Running if self.exit.is_none() && (host_done || server_done) => {
                // Replies cordon still had for the server have nowhere to go.
                self.shared.stop(Direction::ToServer);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_early_exit_names_how_and_quotes_the_last_lines_escaped() {
        let mut stderr = String::new();
        for i in 0..15 {
            stderr.push_str(&format!("line {i}\n\n"));
        }
        stderr.push_str("the end \x1b[31mred\n");
        let message = early_exit_message(ServerExit::Code(2), stderr.as_bytes());
        assert!(
            message.starts_with("cordon: the server exited with status 2 before answering"),
            "{message}"
        );
        let quoted: Vec<&str> = message.lines().skip(1).collect();
        assert_eq!(quoted.len(), TAIL_LINES, "{message}");
        assert_eq!(quoted[0], "line 6");
        assert_eq!(quoted[TAIL_LINES - 1], "the end \\x1b[31mred");
        let killed = early_exit_message(ServerExit::Signal(libc::SIGSEGV), b"");
        assert_eq!(
            killed,
            "cordon: the server was killed by SIGSEGV before answering (it wrote nothing to stderr)"
        );
    }
}
