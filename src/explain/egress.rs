//! The egress filter's refusals in the `--explain` stream: the forwarder
//! (a process of its own) writes each as a JSON line to a pipe
//! (`egress::Refused`), and a thread of cordon's turns them into
//! [`Refusal`]s with layer [`Layer::Egress`], the filter's reason, and the `allow` entry of
//! `[network]` that would reach the destination, or why none can.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use super::{Access, Explainer, Layer, Refusal, Suggestion};
use crate::egress::{Fix, Refused};

/// The longest line read from the forwarder; longer ones are skipped.
const MAX_LINE: usize = 4096;
/// How long the end of a run waits for the forwarder's last lines. It
/// ends as soon as the sandbox does, so this is only a guard against a
/// forwarder that hangs: `--explain` must not keep cordon from exiting.
const DRAIN: Duration = Duration::from_secs(5);

/// The thread reading the forwarder's refusals.
#[derive(Debug)]
pub struct Reader {
    done: Receiver<()>,
}

impl Reader {
    /// Returns once the forwarder's pipe is drained (it ended), or after
    /// [`DRAIN`].
    pub fn finish(self) {
        let _ = self.done.recv_timeout(DRAIN);
    }
}

/// Starts the reader on `pipe` (the read end; EOF when the forwarder
/// ends).
pub fn start(pipe: OwnedFd, explainer: Arc<Explainer>) -> std::io::Result<Reader> {
    let (tx, done) = channel();
    std::thread::Builder::new()
        .name("explain-egress".into())
        .spawn(move || {
            read(pipe, &explainer);
            let _ = tx.send(());
        })?;
    Ok(Reader { done })
}

fn read(pipe: OwnedFd, explainer: &Explainer) {
    let mut lines = BufReader::new(std::fs::File::from(pipe));
    let mut line = Vec::new();
    loop {
        line.clear();
        match std::io::Read::take(&mut lines, MAX_LINE as u64).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if let Ok(record) = serde_json::from_slice::<Refused>(&line) {
            explainer.report(refusal(record), None);
        }
    }
}

/// The record for one refusal of the egress filter.
pub fn refusal(record: Refused) -> Refusal {
    let suggestion = match record.fix {
        Fix::Allow(value) => Suggestion::Allow {
            table: "network".into(),
            key: "allow".into(),
            value,
        },
        Fix::Impossible(why) => Suggestion::Impossible { why },
    };
    Refusal {
        access: if record.lookup {
            Access::Resolve
        } else {
            Access::Connect
        },
        target: record.dest,
        layer: Layer::Egress,
        reason: Some(record.reason),
        suggestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_refusal_suggests_the_address_entry() {
        let r = refusal(Refused {
            lookup: false,
            dest: "127.0.0.1:8080".into(),
            reason: "loopback".into(),
            fix: Fix::Allow("127.0.0.1:8080".into()),
        });
        assert_eq!(
            r.line(),
            "refused: connect 127.0.0.1:8080 (egress filter: loopback): allow with allow = [\"127.0.0.1:8080\"] in [network]"
        );
    }
}
