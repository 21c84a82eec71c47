//! The maintainers' side: a report's life from arrival to `disclosed`, deadlines from
//! the policy and from CVSS, follow-ups threaded into their report (and spoofed ones
//! not), notifications, escalations and digests decrypted by each maintainer's own
//! GnuPG, and replies to the reporter. Time-dependent rules run on an injected clock
//! through the library, never by sleeping.

use chrono::{DateTime, Duration, Utc};
use disclosured::testing::config::Settings;
use disclosured::testing::pipeline::Pipeline;

use crate::pipeline::{REPORT, Scene, entity, pgp_mime_encrypted};
use crate::util::*;

/// A maintainer with their own GnuPG home (so a decryption proves their key works).
pub struct Maintainer {
    pub gpg: Gpg,
    pub address: &'static str,
}

impl Maintainer {
    pub fn new(gw: &Gateway, name: &str, address: &'static str) -> Maintainer {
        let gpg = Gpg::new();
        gpg.gen_key(&format!("{name} <{address}>"));
        gpg.import(&gw.public_key_path());
        let local = address.split('@').next().unwrap();
        std::fs::create_dir_all(gw.path("keys/maintainers")).unwrap();
        std::fs::write(
            gw.path(&format!("keys/maintainers/{local}.asc")),
            gpg.export(address),
        )
        .unwrap();
        Maintainer { gpg, address }
    }

    /// Decrypts a message to this maintainer; checks the gateway's signature inside;
    /// returns the decoded plaintext.
    pub fn open(&self, raw: &[u8], gateway_fpr: &str) -> String {
        assert_eq!(to_address(raw).unwrap(), self.address);
        let ct = header(raw, "Content-Type").unwrap();
        assert!(ct.starts_with("multipart/encrypted"), "{ct}");
        let (status, plain, ok) = self.gpg.decrypt(&armored_block(raw));
        assert!(ok, "{} cannot decrypt: {status}", self.address);
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(gateway_fpr)),
            "not signed by the gateway: {status}"
        );
        qp_decode(&plain)
    }
}

pub struct Team {
    pub s: Scene,
    pub bob: Maintainer,
    pub carol: Maintainer,
}

impl Team {
    /// Alice reports; Bob and Carol maintain. `extra` is appended to the config.
    pub fn new(extra: &str) -> Team {
        let s = Scene::new();
        s.preload_alice();
        let bob = Maintainer::new(&s.gw, "Bob Maintainer", "bob@example.org");
        let carol = Maintainer::new(&s.gw, "Carol Maintainer", "carol@example.org");
        let root = s.gw.dir.path().display().to_string();
        let mut config = std::fs::read_to_string(&s.gw.config).unwrap();
        config.push_str(&format!(
            "{extra}\n[[maintainers]]\nname = \"Bob Maintainer\"\naddress = \"bob@example.org\"\nkey = \"{root}/keys/maintainers/bob.asc\"\n\n[[maintainers]]\nname = \"Carol Maintainer\"\naddress = \"carol@example.org\"\nkey = \"{root}/keys/maintainers/carol.asc\"\n"
        ));
        std::fs::write(&s.gw.config, config).unwrap();
        Team { s, bob, carol }
    }

    /// Alice's encrypted, signed report with this text.
    pub fn report(&self, msgid: &str, text: &str) -> Vec<u8> {
        let inner = entity(Some("report"), text, &[]);
        let armored = self
            .s
            .gpg
            .encrypt(&self.s.gateway_fpr, Some(&self.s.alice), &inner);
        pgp_mime_encrypted(&self.s.headers(msgid, "..."), &armored)
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::open(Settings::load(Some(&self.s.gw.config)).unwrap()).unwrap()
    }

    pub fn show(&self, id: &str) -> serde_json::Value {
        self.s.gw.json(&["reports", "show", id, "--json"])
    }

    /// Runs a CLI command; returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.s.gw.cli(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Outbox messages addressed to `to` whose subject contains `needle`.
    pub fn mail_to(&self, to: &str, needle: &str) -> Vec<Vec<u8>> {
        self.s
            .gw
            .outbox()
            .into_iter()
            .filter(|m| to_address(m).as_deref() == Some(to))
            .filter(|m| header(m, "Subject").unwrap_or_default().contains(needle))
            .collect()
    }
}

