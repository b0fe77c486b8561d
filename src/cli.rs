//! The command-line surface (clap derive types only, no logic).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const ABOUT: &str =
    "Run a local MCP server in a sandbox, after showing the exact command and getting consent.";

const LONG_ABOUT: &str = "\
Run a local MCP server in a sandbox, after showing the exact command and getting consent.

Put cordon in front of a server's command in your MCP host's configuration
(Claude Desktop, VS Code, Cursor, ...). cordon prints the exact command and the
sandbox it will run in, asks for consent, starts the server under a profile
(Landlock, seccomp, namespaces), and relays the JSON-RPC stream between the
host and the server.";

const RUN_EXAMPLES: &str = "\
Examples:
  Run the filesystem server with write access to ~/notes only:
    cordon run --profile filesystem --rw ~/notes -- npx -y @modelcontextprotocol/server-filesystem ~/notes

  See what would run, and in which sandbox, without running it:
    cordon run --dry-run -- python3 -m mcp_server_time

  Pass one environment variable (by name, never by value):
    cordon run -p github --env GITHUB_TOKEN -- github-mcp-server stdio

When the sandbox refuses the server something: each system call of the
seccomp deny list, and each connection the egress filter refuses, is one
line on stderr with the profile change that allows it. Filesystem refusals
happen in the kernel, which does not tell cordon; so when the server exits
non-zero, cordon lists the paths its own error messages name (those of
Node.js, Python, Go and C programs, from all of its stderr) that the profile
does not grant, each with the grant that allows it. --explain observes every
refusal as it happens, paths included, and at a non-zero exit counts them by
layer.

Exit status: the server's own status; 128+N when it died of signal N;
125 cordon failed (profile, sandbox setup, bad usage); 126 the command was
found but cannot be executed; 127 the command was not found; 124 consent was
refused or could not be asked.";

const PROFILE_EXAMPLES: &str = "\
Examples:
  cordon profile list
  cordon profile show filesystem
  cordon profile check ./my-server.toml
  cordon profile init my-server -- npx -y @example/mcp-server@1.2.3
  cordon profile learn my-server -p default -- python3 ~/srv/server.py";

#[derive(Debug, Parser)]
#[command(name = "cordon", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); CORDON_LOG
    /// takes a tracing filter and overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print nothing but errors on stderr (an approved start from a host
    /// is otherwise logged in one line).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

// Each subcommand's arguments are defined when it is parsed (or its help
// or a completion built), not at every start: `run` does not pay for
// defining the others.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Show the exact command and its sandbox, ask for consent, run the server
    /// in the sandbox and relay its stdio.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),

    /// List, show and check profiles.
    #[command(subcommand, after_help = PROFILE_EXAMPLES)]
    Profile(ProfileCommand),

    /// Report what this kernel lets cordon enforce, one line per mechanism.
    Doctor {
        /// Print the status as JSON on stdout.
        #[arg(long)]
        json: bool,
    },

    /// Show the exact command and its sandbox, ask, and record the approval
    /// so that a host may start exactly this later without a terminal.
    #[command(after_help = APPROVE_EXAMPLES)]
    Approve(ApproveArgs),

    /// List or revoke recorded approvals.
    #[command(subcommand)]
    Consent(ConsentCommand),

    /// Start a new server in its sandbox, ask it what it offers (tools,
    /// prompts, resources), report everything suspicious, and offer to
    /// approve it with what it showed pinned.
    #[command(after_help = VET_EXAMPLES)]
    Vet(VetArgs),

    /// Put cordon in front of every stdio server of an MCP host's
    /// configuration, or take it away again.
    #[command(subcommand, after_help = CONFIG_EXAMPLES)]
    Config(ConfigCommand),

    /// Check the MCP audit log written with `[mcp] audit = true`.
    #[command(subcommand)]
    Audit(AuditCommand),

    /// The network filter's forwarder, which cordon starts itself for
    /// network mode "filtered".
    #[command(name = "__egress", hide = true)]
    Egress {
        /// The inherited socket carrying the configuration and listeners.
        #[arg(long)]
        fd: i32,
        /// cordon's pid: the forwarder does not outlive it.
        #[arg(long)]
        parent: u32,
    },

    /// Print the names a shell completes for an option, one per line (the
    /// completion scripts call it).
    #[command(name = "__complete", hide = true)]
    Complete {
        #[arg(value_enum)]
        what: Completed,
    },

    /// Write the manual pages or shell completions into DIR (for
    /// packagers).
    #[command(name = "__generate", hide = true)]
    Generate {
        #[arg(value_enum)]
        what: Generated,
        dir: PathBuf,
    },
}

