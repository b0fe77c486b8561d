//! The seccomp layer: cordon's built-in system call deny list, adjusted by
//! the profile, compiled to BPF in the parent before fork.
//!
//! The layer has four parts, listed here in the order the kernel's rules
//! for several filters would have them installed. They are linked into
//! ONE program, which the child installs last of all its setup steps:
//! one install (one JIT) and one run per system call, instead of one per
//! part. The linked program answers what the kernel would answer for the
//! parts installed as separate filters (the strictest answer, and among
//! equal ones the part installed last); see `PreparedSeccomp::relink`.
//!
//! 1. The ABI gate (hand-written): a call made through another
//!    architecture's entry point (i386 `int 0x80`, x32) has other syscall
//!    numbers, so every rule below would miss it; it kills the process.
//! 2. Fixed answers that callers already handle, whatever the profile's
//!    action (see [`ANSWERED`]): ENOSYS for calls whose arguments live in
//!    memory a filter cannot read, so that libc falls back to the older
//!    call whose arguments it can: `clone3` (flags; fallback `clone`) and
//!    `openat2` (the new file's mode; fallback `openat`); EOPNOTSUPP for
//!    setting extended attributes, whose name the filter cannot read
//!    (file capabilities, ACLs). A profile that names one of them in
//!    `allow` or `deny` takes it out of this program, except `openat2`:
//!    part 3 relies on it. One part per errno.
//! 3. No set-user-ID or set-group-ID file (systemd's `RestrictSUIDSGID=`):
//!    EPERM for every call that creates a file or sets a mode with
//!    `S_ISUID` or `S_ISGID` in its mode argument, whatever the profile
//!    says. (File capabilities need `setxattr("security.capability")`
//!    and CAP_SETFCAP: the capability is dropped, and part 2 refuses
//!    the call.)
//! 4. The deny list: a denylist, not an allowlist, because MCP servers
//!    are arbitrary programs in arbitrary runtimes. It removes what lets a
//!    process reach other processes, the kernel's rarely used attack
//!    surface, namespaces, mounts, socket families other than the ones
//!    the network mode needs, and executable memfds. Without namespaces
//!    it also removes what reaches the host through no path Landlock
//!    checks: changes of a file's mode, owner, times, extended attributes
//!    or attribute flags (`chattr`'s ioctls), which Landlock does not
//!    cover and where seccomp cannot see which file a call names; and
//!    System V IPC and POSIX message queues (no IPC namespace). A match
//!    gets the profile's action; `allow` lifts any of these. Under action
//!    `errno` a match is a notification that cordon answers with the
//!    errno and reports in one line (`explain::notify`); should cordon be
//!    gone, the kernel answers ENOSYS: refused either way.
//!
//! Every rule reads the low 32 bits of an argument only, matching how the
//! kernel reads these arguments (`int` or `unsigned int`; `clone` uses the
//! low half of its flags), so high bits set by a caller change nothing.
//! Landlock system calls stay allowed: a nested Landlock sandbox only
//! restricts further.
//!
//! Between the ABI gate and the other parts sits a search tree on the
//! call number ([`quick_allow`]): a call that no part answers or looks
//! into is allowed there, so the kernel's walk at install (which caches
//! the calls a filter always allows) stops after a few comparisons for
//! it instead of going through the parts' linear chains.

use std::collections::BTreeMap;

use libc::{c_int, c_long};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::policy::{NetworkMode, SyscallAction, SyscallPolicy};

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("cordon's seccomp filter is written for x86_64 and aarch64 only");

/// The compiled layer: one program, installed by the child with
/// `SECCOMP_SET_MODE_FILTER` (see [`link`] for how its parts are chained).
#[derive(Clone)]
pub struct PreparedSeccomp {
    /// What the child installs.
    pub program: Vec<libc::sock_filter>,
    /// Plain `run`: the program without notifications, installed instead
    /// when the kernel refuses a listener (before Linux 5.0), so that a
    /// missing report never stops the server from starting.
    pub fallback: Option<Vec<libc::sock_filter>>,
    /// Install the program with a notification listener and send the
    /// listener to cordon (see [`PreparedSeccomp::report_denials`] and
    /// [`PreparedSeccomp::notify`]).
    pub listener: bool,
    parts: Parts,
    /// How the deny list answers a match.
    answer: DenyAnswer,
    /// The path calls of [`PATH_CALLS`] reach the notifier (`--explain`).
    paths: bool,
    /// The deny list's numbers and what a match does, for the notifier.
    denied: Vec<c_long>,
    /// The calls of [`PATH_CALLS`] the deny list does not name, with their
    /// numbers: resolved once, since the notifier looks up every call.
    path_calls: Vec<(c_long, PathCall)>,
    action: SyscallAction,
}

/// The parts of the program, each compiled on its own: a part's "allow"
/// means "ask the next part".
#[derive(Clone)]
struct Parts {
    gate: Vec<libc::sock_filter>,
    /// The fixed errno answers, in the order of the module docs (ENOSYS,
    /// EOPNOTSUPP, set-ID EPERM).
    answers: Vec<Vec<libc::sock_filter>>,
    /// The deny list, answering the profile's action.
    deny: Vec<libc::sock_filter>,
    /// Every call number some part answers or looks into (sorted): the
    /// others get "allow" from every part, whatever their arguments.
    examined: Vec<u32>,
}

/// What the deny list answers for a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DenyAnswer {
    /// The profile's action, in the kernel.
    Action,
    /// `SECCOMP_RET_USER_NOTIF`; cordon's notifier answers with the
    /// errno (action `errno`: refused either way).
    NotifyRefused,
    /// `SECCOMP_RET_USER_NOTIF`; the notifier lets the call run (action
    /// `log` under `--explain`).
    NotifyContinued,
}

impl std::fmt::Debug for PreparedSeccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // libc's sock_filter has no Debug; the lengths say enough.
        f.debug_struct("PreparedSeccomp")
            .field("program_length", &self.program.len())
            .field("listener", &self.listener)
            .field("answer", &self.answer)
            .field("paths", &self.paths)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error(
        "unknown system call `{name}` (not a system call on {})",
        std::env::consts::ARCH
    )]
    UnknownSyscall { name: String },
    #[error("cannot compile the seccomp filter: {0}")]
    Compile(String),
}

/// Builds the program for `policy`. Runs in the parent before fork (it
/// allocates). `network` decides which socket families stay available.
/// `namespaces` tells whether cordon uses namespaces: without them the
/// server sees the host's unix sockets (a session bus, an agent socket)
/// and Landlock cannot stop a connect to a socket path, so `socket(AF_UNIX)`
/// is denied too; connected pairs from `socketpair` still work.
pub fn prepare(
    policy: &SyscallPolicy,
    network: NetworkMode,
    namespaces: bool,
) -> Result<PreparedSeccomp, SeccompError> {
    let mut denied = default_rules(network, namespaces)?;
    // Calls that get a fixed answer unless the profile names them.
    let mut answered: Vec<&str> = ANSWERED.iter().map(|&(name, _)| name).collect();
    // `allow` lifts a name completely, argument rules included; `deny`
    // then adds unconditional denials, so a name in both is denied.
    for name in &policy.allow {
        resolve(name)?;
        denied.remove(name.as_str());
        answered.retain(|a| a != name);
    }
    for name in &policy.deny {
        resolve(name)?;
        denied.insert(name.as_str(), Vec::new());
        answered.retain(|a| a != name);
    }
    let mut rules = BTreeMap::new();
    let mut numbers = Vec::new();
    for (name, chain) in denied {
        numbers.push(resolve(name)?);
        rules.insert(resolve(name)?, chain);
    }
    let mut examined: Vec<c_long> = rules.keys().copied().collect();

    let mut answers = Vec::new();
    for errno in [libc::ENOSYS, libc::EOPNOTSUPP] {
        let mut calls = BTreeMap::new();
        if errno == libc::ENOSYS {
            calls.insert(resolve("openat2")?, Vec::new());
        }
        for &(name, answer) in ANSWERED {
            if answer == errno && answered.contains(&name) {
                calls.insert(resolve(name)?, Vec::new());
            }
        }
        if !calls.is_empty() {
            examined.extend(calls.keys());
            answers.push(compile(calls, SeccompAction::Errno(errno as u32))?);
        }
    }
    let set_id = set_id_rules()?;
    examined.extend(set_id.keys());
    answers.push(compile(set_id, SeccompAction::Errno(libc::EPERM as u32))?);
    let mut examined: Vec<u32> = examined.into_iter().map(|nr| nr as u32).collect();
    examined.sort_unstable();
    examined.dedup();
    let mut prepared = PreparedSeccomp {
        program: Vec::new(),
        fallback: None,
        listener: false,
        parts: Parts {
            gate: abi_gate(),
            answers,
            deny: compile(rules, match_action(policy.action))?,
            examined,
        },
        answer: DenyAnswer::Action,
        paths: false,
        path_calls: PATH_CALLS
            .iter()
            .filter_map(|c| Some((syscall_number(c.name)?, *c)))
            .filter(|(nr, _)| !numbers.contains(nr))
            .collect(),
        denied: numbers,
        action: policy.action,
    };
    prepared.relink(DenyAnswer::Action, false)?;
    Ok(prepared)
}

/// The calls with a path argument that `--explain` observes: (name,
/// index of the directory descriptor argument or -1, index of the path,
/// what the call asks for). `rename*`, `link*` and `symlink*` name the
/// path they create; the source of a rename is read too (by the
/// notifier, from the same table with the `source` index).
pub const PATH_CALLS: &[PathCall] = &[
    #[cfg(target_arch = "x86_64")]
    PathCall::new("open", -1, 0, PathUse::Open(1)),
    PathCall::new("openat", 0, 1, PathUse::Open(2)),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("creat", -1, 0, PathUse::Create),
    PathCall::new("execve", -1, 0, PathUse::Execute),
    PathCall::new("execveat", 0, 1, PathUse::Execute),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("mkdir", -1, 0, PathUse::Create),
    PathCall::new("mkdirat", 0, 1, PathUse::Create),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("mknod", -1, 0, PathUse::Create),
    PathCall::new("mknodat", 0, 1, PathUse::Create),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("unlink", -1, 0, PathUse::Remove),
    PathCall::new("unlinkat", 0, 1, PathUse::Remove),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("rmdir", -1, 0, PathUse::Remove),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("rename", -1, 1, PathUse::Create),
    PathCall::new("renameat", 2, 3, PathUse::Create),
    PathCall::new("renameat2", 2, 3, PathUse::Create),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("link", -1, 1, PathUse::Create),
    PathCall::new("linkat", 2, 3, PathUse::Create),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("symlink", -1, 1, PathUse::Create),
    PathCall::new("symlinkat", 1, 2, PathUse::Create),
    PathCall::new("truncate", -1, 0, PathUse::Write),
    // Runtimes look before they open (Python's site directories, Node's
    // module resolution): a lookup that finds nothing ends their search
    // without an open to observe.
    PathCall::new("newfstatat", 0, 1, PathUse::Lookup),
    PathCall::new("statx", 0, 1, PathUse::Lookup),
    PathCall::new("faccessat", 0, 1, PathUse::Lookup),
    PathCall::new("faccessat2", 0, 1, PathUse::Lookup),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("stat", -1, 0, PathUse::Lookup),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("lstat", -1, 0, PathUse::Lookup),
    #[cfg(target_arch = "x86_64")]
    PathCall::new("access", -1, 0, PathUse::Lookup),
];

