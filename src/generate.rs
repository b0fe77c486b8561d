//! `cordon __generate man|completions DIR`: the manual pages and shell
//! completions, rendered from the clap definitions in [`crate::cli`] so
//! they cannot drift from `--help`. Hidden from `--help`; the packaging
//! scripts (`scripts/package.sh`, the PKGBUILD) call it on the built
//! binary.
//!
//! The completion scripts are clap_complete's, with one addition each:
//! the values of `--profile`/`-p` (and `profile show`'s argument) and of
//! `--host` are names cordon knows only at run time (the user's profiles),
//! so the scripts ask the cordon being completed (`cordon __complete
//! profiles|hosts`) and still complete a path.

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
                let path = clap_complete::generate_to(*shell, &mut visible, "cordon", dir)?;
                let script = std::fs::read_to_string(&path)?;
                std::fs::write(&path, with_names(*shell, &script))?;
            }
            Ok(())
        }
    }
}

/// bash: a function in front of clap_complete's `_cordon` that completes
/// the names, else hands over.
const BASH_NAMES: &str = r#"
# Profile and host names come from the cordon being completed.
_cordon_names() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} what= i
    if [[ $prev == = && $COMP_CWORD -ge 2 ]]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi
    for ((i = 1; i < COMP_CWORD; i++)); do
        [[ ${COMP_WORDS[i]} == -- ]] && { _cordon "$@"; return; }
    done
    case $prev in
    -p | --profile) what=profiles ;;
    --host) what=hosts ;;
    *) [[ ${COMP_WORDS[1]} == profile && ${COMP_WORDS[2]} == show && $COMP_CWORD -eq 3 ]] && what=profiles ;;
    esac
    if [[ -n $what && $cur != */* ]]; then
        local IFS=$'
'
        COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" __complete "$what" 2>/dev/null)" -- "$cur"))
        [[ ${#COMPREPLY[@]} -gt 0 ]] && return 0
    fi
    _cordon "$@"
}
"#;

/// zsh: the actions for the names, a name or a file.
const ZSH_NAMES: &str = r#"
(( $+functions[_cordon_names] )) ||
_cordon_names() {
    local -a names
    names=(${(f)"$(${words[1]} __complete $1 2>/dev/null)"})
    _alternative "names:${1%s}:compadd -a names" 'files:file:_files'
}
_cordon_profiles() { _cordon_names profiles; }
_cordon_hosts() { _cordon_names hosts; }

"#;

/// fish: the command being completed, asked for names.
const FISH_NAMES: &str = r#"
function __fish_cordon_names
    set -l cmd (commandline -opc)[1]
    $cmd __complete $argv 2>/dev/null
end
"#;

/// clap_complete's script for `shell` with the names added.
fn with_names(shell: Shell, script: &str) -> String {
    match shell {
        Shell::Bash => {
            let at = script
                .find("\nif [[ \"${BASH_VERSINFO")
                .unwrap_or(script.len());
            let (head, tail) = script.split_at(at);
            format!(
                "{head}{BASH_NAMES}{}",
                tail.replace("complete -F _cordon ", "complete -F _cordon_names ")
            )
        }
        Shell::Zsh => {
            let script = script
                .replace(":NAME|PATH:_default'", ":NAME|PATH:_cordon_profiles'")
                .replace(":HOST|PATH:_default'", ":HOST|PATH:_cordon_hosts'");
            let at = script
                .find("if [ \"$funcstack[1]\" = \"_cordon\" ]")
                .unwrap_or(script.len());
            let (head, tail) = script.split_at(at);
            format!("{head}{ZSH_NAMES}{tail}")
        }
        Shell::Fish => {
            let lines: Vec<String> = script
                .lines()
                .map(|line| {
                    if line.contains(" -l profile ") {
                        format!("{line} -a \"(__fish_cordon_names profiles)\"")
                    } else if line.contains(" -l host ") {
                        format!("{line} -a \"(__fish_cordon_names hosts)\"")
                    } else {
                        line.to_owned()
                    }
                })
                .collect();
            format!("{FISH_NAMES}{}\n", lines.join("\n"))
        }
        _ => script.to_owned(),
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
