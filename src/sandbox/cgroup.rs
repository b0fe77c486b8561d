//! Cgroups for the sandbox: a pids cgroup holds the process limit when
//! cordon is root (the kernel never applies RLIMIT_NPROC to uid 0), and a
//! memory cgroup bounds the memory of the whole sandbox where cordon can
//! make one.
//!
//! Where: cgroup v1 hierarchies (`pids`, `memory`) below cordon's own
//! cgroup, which only root can write; or a cgroup v2 directory with the
//! controllers enabled in its `cgroup.subtree_control` that cordon may
//! write (cordon's own cgroup, or its parent: a systemd user session
//! delegates `user@UID.service` and everything below to the user).
//!
//! When: [`prepare`] only plans (the hierarchy, the name, the limits);
//! cordon makes the cgroups ([`PreparedCgroup::make`]) once init is
//! cloned, while init builds the namespaces, so the start does not wait
//! for them. A cgroup that cannot be made then, or a limit the kernel
//! refuses, refuses the start: init is ended before any server exists,
//! and nothing starts without the limit it was shown with.
//!
//! Names: `cordon-<pid>-<start time>-<random>`, made with mkdir, which
//! fails on a name that exists: a directory that is there already was not
//! made by this run and is never taken (the start is refused), so a
//! cgroup left by a cordon killed outright, or planted, can never be taken
//! for this run's. Each start removes the `cordon-*` cgroups whose cordon
//! is gone (rmdir fails on a cgroup that still holds processes, so a live
//! sandbox's stays), while its init builds the sandbox
//! ([`PreparedCgroup::remove_stale`]); each run removes its own when the
//! sandbox is gone.
//!
//! The sandbox's init joins through descriptors cordon opened and sent
//! it over the go socket ([`PreparedCgroup::join_fds`]): the child only
//! writes "0" to them ([`join`]). In a v1 hierarchy that file is `tasks`,
//! which moves the writing thread: init is single-threaded (a clone
//! without CLONE_THREAD, and it never starts a thread), so its one thread
//! is the whole process, and everything it starts inherits the cgroup.
//! Moving a whole process through `cgroup.procs` write-locks the kernel's
//! global threadgroup semaphore, which waits for an RCU grace period
//! (10-15 ms on a busy machine, once per start); moving the calling
//! thread alone takes no such lock (kernel 6.0 and later; older kernels
//! take it either way).

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::sys::{self, SysResult};

/// The prefix of every cgroup cordon creates.
const PREFIX: &str = "cordon-";

/// The most cgroups one sandbox joins: a pids and a memory hierarchy (v1),
/// or one directory for both (v2).
pub const MAX_GROUPS: usize = 2;

/// One cgroup planned for the sandbox, made at the start.
#[derive(Debug)]
struct Planned {
    dir: PathBuf,
    /// `tasks` (v1) or `cgroup.procs` (v2): the file init joins through.
    join: &'static str,
    limits: Vec<Limit>,
}

/// A value for one control file of a planned cgroup.
#[derive(Debug)]
struct Limit {
    /// The profile's key the limit comes from, for a refusal.
    key: &'static str,
    file: &'static str,
    value: u64,
    /// A file the kernel shows only with an option (swap accounting): a
    /// missing one is skipped.
    optional: bool,
}

/// One cgroup this run made, with its open join file.
#[derive(Debug)]
struct Group {
    procs: OwnedFd,
    /// Held for its removal; declared last, so the join file is closed
    /// first.
    _dir: Made,
}

/// A cgroup directory this run made: removed when dropped.
#[derive(Debug)]
struct Made(PathBuf);

impl Drop for Made {
    fn drop(&mut self) {
        // Empty once the sandbox is gone, though the kernel may still be
        // tearing down the last processes of the pid namespace for a
        // moment; a final failure leaves an empty directory behind, which
        // the next start removes.
        for _ in 0..50 {
            match fs::remove_dir(&self.0) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => return,
            }
        }
    }
}

