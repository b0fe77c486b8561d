//! A user's world: a temporary directory anyone may traverse, holding a
//! home owned by the user (a copy of the seed home, so npm's and uv's
//! caches are there) and a copy of cordon the user can execute.
//!
//! npm and uv are set to offline in that home (`~/.npmrc`,
//! `~/.config/uv/uv.toml`): `npx -y` and `uvx` run from the caches and
//! never ask a registry, as root or not. git gets an identity for commits.

use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::setup::{Isolation, Setup};
use crate::support::{AS_NOBODY, NOBODY, User, cordon_bin};

pub struct World<'s> {
    pub user: User,
    pub setup: &'s Setup,
    /// Present when the suite runs in its own network (as root).
    pub isolation: Option<&'s Isolation>,
    root: tempfile::TempDir,
    pub home: PathBuf,
    pub cordon: PathBuf,
    /// cordon's stderr of the last session, shown when a case fails.
    pub last_stderr: RefCell<Option<PathBuf>>,
    sessions: RefCell<usize>,
}

const NPMRC: &str = "offline=true\nupdate-notifier=false\nfund=false\naudit=false\n";
const UV_TOML: &str = "offline = true\n";
const GITCONFIG: &str =
    "[user]\n\tname = cordon e2e\n\temail = e2e@example.invalid\n[init]\n\tdefaultBranch = main\n";

impl<'s> World<'s> {
    pub fn new(
        user: User,
        setup: &'s Setup,
        isolation: Option<&'s Isolation>,
        npm_registry: &str,
    ) -> Result<World<'s>, String> {
        let root = tempfile::Builder::new()
            .prefix("cordon-e2e-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let root_path = fs::canonicalize(root.path()).map_err(|e| e.to_string())?;
        fs::set_permissions(&root_path, fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let home = root_path.join("home");
        fs::create_dir(&home).map_err(|e| e.to_string())?;
        let copied = Command::new("cp")
            .arg("-a")
            .arg(setup.seed_home.join("."))
            .arg(&home)
            .status()
            .map_err(|e| e.to_string())?;
        if !copied.success() {
            return Err(format!("cp -a {}: {copied}", setup.seed_home.display()));
        }
        let cordon = root_path.join("cordon");
        fs::copy(cordon_bin(), &cordon).map_err(|e| e.to_string())?;
        fs::create_dir_all(home.join(".local/bin")).map_err(|e| e.to_string())?;
        // uv where its standalone installer puts it; uvx starts the uv
        // next to itself.
        for tool in ["uv", "uvx"] {
            fs::copy(
                setup.dir.join("venv/bin").join(tool),
                home.join(".local/bin").join(tool),
            )
            .map_err(|e| e.to_string())?;
        }
        let world = World {
            user,
            setup,
            isolation,
            root,
            home,
            cordon,
            last_stderr: RefCell::new(None),
            sessions: RefCell::new(0),
        };
        // cordon reads the registry from here; npm itself runs inside
        // cordon's install sandbox with a private configuration.
        world.write(".npmrc", &format!("{NPMRC}registry={npm_registry}\n"));
        world.write(".config/uv/uv.toml", UV_TOML);
        world.write(".gitconfig", GITCONFIG);
        world.give_tree(&world.home);
        Ok(world)
    }

    /// "root", "nobody", or "user" when the suite runs unprivileged.
    pub fn label(&self) -> &'static str {
        match self.user {
            User::Nobody => "nobody",
            User::Current if nix::unistd::getuid().is_root() => "root",
            User::Current => "user",
        }
    }

    /// A path below the home directory.
    pub fn at(&self, rel: &str) -> PathBuf {
        self.home.join(rel)
    }

    /// `~/rel` as a string, for arguments.
    pub fn s(&self, rel: &str) -> String {
        self.at(rel).display().to_string()
    }

    /// Writes `~/rel`, creating its directories, owned by the user.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.at(rel);
        if let Some(parent) = path.parent() {
            self.mkdir_path(parent);
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.give(&path);
        path
    }

