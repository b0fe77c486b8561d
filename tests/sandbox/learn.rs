//! `cordon profile learn`: a scripted server (the probe's `steps`) reads
//! a file outside its grants, creates one in a read-only grant, executes
//! a program that is not granted, connects to a loopback test host not on
//! its list (with namespaces: the destination is learned in network mode
//! "filtered"), reads a protected credential file and calls a system call
//! of the deny list. Learning grants nothing while the server runs (each
//! step fails as under `run`); the learned profile is written where `-p
//! NAME` finds it, and under it the same server succeeds at every step
//! but the credential file, which is never proposed, only named in a
//! comment. A second learn run on the learned profile adds nothing.
//!
//! From a profile that grants nothing, a `#!/bin/sh` script is learned
//! in rounds: the shell's loader (opened by the kernel inside `execve`,
//! named by cordon when `execve` fails; the script and its interpreter
//! are granted by themselves), then the loader's cache and the C
//! library, until a round adds nothing and the script runs under
//! `cordon run`.
//!
//! Refusals that follow from a setting: a Unix socket refused without
//! namespaces learns `namespaces = "required"` (once); an internet
//! socket under network mode "none" is a note naming the mode, never a
//! wider network. Under `[seccomp] action = "log"` a call of the deny list
//! runs: it is noted with the entry action "errno" would need, and not
//! granted.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::world::{Case, CaseResult, Only, World, contents, ensure, s};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("learn_then_run", Only::Both, learn_then_run),
        Case::new("learn_by_interview", Only::Both, learn_by_interview),
        Case::new("learn_settings", Only::Both, learn_settings),
        Case::new("learn_under_action_log", Only::Both, learn_under_action_log),
        Case::new("learn_from_nothing", Only::Both, learn_from_nothing),
    ]
}

/// The scripted server's steps, and the paths and destination it names.
struct Script {
    argv: Vec<String>,
    /// The test host's connections so far (with namespaces).
    reached: Arc<AtomicUsize>,
    secret: String,
    created: String,
    tool: String,
    key: String,
    host: Option<String>,
}

fn script(w: &World) -> Script {
    let secret = s(&w.outside.join("secret.txt")).to_owned();
    // With namespaces, a path outside every grant below the world (which
    // lies in /tmp) would be in the server's private /tmp: create in a
    // read-only grant instead.
    let created = s(&w.ro.join("learned.txt")).to_owned();
    let tool = w.plant("outside/tool", "#!/bin/sh\necho ran\n");
    let _ = std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755));
    let tool = s(&tool).to_owned();
    let key = s(&w.at("home/.ssh/id_ed25519")).to_owned();
    let reached = Arc::new(AtomicUsize::new(0));
    let host = w.ns.then(|| test_host(Arc::clone(&reached)));
    let mut steps = vec![
        vec!["read", &secret],
        vec!["write", &created],
        vec!["exec", &tool],
        vec!["read", &key],
        vec!["keyctl"],
    ];
    if let Some(host) = &host {
        steps.push(vec!["tcp-hello", host]);
    }
    let mut argv = vec!["steps".to_owned()];
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            argv.push("+".into());
        }
        argv.extend(step.iter().map(|a| (*a).to_owned()));
    }
    Script {
        argv,
        reached,
        secret,
        created,
        tool,
        key,
        host,
    }
}

/// A test host on the host's loopback that greets every connection;
/// returns its address.
fn test_host(reached: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("test host listener");
    let addr = listener
        .local_addr()
        .expect("test host address")
        .to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            reached.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(b"hello from the test host\n");
        }
    });
    addr
}

/// Each step's outcome, in order: `ok` or an errno name.
fn outcomes(answer: &str) -> Vec<String> {
    answer
        .split(',')
        .map(|step| step.split_once(':').map_or("", |(_, o)| o).to_owned())
        .collect()
}

