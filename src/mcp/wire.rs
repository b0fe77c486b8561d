//! MCP's stdio wire, in one place for every part of cordon that speaks
//! it (the relay, `vet`'s client, the refusal `approval` sends to a
//! host's `initialize`): the framing of messages into lines, the
//! JSON-RPC error responses cordon generates, and which methods are
//! requests.
//!
//! The framing is MCP's: one message per line, ended by `\n`; a last
//! line without newline counts once the input has ended. A line longer
//! than the reader's limit is discarded as it arrives, in constant
//! memory, keeping only what the [`Sniffer`] reads of it (its id, so that
//! a request can still be answered).

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::Overlong;
use super::raw::quote;
use super::sniff::Sniffer;

/// JSON-RPC error codes cordon answers with.
pub mod code {
    /// The line was not a valid request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// A server-to-host request the profile refuses: to the server it
    /// looks like a host without that capability.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// A tool, prompt or resource the profile refuses: MCP's code for an
    /// unknown one.
    pub const INVALID_PARAMS: i64 = -32602;
    /// A response cordon could not forward (too large, or invalid).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The server was not started: nobody approved it (the answer to the
    /// host's `initialize`). In JSON-RPC's range for server errors.
    pub const NOT_APPROVED: i64 = -32001;
    /// The server ended (or could not start) before it answered.
    pub const SERVER_EXITED: i64 = -32002;
}

/// Reads the host's messages on stdin (`wait` at most) and answers its
/// first request (`initialize`: a host sends it first) with an error
/// carrying `message`, so the host shows why instead of a closed
/// connection. A terminal on stdin is not read: nobody there speaks
/// JSON-RPC.
pub fn answer_first_request(code: i64, message: &str, wait: Duration) {
    if nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return;
    }
    let deadline = Instant::now() + wait;
    let mut reader = LineReader::new(1 << 20);
    while let Ok(read) = reader.read(std::io::stdin().as_fd(), deadline) {
        let Message::Line(line) = read else { continue };
        let Ok(env) = super::envelope::parse(&line) else {
            continue;
        };
        if let (super::envelope::Kind::Request, Some(id)) = (env.kind, env.id) {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&error_response(id, code, message));
            let _ = out.flush();
            return;
        }
    }
}

/// A complete error response line (with its newline) for the request
/// whose id has the JSON text `id` (a string with its quotes, or a
/// number): every error cordon writes on the wire is built here.
pub fn error_response(id: &str, code: i64, message: &str) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{code},\"message\":{}}}}}\n",
        quote(message)
    )
    .into_bytes()
}

/// Whether `method` is a request in MCP 2025-11-25, in either direction:
/// host to server `initialize`, `ping`, the lists, `tools/call`,
/// `prompts/get`, `resources/read|subscribe|unsubscribe`,
/// `logging/setLevel`, `completion/complete`; server to host `ping`,
/// `sampling/createMessage`, `elicitation/create`, `roots/list`; and both
/// ways `tasks/*`. Such a message without an id is not a notification
/// cordon can let pass: a peer that acts on it anyway would do what the
/// profile checks requests for, unchecked.
pub fn is_request_method(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "ping"
            | "tools/list"
            | "tools/call"
            | "prompts/list"
            | "prompts/get"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "logging/setLevel"
            | "completion/complete"
            | "sampling/createMessage"
            | "elicitation/create"
            | "roots/list"
    ) || method.starts_with("tasks/")
}

/// What the framer found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line: `buf[start..end]` without its newline; the next
    /// line starts at `next` (`end + 1`, or `end` for a last line
    /// without newline).
    Line {
        start: usize,
        end: usize,
        next: usize,
    },
    /// A line over the limit, already discarded.
    Overlong(Overlong),
}

/// Bytes of an over-long line kept for the note.
const PREFIX: usize = 1024;

