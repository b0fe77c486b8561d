//! Shared by the integration suites: the cordon binary, a fresh home per
//! test, and running as an unprivileged user when the suite runs as root.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod conversation;
pub mod fake_server;
pub mod registry;

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Who runs cordon in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// Whoever runs the tests (root in CI).
    Current,
    /// The unprivileged `nobody` (uid/gid 65534), via setpriv.
    Nobody,
}

pub const NOBODY: u32 = 65534;

/// Current user, plus nobody when the suite runs as root: every sandbox
/// test must pass for both.
pub fn users() -> Vec<User> {
    if nix::unistd::getuid().is_root() {
        vec![User::Current, User::Nobody]
    } else {
        vec![User::Current]
    }
}

pub fn cordon_bin() -> PathBuf {
    std::env::var_os("CORDON_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_cordon")),
        PathBuf::from,
    )
}

/// A test's world: a temporary directory (world-traversable) holding a
/// home directory owned by the test's user and, for nobody, a copy of the
/// cordon binary it can execute.
pub struct Env {
    pub user: User,
    pub root: tempfile::TempDir,
    pub home: PathBuf,
    /// `home/work`: a directory to grant writable (granting the whole home
    /// writable is refused while its startup files do not exist).
    pub work: PathBuf,
    bin: PathBuf,
}

impl Env {
    pub fn new(user: User) -> Env {
        let root = tempfile::Builder::new()
            .prefix("cordon-test-")
            .tempdir()
            .unwrap();
        let root_path = fs::canonicalize(root.path()).unwrap();
        fs::set_permissions(&root_path, fs::Permissions::from_mode(0o755)).unwrap();
        let home = root_path.join("home");
        fs::create_dir(&home).unwrap();
        let bin = match user {
            User::Current => cordon_bin(),
            User::Nobody => {
                let copy = root_path.join("cordon");
                fs::copy(cordon_bin(), &copy).unwrap();
                fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
                copy
            }
        };
        let work = home.join("work");
        fs::create_dir(&work).unwrap();
        let env = Env {
            user,
            root,
            home,
            work,
            bin,
        };
        env.give(&env.home);
        env.give(&env.work);
        env
    }

    pub fn path(&self) -> PathBuf {
        fs::canonicalize(self.root.path()).unwrap()
    }

    /// Makes `path` belong to the test's user.
    pub fn give(&self, path: &Path) {
        if self.user == User::Nobody {
            let id = Some(nix::unistd::Uid::from_raw(NOBODY));
            nix::unistd::chown(path, id, Some(nix::unistd::Gid::from_raw(NOBODY))).unwrap();
        }
    }

    /// Writes a file owned by the test's user.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
            self.give(parent);
        }
        fs::write(&path, contents).unwrap();
        self.give(&path);
        path
    }

    /// `cordon ARGS…` as the test's user, with a clean environment (PATH,
    /// HOME, no XDG dirs), in the home directory, with no controlling
    /// terminal (a new session).
    pub fn cordon<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = as_user(self.user, "setsid");
        cmd.arg("--wait").arg(&self.bin).args(args);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .current_dir(&self.home);
        cmd
    }
}

/// Runs `cmd` with `input` on stdin; returns its output.
/// The prefix that runs a program as `nobody` (setpriv execs, so the pid
/// is the program's).
pub const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--",
];

/// `program` as `user`.
pub fn as_user(user: User, program: &str) -> Command {
    match user {
        User::Current => Command::new(program),
        User::Nobody => {
            let mut c = Command::new(AS_NOBODY[0]);
            c.args(&AS_NOBODY[1..]).arg(program);
            c
        }
    }
}

pub fn run(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Spawns `cmd` with piped stdio, for tests that interact with it.
pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// Reads from `r` until `needle` has appeared (or panics after 20 s).
pub fn read_until(r: &mut impl Read, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen).contains(needle) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {needle:?}; saw {:?}",
            String::from_utf8_lossy(&seen)
        );
        let n = r.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "EOF before {needle:?}; saw {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Pids of every process on the host running `sleep ARG` with ARG
/// starting with `token`.
pub fn sleepers(token: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if argv.len() >= 2 && argv[0].ends_with(b"sleep") && argv[1].starts_with(token.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits up to `limit` for `cond` to hold.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Runs cordon with a pseudo-terminal as its controlling terminal (stdin
/// and stdout stay pipes, as under a host), waits for the consent
/// question, types `answer`, and returns the output.
pub fn answer_on_terminal(env: &Env, args: &[&str], answer: &str) -> Output {
    answer_on_terminal_seen(env, args, answer).0
}

/// [`answer_on_terminal`], also returning what the terminal showed up to
/// the question.
#[allow(dead_code)]
pub fn answer_on_terminal_seen(env: &Env, args: &[&str], answer: &str) -> (Output, String) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut cmd = Command::new(cordon_bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &env.home)
        .env("XDG_CONFIG_HOME", env.home.join(".config"))
        .env("XDG_STATE_HOME", env.home.join(".local/state"))
        .current_dir(&env.home);
    let slave = std::os::fd::AsRawFd::as_raw_fd(&pty.slave);
    // SAFETY: setsid and ioctl are async-signal-safe; the closure makes the
    // pty the child's controlling terminal, nothing else.
    #[allow(unsafe_code)]
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            libc::setsid();
            if libc::ioctl(slave, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = spawn(cmd);
    drop(pty.slave);
    let mut master = fs::File::from(pty.master);
    let seen = read_until(&mut master, "[y/N]");
    master.write_all(answer.as_bytes()).unwrap();
    (child.wait_with_output().unwrap(), seen)
}

/// cordon's pid below the `setpriv`/`setsid --wait` wrappers that fork it
/// (waiting briefly for the fork); None when it is not (or no longer) there.
pub fn cordon_pid(wrapper: u32) -> Option<u32> {
    let mut pid = wrapper;
    for _ in 0..20 {
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        if exe.file_name().is_some_and(|n| n == "cordon") {
            return Some(pid);
        }
        let children =
            fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        match children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse().ok())
        {
            Some(child) => pid = child,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    None
}

/// The plain closing line of a harness-less suite.
pub fn summary(passed: usize, failed: usize, skipped: usize) -> String {
    let skipped = if skipped > 0 {
        format!(", {skipped} skipped")
    } else {
        String::new()
    };
    format!("{passed} passed, {failed} failed{skipped}")
}
