//! Issue 23, items 7, 8 and 13: a maintainer's daily commands. Correcting and
//! completing a report (CLI options and mail keywords, and a researcher's signed
//! follow-up that fills what is missing), saving attachments, list filters, assignees
//! who are told, the audit actor, and `doctor`/`check-config` that do not mislead.
//! Reports and answers are made by GnuPG; mail to maintainers is opened by theirs.

use std::os::unix::fs::PermissionsExt as _;

use crate::lifecycle::{Team, year};
use crate::pipeline::{entity, pgp_mime_encrypted};
use crate::util::*;

/// A report that names no affected versions and no component.
const SPARSE: &str = "Title: Session fixation after login
Vulnerability type: session fixation

Description:
The session ID is not renewed when a user logs in.

Steps to reproduce:
1. Get a session cookie
2. Log in; the cookie stays the same
";

/// Alice's encrypted, signed report with this text and these attachments; its ID
/// once stored.
fn report_with(t: &Team, n: u32, text: &str, files: &[(&str, &str, &[u8])]) -> String {
    let inner = entity(Some("report"), text, files);
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    let msgid = format!("<workday-{n}@example.net>");
    t.s.gw
        .deliver(&pgp_mime_encrypted(&t.s.headers(&msgid, "..."), &armored));
    t.s.gw.run_once();
    format!("VR-{}-{n:04}", year())
}

