//! What one direction still has to write, in order: runs of input bytes
//! that passed (ranges of the lane's buffer, never copied) and lines cordon
//! generated. Consecutive passing messages form one range, so a read of
//! many small messages becomes one `writev` of one or a few slices.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;

/// Slices handed to one `writev`.
const MAX_IOV: usize = 64;

#[derive(Debug)]
enum Segment {
    /// `buf[start..end]` of the lane.
    Input { start: usize, end: usize },
    /// A generated line; `injected` when it answers the other direction.
    Owned { bytes: Vec<u8>, injected: bool },
}

impl Segment {
    fn bytes<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        match self {
            Segment::Input { start, end } => &buf[*start..*end],
            Segment::Owned { bytes, .. } => bytes,
        }
    }
}

/// The pending output of one direction.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Segment>,
    /// Bytes of the front segment already written.
    done: usize,
    /// Bytes of generated replies to the other direction still queued.
    injected: usize,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn injected(&self) -> usize {
        self.injected
    }

    /// Queues `buf[start..end]`, joining the previous range when adjacent.
    pub fn push_input(&mut self, start: usize, end: usize) {
        if start == end {
            return;
        }
        if let Some(Segment::Input { end: last, .. }) = self.queue.back_mut() {
            if *last == start {
                *last = end;
                return;
            }
        }
        self.queue.push_back(Segment::Input { start, end });
    }

    pub fn push_owned(&mut self, bytes: Vec<u8>, injected: bool) {
        if bytes.is_empty() {
            return;
        }
        if injected {
            self.injected += bytes.len();
        }
        self.queue.push_back(Segment::Owned { bytes, injected });
    }

    /// Where the oldest queued input starts: the buffer below it is free.
    pub fn first_input(&self) -> Option<usize> {
        self.queue.iter().find_map(|s| match s {
            Segment::Input { start, .. } => Some(*start),
            Segment::Owned { .. } => None,
        })
    }

    /// The lane moved its buffer contents down by `by` bytes.
    pub fn shift(&mut self, by: usize) {
        for s in &mut self.queue {
            if let Segment::Input { start, end } = s {
                *start -= by;
                *end -= by;
            }
        }
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.done = 0;
        self.injected = 0;
    }

    /// Writes as much as `dst` takes now: `Ok(true)` when everything
    /// queued went out.
    pub fn write_to(&mut self, buf: &[u8], dst: BorrowedFd<'_>) -> Result<bool, Errno> {
        while !self.queue.is_empty() {
            let (wanted, result) = self.write_buffered(buf, dst);
            match result {
                Ok(n) => {
                    self.consume(n);
                    if n < wanted {
                        // The destination is full: poll before trying again.
                        return Ok(false);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// One `writev` of the queued bytes from the front; returns how many
    /// bytes it tried and its result.
    fn write_buffered(&self, buf: &[u8], dst: BorrowedFd<'_>) -> (usize, Result<usize, Errno>) {
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        let mut total = 0;
        for (i, seg) in self.queue.iter().take(MAX_IOV).enumerate() {
            let skip = if i == 0 { self.done } else { 0 };
            let bytes = &seg.bytes(buf)[skip..];
            iov[count] = IoSlice::new(bytes);
            count += 1;
            total += bytes.len();
        }
        (total, nix::sys::uio::writev(dst, &iov[..count]))
    }

    /// Appends everything queued to `out`, as a destination that takes it
    /// all at once would (tests and fuzzing).
    pub fn drain_into(&mut self, buf: &[u8], out: &mut Vec<u8>) {
        for (i, seg) in self.queue.iter().enumerate() {
            let bytes = seg.bytes(buf);
            out.extend_from_slice(if i == 0 { &bytes[self.done..] } else { bytes });
        }
        self.clear();
    }

    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.queue.front() else {
                return;
            };
            let len = match front {
                Segment::Input { start, end } => end - start,
                Segment::Owned { bytes, .. } => bytes.len(),
            };
            let left = len - self.done;
            if n < left {
                self.done += n;
                return;
            }
            n -= left;
            self.done = 0;
            if let Some(Segment::Owned {
                bytes,
                injected: true,
            }) = self.queue.pop_front()
            {
                self.injected -= bytes.len();
            }
        }
    }
}
