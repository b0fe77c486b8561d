//! The egress forwarder of network mode `filtered`: a separate process in
//! the host's network namespace through which every connection of the
//! server goes, and which reaches only the profile's allowlist.
//!
//! Why a process of its own: the sandbox's network namespace has no route
//! out, so something outside must connect for the server; cordon's session
//! loop is single-threaded and owned by the relay, and must not block on
//! name resolution. cordon starts the forwarder (`cordon __egress`, this
//! same binary) before it clones the sandbox, hands it the configuration
//! over an inherited socket, and the sandbox's init sends it the
//! listeners it created inside (see `sandbox::egress`). The forwarder
//! dies with cordon (a parent-death signal) and with the sandbox (init's
//! end of the socket hangs up).
//!
//! Two ways in, both filtered the same way (`rules`):
//! - clients that honour the proxy variables send `CONNECT host:port` or
//!   `GET http://host/…` to the proxy listener (`proxy`);
//! - every other client (Node's fetch, Go, raw sockets) resolves names
//!   through the sandbox's name server, which answers allowed names with
//!   synthetic addresses (`answer`, `dns`), and connects to them, or to a
//!   literal address, on an allowed port: the connection lands on a
//!   listener for that port, and the address it dialed says where to.
//!
//! Either way the name is resolved here, on the host, every address is
//! checked, and only a checked address is connected to (`resolve`).

mod answer;
mod config;
mod conn;
mod decide;
mod dns;
mod forward;
mod own;
mod proxy;
mod report;
mod resolve;
mod rules;

use std::io;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;

pub use config::{Config, Role};
pub use report::{Fix, Refused};

use crate::sockets;

/// The hidden subcommand that runs the forwarder.
pub const SUBCOMMAND: &str = "__egress";
/// The largest configuration message the forwarder accepts.
const MAX_CONFIG: usize = 1 << 20;

/// The forwarder as started: the socket's end for the sandbox's init,
/// the process, and with `--explain` the read end of its refusals (JSON
/// lines of [`Refused`]; EOF when the forwarder ends).
#[derive(Debug)]
pub struct Started {
    pub init_end: OwnedFd,
    pub process: Child,
    pub refusals: Option<OwnedFd>,
}

