//! Mail the gateway must not turn into a report, or must not answer, and bad setups.

use crate::pipeline::{REPORT, Scene, pgp_mime_encrypted};
use crate::util::*;

#[test]
fn encrypted_to_a_key_the_gateway_lacks_is_quarantined_with_a_notice() {
    let s = Scene::new();
    let stranger = s.gpg.gen_key("Old Gateway <old@example.org>");
    let armored = s.gpg.encrypt(&stranger, Some(&s.alice), REPORT.as_bytes());
    let file = s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<q1@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();

    assert!(s.gw.reports().is_empty());
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["kind"], "quarantined");
    assert_eq!(q[0]["message_id"], "q1@example.net");
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains("does not have"), "{reason}");
    // Kept in the quarantine folder, nothing deleted.
    assert!(s.gw.path(&format!("inbox/.Quarantine/new/{file}")).exists());
    assert!(q[0]["file"].as_str().unwrap().ends_with(&file));

    // The sender is told, in a signed notice carrying our current public key; it
    // does not claim the report was received as a report.
    let out = s.gw.outbox();
    assert_eq!(out.len(), 1);
    let notice = &out[0];
    assert_eq!(header(notice, "To").unwrap(), "alice@example.net");
    assert_eq!(header(notice, "In-Reply-To").unwrap(), "<q1@example.net>");
    assert_eq!(header(notice, "Auto-Submitted").unwrap(), "auto-replied");
    let subject = header(notice, "Subject").unwrap();
    assert!(
        subject.starts_with("Could not read your message"),
        "{subject}"
    );
    assert!(!subject.contains("Received"), "{subject}");
    let text = assert_signed_by(&s.gpg, notice, &s.gateway_fpr);
    assert!(text.contains("could not read it"), "{text}");
    assert!(text.contains("application/pgp-keys"), "{text}");
    // The attached key (sent 7-bit, as it is) is the gateway's current key.
    let text = String::from_utf8_lossy(notice);
    let key_start = text.find("-----BEGIN PGP PUBLIC KEY BLOCK-----").unwrap();
    let key_end = text.find("-----END PGP PUBLIC KEY BLOCK-----").unwrap();
    let other = Gpg::new();
    let key_path = other.home.path().join("k.asc");
    std::fs::write(&key_path, &text[key_start..key_end + 35]).unwrap();
    other.import(&key_path);
    assert_eq!(other.fingerprint(GATEWAY), s.gateway_fpr);
}

#[test]
fn corrupted_ciphertext_is_quarantined_with_a_clear_reason() {
    let s = Scene::new();
    let armored = s
        .gpg
        .encrypt(&s.gateway_fpr, Some(&s.alice), REPORT.as_bytes());
    // Flip characters in the middle of the base64 body.
    let mut text = String::from_utf8(armored).unwrap();
    let mid = text.len() / 2;
    let replaced: String = text[mid..mid + 12]
        .chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect();
    text.replace_range(mid..mid + 12, &replaced);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<q2@example.net>", "..."),
        text.as_bytes(),
    ));
    s.gw.run_once();

    assert!(s.gw.reports().is_empty());
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 1);
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains("corrupt"), "{reason}");
    let out = s.gw.outbox();
    assert_eq!(out.len(), 1);
    assert!(
        header(&out[0], "Subject")
            .unwrap()
            .starts_with("Could not read")
    );
}

#[test]
fn tampered_signed_message_is_marked_bad() {
    let s = Scene::new();
    s.preload_alice();
    let part = b"Content-Type: text/plain\r\n\r\nTitle: Original title\r\n".to_vec();
    let sig = s.gpg.detach_sign(&s.alice, &part);
    let tampered = b"Content-Type: text/plain\r\n\r\nTitle: Altered title\r\n".to_vec();
    let mut headers = s.headers("<q3@example.net>", "x");
    headers.push((
        "Content-Type",
        "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"sig-b\"",
    ));
    let mut raw = message(&headers, "");
    raw.extend(crate::pipeline::pgp_mime_signed(&tampered, &sig));
    s.gw.deliver(&raw);
    s.gw.run_once();
    let r = &s.gw.reports()[0];
    assert_eq!(r["signature"], "bad", "{r}");
    assert_eq!(r["title"], "Altered title");
}

