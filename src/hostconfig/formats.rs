//! Where each MCP host keeps its configuration, and where the server
//! entries sit inside it.
//!
//! Every host stores a JSON object whose servers are a map from a name to
//! an entry with `command`/`args` (stdio) or `url` (remote). They differ
//! only in the file and in the key holding the map: Claude Desktop and
//! Cursor use `mcpServers`, VS Code's user `mcp.json` uses `servers`, and
//! Claude Code's `~/.claude.json` has `mcpServers` both at the top level
//! and per project under `projects.<path>.mcpServers`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::HostConfigError;
use super::jsonc::Node;

/// The hosts cordon knows by name, as `--host` spells them.
pub const HOST_NAMES: &[&str] = &["claude-desktop", "vscode", "cursor", "claude-code"];

/// Which keys hold the server maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `mcpServers` at the top level, and under every
    /// `projects.<path>` object when there is a `projects` key (Claude
    /// Code); Claude Desktop and Cursor have no `projects`.
    McpServers,
    /// `servers` at the top level (VS Code's `mcp.json`).
    Servers,
    /// A file given by path: the layout is read from its keys.
    Detect,
}

/// One configuration file to rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host's name, or the path as given.
    pub label: String,
    pub path: PathBuf,
    pub layout: Layout,
}

/// The directories a host's path is found from.
#[derive(Debug, Clone)]
pub struct HostDirs {
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    pub config: PathBuf,
}

/// The file and layout of a host known by name.
pub fn known(name: &str, dirs: &HostDirs) -> Option<Target> {
    let (path, layout) = match name {
        "claude-desktop" => (
            dirs.config.join("Claude/claude_desktop_config.json"),
            Layout::McpServers,
        ),
        "vscode" => (dirs.config.join("Code/User/mcp.json"), Layout::Servers),
        "cursor" => (dirs.home.join(".cursor/mcp.json"), Layout::McpServers),
        "claude-code" => (dirs.home.join(".claude.json"), Layout::McpServers),
        _ => return None,
    };
    Some(Target {
        label: name.to_owned(),
        path,
        layout,
    })
}

/// The files to work on. `--host NAME` names one host; anything else is a
/// path. Without `--host`, every known host whose file exists.
pub fn targets(host: Option<&str>, dirs: &HostDirs) -> Result<Vec<Target>, HostConfigError> {
    let Some(host) = host else {
        let found: Vec<Target> = HOST_NAMES
            .iter()
            .filter_map(|name| known(name, dirs))
            .filter(|t| t.path.exists())
            .collect();
        if found.is_empty() {
            return Err(HostConfigError::NoHostFound {
                looked: HOST_NAMES
                    .iter()
                    .filter_map(|name| known(name, dirs))
                    .map(|t| t.path)
                    .collect(),
            });
        }
        return Ok(found);
    };
    let target = known(host, dirs).unwrap_or_else(|| Target {
        label: host.to_owned(),
        path: PathBuf::from(host),
        layout: Layout::Detect,
    });
    if !target.path.exists() {
        return Err(HostConfigError::Missing {
            label: target.label,
            path: target.path,
        });
    }
    Ok(vec![target])
}

/// Resolves `Detect` from the document's keys: `mcpServers` (or Claude
/// Code's `projects`) wins over `servers`.
pub fn resolve_layout(
    layout: Layout,
    doc: &Map<String, Value>,
    path: &Path,
) -> Result<Layout, HostConfigError> {
    if layout != Layout::Detect {
        return Ok(layout);
    }
    if doc.contains_key("mcpServers") || doc.contains_key("projects") {
        Ok(Layout::McpServers)
    } else if doc.contains_key("servers") {
        Ok(Layout::Servers)
    } else {
        Err(HostConfigError::NoServerKey {
            path: path.to_path_buf(),
        })
    }
}