/// Parent side: starts the forwarder with `config` (JSON) waiting in its
/// socket. `stderr` replaces cordon's for its reports (`vet`); with
/// `explain` its refusals come back through a pipe instead.
pub fn start(config: &[u8], stderr: Option<&OwnedFd>, explain: bool) -> io::Result<Started> {
    let (outside, inside) = sockets::seqpacket_pair()?;
    // The pipe's write end travels with the configuration, so the
    // forwarder inherits nothing but its socket; cordon's copy is closed
    // on return, so the read end sees EOF when the forwarder ends.
    let pipe = if explain {
        Some(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
    } else {
        None
    };
    let sent = match &pipe {
        Some((_, write)) => {
            sockets::send_fds(inside.as_raw_fd(), config, &[write.as_raw_fd()])?;
            config.len()
        }
        None => nix::unistd::write(&inside, config)?,
    };
    if sent != config.len() {
        return Err(io::Error::other(
            "the forwarder's configuration was cut short",
        ));
    }
    let refusals = pipe.map(|(read, _)| read);
    // The forwarder's end must survive its exec; it is dropped here right
    // after, before anything else is started.
    nix::fcntl::fcntl(
        &outside,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )?;
    let stderr = match stderr {
        Some(fd) => Stdio::from(fd.try_clone()?),
        None => Stdio::inherit(),
    };
    let child = Command::new("/proc/self/exe")
        .arg0("cordon")
        .arg(SUBCOMMAND)
        .arg("--fd")
        .arg(outside.as_raw_fd().to_string())
        .arg("--parent")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        // stdout carries the protocol: never the forwarder's.
        .stdout(Stdio::null())
        .stderr(stderr)
        // Out of the terminal's process group: Ctrl-C goes to cordon,
        // which forwards it to the server, whose shutdown may still need
        // the network.
        .process_group(0)
        .spawn()?;
    drop(outside);
    Ok(Started {
        init_end: inside,
        process: child,
        refusals,
    })
}

/// Why the forwarder could not start or stopped relaying. Its own type,
/// so the forwarder depends on nothing above it: the top-level error wraps
/// it.
#[derive(Debug, thiserror::Error)]
#[error("egress forwarder: {what}")]
pub struct EgressError {
    what: &'static str,
    #[source]
    source: io::Error,
}

/// The forwarder process: `cordon __egress --fd N --parent PID`.
pub fn main(fd: RawFd, parent: u32) -> Result<ExitCode, EgressError> {
    let io_error = |what: &'static str| move |source| EgressError { what, source };
    // Die with cordon; and if it is already gone, do not start.
    crate::sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
        .map_err(|e| io_error("parent-death signal")(e.into()))?;
    if nix::unistd::getppid().as_raw() as u32 != parent {
        return Ok(ExitCode::SUCCESS);
    }
    close_inherited(fd);
    let socket = sockets::adopt(fd).map_err(io_error("the socket from cordon"))?;
    let mut buf = vec![0u8; MAX_CONFIG];
    let (n, mut attached) = sockets::recv_fds(socket.as_raw_fd(), &mut buf)
        .map_err(io_error("reading the configuration"))?;
    // `--explain`: the pipe for refusals, attached to the configuration.
    let explain = attached.pop().map(std::fs::File::from);
    if let Some(pipe) = &explain {
        nix::fcntl::fcntl(
            pipe,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .map_err(|e| io_error("the explain pipe")(e.into()))?;
    }
    let config: Config = serde_json::from_slice(&buf[..n])
        .map_err(|e| io_error("the configuration")(io::Error::other(e)))?;
    // The sandbox's init sends the listeners next; nothing (EOF) when its
    // setup failed first.
    let (n, fds) = sockets::recv_fds(socket.as_raw_fd(), &mut buf)
        .map_err(io_error("receiving the listeners"))?;
    if n == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let listeners = listeners(&config, &buf[..n], fds).map_err(io_error("the listeners"))?;
    let rules = rules::Rules::parse(&config.allow)
        .map_err(|e| io_error("the allowlist")(io::Error::other(e)))?;
    let resolver = resolve::Resolver {
        rules: Arc::new(rules),
        server: config.resolver,
    };
    let report = report::Reporter::new(config.audit.clone(), config.profile.clone(), explain);
    forward::Forwarder::new(resolver, listeners, socket, report)
        .and_then(forward::Forwarder::run)
        .map_err(io_error("relaying"))?;
    Ok(ExitCode::SUCCESS)
}

/// Sorts the received descriptors by the role of their index.
fn listeners(config: &Config, indices: &[u8], fds: Vec<OwnedFd>) -> io::Result<forward::Listeners> {
    if indices.len() != fds.len() {
        return Err(io::Error::other("descriptors and indices differ in number"));
    }
    let mut out = forward::Listeners::default();
    for (&index, fd) in indices.iter().zip(fds) {
        match config.roles.get(usize::from(index)) {
            Some(Role::Port(port)) => {
                let listener = TcpListener::from(fd);
                listener.set_nonblocking(true)?;
                out.ports.push((listener, *port));
            }
            Some(Role::Dns) => {
                let socket = UdpSocket::from(fd);
                socket.set_nonblocking(true)?;
                out.dns = Some(socket);
            }
            Some(Role::Proxy) => {
                let listener = TcpListener::from(fd);
                listener.set_nonblocking(true)?;
                out.proxy = Some(listener);
            }
            None => return Err(io::Error::other(format!("no role for listener {index}"))),
        }
    }
    Ok(out)
}

/// Closes every descriptor but stdio and `keep`: whatever cordon held
/// without close-on-exec has no business here.
fn close_inherited(keep: RawFd) {
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|&fd| fd > 2 && fd != keep) {
        crate::sys::close(fd);
    }
}
