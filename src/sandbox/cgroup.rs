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
//! Names: `cordon-<pid>-<start time>-<random>`, created with mkdir and
//! never reused (EEXIST picks another random part), so a cgroup left by a
//! cordon killed outright can never be taken for this run's. Each start
//! removes the `cordon-*` cgroups whose cordon is gone (rmdir fails on a
//! cgroup that still holds processes, so a live sandbox's stays), while
//! its init builds the sandbox ([`PreparedCgroup::remove_stale`]: off the
//! path to the server's start); each run removes its own when the
//! sandbox is gone.
//!
//! The sandbox's init joins through descriptors opened here: the child
//! only writes "0" to them. In a v1 hierarchy that file is `tasks`, which
//! moves the writing thread: init is single-threaded (a clone without
//! CLONE_THREAD, and it never starts a thread), so its one thread is the
//! whole process, and everything it starts inherits the cgroup. Moving a
//! whole process through `cgroup.procs` write-locks the kernel's global
//! threadgroup semaphore, which waits for an RCU grace period (10-15 ms
//! on a busy machine, once per start); moving the calling thread alone
//! takes no such lock (kernel 6.0 and later; older kernels take it
//! either way).

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys::{self, SysResult};

/// The prefix of every cgroup cordon creates.
const PREFIX: &str = "cordon-";

/// One cgroup this run created, and its open `cgroup.procs` (v2) or
/// `tasks` (v1): the file init joins through.
#[derive(Debug)]
struct Group {
    dir: PathBuf,
    procs: OwnedFd,
}

impl Drop for Group {
    fn drop(&mut self) {
        // Empty once the sandbox is gone, though the kernel may still be
        // tearing down the last processes of the pid namespace for a
        // moment; a final failure leaves an empty directory behind, which
        // the next start removes.
        for _ in 0..50 {
            match fs::remove_dir(&self.dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => return,
            }
        }
    }
}

/// The cgroups the sandbox's init joins (one per hierarchy).
#[derive(Debug, Default)]
pub struct PreparedCgroup {
    groups: Vec<Group>,
}

impl PreparedCgroup {
    /// Child side: move the calling process (the sandbox's init) into every
    /// cgroup; everything it starts inherits them.
    pub fn apply(&self) -> SysResult<()> {
        for group in &self.groups {
            sys::write_all(group.procs.as_raw_fd(), b"0")?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Removes the `cordon-*` cgroups left beside this run's by a cordon
    /// that is gone. Best effort and for tidiness only: names are never
    /// reused, so a leftover is never taken for this run's; called while
    /// init builds the sandbox, so the start does not wait for it.
    pub fn remove_stale(&self) {
        for group in &self.groups {
            if let Some(parent) = group.dir.parent() {
                remove_stale(parent);
            }
        }
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

/// The cgroups made for a [`Request`], and for each controller asked for,
/// where it holds the limit or why it could not be applied.
#[derive(Debug, Default)]
pub struct Outcome {
    pub prepared: PreparedCgroup,
    pub pids: Option<Result<PathBuf, String>>,
    pub memory: Option<Result<PathBuf, String>>,
}

/// Makes the cgroups for `request` (stale ones are removed later, by
/// [`PreparedCgroup::remove_stale`]).
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
    let mut v2_wanted: Vec<(&'static str, u64)> = Vec::new();
    for (controller, limit) in [("pids", request.pids), ("memory", request.memory)] {
        let Some(limit) = limit else { continue };
        let v1 = hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller));
        let result = match v1 {
            Some(h) => make_v1(&h.dir, controller, limit, &mut outcome.prepared),
            None => {
                v2_wanted.push((controller, limit));
                continue;
            }
        };
        *slot(&mut outcome, controller) = Some(result);
    }
    if !v2_wanted.is_empty() {
        let result = make_v2(&hierarchies, &v2_wanted, &mut outcome.prepared);
        for (controller, _) in &v2_wanted {
            *slot(&mut outcome, controller) = Some(result.clone());
        }
    }
    outcome
}

fn slot<'o>(outcome: &'o mut Outcome, controller: &str) -> &'o mut Option<Result<PathBuf, String>> {
    if controller == "pids" {
        &mut outcome.pids
    } else {
        &mut outcome.memory
    }
}

