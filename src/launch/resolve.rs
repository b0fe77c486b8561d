//! Resolving the command to the exact file cordon executes: PATH lookup
//! done by cordon, symlinks resolved, and the `#!` interpreter found, so
//! the consent text names what really runs.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::LaunchError;

/// The command as it will be executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The absolute, symlink-free path that is passed to execve.
    pub executable: PathBuf,
    /// Interpreters named by the `#!` line, in order: the one named there
    /// (such as /usr/bin/env) and, for `env NAME`, the program it finds.
    pub interpreters: Vec<PathBuf>,
}

/// Resolves `command` like execvp would, with `path_var` as PATH and
/// relative names against `cwd`.
pub fn resolve(
    command: &OsStr,
    path_var: Option<&OsStr>,
    cwd: &Path,
) -> Result<Resolved, LaunchError> {
    let executable = find(command, path_var, cwd)?;
    let interpreters = interpreters(&executable, path_var, cwd);
    Ok(Resolved {
        executable,
        interpreters,
    })
}

/// Resolves `command` and opens the file found, once: its `#!` line is
/// read from that descriptor, so the interpreters named are those of the
/// file that is hashed and executed.
pub fn resolve_opened(
    command: &OsStr,
    path_var: Option<&OsStr>,
    cwd: &Path,
) -> Result<(Resolved, fs::File), LaunchError> {
    let executable = find(command, path_var, cwd)?;
    let file = open(&executable)?;
    let interpreters = interpreters_of(read_shebang_from(&file), path_var, cwd);
    Ok((
        Resolved {
            executable,
            interpreters,
        },
        file,
    ))
}

/// Opens the resolved executable once. This descriptor is what cordon
/// hashes for the approval and what the sandbox executes, so a rename on
/// the host between the check and the start cannot put another file in
/// its place. A file that may be executed but not read is opened
/// `O_PATH` (it runs, but cannot be hashed for an approval).
pub fn open(path: &Path) -> Result<fs::File, LaunchError> {
    use nix::fcntl::OFlag;
    let shown = || path.display().to_string();
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .or_else(|e| match e {
        nix::errno::Errno::EACCES => nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ),
        other => Err(other),
    })
    .map_err(|e| LaunchError::NotExecutable {
        path: shown(),
        reason: e.desc().to_owned(),
    })?;
    let file = fs::File::from(fd);
    let st = nix::sys::stat::fstat(&file).map_err(|e| LaunchError::NotExecutable {
        path: shown(),
        reason: e.desc().to_owned(),
    })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(LaunchError::NotExecutable {
            path: shown(),
            reason: "not a regular file".into(),
        });
    }
    Ok(file)
}

/// The descriptor the sandbox executes: `file` itself, unless it is a
/// `#!` script. The kernel hands a script executed from a close-on-exec
/// descriptor to its interpreter as `/dev/fd/N`, which is closed by
/// then; such a script is executed by its path (its content is still
/// bound by the approval, and the interpreter opens it by path).
pub fn exec_descriptor(
    resolved: &Resolved,
    file: &fs::File,
) -> Result<Option<std::os::fd::OwnedFd>, LaunchError> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 2];
    let script = match file.read_at(&mut head, 0) {
        Ok(2) => head == *b"#!",
        // Not readable (opened O_PATH): the kernel reads it at exec.
        _ => !resolved.interpreters.is_empty(),
    };
    if script {
        return Ok(None);
    }
    file.try_clone()
        .map(|f| Some(f.into()))
        .map_err(LaunchError::Spawn)
}

fn not_found(command: &OsStr) -> LaunchError {
    LaunchError::NotFound {
        command: command.to_string_lossy().into_owned(),
    }
}

fn find(command: &OsStr, path_var: Option<&OsStr>, cwd: &Path) -> Result<PathBuf, LaunchError> {
    if command.is_empty() {
        return Err(not_found(command));
    }
    if command.as_bytes().contains(&b'/') {
        return check_executable(&cwd.join(command));
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut first_error = None;
    for dir in std::env::split_paths(path_var) {
        let dir = if dir.as_os_str().is_empty() {
            cwd.to_path_buf()
        } else {
            cwd.join(dir)
        };
        let candidate = dir.join(command);
        if !candidate.exists() {
            continue;
        }
        match check_executable(&candidate) {
            Ok(found) => return Ok(found),
            // Like execvp: keep looking, report the first unusable match.
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    Err(first_error.unwrap_or_else(|| not_found(command)))
}

fn check_executable(path: &Path) -> Result<PathBuf, LaunchError> {
    let shown = path.display().to_string();
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LaunchError::NotFound { command: shown });
        }
        Err(e) => {
            return Err(LaunchError::NotExecutable {
                path: shown,
                reason: e.to_string(),
            });
        }
    };
    if !meta.is_file() {
        return Err(LaunchError::NotExecutable {
            path: shown,
            reason: "not a regular file".into(),
        });
    }
    if meta.permissions().mode() & 0o111 == 0
        || nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_err()
    {
        return Err(LaunchError::NotExecutable {
            path: shown,
            reason: "permission denied (not executable)".into(),
        });
    }
    fs::canonicalize(path).map_err(|e| LaunchError::NotExecutable {
        path: shown,
        reason: e.to_string(),
    })
}