pub fn year() -> i32 {
    use chrono::Datelike;
    Utc::now().year()
}

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

pub fn actions(report: &serde_json::Value) -> Vec<String> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_full_life_of_a_report_from_arrival_to_disclosed() {
    let t = Team::new("");
    let id = format!("VR-{}-0001", year());
    t.s.gw.deliver(&t.report("<life@example.net>", REPORT));
    t.s.gw.run_once();

    // Both maintainers get the full report, encrypted to their own key; the report's
    // CVSS 9.8 makes it critical, and the subject says so.
    for m in [&t.bob, &t.carol] {
        let mail = t.mail_to(m.address, "New report");
        assert_eq!(mail.len(), 1, "one notification to {}", m.address);
        let subject = header(&mail[0], "Subject").unwrap();
        assert!(
            subject.contains(&id) && subject.contains("CRITICAL"),
            "{subject}"
        );
        assert!(
            !subject.contains("SQL"),
            "the title stays inside: {subject}"
        );
        assert_eq!(
            header(&mail[0], "Auto-Submitted").unwrap(),
            "auto-generated"
        );
        // Addressed by the name `[[maintainers]]` gives.
        let to = header(&mail[0], "To").unwrap();
        assert!(
            to.contains(" Maintainer") && to.ends_with(&format!("<{}>", m.address)),
            "{to}"
        );
        let text = m.open(&mail[0], &t.s.gateway_fpr);
        assert!(text.contains("SQL injection in login form"), "{text}");
        assert!(text.contains("concatenated into the SQL query"), "{text}");
        assert!(
            text.contains("Subject: [") && text.contains("CRITICAL New report: SQL injection"),
            "{text}"
        );
    }
    // A maintainer cannot read another's copy.
    let carols = t.mail_to(t.carol.address, "New report");
    let (_, _, ok) = t.bob.gpg.decrypt(&armored_block(&carols[0]));
    assert!(!ok, "Bob decrypted Carol's notification");

    let r = t.show(&id);
    assert_eq!(r["status"], "acknowledged");
    assert_eq!(r["severity"], "critical");
    assert_eq!(r["deadlines"]["acknowledge"]["state"], "met");
    assert_eq!(r["deadlines"]["initial_assessment"]["state"], "due");
    let received = time(&r["received_at"]);
    assert_eq!(
        time(&r["deadlines"]["fix"]["at"]),
        received + Duration::days(2)
    );

    // Refused changes change nothing and say why.
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--status", "fixed"]);
    assert!(
        !ok && err.contains("cannot go from acknowledged to fixed"),
        "{err}"
    );
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--status", "rejected"]);
    assert!(!ok && err.contains("needs a reason"), "{err}");
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--status", "acknowledged"]);
    assert!(!ok, "{err}");

    for args in [
        vec!["--status", "triaged", "--note", "reproduced on 2.3.1"],
        vec!["--status", "accepted", "--assignee", "bob@example.org"],
        vec!["--status", "fixed", "--note", "fixed in 2.3.2"],
        vec!["--status", "disclosed"],
    ] {
        let mut argv = vec!["reports", "set", id.as_str()];
        argv.extend(args.iter().copied());
        let (ok, out, err) = t.cli(&argv);
        assert!(ok, "{argv:?}: {err}");
        assert!(out.contains(&id), "{out}");
    }
    let r = t.show(&id);
    assert_eq!(r["status"], "disclosed");
    assert_eq!(r["assignee"], "Bob Maintainer");
    for d in ["acknowledge", "initial_assessment", "fix"] {
        assert_eq!(r["deadlines"][d]["state"], "met", "{d}: {}", r["deadlines"]);
    }
    assert_eq!(
        actions(&r),
        [
            "received",
            "acknowledged",
            "status",
            "note",
            "researcher_not_told",
            "status",
            "assignee",
            "researcher_told",
            "status",
            "note",
            "researcher_told",
            "status",
            "researcher_told"
        ]
    );
    let events = r["events"].as_array().unwrap();
    let status_notes: Vec<&str> = events
        .iter()
        .filter(|e| e["action"] == "status")
        .map(|e| e["note"].as_str().unwrap())
        .collect();
    assert_eq!(
        status_notes,
        [
            "acknowledged -> triaged",
            "triaged -> accepted",
            "accepted -> fixed",
            "fixed -> disclosed"
        ]
    );
    for e in events.iter().filter(|e| e["action"] == "status") {
        assert!(e["actor"].as_str().unwrap().starts_with("cli:"), "{e}");
    }
    assert_eq!(events[1]["actor"], "system");
    // Disclosed is the end.
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--status", "triaged"]);
    assert!(!ok && err.contains("closed"), "{err}");

    // The human table, the filters and the digest's dry run.
    let (ok, dry, _) = t.cli(&["digest", "--dry-run"]);
    assert!(
        ok && dry.contains("Subject: Security reports digest"),
        "{dry}"
    );
    assert!(!dry.contains("OVERDUE"), "{dry}");
    let (ok, table, _) = t.cli(&["reports", "list", "--status", "disclosed"]);
    assert!(
        ok && table.contains(&id) && table.contains("critical"),
        "{table}"
    );
    let none =
        t.s.gw
            .json(&["reports", "list", "--status", "new", "--json"]);
    assert_eq!(none.as_array().unwrap().len(), 0);
}

