//! The MCP-aware relay between the host and the server, driven by the
//! session's poll loop: two framed [`Lane`]s and the [`Filter`] that
//! decides on each message.
//!
//! Messages pass byte-exact: the filter inspects a line, and the lane then
//! queues the very bytes it read (or the line cordon generated instead).
//! A reply cordon sends back to a message's sender (a refused request's
//! error) is queued on the other lane; its sender's lane stops reading
//! while such replies pile up, so they too stay bounded.
//!
//! Notes for stderr (lines not forwarded, refusals) are written as they
//! arise, each with the `cordon: ` prefix.

pub mod framing;
mod outbox;
pub mod splice;

use std::io::Write;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;

pub use framing::{Event, Lane};

use crate::mcp::{Filter, Side};

/// The size cordon asks for the pipes it reads and writes: each pipe
/// buffer that fills costs a wake-up, a read and a write.
pub const PIPE_SIZE: usize = 1024 * 1024;

/// Replies to a sender may take this many bytes before cordon stops
/// reading from that sender.
const MAX_INJECTED: usize = 1 << 20;

/// Both directions and their policy.
#[derive(Debug)]
pub struct Relay {
    pub to_server: Lane,
    pub to_host: Lane,
    filter: Filter,
}

impl Relay {
    pub fn new(filter: Filter) -> Relay {
        let limit = filter.max_message_size();
        Relay {
            to_server: Lane::new(limit),
            to_host: Lane::new(limit),
            filter,
        }
    }

    /// Poll the host's stdin.
    pub fn wants_host_input(&self) -> bool {
        self.to_server.wants_read() && self.to_host.injected() < MAX_INJECTED
    }

    /// Poll the server's stdout.
    pub fn wants_server_output(&self) -> bool {
        self.to_host.wants_read() && self.to_server.injected() < MAX_INJECTED
    }

    /// Reads from the host and decides on every complete line.
    pub fn read_host(&mut self, src: BorrowedFd<'_>) -> Result<(), Errno> {
        let read = self.to_server.fill(src);
        process(
            &mut self.to_server,
            &mut self.to_host,
            &mut self.filter,
            Side::Host,
        );
        read
    }

    /// Reads from the server and decides on every complete line.
    pub fn read_server(&mut self, src: BorrowedFd<'_>) -> Result<(), Errno> {
        let read = self.to_host.fill(src);
        process(
            &mut self.to_host,
            &mut self.to_server,
            &mut self.filter,
            Side::Server,
        );
        read
    }
}

/// Splits what `lane` has read into lines and carries out the filter's
/// decision on each.
fn process(lane: &mut Lane, other: &mut Lane, filter: &mut Filter, from: Side) {
    loop {
        let decision = match lane.next_event() {
            None => break,
            Some(Event::Line(line)) => filter.on_line(from, line),
            Some(Event::Overlong(line)) => filter.on_overlong(from, &line),
        };
        lane.apply(decision.verdict);
        if let Some(reply) = decision.reply {
            other.inject(reply);
        }
    }
    write_notes(&mut filter.notes);
}

/// Writes the filter's notes to stderr, one write each.
fn write_notes(notes: &mut Vec<String>) {
    if notes.is_empty() {
        return;
    }
    let mut err = std::io::stderr().lock();
    for note in notes.drain(..) {
        let _ = err.write_all(format!("cordon: {note}\n").as_bytes());
    }
}