/// The interpreter chain of a script, best effort: a file that is not a
/// script, or whose interpreter cannot be found, has none (the kernel will
/// then report the exec error itself).
fn interpreters(executable: &Path, path_var: Option<&OsStr>, cwd: &Path) -> Vec<PathBuf> {
    let shebang = fs::File::open(executable)
        .ok()
        .and_then(|f| read_shebang_from(&f));
    interpreters_of(shebang, path_var, cwd)
}

fn interpreters_of(
    shebang: Option<(PathBuf, Option<OsString>)>,
    path_var: Option<&OsStr>,
    cwd: &Path,
) -> Vec<PathBuf> {
    let Some((interp, arg)) = shebang else {
        return Vec::new();
    };
    let Ok(interp_path) = fs::canonicalize(&interp) else {
        return Vec::new();
    };
    let mut out = vec![interp_path];
    if interp.file_name() == Some(OsStr::new("env")) {
        // `#!/usr/bin/env node` or `#!/usr/bin/env -S node --flag`.
        let program = arg.as_ref().and_then(|a| {
            let mut words = a
                .as_bytes()
                .split(|b| *b == b' ')
                .filter(|w| !w.is_empty() && !w.starts_with(b"-"));
            words.next().map(|w| OsString::from(OsStr::from_bytes(w)))
        });
        if let Some(Ok(found)) = program.map(|p| find(&p, path_var, cwd)) {
            out.push(found);
        }
    }
    out
}

/// Parses `#!interpreter [arg]` from the first line of `file` (read at
/// offset 0, the descriptor's offset is left alone).
pub(crate) fn read_shebang_from(file: &fs::File) -> Option<(PathBuf, Option<OsString>)> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 256];
    let n = file.read_at(&mut head, 0).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let end = line.iter().position(|b| *b == b'\n').unwrap_or(line.len());
    let line = line[..end].trim_ascii();
    let split = line.iter().position(|b| *b == b' ' || *b == b'\t');
    let (interp, rest) = match split {
        Some(i) => (&line[..i], Some(line[i..].trim_ascii())),
        None => (line, None),
    };
    if interp.is_empty() {
        return None;
    }
    let arg = rest
        .filter(|r| !r.is_empty())
        .map(|r| OsStr::from_bytes(r).to_owned());
    Some((PathBuf::from(OsStr::from_bytes(interp)), arg))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn script(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(body.as_bytes()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn finds_in_path_and_resolves_env_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let dir = fs::canonicalize(dir.path()).unwrap();
        script(&dir, "tool", "#!/usr/bin/env sh\necho hi\n", 0o755);
        let path_var = OsString::from(format!("/nonexistent:{}:/usr/bin:/bin", dir.display()));
        let r = resolve(OsStr::new("tool"), Some(&path_var), Path::new("/")).unwrap();
        assert_eq!(r.executable, dir.join("tool"));
        assert_eq!(r.interpreters[0], fs::canonicalize("/usr/bin/env").unwrap());
        assert_eq!(r.interpreters.len(), 2, "{:?}", r.interpreters);
    }

    #[test]
    fn not_found_and_not_executable_are_distinct() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "plain", "data", 0o644);
        let path_var = dir.path().as_os_str().to_owned();
        assert!(matches!(
            resolve(OsStr::new("absent"), Some(&path_var), Path::new("/")),
            Err(LaunchError::NotFound { .. })
        ));
        assert!(matches!(
            resolve(OsStr::new("plain"), Some(&path_var), Path::new("/")),
            Err(LaunchError::NotExecutable { .. })
        ));
        assert!(matches!(
            resolve(dir.path().as_os_str(), None, Path::new("/")),
            Err(LaunchError::NotExecutable { .. })
        ));
    }
}
