//! Filesystem escapes: reading secrets outside the grants, writing,
//! linking, renaming and truncating across a grant's edge, creating files
//! in system directories, and executing from a writable grant.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::world::{Case, CaseResult, OUTSIDE_SECRET, Only, World, contents, ensure, s};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("read_ssh_key", Only::Both, read_ssh_key),
        Case::new("read_aws_credentials", Only::Both, read_aws_credentials),
        Case::new("read_etc_shadow", Only::Both, read_etc_shadow),
        Case::new("read_proc_1_environ", Only::Both, read_proc_1_environ),
        Case::new("read_host_proc_cmdline", Only::Both, read_host_proc_cmdline),
        Case::new("write_outside_grants", Only::Both, write_outside_grants),
        Case::new("write_through_symlink", Only::Both, write_through_symlink),
        Case::new("hardlink_into_grant", Only::Both, hardlink_into_grant),
        Case::new("rename_out_of_grant", Only::Both, rename_out_of_grant),
        Case::new("truncate_outside", Only::Both, truncate_outside),
        Case::new("create_in_root", Only::Both, create_in_root),
        Case::new("create_in_usr", Only::Both, create_in_usr),
        Case::new("exec_in_rw_dir", Only::Both, exec_in_rw_dir),
        Case::new("write_host_tmp", Only::Both, write_host_tmp),
        Case::new("read_kernel_log_device", Only::Both, read_kernel_log_device),
        Case::new("tmp_loader_exec", Only::Ns, tmp_loader_exec),
        Case::new("tmp_mmap_exec", Only::Ns, tmp_mmap_exec),
        Case::new("rw_grant_mmap_exec", Only::Ns, rw_grant_mmap_exec),
    ]
}

/// `path` is unreadable inside (though the user can read it on the host),
/// while a file in an `--ro` grant is readable.
fn secret_unreadable(w: &World, path: &Path) -> CaseResult {
    w.host(&["read", s(path)]).ok()?;
    w.sandbox().ro(&w.ro).probe(&["read", s(path)]).err()?;
    read_granted(w)
}

/// Control: the `--ro` grant's file is readable.
fn read_granted(w: &World) -> CaseResult {
    w.sandbox()
        .ro(&w.ro)
        .probe(&["read", s(&w.ro.join("data.txt"))])
        .ok()?;
    Ok(())
}

fn read_ssh_key(w: &World) -> CaseResult {
    secret_unreadable(w, &w.env.home.join(".ssh/id_ed25519"))
}

fn read_aws_credentials(w: &World) -> CaseResult {
    secret_unreadable(w, &w.env.home.join(".aws/credentials"))
}

fn read_etc_shadow(w: &World) -> CaseResult {
    w.sandbox().probe(&["read", "/etc/shadow"]).err()?;
    w.sandbox().probe(&["read", "/etc/passwd"]).ok()?;
    Ok(())
}

/// With namespaces pid 1 is cordon's init (not dumpable); without, the
/// host's init behind an ungranted /proc, which also hides the environment
/// of a host process of the same user (readable on the host).
fn read_proc_1_environ(w: &World) -> CaseResult {
    w.sandbox().probe(&["read", "/proc/1/environ"]).err()?;
    if w.ns {
        w.sandbox().probe(&["read", "/proc/self/status"]).ok()?;
        return Ok(());
    }
    let environ = format!("/proc/{}/environ", w.sleeper_pid());
    w.host(&["read", &environ]).ok()?;
    w.sandbox().probe(&["read", &environ]).err()?;
    read_granted(w)
}

fn read_host_proc_cmdline(w: &World) -> CaseResult {
    let cmdline = format!("/proc/{}/cmdline", w.sleeper_pid());
    w.host(&["read", &cmdline]).ok()?;
    w.sandbox().probe(&["read", &cmdline]).err()?;
    if w.ns {
        w.sandbox().probe(&["read", "/proc/self/cmdline"]).ok()?;
        Ok(())
    } else {
        read_granted(w)
    }
}

fn write_outside_grants(w: &World) -> CaseResult {
    let outside = w.outside.join("written.txt");
    w.sandbox().rw(&w.rw).probe(&["write", s(&outside)]).err()?;
    ensure(!outside.exists(), || {
        format!("ESCAPE: {} was created", outside.display())
    })?;
    let inside = w.rw.join("written.txt");
    w.sandbox().rw(&w.rw).probe(&["write", s(&inside)]).ok()?;
    ensure(inside.exists(), || {
        format!(
            "the control reported ok but {} is missing",
            inside.display()
        )
    })?;
    Ok(())
}

