//! Issue 25, defect 4: text signatures (`gpg --textmode`, as KMail, Enigmail and
//! Mutt sign `multipart/signed`) are judged over the bytes GnuPG hashed, with GnuPG
//! the oracle for every spelling of line ends, and that way of hashing them still
//! fails a tampered entity, a wrong key, an expired or revoked key and a hash the
//! policy rejects. Defects 5 and 2 are in [`crate::layouts3_d`].

use crate::pipeline::{REPORT, Scene};
use crate::util::*;

/// KMail's signed entity with one file sent unencoded
/// (`Content-Transfer-Encoding: binary`): `payload` as it stands, CRs and all.
fn entity_with_file(payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "Content-Type: multipart/mixed; boundary=\"nextPart2385427.6jJxKc5n8Q\"\n\
         Content-Transfer-Encoding: 7Bit\n\
         \n\
         This is a multi-part message in MIME format.\n\
         \n\
         --nextPart2385427.6jJxKc5n8Q\n\
         Content-Transfer-Encoding: 7Bit\n\
         Content-Type: text/plain; charset=\"us-ascii\"\n\
         \n\
         {REPORT}\n\
         --nextPart2385427.6jJxKc5n8Q\n\
         Content-Disposition: attachment; filename=\"capture.bin\"\n\
         Content-Transfer-Encoding: binary\n\
         Content-Type: application/octet-stream; name=\"capture.bin\"\n\
         \n"
    )
    .replace('\n', "\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n--nextPart2385427.6jJxKc5n8Q--\r\n\r\n");
    out
}

/// A file whose bytes hold carriage returns that end no line, one before a CRLF,
/// and trailing spaces: everything GnuPG's and sequoia's text modes read apart.
fn tricky_payload() -> Vec<u8> {
    let mut p = Vec::new();
    for i in 0..40u8 {
        p.extend_from_slice(format!("rec {i}\rfield\tvalue  \r\r\n").as_bytes());
        p.extend((1..0x80u8).filter(|b| *b != b'\n').skip(usize::from(i)));
        p.extend_from_slice(b"\r\n");
    }
    p
}

/// A `multipart/signed` message (KMail's boundaries) whose first part is `delivered`
/// and whose signature is `signature`, from Alice.
fn signed_mail(s: &Scene, msgid: &str, delivered: &[u8], signature: &[u8]) -> Vec<u8> {
    signed_as(&s.headers(msgid, "XSS in search"), delivered, signature)
}

/// [`signed_mail`] with these headers.
pub(crate) fn signed_as(headers: &[(&str, &str)], delivered: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut h = headers.to_vec();
    h.push((
        "Content-Type",
        "multipart/signed; boundary=\"nextPart1797385.TEhJMD8jPC\"; micalg=\"pgp-sha256\"; protocol=\"application/pgp-signature\"",
    ));
    let mut raw = message(&h, "");
    raw.extend_from_slice(b"--nextPart1797385.TEhJMD8jPC\r\n");
    raw.extend_from_slice(delivered);
    raw.extend_from_slice(
        b"\r\n--nextPart1797385.TEhJMD8jPC\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n",
    );
    raw.extend_from_slice(String::from_utf8_lossy(signature).trim_end().as_bytes());
    raw.extend_from_slice(b"\r\n--nextPart1797385.TEhJMD8jPC--\r\n");
    raw
}

/// `gpg --textmode --detach-sign` of `signed` by `signer`, with `extra` options.
pub(crate) fn text_signature(gpg: &Gpg, signer: &str, extra: &[&str], signed: &[u8]) -> Vec<u8> {
    let mut args = vec![
        "--armor",
        "--textmode",
        "--detach-sign",
        "--local-user",
        signer,
    ];
    args.extend_from_slice(extra);
    gpg.run(&args, signed)
}

/// GnuPG's verdict on `signature` over `data`: "good", "bad" or "unknown_key" (the
/// names the gateway records), or anything else as GnuPG's status lines.
pub(crate) fn gnupg_verdict(gpg: &Gpg, data: &[u8], signature: &[u8]) -> String {
    let status = gpg.verify_detached(data, signature);
    if status.contains("[GNUPG:] GOODSIG") {
        "good".into()
    } else if status.contains("[GNUPG:] BADSIG") {
        "bad".into()
    } else if status.contains("[GNUPG:] NO_PUBKEY") {
        "unknown_key".into()
    } else {
        status
    }
}

