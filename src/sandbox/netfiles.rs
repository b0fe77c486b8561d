//! The resolver files of network mode `filtered`: generated
//! `/etc/resolv.conf` (cordon's name server at 127.0.0.53), `/etc/hosts`
//! (localhost only) and `/etc/nsswitch.conf` (files, then DNS), written
//! into a private directory and bound over the host's by the mount plan;
//! and the host's resolver sockets (systemd-resolved, nscd, the system
//! bus), hidden when a grant would show them, since a lookup through them
//! would leave the filter.

use std::path::{Path, PathBuf};

use super::SandboxError;
use super::mounts::Overrides;
use crate::policy::Policy;

/// Host directories whose sockets resolve names outside the filter.
const RESOLVER_DIRS: [&str; 5] = [
    "/run/systemd/resolve",
    "/run/nscd",
    "/var/run/nscd",
    "/run/dbus",
    "/var/run/dbus",
];

const RESOLV_CONF: &str = "\
# Written by cordon (network mode \"filtered\"): names are answered by
# cordon, which knows only the profile's allowlist.
nameserver 127.0.0.53
options timeout:2 attempts:2
";
const HOSTS: &str = "\
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
127.0.1.1 cordon
";
const NSSWITCH: &str = "\
# Written by cordon (network mode \"filtered\"): files and cordon's name server only.
passwd: files
group: files
shadow: files
hosts: files dns
networks: files
protocols: files
services: files
ethers: files
rpc: files
netgroup: files
";

/// Writes the resolver files into a private directory and plans where
/// they are bound and which resolver directories are hidden.
pub fn prepare(policy: &Policy) -> Result<(tempfile::TempDir, Overrides), SandboxError> {
    let dir = tempfile::Builder::new()
        .prefix("cordon-net-")
        .tempdir()
        .map_err(SandboxError::TempDir)?;
    let mut overrides = Overrides::default();
    for dir_path in RESOLVER_DIRS {
        let Ok(real) = crate::realpath::canonical(Path::new(dir_path)) else {
            continue;
        };
        let visible = policy
            .fs
            .iter()
            .any(|g| g.exists && (real.starts_with(&g.path) || g.path.starts_with(&real)));
        if visible && real.is_dir() && !overrides.hide.contains(&real) {
            overrides.hide.push(real);
        }
    }
    for (name, text) in [
        ("resolv.conf", RESOLV_CONF),
        ("hosts", HOSTS),
        ("nsswitch.conf", NSSWITCH),
    ] {
        let source = dir.path().join(name);
        std::fs::write(&source, text).map_err(SandboxError::TempDir)?;
        if let Some(point) = mount_point(policy, &Path::new("/etc").join(name), &overrides.hide) {
            overrides.files.push((point, source));
        }
    }
    Ok((dir, overrides))
}

/// Where to bind a replacement for `path` so that the sandbox reads it
/// there: the sandbox shows the host's file at `path` when a grant covers
/// it, or recreates the host's symlink there; a symlink leads where the
/// host's leads, so the replacement goes on its target. None when the
/// file cannot be created (inside a read-only grant that lacks it).
fn mount_point(policy: &Policy, path: &Path, hidden: &[PathBuf]) -> Option<PathBuf> {
    let granted = |p: &Path| policy.fs.iter().any(|g| g.exists && p.starts_with(&g.path));
    let linked = policy.fs.iter().any(|g| g.link.as_deref() == Some(path));
    let point = match (
        path.is_symlink() && (granted(path) || linked),
        crate::realpath::canonical(path),
    ) {
        (true, Ok(real)) => real,
        _ => path.to_path_buf(),
    };
    let in_hidden = hidden.iter().any(|h| point.starts_with(h));
    (point.exists() || in_hidden || !granted(&point)).then_some(point)
}
