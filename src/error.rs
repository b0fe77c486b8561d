//! The top-level error: every module's error, its exit status, and its
//! one rendering on stderr (`cordon: error: …`, then `caused by:` and
//! `hint:` lines).

use std::error::Error as _;
use std::io::Write;

use crate::consent::ConsentError;
use crate::egress::EgressError;
use crate::exit;
use crate::hostconfig::HostConfigError;
use crate::launch::LaunchError;
use crate::profile::ProfileError;
use crate::sandbox::SandboxError;
use crate::session::SessionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Consent(#[from] ConsentError),
    #[error("consent refused: nothing was run")]
    Refused,
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Mcp(#[from] crate::mcp::McpError),
    #[error(transparent)]
    HostConfig(#[from] HostConfigError),
    #[error(transparent)]
    Egress(#[from] EgressError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Learn(#[from] crate::learn::LearnError),
    #[error("{0}")]
    Usage(String),
    #[error("{what}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Consent(
                ConsentError::Store(_) | ConsentError::Bind { .. } | ConsentError::Io { .. },
            ) => exit::CORDON_FAILED,
            Error::Consent(_) | Error::Refused => exit::CONSENT_REFUSED,
            Error::Launch(LaunchError::NotFound { .. }) => exit::NOT_FOUND,
            Error::Launch(LaunchError::NotExecutable { .. }) => exit::NOT_EXECUTABLE,
            Error::Launch(LaunchError::Setup {
                step: crate::launch::status::Step::Exec,
                errno,
                ..
            }) => {
                if *errno == nix::errno::Errno::ENOENT {
                    exit::NOT_FOUND
                } else {
                    exit::NOT_EXECUTABLE
                }
            }
            _ => exit::CORDON_FAILED,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Error::Sandbox(e) | Error::Launch(LaunchError::Sandbox(e)) => {
                e.hint().map(str::to_owned)
            }
            Error::Consent(e) => e.hint(),
            Error::HostConfig(e) => e.hint().map(str::to_owned),
            Error::Store(e) => e.hint(),
            Error::Launch(LaunchError::Setup { step: crate::launch::status::Step::Exec, errno, .. })
                if *errno == nix::errno::Errno::ENOENT =>
            {
                Some("the executable or its interpreter/loader is not visible inside the sandbox: grant its directory with --ro or in the profile".into())
            }
            _ => None,
        }
    }
}

/// Prints the error once, with its causes and a hint, to stderr.
pub fn report(err: &Error) {
    let mut text = format!("cordon: error: {err}\n");
    // `transparent` variants pass source() through to the inner error.
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!("  caused by: {cause}\n"));
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        text.push_str(&format!("  hint: {hint}\n"));
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}