/// What a path call asks of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathUse {
    /// `open`: the flags argument at this index says read, write or create.
    Open(u8),
    Create,
    Remove,
    Write,
    Execute,
    /// `stat`, `access` and their kin: whether the path is there.
    Lookup,
}

/// One row of [`PATH_CALLS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathCall {
    pub name: &'static str,
    /// Index of the directory descriptor argument; -1: relative to the
    /// working directory.
    pub dirfd: i8,
    pub path: u8,
    pub what: PathUse,
}

impl PathCall {
    const fn new(name: &'static str, dirfd: i8, path: u8, what: PathUse) -> PathCall {
        PathCall {
            name,
            dirfd,
            path,
            what,
        }
    }
}

/// What the notifier answers for a call that reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    /// A path call: observe, then let the kernel decide.
    Path(PathCall),
    /// A call of the deny list: answer with this errno.
    Denied(i32),
    /// A call of the deny list under action `log`: let it run, as the
    /// kernel would have (logging it).
    Logged,
}

impl PreparedSeccomp {
    /// Plain `run`: a call of the deny list under action `errno` is
    /// answered by cordon's notifier, which refuses it with the errno and
    /// reports it (one line each). The program gets a listener. Under
    /// `kill` and `log` nothing changes: a notifier that failed to kill
    /// would fail open, and a logged call is allowed and goes to the
    /// audit log, as the profile asked.
    pub fn report_denials(&mut self) -> Result<(), SeccompError> {
        if self.action == SyscallAction::Errno && !self.listener {
            let fallback = self.program.clone();
            self.relink(DenyAnswer::NotifyRefused, false)?;
            self.fallback = Some(fallback);
        }
        Ok(())
    }

    /// `--explain`: on top of [`PreparedSeccomp::report_denials`], the
    /// path calls of [`PATH_CALLS`] that the deny list does not name reach
    /// the notifier (which lets the kernel decide them), and a deny list
    /// that logs is notified too and answered "continue" (what log does).
    /// One that kills keeps killing in the kernel (the call is then
    /// reported by layer only, from the exit).
    pub fn notify(&mut self) -> Result<(), SeccompError> {
        let answer = match self.action {
            SyscallAction::Errno => DenyAnswer::NotifyRefused,
            SyscallAction::Log => DenyAnswer::NotifyContinued,
            SyscallAction::Kill => DenyAnswer::Action,
        };
        self.relink(answer, true)?;
        // --explain was asked for: no silent fallback.
        self.fallback = None;
        Ok(())
    }

    /// Rebuilds [`PreparedSeccomp::program`] from the parts, with the
    /// deny list answering `answer` and the path calls notified or not;
    /// changes nothing when the program cannot be built.
    fn relink(&mut self, answer: DenyAnswer, paths: bool) -> Result<(), SeccompError> {
        let deny = match answer {
            DenyAnswer::Action => self.parts.deny.clone(),
            DenyAnswer::NotifyRefused | DenyAnswer::NotifyContinued => {
                let matched = match self.action {
                    SyscallAction::Errno => {
                        libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA)
                    }
                    SyscallAction::Log => libc::SECCOMP_RET_LOG,
                    SyscallAction::Kill => libc::SECCOMP_RET_KILL_PROCESS,
                };
                let mut deny = self.parts.deny.clone();
                for op in &mut deny {
                    if op.code == RET && op.k == matched {
                        op.k = libc::SECCOMP_RET_USER_NOTIF;
                    }
                }
                deny
            }
        };
        let mut examined = self.parts.examined.clone();
        let prefix = if paths {
            let paths: Vec<u32> = self.path_calls.iter().map(|&(nr, _)| nr as u32).collect();
            examined.extend(&paths);
            Some(path_prefix(&paths))
        } else {
            None
        };
        // The kernel's order among filters: the strictest answer wins
        // (kill, errno, notification, log, allow), and among equal answers
        // the filter installed last. One program answers the first
        // refusal its parts reach, so the parts go strictest first, and
        // within a class in the reverse of the install order the module
        // docs give (the deny list last of all).
        //
        // A refusing notification is an errno answer that cordon writes:
        // it goes where the deny list's errno went, before the fixed
        // answers, so a call both name gets the profile's errno, as
        // without a notifier. The path calls' notification is answered
        // "continue": it must come after every errno part, or a continued
        // `openat` would skip the set-ID check.
        let mut parts: Vec<&[libc::sock_filter]> = vec![&self.parts.gate];
        let deny_first = answer == DenyAnswer::NotifyRefused
            || (answer == DenyAnswer::Action && self.action != SyscallAction::Log);
        if deny_first {
            parts.push(&deny);
        }
        parts.extend(self.parts.answers.iter().rev().map(Vec::as_slice));
        if let Some(prefix) = &prefix {
            parts.push(prefix);
        }
        if !deny_first {
            parts.push(&deny);
        }
        self.program = shorten(&with_quick_allow(
            link(&parts)?,
            self.parts.gate.len(),
            examined,
        ));
        self.answer = answer;
        self.paths = paths;
        self.listener = answer != DenyAnswer::Action || paths;
        Ok(())
    }

    /// Whether the path calls reach the notifier (`--explain`).
    pub fn observes_paths(&self) -> bool {
        self.paths
    }

    /// What the listener's program answers for call `nr` (for the
    /// notifier, which must answer every notification).
    pub fn notified(&self, nr: i64) -> Option<Notified> {
        if self.paths {
            if let Some(&(_, call)) = self.path_calls.iter().find(|&&(n, _)| n == nr) {
                return Some(Notified::Path(call));
            }
        }
        if !self.denied.contains(&nr) {
            return None;
        }
        match self.answer {
            DenyAnswer::NotifyRefused => Some(Notified::Denied(libc::EPERM)),
            DenyAnswer::NotifyContinued => Some(Notified::Logged),
            DenyAnswer::Action => None,
        }
    }
}

/// The longest program the kernel takes (`BPF_MAXINSNS`).
const MAX_PROGRAM: usize = 4096;

const LOAD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Chains programs into one: each part's `RET ALLOW` becomes a jump to
/// the first instruction of the next part (the last part's stays). Every
/// part ends in a return, and its own jumps stay inside it, so replacing
/// one instruction by one keeps them valid; `BPF_JA` takes a 32-bit
/// offset, so a jump over the rest of a long part fits. One program costs
/// one install (one JIT) and one run per call, instead of one per part.
fn link(parts: &[&[libc::sock_filter]]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > MAX_PROGRAM {
        return Err(SeccompError::Compile(format!(
            "{len} instructions, more than the kernel's {MAX_PROGRAM}"
        )));
    }
    let mut program = Vec::with_capacity(len);
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter().enumerate() {
        for (at, op) in part.iter().enumerate() {
            if i < last && op.code == RET && op.k == libc::SECCOMP_RET_ALLOW {
                let rest = (part.len() - at - 1) as u32;
                program.push(libc::sock_filter {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: rest,
                });
            } else {
                program.push(*op);
            }
        }
    }
    Ok(program)
}

/// `program` with every jump taken straight to where its chain of
/// unconditional jumps (`JA`) ends, and without what no jump or
/// fall-through reaches any more: the same answer for every call, in
/// fewer instructions. seccompiler's rules and the linked parts leave
/// such chains (a denied call costs five instructions where two do),
/// and the kernel checks, translates and compiles every instruction at
/// each start, and runs the reachable ones at each call.
///
/// Jumps only go forward, so the chains end; a conditional jump keeps
/// its `JA` where the end of the chain lies beyond its 8-bit offset.
/// Dropping instructions only shortens the distances that remain.
fn shorten(program: &[libc::sock_filter]) -> Vec<libc::sock_filter> {
    let len = program.len();
    let conditional =
        |op: &libc::sock_filter| op.code & 0x07 == libc::BPF_JMP as u16 && op.code != JA;
    // Where a jump to `at` ends up: past every JA it lands on.
    let end_of = |mut at: usize| {
        while let Some(op) = program.get(at).filter(|op| op.code == JA) {
            at += 1 + op.k as usize;
        }
        at
    };
    // Each instruction's jump targets, as absolute indexes.
    let targets: Vec<(usize, usize)> = program
        .iter()
        .enumerate()
        .map(|(at, op)| {
            let next = at + 1;
            if op.code == JA {
                let end = end_of(next + op.k as usize);
                (end, end)
            } else if conditional(op) {
                let near = |t: usize| {
                    let end = end_of(t);
                    if end - next <= usize::from(u8::MAX) {
                        end
                    } else {
                        t
                    }
                };
                (
                    near(next + usize::from(op.jt)),
                    near(next + usize::from(op.jf)),
                )
            } else {
                (next, next)
            }
        })
        .collect();
    let mut reached = vec![false; len];
    let mut stack = vec![0];
    while let Some(at) = stack.pop() {
        match reached.get_mut(at) {
            Some(seen) if !*seen => *seen = true,
            _ => continue,
        }
        if program[at].code & 0x07 == libc::BPF_RET as u16 {
            continue;
        }
        let (a, b) = targets[at];
        stack.push(a);
        stack.push(b);
    }
    // New positions: a target is always reached, so it has one.
    let mut position = vec![0usize; len + 1];
    let mut kept = 0;
    for at in 0..len {
        position[at] = kept;
        kept += usize::from(reached[at]);
    }
    position[len] = kept;
    let offset = |from: usize, to: usize| position[to] - position[from] - 1;
    (0..len)
        .filter(|&at| reached[at])
        .map(|at| {
            let mut op = program[at];
            let (a, b) = targets[at];
            if op.code == JA {
                op.k = offset(at, a) as u32;
            } else if conditional(&op) {
                // Never longer than before (see above): fits 8 bits.
                op.jt = offset(at, a) as u8;
                op.jf = offset(at, b) as u8;
            }
            op
        })
        .collect()
}

/// `program` with [`quick_allow`] right after its ABI gate (the first
/// `gate` instructions), when that fits: a call no part examines is
/// allowed after a few comparisons instead of a walk through every part.
/// The kernel walks the program once per call number when it installs it
/// (to cache the calls a filter always allows), with interrupts off: that
/// walk, not the server's calls, is what the linear parts made slow.
fn with_quick_allow(
    program: Vec<libc::sock_filter>,
    gate: usize,
    mut examined: Vec<u32>,
) -> Vec<libc::sock_filter> {
    examined.sort_unstable();
    examined.dedup();
    match quick_allow(&examined) {
        Some(prefix) if program.len() + prefix.len() <= MAX_PROGRAM && gate <= program.len() => {
            let mut out = Vec::with_capacity(program.len() + prefix.len());
            out.extend_from_slice(&program[..gate]);
            out.extend(prefix);
            out.extend_from_slice(&program[gate..]);
            out
        }
        _ => program,
    }
}

