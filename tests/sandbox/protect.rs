//! Mandatory protections: files that run code or steer agents later
//! (shell start-up files, authorized keys, autostart entries, user units,
//! git hooks and config, MCP client configurations) stay out of reach even
//! inside a writable grant of the whole home.
//!
//! Each case gets its own home (`homes/<case>`, also cordon's `$HOME` and
//! `$XDG_CONFIG_HOME/..`) holding only its protected file, so a refusal
//! must name that file.
//!
//! - `protect_*`: the file exists. With namespaces, `--rw <home>` is
//!   accepted, and writing the file, replacing it by rename and moving
//!   any directory above it aside for a new one all fail, while an ordinary file in the
//!   same home is written. Without namespaces cordon cannot mask the file,
//!   so it must refuse the grant up front: exit 125, naming the path; the
//!   control grants a subdirectory instead.
//! - `protect_absent_*`: the file does not exist yet (for git, the repo
//!   does). Creating it is as dangerous as changing it (bash reads a new
//!   ~/.bashrc just the same): it must fail, or cordon must refuse the
//!   grant (exit 125, naming the path).

use std::path::Path;

use crate::invoke::{Invocation, Probe};
use crate::world::{Case, CaseResult, Only, World, contents, ensure, s};

macro_rules! protected {
    ($($name:ident, $absent:ident => $rel:literal,)*) => {
        pub fn cases() -> Vec<Case> {
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
    protect_ssh_authorized_keys, protect_absent_ssh_authorized_keys => ".ssh/authorized_keys",
    protect_autostart, protect_absent_autostart => ".config/autostart/x.desktop",
    protect_systemd_user_unit, protect_absent_systemd_user_unit => ".config/systemd/user/x.service",
    protect_git_hooks, protect_absent_git_hooks => "repo/.git/hooks/pre-commit",
    protect_git_config, protect_absent_git_config => "repo/.git/config",
    protect_mcp_json, protect_absent_mcp_json => ".mcp.json",
    protect_cursor_mcp_json, protect_absent_cursor_mcp_json => ".cursor/mcp.json",
    protect_vscode_mcp_json, protect_absent_vscode_mcp_json => ".vscode/mcp.json",
    protect_claude_desktop_config, protect_absent_claude_desktop_config =>
        ".config/Claude/claude_desktop_config.json",
}

const ORIGINAL: &str = "# planted by the escape suite\n";

/// Every protected path below a home that cordon requires to exist before
/// it lets a server write the home (a missing one could be created and run
/// code later): a case plants all of them but its own, so that cordon's
/// answer is about the case's path. Directories end in `/`.
const HOME_PROTECTED: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".zlogout",
    ".config/fish/",
    ".config/autostart/",
    ".config/systemd/user/",
    ".config/environment.d/",
    ".gitconfig",
    ".config/git/",
    ".mcp.json",
    ".claude.json",
    ".claude/",
    ".config/Claude/claude_desktop_config.json",
    ".cursor/",
    ".vscode/",
    ".config/Code/User/",
    ".config/Cursor/User/",
    ".local/bin/",
    ".local/share/applications/",
    ".ssh/",
    ".config/cordon/",
    ".local/state/cordon/",
];

/// Plants every entry of [`HOME_PROTECTED`] in `homes/<case>` except the
/// ones `rel` names or lies in.
fn plant_home(w: &World, case: &str, rel: &str) {
    if rel.starts_with("repo/") {
        // A repository: git's executable state must exist to be masked.
        w.plant(
            &format!("homes/{case}/repo/.git/HEAD"),
            "ref: refs/heads/main\n",
        );
        if rel != "repo/.git/config" {
            w.plant(&format!("homes/{case}/repo/.git/config"), ORIGINAL);
        }
        if !rel.starts_with("repo/.git/hooks") {
            w.plant(&format!("homes/{case}/repo/.git/hooks/.keep"), "");
        }
    }
    for entry in HOME_PROTECTED {
        let bare = entry.trim_end_matches('/');
        if rel == bare || rel.starts_with(&format!("{bare}/")) {
            continue;
        }
        if entry.ends_with('/') {
            w.plant(&format!("homes/{case}/{entry}.keep"), "");
        } else {
            w.plant(&format!("homes/{case}/{entry}"), ORIGINAL);
        }
    }
}

fn protected_write(w: &World, case: &str, rel: &str) -> CaseResult {
    let home = w.at(&format!("homes/{case}"));
    plant_home(w, case, rel);
    let file = w.plant(&format!("homes/{case}/{rel}"), ORIGINAL);
    w.plant(&format!("homes/{case}/work/.keep"), "");
    if w.ns {
        write_denied(w, &home, &file)
    } else {
        let run = in_home(w, &home).rw(&home).probe(&["write", s(&file)]);
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

/// Writing the file, replacing it by rename, and moving any directory
/// between the home and the file aside to write a new one all fail.
fn write_denied(w: &World, home: &Path, file: &Path) -> CaseResult {
    let attempt = |action: &[&str]| -> CaseResult {
        in_home(w, home).rw(home).probe(action).err()?;
        unchanged(file)?;
        Ok(())
    };
    attempt(&["write", s(file)])?;
    attempt(&["replace", s(file)])?;
    let dirs = file.ancestors().skip(1).take_while(|d| *d != home);
    for dir in dirs {
        attempt(&["swap-dir", s(dir), s(file)])?;
    }
    ordinary_write_works(w, home)
}

/// Control: an ordinary file in the granted home is written.
fn ordinary_write_works(w: &World, home: &Path) -> CaseResult {
    let ordinary = home.join("notes.txt");
    in_home(w, home)
        .rw(home)
        .probe(&["write", s(&ordinary)])
        .ok()?;
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
/// `rel` or the protected directory holding it.
fn refused(run: &Probe, rel: &str) -> Result<(), String> {
    ensure(run.code == Some(125) && run.stdout.is_empty(), || {
        format!(
            "expected cordon to refuse --rw of a home holding {rel} (exit 125): {}",
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
    if rel.starts_with("repo/") {
        w.plant(
            &format!("homes/{case}/repo/.git/HEAD"),
            "ref: refs/heads/main\n",
        );
    }
    let file = home.join(rel);
    let run = in_home(w, &home)
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
    ordinary_write_works(w, &home)
}

/// How a refusal may name `rel`: itself, or the protected directory that
/// holds it (`.config/autostart`, `repo/.git/hooks`).
fn names(rel: &str) -> Vec<String> {
    let mut names = vec![rel.to_owned()];
    if let Some(parent) = Path::new(rel)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        names.push(parent.to_string_lossy().into_owned());
    }
    names
}

fn unchanged(file: &Path) -> Result<(), String> {
    let now = contents(file);
    ensure(now == ORIGINAL, || {
        format!("ESCAPE: {} now holds {now:?}", file.display())
    })
}
