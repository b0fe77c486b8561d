//! `cordon profile learn`: a real server learned from its refusals alone.
//!
//! mcp-server-time, from a virtual environment, starts under a profile
//! that grants nothing: no group, no path. The first refusals are the
//! kernel's own opens while it executes the server (its dynamic loader,
//! which no system call of the server's shows: cordon names it from the
//! program when `execve` fails), then the loader's cache and libraries,
//! then the interpreter's files. Each round is a whole session of the MCP
//! SDK client through `cordon profile learn`, the next one learning on
//! top of the last; the rounds end when one adds no grant. Then the
//! server runs under the learned profile with `cordon run` and answers a
//! tool call. Once with namespaces (the mount view refuses first), once
//! without (Landlock refuses).

use std::fs;

use serde_json::json;

use crate::session::Session;
use crate::world::World;
use crate::{Case, check};

/// More rounds than this means learning does not converge.
const ROUNDS: usize = 16;

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "learn-time",
            about: "cordon profile learn for a venv's python -m mcp_server_time, from an empty profile, then run under it",
            needs_network: false,
            run: |w| learn_time(w, true),
        },
        Case {
            name: "learn-time-no-namespaces",
            about: "the same with --no-namespaces: learned from Landlock's refusals",
            needs_network: false,
            run: |w| learn_time(w, false),
        },
    ]
}

/// The number of grants a learn round added, from its summary line.
fn grants_added(stderr: &str, name: &str) -> Option<usize> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("cordon: learned profile {name} (")))?;
    let rest = line.split_once('(')?.1;
    rest.split_whitespace().next()?.parse().ok()
}

fn learn_time(w: &World<'_>, namespaces: bool) -> Result<(), String> {
    let venv = w.venv(".virtualenvs/learn-time", "mcp-server-time");
    let python = venv.join("bin/python").display().to_string();
    let command = vec![python, "-m".to_owned(), "mcp_server_time".to_owned()];
    let empty = w.write(
        "learn/empty.toml",
        "schema = 1\ndescription = \"Nothing: learned from here.\"\n",
    );
    let session = |profile: &str| {
        let s = Session::new(w, profile);
        if namespaces { s } else { s.no_namespaces() }
    };
    let name = if namespaces {
        "e2e-learned"
    } else {
        "e2e-learned-landlock"
    };
    let mut base = empty.display().to_string();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let report = session(&base)
            .learning(name)
            .command(&command)
            .call("get_current_time", json!({"timezone": "UTC"}))
            .run();
        let stderr = report.stderr();
        let added = grants_added(&stderr, name);
        check(
            added.is_some(),
            &format!("learn round {rounds}: wrote the learned profile"),
            || w.short(&stderr),
        )?;
        if rounds == 1 {
            // Nothing is visible or executable: the kernel's own open of
            // the program's loader is the first refusal.
            check(
                stderr.contains("cordon: refused: execute /"),
                "learn round 1: the refused execution of the loader was named",
                || w.short(&stderr),
            )?;
        }
        base = name.to_owned();
        if added == Some(0) {
            break;
        }
        if rounds == ROUNDS {
            return Err(format!("learning did not converge in {ROUNDS} rounds"));
        }
    }
    let file = w.at(&format!(".config/cordon/profiles/{name}.toml"));
    let text = fs::read_to_string(&file).unwrap_or_default();
    let home = w.home.display().to_string();
    check(
        !text.contains(&format!("\"{home}\"")) && !text.contains("\"~\""),
        "the learned profile does not grant the home directory as a whole",
        || text.clone(),
    )?;
    let report = session(name)
        .command(&command)
        .call("get_current_time", json!({"timezone": "UTC"}))
        .run();
    report
        .started("get_current_time")
        .map_err(|e| format!("{e}\n{text}"))?;
    let now = report.call(0)?;
    check(
        !now.is_error && now.text.contains("\"timezone\": \"UTC\""),
        &format!("get_current_time under the profile learned in {rounds} rounds"),
        || format!("{now:?}\n{text}"),
    )?;
    report.exited_cleanly()
}
