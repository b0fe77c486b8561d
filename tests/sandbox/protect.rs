//! Mandatory protections: files that run code or steer agents later
//! (shell start-up files, authorized keys, autostart entries, user units,
//! Python's user site, git's configuration in every git directory, MCP
//! client configurations) stay out of reach even inside a writable grant,
//! credential stores stay unreadable even inside a read grant, and a
//! writable home is refused unless a profile lifts that by name.
//!
//! Each case gets its own home (`homes/<case>`, also cordon's `$HOME` and
//! `$XDG_CONFIG_HOME/..`) holding only its protected file, so a refusal
//! must name that file.
//!
//! - `protect_*`: the file exists. With namespaces, `--rw <home>` under a
//!   profile that lifts the home refusal (`unprotect = ["~"]`) is
//!   accepted, and writing the file, replacing it by rename and moving
//!   any directory above it aside for a new one all fail, while an
//!   ordinary file in the same home is written. Without namespaces cordon
//!   cannot mask the file, so it must refuse the grant up front: exit 125,
//!   naming the path; the control grants a subdirectory instead.
//! - `protect_absent_*`: the file does not exist yet. Creating it is as
//!   dangerous as changing it (bash reads a new ~/.bashrc just the same):
//!   it must fail, or cordon must refuse the grant (exit 125, naming it).
//! - `protect_read_*`: a credential store inside `--ro <home>` is not
//!   readable (hidden with namespaces, the grant refused without).
//! - `protect_git_*`: a repository inside `--rw <home>/work`: what git
//!   reads as configuration or runs cannot be written or created, in the
//!   repository, its submodules and worktrees; git inside the sandbox
//!   still commits, and git on the host still works after.
//! - `protect_writable_home*`: `--rw` of the home or an ancestor of it is
//!   refused without a profile that lifts it.

use std::path::{Path, PathBuf};

use cordon::sandbox::protect::{Absent, Base, PROTECTED};

use crate::invoke::{Invocation, Probe};
use crate::world::{Case, CaseResult, Only, World, contents, ensure, s};

macro_rules! protected {
    ($($name:ident, $absent:ident => $rel:literal,)*) => {
        fn written_cases() -> Vec<Case> {
            let mut cases = vec![$(Case::new(stringify!($name), Only::Both, $name)),*];
            cases.extend([$(Case::new(stringify!($absent), Only::Both, $absent)),*]);
            cases
        }
        $(
            fn $name(w: &World) -> CaseResult {
                protected_write(w, stringify!($name), $rel)
            }
            fn $absent(w: &World) -> CaseResult {
                protected_create(w, stringify!($absent), $rel)
            }
        )*
    };
}

protected! {
    protect_bashrc, protect_absent_bashrc => ".bashrc",
    protect_profile, protect_absent_profile => ".profile",
    protect_bash_aliases, protect_absent_bash_aliases => ".bash_aliases",
    protect_ssh_authorized_keys, protect_absent_ssh_authorized_keys => ".ssh/authorized_keys",
    protect_autostart, protect_absent_autostart => ".config/autostart/x.desktop",
    protect_systemd_user_unit, protect_absent_systemd_user_unit => ".config/systemd/user/x.service",
    protect_systemd_data_unit, protect_absent_systemd_data_unit =>
        ".local/share/systemd/user/x.service",
    protect_environment_d, protect_absent_environment_d => ".config/environment.d/x.conf",
    protect_pam_environment, protect_absent_pam_environment => ".pam_environment",
    protect_xprofile, protect_absent_xprofile => ".xprofile",
    protect_dbus_service, protect_absent_dbus_service =>
        ".local/share/dbus-1/services/org.example.X.service",
    protect_python_user_site, protect_absent_python_user_site =>
        ".local/lib/python3.12/site-packages/x.pth",
    protect_node_modules, protect_absent_node_modules => ".node_modules/x/index.js",
    protect_home_bin, protect_absent_home_bin => "bin/ls",
    protect_npmrc, protect_absent_npmrc => ".npmrc",
    protect_gitconfig, protect_absent_gitconfig => ".gitconfig",
    protect_mcp_json, protect_absent_mcp_json => ".mcp.json",
    protect_claude_settings, protect_absent_claude_settings => ".claude/settings.json",
    protect_cursor_mcp_json, protect_absent_cursor_mcp_json => ".cursor/mcp.json",
    protect_vscode_mcp_json, protect_absent_vscode_mcp_json => ".vscode/mcp.json",
    protect_vscode_user_mcp_json, protect_absent_vscode_user_mcp_json =>
        ".config/Code/User/mcp.json",
    protect_claude_desktop_config, protect_absent_claude_desktop_config =>
        ".config/Claude/claude_desktop_config.json",
}

