//! The probe: what runs inside cordon's sandbox. `--probe ACTION ARGS…`
//! performs one action and prints exactly one line to stdout, with the
//! answer `ok <detail>` or `err <ERRNO>` (nix's `Errno` name), then exits
//! 0. Only the x32 call ends otherwise: the filter kills the process. The
//! line is a JSON-RPC notification carrying the answer in `params.data`:
//! cordon's MCP relay forwards nothing else from a server's stdout.
//!
//! This file holds the filesystem, network and environment actions; the
//! raw system calls are in `probe_sys.rs`. Every action is written so that
//! on an unconfined host it would succeed (or fail with a known, non-EPERM
//! errno): the runner uses that as a control.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixStream};
use std::time::Duration;

use nix::errno::Errno;

use crate::probe_sys;

/// `ok` detail, or the errno the action failed with.
pub type Outcome = Result<String, Errno>;

/// Entry point of `--probe`: never returns.
pub fn main(args: &[String]) -> ! {
    let args: Vec<String> = args.iter().map(|a| expand_tmpdir(a)).collect();
    let outcome = match args.split_first() {
        Some((action, rest)) => act(action, rest),
        None => unknown("(none)"),
    };
    match outcome {
        Ok(detail) => answer(&format!("ok {detail}")),
        Err(errno) => answer(&format!("err {errno:?}")),
    }
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

/// Prints the answer as the one stdout line: a JSON-RPC notification
/// (`notifications/message`, the answer in `params.data`), because cordon's
/// relay forwards only JSON-RPC from a server's stdout.
fn answer(text: &str) {
    let message = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": { "level": "info", "logger": "cordon-probe", "data": text },
    });
    println!("{message}");
}

fn act(action: &str, args: &[String]) -> Outcome {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    match action {
        "caps" => Ok(capability_sets()),
        "steps" => Ok(steps(args)),
        "read" => read(arg(0)),
        "read-head" => read_head(arg(0)),
        "write" => write(arg(0)),
        "write-mkdir" => write_mkdir(arg(0)),
        "replace" => replace(arg(0)),
        "swap-dir" => swap_dir(arg(0), arg(1)),
        "create" => create(arg(0)),
        "truncate" => nix::unistd::truncate(arg(0), 0).map(|()| "truncated".into()),
        "link-write" => link_write(arg(0), arg(1)),
        "rename" => std::fs::rename(arg(0), arg(1))
            .map(|()| "renamed".into())
            .map_err(io),
        "exec" => exec(arg(0), &args[1.min(args.len())..]),
        "mmap-exec" => mmap_exec(arg(0)),
        "contains" => contains(arg(0), arg(1)),
        "copy-mmap-exec" => copy(arg(0), arg(1)).and_then(|_| mmap_exec(arg(1))),
        "copy-load" => copy(arg(0), arg(1)).and_then(|_| load(arg(1))),
        "list-proc" => list_proc(),
        "tcp-connect" => tcp_connect(arg(0)),
        "tcp-hello" => tcp_hello(arg(0)),
        "loopback-selftest" => loopback_selftest(),
        "tcp-pair" => tcp_pair(arg(0)),
        "unix-connect" => UnixStream::connect(arg(0))
            .map(|_| "connected".into())
            .map_err(io),
        "socketpair" => socketpair(),
        "abstract-connect" => abstract_connect(arg(0)),
        "env" => Ok(env_names()),
        "getenv" => std::env::var(arg(0)).map_err(|_| Errno::ENOENT),
        "hostname" => nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()),
        "sethostname" => sethostname(arg(0)),
        _ => probe_sys::act(action, args)
            .or_else(|| crate::process::act(action, args))
            .unwrap_or_else(|| unknown(action)),
    }
}

/// `$TMPDIR…` → the sandbox's temporary directory (`/tmp` with
/// namespaces, a private directory at its host path without).
fn expand_tmpdir(arg: &str) -> String {
    match arg.strip_prefix("$TMPDIR") {
        Some(rest) => std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into()) + rest,
        None => arg.to_owned(),
    }
}

