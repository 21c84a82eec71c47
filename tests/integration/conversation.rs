//! Issue 14: maintainers answer and act by email. Bob and Carol each have their own
//! GnuPG home and key in `[[maintainers]]`; Alice reports. Every message is made by
//! GnuPG, and every answer is opened by its recipient's GnuPG.

use crate::lifecycle::{Maintainer, Team, actions, year};
use crate::pipeline::{REPORT, entity, pgp_mime_encrypted};
use crate::util::*;

/// Headers of a maintainer's message (the outer Subject says nothing: the report is
/// named inside what was signed).
fn headers<'a>(from: &'a str, msgid: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("From", from),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", msgid),
        ("MIME-Version", "1.0"),
    ]
}

/// The Message-ID of `m`'s new-report notification of `id`: a reply to it (its
/// In-Reply-To) is what the researcher may receive.
fn notification(t: &Team, m: &Maintainer, id: &str) -> String {
    let first = t.mail_to(m.address, "New report");
    let n = first
        .iter()
        .find(|n| header(n, "Subject").unwrap().contains(id))
        .unwrap_or_else(|| panic!("no notification of {id} to {}", m.address));
    header(n, "Message-ID").unwrap()
}

/// `m`'s text, with `subject` as the protected Subject, signed by `m`'s key inside
/// the encryption to the gateway; returns the armored message.
fn signed_encrypted(t: &Team, m: &Maintainer, subject: Option<&str>, text: &str) -> Vec<u8> {
    let inner = entity(subject, text, &[]);
    m.gpg.encrypt(&t.s.gateway_fpr, Some(m.address), &inner)
}

/// Alice's report, stored and acknowledged; its ID.
fn reported(t: &Team) -> String {
    t.s.gw.deliver(&t.report("<c-orig@example.net>", REPORT));
    t.s.gw.run_once();
    format!("VR-{}-0001", year())
}

/// Alice's mail that is not the acknowledgement.
fn to_alice(t: &Team) -> Vec<Vec<u8>> {
    t.mail_to("alice@example.net", "")
        .into_iter()
        .filter(|m| {
            !header(m, "Subject")
                .unwrap_or_default()
                .contains("Received")
        })
        .collect()
}

/// Decrypts a message to Alice with her GnuPG; checks the gateway signed it.
fn alice_reads(t: &Team, raw: &[u8]) -> String {
    let (status, plain, ok) = t.s.gpg.decrypt(&armored_block(raw));
    assert!(ok, "Alice cannot decrypt: {status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&t.s.gateway_fpr)),
        "not signed by the gateway: {status}"
    );
    qp_decode(&plain)
}

fn status(t: &Team, id: &str) -> String {
    t.show(id)["status"].as_str().unwrap().to_string()
}

