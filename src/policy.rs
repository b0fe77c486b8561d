//! The validated, resolved sandbox policy: plain data shared by every part
//! of cordon.
//!
//! Only `profile` produces a [`Policy`]; `consent` renders it, `sandbox` and
//! `launch` enforce it, `relay` reads its MCP part. Every path here is
//! absolute and resolved, every duration and limit is concrete: nothing
//! downstream expands `~`, looks at TOML, or guesses a default.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::destination::{Destination, HostPattern, IpNet};

/// Everything cordon enforces for one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The profile's name (its file stem).
    pub name: String,
    /// Where the profile was loaded from.
    pub origin: Origin,
    /// One line describing the profile.
    pub description: String,
    /// Filesystem grants, absolute and resolved, in the order they were
    /// declared (profile, groups, then command line).
    pub fs: Vec<FsGrant>,
    /// Mandatory protections the profile lifted by naming them.
    pub unprotect: Vec<PathBuf>,
    /// Give the server a private, empty, writable temporary directory.
    pub private_tmp: bool,
    pub network: Network,
    pub env: EnvPolicy,
    pub limits: Limits,
    pub seccomp: SyscallPolicy,
    pub mechanisms: Mechanisms,
    pub shutdown: Shutdown,
    pub mcp: McpPolicy,
}

/// Where a profile came from, in lookup order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A path given on the command line.
    Path(PathBuf),
    /// A file in one of the profile directories.
    Directory(PathBuf),
    /// The set compiled into the binary.
    BuiltIn,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Path(p) | Origin::Directory(p) => write!(f, "{}", p.display()),
            Origin::BuiltIn => f.write_str("built-in"),
        }
    }
}

/// What a grant allows below its path. Read is implied by the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl Access {
    pub const READ: Access = Access {
        read: true,
        write: false,
        execute: false,
    };
    pub const READ_EXEC: Access = Access {
        read: true,
        write: false,
        execute: true,
    };
    pub const READ_WRITE: Access = Access {
        read: true,
        write: true,
        execute: false,
    };
    pub const ALL: Access = Access {
        read: true,
        write: true,
        execute: true,
    };

    /// The union of two grants on the same path.
    pub fn union(self, other: Access) -> Access {
        Access {
            read: self.read || other.read,
            write: self.write || other.write,
            execute: self.execute || other.execute,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = if self.read { 'r' } else { '-' };
        let w = if self.write { 'w' } else { '-' };
        let x = if self.execute { 'x' } else { '-' };
        write!(f, "{r}{w}{x}")
    }
}

/// Why a grant exists; shown in the consent text so every path is explained.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GrantSource {
    /// Declared in the profile file itself.
    Profile,
    /// Pulled in by a named shared group.
    Group(String),
    /// `--ro` / `--rw` on the command line.
    CommandLine,
    /// The resolved executable (granted automatically).
    Executable,
    /// The interpreter named in the executable's `#!` line.
    Interpreter,
    /// The server's package, installed in cordon's store (read+exec).
    Store,
}

impl fmt::Display for GrantSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrantSource::Profile => f.write_str("profile"),
            GrantSource::Group(g) => write!(f, "group {g}"),
            GrantSource::CommandLine => f.write_str("command line"),
            GrantSource::Executable => f.write_str("executable"),
            GrantSource::Interpreter => f.write_str("interpreter"),
            GrantSource::Store => f.write_str("package store"),
        }
    }
}

/// One filesystem grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsGrant {
    /// Absolute, with symlinks resolved. For an optional grant whose path
    /// does not exist this is the lexically normalised path.
    pub path: PathBuf,
    /// The path as written, when it differs from `path` (a symlink or `~`);
    /// kept so the consent text can say where a grant really points.
    pub declared: Option<String>,
    /// When the declared path (after `~` and placeholder expansion) is a
    /// symlink, its absolute location: the sandbox recreates the link there
    /// so paths compiled into programs (such as `/lib64/ld-linux…`) work.
    pub link: Option<PathBuf>,
    pub access: Access,
    /// Whether the path exists; only an optional grant may be missing.
    pub exists: bool,
    pub source: GrantSource,
}

/// Network reach of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub mode: NetworkMode,
    /// TCP ports the server may connect to.
    pub connect: Ports,
    /// TCP ports the server may bind.
    pub bind: Ports,
    /// The destinations of mode `filtered`, in the profile's order without
    /// duplicates; empty in every other mode.
    pub allow: Vec<Destination>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// No network at all: an empty network namespace, no sockets of the
    /// internet families.
    None,
    /// A private loopback interface inside the sandbox; the host's loopback
    /// and every other network stay out of reach.
    Loopback,
    /// A network namespace with no route out: every connection goes
    /// through cordon's forwarder, which reaches only `Network::allow`.
    Filtered,
    /// The host's network stack.
    Host,
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkMode::None => "none",
            NetworkMode::Loopback => "loopback",
            NetworkMode::Filtered => "filtered",
            NetworkMode::Host => "host",
        })
    }
}