fn unknown(action: &str) -> ! {
    eprintln!("probe: unknown action {action:?}");
    std::process::exit(2)
}

/// The errno inside an `io::Error` (EIO when it carries none).
pub fn io(e: std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

fn read(path: &str) -> Outcome {
    let data = std::fs::read(path).map_err(io)?;
    Ok(format!("{} bytes", data.len()))
}

/// One non-blocking read of up to 8 KiB (a device may be endless).
fn read_head(path: &str) -> Outcome {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let mut buf = vec![0u8; 8192];
    let n = file.read(&mut buf).map_err(io)?;
    Ok(format!("{n} bytes"))
}

/// Several actions in one run, separated by `+` (a scripted server that
/// tries one thing after another): each one's outcome, comma-separated.
fn steps(args: &[String]) -> String {
    args.split(|a| a == "+")
        .filter_map(|step| step.split_first())
        .map(|(action, rest)| match act(action, rest) {
            Ok(_) => format!("{action}:ok"),
            Err(errno) => format!("{action}:{errno:?}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn write(path: &str) -> Outcome {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io)?;
    file.write_all(b"written by the cordon probe\n")
        .map_err(io)?;
    Ok("written".into())
}

/// Creates the missing directories above `path`, then writes it.
fn write_mkdir(path: &str) -> Outcome {
    if let Some(parent) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    write(path)
}

/// An editor's atomic save: writes `path.new`, renames it over `path`.
fn replace(path: &str) -> Outcome {
    let new = format!("{path}.new");
    write(&new)?;
    std::fs::rename(&new, path).map_err(io)?;
    Ok("replaced".into())
}

/// Moves `dir` (an ancestor of `path`) aside, then writes `path` in new
/// directories: a file protected by masking it in place would be free.
fn swap_dir(dir: &str, path: &str) -> Outcome {
    std::fs::rename(dir, format!("{dir}.moved")).map_err(io)?;
    write_mkdir(path)
}

fn create(path: &str) -> Outcome {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    Ok("created".into())
}

/// Links `src` to `dst`, then appends through the new name: when the link
/// is refused the append never happens.
fn link_write(src: &str, dst: &str) -> Outcome {
    std::fs::hard_link(src, dst).map_err(io)?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dst)
        .map_err(io)?;
    file.write_all(b"appended through a hard link\n")
        .map_err(io)?;
    Ok("linked and written".into())
}

/// Runs `path ARGS…` and reports its exit code and trimmed stdout.
fn exec(path: &str, args: &[String]) -> Outcome {
    let out = std::process::Command::new(path)
        .args(args)
        .output()
        .map_err(io)?;
    let code = out
        .status
        .code()
        .map_or_else(|| format!("{:?}", out.status), |c| c.to_string());
    Ok(format!(
        "exit {code} {}",
        String::from_utf8_lossy(&out.stdout).trim()
    ))
}

/// The numeric entries of /proc, comma-separated.
fn list_proc() -> Outcome {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map_err(io)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(","))
}

fn tcp_connect(addr: &str) -> Outcome {
    let addr: SocketAddr = addr.parse().map_err(|_| Errno::EINVAL)?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(io)?;
    Ok("connected".into())
}

/// Connects and reads the peer's first line: reaching a listener inside
/// the sandbox (network "filtered") is not reaching the test host.
fn tcp_hello(addr: &str) -> Outcome {
    let addr: SocketAddr = addr.parse().map_err(|_| Errno::EINVAL)?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') && line.len() < 256 {
        match stream.read(&mut byte).map_err(io)? {
            0 => return Err(Errno::ECONNRESET),
            _ => line.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&line).trim().to_owned())
}

/// Listens on the sandbox's own 127.0.0.1 and talks to itself.
fn loopback_selftest() -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    let port = listener.local_addr().map_err(io)?.port();
    let mut client = TcpStream::connect(("127.0.0.1", port)).map_err(io)?;
    let (mut server, _) = listener.accept().map_err(io)?;
    client.write_all(b"ping").map_err(io)?;
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).map_err(io)?;
    if &buf != b"ping" {
        return Err(Errno::EIO);
    }
    Ok(format!("listened and connected on 127.0.0.1:{port}"))
}

