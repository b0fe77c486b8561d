//! Consent for `run`, and the `approve` and `consent` commands: the one
//! place that decides, from the command line, the terminal and the
//! recorded approvals, whether a server may start.

use std::io::Write;
use std::os::fd::AsFd;
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
    let path = host
        .state
        .join("pins")
        .join(format!("approval-{}.json", approval.id));
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
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(Error::Io {
                        what: format!("cannot remove {}", path.display()),
                        source: e,
                    });
                }
            }
        }
    }
    Ok(path)
}

/// After the first approved run of an approval without pins: the relay
/// recorded the server's tools (trust on first use); keep them in the
/// approval, so later runs enforce them.
pub fn keep_first_pins(host: &HostPaths, approval: &Approval) -> Result<(), Error> {
    if approval.pins.is_some() {
        return Ok(());
    }
    let path = host
        .state
        .join("pins")
        .join(format!("approval-{}.json", approval.id));
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

/// Reads the host's first messages (for a few seconds at most) and
/// answers its `initialize` request with a JSON-RPC error carrying
/// `message`; the host shows it instead of a silent failure.
fn answer_initialize(message: &str) {
    use crate::mcp::wire::{LineReader, Message};
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reader = LineReader::new(1 << 20);
    while let Ok(read) = reader.read(std::io::stdin().as_fd(), deadline) {
        if let Message::Line(line) = read {
            if let Some(reply) = initialize_error(&line, message) {
                let _ = std::io::stdout().write_all(&reply);
                let _ = std::io::stdout().flush();
                return;
            }
        }
    }
}

/// The error response to `line` when it is an `initialize` request.
fn initialize_error(line: &[u8], message: &str) -> Option<Vec<u8>> {
    use crate::mcp::{envelope, wire};
    let env = envelope::parse(line).ok()?;
    if env.kind != envelope::Kind::Request || env.method.as_deref() != Some("initialize") {
        return None;
    }
    Some(wire::error_response(
        env.id?,
        wire::code::NOT_APPROVED,
        message,
    ))
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
