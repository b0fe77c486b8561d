//! cordon's own files from the outside: the audit log, approvals and pins
//! are never read or written through a symlink, a hard link, a FIFO or
//! another user's file; an audit log the server could write is refused;
//! `cordon audit verify` tells an intact log from a cut, rebuilt or
//! deleted one. The real binary runs a small MCP server (Python) in its
//! sandbox, for each user of `support::users()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::{Env, NOBODY, User, run, spawn, stderr, users};

/// Answers `tools/list` with one tool and every `tools/call` with a text;
/// `test/replace` swaps a path for a symlink, as an attacker would.
const SERVER: &str = r#"#!/usr/bin/python3
import json, os, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if not isinstance(msg, dict) or "id" not in msg or "method" not in msg:
        continue
    if msg["method"] == "tools/list":
        result = {"tools": [{"name": "search", "description": "Searches.", "inputSchema": {"type": "object"}}]}
    elif msg["method"] == "tools/call":
        result = {"content": [{"type": "text", "text": "done"}]}
    elif msg["method"] == "test/replace":
        # The attack: swap a file for a symlink to another.
        p = msg["params"]
        try:
            if os.path.lexists(p["path"]):
                os.remove(p["path"])
            os.symlink(p["target"], p["path"])
            result = {"outcome": "replaced"}
        except OSError as e:
            result = {"outcome": "failed: %s" % e.strerror}
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
    sys.stdout.flush()
"#;

/// What the test plants a symlink or hard link to: it stands in for
/// `~/.bashrc`.
const ORIGINAL: &str = "# the user's shell startup file\n";

struct World {
    env: Env,
    server: PathBuf,
    /// A file of the user's (`~/bashrc-standin`).
    victim: PathBuf,
    /// `~/audit/log.jsonl`: outside every grant.
    audit: PathBuf,
}

impl World {
    fn new(user: User) -> World {
        let env = Env::new(user);
        let server = env.write("server.py", SERVER);
        std::fs::set_permissions(&server, std::fs::Permissions::from_mode(0o755)).unwrap();
        let victim = env.write("home/bashrc-standin", ORIGINAL);
        let audit = env.home.join("audit/log.jsonl");
        World {
            env,
            server,
            victim,
            audit,
        }
    }

    /// A profile keeping the audit log at `audit_path`.
    fn profile(&self, audit_path: &Path, pin: &str) -> String {
        let text = format!(
            "schema = 1\ndescription = \"files test\"\n[filesystem]\ngroups = [\"runtime\"]\n[mcp]\npin = \"{pin}\"\naudit = true\naudit_path = \"{}\"\n",
            audit_path.display()
        );
        let path = self.env.write("profile.toml", &text);
        path.to_str().unwrap().to_owned()
    }

    fn args(&self, profile: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec!["run".into(), "--yes".into(), "-p".into(), profile.into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("--".into());
        args.push(self.server.to_str().unwrap().into());
        args
    }

    /// One run: `calls` tool calls, all sent at once.
    fn run(&self, profile: &str, extra: &[&str], calls: usize) -> Output {
        let mut input = String::from(r#"{"jsonrpc":"2.0","id":0,"method":"tools/list"}"#);
        input.push('\n');
        for id in 1..=calls {
            input.push_str(&format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"search\",\"arguments\":{{}}}}}}\n"
            ));
        }
        run(
            self.env.cordon(&self.args(profile, extra)),
            input.as_bytes(),
        )
    }

    fn verify(&self, log: &Path) -> (Option<i32>, String) {
        let out = run(
            self.env.cordon(&["audit", "verify", log.to_str().unwrap()]),
            b"",
        );
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out),
        )
    }

    fn victim_untouched(&self) {
        assert_eq!(
            std::fs::read_to_string(&self.victim).unwrap(),
            ORIGINAL,
            "cordon wrote through to the user's file"
        );
    }
}

fn ok(out: &Output, user: User) {
    assert_eq!(out.status.code(), Some(0), "{user:?}: {}", stderr(out));
}

