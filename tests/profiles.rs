//! Profiles: every shipped profile and group validates; every
//! `fixtures/profiles/invalid/X.toml` fails with exactly the text in
//! `X.stderr` (the fixture root written as `{dir}`); valid fixtures give the
//! expected policy; lookup, listing and command-line grants behave.
//!
//! `CORDON_BLESS=1 cargo test --test profiles` rewrites the `.stderr` files
//! from the current output; review the diff before keeping it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon::policy::{
    Access, AskedLimits, FsGrant, GrantSource, LimitEnforcement, NetworkMode, Origin, PortRange,
    Ports, Requirement, SyscallAction,
};
use cordon::profile::{self, Context, ProfileError};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixture root, resolved so it matches canonicalised grant paths.
fn root() -> PathBuf {
    fs::canonicalize(manifest_dir().join("tests/fixtures/profiles")).unwrap()
}

/// A context entirely inside the fixtures, so results do not depend on the
/// machine's home or working directory.
fn fixture_ctx() -> Context {
    let root = root();
    Context {
        home: root.join("home"),
        cwd: root.join("work"),
        tmp: root.join("tmp"),
        dirs: vec![root.join("dirs"), root.join("no-such-dir")],
    }
}

/// The same without profile directories: only built-in profiles and groups.
fn builtin_ctx() -> Context {
    Context {
        dirs: Vec::new(),
        ..fixture_ctx()
    }
}

fn portable(text: &str) -> String {
    text.replace(&root().display().to_string(), "{dir}")
}

fn load_fixture(kind: &str, name: &str) -> Result<cordon::policy::Policy, ProfileError> {
    let path = root().join(kind).join(format!("{name}.toml"));
    profile::load(path.to_str().unwrap(), &fixture_ctx())
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn grant<'p>(policy: &'p cordon::policy::Policy, path: &Path) -> &'p FsGrant {
    policy
        .fs
        .iter()
        .find(|g| g.path == path)
        .unwrap_or_else(|| panic!("no grant for {}", path.display()))
}

