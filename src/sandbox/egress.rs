//! Network mode `filtered`, prepared in the parent: what the sandbox's init
//! builds inside the new network namespace, and the forwarder's
//! configuration.
//!
//! Inside, the namespace has only `lo`, and two routes make every address
//! local (`local 0.0.0.0/0` and `local ::/0`, table local): a connection
//! to any address then lands on the sandbox's own listeners, and
//! `getsockname` on the accepted socket tells the forwarder which address
//! the server dialed. init creates, per allowed port, a TCP listener on
//! every IPv4 and IPv6 address; a UDP socket on 127.0.0.53:53 for names;
//! and the HTTP proxy's listener on 127.0.0.1. It hands them to cordon's
//! forwarder (outside, in the host's namespace) and keeps none. Nothing
//! else listens, and nothing routes out: a port without a listener is
//! refused by the kernel, UDP elsewhere and ICMP go nowhere.
//!
//! Names are resolved through generated resolver files (`netfiles`).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::RawFd;

use libc::c_int;
use nix::errno::Errno;

use super::mounts::Overrides;
use super::netfiles;
use super::{EnforcementReport, HostPaths, Layer, SandboxError};
use crate::egress::{Config, Role};
use crate::policy::{NetworkMode, Policy, PortRange, Ports};
use crate::sockets::{self, MAX_FDS, SockAddr};

/// The name server address inside the sandbox (as systemd-resolved's
/// stub, which programs know not to mistake for a real server).
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 53);
/// The proxy's port, unless the allowlist uses it.
const PROXY_PORT: u16 = 3128;
/// Where the forwarder resolves names instead of the system resolver.
pub const RESOLVER_ENV: &str = "CORDON_EGRESS_RESOLVER";

/// Everything init applies for mode `filtered`, and what the forwarder
/// is told.
#[derive(Debug)]
pub struct PreparedEgress {
    routes: Vec<Route>,
    listeners: Vec<Listener>,
    /// The forwarder's [`Config`], as JSON.
    pub config: Vec<u8>,
    /// The generated resolver files; removed when dropped.
    _files: tempfile::TempDir,
}

#[derive(Debug)]
struct Route {
    /// A complete rtnetlink RTM_NEWROUTE request.
    request: Vec<u8>,
    ipv6: bool,
}

#[derive(Debug)]
struct Listener {
    addr: SockAddr,
    kind: c_int,
    ipv6: bool,
    shown: String,
}

/// A kernel without IPv6 (or with it disabled) answers these; the IPv6
/// route and listeners are then left out.
fn ipv6_missing(e: Errno) -> bool {
    matches!(
        e,
        Errno::EAFNOSUPPORT | Errno::EOPNOTSUPP | Errno::EADDRNOTAVAIL | Errno::EPROTONOSUPPORT
    )
}

impl PreparedEgress {
    /// Child side (init, inside the namespaces, allocation-free): adds the
    /// routes, creates the listeners, sends them to the forwarder over
    /// `sock` with their indices as the message, and closes its copies.
    /// On failure, the index of the failing item (routes, then listeners,
    /// then the hand-over; see [`Self::describe`]).
    #[deny(clippy::indexing_slicing, clippy::panic)]
    pub fn apply(&self, sock: RawFd) -> Result<(), (usize, Errno)> {
        for (i, route) in self.routes.iter().enumerate() {
            match sockets::netlink_request(&route.request) {
                Err(e) if !(route.ipv6 && ipv6_missing(e)) => return Err((i, e)),
                _ => {}
            }
        }
        let mut fds = [-1 as RawFd; MAX_FDS];
        let mut indices = [0u8; MAX_FDS];
        let mut count = 0;
        let mut result = Ok(());
        for (i, l) in self.listeners.iter().enumerate() {
            match sockets::listen_on(&l.addr, l.kind) {
                Ok(fd) => match (fds.get_mut(count), indices.get_mut(count)) {
                    (Some(slot), Some(index)) => {
                        *slot = fd;
                        *index = i as u8;
                        count += 1;
                    }
                    // More listeners than one message carries (prepare
                    // never plans that many).
                    _ => {
                        crate::sys::close(fd);
                        result = Err((self.routes.len() + i, Errno::EMFILE));
                        break;
                    }
                },
                Err(e) if l.ipv6 && ipv6_missing(e) => {}
                Err(e) => {
                    result = Err((self.routes.len() + i, e));
                    break;
                }
            }
        }
        if result.is_ok() {
            let handover = self.routes.len() + self.listeners.len();
            let indices = indices.get(..count).unwrap_or_default();
            result = sockets::send_fds(sock, indices, fds.get(..count).unwrap_or_default())
                .map_err(|e| (handover, e));
        }
        for &fd in fds.get(..count).unwrap_or_default() {
            crate::sys::close(fd);
        }
        result
    }

