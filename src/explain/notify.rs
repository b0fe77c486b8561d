//! The supervisor thread: receives the server's seccomp listener, answers
//! every notification (a path call under `--explain`: continue, the
//! kernel decides; a call of the deny list: the profile's errno), and
//! turns what it saw into [`Refusal`]s. Without `--explain` only the deny
//! list is notified: every notification is refused.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::errno::Errno;

use super::judge::{Judge, absolute};
use super::{Access, Explainer, Layer};
use crate::sandbox::seccomp::{Notified, PathCall, PathUse, PreparedSeccomp, syscall_name};
use crate::sys;

/// The longest path read from the server's memory.
const PATH_MAX: usize = 4096;

/// What the supervisor needs: the programs (which call reaches it, and
/// what to answer), the judge, and where refusals go.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The seccomp layer with its listener; None when seccomp is not
    /// enforced (then only the egress filter's refusals are reported).
    pub seccomp: Option<PreparedSeccomp>,
    /// `--explain`: judges the path calls. None without `--explain`, where
    /// no path call is notified.
    pub judge: Option<Judge>,
    /// The network mode and namespaces, for the advice on refused calls.
    pub setting: super::advice::Setting,
    pub explainer: Arc<Explainer>,
}

impl Watch {
    /// `--explain` (or `profile learn`), not plain `run`.
    pub fn explaining(&self) -> bool {
        self.judge.is_some()
    }
}

/// Starts the supervisor on cordon's end of the listener socket. It ends
/// when the server never sends a listener (setup failed, or seccomp is
/// not installed) or when every process of the sandbox is gone.
pub fn start(socket: OwnedFd, watch: Watch) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("explain".into())
        .spawn(move || supervise(socket, watch))
}

/// The listener the server sent through `socket`, if it sent one. Blocks
/// until it does or every other holder of the socket has closed it (the
/// server at `execve`, init once the server is forked).
pub fn receive_listener(socket: OwnedFd) -> Option<OwnedFd> {
    let mut buf = [0u8; 8];
    match crate::sockets::recv_fds(socket.as_raw_fd(), &mut buf) {
        Ok((_, mut fds)) if fds.len() == 1 => fds.pop(),
        _ => None,
    }
}

/// Plain `run`: the listener and what answers it, polled by the session's
/// own loop instead of a thread of its own (only the deny list is
/// notified, and only once the server runs: nothing needs answering
/// before the launch returns).
#[derive(Debug)]
pub struct Polled {
    pub listener: OwnedFd,
    pub watch: Watch,
}

impl Polled {
    /// Answers the notification the listener has pending (the caller
    /// polled it readable). Never blocks: each pending notification
    /// counts once, and one whose caller died is answered by the kernel
    /// with ENOENT.
    pub fn answer_pending(&self) {
        let fd = self.listener.as_raw_fd();
        if let Ok(notif) = sys::notif_recv(fd) {
            answer(fd, &notif, &self.watch);
        }
    }
}

fn supervise(socket: OwnedFd, watch: Watch) {
    let listener = receive_listener(socket);
    let Some(listener) = listener else {
        // Without --explain the sandbox's setup failed, which cordon
        // reports anyway.
        if watch.judge.is_some() {
            watch.explainer.note(
                "no seccomp listener from the server: refusals are reported by layer, without paths",
            );
        }
        return;
    };
    let fd = listener.as_raw_fd();
    loop {
        if !wait_readable(fd) {
            return;
        }
        let notif = match sys::notif_recv(fd) {
            Ok(n) => n,
            // The caller was interrupted or died before we read it.
            Err(Errno::EINTR | Errno::ENOENT) => continue,
            Err(_) => return,
        };
        answer(fd, &notif, &watch);
    }
}