const CONFIG_EXAMPLES: &str = "\
Examples:
  See what wrapping every host configuration found would change:
    cordon config wrap --dry-run

  Wrap Claude Desktop's servers (a backup is kept next to the file):
    cordon config wrap --host claude-desktop

  Restore the original commands:
    cordon config unwrap --host claude-desktop

  Exit non-zero when a local server does not run through cordon or has no
  approval (for a login hook or a periodic job):
    cordon config check

Hosts: claude-desktop (~/.config/Claude/claude_desktop_config.json),
vscode (~/.config/Code/User/mcp.json), cursor (~/.cursor/mcp.json),
claude-code (~/.claude.json, top level and per project), or a file's path.";

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Make each stdio server of a host's configuration run through cordon.
    ///
    /// Each entry's command becomes `cordon run --profile P [--rw DIR]...
    /// [--ro DIR]... [--env NAME]... -- COMMAND ARGS...`, with the profile
    /// that matches the server's package (else `default`), and the grants
    /// its `[server]` table asks of the command line; stderr says which
    /// profile each server got, and which entries were not wrapped and
    /// why. Only the `command` and `args` of wrapped entries change; every
    /// other byte (comments, trailing commas, layout) stays. The command
    /// written is the `cordon` on PATH (else /usr/bin/cordon). Remote
    /// servers (`url`, type http/sse) are left alone. A backup of the file
    /// is kept next to it. Each wrapped entry starts once approved: `cordon
    /// approve` with the entry's arguments.
    Wrap(HostArgs),
    /// Restore the original command of each server that runs through
    /// cordon: the exact original text of the entries wrap wrote, else
    /// rebuilt from the command after `--`.
    Unwrap(HostArgs),
    /// Check that every local (stdio) server of a host's configuration
    /// runs through cordon and has a recorded approval.
    ///
    /// One line per server on stdout. Exit status 0 when all do, 1 when
    /// one does not run through cordon, has no approval matching its
    /// exact command (its executable, profile or arguments changed since
    /// `cordon approve`), or starts with `--yes`. For a login hook or a
    /// periodic job: `cordon config check || notify-send "MCP: run cordon
    /// config check"`.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The host whose configuration to check: claude-desktop, vscode,
    /// cursor, claude-code, or a path to a configuration file. Without it,
    /// every one of these hosts whose file exists.
    #[arg(long, value_name = "HOST|PATH")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// The host whose configuration to rewrite: claude-desktop, vscode,
    /// cursor, claude-code, or a path to a configuration file. Without it,
    /// every one of these hosts whose file exists.
    #[arg(long, value_name = "HOST|PATH")]
    pub host: Option<String>,

    /// Print the changes as a diff on stdout; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: print the changes as JSON instead (per file: file,
    /// changed, diff, and entries with their original and new text).
    #[arg(long, requires = "dry_run")]
    pub json: bool,
}

/// What `cordon __complete` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Completed {
    /// Every profile name: the user's, the system's, the shipped ones.
    Profiles,
    /// The host names `--host` takes.
    Hosts,
}

/// What `cordon __generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generated {
    /// cordon.1 and one page per subcommand.
    Man,
    /// Completions for bash, zsh and fish.
    Completions,
}

const VET_EXAMPLES: &str = "\
Examples:
  cordon vet -p everything -- npx -y @modelcontextprotocol/server-everything
  cordon vet --json -p default -- ./my-server > report.json

The report goes to stdout. Starting the server runs it (in its sandbox), so
vet asks first, like run; --yes starts it, and approves it after the report,
without asking. vet introduces itself to the server as an ordinary host
would. Each flag has a code and a severity (low, medium, high; `code` and
`severity` in --json). Exit status: 0; 1 when any flag is of severity high
(whether or not the server was approved); 124 when starting it was refused;
125 when cordon itself failed.";

