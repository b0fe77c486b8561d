//! Landlock: filesystem and TCP rules, and the ABI 6 scopes.
//!
//! The ruleset is created in the parent before init is cloned, and filled
//! by the parent after the clone, while init builds the namespaces
//! ([`PreparedLandlock::fill`]): every path is opened as an `O_PATH`
//! descriptor, so the rules name inodes, which bind mounts preserve. The
//! kernel's ruleset is one object behind the descriptor init inherited,
//! so the rules are in it when the server restricts itself, which it does
//! only after cordon's go. The server adds the rules for the fresh /proc
//! (and a sized /tmp), which do not exist before they are mounted, then
//! restricts itself.

use std::cell::Cell;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreated, Scope,
};

use super::{EnforcementReport, Layer, Probe, SandboxError};
use crate::policy::{self, NetworkMode, Policy, PortRange, Ports, Requirement};
use crate::sys::{self, SysResult};

/// The Landlock ABI this code is written and tested for. Raising it is a
/// deliberate change: new rights must be mapped below and tested.
pub const PINNED_ABI: ABI = ABI::V6;

/// The ruleset descriptor, the rules cordon adds to it once init is
/// cloned, and the rights the server grants on /proc and /tmp.
pub struct PreparedLandlock {
    ruleset: OwnedFd,
    /// Decided once, by [`prepare`]: the ruleset handles what they need,
    /// and [`PreparedLandlock::fill`] adds exactly these.
    rules: Rules,
    /// Every rule of `rules` is in the ruleset (a second start of the
    /// same plan adds nothing).
    filled: Cell<bool>,
    /// Rights for the sandbox's own /proc (namespaces only).
    proc_access: Option<u64>,
    /// Rights for a /tmp that is a fresh tmpfs (namespaces with a sized
    /// /tmp): like /proc, it exists only once the child has mounted it.
    tmp_access: Option<u64>,
    /// The kernel's ABI, to keep a child-side rule within what it knows.
    kernel_abi: u32,
}

impl PreparedLandlock {
    /// Child side: add the /proc rule, set no_new_privs, restrict.
    pub fn apply(&self) -> SysResult<()> {
        if let Some(access) = self.proc_access {
            let fd = sys::open_path(c"/proc")?;
            let result = sys::landlock_add_path_rule(self.ruleset.as_raw_fd(), fd, access);
            sys::close(fd);
            result?;
        }
        if let Some(access) = self.tmp_access {
            let fd = sys::open_path(c"/tmp")?;
            let result = sys::landlock_add_path_rule(self.ruleset.as_raw_fd(), fd, access);
            sys::close(fd);
            result?;
        }
        sys::set_no_new_privs()?;
        sys::landlock_restrict_self(self.ruleset.as_raw_fd())
    }
}

/// The path and TCP port rules of a launch.
struct Rules {
    paths: Vec<PathRule>,
    /// Port ranges with the right they grant (Landlock's bits); only for
    /// the rights the ruleset handles.
    ports: Vec<(PortRange, u64)>,
    /// The ruleset handles TCP connect, bind.
    connect: bool,
    bind: bool,
}

/// A path and the rights granted beneath it, already within what the
/// kernel knows; rights that make sense only on directories are dropped
/// at [`PreparedLandlock::fill`] when the path turns out to be a file.
struct PathRule {
    path: CString,
    access: u64,
}

impl PathRule {
    fn shown(&self) -> PathBuf {
        PathBuf::from(OsStr::from_bytes(self.path.to_bytes()))
    }
}

/// The filesystem rights both the kernel and cordon know.
fn known_fs(kernel_abi: u32) -> BitFlags<AccessFs> {
    AccessFs::from_all(ABI::from(i32::try_from(kernel_abi).unwrap_or(i32::MAX)))
        & AccessFs::from_all(PINNED_ABI)
}

fn rights(access: policy::Access) -> BitFlags<AccessFs> {
    let abi = PINNED_ABI;
    let mut r = AccessFs::ReadFile | AccessFs::ReadDir;
    if access.execute {
        r |= AccessFs::Execute;
    }
    if access.write {
        // Everything that changes the tree below the grant, except making
        // device nodes; ioctl on devices stays denied.
        r |= AccessFs::from_write(abi)
            & !(AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::IoctlDev);
        r |= AccessFs::Refer | AccessFs::Truncate;
    }
    r & AccessFs::from_all(abi)
}

