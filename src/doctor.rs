//! `cordon doctor`: what this kernel lets cordon enforce, one line per
//! mechanism (or `--json`), from the same probe `run` uses.

use std::io::Write;

use crate::policy::{Policy, Requirement};
use crate::sandbox::landlock::PINNED_ABI;
use crate::sandbox::{Layer, LayerStatus, Probe, State};

/// One mechanism's status, and whether `policy` needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mechanism {
    #[serde(flatten)]
    pub status: LayerStatus,
    /// Missing, and required by the profile: the profile cannot run here.
    pub fatal: bool,
}

/// What this kernel lets cordon enforce, per layer, and the facts beside
/// them (AppArmor's restriction of user namespaces, memfd sealing).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub ok: bool,
    pub layers: Vec<Mechanism>,
    pub notes: Vec<String>,
    /// The mechanism `run --explain` uses here, or why it reports
    /// refusals by layer only.
    pub explain: String,
}

pub fn status(probe: &Probe, policy: &Policy) -> Status {
    let pinned = PINNED_ABI as u32;
    let mechanism = |layer: Layer, found: Result<String, String>, req: Requirement| {
        let (state, fatal) = match found {
            Ok(detail) => (State::Enforced { detail }, false),
            Err(reason) if req == Requirement::Off => (State::Off { reason }, false),
            Err(reason) => (State::Degraded { reason }, req == Requirement::Required),
        };
        Mechanism {
            status: LayerStatus { layer, state },
            fatal,
        }
    };
    let m = &policy.mechanisms;
    let landlock = probe.landlock.as_ref().map(|v| {
        format!(
            "kernel ABI {v}; cordon enforces ABI {} ({})",
            (*v).min(pinned),
            landlock_rights((*v).min(pinned))
        )
    });
    let seccomp = probe
        .seccomp
        .as_ref()
        .map(|()| "filters available".to_owned());
    let userns = probe.user_namespaces.as_ref().map(|()| {
        "unprivileged user namespace with mount, pid, net, ipc, uts, cgroup and a fresh /proc"
            .to_owned()
    });
    let layers = vec![
        mechanism(
            Layer::Landlock,
            landlock.map_err(|e| e.to_string()),
            m.landlock,
        ),
        mechanism(
            Layer::Seccomp,
            seccomp.map_err(|e| e.to_string()),
            m.seccomp,
        ),
        mechanism(
            Layer::Namespaces,
            userns.map_err(|e| e.to_string()),
            m.namespaces,
        ),
    ];
    let apparmor = match probe.apparmor_userns_restricted {
        None => "apparmor userns restriction: not present on this kernel".into(),
        Some(false) => "apparmor userns restriction: present, off (kernel.apparmor_restrict_unprivileged_userns = 0)".into(),
        Some(true) => "apparmor userns restriction: ON (kernel.apparmor_restrict_unprivileged_userns = 1): cordon needs its AppArmor profile to create namespaces".into(),
    };
    let memfd = if crate::sandbox::seccomp::memfd_noexec_seal_supported() {
        "memfd: ok, memfds can be sealed against execution (MFD_NOEXEC_SEAL); cordon refuses the others unless a profile lists memfd_create in seccomp.allow".into()
    } else {
        "memfd: the kernel lacks MFD_NOEXEC_SEAL (Linux 6.3): memfd_create fails inside cordon unless a profile lists it in seccomp.allow".into()
    };
    Status {
        ok: !layers.iter().any(|l| l.fatal),
        layers,
        notes: vec![apparmor, memfd],
        explain: match crate::explain::mechanism() {
            Ok(how) => format!("explain: ok, {how}"),
            Err(why) => format!("explain: LIMITED: {why}"),
        },
    }
}

/// One line per layer: `landlock: ok, …` or `landlock: MISSING: …`.
fn line(m: &Mechanism) -> String {
    let layer = m.status.layer;
    match &m.status.state {
        State::Enforced { detail } => format!("{layer}: ok, {detail}"),
        State::Degraded { reason } | State::Off { reason } => {
            format!("{layer}: MISSING: {reason}")
        }
    }
}

fn landlock_rights(abi: u32) -> String {
    let mut parts = vec!["filesystem"];
    if abi >= 2 {
        parts.push("refer");
    }
    if abi >= 3 {
        parts.push("truncate");
    }
    if abi >= 4 {
        parts.push("TCP bind/connect");
    }
    if abi >= 5 {
        parts.push("device ioctl");
    }
    if abi >= 6 {
        parts.push("abstract unix socket and signal scoping");
    }
    parts.join(", ")
}

/// Prints the status on stdout, as lines or as JSON; returns whether
/// everything `policy` (the default profile) requires is present.
pub fn report(probe: &Probe, policy: &Policy, json: bool) -> std::io::Result<bool> {
    let status = status(probe, policy);
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &status)?;
        writeln!(out)?;
        return Ok(status.ok);
    }
    for m in &status.layers {
        writeln!(out, "{}", line(m))?;
    }
    for note in &status.notes {
        writeln!(out, "{note}")?;
    }
    writeln!(out, "{}", status.explain)?;
    if !status.ok {
        writeln!(
            out,
            "the default profile cannot run here: a mechanism it requires is missing"
        )?;
    }
    Ok(status.ok)
}
