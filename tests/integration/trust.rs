//! The trust model, attacked: each test builds one of the security review's attacks
//! with GnuPG (or with sequoia in-process where GnuPG cannot make the packet), runs
//! the real binary, and shows the attack fails. The rule under test: an answer is
//! encrypted only to the certificate whose key signed the report, inside the
//! encryption, over all of it; anything else gets an answer that says nothing of
//! the report.

use std::os::unix::fs::PermissionsExt;

use sequoia_openpgp as openpgp;

use crate::pipeline::{REPORT, Scene, entity, pgp_mime_encrypted, pgp_mime_signed};
use crate::util::*;

/// What a captured report must never give away, whoever asks.
const SECRETS: &[&str] = &[
    "SQL injection",
    "auth/login.php",
    "2.3.1",
    "username parameter",
    "Open /login",
    "whole user table",
    "Alice Example",
];

const SIGNED_CT: &str = "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"sig-b\"";

fn year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year()
}

fn id(n: u32) -> String {
    format!("VR-{}-{n:04}", year())
}

/// The ID of the report made of the message with this Message-ID (no brackets):
/// messages handled in one pass get their IDs in no set order.
fn id_of(gw: &Gateway, msgid: &str) -> String {
    gw.reports()
        .into_iter()
        .find(|r| r["message_id"] == msgid)
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no report of {msgid}"))
}

/// Someone else, with a GnuPG home of their own that holds the gateway's public key.
struct Mallory {
    gpg: Gpg,
    fpr: String,
}

impl Mallory {
    fn new(gw: &Gateway, uid: &str) -> Mallory {
        let gpg = Gpg::new();
        gpg.import(&gw.public_key_path());
        let fpr = gpg.gen_key(uid);
        Mallory { gpg, fpr }
    }

    /// An Autocrypt header value offering this key for `addr`.
    fn autocrypt(&self, addr: &str) -> String {
        use base64::Engine as _;
        let binary = self.gpg.run(&["--export", &self.fpr], b"");
        format!(
            "addr={addr}; keydata={}",
            base64::engine::general_purpose::STANDARD.encode(binary)
        )
    }
}

fn headers<'a>(from: &'a str, msgid: &'a str, subject: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("From", from),
        ("To", GATEWAY),
        ("Subject", subject),
        ("Message-ID", msgid),
        ("Date", "Mon, 23 Nov 2026 10:00:00 +0000"),
        ("MIME-Version", "1.0"),
    ]
}

/// The messages in the outbox addressed to `to`, oldest first.
fn mail_to(gw: &Gateway, to: &str) -> Vec<Vec<u8>> {
    gw.outbox()
        .into_iter()
        .filter(|m| to_address(m).as_deref() == Some(to))
        .collect()
}

/// Alice's report, signed by her inside the encryption, with her key attached inside.
fn alice_signed_report(s: &Scene, msgid: &str) -> Vec<u8> {
    let inner = entity(
        Some("SQL injection in login form"),
        REPORT,
        &[("alice.asc", "application/pgp-keys", &s.gpg.export(&s.alice))],
    );
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    pgp_mime_encrypted(&s.headers(msgid, "..."), &armored)
}

/// Checks an answer that must say nothing of the report: signed by the gateway, not
/// encrypted, no report text, no fingerprint, no title in any header.
fn assert_content_free(s: &Scene, raw: &[u8], fingerprints: &[&str]) -> String {
    let text = assert_signed_by(&s.gpg, raw, &s.gateway_fpr);
    let whole = String::from_utf8_lossy(raw);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret:?} in the answer:\n{text}");
        assert!(
            !whole.contains(secret),
            "{secret:?} in the answer's headers"
        );
    }
    for fpr in fingerprints {
        assert!(
            !text.contains(fpr),
            "fingerprint {fpr} in the answer:\n{text}"
        );
    }
    assert!(!text.contains("Signature:"), "{text}");
    assert!(text.contains("repeats nothing of your report"), "{text}");
    text
}

/// `gpg --decrypt` of an encrypted answer; returns (success, plaintext).
fn try_open(gpg: &Gpg, raw: &[u8]) -> (bool, String) {
    let ct = header(raw, "Content-Type").unwrap();
    assert!(ct.starts_with("multipart/encrypted"), "{ct}");
    let (status, plain, ok) = gpg.decrypt(&armored_block(raw));
    (ok, format!("{status}\n{}", qp_decode(&plain)))
}

