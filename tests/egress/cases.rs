//! The cases. Each pairs a forbidden destination (refused, reported on
//! stderr, never reached: the test servers' logs stay empty) with an
//! allowed one that is reached, so a suite where everything fails cannot
//! pass. Test hosts are in private ranges: the profiles allow test host A
//! by its literal address (the explicit form that reaches private
//! addresses), and names resolving to private addresses stay refused
//! unless such an entry covers them.

use std::path::Path;
use std::time::Duration;

use crate::net::{HTTP_PORT, Log, UDP_PORT};
use crate::world::Ctx;

type Case = fn(&Ctx) -> Result<(), String>;

pub const ALL: &[(&str, Case)] = &[
    ("allowed_address_is_reached", allowed_address_is_reached),
    ("allowed_name_is_reached", allowed_name_is_reached),
    ("unlisted_address_is_refused", unlisted_address_is_refused),
    ("unlisted_name_is_refused", unlisted_name_is_refused),
    (
        "name_resolving_to_private_address_is_refused",
        name_resolving_to_private_address_is_refused,
    ),
    ("host_loopback_is_refused", host_loopback_is_refused),
    ("host_own_address_is_refused", host_own_address_is_refused),
    (
        "host_own_ipv6_address_is_refused",
        host_own_ipv6_address_is_refused,
    ),
    (
        "proxy_aware_clients_are_filtered",
        proxy_aware_clients_are_filtered,
    ),
    (
        "proxy_ignoring_clients_are_filtered",
        proxy_ignoring_clients_are_filtered,
    ),
    ("udp_and_icmp_are_refused", udp_and_icmp_are_refused),
    ("ipv6_addresses_are_filtered", ipv6_addresses_are_filtered),
    ("refusals_are_audited", refusals_are_audited),
    (
        "explain_reports_egress_refusals",
        explain_reports_egress_refusals,
    ),
    (
        "without_namespaces_cordon_refuses_to_start",
        without_namespaces_cordon_refuses_to_start,
    ),
];

const HELLO_A: &str = "hello from a";

fn expect(what: &str, ok: bool, detail: impl std::fmt::Debug) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: {detail:?}"))
    }
}

fn never_reached(name: &str, log: &Log) -> Result<(), String> {
    let seen = log.entries();
    expect(&format!("{name} was reached"), seen.is_empty(), seen)
}

/// A's literal address and the name `a.test` (which resolves to it).
fn a_allowed(c: &Ctx) -> Vec<String> {
    vec![c.world.a_http(), format!("a.test:{HTTP_PORT}")]
}

fn allowed_address_is_reached(c: &Ctx) -> Result<(), String> {
    let body = c
        .run(&[c.world.a_http()], &["tcp", &c.world.a_http()])
        .ok()?;
    expect("body", body == HELLO_A, body)?;
    // Through the forwarder: from the host's end of the veth pair.
    let seen = c.world.a.http.entries();
    let gateway = c.world.a.gateway.to_string();
    expect("A's peers", seen == [gateway], seen)
}

fn allowed_name_is_reached(c: &Ctx) -> Result<(), String> {
    let body = c
        .run(&a_allowed(c), &["tcp", &format!("a.test:{HTTP_PORT}")])
        .ok()?;
    expect("body", body == HELLO_A, body)?;
    // Inside, the name has a stand-in address, never the real one.
    let addrs = c.run(&a_allowed(c), &["resolve", "a.test"]).ok()?;
    expect(
        "a.test inside",
        addrs.starts_with("198.18.") && !addrs.contains(','),
        addrs,
    )
}

