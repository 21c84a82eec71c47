//! Issue 22 (properties 1, 2, 4, 10), issue 23 item 1 and issue 21 item 4: what a
//! maintainer's mail may do. Each attack is built the way an attacker builds it:
//! a captured maintainer ciphertext re-wrapped in the attacker's own encryption
//! layer with `Subject: Re: [VR-…]`; a signature given an unhashed subpacket by
//! sequoia and re-encrypted; a notification quoted without `>`; a blank line then
//! `X-INTERNAL: yes`; a researcher's follow-up replayed under a new Message-ID; a
//! reply to a team copy. Maintainers' mail is written as Thunderbird (format=flowed,
//! DelSp), Outlook (quotes without `>`), an HTML-only client and an LF-only client
//! write it, signed and encrypted by GnuPG; what the researcher receives is opened
//! with the researcher's own GnuPG.

use sequoia_openpgp as openpgp;

use openpgp::Packet;
use openpgp::packet::signature::subpacket::{Subpacket, SubpacketValue};
use openpgp::packet::{Literal, OnePassSig, Signature, one_pass_sig::OnePassSig3};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::Serialize;
use openpgp::serialize::stream::{Armorer, Encryptor, Message};
use openpgp::types::{DataFormat, Features};

use crate::lifecycle::{Maintainer, Team, year};
use crate::pipeline::{REPORT, entity, pgp_mime_encrypted};
use crate::util::*;

/// Headers of a maintainer's message; the outer Subject says nothing.
fn headers<'a>(from: &'a str, msgid: &'a str, in_reply_to: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("From", from),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", msgid),
        ("MIME-Version", "1.0"),
    ];
    if !in_reply_to.is_empty() {
        h.push(("In-Reply-To", in_reply_to));
    }
    h
}

/// Alice's report, stored and acknowledged; its ID.
fn reported(t: &Team) -> String {
    t.s.gw.deliver(&t.report("<tm-orig@example.net>", REPORT));
    t.s.gw.run_once();
    format!("VR-{}-0001", year())
}

/// The Message-ID of the newest mail to `to` whose subject contains `needle`.
fn mail_id(t: &Team, to: &str, needle: &str) -> String {
    let mail = t.mail_to(to, needle);
    let last = mail
        .last()
        .unwrap_or_else(|| panic!("no mail to {to} about {needle:?}"));
    header(last, "Message-ID").unwrap()
}

/// What Alice received other than her acknowledgement, decrypted by her GnuPG
/// (which also checks the gateway signed it).
fn alice_texts(t: &Team) -> Vec<String> {
    t.mail_to("alice@example.net", "")
        .iter()
        .filter(|m| {
            !header(m, "Subject")
                .unwrap_or_default()
                .contains("Received")
        })
        .map(|m| {
            let (status, plain, ok) = t.s.gpg.decrypt(&armored_block(m));
            assert!(ok, "Alice cannot decrypt: {status}");
            assert!(
                status
                    .lines()
                    .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&t.s.gateway_fpr)),
                "not signed by the gateway: {status}"
            );
            qp_decode(&plain)
        })
        .collect()
}

fn status(t: &Team, id: &str) -> String {
    t.show(id)["status"].as_str().unwrap().to_string()
}

/// The newest quarantine entry's reason.
fn last_quarantined(t: &Team) -> String {
    let q = t.s.gw.quarantine();
    q.iter()
        .rev()
        .find(|e| e["kind"] == "quarantined")
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("nothing quarantined: {q:?}"))
}

/// `m` signs and encrypts `inner` (a MIME entity) to the gateway in one step, as
/// their mail client does; the armored OpenPGP message.
fn sign_encrypt(t: &Team, m: &Maintainer, inner: &[u8]) -> Vec<u8> {
    m.gpg.encrypt(&t.s.gateway_fpr, Some(m.address), inner)
}