#[test]
fn rejection_needs_a_reason_and_a_duplicate_names_its_original() {
    let t = Team::new("");
    t.s.gw.deliver(&t.report("<first@example.net>", REPORT));
    t.s.gw.deliver(&t.report(
        "<second@example.net>",
        &REPORT.replace("login form", "login page"),
    ));
    t.s.gw.run_once();
    let (a, b) = (format!("VR-{}-0001", year()), format!("VR-{}-0002", year()));
    let (ok, _, err) = t.cli(&[
        "reports",
        "set",
        &b,
        "--status",
        "rejected",
        "--reason",
        "duplicate",
    ]);
    assert!(
        !ok && err.contains("needs the report it duplicates"),
        "{err}"
    );
    let (ok, _, err) = t.cli(&[
        "reports",
        "set",
        &b,
        "--status",
        "rejected",
        "--reason",
        "duplicate",
        "--duplicate-of",
        "VR-1999-0001",
    ]);
    assert!(!ok && err.contains("no report"), "{err}");
    let (ok, _, err) = t.cli(&[
        "reports",
        "set",
        &b,
        "--status",
        "rejected",
        "--reason",
        "duplicate",
        "--duplicate-of",
        &a,
    ]);
    assert!(ok, "{err}");
    let r = t.show(&b);
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["reject_reason"]["reason"], "duplicate");
    assert_eq!(r["reject_reason"]["of"], a.as_str());
    // A rejected report needs no fix: its fix deadline is closed, not overdue.
    assert_eq!(r["deadlines"]["fix"]["state"], "closed");
    // Reopening clears the reason.
    let (ok, _, err) = t.cli(&["reports", "set", &b, "--status", "triaged"]);
    assert!(ok, "{err}");
    assert!(t.show(&b)["reject_reason"].is_null());
}

