//! The loopback package registry the store's tests install from: what it
//! serves is what it states (integrity digests), a version published
//! while it runs appears, and the packages it builds work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use support::registry::{NpmPackage, Registry, Wheel, npm_integrity, sha256_hex};
use support::{as_user, users};

const INITIALIZE: &str = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\"}}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"version\"}}\n";

/// The path part of a URL served by `reg`.
fn path_of(reg: &Registry, url: &str) -> String {
    let base = format!("http://{}", reg.host());
    assert!(url.starts_with(&base), "{url} is not on {base}");
    url[base.len()..].to_owned()
}

fn packument(reg: &Registry, name: &str) -> Value {
    let (status, body) = reg.get(&format!("/{}", name.replace('/', "%2f")));
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

/// Runs `program args` with `input` on stdin; its stdout.
fn pipe(mut cmd: Command, input: &[u8]) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn npm_packument_and_tarball_carry_real_integrity() {
    let reg = Registry::start();
    let name = "@cordon-test/echo";
    let first = reg.publish_npm(&NpmPackage::server(name, "1.0.0", "cordon-echo"));
    let doc = packument(&reg, name);
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    let dist = &doc["versions"]["1.0.0"]["dist"];
    assert_eq!(dist["integrity"], first.digest.as_str());
    assert_eq!(doc["versions"]["1.0.0"]["bin"]["cordon-echo"], "server.js");
    let (status, tgz) = reg.get(&path_of(&reg, dist["tarball"].as_str().unwrap()));
    assert_eq!(status, 200);
    assert_eq!(npm_integrity(&tgz), first.digest);

    // The tarball is npm's layout, and its bin is a working MCP server.
    let dir = tempfile::tempdir().unwrap();
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg("-").arg("-C").arg(dir.path());
    pipe(tar, &tgz);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("package/package.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["name"], name);
    if std::path::Path::new("/usr/bin/node").exists() {
        let mut node = Command::new("/usr/bin/node");
        node.arg(dir.path().join("package/server.js"));
        let out = pipe(node, INITIALIZE.as_bytes());
        assert!(out.contains("\"serverInfo\""), "{out}");
        assert!(out.contains("\"text\":\"1.0.0\""), "{out}");
    }

    // A version published while the registry runs moves `latest`; the
    // first stays as it was.
    let second = reg.publish_npm(&NpmPackage::server(name, "1.1.0", "cordon-echo"));
    assert_ne!(first.digest, second.digest);
    let doc = packument(&reg, name);
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["integrity"],
        first.digest.as_str()
    );
    let (_, again) = reg.get(&path_of(&reg, &first.url));
    assert_eq!(npm_integrity(&again), first.digest);
    assert!(reg.requests().iter().any(|r| r.ends_with("echo-1.0.0.tgz")));
    assert_eq!(reg.get("/no-such-package").0, 404);
}

#[test]
fn simple_index_serves_wheels_with_their_sha256() {
    let reg = Registry::start();
    let first = reg.publish_wheel(
        &Wheel::server("cordon-echo", "1.0.0", "cordon-echo").requires("cordon-lib>=1"),
    );
    reg.publish_wheel(&Wheel::new("cordon_lib", "1.0.0").file("cordon_lib/__init__.py", "X = 1\n"));
    let (status, page) = reg.get("/simple/cordon-echo/");
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains(&format!("{}#sha256={}", first.url, first.digest)),
        "{page}"
    );
    assert_eq!(first.file, "cordon_echo-1.0.0-py3-none-any.whl");
    let (status, whl) = reg.get(&path_of(&reg, &first.url));
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&whl), first.digest);
    // Names are normalised (PEP 503), and the root page lists projects.
    assert_eq!(reg.get("/simple/Cordon_Lib/").0, 200);
    let root = String::from_utf8(reg.get("/simple/").1).unwrap();
    assert!(
        root.contains("cordon-lib") && root.contains("cordon-echo"),
        "{root}"
    );

    // The wheel's module is a working MCP server (run from the zip).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(&first.file);
    std::fs::write(&path, &whl).unwrap();
    let mut py = Command::new("/usr/bin/python3");
    py.args(["-m", "cordon_echo"]).env("PYTHONPATH", &path);
    let out = pipe(py, INITIALIZE.as_bytes());
    assert!(out.contains("\"serverInfo\""), "{out}");
    assert!(out.contains("\"text\": \"1.0.0\""), "{out}");
    let mut unzip = Command::new("/usr/bin/python3");
    unzip.args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read('cordon_echo-1.0.0.dist-info/entry_points.txt').decode()); print(z.read('cordon_echo-1.0.0.dist-info/RECORD').decode())"]).arg(&path);
    let listing = pipe(unzip, b"");
    assert!(
        listing.contains("cordon-echo = cordon_echo:main"),
        "{listing}"
    );
    assert!(
        listing.contains("cordon_echo/__init__.py,sha256="),
        "{listing}"
    );

    // A new version is listed next to the first, whose digest holds.
    let second = reg.publish_wheel(&Wheel::server("cordon-echo", "1.1.0", "cordon-echo"));
    let page = String::from_utf8(reg.get("/simple/cordon-echo/").1).unwrap();
    assert!(
        page.contains(&format!("#sha256={}", first.digest)),
        "{page}"
    );
    assert!(
        page.contains(&format!("#sha256={}", second.digest)),
        "{page}"
    );
}

#[test]
fn every_user_reaches_the_registry_on_loopback() {
    let reg = Registry::start();
    let wheel = reg.publish_wheel(&Wheel::server("cordon-echo", "1.0.0", "cordon-echo"));
    for user in users() {
        let mut py = as_user(user, "/usr/bin/python3");
        py.args([
            "-c",
            "import hashlib, sys, urllib.request; print(hashlib.sha256(urllib.request.urlopen(sys.argv[1]).read()).hexdigest())",
        ])
        .arg(&wheel.url)
        .env_clear();
        let out = pipe(py, b"");
        assert_eq!(out.trim(), wheel.digest, "as {user:?}");
    }
}