/// A refusal before the server started: exit 125, the path and the
/// reason on stderr, nothing on stdout.
fn refused(out: &Output, user: User, path: &Path, reason: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(125), "{user:?}: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "{user:?}: the error does not name {}: {err}",
        path.display()
    );
    assert!(err.contains(reason), "{user:?}: expected {reason:?}: {err}");
    assert!(out.stdout.is_empty(), "{user:?}: the server ran");
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn an_audit_log_replaced_by_a_symlink_between_runs_is_refused() {
    for user in users() {
        let w = World::new(user);
        let profile = w.profile(&w.audit, "off");
        ok(&w.run(&profile, &[], 2), user);
        assert_eq!(lines(&w.audit), 2, "{user:?}");
        // The server (or anyone) swaps the log for a link to ~/.bashrc.
        std::fs::remove_file(&w.audit).unwrap();
        std::os::unix::fs::symlink(&w.victim, &w.audit).unwrap();
        let out = w.run(&profile, &[], 1);
        refused(&out, user, &w.audit, "symbolic link");
        w.victim_untouched();
        // A dangling symlink is not created through either.
        let target = w.env.home.join("planted");
        std::fs::remove_file(&w.audit).unwrap();
        std::os::unix::fs::symlink(&target, &w.audit).unwrap();
        refused(&w.run(&profile, &[], 1), user, &w.audit, "symbolic link");
        assert!(
            !target.exists(),
            "{user:?}: cordon created the link's target"
        );
    }
}

#[test]
fn an_audit_log_replaced_by_a_symlink_during_the_run_is_not_written_through() {
    for user in users() {
        let w = World::new(user);
        let profile = w.profile(&w.audit, "off");
        let mut child = spawn(w.env.cordon(&w.args(&profile, &[])));
        let mut stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut call = |id: u32| {
            let msg = format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"search\",\"arguments\":{{}}}}}}\n"
            );
            stdin.write_all(msg.as_bytes()).unwrap();
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(reply["id"], id, "{user:?}: {line}");
        };
        call(1);
        // The relay records a call before it forwards the response.
        assert_eq!(lines(&w.audit), 1, "{user:?}");
        let moved = w.env.home.join("audit/moved.jsonl");
        std::fs::rename(&w.audit, &moved).unwrap();
        std::os::unix::fs::symlink(&w.victim, &w.audit).unwrap();
        call(2);
        call(3);
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(0), "{user:?}: {err}");
        w.victim_untouched();
        assert!(
            err.contains(&format!("cannot write the audit log {}", w.audit.display()))
                && err.contains("replaced"),
            "{user:?}: {err}"
        );
        assert_eq!(lines(&moved), 1, "{user:?}: cordon kept writing");
    }
}

