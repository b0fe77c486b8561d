//! Resources: the size of the private /tmp, the memory bound, the process
//! limit after a cordon was killed outright, and limits that cannot be
//! applied (refused, never silently dropped).
//!
//! As root cordon holds the process limit and the memory bound in cgroups
//! (the kernel exempts root from RLIMIT_NPROC); as `nobody` in rlimits.
//! Which one a run used is read from cordon's enforcement report and the
//! outcome asserted to match it: OOM-killed in a memory cgroup, ENOMEM
//! under RLIMIT_DATA.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::process::Command;

use crate::invoke::{Probe, cordon_pid, kill_tree, run_timed, sigkill};
use crate::support::{eventually, sleepers, spawn};
use crate::world::{Case, CaseResult, Only, World, ensure};

const MIB: u64 = 1 << 20;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("tmp_size_bounded", Only::Both, tmp_size_bounded),
        Case::new(
            "tmp_size_bounds_the_sum",
            Only::Both,
            tmp_size_bounds_the_sum,
        ),
        Case::new(
            "tmp_default_is_a_sized_tmpfs",
            Only::Ns,
            tmp_default_is_a_sized_tmpfs,
        ),
        Case::new("memory_limit_bounded", Only::Both, memory_limit_bounded),
        Case::new(
            "memory_limit_in_pieces_and_runtimes_start",
            Only::Both,
            memory_limit_in_pieces_and_runtimes_start,
        ),
        Case::new(
            "nproc_after_killed_cordon",
            Only::Both,
            nproc_after_killed_cordon,
        ),
        Case::new(
            "stale_cgroups_removed_live_kept",
            Only::Both,
            stale_cgroups_removed_live_kept,
        ),
        Case::new(
            "nproc_without_pids_controller_fails_closed",
            Only::Both,
            nproc_without_pids_controller_fails_closed,
        ),
        Case::new(
            "limit_the_kernel_refuses_fails_closed",
            Only::Both,
            limit_the_kernel_refuses_fails_closed,
        ),
    ]
}

fn mib(n: u64) -> String {
    (n * MIB).to_string()
}

/// cordon refused to start (exit 125, no answer) and said why, naming `key`.
fn refused(run: &Probe, key: &str) -> Result<(), String> {
    ensure(
        run.code == Some(125) && run.stdout.is_empty() && run.stderr.contains(key),
        || {
            format!(
                "expected a refusal naming {key} (exit 125): {}",
                run.describe()
            )
        },
    )
}

/// `[limits] tmp = "8M"`: with namespaces a 32 MiB file in /tmp fails
/// with ENOSPC and a 4 MiB one fits. Without namespaces the bound cannot
/// be applied: the profile is refused, and starts with
/// `enforce = "best-effort"`, saying the bound is not enforced.
fn tmp_size_bounded(w: &World) -> CaseResult {
    let profile = w.profile("tmp8", "[limits]\ntmp = \"8M\"\n");
    let run = |action: &[&str]| w.sandbox().profile(&profile).probe(action);
    if !w.ns {
        refused(&run(&["fill", "$TMPDIR/small", &mib(4)]), "limits.tmp")?;
        let lenient = w.profile(
            "tmp8-best-effort",
            "[limits]\ntmp = \"8M\"\nenforce = \"best-effort\"\n",
        );
        let started = w
            .sandbox()
            .profile(&lenient)
            .probe(&["fill", "$TMPDIR/small", &mib(4)]);
        started.ok()?;
        ensure(
            started.stderr.contains("limits: tmp") && started.stderr.contains("degraded:"),
            || {
                format!(
                    "best-effort /tmp bound not reported: {}",
                    started.describe()
                )
            },
        )?;
        return Ok(());
    }
    run(&["fill", "$TMPDIR/big", &mib(32)]).errno("ENOSPC")?;
    run(&["fill", "$TMPDIR/small", &mib(4)]).ok()?;
    Ok(())
}

