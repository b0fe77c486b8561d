//! Showing the consent text and asking the question, on the controlling
//! terminal only: stdin and stdout are the MCP protocol and are never read
//! or written here.
//!
//! Ctrl-C, Ctrl-\, SIGTERM and SIGHUP during the question end it as a
//! refusal. They are blocked for the duration of the prompt and read from
//! a signalfd polled next to the terminal, so no signal handler (and no
//! `unsafe`) is needed and the terminal is always restored. This relies on
//! cordon being single-threaded (house rule, §5): the signal mask is per
//! thread, so another thread with these signals unblocked would receive
//! them instead.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::Mode as FileMode;
use nix::sys::termios::{
    FlushArg, InputFlags, LocalFlags, OutputFlags, SetArg, Termios, tcflush, tcgetattr, tcsetattr,
};

use super::{ConsentError, Mode, Outcome};

/// The question asked after the consent text.
pub const QUESTION: &str = "Run this command? [y/N] ";

/// The question `cordon approve` (and `vet`) ask: the answer records an
/// approval rather than starting anything now.
pub const APPROVE_QUESTION: &str = "Approve this command? [y/N] ";

/// Longest answer read; anything longer is not "yes" anyway.
const MAX_ANSWER: usize = 256;

/// Shows `text` and asks `question` on the controlling terminal.
pub fn ask(text: &str, question: &str) -> Result<Outcome, ConsentError> {
    ask_on(&mut open_tty()?, text, question)
}

/// Show `text` (already rendered) and decide according to `mode`.
///
/// - [`Mode::Yes`]: write it to stderr, [`Outcome::Approved`].
/// - [`Mode::DryRun`]: write it to stderr, [`Outcome::DryRun`].
/// - [`Mode::Ask`]: open `/dev/tty` and [`ask_on`] it. Without a
///   controlling terminal, write the text to stderr and return
///   [`ConsentError::NoTerminal`].
pub fn obtain(text: &str, mode: Mode) -> Result<Outcome, ConsentError> {
    obtain_with(text, mode, QUESTION)
}

/// [`obtain`], asking `question` in [`Mode::Ask`].
pub fn obtain_with(text: &str, mode: Mode, question: &str) -> Result<Outcome, ConsentError> {
    match mode {
        Mode::Yes => write_stderr(text).map(|()| Outcome::Approved),
        Mode::DryRun => write_stderr(text).map(|()| Outcome::DryRun),
        Mode::Ask => match open_tty() {
            Ok(mut tty) => ask_on(&mut tty, text, question),
            // Nobody can be asked; still show what was refused, so the
            // host's log says exactly what to review before `--yes`.
            Err(ConsentError::NoTerminal) => {
                write_stderr(text)?;
                Err(ConsentError::NoTerminal)
            }
            Err(e) => Err(e),
        },
    }
}

fn write_stderr(text: &str) -> Result<(), ConsentError> {
    let mut err = io::stderr().lock();
    err.write_all(with_newline(text).as_bytes())
        .and_then(|()| err.flush())
        .map_err(|e| ConsentError::io("write the consent text to stderr", e))
}

fn with_newline(text: &str) -> String {
    let mut t = text.to_owned();
    if !t.ends_with('\n') {
        t.push('\n');
    }
    t
}

/// The controlling terminal, opened without becoming it (`O_NOCTTY`) and
/// not inherited by the server (`O_CLOEXEC`).
fn open_tty() -> Result<File, ConsentError> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    match open("/dev/tty", flags, FileMode::empty()) {
        Ok(fd) => Ok(File::from(fd)),
        // ENXIO: no controlling terminal; ENOENT/ENODEV: no /dev/tty at all
        // (a minimal container).
        Err(Errno::ENXIO | Errno::ENOENT | Errno::ENODEV | Errno::ENOTTY) => {
            Err(ConsentError::NoTerminal)
        }
        Err(e) => Err(ConsentError::io("open /dev/tty", e)),
    }
}

/// Show `text` on `tty`, ask `question` and read one line.
///
/// "y" or "yes" in any case, surrounding blanks ignored, is
/// [`Outcome::Approved`]; anything else, an empty line, EOF (Ctrl-D), a
/// hangup or an interrupt (Ctrl-C) is [`Outcome::Refused`]. Input typed
/// before the question appears is discarded, so a stray "y" cannot answer
/// a question not yet seen. The terminal is switched to canonical mode
/// with echo for the question if it was not, and restored afterwards.
pub fn ask_on(tty: &mut File, text: &str, question: &str) -> Result<Outcome, ConsentError> {
    let tty: &File = tty;
    let signals = Interrupts::block()?;
    let _mode = TerminalMode::line_mode(tty.as_fd())?;
    tcflush(tty.as_fd(), FlushArg::TCIFLUSH)
        .map_err(|e| ConsentError::io("discard input typed ahead", e))?;
    write_tty(tty, &format!("{}{question}", with_newline(text)))?;
    let answer = read_answer(tty, &signals)?;
    match answer {
        Answer::Line(line) if is_yes(&line) => Ok(Outcome::Approved),
        Answer::Line(_) => Ok(Outcome::Refused),
        // The echo of ^C or ^D leaves the cursor after the question.
        Answer::Eof | Answer::Interrupted => {
            write_tty(tty, "\n")?;
            Ok(Outcome::Refused)
        }
    }
}