#[derive(Debug, Args)]
pub struct VetArgs {
    #[command(flatten)]
    pub launch: LaunchArgs,

    /// Start the server and approve it without asking (for scripted
    /// installs); everything is still printed.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    /// Report every access the sandbox refuses on stderr, as `run
    /// --explain` does.
    #[arg(long)]
    pub explain: bool,
}

const APPROVE_EXAMPLES: &str = "\
Examples:
  Approve the filesystem server once, then put the same `cordon run …` in the host config:
    cordon approve -p filesystem --rw ~/notes -- npx -y @modelcontextprotocol/server-filesystem ~/notes

An approval is bound to the exact command, every option of cordon's (--pin
included), the content of the executable (the file cordon hashes is the file
it executes), of the interpreters and of the script, preloaded and start-up
files the interpreter's own command line names (python, node, sh, env -S),
or of the package it runs, the effective policy after every grant, the names
of passed variables and the working directory. Any change needs a new
approval; a refusal says what changed and prints the command that approves
it again.";

#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub launch: LaunchArgs,

    /// Approve without asking (for scripted installs); everything is still
    /// printed.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// For a command that names a package (`npx -y PKG`, `uvx PKG`):
    /// resolve the package again, install what the registry serves now,
    /// show what changed against the approved one (version, files added,
    /// removed and changed) and approve that. Without it, an approved
    /// package stays at its approved version; until `--update` is
    /// approved, hosts keep starting that one.
    #[arg(long)]
    pub update: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// List recorded approvals: id, time, profile, command, and on an
    /// indented line the grants given on its command line (`--ro`, `--rw`,
    /// `--env`, `--pin`), the environment names passed and the working
    /// directory when the profile grants it. Says so on stderr when there
    /// are none.
    List {
        /// Print the approvals as a JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one approval by id, or all of them.
    Revoke {
        /// The approval's id (see `cordon consent list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Revoke every approval.
        #[arg(long)]
        all: bool,
    },
}

// The grants and the command, shared by every subcommand that starts a
// server. (No doc comment: it would become the about of those
// subcommands, whose arguments are defined late, after their own.)
#[derive(Debug, Args, Clone)]
pub struct LaunchArgs {
    /// Profile to apply: a name (see `cordon profile list`) or a path to a
    /// TOML file. Without it, the profile whose package the command names
    /// (the rule of `cordon config wrap`), else `default`; stderr says
    /// which, before the consent text.
    #[arg(short, long, value_name = "NAME|PATH")]
    pub profile: Option<String>,

    /// Grant read and execute access below PATH (repeatable).
    #[arg(long, value_name = "PATH")]
    pub ro: Vec<PathBuf>,

    /// Grant read and write access below PATH, no execute unless the profile
    /// grants it (repeatable).
    #[arg(long, value_name = "PATH")]
    pub rw: Vec<PathBuf>,

    /// Pass the environment variable NAME to the server (repeatable). Only
    /// the name is given; the value comes from cordon's environment.
    #[arg(long, value_name = "NAME")]
    pub env: Vec<String>,

    /// Run without Linux namespaces: Landlock, seccomp and process hygiene
    /// only (for systems where unprivileged user namespaces are blocked).
    #[arg(long)]
    pub no_namespaces: bool,

    /// Keep this server's tool pins in FILE instead of with its approval
    /// (an approval is bound to this option and its file's path).
    #[arg(long, value_name = "FILE")]
    pub pin: Option<PathBuf>,

    /// Show the whole sandbox before asking: every path granted (missing
    /// optional ones too) and each enforcement detail. By default only
    /// what carries risk is shown, to fit one terminal screen.
    #[arg(long)]
    pub details: bool,

    /// The server's command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub launch: LaunchArgs,

    /// Give consent on the command line instead of at a prompt; the command
    /// and its sandbox are still printed.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Print the command and its sandbox, run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Report every access the sandbox refuses on stderr, one line each:
    /// what, the path or destination, which layer refused it, and the
    /// profile change that would allow it (or why none can); at a non-zero
    /// exit, how many by layer. Costs speed: the server's path system calls
    /// pass through cordon.
    #[arg(long)]
    pub explain: bool,
}