#[test]
fn deadlines_come_from_the_policy_and_the_cvss_score() {
    let t = Team::new(
        "[policy]\nacknowledge = \"24h\"\ninitial_assessment = \"3d\"\n[policy.fix]\nhigh = \"10d\"\n",
    );
    // CVSS 7.5: high.
    let high = "Title: Token leak\nCVSS: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N\nSteps to reproduce:\n1. curl it\n";
    let low = "Title: Verbose error page\nSeverity: low\nSteps to reproduce:\n1. look\n";
    let unrated = "Title: Something odd\nSteps to reproduce:\n1. look\n";
    t.s.gw.deliver(&t.report("<high@example.net>", high));
    t.s.gw.deliver(&t.report("<low@example.net>", low));
    t.s.gw.deliver(&t.report("<unrated@example.net>", unrated));
    t.s.gw.run_once();
    let ids: Vec<String> = (1..=3).map(|n| format!("VR-{}-{n:04}", year())).collect();
    let by_title = |title: &str| {
        ids.iter()
            .map(|id| t.show(id))
            .find(|r| r["fields"]["title"] == title)
            .unwrap()
    };

    let r = by_title("Token leak");
    let received = time(&r["received_at"]);
    assert_eq!(r["severity"], "high");
    assert_eq!(
        time(&r["deadlines"]["acknowledge"]["at"]),
        received + Duration::hours(24)
    );
    assert_eq!(
        time(&r["deadlines"]["initial_assessment"]["at"]),
        received + Duration::days(3)
    );
    assert_eq!(
        time(&r["deadlines"]["fix"]["at"]),
        received + Duration::days(10)
    );

    let r = by_title("Verbose error page");
    assert_eq!(r["severity"], "low");
    assert_eq!(
        time(&r["deadlines"]["fix"]["at"]),
        time(&r["received_at"]) + Duration::days(90)
    );

    let r = by_title("Something odd");
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["severity"], "unrated");
    assert!(r["deadlines"]["fix"].is_null(), "{}", r["deadlines"]);
    let unrated_list =
        t.s.gw
            .json(&["reports", "list", "--severity", "unrated", "--json"]);
    assert_eq!(unrated_list.as_array().unwrap().len(), 1);

    // A maintainer's CVSS vector rates it (4.3: medium, 30 days); an explicit
    // severity wins over any score.
    let (ok, _, err) = t.cli(&[
        "reports",
        "set",
        &id,
        "--cvss",
        "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N",
    ]);
    assert!(ok, "{err}");
    let r = t.show(&id);
    assert_eq!(r["severity"], "medium");
    let received = time(&r["received_at"]);
    assert_eq!(
        time(&r["deadlines"]["fix"]["at"]),
        received + Duration::days(30)
    );
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--severity", "critical"]);
    assert!(ok, "{err}");
    let r = t.show(&id);
    assert_eq!(r["severity"], "critical");
    assert_eq!(
        time(&r["deadlines"]["fix"]["at"]),
        received + Duration::days(2)
    );
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--cvss", "CVSS:3.1/AV:X"]);
    assert!(!ok && err.contains("not a valid CVSS"), "{err}");
}

#[test]
fn hints_are_flagged_for_maintainers_and_requested_in_the_acknowledgement() {
    let t = Team::new(
        "[policy]\nsupported_versions = [\"5.x\", \"nightly\"]\nout_of_scope = [\"volumetric_dos\"]\n",
    );
    let text = "Title: Login flood\nAffected versions: 4.2\nDescription:\nA DDoS against the login endpoint takes it down.\n";
    t.s.gw.deliver(&t.report("<hints@example.net>", text));
    t.s.gw.run_once();
    let r = t.show(&format!("VR-{}-0001", year()));
    let hints: Vec<&str> = r["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(
        hints,
        [
            "unsupported_version",
            "no_proof_of_concept",
            "possibly_out_of_scope: volumetric_dos"
        ]
    );
    // The gateway flags, never decides.
    assert_eq!(r["status"], "acknowledged");
    let ack = t.mail_to("alice@example.net", "Received");
    assert_eq!(ack.len(), 1);
    let (_, plain, ok) = t.s.gpg.decrypt(&armored_block(&ack[0]));
    assert!(ok);
    let text = qp_decode(&plain);
    assert!(
        text.contains("Whether a supported version (5.x, nightly) is affected"),
        "{text}"
    );
    assert!(text.contains("Steps to reproduce"), "{text}");
    assert!(
        !text.contains("out_of_scope") && !text.contains("volumetric"),
        "{text}"
    );
}