/// A search tree over the call number: "allow" for a number outside
/// `examined` (sorted, no repeats), else on to the next instruction
/// after the tree (the parts). Only loads of the number, `JGE` and
/// returns, so the kernel's walk at install (which stops at an argument
/// load) still finds every always-allowed call. None when a jump would
/// not fit in a conditional jump's 8-bit offset.
fn quick_allow(examined: &[u32]) -> Option<Vec<libc::sock_filter>> {
    // The number line cut into intervals, each examined or not, by start.
    let mut intervals: Vec<(u32, bool)> = Vec::new();
    let mut next: u64 = 0;
    let mut i = 0;
    while i < examined.len() {
        let first = examined[i];
        let mut last = first;
        while i + 1 < examined.len() && u64::from(examined[i + 1]) == u64::from(last) + 1 {
            i += 1;
            last = examined[i];
        }
        i += 1;
        if u64::from(first) > next {
            intervals.push((next as u32, false));
        }
        intervals.push((first, true));
        next = u64::from(last) + 1;
    }
    if next <= u64::from(u32::MAX) {
        intervals.push((next as u32, false));
    }
    #[derive(Clone, Copy)]
    enum To {
        Node(usize),
        Allow,
        Parts,
    }
    struct Node {
        start: u32,
        at_or_above: To,
        below: To,
    }
    // Preorder: a node, the subtree below its start, the one at or above.
    fn build(intervals: &[(u32, bool)], nodes: &mut Vec<Node>) -> To {
        match intervals {
            [] => To::Allow,
            [(_, true)] => To::Parts,
            [(_, false)] => To::Allow,
            _ => {
                let mid = intervals.len() / 2;
                let at = nodes.len();
                nodes.push(Node {
                    start: intervals[mid].0,
                    at_or_above: To::Allow,
                    below: To::Allow,
                });
                let below = build(&intervals[..mid], nodes);
                let at_or_above = build(&intervals[mid..], nodes);
                nodes[at].below = below;
                nodes[at].at_or_above = at_or_above;
                To::Node(at)
            }
        }
    }
    const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    let mut nodes = Vec::new();
    let root = build(&intervals, &mut nodes);
    // [load nr, nodes…, ret allow], then the parts.
    let allow = 1 + nodes.len();
    let parts = allow + 1;
    let index = |to: To| match to {
        To::Node(n) => 1 + n,
        To::Allow => allow,
        To::Parts => parts,
    };
    let op = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };
    let mut program = vec![op(LOAD, DATA_NR, 0, 0)];
    if !matches!(root, To::Node(0)) {
        // Nothing examined, or everything: no tree needed.
        return None;
    }
    for (n, node) in nodes.iter().enumerate() {
        let from = 1 + n + 1;
        let jt = u8::try_from(index(node.at_or_above).checked_sub(from)?).ok()?;
        let jf = u8::try_from(index(node.below).checked_sub(from)?).ok()?;
        program.push(op(JGE, node.start, jt, jf));
    }
    program.push(op(RET, libc::SECCOMP_RET_ALLOW, 0, 0));
    Some(program)
}

/// The name of system call `nr` on this architecture.
pub fn syscall_name(nr: i64) -> Option<&'static str> {
    SYSCALLS
        .iter()
        .chain(ARCH_SYSCALLS)
        .chain(UNIFIED_SYSCALLS)
        .find(|&&(_, n)| n == nr)
        .and_then(|(constant, _)| constant.strip_prefix("SYS_"))
}

/// The part `--explain` adds: `SECCOMP_RET_USER_NOTIF` for the calls in
/// `paths`, else allow (the next part; a call of another architecture
/// never gets here: the ABI gate killed it).
fn path_prefix(paths: &[u32]) -> Vec<libc::sock_filter> {
    let op = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };
    // [load arch, jeq arch, load nr, jeq nr × n, ret allow, ret notify]
    let n = paths.len().min(200) as u8;
    let mut program = vec![op(LOAD, DATA_ARCH, 0, 0), op(JEQ, AUDIT_ARCH, 0, n + 1)];
    program.push(op(LOAD, DATA_NR, 0, 0));
    for (i, &nr) in paths.iter().take(usize::from(n)).enumerate() {
        program.push(op(JEQ, nr, n - i as u8, 0));
    }
    program.push(op(RET, libc::SECCOMP_RET_ALLOW, 0, 0));
    program.push(op(RET, libc::SECCOMP_RET_USER_NOTIF, 0, 0));
    program
}

/// The syscall number of `name` on the architecture cordon was built for,
/// or `None` when there is no such call here.
pub fn syscall_number(name: &str) -> Option<i64> {
    // A launch looks up a few hundred names: a binary search of the two
    // sorted tables (the tests keep them sorted) instead of a scan of
    // some three hundred entries each time.
    let sorted = |table: &[(&str, c_long)]| {
        table
            .binary_search_by(|(constant, _)| {
                constant.strip_prefix("SYS_").unwrap_or(constant).cmp(name)
            })
            .ok()
            .map(|at| table[at].1)
    };
    sorted(SYSCALLS)
        .or_else(|| sorted(ARCH_SYSCALLS))
        .or_else(|| {
            UNIFIED_SYSCALLS
                .iter()
                .find(|(constant, _)| constant.strip_prefix("SYS_") == Some(name))
                .map(|&(_, nr)| nr)
        })
}

/// Whether this kernel creates memfds with MFD_NOEXEC_SEAL (Linux 6.3),
/// the only memfds the deny list lets through; for `cordon doctor`.
pub fn memfd_noexec_seal_supported() -> bool {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::from_bits_retain(MFD_NOEXEC_SEAL as u32);
    memfd_create(c"cordon-doctor", flags).is_ok()
}

/// Calls answered with a fixed errno, whatever the profile's action,
/// unless the profile names them in `allow` (lifted) or `deny` (then they
/// get its action). The answer is the one callers already handle.
static ANSWERED: &[(&str, c_int)] = &[
    // libc falls back to `clone`, whose flags the filter reads.
    ("clone3", libc::ENOSYS),
    // Extended attributes: file capabilities (`security.capability`) and
    // ACLs are attributes, and the filter cannot read the name. "Not
    // supported here" is what `cp -p`, `tar` and Python's `shutil` treat
    // as a file system without attributes, and go on (with EPERM they
    // fail).
    ("setxattr", libc::EOPNOTSUPP),
    ("lsetxattr", libc::EOPNOTSUPP),
    ("fsetxattr", libc::EOPNOTSUPP),
    ("setxattrat", libc::EOPNOTSUPP),
];

/// The calls cordon denies whatever their arguments, for `cordon profile
/// show` and the docs. `personality`, `ioctl`, `clone`, `socket`,
/// `socketpair` and `memfd_create` are denied for some arguments only,
/// `clone3` and `openat2` fail with ENOSYS, and the calls that set a mode
/// fail for set-ID modes (see the module docs).
pub fn default_denied() -> &'static [&'static str] {
    DEFAULT_DENIED
}

/// The calls cordon denies whatever their arguments when it runs without
/// namespaces, on top of [`default_denied`].
pub fn no_namespaces_denied() -> &'static [&'static str] {
    NO_NAMESPACES_DENIED
}

// Kept grouped by reason (rustfmt would give every name its own line).
#[rustfmt::skip]
static DEFAULT_DENIED: &[&str] = &[
    // Reading or steering other processes.
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
    // The mount tree: old and new mount APIs.
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "open_tree", "move_mount", "mount_setattr",
    // Namespaces (clone's namespace flags are argument rules).
    "unshare", "setns",
    // The kernel keyring is not namespaced.
    "keyctl", "add_key", "request_key",
    // Large kernel attack surface a server does not need.
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "fanotify_init", "lookup_dcookie", "nfsservctl",
    // File handles open files by inode, around path-based checks.
    "name_to_handle_at", "open_by_handle_at",
    // The machine: kernel images and modules, power, swap, accounting,
    // quotas, clocks, the kernel log, the terminal.
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "syslog", "vhangup",
    // Memory placement across processes and NUMA nodes.
    "mbind", "migrate_pages", "move_pages", "set_mempolicy_home_node",
    // x86 only: port I/O, the local descriptor table, obsolete calls.
    #[cfg(target_arch = "x86_64")] "iopl",
    #[cfg(target_arch = "x86_64")] "ioperm",
    #[cfg(target_arch = "x86_64")] "modify_ldt",
    #[cfg(target_arch = "x86_64")] "uselib",
    #[cfg(target_arch = "x86_64")] "_sysctl",
];

// Kept grouped by reason (rustfmt would give every name its own line).
#[rustfmt::skip]
static NO_NAMESPACES_DENIED: &[&str] = &[
    // A file's mode, owner, times and extended attributes: Landlock does
    // not cover them, and without a mount namespace every file the server
    // can name is the host's (`chmod 777 ~/.ssh`, `chmod u+s` on a file
    // of root's). The filter cannot tell a granted path from another.
    "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "utimensat",
    "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
    #[cfg(target_arch = "x86_64")] "chmod",
    #[cfg(target_arch = "x86_64")] "chown",
    #[cfg(target_arch = "x86_64")] "lchown",
    #[cfg(target_arch = "x86_64")] "utime",
    #[cfg(target_arch = "x86_64")] "utimes",
    #[cfg(target_arch = "x86_64")] "futimesat",
    // The host's System V IPC and POSIX message queues: without an IPC
    // namespace they are the host's, and no path check applies.
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget",
    "semop", "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr",
];

/// The deny list before the profile's changes: name → rule chain, where an
/// empty chain means "whatever the arguments" (seccompiler's convention).
fn default_rules(
    network: NetworkMode,
    namespaces: bool,
) -> Result<BTreeMap<&'static str, Vec<SeccompRule>>, SeccompError> {
    let mut denied: BTreeMap<&str, Vec<SeccompRule>> = DEFAULT_DENIED
        .iter()
        .map(|&name| (name, Vec::new()))
        .collect();
    if !namespaces {
        denied.extend(NO_NAMESPACES_DENIED.iter().map(|&name| (name, Vec::new())));
    }
    denied.insert("memfd_create", memfd_rules()?);
    denied.insert("personality", personality_rules()?);
    let mut ioctl = ioctl_rules()?;
    if !namespaces {
        ioctl.extend(file_attribute_ioctl_rules()?);
    }
    denied.insert("ioctl", ioctl);
    denied.insert("clone", clone_rules()?);
    let mut socket = socket_rules(network, true)?;
    if !namespaces {
        socket.push(rule(vec![cond(
            0,
            SeccompCmpOp::Eq,
            libc::AF_UNIX as u64,
        )?])?);
    }
    denied.insert("socket", socket);
    denied.insert("socketpair", socket_rules(network, false)?);
    Ok(denied)
}

/// A memfd must be created with MFD_NOEXEC_SEAL (Linux 6.3): then it can
/// never be made executable, so no code runs from it by `execveat` or
/// `/proc/self/fd/N`, which Landlock does not stop (a memfd is on an
/// internal filesystem that Landlock lets through). Without the flag, or
/// with MFD_EXEC, the call is denied; older kernels reject the flag, so
/// there memfd_create fails either way.
fn memfd_rules() -> Result<Vec<SeccompRule>, SeccompError> {
    Ok(vec![rule(vec![cond(
        1,
        SeccompCmpOp::MaskedEq(MFD_NOEXEC_SEAL),
        0,
    )?])?])
}

// <linux/memfd.h>; libc does not export it on every target.
const MFD_NOEXEC_SEAL: u64 = 0x0008;

