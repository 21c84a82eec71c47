//! Issue 23 items 5, 6, 9 and 11: what every mail and command tells people. Alice
//! reports with her key attached (as a researcher sends it); Bob and Carol maintain,
//! each with their own GnuPG. Commands run as a maintainer runs them; every mail is
//! opened by its recipient's GnuPG.

use chrono::{DateTime, Utc};

use crate::lifecycle::{Maintainer, Team, actions, year};
use crate::pipeline::{REPORT, Scene, entity, pgp_mime_encrypted};
use crate::util::*;

/// Bob and Carol maintain; the gateway does not have Alice's key until her report
/// brings it (attached).
fn team() -> Team {
    let s = Scene::new();
    let bob = Maintainer::new(&s.gw, "Bob Maintainer", "bob@example.org");
    let carol = Maintainer::new(&s.gw, "Carol Maintainer", "carol@example.org");
    let root = s.gw.dir.path().display().to_string();
    let mut config = std::fs::read_to_string(&s.gw.config).unwrap();
    for (name, local) in [("Bob Maintainer", "bob"), ("Carol Maintainer", "carol")] {
        config.push_str(&format!(
            "\n[[maintainers]]\nname = \"{name}\"\naddress = \"{local}@example.org\"\nkey = \"{root}/keys/maintainers/{local}.asc\"\n"
        ));
    }
    std::fs::write(&s.gw.config, config).unwrap();
    Team { s, bob, carol }
}

/// Alice's report, signed and encrypted by her GnuPG with her public key attached;
/// stored and acknowledged. Returns its ID.
fn report_with_key(t: &Team, msgid: &str, n: u32) -> String {
    let key = t.s.gpg.export(&t.s.alice);
    let inner = entity(
        Some("report"),
        REPORT,
        &[
            ("alice.asc", "application/pgp-keys", &key),
            ("poc.py", "text/x-python", b"print('poc')\n"),
        ],
    );
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    t.s.gw
        .deliver(&pgp_mime_encrypted(&t.s.headers(msgid, "..."), &armored));
    t.s.gw.run_once();
    format!("VR-{}-{n:04}", year())
}

/// Decrypts mail to Alice with her GnuPG, checking the gateway signed it.
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

/// Alice's status mails (outer subject "Status update").
fn status_mails(t: &Team) -> Vec<Vec<u8>> {
    t.mail_to("alice@example.net", "Status update")
}

