//! The orchestrator, and the one place that knows the order of operations
//! for `cordon run`: profile → grants → probe → prepare → consent → spawn →
//! relay → exit status.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::approval::{self, Verbosity};
use crate::cli::{
    ApproveArgs, Cli, Command, ConfigCommand, LaunchArgs, ProfileCommand, RunArgs, VetArgs,
};
use crate::consent::{self, ConsentError, Invocation, Mode, Outcome};
use crate::error::Error;
use crate::launch::{self, Resolved};
use crate::policy::{Access, GrantSource, Policy, Requirement};
use crate::profile::{self, Context};
use crate::sandbox::{self, HostPaths, Probe};
use crate::session::{self, ServerExit};

pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Run(args) => run_server(args, Verbosity::of(cli.verbose, cli.quiet)),
        Command::Profile(cmd) => profile_command(cmd),
        Command::Doctor { json } => doctor(json),
        Command::Approve(args) => approve(args),
        Command::Vet(args) => vet(args),
        Command::Config(cmd) => config_command(cmd),
        Command::Egress { fd, parent } => Ok(crate::egress::main(fd, parent)?),
        Command::Generate { what, dir } => crate::generate::generate(what, &dir)
            .map(|()| ExitCode::SUCCESS)
            .map_err(|source| Error::Io {
                what: format!("cannot write into {}", dir.display()),
                source,
            }),
        Command::Audit(crate::cli::AuditCommand::Verify { file }) => audit_verify(&file),
        Command::Consent(cmd) => {
            let ctx = Context::from_env()?;
            approval::consent_command(cmd, &host_paths(&ctx))
        }
    }
}

/// A policy with every command-line grant applied, and the resolved
/// command: what consent is given for.
pub struct Launch {
    /// The profile chosen from the command, when no `--profile` was given.
    pub picked: Option<crate::hostconfig::choose::Choice>,
    pub policy: Policy,
    pub resolved: Resolved,
    pub invocation: Invocation,
    /// The command line's request, built once: what the approval binds
    /// and what a refusal tells the user to approve.
    pub request: approval::LaunchRequest,
    /// The executable, opened once: hashed from this descriptor, and
    /// executed through it.
    pub executable: consent::digest::Opened,
    /// The programs run in turn (`#!` interpreters, `env`'s program) and
    /// the files of code the command line names, opened once.
    pub programs: Vec<consent::digest::Opened>,
    pub code: Vec<(launch::script::Role, consent::digest::Opened)>,
}