    /// The item at `index` of [`Self::apply`], for an error message.
    pub fn describe(&self, index: usize) -> String {
        let listener = index.checked_sub(self.routes.len());
        match (
            self.routes.get(index),
            listener.and_then(|i| self.listeners.get(i)),
        ) {
            (Some(r), _) if r.ipv6 => "add the route making every IPv6 address local".into(),
            (Some(_), _) => "add the route making every IPv4 address local".into(),
            (None, Some(l)) => format!("listen on {}", l.shown),
            (None, None) => "hand the listeners to cordon's forwarder".into(),
        }
    }
}

/// Prepares mode `filtered`: the listeners, routes and forwarder
/// configuration, the generated resolver files and what the mount plan
/// must bind and hide. `host` gives the default audit log's place.
pub fn prepare(
    policy: &Policy,
    host: &HostPaths,
    report: &mut EnforcementReport,
) -> Result<(PreparedEgress, Overrides), SandboxError> {
    let resolver = resolver_from_env()?;
    let proxy = proxy_port(policy);
    let (listeners, roles) = listeners(policy, proxy);
    if listeners.len() > MAX_FDS {
        return Err(SandboxError::Egress(format!(
            "{} listeners are more than the {MAX_FDS} one message can pass",
            listeners.len()
        )));
    }
    let audit = policy.mcp.audit.as_ref().map(|a| {
        a.path.clone().unwrap_or_else(|| {
            host.state
                .join("audit")
                .join(format!("{}.jsonl", policy.name))
        })
    });
    let config = Config {
        allow: policy
            .network
            .allow
            .iter()
            .map(ToString::to_string)
            .collect(),
        roles,
        resolver,
        audit,
        profile: policy.name.clone(),
    };
    let config = serde_json::to_vec(&config).map_err(|e| SandboxError::Egress(e.to_string()))?;
    let (files, overrides) = netfiles::prepare(policy)?;
    report_filtered(policy, proxy, resolver, &overrides, report);
    let routes = vec![
        Route {
            request: local_route(libc::AF_INET as u8),
            ipv6: false,
        },
        Route {
            request: local_route(libc::AF_INET6 as u8),
            ipv6: true,
        },
    ];
    Ok((
        PreparedEgress {
            routes,
            listeners,
            config,
            _files: files,
        },
        overrides,
    ))
}

/// Per allowed port a TCP listener on every IPv4 and on every IPv6
/// address; the name server's UDP socket; the proxy's listener. With what
/// each is for, in the same order.
fn listeners(policy: &Policy, proxy: u16) -> (Vec<Listener>, Vec<Role>) {
    let ports: BTreeSet<u16> = policy.network.allow.iter().map(|d| d.port).collect();
    let mut listeners = Vec::new();
    let mut roles = Vec::new();
    for &port in &ports {
        for addr in [
            SocketAddr::from(([0u8; 4], port)),
            SocketAddr::from(([0u16; 8], port)),
        ] {
            listeners.push(listener(addr, libc::SOCK_STREAM, "tcp"));
            roles.push(Role::Port(port));
        }
    }
    let dns = SocketAddr::from((DNS_ADDR, 53));
    listeners.push(listener(dns, libc::SOCK_DGRAM, "udp"));
    roles.push(Role::Dns);
    let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, proxy));
    listeners.push(listener(proxy, libc::SOCK_STREAM, "tcp"));
    roles.push(Role::Proxy);
    (listeners, roles)
}

fn listener(addr: SocketAddr, kind: c_int, proto: &str) -> Listener {
    Listener {
        addr: SockAddr::new(addr),
        kind,
        ipv6: addr.is_ipv6(),
        shown: format!("{proto} {addr}"),
    }
}

fn resolver_from_env() -> Result<Option<SocketAddr>, SandboxError> {
    let Some(value) = std::env::var_os(RESOLVER_ENV) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    text.parse().map(Some).map_err(|_| {
        SandboxError::Egress(format!(
            "{RESOLVER_ENV}={text:?} is not an address and port such as 127.0.0.1:5353"
        ))
    })
}

