//! Mandatory protections: paths that stay read-only (or hidden) even inside
//! a granted directory, because writing them runs code or changes trust
//! outside the sandbox (shell startup files, git's configuration and hooks,
//! host MCP configs, autostart entries) or reading them leaks credentials
//! (`~/.ssh`, `~/.npmrc`, uv's credential store).
//!
//! Everything protected below the home directory is data in one table,
//! [`PROTECTED`], each entry with the reason it is there. Git is not a
//! list of names but a rule ([`GIT_DATA`]): see "Git" below.
//!
//! With namespaces the paths are masked by mounts (read-only binds, or an
//! empty read-only tmpfs or /dev/null for hidden ones); without, a grant
//! containing one is refused. A mask needs an existing path: a missing
//! protected path inside a writable grant is refused when creating it
//! would run code later, and reported otherwise. A profile lifts one
//! protection only by naming its path in `filesystem.unprotect`.
//!
//! A writable grant of the home directory or of an ancestor of it (`/`,
//! `/home`) is refused outright unless the profile names the home
//! directory in `filesystem.unprotect`: no list can name every file that
//! some program reads from a home directory and runs.
//!
//! # Git
//!
//! Git runs code named in its configuration (`core.fsmonitor`,
//! `core.hooksPath`, aliases, filters) and in hooks, and finds its
//! configuration through more than `.git/config`: a `commondir` file
//! redirects the whole repository, `config.worktree`, submodules' git
//! directories below `.git/modules`, linked worktrees' `gitdir` and
//! `commondir` files, `.git` files with a `gitdir:` line, and files a
//! config includes. Inside a writable grant cordon therefore finds every
//! git directory (the grant and its directories to [`GIT_DEPTH`] levels,
//! `.git` files, submodules, worktrees, common directories) and makes each
//! top-level entry read-only unless it is where git keeps data
//! ([`GIT_DATA`]: objects, refs, logs, index, HEAD and the like), so the
//! server still commits, checks out and creates branches.
//!
//! Git needs the top level of a git directory writable (`index.lock` is
//! renamed to `index`), and neither Landlock nor a mount can refuse the
//! creation of one name in a writable directory. So the config-like names
//! that are missing are created in the form git treats as harmless, then
//! masked read-only: empty `hooks/` and `info/` directories (what
//! `git init` creates), and a `commondir` holding `.`, which git resolves
//! to the git directory itself. The mount plan creates them inside the
//! sandbox's mount namespace, through the writable grant, just before it
//! masks them: after consent, never for a launch that is refused or
//! declined, and an entry that appeared meanwhile is masked as it is.
//! An empty `commondir` would be fatal to git, and refusing every
//! repository without one would refuse every ordinary repository;
//! removing the file after each launch would leave a stale file after a
//! crash and race a second launch, so it stays (it is valid for git,
//! libgit2 and GitPython, and `git worktree` keeps working). The
//! enforcement report names each file created. A missing `config.worktree` is only read
//! when the (read-only) config enables `extensions.worktreeConfig`; then it
//! is created empty. A missing `config`, or a `core.hooksPath` or config
//! include target inside the grant that does not exist, is refused. Every
//! directory between the grant and a masked path becomes a mount point, so
//! `.git` cannot be moved aside and rebuilt. Without namespaces nothing is
//! created and the grant is refused.
//!
//! What remains: a new repository the server creates inside the grant
//! (a directory with a `.git` of its own, or a new submodule recorded in
//! the index) is a repository from an untrusted source, like a downloaded
//! one; git runs its configuration when the user runs git inside it. The
//! same holds for a repository deeper than [`GIT_DEPTH`] below the grant.
//! An in-progress rebase or cherry-pick the server stages
//! (`rebase-merge/`, `sequencer/`, which are data while git works) can
//! hold `exec` lines that run if the user continues it.
//!
//! # Cleaned copies
//!
//! A few files hold both settings a server's tool needs and credentials
//! or commands ([`CLEANED`]): `~/.npmrc` (the registry, offline mode; also
//! registry tokens and `node-options`) and git's user configuration (the
//! identity for commits; also aliases, `core.fsmonitor`, URL rewrites that
//! carry tokens). With namespaces the server sees a copy holding only an
//! allowlist of settings, bound read-only at the file's path: `~/.npmrc`
//! for profiles with npm's groups, git's files wherever a grant makes them
//! visible. Without namespaces `~/.npmrc` stays out of reach and a granted
//! git configuration is seen as it is.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::policy::Policy;

pub use crate::dirs::HostPaths;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Visible, read-only.
    ReadOnly,
    /// Replaced by an empty read-only directory (or an empty file).
    Hide,
}

/// One protected path that exists and lies inside a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    /// Canonical path.
    pub path: PathBuf,
    pub mask: Mask,
    /// The grant it lies in.
    pub grant: PathBuf,
    /// Missing: created in this harmless form inside the sandbox's mount
    /// namespace (through the writable grant) just before it is masked.
    pub create: Option<Create>,
}

/// The harmless form of a missing git name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Dir,
    File(&'static str),
}