impl Launch {
    /// Right before the start: nothing was written to what was checked,
    /// and nothing was renamed over the files the interpreter opens by
    /// path. (What remains: a rename between this check and the
    /// interpreter's own open of its script.)
    pub fn check_unchanged(&self) -> Result<(), ConsentError> {
        let by_path = self.programs.iter().chain(self.code.iter().map(|(_, o)| o));
        if !self.executable.unchanged(false) {
            return Err(ConsentError::Changed {
                path: self.executable.path.clone(),
            });
        }
        for opened in by_path {
            if !opened.unchanged(true) {
                return Err(ConsentError::Changed {
                    path: opened.path.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Loads the profile and applies the command line to it.
pub fn resolve_launch(args: &LaunchArgs, ctx: &Context) -> Result<Launch, Error> {
    let (name, picked) = match &args.profile {
        Some(name) => (name.clone(), None),
        None => {
            let choice = pick_profile(&args.command, ctx)?;
            (choice.profile.clone(), Some(choice))
        }
    };
    let mut policy = profile::load(&name, ctx)?;
    if args.no_namespaces {
        policy.mechanisms.namespaces = Requirement::Off;
    }
    let command = args
        .command
        .first()
        .ok_or_else(|| Error::Usage("no command given after --".into()))?;
    let path_var = std::env::var_os("PATH");
    let (resolved, executable) =
        launch::resolve::resolve_opened(command, path_var.as_deref(), &ctx.cwd)?;
    let executable =
        consent::digest::Opened::from_file(&resolved.executable, executable).map_err(|source| {
            ConsentError::Bind {
                path: resolved.executable.clone(),
                source,
            }
        })?;
    let code = launch::script::code_of(
        &resolved.executable,
        &args.command,
        &ctx.cwd,
        path_var.as_deref(),
    );
    let (programs, code_files) = consent::binding::open_code(&resolved.interpreters, &code);
    for path in &args.ro {
        profile::add_grant(
            &mut policy,
            path,
            Access::READ_EXEC,
            GrantSource::CommandLine,
            ctx,
        )?;
    }
    for path in &args.rw {
        profile::add_grant(
            &mut policy,
            path,
            Access::READ_WRITE,
            GrantSource::CommandLine,
            ctx,
        )?;
    }
    profile::add_grant(
        &mut policy,
        &resolved.executable,
        Access::READ_EXEC,
        GrantSource::Executable,
        ctx,
    )?;
    for interp in &resolved.interpreters {
        profile::add_grant(
            &mut policy,
            interp,
            Access::READ_EXEC,
            GrantSource::Interpreter,
            ctx,
        )?;
    }
    profile::add_env_names(&mut policy, &args.env)?;
    let invocation = Invocation {
        argv: args.command.clone(),
        executable: resolved.executable.clone(),
        interpreter: resolved.interpreters.last().cloned(),
        cwd: ctx.cwd.clone(),
    };
    Ok(Launch {
        picked,
        policy,
        resolved,
        invocation,
        request: approval::LaunchRequest::new(args, &ctx.cwd),
        executable,
        programs,
        code: code_files,
    })
}

/// Without `--profile`: the profile whose package the command names, by
/// the same rule as `cordon config wrap`, else `default`.
fn pick_profile(
    command: &[OsString],
    ctx: &Context,
) -> Result<crate::hostconfig::choose::Choice, Error> {
    let names = profile::names(ctx)?;
    let words: Vec<String> = command
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let Some((first, rest)) = words.split_first() else {
        return Err(Error::Usage("no command given after --".into()));
    };
    Ok(crate::hostconfig::choose::profile_for(first, rest, &names))
}

/// The line that makes an automatic pick visible, shown before the
/// consent screen.
pub fn picked_line(choice: &crate::hostconfig::choose::Choice) -> String {
    match &choice.matched {
        Some(word) => format!(
            "cordon: no --profile given; using profile {} because the command names package {}\n",
            consent::escape_text(&choice.profile),
            consent::escape_text(word)
        ),
        None => format!(
            "cordon: no --profile given; using profile {} because the command names no package of a known profile\n",
            consent::escape_text(&choice.profile)
        ),
    }
}

/// The profile as the one-line log of an approved start names it, with
/// how it was chosen when no `--profile` was given.
fn profile_label(launch: &Launch) -> String {
    let name = consent::escape_text(&launch.policy.name);
    match launch.picked.as_ref().map(|c| &c.matched) {
        None => name,
        Some(Some(word)) => format!(
            "{name} (no --profile given; the command names package {})",
            consent::escape_text(word)
        ),
        Some(None) => {
            format!("{name} (no --profile given; the command names no package of a known profile)")
        }
    }
}

/// Everything shown at consent: the launch with its grants, its prepared
/// sandbox, and the one rendering of both.
struct Staged {
    ctx: Context,
    launch: Launch,
    host: HostPaths,
    prepared: sandbox::Prepared,
    text: String,
}

/// Profile → grants → probe → prepare → rendering, shared by `run`,
/// `approve` and `vet` so all three show and bind the same thing.
/// Without `allocate` (a dry run) nothing is created for the sandbox.
fn stage(args: &LaunchArgs, allocate: bool) -> Result<Staged, Error> {
    ensure_standard_descriptors();
    let ctx = Context::from_env()?;
    let launch = resolve_launch(args, &ctx)?;
    let host = host_paths(&ctx);
    let namespaces = launch.policy.mechanisms.namespaces != Requirement::Off;
    let probe = Probe::for_launch(&host.state, namespaces);
    let mut prepared = sandbox::prepare(
        &launch.policy,
        &probe,
        &host,
        &launch.resolved.executable,
        &args.command,
        &ctx.cwd,
        allocate,
    )?;
    prepared.exec.fd = launch::resolve::exec_descriptor(&launch.resolved, &launch.executable.file)?;
    let private_tmp = prepared.private_tmp.as_ref().map(tempfile::TempDir::path);
    crate::mcp::audit::check_placement(&launch.policy, &host.state, private_tmp)
        .map_err(crate::mcp::McpError::from)?;
    let style = consent::Style {
        details: args.details,
        colour: colour_stderr(),
    };
    let screen = consent::render(
        &launch.policy,
        &launch.invocation,
        &prepared.report.entries,
        &ctx.home,
        style,
    );
    let text = match &launch.picked {
        Some(choice) => picked_line(choice) + &screen,
        None => screen,
    };
    Ok(Staged {
        ctx,
        launch,
        host,
        prepared,
        text,
    })
}

/// Colour on stderr: only on a terminal, and not when `NO_COLOR` is set
/// to anything non-empty (no-color.org).
fn colour_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn run_server(args: RunArgs, verbosity: Verbosity) -> Result<ExitCode, Error> {
    let Staged {
        ctx,
        launch,
        host,
        prepared,
        text,
    } = stage(&args.launch, !args.dry_run)?;
    let bind = || binding(&launch, &ctx);
    let request = approval::Request {
        request: &launch.request,
        dry_run: args.dry_run,
        yes: args.yes,
        text: &text,
        binding: &bind,
        host: &host,
        verbosity,
        profile: &profile_label(&launch),
    };
    let approved = match approval::decide(&request)? {
        (Outcome::Approved, approved) => approved,
        (Outcome::DryRun, _) => return Ok(ExitCode::SUCCESS),
        (Outcome::Refused, _) => return Err(Error::Refused),
    };
    // A recorded approval already said which server starts, in its one
    // line (or said nothing under --quiet).
    if approved.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "cordon: starting the server in its sandbox"
        );
    }
    let signals = session::signal_fd().map_err(|e| Error::Io {
        what: "cannot set up signal handling".into(),
        source: e.into(),
    })?;
    // Pins live with the approval: the relay enforces the approved pins,
    // or records them on this first approved run (trust on first use).
    let pin_file = match (&launch.request.pin, &approved) {
        (Some(file), _) => Some(file.clone()),
        (None, Some(a)) => Some(approval::pin_file(&host, a)?),
        (None, None) => None,
    };
    let files = crate::mcp::RunFiles {
        state_dir: host.state.clone(),
        pin_file,
        argv: args.launch.command.clone(),
    };
    let filter = crate::mcp::Filter::new(&launch.policy, &files)?;
    if let Err(e) = launch.check_unchanged() {
        return Err(match approved {
            Some(_) => approval::refuse_start(e),
            None => e.into(),
        });
    }
    let child = launch::spawn(&prepared).inspect_err(|e| {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            reason.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        approval::report_start_failure(&reason);
    })?;
    tracing::info!(init = child.pid.as_raw(), "sandbox started");
    let exit = session::run(child, signals, launch.policy.shutdown, filter)?;
    tracing::info!(?exit, "server exited");
    if let (None, Some(a)) = (&launch.request.pin, &approved) {
        approval::keep_first_pins(&host, a)?;
    }
    if let ServerExit::Signal(sig) = exit {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_owned());
        let _ = writeln!(std::io::stderr(), "cordon: the server was killed by {name}");
    }
    Ok(ExitCode::from(exit.exit_code()))
}

/// `cordon audit verify FILE`: the chain's verdict and its comparison
/// with the head cordon recorded, on stdout. Exit 0: intact and as cordon
/// wrote it; 1: a broken line; 2: truncated; 3: rewritten (ends
/// elsewhere, or has more lines, than cordon wrote); 4: missing; 5: the
/// chain is intact but cordon holds no head for this path.
fn audit_verify(file: &Path) -> Result<ExitCode, Error> {
    use crate::mcp::audit::{Finding, HeadCheck};
    let state = Context::from_env()?.own_dirs().state;
    let verdict = crate::mcp::audit::verify(file, &state).map_err(crate::mcp::McpError::from)?;
    let mut lines = Vec::new();
    if let Some(b) = &verdict.broken {
        lines.push(format!("{}:{}: {}", file.display(), b.line, b.reason));
    }
    let code = match &verdict.head {
        HeadCheck::Differs(finding) => {
            lines.push(format!("{}: {finding}", file.display()));
            match finding {
                Finding::Truncated { .. } => 2,
                Finding::Rewritten { .. } | Finding::Appended { .. } => 3,
                Finding::Missing { .. } => 4,
            }
        }
        _ if verdict.broken.is_some() => 1,
        HeadCheck::NotRecorded => {
            lines.push(format!(
                "{}: {} entries chained, but cordon holds no head for this log ({}): a cut tail or a rebuilt chain would not show",
                file.display(),
                verdict.entries,
                verdict.head_path.display()
            ));
            5
        }
        HeadCheck::Matches => {
            lines.push(format!("ok: {} entries", verdict.entries));
            0
        }
    };
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}").map_err(|source| Error::Io {
            what: "cannot write to stdout".into(),
            source,
        })?;
    }
    Ok(ExitCode::from(code))
}

