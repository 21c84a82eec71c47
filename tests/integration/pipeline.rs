//! Every form of report the core pipeline accepts, made by GnuPG, and the
//! acknowledgements it sends, checked by GnuPG.

use crate::util::*;

pub const REPORT: &str = "Title: SQL injection in login form
Vulnerability type: SQL injection
Affected component: auth/login.php
Affected versions: 2.0 to 2.3.1
CVSS: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H

Description:
The username parameter is concatenated into the SQL query.

Steps to reproduce:
1. Open /login
2. Enter ' OR 1=1 -- as the user name

Impact:
Anyone can read the whole user table.

Credit: Alice Example
";

/// A reporter with a GnuPG key, and a gateway whose public key they imported.
pub struct Scene {
    pub gpg: Gpg,
    pub gw: Gateway,
    pub alice: String,
    pub gateway_fpr: String,
}

impl Scene {
    pub fn new() -> Scene {
        let gw = Gateway::new();
        let gpg = Gpg::new();
        gpg.import(&gw.public_key_path());
        let gateway_fpr = gw.signing_fingerprint();
        let alice = gpg.gen_key("Alice Example <alice@example.net>");
        Scene {
            gpg,
            gw,
            alice,
            gateway_fpr,
        }
    }

    /// Puts Alice's public key in the gateway's `keys/reporters/`.
    pub fn preload_alice(&self) {
        std::fs::write(
            self.gw.path("keys/reporters/alice.asc"),
            self.gpg.export(&self.alice),
        )
        .unwrap();
    }

    pub fn headers<'a>(&self, msgid: &'a str, subject: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("From", "Alice Example <alice@example.net>"),
            ("To", GATEWAY),
            ("Subject", subject),
            ("Message-ID", msgid),
            ("Date", "Mon, 23 Nov 2026 10:00:00 +0000"),
            ("MIME-Version", "1.0"),
        ]
    }
}

