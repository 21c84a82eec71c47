//! Every layout real clients, providers and lists produce (issue 15), made with GnuPG
//! (and OpenSSL for S/MIME) in the same MIME structure as the public test corpora:
//! Thunderbird's `mail/test/browser/openpgp/data/eml/` (mozilla/releases-comm-central)
//! and notmuch's `test/corpora/mangling/mixed-up.eml`; each test names the file it
//! follows. The corpora's own files are encrypted to their projects' test keys, so
//! they are reproduced here rather than copied. Each test runs the real binary and
//! checks the report's body text, signature verdict, protected Subject and
//! attachments, and the answer.

use crate::pipeline::{REPORT, Scene, entity, pgp_mime_encrypted};
use crate::util::*;

const POC: &[u8] = b"import requests\nrequests.post('/login', data={'user': \"' OR 1=1 --\"})\n";

/// Alice's report as PGP/MIME plaintext: a protected Subject, the report, a proof of
/// concept and her key, all signed by her inside the encryption.
fn signed_encrypted(s: &Scene) -> String {
    let key = s.gpg.export(&s.alice);
    let inner = entity(
        Some("SQL injection in login form"),
        REPORT,
        &[
            ("poc.py", "text/x-python", POC),
            ("alice.asc", "application/pgp-keys", &key),
        ],
    );
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    String::from_utf8(armored).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    // 76-column lines, as mailers write them.
    text.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A message with Alice's headers, a top-level Content-Type and this body.
fn mail(s: &Scene, msgid: &str, subject: &str, content_type: &str, body: &str) -> Vec<u8> {
    let mut h = s.headers(msgid, subject);
    h.push(("Content-Type", content_type));
    message(&h, body)
}

/// The RFC 3156 multipart/encrypted entity (with its own Content-Type header).
fn encrypted_entity(armored: &str) -> String {
    format!(
        "Content-Type: multipart/encrypted;\r\n protocol=\"application/pgp-encrypted\";\r\n boundary=\"PAOkQ1PqAvtLhLyH\"\r\n\r\nThis is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--PAOkQ1PqAvtLhLyH\r\nContent-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n--PAOkQ1PqAvtLhLyH\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\nContent-Description: OpenPGP encrypted message\r\nContent-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n{}\r\n\r\n--PAOkQ1PqAvtLhLyH--\r\n",
        armored
            .trim_end()
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
    )
}

/// An S/MIME signature made by OpenSSL over `entity`, as the whole message body with
/// its Content-Type: (content type, body).
fn smime_signed(entity: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Alice/emailAddress=alice@example.net",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
        b"",
    );
    let signed = openssl(
        &[
            "smime",
            "-sign",
            "-binary",
            "-signer",
            cert.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
        ],
        entity.as_bytes(),
    );
    split_head(&String::from_utf8(signed).unwrap())
}

