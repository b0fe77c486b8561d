//! The profile file as written (schema 1): serde structs mirroring the TOML
//! one to one. Their doc comments are the reference for every field, kept in
//! step with `profiles/README.md` (a test checks that every field is there).
//!
//! Every table denies unknown fields, nothing is flattened or untagged (both
//! would lose the spans), and every value that gets a semantic check is a
//! [`Spanned`], so `validate` can point at it. Nothing here has a meaning
//! yet: defaults and checks live in `validate`, which turns this into a
//! [`crate::policy::Policy`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

/// A profile: `NAME.toml` in a profile directory, built in, or given by path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a profile table")]
pub struct RawProfile {
    /// Version of this schema. Required; must be `1`.
    pub schema: Spanned<i64>,
    /// One line saying what the profile is for. Required, non-empty.
    pub description: Spanned<String>,
    #[serde(default)]
    pub filesystem: RawFilesystem,
    #[serde(default)]
    pub network: RawNetwork,
    #[serde(default)]
    pub environment: RawEnvironment,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub seccomp: RawSeccomp,
    #[serde(default)]
    pub sandbox: RawSandbox,
    #[serde(default)]
    pub shutdown: RawShutdown,
    #[serde(default)]
    pub mcp: RawMcp,
    #[serde(default)]
    pub server: RawServer,
}

/// `[filesystem]`: what the server may see. Nothing is visible unless
/// granted. Paths are absolute, or start with `~`, `~/`, `{home}`, `{cwd}`
/// or `{tmp}`; a trailing `?` makes a path optional (a missing optional path
/// is kept and marked missing, a missing required one is an error); `..` is
/// refused; symlinks are resolved.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawFilesystem {
    /// Named shared groups of grants (`groups/NAME.toml`), e.g. `["runtime"]`.
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// Read files and list directories below these paths.
    #[serde(default)]
    pub read: Vec<Spanned<String>>,
    /// Read and execute below these paths.
    #[serde(default)]
    pub exec: Vec<Spanned<String>>,
    /// Read and write (create, remove, rename, truncate) below these paths;
    /// no execute.
    #[serde(default)]
    pub write: Vec<Spanned<String>>,
    /// A private, empty, writable `/tmp` for the server. Default `true`.
    #[serde(default)]
    pub private_tmp: Option<Spanned<bool>>,
    /// Lift a mandatory protection by naming its path (e.g. `"~/.ssh"`).
    #[serde(default)]
    pub unprotect: Vec<Spanned<String>>,
}

/// `[network]`: what the server may reach.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawNetwork {
    /// `"none"` (default), `"loopback"`, `"filtered"` or `"host"`.
    #[serde(default)]
    pub mode: Option<Spanned<RawNetworkMode>>,
    /// Mode `"filtered"` only: the destinations cordon connects to for the
    /// server, as `"HOST:PORT"`: a host name, `"*.domain"`, `"*"`, an IPv4
    /// address or network (`"203.0.113.7"`, `"198.51.100.0/24"`), or an
    /// IPv6 one in brackets (`"[2001:db8::/32]"`). Loopback, private,
    /// link-local and metadata addresses are refused unless named by
    /// address.
    #[serde(default)]
    pub allow: Option<Spanned<Vec<Spanned<String>>>>,
    /// TCP ports the server may connect to: numbers or `"first-last"`
    /// ranges. Absent: any port the mode allows; `[]`: none. In mode
    /// `"filtered"` the allowlist's ports are always included; listed
    /// ports add services on the sandbox's own loopback.
    #[serde(default)]
    pub connect: Option<Spanned<Vec<Spanned<RawPort>>>>,
    /// TCP ports the server may bind, like `connect`.
    #[serde(default)]
    pub bind: Option<Spanned<Vec<Spanned<RawPort>>>>,
}

/// The values of `network.mode`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawNetworkMode {
    None,
    Loopback,
    Filtered,
    Host,
}

/// One entry of `connect` or `bind`: `443` or `"8000-8100"`.
#[derive(Debug, Clone)]
pub enum RawPort {
    Number(i64),
    Text(String),
}