/// Sixteen 1 MiB files in an 8 MiB /tmp: the sum is bounded, not each file
/// (RLIMIT_FSIZE would let every one through). Without namespaces the
/// default profile, which does not set `tmp`, starts and reports its
/// default bound as not enforced.
fn tmp_size_bounds_the_sum(w: &World) -> CaseResult {
    if !w.ns {
        let run = w.sandbox().probe(&["fill-files", "$TMPDIR", "4", &mib(1)]);
        run.ok()?;
        ensure(
            run.stderr.contains("limits: tmp") && run.stderr.contains("degraded:"),
            || {
                format!(
                    "the default /tmp bound's absence is not reported: {}",
                    run.describe()
                )
            },
        )?;
        return Ok(());
    }
    let profile = w.profile("tmp8-files", "[limits]\ntmp = \"8M\"\n");
    let run = |action: &[&str]| w.sandbox().profile(&profile).probe(action);
    run(&["fill-files", "$TMPDIR", "16", &mib(1)]).errno("ENOSPC")?;
    run(&["fill-files", "$TMPDIR", "4", &mib(1)]).ok()?;
    Ok(())
}

/// With namespaces the default profile's /tmp is a tmpfs of 1 GiB (not a
/// bind of a host directory), and the consent screen says so; with
/// `tmp = "unlimited"` it stays a private directory without a bound.
fn tmp_default_is_a_sized_tmpfs(w: &World) -> CaseResult {
    let default = w.sandbox().probe(&["mount-of", "/tmp"]);
    let mount = default.ok()?;
    ensure(
        mount.starts_with("tmpfs ") && mount.contains("size=1048576k"),
        || format!("ESCAPE: /tmp under the default profile is not a 1 GiB tmpfs: {mount:?}"),
    )?;
    ensure(default.stderr.contains("at most 1 GiB"), || {
        format!(
            "the consent screen does not show the /tmp size: {}",
            default.describe()
        )
    })?;
    let profile = w.profile("tmp-unlimited", "[limits]\ntmp = \"unlimited\"\n");
    let unbounded = w.sandbox().profile(&profile).probe(&["mount-of", "/tmp"]);
    let mount = unbounded.ok()?;
    ensure(!mount.starts_with("tmpfs "), || {
        format!("tmp = \"unlimited\" still mounted a tmpfs: {mount:?}")
    })?;
    ensure(unbounded.stderr.contains("no size limit"), || {
        format!(
            "the consent screen does not say /tmp is unbounded: {}",
            unbounded.describe()
        )
    })?;
    Ok(())
}

/// How the run bounded memory, from cordon's report: a cgroup or an rlimit.
#[derive(Debug, PartialEq)]
enum MemoryBound {
    Cgroup,
    Rlimit,
}

fn memory_bound(run: &Probe) -> Result<MemoryBound, String> {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("memory:") && l.contains("enforced"))
        .unwrap_or("");
    // The rlimit's line also says why there is no memory cgroup.
    if line.contains("RLIMIT_DATA") {
        Ok(MemoryBound::Rlimit)
    } else if line.contains("memory cgroup") {
        Ok(MemoryBound::Cgroup)
    } else {
        Err(format!("no memory bound reported: {}", run.describe()))
    }
}

/// As root on a machine with a memory controller cordon must use it.
fn expected_bound(w: &World) -> Option<MemoryBound> {
    let has_memory_v1 = fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == "memory"))
        });
    match (w.uid() == 0, has_memory_v1) {
        (true, true) => Some(MemoryBound::Cgroup),
        (false, _) => Some(MemoryBound::Rlimit).filter(|_| !delegated_v2()),
        // Root with cgroup v2 only: a cgroup when one is delegated to it.
        (true, false) => None,
    }
}

/// A cgroup v2 hierarchy where cordon may make a memory cgroup (then even
/// an unprivileged cordon uses one).
fn delegated_v2() -> bool {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    own.lines().any(|l| l.starts_with("0::")) && !own.lines().any(|l| l.contains(":memory:"))
}

/// The failure `bound` gives an allocation past it.
fn past_the_bound(bound: &MemoryBound, run: &Probe) -> Result<(), String> {
    match bound {
        MemoryBound::Cgroup => {
            let got = run.ok()?;
            ensure(got == "killed by signal 9", || {
                format!(
                    "ESCAPE: expected the OOM killer (memory cgroup), got {got:?}: {}",
                    run.describe()
                )
            })
        }
        MemoryBound::Rlimit => run.errno("ENOMEM"),
    }
}