fn events_of(r: &serde_json::Value, action: &str) -> Vec<serde_json::Value> {
    r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// A maintainer's signed and encrypted mail with `text`, naming the report in its
/// protected Subject.
fn maintainer_mail(
    t: &Team,
    m: &crate::lifecycle::Maintainer,
    msgid: &str,
    id: &str,
    text: &str,
) -> Vec<u8> {
    let inner = entity(Some(&format!("Re: [{id}] New report")), text, &[]);
    let armored = m.gpg.encrypt(&t.s.gateway_fpr, Some(m.address), &inner);
    pgp_mime_encrypted(
        &[
            ("From", m.address),
            ("To", GATEWAY),
            ("Subject", "..."),
            ("Message-ID", msgid),
            ("MIME-Version", "1.0"),
        ],
        &armored,
    )
}

#[test]
fn maintainers_correct_and_complete_a_report_by_command_and_by_mail() {
    let t = Team::new("");
    let id = report_with(&t, 1, SPARSE, &[]);
    let r = t.show(&id);
    assert!(r["fields"]["affected_versions"].is_null(), "{r:#}");

    // Wrong IDs are refused and change nothing.
    for (opt, bad) in [
        ("--cwe", "89"),
        ("--cwe", "CWE-x1"),
        ("--cve", "CVE-26-1234"),
    ] {
        let (ok, _, err) = t.cli(&["reports", "set", &id, opt, bad]);
        assert!(!ok, "{opt} {bad} was taken");
        assert!(err.contains(bad) && err.contains("is not a C"), "{err}");
    }
    assert_eq!(
        t.show(&id)["events"],
        r["events"],
        "a refusal changes nothing"
    );

    let (ok, out, err) = t.cli(&[
        "reports",
        "set",
        &id,
        "--cwe",
        "cwe-384",
        "--cve",
        "cve-2026-123456",
        "--fixed-in",
        "2.3.2",
        "--title",
        "Session fixation in login",
    ]);
    assert!(ok, "{out}{err}");
    let r = t.show(&id);
    let details = &r["details"];
    assert_eq!(details["cwe"], "CWE-384", "{details}");
    assert_eq!(details["cve"], "CVE-2026-123456", "{details}");
    assert_eq!(details["fixed_in"], "2.3.2");
    let title = events_of(&r, "title");
    assert_eq!(
        title[0]["note"], "\"Session fixation after login\" -> \"Session fixation in login\"",
        "old -> new: {title:?}"
    );
    assert_eq!(
        events_of(&r, "cve")[0]["note"],
        "(none) -> \"CVE-2026-123456\""
    );
    // `reports list` shows the title in force.
    assert_eq!(t.s.gw.reports()[0]["title"], "Session fixation in login");
    let (_, text, _) = t.cli(&["reports", "show", &id]);
    assert!(
        text.contains("Set by maintainers:") && text.contains("CWE-384"),
        "{text}"
    );
    // Mail about the report carries the corrected title (in its protected Subject).
    let answer = t.s.gw.path("answer.txt");
    std::fs::write(&answer, "Thanks, we are on it.\n").unwrap();
    let before = t.mail_to("alice@example.net", "").len();
    let (ok, out, err) = t.cli(&["reports", "reply", &id, "--file", answer.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    t.s.gw.run_once();
    let reply = t
        .mail_to("alice@example.net", "")
        .into_iter()
        .nth(before)
        .expect("the reply");
    let (status, plain, ok) = t.s.gpg.decrypt(&armored_block(&reply));
    assert!(ok, "{status}");
    let plain = String::from_utf8_lossy(&plain);
    assert!(
        plain.contains("Session fixation in login") && !plain.contains("after login"),
        "the reply's protected subject has the corrected title: {plain}"
    );

    // By mail: Bob sets the component; the event's actor is his configured address.
    t.s.gw.deliver(&maintainer_mail(
        &t,
        &t.bob,
        "<bob-1@example.org>",
        &id,
        "X-COMPONENT: auth/session.php\nX-CWE: CWE-287\n",
    ));
    let log = t.s.gw.run_once();
    let r = t.show(&id);
    assert_eq!(
        r["details"]["affected_component"], "auth/session.php",
        "{log}"
    );
    let component = events_of(&r, "affected_component");
    assert_eq!(component[0]["actor"], "mail:bob@example.org");
    assert_eq!(
        events_of(&r, "cwe")[1]["note"],
        "\"CWE-384\" -> \"CWE-287\""
    );
    // A keyword with a bad value: nothing of the mail is applied.
    t.s.gw.deliver(&maintainer_mail(
        &t,
        &t.bob,
        "<bob-2@example.org>",
        &id,
        "X-FIXED-IN: 9.9\nX-CVE: 2026-1\n",
    ));
    t.s.gw.run_once();
    assert_eq!(t.show(&id)["details"]["fixed_in"], "2.3.2");
    let refused = t.mail_to(t.bob.address, "not taken");
    assert_eq!(refused.len(), 1, "Bob is told why");
    let why = t.bob.open(&refused[0], &t.s.gateway_fpr);
    assert!(why.contains("\"2026-1\" is not a CVE ID"), "{why}");
}

#[test]
fn a_signed_follow_up_fills_only_what_is_missing_and_the_team_is_told() {
    let t = Team::new("");
    let id = report_with(&t, 1, SPARSE, &[]);
    // The maintainer has set the component already; the researcher's value for it
    // must not replace it.
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--component", "auth/session.php"]);
    assert!(ok, "{err}");

    // Alice answers the acknowledgement's "what we still need", quoting it, signed
    // and encrypted by GnuPG.
    let ack = t.mail_to("alice@example.net", "")[0].clone();
    let ack_id = header(&ack, "Message-ID").unwrap();
    let text = "Here is what you asked for:\n\nAffected versions: 2.0-2.3\nAffected component: lib/other.c\n\n> Affected versions: please tell us\n";
    let inner = entity(Some(&format!("Re: [{id}] received")), text, &[]);
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    let mut h = t.s.headers("<fill@example.net>", "Re: ...");
    h.push(("In-Reply-To", &ack_id));
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    let log = t.s.gw.run_once();

    let r = t.show(&id);
    assert_eq!(r["fields"]["affected_versions"], "2.0-2.3", "{log}");
    assert!(
        !r["missing_fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "affected_versions"),
        "{}",
        r["missing_fields"]
    );
    assert_eq!(
        r["details"]["affected_component"], "auth/session.php",
        "the maintainer's value stays"
    );
    let filled = events_of(&r, "fields_filled");
    assert_eq!(filled.len(), 1, "{:#}", r["events"]);
    assert_eq!(filled[0]["actor"], "alice@example.net");
    let note = filled[0]["note"].as_str().unwrap();
    assert!(
        note.contains("affected_versions: (none) -> \"2.0-2.3\"") && !note.contains("lib/other.c"),
        "{note}"
    );

    // Bob's follow-up notice says what was filled.
    let notes = t.mail_to(t.bob.address, "follow-up");
    assert_eq!(notes.len(), 1);
    let notice = t.bob.open(&notes[0], &t.s.gateway_fpr);
    assert!(
        notice.contains("It filled details the report lacked: affected_versions"),
        "{notice}"
    );

    // A second follow-up with other versions fills nothing: the field is set now.
    let inner = entity(None, "Affected versions: 1.0\n", &[]);
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    let again = format!("Re: [{id}] again");
    let mut h = t.s.headers("<fill-2@example.net>", &again);
    h.push(("In-Reply-To", &ack_id));
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    t.s.gw.run_once();
    let r = t.show(&id);
    assert_eq!(r["fields"]["affected_versions"], "2.0-2.3");
    assert_eq!(events_of(&r, "fields_filled").len(), 1);
}

#[test]
fn attachments_are_saved_privately_and_never_over_a_file_without_force() {
    let t = Team::new("");
    let poc: &[u8] = b"#!/bin/sh\ncurl -b 'sid=fixed' https://example.org/login\n\x00\xff";
    let id = report_with(
        &t,
        1,
        SPARSE,
        &[("poc.sh", "application/octet-stream", poc)],
    );
    let (_, show, _) = t.cli(&["reports", "show", &id]);
    assert!(show.contains("   1  poc.sh"), "{show}");

    let file = t.s.gw.path("saved-poc.sh");
    let path = file.to_str().unwrap();
    let (ok, _, err) = t.cli(&["reports", "attachment", &id, "1", "--out", path]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), poc);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");

    std::fs::write(&file, b"mine").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, err) = t.cli(&["reports", "attachment", &id, "1", "--out", path]);
    assert!(!ok && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"mine", "kept");
    let (ok, _, err) = t.cli(&["reports", "attachment", &id, "1", "--out", path, "--force"]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), poc);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "replaced, and private: {mode:o}");

    let out =
        t.s.gw
            .cli(&["reports", "attachment", &id, "1", "--out", "-"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, poc, "standard output gets the bytes");

    let (ok, _, err) = t.cli(&["reports", "attachment", &id, "2", "--out", "-"]);
    assert!(
        !ok && err.contains("1 attachment(s); there is no number 2"),
        "{err}"
    );
}

#[test]
fn assignees_are_maintainers_who_are_told_and_lists_filter_by_them() {
    let t = Team::new("");
    let first = report_with(&t, 1, SPARSE, &[]);
    let second = report_with(&t, 2, crate::pipeline::REPORT, &[]);

    let (ok, _, err) = t.cli(&["reports", "set", &first, "--assignee", "mallory"]);
    assert!(!ok, "an unknown assignee was taken");
    assert!(
        err.contains("Bob Maintainer, Carol Maintainer"),
        "the names are listed: {err}"
    );
    assert!(t.show(&first)["assignee"].is_null());

    // Assigned by address; stored by name; the invoking user is the actor, whatever
    // $SUDO_USER claims.
    let out =
        t.s.gw
            .command()
            .args(["reports", "set", &first, "--assignee", "carol@example.org"])
            .env("SUDO_USER", "mallory")
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.s.gw.run_once();
    let r = t.show(&first);
    assert_eq!(r["assignee"], "Carol Maintainer");
    let me = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let assigned = events_of(&r, "assignee");
    assert_eq!(assigned[0]["actor"], format!("cli:{}", me.trim()));

    // Carol is told, encrypted to her key; Bob is not.
    let told = t.mail_to(t.carol.address, "Assigned to you");
    assert_eq!(told.len(), 1);
    let text = t.carol.open(&told[0], &t.s.gateway_fpr);
    assert!(
        text.contains(&first) && text.contains("Session fixation"),
        "{text}"
    );
    assert!(t.mail_to(t.bob.address, "Assigned to you").is_empty());

    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["reports", "list", "--json"];
        all.extend_from_slice(args);
        t.s.gw
            .json(&all)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&["--assignee", "Carol Maintainer"]),
        vec![first.clone()]
    );
    assert_eq!(
        ids(&["--assignee", "carol@example.org"]),
        vec![first.clone()]
    );
    assert_eq!(ids(&["--assignee", "none"]), vec![second.clone()]);

    let (ok, _, err) = t.cli(&[
        "reports", "set", &second, "--status", "rejected", "--reason", "spam",
    ]);
    assert!(ok, "{err}");
    assert_eq!(ids(&["--status", "open"]), vec![first.clone()]);
    assert_eq!(ids(&["--status", "rejected"]), vec![second.clone()]);
    assert_eq!(ids(&["--severity", "critical"]), vec![second.clone()]);
    let (ok, _, err) = t.cli(&["reports", "list", "--status", "opened"]);
    assert!(!ok && err.contains("or open"), "{err}");

    // By mail the same rule: an unknown assignee refuses the whole mail, and Bob is
    // told the names; a known one is taken, and Carol is told.
    t.s.gw.deliver(&maintainer_mail(
        &t,
        &t.bob,
        "<bob-assign-1@example.org>",
        &first,
        "X-ASSIGNEE: mallory\nX-NOTE: assigning\n",
    ));
    t.s.gw.run_once();
    assert_eq!(t.show(&first)["assignee"], "Carol Maintainer");
    let refused = t.mail_to(t.bob.address, "not taken");
    assert_eq!(refused.len(), 1);
    let why = t.bob.open(&refused[0], &t.s.gateway_fpr);
    assert!(
        why.contains("\"mallory\" is not a configured maintainer (assign one of: Bob Maintainer, Carol Maintainer)"),
        "{why}"
    );
    t.s.gw.deliver(&maintainer_mail(
        &t,
        &t.bob,
        "<bob-assign-2@example.org>",
        &second,
        "X-ASSIGNEE: carol\n",
    ));
    t.s.gw.run_once();
    let r = t.show(&second);
    assert_eq!(r["assignee"], "Carol Maintainer");
    assert_eq!(
        events_of(&r, "assignee")[0]["actor"],
        "mail:bob@example.org"
    );
    assert_eq!(t.mail_to(t.carol.address, "Assigned to you").len(), 2);
}

