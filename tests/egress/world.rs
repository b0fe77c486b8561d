//! The world the cases run in: the test network (built once, as root) and,
//! per user, a home with the probe and the profiles, and the way to run
//! the probe under cordon with a deadline.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::net::{self, Log, TestHost};
use crate::support::{Env, User};

/// How long one cordon run may take before it is killed.
const DEADLINE: Duration = Duration::from_secs(60);

/// Why the suite cannot run here, if it cannot.
pub fn prerequisites() -> Result<(), String> {
    if !nix::unistd::getuid().is_root() {
        return Err("creating the test hosts' network namespaces needs root".into());
    }
    let ip = std::process::Command::new("ip").arg("-V").output();
    if !ip.is_ok_and(|o| o.status.success()) {
        return Err("`ip` (iproute2) is not installed".into());
    }
    if !std::path::Path::new("/proc/self/ns/user").exists() {
        return Err("the kernel has no user namespaces".into());
    }
    Ok(())
}

pub struct World {
    pub a: TestHost,
    pub b: TestHost,
    pub loop_port: u16,
    pub loop_log: Log,
    pub dns: SocketAddr,
    pub dns_log: Log,
    /// An address of the host itself (on its end of A's pair) and its
    /// IPv6 counterpart where IPv6 works, both served on `own_port`.
    pub own: Ipv4Addr,
    pub own6: Option<Ipv6Addr>,
    pub own_port: u16,
    pub own_log: Log,
}

impl World {
    pub fn build() -> Result<World, String> {
        // A third octet per run, so a leftover of another run is unlikely
        // to be in the way (and is removed if it is).
        let k = (std::process::id() % 200) as u8 + 20;
        let a = TestHost::create(k, "a", 0)?;
        let b = TestHost::create(k, "b", 4)?;
        let (loop_port, loop_log) = net::loopback_server();
        // Public documentation ranges, which no refused range covers: only
        // being the host's own makes them refused.
        let own = Ipv4Addr::new(198, 51, 100, k);
        a.add_host_address(&format!("{own}/32"))?;
        let own6: Option<Ipv6Addr> = a
            .addr6
            .and_then(|_| format!("2001:db8:213:{k}::1").parse().ok())
            .filter(|v6| a.add_host_address(&format!("{v6}/128")).is_ok());
        let (own_port, own_log) = net::own_server(own, own6)?;
        let mut table = HashMap::from([
            ("a.test".to_owned(), IpAddr::V4(a.addr)),
            ("b.test".to_owned(), IpAddr::V4(b.addr)),
            ("loop.test".to_owned(), IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ("self.test".to_owned(), IpAddr::V4(own)),
        ]);
        if let Some(v6) = own6 {
            table.insert("self6.test".to_owned(), IpAddr::V6(v6));
        }
        let (dns, dns_log) = net::dns_server(table);
        Ok(World {
            a,
            b,
            loop_port,
            loop_log,
            dns,
            dns_log,
            own,
            own6,
            own_port,
            own_log,
        })
    }

    pub fn clear_logs(&self) {
        for log in [
            &self.a.http,
            &self.a.udp,
            &self.b.http,
            &self.b.udp,
            &self.loop_log,
            &self.dns_log,
            &self.own_log,
        ] {
            log.clear();
        }
    }

    /// `A:8080` as an allowlist entry and a destination.
    pub fn a_http(&self) -> String {
        format!("{}:{}", self.a.addr, net::HTTP_PORT)
    }

    pub fn b_http(&self) -> String {
        format!("{}:{}", self.b.addr, net::HTTP_PORT)
    }
}

/// One user's view: a home, the probe it can run, the profiles written.
pub struct Ctx<'w> {
    pub world: &'w World,
    pub env: Env,
    probe: PathBuf,
    profiles: Cell<u32>,
}