macro_rules! read_protected {
    ($($name:ident => $rel:literal,)*) => {
        fn read_cases() -> Vec<Case> {
            vec![$(Case::new(stringify!($name), Only::Both, $name)),*]
        }
        $(
            fn $name(w: &World) -> CaseResult {
                protected_read(w, stringify!($name), $rel)
            }
        )*
    };
}

read_protected! {
    protect_read_npmrc => ".npmrc",
    protect_read_uv_credentials => ".local/share/uv/credentials/credentials.toml",
    protect_read_git_credentials => ".git-credentials",
    protect_read_xdg_git_credentials => ".config/git/credentials",
    protect_read_pypirc => ".pypirc",
    protect_read_cargo_credentials => ".cargo/credentials.toml",
    protect_read_gh_hosts => ".config/gh/hosts.yml",
}

macro_rules! git_protected {
    ($($name:ident => $rel:literal,)*) => {
        fn git_cases() -> Vec<Case> {
            vec![$(Case::new(stringify!($name), Only::Both, $name)),*]
        }
        $(
            fn $name(w: &World) -> CaseResult {
                git_write(w, stringify!($name), $rel)
            }
        )*
    };
}

// Paths below `homes/<case>/work`, where `repo` is a repository with a
// submodule `sub` (git directory `.git/modules/sub`), a linked worktree
// `wt` (`.git/worktrees/wt`), `core.hooksPath = .githooks`, and `bare.git`
// a bare repository.
git_protected! {
    protect_git_commondir => "repo/.git/commondir",
    protect_git_config => "repo/.git/config",
    protect_git_config_worktree => "repo/.git/config.worktree",
    protect_git_hooks => "repo/.git/hooks/pre-commit",
    protect_git_info_attributes => "repo/.git/info/attributes",
    protect_git_hooks_path => "repo/.githooks/pre-commit",
    protect_git_submodule_config => "repo/.git/modules/sub/config",
    protect_git_submodule_commondir => "repo/.git/modules/sub/commondir",
    protect_git_submodule_gitfile => "repo/sub/.git",
    protect_git_worktree_gitdir => "repo/.git/worktrees/wt/gitdir",
    protect_git_worktree_commondir => "repo/.git/worktrees/wt/commondir",
    protect_git_worktree_gitfile => "wt/.git",
    protect_git_bare_config => "bare.git/config",
    protect_git_bare_hooks => "bare.git/hooks/post-update",
}

pub fn cases() -> Vec<Case> {
    let mut cases = written_cases();
    cases.extend(read_cases());
    cases.extend(git_cases());
    cases.extend([
        Case::new("protect_writable_home", Only::Both, protect_writable_home),
        Case::new(
            "protect_writable_home_ancestor",
            Only::Both,
            protect_writable_home_ancestor,
        ),
        Case::new(
            "protect_git_commit_works",
            Only::Both,
            protect_git_commit_works,
        ),
        Case::new(
            "protect_git_absent_hooks_path",
            Only::Both,
            protect_git_absent_hooks_path,
        ),
        Case::new(
            "protect_read_npmrc_copy",
            Only::Both,
            protect_read_npmrc_copy,
        ),
        Case::new(
            "protect_read_gitconfig_copy",
            Only::Ns,
            protect_read_gitconfig_copy,
        ),
    ]);
    cases
}