fn report_filtered(
    policy: &Policy,
    proxy: u16,
    resolver: Option<SocketAddr>,
    overrides: &Overrides,
    report: &mut EnforcementReport,
) {
    report.enforced(Layer::Network, format!(
        "filtered: {} destinations, reached only through cordon's forwarder (HTTP proxy 127.0.0.1:{proxy}, names at {DNS_ADDR})",
        policy.network.allow.len()
    ));
    if let Some(resolver) = resolver {
        report.enforced(
            Layer::Network,
            format!(
                "filtered: names resolved by {resolver} ({RESOLVER_ENV}), not the system resolver"
            ),
        );
    }
    for dir in &overrides.hide {
        report.enforced(
            Layer::Network,
            format!(
                "filtered: {} hidden (its sockets resolve names outside the filter)",
                dir.display()
            ),
        );
    }
}

/// The port of the HTTP proxy inside the sandbox: 3128, or the next port
/// the allowlist does not use.
pub fn proxy_port(policy: &Policy) -> u16 {
    let used: BTreeSet<u16> = policy.network.allow.iter().map(|d| d.port).collect();
    (PROXY_PORT..=u16::MAX)
        .find(|p| !used.contains(p))
        .unwrap_or(PROXY_PORT - 1)
}

/// The TCP ports Landlock lets the server connect to: in mode `filtered`
/// the allowlist's ports, the proxy's, and those the profile lists for its
/// own loopback; otherwise the profile's `connect`.
pub fn connect_ports(policy: &Policy) -> Ports {
    if policy.network.mode != NetworkMode::Filtered {
        return policy.network.connect.clone();
    }
    let mut ports: BTreeSet<u16> = policy.network.allow.iter().map(|d| d.port).collect();
    ports.insert(proxy_port(policy));
    let mut ranges: Vec<PortRange> = ports
        .into_iter()
        .map(|p| PortRange { first: p, last: p })
        .collect();
    if let Ports::Only(extra) = &policy.network.connect {
        ranges.extend(extra.iter().copied());
    }
    ranges.sort();
    Ports::Only(ranges)
}

/// The proxy variables of mode `filtered`, in both spellings (curl reads
/// only the lower-case `http_proxy`); the sandbox's own loopback is not
/// proxied.
pub fn proxy_env(policy: &Policy) -> Vec<(String, String)> {
    if policy.network.mode != NetworkMode::Filtered {
        return Vec::new();
    }
    let url = format!("http://127.0.0.1:{}", proxy_port(policy));
    let mut vars = Vec::new();
    for name in ["http_proxy", "https_proxy", "all_proxy"] {
        vars.push((name.to_owned(), url.clone()));
        vars.push((name.to_ascii_uppercase(), url.clone()));
    }
    for name in ["no_proxy", "NO_PROXY"] {
        vars.push((name.to_owned(), "localhost,127.0.0.1,::1".to_owned()));
    }
    vars
}

/// RTM_NEWROUTE for `local <all>/0 dev lo table local`: every address of
/// `family` becomes local. `lo` is interface 1 in every network namespace.
fn local_route(family: u8) -> Vec<u8> {
    const RTM_NEWROUTE: u16 = 24;
    const FLAGS: u16 = 0x1 | 0x4 | 0x200 | 0x400; // REQUEST, ACK, EXCL, CREATE
    const RT_TABLE_LOCAL: u8 = 255;
    const RTPROT_STATIC: u8 = 4;
    const RT_SCOPE_HOST: u8 = 254;
    const RTN_LOCAL: u8 = 2;
    const RTA_OIF: u16 = 4;
    const LOOPBACK_IFINDEX: u32 = 1;
    let mut m = Vec::with_capacity(36);
    m.extend_from_slice(&36u32.to_ne_bytes()); // nlmsg_len: header, rtmsg, one attribute
    m.extend_from_slice(&RTM_NEWROUTE.to_ne_bytes());
    m.extend_from_slice(&FLAGS.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    // struct rtmsg: family, dst_len 0 (all addresses), src_len, tos, table,
    // protocol, scope, type, flags.
    m.extend_from_slice(&[
        family,
        0,
        0,
        0,
        RT_TABLE_LOCAL,
        RTPROT_STATIC,
        RT_SCOPE_HOST,
        RTN_LOCAL,
    ]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&8u16.to_ne_bytes()); // rta_len
    m.extend_from_slice(&RTA_OIF.to_ne_bytes());
    m.extend_from_slice(&LOOPBACK_IFINDEX.to_ne_bytes());
    m
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_route_request_is_one_complete_message() {
        let m = local_route(libc::AF_INET as u8);
        assert_eq!(m.len(), 36);
        assert_eq!(
            u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
    }
}
