//! Local web servers (fixture.py) in the suite's own network: stand-ins for
//! the pages and APIs servers are asked to reach, which log every
//! connection they accept.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::setup::{Setup, WEB, web_netns};

/// A running fixture.py; killed when dropped.
pub struct Fixture {
    children: Vec<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Starts servers described as fixture.py's config expects
    /// (`[{"host"?, "port", "tls"?, "routes"}]`) and waits until they
    /// listen.
    pub fn start(setup: &Setup, servers: Value) -> Result<Fixture, String> {
        let dir = tempfile::Builder::new()
            .prefix("cordon-e2e-web-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let log = dir.path().join("log.jsonl");
        // Servers on WEB run on the test host (its own network namespace),
        // the others here; both log to the same file.
        let (remote, local): (Vec<Value>, Vec<Value>) = servers
            .as_array()
            .ok_or("servers must be a list")?
            .iter()
            .cloned()
            .partition(|s| s["host"] == WEB);
        let mut children = Vec::new();
        for (name, list, netns) in [("local", local, None), ("web", remote, Some(web_netns()))] {
            if list.is_empty() {
                continue;
            }
            let config = dir.path().join(format!("{name}.json"));
            let body = json!({ "log": log, "servers": list });
            fs::write(&config, body.to_string()).map_err(|e| e.to_string())?;
            let mut command = match &netns {
                Some(ns) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", ns]).arg(&setup.python);
                    c
                }
                None => Command::new(&setup.python),
            };
            let mut child = command
                .arg(setup.script("fixture.py"))
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())?;
            let mut line = String::new();
            let stdout = child.stdout.take().ok_or("no stdout")?;
            BufReader::new(stdout)
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            children.push(child);
            if line.trim() != "ready" {
                stop(&mut children);
                return Err(format!("fixture.py ({name}) did not start: {line:?}"));
            }
        }
        Ok(Fixture {
            children,
            log,
            _dir: dir,
        })
    }

    /// Every logged event so far.
    pub fn events(&self) -> Vec<Value> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Connections accepted on `host:port` so far.
    pub fn connections(&self, host: &str, port: u16) -> usize {
        self.events()
            .iter()
            .filter(|e| e["host"] == host && e["port"] == port && e["event"] == "connect")
            .count()
    }

    /// Connects to `host:port` from outside the sandbox and waits until
    /// the server has logged it; returns the connections logged so far.
    pub fn control(&self, host: &str, port: u16) -> Result<usize, String> {
        let before = self.connections(host, port);
        std::net::TcpStream::connect((host, port))
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.connections(host, port) == before {
            if std::time::Instant::now() > deadline {
                return Err(format!("{host}:{port} did not log the connection"));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(self.connections(host, port))
    }

    /// Requests received on `host:port`.
    pub fn requests(&self, host: &str, port: u16) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["host"] == host && e["port"] == port && e["event"] == "request")
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        stop(&mut self.children);
    }
}

/// Ends the fixture processes this test started, by their own handles.
fn stop(children: &mut [Child]) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
