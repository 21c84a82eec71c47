//! Secrets: never in the TOML. The configuration names a file, or a systemd
//! credential read from `$CREDENTIALS_DIRECTORY`; they are read when needed, and a file
//! others may read is refused.

use std::path::{Path, PathBuf};

/// Where a password comes from: never the TOML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    /// A systemd credential (`LoadCredential=`), read from `$CREDENTIALS_DIRECTORY`.
    Credential(String),
}

/// A required secret named by `<key>_file` or `<key>_credential` (`key` is for example
/// `inbox.password`).
pub(super) fn secret(
    key: &str,
    file: Option<PathBuf>,
    credential: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    let missing = file.is_none() && credential.is_none();
    let found = optional_secret(key, file, credential, problems);
    if missing {
        problems.push(format!(
            "{key}_file (or {key}_credential): required; secrets are never written in the configuration"
        ));
    }
    found
}

/// A secret that may be absent: `<key>_file`, `<key>_credential`, or neither.
pub(super) fn optional_secret(
    key: &str,
    file: Option<PathBuf>,
    credential: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    match (file, credential) {
        (Some(f), None) => Some(Secret::File(f)),
        (None, Some(c)) if !c.is_empty() && !c.contains('/') => Some(Secret::Credential(c.into())),
        (None, Some(c)) => {
            problems.push(format!("{key}_credential: {c:?} is not a credential name"));
            None
        }
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{key}_file, {key}_credential: set one of them, not both"
            ));
            None
        }
        (None, None) => None,
    }
}

/// A file holding a secret: readable by its owner only, and owned by us.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing secret file {path}: its mode {mode:04o} lets group or others read it; run `chmod 600 {path}`"
    )]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error(
        "refusing secret file {path}: it is owned by uid {owner}, not by the user running disclosured (uid {me}); run disclosured as its owner (`sudo -u '#{owner}' disclosured ...`), or have root give it to uid {me}"
    )]
    WrongOwner { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "credential {0:?} requested but there is no credentials directory: $CREDENTIALS_DIRECTORY is not set (only systemd sets it, with LoadCredential=) and no readable credentials directory was found; give it with --credentials DIR (the installed one is /etc/disclosured/credentials, readable by root)"
    )]
    NoCredentialsDirectory(String),
    #[error("credential {name:?}: {path}: {source}")]
    CredentialFile {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error(
        "credential {0:?} is empty: is the file its LoadCredential= line names missing or empty?"
    )]
    EmptyCredential(String),
}

/// Refuses a secret file that group or others may read, or that someone else owns,
/// as ssh does for private keys.
pub(crate) fn check_private_file(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::LoosePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(SecretError::WrongOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    Ok(())
}

impl Secret {
    /// Reads the secret (without its trailing newline). Credentials systemd passes in
    /// `$CREDENTIALS_DIRECTORY` are protected by systemd; every other file (a
    /// `*_file` setting, a credential from `--credentials DIR` or found beside the
    /// configuration) must be the user's own and private, symlink targets included.
    pub fn read(&self) -> Result<String, SecretError> {
        match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) => self.read_with(Some(dir), false),
            None => self.read_with(
                CLI_CREDENTIALS.get().map(|d| d.clone().into_os_string()),
                true,
            ),
        }
    }

    /// As [`Secret::read`], with the credentials directory passed in, and whether
    /// its files get the checks of a `*_file` setting (not under systemd).
    fn read_with(
        &self,
        credentials: Option<std::ffi::OsString>,
        check_credentials: bool,
    ) -> Result<String, SecretError> {
        let (path, check) = match self {
            Secret::File(p) => (p.clone(), true),
            Secret::Credential(name) => {
                let dir =
                    credentials.ok_or_else(|| SecretError::NoCredentialsDirectory(name.clone()))?;
                (PathBuf::from(dir).join(name), check_credentials)
            }
        };
        let io = |source| match self {
            Secret::Credential(name) => SecretError::CredentialFile {
                name: name.clone(),
                path: path.clone(),
                source,
            },
            Secret::File(_) => SecretError::Io {
                path: path.clone(),
                source,
            },
        };
        if check {
            // The file a symlink points to is what is read, so that is what is
            // checked, and what the `chmod`/`chown` hint names.
            let meta = std::fs::metadata(&path).map_err(io)?;
            let link = std::fs::symlink_metadata(&path).map_err(io)?;
            let shown = if link.file_type().is_symlink() {
                std::fs::canonicalize(&path).map_err(io)?
            } else {
                path.clone()
            };
            check_private_file(&shown, &meta)?;
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        let secret = text.trim_end_matches(['\r', '\n']).to_string();
        if secret.is_empty() {
            return Err(match self {
                // The shipped unit gives every credential an empty default
                // (SetCredential=), so that a missing source file is our error, with
                // this hint, rather than a unit that does not start at all.
                Secret::Credential(name) => SecretError::EmptyCredential(name.clone()),
                Secret::File(_) => SecretError::Empty { path },
            });
        }
        Ok(secret)
    }
}

/// The credentials directory given on the command line (`--credentials`), or found
/// beside the configuration, for a command run from a shell; see
/// [`credentials_directory`].
static CLI_CREDENTIALS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The installed credentials directory (`make install`), the unit's `LoadCredential=`
/// sources.
pub(crate) const INSTALLED_CREDENTIALS: &str = "/etc/disclosured/credentials";

/// Sets where credentials are read from when `$CREDENTIALS_DIRECTORY` is not set (a
/// command run from a shell, not by systemd). The first call wins.
pub(crate) fn set_cli_credentials(dir: PathBuf) {
    let _ = CLI_CREDENTIALS.set(dir);
}

/// Where systemd credentials are read from: `$CREDENTIALS_DIRECTORY` under systemd,
/// else the directory the command line set.
pub(crate) fn credentials_directory() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(PathBuf::from)
        .or_else(|| CLI_CREDENTIALS.get().cloned())
}

/// Where the secret comes from, for messages (never the secret itself).
impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::File(path) => write!(f, "file {}", path.display()),
            Secret::Credential(name) => write!(f, "credential {name:?}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_credential_names_the_credential() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("imap-password"), "").unwrap();
        let secret = Secret::Credential("imap-password".into());
        let err = secret
            .read_with(Some(dir.path().into()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"imap-password\" is empty"), "{err}");
        assert!(err.contains("LoadCredential="), "{err}");
    }

    #[test]
    fn credentials_from_a_shell_get_the_checks_of_secret_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let loose = elsewhere.path().join("pw");
        std::fs::write(&loose, "s3cret").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&loose, dir.path().join("linked")).unwrap();
        std::fs::copy(&loose, dir.path().join("plain")).unwrap();
        std::fs::set_permissions(
            dir.path().join("plain"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        for name in ["linked", "plain"] {
            let secret = Secret::Credential(name.into());
            let err = secret
                .read_with(Some(dir.path().into()), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("chmod 600"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
            // Under systemd the same file is systemd's to protect.
            assert_eq!(
                secret.read_with(Some(dir.path().into()), false).unwrap(),
                "s3cret"
            );
        }
        let err = Secret::Credential("linked".into())
            .read_with(Some(dir.path().into()), true)
            .unwrap_err()
            .to_string();
        let target = std::fs::canonicalize(&loose).unwrap();
        assert!(
            err.contains(&format!("chmod 600 {}", target.display())),
            "{err}"
        );
    }
}
