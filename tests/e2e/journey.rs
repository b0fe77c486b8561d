//! The user's whole journey with a host configuration: a Claude Desktop
//! `claude_desktop_config.json` holding the git, memory, filesystem, time
//! and everything servers in the forms users write them → `cordon config
//! wrap` → `cordon approve --yes` for each wrapped entry → the SDK client
//! starts each entry exactly as the host would (its command and args, no
//! terminal) and calls one tool → `cordon config check` exits 0 →
//! `cordon config unwrap` restores the original bytes.

use std::fs;

use serde_json::{Value, json};

use crate::session::Session;
use crate::world::World;
use crate::{Case, check};

pub fn cases() -> Vec<Case> {
    vec![Case {
        name: "journey",
        about: "a Claude Desktop configuration with five servers: wrap, approve, start as the host does, check, unwrap",
        needs_network: false,
        run: journey,
    }]
}

/// One server of the configuration, and the call that shows it works.
struct Server {
    name: &'static str,
    command: String,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    tool: &'static str,
    arguments: Value,
    /// Text the call's result must contain.
    expect: String,
}

/// The servers, in the launch forms the rest of the suite runs them in:
/// the one place that says which servers the journey covers and how.
fn servers(w: &World<'_>) -> Vec<Server> {
    let npx = |package: &str| vec!["-y".to_owned(), w.setup.spec(package)];
    let files = w.s("journey/files");
    let mut fs_args = npx("@modelcontextprotocol/server-filesystem");
    fs_args.push(files.clone());
    let time = w.venv(".virtualenvs/time", "mcp-server-time");
    let git = w.venv("src/mcp-git/.venv", "mcp-server-git");
    let repo = w.s("journey/repo");
    vec![
        Server {
            name: "filesystem",
            command: "npx".into(),
            args: fs_args,
            env: vec![],
            tool: "read_text_file",
            arguments: json!({"path": format!("{files}/hello.txt")}),
            expect: "hello from the journey".into(),
        },
        Server {
            name: "memory",
            command: "npx".into(),
            args: npx("@modelcontextprotocol/server-memory"),
            env: vec![("MEMORY_FILE_PATH", w.s("journey/memory/graph.jsonl"))],
            tool: "read_graph",
            arguments: json!({}),
            expect: "entities".into(),
        },
        Server {
            name: "everything",
            command: "npx".into(),
            args: npx("@modelcontextprotocol/server-everything"),
            env: vec![],
            tool: "echo",
            arguments: json!({"message": "journey"}),
            expect: "Echo: journey".into(),
        },
        Server {
            name: "time",
            command: time.join("bin/python").display().to_string(),
            args: vec!["-m".into(), "mcp_server_time".into()],
            env: vec![],
            tool: "get_current_time",
            arguments: json!({"timezone": "UTC"}),
            expect: "+00:00".into(),
        },
        Server {
            name: "git",
            command: git.join("bin/mcp-server-git").display().to_string(),
            args: vec!["--repository".into(), repo.clone()],
            env: vec![],
            tool: "git_log",
            arguments: json!({"repo_path": repo}),
            expect: "journey begins".into(),
        },
    ]
}

/// The configuration as a user writes it by hand.
fn config_text(servers: &[Server]) -> String {
    let mut out = String::from("{\n  \"mcpServers\": {\n");
    for (i, s) in servers.iter().enumerate() {
        out.push_str(&format!(
            "    \"{}\": {{\n      \"command\": {},\n      \"args\": {}",
            s.name,
            json!(s.command),
            json!(s.args)
        ));
        if !s.env.is_empty() {
            let env: serde_json::Map<String, Value> = s
                .env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect();
            out.push_str(&format!(",\n      \"env\": {}", Value::Object(env)));
        }
        out.push_str("\n    }");
        out.push_str(if i + 1 < servers.len() { ",\n" } else { "\n" });
    }
    out.push_str("  }\n}\n");
    out
}

fn journey(w: &World<'_>) -> Result<(), String> {
    w.write("journey/files/hello.txt", "hello from the journey\n");
    w.mkdir("journey/memory");
    let repo = w.s("journey/repo");
    w.write("journey/repo/README.md", "# journey\n");
    w.run(&["git", "-C", &repo, "init", "--quiet"]);
    w.run(&["git", "-C", &repo, "add", "README.md"]);
    w.run(&[
        "git",
        "-C",
        &repo,
        "commit",
        "--quiet",
        "-m",
        "journey begins",
    ]);
    // The installed cordon, on the user's PATH: what wrap writes.
    let installed = w.at(".local/bin/cordon");
    fs::copy(&w.cordon, &installed).map_err(|e| e.to_string())?;
    let cordon = installed.display().to_string();

    let servers = servers(w);
    let original = config_text(&servers);
    let config = w.write(".config/Claude/claude_desktop_config.json", &original);

    let wrapped = w.run(&[&cordon, "config", "wrap", "--host", "claude-desktop"]);
    let text = fs::read_to_string(&config).map_err(|e| e.to_string())?;
    let parsed: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    for s in &servers {
        let entry = &parsed["mcpServers"][s.name];
        let command = entry["command"].as_str().unwrap_or_default().to_owned();
        let args: Vec<String> = entry["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        check(
            command == cordon && args.first().is_some_and(|a| a == "run"),
            &format!("wrap: {} runs through the installed cordon", s.name),
            || {
                format!(
                    "{entry}; wrap said: {}",
                    String::from_utf8_lossy(&wrapped.stderr)
                )
            },
        )?;
        // `cordon approve --yes` with the entry's own arguments.
        let mut approve: Vec<&str> = vec![&cordon, "approve", "--yes"];
        approve.extend(args[1..].iter().map(String::as_str));
        w.run(&approve);

        let mut argv = vec![command];
        argv.extend(args);
        let mut session = Session::as_host(w, &argv).call(s.tool, s.arguments.clone());
        for (k, v) in &s.env {
            session = session.env(k, v);
        }
        let report = session.run();
        report.started(s.tool)?;
        let call = report.call(0)?;
        check(
            !call.is_error && call.text.contains(&s.expect),
            &format!("{}: {} answers as the host starts it", s.name, s.tool),
            || format!("{call:?}"),
        )?;
        report.exited_cleanly()?;
    }

    let checked = w.run(&[&cordon, "config", "check", "--host", "claude-desktop"]);
    check(
        checked.status.success(),
        "config check: every server runs through cordon, approved",
        || String::from_utf8_lossy(&checked.stdout).into_owned(),
    )?;
    w.run(&[&cordon, "config", "unwrap", "--host", "claude-desktop"]);
    let restored = fs::read_to_string(&config).map_err(|e| e.to_string())?;
    check(
        restored == original,
        "config unwrap: the original bytes, exactly",
        || format!("{restored:?}\nwas\n{original:?}"),
    )
}
