//! Issue 25, real clients' layouts (third round), defects 1, 2, 3 and 7: Outlook with
//! GpgOL (the decrypted content is GpgOL's internal MIME form), inline PGP with CRLF
//! and mixed line ends (KMail), inline PGP in an ISO-8859-15 part, and a report that
//! quotes an armor header in prose. GnuPG makes every OpenPGP part; the MIME around it
//! is written the way those clients write it.

use crate::pipeline::{REPORT, Scene};
use crate::util::*;

const POC: &[u8] = b"import requests\nrequests.post('/login', data={'user': \"' OR 1=1 --\"})\n";

/// The report made of the message with this Message-ID, in full.
fn report(s: &Scene, msgid: &str) -> serde_json::Value {
    let list = s.gw.reports();
    let r = list
        .iter()
        .find(|r| r["message_id"] == msgid)
        .unwrap_or_else(|| {
            panic!(
                "no report of {msgid}: reports {list:?}, quarantine {:?}",
                s.gw.quarantine()
            )
        });
    s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"])
}

/// A message with Alice's headers and this Content-Type, the body as raw bytes.
fn mail(s: &Scene, msgid: &str, content_type: &str, cte: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut h = s.headers(msgid, "Report");
    h.push(("Content-Type", content_type));
    if let Some(cte) = cte {
        h.push(("Content-Transfer-Encoding", cte));
    }
    let mut raw = message(&h, "");
    raw.extend_from_slice(body);
    raw
}

fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn attachment_names(full: &serde_json::Value) -> Vec<String> {
    full["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The body is the report's text: no MIME source, no armor.
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
    for raw in [
        "MIME-Version",
        "Content-Type",
        "multipart/encrypted",
        "BEGIN PGP",
        "Version: 1",
        "GpgOL",
    ] {
        assert!(!body.contains(raw), "{raw:?} in the body: {body}");
    }
}

/// GpgOL's internal form: a `multipart/encrypted` with the version part and an
/// "encrypted" part that holds `held` in the clear, labelled `held_type`.
fn gpgol_internal(held_type: &str, held: &str) -> Vec<u8> {
    crlf(&format!(
        "MIME-Version: 1.0\nContent-Type: multipart/encrypted;\n\tprotocol=\"application/pgp-encrypted\";\n\tboundary=\"=-=GpgOL-internal-7a1c=-=\"\n\n--=-=GpgOL-internal-7a1c=-=\nContent-Type: application/pgp-encrypted\nContent-Description: PGP/MIME version identification\n\nVersion: 1\n\n--=-=GpgOL-internal-7a1c=-=\nContent-Type: {held_type}\nContent-Description: OpenPGP encrypted message\n\n{held}\n--=-=GpgOL-internal-7a1c=-=--\n"
    ))
    .into_bytes()
}

// Defect 1: Outlook with GpgOL. The PGP/MIME message decrypts to GpgOL's internal
// multipart/encrypted whose "encrypted" part holds the message in the clear: once
// as the report's own MIME (text and a file), once as its text. Both are read as
// the report, under Alice's signature, not stored as MIME source or refused.
#[test]
fn gpgol_internal_form_is_read_as_the_report() {
    let s = Scene::new();
    s.preload_alice();
    let held_mime = format!(
        "Content-Type: multipart/mixed; boundary=\"_002_GpgOL_held_\"\n\n--_002_GpgOL_held_\nContent-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: 8bit\n\n{REPORT}\n--_002_GpgOL_held_\nContent-Type: text/x-python; name=\"poc.py\"\nContent-Disposition: attachment; filename=\"poc.py\"\nContent-Transfer-Encoding: base64\n\n{}\n--_002_GpgOL_held_--",
        base64_lines(POC)
    );
    for (msgid, held_type, held) in [
        (
            "<g1@example.net>",
            "application/octet-stream",
            held_mime.as_str(),
        ),
        ("<g2@example.net>", "text/plain; charset=\"utf-8\"", REPORT),
    ] {
        let inner = gpgol_internal(held_type, held);
        let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
        let raw = crate::pipeline::pgp_mime_encrypted(&s.headers(msgid, "Report"), &armored);
        s.gw.deliver(&raw);
    }
    s.gw.run_once();
    for (msgid, files) in [
        ("g1@example.net", vec!["poc.py"]),
        ("g2@example.net", vec![]),
    ] {
        let full = report(&s, msgid);
        assert_body_is_the_report(&full);
        assert_eq!(full["encrypted"], true, "{msgid}: {full}");
        assert_eq!(full["signature"], "good", "{msgid}: {full}");
        assert_eq!(full["signature_covers_all"], true, "{msgid}: {full}");
        assert_eq!(full["form"], "pgp_mime", "{msgid}: {full}");
        assert_eq!(attachment_names(&full), files, "{msgid}: {full}");
    }
    assert!(s.gw.quarantine().is_empty(), "{:?}", s.gw.quarantine());
}

fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    text.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

// Defect 2: inline PGP with CRLF line ends, as KMail writes it: in a 7bit part whose
// lines end in CRLF and, in places, LF alone (a part converted along the way), and
// in a quoted-printable part that encodes each CR as `=0D` before the line break.
// GnuPG decrypts both; so must the gateway.
#[test]
fn inline_armor_with_crlf_and_mixed_line_ends_decrypts() {
    let s = Scene::new();
    s.preload_alice();
    // Armor headers as KMail's GnuPG wrote them (a Version line and a Comment).
    let armored = String::from_utf8(s.gpg.run(
        &[
            "--armor",
            "--emit-version",
            "--comment",
            "Using GnuPG with KMail - https://kde.org/applications/kmail",
            "--encrypt",
            "--recipient",
            &s.gateway_fpr,
            "--sign",
            "--local-user",
            &s.alice,
        ],
        REPORT.as_bytes(),
    ))
    .unwrap();
    assert!(armored.contains("\nVersion: GnuPG v2"), "{armored}");
    let lines: Vec<&str> = armored.lines().collect();
    // 7bit: CRLF, every third line LF alone.
    let mut mixed = String::new();
    for (i, line) in lines.iter().enumerate() {
        mixed.push_str(line);
        mixed.push_str(if i % 3 == 2 { "\n" } else { "\r\n" });
    }
    s.gw.deliver(&mail(
        &s,
        "<c1@example.net>",
        "text/plain; charset=us-ascii",
        Some("7bit"),
        mixed.as_bytes(),
    ));
    // Quoted-printable: the CR of each CRLF is part of the text, encoded as =0D.
    let mut qp = String::new();
    for line in &lines {
        qp.push_str(&line.replace('=', "=3D"));
        qp.push_str("=0D\r\n");
    }
    s.gw.deliver(&mail(
        &s,
        "<c2@example.net>",
        "text/plain; charset=us-ascii",
        Some("quoted-printable"),
        qp.as_bytes(),
    ));
    // Quoted-printable with the line ends encoded, CR LF as `=0D=0A`, and every
    // third one a CR alone (`=0D`), wrapped with soft line breaks.
    let mut encoded = String::new();
    for (i, line) in lines.iter().enumerate() {
        encoded.push_str(&line.replace('=', "=3D"));
        encoded.push_str(if i % 3 == 1 { "=0D" } else { "=0D=0A" });
    }
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let mut soft = String::new();
    let mut carry = String::new();
    // A soft break never splits an `=XX` escape.
    for chunk in wrapped {
        let piece = format!("{carry}{chunk}");
        let cut = piece
            .rfind('=')
            .filter(|&i| i + 3 > piece.len())
            .unwrap_or(piece.len());
        soft.push_str(&piece[..cut]);
        soft.push_str("=\r\n");
        carry = piece[cut..].to_string();
    }
    soft.push_str(&carry);
    soft.push_str("\r\n");
    s.gw.deliver(&mail(
        &s,
        "<c3@example.net>",
        "text/plain; charset=us-ascii",
        Some("quoted-printable"),
        soft.as_bytes(),
    ));
    // 7bit, lines ending in CR LF and in CR alone (a part that passed through a
    // converter for old Mac line ends), and LF CR.
    let mut cr = String::new();
    for (i, line) in lines.iter().enumerate() {
        cr.push_str(line);
        cr.push_str(["\r\n", "\r", "\n\r"][i % 3]);
    }
    cr.push_str("\r\n");
    s.gw.deliver(&mail(
        &s,
        "<c4@example.net>",
        "text/plain; charset=us-ascii",
        Some("7bit"),
        cr.as_bytes(),
    ));
    s.gw.run_once();
    for msgid in [
        "c1@example.net",
        "c2@example.net",
        "c3@example.net",
        "c4@example.net",
    ] {
        let full = report(&s, msgid);
        assert_body_is_the_report(&full);
        assert_eq!(full["encrypted"], true, "{msgid}: {full}");
        assert_eq!(full["signature"], "good", "{msgid}: {full}");
        assert_eq!(full["form"], "inline", "{msgid}: {full}");
    }
    assert!(s.gw.quarantine().is_empty(), "{:?}", s.gw.quarantine());
}

/// A report in German, ISO-8859-15 bytes: umlauts, ß and the euro sign (0xA4).
const LATIN9_REPORT: &[u8] = b"Title: SQL injection in login form\nGr\xfc\xdfe aus K\xf6ln, J\xfcrgen M\xe4rz\nSchaden: etwa 5000 \xa4 pro Tag\n";

fn assert_latin9_report(full: &serde_json::Value, msgid: &str) {
    let body = full["body"].as_str().unwrap();
    assert!(
        body.contains("Gr\u{fc}\u{df}e aus K\u{f6}ln, J\u{fc}rgen M\u{e4}rz"),
        "{msgid}: {body:?}"
    );
    assert!(
        body.contains("etwa 5000 \u{20ac} pro Tag"),
        "{msgid}: {body:?}"
    );
    assert!(!body.contains('\u{fffd}'), "{msgid}: {body:?}");
    assert_eq!(full["encrypted"], true, "{msgid}: {full}");
    assert_eq!(full["signature"], "good", "{msgid}: {full}");
}

// Defect 3: inline PGP in an ISO-8859-15 part. The client encrypted the text in the
// part's charset; the decrypted text is read in it, not as UTF-8. When the part says
// only US-ASCII, the armor's `Charset:` header names it (as PGP 6 wrote it).
#[test]
fn inline_armor_in_an_iso_8859_15_part_keeps_its_charset() {
    let s = Scene::new();
    s.preload_alice();
    let armored =
        String::from_utf8(s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), LATIN9_REPORT)).unwrap();
    let body = format!("Hallo,\n\n{armored}\n");
    s.gw.deliver(&mail(
        &s,
        "<l1@example.net>",
        "text/plain; charset=ISO-8859-15",
        Some("7bit"),
        crlf(&body).as_bytes(),
    ));
    // The armor names its charset; the part says nothing beyond US-ASCII.
    let with_header = armored.replacen(
        "-----BEGIN PGP MESSAGE-----\n",
        "-----BEGIN PGP MESSAGE-----\nCharset: ISO-8859-15\n",
        1,
    );
    assert_ne!(with_header, armored);
    s.gw.deliver(&mail(
        &s,
        "<l2@example.net>",
        "text/plain; charset=us-ascii",
        Some("7bit"),
        crlf(&with_header).as_bytes(),
    ));
    s.gw.run_once();
    assert_latin9_report(&report(&s, "l1@example.net"), "l1");
    assert_latin9_report(&report(&s, "l2@example.net"), "l2");
}

