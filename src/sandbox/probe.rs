//! Kernel feature detection, by trying: a throwaway child attempts the
//! operation, and the outcome is reported verbatim. Shared by `prepare`
//! and `cordon doctor`. Never compares kernel version strings.
//!
//! The namespace probe costs a process with six new namespaces, about as
//! much as the sandbox itself. A launch ([`Probe::for_launch`]) skips it
//! when namespaces are off, and otherwise takes a success from
//! [`CACHE`] in cordon's state directory when the entry was written in
//! this boot, for this user, in the same user, mount and pid namespaces,
//! under the same namespace sysctls, by this cordon version. Why that is
//! safe:
//! - only a success is kept: a failure is probed anew each time, so a
//!   stale entry can never make cordon give up namespaces it could have;
//! - a wrong success fails closed: the launch does exactly what the probe
//!   tries (the clone, the id maps, the private mount tree, a fresh
//!   /proc), so it stops at that step, the server never runs, the entry
//!   is dropped ([`ProbeCache::forget`]) and the error says so;
//! - the state directory is hidden or read-only in every sandbox, and a
//!   grant that would expose it writable is refused, so no server can
//!   plant an entry; and one that could (a profile that lifts the
//!   protection) gains nothing: an entry says only "this worked", and
//!   where it did not, the launch stops as above.

use std::fs;
use std::path::{Path, PathBuf};

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
    /// Set when `user_namespaces` was taken from the cache rather than
    /// probed: a launch that then fails at a namespace step drops it.
    pub cache: Option<ProbeCache>,
}

/// The name of the namespace probe's cache in cordon's state directory.
pub const CACHE: &str = "namespace-probe";

/// Ubuntu's switch restricting unprivileged user namespaces.
const APPARMOR: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

/// Namespace sysctls whose change may change the probe's outcome: each is
/// part of the cache key (a missing one as such).
const SYSCTLS: [&str; 7] = [
    APPARMOR,
    "/proc/sys/kernel/unprivileged_userns_clone",
    "/proc/sys/user/max_user_namespaces",
    "/proc/sys/user/max_mnt_namespaces",
    "/proc/sys/user/max_pid_namespaces",
    "/proc/sys/user/max_net_namespaces",
    "/proc/sys/user/max_ipc_namespaces",
];

/// Where a cached probe result came from, to drop it when it proves wrong.
#[derive(Debug, Clone)]
pub struct ProbeCache {
    state: PathBuf,
}

impl ProbeCache {
    /// Removes the entry: the next launch probes again. Best effort (a
    /// read-only state directory keeps it, and every launch then fails at
    /// the same step with the same message).
    pub fn forget(&self) {
        if let Ok(dir) = crate::files::Dir::own(&self.state, &[]) {
            let _ = dir.remove(std::ffi::OsStr::new(CACHE));
        }
    }
}

impl Probe {
    /// Probes everything, the namespaces by a throwaway child (`cordon
    /// doctor`).
    pub fn run() -> Probe {
        Probe::with_namespaces(probe_user_namespaces(), None, read_apparmor())
    }

    /// What a launch needs: the namespace probe only when the launch may
    /// use namespaces, and then from the cache in `state` when it holds a
    /// success for this boot, user and namespaces (see the module docs).
    pub fn for_launch(state: &Path, namespaces: bool) -> Probe {
        if !namespaces {
            let off = Err("not probed: namespaces are off for this launch".to_owned());
            return Probe::with_namespaces(off, None, read_apparmor());
        }
        // Read once: the key and the report's AppArmor field both need
        // them, and each /proc/sys read is a lookup through the sysctl
        // tables.
        let sysctls = SYSCTLS.map(read_sysctl);
        let apparmor = sysctls[0].clone();
        let Some(key) = cache_key(&sysctls) else {
            return Probe::with_namespaces(probe_user_namespaces(), None, apparmor);
        };
        let dir = crate::files::Dir::own(state, &[]).ok();
        let name = std::ffi::OsStr::new(CACHE);
        let cached = dir
            .as_ref()
            .and_then(|d| d.read(name).ok().flatten())
            .is_some_and(|bytes| bytes == key.as_bytes());
        if cached {
            let cache = ProbeCache {
                state: state.to_path_buf(),
            };
            return Probe::with_namespaces(Ok(()), Some(cache), apparmor);
        }
        let user_namespaces = probe_user_namespaces();
        if let (Ok(()), Some(dir)) = (&user_namespaces, &dir) {
            // Best effort: without the entry the next launch probes again.
            let _ = dir.replace(name, key.as_bytes(), crate::files::PRIVATE);
        }
        Probe::with_namespaces(user_namespaces, None, apparmor)
    }