/// Creates the ruleset and decides its rules (added after init is cloned,
/// by [`PreparedLandlock::fill`]), or reports why Landlock is not
/// enforced. What is reported depends on neither the fill nor its timing.
/// `generated` are files cordon wrote for the sandbox and binds into it
/// (network `filtered`'s resolver files): readable, each by a rule of its
/// own, since the rules follow inodes, not the paths they are bound at.
/// Without `build_ruleset` (a plan that is only shown) the report is the
/// same and no ruleset is made: its descriptors serve a start alone.
pub fn prepare(
    policy: &Policy,
    probe: &Probe,
    private_tmp: Option<&Path>,
    generated: &[PathBuf],
    namespaces: bool,
    build_ruleset: bool,
    report: &mut EnforcementReport,
) -> Result<Option<PreparedLandlock>, SandboxError> {
    let kernel_abi = match (&probe.landlock, policy.mechanisms.landlock) {
        (Ok(v), _) => *v,
        (Err(reason), Requirement::BestEffort) => {
            report.degraded(
                Layer::Landlock,
                format!("unavailable ({reason}); filesystem and TCP port rules"),
            );
            return Ok(None);
        }
        (Err(reason), _) => {
            return Err(SandboxError::Missing {
                what: "Landlock",
                profile: policy.name.clone(),
                reason: reason.clone(),
                hint: "use a kernel with Landlock enabled (lsm=landlock,...), or set `landlock = \"best-effort\"` in the profile's [sandbox] table",
            });
        }
    };
    let effective = kernel_abi.min(PINNED_ABI as u32);
    if !build_ruleset {
        report_landlock(policy, effective, kernel_abi, report);
        return Ok(None);
    }
    let level = match policy.mechanisms.landlock {
        Requirement::BestEffort => CompatLevel::BestEffort,
        _ => CompatLevel::HardRequirement,
    };
    let rules = rules(policy, private_tmp, generated, level, kernel_abi)?;
    let ruleset = build(&rules, level).map_err(|e| SandboxError::Landlock(e.to_string()))?;
    let fd: Option<OwnedFd> = ruleset.into();
    let Some(ruleset) = fd else {
        return Err(SandboxError::Landlock(
            "the kernel returned no ruleset".into(),
        ));
    };
    report_landlock(policy, effective, kernel_abi, report);
    let proc_access = namespaces.then(|| (AccessFs::ReadFile | AccessFs::ReadDir).bits());
    Ok(Some(PreparedLandlock {
        ruleset,
        rules,
        filled: Cell::new(false),
        proc_access,
        tmp_access: None,
        kernel_abi,
    }))
}

impl PreparedLandlock {
    /// Lets the server read and write the tmpfs the child mounts at /tmp
    /// (the rule is added in the child, after the mount).
    pub fn grant_fresh_tmp(&mut self) {
        let known = known_fs(self.kernel_abi);
        self.tmp_access = Some((rights(policy::Access::READ_WRITE) & known).bits());
    }

    /// Parent side, after init is cloned and before the server may start:
    /// adds the path and port rules to the ruleset init inherited. A rule
    /// that cannot be added (a grant removed since prepare) refuses the
    /// start with the error prepare gave for it when it added the rules
    /// itself, and init is ended before any server exists: the sandbox is
    /// never started other than reported.
    pub fn fill(&self) -> Result<(), SandboxError> {
        if self.filled.get() {
            return Ok(());
        }
        let ruleset = self.ruleset.as_raw_fd();
        for rule in &self.rules.paths {
            let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC;
            let fd = nix::fcntl::open(rule.path.as_c_str(), flags, nix::sys::stat::Mode::empty())
                .map_err(|errno| SandboxError::LandlockPath {
                path: rule.shown(),
                source: errno.into(),
            })?;
            add_path_rule(ruleset, &fd, rule.access)
                .map_err(|errno| added_error(&rule.shown().display(), errno))?;
        }
        for &(range, access) in &self.rules.ports {
            for port in range.first..=range.last {
                sys::landlock_add_port_rule(ruleset, port, access)
                    .map_err(|errno| added_error(&format_args!("port {port}"), errno))?;
            }
        }
        self.filled.set(true);
        Ok(())
    }
}

