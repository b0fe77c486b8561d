//! The orchestrator, and the one place that knows the order of operations
//! for `cordon run`: profile → grants → probe → prepare → consent → spawn →
//! relay → exit status.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::approval::{self, Verbosity};
use crate::cli::{
    ApproveArgs, Cli, Command, ConfigCommand, LaunchArgs, LearnArgs, ProfileCommand, RunArgs,
    VetArgs,
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
        Command::Profile(ProfileCommand::Learn(args)) => {
            learn_profile(args, Verbosity::of(cli.verbose, cli.quiet))
        }
        Command::Profile(cmd) => profile_command(cmd),
        Command::Doctor { json } => doctor(json),
        Command::Approve(args) => approve(args),
        Command::Vet(args) => vet(args),
        Command::Config(cmd) => config_command(cmd),
        Command::Egress { fd, parent } => Ok(crate::egress::main(fd, parent)?),
        Command::Complete { what } => complete(what),
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
    /// The package the command names, installed in the store: the server
    /// runs from its entry instead of the command as written.
    pub package: Option<FromStore>,
    /// What is executed: the command as written, or the start from the
    /// store entry.
    pub exec_argv: Vec<OsString>,
}

/// How a command that names a package (`npx -y PKG`) gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packages {
    /// Shown only (a dry run): nothing is resolved or installed.
    Show,
    /// Resolved afresh at the registry and installed when missing
    /// (`approve --update`).
    Update,
    /// The entry of the recorded approval of this command; without one,
    /// resolved and installed when `install` (a person is there to
    /// approve it), else none (and the start is refused).
    Approved { install: bool },
}

/// A package installed in the store, and how the server starts from it.
pub struct FromStore {
    pub request: crate::store::PackageRequest,
    pub resolution: crate::store::Resolution,
    pub entry: crate::store::Entry,
    /// How it was installed, for the consent screen.
    pub note: &'static str,
}

impl FromStore {
    /// What the approval binds of it (its tree is bound as a code
    /// directory).
    pub fn bound(&self) -> consent::binding::Package {
        consent::binding::Package {
            ecosystem: self.request.ecosystem.name().to_owned(),
            name: self.request.name.clone(),
            spec: self.request.spec.clone().unwrap_or_default(),
            version: self.resolution.version.clone(),
            integrity: self.resolution.integrity.clone(),
            lock: self.resolution.lock.clone(),
            registry: self.resolution.registry.clone(),
            resolved_at: self.resolution.resolved_at.clone(),
            key: self.entry.key.clone(),
        }
    }

    /// The consent screen's lines, next to the command as written.
    fn lines(&self) -> Vec<(&'static str, String)> {
        let r = &self.resolution;
        let how = if self.request.pinned(&r.version) {
            "pinned".to_owned()
        } else {
            format!(
                "{} resolved to it on {}",
                self.request.spec.as_deref().unwrap_or("latest"),
                r.resolved_at
            )
        };
        let short: String = r.integrity.chars().take(16).collect();
        vec![
            (
                "package:",
                format!("{} {} ({how})", self.request.name, r.version),
            ),
            (
                "installed:",
                format!(
                    "{} {short}… read-only in cordon's store, {}",
                    self.request.ecosystem, self.note
                ),
            ),
        ]
    }

    /// The recorded approval's package, with its entry from the store.
    fn approved(
        bound: &consent::binding::Package,
        request: crate::store::PackageRequest,
        host: &HostPaths,
    ) -> Result<FromStore, Error> {
        let store = crate::store::Store::new(&host.store);
        let entry = store.find(request.ecosystem, &bound.key)?;
        let note = crate::store::installer(request.ecosystem)?.install_note();
        Ok(FromStore {
            request,
            resolution: crate::store::Resolution {
                version: bound.version.clone(),
                integrity: bound.integrity.clone(),
                lock: bound.lock.clone(),
                resolved_at: bound.resolved_at.clone(),
                registry: bound.registry.clone(),
            },
            entry,
            note,
        })
    }
}