fn check_bound(w: &World, run: &Probe) -> Result<MemoryBound, String> {
    let bound = memory_bound(run)?;
    if let Some(expected) = expected_bound(w) {
        ensure(bound == expected, || {
            format!(
                "expected a {expected:?} memory bound, cordon used {bound:?}: {}",
                run.describe()
            )
        })?;
    }
    Ok(bound)
}

/// `[limits] memory = "64M"`: allocating and touching 256 MiB in one
/// mapping fails (ENOMEM under RLIMIT_DATA, OOM-killed in a memory
/// cgroup); 16 MiB works.
fn memory_limit_bounded(w: &World) -> CaseResult {
    let profile = w.profile("mem64", "[limits]\nmemory = \"64M\"\n");
    let run = |action: &[&str]| w.sandbox().profile(&profile).probe(action);
    let big = run(&["alloc-touch", &mib(256), &mib(256)]);
    let bound = check_bound(w, &big)?;
    past_the_bound(&bound, &big)?;
    run(&["alloc-touch", &mib(16), &mib(16)]).ok()?;
    Ok(())
}

/// The same bound reached in 1 MiB pieces (the sum counts, not one
/// mapping); and under the default bound (4 GiB) node and python start.
fn memory_limit_in_pieces_and_runtimes_start(w: &World) -> CaseResult {
    let profile = w.profile("mem64-pieces", "[limits]\nmemory = \"64M\"\n");
    let big = w
        .sandbox()
        .profile(&profile)
        .probe(&["alloc-touch", &mib(256), &mib(1)]);
    let bound = check_bound(w, &big)?;
    past_the_bound(&bound, &big)?;
    for (exe, args) in [
        ("/usr/bin/node", ["-e", "process.stdout.write('started')"]),
        ("/usr/bin/python3", ["-c", "print('started')"]),
    ] {
        if !Path::new(exe).exists() {
            continue;
        }
        let mut action = vec!["exec", exe];
        action.extend(args);
        let run = w.sandbox().probe(&action);
        let got = run.ok()?;
        ensure(got == "exit 0 started", || {
            format!(
                "{exe} did not start under the default memory bound: {}",
                run.describe()
            )
        })?;
        ensure(run.stderr.contains("memory 4 GiB"), || {
            format!(
                "the consent screen does not show the memory bound: {}",
                run.describe()
            )
        })?;
    }
    Ok(())
}

/// `fork-bomb 5000` under `nproc = 64`: fork fails with EAGAIN after at
/// most 64 children (the limit counts the server itself, so fewer).
fn fork_bomb_bounded(w: &World, profile: &Path) -> Result<(), String> {
    let got = w
        .sandbox()
        .profile(profile)
        .probe(&["fork-bomb", "5000"])
        .ok()?;
    let (count, errno) = got.split_once(' ').unwrap_or((&got, ""));
    let count: usize = count
        .parse()
        .map_err(|_| format!("fork-bomb printed {got:?}"))?;
    ensure(count > 0, || {
        format!("control: not a single fork worked ({got})")
    })?;
    ensure(errno == "EAGAIN" && count <= 64, || {
        format!("ESCAPE: nproc = 64 did not bound the fork bomb: {count} children, then {errno}")
    })
}

/// Where `controller`'s cgroups live for a process whose line in
/// `/proc/PID/cgroup` is `line`: the hierarchy's mount plus the path.
fn cgroup_dir(cgroup_file: &str, controller: &str) -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let own = fs::read_to_string(cgroup_file).ok()?;
    let v1 = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_owned())
    });
    // v1: the `cgroup` mount with the controller among its options; v2:
    // the `cgroup2` mount.
    let (path, v2) = match v1 {
        Some(path) => (path, false),
        None => (
            own.lines().find_map(|l| l.strip_prefix("0::"))?.to_owned(),
            true,
        ),
    };
    let point = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mut right = right.split(' ');
        let (fstype, opts) = (right.next()?, right.nth(1)?);
        let wanted = if v2 {
            fstype == "cgroup2"
        } else {
            fstype == "cgroup" && opts.split(',').any(|o| o == controller)
        };
        wanted.then(|| left.split(' ').nth(4).map(PathBuf::from))?
    })?;
    Some(point.join(path.trim_start_matches('/')))
}