/// What a missing protected path inside a writable grant means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absent {
    /// Creating it runs code or changes trust later: the launch is refused.
    Refuse,
    /// Only some setups read it: the launch reports it as not masked.
    Report,
    /// A secret store: a new one holds nothing of the user's.
    Ignore,
}

/// Which directory an entry's relative path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The home directory.
    Home,
    /// `$XDG_CONFIG_HOME` (and `~/.config` where that differs).
    Config,
}

/// One row of the table of protected paths.
#[derive(Debug)]
pub struct Entry {
    pub base: Base,
    pub rel: &'static str,
    /// `Hide` for secrets (neither readable nor writable); `ReadOnly` for
    /// what runs code or configures a program later.
    pub mask: Mask,
    pub absent: Absent,
    pub why: &'static str,
}

const fn ro(base: Base, rel: &'static str, absent: Absent, why: &'static str) -> Entry {
    Entry {
        base,
        rel,
        mask: Mask::ReadOnly,
        absent,
        why,
    }
}

const fn hide(base: Base, rel: &'static str, absent: Absent, why: &'static str) -> Entry {
    Entry {
        base,
        rel,
        mask: Mask::Hide,
        absent,
        why,
    }
}

use Absent::{Ignore, Refuse, Report};
use Base::{Config, Home};

