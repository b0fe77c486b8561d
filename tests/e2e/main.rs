//! End-to-end tests (harness = false): the real MCP servers cordon ships
//! profiles for, each started under its profile with
//! `cordon run --yes -p NAME … -- COMMAND` and driven by the official MCP
//! Python SDK (`client.py`): initialize, list tools, real tool calls whose
//! results are checked (on the host too, where they change files), one
//! thing the server can be asked to do that its profile does not grant and
//! that must fail, a clean shutdown, and cordon's exit status 0.
//!
//! What the tests need is installed by `scripts/e2e-setup.sh` (run by
//! scripts/test.sh): the servers pinned in `servers.txt`, into npm's and
//! uv's caches of a seed home, every npm package they need packed into a
//! mirror (served on loopback while the suite runs, as npm's registry:
//! cordon installs the npx servers from there into its store), and the
//! SDK. Each user the suite runs as
//! (the current one, and `nobody` when run as root) gets a copy of that
//! home with npm and uv set to offline: no test downloads anything.
//!
//! As root the whole suite runs in a network and mount namespace of its
//! own (`setup::Isolation`): only a private loopback exists, so nothing
//! can reach a registry or the internet, and the web the fetch and github
//! servers reach is a local stand-in (`fixture.py`). Unprivileged, the
//! cases that need that are skipped with the reason, and fail the run
//! when CI=true or CORDON_TEST_REQUIRE is set.
//!
//! `cargo test --test e2e -- FILTER` runs the cases whose name contains
//! FILTER.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../support/mod.rs"]
mod support;

mod fixture;
mod init;
mod journey;
mod learn;
mod npm;
mod pypi;
mod session;
mod setup;
mod world;

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use setup::{Isolation, Setup};
use world::World;

/// One case: a server (or a launch form of one) under its profile.
#[derive(Clone)]
pub struct Case {
    pub name: &'static str,
    /// What is started, for the heading.
    pub about: &'static str,
    /// Needs the suite's own network (local web stand-ins).
    pub needs_network: bool,
    pub run: fn(&World<'_>) -> Result<(), String>,
}

/// One verified claim: printed when it holds, the error otherwise.
pub fn check(holds: bool, claim: &str, otherwise: impl FnOnce() -> String) -> Result<(), String> {
    if holds {
        println!("      ok  {claim}");
        Ok(())
    } else {
        Err(format!("{claim}: NOT SO: {}", otherwise()))
    }
}

fn all_cases() -> Vec<Case> {
    [
        npm::cases(),
        pypi::cases(),
        init::cases(),
        learn::cases(),
        journey::cases(),
    ]
    .concat()
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let strict = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var_os("CORDON_TEST_REQUIRE").is_some();
    let cases: Vec<Case> = all_cases()
        .into_iter()
        .filter(|c| filter.as_ref().is_none_or(|f| c.name.contains(f.as_str())))
        .collect();
    let mut tally = Tally::default();
    let mut setup = match Setup::find() {
        Ok(setup) => setup,
        Err(why) => {
            println!("e2e: every case skipped: {why}");
            skip_all(&cases, strict, &mut tally);
            finish(&tally);
        }
    };
    let isolation = if nix::unistd::getuid().is_root() {
        match Isolation::enter(&setup) {
            Ok(iso) => {
                println!(
                    "e2e: running in a private network namespace (loopback only) with local web stand-ins"
                );
                Some(iso)
            }
            Err(why) => {
                println!("e2e: cannot enter a private network namespace: {why}");
                None
            }
        }
    } else {
        println!(
            "e2e: not root: no private network; the cases that need local web stand-ins are skipped"
        );
        None
    };
    // npm's registry for the suite: the mirror e2e-setup packed, served
    // on the suite's loopback. Approving (here `run --yes`) an npx server
    // installs it from there into cordon's store.
    let registry = support::registry::Registry::start();
    let tarballs: Vec<std::path::PathBuf> = std::fs::read_dir(setup.dir.join("npm-mirror"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
                .collect()
        })
        .unwrap_or_default();
    registry.add_tarballs(&tarballs);
    // uvx servers are installed the same way, from the wheels e2e-setup
    // mirrored, served as a simple index by the same registry.
    if let Err(why) = setup.serve_wheels(&registry) {
        println!("e2e: cannot serve the wheels of the uvx servers: {why}");
    }
    let setup = setup;
    for user in support::users() {
        let world = match World::new(user, &setup, isolation.as_ref(), &registry.npm_url()) {
            Ok(w) => w,
            Err(why) => {
                println!("e2e: cannot prepare a home for {user:?}: {why}");
                tally.failed += cases.len();
                continue;
            }
        };
        for case in &cases {
            run_case(case, &world, strict, &mut tally);
        }
    }
    // finish() exits: remove the network's temporary files first.
    drop(registry);
    drop(isolation);
    finish(&tally);
}

fn run_case(case: &Case, world: &World<'_>, strict: bool, tally: &mut Tally) {
    println!("\n[{}] {}: {}", world.label(), case.name, case.about);
    if case.needs_network && world.isolation.is_none() {
        let verdict = if strict {
            "FAILED (required)"
        } else {
            "skipped"
        };
        println!("    {verdict}: needs the suite's own network namespace (run as root)");
        if strict {
            tally.failed += 1;
        } else {
            tally.skipped += 1;
        }
        return;
    }
    let started = Instant::now();
    let outcome =
        std::panic::catch_unwind(AssertUnwindSafe(|| (case.run)(world))).unwrap_or_else(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!("panicked: {text}"))
        });
    let secs = started.elapsed().as_secs_f32();
    match outcome {
        Ok(()) => {
            tally.passed += 1;
            println!("    passed ({secs:.1}s)");
        }
        Err(why) => {
            tally.failed += 1;
            println!("    FAILED ({secs:.1}s): {}", world.short(&why));
            if let Some(path) = world.last_stderr.borrow().as_ref() {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                // The consent text (indented) is long and the same every
                // time; the rest is cordon's and the server's own output.
                let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("  ")).collect();
                println!("    stderr of the last session:");
                for line in &lines[lines.len().saturating_sub(25)..] {
                    println!("      | {line}");
                }
            }
        }
    }
}

fn skip_all(cases: &[Case], strict: bool, tally: &mut Tally) {
    if strict {
        tally.failed += cases.len();
    } else {
        tally.skipped += cases.len();
    }
}

fn finish(tally: &Tally) -> ! {
    println!(
        "
{}",
        crate::support::summary(tally.passed, tally.failed, tally.skipped)
    );
    std::process::exit(i32::from(tally.failed > 0));
}
