//! Servers published on npm, started with `npx -y PACKAGE@VERSION` (and one
//! with `node PATH`) from npm's cache in the user's home.

use std::fs;

use serde_json::json;

use crate::fixture::Fixture;
use crate::session::Session;
use crate::setup::WEB;
use crate::world::World;
use crate::{Case, check};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "filesystem",
            about: "@modelcontextprotocol/server-filesystem via npx -y, profile `filesystem`",
            needs_network: false,
            run: filesystem,
        },
        Case {
            name: "memory",
            about: "@modelcontextprotocol/server-memory via npx -y, profile `memory`",
            needs_network: false,
            run: memory,
        },
        Case {
            name: "everything",
            about: "@modelcontextprotocol/server-everything via npx -y, profile `everything`",
            needs_network: false,
            run: everything,
        },
        Case {
            name: "sequential-thinking-npx",
            about: "@modelcontextprotocol/server-sequential-thinking via npx -y, profile `sequential-thinking`",
            needs_network: false,
            run: sequential_thinking_npx,
        },
        Case {
            name: "sequential-thinking-node",
            about: "@modelcontextprotocol/server-sequential-thinking via node PATH, profile `sequential-thinking`",
            needs_network: false,
            run: sequential_thinking_node,
        },
        Case {
            name: "github",
            about: "@modelcontextprotocol/server-github via npx -y, profile `github`, against a local API stand-in",
            needs_network: true,
            run: github,
        },
    ]
}

fn npx(world: &World<'_>, package: &str) -> Vec<String> {
    vec!["npx".into(), "-y".into(), world.setup.spec(package)]
}

/// The server is told it may use the whole home (a careless host
/// configuration, or a compromised server); cordon grants the notes
/// directory read-write and the home read-only. Writing the notes works;
/// the planted SSH key stays hidden (cordon's mandatory protection), and
/// writing elsewhere in the home fails.
fn filesystem(w: &World<'_>) -> Result<(), String> {
    w.write("fs/notes/hello.txt", "hello from the host\n");
    let key = w.write(".ssh/id_ed25519", "PLANTED-PRIVATE-KEY\n");
    let (notes, home) = (w.s("fs/notes"), w.s(""));
    let home = home.trim_end_matches('/');
    let mut command = npx(w, "@modelcontextprotocol/server-filesystem");
    command.extend([notes.clone(), home.to_owned()]);
    let report = Session::new(w, "filesystem")
        .rw(&notes)
        .ro(home)
        .command(&command)
        .call(
            "write_file",
            json!({"path": w.s("fs/notes/new.txt"), "content": "written in the sandbox\n"}),
        )
        .call("read_text_file", json!({"path": w.s("fs/notes/hello.txt")}))
        .call("read_text_file", json!({"path": key.display().to_string()}))
        .call(
            "write_file",
            json!({"path": w.s("fs/outside.txt"), "content": "x"}),
        )
        .run();
    report.started("read_text_file")?;
    let wrote = report.call(0)?;
    let on_host = fs::read_to_string(w.at("fs/notes/new.txt")).unwrap_or_default();
    check(
        !wrote.is_error && on_host == "written in the sandbox\n",
        "write_file ~/fs/notes/new.txt (granted --rw): written, and the host has it",
        || format!("{wrote:?}; on the host: {on_host:?}"),
    )?;
    let read = report.call(1)?;
    check(
        !read.is_error && read.text.contains("hello from the host"),
        "read_text_file ~/fs/notes/hello.txt: the host's text",
        || format!("{read:?}"),
    )?;
    let secret = report.call(2)?;
    check(
        secret.is_error && secret.text.contains("ENOENT") && !secret.text.contains("PLANTED"),
        "denied: read_text_file ~/.ssh/id_ed25519, inside a directory the server serves: ENOENT (cordon hides ~/.ssh)",
        || format!("{secret:?}"),
    )?;
    let outside = report.call(3)?;
    check(
        outside.is_error && outside.text.contains("EROFS") && !w.at("fs/outside.txt").exists(),
        "denied: write_file ~/fs/outside.txt (the home is --ro): EROFS, nothing on the host",
        || format!("{outside:?}"),
    )?;
    report.exited_cleanly()
}