/// Sends `m`'s signed and encrypted `inner` as a reply to `in_reply_to`.
fn send(t: &Team, m: &Maintainer, msgid: &str, in_reply_to: &str, inner: &[u8]) -> Vec<u8> {
    let armored = sign_encrypt(t, m, inner);
    let from = format!("Maintainer <{}>", m.address);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers(&from, msgid, in_reply_to),
        &armored,
    ));
    t.s.gw.run_once();
    armored
}

/// Encrypts already-made OpenPGP packets (a signed message) to the gateway with
/// sequoia, without signing: an encryption layer the signer did not make.
fn encrypt_packets(t: &Team, packets: &[Packet]) -> Vec<u8> {
    encrypt_packets_to(&t.s.gw, packets)
}

/// [`encrypt_packets`] for any gateway: to its public certificate, as anyone can
/// fetch it.
pub(crate) fn encrypt_packets_to(gw: &Gateway, packets: &[Packet]) -> Vec<u8> {
    let cert = openpgp::Cert::from_bytes(&std::fs::read(gw.public_key_path()).unwrap()).unwrap();
    let policy = StandardPolicy::new();
    let recipients = cert
        .keys()
        .with_policy(&policy, None)
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption();
    let mut sink = Vec::new();
    let message = Message::new(&mut sink);
    let message = Armorer::new(message).build().unwrap();
    let mut message = Encryptor::for_recipients(message, recipients)
        .build()
        .unwrap();
    for p in packets {
        p.serialize(&mut message).unwrap();
    }
    message.finalize().unwrap();
    sink
}

/// Adds a subpacket to the unhashed area: the signature stays valid, its packet
/// bytes change.
fn add_unhashed(sig: &mut Signature) {
    let sp = Subpacket::new(SubpacketValue::Features(Features::empty()), false).unwrap();
    sig.unhashed_area_mut().add(sp).unwrap();
}

#[test]
fn a_captured_maintainer_mail_rewrapped_under_another_subject_is_refused_and_burnt() {
    let t = Team::new("");
    let alice_report = reported(&t);
    // Eve reports too, signed with a key she attaches: her report proves her key,
    // so answers about it are encrypted to her.
    let eve = Gpg::new();
    eve.import(&t.s.gw.public_key_path());
    eve.gen_key("Eve <eve@example.com>");
    let eve_key = eve.export("eve@example.com");
    let inner = entity(
        Some("report"),
        "Title: XSS in search\n\nThe search box reflects its input.\n",
        &[("eve.asc", "application/pgp-keys", &eve_key)],
    );
    let armored = eve.encrypt(&t.s.gateway_fpr, Some("eve@example.com"), &inner);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &[
            ("From", "Eve <eve@example.com>"),
            ("To", GATEWAY),
            ("Subject", "..."),
            ("Message-ID", "<eve-report@example.com>"),
            ("MIME-Version", "1.0"),
        ],
        &armored,
    ));
    t.s.gw.run_once();
    let eve_report = format!("VR-{}-0002", year());
    assert!(
        t.show(&eve_report)["proven_key"].is_string(),
        "{}",
        t.show(&eve_report)
    );
    let eve_mail_before = t.mail_to("eve@example.com", "").len();

    // Bob answers Alice's report; Eve captures the ciphertext on its way.
    let root = mail_id(&t, t.bob.address, "New report");
    let bob_inner = entity(
        Some(&format!("Re: [{alice_report}] New report")),
        "X-STATUS: triaged\n\nWe confirmed the flaw in the token check; a fix is planned.\n",
        &[],
    );
    let captured = sign_encrypt(&t, &t.bob, &bob_inner);

    // Eve wraps it, unchanged, in an encryption layer of her own whose MIME
    // headers name her report.
    let wrapper = pgp_mime_encrypted(
        &[("Subject", &format!("Re: [{eve_report}] New report"))],
        &captured,
    );
    let outer = eve.encrypt(&t.s.gateway_fpr, None, &wrapper);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &[
            ("From", "Eve <eve@example.com>"),
            ("To", GATEWAY),
            ("Subject", &format!("Re: [{eve_report}] New report")),
            ("Message-ID", "<eve-wrap@example.com>"),
            ("In-Reply-To", &root),
            ("MIME-Version", "1.0"),
        ],
        &outer,
    ));
    t.s.gw.run_once();

    // Nothing is applied to either report, nothing reaches Eve, Bob is told why.
    assert_eq!(status(&t, &eve_report), "acknowledged");
    assert_eq!(status(&t, &alice_report), "acknowledged");
    assert_eq!(
        t.mail_to("eve@example.com", "").len(),
        eve_mail_before,
        "Bob's text must not reach Eve"
    );
    let why = last_quarantined(&t);
    assert!(
        why.contains("not made with the message's encryption"),
        "{why}"
    );
    let told = t.mail_to(t.bob.address, "not taken");
    assert_eq!(told.len(), 1);
    assert!(
        t.bob
            .open(&told[0], &t.s.gateway_fpr)
            .contains("Sign and encrypt in one step")
    );

    // The refused signature is used up: Bob's own copy, arriving later, changes
    // nothing either (Bob is told, and writes again).
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers(
            "Bob Maintainer <bob@example.org>",
            "<bob-orig@example.org>",
            &root,
        ),
        &captured,
    ));
    t.s.gw.run_once();
    assert_eq!(status(&t, &alice_report), "acknowledged");
    assert!(alice_texts(&t).is_empty());
    assert!(last_quarantined(&t).contains("replayed"));
}