#[test]
fn a_maintainers_answer_is_applied_relayed_to_the_researcher_and_copied_to_the_team() {
    let t = Team::new("");
    let id = reported(&t);
    let bob_fpr = t.bob.gpg.fingerprint(t.bob.address);

    let bob_armored = signed_encrypted(
        &t,
        &t.bob,
        Some(&format!("Re: [{id}] New report")),
        "X-STATUS: triaged\nx-severity: high\nX-NOTE: zebra-internal-note\n\nThanks, we reproduced it; a fix is planned.\n\nOn Mon, Example Security <security@example.org> wrote:\n> A new vulnerability report has been stored.\n> Hints: quoted-hint-yak\n\n-- \nBob Maintainer, bob@example.org\n",
    );
    let bob_root = notification(&t, &t.bob, &id);
    let mut h = headers("Bob Maintainer <bob@example.org>", "<bob-1@example.org>");
    h.push(("In-Reply-To", &bob_root));
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &bob_armored));
    let log = t.s.gw.run_once();

    let r = t.show(&id);
    assert_eq!(r["status"], "triaged", "{log}");
    assert_eq!(r["severity"], "high", "{}", r["severity"]);
    let events = serde_json::to_string(&r["events"]).unwrap();
    assert!(events.contains("zebra-internal-note"), "{events}");
    assert!(actions(&r).contains(&"reply".to_string()));
    assert_eq!(t.s.gw.reports().len(), 1, "an answer is not a report");

    // The researcher gets the text only: from the gateway, signed by it, encrypted
    // to her key; no commands, no internal note, nothing of Bob's address or key.
    let mail = to_alice(&t);
    assert_eq!(mail.len(), 1, "{log}");
    let raw = String::from_utf8_lossy(&mail[0]).into_owned();
    assert!(header(&mail[0], "From").unwrap().contains(GATEWAY));
    assert!(header(&mail[0], "Subject").unwrap().contains(&id));
    let text = alice_reads(&t, &mail[0]);
    assert!(text.contains("a fix is planned"), "{text}");
    assert!(text.contains("Bob Maintainer, Example Security"), "{text}");
    for secret in [
        "X-STATUS",
        "x-severity",
        "zebra",
        "bob@example.org",
        &bob_fpr[..],
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
        assert!(!raw.contains(secret), "{secret} in the envelope");
    }
    assert!(
        header(&mail[0], "References")
            .unwrap()
            .contains("<c-orig@example.net>")
    );

    // Carol (and Bob) get a copy, encrypted to their own keys.
    for m in [&t.carol, &t.bob] {
        let copies = t.mail_to(m.address, "Maintainer answer");
        assert_eq!(copies.len(), 1, "{}", m.address);
        let copy = m.open(&copies[0], &t.s.gateway_fpr);
        assert!(copy.contains("a fix is planned"), "{copy}");
        assert!(copy.contains("X-STATUS: triaged"), "{copy}");
    }

    // All of it threads under each maintainer's first notification of the report.
    for m in [&t.carol, &t.bob] {
        let first = t.mail_to(m.address, "New report");
        assert_eq!(first.len(), 1);
        let root = header(&first[0], "Message-ID").unwrap();
        let copy = &t.mail_to(m.address, "Maintainer answer")[0];
        assert_eq!(header(copy, "In-Reply-To").unwrap(), root, "{}", m.address);
        assert!(header(copy, "References").unwrap().contains(&root));
    }
    let carol_root = header(&t.mail_to(t.carol.address, "New report")[0], "Message-ID").unwrap();

    // Alice answers the relayed mail: both maintainers get it.
    let relayed_id = header(&mail[0], "Message-ID").unwrap();
    let inner = entity(
        Some("Re: your answer"),
        "Thank you, 2.3.1 is affected too.\n",
        &[],
    );
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    let mut h = t.s.headers("<alice-2@example.net>", "...");
    h.push(("In-Reply-To", &relayed_id));
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    t.s.gw.run_once();
    for m in [&t.bob, &t.carol] {
        let notes = t.mail_to(m.address, "follow-up");
        assert_eq!(notes.len(), 1, "{}", m.address);
        assert!(
            m.open(&notes[0], &t.s.gateway_fpr)
                .contains("2.3.1 is affected")
        );
    }
    let note = &t.mail_to(t.carol.address, "follow-up")[0];
    assert_eq!(header(note, "In-Reply-To").unwrap(), carol_root);

    // Bob's message sent again under a new Message-ID changes nothing and reaches
    // nobody but Bob, who is told why.
    let alice_before = to_alice(&t).len();
    let copies_before = t.mail_to(t.carol.address, "Maintainer answer").len();
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers(
            "Bob Maintainer <bob@example.org>",
            "<bob-1-replayed@example.org>",
        ),
        &bob_armored,
    ));
    t.s.gw.run_once();
    assert_eq!(status(&t, &id), "triaged", "a replay changes nothing");
    assert_eq!(t.show(&id)["correspondence"].as_array().unwrap().len(), 2);
    assert_eq!(
        to_alice(&t).len(),
        alice_before,
        "and reaches no researcher"
    );
    assert_eq!(
        t.mail_to(t.carol.address, "Maintainer answer").len(),
        copies_before
    );
    let refused = t.mail_to(t.bob.address, "not taken");
    assert_eq!(refused.len(), 1);
    let why = t.bob.open(&refused[0], &t.s.gateway_fpr);
    assert!(why.contains("replayed"), "{why}");
    let q = t.s.gw.quarantine();
    assert!(
        q.iter()
            .any(|e| e["kind"] == "quarantined"
                && e["reason"].as_str().unwrap().contains("replayed")),
        "{q:?}"
    );

    // A fresh signature is taken: accepted is a state the researcher is told of.
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers("Bob Maintainer <bob@example.org>", "<bob-2@example.org>"),
        &armored_of(
            &t,
            &t.bob,
            &id,
            "X-STATUS: accepted
",
        ),
    ));
    t.s.gw.run_once();
    assert_eq!(status(&t, &id), "accepted");
    let mail = to_alice(&t);
    assert_eq!(mail.len(), alice_before + 1);
    let told = alice_reads(&t, mail.last().unwrap());
    assert!(told.contains("is now: accepted"), "{told}");
    assert!(!told.contains("X-STATUS"), "{told}");
}