/// The protected paths below the home directory: read-only inside
/// writable grants (`ReadOnly`), or hidden inside every grant (`Hide`).
pub const PROTECTED: &[Entry] = &[
    // Shells: read and run at every login or interactive shell.
    ro(
        Home,
        ".profile",
        Refuse,
        "sh, dash and bash login shells run it",
    ),
    ro(Home, ".bashrc", Refuse, "interactive bash runs it"),
    ro(Home, ".bash_profile", Refuse, "bash login shells run it"),
    ro(Home, ".bash_login", Refuse, "bash login shells run it"),
    ro(Home, ".bash_logout", Refuse, "bash runs it at logout"),
    ro(
        Home,
        ".bash_aliases",
        Refuse,
        "Debian's and Ubuntu's .bashrc runs it",
    ),
    ro(
        Home,
        ".bashrc.d",
        Refuse,
        "Fedora's .bashrc runs every file in it",
    ),
    ro(
        Home,
        ".inputrc",
        Refuse,
        "readline macros type commands into the shell",
    ),
    ro(Home, ".zshenv", Refuse, "every zsh runs it"),
    ro(Home, ".zshrc", Refuse, "interactive zsh runs it"),
    ro(Home, ".zprofile", Refuse, "zsh login shells run it"),
    ro(Home, ".zlogin", Refuse, "zsh login shells run it"),
    ro(Home, ".zlogout", Refuse, "zsh runs it at logout"),
    ro(
        Config,
        "zsh",
        Report,
        "a common ZDOTDIR: zsh's startup files",
    ),
    ro(Config, "fish", Refuse, "fish runs config.fish and conf.d"),
    ro(Home, ".kshrc", Report, "interactive ksh runs it"),
    ro(Home, ".mkshrc", Report, "interactive mksh runs it"),
    ro(Home, ".tcshrc", Report, "tcsh runs it"),
    ro(Home, ".cshrc", Report, "csh and tcsh run it"),
    ro(Home, ".login", Report, "csh login shells run it"),
    // Programs found on PATH before the system's.
    ro(
        Home,
        ".local/bin",
        Refuse,
        "on PATH: a program placed here replaces the system's",
    ),
    ro(Home, "bin", Refuse, "Debian's .profile puts it on PATH"),
    ro(Home, ".cargo/bin", Report, "rustup puts it on PATH"),
    ro(
        Home,
        ".cargo/env",
        Report,
        "rustup's line in the shell startup files runs it",
    ),
    // Login sessions, systemd, D-Bus, the desktop.
    ro(
        Home,
        ".pam_environment",
        Refuse,
        "pam_env sets variables (LD_PRELOAD) at login",
    ),
    ro(
        Config,
        "environment.d",
        Refuse,
        "systemd sets the user session's variables from it",
    ),
    ro(
        Config,
        "systemd/user",
        Refuse,
        "systemd --user starts the units in it",
    ),
    ro(
        Home,
        ".local/share/systemd/user",
        Refuse,
        "systemd --user starts the units in it",
    ),
    ro(
        Home,
        ".local/share/dbus-1/services",
        Refuse,
        "D-Bus starts the services it names on demand",
    ),
    ro(
        Config,
        "autostart",
        Refuse,
        "the desktop starts its entries at login",
    ),
    ro(
        Home,
        ".local/share/applications",
        Refuse,
        "desktop entries: what opening a file or URL runs",
    ),
    ro(
        Config,
        "mimeapps.list",
        Report,
        "which desktop entry opens each file type",
    ),
    ro(
        Home,
        ".xprofile",
        Refuse,
        "display managers run it at login",
    ),
    ro(
        Home,
        ".xsessionrc",
        Refuse,
        "Debian's X session runs it at login",
    ),
    ro(
        Home,
        ".xsession",
        Report,
        "the X session some display managers run",
    ),
    ro(Home, ".xinitrc", Report, "startx runs it"),
    ro(
        Config,
        "plasma-workspace/env",
        Report,
        "KDE Plasma runs its scripts at login",
    ),
    // Language runtimes: code loaded into every interpreter.
    ro(
        Home,
        ".local/lib",
        Refuse,
        "Python's user site-packages: .pth files and usercustomize run at every start",
    ),
    ro(Home, ".pythonrc", Report, "the usual PYTHONSTARTUP file"),
    ro(Home, ".pythonrc.py", Report, "the usual PYTHONSTARTUP file"),
    ro(
        Config,
        "pip",
        Report,
        "pip.conf: the index packages are installed from",
    ),
    ro(
        Config,
        "uv",
        Report,
        "uv.toml: the index packages are installed from",
    ),
    ro(
        Home,
        ".node_modules",
        Refuse,
        "node's require() searches it",
    ),
    ro(
        Home,
        ".node_libraries",
        Refuse,
        "node's require() searches it",
    ),
    ro(Home, ".yarnrc", Report, "yarnPath: the yarn that runs"),
    ro(
        Home,
        ".bunfig.toml",
        Report,
        "bun preloads the scripts it names",
    ),
    ro(
        Home,
        ".cargo/config.toml",
        Report,
        "cargo runs the wrappers and runners it names",
    ),
    ro(
        Home,
        ".cargo/config",
        Report,
        "cargo runs the wrappers and runners it names",
    ),
    // Editors.
    ro(Home, ".vimrc", Report, "vim runs it"),
    ro(Home, ".vim", Report, "vim loads plugins from it"),
    ro(
        Config,
        "nvim",
        Report,
        "neovim runs init.lua and plugins from it",
    ),
    ro(Home, ".emacs", Report, "emacs runs it"),
    ro(Home, ".emacs.d", Report, "emacs runs init.el from it"),
    ro(Config, "emacs", Report, "emacs runs init.el from it"),
    // Git's user configuration: aliases, hooksPath, fsmonitor, filters.
    ro(
        Home,
        ".gitconfig",
        Refuse,
        "git's user configuration runs commands (aliases, core.fsmonitor, core.hooksPath)",
    ),
    ro(
        Config,
        "git",
        Refuse,
        "git's user configuration in its XDG location, and its attributes",
    ),
    // MCP hosts: the servers they start, and agents' hooks and settings.
    ro(
        Home,
        ".mcp.json",
        Refuse,
        "Claude Code starts the MCP servers it lists",
    ),
    ro(
        Home,
        ".claude.json",
        Refuse,
        "Claude Code starts the MCP servers it lists",
    ),
    ro(
        Home,
        ".claude",
        Refuse,
        "Claude Code's settings: hooks that run commands",
    ),
    ro(
        Config,
        "Claude",
        Refuse,
        "Claude Desktop starts the MCP servers its configuration lists",
    ),
    ro(
        Home,
        ".cursor",
        Refuse,
        "Cursor starts the MCP servers its mcp.json lists",
    ),
    ro(
        Config,
        "Cursor/User",
        Refuse,
        "Cursor's settings: tasks, terminal profiles, MCP servers",
    ),
    ro(
        Home,
        ".vscode",
        Refuse,
        "VS Code's extensions run inside the editor",
    ),
    ro(
        Config,
        "Code/User",
        Refuse,
        "VS Code's settings and mcp.json: the MCP servers it starts",
    ),
    ro(
        Home,
        ".codeium/windsurf",
        Report,
        "Windsurf starts the MCP servers its mcp_config.json lists",
    ),
    ro(Config, "Windsurf/User", Report, "Windsurf's settings"),
    ro(
        Config,
        "zed",
        Report,
        "Zed starts the context servers its settings list",
    ),
    ro(
        Home,
        ".continue",
        Report,
        "Continue starts the MCP servers its config lists",
    ),
    ro(
        Home,
        ".gemini",
        Report,
        "Gemini CLI starts the MCP servers its settings list",
    ),
    ro(
        Home,
        ".codex",
        Report,
        "Codex starts the MCP servers its config.toml lists",
    ),
    ro(
        Config,
        "goose",
        Report,
        "Goose starts the extensions its config lists",
    ),
    // Secrets, which often also run code when changed (ssh's
    // ProxyCommand, aws's credential_process, kubeconfig exec plugins,
    // gh aliases, gpg-agent's pinentry-program).
    hide(
        Home,
        ".ssh",
        Refuse,
        "SSH keys; authorized_keys and config (ProxyCommand) run code",
    ),
    hide(
        Home,
        ".gnupg",
        Refuse,
        "GnuPG keys; gpg-agent.conf names the programs it runs",
    ),
    hide(
        Home,
        ".aws",
        Refuse,
        "AWS credentials; config's credential_process runs a command",
    ),
    hide(
        Home,
        ".kube",
        Refuse,
        "Kubernetes credentials; kubeconfig exec plugins run commands",
    ),
    hide(
        Config,
        "gh",
        Refuse,
        "the GitHub CLI's token; its aliases run shell commands",
    ),
    hide(
        Home,
        ".npmrc",
        Refuse,
        "npm's registry tokens; node-options and script-shell run code",
    ),
    hide(
        Home,
        ".docker/config.json",
        Report,
        "Docker registry credentials; credHelpers name programs",
    ),
    hide(
        Home,
        ".netrc",
        Ignore,
        "saved login passwords (curl, git, uv, pip)",
    ),
    hide(
        Home,
        ".git-credentials",
        Ignore,
        "git's credential store (plaintext)",
    ),
    hide(
        Config,
        "git/credentials",
        Ignore,
        "git's credential store in its XDG location (plaintext)",
    ),
    hide(Home, ".pypirc", Ignore, "PyPI upload tokens"),
    hide(
        Home,
        ".local/share/uv/credentials",
        Ignore,
        "uv auth's credential store (plaintext)",
    ),
    hide(Home, ".cargo/credentials.toml", Ignore, "crates.io tokens"),
    hide(
        Home,
        ".cargo/credentials",
        Ignore,
        "crates.io tokens (older cargo)",
    ),
    hide(Config, "hub", Ignore, "the hub CLI's GitHub token"),
    hide(Config, "gcloud", Ignore, "Google Cloud credentials"),
    hide(Home, ".azure", Ignore, "Azure CLI credentials"),
    hide(
        Home,
        ".terraform.d/credentials.tfrc.json",
        Ignore,
        "Terraform Cloud tokens",
    ),
    hide(Home, ".pgpass", Ignore, "PostgreSQL passwords"),
    hide(Home, ".my.cnf", Ignore, "MySQL passwords"),
    hide(Home, ".vault-token", Ignore, "a HashiCorp Vault token"),
    hide(
        Config,
        "rclone",
        Ignore,
        "rclone's cloud storage credentials",
    ),
    hide(Home, ".s3cfg", Ignore, "s3cmd's AWS keys"),
    hide(
        Home,
        ".local/share/keyrings",
        Ignore,
        "GNOME keyring's stores",
    ),
    hide(
        Home,
        ".password-store",
        Ignore,
        "pass's encrypted passwords",
    ),
    hide(
        Home,
        ".mozilla",
        Ignore,
        "Firefox profiles: cookies and saved passwords",
    ),
    hide(
        Config,
        "google-chrome",
        Ignore,
        "Chrome profiles: cookies and saved passwords",
    ),
    hide(
        Config,
        "chromium",
        Ignore,
        "Chromium profiles: cookies and saved passwords",
    ),
];