/// An over-long line being discarded.
#[derive(Debug, Default)]
struct Discard {
    sniffer: Sniffer,
    len: u64,
    prefix: Vec<u8>,
}

impl Discard {
    fn feed(&mut self, bytes: &[u8]) {
        self.sniffer.feed(bytes);
        self.len += bytes.len() as u64;
        let room = PREFIX.saturating_sub(self.prefix.len());
        self.prefix
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn finish(self) -> Overlong {
        let (id, has_method) = self.sniffer.finish();
        Overlong {
            len: self.len,
            id,
            has_method,
            prefix: self.prefix,
        }
    }
}

/// Splits a buffer the caller fills into lines. It owns no bytes: the
/// caller keeps everything from [`Framer::scan`] on, and may move it down
/// (then calls [`Framer::shift`]).
#[derive(Debug)]
pub struct Framer {
    /// Start of the bytes not yet split into lines.
    scan: usize,
    /// `buf[scan..searched]` holds no newline (not searched again).
    searched: usize,
    /// Longest line passed, without its newline.
    limit: usize,
    discard: Option<Discard>,
}

impl Framer {
    pub fn new(limit: usize) -> Framer {
        Framer {
            scan: 0,
            searched: 0,
            limit,
            discard: None,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Where the bytes not yet framed start: the caller may drop the
    /// bytes before it once it no longer needs the lines there.
    pub fn scan(&self) -> usize {
        self.scan
    }

    /// The caller moved its buffer's contents down by `by` bytes.
    pub fn shift(&mut self, by: usize) {
        self.scan -= by;
        self.searched = self.searched.saturating_sub(by);
    }

    /// Every byte of `buf` has been framed (a discarded line counts as
    /// framed only once it has ended).
    pub fn idle(&self, buf: &[u8]) -> bool {
        self.scan == buf.len() && self.discard.is_none()
    }

    /// The next line of `buf` (everything read so far) when complete;
    /// with `eof` (no more input will come) a last line without its
    /// newline is complete.
    pub fn next(&mut self, buf: &[u8], eof: bool) -> Option<Frame> {
        if self.discard.is_some() {
            return self.continue_discard(buf, eof);
        }
        let end = buf.len();
        let from = self.searched.max(self.scan);
        if let Some(i) = memchr::memchr(b'\n', &buf[from..]) {
            let (start, newline) = (self.scan, from + i);
            self.scan = newline + 1;
            self.searched = self.scan;
            if newline - start > self.limit {
                let mut d = Discard::default();
                d.feed(&buf[start..newline]);
                return Some(Frame::Overlong(d.finish()));
            }
            return Some(Frame::Line {
                start,
                end: newline,
                next: newline + 1,
            });
        }
        self.searched = end;
        if end - self.scan > self.limit {
            self.discard = Some(Discard::default());
            return self.continue_discard(buf, eof);
        }
        if eof && self.scan < end {
            let start = self.scan;
            (self.scan, self.searched) = (end, end);
            return Some(Frame::Line {
                start,
                end,
                next: end,
            });
        }
        None
    }

    /// Feeds the over-long line's bytes to its sniffer and drops them.
    fn continue_discard(&mut self, buf: &[u8], eof: bool) -> Option<Frame> {
        let d = self.discard.as_mut()?;
        let newline = memchr::memchr(b'\n', &buf[self.scan..]);
        let stop = newline.map_or(buf.len(), |i| self.scan + i);
        d.feed(&buf[self.scan..stop]);
        self.scan = newline.map_or(buf.len(), |_| stop + 1);
        self.searched = self.scan;
        if newline.is_none() && !eof {
            return None;
        }
        self.discard.take().map(|d| Frame::Overlong(d.finish()))
    }
}

/// A message read by a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// A line, without its newline.
    Line(Vec<u8>),
    Overlong(Overlong),
}

/// Why a [`LineReader`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("no complete message before the deadline")]
    Timeout,
    #[error("the input ended")]
    Closed,
    #[error("cannot read: {0}")]
    Io(Errno),
}

/// Bytes asked for per read.
const CHUNK: usize = 64 * 1024;

/// Messages from a descriptor, one at a time, in memory bounded by the
/// limit: the reader of the short exchanges (`vet`'s client, the answer
/// to `initialize`), where the relay's lanes frame a buffer of their own
/// with the same [`Framer`].
#[derive(Debug)]
pub struct LineReader {
    buf: Vec<u8>,
    framer: Framer,
    eof: bool,
}

impl LineReader {
    pub fn new(limit: usize) -> LineReader {
        LineReader {
            buf: Vec::new(),
            framer: Framer::new(limit),
            eof: false,
        }
    }

