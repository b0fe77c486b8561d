//! What the suite runs on: the installation made by `scripts/e2e-setup.sh`,
//! the pinned server list, and (as root) a network and mount namespace of
//! the suite's own.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

/// The pinned list shared with the setup script.
const SERVERS: &str = include_str!("servers.txt");

/// One server (or client package) from `servers.txt`.
#[derive(Debug, Clone)]
pub struct Pinned {
    pub version: String,
    /// uvx options the server needs (`--with mcp<2`).
    pub options: Vec<String>,
}

/// The installation the tests run from.
pub struct Setup {
    pub dir: PathBuf,
    /// The setup venv's Python, which has the MCP SDK.
    pub python: PathBuf,
    /// The home directory holding npm's and uv's caches, copied per user.
    pub seed_home: PathBuf,
    /// The wheels of every uvx server and its dependencies, served as a
    /// simple index on loopback while the suite runs.
    pub wheels: PathBuf,
    /// That index's URL, once it runs: cordon installs uvx servers into
    /// its store from there.
    pub index: Option<String>,
    pub pinned: BTreeMap<String, Pinned>,
}

impl Setup {
    /// Finds the installation: `$CORDON_E2E_DIR`, else target/e2e. It must
    /// have been made from the current `servers.txt`.
    pub fn find() -> Result<Setup, String> {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::var_os("CORDON_E2E_DIR")
            .map_or_else(|| manifest.join("target/e2e"), PathBuf::from);
        let stamp = fs::read_to_string(dir.join("stamp")).unwrap_or_default();
        if stamp != SERVERS || !dir.join("wheels").is_dir() {
            return Err(format!(
                "{} is missing or was made from another tests/e2e/servers.txt; run scripts/e2e-setup.sh (scripts/test.sh does)",
                dir.display()
            ));
        }
        Ok(Setup {
            python: dir.join("venv/bin/python"),
            seed_home: dir.join("seed/home"),
            wheels: dir.join("wheels"),
            index: None,
            pinned: parse_servers(SERVERS),
            dir,
        })
    }

    /// `PACKAGE@VERSION`, the pinned spec npx and uvx are given.
    pub fn spec(&self, package: &str) -> String {
        format!("{package}@{}", self.pin(package).version)
    }

    pub fn pin(&self, package: &str) -> &Pinned {
        self.pinned
            .get(package)
            .unwrap_or_else(|| panic!("{package} is not in tests/e2e/servers.txt"))
    }

    /// Serves [`Setup::wheels`] as a simple index on `registry` (on
    /// loopback, in the suite's own network when it has one) and records
    /// its URL.
    pub fn serve_wheels(
        &mut self,
        registry: &crate::support::registry::Registry,
    ) -> Result<(), String> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.wheels)
            .map_err(|e| format!("{}: {e}", self.wheels.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "whl"))
            .collect();
        files.sort();
        registry.add_wheels(&files);
        self.index = Some(registry.simple_url());
        Ok(())
    }

    /// A script next to this file (client.py, fixture.py).
    pub fn script(&self, name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e")
            .join(name)
    }
}

fn parse_servers(text: &str) -> BTreeMap<String, Pinned> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (name, version) = (words.get(1)?, words.get(2)?);
            let pinned = Pinned {
                version: (*version).to_owned(),
                options: words[3..].iter().map(|w| (*w).to_owned()).collect(),
            };
            Some(((*name).to_owned(), pinned))
        })
        .collect()
}

/// The address the suite's web stand-ins listen on besides 127.0.0.1: one
/// from TEST-NET-3 (RFC 5737), which is not in any range cordon's network
/// filter refuses. It lives in a second network namespace of the suite's
/// (a test host, [`web_netns`]), joined to the suite's own by a veth pair:
/// cordon refuses its own host's addresses like loopback, so a stand-in
/// for a remote host must not be one of them. Nothing sent to it leaves
/// the machine.
pub const WEB: &str = "203.0.113.10";

/// The test host holding [`WEB`]: a network namespace named after this
/// process, so two runs cannot collide.
pub fn web_netns() -> String {
    format!("cordon-e2e-web-{}", std::process::id())
}

/// The suite's own network: a network namespace with a loopback interface
/// and a veth pair to the test host [`web_netns`], which holds [`WEB`]
/// (nothing reaches a registry or the internet), and a mount namespace in
/// which /etc/hosts also names api.github.com as [`WEB`], for the GitHub
/// stand-in. Root only; everything the suite starts afterwards, cordon
/// and its network filter included, lives in it.
pub struct Isolation {
    /// Holds the hosts file and the stand-in's certificate; world-readable.
    pub dir: tempfile::TempDir,
}

impl Isolation {
    pub fn enter(setup: &Setup) -> Result<Isolation, String> {
        let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
        unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
            .map_err(|e| err("unshare(CLONE_NEWNET | CLONE_NEWNS)", &e))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| err("making / private", &e))?;
        let web = format!("{WEB}/32");
        let ns = web_netns();
        for args in [
            &["link", "set", "lo", "up"][..],
            &["netns", "add", &ns][..],
            &[
                "link", "add", "e2e-host", "type", "veth", "peer", "name", "e2e-web", "netns", &ns,
            ][..],
            &["addr", "add", "192.0.2.1/24", "dev", "e2e-host"][..],
            &["link", "set", "e2e-host", "up"][..],
            &["route", "add", &web, "via", "192.0.2.2"][..],
            &["-n", &ns, "link", "set", "lo", "up"][..],
            &["-n", &ns, "addr", "add", "192.0.2.2/24", "dev", "e2e-web"][..],
            &["-n", &ns, "link", "set", "e2e-web", "up"][..],
            &["-n", &ns, "addr", "add", &web, "dev", "lo"][..],
            &["-n", &ns, "route", "add", "default", "via", "192.0.2.1"][..],
        ] {
            let done = Command::new("ip")
                .args(args)
                .status()
                .map_err(|e| err("ip", &e))?;
            if !done.success() {
                return Err(format!("ip {}: {done}", args.join(" ")));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("cordon-e2e-net-")
            .tempdir()
            .map_err(|e| err("temporary directory", &e))?;
        let open = fs::Permissions::from_mode(0o755);
        fs::set_permissions(dir.path(), open).map_err(|e| err("chmod", &e))?;
        let hosts = dir.path().join("hosts");
        let mut text = fs::read_to_string("/etc/hosts").unwrap_or_default();
        text.push_str(&format!("\n{WEB} api.github.com\n"));
        fs::write(&hosts, text).map_err(|e| err("writing hosts", &e))?;
        fs::set_permissions(&hosts, fs::Permissions::from_mode(0o644))
            .map_err(|e| err("chmod", &e))?;
        mount(
            Some(&hosts),
            "/etc/hosts",
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err("bind-mounting /etc/hosts", &e))?;
        let made = Command::new(&setup.python)
            .arg(setup.script("fixture.py"))
            .args(["cert", &dir.path().display().to_string(), "api.github.com"])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| err("fixture.py cert", &e))?;
        if !made.success() {
            return Err(format!("fixture.py cert: {made}"));
        }
        for name in ["ca.pem", "cert.pem"] {
            fs::set_permissions(dir.path().join(name), fs::Permissions::from_mode(0o644))
                .map_err(|e| err("chmod", &e))?;
        }
        Ok(Isolation { dir })
    }

    /// The CA that signed the GitHub stand-in's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn cert(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("cert.pem"),
            self.dir.path().join("key.pem"),
        )
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &web_netns()])
            .status();
    }
}
