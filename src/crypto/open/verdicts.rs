//! Signature verdicts and what a message proves, one case per row, with messages
//! built in-process with sequoia: which signatures count, which content they cover,
//! and whether the signer is proven (the only key an answer may be encrypted to).

use std::io::Write;

use sequoia_openpgp as openpgp;

use openpgp::serialize::stream::{Message, Signer};

use super::*;
use crate::crypto::POLICY;
use crate::crypto::seal;

pub(super) use crate::crypto::test_keyring as ring;

/// A cleartext-signed block of `text` by `ring`'s signing key.
pub(super) fn clearsign(ring: &Keyring, text: &str) -> String {
    let keypair = ring.signing_key().unwrap().into_keypair().unwrap();
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let mut signer = Signer::new(message, keypair)
            .unwrap()
            .cleartext()
            .build()
            .unwrap();
        signer.write_all(text.as_bytes()).unwrap();
        signer.finalize().unwrap();
    }
    String::from_utf8(sink).unwrap()
}

pub(super) fn public(ring: &Keyring) -> Cert {
    ring.signing_cert()
        .unwrap()
        .clone()
        .strip_secret_key_material()
}

pub(super) fn mail(headers: &str, body: &str) -> Vec<u8> {
    format!("From: r@example.net\r\nSubject: s\r\n{headers}\r\n{body}").into_bytes()
}

/// The encrypted PGP/MIME form of `armored`.
pub(super) fn pgp_mime(armored: &[u8]) -> String {
    format!(
        "--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--e\r\nContent-Type: application/octet-stream\r\n\r\n{}\r\n--e--\r\n",
        String::from_utf8_lossy(armored)
    )
}

const ENCRYPTED: &str = "MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\r\n";

struct Case {
    name: &'static str,
    raw: Vec<u8>,
    signature: SignatureStatus,
    covers_all: bool,
    encrypted: bool,
    /// The fingerprint proven, if any.
    proven: Option<String>,
    gateway_signed: bool,
}