/// Below every writable grant and each directory directly inside it
/// (where project checkouts live): files an editor, agent or direnv runs
/// or trusts. A missing one is reported, since refusing every project
/// without them would refuse nearly every project.
const PROJECT_READ_ONLY: &[&str] = &[
    ".mcp.json",
    ".claude",
    ".cursor",
    ".vscode",
    ".zed",
    ".continue",
    ".envrc",
];

/// The top-level entries of a git directory where git keeps data, left
/// writable; everything else at that level is read-only. `modules` and
/// `worktrees` hold git directories of their own, which get the same rule.
pub const GIT_DATA: &[&str] = &[
    "objects",
    "refs",
    "logs",
    "index",
    "HEAD",
    "ORIG_HEAD",
    "FETCH_HEAD",
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "MERGE_RR",
    "AUTO_MERGE",
    "SQUASH_MSG",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "REBASE_HEAD",
    "BISECT_LOG",
    "BISECT_START",
    "BISECT_EXPECTED_REV",
    "BISECT_ANCESTORS_OK",
    "BISECT_NAMES",
    "BISECT_TERMS",
    "BISECT_FIRST_PARENT",
    "COMMIT_EDITMSG",
    "TAG_EDITMSG",
    "NOTES_EDITMSG",
    "NOTES_MERGE_PARTIAL",
    "NOTES_MERGE_REF",
    "NOTES_MERGE_WORKTREE",
    "EDIT_DESCRIPTION",
    "packed-refs",
    "shallow",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
    "rr-cache",
    "gc.pid",
    "gc.log",
    "lfs",
];

/// How deep below a writable grant cordon looks for repositories.
pub const GIT_DEPTH: usize = 3;
/// How many directories that search may read before cordon refuses the
/// grant as too large to check.
pub const GIT_SEARCH_LIMIT: usize = 100_000;

/// A config-like name missing from a git directory, created in its
/// harmless form before launch and then masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Harmless {
    pub path: PathBuf,
    pub form: Create,
}

/// What [`find`] learned about the protected paths of a launch.
#[derive(Debug, Default)]
pub struct Found {
    /// Existing protected paths inside grants: masked by mounts.
    pub masked: Vec<Protection>,
    /// Missing protected paths a writable grant would let the server
    /// create, where creating them runs code later (shell startup files,
    /// autostart entries, `~/.ssh`, a repository's missing config): the
    /// launch is refused.
    pub creatable: Vec<PathBuf>,
    /// Missing config-like names of git directories inside writable
    /// grants, to be created harmless and masked (with namespaces).
    pub harmless: Vec<Harmless>,
    /// Missing paths only some setups read (`.vscode`, `.kshrc`, …) a
    /// writable grant would let the server create: reported.
    pub unmasked: Vec<PathBuf>,
    /// A writable grant of the home directory or an ancestor of it.
    pub writable_home: Option<PathBuf>,
    /// A writable grant too large to search for repositories.
    pub too_large: Option<PathBuf>,
}

