//! Network escapes under the default profile (network "none"): the host's
//! loopback, socket families and types the filter denies, unix sockets on
//! the host (pathname and abstract). And `[network] mode = "loopback"`: a
//! private loopback that works inside while the host's stays out of reach.
//!
//! Controls: the host's listeners are reachable by the same probe run on
//! the host, and a connected unix pair (`socketpair`) works inside.

use crate::world::{Case, CaseResult, Failure, Only, World, s};

// Kernel constants, spelled out so the cases read like the calls.
const AF_INET: &str = "2";
const AF_NETLINK: &str = "16";
const AF_PACKET: &str = "17";
const AF_VSOCK: &str = "40";
const SOCK_STREAM: &str = "1";
const SOCK_DGRAM: &str = "2";
const SOCK_RAW: &str = "3";
const IPPROTO_ICMP: &str = "1";
const IPPROTO_MPTCP: &str = "262";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("tcp_to_host_loopback", Only::Both, tcp_to_host_loopback),
        Case::new("udp_socket", Only::Both, udp_socket),
        Case::new("mptcp_socket", Only::Both, mptcp_socket),
        Case::new("raw_socket", Only::Both, raw_socket),
        Case::new("packet_socket", Only::Both, packet_socket),
        Case::new("netlink_socket", Only::Both, netlink_socket),
        Case::new("vsock_socket", Only::Both, vsock_socket),
        Case::new("unix_socket_in_home", Only::Both, unix_socket_in_home),
        Case::new("abstract_unix_socket", Only::Both, abstract_unix_socket),
        Case::new(
            "loopback_mode_keeps_host_out",
            Only::Ns,
            loopback_mode_keeps_host_out,
        ),
        Case::new("loopback_port_rules", Only::Ns, loopback_port_rules),
        Case::new(
            "loopback_mode_still_denies_raw_and_mptcp",
            Only::Ns,
            loopback_mode_still_denies_raw_and_mptcp,
        ),
    ]
}

/// Control: a connected unix pair works inside.
fn socketpair_works(w: &World) -> CaseResult {
    w.sandbox().probe(&["socketpair"]).ok()?;
    Ok(())
}

fn host_addr(w: &World) -> String {
    format!("127.0.0.1:{}", w.tcp_port)
}

fn tcp_to_host_loopback(w: &World) -> CaseResult {
    w.host(&["tcp-connect", &host_addr(w)]).ok()?;
    w.sandbox().probe(&["tcp-connect", &host_addr(w)]).err()?;
    socketpair_works(w)
}

/// `socket(args…)` fails with EPERM (the filter) under the default profile.
fn socket_denied(w: &World, args: &[&str]) -> CaseResult {
    let mut action = vec!["socket"];
    action.extend_from_slice(args);
    w.sandbox().probe(&action).errno("EPERM")?;
    socketpair_works(w)
}

fn udp_socket(w: &World) -> CaseResult {
    socket_denied(w, &[AF_INET, SOCK_DGRAM, "0"])
}

fn mptcp_socket(w: &World) -> CaseResult {
    socket_denied(w, &[AF_INET, SOCK_STREAM, IPPROTO_MPTCP])
}

fn raw_socket(w: &World) -> CaseResult {
    socket_denied(w, &[AF_INET, SOCK_RAW, IPPROTO_ICMP])
}

fn packet_socket(w: &World) -> CaseResult {
    socket_denied(w, &[AF_PACKET, SOCK_RAW, "0"])
}

fn netlink_socket(w: &World) -> CaseResult {
    socket_denied(w, &[AF_NETLINK, SOCK_RAW, "0"])
}

fn vsock_socket(w: &World) -> CaseResult {
    socket_denied(w, &[AF_VSOCK, SOCK_STREAM, "0"])
}

/// A socket the user could connect to on the host (an agent, a session
/// bus) in the ungranted home.
fn unix_socket_in_home(w: &World) -> CaseResult {
    let path = s(&w.unix_socket);
    w.host(&["unix-connect", path]).ok()?;
    w.sandbox().probe(&["unix-connect", path]).err()?;
    socketpair_works(w)
}

fn abstract_unix_socket(w: &World) -> CaseResult {
    w.host(&["abstract-connect", &w.abstract_name]).ok()?;
    w.sandbox()
        .probe(&["abstract-connect", &w.abstract_name])
        .err()?;
    socketpair_works(w)
}

fn loopback_profile(w: &World) -> std::path::PathBuf {
    w.profile("loopback", "[network]\nmode = \"loopback\"\n")
}

/// The host's listener is unreachable, while the probe listens on and
/// connects to its own 127.0.0.1.
fn loopback_mode_keeps_host_out(w: &World) -> CaseResult {
    let profile = loopback_profile(w);
    w.sandbox()
        .profile(&profile)
        .probe(&["tcp-connect", &host_addr(w)])
        .err()?;
    w.sandbox()
        .profile(&profile)
        .probe(&["loopback-selftest"])
        .ok()?;
    Ok(())
}

/// Landlock's TCP port rules (cordon adds them to the ruleset after
/// init is cloned): a listed port can be bound and connected to, a port
/// listed for bind alone cannot be connected to, an unlisted one cannot
/// be bound. In the sandbox's own network namespace, so the fixed ports
/// meet nobody else's.
fn loopback_port_rules(w: &World) -> CaseResult {
    if w.landlock_abi < 4 {
        let why = format!(
            "kernel lacks Landlock TCP port rules (ABI {} < 4)",
            w.landlock_abi
        );
        return Err(Failure::Skip(why));
    }
    let profile = w.profile(
        "ports",
        "[network]\nmode = \"loopback\"\nconnect = [7001]\nbind = [7001, 7002]\n",
    );
    let pair = |port: &str| w.sandbox().profile(&profile).probe(&["tcp-pair", port]);
    pair("7001").ok()?;
    pair("7002").errno("EACCES")?;
    pair("7003").errno("EACCES")?;
    Ok(())
}

/// With internet sockets allowed, raw and MPTCP sockets are still denied
/// by their own rules, while a TCP socket opens.
fn loopback_mode_still_denies_raw_and_mptcp(w: &World) -> CaseResult {
    let profile = loopback_profile(w);
    let socket = |args: &[&str]| {
        w.sandbox()
            .profile(&profile)
            .probe(&[&["socket"], args].concat())
    };
    socket(&[AF_INET, SOCK_RAW, IPPROTO_ICMP]).errno("EPERM")?;
    socket(&[AF_INET, SOCK_STREAM, IPPROTO_MPTCP]).errno("EPERM")?;
    socket(&[AF_INET, SOCK_STREAM, "0"]).ok()?;
    Ok(())
}
