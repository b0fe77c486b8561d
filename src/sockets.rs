//! Socket system calls for network mode `filtered` that neither std nor
//! nix offers without allocating: the listeners the sandbox's init creates
//! inside the new network namespace, one rtnetlink request (a route), and
//! passing descriptors over a unix socket (SCM_RIGHTS) in both directions.
//!
//! A module of its own rather than more of `sys` (already the largest
//! file): it is the one other place besides `sys`, `launch::child` and
//! `launch::init` where `unsafe` is allowed, and every function here is
//! one or a few system calls on plain data. The child-side functions
//! (`listen_on`, `netlink_request`, `send_fds`) are async-signal-safe: no
//! allocation, stack buffers only. `recv_fds`, `seqpacket_pair` and
//! `adopt` run in ordinary processes and may allocate.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use libc::{c_int, c_void};
use nix::errno::Errno;

use crate::sys::{SysResult, close};

/// Descriptors one `send_fds` may carry (the kernel's SCM_MAX_FD is 253).
pub const MAX_FDS: usize = 160;

/// A socket address as the kernel reads it: the bytes of a `sockaddr_in`
/// or `sockaddr_in6`, built without unsafe code by [`SockAddr::new`].
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub struct SockAddr {
    bytes: [u8; 28],
    len: u32,
}

impl SockAddr {
    pub fn new(addr: std::net::SocketAddr) -> SockAddr {
        let mut bytes = [0u8; 28];
        let port = addr.port().to_be_bytes();
        let len = match addr {
            std::net::SocketAddr::V4(v4) => {
                bytes[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                bytes[2..4].copy_from_slice(&port);
                bytes[4..8].copy_from_slice(&v4.ip().octets());
                16
            }
            std::net::SocketAddr::V6(v6) => {
                bytes[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
                bytes[2..4].copy_from_slice(&port);
                bytes[8..24].copy_from_slice(&v6.ip().octets());
                28
            }
        };
        SockAddr { bytes, len }
    }

    fn family(&self) -> c_int {
        c_int::from(u16::from_ne_bytes([self.bytes[0], self.bytes[1]]))
    }
}

fn check(ret: c_int) -> SysResult<c_int> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn check_size(ret: isize) -> SysResult<usize> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret as usize)
    }
}

/// Child side: a close-on-exec socket of `kind` (SOCK_STREAM, listening,
/// or SOCK_DGRAM) bound to `addr`. An IPv6 socket is IPv6-only, so that
/// IPv4 and IPv6 listeners on one port do not collide.
pub fn listen_on(addr: &SockAddr, kind: c_int) -> SysResult<RawFd> {
    // SAFETY: plain syscall.
    let fd = check(unsafe { libc::socket(addr.family(), kind | libc::SOCK_CLOEXEC, 0) })?;
    let result = configure(fd, addr, kind);
    if result.is_err() {
        close(fd);
    }
    result.map(|()| fd)
}

fn configure(fd: RawFd, addr: &SockAddr, kind: c_int) -> SysResult<()> {
    if addr.family() == libc::AF_INET6 {
        let one: c_int = 1;
        // SAFETY: `one` is a valid int for the option's length.
        check(unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&one as *const c_int).cast(),
                std::mem::size_of::<c_int>() as libc::socklen_t,
            )
        })?;
    }
    // SAFETY: addr holds a sockaddr_in/_in6 of `len` bytes; the kernel
    // copies it.
    check(unsafe { libc::bind(fd, addr.bytes.as_ptr().cast(), addr.len) })?;
    if kind == libc::SOCK_STREAM {
        // SAFETY: plain syscall.
        check(unsafe { libc::listen(fd, 512) })?;
    }
    Ok(())
}

/// Child side: sends one prebuilt rtnetlink request (with NLM_F_ACK) and
/// returns the kernel's verdict.
pub fn netlink_request(request: &[u8]) -> SysResult<()> {
    let kind = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
    // SAFETY: plain syscall.
    let fd = check(unsafe { libc::socket(libc::AF_NETLINK, kind, libc::NETLINK_ROUTE) })?;
    let result = netlink_exchange(fd, request);
    close(fd);
    result
}

fn netlink_exchange(fd: RawFd, request: &[u8]) -> SysResult<()> {
    // SAFETY: request is a valid buffer of its length.
    let sent = unsafe { libc::send(fd, request.as_ptr().cast(), request.len(), 0) };
    if check_size(sent)? != request.len() {
        return Err(Errno::EIO);
    }
    let mut reply = [0u8; 512];
    // SAFETY: reply is a valid, writable buffer of its length.
    let got = unsafe { libc::recv(fd, reply.as_mut_ptr().cast(), reply.len(), 0) };
    let got = check_size(got)?;
    // struct nlmsghdr (16 bytes), then for NLMSG_ERROR the negated errno.
    if got < 20 {
        return Err(Errno::EIO);
    }
    let kind = u16::from_ne_bytes([reply[4], reply[5]]);
    if kind != libc::NLMSG_ERROR as u16 {
        return Err(Errno::EIO);
    }
    match i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]) {
        0 => Ok(()),
        negative => Err(Errno::from_raw(-negative)),
    }
}