#[test]
fn a_refused_clear_signed_mail_with_an_unhashed_subpacket_encrypted_by_someone_else_is_not_taken() {
    let t = Team::new("");
    let id = reported(&t);
    // Bob signs without encrypting (a client set to sign only): refused.
    let text = format!("X-REPORT: {id}\nX-STATUS: triaged\nX-RELAY: yes\n\nLooks real.\n");
    let clear = t.bob.gpg.clearsign(t.bob.address, text.as_bytes());
    t.s.gw.deliver(&message(
        &headers(
            "Bob Maintainer <bob@example.org>",
            "<clear@example.org>",
            "",
        ),
        &String::from_utf8_lossy(&clear),
    ));
    t.s.gw.run_once();
    assert!(last_quarantined(&t).contains("not encrypted"));

    // The attacker captured it: the cleartext signature becomes a one-pass signed
    // message over the same text, with an unhashed subpacket added, encrypted to the
    // gateway with sequoia. The signature is still good.
    let clear = String::from_utf8(clear).unwrap();
    let sig_block = &clear[clear.find("-----BEGIN PGP SIGNATURE-----").unwrap()..];
    let mut sig = match Packet::from_bytes(sig_block.as_bytes()).unwrap() {
        Packet::Signature(s) => s,
        other => panic!("{other:?}"),
    };
    add_unhashed(&mut sig);
    let mut ops = OnePassSig3::try_from(&sig).unwrap();
    ops.set_last(true);
    let mut literal = Literal::new(DataFormat::Unicode);
    literal.set_body(text.trim_end().replace('\n', "\r\n").into_bytes());
    let armored = encrypt_packets(
        &t,
        &[
            Packet::from(OnePassSig::from(ops)),
            Packet::from(literal),
            Packet::from(sig),
        ],
    );
    // Sent as inline PGP: the decrypted text is read as text, as Bob wrote it.
    t.s.gw.deliver(&message(
        &headers(
            "Bob Maintainer <bob@example.org>",
            "<rewrapped@example.org>",
            "",
        ),
        &String::from_utf8_lossy(&armored),
    ));
    t.s.gw.run_once();
    assert_eq!(status(&t, &id), "acknowledged", "nothing applied");
    assert!(alice_texts(&t).is_empty(), "nothing relayed");
    let why = last_quarantined(&t);
    assert!(why.contains("replayed"), "{why}");
}

