//! Consent for `run`, and the `approve` and `consent` commands: the one
//! place that decides, from the command line, the terminal and the
//! recorded approvals, whether a server may start.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{ConsentCommand, LaunchArgs};
use crate::consent::{self, Approval, ConsentError, Mode, Outcome, Store};
use crate::error::Error;
use crate::sandbox::HostPaths;

/// A launch as the command line asks for it: built once from the
/// arguments, and the one source of both the options an approval binds
/// and the `cordon approve …` command a refusal prints, so the two
/// cannot drift apart. Paths of `--pin` are made absolute (relative
/// `--ro`/`--rw` grants are resolved into the bound policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    pub profile: Option<String>,
    pub ro: Vec<PathBuf>,
    pub rw: Vec<PathBuf>,
    pub env: Vec<String>,
    pub no_namespaces: bool,
    pub pin: Option<PathBuf>,
    pub command: Vec<OsString>,
}

impl LaunchRequest {
    pub fn new(args: &LaunchArgs, cwd: &Path) -> LaunchRequest {
        let LaunchArgs {
            profile,
            ro,
            rw,
            env,
            no_namespaces,
            pin,
            command,
            // How much of the screen is shown is not part of what is approved.
            details: _,
        } = args.clone();
        LaunchRequest {
            profile,
            ro,
            rw,
            env,
            no_namespaces,
            pin: pin.map(|p| cwd.join(p)),
            command,
        }
    }

    /// cordon's options, each once, in one fixed order and spelling
    /// (every field but the command).
    pub fn options(&self) -> Vec<OsString> {
        let LaunchRequest {
            profile,
            ro,
            rw,
            env,
            no_namespaces,
            pin,
            command: _,
        } = self;
        let mut words: Vec<OsString> = Vec::new();
        if let Some(p) = profile {
            words.extend(["--profile".into(), p.into()]);
        }
        for (flag, paths) in [("--ro", ro), ("--rw", rw)] {
            for p in paths {
                words.extend([flag.into(), p.as_os_str().to_owned()]);
            }
        }
        for name in env {
            words.extend(["--env".into(), name.into()]);
        }
        if *no_namespaces {
            words.push("--no-namespaces".into());
        }
        if let Some(p) = pin {
            words.extend(["--pin".into(), p.as_os_str().to_owned()]);
        }
        words
    }

    /// `cordon SUBCOMMAND OPTIONS -- COMMAND…`.
    pub fn words(&self, subcommand: &str) -> Vec<OsString> {
        let mut words: Vec<OsString> = vec!["cordon".into(), subcommand.into()];
        words.extend(self.options());
        words.push("--".into());
        words.extend(self.command.iter().cloned());
        words
    }
}

/// How `run` obtains consent.
pub struct Request<'a> {
    pub request: &'a LaunchRequest,
    pub dry_run: bool,
    pub yes: bool,
    /// The rendering shown at consent.
    pub text: &'a str,
    pub binding: &'a dyn Fn() -> Result<consent::Binding, ConsentError>,
    pub host: &'a HostPaths,
    /// What an approved start says on stderr.
    pub verbosity: Verbosity,
    /// The effective profile's name (and how it was picked), for the
    /// one-line log; escaped.
    pub profile: &'a str,
}