/// A refusal from the kernel while making a planned cgroup.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", key.map_or_else(|| "the sandbox's cgroup cannot be made".to_owned(), |k| format!("limits.{k} cannot be applied")))]
pub struct MakeError {
    /// The profile's limit the refused write was for (`nproc`, `memory`),
    /// or None for the directory or its join file.
    pub key: Option<&'static str>,
    pub reason: String,
}

/// The cgroups the sandbox's init joins (one per hierarchy): planned by
/// [`prepare`], made by [`PreparedCgroup::make`].
#[derive(Debug, Default)]
pub struct PreparedCgroup {
    planned: Vec<Planned>,
    /// Set once, by the first start of this plan; a plan started again
    /// joins the same cgroups.
    made: OnceLock<Vec<Group>>,
}

impl PreparedCgroup {
    pub fn is_empty(&self) -> bool {
        self.planned.is_empty()
    }

    /// How many join descriptors init receives.
    pub fn count(&self) -> usize {
        self.planned.len()
    }

    /// Makes every planned cgroup, writes its limits and opens its join
    /// file. Called after init is cloned, before its go; an error refuses
    /// the start, and what was made of it is removed again.
    pub fn make(&self) -> Result<(), MakeError> {
        if self.made.get().is_some() {
            return Ok(());
        }
        let groups = self
            .planned
            .iter()
            .map(Planned::make)
            .collect::<Result<Vec<_>, _>>()?;
        let _ = self.made.set(groups);
        Ok(())
    }

    /// The join files of the made cgroups, for init (empty before
    /// [`PreparedCgroup::make`]).
    pub fn join_fds(&self) -> Vec<RawFd> {
        self.made
            .get()
            .map(|groups| groups.iter().map(|g| g.procs.as_raw_fd()).collect())
            .unwrap_or_default()
    }

    /// Removes the `cordon-*` cgroups left beside this run's by a cordon
    /// that is gone. Best effort and for tidiness only: names are never
    /// reused, so a leftover is never taken for this run's; called while
    /// init builds the sandbox, so the start does not wait for it.
    pub fn remove_stale(&self) {
        for plan in &self.planned {
            if let Some(parent) = plan.dir.parent() {
                remove_stale(parent);
            }
        }
    }
}

/// Child side: moves the calling process (the sandbox's init) into the
/// cgroup of each join file; everything it starts inherits them.
pub fn join(procs: &[RawFd]) -> SysResult<()> {
    for &fd in procs {
        sys::write_all(fd, b"0")?;
    }
    Ok(())
}

impl Planned {
    fn make(&self) -> Result<Group, MakeError> {
        let fail = |key, reason| MakeError { key, reason };
        if let Err(e) = fs::create_dir(&self.dir) {
            // EEXIST included: a directory this run did not make is never
            // taken, nor removed.
            return Err(fail(
                None,
                format!("cannot create {}: {e}", self.dir.display()),
            ));
        }
        let dir = Made(self.dir.clone());
        for limit in &self.limits {
            match write_control(&self.dir, limit.file, limit.value) {
                Err(e) if limit.optional && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(fail(
                        Some(limit.key),
                        refused(&self.dir, limit.file, limit.value, &e),
                    ));
                }
                Ok(()) => {}
            }
        }
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join(self.join))
            .map_err(|e| {
                fail(
                    None,
                    format!("cannot open {}/{}: {e}", self.dir.display(), self.join),
                )
            })?;
        Ok(Group {
            procs: procs.into(),
            _dir: dir,
        })
    }
}

/// What to bound, and with what.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    /// Processes of the sandbox, not counting its init.
    pub pids: Option<u64>,
    /// Bytes of memory of the whole sandbox (swap not allowed on top).
    pub memory: Option<u64>,
}

/// The cgroups planned for a [`Request`], and for each controller asked
/// for, where it will hold the limit or why it cannot be applied.
#[derive(Debug, Default)]
pub struct Outcome {
    pub prepared: PreparedCgroup,
    pub pids: Option<Result<PathBuf, String>>,
    pub memory: Option<Result<PathBuf, String>>,
}

