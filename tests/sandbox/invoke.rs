//! Running the probe: inside cordon (`cordon run --yes [--no-namespaces]
//! FLAGS… -- PROBE --probe ACTION…`) or directly on the host, always with a
//! deadline, and reading its one-line answer.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::as_user;
use crate::world::{World, s};

/// How long one cordon run may take before it is killed.
const DEADLINE: Duration = Duration::from_secs(30);

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Probe {
    /// What was run, for messages.
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Probe {
    /// Exit code, stdout and the end of stderr (without cordon's consent
    /// text: its header and indented fields), for a failure message.
    pub fn describe(&self) -> String {
        let tail: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("  "))
            .filter(|l| !l.starts_with("cordon: about to run"))
            .collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" | ");
        let answer = self.stdout.lines().next().and_then(answer_in);
        let stdout = answer.map_or_else(
            || format!("stdout {:?}", self.stdout),
            |a| format!("answer {a:?}"),
        );
        format!(
            "{}: exit {:?}, {stdout}, stderr {:?}",
            self.what, self.code, tail
        )
    }

    /// The probe's answer (`ok …` or `err …`), when it exited 0 and
    /// printed exactly one line: the notification carrying the answer.
    fn line(&self) -> Result<String, String> {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let answer = match (self.code, lines.as_slice()) {
            (Some(0), [line]) => answer_in(line),
            _ => None,
        };
        answer.ok_or_else(|| format!("the probe did not answer: {}", self.describe()))
    }

    /// The detail of an `ok` answer; an error for anything else.
    pub fn ok(&self) -> Result<String, String> {
        let line = self.line()?;
        match line.strip_prefix("ok") {
            Some(detail) => Ok(detail.trim().to_owned()),
            None => Err(format!("expected success: {}", self.describe())),
        }
    }

    /// The errno of an `err` answer; an error when the action succeeded.
    pub fn err(&self) -> Result<String, String> {
        let line = self.line()?;
        match line.strip_prefix("err ") {
            Some(errno) => Ok(errno.to_owned()),
            None => Err(format!("ESCAPE: expected a denial: {}", self.describe())),
        }
    }

    /// A denial with exactly `errno`.
    pub fn errno(&self, errno: &str) -> Result<(), String> {
        let got = self.err()?;
        if got == errno {
            Ok(())
        } else {
            Err(format!("expected {errno}, got {got}: {}", self.describe()))
        }
    }

    /// A failure whose errno is not `errno` (a host control: the call works
    /// without the sandbox, or fails for a reason of its own).
    pub fn not_errno(&self, errno: &str) -> Result<(), String> {
        match self.err() {
            Ok(got) if got == errno => Err(format!(
                "expected anything but {errno}: {}",
                self.describe()
            )),
            _ => self.line().map(|_| ()),
        }
    }
}

/// `params.data` of the probe's notification.
fn answer_in(line: &str) -> Option<String> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(message.get("params")?.get("data")?.as_str()?.to_owned())
}

/// A cordon run being configured.
pub struct Invocation<'w> {
    world: &'w World,
    /// `run` (the default), or `profile learn NAME`.
    learn: Option<String>,
    flags: Vec<String>,
    envs: Vec<(String, String)>,
    fd3: bool,
}

