//! The forwarder's poll loop: accepts the server's connections on the
//! listeners inside the sandbox, answers its name lookups, decides, has
//! allowed destinations reached from the host side (`resolve`), and
//! relays bytes (`conn`). It ends when the sandbox does: init's end of
//! the configuration socket hangs up.

use std::collections::HashMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{Receiver, channel};

use super::conn::{Pipe, Relay};
use super::decide::Host;
use super::report::Reporter;
use super::resolve::{Failure, Outcome, Pool, Resolver, Target};
use super::{answer, dns};
use crate::sys;

/// Connections open at once; more are closed on arrival.
const MAX_CONNS: usize = 1024;

/// The listeners init passed out of the sandbox.
#[derive(Debug, Default)]
pub struct Listeners {
    /// Transparent listeners: the port each serves.
    pub ports: Vec<(TcpListener, u16)>,
    pub dns: Option<UdpSocket>,
    pub proxy: Option<TcpListener>,
}

pub(super) struct Conn {
    pub(super) client: TcpStream,
    /// The destination as reported (`name:port` or `address:port`).
    pub(super) dest: String,
    /// Came through the proxy: refusals are answered with an HTTP status.
    pub(super) proxy: bool,
    pub(super) state: State,
}

pub(super) enum State {
    /// Proxy: reading the request head.
    Head(Vec<u8>),
    /// Resolving and connecting; then these go first each way.
    Waiting {
        to_upstream: Vec<u8>,
        to_client: &'static [u8],
    },
    Relay(Relay),
    /// Sending a last response (an HTTP error), then closing.
    Closing(Pipe),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Sandbox,
    Wake,
    Dns,
    Proxy,
    Port(usize),
    Conn(u64),
}

pub struct Forwarder {
    pub(super) names: dns::Names,
    pub(super) listeners: Listeners,
    pub(super) sandbox: OwnedFd,
    pub(super) pool: Pool,
    pub(super) wake_r: UnixStream,
    pub(super) done: Receiver<Outcome>,
    pub(super) conns: HashMap<u64, Conn>,
    pub(super) next_id: u64,
    pub(super) report: Reporter,
}

impl Forwarder {
    pub fn new(
        resolver: Resolver,
        listeners: Listeners,
        sandbox: OwnedFd,
        report: Reporter,
    ) -> std::io::Result<Forwarder> {
        let (wake_r, wake_w) = UnixStream::pair()?;
        wake_r.set_nonblocking(true)?;
        let (done_tx, done) = channel();
        Ok(Forwarder {
            names: dns::Names::default(),
            listeners,
            sandbox,
            pool: Pool::new(resolver, done_tx, wake_w),
            wake_r,
            done,
            conns: HashMap::new(),
            next_id: 0,
            report,
        })
    }

    /// Runs until the sandbox has ended.
    pub fn run(mut self) -> std::io::Result<()> {
        loop {
            let (mut pfds, tokens) = self.poll_set();
            sys::poll(&mut pfds, -1)?;
            let mut ready: Vec<Token> = pfds
                .iter()
                .zip(tokens)
                .filter(|(p, _)| p.revents != 0)
                .map(|(_, t)| t)
                .collect();
            ready.sort();
            ready.dedup();
            for token in ready {
                match token {
                    Token::Sandbox => return Ok(()),
                    Token::Wake => self.finish_jobs(),
                    Token::Dns => self.answer_dns(),
                    Token::Proxy => self.accept(None),
                    Token::Port(i) => self.accept(Some(i)),
                    Token::Conn(id) => self.service(id),
                }
            }
        }
    }

    fn poll_set(&self) -> (Vec<libc::pollfd>, Vec<Token>) {
        let mut pfds = Vec::new();
        let mut tokens = Vec::new();
        let mut add = |fd: RawFd, events: i16, token: Token| {
            if events != 0 {
                pfds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                tokens.push(token);
            }
        };
        add(self.sandbox.as_raw_fd(), libc::POLLIN, Token::Sandbox);
        add(self.wake_r.as_raw_fd(), libc::POLLIN, Token::Wake);
        if let Some(dns) = &self.listeners.dns {
            add(dns.as_raw_fd(), libc::POLLIN, Token::Dns);
        }
        if let Some(proxy) = &self.listeners.proxy {
            add(proxy.as_raw_fd(), libc::POLLIN, Token::Proxy);
        }
        for (i, (l, _)) in self.listeners.ports.iter().enumerate() {
            add(l.as_raw_fd(), libc::POLLIN, Token::Port(i));
        }
        let flag = |on: bool, bit: i16| if on { bit } else { 0 };
        for (&id, conn) in &self.conns {
            let client = conn.client.as_raw_fd();
            match &conn.state {
                State::Head(_) => add(client, libc::POLLIN, Token::Conn(id)),
                State::Waiting { .. } => {}
                State::Closing(_) => add(client, libc::POLLOUT, Token::Conn(id)),
                State::Relay(r) => {
                    let c = flag(r.up.has_room(), libc::POLLIN)
                        | flag(r.down.has_data(), libc::POLLOUT);
                    let u = flag(r.down.has_room(), libc::POLLIN)
                        | flag(r.up.has_data(), libc::POLLOUT);
                    add(client, c, Token::Conn(id));
                    add(r.upstream.as_raw_fd(), u, Token::Conn(id));
                }
            }
        }
        (pfds, tokens)
    }