/// Listens on 127.0.0.1:PORT and connects to it: the bind, then the
/// connect, each refused on its own.
fn tcp_pair(port: &str) -> Outcome {
    let port: u16 = port.parse().map_err(|_| Errno::EINVAL)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(io)?;
    TcpStream::connect(("127.0.0.1", port)).map_err(io)?;
    drop(listener);
    Ok(format!("listened and connected on 127.0.0.1:{port}"))
}

/// A connected unix pair that carries a byte.
fn socketpair() -> Outcome {
    let (mut a, mut b) = UnixStream::pair().map_err(io)?;
    a.write_all(b"x").map_err(io)?;
    let mut buf = [0u8; 1];
    b.read_exact(&mut buf).map_err(io)?;
    Ok("a connected pair".into())
}

fn abstract_connect(name: &str) -> Outcome {
    let addr = UnixAddr::from_abstract_name(name.as_bytes()).map_err(io)?;
    UnixStream::connect_addr(&addr).map_err(io)?;
    Ok("connected".into())
}

/// Sets the hostname and, when that worked, puts the old one back (the
/// host's, if the sandbox failed to give the probe its own).
fn sethostname(name: &str) -> Outcome {
    let old = nix::unistd::gethostname()?;
    nix::unistd::sethostname(name)?;
    nix::unistd::sethostname(&old)?;
    Ok(format!("set to {name} and back"))
}

/// The names (not values) of the environment, comma-separated.
fn env_names() -> String {
    let mut names: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.join(",")
}

/// Copies `src` to `dst` (mode 0755).
fn copy(src: &str, dst: &str) -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(src, dst).map_err(io)?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    Ok("copied".into())
}

/// Maps the first page of `path` executable, as the dynamic loader maps a
/// library's code.
fn mmap_exec(path: &str) -> Outcome {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: a fresh private mapping of an open file, unmapped before return.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    // SAFETY: addr is the mapping of 4096 bytes made above.
    unsafe { libc::munmap(addr, 4096) };
    Ok("mapped executable".into())
}

/// Runs the dynamic loader on `path` (`ld.so PATH`), which maps the
/// program itself instead of asking execve to.
fn load(path: &str) -> Outcome {
    let loader = LOADERS
        .iter()
        .find(|l| std::path::Path::new(l).exists())
        .ok_or(Errno::ENOENT)?;
    exec(loader, &[path.to_owned()])
}

/// The dynamic loader's path on the architectures the suite runs on.
pub const LOADERS: &[&str] = &[
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
    "/lib/ld-linux-riscv64-lp64d.so.1",
];

/// Reads `path` and says whether it holds `needle` (`ok holds` or
/// `ok lacks`), never printing the contents.
fn contains(path: &str, needle: &str) -> Outcome {
    let data = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8_lossy(&data);
    Ok(if text.contains(needle) {
        "holds"
    } else {
        "lacks"
    }
    .into())
}

/// The sizes of this process's capability sets, read with the `caps`
/// crate: `effective=N permitted=N inheritable=N ambient=N bounding=N`.
fn capability_sets() -> String {
    use caps::CapSet;
    let count = |set| caps::read(None, set).map_or(usize::MAX, |s| s.len());
    format!(
        "effective={} permitted={} inheritable={} ambient={} bounding={}",
        count(CapSet::Effective),
        count(CapSet::Permitted),
        count(CapSet::Inheritable),
        count(CapSet::Ambient),
        count(CapSet::Bounding)
    )
}
