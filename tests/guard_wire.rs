//! The MCP guard's wire layer from the outside: what cordon forwards when a
//! message is ambiguous, misframed or spelled in an unusual way, and what
//! the peer finally reads. The real binary runs in front of a scripted
//! fake server (a small Python program that logs every line it receives,
//! so a test can prove a refused message never reached it), and the test
//! itself is the host: it writes lines, or `vmsplice`s them from its own
//! memory. Every case runs for each user of `support::users()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use support::conversation::Conversation;
use support::fake_server::FakeServer;
use support::{Env, User, run, spawn, stderr, users};

/// One test's world: the fake server, with the wire suite's profile.
struct World(FakeServer);

impl std::ops::Deref for World {
    type Target = FakeServer;
    fn deref(&self) -> &FakeServer {
        &self.0
    }
}

impl World {
    fn new(user: User, config: &Value) -> World {
        World(FakeServer::new(user, config))
    }

    /// A world whose server configuration names paths inside it.
    fn with(user: User, config: impl FnOnce(&Env) -> Value) -> World {
        World(FakeServer::with(user, config))
    }

    /// A profile in the test's directory: the runtime, plus `mcp`.
    fn profile(&self, mcp: &str) -> String {
        let text = format!(
            "schema = 1\ndescription = \"wire test\"\n[filesystem]\ngroups = [\"runtime\"]\n[mcp]\npin = \"off\"\n{mcp}\n"
        );
        let path = self.env.write("profile.toml", &text);
        path.to_str().unwrap().to_owned()
    }

    fn args(&self, mcp: &str) -> Vec<String> {
        vec![
            "run".into(),
            "--yes".into(),
            "--rw".into(),
            self.logs(),
            "-p".into(),
            self.profile(mcp),
            "--".into(),
            self.server.to_str().unwrap().into(),
            self.log.to_str().unwrap().into(),
        ]
    }

    fn start(&self, mcp: &str) -> Conversation {
        Conversation::start(spawn(self.env.cordon(&self.args(mcp))))
    }
}

fn tool_names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A tools/list result with `tools` spliced in as raw text.
fn raw_list(tools: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":@ID@,"result":{{"tools":[{tools}]}}}}"#)
}

const PLAIN_TOOL: &str = r#"{"name":"ls","description":"Lists.","inputSchema":{"type":"object"}}"#;

// Finding 1: duplicate keys.

#[test]
fn a_tool_with_a_key_twice_is_withheld_not_forwarded_as_it_is() {
    let dup = r#"{"name":"rm","description":"Removes.","inputSchema":{"type":"object"},"annotations":{"destructiveHint":false,"destructiveHint":false,"readOnlyHint":true}}"#;
    let config = json!({"lists": [raw_list(&format!("{PLAIN_TOOL},{dup}"))]});
    for user in users() {
        let w = World::new(user, &config);
        let mut c = w.start("");
        let list = c.call(1, "tools/list", json!({}));
        assert_eq!(tool_names(&list), ["ls"], "{user:?}: {list}");
        // Withheld means its calls are refused too.
        let refused = c.call(2, "tools/call", json!({"name": "rm", "arguments": {}}));
        assert_eq!(refused["error"]["code"], -32602, "{user:?}: {refused}");
        let ok = c.call(3, "tools/call", json!({"name": "ls", "arguments": {}}));
        assert!(ok["result"].is_object(), "{ok}");
        let (_, err) = c.finish_ok();
        assert!(!w.received().contains("\"rm\""), "{}", w.received());
        assert!(
            err.contains(
                "server stdout: tool \"rm\" cannot be inspected: the key \"destructiveHint\" appears twice in one object: withheld"
            ),
            "{user:?}: {err}"
        );
    }
}

