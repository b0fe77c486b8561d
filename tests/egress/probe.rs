//! The probe: what runs inside cordon's sandbox. `--probe ACTION ARGS…`
//! tries one thing and prints one line, a JSON-RPC notification whose
//! `params.data` is `ok <detail>` or `err <what happened>` (cordon's relay
//! forwards nothing else from a server's stdout), then exits 0.
//!
//! `tcp`, `resolve`, `udp` and `icmp` are a client that ignores proxy
//! variables (raw sockets and the system resolver, like Go or Node);
//! `connect` speaks to the proxy the way proxy-aware clients do; `exec`
//! runs a real client (curl, python3, node) and reports its output.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

pub fn main(args: &[String]) -> ! {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    let outcome = match arg(0) {
        "tcp" => tcp(arg(1)),
        "resolve" => resolve(arg(1)),
        "connect" => connect(arg(1)),
        "udp" => udp(arg(1)),
        "icmp" => icmp(arg(1)),
        "exec" => exec(&args[1..]),
        "env" => std::env::var(arg(1)).map_err(|e| e.to_string()),
        other => Err(format!("unknown action {other:?}")),
    };
    let text = match outcome {
        Ok(detail) => format!("ok {detail}"),
        Err(detail) => format!("err {detail}"),
    };
    let message = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": { "level": "info", "data": text },
    });
    println!("{message}");
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

/// Resolves `host:port` with the system resolver and sends a plain HTTP
/// request; the response body.
fn tcp(dest: &str) -> Result<String, String> {
    let addr = first_addr(dest)?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    http_get(&mut stream, dest)
}

fn first_addr(dest: &str) -> Result<SocketAddr, String> {
    dest.to_socket_addrs()
        .map_err(|e| format!("resolve: {e}"))?
        .next()
        .ok_or_else(|| "resolve: no address".to_owned())
}

fn http_get(stream: &mut TcpStream, host: &str) -> Result<String, String> {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let request = format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    match text.split_once("\r\n\r\n") {
        Some((_, body)) => Ok(body.to_owned()),
        None if text.is_empty() => Err("closed without a response".into()),
        None => Err(format!("malformed response {text:?}")),
    }
}

fn resolve(name: &str) -> Result<String, String> {
    let addrs: Vec<String> = (name, 80)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .map(|a| a.ip().to_string())
        .collect();
    Ok(addrs.join(","))
}

/// `CONNECT dest` through `$https_proxy`, then a plain HTTP request in the
/// tunnel: the proxy's status line, then the body.
fn connect(dest: &str) -> Result<String, String> {
    let proxy = std::env::var("https_proxy").map_err(|_| "no https_proxy".to_owned())?;
    let proxy = proxy.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(first_addr(proxy)?).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let request = format!("CONNECT {dest} HTTP/1.1\r\nHost: {dest}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => {
                return Err(format!(
                    "proxy closed after {:?}",
                    String::from_utf8_lossy(&head)
                ));
            }
        }
    }
    let status = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    if !status.contains(" 200 ") {
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body);
        return Err(format!("{status}: {}", body.trim()));
    }
    http_get(&mut stream, dest).map(|body| format!("{status}: {body}"))
}

fn udp(dest: &str) -> Result<String, String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let addr = first_addr(dest)?;
    socket
        .send_to(b"ping", addr)
        .map(|_| "sent".to_owned())
        .map_err(|e| e.to_string())
}

/// Opens an ICMP socket (unprivileged "ping" first, then raw) and sends an
/// echo request.
fn icmp(dest: &str) -> Result<String, String> {
    let target: std::net::Ipv4Addr = dest.parse().map_err(|_| format!("{dest:?}: not IPv4"))?;
    let mut errors = Vec::new();
    for kind in [libc::SOCK_DGRAM, libc::SOCK_RAW] {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::socket(libc::AF_INET, kind, libc::IPPROTO_ICMP) };
        if fd < 0 {
            errors.push(std::io::Error::last_os_error().to_string());
            continue;
        }
        let echo: [u8; 8] = [8, 0, 0xf7, 0xfe, 0, 1, 0, 0];
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(target).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: echo and addr are valid for the lengths passed.
        let sent = unsafe {
            libc::sendto(
                fd,
                echo.as_ptr().cast(),
                echo.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        return Ok(format!("socket type {kind} opened, send returned {sent}"));
    }
    Err(errors.join("; "))
}

/// Runs a real client; its stdout, or its exit status and stderr.
fn exec(argv: &[String]) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("nothing to run")?;
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(format!("{}: {stdout} {stderr}", out.status))
    }
}