#[test]
fn a_taken_signature_with_an_unhashed_subpacket_added_is_refused_as_used() {
    let t = Team::new("");
    let id = reported(&t);
    let root = mail_id(&t, t.bob.address, "New report");
    // Bob's answer, encrypted to the gateway and to Mallory, an outsider he copied.
    let mallory = Gpg::new();
    mallory.gen_key("Mallory <mallory@example.net>");
    let mallory_key = mallory.home.path().join("mallory.asc");
    std::fs::write(&mallory_key, mallory.export("mallory@example.net")).unwrap();
    t.bob.gpg.import(&mallory_key);
    let inner = entity(
        Some(&format!("Re: [{id}] New report")),
        "Thanks, we reproduced it and will fix it in 2.3.2.\n",
        &[],
    );
    let armored = t.bob.gpg.run(
        &[
            "--armor",
            "--sign",
            "--local-user",
            t.bob.address,
            "--encrypt",
            "--recipient",
            &t.s.gateway_fpr,
            "--recipient",
            "mallory@example.net",
        ],
        &inner,
    );
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers(
            "Bob Maintainer <bob@example.org>",
            "<bob-cc@example.org>",
            &root,
        ),
        &armored,
    ));
    t.s.gw.run_once();
    assert_eq!(alice_texts(&t).len(), 1, "taken once");

    // Mallory removes her encryption layer (gpg --unwrap), adds an unhashed
    // subpacket to Bob's signature and encrypts his signed message to the gateway.
    let unwrapped = mallory.run(&["--unwrap"], &armored);
    let pile = openpgp::PacketPile::from_bytes(&unwrapped).unwrap();
    let packets: Vec<Packet> = pile
        .descendants()
        .filter(|p| {
            matches!(
                p,
                Packet::OnePassSig(_) | Packet::Literal(_) | Packet::Signature(_)
            )
        })
        .cloned()
        .map(|p| match p {
            Packet::Signature(mut s) => {
                add_unhashed(&mut s);
                Packet::Signature(s)
            }
            other => other,
        })
        .collect();
    assert_eq!(packets.len(), 3, "{packets:?}");
    let rewrapped = encrypt_packets(&t, &packets);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &headers(
            "Bob Maintainer <bob@example.org>",
            "<bob-cc-2@example.org>",
            &root,
        ),
        &rewrapped,
    ));
    t.s.gw.run_once();
    assert_eq!(alice_texts(&t).len(), 1, "not relayed a second time");
    let why = last_quarantined(&t);
    assert!(why.contains("replayed"), "{why}");
}

#[test]
fn the_relay_fails_closed_on_commands_quotes_without_markers_and_team_lines() {
    let t = Team::new("");
    let id = reported(&t);
    let root = mail_id(&t, t.bob.address, "New report");
    let subject = format!("Re: [{id}] New report");
    let notification = t.bob.open(
        t.mail_to(t.bob.address, "New report").last().unwrap(),
        &t.s.gateway_fpr,
    );
    let body_start = notification.find("A new vulnerability report").unwrap();
    let notification = &notification[body_start..];

    // 1. A blank line, then X-INTERNAL: yes (meant to keep the remark in the team).
    send(
        &t,
        &t.bob,
        "<fc-1@example.org>",
        &root,
        &entity(
            Some(&subject),
            "X-STATUS: triaged\n\nX-INTERNAL: yes\nLet's not promise dates to the reporter.\n",
            &[],
        ),
    );
    assert!(last_quarantined(&t).contains("command outside the command block"));
    // 2. The notification pasted with an indent instead of `>`, no header block.
    let indented: String = notification.lines().map(|l| format!("    {l}\n")).collect();
    send(
        &t,
        &t.bob,
        "<fc-2@example.org>",
        &root,
        &entity(
            Some(&subject),
            &format!("Thanks, confirmed.\n\n{indented}"),
            &[],
        ),
    );
    assert!(
        last_quarantined(&t).contains("a line of the gateway's mail to maintainers"),
        "{}",
        last_quarantined(&t)
    );
    // 3. The maintainer's address in the text.
    send(
        &t,
        &t.bob,
        "<fc-3@example.org>",
        &root,
        &entity(
            Some(&subject),
            "Thanks. Write to carol@example.org directly if you like.\n",
            &[],
        ),
    );
    assert!(last_quarantined(&t).contains("maintainer address"));
    assert_eq!(status(&t, &id), "acknowledged", "nothing applied");
    assert!(alice_texts(&t).is_empty(), "nothing relayed");
    let refusals = t.mail_to(t.bob.address, "not taken");
    assert_eq!(refusals.len(), 3);
    assert!(
        t.bob
            .open(&refusals[0], &t.s.gateway_fpr)
            .contains("To write to the reporter")
    );

    // 4. Outlook: a reply above "From: … Sent: …" and the notification unquoted;
    //    a `--` signature without its space. Read right: only the answer goes out.
    let outlook = format!(
        "Thanks, we reproduced it.\n--\nBob Maintainer | bob@example.org\n\n________________________________\nFrom: Example Security <security@example.org>\nSent: Monday, March 9, 2026 10:00 AM\nTo: Bob Maintainer <bob@example.org>\nSubject: [{id}] New report\n\n{notification}"
    );
    send(
        &t,
        &t.bob,
        "<fc-4@example.org>",
        &root,
        &entity(Some(&subject), &outlook, &[]),
    );
    let texts = alice_texts(&t);
    assert_eq!(texts.len(), 1, "{}", last_quarantined(&t));
    let got = &texts[0];
    assert!(got.contains("Thanks, we reproduced it."), "{got}");
    for secret in [
        "bob@example.org",
        "carol@example.org",
        "A new vulnerability report",
        "Proven key",
        "disclosured reports show",
    ] {
        assert!(
            !got.contains(secret),
            "{secret} reached the researcher: {got}"
        );
    }
}