/// Waits until a notification is pending; false once the sandbox is gone.
fn wait_readable(fd: RawFd) -> bool {
    let mut pfd = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    loop {
        match sys::poll(&mut pfd, -1) {
            Ok(_) if pfd[0].revents & libc::POLLIN != 0 => return true,
            Ok(_) => return false,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

fn answer(fd: RawFd, notif: &sys::Notification, watch: &Watch) {
    let nr = i64::from(notif.data.nr);
    match watch.seccomp.as_ref().and_then(|s| s.notified(nr)) {
        Some(Notified::Path(call)) => {
            // Read while the caller waits: its memory and directories
            // cannot change under us until the answer.
            let seen = observe(fd, notif, &call);
            let _ = sys::notif_send(fd, notif.id, true, 0);
            if let (Some((access, path)), Some(judge)) = (seen, &watch.judge) {
                let refusal = if call.what == PathUse::Lookup {
                    judge.judge_lookup(&path)
                } else {
                    judge.judge(access, &path)
                };
                if let Some(refusal) = refusal {
                    watch.explainer.report(refusal, comm(notif.pid));
                }
            }
        }
        Some(Notified::Denied(errno)) => {
            let _ = sys::notif_send(fd, notif.id, false, errno);
            let name = syscall_name(nr).map_or_else(|| format!("#{nr}"), str::to_owned);
            let refusal = super::advice::denied_call(&name, &notif.data.args, watch.setting);
            watch.explainer.report(refusal, comm(notif.pid));
        }
        Some(Notified::Logged) => {
            let _ = sys::notif_send(fd, notif.id, true, 0);
            let name = syscall_name(nr).map_or_else(|| format!("#{nr}"), str::to_owned);
            let mut refusal = super::advice::denied_call(&name, &notif.data.args, watch.setting);
            // Allowed under action log: reported, since action errno (the
            // default) refuses it; the line says so.
            refusal.layer = Layer::SeccompLog;
            watch.explainer.report(refusal, comm(notif.pid));
        }
        // Not a call this program notifies: fail closed.
        None => {
            let _ = sys::notif_send(fd, notif.id, false, libc::EPERM);
        }
    }
}

/// The access and the absolute path a path call asks for, when they can
/// be read.
fn observe(fd: RawFd, notif: &sys::Notification, call: &PathCall) -> Option<(Access, PathBuf)> {
    let args = notif.data.args;
    let pid = notif.pid;
    let name = read_string(pid, *args.get(usize::from(call.path))?)?;
    if name.is_empty() {
        return None;
    }
    let access = match call.what {
        PathUse::Open(flags) => {
            let flags = *args.get(usize::from(flags))? as i32;
            if flags & libc::O_PATH != 0 {
                return None;
            }
            if flags & libc::O_CREAT != 0 {
                Access::Create
            } else if flags & libc::O_ACCMODE != libc::O_RDONLY {
                Access::Write
            } else {
                Access::Read
            }
        }
        PathUse::Create => Access::Create,
        PathUse::Remove => Access::Remove,
        PathUse::Write => Access::Write,
        PathUse::Execute => Access::Execute,
        PathUse::Lookup => Access::Read,
    };
    let name =
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(name));
    let base = if name.is_absolute() {
        PathBuf::from("/")
    } else {
        let dirfd = if call.dirfd < 0 {
            libc::AT_FDCWD
        } else {
            *args.get(call.dirfd as usize)? as i32
        };
        let link = if dirfd == libc::AT_FDCWD {
            format!("/proc/{pid}/cwd")
        } else {
            format!("/proc/{pid}/fd/{dirfd}")
        };
        std::fs::read_link(link).ok()?
    };
    // The caller may have died and its pid been reused while we read.
    if !sys::notif_id_valid(fd, notif.id) {
        return None;
    }
    // An open with O_CREAT of a file that exists is a write of it.
    let path = absolute(&base, &name);
    let access = if access == Access::Create && Path::new(&path).exists() {
        Access::Write
    } else {
        access
    };
    Some((access, path))
}

/// Reads a NUL-terminated string from the caller's memory, page by page
/// (a string may end just before an unmapped page).
fn read_string(pid: u32, address: u64) -> Option<Vec<u8>> {
    use nix::sys::uio::{RemoteIoVec, process_vm_readv};
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    let mut out = Vec::new();
    let mut at = address as usize;
    while out.len() < PATH_MAX {
        let to_page_end = 4096 - (at % 4096);
        let mut chunk = vec![0u8; to_page_end.min(PATH_MAX - out.len())];
        let remote = [RemoteIoVec {
            base: at,
            len: chunk.len(),
        }];
        let n = process_vm_readv(pid, &mut [std::io::IoSliceMut::new(&mut chunk)], &remote)
            .ok()
            .filter(|&n| n > 0)?;
        let got = chunk.get(..n)?;
        if let Some(end) = memchr::memchr(0, got) {
            out.extend_from_slice(got.get(..end)?);
            return Some(out);
        }
        out.extend_from_slice(got);
        at += n;
    }
    None
}

/// The program's name (`comm`) of process `pid`.
fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_owned())
}