/// The base profile: the runtime group; with namespaces, mode "filtered"
/// whose one entry uses the test host's port on an address nothing
/// answers (TEST-NET-1), so that the sandbox listens on that port and the
/// connection reaches the filter, which refuses and reports it.
fn base(w: &World, script: &Script) -> std::path::PathBuf {
    let port = script
        .host
        .as_ref()
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p);
    let extra = match port {
        Some(port) => {
            format!("[network]\nmode = \"filtered\"\nallow = [\"192.0.2.1:{port}\"]\n")
        }
        None => String::new(),
    };
    w.profile("learn-base", &extra)
}

fn learn_then_run(w: &World) -> CaseResult {
    let script = script(w);
    let argv: Vec<&str> = script.argv.iter().map(String::as_str).collect();
    let learning = w
        .sandbox()
        .learning("learned")
        .profile(&base(w, &script))
        .ro(&w.ro)
        .probe(&argv);
    let first = outcomes(&learning.ok()?);
    // Nothing was granted while learning: every step failed.
    ensure(
        first.iter().all(|o| o != "ok") && first.get(4).is_some_and(|o| o == "EPERM"),
        || format!("a step succeeded while learning: {first:?}"),
    )?;
    ensure(script.reached.load(Ordering::SeqCst) == 0, || {
        "ESCAPE: the test host was reached while learning".to_owned()
    })?;
    let file = w.env.home.join(".config/cordon/profiles/learned.toml");
    let text = contents(&file);
    ensure(learning.stderr.contains(s(&file)), || {
        format!("learn did not name the file it wrote:\n{}", learning.stderr)
    })?;
    let granted = |key: &str, path: &str| {
        text.contains(&format!("\"{path}\",  # ")) && text.contains(&format!("{key} = ["))
    };
    ensure(granted("read", &script.secret), || {
        format!("the read file is not granted:\n{text}")
    })?;
    ensure(granted("write", s(&w.ro)), || {
        format!("the created file's directory is not writable:\n{text}")
    })?;
    ensure(granted("exec", &script.tool), || {
        format!("the program is not executable:\n{text}")
    })?;
    ensure(text.contains("\"keyctl\",  # "), || {
        format!("the system call is not lifted:\n{text}")
    })?;
    if let Some(host) = &script.host {
        ensure(text.contains(&format!("\"{host}\",  # ")), || {
            format!("the destination is not allowed:\n{text}")
        })?;
    }
    // The credential is named in the closing comment, never granted.
    ensure(
        !text.contains(&format!("\"{}\"", script.key))
            && text.lines().any(|l| {
                l.starts_with("#   ") && l.contains("id_ed25519") && l.contains("protected")
            }),
        || format!("the credential file is proposed or not noted:\n{text}"),
    )?;

    // The same server under the learned profile.
    let run = w
        .sandbox()
        .profile(Path::new("learned"))
        .ro(&w.ro)
        .probe(&argv);
    let second = outcomes(&run.ok()?);
    let expect_ok = |i: usize, what: &str| -> Result<(), String> {
        ensure(second.get(i).is_some_and(|o| o == "ok"), || {
            format!("{what} failed under the learned profile: {second:?}\n{text}")
        })
    };
    expect_ok(0, "the read")?;
    expect_ok(1, "the write")?;
    expect_ok(2, "the program")?;
    ensure(second.get(3).is_some_and(|o| o != "ok"), || {
        format!("ESCAPE: the credential file was read: {second:?}")
    })?;
    ensure(second.get(4).is_some_and(|o| o != "EPERM"), || {
        format!("keyctl is still refused by the filter: {second:?}")
    })?;
    if script.host.is_some() {
        expect_ok(5, "the connection to the test host")?;
        ensure(script.reached.load(Ordering::SeqCst) > 0, || {
            "the test host saw no connection".to_owned()
        })?;
    }
    ensure(Path::new(&script.created).is_file(), || {
        "the created file is not on the host".to_owned()
    })?;

    // Learning again from the learned profile finds nothing new to grant.
    let again = w
        .sandbox()
        .learning("learned")
        .profile(Path::new("learned"))
        .ro(&w.ro)
        .probe(&argv);
    again.ok()?;
    let text_again = contents(&file);
    let noted = text_again
        .lines()
        .filter(|l| l.starts_with("#   read ") && l.contains("id_ed25519"))
        .count();
    ensure(
        text_again
            .matches("learned by `cordon profile learn`")
            .count()
            == 1
            && noted == 1,
        || format!("learning again repeated itself ({noted} notes of the key):\n{text_again}"),
    )?;
    ensure(again.stderr.contains("0 grants"), || {
        format!("learning again added grants:\n{}", again.stderr)
    })?;
    Ok(())
}