/// The knowledge graph goes to MEMORY_FILE_PATH inside the --rw
/// directory; pointed anywhere else, the server cannot write it.
fn memory(w: &World<'_>) -> Result<(), String> {
    w.mkdir("memory");
    w.mkdir("memory-elsewhere");
    let command = npx(w, "@modelcontextprotocol/server-memory");
    let entity = json!({"entities": [{"name": "cordon", "entityType": "project", "observations": ["sandboxes MCP servers"]}]});
    let granted = w.s("memory/graph.jsonl");
    let report = Session::new(w, "memory")
        .rw(&w.s("memory"))
        .env("MEMORY_FILE_PATH", &granted)
        .command(&command)
        .call("create_entities", entity.clone())
        .call("read_graph", json!({}))
        .run();
    report.started("create_entities")?;
    let created = report.call(0)?;
    let graph = report.call(1)?;
    let on_host = fs::read_to_string(&granted).unwrap_or_default();
    check(
        !created.is_error
            && graph.text.contains("sandboxes MCP servers")
            && on_host.contains("\"cordon\""),
        "create_entities, read_graph: the entity, and the host's ~/memory/graph.jsonl holds it",
        || format!("{created:?} {graph:?}; on the host: {on_host:?}"),
    )?;
    report.exited_cleanly()?;

    let elsewhere = w.at("memory-elsewhere/graph.jsonl");
    let report = Session::new(w, "memory")
        .rw(&w.s("memory"))
        .env("MEMORY_FILE_PATH", &elsewhere.display().to_string())
        .command(&command)
        .call("create_entities", entity)
        .run();
    report.started("create_entities")?;
    let refused = report.call(0)?;
    check(
        refused.is_error && !elsewhere.exists(),
        "denied: MEMORY_FILE_PATH outside the --rw directory: create_entities fails, no file on the host",
        || format!("{refused:?}; exists on the host: {}", elsewhere.exists()),
    )?;
    report.exited_cleanly()
}

/// The reference server echoes, and prints its environment when asked:
/// a secret in cordon's environment is not in it.
fn everything(w: &World<'_>) -> Result<(), String> {
    let report = Session::new(w, "everything")
        .env("E2E_SECRET_TOKEN", "planted-secret-value")
        .command(&npx(w, "@modelcontextprotocol/server-everything"))
        .call("echo", json!({"message": "through cordon"}))
        .call("get-env", json!({}))
        .run();
    report.started("echo")?;
    let echo = report.call(0)?;
    check(
        !echo.is_error && echo.text == "Echo: through cordon",
        "echo: \"Echo: through cordon\"",
        || format!("{echo:?}"),
    )?;
    let env = report.call(1)?;
    check(
        !env.is_error
            && env.text.contains("\"HOME\"")
            && !env.text.contains("E2E_SECRET_TOKEN")
            && !env.text.contains("planted-secret-value"),
        "denied: get-env lists HOME but not E2E_SECRET_TOKEN, which cordon's environment has",
        || format!("{env:?}"),
    )?;
    report.exited_cleanly()
}

/// One thought, recorded; a file planted in the home is not in the
/// sandbox (only npx's cache is).
fn sequential_thinking_npx(w: &World<'_>) -> Result<(), String> {
    let command = npx(w, "@modelcontextprotocol/server-sequential-thinking");
    sequential_thinking(w, Session::new(w, "sequential-thinking").command(&command))
}

/// The same from a local install (`npm install --prefix ~/mcp-servers`),
/// granted with --ro.
fn sequential_thinking_node(w: &World<'_>) -> Result<(), String> {
    let script = w.s(
        "mcp-servers/node_modules/@modelcontextprotocol/server-sequential-thinking/dist/index.js",
    );
    let session = Session::new(w, "sequential-thinking")
        .ro(&w.s("mcp-servers"))
        .command(&["node", script.as_str()]);
    sequential_thinking(w, session)
}