    /// Takes `bytes` in as if read (tests).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next message already read, if complete.
    pub fn next_buffered(&mut self) -> Option<Message> {
        let message = match self.framer.next(&self.buf, self.eof) {
            Some(Frame::Line { start, end, .. }) => {
                Some(Message::Line(self.buf[start..end].to_vec()))
            }
            Some(Frame::Overlong(o)) => Some(Message::Overlong(o)),
            None => None,
        };
        self.compact();
        message
    }

    /// Drops the bytes already framed, so a discarded line does not pile
    /// up.
    fn compact(&mut self) {
        let done = self.framer.scan();
        if done > 0 {
            self.buf.drain(..done);
            self.framer.shift(done);
        }
    }

    /// The next message from `fd` (non-blocking or not), waiting until
    /// `deadline` at most.
    pub fn read(&mut self, fd: BorrowedFd<'_>, deadline: Instant) -> Result<Message, ReadError> {
        loop {
            if let Some(message) = self.next_buffered() {
                return Ok(message);
            }
            if self.eof {
                return Err(ReadError::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::Timeout);
            }
            let mut pfd = [libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let ms = left.as_millis().clamp(1, 60_000) as i32;
            if !matches!(crate::sys::poll(&mut pfd, ms), Ok(n) if n > 0) {
                continue;
            }
            let have = self.buf.len();
            self.buf.resize(have + CHUNK, 0);
            let read = crate::sys::read(fd.as_raw_fd(), &mut self.buf[have..]);
            self.buf.truncate(have + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => self.eof = true,
                Ok(_) | Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_are_valid_messages() {
        let line = error_response("\"x\"", code::INVALID_PARAMS, "no \"quote\"");
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.ends_with('\n'));
        let env = super::super::envelope::parse(text.trim_end().as_bytes()).unwrap();
        assert_eq!(env.id, Some("\"x\""));
        assert!(env.error.is_some());
    }

    #[test]
    fn request_methods_are_known_and_notifications_are_not() {
        for m in [
            "tools/call",
            "sampling/createMessage",
            "roots/list",
            "tasks/get",
        ] {
            assert!(is_request_method(m), "{m}");
        }
        for m in [
            "notifications/cancelled",
            "notifications/tasks/status",
            "tools/Call",
            "x/tools/call",
        ] {
            assert!(!is_request_method(m), "{m}");
        }
    }

    #[test]
    fn the_reader_frames_in_bounded_memory() {
        let mut r = LineReader::new(8);
        r.push(b"{\"a\":1}\n");
        assert_eq!(
            r.next_buffered(),
            Some(Message::Line(b"{\"a\":1}".to_vec()))
        );
        for _ in 0..1000 {
            r.push(b"{\"id\":7,");
            assert_eq!(r.next_buffered(), None);
            assert!(r.buf.len() <= 16, "{}", r.buf.len());
        }
        r.push(b"}\nlast");
        match r.next_buffered() {
            Some(Message::Overlong(o)) => assert_eq!((o.len, o.id.as_deref()), (8001, Some("7"))),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.next_buffered(), None);
        r.eof = true;
        assert_eq!(r.next_buffered(), Some(Message::Line(b"last".to_vec())));
    }
}