fn write_tty(mut tty: &File, text: &str) -> Result<(), ConsentError> {
    tty.write_all(text.as_bytes())
        .and_then(|()| tty.flush())
        .map_err(|e| ConsentError::io("write to the terminal", e))
}

fn is_yes(line: &[u8]) -> bool {
    let answer = String::from_utf8_lossy(line);
    let answer = answer.trim();
    answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes")
}

enum Answer {
    Line(Vec<u8>),
    Eof,
    Interrupted,
}

/// Read up to a newline, EOF or an interrupt, whichever comes first.
fn read_answer(tty: &File, signals: &Interrupts) -> Result<Answer, ConsentError> {
    let mut line = Vec::new();
    loop {
        let mut fds = [
            PollFd::new(signals.fd.as_fd(), PollFlags::POLLIN),
            PollFd::new(tty.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(ConsentError::io("wait for an answer", e)),
        }
        if fds[0].any().unwrap_or(false) {
            return Ok(Answer::Interrupted);
        }
        let mut buf = [0u8; MAX_ANSWER];
        let n = match nix::unistd::read(tty.as_fd(), &mut buf) {
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            // EIO: the terminal hung up, or cordon is in a background job
            // that may not read it; either way nobody said yes.
            Err(Errno::EIO) => 0,
            Err(e) => return Err(ConsentError::io("read the answer", e)),
        };
        if n == 0 {
            return Ok(if line.is_empty() {
                Answer::Eof
            } else {
                Answer::Line(line)
            });
        }
        line.extend_from_slice(&buf[..n]);
        if line.contains(&b'\n') || line.len() >= MAX_ANSWER {
            return Ok(Answer::Line(line));
        }
    }
}

/// SIGINT, SIGQUIT, SIGTERM and SIGHUP blocked for this thread and
/// readable from a signalfd; the old mask comes back on drop.
struct Interrupts {
    fd: SignalFd,
    old: SigSet,
}

impl Interrupts {
    fn block() -> Result<Interrupts, ConsentError> {
        let mut set = SigSet::empty();
        for sig in [
            Signal::SIGINT,
            Signal::SIGQUIT,
            Signal::SIGTERM,
            Signal::SIGHUP,
        ] {
            set.add(sig);
        }
        let old = set
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(|e| ConsentError::io("block interrupts for the prompt", e))?;
        match SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
            Ok(fd) => Ok(Interrupts { fd, old }),
            Err(e) => {
                let _ = old.thread_set_mask();
                Err(ConsentError::io("create a signalfd for the prompt", e))
            }
        }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        // Consume what arrived during the prompt: it already meant "no",
        // and unblocking it would kill cordon by the default action.
        while let Ok(Some(_)) = self.fd.read_signal() {}
        if let Err(e) = self.old.thread_set_mask() {
            tracing::warn!("cannot restore the signal mask after the prompt: {e}");
        }
    }
}

/// The terminal's settings before the prompt, restored on drop when the
/// prompt had to change them.
struct TerminalMode<'fd> {
    fd: BorrowedFd<'fd>,
    saved: Option<Termios>,
}

impl<'fd> TerminalMode<'fd> {
    /// Line editing, echo, Ctrl-C as SIGINT, and newline translation.
    fn line_mode(fd: BorrowedFd<'fd>) -> Result<TerminalMode<'fd>, ConsentError> {
        let saved = match tcgetattr(fd) {
            Ok(t) => t,
            Err(Errno::ENOTTY) => return Err(ConsentError::NoTerminal),
            Err(e) => return Err(ConsentError::io("read the terminal settings", e)),
        };
        let local = LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG;
        let output = OutputFlags::OPOST | OutputFlags::ONLCR;
        let input = InputFlags::ICRNL;
        if saved.local_flags.contains(local)
            && saved.output_flags.contains(output)
            && saved.input_flags.contains(input)
        {
            return Ok(TerminalMode { fd, saved: None });
        }
        let mut wanted = saved.clone();
        wanted.local_flags |= local;
        wanted.output_flags |= output;
        wanted.input_flags |= input;
        tcsetattr(fd, SetArg::TCSANOW, &wanted)
            .map_err(|e| ConsentError::io("set the terminal to line mode", e))?;
        Ok(TerminalMode {
            fd,
            saved: Some(saved),
        })
    }
}

impl Drop for TerminalMode<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            if let Err(e) = tcsetattr(self.fd, SetArg::TCSADRAIN, saved) {
                tracing::warn!("cannot restore the terminal settings after the prompt: {e}");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use nix::pty::openpty;
    use nix::sys::signal::raise;
    use std::io::Read;
    use std::thread;
    use std::time::Duration;

