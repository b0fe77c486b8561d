//! Network mode `filtered`, proved with real processes on a test network
//! that lives entirely on this machine (harness = false).
//!
//! This binary is two programs: with `--probe ACTION…` it is the probe
//! cordon starts inside the sandbox (`probe.rs`); otherwise it is the
//! runner. As root, the runner builds the test network (`net.rs`: two test
//! hosts in network namespaces, a server on the host's loopback, a DNS
//! responder cordon's forwarder is pointed at), then runs every case as
//! root and as nobody. Each case asserts that an allowed destination is
//! reached and that a forbidden one is refused, reported, and never
//! reached (the servers log every peer). No packet and no name lookup goes
//! anywhere but this machine.
//!
//! Without root (or `ip`, or user namespaces) the suite prints SKIP and the
//! reason; with `CI=true` or `CORDON_TEST_REQUIRE` set that is a failure.
//! `cargo test --test egress -- FILTER` runs the cases whose name contains
//! FILTER.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

#[path = "../support/mod.rs"]
mod support;

mod cases;
mod net;
mod probe;
mod world;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--probe") {
        probe::main(&args[1..]);
    }
    std::process::exit(run(&args));
}

fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var_os("CORDON_TEST_REQUIRE").is_some()
}

fn run(args: &[String]) -> i32 {
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    if let Err(why) = world::prerequisites() {
        if strict() {
            println!(
                "egress: FAILED: would skip ({why}), but CI=true or CORDON_TEST_REQUIRE forbids skipping"
            );
            return 1;
        }
        println!("egress: SKIP ({why})");
        return 0;
    }
    let world = match world::World::build() {
        Ok(w) => w,
        Err(e) => {
            println!("egress: FAILED: cannot build the test network: {e}");
            return 1;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for user in support::users() {
        let ctx = world::Ctx::new(&world, user);
        for (name, case) in cases::ALL {
            if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
                continue;
            }
            world.clear_logs();
            match case(&ctx) {
                Ok(()) => {
                    passed += 1;
                    println!("test egress::{name} ({user:?}) ... ok");
                }
                Err(e) => {
                    failed += 1;
                    println!("test egress::{name} ({user:?}) ... FAILED\n    {e}");
                }
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    i32::from(failed > 0)
}
