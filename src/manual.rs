//! The manual pages: cordon(1) and one page per visible subcommand,
//! rendered by clap_mangen from the clap definitions and completed here
//! with EXIT STATUS, ENVIRONMENT, FILES, NOTES, EXAMPLES and SEE ALSO;
//! and cordon-profile(5), the profile format, converted from
//! `profiles/README.md` (see [`markdown`]).
//!
//! A command on a page must be the command once copied: every page turns
//! hyphenation off, examples are set in no-fill blocks (never broken
//! across lines), and every `-` is written `\-`, which renders as the
//! ASCII hyphen-minus rather than a typographic hyphen.

mod markdown;

use std::io;
use std::path::Path;

use clap::Command;

/// The profile format's reference, the source of cordon-profile(5).
const PROFILE_FORMAT: &str = include_str!("../profiles/README.md");

const SOURCE: &str = concat!("cordon ", env!("CARGO_PKG_VERSION"));
const MANUAL: &str = "cordon manual";

/// Writes every page into `dir`: `cordon.1`, `cordon-run.1`,
/// `cordon-profile-list.1`, …, and `cordon-profile.5`.
pub fn write_pages(cmd: Command, dir: &Path) -> io::Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    write_command_pages(&cmd, None, dir)?;
    std::fs::write(dir.join("cordon-profile.5"), profile_page())
}

fn write_command_pages(cmd: &Command, parent: Option<&str>, dir: &Path) -> io::Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_command_pages(sub, Some(&name), dir)?;
    }
    let page = command_page(cmd, &name, parent)?;
    std::fs::write(dir.join(format!("{name}.1")), page)
}

/// clap_mangen's page without its EXTRA (the `after_help` text, set as
/// filled prose) and VERSION sections, with cordon's sections after it.
fn command_page(cmd: &Command, name: &str, parent: Option<&str>) -> io::Result<String> {
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .source(SOURCE)
        .manual(MANUAL);
    let mut buf = Vec::new();
    man.render(&mut buf)?;
    let page = String::from_utf8_lossy(&buf).into_owned();
    let mut page = no_hyphenation(&cut_section(&cut_section(&page, "EXTRA"), "VERSION"));
    let after = cmd.get_after_help().map(ToString::to_string);
    let extra = Extra::parse(after.as_deref().unwrap_or_default());
    section(
        &mut page,
        "EXIT STATUS",
        &exit_status(name, extra.exit.as_deref()),
    );
    section(&mut page, "ENVIRONMENT", ENVIRONMENT);
    section(&mut page, "FILES", &files(name));
    if !extra.notes.is_empty() {
        section(&mut page, "NOTES", &extra.notes);
    }
    if !extra.examples.is_empty() {
        section(&mut page, "EXAMPLES", &extra.examples);
    }
    section(&mut page, "SEE ALSO", &see_also(cmd, name, parent));
    Ok(page)
}

fn section(page: &mut String, title: &str, body: &str) {
    page.push_str(&format!(".SH \"{title}\"\n{body}"));
    if !page.ends_with('\n') {
        page.push('\n');
    }
}

/// The page without the section `title`.
fn cut_section(page: &str, title: &str) -> String {
    let head = format!(".SH {title}\n");
    let Some(start) = page.find(&head) else {
        return page.to_owned();
    };
    let rest = &page[start + head.len()..];
    let end = rest
        .find("\n.SH ")
        .map_or(page.len(), |i| start + head.len() + i + 1);
    format!("{}{}", &page[..start], &page[end..])
}

/// `.nh` right after the title line.
fn no_hyphenation(page: &str) -> String {
    match page
        .find(".TH ")
        .and_then(|at| page[at..].find('\n').map(|n| at + n + 1))
    {
        Some(end) => format!("{}.nh\n{}", &page[..end], &page[end..]),
        None => format!(".nh\n{page}"),
    }
}

/// A subcommand's `after_help`, sorted into sections: example commands
/// (lines starting with `cordon `) with their captions, the exit status
/// (from `Exit status:` on), and the remaining prose.
#[derive(Debug, Default)]
struct Extra {
    examples: String,
    exit: Option<String>,
    notes: String,
}

impl Extra {
    fn parse(text: &str) -> Extra {
        let mut extra = Extra::default();
        for paragraph in text.split("\n\n") {
            let mut lines: Vec<&str> = paragraph.lines().collect();
            if lines.first().map(|l| l.trim()) == Some("Examples:") {
                lines.remove(0);
            }
            if lines.iter().any(|l| is_command(l)) {
                extra.examples.push_str(&examples(&lines));
                continue;
            }
            let prose = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
            let (prose, exit) = match prose.find("Exit status:") {
                Some(at) => (&prose[..at], Some(&prose[at + "Exit status:".len()..])),
                None => (prose.as_str(), None),
            };
            if let Some(exit) = exit {
                extra.exit = Some(exit.trim().to_owned());
            }
            if !prose.trim().is_empty() {
                extra
                    .notes
                    .push_str(&format!(".PP\n{}\n", inline(prose.trim())));
            }
        }
        extra
    }
}

