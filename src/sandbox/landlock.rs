//! Landlock: filesystem and TCP rules, and the ABI 6 scopes.
//!
//! The ruleset is created and filled in the parent (every path opened as
//! an `O_PATH` descriptor, so the rules name inodes, which bind mounts
//! preserve). The child adds one rule for the fresh /proc, which does not
//! exist before it is mounted, then restricts itself: two system calls.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};

use super::{EnforcementReport, Layer, Probe, SandboxError};
use crate::policy::{self, NetworkMode, Policy, Ports, Requirement};
use crate::sys::{self, SysResult};

/// The Landlock ABI this code is written and tested for. Raising it is a
/// deliberate change: new rights must be mapped below and tested.
pub const PINNED_ABI: ABI = ABI::V6;

/// The ruleset descriptor and the rights the child grants on /proc.
pub struct PreparedLandlock {
    ruleset: OwnedFd,
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

fn rights(access: policy::Access) -> landlock::BitFlags<AccessFs> {
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

/// Builds the ruleset, or reports why Landlock is not enforced.
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
    let ruleset = build(policy, private_tmp, level, kernel_abi)
        .map_err(|e| SandboxError::Landlock(e.to_string()))?;
    let ruleset = add_rules(ruleset, policy, private_tmp, generated)?;
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
        proc_access,
        tmp_access: None,
        kernel_abi,
    }))
}

impl PreparedLandlock {
    /// Lets the server read and write the tmpfs the child mounts at /tmp
    /// (the rule is added in the child, after the mount).
    pub fn grant_fresh_tmp(&mut self) {
        let known = AccessFs::from_all(ABI::from(
            i32::try_from(self.kernel_abi).unwrap_or(i32::MAX),
        ));
        self.tmp_access = Some((rights(policy::Access::READ_WRITE) & known).bits());
    }
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

fn build(
    policy: &Policy,
    _private_tmp: Option<&Path>,
    level: CompatLevel,
    kernel_abi: u32,
) -> Result<RulesetCreated, landlock::RulesetError> {
    let abi = PINNED_ABI;
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(abi))?;
    // TCP rules: with no network there is no TCP to rule on (seccomp and
    // the empty network namespace refuse sockets); otherwise every port is
    // denied unless listed, when the profile lists ports.
    // Mode `filtered` adds the allowlist's ports and the proxy's.
    let connect = super::egress::connect_ports(policy);
    let restrict_connect = policy.network.mode != NetworkMode::None && connect != Ports::Any;
    let restrict_bind =
        policy.network.mode != NetworkMode::None && policy.network.bind != Ports::Any;
    if kernel_abi >= 4 || level == CompatLevel::HardRequirement {
        if restrict_connect {
            ruleset = ruleset.handle_access(AccessNet::ConnectTcp)?;
        }
        if restrict_bind {
            ruleset = ruleset.handle_access(AccessNet::BindTcp)?;
        }
    }
    ruleset = ruleset.scope(Scope::AbstractUnixSocket | Scope::Signal)?;
    let mut created = ruleset.create()?;
    for (ports, access) in [
        (&connect, AccessNet::ConnectTcp),
        (&policy.network.bind, AccessNet::BindTcp),
    ] {
        if let (true, Ports::Only(ranges)) = (policy.network.mode != NetworkMode::None, ports) {
            for range in ranges {
                for port in range.first..=range.last {
                    created = created.add_rule(NetPort::new(port, access))?;
                }
            }
        }
    }
    Ok(created)
}

fn add_rules(
    mut ruleset: RulesetCreated,
    policy: &Policy,
    private_tmp: Option<&Path>,
    generated: &[PathBuf],
) -> Result<RulesetCreated, SandboxError> {
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
    for (path, access) in grants.chain(tmp).chain(generated).chain(devs) {
        let fd = PathFd::new(path).map_err(|e| SandboxError::LandlockPath {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        // Rights that make sense only on directories are dropped for files
        // by the crate (it would refuse them otherwise). Asked of the
        // descriptor: the inode the rule names, with no second lookup.
        let is_dir = nix::sys::stat::fstat(std::os::fd::AsFd::as_fd(&fd))
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        let access = if is_dir {
            access
        } else {
            access & AccessFs::from_file(PINNED_ABI)
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| SandboxError::Landlock(format!("{}: {e}", path.display())))?;
    }
    Ok(ruleset)
}