/// A MIME entity (the inside of a PGP/MIME message).
pub fn entity(
    protected_subject: Option<&str>,
    text: &str,
    attachments: &[(&str, &str, &[u8])],
) -> Vec<u8> {
    let mut out = String::new();
    if attachments.is_empty() {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        if let Some(s) = protected_subject {
            out.push_str(&format!("Subject: {s}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&text.replace('\n', "\r\n"));
        return out.into_bytes();
    }
    out.push_str(
        "Content-Type: multipart/mixed; boundary=\"inner-b\"; protected-headers=\"v1\"\r\n",
    );
    if let Some(s) = protected_subject {
        out.push_str(&format!("Subject: {s}\r\n"));
    }
    out.push_str("\r\n--inner-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    out.push_str(&text.replace('\n', "\r\n"));
    for (name, ctype, data) in attachments {
        use base64::Engine as _;
        out.push_str(&format!(
            "\r\n--inner-b\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(data)
        ));
    }
    out.push_str("\r\n--inner-b--\r\n");
    out.into_bytes()
}

/// RFC 3156 multipart/encrypted around an armored OpenPGP message.
pub fn pgp_mime_encrypted(headers: &[(&str, &str)], armored: &[u8]) -> Vec<u8> {
    let mut h = headers.to_vec();
    h.push((
        "Content-Type",
        "multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"enc-b\"",
    ));
    let body = format!(
        "This is an OpenPGP/MIME encrypted message (RFC 3156).\n--enc-b\nContent-Type: application/pgp-encrypted\nContent-Description: PGP/MIME version identification\n\nVersion: 1\n\n--enc-b\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\nContent-Disposition: inline; filename=\"encrypted.asc\"\n\n{}\n--enc-b--\n",
        String::from_utf8_lossy(armored).trim_end()
    );
    message(&h, &body)
}

/// RFC 3156 multipart/signed: `signed_part` is signed as it stands (CRLF).
pub fn pgp_mime_signed(signed_part: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"--sig-b\r\n");
    out.extend_from_slice(signed_part);
    out.extend_from_slice(
        b"\r\n--sig-b\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n",
    );
    out.extend_from_slice(signature);
    out.extend_from_slice(b"\r\n--sig-b--\r\n");
    out
}

const SIGNED_CT: &str = "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"sig-b\"";

fn year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year()
}

#[test]
fn pgp_mime_encrypted_signed_known_reporter() {
    let s = Scene::new();
    s.preload_alice();
    let poc = b"import requests\nrequests.post('/login', data={'user': \"' OR 1=1 --\"})\n";
    let inner = entity(
        Some("SQL injection in login form"),
        REPORT,
        &[("poc.py", "text/x-python", poc)],
    );
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    let raw = pgp_mime_encrypted(&s.headers("<m1@example.net>", "..."), &armored);
    let file = s.gw.deliver(&raw);
    let log = s.gw.run_once();

    let reports = s.gw.reports();
    assert_eq!(reports.len(), 1, "{log}");
    let r = &reports[0];
    let id = format!("VR-{}-0001", year());
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["status"], "acknowledged");
    assert_eq!(r["encrypted"], true);
    assert_eq!(r["signature"], "good");
    assert_eq!(r["signer_fingerprint"], s.alice.as_str());
    assert_eq!(r["from"], "alice@example.net");
    assert_eq!(r["message_id"], "m1@example.net");
    assert_eq!(r["title"], "SQL injection in login form");
    assert_eq!(
        r["cvss_vector"],
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    );
    assert_eq!(r["cvss_score"], 9.8);
    assert_eq!(r["severity"], "critical");
    assert!(r["affected_versions"].as_str().unwrap().contains("2.3.1"));

    // The attachment is kept with its hash.
    let full = s.gw.json(&["reports", "show", &id, "--json"]);
    let att = &full["attachments"][0];
    assert_eq!(att["name"], "poc.py");
    assert_eq!(att["size"], poc.len());
    let want_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(poc))
    };
    assert_eq!(att["sha256"], want_sha.as_str());
    assert_eq!(full["signer_key_source"], "reporters_dir");

    // The file is moved to cur/ with the seen flag; nothing is left in new/.
    assert!(s.gw.path(&format!("inbox/cur/{file}:2,S")).exists());
    assert_eq!(
        std::fs::read_dir(s.gw.path("inbox/new")).unwrap().count(),
        0
    );

    // One acknowledgement, encrypted to Alice and signed by the gateway.
    let out = s.gw.outbox();
    assert_eq!(out.len(), 1);
    let ack = &out[0];
    assert_eq!(header(ack, "To").unwrap(), "alice@example.net");
    assert_eq!(header(ack, "In-Reply-To").unwrap(), "<m1@example.net>");
    assert_eq!(header(ack, "References").unwrap(), "<m1@example.net>");
    assert_eq!(header(ack, "Auto-Submitted").unwrap(), "auto-replied");
    assert_eq!(
        header(ack, "Subject").unwrap(),
        format!("[{id}] Received: encrypted report")
    );
    assert!(
        header(ack, "Content-Type")
            .unwrap()
            .starts_with("multipart/encrypted")
    );
    let (status, plain, ok) = s.gpg.decrypt(&armored_block(ack));
    assert!(ok, "gpg cannot decrypt the acknowledgement: {status}");
    assert!(status.contains("DECRYPTION_OKAY"), "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&s.gateway_fpr)),
        "{status}"
    );
    let plain = qp_decode(&plain);
    // Protected header: the real subject is inside.
    assert!(
        plain.contains(&format!(
            "Subject: [{id}] Received: SQL injection in login form"
        )),
        "{plain}"
    );
    assert!(plain.contains(&format!("stored it as {id}")), "{plain}");
    assert!(
        plain.contains("Title: SQL injection in login form"),
        "{plain}"
    );
    assert!(plain.contains("Initial assessment:  by"), "{plain}");
    assert!(plain.contains("coordinated disclosure"), "footer: {plain}");
}