fn unlisted_address_is_refused(c: &Ctx) -> Result<(), String> {
    let b = c.world.b_http();
    let run = c.run(&a_allowed(c), &["tcp", &b]);
    run.err()?;
    run.reported(&format!(
        "cordon: egress refused: {b}: private range (10.0.0.0/8)"
    ))?;
    // A port the allowlist does not name: Landlock denies the connect (and
    // no listener inside would take it).
    let other_port = format!("{}:{}", c.world.a.addr, HTTP_PORT + 1);
    let detail = c.run(&a_allowed(c), &["tcp", &other_port]).err()?;
    let refused = detail.contains("denied") || detail.contains("refused");
    expect("unlisted port", refused, detail)?;
    never_reached("B", &c.world.b.http)?;
    let body = c.run(&a_allowed(c), &["tcp", &c.world.a_http()]).ok()?;
    expect("control", body == HELLO_A, body)
}

fn unlisted_name_is_refused(c: &Ctx) -> Result<(), String> {
    let run = c.run(&a_allowed(c), &["resolve", "nope.test"]);
    run.err()?;
    run.reported("cordon: egress refused: nope.test: name not in the allowlist")?;
    // Refused inside: the name was never looked up anywhere.
    let asked = c.world.dns_log.entries();
    expect(
        "names asked",
        !asked.iter().any(|n| n == "nope.test"),
        asked,
    )?;
    let addrs = c.run(&a_allowed(c), &["resolve", "a.test"]).ok()?;
    expect("control", addrs.starts_with("198.18."), addrs)
}

fn name_resolving_to_private_address_is_refused(c: &Ctx) -> Result<(), String> {
    // b.test is allowed by name, but resolves to B, a private address no
    // entry names: DNS rebinding looks exactly like this.
    let allow = vec![c.world.a_http(), format!("b.test:{HTTP_PORT}")];
    let run = c.run(&allow, &["tcp", &format!("b.test:{HTTP_PORT}")]);
    run.err()?;
    run.reported(&format!(
        "cordon: egress refused: b.test:{HTTP_PORT}: resolves only to refused addresses: {} (private range (10.0.0.0/8))",
        c.world.b.addr
    ))?;
    never_reached("B", &c.world.b.http)?;
    let asked = c.world.dns_log.entries();
    expect(
        "b.test resolved on the host side",
        asked.iter().any(|n| n == "b.test"),
        asked,
    )
}

fn host_loopback_is_refused(c: &Ctx) -> Result<(), String> {
    let p = c.world.loop_port;
    let mut allow = a_allowed(c);
    allow.extend([format!("loop.test:{p}"), format!("*:{p}")]);
    let run = c.run(&allow, &["tcp", &format!("loop.test:{p}")]);
    run.err()?;
    run.reported(&format!(
        "cordon: egress refused: loop.test:{p}: resolves only to refused addresses: 127.0.0.1 (loopback)"
    ))?;
    let run = c.run(&allow, &["tcp", &format!("127.0.0.1:{p}")]);
    run.err()?;
    run.reported(&format!("cordon: egress refused: 127.0.0.1:{p}: loopback"))?;
    let detail = c
        .run(&allow, &["connect", &format!("127.0.0.1:{p}")])
        .err()?;
    expect("proxy answer", detail.contains(" 403 "), detail)?;
    never_reached("the host's loopback", &c.world.loop_log)?;
    let body = c.run(&allow, &["tcp", &c.world.a_http()]).ok()?;
    expect("control", body == HELLO_A, body)
}

const HELLO_SELF: &str = "hello from the host itself";

/// The host's own address (a public one here), dialed and by a name, under
/// `*:PORT`: refused like loopback; named by address in an entry, reached.
fn host_own_address_is_refused(c: &Ctx) -> Result<(), String> {
    let w = c.world;
    own_address_case(c, &w.own.to_string(), "self.test")
}

fn host_own_ipv6_address_is_refused(c: &Ctx) -> Result<(), String> {
    let Some(own6) = c.world.own6 else {
        if crate::strict() {
            return Err("IPv6 is unavailable for the test hosts".into());
        }
        println!("    note: IPv6 is unavailable here; skipped");
        return Ok(());
    };
    own_address_case(c, &format!("[{own6}]"), "self6.test")
}

