//! Issue 26, items 1 to 4: publishing the channel. `disclosured publish` writes a
//! tree that the independent validators accept (sectxt on security.txt, GnuPG on its
//! signature and on the Web Key Directory); every kind of outgoing mail carries the
//! gateway's Autocrypt header; an unencrypted `Subject: key` mail gets the key back.
//!
//! sectxt is installed by `make test-validators` into target/validators (see
//! tests/validators/install-sectxt.sh); the tests that need it say so when it is
//! missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

use crate::pipeline::{REPORT, Scene, pgp_mime_encrypted};
use crate::util::*;

/// The sectxt command installed by tests/validators/install-sectxt.sh.
fn sectxt() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/validators/sectxt/bin/sectxt");
    assert!(
        path.is_file(),
        "{} is missing: run `make test-validators` (or sh tests/validators/install-sectxt.sh target/validators)",
        path.display()
    );
    path
}

/// Runs sectxt on a local file: (exit status ok, its output).
fn run_sectxt(file: &Path) -> (bool, String) {
    let out = Command::new(sectxt()).arg(file).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn wks_client() -> &'static str {
    for p in [
        "/usr/lib/gnupg/gpg-wks-client",
        "/usr/libexec/gpg-wks-client",
    ] {
        if Path::new(p).is_file() {
            return p;
        }
    }
    panic!("gpg-wks-client not found (GnuPG's, installed with gnupg)")
}

