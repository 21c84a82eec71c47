//! Sealing outgoing mail: detached signatures for RFC 3156 `multipart/signed`, and
//! signed-then-encrypted OpenPGP messages for `multipart/encrypted`.
//!
//! The writer stack is the usual one: Message → Armorer → Encryptor → Signer →
//! LiteralWriter → finalize. The hash is fixed so the `micalg` we announce is right.

use std::io::Write;

use sequoia_openpgp as openpgp;

use openpgp::Cert;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Signer};
use openpgp::types::{DataFormat, HashAlgorithm};

use super::{Keyring, POLICY};

/// The hash we sign with, and its RFC 3156 `micalg` name.
pub const HASH: HashAlgorithm = HashAlgorithm::SHA512;
pub const MICALG: &str = "pgp-sha512";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the gateway has no usable signing key (run `disclosured keys generate`)")]
    NoSigningKey,
    #[error("no usable encryption key for the recipient {0}")]
    NoRecipientKey(String),
    #[error("OpenPGP error while sealing: {0}")]
    OpenPgp(String),
}

fn pgp(e: impl std::fmt::Display) -> SealError {
    SealError::OpenPgp(e.to_string())
}

fn signer_keypair(keyring: &Keyring) -> Result<openpgp::crypto::KeyPair, SealError> {
    keyring
        .signing_key()
        .ok_or(SealError::NoSigningKey)?
        .into_keypair()
        .map_err(pgp)
}

/// An armored detached signature over `data` (already in canonical CRLF form).
pub fn sign_detached(keyring: &Keyring, data: &[u8]) -> Result<Vec<u8>, SealError> {
    let keypair = signer_keypair(keyring)?;
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let message = Armorer::new(message)
            .kind(openpgp::armor::Kind::Signature)
            .build()
            .map_err(pgp)?;
        let mut signer = Signer::new(message, keypair)
            .map_err(pgp)?
            .hash_algo(HASH)
            .map_err(pgp)?
            .detached()
            .build()
            .map_err(pgp)?;
        signer.write_all(data).map_err(pgp)?;
        signer.finalize().map_err(pgp)?;
    }
    Ok(sink)
}

/// `data` signed by the gateway and encrypted to `recipients` only, armored.
///
/// Never to the gateway's own key as well: the store keeps what was sent, and a copy
/// the gateway could decrypt would let anyone who captured it send it back and have
/// it opened (and, as a "report", quoted back to them).
///
/// The recipients are anonymous (the wildcard key ID, as `gpg --throw-keyids`): the
/// key ID in clear would link a researcher's throwaway address to their real key for
/// anyone who sees the mail pass. GnuPG then tries each of its secret keys.
pub fn sign_and_encrypt(
    keyring: &Keyring,
    recipients: &[&Cert],
    data: &[u8],
) -> Result<Vec<u8>, SealError> {
    let keypair = signer_keypair(keyring)?;
    let mut keys = Vec::new();
    for cert in recipients {
        let before = keys.len();
        keys.extend(
            cert.keys()
                .with_policy(&POLICY, None)
                .supported()
                .alive()
                .revoked(false)
                .for_transport_encryption()
                .map(|ka| {
                    use openpgp::cert::Preferences as _;
                    use openpgp::cert::amalgamation::ValidAmalgamation as _;
                    openpgp::serialize::stream::Recipient::new(
                        ka.valid_cert().features(),
                        None,
                        ka.key(),
                    )
                }),
        );
        if keys.len() == before {
            return Err(SealError::NoRecipientKey(cert.fingerprint().to_hex()));
        }
    }
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let message = Armorer::new(message).build().map_err(pgp)?;
        let message = Encryptor::for_recipients(message, keys)
            .build()
            .map_err(pgp)?;
        let message = Signer::new(message, keypair)
            .map_err(pgp)?
            .hash_algo(HASH)
            .map_err(pgp)?
            .build()
            .map_err(pgp)?;
        let mut literal = LiteralWriter::new(message)
            .format(DataFormat::Binary)
            .build()
            .map_err(pgp)?;
        literal.write_all(data).map_err(pgp)?;
        literal.finalize().map_err(pgp)?;
    }
    Ok(sink)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::crypto::{KeySource, SignatureStatus, open};

    fn ring(dir: &std::path::Path) -> Keyring {
        crate::crypto::test_keyring(dir, "security@example.org")
    }

    #[test]
    fn seal_then_open_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let gateway = ring(tmp.path());
        let reporter_dir = tempfile::tempdir().unwrap();
        let reporter = ring(reporter_dir.path());
        let reporter_cert = reporter.signing_cert().unwrap().clone();
        let gateway_public = gateway
            .signing_cert()
            .unwrap()
            .clone()
            .strip_secret_key_material();

        // The reporter writes to the gateway: signed and encrypted inline.
        let armored = sign_and_encrypt(&reporter, &[&gateway_public], b"Title: hello\r\n").unwrap();
        let raw = [
            b"From: r@example.net\r\nSubject: x\r\n\r\n".as_slice(),
            &armored,
        ]
        .concat();
        let known = |h: &openpgp::KeyHandle| {
            reporter_cert
                .keys()
                .key_handle(h.clone())
                .next()
                .map(|_| {
                    (
                        reporter_cert.clone().strip_secret_key_material(),
                        KeySource::ReportersDir,
                    )
                })
                .into_iter()
                .collect()
        };
        let opened = open(&raw, &gateway, &known, &[], &Default::default()).unwrap();
        assert!(opened.encrypted);
        assert_eq!(opened.signature, SignatureStatus::Good);
        assert_eq!(
            opened.signer_fingerprint.as_deref(),
            Some(reporter_cert.fingerprint().to_hex().as_str())
        );
        assert_eq!(opened.signer_key_source, Some(KeySource::ReportersDir));
        assert!(opened.text().contains("Title: hello"));
        // Signed inside the encryption over everything: the signer is proven.
        assert_eq!(
            opened.proven.as_ref().map(|p| p.fingerprint.as_str()),
            Some(reporter_cert.fingerprint().to_hex().as_str())
        );

        // Without the reporter's key the signature is from an unknown key.
        let unknown = |_: &openpgp::KeyHandle| Vec::new();
        let opened = open(&raw, &gateway, &unknown, &[], &Default::default()).unwrap();
        assert_eq!(opened.signature, SignatureStatus::UnknownKey);
        assert!(opened.proven.is_none());

        // A third keyring cannot open it: encrypted to someone else. Nor can the
        // sender: what the gateway seals is not encrypted to its own key.
        for other in [ring(tempfile::tempdir().unwrap().path()), reporter] {
            let err = open(&raw, &other, &unknown, &[], &Default::default()).unwrap_err();
            assert!(
                matches!(err, crate::crypto::OpenError::NoKey { .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn detached_signature_is_armored() {
        let tmp = tempfile::tempdir().unwrap();
        let gateway = ring(tmp.path());
        let sig = sign_detached(&gateway, b"data\r\n").unwrap();
        assert!(sig.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
        assert!(matches!(
            sign_detached(&Keyring::default(), b"x"),
            Err(SealError::NoSigningKey)
        ));
    }
}
