//! Consent for `run`, and the `approve` and `consent` commands: the one
//! place that decides, from the command line, the terminal and the
//! recorded approvals, whether a server may start.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::{ConsentCommand, LaunchArgs};
use crate::consent::{self, Approval, ConsentError, Mode, Outcome, Store};
use crate::error::Error;
use crate::sandbox::HostPaths;

/// How `run` obtains consent.
pub struct Request<'a> {
    pub args: &'a LaunchArgs,
    pub dry_run: bool,
    pub yes: bool,
    /// The rendering shown at consent.
    pub text: &'a str,
    pub binding: &'a dyn Fn() -> Result<consent::Binding, ConsentError>,
    pub host: &'a HostPaths,
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
        say(&format!(
            "{}cordon: approved on {} (approval {})\n",
            req.text, approval.approved_at, approval.id
        ));
        return Ok((Outcome::Approved, Some(approval.clone())));
    }
    match consent::obtain(req.text, Mode::Ask) {
        Err(ConsentError::NoTerminal) => {
            let reasons = consent::explain_refusal(&approvals, &binding);
            let approve = approve_command(req.args, &std::env::current_dir().unwrap_or_default());
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

/// The pin file the relay uses for `approval`, holding the approval's pins
/// when it has any (written afresh, so an edited file cannot widen them).
pub fn pin_file(host: &HostPaths, approval: &Approval) -> Result<std::path::PathBuf, Error> {
    let (dir, name) = pin_place(host, approval)?;
    let path = dir.path_of(&name);
    match &approval.pins {
        Some(tools) => {
            let pins = crate::mcp::pins::PinSet {
                version: 1,
                tools: tools.clone(),
            };
            crate::mcp::pins::save(&path, &pins).map_err(crate::mcp::McpError::from)?;
        }
        None => {
            // A stale file from an earlier, revoked approval with the same
            // id must not stand in for pins nobody recorded.
            dir.remove(&name).map_err(pin_error)?;
        }
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

/// After the first approved run of an approval without pins: the relay
/// recorded the server's tools (trust on first use); keep them in the
/// approval, so later runs enforce them.
pub fn keep_first_pins(host: &HostPaths, approval: &Approval) -> Result<(), Error> {
    if approval.pins.is_some() {
        return Ok(());
    }
    let (dir, name) = pin_place(host, approval)?;
    let path = dir.path_of(&name);
    let Some(pins) = crate::mcp::pins::load(&path).map_err(crate::mcp::McpError::from)? else {
        return Ok(());
    };
    let id = approval.id.clone();
    let count = pins.tools.len();
    Store::new(&host.state)
        .update(move |all| {
            for a in all.iter_mut().filter(|a| a.id == id && a.pins.is_none()) {
                a.pins = Some(pins.tools.clone());
            }
        })
        .map_err(ConsentError::from)?;
    say(&format!(
        "cordon: recorded {count} tool pins in approval {} (trust on first use); later runs withhold tools whose definitions change\n",
        approval.id
    ));
    Ok(())
}

fn say(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// The exact `cordon approve …` that approves these arguments, runnable
/// from a shell.
pub fn approve_command(args: &LaunchArgs, cwd: &std::path::Path) -> String {
    let mut words: Vec<std::ffi::OsString> = vec!["cordon".into(), "approve".into()];
    if let Some(p) = &args.profile {
        words.extend(["--profile".into(), p.into()]);
    }
    for (flag, paths) in [("--ro", &args.ro), ("--rw", &args.rw)] {
        for p in paths {
            words.extend([flag.into(), p.as_os_str().to_owned()]);
        }
    }
    for name in &args.env {
        words.extend(["--env".into(), name.into()]);
    }
    if args.no_namespaces {
        words.push("--no-namespaces".into());
    }
    words.push("--".into());
    words.extend(args.command.iter().cloned());
    format!(
        "cd {} && {}",
        consent::shell_quote(cwd.as_os_str()),
        consent::quote_argv(&words)
    )
}

/// After approval, the server could not be started: answer the host's
/// `initialize` with the reason, so that the host shows it rather than
/// "Connection closed". Only when stdin is not a terminal (a host, not a
/// person, is on the other end).
pub fn report_start_failure(reason: &str) {
    if nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return;
    }
    answer_initialize(&format!("cordon could not start this server: {reason}"));
}

/// Reads the host's first messages (for a few seconds at most) and
/// answers its `initialize` request with a JSON-RPC error carrying
/// `message`; the host shows it instead of a silent failure.
fn answer_initialize(message: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline && pending.len() < 1 << 20 {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as i32;
        let mut pfd = [libc::pollfd {
            fd: std::io::stdin().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if !matches!(crate::sys::poll(&mut pfd, left.max(1)), Ok(n) if n > 0) {
            continue;
        }
        match crate::sys::read(0, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Some(reply) = initialize_error(&line, message) {
                let _ = std::io::stdout().write_all(reply.as_bytes());
                let _ = std::io::stdout().flush();
                return;
            }
        }
    }
}

/// The error response to `line` when it is an `initialize` request.
fn initialize_error(line: &[u8], message: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    if value.get("method")?.as_str()? != "initialize" {
        return None;
    }
    let id = value.get("id")?.clone();
    let reply = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": -32001, "message": message },
    });
    Some(format!("{reply}\n"))
}

/// Records an approval for `binding` after the person said yes; an older
/// approval of the same command is replaced.
pub fn record(
    host: &HostPaths,
    binding: consent::Binding,
    pins: Option<std::collections::BTreeMap<String, String>>,
) -> Result<Approval, Error> {
    let mut approval = Approval::new(binding, crate::clock::now_rfc3339());
    approval.pins = pins;
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

/// `cordon consent list|revoke`.
pub fn consent_command(cmd: ConsentCommand, host: &HostPaths) -> Result<ExitCode, Error> {
    let store = Store::new(&host.state);
    let io = |e: std::io::Error| Error::Io {
        what: "cannot write to stdout".into(),
        source: e,
    };
    match cmd {
        ConsentCommand::List => {
            let mut out = std::io::stdout().lock();
            for a in store.load().map_err(ConsentError::from)? {
                writeln!(
                    out,
                    "{}  {}  {:<16} {}",
                    a.id, a.approved_at, a.binding.profile, a.binding.command
                )
                .map_err(io)?;
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