#[test]
fn a_replayed_researcher_follow_up_is_not_taken_again() {
    let t = Team::new("");
    let report_inner = entity(Some("report"), REPORT, &[]);
    let report =
        t.s.gpg
            .encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &report_inner);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &t.s.headers("<tm-orig@example.net>", "..."),
        &report,
    ));
    t.s.gw.run_once();
    let id = format!("VR-{}-0001", year());
    let inner = entity(
        Some(&format!("Re: [{id}]")),
        "2.3.1 is affected too.\n",
        &[],
    );
    let follow_up = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    let send_as = |msgid: &str, armored: &[u8]| {
        let mut h = t.s.headers(msgid, "...");
        h.push(("In-Reply-To", "<tm-orig@example.net>"));
        t.s.gw.deliver(&pgp_mime_encrypted(&h, armored));
        t.s.gw.run_once();
    };
    send_as("<alice-f1@example.net>", &follow_up);
    assert_eq!(t.show(&id)["correspondence"].as_array().unwrap().len(), 1);
    assert_eq!(t.mail_to(t.bob.address, "follow-up").len(), 1);

    // The captured follow-up under a new Message-ID, and the report's own
    // ciphertext threaded as a follow-up: neither is taken.
    send_as("<alice-f1-again@example.net>", &follow_up);
    assert!(last_quarantined(&t).contains("replayed"));
    let quarantined = t.s.gw.quarantine().len();
    send_as("<alice-report-as-followup@example.net>", &report);
    assert_eq!(t.s.gw.quarantine().len(), quarantined + 1);
    assert!(last_quarantined(&t).contains("replayed"));
    assert_eq!(t.show(&id)["correspondence"].as_array().unwrap().len(), 1);
    assert_eq!(t.mail_to(t.bob.address, "follow-up").len(), 1);
    assert_eq!(t.s.gw.reports().len(), 1);

    // A new follow-up, newly signed, is taken.
    let inner = entity(Some(&format!("Re: [{id}]")), "And 2.2 as well.\n", &[]);
    let fresh = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    send_as("<alice-f2@example.net>", &fresh);
    assert_eq!(t.show(&id)["correspondence"].as_array().unwrap().len(), 2);
}

