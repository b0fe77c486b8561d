//! `cordon config wrap|unwrap` on real host configuration files: each
//! host's format, idempotence, remote servers left alone, malformed JSON
//! refused with the file untouched, exact round trips, backups, the
//! dry-run diff, and a wrapped entry that really starts under cordon.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Env, User, run, stderr};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hostconfig");

fn fixture(name: &str) -> String {
    fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

/// A fresh home holding `fixture` at `rel` (relative to the home).
fn home_with(rel: &str, fixture_name: &str) -> (Env, PathBuf) {
    let env = Env::new(User::Current);
    let path = env.home.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, fixture(fixture_name)).unwrap();
    (env, path)
}

fn cordon(env: &Env, args: &[&str]) -> std::process::Output {
    run(env.cordon(args), b"")
}

fn json_of(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The backups cordon left next to `path`.
fn backups(path: &Path) -> Vec<PathBuf> {
    let prefix = format!(
        "{}.cordon-backup-",
        path.file_name().unwrap().to_str().unwrap()
    );
    let mut found: Vec<PathBuf> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&prefix)
        })
        .collect();
    found.sort();
    found
}

fn cordon_path() -> String {
    support::cordon_bin().to_str().unwrap().to_owned()
}

#[test]
fn claude_desktop_servers_are_wrapped_with_matching_profiles() {
    let (env, path) = home_with(
        ".config/Claude/claude_desktop_config.json",
        "claude_desktop_config.json",
    );
    let out = cordon(&env, &["config", "wrap", "--host", "claude-desktop"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(out.stdout.is_empty());
    let doc = json_of(&path);
    let servers = &doc["mcpServers"];
    assert_eq!(servers["filesystem"]["command"], json!(cordon_path()));
    assert_eq!(
        servers["filesystem"]["args"],
        json!([
            "run",
            "--profile",
            "filesystem",
            "--rw",
            "/tmp",
            "--",
            "npx",
            "-y",
            "@modelcontextprotocol/server-filesystem",
            "/tmp",
            "/no/such/dir"
        ])
    );
    // Variables the host sets reach the server by name; LD_* never do.
    assert_eq!(
        servers["everything"]["args"],
        json!([
            "run",
            "--profile",
            "everything",
            "--env",
            "API_TOKEN",
            "--",
            "npx",
            "-y",
            "@modelcontextprotocol/server-everything"
        ])
    );
    assert_eq!(
        servers["everything"]["env"],
        json!({"API_TOKEN": "secret-value", "LD_PRELOAD": "/evil.so"})
    );
    assert_eq!(
        servers["weather"]["args"],
        json!([
            "run",
            "--profile",
            "default",
            "--",
            "/opt/weather/bin/weather-server"
        ])
    );
    assert_eq!(
        servers["remote"],
        json!({"url": "https://mcp.example.com/mcp"})
    );
    // Everything that is not a server entry is untouched.
    let original: Value = serde_json::from_str(&fixture("claude_desktop_config.json")).unwrap();
    assert_eq!(doc["globalShortcut"], original["globalShortcut"]);
    assert_eq!(doc["preferences"], original["preferences"]);
    for line in [
        "cordon: claude-desktop: mcpServers[\"filesystem\"]: wrapped, profile filesystem (matches \"@modelcontextprotocol/server-filesystem\"); --rw \"/tmp\"; \"/no/such/dir\" not granted",
        "cordon: claude-desktop: mcpServers[\"everything\"]: wrapped, profile everything (matches \"@modelcontextprotocol/server-everything\"); env \"LD_PRELOAD\" not passed",
        "cordon: claude-desktop: mcpServers[\"weather\"]: wrapped, profile default (no profile matches this server",
        "cordon: claude-desktop: mcpServers[\"remote\"]: not a stdio server (it has a url): left alone",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
}

#[test]
fn the_backup_holds_the_original_bytes() {
    let (env, path) = home_with(
        ".config/Claude/claude_desktop_config.json",
        "claude_desktop_config.json",
    );
    let out = cordon(&env, &["config", "wrap", "--host", "claude-desktop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let found = backups(&path);
    assert_eq!(found.len(), 1, "{found:?}");
    let name = found[0].file_name().unwrap().to_str().unwrap().to_owned();
    // <file>.cordon-backup-YYYYMMDDTHHMMSSZ
    let stamp = name.rsplit('-').next().unwrap();
    assert_eq!(stamp.len(), 16, "{name}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T',
        "{name}"
    );
    assert_eq!(
        fs::read_to_string(&found[0]).unwrap(),
        fixture("claude_desktop_config.json")
    );
    assert!(
        stderr(&out).contains(&format!("(backup: {})", found[0].display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wrapping_twice_changes_nothing() {
    let (env, path) = home_with(".cursor/mcp.json", "cursor_mcp.json");
    assert!(
        cordon(&env, &["config", "wrap", "--host", "cursor"])
            .status
            .success()
    );
    let once = fs::read(&path).unwrap();
    let out = cordon(&env, &["config", "wrap", "--host", "cursor"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fs::read(&path).unwrap(), once);
    assert_eq!(
        backups(&path).len(),
        1,
        "no second backup when nothing changes"
    );
    let err = stderr(&out);
    assert!(
        err.contains("mcpServers[\"fs\"]: already runs through cordon"),
        "{err}"
    );
    assert!(
        err.contains(&format!("cordon: {}: nothing to change", path.display())),
        "{err}"
    );
}

#[test]
fn an_already_wrapped_file_is_left_byte_identical() {
    let (env, path) = home_with("hosts/mcp.json", "already_wrapped.json");
    let out = cordon(&env, &["config", "wrap", "--host", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        fixture("already_wrapped.json")
    );
    assert!(backups(&path).is_empty());
}

#[test]
fn round_trips_give_back_the_original() {
    // serde_json's own layout (any indentation, final newline or not):
    // byte-identical. A hand-written layout: the same document.
    let cases = [
        (
            ".config/Claude/claude_desktop_config.json",
            "claude_desktop_config.json",
            "claude-desktop",
            true,
        ),
        (
            ".config/Code/User/mcp.json",
            "vscode_mcp.json",
            "vscode",
            true,
        ),
        (".claude.json", "claude_code.json", "claude-code", true),
        (".cursor/mcp.json", "cursor_mcp.json", "cursor", true),
    ];
    for (rel, name, host, exact) in cases {
        let (env, path) = home_with(rel, name);
        let wrap = cordon(&env, &["config", "wrap", "--host", host]);
        assert_eq!(wrap.status.code(), Some(0), "{host}: {}", stderr(&wrap));
        assert_ne!(
            fs::read_to_string(&path).unwrap(),
            fixture(name),
            "{host}: nothing was wrapped"
        );
        let unwrap = cordon(&env, &["config", "unwrap", "--host", host]);
        assert_eq!(unwrap.status.code(), Some(0), "{host}: {}", stderr(&unwrap));
        let back = fs::read_to_string(&path).unwrap();
        let original: Value = serde_json::from_str(&fixture(name)).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&back).unwrap(),
            original,
            "{host}"
        );
        if exact {
            assert_eq!(back, fixture(name), "{host}: not byte-identical");
        }
        assert_eq!(backups(&path).len(), 2, "{host}: one backup per write");
    }
}

#[test]
fn vscode_stdio_servers_are_wrapped_and_remote_ones_reported() {
    let (env, path) = home_with(".config/Code/User/mcp.json", "vscode_mcp.json");
    let out = cordon(&env, &["config", "wrap", "--host", "vscode"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let doc = json_of(&path);
    let servers = &doc["servers"];
    assert_eq!(servers["everything"]["type"], "stdio");
    assert_eq!(servers["everything"]["args"][2], "everything");
    assert_eq!(servers["everything"]["args"][4], "TOKEN");
    assert_eq!(
        servers["github"],
        json!({"type": "http", "url": "https://api.githubcopilot.com/mcp/"})
    );
    assert!(
        err.contains("servers[\"github\"]: not a stdio server (it has a url): left alone"),
        "{err}"
    );
    assert!(
        err.contains("servers[\"events\"]: not a stdio server"),
        "{err}"
    );
    // The tab indentation of the file is kept.
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .starts_with("{\n\t\"inputs\": [\n\t\t{")
    );
}

#[test]
fn claude_code_project_servers_are_wrapped_too() {
    let (env, path) = home_with(".claude.json", "claude_code.json");
    let out = cordon(&env, &["config", "wrap", "--host", "claude-code"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let doc = json_of(&path);
    // Profile `time` supports an installed server only: `uvx` is reported
    // and the entry left as it was.
    assert_eq!(doc["mcpServers"]["time"]["command"], "uvx");
    assert!(
        err.contains("mcpServers[\"time\"]: not wrapped: profile time does not support this launch form (uvx; it supports installed)"),
        "{err}"
    );
    let project = &doc["projects"]["/home/me/app"];
    assert_eq!(project["mcpServers"]["files"]["args"][2], "filesystem");
    assert_eq!(project["mcpServers"]["docs"]["type"], "http");
    assert_eq!(project["hasTrustDialogAccepted"], true);
    assert!(
        err.contains(
            "projects[\"/home/me/app\"].mcpServers[\"files\"]: wrapped, profile filesystem"
        ),
        "{err}"
    );
}

#[test]
fn malformed_json_is_refused_and_the_file_untouched() {
    let (env, path) = home_with(".cursor/mcp.json", "malformed.json");
    let out = cordon(&env, &["config", "wrap", "--host", "cursor"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cordon: error: {}:5:7: invalid JSON: expected ',' or '}}'",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("hint: the file was not changed"), "{err}");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        fixture("malformed.json")
    );
    assert!(backups(&path).is_empty());
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let (env, path) = home_with(".cursor/mcp.json", "cursor_mcp.json");
    let out = cordon(&env, &["config", "wrap", "--host", "cursor", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let diff = String::from_utf8(out.stdout.clone()).unwrap();
    let shown = path.display();
    assert!(
        diff.starts_with(&format!("--- {shown}\n+++ {shown} (wrapped)\n@@ -1,")),
        "{diff}"
    );
    assert!(diff.contains("\n-      \"command\": \"npx\",\n"), "{diff}");
    assert!(
        diff.contains(&format!("\n+      \"command\": \"{}\",\n", cordon_path())),
        "{diff}"
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        fixture("cursor_mcp.json")
    );
    assert!(backups(&path).is_empty());
    assert!(stderr(&out).contains("dry run, nothing written"));
}

#[test]
fn without_host_every_config_found_is_wrapped() {
    let (env, desktop) = home_with(
        ".config/Claude/claude_desktop_config.json",
        "claude_desktop_config.json",
    );
    let cursor = env.home.join(".cursor/mcp.json");
    fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    fs::write(&cursor, fixture("cursor_mcp.json")).unwrap();
    let out = cordon(&env, &["config", "wrap"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(backups(&desktop).len(), 1);
    assert_eq!(backups(&cursor).len(), 1);

    let empty = Env::new(User::Current);
    let out = cordon(&empty, &["config", "wrap"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).starts_with("cordon: error: no MCP host configuration found; looked for "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_wrapped_entry_starts_its_server_under_cordon() {
    let env = Env::new(User::Current);
    let path = env.home.join("mcp.json");
    // The server prints one JSON-RPC notification: the relay forwards
    // JSON-RPC only.
    let hi = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}"#;
    let config = json!({"mcpServers": {"echo": {"command": "/bin/echo", "args": [hi]}}});
    fs::write(&path, config.to_string()).unwrap();
    let out = cordon(&env, &["config", "wrap", "--host", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let entry = &json_of(&path)["mcpServers"]["echo"];
    let command = entry["command"].as_str().unwrap();
    let args: Vec<&str> = entry["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // As the host would start it: the entry's argv as it is, no terminal.
    let host = || {
        let mut host = std::process::Command::new("setsid");
        host.arg("--wait").arg(command).args(&args);
        host.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &env.home)
            .current_dir(&env.home);
        run(host, b"")
    };
    // Wrapping gives no consent: until the person approves, the host's
    // start is refused, and wrap said how to approve.
    let out = host();
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    let approve: Vec<&str> = ["approve", "--yes"]
        .into_iter()
        .chain(args[1..].iter().copied())
        .collect();
    let approved = cordon(&env, &approve);
    assert_eq!(approved.status.code(), Some(0), "{}", stderr(&approved));
    let out = host();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{hi}\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}