/// Decides whether the server may start. Without a terminal only an
/// approval recorded for exactly this binding lets it; a refusal also
/// answers the host's `initialize` request so its UI can say why.
/// Returns the outcome, and the recorded approval when one matched.
pub fn decide(req: &Request<'_>) -> Result<(Outcome, Option<Approval>), Error> {
    if req.dry_run {
        return Ok((consent::obtain(req.text, Mode::DryRun)?, None));
    }
    if req.yes {
        return Ok((consent::obtain(req.text, Mode::Yes)?, None));
    }
    let binding = (req.binding)()?;
    let store = Store::new(&req.host.state);
    let approvals = store.load().map_err(ConsentError::from)?;
    if let Some(approval) = consent::find_approval(&approvals, &binding) {
        let line = started_line(approval, req.profile);
        match req.verbosity {
            Verbosity::Quiet => {}
            Verbosity::Line => say(&line),
            Verbosity::Screen => say(&format!("{}{line}", req.text)),
        }
        return Ok((Outcome::Approved, Some(approval.clone())));
    }
    match consent::obtain(req.text, Mode::Ask) {
        Err(ConsentError::NoTerminal) => {
            let reasons = consent::explain_refusal(&approvals, &binding);
            let approve =
                approve_command(req.request, &std::env::current_dir().unwrap_or_default());
            let message = format!(
                "cordon refused to start this server: {}. To approve it, run in a terminal: {approve}",
                reasons.join("; ")
            );
            answer_initialize(&message);
            Err(ConsentError::NotApproved { reasons, approve }.into())
        }
        other => Ok((other?, None)),
    }
}

/// The one line an approved start logs: which server, which approval,
/// which sandbox (`-v` shows the whole screen before it).
pub fn started_line(approval: &Approval, profile: &str) -> String {
    format!(
        "cordon: starting {} (approval {}, approved on {}) in the sandbox of profile {profile}\n",
        approval.binding.command, approval.id, approval.approved_at,
    )
}

/// A start refused after the approval matched (what was checked changed
/// before the start): the host's `initialize` gets the reason too.
pub fn refuse_start(error: ConsentError) -> Error {
    answer_initialize(&format!("cordon refused to start this server: {error}"));
    error.into()
}

/// The pin file the relay uses for `approval`, holding the approval's pins
/// when it has any (written afresh, so an edited file cannot widen them).
pub fn pin_file(host: &HostPaths, approval: &Approval) -> Result<std::path::PathBuf, Error> {
    let (dir, name) = pin_place(host, approval)?;
    let path = dir.path_of(&name);
    if approval.pins.is_some() || approval.text_pins.is_some() {
        let pins =
            crate::mcp::pins::PinSet::from_parts(approval.pins.clone(), approval.text_pins.clone());
        crate::mcp::pins::save(&path, &pins).map_err(crate::mcp::McpError::from)?;
    } else {
        // A stale file from an earlier, revoked approval with the same
        // id must not stand in for pins nobody recorded.
        dir.remove(&name).map_err(pin_error)?;
    }
    Ok(path)
}

/// `$STATE/pins` (walked and checked by [`crate::files`]) and the name of
/// `approval`'s pin file in it.
fn pin_place(
    host: &HostPaths,
    approval: &Approval,
) -> Result<(crate::files::Dir, std::ffi::OsString), Error> {
    let dir = crate::files::Dir::own(&host.state, &[crate::dirs::PINS]).map_err(pin_error)?;
    Ok((dir, format!("approval-{}.json", approval.id).into()))
}

fn pin_error(e: crate::files::FileError) -> Error {
    crate::mcp::McpError::from(crate::mcp::pins::PinError::from(e)).into()
}

/// After an approved run: what the relay recorded of a kind the approval
/// had not pinned yet (trust on first use) is kept in the approval, so
/// later runs enforce it.
pub fn keep_first_pins(host: &HostPaths, approval: &Approval) -> Result<(), Error> {
    let complete = approval.pins.is_some()
        && approval
            .text_pins
            .as_ref()
            .is_some_and(crate::mcp::pins::TextPins::is_complete);
    if complete {
        return Ok(());
    }
    let (dir, name) = pin_place(host, approval)?;
    let path = dir.path_of(&name);
    let Some(pins) = crate::mcp::pins::load(&path).map_err(crate::mcp::McpError::from)? else {
        return Ok(());
    };
    let id = approval.id.clone();
    let (before_tools, before_text) = (approval.pins.clone(), approval.text_pins.clone());
    let (tools, text) = (pins.tools.clone(), pins.text());
    if before_tools.is_some() == tools.is_some() && before_text.unwrap_or_default() == text {
        return Ok(());
    }
    Store::new(&host.state)
        .update(move |all| {
            for a in all.iter_mut().filter(|a| a.id == id) {
                if a.pins.is_none() {
                    a.pins = tools.clone();
                }
                let kept = a.text_pins.get_or_insert_with(Default::default);
                if kept.instructions.is_none() {
                    kept.instructions = text.instructions.clone();
                }
                if kept.prompts.is_none() {
                    kept.prompts = text.prompts.clone();
                }
                if kept.templates.is_none() {
                    kept.templates = text.templates.clone();
                }
            }
        })
        .map_err(ConsentError::from)?;
    say(&format!(
        "cordon: recorded {} pins in approval {} (trust on first use); later runs withhold definitions and instructions that change\n",
        pins.count(),
        approval.id
    ));
    Ok(())
}

