//! `network.allow`: the destinations of mode `"filtered"`, each checked
//! where it is written. The entry syntax itself is `destination`'s; this
//! adds what depends on the rest of the table: the mode, the limits that
//! keep the sandbox's listeners bounded, and cordon's own address range.

use std::collections::BTreeSet;

use toml::Spanned;

use super::ProfileError;
use super::error::Doc;
use super::schema::RawNetwork;
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
) -> Result<Vec<Destination>, ProfileError> {
    let key = "network.allow";
    match (mode, &raw.allow) {
        (NetworkMode::Filtered, Some(list)) if !list.get_ref().is_empty() => {}
        (NetworkMode::Filtered, Some(list)) => {
            return Err(doc.at_value(list, key, needs_entries()));
        }
        (NetworkMode::Filtered, None) => {
            // The mode is only "filtered" when written so: it has a span.
            let span = raw.mode.as_ref().map_or(0..0, Spanned::span);
            return Err(doc.at(span, "network.mode", needs_entries()));
        }
        (_, None) => return Ok(Vec::new()),
        (other, Some(list)) => {
            let message = format!(
                "an allowlist is only used with mode = \"filtered\" (the mode is \"{other}\"); set the mode or remove the list"
            );
            return Err(doc.at_value(list, key, message));
        }
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
            return Err(at(format!("more than {MAX_ENTRIES} entries")));
        }
        let dest: Destination = entry.get_ref().parse().map_err(at)?;
        if let HostPattern::Net(net) = &dest.host {
            check_not_synthetic(net).map_err(at)?;
        }
        ports.insert(dest.port);
        if ports.len() > MAX_PORTS {
            return Err(at(format!(
                "more than {MAX_PORTS} different ports (each is a listener inside the sandbox)"
            )));
        }
        if !out.contains(&dest) {
            out.push(dest);
        }
    }
    Ok(out)
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
