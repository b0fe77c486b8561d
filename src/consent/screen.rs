//! The default consent screen: what carries risk, in 80x24 with the
//! prompt. The full text is `--details` ([`super::render`] with details).
//!
//! Each line is cut to [`SCREEN_WIDTH`] columns after escaping, and
//! colour is added after cutting, so escape sequences come only from
//! cordon and never count against the width.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Invocation;
use super::render::{bytes, show, status_line};
use super::warn::warnings;
use crate::mcp::quote::{escape_os, escape_text, quote_argv};
use crate::policy::{FsGrant, GrantSource, NetworkMode, Policy};
use crate::sandbox::{LayerStatus, State};

/// Columns of the default screen.
pub const SCREEN_WIDTH: usize = 80;
/// Lines of the default screen, the prompt's line not included.
pub const SCREEN_LINES: usize = 23;

const HEADLINE: &str = "cordon: about to run a local MCP server (code execution with your rights)";
const LABEL_WIDTH: usize = 13;
/// Paths of one kind listed before "and N more".
const MAX_PATHS: usize = 3;

/// Paths that hold the system's own programs, libraries and configuration.
const SYSTEM: [&str; 13] = [
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc",
    "/opt",
    "/nix/store",
    "/run",
    "/proc",
    "/sys",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Strong,
    Alarm,
    Caution,
}

struct Screen {
    lines: Vec<(String, Tone)>,
}

impl Screen {
    fn field(&mut self, label: &str, value: &str, tone: Tone) {
        self.lines
            .push((format!("  {label:<LABEL_WIDTH$}{value}"), tone));
    }

    /// A field whose value is wrapped at spaces onto at most `max` lines,
    /// the last cut when it is still too long.
    fn wrapped(&mut self, label: &str, value: &str, tone: Tone, max: usize) {
        let room = SCREEN_WIDTH - 2 - LABEL_WIDTH;
        let mut rows: Vec<String> = vec![String::new()];
        for word in value.split(' ') {
            let row = rows.last_mut().map_or(0, |r| r.chars().count());
            if row > 0 && row + 1 + word.chars().count() > room && rows.len() < max {
                rows.push(String::new());
            }
            if let Some(last) = rows.last_mut() {
                if !last.is_empty() {
                    last.push(' ');
                }
                last.push_str(word);
            }
        }
        for (i, row) in rows.iter().enumerate() {
            self.field(if i == 0 { label } else { "" }, row, tone);
        }
    }

    /// One line per path, at most [`MAX_PATHS`], then how many more.
    fn paths(&mut self, label: &str, items: &[String]) {
        for (i, item) in items.iter().take(MAX_PATHS).enumerate() {
            self.field(if i == 0 { label } else { "" }, item, Tone::Plain);
        }
        if items.len() > MAX_PATHS {
            let more = format!("and {} more (--details)", items.len() - MAX_PATHS);
            self.field("", &more, Tone::Plain);
        }
    }

