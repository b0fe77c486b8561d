//! The byte relay between the host and the server: one bounded buffer per
//! direction, driven by the session's poll loop. Bytes pass unchanged and
//! in order; a full buffer stops reading from the source, so a slow reader
//! slows the writer and memory stays bounded.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use crate::sys;

/// Size of each direction's buffer.
pub const BUFFER_SIZE: usize = 64 * 1024;

/// One direction of the relay (host → server or server → host).
#[derive(Debug)]
pub struct Direction {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The source has not reached EOF.
    src_open: bool,
    /// The destination still accepts bytes.
    dst_open: bool,
}

impl Default for Direction {
    fn default() -> Self {
        Direction::new(BUFFER_SIZE)
    }
}

impl Direction {
    pub fn new(capacity: usize) -> Direction {
        Direction {
            buf: vec![0; capacity].into_boxed_slice(),
            start: 0,
            end: 0,
            src_open: true,
            dst_open: true,
        }
    }

    /// Poll the source for input.
    pub fn wants_read(&self) -> bool {
        self.src_open && self.dst_open && self.end < self.buf.len()
    }

    /// Poll the destination for room.
    pub fn wants_write(&self) -> bool {
        self.dst_open && self.start < self.end
    }

    /// The source hit EOF or failed, and everything read has been written.
    pub fn drained(&self) -> bool {
        !self.src_open && self.start == self.end
    }

    /// Nothing more will ever move in this direction.
    pub fn finished(&self) -> bool {
        self.drained() || !self.dst_open
    }

    pub fn source_open(&self) -> bool {
        self.src_open
    }

    pub fn destination_open(&self) -> bool {
        self.dst_open
    }

    /// The destination went away (EPIPE) or was closed on purpose: drop
    /// what is buffered and stop reading.
    pub fn close_destination(&mut self) {
        self.dst_open = false;
        self.start = 0;
        self.end = 0;
    }

    pub fn close_source(&mut self) {
        self.src_open = false;
    }

    /// Reads what is available from `src`.
    pub fn fill(&mut self, src: BorrowedFd<'_>) -> Result<(), Errno> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        match sys::read(src.as_raw_fd(), &mut self.buf[self.end..]) {
            Ok(0) => self.src_open = false,
            Ok(n) => self.end += n,
            Err(Errno::EAGAIN) => {}
            Err(e) => {
                self.src_open = false;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Writes as much as `dst` takes now.
    pub fn flush(&mut self, dst: BorrowedFd<'_>) -> Result<(), Errno> {
        while self.start < self.end {
            match nix::unistd::write(dst, &self.buf[self.start..self.end]) {
                Ok(n) => self.start += n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EPIPE) => {
                    self.close_destination();
                    return Ok(());
                }
                Err(e) => {
                    self.close_destination();
                    return Err(e);
                }
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn bytes_pass_unchanged_through_a_small_buffer() {
        let (src_r, src_w) = nix::unistd::pipe().unwrap();
        let (dst_r, dst_w) = nix::unistd::pipe().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut writer = std::fs::File::from(src_w);
        writer.write_all(&data).unwrap();
        drop(writer);
        let mut d = Direction::new(100);
        while !d.drained() {
            if d.wants_read() {
                d.fill(src_r.as_fd()).unwrap();
            }
            d.flush(dst_w.as_fd()).unwrap();
        }
        drop(dst_w);
        let mut out = Vec::new();
        std::fs::File::from(dst_r).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