/// The report made of the message with this Message-ID, in full.
pub(crate) fn report(s: &Scene, msgid: &str) -> serde_json::Value {
    let bare = msgid.trim_start_matches('<').trim_end_matches('>');
    let list = s.gw.reports();
    let r = list
        .iter()
        .find(|r| r["message_id"] == bare || r["message_id"] == msgid)
        .unwrap_or_else(|| {
            panic!(
                "no report of {msgid}: reports {list:?}, quarantine {:?}",
                s.gw.quarantine()
            )
        });
    s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"])
}

/// Replaces the first `from` in `bytes` after `after` with `to`.
pub(crate) fn replace_after(bytes: &[u8], after: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let start = find(bytes, after).unwrap() + after.len();
    let at = start + find(&bytes[start..], from).unwrap();
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    out
}

/// Defect 4: a text signature over a `multipart/signed` entity gets GnuPG's verdict
/// whatever its carriage returns: good over a file with lone CRs and CR CR LF (the
/// gateway said "bad"), bad when a lone CR was turned into a line end after signing
/// (the gateway said "good": sequoia reads both as the same line end), and alike
/// where both always agreed (trailing spaces kept, LF-only delivery).
#[test]
fn text_signatures_get_gnupgs_verdict_over_every_line_end() {
    let s = Scene::new();
    s.preload_alice();
    let payload = tricky_payload();
    let signed = entity_with_file(&payload);
    let lone_cr_to_crlf = entity_with_file(
        &String::from_utf8(payload.clone())
            .unwrap()
            .replacen("rec 3\rfield", "rec 3\r\nfield", 1)
            .into_bytes(),
    );
    let spaces_dropped = entity_with_file(
        &String::from_utf8(payload.clone())
            .unwrap()
            .replacen("value  \r\r\n", "value\r\r\n", 1)
            .into_bytes(),
    );
    // What a relay that stores mail with LF line ends delivers: every CRLF an LF,
    // the other CRs left alone.
    let lf_only = String::from_utf8(signed.clone())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let cases: Vec<(&str, &[u8], &str)> = vec![
        ("as signed", signed.as_slice(), "good"),
        (
            "a lone CR made a line end",
            lone_cr_to_crlf.as_slice(),
            "bad",
        ),
        ("trailing spaces dropped", spaces_dropped.as_slice(), "bad"),
        ("stored with LF line ends", lf_only.as_slice(), "good"),
    ];
    let signature = text_signature(&s.gpg, &s.alice, &[], &signed);
    for (i, (name, delivered, want)) in cases.iter().enumerate() {
        // GnuPG is the oracle: the expectation is its verdict over the entity as
        // it arrives, with line ends made CRLF as RFC 3156 says.
        let canonical = String::from_utf8(delivered.to_vec())
            .unwrap()
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        assert_eq!(
            gnupg_verdict(&s.gpg, canonical.as_bytes(), &signature),
            *want,
            "GnuPG, {name}"
        );
        let mut raw = signed_mail(
            &s,
            &format!("<text-{i}@example.net>"),
            delivered,
            &signature,
        );
        if *name == "stored with LF line ends" {
            raw = String::from_utf8(raw)
                .unwrap()
                .replace("\r\n", "\n")
                .into_bytes();
        }
        s.gw.deliver(&raw);
    }
    s.gw.run_once();
    for (i, (name, _, want)) in cases.iter().enumerate() {
        let full = report(&s, &format!("<text-{i}@example.net>"));
        assert_eq!(full["signature"], *want, "{name}: {full}");
        if *want == "good" {
            assert_eq!(full["signature_covers_all"], true, "{name}: {full}");
            assert_eq!(
                full["attachments"][0]["name"], "capture.bin",
                "{name}: {full}"
            );
        }
    }
}

