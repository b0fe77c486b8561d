//! What to change for a system call the seccomp deny list refused.
//! Lifting the call in `[seccomp]` is the answer only when the call
//! itself is what the profile refuses; some are refused because of a
//! setting elsewhere, and lifting them would either not help or open
//! more than needed:
//!
//! - `socket`/`socketpair` of an internet family under network mode
//!   `none`: the sandbox has no network to use the socket on; the fix
//!   is `mode` in `[network]` (`filtered`, or `host` where cordon runs
//!   without namespaces, which `filtered` needs).
//! - `socket(AF_UNIX)` and System V / POSIX IPC without namespaces: they
//!   reach the host's sockets and IPC objects there; the fix is running
//!   with namespaces (`namespaces` of `[sandbox]`, no `--no-namespaces`).
//!
//! Everything else is the `allow` entry of `[seccomp]` naming the call.

use super::{Access, Layer, Refusal, Suggestion};
use crate::policy::NetworkMode;
use crate::sandbox::seccomp::no_namespaces_denied;

/// What the supervisor knows about the sandbox, for the advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub network: NetworkMode,
    pub namespaces: bool,
}

/// The refusal of call `name` with arguments `args` (as the kernel
/// passed them), refused by the deny list.
pub fn denied_call(name: &str, args: &[u64; 6], setting: Setting) -> Refusal {
    let lift = || Suggestion::Allow {
        table: "seccomp".into(),
        key: "allow".into(),
        value: name.to_owned(),
    };
    let namespaces = || Suggestion::Setting {
        table: "sandbox".into(),
        key: "namespaces".into(),
        value: "required".into(),
    };
    let (target, suggestion) = match name {
        "socket" | "socketpair" => {
            // The family is an int; the upper half is not the caller's.
            let family = args[0] as u32 as i32;
            let target = format!("{name} ({})", family_name(family));
            let inet = family == libc::AF_INET || family == libc::AF_INET6;
            let suggestion = if inet && setting.network == NetworkMode::None && plain(name, args) {
                // `filtered` (then each destination's entry, which the
                // next `--explain` run names) needs namespaces; without
                // them only the host's network is there to choose.
                Suggestion::Setting {
                    table: "network".into(),
                    key: "mode".into(),
                    value: if setting.namespaces {
                        "filtered"
                    } else {
                        "host"
                    }
                    .into(),
                }
            } else if family == libc::AF_UNIX && !setting.namespaces {
                namespaces()
            } else {
                lift()
            };
            (target, suggestion)
        }
        _ if !setting.namespaces && no_namespaces_denied().contains(&name) => {
            (name.to_owned(), namespaces())
        }
        _ => (name.to_owned(), lift()),
    };
    Refusal {
        access: Access::Syscall,
        target,
        layer: Layer::Seccomp,
        suggestion,
        reason: None,
    }
}

/// Not a raw or packet socket, nor MPTCP, which the deny list refuses in
/// every network mode (the fix for those is the call's `allow` entry).
fn plain(name: &str, args: &[u64; 6]) -> bool {
    const SOCK_TYPE_MASK: u64 = 0xf;
    const SOCK_PACKET: u64 = 10;
    if name != "socket" {
        return true;
    }
    let kind = args[1] & SOCK_TYPE_MASK;
    kind != libc::SOCK_RAW as u64
        && kind != SOCK_PACKET
        && args[2] as u32 != libc::IPPROTO_MPTCP as u32
}

fn family_name(family: i32) -> String {
    match family {
        libc::AF_UNIX => "AF_UNIX".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_NETLINK => "AF_NETLINK".into(),
        libc::AF_PACKET => "AF_PACKET".into(),
        libc::AF_VSOCK => "AF_VSOCK".into(),
        libc::AF_BLUETOOTH => "AF_BLUETOOTH".into(),
        libc::AF_ALG => "AF_ALG".into(),
        other => format!("family {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Setting = Setting {
        network: NetworkMode::None,
        namespaces: true,
    };

    #[test]
    fn an_internet_socket_under_mode_none_points_at_the_mode() {
        let tcp = [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
        assert_eq!(
            denied_call("socket", &tcp, NONE).line(),
            "refused: system call socket (AF_INET) (seccomp): allow with mode = \"filtered\" in [network]"
        );
        let raw = [libc::AF_INET as u64, libc::SOCK_RAW as u64, 0, 0, 0, 0];
        assert!(
            denied_call("socket", &raw, NONE)
                .line()
                .ends_with("allow = [\"socket\"] in [seccomp]")
        );
    }

    #[test]
    fn host_ipc_without_namespaces_points_at_namespaces() {
        let setting = Setting {
            network: NetworkMode::Host,
            namespaces: false,
        };
        let unix = [libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
        let line = denied_call("socket", &unix, setting).line();
        assert!(
            line.ends_with("namespaces = \"required\" in [sandbox]"),
            "{line}"
        );
        let line = denied_call("shmget", &[0; 6], setting).line();
        assert!(
            line.ends_with("namespaces = \"required\" in [sandbox]"),
            "{line}"
        );
        let line = denied_call("ptrace", &[0; 6], setting).line();
        assert!(
            line.ends_with("allow = [\"ptrace\"] in [seccomp]"),
            "{line}"
        );
    }
}