/// The secret outside is unchanged.
fn secret_intact(w: &World) -> Result<(), String> {
    let secret = w.outside.join("secret.txt");
    let now = contents(&secret);
    ensure(now == OUTSIDE_SECRET, || {
        format!("ESCAPE: {} now holds {now:?}", secret.display())
    })
}

fn write_through_symlink(w: &World) -> CaseResult {
    let link = w.rw.join("escape-link");
    std::os::unix::fs::symlink(w.outside.join("secret.txt"), &link).map_err(|e| e.to_string())?;
    let owner = Some(w.uid());
    std::os::unix::fs::lchown(&link, owner, owner).map_err(|e| e.to_string())?;
    w.sandbox().rw(&w.rw).probe(&["write", s(&link)]).err()?;
    secret_intact(w)?;
    w.sandbox()
        .rw(&w.rw)
        .probe(&["write", s(&w.rw.join("plain.txt"))])
        .ok()?;
    Ok(())
}

fn hardlink_into_grant(w: &World) -> CaseResult {
    let secret = w.outside.join("secret.txt");
    let link = w.rw.join("hardlink");
    w.sandbox()
        .rw(&w.rw)
        .probe(&["link-write", s(&secret), s(&link)])
        .err()?;
    secret_intact(w)?;
    let links = fs::metadata(&secret).map_err(|e| e.to_string())?.nlink();
    ensure(links == 1, || {
        format!("ESCAPE: {} has {links} links", secret.display())
    })?;
    let own = w.plant("rw/own.txt", "mine\n");
    w.sandbox()
        .rw(&w.rw)
        .probe(&["link-write", s(&own), s(&w.rw.join("own-link"))])
        .ok()?;
    Ok(())
}

fn rename_out_of_grant(w: &World) -> CaseResult {
    let src = w.plant("rw/moveme.txt", "move me\n");
    let out = w.outside.join("moveme.txt");
    w.sandbox()
        .rw(&w.rw)
        .probe(&["rename", s(&src), s(&out)])
        .err()?;
    ensure(!out.exists() && src.exists(), || {
        format!("ESCAPE: {} was moved out", src.display())
    })?;
    w.sandbox()
        .rw(&w.rw)
        .probe(&["rename", s(&src), s(&w.rw.join("moved.txt"))])
        .ok()?;
    Ok(())
}

/// The secret is readable through `--ro` but cannot be truncated, while a
/// file in the `--rw` grant can.
fn truncate_outside(w: &World) -> CaseResult {
    let secret = w.outside.join("secret.txt");
    let sandbox = || w.sandbox().ro(&w.outside).rw(&w.rw);
    sandbox().probe(&["read", s(&secret)]).ok()?;
    sandbox().probe(&["truncate", s(&secret)]).err()?;
    secret_intact(w)?;
    let own = w.plant("rw/truncate-me.txt", "some bytes\n");
    sandbox().probe(&["truncate", s(&own)]).ok()?;
    let len = fs::metadata(&own).map_err(|e| e.to_string())?.len();
    ensure(len == 0, || {
        format!(
            "the control reported ok but {} has {len} bytes",
            own.display()
        )
    })?;
    Ok(())
}

/// Creating `dir/NAME` fails (and nothing appears on the host), creating a
/// file in the `--rw` grant works.
fn create_denied_in(w: &World, dir: &str) -> CaseResult {
    let target = Path::new(dir).join(format!("cordon-escape-{}", w.tag));
    let outcome = w.sandbox().rw(&w.rw).probe(&["create", s(&target)]);
    let existed = target.exists();
    let _ = fs::remove_file(&target);
    outcome.err()?;
    ensure(!existed, || {
        format!("ESCAPE: {} was created", target.display())
    })?;
    w.sandbox()
        .rw(&w.rw)
        .probe(&["create", s(&w.rw.join(format!("created-in-{}", dir.len())))])
        .ok()?;
    Ok(())
}

fn create_in_root(w: &World) -> CaseResult {
    create_denied_in(w, "/")
}

fn create_in_usr(w: &World) -> CaseResult {
    create_denied_in(w, "/usr")
}