/// Adds a rule for the inode `fd` names; rights that make sense only on
/// directories are dropped for anything else (the kernel refuses them),
/// as asked of the descriptor: the inode the rule names, with no second
/// lookup.
fn add_path_rule(ruleset: RawFd, fd: &OwnedFd, access: u64) -> sys::SysResult<()> {
    let is_dir =
        nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
    let access = if is_dir {
        access
    } else {
        access & AccessFs::from_file(PINNED_ABI).bits()
    };
    sys::landlock_add_path_rule(ruleset, fd.as_raw_fd(), access)
}

fn added_error(what: &dyn std::fmt::Display, errno: nix::errno::Errno) -> SandboxError {
    SandboxError::Landlock(format!(
        "{what}: failed to add a rule: {}",
        std::io::Error::from(errno)
    ))
}

fn report_landlock(policy: &Policy, effective: u32, kernel: u32, report: &mut EnforcementReport) {
    report.enforced(
        Layer::Landlock,
        format!(
            "ABI {effective} (kernel {kernel}, cordon pinned {})",
            PINNED_ABI as u32
        ),
    );
    if effective < 3 {
        report.degraded(
            Layer::Landlock,
            "truncation outside write grants (needs ABI 3)".into(),
        );
    }
    if effective < 4 && policy.network.mode != NetworkMode::None {
        report.degraded(Layer::Landlock, "TCP port rules (needs ABI 4)".into());
    }
    if effective < 5 {
        report.degraded(Layer::Landlock, "ioctl on devices (needs ABI 5)".into());
    }
    if effective < 6 {
        report.degraded(
            Layer::Landlock,
            "abstract unix socket and signal scoping (needs ABI 6)".into(),
        );
    }
}

/// Decides every path and port rule of a launch, and what the ruleset
/// handles for them: the one place both come from.
/// Rights the kernel does not know are dropped here, as the crate's best
/// effort does at creation (a required Landlock needs the pinned ABI, so
/// nothing is dropped then).
fn rules(
    policy: &Policy,
    private_tmp: Option<&Path>,
    generated: &[PathBuf],
    level: CompatLevel,
    kernel_abi: u32,
) -> Result<Rules, SandboxError> {
    let known = known_fs(kernel_abi);
    let devices = super::mounts::DEVICES.map(|d| Path::new("/dev").join(d));
    let device_access = AccessFs::ReadFile | AccessFs::WriteFile;
    let grants = policy
        .fs
        .iter()
        .filter(|g| g.exists)
        .map(|g| (g.path.as_path(), rights(g.access)));
    let tmp = private_tmp.map(|p| (p, rights(policy::Access::READ_WRITE)));
    let generated = generated
        .iter()
        .map(|p| (p.as_path(), rights(policy::Access::READ)));
    let devs = devices.iter().map(|p| (p.as_path(), device_access));
    let paths = grants
        .chain(tmp)
        .chain(generated)
        .chain(devs)
        .map(|(path, access)| {
            Ok(PathRule {
                path: super::cstring(path.as_os_str())?,
                access: (access & known).bits(),
            })
        })
        .collect::<Result<Vec<_>, SandboxError>>()?;
    // TCP rules: with no network there is no TCP to rule on (seccomp and
    // the empty network namespace refuse sockets); otherwise every port is
    // denied unless listed, when the profile lists ports.
    // Mode `filtered` adds the allowlist's ports and the proxy's. A kernel
    // before ABI 4 has no TCP rules: best effort goes without them, a
    // required Landlock is refused when the ruleset is created.
    let networked = policy.network.mode != NetworkMode::None;
    let tcp = kernel_abi >= 4 || level == CompatLevel::HardRequirement;
    let connect_ports = super::egress::connect_ports(policy);
    let connect = tcp && networked && connect_ports != Ports::Any;
    let bind = tcp && networked && policy.network.bind != Ports::Any;
    let mut ports = Vec::new();
    for (handled, listed, access) in [
        (connect, &connect_ports, AccessNet::ConnectTcp),
        (bind, &policy.network.bind, AccessNet::BindTcp),
    ] {
        if let (true, Ports::Only(ranges)) = (handled, listed) {
            ports.extend(ranges.iter().map(|&r| (r, BitFlags::from(access).bits())));
        }
    }
    Ok(Rules {
        paths,
        ports,
        connect,
        bind,
    })
}