/// Plans the cgroups for `request`: nothing is made here (see
/// [`PreparedCgroup::make`]), and stale ones are removed later, by
/// [`PreparedCgroup::remove_stale`].
pub fn prepare(request: Request) -> Outcome {
    let mut outcome = Outcome::default();
    if request.pids.is_none() && request.memory.is_none() {
        return outcome;
    }
    let wanted: Vec<&str> = [("pids", request.pids), ("memory", request.memory)]
        .into_iter()
        .filter_map(|(c, limit)| limit.map(|_| c))
        .collect();
    let hierarchies = match own_hierarchies(&wanted) {
        Ok(h) => h,
        Err(reason) => {
            outcome.pids = request.pids.map(|_| Err(reason.clone()));
            outcome.memory = request.memory.map(|_| Err(reason));
            return outcome;
        }
    };
    let mut planned = Vec::new();
    let mut v2_wanted: Vec<(&'static str, u64)> = Vec::new();
    for (controller, limit) in [("pids", request.pids), ("memory", request.memory)] {
        let Some(limit) = limit else { continue };
        let v1 = hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller));
        let result = match v1 {
            Some(h) => plan_v1(&h.dir, controller, limit, &mut planned),
            None => {
                v2_wanted.push((controller, limit));
                continue;
            }
        };
        *slot(&mut outcome, controller) = Some(result);
    }
    if !v2_wanted.is_empty() {
        let result = plan_v2(&hierarchies, &v2_wanted, &mut planned);
        for (controller, _) in &v2_wanted {
            *slot(&mut outcome, controller) = Some(result.clone());
        }
    }
    outcome.prepared.planned = planned;
    outcome
}

fn slot<'o>(outcome: &'o mut Outcome, controller: &str) -> &'o mut Option<Result<PathBuf, String>> {
    if controller == "pids" {
        &mut outcome.pids
    } else {
        &mut outcome.memory
    }
}

/// The limits of `controller` at `limit`, as control files: v1 names, or
/// v2's.
fn limits(controller: &str, limit: u64, v2: bool) -> Vec<Limit> {
    let one = |key, file, value, optional| Limit {
        key,
        file,
        value,
        optional,
    };
    match (controller, v2) {
        // Init counts too.
        ("pids", _) => vec![one("nproc", "pids.max", limit.saturating_add(1), false)],
        // With swap accounting, memory plus swap gets the same bound: the
        // server cannot swap its way past the limit.
        (_, false) => vec![
            one("memory", "memory.limit_in_bytes", limit, false),
            one("memory", "memory.memsw.limit_in_bytes", limit, true),
        ],
        (_, true) => vec![
            one("memory", "memory.max", limit, false),
            one("memory", "memory.swap.max", 0, true),
        ],
    }
}

/// A cgroup v1 child of cordon's own cgroup in the `controller` hierarchy.
fn plan_v1(
    own: &Path,
    controller: &str,
    limit: u64,
    planned: &mut Vec<Planned>,
) -> Result<PathBuf, String> {
    if !writable(own) {
        return Err(format!(
            "the {controller} hierarchy at {} is not writable (cgroup v1 is root's)",
            own.display()
        ));
    }
    let dir = unique_name(own);
    planned.push(Planned {
        dir: dir.clone(),
        join: "tasks",
        limits: limits(controller, limit, false),
    });
    Ok(dir)
}

