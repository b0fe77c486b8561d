//! `cordon vet`: start a new server in its sandbox, ask it what it offers
//! as an ordinary MCP host would, report it with everything suspicious
//! flagged (each flag with a code and a severity), then offer to approve
//! it with its instructions, tools, prompts and resource templates pinned.
//! Exit status: 0, or 1 when a flag of severity high was raised (after the
//! offer to approve, which a person may still accept).

mod client;
pub mod flags;
mod report;

use std::io::{Read, Seek, Write};
use std::time::Duration;

use serde_json::Value;

pub use report::Report;

use crate::launch::Child;

/// How long the server may take to answer `initialize` (an `npx -y` or
/// `uvx` start downloads the package first) and each later request.
const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Talks to the started server and builds the report. The server's stderr
/// was sent to `stderr_log`, which is scanned for the sandbox's refusals.
pub fn interview(child: &mut Child, stderr_log: &mut std::fs::File) -> Report {
    let mut report = Report::default();
    let (Some(stdin), Ok(stdout)) = (child.stdin.take(), child.stdout.try_clone()) else {
        report.errors.push("cannot talk to the server".into());
        return report;
    };
    let mut client = client::Client::new(stdin, stdout, INITIALIZE_TIMEOUT);
    match client.initialize() {
        Ok(init) => describe_server(&mut report, &init),
        Err(e) => {
            report.errors.push(e.to_string());
            child.settle_stderr();
            return finish(report, client, stderr_log);
        }
    }
    client.set_timeout(REQUEST_TIMEOUT);
    let caps = report.capabilities;
    for (method, key, enabled) in [
        ("tools/list", "tools", caps.0),
        ("prompts/list", "prompts", caps.1),
        ("resources/list", "resources", caps.2),
    ] {
        if !enabled {
            continue;
        }
        match client.list_all(method, key) {
            Ok(items) => {
                let target = match key {
                    "tools" => &mut report.tools,
                    "prompts" => &mut report.prompts,
                    _ => &mut report.resources,
                };
                let build: fn(&Value) -> report::Item = match key {
                    "tools" => report::tool,
                    "prompts" => report::prompt,
                    _ => report::resource,
                };
                target.extend(items.iter().map(build));
                if key == "prompts" {
                    prompt_messages(&mut client, &mut report, &items);
                }
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    if caps.2 {
        match client.list_all("resources/templates/list", "resourceTemplates") {
            Ok(items) => report
                .resource_templates
                .extend(items.iter().map(report::template)),
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    // The server's stderr reaches the log through cordon's relay.
    child.settle_stderr();
    finish(report, client, stderr_log)
}

/// The messages of every prompt that needs no argument, got as a host
/// would and flagged like the rest: they reach the model as they are.
/// (Prompts with required arguments cannot be got without inventing
/// values; the relay checks their messages when a host gets them.)
fn prompt_messages(client: &mut client::Client, report: &mut Report, prompts: &[Value]) {
    for (value, item) in prompts.iter().zip(report.prompts.iter_mut()) {
        let needs_argument = value
            .get("arguments")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|x| x.get("required") == Some(&Value::Bool(true)))
            });
        if needs_argument || item.name.is_empty() {
            continue;
        }
        let params = serde_json::json!({ "name": item.name, "arguments": {} });
        match client.request("prompts/get", params) {
            Ok(result) => item.flags.extend(
                flags::value_flags(&result)
                    .into_iter()
                    .map(|f| f.prefixed("prompts/get")),
            ),
            Err(e) => report.errors.push(e.to_string()),
        }
    }
}

fn describe_server(report: &mut Report, init: &Value) {
    let info = init.get("serverInfo");
    let field = |v: Option<&Value>, k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    report.server_name = field(info, "name");
    report.server_version = field(info, "version");
    report.protocol_version = init
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let instructions = init.get("instructions");
    if let Some(text) = instructions.and_then(Value::as_str) {
        report.instructions_flags = flags::text_flags(text);
        report.instructions = Some(text.to_owned());
    }
    // Instructions that are not text are never pinned: the relay withholds
    // them, so no pin may stand for them.
    if instructions.is_none_or(Value::is_string) {
        report.instructions_pin = Some(crate::mcp::pins::text_digest(
            instructions.and_then(Value::as_str),
        ));
    }
    let caps = init.get("capabilities");
    let has = |k: &str| caps.and_then(|c| c.get(k)).is_some();
    report.capabilities = (has("tools"), has("prompts"), has("resources"));
}

fn finish(
    mut report: Report,
    mut client: client::Client,
    stderr_log: &mut std::fs::File,
) -> Report {
    client.close();
    report.stray_output = std::mem::take(&mut client.noise);
    let mut text = String::new();
    let _ = stderr_log.rewind();
    let _ = stderr_log.take(1 << 20).read_to_string(&mut text);
    const DENIALS: [&str; 7] = [
        "Permission denied",
        "Operation not permitted",
        "Read-only file system",
        "EACCES",
        "EPERM",
        "EROFS",
        // cordon's network filter (mode "filtered") writes here too.
        "cordon: egress refused:",
    ];
    report.denials = text
        .lines()
        .filter(|l| DENIALS.iter().any(|d| l.contains(d)))
        .map(str::to_owned)
        .collect();
    report.finish();
    report
}

/// Prints the report on stdout.
pub fn print(report: &Report, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")
    } else {
        out.write_all(report.to_text().as_bytes())
    }
}
