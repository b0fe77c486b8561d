//! The test network, all on this machine: two test hosts, each in a
//! network namespace of its own joined to the host's by a veth pair
//! (10.213.K.0/30 and 10.213.K.4/30), each serving HTTP on 8080 and
//! listening for UDP on 9090; an HTTP server on the host's loopback; and
//! the DNS responder cordon's forwarder is pointed at
//! (`CORDON_EGRESS_RESOLVER`), so no name is ever sent to the machine's
//! own resolver. Every server records who reached it.
//!
//! Creating namespaces and veth pairs needs root; cordon itself then runs
//! as root or as nobody, and its forwarder reaches the test hosts from the
//! host's network namespace over the veth pairs.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a server saw: the peers that connected (TCP) or sent (UDP), or
/// the names asked (DNS).
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// One test host in its own network namespace.
pub struct TestHost {
    pub netns: String,
    veth: String,
    /// The host's address on the test side of the pair.
    pub addr: Ipv4Addr,
    /// The address of the host's (root namespace's) end of the pair.
    pub gateway: Ipv4Addr,
    /// The host's IPv6 address (fd42:213:K:BASE::2), when IPv6 works here.
    pub addr6: Option<Ipv6Addr>,
    pub http: Log,
    pub udp: Log,
}

pub const HTTP_PORT: u16 = 8080;
pub const UDP_PORT: u16 = 9090;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl TestHost {
    /// Creates namespace `cordon-eg-K-LABEL` with `eth0` at 10.213.K.(base+2)
    /// and the host's end `cgeKLABEL` at 10.213.K.(base+1), and starts its
    /// servers.
    pub fn create(k: u8, label: &str, base: u8) -> Result<TestHost, String> {
        let netns = format!("cordon-eg-{k}-{label}");
        let veth = format!("cge{k}{label}");
        // Left over from a run that was killed: remove first.
        let _ = ip(&["netns", "del", &netns]);
        let _ = ip(&["link", "del", &veth]);
        let gateway = Ipv4Addr::new(10, 213, k, base + 1);
        let addr = Ipv4Addr::new(10, 213, k, base + 2);
        ip(&["netns", "add", &netns])?;
        let mut host = TestHost {
            netns: netns.clone(),
            veth: veth.clone(),
            addr,
            gateway,
            addr6: None,
            http: Log::default(),
            udp: Log::default(),
        };
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns,
        ])?;
        ip(&["addr", "add", &format!("{gateway}/30"), "dev", &veth])?;
        ip(&["link", "set", &veth, "up"])?;
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{addr}/30"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &netns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        host.addr6 = add_ipv6(&netns, &veth, k, base);
        let (tcp, udp) = in_netns(&netns, || {
            // Both families where IPv6 works (a dual-stack socket).
            let tcp = TcpListener::bind(("::", HTTP_PORT))
                .or_else(|_| TcpListener::bind(("0.0.0.0", HTTP_PORT)))?;
            let udp = UdpSocket::bind(("0.0.0.0", UDP_PORT))?;
            Ok((tcp, udp))
        })?;
        serve_http(tcp, format!("hello from {label}"), host.http.clone());
        serve_udp(udp, host.udp.clone());
        Ok(host)
    }
}

impl TestHost {
    /// Adds `cidr` to the host's (root namespace's) end of the pair: an
    /// address of the host itself, gone with the pair.
    pub fn add_host_address(&self, cidr: &str) -> Result<(), String> {
        if cidr.contains(':') {
            ip(&["-6", "addr", "add", cidr, "dev", &self.veth, "nodad"])
        } else {
            ip(&["addr", "add", cidr, "dev", &self.veth])
        }
    }
}

/// IPv6 on both ends of the pair, without duplicate address detection
/// (which would hold the addresses back for a while); None where IPv6 is
/// unavailable.
fn add_ipv6(netns: &str, veth: &str, k: u8, base: u8) -> Option<Ipv6Addr> {
    let prefix = format!("fd42:213:{k}:{base}");
    let host = format!("{prefix}::1/64");
    let test = format!("{prefix}::2/64");
    ip(&["-6", "addr", "add", &host, "dev", veth, "nodad"]).ok()?;
    ip(&[
        "-n", netns, "-6", "addr", "add", &test, "dev", "eth0", "nodad",
    ])
    .ok()?;
    format!("{prefix}::2").parse().ok()
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it
        // the host's end.
        let _ = ip(&["netns", "del", &self.netns]);
        let _ = ip(&["link", "del", &self.veth]);
    }
}

