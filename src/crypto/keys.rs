//! Keys on disk: the gateway's secret keys, reporters' and maintainers' public keys.
//!
//! Every secret key in `keys.dir` decrypts (so mail encrypted to a key that has been
//! replaced still opens); the newest one signs and is the key to publish. Secret key
//! files readable by group or others, or owned by another user, are refused the way
//! ssh refuses them. Key material never reaches a log line or an error message.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sequoia_openpgp as openpgp;

use openpgp::Cert;
use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::packet::Key;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::serialize::SerializeInto;

use super::POLICY;
use crate::config::KeySettings;

/// File name endings we read as OpenPGP keys.
const KEY_EXTENSIONS: [&str; 5] = ["asc", "pgp", "gpg", "key", "sec"];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] crate::config::SecretError),
    #[error("{path}: not a usable OpenPGP key file ({reason})")]
    Unparsable { path: PathBuf, reason: String },
    #[error(
        "{path}: the secret key is protected by a passphrase, which this version cannot unlock; export it without a passphrase or keep it elsewhere"
    )]
    Locked { path: PathBuf },
    #[error("cannot generate a key: {0}")]
    Generate(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A gateway key and the file it came from.
#[derive(Debug, Clone)]
pub struct GatewayKey {
    pub cert: Cert,
    pub path: PathBuf,
}

/// A newly generated gateway key.
#[derive(Debug, Clone)]
pub struct Generated {
    pub fingerprint: String,
    pub secret_path: PathBuf,
    pub public_path: PathBuf,
}

/// All keys the gateway works with, loaded once at start.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// Newest first: the first one that can sign is the signing key.
    gateway: Vec<GatewayKey>,
    /// Every secret (sub)key that may decrypt, from every gateway key.
    decryption: Vec<Key<SecretParts, UnspecifiedRole>>,
    reporters: Vec<Cert>,
    maintainers: Vec<Cert>,
}

impl Keyring {
    /// Loads all key directories. Missing directories are empty; a secret key file
    /// with loose permissions or that does not parse is an error (the operator must
    /// know), a bad public key file is skipped with a warning.
    pub fn load(settings: &KeySettings) -> Result<Keyring, KeyError> {
        let mut gateway = Vec::new();
        for path in key_files(&settings.dir)? {
            let bytes = fs::read(&path).map_err(io(&path))?;
            let (certs, bad) = super::parse_certs(&bytes);
            if certs.iter().any(Cert::is_tsk) {
                // Like ssh: a secret key others can read may already be compromised,
                // so refuse it rather than use it.
                let meta = fs::metadata(&path).map_err(io(&path))?;
                crate::config::check_private_file(&path, &meta)?;
            }
            if certs.is_empty() && bad > 0 {
                return Err(KeyError::Unparsable {
                    path,
                    reason: "no OpenPGP certificate in it".into(),
                });
            }
            for cert in certs {
                if !cert.is_tsk() {
                    // The exported public half lives beside the secret key.
                    continue;
                }
                if cert
                    .keys()
                    .secret()
                    .all(|ka| ka.key().has_unencrypted_secret())
                {
                    gateway.push(GatewayKey {
                        cert,
                        path: path.clone(),
                    });
                } else {
                    return Err(KeyError::Locked { path });
                }
            }
        }
        // Newest primary key first; the fingerprint breaks ties so the order is stable.
        gateway.sort_by(|a, b| {
            b.cert
                .primary_key()
                .key()
                .creation_time()
                .cmp(&a.cert.primary_key().key().creation_time())
                .then_with(|| a.cert.fingerprint().cmp(&b.cert.fingerprint()))
        });
        let decryption = gateway
            .iter()
            .flat_map(|g| {
                g.cert
                    .keys()
                    .unencrypted_secret()
                    .map(|ka| ka.key().clone().role_into_unspecified())
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(Keyring {
            gateway,
            decryption,
            reporters: load_public_dir(&settings.reporters_dir)?,
            maintainers: load_public_dir(&settings.maintainers_dir)?,
        })
    }

    /// Generates a gateway key (Ed25519 signing, Cv25519 encryption) for
    /// `name <address>`, writes the secret key with mode 0600 and the public key beside
    /// it, and returns where they are.
    pub fn generate(dir: &Path, name: &str, address: &str) -> Result<Generated, KeyError> {
        create_private_dir(dir)?;
        let userid = format!("{name} <{address}>");
        let (cert, _revocation) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid(userid)
            .add_signing_subkey()
            .add_transport_encryption_subkey()
            .add_storage_encryption_subkey()
            .set_validity_period(None)
            .generate()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let fpr = cert.fingerprint().to_hex();
        let secret = cert
            .as_tsk()
            .armored()
            .to_vec()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let public = cert
            .armored()
            .to_vec()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let secret_path = dir.join(format!("gateway-{fpr}.sec.asc"));
        let public_path = dir.join(format!("gateway-{fpr}.pub.asc"));
        write_new(&secret_path, &secret, 0o600)?;
        write_new(&public_path, &public, 0o644)?;
        Ok(Generated {
            fingerprint: fpr,
            secret_path,
            public_path,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.gateway.is_empty()
    }

    pub fn gateway_keys(&self) -> &[GatewayKey] {
        &self.gateway
    }

    /// The key that signs outgoing mail and is published: the newest one that has a
    /// valid signing-capable secret key.
    pub fn signing_cert(&self) -> Option<&Cert> {
        self.gateway
            .iter()
            .map(|g| &g.cert)
            .find(|c| signing_key(c).is_some())
    }

    /// The secret key that signs outgoing mail.
    pub(crate) fn signing_key(&self) -> Option<Key<SecretParts, UnspecifiedRole>> {
        self.signing_cert().and_then(signing_key)
    }

    /// The signing key's public half, armored, for attaching to notices.
    pub fn public_key_armored(&self) -> Option<Vec<u8>> {
        self.signing_cert()?.armored().to_vec().ok()
    }

    pub(crate) fn decryption_keys(&self) -> &[Key<SecretParts, UnspecifiedRole>] {
        &self.decryption
    }

    /// The gateway certificate a decryption key belongs to.
    pub(crate) fn gateway_cert_of(&self, key: &openpgp::KeyHandle) -> Option<&Cert> {
        self.gateway
            .iter()
            .map(|g| &g.cert)
            .find(|c| c.keys().key_handle(key.clone()).next().is_some())
    }

    /// Pre-loaded reporters' keys.
    pub fn reporters(&self) -> &[Cert] {
        &self.reporters
    }

    /// Pre-loaded reporter key with a user ID for `address`.
    pub fn reporter_for(&self, address: &str) -> Option<&Cert> {
        self.reporters
            .iter()
            .find(|c| super::cert_has_address(c, address))
    }

    pub fn maintainers(&self) -> &[Cert] {
        &self.maintainers
    }
}

/// A cert's valid, usable signing key with its secret, through the one policy.
fn signing_key(cert: &Cert) -> Option<Key<SecretParts, UnspecifiedRole>> {
    cert.keys()
        .unencrypted_secret()
        .with_policy(&POLICY, None)
        .supported()
        .alive()
        .revoked(false)
        .for_signing()
        .next()
        .map(|ka| ka.key().clone().role_into_unspecified())
}

fn key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let is_file = entry.file_type().map_err(io(&path))?.is_file();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| KEY_EXTENSIONS.contains(&e));
        if is_file && wanted {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn load_public_dir(dir: &Path) -> Result<Vec<Cert>, KeyError> {
    let mut certs = Vec::new();
    for path in key_files(dir)? {
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read public key file; skipped");
                continue;
            }
        };
        let (found, bad) = super::parse_certs(&bytes);
        if bad > 0 {
            tracing::warn!(path = %path.display(), skipped = bad, "part of a public key file does not parse; skipped");
        }
        // A public directory must not hold secrets: keep only the public half in memory.
        certs.extend(found.into_iter().map(|c| c.strip_secret_key_material()));
    }
    Ok(certs)
}

fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    // The umask may have removed bits, never added them; set the mode exactly anyway.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> KeySettings {
        KeySettings {
            dir: dir.to_path_buf(),
            reporters_dir: dir.join("reporters"),
            maintainers_dir: dir.join("maintainers"),
        }
    }