/// The third program: EPERM for a set-user-ID or set-group-ID bit in the
/// mode argument of a call that creates a file or changes its mode. The
/// mode is tested whatever the flags (`open` without O_CREAT ignores it,
/// and libc passes 0 then). The kernel reads the mode as a `umode_t`, so
/// the low 32 bits hold it whole.
fn set_id_rules() -> Result<BTreeMap<c_long, Vec<SeccompRule>>, SeccompError> {
    // (call, index of its mode argument)
    let calls: &[(&str, u8)] = &[
        ("fchmod", 1),
        ("fchmodat", 2),
        ("fchmodat2", 2),
        ("openat", 3),
        ("mknodat", 2),
        #[cfg(target_arch = "x86_64")]
        ("chmod", 1),
        #[cfg(target_arch = "x86_64")]
        ("creat", 1),
        #[cfg(target_arch = "x86_64")]
        ("open", 2),
        #[cfg(target_arch = "x86_64")]
        ("mknod", 1),
    ];
    let bits = [libc::S_ISUID as u64, libc::S_ISGID as u64];
    let mut rules = BTreeMap::new();
    for &(name, arg) in calls {
        let chain = bits
            .iter()
            .map(|&bit| rule(vec![cond(arg, SeccompCmpOp::MaskedEq(bit), bit)?]))
            .collect::<Result<Vec<_>, _>>()?;
        rules.insert(resolve(name)?, chain);
    }
    Ok(rules)
}

/// Only `PER_LINUX` and the query value pass: other personalities turn on
/// READ_IMPLIES_EXEC, disable ASLR, or switch ABI quirks.
fn personality_rules() -> Result<Vec<SeccompRule>, SeccompError> {
    const QUERY: u64 = 0xffff_ffff;
    Ok(vec![rule(vec![
        cond(0, SeccompCmpOp::Ne, 0)?,
        cond(0, SeccompCmpOp::Ne, QUERY)?,
    ])?])
}

// asm-generic's values, shared by x86_64 and aarch64 (libc types them
// differently on glibc and musl).
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541c;

/// TIOCSTI pushes input into a terminal the server shares with the user,
/// and TIOCLINUX can do the same through the console's selection buffer.
fn ioctl_rules() -> Result<Vec<SeccompRule>, SeccompError> {
    [TIOCSTI, TIOCLINUX]
        .into_iter()
        .map(|request| rule(vec![cond(1, SeccompCmpOp::MaskedEq(0xffff_ffff), request)?]))
        .collect()
}

// <linux/fs.h>: _IOW('f', 2, long), _IOW('f', 2, int), _IOW('X', 32,
// struct fsxattr); the same encoding on x86_64 and aarch64.
const FS_IOC_SETFLAGS: u64 = 0x4008_6602;
const FS_IOC32_SETFLAGS: u64 = 0x4004_6602;
const FS_IOC_FSSETXATTR: u64 = 0x401c_5820;

/// Without namespaces: the `chattr` ioctls, which change a file's
/// attribute flags (append-only, no-dump, …) like `chmod` changes its mode,
/// on any file the server can open.
fn file_attribute_ioctl_rules() -> Result<Vec<SeccompRule>, SeccompError> {
    [FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS, FS_IOC_FSSETXATTR]
        .into_iter()
        .map(|request| rule(vec![cond(1, SeccompCmpOp::MaskedEq(0xffff_ffff), request)?]))
        .collect()
}

/// No new namespaces through `clone` (its flags are argument 0 on both
/// architectures). One rule per flag: any one of them set is a match.
fn clone_rules() -> Result<Vec<SeccompRule>, SeccompError> {
    [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWCGROUP,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWTIME,
    ]
    .into_iter()
    .map(|flag| {
        rule(vec![cond(
            0,
            SeccompCmpOp::MaskedEq(flag as u64),
            flag as u64,
        )?])
    })
    .collect()
}

/// `socket` and `socketpair` (argument 0 is the family). AF_UNIX is always
/// allowed, AF_INET and AF_INET6 only with a network; every other family,
/// including those future kernels add, is denied. For `socket` also: raw
/// and packet sockets of the internet families (the kernel turns
/// `AF_INET, SOCK_PACKET` into an AF_PACKET socket) and MPTCP.
fn socket_rules(network: NetworkMode, socket: bool) -> Result<Vec<SeccompRule>, SeccompError> {
    // Kernel constants libc does not export on every target.
    const SOCK_TYPE_MASK: u64 = 0xf;
    const SOCK_PACKET: c_int = 10;

    let inet = network != NetworkMode::None;
    let allowed = |family: c_int| {
        family == libc::AF_UNIX || (inet && (family == libc::AF_INET || family == libc::AF_INET6))
    };
    // AF_INET6 (10) is the highest family that may be allowed; the
    // comparison is unsigned, so negative values are above it too.
    let mut rules = vec![rule(vec![cond(
        0,
        SeccompCmpOp::Gt,
        libc::AF_INET6 as u64,
    )?])?];
    for family in (0..=libc::AF_INET6).filter(|&f| !allowed(f)) {
        rules.push(rule(vec![cond(0, SeccompCmpOp::Eq, family as u64)?])?);
    }
    if socket {
        for family in [libc::AF_INET, libc::AF_INET6] {
            for kind in [libc::SOCK_RAW, SOCK_PACKET] {
                rules.push(rule(vec![
                    cond(0, SeccompCmpOp::Eq, family as u64)?,
                    cond(1, SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK), kind as u64)?,
                ])?);
            }
        }
        rules.push(rule(vec![cond(
            2,
            SeccompCmpOp::Eq,
            libc::IPPROTO_MPTCP as u64,
        )?])?);
    }
    Ok(rules)
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SeccompError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(compile_error)
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, SeccompError> {
    SeccompRule::new(conditions).map_err(compile_error)
}

fn compile_error(e: seccompiler::BackendError) -> SeccompError {
    SeccompError::Compile(e.to_string())
}

fn resolve(name: &str) -> Result<c_long, SeccompError> {
    syscall_number(name).ok_or_else(|| SeccompError::UnknownSyscall {
        name: name.to_owned(),
    })
}

fn match_action(action: SyscallAction) -> SeccompAction {
    match action {
        SyscallAction::Errno => SeccompAction::Errno(libc::EPERM as u32),
        SyscallAction::Kill => SeccompAction::KillProcess,
        SyscallAction::Log => SeccompAction::Log,
    }
}

/// Compiles one seccompiler filter that answers `action` for the listed
/// calls and allows everything else.
fn compile(
    rules: BTreeMap<c_long, Vec<SeccompRule>>,
    action: SeccompAction,
) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, TARGET_ARCH)
        .map_err(compile_error)?;
    let program: BpfProgram = filter.try_into().map_err(compile_error)?;
    // seccompiler defines its own sock_filter with the same C layout.
    Ok(program
        .into_iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect())
}

#[cfg(target_arch = "x86_64")]
const TARGET_ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const TARGET_ARCH: TargetArch = TargetArch::aarch64;

// AUDIT_ARCH_* from <linux/audit.h>: ELF machine | 64-bit | little-endian.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;

/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// Program 1: kill any call that does not use the native ABI.
fn abi_gate() -> Vec<libc::sock_filter> {
    let op = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };

    let mut program = vec![
        op(LOAD, DATA_ARCH, 0, 0),
        op(JEQ, AUDIT_ARCH, 1, 0),
        op(RET, libc::SECCOMP_RET_KILL_PROCESS, 0, 0),
    ];
    // x32 calls arrive with AUDIT_ARCH_X86_64 and __X32_SYSCALL_BIT set in
    // the number. -1 is let through as libseccomp does: it is what a
    // tracer writes to skip a call, and the kernel answers it with ENOSYS.
    #[cfg(target_arch = "x86_64")]
    {
        const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
        const X32_SYSCALL_BIT: u32 = 0x4000_0000;
        program.extend([
            op(LOAD, DATA_NR, 0, 0),
            op(JGE, X32_SYSCALL_BIT, 0, 2),
            op(JEQ, u32::MAX, 1, 0),
            op(RET, libc::SECCOMP_RET_KILL_PROCESS, 0, 0),
        ]);
    }
    program.push(op(RET, libc::SECCOMP_RET_ALLOW, 0, 0));
    program
}

/// `(stringify!(SYS_name), libc::SYS_name)` for each constant.
macro_rules! syscalls {
    ($($constant:ident)*) => { &[$((stringify!($constant), libc::$constant)),*] };
}