fn say(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// The exact `cordon approve …` that approves these arguments, runnable
/// from a shell.
pub fn approve_command(request: &LaunchRequest, cwd: &Path) -> String {
    format!(
        "cd {} && {}",
        consent::shell_quote(cwd.as_os_str()),
        consent::quote_argv(&request.words("approve"))
    )
}

/// After approval, the server could not be started: answer the host's
/// `initialize` with the reason, so that the host shows it rather than
/// "Connection closed". Only when stdin is not a terminal (a host, not a
/// person, is on the other end).
pub fn report_start_failure(reason: &str) {
    answer_initialize(&format!("cordon could not start this server: {reason}"));
}

/// Answers the host's `initialize` with a JSON-RPC error carrying
/// `message`; the host shows it instead of a silent failure.
fn answer_initialize(message: &str) {
    use crate::mcp::wire;
    // cordon has nothing else to do: the host has time to send it.
    wire::answer_first_request(wire::code::NOT_APPROVED, message, Duration::from_secs(5));
}

/// Records an approval for `binding` after the person said yes; an older
/// approval of the same command is replaced.
pub fn record(
    host: &HostPaths,
    binding: consent::Binding,
    pins: Option<crate::mcp::pins::PinSet>,
) -> Result<Approval, Error> {
    let mut approval = Approval::new(binding, crate::clock::now_rfc3339());
    if let Some(pins) = pins {
        approval.text_pins = Some(pins.text());
        approval.pins = pins.tools;
    }
    let store = Store::new(&host.state);
    let recorded = approval.clone();
    store
        .update(move |all| {
            all.retain(|a| {
                a.binding.argv_sha256 != recorded.binding.argv_sha256
                    || a.binding.profile != recorded.binding.profile
            });
            all.push(recorded);
        })
        .map_err(ConsentError::from)?;
    Ok(approval)
}

/// What one approval grants beyond its profile, in words.
fn grants_of(b: &consent::Binding) -> String {
    let mut parts = Vec::new();
    if !b.options.is_empty() {
        parts.push(format!("command line {}", b.options));
    }
    if !b.env_names.is_empty() {
        parts.push(format!("environment {}", b.env_names.join(" ")));
    }
    if let Some(cwd) = &b.cwd {
        parts.push(format!(
            "working directory {}",
            consent::escape_os(cwd.as_os_str())
        ));
    }
    if parts.is_empty() {
        return format!("only those of profile {}", b.profile);
    }
    format!("profile {}; {}", b.profile, parts.join("; "))
}

/// One approval as `consent list --json` shows it.
fn listed(a: &Approval) -> serde_json::Value {
    let b = &a.binding;
    serde_json::json!({
        "id": a.id,
        "approved_at": a.approved_at,
        "profile": b.profile,
        "command": b.command,
        "grants": {
            "options": b.options,
            "env": b.env_names,
            "cwd": b.cwd,
        },
        "pinned_tools": a.pins.as_ref().map(std::collections::BTreeMap::len),
    })
}

/// `cordon consent list|revoke`.
pub fn consent_command(cmd: ConsentCommand, host: &HostPaths) -> Result<ExitCode, Error> {
    let store = Store::new(&host.state);
    let io = |e: std::io::Error| Error::Io {
        what: "cannot write to stdout".into(),
        source: e,
    };
    match cmd {
        ConsentCommand::List { json } => {
            let approvals = store.load().map_err(ConsentError::from)?;
            let mut out = std::io::stdout().lock();
            if json {
                let list: Vec<serde_json::Value> = approvals.iter().map(listed).collect();
                let text = serde_json::to_string_pretty(&list).unwrap_or_default();
                writeln!(out, "{text}").map_err(io)?;
            } else {
                for a in &approvals {
                    writeln!(
                        out,
                        "{}  {}  {:<16} {}",
                        a.id, a.approved_at, a.binding.profile, a.binding.command
                    )
                    .map_err(io)?;
                    writeln!(out, "    grants: {}", grants_of(&a.binding)).map_err(io)?;
                }
            }
            if approvals.is_empty() {
                say(&format!(
                    "cordon: no approvals recorded (in {})\n",
                    store.path().display()
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsentCommand::Revoke { id, all } => {
            let removed = store
                .update(|approvals| {
                    let before = approvals.len();
                    approvals.retain(|a| !all && Some(&a.id) != id.as_ref());
                    before - approvals.len()
                })
                .map_err(ConsentError::from)?;
            if removed == 0 && !all {
                return Err(Error::Usage(format!(
                    "no approval with id {}",
                    id.unwrap_or_default()
                )));
            }
            say(&format!(
                "cordon: revoked {removed} approval{}\n",
                if removed == 1 { "" } else { "s" }
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How much an approved start from a host says on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `--quiet`: errors only.
    Quiet,
    /// One line: which server, which approval, which sandbox.
    Line,
    /// `-v`: the whole consent screen, then the line.
    Screen,
}

impl Verbosity {
    pub fn of(verbose: u8, quiet: bool) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Line,
            _ => Verbosity::Screen,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(words: &[OsString]) -> LaunchArgs {
        match crate::cli::Cli::try_parse_from(words).unwrap().command {
            crate::cli::Command::Approve(a) => a.launch,
            crate::cli::Command::Run(a) => a.launch,
            other => panic!("{other:?}"),
        }
    }

    /// The printed `cordon approve …`, parsed again, is the same request:
    /// every option survives, `--pin` included.
    #[test]
    fn approve_command_reproduces_the_request() {
        let cwd = Path::new("/srv/work");
        let typed: Vec<OsString> = [
            "cordon",
            "run",
            "-p",
            "./my profile.toml",
            "--rw",
            "notes",
            "--ro",
            "/opt/x",
            "--rw",
            "/b",
            "--env",
            "TOKEN",
            "--env",
            "LANG",
            "--no-namespaces",
            "--pin",
            "pins.json",
            "--yes",
            "--",
            "node",
            "-r",
            "pre.js",
            "server.js",
            "--x",
            "it's",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let request = LaunchRequest::new(&parse(&typed), cwd);
        assert_eq!(
            request.pin.as_deref(),
            Some(Path::new("/srv/work/pins.json"))
        );
        let shown = approve_command(&request, cwd);
        let words = shell_words(shown.strip_prefix("cd /srv/work && ").unwrap());
        assert_eq!(words[1], "approve");
        assert_eq!(LaunchRequest::new(&parse(&words), cwd), request);
        // And every field of the request is in the options: a request
        // that differs in any one option spells differently.
        let mut other = request.clone();
        other.pin = None;
        assert_ne!(other.options(), request.options());
        let mut other = request.clone();
        other.no_namespaces = false;
        assert_ne!(other.options(), request.options());
    }

    /// Splits what [`consent::quote_argv`] wrote (single quotes and
    /// `'\''`), enough for this test.
    fn shell_words(s: &str) -> Vec<OsString> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut quoted = false;
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (false, ' ') => words.extend(word.take().map(OsString::from)),
                (false, '\'') | (true, '\'') => {
                    quoted = !quoted;
                    word.get_or_insert_with(String::new);
                }
                (false, '\\') => {
                    if let Some(n) = chars.next() {
                        word.get_or_insert_with(String::new).push(n);
                    }
                }
                _ => word.get_or_insert_with(String::new).push(c),
            }
        }
        words.extend(word.map(OsString::from));
        words
    }
}
