//! Reaching one destination from the host side: resolving a name (the
//! system resolver, or the DNS server configured for the forwarder),
//! checking every address, and connecting to a checked one.
//!
//! Jobs run on a pool of worker threads (started as needed, at most
//! [`MAX_WORKERS`], then kept), because the system resolver (`getaddrinfo`)
//! and `connect` block; the forwarder's poll loop learns of each result
//! through a channel and a wake-up socket. Threads are fine here: the
//! forwarder never forks, so none of the reasons cordon's launcher stays
//! single-threaded apply. A pool rather than a thread per job: starting a
//! thread costs more than the rest of a local connection's set-up.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::dns;
use super::report::Fix;
use super::rules::Rules;

/// Destinations being resolved and connected at once; more wait.
pub const MAX_WORKERS: usize = 64;
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the configured resolver has to answer one query (tried twice).
const DNS_TIMEOUT: Duration = Duration::from_secs(2);

/// What to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A name the allowlist names: resolved here, every address checked.
    Name(String),
    /// An address already checked against the allowlist.
    Addr(IpAddr),
}

/// Why a destination was not reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The filter said no (reported as a refusal), and what would allow
    /// it.
    Refused(String, Fix),
    /// The destination could not be reached (name unknown, connection
    /// refused, time-out).
    Failed(String),
}

/// A finished job.
#[derive(Debug)]
pub struct Outcome {
    pub conn: u64,
    pub result: Result<TcpStream, Failure>,
}

/// Where names are resolved, and the filter every address must pass.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub rules: Arc<Rules>,
    /// A DNS server to ask instead of the system resolver.
    pub server: Option<SocketAddr>,
}

/// One destination to reach for connection `conn`.
struct Job {
    conn: u64,
    target: Target,
    port: u16,
}

/// The workers and their queue.
pub struct Pool {
    resolver: Resolver,
    jobs: Sender<Job>,
    queue: Arc<Mutex<Receiver<Job>>>,
    done: Sender<Outcome>,
    /// Written one byte per outcome, so the poll loop looks.
    wake: UnixStream,
    idle: Arc<AtomicUsize>,
    workers: usize,
}

impl Pool {
    /// Outcomes go to `done`, with a byte to `wake` for each.
    pub fn new(resolver: Resolver, done: Sender<Outcome>, wake: UnixStream) -> Pool {
        let (jobs, queue) = channel();
        Pool {
            resolver,
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            done,
            wake,
            idle: Arc::new(AtomicUsize::new(0)),
            workers: 0,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.resolver.rules
    }

    /// Queues a job, starting a worker when none is idle.
    pub fn submit(&mut self, conn: u64, target: Target, port: u16) -> std::io::Result<()> {
        if self.idle.load(Ordering::Acquire) == 0 && self.workers < MAX_WORKERS {
            self.start_worker()?;
        }
        let job = Job { conn, target, port };
        self.jobs
            .send(job)
            .map_err(|_| std::io::Error::other("the workers are gone"))
    }

    fn start_worker(&mut self) -> std::io::Result<()> {
        let resolver = self.resolver.clone();
        let queue = Arc::clone(&self.queue);
        let idle = Arc::clone(&self.idle);
        let done = self.done.clone();
        let wake = self.wake.try_clone()?;
        std::thread::Builder::new()
            .name("egress-connect".into())
            .spawn(move || {
                loop {
                    idle.fetch_add(1, Ordering::AcqRel);
                    let job = queue
                        .lock()
                        .map_err(drop)
                        .and_then(|q| q.recv().map_err(drop));
                    idle.fetch_sub(1, Ordering::AcqRel);
                    let Ok(Job { conn, target, port }) = job else {
                        return;
                    };
                    let result = resolver.reach(&target, port);
                    if done.send(Outcome { conn, result }).is_err() {
                        return;
                    }
                    let _ = (&wake).write_all(&[1]);
                }
            })?;
        self.workers += 1;
        Ok(())
    }
}

impl Resolver {
    fn reach(&self, target: &Target, port: u16) -> Result<TcpStream, Failure> {
        let addrs = match target {
            Target::Addr(ip) => vec![*ip],
            Target::Name(name) => self.checked_addresses(name, port)?,
        };
        connect_first(&addrs, port)
    }

    /// Every address `name` resolves to that the filter allows; a refusal
    /// naming the first refused one when none is allowed.
    fn checked_addresses(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, Failure> {
        let all = self.lookup(name, port).map_err(Failure::Failed)?;
        let mut allowed = Vec::new();
        let mut refused = Vec::new();
        for ip in all {
            match self.rules.check_resolved(ip, port) {
                Ok(()) => allowed.push(ip),
                Err(reason) => refused.push((ip, format!("{ip} ({reason})"))),
            }
        }
        match (allowed.is_empty(), refused.first()) {
            (false, _) => Ok(allowed),
            // An entry naming the address reaches it, through the name too.
            (true, Some((ip, first))) => Err(Failure::Refused(
                format!(
                    "resolves only to refused addresses: {first}{}",
                    if refused.len() > 1 { ", …" } else { "" }
                ),
                Fix::Allow(SocketAddr::new(*ip, port).to_string()),
            )),
            (true, None) => Err(Failure::Failed("the name has no addresses".into())),
        }
    }

    fn lookup(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        match self.server {
            None => (name, port)
                .to_socket_addrs()
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .map_err(|e| format!("cannot resolve the name: {e}")),
            Some(server) => ask(server, name),
        }
    }
}

/// Asks `server` for A and AAAA records of `name`.
fn ask(server: SocketAddr, name: &str) -> Result<Vec<IpAddr>, String> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0u8; 4], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("resolver socket: {e}"))?;
    socket
        .connect(server)
        .and_then(|()| socket.set_read_timeout(Some(DNS_TIMEOUT)))
        .map_err(|e| format!("resolver {server}: {e}"))?;
    let mut found = Vec::new();
    for (n, qtype) in [dns::TYPE_A, dns::TYPE_AAAA].into_iter().enumerate() {
        // An id that differs per query and per process is enough here: the
        // socket is connected to the resolver, so only it can answer.
        let id = (std::process::id() as u16) ^ (n as u16 + 1).wrapping_mul(0x9e37);
        found.extend(exchange(&socket, id, name, qtype)?);
    }
    Ok(found)
}

fn exchange(socket: &UdpSocket, id: u16, name: &str, qtype: u16) -> Result<Vec<IpAddr>, String> {
    let query = dns::query(id, name, qtype);
    let mut buf = [0u8; 4096];
    let mut last = String::from("no answer");
    for _ in 0..2 {
        if let Err(e) = socket.send(&query) {
            last = e.to_string();
            continue;
        }
        match socket.recv(&mut buf) {
            Ok(n) => match dns::parse_reply(&buf[..n], id, qtype) {
                Err(e) if e == "no such name" => return Err("no such name".into()),
                other => return other,
            },
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("the resolver did not answer ({last})"))
}

/// Connects to the first address that accepts.
fn connect_first(addrs: &[IpAddr], port: u16) -> Result<TcpStream, Failure> {
    let mut last = String::from("no address to connect to");
    for &ip in addrs {
        match TcpStream::connect_timeout(&SocketAddr::new(ip, port), CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("{ip}: {e}"),
        }
    }
    Err(Failure::Failed(last))
}
