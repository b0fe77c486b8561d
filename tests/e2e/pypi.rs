//! Servers published on PyPI, started with `uvx PACKAGE@VERSION` from uv's
//! cache, with `python -m MODULE` from a virtual environment, and as a
//! virtual environment's console script.

use std::process::Command;

use serde_json::json;

use crate::fixture::Fixture;
use crate::session::{Report, Session};
use crate::setup::WEB;
use crate::world::World;
use crate::{Case, check};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "time",
            about: "mcp-server-time via `python -m mcp_server_time` from ~/.virtualenvs/time, profile `time`",
            needs_network: false,
            run: time,
        },
        Case {
            name: "git",
            about: "mcp-server-git as a venv's console script (venv granted --ro), profile `git`",
            needs_network: false,
            run: git,
        },
        Case {
            name: "fetch",
            about: "mcp-server-fetch via uvx, installed into cordon's store from a loopback index, profile `fetch`, against local web servers",
            needs_network: true,
            run: fetch,
        },
        Case {
            name: "sqlite",
            about: "mcp-server-sqlite via uvx --with, installed into cordon's store from a loopback index, profile `sqlite`",
            needs_network: false,
            run: sqlite,
        },
    ]
}

/// The session's server was installed by cordon into its store (from the
/// suite's loopback index) and started from there, not by uvx.
fn from_store(w: &World<'_>, report: &Report, package: &str) -> Result<(), String> {
    let stderr = report.stderr();
    let installed = format!(
        "cordon: installed {package} {} into ",
        w.setup.pin(package).version
    );
    check(
        stderr.contains(&installed) && stderr.contains("/cordon/store/pypi/"),
        &format!("{package} installed into cordon's store and run from there"),
        || stderr.clone(),
    )
}

/// `uvx [OPTIONS] PACKAGE@VERSION`.
fn uvx(w: &World<'_>, package: &str) -> Vec<String> {
    let mut argv = vec!["uvx".to_owned()];
    argv.extend(w.setup.pin(package).options.iter().cloned());
    argv.push(w.setup.spec(package));
    argv
}

/// The time, and a conversion with no daylight saving time on either
/// side. The sandbox has no network (only its own loopback, down or up)
/// and nothing of the home but the environment the server runs from.
fn time(w: &World<'_>) -> Result<(), String> {
    let venv = w.venv(".virtualenvs/time", "mcp-server-time");
    let python = venv.join("bin/python").display().to_string();
    let private = w.write("time/private.txt", "not for the server\n");
    let private = private.display().to_string();
    let report = Session::new(w, "time")
        .command(&[python.as_str(), "-m", "mcp_server_time"])
        .call("get_current_time", json!({"timezone": "UTC"}))
        .call(
            "convert_time",
            json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
        )
        .inspect(&[&private])
        .run();
    report.started("get_current_time")?;
    let now = report.call(0)?;
    check(
        !now.is_error && now.text.contains("\"timezone\": \"UTC\"") && now.text.contains("+00:00"),
        "get_current_time UTC: a UTC time",
        || format!("{now:?}"),
    )?;
    let converted = report.call(1)?;
    check(
        !converted.is_error && converted.text.contains("T21:00:00+09:00"),
        "convert_time 12:00 UTC to Asia/Tokyo: 21:00+09:00 (the zone database is readable)",
        || format!("{converted:?}"),
    )?;
    let procs = report.sandbox()?;
    let host = report.host_netns();
    check(
        procs
            .iter()
            .all(|p| p.netns != host && p.interfaces == ["lo"]),
        "denied: no network: its own network namespace with only a loopback interface",
        || format!("the suite's {host}; {procs:?}"),
    )?;
    check(
        procs.iter().all(|p| !p.sees(&private)),
        "denied: no home: ~/time/private.txt is not in the sandbox",
        || format!("{procs:?}"),
    )?;
    report.exited_cleanly()
}