/// A deadline from `reports show --json` as people read it.
fn human(v: &serde_json::Value) -> String {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

fn ok(t: &Team, args: &[&str]) -> String {
    let (success, out, err) = t.cli(args);
    assert!(success, "{args:?}: {err}");
    out
}

/// A human timestamp (`2026-12-09 14:42 UTC`) somewhere in `text`.
fn has_human_time(text: &str) -> bool {
    text.as_bytes().windows(20).any(|w| {
        let w = String::from_utf8_lossy(w);
        let b = w.as_bytes();
        w.len() == 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b' '
            && b[13] == b':'
            && w.ends_with(" UTC")
            && b[..4].iter().all(u8::is_ascii_digit)
    })
}

/// An RFC 3339 timestamp (`2026-12-09T14:42:00+00:00`) somewhere in `text`.
fn has_rfc3339(text: &str) -> bool {
    text.as_bytes()
        .windows(19)
        .any(|w| w[4] == b'-' && w[10] == b'T' && w[13] == b':' && w[16] == b':')
}

#[test]
fn reports_set_says_whether_the_researcher_was_told_and_carries_the_explanation() {
    let t = team();
    let id = report_with_key(&t, "<d-1@example.net>", 1);
    let explain = t.s.gw.path("explain.txt");
    std::fs::write(
        &explain,
        "The login form is served by the identity provider, which is out of our scope.\n",
    )
    .unwrap();

    let out = ok(
        &t,
        &[
            "reports",
            "set",
            &id,
            "--status",
            "rejected",
            "--reason",
            "out_of_scope",
            "--message",
            explain.to_str().unwrap(),
        ],
    );
    let told = out
        .lines()
        .find_map(|l| l.strip_prefix("researcher told, Message-ID "))
        .unwrap_or_else(|| panic!("the output does not say the researcher was told: {out}"));
    t.s.gw.run_once();
    let mail = status_mails(&t);
    assert_eq!(mail.len(), 1, "one status mail");
    assert_eq!(header(&mail[0], "Message-ID").unwrap(), told);
    // The subject says what it is; inside the encryption it names the state.
    assert_eq!(
        header(&mail[0], "Subject").unwrap(),
        format!("[{id}] Status update")
    );
    let text = alice_reads(&t, &mail[0]);
    assert!(
        text.contains(&format!("Subject: [{id}] Status: rejected")),
        "{text}"
    );
    assert!(
        text.contains("is now: rejected (reason: out_of_scope)"),
        "{text}"
    );
    assert!(text.contains("out of our scope"), "explanation: {text}");
    let r = t.show(&id);
    assert!(
        text.contains(&format!(
            "Initial assessment:  by {}",
            human(&r["deadlines"]["initial_assessment"]["at"])
        )),
        "{text}"
    );
    assert!(
        text.contains("Fix target:          none: the report was rejected"),
        "{text}"
    );

    // Reopened quietly: nothing is sent, and the event says who asked for quiet.
    let out = ok(
        &t,
        &["reports", "set", &id, "--status", "triaged", "--no-notify"],
    );
    assert!(
        out.contains("researcher not told: --no-notify asked for no status mail"),
        "{out}"
    );
    t.s.gw.run_once();
    assert_eq!(status_mails(&t).len(), 1);
    let r = t.show(&id);
    let events = serde_json::to_string(&r["events"]).unwrap();
    assert!(
        events.contains("--no-notify asked for no status mail"),
        "{events}"
    );

    let out = ok(&t, &["reports", "set", &id, "--status", "accepted"]);
    assert!(out.contains("researcher told"), "accepted is listed: {out}");
    let out = ok(
        &t,
        &[
            "reports", "set", &id, "--status", "rejected", "--reason", "spam",
        ],
    );
    assert!(
        out.contains("researcher not told: rejected as spam, which is never answered"),
        "{out}"
    );
    t.s.gw.run_once();
    let subjects: Vec<String> = status_mails(&t)
        .iter()
        .map(|m| alice_reads(&t, m))
        .collect();
    assert_eq!(subjects.len(), 2, "rejected as spam sends nothing");
    assert!(subjects[1].contains("is now: accepted"), "{}", subjects[1]);

    // A state notify.reporter_on does not list: not told, and the output says why.
    let out = ok(&t, &["reports", "set", &id, "--status", "triaged"]);
    assert!(
        out.contains("researcher not told: notify.reporter_on does not list triaged"),
        "{out}"
    );

    // `--help` says it.
    let help = ok(&t, &["reports", "set", "--help"]);
    assert!(help.contains("--no-notify"), "{help}");
    assert!(help.contains("researcher is mailed"), "{help}");
}

#[test]
fn a_state_changed_by_mail_explains_itself_in_one_status_mail_or_stays_quiet() {
    let t = team();
    let id = report_with_key(&t, "<d-2@example.net>", 1);
    let root = t
        .mail_to(t.bob.address, "New report")
        .first()
        .and_then(|n| header(n, "Message-ID"))
        .expect("Bob's notification");
    let bob_says = |msgid: &str, text: &str| {
        let inner = entity(Some(&format!("Re: [{id}] New report")), text, &[]);
        let armored = t
            .bob
            .gpg
            .encrypt(&t.s.gateway_fpr, Some(t.bob.address), &inner);
        let h = vec![
            ("From", "Bob Maintainer <bob@example.org>"),
            ("To", GATEWAY),
            ("Subject", "..."),
            ("Message-ID", msgid),
            ("In-Reply-To", root.as_str()),
            ("MIME-Version", "1.0"),
        ];
        t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
        t.s.gw.run_once()
    };

    let log = bob_says(
        "<bob-d2-1@example.org>",
        "X-STATUS: triaged\n\nWe reproduced it with the steps you gave.\n",
    );
    let log2 = bob_says(
        "<bob-d2-2@example.org>",
        "X-STATUS: accepted\n\nWe accept it; a fix is being written for 2.3.2.\n\n-- \nBob\n",
    );
    // One mail for the change and its explanation, not a status mail and a relay.
    let to_alice: Vec<Vec<u8>> = t
        .mail_to("alice@example.net", "")
        .into_iter()
        .filter(|m| !header(m, "Subject").unwrap().contains("Received"))
        .collect();
    let texts: Vec<String> = to_alice.iter().map(|m| alice_reads(&t, m)).collect();
    let accepted: Vec<&String> = texts
        .iter()
        .filter(|x| x.contains("a fix is being written"))
        .collect();
    assert_eq!(accepted.len(), 1, "{log}\n{log2}\n{texts:#?}");
    assert!(
        accepted[0].contains(&format!("Subject: [{id}] Status: accepted")),
        "{}",
        accepted[0]
    );
    assert!(accepted[0].contains("is now: accepted"), "{}", accepted[0]);
    assert!(
        accepted[0].contains("Bob Maintainer, Example Security"),
        "{}",
        accepted[0]
    );
    assert!(!accepted[0].contains("bob@example.org"), "{}", accepted[0]);
    let before = to_alice.len();

    // X-NOTIFY: no: the state changes, the researcher hears nothing, the event says so.
    bob_says(
        "<bob-d2-3@example.org>",
        "X-STATUS: fixed\nX-NOTIFY: no\nX-INTERNAL: yes\n\nShipped in 2.3.2 but not announced yet.\n",
    );
    let r = t.show(&id);
    assert_eq!(r["status"], "fixed");
    let after = t
        .mail_to("alice@example.net", "")
        .into_iter()
        .filter(|m| !header(m, "Subject").unwrap().contains("Received"))
        .count();
    assert_eq!(after, before, "X-NOTIFY: no sent mail");
    assert!(actions(&r).contains(&"researcher_not_told".to_string()));
    let events = serde_json::to_string(&r["events"]).unwrap();
    assert!(
        events.contains("X-NOTIFY: no asked for no status mail"),
        "{events}"
    );
}

#[test]
fn acknowledgements_state_every_clock_with_dates_and_how_to_follow_up() {
    let t = team();
    let id = report_with_key(&t, "<d-3@example.net>", 1);
    let r = t.show(&id);
    let ack = t.mail_to("alice@example.net", "Received");
    assert_eq!(ack.len(), 1);
    let text = alice_reads(&t, &ack[0]);
    assert!(
        text.contains(&format!(
            "Initial assessment:  by {} (within 7 days)",
            human(&r["deadlines"]["initial_assessment"]["at"])
        )),
        "{text}"
    );
    // The CVSS vector of the report rates it critical: 2 days.
    assert!(
        text.contains(&format!(
            "Fix target:          by {} (critical severity: within 2 days)",
            human(&r["deadlines"]["fix"]["at"])
        )),
        "{text}"
    );
    assert!(text.contains("What happens next:"), "{text}");
    assert!(
        text.contains(&format!("keep [{id}] in the subject")),
        "{text}"
    );
    assert!(text.contains("Sign it with the same key"), "{text}");

    // An encrypted report that proved no key: the answer says nothing of it, only the
    // clocks, and no severity (the fix target is the policy's table).
    let inner = entity(Some("report"), REPORT, &[]);
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, None, &inner);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &t.s.headers("<d-3b@example.net>", "..."),
        &armored,
    ));
    t.s.gw.run_once();
    let id2 = format!("VR-{}-0002", year());
    let r2 = t.show(&id2);
    let ack: Vec<Vec<u8>> = t
        .mail_to("alice@example.net", "Received")
        .into_iter()
        .filter(|m| header(m, "Subject").unwrap().contains(&id2))
        .collect();
    assert_eq!(ack.len(), 1);
    let plain = String::from_utf8_lossy(&ack[0]).into_owned();
    let plain = qp_decode(plain.as_bytes());
    assert!(
        plain.contains(&format!(
            "Initial assessment:  by {}",
            human(&r2["deadlines"]["initial_assessment"]["at"])
        )),
        "{plain}"
    );
    assert!(
        plain.contains("Fix target:          set when we rate the severity (critical 2 days, high 7 days, medium 30 days, low 90 days)"),
        "{plain}"
    );
    for secret in ["SQL", "login", "critical severity", "Title"] {
        assert!(!plain.contains(secret), "{secret} in {plain}");
    }
    assert!(plain.contains("attach your public key"), "{plain}");
}