/// `[environment]`: the server's environment is rebuilt from nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawEnvironment {
    /// Names passed through from cordon's own environment when set.
    #[serde(default)]
    pub pass: Vec<Spanned<String>>,
    /// Variables set to fixed values; `~`, `{home}`, `{cwd}` and `{tmp}` are
    /// expanded at the start of a value.
    #[serde(default)]
    pub set: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// `[limits]`: resource limits (soft = hard).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawLimits {
    /// Core dump size in bytes. Default `0`.
    #[serde(default)]
    pub core: Option<Spanned<RawLimit>>,
    /// Open file descriptors. Default `4096`.
    #[serde(default)]
    pub nofile: Option<Spanned<RawLimit>>,
    /// Processes and threads. Default `4096`. RLIMIT_NPROC, which counts
    /// every process of the user; the kernel exempts root from it, so for
    /// root a pids cgroup holds the limit (required when set here).
    #[serde(default)]
    pub nproc: Option<Spanned<RawLimit>>,
    /// Address space in bytes, or `"unlimited"` (default).
    #[serde(default)]
    pub address_space: Option<Spanned<RawLimit>>,
    /// Size of one written file in bytes, or `"unlimited"` (default).
    #[serde(default)]
    pub fsize: Option<Spanned<RawLimit>>,
    /// CPU seconds, or `"unlimited"` (default).
    #[serde(default)]
    pub cpu: Option<Spanned<RawLimit>>,
    /// Memory in bytes, or `"unlimited"`. Default `"4G"`. Bounds the whole
    /// sandbox through a memory cgroup where cordon can make one (root
    /// with cgroup v1, or a writable cgroup v2 subtree with the memory
    /// controller delegated); the server is then OOM-killed past it.
    /// Otherwise each process gets RLIMIT_DATA, and an allocation past it
    /// fails with ENOMEM (a bound per process, not on their sum).
    #[serde(default)]
    pub memory: Option<Spanned<RawLimit>>,
    /// Size of the private `/tmp` in bytes, or `"unlimited"`. Default
    /// `"1G"`. With namespaces `/tmp` is a tmpfs of this size (its pages
    /// count as memory too): a write past it fails with ENOSPC. Without
    /// namespaces `/tmp` is a directory on the host's disk whose total size
    /// cannot be bounded: a `tmp` set here then refuses the start unless
    /// `enforce = "best-effort"`, and the default is reported as not
    /// enforced.
    #[serde(default)]
    pub tmp: Option<Spanned<RawLimit>>,
    /// `"required"` (default) or `"best-effort"`: whether a limit set in
    /// this table that cannot be applied (`nproc` as root without a pids
    /// cgroup, `tmp` without namespaces, a value the kernel refuses)
    /// refuses the start, or is printed as not enforced. Limits left at
    /// their defaults are applied where the mechanism exists and otherwise
    /// printed as not enforced.
    #[serde(default)]
    pub enforce: Option<Spanned<RawRequirement>>,
}

/// One limit: `4096`, `"64M"` (K, M, G, T are powers of 1024) or
/// `"unlimited"`.
#[derive(Debug, Clone)]
pub enum RawLimit {
    Number(i64),
    Text(String),
}

/// `[seccomp]`: the system call filter on top of cordon's deny list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawSeccomp {
    /// What a denied call does: `"errno"` (default, fails with EPERM),
    /// `"kill"` or `"log"`.
    #[serde(default)]
    pub action: Option<RawSyscallAction>,
    /// System call names lifted from cordon's deny list. Among them:
    /// `memfd_create` lets a memfd be created without MFD_NOEXEC_SEAL, so
    /// code can run from it (Node.js and Python do not create memfds; a
    /// server driving a browser whose shared memory uses them, such as
    /// Firefox under Playwright, or a packed program that runs itself from
    /// memory, may need it);
    /// `setxattr` and its siblings (otherwise EOPNOTSUPP); without
    /// namespaces, `fchmodat`, `fchown`, `utimensat`, the System V IPC
    /// calls and the others refused there. The set-ID mode rule and
    /// `openat2`'s ENOSYS cannot be lifted.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// System call names added to the deny list.
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
}

