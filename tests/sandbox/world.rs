//! A mode's world and the ways a case runs the probe.
//!
//! One [`World`] per mode (user × namespaces): a `support::Env` with
//! planted secrets, a read-only and a writable grant, an ungranted
//! directory, a host `sleep` of the same user as cordon, and listeners on
//! the host's loopback, a pathname unix socket in the (ungranted) home and
//! an abstract unix socket. Every file that a case must not touch belongs
//! to the test's user, so a denial can only come from the sandbox, not
//! from file permissions.

use std::fs;
use std::net::TcpListener;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::Child;

use crate::invoke::Invocation;
use crate::support::{Env, NOBODY, User, as_user};

/// Where a case applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Both,
    Ns,
}

/// Why a case did not pass.
#[derive(Debug, Clone)]
pub enum Failure {
    Failed(String),
    /// A kernel feature the case needs is missing (named in the text).
    Skip(String),
}

impl From<String> for Failure {
    fn from(why: String) -> Failure {
        Failure::Failed(why)
    }
}

pub type CaseResult = Result<(), Failure>;

/// One escape attempt and its control.
pub struct Case {
    pub name: &'static str,
    pub only: Only,
    pub run: fn(&World) -> CaseResult,
}

impl Case {
    pub const fn new(name: &'static str, only: Only, run: fn(&World) -> CaseResult) -> Case {
        Case { name, only, run }
    }
}

/// `Err(why())` unless `cond`.
pub fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

/// The test's world for one mode.
pub struct World {
    pub env: Env,
    pub ns: bool,
    /// Distinguishes this mode's sleeps, sockets and files from others'.
    pub tag: String,
    /// The probe executable, runnable by the test's user.
    pub probe: PathBuf,
    /// Granted with `--ro` by the cases that say so; holds `data.txt`.
    pub ro: PathBuf,
    /// Granted with `--rw` by the cases that say so.
    pub rw: PathBuf,
    /// Never granted; holds `secret.txt`.
    pub outside: PathBuf,
    /// A host `sleep` of the test's user.
    sleeper: Child,
    pub tcp_port: u16,
    pub unix_socket: PathBuf,
    pub abstract_name: String,
    /// The kernel's Landlock ABI, as `cordon doctor` reports it.
    pub landlock_abi: u32,
    _listeners: (TcpListener, UnixListener, UnixListener),
}

pub const OUTSIDE_SECRET: &str = "outside secret\n";

impl World {
    pub fn new(user: User, ns: bool, tag: String) -> World {
        let env = Env::new(user);
        let root = env.path();
        let probe = probe_for(&env);
        env.write("ro/data.txt", "readable data\n");
        env.write("rw/.keep", "");
        env.write("outside/secret.txt", OUTSIDE_SECRET);
        env.write(
            "home/.ssh/id_ed25519",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n",
        );
        env.write(
            "home/.aws/credentials",
            "[default]\naws_secret_access_key = not-a-real-key\n",
        );
        let sleeper = host_sleep(user, &format!("7{tag}"));
        let tcp = TcpListener::bind("127.0.0.1:0").expect("host loopback listener");
        let tcp_port = tcp.local_addr().expect("listener address").port();
        let unix_socket = env.home.join("agent.sock");
        let unix = UnixListener::bind(&unix_socket).expect("unix listener");
        fs::set_permissions(&unix_socket, fs::Permissions::from_mode(0o777)).expect("chmod socket");
        let abstract_name = format!("cordon-test-{}-{tag}", std::process::id());
        let addr = UnixAddr::from_abstract_name(abstract_name.as_bytes()).expect("abstract name");
        let abstract_listener = UnixListener::bind_addr(&addr).expect("abstract listener");
        World {
            ro: root.join("ro"),
            rw: root.join("rw"),
            outside: root.join("outside"),
            env,
            ns,
            tag,
            probe,
            sleeper,
            tcp_port,
            unix_socket,
            abstract_name,
            landlock_abi: 0,
            _listeners: (tcp, unix, abstract_listener),
        }
    }

    pub fn user(&self) -> User {
        self.env.user
    }

    /// The uid cordon runs as.
    pub fn uid(&self) -> u32 {
        match self.user() {
            User::Current => nix::unistd::getuid().as_raw(),
            User::Nobody => NOBODY,
        }
    }

    pub fn sleeper_pid(&self) -> i32 {
        self.sleeper.id() as i32
    }

    /// A path below the world's root.
    pub fn at(&self, rel: &str) -> PathBuf {
        self.env.path().join(rel)
    }

    /// A cordon run of the probe, to be configured and started.
    pub fn sandbox(&self) -> Invocation<'_> {
        Invocation::new(self)
    }

    /// The probe run directly on the host as the same user: the control
    /// that shows an action works when nothing confines it.
    pub fn host(&self, action: &[&str]) -> crate::invoke::Probe {
        crate::invoke::host(self, action)
    }

    /// A profile file `profiles/NAME.toml`: the runtime group plus `extra`.
    pub fn profile(&self, name: &str, extra: &str) -> PathBuf {
        let head = format!("schema = 1\ndescription = \"escape suite: {name}\"\n");
        let text = format!("{head}[filesystem]\ngroups = [\"runtime\"]\n{extra}");
        self.plant(&format!("profiles/{name}.toml"), &text)
    }

    /// Writes `rel` (below the root), it and every directory created for
    /// it owned by the test's user.
    pub fn plant(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.env.write(rel, contents);
        let root = self.env.path();
        for dir in path
            .ancestors()
            .skip(1)
            .take_while(|d| d.starts_with(&root) && *d != root)
        {
            self.env.give(dir);
        }
        path
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
    }
}

/// The probe (this test binary) as the test's user can run it: a 0755 copy
/// in the world's root for nobody.
fn probe_for(env: &Env) -> PathBuf {
    let exe = std::env::current_exe()
        .and_then(fs::canonicalize)
        .expect("current exe");
    match env.user {
        User::Current => exe,
        User::Nobody => {
            let copy = env.path().join("probe");
            fs::copy(&exe, &copy).expect("copy the probe");
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod the probe");
            copy
        }
    }
}

/// `sleep SECONDS` on the host as `user`.
pub fn host_sleep(user: User, seconds: &str) -> Child {
    as_user(user, "sleep")
        .arg(seconds)
        .spawn()
        .expect("host sleep")
}

/// `path` as a `&str` (every path in a world is UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The file's contents, or a note that it is unreadable.
pub fn contents(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("<unreadable: {e}>"))
}