/// A fresh message by `m` naming `id` in its protected Subject; armored.
fn armored_of(t: &Team, m: &Maintainer, id: &str, text: &str) -> Vec<u8> {
    signed_encrypted(t, m, Some(&format!("Re: [{id}]")), text)
}

#[test]
fn a_reply_from_a_maintainers_other_address_is_taken_by_its_key() {
    let t = Team::new("");
    let id = reported(&t);
    // Carol writes from her private address; the report is named in the text only.
    let armored = signed_encrypted(
        &t,
        &t.carol,
        None,
        &format!("X-STATUS: triaged\n\nWe are looking at {id} now.\n"),
    );
    let root = notification(&t, &t.carol, &id);
    let mut h = headers(
        "Carol <carol@home.example.net>",
        "<carol-1@home.example.net>",
    );
    h.push(("In-Reply-To", &root));
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    t.s.gw.run_once();
    assert_eq!(status(&t, &id), "triaged");
    let mail = to_alice(&t);
    assert_eq!(mail.len(), 1);
    let text = alice_reads(&t, &mail[0]);
    assert!(text.contains("We are looking at"), "{text}");
    assert!(
        text.contains("Carol Maintainer, Example Security"),
        "{text}"
    );
    assert!(!text.contains("home.example.net"));
    // Nothing went to the From address she wrote from.
    assert!(t.mail_to("carol@home.example.net", "").is_empty());
    assert_eq!(t.mail_to(t.bob.address, "Maintainer answer").len(), 1);
}

#[test]
fn forged_unencrypted_and_unknown_keyword_mail_changes_nothing_and_reaches_no_researcher() {
    let t = Team::new("");
    let id = reported(&t);
    let subject = format!("Re: [{id}] New report");
    let outbox_before = t.s.gw.outbox().len();

    // 1. Unsigned, encrypted, from Bob's address.
    let inner = entity(
        Some(&subject),
        "X-STATUS: rejected\nX-REASON: spam\n\nNot a bug.\n",
        &[],
    );
    let unsigned = t.s.gpg.encrypt(&t.s.gateway_fpr, None, &inner);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers("Bob Maintainer <bob@example.org>", "<forged-1@example.org>"),
        &unsigned,
    ));
    // 2. Signed inside the encryption by a stranger's key made for Bob's address,
    //    with that key attached.
    let mallory = Gpg::new();
    mallory.import(&t.s.gw.public_key_path());
    mallory.gen_key("Bob Maintainer <bob@example.org>");
    let key = mallory.export("bob@example.org");
    let inner = entity(
        Some(&subject),
        "X-STATUS: rejected\nX-REASON: spam\n\nNot a bug.\n",
        &[("bob.asc", "application/pgp-keys", &key)],
    );
    let forged = mallory.encrypt(&t.s.gateway_fpr, Some("bob@example.org"), &inner);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers("Bob Maintainer <bob@example.org>", "<forged-2@example.org>"),
        &forged,
    ));
    t.s.gw.run_once();
    assert_eq!(status(&t, &id), "acknowledged");
    assert_eq!(t.s.gw.outbox().len(), outbox_before, "nobody is answered");
    assert_eq!(t.s.gw.reports().len(), 1);
    let q = t.s.gw.quarantine();
    assert_eq!(
        q.iter().filter(|e| e["kind"] == "quarantined").count(),
        2,
        "{q:?}"
    );

    // 3. Signed by Bob's key but not encrypted: not taken, and Bob is told why.
    let signed = t.bob.gpg.clearsign(
        t.bob.address,
        format!("X-REPORT: {id}\nX-STATUS: triaged\n\nLooks real.\n").as_bytes(),
    );
    t.s.gw.deliver(&message(
        &headers("Bob Maintainer <bob@example.org>", "<clear-1@example.org>"),
        &String::from_utf8_lossy(&signed),
    ));
    // 4. Signed and encrypted, with an unknown keyword on line 2.
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers(
            "Bob Maintainer <bob@example.org>",
            "<unknown-1@example.org>",
        ),
        &signed_encrypted(
            &t,
            &t.bob,
            Some(&subject),
            "X-STATUS: triaged\nX-PRIORITY: urgent\n\nLooks real.\n",
        ),
    ));
    // 5. A value `reports set` refuses.
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers(
            "Bob Maintainer <bob@example.org>",
            "<bad-value@example.org>",
        ),
        &signed_encrypted(&t, &t.bob, Some(&subject), "X-STATUS: fixed\n\nDone.\n"),
    ));
    t.s.gw.run_once();
    assert_eq!(status(&t, &id), "acknowledged", "nothing applied");
    assert!(to_alice(&t).is_empty(), "nothing relayed");
    assert!(t.show(&id)["correspondence"].as_array().unwrap().is_empty());
    let answers: Vec<String> = t
        .mail_to(t.bob.address, "not taken")
        .iter()
        .map(|m| t.bob.open(m, &t.s.gateway_fpr))
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        answers.iter().any(|a| a.contains("not encrypted")),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|a| a.contains("line 2") && a.contains("unknown keyword X-PRIORITY")),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|a| a.contains("cannot go from acknowledged to fixed")),
        "{answers:?}"
    );
    assert!(t.mail_to(t.carol.address, "").iter().all(|m| {
        !header(m, "Subject")
            .unwrap_or_default()
            .contains("not taken")
    }));
}