/// The package `argv` names, from the store: the approved entry, or
/// resolved and installed (confined) as `packages` allows.
fn package_for(
    argv: &[OsString],
    profile: &str,
    ctx: &Context,
    packages: Packages,
) -> Result<Option<FromStore>, Error> {
    if packages == Packages::Show {
        return Ok(None);
    }
    // An ecosystem cordon has no installer for runs as written.
    let installer_of = |ecosystem| match crate::store::installer(ecosystem) {
        Ok(installer) => Ok(Some(installer)),
        Err(crate::store::StoreError::Unsupported(_)) => Ok(None),
        Err(e) => Err(e),
    };
    let (request, installer) = match crate::store::parse(argv) {
        Ok(None) => return Ok(None),
        Ok(Some(request)) => match installer_of(request.ecosystem)? {
            Some(installer) => (request, installer),
            None => return Ok(None),
        },
        Err(e) => match installer_of(e.ecosystem)? {
            Some(_) => return Err(crate::store::StoreError::from(e).into()),
            None => return Ok(None),
        },
    };
    let host = host_paths(ctx);
    if let Packages::Approved { install } = packages {
        let sha = consent::binding::argv_sha256(argv);
        let approvals = consent::Store::new(&host.state)
            .load()
            .map_err(ConsentError::from)?;
        let approved = approvals.iter().rev().find_map(|a| {
            (a.binding.argv_sha256 == sha && a.binding.profile == profile)
                .then_some(a.binding.package.as_ref())
                .flatten()
        });
        match approved {
            Some(bound) => match FromStore::approved(bound, request.clone(), &host) {
                // A start binds the tree itself (a change is a refusal
                // naming the file); approving an entry again needs it
                // to be as sealed, or it is installed afresh.
                Ok(found) if !install => return Ok(Some(found)),
                Ok(found) => {
                    let digests = consent::digest::Digests::open(&host.state);
                    let store = crate::store::Store::new(&host.store);
                    if store.verify(&found.entry, &digests).is_ok() {
                        return Ok(Some(found));
                    }
                }
                Err(e) if !install => return Err(e),
                Err(_) => {}
            },
            None if !install => return Ok(None),
            None => {}
        }
    }
    // The installer's sandbox is cordon's own, not the server's: it keeps
    // its namespaces (its network is the registry only, which needs them)
    // even when the server is started with --no-namespaces; where the
    // kernel has none, installing is refused and says so.
    let sandbox = crate::store::Confined::new(ctx, &host, installer.network()?);
    let resolution = installer.resolve(&request, &sandbox)?;
    let store = crate::store::Store::new(&host.store);
    let entry = store.ensure(&request, &resolution, installer.as_ref(), &sandbox)?;
    Ok(Some(FromStore {
        request,
        resolution,
        entry,
        note: installer.install_note(),
    }))
}

impl Launch {
    /// The files of code the interpreter opens by path, with the inode
    /// that was checked (see [`sandbox::pin`]).
    pub fn pins(&self) -> Vec<sandbox::pin::PinFile> {
        self.code
            .iter()
            .map(|(_, opened)| {
                let (dev, ino) = opened.key.inode();
                sandbox::pin::PinFile {
                    path: opened.path.clone(),
                    dev,
                    ino,
                }
            })
            .collect()
    }