fn is_command(line: &str) -> bool {
    line.trim_start().starts_with("cordon ")
}

/// Captions as paragraphs, commands in no-fill blocks.
fn examples(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut caption: Vec<&str> = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    let flush_block = |out: &mut String, block: &mut Vec<&str>| {
        if !block.is_empty() {
            out.push_str(".RS 4\n.nf\n");
            for command in block.drain(..) {
                out.push_str(&format!("{}\n", escape_line(command.trim())));
            }
            out.push_str(".fi\n.RE\n");
        }
    };
    for line in lines {
        if is_command(line) {
            if !caption.is_empty() || block.is_empty() {
                out.push_str(&format!(".PP\n{}\n", inline(&caption.join(" "))));
                caption.clear();
            }
            block.push(line);
        } else {
            flush_block(&mut out, &mut block);
            caption.push(line.trim());
        }
    }
    flush_block(&mut out, &mut block);
    out.replace(".PP\n\n", ".PP\n")
}

/// Text for a filled line: escaped, `code` in bold.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        let part = escape(part);
        if i % 2 == 1 {
            out.push_str(&format!("\\fB{part}\\fR"));
        } else {
            out.push_str(&part);
        }
    }
    protect_line_start(&out)
}

/// Backslashes, hyphens and characters outside ASCII for roff (groff
/// reads its input as Latin-1 unless told otherwise).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

/// A whole line of literal text.
fn escape_line(text: &str) -> String {
    protect_line_start(&escape(text))
}

/// A line starting with `.` or `'` would be a request.
fn protect_line_start(line: &str) -> String {
    if line.starts_with(['.', '\'']) {
        format!("\\&{line}")
    } else {
        line.to_owned()
    }
}

/// Tagged paragraphs from `(tag, text)` pairs.
fn tagged(items: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (tag, text) in items {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(tag), inline(text)));
    }
    out
}

const CONTRACT: &[(&str, &str)] = &[
    (
        "the server's status",
        "When the server ran and exited: its own exit status.",
    ),
    ("128+N", "The server was killed by signal N."),
    (
        "124",
        "Consent was refused, or could not be asked (no terminal and no recorded approval).",
    ),
    (
        "125",
        "cordon itself failed: bad usage, an invalid profile, the sandbox could not be set up.",
    ),
    ("126", "The command was found but cannot be executed."),
    ("127", "The command was not found."),
];

fn exit_status(name: &str, from_help: Option<&str>) -> String {
    if let Some(text) = from_help {
        let mut chars = text.chars();
        let text: String = chars
            .next()
            .map(|c| c.to_ascii_uppercase())
            .into_iter()
            .chain(chars)
            .collect();
        return format!(".PP\n{}\n", inline(&text));
    }
    let text = match name {
        "cordon" | "cordon-run" => {
            return format!(
                ".PP\n{}\n{}",
                inline(
                    "Reports go to stdout and exit 0 unless their page says otherwise. Starting a server (`run`):"
                ),
                tagged(CONTRACT)
            );
        }
        "cordon-approve" => {
            "0 when the approval was recorded; 124 when it was refused or could not be asked; 125 when cordon failed; 126 when the command cannot be executed; 127 when it was not found."
        }
        "cordon-profile-check" => {
            "0 when every file is a valid profile; 1 when one is not (every error of every file is printed on stderr); 125 when cordon failed."
        }
        "cordon-config-check" => {
            "0 when every local server of the configurations checked runs through cordon with a recorded approval; 1 when one does not; 125 when cordon failed."
        }
        "cordon-doctor" => {
            "0 when this kernel enforces everything the default profile requires; 1 when it does not; 125 when cordon failed."
        }
        "cordon-audit-verify" => {
            "0 when the log is intact and as cordon wrote it; 1 a broken line; 2 truncated; 3 rewritten; 4 missing; 5 intact but cordon holds no head for this path; 125 when cordon failed."
        }
        _ => {
            "0 on success; 125 when cordon failed (bad usage, a file it cannot read or write, an invalid profile)."
        }
    };
    format!(".PP\n{}\n", inline(text))
}