#[test]
fn notifications_explain_the_mail_workflow_and_taken_mail_is_listed_as_taken() {
    let t = team();
    let id = report_with_key(&t, "<d-4@example.net>", 1);
    let n = t.mail_to(t.bob.address, "New report");
    assert_eq!(n.len(), 1);
    let text = t.bob.open(&n[0], &t.s.gateway_fpr);
    for needle in [
        "Answer by mail",
        "X-STATUS:",
        "X-NOTIFY: no",
        "X-INTERNAL: yes",
        "goes to the researcher",
        "disclosured keys export",
        GATEWAY,
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    // Received and deadlines as people read them.
    assert!(has_human_time(&text), "{text}");
    assert!(!has_rfc3339(&text), "{text}");

    // Bob's answer is taken: `quarantine list` shows it as taken, not skipped.
    let root = header(&n[0], "Message-ID").unwrap();
    let inner = entity(
        Some(&format!("Re: [{id}] New report")),
        "X-STATUS: triaged\nX-INTERNAL: yes\n\nLooks real.\n",
        &[],
    );
    let armored = t
        .bob
        .gpg
        .encrypt(&t.s.gateway_fpr, Some(t.bob.address), &inner);
    let h = vec![
        ("From", "Bob Maintainer <bob@example.org>"),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", "<bob-d4@example.org>"),
        ("In-Reply-To", root.as_str()),
        ("MIME-Version", "1.0"),
    ];
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    let log = t.s.gw.run_once();
    assert_eq!(t.show(&id)["status"], "triaged", "{log}");
    let list = ok(&t, &["quarantine", "list"]);
    let line = list
        .lines()
        .find(|l| l.contains("bob@example.org"))
        .unwrap_or_else(|| panic!("Bob's mail is not listed: {list}"));
    assert!(line.contains(" taken "), "{line}");
    assert!(!line.contains("skipped"), "{line}");
    assert!(has_human_time(line), "{line}");
}

#[test]
fn people_read_human_timestamps_and_json_keeps_rfc3339() {
    let t = team();
    let id = report_with_key(&t, "<d-5@example.net>", 1);
    for args in [
        &["reports", "show", id.as_str()][..],
        &["reports", "list"][..],
    ] {
        let out = ok(&t, args);
        assert!(has_human_time(&out), "{args:?}: {out}");
        assert!(!has_rfc3339(&out), "{args:?}: {out}");
    }
    // A message that stays in the outbox (pending) shows its next attempt.
    let out = ok(&t, &["outbox", "list", "--sent"]);
    assert!(!has_rfc3339(&out), "{out}");
    let json = ok(&t, &["reports", "show", &id, "--json"]);
    assert!(has_rfc3339(&json), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        DateTime::parse_from_rfc3339(v["received_at"].as_str().unwrap()).is_ok(),
        "{v}"
    );
}

#[test]
fn a_refusal_names_every_bad_keyword_threads_to_the_refused_mail_and_names_the_report() {
    let t = team();
    let id = report_with_key(&t, "<d-6@example.net>", 1);
    let root = header(&t.mail_to(t.bob.address, "New report")[0], "Message-ID").unwrap();
    let inner = entity(
        Some(&format!("Re: [{id}] New report")),
        "X-STATUS: acepted\nX-PRIORITY: 1\nX-SEVERITY: urgent\nX-REASON: duplicate\n\nThanks.\n",
        &[],
    );
    let armored = t
        .bob
        .gpg
        .encrypt(&t.s.gateway_fpr, Some(t.bob.address), &inner);
    let subject = format!("Re: [{id}] New report");
    let h = vec![
        ("From", "Bob Maintainer <bob@example.org>"),
        ("To", GATEWAY),
        ("Subject", subject.as_str()),
        ("Message-ID", "<bob-d6@example.org>"),
        ("In-Reply-To", root.as_str()),
        ("References", root.as_str()),
        ("MIME-Version", "1.0"),
    ];
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    let log = t.s.gw.run_once();
    assert_eq!(
        t.show(&id)["status"],
        "acknowledged",
        "nothing applied: {log}"
    );

    let refused = t.mail_to(t.bob.address, "was not taken");
    assert_eq!(refused.len(), 1, "{log}");
    assert_eq!(
        header(&refused[0], "Subject").unwrap(),
        format!("[{id}] Your message was not taken")
    );
    assert_eq!(
        header(&refused[0], "In-Reply-To").unwrap(),
        "<bob-d6@example.org>"
    );
    let refs = header(&refused[0], "References").unwrap();
    assert!(
        refs.contains("<bob-d6@example.org>") && refs.contains(&root),
        "{refs}"
    );
    let text = t.bob.open(&refused[0], &t.s.gateway_fpr);
    assert!(text.contains(&format!("Your message about {id}")), "{text}");
    for needle in [
        "line 1: X-STATUS:",
        "line 2 (\"X-PRIORITY: 1\"): unknown keyword X-PRIORITY",
        "line 3: X-SEVERITY:",
        "line 4: X-REASON:",
        "4 command lines were refused",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    assert!(has_human_time(&text) && !has_rfc3339(&text), "{text}");
    // The quarantine keeps the whole reason on one line of its listing.
    let list = ok(&t, &["quarantine", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("4 command lines were refused") && l.contains("X-PRIORITY")),
        "{list}"
    );
}

#[test]
fn a_notification_with_attachments_protects_its_subject_on_the_root_part() {
    let t = team();
    let id = report_with_key(&t, "<d-7@example.net>", 1);
    let n = t.mail_to(t.bob.address, "New report");
    assert_eq!(n.len(), 1);
    assert_eq!(
        header(&n[0], "Subject").unwrap(),
        format!("[{id}] CRITICAL New report")
    );
    let (_, plain, ok) = t.bob.gpg.decrypt(&armored_block(&n[0]));
    assert!(ok);
    let plain = String::from_utf8_lossy(&plain).into_owned();
    // The root entity's own header block (up to the first blank line).
    let head = plain.split("\r\n\r\n").next().unwrap().to_string();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    assert!(unfolded.contains("multipart/mixed"), "{unfolded}");
    assert!(unfolded.contains("protected-headers=\"v1\""), "{unfolded}");
    assert!(
        unfolded.contains(&format!(
            "Subject: [{id}] CRITICAL New report: SQL injection in login form"
        )),
        "{unfolded}"
    );
    assert!(plain.contains("poc.py"), "the attachment goes with it");
}
