//! One direction of the relay, framed: a bounded buffer of input, split
//! into lines by MCP's [`Framer`], each line decided on by the caller,
//! and the [`Outbox`] of what goes on.
//!
//! Memory is bounded by the message limit: the buffer grows only while
//! one incomplete line needs room, up to `limit + 1` bytes, and a line
//! longer than that is discarded as it arrives (only a sniffer and a
//! short prefix are kept), whatever the peer sends. Reading stops while
//! the buffer is full of output not yet written, so a slow reader slows
//! the writer and nothing is lost or reordered.
//!
//! Input is always copied into the buffer with `read`, and what goes on
//! is written from that copy: the bytes inspected are the bytes
//! forwarded. Moving pipe pages instead (`splice`, `tee`) would forward
//! pages the sender may still change: a writer that `vmsplice`s its own
//! memory into the pipe can rewrite a message after cordon inspected it
//! and before the reader reads it.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use super::outbox::Outbox;
use crate::mcp::wire::{Frame, Framer};
use crate::mcp::{Overlong, Verdict};
use crate::sys;

/// The buffer's size when no long message is in it, and so the largest
/// read: large blocks keep the number of system calls per message low.
pub const BLOCK: usize = 256 * 1024;

/// What the lane found next in its input.
#[derive(Debug)]
pub enum Event<'a> {
    /// A complete line, without its newline.
    Line(&'a [u8]),
    /// A line over the limit, already discarded.
    Overlong(Overlong),
}

/// One direction: host → server or server → host.
#[derive(Debug)]
pub struct Lane {
    buf: Vec<u8>,
    end: usize,
    framer: Framer,
    /// The line last returned by [`Lane::next_event`], newline included.
    current: Option<(usize, usize)>,
    /// The last bytes queued ended without a newline (a final line at
    /// EOF): a generated line after them needs one first.
    open_tail: bool,
    out: Outbox,
    src_open: bool,
    dst_open: bool,
}

impl Lane {
    pub fn new(limit: usize) -> Lane {
        Lane {
            buf: vec![0; BLOCK.min(limit + 1).max(4096)],
            end: 0,
            framer: Framer::new(limit),
            current: None,
            open_tail: false,
            out: Outbox::default(),
            src_open: true,
            dst_open: true,
        }
    }

    /// Poll the source for input.
    pub fn wants_read(&self) -> bool {
        self.src_open && self.dst_open && self.has_room()
    }

    /// Poll the destination for room.
    pub fn wants_write(&self) -> bool {
        self.dst_open && !self.out.is_empty()
    }

    /// The source hit EOF or failed, and everything read has been written.
    pub fn drained(&self) -> bool {
        !self.src_open && self.out.is_empty() && self.framer.idle(&self.buf[..self.end])
    }

    /// Nothing more will ever move in this direction.
    pub fn finished(&self) -> bool {
        self.drained() || !self.dst_open
    }

    /// The source has not hit EOF or failed yet.
    pub fn source_open(&self) -> bool {
        self.src_open
    }

    pub fn destination_open(&self) -> bool {
        self.dst_open
    }

    /// Bytes of replies to the other direction waiting here.
    pub fn injected(&self) -> usize {
        self.out.injected()
    }

    /// The destination went away (EPIPE) or was closed on purpose: drop
    /// what is queued and stop reading.
    pub fn close_destination(&mut self) {
        self.dst_open = false;
        self.out.clear();
    }

    pub fn close_source(&mut self) {
        self.src_open = false;
    }

    /// The first byte the buffer must keep: queued input and the line
    /// being read.
    fn head(&self) -> usize {
        self.out.first_input().unwrap_or(self.framer.scan())
    }

    /// Moves the buffer's contents from `head` down to index 0.
    fn shift_down(&mut self, head: usize) {
        self.buf.copy_within(head..self.end, 0);
        self.out.shift(head);
        self.framer.shift(head);
        self.end -= head;
    }

    fn has_room(&self) -> bool {
        self.end < self.buf.len() || self.head() > 0 || self.out.is_empty()
    }

    /// Makes room at the end of the buffer: reuse the space of bytes
    /// already written or dropped, else grow for a long line.
    fn make_room(&mut self) -> bool {
        if self.end < self.buf.len() {
            return true;
        }
        let head = self.head();
        if head > 0 {
            self.shift_down(head);
            return true;
        }
        if !self.out.is_empty() || self.buf.len() > self.framer.limit() {
            return false;
        }
        let grown = (self.buf.len() * 2).min(self.framer.limit() + 1);
        self.buf.resize(grown, 0);
        true
    }

