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

fn events_with(report: &serde_json::Value, action: &str) -> Vec<String> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["note"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Issue 23 item 10: the relay refuses the acknowledgement for good (550); the
/// report says so, once.
#[test]
fn smtp_550_for_the_acknowledgement_is_recorded_on_the_report() {
    let net = crate::network::Net::new();
    net.smtp.set_mode(crate::servers::SmtpMode::PermFail);
    net.imap
        .append("INBOX", &plain_report("<bounced-ack@example.net>"));
    net.gw.run_once();
    let id = net.gw.reports()[0]["id"].as_str().unwrap().to_string();
    let r = net.gw.json(&["reports", "show", &id, "--json"]);
    let failed = events_with(&r, "delivery failed");
    assert_eq!(failed.len(), 1, "{r:#}");
    assert!(
        failed[0].contains("acknowledgement to alice@example.net could not be delivered")
            && failed[0].contains("550"),
        "{failed:?}"
    );
    let out = net.gw.cli(&["reports", "show", &id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("delivery failed"), "{text}");
    assert!(text.contains("could not be delivered"), "{text}");
    // A parked job is not tried again, and the report does not say it twice.
    net.gw.run_once();
    let r = net.gw.json(&["reports", "show", &id, "--json"]);
    assert_eq!(events_with(&r, "delivery failed").len(), 1, "{r:#}");
}

/// Issue 23 item 10: a job that keeps failing until its expiry is given up, and the
/// report says so.
#[test]
fn an_expired_acknowledgement_is_recorded_on_the_report() {
    let net = crate::network::Net::new();
    let text = std::fs::read_to_string(&net.gw.config).unwrap();
    std::fs::write(
        &net.gw.config,
        text.replace("expire_after = \"1h\"", "expire_after = \"4s\""),
    )
    .unwrap();
    net.smtp.set_mode(crate::servers::SmtpMode::TempFail);
    net.imap
        .append("INBOX", &plain_report("<expiring-ack@example.net>"));
    net.gw.run_once();
    let id = net.gw.reports()[0]["id"].as_str().unwrap().to_string();
    let r = net.gw.json(&["reports", "show", &id, "--json"]);
    // The first attempt comes within the round that made the job, far inside 4 s even on
    // a loaded machine (with an expiry of 1 s, a slow round gave the job up at once).
    assert!(
        events_with(&r, "delivery failed").is_empty(),
        "given up in the round that made it: its first attempt came more than 4 s after \
         the job was made\n{r:#}"
    );
    // The retry is due after 1 s and the job expires 4 s after it was made, before this
    // round began: well past both, the next round gives it up.
    std::thread::sleep(std::time::Duration::from_millis(4500));
    net.gw.run_once();
    let r = net.gw.json(&["reports", "show", &id, "--json"]);
    let failed = events_with(&r, "delivery failed");
    assert_eq!(failed.len(), 1, "{r:#}");
    assert!(
        failed[0].contains("acknowledgement to alice@example.net could not be delivered")
            && failed[0].contains("gave up after 2 tries")
            && failed[0].contains("451"),
        "{failed:?}"
    );
}

/// A bounce as Postfix's bounce(8) writes it (notification, delivery report,
/// returned headers), for the message with `message_id` sent to `rcpt`.
fn postfix_bounce(message_id: &str, rcpt: &str, own_id: &str) -> Vec<u8> {
    format!(
        "Return-Path: <>\r
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r
Subject: Undelivered Mail Returned to Sender\r
To: {GATEWAY}\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status;\r
\tboundary=\"3C2D1E0F9A.1796660400/mx.example.net\"\r
Content-Transfer-Encoding: 8bit\r
Message-Id: <{own_id}>\r
Date: Mon,  7 Dec 2026 17:40:00 +0000 (UTC)\r
\r
This is a MIME-encapsulated message.\r
\r
--3C2D1E0F9A.1796660400/mx.example.net\r
Content-Description: Notification\r
Content-Type: text/plain; charset=us-ascii\r
\r
This is the mail system at host mx.example.net.\r
\r
I'm sorry to have to inform you that your message could not\r
be delivered to one or more recipients. It's attached below.\r
\r
<{rcpt}>: host mail.example.net[192.0.2.7] said: 550 5.1.1 <{rcpt}>:\r
    Recipient address rejected: User unknown in virtual mailbox table (in reply\r
    to RCPT TO command)\r
\r
--3C2D1E0F9A.1796660400/mx.example.net\r
Content-Description: Delivery report\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.net\r
X-Postfix-Queue-ID: 3C2D1E0F9A\r
X-Postfix-Sender: rfc822; {GATEWAY}\r
Arrival-Date: Mon,  7 Dec 2026 17:39:58 +0000 (UTC)\r
\r
Final-Recipient: rfc822; {rcpt}\r
Original-Recipient: rfc822;{rcpt}\r
Action: failed\r
Status: 5.1.1\r
Remote-MTA: dns; mail.example.net\r
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User\r
    unknown in virtual mailbox table\r
\r
--3C2D1E0F9A.1796660400/mx.example.net\r
Content-Description: Undelivered Message Headers\r
Content-Type: text/rfc822-headers\r
Content-Transfer-Encoding: 8bit\r
\r
Return-Path: <{GATEWAY}>\r
Received: by mx.example.net (Postfix, from userid 0)\r
\tid 3C2D1E0F9A; Mon,  7 Dec 2026 17:39:58 +0000 (UTC)\r
From: Example Security <{GATEWAY}>\r
To: {rcpt}\r
Subject: [VR] ...\r
Message-ID: {message_id}\r
MIME-Version: 1.0\r
\r
--3C2D1E0F9A.1796660400/mx.example.net--\r
"
    )
    .into_bytes()
}

/// Issue 23 item 10: a DSN for the acknowledgement, arriving in the inbox, is
/// recorded on the report, not quarantined and never answered; one for a message
/// the gateway never sent changes no report.
#[test]
fn a_postfix_bounce_of_the_acknowledgement_is_recorded_on_the_report() {
    let gw = Gateway::new();
    gw.deliver(&plain_report("<will-bounce@example.net>"));
    gw.run_once();
    let id = gw.reports()[0]["id"].as_str().unwrap().to_string();
    let outbox = gw.outbox();
    assert_eq!(outbox.len(), 1);
    let ack_id = header(&outbox[0], "Message-ID").unwrap();

    gw.deliver(&postfix_bounce(
        &ack_id,
        "alice@example.net",
        "20261207174000.3C2D1E0F9A@mx.example.net",
    ));
    // A bounce of a message the gateway never sent: the loop filter's business.
    gw.deliver(&postfix_bounce(
        "<someone-else@example.com>",
        "alice@example.net",
        "20261207174001.4D3E2F1A0B@mx.example.net",
    ));
    // A bounce naming the researcher's own report is not the gateway's mail.
    gw.deliver(&postfix_bounce(
        "<will-bounce@example.net>",
        "alice@example.net",
        "20261207174002.5E4F3A2B1C@mx.example.net",
    ));
    gw.run_once();

    let r = gw.json(&["reports", "show", &id, "--json"]);
    let bounces = events_with(&r, "bounce received");
    assert_eq!(bounces.len(), 1, "{r:#}");
    assert!(
        bounces[0].contains("could not be delivered")
            && bounces[0].contains("failed for alice@example.net")
            && bounces[0].contains("550 5.1.1"),
        "{bounces:?}"
    );
    let out = gw.cli(&["reports", "show", &id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("bounce received"));
    // Nothing answered, nothing quarantined, no new report.
    assert_eq!(gw.outbox().len(), 1);
    let intake = gw.quarantine();
    assert!(intake.iter().all(|e| e["kind"] == "skipped"), "{intake:#?}");
    assert!(
        intake.iter().any(|e| e["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("delivery status notification for {id}"))),
        "{intake:#?}"
    );
    assert_eq!(gw.reports().len(), 1);
}

/// Issue 23 item 12: after `keys rotate` the old key certifies the new one, and the
/// next mail to an open report's researcher carries the new key, once; their GnuPG,
/// which knows only the old key, sees the old key's certification on it.
#[test]
fn rotated_key_is_certified_by_the_old_one_and_announced_once_per_report() {
    let s = Scene::new();
    let old = s.gateway_fpr.clone();
    let key = s.gpg.export(&s.alice);
    let inner = entity(
        Some("SQL injection in login form"),
        REPORT,
        &[("alice.asc", "application/pgp-keys", &key)],
    );
    let armored = s.gpg.encrypt(&old, Some(&s.alice), &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<rotate@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let id = s.gw.reports()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(s.gw.reports()[0]["proven_key"], s.alice.as_str());

    let out = s.gw.cli(&["keys", "rotate"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("certified by the old key {old}")),
        "{said}"
    );
    let new = s.gw.signing_fingerprint();
    assert_ne!(new, old);

    let reply = |text: &str| -> (String, Vec<u8>) {
        let file = s.gw.path("answer.txt");
        std::fs::write(&file, text).unwrap();
        let before = s.gw.outbox().len();
        let out =
            s.gw.cli(&["reports", "reply", &id, "--file", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        s.gw.run_once();
        let outbox = s.gw.outbox();
        assert_eq!(outbox.len(), before + 1);
        // Signed by the new key: before the researcher imports it, gpg decrypts
        // but cannot check the signature (and exits non-zero for that).
        let (status, plain, _) = s.gpg.decrypt(&armored_block(&outbox[before]));
        assert!(status.contains("DECRYPTION_OKAY"), "{status}");
        (status, plain)
    };
    let (_, first) = reply("Thanks, we reproduced it.\n");
    let text = String::from_utf8_lossy(&first).into_owned();
    assert!(text.contains("Our OpenPGP key has changed"), "{text}");
    assert!(text.contains(&new), "{text}");
    let start = text
        .find("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        .expect("no key attached");
    let end = text.find("-----END PGP PUBLIC KEY BLOCK-----").unwrap();
    let block = &text[start..end + "-----END PGP PUBLIC KEY BLOCK-----".len()];
    let file = s.gw.path("new-gateway-key.asc");
    std::fs::write(&file, block).unwrap();
    s.gpg.import(&file);
    let sigs = String::from_utf8(s.gpg.run(&["--with-colons", "--check-sigs", &new], b"")).unwrap();
    let old_keyid = &old[old.len() - 16..];
    assert!(
        sigs.lines().any(|l| {
            let f: Vec<&str> = l.split(':').collect();
            f.first() == Some(&"sig") && f.get(1) == Some(&"!") && f.get(4) == Some(&old_keyid)
        }),
        "no good certification by the old key {old} on the new key:\n{sigs}"
    );
    let r = s.gw.json(&["reports", "show", &id, "--json"]);
    assert_eq!(events_with(&r, "gateway key announced").len(), 1, "{r:#}");

    // Once per report: the next answer does not carry it again.
    let (status, second) = reply("A fix is planned for 2.3.2.\n");
    // With the new key imported, the researcher's GnuPG verifies the gateway's mail.
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&new)),
        "{status}"
    );
    let text = String::from_utf8_lossy(&second);
    assert!(!text.contains("Our OpenPGP key has changed"), "{text}");
    assert!(!text.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{text}");
    let r = s.gw.json(&["reports", "show", &id, "--json"]);
    assert_eq!(events_with(&r, "gateway key announced").len(), 1, "{r:#}");
}

/// The key can come in the Autocrypt header of the follow-up instead of attached.
#[test]
fn key_in_an_autocrypt_header_proves_the_report_it_signed() {
    let t = Mutt::new();
    let id = t.report();
    assert!(t.show(&id)["proven_key"].is_null());
    let keydata = {
        use base64::Engine as _;
        let binary = t.s.gpg.run(&["--export", &t.fpr], b"");
        base64::engine::general_purpose::STANDARD.encode(binary)
    };
    let autocrypt = format!("addr=mutt@example.net; keydata={keydata}");
    let ack_id = header(&t.s.gw.outbox()[0], "Message-ID").unwrap();
    let subject = format!("Re: [{id}] Received: encrypted report");
    let inner = entity(Some(&subject), "Any news?\n", &[]);
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.fpr), &inner);
    let mut headers = t.headers("<autocrypt-follow@example.net>", "...");
    headers.push(("In-Reply-To", &ack_id));
    headers.push(("Autocrypt", &autocrypt));
    t.s.gw.deliver(&pgp_mime_encrypted(&headers, &armored));
    t.s.gw.run_once();
    let r = t.show(&id);
    assert_eq!(r["proven_key"], t.fpr.as_str(), "{r}");
    assert!(actions(&r).contains(&"key proven later".to_string()), "{r}");
    let (ok, _, err) = t.reply(&id, "Thanks, we reproduced it.\n");
    assert!(ok, "{err}");
}
