//! One server session: `cordon run --yes -p PROFILE … -- COMMAND` started
//! and driven by the MCP Python SDK (`client.py`), and what it reports.
//!
//! The client initializes, lists the tools, optionally looks at the
//! sandbox's processes from outside (their network namespace and
//! interfaces, which paths they can see, which variables they hold), makes
//! the calls, and shuts down as the SDK does: stdin closed, a grace period,
//! then signals. cordon's exit status is recorded by a wrapper shell.

use std::fs;
use std::process::Command;

use serde_json::{Value, json};

use crate::world::World;

/// A session being described.
pub struct Session<'w, 's> {
    world: &'w World<'s>,
    /// `run`, or `profile learn NAME`.
    subcommand: Vec<String>,
    cordon_args: Vec<String>,
    command: Vec<String>,
    env: Vec<(String, String)>,
    calls: Vec<Value>,
    paths: Vec<String>,
    /// A command line started exactly as written (a host configuration's
    /// command and args), instead of `cordon run --yes …`.
    host_command: Option<Vec<String>>,
}

impl<'w, 's> Session<'w, 's> {
    pub fn new(world: &'w World<'s>, profile: &str) -> Self {
        Session {
            world,
            subcommand: vec!["run".into()],
            cordon_args: vec!["-p".into(), profile.into()],
            command: Vec::new(),
            env: Vec::new(),
            calls: Vec::new(),
            paths: Vec::new(),
            host_command: None,
        }
    }

    /// `cordon profile learn NAME` instead of `cordon run`.
    pub fn learning(mut self, name: &str) -> Self {
        self.subcommand = vec!["profile".into(), "learn".into(), name.into()];
        self
    }

    /// A session that starts `argv` as a host does: the command and args
    /// of its configuration, no terminal, no `--yes` added.
    pub fn as_host(world: &'w World<'s>, argv: &[String]) -> Self {
        let mut session = Session::new(world, "");
        session.host_command = Some(argv.to_vec());
        session
    }

    /// `--rw PATH` for cordon.
    pub fn rw(mut self, path: &str) -> Self {
        self.cordon_args.extend(["--rw".into(), path.into()]);
        self
    }

    /// `--ro PATH` for cordon.
    pub fn ro(mut self, path: &str) -> Self {
        self.cordon_args.extend(["--ro".into(), path.into()]);
        self
    }

    /// `--no-namespaces` for cordon: Landlock alone keeps the filesystem.
    pub fn no_namespaces(mut self) -> Self {
        self.cordon_args.push("--no-namespaces".into());
        self
    }

    /// `--env NAME` for cordon.
    pub fn pass(mut self, name: &str) -> Self {
        self.cordon_args.extend(["--env".into(), name.into()]);
        self
    }

    /// The server's command line, after `--`.
    pub fn command<S: AsRef<str>>(mut self, argv: &[S]) -> Self {
        self.command = argv.iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// A variable in cordon's environment (the host configuration's `env`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn call(mut self, tool: &str, arguments: Value) -> Self {
        self.calls
            .push(json!({ "tool": tool, "arguments": arguments }));
        self
    }

