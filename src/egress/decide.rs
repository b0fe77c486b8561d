//! The forwarder's decisions on single connections: the destination a
//! connection was meant for (the address it dialed, or the proxy request's
//! host), what the filter says about it, and how a refusal is answered
//! (a reset for a transparent connection, an HTTP status through the
//! proxy).

use std::io::{ErrorKind, Read};
use std::net::{IpAddr, SocketAddr};

use super::conn::Pipe;
use super::forward::{Conn, Forwarder, State};
use super::proxy::{self, Request};
use super::report::Fix;
use super::resolve::Target;
use crate::destination::{canonical, normalize_name, synthetic_net};

/// A destination as the server named it, before the filter's decision.
#[derive(Debug, Clone)]
pub(super) enum Host {
    Name(String),
    Addr(IpAddr),
}

/// The allowlist entry that lets `host:port` through [`Forwarder::decide`],
/// or why none can.
fn fix(host: &Host, port: u16) -> Fix {
    match host {
        // A name entry never reaches loopback; an entry naming the
        // address does, and the sandbox's name server answers localhost
        // with that address.
        Host::Name(n) if n == "localhost" || n.ends_with(".localhost") => {
            Fix::Allow(format!("127.0.0.1:{port}"))
        }
        Host::Name(n) => Fix::Allow(format!("{n}:{port}")),
        Host::Addr(ip) if synthetic_net().contains(*ip) => Fix::Impossible(
            "an address of cordon's name server that it did not give out; connect by the name"
                .into(),
        ),
        // Refused ranges and the host's own addresses are reached only by
        // an entry naming the address (the explicit-naming rule).
        Host::Addr(ip) => Fix::Allow(SocketAddr::new(canonical(*ip), port).to_string()),
    }
}

impl Forwarder {
    /// Decides on a destination: queues the job that reaches it, or
    /// reports the refusal. Whether the connection stays open.
    pub(super) fn admit(
        &mut self,
        id: u64,
        conn: &mut Conn,
        host: Host,
        port: u16,
        to_upstream: Vec<u8>,
        to_client: &'static [u8],
    ) -> bool {
        let host = self.unmask(host);
        conn.dest = match &host {
            Host::Name(name) => format!("{name}:{port}"),
            Host::Addr(ip) => SocketAddr::new(*ip, port).to_string(),
        };
        match self.decide(&host, port) {
            Ok(target) => {
                conn.state = State::Waiting {
                    to_upstream,
                    to_client,
                };
                self.queue(id, target, port);
                true
            }
            Err(reason) => {
                self.report.refused(&conn.dest, &reason, fix(&host, port));
                self.refuse(conn, 403, "Forbidden", &reason)
            }
        }
    }

    /// A synthetic address stands for the name it was given out for.
    fn unmask(&self, host: Host) -> Host {
        match host {
            Host::Addr(ip) => match canonical(ip) {
                IpAddr::V4(v4) => match self.names.name_at(v4) {
                    Some(name) => Host::Name(name.to_owned()),
                    None => Host::Addr(IpAddr::V4(v4)),
                },
                v6 => Host::Addr(v6),
            },
            name => name,
        }
    }

    fn decide(&self, host: &Host, port: u16) -> Result<Target, String> {
        let rules = self.pool.rules();
        match host {
            Host::Name(n) if n == "localhost" || n.ends_with(".localhost") => {
                Err("loopback".into())
            }
            Host::Name(n) if rules.name_allowed(n, port) => Ok(Target::Name(n.clone())),
            Host::Name(n) if rules.knows_name(n) => {
                Err(format!("not in the allowlist on port {port}"))
            }
            Host::Name(_) => Err("not in the allowlist".into()),
            Host::Addr(ip) if synthetic_net().contains(*ip) => {
                Err("not an address cordon's name server gave out".into())
            }
            Host::Addr(ip) => rules.check_dialed(*ip, port).map(|()| Target::Addr(*ip)),
        }
    }

    /// Ends a refused or failed connection: a proxy client gets `code`, a
    /// transparent one is closed. Whether the connection stays open.
    pub(super) fn refuse(
        &mut self,
        conn: &mut Conn,
        code: u16,
        status: &str,
        reason: &str,
    ) -> bool {
        if !conn.proxy {
            crate::sockets::reset_on_close(&conn.client);
            return false;
        }
        let body = format!(
            "cordon: egress {}: {}: {reason}\n",
            if code == 403 { "refused" } else { "failed" },
            conn.dest
        );
        conn.state = State::Closing(Pipe::closing(&proxy::response(code, status, &body)));
        true
    }

    /// Proxy: reads the request head and, once complete, admits it.
    pub(super) fn read_head(&mut self, id: u64, conn: &mut Conn) -> bool {
        let State::Head(buf) = &mut conn.state else {
            return true;
        };
        let mut chunk = [0u8; 4096];
        while proxy::head_end(buf).is_none() && buf.len() <= proxy::MAX_HEAD {
            match conn.client.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        let Some(end) = proxy::head_end(buf) else {
            let body = "cordon: the request head is too long\n";
            conn.state = State::Closing(Pipe::closing(&proxy::response(
                431,
                "Request Header Fields Too Large",
                body,
            )));
            return true;
        };
        let rest = buf[end..].to_vec();
        let parsed = proxy::parse(&buf[..end]).and_then(|request| match request {
            Request::Connect { host, port } => {
                Ok((parse_host(&host)?, port, rest, proxy::ESTABLISHED))
            }
            Request::Forward {
                host,
                port,
                mut head,
            } => {
                head.extend_from_slice(&rest);
                Ok((parse_host(&host)?, port, head, &b""[..]))
            }
        });
        match parsed {
            Ok((host, port, to_upstream, to_client)) => {
                self.admit(id, conn, host, port, to_upstream, to_client)
            }
            Err(reason) => {
                let body = format!("cordon: {reason}\n");
                conn.state =
                    State::Closing(Pipe::closing(&proxy::response(400, "Bad Request", &body)));
                true
            }
        }
    }
}

/// A host as a client gave it to the proxy: an address, or a host name.
fn parse_host(text: &str) -> Result<Host, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Host::Addr(ip));
    }
    normalize_name(text)
        .map(Host::Name)
        .ok_or_else(|| format!("{:?} is not a host name", text))
}