/// `--interview`: no host; cordon asks the server what it offers (the
/// probe answers nothing), ends it, and learns from its refusals.
fn learn_by_interview(w: &World) -> CaseResult {
    let secret = s(&w.outside.join("secret.txt")).to_owned();
    let probe = s(&w.probe).to_owned();
    let cmd = w
        .sandbox()
        .learning("interviewed")
        .flags(&["--interview"])
        .build(&[&probe, "--probe", "read", &secret]);
    let out = crate::invoke::run_timed(cmd, "profile learn --interview".into());
    ensure(out.code == Some(0), || out.describe())?;
    ensure(out.stderr.contains("cordon: interview: "), || {
        format!("no interview summary:\n{}", out.stderr)
    })?;
    let text = contents(&w.env.home.join(".config/cordon/profiles/interviewed.toml"));
    ensure(text.contains(&format!("\"{secret}\",  # ")), || {
        format!("the read file is not granted:\n{text}")
    })?;
    Ok(())
}

/// A Unix socket and an internet socket under the runtime group alone
/// (network mode "none").
fn learn_settings(w: &World) -> CaseResult {
    let base = w.profile("learn-settings", "");
    let argv = [
        "steps", "socket", "1", "1", "0", "+", "socket", "2", "1", "0",
    ];
    let learning = w.sandbox().learning("settings").profile(&base).probe(&argv);
    let first = outcomes(&learning.ok()?);
    // With namespaces the Unix socket is the sandbox's own; without, the
    // deny list refuses it. The internet socket has no network either way.
    let unix = if w.ns { "ok" } else { "EPERM" };
    ensure(
        first.first().is_some_and(|o| o == unix) && first.get(1).is_some_and(|o| o == "EPERM"),
        || format!("unexpected outcomes while learning: {first:?}"),
    )?;
    let file = w.env.home.join(".config/cordon/profiles/settings.toml");
    let text = contents(&file);
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{e}\n{text}"))?;
    let setting = table
        .get("sandbox")
        .and_then(|t| t.get("namespaces"))
        .and_then(toml::Value::as_str);
    let mode = table
        .get("network")
        .and_then(|t| t.get("mode"))
        .and_then(toml::Value::as_str);
    ensure(mode.is_none(), || {
        format!("the network mode was learned:\n{text}")
    })?;
    let noted = if w.ns {
        "mode = \"filtered\" in [network] with an entry"
    } else {
        "the host's whole network is never learned"
    };
    ensure(
        text.lines()
            .any(|l| l.starts_with("#   system call socket (AF_INET)") && l.contains(noted)),
        || format!("the internet socket is not noted with the mode:\n{text}"),
    )?;
    if w.ns {
        ensure(setting.is_none(), || {
            format!("namespaces learned where they were on:\n{text}")
        })?;
        return Ok(());
    }
    ensure(setting == Some("required"), || {
        format!("namespaces = \"required\" not learned:\n{text}")
    })?;
    // This run overrides it (--no-namespaces): learning again sets
    // nothing twice and says why.
    let again = w
        .sandbox()
        .learning("settings")
        .profile(Path::new("settings"))
        .probe(&argv);
    again.ok()?;
    let text_again = contents(&file);
    ensure(
        again.stderr.contains("0 grants")
            && text_again.matches("\nnamespaces = ").count() == 1
            && text_again.contains("is already in the profile"),
        || {
            format!(
                "learning again set it again:\n{}\n{text_again}",
                again.stderr
            )
        },
    )?;
    Ok(())
}