// Attack 1: a decryption oracle. Whoever captured a report's ciphertext sends it
// again from their own address with their own key; the answer must not be readable
// by them, whatever they wrap around the ciphertext.
#[test]
fn a_captured_report_sent_again_by_someone_else_is_never_answered_readably() {
    let s = Scene::new();
    let mallory = Mallory::new(&s.gw, "Mallory <mallory@evil.example>");
    let original = alice_signed_report(&s, "<a1@example.net>");
    s.gw.deliver(&original);
    s.gw.run_once();
    let captured = armored_block(&original);

    // (a) The same ciphertext from Mallory, her key offered in an Autocrypt header.
    let autocrypt = mallory.autocrypt("mallory@evil.example");
    let mut h = headers("Mallory <mallory@evil.example>", "<m1@evil.example>", "...");
    h.push(("Autocrypt", &autocrypt));
    s.gw.deliver(&pgp_mime_encrypted(&h, &captured));
    // (b) Wrapped in Mallory's own good signature, which covers the whole message but
    // was made outside the encryption.
    // The PGP/MIME entity as it stands: its Content-Type header, then its body.
    let enc_entity = pgp_mime_encrypted(&[], &captured);
    let sig = mallory.gpg.detach_sign(&mallory.fpr, &enc_entity);
    let mut h = headers("Mallory <mallory@evil.example>", "<m2@evil.example>", "...");
    h.push(("Autocrypt", &autocrypt));
    h.push(("Content-Type", SIGNED_CT));
    let mut raw = message(&h, "");
    raw.extend(pgp_mime_signed(&enc_entity, &sig));
    s.gw.deliver(&raw);
    s.gw.run_once();

    let answers = mail_to(&s.gw, "mallory@evil.example");
    assert_eq!(answers.len(), 2, "both re-sends are reports, answered");
    for (n, ack) in answers.iter().enumerate() {
        // Encrypted to the key that signed the question, Alice's: Mallory cannot read
        // it, Alice can.
        let (ok, what) = try_open(&mallory.gpg, ack);
        assert!(!ok, "Mallory read answer {n}: {what}");
        let (ok, text) = try_open(&s.gpg, ack);
        assert!(ok, "{text}");
        assert!(text.contains("SQL injection in login form"), "{text}");
        let outer = String::from_utf8_lossy(&ack[..find(ack, b"\r\n\r\n").unwrap()]).into_owned();
        for secret in SECRETS {
            assert!(
                !outer.contains(secret),
                "{secret:?} in the headers: {outer}"
            );
        }
    }
    let reports = s.gw.reports();
    assert_eq!(reports.len(), 3);
    for r in &reports[1..] {
        let full =
            s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"]);
        assert_eq!(full["proven_key"], s.alice.as_str(), "{full}");
    }
}

#[test]
fn a_captured_unsigned_report_gets_an_answer_that_says_nothing_of_it() {
    let s = Scene::new();
    let mallory = Mallory::new(&s.gw, "Mallory <mallory@evil.example>");
    // Alice encrypts but does not sign (her key is even pre-loaded).
    s.preload_alice();
    let inner = entity(Some("SQL injection in login form"), REPORT, &[]);
    let armored = s.gpg.encrypt(&s.gateway_fpr, None, &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<a1@example.net>", "..."),
        &armored,
    ));
    let autocrypt = mallory.autocrypt("mallory@evil.example");
    let mut h = headers("Mallory <mallory@evil.example>", "<m1@evil.example>", "...");
    h.push(("Autocrypt", &autocrypt));
    s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    s.gw.run_once();

    let to_mallory = mail_to(&s.gw, "mallory@evil.example");
    assert_eq!(to_mallory.len(), 1);
    let text = assert_content_free(&s, &to_mallory[0], &[&s.alice, &mallory.fpr]);
    let hers =
        s.gw.reports()
            .into_iter()
            .find(|r| r["from"] == "mallory@evil.example")
            .unwrap();
    let hers = hers["id"].as_str().unwrap().to_string();
    assert!(text.contains(&hers), "{text}");
    // Alice's own answer is content-free too: nothing proved it comes from her.
    let to_alice = mail_to(&s.gw, "alice@example.net");
    assert_eq!(to_alice.len(), 1);
    assert_content_free(&s, &to_alice[0], &[&s.alice]);
    // Maintainers still get the whole report.
    let shown = s.gw.cli(&["reports", "show", &hers]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("whole user table"));
}

