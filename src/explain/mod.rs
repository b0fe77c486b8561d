//! Explaining refusals: every access the sandbox refuses, as a record
//! ([`Refusal`]) that says what was asked for, which layer refused it and
//! which change of the profile would allow it, or why none can.
//!
//! `cordon run --explain` (and `vet --explain`) prints each distinct
//! refusal on stderr, one line each (see [`Refusal::line`]); `profile
//! learn` reads the same records at the end ([`Explainer::refusals`]).
//! Nothing here grants anything: the records describe what the kernel and
//! the egress filter already decided.
//!
//! # Where the records come from
//!
//! - **System calls the seccomp deny list refuses.** The deny list
//!   answers with `SECCOMP_RET_USER_NOTIF` instead of an errno (also
//!   without `--explain`, see below);
//!   cordon's supervisor thread reads each notification, records the call
//!   by name and answers it with the profile's errno. The advice is the
//!   call's `allow` entry of `[seccomp]`, unless the call is refused
//!   because of a setting elsewhere (an internet socket under network
//!   mode `none`, host IPC without namespaces; see `advice`). The server sees
//!   exactly what it sees without `--explain`. (A profile whose action
//!   kills the process keeps killing it: such a call is reported by layer
//!   only, from the exit status.)
//! - **Paths.** A second program sends the path system calls (`open`,
//!   `openat`, `creat`, `execve`, `execveat`, `mkdir*`, `mknod*`,
//!   `unlink*`, `rmdir`, `rename*`, `link*`, `symlink*`, `truncate`)
//!   to the same supervisor, which reads the path from the caller's
//!   memory (`process_vm_readv`), makes it absolute against the caller's
//!   `/proc/PID/cwd` or directory descriptor, and answers
//!   `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the kernel then runs the call
//!   and Landlock and the mount view decide, exactly as without
//!   `--explain`. The continued call's result is not visible to a
//!   supervisor, so whether it was refused is judged by the supervisor
//!   against the same resolved grants Landlock was built from and the
//!   table of protected paths (`judge`). The judgement can err only
//!   towards silence or a spurious line; it never changes what the
//!   server may do.
//! - **Egress.** The forwarder (a process of its own) sends each
//!   refusal of the egress filter to cordon as a JSON line over a pipe
//!   attached to its configuration (`egress::Refused`: destination,
//!   reason, and the `allow` entry of `[network]` that reaches it or why
//!   none can); a thread of cordon's turns them into [`Access::Connect`]
//!   or [`Access::Resolve`] records of layer [`Layer::Egress`]
//!   (`egress`). Loopback, private ranges and the host's own addresses
//!   are reached only by an entry naming the address, so that is the
//!   entry suggested for them, also when a name resolved there. A name
//!   lookup does not say the port: the suggestion assumes 443. Without
//!   `--explain` the forwarder prints its own line per refusal, as
//!   before; with it, only the record's line is printed.
//!
//! The notifier needs seccomp user notification with
//! `SECCOMP_USER_NOTIF_FLAG_CONTINUE` (Linux 5.5) and an unprivileged
//! `process_vm_readv` of one's own child (the same user; Yama's ptrace
//! scope 1 allows a direct ancestor, scopes 2 and 3 do not). The server
//! makes itself dumpable before it installs the listener, so that the
//! calls it makes before `execve` (it is a copy of the undumpable init
//! until then) can be read too. Without a listener (no seccomp layer)
//! `--explain` says in one line that refusals are reported by layer only;
//! `cordon doctor` says which mechanism this machine has. It works for an unprivileged user with any Landlock ABI:
//! Landlock's own audit records (ABI 7) need the audit log, which only
//! root reads.
//!
//! Actions other than `errno`: under `action = "log"` the deny list's
//! calls are notified too and answered "continue" (what log does), and
//! reported with layer [`Layer::SeccompLog`] ("allowed this time");
//! under `kill` they stay in the kernel, since a notifier that failed to
//! kill would fail open, and `run --explain` notes a server killed by
//! SIGSYS at its exit.
//!
//! # Without `--explain`
//!
//! A plain `run` observes no path call: the launch and relay benchmarks
//! are its contract. Decided, and why:
//!
//! - Seccomp refusals are one line each, as with `--explain`: under
//!   action `errno` the deny list answers `SECCOMP_RET_USER_NOTIF` and the
//!   same supervisor answers every notification with the errno (it never
//!   continues one: a notifier that cannot decide refuses; if cordon is
//!   gone the kernel answers ENOSYS, also a refusal). It costs nothing per
//!   allowed call: the deny list was already in the program. What it
//!   costs per launch is a socket pair and one message for the
//!   listener's handover; `run`'s session loop polls the listener next
//!   to its other descriptors (`notify::Polled`), so no thread is added
//!   (`vet`, which has no such loop, answers from a thread). Under action `kill` the call stays in
//!   the kernel (reported from the exit status); under `log` it runs and
//!   the kernel's audit log has it, which is what the profile asked for,
//!   so nothing is printed: notifying every logged call would cost a
//!   round trip through cordon for a call that is allowed.
//! - Filesystem refusals cannot be observed without `--explain`:
//!   Landlock and the mount view refuse in the kernel, which counts
//!   nothing cordon can read afterwards (Landlock's audit records need
//!   ABI 7 and the audit log, which only root reads). When the server
//!   exits non-zero, `run` takes the paths its own error messages name
//!   (`named`: the relay of its stderr collects them from every line as
//!   it passes, the first 64 distinct ones, counting the rest), judges
//!   them against the grants, and prints how many the profile does not
//!   grant, the first few with their change (or why none can), and the
//!   pointer to `--explain`.
//!
//! With `--explain`, a server that exits non-zero after refusals gets
//! one more line: how many distinct refusals, by layer, pointing at the
//! lines above (they may be far up, among the server's own output).
//! - Egress refusals are one line each, printed by the forwarder, with
//!   the filter's reason.