/// What happens to a candidate that does not exist.
#[derive(Debug, Clone, Copy)]
enum Missing {
    Absent(Absent),
    Create(Create),
}

struct Candidate {
    path: PathBuf,
    mask: Mask,
    missing: Missing,
}

/// The protections that apply to `policy`'s grants.
pub fn find(policy: &Policy, host: &HostPaths) -> Found {
    let lifted = |p: &Path| policy.unprotect.iter().any(|u| u == p);
    let mut found = Found::default();
    let home = crate::realpath::canonical(&host.home).unwrap_or_else(|_| host.home.clone());
    found.writable_home = policy
        .fs
        .iter()
        .filter(|g| g.exists && g.access.write && home.starts_with(&g.path))
        .map(|g| g.path.clone())
        .find(|_| !lifted(&home) && !lifted(&host.home));

    let mut candidates = home_candidates(host);
    candidates.push(Candidate {
        path: host.config.clone(),
        mask: Mask::ReadOnly,
        missing: Missing::Absent(Refuse),
    });
    candidates.push(Candidate {
        path: host.state.clone(),
        mask: Mask::ReadOnly,
        missing: Missing::Absent(Refuse),
    });
    // The package store: what approved servers run. A server that could
    // write it would change the code of every other server (and its own
    // next start); each server gets its own entry read+exec only.
    candidates.push(Candidate {
        path: host.store.clone(),
        mask: Mask::ReadOnly,
        missing: Missing::Absent(Refuse),
    });
    let writable: Vec<&Path> = policy
        .fs
        .iter()
        .filter(|g| g.exists && g.access.write && g.path.is_dir())
        .map(|g| g.path.as_path())
        .collect();
    for grant in &writable {
        for dir in project_dirs(grant) {
            candidates.extend(PROJECT_READ_ONLY.iter().map(|rel| Candidate {
                path: dir.join(rel),
                mask: Mask::ReadOnly,
                missing: Missing::Absent(Report),
            }));
        }
    }
    let mut git = GitSearch::default();
    for grant in &writable {
        if !git.search(grant) {
            found.too_large = Some(grant.to_path_buf());
        }
    }
    // A read-only mask, and the report of a missing path, both need a
    // writable grant containing the path: without any writable grant,
    // where a read-only candidate resolves to cannot change the outcome,
    // so it is not looked up (most of the table, for most launches).
    let any_writable = policy.fs.iter().any(|g| g.exists && g.access.write);
    // What the git configuration names counts only inside a writable
    // grant (`candidates`): without any, the files are not read.
    if any_writable {
        git.global_hooks(host, &home);
    }
    let in_writable = |p: &Path| writable_grant_containing(policy, p).is_some();
    candidates.extend(git.candidates(&in_writable));
    for Candidate {
        path,
        mask,
        missing,
    } in candidates
    {
        if mask == Mask::ReadOnly && !any_writable {
            continue;
        }
        let Ok(real) = crate::realpath::canonical(&path) else {
            if writable_grant_containing(policy, &path).is_some() && !lifted(&path) {
                match missing {
                    Missing::Absent(Refuse) => found.creatable.push(path),
                    Missing::Absent(Report) => found.unmasked.push(path),
                    Missing::Absent(Ignore) => {}
                    Missing::Create(form) => found.harmless.push(Harmless { path, form }),
                }
            }
            continue;
        };
        if lifted(&path) || lifted(&real) || found.masked.iter().any(|f| f.path == real) {
            continue;
        }
        let grant = match mask {
            Mask::ReadOnly => writable_grant_containing(policy, &real),
            Mask::Hide => grant_containing(policy, &real),
        };
        if let Some(grant) = grant {
            found.masked.push(Protection {
                path: real,
                mask,
                grant,
                create: None,
            });
        }
    }
    found.masked.sort_by(|a, b| a.path.cmp(&b.path));
    for list in [&mut found.creatable, &mut found.unmasked] {
        list.sort();
        list.dedup();
    }
    found.harmless.sort_by(|a, b| a.path.cmp(&b.path));
    found.harmless.dedup();
    found
}

/// The table's rows as paths: `Config` rows below `$XDG_CONFIG_HOME` and,
/// where that differs, below `~/.config` too. One expansion of the table
/// for the mount plan, `--explain` and `profile learn`.
pub fn rows(host: &HostPaths) -> Vec<(PathBuf, &'static Entry)> {
    let mut config_dirs = vec![host.home.join(".config")];
    if let Some(xdg) = host.config.parent() {
        if !config_dirs.iter().any(|d| d == xdg) {
            config_dirs.push(xdg.to_path_buf());
        }
    }
    let mut out = Vec::new();
    for entry in PROTECTED {
        let bases: Vec<&Path> = match entry.base {
            Base::Home => vec![host.home.as_path()],
            Base::Config => config_dirs.iter().map(PathBuf::as_path).collect(),
        };
        for base in bases {
            out.push((base.join(entry.rel), entry));
        }
    }
    out
}

