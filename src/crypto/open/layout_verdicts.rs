//! What layouts found anywhere in the MIME tree prove (issue 15): provider rewrites,
//! footers, S/MIME and OpenPGP wrappers, armor in HTML; and the layouts refused.
//! Messages built in-process with sequoia, as in [`super::verdicts`].

use std::io::Write;

use sequoia_openpgp as openpgp;

use openpgp::serialize::stream::Message;

use super::verdicts::{clearsign, mail, pgp_mime, public, ring};
use super::*;
use crate::crypto::POLICY;
use crate::crypto::seal;

/// A layout as providers, lists and clients produce it, and what it must prove.
struct Layout {
    name: &'static str,
    raw: Vec<u8>,
    signature: SignatureStatus,
    covers_all: bool,
    encrypted: bool,
    proven: bool,
    /// The protected Subject, when the layout carries one inside.
    subject: Option<&'static str>,
}

/// A message whose body is `entity` (its own headers become the message's).
fn entire(entity: &str) -> Vec<u8> {
    format!("From: r@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n{entity}").into_bytes()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A multipart entity with boundary `b` and these parts (each with its headers).
fn multipart(kind: &str, b: &str, parts: &[&str]) -> String {
    let mut out = format!("Content-Type: multipart/{kind}; boundary=\"{b}\"\r\n\r\n");
    for p in parts {
        out.push_str(&format!("--{b}\r\n{p}\r\n"));
    }
    out.push_str(&format!("--{b}--\r\n"));
    out
}

#[test]
fn layouts_anywhere_in_the_tree_prove_what_they_prove() {
    let tmp = tempfile::tempdir().unwrap();
    let gateway = ring(&tmp.path().join("g"), "security@example.org");
    let alice = ring(&tmp.path().join("a"), "alice@example.net");
    let gw_pub = public(&gateway);
    let alice_pub = public(&alice);
    let known = |h: &KeyHandle| -> Vec<(Cert, KeySource)> {
        [&alice_pub]
            .into_iter()
            .filter(|c| crate::crypto::certs::signs_with(c, h))
            .map(|c| (c.clone(), KeySource::ReportersDir))
            .collect()
    };
    let inner = "Content-Type: text/plain; charset=utf-8\r\nSubject: XSS in search\r\n\r\nTitle: XSS in search\r\n";
    let armored = seal::sign_and_encrypt(&alice, &[&gw_pub], inner.as_bytes()).unwrap();
    let unsigned = {
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
            w.write_all(inner.as_bytes()).unwrap();
            w.finalize().unwrap();
        }
        sink
    };
    let armored = String::from_utf8_lossy(&armored).into_owned();
    let version = "Content-Type: application/pgp-encrypted\r\nContent-Transfer-Encoding: base64\r\n\r\nVmVyc2lvbjogMQ0K\r\n";
    let payload = format!(
        "Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\nContent-Disposition: attachment; filename=\"encrypted.asc\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(armored.as_bytes())
    );
    let empty_text = "Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
    let footer = "Content-Type: text/plain\r\n\r\n_______________\r\nlist mailing list\r\n";
    let encrypted = format!(
        "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\r\n\r\n{}",
        pgp_mime(armored.as_bytes())
    );
    let p7s = "Content-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0B\r\n";
    let smime_signed = |signed: &str| {
        format!(
            "From: r@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"ms\"\r\n\r\n--ms\r\n{signed}\r\n--ms\r\n{p7s}\r\n--ms--\r\n"
        )
    };
    let signed_entity = "Content-Type: text/plain; charset=utf-8\r\nSubject: XSS in search\r\n\r\nTitle: XSS in search\r\n";
    let detached = seal::sign_detached(&alice, &canonical_crlf(signed_entity.as_bytes())).unwrap();
    let pgp_signed = |entity: &str| {
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha512; boundary=\"s\"\r\n\r\n--s\r\n{entity}\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n{}\r\n--s--\r\n",
            String::from_utf8_lossy(&detached)
        )
    };
    let outer_signed_around_encrypted = {
        let sig = seal::sign_detached(&alice, &canonical_crlf(encrypted.as_bytes())).unwrap();
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha512; boundary=\"s\"\r\n\r\n--s\r\n{encrypted}\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n{}\r\n--s--\r\n",
            String::from_utf8_lossy(&sig)
        )
    };
    let html_armor: String = armored
        .lines()
        .map(|l| format!("<div>{}</div>\r\n", if l.is_empty() { "&nbsp;" } else { l }))
        .collect();
    let clearsigned = clearsign(&alice, "Title: XSS in search\n");
    let html = |body: &str| format!("Content-Type: text/html; charset=utf-8\r\n\r\n{body}\r\n");
    let top = |entity: String| entire(&entity);
    let g = SignatureStatus::Good;
    let cases = vec![
        Layout {
            name: "mixed-up (Exchange): empty text, version part, encrypted part",
            raw: top(multipart("mixed", "m", &[empty_text, version, &payload])),
            signature: g,
            covers_all: true,
            encrypted: true,
            proven: true,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "mixed-up with a list footer",
            raw: top(multipart(
                "mixed",
                "m",
                &[empty_text, version, &payload, footer],
            )),
            signature: g,
            covers_all: false,
            encrypted: true,
            proven: false,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "multipart/encrypted inside multipart/mixed with a list footer",
            raw: top(multipart("mixed", "m", &[&encrypted, footer])),
            signature: g,
            covers_all: false,
            encrypted: true,
            proven: false,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "an S/MIME signature around the encrypted part",
            raw: smime_signed(&encrypted).into_bytes(),
            signature: g,
            covers_all: true,
            encrypted: true,
            proven: true,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "an S/MIME signature around an encrypted part not signed inside",
            raw: smime_signed(&format!(
                "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\r\n\r\n{}",
                pgp_mime(&unsigned)
            ))
            .into_bytes(),
            signature: SignatureStatus::None,
            covers_all: false,
            encrypted: true,
            proven: false,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "an S/MIME signature around added text and the encrypted part",
            raw: smime_signed(&multipart(
                "mixed",
                "m",
                &[
                    "Content-Type: text/plain\r\n\r\nAdditional text\r\n",
                    &encrypted,
                ],
            ))
            .into_bytes(),
            signature: g,
            covers_all: false,
            encrypted: true,
            proven: false,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "an OpenPGP signature outside around a part signed inside",
            raw: top(outer_signed_around_encrypted),
            signature: g,
            covers_all: true,
            encrypted: true,
            proven: true,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "multipart/signed inside multipart/mixed with a list footer",
            raw: top(multipart(
                "mixed",
                "m",
                &[&pgp_signed(signed_entity), footer],
            )),
            signature: g,
            covers_all: false,
            encrypted: false,
            proven: false,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "multipart/signed inside multipart/mixed, altered",
            raw: top(multipart(
                "mixed",
                "m",
                &[&pgp_signed(&signed_entity.replace("XSS", "CSRF")), footer],
            )),
            signature: SignatureStatus::Bad,
            covers_all: false,
            encrypted: false,
            proven: false,
            // What a bad signature covers is still read, and marked bad.
            subject: Some("CSRF in search"),
        },
        Layout {
            name: "multipart/signed inside an S/MIME signature",
            raw: smime_signed(&pgp_signed(signed_entity)).into_bytes(),
            signature: g,
            covers_all: true,
            encrypted: false,
            proven: true,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "armored message in an HTML part, a <div> per line",
            raw: top(html(&format!("<html><body>{html_armor}</body></html>"))),
            signature: g,
            covers_all: true,
            encrypted: true,
            proven: true,
            subject: Some("XSS in search"),
        },
        Layout {
            name: "clearsigned HTML part between HTML parts",
            raw: top(multipart(
                "mixed",
                "m",
                &[&html("prefix"), &html(&clearsigned), &html("suffix")],
            )),
            signature: g,
            covers_all: false,
            encrypted: false,
            proven: false,
            subject: None,
        },
    ];
    for case in cases {
        let o = open(&case.raw, &gateway, &known, &[], &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let name = case.name;
        assert_eq!(o.signature, case.signature, "{name}");
        assert_eq!(
            o.signature_covers_all, case.covers_all,
            "{name}: {:?}",
            o.body
        );
        assert_eq!(o.encrypted, case.encrypted, "{name}");
        assert_eq!(o.proven.is_some(), case.proven, "{name}");
        assert_eq!(o.subject.as_deref(), case.subject, "{name}");
        if case.signature == g {
            let text = o.body_text(|h| h.to_string());
            assert!(text.contains("Title: XSS in search"), "{name}: {text}");
            assert!(!text.contains("BEGIN PGP"), "{name}: {text}");
            assert!(!text.contains("Content-Type"), "{name}: {text}");
        }
        assert!(
            o.attachments.is_empty(),
            "{name}: {:?}",
            o.attachments.len()
        );
    }
}