    /// Right before the start: nothing was written to what was checked,
    /// and nothing was renamed over the files the interpreter opens by
    /// path. A rename after this check cannot reach an approved start:
    /// the files of code are pinned into the sandbox (see
    /// [`sandbox::pin`]).
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
pub fn resolve_launch(
    args: &LaunchArgs,
    ctx: &Context,
    packages: Packages,
) -> Result<Launch, Error> {
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
    if args.command.is_empty() {
        return Err(Error::Usage("no command given after --".into()));
    }
    let package = package_for(&args.command, &policy.name, ctx, packages)?;
    let exec_argv = match &package {
        Some(p) => crate::store::installer(p.request.ecosystem)?.command(
            &p.request,
            &p.resolution,
            &p.entry.path,
        )?,
        None => args.command.clone(),
    };
    let command = exec_argv
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
        &exec_argv,
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
    if let Some(p) = &package {
        profile::add_grant(
            &mut policy,
            &p.entry.path,
            Access::READ_EXEC,
            GrantSource::Store,
            ctx,
        )?;
    }
    profile::add_env_names(&mut policy, &args.env)?;
    let invocation = Invocation {
        argv: args.command.clone(),
        executable: resolved.executable.clone(),
        interpreter: resolved.interpreters.last().cloned(),
        cwd: ctx.cwd.clone(),
        package: package.as_ref().map(FromStore::lines).unwrap_or_default(),
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
        package,
        exec_argv,
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
    /// `--details`: the whole policy on the screen.
    details: bool,
    /// See [`Staged::text`].
    text: Option<String>,
}

/// Profile → grants → probe → prepare → rendering, shared by `run`,
/// `approve` and `vet` so all three show and bind the same thing.
/// Without `allocate` (a dry run) nothing is created for the sandbox.
fn stage(args: &LaunchArgs, allocate: bool, packages: Packages) -> Result<Staged, Error> {
    ensure_standard_descriptors();
    let ctx = Context::from_env()?;
    let launch = resolve_launch(args, &ctx, packages)?;
    let host = host_paths(&ctx);
    // The store must exist to be masked read-only inside a writable grant
    // that holds it: a server could plant a missing one (an entry and its
    // record) for a later approval to take. Creating it fails closed: the
    // sandbox then refuses such a grant.
    if crate::files::Dir::own(&ctx.own_dirs().data, &[crate::dirs::STORE]).is_ok() {
        crate::realpath::forget_missing();
    }
    let namespaces = launch.policy.mechanisms.namespaces != Requirement::Off;
    let probe = Probe::for_launch(&host.state, namespaces);
    let mut prepared = sandbox::prepare(
        &launch.policy,
        &probe,
        &host,
        &launch.resolved.executable,
        &launch.exec_argv,
        &ctx.cwd,
        allocate,
    )?;
    prepared.exec.fd = launch::resolve::exec_descriptor(&launch.resolved, &launch.executable.file)?;
    let private_tmp = prepared.private_tmp.as_ref().map(tempfile::TempDir::path);
    crate::mcp::audit::check_placement(&launch.policy, &host.state, private_tmp)
        .map_err(crate::mcp::McpError::from)?;
    Ok(Staged {
        ctx,
        launch,
        host,
        prepared,
        details: args.details,
        text: None,
    })
}

impl Staged {
    /// The consent screen, rendered once, on first use: `run --yes`
    /// renders it while init builds the sandbox.
    fn text(&mut self) -> &str {
        self.text.get_or_insert_with(|| {
            render_screen(&self.launch, &self.prepared, &self.ctx, self.details)
        })
    }
}

/// The one rendering of a launch and its prepared sandbox.
fn render_screen(
    launch: &Launch,
    prepared: &sandbox::Prepared,
    ctx: &Context,
    details: bool,
) -> String {
    let style = consent::Style {
        details,
        colour: colour_stderr(),
    };
    let screen = consent::render(
        &launch.policy,
        &launch.invocation,
        &prepared.report.entries,
        &ctx.home,
        style,
    );
    match &launch.picked {
        Some(choice) => picked_line(choice) + &screen,
        None => screen,
    }
}

/// Colour on stderr: only on a terminal, and not when `NO_COLOR` is set
/// to anything non-empty (no-color.org).
fn colour_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn run_server(args: RunArgs, verbosity: Verbosity) -> Result<ExitCode, Error> {
    let packages = if args.dry_run {
        Packages::Show
    } else {
        Packages::Approved {
            install: args.yes || has_terminal(),
        }
    };
    let mut staged = stage(&args.launch, !args.dry_run, packages)?;
    let how = Serve {
        dry_run: args.dry_run,
        yes: args.yes,
        verbosity,
        explain: args.explain.then_some(crate::explain::Output::Stderr),
        learning: false,
    };
    match serve(&mut staged, how)? {
        Served::DryRun => Ok(ExitCode::SUCCESS),
        Served::Exited { exit, .. } => Ok(ExitCode::from(exit.exit_code())),
    }
}

/// How [`serve`] runs a staged server.
struct Serve {
    dry_run: bool,
    yes: bool,
    verbosity: Verbosity,
    /// Record (and print) every refusal: `--explain`, `profile learn`.
    explain: Option<crate::explain::Output>,
    /// `profile learn`: a server the sandbox kept from starting (its
    /// `execve` refused) is a server that exited, with what was refused
    /// recorded.
    learning: bool,
}

/// How a served server ended.
enum Served {
    DryRun,
    Exited {
        exit: ServerExit,
        /// Every refusal recorded, with `Serve::explain`.
        explainer: Option<std::sync::Arc<crate::explain::Explainer>>,
    },
}

/// Consent → start → relay → exit, for `run` and `profile learn`.
fn serve(staged: &mut Staged, how: Serve) -> Result<Served, Error> {
    let Staged {
        ctx,
        launch,
        host,
        prepared,
        details,
        text,
    } = staged;
    let signals = session::signal_fd().map_err(|e| Error::Io {
        what: "cannot set up signal handling".into(),
        source: e.into(),
    })?;
    // The decision changes the sandbox only through an approval's pins
    // (none with --yes, which consults no approval, and none when the
    // interpreter opens no file of code by path): otherwise init builds
    // it while cordon decides. The server is forked only on `go`, after
    // every check; a refusal ends init first.
    let pins = launch.pins();
    let explaining = how.explain.is_some();
    let mut explain = how.explain;
    let mut early = (!how.dry_run && (how.yes || pins.is_empty()))
        .then(|| Begun::start(prepared, &launch.policy, host, explain.take()));
    let text: &str = text.get_or_insert_with(|| render_screen(launch, prepared, ctx, *details));
    let bind = || binding(launch, ctx);
    let request = approval::Request {
        request: &launch.request,
        dry_run: how.dry_run,
        yes: how.yes,
        text,
        binding: &bind,
        host,
        verbosity: how.verbosity,
        profile: &profile_label(launch),
    };
    let approved = match approval::decide(&request)? {
        (Outcome::Approved, approved) => approved,
        (Outcome::DryRun, _) => return Ok(Served::DryRun),
        (Outcome::Refused, _) => return Err(Error::Refused),
    };
    // An approval was checked against the content of the files the
    // interpreter opens by path: the sandbox shows it exactly those.
    if approved.is_some() && !pins.is_empty() {
        // Never built before the decision (see `early`); were it, it would
        // lack the pins: it is ended unused, before any server exists.
        early = None;
        if let Err(e) = prepared.pin(&launch.policy, &pins, &host.store) {
            approval::report_start_failure(&e.to_string());
            return Err(e.into());
        }
    }
    let begun = match early {
        Some(begun) => begun,
        None => Begun::start(prepared, &launch.policy, host, explain.take()),
    };
    // A recorded approval already said which server starts, in its one
    // line (or said nothing under --quiet).
    if approved.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "cordon: starting the server in its sandbox"
        );
    }
    // Pins live with the approval: the relay enforces the approved pins,
    // or records them on this first approved run (trust on first use).
    let pin_file = match (&launch.request.pin, &approved) {
        (Some(file), _) => Some(file.clone()),
        (None, Some(a)) => Some(approval::pin_file(host, a)?),
        (None, None) => None,
    };
    let files = crate::mcp::RunFiles {
        state_dir: host.state.clone(),
        pin_file,
        argv: launch.invocation.argv.clone(),
    };
    let filter = crate::mcp::Filter::new(&launch.policy, &files)?;
    if let Err(e) = launch.check_unchanged() {
        return Err(match approved {
            Some(_) => approval::refuse_start(e),
            None => e.into(),
        });
    }
    let Begun {
        starting,
        explainer,
        judge,
    } = begun;
    let spawned = starting.and_then(|s| s.go(prepared)).inspect_err(|e| {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            reason.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        approval::report_start_failure(&reason);
    });
    let child = match (spawned, &explainer, &judge) {
        (Ok(child), _, _) => child,
        (
            Err(
                e @ launch::LaunchError::Setup {
                    step: launch::status::Step::Exec,
                    ..
                },
            ),
            Some(explainer),
            Some(judge),
        ) => {
            let namespaces = prepared.clone_flags != 0;
            let policy = namespaces.then_some(&launch.policy);
            explain_exec_failure(explainer, judge, &prepared.exec.path, policy);
            explainer.finish();
            let e = Error::from(e);
            if !how.learning {
                return Err(e);
            }
            // Learning goes on from what the failed start was refused: the
            // failure is the server's exit, as a shell reports it.
            crate::error::report(&e);
            return Ok(Served::Exited {
                exit: ServerExit::Code(i32::from(e.exit_code())),
                explainer: Some(std::sync::Arc::clone(explainer)),
            });
        }
        (Err(e), _, _) => return Err(e.into()),
    };
    tracing::info!(init = child.pid.as_raw(), "sandbox started");
    let session::Ended { exit, stderr } =
        session::run(child, signals, launch.policy.shutdown, filter)?;
    tracing::info!(?exit, "server exited");
    if let Some(explainer) = &explainer {
        if explaining && exit == ServerExit::Signal(libc::SIGSYS) {
            explainer.note("the server was killed by SIGSYS: a call of the seccomp deny list under action \"kill\", which stays in the kernel; with action = \"errno\" in [seccomp] --explain names the call");
        }
        explainer.finish();
    }
    let explainer = explainer.filter(|_| explaining);
    match &explainer {
        Some(explainer) if exit != ServerExit::Code(0) => {
            let seen = explainer.refusals();
            if let Some(text) = explain_exit_summary(exit, &seen) {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        }
        Some(_) => {}
        None if exit != ServerExit::Code(0) => {
            let judge = explain_judge(prepared, &launch.policy, host);
            let refused = crate::explain::named::refusals(&stderr.named.paths, &judge);
            let text = exit_summary(exit, &refused, stderr.named.more);
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        None => {}
    }
    if let (None, Some(a)) = (&launch.request.pin, &approved) {
        approval::keep_first_pins(host, a)?;
    }
    if let ServerExit::Signal(sig) = exit {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_owned());
        let _ = writeln!(std::io::stderr(), "cordon: the server was killed by {name}");
    }
    Ok(Served::Exited { exit, explainer })
}

/// A sandbox being built for [`serve`], with what its notifier reports
/// to: the start's outcome is held until the decision, so a failure is
/// reported where the start is.
struct Begun {
    starting: Result<launch::Starting, launch::LaunchError>,
    explainer: Option<std::sync::Arc<crate::explain::Explainer>>,
    judge: Option<crate::explain::judge::Judge>,
}

impl Begun {
    /// The session's loop answers the deny list's notifications (no
    /// thread for them); --explain's notifier is a thread of its own.
    fn start(
        prepared: &mut sandbox::Prepared,
        policy: &Policy,
        host: &HostPaths,
        explain: Option<crate::explain::Output>,
    ) -> Begun {
        let watch = match explain {
            Some(output) => explain_watch(prepared, policy, host, output),
            None => denial_watch(prepared, policy),
        };
        let explainer = watch.as_ref().map(|w| std::sync::Arc::clone(&w.explainer));
        let judge = watch.as_ref().and_then(|w| w.judge.clone());
        Begun {
            starting: launch::start(prepared, watch, true),
            explainer,
            judge,
        }
    }
}

/// Paths shown in [`exit_summary`]; the rest are counted.
const SUMMARY_PATHS: usize = 5;

/// What `run` says when the server exited non-zero without `--explain`:
/// the paths its error messages name that the profile does not grant
/// (the first few, each with its change or why none can), then the
/// pointer to `--explain`. Worded for what it is: what the server's
/// errors say, not an observation of the kernel's refusals. `unjudged`
/// counts the distinct paths named after the first
/// [`crate::explain::named::MAX_PATHS`], which were not judged.
fn exit_summary(exit: ServerExit, refused: &[crate::explain::Refusal], unjudged: usize) -> String {
    let status = exit.exit_code();
    let unjudged = match unjudged {
        0 => String::new(),
        n => format!(
            "cordon:   the errors name {n} more paths after the first {}, not judged\n",
            crate::explain::named::MAX_PATHS
        ),
    };
    if refused.is_empty() && unjudged.is_empty() {
        return format!(
            "cordon: the server exited with status {status}; if the sandbox refused it something, `cordon run --explain …` reports each refusal and the profile change that allows it\n"
        );
    }
    let n = refused.len();
    let paths = if n == 1 { "path" } else { "paths" };
    let mut out = format!(
        "cordon: the server exited with status {status}; the server's errors name {n} {paths} this profile does not grant:\n"
    );
    for refusal in refused.iter().take(SUMMARY_PATHS) {
        out.push_str(&format!("cordon:   {}\n", refusal.line()));
    }
    if n > SUMMARY_PATHS {
        out.push_str(&format!("cordon:   and {} more\n", n - SUMMARY_PATHS));
    }
    out.push_str(&unjudged);
    out.push_str("cordon: `cordon run --explain …` observes each refusal as it happens, with the profile change that allows it\n");
    out
}

/// What `run --explain` says when the server exited non-zero after
/// refusals: how many distinct ones, by layer, pointing at their lines
/// (which may be far above, between the server's own output). Nothing
/// when none was seen: a mechanism that is missing was said at the start.
fn explain_exit_summary(exit: ServerExit, seen: &[crate::explain::Seen]) -> Option<String> {
    if seen.is_empty() {
        return None;
    }
    let mut layers: Vec<(crate::explain::Layer, usize)> = Vec::new();
    for s in seen {
        match layers.iter_mut().find(|(l, _)| *l == s.refusal.layer) {
            Some((_, n)) => *n += 1,
            None => layers.push((s.refusal.layer, 1)),
        }
    }
    layers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let by_layer: Vec<String> = layers
        .iter()
        .map(|(layer, n)| match layer {
            // Its long name has commas of its own.
            crate::explain::Layer::SeccompLog => format!("{n} seccomp (action log)"),
            layer => format!("{n} {}", layer.name()),
        })
        .collect();
    let n = seen.len();
    let refusals = if n == 1 { "refusal" } else { "refusals" };
    // A signal is named on the line after this one.
    let how = match exit {
        ServerExit::Code(code) => format!("exited with status {code}"),
        ServerExit::Signal(_) => "was killed".to_owned(),
    };
    Some(format!(
        "cordon: the server {how} after {n} {refusals}: {}; see the lines above\n",
        by_layer.join(", ")
    ))
}

/// Plain `run` and `vet`: under action `errno` the deny list's calls go
/// to cordon's notifier, which refuses each with the errno and prints one
/// line per distinct call (no path call is notified; that is
/// `--explain`'s cost). None when there is no seccomp layer, under the
/// actions `kill` and `log` (see `PreparedSeccomp::report_denials`), or
/// when the program cannot be relinked (then the kernel answers the
/// errno, unreported).
fn denial_watch(
    prepared: &mut sandbox::Prepared,
    policy: &Policy,
) -> Option<crate::explain::notify::Watch> {
    let seccomp = prepared.seccomp.as_mut()?;
    seccomp.report_denials().ok()?;
    if !seccomp.listener {
        return None;
    }
    Some(crate::explain::notify::Watch {
        seccomp: Some(seccomp.clone()),
        judge: None,
        setting: crate::explain::advice::Setting {
            network: policy.network.mode,
            namespaces: prepared.clone_flags != 0,
        },
        explainer: std::sync::Arc::new(crate::explain::Explainer::new(
            crate::explain::Output::Stderr,
        )),
    })
}

/// The server's `execve` failed under `--explain`: what the kernel opens
/// itself to run it (the file, its `#!` interpreter, its dynamic loader)
/// is no call the notifier sees, so each is judged here. With namespaces
/// (`view`: the policy the mount view was built from) the path as named
/// must also resolve there: `#!/bin/sh` needs `/bin` and the `sh` link,
/// which a grant of the shell's file does not show.
fn explain_exec_failure(
    explainer: &crate::explain::Explainer,
    judge: &crate::explain::judge::Judge,
    exec: &std::ffi::CStr,
    view: Option<&Policy>,
) {
    use crate::explain::{Access, Layer, Refusal, Suggestion};
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(exec.to_bytes()));
    for file in crate::learn::exec::chain(path) {
        let file = crate::explain::judge::absolute(Path::new("/"), &file);
        if let Some(refusal) = judge.judge(Access::Execute, &file) {
            explainer.report(refusal, None);
        } else if view.is_some_and(|p| !sandbox::mounts::links_in_view(p, &file)) {
            let shown = file.display().to_string();
            let refusal = Refusal {
                access: Access::Execute,
                target: shown.clone(),
                layer: Layer::MountView,
                reason: None,
                suggestion: Suggestion::Grant {
                    flag: format!("--ro {shown}"),
                    key: "exec".into(),
                    path: shown,
                },
            };
            explainer.report(refusal, None);
        }
    }
}