/// `host` as written in a destination (`[…]` for IPv6), and a name that
/// resolves to it.
fn own_address_case(c: &Ctx, host: &str, name: &str) -> Result<(), String> {
    let p = c.world.own_port;
    let dest = format!("{host}:{p}");
    let why = "this host's own address (interface cge";
    let mut allow = a_allowed(c);
    allow.extend([format!("*:{p}"), format!("{name}:{p}")]);
    let run = c.run(&allow, &["tcp", &dest]);
    run.err()?;
    let prefix = format!("cordon: egress refused: {dest}: {why}");
    expect(
        "the refusal",
        run.stderr.lines().any(|l| l.starts_with(&prefix)),
        &run.stderr,
    )?;
    let detail = c.run(&allow, &["connect", &dest]).err()?;
    expect("proxy answer", detail.contains(" 403 "), detail)?;
    let run = c.run(&allow, &["tcp", &format!("{name}:{p}")]);
    run.err()?;
    let bare = host.trim_matches(['[', ']']);
    let prefix = format!(
        "cordon: egress refused: {name}:{p}: resolves only to refused addresses: {bare} ({why}"
    );
    expect(
        "the refusal of the name",
        run.stderr.lines().any(|l| l.starts_with(&prefix)),
        &run.stderr,
    )?;
    never_reached("the host's own address", &c.world.own_log)?;
    // Named by address, the same destination is reached, directly and by
    // the name.
    let mut named = allow.clone();
    named.push(dest.clone());
    let body = c.run(&named, &["tcp", &dest]).ok()?;
    expect("named by address", body == HELLO_SELF, body)?;
    let body = c.run(&named, &["tcp", &format!("{name}:{p}")]).ok()?;
    expect("its name, named by address", body == HELLO_SELF, body)
}

/// A real client under /usr/bin (where the runtime group grants it), or
/// None after a note when it is missing (a failure in strict runs).
fn client(name: &str) -> Result<Option<String>, String> {
    let path = format!("/usr/bin/{name}");
    if Path::new(&path).exists() {
        return Ok(Some(path));
    }
    if crate::strict() {
        return Err(format!(
            "{path} is not installed (scripts/test.sh installs it)"
        ));
    }
    println!("    note: {path} is not installed; its part is skipped");
    Ok(None)
}

fn proxy_aware_clients_are_filtered(c: &Ctx) -> Result<(), String> {
    let allow = a_allowed(c);
    let (a, b) = (c.world.a_http(), c.world.b_http());
    let tunnel = c
        .run(&allow, &["connect", &format!("a.test:{HTTP_PORT}")])
        .ok()?;
    expect(
        "CONNECT a.test",
        tunnel.contains(" 200 ") && tunnel.ends_with(HELLO_A),
        tunnel,
    )?;
    let refused = c.run(&allow, &["connect", &b]).err()?;
    expect("CONNECT B", refused.contains(" 403 "), refused)?;
    if let Some(curl) = client("curl")? {
        let get = |args: &[&str]| {
            let mut argv = vec!["exec", &curl, "-sS", "-m", "20"];
            argv.extend_from_slice(args);
            c.run(&allow, &argv)
        };
        let body = get(&[&format!("http://{a}/")]).ok()?;
        expect("curl via proxy", body == HELLO_A, body)?;
        let body = get(&["-p", &format!("http://a.test:{HTTP_PORT}/")]).ok()?;
        expect("curl through a CONNECT tunnel", body == HELLO_A, body)?;
        let code = get(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{b}/"),
        ])
        .ok()?;
        expect("curl to B", code == "403", code)?;
    }
    if let Some(python) = client("python3")? {
        let script = format!(
            "import urllib.request as u; print(u.urlopen('http://a.test:{HTTP_PORT}/', timeout=20).read().decode())"
        );
        let body = c.run(&allow, &["exec", &python, "-c", &script]).ok()?;
        expect("python urllib via proxy", body == HELLO_A, body)?;
    }
    never_reached("B", &c.world.b.http)
}