/// A cgroup v1 child of cordon's own cgroup in the `controller` hierarchy.
fn make_v1(
    own: &Path,
    controller: &str,
    limit: u64,
    prepared: &mut PreparedCgroup,
) -> Result<PathBuf, String> {
    if !writable(own) {
        return Err(format!(
            "the {controller} hierarchy at {} is not writable (cgroup v1 is root's)",
            own.display()
        ));
    }
    let group = create_unique(own, "tasks")?;
    let dir = group.dir.clone();
    match controller {
        // Init counts too.
        "pids" => write_limit(&dir, "pids.max", limit.saturating_add(1))?,
        _ => {
            write_limit(&dir, "memory.limit_in_bytes", limit)?;
            // With swap accounting, memory plus swap gets the same bound:
            // the server cannot swap its way past the limit.
            write_optional_limit(&dir, "memory.memsw.limit_in_bytes", limit)?;
        }
    }
    prepared.groups.push(group);
    Ok(dir)
}

/// One cgroup v2 directory holding every controller in `wanted`.
fn make_v2(
    hierarchies: &[Hierarchy],
    wanted: &[(&'static str, u64)],
    prepared: &mut PreparedCgroup,
) -> Result<PathBuf, String> {
    let names: Vec<&str> = wanted.iter().map(|(c, _)| *c).collect();
    let Some(v2) = hierarchies.iter().find(|h| h.unified) else {
        return Err(format!(
            "no {} cgroup controller is available to this process",
            names.join(" or ")
        ));
    };
    let parent = v2_parent(&v2.dir, &names)?;
    let group = create_unique(&parent, "cgroup.procs")?;
    let dir = group.dir.clone();
    for (controller, limit) in wanted {
        match *controller {
            "pids" => write_limit(&dir, "pids.max", limit.saturating_add(1))?,
            _ => {
                write_limit(&dir, "memory.max", *limit)?;
                write_optional_limit(&dir, "memory.swap.max", 0)?;
            }
        }
    }
    prepared.groups.push(group);
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

fn write_limit(dir: &Path, file: &str, value: u64) -> Result<(), String> {
    write_control(dir, file, value).map_err(|e| refused(dir, file, value, &e))
}

/// [`write_limit`] for a file the kernel shows only with an option
/// (swap accounting): a missing file is skipped, no stat first.
fn write_optional_limit(dir: &Path, file: &str, value: u64) -> Result<(), String> {
    match write_control(dir, file, value) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|e| refused(dir, file, value, &e)),
    }
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

/// mkdir `cordon-<pid>-<start>-<random>` below `parent`, and open its
/// `join` file; a name that exists is never reused.
fn create_unique(parent: &Path, join: &str) -> Result<Group, String> {
    let owner = own_identity();
    let mut last = String::new();
    for _ in 0..16 {
        let dir = parent.join(format!("{PREFIX}{owner}-{:08x}", random_u32()));
        match fs::create_dir(&dir) {
            Ok(()) => {
                let procs = fs::OpenOptions::new().write(true).open(dir.join(join));
                return match procs {
                    Ok(procs) => Ok(Group {
                        dir,
                        procs: procs.into(),
                    }),
                    Err(e) => {
                        let _ = fs::remove_dir(&dir);
                        Err(format!("cannot open {}/{join}: {e}", dir.display()))
                    }
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = format!("{} exists", dir.display());
            }
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "no free cgroup name below {}: {last}",
        parent.display()
    ))
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
        // The name stays unique without it (mkdir refuses a taken one).
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
}
