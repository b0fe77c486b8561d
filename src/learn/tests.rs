//! The rules of `profile learn`, one test each, on a home directory made
//! for the test. Every learned profile is loaded by the profile loader
//! (inside [`learn`]): a test that passes wrote a valid profile.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::dirs::HostPaths;
use crate::explain::{Access, Layer, Refusal, Suggestion};
use crate::policy::Origin;

struct World {
    _dir: tempfile::TempDir,
    ctx: Context,
    host: HostPaths,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let home = root.join("home");
        for d in [
            "work",
            "tmp",
            "home/data",
            "home/.ssh",
            "home/.config/app",
            "home/.config/gh",
            "srv/site",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "home/data/a.txt",
            "home/data/b.txt",
            "home/data/c.txt",
            "home/.ssh/id_ed25519",
            "home/.bashrc",
            "home/.tool.conf",
            "home/.other.conf",
            "home/.config/app/x.json",
            "home/.config/app/y.json",
            "home/.config/one.conf",
            "home/.config/two.conf",
            "srv/site/run.sh",
            "srv/site/lib.sh",
        ] {
            fs::write(root.join(f), "x").unwrap();
        }
        let ctx = Context {
            home: home.clone(),
            cwd: root.join("work"),
            tmp: root.join("tmp"),
            dirs: Vec::new(),
        };
        let host = HostPaths {
            config: home.join(".config/cordon"),
            state: home.join(".local/state/cordon"),
            store: home.join(".local/share/cordon/store"),
            home,
        };
        World {
            _dir: dir,
            ctx,
            host,
        }
    }

    fn path(&self, rel: &str) -> String {
        self.ctx.home.join(rel).display().to_string()
    }

    fn srv(&self, rel: &str) -> String {
        self.ctx
            .home
            .parent()
            .unwrap()
            .join("srv")
            .join(rel)
            .display()
            .to_string()
    }

    fn learn_from(&self, base_text: &str, seen: &[Seen]) -> Learned {
        let file = self.ctx.tmp.join("base.toml");
        let base_policy = crate::profile::load_text(base_text, &file, &self.ctx)
            .unwrap_or_else(|e| panic!("{e}\n{base_text}"));
        let base = Source {
            name: "base".into(),
            origin: Origin::Path(file.clone()),
            text: base_text.into(),
        };
        let command = [OsString::from("server"), OsString::from("--serve")];
        let input = Input {
            name: "learned",
            base: &base,
            command: &command,
            seen,
        };
        let setting = Setting {
            base: &base_policy,
            host: &self.host,
            tmp: &self.ctx.tmp,
        };
        let out = self.ctx.tmp.join("learned.toml");
        learn(&input, &setting, &out, &self.ctx).unwrap_or_else(|e| panic!("{e}"))
    }

    fn learn(&self, seen: &[Seen]) -> Learned {
        self.learn_from(BASE, seen)
    }
}

const BASE: &str = "# The base.\nschema = 1\ndescription = \"A base.\"\n\n[filesystem]\ngroups = [\"runtime\"]  # the system\n\n[network]\nmode = \"none\"  # nothing\n";

fn refused(access: Access, target: &str, layer: Layer) -> Seen {
    let suggestion = match access {
        Access::Connect => Suggestion::Allow {
            table: "network".into(),
            key: "allow".into(),
            value: target.into(),
        },
        Access::Syscall => Suggestion::Allow {
            table: "seccomp".into(),
            key: "allow".into(),
            value: target.into(),
        },
        _ => Suggestion::Grant {
            flag: String::new(),
            key: "read".into(),
            path: target.into(),
        },
    };
    Seen {
        refusal: Refusal {
            access,
            target: target.into(),
            layer,
            suggestion,
            reason: None,
        },
        count: 1,
        by: Some("server".into()),
    }
}

fn read(target: &str) -> Seen {
    refused(Access::Read, target, Layer::MountView)
}