/// One cgroup v2 directory holding every controller in `wanted`.
fn plan_v2(
    hierarchies: &[Hierarchy],
    wanted: &[(&'static str, u64)],
    planned: &mut Vec<Planned>,
) -> Result<PathBuf, String> {
    let names: Vec<&str> = wanted.iter().map(|(c, _)| *c).collect();
    let Some(v2) = hierarchies.iter().find(|h| h.unified) else {
        return Err(format!(
            "no {} cgroup controller is available to this process",
            names.join(" or ")
        ));
    };
    let parent = v2_parent(&v2.dir, &names)?;
    let dir = unique_name(&parent);
    planned.push(Planned {
        dir: dir.clone(),
        join: "cgroup.procs",
        limits: wanted
            .iter()
            .flat_map(|(controller, limit)| limits(controller, *limit, true))
            .collect(),
    });
    Ok(dir)
}

/// Cordon's own cgroup v2 directory, or its parent: the first that has
/// every controller in `names` enabled for its children and that cordon
/// may write (a child is created there, and init moved into it).
fn v2_parent(own: &Path, names: &[&str]) -> Result<PathBuf, String> {
    let candidates = [Some(own), own.parent()];
    for dir in candidates.into_iter().flatten() {
        let enabled = sys::read_text(dir.join("cgroup.subtree_control")).unwrap_or_default();
        let has_all = names
            .iter()
            .all(|n| enabled.split_whitespace().any(|c| c == *n));
        if has_all && writable(dir) && writable(&dir.join("cgroup.procs")) {
            return Ok(dir.to_path_buf());
        }
    }
    Err(format!(
        "no writable cgroup v2 directory at or above {} has the {} controller enabled for its children (cgroup.subtree_control)",
        own.display(),
        names.join(" and ")
    ))
}

fn writable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Writes `value` to an existing control file (never creates one).
fn write_control(dir: &Path, file: &str, value: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut control = fs::OpenOptions::new().write(true).open(dir.join(file))?;
    control.write_all(value.to_string().as_bytes())
}

fn refused(dir: &Path, file: &str, value: u64, e: &std::io::Error) -> String {
    format!(
        "the kernel refused {value} in {}/{file}: {e}",
        dir.display()
    )
}

/// `cordon-<pid>-<start>-<random>` below `parent`: unique among the live
/// cordons by its first two parts, unguessable by the third.
fn unique_name(parent: &Path) -> PathBuf {
    parent.join(format!("{PREFIX}{}-{:08x}", own_identity(), random_u32()))
}

/// `<pid>-<start time>`: unique among the live processes; read once per
/// run (one cgroup per hierarchy is named with it).
fn own_identity() -> &'static str {
    static OWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWN.get_or_init(|| {
        let pid = std::process::id();
        let start = start_time(pid).unwrap_or(0);
        format!("{pid}-{start}")
    })
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    match sys::random(&mut bytes) {
        Ok(()) => u32::from_ne_bytes(bytes),
        // The name stays unique among live cordons without it.
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    }
}

/// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks
/// since boot; with the pid, it names one process for good.
fn start_time(pid: u32) -> Option<u64> {
    let stat = sys::read_text(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The cordon that made `name`, as (pid, start time); the start time is
/// absent in the names of older versions (`cordon-<pid>`).
fn owner_of(name: &str) -> Option<(u32, Option<u64>)> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.split('-');
    let pid = parts.next()?.parse().ok()?;
    let start = match parts.next() {
        Some(s) => Some(s.parse().ok()?),
        None => None,
    };
    Some((pid, start))
}

/// Removes the `cordon-*` cgroups below `parent` whose cordon is gone.
/// rmdir refuses a cgroup that still has processes or children, so only
/// empty ones go; what cannot be removed stays.
fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, start)) = name.to_str().and_then(owner_of) else {
            continue;
        };
        let alive = match (start_time(pid), start) {
            (None, _) => false,
            (Some(now), Some(then)) => now == then,
            // An old-style name and a live pid: maybe that cordon's, keep.
            (Some(_), None) => true,
        };
        if !alive {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// One cgroup hierarchy this process is in.
#[derive(Debug)]
struct Hierarchy {
    /// v1 controllers of the hierarchy (empty for v2).
    controllers: Vec<String>,
    unified: bool,
    /// This process's cgroup directory in it.
    dir: PathBuf,
}

/// The hierarchies of `/proc/self/cgroup`, located through the mounts of
/// `/proc/self/mountinfo` (v1: one mount per controller set; v2: one).
///
/// The hierarchies that hold the `wanted` controllers are first looked
/// for where systemd and every distribution mount them, each confirmed
/// by the file system type of the directory: mountinfo, which the kernel
/// renders line by line for every mount, is read only when one is not
/// there. A v1 hierarchy taken from its conventional place that is not
/// the controller's after all has no such control file in the new
/// cgroup, so the limit's write fails and reports it: never a silent
/// start without the limit.
fn own_hierarchies(wanted: &[&str]) -> Result<Vec<Hierarchy>, String> {
    let own = sys::read_text("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    if let Some(found) = conventional_hierarchies(&own, wanted) {
        let confirmed = found.iter().all(|h| {
            let magic = if h.unified {
                nix::sys::statfs::CGROUP2_SUPER_MAGIC
            } else {
                nix::sys::statfs::CGROUP_SUPER_MAGIC
            };
            nix::sys::statfs::statfs(&h.dir).is_ok_and(|fs| fs.filesystem_type() == magic)
        });
        if confirmed {
            return Ok(found);
        }
    }
    let mounts = sys::read_text("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    Ok(parse_hierarchies(&own, &mounts))
}

/// Where the hierarchies holding `wanted` are by convention: a v1
/// hierarchy at `/sys/fs/cgroup/<its controllers>`, the v2 one at
/// `/sys/fs/cgroup`, each showing the whole hierarchy; None when a wanted
/// controller is in no hierarchy of `own` (`/proc/self/cgroup`).
fn conventional_hierarchies(own: &str, wanted: &[&str]) -> Option<Vec<Hierarchy>> {
    const BASE: &str = "/sys/fs/cgroup";
    let mut found: Vec<Hierarchy> = Vec::new();
    for controller in wanted {
        let mut unified = None;
        let mut v1 = None;
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let inside = path.strip_prefix('/')?;
            if id == "0" && controllers.is_empty() {
                unified = Some(Path::new(BASE).join(inside));
            } else if controllers.split(',').any(|c| c == *controller) {
                v1 = Some((controllers, Path::new(BASE).join(controllers).join(inside)));
            }
        }
        let hierarchy = match (v1, unified) {
            (Some((controllers, dir)), _) => Hierarchy {
                controllers: controllers.split(',').map(str::to_owned).collect(),
                unified: false,
                dir,
            },
            (None, Some(dir)) => Hierarchy {
                controllers: Vec::new(),
                unified: true,
                dir,
            },
            (None, None) => return None,
        };
        if !found.iter().any(|h| h.dir == hierarchy.dir) {
            found.push(hierarchy);
        }
    }
    Some(found)
}

fn parse_hierarchies(own: &str, mountinfo: &str) -> Vec<Hierarchy> {
    let mounts: Vec<CgroupMount> = mountinfo.lines().filter_map(cgroup_mount).collect();
    let mut found = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let controllers: Vec<String> = controllers
            .split(',')
            .filter(|c| !c.is_empty() && !c.starts_with("name="))
            .map(str::to_owned)
            .collect();
        let unified = controllers.is_empty() && line.starts_with("0::");
        if controllers.is_empty() && !unified {
            continue;
        }
        let mount = mounts.iter().find(|m| {
            m.unified == unified && (unified || controllers.iter().all(|c| m.options.contains(c)))
        });
        let Some(mount) = mount else { continue };
        // The path is relative to the hierarchy's root; the mount may show
        // only a subtree of it (a container's own cgroup).
        let Ok(inside) = Path::new(path).strip_prefix(&mount.root) else {
            continue;
        };
        found.push(Hierarchy {
            controllers,
            unified,
            dir: mount.point.join(inside),
        });
    }
    found
}