    /// Back to an empty, small buffer once a long message has gone out.
    pub fn settle(&mut self) {
        if !self.out.is_empty() {
            return;
        }
        let head = self.head();
        if head == self.end {
            self.shift_down(head);
        }
        if self.buf.len() > BLOCK && self.end - self.head() <= BLOCK / 2 {
            self.shift_down(self.head());
            self.buf.truncate(BLOCK);
            self.buf.shrink_to_fit();
        }
    }

    /// Reads what is available from `src`.
    pub fn fill(&mut self, src: BorrowedFd<'_>) -> Result<(), Errno> {
        self.settle();
        if !self.make_room() {
            return Ok(());
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

    /// Takes `bytes` in as if read from the source; returns how many fit
    /// (tests and fuzzing drive a lane without descriptors).
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        self.settle();
        if !self.make_room() {
            return 0;
        }
        let n = bytes.len().min(self.buf.len() - self.end);
        self.buf[self.end..self.end + n].copy_from_slice(&bytes[..n]);
        self.end += n;
        n
    }

    /// Moves everything queued to `out`, as a destination that takes it
    /// all would (tests and fuzzing).
    pub fn drain_output(&mut self, out: &mut Vec<u8>) {
        self.out.drain_into(&self.buf, out);
        self.settle();
    }

    /// The buffer's current size: bounded by the message limit.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The next line (or discarded over-long line) read, if complete;
    /// after EOF a last line without its newline counts as complete. Call
    /// [`Lane::apply`] with the decision before asking for the next.
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        self.current = None;
        match self.framer.next(&self.buf[..self.end], !self.src_open)? {
            Frame::Line { start, end, next } => {
                self.current = Some((start, next));
                Some(Event::Line(&self.buf[start..end]))
            }
            Frame::Overlong(o) => Some(Event::Overlong(o)),
        }
    }

    /// Carries out the decision on the last event.
    pub fn apply(&mut self, verdict: Verdict) {
        match (verdict, self.current.take()) {
            (Verdict::Forward, Some((start, end))) => {
                self.out.push_input(start, end);
                self.open_tail = self.buf[end - 1] != b'\n';
            }
            (Verdict::Replace(line), _) => self.push_generated(line, false),
            _ => {}
        }
    }

    /// Queues a reply generated for the other direction's sender.
    pub fn inject(&mut self, line: Vec<u8>) {
        if self.dst_open {
            self.push_generated(line, true);
        }
    }

    fn push_generated(&mut self, mut line: Vec<u8>, injected: bool) {
        if std::mem::take(&mut self.open_tail) {
            line.insert(0, b'\n');
        }
        self.out.push_owned(line, injected);
    }