#[test]
fn multipart_signed_inside_encrypted_with_attached_key() {
    let s = Scene::new();
    let key = s.gpg.export(&s.alice);
    let signed_part = entity(None, REPORT, &[("alice.asc", "application/pgp-keys", &key)]);
    let sig = s.gpg.detach_sign(&s.alice, &signed_part);
    let mut inner =
        format!("Content-Type: {SIGNED_CT}\r\nSubject: Protected title\r\n\r\n").into_bytes();
    inner.extend(pgp_mime_signed(&signed_part, &sig));
    let armored = s.gpg.encrypt(&s.gateway_fpr, None, &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<m2@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();

    let r = &s.gw.reports()[0];
    assert_eq!(r["encrypted"], true);
    assert_eq!(r["signature"], "good", "{r}");
    assert_eq!(r["signer_fingerprint"], s.alice.as_str());
    let full =
        s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"]);
    assert_eq!(full["signer_key_source"], "attached");
    assert_eq!(full["subject"], "Protected title");
    // The attached key was learnt, so the acknowledgement is encrypted to Alice.
    let ack = &s.gw.outbox()[0];
    assert!(
        header(ack, "Content-Type")
            .unwrap()
            .starts_with("multipart/encrypted")
    );
    let (status, _, ok) = s.gpg.decrypt(&armored_block(ack));
    assert!(ok && status.contains("VALIDSIG"), "{status}");
}

#[test]
fn signed_only_multipart_signed_with_autocrypt_key_and_lf_line_ends() {
    let s = Scene::new();
    let signed_part = entity(None, REPORT, &[]);
    let sig = s.gpg.detach_sign(&s.alice, &signed_part);
    let keydata = {
        use base64::Engine as _;
        let binary = s.gpg.run(&["--export", &s.alice], b"");
        base64::engine::general_purpose::STANDARD.encode(binary)
    };
    let autocrypt = format!("addr=alice@example.net; keydata={keydata}");
    let mut headers = s.headers("<m3@example.net>", "SQL injection in login form");
    headers.push(("Autocrypt", &autocrypt));
    headers.push(("Content-Type", SIGNED_CT));
    let mut raw = message(&headers, "");
    raw.extend(pgp_mime_signed(&signed_part, &sig));
    // MDAs usually store mail with LF line ends; the signature was made over CRLF.
    let lf: Vec<u8> = String::from_utf8(raw)
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    s.gw.deliver(&lf);
    s.gw.run_once();

    let r = &s.gw.reports()[0];
    assert_eq!(r["encrypted"], false);
    assert_eq!(r["signature"], "good", "{r}");
    assert_eq!(r["signer_fingerprint"], s.alice.as_str());
    // Learnt from Autocrypt: the acknowledgement is encrypted.
    let ack = &s.gw.outbox()[0];
    assert!(
        header(ack, "Content-Type")
            .unwrap()
            .starts_with("multipart/encrypted")
    );
}

#[test]
fn inline_encrypted_latin1_quoted_printable_unknown_signer() {
    let s = Scene::new();
    let text = "Title: Path traversal in the file viewer\nAffected versions: 1.4\nDescription: caf\u{e9} ../../etc/passwd\n";
    let armored = s
        .gpg
        .encrypt(&s.gateway_fpr, Some(&s.alice), text.as_bytes());
    // Around the armor: Latin-1 text, quoted-printable (so the armor's '=' is '=3D').
    let body = format!(
        "Hallo, hier ist mein Bericht f=FCr euch:\n\n{}\n\nGr=FC=DFe\n",
        String::from_utf8_lossy(&armored)
            .trim_end()
            .replace('=', "=3D")
    );
    let mut headers = s.headers("<m4@example.net>", "Bericht");
    headers.push(("Content-Type", "text/plain; charset=iso-8859-1"));
    headers.push(("Content-Transfer-Encoding", "quoted-printable"));
    s.gw.deliver(&message(&headers, &body));
    s.gw.run_once();

    let r = &s.gw.reports()[0];
    assert_eq!(r["encrypted"], true);
    assert_eq!(r["signature"], "unknown_key", "{r}");
    assert_eq!(r["title"], "Path traversal in the file viewer");
    let full =
        s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"]);
    assert!(full["body"].as_str().unwrap().contains("café"), "{full}");
    assert_eq!(full["form"], "inline");

    // No key for Alice, so nothing proves who wrote it: the acknowledgement is signed
    // only, and repeats nothing of the encrypted report, not even which fields it had
    // or which key signed it.
    let ack = &s.gw.outbox()[0];
    let text = assert_signed_by(&s.gpg, ack, &s.gateway_fpr);
    assert!(
        !text.contains("Path traversal"),
        "encrypted content leaked: {text}"
    );
    assert!(!text.contains("Title"), "{text}");
    assert!(!text.contains(&s.alice), "{text}");
    assert!(text.contains("repeats nothing of your report"), "{text}");
    assert!(!header(ack, "Subject").unwrap().contains("traversal"));
}

#[test]
fn inline_clearsigned_known_reporter_in_latin1() {
    let s = Scene::new();
    s.preload_alice();
    // Signed in Latin-1, as a mail client using that charset does.
    let latin1: Vec<u8> = "Title: XSS in search\nDescription: Gr\u{fc}\u{df}e <script>\n"
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    let signed = s.gpg.clearsign(&s.alice, &latin1);
    let mut headers = s.headers("<m5@example.net>", "XSS in search");
    headers.push(("Content-Type", "text/plain; charset=iso-8859-1"));
    headers.push(("Content-Transfer-Encoding", "8bit"));
    let mut raw = message(&headers, "");
    raw.extend(signed.iter().flat_map(|&b| {
        if b == b'\n' {
            vec![b'\r', b'\n']
        } else {
            vec![b]
        }
    }));
    s.gw.deliver(&raw);
    s.gw.run_once();

    let r = &s.gw.reports()[0];
    assert_eq!(r["signature"], "good", "{r}");
    assert_eq!(r["encrypted"], false);
    assert_eq!(r["title"], "XSS in search");
    let full =
        s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"]);
    assert!(full["body"].as_str().unwrap().contains("Grüße"), "{full}");
    // Known key: the acknowledgement is encrypted even though the report was not.
    let ack = &s.gw.outbox()[0];
    assert!(
        header(ack, "Content-Type")
            .unwrap()
            .starts_with("multipart/encrypted")
    );
}

#[test]
fn plaintext_report_is_accepted_and_answered_signed() {
    let s = Scene::new();
    let mut headers = s.headers("<m6@example.net>", "Report");
    headers.push(("Content-Type", "text/plain; charset=utf-8"));
    s.gw.deliver(&message(&headers, REPORT));
    s.gw.run_once();

    let r = &s.gw.reports()[0];
    assert_eq!(r["encrypted"], false);
    assert_eq!(r["signature"], "none");
    assert_eq!(r["signer_fingerprint"], serde_json::Value::Null);
    assert_eq!(r["cvss_score"], 9.8);
    let id = r["id"].as_str().unwrap();
    // Unsigned: anyone could have sent it from this address, so the answer does not
    // reflect its text back (a forged From must not turn the gateway into a relay).
    let ack = &s.gw.outbox()[0];
    assert_eq!(
        header(ack, "Subject").unwrap(),
        format!("[{id}] Received: your report")
    );
    let text = assert_signed_by(&s.gpg, ack, &s.gateway_fpr);
    assert!(text.contains(id), "{text}");
    assert!(!text.contains("What we understood"), "{text}");
    assert!(!text.contains("SQL injection"), "{text}");
    assert!(text.contains("repeats nothing of your report"), "{text}");
}

#[test]
fn html_only_report_is_converted_to_text() {
    let s = Scene::new();
    let mut headers = s.headers("<m7@example.net>", "Report");
    headers.push(("Content-Type", "text/html; charset=utf-8"));
    let html = "<html><body><h2>Title</h2><p>Open redirect in /goto</p><h2>Impact</h2><p>Phishing via our domain.</p><script>alert(1)</script></body></html>";
    s.gw.deliver(&message(&headers, html));
    s.gw.run_once();
    let r = &s.gw.reports()[0];
    let full =
        s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"]);
    let impact = full["fields"]["impact"].as_str().unwrap_or_default();
    assert!(impact.contains("Phishing"), "{full}");
    assert!(!full["body"].as_str().unwrap().contains("<p>"), "{full}");
}

#[test]
fn old_gateway_key_still_decrypts_and_new_key_signs() {
    let s = Scene::new();
    let old = s.gateway_fpr.clone();
    // `keys generate` makes the new key the signing key by name (keys/signing-key),
    // whatever the two keys' creation times: no waiting for the clock.
    assert!(s.gw.cli(&["keys", "generate"]).status.success());
    let new = s.gw.signing_fingerprint();
    assert_ne!(old, new);
    s.gpg.import(&s.gw.public_key_path());

    let armored = s.gpg.encrypt(&old, Some(&s.alice), REPORT.as_bytes());
    let mut headers = s.headers("<m8@example.net>", "Report");
    headers.push(("Content-Type", "text/plain"));
    s.gw.deliver(&message(&headers, &String::from_utf8_lossy(&armored)));
    s.gw.run_once();
    let r = &s.gw.reports()[0];
    assert_eq!(r["encrypted"], true);
    let full =
        s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"]);
    assert_eq!(full["decrypted_with"], old.as_str());
    assert_signed_by(&s.gpg, &s.gw.outbox()[0], &new);
}
