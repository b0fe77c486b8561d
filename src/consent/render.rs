//! The one rendering of "exact command + resolved executable + effective
//! policy".
//!
//! The text is plain, one `label: value` field per line, and deterministic
//! for a given input: recorded approvals are keyed by it. Every string that
//! did not come from cordon itself (argv, paths, names and values from the
//! profile or the environment) goes through [`escape_os`]/[`escape_text`]
//! or [`quote_argv`], so the text is safe to write to a terminal.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::Invocation;
use super::warn::warnings;
use crate::mcp::quote::{escape_os, escape_text, quote_argv};
use crate::policy::{
    Access, FsGrant, GrantSource, Limits, Network, NetworkMode, Policy, Ports, SyscallAction,
    SyscallPolicy,
};
use crate::sandbox::{LayerStatus, State};

const HEADLINE: &str = "cordon: about to run a local MCP server \
                        (this is code execution with your rights, inside the sandbox below)";

/// Width of the label column, wide enough for `read+write+exec:`.
const LABEL_WIDTH: usize = 17;

/// How to render: the full text (`--details`) or the screen that fits
/// 80x24, and whether to colour it (a terminal without `NO_COLOR`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub details: bool,
    pub colour: bool,
}

/// The consent text: the command, what exactly is executed, the effective
/// policy, what the kernel will enforce (`enforcement`, prepared by the
/// sandbox code) and the [`warnings`]. By default only what carries risk,
/// in at most [`SCREEN_LINES`] lines of at most [`SCREEN_WIDTH`] columns;
/// everything with `style.details`.
///
/// `home` is the user's home directory (`$HOME`), used by the warnings to
/// recognise sensitive grants; pass an empty path when it is unknown.
pub fn render(
    policy: &Policy,
    inv: &Invocation,
    enforcement: &[LayerStatus],
    home: &Path,
    style: Style,
) -> String {
    if !style.details {
        return super::screen::screen(policy, inv, enforcement, home, style.colour);
    }
    let mut out = String::new();
    out.push_str(HEADLINE);
    out.push('\n');
    push_invocation(&mut out, inv);
    push_policy(&mut out, policy);
    for entry in enforcement {
        let (label, text) = status_line(entry);
        field(&mut out, label, &text);
    }
    for warning in warnings(policy, inv, home) {
        field(&mut out, "warning:", &warning);
    }
    out
}

/// The label and escaped text of one enforcement entry.
pub(super) fn status_line(entry: &LayerStatus) -> (&'static str, String) {
    let (label, text) = match &entry.state {
        State::Enforced { detail } => ("enforced:", detail),
        State::Degraded { reason } => ("degraded:", reason),
        State::Off { reason } => ("off:", reason),
    };
    (label, format!("{}: {}", entry.layer, escape_text(text)))
}

/// The effective policy alone, as in [`render`] (for `cordon profile show`).
pub fn render_policy(policy: &Policy) -> String {
    let mut out = String::new();
    push_policy(&mut out, policy);
    out
}

/// One `  label:   value` line.
pub(super) fn field(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "  {label:<LABEL_WIDTH$}{value}");
}

pub(super) fn show(path: &Path) -> String {
    escape_os(path.as_os_str())
}

fn push_invocation(out: &mut String, inv: &Invocation) {
    let command = if inv.argv.is_empty() {
        "(empty)".to_owned()
    } else {
        quote_argv(&inv.argv)
    };
    field(out, "command:", &command);
    for (label, text) in &inv.package {
        field(out, label, &escape_text(text));
    }

    let how = match inv.argv.first() {
        Some(arg0) if !arg0.as_bytes().contains(&b'/') => {
            format!("resolved from PATH as {}; ", escape_os(arg0))
        }
        Some(arg0) if Path::new(arg0) != inv.executable => {
            format!("resolved from {}; ", escape_os(arg0))
        }
        _ => String::new(),
    };
    let executable = format!(
        "{}  ({how}this exact file is executed; granted read+execute automatically)",
        show(&inv.executable)
    );
    field(out, "executable:", &executable);
    if let Some(interp) = &inv.interpreter {
        let line = format!(
            "{}  (from the #! line; granted read+execute automatically)",
            show(interp)
        );
        field(out, "interpreter:", &line);
    }
    field(out, "directory:", &show(&inv.cwd));
}