const ORIGINAL: &str = "# planted by the escape suite\n";

/// Every path of cordon's table that it requires to exist before it lets a
/// server write the home (a missing one could be created and run code
/// later), plus cordon's own configuration and state: a case plants all of
/// them but its own, so that cordon's answer is about the case's path.
fn home_protected() -> Vec<String> {
    let mut list: Vec<String> = PROTECTED
        .iter()
        .filter(|e| e.absent == Absent::Refuse)
        .map(|e| match e.base {
            Base::Home => e.rel.to_owned(),
            Base::Config => format!(".config/{}", e.rel),
        })
        .collect();
    list.extend([
        ".config/cordon".to_owned(),
        ".local/state/cordon".to_owned(),
    ]);
    list
}

/// Plants every entry of [`home_protected`] in `homes/<case>`, as a
/// directory, except the ones `rel` names or lies in.
fn plant_home(w: &World, case: &str, rel: &str) {
    for entry in home_protected() {
        if rel == entry || rel.starts_with(&format!("{entry}/")) {
            continue;
        }
        w.plant(&format!("homes/{case}/{entry}/.keep"), "");
    }
}

/// A profile that lifts the refusal of a writable home by naming it.
fn home_lifted(w: &World, case: &str) -> PathBuf {
    w.profile(&format!("home-{case}"), "unprotect = [\"~\"]\n")
}

fn protected_write(w: &World, case: &str, rel: &str) -> CaseResult {
    let home = w.at(&format!("homes/{case}"));
    plant_home(w, case, rel);
    let file = w.plant(&format!("homes/{case}/{rel}"), ORIGINAL);
    w.plant(&format!("homes/{case}/work/.keep"), "");
    let profile = home_lifted(w, case);
    if w.ns {
        write_denied(w, &home, &home, &file, Some(&profile))
    } else {
        let run = in_home(w, &home)
            .profile(&profile)
            .rw(&home)
            .probe(&["write", s(&file)]);
        unchanged(&file)?;
        refused(&run, rel)?;
        subdirectory_works(w, &home)
    }
}

/// cordon with `home` as its home directory and configuration root.
fn in_home<'w>(w: &'w World, home: &Path) -> Invocation<'w> {
    w.sandbox()
        .env("HOME", s(home))
        .env("XDG_CONFIG_HOME", s(&home.join(".config")))
}

/// With `grant` writable (under `profile`): writing the file, replacing
/// it by rename, and moving any directory between the grant and the file
/// aside to write a new one all fail.
fn write_denied(
    w: &World,
    home: &Path,
    grant: &Path,
    file: &Path,
    profile: Option<&Path>,
) -> CaseResult {
    let before = contents(file);
    let sandbox = || {
        let run = in_home(w, home).rw(grant);
        match profile {
            Some(p) => run.profile(p),
            None => run,
        }
    };
    let attempt = |action: &[&str]| -> CaseResult {
        sandbox().probe(action).err()?;
        let now = contents(file);
        ensure(now == before, || {
            format!("ESCAPE: {} now holds {now:?}", file.display())
        })?;
        Ok(())
    };
    attempt(&["write", s(file)])?;
    attempt(&["replace", s(file)])?;
    let dirs = file.ancestors().skip(1).take_while(|d| *d != grant);
    for dir in dirs {
        attempt(&["swap-dir", s(dir), s(file)])?;
    }
    // Control: an ordinary file in the grant is written.
    let ordinary = grant.join("notes.txt");
    sandbox().probe(&["write", s(&ordinary)]).ok()?;
    ensure(ordinary.exists(), || {
        format!(
            "the control reported ok but {} is missing",
            ordinary.display()
        )
    })?;
    Ok(())
}

/// Control where the home itself is refused: a subdirectory is granted.
fn subdirectory_works(w: &World, home: &Path) -> CaseResult {
    let work = home.join("work");
    let notes = work.join("notes.txt");
    in_home(w, home)
        .rw(&work)
        .probe(&["write", s(&notes)])
        .ok()?;
    Ok(())
}