pub mod advice;
pub mod egress;
pub mod judge;
pub mod named;
pub mod notify;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Which mechanism `--explain` has on this machine, for `cordon doctor`:
/// Ok with a description, or Err with why refusals are reported by layer
/// only. Tries it: a throwaway child installs a filter with a listener.
pub fn mechanism() -> Result<String, String> {
    let allow = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    }];
    // The child only makes system calls (prepared above) and exits.
    let pid = crate::sys::clone_fork(0).map_err(|e| format!("fork: {}", e.desc()))?;
    if pid == 0 {
        let ok = crate::sys::set_no_new_privs().is_ok()
            && crate::sys::seccomp_install_listener(&allow).is_ok();
        crate::sys::exit_now(if ok { 0 } else { 1 });
    }
    let listener = matches!(
        crate::sys::waitpid(pid, 0),
        Ok(Some((_, status))) if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    );
    if !listener {
        return Err("seccomp user notification is not available (Linux 5.5): --explain reports refusals by layer, without paths, and without it a refused system call gets its errno unreported; a server that exits non-zero still gets the paths its own errors name".into());
    }
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if scope >= 2 {
        return Err(format!(
            "Yama's ptrace_scope is {scope}: cordon cannot read the paths a server names; --explain reports refusals by layer, without paths (system calls by name, as without --explain); a server that exits non-zero still gets the paths its own errors name"
        ));
    }
    Ok("seccomp user notification: --explain reports each refused path (judged against the grants) and system call (by name); without --explain each refused system call is still one line, and a server that exits non-zero gets the paths its own errors name".into())
}

/// What the refused access was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
    Execute,
    Create,
    Remove,
    Connect,
    Bind,
    /// A host name the egress filter would not resolve.
    Resolve,
    Syscall,
    Signal,
}

impl Access {
    pub fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "execute",
            Access::Create => "create",
            Access::Remove => "remove",
            Access::Connect => "connect",
            Access::Bind => "bind",
            Access::Resolve => "resolve",
            Access::Syscall => "system call",
            Access::Signal => "signal",
        }
    }
}

/// Which layer refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// The mount namespace's view: the path is not in it, or masked.
    MountView,
    Landlock,
    Seccomp,
    /// The seccomp deny list under action `log`: the call ran (and was
    /// logged); under the default action `errno` it is refused.
    SeccompLog,
    /// The egress filter of network mode `filtered`.
    Egress,
    /// A namespace boundary (another pid or network namespace).
    Namespace,
    /// Not known: the mechanism to tell is missing (reported by layer
    /// only when it is known at all).
    Unknown,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::MountView => "mount view",
            Layer::Landlock => "landlock",
            Layer::Seccomp => "seccomp",
            Layer::SeccompLog => "seccomp, action log: allowed this time",
            Layer::Egress => "egress filter",
            Layer::Namespace => "namespace",
            Layer::Unknown => "sandbox",
        }
    }
}

/// The profile change that would allow a refused access.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Suggestion {
    /// A filesystem grant: `flag` for the command line (`--ro PATH`, empty
    /// when no flag gives exactly this access), `key` and `path` for the
    /// `[filesystem]` table (`read`, `exec`, `write`).
    Grant {
        flag: String,
        key: String,
        path: String,
    },
    /// An entry of a list in a profile table: `value` added to `key` of
    /// `[table]` (`allow` of `[seccomp]`, `allow` of `[network]`).
    Allow {
        table: String,
        key: String,
        value: String,
    },
    /// A setting of a profile table, `key = value` in `[table]` (`mode`
    /// of `[network]`, `namespaces` of `[sandbox]`): the refusal follows
    /// from it, not from a missing grant.
    Setting {
        table: String,
        key: String,
        value: String,
    },
    /// No profile change allows it, and why (a protected path, a
    /// mandatory refusal).
    Impossible { why: String },
}