impl<'w> Invocation<'w> {
    pub fn new(world: &'w World) -> Invocation<'w> {
        Invocation {
            world,
            learn: None,
            flags: Vec::new(),
            envs: Vec::new(),
            fd3: false,
        }
    }

    pub fn ro(self, path: &Path) -> Self {
        self.flags(&["--ro", s(path)])
    }

    pub fn rw(self, path: &Path) -> Self {
        self.flags(&["--rw", s(path)])
    }

    pub fn profile(self, path: &Path) -> Self {
        self.flags(&["-p", s(path)])
    }

    /// `cordon profile learn NAME …` instead of `cordon run …`.
    pub fn learning(mut self, name: &str) -> Self {
        self.learn = Some(name.to_owned());
        self
    }

    pub fn flags(mut self, flags: &[&str]) -> Self {
        self.flags.extend(flags.iter().map(|f| (*f).to_owned()));
        self
    }

    /// Sets a variable in cordon's own environment.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Starts cordon with descriptor 3 open (on /etc/hostname).
    pub fn with_fd3(mut self) -> Self {
        self.fd3 = true;
        self
    }

    /// Runs the probe with `action` inside cordon.
    pub fn probe(self, action: &[&str]) -> Probe {
        let probe = s(&self.world.probe).to_owned();
        let mut argv = vec![probe.as_str(), "--probe"];
        argv.extend_from_slice(action);
        let what = format!("[sandbox {}] {}", self.flags.join(" "), action.join(" "));
        self.run(&argv, what)
    }

    /// The full `cordon …` command, wrapped as the world's user.
    pub fn build(&self, argv: &[&str]) -> Command {
        // The whole sandbox: cases read enforcement details from stderr.
        let mut args = match &self.learn {
            Some(name) => vec!["profile", "learn", name.as_str(), "--yes", "--details"],
            None => vec!["run", "--yes", "--details"],
        };
        if !self.world.ns {
            args.push("--no-namespaces");
        }
        args.extend(self.flags.iter().map(String::as_str));
        args.push("--");
        args.extend_from_slice(argv);
        let mut cmd = self.world.env.cordon(&args);
        for (name, value) in &self.envs {
            cmd.env(name, value);
        }
        if self.fd3 { with_fd3(cmd) } else { cmd }
    }

    fn run(self, argv: &[&str], what: String) -> Probe {
        let cmd = self.build(argv);
        run_timed(cmd, what)
    }
}

/// `cmd` behind `bash -c 'exec 3</etc/hostname; exec "$@"'`.
pub fn with_fd3(cmd: Command) -> Command {
    let mut outer = Command::new("bash");
    outer.args(["-c", "exec 3</etc/hostname; exec \"$@\"", "_"]);
    outer
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (name, value) in cmd.get_envs() {
        if let Some(value) = value {
            outer.env(name, value);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
}

/// The probe run unconfined on the host as the world's user.
pub fn host(world: &World, action: &[&str]) -> Probe {
    let mut cmd = host_command(world, action);
    cmd.current_dir(&world.env.home);
    run_timed(cmd, format!("[host] {}", action.join(" ")))
}

/// The unconfined probe command (for wrapping).
pub fn host_command(world: &World, action: &[&str]) -> Command {
    let mut cmd = as_user(world.user(), s(&world.probe));
    cmd.arg("--probe")
        .args(action)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    cmd
}

/// Runs `cmd` with stdin held open until it ends (EOF would start
/// cordon's shutdown), killing its process tree after [`DEADLINE`].
pub fn run_timed(mut cmd: Command, what: String) -> Probe {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Probe {
                what,
                code: None,
                stdout: String::new(),
                stderr: format!("spawn: {e}"),
            };
        }
    };
    let stdin = child.stdin.take();
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                kill_tree(child.id() as i32);
                let _ = child.wait();
                break None;
            }
        }
    };
    drop(stdin);
    let stdout = out.join().unwrap_or_default();
    let mut stderr = err.join().unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {DEADLINE:?})"));
    }
    Probe {
        what,
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// The direct children of `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    let list =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    list.split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// SIGKILLs `pid` and all its descendants, children first found first.
pub fn kill_tree(pid: i32) {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let below = children(all[i]);
        all.extend(below);
        i += 1;
    }
    all.into_iter().for_each(sigkill);
}

/// SIGKILL to `pid`, ignoring a process that is already gone.
pub fn sigkill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The cordon process below its `setpriv`/`setsid --wait` wrappers.
pub fn cordon_pid(wrapper: i32) -> Option<i32> {
    crate::support::cordon_pid(wrapper as u32).map(|p| p as i32)
}