    /// Paths whose visibility inside the sandbox is reported.
    pub fn inspect(mut self, paths: &[&str]) -> Self {
        self.paths = paths.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// Runs the session and returns the client's report; prints the
    /// command first.
    pub fn run(self) -> Report {
        let w = self.world;
        w.next_session();
        let (spec_file, status, stderr) = (
            w.session_file("json"),
            w.session_file("status"),
            w.session_file("stderr"),
        );
        let mut command = w.as_user();
        command.extend(["setsid".into(), "--wait".into()]);
        if let Some(argv) = &self.host_command {
            command.extend(argv.iter().cloned());
            println!("    $ {}", w.short(&argv.join(" ")));
        } else {
            command.push(w.cordon.display().to_string());
            command.extend(self.subcommand.iter().cloned());
            command.push("--yes".into());
            command.extend(self.cordon_args.iter().cloned());
            command.push("--".into());
            command.extend(self.command.iter().cloned());
            println!(
                "    $ cordon {} --yes {} -- {}",
                self.subcommand.join(" "),
                w.short(&self.cordon_args.join(" ")),
                w.short(&self.command.join(" "))
            );
        }
        let mut env: serde_json::Map<String, Value> = serde_json::Map::new();
        for (k, v) in w.cordon_env().into_iter().chain(self.env) {
            env.insert(k, Value::String(v));
        }
        let spec = json!({
            "command": command,
            "env": env,
            "cwd": w.home,
            "status_file": status,
            "stderr_file": stderr,
            "calls": self.calls,
            "inspect": { "paths": self.paths },
            "timeout": 120,
            "call_timeout": 60,
        });
        fs::write(&spec_file, spec.to_string()).unwrap();
        // The client runs as the suite's user (it only needs to start the
        // command, which drops to the world's user itself), with nothing
        // of the suite's environment.
        let out = Command::new(&w.setup.python)
            .arg(w.setup.script("client.py"))
            .arg(&spec_file)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &w.home)
            .output()
            .unwrap();
        *w.last_stderr.borrow_mut() = Some(stderr.clone());
        let value =
            serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|_| {
                json!({ "error": format!(
                "client.py failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ) })
            });
        Report { value, stderr }
    }
}

/// The outcome of one tool call.
#[derive(Debug)]
pub struct Call {
    pub is_error: bool,
    pub text: String,
}

/// One process of the sandbox, seen from the host.
#[derive(Debug)]
pub struct Proc {
    pub comm: String,
    pub netns: String,
    pub interfaces: Vec<String>,
    pub env: Vec<String>,
    pub visible: Vec<(String, bool)>,
}

/// What client.py reported.
pub struct Report {
    value: Value,
    stderr: std::path::PathBuf,
}

impl Report {
    /// The session started: initialize answered and tools were listed,
    /// including `tool`.
    pub fn started(&self, tool: &str) -> Result<(), String> {
        if let Some(err) = self.value.get("error").and_then(Value::as_str) {
            return Err(format!("the session failed: {err}"));
        }
        let name = self.value["server"]["name"].as_str().unwrap_or("?");
        let version = self.value["server"]["version"].as_str().unwrap_or("?");
        let tools = self.tools();
        crate::check(
            tools.iter().any(|t| t == tool),
            &format!(
                "initialize: {name} {version}; tools/list: {} tools, with {tool}",
                tools.len()
            ),
            || format!("tools: {tools:?}"),
        )
    }

    pub fn tools(&self) -> Vec<String> {
        self.value["tools"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The i-th call's result; a JSON-RPC error or a failed session is an
    /// `Err` naming it.
    pub fn call(&self, i: usize) -> Result<Call, String> {
        let entry = &self.value["calls"][i];
        if let Some(exc) = entry.get("exception").and_then(Value::as_str) {
            return Err(format!("call {i} raised {exc}"));
        }
        match entry.get("is_error").and_then(Value::as_bool) {
            Some(is_error) => Ok(Call {
                is_error,
                text: entry["text"].as_str().unwrap_or_default().to_owned(),
            }),
            None => Err(format!(
                "call {i} has no result: {}",
                self.value
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("(no error)")
            )),
        }
    }

    /// cordon's exit status was 0 after the client closed its stdin.
    pub fn exited_cleanly(&self) -> Result<(), String> {
        let status = self.value["exit_status"].as_i64();
        crate::check(
            status == Some(0),
            "shutdown: stdin closed, cordon exited with status 0",
            || format!("exit status {status:?}"),
        )
    }

    /// The sandbox's processes, as the client saw them after tools/list:
    /// those in cordon's new pid namespace, but for its init (cordon's own
    /// code, with cordon's environment). Processes cordon runs outside the
    /// sandbox (its network filter) are not in it.
    pub fn sandbox(&self) -> Result<Vec<Proc>, String> {
        let inspect = &self.value["inspect"];
        if let Some(err) = inspect.get("error").and_then(Value::as_str) {
            return Err(format!("inspecting the sandbox failed: {err}"));
        }
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let procs: Vec<Proc> = inspect["processes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|p| p["comm"] != "cordon" && p["pidns"] != inspect["cordon_pidns"])
            .map(|p| Proc {
                comm: p["comm"].as_str().unwrap_or("?").to_owned(),
                netns: p["netns"].as_str().unwrap_or("?").to_owned(),
                interfaces: strings(&p["interfaces"]),
                env: strings(&p["env"]),
                visible: p["paths"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_bool().unwrap_or(true)))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        if procs.is_empty() {
            return Err(format!("no sandbox process found: {inspect}"));
        }
        Ok(procs)
    }

    /// cordon's (and the server's) stderr.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The network namespace the client (and so the suite) runs in.
    pub fn host_netns(&self) -> String {
        self.value["inspect"]["host_netns"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    }
}

impl Proc {
    pub fn sees(&self, path: &str) -> bool {
        self.visible
            .iter()
            .find(|(p, _)| p == path)
            .is_none_or(|(_, seen)| *seen)
    }
}
