//! Regression tests for the findings of the first code review (2026-11-23): forged
//! signature coverage, key learning, OpenPGP messages that are signed but not
//! encrypted, notice flooding, and quarantined mail that becomes readable.

use crate::pipeline::{REPORT, Scene};
use crate::util::*;

fn text_headers<'a>(s: &'a Scene, msgid: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut h = s.headers(msgid, "Report");
    h.push(("Content-Type", "text/plain; charset=utf-8"));
    h
}

#[test]
fn text_around_a_clearsigned_block_is_not_covered_by_its_signature() {
    let s = Scene::new();
    s.preload_alice();
    let signed = s.gpg.clearsign(&s.alice, b"Title: Harmless typo in docs\n");
    let body = format!(
        "{}\nPlease wire the bounty to IBAN XX00 0000 0000.\n",
        String::from_utf8_lossy(&signed)
    );
    s.gw.deliver(&message(&text_headers(&s, "<part@example.net>"), &body));
    s.gw.run_once();
    let r = &s.gw.reports()[0];
    assert_eq!(r["signature"], "good");
    assert_eq!(r["signature_covers_all"], false, "{r}");
    assert_eq!(r["signer_matches_from"], true);

    // Fully signed: covered.
    let signed = s.gpg.clearsign(&s.alice, REPORT.as_bytes());
    s.gw.deliver(&message(
        &text_headers(&s, "<full@example.net>"),
        &String::from_utf8_lossy(&signed),
    ));
    s.gw.run_once();
    let r = &s.gw.reports()[1];
    assert_eq!(r["signature"], "good");
    assert_eq!(r["signature_covers_all"], true, "{r}");
}

#[test]
fn a_key_attached_in_someone_elses_name_is_not_learnt() {
    let s = Scene::new();
    // Mallory makes a key with Alice's address and attaches it to mail "from" Alice.
    let mallory = Gpg::new();
    let fake = mallory.gen_key("Alice Example <alice@example.net>");
    let key = mallory.export(&fake);
    let raw = crate::pipeline::entity(None, REPORT, &[("key.asc", "application/pgp-keys", &key)]);
    let mut headers = s.headers("<forge1@example.net>", "Report");
    let ct = "multipart/mixed; boundary=\"inner-b\"";
    headers.push(("Content-Type", ct));
    let body_start = find(&raw, b"\r\n\r\n").unwrap() + 4;
    s.gw.deliver(&message(
        &headers,
        &String::from_utf8_lossy(&raw[body_start..]),
    ));
    s.gw.run_once();
    assert_eq!(s.gw.reports().len(), 1);

    // A later message signed with Mallory's key must not verify as Alice's.
    let signed = mallory.clearsign(&fake, b"Title: Send replies to mallory@example.com\n");
    s.gw.deliver(&message(
        &text_headers(&s, "<forge2@example.net>"),
        &String::from_utf8_lossy(&signed),
    ));
    s.gw.run_once();
    let r = &s.gw.reports()[1];
    assert_eq!(r["signature"], "unknown_key", "{r}");
}

#[test]
fn a_signed_but_not_encrypted_openpgp_message_is_not_marked_encrypted() {
    let s = Scene::new();
    s.preload_alice();
    let signed = s.gpg.run(
        &["--armor", "--sign", "--local-user", &s.alice],
        REPORT.as_bytes(),
    );
    s.gw.deliver(&message(
        &text_headers(&s, "<signonly@example.net>"),
        &String::from_utf8_lossy(&signed),
    ));
    s.gw.run_once();
    let r = &s.gw.reports()[0];
    assert_eq!(r["encrypted"], false, "{r}");
    assert_eq!(r["signature"], "good");
    assert_eq!(r["title"], "SQL injection in login form");
}

#[test]
fn unreadable_notices_are_limited_to_one_per_sender_a_day() {
    let s = Scene::new();
    let stranger = s.gpg.gen_key("Old Gateway <old@example.org>");
    for n in 0..3 {
        let armored = s
            .gpg
            .encrypt(&stranger, None, format!("report {n}").as_bytes());
        let msgid = format!("<flood{n}@example.net>");
        s.gw.deliver(&message(
            &text_headers(&s, &msgid),
            &String::from_utf8_lossy(&armored),
        ));
    }
    s.gw.run_once();
    assert_eq!(s.gw.quarantine().len(), 3);
    assert_eq!(s.gw.outbox().len(), 1, "one notice, not three");
}

#[test]
fn a_quarantined_message_is_read_once_the_missing_key_is_installed() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scene::new();
    let old = s.gpg.gen_key("Old Gateway <security@example.org>");
    let armored = s.gpg.encrypt(&old, Some(&s.alice), REPORT.as_bytes());
    let file = s.gw.deliver(&message(
        &text_headers(&s, "<later@example.net>"),
        &String::from_utf8_lossy(&armored),
    ));
    s.gw.run_once();
    assert!(s.gw.reports().is_empty());

    // The operator installs the old secret key and moves the message back.
    let secret = s.gpg.run(&["--armor", "--export-secret-keys", &old], b"");
    let path = s.gw.path("keys/old-gateway.asc");
    std::fs::write(&path, secret).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(
        s.gw.path(&format!("inbox/.Quarantine/new/{file}")),
        s.gw.path(&format!("inbox/new/{file}")),
    )
    .unwrap();
    let log = s.gw.run_once();
    let reports = s.gw.reports();
    let keys = String::from_utf8_lossy(&s.gw.cli(&["keys", "show"]).stdout).into_owned();
    assert_eq!(reports.len(), 1, "{log}\n{keys}");
    assert_eq!(reports[0]["encrypted"], true);
}
