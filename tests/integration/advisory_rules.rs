//! Issue 26, the rules around advisories: no internal note or researcher's address in any
//! format, the credit only as the researcher chose it by a reply signed with the report's
//! key (and not by an unsigned one, another key, or a reply in another report's thread),
//! the advisory details set by `reports set` and by a maintainer's signed mail (all or
//! nothing; unsigned mail sets nothing), affected ranges corrected by a maintainer.

use serde_json::Value;

use crate::advisory::{
    DETAILS, ORG_ID, ack_id, advisory, advisory_json, fix, maintainer_mail, reply_from_alice,
    reported, set,
};
use crate::lifecycle::Team;
use crate::pipeline::{REPORT, entity, pgp_mime_encrypted};
use crate::util::*;

#[test]
fn advisories_carry_no_internal_note_and_no_researcher_address() {
    let t = Team::new("");
    let id = reported(&t);
    set(&t, &id, DETAILS);
    set(&t, &id, &["--note", "canary-cli-note-7f3a"]);
    // Bob's internal mail to the team.
    t.s.gw.deliver(&maintainer_mail(
        &t,
        &t.bob,
        &id,
        "<bob-internal@example.org>",
        "X-INTERNAL: yes\nX-NOTE: canary-mail-note-91c2\n\ncanary-internal-text-55de\n",
    ));
    t.s.gw.run_once();
    let events = serde_json::to_string(&t.show(&id)["events"]).unwrap();
    assert!(
        events.contains("canary-mail-note-91c2"),
        "the note was taken: {events}"
    );
    fix(&t, &id);
    let canaries = [
        "canary-cli-note-7f3a",
        "canary-mail-note-91c2",
        "canary-internal-text-55de",
        "alice@example.net",
        // From the report's text, which advisories never quote.
        "concatenated into the SQL query",
    ];
    for format in [
        &["--format", "osv"][..],
        &["--format", "csaf"],
        &["--format", "cve"],
    ] {
        let mut args = format.to_vec();
        args.extend(["--org-id", ORG_ID]);
        let (ok, out, err) = advisory(&t, &id, &args);
        assert!(ok, "{err}");
        for c in canaries {
            assert!(!out.contains(c), "{c} in {format:?}: {out}");
        }
    }
    // A detail that carries the address is refused rather than published.
    set(
        &t,
        &id,
        &["--title", "SQL injection found by alice@example.net"],
    );
    let (ok, out, err) = advisory(&t, &id, &["--format", "osv"]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(
        err.contains("researcher's address") && err.contains("Title"),
        "{err}"
    );
    // Unless the researcher gave it as their contact.
    set(&t, &id, &["--title", ""]);
    reply_from_alice(
        &t,
        &t.s.gpg,
        Some(&t.s.alice),
        &ack_id(&t, &id),
        "<adv-contact@example.net>",
        "Credit: Alice Example <alice@example.net>\n",
    );
    let osv = advisory_json(&t, &id, &["--format", "osv"]);
    assert_eq!(
        osv["credits"][0]["contact"][0], "mailto:alice@example.net",
        "{osv}"
    );
}

#[test]
fn the_credit_is_the_researchers_by_a_reply_signed_with_the_reports_key() {
    let t = Team::new("");
    let id = reported(&t);
    set(&t, &id, DETAILS);
    fix(&t, &id);
    let ack = ack_id(&t, &id);

    // The acknowledgement tells Alice how.
    let mail = t.mail_to("alice@example.net", &format!("[{id}] Received"));
    let (status, plain, ok) = t.s.gpg.decrypt(&armored_block(&mail[0]));
    assert!(ok, "{status}");
    let text = qp_decode(&plain);
    assert!(
        text.contains("Credit: none")
            && text.contains("Credit-Type:")
            && text.contains("signed with the same key")
            && text.contains("Your report names \"Alice Example\" for the credit"),
        "{text}"
    );
    let (ok, policy, _) = t.cli(&["policy"]);
    assert!(ok && policy.contains("`Credit: none`"), "{policy}");
    let credits = |t: &Team| advisory_json(t, &id, &["--format", "osv"])["credits"].clone();
    assert_eq!(credits(&t), Value::Null, "anonymous by default");

    // Mallory writes as Alice: unsigned, and signed with a key of his own that says
    // it is Alice's.
    reply_from_alice(
        &t,
        &t.s.gpg,
        None,
        &ack,
        "<forged-1@evil.example>",
        "Credit: Mallory <https://evil.example>\n",
    );
    let mallory = Gpg::new();
    mallory.import(&t.s.gw.public_key_path());
    let fake = mallory.gen_key("Alice Example <alice@example.net>");
    reply_from_alice(
        &t,
        &mallory,
        Some(&fake),
        &ack,
        "<forged-2@evil.example>",
        "Credit: Mallory <https://evil.example>\n",
    );
    assert_eq!(credits(&t), Value::Null, "a forged reply chose the credit");
    assert!(t.show(&id)["credit"].is_null());

    // Another report (Dave's, signed with his own key) in whose thread Alice's key
    // signs a Credit line: it does not join that report, and credits nobody there.
    let dave = Gpg::new();
    dave.import(&t.s.gw.public_key_path());
    let dave_key = dave.gen_key("Dave Example <dave@example.com>");
    std::fs::write(
        t.s.gw.path("keys/reporters/dave.asc"),
        dave.export(&dave_key),
    )
    .unwrap();
    let dave_report = {
        let inner = entity(
            Some("report"),
            "Title: XSS in search\n\nDescription:\nEchoed.\n",
            &[],
        );
        let armored = dave.encrypt(&t.s.gateway_fpr, Some(&dave_key), &inner);
        let h = vec![
            ("From", "Dave Example <dave@example.com>"),
            ("To", GATEWAY),
            ("Subject", "..."),
            ("Message-ID", "<dave-report@example.com>"),
            ("MIME-Version", "1.0"),
        ];
        t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
        t.s.gw.run_once();
        t.s.gw
            .reports()
            .iter()
            .find(|r| {
                r["from"]
                    .as_str()
                    .is_some_and(|f| f.contains("dave@example.com"))
            })
            .map(|r| r["id"].as_str().unwrap().to_string())
            .expect("Dave's report")
    };
    let dave_view = t.show(&dave_report);
    assert_eq!(
        dave_view["from"]["address"], "dave@example.com",
        "{dave_view}"
    );
    assert!(dave_view["proven_key"].is_string(), "{dave_view}");
    reply_from_alice(
        &t,
        &t.s.gpg,
        Some(&t.s.alice),
        "<dave-report@example.com>",
        "<other-thread@example.net>",
        "Credit: Alice in the wrong thread\n",
    );
    assert!(
        t.show(&dave_report)["credit"].is_null(),
        "another thread's report got a credit"
    );
    assert!(t.show(&id)["credit"].is_null());

    // A report that proved no key (Erin's, unsigned) takes follow-ups by address:
    // a Credit line in one is refused, with an event saying why.
    let erin = message(
        &[
            ("From", "Erin <erin@example.com>"),
            ("To", GATEWAY),
            ("Subject", "Report"),
            ("Message-ID", "<erin-report@example.com>"),
        ],
        REPORT,
    );
    t.s.gw.deliver(&erin);
    t.s.gw.run_once();
    let erin_id =
        t.s.gw
            .reports()
            .iter()
            .find(|r| {
                r["from"]
                    .as_str()
                    .is_some_and(|f| f.contains("erin@example.com"))
            })
            .map(|r| r["id"].as_str().unwrap().to_string())
            .expect("Erin's report");
    t.s.gw.deliver(&message(
        &[
            ("From", "Erin <erin@example.com>"),
            ("To", GATEWAY),
            ("Subject", "Re: Report"),
            ("Message-ID", "<erin-credit@example.com>"),
            ("In-Reply-To", "<erin-report@example.com>"),
        ],
        "Credit: Erin\n",
    ));
    t.s.gw.run_once();
    let erin_view = t.show(&erin_id);
    assert_eq!(
        erin_view["correspondence"].as_array().unwrap().len(),
        1,
        "{erin_view}"
    );
    assert!(erin_view["credit"].is_null());
    assert!(
        erin_view["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "credit_refused"),
        "{}",
        erin_view["events"]
    );

    // Alice, signed with her key, in her thread: taken, and an event records it.
    reply_from_alice(
        &t,
        &t.s.gpg,
        Some(&t.s.alice),
        &ack,
        "<adv-credit-2@example.net>",
        "Thanks!\n\nCredit: Alice Example <@alice>\nCredit-Type: reporter\n\n> Credit: quoted lines are not her choice\n",
    );
    let r = t.show(&id);
    assert_eq!(r["credit"]["name"], "Alice Example", "{}", r["credit"]);
    assert!(
        r["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "credit")
    );
    let c = credits(&t);
    assert_eq!(c[0]["name"], "Alice Example (@alice)");
    assert_eq!(c[0]["type"], "REPORTER");
    let cve = advisory_json(&t, &id, &["--format", "cve", "--org-id", ORG_ID]);
    assert_eq!(cve["credits"][0]["type"], "reporter");

    // And she may take it back.
    reply_from_alice(
        &t,
        &t.s.gpg,
        Some(&t.s.alice),
        &ack,
        "<adv-credit-3@example.net>",
        "Credit: none\n",
    );
    assert_eq!(credits(&t), Value::Null);
    assert_eq!(t.show(&id)["credit"]["choice"], "anonymous");
}

#[test]
fn advisory_details_by_signed_mail_all_or_nothing_and_never_unsigned() {
    let t = Team::new("");
    let id = reported(&t);
    let details = |t: &Team| t.show(&id)["details"].clone();

    // One bad line refuses the whole mail.
    t.s.gw.deliver(&maintainer_mail(
        &t,
        &t.bob,
        &id,
        "<bob-adv-1@example.org>",
        "X-ECOSYSTEM: PyPI\nX-PURL: not-a-purl\n\nInternal.\n",
    ));
    t.s.gw.run_once();
    assert!(details(&t).get("ecosystem").is_none(), "{}", details(&t));

    // The same commands, unsigned, from Bob's address: nothing.
    let subject = format!("Re: [{id}] New report");
    let h = vec![
        ("From", t.bob.address),
        ("To", GATEWAY),
        ("Subject", subject.as_str()),
        ("Message-ID", "<bob-adv-unsigned@example.org>"),
    ];
    t.s.gw.deliver(&message(
        &h,
        "X-ECOSYSTEM: PyPI\nX-PACKAGE: evil\n\nUnsigned.\n",
    ));
    t.s.gw.run_once();
    assert!(details(&t).get("ecosystem").is_none(), "{}", details(&t));

    // Signed and well-formed: every detail, each an event.
    t.s.gw.deliver(&maintainer_mail(
        &t,
        &t.bob,
        &id,
        "<bob-adv-2@example.org>",
        "X-INTERNAL: yes\nX-ECOSYSTEM: pypi\nX-PACKAGE: example-auth\nX-PURL: pkg:pypi/example-auth\nX-AFFECTED: introduced=2.0, last_affected=2.3.1\nX-FIXED-IN: 2.3.2\nX-REFERENCES: https://example.org/a/1\nX-REMEDIATION: Upgrade.\nX-PUBLISHED: 2026-12-02T10:00:00+01:00\nX-SUMMARY: SQL injection in the login form of example-auth.\n\nAdvisory data.\n",
    ));
    t.s.gw.run_once();
    let d = details(&t);
    assert_eq!(d["ecosystem"], "PyPI", "{d}");
    assert_eq!(d["affected"], "introduced=2.0 last_affected=2.3.1");
    assert_eq!(d["published"], "2026-12-02T09:00:00Z");
    let r = t.show(&id);
    let actions: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "ecosystem",
        "package",
        "purl",
        "affected",
        "references",
        "published",
        "summary",
    ] {
        assert!(actions.contains(&a), "no {a} event: {actions:?}");
    }
    fix(&t, &id);
    let osv = advisory_json(&t, &id, &["--format", "osv"]);
    assert_eq!(osv["affected"][0]["package"]["ecosystem"], "PyPI");
    assert_eq!(
        osv["affected"][0]["ranges"][0]["events"],
        serde_json::json!([{"introduced": "2.0"}, {"last_affected": "2.3.1"}])
    );
    assert_eq!(
        osv["details"].as_str().unwrap().lines().next(),
        Some("SQL injection in the login form of example-auth.")
    );
    let cve = advisory_json(&t, &id, &["--format", "cve", "--org-id", ORG_ID]);
    assert_eq!(
        cve["affected"][0]["versions"][0]["lessThanOrEqual"],
        "2.3.1"
    );
    assert_eq!(cve["datePublic"], "2026-12-02T09:00:00Z");
}

#[test]
fn a_maintainer_corrects_the_affected_ranges_from_the_command_line() {
    let t = Team::new("");
    let id = reported(&t);
    set(&t, &id, DETAILS);
    fix(&t, &id);
    let ranges =
        |t: &Team| advisory_json(t, &id, &["--format", "osv"])["affected"][0]["ranges"].clone();
    assert_eq!(
        ranges(&t)[0]["events"],
        serde_json::json!([{"introduced": "2.0"}, {"fixed": "2.3.2"}])
    );
    set(
        &t,
        &id,
        &[
            "--affected",
            "introduced=1.9 fixed=2.3.2; introduced=3.0 fixed=3.0.4",
        ],
    );
    let r = ranges(&t);
    assert_eq!(r.as_array().unwrap().len(), 2, "{r}");
    assert_eq!(
        r[1]["events"],
        serde_json::json!([{"introduced": "3.0"}, {"fixed": "3.0.4"}])
    );
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--affected", "2.0 to 2.3"]);
    assert!(!ok && err.contains("introduced=V"), "{err}");
}