#[test]
fn every_html_part_is_kept_in_order() {
    let gateway = Keyring::default();
    let none = |_: &KeyHandle| Vec::new();
    let raw = entire(&multipart(
        "mixed",
        "m",
        &[
            "Content-Type: text/html\r\n\r\n<p>one</p>\r\n",
            "Content-Type: text/plain\r\n\r\ntwo\r\n",
            "Content-Type: text/html\r\n\r\n<p>three</p>\r\n",
        ],
    ));
    let o = open(&raw, &gateway, &none, &[], &Limits::default()).unwrap();
    assert_eq!(
        o.body_text(|h| h.replace("<p>", "").replace("</p>", "").trim().to_string()),
        "one\n\ntwo\n\nthree"
    );
    assert_eq!(
        o.html().as_deref(),
        Some("<p>one</p>\r\n\n\n<p>three</p>\r\n")
    );
    assert_eq!(o.text(), "two");
}

#[test]
fn smime_and_passphrase_only_mail_say_what_they_are() {
    let gateway = Keyring::default();
    let none = |_: &KeyHandle| Vec::new();
    let smime = mail(
        "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n",
        "MIAGCSqGSIb3DQEHA6CAMIACAQAxggFOMIIBSgIBADAyMCUxFjAUBgNVBAoTDUV4YW1w\r\n",
    );
    let e = open(&smime, &gateway, &none, &[], &Limits::default()).unwrap_err();
    assert!(matches!(e, OpenError::Smime(_)), "{e}");
    assert!(e.to_string().contains("encrypted with S/MIME"), "{e}");
    assert!(e.to_string().contains("OpenPGP"), "{e}");

    // Symmetric encryption only (a passphrase, no public key).
    let mut sink = Vec::new();
    {
        use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter};
        let m = Message::new(&mut sink);
        let m = Armorer::new(m).build().unwrap();
        let m = Encryptor::with_passwords(m, Some("hunter2"))
            .build()
            .unwrap();
        let mut w = LiteralWriter::new(m).build().unwrap();
        w.write_all(b"Title: XSS\r\n").unwrap();
        w.finalize().unwrap();
    }
    let skesk = mail("", &String::from_utf8_lossy(&sink));
    let e = open(&skesk, &gateway, &none, &[], &Limits::default()).unwrap_err();
    assert!(matches!(e, OpenError::PassphraseOnly), "{e}");
    assert!(!e.to_string().contains("corrupt"), "{e}");
}
