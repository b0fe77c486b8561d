//! The server's stderr: a pipe that a thread of cordon's relays, so the
//! server never holds cordon's terminal or stderr file (it could read what
//! the user types, change terminal modes, or truncate and rewrite cordon's
//! log).
//!
//! The bytes go out in the order they came, each read written whole while
//! cordon's stderr is locked, so a line the server wrote at once is not
//! cut by one of cordon's notes. On a terminal every control character but
//! newline and tab is shown escaped (`\x1b`, `\r`, `\u{9b}`: see
//! [`crate::mcp::quote::escape_os`]), so a server cannot move the
//! cursor, recolour or retitle the terminal, or hide earlier lines; to a
//! file or pipe the bytes pass verbatim. Nothing is lost: the relay ends
//! at EOF, or, asked to finish once the sandbox is gone, after draining
//! what the pipe still holds.
//!
//! On the way it keeps the last bytes (for the early-exit answer) and
//! the paths the server's error messages name
//! ([`crate::explain::named`], for the exit summary).

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::explain::named;
use crate::mcp::quote::escape_os;
use crate::sys;

/// How much one read takes from the pipe.
const CHUNK: usize = 64 * 1024;

/// What the first read takes; reads that fill the buffer grow it.
const FIRST_CHUNK: usize = 4096;

/// The last bytes of the server's stderr are kept, for the error a host
/// gets when the server ends before answering.
pub const TAIL: usize = 4096;

/// Where the server's stderr goes.
#[derive(Debug)]
pub enum Sink {
    /// cordon's stderr, a terminal: control characters escaped.
    Terminal,
    /// cordon's stderr, not a terminal: verbatim.
    Stderr,
    /// A file of cordon's (`vet`'s log): verbatim.
    File(File),
}

impl Sink {
    /// cordon's own stderr, escaped when it is a terminal.
    pub fn host() -> Sink {
        if nix::unistd::isatty(std::io::stderr()).unwrap_or(false) {
            Sink::Terminal
        } else {
            Sink::Stderr
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Terminal => {
                let text = escape_for_terminal(bytes);
                std::io::stderr().lock().write_all(text.as_bytes())
            }
            Sink::Stderr => std::io::stderr().lock().write_all(bytes),
            Sink::File(file) => file.write_all(bytes),
        }
    }
}

impl From<OwnedFd> for Sink {
    fn from(fd: OwnedFd) -> Sink {
        Sink::File(File::from(fd))
    }
}

/// Escapes `bytes` for a terminal, keeping newlines and tabs: each other
/// piece goes through the display escaping consent uses.
pub fn escape_for_terminal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for piece in bytes.split_inclusive(|&b| b == b'\n' || b == b'\t') {
        let (text, end) = match piece.split_last() {
            Some((&last, text)) if last == b'\n' || last == b'\t' => (text, Some(last)),
            _ => (piece, None),
        };
        out.push_str(&escape_os(std::ffi::OsStr::from_bytes(text)));
        if let Some(end) = end {
            out.push(char::from(end));
        }
    }
    out
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that is
/// not complete yet (kept for the next read, so a character cut by a
/// read boundary is not shown as invalid bytes).
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let Some(&b) = bytes.get(bytes.len() - back) else {
            return 0;
        };
        if b & 0xC0 == 0x80 {
            continue;
        }
        let needed = match b {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

/// Where the settle requests stand.
#[derive(Debug, Default)]
struct Progress {
    /// The last settle request made, and the last one completed.
    requested: u64,
    settled: u64,
    /// The relay has ended.
    done: bool,
}

#[derive(Debug)]
struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
    /// Written to wake the thread for a settle or the finish.
    wake: EventFd,
    stop: AtomicBool,
}