fn sequential_thinking(w: &World<'_>, session: Session<'_, '_>) -> Result<(), String> {
    let private = w.write("thinking/private.txt", "not for the server\n");
    let private = private.display().to_string();
    let report = session
        .call(
            "sequentialthinking",
            json!({"thought": "List the servers first.", "thoughtNumber": 1, "totalThoughts": 2, "nextThoughtNeeded": true}),
        )
        .inspect(&[&private, &w.s(".npm")])
        .run();
    report.started("sequentialthinking")?;
    let thought = report.call(0)?;
    check(
        !thought.is_error && thought.text.contains("\"thoughtHistoryLength\": 1"),
        "sequentialthinking: thought 1 of 2 recorded",
        || format!("{thought:?}"),
    )?;
    let procs = report.sandbox()?;
    check(
        procs.iter().all(|p| !p.sees(&private)),
        "denied: ~/thinking/private.txt is not in the sandbox of any of its processes",
        || format!("{procs:?}"),
    )?;
    report.exited_cleanly()
}

/// A search against a local stand-in for api.github.com (TLS with a test
/// CA, on the suite's web address, which /etc/hosts gives the name): the
/// request goes through the profile's network filter, and the token,
/// passed by name, reaches the API; another secret in cordon's
/// environment and the gh CLI's login do not reach the server.
fn github(w: &World<'_>) -> Result<(), String> {
    let iso = w.isolation.ok_or("no private network")?;
    let (cert, key) = iso.cert();
    let api = Fixture::start(
        w.setup,
        json!([{
            "host": WEB,
            "port": 443,
            "tls": {"cert": cert, "key": key},
            "routes": {"/search/repositories": {"type": "application/json", "body": search_result().to_string()}},
        }]),
    )?;
    let gh_login = w.write(
        ".config/gh/hosts.yml",
        "github.com:\n  oauth_token: gho_PLANTED\n",
    );
    let gh_login = gh_login.display().to_string();
    let ca = iso.ca().display().to_string();
    let report = Session::new(w, "github")
        .pass("NODE_EXTRA_CA_CERTS")
        .ro(&ca)
        .env("GITHUB_PERSONAL_ACCESS_TOKEN", "ghp_e2e_token")
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .env("AWS_SECRET_ACCESS_KEY", "planted-aws-secret")
        .command(&npx(w, "@modelcontextprotocol/server-github"))
        .call("search_repositories", json!({"query": "cordon"}))
        .inspect(&[&gh_login])
        .run();
    report.started("search_repositories")?;
    let found = report.call(0)?;
    let requests = api.requests(WEB, 443);
    check(
        !found.is_error
            && found.text.contains("example/cordon")
            && requests
                .iter()
                .any(|r| r["authorization"] == "Bearer ghp_e2e_token"),
        "search_repositories: example/cordon, from an API request carrying the token",
        || format!("{found:?}; requests: {requests:?}"),
    )?;
    let procs = report.sandbox()?;
    let server = procs
        .iter()
        .rev()
        .find(|p| p.comm == "node")
        .ok_or_else(|| format!("no node process: {procs:?}"))?;
    check(
        server
            .env
            .iter()
            .any(|v| v == "GITHUB_PERSONAL_ACCESS_TOKEN")
            && procs
                .iter()
                .all(|p| !p.env.iter().any(|v| v == "AWS_SECRET_ACCESS_KEY")),
        "denied: the server's environment has GITHUB_PERSONAL_ACCESS_TOKEN but not AWS_SECRET_ACCESS_KEY",
        || format!("{procs:?}"),
    )?;
    check(
        procs.iter().all(|p| !p.sees(&gh_login)),
        "denied: the gh CLI's login (~/.config/gh/hosts.yml) is not in the sandbox",
        || format!("{procs:?}"),
    )?;
    report.exited_cleanly()
}

/// A search result that the server's schema accepts.
fn search_result() -> serde_json::Value {
    json!({
        "total_count": 1,
        "incomplete_results": false,
        "items": [{
            "id": 1, "node_id": "R_1", "name": "cordon", "full_name": "example/cordon", "private": false,
            "owner": {
                "login": "example", "id": 2, "node_id": "U_2", "avatar_url": "https://github.invalid/a.png",
                "url": "https://api.github.com/users/example", "html_url": "https://github.com/example", "type": "User"
            },
            "html_url": "https://github.com/example/cordon", "description": "a sandbox", "fork": false,
            "url": "https://api.github.com/repos/example/cordon",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "pushed_at": "2026-01-01T00:00:00Z",
            "git_url": "git://github.com/example/cordon.git", "ssh_url": "git@github.com:example/cordon.git",
            "clone_url": "https://github.com/example/cordon.git", "default_branch": "main"
        }]
    })
}
