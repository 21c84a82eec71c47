//! Keys on disk: the gateway's secret keys, reporters' and maintainers' public keys.
//!
//! Every secret key in `keys.dir` decrypts (so mail encrypted to a key that has been
//! replaced still opens). One signs and is the key to publish: the one whose
//! fingerprint is in `keys.dir/signing-key`, written by `keys generate`, `keys rotate`
//! and `keys import`, or the newest when that file is absent. An explicit choice, not
//! creation times, because an imported key may be older than the one it replaces and
//! two keys made within one second have the same creation time.
//!
//! Secret key files readable by group or others, or owned by another user, are refused
//! the way ssh refuses them. A key whose secret key material is passphrase-protected is
//! unlocked at load with `keys.passphrase_*`. Key material and passphrases never reach
//! a log line or an error message.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sequoia_openpgp as openpgp;

use openpgp::cert::amalgamation::key::PrimaryKey;
use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::crypto::Password;
use openpgp::crypto::S2K;
use openpgp::packet::key::{SecretKeyMaterial, SecretParts, UnspecifiedRole};
use openpgp::packet::{Key, Packet};
use openpgp::serialize::SerializeInto;
use openpgp::{Cert, Fingerprint};

use super::POLICY;
use crate::config::{KeySettings, SecretError};

/// File name endings we read as OpenPGP keys.
const KEY_EXTENSIONS: [&str; 5] = ["asc", "pgp", "gpg", "key", "sec"];

/// The file in `keys.dir` naming the signing key by fingerprint.
pub const SIGNING_KEY_FILE: &str = "signing-key";

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
    /// Its secret key material is protected by a passphrase on disk.
    pub protected: bool,
}

/// A newly generated gateway key.
#[derive(Debug, Clone)]
pub struct Generated {
    pub fingerprint: String,
    pub secret_path: PathBuf,
    pub public_path: PathBuf,
}

/// The outcome of `keys rotate`: the new signing key, and the one it replaced.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The signing key before; it keeps decrypting.
    pub previous: Option<String>,
    pub new: Generated,
}

/// The outcome of `keys import`.
#[derive(Debug, Clone)]
pub struct Imported {
    pub fingerprint: String,
    pub secret_path: PathBuf,
    pub public_path: PathBuf,
    /// The secret key material stays passphrase-protected on disk.
    pub protected: bool,
    /// Whether the passphrase was tried (it cannot be when it is a systemd credential
    /// and this command does not run under systemd); the daemon tries it at start.
    pub passphrase_checked: bool,
    pub can_sign: bool,
    /// The signing key after the import.
    pub signing: Option<String>,
    /// None of the key's user IDs has the gateway address.
    pub address_missing: bool,
}

/// Whether loading unlocks passphrase-protected keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unlock {
    Yes,
    /// For commands that only show or export public keys: no passphrase needed.
    No,
}

/// All keys the gateway works with, loaded once at start.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// The chosen signing key first, then newest first.
    gateway: Vec<GatewayKey>,
    /// Every secret (sub)key that may decrypt, from every gateway key.
    decryption: Vec<Key<SecretParts, UnspecifiedRole>>,
    reporters: Vec<Cert>,
    maintainers: Vec<Cert>,
}

impl Keyring {
    /// Loads all key directories and unlocks protected gateway keys. Missing
    /// directories are empty; a secret key file with loose permissions, that does not
    /// parse or that cannot be unlocked is an error (the operator must know), a bad
    /// public key file is skipped with a warning.
    pub fn load(settings: &KeySettings) -> Result<Keyring, KeyError> {
        Self::load_with(settings, Unlock::Yes)
    }

    /// As [`Keyring::load`] without unlocking anything: for showing and exporting
    /// public keys, where a passphrase (perhaps a systemd credential this process
    /// cannot see) is not needed. Protected keys neither sign nor decrypt.
    pub fn load_locked(settings: &KeySettings) -> Result<Keyring, KeyError> {
        Self::load_with(settings, Unlock::No)
    }

