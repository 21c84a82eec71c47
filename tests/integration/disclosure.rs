//! Issue 27, coordinated disclosure: embargoes proposed by the researcher (in the
//! report, in a signed follow-up), set, accepted, revised and exited by maintainers
//! (GnuPG-signed mail commands and the command line), every refusal (a time without
//! zone, beyond the policy's maximum, a second active embargo, `disclosed` before the
//! end), and the researcher told of each step, encrypted to the key their report
//! proved. Alice's key reaches the gateway as her client sends it: in an Autocrypt
//! header of her report, never preloaded.

use chrono::{Duration, Utc};
use disclosured::testing::config::Settings;
use disclosured::testing::pipeline::Pipeline;

use crate::lifecycle::{Maintainer, Team, actions, year};
use crate::pipeline::{REPORT, entity, pgp_mime_encrypted};
use crate::util::*;

/// Bob and Carol maintain; Alice's key is not on the gateway.
fn team() -> Team {
    team_with("")
}

fn team_with(extra: &str) -> Team {
    let t = Team::new(extra);
    std::fs::remove_file(t.s.gw.path("keys/reporters/alice.asc")).unwrap();
    t
}

/// Alice's Autocrypt header value, as her client adds it to every message.
fn autocrypt(t: &Team) -> String {
    use base64::Engine as _;
    let binary = t.s.gpg.run(&["--export", &t.s.alice], b"");
    format!(
        "addr=alice@example.net; keydata={}",
        base64::engine::general_purpose::STANDARD.encode(binary)
    )
}

/// Alice's mail: `text` signed by her key and encrypted to the gateway in one step,
/// with her Autocrypt header; answering `in_reply_to` when given.
fn from_alice(
    t: &Team,
    msgid: &str,
    subject: &str,
    text: &str,
    in_reply_to: Option<&str>,
) -> Vec<u8> {
    let inner = entity(Some(subject), text, &[]);
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    let ac = autocrypt(t);
    let mut h = t.s.headers(msgid, "...");
    h.push(("Autocrypt", &ac));
    if let Some(parent) = in_reply_to {
        h.push(("In-Reply-To", parent));
        h.push(("References", parent));
    }
    pgp_mime_encrypted(&h, &armored)
}

/// Alice reports (with `extra` lines before the report's text); the report's ID.
fn reported(t: &Team, extra: &str) -> String {
    let text = format!("{extra}{REPORT}");
    t.s.gw.deliver(&from_alice(
        t,
        "<d-orig@example.net>",
        "report",
        &text,
        None,
    ));
    let log = t.s.gw.run_once();
    let id = format!("VR-{}-0001", year());
    assert_eq!(t.show(&id)["proven_key"], t.s.alice.as_str(), "{log}");
    id
}

/// A GnuPG-signed, encrypted command mail from maintainer `m` about report `id`.
fn commands_from(t: &Team, m: &Maintainer, id: &str, msgid: &str, text: &str) -> String {
    let inner = entity(Some(&format!("Re: [{id}] New report")), text, &[]);
    let armored = m.gpg.encrypt(&t.s.gateway_fpr, Some(m.address), &inner);
    let h = vec![
        ("From", m.address),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", msgid),
        ("MIME-Version", "1.0"),
    ];
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    t.s.gw.run_once()
}

/// Alice's embargo mails, decrypted by her GnuPG (each checked as the gateway's).
fn embargo_mail(t: &Team) -> Vec<String> {
    t.mail_to("alice@example.net", "")
        .iter()
        .filter_map(|m| {
            let (status, plain, ok) = t.s.gpg.decrypt(&armored_block(m));
            assert!(ok, "Alice cannot decrypt: {status}");
            assert!(status.contains("VALIDSIG") && status.contains(&t.s.gateway_fpr));
            let text = qp_decode(&plain);
            text.contains("Embargo").then_some(text)
        })
        .collect()
}

/// The refusals Bob got, decrypted.
fn refusals_to(t: &Team, m: &Maintainer) -> Vec<String> {
    t.mail_to(m.address, "not taken")
        .iter()
        .map(|raw| m.open(raw, &t.s.gateway_fpr))
        .collect()
}