fn proxy_ignoring_clients_are_filtered(c: &Ctx) -> Result<(), String> {
    let allow = a_allowed(c);
    if let Some(node) = client("node")? {
        let fetch = |url: &str| {
            let script = format!(
                "fetch('{url}').then(r => r.text()).then(t => console.log(t)).catch(e => {{ console.error(String(e.cause || e)); process.exit(1); }})"
            );
            c.run(&allow, &["exec", &node, "-e", &script])
        };
        let body = fetch(&format!("http://a.test:{HTTP_PORT}/")).ok()?;
        expect("node fetch a.test", body == HELLO_A, body)?;
        // The refusal resets the connection. Node's fetch now and then
        // resolves a reset that races its request as an empty response
        // instead of rejecting: what must hold is that nothing of B
        // arrives (and, below, that B never saw a connection).
        let run = fetch(&format!("http://{}/", c.world.b_http()));
        if let Ok(body) = run.ok() {
            expect("node fetch of B got nothing of B", body.is_empty(), body)?;
        }
    }
    if let Some(curl) = client("curl")? {
        let url = format!("http://a.test:{HTTP_PORT}/");
        let body = c
            .run(
                &allow,
                &["exec", &curl, "-sS", "-m", "20", "--noproxy", "*", &url],
            )
            .ok()?;
        expect("curl --noproxy", body == HELLO_A, body)?;
        let url = format!("http://{}/", c.world.b_http());
        c.run(
            &allow,
            &["exec", &curl, "-sS", "-m", "20", "--noproxy", "*", &url],
        )
        .err()
        .map_err(|e| format!("curl --noproxy of B: {e}"))?;
    }
    never_reached("B", &c.world.b.http)?;
    let body = c.run(&allow, &["tcp", &c.world.a_http()]).ok()?;
    expect("control", body == HELLO_A, body)
}

fn udp_and_icmp_are_refused(c: &Ctx) -> Result<(), String> {
    let allow = a_allowed(c);
    let udp = format!("{}:{UDP_PORT}", c.world.a.addr);
    // Sending may even succeed (into the sandbox's own loopback): what
    // matters is that nothing arrives.
    let _ = c.run(&allow, &["udp", &udp]);
    let _ = c.run(&allow, &["udp", &format!("a.test:{UDP_PORT}")]);
    std::thread::sleep(Duration::from_millis(300));
    never_reached("A over UDP", &c.world.a.udp)?;
    let detail = c
        .run(&allow, &["icmp", &c.world.a.addr.to_string()])
        .err()?;
    expect(
        "ICMP socket",
        detail.contains("denied") || detail.contains("not permitted"),
        detail,
    )?;
    let body = c.run(&allow, &["tcp", &c.world.a_http()]).ok()?;
    expect("control", body == HELLO_A, body)
}

fn without_namespaces_cordon_refuses_to_start(c: &Ctx) -> Result<(), String> {
    let run = c.run_with(
        &a_allowed(c),
        "",
        &["--no-namespaces"],
        &["tcp", &c.world.a_http()],
    );
    expect("exit status", run.code == Some(125), &run)?;
    expect(
        "the reason",
        run.stderr.contains("network mode \"filtered\"")
            && run.stderr.contains("network namespace"),
        &run.stderr,
    )?;
    never_reached("A", &c.world.a.http)
}

fn refusals_are_audited(c: &Ctx) -> Result<(), String> {
    let b = c.world.b_http();
    let extra = "\n[mcp]\naudit = true\naudit_path = \"~/egress-audit.jsonl\"\n";
    let run = c.run_with(&a_allowed(c), extra, &[], &["tcp", &b]);
    run.err()?;
    let log = c.env.home.join("egress-audit.jsonl");
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let record = text.lines().find(|l| l.contains("\"network/egress\""));
    let reason = format!("\"reason\":\"{b}: private range (10.0.0.0/8)\"");
    expect(
        "the audit record",
        record.is_some_and(|r| r.contains("\"outcome\":\"refused\"") && r.contains(&reason)),
        &text,
    )?;
    never_reached("B", &c.world.b.http)
}

