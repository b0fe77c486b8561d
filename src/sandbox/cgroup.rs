//! A pids cgroup for servers started by root.
//!
//! The kernel never applies RLIMIT_NPROC to uid 0, so when cordon runs as
//! root the process limit is enforced by a child cgroup of the pids
//! controller instead (v1 or v2). The sandbox's init joins it before the
//! server starts, through a descriptor opened here; cordon removes the
//! cgroup when the sandbox is gone.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys::{self, SysResult};

/// The cgroup, and the open `cgroup.procs` the child writes "0" to.
#[derive(Debug)]
pub struct PreparedCgroup {
    dir: PathBuf,
    procs: OwnedFd,
}

impl PreparedCgroup {
    /// Child side: move the calling process (the sandbox's init) into the
    /// cgroup; everything it starts inherits it.
    pub fn apply(&self) -> SysResult<()> {
        sys::write_all(self.procs.as_raw_fd(), b"0")
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PreparedCgroup {
    fn drop(&mut self) {
        // Empty once the sandbox is gone, though the kernel may still be
        // tearing down the last processes of the pid namespace for a
        // moment; a final failure leaves an empty directory behind.
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

/// Where the pids controller of this process lives: (mount, own path).
fn pids_hierarchy() -> Option<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let v1 = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "pids")
            .then(|| path.to_owned())
    });
    if let Some(path) = v1 {
        let base = Path::new("/sys/fs/cgroup/pids");
        return Some(base.join(path.trim_start_matches('/')));
    }
    let v2 = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new("/sys/fs/cgroup").join(v2.trim_start_matches('/'));
    let controllers = fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
    controllers
        .split_whitespace()
        .any(|c| c == "pids")
        .then_some(dir)
}

/// Creates `cordon-<pid>` with `pids.max = limit + 1` (init counts too).
pub fn prepare(limit: u64) -> Result<PreparedCgroup, String> {
    let parent =
        pids_hierarchy().ok_or("no pids cgroup controller is available to this process")?;
    let dir = parent.join(format!("cordon-{}", std::process::id()));
    fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let cleanup = |e: String| {
        let _ = fs::remove_dir(&dir);
        e
    };
    fs::write(dir.join("pids.max"), format!("{}", limit.saturating_add(1)))
        .map_err(|e| cleanup(format!("cannot set {}/pids.max: {e}", dir.display())))?;
    let procs = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
        .map_err(|e| cleanup(format!("cannot open {}/cgroup.procs: {e}", dir.display())))?;
    Ok(PreparedCgroup {
        dir,
        procs: procs.into(),
    })
}
