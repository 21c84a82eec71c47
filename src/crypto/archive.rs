//! Backups as OpenPGP messages: encrypted to the gateway's own key or to keys the
//! operator names, so `gpg --decrypt` reads them, and decrypted with the gateway's
//! keys at restore. Streaming both ways: a backup is never held whole in memory.
//!
//! A backup holds every report and the gateway's secret keys, so it is never written
//! in clear. It is not signed: what it holds is checked when it is read back (the
//! store's own format ends with an entry count), and the encryption's integrity
//! protection (MDC or AEAD) refuses a modified file.

use std::io::{Read, Write};

use sequoia_openpgp as openpgp;

use openpgp::Cert;
use openpgp::parse::Parse;
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient};
use openpgp::types::DataFormat;

use super::{Keyring, POLICY};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error("no usable encryption key in {0}")]
    NoRecipientKey(String),
    #[error(
        "the backup is encrypted to a key this gateway does not hold; decrypt it with the key it was made for: `gpg --decrypt FILE | disclosured restore -`"
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

/// An armored OpenPGP writer around `out`, encrypted to every usable encryption key of
/// `recipients`. Write the backup into it, then [`finish`] it.
pub(crate) fn encrypt_to<'a>(
    out: &'a mut (dyn Write + Send + Sync),
    recipients: &[(&'a Cert, String)],
) -> Result<Message<'a>, ArchiveError> {
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
            return Err(ArchiveError::NoRecipientKey(name.clone()));
        }
    }
    let message = Message::new(out);
    let message = Armorer::new(message).build().map_err(pgp)?;
    let message = Encryptor::for_recipients(message, keys)
        .build()
        .map_err(pgp)?;
    LiteralWriter::new(message)
        .format(DataFormat::Binary)
        .build()
        .map_err(pgp)
}

/// Completes a message begun with [`encrypt_to`].
pub(crate) fn finish(message: Message<'_>) -> Result<(), ArchiveError> {
    message.finalize().map_err(pgp)
}

/// The plaintext of an encrypted backup, read as it is decrypted with the gateway's
/// keys. A read error at the end means the file was modified or cut.
pub(crate) fn decrypt<'a, R: Read + Send + Sync + 'a>(
    input: R,
    keyring: &'a Keyring,
) -> Result<impl Read + 'a, ArchiveError> {
    let helper = Helper { keyring };
    DecryptorBuilder::from_reader(input)
        .map_err(pgp)?
        .with_policy(&POLICY, None, helper)
        .map_err(|e| {
            if e.downcast_ref::<NotForUs>().is_some() {
                ArchiveError::NotForUs
            } else {
                pgp(e)
            }
        })
}

#[derive(Debug, thiserror::Error)]
#[error("not encrypted to a gateway key")]
struct NotForUs;

struct Helper<'a> {
    keyring: &'a Keyring,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[openpgp::KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }

    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        // Backups are not signed; see the module's documentation.
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

    #[test]
    fn a_backup_encrypted_to_the_gateway_reads_back_and_another_gateway_cannot() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ours, theirs) = (ring(a.path()), ring(b.path()));
        let cert = ours.signing_cert().unwrap();
        let data = b"disclosured-backup 1\n\x00\x01 secret reports".repeat(1000);
        let mut file = Vec::new();
        {
            let mut w = encrypt_to(&mut file, &[(cert, "gateway".into())]).unwrap();
            w.write_all(&data).unwrap();
            finish(w).unwrap();
        }
        assert!(is_openpgp(&file) && !is_openpgp(&data));
        assert!(!file.windows(14).any(|w| w == b"secret reports"));
        let mut back = Vec::new();
        decrypt(file.as_slice(), &ours)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let err = decrypt(file.as_slice(), &theirs).err().unwrap();
        assert!(matches!(err, ArchiveError::NotForUs), "{err}");
        // A modified file does not read back whole.
        let mut bad = String::from_utf8(file).unwrap();
        let mid = bad.len() / 2;
        let c = if &bad[mid..mid + 1] == "A" { "B" } else { "A" };
        bad.replace_range(mid..mid + 1, c);
        let read = decrypt(bad.as_bytes(), &ours)
            .and_then(|mut r| r.read_to_end(&mut Vec::new()).map_err(pgp));
        assert!(read.is_err());
    }
}
