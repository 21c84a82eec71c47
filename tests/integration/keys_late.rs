//! Issue 23, items 3, 10 and 12: a researcher's key that arrives after their report
//! (the mutt user's road), deliveries that fail or bounce, and `keys rotate`
//! announced to researchers.

use crate::pipeline::{REPORT, Scene, entity, pgp_mime_encrypted, pgp_mime_signed};
use crate::util::*;

const SIGNED_CT: &str = "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"sig-b\"";

/// A researcher who uses mutt: their key is in their own GnuPG, never sent to the
/// gateway until they are asked for it.
struct Mutt {
    s: Scene,
    fpr: String,
}

impl Mutt {
    fn new() -> Mutt {
        let s = Scene::new();
        // This researcher's GnuPG holds only their own key (and the gateway's).
        s.gpg.run(
            &[
                "--batch",
                "--yes",
                "--delete-secret-and-public-key",
                &s.alice,
            ],
            b"",
        );
        let fpr = s.gpg.gen_key("Mutt User <mutt@example.net>");
        Mutt { s, fpr }
    }

    fn headers<'a>(&self, msgid: &'a str, subject: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("From", "Mutt User <mutt@example.net>"),
            ("To", GATEWAY),
            ("Subject", subject),
            ("Message-ID", msgid),
            ("Date", "Mon, 23 Nov 2026 10:00:00 +0000"),
            ("MIME-Version", "1.0"),
        ]
    }

    /// The report, signed and encrypted in one step as mutt does with
    /// `pgp_autosign` and `crypt_autoencrypt`: the gateway does not have the key.
    fn report(&self) -> String {
        let inner = entity(Some("SQL injection in login form"), REPORT, &[]);
        let armored = self
            .s
            .gpg
            .encrypt(&self.s.gateway_fpr, Some(&self.fpr), &inner);
        self.s.gw.deliver(&pgp_mime_encrypted(
            &self.headers("<report@example.net>", "..."),
            &armored,
        ));
        self.s.gw.run_once();
        let reports = self.s.gw.reports();
        assert_eq!(reports.len(), 1, "{reports:?}");
        reports[0]["id"].as_str().unwrap().to_string()
    }

    /// A follow-up answering the acknowledgement, signed and encrypted by `signer`
    /// in `gpg`, with `key` attached.
    fn follow_up(&self, gpg: &Gpg, signer: &str, key: &[u8], id: &str, n: u32) {
        let ack = &self.s.gw.outbox()[0];
        let ack_id = header(ack, "Message-ID").unwrap();
        let subject = format!("Re: [{id}] Received: encrypted report");
        let inner = entity(
            Some(&subject),
            "Here is my public key, as you asked.\n",
            &[("key.asc", "application/pgp-keys", key)],
        );
        let armored = gpg.encrypt(&self.s.gateway_fpr, Some(signer), &inner);
        let msgid = format!("<follow-{n}@example.net>");
        let mut headers = self.headers(&msgid, "...");
        headers.push(("In-Reply-To", &ack_id));
        self.s.gw.deliver(&pgp_mime_encrypted(&headers, &armored));
        self.s.gw.run_once();
    }

    fn show(&self, id: &str) -> serde_json::Value {
        self.s.gw.json(&["reports", "show", id, "--json"])
    }

    fn show_text(&self, id: &str) -> String {
        let out = self.s.gw.cli(&["reports", "show", id]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `reports reply`; returns (success, stdout, stderr).
    fn reply(&self, id: &str, text: &str) -> (bool, String, String) {
        let file = self.s.gw.path("answer.txt");
        std::fs::write(&file, text).unwrap();
        let out = self
            .s
            .gw
            .cli(&["reports", "reply", id, "--file", file.to_str().unwrap()]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn actions(report: &serde_json::Value) -> Vec<String> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn key_attached_to_a_follow_up_proves_the_report_it_signed() {
    let t = Mutt::new();
    let id = t.report();
    let r = t.show(&id);
    assert_eq!(r["signature"], "unknown_key", "{r}");
    assert!(r["proven_key"].is_null(), "{r}");

    // One story: the maintainer sees who signed it; the acknowledgement (in clear,
    // saying nothing of the report) asks for exactly what proves it.
    let text = t.show_text(&id);
    assert!(
        text.contains(&format!("signed by {}, which we did not have", t.fpr)),
        "{text}"
    );
    let ack = t.s.gw.outbox()[0].clone();
    let ack_text = String::from_utf8_lossy(&ack)
        .replace("=\r\n", "")
        .replace("=\n", "");
    // The content-free acknowledgement names no key: a replayed report must not
    // tell the replayer whose key signed it.
    assert!(!ack_text.contains(&t.fpr), "{ack_text}");
    assert!(
        ack_text.contains("send a follow-up signed with that key and attach your public key"),
        "{ack_text}"
    );
    let (ok, _, err) = t.reply(&id, "Thanks, we are looking at it.\n");
    assert!(!ok, "a reply in clear to an encrypted report was sent");
    assert!(err.contains(&t.fpr), "{err}");

    // The researcher does what the acknowledgement asks.
    let key = t.s.gpg.export(&t.fpr);
    t.follow_up(&t.s.gpg, &t.fpr, &key, &id, 1);

    let r = t.show(&id);
    assert_eq!(r["proven_key"], t.fpr.as_str(), "{r}");
    assert_eq!(r["signature"], "good", "{r}");
    assert!(actions(&r).contains(&"key proven later".to_string()), "{r}");
    assert_eq!(r["correspondence"].as_array().unwrap().len(), 1, "{r}");
    let text = t.show_text(&id);
    assert!(text.contains("key proven later"), "{text}");

    // The maintainer's answer now goes encrypted to that key, and the researcher's
    // GnuPG reads it.
    let before = t.s.gw.outbox().len();
    let (ok, out, err) = t.reply(&id, "Thanks, we reproduced it.\n");
    assert!(ok, "{err}");
    assert!(out.contains("encrypted"), "{out}");
    t.s.gw.run_once();
    let outbox = t.s.gw.outbox();
    let reply = outbox[before..]
        .iter()
        .find(|m| to_address(m).as_deref() == Some("mutt@example.net"))
        .expect("no reply to the researcher");
    assert!(
        header(reply, "Content-Type")
            .unwrap()
            .starts_with("multipart/encrypted")
    );
    let (status, plain, ok) = t.s.gpg.decrypt(&armored_block(reply));
    assert!(ok, "{status}");
    assert!(
        qp_decode(&plain).contains("Thanks, we reproduced it."),
        "{}",
        String::from_utf8_lossy(&plain)
    );
    // Decrypted with the mutt user's key (the gateway hides the recipients' key IDs).
    let used = status
        .lines()
        .find(|l| l.starts_with("[GNUPG:] DECRYPTION_KEY "))
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(used.split(' ').nth(3), Some(t.fpr.as_str()), "{status}");
}

#[test]
fn a_different_key_for_the_same_address_proves_nothing() {
    let t = Mutt::new();
    let id = t.report();
    // Someone else makes a key with the researcher's user ID and sends it, signed
    // by it, as a follow-up from the researcher's address.
    let attacker = Gpg::new();
    attacker.import(&t.s.gw.public_key_path());
    let forged = attacker.gen_key("Mutt User <mutt@example.net>");
    assert_ne!(forged, t.fpr);
    let key = attacker.export(&forged);
    t.follow_up(&attacker, &forged, &key, &id, 1);

    let r = t.show(&id);
    assert!(r["proven_key"].is_null(), "{r}");
    assert_eq!(r["signature"], "unknown_key", "{r}");
    assert!(
        !actions(&r).contains(&"key proven later".to_string()),
        "{r}"
    );
    let (ok, _, _) = t.reply(&id, "Thanks.\n");
    assert!(!ok, "a reply went out although no key was proven");

    // The real key still proves it afterwards.
    let key = t.s.gpg.export(&t.fpr);
    t.follow_up(&t.s.gpg, &t.fpr, &key, &id, 2);
    assert_eq!(t.show(&id)["proven_key"], t.fpr.as_str());
}

#[test]
fn a_key_named_by_a_signature_that_does_not_verify_proves_nothing() {
    let t = Mutt::new();
    // The signature names the researcher's key, but what it signed is not what the
    // report says: an attacker swapped the text and encrypted it themselves.
    let signed = entity(None, REPORT, &[]);
    let sig = t.s.gpg.detach_sign(&t.fpr, &signed);
    let altered = entity(None, &REPORT.replace("username", "password"), &[]);
    let mut inner =
        format!("Content-Type: {SIGNED_CT}\r\nSubject: SQL injection\r\n\r\n").into_bytes();
    inner.extend(pgp_mime_signed(&altered, &sig));
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, None, &inner);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &t.headers("<report@example.net>", "..."),
        &armored,
    ));
    t.s.gw.run_once();
    let id = t.s.gw.reports()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(t.show(&id)["signature"], "unknown_key");
    assert!(t.show_text(&id).contains(&format!("signed by {}", t.fpr)));

    // The key whose fingerprint the signature names arrives, in a genuine signed
    // follow-up: the report's signature does not verify with it.
    let key = t.s.gpg.export(&t.fpr);
    t.follow_up(&t.s.gpg, &t.fpr, &key, &id, 1);
    let r = t.show(&id);
    assert!(r["proven_key"].is_null(), "{r}");
    assert!(
        !actions(&r).contains(&"key proven later".to_string()),
        "{r}"
    );
    // The signature is bad now that its key is known, and says so.
    assert_eq!(r["signature"], "bad", "{r}");
    assert!(
        actions(&r).contains(&"signature checked later".to_string()),
        "{r}"
    );
    let (ok, _, _) = t.reply(&id, "Thanks.\n");
    assert!(!ok, "a reply went out although no key was proven");
}

#[test]
fn key_preloaded_in_reporters_dir_later_proves_the_report() {
    let t = Mutt::new();
    let id = t.report();
    assert!(t.show(&id)["proven_key"].is_null());
    // The researcher sent their key by other means; the sysadmin puts it in place.
    std::fs::write(
        t.s.gw.path("keys/reporters/mutt.asc"),
        t.s.gpg.export(&t.fpr),
    )
    .unwrap();
    // The next message the gateway handles (anyone's) brings the check.
    t.s.gw.deliver(&plain_report("<other@example.com>"));
    t.s.gw.run_once();
    let r = t.show(&id);
    assert_eq!(r["proven_key"], t.fpr.as_str(), "{r}");
    let (ok, _, err) = t.reply(&id, "Thanks, we reproduced it.\n");
    assert!(ok, "{err}");
}
