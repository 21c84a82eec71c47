//! Issue 25, defects 4, 5 and 2. Text signatures (`gpg --textmode`, as KMail, Enigmail
//! and Mutt sign `multipart/signed`) are judged over the bytes GnuPG hashed, with
//! GnuPG the oracle for every spelling of line ends, and that way of hashing them
//! still fails a tampered entity, a wrong key, an expired or revoked key and a hash
//! the policy rejects. A signature GnuPG calls BAD by a key the message carries in
//! its Autocrypt header (or attached) is bad in every layout that carries one,
//! including when the key is an old one bound with SHA-1 that the policy lets make
//! no good signature; one by a key the gateway truly lacks is unknown. Defect 2:
//! inline armor GnuPG reads (no blank line after the armor headers, no-break spaces
//! in the data) is decrypted, not quarantined as corrupt.

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
fn signed_as(headers: &[(&str, &str)], delivered: &[u8], signature: &[u8]) -> Vec<u8> {
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
fn text_signature(gpg: &Gpg, signer: &str, extra: &[&str], signed: &[u8]) -> Vec<u8> {
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
fn gnupg_verdict(gpg: &Gpg, data: &[u8], signature: &[u8]) -> String {
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
fn report(s: &Scene, msgid: &str) -> serde_json::Value {
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
fn replace_after(bytes: &[u8], after: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
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

/// The key `fpr` as an Autocrypt header for `addr`.
fn autocrypt_header(s: &Scene, fpr: &str, addr: &str) -> String {
    use base64::Engine as _;
    let binary = s.gpg.run(&["--export", fpr], b"");
    format!(
        "addr={addr}; prefer-encrypt=mutual; keydata={}",
        base64::engine::general_purpose::STANDARD.encode(binary)
    )
}

/// Alice's signed message over `inner` (`gpg --sign`, uncompressed, so its literal
/// data can be altered in place), with `from` changed to `to` in the literal data
/// after signing, then encrypted to the gateway without a new signature: what an
/// attacker who captured Alice's signed message and altered it sends on. GnuPG
/// calls the altered signed message BAD.
fn tampered_signed_then_encrypted(
    s: &Scene,
    signer: &str,
    inner: &[u8],
    from: &[u8],
    to: &[u8],
) -> Vec<u8> {
    use openpgp::parse::Parse;
    use openpgp::policy::StandardPolicy;
    use openpgp::serialize::Serialize;
    use openpgp::serialize::stream::{Armorer, Encryptor, Message};
    use sequoia_openpgp as openpgp;

    let signed = s.gpg.run(
        &["--sign", "--compress-algo", "none", "--local-user", signer],
        inner,
    );
    let at = find(&signed, from).expect("the literal data is stored as it stands");
    let mut altered = signed.clone();
    altered[at..at + from.len()].copy_from_slice(to);
    let dir = s.gpg.home.path();
    std::fs::write(dir.join("altered.gpg"), &altered).unwrap();
    let out = s.gpg.try_run(
        &[
            "--status-fd",
            "1",
            "--verify",
            dir.join("altered.gpg").to_str().unwrap(),
        ],
        b"",
    );
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("[GNUPG:] BADSIG"), "{status}");

    let pile = openpgp::PacketPile::from_bytes(&altered).unwrap();
    let gateway =
        openpgp::Cert::from_bytes(&std::fs::read(s.gw.public_key_path()).unwrap()).unwrap();
    let policy = StandardPolicy::new();
    let recipients = gateway
        .keys()
        .with_policy(&policy, None)
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption();
    let mut sink = Vec::new();
    let message = Armorer::new(Message::new(&mut sink)).build().unwrap();
    let mut message = Encryptor::for_recipients(message, recipients)
        .build()
        .unwrap();
    for p in pile.into_children() {
        p.serialize(&mut message).unwrap();
    }
    message.finalize().unwrap();
    sink
}

/// Defect 5: a signature GnuPG calls BAD, by a key the message carries only in its
/// Autocrypt header, is recorded as bad, in every layout that carries such a
/// signature: signed inside PGP/MIME encryption, the same as an inline armored
/// message, and Delta Chat's layout (Autocrypt outside, Autocrypt-Gossip and
/// protected headers inside the encryption). And a signature by a key the gateway
/// truly lacks still says unknown_key.
#[test]
fn a_bad_signature_by_an_autocrypt_key_is_bad_in_every_layout() {
    let s = Scene::new();
    let autocrypt = autocrypt_header(&s, &s.alice, "alice@example.net");
    let plain = crate::pipeline::entity(Some("SQL injection in login form"), REPORT, &[]);
    let gossip = format!(
        "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\n\
         Subject: SQL injection in login form\r\n\
         Autocrypt-Gossip: addr=bob@example.org; keydata={}\r\n\
         \r\n{}",
        autocrypt.split("keydata=").nth(1).unwrap(),
        REPORT.replace('\n', "\r\n")
    );
    // First a signature by a key the gateway truly lacks: unknown_key.
    let armored = tampered_signed_then_encrypted(&s, &s.alice, &plain, b"SQL query", b"XQL query");
    s.gw.deliver(&crate::pipeline::pgp_mime_encrypted(
        &s.headers("<no-key@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let full = report(&s, "<no-key@example.net>");
    assert_eq!(full["signature"], "unknown_key", "{full}");

    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, inner) in [
        ("PGP/MIME", plain.clone()),
        ("Delta Chat", gossip.into_bytes()),
    ] {
        let armored =
            tampered_signed_then_encrypted(&s, &s.alice, &inner, b"SQL query", b"XQL query");
        let msgid = format!("<ac-{}@example.net>", cases.len());
        let mut h = s.headers(&msgid, "...");
        h.push(("Autocrypt", &autocrypt));
        cases.push((name, crate::pipeline::pgp_mime_encrypted(&h, &armored)));
    }
    let armored =
        tampered_signed_then_encrypted(&s, &s.alice, REPORT.as_bytes(), b"SQL query", b"XQL query");
    let msgid = format!("<ac-{}@example.net>", cases.len());
    let mut h = s.headers(&msgid, "SQL injection in login form");
    h.push(("Autocrypt", &autocrypt));
    h.push(("Content-Type", "text/plain; charset=us-ascii"));
    cases.push(("inline", message(&h, &String::from_utf8(armored).unwrap())));
    for (_, raw) in &cases {
        s.gw.deliver(raw);
    }
    s.gw.run_once();
    for (i, (name, _)) in cases.iter().enumerate() {
        let full = report(&s, &format!("<ac-{i}@example.net>"));
        assert_eq!(full["signature"], "bad", "{name}: {full}");
        assert_eq!(
            full["signer_fingerprint"],
            s.alice.as_str(),
            "{name}: {full}"
        );
        assert!(
            full["body"].as_str().unwrap().contains("XQL query"),
            "{name}: {full}"
        );
    }
}

/// Defect 5 with an older client's key, bound to its user ID by a SHA-1
/// self-signature (`gpg --cert-digest-algo SHA1`, as keys made before GnuPG 2.2
/// are, and as mail clients' own test keys are). The policy lets no such key sign,
/// so the gateway said `unknown_key` for every signature by it, even with the key
/// in the Autocrypt header and the message altered, which GnuPG (still reading the
/// key) calls BAD. A signature that does not verify with the very key its issuer
/// fingerprint names is bad: signed and encrypted (PGP/MIME and inline) and
/// `multipart/signed`, the key in the Autocrypt header or attached. The unaltered
/// message's signature, which the gateway cannot call good, is still no more than
/// unknown.
#[test]
fn a_bad_signature_by_an_old_sha1_bound_key_the_message_carries_is_bad() {
    let s = Scene::new();
    s.gpg.run(
        &[
            "--cert-digest-algo",
            "SHA1",
            "--quick-gen-key",
            "Carol Old <carol@example.net>",
            "rsa2048",
            "sign",
            "never",
        ],
        b"",
    );
    let carol = s.gpg.fingerprint("carol@example.net");
    let autocrypt = autocrypt_header(&s, &carol, "carol@example.net");
    let headers = |msgid: &'static str, ac: bool| {
        let mut h = s.headers(msgid, "SQL injection in login form");
        h[0] = ("From", "Carol Old <carol@example.net>");
        if ac {
            h.push(("Autocrypt", autocrypt.as_str()));
        }
        h
    };
    let plain = crate::pipeline::entity(None, REPORT, &[]);
    let with_key = crate::pipeline::entity(
        None,
        REPORT,
        &[("carol.asc", "application/pgp-keys", &s.gpg.export(&carol))],
    );
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();

    let armored = tampered_signed_then_encrypted(&s, &carol, &plain, b"SQL query", b"XQL query");
    let raw = crate::pipeline::pgp_mime_encrypted(&headers("<old-0@example.net>", true), &armored);
    cases.push(("PGP/MIME, Autocrypt", raw, "bad"));

    let armored = tampered_signed_then_encrypted(&s, &carol, &with_key, b"SQL query", b"XQL query");
    let raw = crate::pipeline::pgp_mime_encrypted(&headers("<old-1@example.net>", false), &armored);
    cases.push(("PGP/MIME, key attached inside", raw, "bad"));

    let armored =
        tampered_signed_then_encrypted(&s, &carol, REPORT.as_bytes(), b"SQL query", b"XQL query");
    let mut h = headers("<old-2@example.net>", true);
    h.push(("Content-Type", "text/plain; charset=us-ascii"));
    cases.push((
        "inline, Autocrypt",
        message(&h, &String::from_utf8(armored).unwrap()),
        "bad",
    ));

    let signature = text_signature(&s.gpg, &carol, &[], &plain);
    let altered = replace_after(&plain, b"Description", b"SQL query", b"XQL query");
    assert_eq!(gnupg_verdict(&s.gpg, &altered, &signature), "bad");
    let raw = signed_as(&headers("<old-3@example.net>", true), &altered, &signature);
    cases.push(("multipart/signed, Autocrypt", raw, "bad"));

    assert_eq!(gnupg_verdict(&s.gpg, &plain, &signature), "good");
    let raw = signed_as(&headers("<old-4@example.net>", true), &plain, &signature);
    cases.push(("multipart/signed, unaltered", raw, "unknown_key"));

    for (_, raw, _) in &cases {
        s.gw.deliver(raw);
    }
    s.gw.run_once();
    for (i, (name, _, want)) in cases.iter().enumerate() {
        let full = report(&s, &format!("<old-{i}@example.net>"));
        assert_eq!(full["signature"], *want, "{name}: {full}");
        if *want == "bad" {
            assert_eq!(full["signer_fingerprint"], carol.as_str(), "{name}: {full}");
            assert!(full["proven_key"].is_null(), "{name}: {full}");
        }
    }
}

/// Defect 2, the layouts found: inline armor with CRLF line ends that GnuPG reads
/// and sequoia's armor reader did not, quarantined as corrupt. KMail's armor (a
/// `Version:` and a `Comment:` header, sign and encrypt) in a `text/plain` part
/// with CRLF line ends, (a) with the blank line after the armor headers gone, as
/// mailers and relays that drop blank lines leave it, (b) with a no-break space at
/// the end of every other line, UTF-8 in an 8bit part and ISO-8859-15 in a
/// quoted-printable one (`=A0`), (c) in a part labelled quoted-printable whose `=`
/// were never escaped: the last data line's single padding `=` and its CRLF decode
/// as a soft line break, joining the checksum to the data, which the gateway
/// quarantined as "the encrypted data is corrupt or truncated (Malformed packet:
/// Truncated packet)", the reason issue 25 quotes. GnuPG decrypts each as a mail
/// reader decodes it; so must the gateway, with Alice's good signature. The END
/// line glued to the checksum or to the data (which the gateway always read) stays
/// read.
#[test]
fn inline_armor_gnupg_reads_is_decrypted() {
    let s = Scene::new();
    s.preload_alice();
    // An armor whose last line of data ends in one padding character (a third of
    // them do; the report's length decides): quoted-printable takes that `=` and the
    // line break after it for a soft line break.
    let (report_text, armored) = (0..60)
        .find_map(|pad| {
            let text = format!("{REPORT}{}", " ".repeat(pad));
            let armored = String::from_utf8(s.gpg.run(
                &[
                    "--armor",
                    "--emit-version",
                    "--comment",
                    "Using GnuPG with KMail",
                    "--encrypt",
                    "--recipient",
                    &s.gateway_fpr,
                    "--recipient",
                    &s.alice,
                    "--sign",
                    "--local-user",
                    &s.alice,
                ],
                text.as_bytes(),
            ))
            .unwrap();
            let lines: Vec<&str> = armored.lines().collect();
            let last_data = lines[lines.len() - 3];
            (last_data.ends_with('=') && !last_data.ends_with("==")).then_some((text, armored))
        })
        .expect("an armor with one padding character within 60 lengths");
    let lines: Vec<&str> = armored.lines().collect();
    assert_eq!(lines[3], "", "{armored}");
    let no_blank: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, l)| format!("{l}\r\n"))
        .collect();
    let with_nbsp = |nbsp: &str| -> String {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let data = i > 3 && !l.starts_with('-') && !l.starts_with('=');
                if data && i % 2 == 0 {
                    format!("{l}{nbsp}\r\n")
                } else {
                    format!("{l}\r\n")
                }
            })
            .collect()
    };
    let utf8 = with_nbsp("\u{a0}");
    let latin9: Vec<u8> = with_nbsp("\u{a0}")
        .chars()
        .map(|c| if c == '\u{a0}' { 0xa0 } else { c as u8 })
        .collect();
    // Quoted-printable: every `=` of the armor escaped, the no-break space `=A0`.
    let qp = with_nbsp("\u{a0}")
        .replace('=', "=3D")
        .replace('\u{a0}', "=A0");
    let crlf_armor: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
    // The END line glued to the checksum line, and to the last data line with the
    // checksum gone.
    let n = lines.len();
    let glued_crc: String = lines[..n - 2]
        .iter()
        .map(|l| format!("{l}\r\n"))
        .chain([format!("{}{}\r\n", lines[n - 2], lines[n - 1])])
        .collect();
    let glued_data: String = lines[..n - 3]
        .iter()
        .map(|l| format!("{l}\r\n"))
        .chain([format!("{}{}\r\n", lines[n - 3], lines[n - 1])])
        .collect();
    // Name, Content-Type, transfer encoding, the body as sent, and as decoded.
    type Case = (&'static str, &'static str, &'static str, Vec<u8>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "no blank line after the armor headers",
            "text/plain; charset=\"us-ascii\"",
            "7Bit",
            no_blank.clone().into_bytes(),
            no_blank.into_bytes(),
        ),
        (
            "no-break spaces, UTF-8, 8bit",
            "text/plain; charset=\"utf-8\"",
            "8Bit",
            utf8.clone().into_bytes(),
            utf8.into_bytes(),
        ),
        (
            "no-break spaces, ISO-8859-15, quoted-printable",
            "text/plain; charset=\"iso-8859-15\"",
            "quoted-printable",
            qp.into_bytes(),
            latin9,
        ),
        (
            "labelled quoted-printable, nothing escaped",
            "text/plain; charset=\"us-ascii\"",
            "quoted-printable",
            crlf_armor.clone().into_bytes(),
            qp_decode(crlf_armor.as_bytes()).into_bytes(),
        ),
        (
            "END glued to the checksum",
            "text/plain; charset=\"us-ascii\"",
            "7Bit",
            glued_crc.clone().into_bytes(),
            glued_crc.into_bytes(),
        ),
        (
            "END glued to the data, no checksum",
            "text/plain; charset=\"us-ascii\"",
            "7Bit",
            glued_data.clone().into_bytes(),
            glued_data.into_bytes(),
        ),
    ];
    for (i, (name, ct, cte, body, decoded)) in cases.iter().enumerate() {
        // GnuPG warns of the missing blank line (exit status 2) and decrypts all
        // the same: its plaintext and its DECRYPTION_OKAY and GOODSIG say so.
        let (status, plain, _) = s.gpg.decrypt(decoded);
        assert!(
            plain == report_text.as_bytes()
                && status.contains("[GNUPG:] DECRYPTION_OKAY")
                && status.contains("[GNUPG:] GOODSIG"),
            "GnuPG, {name}: {status}"
        );
        let msgid = format!("<armor-{i}@example.net>");
        let mut h = s.headers(&msgid, "SQL injection in login form");
        h.push(("Content-Type", ct));
        h.push(("Content-Transfer-Encoding", cte));
        let mut raw = message(&h, "");
        raw.extend_from_slice(body);
        s.gw.deliver(&raw);
    }
    s.gw.run_once();
    for (i, (name, ..)) in cases.iter().enumerate() {
        let full = report(&s, &format!("<armor-{i}@example.net>"));
        assert_eq!(full["encrypted"], true, "{name}: {full}");
        assert_eq!(full["signature"], "good", "{name}: {full}");
        assert!(
            full["body"].as_str().unwrap().contains("SQL query"),
            "{name}: {full}"
        );
    }
}
