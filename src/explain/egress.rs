//! The egress filter's refusals as records: the forwarder (a process of
//! its own) writes one line per refusal to a pipe when cordon asks for
//! them (`--explain`, `profile learn`), and cordon turns each into a
//! [`Refusal`] of layer `egress filter`.

use std::str::FromStr as _;

use super::{Access, Layer, Refusal, Suggestion};
use crate::destination::{Destination, HostPattern};

/// The forwarder's refusal of `dest` (`host:port`, or a name it would
/// not resolve) for `reason`.
pub fn refusal(dest: &str, reason: &str) -> Refusal {
    let (access, suggestion) = match Destination::from_str(dest) {
        // A name whose every address is refused: listing the name
        // changes nothing; an entry naming the address does.
        Ok(d) if !matches!(d.host, HostPattern::Net(_)) && reason.contains("refused addresses") => {
            (
                Access::Connect,
                Suggestion::Impossible {
                    why: format!("{reason}; only an entry naming the address allows it"),
                },
            )
        }
        Ok(d) => (
            Access::Connect,
            Suggestion::Allow {
                table: "network".into(),
                key: "allow".into(),
                value: d.to_string(),
            },
        ),
        Err(_) => (
            Access::Resolve,
            Suggestion::Impossible {
                why: format!(
                    "{reason}; allow \"{dest}:PORT\" in [network] allow with the port it connects to"
                ),
            },
        ),
    };
    Refusal {
        access,
        target: dest.to_owned(),
        layer: Layer::Egress,
        suggestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_names_and_refused_addresses() {
        let r = refusal("127.0.0.1:8080", "loopback");
        assert_eq!(r.access, Access::Connect);
        assert_eq!(
            r.line(),
            "refused: connect 127.0.0.1:8080 (egress filter): allow with allow = [\"127.0.0.1:8080\"] in [network]"
        );
        let r = refusal(
            "loop.test:80",
            "resolves only to refused addresses: 127.0.0.1 (loopback)",
        );
        assert!(
            matches!(r.suggestion, Suggestion::Impossible { .. }),
            "{r:?}"
        );
        let r = refusal("nope.test", "not in the allowlist");
        assert_eq!(r.access, Access::Resolve);
    }
}
