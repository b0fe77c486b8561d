//! The server's environment, rebuilt from an allowlist.
//!
//! Nothing of cordon's environment reaches the server unless named: the
//! base set below, then the profile's and `--env` names. The dynamic
//! loader's variables (`LD_*`) are never passed, whatever is named.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::SandboxError;
use crate::policy::Policy;

/// Passed when set: what almost every program needs to run and to print.
pub const BASE: [&str; 4] = ["PATH", "HOME", "LANG", "TERM"];

fn passes(name: &str, policy: &Policy) -> bool {
    if name.starts_with("LD_") {
        return false;
    }
    BASE.contains(&name) || name.starts_with("LC_") || policy.env.pass.iter().any(|p| p == name)
}

/// Builds `NAME=value` strings for execve from `vars` (cordon's own
/// environment). `tmp` is the private temporary directory as the server
/// sees it.
pub fn build(
    policy: &Policy,
    tmp: Option<&Path>,
    vars: &mut dyn Iterator<Item = (OsString, OsString)>,
) -> Result<Vec<CString>, SandboxError> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    for (name, value) in vars {
        if name.to_str().is_some_and(|n| passes(n, policy)) {
            env.insert(name, value);
        }
    }
    if let Some(tmp) = tmp {
        env.insert("TMPDIR".into(), tmp.as_os_str().to_owned());
    }
    // Network `filtered`: proxy-aware clients go to cordon's proxy; the
    // profile's own values below still win.
    for (name, value) in super::egress::proxy_env(policy) {
        env.insert(name.into(), value.into());
    }
    for (name, value) in &policy.env.set {
        env.insert(name.into(), value.clone());
    }
    env.into_iter()
        .map(|(name, value)| {
            let mut bytes = name.as_bytes().to_vec();
            bytes.push(b'=');
            bytes.extend_from_slice(value.as_bytes());
            CString::new(bytes).map_err(|_| SandboxError::Nul(name.into()))
        })
        .collect()
}