/// The names profiles may use, from libc's constants for this target;
/// calls present on both architectures.
static SYSCALLS: &[(&str, c_long)] = syscalls![
    SYS_accept SYS_accept4 SYS_acct SYS_add_key SYS_adjtimex SYS_bind SYS_bpf SYS_brk
    SYS_capget SYS_capset SYS_chdir SYS_chroot SYS_clock_adjtime SYS_clock_getres
    SYS_clock_gettime SYS_clock_nanosleep SYS_clock_settime SYS_clone SYS_clone3 SYS_close
    SYS_close_range SYS_connect SYS_copy_file_range SYS_delete_module SYS_dup SYS_dup3
    SYS_epoll_create1 SYS_epoll_ctl SYS_epoll_pwait SYS_epoll_pwait2 SYS_eventfd2 SYS_execve
    SYS_execveat SYS_exit SYS_exit_group SYS_faccessat SYS_faccessat2 SYS_fadvise64
    SYS_fallocate SYS_fanotify_init SYS_fanotify_mark SYS_fchdir SYS_fchmod SYS_fchmodat
    SYS_fchown SYS_fchownat SYS_fcntl SYS_fdatasync SYS_fgetxattr SYS_finit_module
    SYS_flistxattr SYS_flock SYS_fremovexattr SYS_fsconfig SYS_fsetxattr SYS_fsmount SYS_fsopen
    SYS_fspick SYS_fstat SYS_fstatfs SYS_fsync SYS_ftruncate SYS_futex SYS_futex_waitv
    SYS_get_mempolicy SYS_get_robust_list SYS_getcpu SYS_getcwd SYS_getdents64 SYS_getegid
    SYS_geteuid SYS_getgid SYS_getgroups SYS_getitimer SYS_getpeername SYS_getpgid SYS_getpid
    SYS_getppid SYS_getpriority SYS_getrandom SYS_getresgid SYS_getresuid SYS_getrusage
    SYS_getsid SYS_getsockname SYS_getsockopt SYS_gettid SYS_gettimeofday SYS_getuid
    SYS_getxattr SYS_init_module SYS_inotify_add_watch SYS_inotify_init1 SYS_inotify_rm_watch
    SYS_io_cancel SYS_io_destroy SYS_io_getevents SYS_io_setup SYS_io_submit SYS_io_uring_enter
    SYS_io_uring_register SYS_io_uring_setup SYS_ioctl SYS_ioprio_get SYS_ioprio_set SYS_kcmp
    SYS_kexec_load SYS_keyctl SYS_kill SYS_landlock_add_rule SYS_landlock_create_ruleset
    SYS_landlock_restrict_self SYS_lgetxattr SYS_linkat SYS_listen SYS_listxattr SYS_llistxattr
    SYS_lookup_dcookie SYS_lremovexattr SYS_lseek SYS_lsetxattr SYS_madvise SYS_mbind
    SYS_membarrier SYS_memfd_create SYS_memfd_secret SYS_migrate_pages SYS_mincore SYS_mkdirat
    SYS_mknodat SYS_mlock SYS_mlock2 SYS_mlockall SYS_mmap SYS_mount SYS_mount_setattr
    SYS_move_mount SYS_move_pages SYS_mprotect SYS_mq_getsetattr SYS_mq_notify SYS_mq_open
    SYS_mq_timedreceive SYS_mq_timedsend SYS_mq_unlink SYS_mremap SYS_mseal SYS_msgctl
    SYS_msgget SYS_msgrcv SYS_msgsnd SYS_msync SYS_munlock SYS_munlockall SYS_munmap
    SYS_name_to_handle_at SYS_nanosleep SYS_newfstatat SYS_nfsservctl SYS_open_by_handle_at
    SYS_open_tree SYS_openat SYS_openat2 SYS_perf_event_open SYS_personality SYS_pidfd_getfd
    SYS_pidfd_open SYS_pidfd_send_signal SYS_pipe2 SYS_pivot_root SYS_pkey_alloc SYS_pkey_free
    SYS_pkey_mprotect SYS_ppoll SYS_prctl SYS_pread64 SYS_preadv SYS_preadv2 SYS_prlimit64
    SYS_process_madvise SYS_process_mrelease SYS_process_vm_readv SYS_process_vm_writev
    SYS_pselect6 SYS_ptrace SYS_pwrite64 SYS_pwritev SYS_pwritev2 SYS_quotactl SYS_quotactl_fd
    SYS_read SYS_readahead SYS_readlinkat SYS_readv SYS_reboot SYS_recvfrom SYS_recvmmsg
    SYS_recvmsg SYS_remap_file_pages SYS_removexattr SYS_renameat2 SYS_request_key
    SYS_restart_syscall SYS_rseq SYS_rt_sigaction SYS_rt_sigpending SYS_rt_sigprocmask
    SYS_rt_sigqueueinfo SYS_rt_sigreturn SYS_rt_sigsuspend SYS_rt_sigtimedwait
    SYS_rt_tgsigqueueinfo SYS_sched_get_priority_max SYS_sched_get_priority_min
    SYS_sched_getaffinity SYS_sched_getattr SYS_sched_getparam SYS_sched_getscheduler
    SYS_sched_rr_get_interval SYS_sched_setaffinity SYS_sched_setattr SYS_sched_setparam
    SYS_sched_setscheduler SYS_sched_yield SYS_seccomp SYS_semctl SYS_semget SYS_semop
    SYS_semtimedop SYS_sendfile SYS_sendmmsg SYS_sendmsg SYS_sendto SYS_set_mempolicy
    SYS_set_mempolicy_home_node SYS_set_robust_list SYS_set_tid_address SYS_setdomainname
    SYS_setfsgid SYS_setfsuid SYS_setgid SYS_setgroups SYS_sethostname SYS_setitimer SYS_setns
    SYS_setpgid SYS_setpriority SYS_setregid SYS_setresgid SYS_setresuid SYS_setreuid
    SYS_setsid SYS_setsockopt SYS_settimeofday SYS_setuid SYS_setxattr SYS_shmat SYS_shmctl
    SYS_shmdt SYS_shmget SYS_shutdown SYS_sigaltstack SYS_signalfd4 SYS_socket SYS_socketpair
    SYS_splice SYS_statfs SYS_statx SYS_swapoff SYS_swapon SYS_symlinkat SYS_sync SYS_syncfs
    SYS_sysinfo SYS_syslog SYS_tee SYS_tgkill SYS_timer_create SYS_timer_delete
    SYS_timer_getoverrun SYS_timer_gettime SYS_timer_settime SYS_timerfd_create
    SYS_timerfd_gettime SYS_timerfd_settime SYS_times SYS_tkill SYS_truncate SYS_umask
    SYS_umount2 SYS_uname SYS_unlinkat SYS_unshare SYS_userfaultfd SYS_utimensat SYS_vhangup
    SYS_vmsplice SYS_wait4 SYS_waitid SYS_write SYS_writev
];

/// x86_64's legacy calls, which aarch64 (asm-generic) never had.
#[cfg(target_arch = "x86_64")]
static ARCH_SYSCALLS: &[(&str, c_long)] = syscalls![
    SYS__sysctl SYS_access SYS_afs_syscall SYS_alarm SYS_arch_prctl SYS_chmod SYS_chown
    SYS_creat SYS_dup2 SYS_epoll_create SYS_epoll_ctl_old SYS_epoll_wait SYS_epoll_wait_old
    SYS_eventfd SYS_fchmodat2 SYS_fork SYS_futimesat SYS_get_thread_area SYS_getdents
    SYS_getpgrp SYS_getpmsg SYS_getrlimit SYS_inotify_init SYS_ioperm SYS_iopl
    SYS_kexec_file_load SYS_lchown SYS_link SYS_lstat SYS_mkdir SYS_mknod SYS_modify_ldt
    SYS_open SYS_pause SYS_pipe SYS_poll SYS_putpmsg SYS_readlink SYS_rename SYS_renameat
    SYS_rmdir SYS_security SYS_select SYS_set_thread_area SYS_setrlimit SYS_signalfd SYS_stat
    SYS_symlink SYS_sync_file_range SYS_sysfs SYS_time SYS_tuxcall SYS_unlink SYS_uselib
    SYS_ustat SYS_utime SYS_utimes SYS_vfork SYS_vserver
];

/// Calls newer than libc's tables. Since Linux 5.1 (number 424) every
/// architecture gives a new call the same number.
static UNIFIED_SYSCALLS: &[(&str, c_long)] = &[
    #[cfg(target_arch = "aarch64")]
    ("SYS_fchmodat2", 452),
    ("SYS_setxattrat", 463),
    ("SYS_getxattrat", 464),
    ("SYS_listxattrat", 465),
    ("SYS_removexattrat", 466),
];

#[cfg(all(target_arch = "aarch64", target_env = "gnu"))]
static ARCH_SYSCALLS: &[(&str, c_long)] = syscalls![SYS_kexec_file_load];

// libc has no SYS_kexec_file_load for aarch64 musl; 294 is asm-generic's.
#[cfg(all(target_arch = "aarch64", not(target_env = "gnu")))]
static ARCH_SYSCALLS: &[(&str, c_long)] = &[("SYS_kexec_file_load", 294)];