#[test]
fn a_key_twice_deep_inside_a_tool_or_spelled_with_escapes_withholds_it_too() {
    // A host reading the last `type` sees a tool without parameters; one
    // written `\u0064estructiveHint` reads as `destructiveHint`.
    let deep = r#"{"name":"deep","inputSchema":{"type":"object","properties":{"p":{"type":"string","type":"number"}}}}"#;
    let escaped = r#"{"name":"esc","inputSchema":{"type":"object"},"annotations":{"destructiveHint":true,"\u0064estructiveHint":false}}"#;
    let name_twice = r#"{"name":"ls2","name":"rm","inputSchema":{"type":"object"}}"#;
    let config =
        json!({"lists": [raw_list(&format!("{deep},{PLAIN_TOOL},{escaped},{name_twice}"))]});
    for user in users() {
        let w = World::new(user, &config);
        let mut c = w.start("");
        let list = c.call(1, "tools/list", json!({}));
        assert_eq!(tool_names(&list), ["ls"], "{user:?}: {list}");
        let (_, err) = c.finish_ok();
        for expected in [
            "tool \"deep\" cannot be inspected: the key \"type\" appears twice",
            "tool \"esc\" cannot be inspected: the key \"destructiveHint\" appears twice",
            "cannot be inspected: the key \"name\" appears twice",
        ] {
            assert!(err.contains(expected), "{user:?}: no {expected:?} in {err}");
        }
    }
}

#[test]
fn a_list_result_with_a_key_twice_outside_its_tools_becomes_an_error() {
    let list = r#"{"jsonrpc":"2.0","id":@ID@,"result":{"tools":[],"_meta":{"a":1,"a":2}}}"#;
    for user in users() {
        let w = World::new(user, &json!({"lists": [list]}));
        let mut c = w.start("");
        let reply = c.call(1, "tools/list", json!({}));
        assert_eq!(reply["error"]["code"], -32603, "{user:?}: {reply}");
        c.finish_ok();
    }
}

// Findings 4 and 6: requests without an id.

#[test]
fn a_tools_call_without_id_never_reaches_the_server() {
    for user in users() {
        let w = World::new(user, &json!({}));
        let mut c = w.start("[mcp.tools]\ndeny = [\"rm_*\"]");
        c.send_raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"rm_rf\",\"arguments\":{}}}\n");
        // The barrier: what was sent before it has been decided on.
        assert_eq!(c.call(1, "ping", json!({}))["result"], json!({}));
        let (rest, err) = c.finish_ok();
        assert!(rest.is_empty(), "{user:?}: {rest:?}");
        assert!(
            err.contains("host stdin (not forwarded): a tools/call request without an id"),
            "{user:?}: {err}"
        );
        let received = w.received();
        assert!(!received.contains("rm_rf"), "{user:?}: {received}");
        assert!(
            received.contains("\"ping\""),
            "the control passed: {received}"
        );
    }
}

#[test]
fn requests_without_a_usable_id_are_dropped_whatever_their_framing() {
    // A null id, a batch, an escaped method name, an allowed tool (the
    // rule is about framing, not names), `tasks/*` and an id a double
    // cannot hold.
    let lines: [&[u8]; 6] = [
        b"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"tools/call\",\"params\":{\"name\":\"rm_a\"}}\n",
        b"[{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"rm_b\"}}]\n",
        b"{\"jsonrpc\":\"2.0\",\"method\":\"tools\\/call\",\"params\":{\"name\":\"rm_c\"}}\n",
        b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"ok_d\"}}\n",
        b"{\"jsonrpc\":\"2.0\",\"method\":\"tasks/cancel\",\"params\":{\"taskId\":\"rm_e\"}}\n",
        b"{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"tools/call\",\"params\":{\"name\":\"rm_f\"}}\n",
    ];
    for user in users() {
        let w = World::new(user, &json!({}));
        let mut c = w.start("[mcp.tools]\ndeny = [\"rm_*\"]");
        for line in lines {
            c.send_raw(line);
        }
        c.send_raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
        assert_eq!(c.call(1, "ping", json!({}))["result"], json!({}));
        c.finish_ok();
        let received = w.received();
        for name in ["rm_a", "rm_b", "rm_c", "ok_d", "rm_e", "rm_f"] {
            assert!(!received.contains(name), "{user:?}: {name} in {received}");
        }
        assert!(
            received.contains("notifications/initialized"),
            "a real notification passes: {received}"
        );
    }
}