fn push_policy(out: &mut String, policy: &Policy) {
    let mut profile = format!("{} ({})", escape_text(&policy.name), origin(policy));
    if !policy.description.is_empty() {
        let _ = write!(profile, ": {}", escape_text(&policy.description));
    }
    field(out, "profile:", &profile);
    push_env(out, policy);
    push_grants(out, &policy.fs);
    for path in &policy.unprotect {
        let line = format!(
            "{}  (a mandatory protection, lifted by the profile)",
            show(path)
        );
        field(out, "unprotected:", &line);
    }
    let tmp = match (policy.private_tmp, policy.limits.tmp) {
        (true, Some(size)) => format!("private, empty and writable, at most {}", bytes(size)),
        (true, None) => "private, empty and writable, no size limit".to_owned(),
        (false, _) => "no private /tmp (only what is granted above)".to_owned(),
    };
    field(out, "/tmp:", &tmp);
    push_network(out, &policy.network);
    field(out, "limits:", &limits(&policy.limits));
    field(out, "seccomp:", &seccomp(&policy.seccomp));
    let m = &policy.mechanisms;
    let layers = format!(
        "namespaces {}, landlock {}, seccomp {}",
        m.namespaces, m.landlock, m.seccomp
    );
    field(out, "layers:", &layers);
    let shutdown = format!(
        "when the host closes stdin the server has {} to exit, then SIGTERM, {} later SIGKILL",
        duration(policy.shutdown.close_grace),
        duration(policy.shutdown.term_grace)
    );
    field(out, "shutdown:", &shutdown);
}

fn origin(policy: &Policy) -> String {
    use crate::policy::Origin;
    match &policy.origin {
        Origin::BuiltIn => "built-in".to_owned(),
        Origin::Path(p) | Origin::Directory(p) => show(p),
    }
}

fn push_env(out: &mut String, policy: &Policy) {
    let env = &policy.env;
    if env.pass.is_empty() {
        field(
            out,
            "environment:",
            "nothing passed from cordon's environment",
        );
    } else {
        let names: Vec<String> = env.pass.iter().map(|n| escape_text(n)).collect();
        let line = format!("{}  (passed by name, when set)", names.join(" "));
        field(out, "environment:", &line);
    }
    for (name, value) in &env.set {
        field(
            out,
            "env set:",
            &format!("{}={}", escape_text(name), escape_os(value)),
        );
    }
}

/// Grants grouped by access, the most powerful first; within a group in
/// policy order.
fn push_grants(out: &mut String, grants: &[FsGrant]) {
    let mut accesses: Vec<Access> = Vec::new();
    for g in grants {
        if !accesses.contains(&g.access) {
            accesses.push(g.access);
        }
    }
    accesses.sort_by_key(|a| (!a.write, !a.execute, !a.read));
    if accesses.is_empty() {
        field(out, "filesystem:", "nothing granted");
    }
    for access in accesses {
        let label = format!("{}:", access_label(access));
        for (i, g) in grants.iter().filter(|g| g.access == access).enumerate() {
            field(out, if i == 0 { &label } else { "" }, &grant_line(g));
        }
    }
}

fn access_label(a: Access) -> String {
    let parts: Vec<&str> = [(a.read, "read"), (a.write, "write"), (a.execute, "exec")]
        .iter()
        .filter_map(|&(on, name)| on.then_some(name))
        .collect();
    if parts.is_empty() {
        "no access".to_owned()
    } else {
        parts.join("+")
    }
}

fn grant_line(g: &FsGrant) -> String {
    let source = match &g.source {
        GrantSource::Group(name) => format!("group {}", escape_text(name)),
        other => other.to_string(),
    };
    let mut line = format!("{}  [{source}]", show(&g.path));
    let mut notes = Vec::new();
    if let Some(raw) = &g.declared {
        let declared = escape_text(raw);
        notes.push(match &g.link {
            Some(link) => format!(
                "declared as {declared}: a symlink at {} to this path",
                show(link)
            ),
            None if declared_is_plain(raw, &g.path) => format!("declared as {declared}"),
            None => format!("declared as {declared}, which resolves here through a symlink"),
        });
    }
    if matches!(g.source, GrantSource::Executable | GrantSource::Interpreter) {
        notes.push("granted automatically".to_owned());
    }
    if !g.exists {
        notes.push("does not exist; optional".to_owned());
    }
    if !notes.is_empty() {
        let _ = write!(line, "  ({})", notes.join("; "));
    }
    line
}

