//! The server's private temporary directory on the host:
//! `$TMPDIR/cordon-tmp-<cordon's pid>-XXXXXX`, mode 0700, removed when
//! cordon ends. A cordon killed outright (SIGKILL, a crash) cannot remove
//! its own, so each start first removes those of its user whose cordon is
//! gone.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const PREFIX: &str = "cordon-tmp-";

/// Creates this run's directory, after removing stale ones.
pub fn create() -> std::io::Result<tempfile::TempDir> {
    let parent = std::env::temp_dir();
    remove_stale(&parent);
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        // Only its owner may enter: other local users must not read or
        // plant files in the server's /tmp.
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
}

/// Removes `cordon-tmp-<pid>-…` directories owned by this user whose pid no
/// longer exists. Best effort: what cannot be read or removed stays.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(stale_pid) else {
            continue;
        };
        let owned = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me);
        let gone = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if owned && gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The pid in `cordon-tmp-<pid>-XXXXXX`.
fn stale_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok().filter(|p| *p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_pid() {
        assert_eq!(stale_pid("cordon-tmp-4242-aBc123"), Some(4242));
        assert_eq!(stale_pid("cordon-tmp-aBc123"), None);
        assert_eq!(stale_pid("other-4242-x"), None);
    }
}