/// cordon refused to start (exit 125, the probe never ran) and named
/// `rel` or a directory holding it.
fn refused(run: &Probe, rel: &str) -> Result<(), String> {
    ensure(run.code == Some(125) && run.stdout.is_empty(), || {
        format!(
            "expected cordon to refuse the grant holding {rel} (exit 125): {}",
            run.describe()
        )
    })?;
    let named = names(rel).iter().any(|n| run.stderr.contains(n.as_str()));
    ensure(named, || {
        format!("the refusal does not name {rel}: {}", run.describe())
    })
}

/// Creating the absent `rel` (and its directories) fails, or cordon
/// refuses the grant.
fn protected_create(w: &World, case: &str, rel: &str) -> CaseResult {
    let home = w.at(&format!("homes/{case}"));
    plant_home(w, case, rel);
    w.plant(&format!("homes/{case}/work/.keep"), "");
    let file = home.join(rel);
    let profile = home_lifted(w, case);
    let run = in_home(w, &home)
        .profile(&profile)
        .rw(&home)
        .probe(&["write-mkdir", s(&file)]);
    ensure(!file.exists(), || {
        format!(
            "ESCAPE: {} was created inside the writable home ({})",
            file.display(),
            run.stdout.trim()
        )
    })?;
    if run.code == Some(125) {
        refused(&run, rel)?;
        return subdirectory_works(w, &home);
    }
    run.err()?;
    write_denied_control(w, &home, &profile)
}

/// Control: with the same profile, an ordinary file in the home is written.
fn write_denied_control(w: &World, home: &Path, profile: &Path) -> CaseResult {
    let ordinary = home.join("notes.txt");
    in_home(w, home)
        .profile(profile)
        .rw(home)
        .probe(&["write", s(&ordinary)])
        .ok()?;
    Ok(())
}