#[test]
fn a_reply_to_team_mail_stays_in_the_team_unless_the_maintainer_says_relay() {
    let t = Team::new("");
    let id = reported(&t);
    let subject = format!("Re: [{id}] New report");
    let root = mail_id(&t, t.bob.address, "New report");
    send(
        &t,
        &t.bob,
        "<tt-1@example.org>",
        &root,
        &entity(
            Some(&subject),
            "X-STATUS: triaged\n\nThanks, we are on it.\n",
            &[],
        ),
    );
    assert_eq!(alice_texts(&t).len(), 1);
    let copy = t.mail_to(t.carol.address, "Maintainer answer");
    assert_eq!(copy.len(), 1);
    assert!(
        t.carol
            .open(&copy[0], &t.s.gateway_fpr)
            .contains("Replies to this mail stay in the team.")
    );

    // Carol answers her team copy: the remark stays in the team.
    let team_copy = header(&copy[0], "Message-ID").unwrap();
    send(
        &t,
        &t.carol,
        "<tt-2@example.org>",
        &team_copy,
        &entity(
            Some(&format!("Re: [{id}] Maintainer answer")),
            "X-SEVERITY: high\n\nLet's not promise dates to the reporter.\n",
            &[],
        ),
    );
    assert_eq!(t.show(&id)["severity"], "high", "commands still apply");
    let texts = alice_texts(&t);
    assert_eq!(texts.len(), 1, "nothing more reached Alice");
    assert!(!texts.iter().any(|x| x.contains("promise dates")));
    let kinds: Vec<String> = t.show(&id)["conversation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["relayed", "internal"]);
    let kept = t
        .mail_to(t.bob.address, "Maintainer answer")
        .iter()
        .map(|m| t.bob.open(m, &t.s.gateway_fpr))
        .find(|x| x.contains("promise dates"))
        .unwrap();
    assert!(kept.contains("Kept in the team"), "{kept}");
    assert!(kept.contains("X-RELAY: yes"), "{kept}");

    // A new message with no thread at all stays in the team too.
    send(
        &t,
        &t.carol,
        "<tt-3@example.org>",
        "",
        &entity(
            None,
            &format!("X-REPORT: {id}\n\nThe fix is in review.\n"),
            &[],
        ),
    );
    assert_eq!(alice_texts(&t).len(), 1);

    // Under X-RELAY: yes it goes out, whatever it answers.
    send(
        &t,
        &t.carol,
        "<tt-4@example.org>",
        &team_copy,
        &entity(
            Some(&format!("Re: [{id}] Maintainer answer")),
            "X-RELAY: yes\n\nThe fix will be in 2.3.2.\n",
            &[],
        ),
    );
    let texts = alice_texts(&t);
    assert_eq!(texts.len(), 2, "{}", last_quarantined(&t));
    assert!(texts[1].contains("The fix will be in 2.3.2."));

    // A reply to a reporter follow-up notice answers the reporter.
    let ack = mail_id(&t, "alice@example.net", "Received");
    let inner = entity(Some("Re: your report"), "Any news?\n", &[]);
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    let mut h = t.s.headers("<alice-news@example.net>", "...");
    h.push(("In-Reply-To", &ack));
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    t.s.gw.run_once();
    let notice = mail_id(&t, t.bob.address, "follow-up");
    send(
        &t,
        &t.bob,
        "<tt-5@example.org>",
        &notice,
        &entity(
            Some(&format!("Re: [{id}] Reporter follow-up")),
            "Yes: the release is next week.\n",
            &[],
        ),
    );
    let texts = alice_texts(&t);
    assert_eq!(texts.len(), 3, "{}", last_quarantined(&t));
    assert!(texts[2].contains("the release is next week"));
}

/// A maintainer's entity with its own Content-Type line, as a client writes it.
fn raw_entity(content_type: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "Content-Type: {content_type}\r\nSubject: {subject}\r\n\r\n{}",
        body.replace('\n', "\r\n")
    )
    .into_bytes()
}