/// One map of servers inside the document, with where it is, for
/// messages (`mcpServers`, `projects["/home/me/app"].mcpServers`), and the
/// keys leading to it from the top level.
pub struct ServerMap<'a> {
    pub place: String,
    pub keys: Vec<String>,
    pub servers: &'a Map<String, Value>,
}

/// Every server map of the document, in file order. A key that is
/// present but not an object is an error: cordon does not guess what the
/// host meant.
pub fn server_maps<'a>(
    doc: &'a Map<String, Value>,
    layout: Layout,
    path: &Path,
) -> Result<Vec<ServerMap<'a>>, HostConfigError> {
    let key = match layout {
        Layout::Servers => "servers",
        Layout::McpServers | Layout::Detect => "mcpServers",
    };
    let mut maps = Vec::new();
    for (name, value) in doc {
        if name == key {
            maps.push(as_server_map(
                key.to_owned(),
                vec![key.to_owned()],
                value,
                path,
            )?);
        } else if name == "projects" && layout == Layout::McpServers {
            let Value::Object(projects) = value else {
                continue;
            };
            for (project, settings) in projects {
                let Value::Object(settings) = settings else {
                    continue;
                };
                if let Some(value) = settings.get(key) {
                    let place = format!("projects[{project:?}].{key}");
                    let keys = vec!["projects".to_owned(), project.clone(), key.to_owned()];
                    maps.push(as_server_map(place, keys, value, path)?);
                }
            }
        }
    }
    Ok(maps)
}

fn as_server_map<'a>(
    place: String,
    keys: Vec<String>,
    value: &'a Value,
    path: &Path,
) -> Result<ServerMap<'a>, HostConfigError> {
    match value {
        Value::Object(servers) => Ok(ServerMap {
            place,
            keys,
            servers,
        }),
        _ => Err(HostConfigError::NotAnObject {
            path: path.to_path_buf(),
            place,
        }),
    }
}

/// The node `keys` lead to from `root`.
pub fn node_at<'a>(root: &'a Node, keys: &[String]) -> Option<&'a Node> {
    keys.iter()
        .try_fold(root, |node, key| node.member(key).map(|m| &m.value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn dirs() -> HostDirs {
        HostDirs {
            home: PathBuf::from("/h"),
            config: PathBuf::from("/h/.config"),
        }
    }

    #[test]
    fn known_hosts_have_their_documented_files() {
        let path = |n| known(n, &dirs()).unwrap().path;
        assert_eq!(
            path("claude-desktop"),
            Path::new("/h/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(path("vscode"), Path::new("/h/.config/Code/User/mcp.json"));
        assert_eq!(path("cursor"), Path::new("/h/.cursor/mcp.json"));
        assert_eq!(path("claude-code"), Path::new("/h/.claude.json"));
        assert!(known("./mcp.json", &dirs()).is_none());
    }

    #[test]
    fn claude_code_projects_are_found_in_file_order() {
        let doc: Map<String, Value> = serde_json::from_str(
            r#"{"projects":{"/a":{"mcpServers":{}},"/b":{"x":1}},"mcpServers":{}}"#,
        )
        .unwrap();
        let maps = server_maps(&doc, Layout::McpServers, Path::new("f")).unwrap();
        let places: Vec<_> = maps.iter().map(|m| m.place.as_str()).collect();
        assert_eq!(places, ["projects[\"/a\"].mcpServers", "mcpServers"]);
    }

    #[test]
    fn detection_prefers_mcp_servers() {
        let doc: Map<String, Value> = serde_json::from_str(r#"{"servers":{}}"#).unwrap();
        assert_eq!(
            resolve_layout(Layout::Detect, &doc, Path::new("f")).unwrap(),
            Layout::Servers
        );
        let doc: Map<String, Value> = serde_json::from_str(r#"{"other":{}}"#).unwrap();
        assert!(resolve_layout(Layout::Detect, &doc, Path::new("f")).is_err());
    }
}