/// A time for gpg's `--faked-system-time`, `days` from now, clock frozen.
fn gpg_time(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y%m%dT%H%M%S!")
        .to_string()
}

#[test]
fn old_and_future_dated_signatures_are_refused() {
    let t = Team::new("");
    let id = reported(&t);
    // Bob's configured key was made 30 days ago, so a signature 10 days old is good
    // by it, and older than maintainers_mail.max_age (7d).
    let made = gpg_time(-30);
    let gpg = &t.bob.gpg;
    gpg.run(
        &[
            "--faked-system-time",
            &made,
            "--quick-gen-key",
            "Bob Old <bob@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
        b"",
    );
    let fpr = gpg.fingerprint("Bob Old");
    gpg.run(
        &[
            "--faked-system-time",
            &made,
            "--quick-add-key",
            &fpr,
            "cv25519",
            "encr",
            "never",
        ],
        b"",
    );
    std::fs::write(t.s.gw.path("keys/maintainers/bob.asc"), gpg.export(&fpr)).unwrap();
    let inner = entity(
        Some(&format!("Re: [{id}]")),
        "X-STATUS: triaged\n\nOn it.\n",
        &[],
    );
    for (days, msgid) in [(-10, "<old@example.org>"), (2, "<future@example.org>")] {
        let at = gpg_time(days);
        let armored = gpg.run(
            &[
                "--faked-system-time",
                &at,
                "--ignore-time-conflict",
                "--ignore-valid-from",
                "--armor",
                "--encrypt",
                "--recipient",
                &t.s.gateway_fpr,
                "--sign",
                "--local-user",
                &fpr,
            ],
            &inner,
        );
        t.s.gw.deliver(&pgp_mime_encrypted(
            &headers("Bob Maintainer <bob@example.org>", msgid),
            &armored,
        ));
    }
    t.s.gw.run_once();
    assert_eq!(status(&t, &id), "acknowledged");
    assert!(to_alice(&t).is_empty());
    let q = t.s.gw.quarantine();
    let reasons: Vec<&str> = q.iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(q.len(), 2, "{reasons:?}");
    assert!(q.iter().all(|e| e["kind"] == "quarantined"), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("longer ago than maintainers_mail.max_age")),
        "{reasons:?}"
    );
    // Sequoia does not take a signature dated ahead of the clock as good: it is
    // refused as not the maintainer's, and nobody is answered.
    assert!(
        reasons.iter().any(|r| r.contains("signature: bad")),
        "{reasons:?}"
    );
    assert!(t.mail_to(t.bob.address, "not taken").len() == 1);
}