/// What an approval of `launch` is bound to; digests come from the cache
/// in the state directory (see [`consent::digest`]).
fn binding(launch: &Launch, ctx: &Context) -> Result<consent::Binding, ConsentError> {
    let options = launch.request.options();
    let own = ctx.own_dirs().host_paths();
    // Grants are resolved paths: compare with the resolved directories.
    let skip =
        [&own.state, &own.config].map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    let subject = consent::Subject {
        executable: &launch.executable,
        programs: &launch.programs,
        code: &launch.code,
        options: &options,
        skip: &skip,
    };
    let digests = consent::digest::Digests::open(&own.state);
    consent::bind(
        &launch.policy,
        &launch.invocation,
        &ctx.home,
        &subject,
        &digests,
    )
    .map_err(|e| ConsentError::Bind {
        path: e.path,
        source: e.source,
    })
}

/// Stages the server and asks for consent on the terminal (or takes
/// `yes`), ignoring recorded approvals: `approve` and `vet` are how a
/// person gives one.
fn stage_with_consent(args: &LaunchArgs, yes: bool, question: &str) -> Result<Staged, Error> {
    let staged = stage(args, true)?;
    let mode = if yes { Mode::Yes } else { Mode::Ask };
    if consent::obtain_with(&staged.text, mode, question)? != Outcome::Approved {
        return Err(Error::Refused);
    }
    Ok(staged)
}

