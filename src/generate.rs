//! `cordon __generate man|completions DIR`: the manual pages and shell
//! completions, rendered from the clap definitions in [`crate::cli`] so
//! they cannot drift from `--help`. Hidden from `--help`; the packaging
//! scripts (`scripts/package.sh`, the PKGBUILD) call it on the built
//! binary.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, Generated};

/// The shells completions are generated for.
const SHELLS: &[Shell] = &[Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes the requested files into `dir` (created if missing).
///
/// `man`: `cordon.1` and one page per visible subcommand, nested ones
/// included (`cordon-run.1`, `cordon-profile-list.1`, …), and
/// `cordon-profile.5` (see [`crate::manual`]).
/// `completions`: `cordon.bash`, `_cordon` (zsh) and `cordon.fish`.
pub fn generate(what: Generated, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    match what {
        Generated::Man => crate::manual::write_pages(cmd, dir),
        Generated::Completions => {
            let mut visible = without_hidden_subcommands(&cmd);
            for shell in SHELLS {
                clap_complete::generate_to(*shell, &mut visible, "cordon", dir)?;
            }
            Ok(())
        }
    }
}

/// The top-level command with its hidden subcommands (`__generate` and
/// other internal entry points) left out: clap_complete's static scripts
/// offer hidden subcommands, and a user should never be offered these.
/// clap has no way to remove a subcommand, so the command is rebuilt from
/// its visible parts.
fn without_hidden_subcommands(cmd: &clap::Command) -> clap::Command {
    let mut visible = clap::Command::new("cordon")
        .version(env!("CARGO_PKG_VERSION"))
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = cmd.get_about() {
        visible = visible.about(about.clone());
    }
    visible
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn pages_and_completions_cover_visible_commands_only() {
        let dir = tempfile::tempdir().unwrap();
        generate(Generated::Man, &dir.path().join("man")).unwrap();
        generate(Generated::Completions, &dir.path().join("completions")).unwrap();
        let man = dir.path().join("man");
        for page in [
            "cordon.1",
            "cordon-run.1",
            "cordon-config-wrap.1",
            "cordon-profile-list.1",
            "cordon-profile.5",
        ] {
            assert!(man.join(page).exists(), "{page}");
        }
        for file in ["cordon.bash", "_cordon", "cordon.fish"] {
            let text = std::fs::read_to_string(dir.path().join("completions").join(file)).unwrap();
            assert!(text.contains("unwrap"), "{file}");
            assert!(
                !text.contains("__generate"),
                "{file} offers the hidden command"
            );
        }
        let pages: Vec<_> = std::fs::read_dir(&man)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            pages.iter().all(|p| !p.to_string_lossy().contains("__")),
            "{pages:?}"
        );
    }
}
