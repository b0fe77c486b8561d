//! The rules that turn refusals into the narrowest grants that explain
//! them, or into a note saying why not.
//!
//! - A refused file is granted itself; its directory only when several
//!   files of that directory were refused for the same access, and never
//!   the home directory, a directory above it, `/` or a directory directly
//!   below `/` (then each file is granted alone).
//! - A file created or removed needs its directory writable: the nearest
//!   existing one, under the same rule (else a note says to create the
//!   file first).
//! - A read of code a runtime then maps executable (a native library, a
//!   Python environment or package directory, `node_modules`) is granted
//!   `exec`: the kernel refuses the mapping, which no refusal shows.
//! - Python's bytecode cache is never made writable (Python runs without
//!   it, and a writable code directory is not learned).
//! - What is never granted whatever asked (see `never`): protected paths
//!   and credential stores, cordon's own directories, and as a whole the
//!   home directory and the directories above it, `/`, a top-level
//!   directory, a directory holding a protected path. Each is a note
//!   saying it was asked for.
//! - Destinations and system calls: see `net`; settings the advice
//!   names, and calls let through under action `log`: see `settings`.
//! - What the refusal itself says no profile change allows (a mandatory
//!   refusal, a protected path) is a note, never a grant.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::edit::{Change, Item};
use crate::dirs::HostPaths;
use crate::explain::{Access, Layer, Refusal, Seen, Suggestion};
use crate::policy::Policy;

/// How many files of one directory, refused for the same access, make the
/// directory the grant.
pub const SEVERAL: usize = 2;

/// At most this many refusals are named in one grant's comment.
const NAMED: usize = 3;

/// What the rules need to know besides the refusals.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    /// The base profile, validated.
    pub base: &'a Policy,
    pub host: &'a HostPaths,
    /// The host's temporary directory (`$TMPDIR`, else `/tmp`).
    pub tmp: &'a Path,
}

/// The grants and the notes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// One line per refusal not granted: what was asked for and why not.
    pub notes: Vec<String>,
    /// How many grants the changes add.
    pub grants: usize,
}

/// The filesystem keys, in the order a grant covers another: `exec` and
/// `write` both include `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Read,
    Exec,
    Write,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Read => "read",
            Key::Exec => "exec",
            Key::Write => "write",
        }
    }

    fn covers(self, other: Key) -> bool {
        self == other || other == Key::Read
    }
}

/// One path to grant and the refusals it explains.
#[derive(Debug, Clone)]
struct Ask {
    path: PathBuf,
    key: Key,
    /// Whether `path` is a directory (a create's parent, a listed one).
    dir: bool,
    asked: Vec<String>,
}