/// `--explain`: what the notifier and the egress reader need. Without a
/// seccomp layer there is no notifier (said on stderr): filesystem
/// refusals can only be reported by layer, the egress filter's still are.
fn explain_watch(
    prepared: &mut sandbox::Prepared,
    policy: &Policy,
    host: &HostPaths,
    output: crate::explain::Output,
) -> Option<crate::explain::notify::Watch> {
    use crate::explain::Explainer;
    let explainer = std::sync::Arc::new(Explainer::new(output));
    let seccomp = match prepared.seccomp.as_mut() {
        Some(seccomp) => match seccomp.notify() {
            Ok(()) => Some(seccomp.clone()),
            Err(e) => {
                explainer.note(&format!(
                    "{e}: refusals are reported by layer, without paths"
                ));
                None
            }
        },
        None => {
            explainer.note("seccomp is not enforced, so there is no notifier: filesystem refusals are reported by layer, without paths");
            None
        }
    };
    let namespaces = prepared.clone_flags != 0;
    let judge = explain_judge(prepared, policy, host);
    Some(crate::explain::notify::Watch {
        seccomp,
        judge: Some(judge),
        setting: crate::explain::advice::Setting {
            network: policy.network.mode,
            namespaces,
        },
        explainer,
    })
}

/// The judge of path accesses for this launch: the grants Landlock and
/// the mount view were built from, the private /tmp as the server sees
/// it, and the protected paths.
fn explain_judge(
    prepared: &sandbox::Prepared,
    policy: &Policy,
    host: &HostPaths,
) -> crate::explain::judge::Judge {
    let namespaces = prepared.clone_flags != 0;
    let tmp = prepared.private_tmp.as_ref().map(|t| {
        if namespaces {
            PathBuf::from("/tmp")
        } else {
            t.path().to_path_buf()
        }
    });
    crate::explain::judge::Judge::new(
        policy,
        host,
        namespaces,
        prepared.landlock.is_some(),
        tmp.as_deref(),
        prepared
            .mounts
            .as_ref()
            .map(sandbox::mounts::MountPlan::bound)
            .unwrap_or_default(),
    )
}

