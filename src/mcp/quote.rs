//! Making untrusted text safe to show: shell quoting that round-trips
//! through bash, and escaping for plain display.
//!
//! Both functions here guarantee that their output contains no control
//! character (C0, DEL, C1), no bidirectional override and no invisible or
//! look-alike-space character, so nothing they return can move the cursor,
//! recolour the terminal or make one argument look like two.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;

/// Words that bash treats as syntax, not as a command, in first position.
const RESERVED_WORDS: &[&str] = &[
    "!", "[[", "]]", "{", "}", "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for",
    "function", "if", "in", "select", "then", "time", "until", "while",
];

/// Shell-quote one argument so that pasting the result into bash runs the
/// same argv.
///
/// - `[A-Za-z0-9_@%+=:,./-]+` is left bare;
/// - the empty argument is `''`;
/// - printable UTF-8 is single-quoted, a quote written `'\''`;
/// - anything with a control character, invalid UTF-8 or an invisible or
///   bidirectional character uses bash's `$'...'` with `\xNN` escapes, so
///   the exact bytes come back.
pub fn shell_quote(arg: &OsStr) -> String {
    let bytes = arg.as_bytes();
    if bytes.is_empty() {
        return "''".to_owned();
    }
    if bytes.iter().all(|&b| is_bare_safe(b)) {
        // All ASCII, so this conversion is exact.
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(is_unsafe_char) => single_quote(s),
        _ => ansi_c_quote(bytes),
    }
}

/// The whole command line, each argument quoted by [`shell_quote`] and
/// separated by one space.
///
/// The first word is also quoted when bash would otherwise read it as
/// something other than a command name: an assignment (`a=b`) or a
/// reserved word (`if`).
pub fn quote_argv(argv: &[OsString]) -> String {
    let mut out = String::new();
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let quoted = shell_quote(arg);
        if i == 0 && quoted == arg.to_string_lossy() && needs_quote_as_command(&quoted) {
            out.push_str(&single_quote(&quoted));
        } else {
            out.push_str(&quoted);
        }
    }
    out
}

/// Escape a string for display: control characters become `\n`, `\t`,
/// `\r` or `\xNN`; C1 controls, bidirectional and invisible characters
/// become `\u{202e}`; a backslash is doubled so the escaping cannot be
/// forged by text that already looks escaped.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped_char(&mut out, c);
    }
    out
}

/// [`escape_text`] for bytes that may not be UTF-8 (paths, argv, env
/// values): each invalid byte becomes `\xNN`.
pub fn escape_os(s: &OsStr) -> String {
    let mut out = String::with_capacity(s.len());
    for chunk in s.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if c.is_ascii_control() => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if is_unsafe_char(c) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// Characters that must never reach a terminal raw: controls (C0, DEL,
/// C1, tab and line breaks included), every character the relay and `vet`
/// call hidden ([`crate::mcp::hygiene::is_hidden`]: format, private-use,
/// unassigned, default-ignorable), and every whitespace character other
/// than the plain space (so `a\u{a0}b` cannot pass for two words).
pub(crate) fn is_unsafe_char(c: char) -> bool {
    c.is_control() || (c.is_whitespace() && c != ' ') || crate::mcp::hygiene::is_hidden(c)
}

fn is_bare_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b)
}

fn needs_quote_as_command(word: &str) -> bool {
    word.contains('=') || RESERVED_WORDS.contains(&word)
}

fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Bash ANSI-C quoting. A quote is written `\x27` rather than `\'`:
/// interactive bash's history expansion scans `$'...'` as if it were
/// `'...'`, and a `\'` would end that scan early and expose a `!`.
fn ansi_c_quote(bytes: &[u8]) -> String {
    let mut out = String::from("$'");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\'' => out.push_str("\\x27"),
                c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                c if !is_unsafe_char(c) => out.push(c),
                c => push_hex_bytes(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        push_hex_bytes(&mut out, chunk.invalid());
    }
    out.push('\'');
    out
}