/// `action = "log"`: the call ran, and nothing is granted for it.
fn learn_under_action_log(w: &World) -> CaseResult {
    let base = w.profile("learn-log", "[seccomp]\naction = \"log\"\n");
    let learning = w
        .sandbox()
        .learning("logged")
        .profile(&base)
        .probe(&["keyctl"]);
    // The kernel answers keyctl's unknown operation itself.
    let outcome = learning.stdout.clone();
    ensure(!outcome.contains("EPERM"), || {
        format!("keyctl was refused under action log: {outcome}")
    })?;
    let text = contents(&w.env.home.join(".config/cordon/profiles/logged.toml"));
    ensure(
        learning.stderr.contains("0 grants") && !text.contains("\"keyctl\",  # "),
        || format!("the logged call was granted:\n{}\n{text}", learning.stderr),
    )?;
    ensure(
        text.lines().any(|l| {
            l.starts_with("#   system call keyctl")
                && l.contains("allowed this time by action \"log\"")
                && l.contains("allow = [\"keyctl\"] in [seccomp]")
        }),
        || format!("the logged call is not noted:\n{text}"),
    )?;
    Ok(())
}

/// More learn rounds than this means learning does not converge.
const ROUNDS: usize = 8;

fn learn_from_nothing(w: &World) -> CaseResult {
    let empty = w.plant(
        "profiles/nothing.toml",
        "schema = 1\ndescription = \"escape suite: nothing\"\n",
    );
    let script = w.plant("outside/hello", "#!/bin/sh\necho hello from sh >&2\n");
    let _ = std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755));
    let script = s(&script).to_owned();
    let file = w
        .env
        .home
        .join(".config/cordon/profiles/nothing-learned.toml");
    let mut base = empty.clone();
    for round in 1..=ROUNDS {
        let cmd = w
            .sandbox()
            .learning("nothing-learned")
            .profile(&base)
            .build(&[&script]);
        let out = crate::invoke::run_timed(cmd, format!("learn round {round}"));
        let text = contents(&file);
        ensure(
            out.stderr
                .contains("cordon: learned profile nothing-learned ("),
            || format!("round {round} wrote no profile: {}", out.describe()),
        )?;
        if round == 1 {
            // Nothing runs: cordon grants the script and its interpreter
            // by themselves, and the interpreter's loader, which the
            // kernel opens, is refused first; the line names it.
            ensure(out.code == Some(126) || out.code == Some(127), || {
                format!("round 1 did not fail to execute: {}", out.describe())
            })?;
            ensure(out.stderr.contains("cordon: refused: execute /"), || {
                format!("the loader was not named:\n{}", out.stderr)
            })?;
        }
        if out.stderr.contains("(0 grants") {
            let run = w
                .sandbox()
                .profile(Path::new("nothing-learned"))
                .build(&[&script]);
            let run = crate::invoke::run_timed(run, "run under the learned profile".into());
            ensure(
                run.code == Some(0) && run.stderr.contains("hello from sh"),
                || {
                    format!(
                        "the script failed under the learned profile: {}\n{text}",
                        run.describe()
                    )
                },
            )?;
            // Narrow: the files the loader and the shell open, not their
            // directories.
            ensure(
                !text.contains("\"/usr/lib\"") && !text.contains("\"/usr\""),
                || format!("a system directory was granted whole:\n{text}"),
            )?;
            return Ok(());
        }
        base = std::path::PathBuf::from("nothing-learned");
    }
    Err(format!(
        "learning did not converge in {ROUNDS} rounds:\n{}",
        contents(&file)
    )
    .into())
}