/// A cordon killed by SIGKILL leaves its cgroup behind; the next start
/// still bounds a fork bomb by `nproc = 64` (as root with a pids cgroup,
/// as nobody with RLIMIT_NPROC) and, as root, removes the stale cgroup.
fn nproc_after_killed_cordon(w: &World) -> CaseResult {
    let profile = w.profile("nproc64-killed", "[limits]\nnproc = 64\n");
    let token = format!("8{}", w.tag);
    let mut child = spawn(
        w.sandbox()
            .profile(&profile)
            .build(&["sleep", &format!("{token}1")]),
    );
    let started = eventually(Duration::from_secs(10), || sleepers(&token).len() == 1);
    let server = sleepers(&token).first().copied();
    let cordon = cordon_pid(child.id() as i32);
    let stale = server.and_then(|pid| cgroup_dir(&format!("/proc/{pid}/cgroup"), "pids"));
    if let Some(pid) = cordon {
        sigkill(pid);
    }
    let gone = eventually(Duration::from_secs(5), || sleepers(&token).is_empty());
    kill_tree(child.id() as i32);
    sleepers(&token).into_iter().for_each(sigkill);
    let _ = child.wait();
    ensure(started && cordon.is_some(), || {
        format!("control: the sandboxed sleep did not start (server {server:?}, cordon {cordon:?})")
    })?;
    ensure(gone, || "the server survived SIGKILL of cordon".to_owned())?;
    let stale = stale.filter(|d| {
        d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("cordon-"))
    });
    if w.uid() == 0 {
        let Some(stale) = &stale else {
            return Err(format!(
                "as root the server was in no cordon pids cgroup (server {server:?})"
            )
            .into());
        };
        ensure(stale.exists(), || {
            format!(
                "control: the killed cordon's cgroup {} is already gone",
                stale.display()
            )
        })?;
    }
    fork_bomb_bounded(w, &profile)?;
    if let Some(stale) = stale {
        ensure(!stale.exists(), || {
            format!(
                "the killed cordon's cgroup {} was not removed by the next start",
                stale.display()
            )
        })?;
    }
    Ok(())
}

/// Field 22 of /proc/PID/stat.
fn start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)
        .map(str::to_owned)
}

/// As root: planted `cordon-*` cgroups whose cordon is gone (a dead pid,
/// a live pid with another start time: a reused pid, an old-style name)
/// are removed by the next start, in the pids and the memory hierarchy;
/// one whose owner lives (this test, by pid and start time) stays. The
/// process limit holds meanwhile, for root and nobody alike.
fn stale_cgroups_removed_live_kept(w: &World) -> CaseResult {
    let profile = w.profile("nproc64-stale", "[limits]\nnproc = 64\n");
    if w.uid() != 0 {
        // cordon makes no cgroups for nobody here: the limit is RLIMIT_NPROC.
        return Ok(fork_bomb_bounded(w, &profile)?);
    }
    let mut dead = std::process::Command::new("true")
        .spawn()
        .map_err(|e| e.to_string())?;
    let dead_pid = dead.id();
    let _ = dead.wait();
    let me = std::process::id();
    let my_start = start_time(me).ok_or_else(|| "cannot read this test's start time".to_owned())?;
    let mut planted = Vec::new();
    for controller in ["pids", "memory"] {
        let Some(parent) = cgroup_dir("/proc/self/cgroup", controller) else {
            continue;
        };
        let stale = [
            format!("cordon-{dead_pid}-1-5ca1ab1e"),
            format!("cordon-{me}-1-5ca1ab1e"),
            format!("cordon-{dead_pid}"),
        ];
        let live = format!("cordon-{me}-{my_start}-5ca1ab1e");
        for name in stale.iter().chain([&live]) {
            let dir = parent.join(name);
            fs::create_dir(&dir).map_err(|e| format!("cannot plant {}: {e}", dir.display()))?;
            planted.push((dir, *name == live));
        }
    }
    let outcome = fork_bomb_bounded(w, &profile);
    let survivors: Vec<String> = planted
        .iter()
        .filter(|(dir, live)| !live && dir.exists())
        .map(|(dir, _)| dir.display().to_string())
        .collect();
    let live_gone: Vec<String> = planted
        .iter()
        .filter(|(dir, live)| *live && !dir.exists())
        .map(|(dir, _)| dir.display().to_string())
        .collect();
    for (dir, _) in &planted {
        let _ = fs::remove_dir(dir);
    }
    ensure(!planted.is_empty(), || {
        "no pids cgroup hierarchy found as root".to_owned()
    })?;
    outcome?;
    ensure(survivors.is_empty(), || {
        format!("stale cgroups were not removed: {survivors:?}")
    })?;
    ensure(live_gone.is_empty(), || {
        format!("the cgroups of a live owner were removed: {live_gone:?}")
    })?;
    Ok(())
}