/// `publish DIR` on a gateway that has run once; returns DIR and the command's output.
fn publish(gw: &Gateway) -> (PathBuf, String) {
    let dir = gw.path("www");
    let out = gw.cli(&["publish", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "publish: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, stdout)
}

fn add_config(gw: &Gateway, text: &str) {
    let mut config = std::fs::read_to_string(&gw.config).unwrap();
    config.push_str(text);
    std::fs::write(&gw.config, config).unwrap();
}

#[test]
fn security_txt_passes_sectxt_and_gpg_and_a_broken_one_fails() {
    let gw = Gateway::new();
    gw.run_once();
    let (dir, said) = publish(&gw);
    assert!(said.contains(".well-known/security.txt"), "{said}");
    let file = dir.join(".well-known/security.txt");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"),
        "{text}"
    );
    assert!(
        text.ends_with("-----END PGP SIGNATURE-----\n"),
        "nothing after the signature: {text:?}"
    );
    let fpr = gw.signing_fingerprint();
    for want in [
        "Contact: mailto:security@example.org\n".to_string(),
        "Encryption: https://example.org/security-key.asc\n".into(),
        format!("Encryption: openpgp4fpr:{fpr}\n"),
        "Preferred-Languages: en\n".into(),
        "Policy: https://example.org/security-policy.html\n".into(),
        "Acknowledgments: https://example.org/security-policy.html#hall-of-fame\n".into(),
        "Canonical: https://example.org/.well-known/security.txt\n".into(),
    ] {
        assert!(text.contains(&want), "{want:?} not in {text}");
    }
    assert!(!text.contains("CSAF:"), "no CSAF tree is published: {text}");

    let (ok, said) = run_sectxt(&file);
    assert!(ok, "sectxt refuses the published security.txt: {said}");

    // A validator that passes everything would pass these: one expired, one without
    // a Contact (both unsigned, as an operator's hand-made copy would be).
    let body: String = text
        .split("\n\n")
        .nth(1)
        .unwrap()
        .split("-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap()
        .to_string();
    let expired = regex_replace_expires(&body, "2020-01-01T00:00:00Z");
    let broken = dir.join("expired.txt");
    std::fs::write(&broken, expired).unwrap();
    let (ok, said) = run_sectxt(&broken);
    assert!(!ok, "sectxt accepts an expired security.txt: {said}");
    let no_contact: String = body
        .lines()
        .filter(|l| !l.starts_with("Contact:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&broken, no_contact).unwrap();
    let (ok, said) = run_sectxt(&broken);
    assert!(!ok, "sectxt accepts a security.txt without Contact: {said}");

    // GnuPG verifies the signature with the published key, and not after tampering.
    let gpg = Gpg::new();
    gpg.import(&dir.join("security-key.asc"));
    let out = gpg.try_run(
        &["--status-fd", "1", "--verify", file.to_str().unwrap()],
        b"",
    );
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{status}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(validsig_by(&status, &fpr), "{status}");
    let tampered = text.replace("mailto:security@example.org", "mailto:attacker@example.net");
    let out = gpg.try_run(&["--status-fd", "1", "--verify"], tampered.as_bytes());
    assert!(!out.status.success(), "a tampered security.txt verifies");
    assert!(String::from_utf8_lossy(&out.stdout).contains("BADSIG"));
}

/// `body` with its Expires: line set to `value`.
fn regex_replace_expires(body: &str, value: &str) -> String {
    body.lines()
        .map(|l| {
            if l.starts_with("Expires:") {
                format!("Expires: {value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[test]
fn the_wkd_files_are_where_gnupg_looks_and_hold_the_address_only() {
    let gw = Gateway::new();
    gw.run_once();
    let (dir, _) = publish(&gw);
    let out = Command::new(wks_client())
        .args(["--print-wkd-hash", GATEWAY])
        .output()
        .unwrap();
    assert!(out.status.success());
    // "<hash> <address>"
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let hash = line.split_whitespace().next().unwrap().to_string();
    let advanced = dir.join(format!(".well-known/openpgpkey/example.org/hu/{hash}"));
    let direct = dir.join(format!(".well-known/openpgpkey/hu/{hash}"));
    for f in [&advanced, &direct] {
        assert!(
            f.is_file(),
            "{} missing (gpg-wks-client says {line})",
            f.display()
        );
    }
    for p in [
        ".well-known/openpgpkey/example.org/policy",
        ".well-known/openpgpkey/policy",
    ] {
        assert!(dir.join(p).is_file(), "{p} missing");
    }
    // What GnuPG finds there: the gateway's key, binary, with only the address's
    // user ID.
    let bytes = std::fs::read(&direct).unwrap();
    assert!(!bytes.starts_with(b"-----"), "WKD serves binary keys");
    let gpg = Gpg::new();
    gpg.run(&["--import"], &bytes);
    let listing =
        String::from_utf8_lossy(&gpg.run(&["--with-colons", "--list-keys"], b"")).into_owned();
    let fprs: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("fpr:"))
        .map(|l| l.split(':').nth(9).unwrap())
        .collect();
    assert!(
        fprs.contains(&gw.signing_fingerprint().as_str()),
        "{listing}"
    );
    let uids: Vec<&str> = listing.lines().filter(|l| l.starts_with("uid:")).collect();
    assert_eq!(uids.len(), 1, "{listing}");
    assert!(uids[0].contains("<security@example.org>"), "{listing}");
}

#[test]
fn after_keys_rotate_the_wkd_holds_both_keys_and_security_txt_the_new_one() {
    let gw = Gateway::new();
    gw.run_once();
    let old = gw.signing_fingerprint();
    let out = gw.cli(&["keys", "rotate"]);
    assert!(out.status.success());
    let new = gw.signing_fingerprint();
    assert_ne!(old, new);
    let (dir, said) = publish(&gw);
    assert!(said.contains("2 key(s)"), "{said}");
    let hash = hash_of(GATEWAY);
    let gpg = Gpg::new();
    gpg.run(
        &["--import"],
        &std::fs::read(dir.join(format!(".well-known/openpgpkey/hu/{hash}"))).unwrap(),
    );
    let listing =
        String::from_utf8_lossy(&gpg.run(&["--with-colons", "--list-keys"], b"")).into_owned();
    for fpr in [&old, &new] {
        assert!(
            listing.contains(&format!(":{fpr}:")),
            "{fpr} not in {listing}"
        );
    }
    // The old key is published revoked (superseded), the new one valid: GnuPG
    // encrypts to the new one.
    let validity = |fpr: &str| {
        let lines: Vec<&str> = listing.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("fpr:") && l.contains(fpr))
            .unwrap();
        // The pub line just before the primary key's fpr line.
        lines[at - 1].split(':').nth(1).unwrap().to_string()
    };
    assert_eq!(validity(&old), "r", "{listing}");
    assert_ne!(validity(&new), "r", "{listing}");
    let out = gpg.try_run(
        &["--status-fd", "1", "--armor", "--encrypt", "-r", GATEWAY],
        b"hello",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The gateway still decrypts mail sent to the old key: its own copy is not
    // revoked.
    let gpg_old = Gpg::new();
    gpg_old.run(
        &["--import"],
        &std::fs::read(gw.path("keys").join(format!("gateway-{old}.pub.asc"))).unwrap(),
    );
    let report = gpg_old.run(
        &["--armor", "--encrypt", "-r", &old],
        crate::pipeline::REPORT.as_bytes(),
    );
    gw.deliver(&pgp_mime_encrypted(
        &[
            ("From", "Alice <alice@example.net>"),
            ("To", GATEWAY),
            ("Subject", "..."),
            ("Message-ID", "<to-old@example.net>"),
        ],
        &report,
    ));
    gw.run_once();
    assert_eq!(gw.reports().len(), 1, "{:?}", gw.quarantine());
    let text = std::fs::read_to_string(dir.join(".well-known/security.txt")).unwrap();
    assert!(text.contains(&format!("openpgp4fpr:{new}")), "{text}");
    // Signed by the new key.
    gpg.import(&gw.public_key_path());
    let out = gpg.try_run(&["--status-fd", "1", "--verify"], text.as_bytes());
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(validsig_by(&status, &new), "{status}");
}

/// Whether GnuPG's status lines have a good signature by the key whose primary
/// fingerprint is `fpr` (the last field of VALIDSIG; the first is the subkey's).
fn validsig_by(status: &str, fpr: &str) -> bool {
    status
        .lines()
        .any(|l| l.starts_with("[GNUPG:] VALIDSIG ") && l.split_whitespace().last() == Some(fpr))
}

fn hash_of(address: &str) -> String {
    let out = Command::new(wks_client())
        .args(["--print-wkd-hash", address])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_policy_page_is_escaped_and_thanks_only_fixed_credited_reports() {
    let s = Scene::new();
    // A fixed report whose researcher gave a credit name with markup in it, and an
    // open one whose name must not be shown.
    let credited = REPORT.replace("Credit: Alice Example", "Credit: <b>Mallory</b> & Co");
    let armored = s.gpg.encrypt(GATEWAY, Some(&s.alice), credited.as_bytes());
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<c1@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let open = REPORT.replace("Credit: Alice Example", "Credit: Still Open");
    let armored = s.gpg.encrypt(GATEWAY, Some(&s.alice), open.as_bytes());
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<c2@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let reports = s.gw.reports();
    assert_eq!(reports.len(), 2);
    let first = reports[0]["id"].as_str().unwrap().to_string();
    for state in ["triaged", "accepted", "fixed"] {
        let out =
            s.gw.cli(&["reports", "set", &first, "--status", state, "--no-notify"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (dir, _) = publish(&s.gw);
    let html = std::fs::read_to_string(dir.join("security-policy.html")).unwrap();
    let md = std::fs::read_to_string(dir.join("security-policy.md")).unwrap();
    assert!(
        html.contains("&lt;b&gt;Mallory&lt;/b&gt; &amp; Co"),
        "{html}"
    );
    assert!(!html.contains("<b>"), "{html}");
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(md.contains("\\<b\\>Mallory\\</b\\> \\& Co"), "{md}");
    for page in [&html, &md] {
        assert!(
            !page.contains("Still Open"),
            "an unfixed report is thanked: {page}"
        );
        assert!(
            !page.contains("alice@example.net"),
            "an address is published: {page}"
        );
        assert!(page.contains(&s.gateway_fpr), "{page}");
        assert!(page.contains("Hall of fame"), "{page}");
    }
}

#[test]
fn doctor_warns_when_the_published_file_expires_soon_or_the_key_changed() {
    let gw = Gateway::new();
    gw.add_maintainer();
    add_config(
        &gw,
        &format!(
            "[publish]\ndir = \"{}\"\nexpires = \"10d\"\nrenew_before = \"1d\"\n",
            gw.path("www").display()
        ),
    );
    gw.run_once();
    let out = gw.cli(&["publish"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doctor = String::from_utf8_lossy(&gw.cli(&["doctor"]).stdout).into_owned();
    let line = doctor
        .lines()
        .find(|l| l.contains("published"))
        .unwrap_or_else(|| panic!("{doctor}"));
    assert!(line.starts_with("warn"), "{line}");
    assert!(line.contains("expires"), "{line}");

    // Published for long enough now, but by a key that is no longer the signing one.
    let mut config = std::fs::read_to_string(&gw.config).unwrap();
    config = config.replace("expires = \"10d\"", "expires = \"90d\"");
    std::fs::write(&gw.config, config).unwrap();
    let out = gw.cli(&["publish"]);
    assert!(out.status.success());
    let doctor = String::from_utf8_lossy(&gw.cli(&["doctor"]).stdout).into_owned();
    let line = doctor.lines().find(|l| l.contains("published")).unwrap();
    assert!(line.starts_with("ok"), "{line}");
    assert!(gw.cli(&["keys", "rotate"]).status.success());
    let doctor = String::from_utf8_lossy(&gw.cli(&["doctor"]).stdout).into_owned();
    let line = doctor.lines().find(|l| l.contains("published")).unwrap();
    assert!(
        line.starts_with("warn") && line.contains("signature"),
        "{line}"
    );
}

/// The Autocrypt header of `raw`: its addr, and its key (base64-decoded).
fn autocrypt(raw: &[u8]) -> (String, Vec<u8>) {
    let value = header(raw, "Autocrypt").unwrap_or_else(|| {
        panic!(
            "no Autocrypt header in {}",
            String::from_utf8_lossy(&raw[..raw.len().min(2000)])
        )
    });
    let mut addr = None;
    let mut keydata = None;
    let mut prefer = None;
    for attr in value.split(';') {
        let (k, v) = attr.trim().split_once('=').unwrap();
        match k {
            "addr" => addr = Some(v.to_string()),
            "prefer-encrypt" => prefer = Some(v.to_string()),
            "keydata" => keydata = Some(v.split_whitespace().collect::<String>()),
            other => panic!("unexpected attribute {other}"),
        }
    }
    assert_eq!(prefer.as_deref(), Some("mutual"));
    let key = base64::engine::general_purpose::STANDARD
        .decode(keydata.unwrap())
        .unwrap();
    (addr.unwrap(), key)
}

/// Checks the Autocrypt header of one outgoing mail with GnuPG: addr is the From
/// address, and the key imports and is the five packets of Level 1.
fn assert_autocrypt(kind: &str, raw: &[u8], gateway_fpr: &str) {
    let (addr, key) = autocrypt(raw);
    let from = header(raw, "From").unwrap();
    assert!(
        from.ends_with(&format!("<{addr}>")) || from == addr,
        "{kind}: addr {addr} is not the From {from}"
    );
    let gpg = Gpg::new();
    let packets = String::from_utf8_lossy(&gpg.run(&["--list-packets"], &key)).into_owned();
    let kinds: Vec<&str> = packets
        .lines()
        .filter(|l| l.starts_with(':'))
        .map(|l| l.split(':').nth(1).unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "public key packet",
            "user ID packet",
            "signature packet",
            "public sub key packet",
            "signature packet"
        ],
        "{kind}: {packets}"
    );
    gpg.run(&["--import"], &key);
    let listing =
        String::from_utf8_lossy(&gpg.run(&["--with-colons", "--list-keys"], b"")).into_owned();
    assert!(
        listing.contains(&format!(":{gateway_fpr}:")),
        "{kind}: {listing}"
    );
    // An encryption subkey GnuPG accepts.
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("sub:") && l.split(':').nth(11).unwrap_or("").contains('e')),
        "{kind}: {listing}"
    );
}

#[test]
fn every_kind_of_outgoing_mail_carries_the_autocrypt_header() {
    let s = Scene::new();
    s.gw.add_maintainer();
    // A report: the acknowledgement to Alice and the notification to Dana.
    let armored = s.gpg.encrypt(GATEWAY, Some(&s.alice), REPORT.as_bytes());
    let mut with_key = s.headers("<a1@example.net>", "...");
    let alice_key =
        base64::engine::general_purpose::STANDARD.encode(s.gpg.run(&["--export", &s.alice], b""));
    let ac = format!("addr=alice@example.net; keydata={alice_key}");
    with_key.push(("Autocrypt", &ac));
    s.gw.deliver(&pgp_mime_encrypted(&with_key, &armored));
    // A message the gateway cannot read: the notice.
    let stranger = s.gpg.gen_key("Stranger <stranger@example.org>");
    let armored = s.gpg.encrypt(&stranger, Some(&s.alice), REPORT.as_bytes());
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<n1@example.net>", "..."),
        &armored,
    ));
    // A key request.
    s.gw.deliver(&message(
        &[
            ("From", "Bob <bob@example.com>"),
            ("To", GATEWAY),
            ("Subject", "key"),
            ("Message-ID", "<k1@example.com>"),
        ],
        "",
    ));
    s.gw.run_once();
    let id = s.gw.reports()[0]["id"].as_str().unwrap().to_string();
    // A maintainer's answer relayed to the researcher, a status notice, a digest.
    let msg = s.gw.path("answer.txt");
    std::fs::write(&msg, "Thanks, we are looking at it.\n").unwrap();
    assert!(
        s.gw.cli(&["reports", "reply", &id, "--file", msg.to_str().unwrap()])
            .status
            .success()
    );
    assert!(
        s.gw.cli(&["reports", "set", &id, "--status", "triaged"])
            .status
            .success()
    );
    assert!(
        s.gw.cli(&["reports", "set", &id, "--status", "accepted"])
            .status
            .success()
    );
    assert!(s.gw.cli(&["digest", "--send", "--force"]).status.success());
    s.gw.run_once();

    let sent = s.gw.outbox();
    let find = |kind: &str, pred: &dyn Fn(&[u8]) -> bool| -> Vec<u8> {
        sent.iter()
            .find(|m| pred(m))
            .unwrap_or_else(|| panic!("no {kind} among {} messages", sent.len()))
            .clone()
    };
    let subject = |m: &[u8]| header(m, "Subject").unwrap_or_default();
    let to = |m: &[u8]| to_address(m).unwrap_or_default();
    let kinds: Vec<(&str, Vec<u8>)> = vec![
        (
            "acknowledgement",
            find("acknowledgement", &|m| {
                to(m) == "alice@example.net"
                    && header(m, "In-Reply-To").as_deref() == Some("<a1@example.net>")
            }),
        ),
        (
            "notice",
            find("notice", &|m| subject(m).starts_with("Could not read")),
        ),
        (
            "key answer",
            find("key answer", &|m| to(m) == "bob@example.com"),
        ),
        (
            "notification",
            find("notification", &|m| {
                to(m) == "dana@example.org" && !subject(m).contains("digest")
            }),
        ),
        (
            "digest",
            find("digest", &|m| {
                to(m) == "dana@example.org" && subject(m).contains("digest")
            }),
        ),
        (
            "relayed answer",
            find("relayed answer", &|m| {
                to(m) == "alice@example.net" && header(m, "Auto-Submitted").is_none()
            }),
        ),
        (
            "status notice",
            find("status notice", &|m| {
                to(m) == "alice@example.net"
                    && header(m, "Auto-Submitted").is_some()
                    && header(m, "In-Reply-To").as_deref() != Some("<a1@example.net>")
            }),
        ),
    ];
    for (kind, raw) in &kinds {
        assert_autocrypt(kind, raw, &s.gateway_fpr);
    }
    assert!(sent.len() >= kinds.len());
    for m in &sent {
        assert!(
            header(m, "Autocrypt").is_some(),
            "a mail without Autocrypt: {}",
            subject(m)
        );
    }
}

#[test]
fn a_key_request_gets_the_signed_key_and_no_report_and_a_flood_is_rate_limited() {
    let s = Scene::new();
    let request = |n: u32, subject: &str, body: &str| {
        message(
            &[
                ("From", "Bob <bob@example.com>"),
                ("To", GATEWAY),
                ("Subject", subject),
                ("Message-ID", &format!("<key{n}@example.com>")),
            ],
            body,
        )
    };
    s.gw.deliver(&request(0, "KEY", "Thanks!\n-- \nBob\n"));
    s.gw.run_once();
    assert!(s.gw.reports().is_empty(), "a key request became a report");
    let q = s.gw.quarantine();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["kind"], "skipped");
    assert!(
        q[0]["reason"].as_str().unwrap().contains("key request"),
        "{q:?}"
    );
    let sent = s.gw.outbox();
    assert_eq!(sent.len(), 1);
    let answer = &sent[0];
    assert_eq!(to_address(answer).unwrap(), "bob@example.com");
    assert_eq!(header(answer, "Auto-Submitted").unwrap(), "auto-replied");
    assert_eq!(header(answer, "In-Reply-To").unwrap(), "<key0@example.com>");
    // Signed by the gateway (GnuPG verifies it), the key attached as
    // application/pgp-keys, and nothing else of the gateway's.
    let signed = assert_signed_by(&s.gpg, answer, &s.gateway_fpr);
    assert!(signed.contains("application/pgp-keys"), "{signed}");
    assert!(signed.contains(&s.gateway_fpr), "{signed}");
    assert!(!signed.contains("VR-"), "a report is named: {signed}");
    // Taken from the part as sent (7-bit armor): the decoded text would read its
    // "=" as quoted-printable.
    let key = armored_block_of(
        &String::from_utf8_lossy(&parts(answer)[0]),
        "PUBLIC KEY BLOCK",
    );
    let gpg = Gpg::new();
    gpg.run(&["--import"], key.as_bytes());
    let listing =
        String::from_utf8_lossy(&gpg.run(&["--with-colons", "--list-keys"], b"")).into_owned();
    assert!(
        listing.contains(&format!(":{}:", s.gateway_fpr)),
        "{listing}"
    );

    // An empty mail asks too; a "key" mail that carries a report is a report.
    s.gw.deliver(&message(
        &[
            ("From", "Carol <carol@example.com>"),
            ("To", GATEWAY),
            ("Message-ID", "<empty@example.com>"),
        ],
        "",
    ));
    s.gw.deliver(&message(
        &[
            ("From", "Dave <dave@example.com>"),
            ("To", GATEWAY),
            ("Subject", "key"),
            ("Message-ID", "<longkey@example.com>"),
        ],
        REPORT,
    ));
    s.gw.run_once();
    assert_eq!(s.gw.reports().len(), 1, "the long mail is a report");
    assert!(
        s.gw.outbox()
            .iter()
            .any(|m| to_address(m).as_deref() == Some("carol@example.com"))
    );

    // A flood from one address: answered up to rate_limits.per_sender (10 an hour),
    // the rest recorded and not answered.
    for n in 1..=14 {
        s.gw.deliver(&request(n, "key", ""));
    }
    s.gw.run_once();
    let to_bob =
        s.gw.outbox()
            .iter()
            .filter(|m| to_address(m).as_deref() == Some("bob@example.com"))
            .count();
    assert_eq!(to_bob, 10, "answers to bob");
    let limited =
        s.gw.quarantine()
            .iter()
            .filter(|e| e["reason"].as_str().unwrap_or("").contains("rate limit"))
            .count();
    assert_eq!(limited, 5, "{:?}", s.gw.quarantine());
}

/// The armored block of `kind` inside `text`.
fn armored_block_of(text: &str, kind: &str) -> String {
    let begin = format!("-----BEGIN PGP {kind}-----");
    let end = format!("-----END PGP {kind}-----");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("no {kind} in {text}"));
    let stop = text[start..].find(&end).unwrap() + start + end.len();
    text[start..stop].to_string()
}

/// A test CA and a server certificate for example.org made with openssl in `dir`:
/// (CA certificate, server certificate, server key).
fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed (make test installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=disclosured test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=example.org",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:example.org,DNS:openpgpkey.example.org\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("srv.pem"), dir.join("srv.key"))
}

/// The WKD proxy server (tests/servers/wkd_https_proxy.py) serving `root`; killed on
/// drop.
struct WkdServer {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl WkdServer {
    fn start(root: &Path, cert: &Path, key: &Path, log: PathBuf) -> WkdServer {
        use std::io::BufRead as _;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/wkd_https_proxy.py");
        let mut child = Command::new(crate::servers::PYTHON)
            .arg(script)
            .args([root, cert, key, &log])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The port is the first line; a server that cannot start ends the pipe.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the WKD test server did not start: {line:?}")
        });
        WkdServer { child, port, log }
    }
}

impl Drop for WkdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mail client's view of the Web Key Directory: GnuPG's own `--locate-keys` over
/// https, against the tree `publish` wrote, served from 127.0.0.1.
///
/// How it reaches the tree: dirmngr (GnuPG 2.2) fetches WKD URLs trusting the
/// system's certificate store only (its `hkp-cacert` is for keyservers), and asks
/// DNS for the domain. So the test (1) makes a CA and an example.org certificate with
/// openssl, (2) runs gpg in a private mount namespace (`unshare --mount`, as root)
/// where the system bundle /etc/ssl/certs/ca-certificates.crt is bind-mounted over by
/// a copy with the test CA added (nothing outside that namespace sees it), and (3)
/// gives dirmngr an `http-proxy` on 127.0.0.1 that takes its CONNECT example.org:443
/// and serves the tree over TLS. Without DNS for openpgpkey.example.org, GnuPG uses
/// the direct layout; the advanced one is checked by path above.
#[test]
fn gnupg_locates_the_gateway_key_over_https_wkd() {
    let gw = Gateway::new();
    gw.run_once();
    let (dir, _) = publish(&gw);
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(tmp.path());
    let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let bundle = tmp.path().join("bundle.pem");
    std::fs::write(&bundle, [system, std::fs::read(&ca).unwrap()].concat()).unwrap();
    let server = WkdServer::start(&dir, &cert, &key, tmp.path().join("requests.log"));
    let gpg = Gpg::new();
    std::fs::write(
        gpg.home.path().join("dirmngr.conf"),
        format!(
            "http-proxy http://127.0.0.1:{}\nstandard-resolver\n",
            server.port
        ),
    )
    .unwrap();
    let home = gpg.home.path().display().to_string();
    let script = format!(
        "mount --bind '{bundle}' /etc/ssl/certs/ca-certificates.crt || exit 97\n\
         gpg --homedir '{home}' --batch --with-colons --auto-key-locate clear,wkd --locate-keys {GATEWAY}\n\
         rc=$?\ngpgconf --homedir '{home}' --kill dirmngr\nexit $rc\n",
        bundle = bundle.display()
    );
    let out = Command::new("timeout")
        .args(["120", "unshare", "--mount", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let requests = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert_ne!(
        out.status.code(),
        Some(97),
        "cannot bind-mount the test CA in a private mount namespace (needs root): {stderr}"
    );
    assert!(
        out.status.success(),
        "gpg --locate-keys failed: {stdout}{stderr}\nrequests: {requests}"
    );
    let hash = hash_of(GATEWAY);
    assert!(
        requests.contains(&format!("GET /.well-known/openpgpkey/hu/{hash}?l=security")),
        "{requests}"
    );
    let fpr = gw.signing_fingerprint();
    assert!(stdout.contains(&format!("fpr:::::::::{fpr}:")), "{stdout}");
    // And the key found is the one in the gateway's own key list.
    let listing =
        String::from_utf8_lossy(&gpg.run(&["--with-colons", "--list-keys", GATEWAY], b""))
            .into_owned();
    assert!(listing.contains(&fpr), "{listing}");
}

/// The daemon writes the tree at start when `publish.dir` is set, and `publish`
/// beside a running daemon goes through it (the daemon writes the directory).
#[test]
fn serve_writes_the_tree_at_start_and_publish_goes_through_it() {
    use std::time::{Duration, Instant};
    let gw = Gateway::new();
    let www = gw.path("www");
    add_config(&gw, &format!("[publish]\ndir = \"{}\"\n", www.display()));
    let log = std::fs::File::create(gw.path("serve.log")).unwrap();
    let mut child = gw
        .command()
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let stop = |child: &mut std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("serve did not stop within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let security_txt = www.join(".well-known/security.txt");
    let start = Instant::now();
    while !security_txt.is_file() {
        if start.elapsed() > Duration::from_secs(30) {
            stop(&mut child);
            panic!(
                "serve wrote no security.txt within 30 s: {}",
                std::fs::read_to_string(gw.path("serve.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let gpg = Gpg::new();
    gpg.import(&gw.public_key_path());
    let out = gpg.try_run(
        &[
            "--status-fd",
            "1",
            "--verify",
            security_txt.to_str().unwrap(),
        ],
        b"",
    );
    let verified = validsig_by(
        &String::from_utf8_lossy(&out.stdout),
        &gw.signing_fingerprint(),
    );
    let other = gw.path("other");
    let through = gw.cli(&["publish", other.to_str().unwrap()]);
    stop(&mut child);
    assert!(verified, "the daemon's security.txt does not verify");
    let said = String::from_utf8_lossy(&through.stdout);
    assert!(
        through.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&through.stderr)
    );
    assert!(
        said.contains(&format!("Published into {}", other.display())),
        "{said}"
    );
    assert!(other.join(".well-known/security.txt").is_file());
    let log = std::fs::read_to_string(gw.path("serve.log")).unwrap();
    assert!(log.contains("published security.txt"), "{log}");
}

/// Before the daemon's first start there is no store: `publish` writes the tree all
/// the same (nobody to thank yet) and creates no store.
#[test]
fn publish_before_the_first_start_writes_the_tree_and_creates_no_store() {
    let gw = Gateway::new();
    let (dir, said) = publish(&gw);
    assert!(said.contains("the hall of fame is empty"), "{said}");
    assert!(dir.join(".well-known/security.txt").is_file());
    assert!(
        dir.join(format!(".well-known/openpgpkey/hu/{}", hash_of(GATEWAY)))
            .is_file()
    );
    assert!(!gw.path("state").exists(), "publish created the store");
}

/// RFC 3834: the answer to a key request (a mail anyone can send, from any address)
/// goes with the null return path, so that nothing bounces back to the gateway and a
/// forged sender's bounce cannot come back as mail to read; an acknowledgement keeps
/// the gateway's address, where its bounces are matched. Through the real SMTP server.
#[test]
fn a_key_answer_has_the_null_return_path_and_an_acknowledgement_the_gateways() {
    use crate::journeys::{ALICE, KeyPath, World};
    let mut w = World::new(KeyPath::Attached, "");
    w.start();
    let (_id, _ack) = w.reported();
    w.deliver(&message(
        &[
            ("From", "Bob <bob@example.com>"),
            ("To", GATEWAY),
            ("Subject", "key"),
            ("Message-ID", "<key-rp@example.com>"),
        ],
        "",
    ));
    w.wait_mail("bob@example.com", 0, "OpenPGP key of");
    let envelopes = w.smtp.envelopes();
    let sender_to = |who: &str| -> Vec<String> {
        envelopes
            .iter()
            .filter(|(_, to)| to.iter().any(|t| t.eq_ignore_ascii_case(who)))
            .map(|(from, _)| from.clone())
            .collect()
    };
    assert_eq!(
        sender_to("bob@example.com"),
        vec!["<>".to_string()],
        "{envelopes:?}"
    );
    let to_alice = sender_to(ALICE);
    assert!(!to_alice.is_empty(), "{envelopes:?}");
    assert!(
        to_alice.iter().all(|f| f == GATEWAY),
        "the acknowledgement keeps the gateway's return path: {envelopes:?}"
    );
}