fn home_candidates(host: &HostPaths) -> Vec<Candidate> {
    rows(host)
        .into_iter()
        .map(|(path, entry)| Candidate {
            path,
            mask: entry.mask,
            missing: Missing::Absent(entry.absent),
        })
        .collect()
}

/// Git directories found in writable grants, and the paths git reads as
/// configuration that point into them.
#[derive(Default)]
struct GitSearch {
    /// Git directories, canonical, in the order found.
    dirs: Vec<PathBuf>,
    /// `.git` files (`gitdir: …`).
    gitfiles: Vec<PathBuf>,
    /// Paths named by configuration (`core.hooksPath`, `include.path`).
    named: Vec<PathBuf>,
}

impl GitSearch {
    /// Searches `grant` to [`GIT_DEPTH`]; false when it holds more than
    /// [`GIT_SEARCH_LIMIT`] directories.
    fn search(&mut self, grant: &Path) -> bool {
        let mut queue = VecDeque::from([(grant.to_path_buf(), 0usize)]);
        let mut read = 0usize;
        while let Some((dir, depth)) = queue.pop_front() {
            if is_git_dir(&dir) {
                self.add_dir(&dir);
                continue;
            }
            let dotgit = dir.join(".git");
            match std::fs::symlink_metadata(&dotgit) {
                Ok(meta) if meta.is_dir() => self.add_dir(&dotgit),
                Ok(meta) if meta.is_file() => {
                    self.gitfiles.push(dotgit.clone());
                    if let Some(target) = read_gitfile(&dotgit) {
                        self.add_dir(&target);
                    }
                }
                Ok(_) => {
                    if let Ok(target) = std::fs::canonicalize(&dotgit) {
                        self.add_dir(&target);
                    }
                }
                Err(_) => {}
            }
            if depth >= GIT_DEPTH {
                continue;
            }
            read += 1;
            if read > GIT_SEARCH_LIMIT {
                return false;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name() != ".git" && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    queue.push_back((entry.path(), depth + 1));
                }
            }
        }
        true
    }

    fn add_dir(&mut self, dir: &Path) {
        let Ok(real) = std::fs::canonicalize(dir) else {
            return;
        };
        // A directory named `.git` counts whatever it holds; one reached
        // through a `gitdir:` line or a `commondir` only when git would
        // take it for a git directory (it has HEAD), so a planted pointer
        // cannot make cordon mask a whole work tree.
        let named = real.file_name().is_some_and(|n| n == ".git");
        let valid = named || real.join("HEAD").exists();
        if !real.is_dir() || !valid || self.dirs.contains(&real) {
            return;
        }
        self.dirs.push(real.clone());
        if let Some(common) = read_commondir(&real) {
            self.add_dir(&common);
        }
        for sub in ["modules", "worktrees"] {
            self.add_nested(&real.join(sub), 0);
        }
        let config = real.join("config");
        self.named.extend(config_paths(&config, hooks_base(&real)));
    }

    /// Git directories below `modules` (names may contain `/`) or
    /// `worktrees`.
    fn add_nested(&mut self, dir: &Path, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if path.join("HEAD").exists() {
                self.add_dir(&path);
            } else if depth < GIT_DEPTH {
                self.add_nested(&path, depth + 1);
            }
        }
    }

    /// `core.hooksPath` and includes of the user's and the system's git
    /// configuration, which may point into a writable grant.
    fn global_hooks(&mut self, host: &HostPaths, home: &Path) {
        let xdg = host
            .config
            .parent()
            .map_or_else(|| home.join(".config"), Path::to_path_buf);
        for file in [
            home.join(".gitconfig"),
            xdg.join("git/config"),
            home.join(".config/git/config"),
            PathBuf::from("/etc/gitconfig"),
        ] {
            let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
            self.named.extend(config_paths(&file, base));
        }
        for path in &mut self.named {
            if let Ok(rest) = path.strip_prefix("~") {
                *path = home.join(rest);
            }
        }
    }

    /// The candidates for the git directories inside writable grants.
    fn candidates(&self, in_writable: &dyn Fn(&Path) -> bool) -> Vec<Candidate> {
        let mut out = Vec::new();
        let read_only = |path: PathBuf, missing: Missing| Candidate {
            path,
            mask: Mask::ReadOnly,
            missing,
        };
        for dir in self.dirs.iter().filter(|d| in_writable(d)) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let data = GIT_DATA.contains(&name.as_ref()) || name.ends_with(".lock");
                if !data && name != "modules" && name != "worktrees" {
                    out.push(read_only(entry.path(), Missing::Absent(Refuse)));
                }
            }
            if is_linked(dir) {
                continue;
            }
            out.push(read_only(dir.join("config"), Missing::Absent(Refuse)));
            out.push(read_only(
                dir.join("commondir"),
                Missing::Create(Create::File(".\n")),
            ));
            out.push(read_only(dir.join("hooks"), Missing::Create(Create::Dir)));
            out.push(read_only(dir.join("info"), Missing::Create(Create::Dir)));
            if worktree_config_enabled(&dir.join("config")) {
                out.push(read_only(
                    dir.join("config.worktree"),
                    Missing::Create(Create::File("")),
                ));
            }
        }
        for file in &self.gitfiles {
            out.push(read_only(file.clone(), Missing::Absent(Refuse)));
        }
        for path in self.named.iter().filter(|p| in_writable(p)) {
            out.push(read_only(path.clone(), Missing::Absent(Refuse)));
        }
        out
    }
}

