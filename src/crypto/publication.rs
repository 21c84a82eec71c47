//! The gateway's public key in the shapes it is published in: the minimal key of an
//! Autocrypt header, the certificate a Web Key Directory serves for one address, and
//! the cleartext signature of a published text (security.txt).
//!
//! Only public material leaves here. Nothing is read from or written to disk.

use std::io::Write as _;

use sequoia_openpgp as openpgp;

use openpgp::Cert;
use openpgp::packet::Packet;
use openpgp::serialize::Serialize as _;
use openpgp::serialize::stream::{Message, Signer};

use super::seal::{HASH, SealError};
use super::{Keyring, POLICY, certs};

fn pgp(e: impl std::fmt::Display) -> SealError {
    SealError::OpenPgp(e.to_string())
}

/// The key of an Autocrypt Level 1 header (section 2.1.1 of the specification): the
/// primary key, the user ID for `address` with its self-signature, and the newest
/// valid encryption subkey with its binding signature, in that order, binary.
/// `None` when `cert` has no valid user ID for `address` or nothing to encrypt to.
pub(crate) fn autocrypt_keydata(cert: &Cert, address: &str) -> Option<Vec<u8>> {
    let valid = cert.with_policy(&POLICY, None).ok()?;
    let userid = valid
        .userids()
        .find(|ua| certs::userid_is_for(ua.userid(), address))?;
    let subkey = valid
        .keys()
        .subkeys()
        .alive()
        .revoked(false)
        .for_transport_encryption()
        .max_by_key(|ka| ka.key().creation_time())?;
    let packets: [Packet; 5] = [
        Packet::from(cert.primary_key().key().clone().role_into_primary()),
        Packet::from(userid.userid().clone()),
        Packet::from(userid.binding_signature().clone()),
        Packet::from(subkey.key().clone().role_into_subordinate()),
        Packet::from(subkey.binding_signature().clone()),
    ];
    let mut out = Vec::new();
    for p in &packets {
        p.serialize(&mut out).ok()?;
    }
    Some(out)
}

/// `cert`'s public half with only the user IDs for `address` (what a Web Key
/// Directory serves for that address: its draft, section 3.1, asks that other user
/// IDs be left out). Subkeys and revocations stay, so a revoked key reads as revoked.
pub(crate) fn for_address(cert: &Cert, address: &str) -> Cert {
    cert.clone()
        .strip_secret_key_material()
        .retain_userids(|ua| certs::userid_is_for(ua.userid(), address))
}

/// `old` revoked as superseded by the key `new` (RFC 9580 section 5.2.3.31, reason 1),
/// for publishing a key that `keys rotate` replaced: researchers' clients stop
/// encrypting to it, while the gateway, whose own copy is not revoked, keeps
/// decrypting what was sent to it. `None` when the old key's secret primary key is
/// not at hand unlocked (a passphrase this process cannot read): it is then
/// published as it is. A key already revoked is returned as it is.
pub(crate) fn superseded(old: &Cert, new: &openpgp::Fingerprint) -> Option<Cert> {
    use openpgp::types::{ReasonForRevocation, RevocationStatus};
    if !matches!(
        old.revocation_status(&POLICY, None),
        RevocationStatus::NotAsFarAsWeKnow
    ) {
        return Some(old.clone());
    }
    let mut signer = old
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .ok()?
        .into_keypair()
        .ok()?;
    let revocation = openpgp::cert::CertRevocationBuilder::new()
        .set_reason_for_revocation(
            ReasonForRevocation::KeySuperseded,
            format!("superseded by {new}").as_bytes(),
        )
        .ok()?
        .build(&mut signer, old, None)
        .ok()?;
    old.clone().insert_packets(revocation).ok().map(|(c, _)| c)
}

/// `text` as an OpenPGP cleartext signed message (RFC 9580 section 7) made by the
/// gateway's signing key, with its `Hash:` header: the form RFC 9116 section 2.3 asks
/// of a signed security.txt. Lines end in LF and nothing follows the signature.
pub(crate) fn clearsign(keyring: &Keyring, text: &str) -> Result<Vec<u8>, SealError> {
    let keypair = keyring
        .signing_key()
        .ok_or(SealError::NoSigningKey)?
        .into_keypair()
        .map_err(pgp)?;
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let mut signer = Signer::new(message, keypair)
            .map_err(pgp)?
            .hash_algo(HASH)
            .map_err(pgp)?
            .cleartext()
            .build()
            .map_err(pgp)?;
        signer.write_all(text.as_bytes()).map_err(pgp)?;
        signer.finalize().map_err(pgp)?;
    }
    Ok(sink)
}

