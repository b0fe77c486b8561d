//! Refusals that follow from a setting rather than a missing grant
//! ([`Suggestion::Setting`]), and calls the deny list let through under
//! action `log` ([`Layer::SeccompLog`]).
//!
//! A setting is learned only when it narrows what the server may do or
//! changes nothing it may reach:
//!
//! - `namespaces = "required"` in `[sandbox]` (a Unix socket or System V
//!   IPC refused without namespaces, where they would reach the host's):
//!   learned. Private namespaces give the server its own, so nothing of
//!   the host's is opened; a machine without user namespaces then refuses
//!   to start the server, loudly, rather than widening.
//! - `mode = "filtered"` in `[network]` is learned with the destinations
//!   it needs (see `net`); alone it is not a valid profile (the mode
//!   needs at least one entry), so an internet socket refused under mode
//!   `none` is a note naming the change.
//! - `mode = "host"` (without namespaces there is no filter) is the
//!   host's whole network: never learned, a note.
//! - Anything else the advice names is a note with its TOML line.
//!
//! Under action `log` nothing was refused: the call ran. A profile
//! learned from such a run grants nothing for it, and says which entry
//! the default action `errno` would need (or why none lifts it).

use std::collections::BTreeMap;

use super::choose::Plan;
use super::edit::Change;
use crate::explain::{Refusal, Suggestion};

/// The settings to learn, by table and key, with their value and asks.
#[derive(Debug, Default)]
pub(super) struct Settings {
    set: BTreeMap<(String, String), (String, Vec<String>)>,
}

impl Settings {
    /// Records the setting `refusal` suggests, or says why it is not
    /// learned.
    pub(super) fn ask(&mut self, refusal: &Refusal, asked: String) -> Result<(), String> {
        let Suggestion::Setting { table, key, value } = &refusal.suggestion else {
            return Err("no setting suggested".to_owned());
        };
        let line = refusal.suggestion.toml().unwrap_or_default();
        match (table.as_str(), key.as_str(), value.as_str()) {
            ("sandbox", "namespaces", "required") => {
                self.set
                    .entry((table.clone(), key.clone()))
                    .or_insert_with(|| (format!("\"{value}\""), Vec::new()))
                    .1
                    .push(asked);
                Ok(())
            }
            ("network", "mode", "filtered") => Err(format!(
                "the network is off: {line} with an entry for each destination the server needs (a learn run then names the ones it is refused)"
            )),
            ("network", "mode", "host") => Err(format!(
                "the host's whole network is never learned; without namespaces there is no filter: {line}, and connect = [PORT, …] to limit the ports (Landlock limits TCP ports, not addresses)"
            )),
            _ => Err(format!("a setting, not learned: {line}")),
        }
    }

    pub(super) fn changes(self, plan: &mut Plan) {
        for ((table, key), (value, asked)) in self.set {
            plan.grants += 1;
            plan.changes.push(Change::Set {
                table,
                key,
                value,
                comment: format!("Learned: {}", super::choose::comment(&asked)),
            });
        }
    }
}

/// The note for a call the deny list let through under action `log`.
pub(super) fn logged(refusal: &Refusal) -> String {
    let name = &refusal.target;
    let errno = match &refusal.suggestion {
        Suggestion::Allow { table, key, value } if table == "seccomp" && key == "allow" => {
            match super::net::liftable(value) {
                Ok(()) => {
                    format!("with action \"errno\" it needs allow = [\"{value}\"] in [seccomp]")
                }
                Err(why) => format!("with action \"errno\" it is refused: {why}"),
            }
        }
        other => match other.toml() {
            Some(line) => format!("with action \"errno\" it is refused; {line} allows it"),
            None => "with action \"errno\" it is refused".to_owned(),
        },
    };
    format!("allowed this time by action \"log\", so nothing is granted for {name}; {errno}")
}