// Attack 1, second half: the gateway's own outgoing mail must not be something it
// can open; and a copy of its own signed mail (from before this rule) is refused.
#[test]
fn the_gateways_own_mail_cannot_be_sent_back_to_be_opened() {
    let s = Scene::new();
    let bob = Gpg::new();
    bob.import(&s.gw.public_key_path());
    bob.gen_key("Bob Maintainer <bob@example.org>");
    std::fs::create_dir_all(s.gw.path("keys/maintainers")).unwrap();
    std::fs::write(
        s.gw.path("keys/maintainers/bob.asc"),
        bob.export("bob@example.org"),
    )
    .unwrap();
    let root = s.gw.dir.path().display().to_string();
    let mut config = std::fs::read_to_string(&s.gw.config).unwrap();
    config.push_str(&format!(
        "\n[[maintainers]]\nname = \"Bob\"\naddress = \"bob@example.org\"\nkey = \"{root}/keys/maintainers/bob.asc\"\n"
    ));
    std::fs::write(&s.gw.config, config).unwrap();
    s.gw.deliver(&alice_signed_report(&s, "<a1@example.net>"));
    s.gw.run_once();

    // The gateway's own secret key, in a GnuPG home of its own.
    let gateway = Gpg::new();
    let secret = std::fs::read_dir(s.gw.path("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".sec.asc"))
        .unwrap();
    gateway.import(&secret);

    let notice = mail_to(&s.gw, "bob@example.org")
        .pop()
        .expect("Bob is told");
    let (ok, text) = try_open(&bob, &notice);
    assert!(ok && text.contains("whole user table"), "{text}");
    let (ok, what) = try_open(&gateway, &notice);
    assert!(!ok, "the gateway's key opens its own outgoing mail: {what}");
    // Every answer, Alice's acknowledgement included, is for its addressee only.
    let ack = mail_to(&s.gw, "alice@example.net").pop().unwrap();
    assert!(!try_open(&gateway, &ack).0);

    // Sent back, the notification cannot be opened: quarantined, nobody answered.
    let before = s.gw.outbox().len();
    let ct = header(&notice, "Content-Type").unwrap();
    let mut h = headers("Mallory <mallory@evil.example>", "<m1@evil.example>", "fwd");
    h.push(("Content-Type", &ct));
    let body =
        String::from_utf8_lossy(&notice[find(&notice, b"\r\n\r\n").unwrap() + 4..]).into_owned();
    s.gw.deliver(&message(&h, &body));
    // A copy made the way earlier versions sealed (signed by the gateway and
    // encrypted to it as well) is refused as a report.
    let copy = gateway.run(
        &[
            "--armor",
            "--encrypt",
            "--sign",
            "--local-user",
            &s.gateway_fpr,
            "--recipient",
            &s.gateway_fpr,
        ],
        &entity(Some("New report"), REPORT, &[]),
    );
    s.gw.deliver(&pgp_mime_encrypted(
        &headers("Mallory <mallory@evil.example>", "<m2@evil.example>", "..."),
        &copy,
    ));
    s.gw.run_once();
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 2, "{q:?}");
    let reason = |mid: &str| {
        q.iter()
            .find(|r| r["message_id"] == mid)
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(reason("m1@evil.example").contains("does not have"), "{q:?}");
    assert!(
        reason("m2@evil.example").contains("gateway's own key"),
        "{q:?}"
    );
    for m in &s.gw.outbox()[before..] {
        let text = String::from_utf8_lossy(m);
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret:?} went out");
        }
    }
    assert_eq!(s.gw.reports().len(), 1);
}

