//! The relay benchmark's driver and echo server, used by
//! `scripts/bench-relay.sh`; run by `cargo test` it does nothing.
//!
//! `bench_relay bench-all CORDON PROFILE` measures, in one run and on the
//! same input:
//! - throughput of ~1 KB and 64 KiB JSON-RPC messages through `cat`
//!   directly, through `cordon run -- cat` with the default profile, and
//!   with PROFILE (tool filtering and pinning);
//! - round-trip latency of sequential `tools/call` requests against this
//!   program's echo server, directly and through both cordon variants;
//! - cordon's peak RSS (VmHWM) in each run;
//!
//! and prints the ratios against the direct runs. Throughput runs go in
//! rounds, every target once per round, and a ratio is the median of the
//! rounds' ratios. `bench-echo` is the echo
//! server (it also answers `tools/list`, so pinning has work to do).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("bench-echo") => echo(),
        Some("bench-all") => all(&args[2], &args[3]),
        _ => {}
    }
}

/// How a run is started: a label and the command.
struct Target {
    label: &'static str,
    argv: Vec<String>,
}

fn targets(cordon: &str, profile: &str, server: &[String]) -> Vec<Target> {
    let via = |extra: &[&str]| {
        let mut argv = vec![cordon.to_owned(), "run".into(), "--yes".into()];
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv.push("--".into());
        argv.extend(server.iter().cloned());
        argv
    };
    vec![
        Target {
            label: "direct",
            argv: server.to_vec(),
        },
        Target {
            label: "cordon (default profile)",
            argv: via(&[]),
        },
        Target {
            label: "cordon (filter + pins)",
            argv: via(&["-p", profile]),
        },
    ]
}