#[test]
fn a_follow_up_joins_its_report_and_a_reply_goes_back_threaded() {
    let t = Team::new("");
    let id = format!("VR-{}-0001", year());
    t.s.gw.deliver(&t.report("<orig@example.net>", REPORT));
    t.s.gw.run_once();
    let ack = t.mail_to("alice@example.net", "Received");
    let ack_id = header(&ack[0], "Message-ID").unwrap();

    // Alice answers the acknowledgement (In-Reply-To), encrypted and signed.
    let inner = entity(
        Some("Re: report"),
        "Here is a second PoC: run poc2.sh\n",
        &[],
    );
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    let mut headers = t.s.headers("<followup@example.net>", "Re: ...");
    headers.push(("In-Reply-To", &ack_id));
    t.s.gw.deliver(&pgp_mime_encrypted(&headers, &armored));
    t.s.gw.run_once();
    // And once more, by the tag in the subject only, in clear text but signed: a
    // signed report takes follow-ups signed by its key only.
    let signed =
        t.s.gpg
            .clearsign(&t.s.alice, b"The bug also affects 2.4-beta.\n");
    t.s.gw.deliver(&message(
        &t.s.headers(
            "<tagged@example.net>",
            &format!("Re: [{id}] one more detail"),
        ),
        &String::from_utf8_lossy(&signed),
    ));
    let log = t.s.gw.run_once();

    let reports = t.s.gw.reports();
    assert_eq!(reports.len(), 1, "follow-ups are not new reports: {log}");
    let r = t.show(&id);
    let corr = r["correspondence"].as_array().unwrap();
    assert_eq!(corr.len(), 2, "{}", r["correspondence"]);
    let by_id = |m: &str| corr.iter().find(|c| c["message_id"] == m).unwrap();
    let first = by_id("followup@example.net");
    assert_eq!(first["direction"], "in");
    assert_eq!(first["from"], "alice@example.net");
    assert_eq!(first["encrypted"], true);
    assert_eq!(first["signature"], "good");
    assert!(first["body"].as_str().unwrap().contains("poc2.sh"));
    let second = by_id("tagged@example.net");
    assert_eq!(second["encrypted"], false);
    assert!(second["time"].is_string());
    // Maintainers hear of each follow-up, encrypted to them.
    let notes = t.mail_to(t.bob.address, "follow-up");
    assert_eq!(notes.len(), 2);
    let texts: Vec<String> = notes
        .iter()
        .map(|m| t.bob.open(m, &t.s.gateway_fpr))
        .collect();
    assert!(texts.iter().any(|x| x.contains("poc2.sh")), "{texts:?}");
    // A follow-up is not acknowledged again.
    assert_eq!(t.mail_to("alice@example.net", "").len(), 1);

    // A maintainer answers from the command line: signed, encrypted to Alice,
    // threaded after her latest message, recorded as correspondence.
    let msg = t.s.gw.path("answer.txt");
    std::fs::write(
        &msg,
        "Thanks, we reproduced it. A fix is planned for 2.3.2.\n",
    )
    .unwrap();
    let (ok, out, err) = t.cli(&["reports", "reply", &id, "--file", msg.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("signed and encrypted"), "{out}");
    t.s.gw.run_once();
    let replies = t.mail_to("alice@example.net", "Re:");
    assert_eq!(replies.len(), 1);
    let reply = &replies[0];
    assert_eq!(
        header(reply, "In-Reply-To").unwrap(),
        "<tagged@example.net>"
    );
    let refs = header(reply, "References").unwrap();
    for m in [
        "<orig@example.net>",
        "<followup@example.net>",
        "<tagged@example.net>",
    ] {
        assert!(refs.contains(m), "{refs}");
    }
    assert!(
        header(reply, "Auto-Submitted").is_none(),
        "a person's message"
    );
    let (status, plain, ok) = t.s.gpg.decrypt(&armored_block(reply));
    assert!(ok, "{status}");
    assert!(
        status.contains(&format!("VALIDSIG {}", t.s.gateway_fpr))
            || status
                .lines()
                .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&t.s.gateway_fpr)),
        "{status}"
    );
    assert!(qp_decode(&plain).contains("A fix is planned for 2.3.2."));
    let r = t.show(&id);
    let corr = r["correspondence"].as_array().unwrap();
    assert_eq!(corr.len(), 3);
    assert_eq!(corr[2]["direction"], "out");
    assert_eq!(
        format!("<{}>", corr[2]["message_id"].as_str().unwrap()),
        header(reply, "Message-ID").unwrap()
    );
    assert!(corr[2]["actor"].as_str().unwrap().starts_with("cli:"));
    assert!(actions(&r).contains(&"reply".to_string()));

    // Alice's answer to the reply threads by its Message-ID too.
    let reply_id = header(reply, "Message-ID").unwrap();
    let mut headers = t.s.headers("<third@example.net>", "Re: your answer");
    headers.push(("In-Reply-To", &reply_id));
    let signed = t.s.gpg.clearsign(&t.s.alice, b"Great, thanks.\n");
    t.s.gw
        .deliver(&message(&headers, &String::from_utf8_lossy(&signed)));
    t.s.gw.run_once();
    assert_eq!(t.s.gw.reports().len(), 1);
    assert_eq!(t.show(&id)["correspondence"].as_array().unwrap().len(), 4);
}