    /// `apparmor` is the value of [`APPARMOR`], None when it is missing.
    fn with_namespaces(
        user_namespaces: Result<(), String>,
        cache: Option<ProbeCache>,
        apparmor: Option<String>,
    ) -> Probe {
        Probe {
            landlock: probe_landlock(),
            seccomp: probe_seccomp(),
            user_namespaces,
            apparmor_userns_restricted: apparmor.map(|v| v != "0"),
            cache,
        }
    }
}

fn read_apparmor() -> Option<String> {
    read_sysctl(APPARMOR)
}

/// What the namespace probe's outcome depends on, as text, given the
/// values of [`SYSCTLS`] (in its order): None when part of it cannot be
/// read (then nothing is cached).
fn cache_key(sysctls: &[Option<String>; SYSCTLS.len()]) -> Option<String> {
    let boot = read_sysctl("/proc/sys/kernel/random/boot_id")?;
    let mut key = format!(
        "cordon {}\nboot {boot}\nuid {} gid {}\n",
        env!("CARGO_PKG_VERSION"),
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    );
    for ns in ["user", "mnt", "pid"] {
        let link = fs::read_link(format!("/proc/self/ns/{ns}")).ok()?;
        key.push_str(&format!("{}\n", link.display()));
    }
    for (path, value) in SYSCTLS.iter().zip(sysctls) {
        key.push_str(&format!("{path} {}\n", value.as_deref().unwrap_or("-")));
    }
    Some(key)
}

fn read_sysctl(path: &str) -> Option<String> {
    crate::sys::read_text(path)
        .ok()
        .map(|s| s.trim().to_owned())
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
    if read_sysctl(APPARMOR).as_deref() == Some("1") {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_names_boot_user_namespaces_and_sysctls() {
        let key = cache_key(&SYSCTLS.map(read_sysctl)).unwrap();
        let boot = read_sysctl("/proc/sys/kernel/random/boot_id").unwrap();
        assert!(key.contains(&format!("boot {boot}\n")), "{key}");
        assert!(
            key.contains(&format!("uid {} ", nix::unistd::geteuid())),
            "{key}"
        );
        for ns in ["user:[", "mnt:[", "pid:["] {
            assert!(key.contains(ns), "{key}");
        }
        for path in SYSCTLS {
            assert!(key.contains(path), "{key}");
        }
        assert_eq!(
            cache_key(&SYSCTLS.map(read_sysctl)).unwrap(),
            key,
            "the key is stable within a run"
        );
    }

    #[test]
    fn only_a_success_is_cached_and_a_foreign_entry_is_probed_over() {
        let state = tempfile::tempdir().unwrap();
        let entry = state.path().join(CACHE);
        let first = Probe::for_launch(state.path(), true);
        assert!(first.cache.is_none(), "the first launch probes");
        if first.user_namespaces.is_err() {
            assert!(!entry.exists(), "a failure is never cached");
            return;
        }
        let second = Probe::for_launch(state.path(), true);
        assert!(second.user_namespaces.is_ok());
        let cache = second.cache.expect("the second launch reads the cache");
        cache.forget();
        assert!(!entry.exists(), "forget drops the entry");
        // An entry written under other conditions (another boot, user or
        // namespace) is not taken: the launch probes and rewrites it.
        std::fs::write(&entry, "cordon 0.0.0\nboot elsewhere\n").unwrap();
        let foreign = Probe::for_launch(state.path(), true);
        assert!(foreign.cache.is_none());
        assert_eq!(
            std::fs::read_to_string(&entry).unwrap(),
            cache_key(&SYSCTLS.map(read_sysctl)).unwrap()
        );
    }

    #[test]
    fn with_namespaces_off_nothing_is_probed_or_cached() {
        let state = tempfile::tempdir().unwrap();
        let probe = Probe::for_launch(state.path(), false);
        assert!(probe.user_namespaces.is_err());
        assert!(probe.cache.is_none());
        assert!(!state.path().join(CACHE).exists());
    }
}
