//! Forwarding the host's messages to the server without copying them out
//! of the kernel again.
//!
//! When the host's stdin is a pipe, a read moves its pages into a private
//! pipe (`stage`, only cordon holds it), `tee` lends them to a second one
//! (`peek`) that is read into the lane's buffer for inspection, and the
//! pages themselves wait in a third (`hold`) until their line is decided:
//! a line that passes is spliced from `hold` to the server's stdin, a line
//! that does not is spliced to /dev/null. The bytes inspected are the
//! bytes forwarded: they are taken from the host's pipe once, and every
//! pipe they pass through afterwards is cordon's alone.
//!
//! Only this direction forwards pages. A pipe may hold pages its writer
//! can still change (`vmsplice`, or `splice` from a file it writes): the
//! server could change its messages after cordon inspected them, so they
//! are always copied, and what the host receives is what was inspected.
//! The host's pages could change only if the host itself did that, and
//! only in what it sends the server anyway.
//!
//! `hold` holds exactly the lane's `buf[from..end]`, in order. When it or
//! `peek` cannot take a whole read, the read's pages are dropped from the
//! pipes and the bytes are written from the buffer instead, like the
//! lines before them that had not gone out yet.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags};

/// The most one pull takes in: the pages `stage` and `peek` can hold.
const STAGE_SIZE: usize = 256 * 1024;
/// What `hold` can keep of lines not yet forwarded before the lane falls
/// back to writing from its buffer.
const HOLD_SIZE: usize = 1024 * 1024;

#[derive(Debug)]
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    /// A private non-blocking pipe of about `size` bytes; returns it and
    /// the size the kernel granted (less past the user's pipe quota).
    fn new(size: usize) -> Result<(Pipe, usize), Errno> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let _ = nix::fcntl::fcntl(&write, FcntlArg::F_SETPIPE_SZ(size as i32));
        let granted = nix::fcntl::fcntl(&write, FcntlArg::F_GETPIPE_SZ)?;
        Ok((Pipe { read, write }, granted as usize))
    }
}

/// The private pipes of one lane and where its buffer meets `hold`.
#[derive(Debug)]
pub struct Splice {
    stage: Pipe,
    peek: Pipe,
    hold: Pipe,
    null: OwnedFd,
    /// The most one pull takes: what both `stage` and `peek` can hold.
    pull_max: usize,
    /// Index in the lane's buffer of the first byte still in `hold`.
    pub from: usize,
}

fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE
}

/// Whether `fd` is a pipe (or FIFO): the only source pages can be moved
/// from, and the only destination they can be moved to without a copy.
pub fn is_pipe(fd: BorrowedFd<'_>) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO)
}

impl Splice {
    pub fn new() -> Result<Splice, Errno> {
        Splice::with_sizes(STAGE_SIZE, HOLD_SIZE)
    }

    /// Pipes of the given sizes (tests make `hold` small to reach the
    /// fallback).
    pub fn with_sizes(stage: usize, hold: usize) -> Result<Splice, Errno> {
        let (stage, stage_size) = Pipe::new(stage)?;
        let (peek, peek_size) = Pipe::new(stage_size)?;
        let (hold, _) = Pipe::new(hold)?;
        let null = nix::fcntl::open(
            "/dev/null",
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        Ok(Splice {
            stage,
            peek,
            hold,
            null,
            pull_max: stage_size.min(peek_size),
            from: 0,
        })
    }

    /// Moves what `src` has (at most `room.len()` bytes) into `hold` and
    /// its copy into `room`, which starts at index `end` of the lane's
    /// buffer; returns how many bytes came, 0 at EOF.
    pub fn pull(
        &mut self,
        src: BorrowedFd<'_>,
        room: &mut [u8],
        end: usize,
    ) -> Result<usize, Errno> {
        let want = room.len().min(self.pull_max);
        let n = retry(|| nix::fcntl::splice(src, None, &self.stage.write, None, want, flags()))?;
        if n == 0 {
            return Ok(0);
        }
        // `peek` is empty and as large as `stage`: it takes all n bytes.
        let lent =
            retry(|| nix::fcntl::tee(&self.stage.read, &self.peek.write, n, flags())).unwrap_or(0);
        read_exact(self.peek.read.as_fd(), &mut room[..lent])?;
        let held = match retry(|| {
            nix::fcntl::splice(
                &self.stage.read,
                None,
                &self.hold.write,
                None,
                lent,
                flags(),
            )
        }) {
            Ok(m) => m,
            Err(Errno::EAGAIN) => 0,
            Err(e) => return Err(e),
        };
        if held == n {
            return Ok(n);
        }
        // `hold` is full (or `peek` took less): keep these bytes and the
        // ones still held in the buffer only.
        self.drain(self.hold.read.as_fd(), end + held - self.from)?;
        self.drain(self.stage.read.as_fd(), lent - held)?;
        read_exact(self.stage.read.as_fd(), &mut room[lent..n])?;
        self.from = end + n;
        Ok(n)
    }

    /// Drops held bytes up to buffer index `to`: lines that were not
    /// forwarded.
    pub fn discard_to(&mut self, to: usize) -> Result<(), Errno> {
        if self.from < to {
            self.drain(self.hold.read.as_fd(), to - self.from)?;
            self.from = to;
        }
        Ok(())
    }

    /// Moves the held bytes of `buf[at..end]` to `dst`, after dropping
    /// held bytes before `at`; returns how many went (0 when `dst` is
    /// full).
    pub fn splice_out(
        &mut self,
        at: usize,
        end: usize,
        dst: BorrowedFd<'_>,
    ) -> Result<usize, Errno> {
        self.discard_to(at)?;
        match retry(|| nix::fcntl::splice(&self.hold.read, None, dst, None, end - at, flags())) {
            Ok(n) => {
                self.from += n;
                Ok(n)
            }
            Err(Errno::EAGAIN) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Removes `n` bytes that are in `pipe` (only cordon holds it, so they
    /// are there) by moving them to /dev/null.
    fn drain(&self, pipe: BorrowedFd<'_>, mut n: usize) -> Result<(), Errno> {
        while n > 0 {
            match retry(|| nix::fcntl::splice(pipe, None, &self.null, None, n, flags()))? {
                0 => return Err(Errno::EIO),
                moved => n -= moved,
            }
        }
        Ok(())
    }
}

fn retry(mut call: impl FnMut() -> Result<usize, Errno>) -> Result<usize, Errno> {
    loop {
        match call() {
            Err(Errno::EINTR) => {}
            other => return other,
        }
    }
}

/// Reads exactly `buf.len()` bytes that are known to be in `pipe`.
fn read_exact(pipe: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(), Errno> {
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(pipe, &mut buf[got..]) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
impl Splice {
    /// A copy of what `hold` holds, read through a second reference to
    /// its pages (tests check it against the lane's buffer).
    pub fn held(&self) -> Vec<u8> {
        #[allow(clippy::unwrap_used)]
        let size = nix::fcntl::fcntl(&self.hold.write, FcntlArg::F_GETPIPE_SZ).unwrap();
        #[allow(clippy::unwrap_used)]
        let (copy, _) = Pipe::new(size as usize).unwrap();
        let n = nix::fcntl::tee(&self.hold.read, &copy.write, usize::MAX, flags()).unwrap_or(0);
        let mut held = vec![0; n];
        #[allow(clippy::unwrap_used)]
        read_exact(copy.read.as_fd(), &mut held).unwrap();
        held
    }
}