const ENVIRONMENT: &str = ".TP
\\fBCORDON_LOG\\fR
A tracing filter for cordon's log on stderr (for example \\fBcordon=debug\\fR); overrides \\fB\\-v\\fR.
.TP
\\fBNO_COLOR\\fR
When set and not empty, the consent screen has no colour (it has colour only on a terminal anyway).
.TP
\\fBHOME\\fR
The home directory (else the password database): \\fB~\\fR and \\fB{home}\\fR in profiles.
.TP
\\fBXDG_CONFIG_HOME\\fR
Where the user's profiles are (\\fB$XDG_CONFIG_HOME/cordon/profiles\\fR) and where hosts keep their configuration; default \\fB~/.config\\fR. Only an absolute path counts.
.TP
\\fBXDG_STATE_HOME\\fR
Where cordon records approvals, pins and audit logs (\\fB$XDG_STATE_HOME/cordon\\fR); default \\fB~/.local/state\\fR. Only an absolute path counts.
.TP
\\fBTMPDIR\\fR
The host's temporary directory, \\fB{tmp}\\fR in profiles; default \\fB/tmp\\fR.
.TP
\\fBPATH\\fR
Where a command without \\fB/\\fR is looked up, and where \\fBcordon config wrap\\fR finds the \\fBcordon\\fR it writes into host configurations.
.PP
The server does not inherit cordon's environment: it gets only the variables its profile passes or sets and those named with \\fB\\-\\-env\\fR.
";

const PROFILE_FILES: &[(&str, &str)] = &[
    (
        "~/.config/cordon/profiles/NAME.toml",
        "The user's profiles, looked up first (`$XDG_CONFIG_HOME/cordon/profiles`); group files in `groups/` below.",
    ),
    (
        "/etc/cordon/profiles/NAME.toml",
        "The system's profiles, looked up next.",
    ),
    (
        "/usr/share/cordon/profiles/NAME.toml",
        "The profiles the package ships, then those built into cordon.",
    ),
];

const STATE_FILES: &[(&str, &str)] = &[
    (
        "~/.local/state/cordon/approvals.json",
        "The recorded approvals (`$XDG_STATE_HOME/cordon`), with `approvals.lock`.",
    ),
    (
        "~/.local/state/cordon/pins/",
        "The tool pins of each approval.",
    ),
    (
        "~/.local/state/cordon/audit/PROFILE.jsonl",
        "The MCP audit log of profiles with `[mcp] audit = true`; its head in `audit-heads/`.",
    ),
    (
        "~/.local/state/cordon/digests",
        "Digests of executables and scripts cordon has hashed, by inode and timestamps.",
    ),
    (
        "/etc/apparmor.d/cordon",
        "The AppArmor profile that lets cordon create user namespaces where AppArmor restricts them: the package installs the variant in `/usr/share/cordon/apparmor/` this system's AppArmor reads (`cordon.abi4`, else `cordon.abi3`).",
    ),
];

const HOST_FILES: &[(&str, &str)] = &[
    (
        "~/.config/Claude/claude_desktop_config.json",
        "Claude Desktop (`--host claude-desktop`).",
    ),
    ("~/.config/Code/User/mcp.json", "VS Code (`--host vscode`)."),
    ("~/.cursor/mcp.json", "Cursor (`--host cursor`)."),
    ("~/.claude.json", "Claude Code (`--host claude-code`)."),
];

fn files(name: &str) -> String {
    let mut out = tagged(PROFILE_FILES);
    out.push_str(&tagged(STATE_FILES));
    if name == "cordon" || name.starts_with("cordon-config") {
        out.push_str(&tagged(HOST_FILES));
    }
    out
}

/// The pages around this one: cordon(1), the parent's, the
/// subcommands', and the profile format.
fn see_also(cmd: &Command, name: &str, parent: Option<&str>) -> String {
    let mut refs: Vec<String> = Vec::new();
    if name != "cordon" {
        refs.push("cordon(1)".to_owned());
    }
    if let Some(parent) = parent.filter(|p| *p != "cordon") {
        refs.push(format!("{parent}(1)"));
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = sub.get_display_name().unwrap_or(sub.get_name());
        refs.push(format!("{sub_name}(1)"));
    }
    refs.push("cordon-profile(5)".to_owned());
    let refs: Vec<String> = refs
        .into_iter()
        .map(|r| match r.split_once('(') {
            Some((page, section)) => format!("\\fB{}\\fR({section}", page.replace('-', "\\-")),
            None => r,
        })
        .collect();
    format!(".PP\n{}\n", refs.join(",\n"))
}

/// cordon-profile(5).
fn profile_page() -> String {
    let mut page = format!(".TH CORDON\\-PROFILE 5 \"\" \"{SOURCE}\" \"{MANUAL}\"\n.nh\n");
    page.push_str(".SH NAME\ncordon\\-profile \\- the format of cordon's sandbox profiles\n");
    page.push_str(".SH SYNOPSIS\n");
    page.push_str(&tagged(PROFILE_FILES));
    page.push_str(&markdown::to_roff(PROFILE_FORMAT));
    section(
        &mut page,
        "SEE ALSO",
        ".PP\n\\fBcordon\\fR(1), \\fBcordon\\-profile\\fR(1), \\fBcordon\\-profile\\-check\\fR(1), \\fBcordon\\-profile\\-show\\fR(1), \\fBcordon\\-profile\\-init\\fR(1)\n",
    );
    page
}