/// A directory that is itself a git directory (a bare repository, or a
/// `.git` granted directly).
fn is_git_dir(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir()
}

/// The git directory a `.git` file names, resolved against its directory.
fn read_gitfile(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).ok()?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    Some(file.parent()?.join(target))
}

/// The common directory a `commondir` file names (relative to the git
/// directory), when the file exists.
fn read_commondir(dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join("commondir")).ok()?;
    let target = text.lines().next()?.trim();
    (!target.is_empty()).then(|| dir.join(target))
}

/// A linked worktree's (or a submodule's worktree's) git directory: its
/// `commondir` names another directory, whose configuration and hooks
/// apply.
fn is_linked(dir: &Path) -> bool {
    read_commondir(dir)
        .and_then(|c| std::fs::canonicalize(c).ok())
        .is_some_and(|c| c != dir)
}

/// Where a relative `core.hooksPath` of the git directory `dir` starts:
/// the work tree (the parent of a `.git` directory), else `dir`.
fn hooks_base(dir: &Path) -> PathBuf {
    match (dir.file_name(), dir.parent()) {
        (Some(name), Some(parent)) if name == ".git" => parent.to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// `core.hooksPath`, `include.path` and `includeIf.*.path` of a git config
/// file (relative hooks paths against `hooks_from`, relative includes
/// against the file's directory; `~/` left for the caller).
fn config_paths(file: &Path, hooks_from: PathBuf) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("");
            section = name
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().trim_matches('"');
        let from = match (section.as_str(), key.as_str()) {
            ("core", "hookspath") => &hooks_from,
            ("include" | "includeif", "path") => &dir,
            _ => continue,
        };
        if value.is_empty() {
            continue;
        }
        let path = Path::new(value);
        out.push(if path.is_absolute() || value.starts_with("~/") {
            path.to_path_buf()
        } else {
            from.join(path)
        });
    }
    out
}

/// Whether a git config file turns on `extensions.worktreeConfig`.
fn worktree_config_enabled(config: &Path) -> bool {
    std::fs::read_to_string(config).is_ok_and(|t| t.to_ascii_lowercase().contains("worktreeconfig"))
}

/// The harmless names as protections, created by the mount plan inside
/// the sandbox (after consent, never before) and masked there.
pub fn harmless_protections(list: &[Harmless], policy: &Policy) -> Vec<Protection> {
    list.iter()
        .filter_map(|h| {
            let grant = writable_grant_containing(policy, &h.path)?;
            Some(Protection {
                path: h.path.clone(),
                mask: Mask::ReadOnly,
                grant,
                create: Some(h.form),
            })
        })
        .collect()
}

/// Files below the home directory that a server is given only as a
/// cleaned copy: their settings without credentials or commands.
pub const CLEANED: &[(&str, Cleaner)] = &[
    (".npmrc", Cleaner::Npmrc),
    (".gitconfig", Cleaner::GitConfig),
    (".config/git/config", Cleaner::GitConfig),
];

/// How a file of [`CLEANED`] is cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleaner {
    Npmrc,
    GitConfig,
}

impl Cleaner {
    pub fn clean(self, text: &str) -> String {
        match self {
            Cleaner::Npmrc => clean_npmrc(text),
            Cleaner::GitConfig => clean_gitconfig(text),
        }
    }
}

/// The settings of a git configuration file a server may see
/// (`section.key`, lower case): who commits, and how files are read and
/// written. Never an alias, a command (`core.editor`, `core.fsmonitor`,
/// `core.sshCommand`, `gpg.program`, a credential helper), a URL rewrite
/// (which can carry a token), an extra HTTP header or an include.
const GITCONFIG_KEEP: &[&str] = &[
    "user.name",
    "user.email",
    "init.defaultbranch",
    "core.autocrlf",
    "core.eol",
    "core.safecrlf",
    "core.quotepath",
    "core.ignorecase",
    "core.precomposeunicode",
    "core.filemode",
    "core.excludesfile",
    "core.attributesfile",
    "i18n.commitencoding",
    "i18n.logoutputencoding",
    "commit.verbose",
    "log.date",
    "color.ui",
];

/// A git configuration file with only the keys [`GITCONFIG_KEEP`] allows,
/// each written back under its section.
pub fn clean_gitconfig(text: &str) -> String {
    let mut out = String::new();
    let mut section = String::new();
    let mut written = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("").trim();
            // A subsection (`[remote "origin"]`) never holds a kept key.
            section = if name.contains(char::is_whitespace) || name.contains('.') {
                String::new()
            } else {
                name.to_ascii_lowercase()
            };
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if section.is_empty() || !GITCONFIG_KEEP.contains(&format!("{section}.{key}").as_str()) {
            continue;
        }
        if value.contains(['\\', '`', '$', '!']) {
            continue;
        }
        if written != section {
            out.push_str(&format!("[{section}]\n"));
            written = section.clone();
        }
        out.push_str(&format!("\t{key} = {value}\n"));
    }
    out
}