/// What one cordon run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    /// The probe's answer (`ok …` / `err …`), when it printed one.
    pub answer: Option<String>,
    pub stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        let tail: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.starts_with("  ") && !l.starts_with("cordon: about to run"))
            .collect();
        format!(
            "exit {:?}, answer {:?}, stderr {:?}",
            self.code,
            self.answer,
            tail.join(" | ")
        )
    }

    /// The detail of an `ok` answer.
    pub fn ok(&self) -> Result<String, String> {
        match self.answer.as_deref().and_then(|a| a.strip_prefix("ok ")) {
            Some(detail) if self.code == Some(0) => Ok(detail.to_owned()),
            _ => Err(format!("expected success: {}", self.describe())),
        }
    }

    /// The detail of an `err` answer.
    pub fn err(&self) -> Result<String, String> {
        match self.answer.as_deref().and_then(|a| a.strip_prefix("err ")) {
            Some(detail) => Ok(detail.to_owned()),
            _ => Err(format!("expected a failure: {}", self.describe())),
        }
    }

    /// Asserts cordon reported `line` (a whole stderr line).
    pub fn reported(&self, line: &str) -> Result<(), String> {
        if self.stderr.lines().any(|l| l == line) {
            Ok(())
        } else {
            Err(format!(
                "expected the line {line:?} on stderr: {}",
                self.describe()
            ))
        }
    }
}

impl<'w> Ctx<'w> {
    pub fn new(world: &'w World, user: User) -> Ctx<'w> {
        let env = Env::new(user);
        let probe = env.path().join("probe");
        fs::copy(std::env::current_exe().unwrap(), &probe).unwrap();
        fs::set_permissions(&probe, fs::Permissions::from_mode(0o755)).unwrap();
        Ctx {
            world,
            env,
            probe,
            profiles: Cell::new(0),
        }
    }

    /// A profile of mode "filtered" with these allowlist entries, and
    /// `extra` (TOML tables) after them.
    pub fn profile(&self, allow: &[String], extra: &str) -> PathBuf {
        let n = self.profiles.get() + 1;
        self.profiles.set(n);
        let list: Vec<String> = allow.iter().map(|e| format!("{e:?}")).collect();
        let text = format!(
            "schema = 1\ndescription = \"egress test {n}\"\n\n[filesystem]\ngroups = [\"runtime\"]\n\n[network]\nmode = \"filtered\"\nallow = [{}]\n{extra}",
            list.join(", ")
        );
        self.env.write(&format!("profile-{n}.toml"), &text)
    }

    /// Runs the probe with `args` under a profile allowing `allow`.
    pub fn run(&self, allow: &[String], args: &[&str]) -> Run {
        self.run_with(allow, "", &[], args)
    }

    /// The same with `extra` in the profile and extra `cordon run` flags.
    pub fn run_with(&self, allow: &[String], extra: &str, flags: &[&str], args: &[&str]) -> Run {
        let profile = self.profile(allow, extra);
        let mut argv: Vec<String> = vec!["run".into(), "--yes".into()];
        argv.extend(flags.iter().map(|f| (*f).to_owned()));
        argv.extend(["-p".into(), profile.display().to_string(), "--".into()]);
        argv.push(self.probe.display().to_string());
        argv.push("--probe".into());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let mut cmd = self.env.cordon(&argv);
        cmd.env("CORDON_EGRESS_RESOLVER", self.world.dns.to_string());
        let (status, stdout, stderr) = run_to_deadline(cmd);
        let answer = stdout.lines().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            Some(v.get("params")?.get("data")?.as_str()?.to_owned())
        });
        Run {
            code: status.code(),
            answer,
            stderr,
        }
    }
}

/// Runs `cmd` (stdin kept open: its end would start cordon's shutdown)
/// until it exits or [`DEADLINE`] passes; its status, stdout and stderr.
fn run_to_deadline(mut cmd: Command) -> (ExitStatus, String, String) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take();
    let read_all = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = r.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            kill_children(child.id());
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

/// setsid's child is cordon: ending it ends the sandbox and the forwarder.
fn kill_children(pid: u32) {
    let children = format!("/proc/{pid}/task/{pid}/children");
    for child in fs::read_to_string(children)
        .unwrap_or_default()
        .split_whitespace()
    {
        if let Ok(child) = child.parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