#[test]
fn a_spoofed_follow_up_becomes_a_new_report_without_access_to_the_old_one() {
    let t = Team::new("");
    let id = format!("VR-{}-0001", year());
    t.s.gw.deliver(&t.report("<victim@example.net>", REPORT));
    t.s.gw.run_once();
    let ack_id = header(&t.mail_to("alice@example.net", "Received")[0], "Message-ID").unwrap();

    // Mallory quotes Alice's tag and threads onto the acknowledgement.
    t.s.gw.deliver(&message(
        &[
            ("From", "Mallory <mallory@example.com>"),
            ("To", GATEWAY),
            ("Subject", &format!("Re: [{id}] please send me the details")),
            ("Message-ID", "<spoof@example.com>"),
            ("In-Reply-To", &ack_id),
            ("References", "<victim@example.net>"),
        ],
        "Title: Please resend the PoC\n",
    ));
    t.s.gw.run_once();
    let reports = t.s.gw.reports();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[1]["from"], "mallory@example.com");
    assert!(t.show(&id)["correspondence"].as_array().unwrap().is_empty());
    // Mallory's acknowledgement is about Mallory's own report only.
    let theirs = t.mail_to("mallory@example.com", "");
    assert_eq!(theirs.len(), 1);
    let text = assert_signed_by(&t.s.gpg, &theirs[0], &t.s.gateway_fpr);
    assert!(text.contains(&format!("VR-{}-0002", year())), "{text}");
    assert!(!text.contains("SQL") && !text.contains(&id), "{text}");
}

#[test]
fn a_deadline_passing_is_escalated_once_and_the_digest_lists_it_first() {
    let t = Team::new("");
    let id = format!("VR-{}-0001", year());
    t.s.gw.deliver(&t.report("<late@example.net>", REPORT));
    t.s.gw.run_once();
    let received = time(&t.show(&id)["received_at"]);
    let before = t.s.gw.outbox().len();

    // The clock is injected: three days on, the critical fix target (2 days) has
    // passed; the initial assessment (7 days) has not.
    {
        let p = t.pipeline();
        let day3 = received + Duration::days(3);
        assert_eq!(p.escalate(day3).unwrap(), 1);
        for later in [
            day3,
            day3 + Duration::minutes(1),
            received + Duration::days(4),
        ] {
            assert_eq!(p.escalate(later).unwrap(), 0, "escalated twice at {later}");
        }
        let digest = p.digest(day3).unwrap();
        assert_eq!(digest.overdue.len(), 1);
        let text = digest.text();
        let overdue_at = text.find("OVERDUE").unwrap();
        let waiting_at = text.find("Waiting for initial assessment").unwrap();
        assert!(overdue_at < waiting_at, "{text}");
        assert!(p.send_digest(day3, false).unwrap().is_some());
        // Eight days on, the initial assessment is overdue too: one more escalation.
        assert_eq!(p.escalate(received + Duration::days(8)).unwrap(), 1);
        assert_eq!(p.escalate(received + Duration::days(9)).unwrap(), 0);
        // The mail was queued at the injected times, so it is due at them.
        disclosured::testing::outbox::deliver_due(&p.outbox(), received + Duration::days(9))
            .unwrap();
    }
    let out = t.s.gw.outbox();
    assert_eq!(
        out.len(),
        before + 2 * 3 + 2,
        "2 escalations + 1 digest, to each of 2 maintainers, and the researcher's short \
         status for each of the 2 deadlines promised to her (notify.reporter_late)"
    );
    for m in [&t.bob, &t.carol] {
        let fix = t.mail_to(m.address, "OVERDUE: fix");
        let assess = t.mail_to(m.address, "OVERDUE: initial_assessment");
        assert_eq!((fix.len(), assess.len()), (1, 1), "{}", m.address);
        let text = m.open(&fix[0], &t.s.gateway_fpr);
        assert!(
            text.contains(&id) && text.contains("fix deadline"),
            "{text}"
        );
        let digests = t.mail_to(m.address, "digest");
        assert_eq!(digests.len(), 1);
        let text = m.open(&digests[0], &t.s.gateway_fpr);
        assert!(text.contains("OVERDUE (1)") && text.contains(&id), "{text}");
        assert!(text.contains("critical"), "{text}");
    }
    let r = t.show(&id);
    let escalations = actions(&r).iter().filter(|a| *a == "escalated").count();
    assert_eq!(escalations, 2);
    // Not overdue on the real clock yet.
    let overdue = t.s.gw.json(&["reports", "list", "--overdue", "--json"]);
    assert_eq!(overdue.as_array().unwrap().len(), 0);
}

