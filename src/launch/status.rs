//! The fixed-size records that cross from the sandbox's init process to
//! cordon over a close-on-exec pipe: setup failures as data (step, item,
//! errno), the server's start, and its wait status.
#![deny(clippy::indexing_slicing, clippy::panic)]

use nix::errno::Errno;

/// The step of the child sequence a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    ParentGone = 1,
    Setsid,
    Stdio,
    IdMaps,
    Mount,
    Hostname,
    Signals,
    Fork,
    Rlimit,
    Directory,
    Descriptors,
    Capabilities,
    NoNewPrivs,
    Landlock,
    Seccomp,
    Exec,
    Subreaper,
    Dumpable,
    Loopback,
    Cgroup,
    Egress,
    Network,
}

impl Step {
    const ALL: [Step; 22] = [
        Step::ParentGone,
        Step::Setsid,
        Step::Stdio,
        Step::IdMaps,
        Step::Mount,
        Step::Hostname,
        Step::Signals,
        Step::Fork,
        Step::Rlimit,
        Step::Directory,
        Step::Descriptors,
        Step::Capabilities,
        Step::NoNewPrivs,
        Step::Landlock,
        Step::Seccomp,
        Step::Exec,
        Step::Subreaper,
        Step::Dumpable,
        Step::Loopback,
        Step::Cgroup,
        Step::Egress,
        Step::Network,
    ];

    fn from_u32(v: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::ParentGone => "parent check",
            Step::Setsid => "new session",
            Step::Stdio => "standard streams",
            Step::IdMaps => "user namespace id maps",
            Step::Mount => "minimal root",
            Step::Hostname => "hostname",
            Step::Signals => "signal setup",
            Step::Fork => "fork",
            Step::Rlimit => "rlimit",
            Step::Directory => "working directory",
            Step::Descriptors => "closing descriptors",
            Step::Capabilities => "dropping capabilities",
            Step::NoNewPrivs => "no_new_privs",
            Step::Landlock => "landlock",
            Step::Seccomp => "seccomp",
            Step::Exec => "exec",
            Step::Subreaper => "child subreaper",
            Step::Dumpable => "non-dumpable init",
            Step::Loopback => "loopback interface",
            Step::Cgroup => "cgroups (process and memory limits)",
            Step::Egress => "network filter",
            Step::Network => "network namespace",
        }
    }
}

const FAILED: u32 = 1;
const STARTED: u32 = 2;
const EXITED: u32 = 3;

/// One record as it travels on the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Setup failed at `step` on item `index` (a mount op, an rlimit, …).
    Failed {
        step: Step,
        index: u32,
        errno: Errno,
    },
    /// The server was executed.
    Started,
    /// The server ended with this raw wait status.
    Exited { status: i32 },
}

pub const RECORD_SIZE: usize = 16;

impl Record {
    /// Allocation-free encoding for the child side.
    pub fn encode(self) -> [u8; RECORD_SIZE] {
        let (kind, step, index, value) = match self {
            Record::Failed { step, index, errno } => (FAILED, step as u32, index, errno as i32),
            Record::Started => (STARTED, 0, 0, 0),
            Record::Exited { status } => (EXITED, 0, 0, status),
        };
        let mut out = [0u8; RECORD_SIZE];
        out[0..4].copy_from_slice(&kind.to_ne_bytes());
        out[4..8].copy_from_slice(&step.to_ne_bytes());
        out[8..12].copy_from_slice(&index.to_ne_bytes());
        out[12..16].copy_from_slice(&value.to_ne_bytes());
        out
    }

    pub fn decode(buf: &[u8; RECORD_SIZE]) -> Option<Record> {
        let word = |i: usize| {
            buf.get(i..i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_ne_bytes)
        };
        let value = word(12) as i32;
        match word(0) {
            FAILED => Some(Record::Failed {
                step: Step::from_u32(word(4))?,
                index: word(8),
                errno: Errno::from_raw(value),
            }),
            STARTED => Some(Record::Started),
            EXITED => Some(Record::Exited { status: value }),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for r in [
            Record::Failed {
                step: Step::Mount,
                index: 7,
                errno: Errno::EPERM,
            },
            Record::Failed {
                step: Step::Subreaper,
                index: 0,
                errno: Errno::ENOENT,
            },
            Record::Started,
            Record::Exited { status: 0x0b },
        ] {
            assert_eq!(Record::decode(&r.encode()), Some(r));
        }
        assert_eq!(Record::decode(&[0xff; RECORD_SIZE]), None);
    }
}
