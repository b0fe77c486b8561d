//! A conversation with a running cordon over its stdio, for the suites
//! that drive the relay with a scripted server: lines in, lines out,
//! stderr collected on the side.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ExitStatus};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// A running cordon: lines in, lines out, stderr collected.
pub struct Conversation {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Vec<u8>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Conversation {
    pub fn start(mut child: Child) -> Conversation {
        let (tx, lines) = channel();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            loop {
                let mut line = Vec::new();
                if out.read_until(b'\n', &mut line).unwrap_or(0) == 0 || tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Conversation {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(bytes).unwrap();
    }

    pub fn send(&mut self, message: &Value) {
        self.send_raw(format!("{message}\n").as_bytes());
    }

    pub fn recv_raw(&mut self) -> Vec<u8> {
        match self.lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => panic!("no line from cordon; stderr:\n{}", self.stderr()),
        }
    }

    pub fn recv(&mut self) -> Value {
        let line = self.recv_raw();
        serde_json::from_slice(&line)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&line)))
    }

    /// Sends a request and returns the response with its id, checking
    /// that nothing else arrived in between.
    pub fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let reply = self.recv();
        assert_eq!(reply["id"], json!(id), "{reply}");
        reply
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Closes stdin and waits: what else came out, and the exit status.
    pub fn finish(mut self) -> (Vec<Vec<u8>>, String, ExitStatus) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let rest = self.lines.try_iter().collect();
        (rest, self.stderr(), status)
    }
}

impl Conversation {
    /// [`Conversation::finish`] for a cordon that must exit successfully:
    /// what else came out, and stderr.
    pub fn finish_ok(self) -> (Vec<Vec<u8>>, String) {
        let (rest, stderr, status) = self.finish();
        assert!(status.success(), "cordon failed: {stderr}");
        (rest, stderr)
    }
}