#[cfg(test)]
#[allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! Each case forks a child that installs the prepared program exactly
    //! as `launch::child` does, makes one system call and reports its errno
    //! in the exit code; the parent asserts on how the child ended.
    //! Under `Kill`, a SIGSYS proves the filter (not the kernel) refused.

    use nix::errno::Errno;
    use nix::sys::signal::Signal;
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    use super::*;

    const SETUP_FAILED: i32 = 255;

    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        Ok,
        Failed(Errno),
        Killed(Signal),
        SetupFailed,
    }

    fn policy(action: SyscallAction, allow: &[&str], deny: &[&str]) -> SyscallPolicy {
        SyscallPolicy {
            action,
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Runs `probe` in a child under the program prepared for `policy`.
    fn run_with(policy: &SyscallPolicy, network: NetworkMode, probe: fn() -> c_long) -> Outcome {
        run_in(policy, network, true, probe)
    }

    /// [`run_with`], choosing whether cordon uses namespaces.
    fn run_in(
        policy: &SyscallPolicy,
        network: NetworkMode,
        namespaces: bool,
        probe: fn() -> c_long,
    ) -> Outcome {
        let prepared = prepare(policy, network, namespaces).expect("prepare");
        run_prepared(&prepared, probe)
    }

    /// Runs `probe` in a child under `prepared`.
    fn run_prepared(prepared: &PreparedSeccomp, probe: fn() -> c_long) -> Outcome {
        // SAFETY: the test binary is multi-threaded; the child only makes
        // raw system calls on memory it already has and leaves with _exit,
        // so it never touches a lock another thread may have held.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => child(prepared, probe),
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, 0) => Outcome::Ok,
                WaitStatus::Exited(_, SETUP_FAILED) => Outcome::SetupFailed,
                WaitStatus::Exited(_, code) => Outcome::Failed(Errno::from_raw(code)),
                WaitStatus::Signaled(_, signal, _) => Outcome::Killed(signal),
                other => panic!("unexpected wait status {other:?}"),
            },
        }
    }

    fn run(action: SyscallAction, network: NetworkMode, probe: fn() -> c_long) -> Outcome {
        run_with(&policy(action, &[], &[]), network, probe)
    }

    /// The child: no core file, no_new_privs, the program, the probe.
    fn child(prepared: &PreparedSeccomp, probe: fn() -> c_long) -> ! {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit and prctl take plain values and a pointer to a
        // live local.
        let ok = unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &no_core) == 0
                && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        };
        if !ok {
            exit(SETUP_FAILED);
        }
        let program = &prepared.program;
        let prog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr().cast_mut(),
        };
        // SAFETY: prog points to a program that outlives the call; the
        // kernel copies it.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret != 0 {
            exit(SETUP_FAILED);
        }
        let ret = probe();
        exit(if ret == -1 { Errno::last_raw() } else { 0 })
    }

    fn exit(code: i32) -> ! {
        // SAFETY: _exit is async-signal-safe and does not return.
        unsafe { libc::_exit(code) }
    }

    /// A raw system call; pointers are passed as integers.
    fn sys(nr: c_long, args: [c_long; 4]) -> c_long {
        // SAFETY: every probe passes null or a pointer to a live local,
        // with the size the call expects.
        unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3]) }
    }

    /// A raw clone with fork semantics; the new process exits at once.
    fn clone_with(flags: c_int) -> c_long {
        let pid = sys(
            libc::SYS_clone,
            [(flags | libc::SIGCHLD) as c_long, 0, 0, 0],
        );
        if pid == 0 {
            exit(0);
        }
        if pid > 0 {
            // SAFETY: waits for the process just created; null status.
            unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
            return 0;
        }
        pid
    }

    fn socket(family: c_int, kind: c_int, protocol: c_int) -> c_long {
        sys(
            libc::SYS_socket,
            [family as c_long, kind as c_long, protocol as c_long, 0],
        )
    }

    const EPERM: Outcome = Outcome::Failed(Errno::EPERM);
    const SIGSYS: Outcome = Outcome::Killed(Signal::SIGSYS);

    /// Asserts that the filter itself refuses `probe`: EPERM under
    /// `Errno`, SIGSYS under `Kill`.
    fn assert_denied(network: NetworkMode, probe: fn() -> c_long) {
        assert_eq!(run(SyscallAction::Errno, network, probe), EPERM);
        assert_eq!(run(SyscallAction::Kill, network, probe), SIGSYS);
    }

    fn ptrace_traceme() -> c_long {
        sys(libc::SYS_ptrace, [libc::PTRACE_TRACEME as c_long, 0, 0, 0])
    }

    /// A classic BPF interpreter over `seccomp_data` for the instructions
    /// cordon's programs use: the answer, and whether the run read
    /// anything but the number and the architecture.
    fn interpret(program: &[libc::sock_filter], nr: u32, args: &[u64; 6]) -> (u32, bool) {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&AUDIT_ARCH.to_le_bytes());
        for (i, arg) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        let (mut a, mut pc, mut other) = (0u32, 0usize, false);
        loop {
            let op = program[pc];
            pc += 1;
            let jump = |taken: bool| usize::from(if taken { op.jt } else { op.jf });
            match op.code {
                LOAD => {
                    let k = op.k as usize;
                    other |= k >= 8;
                    a = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                RET => return (op.k, other),
                JA => pc += op.k as usize,
                JEQ => pc += jump(a == op.k),
                c if c == (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16 => {
                    pc += jump(a >= op.k)
                }
                c if c == (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16 => {
                    pc += jump(a > op.k)
                }
                c if c == (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16 => {
                    pc += jump(a & op.k != 0)
                }
                c if c == (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16 => a &= op.k,
                other => panic!("instruction {other:#x} at {}", pc - 1),
            }
        }
    }

    /// Every program cordon can install, with and without its quick
    /// allow: the same answer for every call number (every number the
    /// gate lets through, and the x32 and -1 edges), under arguments
    /// that reach the argument rules; and the tree lets through only
    /// numbers whose answer is "allow" whatever the arguments (the
    /// program without it reads no argument for them).
    #[test]
    fn the_quick_allow_changes_no_answer() {
        let policies = [
            policy(SyscallAction::Errno, &[], &[]),
            policy(SyscallAction::Kill, &[], &[]),
            policy(SyscallAction::Log, &[], &[]),
            policy(
                SyscallAction::Errno,
                &["ptrace", "clone3", "setxattr"],
                &["getpid", "openat2"],
            ),
        ];
        let patterns: [[u64; 6]; 5] = [
            [0; 6],
            [u64::MAX; 6],
            [1, 1, 1, 1, 1, 1],
            [0x10, 0o6777, 0o6777, 0o4000, 0x2000_0000, 0x7e02_0000],
            [2, 0x0008_0000, 0o2000, 0o2000, 10, 0x5401],
        ];
        let mut checked = 0;
        for policy in &policies {
            for network in [NetworkMode::None, NetworkMode::Loopback, NetworkMode::Host] {
                for namespaces in [true, false] {
                    let mut prepared = prepare(policy, network, namespaces).unwrap();
                    for (answer, paths) in [
                        (DenyAnswer::Action, false),
                        (DenyAnswer::NotifyRefused, false),
                        (DenyAnswer::NotifyContinued, true),
                        (DenyAnswer::Action, true),
                    ] {
                        prepared.relink(answer, paths).unwrap();
                        // The gate's last instruction, linked as a jump on
                        // to the next instruction, is shortened away.
                        let gate = prepared.parts.gate.len() - 1;
                        let program = &prepared.program;
                        assert_eq!(program[gate].code, LOAD, "no quick allow");
                        let end = gate
                            + program[gate..]
                                .iter()
                                .position(|op| op.code == RET)
                                .unwrap()
                            + 1;
                        let plain: Vec<_> = program[..gate]
                            .iter()
                            .chain(&program[end..])
                            .copied()
                            .collect();
                        // The tree alone, with a return where the parts begin.
                        let mut tree = program[gate..end].to_vec();
                        tree.push(libc::sock_filter {
                            code: RET,
                            jt: 0,
                            jf: 0,
                            k: 1,
                        });
                        let numbers = (0..1200u32).chain([0x4000_0000, 0x4000_0001, u32::MAX]);
                        for nr in numbers {
                            let (tree_answer, _) = interpret(&tree, nr, &[0; 6]);
                            let (_, reads_args) = interpret(&plain, nr, &[0; 6]);
                            for args in &patterns {
                                let plain_answer = interpret(&plain, nr, args).0;
                                assert_eq!(
                                    interpret(program, nr, args).0,
                                    plain_answer,
                                    "nr {nr} {args:?}"
                                );
                                if tree_answer == libc::SECCOMP_RET_ALLOW && nr < 0x4000_0000 {
                                    assert_eq!(plain_answer, libc::SECCOMP_RET_ALLOW, "nr {nr}");
                                    assert!(!reads_args, "nr {nr}");
                                }
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 0);
    }

    #[test]
    fn ptrace_is_denied_unless_allowed() {
        assert_denied(NetworkMode::Host, ptrace_traceme);
        let allowed = policy(SyscallAction::Kill, &["ptrace"], &[]);
        assert_eq!(
            run_with(&allowed, NetworkMode::Host, ptrace_traceme),
            Outcome::Ok
        );
    }

    #[test]
    fn log_action_lets_denied_calls_through() {
        assert_eq!(
            run(SyscallAction::Log, NetworkMode::Host, ptrace_traceme),
            Outcome::Ok
        );
    }

    #[test]
    fn new_namespaces_are_denied() {
        assert_denied(NetworkMode::Host, || {
            sys(libc::SYS_unshare, [libc::CLONE_NEWUSER as c_long, 0, 0, 0])
        });
        assert_denied(NetworkMode::Host, || sys(libc::SYS_setns, [-1, 0, 0, 0]));
        assert_denied(NetworkMode::Host, || clone_with(libc::CLONE_NEWUSER));
        assert_denied(NetworkMode::Host, || {
            clone_with(libc::CLONE_NEWNET | libc::CLONE_FILES)
        });
        // A plain fork still works.
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::Host, || clone_with(0)),
            Outcome::Ok
        );
    }

    fn clone3_without_args() -> c_long {
        // Without the filter the kernel rejects a null, zero-sized
        // clone_args with EINVAL (or EFAULT), never ENOSYS.
        sys(libc::SYS_clone3, [0, 0, 0, 0])
    }

    #[test]
    fn clone3_answers_enosys_unless_named() {
        for action in [
            SyscallAction::Errno,
            SyscallAction::Kill,
            SyscallAction::Log,
        ] {
            assert_eq!(
                run(action, NetworkMode::Host, clone3_without_args),
                Outcome::Failed(Errno::ENOSYS)
            );
        }
        let allowed = policy(SyscallAction::Kill, &["clone3"], &[]);
        let outcome = run_with(&allowed, NetworkMode::Host, clone3_without_args);
        assert!(
            matches!(outcome, Outcome::Failed(Errno::EINVAL | Errno::EFAULT)),
            "{outcome:?}"
        );
        let denied = policy(SyscallAction::Kill, &[], &["clone3"]);
        assert_eq!(
            run_with(&denied, NetworkMode::Host, clone3_without_args),
            SIGSYS
        );
    }

    #[test]
    fn terminal_injection_ioctls_are_denied() {
        // fd -1: should the filter miss, the kernel answers EBADF and
        // nothing reaches a terminal.
        assert_denied(NetworkMode::Host, || {
            sys(libc::SYS_ioctl, [-1, libc::TIOCSTI as c_long, 0, 0])
        });
        assert_denied(NetworkMode::Host, || {
            sys(libc::SYS_ioctl, [-1, libc::TIOCLINUX as c_long, 0, 0])
        });
        // The kernel reads only the low 32 bits of the request.
        assert_denied(NetworkMode::Host, || {
            sys(
                libc::SYS_ioctl,
                [-1, 0x1_0000_0000 | libc::TIOCSTI as c_long, 0, 0],
            )
        });
        let harmless: [fn() -> c_long; 2] = [
            || sys(libc::SYS_ioctl, [-1, libc::FIONREAD as c_long, 0, 0]),
            || sys(libc::SYS_ioctl, [-1, libc::TCGETS as c_long, 0, 0]),
        ];
        for probe in harmless {
            let outcome = run(SyscallAction::Kill, NetworkMode::Host, probe);
            assert_eq!(outcome, Outcome::Failed(Errno::EBADF));
        }
    }

    #[test]
    fn personality_allows_only_linux_and_query() {
        let query = || sys(libc::SYS_personality, [0xffff_ffff, 0, 0, 0]);
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::Host, query),
            Outcome::Ok
        );
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::Host, || sys(
                libc::SYS_personality,
                [0, 0, 0, 0]
            )),
            Outcome::Ok
        );
        assert_denied(NetworkMode::Host, || {
            sys(
                libc::SYS_personality,
                [libc::ADDR_NO_RANDOMIZE as c_long, 0, 0, 0],
            )
        });
    }

    #[test]
    fn internet_sockets_follow_the_network_mode() {
        let tcp = || socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let udp6 = || socket(libc::AF_INET6, libc::SOCK_DGRAM, 0);
        assert_denied(NetworkMode::None, tcp);
        assert_denied(NetworkMode::None, udp6);
        for network in [NetworkMode::Loopback, NetworkMode::Host] {
            assert_eq!(run(SyscallAction::Kill, network, tcp), Outcome::Ok);
            let outcome = run(SyscallAction::Kill, network, udp6);
            // A host without IPv6 answers EAFNOSUPPORT; the filter let it through.
            assert!(
                matches!(outcome, Outcome::Ok | Outcome::Failed(Errno::EAFNOSUPPORT)),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn unix_sockets_are_always_allowed() {
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::None, || socket(
                libc::AF_UNIX,
                libc::SOCK_STREAM,
                0
            )),
            Outcome::Ok
        );
        let pair = || {
            let mut fds = [0 as c_int; 2];
            let args = [
                libc::AF_UNIX as c_long,
                libc::SOCK_STREAM as c_long,
                0,
                fds.as_mut_ptr() as c_long,
            ];
            sys(libc::SYS_socketpair, args)
        };
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::None, pair),
            Outcome::Ok
        );
    }

    #[test]
    fn other_families_are_denied() {
        assert_denied(NetworkMode::Host, || {
            socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
        });
        assert_denied(NetworkMode::Host, || {
            socket(libc::AF_PACKET, libc::SOCK_RAW, 0)
        });
        assert_denied(NetworkMode::Host, || {
            socket(libc::AF_ALG, libc::SOCK_SEQPACKET, 0)
        });
        assert_denied(NetworkMode::Host, || {
            socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0)
        });
        assert_denied(NetworkMode::Host, || {
            socket(libc::AF_UNSPEC, libc::SOCK_STREAM, 0)
        });
        // Families the kernel does not know yet, and negative ones.
        assert_denied(NetworkMode::Host, || socket(200, libc::SOCK_STREAM, 0));
        assert_denied(NetworkMode::Host, || socket(-1, libc::SOCK_STREAM, 0));
        assert_denied(NetworkMode::Host, || {
            let mut fds = [0 as c_int; 2];
            let args = [
                libc::AF_NETLINK as c_long,
                libc::SOCK_RAW as c_long,
                0,
                fds.as_mut_ptr() as c_long,
            ];
            sys(libc::SYS_socketpair, args)
        });
    }

    #[test]
    fn raw_packet_and_mptcp_sockets_are_denied_with_a_network() {
        assert_denied(NetworkMode::Host, || {
            socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)
        });
        assert_denied(NetworkMode::Host, || {
            socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)
        });
        assert_denied(NetworkMode::Host, || socket(libc::AF_INET, 10, 0x0300));
        assert_denied(NetworkMode::Host, || {
            socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_MPTCP)
        });
        // The kernel reads the protocol as an int: high bits change nothing.
        assert_denied(NetworkMode::Host, || {
            sys(
                libc::SYS_socket,
                [
                    libc::AF_INET as c_long,
                    libc::SOCK_STREAM as c_long,
                    0x1_0000_0000 | 262,
                    0,
                ],
            )
        });
        let ping = || socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK, 0);
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::Host, ping),
            Outcome::Ok
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_calls_kill_the_process_whatever_the_action() {
        const X32: c_long = 0x4000_0000;
        for action in [SyscallAction::Errno, SyscallAction::Log] {
            assert_eq!(
                run(action, NetworkMode::Host, || sys(
                    X32 | libc::SYS_getpid,
                    [0; 4]
                )),
                SIGSYS
            );
            assert_eq!(
                run(action, NetworkMode::Host, || sys(libc::SYS_getpid, [0; 4])),
                Outcome::Ok
            );
        }
        // -1 (a tracer's "skip this call") passes to the kernel's ENOSYS.
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::Host, || sys(-1, [0; 4])),
            Outcome::Failed(Errno::ENOSYS)
        );
    }

    fn getcwd() -> c_long {
        let mut buf = [0u8; 512];
        sys(
            libc::SYS_getcwd,
            [buf.as_mut_ptr() as c_long, buf.len() as c_long, 0, 0],
        )
        .min(0)
    }

    #[test]
    fn profile_deny_adds_denials() {
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::Host, getcwd),
            Outcome::Ok
        );
        let denied = policy(SyscallAction::Errno, &[], &["getcwd"]);
        assert_eq!(run_with(&denied, NetworkMode::Host, getcwd), EPERM);
        let killed = policy(SyscallAction::Kill, &[], &["getcwd"]);
        assert_eq!(run_with(&killed, NetworkMode::Host, getcwd), SIGSYS);
    }

    #[test]
    fn profile_allow_lifts_argument_rules() {
        let allowed = policy(SyscallAction::Kill, &["socket"], &[]);
        let netlink = || socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE);
        assert_eq!(run_with(&allowed, NetworkMode::None, netlink), Outcome::Ok);
    }

    #[test]
    fn unknown_names_are_errors() {
        for p in [
            policy(SyscallAction::Errno, &["no_such_call"], &[]),
            policy(SyscallAction::Errno, &[], &["SYS_getpid"]),
        ] {
            let err = prepare(&p, NetworkMode::None, true).unwrap_err();
            assert!(matches!(err, SeccompError::UnknownSyscall { .. }), "{err}");
        }
        assert!(
            prepare(
                &policy(SyscallAction::Errno, &["getpid"], &["getcwd"]),
                NetworkMode::None,
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn name_table_resolves_every_rule() {
        assert_eq!(syscall_number("getpid"), Some(libc::SYS_getpid));
        assert_eq!(
            syscall_number("kexec_file_load"),
            Some(libc::SYS_kexec_file_load)
        );
        assert_eq!(syscall_number("getpid2"), None);
        assert_eq!(
            [TIOCSTI as c_long, TIOCLINUX as c_long],
            [libc::TIOCSTI as c_long, libc::TIOCLINUX as c_long]
        );
        assert_eq!(
            [FS_IOC_SETFLAGS as c_long, FS_IOC32_SETFLAGS as c_long],
            [
                libc::FS_IOC_SETFLAGS as c_long,
                libc::FS_IOC32_SETFLAGS as c_long
            ]
        );
        // _IOW('X', 32, struct fsxattr), the struct 28 bytes.
        assert_eq!(
            FS_IOC_FSSETXATTR,
            1 << 30 | 28 << 16 | (b'X' as u64) << 8 | 32
        );
        for name in default_denied().iter().chain(&[
            "personality",
            "ioctl",
            "clone",
            "clone3",
            "socket",
            "socketpair",
            "memfd_create",
            "openat2",
            "fchmodat2",
        ]) {
            assert!(syscall_number(name).is_some(), "{name}");
        }
        for name in no_namespaces_denied()
            .iter()
            .chain(ANSWERED.iter().map(|(name, _)| name))
        {
            assert!(syscall_number(name).is_some(), "{name}");
        }
        assert!(!default_denied().iter().any(|n| n.starts_with("landlock")));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(syscall_number("fchmodat2"), Some(libc::SYS_fchmodat2));
    }

    #[test]
    fn the_searched_tables_are_sorted_and_every_name_is_found() {
        for table in [SYSCALLS, ARCH_SYSCALLS] {
            for pair in table.windows(2) {
                assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
            }
        }
        for &(constant, nr) in SYSCALLS.iter().chain(ARCH_SYSCALLS).chain(UNIFIED_SYSCALLS) {
            let name = constant.strip_prefix("SYS_").unwrap();
            assert_eq!(syscall_number(name), Some(nr), "{name}");
        }
        for missing in ["", "a", "zzz", "SYS_read", "read "] {
            assert_eq!(syscall_number(missing), None, "{missing:?}");
        }
    }

    /// The parts linked as `relink` links them (before [`shorten`]).
    fn linked(prepared: &PreparedSeccomp) -> Vec<libc::sock_filter> {
        let parts = &prepared.parts;
        let mut all: Vec<&[libc::sock_filter]> = vec![&parts.gate, &parts.deny];
        all.extend(parts.answers.iter().map(Vec::as_slice));
        with_quick_allow(
            link(&all).unwrap(),
            parts.gate.len(),
            parts.examined.clone(),
        )
    }

    #[test]
    fn one_program_of_linked_parts() {
        let prepared = prepare(
            &policy(SyscallAction::Errno, &[], &[]),
            NetworkMode::None,
            true,
        )
        .unwrap();
        let p = &prepared.program;
        assert!(!p.is_empty() && p.len() <= MAX_PROGRAM);
        // Only the last part's allow is a return; the others jump on.
        let linked = linked(&prepared);
        let allows = linked
            .iter()
            .filter(|op| op.code == RET && op.k == libc::SECCOMP_RET_ALLOW)
            .count();
        let jumps = linked.iter().filter(|op| op.code == JA).count();
        assert!(allows >= 1 && jumps >= 4, "{allows} {jumps}");
        assert!(matches!(p.last(), Some(op) if op.code == RET));
        let no_clone3 = prepare(
            &policy(SyscallAction::Errno, &["clone3"], &[]),
            NetworkMode::None,
            true,
        )
        .unwrap();
        assert!(no_clone3.program.len() < prepared.program.len());
        assert!(!prepared.listener);
    }

    /// Every jump of the linked program lands inside it, and the program
    /// ends in a return (what the kernel's checker demands).
    fn assert_well_formed(program: &[libc::sock_filter]) {
        for (at, op) in program.iter().enumerate() {
            let targets: Vec<usize> = if op.code == JA {
                vec![at + 1 + op.k as usize]
            } else if op.code & 0x07 == libc::BPF_JMP as u16 {
                vec![at + 1 + usize::from(op.jt), at + 1 + usize::from(op.jf)]
            } else {
                Vec::new()
            };
            for t in targets {
                assert!(
                    t < program.len(),
                    "jump at {at} to {t} of {}",
                    program.len()
                );
            }
        }
        assert!(matches!(program.last(), Some(op) if op.code == RET));
    }

    /// Every call number a program may look at, and argument values
    /// around every constant it compares with or masks by: the inputs on
    /// which two programs built from the same rules could differ.
    fn probe_inputs(program: &[libc::sock_filter]) -> (Vec<u32>, Vec<u64>) {
        let mut numbers: Vec<u32> = (0..=600).collect();
        numbers.extend([0x4000_0000, 0x4000_0001, u32::MAX - 1, u32::MAX]);
        let mut values = vec![0u64, 1, u64::from(u32::MAX), u64::MAX];
        for op in program {
            if op.code & 0x07 == libc::BPF_JMP as u16 || op.code & 0x07 == libc::BPF_ALU as u16 {
                let k = u64::from(op.k);
                numbers.extend([op.k, op.k.wrapping_add(1)]);
                values.extend([k, k.wrapping_sub(1), k + 1, k << 32, !k]);
            }
        }
        numbers.sort_unstable();
        numbers.dedup();
        values.sort_unstable();
        values.dedup();
        (numbers, values)
    }

    /// What [`shorten`] drops never changes an answer: the shortened and
    /// the linked program answer alike (and load alike) for every call
    /// number they look at and for argument values around every constant
    /// they hold, in every mode; and the shortened program is well formed
    /// and at least a third shorter.
    #[test]
    fn shortened_programs_answer_as_the_linked_ones() {
        for action in [
            SyscallAction::Errno,
            SyscallAction::Log,
            SyscallAction::Kill,
        ] {
            for network in [NetworkMode::None, NetworkMode::Host] {
                let p = policy(action, &["ptrace"], &["openat2"]);
                let mut prepared = prepare(&p, network, true).unwrap();
                for step in 0..3 {
                    match step {
                        1 => prepared.report_denials().unwrap(),
                        2 => prepared.notify().unwrap(),
                        _ => {}
                    }
                    let (long, short) = (linked(&prepared), shorten(&linked(&prepared)));
                    assert_well_formed(&short);
                    assert!(
                        short.len() * 3 <= long.len() * 2,
                        "{} of {}",
                        short.len(),
                        long.len()
                    );
                    let (numbers, values) = probe_inputs(&long);
                    for &nr in &numbers {
                        let mut args = [0u64; 6];
                        let answer = interpret(&long, nr, &args);
                        assert_eq!(answer, interpret(&short, nr, &args), "call {nr}");
                        // Arguments matter only to a call whose answer
                        // reads them.
                        if !answer.1 {
                            continue;
                        }
                        for slot in 0..6 {
                            for &v in &values {
                                args = [0; 6];
                                args[slot] = v;
                                assert_eq!(
                                    interpret(&long, nr, &args),
                                    interpret(&short, nr, &args),
                                    "call {nr}, argument {slot} = {v:#x}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// A conditional jump whose chain of `JA`s ends beyond its 8-bit reach
    /// keeps its first `JA`; unreachable code goes, a reachable `JA` stays.
    #[test]
    fn shorten_keeps_jumps_it_cannot_reach_past() {
        let op = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };
        let far = 300;
        let mut program = vec![
            op(LOAD, DATA_NR, 0, 0),
            op(JEQ, 1, 0, 1),
            op(JA, far, 0, 0),
            op(RET, libc::SECCOMP_RET_ERRNO | 1, 0, 0),
            op(RET, libc::SECCOMP_RET_ALLOW, 0, 0),
        ];
        for _ in 0..far {
            program.push(op(RET, libc::SECCOMP_RET_KILL_PROCESS, 0, 0));
        }
        program.push(op(RET, libc::SECCOMP_RET_LOG, 0, 0));
        // The JA lands on the last return.
        program[2].k = (program.len() - 1 - 3) as u32;
        let short = shorten(&program);
        assert_well_formed(&short);
        for nr in 0..3 {
            assert_eq!(
                interpret(&program, nr, &[0; 6]),
                interpret(&short, nr, &[0; 6])
            );
        }
        // The JA stays; the returns nothing reaches any more are dropped.
        assert_eq!(short.len(), 5, "{short:?}");
        assert_eq!(short[2].code, JA);
        assert_eq!(short[4].k, libc::SECCOMP_RET_LOG);
    }

    #[test]
    fn linked_programs_are_well_formed_in_every_mode() {
        for action in [
            SyscallAction::Errno,
            SyscallAction::Log,
            SyscallAction::Kill,
        ] {
            for namespaces in [true, false] {
                let p = policy(action, &[], &["openat2"]);
                let mut prepared = prepare(&p, NetworkMode::Host, namespaces).unwrap();
                assert_well_formed(&prepared.program);
                prepared.report_denials().unwrap();
                assert_well_formed(&prepared.program);
                assert_eq!(prepared.listener, action == SyscallAction::Errno);
                prepared.notify().unwrap();
                assert_well_formed(&prepared.program);
                assert!(prepared.listener && prepared.observes_paths());
            }
        }
    }

    /// The deny list's refusal under `errno`: the same errno as when the
    /// parts were separate filters (the deny list, installed last, won
    /// among errno answers), and under `kill` and `log` the kernel's
    /// order too: kill beats ENOSYS, ENOSYS beats log.
    #[test]
    fn a_call_in_two_parts_gets_the_kernels_answer() {
        let openat2 = || {
            let how = [libc::O_RDONLY as u64, 0, 0];
            let args = [
                libc::AT_FDCWD as c_long,
                MISSING.as_ptr() as c_long,
                how.as_ptr() as c_long,
                std::mem::size_of_val(&how) as c_long,
            ];
            sys(libc::SYS_openat2, args)
        };
        let denied = |action| policy(action, &[], &["openat2"]);
        assert_eq!(
            run_with(&denied(SyscallAction::Errno), NetworkMode::None, openat2),
            EPERM
        );
        assert_eq!(
            run_with(&denied(SyscallAction::Kill), NetworkMode::None, openat2),
            SIGSYS
        );
        assert_eq!(
            run_with(&denied(SyscallAction::Log), NetworkMode::None, openat2),
            Outcome::Failed(Errno::ENOSYS)
        );
        // Set-ID under a deny list that kills the same call: killed.
        let setid = || at_call(libc::SYS_fchmodat, 0o4755);
        let killed = policy(SyscallAction::Kill, &[], &["fchmodat"]);
        assert_eq!(run_with(&killed, NetworkMode::None, setid), SIGSYS);
    }

    /// Under `--explain` the path calls are notified and then continued
    /// by the notifier: the set-ID check must answer first. Without a
    /// listener a notification gets ENOSYS, so EPERM proves the errno
    /// part answered before the path part was reached.
    #[test]
    fn set_id_is_refused_before_a_path_call_is_notified() {
        let mut prepared = prepare(
            &policy(SyscallAction::Errno, &[], &[]),
            NetworkMode::None,
            true,
        )
        .unwrap();
        prepared.notify().unwrap();
        let create = || {
            let flags = (libc::O_CREAT | libc::O_WRONLY) as c_long;
            let path = MISSING.as_ptr() as c_long;
            sys(
                libc::SYS_openat,
                [libc::AT_FDCWD as c_long, path, flags, 0o4755],
            )
        };
        assert_eq!(run_prepared(&prepared, create), EPERM);
        // The control: a plain open reaches the (absent) notifier.
        let open = || at_call(libc::SYS_openat, 0);
        assert_eq!(
            run_prepared(&prepared, open),
            Outcome::Failed(Errno::ENOSYS)
        );
        // A call of the deny list is notified too, before the fixed
        // answers: ENOSYS from the missing listener, not EPERM.
        assert_eq!(
            run_prepared(&prepared, ptrace_traceme),
            Outcome::Failed(Errno::ENOSYS)
        );
    }

    /// A path that does not exist: should the filter let a call through,
    /// the kernel answers ENOENT, never EPERM, and changes nothing.
    const MISSING: &std::ffi::CStr = c"/nonexistent-cordon-test/file";

    fn path_call(nr: c_long, mode: c_long) -> c_long {
        sys(nr, [MISSING.as_ptr() as c_long, mode, 0, 0])
    }

    fn at_call(nr: c_long, mode: c_long) -> c_long {
        sys(
            nr,
            [
                libc::AT_FDCWD as c_long,
                MISSING.as_ptr() as c_long,
                mode,
                0,
            ],
        )
    }

    #[test]
    fn set_id_modes_are_denied_whatever_the_action() {
        let probes: [fn() -> c_long; 8] = [
            || sys(libc::SYS_fchmod, [-1, 0o4755, 0, 0]),
            || sys(libc::SYS_fchmod, [-1, 0o2755, 0, 0]),
            || at_call(libc::SYS_fchmodat, 0o6755),
            || at_call(syscall_number("fchmodat2").unwrap_or(452), 0o4700),
            || at_call(libc::SYS_mknodat, (libc::S_IFREG | 0o4755) as c_long),
            || {
                let flags = (libc::O_CREAT | libc::O_WRONLY) as c_long;
                let path = MISSING.as_ptr() as c_long;
                sys(
                    libc::SYS_openat,
                    [libc::AT_FDCWD as c_long, path, flags, 0o4755],
                )
            },
            // High bits above the kernel's umode_t change nothing.
            || sys(libc::SYS_fchmod, [-1, 0x1_0000_0000 | 0o4755, 0, 0]),
            || {
                let flags = (libc::O_TMPFILE | libc::O_WRONLY) as c_long;
                sys(
                    libc::SYS_openat,
                    [
                        libc::AT_FDCWD as c_long,
                        c"/".as_ptr() as c_long,
                        flags,
                        0o2755,
                    ],
                )
            },
        ];
        for probe in probes {
            for action in [SyscallAction::Log, SyscallAction::Kill] {
                assert_eq!(run(action, NetworkMode::None, probe), EPERM);
            }
            // Lifting the call from the deny list leaves the mode rule.
            let allowed = policy(
                SyscallAction::Kill,
                &["fchmod", "fchmodat", "fchmodat2", "openat"],
                &[],
            );
            assert_eq!(run_in(&allowed, NetworkMode::None, false, probe), EPERM);
        }
        // The same calls with a plain mode reach the kernel.
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::None, || sys(
                libc::SYS_fchmod,
                [-1, 0o1777, 0, 0]
            )),
            Outcome::Failed(Errno::EBADF)
        );
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::None, || at_call(
                libc::SYS_fchmodat,
                0o755
            )),
            Outcome::Failed(Errno::ENOENT)
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn set_id_modes_are_denied_in_legacy_calls() {
        let probes: [fn() -> c_long; 4] = [
            || path_call(libc::SYS_chmod, 0o4755),
            || path_call(libc::SYS_creat, 0o2755),
            || {
                sys(
                    libc::SYS_open,
                    [
                        MISSING.as_ptr() as c_long,
                        libc::O_CREAT as c_long,
                        0o4755,
                        0,
                    ],
                )
            },
            || path_call(libc::SYS_mknod, (libc::S_IFREG | 0o2755) as c_long),
        ];
        for probe in probes {
            assert_eq!(run(SyscallAction::Kill, NetworkMode::None, probe), EPERM);
        }
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::None, || path_call(
                libc::SYS_creat,
                0o755
            )),
            Outcome::Failed(Errno::ENOENT)
        );
    }

    #[test]
    fn openat2_answers_enosys() {
        let probe = || {
            // struct open_how: flags, mode, resolve.
            let how = [(libc::O_CREAT | libc::O_WRONLY) as u64, 0o4755, 0];
            let args = [
                libc::AT_FDCWD as c_long,
                MISSING.as_ptr() as c_long,
                how.as_ptr() as c_long,
                std::mem::size_of_val(&how) as c_long,
            ];
            sys(libc::SYS_openat2, args)
        };
        for action in [SyscallAction::Errno, SyscallAction::Kill] {
            assert_eq!(
                run(action, NetworkMode::None, probe),
                Outcome::Failed(Errno::ENOSYS)
            );
        }
    }

    fn memfd(flags: c_long) -> c_long {
        sys(
            libc::SYS_memfd_create,
            [c"t".as_ptr() as c_long, flags, 0, 0],
        )
        .min(0)
    }

    #[test]
    fn memfds_must_be_sealed_against_execution() {
        let plain: fn() -> c_long = || memfd(libc::MFD_CLOEXEC as c_long);
        let exec: fn() -> c_long = || memfd(0x10);
        assert_denied(NetworkMode::None, plain);
        assert_denied(NetworkMode::None, exec);
        let sealed = || memfd((libc::MFD_CLOEXEC | 0x8) as c_long);
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::None, sealed),
            Outcome::Ok
        );
        let allowed = policy(SyscallAction::Kill, &["memfd_create"], &[]);
        assert_eq!(run_with(&allowed, NetworkMode::None, plain), Outcome::Ok);
    }

    #[test]
    fn extended_attribute_writes_are_denied() {
        let probe = || {
            let value = b"x";
            sys(
                libc::SYS_setxattr,
                [
                    MISSING.as_ptr() as c_long,
                    c"security.capability".as_ptr() as c_long,
                    value.as_ptr() as c_long,
                    1,
                ],
            )
        };
        for action in [SyscallAction::Errno, SyscallAction::Kill] {
            assert_eq!(
                run(action, NetworkMode::None, probe),
                Outcome::Failed(Errno::EOPNOTSUPP)
            );
        }
        // Named in `allow`, it reaches the kernel; in `deny`, it gets the
        // profile's action.
        let allowed = policy(SyscallAction::Kill, &["setxattr"], &[]);
        let outcome = run_with(&allowed, NetworkMode::None, probe);
        // The kernel checks the value (EINVAL) or the path (ENOENT).
        assert!(
            matches!(outcome, Outcome::Failed(Errno::EINVAL | Errno::ENOENT)),
            "{outcome:?}"
        );
        let denied = policy(SyscallAction::Kill, &[], &["setxattr"]);
        assert_eq!(run_with(&denied, NetworkMode::None, probe), SIGSYS);
        // Reading attributes stays.
        let read = || {
            let mut buf = [0u8; 16];
            let args = [
                MISSING.as_ptr() as c_long,
                c"user.x".as_ptr() as c_long,
                buf.as_mut_ptr() as c_long,
                16,
            ];
            sys(libc::SYS_getxattr, args)
        };
        assert_eq!(
            run(SyscallAction::Kill, NetworkMode::None, read),
            Outcome::Failed(Errno::ENOENT)
        );
    }

    #[test]
    fn metadata_and_host_ipc_are_denied_without_namespaces() {
        let probes: [fn() -> c_long; 8] = [
            || at_call(libc::SYS_fchmodat, 0o777),
            || sys(libc::SYS_fchown, [-1, 0, 0, 0]),
            || {
                let args = [libc::AT_FDCWD as c_long, MISSING.as_ptr() as c_long, 0, 0];
                sys(libc::SYS_utimensat, args)
            },
            || {
                sys(
                    libc::SYS_fremovexattr,
                    [-1, c"user.x".as_ptr() as c_long, 0, 0],
                )
            },
            || sys(libc::SYS_shmget, [0x0c0d_0e0f, 0, 0, 0]),
            || sys(libc::SYS_ioctl, [-1, FS_IOC_SETFLAGS as c_long, 0, 0]),
            || sys(libc::SYS_msgget, [0x0c0d_0e0f, 0, 0, 0]),
            || {
                sys(
                    libc::SYS_mq_open,
                    [c"cordon-test-missing".as_ptr() as c_long, 0, 0, 0],
                )
            },
        ];
        let errno = policy(SyscallAction::Errno, &[], &[]);
        for probe in probes {
            assert_eq!(run_in(&errno, NetworkMode::None, false, probe), EPERM);
            let outcome = run_in(&errno, NetworkMode::None, true, probe);
            assert!(
                matches!(outcome, Outcome::Failed(e) if e != Errno::EPERM),
                "{outcome:?}"
            );
        }
        // A profile may lift one of them.
        let allowed = policy(SyscallAction::Errno, &["fchmodat"], &[]);
        assert_eq!(
            run_in(&allowed, NetworkMode::None, false, probes[0]),
            Outcome::Failed(Errno::ENOENT)
        );
    }
}