fn ipv6_addresses_are_filtered(c: &Ctx) -> Result<(), String> {
    let (Some(a6), Some(b6)) = (c.world.a.addr6, c.world.b.addr6) else {
        if crate::strict() {
            return Err("IPv6 is unavailable for the test hosts".into());
        }
        println!("    note: IPv6 is unavailable here; skipped");
        return Ok(());
    };
    let a = format!("[{a6}]:{HTTP_PORT}");
    let b = format!("[{b6}]:{HTTP_PORT}");
    let body = c.run(std::slice::from_ref(&a), &["tcp", &a]).ok()?;
    expect("body", body == HELLO_A, body)?;
    let run = c.run(std::slice::from_ref(&a), &["tcp", &b]);
    run.err()?;
    run.reported(&format!(
        "cordon: egress refused: {b}: unique local range (fc00::/7)"
    ))?;
    never_reached("B", &c.world.b.http)
}

/// `--explain`: the filter's refusals are records of the same stream as
/// the sandbox's other refusals, one line each with the layer and the
/// allowlist entry that reaches the destination (for loopback, an entry
/// naming the address); the forwarder's own line is not printed twice.
/// The entry suggested is the one that works: with it, the host's
/// loopback server is reached.
fn explain_reports_egress_refusals(c: &Ctx) -> Result<(), String> {
    let p = c.world.loop_port;
    let mut allow = a_allowed(c);
    allow.extend([format!("loop.test:{p}"), format!("*:{p}")]);
    let entry = format!("127.0.0.1:{p}");
    let suggested = format!("allow with allow = [\"{entry}\"] in [network]");
    let explain = ["--explain"];

    let run = c.run_with(&allow, "", &explain, &["tcp", &entry]);
    run.err()?;
    run.reported(&format!(
        "cordon: refused: connect {entry} (egress filter: loopback): {suggested}"
    ))?;
    expect(
        "the forwarder's own line as well",
        !run.stderr.contains("cordon: egress refused:"),
        &run.stderr,
    )?;
    // The resolver files cordon binds into the view are not refusals.
    expect(
        "a generated resolver file reported",
        !run.stderr.contains("/etc/resolv.conf") && !run.stderr.contains("/etc/hosts "),
        &run.stderr,
    )?;

    let run = c.run_with(&allow, "", &explain, &["tcp", &format!("loop.test:{p}")]);
    run.err()?;
    run.reported(&format!(
        "cordon: refused: connect loop.test:{p} (egress filter: resolves only to refused addresses: 127.0.0.1 (loopback)): {suggested}"
    ))?;

    // A private address: the reason names the range, and the entry
    // suggested names the address (the explicit form private ranges
    // need).
    let b = c.world.b_http();
    let run = c.run_with(&a_allowed(c), "", &explain, &["tcp", &b]);
    run.err()?;
    run.reported(&format!(
        "cordon: refused: connect {b} (egress filter: private range (10.0.0.0/8)): allow with allow = [\"{b}\"] in [network]"
    ))?;
    never_reached("B", &c.world.b.http)?;

    // (`*` would let every name resolve.)
    let run = c.run_with(&a_allowed(c), "", &explain, &["resolve", "nope.test"]);
    run.err()?;
    run.reported(
        "cordon: refused: resolve nope.test (egress filter: name not in the allowlist): allow with allow = [\"nope.test:443\"] in [network]",
    )?;
    never_reached("the host's loopback", &c.world.loop_log)?;

    // The control: the suggested entry reaches it.
    allow.push(entry.clone());
    let body = c.run_with(&allow, "", &explain, &["tcp", &entry]).ok()?;
    expect(
        "with the suggested entry",
        body == "hello from the host's loopback",
        body,
    )
}