    #[test]
    fn generate_then_load_and_refuse_loose_permissions() {
        let tmp = tempfile::tempdir().unwrap();
        let keys = tmp.path().join("keys");
        let g = Keyring::generate(&keys, "Sec Team", "security@example.org").unwrap();
        let mode = fs::metadata(&g.secret_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let ring = Keyring::load(&settings(&keys)).unwrap();
        assert_eq!(ring.gateway_keys().len(), 1);
        let signer = ring.signing_cert().unwrap();
        assert_eq!(signer.fingerprint().to_hex(), g.fingerprint);
        assert!(super::super::cert_has_address(
            signer,
            "security@example.org"
        ));
        assert!(!ring.decryption_keys().is_empty());

        fs::set_permissions(&g.secret_path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = Keyring::load(&settings(&keys)).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                KeyError::Secret(crate::config::SecretError::LoosePermissions { .. })
            ),
            "{msg}"
        );
        assert!(msg.contains("chmod 600"), "{msg}");
        // Nothing of the key itself appears in the message.
        assert!(!msg.contains("BEGIN PGP"), "{msg}");
    }

    #[test]
    fn newest_key_signs_and_all_decrypt() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Keyring::generate(tmp.path(), "T", "s@example.org").unwrap();
        // Creation times have one-second resolution.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = Keyring::generate(tmp.path(), "T", "s@example.org").unwrap();
        let ring = Keyring::load(&settings(tmp.path())).unwrap();
        assert_eq!(ring.gateway_keys().len(), 2);
        assert_eq!(
            ring.signing_cert().unwrap().fingerprint().to_hex(),
            second.fingerprint
        );
        assert_ne!(first.fingerprint, second.fingerprint);
        // Primary, signing and two encryption keys each.
        assert_eq!(ring.decryption_keys().len(), 8);
    }

    #[test]
    fn garbage_secret_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("broken.asc");
        write_new(&path, b"not a key", 0o600).unwrap();
        let err = Keyring::load(&settings(tmp.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("broken.asc"), "{err}");
    }
}