/// `cordon approve`: the same rendering as `run`, asked on the terminal
/// (or `--yes`), then recorded.
fn approve(args: ApproveArgs) -> Result<ExitCode, Error> {
    let Staged {
        ctx, launch, host, ..
    } = stage_with_consent(&args.launch, args.yes, consent::APPROVE_QUESTION)?;
    let recorded = approval::record(&host, binding(&launch, &ctx)?, None)?;
    let _ = writeln!(
        std::io::stderr(),
        "cordon: approved (approval {}); a host may now start it with `cordon run` and the same arguments",
        recorded.id
    );
    Ok(ExitCode::SUCCESS)
}

/// `cordon vet`: consent to start the server (it runs, sandboxed), the
/// interview, the report, and the offer to approve with pins.
fn vet(args: VetArgs) -> Result<ExitCode, Error> {
    let Staged {
        ctx,
        launch,
        host,
        mut prepared,
        ..
    } = stage_with_consent(&args.launch, args.yes, consent::QUESTION)?;
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Io { what, source }
    };
    let mut log =
        tempfile::tempfile().map_err(io("cannot create a file for the server's stderr"))?;
    prepared.stderr = Some(
        log.try_clone()
            .map_err(io("cannot duplicate a descriptor"))?
            .into(),
    );
    launch.check_unchanged()?;
    let mut child = launch::spawn(&prepared)?;
    let report = crate::vet::interview(&mut child, &mut log);
    child.kill_sandbox();
    let _ = nix::sys::wait::waitpid(child.pid, None);
    crate::vet::print(&report, args.json).map_err(io("cannot write to stdout"))?;
    let pins = report.pins();
    let question = format!(
        "Approve this server for hosts, pinning its instructions, {} tools, {} prompts and {} resource templates ({} flags{})? [y/N] ",
        report.tools.len(),
        report.prompts.len(),
        report.resource_templates.len(),
        report.flag_count(),
        if report.has_high() {
            ", some of severity high"
        } else {
            ""
        }
    );
    let approved = args.yes
        || match consent::ask("", &question) {
            Ok(outcome) => outcome == Outcome::Approved,
            Err(ConsentError::NoTerminal) => false,
            Err(e) => return Err(e.into()),
        };
    if approved {
        let recorded = approval::record(&host, binding(&launch, &ctx)?, Some(pins))?;
        let _ = writeln!(
            std::io::stderr(),
            "cordon: approved (approval {}) with its definitions pinned",
            recorded.id
        );
    }
    // A finding of severity high fails the command, approved or not, so a
    // script that vets servers can stop on it.
    Ok(if report.has_high() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `cordon config wrap|unwrap`.
fn config_command(cmd: ConfigCommand) -> Result<ExitCode, Error> {
    use crate::hostconfig::{Action, Request};
    let (action, args) = match cmd {
        ConfigCommand::Wrap(args) => (Action::Wrap, args),
        ConfigCommand::Unwrap(args) => (Action::Unwrap, args),
        ConfigCommand::Check(args) => {
            let problems = crate::hostconfig::check(
                args.host.as_deref(),
                &wrapped_entry_approved,
                &mut std::io::stdout().lock(),
            )?;
            return Ok(ExitCode::from(u8::from(problems > 0)));
        }
    };
    let request = Request {
        action,
        host: args.host,
        dry_run: args.dry_run,
        json: args.json,
    };
    crate::hostconfig::run(
        &request,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Whether the `cordon run` arguments of a host's entry (`run` first)
/// have an approval recorded for exactly what they would start: the same
/// profile, grants and binding as `run` computes.
fn wrapped_entry_approved(args: &[String]) -> Result<bool, String> {
    let argv = std::iter::once("cordon").chain(args.iter().map(String::as_str));
    let cli = <Cli as clap::Parser>::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default().to_owned();
        format!("its arguments are not a cordon command line: {first}")
    })?;
    let Command::Run(run) = cli.command else {
        return Err("its arguments are not `cordon run …`".into());
    };
    if run.yes {
        return Err(
            "it starts with --yes, without an approval: remove --yes and approve it".into(),
        );
    }
    let ctx = Context::from_env().map_err(|e| e.to_string())?;
    let launch = resolve_launch(&run.launch, &ctx).map_err(|e| format!("it cannot start: {e}"))?;
    let bound = binding(&launch, &ctx).map_err(|e| format!("it cannot be checked: {e}"))?;
    let approvals = consent::Store::new(&ctx.own_dirs().state)
        .load()
        .map_err(|e| format!("the approvals cannot be read: {e}"))?;
    Ok(consent::find_approval(&approvals, &bound).is_some())
}

/// The user's home and cordon's own directories, which the sandbox
/// protects.
fn host_paths(ctx: &Context) -> HostPaths {
    ctx.own_dirs().host_paths()
}

/// Descriptors 0, 1 and 2 must be open before cordon creates pipes, or a
/// pipe could land on one of them and be mistaken for stdio.
fn ensure_standard_descriptors() {
    for fd in 0..3 {
        if nix::fcntl::fcntl(unsafe_borrow(fd), nix::fcntl::FcntlArg::F_GETFD).is_err() {
            if let Ok(null) = nix::fcntl::open(
                "/dev/null",
                nix::fcntl::OFlag::O_RDWR,
                nix::sys::stat::Mode::empty(),
            ) {
                // open returns the lowest free descriptor: this one.
                std::mem::forget(null);
            }
        }
    }
}

fn unsafe_borrow(fd: i32) -> std::os::fd::BorrowedFd<'static> {
    #[allow(unsafe_code)]
    // SAFETY: fcntl(F_GETFD) on a number that may be closed only reports
    // EBADF; nothing is read or written through the borrow.
    unsafe {
        std::os::fd::BorrowedFd::borrow_raw(fd)
    }
}