    /// Writes as much as `dst` takes now. A destination that went away is
    /// closed, not an error (a broken pipe is a normal shutdown).
    pub fn flush(&mut self, dst: BorrowedFd<'_>) -> Result<(), Errno> {
        match self.out.write_to(&self.buf, dst) {
            Ok(_) => {
                self.settle();
                Ok(())
            }
            Err(Errno::EPIPE) => {
                self.close_destination();
                Ok(())
            }
            Err(e) => {
                self.close_destination();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// xorshift64*: a seeded PRNG, so a failure names its seed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    /// Forwards lines that start with `{`, drops the others, replaces
    /// over-long ones with `R\n`.
    fn decide(lane: &mut Lane) {
        while let Some(event) = lane.next_event() {
            let verdict = match event {
                Event::Line(line) if line.first() == Some(&b'{') => Verdict::Forward,
                Event::Line(_) => Verdict::Drop,
                Event::Overlong(_) => Verdict::Replace(b"R\n".to_vec()),
            };
            lane.apply(verdict);
        }
    }

    /// Feeds `input` in random pieces, decides on every line, and returns
    /// the output; checks the buffer never outgrows the limit on the way.
    fn relay(input: &[u8], limit: usize, rng: &mut Rng) -> Vec<u8> {
        let mut lane = Lane::new(limit);
        let (mut fed, mut out) = (0, Vec::new());
        loop {
            if fed == input.len() {
                lane.close_source();
            } else {
                let piece = 1 + rng.below(3 * limit as u64) as usize;
                fed += lane.feed(&input[fed..(fed + piece).min(input.len())]);
            }
            decide(&mut lane);
            assert!(lane.capacity() <= BLOCK.max(limit + 1).max(4096));
            if rng.below(2) == 0 || fed == input.len() {
                lane.drain_output(&mut out);
            }
            if lane.drained() {
                return out;
            }
        }
    }

    /// The same, through real pipes: `input` is written to a pipe in
    /// random pieces, and the lane reads it, flushes and is drained at
    /// random moments, so lines are split across reads and writes.
    fn relay_piped(input: &[u8], limit: usize, rng: &mut Rng) -> Vec<u8> {
        use nix::fcntl::OFlag;
        use std::os::fd::AsFd;
        let flags = OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let (src_r, src_w) = nix::unistd::pipe2(flags).unwrap();
        let (dst_r, dst_w) = nix::unistd::pipe2(flags).unwrap();
        let mut lane = Lane::new(limit);
        let (mut fed, mut out) = (0, Vec::new());
        let mut src_w = Some(src_w);
        let mut chunk = vec![0u8; 65536];
        let (mut last, mut idle) = ((0, 0), 0);
        loop {
            idle = if last == (fed, out.len()) {
                idle + 1
            } else {
                0
            };
            last = (fed, out.len());
            assert!(
                idle < 10_000,
                "stuck after {fed} bytes in, {} out",
                out.len()
            );
            if fed == input.len() {
                src_w = None;
            }
            if let Some(w) = &src_w {
                let piece = 1 + rng.below(3 * limit as u64) as usize;
                if let Ok(n) = nix::unistd::write(w, &input[fed..(fed + piece).min(input.len())]) {
                    fed += n;
                }
            }
            if rng.below(4) != 0 {
                let _ = lane.fill(src_r.as_fd());
                decide(&mut lane);
            }
            if rng.below(2) == 0 {
                lane.flush(dst_w.as_fd()).unwrap();
            }
            assert!(lane.capacity() <= BLOCK.max(limit + 1).max(4096));
            if rng.below(2) == 0 || fed == input.len() {
                while let Ok(n @ 1..) = nix::unistd::read(&dst_r, &mut chunk) {
                    out.extend_from_slice(&chunk[..n]);
                }
            }
            if lane.drained() {
                return out;
            }
        }
    }

    /// The same decisions, made on the whole input at once.
    fn expected(input: &[u8], limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        let last = lines.pop().unwrap_or_default();
        for line in lines {
            if line.len() > limit {
                out.extend_from_slice(b"R\n");
            } else if line.first() == Some(&b'{') {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        if last.len() > limit {
            out.extend_from_slice(b"R\n");
        } else if last.first() == Some(&b'{') {
            out.extend_from_slice(last);
        }
        out
    }

    /// Random lines, some over the limit, some without a final newline.
    fn random_input(limit: usize, rng: &mut Rng) -> Vec<u8> {
        let mut input = Vec::new();
        for _ in 0..rng.below(60) {
            let len = match rng.below(10) {
                0 => limit + rng.below(3 * limit as u64) as usize,
                1 => limit,
                _ => rng.below(200) as usize,
            };
            input.push(if rng.below(3) == 0 { b'x' } else { b'{' });
            input.extend((0..len.saturating_sub(1)).map(|i| b'a' + (i % 26) as u8));
            if rng.below(8) != 0 {
                input.push(b'\n');
            }
        }
        input
    }

    #[test]
    fn random_pieces_give_the_same_lines_in_order_fed_or_piped() {
        for seed in 1..=150u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let limit = 1024 + rng.below(16384) as usize;
            let input = random_input(limit, &mut rng);
            let want = expected(&input, limit);
            assert_eq!(relay(&input, limit, &mut rng), want, "fed, seed {seed}");
            assert_eq!(
                relay_piped(&input, limit, &mut rng),
                want,
                "piped, seed {seed}"
            );
        }
    }

    #[test]
    fn a_line_without_end_is_discarded_in_bounded_memory() {
        let mut lane = Lane::new(4096);
        let chunk = vec![b'z'; 65536];
        for _ in 0..256 {
            let mut fed = 0;
            while fed < chunk.len() {
                fed += lane.feed(&chunk[fed..]);
                assert!(lane.next_event().is_none());
                assert!(lane.capacity() <= 4097);
            }
        }
        lane.feed(b"\n{}\n");
        match lane.next_event() {
            Some(Event::Overlong(o)) => assert_eq!(o.len, 256 * 65536),
            other => panic!("{other:?}"),
        }
        assert!(matches!(lane.next_event(), Some(Event::Line(b"{}"))));
    }
}
