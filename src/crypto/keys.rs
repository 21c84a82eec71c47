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
use std::path::{Path, PathBuf};

use sequoia_openpgp as openpgp;

use openpgp::Cert;
use openpgp::cert::amalgamation::key::PrimaryKey;
use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::crypto::Password;
use openpgp::crypto::S2K;
use openpgp::packet::key::{SecretKeyMaterial, SecretParts, UnspecifiedRole};
use openpgp::packet::{Key, Packet};
use openpgp::serialize::SerializeInto;

use super::POLICY;
use super::key_files::{
    key_files, load_public_dir, prepare_dir, read_signing_choice, write_cert, write_signing_choice,
};
use crate::config::{KeySettings, SecretError};

pub(crate) use super::key_error::KeyError;
pub(crate) use super::key_error::SIGNING_KEY_FILE;
pub(super) use super::key_error::io;

/// What [`Keyring::open_session`] found for one PKESK.
#[derive(Debug, Default)]
pub(crate) struct SessionAttempt {
    /// The PKESK named one of our keys (then a failure is corruption, not "not ours").
    pub(crate) addressed_to_us: bool,
    /// The key whose session key was accepted.
    pub(crate) opened_by: Option<openpgp::KeyHandle>,
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
    /// The old key that certified the new one, if it could.
    pub certified_by: Option<String>,
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
        let mut gateway = read_gateway_keys(&settings.dir, unlock, passphrase.as_ref())?;
        order_gateway_keys(&mut gateway, &settings.dir)?;
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
        Self::generate_certified(dir, name, address, None)
    }

    /// As [`Keyring::generate`]; when `certifier` (a certificate with unlocked
    /// secret primary key material) is given, it certifies the new key's user ID
    /// before the key is written.
    fn generate_certified(
        dir: &Path,
        name: &str,
        address: &str,
        certifier: Option<&Cert>,
    ) -> Result<Generated, KeyError> {
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
        let cert = match certifier {
            Some(old) => certify_userids(old, cert)?,
            None => cert,
        };
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
    ///
    /// The old signing key certifies the new key's user ID (a generic certification
    /// by its primary key), so that a researcher's client that trusts the old key
    /// accepts the new one; when its secret key material cannot be opened here (a
    /// passphrase this process cannot read), the new key is made uncertified and
    /// [`Rotated::certified_by`] says so.
    pub fn rotate(settings: &KeySettings, name: &str, address: &str) -> Result<Rotated, KeyError> {
        let before = Keyring::load_locked(settings)?;
        let previous = before.signing_cert().map(|c| c.fingerprint().to_hex());
        let unlocked = Keyring::load(settings).ok();
        let certifier = unlocked
            .as_ref()
            .and_then(|k| k.signing_cert())
            .filter(|c| c.primary_key().key().has_unencrypted_secret());
        let new = Keyring::generate_certified(&settings.dir, name, address, certifier)?;
        Ok(Rotated {
            previous,
            certified_by: certifier.map(|c| c.fingerprint().to_hex()),
            new,
        })
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
        let cert = single_secret_key(source, bytes)?;
        let fingerprint = cert.fingerprint().to_hex();
        let protected = is_protected(&cert);
        let (usable, passphrase_checked) = unlocked_for_import(settings, source, &cert)?;
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

    /// The secret keys that decrypt (the unit tests count them).
    #[cfg(test)]
    pub(crate) fn decryption_keys(&self) -> &[Key<SecretParts, UnspecifiedRole>] {
        &self.decryption
    }

    /// Tries the gateway's decryption keys on one PKESK (every key when the recipient
    /// is hidden): the one place that decides which of our keys opens a session key
    /// `decrypt` accepts. Used for mail and for backups alike.
    pub(crate) fn open_session(
        &self,
        pkesk: &openpgp::packet::PKESK,
        sym_algo: Option<openpgp::types::SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(
            Option<openpgp::types::SymmetricAlgorithm>,
            &openpgp::crypto::SessionKey,
        ) -> bool,
    ) -> SessionAttempt {
        let recipient = pkesk.recipient();
        let mut attempt = SessionAttempt::default();
        let candidates = self.decryption.iter().filter(|k| match &recipient {
            Some(r) => r.aliases(k.key_handle()),
            None => true,
        });
        for key in candidates {
            attempt.addressed_to_us |= recipient.is_some();
            let Ok(mut pair) = key.clone().into_keypair() else {
                continue;
            };
            if let Some((algo, sk)) = pkesk.decrypt(&mut pair, sym_algo)
                && decrypt(algo, &sk)
            {
                attempt.opened_by = Some(key.key_handle());
                return attempt;
            }
        }
        attempt
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

/// Reads every secret gateway key in `dir`, unlocking protected ones when asked.
fn read_gateway_keys(
    dir: &Path,
    unlock: Unlock,
    passphrase: Option<&(Password, &crate::config::Secret)>,
) -> Result<Vec<GatewayKey>, KeyError> {
    let mut gateway: Vec<GatewayKey> = Vec::new();
    for path in key_files(dir)? {
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
                    let Some((password, source)) = passphrase else {
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
    Ok(gateway)
}

/// Newest primary key first, and the chosen signing key (`keys.dir`'s marker) before
/// all.
fn order_gateway_keys(gateway: &mut Vec<GatewayKey>, dir: &Path) -> Result<(), KeyError> {
    // Newest primary key first; the fingerprint breaks ties so the order is stable.
    gateway.sort_by(|a, b| {
        b.cert
            .primary_key()
            .key()
            .creation_time()
            .cmp(&a.cert.primary_key().key().creation_time())
            .then_with(|| a.cert.fingerprint().cmp(&b.cert.fingerprint()))
    });
    if let Some(chosen) = read_signing_choice(dir)? {
        let Some(at) = gateway.iter().position(|g| g.cert.fingerprint() == chosen) else {
            return Err(KeyError::SigningKeyMissing {
                marker: dir.join(SIGNING_KEY_FILE),
                fingerprint: chosen.to_hex(),
                dir: dir.to_path_buf(),
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
    Ok(())
}

/// The one secret key in a file given to `keys import`.
fn single_secret_key(source: &Path, bytes: &[u8]) -> Result<Cert, KeyError> {
    let unparsable = |reason: &str| KeyError::Unparsable {
        path: source.to_path_buf(),
        reason: reason.into(),
    };
    let (certs, _bad) = super::parse_certs(bytes);
    if certs.is_empty() {
        return Err(unparsable("no OpenPGP key in it"));
    }
    let mut secret: Vec<Cert> = certs.into_iter().filter(Cert::is_tsk).collect();
    match secret.len() {
        0 => Err(KeyError::PublicOnly {
            path: source.to_path_buf(),
        }),
        1 => Ok(secret.remove(0)),
        count => Err(KeyError::Several {
            path: source.to_path_buf(),
            count,
        }),
    }
}

/// `cert` ready to decrypt and sign for the checks of `keys import`, and whether the
/// configured passphrase was tried on it.
fn unlocked_for_import(
    settings: &KeySettings,
    source: &Path,
    cert: &Cert,
) -> Result<(Cert, bool), KeyError> {
    if is_protected(cert) {
        let Some(from) = &settings.passphrase else {
            return Err(KeyError::NeedsPassphrase {
                path: source.to_path_buf(),
            });
        };
        match from.read() {
            Ok(password) => {
                let unlocked =
                    unlock_cert(cert.clone(), &Password::from(password)).map_err(|()| {
                        KeyError::WrongPassphrase {
                            path: source.to_path_buf(),
                            from: from.to_string(),
                        }
                    })?;
                Ok((unlocked, true))
            }
            // A credential exists only for the service: the daemon checks it.
            Err(SecretError::NoCredentialsDirectory(_)) => Ok((cert.clone(), false)),
            Err(e) => Err(e.into()),
        }
    } else {
        Ok((cert.clone(), false))
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#[path = "keys_tests.rs"]
mod tests;

/// `new` with each of its user IDs certified by `old`'s primary key (which must
/// hold unlocked secret key material).
fn certify_userids(old: &Cert, new: Cert) -> Result<Cert, KeyError> {
    use openpgp::types::SignatureType;
    let err =
        |e: openpgp::anyhow::Error| KeyError::Generate(format!("certifying the new key: {e}"));
    let mut signer = old
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .map_err(err)?
        .into_keypair()
        .map_err(err)?;
    let mut sigs: Vec<Packet> = Vec::new();
    for ua in new.userids() {
        let sig = ua
            .userid()
            .certify(
                &mut signer,
                &new,
                SignatureType::GenericCertification,
                None,
                None,
            )
            .map_err(err)?;
        sigs.push(sig.into());
    }
    new.insert_packets(sigs).map(|(c, _)| c).map_err(err)
}