/// How a refusal may name `rel`: itself, or a directory that holds it
/// (`.config/autostart`, `.local/lib`, `repo/.git`).
fn names(rel: &str) -> Vec<String> {
    Path::new(rel)
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn unchanged(file: &Path) -> Result<(), String> {
    let now = contents(file);
    ensure(now == ORIGINAL, || {
        format!("ESCAPE: {} now holds {now:?}", file.display())
    })
}

const TOKEN: &str = "not-a-real-token";
const SECRET: &str = "//registry.example/:_authToken=not-a-real-token\n";

/// A credential store in a read-granted home cannot be read; another file
/// in that home can. Without namespaces the grant is refused.
fn protected_read(w: &World, case: &str, rel: &str) -> CaseResult {
    let home = w.at(&format!("homes/{case}"));
    let file = w.plant(&format!("homes/{case}/{rel}"), SECRET);
    let notes = w.plant(&format!("homes/{case}/notes.txt"), "notes\n");
    w.plant(&format!("homes/{case}/work/notes.txt"), "notes\n");
    w.host(&["read", s(&file)]).ok()?;
    let run = in_home(w, &home)
        .ro(&home)
        .probe(&["contains", s(&file), TOKEN]);
    if w.ns {
        // Hidden, or (~/.npmrc) a cleaned copy without the token.
        if run.err().is_err() {
            let got = run.ok()?;
            ensure(got == "lacks", || {
                format!(
                    "ESCAPE: the token of {rel} is readable inside: {}",
                    run.describe()
                )
            })?;
        }
        in_home(w, &home)
            .ro(&home)
            .probe(&["read", s(&notes)])
            .ok()?;
    } else {
        refused(&run, rel)?;
        let work = home.join("work");
        in_home(w, &home)
            .ro(&work)
            .probe(&["read", s(&work.join("notes.txt"))])
            .ok()?;
    }
    Ok(())
}

/// `--rw <home>` is refused naming the grant; a subdirectory works.
fn protect_writable_home(w: &World) -> CaseResult {
    let case = "protect_writable_home";
    let home = w.at(&format!("homes/{case}"));
    plant_home(w, case, "");
    w.plant(&format!("homes/{case}/work/.keep"), "");
    let notes = home.join("notes.txt");
    let run = in_home(w, &home).rw(&home).probe(&["write", s(&notes)]);
    home_refused(&run, &home, &notes)?;
    subdirectory_works(w, &home)
}

/// `--rw` of the directory holding the home is refused too; with a
/// profile that names the home in `unprotect`, the home itself is
/// accepted (with namespaces; without, its protected files refuse it).
fn protect_writable_home_ancestor(w: &World) -> CaseResult {
    let case = "protect_writable_home_ancestor";
    let parent = w.at(&format!("homes/{case}"));
    let home = parent.join("user");
    plant_home(w, &format!("{case}/user"), "");
    w.plant(&format!("homes/{case}/user/work/.keep"), "");
    let notes = home.join("notes.txt");
    let run = in_home(w, &home).rw(&parent).probe(&["write", s(&notes)]);
    home_refused(&run, &parent, &notes)?;
    if w.ns {
        let profile = w.profile(
            &format!("home-{case}"),
            &format!("unprotect = [\"{}\"]\n", s(&home)),
        );
        in_home(w, &home)
            .profile(&profile)
            .rw(&home)
            .probe(&["write", s(&notes)])
            .ok()?;
        Ok(())
    } else {
        subdirectory_works(w, &home)
    }
}

fn home_refused(run: &Probe, grant: &Path, notes: &Path) -> Result<(), String> {
    ensure(!notes.exists(), || {
        format!("ESCAPE: {} was written", notes.display())
    })?;
    ensure(run.code == Some(125) && run.stdout.is_empty(), || {
        format!(
            "expected cordon to refuse --rw {} (exit 125): {}",
            grant.display(),
            run.describe()
        )
    })?;
    let says = run.stderr.contains(s(grant)) && run.stderr.contains("home directory");
    ensure(says, || {
        format!(
            "the refusal does not name the home grant {}: {}",
            grant.display(),
            run.describe()
        )
    })
}

/// Plants `homes/<case>/work` with a repository `repo` (a submodule
/// `sub`, a linked worktree at `work/wt`, `core.hooksPath = .githooks`)
/// and a bare repository `bare.git`, all written by hand so every file
/// belongs to the test's user. `skip` (relative to work) is left out.
fn plant_repos(w: &World, case: &str, skip: &str) -> PathBuf {
    let work = format!("homes/{case}/work");
    let keep = |rel: &str, text: &str| {
        let skipped = !skip.is_empty() && Path::new(rel).starts_with(skip);
        if !skipped {
            w.plant(&format!("{work}/{rel}"), text);
        }
    };
    let config = "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\thooksPath = .githooks\n";
    for dir in ["repo/.git", "repo/.git/modules/sub", "bare.git"] {
        keep(&format!("{dir}/HEAD"), "ref: refs/heads/main\n");
        keep(&format!("{dir}/objects/info/.keep"), "");
        keep(&format!("{dir}/refs/heads/.keep"), "");
        keep(&format!("{dir}/hooks/.keep"), "");
        keep(&format!("{dir}/info/.keep"), "");
    }
    keep("repo/.git/config", config);
    keep("repo/.git/config.worktree", ORIGINAL);
    keep("repo/.git/commondir", ".\n");
    keep("repo/.git/info/attributes", ORIGINAL);
    keep("repo/.git/hooks/pre-commit", ORIGINAL);
    keep("repo/.githooks/pre-commit", ORIGINAL);
    keep("repo/README.md", "readme\n");
    keep("repo/.git/modules/sub/config", ORIGINAL);
    keep("repo/.git/modules/sub/commondir", ".\n");
    keep("repo/sub/.git", "gitdir: ../.git/modules/sub\n");
    let wt = w.at(&format!("{work}/wt"));
    keep("repo/.git/worktrees/wt/HEAD", "ref: refs/heads/wt\n");
    keep("repo/.git/worktrees/wt/commondir", "../..\n");
    keep(
        "repo/.git/worktrees/wt/gitdir",
        &format!("{}\n", wt.join(".git").display()),
    );
    let repo = w.at(&format!("{work}/repo"));
    keep(
        "wt/.git",
        &format!("gitdir: {}\n", repo.join(".git/worktrees/wt").display()),
    );
    keep("bare.git/config", "[core]\n\tbare = true\n");
    keep("bare.git/hooks/post-update", ORIGINAL);
    keep("bare.git/commondir", ".\n");
    w.plant(&format!("{work}/plain/.keep"), "");
    w.at(&work)
}

/// The git path `rel` (below work) exists: writing it fails with
/// namespaces, cordon refuses the grant without. When it is missing
/// (`protect_git_absent_*`), creating it fails or cordon refuses.
fn git_write(w: &World, case: &str, rel: &str) -> CaseResult {
    let home = w.at(&format!("homes/{case}"));
    let work = plant_repos(w, case, "");
    let file = work.join(rel);
    if w.ns {
        write_denied(w, &home, &work, &file, None)?;
        git_status_on_host(w, &work.join("repo"))
    } else {
        let before = contents(&file);
        let run = in_home(w, &home).rw(&work).probe(&["write", s(&file)]);
        ensure(contents(&file) == before, || {
            format!("ESCAPE: {} was written", file.display())
        })?;
        refused(&run, rel)?;
        git_plain_works(w, &home, &work)
    }
}

/// Control without namespaces: a directory without repositories is
/// granted and written.
fn git_plain_works(w: &World, home: &Path, work: &Path) -> CaseResult {
    let plain = work.join("plain");
    in_home(w, home)
        .rw(&plain)
        .probe(&["write", s(&plain.join("notes.txt"))])
        .ok()?;
    Ok(())
}

/// git on the host still reads the repository (a `commondir` cordon
/// created is harmless).
fn git_status_on_host(w: &World, repo: &Path) -> CaseResult {
    let out = w
        .host(&["exec", "/usr/bin/git", "-C", s(repo), "status", "--short"])
        .ok()?;
    ensure(out.starts_with("exit 0"), || {
        format!("git status on the host after the sandbox: {out}")
    })?;
    Ok(())
}

/// A repository without `commondir`, `hooks/` and `info/` (as `git init`
/// with an empty template leaves it): the server cannot create them,
/// while git inside the sandbox commits and git on the host works after.
fn protect_git_commit_works(w: &World) -> CaseResult {
    let case = "protect_git_commit_works";
    let home = w.at(&format!("homes/{case}"));
    let work = plant_repos(w, case, "repo/.git/commondir");
    let repo = work.join("repo");
    for dir in ["hooks", "info"] {
        let _ = std::fs::remove_dir_all(repo.join(".git").join(dir));
    }
    let commit = [
        "exec",
        "/usr/bin/git",
        "-C",
        s(&repo),
        "-c",
        "user.name=probe",
        "-c",
        "user.email=probe@example.invalid",
        "commit",
        "--allow-empty",
        "--quiet",
        "-m",
        "from the sandbox",
    ];
    let planted = [
        ".git/commondir",
        ".git/hooks/pre-commit",
        ".git/info/attributes",
    ];
    if !w.ns {
        let run = in_home(w, &home).rw(&work).probe(&commit);
        refused(&run, "repo/.git")?;
        // A refused launch leaves the repository as it was.
        let commondir = repo.join(".git/commondir");
        ensure(!commondir.exists(), || {
            format!("{} was created for a refused launch", commondir.display())
        })?;
        return git_plain_works(w, &home, &work);
    }
    for rel in planted {
        let target = repo.join(rel);
        in_home(w, &home)
            .rw(&work)
            .probe(&["write-mkdir", s(&target)])
            .err()?;
        let now = contents(&target);
        ensure(!now.contains("probe"), || {
            format!("ESCAPE: {} now holds {now:?}", target.display())
        })?;
    }
    let out = in_home(w, &home).rw(&work).probe(&commit).ok()?;
    ensure(out.starts_with("exit 0"), || {
        format!("git commit inside the sandbox: {out}")
    })?;
    let log = w
        .host(&["exec", "/usr/bin/git", "-C", s(&repo), "log", "--format=%s"])
        .ok()?;
    ensure(log.contains("from the sandbox"), || {
        format!("the host's repository lacks the commit: {log}")
    })?;
    let commondir = contents(&repo.join(".git/commondir"));
    ensure(commondir == ".\n", || {
        format!("cordon's commondir holds {commondir:?}, not \".\"")
    })?;
    Ok(())
}

/// `core.hooksPath` names a directory inside the grant that does not
/// exist: creating it would plant hooks, so cordon refuses the grant,
/// naming it; without the setting the grant is accepted.
fn protect_git_absent_hooks_path(w: &World) -> CaseResult {
    let case = "protect_git_absent_hooks_path";
    let home = w.at(&format!("homes/{case}"));
    let work = plant_repos(w, case, "repo/.githooks");
    let hook = work.join("repo/.githooks/pre-commit");
    let run = in_home(w, &home)
        .rw(&work)
        .probe(&["write-mkdir", s(&hook)]);
    ensure(!hook.exists(), || {
        format!("ESCAPE: {} was created", hook.display())
    })?;
    refused(&run, "repo/.githooks")?;
    git_plain_works(w, &home, &work)
}

/// Under a profile with group `node`, npm's ~/.npmrc inside is a copy
/// with its settings but without the token (13 bytes: `offline=true`),
/// also inside `--ro <home>`; without namespaces it is not there at all.
fn protect_read_npmrc_copy(w: &World) -> CaseResult {
    let case = "protect_read_npmrc_copy";
    let home = w.at(&format!("homes/{case}"));
    let npmrc = w.plant(
        &format!("homes/{case}/.npmrc"),
        &format!("offline=true\n{SECRET}"),
    );
    let profile = w.plant(
        &format!("profiles/npm-{case}.toml"),
        "schema = 1\ndescription = \"escape suite: npm\"\n[filesystem]\ngroups = [\"runtime\", \"node\"]\n",
    );
    let read = |grant_home: bool| {
        let run = in_home(w, &home).profile(&profile);
        let run = if grant_home { run.ro(&home) } else { run };
        run.probe(&["read", s(&npmrc)])
    };
    if !w.ns {
        read(false).err()?;
        return Ok(());
    }
    for grant_home in [false, true] {
        let got = read(grant_home).ok()?;
        ensure(got == "13 bytes", || {
            format!("~/.npmrc inside holds {got}, not the 13 bytes of its cleaned copy")
        })?;
    }
    Ok(())
}

/// A granted ~/.gitconfig is seen as a copy with the identity but without
/// the token in a URL rewrite or the alias: 42 bytes
/// (`[user]\n\tname = probe\n\temail = p@e.invalid\n`), and git inside
/// still takes the name from it.
fn protect_read_gitconfig_copy(w: &World) -> CaseResult {
    let case = "protect_read_gitconfig_copy";
    let home = w.at(&format!("homes/{case}"));
    let gitconfig = w.plant(
        &format!("homes/{case}/.gitconfig"),
        "[user]\n\tname = probe\n\temail = p@e.invalid\n\
         [url \"https://not-a-real-token@github.com/\"]\n\tinsteadOf = https://github.com/\n\
         [alias]\n\tst = !touch /tmp/ran\n",
    );
    let got = in_home(w, &home)
        .ro(&gitconfig)
        .probe(&["read", s(&gitconfig)])
        .ok()?;
    ensure(got == "42 bytes", || {
        format!("~/.gitconfig inside holds {got}, not the 42 bytes of its cleaned copy")
    })?;
    let name = in_home(w, &home)
        .ro(&gitconfig)
        .probe(&["exec", "/usr/bin/git", "config", "--global", "user.name"])
        .ok()?;
    ensure(name == "exit 0 probe", || {
        format!("git config user.name inside: {name}")
    })?;
    Ok(())
}
