//! Pipes on the host's side of the relay.
//!
//! cordon does not move the host's pages to the server with `splice` and
//! `tee`, though that would save a copy: a pipe may hold pages its writer
//! can still change (a writer that `vmsplice`s its own memory, or splices
//! from a file it keeps writing), so a message could change between
//! cordon's inspection and the server's read. Both directions copy (see
//! [`super::framing`]); what is inspected is what is forwarded.

use std::os::fd::BorrowedFd;

/// Whether `fd` is a pipe (or FIFO): those are enlarged, and the host's
/// output pipe is reopened non-blocking.
pub fn is_pipe(fd: BorrowedFd<'_>) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO)
}