/// The values of `seccomp.action`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawSyscallAction {
    Errno,
    Kill,
    Log,
}

/// `[sandbox]`: how strictly each layer must be enforced.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawSandbox {
    /// `"required"` (default), `"best-effort"` or `"off"`.
    #[serde(default)]
    pub namespaces: Option<RawRequirement>,
    /// `"required"` (default) or `"best-effort"`.
    #[serde(default)]
    pub landlock: Option<Spanned<RawRequirement>>,
    /// `"required"` (default) or `"best-effort"`.
    #[serde(default)]
    pub seccomp: Option<Spanned<RawRequirement>>,
}

/// The values of the `[sandbox]` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawRequirement {
    Required,
    BestEffort,
    Off,
}

/// `[shutdown]`: what happens after the host closes cordon's stdin.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawShutdown {
    /// How long the server may take to exit once its stdin is closed,
    /// e.g. `"500ms"`, `"2s"`, `"1m"`. Default `"2s"`.
    #[serde(default)]
    pub close_grace: Option<Spanned<String>>,
    /// How long after SIGTERM before SIGKILL. Default `"2s"`.
    #[serde(default)]
    pub term_grace: Option<Spanned<String>>,
}

/// `[server]`: what the server needs from its command line and its
/// environment, for `cordon config wrap`. It grants nothing to `cordon
/// run`: wrap turns it into `--rw`/`--ro` arguments of the entry it
/// writes, which the approval then shows and binds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawServer {
    /// How the server may be started: any of `"npx"` (`npx PACKAGE`),
    /// `"uvx"` (`uvx PACKAGE`) and `"installed"` (anything else: an
    /// executable, an interpreter and a script or module). Empty (the
    /// default): any. Wrap reports an entry started another way and
    /// leaves it as it is.
    #[serde(default)]
    pub launchers: Vec<RawLauncher>,
    /// Options of the server's command line whose value is a directory
    /// it works in (`"--repository"`; both `--opt PATH` and `--opt=PATH`):
    /// wrap grants it read-write, and refuses the entry when the option is
    /// missing or its value is not an existing absolute directory.
    #[serde(default)]
    pub rw_options: Vec<Spanned<String>>,
    /// Whether the server's own arguments (after its package name) are
    /// the directories it serves, as the filesystem server's are: wrap
    /// grants each one that is an existing absolute (or `~/`) directory
    /// read-write, and reports the others. Default false.
    #[serde(default)]
    pub rw_arguments: bool,
    /// Options of the server's command line whose value is a file it
    /// writes (`"--db-path"`): wrap grants the file's directory read-write
    /// (the server may write next to it: a journal, a temporary file),
    /// and refuses the entry when the option is missing or the directory
    /// does not exist.
    #[serde(default)]
    pub rw_file_options: Vec<Spanned<String>>,
    /// Variables of the entry's `env` whose value is a file the server
    /// writes (`"MEMORY_FILE_PATH"`): wrap grants the file's directory
    /// read-write, and refuses the entry when that is not an existing
    /// absolute directory. An unset variable grants nothing.
    #[serde(default)]
    pub rw_file_env: Vec<Spanned<String>>,
    /// Whether wrap grants read-only the virtual environment (the
    /// directory with `pyvenv.cfg`) holding the server's executable.
    /// Default false.
    #[serde(default)]
    pub venv: bool,
}

/// A launch form of `[server] launchers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawLauncher {
    Npx,
    Uvx,
    Installed,
}