/// Defect 4, the other side: hashing text signatures as GnuPG does weakens nothing.
/// Over the same entity with lone CRs (judged on the new path), each of these is
/// still bad: the entity tampered with after signing, a signature by Mallory
/// claiming (in its unhashed area) to be by Alice's key, a signature by a key that
/// had expired when it was made, one by a revoked key, and one over SHA-1, which
/// the policy rejects for signatures (GnuPG itself calls it good). The same entity
/// signed by Alice as she does is good, so each verdict is the new path's.
#[test]
fn text_signatures_over_lone_crs_still_fail_when_they_must() {
    use openpgp::packet::signature::subpacket::{Subpacket, SubpacketValue};
    use openpgp::parse::Parse;
    use openpgp::serialize::SerializeInto;
    use sequoia_openpgp as openpgp;

    let s = Scene::new();
    s.preload_alice();
    let signed = entity_with_file(&tricky_payload());
    let mut cases: Vec<(&str, Vec<u8>, Vec<u8>, &str)> = Vec::new();

    let good = text_signature(&s.gpg, &s.alice, &[], &signed);
    cases.push((
        "control: as Alice signs it",
        signed.clone(),
        good.clone(),
        "good",
    ));

    let tampered = replace_after(&signed, b"capture.bin", b"rec 7\rfield", b"rec 8\rfield");
    cases.push(("tampered after signing", tampered, good.clone(), "bad"));

    // Mallory signs, and names Alice's key as the issuer where no hash covers it.
    let mallory = s.gpg.gen_key("Mallory <mallory@example.com>");
    let forged = text_signature(&s.gpg, &mallory, &[], &signed);
    let alice_cert = openpgp::Cert::from_bytes(&s.gpg.export(&s.alice)).unwrap();
    let openpgp::Packet::Signature(mut sig) = openpgp::Packet::from_bytes(&forged).unwrap() else {
        panic!("gpg --detach-sign made a signature packet");
    };
    sig.unhashed_area_mut().clear();
    sig.unhashed_area_mut()
        .add(
            Subpacket::new(
                SubpacketValue::Issuer(alice_cert.primary_key().key().keyid()),
                false,
            )
            .unwrap(),
        )
        .unwrap();
    let bytes = openpgp::Packet::from(sig).to_vec().unwrap();
    let mut w = openpgp::armor::Writer::new(Vec::new(), openpgp::armor::Kind::Signature).unwrap();
    std::io::Write::write_all(&mut w, &bytes).unwrap();
    let forged = w.finalize().unwrap();
    cases.push((
        "Mallory's signature naming Alice's key",
        signed.clone(),
        forged,
        "bad",
    ));

    // A key that had expired when it signed: made ten days ago, it signs now, and
    // then a self-signature dated the hour after its creation gives it one day.
    let ten_days_ago = (chrono::Utc::now() - chrono::Duration::days(10))
        .format("%Y%m%dT%H%M%S!")
        .to_string();
    let hour_later = (chrono::Utc::now() - chrono::Duration::days(10) + chrono::Duration::hours(1))
        .format("%Y%m%dT%H%M%S!")
        .to_string();
    s.gpg.run(
        &[
            "--faked-system-time",
            &ten_days_ago,
            "--quick-gen-key",
            "Old Alice <old@example.net>",
            "ed25519",
            "sign",
            "never",
        ],
        b"",
    );
    let old = s.gpg.fingerprint("old@example.net");
    let by_old = text_signature(&s.gpg, &old, &[], &signed);
    s.gpg.run(
        &[
            "--faked-system-time",
            &hour_later,
            "--quick-set-expire",
            &old,
            "1d",
        ],
        b"",
    );
    cases.push((
        "a key expired before it signed",
        signed.clone(),
        by_old,
        "bad",
    ));

    // A revoked key: GnuPG's own revocation certificate, imported.
    let revoked = s.gpg.gen_key("Revoked <revoked@example.net>");
    let by_revoked = text_signature(&s.gpg, &revoked, &[], &signed);
    let rev_file = s
        .gpg
        .home
        .path()
        .join(format!("openpgp-revocs.d/{revoked}.rev"));
    let rev = std::fs::read_to_string(&rev_file).unwrap().replace(
        ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----",
    );
    s.gpg.run(&["--import"], rev.as_bytes());
    cases.push(("a revoked key", signed.clone(), by_revoked, "bad"));

    let sha1 = text_signature(&s.gpg, &s.alice, &["--digest-algo", "SHA1"], &signed);
    assert_eq!(gnupg_verdict(&s.gpg, &signed, &sha1), "good");
    cases.push((
        "SHA-1, which the policy rejects",
        signed.clone(),
        sha1,
        "bad",
    ));

    // The gateway holds every key involved except Mallory's, in its current state.
    for (name, fpr) in [("old", &old), ("revoked", &revoked)] {
        std::fs::write(
            s.gw.path(&format!("keys/reporters/{name}.asc")),
            s.gpg.export(fpr),
        )
        .unwrap();
    }
    for (i, (_, delivered, signature, _)) in cases.iter().enumerate() {
        s.gw.deliver(&signed_mail(
            &s,
            &format!("<guard-{i}@example.net>"),
            delivered,
            signature,
        ));
    }
    s.gw.run_once();
    for (i, (name, _, _, want)) in cases.iter().enumerate() {
        let full = report(&s, &format!("<guard-{i}@example.net>"));
        assert_eq!(full["signature"], *want, "{name}: {full}");
    }
}