/// An end `days` from now at 09:00 in Berlin, as a researcher writes it.
fn berlin(days: i64) -> String {
    (Utc::now() + Duration::days(days))
        .format("%Y-%m-%d 09:00 Europe/Berlin")
        .to_string()
}

#[test]
fn an_embargo_proposed_in_the_report_is_accepted_and_revised_by_mail_and_the_researcher_hears_each_step()
 {
    let t = team();
    let proposed = berlin(40);
    let id = reported(&t, &format!("Disclosure date: {proposed}\n"));
    let r = t.show(&id);
    assert_eq!(r["embargo"]["state"], "proposed", "{}", r["embargo"]);
    assert_eq!(r["embargo"]["zone"], "Europe/Berlin");
    // The acknowledgement says the proposal was received, with its zone and in UTC.
    let ack = t.mail_to("alice@example.net", "Received");
    let (_, plain, ok) = t.s.gpg.decrypt(&armored_block(&ack[0]));
    assert!(ok);
    let ack_text = qp_decode(&plain);
    assert!(
        ack_text.contains("Your proposed embargo: until"),
        "{ack_text}"
    );
    assert!(
        ack_text.contains("Europe/Berlin (") && ack_text.contains(" UTC)"),
        "{ack_text}"
    );

    // Bob accepts it by signed mail.
    let log = commands_from(
        &t,
        &t.bob,
        &id,
        "<bob-e1@example.org>",
        "X-EMBARGO: accept\n",
    );
    let r = t.show(&id);
    assert_eq!(r["embargo"]["state"], "active", "{log}");
    assert!(actions(&r).contains(&"embargo_accepted".to_string()));
    let mail = embargo_mail(&t);
    assert_eq!(mail.len(), 1, "{log}");
    assert!(mail[0].contains("accepted the embargo"), "{}", mail[0]);
    assert!(mail[0].contains("Europe/Berlin"), "{}", mail[0]);

    // A second embargo while one is active: refused, nothing of the message applied.
    commands_from(
        &t,
        &t.bob,
        &id,
        "<bob-e2@example.org>",
        &format!("X-STATUS: triaged\nX-EMBARGO: {}\n", berlin(50)),
    );
    let r = t.show(&id);
    assert_eq!(r["status"], "acknowledged");
    let refused = refusals_to(&t, &t.bob);
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].contains("already has an active embargo"),
        "{}",
        refused[0]
    );
    assert!(refused[0].contains("X-EMBARGO-REVISE"), "{}", refused[0]);

    // A time without zone: refused with the forms that are accepted.
    commands_from(
        &t,
        &t.bob,
        &id,
        "<bob-e3@example.org>",
        "X-EMBARGO-REVISE: 2027-02-01 09:00\n",
    );
    let refused = refusals_to(&t, &t.bob);
    assert_eq!(refused.len(), 2);
    assert!(refused[1].contains("has no time zone"), "{}", refused[1]);
    assert!(
        refused[1].contains("2027-01-15 09:00 Europe/Berlin"),
        "{}",
        refused[1]
    );

    // Carol revises it; Alice hears of the new end.
    let new_end = (Utc::now() + Duration::days(60))
        .format("%Y-%m-%dT10:30-05:00")
        .to_string();
    commands_from(
        &t,
        &t.carol,
        &id,
        "<carol-e1@example.org>",
        &format!("X-EMBARGO-REVISE: {new_end}\n"),
    );
    let r = t.show(&id);
    assert_eq!(r["embargo"]["zone"], "-05:00", "{}", r["embargo"]);
    let mail = embargo_mail(&t);
    assert_eq!(mail.len(), 2);
    assert!(mail[1].contains("changed"), "{}", mail[1]);
    assert!(mail[1].contains("10:30 -05:00"), "{}", mail[1]);
}