/// `[mcp]`: what the relay lets through between the host and the server.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawMcp {
    /// Largest message in either direction, in bytes (`"16M"` style
    /// suffixes); 1K to 1G. Default `"16M"`.
    #[serde(default)]
    pub max_message_size: Option<Spanned<RawLimit>>,
    /// Tools by name: `tools/list` is filtered, other calls refused.
    #[serde(default)]
    pub tools: RawNameRules,
    /// Prompts by name: `prompts/list` is filtered, `prompts/get` refused.
    #[serde(default)]
    pub prompts: RawNameRules,
    /// Resources by URI (templates by URI template): lists are filtered,
    /// `resources/read` and `resources/subscribe` refused.
    #[serde(default)]
    pub resources: RawNameRules,
    /// Pass the server's `sampling/createMessage` requests to the host.
    /// Default `false`.
    #[serde(default)]
    pub sampling: Option<bool>,
    /// Pass the server's `elicitation/create` requests. Default `false`.
    #[serde(default)]
    pub elicitation: Option<bool>,
    /// Pass the server's `roots/list` requests. Default `true`.
    #[serde(default)]
    pub roots: Option<bool>,
    /// Pinning of tools, prompts, resource templates and the server's
    /// instructions: `"off"`, `"warn"` or `"enforce"` (default).
    #[serde(default)]
    pub pin: Option<RawPinMode>,
    /// Keep the server's tool annotations as sent. Default `false`.
    #[serde(default)]
    pub trust_annotations: Option<bool>,
    /// Withhold tools, prompts, resources, instructions and prompt messages
    /// whose text has a high-severity finding: hidden characters, HTML
    /// comments, `<IMPORTANT>` blocks, instructions to keep something from
    /// the user. Default `false` (reported only).
    #[serde(default)]
    pub refuse_hidden_text: Option<bool>,
    /// Append a line per tool call and per refusal to the audit log.
    /// Default `false`.
    #[serde(default)]
    pub audit: Option<Spanned<bool>>,
    /// The audit log's file; `~` and a leading placeholder are expanded.
    /// Default `$XDG_STATE_HOME/cordon/audit/<profile>.jsonl`. A path the
    /// server may write (inside a writable grant or its private `/tmp`) is
    /// refused at launch.
    #[serde(default)]
    pub audit_path: Option<Spanned<String>>,
    /// Also record arguments and results, with the values of passed and set
    /// environment variables redacted. Default `false`.
    #[serde(default)]
    pub audit_arguments: Option<Spanned<bool>>,
}

/// `[mcp.tools]`, `[mcp.prompts]`, `[mcp.resources]`: glob patterns (`*`,
/// `?`). A name passes when an `allow` pattern matches and no `deny` one does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawNameRules {
    /// Patterns to let through. Default `["*"]`.
    #[serde(default)]
    pub allow: Option<Vec<Spanned<String>>>,
    /// Patterns to withhold and refuse; they win over `allow`.
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
}

/// The values of `mcp.pin`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawPinMode {
    Off,
    Warn,
    Enforce,
}

/// A shared group of grants: `groups/NAME.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a group table")]
pub struct RawGroup {
    /// Version of this schema. Required; must be `1`.
    pub schema: Spanned<i64>,
    /// One line saying what the group grants. Required, non-empty.
    pub description: Spanned<String>,
    /// As `filesystem.read` in a profile.
    #[serde(default)]
    pub read: Vec<Spanned<String>>,
    /// As `filesystem.exec` in a profile.
    #[serde(default)]
    pub exec: Vec<Spanned<String>>,
    /// As `filesystem.write` in a profile.
    #[serde(default)]
    pub write: Vec<Spanned<String>>,
}

/// An integer or a string, for the two value kinds that accept both. A
/// hand-written visitor (not `untagged`) keeps toml's span and error text.
struct NumberOrText(&'static str);

enum Either {
    Number(i64),
    Text(String),
}

impl Visitor<'_> for NumberOrText {
    type Value = Either;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Either, E> {
        Ok(Either::Number(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Either, E> {
        i64::try_from(v)
            .map(Either::Number)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Either, E> {
        Ok(Either::Text(v.to_owned()))
    }
}

impl<'de> Deserialize<'de> for RawPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = NumberOrText("a port number or a \"first-last\" range string");
        Ok(match d.deserialize_any(expecting)? {
            Either::Number(n) => RawPort::Number(n),
            Either::Text(s) => RawPort::Text(s),
        })
    }
}

impl<'de> Deserialize<'de> for RawLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = NumberOrText("a whole number or a string like \"64M\" or \"unlimited\"");
        Ok(match d.deserialize_any(expecting)? {
            Either::Number(n) => RawLimit::Number(n),
            Either::Text(s) => RawLimit::Text(s),
        })
    }
}
