//! What cordon tells its forwarder, as one JSON message over the socket
//! the forwarder inherits (not argv, which any process can read in
//! `/proc/*/cmdline`): the allowlist, what each listener is for, and where
//! names are resolved.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The forwarder's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The allowlist, each entry in its canonical text (parsed again by
    /// the forwarder with the same parser the profile went through).
    pub allow: Vec<String>,
    /// What the listener with each index (as the sandbox's init sends
    /// them) is for.
    pub roles: Vec<Role>,
    /// A DNS server (UDP) to ask instead of the system's resolver
    /// (`getaddrinfo`); from `CORDON_EGRESS_RESOLVER`.
    pub resolver: Option<SocketAddr>,
    /// The audit log to append refusals to, when the profile enables it.
    pub audit: Option<PathBuf>,
    /// The profile's name, for audit records.
    pub profile: String,
}

/// One listener inside the sandbox's network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// TCP on every local address at this port: connections the server
    /// makes directly (it ignores proxy variables, or dials an address).
    Port(u16),
    /// UDP 127.0.0.53:53: the server's name lookups.
    Dns,
    /// TCP on 127.0.0.1: the HTTP proxy of the proxy variables.
    Proxy,
}