#[test]
fn loops_and_automatic_mail_are_skipped_not_answered() {
    let s = Scene::new();
    let cases: [(&str, &str, &str); 5] = [
        ("Auto-Submitted", "auto-replied", "auto-submitted"),
        ("Precedence", "bulk", "bulk"),
        ("Precedence", "list", "list"),
        ("Return-Path", "<>", "Return-Path"),
        ("X-Nothing", "x", "own address"),
    ];
    for (i, (name, value, _)) in cases.iter().enumerate() {
        let msgid = format!("<loop{i}@example.net>");
        let from = if *name == "X-Nothing" {
            format!("Us <{GATEWAY}>")
        } else {
            "Alice <alice@example.net>".to_string()
        };
        let headers = vec![
            ("From", from.as_str()),
            ("Subject", "Out of office"),
            ("Message-ID", msgid.as_str()),
            (*name, *value),
        ];
        s.gw.deliver(&message(&headers, "I am away."));
    }
    // A bounce.
    s.gw.deliver(&message(
        &[
            (
                "From",
                "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            ),
            ("Subject", "Undelivered Mail"),
            ("Message-ID", "<bounce@mx.example.net>"),
            (
                "Content-Type",
                "multipart/report; report-type=delivery-status; boundary=\"r\"",
            ),
        ],
        "--r\nContent-Type: text/plain\n\nfailed\n--r--\n",
    ));
    s.gw.run_once();

    assert!(s.gw.reports().is_empty());
    assert!(
        s.gw.outbox().is_empty(),
        "nothing may be sent to automatic mail"
    );
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 6);
    for (i, (_, _, reason)) in cases.iter().enumerate() {
        let rec = q
            .iter()
            .find(|r| r["message_id"] == format!("loop{i}@example.net"))
            .unwrap();
        assert_eq!(rec["kind"], "skipped");
        assert!(rec["reason"].as_str().unwrap().contains(reason), "{rec}");
    }
    assert!(
        q.iter()
            .any(|r| r["reason"].as_str().unwrap().contains("delivery status"))
    );
    // Skipped mail is handled: moved to cur/ with the seen flag, not quarantined.
    assert_eq!(
        std::fs::read_dir(s.gw.path("inbox/cur")).unwrap().count(),
        6
    );
}

#[test]
fn the_same_message_twice_makes_one_report_and_one_acknowledgement() {
    let s = Scene::new();
    let mut headers = s.headers("<dup@example.net>", "Report");
    headers.push(("Content-Type", "text/plain"));
    let raw = message(&headers, REPORT);
    s.gw.deliver(&raw);
    s.gw.deliver(&raw);
    s.gw.run_once();
    // Same Message-ID, different bytes (re-sent through another relay), in a later run.
    let mut headers = s.headers("<dup@example.net>", "Report");
    headers.push(("Received", "from relay2.example.net"));
    s.gw.deliver(&message(&headers, REPORT));
    // Same bytes, no Message-ID.
    let no_id = message(
        &[("From", "bob@example.net"), ("Subject", "x")],
        "Title: t\n",
    );
    s.gw.deliver(&no_id);
    s.gw.deliver(&no_id);
    s.gw.run_once();

    assert_eq!(s.gw.reports().len(), 2);
    assert_eq!(s.gw.outbox().len(), 2);
    assert_eq!(
        std::fs::read_dir(s.gw.path("inbox/new")).unwrap().count(),
        0
    );
    // Every message has its outcome on record: the copies are logged as duplicates.
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 3, "{q:?}");
    assert!(q.iter().all(|r| {
        r["kind"] == "skipped"
            && r["reason"]
                .as_str()
                .unwrap()
                .starts_with("duplicate of report VR-")
    }));
}

#[test]
fn garbage_is_quarantined_and_run_once_still_exits_zero() {
    let s = Scene::new();
    s.gw.deliver(b"");
    s.gw.deliver(b"\x00\x01\x02 not mail at all");
    s.gw.deliver(b"From: a@example.net\r\nContent-Type: multipart/encrypted; boundary=x\r\n\r\n--x\r\n--x--\r\n");
    s.gw.run_once();
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 3, "{q:?}");
    assert!(
        q.iter()
            .all(|r| r["kind"] == "quarantined" && !r["reason"].as_str().unwrap().is_empty()),
        "{q:?}"
    );
    assert_eq!(
        std::fs::read_dir(s.gw.path("inbox/.Quarantine/new"))
            .unwrap()
            .count(),
        3
    );
}

#[test]
fn secret_key_with_loose_permissions_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let gw = Gateway::new();
    let secret = std::fs::read_dir(gw.path("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".sec.asc"))
        .unwrap();
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = gw.cli(&["run-once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(secret.to_str().unwrap()) && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}

#[test]
fn config_errors_name_the_key_and_fail() {
    let gw = Gateway::without_key();
    let mut text = std::fs::read_to_string(&gw.config).unwrap();
    text.push_str("\n[policy]\nacknowledge_withn = \"48h\"\n");
    std::fs::write(&gw.config, text).unwrap();
    for args in [&["check-config"][..], &["run-once"][..]] {
        let out = gw.cli(args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("acknowledge_withn"), "{err}");
    }
    // Environment overrides reach every key.
    let gw = Gateway::without_key();
    let out = gw
        .command()
        .args(["check-config"])
        .env("DISCLOSURED__GATEWAY__ADDRESS", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gateway.address"));
    gw.add_maintainer();
    let out = gw.cli(&["check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