/// `cordon audit …`: the MCP audit log.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check an audit log's hash chain and compare it with the head
    /// cordon recorded: print `ok: N entries` and exit 0, or say what is
    /// wrong and exit 1 (a broken line), 2 (truncated), 3 (rewritten),
    /// 4 (missing) or 5 (no head recorded for this path).
    Verify {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List every profile cordon can find: name, origin, description.
    List,
    /// Show the effective, resolved policy of a profile.
    Show {
        /// A profile name or a path to a TOML file.
        #[arg(value_name = "NAME|PATH")]
        profile: String,
        /// Print the policy as JSON (name, origin, fs, network, env,
        /// limits, mechanisms).
        #[arg(long)]
        json: bool,
    },
    /// Validate profile files; exit 0 when all are valid, 1 otherwise.
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run a server confined by a base profile, relaying like `run`, and
    /// write a profile that allows what the sandbox refused it.
    ///
    /// Nothing is granted while it runs: the server sees every refusal,
    /// and cordon records each one. When the server has exited, the base
    /// profile (`--profile`, else the one `run` would pick) is written to
    /// $XDG_CONFIG_HOME/cordon/profiles/NAME.toml with the narrowest
    /// grants that explain the refusals, each with a comment naming what
    /// asked for it: a refused file alone, its directory only when
    /// several of its files were refused, never the home directory as a
    /// whole; a refused destination as an `allow` entry of network mode
    /// "filtered". Protected paths and credential stores are never
    /// granted, and what no profile change allows (a mandatory refusal)
    /// is never granted: both are listed in a comment. Run it again with
    /// `-p NAME` to see what is still refused. Consent works as for `run`
    /// (a recorded approval of the same `cordon run` arguments, the
    /// prompt, or --yes).
    #[command(after_help = LEARN_EXAMPLES)]
    Learn(LearnArgs),
    /// Draft a profile for a new server from its launch command, with a
    /// comment on every grant and on what to tighten. Written to
    /// $XDG_CONFIG_HOME/cordon/profiles/NAME.toml, where `-p NAME` finds it.
    Init {
        /// The new profile's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// Print the profile on stdout instead of writing the file.
        #[arg(long)]
        stdout: bool,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// The server's command and its arguments, after `--`, as the host
        /// configuration starts it.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
}

const LEARN_EXAMPLES: &str = "\
Examples:
  Learn from one session of a host: approve the start once (a host has no
  terminal to ask on; the approval of the same `cordon run` arguments
  serves), put the learn command in the host's configuration in place of
  the server's command, use the server, then look at the file:
    cordon approve -p default -- python3 ~/srv/server.py
    cordon profile learn my-server -p default -- python3 ~/srv/server.py

  Learn again on top of what was learned, to see what is still refused:
    cordon profile learn my-server -p my-server -- python3 ~/srv/server.py

  Learn what the server needs to start and list its tools, without a host:
    cordon profile learn my-server --interview -- python3 ~/srv/server.py

stdout carries the protocol while the server runs: with --stdout the
profile is printed after the server has exited and the relay has ended,
so use --stdout from a terminal or a script, never in a host's
configuration (the host would read the profile as a protocol message).
Exit status: the server's, as for `run` (0 with --interview); 125 when
cordon failed, the learned profile included.";

/// `cordon profile learn`.
#[derive(Debug, Args)]
pub struct LearnArgs {
    /// The learned profile's name (the file NAME.toml).
    #[arg(value_name = "NAME")]
    pub name: String,

    #[command(flatten)]
    pub launch: LaunchArgs,

    /// Give consent on the command line instead of at a prompt; the
    /// command and its sandbox are still printed.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Print the learned profile on stdout once the server has exited,
    /// instead of writing the file.
    #[arg(long)]
    pub stdout: bool,

    /// Relay nothing: cordon introduces itself to the server as a host
    /// would, asks what it offers (as `vet` does), ends it, and learns
    /// from what that start-up was refused.
    #[arg(long)]
    pub interview: bool,

    /// Replace NAME.toml when it exists and is not the base profile (a
    /// learned profile learning again replaces itself without it).
    #[arg(long)]
    pub force: bool,
}