fn push_hex_bytes(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "\\x{b:02x}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::process::Command;

    fn os(b: &[u8]) -> OsString {
        OsString::from_vec(b.to_vec())
    }

    fn nasty_args() -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "plain",
            "with space",
            "it's",
            "\"double\"",
            "$HOME",
            "${x}",
            "`id`",
            "$(id)",
            "line\nbreak",
            "tab\there",
            "esc\x1b[31mred",
            "*",
            "~",
            "~/x",
            "",
            "-rf",
            "--",
            "-",
            "a=b",
            "!",
            "!!",
            "x!y",
            "#c",
            "back\\slash",
            "trailing\\",
            "semi;colon",
            "a|b",
            "a&b",
            "<in>",
            "(sub)",
            "{a,b}",
            "[ab]",
            "?",
            "héllo wörld",
            "日本語",
            "rtl\u{202e}txt",
            "zw\u{200b}sp",
            "nb\u{a0}sp",
            "c1\u{85}x",
            "del\x7f",
            "'",
            "''",
            "\\'",
            "%1",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push(os(&(1u8..=0x1f).collect::<Vec<u8>>()));
        args.push(os(b"bad\xff\xfeutf8"));
        args.push(os(b"\xc3"));
        args.push(os(b"\x80lead"));
        args.push(os(b"x\x1by'z"));
        args
    }

    /// Ask bash to print each argument NUL-terminated and compare bytes.
    fn bash_roundtrip(argv: &[OsString]) -> Vec<Vec<u8>> {
        let script = format!("printf '%s\\0' {}", quote_argv(argv));
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "bash failed on {script:?}: {out:?}");
        let mut parts: Vec<Vec<u8>> = out.stdout.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
        assert_eq!(parts.pop(), Some(Vec::new()), "output ends with NUL");
        parts
    }

    #[test]
    fn quoting_round_trips_through_bash() {
        let args = nasty_args();
        let back = bash_roundtrip(&args);
        let want: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn quoting_round_trips_each_byte() {
        let args: Vec<OsString> = (1u8..=255).map(|b| os(&[b'a', b, b'z'])).collect();
        let want: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(bash_roundtrip(&args), want);
    }

    #[test]
    fn first_word_round_trips_as_a_command() {
        for word in ["a=b", "if", "{", "!", "while"] {
            let argv = [OsString::from(word), OsString::from("arg")];
            let line = quote_argv(&argv);
            let out = Command::new("bash")
                .arg("-c")
                .arg(&line)
                .output()
                .expect("bash");
            // No such command exists, so bash names the word it tried to run:
            // that proves it was read as the command name, not as syntax or
            // an assignment.
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("{word}: command not found")),
                "{line}: {err}"
            );
        }
    }

    #[test]
    fn simple_forms() {
        let q = |s: &str| shell_quote(OsStr::new(s));
        assert_eq!(q("/usr/bin/npx"), "/usr/bin/npx");
        assert_eq!(q("@scope/pkg@1.2.3"), "@scope/pkg@1.2.3");
        assert_eq!(q("-y"), "-y");
        assert_eq!(q(""), "''");
        assert_eq!(q("it's"), r"'it'\''s'");
        assert_eq!(q("a b"), "'a b'");
        assert_eq!(q("~"), "'~'");
        assert_eq!(q("a\x1bb"), r"$'a\x1bb'");
        assert_eq!(q("a\nb'c"), r"$'a\nb\x27c'");
        assert_eq!(q("r\u{202e}l"), r"$'r\xe2\x80\xael'");
        assert_eq!(shell_quote(&os(b"\xff")), r"$'\xff'");
        assert_eq!(q("日本"), "'日本'");
    }

    #[test]
    fn quoted_output_is_terminal_safe() {
        for arg in nasty_args() {
            let q = shell_quote(&arg);
            assert!(!q.chars().any(is_unsafe_char), "{q:?}");
        }
    }

    #[test]
    fn escape_removes_control_and_invisible_characters() {
        let e = escape_text("a\x1b[2Jb\u{202e}c\u{200b}d\ne\x7f\u{9b}f\\");
        assert_eq!(e, r"a\x1b[2Jb\u{202e}c\u{200b}d\ne\x7f\u{9b}f\\");
        assert!(!e.contains('\x1b') && !e.contains('\u{202e}'));
        assert_eq!(escape_os(&os(b"p\xffq")), r"p\xffq");
        assert_eq!(escape_text("plain /path-ok é"), "plain /path-ok é");
    }

    /// Quoting and escaping use the same definition of hidden as the relay
    /// and `vet`: every hidden code point comes out escaped.
    #[test]
    fn every_hidden_character_is_escaped() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if crate::mcp::hygiene::is_hidden(c) {
                let e = escape_text(&c.to_string());
                assert!(e.starts_with('\\'), "U+{:04X}: {e:?}", u32::from(c));
            }
        }
        for c in [
            '\u{00ad}',
            '\u{034f}',
            '\u{061c}',
            '\u{3164}',
            '\u{fe0f}',
            '\u{e0100}',
            '\u{206a}',
        ] {
            let q = shell_quote(OsStr::new(&format!("a{c}b")));
            assert!(q.starts_with("$'"), "{q}");
        }
    }
}