struct CgroupMount {
    root: PathBuf,
    point: PathBuf,
    unified: bool,
    options: Vec<String>,
}

/// A `cgroup` or `cgroup2` line of mountinfo: `ID PARENT MAJ:MIN ROOT
/// POINT OPTIONS [TAGS…] - TYPE SOURCE SUPER_OPTIONS`.
fn cgroup_mount(line: &str) -> Option<CgroupMount> {
    let (left, right) = line.split_once(" - ")?;
    let mut left = left.split(' ');
    let root = left.nth(3)?;
    let point = left.next()?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let options = right.nth(1).unwrap_or("");
    let unified = match fstype {
        "cgroup2" => true,
        "cgroup" => false,
        _ => return None,
    };
    Some(CgroupMount {
        root: PathBuf::from(root),
        point: PathBuf::from(point),
        unified,
        options: options.split(',').map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_and_v2_hierarchies_are_located_through_their_mounts() {
        let own = "9:name=systemd:/\n8:pids:/\n4:memory:/box/abc\n0::/user.slice\n";
        let found = parse_hierarchies(own, MOUNTINFO);
        let dirs: Vec<(&[String], bool, &Path)> = found
            .iter()
            .map(|h| (h.controllers.as_slice(), h.unified, h.dir.as_path()))
            .collect();
        assert_eq!(dirs.len(), 3, "{found:?}");
        assert_eq!(dirs[0].2, Path::new("/sys/fs/cgroup/pids"));
        assert_eq!(dirs[1].2, Path::new("/sys/fs/cgroup/memory/box/abc"));
        assert!(dirs[2].1);
        assert_eq!(dirs[2].2, Path::new("/sys/fs/cgroup/unified/user.slice"));
    }

    #[test]
    fn conventional_places_agree_with_the_mounts() {
        let own = "9:name=systemd:/\n8:pids:/\n4:memory:/box/abc\n0::/user.slice\n";
        let found = conventional_hierarchies(own, &["pids", "memory"]).unwrap();
        let mounted = parse_hierarchies(own, MOUNTINFO);
        assert_eq!(found.len(), 2, "{found:?}");
        for h in &found {
            let m = mounted.iter().find(|m| m.dir == h.dir).unwrap();
            assert_eq!((&m.controllers, m.unified), (&h.controllers, h.unified));
        }
        let v2 = conventional_hierarchies("0::/user.slice/x\n", &["memory"]).unwrap();
        assert!(v2[0].unified);
        assert_eq!(v2[0].dir, Path::new("/sys/fs/cgroup/user.slice/x"));
        assert!(conventional_hierarchies("8:pids:/\n", &["memory"]).is_none());
    }

    #[test]
    fn a_container_mount_shows_a_subtree() {
        let mountinfo = "50 1 0:40 /box /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let found = parse_hierarchies("0::/box/inner\n", mountinfo);
        assert_eq!(found[0].dir, Path::new("/sys/fs/cgroup/inner"));
    }

    #[test]
    fn v2_takes_the_first_writable_directory_with_the_controllers() {
        let tree = tempfile::tempdir().unwrap();
        let parent = tree.path().join("app.slice");
        let own = parent.join("term.scope");
        fs::create_dir_all(&own).unwrap();
        for (dir, enabled) in [(&own, ""), (&parent, "cpu memory pids\n")] {
            fs::write(dir.join("cgroup.subtree_control"), enabled).unwrap();
            fs::write(dir.join("cgroup.procs"), "").unwrap();
        }
        assert_eq!(v2_parent(&own, &["memory"]).unwrap(), parent);
        assert_eq!(v2_parent(&own, &["memory", "pids"]).unwrap(), parent);
        let err = v2_parent(&own, &["io"]).unwrap_err();
        assert!(err.contains("io controller"), "{err}");
        fs::write(own.join("cgroup.subtree_control"), "memory").unwrap();
        assert_eq!(v2_parent(&own, &["memory"]).unwrap(), own);
    }

    #[test]
    fn stale_names_go_live_ones_stay() {
        let parent = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let start = start_time(me).unwrap();
        let live = format!("cordon-{me}-{start}-00000001");
        let reused = format!("cordon-{me}-{}-00000002", start + 1);
        let other = "unrelated-1".to_owned();
        for name in [&live, &reused, &other] {
            fs::create_dir(parent.path().join(name)).unwrap();
        }
        remove_stale(parent.path());
        assert!(parent.path().join(&live).exists());
        assert!(!parent.path().join(&reused).exists());
        assert!(parent.path().join(&other).exists());
    }

    #[test]
    fn names_carry_pid_and_start_time() {
        assert_eq!(owner_of("cordon-4242-99-0a0b0c0d"), Some((4242, Some(99))));
        assert_eq!(owner_of("cordon-4242"), Some((4242, None)));
        assert_eq!(owner_of("cordon-x"), None);
        assert_eq!(owner_of("other-4242"), None);
    }

    #[test]
    fn own_start_time_is_read() {
        assert!(start_time(std::process::id()).is_some());
    }

    /// A pids cgroup this process may make, planned; None (with the
    /// reason printed) where there is none: cgroup v1 is root's, and v2
    /// needs a delegated directory with the controller enabled.
    fn planned_pids(limit: u64) -> Option<(PreparedCgroup, PathBuf)> {
        let outcome = prepare(Request {
            pids: Some(limit),
            memory: None,
        });
        match outcome.pids {
            Some(Ok(dir)) => Some((outcome.prepared, dir)),
            other => {
                eprintln!("skipped: no pids cgroup this process may make: {other:?}");
                None
            }
        }
    }

    /// Planning makes nothing; the start makes the cgroup with its limit
    /// and opens the file a process joins through, which moves the process
    /// that writes "0" to it; the cgroup is removed when the plan goes. A
    /// name that exists when the start makes it is someone else's
    /// directory: the start is refused and that directory left alone.
    #[test]
    #[allow(unsafe_code)]
    fn the_start_makes_the_planned_cgroup_and_never_takes_one() {
        let Some((prepared, dir)) = planned_pids(8) else {
            return;
        };
        assert!(!dir.exists(), "{} made at planning", dir.display());
        assert!(prepared.join_fds().is_empty());

        fs::create_dir(&dir).unwrap();
        let err = prepared.make().unwrap_err();
        assert_eq!(err.key, None);
        assert!(err.to_string().contains("cannot be made"), "{err}");
        assert!(dir.is_dir(), "a directory cordon did not make was removed");
        assert!(prepared.join_fds().is_empty());
        fs::remove_dir(&dir).unwrap();

        prepared.make().unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("pids.max")).unwrap().trim(),
            "9"
        );
        let fds = prepared.join_fds();
        assert_eq!(fds.len(), 1);
        // SAFETY: the child only writes to a descriptor, sleeps and exits:
        // async-signal-safe calls.
        let child = match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = if join(&fds).is_ok() { 0 } else { 1 };
                std::thread::sleep(std::time::Duration::from_secs(5));
                // SAFETY: leaves the child without running the parent's
                // destructors.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => child,
        };
        let procs = dir.join("cgroup.procs");
        let mut joined = false;
        for _ in 0..200 {
            let members = fs::read_to_string(&procs).unwrap();
            if members.lines().any(|l| l == child.to_string()) {
                joined = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(child, None);
        assert!(joined, "the child is not in {}", dir.display());
        drop(prepared);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    /// A limit the kernel refuses when the cgroup is made refuses the
    /// start, naming the profile's key, and removes what was made.
    #[test]
    fn a_limit_the_kernel_refuses_at_the_start_refuses_it() {
        // Above the kernel's largest pid limit.
        let Some((prepared, dir)) = planned_pids(5_000_000) else {
            return;
        };
        let err = prepared.make().unwrap_err();
        assert_eq!(err.key, Some("nproc"));
        assert!(
            err.to_string()
                .starts_with("limits.nproc cannot be applied"),
            "{err}"
        );
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(prepared.join_fds().is_empty());
    }
}
