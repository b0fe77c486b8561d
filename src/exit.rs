//! cordon's exit statuses: a documented contract (see README.md).
//!
//! When the server ran, cordon exits with the server's own status, or
//! 128+N when it died of signal N. Otherwise:

/// Consent was refused at the prompt, or could not be asked (no terminal
/// and no `--yes`).
pub const CONSENT_REFUSED: u8 = 124;
/// cordon itself failed: bad usage, profile, sandbox setup, relay.
pub const CORDON_FAILED: u8 = 125;
/// The command was found but cannot be executed.
pub const NOT_EXECUTABLE: u8 = 126;
/// The command was not found.
pub const NOT_FOUND: u8 = 127;