/// A set of TCP ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// Any port (the network mode still applies).
    Any,
    /// Only these inclusive ranges; empty means none.
    Only(Vec<PortRange>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ports::Any => f.write_str("any"),
            Ports::Only(r) if r.is_empty() => f.write_str("none"),
            Ports::Only(ranges) => {
                for (i, r) in ranges.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if r.first == r.last {
                        write!(f, "{}", r.first)?;
                    } else {
                        write!(f, "{}-{}", r.first, r.last)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The server's environment is rebuilt from nothing: these names are
/// copied from cordon's own environment when set, these values are set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvPolicy {
    /// Variable names passed through (profile and `--env`), sorted, unique.
    pub pass: Vec<String>,
    /// Variables set to fixed values (after `~` expansion).
    pub set: BTreeMap<String, OsString>,
}

/// Resource limits applied to the server (soft = hard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Core dump size in bytes.
    pub core: u64,
    /// Open file descriptors.
    pub nofile: u64,
    /// Processes (threads count too) of the user.
    pub nproc: u64,
    /// Address space in bytes; `None` leaves it unlimited.
    pub address_space: Option<u64>,
    /// Size of one file the server may write, in bytes; `None` unlimited.
    pub fsize: Option<u64>,
    /// CPU seconds; `None` unlimited.
    pub cpu: Option<u64>,
    /// Memory of the whole sandbox in bytes (a memory cgroup), or of each
    /// process (RLIMIT_DATA) where no cgroup can be made; `None` unlimited.
    pub memory: Option<u64>,
    /// Size of the private /tmp in bytes (a tmpfs's `size=`); `None`
    /// unlimited. Needs namespaces: without them /tmp is a host directory.
    pub tmp: Option<u64>,
    /// What happens when a limit the profile sets cannot be applied.
    pub enforce: LimitEnforcement,
    /// The limits the profile set itself (rather than left at their
    /// defaults): these are the ones `enforce` governs.
    pub asked: AskedLimits,
}

/// `[limits] enforce`: a limit the profile sets that the kernel or the
/// mode cannot apply refuses the start (`Required`) or is printed as not
/// enforced (`BestEffort`). Limits left at their defaults are applied where
/// the mechanism exists and otherwise reported as not enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitEnforcement {
    #[default]
    Required,
    BestEffort,
}

impl fmt::Display for LimitEnforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitEnforcement::Required => "required",
            LimitEnforcement::BestEffort => "best-effort",
        })
    }
}

/// Which of the limits that depend on a mechanism the profile set itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AskedLimits {
    pub nproc: bool,
    pub memory: bool,
    pub tmp: bool,
}

impl Limits {
    /// Default memory bound: 4 GiB. Large enough that node (V8 reserves
    /// large virtual ranges, which RLIMIT_DATA does not count until they
    /// are made writable) and python servers start and work, small enough
    /// that a runaway server cannot take the machine.
    pub const DEFAULT_MEMORY: u64 = 4 << 30;
    /// Default size of the private /tmp: 1 GiB.
    pub const DEFAULT_TMP: u64 = 1 << 30;
}

/// The seccomp layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallPolicy {
    /// What a denied system call does.
    pub action: SyscallAction,
    /// Syscalls (by name, for this architecture) removed from the deny list.
    pub allow: Vec<String>,
    /// Syscalls added to the deny list, after group expansion.
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallAction {
    /// Fail with EPERM (the default).
    Errno,
    /// Kill the process.
    Kill,
    /// Allow but log through the kernel's audit log.
    Log,
}

impl fmt::Display for SyscallAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyscallAction::Errno => "errno",
            SyscallAction::Kill => "kill",
            SyscallAction::Log => "log",
        })
    }
}

/// How strictly a mechanism must be enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Missing in the kernel: refuse to start.
    Required,
    /// Missing in the kernel: start, and print exactly what is not enforced.
    BestEffort,
    /// Not used (only namespaces may be turned off; the other layers then
    /// carry network and filesystem isolation).
    Off,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Requirement::Required => "required",
            Requirement::BestEffort => "best-effort",
            Requirement::Off => "off",
        })
    }
}

/// The requirement level of each sandbox layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mechanisms {
    pub namespaces: Requirement,
    pub landlock: Requirement,
    pub seccomp: Requirement,
}

/// The shutdown sequence after the host closes cordon's stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    /// How long the server may take to exit after its stdin is closed.
    pub close_grace: Duration,
    /// How long after SIGTERM before SIGKILL.
    pub term_grace: Duration,
}

