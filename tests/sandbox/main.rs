//! The sandbox escape suite (harness = false, birdcage's pattern).
//!
//! This binary is two programs. With `--probe ACTION ARGS…` it is the
//! probe that cordon starts inside its sandbox (`probe.rs`): it tries one
//! thing and answers `ok <detail>` or `err <ERRNO>` (in a JSON-RPC
//! notification, the only kind of line cordon relays unasked). Otherwise
//! it is the runner (`runner.rs`): for every mode (the current user, plus
//! `nobody` when run as root, each with and without namespaces) it builds
//! a world (`world.rs`) and runs every case, each asserting that a
//! forbidden action fails and a nearby allowed one succeeds.
//!
//! `cargo test --test sandbox -- FILTER` runs the cases whose name
//! contains FILTER.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

#[path = "../support/mod.rs"]
mod support;

mod explain;
mod fs;
mod invoke;
mod learn;
mod net;
mod probe;
mod probe_meta;
mod probe_sys;
mod process;
mod protect;
mod regressions;
mod resources;
mod runner;
mod seccomp;
mod world;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--probe") {
        probe::main(&args[1..]);
    }
    std::process::exit(runner::main(&args));
}

/// Every case, in the order they run.
fn all_cases() -> Vec<world::Case> {
    [
        fs::cases(),
        protect::cases(),
        net::cases(),
        seccomp::cases(),
        process::cases(),
        resources::cases(),
        regressions::cases(),
        explain::cases(),
        learn::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