/// The plan for `seen` on top of `setting.base`.
pub fn plan(seen: &[Seen], setting: &Setting<'_>) -> Plan {
    let mut plan = Plan::default();
    let mut asks = Vec::new();
    let mut net = super::net::Net::default();
    let mut settings = super::settings::Settings::default();
    for s in seen {
        let refusal = &s.refusal;
        let asked = asked_text(s, setting.host);
        // Notes leave out the program that asked (it varies between
        // runs), so that learning again does not repeat them.
        let what = asked_text(
            &Seen {
                by: None,
                ..s.clone()
            },
            setting.host,
        );
        if let Suggestion::Impossible { why } = &refusal.suggestion {
            plan.notes.push(format!("{what}: {why}"));
            continue;
        }
        let outcome = match refusal.access {
            // The call ran: nothing to grant (see `settings`).
            _ if refusal.layer == Layer::SeccompLog => Err(super::settings::logged(refusal)),
            _ if matches!(refusal.suggestion, Suggestion::Setting { .. }) => {
                settings.ask(refusal, asked.clone())
            }
            Access::Read | Access::Write | Access::Execute | Access::Create | Access::Remove => {
                file_ask(refusal, setting)
                    .and_then(|ask| not_granted_yet(ask, setting))
                    .map(|ask| {
                        asks.push(Ask {
                            asked: vec![asked.clone()],
                            ..ask
                        });
                    })
            }
            Access::Connect => net.connect(refusal, asked.clone(), setting.base),
            Access::Bind => net.bind(refusal, asked.clone(), setting.base),
            Access::Syscall => match &refusal.suggestion {
                Suggestion::Allow { table, key, value } if table == "seccomp" && key == "allow" => {
                    super::net::liftable(value).map(|()| {
                        net.syscalls
                            .entry(value.clone())
                            .or_default()
                            .push(asked.clone());
                    })
                }
                _ => Err("no profile change allows this system call".to_owned()),
            },
            // A lookup does not say the port: the suggested entry assumes
            // HTTPS, and the comment says so.
            Access::Resolve => match &refusal.suggestion {
                Suggestion::Allow { .. } => {
                    net.connect(refusal, format!("{asked}, the port assumed"), setting.base)
                }
                _ => Err(format!(
                    "the port is not known from a name lookup: add \"{}:PORT\" to [network] allow",
                    refusal.target
                )),
            },
            Access::Signal => Err("signals outside the sandbox are never allowed".to_owned()),
        };
        if let Err(why) = outcome {
            plan.notes.push(format!("{what}: {why}"));
        }
    }
    let asks = merge_same_files(asks);
    let asks = drop_parents_of_files(asks);
    let asks = widen_to_directories(asks, setting);
    let asks = drop_covered(asks);
    files_changes(&asks, setting, &mut plan);
    net.changes(setting.base, &mut plan);
    settings.changes(&mut plan);
    plan
}

/// `read ~/x (landlock)`, with the program that asked when known.
fn asked_text(seen: &Seen, host: &HostPaths) -> String {
    let r = &seen.refusal;
    let target = if r.target.starts_with('/') {
        shown(Path::new(&r.target), &host.home)
    } else {
        r.target.clone()
    };
    let by = seen
        .by
        .as_deref()
        .map(|b| format!("{b}: "))
        .unwrap_or_default();
    let target = if target.is_empty() {
        "(no path known)".to_owned()
    } else {
        target
    };
    format!("{by}{} {target} ({})", r.access.name(), r.layer.name())
}

/// `~/…` for paths in the home directory, as profiles write them.
pub fn shown(path: &Path, home: &Path) -> String {
    match path.strip_prefix(home) {
        Ok(rest) if rest.as_os_str().is_empty() => "~".to_owned(),
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => path.display().to_string(),
    }
}

/// `.` and `..` removed without touching the filesystem (the server named
/// the path; `..` is refused in a profile).
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The path of a file refusal to grant, and with which key.
fn file_ask(refusal: &Refusal, setting: &Setting<'_>) -> Result<Ask, String> {
    let named = Path::new(&refusal.target);
    if !named.is_absolute() {
        return Err("not an absolute path".to_owned());
    }
    let path = normalized(named);
    let real = std::fs::canonicalize(&path).ok();
    let writes = matches!(
        refusal.access,
        Access::Write | Access::Create | Access::Remove
    );
    for p in std::iter::once(&path).chain(real.as_ref()) {
        if let Some(why) = super::never::protection(p, writes, setting.host) {
            return Err(why);
        }
    }
    if path.starts_with("/proc") {
        return Err("paths of /proc name processes, not files: never granted".to_owned());
    }
    let key = match refusal.access {
        Access::Read if maps_code(&path) => Key::Exec,
        Access::Read => Key::Read,
        Access::Execute => Key::Exec,
        _ => Key::Write,
    };
    if key == Key::Write && path.components().any(|c| c.as_os_str() == "__pycache__") {
        return Err(
            "Python's bytecode cache: Python runs without writing it, and a writable code directory is not learned"
                .to_owned(),
        );
    }
    let creates = matches!(refusal.access, Access::Create | Access::Remove);
    if !creates && real.is_none() {
        if key == Key::Write {
            return parent_ask(&path, setting);
        }
        return Err("it does not exist here".to_owned());
    }
    if creates {
        return parent_ask(&path, setting);
    }
    let dir = real.as_ref().is_some_and(|r| r.is_dir());
    if dir {
        super::never::directory_grantable(&path, setting)?;
    }
    Ok(Ask {
        path,
        key,
        dir,
        asked: Vec::new(),
    })
}

