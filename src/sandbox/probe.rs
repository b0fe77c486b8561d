//! Kernel feature detection, by trying: a throwaway child attempts the
//! operation, and the outcome is reported verbatim. Shared by `prepare`
//! and `cordon doctor`. Never compares kernel version strings.

use std::fs;

use nix::errno::Errno;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::landlock::PINNED_ABI;
use crate::sys;

/// What the running kernel lets an unprivileged process do. Each field is
/// `Ok` or the reason it is missing.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The kernel's Landlock ABI version, or why Landlock is unusable.
    pub landlock: Result<u32, String>,
    pub seccomp: Result<(), String>,
    /// A user namespace together with mount, pid, ipc, uts, cgroup and net
    /// namespaces, and a fresh /proc inside them.
    pub user_namespaces: Result<(), String>,
    /// Ubuntu's AppArmor restriction on unprivileged user namespaces, when
    /// the sysctl exists: Some(true) when it restricts.
    pub apparmor_userns_restricted: Option<bool>,
}

impl Probe {
    pub fn run() -> Probe {
        Probe {
            landlock: probe_landlock(),
            seccomp: probe_seccomp(),
            user_namespaces: probe_user_namespaces(),
            apparmor_userns_restricted: read_sysctl(
                "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            )
            .map(|v| v != "0"),
        }
    }
}

fn read_sysctl(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn probe_landlock() -> Result<u32, String> {
    match sys::landlock_abi_version() {
        Ok(v) if v >= 1 => Ok(v),
        Ok(v) => Err(format!("kernel reports ABI {v}")),
        Err(Errno::EOPNOTSUPP) => Err("Landlock is built in but disabled at boot (add `landlock` to the lsm= kernel parameter)".into()),
        Err(Errno::ENOSYS) => Err("the kernel is built without Landlock (CONFIG_SECURITY_LANDLOCK)".into()),
        Err(e) => Err(format!("landlock_create_ruleset failed: {e}")),
    }
}

fn probe_seccomp() -> Result<(), String> {
    // PR_GET_SECCOMP answers 0 when the process is not filtered and the
    // kernel has seccomp; EINVAL means no CONFIG_SECCOMP.
    match sys::prctl(libc::PR_GET_SECCOMP, 0) {
        Ok(_) => Ok(()),
        Err(Errno::EINVAL) => Err("the kernel is built without CONFIG_SECCOMP".into()),
        Err(e) => Err(format!("prctl(PR_GET_SECCOMP) failed: {e}")),
    }
}

/// Tries, in a throwaway child, what `launch` will do: clone into the
/// namespaces, write the id maps and mount a fresh /proc.
fn probe_user_namespaces() -> Result<(), String> {
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWNET;
    let maps = super::mounts::IdMaps::for_current_user();
    let pid = match sys::clone_fork(flags) {
        Ok(0) => sys::exit_now(probe_child(&maps)),
        Ok(pid) => pid,
        Err(Errno::EPERM) => return Err(userns_denied_reason()),
        Err(e) => return Err(format!("clone with new namespaces failed: {e}")),
    };
    match waitpid(Pid::from_raw(pid), None) {
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        Ok(WaitStatus::Exited(_, 1)) => Err("cannot write the user namespace id maps".into()),
        Ok(WaitStatus::Exited(_, 2)) => Err("cannot make the mount tree private in a new mount namespace".into()),
        Ok(WaitStatus::Exited(_, 3)) => Err("cannot mount a fresh /proc in a new pid namespace (is /proc partly masked, as in some containers?)".into()),
        other => Err(format!("probe child ended unexpectedly: {other:?}")),
    }
}

fn userns_denied_reason() -> String {
    if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        "denied by AppArmor (kernel.apparmor_restrict_unprivileged_userns = 1)".into()
    } else if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        "disabled by kernel.unprivileged_userns_clone = 0".into()
    } else if read_sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        "disabled by user.max_user_namespaces = 0".into()
    } else {
        "clone(CLONE_NEWUSER) was refused (EPERM), e.g. by a container's seccomp policy".into()
    }
}

/// Runs in the probe child: allocation-free, like the real child.
fn probe_child(maps: &super::mounts::IdMaps) -> i32 {
    if maps.apply().is_err() {
        return 1;
    }
    if sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).is_err() {
        return 2;
    }
    // Mount the fresh /proc over the old one: the probe's namespace is
    // thrown away with it.
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if sys::mount(Some(c"proc"), c"/proc", Some(c"proc"), flags, None).is_err() {
        return 3;
    }
    0
}

/// The pinned ABI, for reports.
pub fn pinned_abi() -> u32 {
    PINNED_ABI as u32
}