// Attack 2: key poisoning. Mallory signs mail "from" Alice with a key she made for
// Alice's address. That must not change which key Alice's reports are answered with.
#[test]
fn a_key_made_for_someone_elses_address_never_receives_their_answers() {
    let s = Scene::new();
    let mallory = Mallory::new(&s.gw, "Alice Example <alice@example.net>");
    // First contact: the forgery, signed by Mallory's key for Alice's address,
    // encrypted, with the key attached.
    let forged = entity(
        Some("Please use this key"),
        "Title: hello\n",
        &[(
            "key.asc",
            "application/pgp-keys",
            &mallory.gpg.export(&mallory.fpr),
        )],
    );
    let armored = mallory
        .gpg
        .encrypt(&s.gateway_fpr, Some(&mallory.fpr), &forged);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<f1@evil.example>", "..."),
        &armored,
    ));
    s.gw.run_once();

    // Alice's genuine reports: one signed with her key, one unsigned.
    s.gw.deliver(&alice_signed_report(&s, "<a1@example.net>"));
    let inner = entity(Some("SQL injection in login form"), REPORT, &[]);
    let unsigned = s.gpg.encrypt(&s.gateway_fpr, None, &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<a2@example.net>", "..."),
        &unsigned,
    ));
    s.gw.run_once();

    let acks = mail_to(&s.gw, "alice@example.net");
    assert_eq!(acks.len(), 3);
    let answer_to = |mid: &str| {
        acks.iter()
            .find(|m| header(m, "In-Reply-To").as_deref() == Some(mid))
            .unwrap()
    };
    // Alice's signed report: encrypted to her key, not Mallory's.
    let (ok, what) = try_open(&mallory.gpg, answer_to("<a1@example.net>"));
    assert!(!ok, "Mallory read Alice's acknowledgement: {what}");
    let (ok, text) = try_open(&s.gpg, answer_to("<a1@example.net>"));
    assert!(ok && text.contains("auth/login.php"), "{text}");
    // Alice's unsigned report: nobody's key, and nothing of the report.
    assert_content_free(&s, answer_to("<a2@example.net>"), &[&s.alice, &mallory.fpr]);

    // A maintainer's reply to the signed report goes to Alice's key only.
    let reply = s.gw.path("reply.txt");
    std::fs::write(&reply, "Confirmed; fix in 2.3.2.\n").unwrap();
    let (signed_id, unsigned_id) = (
        id_of(&s.gw, "a1@example.net"),
        id_of(&s.gw, "a2@example.net"),
    );
    let out = s.gw.cli(&[
        "reports",
        "reply",
        &signed_id,
        "--file",
        reply.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.gw.run_once();
    let sent = mail_to(&s.gw, "alice@example.net").pop().unwrap();
    assert!(!try_open(&mallory.gpg, &sent).0);
    assert!(try_open(&s.gpg, &sent).1.contains("fix in 2.3.2"));
    // The unsigned one has no key to answer with: a reply in clear is refused.
    let out = s.gw.cli(&[
        "reports",
        "reply",
        &unsigned_id,
        "--file",
        reply.to_str().unwrap(),
    ]);
    assert!(!out.status.success());

    // Each signature is good for its own key, and maintainers see that the address
    // proved two keys.
    let forged = s.gw.json(&["reports", "show", &id(1), "--json"]);
    assert_eq!(forged["signature"], "good");
    assert_eq!(forged["signer_fingerprint"], mallory.fpr.as_str());
    let real = s.gw.json(&["reports", "show", &signed_id, "--json"]);
    assert_eq!(real["signature"], "good");
    assert_eq!(real["signer_fingerprint"], s.alice.as_str());
    assert_eq!(real["proven_key"], s.alice.as_str());
    let mut keys: Vec<&str> = real["address_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["fingerprint"].as_str().unwrap())
        .collect();
    keys.sort();
    let mut want = vec![mallory.fpr.as_str(), s.alice.as_str()];
    want.sort();
    assert_eq!(keys, want);
    let text =
        String::from_utf8_lossy(&s.gw.cli(&["reports", "show", &signed_id]).stdout).into_owned();
    assert!(text.contains("has proved 2 different keys"), "{text}");
}

/// `cert` with `victim`'s primary key bound as an extra encryption subkey, by
/// `cert`'s owner: a binding GnuPG will not make, but anyone can with a library,
/// and which needs nothing from the victim.
fn with_stolen_subkey(tsk: &openpgp::Cert, victim: &openpgp::Cert) -> openpgp::Cert {
    use openpgp::packet::signature::SignatureBuilder;
    use openpgp::types::{KeyFlags, SignatureType};
    let mut signer = tsk
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .unwrap()
        .into_keypair()
        .unwrap();
    let stolen = victim.primary_key().key().clone().role_into_subordinate();
    let binding = SignatureBuilder::new(SignatureType::SubkeyBinding)
        .set_key_flags(
            KeyFlags::empty()
                .set_transport_encryption()
                .set_storage_encryption(),
        )
        .unwrap()
        .sign_subkey_binding(&mut signer, tsk.primary_key().key(), &stolen)
        .unwrap();
    tsk.clone()
        .insert_packets(vec![openpgp::Packet::from(stolen), binding.into()])
        .unwrap()
        .0
}

// Attack 3: a certificate that carries the victim's public key as its own
// encryption subkey must not take over the victim's key ID.
#[test]
fn a_certificate_holding_someone_elses_key_cannot_take_over_its_key_id() {
    use openpgp::parse::Parse;
    use openpgp::serialize::SerializeInto;
    let s = Scene::new();
    // Alice's first report attaches her key: the gateway learns it.
    s.gw.deliver(&alice_signed_report(&s, "<a1@example.net>"));
    s.gw.run_once();

    // Mallory's certificate, made in-process, with Alice's key bound into it; her
    // GnuPG signs with it.
    let (mallory_tsk, _) =
        openpgp::cert::CertBuilder::general_purpose(Some("Mallory <mallory@evil.example>"))
            .generate()
            .unwrap();
    let alice_cert = openpgp::Cert::from_bytes(&s.gpg.export(&s.alice)).unwrap();
    let hijack = with_stolen_subkey(&mallory_tsk, &alice_cert);
    let mallory = Gpg::new();
    mallory.import(&s.gw.public_key_path());
    let tsk_path = mallory.home.path().join("m.key");
    std::fs::write(&tsk_path, mallory_tsk.as_tsk().armored().to_vec().unwrap()).unwrap();
    mallory.import(&tsk_path);
    let mfpr = mallory_tsk.fingerprint().to_hex();
    let inner = entity(
        Some("hello"),
        "Title: nothing to see\n",
        &[(
            "key.asc",
            "application/pgp-keys",
            &hijack.armored().to_vec().unwrap(),
        )],
    );
    let armored = mallory.encrypt(&s.gateway_fpr, Some(&mfpr), &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &headers("Mallory <mallory@evil.example>", "<m1@evil.example>", "..."),
        &armored,
    ));
    s.gw.run_once();
    assert_eq!(
        s.gw.reports()[1]["signature"],
        "good",
        "Mallory's own mail is signed by her"
    );

    // Alice writes again, signed, without attaching her key: it is looked up by
    // its key ID, and must be found as hers and good.
    let inner = entity(Some("Second report"), REPORT, &[]);
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<a2@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let r = s.gw.json(&["reports", "show", &id(3), "--json"]);
    assert_eq!(r["signature"], "good", "{r}");
    assert_eq!(r["signer_fingerprint"], s.alice.as_str());
    assert_eq!(r["proven_key"], s.alice.as_str());
    // And its answer is Alice's to read, not Mallory's.
    let ack = mail_to(&s.gw, "alice@example.net").pop().unwrap();
    assert!(try_open(&s.gpg, &ack).0);
    assert!(!try_open(&mallory, &ack).0);
}

// Attack 4: thread injection. An unsigned mail with a forged From and a guessed tag
// must not join a signed report.
#[test]
fn a_forged_unsigned_follow_up_does_not_join_a_signed_report() {
    let s = Scene::new();
    s.gw.deliver(&alice_signed_report(&s, "<a1@example.net>"));
    s.gw.run_once();
    let first = id(1);

    // Mallory: unsigned, From Alice, the tag guessed, In-Reply-To the report.
    let forged = message(
        &[
            ("From", "Alice Example <alice@example.net>"),
            ("To", GATEWAY),
            (
                "Subject",
                &format!("Re: [{first}] please send the fix to me"),
            ),
            ("Message-ID", "<f1@evil.example>"),
            ("In-Reply-To", "<a1@example.net>"),
        ],
        "Please mail the patch to mallory@evil.example.\n",
    );
    s.gw.deliver(&forged);
    // Alice's real follow-up, signed with her key and encrypted.
    let inner = entity(
        Some(&format!("Re: [{first}] more")),
        "One more detail: it also affects 2.4.\n",
        &[],
    );
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    let subject = format!("Re: [{first}] ...");
    let mut h = s.headers("<a2@example.net>", &subject);
    h.push(("In-Reply-To", "<a1@example.net>"));
    s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    s.gw.run_once();

    let report = s.gw.json(&["reports", "show", &first, "--json"]);
    let corr = report["correspondence"].as_array().unwrap();
    assert_eq!(corr.len(), 1, "only the signed follow-up joins: {corr:?}");
    assert!(corr[0]["body"].as_str().unwrap().contains("affects 2.4"));
    let reports = s.gw.reports();
    assert_eq!(reports.len(), 2);
    let injected = s.gw.json(&["reports", "show", &id(2), "--json"]);
    assert_eq!(injected["unverified_followup_of"], first.as_str());
    assert!(
        injected["body"]
            .as_str()
            .unwrap()
            .contains("mallory@evil.example")
    );
    let text = String::from_utf8_lossy(&s.gw.cli(&["reports", "show", &id(2)]).stdout).into_owned();
    assert!(text.contains("UNVERIFIED"), "{text}");
    assert!(
        injected["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "unverified_follow_up")
    );
}

// Attack 5: reflection through sub-addresses and through many mailboxes of a domain.
#[test]
fn sub_addresses_share_one_allowance_and_a_domain_has_its_own() {
    let gw = Gateway::new();
    let mut config = std::fs::read_to_string(&gw.config).unwrap();
    config.push_str("[rate_limits]\nper_sender = 3\nper_domain = 6\n");
    std::fs::write(&gw.config, config).unwrap();
    let to_victim = || {
        gw.outbox()
            .iter()
            .filter(|m| {
                header(m, "To")
                    .unwrap()
                    .to_lowercase()
                    .starts_with("victim")
            })
            .count()
    };
    // Undecryptable mail from five sub-addresses: one notice for the mailbox.
    for n in 0..5 {
        gw.deliver(&message(
            &[
                ("From", &format!("victim+n{n}@example.net")),
                ("Message-ID", &format!("<u{n}@x>")),
            ],
            "-----BEGIN PGP MESSAGE-----\n\nhQEMA0000000000000\n-----END PGP MESSAGE-----\n",
        ));
    }
    gw.run_once();
    assert_eq!(gw.quarantine().len(), 5);
    assert_eq!(
        to_victim(),
        1,
        "one notice a day for every spelling of one mailbox"
    );

    // Reports from eight spellings of it: per_sender = 3 in all, the notice counted.
    for n in 0..8 {
        let from = if n % 2 == 0 {
            format!("victim+{n}@example.net")
        } else {
            format!("Victim+{n}@Example.NET")
        };
        gw.deliver(&message(
            &[
                ("From", &from),
                ("Subject", "r"),
                ("Message-ID", &format!("<v{n}@x>")),
            ],
            &format!("Title: report {n}\n"),
        ));
    }
    gw.run_once();
    assert_eq!(
        to_victim(),
        3,
        "per_sender = 3 for every spelling of one mailbox"
    );

    // Other mailboxes of the domain: the domain's allowance (6) holds them all.
    for n in 0..10 {
        gw.deliver(&message(
            &[
                ("From", &format!("user{n}@example.net")),
                ("Subject", "r"),
                ("Message-ID", &format!("<d{n}@x>")),
            ],
            &format!("Title: report {n}\n"),
        ));
    }
    gw.run_once();
    let to_domain = gw
        .outbox()
        .iter()
        .filter(|m| {
            header(m, "To")
                .unwrap()
                .to_lowercase()
                .ends_with("@example.net")
        })
        .count();
    assert_eq!(to_domain, 6, "per_domain = 6");
    let reports = gw.reports();
    assert_eq!(reports.len(), 18, "every report is kept, answered or not");
    let answered = reports.iter().filter(|r| r["status"] != "new").count();
    assert_eq!(answered, 2 + 3);
    // Another domain is not held by this one's allowance.
    gw.deliver(&message(
        &[
            ("From", "someone@example.com"),
            ("Subject", "r"),
            ("Message-ID", "<o1@x>"),
        ],
        "Title: other\n",
    ));
    gw.run_once();
    assert_eq!(mail_to(&gw, "someone@example.com").len(), 1);
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file and directory under `dir` with its mode.
fn modes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut out = vec![(dir.to_path_buf(), mode(dir))];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(modes(&p));
        } else {
            out.push((p.clone(), mode(&p)));
        }
    }
    out
}