    /// Creates `~/rel` and its parents, owned by the user.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.at(rel);
        self.mkdir_path(&path);
        path
    }

    fn mkdir_path(&self, path: &Path) {
        let mut missing = Vec::new();
        let mut p = path.to_path_buf();
        while !p.exists() {
            missing.push(p.clone());
            if !p.pop() {
                break;
            }
        }
        fs::create_dir_all(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for dir in missing {
            self.give(&dir);
        }
    }

    fn give(&self, path: &Path) {
        if self.user == User::Nobody {
            let uid = Some(nix::unistd::Uid::from_raw(NOBODY));
            let gid = Some(nix::unistd::Gid::from_raw(NOBODY));
            nix::unistd::chown(path, uid, gid)
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    fn give_tree(&self, path: &Path) {
        if self.user == User::Nobody {
            let owner = format!("{NOBODY}:{NOBODY}");
            let status = Command::new("chown")
                .args(["-R", &owner])
                .arg(path)
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown -R {}",
                path.display()
            );
        }
    }

    /// The environment cordon (and anything run as the user) gets: the
    /// user's home, ~/.local/bin first on PATH (where uv is), cordon's
    /// own directories inside the home.
    pub fn base_env(&self) -> Vec<(String, String)> {
        let home = self.home.display().to_string();
        vec![
            ("HOME".into(), home.clone()),
            (
                "PATH".into(),
                format!("{home}/.local/bin:/usr/local/bin:/usr/bin:/bin"),
            ),
            ("XDG_CONFIG_HOME".into(), format!("{home}/.config")),
            ("XDG_STATE_HOME".into(), format!("{home}/.local/state")),
        ]
    }

    /// [`World::base_env`] and the loopback index of the uvx servers'
    /// wheels, for cordon only: uv run by the user outside cordon stays on
    /// its offline cache.
    pub fn cordon_env(&self) -> Vec<(String, String)> {
        let mut env = self.base_env();
        if let Some(index) = &self.setup.index {
            env.push(("UV_INDEX_URL".into(), index.clone()));
        }
        env
    }

    /// The command prefix that runs a program as the user.
    pub fn as_user(&self) -> Vec<String> {
        match self.user {
            User::Current => Vec::new(),
            User::Nobody => AS_NOBODY.map(String::from).to_vec(),
        }
    }

    /// Runs `argv` as the user in the home directory, outside cordon (to
    /// prepare a case); panics when it fails.
    pub fn run(&self, argv: &[&str]) -> Output {
        let mut full = self.as_user();
        full.extend(argv.iter().map(|a| (*a).to_owned()));
        let mut cmd = Command::new(&full[0]);
        cmd.args(&full[1..]).env_clear().current_dir(&self.home);
        for (k, v) in self.base_env() {
            cmd.env(k, v);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", full.join(" ")));
        assert!(
            out.status.success(),
            "{} failed: {}{}",
            full.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A fresh file name in the world's root for one session's spec,
    /// status and stderr.
    pub fn session_file(&self, suffix: &str) -> PathBuf {
        let n = *self.sessions.borrow();
        self.root.path().join(format!("session-{n}.{suffix}"))
    }

    pub fn next_session(&self) {
        *self.sessions.borrow_mut() += 1;
    }

    /// A virtual environment at `~/rel` with `package==version` installed,
    /// made offline from uv's cache as the user (as `python3 -m venv` and
    /// pip would, only faster).
    pub fn venv(&self, rel: &str, package: &str) -> PathBuf {
        let dir = self.at(rel);
        if dir.join("bin/python").exists() {
            return dir;
        }
        let dir_s = dir.display().to_string();
        self.run(&[
            "uv",
            "venv",
            "--quiet",
            "--python",
            "/usr/bin/python3",
            &dir_s,
        ]);
        let python = format!("{dir_s}/bin/python");
        let req = format!("{package}=={}", self.setup.pin(package).version);
        self.run(&["uv", "pip", "install", "--quiet", "--python", &python, &req]);
        dir
    }

    /// Replaces the home directory's path with `~` for printing.
    pub fn short(&self, text: &str) -> String {
        text.replace(&self.home.display().to_string(), "~")
    }
}