/// Whether `declared` names `path` without a symlink or `..` in between:
/// the same path, or `~/rest` for a path ending in `rest`.
fn declared_is_plain(declared: &str, path: &Path) -> bool {
    match declared.strip_prefix('~') {
        Some("") => true,
        Some(rest) => match rest.strip_prefix('/') {
            Some(rest) => !rest.split('/').any(|c| c == "..") && path.ends_with(rest),
            None => false,
        },
        None => Path::new(declared).components().eq(path.components()),
    }
}

fn push_network(out: &mut String, net: &Network) {
    let mode = match net.mode {
        NetworkMode::None => "none (no network at all)",
        NetworkMode::Loopback => {
            "loopback (a private loopback inside the sandbox; the host's loopback and every \
             other network are out of reach)"
        }
        NetworkMode::Filtered => {
            "filtered (its own network namespace with no route out; cordon connects for it \
             to the destinations below only, never to loopback, private, link-local or cloud \
             metadata addresses unless an entry names them by address)"
        }
        NetworkMode::Host => "host (the host's network stack)",
    };
    field(out, "network:", mode);
    if net.mode == NetworkMode::Filtered {
        let entries: Vec<String> = net
            .allow
            .iter()
            .map(|d| escape_text(&d.to_string()))
            .collect();
        field(out, "allow:", &entries.join(", "));
    }
    if net.mode != NetworkMode::None {
        let connect = match (net.mode, &net.connect) {
            (NetworkMode::Filtered, Ports::Any) => "the allowlist's ports".to_owned(),
            (NetworkMode::Filtered, extra) => format!("the allowlist's ports and {extra}"),
            (_, ports) => ports.to_string(),
        };
        field(
            out,
            "tcp ports:",
            &format!("connect {connect}; bind {}", net.bind),
        );
    }
}

fn limits(l: &Limits) -> String {
    let opt = |v: Option<u64>, f: fn(u64) -> String| v.map_or("unlimited".to_owned(), f);
    let best_effort = match l.enforce {
        crate::policy::LimitEnforcement::BestEffort => " (best-effort)",
        crate::policy::LimitEnforcement::Required => "",
    };
    format!(
        "memory {}, processes {}, open files {}, core dumps {}, address space {}, file size {}, cpu time {}{best_effort}",
        opt(l.memory, bytes),
        l.nproc,
        l.nofile,
        bytes(l.core),
        opt(l.address_space, bytes),
        opt(l.fsize, bytes),
        opt(l.cpu, |s| format!("{s}s")),
    )
}

/// Exact byte counts in the largest binary unit that divides them.
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if n >= size && n % size == 0 {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} B")
}

fn duration(d: Duration) -> String {
    format!("{d:?}")
}

