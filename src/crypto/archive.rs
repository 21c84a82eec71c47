//! Backups as OpenPGP messages: signed by the gateway, then encrypted to the gateway's
//! own key and to keys the operator keeps elsewhere, so `gpg --decrypt` reads them on
//! any host; read back at restore only when a key the host trusts signed them.
//! Streaming both ways: a backup is never held whole in memory.
//!
//! The signed message is itself the literal data of the encryption
//! (`encrypt(literal(sign(literal(backup))))`), not the usual sign-inside-encrypt:
//! `gpg --decrypt FILE` then gives the operator the *signed* backup, which `restore -`
//! still verifies. A backup encrypted to the gateway's public key alone proves
//! nothing (anyone can make one), and a backup installs key files and answer keys:
//! so an unsigned backup, or one signed by a key the host does not trust, is refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use sequoia_openpgp as openpgp;

use openpgp::Cert;
use openpgp::parse::Parse;
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageLayer, MessageStructure, VerificationError,
    VerificationHelper,
};
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient, Signer};
use openpgp::types::DataFormat;

use super::{Keyring, POLICY};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error("no usable encryption key in {0}")]
    NoRecipientKey(String),
    #[error(
        "the gateway has no signing key to sign the backup with (run `disclosured keys generate`)"
    )]
    NoSigningKey,
    #[error(
        "the backup is encrypted to a key this gateway does not hold; decrypt it with the key it was made for: `gpg --decrypt FILE | disclosured restore --trust GATEWAY-KEY.asc -`"
    )]
    NotForUs,
    #[error("OpenPGP: {0}")]
    OpenPgp(String),
}

fn pgp(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::OpenPgp(e.to_string())
}

/// The certificates in `bytes` (armored or binary), armored, or `None` when there is
/// none: the `--to` keys, sent to the daemon as text.
pub(crate) fn armored_certs(bytes: &[u8]) -> Result<Option<String>, ArchiveError> {
    use openpgp::serialize::SerializeInto;
    let (certs, _) = super::parse_certs(bytes);
    if certs.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for cert in certs {
        out.extend(cert.armored().to_vec().map_err(pgp)?);
    }
    Ok(Some(String::from_utf8_lossy(&out).into_owned()))
}

/// Whether `start` (the first bytes of a file) looks like an OpenPGP message, armored
/// or binary, rather than a plain backup.
pub(crate) fn is_openpgp(start: &[u8]) -> bool {
    start.starts_with(b"-----BEGIN PGP MESSAGE-----")
        // A binary packet: the tag byte has its high bit set.
        || start.first().is_some_and(|b| b & 0x80 != 0)
}

