//! `cordon profile init`: the drafted profile validates, and the server it
//! was drafted for runs under it, for the three ways of starting one
//! (npx, a venv's python, uvx).

use std::fs;

use serde_json::json;

use crate::session::Session;
use crate::world::World;
use crate::{Case, check};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "init-npx",
            about: "cordon profile init for npx -y @modelcontextprotocol/server-everything, then run under it",
            needs_network: false,
            run: init_npx,
        },
        Case {
            name: "init-python",
            about: "cordon profile init for a venv's python -m mcp_server_time, then run under it",
            needs_network: false,
            run: init_python,
        },
        Case {
            name: "init-uvx",
            about: "cordon profile init for uvx mcp-server-sqlite, then run under it",
            needs_network: false,
            run: init_uvx,
        },
    ]
}

/// Runs `cordon profile init NAME -- COMMAND` as the user, then
/// `cordon profile check` on the file; returns the profile's text.
fn init(w: &World<'_>, name: &str, command: &[String]) -> Result<String, String> {
    let cordon = w.cordon.display().to_string();
    let mut argv: Vec<&str> = vec![&cordon, "profile", "init", "--force", name, "--"];
    argv.extend(command.iter().map(String::as_str));
    let out = w.run(&argv);
    let file = w.at(&format!(".config/cordon/profiles/{name}.toml"));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    check(
        file.is_file() && said.contains(&file.display().to_string()),
        &format!("profile init {name}: wrote ~/.config/cordon/profiles/{name}.toml"),
        || format!("stdout: {said:?}"),
    )?;
    let file_s = file.display().to_string();
    let checked = w.run(&[&cordon, "profile", "check", &file_s]);
    check(
        String::from_utf8_lossy(&checked.stdout).contains(": ok"),
        "profile check: ok",
        || format!("{checked:?}"),
    )?;
    Ok(fs::read_to_string(&file).unwrap_or_default())
}

fn init_npx(w: &World<'_>) -> Result<(), String> {
    let command = vec![
        "npx".to_owned(),
        "-y".to_owned(),
        w.setup.spec("@modelcontextprotocol/server-everything"),
    ];
    let text = init(w, "e2e-everything", &command)?;
    check(
        text.contains("\"npx\",") && text.contains("connect = [443]"),
        "the draft has group npx and HTTPS out, for the registry",
        || text.clone(),
    )?;
    let report = Session::new(w, "e2e-everything")
        .command(&command)
        .call("echo", json!({"message": "drafted"}))
        .run();
    report.started("echo")?;
    let echo = report.call(0)?;
    check(
        !echo.is_error && echo.text == "Echo: drafted",
        "echo under the drafted profile",
        || format!("{echo:?}"),
    )?;
    report.exited_cleanly()
}

fn init_python(w: &World<'_>) -> Result<(), String> {
    let venv = w.venv(".virtualenvs/time", "mcp-server-time");
    let python = venv.join("bin/python").display().to_string();
    let command = vec![python, "-m".to_owned(), "mcp_server_time".to_owned()];
    let text = init(w, "e2e-time", &command)?;
    check(
        text.contains("\"~/.virtualenvs/time\",") && text.contains("mode = \"none\""),
        "the draft grants the virtual environment, and no network",
        || text.clone(),
    )?;
    let report = Session::new(w, "e2e-time")
        .command(&command)
        .call("get_current_time", json!({"timezone": "UTC"}))
        .run();
    report.started("get_current_time")?;
    let now = report.call(0)?;
    check(
        !now.is_error && now.text.contains("\"timezone\": \"UTC\""),
        "get_current_time under the drafted profile",
        || format!("{now:?}"),
    )?;
    report.exited_cleanly()
}

fn init_uvx(w: &World<'_>) -> Result<(), String> {
    w.mkdir("init/db");
    let db = w.s("init/db/drafted.db");
    let pin = w.setup.pin("mcp-server-sqlite");
    let mut command = vec!["uvx".to_owned()];
    command.extend(pin.options.iter().cloned());
    command.extend([
        w.setup.spec("mcp-server-sqlite"),
        "--db-path".to_owned(),
        db.clone(),
    ]);
    let text = init(w, "e2e-sqlite", &command)?;
    check(
        text.contains("\"uvx\",")
            && text.contains("UV_TOOL_DIR")
            && text.contains("#   ~/init/db\n"),
        "the draft has group uvx, uv's tool directory in /tmp, and names ~/init/db for --rw",
        || text.clone(),
    )?;
    let report = Session::new(w, "e2e-sqlite")
        .rw(&w.s("init/db"))
        .command(&command)
        .call(
            "create_table",
            json!({"query": "CREATE TABLE t (x INTEGER)"}),
        )
        .run();
    report.started("create_table")?;
    let created = report.call(0)?;
    check(
        !created.is_error && w.at("init/db/drafted.db").is_file(),
        "create_table under the drafted profile: the database is on the host",
        || format!("{created:?}"),
    )?;
    report.exited_cleanly()
}
