//! `cordon profile learn`: a real server learned from its refusals alone.
//!
//! mcp-server-time, from a virtual environment, starts under a profile
//! that grants nothing but the system runtime (without it, no dynamically
//! linked program starts: its loader is opened by the kernel, not by a
//! system call cordon can see). Each round is a whole session of the MCP
//! SDK client through `cordon profile learn`, the next one learning on
//! top of the last; the rounds end when one adds no grant. Then the
//! server runs under the learned profile with `cordon run` and answers a
//! tool call.

use std::fs;

use serde_json::json;

use crate::session::Session;
use crate::world::World;
use crate::{Case, check};

/// More rounds than this means learning does not converge.
const ROUNDS: usize = 8;

pub fn cases() -> Vec<Case> {
    vec![Case {
        name: "learn-time",
        about: "cordon profile learn for a venv's python -m mcp_server_time, from the runtime alone, then run under it",
        needs_network: false,
        run: learn_time,
    }]
}

/// The number of grants a learn round added, from its summary line.
fn grants_added(stderr: &str) -> Option<usize> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("cordon: learned profile e2e-learned ("))?;
    let rest = line.split_once('(')?.1;
    rest.split_whitespace().next()?.parse().ok()
}

fn learn_time(w: &World<'_>) -> Result<(), String> {
    let venv = w.venv(".virtualenvs/learn-time", "mcp-server-time");
    let python = venv.join("bin/python").display().to_string();
    let command = vec![python, "-m".to_owned(), "mcp_server_time".to_owned()];
    let empty = w.write(
        "learn/runtime-only.toml",
        "schema = 1\ndescription = \"The system runtime, nothing else: learned from here.\"\n\n[filesystem]\ngroups = [\"runtime\"]\n",
    );
    let mut base = empty.display().to_string();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let report = Session::new(w, &base)
            .learning("e2e-learned")
            .command(&command)
            .call("get_current_time", json!({"timezone": "UTC"}))
            .run();
        let stderr = report.stderr();
        let added = grants_added(&stderr);
        check(
            added.is_some(),
            &format!("learn round {rounds}: wrote the learned profile"),
            || w.short(&stderr),
        )?;
        base = "e2e-learned".to_owned();
        if added == Some(0) {
            break;
        }
        if rounds == ROUNDS {
            return Err(format!("learning did not converge in {ROUNDS} rounds"));
        }
    }
    let file = w.at(".config/cordon/profiles/e2e-learned.toml");
    let text = fs::read_to_string(&file).unwrap_or_default();
    let home = w.home.display().to_string();
    check(
        !text.contains(&format!("\"{home}\"")) && !text.contains("\"~\""),
        "the learned profile does not grant the home directory as a whole",
        || text.clone(),
    )?;
    let report = Session::new(w, "e2e-learned")
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