/// Code a runtime maps executable after reading it (a native library, a
/// Python extension, a Node addon), and the places that hold it (a Python
/// environment, its package directories, `node_modules`): mapping needs
/// the execute right, which no refusal shows, since the kernel refuses
/// the mapping, not an open.
fn maps_code(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `libz.so.1.3`, not `ld.so.cache`.
    let versioned = name
        .split_once(".so.")
        .is_some_and(|(_, version)| version.starts_with(|c: char| c.is_ascii_digit()));
    let library = name.ends_with(".so") || versioned || name.ends_with(".node");
    let package_dir = path.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some("site-packages" | "dist-packages" | "node_modules")
        )
    });
    let venv = path
        .ancestors()
        .any(|d| d.join("pyvenv.cfg").is_file() && d != Path::new("/"));
    library || package_dir || (path.is_dir() && (venv || holds_libraries(path)))
}

/// A directory with native libraries in it (Python's `lib-dynload`, a
/// plugin directory): granted as a whole, it is granted for mapping.
fn holds_libraries(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".so") || name.contains(".so.")
        })
    })
}

/// A file created or removed: its nearest existing directory, writable.
fn parent_ask(path: &Path, setting: &Setting<'_>) -> Result<Ask, String> {
    let dir = path
        .ancestors()
        .skip(1)
        .find(|d| d.is_dir())
        .unwrap_or(Path::new("/"));
    super::never::directory_grantable(dir, setting).map_err(|why| {
        format!(
            "creating it needs {} writable, and {why}; create the file first (it is then granted alone)",
            shown(dir, &setting.host.home)
        )
    })?;
    Ok(Ask {
        path: dir.to_path_buf(),
        key: Key::Write,
        dir: true,
        asked: Vec::new(),
    })
}

/// A directory refused for reading (a lookup, a listing) with files
/// below it refused too: the files' grants put the directory in the
/// sandbox's view, and what else it holds was not asked for. A dynamic
/// loader that cannot read its cache looks at each library directory;
/// granting those would hand over every library without the execute
/// right its mappings need. A listing still refused shows in the next
/// learn run, with no file below to explain it, and is granted then.
fn drop_parents_of_files(asks: Vec<Ask>) -> Vec<Ask> {
    let below = |dir: &Path| {
        asks.iter()
            .any(|a| a.path != dir && a.path.starts_with(dir))
    };
    // A directory's `exec` ask came from a read too (it holds code).
    let keep: Vec<bool> = asks
        .iter()
        .map(|a| !(a.dir && a.key != Key::Write && below(&a.path)))
        .collect();
    asks.into_iter()
        .zip(keep)
        .filter_map(|(a, keep)| keep.then_some(a))
        .collect()
}

/// One ask per file and key whatever the path the server named it by
/// (`/lib/x86_64-linux-gnu/libm.so.6` is `/usr/lib/…` on merged-/usr
/// systems): the first name is kept, the grant is the same.
fn merge_same_files(asks: Vec<Ask>) -> Vec<Ask> {
    let mut out: Vec<(Option<PathBuf>, Ask)> = Vec::new();
    for ask in asks {
        let real = std::fs::canonicalize(&ask.path).ok();
        let same = out
            .iter_mut()
            .find(|(r, kept)| kept.key == ask.key && r.is_some() && *r == real);
        match same {
            Some((_, kept)) => kept.asked.extend(ask.asked),
            None => out.push((real, ask)),
        }
    }
    out.into_iter().map(|(_, ask)| ask).collect()
}

