//! `network.allow`: the destinations of mode `"filtered"`, each checked
//! where it is written. The entry syntax itself is `destination`'s; this
//! adds what depends on the rest of the table: the mode, the limits that
//! keep the sandbox's listeners bounded, and cordon's own address range.

use std::collections::BTreeSet;

use toml::Spanned;

use super::error::Doc;
use super::schema::RawNetwork;
use super::validate::Found;
use crate::destination::IpNet;
use crate::policy::{Destination, HostPattern, NetworkMode};

/// Entries a profile may list.
pub const MAX_ENTRIES: usize = 256;
/// Different ports: each is a listener (two with IPv6) inside the sandbox.
pub const MAX_PORTS: usize = 64;

/// The validated allowlist: empty unless the mode is `"filtered"`, where
/// it must name at least one destination.
pub(super) fn allowlist(
    raw: &RawNetwork,
    mode: NetworkMode,
    doc: &Doc<'_>,
    found: &mut Found,
) -> Vec<Destination> {
    let key = "network.allow";
    let refused = match (mode, &raw.allow) {
        (NetworkMode::Filtered, Some(list)) if !list.get_ref().is_empty() => None,
        (NetworkMode::Filtered, Some(list)) => Some(doc.at_value(list, key, needs_entries())),
        (NetworkMode::Filtered, None) => {
            // The mode is only "filtered" when written so: it has a span.
            let span = raw.mode.as_ref().map_or(0..0, Spanned::span);
            Some(doc.at(span, "network.mode", needs_entries()))
        }
        (_, None) => return Vec::new(),
        (other, Some(list)) => {
            let message = format!(
                "an allowlist is only used with mode = \"filtered\" (the mode is \"{other}\"); set the mode or remove the list"
            );
            Some(doc.at_value(list, key, message))
        }
    };
    if let Some(e) = refused {
        found.push(e);
        return Vec::new();
    }
    let list = raw
        .allow
        .as_ref()
        .map(Spanned::get_ref)
        .into_iter()
        .flatten();
    let mut out: Vec<Destination> = Vec::new();
    let mut ports = BTreeSet::new();
    for (i, entry) in list.enumerate() {
        let at = |message: String| doc.at_value(entry, format!("{key}[{i}]"), message);
        if i == MAX_ENTRIES {
            found.push(at(format!("more than {MAX_ENTRIES} entries")));
            break;
        }
        let dest: Destination = match entry.get_ref().parse() {
            Ok(dest) => dest,
            Err(m) => {
                found.push(at(m));
                continue;
            }
        };
        if let HostPattern::Net(net) = &dest.host {
            if let Err(m) = check_not_synthetic(net) {
                found.push(at(m));
                continue;
            }
        }
        ports.insert(dest.port);
        if ports.len() > MAX_PORTS {
            found.push(at(format!(
                "more than {MAX_PORTS} different ports (each is a listener inside the sandbox)"
            )));
            break;
        }
        if !out.contains(&dest) {
            out.push(dest);
        }
    }
    out
}

fn needs_entries() -> String {
    "mode \"filtered\" needs at least one network.allow entry, e.g. allow = [\"api.github.com:443\"]"
        .to_owned()
}

/// Addresses inside 198.18.0.0/15 are the names cordon answers inside the
/// sandbox; an entry there could not be told apart from them.
fn check_not_synthetic(net: &IpNet) -> Result<(), String> {
    let pool = crate::destination::synthetic_net();
    if net.prefix() >= pool.prefix() && pool.contains(net.addr()) {
        return Err(format!(
            "{net} lies in {pool}, where cordon places the host names it answers inside the sandbox; it cannot be allowed by address"
        ));
    }
    Ok(())
}