/// A `--rw` grant has no execute right: a copy of `true` placed there does
/// not run, while /usr/bin/true does.
fn exec_in_rw_dir(w: &World) -> CaseResult {
    let copy = w.rw.join("true-copy");
    fs::copy("/usr/bin/true", &copy).map_err(|e| e.to_string())?;
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    w.env.give(&copy);
    w.host(&["exec", s(&copy)]).ok()?;
    w.sandbox().rw(&w.rw).probe(&["exec", s(&copy)]).err()?;
    let ran = w
        .sandbox()
        .rw(&w.rw)
        .probe(&["exec", "/usr/bin/true"])
        .ok()?;
    ensure(ran.starts_with("exit 0"), || {
        format!("/usr/bin/true inside: {ran}")
    })?;
    Ok(())
}

/// /tmp inside is private: whatever the probe writes there (denied without
/// namespaces, a private tmpfs with) never reaches the host's /tmp; the
/// private temporary directory is writable.
fn write_host_tmp(w: &World) -> CaseResult {
    let host = format!("/tmp/cordon-escape-{}", w.tag);
    let run = w.sandbox().probe(&["write", &host]);
    let leaked = Path::new(&host).exists();
    let _ = fs::remove_file(&host);
    ensure(!leaked, || {
        format!("ESCAPE: {host} appeared on the host: {}", run.describe())
    })?;
    if !w.ns {
        run.err()?;
    }
    w.sandbox().probe(&["write", "$TMPDIR/private.txt"]).ok()?;
    Ok(())
}

/// /dev/kmsg (the kernel log, readable by root on the host) is not
/// reachable: the minimal /dev lacks it, or Landlock does not grant /dev.
/// /dev/null, which cordon provides, opens.
fn read_kernel_log_device(w: &World) -> CaseResult {
    if w.uid() == 0 {
        w.host(&["read-head", "/dev/kmsg"]).ok()?;
    }
    w.sandbox().probe(&["read-head", "/dev/kmsg"]).err()?;
    w.sandbox().probe(&["read-head", "/dev/null"]).ok()?;
    Ok(())
}

/// The private /tmp is `noexec`: a program copied there does not run
/// through the dynamic loader (`ld.so /tmp/x` maps it executable, which
/// Landlock's execute right does not cover), while the loader runs
/// /usr/bin/true. Without namespaces there is no mount to mark.
fn tmp_loader_exec(w: &World) -> CaseResult {
    let ran = w
        .sandbox()
        .probe(&["copy-load", "/usr/bin/true", "$TMPDIR/true-copy"]);
    let detail = ran
        .ok()
        .or_else(|_| ran.err().map(|e| format!("err {e}")))?;
    ensure(!detail.starts_with("exit 0"), || {
        format!("ESCAPE: the loader ran a program written to /tmp: {detail}")
    })?;
    let loader = crate::probe::LOADERS
        .iter()
        .find(|l| Path::new(l).exists())
        .ok_or_else(|| "no dynamic loader at a known path".to_owned())?;
    let control = w.sandbox().probe(&["exec", loader, "/usr/bin/true"]).ok()?;
    ensure(control.starts_with("exit 0"), || {
        format!("the loader did not run /usr/bin/true: {control}")
    })?;
    Ok(())
}

/// A file written to the private /tmp cannot be mapped executable
/// (EPERM from the `noexec` mount); /usr/bin/true can.
fn tmp_mmap_exec(w: &World) -> CaseResult {
    w.sandbox()
        .probe(&["copy-mmap-exec", "/usr/bin/true", "$TMPDIR/lib.so"])
        .errno("EPERM")?;
    w.sandbox().probe(&["mmap-exec", "/usr/bin/true"]).ok()?;
    Ok(())
}

/// The same for a `--rw` grant, which has no execute right: its files
/// cannot be mapped executable either; a file in an `--ro`-granted
/// system directory can.
fn rw_grant_mmap_exec(w: &World) -> CaseResult {
    let target = w.rw.join("lib.so");
    w.sandbox()
        .rw(&w.rw)
        .probe(&["copy-mmap-exec", "/usr/bin/true", s(&target)])
        .errno("EPERM")?;
    w.sandbox()
        .rw(&w.rw)
        .probe(&["mmap-exec", "/usr/bin/true"])
        .ok()?;
    Ok(())
}