/// `check-config`'s and `doctor`'s verdict on this gateway: (success, output).
fn verdicts(gw: &Gateway) -> [(bool, String); 2] {
    ["check-config", "doctor"].map(|cmd| {
        let out = gw.cli(&[cmd]);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
}

#[test]
fn doctor_and_check_config_fail_on_a_setup_that_reaches_nobody() {
    let t = Team::new("");
    for (ok, out) in verdicts(&t.s.gw) {
        assert!(ok, "{out}");
    }

    // No maintainers.
    let lone = Gateway::new();
    for (ok, out) in verdicts(&lone) {
        assert!(!ok, "{out}");
        assert!(out.contains("maintainers: no [[maintainers]]"), "{out}");
        assert!(!out.contains("configuration OK"), "no success hint: {out}");
    }

    // The gateway address moved away from the key's user ID; a maintainer at
    // @localhost.
    let config = std::fs::read_to_string(&t.s.gw.config).unwrap();
    std::fs::write(
        &t.s.gw.config,
        config
            .replace(
                &format!("address = \"{GATEWAY}\""),
                "address = \"disclose@example.org\"",
            )
            .replace("carol@example.org", "carol@localhost"),
    )
    .unwrap();
    for (ok, out) in verdicts(&t.s.gw) {
        assert!(!ok, "{out}");
        assert!(
            out.contains("gateway.address: disclose@example.org is on no gateway key's user ID"),
            "{out}"
        );
        assert!(
            out.contains("maintainers[1].address: carol@localhost reaches no one"),
            "{out}"
        );
        assert!(!out.contains("configuration OK"), "{out}");
    }
}

#[test]
fn a_permission_error_names_the_user_to_run_as() {
    let t = Team::new("");
    let _ = report_with(&t, 1, SPARSE, &[]);
    // The gateway's files belong to this (root) user; `nobody` may read the
    // configuration but not the store or keys.
    let root = t.s.gw.dir.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&t.s.gw.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    for dir in ["state", "keys"] {
        std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let me = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let me = me.trim();
    if me != "root" {
        eprintln!("not root: cannot run as another user here; skipped");
        return;
    }
    for args in [&["reports", "list"][..], &["check-config"]] {
        let out = std::process::Command::new("runuser")
            .args([
                "-u",
                "nobody",
                "--",
                env!("CARGO_BIN_EXE_disclosured"),
                "--config",
            ])
            .arg(&t.s.gw.config)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "run the command as that user (`sudo -u {me} disclosured"
            )),
            "{args:?}: {err}"
        );
        assert!(!err.contains("chown"), "{err}");
    }
}
