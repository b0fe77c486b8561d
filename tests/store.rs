//! Package servers installed into cordon's store: resolved and installed at
//! approval (confined, from a registry on loopback), run from the store at
//! every start without the registry or npm's cache, bound by the tree of
//! the installed entry, kept at the approved version until `approve
//! --update`, and read-only to every server. Each case runs as root and
//! as nobody.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::registry::{NpmPackage, Registry};
use support::{Env, User, run, stderr, users};

const INITIALIZE: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n";

const PKG: &str = "@t/srv";

/// cordon as the test's user, with the loopback registry as npm's.
fn cordon(env: &Env, reg: &Registry, args: &[&str]) -> Command {
    let mut cmd = env.cordon(args);
    cmd.env("npm_config_registry", reg.npm_url());
    cmd
}

fn approve(env: &Env, reg: &Registry, args: &[&str]) -> String {
    let mut full = vec!["approve", "--yes"];
    full.extend_from_slice(args);
    let out = run(cordon(env, reg, &full), b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "approve {args:?}: {}",
        stderr(&out)
    );
    stderr(&out)
}

/// A start as a host makes it: no terminal, no --yes.
fn host_run(env: &Env, reg: &Registry, args: &[&str]) -> Output {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    run(cordon(env, reg, &full), INITIALIZE)
}

/// The version the server answered `initialize` with.
fn served_version(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let text = String::from_utf8_lossy(&out.stdout);
    let reply: serde_json::Value = serde_json::from_str(text.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {text:?}; {}", stderr(out)));
    reply["result"]["serverInfo"]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

fn store_of(env: &Env) -> PathBuf {
    env.home.join(".local/share/cordon/store")
}

/// The one npm entry of the store whose tree holds `version` of PKG.
fn entry_of(env: &Env, version: &str) -> PathBuf {
    let dir = store_of(env).join("npm");
    for e in fs::read_dir(&dir).unwrap().flatten() {
        let manifest = e.path().join("node_modules").join(PKG).join("package.json");
        if let Ok(text) = fs::read_to_string(&manifest) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["version"] == version {
                return e.path();
            }
        }
    }
    panic!("no entry of {PKG} {version} in {}", dir.display());
}

const SEQ: [&str; 6] = ["-p", "sequential-thinking", "--", "npx", "-y", PKG];

/// Every directory and file below `root` has no write bit.
fn assert_sealed(root: &Path) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(p) = pending.pop() {
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        assert_eq!(meta.mode() & 0o222, 0, "{} is writable", p.display());
        if meta.is_dir() {
            pending.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

#[test]
fn approval_on_an_empty_cache_then_host_starts_run_from_the_store() {
    for user in users() {
        let env = Env::new(user);
        let reg = Registry::start();
        let published = reg.publish_npm(&NpmPackage::server(PKG, "1.0.0", "srv"));

        let said = approve(&env, &reg, &SEQ);
        assert!(
            said.contains("package:") && said.contains("@t/srv 1.0.0 (latest resolved to it on"),
            "{user:?}: the screen names the resolved version: {said}"
        );
        assert!(said.contains("installing @t/srv 1.0.0"), "{said}");
        let entry = entry_of(&env, "1.0.0");
        assert_sealed(&entry);
        let sealed: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(entry.with_extension("sealed.json")).unwrap())
                .unwrap();
        assert_eq!(sealed["resolution"]["integrity"], published.digest);

        let before = reg.requests().len();
        for n in 0..2 {
            let out = host_run(&env, &reg, &SEQ);
            assert_eq!(served_version(&out), "1.0.0", "{user:?} start {n}");
        }
        assert_eq!(
            reg.requests().len(),
            before,
            "{user:?}: a start never goes to the registry"
        );
        assert!(
            !env.home.join(".npm").exists(),
            "{user:?}: nothing wrote npm's cache in the home"
        );
    }
}

#[test]
fn a_new_upstream_version_keeps_the_approved_one_until_update() {
    for user in users() {
        let env = Env::new(user);
        let reg = Registry::start();
        reg.publish_npm(&NpmPackage::server(PKG, "1.0.0", "srv").file("old.js", "1;\n"));
        approve(&env, &reg, &SEQ);

        reg.publish_npm(&NpmPackage::server(PKG, "1.1.0", "srv").file("new.js", "2;\n"));
        let out = host_run(&env, &reg, &SEQ);
        assert_eq!(
            served_version(&out),
            "1.0.0",
            "{user:?}: the approved one runs"
        );

        let mut args = vec!["--update"];
        args.extend_from_slice(&SEQ);
        let said = approve(&env, &reg, &args);
        assert!(said.contains("@t/srv 1.0.0 -> 1.1.0"), "{user:?}: {said}");
        assert!(said.contains("files added: 1, removed: 1,"), "{said}");
        assert!(said.contains("+ node_modules/@t/srv/new.js"), "{said}");
        assert!(said.contains("- node_modules/@t/srv/old.js"), "{said}");
        assert!(said.contains("~ node_modules/@t/srv/server.js"), "{said}");

        let out = host_run(&env, &reg, &SEQ);
        assert_eq!(served_version(&out), "1.1.0", "{user:?}: the update runs");
    }
}

#[test]
fn a_changed_file_of_the_installed_tree_is_refused_naming_it() {
    for user in users() {
        let env = Env::new(user);
        let reg = Registry::start();
        reg.publish_npm(
            &NpmPackage::server(PKG, "1.0.0", "srv").file("lib/helper.js", "module.exports = 1;\n"),
        );
        approve(&env, &reg, &SEQ);
        let entry = entry_of(&env, "1.0.0");
        let helper = entry.join("node_modules/@t/srv/lib/helper.js");
        // As its owner could: give the write bit back and change it.
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&helper, "module.exports = 2;\n").unwrap();

        let out = host_run(&env, &reg, &SEQ);
        assert_eq!(out.status.code(), Some(124), "{user:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("lib/helper.js") && err.contains("cordon approve"),
            "{user:?}: the refusal names the file: {err}"
        );
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains("lib/helper.js"), "{message}");

        // Approving again installs the entry afresh, as sealed.
        let said = approve(&env, &reg, &SEQ);
        assert!(said.contains("installing it again"), "{said}");
        let out = host_run(&env, &reg, &SEQ);
        assert_eq!(served_version(&out), "1.0.0");
        assert_eq!(
            fs::read_to_string(&helper).unwrap(),
            "module.exports = 1;\n"
        );
    }
}

