//! `cordon doctor`: what this kernel lets cordon enforce, one line per
//! mechanism, from the same probe `run` uses.

use std::io::Write;

use crate::policy::{Policy, Requirement};
use crate::sandbox::Probe;
use crate::sandbox::landlock::PINNED_ABI;

/// One mechanism's line and whether `policy` can run with it.
struct Line {
    text: String,
    fatal: bool,
}

fn lines(probe: &Probe, policy: &Policy) -> Vec<Line> {
    let required = |r: Requirement| r == Requirement::Required;
    let pinned = PINNED_ABI as u32;
    let landlock = match &probe.landlock {
        Ok(v) => Line {
            text: format!(
                "landlock: ok, kernel ABI {v}; cordon enforces ABI {} ({})",
                (*v).min(pinned),
                landlock_rights((*v).min(pinned))
            ),
            fatal: false,
        },
        Err(e) => Line {
            text: format!("landlock: MISSING: {e}"),
            fatal: required(policy.mechanisms.landlock),
        },
    };
    let seccomp = match &probe.seccomp {
        Ok(()) => Line {
            text: "seccomp: ok, filters available".into(),
            fatal: false,
        },
        Err(e) => Line {
            text: format!("seccomp: MISSING: {e}"),
            fatal: required(policy.mechanisms.seccomp),
        },
    };
    let userns = match &probe.user_namespaces {
        Ok(()) => Line {
            text: "namespaces: ok, unprivileged user namespace with mount, pid, net, ipc, uts, cgroup and a fresh /proc".into(),
            fatal: false,
        },
        Err(e) => Line { text: format!("namespaces: MISSING: {e}"), fatal: required(policy.mechanisms.namespaces) },
    };
    let apparmor = Line {
        text: match probe.apparmor_userns_restricted {
            None => "apparmor userns restriction: not present on this kernel".into(),
            Some(false) => "apparmor userns restriction: present, off (kernel.apparmor_restrict_unprivileged_userns = 0)".into(),
            Some(true) => "apparmor userns restriction: ON (kernel.apparmor_restrict_unprivileged_userns = 1): cordon needs its AppArmor profile to create namespaces".into(),
        },
        fatal: false,
    };
    let memfd = Line {
        text: if crate::sandbox::seccomp::memfd_noexec_seal_supported() {
            "memfd: ok, memfds can be sealed against execution (MFD_NOEXEC_SEAL); cordon refuses the others unless a profile lists memfd_create in seccomp.allow".into()
        } else {
            "memfd: the kernel lacks MFD_NOEXEC_SEAL (Linux 6.3): memfd_create fails inside cordon unless a profile lists it in seccomp.allow".into()
        },
        fatal: false,
    };
    vec![landlock, seccomp, userns, apparmor, memfd]
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

/// Prints the report on stdout; returns whether everything `policy` (the
/// default profile) requires is present.
pub fn report(probe: &Probe, policy: &Policy) -> std::io::Result<bool> {
    let mut out = std::io::stdout().lock();
    let mut ok = true;
    for line in lines(probe, policy) {
        writeln!(out, "{}", line.text)?;
        ok &= !line.fatal;
    }
    if !ok {
        writeln!(
            out,
            "the default profile cannot run here: a mechanism it requires is missing"
        )?;
    }
    Ok(ok)
}