/// Several files of one directory refused for the same access: the
/// directory instead, when it may be granted as a whole.
fn widen_to_directories(asks: Vec<Ask>, setting: &Setting<'_>) -> Vec<Ask> {
    let mut groups: BTreeMap<(PathBuf, Key), Vec<Ask>> = BTreeMap::new();
    let mut out = Vec::new();
    for ask in asks {
        match ask.path.parent() {
            Some(parent) if !ask.dir => groups
                .entry((parent.to_path_buf(), ask.key))
                .or_default()
                .push(ask),
            _ => out.push(ask),
        }
    }
    for ((parent, key), group) in groups {
        let mut files: Vec<&Path> = group.iter().map(|a| a.path.as_path()).collect();
        files.sort();
        files.dedup();
        if files.len() >= SEVERAL && super::never::directory_grantable(&parent, setting).is_ok() {
            out.push(Ask {
                path: parent,
                key,
                dir: true,
                asked: group.into_iter().flat_map(|a| a.asked).collect(),
            });
        } else {
            out.extend(group);
        }
    }
    out
}

/// One ask per path and key, without those a wider one covers (`write` or
/// `exec` of a directory covers `read` below it).
fn drop_covered(mut asks: Vec<Ask>) -> Vec<Ask> {
    asks.sort_by(|a, b| (&a.path, b.key).cmp(&(&b.path, a.key)));
    let mut out: Vec<Ask> = Vec::new();
    for ask in asks {
        let covering = out.iter_mut().find(|kept| {
            ask.path.starts_with(&kept.path)
                && kept.key.covers(ask.key)
                && (kept.dir || kept.path == ask.path)
        });
        match covering {
            Some(kept) => {
                for a in ask.asked {
                    if !kept.asked.contains(&a) {
                        kept.asked.push(a);
                    }
                }
            }
            None => out.push(ask),
        }
    }
    out
}

/// The refusals a grant explains, for its comment.
pub(super) fn comment(asked: &[String]) -> String {
    let mut text = asked
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if asked.len() > NAMED {
        text.push_str(&format!("; and {} more", asked.len() - NAMED));
    }
    text
}

fn files_changes(asks: &[Ask], setting: &Setting<'_>, plan: &mut Plan) {
    for key in [Key::Read, Key::Exec, Key::Write] {
        let items: Vec<Item> = asks
            .iter()
            .filter(|a| a.key == key)
            .map(|ask| Item {
                value: crate::profile::init::quote(&shown(&ask.path, &setting.host.home)),
                comment: comment(&ask.asked),
            })
            .collect();
        if !items.is_empty() {
            plan.grants += items.len();
            plan.changes.push(Change::Extend {
                table: "filesystem".into(),
                key: key.name().into(),
                items,
            });
        }
    }
}

/// A path the base already grants with this access was refused by
/// another layer (a mount option, a protection): granting it again would
/// change nothing.
fn not_granted_yet(ask: Ask, setting: &Setting<'_>) -> Result<Ask, String> {
    if already_granted(&ask.path, ask.key, setting.base) {
        return Err(format!(
            "the profile already grants {} {}; another layer refuses it",
            shown(&ask.path, &setting.host.home),
            ask.key.name()
        ));
    }
    Ok(ask)
}

fn already_granted(path: &Path, key: Key, base: &Policy) -> bool {
    // With namespaces the path as named must resolve in the view: a grant
    // of `/usr/bin/dash` does not show `/bin/sh`, a grant named so does.
    let namespaces = base.mechanisms.namespaces != crate::policy::Requirement::Off;
    if namespaces && !crate::sandbox::mounts::links_in_view(base, path) {
        return false;
    }
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    base.fs.iter().any(|g| {
        g.exists
            && real.starts_with(&g.path)
            && match key {
                Key::Read => g.access.read,
                Key::Exec => g.access.execute,
                Key::Write => g.access.write,
            }
    })
}