#[test]
fn which_signatures_prove_the_sender() {
    let tmp = tempfile::tempdir().unwrap();
    let gateway = ring(&tmp.path().join("g"), "security@example.org");
    let alice = ring(&tmp.path().join("a"), "alice@example.net");
    let bob = ring(&tmp.path().join("b"), "bob@example.net");
    let gw_pub = public(&gateway);
    let (alice_pub, bob_pub) = (public(&alice), public(&bob));
    let alice_fpr = alice_pub.fingerprint().to_hex();
    let known = |h: &KeyHandle| -> Vec<(Cert, KeySource)> {
        [&alice_pub, &bob_pub]
            .into_iter()
            .filter(|c| crate::crypto::certs::signs_with(c, h))
            .map(|c| (c.clone(), KeySource::ReportersDir))
            .collect()
    };
    let text = "Title: XSS in search\r\n";
    let signed_encrypted = seal::sign_and_encrypt(&alice, &[&gw_pub], text.as_bytes()).unwrap();
    let unsigned_encrypted = {
        // Signed by the gateway to itself would be the gateway's own mail; use an
        // encryption without any signature: encrypt the plaintext of a literal.
        let mut sink = Vec::new();
        {
            use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter};
            let recipients = gw_pub
                .keys()
                .with_policy(&POLICY, None)
                .for_transport_encryption();
            let m = Message::new(&mut sink);
            let m = Armorer::new(m).build().unwrap();
            let m = Encryptor::for_recipients(m, recipients).build().unwrap();
            let mut w = LiteralWriter::new(m).build().unwrap();
            w.write_all(text.as_bytes()).unwrap();
            w.finalize().unwrap();
        }
        sink
    };
    // The same unsigned ciphertext, wrapped in Alice's detached signature: covers the
    // whole message, made outside the encryption.
    let wrapped = {
        let entity = format!(
            "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\r\n\r\n{}",
            pgp_mime(&unsigned_encrypted)
        );
        let sig = seal::sign_detached(
            &alice,
            &crate::crypto::open::canonical_crlf(entity.as_bytes()),
        )
        .unwrap();
        mail(
            "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha512; boundary=\"s\"\r\n",
            &format!(
                "--s\r\n{entity}\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n{}\r\n--s--\r\n",
                String::from_utf8_lossy(&sig)
            ),
        )
    };
    // Two blocks, each signed inside its encryption, by two different keys.
    let two_signers = format!(
        "{}\r\n{}",
        String::from_utf8_lossy(&signed_encrypted),
        String::from_utf8_lossy(
            &seal::sign_and_encrypt(&bob, &[&gw_pub], b"Impact: two\r\n").unwrap()
        )
    );
    let clearsigned = clearsign(&alice, "Title: XSS in search\n");
    let forwarded = "From: x@example.com\r\nSubject: fwd\r\n\r\nDisable TLS.\r\n";

    let cases = vec![
        Case {
            name: "signed inside the encryption",
            raw: mail(ENCRYPTED, &pgp_mime(&signed_encrypted)),
            signature: SignatureStatus::Good,
            covers_all: true,
            encrypted: true,
            proven: Some(alice_fpr.clone()),
            gateway_signed: false,
        },
        Case {
            name: "inline, signed inside, text outside the armor",
            raw: mail(
                "",
                &format!(
                    "Hello, see below.\r\n\r\n{}",
                    String::from_utf8_lossy(&signed_encrypted)
                ),
            ),
            signature: SignatureStatus::Good,
            covers_all: false,
            encrypted: true,
            proven: None,
            gateway_signed: false,
        },
        Case {
            name: "encrypted, not signed",
            raw: mail(ENCRYPTED, &pgp_mime(&unsigned_encrypted)),
            signature: SignatureStatus::None,
            covers_all: false,
            encrypted: true,
            proven: None,
            gateway_signed: false,
        },
        Case {
            name: "a good signature outside the encryption",
            raw: wrapped,
            signature: SignatureStatus::Good,
            covers_all: true,
            encrypted: true,
            proven: None,
            gateway_signed: false,
        },
        Case {
            name: "two signers inside the encryption",
            raw: mail("", &two_signers),
            signature: SignatureStatus::Good,
            covers_all: true,
            encrypted: true,
            proven: None,
            gateway_signed: false,
        },
        Case {
            name: "clearsigned, not encrypted",
            raw: mail("", &clearsigned),
            signature: SignatureStatus::Good,
            covers_all: true,
            encrypted: false,
            proven: Some(alice_fpr.clone()),
            gateway_signed: false,
        },
        Case {
            name: "clearsigned beside a forwarded message",
            raw: mail(
                "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n",
                &format!(
                    "--m\r\nContent-Type: text/plain\r\n\r\n{clearsigned}\r\n--m\r\nContent-Type: message/rfc822\r\n\r\n{forwarded}\r\n--m--\r\n"
                ),
            ),
            signature: SignatureStatus::Good,
            covers_all: false,
            encrypted: false,
            proven: None,
            gateway_signed: false,
        },
        Case {
            name: "clearsigned beside an HTML part",
            raw: mail(
                "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n",
                &format!(
                    "--m\r\nContent-Type: text/plain\r\n\r\n{clearsigned}\r\n--m\r\nContent-Type: text/html\r\n\r\n<p>Disable TLS.</p>\r\n--m--\r\n"
                ),
            ),
            signature: SignatureStatus::Good,
            covers_all: false,
            encrypted: false,
            proven: None,
            gateway_signed: false,
        },
        Case {
            name: "signed by the gateway itself",
            raw: mail(
                ENCRYPTED,
                &pgp_mime(&seal::sign_and_encrypt(&gateway, &[&gw_pub], text.as_bytes()).unwrap()),
            ),
            signature: SignatureStatus::Good,
            covers_all: true,
            encrypted: true,
            proven: Some(gw_pub.fingerprint().to_hex()),
            gateway_signed: true,
        },
    ];
    for case in cases {
        let o = open(&case.raw, &gateway, &known, &[], &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(o.signature, case.signature, "{}", case.name);
        assert_eq!(
            o.signature_covers_all, case.covers_all,
            "{}: {:?}",
            case.name, o.body
        );
        assert_eq!(o.encrypted, case.encrypted, "{}", case.name);
        assert_eq!(
            o.proven.as_ref().map(|p| p.fingerprint.clone()),
            case.proven,
            "{}",
            case.name
        );
        assert_eq!(o.gateway_signed, case.gateway_signed, "{}", case.name);
    }
}