/// Runs `f` on a thread that has entered network namespace `netns`:
/// sockets it creates belong to that namespace for their whole life.
fn in_netns<T: Send + 'static>(
    netns: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, String> {
    let path = format!("/run/netns/{netns}");
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("setns {path}: {e}"))?;
        f().map_err(|e| format!("in {path}: {e}"))
    })
    .join()
    .map_err(|_| "the namespace thread panicked".to_owned())?
}

/// Answers every request with `body`, logging each peer's address.
pub fn serve_http(listener: TcpListener, body: String, log: Log) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let peer = stream
                .peer_addr()
                .map_or("?".into(), |a| a.ip().to_canonical().to_string());
            log.push(peer);
            let body = body.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            });
        }
    });
}

fn serve_udp(socket: UdpSocket, log: Log) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((_, from)) = socket.recv_from(&mut buf) {
            log.push(from.ip().to_canonical().to_string());
        }
    });
}

/// An HTTP server on an address of the host itself (`own`, and `own6` on
/// the same port): what `*:PORT` must not reach.
pub fn own_server(own: Ipv4Addr, own6: Option<Ipv6Addr>) -> Result<(u16, Log), String> {
    let listener = TcpListener::bind((own, 0)).map_err(|e| format!("bind {own}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let log = Log::default();
    serve_http(listener, "hello from the host itself".into(), log.clone());
    if let Some(v6) = own6 {
        let listener =
            TcpListener::bind((v6, port)).map_err(|e| format!("bind [{v6}]:{port}: {e}"))?;
        serve_http(listener, "hello from the host itself".into(), log.clone());
    }
    Ok((port, log))
}

/// An HTTP server on the host's loopback (what a server must never reach
/// unless its profile names it by address).
pub fn loopback_server() -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Log::default();
    serve_http(
        listener,
        "hello from the host's loopback".into(),
        log.clone(),
    );
    (port, log)
}

/// The DNS responder: A or AAAA records from `table`, NXDOMAIN for every
/// other name, nothing for other types. Logs every name asked.
pub fn dns_server(table: HashMap<String, IpAddr>) -> (SocketAddr, Log) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let log = Log::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Some((name, reply)) = dns_reply(&buf[..n], &table) {
                seen.push(name);
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    (addr, log)
}

fn dns_reply(q: &[u8], table: &HashMap<String, IpAddr>) -> Option<(String, Vec<u8>)> {
    let mut at = 12;
    let mut labels = Vec::new();
    while *q.get(at)? != 0 {
        let len = usize::from(q[at]);
        labels.push(String::from_utf8_lossy(q.get(at + 1..at + 1 + len)?).to_lowercase());
        at += 1 + len;
    }
    let end = at + 5;
    let qtype = u16::from_be_bytes([*q.get(at + 1)?, *q.get(at + 2)?]);
    let name = labels.join(".");
    let found = table.get(&name);
    let answers: Vec<IpAddr> = found
        .filter(|a| (qtype == 1 && a.is_ipv4()) || (qtype == 28 && a.is_ipv6()))
        .into_iter()
        .copied()
        .collect();
    let rcode: u16 = if found.is_some() { 0 } else { 3 };
    let mut r = Vec::new();
    r.extend_from_slice(&q[0..2]);
    r.extend_from_slice(&(0x8180 | rcode).to_be_bytes());
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..end)?);
    for a in answers {
        let (rtype, data) = match a {
            IpAddr::V4(v4) => (1u8, v4.octets().to_vec()),
            IpAddr::V6(v6) => (28u8, v6.octets().to_vec()),
        };
        r.extend_from_slice(&[0xc0, 0x0c, 0, rtype, 0, 1, 0, 0, 0, 30, 0, data.len() as u8]);
        r.extend_from_slice(&data);
    }
    Some((name, r))
}
