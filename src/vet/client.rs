//! A minimal MCP client over the sandboxed server's pipes: enough to ask a
//! new server what it offers (initialize, tools/list, prompts/list,
//! resources/list), following pagination, with a deadline per request.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::mcp::wire::{self, LineReader, Message, ReadError, code};
use crate::sys;

/// Protocol version `vet` asks for: the one hosts send today.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// The client `vet` presents itself as: an ordinary host (Claude Code's
/// name and capabilities), never a name that says it is being vetted, so
/// a server cannot show `vet` one face and hosts another. (The pins are
/// the guarantee: whatever a server shows hosts later must match what
/// `vet` saw. This only keeps a cloaking server from passing the review.)
pub const CLIENT_NAME: &str = "claude-code";
pub const CLIENT_VERSION: &str = "2.0.0";

/// The longest message read from the server: the relay's default limit.
const MAX_MESSAGE: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server did not answer {method} within {secs} s")]
    Timeout { method: String, secs: u64 },
    #[error("the server closed its output before answering {method}")]
    Closed { method: String },
    #[error("the server answered {method} with an error: {message}")]
    Rpc { method: String, message: String },
    #[error("cannot write to the server: {0}")]
    Write(nix::errno::Errno),
}

pub struct Client {
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    reader: LineReader,
    next_id: u64,
    timeout: Duration,
    /// Lines the server printed that were not JSON-RPC (shown in the report).
    pub noise: Vec<String>,
}

impl Client {
    pub fn new(stdin: OwnedFd, stdout: OwnedFd, timeout: Duration) -> Client {
        Client {
            stdin: Some(stdin),
            stdout,
            reader: LineReader::new(MAX_MESSAGE),
            next_id: 1,
            timeout,
            noise: Vec::new(),
        }
    }

    /// `initialize` then `notifications/initialized`; returns the result.
    pub fn initialize(&mut self) -> Result<Value, ClientError> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": { "roots": {} },
            "clientInfo": { "name": CLIENT_NAME, "version": CLIENT_VERSION },
        });
        let result = self.request("initialize", params)?;
        self.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))?;
        Ok(result)
    }

    /// Every item of a paginated list (`tools`, `prompts`, `resources`).
    pub fn list_all(&mut self, method: &str, key: &str) -> Result<Vec<Value>, ClientError> {
        let mut items = Vec::new();
        let mut cursor: Option<Value> = None;
        // A server that keeps returning cursors is cut off after 100 pages.
        for _ in 0..100 {
            let params = cursor
                .as_ref()
                .map_or_else(|| json!({}), |c| json!({ "cursor": c }));
            let result = self.request(method, params)?;
            if let Some(page) = result.get(key).and_then(Value::as_array) {
                items.extend(page.iter().cloned());
            }
            cursor = result.get("nextCursor").filter(|c| !c.is_null()).cloned();
            if cursor.is_none() {
                break;
            }
        }
        Ok(items)
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Closes the server's stdin: the MCP way of asking it to exit.
    pub fn close(&mut self) {
        self.stdin = None;
    }

    fn send(&mut self, message: &Value) -> Result<(), ClientError> {
        let mut line = message.to_string().into_bytes();
        line.push(b'\n');
        self.send_line(&line)
    }

    fn send_line(&mut self, line: &[u8]) -> Result<(), ClientError> {
        let Some(stdin) = &self.stdin else {
            return Err(ClientError::Write(nix::errno::Errno::EPIPE));
        };
        // The pipe is non-blocking: wait for room between partial writes.
        let mut rest = line;
        while !rest.is_empty() {
            match nix::unistd::write(stdin, rest) {
                Ok(n) => rest = &rest[n..],
                Err(nix::errno::Errno::EAGAIN) => {
                    let mut pfd = [libc::pollfd {
                        fd: stdin.as_raw_fd(),
                        events: libc::POLLOUT,
                        revents: 0,
                    }];
                    let _ = sys::poll(&mut pfd, 1000);
                }
                Err(e) => return Err(ClientError::Write(e)),
            }
        }
        Ok(())
    }

    /// Sends a request and waits for the response with the same id,
    /// answering the server's own requests with "method not found".
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let message = self.next_message(method, deadline)?;
            if let Some(server_method) = message.get("method").and_then(Value::as_str) {
                if let Some(req_id) = message.get("id") {
                    // As a host with no workspace open would answer.
                    match server_method {
                        "roots/list" => self.send(
                            &json!({ "jsonrpc": "2.0", "id": req_id, "result": { "roots": [] } }),
                        )?,
                        "ping" => {
                            self.send(&json!({ "jsonrpc": "2.0", "id": req_id, "result": {} }))?
                        }
                        _ => {
                            let refuse = wire::error_response(
                                &req_id.to_string(),
                                code::METHOD_NOT_FOUND,
                                "Method not found",
                            );
                            self.send_line(&refuse)?;
                        }
                    }
                }
                continue;
            }
            if message.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(error) = message.get("error") {
                let text = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)");
                return Err(ClientError::Rpc {
                    method: method.into(),
                    message: text.into(),
                });
            }
            return Ok(message.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    fn next_message(&mut self, method: &str, deadline: Instant) -> Result<Value, ClientError> {
        loop {
            let line = match self.reader.read(self.stdout.as_fd(), deadline) {
                Ok(Message::Line(line)) => line,
                Ok(Message::Overlong(o)) => {
                    self.noise
                        .push(format!("(a message of {} bytes, not read)", o.len));
                    continue;
                }
                Err(ReadError::Timeout) => {
                    return Err(ClientError::Timeout {
                        method: method.into(),
                        secs: self.timeout.as_secs(),
                    });
                }
                Err(ReadError::Closed | ReadError::Io(_)) => {
                    return Err(ClientError::Closed {
                        method: method.into(),
                    });
                }
            };
            match serde_json::from_slice::<Value>(&line) {
                Ok(v) if v.is_object() => return Ok(v),
                _ => self
                    .noise
                    .push(String::from_utf8_lossy(&line).trim_end().to_owned()),
            }
        }
    }
}