#[test]
fn invalid_fixtures_fail_with_exact_text() {
    let bless = std::env::var_os("CORDON_BLESS").is_some();
    let mut failures = Vec::new();
    let files = toml_files(&root().join("invalid"));
    assert!(
        files.len() >= 15,
        "expected the invalid fixtures, found {}",
        files.len()
    );
    for file in files {
        let expected_file = file.with_extension("stderr");
        let actual = match profile::load(file.to_str().unwrap(), &fixture_ctx()) {
            Ok(_) => format!("unexpectedly valid: {}", file.display()),
            Err(err) => portable(&err.to_string()),
        };
        if bless {
            fs::write(&expected_file, format!("{actual}\n")).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_file)
            .unwrap_or_else(|_| format!("(missing {})", expected_file.display()));
        if expected.trim_end_matches('\n') != actual {
            failures.push(format!(
                "{}\n  expected: {}\n  actual:   {actual}",
                file.display(),
                expected.trim_end()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `check` finds what `load` refuses, among everything else it finds.
#[test]
fn check_reports_the_error_load_stops_at() {
    for file in toml_files(&root().join("invalid")) {
        let path = file.to_str().unwrap();
        let Err(first) = profile::load(path, &fixture_ctx()) else {
            continue;
        };
        let all: Vec<String> = profile::check(path, &fixture_ctx())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            all.contains(&first.to_string()),
            "{}: check gave {all:?}, load gave {first}",
            file.display()
        );
    }
}

#[test]
fn minimal_profile_gets_every_default() {
    let policy = load_fixture("valid", "minimal").unwrap();
    assert_eq!(policy.name, "minimal");
    assert_eq!(
        policy.origin,
        Origin::Path(root().join("valid/minimal.toml"))
    );
    assert_eq!(policy.description, "Nothing but the header.");
    assert!(policy.fs.is_empty() && policy.unprotect.is_empty());
    assert!(policy.private_tmp);
    assert_eq!(policy.network.mode, NetworkMode::None);
    assert_eq!(
        (&policy.network.connect, &policy.network.bind),
        (&Ports::Any, &Ports::Any)
    );
    assert!(policy.env.pass.is_empty() && policy.env.set.is_empty());
    let l = policy.limits;
    assert_eq!((l.core, l.nofile, l.nproc), (0, 4096, 4096));
    assert_eq!((l.address_space, l.fsize, l.cpu), (None, None, None));
    assert_eq!((l.memory, l.tmp), (Some(4 << 30), Some(1 << 30)));
    assert_eq!(l.enforce, LimitEnforcement::Required);
    assert_eq!(l.asked, AskedLimits::default());
    assert_eq!(policy.seccomp.action, SyscallAction::Errno);
    assert!(policy.seccomp.allow.is_empty() && policy.seccomp.deny.is_empty());
    let m = policy.mechanisms;
    assert_eq!(
        [m.namespaces, m.landlock, m.seccomp],
        [Requirement::Required; 3]
    );
    assert_eq!(policy.shutdown.close_grace, Duration::from_secs(2));
    assert_eq!(policy.shutdown.term_grace, Duration::from_secs(2));
}

#[test]
fn optional_missing_path_is_kept_as_missing() {
    let policy = load_fixture("valid", "optional_missing").unwrap();
    let missing = grant(&policy, Path::new("/nonexistent/cordon-fixture"));
    assert!(!missing.exists);
    assert_eq!(missing.declared, None);
    assert_eq!(missing.access, Access::READ);
    let home = grant(&policy, &root().join("home/.gitconfig"));
    assert!(home.exists);
    assert_eq!(home.declared.as_deref(), Some("~/.gitconfig"));
    assert_eq!(home.source, GrantSource::Profile);
}

#[test]
fn groups_come_after_the_profile_and_merge() {
    let policy = load_fixture("valid", "groups").unwrap();
    let work = root().join("work");
    // The profile's own grant comes first and keeps its source; the group's
    // write on the same path merges into it.
    assert_eq!(policy.fs[0].path, work.join("out"));
    assert_eq!(policy.fs[0].source, GrantSource::Profile);
    assert_eq!(policy.fs[0].access, Access::READ_WRITE);
    let usr = grant(&policy, Path::new("/usr"));
    assert_eq!(
        (usr.access, &usr.source),
        (Access::READ_EXEC, &GrantSource::Group("runtime".into()))
    );
    let project = grant(&policy, &work);
    assert_eq!(
        (project.access, &project.source),
        (Access::READ, &GrantSource::Group("project".into()))
    );
    let paths: Vec<_> = policy.fs.iter().map(|g| &g.path).collect();
    let unique: std::collections::BTreeSet<_> = paths.iter().collect();
    assert_eq!(paths.len(), unique.len(), "duplicate grants: {paths:?}");
}

#[test]
fn same_path_in_several_lists_gets_the_union() {
    let policy = load_fixture("valid", "union").unwrap();
    assert_eq!(policy.fs.len(), 2, "{:#?}", policy.fs);
    assert_eq!(grant(&policy, &root().join("work")).access, Access::ALL);
    let home = grant(&policy, &root().join("home"));
    assert_eq!(home.access, Access::READ);
    assert_eq!(home.declared.as_deref(), Some("~"));
}

#[test]
fn every_field_is_read() {
    let policy = load_fixture("valid", "full").unwrap();
    let (home, work) = (root().join("home"), root().join("work"));
    assert!(!policy.private_tmp);
    assert_eq!(policy.unprotect, vec![home.join(".gitconfig")]);
    assert_eq!(grant(&policy, &work.join("out")).access, Access::READ_WRITE);
    assert!(
        policy
            .fs
            .iter()
            .any(|g| g.source == GrantSource::Group("dns".into()))
            || !Path::new("/etc/hosts").exists()
    );
    assert_eq!(policy.network.mode, NetworkMode::Host);
    let range = |first, last| PortRange { first, last };
    assert_eq!(
        policy.network.connect,
        Ports::Only(vec![range(80, 81), range(443, 443), range(8000, 8200)])
    );
    assert_eq!(policy.network.bind, Ports::Only(vec![]));
    assert_eq!(policy.env.pass, ["GITHUB_TOKEN", "TERM"]);
    let set: BTreeMap<String, OsString> = [
        ("DATA", home.join("data").into_os_string()),
        ("JSON", OsString::from("{\"a\":1}")),
        ("NODE_ENV", OsString::from("production")),
        ("WORK", work.into_os_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(policy.env.set, set);
    let l = policy.limits;
    assert_eq!((l.core, l.nofile, l.nproc), (1 << 20, 1024, 512));
    assert_eq!(
        (l.address_space, l.fsize, l.cpu),
        (Some(16 << 30), Some(1 << 20), Some(60))
    );
    assert_eq!((l.memory, l.tmp), (Some(2 << 30), None));
    assert_eq!(l.enforce, LimitEnforcement::BestEffort);
    // `tmp = "unlimited"` asks for no bound: nothing to require.
    assert_eq!(
        (l.asked.nproc, l.asked.memory, l.asked.tmp),
        (true, true, false)
    );
    assert_eq!(policy.seccomp.action, SyscallAction::Log);
    assert_eq!(
        (
            policy.seccomp.allow.as_slice(),
            policy.seccomp.deny.as_slice()
        ),
        (
            &["ptrace".to_owned()][..],
            &["acct".to_owned(), "personality".to_owned()][..]
        )
    );
    let m = policy.mechanisms;
    assert_eq!(
        [m.namespaces, m.landlock, m.seccomp],
        [
            Requirement::Off,
            Requirement::BestEffort,
            Requirement::Required
        ]
    );
    assert_eq!(policy.shutdown.close_grace, Duration::from_millis(500));
    assert_eq!(policy.shutdown.term_grace, Duration::from_secs(60));
}

#[test]
fn every_shipped_profile_validates_and_is_built_in() {
    let ctx = builtin_ctx();
    let listed = profile::list(&ctx).unwrap();
    let files = toml_files(&manifest_dir().join("profiles"));
    assert!(!files.is_empty());
    for file in files {
        let policy = profile::load(file.to_str().unwrap(), &ctx).unwrap_or_else(|e| panic!("{e}"));
        let builtin = profile::load(&policy.name, &ctx).unwrap();
        assert_eq!(
            builtin.origin,
            Origin::BuiltIn,
            "{} is not embedded",
            policy.name
        );
        assert_eq!(builtin.fs, policy.fs);
        assert!(
            listed
                .iter()
                .any(|l| l.name == policy.name && l.origin == Origin::BuiltIn)
        );
    }
}

#[test]
fn every_shipped_group_validates_and_is_built_in() {
    let dir = tempfile::tempdir().unwrap();
    for file in toml_files(&manifest_dir().join("profiles/groups")) {
        let name = file.file_stem().unwrap().to_str().unwrap();
        let path = dir.path().join(format!("uses-{name}.toml"));
        let text = format!(
            "schema = 1\ndescription = \"Uses {name}.\"\n[filesystem]\ngroups = [\"{name}\"]\n"
        );
        fs::write(&path, text).unwrap();
        let policy =
            profile::load(path.to_str().unwrap(), &builtin_ctx()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            policy
                .fs
                .iter()
                .all(|g| g.source == GrantSource::Group(name.to_owned()))
        );
    }
}

#[test]
fn default_profile_is_the_runtime_only() {
    let ctx = builtin_ctx();
    let policy = profile::load(profile::DEFAULT_PROFILE, &ctx).unwrap();
    assert_eq!(policy.origin, Origin::BuiltIn);
    assert_eq!(policy.network.mode, NetworkMode::None);
    assert!(policy.private_tmp);
    assert_eq!(grant(&policy, Path::new("/usr")).access, Access::READ_EXEC);
    for g in &policy.fs {
        assert_eq!(g.source, GrantSource::Group("runtime".into()));
        assert!(!g.access.write, "default writes {}", g.path.display());
        assert!(!g.path.starts_with(&ctx.home) && !g.path.starts_with(&ctx.cwd));
        assert!(g.path != Path::new("/etc") && g.path != Path::new("/"));
    }
}

#[test]
fn lookup_by_name_and_not_found() {
    let ctx = fixture_ctx();
    let sample = profile::load("sample", &ctx).unwrap();
    assert_eq!(
        sample.origin,
        Origin::Directory(root().join("dirs/sample.toml"))
    );
    // A directory's profile shadows the built-in one of the same name.
    assert_eq!(
        profile::load("default", &ctx).unwrap().description,
        "Fixture default."
    );
    let err = profile::load("nope", &ctx).unwrap_err();
    assert_eq!(
        portable(&err.to_string()),
        "profile \"nope\" not found (looked in: {dir}/dirs, {dir}/no-such-dir, built-in)"
    );
    let err = profile::load("..", &ctx).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid profile name \"..\": "),
        "{err}"
    );
}

#[test]
fn path_reference_is_relative_to_cwd() {
    let ctx = Context {
        cwd: root(),
        ..fixture_ctx()
    };
    let policy = profile::load("valid/minimal.toml", &ctx).unwrap();
    assert_eq!(
        policy.origin,
        Origin::Path(root().join("valid/minimal.toml"))
    );
    let err = profile::load("valid/no-such.toml", &ctx);
    assert!(matches!(err, Err(ProfileError::Read { .. })), "{err:?}");
    let err = profile::load(
        "../invalid/schema_2.toml",
        &Context {
            cwd: root().join("valid"),
            ..fixture_ctx()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "../invalid/schema_2.toml:2:10: schema: unsupported schema version 2 (this cordon reads schema 1)"
    );
}

#[test]
fn list_sorts_shadows_and_skips_non_profiles() {
    let listed = profile::list(&fixture_ctx()).unwrap();
    let names: Vec<&str> = listed.iter().map(|l| l.name.as_str()).collect();
    let mut expected: Vec<&str> = profile::builtin_names().collect();
    expected.push("sample");
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        listed[0].origin,
        Origin::Directory(root().join("dirs/default.toml"))
    );
    assert_eq!(listed[0].shadows, [Origin::BuiltIn]);
    assert_eq!(listed[0].description, "Fixture default.");
    let broken = Context {
        dirs: vec![root().join("broken-dir")],
        ..fixture_ctx()
    };
    let err = profile::list(&broken).unwrap_err();
    assert_eq!(
        portable(&err.to_string()),
        "{dir}/broken-dir/bad.toml:1:1: missing field `description`"
    );
}

#[test]
fn add_grant_resolves_and_merges() {
    let ctx = fixture_ctx();
    let mut policy = load_fixture("valid", "union").unwrap();
    profile::add_grant(
        &mut policy,
        Path::new("~/.gitconfig"),
        Access::READ,
        GrantSource::CommandLine,
        &ctx,
    )
    .unwrap();
    let added = policy.fs.last().unwrap();
    assert_eq!(
        (added.path.clone(), added.declared.as_deref()),
        (root().join("home/.gitconfig"), Some("~/.gitconfig"))
    );
    // Relative to ctx.cwd, `..` allowed, merged into the existing ~ grant.
    profile::add_grant(
        &mut policy,
        Path::new("../home"),
        Access::READ_WRITE,
        GrantSource::CommandLine,
        &ctx,
    )
    .unwrap();
    let home = grant(&policy, &root().join("home"));
    assert_eq!(
        (home.access, &home.source),
        (Access::READ_WRITE, &GrantSource::Profile)
    );
    let err = profile::add_grant(
        &mut policy,
        Path::new("missing"),
        Access::READ,
        GrantSource::CommandLine,
        &ctx,
    )
    .unwrap_err();
    assert_eq!(
        portable(&err.to_string()),
        "command line path \"missing\": {dir}/work/missing does not exist"
    );
    let err = profile::add_grant(
        &mut policy,
        Path::new("/nonexistent/x"),
        Access::READ,
        GrantSource::Executable,
        &ctx,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "executable path \"/nonexistent/x\": does not exist"
    );
    let err = profile::add_grant(
        &mut policy,
        &ctx.tmp,
        Access::READ,
        GrantSource::CommandLine,
        &ctx,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("is the temporary directory itself"),
        "{err}"
    );
}

#[test]
fn symlinks_are_resolved_and_their_location_kept() {
    let dir = tempfile::tempdir().unwrap();
    let real = fs::canonicalize(dir.path()).unwrap();
    fs::create_dir(real.join("target")).unwrap();
    std::os::unix::fs::symlink("target", real.join("link")).unwrap();
    let profile_path = real.join("links.toml");
    let text = format!(
        "schema = 1\ndescription = \"Links.\"\n[filesystem]\nread = [\"{}/link\"]\n",
        real.display()
    );
    fs::write(&profile_path, text).unwrap();
    let mut policy = profile::load(profile_path.to_str().unwrap(), &fixture_ctx()).unwrap();
    let g = &policy.fs[0];
    assert_eq!(g.path, real.join("target"));
    assert_eq!(g.link.as_deref(), Some(real.join("link").as_path()));
    assert_eq!(g.declared, Some(format!("{}/link", real.display())));
    // The same target from the command line merges into it.
    profile::add_grant(
        &mut policy,
        &real.join("target"),
        Access::READ_EXEC,
        GrantSource::CommandLine,
        &fixture_ctx(),
    )
    .unwrap();
    assert_eq!(policy.fs.len(), 1);
    assert_eq!(policy.fs[0].access, Access::READ_EXEC);
    assert!(policy.fs[0].link.is_some());
}

#[test]
fn env_names_from_the_command_line() {
    let mut policy = load_fixture("valid", "full").unwrap();
    profile::add_env_names(
        &mut policy,
        &["ALPHA".into(), "TERM".into(), "ALPHA".into()],
    )
    .unwrap();
    assert_eq!(policy.env.pass, ["ALPHA", "GITHUB_TOKEN", "TERM"]);
    let err = profile::add_env_names(&mut policy, &["LD_PRELOAD".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--env LD_PRELOAD: LD_PRELOAD is refused: the dynamic loader variables (LD_*) are never given to the server"
    );
    let err = profile::add_env_names(&mut policy, &["NODE_ENV".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--env NODE_ENV: the profile sets NODE_ENV to a fixed value in environment.set"
    );
    let err = profile::add_env_names(&mut policy, &["A-B".into()]).unwrap_err();
    assert!(err.to_string().contains("is not a variable name"), "{err}");
}

/// The reference in profiles/README.md names every field of the schema.
#[test]
fn readme_documents_every_field() {
    let schema = fs::read_to_string(manifest_dir().join("src/profile/schema.rs")).unwrap();
    let readme = fs::read_to_string(manifest_dir().join("profiles/README.md")).unwrap();
    let fields = schema
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    for field in fields {
        assert!(
            readme.contains(&format!("`{field}`")) || readme.contains(&format!("[{field}]")),
            "profiles/README.md does not mention `{field}`"
        );
    }
}

#[test]
fn context_from_env_has_absolute_paths_and_three_dirs() {
    let ctx = Context::from_env().unwrap();
    assert!(ctx.home.is_absolute() && ctx.cwd.is_absolute() && ctx.tmp.is_absolute());
    assert_eq!(ctx.dirs.len(), 3);
    assert!(ctx.dirs[0].ends_with("cordon/profiles"));
    assert_eq!(
        ctx.dirs[1..],
        [
            PathBuf::from("/etc/cordon/profiles"),
            PathBuf::from("/usr/share/cordon/profiles")
        ]
    );
}

/// No shipped profile or group grants a credential store (an entry cordon
/// hides, see `sandbox::protect::PROTECTED`), a directory holding one, or
/// a path inside one.
#[test]
fn no_shipped_grant_holds_a_credential_store() {
    use cordon::sandbox::protect::{Base, Mask, PROTECTED};
    let ctx = builtin_ctx();
    let secrets: Vec<PathBuf> = PROTECTED
        .iter()
        .filter(|e| e.mask == Mask::Hide)
        .map(|e| match e.base {
            Base::Home => ctx.home.join(e.rel),
            Base::Config => ctx.home.join(".config").join(e.rel),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut files = toml_files(&manifest_dir().join("profiles"));
    for group in toml_files(&manifest_dir().join("profiles/groups")) {
        let name = group.file_stem().unwrap().to_str().unwrap();
        let path = dir.path().join(format!("uses-{name}.toml"));
        let text = format!(
            "schema = 1\ndescription = \"Uses {name}.\"\n[filesystem]\ngroups = [\"{name}\"]\n"
        );
        fs::write(&path, text).unwrap();
        files.push(path);
    }
    for file in files {
        let policy = profile::load(file.to_str().unwrap(), &ctx).unwrap_or_else(|e| panic!("{e}"));
        for g in &policy.fs {
            for secret in &secrets {
                assert!(
                    !g.path.starts_with(secret) && !secret.starts_with(&g.path),
                    "{} grants {}, which overlaps the credential store {}",
                    file.display(),
                    g.path.display(),
                    secret.display()
                );
            }
        }
    }
}