/// Status, add and commit in the granted repository (the commit is on the
/// host); another repository of the same user cannot be opened. The
/// server is started without --repository, so its own confinement is
/// off and the sandbox is what refuses.
fn git(w: &World<'_>) -> Result<(), String> {
    let venv = w.venv("src/mcp-git/.venv", "mcp-server-git");
    for rel in ["git/repo", "git/other"] {
        let dir = w.s(rel);
        w.write(&format!("{rel}/README.md"), "# e2e\n");
        w.run(&["git", "-C", &dir, "init", "--quiet"]);
        w.run(&["git", "-C", &dir, "add", "README.md"]);
        w.run(&["git", "-C", &dir, "commit", "--quiet", "-m", "initial"]);
    }
    let (repo, other) = (w.s("git/repo"), w.s("git/other"));
    w.write("git/repo/README.md", "# e2e\nchanged in the test\n");
    let script = venv.join("bin/mcp-server-git").display().to_string();
    let report = Session::new(w, "git")
        .rw(&repo)
        .ro(&venv.display().to_string())
        .command(&[script.as_str()])
        .call("git_status", json!({"repo_path": repo}))
        .call(
            "git_add",
            json!({"repo_path": repo, "files": ["README.md"]}),
        )
        .call(
            "git_commit",
            json!({"repo_path": repo, "message": "committed in the sandbox"}),
        )
        .call("git_log", json!({"repo_path": other}))
        .inspect(&[&other])
        .run();
    report.started("git_commit")?;
    let status = report.call(0)?;
    check(
        !status.is_error && status.text.contains("modified:   README.md"),
        "git_status ~/git/repo: README.md modified",
        || format!("{status:?}"),
    )?;
    let (added, committed) = (report.call(1)?, report.call(2)?);
    let last = host_git(&repo, &["log", "-1", "--format=%s"]);
    check(
        !added.is_error && !committed.is_error && last.trim() == "committed in the sandbox",
        "git_add, git_commit: the host's repository has the commit",
        || format!("{added:?} {committed:?}; host's last commit: {last:?}"),
    )?;
    let refused = report.call(3)?;
    let procs = report.sandbox()?;
    let other_log = host_git(&other, &["log", "--format=%s"]);
    check(
        refused.is_error && procs.iter().all(|p| !p.sees(&other)) && other_log.trim() == "initial",
        "denied: git_log ~/git/other (not granted): an error; the repository is not in the sandbox",
        || format!("{refused:?}; {procs:?}"),
    )?;
    report.exited_cleanly()
}

/// `git -C DIR ARGS` on the host, as the suite's user.
fn host_git(dir: &str, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "safe.directory=*", "-C", dir])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The profile lets the server reach any public address on ports 80 and
/// 443 (network mode `filtered`). Web servers run in the suite's own
/// network on the public-looking [`WEB`] (ports 80 and 8080) and on the
/// loopback (port 80). The page on WEB:80 is fetched; the same port on
/// the host's loopback, and another port on WEB, are refused by cordon's
/// filter: the listeners, reachable from outside the sandbox, accept no
/// connection from it. The server's own guard against private addresses
/// is switched off (--allow-private-ips, which WEB also needs), so the
/// sandbox is what is tested.
fn fetch(w: &World<'_>) -> Result<(), String> {
    let page = "<html><head><title>cordon e2e</title></head><body><article><h1>A test page</h1>\
        <p>The marker is cordon-e2e-7f3a. This paragraph is long enough to be kept as the main \
        content of the page by the extractor, which is what it needs.</p></article></body></html>";
    let web = Fixture::start(
        w.setup,
        json!([
            {"host": WEB, "port": 80, "routes": {"/page.html": {"type": "text/html", "body": page}}},
            {"host": WEB, "port": 8080, "routes": {"/admin": {"type": "text/plain", "body": "admin"}}},
            {"host": "127.0.0.1", "port": 80, "routes": {"/admin": {"type": "text/plain", "body": "admin"}}},
        ]),
    )?;
    let local = [(WEB, 8080), ("127.0.0.1", 80)];
    let before = local
        .iter()
        .map(|(host, port)| web.control(host, *port))
        .collect::<Result<Vec<usize>, String>>();
    check(
        before.is_ok(),
        &format!(
            "control: {WEB}:8080 and 127.0.0.1:80 accept connections from outside the sandbox"
        ),
        || format!("{before:?}"),
    )?;
    let before = before?;
    let mut command = uvx(w, "mcp-server-fetch");
    command.push("--allow-private-ips".into());
    let report = Session::new(w, "fetch")
        .command(&command)
        .call("fetch", json!({"url": format!("http://{WEB}/page.html")}))
        .call("fetch", json!({"url": format!("http://{WEB}:8080/admin")}))
        .call("fetch", json!({"url": "http://127.0.0.1/admin"}))
        .run();
    report.started("fetch")?;
    from_store(w, &report, "mcp-server-fetch")?;
    let fetched = report.call(0)?;
    check(
        !fetched.is_error && fetched.text.contains("cordon-e2e-7f3a"),
        &format!("fetch http://{WEB}/page.html: the page as Markdown"),
        || format!("{fetched:?}"),
    )?;
    let after: Vec<usize> = local.iter().map(|(h, p)| web.connections(h, *p)).collect();
    let stderr = report.stderr();
    let other_port = report.call(1)?;
    check(
        other_port.is_error
            && after[0] == before[0]
            && stderr.contains(&format!("cordon: egress refused: {WEB}:8080: ")),
        &format!(
            "denied: fetch http://{WEB}:8080/admin (a port the profile does not allow): an error, cordon reports the refusal, no connection reached the listener"
        ),
        || format!("{other_port:?}; connections {before:?} -> {after:?}; stderr: {stderr}"),
    )?;
    let loopback = report.call(2)?;
    check(
        loopback.is_error
            && after[1] == before[1]
            && stderr.contains("cordon: egress refused: 127.0.0.1:80: "),
        "denied: fetch http://127.0.0.1/admin (the host's loopback, on an allowed port): an error, cordon reports the refusal, no connection reached the listener",
        || format!("{loopback:?}; connections {before:?} -> {after:?}; stderr: {stderr}"),
    )?;
    report.exited_cleanly()
}