/// The MCP layer: what the relay lets through between host and server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpPolicy {
    /// Largest message, in bytes without its newline, in either direction.
    pub max_message_size: usize,
    /// Tools by name.
    pub tools: NameRules,
    /// Prompts by name.
    pub prompts: NameRules,
    /// Resources by URI, resource templates by URI template.
    pub resources: NameRules,
    /// Server-to-host requests the host may receive.
    pub sampling: bool,
    pub elicitation: bool,
    pub roots: bool,
    pub pin: PinMode,
    /// Keep the server's tool annotations as sent.
    pub trust_annotations: bool,
    /// Withhold what the server's text hides (see `mcp::hygiene`): list
    /// items, instructions, prompt messages.
    pub refuse_hidden_text: bool,
    /// The audit log; `None` when off.
    pub audit: Option<AuditPolicy>,
}

/// The default message limit: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

impl Default for McpPolicy {
    fn default() -> Self {
        McpPolicy {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            tools: NameRules::default(),
            prompts: NameRules::default(),
            resources: NameRules::default(),
            sampling: false,
            elicitation: false,
            roots: true,
            pin: PinMode::Enforce,
            trust_annotations: false,
            refuse_hidden_text: false,
            audit: None,
        }
    }
}

/// Allow and deny glob patterns (`*` any run of characters, `?` one
/// character) for names or URIs: a name passes when an allow pattern
/// matches it and no deny pattern does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRules {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Default for NameRules {
    fn default() -> Self {
        NameRules {
            allow: vec!["*".to_owned()],
            deny: Vec::new(),
        }
    }
}

impl NameRules {
    pub fn allows(&self, name: &str) -> bool {
        self.allow.iter().any(|p| glob_match(p, name))
            && !self.deny.iter().any(|p| glob_match(p, name))
    }

    /// Everything passes: the relay can skip the check.
    pub fn allows_all(&self) -> bool {
        self.deny.is_empty() && self.allow.iter().any(|p| p == "*")
    }
}

/// Glob match over characters; `*` may match `/`. Iterative with one
/// backtrack point, so it is linear in practice and never recursive.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Tool pinning: what happens when a tool's definition differs from the
/// digest recorded for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMode {
    /// No pins are read or written.
    Off,
    /// Changed and new tools are reported on stderr and passed.
    Warn,
    /// Changed and new tools are withheld and their calls refused.
    Enforce,
}

impl fmt::Display for PinMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinMode::Off => "off",
            PinMode::Warn => "warn",
            PinMode::Enforce => "enforce",
        })
    }
}

/// The audit log of tool calls and refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPolicy {
    /// Absolute; `None` is `$XDG_STATE_HOME/cordon/audit/<profile>.jsonl`.
    pub path: Option<PathBuf>,
    /// Record arguments and results (with secrets redacted).
    pub arguments: bool,
}

/// A small but complete policy for unit tests anywhere in the crate.
#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    pub fn grant(path: &str, access: Access, source: GrantSource) -> FsGrant {
        FsGrant {
            path: PathBuf::from(path),
            declared: None,
            link: None,
            access,
            exists: true,
            source,
        }
    }

    pub fn policy() -> Policy {
        Policy {
            name: "filesystem".into(),
            origin: Origin::BuiltIn,
            description: "read and write one directory".into(),
            fs: vec![
                grant(
                    "/usr",
                    Access::READ_EXEC,
                    GrantSource::Group("runtime".into()),
                ),
                grant("/srv/notes", Access::READ_WRITE, GrantSource::CommandLine),
            ],
            unprotect: Vec::new(),
            private_tmp: true,
            network: Network {
                mode: NetworkMode::None,
                connect: Ports::Only(Vec::new()),
                bind: Ports::Only(Vec::new()),
                allow: Vec::new(),
            },
            env: EnvPolicy {
                pass: vec!["HOME".into(), "PATH".into()],
                set: BTreeMap::new(),
            },
            limits: Limits {
                core: 0,
                nofile: 1024,
                nproc: 512,
                address_space: Some(4 << 30),
                fsize: None,
                cpu: None,
                memory: Some(Limits::DEFAULT_MEMORY),
                tmp: Some(Limits::DEFAULT_TMP),
                enforce: Default::default(),
                asked: Default::default(),
            },
            seccomp: SyscallPolicy {
                action: SyscallAction::Errno,
                allow: vec![],
                deny: vec![],
            },
            mechanisms: Mechanisms {
                namespaces: Requirement::Required,
                landlock: Requirement::Required,
                seccomp: Requirement::BestEffort,
            },
            shutdown: Shutdown {
                close_grace: Duration::from_secs(5),
                term_grace: Duration::from_secs(2),
            },
            mcp: McpPolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        let cases = [
            ("*", "", true),
            ("read_*", "read_file", true),
            ("read_*", "xread_file", false),
            ("?at", "cat", true),
            ("?at", "at", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("file:///home/*", "file:///home/me/x", true),
            ("**", "anything", true),
            ("é?", "éa", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} {text}");
        }
    }

    #[test]
    fn deny_wins_over_allow() {
        let rules = NameRules {
            allow: vec!["*".into()],
            deny: vec!["delete_*".into()],
        };
        assert!(rules.allows("read"));
        assert!(!rules.allows("delete_all"));
        assert!(!rules.allows_all());
        assert!(NameRules::default().allows_all());
    }
}