#[test]
fn server_requests_without_an_id_never_reach_the_host() {
    // Allowed by the profile, yet dropped: without an id they are not
    // requests the host could answer, nor notifications MCP knows.
    let emit = json!({"lines": [
        r#"{"jsonrpc":"2.0","method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}"#,
        r#"{"jsonrpc":"2.0","method":"elicitation/create","params":{"message":"password?"}}"#,
        r#"{"jsonrpc":"2.0","method":"roots/list"}"#,
        r#"{"jsonrpc":"2.0","method":"ping"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"control"}}"#,
    ]});
    for user in users() {
        let w = World::new(user, &json!({}));
        let mut c = w.start("sampling = true\nelicitation = true\nroots = true");
        c.send_raw(
            format!(
                "{}\n",
                json!({"jsonrpc": "2.0", "id": 1, "method": "test/emit", "params": emit})
            )
            .as_bytes(),
        );
        let first = c.recv();
        assert_eq!(first["params"]["data"], "control", "{user:?}: {first}");
        assert_eq!(c.recv()["id"], 1);
        let (rest, err) = c.finish_ok();
        assert!(rest.is_empty(), "{user:?}: {rest:?}");
        for method in [
            "sampling/createMessage",
            "elicitation/create",
            "roots/list",
            "ping",
        ] {
            let note = format!("server stdout (not forwarded): a {method} request without an id");
            assert!(err.contains(&note), "{user:?}: no {note:?} in {err}");
        }
    }
}

// Finding 5: resource URIs.

#[test]
fn resource_uris_are_matched_in_their_normal_form() {
    let profile =
        "[mcp.resources]\nallow = [\"file:///home/me/*\"]\ndeny = [\"file:///home/me/.ssh/*\"]";
    let refused = [
        "file:///home/me/notes/../.ssh/id_rsa",
        "file:///home/me/notes/%2e%2e/.ssh/id_rsa",
        "FILE://LOCALHOST/home/me/.ssh/id_rsa",
        "file:/home/me/.ssh/id_rsa",
        "file:///home/me/./.ssh/id_rsa",
        "file:///home/me/%2Essh/id%5Frsa",
        "file:///home/me/notes/../../../etc/passwd",
        // No clean spelling: refused whatever it would name.
        "file:///home/me//.ssh/id_rsa",
        "file:///home/me/notes/..%2F.ssh/id_rsa",
        "file:///home/me/notes/..%2f..%2fetc/passwd",
        "file:///home/me/notes\\..\\.ssh\\id_rsa",
        "file:///../home/me/notes/a.txt",
        "file:///home/me/a%zz",
    ];
    let allowed = [
        "file:///home/me/notes/a.txt",
        "file:///home/me/notes/./b.txt",
        "FILE:///home/me/notes/c%2Etxt",
    ];
    for user in users() {
        let w = World::new(user, &json!({}));
        let mut c = w.start(profile);
        let mut id = 0;
        for uri in refused {
            id += 1;
            let reply = c.call(id, "resources/read", json!({"uri": uri}));
            assert_eq!(reply["error"]["code"], -32602, "{user:?} {uri}: {reply}");
        }
        for uri in allowed {
            id += 1;
            let reply = c.call(id, "resources/read", json!({"uri": uri}));
            assert!(reply["result"].is_object(), "{user:?} {uri}: {reply}");
        }
        let (_, err) = c.finish_ok();
        assert!(
            err.contains("its path has an escaped slash or backslash"),
            "{err}"
        );
        let received = w.received();
        assert!(
            !received.contains("ssh")
                && !received.contains("passwd")
                && !received.contains("//.")
                && !received.contains("%zz"),
            "{user:?}: a refused read reached the server: {received}"
        );
        assert_eq!(received.matches("resources/read").count(), allowed.len());
    }
}

#[test]
fn a_query_or_fragment_does_not_hide_a_denied_file() {
    let profile = "[mcp.resources]\ndeny = [\"file:///home/me/secret.txt\"]";
    for user in users() {
        let w = World::new(user, &json!({}));
        let mut c = w.start(profile);
        for (id, uri) in [
            "file:///home/me/secret.txt?raw",
            "file:///home/me/secret.txt#top",
            "file:///home/me/x/../secret.txt",
        ]
        .into_iter()
        .enumerate()
        {
            let reply = c.call(id as u64, "resources/read", json!({"uri": uri}));
            assert_eq!(reply["error"]["code"], -32602, "{user:?} {uri}: {reply}");
        }
        let ok = c.call(
            9,
            "resources/read",
            json!({"uri": "file:///home/me/public.txt?raw"}),
        );
        assert!(ok["result"].is_object(), "{ok}");
        c.finish_ok();
        assert!(!w.received().contains("secret"), "{}", w.received());
    }
}

