//! A package registry on loopback, served by the test itself: an npm
//! registry (packuments and `.tgz` tarballs with real sha512 integrity)
//! and a PyPI simple index (PEP 503 pages and wheels with `#sha256=`
//! fragments). Packages are built at test time from small file maps and
//! can be published while the registry runs; every URL points at the
//! registry itself, so nothing leaves 127.0.0.1.
//!
//! The server is `/usr/bin/python3` running `registry.py`, started on
//! 127.0.0.1:0 and killed by pid when the [`Registry`] is dropped. It
//! listens on loopback, so cordon running as root or as nobody reaches it
//! alike.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const SCRIPT: &str = include_str!("registry.py");
const PYTHON: &str = "/usr/bin/python3";

/// A running registry.
pub struct Registry {
    root: tempfile::TempDir,
    child: Child,
    port: u16,
}

/// What a publication made: the file's URL on the registry, its name, and
/// its digest as the registry states it (npm: `sha512-BASE64` integrity;
/// PyPI: the wheel's sha256 in hex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Published {
    pub url: String,
    pub file: String,
    pub digest: String,
}

impl Registry {
    pub fn start() -> Registry {
        let root = tempfile::Builder::new()
            .prefix("cordon-registry-")
            .tempdir()
            .unwrap();
        fs::write(root.path().join("registry.py"), SCRIPT).unwrap();
        let mut child = Command::new(PYTHON)
            .arg(root.path().join("registry.py"))
            .arg("serve")
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the registry did not print its port: {line:?}");
            }
        };
        Registry { root, child, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the destination an installer must be allowed.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The npm registry URL (`npm_config_registry`).
    pub fn npm_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The PyPI simple index URL (`UV_INDEX_URL`, `PIP_INDEX_URL`).
    pub fn simple_url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Publishes an npm package; the packument's `latest` (or the
    /// package's tag) moves to it.
    pub fn publish_npm(&self, pkg: &NpmPackage) -> Published {
        let spec = json!({
            "name": pkg.name,
            "version": pkg.version,
            "bin": pkg.bin,
            "dependencies": pkg.dependencies,
            "files": pkg.files,
            "tag": pkg.tag,
        });
        serde_json::from_value(self.tool("npm", &[], &spec)).unwrap()
    }

    /// Builds a wheel and adds it to its project's index page.
    pub fn publish_wheel(&self, wheel: &Wheel) -> Published {
        let spec = json!({
            "name": wheel.name,
            "version": wheel.version,
            "files": wheel.files,
            "scripts": wheel.scripts,
            "requires": wheel.requires,
        });
        serde_json::from_value(self.tool("wheel", &[], &spec)).unwrap()
    }

    /// Serves wheels built elsewhere (a mirror made at setup time).
    pub fn add_wheels(&self, files: &[PathBuf]) -> Vec<Published> {
        let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        serde_json::from_value(self.tool("add-wheels", &args, &Value::Null)).unwrap()
    }

    /// Serves npm tarballs packed elsewhere (`npm pack`: a mirror made at
    /// setup time), each under its own name and version.
    pub fn add_tarballs(&self, files: &[PathBuf]) -> Vec<Published> {
        let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        serde_json::from_value(self.tool("add-tarballs", &args, &Value::Null)).unwrap()
    }

    fn tool(&self, cmd: &str, args: &[&Path], spec: &Value) -> Value {
        let mut child = Command::new(PYTHON)
            .arg(self.root.path().join("registry.py"))
            .arg(cmd)
            .arg(self.root.path())
            .arg(self.base())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(spec.to_string().as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "registry.py {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The paths requested so far, in order (to show that a start did not
    /// go to the registry).
    pub fn requests(&self) -> Vec<String> {
        fs::read_to_string(self.root.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `GET path` on the registry: the status code and the body.
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        http_get(self.port, path)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 GET on 127.0.0.1:`port`.
pub fn http_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, raw[split + 4..].to_vec())
}

/// An npm package as a file map; `package.json` is written from the
/// fields unless the map holds one.
#[derive(Debug, Clone)]
pub struct NpmPackage {
    pub name: String,
    pub version: String,
    pub bin: BTreeMap<String, String>,
    pub dependencies: BTreeMap<String, String>,
    pub files: BTreeMap<String, String>,
    /// The dist-tag that moves to this version (`latest` when None).
    pub tag: Option<String>,
}

impl NpmPackage {
    pub fn new(name: &str, version: &str) -> NpmPackage {
        NpmPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            bin: BTreeMap::new(),
            dependencies: BTreeMap::new(),
            files: BTreeMap::new(),
            tag: None,
        }
    }

    /// A package whose bin `command` is [`mcp_server_js`] answering as
    /// `name` `version`.
    pub fn server(name: &str, version: &str, command: &str) -> NpmPackage {
        NpmPackage::new(name, version)
            .bin(command, "server.js")
            .file("server.js", &mcp_server_js(name, version))
    }

    pub fn bin(mut self, command: &str, path: &str) -> NpmPackage {
        self.bin.insert(command.to_owned(), path.to_owned());
        self
    }

    pub fn file(mut self, path: &str, contents: &str) -> NpmPackage {
        self.files.insert(path.to_owned(), contents.to_owned());
        self
    }

    pub fn dependency(mut self, name: &str, range: &str) -> NpmPackage {
        self.dependencies.insert(name.to_owned(), range.to_owned());
        self
    }

    pub fn tag(mut self, tag: &str) -> NpmPackage {
        self.tag = Some(tag.to_owned());
        self
    }
}

/// A pure-Python wheel (`py3-none-any`) as a file map, with console
/// scripts (`name = module:function`) and requirements.
#[derive(Debug, Clone)]
pub struct Wheel {
    pub name: String,
    pub version: String,
    pub files: BTreeMap<String, String>,
    pub scripts: BTreeMap<String, String>,
    pub requires: Vec<String>,
}

impl Wheel {
    pub fn new(name: &str, version: &str) -> Wheel {
        Wheel {
            name: name.to_owned(),
            version: version.to_owned(),
            files: BTreeMap::new(),
            scripts: BTreeMap::new(),
            requires: Vec::new(),
        }
    }

    /// A wheel whose console script `command` (and `python -m MODULE`) is
    /// [`mcp_server_py`] answering as `name` `version`; the module is the
    /// name with `-` as `_`.
    pub fn server(name: &str, version: &str, command: &str) -> Wheel {
        let module = name.replace(['-', '.'], "_");
        Wheel::new(name, version)
            .file(
                &format!("{module}/__init__.py"),
                &mcp_server_py(name, version),
            )
            .file(
                &format!("{module}/__main__.py"),
                &format!("from {module} import main\nmain()\n"),
            )
            .script(command, &format!("{module}:main"))
    }

    pub fn file(mut self, path: &str, contents: &str) -> Wheel {
        self.files.insert(path.to_owned(), contents.to_owned());
        self
    }

    pub fn script(mut self, command: &str, target: &str) -> Wheel {
        self.scripts.insert(command.to_owned(), target.to_owned());
        self
    }

    pub fn requires(mut self, requirement: &str) -> Wheel {
        self.requires.push(requirement.to_owned());
        self
    }
}

/// A minimal MCP server in JavaScript on stdio: `initialize` answers with
/// `serverInfo` {name, version}, `tools/list` offers `version`, whose call
/// returns the version, so a test sees which version runs.
pub fn mcp_server_js(name: &str, version: &str) -> String {
    let info = json!({"name": name, "version": version});
    format!(
        r#"#!/usr/bin/env node
"use strict";
const INFO = {info};
let buf = "";
function answer(m) {{
  if (m.id === undefined || m.id === null) return;
  let reply;
  if (m.method === "initialize") {{
    reply = {{ result: {{ protocolVersion: (m.params && m.params.protocolVersion) || "2025-06-18",
      capabilities: {{ tools: {{}} }}, serverInfo: INFO }} }};
  }} else if (m.method === "tools/list") {{
    reply = {{ result: {{ tools: [{{ name: "version", description: "The running version",
      inputSchema: {{ type: "object", properties: {{}} }} }}] }} }};
  }} else if (m.method === "tools/call") {{
    reply = {{ result: {{ content: [{{ type: "text", text: INFO.version }}] }} }};
  }} else {{
    reply = {{ error: {{ code: -32601, message: "no such method" }} }};
  }}
  process.stdout.write(JSON.stringify(Object.assign({{ jsonrpc: "2.0", id: m.id }}, reply)) + "\n");
}}
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {{
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {{
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    try {{ answer(JSON.parse(line)); }} catch (e) {{}}
  }}
}});
"#
    )
}

/// [`mcp_server_js`] in Python; `main()` is the entry point.
pub fn mcp_server_py(name: &str, version: &str) -> String {
    let info = json!({"name": name, "version": version});
    format!(
        r#"import json
import sys

INFO = json.loads({info:?})


def answer(m):
    if m.get("id") is None:
        return
    method = m.get("method")
    if method == "initialize":
        version = (m.get("params") or {{}}).get("protocolVersion", "2025-06-18")
        reply = {{"result": {{"protocolVersion": version, "capabilities": {{"tools": {{}}}},
                             "serverInfo": INFO}}}}
    elif method == "tools/list":
        reply = {{"result": {{"tools": [{{"name": "version", "description": "The running version",
                                      "inputSchema": {{"type": "object", "properties": {{}}}}}}]}}}}
    elif method == "tools/call":
        reply = {{"result": {{"content": [{{"type": "text", "text": INFO["version"]}}]}}}}
    else:
        reply = {{"error": {{"code": -32601, "message": "no such method"}}}}
    reply.update({{"jsonrpc": "2.0", "id": m["id"]}})
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def main():
    for line in sys.stdin:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        answer(m)
"#,
        info = info.to_string()
    )
}

/// `sha512-BASE64`, as npm states a tarball's integrity.
pub fn npm_integrity(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha512-{}", base64(&sha2::Sha512::digest(data)))
}

/// Lower-case hex sha256, as a PyPI index states a file's digest.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