/// The text of a cleartext-signed `signed` when every signature in it is a good one
/// by `cert` (and there is at least one); `None` otherwise: tampered, signed by
/// another key, or not signed at all.
pub(crate) fn verify_clearsigned(signed: &[u8], cert: &Cert) -> Option<Vec<u8>> {
    use openpgp::parse::Parse as _;
    use openpgp::parse::stream::{
        MessageLayer, MessageStructure, VerificationHelper, VerifierBuilder,
    };
    use std::io::Read as _;

    struct Helper<'a>(&'a Cert);
    impl VerificationHelper for Helper<'_> {
        fn get_certs(&mut self, _: &[openpgp::KeyHandle]) -> openpgp::Result<Vec<Cert>> {
            Ok(vec![self.0.clone()])
        }
        fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
            let mut good = 0;
            for layer in structure.iter() {
                if let MessageLayer::SignatureGroup { results } = layer {
                    for r in results {
                        match r {
                            Ok(_) => good += 1,
                            Err(e) => return Err(anyhow_like(e.to_string()).into()),
                        }
                    }
                }
            }
            if good == 0 {
                return Err(anyhow_like("no signature".into()).into());
            }
            Ok(())
        }
    }
    fn anyhow_like(msg: String) -> openpgp::Error {
        openpgp::Error::BadSignature(msg)
    }
    let mut verifier = VerifierBuilder::from_bytes(signed)
        .ok()?
        .with_policy(&POLICY, None, Helper(cert))
        .ok()?;
    let mut text = Vec::new();
    // A security.txt is small; a file far larger is not ours.
    (&mut verifier).take(1 << 20).read_to_end(&mut text).ok()?;
    verifier.message_processed().then_some(text)
}

/// The SHA-1 digest of `data` (the Web Key Directory names files by it; nothing is
/// signed or trusted with it).
pub(crate) fn sha1(data: &[u8]) -> Option<Vec<u8>> {
    let mut ctx = openpgp::types::HashAlgorithm::SHA1
        .context()
        .ok()?
        .for_digest();
    ctx.update(data);
    ctx.into_digest().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use openpgp::parse::{PacketParser, PacketParserResult, Parse as _};

    const ADDRESS: &str = "security@example.org";

    fn tags(bytes: &[u8]) -> Vec<openpgp::packet::Tag> {
        let mut out = Vec::new();
        let mut ppr = PacketParser::from_bytes(bytes).unwrap();
        while let PacketParserResult::Some(pp) = ppr {
            out.push(pp.packet.tag());
            ppr = pp.recurse().unwrap().1;
        }
        out
    }

    #[test]
    fn autocrypt_key_is_the_five_packets_of_level_1() {
        use openpgp::packet::Tag;
        let tmp = tempfile::tempdir().unwrap();
        let ring = crate::crypto::test_keyring(tmp.path(), ADDRESS);
        let cert = ring.signing_cert().unwrap();
        let data = autocrypt_keydata(cert, ADDRESS).unwrap();
        assert_eq!(
            tags(&data),
            [
                Tag::PublicKey,
                Tag::UserID,
                Tag::Signature,
                Tag::PublicSubkey,
                Tag::Signature
            ]
        );
        // It is a certificate others can encrypt to.
        let parsed = Cert::from_bytes(&data).unwrap();
        assert!(crate::crypto::can_encrypt_to(&parsed));
        assert!(!parsed.is_tsk());
        assert!(autocrypt_keydata(cert, "someone-else@example.org").is_none());
    }

    #[test]
    fn clearsigned_text_has_a_hash_header_and_ends_with_the_signature() {
        let tmp = tempfile::tempdir().unwrap();
        let ring = crate::crypto::test_keyring(tmp.path(), ADDRESS);
        let signed = String::from_utf8(clearsign(&ring, "Contact: mailto:a@b\n").unwrap()).unwrap();
        assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"));
        assert!(signed.trim_end().ends_with("-----END PGP SIGNATURE-----"));
        let cert = ring.signing_cert().unwrap();
        let text = verify_clearsigned(signed.as_bytes(), cert).unwrap();
        assert_eq!(text, b"Contact: mailto:a@b\n");
        let tampered = signed.replace("a@b", "a@c");
        assert!(verify_clearsigned(tampered.as_bytes(), cert).is_none());
        let other = tempfile::tempdir().unwrap();
        let other = crate::crypto::test_keyring(other.path(), ADDRESS);
        assert!(verify_clearsigned(signed.as_bytes(), other.signing_cert().unwrap()).is_none());
        assert!(verify_clearsigned(b"Contact: mailto:a@b\n", cert).is_none());
    }

    #[test]
    fn a_superseded_key_is_published_revoked_and_the_gateway_copy_is_not() {
        use openpgp::types::RevocationStatus;
        let tmp = tempfile::tempdir().unwrap();
        let ring = crate::crypto::test_keyring(tmp.path(), ADDRESS);
        let old = ring.signing_cert().unwrap();
        let other = tempfile::tempdir().unwrap();
        let new = crate::crypto::test_keyring(other.path(), ADDRESS);
        let new_fpr = new.signing_cert().unwrap().fingerprint();
        let published = superseded(old, &new_fpr).unwrap();
        assert!(matches!(
            published.revocation_status(&POLICY, None),
            RevocationStatus::Revoked(_)
        ));
        assert!(matches!(
            old.revocation_status(&POLICY, None),
            RevocationStatus::NotAsFarAsWeKnow
        ));
        // Without the secret key there is nothing to revoke with.
        let public = old.clone().strip_secret_key_material();
        assert!(superseded(&public, &new_fpr).is_none());
    }

    #[test]
    fn sha1_is_sha1() {
        assert_eq!(
            hex::encode(sha1(b"abc").unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