fn all(cordon: &str, profile: &str) {
    let count: usize = env_or("BENCH_COUNT", 1_000_000);
    let big_count: usize = env_or("BENCH_BIG_COUNT", 16_384);
    let rounds: usize = env_or("BENCH_ROUNDS", 10_000);
    // The machine may be busy with other work: each throughput figure is
    // the median of `repeat` rounds, latencies pool `repeat` times the
    // round trips.
    let repeat: usize = env_or("BENCH_REPEAT", 5);
    let cat = ["cat".to_owned()];
    for (size, n) in [(1024, count), (64 * 1024, big_count)] {
        println!(
            "throughput: {n} messages of {size} bytes, through cat (median of {repeat} rounds)"
        );
        let targets = targets(cordon, profile, &cat);
        // Rounds run every target in turn, so that a change in the machine's
        // load hits all of them alike; a ratio compares runs of one round.
        let runs: Vec<Vec<Throughput>> = (0..repeat.max(1))
            .map(|_| {
                targets
                    .iter()
                    .map(|t| throughput(&t.argv, size, n))
                    .collect()
            })
            .collect();
        for (i, t) in targets.iter().enumerate() {
            let mbps = median(runs.iter().map(|r| r[i].mbps).collect());
            let hwm_kib = runs.iter().map(|r| r[i].hwm_kib).max().unwrap_or(0);
            let ratio = if i == 0 {
                String::new()
            } else {
                let ratios = runs.iter().map(|r| r[i].mbps / r[0].mbps).collect();
                format!("  ratio {:.2}", median(ratios))
            };
            println!(
                "  {:<26} {:>8.0} MB/s {:>10.0} msg/s  peak RSS {:>6} KiB{ratio}",
                t.label,
                mbps,
                mbps * 1e6 / size as f64,
                hwm_kib
            );
        }
    }
    let me = std::env::current_exe().unwrap().display().to_string();
    let server = [me, "bench-echo".to_owned()];
    println!(
        "latency: {} sequential tools/call round trips, echo server",
        rounds * repeat
    );
    let mut base = None;
    for t in targets(cordon, profile, &server) {
        let r = latency(&t.argv, rounds * repeat);
        let added = base.map_or(String::new(), |b: Duration| {
            format!(
                "  added median {:.1} µs",
                (r.median.as_secs_f64() - b.as_secs_f64()) * 1e6
            )
        });
        base = base.or(Some(r.median));
        println!(
            "  {:<26} median {:>7.1} µs  p99 {:>7.1} µs  peak RSS {:>6} KiB{added}",
            t.label,
            r.median.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6,
            r.hwm_kib
        );
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn spawn(argv: &[String]) -> Child {
    Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"))
}

/// Peak resident set of `pid` in KiB (VmHWM), read while it still runs.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Throughput {
    mbps: f64,
    hwm_kib: u64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A notification of exactly `size` bytes with newline; `seq` is written
/// at the returned offset (8 digits).
fn message(size: usize) -> (Vec<u8>, usize) {
    let head = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","logger":"bench","data":{"seq":"00000000","text":""#;
    let tail = "\"}}}\n";
    let fill = size - head.len() - tail.len();
    let text: String = (0..fill).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let line = format!("{head}{text}{tail}");
    let at = head.find("00000000").unwrap();
    (line.into_bytes(), at)
}

fn throughput(argv: &[String], size: usize, count: usize) -> Throughput {
    let mut child = spawn(argv);
    let mut stdout = child.stdout.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (line, at) = message(size);
    // Warm up: the sandbox is started and one message has made the trip.
    stdin.write_all(&line).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    read_exactly(&mut stdout, &mut buf, line.len());
    let start = Instant::now();
    let writer = std::thread::spawn(move || write_messages(stdin, line, at, count));
    read_exactly(&mut stdout, &mut buf, size * count);
    let secs = start.elapsed().as_secs_f64();
    let hwm_kib = peak_rss(child.id());
    drop(writer.join().unwrap());
    let _ = child.wait();
    Throughput {
        mbps: (size * count) as f64 / secs / 1e6,
        hwm_kib,
    }
}

fn write_messages(mut stdin: ChildStdin, mut line: Vec<u8>, at: usize, count: usize) -> ChildStdin {
    let mut chunk = Vec::with_capacity(256 * 1024 + line.len());
    for i in 0..count {
        line[at..at + 8].copy_from_slice(format!("{:08}", i % 100_000_000).as_bytes());
        chunk.extend_from_slice(&line);
        if chunk.len() >= 256 * 1024 {
            stdin.write_all(&chunk).unwrap();
            chunk.clear();
        }
    }
    stdin.write_all(&chunk).unwrap();
    stdin
}

fn read_exactly(r: &mut impl Read, buf: &mut [u8], mut n: usize) {
    while n > 0 {
        let want = n.min(buf.len());
        let got = r.read(&mut buf[..want]).unwrap();
        assert!(got > 0, "EOF with {n} bytes still expected");
        n -= got;
    }
}

struct Latency {
    median: Duration,
    p99: Duration,
    hwm_kib: u64,
}

fn latency(argv: &[String], rounds: usize) -> Latency {
    let mut child = spawn(argv);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut reply = String::new();
    let mut ask = |stdin: &mut ChildStdin, line: &str, reply: &mut String| {
        stdin.write_all(line.as_bytes()).unwrap();
        reply.clear();
        stdout.read_line(reply).unwrap();
        assert!(reply.ends_with('\n'), "no reply to {line}");
    };
    ask(
        &mut stdin,
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"tools/list\"}\n",
        &mut reply,
    );
    let mut times = Vec::with_capacity(rounds);
    for i in 1..=rounds {
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"tools/call\",\"params\":{{\"name\":\"echo\",\"arguments\":{{\"text\":\"round trip {i}\"}}}}}}\n"
        );
        let start = Instant::now();
        ask(&mut stdin, &line, &mut reply);
        times.push(start.elapsed());
        assert!(reply.contains("round trip"), "unexpected reply {reply}");
    }
    let hwm_kib = peak_rss(child.id());
    drop(stdin);
    let _ = child.wait();
    times.sort();
    Latency {
        median: times[times.len() / 2],
        p99: times[times.len() * 99 / 100],
        hwm_kib,
    }
}

/// The echo server: `tools/list` gets three tools, `tools/call` its
/// arguments back as text, anything else with an id an empty result.
fn echo() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(id) = msg.get("id") else { continue };
        let result = match msg.get("method").and_then(|m| m.as_str()) {
            Some("tools/list") => serde_json::json!({"tools": [
                {"name": "echo", "description": "Echoes its text.", "inputSchema": {"type": "object"}},
                {"name": "read_file", "description": "Reads a file.", "inputSchema": {"type": "object"}},
                {"name": "delete_file", "description": "Deletes a file.", "inputSchema": {"type": "object"}}
            ]}),
            Some("tools/call") => {
                let text = msg["params"]["arguments"]["text"].clone();
                serde_json::json!({"content": [{"type": "text", "text": text}]})
            }
            _ => serde_json::json!({}),
        };
        let reply = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result});
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
}