/// Child side: sends `data` with `fds` attached (SCM_RIGHTS) as one
/// message. At most [`MAX_FDS`] descriptors.
pub fn send_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> SysResult<()> {
    if fds.len() > MAX_FDS || data.is_empty() {
        return Err(Errno::EINVAL);
    }
    // Room for the header and MAX_FDS ints, aligned for cmsghdr.
    let mut control = [0u64; 2 + MAX_FDS / 2];
    let payload = std::mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    if space > std::mem::size_of_val(&control) {
        return Err(Errno::EINVAL);
    }
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points to `space` zeroed, aligned bytes, enough
    // for one header and the fds (space <= size_of_val(&control)); the
    // first header is within it.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&msg);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(payload) as _;
        std::ptr::copy_nonoverlapping(
            fds.as_ptr(),
            libc::CMSG_DATA(header).cast::<RawFd>(),
            fds.len(),
        );
    }
    // SAFETY: msg and everything it points to are valid for the call.
    let sent = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    check_size(sent).map(drop)
}

/// Receives one message from `sock` into `data`, with the descriptors
/// attached to it (close-on-exec). Blocks. A truncated message or control
/// part is an error.
pub fn recv_fds(sock: RawFd, data: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut fds = [-1; MAX_FDS];
    let (got, count) = recv_fds_into(sock, data, &mut fds).map_err(io::Error::from)?;
    Ok((
        got,
        fds.iter()
            .take(count)
            // SAFETY: each was received just now and belongs to no one else.
            .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
            .collect(),
    ))
}

/// [`recv_fds`] without allocating (init runs it between fork and exec):
/// the descriptors go into `fds`, their count is returned with the
/// message's length. Descriptors beyond `fds`, and every one of a
/// truncated message, are closed, and the call fails with EMSGSIZE.
pub fn recv_fds_into(sock: RawFd, data: &mut [u8], fds: &mut [RawFd]) -> SysResult<(usize, usize)> {
    let mut control = [0u64; 2 + MAX_FDS / 2];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points to valid buffers of the lengths it states.
    let got = check_size(unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    let truncated = msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0;
    let mut count = 0;
    let mut overflow = false;
    // SAFETY: the kernel filled msg_control with well-formed headers up to
    // msg_controllen; CMSG_FIRSTHDR/NXTHDR stay inside it, and each
    // SCM_RIGHTS payload holds (cmsg_len - CMSG_LEN(0)) / 4 descriptors
    // that now belong to this process.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&msg);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*header).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let first = libc::CMSG_DATA(header).cast::<RawFd>();
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    let fd = first.add(i).read_unaligned();
                    match fds.get_mut(count) {
                        Some(slot) if !truncated => {
                            *slot = fd;
                            count += 1;
                        }
                        _ => {
                            overflow = true;
                            close(fd);
                        }
                    }
                }
            }
            header = libc::CMSG_NXTHDR(&msg, header);
        }
    }
    if truncated || overflow {
        for &fd in fds.iter().take(count) {
            close(fd);
        }
        return Err(Errno::EMSGSIZE);
    }
    Ok((got, count))
}

/// Makes a TCP connection end with a reset instead of an orderly close
/// when it is dropped: what a refused connection gets, so the client sees
/// it was refused (ECONNRESET) rather than an empty answer it may retry.
pub fn reset_on_close(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: linger is a valid struct of the size passed; the descriptor
    // is open for the call (borrowed from `stream`).
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// A connected pair of close-on-exec `SOCK_SEQPACKET` unix sockets:
/// message boundaries keep the configuration and the descriptors apart.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut pair = [0 as c_int; 2];
    let kind = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: pair is a valid array of two ints.
    check(unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, pair.as_mut_ptr()) })
        .map_err(io::Error::from)?;
    // SAFETY: socketpair returned two fresh descriptors owned by no one.
    Ok(unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) })
}

/// Takes ownership of an inherited descriptor number, after checking it
/// is open.
pub fn adopt(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_GETFD only reads descriptor flags.
    check(unsafe { libc::fcntl(fd, libc::F_GETFD) }).map_err(io::Error::from)?;
    // SAFETY: the descriptor is open and, inherited for this purpose, has
    // no other owner in this process.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn descriptors_cross_a_seqpacket_pair_with_their_message() {
        let (a, b) = seqpacket_pair().unwrap();
        let addr = SockAddr::new("127.0.0.1:0".parse().unwrap());
        let listener = listen_on(&addr, libc::SOCK_STREAM).unwrap();
        send_fds(a.as_raw_fd(), &[7], &[listener]).unwrap();
        close(listener);
        let mut data = [0u8; 8];
        let (n, fds) = recv_fds(b.as_raw_fd(), &mut data).unwrap();
        assert_eq!((n, data[0], fds.len()), (1, 7, 1));
        let listener = std::net::TcpListener::from(fds.into_iter().next().unwrap());
        let port = listener.local_addr().unwrap().port();
        std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert!(listener.accept().is_ok());
    }

    #[test]
    fn ipv6_listeners_are_ipv6_only() {
        let addr = SockAddr::new("[::1]:0".parse().unwrap());
        match listen_on(&addr, libc::SOCK_STREAM) {
            Ok(fd) => close(fd),
            // A kernel without IPv6: nothing to check.
            Err(Errno::EAFNOSUPPORT | Errno::EADDRNOTAVAIL) => {}
            Err(e) => panic!("{e}"),
        }
    }
}
