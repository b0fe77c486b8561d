//! Resource limits applied to the server (soft and hard alike, so the
//! server cannot raise them again).

use crate::policy::Limits;

/// The (resource, value) pairs the child sets, in a fixed order.
/// `data` is the memory bound for each process (RLIMIT_DATA), given when
/// no memory cgroup holds the sandbox's: since Linux 4.7 it counts every
/// private writable mapping (heap, anonymous mmap), so an allocation past
/// it fails with ENOMEM, while the large PROT_NONE reservations of
/// runtimes like V8 do not count (RLIMIT_AS does, and stops node).
pub fn table(limits: &Limits, data: Option<u64>) -> Vec<(libc::__rlimit_resource_t, u64)> {
    let unlimited = libc::RLIM_INFINITY;
    let mut table = vec![
        (libc::RLIMIT_CORE, limits.core),
        (libc::RLIMIT_NOFILE, limits.nofile),
        (libc::RLIMIT_NPROC, limits.nproc),
        (libc::RLIMIT_AS, limits.address_space.unwrap_or(unlimited)),
        (libc::RLIMIT_FSIZE, limits.fsize.unwrap_or(unlimited)),
        (libc::RLIMIT_CPU, limits.cpu.unwrap_or(unlimited)),
    ];
    // Left alone without a bound: a user's own hard RLIMIT_DATA stays (and
    // cordon does not fail trying to raise it).
    if let Some(data) = data {
        table.push((libc::RLIMIT_DATA, data));
    }
    table
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
        libc::RLIMIT_DATA => "memory (data)",
        _ => "unknown",
    }
}

/// A byte count for the enforcement report: in the largest binary unit
/// that divides it exactly (`4 GiB`), else in bytes.
pub fn show_bytes(n: u64) -> String {
    for (unit, size) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if n >= size && n % size == 0 {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_exact_units() {
        assert_eq!(show_bytes(4 << 30), "4 GiB");
        assert_eq!(show_bytes(1536 << 20), "1536 MiB");
        assert_eq!(show_bytes(1000), "1000 bytes");
    }
}