#[test]
fn the_digest_follows_its_schedule_and_is_skipped_when_there_is_nothing_to_say() {
    use disclosured::testing::policy::next_digest;
    let t = Team::new("[digest]\nschedule = \"daily 08:00\"\ntimezone = \"Europe/Berlin\"\n");
    let p = t.pipeline();
    let (schedule, tz) = (p.settings.digest.schedule, p.settings.digest.timezone);
    let minute = Duration::minutes(1);
    let t0 = Utc::now();
    // The first check sets the baseline: nothing is sent at start.
    assert!(!p.scheduled(t0).unwrap().digest);
    let first = next_digest(schedule, tz, t0).unwrap();
    assert!(first - t0 <= Duration::days(1));
    assert!(!p.scheduled(first - minute).unwrap().digest);
    // Nothing to say: skipped at its time, and by `digest --send` ...
    assert!(!p.scheduled(first).unwrap().digest);
    assert!(p.send_digest(first, false).unwrap().is_none());
    // ... unless forced.
    assert!(p.send_digest(first, true).unwrap().is_some());

    t.s.gw.deliver(&t.report("<sched@example.net>", REPORT));
    let maildir = p.open_maildir().unwrap().unwrap();
    let pass = disclosured::testing::daemon::maildir::pass(
        &p,
        &maildir,
        &disclosured::testing::daemon::shutdown::Shutdown::never(),
        &|| (),
    )
    .unwrap();
    assert_eq!(pass.reports, 1);
    let second = next_digest(schedule, tz, first).unwrap();
    assert_eq!(second - first, Duration::days(1));
    assert!(!p.scheduled(second - minute).unwrap().digest);
    assert!(p.scheduled(second).unwrap().digest, "due at its time");
    assert!(!p.scheduled(second + minute).unwrap().digest, "once");
    disclosured::testing::outbox::deliver_due(&p.outbox(), second + minute).unwrap();
    drop(p);
    let id = format!("VR-{}-0001", year());
    for m in [&t.bob, &t.carol] {
        let digests = t.mail_to(m.address, "digest");
        assert_eq!(digests.len(), 2, "the forced one and the scheduled one");
        let texts: Vec<String> = digests
            .iter()
            .map(|d| m.open(d, &t.s.gateway_fpr))
            .collect();
        assert!(
            texts.iter().any(|x| x.contains("Nothing needs attention")),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|x| x.contains("Waiting for acknowledgement (1)") && x.contains(&id)),
            "{texts:?}"
        );
    }
}

#[test]
fn a_maintainer_answering_a_notification_by_mail_is_not_a_new_report() {
    let t = Team::new("");
    let id = format!("VR-{}-0001", year());
    t.s.gw.deliver(&t.report("<m-orig@example.net>", REPORT));
    t.s.gw.run_once();
    let before = t.s.gw.outbox().len();
    // Bob hits "reply" on the notification in his mail client.
    t.s.gw.deliver(&message(
        &[
            ("From", "Bob Maintainer <bob@example.org>"),
            ("To", GATEWAY),
            ("Subject", &format!("Re: [{id}] CRITICAL New report")),
            ("Message-ID", "<bob-reply@example.org>"),
        ],
        "Looks real, I will take it.\n",
    ));
    t.s.gw.run_once();
    assert_eq!(
        t.s.gw.reports().len(),
        1,
        "no report from a maintainer's answer"
    );
    assert_eq!(
        t.s.gw.outbox().len(),
        before,
        "nothing sent: no acknowledgement to Bob"
    );
    // Unsigned, it is not Bob's (issue 14): refused, recorded, answered to nobody.
    let refused = t.s.gw.quarantine();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["kind"], "quarantined");
    let reason = refused[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("bob@example.org") && reason.contains("not signed inside the encryption"),
        "{reason}"
    );
    assert!(t.show(&id)["correspondence"].as_array().unwrap().is_empty());
}
