//! The shipped profiles and groups, embedded at build time from
//! `profiles/`. A file in a profile directory with the same name takes
//! precedence over these. `tests/profiles.rs` checks that every file under
//! `profiles/` is listed here and validates.

/// Built-in profiles: (name, text), sorted by name.
pub(crate) const PROFILES: &[(&str, &str)] = &[
    ("default", include_str!("../../profiles/default.toml")),
    ("everything", include_str!("../../profiles/everything.toml")),
    ("fetch", include_str!("../../profiles/fetch.toml")),
    ("filesystem", include_str!("../../profiles/filesystem.toml")),
    ("git", include_str!("../../profiles/git.toml")),
    ("github", include_str!("../../profiles/github.toml")),
    ("memory", include_str!("../../profiles/memory.toml")),
    (
        "sequential-thinking",
        include_str!("../../profiles/sequential-thinking.toml"),
    ),
    ("sqlite", include_str!("../../profiles/sqlite.toml")),
    ("time", include_str!("../../profiles/time.toml")),
];

/// Built-in groups: (name, text), sorted by name.
pub(crate) const GROUPS: &[(&str, &str)] = &[
    ("dns", include_str!("../../profiles/groups/dns.toml")),
    ("node", include_str!("../../profiles/groups/node.toml")),
    ("npx", include_str!("../../profiles/groups/npx.toml")),
    ("python", include_str!("../../profiles/groups/python.toml")),
    (
        "runtime",
        include_str!("../../profiles/groups/runtime.toml"),
    ),
    ("uvx", include_str!("../../profiles/groups/uvx.toml")),
];

/// The text of a built-in profile.
pub(crate) fn profile(name: &str) -> Option<&'static str> {
    find(PROFILES, name)
}

/// The text of a built-in group.
pub(crate) fn group(name: &str) -> Option<&'static str> {
    find(GROUPS, name)
}

fn find(set: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    set.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