impl Suggestion {
    /// The TOML line to add to the profile, when there is one.
    pub fn toml(&self) -> Option<String> {
        match self {
            Suggestion::Grant { key, path, .. } => {
                Some(format!("{key} = [{}] in [filesystem]", toml_string(path)))
            }
            Suggestion::Allow { table, key, value } => {
                Some(format!("{key} = [{}] in [{table}]", toml_string(value)))
            }
            Suggestion::Setting { table, key, value } => {
                Some(format!("{key} = {} in [{table}]", toml_string(value)))
            }
            Suggestion::Impossible { .. } => None,
        }
    }

    fn render(&self) -> String {
        match self {
            Suggestion::Grant { flag, .. } if !flag.is_empty() => {
                format!("allow with {flag}, or {}", self.toml().unwrap_or_default())
            }
            Suggestion::Grant { .. } | Suggestion::Allow { .. } | Suggestion::Setting { .. } => {
                format!("allow with {}", self.toml().unwrap_or_default())
            }
            Suggestion::Impossible { why } => format!("no profile change allows it: {why}"),
        }
    }
}

/// A string as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One refused access.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Refusal {
    pub access: Access,
    /// The path (absolute, as the server named it, made absolute against
    /// its working directory or directory descriptor), `host:port`, a
    /// host name, or a system call's name.
    pub target: String,
    pub layer: Layer,
    /// Why the layer refused it, when the layer says (the egress
    /// filter's decision: not on the allow list, a private address, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub suggestion: Suggestion,
}

impl Refusal {
    /// The line `--explain` prints (without `cordon: ` and the newline).
    /// Control characters in the target are escaped: it comes from the
    /// server.
    pub fn line(&self) -> String {
        let reason = self
            .reason
            .as_deref()
            .map_or_else(String::new, |r| format!(": {}", escape(r)));
        format!(
            "refused: {} {} ({}{reason}): {}",
            self.access.name(),
            escape(&self.target),
            self.layer.name(),
            self.suggestion.render()
        )
    }

    /// What makes two refusals the same for deduplication.
    fn key(&self) -> (Access, String, Layer) {
        (self.access, self.target.clone(), self.layer)
    }
}

fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A refusal as collected: the record, how often it happened, and the
/// program that asked first (its `comm`, when known).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Seen {
    #[serde(flatten)]
    pub refusal: Refusal,
    pub count: u64,
    pub by: Option<String>,
}

/// At most this many lines per [`WINDOW`]; the rest are counted and
/// summarised with the next line printed after the window.
const BURST: u32 = 20;
const WINDOW: Duration = Duration::from_secs(1);
/// Distinct refusals kept; beyond, only counted (a server enumerating a
/// directory tree must not grow cordon without bound).
const KEEP: usize = 4096;

/// Where `--explain` lines go.
pub enum Output {
    /// Collect only (`profile learn` prints nothing per refusal when it
    /// wants to).
    Silent,
    /// cordon's stderr.
    Stderr,
    /// Another writer (`vet`'s log).
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Output::Silent => "Silent",
            Output::Stderr => "Stderr",
            Output::Writer(_) => "Writer",
        })
    }
}

/// The collector every source of refusals feeds (the seccomp supervisor,
/// the egress reader, cordon at the server's exit): deduplicates,
/// rate-limits the printed lines, and keeps each distinct refusal for
/// [`Explainer::refusals`]. Shared between threads by reference.
#[derive(Debug)]
pub struct Explainer {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    output: Output,
    seen: Vec<Seen>,
    index: HashMap<(Access, String, Layer), usize>,
    /// Refusals beyond [`KEEP`] distinct ones.
    dropped: u64,
    window: Option<Instant>,
    printed_in_window: u32,
    /// Lines not printed because of the rate limit since the last one
    /// printed.
    suppressed: u64,
}

impl Explainer {
    pub fn new(output: Output) -> Explainer {
        Explainer {
            inner: Mutex::new(Inner {
                output,
                seen: Vec::new(),
                index: HashMap::new(),
                dropped: 0,
                window: None,
                printed_in_window: 0,
                suppressed: 0,
            }),
        }
    }

    /// Records one refusal; prints it the first time it is seen, within
    /// the rate limit.
    pub fn report(&self, refusal: Refusal, by: Option<String>) {
        self.report_at(refusal, by, Instant::now());
    }