#[test]
fn answers_to_reports_without_a_key_go_in_clear_only_when_the_report_did() {
    let t = Team::new("");
    // A report in clear, unsigned: the answer may go in clear.
    t.s.gw.deliver(&plain_report("<clear-report@example.net>"));
    // A report encrypted but unsigned: it proved no key, so no answer in clear.
    let inner = entity(Some("report"), REPORT, &[]);
    let unsigned = t.s.gpg.encrypt(&t.s.gateway_fpr, None, &inner);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &t.s.headers("<enc-nokey@example.net>", "..."),
        &unsigned,
    ));
    t.s.gw.run_once();
    let ids: Vec<String> =
        t.s.gw
            .reports()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(ids.len(), 2);
    let by_msgid = |m: &str| {
        ids.iter()
            .find(|id| t.show(id)["message_id"] == m)
            .unwrap()
            .clone()
    };
    let (clear, enc) = (
        by_msgid("clear-report@example.net"),
        by_msgid("enc-nokey@example.net"),
    );
    let before = t.s.gw.outbox().len();
    for (id, msgid) in [
        (&clear, "<to-clear@example.org>"),
        (&enc, "<to-enc@example.org>"),
    ] {
        let root = notification(&t, &t.bob, id);
        let mut h = headers("Bob Maintainer <bob@example.org>", msgid);
        h.push(("In-Reply-To", &root));
        t.s.gw.deliver(&pgp_mime_encrypted(
            &h,
            &armored_of(&t, &t.bob, id, "Thanks, looking into it.\n"),
        ));
    }
    // And an internal message about the encrypted one: kept within the team.
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers("Bob Maintainer <bob@example.org>", "<internal@example.org>"),
        &armored_of(
            &t,
            &t.bob,
            &enc,
            "X-INTERNAL: yes\n\nThis looks like spam to me.\n",
        ),
    ));
    t.s.gw.run_once();
    let sent = &t.s.gw.outbox()[before..];
    let to_reporters: Vec<&Vec<u8>> = sent
        .iter()
        .filter(|m| !to_address(m).unwrap().ends_with("@example.org"))
        .collect();
    assert_eq!(to_reporters.len(), 1, "only the clear report is answered");
    let raw = String::from_utf8_lossy(to_reporters[0]);
    assert!(raw.contains("Thanks, looking into it."), "{raw}");
    assert!(!raw.contains("bob@example.org"), "{raw}");
    assert_eq!(
        t.show(&clear)["correspondence"].as_array().unwrap().len(),
        1
    );
    assert!(
        t.show(&enc)["correspondence"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let refused = t.mail_to(t.bob.address, "not taken");
    assert_eq!(refused.len(), 1);
    assert!(
        t.bob
            .open(&refused[0], &t.s.gateway_fpr)
            .contains("came encrypted but proved no key")
    );
    let internal: Vec<String> = t
        .mail_to(t.carol.address, "Maintainer answer")
        .iter()
        .map(|m| t.carol.open(m, &t.s.gateway_fpr))
        .filter(|x| x.contains("looks like spam"))
        .collect();
    assert_eq!(internal.len(), 1, "the team gets the internal message");
    assert!(internal[0].contains("Internal"), "{}", internal[0]);

    // `reports show` lists each report's conversation in order, saying what was
    // relayed and what stayed internal.
    let kinds = |id: &str| -> Vec<String> {
        t.show(id)["conversation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kinds(&clear), vec!["relayed"]);
    assert_eq!(kinds(&enc), vec!["internal"]);
    let (ok, text, _) = t.cli(&["reports", "show", &enc]);
    assert!(ok);
    assert!(
        text.contains("internal (team only), mail:bob@example.org")
            && text.contains("looks like spam"),
        "{text}"
    );
}

#[test]
fn the_researcher_is_told_of_a_rejection_set_from_the_command_line() {
    let t = Team::new("");
    let id = reported(&t);
    let out = t.s.gw.cli(&[
        "reports",
        "set",
        &id,
        "--status",
        "rejected",
        "--reason",
        "out_of_scope",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.s.gw.run_once();
    let mail = to_alice(&t);
    assert_eq!(mail.len(), 1);
    let text = alice_reads(&t, &mail[0]);
    assert!(
        text.contains("is now: rejected (reason: out_of_scope)"),
        "{text}"
    );
    // Triaged is not in notify.reporter_on by default: no mail.
    let out = t.s.gw.cli(&["reports", "set", &id, "--status", "triaged"]);
    assert!(out.status.success());
    t.s.gw.run_once();
    assert_eq!(to_alice(&t).len(), 1);
}

#[test]
fn replays_cannot_flood_a_maintainer_with_answers() {
    let t = Team::new("[rate_limits]\nper_sender = 1\n");
    let id = reported(&t);
    let armored = armored_of(&t, &t.bob, &id, "X-STATUS: triaged\n\nOn it.\n");
    let root = notification(&t, &t.bob, &id);
    for n in 0..4 {
        let msgid = format!("<flood-{n}@example.org>");
        let mut h = headers("Bob Maintainer <bob@example.org>", &msgid);
        h.push(("In-Reply-To", &root));
        t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    }
    t.s.gw.run_once();
    assert_eq!(status(&t, &id), "triaged", "taken once");
    assert_eq!(to_alice(&t).len(), 1, "relayed once");
    // The first replay is answered; the others are recorded without an answer.
    assert_eq!(t.mail_to(t.bob.address, "not taken").len(), 1);
    let q = t.s.gw.quarantine();
    let limited = q
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .unwrap()
                .contains("no answer sent (rate limit)")
        })
        .count();
    assert_eq!(limited, 2, "{q:?}");
}
