//! Issue 25, defects 5 and 2. A signature GnuPG calls BAD by a key the message
//! carries in its Autocrypt header (or attached) is bad in every layout that carries
//! one, including when the key is an old one bound with SHA-1 that the policy lets
//! make no good signature; one by a key the gateway truly lacks is unknown. Inline
//! armor GnuPG reads (no blank line after the armor headers, no-break spaces in the
//! data, CRLF armor labelled quoted-printable but never escaped, the END line glued
//! to the line before it) is decrypted, not quarantined as corrupt.

use crate::layouts3_c::{gnupg_verdict, replace_after, report, signed_as, text_signature};
use crate::pipeline::{REPORT, Scene};
use crate::trust_mail::encrypt_packets_to;
use crate::util::*;

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
    let packets: Vec<openpgp::Packet> = pile.into_children().collect();
    encrypt_packets_to(&s.gw, &packets)
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