// Finding 9: what is inspected is what is forwarded.

/// Bytes in the pipe `fd` has not yet given its reader.
fn pipe_fill(fd: &OwnedFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points
    // to a live local; the descriptor is open for the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n
}

/// Puts the pages of `iov` into the pipe `fd` by reference.
fn give_pages(fd: &OwnedFd, iov: &[IoSlice<'_>]) -> usize {
    // SAFETY: the pipe keeps references to the caller's pages; the caller
    // keeps the buffer alive (and changes it on purpose) until cordon has
    // read the pipe.
    #[allow(unsafe_code)]
    let n = unsafe { nix::fcntl::vmsplice(fd, iov, nix::fcntl::SpliceFFlags::empty()) };
    n.unwrap()
}

#[test]
fn a_message_the_host_rewrites_after_inspection_reaches_the_server_as_inspected() {
    // The host gives cordon its message with `vmsplice`: the pipe holds
    // the host's own page, not a copy. Once cordon has taken the message
    // (the pipe is empty), the host rewrites the page to name a denied
    // tool; the server only starts reading after that. A relay that
    // forwarded the pipe's pages instead of what it inspected would hand
    // the server the rewritten call.
    let allowed = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"read_file\",\"arguments\":{}}}\n";
    let at = allowed.windows(9).position(|w| w == b"read_file").unwrap();
    for user in users() {
        let w = World::with(user, |env| json!({"wait_for": env.path().join("logs/go")}));
        let go = w.env.path().join("logs/go");
        let (host_r, host_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut cmd = w.env.cordon(&w.args("[mcp.tools]\ndeny = [\"drop_*\"]"));
        cmd.stdin(Stdio::from(host_r))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut c = Conversation::start(cmd.spawn().unwrap());
        // A page of the host's memory, page-aligned inside a buffer.
        let mut memory = vec![0u8; 3 * 4096];
        let offset = (4096 - memory.as_ptr() as usize % 4096) % 4096;
        let page = &mut memory[offset..offset + 4096];
        page[..allowed.len()].copy_from_slice(allowed);
        let iov = [IoSlice::new(&page[..allowed.len()])];
        assert_eq!(give_pages(&host_w, &iov), allowed.len());
        assert!(
            support::eventually(Duration::from_secs(20), || pipe_fill(&host_w) == 0),
            "cordon never read the message"
        );
        page[at..at + 9].copy_from_slice(b"drop_file");
        std::fs::write(&go, b"").unwrap();
        let reply = c.recv();
        assert_eq!(
            reply["result"]["content"][0]["text"], "called read_file",
            "{user:?}: {reply}"
        );
        drop(host_w);
        let (_, err) = c.finish_ok();
        let received = w.received();
        assert!(
            !received.contains("drop_file"),
            "{user:?}: the server read a message cordon never inspected: {received}\n{err}"
        );
        assert_eq!(received.as_bytes(), allowed, "{user:?}");
    }
}

#[test]
fn a_message_rewritten_before_cordon_reads_it_is_inspected_as_rewritten() {
    // The variant in the other order: the host rewrites its page while
    // the message still waits in the pipe, before cordon even starts.
    // cordon inspects what it reads, the denied name, and refuses it; the
    // server reads neither spelling.
    let allowed = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"read_file\",\"arguments\":{}}}\n";
    let at = allowed.windows(9).position(|w| w == b"read_file").unwrap();
    for user in users() {
        let w = World::new(user, &json!({}));
        let (host_r, host_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut memory = vec![0u8; 3 * 4096];
        let offset = (4096 - memory.as_ptr() as usize % 4096) % 4096;
        let page = &mut memory[offset..offset + 4096];
        page[..allowed.len()].copy_from_slice(allowed);
        let iov = [IoSlice::new(&page[..allowed.len()])];
        assert_eq!(give_pages(&host_w, &iov), allowed.len());
        // cordon is not running yet: the page waits in the pipe.
        page[at..at + 9].copy_from_slice(b"drop_file");
        let mut cmd = w.env.cordon(&w.args("[mcp.tools]\ndeny = [\"drop_*\"]"));
        cmd.stdin(Stdio::from(host_r))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut c = Conversation::start(cmd.spawn().unwrap());
        let reply = c.recv();
        assert_eq!(reply["error"]["code"], -32602, "{user:?}: {reply}");
        drop(host_w);
        let (_, err) = c.finish_ok();
        assert!(
            err.contains("refused tools/call: tool \"drop_file\""),
            "{err}"
        );
        let received = w.received();
        assert!(
            !received.contains("drop_file") && !received.contains("read_file"),
            "{user:?}: {received}"
        );
    }
}

// The property: a message the inspector cannot read in one way only is
// never forwarded as it is.

/// xorshift64*: a seeded PRNG, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The test's own reading of JSON, independent of cordon's: a tree whose
/// numbers stay text, refusing what readers disagree on (a key twice, a
/// lone surrogate) and nesting deeper than `MAX_DEPTH`.
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// cordon's documented nesting limit: deeper messages are refused whole.
const MAX_DEPTH: usize = 256;

impl J {
    fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn parse(text: &[u8]) -> Option<J> {
        let mut r = Reader { b: text, i: 0 };
        let v = r.value(0)?;
        r.ws();
        (r.i == r.b.len()).then_some(v)
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && b" \t\r\n".contains(&self.b[self.i]) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn value(&mut self, depth: usize) -> Option<J> {
        self.ws();
        match *self.b.get(self.i)? {
            b'{' => {
                if depth == MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let mut members: Vec<(String, J)> = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(J::Obj(members));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    let v = self.value(depth + 1)?;
                    if members.iter().any(|(m, _)| *m == k) {
                        return None;
                    }
                    members.push((k, v));
                    if self.eat(b',').is_none() {
                        self.eat(b'}')?;
                        return Some(J::Obj(members));
                    }
                }
            }
            b'[' => {
                if depth == MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(J::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(J::Arr(items));
                    }
                }
            }
            b'"' => self.string().map(J::Str),
            b't' => self.word(b"true", J::Bool(true)),
            b'f' => self.word(b"false", J::Bool(false)),
            b'n' => self.word(b"null", J::Null),
            _ => {
                let start = self.i;
                while self.i < self.b.len() && b"+-.eE0123456789".contains(&self.b[self.i]) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                // serde_json's number grammar is JSON's; out of range is
                // fine here (the number stays text).
                let valid = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
                (valid && !text.is_empty()).then(|| J::Num(text.to_owned()))
            }
        }
    }

    fn word(&mut self, w: &[u8], v: J) -> Option<J> {
        self.b[self.i..].starts_with(w).then(|| {
            self.i += w.len();
            v
        })
    }

    fn string(&mut self) -> Option<String> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i;
        self.i += 1;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        // serde_json decodes escapes and refuses lone surrogates and
        // control characters.
        serde_json::from_slice::<String>(&self.b[start..self.i]).ok()
    }
}

/// What cordon's policy decides a host request on: its method, id and
/// the name or URI it names.
fn request_meaning(line: &[u8]) -> Option<(String, String, String)> {
    let j = Reader::parse(line)?;
    let method = j.get("method")?.str()?.to_owned();
    let id = match j.get("id")? {
        J::Num(n) => n.clone(),
        J::Str(s) => format!("{s:?}"),
        _ => return None,
    };
    let params = j.get("params")?;
    let key = if method == "resources/read" {
        "uri"
    } else {
        "name"
    };
    let target = params.get(key)?.str()?.to_owned();
    Some((method, id, target))
}

/// Valid requests to mutate: calls of allowed and denied tools, reads of
/// allowed and denied resources, with arguments of every JSON kind.
fn base_request(rng: &mut Rng, id: u64) -> String {
    let tool = rng.pick(&["read_file", "drop_table", "search", "drop_all"]);
    let text = rng.pick(&["plain", "caf\\u00e9 \\ud83d\\ude00", "\\\"q\\\"", "tab\\t"]);
    match rng.below(3) {
        0 => format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"q":"{text}","n":[1,-2.5e3,true,null],"o":{{"k":"v"}}}}}}}}"#
        ),
        1 => {
            let uri = rng.pick(&[
                "file:///data/a.txt",
                "file:///secret/key",
                "file:///data/../secret/key",
            ]);
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"resources/read","params":{{"uri":"{uri}"}}}}"#
            )
        }
        _ => format!(
            r#"{{"id":{id},"method":"tools/call","jsonrpc":"2.0","params":{{"arguments":{{}},"name":"{tool}"}}}}"#
        ),
    }
}