/// `cordon __complete`: names for the shell, one per line. Nothing here
/// may fail loudly in the middle of someone's typing: without a home,
/// only the built-in profiles are offered.
fn complete(what: crate::cli::Completed) -> Result<ExitCode, Error> {
    let names = match what {
        crate::cli::Completed::Profiles => match Context::from_env() {
            Ok(ctx) => profile::names_for_completion(&ctx),
            Err(_) => profile::builtin_names().map(str::to_owned).collect(),
        },
        crate::cli::Completed::Hosts => crate::hostconfig::HOST_NAMES
            .iter()
            .map(|h| (*h).to_owned())
            .collect(),
    };
    let mut out = std::io::stdout().lock();
    for name in names {
        if writeln!(out, "{name}").is_err() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
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
        package: launch.package.as_ref().map(FromStore::bound),
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
fn stage_with_consent(
    args: &LaunchArgs,
    yes: bool,
    question: &str,
    packages: Packages,
) -> Result<Staged, Error> {
    let mut staged = stage(args, true, packages)?;
    if packages == Packages::Update {
        let text = update_text(&staged) + staged.text();
        staged.text = Some(text);
    }
    let mode = if yes { Mode::Yes } else { Mode::Ask };
    if consent::obtain_with(staged.text(), mode, question)? != Outcome::Approved {
        return Err(Error::Refused);
    }
    Ok(staged)
}

/// `cordon approve`: the same rendering as `run`, asked on the terminal
/// (or `--yes`), then recorded.
fn approve(args: ApproveArgs) -> Result<ExitCode, Error> {
    let Staged {
        ctx, launch, host, ..
    } = stage_with_consent(
        &args.launch,
        args.yes,
        consent::APPROVE_QUESTION,
        if args.update {
            Packages::Update
        } else {
            Packages::Approved { install: true }
        },
    )?;
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
    } = stage_with_consent(
        &args.launch,
        args.yes,
        consent::QUESTION,
        Packages::Approved { install: true },
    )?;
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
    let watch = if args.explain {
        explain_watch(
            &mut prepared,
            &launch.policy,
            &host,
            crate::explain::Output::Stderr,
        )
    } else {
        denial_watch(&mut prepared, &launch.policy)
    };
    let explainer = watch.as_ref().map(|w| std::sync::Arc::clone(&w.explainer));
    let mut child = launch::spawn_watched(&prepared, watch)?;
    let report = crate::vet::interview(&mut child, &mut log);
    child.kill_sandbox();
    let _ = nix::sys::wait::waitpid(child.pid, None);
    child.finish_explain();
    if let Some(explainer) = explainer {
        explainer.finish();
    }
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
    let launch = resolve_launch(&run.launch, &ctx, Packages::Approved { install: false })
        .map_err(|e| format!("it cannot start: {e}"))?;
    let bound = binding(&launch, &ctx).map_err(|e| format!("it cannot be checked: {e}"))?;
    let approvals = consent::Store::new(&ctx.own_dirs().state)
        .load()
        .map_err(|e| format!("the approvals cannot be read: {e}"))?;
    Ok(consent::find_approval(&approvals, &bound).is_some())
}

/// Whether a person can be asked: cordon has a controlling terminal.
fn has_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// `approve --update`: what changed against the recorded approval of the
/// same command (version, files added, removed and changed), shown before
/// the consent screen.
fn update_text(staged: &Staged) -> String {
    let Some(new) = &staged.launch.package else {
        return "cordon: --update: the command names no package; approving it as it is\n".into();
    };
    let approvals = consent::Store::new(&staged.host.state)
        .load()
        .unwrap_or_default();
    let sha = consent::binding::argv_sha256(&staged.launch.invocation.argv);
    let old = approvals.iter().rev().find(|a| {
        a.binding.argv_sha256 == sha
            && a.binding.profile == staged.launch.policy.name
            && a.binding.package.is_some()
    });
    let Some((old, old_pkg)) = old.and_then(|a| Some((a, a.binding.package.as_ref()?))) else {
        return format!(
            "cordon: --update: no earlier approval of this command; approving {} {}\n",
            new.request.name, new.resolution.version
        );
    };
    let mut text = String::new();
    if old_pkg.key == new.entry.key {
        text.push_str(&format!(
            "cordon: --update: {} is still {} (unchanged since approval {})\n",
            new.request.name, new.resolution.version, old.id
        ));
        return text;
    }
    text.push_str(&format!(
        "cordon: --update: {} {} -> {} (approval {} keeps running {} until this is approved)\n",
        new.request.name, old_pkg.version, new.resolution.version, old.id, old_pkg.version
    ));
    let old_root = crate::store::Store::new(&staged.host.store)
        .entry_path(new.request.ecosystem, &old_pkg.key);
    let old_tree = old.binding.trees.iter().find(|t| t.root == old_root);
    let new_tree = staged
        .launch
        .policy
        .fs
        .iter()
        .any(|g| g.path == new.entry.path)
        .then(|| {
            consent::tree::tree_of(&new.entry.path, &[], &consent::digest::Digests::none()).ok()
        })
        .flatten();
    match (old_tree, new_tree) {
        (Some(o), Some(n)) => {
            let diff = crate::store::diff(o, &n);
            text.push_str(&diff.render());
        }
        _ => text
            .push_str("cordon: --update: the approved tree is not recorded; every file is new\n"),
    }
    text
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
        ProfileCommand::Learn(_) => Err(Error::Usage(
            "profile learn relays a server; it is not a report".into(),
        )),
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
    let file = user_profile_file(name, ctx)?;
    if file.exists() && !force {
        return Err(Error::Usage(format!(
            "{} exists; pass --force to replace it, or --stdout to print the draft",
            file.display()
        )));
    }
    write_user_profile(name, &draft.text, ctx)?;
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

/// `cordon profile learn`: `run` with every refusal recorded, then the
/// base profile with the grants that explain them, written where `-p
/// NAME` finds it, or printed on stdout once the relay has ended.
fn learn_profile(args: LearnArgs, verbosity: Verbosity) -> Result<ExitCode, Error> {
    profile::init::check_name(&args.name)?;
    let ctx = Context::from_env()?;
    let reference = match &args.launch.profile {
        Some(reference) => reference.clone(),
        None => pick_profile(&args.launch.command, &ctx)?.profile,
    };
    let base = profile::source(&reference, &ctx)?;
    let file = user_profile_file(&args.name, &ctx)?;
    // Learning again on top of a learned profile replaces it; any other
    // file of that name is the user's.
    let is_base = match &base.origin {
        crate::policy::Origin::Directory(p) | crate::policy::Origin::Path(p) => {
            std::fs::canonicalize(p).ok() == std::fs::canonicalize(&file).ok()
        }
        crate::policy::Origin::BuiltIn => false,
    };
    if !args.stdout && !args.force && !is_base && file.exists() {
        return Err(Error::Usage(format!(
            "{} exists and is not the base profile; learn on top of it with -p {}, replace it with --force, or print with --stdout",
            file.display(),
            args.name
        )));
    }
    let mut staged = stage(
        &args.launch,
        true,
        Packages::Approved {
            install: args.yes || has_terminal(),
        },
    )?;
    if staged.prepared.seccomp.is_none() {
        return Err(Error::Usage(
            "profile learn records refusals through the seccomp layer, which is not enforced here (see `cordon doctor`)".into(),
        ));
    }
    let (exit, explainer) = if args.interview {
        let explainer = interview_confined(&mut staged, args.yes)?;
        (ExitCode::SUCCESS, Some(explainer))
    } else {
        let how = Serve {
            dry_run: false,
            yes: args.yes,
            verbosity,
            explain: Some(crate::explain::Output::Stderr),
            learning: true,
        };
        match serve(&mut staged, how)? {
            Served::Exited { exit, explainer } => (ExitCode::from(exit.exit_code()), explainer),
            Served::DryRun => return Ok(ExitCode::SUCCESS),
        }
    };
    let seen = explainer.map(|e| e.refusals()).unwrap_or_default();
    let setting = crate::learn::Setting {
        base: &staged.launch.policy,
        host: &staged.host,
        tmp: &staged.ctx.tmp,
    };
    let input = crate::learn::Input {
        name: &args.name,
        base: &base,
        command: &args.launch.command,
        seen: &seen,
    };
    let learned = crate::learn::learn(&input, &setting, &file, &staged.ctx)?;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let summary = format!(
        "{}, {} not granted",
        plural(learned.grants, "grant", "grants"),
        plural(learned.notes.len(), "refusal", "refusals")
    );
    if args.stdout {
        std::io::stdout()
            .lock()
            .write_all(learned.text.as_bytes())
            .map_err(|source| Error::Io {
                what: "cannot write to stdout".into(),
                source,
            })?;
        let _ = writeln!(
            std::io::stderr(),
            "cordon: learned profile {} ({summary}) printed on stdout",
            args.name
        );
    } else {
        let file = write_user_profile(&args.name, &learned.text, &staged.ctx)?;
        let _ = writeln!(
            std::io::stderr(),
            "cordon: learned profile {} ({summary}): wrote {}; review it, then learn again with -p {} to see what is still refused",
            args.name,
            file.display(),
            args.name
        );
    }
    Ok(exit)
}

/// `profile learn --interview`: consent as for `vet` (the terminal, or
/// `--yes`), the server started with every refusal recorded, `vet`'s
/// interview (initialize, the lists), and the sandbox ended.
fn interview_confined(
    staged: &mut Staged,
    yes: bool,
) -> Result<std::sync::Arc<crate::explain::Explainer>, Error> {
    let mode = if yes { Mode::Yes } else { Mode::Ask };
    if consent::obtain_with(staged.text(), mode, consent::QUESTION)? != Outcome::Approved {
        return Err(Error::Refused);
    }
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Io { what, source }
    };
    let mut log =
        tempfile::tempfile().map_err(io("cannot create a file for the server's stderr"))?;
    staged.prepared.stderr = Some(
        log.try_clone()
            .map_err(io("cannot duplicate a descriptor"))?
            .into(),
    );
    staged.launch.check_unchanged()?;
    let watch = explain_watch(
        &mut staged.prepared,
        &staged.launch.policy,
        &staged.host,
        crate::explain::Output::Stderr,
    )
    .ok_or_else(|| Error::Usage("the seccomp layer has no notifier here".into()))?;
    let explainer = std::sync::Arc::clone(&watch.explainer);
    let mut child = launch::spawn_watched(&staged.prepared, Some(watch))?;
    let report = crate::vet::interview(&mut child, &mut log);
    child.kill_sandbox();
    let _ = nix::sys::wait::waitpid(child.pid, None);
    child.finish_stderr();
    explainer.finish();
    let _ = writeln!(
        std::io::stderr(),
        "cordon: interview: {} tools, {} prompts, {} resources{}",
        report.tools.len(),
        report.prompts.len(),
        report.resources.len(),
        report
            .errors
            .first()
            .map(|e| format!("; {}", consent::escape_text(e)))
            .unwrap_or_default()
    );
    Ok(explainer)
}

/// Where `-p NAME` finds a profile of the user's: NAME.toml in the first
/// profile directory.
fn user_profile_file(name: &str, ctx: &Context) -> Result<std::path::PathBuf, Error> {
    let dir = ctx
        .dirs
        .first()
        .ok_or_else(|| Error::Usage("no profile directory".into()))?;
    Ok(dir.join(format!("{name}.toml")))
}

/// Writes the user's profile NAME.toml through the checked writer (the
/// directory is cordon's own, created 0700 where missing, the file
/// replaced atomically).
fn write_user_profile(name: &str, text: &str, ctx: &Context) -> Result<std::path::PathBuf, Error> {
    let file = user_profile_file(name, ctx)?;
    crate::files::Dir::own(&ctx.own_dirs().config, &["profiles"])
        .and_then(|d| d.replace(OsStr::new(&format!("{name}.toml")), text.as_bytes(), 0o644))
        .map_err(|e| Error::Io {
            what: format!("cannot write {}", file.display()),
            source: std::io::Error::other(e),
        })?;
    Ok(file)
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