/// The array `key` of `[table]` in the learned text, as written.
fn array(text: &str, table: &str, key: &str) -> Vec<String> {
    let value: toml::Table = toml::from_str(text).unwrap();
    value
        .get(table)
        .and_then(|t| t.get(key))
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn one_file_is_granted_alone_with_what_asked_for_it() {
    let w = World::new();
    let l = w.learn(&[read(&w.path("data/a.txt"))]);
    assert_eq!(array(&l.text, "filesystem", "read"), ["~/data/a.txt"]);
    assert!(
        l.text
            .contains("\"~/data/a.txt\",  # server: read ~/data/a.txt (mount view)"),
        "{}",
        l.text
    );
    assert_eq!(l.grants, 1);
    // The base's own text stays.
    assert!(l.text.contains("# The base.\n"), "{}", l.text);
    assert!(
        l.text.contains("groups = [\"runtime\"]  # the system"),
        "{}",
        l.text
    );
    assert!(
        l.text.starts_with("# Profile `learned`, learned by"),
        "{}",
        l.text
    );
}

#[test]
fn several_files_of_a_directory_grant_the_directory() {
    let w = World::new();
    let l = w.learn(&[read(&w.path("data/a.txt")), read(&w.path("data/b.txt"))]);
    assert_eq!(array(&l.text, "filesystem", "read"), ["~/data"]);
    assert!(
        l.text
            .contains("read ~/data/a.txt (mount view); server: read ~/data/b.txt"),
        "{}",
        l.text
    );
}

#[test]
fn files_of_different_accesses_do_not_add_up() {
    let w = World::new();
    let l = w.learn(&[
        read(&w.path("data/a.txt")),
        refused(Access::Write, &w.path("data/b.txt"), Layer::Landlock),
    ]);
    assert_eq!(array(&l.text, "filesystem", "read"), ["~/data/a.txt"]);
    assert_eq!(array(&l.text, "filesystem", "write"), ["~/data/b.txt"]);
}

#[test]
fn the_home_directory_is_never_granted_as_a_whole() {
    let w = World::new();
    let l = w.learn(&[
        read(&w.path(".tool.conf")),
        read(&w.path(".other.conf")),
        read(&w.path("")),
    ]);
    assert_eq!(
        array(&l.text, "filesystem", "read"),
        ["~/.other.conf", "~/.tool.conf"]
    );
    assert_noted(&l.notes, |n| {
        n.contains("read ~ (mount view)") && n.contains("home directory")
    });
}

#[test]
fn a_credential_store_is_never_proposed_but_noted() {
    let w = World::new();
    let key = w.path(".ssh/id_ed25519");
    let l = w.learn(&[read(&key), read(&w.path(".ssh/config"))]);
    assert!(
        array(&l.text, "filesystem", "read").is_empty(),
        "{}",
        l.text
    );
    assert!(!l.text.contains("\"~/.ssh"), "{}", l.text);
    assert!(
        l.text.contains("# Refused while learning, and not granted:\n#   read ~/.ssh/id_ed25519 (mount view): ~/.ssh is protected"),
        "{}",
        l.text
    );
    assert_eq!(l.grants, 0);
}

#[test]
fn a_directory_holding_a_protected_path_is_not_granted_whole() {
    let w = World::new();
    // ~/.config holds gh's credentials: its files one by one.
    let l = w.learn(&[
        read(&w.path(".config/one.conf")),
        read(&w.path(".config/two.conf")),
        read(&w.path(".config/app/x.json")),
        read(&w.path(".config/app/y.json")),
    ]);
    assert_eq!(
        array(&l.text, "filesystem", "read"),
        ["~/.config/app", "~/.config/one.conf", "~/.config/two.conf"]
    );
}

#[test]
fn a_path_protected_against_writing_is_readable_not_writable() {
    let w = World::new();
    let bashrc = w.path(".bashrc");
    let l = w.learn(&[
        read(&bashrc),
        refused(Access::Write, &bashrc, Layer::MountView),
    ]);
    assert_eq!(array(&l.text, "filesystem", "read"), ["~/.bashrc"]);
    assert!(array(&l.text, "filesystem", "write").is_empty());
    assert_noted(&l.notes, |n| {
        n.contains("write ~/.bashrc") && n.contains("protected against writing")
    });
}

#[test]
fn a_created_file_grants_its_directory_writable() {
    let w = World::new();
    let l = w.learn(&[
        refused(
            Access::Create,
            &w.path("data/new/deep.txt"),
            Layer::Landlock,
        ),
        read(&w.path("data/a.txt")),
    ]);
    assert_eq!(array(&l.text, "filesystem", "write"), ["~/data"]);
    // Reading below a writable directory needs nothing more.
    assert!(
        array(&l.text, "filesystem", "read").is_empty(),
        "{}",
        l.text
    );
    // A file created directly in the home directory cannot be.
    let l = w.learn(&[refused(
        Access::Create,
        &w.path(".new-history"),
        Layer::MountView,
    )]);
    assert!(array(&l.text, "filesystem", "write").is_empty());
    assert_noted(&l.notes, |n| n.contains("create the file first"));
}

#[test]
fn execute_and_missing_files() {
    let w = World::new();
    let l = w.learn(&[
        refused(Access::Execute, &w.srv("site/run.sh"), Layer::Landlock),
        refused(Access::Execute, &w.srv("site/lib.sh"), Layer::Landlock),
        read(&w.srv("site/absent.conf")),
        read(&w.srv("site/../site/run.sh")),
    ]);
    assert_eq!(
        array(&l.text, "filesystem", "exec"),
        [Path::new(&w.srv("site")).display().to_string()]
    );
    assert!(
        array(&l.text, "filesystem", "read").is_empty(),
        "{}",
        l.text
    );
    assert_noted(&l.notes, |n| {
        n.contains("absent.conf") && n.contains("does not exist")
    });
}

#[test]
fn a_refused_destination_becomes_an_allow_entry_of_mode_filtered() {
    let w = World::new();
    let l = w.learn(&[
        refused(Access::Connect, "127.0.0.1:8080", Layer::Egress),
        refused(Access::Connect, "API.example.com:443", Layer::Egress),
    ]);
    assert_eq!(
        array(&l.text, "network", "allow"),
        ["127.0.0.1:8080", "api.example.com:443"]
    );
    // A name lookup, with the entry its record suggests.
    let mut lookup = refused(Access::Resolve, "pypi.org", Layer::Egress);
    lookup.refusal.suggestion = Suggestion::Allow {
        table: "network".into(),
        key: "allow".into(),
        value: "pypi.org:443".into(),
    };
    let l = w.learn(&[lookup]);
    assert_eq!(array(&l.text, "network", "allow"), ["pypi.org:443"]);
    assert!(l.text.contains("the port assumed"), "{}", l.text);
    assert!(l.text.contains("# Learned: was \"none\""), "{}", l.text);
    assert!(
        l.text.contains("mode = \"filtered\"  # nothing"),
        "{}",
        l.text
    );
    // Mode host with a port list: the port.
    let host = "schema = 1\ndescription = \"d\"\n[network]\nmode = \"host\"\nconnect = [443]\n";
    let l = w.learn_from(
        host,
        &[refused(Access::Connect, "127.0.0.1:8080", Layer::Landlock)],
    );
    assert_eq!(array(&l.text, "network", "connect"), ["443", "8080"]);
    assert!(l.text.contains("mode = \"host\""), "{}", l.text);
}

#[test]
fn system_calls_lifted_or_noted() {
    let w = World::new();
    let mut mandatory = refused(Access::Syscall, "openat2", Layer::Seccomp);
    mandatory.refusal.suggestion = Suggestion::Impossible {
        why: "a mandatory refusal".into(),
    };
    let l = w.learn(&[
        refused(Access::Syscall, "memfd_create", Layer::Seccomp),
        refused(Access::Syscall, "keyctl", Layer::Seccomp),
        refused(Access::Syscall, "socket", Layer::Seccomp),
        refused(Access::Syscall, "clone", Layer::Seccomp),
        refused(Access::Syscall, "#999", Layer::Seccomp),
        mandatory,
        refused(Access::Signal, "pid 1", Layer::Landlock),
    ]);
    assert_eq!(
        array(&l.text, "seccomp", "allow"),
        ["keyctl", "memfd_create"]
    );
    for lifted_whole in ["socket", "clone", "#999"] {
        assert_noted(&l.notes, |n| {
            n.starts_with(&format!("system call {lifted_whole} "))
        });
    }
    assert!(
        l.text
            .contains("#   system call openat2 (seccomp): a mandatory refusal\n"),
        "{}",
        l.text
    );
    assert_noted(&l.notes, |n| n.contains("signal"));
}

#[test]
fn a_learned_profile_learns_again_without_repeating_itself() {
    let w = World::new();
    let seen = [
        read(&w.path("data/a.txt")),
        read(&w.path(".ssh/id_ed25519")),
        refused(Access::Connect, "127.0.0.1:8080", Layer::Egress),
    ];
    let first = w.learn(&seen);
    let more = [
        read(&w.path("data/a.txt")),
        read(&w.path(".ssh/id_ed25519")),
        read(&w.path("data/c.txt")),
    ];
    let second = w.learn_from(&first.text, &more);
    assert_eq!(second.grants, 1, "{}", second.text);
    assert_eq!(
        array(&second.text, "filesystem", "read"),
        ["~/data/a.txt", "~/data/c.txt"]
    );
    assert_eq!(
        second
            .text
            .matches("learned by `cordon profile learn`")
            .count(),
        1
    );
    assert_eq!(
        second.text.matches("id_ed25519").count(),
        1,
        "{}",
        second.text
    );
    assert_eq!(array(&second.text, "network", "allow"), ["127.0.0.1:8080"]);
}

#[test]
fn every_shipped_profile_is_a_base() {
    let w = World::new();
    for name in crate::profile::builtin_names() {
        let source = crate::profile::source(name, &w.ctx).unwrap();
        let l = w.learn_from(
            &source.text,
            &[
                read(&w.path("data/a.txt")),
                refused(Access::Connect, "127.0.0.1:8080", Layer::Egress),
                refused(Access::Syscall, "memfd_create", Layer::Seccomp),
            ],
        );
        assert!(
            array(&l.text, "filesystem", "read").contains(&"~/data/a.txt".to_owned()),
            "{name}: {}",
            l.text
        );
    }
}

#[test]
fn names_from_the_server_cannot_break_out_of_a_comment() {
    let w = World::new();
    let odd: PathBuf = w.ctx.home.join("data/odd\nmode = \"host\"");
    fs::write(&odd, "x").unwrap();
    let l = w.learn(&[read(&odd.display().to_string())]);
    let value: toml::Table = toml::from_str(&l.text).unwrap();
    assert_eq!(
        value["network"]["mode"].as_str(),
        Some("none"),
        "{}",
        l.text
    );
    assert_eq!(
        array(&l.text, "filesystem", "read"),
        ["~/data/odd\nmode = \"host\""]
    );
}

#[test]
fn code_that_is_mapped_is_executable_and_bytecode_caches_are_not_learned() {
    let w = World::new();
    let venv = w.ctx.home.join("venv");
    let packages = venv.join("lib/python3.11/site-packages");
    fs::create_dir_all(packages.join("ext")).unwrap();
    fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    fs::write(
        packages.join("ext/_fast.cpython-311-x86_64-linux-gnu.so"),
        "x",
    )
    .unwrap();
    let l = w.learn(&[
        read(&packages.display().to_string()),
        refused(
            Access::Create,
            &packages.join("ext/__pycache__").display().to_string(),
            Layer::Landlock,
        ),
    ]);
    assert_eq!(
        array(&l.text, "filesystem", "exec"),
        ["~/venv/lib/python3.11/site-packages"]
    );
    assert!(
        array(&l.text, "filesystem", "write").is_empty(),
        "{}",
        l.text
    );
    assert_noted(&l.notes, |n| n.contains("bytecode cache"));
}

fn suggesting(access: Access, target: &str, table: &str, key: &str, value: &str) -> Seen {
    let mut seen = refused(access, target, Layer::Seccomp);
    seen.refusal.suggestion = Suggestion::Setting {
        table: table.into(),
        key: key.into(),
        value: value.into(),
    };
    seen
}

#[test]
fn a_setting_that_narrows_is_learned_once() {
    let w = World::new();
    let unix = suggesting(
        Access::Syscall,
        "socket (AF_UNIX)",
        "sandbox",
        "namespaces",
        "required",
    );
    let l = w.learn(std::slice::from_ref(&unix));
    assert_eq!(l.grants, 1, "{}", l.text);
    assert!(
        l.text.contains(
            "\n[sandbox]\n# Learned: server: system call socket (AF_UNIX) (seccomp)\nnamespaces = \"required\"\n"
        ),
        "{}",
        l.text
    );
    // Learning again with it (a run with --no-namespaces is refused the
    // same way): the profile has it already, nothing is set twice.
    let again = w.learn_from(&l.text, &[unix]);
    assert_eq!(again.grants, 0, "{}", again.text);
    assert_eq!(
        again.text.matches("\nnamespaces = ").count(),
        1,
        "{}",
        again.text
    );
    assert_noted(&again.notes, |n| n.contains("already in the profile"));
}

#[test]
fn a_setting_that_widens_the_network_is_a_note() {
    let w = World::new();
    let l = w.learn(&[
        suggesting(
            Access::Syscall,
            "socket (AF_INET)",
            "network",
            "mode",
            "filtered",
        ),
        suggesting(
            Access::Syscall,
            "socket (AF_INET6)",
            "network",
            "mode",
            "host",
        ),
    ]);
    assert_eq!(l.grants, 0, "{}", l.text);
    let value: toml::Table = toml::from_str(&l.text).unwrap();
    assert_eq!(
        value["network"]["mode"].as_str(),
        Some("none"),
        "{}",
        l.text
    );
    assert!(
        l.text
            .contains("mode = \\\"filtered\\\" in [network] with an entry")
            || l.text
                .contains("mode = \"filtered\" in [network] with an entry"),
        "{}",
        l.text
    );
    assert_noted(&l.notes, |n| {
        n.contains("the host's whole network is never learned")
    });
}

#[test]
fn calls_let_through_by_action_log_are_noted_not_granted() {
    let w = World::new();
    let l = w.learn(&[
        refused(Access::Syscall, "keyctl", Layer::SeccompLog),
        refused(Access::Syscall, "clone", Layer::SeccompLog),
    ]);
    assert_eq!(l.grants, 0, "{}", l.text);
    assert!(array(&l.text, "seccomp", "allow").is_empty(), "{}", l.text);
    let note = |name: &str| {
        l.notes
            .iter()
            .find(|n| n.starts_with(&format!("system call {name} ")))
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        note("keyctl").contains("allowed this time by action \"log\"")
            && note("keyctl").contains("allow = [\"keyctl\"] in [seccomp]"),
        "{:?}",
        l.notes
    );
    assert!(
        note("clone").contains("refused for some arguments only"),
        "{:?}",
        l.notes
    );
}

#[test]
fn notes_of_later_rounds_go_on_in_one_block() {
    let w = World::new();
    let first = w.learn(&[read(&w.path(".ssh/id_ed25519"))]);
    let second = w.learn_from(&first.text, &[read(&w.path(".config/gh/hosts.yml"))]);
    assert_eq!(
        second
            .text
            .matches("# Refused while learning, and not granted:")
            .count(),
        1,
        "{}",
        second.text
    );
    assert!(
        second.text.contains("id_ed25519") && second.text.contains("gh"),
        "{}",
        second.text
    );
}

/// Some note satisfies `test`; the notes are printed otherwise.
#[track_caller]
fn assert_noted(notes: &[String], test: impl Fn(&str) -> bool) {
    assert!(notes.iter().any(|n| test(n)), "{notes:?}");
}