/// Writes what `body` writes as a backup into `out`: signed by the gateway's signing
/// key, encrypted to every usable encryption key of `recipients`, armored.
pub(crate) fn seal<T, E: From<ArchiveError>>(
    out: &mut (dyn Write + Send + Sync),
    keyring: &Keyring,
    recipients: &[(&Cert, String)],
    body: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, E> {
    // SEIPDv1 for every recipient: sequoia picks SEIPDv2 when all recipients announce
    // it (the gateway's own key does), and GnuPG 2.2 and 2.4 cannot read that.
    let v1 = openpgp::types::Features::empty().set_seipdv1();
    let mut keys = Vec::new();
    for (cert, name) in recipients {
        let before = keys.len();
        keys.extend(
            cert.keys()
                .with_policy(&POLICY, None)
                .supported()
                .alive()
                .revoked(false)
                .for_storage_encryption()
                .for_transport_encryption()
                .map(|ka| {
                    Recipient::new(
                        v1.clone(),
                        openpgp::KeyHandle::from(ka.key().keyid()),
                        ka.key(),
                    )
                }),
        );
        if keys.len() == before {
            return Err(ArchiveError::NoRecipientKey(name.clone()).into());
        }
    }
    let signer = keyring
        .signing_key()
        .ok_or(ArchiveError::NoSigningKey)?
        .into_keypair()
        .map_err(pgp)?;
    let message = Message::new(out);
    let message = Armorer::new(message).build().map_err(pgp)?;
    let message = Encryptor::for_recipients(message, keys)
        .build()
        .map_err(pgp)?;
    let mut outer = LiteralWriter::new(message)
        .format(DataFormat::Binary)
        .build()
        .map_err(pgp)?;
    let done = {
        let inner = Message::new(&mut outer);
        let inner = Signer::new(inner, signer)
            .map_err(pgp)?
            .hash_algo(super::seal::HASH)
            .map_err(pgp)?
            .build()
            .map_err(pgp)?;
        let mut literal = LiteralWriter::new(inner)
            .format(DataFormat::Binary)
            .build()
            .map_err(pgp)?;
        let done = body(&mut literal)?;
        literal.finalize().map_err(pgp)?;
        done
    };
    outer.finalize().map_err(pgp)?;
    Ok(done)
}

/// Who signed a backup, as far as it has been read. Complete only once the backup
/// was read to its end.
#[derive(Debug, Default, Clone)]
pub(crate) struct Signers {
    /// A trusted key that made a good signature over the backup.
    pub(crate) trusted: Option<openpgp::Fingerprint>,
    /// Issuers of signatures by keys the host does not trust.
    pub(crate) untrusted: Vec<String>,
    /// A signature that does not verify (a modified backup).
    pub(crate) bad: bool,
}

/// A backup's plaintext as it is read.
pub(crate) type Plaintext<'a> = Box<dyn BufRead + Send + Sync + 'a>;

/// The plaintext of a backup, as it is read: decrypted with the gateway's keys when
/// encrypted (a file `gpg --decrypt` made from it is the signed message itself), its
/// signature checked against `trusted`. The caller reads it to its end (an error
/// there means a modified or cut file, or an untrusted signer), then looks at the
/// [`Signers`] to accept it.
pub(crate) fn open<'a, R: Read + Send + Sync + 'a>(
    input: R,
    keyring: &'a Keyring,
    trusted: &'a [Cert],
) -> Result<(Plaintext<'a>, Arc<Mutex<Signers>>), ArchiveError> {
    let signers = Arc::new(Mutex::new(Signers::default()));
    let helper = |require| Helper {
        keyring,
        trusted,
        signers: Arc::clone(&signers),
        require,
    };
    let outer = DecryptorBuilder::from_reader(input)
        .map_err(pgp)?
        .with_policy(&POLICY, None, helper(false))
        .map_err(|e| {
            if e.downcast_ref::<NotForUs>().is_some() {
                ArchiveError::NotForUs
            } else {
                pgp(e)
            }
        })?;
    let mut outer = BufReader::new(outer);
    let nested = is_openpgp(outer.fill_buf().map_err(pgp)?);
    if !nested {
        return Ok((Box::new(outer), signers));
    }
    // The signed backup inside the encryption: its signature must be trusted.
    let inner = DecryptorBuilder::from_reader(outer)
        .map_err(pgp)?
        .with_policy(&POLICY, None, helper(true))
        .map_err(pgp)?;
    Ok((Box::new(BufReader::new(inner)), signers))
}

#[derive(Debug, thiserror::Error)]
#[error("not encrypted to a gateway key")]
struct NotForUs;

#[derive(Debug, thiserror::Error)]
#[error("not signed by a key this host trusts")]
struct Untrusted;

#[derive(Debug, thiserror::Error)]
#[error("a signature over the backup does not verify (the file was modified)")]
struct BadSignature;

struct Helper<'a> {
    keyring: &'a Keyring,
    trusted: &'a [Cert],
    signers: Arc<Mutex<Signers>>,
    /// Whether this layer must carry the trusted signature (the inner message).
    require: bool,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[openpgp::KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        // Only trusted keys can make a signature good.
        Ok(self.trusted.to_vec())
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        let mut signers = self.signers.lock().unwrap_or_else(PoisonError::into_inner);
        for layer in structure.iter() {
            let MessageLayer::SignatureGroup { results } = layer else {
                continue;
            };
            for result in results {
                match result {
                    Ok(good) => signers.trusted = Some(good.ka.cert().fingerprint()),
                    Err(VerificationError::MissingKey { sig }) => signers
                        .untrusted
                        .extend(sig.get_issuers().iter().map(|h| h.to_hex())),
                    Err(_) => signers.bad = true,
                }
            }
        }
        if signers.bad {
            return Err(BadSignature.into());
        }
        if self.require && signers.trusted.is_none() {
            return Err(Untrusted.into());
        }
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[openpgp::packet::PKESK],
        _skesks: &[openpgp::packet::SKESK],
        sym_algo: Option<openpgp::types::SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(
            Option<openpgp::types::SymmetricAlgorithm>,
            &openpgp::crypto::SessionKey,
        ) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        for pkesk in pkesks {
            if self
                .keyring
                .open_session(pkesk, sym_algo, decrypt)
                .opened_by
                .is_some()
            {
                return Ok(None);
            }
        }
        Err(NotForUs.into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ring(dir: &std::path::Path) -> Keyring {
        crate::crypto::test_keyring(dir, "security@example.org")
    }

    fn sealed(by: &Keyring, to: &Cert, data: &[u8]) -> Vec<u8> {
        let mut file = Vec::new();
        seal::<_, ArchiveError>(&mut file, by, &[(to, "gateway".into())], |w| {
            w.write_all(data).map_err(pgp)
        })
        .unwrap();
        file
    }

    fn read_all(
        file: &[u8],
        keyring: &Keyring,
        trusted: &[Cert],
    ) -> Result<(Vec<u8>, Signers), ArchiveError> {
        let (mut r, signers) = open(file, keyring, trusted)?;
        let mut back = Vec::new();
        r.read_to_end(&mut back).map_err(pgp)?;
        let signers = signers.lock().unwrap().clone();
        Ok((back, signers))
    }

    #[test]
    fn a_backup_reads_back_only_where_its_signer_is_trusted() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ours, theirs) = (ring(a.path()), ring(b.path()));
        let cert = ours.signing_cert().unwrap();
        let public = cert.clone().strip_secret_key_material();
        let data = b"disclosured-backup 2\n\x00\x01 secret reports".repeat(1000);
        let file = sealed(&ours, cert, &data);
        assert!(is_openpgp(&file) && !is_openpgp(&data));
        assert!(!file.windows(14).any(|w| w == b"secret reports"));
        let (back, signers) = read_all(&file, &ours, std::slice::from_ref(&public)).unwrap();
        assert_eq!(back, data);
        assert_eq!(signers.trusted, Some(cert.fingerprint()));
        // Another gateway cannot decrypt it.
        let err = read_all(&file, &theirs, std::slice::from_ref(&public))
            .err()
            .unwrap();
        assert!(matches!(err, ArchiveError::NotForUs), "{err}");
        // Made by another key (from our public key alone), it is not trusted.
        let forged = sealed(&theirs, &public, &data);
        assert!(read_all(&forged, &ours, std::slice::from_ref(&public)).is_err());
        // A modified file does not read back whole.
        let mut bad = String::from_utf8(file).unwrap();
        let mid = bad.len() / 2;
        let c = if &bad[mid..mid + 1] == "A" { "B" } else { "A" };
        bad.replace_range(mid..mid + 1, c);
        assert!(read_all(bad.as_bytes(), &ours, &[public]).is_err());
    }
}
