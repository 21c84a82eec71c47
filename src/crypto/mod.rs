//! OpenPGP: the gateway's keys, opening incoming mail (decrypt, verify) and sealing
//! outgoing mail (sign, encrypt).
//!
//! Everything here is synchronous and does no I/O except [`keys`] reading and writing
//! key files; callers run it off the async workers. One [`POLICY`] object decides which
//! algorithms and keys are acceptable, everywhere. Plaintext is untrusted: a bad
//! signature is recorded, never silently upgraded, and nothing decrypted is logged.

pub(crate) mod archive;
pub(crate) mod certs;
mod key_error;
mod key_files;
pub(crate) mod keys;
pub mod open;
pub(crate) mod publication;
pub mod seal;
pub(crate) mod team;

use sequoia_openpgp as openpgp;

pub(crate) use keys::KeyError;
pub use keys::Keyring;
pub use open::open;
pub(crate) use open::{OpenError, Opened, Proven, SignatureMark};
pub(crate) use team::{Member, Team, TeamError};

/// The one policy every key and signature check goes through.
pub(crate) static POLICY: openpgp::policy::StandardPolicy<'static> =
    openpgp::policy::StandardPolicy::new();

/// Symmetric ciphers [`POLICY`] rejects that GnuPG still decrypts, and mail clients
/// still write (eM Client 7 CAST5, older clients 3DES): a report already encrypted
/// with one is not made safer by refusing it. (sequoia deprecates the names to warn
/// writers; reading is what they are named for here.)
#[allow(deprecated)]
const LEGACY_CIPHERS: [openpgp::types::SymmetricAlgorithm; 3] = [
    openpgp::types::SymmetricAlgorithm::IDEA,
    openpgp::types::SymmetricAlgorithm::TripleDES,
    openpgp::types::SymmetricAlgorithm::CAST5,
];

/// [`POLICY`] plus the [`LEGACY_CIPHERS`], for decrypting incoming mail and for
/// nothing else: the gateway never writes with them (sealing uses [`POLICY`]).
pub(crate) static DECRYPTION_POLICY: std::sync::LazyLock<openpgp::policy::StandardPolicy<'static>> =
    std::sync::LazyLock::new(|| {
        let mut p = openpgp::policy::StandardPolicy::new();
        for algo in LEGACY_CIPHERS {
            p.accept_symmetric_algo(algo);
        }
        p
    });

/// The name maintainers know a legacy cipher by, when [`POLICY`] rejects `algo`.
pub(crate) fn legacy_cipher_name(algo: openpgp::types::SymmetricAlgorithm) -> Option<String> {
    use openpgp::policy::Policy as _;
    if POLICY.symmetric_algorithm(algo).is_ok() {
        return None;
    }
    // "CAST5", "3DES", "IDEA": the names GnuPG's `--cipher-algo` takes.
    Some(algo.to_string())
}

/// What we know about a message's signature, as shown to maintainers and scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// Verified against a key we have.
    Good,
    /// A key we have says the signature is wrong (tampered, or a forged signer).
    Bad,
    /// Signed, but by a key we do not have.
    UnknownKey,
    /// Not signed.
    #[default]
    None,
}

impl SignatureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureStatus::Good => "good",
            SignatureStatus::Bad => "bad",
            SignatureStatus::UnknownKey => "unknown_key",
            SignatureStatus::None => "none",
        }
    }

    /// Combines the results of two signature layers: a bad signature wins (a
    /// tampered layer must never be hidden by a good one), then a good one, then an
    /// unknown key.
    pub fn merge(self, other: SignatureStatus) -> SignatureStatus {
        use SignatureStatus::*;
        match (self, other) {
            (Bad, _) | (_, Bad) => Bad,
            (Good, _) | (_, Good) => Good,
            (UnknownKey, _) | (_, UnknownKey) => UnknownKey,
            _ => None,
        }
    }
}

/// Where a reporter's key was found, recorded with the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// Pre-loaded by the sysadmin in `keys/reporters/`.
    ReportersDir,
    /// Learnt from an earlier message of the same address.
    Learnt,
    /// Attached to this message (`application/pgp-keys`).
    Attached,
    /// From this message's `Autocrypt:` header.
    Autocrypt,
    /// A maintainer's key from `[[maintainers]]`: their signed mail is checked
    /// against it whether or not they attach it.
    Maintainers,
}

/// Parses every certificate in `bytes` (armored or binary), skipping what does not
/// parse; returns how many were skipped so callers can say so.
pub(crate) fn parse_certs(bytes: &[u8]) -> (Vec<openpgp::Cert>, usize) {
    use openpgp::parse::Parse;
    let mut certs = Vec::new();
    let mut bad = 0;
    match openpgp::cert::CertParser::from_bytes(bytes) {
        Ok(parser) => {
            for cert in parser {
                match cert {
                    Ok(c) => certs.push(c),
                    Err(_) => bad += 1,
                }
            }
        }
        Err(_) => bad += 1,
    }
    (certs, bad)
}

/// Whether `cert` has a valid user ID with this email address.
pub(crate) fn cert_has_address(cert: &openpgp::Cert, address: &str) -> bool {
    let Ok(valid) = cert.with_policy(&POLICY, None) else {
        return false;
    };
    valid
        .userids()
        .any(|ua| certs::userid_is_for(ua.userid(), address))
}

/// Whether `cert` can receive encrypted mail now.
pub(crate) fn can_encrypt_to(cert: &openpgp::Cert) -> bool {
    cert.keys()
        .with_policy(&POLICY, None)
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption()
        .next()
        .is_some()
}

/// A gateway keyring generated into `dir` for `address`: the unit tests' keys.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_keyring(dir: &std::path::Path, address: &str) -> Keyring {
    Keyring::generate(dir, "T", address).unwrap();
    Keyring::load(&crate::config::KeySettings {
        dir: dir.to_path_buf(),
        reporters_dir: dir.join("r"),
        maintainers_dir: dir.join("m"),
        passphrase: None,
    })
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::SignatureStatus::*;

    #[test]
    fn merge_prefers_bad_then_good() {
        assert_eq!(None.merge(UnknownKey), UnknownKey);
        assert_eq!(UnknownKey.merge(Bad), Bad);
        assert_eq!(Bad.merge(Good), Bad);
        assert_eq!(Good.merge(UnknownKey), Good);
        assert_eq!(None.merge(None), None);
    }

    /// The legacy ciphers are read, named for maintainers, and never written: the
    /// policy the gateway writes and checks keys with still rejects them.
    #[test]
    #[allow(deprecated)]
    fn legacy_ciphers_are_for_decryption_only() {
        use super::openpgp::policy::Policy as _;
        use super::openpgp::types::SymmetricAlgorithm as S;
        use super::{DECRYPTION_POLICY, POLICY, legacy_cipher_name};
        let cases = [
            (S::CAST5, Some("CAST5")),
            (S::TripleDES, Some("3DES")),
            (S::IDEA, Some("IDEA")),
            (S::AES256, Option::None),
            (S::AES128, Option::None),
        ];
        for (algo, name) in cases {
            assert!(
                DECRYPTION_POLICY.symmetric_algorithm(algo).is_ok(),
                "{algo}"
            );
            assert_eq!(
                POLICY.symmetric_algorithm(algo).is_ok(),
                name.is_none(),
                "{algo}"
            );
            assert_eq!(legacy_cipher_name(algo).as_deref(), name, "{algo}");
        }
        // Nothing else differs: a cipher no policy reads stays refused.
        assert!(
            DECRYPTION_POLICY
                .symmetric_algorithm(S::Unencrypted)
                .is_err()
        );
    }
}