// Defect 7: a report about an OpenPGP bug quotes an armor header line in its prose,
// with no END line and no OpenPGP data after it. GnuPG finds nothing encrypted or
// signed in it; it is an ordinary plain report. An armored message really cut off
// (data and no END line) is still refused as truncated.
#[test]
fn armor_header_quoted_in_prose_is_a_plain_report() {
    let s = Scene::new();
    let prose = "Title: Parser crash on armored input\nAffected component: import/armor.c\n\nDescription:\nA message that starts with the line\n\n-----BEGIN PGP MESSAGE-----\n\nand is followed by more than 64 KiB of spaces crashes the importer.\nAnyone can stop the service this way.\n";
    s.gw.deliver(&mail(
        &s,
        "<p1@example.net>",
        "text/plain; charset=utf-8",
        Some("7bit"),
        crlf(prose).as_bytes(),
    ));
    // GnuPG agrees there is no OpenPGP data in it.
    let listed = s.gpg.try_run(&["--list-packets"], prose.as_bytes());
    assert!(
        !listed.status.success(),
        "gpg found OpenPGP data in the prose"
    );
    let armored =
        String::from_utf8(s.gpg.encrypt(&s.gateway_fpr, None, REPORT.as_bytes())).unwrap();
    let cut = armored.split("-----END").next().unwrap().to_string();
    s.gw.deliver(&mail(
        &s,
        "<p2@example.net>",
        "text/plain; charset=us-ascii",
        Some("7bit"),
        crlf(&cut).as_bytes(),
    ));
    s.gw.run_once();
    let full = report(&s, "p1@example.net");
    // Line ends as the part had them (CRLF), as for any plain report.
    let body = full["body"].as_str().unwrap().replace("\r\n", "\n");
    assert!(
        body.contains("starts with the line\n\n-----BEGIN PGP MESSAGE-----\n\nand is followed"),
        "{body}"
    );
    assert!(
        body.contains("Anyone can stop the service this way."),
        "{body}"
    );
    assert_eq!(full["form"], "plain", "{full}");
    assert_eq!(full["encrypted"], false, "{full}");
    let quarantined = s.gw.quarantine();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let q = quarantined[0].to_string();
    assert!(q.contains("no END line"), "{q}");
    assert!(
        !s.gw
            .reports()
            .iter()
            .any(|r| r["message_id"] == "p2@example.net")
    );
}
