//! What `--help`, the man pages and the shell completions say beyond the options:
//! examples, files, environment and exit status (issue 23), the version with the
//! commit it was built from, and the security policy a deployment serves
//! (`disclosured policy`), written from its own configuration.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory;

use super::args::Cli;

/// `disclosured --version`: the release and the commit (`commit unknown` when built
/// from a tree without git history).
pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("DISCLOSURED_COMMIT"),
    ")"
);

/// The end of `disclosured --help` and of disclosured(1).
pub(crate) const AFTER_HELP: &str = "\
EXAMPLES:
    disclosured serve                                  run the daemon (systemd runs this)
    disclosured --config /etc/disclosured/disclosured.toml doctor
    disclosured reports list --overdue                 what is late
    disclosured reports show VR-2026-0042              one report and its conversation
    disclosured reports set VR-2026-0042 --status triaged --severity high
    disclosured reports reply VR-2026-0042 --file answer.txt
    disclosured quarantine list                        messages that did not become reports
    disclosured backup --to ~/offsite-key.asc /var/backups/disclosured.backup
    gpg --decrypt offsite.backup | disclosured restore --trust gateway.asc --install-keys gateway -
    disclosured policy > SECURITY.md                   the policy this gateway keeps

FILES:
    /etc/disclosured/disclosured.toml    configuration (read over the built-in defaults)
    /etc/disclosured/credentials/        passwords and passphrases when not run by systemd
    keys.dir (keys/)                     the gateway's keys; reporters/ and maintainers/
    store.path (var/state/)              the store: reports, queue, quarantine log
    store.path + .sock                   the running daemon's control socket
    inbox.path (var/inbox/)              the Maildir inbox, when inbox.kind = \"maildir\"

ENVIRONMENT:
    DISCLOSURED_CONFIG                   the configuration file (as --config)
    DISCLOSURED_CREDENTIALS              the credentials directory (as --credentials)
    DISCLOSURED__SECTION__KEY            overrides one setting, e.g. DISCLOSURED__STORE__PATH
    CREDENTIALS_DIRECTORY                systemd's credentials (LoadCredential=)
    NOTIFY_SOCKET, WATCHDOG_USEC         systemd's readiness and watchdog protocol
    DISCLOSURED_CONTROL_TIMEOUT          how long commands wait for the daemon's answer
    RUST_LOG                             log filter (default: info for serve, warn otherwise)

EXIT STATUS:
    0    success
    1    the command ran and said no: a change refused (reports set), a failed check
         (doctor), status when the daemon does not answer
    2    an error: bad options, a configuration that does not validate (check-config),
         a store, key or daemon that cannot be reached

See README.md and docs/ (installed under share/doc/disclosured) for the guides.";

/// The end of `reports set --help`.
pub(crate) const SET_AFTER_HELP: &str = "\
EXAMPLES:
    disclosured reports set VR-2026-0042 --status triaged --severity high --assignee carol
    disclosured reports set VR-2026-0042 --cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H
    disclosured reports set VR-2026-0043 --status rejected --reason duplicate --duplicate-of VR-2026-0042
    disclosured reports set VR-2026-0042 --embargo \"2027-01-15 09:00 Europe/Berlin\"
    disclosured reports set VR-2026-0042 --status disclosed --embargo-exit public
    disclosured reports set VR-2026-0042 --needs-info question.txt

The researcher is told of the states listed in notify.reporter_on (by default accepted,
fixed, disclosed and rejected), by a signed mail encrypted to the key their report proved;
the command says whether they were told. --message FILE explains the change in that mail,
--no-notify keeps it quiet, and a rejection as spam is never told. Embargo steps and
questions (--needs-info) are always told, the same way.";

/// The end of `advisory --help`.
pub(crate) const ADVISORY_AFTER_HELP: &str = "\
EXAMPLES:
    disclosured reports set VR-2026-0042 --ecosystem crates.io --package foo --purl pkg:cargo/foo \\
        --references https://example.org/advisories/42 --fixed-in 1.4.2
    disclosured reports set VR-2026-0042 --affected 'introduced=1.0 fixed=1.4.2'
    disclosured advisory VR-2026-0042 --format osv --out advisories/
    disclosured advisory VR-2026-0042 --format csaf --draft
    disclosured advisory VR-2026-0042 --format cve --full --org-id <your CNA's UUID>

The researcher is credited only as they chose, by a reply signed with the key their report
proved (a line `Credit: Name <handle> <contact>`, or `Credit: none`); by default nobody is
credited. The file name is printed on standard error.";

/// The end of `backup --help` and `restore --help`.
pub(crate) const BACKUP_AFTER_HELP: &str = "\
EXAMPLES:
    disclosured keys export > gateway.asc        keep this off the host
    disclosured backup --to ~/offsite-key.asc /var/backups/disclosured.backup
    gpg --decrypt disclosured.backup | disclosured restore --trust gateway.asc --install-keys gateway -

Keep off the host: the backup, the secret key of the --to key in your own GnuPG, and the
gateway's public key. Nothing else is needed to restore on a new host.";

/// Writes disclosured(1) and one page per subcommand (disclosured-reports(1), …) into
/// `dir`; returns the files written.
pub(crate) fn write_man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let top = Cli::command().version(VERSION);
    write_page(dir, &top, "disclosured", &mut written)?;
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("disclosured-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).version(VERSION);
        write_page(dir, &page, &name, &mut written)?;
    }
    Ok(written)
}

fn write_page(
    dir: &Path,
    cmd: &clap::Command,
    name: &str,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .with_context(|| format!("rendering {name}(1)"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    Ok(())
}

/// The completion script for `shell` on standard output.
pub(crate) fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "disclosured", &mut out);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn help_reads_like_a_manual_and_the_version_names_the_commit() {
        let help = Cli::command()
            .version(VERSION)
            .render_long_help()
            .to_string();
        for section in ["EXAMPLES:", "FILES:", "ENVIRONMENT:", "EXIT STATUS:"] {
            assert!(help.contains(section), "{section} missing from --help");
        }
        assert!(VERSION.contains("commit "), "{VERSION}");
    }

    #[test]
    fn man_pages_cover_every_visible_command() {
        let dir = tempfile::tempdir().unwrap();
        let pages = write_man_pages(dir.path()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "disclosured.1",
            "disclosured-serve.1",
            "disclosured-reports.1",
            "disclosured-backup.1",
            "disclosured-restore.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        let top = std::fs::read_to_string(dir.path().join("disclosured.1")).unwrap();
        assert!(top.contains(".TH disclosured 1"), "{top}");
        assert!(top.contains("EXIT STATUS"), "{top}");
    }

    #[test]
    fn completions_name_the_subcommands() {
        let bash = String::from_utf8(completions(clap_complete::Shell::Bash)).unwrap();
        assert!(
            bash.contains("quarantine") && bash.contains("reports"),
            "{bash}"
        );
    }
}