/// One random change that may make a message ambiguous or invalid.
fn mutate(rng: &mut Rng, line: &str) -> String {
    let cut = |rng: &mut Rng, s: &str| {
        let mut at = 1 + rng.below(s.len() as u64 - 1) as usize;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    match rng.below(9) {
        // Truncated.
        0 => line[..cut(rng, line)].to_owned(),
        // A key twice, at the top, in params, or in arguments.
        1 => line.replacen(r#""params":{"#, r#""params":{"name":"drop_table","#, 1),
        2 => line.replacen(r#""jsonrpc":"2.0""#, r#""jsonrpc":"2.0","id":99"#, 1),
        3 => line.replacen(r#""arguments":{"#, r#""arguments":{"x":1,"x":2,"#, 1),
        // An invalid escape or a lone surrogate.
        4 => line.replacen(
            "read_file",
            rng.pick(&["read_\\xfile", "read_\\ud800file", "read_file\\udc00"]),
            1,
        ),
        // Deep nesting, past every limit or not.
        5 => {
            let depth = [10, 127, 300][rng.below(3) as usize];
            let nest = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            line.replacen(
                r#""arguments":{"#,
                &format!(r#""arguments":{{"deep":{nest},"#),
                1,
            )
        }
        // Huge numbers, as an id or inside arguments.
        6 => line.replacen(
            r#""n":[1"#,
            r#""n":[1e99999,123456789012345678901234567890"#,
            1,
        ),
        7 => {
            let id_at = line.find(r#""id":"#).map_or(0, |i| i + 5);
            let end = line[id_at..].find([',', '}']).map_or(id_at, |e| id_at + e);
            format!("{}1e400{}", &line[..id_at], &line[end..])
        }
        // A key spelled with escapes, twice in effect.
        _ => line.replacen(r#""name":"#, r#""n\u0061me":"drop_all","name":"#, 1),
    }
}

#[test]
fn host_messages_cordon_cannot_read_in_one_way_are_never_forwarded_as_they_are() {
    let profile =
        "[mcp.tools]\ndeny = [\"drop_*\"]\n[mcp.resources]\ndeny = [\"file:///secret/*\"]";
    for user in users() {
        for seed in [1u64, 0x5eed_cafe] {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut sent = Vec::new();
            for id in 1..=300u64 {
                let base = base_request(&mut rng, id);
                let line = if rng.below(4) == 0 {
                    base
                } else {
                    mutate(&mut rng, &base)
                };
                sent.push(line);
            }
            let input: String = sent.iter().map(|l| format!("{l}\n")).collect();
            let w = World::new(user, &json!({}));
            let out = run(w.env.cordon(&w.args(profile)), input.as_bytes());
            assert!(
                out.status.success(),
                "{user:?} seed {seed}: {}",
                stderr(&out)
            );
            let received = w.received();
            let mut forwarded = 0;
            for line in received.lines() {
                let case = format!("{user:?} seed {seed}: {line}");
                assert!(
                    sent.iter().any(|s| s == line),
                    "not a line the host sent: {case}"
                );
                let (method, _, target) = request_meaning(line.as_bytes())
                    .unwrap_or_else(|| panic!("forwarded, but not readable in one way: {case}"));
                let denied = target.starts_with("drop_") || target.contains("secret");
                assert!(!denied, "forwarded a denied {method}: {case}");
                forwarded += 1;
            }
            assert!(
                forwarded > 20,
                "{user:?} seed {seed}: only {forwarded} forwarded"
            );
            // Every request got an answer: forwarded ones from the server,
            // refused ones from cordon, none left hanging.
            let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert!(
                answers
                    .iter()
                    .all(|a| a["result"].is_object() || a["error"].is_object())
            );
        }
    }
}

/// Valid tools/list results to mutate: trusting annotations, denied
/// tools, nested schemas.
fn base_list(rng: &mut Rng) -> String {
    let mut tools = Vec::new();
    for i in 0..1 + rng.below(3) {
        let name = rng.pick(&["search", "drop_table", "fetch"]);
        let hints = rng.pick(&[
            r#""readOnlyHint":true"#,
            r#""destructiveHint":false,"openWorldHint":false"#,
            r#""idempotentHint":true,"title":"T""#,
        ]);
        tools.push(format!(
            r#"{{"name":"{name}{i}","description":"d","inputSchema":{{"type":"object","properties":{{"q":{{"type":"string"}}}}}},"annotations":{{{hints}}}}}"#
        ));
    }
    raw_list(&tools.join(","))
}

fn mutate_list(rng: &mut Rng, list: &str) -> String {
    match rng.below(6) {
        0 => list.replacen(
            r#""readOnlyHint":true"#,
            r#""readOnlyHint":false,"readOnlyHint":true"#,
            1,
        ),
        1 => list.replacen(
            r#""destructiveHint":false"#,
            r#""destructiveHint":true,"destructiv\u0065Hint":false"#,
            1,
        ),
        2 => list.replacen(
            r#""type":"string""#,
            r#""type":"string","type":"number""#,
            1,
        ),
        3 => list.replacen(r#""name":""#, r#""name":"drop_x","name":""#, 1),
        4 => list.replacen(r#""description":"d""#, r#""description":"d\ud800""#, 1),
        _ => list.replacen(
            r#""result":{"#,
            r#""result":{"nextCursor":"a","nextCursor":"b","#,
            1,
        ),
    }
}

/// Whether a tools/list response is safe for the host: it reads in one
/// way, names no denied tool, and makes no trusting claim.
fn safe_list(line: &[u8]) -> Result<(), String> {
    let j = Reader::parse(line).ok_or("not readable in one way")?;
    if j.get("error").is_some() {
        return Ok(());
    }
    let Some(J::Arr(tools)) = j.get("result").and_then(|r| r.get("tools")) else {
        return Err("no tools".into());
    };
    for t in tools {
        let name = t
            .get("name")
            .and_then(J::str)
            .ok_or("a tool without a name")?;
        if name.starts_with("drop_") {
            return Err(format!("denied tool {name}"));
        }
        let hints = t.get("annotations");
        for (hint, trusting) in [
            ("readOnlyHint", true),
            ("destructiveHint", false),
            ("openWorldHint", false),
            ("idempotentHint", true),
        ] {
            if hints.and_then(|h| h.get(hint)) == Some(&J::Bool(trusting)) {
                return Err(format!("{name} keeps {hint}: {trusting}"));
            }
        }
    }
    Ok(())
}

#[test]
fn server_lists_cordon_cannot_read_in_one_way_never_reach_the_host_as_they_are() {
    let profile = "[mcp.tools]\ndeny = [\"drop_*\"]";
    for user in users() {
        for seed in [7u64, 0xfeed] {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let lists: Vec<String> = (0..120)
                .map(|_| {
                    let base = base_list(&mut rng);
                    if rng.below(4) == 0 {
                        base
                    } else {
                        mutate_list(&mut rng, &base)
                    }
                })
                .collect();
            let w = World::new(user, &json!({"lists": lists}));
            let input: String = (1..=lists.len())
                .map(|id| {
                    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/list\"}}\n")
                })
                .collect();
            let out = run(w.env.cordon(&w.args(profile)), input.as_bytes());
            assert!(
                out.status.success(),
                "{user:?} seed {seed}: {}",
                stderr(&out)
            );
            let replies: Vec<&[u8]> = out
                .stdout
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(
                replies.len(),
                lists.len(),
                "{user:?} seed {seed}: every request answered"
            );
            let mut withheld = 0;
            for (i, (reply, sent)) in replies.iter().zip(&lists).enumerate() {
                let case = format!(
                    "{user:?} seed {seed}: sent {sent}\ngot {}",
                    String::from_utf8_lossy(reply)
                );
                if let Err(why) = safe_list(reply) {
                    panic!("{why}: {case}");
                }
                if *reply != sent.replace("@ID@", &(i + 1).to_string()).as_bytes() {
                    withheld += 1;
                }
            }
            assert!(withheld > 0, "{user:?} seed {seed}: nothing was rewritten");
        }
    }
}