#[test]
fn a_server_under_another_profile_cannot_write_the_store() {
    for user in users() {
        let env = Env::new(user);
        let reg = Registry::start();
        reg.publish_npm(&NpmPackage::server(PKG, "1.0.0", "srv"));
        approve(&env, &reg, &SEQ);
        let entry = entry_of(&env, "1.0.0");
        let data = env.home.join(".local/share/cordon");
        let script = format!(
            "cd {data} || exit 1; \
             (echo ok > written-here && echo control-ok; \
             echo evil > store/planted && echo DID-PLANT; \
             echo evil >> {entry}/node_modules/@t/srv/server.js && echo DID-APPEND; \
             mkdir store/npm/other && echo DID-CREATE) > result 2>&1; \
             true",
            data = data.display(),
            entry = entry.display()
        );
        // A writable grant that holds the store: the store stays
        // read-only inside it.
        let out = run(
            cordon(
                &env,
                &reg,
                &[
                    "run",
                    "--yes",
                    "-p",
                    "default",
                    "--rw",
                    data.to_str().unwrap(),
                    "--",
                    "/bin/sh",
                    "-c",
                    &script,
                ],
            ),
            b"",
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{user:?}: {err}");
        let said = fs::read_to_string(data.join("result")).unwrap_or_default();
        assert!(said.contains("control-ok"), "{user:?}: {said} {err}");
        assert!(said.contains("Read-only file system"), "{user:?}: {said}");
        for forbidden in ["DID-PLANT", "DID-APPEND", "DID-CREATE"] {
            assert!(!said.contains(forbidden), "{user:?}: {forbidden}: {said}");
        }
        assert!(!store_of(&env).join("planted").exists());
        assert!(!store_of(&env).join("npm/other").exists());
        // And the approved server still starts.
        let out = host_run(&env, &reg, &SEQ);
        assert_eq!(served_version(&out), "1.0.0", "{user:?}");
    }
}

#[test]
fn the_readme_first_command_works_on_a_fresh_account() {
    for user in users() {
        let env = Env::new(user);
        let reg = Registry::start();
        let name = "@modelcontextprotocol/server-filesystem";
        reg.publish_npm(&NpmPackage::server(name, "1.0.0", "mcp-server-filesystem"));
        assert!(!env.home.join(".npm").exists());
        let work = env.work.to_str().unwrap();
        let args = [
            "--profile",
            "filesystem",
            "--rw",
            work,
            "--",
            "npx",
            "-y",
            name,
            work,
        ];
        approve(&env, &reg, &args);
        for _ in 0..2 {
            let out = host_run(&env, &reg, &args);
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{user:?}: {}", stderr(&out));
            assert!(text.contains("\"version\":\"1.0.0\""), "{user:?}: {text}");
        }
        assert!(
            !env.home.join(".npm").exists(),
            "{user:?}: no npm cache needed"
        );
        if user == User::Nobody {
            let meta = fs::metadata(store_of(&env)).unwrap();
            assert_eq!(meta.uid(), support::NOBODY, "the store belongs to its user");
        }
    }
}

/// `cordon run` on a terminal without an approval: the package is
/// resolved and installed first, and the question shows the version it
/// resolved to (the registry here comes from `registry=` in ~/.npmrc).
#[test]
fn the_question_on_the_terminal_shows_the_resolved_package() {
    let env = Env::new(User::Current);
    let reg = Registry::start();
    reg.publish_npm(&NpmPackage::server(PKG, "2.0.0", "srv"));
    env.write("home/.npmrc", &format!("registry={}\n", reg.npm_url()));
    let (out, seen) = support::answer_on_terminal_seen(
        &env,
        &["run", "-p", "sequential-thinking", "--", "npx", "-y", PKG],
        "y\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        seen.contains("@t/srv 2.0.0 (latest resolved to it on"),
        "the question shows the resolved version: {seen}"
    );
    assert!(
        stderr(&out).contains("installing @t/srv 2.0.0"),
        "{}",
        stderr(&out)
    );
    entry_of(&env, "2.0.0");
}

/// Before anything was ever installed, a server with a writable grant
/// around the store's place cannot plant a store for a later approval to
/// take: cordon creates the store first, and it is read-only inside.
#[test]
fn a_store_not_yet_made_cannot_be_planted() {
    for user in users() {
        let env = Env::new(user);
        let reg = Registry::start();
        let data = env.home.join(".local/share/cordon");
        assert!(!data.exists());
        let script = format!(
            "cd {} || exit 1; (mkdir -p store/npm/planted && echo DID-PLANT; echo ok > control && echo control-ok) > result 2>&1",
            data.display()
        );
        fs::create_dir_all(&data).unwrap();
        for dir in [
            env.home.join(".local"),
            env.home.join(".local/share"),
            data.clone(),
        ] {
            env.give(&dir);
        }
        let out = run(
            cordon(
                &env,
                &reg,
                &[
                    "run",
                    "--yes",
                    "-p",
                    "default",
                    "--rw",
                    data.to_str().unwrap(),
                    "--",
                    "/bin/sh",
                    "-c",
                    &script,
                ],
            ),
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", stderr(&out));
        let said = fs::read_to_string(data.join("result")).unwrap_or_default();
        assert!(said.contains("control-ok"), "{user:?}: {said}");
        assert!(!said.contains("DID-PLANT"), "{user:?}: {said}");
        assert!(!store_of(&env).join("npm/planted").exists());
    }
}

/// Without namespaces an approved start pins its code only where nobody
/// else can rename on the way; the store qualifies (no server can have a
/// writable grant holding it without namespaces), so a package server
/// still starts from it.
#[test]
fn an_approved_package_starts_from_the_store_without_namespaces() {
    for user in users() {
        let env = Env::new(user);
        let reg = Registry::start();
        reg.publish_npm(&NpmPackage::server(PKG, "1.0.0", "srv"));
        let mut args = vec!["--no-namespaces"];
        args.extend_from_slice(&SEQ);
        approve(&env, &reg, &args);
        for n in 0..2 {
            let out = host_run(&env, &reg, &args);
            assert_eq!(served_version(&out), "1.0.0", "{user:?} start {n}");
        }
    }
}
