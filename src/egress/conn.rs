//! One relayed connection: the server's side (accepted inside the
//! sandbox's network namespace) and the destination's (connected from the
//! host), with a bounded buffer each way and TCP half-close passed on.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};

/// Bytes buffered per direction: when full, cordon stops reading that
/// side until the other has taken some.
const BUFFER: usize = 128 * 1024;

/// One direction's bytes in flight.
#[derive(Debug)]
pub struct Pipe {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The source has ended (EOF).
    pub eof: bool,
    /// The end was passed on (write side shut down).
    pub shut: bool,
}

impl Pipe {
    /// An empty pipe, or one that starts with `first` queued.
    pub fn new(first: &[u8]) -> Pipe {
        let mut buf = vec![0; BUFFER.max(first.len())];
        buf[..first.len()].copy_from_slice(first);
        Pipe {
            buf,
            start: 0,
            end: first.len(),
            eof: false,
            shut: false,
        }
    }

    /// A pipe holding `bytes` and then the end: what a connection about
    /// to close still sends.
    pub fn closing(bytes: &[u8]) -> Pipe {
        let mut pipe = Pipe::new(bytes);
        pipe.eof = true;
        pipe
    }

    /// Sends what is left to `to`; `Ok(true)` once everything is sent.
    pub fn flush(&mut self, to: &mut TcpStream) -> io::Result<bool> {
        self.drain(to)?;
        Ok(!self.has_data())
    }

    pub fn has_room(&self) -> bool {
        !self.eof && (self.end < self.buf.len() || self.start > 0)
    }

    pub fn has_data(&self) -> bool {
        self.start < self.end
    }

    /// Reads what `from` has, until it would block or the buffer is full.
    fn fill(&mut self, from: &mut impl Read) -> io::Result<()> {
        while self.has_room() {
            if self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match from.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes what is buffered to `to`, until it would block; passes the
    /// end on once everything is written.
    fn drain(&mut self, to: &mut TcpStream) -> io::Result<()> {
        while self.has_data() {
            match to.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.start += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.start = 0;
        self.end = 0;
        if self.eof && !self.shut {
            self.shut = true;
            // The peer may already be gone; the other direction says so.
            let _ = to.shutdown(Shutdown::Write);
        }
        Ok(())
    }
}

/// Both directions of a connected pair.
#[derive(Debug)]
pub struct Relay {
    pub upstream: TcpStream,
    /// Server → destination.
    pub up: Pipe,
    /// Destination → server.
    pub down: Pipe,
}

impl Relay {
    /// `to_upstream` and `to_client` are sent first (a rewritten request
    /// head; the proxy's `200`).
    pub fn new(upstream: TcpStream, to_upstream: &[u8], to_client: &[u8]) -> io::Result<Relay> {
        upstream.set_nonblocking(true)?;
        let _ = upstream.set_nodelay(true);
        Ok(Relay {
            upstream,
            up: Pipe::new(to_upstream),
            down: Pipe::new(to_client),
        })
    }

    /// Moves whatever can move without blocking. `Ok(true)` once both
    /// directions have ended; an error ends the connection.
    pub fn pump(&mut self, client: &mut TcpStream) -> io::Result<bool> {
        self.up.fill(client)?;
        self.up.drain(&mut self.upstream)?;
        self.down.fill(&mut self.upstream)?;
        self.down.drain(client)?;
        Ok(self.up.shut && self.down.shut)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[test]
    fn bytes_and_half_closes_pass_both_ways() {
        let (mut server, mut client) = pair();
        let (upstream, mut destination) = pair();
        client.set_nonblocking(true).unwrap();
        let mut relay = Relay::new(upstream, b"head:", b"ok:").unwrap();
        server.write_all(b"ping").unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        destination.write_all(b"pong").unwrap();
        destination.shutdown(Shutdown::Write).unwrap();
        let mut done = false;
        for _ in 0..200 {
            done = relay.pump(&mut client).unwrap();
            if done {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(done);
        let mut got = String::new();
        destination.read_to_string(&mut got).unwrap();
        assert_eq!(got, "head:ping");
        got.clear();
        server.read_to_string(&mut got).unwrap();
        assert_eq!(got, "ok:pong");
    }
}