#[test]
fn maintainers_mail_is_read_as_real_clients_write_it() {
    let t = Team::new("");
    let id = reported(&t);
    let subject = format!("Re: [{id}] New report");
    let root = mail_id(&t, t.bob.address, "New report");

    // Thunderbird: format=flowed, a long X-NOTE wrapped at 72 columns.
    send(
        &t,
        &t.bob,
        "<tb-1@example.org>",
        &root,
        &raw_entity(
            "text/plain; charset=UTF-8; format=flowed",
            &subject,
            "X-STATUS: triaged\nX-NOTE: reproduced on 2.3.1 with the default configuration and \nthe zebra module enabled, assigning to carol\n\nThank you, we reproduced the issue and are \nworking on a fix.\n\nOn 09.03.26 10:00, Example Security wrote:\n> A new vulnerability report has been stored as \n> {id}.\n",
        ),
    );
    assert_eq!(status(&t, &id), "triaged", "{}", last_quarantined(&t));
    let events = serde_json::to_string(&t.show(&id)["events"]).unwrap();
    assert!(
        events.contains("default configuration and the zebra module enabled, assigning to carol"),
        "{events}"
    );
    let texts = alice_texts(&t);
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].contains("Thank you, we reproduced the issue and are working on a fix."),
        "{}",
        texts[0]
    );
    assert!(!texts[0].contains("zebra"), "{}", texts[0]);

    // DelSp=yes: the space at a wrap is the client's, not the text's.
    send(
        &t,
        &t.bob,
        "<tb-2@example.org>",
        &root,
        &raw_entity(
            "text/plain; charset=UTF-8; format=flowed; delsp=yes",
            &subject,
            "X-SEVERITY: high\nX-NOTE: the fix needs a schema migra \ntion in 2.4\n\nA fix is in review.\n",
        ),
    );
    let events = serde_json::to_string(&t.show(&id)["events"]).unwrap();
    assert!(events.contains("schema migration in 2.4"), "{events}");
    assert_eq!(alice_texts(&t).len(), 2);

    // An HTML-only reply that quotes the notification in a blockquote.
    send(
        &t,
        &t.bob,
        "<html-1@example.org>",
        &root,
        &raw_entity(
            "text/html; charset=UTF-8",
            &subject,
            &format!(
                "<html><body><p>X-STATUS: accepted</p><p>We will publish an advisory with the fix.</p><blockquote><p>A new vulnerability report has been stored as {id}.</p><p>Proven key: see the notification</p></blockquote></body></html>"
            ),
        ),
    );
    assert_eq!(status(&t, &id), "accepted", "{}", last_quarantined(&t));
    let texts = alice_texts(&t);
    let advisory = texts
        .iter()
        .find(|x| x.contains("We will publish an advisory with the fix."))
        .unwrap_or_else(|| panic!("{texts:?}"));
    assert!(
        !advisory.contains("A new vulnerability report"),
        "{advisory}"
    );

    // LF line ends throughout (an MUA on Unix writing straight to sendmail).
    let inner = format!(
        "Content-Type: text/plain; charset=utf-8\nSubject: {subject}\n\nX-ASSIGNEE: carol\n\nCarol will follow up with you.\n-- \nBob\n"
    );
    let armored = sign_encrypt(&t, &t.bob, inner.as_bytes());
    let raw = format!(
        "From: Bob Maintainer <bob@example.org>\nTo: {GATEWAY}\nSubject: ...\nMessage-ID: <lf-1@example.org>\nIn-Reply-To: {root}\nMIME-Version: 1.0\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"lf-b\"\n\n--lf-b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--lf-b\nContent-Type: application/octet-stream\n\n{}\n--lf-b--\n",
        String::from_utf8_lossy(&armored).trim_end()
    );
    t.s.gw.deliver(raw.as_bytes());
    t.s.gw.run_once();
    assert_eq!(
        t.show(&id)["assignee"],
        "Carol Maintainer",
        "{}",
        last_quarantined(&t)
    );
    let texts = alice_texts(&t);
    assert!(
        texts
            .iter()
            .any(|x| x.contains("Carol will follow up with you.") && !x.contains("\nBob\n")),
        "{texts:?}"
    );
}
