//! The errors of the gateway's key files, apart from the code that reads and writes
//! them (`keys`, `key_files`), which both use them.

use std::path::{Path, PathBuf};

use crate::config::SecretError;

/// The file in `keys.dir` naming the signing key by fingerprint.
pub(crate) const SIGNING_KEY_FILE: &str = "signing-key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{path}: not a usable OpenPGP key file ({reason})")]
    Unparsable { path: PathBuf, reason: String },
    #[error(
        "{path}: the secret key is protected by a passphrase, and none is configured: set keys.passphrase_file or keys.passphrase_credential"
    )]
    NeedsPassphrase { path: PathBuf },
    #[error("{path}: the passphrase from {from} does not unlock the secret key")]
    WrongPassphrase { path: PathBuf, from: String },
    #[error(
        "{path}: holds only a public key; a gateway key needs its secret key (for example `gpg --export-secret-keys --armor KEYID`)"
    )]
    PublicOnly { path: PathBuf },
    #[error("{path}: holds {count} secret keys; import them one at a time")]
    Several { path: PathBuf, count: usize },
    #[error(
        "{path}: key {fingerprint} cannot decrypt (no valid encryption key with its secret key material)"
    )]
    CannotDecrypt { path: PathBuf, fingerprint: String },
    #[error("{path}: key {fingerprint} cannot sign, so it cannot be the signing key")]
    CannotSign { path: PathBuf, fingerprint: String },
    #[error("gateway key {fingerprint} is already there: {path}")]
    AlreadyPresent { fingerprint: String, path: PathBuf },
    #[error(
        "{marker}: names the signing key {fingerprint}, which is not in {dir}; put its key file back, or delete {marker} to sign with the newest key"
    )]
    SigningKeyMissing {
        marker: PathBuf,
        fingerprint: String,
        dir: PathBuf,
    },
    #[error("{path}: not a key fingerprint")]
    BadSigningKeyFile { path: PathBuf },
    #[error(
        "{dir} belongs to uid {owner}, not to the user running this command (uid {me}); run it as that user (for example `sudo -u disclosured disclosured ...`) so the daemon can read what it writes"
    )]
    ForeignDirectory { dir: PathBuf, owner: u32, me: u32 },
    #[error("cannot generate a key: {0}")]
    Generate(String),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}