/// Create, insert, select in the database of the --rw directory (the row
/// is in the file on the host); `ATTACH DATABASE` of a database elsewhere
/// in the home cannot open it.
fn sqlite(w: &World<'_>) -> Result<(), String> {
    w.mkdir("sqlite/db");
    let secret = w.at("sqlite/private/secret.db").display().to_string();
    w.mkdir("sqlite/private");
    w.run(&[
        "/usr/bin/python3",
        "-c",
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
         c.execute(\"CREATE TABLE s (v TEXT)\"); c.execute(\"INSERT INTO s VALUES ('topsecret')\"); c.commit()",
        &secret,
    ]);
    let db = w.s("sqlite/db/test.db");
    let mut command = uvx(w, "mcp-server-sqlite");
    command.extend(["--db-path".into(), db.clone()]);
    let report = Session::new(w, "sqlite")
        .rw(&w.s("sqlite/db"))
        .command(&command)
        .call(
            "create_table",
            json!({"query": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"}),
        )
        .call(
            "write_query",
            json!({"query": "INSERT INTO notes (body) VALUES ('written in the sandbox')"}),
        )
        .call("read_query", json!({"query": "SELECT body FROM notes"}))
        .call(
            "write_query",
            json!({"query": format!("ATTACH DATABASE '{secret}' AS s")}),
        )
        .call("read_query", json!({"query": "SELECT v FROM s.s"}))
        .run();
    report.started("read_query")?;
    from_store(w, &report, "mcp-server-sqlite")?;
    let (created, inserted, selected) = (report.call(0)?, report.call(1)?, report.call(2)?);
    let on_host = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT body FROM notes').fetchall())",
            &db,
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    check(
        !created.is_error
            && !inserted.is_error
            && selected.text.contains("written in the sandbox")
            && on_host.contains("written in the sandbox"),
        "create_table, write_query, read_query: the row, and the host's ~/sqlite/db/test.db has it",
        || format!("{created:?} {inserted:?} {selected:?}; on the host: {on_host:?}"),
    )?;
    let (attach, leak) = (report.call(3)?, report.call(4)?);
    check(
        attach.text.contains("unable to open database")
            && !attach.text.contains("topsecret")
            && !leak.text.contains("topsecret"),
        "denied: ATTACH DATABASE ~/sqlite/private/secret.db (not granted): unable to open database",
        || format!("{attach:?} {leak:?}"),
    )?;
    report.exited_cleanly()
}