// Attack 6: a loose umask must not make the store (decrypted reports), the keys, the
// outgoing mail or a backup readable by other users; an open store is refused.
#[test]
fn store_keys_outbox_and_backups_are_private_whatever_the_umask() {
    let gw = Gateway::without_key();
    std::fs::remove_dir_all(gw.path("keys")).unwrap();
    let under_umask = |args: &[&str]| {
        let bin = env!("CARGO_BIN_EXE_disclosured");
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg("umask 022; exec \"$@\"")
            .arg("sh")
            .arg(bin)
            .arg("--config")
            .arg(&gw.config)
            .args(args)
            .env_remove("RUST_LOG");
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    under_umask(&["keys", "generate"]);
    gw.deliver(&plain_report("<p1@example.net>"));
    under_umask(&["run-once"]);
    let backup = gw.path("backup.dat");
    let public = gw.public_key_path();
    under_umask(&[
        "backup",
        "--to",
        public.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    let mut checked = 0;
    for dir in ["state", "outbox", "keys"] {
        for (path, m) in modes(&gw.path(dir)) {
            // The gateway's public key is meant to be published, and `signing-key`
            // names its fingerprint; the keys directory itself is private.
            let name = path.to_string_lossy();
            if name.ends_with(".pub.asc") || name.ends_with("/signing-key") {
                continue;
            }
            assert_eq!(m & 0o077, 0, "{} is {m:o}", path.display());
            checked += 1;
        }
    }
    assert!(checked > 6, "{checked}");
    assert_eq!(mode(&backup) & 0o077, 0, "backup is {:o}", mode(&backup));

    // A store others may enter is refused, with the path and the fix.
    std::fs::set_permissions(gw.path("state"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = gw.cli(&["reports", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("chmod -R go-rwx {}", gw.path("state").display())),
        "{err}"
    );
    let out = gw.cli(&["run-once"]);
    assert!(!out.status.success());
}

// Attack 7: report text must not drive the maintainer's terminal.
#[test]
fn report_text_cannot_drive_the_terminal() {
    let gw = Gateway::new();
    let title = "Harmless\u{1b}[2K\u{1b}[1A\u{9b}31mSignature: good\u{7}\u{202e}txt.exe";
    gw.deliver(&message(
        &[
            ("From", "eve@example.net"),
            ("Subject", "r"),
            ("Message-ID", "<e1@x>"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        &format!("Title: {title}\nDescription: x\u{1b}]0;owned\u{7} and a\rcarriage return\n"),
    ));
    gw.run_once();
    let id = gw.reports()[0]["id"].as_str().unwrap().to_string();
    for args in [
        vec!["reports", "show", id.as_str()],
        vec!["reports", "list"],
        vec!["status"],
    ] {
        let out = gw.cli(&args);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        for c in ['\u{1b}', '\u{9b}', '\u{7}', '\r', '\u{202e}'] {
            assert!(!text.contains(c), "{args:?} prints {c:?}: {text:?}");
        }
        if args.get(1) == Some(&"show") {
            assert!(text.contains("Harmless\u{fffd}[2K\u{fffd}[1A"), "{text}");
        }
    }
    // JSON stays exact.
    let json = gw.json(&["reports", "show", &id, "--json"]);
    let body = json["body"].as_str().unwrap();
    assert!(body.contains(title), "{body:?}");
    assert!(body.contains("x\u{1b}]0;owned\u{7}"), "{body:?}");
}

/// `tsk` with `n` more user IDs, each self-signed: what its owner can add at will.
fn with_noise(tsk: &openpgp::Cert, tag: usize, n: usize) -> openpgp::Cert {
    use openpgp::packet::UserID;
    use openpgp::packet::signature::SignatureBuilder;
    use openpgp::types::SignatureType;
    let mut signer = tsk
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .unwrap()
        .into_keypair()
        .unwrap();
    let mut packets: Vec<openpgp::Packet> = Vec::new();
    for i in 0..n {
        let uid = UserID::from(format!("Noise {tag}.{i} <n{tag}x{i}@evil.example>"));
        let sig = uid
            .bind(
                &mut signer,
                tsk,
                SignatureBuilder::new(SignatureType::PositiveCertification),
            )
            .unwrap();
        packets.push(uid.into());
        packets.push(sig.into());
    }
    tsk.clone()
        .strip_secret_key_material()
        .insert_packets(packets)
        .unwrap()
        .0
}

// Attack 8: a key that grows with every message must not grow the store.
#[test]
fn a_key_that_grows_with_every_message_keeps_the_store_bounded() {
    use openpgp::parse::Parse;
    use openpgp::serialize::SerializeInto;
    let gw = Gateway::new();
    let mut config = std::fs::read_to_string(&gw.config).unwrap();
    config.push_str("[rate_limits]\nper_sender = 100000\nper_domain = 100000\nglobal = 100000\n");
    std::fs::write(&gw.config, config).unwrap();
    let (tsk, _) =
        openpgp::cert::CertBuilder::general_purpose(Some("Mallory <mallory@evil.example>"))
            .generate()
            .unwrap();
    let fpr = tsk.fingerprint().to_hex();
    let gpg = Gpg::new();
    let tsk_path = gpg.home.path().join("m.key");
    std::fs::write(&tsk_path, tsk.as_tsk().armored().to_vec().unwrap()).unwrap();
    gpg.import(&tsk_path);

    // The Autocrypt header offers a copy over limits.max_key_bytes (64 KiB), which
    // must be ignored rather than parsed and kept.
    let big = {
        use base64::Engine as _;
        let bytes = with_noise(&tsk, 1_000_000, 500).to_vec().unwrap();
        assert!(bytes.len() > 64 * 1024, "{}", bytes.len());
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let autocrypt = format!("addr=mallory@evil.example; keydata={big}");
    let send = |from: usize, to: usize| {
        for n in from..to {
            // Each message attaches the key with 100 user IDs it never had before
            // (about 20 KiB, under limits.max_key_bytes), inside the signed part.
            let noisy = with_noise(&tsk, n, 100).armored().to_vec().unwrap();
            let signed = entity(
                None,
                &format!("Title: report {n}\n"),
                &[("k.asc", "application/pgp-keys", &noisy)],
            );
            let sig = gpg.detach_sign(&fpr, &signed);
            let mid = format!("<k{n}@evil.example>");
            let mut h = headers("mallory@evil.example", &mid, "r");
            h.push(("Autocrypt", &autocrypt));
            h.push(("Content-Type", SIGNED_CT));
            let mut raw = message(&h, "");
            raw.extend(pgp_mime_signed(&signed, &sig));
            gw.deliver(&raw);
        }
        let log = gw.run_once();
        // Reported, not asserted (timing belongs in benchmarks): the intake time per
        // message of each run, to see that it stays flat as the key is sent again.
        let intake_ms: f64 = log
            .lines()
            .rev()
            .find_map(|l| l.split("intake_ms=").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        eprintln!(
            "growing key: messages {from}..{to}: {:.1} ms per message",
            intake_ms / (to - from) as f64
        );
    };
    send(0, 20);
    let size_20 = dir_size(&gw.path("state"));
    send(20, 180);
    send(180, 200);
    let size_200 = dir_size(&gw.path("state"));
    let reports = gw.reports();
    assert_eq!(reports.len(), 200);
    assert!(reports.iter().all(|r| r["signature"] == "good"));

    let store = crate::util::open_store(&gw);
    let kept = store.learnt_cert(&fpr).unwrap().unwrap();
    let cert = openpgp::Cert::from_bytes(&kept).unwrap();
    assert!(
        cert.userids().count() <= 4,
        "{} user IDs kept",
        cert.userids().count()
    );
    assert!(kept.len() < 4096, "stored key is {} bytes", kept.len());
    drop(store);
    // 200 reports and their acknowledgements take room; 200 x 100 user IDs (20,000
    // signatures, ~4 MB of keys) must not. The growth from 20 to 200 messages is
    // about what 180 reports need.
    assert!(
        size_200 < size_20 + 180 * 40 * 1024,
        "store grew from {size_20} to {size_200} bytes"
    );
}

fn dir_size(dir: &std::path::Path) -> u64 {
    modes(dir)
        .iter()
        .filter(|(p, _)| p.is_file())
        .map(|(p, _)| std::fs::metadata(p).unwrap().len())
        .sum()
}

// Attack 9: a forwarded message beside the signed text is outside the signature.
#[test]
fn a_forwarded_message_beside_the_signed_text_is_outside_the_signature() {
    let s = Scene::new();
    s.preload_alice();
    let clearsigned = s.gpg.clearsign(&s.alice, REPORT.as_bytes());
    let forwarded =
        "From: someone@example.com\r\nSubject: injected\r\n\r\nThe fix is to disable TLS.\r\n";
    let body = format!(
        "--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n--mix\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n{forwarded}\r\n--mix--\r\n",
        String::from_utf8_lossy(&clearsigned)
            .replace('\n', "\r\n")
            .replace("\r\r\n", "\r\n")
    );
    let inner = format!("Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n{body}");
    let armored = s.gpg.encrypt(&s.gateway_fpr, None, inner.as_bytes());
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<a1@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let r = s.gw.json(&["reports", "show", &id(1), "--json"]);
    assert_eq!(r["signature"], "good", "{r}");
    assert_eq!(r["signature_covers_all"], false, "{r}");
    assert!(r["proven_key"].is_null(), "{r}");
    assert_eq!(r["attachments"].as_array().unwrap().len(), 1);
    assert_content_free(&s, &s.gw.outbox()[0], &[&s.alice]);

    // Attached messages count against the attachment limit.
    let mut config = std::fs::read_to_string(&s.gw.config).unwrap();
    config.push_str("[limits]\nmax_attachments = 1\n");
    std::fs::write(&s.gw.config, config).unwrap();
    let two = format!(
        "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\nContent-Type: text/plain\r\n\r\nTitle: x\r\n--mix\r\nContent-Type: message/rfc822\r\n\r\n{forwarded}\r\n--mix\r\nContent-Type: message/rfc822\r\n\r\n{forwarded}\r\n--mix--\r\n"
    );
    let armored = s.gpg.encrypt(&s.gateway_fpr, None, two.as_bytes());
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<a2@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let q = s.gw.quarantine();
    assert!(
        q.iter()
            .any(|r| r["reason"].as_str().unwrap().contains("max_attachments")),
        "{q:?}"
    );
}

// Attack 10: a content-free answer must not state what only the encryption held,
// such as which key signed.
#[test]
fn a_content_free_answer_names_no_key() {
    let s = Scene::new();
    // Signed inside the encryption by a key we do not have.
    let inner = entity(Some("SQL injection in login form"), REPORT, &[]);
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<a1@example.net>", "..."),
        &armored,
    ));
    // Signed, proven, but by a key that cannot receive encrypted mail.
    let signer = Gpg::new();
    signer.import(&s.gw.public_key_path());
    signer.run(
        &[
            "--quick-gen-key",
            "Sig Only <sig@example.net>",
            "ed25519",
            "sign",
            "never",
        ],
        b"",
    );
    let sfpr = signer.fingerprint("sig@example.net");
    let inner = entity(
        Some("SQL injection in login form"),
        REPORT,
        &[("k.asc", "application/pgp-keys", &signer.export(&sfpr))],
    );
    let armored = signer.encrypt(&s.gateway_fpr, Some(&sfpr), &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &headers("Sig Only <sig@example.net>", "<s1@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let r =
        s.gw.json(&["reports", "show", &id_of(&s.gw, "a1@example.net"), "--json"]);
    assert_eq!(r["signature"], "unknown_key");
    let r =
        s.gw.json(&["reports", "show", &id_of(&s.gw, "s1@example.net"), "--json"]);
    assert_eq!(r["proven_key"], sfpr.as_str());
    assert!(r["reporter_key"].is_null());
    let to_alice = mail_to(&s.gw, "alice@example.net");
    assert_content_free(&s, &to_alice[0], &[&s.alice]);
    let to_signer = mail_to(&s.gw, "sig@example.net");
    let text = assert_content_free(&s, &to_signer[0], &[&sfpr]);
    assert!(text.contains("cannot receive encrypted mail"), "{text}");
}
