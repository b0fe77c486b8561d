//! The one place where the sandbox's descriptors are decided: which
//! descriptor becomes the server's 0, 1 and 2, what init holds, and what
//! cordon keeps.
//!
//! The server's standard streams are three pipes that cordon relays, never
//! cordon's own: its stdin and stdout carry the protocol, and its stderr
//! is relayed to cordon's (escaped on a terminal) or to `vet`'s log, so
//! the server holds no descriptor of cordon's terminal or stderr file.
//! Every other descriptor is close-on-exec: the server starts with exactly
//! 0, 1 and 2. Init points its own 0, 1 and 2 at `/dev/null` for the same
//! reason, and once the server is forked keeps only
//! [`ChildFds::init_keeps`].
// `ChildFds` is used between fork and exec.
#![deny(clippy::indexing_slicing, clippy::panic)]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::fcntl::OFlag;

use super::LaunchError;

fn pipe() -> Result<(OwnedFd, OwnedFd), LaunchError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| LaunchError::Spawn(e.into()))
}

/// Every descriptor of one launch, owned by cordon until the clone.
#[derive(Debug)]
pub struct Descriptors {
    /// The sandbox's ends, closed in cordon right after the clone.
    sandbox: SandboxEnds,
    /// cordon's ends.
    pub cordon: CordonEnds,
}

/// What the sandbox holds (until init hands the stdio ends to the server).
#[derive(Debug)]
struct SandboxEnds {
    /// Read end of stdin, write ends of stdout and stderr.
    stdio: [OwnedFd; 3],
    status: OwnedFd,
    life: OwnedFd,
    null: OwnedFd,
    egress: Option<OwnedFd>,
    /// `--explain`: the server's end of the socket its seccomp listener
    /// goes out through.
    explain: Option<OwnedFd>,
    /// init's end of the go socket.
    go: OwnedFd,
}

/// What cordon keeps.
#[derive(Debug)]
pub struct CordonEnds {
    /// Write end of the server's stdin.
    pub stdin: OwnedFd,
    /// Read ends of the server's stdout and stderr.
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// Read end of init's records.
    pub status: OwnedFd,
    /// The only write end of the life pipe: init watches it hang up.
    pub life: OwnedFd,
    /// `--explain`: where the server's seccomp listener arrives.
    pub explain: Option<OwnedFd>,
    /// cordon's end of the go socket: the cgroups' join files, then one
    /// byte that lets init fork the server; closing it unwritten ends the
    /// sandbox before the server exists.
    pub go: OwnedFd,
}

/// The raw numbers the child code works with (the parent owns the
/// descriptors and keeps them alive across the clone).
#[derive(Debug, Clone, Copy)]
pub struct ChildFds {
    /// What becomes the server's 0, 1 and 2, in that order.
    pub stdio: [RawFd; 3],
    /// `/dev/null`, opened read-write: init's own 0, 1 and 2.
    pub null: RawFd,
    /// Write end of the status pipe to cordon.
    pub status: RawFd,
    /// Read end of the pipe whose write end only cordon holds: it hangs up
    /// when cordon dies.
    pub life: RawFd,
    /// Network `filtered`: init's end of the socket to the forwarder (the
    /// listeners go out through it; it stays open for init's lifetime, so
    /// the forwarder sees it hang up when the sandbox ends); -1 otherwise.
    pub egress: RawFd,
    /// `--explain`: the socket the server sends its seccomp listener
    /// through (init closes it once the server is forked); -1 otherwise.
    pub explain: RawFd,
    /// init's end of the go socket: init builds the sandbox, joins the
    /// cgroups that arrive here, then waits for cordon's decision before
    /// it forks the server.
    pub go: RawFd,
    /// cordon's ends, closed first thing in the child (-1: none).
    pub cordon: [RawFd; 7],
}

impl ChildFds {
    /// What init keeps once the server is forked (everything else is
    /// closed): its records to cordon, the life pipe, the forwarder's
    /// socket, and the two it created itself, the server's exec report and
    /// its signalfd. Not the server's stdio: only the server holds it, so
    /// its stdout and stderr reach EOF in cordon when it (and whatever it
    /// started) is gone.
    pub fn init_keeps(&self, exec_report: RawFd, signalfd: RawFd) -> [RawFd; 5] {
        [exec_report, signalfd, self.status, self.life, self.egress]
    }
}

impl Descriptors {
    /// Creates every pipe, close-on-exec. `egress` is init's end of the
    /// forwarder's socket, when there is one.
    pub fn new(egress: Option<OwnedFd>, explain: bool) -> Result<Descriptors, LaunchError> {
        let (stdin_r, stdin_w) = pipe()?;
        let (stdout_r, stdout_w) = pipe()?;
        let (stderr_r, stderr_w) = pipe()?;
        let (status_r, status_w) = pipe()?;
        let (life_r, life_w) = pipe()?;
        // A socket, not a pipe: the cgroups' join files, made after the
        // clone, reach init through it (SCM_RIGHTS), one message each.
        let (go_w, go_r) = crate::sockets::seqpacket_pair().map_err(LaunchError::Spawn)?;
        let null = nix::fcntl::open(
            "/dev/null",
            OFlag::O_RDWR | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| LaunchError::Spawn(e.into()))?;
        // A pipe on 0, 1 or 2 would be overwritten by another when the
        // server's stdio is set up (cordon opens /dev/null on closed
        // standard descriptors at start, so this does not happen).
        let (explain_cordon, explain_sandbox) = if explain {
            let (a, b) = crate::sockets::seqpacket_pair().map_err(LaunchError::Spawn)?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let sandbox_fds = [
            &stdin_r, &stdout_w, &stderr_w, &status_w, &life_r, &go_r, &null,
        ];
        if sandbox_fds.iter().any(|fd| fd.as_raw_fd() <= 2) {
            return Err(LaunchError::Spawn(std::io::Error::other(
                "a standard descriptor of cordon's is closed",
            )));
        }
        Ok(Descriptors {
            sandbox: SandboxEnds {
                stdio: [stdin_r, stdout_w, stderr_w],
                status: status_w,
                life: life_r,
                null,
                egress,
                explain: explain_sandbox,
                go: go_r,
            },
            cordon: CordonEnds {
                stdin: stdin_w,
                stdout: stdout_r,
                stderr: stderr_r,
                status: status_r,
                life: life_w,
                explain: explain_cordon,
                go: go_w,
            },
        })
    }

    /// The numbers for the child code.
    pub fn child(&self) -> ChildFds {
        let s = &self.sandbox;
        let c = &self.cordon;
        ChildFds {
            stdio: [
                s.stdio[0].as_raw_fd(),
                s.stdio[1].as_raw_fd(),
                s.stdio[2].as_raw_fd(),
            ],
            null: s.null.as_raw_fd(),
            status: s.status.as_raw_fd(),
            life: s.life.as_raw_fd(),
            egress: s.egress.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            explain: s.explain.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            go: s.go.as_raw_fd(),
            cordon: [
                c.stdin.as_raw_fd(),
                c.stdout.as_raw_fd(),
                c.stderr.as_raw_fd(),
                c.status.as_raw_fd(),
                c.life.as_raw_fd(),
                c.explain.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                c.go.as_raw_fd(),
            ],
        }
    }

    /// After the clone: closes the sandbox's ends in cordon (only the
    /// sandbox may hold them: the server's pipes reach EOF when it ends,
    /// and the forwarder's socket hangs up with init) and returns cordon's.
    pub fn into_cordon(self) -> CordonEnds {
        drop(self.sandbox);
        self.cordon
    }
}
