//! PyPI servers run from the store: `uvx PKG` approved against a PyPI
//! simple index served on loopback by the test, installed by uv into a
//! sealed venv, and started from there by a host any number of times,
//! without the index; a new upstream version does not change what runs;
//! a changed file of the venv is refused by name. As root and as nobody.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::registry::{Registry, Wheel};
use support::{Env, run, stderr, users};

const INITIALIZE: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\"}}\n{\"jsonrpc\":\"2.0\",\"id\":43,\"method\":\"tools/call\",\"params\":{\"name\":\"version\"}}\n";

/// The directory holding uv (and uvx) that scripts/e2e-setup.sh installs.
fn uv_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("CORDON_E2E_DIR")
        .map_or_else(|| manifest.join("target/e2e"), PathBuf::from)
        .join("venv/bin");
    assert!(
        dir.join("uv").exists() && dir.join("uvx").exists(),
        "{} has no uv; run scripts/e2e-setup.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// cordon as the test's user, finding uv on PATH and the index from
/// UV_INDEX_URL, as a host would start it.
fn cordon(env: &Env, reg: &Registry, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = env.cordon(args);
    cmd.env(
        "PATH",
        format!("{}:/usr/local/bin:/usr/bin:/bin", uv_dir().display()),
    )
    .env("UV_INDEX_URL", reg.simple_url());
    run(cmd, input)
}

fn publish(reg: &Registry, version: &str) {
    reg.publish_wheel(
        &Wheel::server("cordon-echo", version, "cordon-echo").requires("cordon-lib>=1"),
    );
}

fn approve(env: &Env, reg: &Registry, command: &[&str]) -> Output {
    let mut args = vec!["approve", "--yes", "--"];
    args.extend_from_slice(command);
    let out = cordon(env, reg, &args, b"");
    assert_eq!(out.status.code(), Some(0), "approve: {}", stderr(&out));
    out
}

/// A start by a host: no terminal, no --yes.
fn start(env: &Env, reg: &Registry, command: &[&str]) -> Output {
    let mut args = vec!["run", "--"];
    args.extend_from_slice(command);
    cordon(env, reg, &args, INITIALIZE)
}

/// The version the running server reported through its `version` tool.
fn served_version(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["id"] == 43 {
            return v["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned();
        }
    }
    panic!("no answer to the tools/call: {text}\n{}", stderr(out));
}

/// The store's PyPI entries under the user's data directory.
fn entries(env: &Env) -> Vec<PathBuf> {
    let dir = env.home.join(".local/share/cordon/store/pypi");
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir() && !path.is_symlink() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
fn an_approved_uvx_server_runs_from_the_store_until_its_venv_changes() {
    for user in users() {
        let reg = Registry::start();
        reg.publish_wheel(
            &Wheel::new("cordon-lib", "1.0.0").file("cordon_lib/__init__.py", "VALUE = 1\n"),
        );
        publish(&reg, "1.0.0");
        let env = Env::new(user);
        let command = ["uvx", "cordon-echo"];

        // Approval on a fresh account: resolved, shown, installed.
        let out = approve(&env, &reg, &command);
        let err = stderr(&out);
        assert!(
            err.contains("cordon-echo") && err.contains("1.0.0"),
            "{user:?}: {err}"
        );
        let installed = entries(&env);
        assert_eq!(installed.len(), 1, "{user:?}: {installed:?}");
        let venv = &installed[0];
        assert!(venv.join("bin/cordon-echo").is_file(), "{user:?}: {venv:?}");
        let meta = fs::metadata(venv.join("bin")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o222, 0, "{user:?}: sealed");

        // Two host starts: both run the approved version, and neither goes
        // to the index.
        let asked = reg.requests().len();
        for _ in 0..2 {
            let out = start(&env, &reg, &command);
            assert_eq!(out.status.code(), Some(0), "{user:?}: {}", stderr(&out));
            assert_eq!(served_version(&out), "1.0.0", "{user:?}");
        }
        assert_eq!(
            reg.requests().len(),
            asked,
            "{user:?}: a start used the index"
        );

        // A new upstream version changes nothing until it is approved.
        publish(&reg, "1.1.0");
        let out = start(&env, &reg, &command);
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", stderr(&out));
        assert_eq!(served_version(&out), "1.0.0", "{user:?}");
        assert_eq!(
            reg.requests().len(),
            asked,
            "{user:?}: a start used the index"
        );

        // A changed file of the venv is refused, by name.
        let module = find(venv, "cordon_echo").unwrap().join("__init__.py");
        let mut mode = fs::metadata(&module).unwrap().permissions();
        mode.set_mode(0o644);
        fs::set_permissions(&module, mode).unwrap();
        let code = fs::read_to_string(&module).unwrap();
        fs::write(&module, code.replace("def main", "EVIL = 1\n\ndef main")).unwrap();
        let out = start(&env, &reg, &command);
        assert_eq!(out.status.code(), Some(124), "{user:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("cordon_echo/__init__.py"), "{user:?}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("\"text\""),
            "{user:?}: it ran"
        );
    }
}

#[test]
fn a_pinned_package_with_more_requirements_runs_as_python_m() {
    for user in users() {
        let reg = Registry::start();
        reg.publish_wheel(
            &Wheel::new("cordon-lib", "1.0.0").file("cordon_lib/__init__.py", "VALUE = 1\n"),
        );
        reg.publish_wheel(
            &Wheel::new("cordon-extra", "2.0.0").file("cordon_extra/__init__.py", "VALUE = 2\n"),
        );
        publish(&reg, "1.0.0");
        publish(&reg, "1.1.0");
        let env = Env::new(user);
        let command = [
            "uvx",
            "--with",
            "cordon-extra<3",
            "--from",
            "cordon-echo==1.0.0",
            "python",
            "-m",
            "cordon_echo",
        ];
        let out = approve(&env, &reg, &command);
        let err = stderr(&out);
        assert!(
            err.contains("cordon-echo 1.0.0 (pinned)"),
            "{user:?}: {err}"
        );
        let venv = &entries(&env)[0];
        assert!(
            find(venv, "cordon_extra").is_some(),
            "{user:?}: --with installed"
        );
        let out = start(&env, &reg, &command);
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", stderr(&out));
        assert_eq!(served_version(&out), "1.0.0", "{user:?}");
    }
}

#[test]
fn forms_that_cannot_be_installed_are_refused_with_the_reason() {
    for user in users() {
        let reg = Registry::start();
        reg.publish_wheel(
            &Wheel::new("cordon-lib", "1.0.0").file("cordon_lib/__init__.py", "VALUE = 1\n"),
        );
        publish(&reg, "1.0.0");
        let env = Env::new(user);
        for (command, reason) in [
            (
                &["uvx", "--python", "3.12", "cordon-echo"][..],
                "unknown option --python",
            ),
            (
                &["uvx", "--from", "git+https://example.invalid/x", "x"],
                "only index packages are installed",
            ),
            (
                &["uvx", "--from", "cordon-echo", "nope"],
                "cordon-echo has no command \"nope\" (it has: cordon-echo)",
            ),
            (&["uvx", "cordon-echo==9"], "uv pip compile cordon-echo==9"),
        ] {
            let mut args = vec!["approve", "--yes", "--"];
            args.extend_from_slice(command);
            let out = cordon(&env, &reg, &args, b"");
            assert_ne!(out.status.code(), Some(0), "{user:?} {command:?}");
            let err = stderr(&out);
            assert!(err.contains(reason), "{user:?} {command:?}: {err}");
            assert!(
                !err.contains("cordon: approved"),
                "{user:?} {command:?}: {err}"
            );
        }
    }
}
