//! The network and system call rules of `profile learn`: a refused
//! destination becomes an `allow` entry of mode `filtered` (or a port of
//! `connect` in mode `host`), a refused system call an entry of
//! `[seccomp] allow` when lifting it is narrow.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use super::choose::{Plan, comment};
use super::edit::{Change, Item};
use crate::destination::Destination;
use crate::explain::{Refusal, Suggestion};
use crate::policy::{NetworkMode, Policy, Ports, Requirement};

/// System calls a learned profile lifts: those the deny list refuses
/// whatever their arguments, and those whose lifting the schema documents
/// as narrow (`memfd_create`: executable memfds; the `setxattr` family).
/// Lifting a call refused for some arguments only (`socket`, `clone`,
/// `ioctl`, `personality`) would lift every rule on it.
pub(super) fn liftable(name: &str) -> Result<(), String> {
    use crate::sandbox::seccomp::{default_denied, no_namespaces_denied};
    const NARROW: &[&str] = &[
        "memfd_create",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "setxattrat",
    ];
    if default_denied().contains(&name)
        || no_namespaces_denied().contains(&name)
        || NARROW.contains(&name)
    {
        return Ok(());
    }
    Err(match name {
        "socket" => "a socket family the network mode does not allow; for the network, set [network] mode (mode \"filtered\" with one entry, and a learn run shows the destinations)".to_owned(),
        _ => format!(
            "{name} is refused for some arguments only; lifting it would lift every rule on it, so it is never learned"
        ),
    })
}

/// The network and system call grants, collected before they become
/// changes so that each list is extended once.
#[derive(Debug, Default)]
pub(super) struct Net {
    /// `allow` entries of mode `filtered`, canonical, with their asks.
    allow: BTreeMap<String, Vec<String>>,
    /// Ports for `connect` (mode `host`) and `bind`.
    connect: BTreeMap<u16, Vec<String>>,
    bind: BTreeMap<u16, Vec<String>>,
    pub(super) syscalls: BTreeMap<String, Vec<String>>,
}

/// The port of `host:port`, or of a bare port number.
fn port_of(target: &str) -> Option<u16> {
    target
        .rsplit_once(':')
        .map_or(target, |(_, port)| port)
        .parse()
        .ok()
}

impl Net {
    pub(super) fn connect(
        &mut self,
        refusal: &Refusal,
        asked: String,
        base: &Policy,
    ) -> Result<(), String> {
        if base.network.mode == NetworkMode::Host {
            let Ports::Only(_) = base.network.connect else {
                return Err("mode \"host\" already allows every port".to_owned());
            };
            let port = port_of(&refusal.target).ok_or("no port known")?;
            self.connect.entry(port).or_default().push(asked);
            return Ok(());
        }
        if base.mechanisms.namespaces == Requirement::Off {
            return Err(
                "destinations are allowed in network mode \"filtered\", which needs namespaces"
                    .to_owned(),
            );
        }
        let entry = match &refusal.suggestion {
            Suggestion::Allow { value, .. } => value.as_str(),
            _ => refusal.target.as_str(),
        };
        let dest = Destination::from_str(entry)?;
        self.allow.entry(dest.to_string()).or_default().push(asked);
        Ok(())
    }

    pub(super) fn bind(
        &mut self,
        refusal: &Refusal,
        asked: String,
        base: &Policy,
    ) -> Result<(), String> {
        let Ports::Only(_) = base.network.bind else {
            return Err("the profile limits no port to bind; the mode refuses it".to_owned());
        };
        if base.network.mode == NetworkMode::None {
            return Err("network mode \"none\" has no network to listen on".to_owned());
        }
        let port = port_of(&refusal.target).ok_or("no port known")?;
        self.bind.entry(port).or_default().push(asked);
        Ok(())
    }

    pub(super) fn changes(self, base: &Policy, plan: &mut Plan) {
        let list = |entries: BTreeMap<String, Vec<String>>| -> Vec<Item> {
            entries
                .into_iter()
                .map(|(value, asked)| Item {
                    value,
                    comment: comment(&asked),
                })
                .collect()
        };
        let quoted = |m: BTreeMap<String, Vec<String>>| {
            m.into_iter()
                .map(|(k, v)| (crate::profile::init::quote(&k), v))
                .collect::<BTreeMap<_, _>>()
        };
        let ports = |m: BTreeMap<u16, Vec<String>>| {
            m.into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>()
        };
        if !self.allow.is_empty() && base.network.mode != NetworkMode::Filtered {
            plan.changes.push(Change::Set {
                table: "network".into(),
                key: "mode".into(),
                value: "\"filtered\"".into(),
                comment: format!(
                    "Learned: was \"{}\"; the destinations the server asked for are\nreached through cordon's filter, nothing else.",
                    base.network.mode
                ),
            });
        }
        let lists = [
            ("network", "allow", list(quoted(self.allow))),
            ("network", "connect", list(ports(self.connect))),
            ("network", "bind", list(ports(self.bind))),
            ("seccomp", "allow", list(quoted(self.syscalls))),
        ];
        for (table, key, items) in lists {
            if items.is_empty() {
                continue;
            }
            plan.grants += items.len();
            plan.changes.push(Change::Extend {
                table: table.into(),
                key: key.into(),
                items,
            });
        }
    }
}