/// The settings of `~/.npmrc` that npm may see through a cleaned copy:
/// where packages come from and how npm behaves, never a token, a
/// password, a client key or a setting that runs code (`node-options`,
/// `script-shell`, `onload-script`).
const NPMRC_KEEP: &[&str] = &[
    "registry",
    "offline",
    "prefer-offline",
    "prefer-online",
    "update-notifier",
    "fund",
    "audit",
    "loglevel",
    "progress",
    "color",
    "strict-ssl",
    "fetch-retries",
    "fetch-retry-factor",
    "fetch-retry-mintimeout",
    "fetch-retry-maxtimeout",
    "fetch-timeout",
    "maxsockets",
    "proxy",
    "https-proxy",
    "noproxy",
];

/// `~/.npmrc` with only the lines [`NPMRC_KEEP`] allows (a scope's
/// `@scope:registry` too); values with credentials in a URL (`user:pass@`)
/// or an environment reference are dropped. npm reads it in place of the
/// user's file, which cordon hides because it commonly holds registry
/// tokens.
pub fn clean_npmrc(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let scoped = key.starts_with('@') && key.ends_with(":registry");
        let allowed = scoped || NPMRC_KEEP.contains(&key);
        if !allowed || value.contains('@') || value.contains("${") {
            continue;
        }
        out.push_str(&format!("{key}={value}\n"));
    }
    out
}

/// A grant whose path is a protected path or lies inside one: the
/// protection would make it useless or it would defeat the protection.
pub fn grant_inside_protection<'a>(
    protections: &'a [Protection],
    policy: &Policy,
) -> Option<(&'a Protection, PathBuf)> {
    protections.iter().find_map(|p| {
        policy
            .fs
            .iter()
            .find(|g| g.exists && g.path.starts_with(&p.path))
            .map(|g| (p, g.path.clone()))
    })
}

/// The grant itself and the directories directly inside it.
fn project_dirs(grant: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![grant.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(grant) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
    }
    dirs.sort();
    dirs
}

fn grant_containing(policy: &Policy, path: &Path) -> Option<PathBuf> {
    policy
        .fs
        .iter()
        .filter(|g| g.exists && path.starts_with(&g.path))
        .map(|g| g.path.clone())
        .max()
}

fn writable_grant_containing(policy: &Policy, path: &Path) -> Option<PathBuf> {
    policy
        .fs
        .iter()
        .filter(|g| g.exists && g.access.write && path.starts_with(&g.path))
        .map(|g| g.path.clone())
        .max()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cleaned_npmrc_keeps_settings_and_drops_secrets_and_code() {
        let text = "registry=https://npm.example/\n\
                    //npm.example/:_authToken=secret\n\
                    _auth=c2VjcmV0\n\
                    offline = true\n\
                    @corp:registry=https://npm.corp/\n\
                    node-options=--require /tmp/x.js\n\
                    script-shell=/tmp/sh\n\
                    proxy=http://user:pass@proxy:3128\n\
                    https-proxy=${PROXY}\n\
                    # a comment\n";
        assert_eq!(
            clean_npmrc(text),
            "registry=https://npm.example/\noffline=true\n@corp:registry=https://npm.corp/\n"
        );
    }

    #[test]
    fn cleaned_gitconfig_keeps_identity_and_drops_commands_and_tokens() {
        let text = "[user]\n\tname = Ada\n\temail = ada@example.org\n\
                    [core]\n\tfsmonitor = /tmp/x\n\teditor = vim\n\tautocrlf = input\n\
                    [alias]\n\tst = !sh -c evil\n\
                    [url \"https://TOKEN@github.com/\"]\n\tinsteadOf = https://github.com/\n\
                    [http]\n\textraHeader = Authorization: Bearer x\n\
                    [credential]\n\thelper = store\n\
                    [include]\n\tpath = ~/.gitconfig.local\n\
                    [user]\n\tsigningkey = ABC\n";
        assert_eq!(
            clean_gitconfig(text),
            "[user]\n\tname = Ada\n\temail = ada@example.org\n[core]\n\tautocrlf = input\n"
        );
    }

    #[test]
    fn git_config_paths_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "[core]\n\tHooksPath = \"hooks-here\"\n[include]\n\tpath = /abs/inc\n[includeIf \"gitdir:x\"]\n\tpath = rel.inc\n[alias]\n\tpath = not-this\n",
        )
        .unwrap();
        let found = config_paths(&config, PathBuf::from("/work"));
        assert_eq!(
            found,
            vec![
                PathBuf::from("/work/hooks-here"),
                PathBuf::from("/abs/inc"),
                dir.path().join("rel.inc"),
            ]
        );
    }

    #[test]
    fn every_entry_says_why() {
        for entry in PROTECTED {
            assert!(!entry.why.is_empty(), "{} has no reason", entry.rel);
            assert!(!entry.rel.starts_with('/') && !entry.rel.ends_with('/'));
        }
    }
}