fn lock(m: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the relay saw pass.
#[derive(Debug, Default)]
pub struct Relayed {
    /// The last [`TAIL`] bytes.
    pub tail: Vec<u8>,
    /// The paths the server's error messages named, from every line.
    pub named: named::Found,
}

/// The running relay of the server's stderr.
#[derive(Debug)]
pub struct StderrRelay {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Relayed>>,
}

impl StderrRelay {
    /// Starts relaying `pipe` (the read end of the server's stderr) to
    /// `sink`.
    pub fn start(pipe: OwnedFd, sink: Sink) -> std::io::Result<StderrRelay> {
        nix::fcntl::fcntl(&pipe, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        let shared = Arc::new(Shared {
            progress: Mutex::default(),
            changed: Condvar::new(),
            wake: EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?,
            stop: AtomicBool::new(false),
        });
        let worker = Worker {
            pipe,
            sink,
            shared: Arc::clone(&shared),
            carry: Vec::new(),
            tail: Vec::new(),
            named: named::Collector::new(),
        };
        let thread = std::thread::Builder::new()
            .name("relay stderr".into())
            .spawn(move || worker.run())?;
        Ok(StderrRelay {
            shared,
            thread: Some(thread),
        })
    }

    /// Returns once everything the pipe held when this was called has
    /// been written to the sink (or the relay has ended).
    pub fn settle(&self) {
        let mut p = lock(&self.shared.progress);
        p.requested += 1;
        let ticket = p.requested;
        let _ = self.shared.wake.write(1);
        while !p.done && p.settled < ticket {
            p = self
                .shared
                .changed
                .wait(p)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Drains what the pipe holds, then ends the relay and waits for it;
    /// returns what it saw pass.
    pub fn finish(mut self) -> Relayed {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Relayed {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.shared.wake.write(1);
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_default(),
            None => Relayed::default(),
        }
    }
}

impl Drop for StderrRelay {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Worker {
    pipe: OwnedFd,
    sink: Sink,
    shared: Arc<Shared>,
    /// Terminal only: the start of a UTF-8 character cut by a read.
    carry: Vec<u8>,
    /// The last bytes read, at most [`TAIL`].
    tail: Vec<u8>,
    named: named::Collector,
}

/// What a drain is for.
#[derive(Debug, Clone, Copy)]
enum Drain {
    /// A settle request: until the pipe is empty or `left` more bytes
    /// (its capacity: all it held at the request) have been read.
    Settle { ticket: u64, left: usize },
    /// The finish: until the pipe is empty.
    Finish,
}

impl Worker {
    fn run(mut self) -> Relayed {
        // Most servers write little to stderr: the buffer starts at a
        // page and doubles, up to CHUNK, each time a read fills it, so
        // a quiet server's relay does not zero (and fault in) 64 KiB.
        let mut buf = vec![0u8; FIRST_CHUNK];
        let mut drain: Option<Drain> = None;
        loop {
            drain = self.requests(drain);
            if drain.is_none() {
                self.wait();
                drain = self.requests(drain);
            }
            match sys::read(self.pipe.as_raw_fd(), &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.write(buf.get(..n).unwrap_or_default());
                    if n == buf.len() && buf.len() < CHUNK {
                        buf.resize(buf.len() * 2, 0);
                    }
                    if let Some(Drain::Settle { ticket, left }) = drain {
                        drain = match left.checked_sub(n) {
                            Some(left) if left > 0 => Some(Drain::Settle { ticket, left }),
                            _ => self.settled(ticket),
                        };
                    }
                }
                Err(Errno::EAGAIN) => match drain {
                    Some(Drain::Finish) => break,
                    Some(Drain::Settle { ticket, .. }) => drain = self.settled(ticket),
                    None => {}
                },
                Err(_) => break,
            }
        }
        self.flush_carry();
        let mut p = lock(&self.shared.progress);
        p.done = true;
        self.shared.changed.notify_all();
        drop(p);
        Relayed {
            tail: self.tail,
            named: self.named.finish(),
        }
    }

    /// Waits until the pipe has data (or EOF) or a request came.
    fn wait(&self) {
        let mut pfds = [
            libc::pollfd {
                fd: self.pipe.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.shared.wake.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let _ = sys::poll(&mut pfds, -1);
    }

    /// Takes a finish or settle request, if one came.
    fn requests(&self, drain: Option<Drain>) -> Option<Drain> {
        let _ = self.shared.wake.read();
        if self.shared.stop.load(Ordering::Acquire) {
            return Some(Drain::Finish);
        }
        if drain.is_some() {
            return drain;
        }
        let p = lock(&self.shared.progress);
        if p.requested > p.settled {
            let capacity = nix::fcntl::fcntl(&self.pipe, FcntlArg::F_GETPIPE_SZ)
                .ok()
                .and_then(|c| usize::try_from(c).ok())
                .unwrap_or(crate::relay::PIPE_SIZE);
            return Some(Drain::Settle {
                ticket: p.requested,
                left: capacity,
            });
        }
        None
    }

    fn settled(&self, ticket: u64) -> Option<Drain> {
        let mut p = lock(&self.shared.progress);
        p.settled = p.settled.max(ticket);
        self.shared.changed.notify_all();
        None
    }

    /// Writes a chunk; a sink that fails (cordon's stderr closed) drops
    /// it, and the relay goes on reading so the server never blocks.
    fn write(&mut self, bytes: &[u8]) {
        keep_tail(&mut self.tail, bytes);
        if matches!(self.sink, Sink::Terminal) {
            let mut whole = std::mem::take(&mut self.carry);
            whole.extend_from_slice(bytes);
            let keep = incomplete_tail(&whole);
            let cut = whole.len() - keep;
            self.carry = whole.split_off(cut);
            let _ = self.sink.write(&whole);
        } else {
            let _ = self.sink.write(bytes);
        }
        // After the write: the search does not delay what the user sees.
        self.named.feed(bytes);
    }

    fn flush_carry(&mut self) {
        let rest = std::mem::take(&mut self.carry);
        if !rest.is_empty() {
            let _ = self.sink.write(&rest);
        }
    }
}

/// Appends `bytes` to `tail`, keeping the last [`TAIL`] bytes.
fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[bytes.len().saturating_sub(TAIL)..];
    let over = (tail.len() + bytes.len()).saturating_sub(TAIL);
    tail.drain(..over.min(tail.len()));
    tail.extend_from_slice(bytes);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes() {
        let mut tail = Vec::new();
        keep_tail(&mut tail, b"first\n");
        assert_eq!(tail, b"first\n");
        keep_tail(&mut tail, &vec![b'x'; TAIL - 2]);
        assert_eq!(tail.len(), TAIL);
        assert!(tail.starts_with(b"t\n"));
        keep_tail(&mut tail, &vec![b'y'; 2 * TAIL]);
        assert_eq!(tail, vec![b'y'; TAIL]);
    }

    #[test]
    fn terminal_escaping_keeps_newlines_and_tabs() {
        let got = escape_for_terminal(b"a\x1b[31mred\x1b[0m\tb\r\n\x9b2J\xc2\x9b\n");
        assert_eq!(got, "a\\x1b[31mred\\x1b[0m\tb\\r\n\\x9b2J\\u{9b}\n");
        assert!(!got.bytes().any(|b| b == 0x1b || b == b'\r'));
    }

    #[test]
    fn cut_characters_are_kept_for_the_next_read() {
        assert_eq!(incomplete_tail(b"abc"), 0);
        assert_eq!(incomplete_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_tail(&"😀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_tail(b"a\xff"), 0);
    }

    #[test]
    fn everything_written_arrives_in_order_and_settle_waits_for_it() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let log = tempfile::tempfile().unwrap();
        let relay = StderrRelay::start(r, Sink::File(log.try_clone().unwrap())).unwrap();
        let mut writer = File::from(w);
        let mut expected = Vec::new();
        for i in 0..20_000 {
            let line = format!("line {i} \x1b[1m\n");
            writer.write_all(line.as_bytes()).unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        relay.settle();
        let read = |mut f: &File| {
            use std::io::{Read, Seek};
            let mut all = Vec::new();
            f.rewind().unwrap();
            f.read_to_end(&mut all).unwrap();
            all
        };
        assert_eq!(read(&log), expected);
        writer.write_all(b"last, without newline").unwrap();
        drop(writer);
        relay.finish();
        expected.extend_from_slice(b"last, without newline");
        assert_eq!(read(&log), expected);
    }
}