#[test]
fn an_audit_log_that_is_a_hard_link_a_fifo_or_not_the_users_is_refused() {
    for user in users() {
        let w = World::new(user);
        let profile = w.profile(&w.audit, "off");
        std::fs::create_dir_all(w.audit.parent().unwrap()).unwrap();
        w.env.give(w.audit.parent().unwrap());

        std::fs::hard_link(&w.victim, &w.audit).unwrap();
        refused(&w.run(&profile, &[], 1), user, &w.audit, "2 hard links");
        w.victim_untouched();
        std::fs::remove_file(&w.audit).unwrap();

        nix::unistd::mkfifo(&w.audit, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
        w.env.give(&w.audit);
        refused(&w.run(&profile, &[], 1), user, &w.audit, "FIFO");
        std::fs::remove_file(&w.audit).unwrap();

        // Control: the same place, empty, is the user's log.
        ok(&w.run(&profile, &[], 1), user);
        assert_eq!(lines(&w.audit), 1);
    }
    // As root, a log that belongs to another user is refused too.
    if nix::unistd::geteuid().is_root() {
        let w = World::new(User::Current);
        let other = w.env.home.join("audit/other.jsonl");
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        std::fs::write(&other, "").unwrap();
        nix::unistd::chown(&other, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
        let profile = w.profile(&other, "off");
        refused(
            &w.run(&profile, &[], 1),
            User::Current,
            &other,
            "belongs to uid 65534",
        );
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "");
    }
}

#[test]
fn approvals_and_pins_replaced_by_symlinks_are_refused() {
    for user in users() {
        let w = World::new(user);
        let state = w.env.home.join(".local/state/cordon");
        let approve = |w: &World| run(w.env.cordon(&["approve", "--yes", "--", "/bin/cat"]), b"");
        ok(&approve(&w), user);
        let store = state.join("approvals.json");
        std::fs::remove_file(&store).unwrap();
        std::os::unix::fs::symlink(&w.victim, &store).unwrap();
        // Neither read (a host start) nor written (an approval) through it.
        let host = run(w.env.cordon(&["run", "--", "/bin/cat"]), b"");
        refused(&host, user, &store, "symbolic link");
        refused(&approve(&w), user, &store, "symbolic link");
        w.victim_untouched();
        // The lock file, too.
        std::fs::remove_file(&store).unwrap();
        let lock = state.join("approvals.lock");
        std::fs::remove_file(&lock).unwrap();
        std::os::unix::fs::symlink(&w.victim, &lock).unwrap();
        refused(&approve(&w), user, &lock, "symbolic link");
        w.victim_untouched();
        std::fs::remove_file(&lock).unwrap();
        ok(&approve(&w), user);

        // A pin file that is a symlink is neither read nor rewritten.
        let pins = w.env.home.join("pins.json");
        std::os::unix::fs::symlink(&w.victim, &pins).unwrap();
        let profile = w.profile(&w.audit, "warn");
        let out = w.run(&profile, &["--pin", pins.to_str().unwrap()], 1);
        refused(&out, user, &pins, "symbolic link");
        w.victim_untouched();
        // Control: a regular pin file there is recorded.
        std::fs::remove_file(&pins).unwrap();
        ok(
            &w.run(&profile, &["--pin", pins.to_str().unwrap()], 1),
            user,
        );
        assert!(std::fs::read_to_string(&pins).unwrap().contains("search"));
    }
}

#[test]
fn cordons_own_audit_directory_replaced_by_a_symlink_is_refused() {
    for user in users() {
        let w = World::new(user);
        let text = "schema = 1\ndescription = \"files test\"\n[filesystem]\ngroups = [\"runtime\"]\n[mcp]\npin = \"off\"\naudit = true\n";
        let profile = w.env.write("profile.toml", text);
        let profile = profile.to_str().unwrap();
        ok(&w.run(profile, &[], 1), user);
        let dir = w.env.home.join(".local/state/cordon/audit");
        assert_eq!(lines(&dir.join("profile.jsonl")), 1, "{user:?}");
        // The directory swapped for a link to one the attacker chose,
        // holding a "log" that is the user's file.
        let elsewhere = w.env.home.join("elsewhere");
        std::fs::rename(&dir, &elsewhere).unwrap();
        std::fs::remove_file(elsewhere.join("profile.jsonl")).unwrap();
        std::fs::hard_link(&w.victim, elsewhere.join("profile.jsonl")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
        refused(&w.run(profile, &[], 1), user, &dir, "symbolic link");
        w.victim_untouched();
    }
}

#[test]
fn an_audit_path_the_server_may_write_is_refused_at_launch() {
    for user in users() {
        let w = World::new(user);
        let work = w.env.work.to_str().unwrap().to_owned();
        // Inside the writable grant; through a symlink to it; not yet
        // created below it.
        let link = w.env.home.join("link");
        std::os::unix::fs::symlink(&w.env.work, &link).unwrap();
        for path in [
            w.env.work.join("audit.jsonl"),
            link.join("audit.jsonl"),
            w.env.work.join("new/dir/audit.jsonl"),
        ] {
            let profile = w.profile(&path, "off");
            let out = w.run(&profile, &["--rw", &work], 1);
            refused(&out, user, &path, "mcp.audit_path");
            let err = stderr(&out);
            assert!(
                err.contains(&profile) && err.contains("writable grant"),
                "{user:?}: {err}"
            );
            assert!(!path.exists(), "{user:?}: {} was created", path.display());
        }
        // Control: a log outside every grant, with the same grant.
        let profile = w.profile(&w.audit, "off");
        ok(&w.run(&profile, &["--rw", &work], 1), user);
        assert_eq!(lines(&w.audit), 1);
    }
}

#[test]
fn audit_verify_tells_intact_truncated_rewritten_and_missing_apart() {
    for user in users() {
        let w = World::new(user);
        let profile = w.profile(&w.audit, "off");
        ok(&w.run(&profile, &[], 3), user);
        ok(&w.run(&profile, &[], 1), user);
        let text = std::fs::read_to_string(&w.audit).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert_eq!(w.verify(&w.audit), (Some(0), "ok: 4 entries\n".into()));

        // The tail cut off: the chain that is left is intact.
        let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        std::fs::write(&w.audit, &cut).unwrap();
        let (code, said) = w.verify(&w.audit);
        assert_eq!(code, Some(2), "{user:?}: {said}");
        assert!(
            said.contains("truncated: 3 entries where cordon wrote 4"),
            "{said}"
        );
        // And cordon does not append to it.
        refused(&w.run(&profile, &[], 1), user, &w.audit, "truncated");

        // The whole chain rebuilt with one entry changed.
        let mut prev = sha256_hex(b"");
        let mut forged = String::new();
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["prev"] = prev.clone().into();
            if v["id"] == 2 {
                v["outcome"] = "isError".into();
            }
            let json = v.to_string();
            prev = sha256_hex(json.as_bytes());
            forged.push_str(&json);
            forged.push('\n');
        }
        std::fs::write(&w.audit, &forged).unwrap();
        let (code, said) = w.verify(&w.audit);
        assert_eq!(code, Some(3), "{user:?}: {said}");
        assert!(said.contains("rewritten"), "{said}");
        assert!(
            !said.contains(":1:") && !said.contains(":2:"),
            "the chain is intact: {said}"
        );

        // Deleted.
        std::fs::remove_file(&w.audit).unwrap();
        let (code, said) = w.verify(&w.audit);
        assert_eq!(code, Some(4), "{user:?}: {said}");
        assert!(said.contains("missing: cordon wrote 4 entries"), "{said}");
        refused(&w.run(&profile, &[], 1), user, &w.audit, "missing");
        assert!(
            !w.audit.exists(),
            "{user:?}: the refused run created the log"
        );

        // Put back as cordon wrote it: intact again, and appended to.
        std::fs::write(&w.audit, &text).unwrap();
        w.env.give(&w.audit);
        assert_eq!(w.verify(&w.audit).0, Some(0));
        ok(&w.run(&profile, &[], 1), user);
        assert_eq!(w.verify(&w.audit), (Some(0), "ok: 5 entries\n".into()));

        // A copy has no head: intact, but unverifiable against one.
        let copy = w.env.home.join("audit/copy.jsonl");
        std::fs::copy(&w.audit, &copy).unwrap();
        let (code, said) = w.verify(&copy);
        assert_eq!(code, Some(5), "{user:?}: {said}");
        assert!(said.contains("no head"), "{said}");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn one_place_decides_cordons_directories() {
    for user in users() {
        let w = World::new(user);
        // Absolute XDG values are used; a relative one is ignored, as the
        // XDG specification asks, for the home default.
        let state = w.env.path().join("xdg-state");
        std::fs::create_dir(&state).unwrap();
        w.env.give(&state);
        let mut cmd = w.env.cordon(&["approve", "--yes", "--", "/bin/cat"]);
        cmd.env("XDG_STATE_HOME", &state);
        ok(&run(cmd, b""), user);
        assert!(state.join("cordon/approvals.json").is_file(), "{user:?}");
        let mut cmd = w.env.cordon(&["approve", "--yes", "--", "/bin/cat"]);
        cmd.env("XDG_STATE_HOME", "relative/state");
        ok(&run(cmd, b""), user);
        let default = w.env.home.join(".local/state/cordon");
        assert!(default.join("approvals.json").is_file(), "{user:?}");
        assert!(!w.env.home.join("relative").exists(), "{user:?}");
        let mode = std::fs::metadata(&default).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{user:?}");
        // Profiles go to (and are found in) the configuration directory.
        let config = w.env.path().join("xdg-config");
        std::fs::create_dir(&config).unwrap();
        w.env.give(&config);
        let mut cmd = w.env.cordon(&["profile", "init", "mine", "--", "/bin/cat"]);
        cmd.env("XDG_CONFIG_HOME", &config);
        ok(&run(cmd, b""), user);
        assert!(
            config.join("cordon/profiles/mine.toml").is_file(),
            "{user:?}"
        );
        let mut cmd = w.env.cordon(&["profile", "show", "mine"]);
        cmd.env("XDG_CONFIG_HOME", &config);
        ok(&run(cmd, b""), user);
    }
}

#[test]
fn the_sandboxed_server_cannot_replace_the_audit_log() {
    for user in users() {
        for namespaces in [true, false] {
            let w = World::new(user);
            let profile = w.profile(&w.audit, "off");
            let work = w.env.work.to_str().unwrap().to_owned();
            let mut extra = vec!["--rw", work.as_str()];
            if !namespaces {
                extra.push("--no-namespaces");
            }
            let call = |id: u32| {
                format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"search\"}}}}\n"
                )
            };
            let replace = |id: u32, path: &Path| {
                let msg = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "test/replace",
                    "params": {"path": path, "target": w.victim}});
                format!("{msg}\n")
            };
            let control = w.env.work.join("mine");
            w.env.write("home/work/mine", "");
            let input = [call(1), replace(2, &w.audit), replace(3, &control), call(4)].concat();
            let out = run(w.env.cordon(&w.args(&profile, &extra)), input.as_bytes());
            let mode = format!("{user:?}, namespaces {namespaces}");
            assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
            let replies: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let outcome = |id: u32| {
                replies
                    .iter()
                    .find(|r| r["id"] == id)
                    .and_then(|r| r["result"]["outcome"].as_str())
                    .unwrap_or_else(|| panic!("{mode}: no reply {id}: {replies:?}"))
                    .to_owned()
            };
            assert!(outcome(2).starts_with("failed"), "{mode}: {}", outcome(2));
            assert_eq!(outcome(3), "replaced", "{mode}: the control failed");
            assert!(control.is_symlink());
            w.victim_untouched();
            assert_eq!(
                w.verify(&w.audit),
                (Some(0), "ok: 2 entries\n".into()),
                "{mode}"
            );
        }
    }
}