    fn finish(self, colour: bool) -> String {
        let mut out = String::new();
        for (line, tone) in self.lines {
            let line = cut(&line);
            let code = match tone {
                _ if !colour => None,
                Tone::Plain => None,
                Tone::Strong => Some("1"),
                Tone::Alarm => Some("1;31"),
                Tone::Caution => Some("33"),
            };
            match code {
                Some(code) => {
                    let _ = writeln!(out, "\x1b[{code}m{line}\x1b[0m");
                }
                None => {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }
}

/// `line` cut to [`SCREEN_WIDTH`] columns, marked with `...` when cut.
fn cut(line: &str) -> String {
    if line.chars().count() <= SCREEN_WIDTH {
        return line.to_owned();
    }
    let mut kept: String = line.chars().take(SCREEN_WIDTH - 3).collect();
    kept.push_str("...");
    kept
}

fn is_system(g: &FsGrant) -> bool {
    SYSTEM.iter().any(|p| g.path.starts_with(p))
}

fn grant(g: &FsGrant) -> String {
    let source = match &g.source {
        GrantSource::Group(name) => format!("group {}", escape_text(name)),
        other => other.to_string(),
    };
    let exec = if g.access.execute { ", exec" } else { "" };
    format!("{}  [{source}{exec}]", show(&g.path))
}

pub fn screen(
    policy: &Policy,
    inv: &Invocation,
    enforcement: &[LayerStatus],
    home: &Path,
    colour: bool,
) -> String {
    let mut s = Screen { lines: Vec::new() };
    s.lines.push((HEADLINE.to_owned(), Tone::Strong));
    let command = if inv.argv.is_empty() {
        "(empty)".to_owned()
    } else {
        quote_argv(&inv.argv)
    };
    s.field("command:", &command, Tone::Strong);
    for (label, text) in &inv.package {
        s.field(label, &escape_text(text), Tone::Strong);
    }
    let how = match inv.argv.first() {
        Some(arg0) if !arg0.as_bytes().contains(&b'/') => "  (from PATH)",
        Some(arg0) if Path::new(arg0) != inv.executable => "  (resolved)",
        _ => "",
    };
    s.field(
        "executable:",
        &format!("{}{how}", show(&inv.executable)),
        Tone::Plain,
    );
    if let Some(interp) = &inv.interpreter {
        s.field("interpreter:", &show(interp), Tone::Plain);
    }
    s.field(
        "profile:",
        &format!("{}  (--details for all of it)", escape_text(&policy.name)),
        Tone::Plain,
    );

    let present: Vec<&FsGrant> = policy.fs.iter().filter(|g| g.exists).collect();
    let mut writes: Vec<String> = present
        .iter()
        .filter(|g| g.access.write)
        .map(|g| grant(g))
        .collect();
    if policy.private_tmp {
        writes.push(match policy.limits.tmp {
            Some(size) => format!("a private /tmp, at most {}", bytes(size)),
            None => "a private /tmp, no size limit".to_owned(),
        });
    }
    if writes.is_empty() {
        s.field("writes:", "nothing", Tone::Plain);
    } else {
        s.paths("writes:", &writes);
    }
    let auto =
        |g: &&&FsGrant| matches!(g.source, GrantSource::Executable | GrantSource::Interpreter);
    let runs: Vec<String> = present
        .iter()
        .filter(|g| g.access.execute && !g.access.write && !is_system(g))
        .filter(|g| !auto(g))
        .map(|g| grant(g))
        .collect();
    s.paths("runs code:", &runs);
    let reads: Vec<String> = present
        .iter()
        .filter(|g| !g.access.write && !g.access.execute && !is_system(g))
        .filter(|g| !auto(g))
        .map(|g| grant(g))
        .collect();
    s.paths("reads:", &reads);
    for path in &policy.unprotect {
        let line = format!("{}  (a mandatory protection, lifted)", show(path));
        s.field("unprotected:", &line, Tone::Alarm);
    }

    let net = &policy.network;
    let network = match net.mode {
        NetworkMode::None => "none".to_owned(),
        NetworkMode::Loopback => "a private loopback only".to_owned(),
        NetworkMode::Filtered => {
            let entries: Vec<String> = net
                .allow
                .iter()
                .map(|d| escape_text(&d.to_string()))
                .collect();
            format!("only to {}", entries.join(", "))
        }
        NetworkMode::Host => "the host's network, unfiltered".to_owned(),
    };
    let tone = if net.mode == NetworkMode::Host {
        Tone::Alarm
    } else {
        Tone::Plain
    };
    s.field("network:", &network, tone);
    let env = &policy.env;
    if env.pass.is_empty() && env.set.is_empty() {
        s.field("environment:", "nothing passed", Tone::Plain);
    }
    if !env.pass.is_empty() {
        let names: Vec<String> = env.pass.iter().map(|n| escape_text(n)).collect();
        s.field("environment:", &names.join(" "), Tone::Plain);
    }
    for (name, value) in &env.set {
        let line = format!("{}={}", escape_text(name), escape_os(value));
        s.field("env set:", &line, Tone::Plain);
    }

    let mut enforced: Vec<&str> = Vec::new();
    for entry in enforcement {
        if matches!(entry.state, State::Enforced { .. }) && !enforced.contains(&entry.layer.name())
        {
            enforced.push(entry.layer.name());
        }
    }
    if !enforced.is_empty() {
        s.wrapped("enforced:", &enforced.join(", "), Tone::Plain, 2);
    }
    for entry in enforcement {
        if !matches!(entry.state, State::Enforced { .. }) {
            let (label, text) = status_line(entry);
            s.wrapped(label, &text, Tone::Alarm, 2);
        }
    }
    for warning in warnings(policy, inv, home) {
        s.wrapped("warning:", &warning, Tone::Caution, 3);
    }

    let system = present
        .iter()
        .filter(|g| !g.access.write && is_system(g))
        .filter(|g| !auto(g))
        .count();
    let line = format!(
        "{system} read-only system paths; to see them: --details, or cordon profile show {}",
        escape_text(&policy.name)
    );
    s.wrapped("also:", &line, Tone::Plain, 2);
    s.finish(colour)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::consent::test_support::{grant, invocation, policy};
    use crate::policy::Access;
    use crate::sandbox::Layer;

    fn degraded(layer: Layer, reason: &str) -> LayerStatus {
        LayerStatus {
            layer,
            state: State::Degraded {
                reason: reason.into(),
            },
        }
    }

    fn enforced(layer: Layer) -> LayerStatus {
        LayerStatus {
            layer,
            state: State::Enforced {
                detail: "on".into(),
            },
        }
    }

    #[test]
    fn only_risk_is_listed_and_system_paths_are_counted() {
        let mut p = policy();
        p.fs.push(grant(
            "/home/u/bin",
            Access::READ_EXEC,
            GrantSource::Profile,
        ));
        p.fs.push(grant("/home/u/notes", Access::READ, GrantSource::Profile));
        p.fs.push(grant("/etc/ssl/certs", Access::READ, GrantSource::Profile));
        let mut absent = grant("/home/u/.nvm", Access::READ_EXEC, GrantSource::Profile);
        absent.exists = false;
        p.fs.push(absent);
        let report = [
            enforced(Layer::Landlock),
            enforced(Layer::Landlock),
            degraded(Layer::Limits, "tmp = 1 GiB (the default): no namespaces"),
        ];
        let t = screen(&p, &invocation(&["server"]), &report, Path::new(""), false);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].starts_with("  command:     server"), "{t}");
        assert!(lines[2].starts_with("  executable:"), "{t}");
        assert!(
            t.contains("  writes:      /srv/notes  [command line]\n"),
            "{t}"
        );
        assert!(
            t.contains("  runs code:   /home/u/bin  [profile, exec]\n"),
            "{t}"
        );
        assert!(
            t.contains("  reads:       /home/u/notes  [profile]\n"),
            "{t}"
        );
        assert!(!t.contains(".nvm"), "{t}");
        assert!(!t.contains("/etc/ssl/certs"), "{t}");
        assert!(t.contains("  enforced:    landlock\n"), "{t}");
        assert!(
            t.contains("  degraded:    limits: tmp = 1 GiB (the default)"),
            "{t}"
        );
        // /usr [group runtime] and /etc/ssl/certs; not the executable.
        assert!(t.contains("  also:        2 read-only system paths"), "{t}");
        assert!(!t.contains('\x1b'), "{t}");
    }

    #[test]
    fn lines_are_cut_and_wrapped_to_80_columns() {
        let mut p = policy();
        let long = format!("/srv/{}", "x".repeat(200));
        p.fs.push(grant(&long, Access::READ_WRITE, GrantSource::Profile));
        let report = [degraded(Layer::Protections, &"word ".repeat(60))];
        let t = screen(
            &p,
            &invocation(&["server", &"a".repeat(300)]),
            &report,
            Path::new(""),
            false,
        );
        for line in t.lines() {
            assert!(line.chars().count() <= SCREEN_WIDTH, "{line}");
        }
        assert!(t.contains("xxx...\n"), "{t}");
        assert_eq!(t.lines().filter(|l| l.contains("word")).count(), 2, "{t}");
    }

    #[test]
    fn colour_wraps_whole_lines_from_cordon_only() {
        let mut inv = invocation(&["server\x1b[31m"]);
        inv.cwd = "/".into();
        let t = screen(&policy(), &inv, &[], Path::new(""), true);
        assert!(t.starts_with("\x1b[1mcordon: about to run"), "{t:?}");
        assert!(
            t.contains("\x1b[1m  command:     $'server\\x1b[31m'\x1b[0m\n"),
            "{t:?}"
        );
        let plain = screen(&policy(), &inv, &[], Path::new(""), false);
        assert!(!plain.contains('\x1b'), "{plain:?}");
    }
}
