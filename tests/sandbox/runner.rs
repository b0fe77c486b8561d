//! The runner: modes, kernel features, the name filter, one line per case
//! and the summary.
//!
//! A case is skipped only when the kernel lacks a feature it needs, as
//! `cordon doctor` reports it for the mode's user; with `CI=true` or
//! `CORDON_TEST_REQUIRE` set, a skip counts as a failure.

use std::panic::AssertUnwindSafe;

use crate::support::{User, users};
use crate::world::{Case, Failure, Only, World};

/// Totals for the summary line.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// Runs the suite; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let filter = name_filter(args);
    let cases: Vec<Case> = crate::all_cases()
        .into_iter()
        .filter(|c| filter.as_ref().is_none_or(|f| c.name.contains(f.as_str())))
        .collect();
    let strict = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var_os("CORDON_TEST_REQUIRE").is_some();
    let mut tally = Tally::default();
    let modes = users().into_iter().flat_map(|u| [(u, true), (u, false)]);
    for (i, (user, ns)) in modes.enumerate() {
        let applicable: Vec<&Case> = cases.iter().filter(|c| applies(c.only, ns)).collect();
        if !applicable.is_empty() {
            run_mode(user, ns, i, &applicable, strict, &mut tally);
        }
    }
    println!(
        "
{}",
        crate::support::summary(tally.passed, tally.failed, tally.skipped)
    );
    i32::from(tally.failed > 0)
}

/// The first argument that is not a libtest flag (or a flag's value).
fn name_filter(args: &[String]) -> Option<String> {
    let mut args = args.iter();
    let mut filter = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--test-threads" | "--skip" | "--color" | "--format" | "--logfile"
            | "--shuffle-seed" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            name => {
                filter.get_or_insert_with(|| name.to_owned());
            }
        }
    }
    filter
}

fn applies(only: Only, ns: bool) -> bool {
    match only {
        Only::Both => true,
        Only::Ns => ns,
    }
}

fn run_mode(user: User, ns: bool, index: usize, cases: &[&Case], strict: bool, tally: &mut Tally) {
    let tag = format!("{:04}{index}", std::process::id() % 10_000);
    let mut world = World::new(user, ns, tag);
    let missing = detect(&mut world);
    let mode = format!(
        "[{}, {}]",
        user_label(user),
        if ns { "ns" } else { "no-ns" }
    );
    for case in cases {
        let outcome = match &missing {
            Some(failure) => Err(failure.clone()),
            None => run_case(case, &world),
        };
        let verdict = tally.record(outcome, strict);
        println!("test {} {mode} ... {verdict}", case.name);
    }
}

impl Tally {
    /// Counts `outcome` and says it: `ok`, `FAILED: …` or `SKIP: …`.
    fn record(&mut self, outcome: Result<(), Failure>, strict: bool) -> String {
        match outcome {
            Ok(()) => {
                self.passed += 1;
                "ok".to_owned()
            }
            Err(Failure::Skip(why)) if !strict => {
                self.skipped += 1;
                format!("SKIP: {why}")
            }
            Err(Failure::Skip(why)) => {
                self.failed += 1;
                let rule = "CI=true or CORDON_TEST_REQUIRE forbids skipping";
                format!("FAILED: would skip ({why}), but {rule}")
            }
            Err(Failure::Failed(why)) => {
                self.failed += 1;
                format!("FAILED: {why}")
            }
        }
    }
}

fn run_case(case: &Case, world: &World) -> Result<(), Failure> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| (case.run)(world))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(Failure::Failed(format!("panicked: {text}")))
        }
    }
}

fn user_label(user: User) -> String {
    match user {
        User::Nobody => "nobody".into(),
        User::Current if nix::unistd::getuid().is_root() => "root".into(),
        User::Current => {
            std::env::var("USER").unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid()))
        }
    }
}

/// Asks `cordon doctor` (as the mode's user) for the kernel features this
/// mode needs and records the Landlock ABI in the world. A missing feature
/// is a skip; a doctor that does not answer is a failure, never a skip.
fn detect(world: &mut World) -> Option<Failure> {
    let out = crate::invoke::run_timed(world.env.cordon(&["doctor"]), "cordon doctor".into());
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .map(str::to_owned)
    };
    let (Some(landlock), Some(seccomp), Some(namespaces)) =
        (line("landlock:"), line("seccomp:"), line("namespaces:"))
    else {
        return Some(Failure::Failed(format!(
            "cordon doctor did not report the kernel's features: {}",
            out.describe()
        )));
    };
    world.landlock_abi = landlock_abi(&landlock);
    let missing = if !landlock.starts_with("landlock: ok") {
        format!("kernel lacks Landlock (cordon doctor: {landlock})")
    } else if !seccomp.starts_with("seccomp: ok") {
        format!("kernel lacks seccomp filters (cordon doctor: {seccomp})")
    } else if world.ns && !namespaces.starts_with("namespaces: ok") {
        format!("kernel lacks unprivileged user namespaces (cordon doctor: {namespaces})")
    } else {
        return None;
    };
    Some(Failure::Skip(missing))
}

/// N in doctor's "landlock: ok, kernel ABI N; …" (0 when absent).
fn landlock_abi(line: &str) -> u32 {
    let digits = line.split("kernel ABI ").nth(1).unwrap_or("");
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().unwrap_or(0)
}