#[test]
fn embargo_commands_on_the_command_line_and_their_refusals() {
    let t = team();
    let id = reported(&t, "");
    let fail = |args: &[&str], needle: &str| {
        let (ok, out, err) = t.cli(args);
        assert!(!ok, "{args:?} should be refused: {out}");
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    fail(
        &["reports", "set", &id, "--embargo", "2027-01-15 09:00"],
        "has no time zone",
    );
    fail(
        &["reports", "set", &id, "--embargo", "2027-01-15T09:00"],
        "2027-01-15T09:00+01:00",
    );
    // The default maximum is "90+30": 90 days from receipt for an unfixed report.
    fail(
        &["reports", "set", &id, "--embargo", &berlin(120)],
        "beyond the policy's maximum",
    );
    fail(
        &["reports", "set", &id, "--embargo-exit", "public"],
        "no active embargo to exit",
    );
    assert!(t.show(&id).get("embargo").is_none());

    let end = (Utc::now() + Duration::days(20))
        .format("%Y-%m-%dT09:00+01:00")
        .to_string();
    let (ok, out, err) = t.cli(&["reports", "set", &id, "--embargo", &end]);
    assert!(ok, "{err}");
    assert!(out.contains("embargo: active until"), "{out}");
    assert!(out.contains("researcher told of the embargo"), "{out}");
    fail(
        &["reports", "set", &id, "--embargo", &berlin(30)],
        "already has an active embargo",
    );
    for status in ["triaged", "accepted", "fixed"] {
        let (ok, _, err) = t.cli(&["reports", "set", &id, "--status", status]);
        assert!(ok, "{status}: {err}");
    }
    // Not disclosed while the embargo is in force ...
    fail(
        &["reports", "set", &id, "--status", "disclosed"],
        "under embargo until",
    );
    fail(
        &["reports", "set", &id, "--embargo-exit", "because"],
        "not a reason to exit an embargo",
    );
    assert_eq!(t.show(&id)["status"], "fixed");
    // ... unless it is exited, in the same command.
    let (ok, out, err) = t.cli(&[
        "reports",
        "set",
        &id,
        "--status",
        "disclosed",
        "--embargo-exit",
        "public",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("exited"), "{out}");
    let r = t.show(&id);
    assert_eq!(r["status"], "disclosed");
    assert_eq!(r["embargo"]["state"], "exited");
    assert_eq!(r["embargo"]["exit_reason"], "public");
    t.s.gw.run_once();
    // Both notices go out in one delivery batch, whose messages are handed over in
    // parallel: told apart by what they say, not by the order they arrived in.
    let mail = embargo_mail(&t);
    assert_eq!(mail.len(), 2, "set, then exited: {mail:?}");
    let set = mail.iter().find(|m| m.contains("set an embargo"));
    let set = set.unwrap_or_else(|| panic!("no notice of the embargo set: {mail:?}"));
    assert!(set.contains("+01:00 ("), "{set}");
    let ended = mail.iter().find(|m| m.contains("ended early"));
    let ended = ended.unwrap_or_else(|| panic!("no notice of the early end: {mail:?}"));
    assert!(ended.contains("became public"), "{ended}");
    // The text of `reports show` names the embargo, in its zone and in UTC.
    let (_, text, _) = t.cli(&["reports", "show", &id]);
    assert!(text.contains("Embargo: exited"), "{text}");
}

#[test]
fn a_signed_follow_up_proposes_an_embargo_and_a_naive_one_is_answered_with_why() {
    let t = team();
    let id = reported(&t, "");
    let ack = t.mail_to("alice@example.net", "Received");
    let ack_id = header(&ack[0], "Message-ID").unwrap();
    t.s.gw.deliver(&from_alice(
        &t,
        "<d-f1@example.net>",
        "Re: report",
        "Could we say: Disclosure date: 2027-03-01 09:00\n\nDisclosure date: 2027-03-01 09:00\n",
        Some(&ack_id),
    ));
    let log = t.s.gw.run_once();
    let r = t.show(&id);
    assert!(r.get("embargo").is_none(), "{log}");
    assert!(actions(&r).contains(&"embargo_proposal_unreadable".to_string()));
    let mail = embargo_mail(&t);
    assert_eq!(mail.len(), 1, "{log}");
    assert!(mail[0].contains("could not read"), "{}", mail[0]);
    assert!(mail[0].contains("has no time zone"), "{}", mail[0]);

    let proposed = berlin(30);
    t.s.gw.deliver(&from_alice(
        &t,
        "<d-f2@example.net>",
        "Re: report",
        &format!("Embargo until: {proposed}\n"),
        Some(&ack_id),
    ));
    t.s.gw.run_once();
    let r = t.show(&id);
    assert_eq!(r["embargo"]["state"], "proposed", "{}", r["embargo"]);
    let mail = embargo_mail(&t);
    assert_eq!(mail.len(), 2);
    assert!(
        mail[1].contains("received your proposed embargo"),
        "{}",
        mail[1]
    );
    // The team hears of the follow-up as of any other.
    assert!(!t.mail_to(t.bob.address, "follow-up").is_empty());
    // A maintainer accepts it from the command line.
    let (ok, out, err) = t.cli(&["reports", "set", &id, "--embargo", "accept"]);
    assert!(ok, "{err}");
    assert!(out.contains("embargo: active until"), "{out}");
}

/// The time of the last event with this action.
fn event_time(r: &serde_json::Value, action: &str) -> chrono::DateTime<Utc> {
    let e = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} event"));
    chrono::DateTime::parse_from_rfc3339(e["time"].as_str().or(e["at"].as_str()).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn deadline(r: &serde_json::Value, name: &str) -> (chrono::DateTime<Utc>, String) {
    let d = &r["deadlines"][name];
    (
        chrono::DateTime::parse_from_rfc3339(d["at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc),
        d["state"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_question_by_mail_pauses_the_clocks_and_the_researchers_signed_answer_resumes_them() {
    let t = team();
    let id = reported(&t, "");
    for args in [
        &["reports", "set", &id, "--severity", "high"][..],
        &["reports", "set", &id, "--assignee", "carol"][..],
    ] {
        let (ok, _, err) = t.cli(args);
        assert!(ok, "{err}");
    }
    let before = t.show(&id);
    let (ia0, _) = deadline(&before, "initial_assessment");
    let (fix0, _) = deadline(&before, "fix");
    let (ack0, _) = deadline(&before, "acknowledge");

    // Bob asks; his text is the question, relayed although his mail answers nothing.
    let log = commands_from(
        &t,
        &t.bob,
        &id,
        "<bob-q1@example.org>",
        "X-NEEDS-INFO: yes\n\nWhich build of the login form did you test, 2.3.0 or 2.3.1?\n",
    );
    let r = t.show(&id);
    assert_eq!(r["waiting_on_researcher"], true, "{log}");
    assert_eq!(deadline(&r, "initial_assessment").1, "paused");
    assert_eq!(deadline(&r, "fix").1, "paused");
    assert_ne!(deadline(&r, "acknowledge").1, "paused");
    let questions: Vec<Vec<u8>> = t
        .mail_to("alice@example.net", "")
        .into_iter()
        .filter(|m| {
            let (_, plain, _) = t.s.gpg.decrypt(&armored_block(m));
            qp_decode(&plain).contains("Which build of the login form")
        })
        .collect();
    assert_eq!(questions.len(), 1, "{log}");
    let question_id = header(&questions[0], "Message-ID").unwrap();
    // A second question while one waits: refused (nothing applied).
    commands_from(
        &t,
        &t.bob,
        &id,
        "<bob-q2@example.org>",
        "X-NEEDS-INFO: yes\n\nAnd the browser?\n",
    );
    assert!(refusals_to(&t, &t.bob)[0].contains("already waits on the researcher"));

    // Alice answers the question, signed and encrypted, her key in Autocrypt.
    t.s.gw.deliver(&from_alice(
        &t,
        "<d-answer@example.net>",
        "Re: question",
        "2.3.1, the release build.\n",
        Some(&question_id),
    ));
    let log = t.s.gw.run_once();
    let r = t.show(&id);
    assert_eq!(r["waiting_on_researcher"], false, "{log}");
    let paused = event_time(&r, "needs_info_answered") - event_time(&r, "needs_info");
    assert!(paused > chrono::Duration::zero());
    // Each paused clock moved by exactly the time it stood still; the
    // acknowledgement's never pauses.
    assert_eq!(deadline(&r, "initial_assessment").0, ia0 + paused);
    assert_eq!(deadline(&r, "fix").0, fix0 + paused);
    assert_eq!(deadline(&r, "acknowledge").0, ack0);
    // Carol, the assignee, is told, encrypted to her key.
    let told = t.mail_to(t.carol.address, "The researcher answered");
    assert_eq!(told.len(), 1, "{log}");
    let text = t.carol.open(&told[0], &t.s.gateway_fpr);
    assert!(text.contains("clocks run again"), "{text}");
    assert!(
        t.mail_to(t.bob.address, "The researcher answered")
            .is_empty()
    );
}

#[test]
fn a_question_from_the_command_line_and_clocks_resumed_by_hand() {
    let t = team();
    let id = reported(&t, "");
    let q = t.s.gw.path("question.txt");
    std::fs::write(&q, "Does it need a logged-in user?\n").unwrap();
    let q = q.display().to_string();
    let (ok, out, err) = t.cli(&["reports", "set", &id, "--needs-info", &q]);
    assert!(ok, "{err}");
    assert!(out.contains("clocks paused"), "{out}");
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--needs-info", &q]);
    assert!(!ok && err.contains("already waits"), "{err}");
    let (_, text, _) = t.cli(&["reports", "show", &id]);
    assert!(text.contains("Waiting on the researcher since"), "{text}");
    t.s.gw.run_once();
    let asked = t.mail_to("alice@example.net", "").into_iter().any(|m| {
        let (_, plain, ok) = t.s.gpg.decrypt(&armored_block(&m));
        ok && qp_decode(&plain).contains("Does it need a logged-in user?")
    });
    assert!(asked, "Alice got the question, encrypted to her key");
    let (ok, out, err) = t.cli(&["reports", "set", &id, "--resume-clocks"]);
    assert!(ok, "{err}");
    assert!(out.contains("clocks running again"), "{out}");
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--resume-clocks"]);
    assert!(!ok && err.contains("no clock is paused"), "{err}");
    let r = t.show(&id);
    assert_eq!(r["waiting_on_researcher"], false);
    assert!(actions(&r).contains(&"needs_info_answered".to_string()));
}

#[test]
fn reminders_before_deadlines_and_the_embargo_end_on_an_injected_clock() {
    let t = team_with("[notify]\nreminders = [\"1d\", \"2h\"]\n");
    let id = reported(&t, "");
    let r = t.show(&id);
    assert_eq!(
        r["severity"], "critical",
        "the report's CVSS: fix due in 2 days"
    );
    let received = chrono::DateTime::parse_from_rfc3339(r["received_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let end = (received + Duration::days(10))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--embargo", &end]);
    assert!(ok, "{err}");
    let hours = |h: i64| received + Duration::hours(h);
    {
        let p = Pipeline::open(Settings::load(Some(&t.s.gw.config)).unwrap()).unwrap();
        assert_eq!(p.remind(hours(12)).unwrap(), 0, "no lead time reached yet");
        // A day before the fix deadline, then two hours before it: one each.
        assert_eq!(p.remind(hours(24) + Duration::minutes(1)).unwrap(), 1);
        assert_eq!(
            p.remind(hours(24) + Duration::minutes(2)).unwrap(),
            0,
            "once"
        );
        assert_eq!(p.remind(hours(47)).unwrap(), 1);
        assert_eq!(p.remind(hours(47) + Duration::minutes(30)).unwrap(), 0);
        // The deadline passes: escalated, and Alice gets a short status.
        assert_eq!(p.escalate(hours(48) + Duration::minutes(1)).unwrap(), 1);
        // A day before the embargo ends: a reminder, and the digest lists it.
        let day9 = hours(9 * 24) + Duration::minutes(1);
        assert_eq!(p.remind(day9).unwrap(), 1);
        let digest = p.digest(day9).unwrap().text();
        assert!(
            digest.contains("Embargoes ending in the next 48 hours (1)"),
            "{digest}"
        );
        assert!(digest.contains(&id), "{digest}");
        // The end passes: noted once, and everyone told.
        let day10 = hours(10 * 24) + Duration::minutes(1);
        p.remind(day10).unwrap();
        p.remind(day10 + Duration::minutes(1)).unwrap();
        disclosured::testing::outbox::deliver_due(&p.outbox(), hours(11 * 24)).unwrap();
    }
    let r = t.show(&id);
    let acts = actions(&r);
    assert_eq!(
        acts.iter().filter(|a| *a == "reminded").count(),
        3,
        "{acts:?}"
    );
    assert_eq!(acts.iter().filter(|a| *a == "embargo_ended").count(), 1);
    // `reports show` reads the real clock, on which the end is still ahead.
    assert_eq!(r["embargo"]["state"], "active");
    for m in [&t.bob, &t.carol] {
        let fix = t.mail_to(m.address, "Reminder: fix due");
        assert_eq!(fix.len(), 2, "{}", m.address);
        let text = m.open(&fix[0], &t.s.gateway_fpr);
        assert!(text.contains("the fix deadline is"), "{text}");
        assert_eq!(t.mail_to(m.address, "Reminder: embargo due").len(), 1);
        assert_eq!(t.mail_to(m.address, "Embargo ended").len(), 1);
    }
    let alice: Vec<String> = t
        .mail_to("alice@example.net", "")
        .iter()
        .map(|m| {
            let (_, plain, ok) = t.s.gpg.decrypt(&armored_block(m));
            assert!(ok);
            qp_decode(&plain)
        })
        .collect();
    assert!(
        alice
            .iter()
            .any(|x| x.contains("our fix, which we aimed to complete by") && x.contains("is late")),
        "{alice:?}"
    );
    assert!(
        alice
            .iter()
            .any(|x| x.contains("The embargo on") && x.contains("has ended")),
        "{alice:?}"
    );
    // Nothing of it was mail about the initial assessment (due on day 7, escalation's
    // business, not reminders', once it passed without a check in between).
    assert!(
        t.mail_to(t.bob.address, "Reminder: initial_assessment")
            .is_empty()
    );
}

#[test]
fn stats_and_the_timeline_on_the_command_line() {
    let t = team();
    let id = reported(&t, "");
    for status in ["triaged", "accepted"] {
        let (ok, _, err) = t.cli(&["reports", "set", &id, "--status", status]);
        assert!(ok, "{err}");
    }
    let r = t.show(&id);
    let steps: Vec<&str> = r["timeline"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["received", "acknowledged", "first_response", "triaged"]
    );
    let (_, text, _) = t.cli(&["reports", "show", &id]);
    assert!(
        text.contains("Timeline:") && text.contains("first_response"),
        "{text}"
    );

    let stats = t.s.gw.json(&["reports", "stats", "--json"]);
    assert_eq!(stats["reports"], 1, "{stats}");
    let received =
        chrono::DateTime::parse_from_rfc3339(r["received_at"].as_str().unwrap()).unwrap();
    let triaged =
        chrono::DateTime::parse_from_rfc3339(r["timeline"]["triaged"].as_str().unwrap()).unwrap();
    assert_eq!(stats["times"]["triage"]["count"], 1);
    assert_eq!(
        stats["times"]["triage"]["median_secs"],
        (triaged - received).num_seconds()
    );
    assert_eq!(stats["open"]["accepted"]["count"], 1);
    assert_eq!(stats["targets"]["critical"]["acknowledge"]["met"], 1);
    // Nothing received since tomorrow; a naive --since instant is refused.
    let tomorrow = (Utc::now() + Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let later =
        t.s.gw
            .json(&["reports", "stats", "--json", "--since", &tomorrow]);
    assert_eq!(later["reports"], 0);
    let (ok, _, err) = t.cli(&["reports", "stats", "--since", "2027-01-01 10:00"]);
    assert!(!ok && err.contains("has no time zone"), "{err}");
    let (ok, text, _) = t.cli(&["reports", "stats"]);
    assert!(ok && text.contains("time to"), "{text}");
}

#[test]
fn the_weekly_digest_carries_the_figures_and_the_daily_one_does_not() {
    let t = team_with("[digest]\nschedule = \"weekly mon 08:00\"\n");
    let id = reported(&t, "");
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--status", "triaged"]);
    assert!(ok, "{err}");
    let p = Pipeline::open(Settings::load(Some(&t.s.gw.config)).unwrap()).unwrap();
    let text = p.digest(Utc::now()).unwrap().text();
    assert!(text.contains("Response figures"), "{text}");
    assert!(text.contains("triage"), "{text}");
    let daily = team_with("[digest]\nschedule = \"daily 08:00\"\n");
    reported(&daily, "");
    let p = Pipeline::open(Settings::load(Some(&daily.s.gw.config)).unwrap()).unwrap();
    assert!(
        !p.digest(Utc::now())
            .unwrap()
            .text()
            .contains("Response figures")
    );
}