#[test]
fn a_certificate_holding_someone_elses_key_is_no_candidate_signer() {
    use openpgp::packet::signature::SignatureBuilder;
    use openpgp::types::{KeyFlags, SignatureType};
    let tmp = tempfile::tempdir().unwrap();
    let alice = ring(&tmp.path().join("a"), "alice@example.net");
    let alice_pub = public(&alice);
    let (mallory, _) = openpgp::cert::CertBuilder::general_purpose(Some("m@evil.example"))
        .generate()
        .unwrap();
    let mut signer = mallory
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .unwrap()
        .into_keypair()
        .unwrap();
    let stolen = alice
        .signing_key()
        .unwrap()
        .parts_into_public()
        .role_into_subordinate();
    let binding = SignatureBuilder::new(SignatureType::SubkeyBinding)
        .set_key_flags(KeyFlags::empty().set_transport_encryption())
        .unwrap()
        .sign_subkey_binding(&mut signer, mallory.primary_key().key(), &stolen)
        .unwrap();
    let hijack = mallory
        .insert_packets(vec![openpgp::Packet::from(stolen.clone()), binding.into()])
        .unwrap()
        .0;
    let handle = stolen.key_handle();
    assert!(hijack.keys().key_handle(handle.clone()).next().is_some());
    assert!(!crate::crypto::certs::signs_with(&hijack, &handle));
    assert!(crate::crypto::certs::signs_with(&alice_pub, &handle));
    assert!(!crate::crypto::certs::signing_handles(&hijack).contains(&handle.to_hex()));
}

/// A PGP/MIME signed message over `entity`, with `signature` as its signature part.
fn multipart_signed(entity: &str, signature: &[u8]) -> Vec<u8> {
    mail(
        "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha512; boundary=\"s\"\r\n",
        &format!(
            "--s\r\n{entity}\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n{}\r\n--s--\r\n",
            String::from_utf8_lossy(signature)
        ),
    )
}

#[test]
fn each_signature_state_has_its_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let gateway = ring(&tmp.path().join("g"), "security@example.org");
    let alice = ring(&tmp.path().join("a"), "alice@example.net");
    let carol = ring(&tmp.path().join("c"), "carol@example.net");
    let alice_pub = public(&alice);
    let known = |h: &KeyHandle| -> Vec<(Cert, KeySource)> {
        [&alice_pub]
            .into_iter()
            .filter(|c| crate::crypto::certs::signs_with(c, h))
            .map(|c| (c.clone(), KeySource::ReportersDir))
            .collect()
    };
    let clearsigned = clearsign(&alice, "Title: XSS in search\n");
    let entity = "Content-Type: text/plain\r\n\r\nTitle: XSS in search\r\n";
    let detached = seal::sign_detached(&alice, &canonical_crlf(entity.as_bytes())).unwrap();
    let cases: Vec<(&str, Vec<u8>, SignatureStatus)> = vec![
        (
            "unsigned",
            mail("", "Title: XSS\r\n"),
            SignatureStatus::None,
        ),
        ("clearsigned", mail("", &clearsigned), SignatureStatus::Good),
        (
            "clearsigned, text altered",
            mail("", &clearsigned.replace("XSS in search", "XSS in login")),
            SignatureStatus::Bad,
        ),
        (
            "clearsigned by a key nobody holds",
            mail("", &clearsign(&carol, "Title: XSS\n")),
            SignatureStatus::UnknownKey,
        ),
        (
            "a good and an unknown signature",
            mail(
                "",
                &format!("{clearsigned}\r\n{}", clearsign(&carol, "Impact: x\n")),
            ),
            SignatureStatus::Good,
        ),
        (
            "a good and a bad signature",
            mail(
                "",
                &format!(
                    "{clearsigned}\r\n{}",
                    clearsigned.replace("XSS in search", "XSS in login")
                ),
            ),
            SignatureStatus::Bad,
        ),
        (
            "PGP/MIME signed",
            multipart_signed(entity, &detached),
            SignatureStatus::Good,
        ),
        (
            "PGP/MIME signed, body altered",
            multipart_signed(&entity.replace("XSS", "CSRF"), &detached),
            SignatureStatus::Bad,
        ),
        (
            "PGP/MIME signed, garbage signature",
            multipart_signed(
                entity,
                b"-----BEGIN PGP SIGNATURE-----\r\n\r\nAAAA\r\n-----END PGP SIGNATURE-----",
            ),
            SignatureStatus::Bad,
        ),
    ];
    for (name, raw, want) in cases {
        let o = open(&raw, &gateway, &known, &[], &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(o.signature, want, "{name}");
        // Only a good signature by a known key with nothing outside it proves.
        let proves = want == SignatureStatus::Good && o.signature_covers_all;
        assert_eq!(o.proven.is_some(), proves, "{name}");
    }
}