/// `nproc = 5000000` cannot be applied: above the hard RLIMIT_NPROC
/// (root's too, and root's pids cgroup is above the kernel's pid limit).
/// The start is refused (exit 125) naming the limit, never run unbounded;
/// a limit that can be applied (64) starts and holds.
fn limit_the_kernel_refuses_fails_closed(w: &World) -> CaseResult {
    let huge = w.profile("nproc-huge", "[limits]\nnproc = 5000000\n");
    refused(&w.sandbox().profile(&huge).probe(&["getpid"]), "nproc")?;
    let profile = w.profile("nproc64-applies", "[limits]\nnproc = 64\n");
    fork_bomb_bounded(w, &profile)?;
    Ok(())
}

/// The mount point of the hierarchy holding the pids controller.
fn pids_mount() -> Option<PathBuf> {
    let dir = cgroup_dir("/proc/self/cgroup", "pids")?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .filter(|point| dir.starts_with(point) && point.starts_with("/sys/fs/cgroup/"))
        .max_by_key(|point| point.components().count())
}

/// cordon (as root) in a mount namespace of its own where the pids
/// hierarchy is unmounted: a real kernel view with no pids controller.
fn without_pids_hierarchy(w: &World, profile: Option<&Path>, mount: &Path) -> Probe {
    let probe = w.probe.to_str().unwrap_or_default().to_owned();
    let mut inv = w.sandbox();
    if let Some(profile) = profile {
        inv = inv.profile(profile);
    }
    let inner = inv.build(&[&probe, "--probe", "getpid"]);
    let mut outer = Command::new("unshare");
    outer
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!("umount -l {} && exec \"$@\"", mount.display()))
        .arg("_")
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_clear();
    for (name, value) in inner.get_envs() {
        if let Some(value) = value {
            outer.env(name, value);
        }
    }
    if let Some(dir) = inner.get_current_dir() {
        outer.current_dir(dir);
    }
    run_timed(
        outer,
        format!("[no pids hierarchy, profile {profile:?}] getpid"),
    )
}

/// As root the process limit needs a pids cgroup (the kernel exempts root
/// from RLIMIT_NPROC). Where no pids hierarchy is mounted, `nproc = 64`
/// set by the profile is refused (exit 125, naming limits.nproc); with
/// `enforce = "best-effort"`, and with nproc left at its default, cordon
/// starts and prints the limit as degraded. As nobody RLIMIT_NPROC
/// holds it: the fork bomb is bounded.
fn nproc_without_pids_controller_fails_closed(w: &World) -> CaseResult {
    let profile = w.profile("nproc64-no-pids", "[limits]\nnproc = 64\n");
    if w.uid() != 0 {
        return Ok(fork_bomb_bounded(w, &profile)?);
    }
    let mount = pids_mount().ok_or_else(|| "no pids hierarchy mounted as root".to_owned())?;
    refused(
        &without_pids_hierarchy(w, Some(&profile), &mount),
        "limits.nproc",
    )?;
    let lenient = w.profile(
        "nproc64-no-pids-best-effort",
        "[limits]\nnproc = 64\nenforce = \"best-effort\"\n",
    );
    for profile in [Some(lenient.as_path()), None] {
        let run = without_pids_hierarchy(w, profile, &mount);
        run.ok()?;
        ensure(
            run.stderr.contains("limits: nproc") && run.stderr.contains("degraded:"),
            || {
                format!(
                    "the missing process limit is not reported: {}",
                    run.describe()
                )
            },
        )?;
    }
    // The control: with the hierarchy, the same profile starts and holds.
    fork_bomb_bounded(w, &profile)?;
    Ok(())
}
