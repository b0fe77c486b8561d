//! Diagnostics: tracing to stderr only (stdout belongs to the protocol).

use tracing_subscriber::EnvFilter;

/// `-v` raises the level step by step; `CORDON_LOG` (a tracing filter such
/// as `debug` or `cordon::session=trace`) overrides it.
pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("CORDON_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