fn build(rules: &Rules, level: CompatLevel) -> Result<RulesetCreated, landlock::RulesetError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(PINNED_ABI))?;
    if rules.connect {
        ruleset = ruleset.handle_access(AccessNet::ConnectTcp)?;
    }
    if rules.bind {
        ruleset = ruleset.handle_access(AccessNet::BindTcp)?;
    }
    ruleset = ruleset.scope(Scope::AbstractUnixSocket | Scope::Signal)?;
    ruleset.create()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::policy::test_support::{grant, policy};

    fn loopback(connect: Ports, bind: Ports) -> Policy {
        let mut p = policy();
        p.network.mode = NetworkMode::Loopback;
        p.network.connect = connect;
        p.network.bind = bind;
        p
    }

    fn only(first: u16, last: u16) -> Ports {
        Ports::Only(vec![PortRange { first, last }])
    }

    #[test]
    fn port_rules_exist_exactly_for_the_rights_the_ruleset_handles() {
        let p = loopback(only(8000, 8001), Ports::Any);
        let r = rules(&p, None, &[], CompatLevel::HardRequirement, 6).unwrap();
        assert!(r.connect && !r.bind);
        let connect = BitFlags::from(AccessNet::ConnectTcp).bits();
        assert_eq!(
            r.ports,
            vec![(
                PortRange {
                    first: 8000,
                    last: 8001
                },
                connect
            )]
        );
        // Best effort on a kernel without TCP rules: nothing is handled,
        // so no port rule may be added either.
        let r = rules(&p, None, &[], CompatLevel::BestEffort, 3).unwrap();
        assert!(!r.connect && !r.bind && r.ports.is_empty());
        // No network: no TCP to rule on.
        let mut none = loopback(only(1, 1), only(2, 2));
        none.network.mode = NetworkMode::None;
        let r = rules(&none, None, &[], CompatLevel::HardRequirement, 6).unwrap();
        assert!(!r.connect && !r.bind && r.ports.is_empty());
    }

    #[test]
    fn path_rules_keep_within_what_the_kernel_knows() {
        let p = policy();
        let r = rules(&p, None, &[], CompatLevel::BestEffort, 1).unwrap();
        let v1 = AccessFs::from_all(ABI::V1).bits();
        let writable = r
            .paths
            .iter()
            .find(|rule| rule.shown() == Path::new("/srv/notes"))
            .unwrap();
        assert_eq!(writable.access & !v1, 0);
        assert_ne!(
            writable.access & BitFlags::from(AccessFs::WriteFile).bits(),
            0
        );
        let r = rules(&p, None, &[], CompatLevel::HardRequirement, 6).unwrap();
        let writable = r
            .paths
            .iter()
            .find(|rule| rule.shown() == Path::new("/srv/notes"))
            .unwrap();
        assert_ne!(
            writable.access & BitFlags::from(AccessFs::Truncate).bits(),
            0
        );
    }

    /// A grant that is gone by the time cordon fills the ruleset refuses
    /// the start with the error prepare gave for it before the fill
    /// moved after the clone; once it is back, the same plan fills.
    #[test]
    fn a_grant_gone_before_the_fill_refuses_the_start() {
        let abi = match sys::landlock_abi_version() {
            Ok(v) if v >= 1 => v,
            other => {
                eprintln!("skipped: the kernel has no Landlock ({other:?})");
                return;
            }
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let granted = dir.path().join("granted");
        std::fs::create_dir(&granted).expect("mkdir");
        let mut p = policy();
        p.mechanisms.landlock = Requirement::BestEffort;
        p.fs = vec![grant(
            granted.to_str().expect("utf-8"),
            policy::Access::READ_WRITE,
            policy::GrantSource::CommandLine,
        )];
        let probe = Probe {
            landlock: Ok(abi),
            seccomp: Ok(()),
            user_namespaces: Ok(()),
            apparmor_userns_restricted: None,
            cache: None,
        };
        let mut report = EnforcementReport::default();
        let prepared = prepare(&p, &probe, None, &[], true, true, &mut report)
            .unwrap()
            .expect("a ruleset");
        std::fs::remove_dir(&granted).expect("rmdir");
        match prepared.fill() {
            Err(SandboxError::LandlockPath { path, .. }) => assert_eq!(path, granted),
            other => panic!("{:?}", other.map_err(|e| e.to_string())),
        }
        std::fs::create_dir(&granted).expect("mkdir");
        prepared.fill().unwrap();
    }
}