    /// What the terminal side does once the question is on screen.
    enum Then {
        Type(&'static [u8]),
        Nothing,
    }

    /// Run `ask_on` on the slave side of a fresh pseudo-terminal while a
    /// thread plays the user on the master side; return the outcome and
    /// everything the "user" saw.
    /// With `raw`, the terminal starts in raw mode and must be back in it
    /// afterwards.
    fn ask_through_pty(typed_ahead: &[u8], then: Then, raw: bool) -> (Outcome, String) {
        let pty = openpty(None, None).expect("openpty");
        let mut master = File::from(pty.master);
        let mut slave = File::from(pty.slave);
        let before = tcgetattr(slave.as_fd()).unwrap();
        if raw {
            let mut t = before.clone();
            nix::sys::termios::cfmakeraw(&mut t);
            tcsetattr(slave.as_fd(), SetArg::TCSANOW, &t).unwrap();
        }
        if !typed_ahead.is_empty() {
            master.write_all(typed_ahead).unwrap();
            thread::sleep(Duration::from_millis(50));
        }
        let user = thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            let mut acted = false;
            // EIO once the slave is closed: the end of the session.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
                if !acted && String::from_utf8_lossy(&seen).contains(QUESTION) {
                    acted = true;
                    if let Then::Type(bytes) = then {
                        master.write_all(bytes).unwrap();
                    }
                }
            }
            String::from_utf8_lossy(&seen).into_owned()
        });
        let outcome = ask_on(&mut slave, "cordon: the text\n  command: x", QUESTION).unwrap();
        let after = tcgetattr(slave.as_fd()).unwrap();
        assert_eq!(after.local_flags.contains(LocalFlags::ICANON), !raw);
        assert_eq!(after.local_flags.contains(LocalFlags::ECHO), !raw);
        drop(slave);
        (outcome, user.join().unwrap())
    }

    fn answer(typed: &'static [u8]) -> Outcome {
        ask_through_pty(b"", Then::Type(typed), false).0
    }

    #[test]
    fn yes_approves() {
        assert_eq!(answer(b"y\n"), Outcome::Approved);
        assert_eq!(answer(b"YES\n"), Outcome::Approved);
        assert_eq!(answer(b"  Yes \n"), Outcome::Approved);
    }

    #[test]
    fn anything_else_refuses() {
        assert_eq!(answer(b"n\n"), Outcome::Refused);
        assert_eq!(answer(b"\n"), Outcome::Refused);
        assert_eq!(answer(b"yess\n"), Outcome::Refused);
        assert_eq!(answer(b"y es\n"), Outcome::Refused);
    }

    #[test]
    fn eof_refuses() {
        // Ctrl-D on an empty line: the terminal reports end of file.
        assert_eq!(answer(b"\x04"), Outcome::Refused);
    }

    /// A signal that arrives during the prompt ends it as a refusal and is
    /// consumed. The test harness has other threads, so a process-directed
    /// signal (a real Ctrl-C) could land on one of them and kill the test
    /// binary; instead the signal is made pending on this thread alone
    /// (blocked, then raised) before the prompt starts, which is what the
    /// signalfd sees either way.
    #[test]
    fn interrupt_refuses() {
        for sig in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
        ] {
            let mut set = SigSet::empty();
            set.add(sig);
            let old = set.thread_swap_mask(SigmaskHow::SIG_BLOCK).unwrap();
            raise(sig).unwrap();
            let (outcome, seen) = ask_through_pty(b"", Then::Nothing, false);
            let mask_after = SigSet::thread_get_mask().unwrap();
            old.thread_set_mask().unwrap();
            assert_eq!(outcome, Outcome::Refused, "{sig}");
            assert!(seen.ends_with(&format!("{QUESTION}\r\n")), "{seen:?}");
            assert!(mask_after.contains(sig), "the caller's mask is restored");
        }
    }

    #[test]
    fn text_and_question_are_shown_on_the_terminal() {
        let (_, seen) = ask_through_pty(b"", Then::Type(b"n\n"), false);
        // The pty turns "\n" into "\r\n".
        assert!(
            seen.starts_with("cordon: the text\r\n  command: x\r\nRun this command? [y/N] n"),
            "{seen:?}"
        );
    }

    #[test]
    fn input_typed_ahead_is_discarded() {
        let (outcome, _) = ask_through_pty(b"y\n", Then::Type(b"n\n"), false);
        assert_eq!(outcome, Outcome::Refused);
    }

    #[test]
    fn raw_terminal_is_put_in_line_mode_and_restored() {
        // "y\r" is only a line if ICRNL and ICANON were turned back on.
        let (outcome, seen) = ask_through_pty(b"", Then::Type(b"y\r"), true);
        assert_eq!(outcome, Outcome::Approved);
        assert!(seen.contains("\r\nRun this command? [y/N] y"), "{seen:?}");
    }

    #[test]
    fn not_a_terminal() {
        let mut file = tempfile::tempfile().unwrap();
        let err = ask_on(&mut file, "text", QUESTION).unwrap_err();
        assert!(matches!(err, ConsentError::NoTerminal), "{err:?}");
    }

    #[test]
    fn yes_and_dry_run_do_not_ask() {
        assert_eq!(
            obtain("cordon: test rendering", Mode::Yes).unwrap(),
            Outcome::Approved
        );
        assert_eq!(
            obtain("cordon: test rendering", Mode::DryRun).unwrap(),
            Outcome::DryRun
        );
    }

    /// Drives the real thing: this test binary is re-run by python3 in a
    /// new session whose controlling terminal is a pseudo-terminal, the
    /// child asks through `/dev/tty` ([`obtain`]), and the parent presses
    /// keys on the master side once the question is on screen, Ctrl-C
    /// included (the line discipline turns it into SIGINT for the
    /// foreground group). The child starts with SIGINT blocked in every
    /// thread: libtest's main thread would otherwise take the
    /// process-directed signal and die before the prompt's signalfd sees
    /// it. That is also cordon's situation, single-threaded.
    #[test]
    fn real_terminal_answers() {
        const DRIVER: &str = r#"
import os, pty, signal, sys
keys, args = sys.argv[1].encode().decode("unicode_escape").encode(), sys.argv[2:]
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
pid, fd = pty.fork()
if pid == 0:
    os.execv(args[0], args)
seen, sent = b"", False
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if not sent and b"[y/N] " in seen:
        os.write(fd, keys)
        sent = True
sys.stderr.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"#;
        let exe = std::env::current_exe().unwrap();
        for (keys, expect) in [(r"\x03", "Refused"), ("y\n", "Approved"), ("\n", "Refused")] {
            let out = std::process::Command::new("python3")
                .args(["-c", DRIVER, keys])
                .arg(&exe)
                .args([
                    "--exact",
                    "consent::prompt::tests::real_terminal_child",
                    "--ignored",
                ])
                .args(["--nocapture", "--test-threads=1"])
                .env("CORDON_TEST_CONSENT_EXPECT", expect)
                .output()
                .expect("python3 runs (needed for this test)");
            let seen = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "keys {keys:?}: {seen}");
            assert!(
                seen.contains(&format!("child saw {expect}")),
                "keys {keys:?}: {seen}"
            );
        }
    }

    /// Without a controlling terminal (a new session, as under an MCP
    /// host) nothing is asked: the text goes to stderr and the error says
    /// why.
    #[test]
    fn no_controlling_terminal() {
        let out = std::process::Command::new("setsid")
            .arg("--wait")
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "consent::prompt::tests::real_terminal_child",
                "--ignored",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env("CORDON_TEST_CONSENT_EXPECT", "NoTerminal")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("setsid (util-linux) runs (needed for this test)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("cordon: the text\n"), "{stderr}");
    }

    /// The child half of [`real_terminal_answers`] and
    /// [`no_controlling_terminal`]; does nothing alone.
    #[test]
    #[ignore = "run by real_terminal_answers inside a pseudo-terminal"]
    fn real_terminal_child() {
        let Ok(expect) = std::env::var("CORDON_TEST_CONSENT_EXPECT") else {
            return;
        };
        if expect == "NoTerminal" {
            let err = obtain("cordon: the text", Mode::Ask).unwrap_err();
            assert!(matches!(err, ConsentError::NoTerminal), "{err:?}");
            return;
        }
        let outcome = obtain("cordon: the text", Mode::Ask).unwrap();
        let mut tty = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/tty")
            .unwrap();
        writeln!(tty, "child saw {outcome:?}").unwrap();
        assert_eq!(format!("{outcome:?}"), expect);
    }
}
