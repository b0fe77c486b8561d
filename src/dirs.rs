//! Where cordon's own directories are, decided in one place.
//!
//! The home directory is `$HOME` (else the password database). The XDG
//! bases are `$XDG_CONFIG_HOME`, `$XDG_STATE_HOME` and `$XDG_DATA_HOME`
//! when they hold an absolute path, as the XDG specification asks (an
//! unset, empty or relative value is ignored), else `~/.config`,
//! `~/.local/state` and `~/.local/share`. cordon keeps profiles in
//! `<config>/cordon`, everything it records (approvals, pins, audit logs
//! and their heads) in `<state>/cordon`, and the packages it installs for
//! servers in `<data>/cordon/store`.
//! Every reader of these variables asks [`Dirs`]; the files inside are
//! read and written through [`crate::files`].

use std::path::{Path, PathBuf};

/// The user's home, the XDG bases cordon uses, and cordon's directories
/// in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, default `~/.config`: hosts (Claude Desktop,
    /// VS Code) keep their configuration here too.
    pub config_home: PathBuf,
    /// `$XDG_CONFIG_HOME/cordon`: profiles (`profiles/`).
    pub config: PathBuf,
    /// `$XDG_STATE_HOME/cordon`: approvals, pins, audit logs, audit heads.
    pub state: PathBuf,
    /// `$XDG_DATA_HOME/cordon`: the package store (`store/`).
    pub data: PathBuf,
}

/// Names inside the state directory.
pub const APPROVALS: &str = "approvals.json";
pub const APPROVALS_LOCK: &str = "approvals.lock";
pub const PINS: &str = "pins";
pub const AUDIT: &str = "audit";
pub const AUDIT_HEADS: &str = "audit-heads";
/// Digests of executables and scripts, by inode and timestamps.
pub const DIGESTS: &str = "digests";
/// The package store inside the data directory.
pub const STORE: &str = "store";

impl Dirs {
    /// The directories of the user whose home is `home`, from the
    /// environment.
    pub fn for_home(home: &Path) -> Dirs {
        let config_home = absolute_var("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
        let state_home =
            absolute_var("XDG_STATE_HOME").unwrap_or_else(|| home.join(".local/state"));
        let data_home = absolute_var("XDG_DATA_HOME").unwrap_or_else(|| home.join(".local/share"));
        Dirs {
            home: home.to_path_buf(),
            config: config_home.join("cordon"),
            config_home,
            state: state_home.join("cordon"),
            data: data_home.join("cordon"),
        }
    }

    /// The directories of the current user.
    pub fn from_env() -> Result<Dirs, HomeError> {
        Ok(Dirs::for_home(&home()?))
    }

    /// Where profiles are looked up first.
    pub fn profiles(&self) -> PathBuf {
        self.config.join("profiles")
    }

    /// The package store: installed packages, read-only once sealed.
    pub fn store(&self) -> PathBuf {
        self.data.join(STORE)
    }

    /// The paths the sandbox protects.
    pub fn host_paths(&self) -> HostPaths {
        HostPaths {
            home: self.home.clone(),
            config: self.config.clone(),
            state: self.state.clone(),
            store: self.store(),
        }
    }
}

/// The home directory could not be found.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HomeError(pub String);

/// `$HOME` when absolute, else the password database's entry for the
/// real uid.
pub fn home() -> Result<PathBuf, HomeError> {
    if let Some(home) = absolute_var("HOME") {
        return Ok(home);
    }
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) if user.dir.is_absolute() => Ok(user.dir),
        Ok(_) => Err(HomeError(format!(
            "$HOME is not set and uid {uid} has no home in the password database"
        ))),
        Err(err) => Err(HomeError(format!(
            "$HOME is not set and the password database failed: {err}"
        ))),
    }
}

/// An environment variable holding an absolute path; unset, empty or
/// relative values are ignored, as the XDG specification asks.
pub fn absolute_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}
/// Where cordon's own files and the user's home are, as the sandbox
/// protects them.
#[derive(Debug, Clone)]
pub struct HostPaths {
    pub home: PathBuf,
    /// cordon's configuration (profiles): `$XDG_CONFIG_HOME/cordon`.
    pub config: PathBuf,
    /// cordon's state (approvals, pins, audit logs): `$XDG_STATE_HOME/cordon`.
    pub state: PathBuf,
    /// The package store: `$XDG_DATA_HOME/cordon/store`. Read-only inside
    /// every writable grant; a server gets only its own entry, read+exec.
    pub store: PathBuf,
}