fn seccomp(s: &SyscallPolicy) -> String {
    let mut line = match s.action {
        SyscallAction::Errno => "denied system calls fail with EPERM",
        SyscallAction::Kill => "a denied system call kills the server",
        SyscallAction::Log => "denied system calls are ALLOWED and only logged (audit mode)",
    }
    .to_owned();
    if !s.deny.is_empty() {
        let _ = write!(line, "; also denied: {}", escape_text(&s.deny.join(" ")));
    }
    if !s.allow.is_empty() {
        let _ = write!(
            line,
            "; allowed despite the default deny list: {}",
            escape_text(&s.allow.join(" "))
        );
    }
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::consent::test_support::{grant, invocation, policy};
    use std::ffi::OsString;
    use std::path::PathBuf;

    fn text(policy: &Policy, argv: &[&str]) -> String {
        render(
            policy,
            &invocation(argv),
            &landlock(),
            Path::new(""),
            DETAILS,
        )
    }

    const DETAILS: Style = Style {
        details: true,
        colour: false,
    };

    fn landlock() -> Vec<LayerStatus> {
        vec![LayerStatus {
            layer: crate::sandbox::Layer::Landlock,
            state: State::Enforced {
                detail: "ABI 7".into(),
            },
        }]
    }

    #[test]
    fn shows_command_executable_and_policy() {
        let t = text(
            &policy(),
            &[
                "npx",
                "-y",
                "@modelcontextprotocol/server-filesystem@1.0.0",
                "/srv/notes",
            ],
        );
        assert!(t.starts_with(HEADLINE));
        assert!(t.contains(
            "  command:         npx -y @modelcontextprotocol/server-filesystem@1.0.0 /srv/notes\n"
        ));
        assert!(t.contains("/usr/bin/npx  (resolved from PATH as npx; this exact file is executed; granted read+execute automatically)"));
        assert!(t.contains("  interpreter:     /usr/bin/node  (from the #! line; granted read+execute automatically)\n"));
        assert!(t.contains("  read+write:      /srv/notes  [command line]\n"));
        assert!(t.contains("  read+exec:       /usr  [group runtime]\n"));
        assert!(t.contains("  network:         none"));
        assert!(t.contains("address space 4 GiB"));
        assert!(t.contains("  enforced:        landlock: ABI 7\n"));
        assert!(t.contains("5s to exit"));
        assert!(t.ends_with('\n'));
        assert_eq!(
            t,
            text(
                &policy(),
                &[
                    "npx",
                    "-y",
                    "@modelcontextprotocol/server-filesystem@1.0.0",
                    "/srv/notes"
                ]
            )
        );
    }

    #[test]
    fn escapes_untrusted_strings() {
        let mut p = policy();
        p.description = "evil\x1b]0;title\x07".into();
        p.fs.push(grant("/srv/a\u{202e}b", Access::READ, GrantSource::Profile));
        p.env.set.insert("X".into(), OsString::from("v\x1b[2J"));
        let mut inv = invocation(&["server", "arg\x1b[31m", "rtl\u{202e}gpj.exe"]);
        inv.cwd = PathBuf::from("/tmp/\x1bc");
        let t = render(&p, &inv, &[], Path::new(""), DETAILS);
        assert!(
            !t.contains('\x1b') && !t.contains('\u{202e}') && !t.contains('\x07'),
            "{t}"
        );
        assert!(t.contains(r"\x1b]0;title\x07"));
        assert!(t.contains(r"/srv/a\u{202e}b"));
        assert!(t.contains(r"X=v\x1b[2J"));
        assert!(t.contains(r"$'arg\x1b[31m' $'rtl\xe2\x80\xaegpj.exe'"));
        assert!(t.contains(r"/tmp/\x1bc"));
    }

    #[test]
    fn grant_notes() {
        let mut g = grant("/data/u/notes", Access::READ, GrantSource::Profile);
        g.declared = Some("~/notes".into());
        assert_eq!(
            grant_line(&g),
            "/data/u/notes  [profile]  (declared as ~/notes)"
        );
        g.declared = Some("~/dir/notes".into());
        assert!(
            grant_line(&g)
                .contains("declared as ~/dir/notes, which resolves here through a symlink)")
        );
        g.declared = Some("~/link".into());
        g.link = Some(PathBuf::from("/home/u/link"));
        assert_eq!(
            grant_line(&g),
            "/data/u/notes  [profile]  (declared as ~/link: a symlink at /home/u/link to this path)"
        );
        g.declared = Some("/srv/link".into());
        g.link = None;
        g.exists = false;
        assert!(grant_line(&g).ends_with("through a symlink; does not exist; optional)"));
        let e = grant("/usr/bin/npx", Access::READ_EXEC, GrantSource::Executable);
        assert_eq!(
            grant_line(&e),
            "/usr/bin/npx  [executable]  (granted automatically)"
        );
    }

    #[test]
    fn policy_alone() {
        let mut p = policy();
        p.network.mode = crate::policy::NetworkMode::Host;
        p.fs.push(grant("/srv/all", Access::ALL, GrantSource::Profile));
        let t = render_policy(&p);
        assert!(t.starts_with(
            "  profile:         filesystem (built-in): read and write one directory\n"
        ));
        assert!(t.find("read+write+exec:").unwrap() < t.find("read+write:").unwrap());
        assert!(t.contains("tcp ports:       connect none; bind none"));
        assert!(!t.contains("command:"));
    }

    #[test]
    fn memory_and_tmp_bounds_are_shown() {
        let mut p = policy();
        let t = text(&p, &["server"]);
        assert!(t.contains("  /tmp:            private, empty and writable, at most 1 GiB\n"));
        assert!(t.contains("  limits:          memory 4 GiB, processes 512,"));
        p.limits.memory = None;
        p.limits.tmp = Some(256 << 20);
        p.limits.enforce = crate::policy::LimitEnforcement::BestEffort;
        let t = text(&p, &["server"]);
        assert!(t.contains("at most 256 MiB\n"));
        assert!(t.contains("memory unlimited,"));
        assert!(t.contains("cpu time unlimited (best-effort)\n"));
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1536 B");
        assert_eq!(bytes(2048), "2 KiB");
        assert_eq!(bytes(512 << 20), "512 MiB");
    }
}
