//! What the kernel opens itself while it executes a file: the script's
//! interpreter (`#!`) and the program's dynamic loader (an ELF file's
//! `PT_INTERP`). These opens are no system call of the server's, so no
//! notifier sees them; when `execve` fails, cordon names them from the
//! file it asked the kernel to run, and the judge says which the sandbox
//! hides.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The kernel follows at most this many interpreters (its
/// `BINPRM_MAX_RECURSION`).
const DEPTH: usize = 4;

/// `path` and every interpreter the kernel opens to run it, in that
/// order. Files that cannot be read end the chain: nothing is guessed.
pub fn chain(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    let mut at = path.to_path_buf();
    while out.len() <= DEPTH {
        match interpreter(&at) {
            Some(next) if !out.contains(&next) => {
                out.push(next.clone());
                at = next;
            }
            _ => break,
        }
    }
    out
}

/// The interpreter the kernel opens for `path`, if it names one: the
/// `#!` line is parsed as at approval, from the same descriptor the ELF
/// header is then read from.
fn interpreter(path: &Path) -> Option<PathBuf> {
    let mut file = File::open(path).ok()?;
    if let Some((interp, _)) = crate::launch::resolve::read_shebang_from(&file) {
        return interp.is_absolute().then_some(interp);
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data).ok()?;
    elf_interp(&data)
}

/// The `PT_INTERP` path of an ELF file (32 or 64 bits, either byte
/// order), if it has one.
fn elf_interp(data: &[u8]) -> Option<PathBuf> {
    const PT_INTERP: u32 = 3;
    if data.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match data.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match data.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let int = |at: usize, len: usize| -> Option<u64> {
        let bytes = data.get(at..at.checked_add(len)?)?;
        let fold = |acc: u64, &b: &u8| (acc << 8) | u64::from(b);
        Some(if big {
            bytes.iter().fold(0, fold)
        } else {
            bytes.iter().rev().fold(0, fold)
        })
    };
    let word = if wide { 8 } else { 4 };
    let (phoff, phentsize, phnum) = if wide {
        (int(0x20, 8)?, int(0x36, 2)?, int(0x38, 2)?)
    } else {
        (int(0x1c, 4)?, int(0x2a, 2)?, int(0x2c, 2)?)
    };
    for i in 0..phnum {
        let header = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        if int(header, 4)? != u64::from(PT_INTERP) {
            continue;
        }
        // p_offset and p_filesz: after p_type (and p_flags in ELF64).
        let (offset, size) = if wide {
            (int(header + 8, word)?, int(header + 32, word)?)
        } else {
            (int(header + 4, word)?, int(header + 16, word)?)
        };
        let start = usize::try_from(offset).ok()?;
        let bytes = data.get(start..start.checked_add(usize::try_from(size).ok()?)?)?;
        let name = bytes.split(|&b| b == 0).next()?;
        let name =
            PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name));
        return name.is_absolute().then_some(name);
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_script_names_its_interpreter_and_a_program_its_loader() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run");
        std::fs::write(&script, "#!  /bin/sh -e\necho\n").unwrap();
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        let found = chain(&script);
        assert_eq!(found.first(), Some(&script));
        assert_eq!(found.get(1), Some(&PathBuf::from("/bin/sh")));
        // The shell of the test machine is dynamically linked: its loader
        // follows (the same as the test binary's own).
        let own = elf_interp(&std::fs::read(std::env::current_exe().unwrap()).unwrap());
        if own.is_some() && elf_interp(&std::fs::read(&sh).unwrap()).is_some() {
            assert!(found.get(2).is_some_and(|l| l.is_absolute()), "{found:?}");
        }
        let data = dir.path().join("data");
        std::fs::write(&data, "plain text").unwrap();
        assert_eq!(chain(&data), vec![data.clone()]);
        let relative = dir.path().join("relative");
        std::fs::write(&relative, "#!env python\n").unwrap();
        assert_eq!(
            chain(&relative),
            vec![relative.clone()],
            "a relative name is not followed"
        );
    }
}
