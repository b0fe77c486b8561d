//! `cordon config wrap|unwrap|check` on real host configuration files: each
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
    // Profile `time` accepts uvx: the server runs from cordon's store.
    assert_eq!(doc["mcpServers"]["time"]["args"][2], "time");
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
fn dry_run_json_lists_each_file_and_entry_and_writes_nothing() {
    let (env, path) = home_with(".cursor/mcp.json", "cursor_mcp.json");
    let out = cordon(
        &env,
        &["config", "wrap", "--host", "cursor", "--dry-run", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = &files[0];
    assert_eq!(file["file"], path.display().to_string());
    assert_eq!(file["changed"], true);
    assert!(file["diff"].as_str().unwrap().starts_with("--- "), "{file}");
    let entry = &file["entries"][0];
    for key in ["name", "place", "original", "wrapped"] {
        assert!(entry.get(key).is_some(), "{key} missing: {entry}");
    }
    assert!(
        entry["wrapped"].as_str().unwrap().contains(&cordon_path()),
        "{entry}"
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        fixture("cursor_mcp.json")
    );
    // --json only with --dry-run.
    let out = cordon(&env, &["config", "wrap", "--host", "cursor", "--json"]);
    assert_eq!(out.status.code(), Some(125));
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
    let out = cordon(&empty, &["config", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("ok: no MCP host configuration found ("),
        "{:?}",
        out
    );
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

const JOURNEY: &str = "journey";

/// A scratch home with the four hosts' configurations (from
/// fixtures/hostconfig/journey, `@HOME@` replaced), what their servers
/// name (a git server in a virtual environment and its repository, the
/// memory file's directory, a notes directory), and a `cordon` on its
/// PATH that forwards to the binary under test, as an installed one
/// would be.
struct Journey {
    env: Env,
    /// npm's registry on loopback, serving stand-ins of the npm servers
    /// the entries name (approving installs them into cordon's store).
    registry: support::registry::Registry,
    /// PATH with the scratch `bin` first.
    path: String,
    /// (fixture name, where the host keeps it)
    files: Vec<(&'static str, PathBuf)>,
}

impl Journey {
    fn new() -> Journey {
        let env = Env::new(User::Current);
        let home = env.home.clone();
        let venv = home.join("venvs/git");
        fs::create_dir_all(venv.join("bin")).unwrap();
        fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        executable(&venv.join("bin/mcp-server-git"), "#!/bin/sh\nexit 0\n");
        for dir in ["src/project", ".local/share/mcp-memory", "notes", "bin"] {
            fs::create_dir_all(home.join(dir)).unwrap();
        }
        executable(
            &home.join("bin/cordon"),
            &format!("#!/bin/sh\nexec {} \"$@\"\n", cordon_path()),
        );
        let files = vec![
            (
                "claude_desktop_config.json",
                home.join(".config/Claude/claude_desktop_config.json"),
            ),
            ("mcp.jsonc", home.join(".config/Code/User/mcp.json")),
            ("cursor_mcp.json", home.join(".cursor/mcp.json")),
            ("claude.json", home.join(".claude.json")),
        ];
        let registry = support::registry::Registry::start();
        for (name, bin) in [
            ("@modelcontextprotocol/server-memory", "mcp-server-memory"),
            (
                "@modelcontextprotocol/server-filesystem",
                "mcp-server-filesystem",
            ),
        ] {
            registry.publish_npm(&support::registry::NpmPackage::server(name, "1.0.0", bin));
        }
        let journey = Journey {
            registry,
            path: format!(
                "{}:/usr/local/bin:/usr/bin:/bin",
                home.join("bin").display()
            ),
            env,
            files,
        };
        for (name, path) in &journey.files {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, journey.fixture(name)).unwrap();
        }
        journey
    }

    /// `fixtures/hostconfig/journey/NAME` for this home.
    fn fixture(&self, name: &str) -> String {
        fixture(&format!("{JOURNEY}/{name}"))
            .replace("@HOME@", self.env.home.to_str().unwrap())
            .replace("@CORDON@", self.cordon_on_path().to_str().unwrap())
    }

    fn cordon_on_path(&self) -> PathBuf {
        self.env.home.join("bin/cordon")
    }

    fn home(&self, rel: &str) -> String {
        self.env.home.join(rel).to_str().unwrap().to_owned()
    }

    /// cordon with the scratch PATH.
    fn cordon(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.env.cordon(args);
        cmd.env("PATH", &self.path)
            .env("npm_config_registry", self.registry.npm_url());
        run(cmd, b"")
    }
}

fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The whole journey on the four hosts: wrap writes exactly the expected
/// bytes (only the wrapped entries' `command` and `args` change; comments,
/// trailing commas and every other entry stay), check reports the missing
/// approvals, `cordon approve --yes` with each entry's own arguments makes
/// it clean, and unwrap gives back every file byte for byte.
#[test]
fn four_hosts_wrap_check_approve_and_unwrap_exactly() {
    let j = Journey::new();
    let out = j.cordon(&["config", "wrap"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
    for (name, path) in &j.files {
        assert_eq!(
            fs::read_to_string(path).unwrap(),
            j.fixture(&format!("{name}.wrapped")),
            "{name}: not the expected bytes"
        );
    }
    for line in [
        "claude-desktop: mcpServers[\"git\"]: wrapped, profile git (matches \"mcp-server-git\"); --rw ",
        "vscode: servers[\"memory\"]: wrapped, profile memory (matches \"@modelcontextprotocol/server-memory\"); --rw ",
        "vscode: servers[\"github\"]: not a stdio server (it has a url): left alone",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }

    // Every wrapped entry still needs its approval.
    let out = j.cordon(&["config", "check"]);
    let report = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(1), "{report}{}", stderr(&out));
    assert_eq!(report.matches("PROBLEM: ").count(), 5, "{report}");
    assert_eq!(
        report
            .matches(
                "runs through cordon, but no approval matches it: run cordon approve --profile "
            )
            .count(),
        5,
        "{report}"
    );
    assert!(
        !report.contains("github"),
        "remote servers are not checked: {report}"
    );

    // `cordon approve --yes` with the same arguments the entries have.
    let memory_dir = j.home(".local/share/mcp-memory");
    let venv = j.home("venvs/git");
    let git = j.home("venvs/git/bin/mcp-server-git");
    let project = j.home("src/project");
    let notes = j.home("notes");
    let entries: Vec<Vec<&str>> = vec![
        vec![
            "--profile",
            "git",
            "--rw",
            &project,
            "--ro",
            &venv,
            "--",
            &git,
            "--repository",
            &project,
        ],
        vec![
            "--profile",
            "memory",
            "--rw",
            &memory_dir,
            "--env",
            "MEMORY_FILE_PATH",
            "--",
            "npx",
            "-y",
            "@modelcontextprotocol/server-memory",
        ],
        vec!["--profile", "default", "--", "/bin/echo"],
        vec!["--profile", "default", "--", "/bin/cat"],
        vec![
            "--profile",
            "filesystem",
            "--rw",
            &notes,
            "--",
            "npx",
            "-y",
            "@modelcontextprotocol/server-filesystem",
            &notes,
        ],
    ];
    for args in &entries {
        let approve: Vec<&str> = ["approve", "--yes"].iter().chain(args).copied().collect();
        let out = j.cordon(&approve);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    let out = j.cordon(&["config", "check"]);
    let report = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}{}", stderr(&out));
    assert_eq!(
        report.matches("runs through cordon, approved\n").count(),
        5,
        "{report}"
    );

    let out = j.cordon(&["config", "unwrap"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for (name, path) in &j.files {
        assert_eq!(
            fs::read_to_string(path).unwrap(),
            j.fixture(name),
            "{name}: unwrap did not give back the original bytes"
        );
    }
    let out = j.cordon(&["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("does not run through cordon")
            .count(),
        5
    );
}

/// An installed `mcp-server-fetch` gets profile `fetch`, which supports uvx
/// only: the entry is reported and not written, and check counts it as a
/// server that does not run through cordon.
#[test]
fn a_launch_form_the_profile_does_not_support_is_reported_not_written() {
    let j = Journey::new();
    let path = j.env.home.join("fetch.json");
    let text = "{\n  \"mcpServers\": {\n    \"fetch\": { \"command\": \"/opt/mcp/.venv/bin/mcp-server-fetch\", \"args\": [] }\n  }\n}\n";
    fs::write(&path, text).unwrap();
    let host = path.to_str().unwrap();
    let out = j.cordon(&["config", "wrap", "--host", host]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("mcpServers[\"fetch\"]: not wrapped: profile fetch does not support this launch form (installed; it supports uvx)"),
        "{err}"
    );
    assert!(err.contains("nothing to change"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert!(backups(&path).is_empty());
    let out = j.cordon(&["config", "check", "--host", host]);
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.starts_with(&format!(
            "PROBLEM: {host}: mcpServers[\"fetch\"]: does not run through cordon (/opt/mcp/.venv/bin/mcp-server-fetch)"
        )),
        "{report}"
    );
}

/// The git server without `--repository` would fail at start: refused
/// with the reason, the file untouched.
#[test]
fn a_git_server_without_its_repository_is_refused() {
    let j = Journey::new();
    let path = j.env.home.join("git.json");
    let git = j.home("venvs/git/bin/mcp-server-git");
    let text = format!("{{\"mcpServers\": {{\"git\": {{\"command\": \"{git}\"}}}}}}");
    fs::write(&path, &text).unwrap();
    let out = j.cordon(&["config", "wrap", "--host", path.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("mcpServers[\"git\"]: not wrapped: profile git needs --repository PATH on the server's command line, and it has none"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
}

/// With no `cordon` on PATH, the entries get the package's
/// /usr/bin/cordon; without that either, the binary that ran wrap, with a
/// warning that it is a build's binary.
#[test]
fn only_a_build_tree_cordon_is_written_with_a_warning() {
    let (env, path) = home_with(".cursor/mcp.json", "cursor_mcp.json");
    let out = cordon(&env, &["config", "wrap", "--host", "cursor"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warning = format!(
        "cordon: warning: no cordon on PATH and no /usr/bin/cordon: the entries run {}, this build's binary; install cordon and wrap again",
        cordon_path()
    );
    let written = &json_of(&path)["mcpServers"]["fs"]["command"];
    if Path::new("/usr/bin/cordon").exists() {
        assert_eq!(written, &json!("/usr/bin/cordon"));
        assert!(!err.contains("warning"), "{err}");
    } else {
        assert_eq!(written, &json!(cordon_path()));
        assert!(err.contains(&warning), "{err}");
    }
}

/// An entry edited after wrap has no exact original to go back to: unwrap
/// rebuilds it from the command after `--` and says so; an empty `args`
/// stays.
#[test]
fn unwrap_without_a_record_rebuilds_the_entry_and_says_so() {
    let j = Journey::new();
    let path = j.env.home.join(".cursor/mcp.json");
    assert!(
        j.cordon(&["config", "wrap", "--host", "cursor"])
            .status
            .success()
    );
    let wrapped = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        wrapped.replace("\"/bin/echo\"]", "\"/bin/echo\", \"hi\"]"),
    )
    .unwrap();
    let out = j.cordon(&["config", "unwrap", "--host", "cursor"]);
    let err = stderr(&out);
    assert!(
        err.contains("mcpServers[\"echo\"]: unwrapped; no record of its original text (or it was edited since): rebuilt from the command after \"--\""),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        j.fixture("cursor_mcp.json")
            .replace("\"args\": []", "\"args\": [\"hi\"]")
    );
}

/// An approved entry whose server cannot be started (here the kernel
/// refuses to execute the file) answers the host's `initialize` with the
/// reason, which the host shows instead of "Connection closed".
#[test]
fn a_server_that_cannot_start_after_approval_tells_the_host_why() {
    let j = Journey::new();
    let junk = j.env.home.join("junk-server");
    executable(&junk, "not a program\n");
    let junk = junk.to_str().unwrap();
    let path = j.env.home.join("mcp.json");
    fs::write(
        &path,
        json!({"mcpServers": {"junk": {"command": junk}}}).to_string(),
    )
    .unwrap();
    let out = j.cordon(&["config", "wrap", "--host", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let entry = &json_of(&path)["mcpServers"]["junk"];
    let args: Vec<&str> = entry["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let approve: Vec<&str> = ["approve", "--yes"]
        .into_iter()
        .chain(args[1..].iter().copied())
        .collect();
    let out = j.cordon(&approve);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut host = std::process::Command::new("setsid");
    host.arg("--wait")
        .arg(entry["command"].as_str().unwrap())
        .args(&args);
    host.env_clear()
        .env("PATH", &j.path)
        .env("HOME", &j.env.home)
        .env("XDG_CONFIG_HOME", j.env.home.join(".config"))
        .env("XDG_STATE_HOME", j.env.home.join(".local/state"))
        .current_dir(&j.env.home);
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    let out = run(host, format!("{init}\n").as_bytes());
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {:?} / {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    assert_eq!(reply["id"], 1);
    assert_eq!(
        reply["error"]["message"],
        format!(
            "cordon could not start this server: sandbox setup failed at exec: execve {junk}: Exec format error"
        )
    );
    assert_ne!(out.status.code(), Some(0));
}