    fn report_at(&self, refusal: Refusal, by: Option<String>, now: Instant) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&i) = inner.index.get(&refusal.key()) {
            if let Some(seen) = inner.seen.get_mut(i) {
                seen.count += 1;
            }
            return;
        }
        if inner.seen.len() >= KEEP {
            inner.dropped += 1;
            return;
        }
        let line = refusal.line();
        let i = inner.seen.len();
        inner.index.insert(refusal.key(), i);
        inner.seen.push(Seen {
            refusal,
            count: 1,
            by,
        });
        inner.print(line, now);
    }

    /// A note that is not a refusal (the mechanism is missing, a summary),
    /// printed once, outside the rate limit.
    pub fn note(&self, text: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.write(format!("cordon: explain: {text}\n"));
    }

    /// Every distinct refusal so far, in the order first seen.
    pub fn refusals(&self) -> Vec<Seen> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.seen.clone()
    }

    /// Says how many lines the rate limit held back and how many refusals
    /// were not kept; called once at the end.
    pub fn finish(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let suppressed = std::mem::take(&mut inner.suppressed);
        if suppressed > 0 {
            inner.write(format!(
                "cordon: explain: {suppressed} more refusals not shown (rate limit)\n"
            ));
        }
        if inner.dropped > 0 {
            let dropped = inner.dropped;
            inner.write(format!(
                "cordon: explain: {dropped} more refusals after the first {KEEP} distinct ones not recorded\n"
            ));
        }
    }
}

impl Inner {
    fn print(&mut self, line: String, now: Instant) {
        match self.window {
            Some(start) if now.duration_since(start) < WINDOW => {}
            _ => {
                self.window = Some(now);
                self.printed_in_window = 0;
            }
        }
        if self.printed_in_window >= BURST {
            self.suppressed += 1;
            return;
        }
        self.printed_in_window += 1;
        let held = std::mem::take(&mut self.suppressed);
        let more = if held > 0 {
            format!(" ({held} earlier refusals not shown: rate limit)")
        } else {
            String::new()
        };
        self.write(format!("cordon: {line}{more}\n"));
    }

    fn write(&mut self, text: String) {
        // One write per line, so lines of cordon's and the server's do not
        // interleave inside a line.
        match &mut self.output {
            Output::Silent => {}
            Output::Stderr => {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            Output::Writer(w) => {
                let _ = w.write_all(text.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn read(path: &str) -> Refusal {
        Refusal {
            access: Access::Read,
            target: path.into(),
            layer: Layer::Landlock,
            reason: None,
            suggestion: Suggestion::Grant {
                flag: format!("--ro {path}"),
                key: "read".into(),
                path: path.into(),
            },
        }
    }

    #[test]
    fn a_grant_renders_as_flag_and_toml() {
        assert_eq!(
            read("/srv/data.txt").line(),
            "refused: read /srv/data.txt (landlock): allow with --ro /srv/data.txt, or read = [\"/srv/data.txt\"] in [filesystem]"
        );
        let syscall = Refusal {
            access: Access::Syscall,
            target: "ptrace".into(),
            layer: Layer::Seccomp,
            reason: None,
            suggestion: Suggestion::Allow {
                table: "seccomp".into(),
                key: "allow".into(),
                value: "ptrace".into(),
            },
        };
        assert_eq!(
            syscall.line(),
            "refused: system call ptrace (seccomp): allow with allow = [\"ptrace\"] in [seccomp]"
        );
        let protected = Refusal {
            access: Access::Read,
            target: "/home/u/.ssh/id_ed25519\x1b".into(),
            layer: Layer::MountView,
            reason: None,
            suggestion: Suggestion::Impossible {
                why: "a protected path (ssh keys)".into(),
            },
        };
        assert_eq!(
            protected.line(),
            "refused: read /home/u/.ssh/id_ed25519\\u{1b} (mount view): no profile change allows it: a protected path (ssh keys)"
        );
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
                .into_owned()
        }
    }

    #[test]
    fn repeats_are_counted_not_printed() {
        let out = Buffer::default();
        let explainer = Explainer::new(Output::Writer(Box::new(out.clone())));
        for _ in 0..3 {
            explainer.report(read("/a"), Some("node".into()));
        }
        explainer.report(read("/b"), None);
        assert_eq!(out.text().lines().count(), 2, "{}", out.text());
        let seen = explainer.refusals();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].count, 3);
        assert_eq!(seen[0].by.as_deref(), Some("node"));
    }

    #[test]
    fn a_burst_is_cut_and_summarised() {
        let out = Buffer::default();
        let explainer = Explainer::new(Output::Writer(Box::new(out.clone())));
        let now = Instant::now();
        for i in 0..(BURST + 5) {
            explainer.report_at(read(&format!("/f{i}")), None, now);
        }
        explainer.finish();
        let text = out.text();
        assert_eq!(text.lines().count() as u32, BURST + 1, "{text}");
        assert!(text.contains("5 more refusals not shown"), "{text}");
        assert_eq!(explainer.refusals().len() as u32, BURST + 5);
    }
}