    fn load_with(settings: &KeySettings, unlock: Unlock) -> Result<Keyring, KeyError> {
        // Read when configured even if no key needs it, so that an unreadable or
        // unsafe passphrase file is reported at start, like a password file.
        let passphrase = match (unlock, &settings.passphrase) {
            (Unlock::Yes, Some(source)) => Some((Password::from(source.read()?), source)),
            _ => None,
        };
        let mut gateway: Vec<GatewayKey> = Vec::new();
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
                if gateway
                    .iter()
                    .any(|g| g.cert.fingerprint() == cert.fingerprint())
                {
                    continue;
                }
                let protected = is_protected(&cert);
                let cert = match (unlock, protected) {
                    (Unlock::Yes, true) => {
                        let Some((password, source)) = &passphrase else {
                            return Err(KeyError::NeedsPassphrase { path });
                        };
                        unlock_cert(cert, password).map_err(|()| KeyError::WrongPassphrase {
                            path: path.clone(),
                            from: source.to_string(),
                        })?
                    }
                    _ => cert,
                };
                gateway.push(GatewayKey {
                    cert,
                    path: path.clone(),
                    protected,
                });
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
        if let Some(chosen) = read_signing_choice(&settings.dir)? {
            let Some(at) = gateway.iter().position(|g| g.cert.fingerprint() == chosen) else {
                return Err(KeyError::SigningKeyMissing {
                    marker: settings.dir.join(SIGNING_KEY_FILE),
                    fingerprint: chosen.to_hex(),
                    dir: settings.dir.clone(),
                });
            };
            let g = gateway.remove(at);
            if signing_key_of(&g.cert, false).is_none() {
                tracing::warn!(
                    fingerprint = %g.cert.fingerprint(),
                    "the chosen signing key cannot sign (expired or revoked?); the newest key that can signs instead: run `disclosured keys rotate`"
                );
            }
            gateway.insert(0, g);
        }
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
    /// it, and makes it the signing key.
    pub fn generate(dir: &Path, name: &str, address: &str) -> Result<Generated, KeyError> {
        prepare_dir(dir)?;
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
        let (secret_path, public_path) = write_cert(dir, &cert)?;
        write_signing_choice(dir, &cert.fingerprint())?;
        Ok(Generated {
            fingerprint: cert.fingerprint().to_hex(),
            secret_path,
            public_path,
        })
    }

    /// `keys rotate`: a new key becomes the signing and published key; every older key
    /// stays in `keys.dir` and keeps decrypting mail sent to it.
    pub fn rotate(settings: &KeySettings, name: &str, address: &str) -> Result<Rotated, KeyError> {
        let before = Keyring::load_locked(settings)?;
        let previous = before.signing_cert().map(|c| c.fingerprint().to_hex());
        let new = Keyring::generate(&settings.dir, name, address)?;
        Ok(Rotated { previous, new })
    }

    /// `keys import`: adds a secret gateway key read from `source` (armored or
    /// binary). It must hold exactly one key with secret key material that can
    /// decrypt; a protected key must open with the configured passphrase. It becomes
    /// the signing key when `make_signing` is set or there is no signing key yet;
    /// otherwise the current signing key is pinned, so that an imported key with a
    /// newer creation time does not take over signing by surprise.
    pub fn import(
        settings: &KeySettings,
        source: &Path,
        bytes: &[u8],
        address: &str,
        make_signing: bool,
    ) -> Result<Imported, KeyError> {
        let unparsable = |reason: &str| KeyError::Unparsable {
            path: source.to_path_buf(),
            reason: reason.into(),
        };
        let (certs, _bad) = super::parse_certs(bytes);
        if certs.is_empty() {
            return Err(unparsable("no OpenPGP key in it"));
        }
        let mut secret: Vec<Cert> = certs.into_iter().filter(Cert::is_tsk).collect();
        let cert = match secret.len() {
            0 => {
                return Err(KeyError::PublicOnly {
                    path: source.to_path_buf(),
                });
            }
            1 => secret.remove(0),
            count => {
                return Err(KeyError::Several {
                    path: source.to_path_buf(),
                    count,
                });
            }
        };
        let fingerprint = cert.fingerprint().to_hex();
        let protected = is_protected(&cert);
        let mut passphrase_checked = false;
        let usable = if protected {
            let Some(from) = &settings.passphrase else {
                return Err(KeyError::NeedsPassphrase {
                    path: source.to_path_buf(),
                });
            };
            match from.read() {
                Ok(password) => {
                    passphrase_checked = true;
                    unlock_cert(cert.clone(), &Password::from(password)).map_err(|()| {
                        KeyError::WrongPassphrase {
                            path: source.to_path_buf(),
                            from: from.to_string(),
                        }
                    })?
                }
                // A credential exists only for the service: the daemon checks it.
                Err(SecretError::NoCredentialsDirectory(_)) => cert.clone(),
                Err(e) => return Err(e.into()),
            }
        } else {
            cert.clone()
        };
        if !can_decrypt(&usable) {
            return Err(KeyError::CannotDecrypt {
                path: source.to_path_buf(),
                fingerprint,
            });
        }
        let can_sign = signing_key_of(&usable, false).is_some();
        if make_signing && !can_sign {
            return Err(KeyError::CannotSign {
                path: source.to_path_buf(),
                fingerprint,
            });
        }
        let before = Keyring::load_locked(settings)?;
        if let Some(g) = before
            .gateway
            .iter()
            .find(|g| g.cert.fingerprint() == cert.fingerprint())
        {
            return Err(KeyError::AlreadyPresent {
                fingerprint,
                path: g.path.clone(),
            });
        }
        let previous = before.signing_cert().map(Cert::fingerprint);
        prepare_dir(&settings.dir)?;
        // Stored as it came: a protected key stays protected on disk.
        let (secret_path, public_path) = write_cert(&settings.dir, &cert)?;
        let signing = match previous {
            Some(_) if make_signing => Some(cert.fingerprint()),
            None if can_sign => Some(cert.fingerprint()),
            other => other,
        };
        if let Some(fpr) = &signing {
            write_signing_choice(&settings.dir, fpr)?;
        }
        Ok(Imported {
            fingerprint,
            secret_path,
            public_path,
            protected,
            passphrase_checked,
            can_sign,
            signing: signing.map(|f| f.to_hex()),
            address_missing: !super::cert_has_address(&cert, address),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.gateway.is_empty()
    }

    pub fn gateway_keys(&self) -> &[GatewayKey] {
        &self.gateway
    }

    /// The key that signs outgoing mail and is published: the chosen one if it can
    /// sign, else the newest that can. In a [`Keyring::load_locked`] ring a protected
    /// key counts, so that `keys show` and `keys export` agree with the daemon.
    pub fn signing_cert(&self) -> Option<&Cert> {
        self.gateway
            .iter()
            .map(|g| &g.cert)
            .find(|c| signing_key_of(c, false).is_some())
    }

    /// The secret key that signs outgoing mail (unlocked).
    pub(crate) fn signing_key(&self) -> Option<Key<SecretParts, UnspecifiedRole>> {
        self.signing_cert().and_then(|c| signing_key_of(c, true))
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

/// Whether this secret key material is real (not a GnuPG stub for a key kept
/// elsewhere, such as an offline primary key or a smartcard, which uses a private
/// S2K type and can never be unlocked here).
fn has_material(key: &Key<SecretParts, UnspecifiedRole>) -> bool {
    match key.secret() {
        SecretKeyMaterial::Unencrypted(_) => true,
        SecretKeyMaterial::Encrypted(e) => {
            !matches!(e.s2k(), S2K::Private { .. } | S2K::Unknown { .. })
        }
    }
}

/// Real secret key material that is encrypted with a passphrase.
fn is_locked(key: &Key<SecretParts, UnspecifiedRole>) -> bool {
    key.secret().is_encrypted() && has_material(key)
}

fn is_protected(cert: &Cert) -> bool {
    cert.keys().secret().any(|ka| is_locked(ka.key()))
}

/// Decrypts every protected secret key of `cert` with `password`; `Err` when one of
/// them does not open (sequoia's error says nothing more useful than "wrong").
fn unlock_cert(cert: Cert, password: &Password) -> Result<Cert, ()> {
    let mut unlocked: Vec<Packet> = Vec::new();
    for ka in cert.keys().secret() {
        if !is_locked(ka.key()) {
            continue;
        }
        let key = ka.key().clone().decrypt_secret(password).map_err(|_| ())?;
        unlocked.push(if ka.primary() {
            key.role_into_primary().into()
        } else {
            key.role_into_subordinate().into()
        });
    }
    // The packets inserted win over the (encrypted) ones already there.
    cert.insert_packets(unlocked)
        .map(|(c, _)| c)
        .map_err(|_| ())
}

/// Whether `cert` has a usable encryption key with secret key material (expired keys
/// count: they still decrypt mail sent before they expired).
fn can_decrypt(cert: &Cert) -> bool {
    cert.keys()
        .with_policy(&POLICY, None)
        .supported()
        .revoked(false)
        .for_transport_encryption()
        .for_storage_encryption()
        .secret()
        .any(|ka| has_material(ka.key()))
}

/// A cert's valid, usable signing key with secret key material, through the one
/// policy; with `unlocked`, only one whose secret is usable now.
fn signing_key_of(cert: &Cert, unlocked: bool) -> Option<Key<SecretParts, UnspecifiedRole>> {
    cert.keys()
        .secret()
        .with_policy(&POLICY, None)
        .supported()
        .alive()
        .revoked(false)
        .for_signing()
        .map(|ka| ka.key().clone().role_into_unspecified())
        .find(|k| has_material(k) && (!unlocked || k.has_unencrypted_secret()))
}

/// The fingerprint in `dir/signing-key`, if the file exists.
fn read_signing_choice(dir: &Path) -> Result<Option<Fingerprint>, KeyError> {
    let path = dir.join(SIGNING_KEY_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    match Fingerprint::from_hex(text.trim()) {
        Ok(f @ (Fingerprint::V4(_) | Fingerprint::V6(_))) => Ok(Some(f)),
        _ => Err(KeyError::BadSigningKeyFile { path }),
    }
}

/// Replaces `dir/signing-key` atomically: a crash leaves the old choice or the new.
fn write_signing_choice(dir: &Path, fpr: &Fingerprint) -> Result<(), KeyError> {
    let path = dir.join(SIGNING_KEY_FILE);
    let tmp = dir.join(format!(".{SIGNING_KEY_FILE}.tmp"));
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, format!("{}\n", fpr.to_hex()).as_bytes(), 0o644)?;
    fs::rename(&tmp, &path).map_err(io(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Writes `cert`'s secret key (mode 0600) and public key into `dir`.
fn write_cert(dir: &Path, cert: &Cert) -> Result<(PathBuf, PathBuf), KeyError> {
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
    Ok((secret_path, public_path))
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

/// Creates `dir` (mode 0700) when missing, and refuses one that belongs to another
/// user: files written there would belong to us, and the daemon refuses secret key
/// files it does not own (`sudo disclosured keys import` as root is the usual slip).
fn prepare_dir(dir: &Path) -> Result<(), KeyError> {
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let owner = fs::metadata(dir).map_err(io(dir))?.uid();
    let me = rustix::process::geteuid().as_raw();
    if owner != me {
        return Err(KeyError::ForeignDirectory {
            dir: dir.to_path_buf(),
            owner,
            me,
        });
    }
    Ok(())
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
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn settings(dir: &Path) -> KeySettings {
        KeySettings::in_dir(dir)
    }

    /// A secret key file for `dir`, protected by `password` when given, with an
    /// explicit creation time (older than "now" by `age_secs`).
    fn made_elsewhere(password: Option<&str>, age_secs: u64) -> (Cert, Vec<u8>) {
        let created = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid("Old Team <security@example.org>")
            .add_signing_subkey()
            .add_transport_encryption_subkey()
            .set_creation_time(created)
            .set_password(password.map(Password::from))
            .generate()
            .unwrap();
        let bytes = cert.as_tsk().armored().to_vec().unwrap();
        (cert, bytes)
    }

    fn private_file(path: &Path, text: &str) {
        write_new(path, text.as_bytes(), 0o600).unwrap();
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
        // Without the signing-key file (keys from before it existed) the newest signs.
        fs::remove_file(tmp.path().join(SIGNING_KEY_FILE)).unwrap();
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
    fn rotate_switches_the_signing_key_even_within_one_second() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path());
        let first = Keyring::generate(&s.dir, "T", "s@example.org").unwrap();
        // No pause: both keys may have the same creation time; the choice is explicit.
        let r = Keyring::rotate(&s, "T", "s@example.org").unwrap();
        assert_eq!(r.previous.as_deref(), Some(first.fingerprint.as_str()));
        let ring = Keyring::load(&s).unwrap();
        let signer = ring.signing_cert().unwrap().fingerprint().to_hex();
        assert_eq!(signer, r.new.fingerprint);
        assert_eq!(ring.gateway_keys()[0].cert.fingerprint().to_hex(), signer);
        // The old key still decrypts.
        assert_eq!(ring.decryption_keys().len(), 8);
        assert!(
            ring.gateway_keys()
                .iter()
                .any(|g| g.cert.fingerprint().to_hex() == first.fingerprint)
        );
        // And again: the third replaces the second.
        let r2 = Keyring::rotate(&s, "T", "s@example.org").unwrap();
        assert_eq!(r2.previous.as_deref(), Some(r.new.fingerprint.as_str()));
        let ring = Keyring::load(&s).unwrap();
        assert_eq!(
            ring.signing_cert().unwrap().fingerprint().to_hex(),
            r2.new.fingerprint
        );
    }

    #[test]
    fn the_chosen_key_signs_even_when_older_and_a_missing_one_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path());
        Keyring::generate(&s.dir, "T", "security@example.org").unwrap();
        let (old, bytes) = made_elsewhere(None, 86400);
        let i = Keyring::import(
            &s,
            Path::new("old.asc"),
            &bytes,
            "security@example.org",
            true,
        )
        .unwrap();
        assert_eq!(
            i.signing.as_deref(),
            Some(old.fingerprint().to_hex().as_str())
        );
        let ring = Keyring::load(&s).unwrap();
        assert_eq!(
            ring.signing_cert().unwrap().fingerprint(),
            old.fingerprint()
        );

        fs::remove_file(&i.secret_path).unwrap();
        let err = Keyring::load(&s).unwrap_err();
        assert!(matches!(err, KeyError::SigningKeyMissing { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(SIGNING_KEY_FILE) && msg.contains(&old.fingerprint().to_hex()),
            "{msg}"
        );
    }

    #[test]
    fn import_without_sign_keeps_the_current_signing_key() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path());
        let current = Keyring::generate(&s.dir, "T", "security@example.org").unwrap();
        // Newer than the current key: creation time alone would make it sign.
        let (newer, bytes) = made_elsewhere(None, 0);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let i = Keyring::import(
            &s,
            Path::new("k.asc"),
            &bytes,
            "security@example.org",
            false,
        )
        .unwrap();
        assert_eq!(i.signing.as_deref(), Some(current.fingerprint.as_str()));
        assert!(i.can_sign && !i.protected && !i.address_missing);
        let mode = fs::metadata(&i.secret_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let ring = Keyring::load(&s).unwrap();
        assert_eq!(
            ring.signing_cert().unwrap().fingerprint().to_hex(),
            current.fingerprint
        );
        assert!(ring.gateway_cert_of(&newer.fingerprint().into()).is_some());
        // Twice is an error naming the file already there.
        let err = Keyring::import(
            &s,
            Path::new("k.asc"),
            &bytes,
            "security@example.org",
            false,
        )
        .unwrap_err();
        assert!(matches!(err, KeyError::AlreadyPresent { .. }), "{err}");
    }

    #[test]
    fn import_refuses_public_keys_garbage_and_several_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path());
        let (cert, secret) = made_elsewhere(None, 0);
        let public = cert.armored().to_vec().unwrap();
        let err = Keyring::import(&s, Path::new("pub.asc"), &public, "a@b.c", false).unwrap_err();
        assert!(matches!(err, KeyError::PublicOnly { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("pub.asc") && msg.contains("only a public key"),
            "{msg}"
        );
        let err = Keyring::import(&s, Path::new("x.asc"), b"hello", "a@b.c", false).unwrap_err();
        assert!(matches!(err, KeyError::Unparsable { .. }), "{err}");
        let (_, other) = made_elsewhere(None, 0);
        let both = [secret, other].concat();
        let err = Keyring::import(&s, Path::new("two.asc"), &both, "a@b.c", false).unwrap_err();
        assert!(matches!(err, KeyError::Several { count: 2, .. }), "{err}");
        // Nothing was written.
        assert!(key_files(&s.dir).unwrap().is_empty());
    }

    #[test]
    fn import_refuses_a_key_that_cannot_decrypt() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path());
        let (cert, _) = CertBuilder::new()
            .add_userid("s@example.org")
            .add_signing_subkey()
            .generate()
            .unwrap();
        let bytes = cert.as_tsk().to_vec().unwrap();
        let err = Keyring::import(
            &s,
            Path::new("sign-only.pgp"),
            &bytes,
            "s@example.org",
            false,
        )
        .unwrap_err();
        assert!(matches!(err, KeyError::CannotDecrypt { .. }), "{err}");
    }

    #[test]
    fn protected_key_needs_the_right_passphrase() {
        let tmp = tempfile::tempdir().unwrap();
        let keys = tmp.path().join("keys");
        fs::create_dir(&keys).unwrap();
        let passphrase = "correct horse PassphraseCanary";
        let (cert, bytes) = made_elsewhere(Some(passphrase), 0);
        let key_path = keys.join("imported.sec.asc");
        write_new(&key_path, &bytes, 0o600).unwrap();
        let mut s = settings(&keys);

        // None configured: the error names the key file and the settings.
        let err = Keyring::load(&s).unwrap_err();
        assert!(matches!(err, KeyError::NeedsPassphrase { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(key_path.to_str().unwrap()), "{msg}");
        assert!(msg.contains("keys.passphrase_file"), "{msg}");

        // Without unlocking (keys show, keys export) it loads, and would sign.
        let locked = Keyring::load_locked(&s).unwrap();
        assert!(locked.gateway_keys()[0].protected);
        assert_eq!(
            locked.signing_cert().unwrap().fingerprint(),
            cert.fingerprint()
        );
        assert!(locked.signing_key().is_none());
        assert!(locked.decryption_keys().is_empty());

        // A wrong one: named by where it came from, never by its value.
        let wrong = tmp.path().join("wrong");
        private_file(&wrong, "WrongPassphraseCanary\n");
        s.passphrase = Some(Secret::File(wrong.clone()));
        let msg = Keyring::load(&s).unwrap_err().to_string();
        assert!(msg.contains(key_path.to_str().unwrap()), "{msg}");
        assert!(msg.contains(wrong.to_str().unwrap()), "{msg}");
        assert!(msg.contains("does not unlock"), "{msg}");
        assert!(!msg.contains("WrongPassphraseCanary"), "{msg}");

        // The right one, with a trailing newline as editors leave it.
        let right = tmp.path().join("right");
        private_file(&right, &format!("{passphrase}\n"));
        s.passphrase = Some(Secret::File(right.clone()));
        let ring = Keyring::load(&s).unwrap();
        assert!(ring.signing_key().unwrap().has_unencrypted_secret());
        assert_eq!(ring.decryption_keys().len(), 3);
        assert!(
            ring.decryption_keys()
                .iter()
                .all(|k| k.has_unencrypted_secret())
        );
        // The file on disk stays protected.
        let (on_disk, _) = super::super::parse_certs(&fs::read(&key_path).unwrap());
        assert!(is_protected(&on_disk[0]));

        // A passphrase file others can read is refused, with the fix.
        fs::set_permissions(&right, fs::Permissions::from_mode(0o644)).unwrap();
        let msg = Keyring::load(&s).unwrap_err().to_string();
        assert!(
            msg.contains(right.to_str().unwrap()) && msg.contains("chmod 600"),
            "{msg}"
        );
    }

    #[test]
    fn import_checks_a_protected_key_against_the_configured_passphrase() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = settings(&tmp.path().join("keys"));
        let (_, bytes) = made_elsewhere(Some("pw-one"), 0);
        let err = Keyring::import(
            &s,
            Path::new("p.asc"),
            &bytes,
            "security@example.org",
            false,
        )
        .unwrap_err();
        assert!(matches!(err, KeyError::NeedsPassphrase { .. }), "{err}");
        let wrong = tmp.path().join("wrong");
        private_file(&wrong, "pw-two");
        s.passphrase = Some(Secret::File(wrong));
        let err = Keyring::import(
            &s,
            Path::new("p.asc"),
            &bytes,
            "security@example.org",
            false,
        )
        .unwrap_err();
        assert!(matches!(err, KeyError::WrongPassphrase { .. }), "{err}");
        let right = tmp.path().join("right");
        private_file(&right, "pw-one");
        s.passphrase = Some(Secret::File(right));
        let i = Keyring::import(
            &s,
            Path::new("p.asc"),
            &bytes,
            "security@example.org",
            false,
        )
        .unwrap();
        assert!(i.protected && i.passphrase_checked);
        // The first key signs.
        assert_eq!(i.signing.as_deref(), Some(i.fingerprint.as_str()));
        assert!(Keyring::load(&s).unwrap().signing_key().is_some());
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
