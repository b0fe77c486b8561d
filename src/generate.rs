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
/// included (`cordon-run.1`, `cordon-profile-list.1`, …).
/// `completions`: `cordon.bash`, `_cordon` (zsh) and `cordon.fish`.
pub fn generate(what: Generated, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    match what {
        Generated::Man => clap_mangen::generate_to(cmd, dir),
        Generated::Completions => {
            for shell in SHELLS {
                clap_complete::generate_to(*shell, &mut cmd.clone(), "cordon", dir)?;
            }
            Ok(())
        }
    }
}