    /// Accepts on a transparent listener (`Some(index)`) or the proxy's.
    fn accept(&mut self, port_listener: Option<usize>) {
        loop {
            let listener = match port_listener {
                Some(i) => self.listeners.ports.get(i).map(|(l, _)| l),
                None => self.listeners.proxy.as_ref(),
            };
            let Some(Ok((client, _))) = listener.map(TcpListener::accept) else {
                return;
            };
            if self.conns.len() >= MAX_CONNS || client.set_nonblocking(true).is_err() {
                self.report
                    .failed("a new connection", "too many open connections");
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let mut conn = Conn {
                client,
                dest: String::new(),
                proxy: port_listener.is_none(),
                state: State::Head(Vec::new()),
            };
            // The address the server dialed is the accepted socket's own.
            let dialed = conn.client.local_addr();
            let keep = match (port_listener, dialed) {
                (None, _) => true,
                (Some(_), Ok(local)) => {
                    let host = Host::Addr(local.ip());
                    self.admit(id, &mut conn, host, local.port(), Vec::new(), b"")
                }
                (Some(_), Err(_)) => false,
            };
            if keep {
                self.conns.insert(id, conn);
            }
        }
    }

    pub(super) fn queue(&mut self, conn: u64, target: Target, port: u16) {
        if let Err(e) = self.pool.submit(conn, target, port) {
            let result = Err(Failure::Failed(format!("cannot start a worker: {e}")));
            self.connected(Outcome { conn, result });
        }
    }

    fn finish_jobs(&mut self) {
        let mut sink = [0u8; 256];
        while matches!((&self.wake_r).read(&mut sink), Ok(n) if n > 0) {}
        while let Ok(outcome) = self.done.try_recv() {
            self.connected(outcome);
        }
    }

    fn connected(&mut self, outcome: Outcome) {
        let id = outcome.conn;
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        let State::Waiting {
            to_upstream,
            to_client,
        } = std::mem::replace(&mut conn.state, State::Head(Vec::new()))
        else {
            return;
        };
        let keep = match outcome.result {
            Ok(stream) => match Relay::new(stream, &to_upstream, to_client) {
                Ok(relay) => {
                    conn.state = State::Relay(relay);
                    true
                }
                Err(_) => false,
            },
            Err(Failure::Refused(reason, fix)) => {
                self.report.refused(&conn.dest, &reason, fix);
                self.refuse(&mut conn, 403, "Forbidden", &reason)
            }
            Err(Failure::Failed(reason)) => {
                self.report.failed(&conn.dest, &reason);
                self.refuse(&mut conn, 502, "Bad Gateway", &reason)
            }
        };
        if keep {
            self.conns.insert(id, conn);
            self.service(id);
        }
    }

    /// Moves one connection along after poll reported it.
    fn service(&mut self, id: u64) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        let keep = match &mut conn.state {
            State::Head(_) => self.read_head(id, &mut conn),
            State::Waiting { .. } => true,
            State::Relay(relay) => matches!(relay.pump(&mut conn.client), Ok(false)),
            State::Closing(pipe) => pipe.flush(&mut conn.client).is_ok_and(|done| !done),
        };
        if keep {
            self.conns.insert(id, conn);
        }
    }

    fn answer_dns(&mut self) {
        let mut buf = [0u8; 1500];
        loop {
            let Some(socket) = &self.listeners.dns else {
                return;
            };
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let rules = self.pool.rules();
            if let Some(reply) = answer::reply(rules, &mut self.names, &mut self.report, &buf[..n])
            {
                let _ = socket.send_to(&reply, from);
            }
        }
    }
}