/// Runs openssl; panics with its stderr on failure.
fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The Content-Type and the body of an entity OpenSSL wrote (its other headers
/// dropped; the message gets Alice's).
fn split_head(text: &str) -> (String, String) {
    let text = text.replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap();
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    let ct = unfolded
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap()
        .to_string();
    (ct, body.to_string())
}

/// The report made of the message with this Message-ID, in full.
fn report(s: &Scene, msgid: &str) -> serde_json::Value {
    let list = s.gw.reports();
    let r = list
        .iter()
        .find(|r| r["message_id"] == msgid)
        .unwrap_or_else(|| panic!("no report of {msgid}: {list:?}"));
    s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"])
}

/// The one answer to Alice.
fn answer(s: &Scene) -> Vec<u8> {
    let out: Vec<_> =
        s.gw.outbox()
            .into_iter()
            .filter(|m| header(m, "To").as_deref() == Some("alice@example.net"))
            .collect();
    assert_eq!(out.len(), 1, "one answer to Alice");
    out.into_iter().next().unwrap()
}

/// An answer encrypted to Alice and signed by the gateway that quotes the report.
fn assert_encrypted_answer(s: &Scene) {
    let ack = answer(s);
    let ct = header(&ack, "Content-Type").unwrap();
    assert!(ct.starts_with("multipart/encrypted"), "{ct}");
    let (status, plain, ok) = s.gpg.decrypt(&armored_block(&ack));
    assert!(ok && status.contains("VALIDSIG"), "{status}");
    let plain = qp_decode(&plain);
    assert!(
        plain.contains("Title: SQL injection in login form"),
        "{plain}"
    );
}

/// An answer signed by the gateway that repeats nothing of the report.
fn assert_content_free_answer(s: &Scene) {
    let ack = answer(s);
    let text = assert_signed_by(&s.gpg, &ack, &s.gateway_fpr);
    assert!(text.contains("repeats nothing of your report"), "{text}");
    assert!(!text.contains("SQL injection"), "{text}");
}

/// The report's body is the report, not MIME source or armor.
fn assert_body_is_the_report(full: &serde_json::Value) {
    let body = full["body"].as_str().unwrap();
    assert!(
        body.contains("Title: SQL injection in login form"),
        "{body}"
    );
    assert!(
        body.contains("Anyone can read the whole user table."),
        "{body}"
    );
    for raw in ["Content-Type", "BEGIN PGP", "--inner-b", "Version: 1"] {
        assert!(!body.contains(raw), "{raw:?} in the body: {body}");
    }
}

fn attachment_names(full: &serde_json::Value) -> Vec<String> {
    full["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Checks a report that was signed inside the encryption over all it says.
fn assert_proven_encrypted_report(s: &Scene, msgid: &str) {
    let full = report(s, msgid);
    assert_body_is_the_report(&full);
    assert_eq!(full["encrypted"], true, "{full}");
    assert_eq!(full["signature"], "good", "{full}");
    assert_eq!(full["signature_covers_all"], true, "{full}");
    assert_eq!(full["proven_key"], s.alice.as_str(), "{full}");
    assert_eq!(full["subject"], "SQL injection in login form", "{full}");
    assert_eq!(full["form"], "pgp_mime", "{full}");
    assert_eq!(attachment_names(&full), ["poc.py"], "{full}");
    assert_encrypted_answer(s);
}

// Exchange Online and Google Workspace rewrite multipart/encrypted into
// multipart/mixed: an empty text part, the version part and the encrypted part as
// attachments (Thunderbird's alice-broken-exchange.eml, notmuch's mixed-up.eml).
#[test]
fn exchange_mixed_up_layout_is_repaired_and_read_as_pgp_mime() {
    let s = Scene::new();
    let armored = signed_encrypted(&s);
    let exchange = format!(
        "--_003_38fbdabc0a957344_\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\r\n--_003_38fbdabc0a957344_\r\nContent-Type: application/pgp-encrypted; name=\"PGPMIME version identification\"\r\nContent-Description: PGP/MIME version identification\r\nContent-Disposition: attachment; filename=\"PGPMIME version identification\";\r\n\tsize=12\r\nContent-Transfer-Encoding: base64\r\n\r\nVmVyc2lvbjogMQ0K\r\n\r\n--_003_38fbdabc0a957344_\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\nContent-Description: OpenPGP encrypted message.asc\r\nContent-Disposition: attachment; filename=\"encrypted.asc\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\r\n--_003_38fbdabc0a957344_--\r\n",
        b64(armored.as_bytes())
    );
    s.gw.deliver(&mail(
        &s,
        "<x1@example.net>",
        "...",
        "multipart/mixed;\r\n\tboundary=\"_003_38fbdabc0a957344_\"",
        &exchange,
    ));
    s.gw.run_once();
    assert_proven_encrypted_report(&s, "x1@example.net");
}

#[test]
fn mixed_up_layout_without_file_names_is_repaired_too() {
    let s = Scene::new();
    let armored = signed_encrypted(&s);
    // notmuch's mixed-up.eml: the same three parts, no names or dispositions.
    let body = format!(
        "--=-=-=\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\r\n--=-=-=\r\nContent-Type: application/pgp-encrypted\r\nContent-Transfer-Encoding: base64\r\n\r\nVmVyc2lvbjogMQ0K\r\n\r\n--=-=-=\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--=-=-=--\r\n",
        b64(armored.as_bytes())
    );
    s.gw.deliver(&mail(
        &s,
        "<x2@example.net>",
        "...",
        "multipart/mixed; boundary=\"=-=-=\"",
        &body,
    ));
    s.gw.run_once();
    assert_proven_encrypted_report(&s, "x2@example.net");
}

// A relay (a mailing list, a corporate disclaimer rule) appends a footer part after
// the encrypted part. The report is read, but the footer was added by someone, so
// the signature does not cover all and proves nothing: the answer is content-free.
#[test]
fn footer_after_the_encrypted_part_is_read_and_not_covered() {
    let s = Scene::new();
    let armored = signed_encrypted(&s);
    let body = format!(
        "--===============5120840899925357875==\r\n{}\r\n--===============5120840899925357875==\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 7bit\r\nContent-Disposition: inline\r\n\r\n_______________________________________________\r\nSecurity mailing list\r\nhttps://example.com/mailman/listinfo/security\r\n\r\n--===============5120840899925357875==--\r\n",
        encrypted_entity(&armored)
    );
    s.gw.deliver(&mail(
        &s,
        "<x3@example.net>",
        "...",
        "multipart/mixed; boundary=\"===============5120840899925357875==\"",
        &body,
    ));
    s.gw.run_once();
    let full = report(&s, "x3@example.net");
    assert_body_is_the_report(&full);
    assert!(
        full["body"]
            .as_str()
            .unwrap()
            .contains("Security mailing list")
    );
    assert_eq!(full["encrypted"], true);
    assert_eq!(full["signature"], "good");
    assert_eq!(full["signature_covers_all"], false, "{full}");
    assert!(full["proven_key"].is_null(), "{full}");
    assert_eq!(full["subject"], "SQL injection in login form");
    assert_eq!(attachment_names(&full), ["poc.py"]);
    assert_content_free_answer(&s);
}

// Thunderbird's outer-smime-bad-sig-inner-pgp-enc-sig.eml: an S/MIME signature (we
// cannot check it, and it says nothing of an OpenPGP key) around the encrypted part,
// which Alice signed inside.
#[test]
fn smime_signature_around_the_encrypted_part() {
    let s = Scene::new();
    let (ct, body) = smime_signed(&encrypted_entity(&signed_encrypted(&s)));
    assert!(ct.contains("pkcs7-signature"), "{ct}");
    s.gw.deliver(&mail(&s, "<x4@example.net>", "...", &ct, &body));
    s.gw.run_once();
    assert_proven_encrypted_report(&s, "x4@example.net");
}

// Thunderbird's outer-pgp-sig-inner-pgp-enc-sig.eml: Alice's OpenPGP signature
// outside around the encrypted part she also signed inside. Only the inner one
// proves her key; the outer one is good too.
#[test]
fn openpgp_signature_around_the_encrypted_part() {
    let s = Scene::new();
    let entity = encrypted_entity(&signed_encrypted(&s));
    let sig = s.gpg.detach_sign(&s.alice, entity.as_bytes());
    let mut body = b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n".to_vec();
    body.extend(crate::pipeline::pgp_mime_signed(entity.as_bytes(), &sig));
    let mut h = s.headers("<x5@example.net>", "...");
    let ct = "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"sig-b\"";
    h.push(("Content-Type", ct));
    let mut raw = message(&h, "");
    raw.extend(body);
    s.gw.deliver(&raw);
    s.gw.run_once();
    assert_proven_encrypted_report(&s, "x5@example.net");
}

/// A signed-only report as Thunderbird writes it (protected headers in the signed
/// entity), as `multipart/signed` with its own Content-Type header.
fn signed_entity(s: &Scene, text: &str) -> (String, Vec<u8>) {
    let inner = format!(
        "Content-Type: multipart/mixed; boundary=\"oIVAE9YPgX7lo5ko\";\r\n protected-headers=\"v1\"\r\nFrom: Alice Example <alice@example.net>\r\nSubject: SQL injection in login form\r\n\r\n--oIVAE9YPgX7lo5ko\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{}\r\n--oIVAE9YPgX7lo5ko\r\nContent-Type: text/x-python; name=\"poc.py\"\r\nContent-Disposition: attachment; filename=\"poc.py\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--oIVAE9YPgX7lo5ko--\r\n",
        text.replace('\n', "\r\n"),
        b64(POC)
    );
    let sig = s.gpg.detach_sign(&s.alice, inner.as_bytes());
    let signed = format!(
        "Content-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol=\"application/pgp-signature\";\r\n boundary=\"hUAWHTUaWZ5wnWnH\"\r\n\r\nThis is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--hUAWHTUaWZ5wnWnH\r\n{inner}\r\n--hUAWHTUaWZ5wnWnH\r\nContent-Type: application/pgp-signature; name=\"OpenPGP_signature.asc\"\r\nContent-Description: OpenPGP digital signature\r\nContent-Disposition: attachment; filename=\"OpenPGP_signature\"\r\n\r\n{}\r\n--hUAWHTUaWZ5wnWnH--\r\n",
        String::from_utf8_lossy(&sig)
            .trim_end()
            .replace('\n', "\r\n")
    );
    (signed, sig)
}

/// `signed` inside multipart/mixed with a Mailman footer after it.
fn with_footer(s: &Scene, msgid: &str, signed: &str) -> Vec<u8> {
    let body = format!(
        "--===============512084==\r\n{signed}\r\n--===============512084==\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\nContent-Disposition: inline\r\n\r\n_______________________________________________\r\nSecurity mailing list\r\n\r\n--===============512084==--\r\n"
    );
    mail(
        s,
        msgid,
        "Report",
        "multipart/mixed; boundary=\"===============512084==\"",
        &body,
    )
}

// Thunderbird's signed-with-mailman-footer.eml: the signed entity is not the root.
// It is verified (good), the footer outside it means it covers only part.
#[test]
fn signed_part_beside_a_list_footer_is_verified_and_covers_only_part() {
    let s = Scene::new();
    s.preload_alice();
    let (signed, _) = signed_entity(&s, REPORT);
    s.gw.deliver(&with_footer(&s, "<x6@example.net>", &signed));
    s.gw.run_once();
    let full = report(&s, "x6@example.net");
    assert_body_is_the_report(&full);
    assert_eq!(full["encrypted"], false);
    assert_eq!(full["signature"], "good", "{full}");
    assert_eq!(full["signer_fingerprint"], s.alice.as_str());
    assert_eq!(full["signature_covers_all"], false, "{full}");
    assert!(full["proven_key"].is_null(), "{full}");
    assert_eq!(full["subject"], "SQL injection in login form");
    assert_eq!(attachment_names(&full), ["poc.py"]);
    assert_content_free_answer(&s);
}

// A signature that does not match is "bad" wherever it sits: beside a footer, and
// inside an S/MIME signature.
#[test]
fn a_bad_signature_is_bad_wherever_it_sits() {
    let s = Scene::new();
    s.preload_alice();
    let (signed, _) = signed_entity(&s, REPORT);
    let tampered = signed.replace("Anyone can read", "Nobody can read");
    assert_ne!(tampered, signed);
    s.gw.deliver(&with_footer(&s, "<x7@example.net>", &tampered));
    let (ct, body) = smime_signed(&tampered);
    s.gw.deliver(&mail(&s, "<x8@example.net>", "Report", &ct, &body));
    s.gw.run_once();
    for msgid in ["x7@example.net", "x8@example.net"] {
        let full = report(&s, msgid);
        assert_eq!(full["signature"], "bad", "{msgid}: {full}");
        assert!(full["proven_key"].is_null(), "{msgid}");
        assert!(full["body"].as_str().unwrap().contains("Nobody can read"));
    }
}

// A signed-only report wrapped in an S/MIME signature (a client that signs with both):
// the OpenPGP signature is verified and covers everything, so it proves Alice's key.
#[test]
fn signed_part_inside_an_smime_signature_is_verified() {
    let s = Scene::new();
    s.preload_alice();
    let (signed, _) = signed_entity(&s, REPORT);
    let (ct, body) = smime_signed(&signed);
    s.gw.deliver(&mail(&s, "<x9@example.net>", "Report", &ct, &body));
    s.gw.run_once();
    let full = report(&s, "x9@example.net");
    assert_body_is_the_report(&full);
    assert_eq!(full["signature"], "good", "{full}");
    assert_eq!(full["signature_covers_all"], true, "{full}");
    assert_eq!(full["proven_key"], s.alice.as_str());
    assert_eq!(full["subject"], "SQL injection in login form");
    assert_eq!(attachment_names(&full), ["poc.py"]);
    assert_encrypted_answer(&s);
}

// Thunderbird's partial-encrypt-for-alice-html.eml: three text/html parts, the
// middle one an armored message. Every part is kept, the middle one decrypted.
#[test]
fn partially_encrypted_html_keeps_every_part_and_decrypts_the_armor() {
    let s = Scene::new();
    s.preload_alice();
    let armored = s
        .gpg
        .encrypt(&s.gateway_fpr, Some(&s.alice), REPORT.as_bytes());
    let body = format!(
        "--32989E6E4C7AEB77\r\nContent-Type: text/html; charset=utf-8\r\n\r\nprefix\r\n\r\n--32989E6E4C7AEB77\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}\r\n\r\n--32989E6E4C7AEB77\r\nContent-Type: text/html; charset=utf-8\r\n\r\nsuffix\r\n\r\n--32989E6E4C7AEB77--\r\n",
        String::from_utf8_lossy(&armored).trim_end()
    );
    s.gw.deliver(&mail(
        &s,
        "<x10@example.net>",
        "Report",
        "multipart/mixed; boundary=\"32989E6E4C7AEB77\"",
        &body,
    ));
    s.gw.run_once();
    let full = report(&s, "x10@example.net");
    let text = full["body"].as_str().unwrap();
    let (p, r, x) = (
        text.find("prefix").unwrap(),
        text.find("Title: SQL injection").unwrap(),
        text.find("suffix").unwrap(),
    );
    assert!(p < r && r < x, "in order: {text}");
    assert!(!text.contains("BEGIN PGP"), "{text}");
    assert_eq!(full["encrypted"], true);
    assert_eq!(full["signature"], "good");
    assert_eq!(full["signature_covers_all"], false);
    assert!(full["proven_key"].is_null());
    assert_content_free_answer(&s);
}

// Thunderbird's bob-enc-html-nbsp.eml (written by Outlook): the armor in an HTML
// body, one <div> per line, quoted-printable, with &nbsp; and &#43; in it.
#[test]
fn armor_in_an_outlook_html_body_is_decrypted() {
    let s = Scene::new();
    let key = s.gpg.export(&s.alice);
    let inner = entity(
        Some("SQL injection in login form"),
        REPORT,
        &[
            ("poc.py", "text/x-python", POC),
            ("alice.asc", "application/pgp-keys", &key),
        ],
    );
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    let divs: String = String::from_utf8_lossy(&armored)
        .lines()
        .map(|l| match l {
            "" => "<div>&nbsp;</div>\n".to_string(),
            l => format!("<div>{}</div>\n", l.replace('+', "&#43;")),
        })
        .collect();
    let html = format!(
        "<html>\n<head>\n<style><!-- .EmailQuote {{ margin-left: 1pt; }} --></style>\n</head>\n<body>\n<font face=\"Arial\" size=\"2\"><span style=\"font-size:10pt;\">\n{divs}<div>&nbsp;</div>\n</span></font>\n</body>\n</html>\n"
    );
    let qp: String = html
        .replace('=', "=3D")
        .lines()
        .flat_map(|l| {
            // Soft line breaks at 70 columns, as Outlook's quoted-printable has them.
            let chars: Vec<char> = l.chars().collect();
            let pieces: Vec<String> = chars.chunks(70).map(|c| c.iter().collect()).collect();
            let n = pieces.len();
            pieces.into_iter().enumerate().map(move |(i, p)| {
                if i + 1 < n {
                    format!("{p}=\n")
                } else {
                    format!("{p}\n")
                }
            })
        })
        .collect();
    let mut h = s.headers("<x11@example.net>", "...");
    h.push(("Content-Type", "text/html; charset=\"us-ascii\""));
    h.push(("Content-Transfer-Encoding", "quoted-printable"));
    s.gw.deliver(&message(&h, &qp));
    s.gw.run_once();
    let full = report(&s, "x11@example.net");
    assert_body_is_the_report(&full);
    assert_eq!(full["encrypted"], true);
    assert_eq!(full["signature"], "good", "{full}");
    assert_eq!(full["signature_covers_all"], true, "{full}");
    assert_eq!(full["proven_key"], s.alice.as_str());
    assert_eq!(full["subject"], "SQL injection in login form");
    assert_eq!(attachment_names(&full), ["poc.py"]);
    assert_encrypted_answer(&s);
}

// Thunderbird's partial-signed-from-bob-html.eml: a clearsigned block in the middle
// one of three text/html parts. Verified, and covering only part.
#[test]
fn clearsigned_html_part_is_verified() {
    let s = Scene::new();
    s.preload_alice();
    let signed = s.gpg.clearsign(&s.alice, REPORT.as_bytes());
    let body = format!(
        "--32989E6E4C7AEB77\r\nContent-Type: text/html; charset=utf-8\r\n\r\nprefix\r\n\r\n--32989E6E4C7AEB77\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}\r\n\r\n--32989E6E4C7AEB77\r\nContent-Type: text/html; charset=utf-8\r\n\r\nsuffix\r\n\r\n--32989E6E4C7AEB77--\r\n",
        String::from_utf8_lossy(&signed).trim_end()
    );
    s.gw.deliver(&mail(
        &s,
        "<x12@example.net>",
        "Report",
        "multipart/mixed; boundary=\"32989E6E4C7AEB77\"",
        &body,
    ));
    s.gw.run_once();
    let full = report(&s, "x12@example.net");
    let text = full["body"].as_str().unwrap();
    assert!(text.contains("prefix") && text.contains("suffix"), "{text}");
    assert!(
        text.contains("Anyone can read the whole user table."),
        "{text}"
    );
    assert!(!text.contains("BEGIN PGP"), "{text}");
    assert_eq!(full["signature"], "good", "{full}");
    assert_eq!(full["signature_covers_all"], false);
    assert!(full["proven_key"].is_null());
    assert_content_free_answer(&s);
}

/// The "could not read" notice to Alice; returns its signed text.
fn notice_text(s: &Scene) -> String {
    let notice = answer(s);
    let subject = header(&notice, "Subject").unwrap();
    assert!(
        subject.starts_with("Could not read your message"),
        "{subject}"
    );
    let text = assert_signed_by(&s.gpg, &notice, &s.gateway_fpr);
    // It carries the gateway's OpenPGP key.
    assert!(text.contains("application/pgp-keys"), "{text}");
    assert!(
        String::from_utf8_lossy(&notice).contains("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "no key in the notice"
    );
    text
}

// S/MIME-encrypted mail (made by OpenSSL) cannot be read: quarantined, and the sender
// is told S/MIME is not supported and given the OpenPGP key.
#[test]
fn smime_encrypted_mail_is_quarantined_with_a_notice_naming_openpgp() {
    let s = Scene::new();
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Security/emailAddress=security@example.org",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
        b"",
    );
    let entity = format!("Content-Type: text/plain\r\n\r\n{REPORT}");
    let enveloped = openssl(
        &["smime", "-encrypt", "-aes256", cert.to_str().unwrap()],
        entity.as_bytes(),
    );
    let (ct, body) = split_head(&String::from_utf8(enveloped).unwrap());
    assert!(ct.contains("enveloped-data"), "{ct}");
    let mut h = s.headers("<x13@example.net>", "Report");
    h.push(("Content-Type", &ct));
    h.push(("Content-Transfer-Encoding", "base64"));
    h.push(("Content-Disposition", "attachment; filename=\"smime.p7m\""));
    s.gw.deliver(&message(&h, &body));
    s.gw.run_once();

    assert!(s.gw.reports().is_empty());
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["kind"], "quarantined");
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains("S/MIME"), "{reason}");
    let text = notice_text(&s);
    assert!(text.contains("does not support S/MIME"), "{text}");
    assert!(text.contains("OpenPGP"), "{text}");
}

// A message encrypted with a passphrase only (gpg --symmetric): the reason says what
// it is, not "corrupt or truncated".
#[test]
fn passphrase_only_mail_is_quarantined_with_a_reason_that_says_so() {
    let s = Scene::new();
    let armored = s.gpg.run(
        &["--armor", "--symmetric", "--passphrase", "correct horse"],
        REPORT.as_bytes(),
    );
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<x14@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();

    assert!(s.gw.reports().is_empty());
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 1);
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains("passphrase"), "{reason}");
    assert!(!reason.contains("corrupt"), "{reason}");
    let text = notice_text(&s);
    assert!(text.contains("passphrase"), "{text}");
}

// RFC 5322 allows one From header. With two the sender is ambiguous: refused,
// kept in quarantine, and nobody is answered.
#[test]
fn two_from_headers_are_refused() {
    let s = Scene::new();
    let raw = message(
        &[
            ("From", "Alice Example <alice@example.net>"),
            ("From", "Mallory <mallory@evil.example>"),
            ("To", GATEWAY),
            ("Subject", "Report"),
            ("Message-ID", "<x15@example.net>"),
        ],
        REPORT,
    );
    let file = s.gw.deliver(&raw);
    s.gw.run_once();
    assert!(s.gw.reports().is_empty());
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 1);
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains("2 From headers"), "{reason}");
    assert!(s.gw.path(&format!("inbox/.Quarantine/new/{file}")).exists());
    assert!(s.gw.outbox().is_empty(), "nobody is answered");
}
