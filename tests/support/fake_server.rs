//! The scripted fake MCP server of the relay and wire suites: a small
//! Python program, written to the test's directory, that logs every line
//! it receives (so a test can prove a refused message never reached it)
//! and answers from a JSON configuration spliced into it.
//!
//! Configuration keys: `startup` (hex byte strings written before reading
//! anything), `wait_for` (a path: read nothing until it exists), `lists`
//! (raw `tools/list` answers with `@ID@` for the request's id, served in
//! turn), `tools`, `prompts`, `resources`. Methods besides the MCP ones:
//! `test/emit` (params `lines`, text written with a newline, and `hex`,
//! bytes written as they are, invalid UTF-8 included) and
//! `test/set_tools` (replaces the tools and notifies the host).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::Value;

use super::{Env, User};

const SCRIPT: &str = r#"#!/usr/bin/python3
import json, os, sys, time
CONFIG = json.loads(r'''@CONFIG@''')
log = open(sys.argv[1], "ab", buffering=0)
out = sys.stdout.buffer
def emit(raw):
    out.write(raw)
    out.flush()
def reply(id, result):
    emit(json.dumps({"jsonrpc": "2.0", "id": id, "result": result}).encode() + b"\n")
for raw in CONFIG.get("startup", []):
    emit(bytes.fromhex(raw))
if "wait_for" in CONFIG:
    while not os.path.exists(CONFIG["wait_for"]):
        time.sleep(0.005)
lists = CONFIG.get("lists", [])
served = 0
tools = CONFIG.get("tools", [])
for line in sys.stdin.buffer:
    log.write(line)
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if not isinstance(msg, dict) or "method" not in msg or "id" not in msg:
        continue
    m, id, p = msg["method"], msg["id"], msg.get("params") or {}
    if m == "tools/list" and lists:
        emit(lists[served % len(lists)].replace("@ID@", json.dumps(id)).encode() + b"\n")
        served += 1
    elif m == "tools/list":
        reply(id, {"tools": tools})
    elif m == "prompts/list":
        reply(id, {"prompts": CONFIG.get("prompts", [])})
    elif m == "resources/list":
        reply(id, {"resources": CONFIG.get("resources", [])})
    elif m == "tools/call" and p.get("name") == "big":
        text = "x" * p["arguments"]["size"]
        result = json.dumps({"content": [{"type": "text", "text": text}]})
        emit(('{"jsonrpc":"2.0","result":%s,"id":%s}\n' % (result, json.dumps(id))).encode())
    elif m == "tools/call":
        name = p.get("name")
        reply(id, {"content": [{"type": "text", "text": "called %s" % name}], "isError": name == "fails"})
    elif m == "test/emit":
        for text in p.get("lines", []):
            emit(text.encode() + b"\n")
        for raw in p.get("hex", []):
            emit(bytes.fromhex(raw))
        reply(id, {})
    elif m == "test/set_tools":
        tools = p["tools"]
        emit(b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n')
        reply(id, {})
    else:
        reply(id, {})
"#;

/// Bytes as the hex the script's `startup` and `hex` keys take.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fake server in a fresh test environment: `server` is the script,
/// `log` the file of every line it received (in the `logs` directory,
/// which a test grants writable).
pub struct FakeServer {
    pub env: Env,
    pub server: PathBuf,
    pub log: PathBuf,
}

impl FakeServer {
    pub fn new(user: User, config: &Value) -> FakeServer {
        FakeServer::with(user, |_| config.clone())
    }

    /// A server whose configuration names paths inside its environment.
    pub fn with(user: User, config: impl FnOnce(&Env) -> Value) -> FakeServer {
        let env = Env::new(user);
        let fake = FakeServer {
            server: env.path().join("server.py"),
            log: env.path().join("logs/received"),
            env,
        };
        fake.set_config(&config(&fake.env));
        fake.env.write("logs/received", "");
        fake
    }

    /// Rewrites the script (same path, so the same default pin file).
    pub fn set_config(&self, config: &Value) {
        let script = SCRIPT.replace("@CONFIG@", &config.to_string());
        let path = self.env.write("server.py", &script);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The directory of the log, for `--rw`.
    pub fn logs(&self) -> String {
        self.log.parent().unwrap().to_str().unwrap().to_owned()
    }

    /// Every line the server received.
    pub fn received(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap()).into_owned()
    }
}
