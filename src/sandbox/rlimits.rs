//! Resource limits applied to the server (soft and hard alike, so the
//! server cannot raise them again).

use crate::policy::Limits;

/// The (resource, value) pairs the child sets, in a fixed order.
pub fn table(limits: &Limits) -> Vec<(libc::__rlimit_resource_t, u64)> {
    let unlimited = libc::RLIM_INFINITY;
    vec![
        (libc::RLIMIT_CORE, limits.core),
        (libc::RLIMIT_NOFILE, limits.nofile),
        (libc::RLIMIT_NPROC, limits.nproc),
        (libc::RLIMIT_AS, limits.address_space.unwrap_or(unlimited)),
        (libc::RLIMIT_FSIZE, limits.fsize.unwrap_or(unlimited)),
        (libc::RLIMIT_CPU, limits.cpu.unwrap_or(unlimited)),
    ]
}

/// The name of a resource, for error messages.
pub fn name(resource: libc::__rlimit_resource_t) -> &'static str {
    match resource {
        libc::RLIMIT_CORE => "core",
        libc::RLIMIT_NOFILE => "nofile",
        libc::RLIMIT_NPROC => "nproc",
        libc::RLIMIT_AS => "address_space",
        libc::RLIMIT_FSIZE => "fsize",
        libc::RLIMIT_CPU => "cpu",
        _ => "unknown",
    }
}