fn profile_command(cmd: ProfileCommand) -> Result<ExitCode, Error> {
    let ctx = Context::from_env()?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| Error::Io {
        what: "cannot write to stdout".into(),
        source: e,
    };
    match cmd {
        ProfileCommand::List => {
            for entry in profile::list(&ctx)? {
                writeln!(
                    out,
                    "{:<24} {:<40} {}",
                    entry.name,
                    entry.origin.to_string(),
                    entry.description
                )
                .map_err(io)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Show {
            profile: name,
            json,
        } => {
            let policy = profile::load(&name, &ctx)?;
            if json {
                let text = serde_json::to_string_pretty(&policy_json(&policy)).unwrap_or_default();
                writeln!(out, "{text}").map_err(io)?;
            } else {
                out.write_all(consent::render_policy(&policy).as_bytes())
                    .map_err(io)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Check { files } => {
            let mut ok = true;
            for file in files {
                let errors = check_file(&file, &ctx);
                if errors.is_empty() {
                    writeln!(out, "{}: ok", file.display()).map_err(io)?;
                }
                for e in errors {
                    ok = false;
                    crate::error::report(&e.into());
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ProfileCommand::Init {
            name,
            stdout,
            force,
            command,
        } => init_profile(&name, &command, stdout, force, &ctx),
    }
}

/// The effective policy as `profile show --json` prints it: the fields
/// a script checks, in the words of the text form.
fn policy_json(policy: &Policy) -> serde_json::Value {
    let grants: Vec<serde_json::Value> = policy
        .fs
        .iter()
        .map(|g| {
            serde_json::json!({
                "path": g.path.to_string_lossy(),
                "declared": g.declared,
                "access": g.access.to_string(),
                "source": g.source.to_string(),
                "exists": g.exists,
            })
        })
        .collect();
    let set: Vec<&String> = policy.env.set.keys().collect();
    let limits = &policy.limits;
    serde_json::json!({
        "name": policy.name,
        "origin": policy.origin.to_string(),
        "description": policy.description,
        "fs": grants,
        "unprotect": policy.unprotect.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
        "private_tmp": policy.private_tmp,
        "network": {
            "mode": format!("{:?}", policy.network.mode).to_lowercase(),
            "allow": policy.network.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "env": { "pass": policy.env.pass, "set": set },
        "limits": {
            "core": limits.core,
            "nofile": limits.nofile,
            "nproc": limits.nproc,
            "address_space": limits.address_space,
            "fsize": limits.fsize,
            "cpu": limits.cpu,
            "memory": limits.memory,
            "tmp": limits.tmp,
        },
        "mechanisms": {
            "namespaces": policy.mechanisms.namespaces.to_string(),
            "landlock": policy.mechanisms.landlock.to_string(),
            "seccomp": policy.mechanisms.seccomp.to_string(),
        },
    })
}

/// `cordon profile init`: drafts the profile and writes it where `-p NAME`
/// finds it (or prints it); says on stdout where it went and what next.
fn init_profile(
    name: &str,
    command: &[OsString],
    to_stdout: bool,
    force: bool,
    ctx: &Context,
) -> Result<ExitCode, Error> {
    profile::init::check_name(name)?;
    let first = command
        .first()
        .ok_or_else(|| Error::Usage("no command given after --".into()))?;
    let resolved = launch::resolve(first, std::env::var_os("PATH").as_deref(), &ctx.cwd)?;
    let cmd = profile::init::LaunchCommand {
        argv: command,
        executable: &resolved.executable,
        interpreters: &resolved.interpreters,
    };
    let draft = profile::init::draft(name, &cmd, ctx);
    let mut out = std::io::stdout().lock();
    let io = |what: String| move |source| Error::Io { what, source };
    if to_stdout {
        out.write_all(draft.text.as_bytes())
            .map_err(io("cannot write to stdout".into()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let dir = ctx
        .dirs
        .first()
        .ok_or_else(|| Error::Usage("no profile directory".into()))?;
    let file = dir.join(format!("{name}.toml"));
    if file.exists() && !force {
        return Err(Error::Usage(format!(
            "{} exists; pass --force to replace it, or --stdout to print the draft",
            file.display()
        )));
    }
    crate::files::Dir::own(&ctx.own_dirs().config, &["profiles"])
        .and_then(|d| {
            d.replace(
                OsStr::new(&format!("{name}.toml")),
                draft.text.as_bytes(),
                0o644,
            )
        })
        .map_err(|e| Error::Io {
            what: format!("cannot write {}", file.display()),
            source: std::io::Error::other(e),
        })?;
    writeln!(
        out,
        "wrote {}
review it, then:
  cordon profile check {}
  cordon run --dry-run -p {name} -- {}",
        file.display(),
        file.display(),
        consent::quote_argv(command)
    )
    .map_err(io("cannot write to stdout".into()))?;
    Ok(ExitCode::SUCCESS)
}

/// Every error of one profile file; empty when it is valid.
fn check_file(file: &Path, ctx: &Context) -> Vec<profile::ProfileError> {
    // A bare file name is still a path here: `check` takes files.
    let reference = if file.components().count() == 1 {
        Path::new(".").join(file)
    } else {
        file.to_path_buf()
    };
    profile::check(&reference.to_string_lossy(), ctx)
}

fn doctor(json: bool) -> Result<ExitCode, Error> {
    let ctx = Context::from_env()?;
    let policy = profile::load(profile::DEFAULT_PROFILE, &ctx)?;
    let probe = Probe::run();
    let ok = crate::doctor::report(&probe, &policy, json).map_err(|e| Error::Io {
        what: "cannot write to stdout".into(),
        source: e,
    })?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
